"""How far the *exact* entropic optimum's transport cost lies above EMD, versus eps.

Same problem as ``ot_sns.py`` (n random points in [0,1]^2 per side, squared Euclidean
cost scaled to max C = 1, uniform weights, seed 0). For each eps, SNS is run to an L1
marginal error of 1e-8 and the relative primal-dual gap of the entropic problem is
reported: when it is ~1e-8 the solver has found the entropic optimum, so
``(cost - EMD) / EMD`` is the bias of the regularised problem itself, not solver error.

    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/ot_entropic_bias.py [--n 1000 3000]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import ot as pot  # noqa: E402

from _machine import machine_info  # noqa: E402
import solvers  # noqa: E402
from ot_sns import problem  # noqa: E402  (the same instances as ot_sns.py)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-4, 1e-5, 3e-6, 1e-6])
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "results" / "ot_entropic_bias.json"))
    args = ap.parse_args()
    rows = []
    for n in args.n:
        emd = None
        for eps in args.eps:
            p = problem(n, eps)
            if emd is None:
                emd = float(pot.emd2(p.a, p.b, p.C))
            t = time.perf_counter()
            r = solvers.sns(p, tol=1e-8)
            t = time.perf_counter() - t
            P = r.plan()
            P = P.toarray() if hasattr(P, "toarray") else np.asarray(P)
            nz = P > 0
            primal = float((P * p.C).sum() + eps * (P[nz] * (np.log(P[nz]) - 1.0)).sum())
            dual = float(p.a @ r.f + p.b @ r.g - eps * P.sum())
            row = {"n": n, "eps": eps, "status": r.status, "iterations": r.nit, "time_s": t,
                   "l1_marginal_error": float(r.history["marginal_error"][-1]), "cost": float(r.cost),
                   "emd_cost": emd, "cost_excess_over_emd": (float(r.cost) - emd) / emd,
                   "primal_dual_gap_rel": (primal - dual) / abs(primal)}
            rows.append(row)
            print(f"n={n} eps={eps:g} {r.status} it={r.nit} t={t:.2f}s (cost-emd)/emd={row['cost_excess_over_emd']:.4%} "
                  f"gap={row['primal_dual_gap_rel']:.1e}", flush=True)
    out = {"machine": machine_info("ot"), "rows": rows}
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
