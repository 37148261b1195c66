"""Everything newtonkit measures on a GPU, in one call (GPU time is lent in minutes).

    python benchmarks/gpu.py                 # full run, ~5-8 min on an H100/H200-class device
    python benchmarks/gpu.py --quick         # small sizes, ~1 min: checks the script end to end
    python benchmarks/gpu.py --skip-tests    # benchmarks only
    python benchmarks/gpu.py --skip-tests --only nlp   # one group of steps (here 6), ~2 min full size

Steps, each guarded so one failure does not lose the others:

1. ``pytest -m gpu`` (the GPU-marked tests) in a subprocess; summary and exit code;
2. device-to-device copy bandwidth (``dst[...] = src``, 2 x bytes moved), the yardstick;
3. achieved bandwidth of each hot kernel against it: the 3-D stencil matvec (16 B/point),
   the OT log-sum-exp row and column reductions (two passes over C: 16 B/entry), the
   sparse Hessian (Schur complement) matvec of SNS;
4. 3-D Poisson 256^3, rtol 1e-8: newtonkit MG-CG (cupy) vs ``cupyx.scipy.sparse.linalg.cg``
   on the CSR matrix (setup excluded for both: MG hierarchy and CSR assembly are timed apart);
5. Sinkhorn and SNS at n = 10 000 and 20 000 (uniform random points in the unit square,
   squared Euclidean cost), eps = 1e-3 and 1e-4, to L1 marginal error 1e-8;
6. (``nlp``) Poisson optimal control (``PoissonControl``, ``alpha = 1e-4``) at n = 512 (``2 n^2``
   variables, ``n^2`` constraints), linear and semilinear: ``sketched_newton(sketch=None)`` (MINRES
   with the problem's multigrid KKT preconditioner) to ``||(grad L, c)||_2 <= 1e-10``; and Bratu
   ``-Δu = 6 e^u`` on a 1024^2 interior grid: ``newton_krylov`` (GMRES + multigrid V-cycle of
   ``J(u)``) to ``||F||_inf <= 1e-8``. Each on cupy and on the CPU backends of ``--nlp-cpu``
   (default numpy, the reference, and numba), same problem and tolerance: time (one run after a
   small warm-up solve that compiles the kernels; wall clock with device synchronisation, the
   problem's set-up inside), iterations, inner iterations, the max difference of the solutions
   (and multipliers) from each CPU run, and residuals computed here on assembled SciPy matrices
   (``PoissonControl.kkt_residual``; an own Kronecker Laplacian for Bratu), independent of the
   solvers' kernels. ``--quick``: n = 64 and 128^2.
7. (``ot_sweep``, only when named) the eps sweep 0.1 ... 1e-5 at n = 20 000: sinkhorn, sns, auto
   (:mod:`gpu_owed`; ``--ot-budget`` seconds per run);
8. (``approx``, only when named) Chebyshev-Tucker at m = 257 on the device against the NumPy reference
   (:mod:`gpu_owed`).

The issues' owed device runs: ``python benchmarks/gpu.py`` (steps 1-6), then
``python benchmarks/gpu.py --skip-tests --only ot_sweep approx`` (steps 7-8).

Timing: CUDA events around each measured call, after one warm-up call (kernels compiled
and cached). Writes ``benchmarks/results/gpu-<device>.json`` (``gpu-<device>-quick.json``
with --quick) with the device name, CUDA/CuPy versions and every figure; targets from
issue 11 are recorded beside the figures with a pass/fail flag.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import solvers  # noqa: E402
from _machine import machine_info  # noqa: E402

TARGETS = {"kernel_fraction_of_copy_bw": 0.70, "mgcg_speedup_vs_cupyx_cg": 5.0, "sns_20000_eps1e-4_s": 2.0}


def _cuda_time(cp, fn, repeat=3):
    """Median seconds of ``fn()`` over ``repeat`` calls, CUDA events, after one warm-up call."""
    out = fn()
    cp.cuda.Device().synchronize()
    ts = []
    for _ in range(repeat):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        out = fn()
        end.record()
        end.synchronize()
        ts.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return float(np.median(ts)), out


#: called with no arguments after every step (main sets it to write the report so far: a device command cut
#: at its time limit keeps every finished step)
_AFTER_STEP = [lambda: None]


def _guard(report, key, fn):
    t = time.time()
    try:
        report[key] = fn()
    except Exception as exc:  # record and go on: GPU minutes are scarce
        report[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    report.setdefault("_step_seconds", {})[key] = round(time.time() - t, 1)
    print(f"[gpu.py] {key}: {json.dumps(report[key], default=str)[:400]}", flush=True)
    _AFTER_STEP[0]()


def run_gpu_tests():
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"],
                          cwd=HERE.parent, capture_output=True, text=True, timeout=900)
    tail = proc.stdout.strip().splitlines()[-40:]
    summary = next((ln for ln in reversed(tail) if re.search(r"\d+ (passed|failed|error)", ln)), "")
    return {"returncode": proc.returncode, "summary": summary, "tail": tail, "stderr_tail": proc.stderr[-2000:],
            "seconds": round(time.time() - t, 1)}


def copy_bandwidth(cp, nbytes):
    n = nbytes // 8
    src, dst = cp.random.random(n), cp.empty(n)

    def copy():
        dst[...] = src

    t, _ = _cuda_time(cp, copy, repeat=10)
    return {"bytes_moved": 2 * n * 8, "seconds": t, "GBps": 2 * n * 8 / t / 1e9}


def stencil_bandwidth(cp, n, copy_gbps):
    from solvers.operators.stencil import StencilOperator

    A = StencilOperator((n, n, n), 1.0 / (n + 1), backend="cupy")
    x, out = cp.random.random(n ** 3), cp.empty(n ** 3)
    t, _ = _cuda_time(cp, lambda: A.matvec_into(x, out), repeat=10)
    gbps = 16 * n ** 3 / t / 1e9
    return {"grid": [n] * 3, "seconds": t, "GBps": gbps, "fraction_of_copy": gbps / copy_gbps}


def ot_kernel_bandwidth(cp, n, copy_gbps):
    """Row/column LSE passes of the OT geometry (each reads C twice: max, then shifted exp-sum)."""
    be = solvers.get_backend("cupy")
    from solvers.ot import _common as common

    C = cp.random.random((n, n))
    geom = common.Geometry(C, be)
    f, g = cp.zeros(n), cp.zeros(n)
    out = {}
    for name, fn in (("row_lse", lambda: geom.row_lse(g, 1e-2)), ("col_lse", lambda: geom.col_lse(f, 1e-2))):
        t, _ = _cuda_time(cp, fn, repeat=10)
        gbps = 16 * n * n / t / 1e9
        out[name] = {"n": n, "seconds": t, "GBps": gbps, "fraction_of_copy": gbps / copy_gbps}
    return out


def schur_bandwidth(cp, n, copy_gbps):
    """The SNS Schur-complement matvec on a truncated plan with ~``n/10`` entries per row."""
    be = solvers.get_backend("cupy")
    from solvers.ot import _common as common
    from solvers.ot import sns as sns_mod

    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = cp.asarray(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    geom = common.Geometry(C, be)
    f, g = cp.zeros(n), cp.zeros(n)
    eps = 1e-2
    csr = geom.sparse_plan(f, g, eps, 1e-8, max(16, n // 10))
    nnz = int(csr[0][-1])
    make = getattr(sns_mod, "schur_operator", None) or getattr(sns_mod, "_SchurOperator")
    S = make(be, csr, cp.ones(n), cp.ones(n), (n, n))
    v, o = cp.random.random(n), cp.empty(n)
    t, _ = _cuda_time(cp, lambda: S.matvec_into(v, o), repeat=10)
    # P x and P^T y: CSR data + indices (8 + 4..8 B/entry) each, vectors are small next to that
    bytes_moved = 2 * nnz * (8 + csr[1].dtype.itemsize)
    gbps = bytes_moved / t / 1e9
    return {"n": n, "nnz": nnz, "seconds": t, "GBps": gbps, "fraction_of_copy": gbps / copy_gbps}


def poisson(cp, n):
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla

    from problems import pde

    p = pde.Poisson((n, n, n))
    A = p.operator("cupy")
    b = p.rhs("cupy").reshape(-1)
    from solvers.linear.multigrid import multigrid

    t0 = time.perf_counter()
    M = multigrid(A)
    cp.cuda.Device().synchronize()
    setup = time.perf_counter() - t0
    t_mg, res = _cuda_time(cp, lambda: solvers.cg(A, b, rtol=1e-8, M=M, backend="cupy"), repeat=3)
    Acsr = csp.csr_matrix(A.to_csr())
    bnorm = float(cp.linalg.norm(b))
    it = {"n": 0}

    def count(_):
        it["n"] += 1

    def ref():
        it["n"] = 0
        return cspla.cg(Acsr, b, tol=1e-8, maxiter=20 * n, callback=count)

    try:
        t_ref, (xr, _info) = _cuda_time(cp, ref, repeat=1)
    except TypeError:  # newer cupyx: rtol instead of tol
        def ref():  # noqa: F811
            it["n"] = 0
            return cspla.cg(Acsr, b, rtol=1e-8, maxiter=20 * n, callback=count)
        t_ref, (xr, _info) = _cuda_time(cp, ref, repeat=1)
    rel_mg = float(cp.linalg.norm(b - Acsr @ res.x) / bnorm)
    rel_ref = float(cp.linalg.norm(b - Acsr @ xr) / bnorm)
    return {"grid": [n] * 3, "mgcg_s": t_mg, "mgcg_setup_s": setup, "mgcg_it": res.nit, "mgcg_relres": rel_mg,
            "cupyx_cg_s": t_ref, "cupyx_cg_it": it["n"], "cupyx_cg_relres": rel_ref,
            "speedup": t_ref / t_mg}


def ot(cp, n, eps, method):
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    C = cp.asarray(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    a = cp.full(n, 1.0 / n)
    fn = getattr(solvers, method)
    kw = {"maxiter": 200_000} if method == "sinkhorn" else {}
    t, res = _cuda_time(cp, lambda: fn(C, a, a, eps=eps, tol=1e-8, backend="cupy", **kw), repeat=1)
    return {"n": n, "eps": eps, "seconds": t, "nit": res.nit, "converged": res.converged,
            "marginal_error": float(res.history["marginal_error"][-1]), "status": res.status}


def _host(a):
    """``a`` as a NumPy array (copied from the device for CuPy)."""
    return solvers.get_backend("numpy").to_numpy(a)


def _timed(cp, fn):
    """Wall seconds of ``fn()`` with the device synchronised before and after (one run), and its value."""
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    out = fn()
    cp.cuda.Device().synchronize()
    return time.perf_counter() - t0, out


def _nlp_compare(cp, runs, solution):
    """``runs``: {backend: (seconds, result)}; ``solution(result)`` -> host arrays to compare. Adds per-run figures
    and, for every CPU run, the max difference of each solution array from the cupy run's (relative to its max)."""
    out = {}
    gpu = solution(runs["cupy"][1])
    for be, (t, r) in runs.items():
        rec = {"seconds": t, "nit": r.nit, "converged": r.converged, "status": str(r.status),
               "inner_iterations": int(r.stats.get("inner_iterations", 0)), "message": r.message,
               "num_threads": r.provenance.get("num_threads"), "device": r.provenance.get("device")}
        if be != "cupy":
            ref = solution(r)
            rec["max_abs_diff_vs_cupy"] = [float(np.max(np.abs(a - b))) for a, b in zip(gpu, ref)]
            rec["max_rel_diff_vs_cupy"] = [float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
                                           for a, b in zip(gpu, ref)]
            rec["cpu_over_cupy_time"] = t / runs["cupy"][0]
        out[be] = rec
    return out


