"""Entropic OT benchmark: newtonkit sinkhorn / sns / auto (numba) against POT and RegOT.

Problem: n random points in [0,1]^2 on each side, squared Euclidean cost scaled so that
max C = 1, uniform weights; target L1 marginal error 1e-8 (``|P1 - a|_1 + |P^T 1 - b|_1``,
measured by this script on every returned plan). Peers, in the same process:

* POT ``ot.sinkhorn`` with ``method="sinkhorn"`` (Knopp, kernel space) and ``"sinkhorn_log"``;
* RegOT ``sinkhorn_ssns`` and ``sinkhorn_splr`` (skipped with a note when not installed);
* newtonkit ``solvers.sinkhorn`` (kernel space where safe, :mod:`solvers.ot._scaling`),
  ``solvers.sns`` and ``solvers.ot.auto.auto`` (numba backend);
* the unregularised optimum ``ot.emd2`` for the relative transport-cost gap.

Per (n, eps) the JSON gives every run, ``best_newtonkit`` (the faster of sinkhorn and sns),
``fastest_peer`` and ``speedup = fastest peer time / best newtonkit time`` (target >= 1),
and ``auto_over_best`` (target <= 1.2). ``memory`` holds the peak resident set size of SNS
(and Sinkhorn) at eps = 1e-3, each in a fresh subprocess: ``ru_maxrss`` after the solve minus
the RSS before the cost matrix was made (after its point arrays: ``peak_over_C_with_points`` counts them
too), divided by the size of C (target <= 1.5); ``C_plus_solve_over_C`` is 1 + (VmHWM of the solve, reset
once C is built, minus the RSS with C) / C: C plus what the solve itself adds, without the pages building C left
resident (OpenBLAS's GEMM buffer, about 0.2-0.5 MB); ``--memory-only`` runs just these (``ot_sns_memory_n<N>.json``).
``--large N ...`` generates the issue's instance at each n with
``problems.ot.random_point_clouds(n, eps, seed=0)`` and solves it with ``method="auto"`` and
``sns`` (``--large-methods``), each in a fresh subprocess, to L1 marginal error 1e-8 at
eps = 1e-3 (``--eps``; ``--float32``: the same instance with a float32 cost matrix): peak RSS of the generator and of the solve (VmHWM, reset in between),
time, iterations, and the marginal error of the returned potentials recomputed here in plain
NumPy by row blocks; writes ``ot_sns_large.json``. ``--auto-rule`` measures the Sinkhorn/SNS
cross-over that :mod:`solvers.ot.auto` uses
(process CPU time and wall time, repeats interleaved, median of 3) and writes ``ot_sns_auto_rule.json``. ``--newton-kernel``
compares SNS with its Newton stage from exponential passes over C against the Newton stage in
kernel space (:mod:`solvers.ot._sns_kernel`), CPU time, at n = 1000, 3000
(``ot_sns_newton_kernel.json``).

Slow runs are time-limited: each peer first times a few iterations, then gets an iteration
cap that fits its time budget. A run that cannot reach the target within the cap is
reported with ``"estimated": true``: its iterations to 1e-8 are extrapolated from the
linear rate of its own error history where available, else taken from the (mathematically
identical) newtonkit Sinkhorn iteration count, and time = iterations x measured time per
iteration. Every entry says which numbers are measured and which are estimated.
RegOT's C++ loop cannot be interrupted, so each RegOT run happens in a forked child that
is killed at its budget (reported as ``"status": "timeout"``).

Usage: ``python benchmarks/ot_sns.py [--quick] [--budget SECONDS] [--sizes N ...] [--eps E ...]
[--regot-budget SECONDS] [--memory-n N] [--memory-only] [--repeats K] [--auto-rule] [--newton-kernel] [--large N ...]``; writes ``benchmarks/results/ot_sns.json`` (``ot_sns_quick.json``
with --quick: n = 300, eps in {0.1, 1e-2, 1e-3}, memory at n = 1500).
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
        if err > TARGET and method == "sinkhorn" and ref_iters is not None:
            # POT stopped on its own (one-sided) criterion above our L1 target. Knopp's iteration is the
            # newtonkit Sinkhorn iteration, so run POT to the same target for real: without early stopping,
            # from the newtonkit count upwards (x1.25 per try) within the budget, timing each full run.
            its_try = max(ref_iters, it)
            while err > TARGET and its_try * out["time_per_iteration_s"] <= budget:
                t = time.perf_counter()
                G, log = ot.sinkhorn(a, b, C, eps, method=method, numItermax=its_try, stopThr=0.0, log=True)
                dt = time.perf_counter() - t
                it, err = its_try, l1_marg(G, a, b)
                its_try = int(its_try * 1.25) + 1
            out.update(iterations_run=it, time_run_s=dt, l1_marginal_error=err, time_per_iteration_s=dt / max(it, 1),
                       rerun_to_target=True)
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


def _sns_row(p, results):
    r = results[-1]
    times = [x.stats["time_s"] for x in results]
    P = r.plan(dense=True) if p.C.size <= 1e7 else None
    return {"peer": "newtonkit sns (numba)", "status": r.status, "iterations": r.nit,
            "time_s": statistics.median(times),
            "times_s": times, "estimated": False, "cost": r.cost,
            "l1_marginal_error": None if P is None else l1_marg(P, p.a, p.b),
            "sinkhorn_steps": r.stats["sinkhorn_steps"], "newton_steps": r.stats["newton_steps"],
            "cg_iterations": r.stats["cg_iterations"], "line_search_evals": r.stats["line_search_evals"],
            "fallbacks": r.stats["fallbacks"], "max_nnz": int(r.history["nnz"].max())}


def _auto_row(results):
    r = results[-1]
    times = [x.stats["time_s"] for x in results]
    return {"peer": "newtonkit auto (numba)", "status": r.status, "iterations": r.nit,
            "time_s": statistics.median(times), "times_s": times, "estimated": False, "cost": r.cost,
            "auto_choice": r.stats["auto_choice"], "auto_reason": r.stats["auto_reason"]}


def run_nk_three(p, budget, repeats):
    """newtonkit sns, sinkhorn (budgeted first run, then repeats when it converged) and auto, their
    repeats interleaved -- sns, sinkhorn, auto, sns, ... -- because ``auto_over_best`` compares the
    three and the VM's speed drifts by tens of percent within minutes (measured: sns and auto on the
    same path at eps 3e-5 differed by 1.26x when run one after the other, by < 3 % interleaved).
    Returns ``(sns row, sinkhorn row, its iteration count, auto row)``."""
    from solvers.ot.auto import auto

    sns_res, auto_res = [solvers.sns(p, tol=TARGET, backend="numba")], []
    nk, it = run_nk_sinkhorn(p, budget)
    sk_times = [nk["time_s"]] if nk.get("status") == "converged" else None
    for k in range(repeats):
        if k > 0:
            sns_res.append(solvers.sns(p, tol=TARGET, backend="numba"))
            if sk_times is not None:
                sk_times.append(solvers.sinkhorn(p, tol=TARGET, maxiter=nk["iterations"] + 10, backend="numba")
                                .stats["time_s"])
        auto_res.append(auto(p, tol=TARGET, backend="numba"))
    if sk_times is not None and repeats > 1:
        nk.update(time_s=statistics.median(sk_times), times_s=sk_times)
    return _sns_row(p, sns_res), nk, it, _auto_row(auto_res)


PEERS = ("POT ot.sinkhorn(method='sinkhorn')", "POT ot.sinkhorn(method='sinkhorn_log')", "RegOT sinkhorn_ssns",
         "RegOT sinkhorn_splr")
NK = ("newtonkit sinkhorn (numba)", "newtonkit sns (numba)")


def summarise(case):
    by = {r["peer"]: r for r in case["runs"]}
    ok = lambda r: r is not None and r.get("time_s") is not None and (  # noqa: E731
        r.get("status") == "converged" or r.get("estimated"))
    nk = [by[k] for k in NK if ok(by.get(k)) and by[k].get("status") == "converged"]
    peers = [by[k] for k in PEERS if ok(by.get(k))]
    summary = {}
    if nk:
        best = min(nk, key=lambda r: r["time_s"])
        summary.update(best_newtonkit=best["peer"], best_newtonkit_time_s=best["time_s"])
        if peers:
            fast = min(peers, key=lambda r: r["time_s"])
            summary.update(fastest_peer=fast["peer"], fastest_peer_time_s=fast["time_s"],
                           fastest_peer_estimated=bool(fast.get("estimated")),
                           speedup=fast["time_s"] / best["time_s"])
        au = by.get("newtonkit auto (numba)")
        if au and au.get("time_s"):
            summary["auto_over_best"] = au["time_s"] / best["time_s"]
    return summary


# ---------------------------------------------------------------------------------------- memory
def memory_child(n, eps, method, domain="auto"):
    """Peak RSS of one solve (run in a fresh interpreter by :func:`measure_memory`)."""
    import resource

    from solvers.ot import sinkhorn, sns

    def status_mb(key):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
        return math.nan

    x0 = np.random.default_rng(1).random((600, 2))
    C0 = ((x0[:, None] - x0[None]) ** 2).sum(-1)
    sns(C0 / C0.max(), eps=1e-3, tol=1e-8)          # compile / load every kernel first
    sinkhorn(C0 / C0.max(), eps=1e-2, tol=1e-8)
    del C0
    try:                     # reset the high-water mark (VmHWM) so the warm-up does not count
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        hwm = "VmHWM"
    except OSError:
        hwm = None
    base_points = status_mb("VmRSS")
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    # the baseline is read after the points exist: they are the generator's input, not the solver's.
    # Measured at n = 10^4 (ot_sns_memory_n10000.json): they do not move the RSS at all (heap reuse),
    # so the 0.04 % over 1.5 x C is the solve's own (O(n) vectors beside the half-size float32 kernel)
    base = status_mb("VmRSS")
    C = x @ y.T                                      # one n x n array, built in place
    C *= -2.0
    C += (x * x).sum(1)[:, None]
    C += (y * y).sum(1)[None, :]
    np.maximum(C, 0.0, out=C)
    C /= C.max()
    with_c = status_mb("VmRSS")      # C and what building it left resident (OpenBLAS's GEMM buffer pages)
    if hwm:
        _reset_peak()                # the solve's own peak from here
    t = time.perf_counter()
    r = (sns if method == "sns" else sinkhorn)(C, eps=eps, tol=TARGET, domain=domain)
    peak = status_mb(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c_mb = C.nbytes / 2**20
    print(json.dumps({"n": n, "eps": eps, "method": method, "domain": domain, "C_MB": c_mb, "rss_before_C_MB": base,
                      "rss_before_points_MB": base_points, "peak_source": hwm or "ru_maxrss",
                      "peak_rss_MB": peak, "peak_over_C": (peak - base) / c_mb,
                      "peak_over_C_with_points": (peak - base_points) / c_mb,
                      "rss_with_C_MB": with_c, "solve_added_MB": peak - with_c,
                      "C_plus_solve_over_C": 1.0 + (peak - with_c) / c_mb, "status": r.status,
                      "wall_s": time.perf_counter() - t, "nit": r.nit}))


def measure_memory(n, eps=1e-3, methods=("sns", "sinkhorn")):
    import subprocess
    import sys

    out = []
    for method in methods:
        proc = subprocess.run([sys.executable, __file__, "--memory-child", str(n), str(eps), method],
                              capture_output=True, text=True, env=os.environ.copy())
        try:
            res = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            res = {"n": n, "eps": eps, "method": method, "error": proc.stderr[-2000:]}
        print(f"   memory {method} n={n}: {res.get('peak_over_C', 'error')}", flush=True)
        out.append(res)
    return out


# ---------------------------------------------------------------------------------- large solves
def _proc_mb(key):
    """A ``/proc/self/status`` entry (``VmRSS``, ``VmHWM``) in MiB (NaN where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def _reset_peak():
    """Reset the high-water mark VmHWM to the current RSS (Linux ``clear_refs``); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def independent_marginals(C, f, g, eps, a, b, rows=None):
    """L1 marginal error and transport cost of the plan ``exp((f_i + g_j - C_ij) / eps)``, in plain
    NumPy by row blocks (O(block) memory; independent of the solver's kernels)."""
    n, m = C.shape
    rows = rows or max(1, 2**20 // m)
    r, c, cost = np.empty(n), np.zeros(m), 0.0
    for i0 in range(0, n, rows):
        Z = f[i0:i0 + rows, None] + g[None, :]
        Z -= C[i0:i0 + rows]
        Z /= eps
        np.exp(Z, out=Z)
        r[i0:i0 + rows] = Z.sum(1)
        c += Z.sum(0)
        cost += float((Z * C[i0:i0 + rows]).sum())
    return float(np.abs(r - a).sum() + np.abs(c - b).sum()), cost


def float32_point_clouds(n, eps, seed=0):
    """The instance of ``random_point_clouds(n, eps, seed)`` (same draw) with a float32 cost matrix,
    filled by row blocks (peak: the float32 C plus a block)."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    rows = max(1, 2**16 // n)
    cmax = max(float(kot.pairwise_cost(x[i:i + rows], y).max()) for i in range(0, n, rows))
    C = np.empty((n, n), dtype=np.float32)
    for i in range(0, n, rows):
        C[i:i + rows] = kot.pairwise_cost(x[i:i + rows], y) / cmax
    return kot.EntropicOT(C, eps=eps, cost_kind="sqeuclidean")


def large_child(n, eps, method, dtype="float64"):
    """One large solve in this (fresh) interpreter: generate with ``random_point_clouds`` (or its
    float32 twin), solve to L1 marginal error 1e-8, print one JSON line (peaks, times,
    iterations, errors)."""
    import resource

    from solvers.ot import sns
    from solvers.ot.auto import auto

    x0 = np.random.default_rng(1).random((300, 2))
    C0 = ((x0[:, None] - x0[None]) ** 2).sum(-1)
    C0 = (C0 / C0.max()).astype(dtype)
    sns(C0, eps=1e-3, tol=1e-8)                              # load every kernel first (numba cache)
    solvers.sinkhorn(C0, eps=1e-2, tol=1e-8)
    del C0
    hwm = _reset_peak()
    base = _proc_mb("VmRSS")
    t = time.perf_counter()
    p = float32_point_clouds(n, eps) if dtype == "float32" else kot.random_point_clouds(n, eps, seed=0)
    gen_s = time.perf_counter() - t
    c_mb = p.C.nbytes / 2**20
    gen_peak = _proc_mb("VmHWM") if hwm else math.nan
    with_c = _proc_mb("VmRSS")       # C and what generating it left resident
    hwm = _reset_peak()
    t = time.perf_counter()
    solve = auto if method == "auto" else sns
    r = solve(p, tol=TARGET, backend="numba")
    wall = time.perf_counter() - t
    peak = _proc_mb("VmHWM") if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    err, cost = independent_marginals(p.C, r.f, r.g, p.eps, p.a, p.b)
    check_s = time.perf_counter() - t
    keys = ("sinkhorn_steps", "newton_steps", "cg_iterations", "line_search_evals", "fallbacks", "kernel_calls",
            "stage1_kernel_builds", "stage1_float32_steps", "stage1_log_steps", "auto_choice", "auto_reason")
    print(json.dumps({
        "n": n, "eps": eps, "method": method, "routine": r.method, "C_dtype": str(p.C.dtype), "C_MB": c_mb,
        "float64_C_MB": 8 * p.C.size / 2**20, "solve_peak_over_float64_C": (peak - base) / (8 * p.C.size / 2**20),
        "rss_before_C_MB": base,
        "peak_source": "VmHWM" if hwm else "ru_maxrss",
        "generator_s": gen_s, "generator_peak_over_C": (gen_peak - base) / c_mb,
        "solve_peak_rss_MB": peak, "solve_peak_over_C": (peak - base) / c_mb,
        "rss_with_C_MB": with_c, "solve_added_MB": peak - with_c, "C_plus_solve_over_C": 1.0 + (peak - with_c) / c_mb,
        "status": r.status, "converged": bool(r.converged), "nit": r.nit, "time_s": r.stats["time_s"],
        "wall_s": wall, "reported_marginal_error": r.marginal_error,
        "independent_marginal_error": err, "independent_cost": cost, "reported_cost": r.cost,
        "independent_check_s": check_s, "stats": {k: r.stats[k] for k in keys if k in r.stats},
        "threads": os.environ.get("NEWTONKIT_NUM_THREADS")}, default=float))


def measure_large(sizes, eps, methods, dtype="float64"):
    """Every (n, method) of ``--large`` in its own subprocess, so the peaks do not mix."""
    import subprocess
    import sys

    rows = []
    for n in sizes:
        for method in methods:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--large-child", str(n), str(eps), method, dtype],
                                  capture_output=True, text=True, env=os.environ.copy())
            try:
                res = json.loads(proc.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                res = {"n": n, "eps": eps, "method": method, "error": proc.stderr[-3000:]}
            res["subprocess_wall_s"] = time.perf_counter() - t
            print(f"n={n} {method}: " + ", ".join(f"{k}={res.get(k)}" for k in (
                "status", "nit", "time_s", "solve_peak_over_C", "generator_peak_over_C",
                "independent_marginal_error")) + ("" if "error" not in res else " ERROR " + res["error"][-400:]),
                flush=True)
            rows.append(res)
    return rows


# ----------------------------------------------------------------------------- Newton kernel
def newton_kernel(sizes, epss, repeats=3):
    """SNS with the Newton stage from exponential passes over C (``before``: stage 1 alone in
    kernel space, ``NEWTON_KERNEL_MAX = 0``) against the Newton stage in kernel space
    (``after``: ``domain="kernel"``): process CPU time (median), iterations, time per iteration,
    and how far the two answers are apart."""
    import sys

    sns_mod = sys.modules["solvers.ot.sns"]
    default = sns_mod.NEWTON_KERNEL_MAX
    rows = []
    for n in sizes:
        for eps in epss:
            p = problem(n, eps)
            row = {"n": n, "eps": eps}
            res = {}
            for name, domain, limit in (("before", "auto", 0), ("after", "kernel", default)):
                sns_mod.NEWTON_KERNEL_MAX = limit
                try:
                    ts = []
                    for _ in range(repeats):
                        t = time.process_time()
                        r = solvers.sns(p, tol=TARGET, backend="numba", domain=domain)
                        ts.append(time.process_time() - t)
                finally:
                    sns_mod.NEWTON_KERNEL_MAX = default
                res[name] = r
                row[name] = {"cpu_s": statistics.median(ts), "cpu_times_s": ts, "nit": r.nit, "status": r.status,
                             "newton_steps": r.stats["newton_steps"], "sinkhorn_steps": r.stats["sinkhorn_steps"],
                             "cpu_s_per_iteration": statistics.median(ts) / max(r.nit, 1),
                             "marginal_error": r.marginal_error, "cost": r.cost,
                             **{k: r.stats[k] for k in ("newton_kernel_iterations", "newton_log_iterations",
                                                        "newton_kernel_builds") if k in r.stats}}
            row["after_over_before"] = row["after"]["cpu_s"] / row["before"]["cpu_s"]
            row["max_plan_difference"] = float(np.abs(res["after"].plan(dense=True)
                                                      - res["before"].plan(dense=True)).max())
            row["cost_relative_difference"] = abs(res["after"].cost - res["before"].cost) / abs(res["before"].cost)
            print(f"n={n} eps={eps:g}: before {row['before']['cpu_s']:.3f}s ({row['before']['nit']} it)  after "
                  f"{row['after']['cpu_s']:.3f}s ({row['after']['nit']} it, "
                  f"{row['after'].get('newton_kernel_iterations')} in kernel space)  ratio "
                  f"{row['after_over_before']:.2f}  max|dP| {row['max_plan_difference']:.1e}", flush=True)
            rows.append(row)
    return rows


# ------------------------------------------------------------------------------------- auto rule
def auto_rule(sizes, epss, repeats=3):
    """CPU time of sinkhorn and sns per (n, eps): the measurement behind solvers.ot.auto."""
    rows = []
    for n in sizes:
        for eps in epss:
            p = problem(n, eps)
            row = {"n": n, "eps": eps, "eps_rel": eps / float(p.C.max() - p.C.min())}
            runs = {"sinkhorn": ([], [], None), "sns": ([], [], None)}
            for _ in range(repeats):           # interleaved: a load change hits both routines alike
                for name, fn in (("sinkhorn", solvers.sinkhorn), ("sns", solvers.sns)):
                    ts, ws, _r = runs[name]
                    t, w = time.process_time(), time.perf_counter()
                    r = fn(p, tol=TARGET, backend="numba", **({"maxiter": 200_000} if name == "sinkhorn" else {}))
                    ts.append(time.process_time() - t)
                    ws.append(time.perf_counter() - w)
                    runs[name] = (ts, ws, r)
            for name, (ts, ws, r) in runs.items():
                row[name] = {"cpu_s": statistics.median(ts), "wall_s": statistics.median(ws), "nit": r.nit,
                             "status": r.status}
            row["sinkhorn_over_sns"] = row["sinkhorn"]["cpu_s"] / row["sns"]["cpu_s"]
            row["sinkhorn_over_sns_wall"] = row["sinkhorn"]["wall_s"] / row["sns"]["wall_s"]
            print(f"n={n} eps={eps:g}: sinkhorn {row['sinkhorn']['cpu_s']:.3f}s cpu {row['sinkhorn']['wall_s']:.3f}s "
                  f"wall ({row['sinkhorn']['nit']} it)  sns {row['sns']['cpu_s']:.3f}s cpu {row['sns']['wall_s']:.3f}s "
                  f"wall ({row['sns']['nit']} it)  ratio cpu {row['sinkhorn_over_sns']:.2f} wall "
                  f"{row['sinkhorn_over_sns_wall']:.2f}", flush=True)
            rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n=300, eps in {0.1, 1e-2, 1e-3}, small budgets")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per slow run at n=1000, scaled by n/1000 (default 10, quick 2): newtonkit "
                         "sinkhorn gets 1x, POT sinkhorn 1/2, POT sinkhorn_log 1/4, each RegOT run 2x")
    ap.add_argument("--regot-budget", type=float, default=None,
                    help="seconds per RegOT run, not scaled (default: 2x the scaled --budget); RegOT stops by "
                         "itself after 1000 iterations, so a long budget lets its runs finish")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--eps", type=float, nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=None,
                    help="interleaved repeats of the newtonkit runs, median reported (default 3, quick 1)")
    ap.add_argument("--memory-n", type=int, default=None, help="n of the memory runs (default 10000, quick 1500; 0: none)")
    ap.add_argument("--memory-only", action="store_true", help="only the memory runs (at --memory-n), to --out")
    ap.add_argument("--auto-rule", action="store_true", help="measure the sinkhorn/sns cross-over only")
    ap.add_argument("--out", default=None, help="JSON path (default: results/ot_sns[_quick].json)")
    ap.add_argument("--knopp-only", action="store_true",
                    help="POT Knopp as the only peer (re-measuring the cases where it was the fastest)")
    ap.add_argument("--large", type=int, nargs="+", metavar="N", default=None,
                    help="only: generate (random_point_clouds) and solve at these n, each method in a fresh "
                         "subprocess; peak RSS, time, iterations, independent marginal error "
                         "(writes results/ot_sns_large.json)")
    ap.add_argument("--newton-kernel", action="store_true",
                    help="only: SNS Newton stage from C vs in kernel space, CPU time per solve and iteration "
                         "(writes results/ot_sns_newton_kernel[_quick].json)")
    ap.add_argument("--large-methods", nargs="+", default=["auto", "sns"], choices=["auto", "sns"])
    ap.add_argument("--memory-child", nargs="+", metavar="ARG", help=argparse.SUPPRESS)  # N EPS METHOD [DOMAIN]
    ap.add_argument("--float32", action="store_true", help="with --large: a float32 cost matrix (same instance)")
    ap.add_argument("--large-child", nargs=4, metavar="ARG", help=argparse.SUPPRESS)     # N EPS METHOD DTYPE
    args = ap.parse_args()
    if args.memory_child:
        memory_child(int(args.memory_child[0]), float(args.memory_child[1]), *args.memory_child[2:4])
        return
    if args.large_child:
        large_child(int(args.large_child[0]), float(args.large_child[1]), args.large_child[2], args.large_child[3])
        return
    if args.large:
        eps = (args.eps or [1e-3])[0]
        t0 = time.perf_counter()
        rows = measure_large(args.large, eps, args.large_methods, "float32" if args.float32 else "float64")
        path = args.out or os.path.join(os.path.dirname(__file__), "results",
                                        "ot_sns_large_float32.json" if args.float32 else "ot_sns_large.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            json.dump({"machine": machine(), "target_l1_marginal_error": TARGET, "eps": eps,
                       "problem": "random_point_clouds(n, eps, seed=0): uniform points in [0,1]^2, squared "
                                  "Euclidean cost scaled to max 1, uniform weights",
                       "peak_note": "peak_over_C = (VmHWM - RSS before C) / size of C; the generator's and the "
                                    "solve's peaks are measured separately (VmHWM reset in between)",
                       "rows": rows, "total_time_s": time.perf_counter() - t0}, fh, indent=1, default=float)
        print("wrote", path)
        return
    if args.memory_only:
        n = args.memory_n or (1500 if args.quick else 10_000)
        t0 = time.perf_counter()
        rows = measure_memory(n, methods=("sns",) if args.quick else ("sns", "sinkhorn"))
        path = args.out or os.path.join(os.path.dirname(__file__), "results", f"ot_sns_memory_n{n}.json")
        with open(path, "w") as fh:
            json.dump({"machine": machine(), "target_l1_marginal_error": TARGET, "memory": rows,
                       "peak_note": "peak_over_C = (VmHWM - RSS after the points, before C) / size of C; "
                                    "peak_over_C_with_points also counts the generator's point arrays",
                       "total_time_s": time.perf_counter() - t0}, fh, indent=1, default=float)
        print("wrote", path)
        return
    import ot

    results_dir = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(results_dir, exist_ok=True)
    solvers.sns(problem(64, 1e-3), tol=1e-8)       # warm-up: compile the kernels once
    solvers.sinkhorn(problem(64, 1e-2), tol=1e-8)
    if args.newton_kernel:
        sizes = args.sizes or ([1000] if args.quick else [1000, 3000])
        epss = args.eps or ([1e-2, 1e-3] if args.quick else [1e-2, 3e-3, 1e-3, 3e-4, 1e-4])
        rows = newton_kernel(sizes, epss, repeats=1 if args.quick else 3)
        path = args.out or os.path.join(results_dir, "ot_sns_newton_kernel_quick.json" if args.quick
                                        else "ot_sns_newton_kernel.json")
        with open(path, "w") as fh:
            json.dump({"machine": machine(), "target_l1_marginal_error": TARGET, "rows": rows}, fh, indent=1,
                      default=float)
        print("wrote", path)
        return
    if args.auto_rule:
        sizes = args.sizes or ([300] if args.quick else [300, 1000, 3000])
        epss = args.eps or ([1e-2, 3e-3, 1e-3] if args.quick else [3e-2, 1e-2, 5e-3, 3e-3, 2e-3, 1e-3, 3e-4])
        rows = auto_rule(sizes, epss, repeats=args.repeats or (1 if args.quick else 3))
        path = args.out or os.path.join(results_dir, "ot_sns_auto_rule_quick.json" if args.quick
                                        else "ot_sns_auto_rule.json")
        with open(path, "w") as fh:
            json.dump({"machine": machine(), "target_l1_marginal_error": TARGET, "rows": rows}, fh, indent=1,
                      default=float)
        print("wrote", path)
        return
    sizes = args.sizes or ([300] if args.quick else [1000, 3000])
    epss = args.eps or ([1e-1, 1e-2, 1e-3] if args.quick else
                        [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5])
    budget = args.budget or (2.0 if args.quick else 10.0)
    repeats = args.repeats if args.repeats else (1 if args.quick else 3)
    results = {"machine": machine(), "target_l1_marginal_error": TARGET, "quick": args.quick,
               "budget_s_per_slow_run": budget, "regot_budget_s": args.regot_budget or "2x the scaled budget",
               "cases": []}
    t_start = time.perf_counter()
    for n in sizes:
        b = budget * (n / 1000)
        emd = None
        for eps in epss:
            p = problem(n, eps)
            print(f"n={n} eps={eps:g}", flush=True)
            case = {"n": n, "eps": eps, "runs": []}
            if emd is None:
                t = time.perf_counter()
                emd = (float(ot.emd2(p.a, p.b, p.C, numItermax=10_000_000)), time.perf_counter() - t)
            case["emd_cost"], case["emd_time_s"] = emd
            sns_row, nk, ref_it, auto_row = run_nk_three(p, b, repeats)
            case["runs"] += [sns_row, nk, auto_row]
            case["runs"].append(run_pot("sinkhorn", p, b / 2, ref_it))
            if not args.knopp_only:
                case["runs"].append(run_pot("sinkhorn_log", p, b / 4, ref_it))
                for name in ("sinkhorn_ssns", "sinkhorn_splr"):
                    case["runs"].append(run_regot(name, p, args.regot_budget or 2 * b))
            for r in case["runs"]:
                if r.get("cost") is not None:
                    r["cost_rel_to_emd"] = (r["cost"] - case["emd_cost"]) / case["emd_cost"]
                print(f"   {r['peer']:<42} {r.get('status', ''):<13} it={r.get('iterations')} "
                      f"t={r.get('time_s')} est={r.get('estimated', False)}", flush=True)
            case["summary"] = summarise(case)
            print("   summary:", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in case["summary"].items()},
                  flush=True)
            results["cases"].append(case)
    if args.memory_n != 0:
        results["memory"] = measure_memory(args.memory_n or (1500 if args.quick else 10_000),
                                           methods=("sns",) if args.quick else ("sns", "sinkhorn"))
    results["total_time_s"] = time.perf_counter() - t_start
    path = args.out or os.path.join(results_dir, "ot_sns_quick.json" if args.quick else "ot_sns.json")
    with open(path, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    print("wrote", path, f"in {results['total_time_s']:.0f} s")


if __name__ == "__main__":
    main()
