"""Entropic OT benchmark: newtonkit sinkhorn / sns (numba) against POT and RegOT.

Problem: n random points in [0,1]^2 on each side, squared Euclidean cost scaled so that
max C = 1, uniform weights; target L1 marginal error 1e-8 (``|P1 - a|_1 + |P^T 1 - b|_1``,
measured by this script on every returned plan). Peers, in the same process:

* POT ``ot.sinkhorn`` with ``method="sinkhorn"`` and ``"sinkhorn_log"``;
* RegOT ``sinkhorn_ssns`` and ``sinkhorn_splr``;
* newtonkit ``solvers.sinkhorn`` and ``solvers.sns`` (numba backend);
* the unregularised optimum ``ot.emd2`` for the relative transport-cost gap.

Slow runs are time-limited: each peer first times a few iterations, then gets an iteration
cap that fits its time budget. A run that cannot reach the target within the cap is
reported with ``"estimated": true``: its iterations to 1e-8 are extrapolated from the
linear rate of its own error history where available, else taken from the (mathematically
identical) newtonkit Sinkhorn iteration count, and time = iterations x measured time per
iteration. Every entry says which numbers are measured and which are estimated.
RegOT's C++ loop cannot be interrupted, so each RegOT run happens in a forked child that
is killed at its budget (reported as ``"status": "timeout"``).

Usage: ``python benchmarks/ot_sns.py [--quick] [--budget SECONDS]``; writes
``benchmarks/results/ot_sns.json`` (``ot_sns_quick.json`` with --quick).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from _machine import machine_info  # noqa: E402
import solvers  # noqa: E402
from problems import ot as kot  # noqa: E402

TARGET = 1e-8


def l1_marg(P, a, b):
    P = np.asarray(P)
    if not np.all(np.isfinite(P)):
        return float("nan")
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def extrapolate(errs, target=TARGET, done=None):
    """Iterations to reach target from a linearly converging error history (None if not decaying)."""
    errs = np.asarray([e for e in errs if np.isfinite(e) and e > 0])
    if errs.size < 20:
        return None
    if errs[-1] <= target:
        return int(errs.size if done is None else done)
    tail = errs[errs.size // 2:]
    k = np.arange(tail.size)
    slope = np.polyfit(k, np.log(tail), 1)[0]
    if slope >= 0:
        return None
    n_done = errs.size if done is None else done
    return int(n_done + math.ceil((math.log(target) - math.log(errs[-1])) / slope))


def machine():
    return machine_info("ot", "regot")


def problem(n, eps, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    return kot.EntropicOT.from_points(x, y, eps=eps, scale="max")


def run_pot(method, p, budget, ref_iters):
    import ot

    a, b, C, eps = p.a, p.b, p.C, p.eps
    out = {"peer": f"POT ot.sinkhorn(method={method!r})"}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        probe = 20 if method == "sinkhorn" else 5
        t = time.perf_counter()
        G = ot.sinkhorn(a, b, C, eps, method=method, numItermax=probe, stopThr=0.0)
        t_it = (time.perf_counter() - t) / probe
        out["time_per_iteration_s"] = t_it
        if not np.all(np.isfinite(G)):
            out.update(status="overflow", note="NaN/inf in the plan (exp(-C/eps) underflows / divides by zero)",
                       warnings=sorted({str(x.message)[:120] for x in w}))
            return out
        cap = max(probe, int(budget / max(t_it, 1e-9)))
        t = time.perf_counter()
        G, log = ot.sinkhorn(a, b, C, eps, method=method, numItermax=cap, stopThr=TARGET / 10, log=True)
        dt = time.perf_counter() - t
        it = int(log.get("niter", cap))
        err = l1_marg(G, a, b)
        out.update(iterations_run=it, time_run_s=dt, l1_marginal_error=err,
                   time_per_iteration_s=dt / max(it, 1), warnings=sorted({str(x.message)[:120] for x in w}))
        if not np.isfinite(err):
            out.update(status="overflow", note="NaN/inf in the plan")
            return out
        if err <= TARGET:
            out.update(status="converged", iterations=it, time_s=dt, estimated=False,
                       cost=float((G * C).sum()))
        else:
            hist = np.asarray(log.get("err", []), dtype=float)
            est = extrapolate(hist, TARGET * (hist[-1] / err) if hist.size and err > 0 else TARGET, done=it)
            # POT records its error every 10 iterations; the newtonkit Sinkhorn count is the exact same iteration
            src = "newtonkit sinkhorn iteration count (same iteration)"
            if ref_iters is not None:
                est_it = ref_iters
            elif est is not None:
                est_it, src = it + (est - len(hist)) * 10, "extrapolated from POT's own error history"
            else:
                est_it = None
            out.update(status="time_limited", estimated=True, estimate_source=src, iterations=est_it,
                       time_s=None if est_it is None else est_it * out["time_per_iteration_s"])
    return out


def _regot_child(name, C, a, b, eps, tol, conn):
    import regot

    t = time.perf_counter()
    r = getattr(regot, name)(np.asfortranarray(C), a, b, eps, tol=tol, max_iter=1000)
    dt = time.perf_counter() - t
    conn.send((int(r.niter), dt, np.asarray(r.plan)))
    conn.close()


def run_regot(name, p, budget):
    """RegOT in a forked child process, killed after ``budget`` seconds (its C++ loop cannot be
    interrupted otherwise)."""
    import multiprocessing as mp

    out = {"peer": f"RegOT {name}"}
    try:
        import regot  # noqa: F401  (imported in the child; checked here so a missing peer is skipped)
    except ImportError:
        out.update(status="skipped", time_s=None, iterations=None, estimated=False,
                   note="RegOT is not installed (pip install regot)")
        return out
    # RegOT stops on the 2-norm of the marginal error; |x|_1 <= sqrt(2n) |x|_2 makes this an L1 target
    tol = TARGET / math.sqrt(p.C.shape[0] + p.C.shape[1])
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_regot_child, args=(name, p.C, p.a, p.b, p.eps, tol, send))
    t = time.perf_counter()
    proc.start()
    send.close()
    got = recv.poll(budget)
    if not got:
        proc.kill()
        proc.join()
        out.update(status="timeout", time_s=None, iterations=None, estimated=False, regot_tol=tol,
                   note=f"killed after {budget:.0f} s (time budget); no iteration count available")
        return out
    niter, dt, P = recv.recv()
    proc.join()
    err = l1_marg(P, p.a, p.b)
    out.update(iterations=niter, time_s=dt, l1_marginal_error=err,
               status="converged" if err <= TARGET else "not_converged",
               cost=float((P * p.C).sum()) if np.isfinite(err) else None, regot_tol=tol,
               wall_incl_fork_s=time.perf_counter() - t,
               note="RegOT's tol is on the 2-norm of the marginal error: 1e-8/sqrt(n+m); L1 measured here")
    return out


def run_nk_sinkhorn(p, budget):
    out = {"peer": "newtonkit sinkhorn (numba)"}
    r = solvers.sinkhorn(p, tol=TARGET, maxiter=50, backend="numba")
    t_it = r.stats["time_s"] / max(r.nit, 1)
    cap = max(100, int(budget / max(t_it, 1e-9)))
    r = solvers.sinkhorn(p, tol=TARGET, maxiter=cap, backend="numba")
    dt = r.stats["time_s"]
    out.update(iterations_run=r.nit, time_run_s=dt, time_per_iteration_s=dt / max(r.nit, 1),
               l1_marginal_error=l1_marg(r.plan(dense=True), p.a, p.b) if p.C.size <= 1e7 else None)
    if r.converged:
        out.update(status="converged", iterations=r.nit, time_s=dt, estimated=False, cost=r.cost)
        return out, r.nit
    est = extrapolate(r.history["marginal_error"], done=r.nit)   # history: nit + 1 rows (row 0 = start)
    out.update(status="time_limited", estimated=True, estimate_source="extrapolated from own linear rate",
               iterations=est, time_s=None if est is None else est * out["time_per_iteration_s"], cost=r.cost)
    return out, est


def run_nk_sns(p, repeats):
    times, r = [], None
    for _ in range(repeats):
        r = solvers.sns(p, tol=TARGET, backend="numba")
        times.append(r.stats["time_s"])
    P = r.plan(dense=True) if p.C.size <= 1e7 else None
    return {"peer": "newtonkit sns (numba)", "status": r.status, "iterations": r.nit,
            "time_s": statistics.median(times),
            "times_s": times, "estimated": False, "cost": r.cost,
            "l1_marginal_error": None if P is None else l1_marg(P, p.a, p.b),
            "sinkhorn_steps": r.stats["sinkhorn_steps"], "newton_steps": r.stats["newton_steps"],
            "cg_iterations": r.stats["cg_iterations"], "line_search_evals": r.stats["line_search_evals"],
            "fallbacks": r.stats["fallbacks"], "max_nnz": int(r.history["nnz"].max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n=1000 only, eps in {1e-2, 1e-4}, small budgets")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per slow run at n=1000, scaled by n/1000 (default 10, quick 5): newtonkit "
                         "sinkhorn gets 1x, POT sinkhorn 1/2, POT sinkhorn_log 1/4, each RegOT run 2x")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    args = ap.parse_args()
    import ot

    sizes = args.sizes or ([1000] if args.quick else [1000, 3000])
    epss = [1e-2, 1e-4] if args.quick else [1e-2, 1e-3, 1e-4]
    budget = args.budget or (5.0 if args.quick else 10.0)
    repeats = 1 if args.quick else 3
    # warm-up: compile the kernels once
    solvers.sns(problem(64, 1e-3), tol=1e-8)
    solvers.sinkhorn(problem(64, 1e-2), tol=1e-8)
    results = {"machine": machine(), "target_l1_marginal_error": TARGET, "quick": args.quick,
               "budget_s_per_slow_run": budget, "cases": []}
    t_start = time.perf_counter()
    for n in sizes:
        b = budget * (n / 1000) ** 1.0
        emd_cache = {}
        for eps in epss + [1e-5]:
            p = problem(n, eps)
            print(f"n={n} eps={eps:g}", flush=True)
            case = {"n": n, "eps": eps, "runs": []}
            if "emd" not in emd_cache:
                t = time.perf_counter()
                emd_cache["emd"] = float(ot.emd2(p.a, p.b, p.C, numItermax=10_000_000))
                emd_cache["time_s"] = time.perf_counter() - t
            case["emd_cost"], case["emd_time_s"] = emd_cache["emd"], emd_cache["time_s"]
            sns_run = run_nk_sns(p, repeats)
            case["runs"].append(sns_run)
            if eps == 1e-5:
                case["runs"].append(run_pot("sinkhorn", p, min(b, 2.0), None))
            else:
                nk, ref_it = run_nk_sinkhorn(p, b)
                case["runs"].append(nk)
                case["runs"].append(run_pot("sinkhorn", p, b / 2, ref_it))
                case["runs"].append(run_pot("sinkhorn_log", p, b / 4, ref_it))
                for name in ("sinkhorn_ssns", "sinkhorn_splr"):
                    case["runs"].append(run_regot(name, p, 2 * b))
            for r in case["runs"]:
                if r.get("cost") is not None:
                    r["cost_rel_to_emd"] = (r["cost"] - case["emd_cost"]) / case["emd_cost"]
                print(f"   {r['peer']:<42} {r.get('status', ''):<13} it={r.get('iterations')} "
                      f"t={r.get('time_s')} est={r.get('estimated', False)}", flush=True)
            by = {r["peer"]: r for r in case["runs"]}
            s = by["newtonkit sns (numba)"]
            ratios = {}
            for peer in ("POT ot.sinkhorn(method='sinkhorn')", "POT ot.sinkhorn(method='sinkhorn_log')",
                         "RegOT sinkhorn_ssns", "RegOT sinkhorn_splr", "newtonkit sinkhorn (numba)"):
                r = by.get(peer)
                if r and r.get("time_s") and s.get("time_s"):
                    ratios[f"time {peer} / sns"] = r["time_s"] / s["time_s"]
                if r and r.get("iterations") and s.get("iterations"):
                    ratios[f"iterations {peer} / sns"] = r["iterations"] / s["iterations"]
            nk = by.get("newtonkit sinkhorn (numba)")
            pl = by.get("POT ot.sinkhorn(method='sinkhorn_log')")
            if nk and pl and nk.get("time_per_iteration_s") and pl.get("time_per_iteration_s"):
                ratios["per-iteration POT sinkhorn_log / newtonkit sinkhorn"] = (
                    pl["time_per_iteration_s"] / nk["time_per_iteration_s"])
            case["ratios"] = ratios
            for k, v in ratios.items():
                print(f"   {k}: {v:.3g}", flush=True)
            results["cases"].append(case)
    results["total_time_s"] = time.perf_counter() - t_start
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", "ot_sns_quick.json" if args.quick else "ot_sns.json")
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    print("wrote", path, f"in {results['total_time_s']:.0f} s")


if __name__ == "__main__":
    main()