def control_cupy(cp, n, semilinear, cpu_backends, tol=1e-10):
    """Poisson control at ``n`` on cupy and on ``cpu_backends`` (step 6)."""
    from problems.pde import PoissonControl
    from solvers.nonlinear.sketched_newton import sketched_newton

    sketched_newton(PoissonControl(32, semilinear=semilinear), sketch=None, tol=tol, backend="cupy")   # compile
    runs = {}
    for be in ("cupy",) + tuple(cpu_backends):
        P = PoissonControl(n, alpha=1e-4, semilinear=semilinear)
        if be == "cupy":
            runs[be] = _timed(cp, lambda: sketched_newton(P, sketch=None, tol=tol, maxiter=100, backend="cupy"))
        else:
            if be == "numba":
                sketched_newton(PoissonControl(32, semilinear=semilinear), sketch=None, tol=tol, backend=be)
            t0 = time.perf_counter()
            r = sketched_newton(P, sketch=None, tol=tol, maxiter=100, backend=be)
            runs[be] = (time.perf_counter() - t0, r)
    out = {"problem": P.name, "grid": n, "variables": P.n, "constraints": P.m, "tol": tol,
           "runs": _nlp_compare(cp, runs, lambda r: (_host(r.x), _host(r.lam)))}
    for be, (_, r) in runs.items():   # independent first-order residuals (assembled SciPy matrices)
        out["runs"][be]["kkt_residual_assembled"] = P.kkt_residual(_host(r.x), _host(r.lam))
    return out


