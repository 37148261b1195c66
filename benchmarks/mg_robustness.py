"""Multigrid robustness table: MG-CG iterations (rtol 1e-8) on coefficient jumps and anisotropic spacing.

Cases (issue 7, class 9): 2-D 255^2 / 256^2 and 3-D 63^3 / 64^3 with

* constant ``k``;
* a jump ``k = 1 | J`` across the plane ``x = p`` for ``J`` in 1e2, 1e4, 1e6 and ``p`` in 1/3, 1/2, 0.37;
* a checkerboard (4 cells per axis, ``k = 1 | J``) and a cube inclusion ``[0.3, 0.7]^d`` (``k = J``);
* anisotropic spacing: thin boxes with spacing ratios 1:10 and 1:100, and a 3-point axis beside a long one
  (spacing ratio 100:1 and 250:1).

Each case runs MG-CG with today's :func:`solvers.linear.multigrid.multigrid` ("after") and, with
``--before REV``, with the module as it was at git revision ``REV`` ("before", loaded from ``git show``;
it runs on the same kernel sets). The right-hand side is a fixed random vector; every solution is
checked by its true residual ``||b - A x|| <= 1.5e-8 ||b||`` (``A`` assembled as CSR).
A constant-coefficient speed check (MG-CG 128^3 and 1024^2, setup included) runs before/after
interleaved, median and minimum of ``--repeat`` (on a shared machine the minimum is the steadier figure).

    python benchmarks/mg_robustness.py --before e9dc37f          # full table + speed check
    python benchmarks/mg_robustness.py --quick                    # small sizes (63^2/64^2, 31^3/32^3)

Writes ``benchmarks/results/mg_robustness.json`` (``mg_robustness_quick.json`` with ``--quick``).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _machine import machine_info  # noqa: E402
import solvers  # noqa: E402
from problems import pde  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load_before(rev):
    """The multigrid module as of git revision ``rev``, imported as ``solvers.linear._mg_before``."""
    root = os.path.dirname(HERE)
    src = None
    for path in ("solvers/linear/multigrid.py", "solvers/linear/multigrid/__init__.py"):
        try:
            src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, check=True, capture_output=True,
                                 text=True).stdout
            break
        except subprocess.CalledProcessError:
            continue
    if src is None:
        raise SystemExit(f"--before {rev}: no multigrid module at that revision")
    tmp = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    tmp.write(src)
    tmp.close()
    spec = importlib.util.spec_from_file_location("solvers.linear._mg_before", tmp.name)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.multigrid


def cases(quick):
    """``(name, dims, Poisson)`` for every robustness case."""
    sz2, sz3 = ((63, 64), (31, 32)) if quick else ((255, 256), (63, 64))
    out = []
    for d, sizes in ((2, sz2), (3, sz3)):
        for n in sizes:
            shape = (n,) * d
            out.append((f"{d}d n={n} constant k", pde.Poisson(shape)))
            for J in (1e2, 1e4, 1e6):
                for p in (1 / 3, 0.5, 0.37):
                    out.append((f"{d}d n={n} jump {J:.0e} at x={p:.3g}",
                                pde.Poisson(shape, k=lambda *x, J=J, p=p: np.where(x[0] < p, 1.0, J))))
            for J in (1e4, 1e6):
                out.append((f"{d}d n={n} checkerboard {J:.0e}",
                            pde.Poisson(shape, k=lambda *x, J=J: np.where(
                                sum(np.floor(4 * c) for c in x) % 2 == 1, J, 1.0))))
                out.append((f"{d}d n={n} inclusion {J:.0e}",
                            pde.Poisson(shape, k=lambda *x, J=J: np.where(
                                np.all([(c > 0.3) & (c < 0.7) for c in x], axis=0), J, 1.0))))
            for ratio in (10, 100):
                dom = [(0.0, 1.0)] * (d - 1) + [(0.0, 1.0 / ratio)]
                out.append((f"{d}d n={n} thin box 1:{ratio}", pde.Poisson(shape, domain=dom)))
            dom = [(0.0, 1.0)] * (d - 1) + [(0.0, 1.0 / 100)]
            out.append((f"{d}d n={n} thin box 1:100, jump 1e4 at x=1/3",
                        pde.Poisson(shape, domain=dom, k=lambda *x: np.where(x[0] < 1 / 3, 1.0, 1e4))))
        long = (1000 if d == 2 else 200) if not quick else (250 if d == 2 else 60)
        shape = (long,) + (3,) * (d - 1)
        h_long = 1.0 / (long + 1)
        for ratio in (100, 250):
            dom = [(0.0, 1.0)] + [(0.0, 4 * ratio * h_long)] * (d - 1)
            out.append((f"{d}d {'x'.join(map(str, shape))} 3-point axes, spacing 1:{ratio}",
                        pde.Poisson(shape, domain=dom)))
    return out


def mgcg(A, b, factory):
    M = factory(A)
    res = solvers.cg(A, b, M=M, rtol=1e-8, maxiter=2000, backend=A.backend)
    return res, M


def run_table(quick, before):
    rows = []
    rng = np.random.default_rng(0)
    for name, p in cases(quick):
        A = p.operator("numba")
        b = rng.standard_normal(A.shape[0])
        C = A.to_csr()
        row = {"case": name, "shape": list(p.shape), "h": list(p.h)}
        for tag, fac in (("before", before), ("after", multigrid)):
            if fac is None:
                continue
            t = time.perf_counter()
            res, M = mgcg(A, b, fac)
            t = time.perf_counter() - t
            rel = float(np.linalg.norm(b - C @ res.x) / np.linalg.norm(b))
            row[tag] = {"nit": int(res.nit), "converged": bool(res.converged), "true_relres": rel,
                        "verified": bool(rel <= 1.5e-8), "time_s": t, "levels": len(M.levels)}
        print(f"{name:55s} " + "  ".join(f"{tag}: {row[tag]['nit']:4d} it ({'ok' if row[tag]['verified'] else 'BAD'})"
                                         for tag in ("before", "after") if tag in row), flush=True)
        rows.append(row)
    return rows


def speed(before, repeat, quick):
    out = []
    shapes = [(64, 64, 64), (256, 256)] if quick else [(128, 128, 128), (1024, 1024)]
    for shape in shapes:
        p = pde.Poisson(shape)
        A = p.operator("numba")
        b = p.rhs("numba")
        facs = [("after", multigrid)] + ([("before", before)] if before else [])
        for _, fac in facs:
            mgcg(A, b, fac)                         # warm-up (JIT cache load)
        ts = {tag: [] for tag, _ in facs}
        nit = {}
        for _ in range(repeat):                     # interleaved
            for tag, fac in facs:
                t = time.perf_counter()
                res, _ = mgcg(A, b, fac)
                ts[tag].append(time.perf_counter() - t)
                nit[tag] = int(res.nit)
        row = {"shape": list(shape)}
        for tag in ts:
            row[tag] = {"median_s": float(np.median(ts[tag])), "min_s": float(np.min(ts[tag])), "times_s": ts[tag],
                        "nit": nit[tag]}
        print(f"speed {shape}: " + "  ".join(f"{tag} median {row[tag]['median_s']:.4f} s, min {row[tag]['min_s']:.4f} s "
                                             f"({nit[tag]} it)" for tag in ts), flush=True)
        out.append(row)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--before", default=None, help="git revision of the 'before' multigrid module")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-table", action="store_true")
    args = ap.parse_args()
    before = load_before(args.before) if args.before else None
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "mg_robustness_quick.json" if args.quick else "mg_robustness.json")
    out = {}
    if os.path.exists(path):                     # a partial run (--no-table / --no-speed) keeps the other part
        with open(path) as fh:
            out = json.load(fh)
    out.update({"before_rev": args.before, "rtol": 1e-8})
    if not args.no_table:
        out["table"] = run_table(args.quick, before)
        out["machine_table"] = machine_info()
    if not args.no_speed:
        out["speed"] = speed(before, args.repeat, args.quick)
        out["machine_speed"] = {**machine_info(), "loadavg": os.getloadavg()}
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
