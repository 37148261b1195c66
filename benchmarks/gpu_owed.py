"""The GPU measurements the open issues still owe, as steps of :mod:`gpu` (groups ``ot_sweep`` and ``approx``).

* ``ot_sweep`` (issue 12): the entropic-OT eps sweep of ``ot_sns.py`` (eps = 0.1 ... 1e-5) at n = 20 000 on
  CuPy: n uniform random points in [0, 1]^2 against another n, squared Euclidean cost scaled to max 1,
  uniform weights, each method (``sinkhorn``, ``sns``, ``solvers.ot.auto.auto``) to L1 marginal error 1e-8
  within a wall-clock budget per run (a callback stops a run at the budget: then its status says so and it
  is not counted as reaching the target; Sinkhorn, once it missed the target, is skipped at the smaller eps). Per eps: the fastest method that reached the target and
  ``auto`` over it.
* ``approx`` (issue 9): Chebyshev-Tucker at m = 257 (degree 256), tol 1e-7, of ``1/|x - x0|`` with ``x0``
  just outside [-1, 1]^3 and of ``exp(-|x - x0|)``: built with the device backend and with the NumPy
  reference from the same function; ranks of both, the device evaluation at 10^6 random points (timed,
  synchronised) against the NumPy evaluation (max difference relative to max |value|) and both against the
  exact function at 10^4 points.

Every step takes a Backend, so the same code runs here without a GPU (``python benchmarks/gpu_owed.py
--backend numba --quick``: small sizes, a check of the script) and on the device (through ``gpu.py --only
ot_sweep approx``). Timing: wall clock with ``backend.synchronize()`` before and after each measured call,
after a small warm-up solve or evaluation that compiles the kernels.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import solvers  # noqa: E402

#: the eps values of the issue's table and of ``ot_sns.py``
EPS_SWEEP = (0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
TARGET = 1e-8
X0 = np.array([1.1, 0.2, -0.3])


def _timed(be, fn):
    be.synchronize()
    t0 = time.perf_counter()
    out = fn()
    be.synchronize()
    return time.perf_counter() - t0, out


def _instance(be, n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    np.maximum(C, 0.0, out=C)
    C /= C.max()
    a = np.full(n, 1.0 / n)
    return be.asarray(C), be.asarray(a)


def _budget(seconds):
    """A callback that stops a solve after ``seconds`` of wall clock (status ``stopped``)."""
    t_end = time.perf_counter() + seconds

    def cb(xk):
        if time.perf_counter() > t_end:
            raise StopIteration
    return cb


def ot_sweep(be, n, eps_list=EPS_SWEEP, budget_s=30.0, total_s=400.0):
    """Sinkhorn, SNS and auto at each eps on one instance (module notes); returns a dict per eps. No run
    starts after ``total_s`` seconds of the sweep (a device command is cut at 600 s): those are marked
    skipped."""
    from solvers.ot.auto import auto

    C, a = _instance(be, n)
    Cw, aw = _instance(be, 200, seed=1)
    methods = {"sinkhorn": lambda C, a, eps, cb: solvers.sinkhorn(C, a, a, eps=eps, tol=TARGET, maxiter=10 ** 7,
                                                                  callback=cb, backend=be),
               "sns": lambda C, a, eps, cb: solvers.sns(C, a, a, eps=eps, tol=TARGET, callback=cb, backend=be),
               "auto": lambda C, a, eps, cb: auto(C, a, a, eps=eps, tol=TARGET, callback=cb, backend=be)}
    for fn in methods.values():                       # compile / load the kernels on a small instance
        fn(Cw, aw, 0.01, None)
    out, gave_up = {}, set()
    t_start = time.perf_counter()
    for eps in eps_list:
        row = {}
        for name, fn in methods.items():
            if time.perf_counter() - t_start > total_s:
                row[name] = {"skipped": f"the sweep's total budget ({total_s:g} s) was spent", "reached_target": False}
                continue
            if name in gave_up:        # missed the target within the budget at a larger eps: harder here
                row[name] = {"skipped": "did not reach the target within the budget at a larger eps",
                             "reached_target": False}
                continue
            t, res = _timed(be, lambda: fn(C, a, eps, _budget(budget_s)))
            err = float(res.history["marginal_error"][-1])
            row[name] = {"seconds": t, "nit": int(res.nit), "status": res.status, "converged": bool(res.converged),
                         "marginal_error": err, "reached_target": bool(res.converged and err <= TARGET)}
            if name == "sinkhorn" and not row[name]["reached_target"]:
                gave_up.add(name)
        done = {k: v["seconds"] for k, v in row.items() if v["reached_target"] and k != "auto"}
        best = min(done, key=done.get) if done else None
        row["best_method"] = best
        row["auto_over_best"] = (row["auto"]["seconds"] / done[best]
                                 if best and row["auto"]["reached_target"] else None)
        out[f"{eps:g}"] = row
        print(f"[ot_sweep] n={n} eps={eps:g}: " + ", ".join(
            f"{k} {v['seconds']:.3g} s {v['nit']} it {v['status']}" if "seconds" in v else f"{k} skipped"
            for k, v in row.items() if isinstance(v, dict)),
            flush=True)
    return {"n": n, "target_l1_marginal_error": TARGET, "budget_s_per_run": budget_s, "total_budget_s": total_s,
            "eps": out}


class _Newton:
    """``1 / |x - x0|`` on host points (a device array is copied to the host first)."""

    def __init__(self, x0):
        self.x0 = x0

    def __call__(self, x):
        x = np.asarray(solvers.get_backend("numpy").to_numpy(x))
        return 1.0 / np.sqrt(((x - self.x0) ** 2).sum(1))


class _Slater(_Newton):
    def __call__(self, x):
        x = np.asarray(solvers.get_backend("numpy").to_numpy(x))
        return np.exp(-np.sqrt(((x - self.x0) ** 2).sum(1)))


def chebtucker_m257(be, degree=256, n_points=10 ** 6, tol=1e-7):
    """Build on ``be`` and on NumPy, compare (module notes); returns a dict per function."""
    host = solvers.get_backend("numpy")
    rng = np.random.default_rng(7)
    P = rng.uniform(-1.0, 1.0, (n_points, 3))
    Pd = be.asarray(P)
    E = P[:10_000]
    dom = [(-1.0, 1.0)] * 3
    out = {}
    with warnings.catch_warnings():                   # the warm-up: kernels compiled (degree 8 is not resolved)
        warnings.simplefilter("ignore", RuntimeWarning)
        solvers.chebtucker(_Newton(X0), dom, degree=8, tol=tol, backend=be)(Pd[:100])
    for name, f in (("newton_x0", _Newton(X0)), ("slater_x0", _Slater(X0))):
        t_dev, ct = _timed(be, lambda: solvers.chebtucker(f, dom, degree=degree, tol=tol, backend=be))
        t_ref, ref = _timed(host, lambda: solvers.chebtucker(f, dom, degree=degree, tol=tol, backend="numpy"))
        ct(Pd[:1000])
        t_eval, vals = _timed(be, lambda: ct(Pd))
        t_eval_ref, rvals = _timed(host, lambda: ref(P))
        v = host.to_numpy(be.to_numpy(vals))
        scale = float(np.abs(rvals).max())
        exact = f(E)
        out[name] = {"degree": degree, "tol": tol, "ranks": list(map(int, ct.ranks)),
                     "ranks_numpy": list(map(int, ref.ranks)), "build_s": t_dev, "build_s_numpy": t_ref,
                     "eval_points": n_points, "eval_s": t_eval, "eval_points_per_s": n_points / t_eval,
                     "eval_s_numpy": t_eval_ref,
                     "max_diff_vs_numpy_rel": float(np.abs(v - rvals).max() / scale),
                     "max_error_vs_exact_rel": float(np.abs(v[:E.shape[0]] - exact).max() / scale),
                     "max_error_numpy_vs_exact_rel": float(np.abs(rvals[:E.shape[0]] - exact).max() / scale),
                     "resolved": bool(ct.stats.get("resolved"))}
        print(f"[approx] {name}: ranks {out[name]['ranks']} (numpy {out[name]['ranks_numpy']}), "
              f"eval {n_points / t_eval:.3g} pts/s, vs numpy {out[name]['max_diff_vs_numpy_rel']:.2e}, "
              f"vs exact {out[name]['max_error_vs_exact_rel']:.2e}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numba", help="backend to run the steps on (the GPU run uses gpu.py)")
    ap.add_argument("--quick", action="store_true", help="n = 300, eps 0.1 / 1e-3, degree 32, 10^4 points")
    ap.add_argument("--budget", type=float, default=None, help="seconds per OT run (default 30, quick 10)")
    args = ap.parse_args(argv)
    be = solvers.get_backend(args.backend)
    n, eps, deg, npts = (300, (0.1, 1e-3), 32, 10 ** 4) if args.quick else (20_000, EPS_SWEEP, 256, 10 ** 6)
    report = {"backend": be.name, "quick": args.quick,
              "ot_sweep": ot_sweep(be, n, eps, args.budget or (10.0 if args.quick else 30.0)),
              "approx": chebtucker_m257(be, deg, npts)}
    print(json.dumps(report, indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