def bratu_cupy(cp, n, cpu_backends, lam=6.0, tol=1e-8):
    """Bratu on an ``n x n`` interior grid on cupy and on ``cpu_backends`` (step 6)."""
    import scipy.sparse as sp

    from problems.pde.bratu import Bratu
    from solvers.nonlinear.newton_krylov import newton_krylov

    newton_krylov(**Bratu((63, 63), lam=lam).nonlinear_system("cupy"), tol=tol)     # compile
    runs = {}
    for be in ("cupy",) + tuple(cpu_backends):
        p = Bratu((n, n), lam=lam)
        if be == "cupy":
            runs[be] = _timed(cp, lambda: newton_krylov(**p.nonlinear_system("cupy"), tol=tol))
        else:
            if be == "numba":
                newton_krylov(**Bratu((63, 63), lam=lam).nonlinear_system(be), tol=tol)
            t0 = time.perf_counter()
            r = newton_krylov(**p.nonlinear_system(be), tol=tol)
            runs[be] = (time.perf_counter() - t0, r)
    out = {"shape": [n, n], "lam": lam, "tol_inf": tol,
           "runs": _nlp_compare(cp, runs, lambda r: (_host(r.x).ravel(),))}
    h = 1.0 / (n + 1)
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h ** 2
    A = (sp.kron(T, sp.identity(n)) + sp.kron(sp.identity(n), T)).tocsr()
    for be, (_, r) in runs.items():   # independent residual (own Kronecker Laplacian)
        u = _host(r.x).ravel()
        out["runs"][be]["residual_inf_assembled"] = float(np.max(np.abs(A @ u - lam * np.exp(u))))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-tests", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--only", choices=("kernels", "poisson", "ot", "nlp", "ot_sweep", "approx"), nargs="+",
                    default=None, help="run only these groups of steps (kernels: 2-3, poisson: 4, ot: 5, nlp: 6, "
                    "ot_sweep: 7, approx: 8; 7 and 8 run only when named)")
    ap.add_argument("--ot-budget", type=float, default=20.0, help="seconds per OT run in step 7 (default 20)")
    ap.add_argument("--ot-total", type=float, default=360.0,
                    help="no OT run of step 7 starts after this many seconds of it (default 360; a device command "
                         "is cut at 600 s)")
    ap.add_argument("--nlp-cpu", default="numpy,numba", help="CPU backends compared in step 6 (comma-separated)")
    args = ap.parse_args(argv)
    groups = set(args.only or ("kernels", "poisson", "ot", "nlp"))
    be = solvers.get_backend("cupy")   # raises a clear error without a GPU
    cp = be.xp
    device = be.device_name()
    report = {"device": device, "cupy": cp.__version__, "cuda_runtime": cp.cuda.runtime.runtimeGetVersion(),
              "machine": machine_info("cupy"), "quick": args.quick, "targets": TARGETS}
    safe = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
    part = "-" + "-".join(sorted(groups)) if args.only else ""     # a partial run never overwrites a full one
    out = Path(args.out) if args.out else HERE / "results" / f"gpu-{safe}{part}{'-quick' if args.quick else ''}.json"

    def save():
        text = json.dumps(report, indent=2, default=str)
        if os.environ.get("OUT"):
            Path(os.environ["OUT"]).mkdir(parents=True, exist_ok=True)
            (Path(os.environ["OUT"]) / out.name).write_text(text)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)

    _AFTER_STEP[0] = save
    if not args.skip_tests:
        _guard(report, "pytest_gpu", run_gpu_tests)
    if "kernels" in groups:
        _guard(report, "copy_bandwidth", lambda: copy_bandwidth(cp, (1 << 26) if args.quick else (1 << 30)))
        copy_gbps = report["copy_bandwidth"].get("GBps", float("nan"))
        _guard(report, "stencil_matvec", lambda: stencil_bandwidth(cp, 64 if args.quick else 256, copy_gbps))
        _guard(report, "ot_lse", lambda: ot_kernel_bandwidth(cp, 2000 if args.quick else 20000, copy_gbps))
        _guard(report, "sns_schur_matvec", lambda: schur_bandwidth(cp, 2000 if args.quick else 20000, copy_gbps))
    if "poisson" in groups:
        _guard(report, "poisson_mgcg", lambda: poisson(cp, 64 if args.quick else 256))
    sizes = (1000, 2000) if args.quick else (10_000, 20_000)
    report["ot"] = {}
    for n in sizes if "ot" in groups else ():
        for eps in (1e-3, 1e-4):
            for method in ("sns", "sinkhorn"):
                key = f"{method}_n{n}_eps{eps:g}"
                _guard(report["ot"], key, lambda: ot(cp, n, eps, method))
    if "nlp" in groups:
        cpu = tuple(b.strip() for b in args.nlp_cpu.split(",") if b.strip())
        nc, nb = (64, 128) if args.quick else (512, 1024)
        report["nlp"] = {}
        for semilinear in (False, True):
            key = f"control{'_semilinear' if semilinear else ''}_n{nc}"
            _guard(report["nlp"], key, lambda: control_cupy(cp, nc, semilinear, cpu))
        _guard(report["nlp"], f"bratu_{nb}x{nb}", lambda: bratu_cupy(cp, nb, cpu))
    if "ot_sweep" in groups or "approx" in groups:
        import gpu_owed

        if "ot_sweep" in groups:
            _guard(report, "ot_eps_sweep", lambda: gpu_owed.ot_sweep(be, 2000 if args.quick else 20_000,
                                                                     budget_s=args.ot_budget, total_s=args.ot_total))
        if "approx" in groups:
            _guard(report, "chebtucker_m257", lambda: gpu_owed.chebtucker_m257(
                be, 64 if args.quick else 256, 10 ** 5 if args.quick else 10 ** 6))
    # targets
    checks = {}
    fr = [v.get("fraction_of_copy") for v in (report.get("stencil_matvec", {}), report.get("sns_schur_matvec", {}),
                                             *report.get("ot_lse", {}).values()) if isinstance(v, dict)]
    fr = [f for f in fr if f is not None]
    if fr:
        checks["kernels_min_fraction_of_copy"] = {"value": min(fr), "target": TARGETS["kernel_fraction_of_copy_bw"],
                                                  "met": min(fr) >= TARGETS["kernel_fraction_of_copy_bw"]}
    sp = report.get("poisson_mgcg", {}).get("speedup")
    if sp is not None:
        checks["mgcg_speedup"] = {"value": sp, "target": TARGETS["mgcg_speedup_vs_cupyx_cg"],
                                  "met": sp >= TARGETS["mgcg_speedup_vs_cupyx_cg"]}
    sns20 = report["ot"].get("sns_n20000_eps0.0001", {})
    if "seconds" in sns20:
        checks["sns_20000_eps1e-4"] = {"value": sns20["seconds"], "target": TARGETS["sns_20000_eps1e-4_s"],
                                       "met": sns20["seconds"] < TARGETS["sns_20000_eps1e-4_s"] and sns20["converged"]}
    report["checks"] = checks
    save()
    print(f"[gpu.py] wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
