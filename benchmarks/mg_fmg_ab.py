"""MG-CG from the full-multigrid start against the zero start, in one process, interleaved.

For each grid: the default preconditioner with ``fmg_start=True`` and with ``fmg_start=False`` (every solve
builds its hierarchy), alternating which runs first; medians, minima, iterations, the ratio FMG / zero start,
and both in hot-matvec equivalents (the minimum of ``A.matvec_dot`` timed before every solve). Poisson, rtol
1e-8, the numba backend. This is the measurement behind ``solvers.linear.multigrid.FMG_AUTO_POINTS``.

    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/mg_fmg_ab.py [--repeat 11] [--out F] [shapes]

(shapes like ``128x128x128``; default 64^3, 96^3, 128^3, 160^3, 256^3, 1024^2); writes
``benchmarks/results/mg_fmg_ab.json`` unless ``--out`` says otherwise.
"""
import os

os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import solvers  # noqa: E402
from _machine import machine_info  # noqa: E402
from problems import pde  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402

SHAPES = ("64x64x64", "96x96x96", "128x128x128", "160x160x160", "256x256x256", "1024x1024")


def case(shape, repeat):
    p = pde.Poisson(shape)
    A, b = p.operator("numba"), p.rhs("numba")
    x, y = np.asarray(b).copy(), np.empty(A.shape[0])

    def matvec():
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            A.matvec_dot(x, y)
            ts.append(time.perf_counter() - t0)
        return min(ts)

    starts = (True, False)
    for fmg in starts:                           # JIT warm-up of both paths
        solvers.cg(A, b, M=multigrid(A, fmg_start=fmg), rtol=1e-8, backend="numba")
    T, mv, last = {s: [] for s in starts}, [], {}
    for i in range(repeat):
        for fmg in (starts if i % 2 == 0 else starts[::-1]):
            mv.append(matvec())
            t0 = time.perf_counter()
            res = solvers.cg(A, b, M=multigrid(A, fmg_start=fmg), rtol=1e-8, backend="numba")
            T[fmg].append(time.perf_counter() - t0)
            last[fmg] = res
    m = min(mv)
    row = {"shape": list(shape), "n": int(A.shape[0]), "matvec_s": m, "auto_takes_fmg": bool(multigrid(A).fmg_start)}
    for fmg in starts:
        r = last[fmg]
        rel = float(np.linalg.norm(b - A.matvec(r.x)) / np.linalg.norm(b))
        row["fmg" if fmg else "zero"] = {"median_s": float(np.median(T[fmg])), "min_s": float(np.min(T[fmg])),
                                         "times_s": T[fmg], "nit": int(r.nit), "converged": bool(r.converged),
                                         "true_relative_residual": rel,
                                         "matvec_equivalents": float(np.median(T[fmg])) / m}
    row["ratio_fmg_over_zero"] = row["fmg"]["median_s"] / row["zero"]["median_s"]
    print(f"{shape}: FMG {row['fmg']['median_s'] * 1e3:.1f} ms ({row['fmg']['nit']} it, "
          f"{row['fmg']['matvec_equivalents']:.0f} eq), zero start {row['zero']['median_s'] * 1e3:.1f} ms "
          f"({row['zero']['nit']} it, {row['zero']['matvec_equivalents']:.0f} eq): ratio "
          f"{row['ratio_fmg_over_zero']:.3f}; auto takes {'FMG' if row['auto_takes_fmg'] else 'zero'}", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapes", nargs="*", default=list(SHAPES))
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = {"benchmark": "mg_fmg_ab", "machine": machine_info(), "repeat": a.repeat, "rtol": 1e-8, "cases": []}
    for s in a.shapes:
        out["cases"].append(case(tuple(int(v) for v in s.split("x")), a.repeat))
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    path = Path(a.out) if a.out else Path(__file__).parent / "results" / "mg_fmg_ab.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
