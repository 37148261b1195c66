"""Mid-size dense equality-constrained QPs: ``sketched_newton`` (default one-row Gaussian sketches, and
MINRES) against SciPy (SLSQP, trust-constr) and IPOPT (CasADi callbacks of the problem's own derivatives),
in one process run.

``problems.nlp.equality_qp(n, m)``: a random strictly convex QP (condition 100), start ``x0 = 0``, its exact
optimum from a dense KKT solve. Every run is scored after timing: the KKT residual with least-squares
multipliers and the relative objective error; ``solved`` means both <= 1e-6. SciPy runs get a wall-time budget
(``--budget``), sketched Newton gets none: a crawl shows as its time. This is the case the predictive jump of
sketch-and-project (``solvers/nonlinear/_kkt.py``) was made for: before it the default sketch took 95 s on
``equality_qp(300, 30)``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/nlp_qp.py [--quick]     # benchmarks/results/nlp_qp[_quick].json
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402

from _machine import machine_info  # noqa: E402
from nlp import TimeBudget, dense, ipopt_callbacks, kkt_dense, pack, slsqp, timed  # noqa: E402
from problems import nlp as knlp  # noqa: E402
from solvers.nonlinear.sketched_newton import sketched_newton  # noqa: E402


def run_qp(n, m, repeats, budget):
    p = knlp.equality_qp(n, m, seed=0)
    fstar = p.f_star

    def score(x):
        d = {"kkt": kkt_dense(p, x), "f": float(p.f(x))}
        d["f_error"] = abs(d["f"] - fstar) / (1 + abs(fstar))
        d["solved"] = bool(d["kkt"] <= 1e-6 and d["f_error"] <= 1e-6)
        return d

    entry = {"problem": p.name, "n": n, "m": m, "f_star": fstar, "solvers": {}}
    for sk in ("gaussian", None):
        def run(sk=sk):
            r = sketched_newton(p, sketch=sk, tol=1e-8, seed=0)
            return pack(r.x, r.nit, r.converged, {"status": str(r.status),
                                                  "inner_iterations": int(r.stats["inner_iterations"]),
                                                  "sketch_growths": int(r.stats["sketch_growths"])})
        entry["solvers"][f"newtonkit-{sk or 'minres'}"] = timed(run, repeats, score)
    H = dense(p.hess_lagrangian(p.x0, np.zeros(m)))        # constant: a QP

    def run_tc():
        cb = TimeBudget(budget, mode="return")
        con = so.NonlinearConstraint(p.c, 0.0, 0.0, jac=lambda x: dense(p.jac(x)), hess=lambda x, v: np.zeros((n, n)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = so.minimize(p.f, p.x0, jac=p.grad, hess=lambda x: H, constraints=[con], method="trust-constr",
                            callback=cb, options={"gtol": 1e-8, "xtol": 1e-14, "maxiter": 2000})
        return pack(r.x, r.nit, r.status in (1, 2), {"status": int(r.status), "capped": cb.hit})

    def run_ipopt():
        name, p.name = p.name, f"qp_{n}_{m}"          # CasADi function names: letters, digits, underscores
        try:
            x, nit, ok, status = ipopt_callbacks(p, tol=1e-8)
        finally:
            p.name = name
        return pack(x, nit, ok, {"status": status})

    entry["solvers"]["scipy-SLSQP"] = timed(lambda: slsqp(p, 1e-14), repeats, score)
    entry["solvers"]["scipy-trust-constr"] = timed(run_tc, repeats, score)
    entry["solvers"]["ipopt"] = timed(run_ipopt, repeats, score)
    peers = {k: v["time_s"] for k, v in entry["solvers"].items() if not k.startswith("newtonkit") and v["solved"]}
    best = min(peers, key=peers.get) if peers else None
    entry["fastest_solved_peer"] = best
    for k in ("newtonkit-gaussian", "newtonkit-minres"):
        v = entry["solvers"][k]
        entry[f"{k}_over_fastest_peer_time"] = v["time_s"] / peers[best] if best and v["solved"] else None
    print(p.name, {k: (v["nit"], v["solved"], round(v["time_s"], 3)) for k, v in entry["solvers"].items()},
          flush=True)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small QP, one repeat (< 30 s)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--budget", type=float, default=60.0, help="wall seconds per SciPy trust-constr run")
    args = ap.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = ((100, 10),) if args.quick else ((300, 30), (1000, 50))
    t0 = time.perf_counter()
    out = {"benchmark": "nlp_qp", "quick": args.quick, "machine": machine_info("casadi"),
           "notes": __doc__.split("\n\n")[0], "rows": [run_qp(n, m, repeats, args.budget) for n, m in sizes]}
    out["total_s"] = time.perf_counter() - t0
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "nlp_qp" + ("_quick" if args.quick else "") + ".json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"wrote {path} in {out['total_s']:.1f} s")


if __name__ == "__main__":
    main()
