"""Krylov / multigrid benchmark on Poisson: 2-D 1024^2 and 3-D 128^3, rtol 1e-8.

Times, in one process: scipy ``cg`` on the CSR matrix, PyAMG smoothed-aggregation
CG (setup and solve separately), newtonkit CG and MG-CG (numba); MG-CG's cost in fine-grid
matvec-equivalents at 64^3, 128^3 (256^3) and 256^2, 1024^2 (2048^2), with iterations; the stencil
matvec's effective bandwidth against a NumPy triad ``a[:] = b + s * c``. Writes
``benchmarks/results/krylov_poisson.json``.

Matvec-equivalents are reported two ways:

* **time ratio**: the MG-CG solve (set-up included) over one fine-grid stencil matvec
  (``A.matvec_dot``, the kernel CG uses), both measured in the same run on the same threads
  (median of the solves over the fastest matvec measured: on the solve's vector pair before and after each
  solve, and on four fresh pairs, whose pages can make it faster or slower);
* **counted**: ``evals`` = V-cycles x ``fine_evals_per_cycle`` (the preconditioner's ``stats``: half
  sweeps, residuals and level products, each level weighted by its points over the fine grid's) + CG's
  matvecs; ``passes`` = V-cycles x ``fine_passes_per_cycle`` + 3 grid passes per CG iteration (the matvec
  with ``p.q``, the x/r update with ``r.r``, the direction update; ``r.z`` comes from the cycle's last pass)
  and one per extra matvec (the true-residual check).

Also recorded per case: the minimum as well as the median; the **first solve** of the process (after the
JIT warm-up, with the memoised 1-D transfer tables of :mod:`solvers.linear.multigrid_setup`, the coarsening
steps and coarsest inverses of :mod:`solvers.linear.multigrid_memo` and the split levels' tables cleared;
every timed solve builds its hierarchy with ``multigrid(A)``, reusing those read-only parts); the ratio
against a **cache-cold matvec** (caches flushed before it: a secondary figure, the headline keeps the
hot-loop matvec); and a **phase profile** of an instrumented solve (set-up, pre-smoothing + residual +
restriction and prolongation + post-smoothing per level, V-cycles, CG's products, the rest of CG).

    python benchmarks/krylov_poisson.py            # full run (peers take ~30 s each at 128^3)
    python benchmarks/krylov_poisson.py --quick    # small sizes, end-to-end check (krylov_poisson_quick.json)
    python benchmarks/krylov_poisson.py --core     # newtonkit MG-CG and CG only, for before/after checks
                                                   # (krylov_poisson_core.json; ~1 min on 2 threads)
    python benchmarks/krylov_poisson.py --sweep3 96,112,128,144   # MG-CG on those cubes only

MG-CG uses the default cycle and start of :func:`solvers.linear.multigrid.multigrid` (the FMG start on 3-D grids of
at least 500 000 points) and its timing includes building the hierarchy (setup), as PyAMG's does; the other
start is timed too (``newtonkit_mgcg_other_start``).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from _machine import machine_info, write_json  # noqa: E402
import solvers  # noqa: E402
from problems import pde  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402


def _median(fn, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out, ts


def bandwidth(shape, repeat):
    p = pde.Poisson(shape)
    A = p.operator("numba")
    N = A.shape[0]
    rng = np.random.default_rng(0)
    x, out = rng.standard_normal(N), np.empty(N)
    a, b, c = np.empty(N), rng.standard_normal(N), rng.standard_normal(N)
    A.matvec_dot(x, out)

    def triad():
        a[:] = b + 1.5 * c

    triad()
    _numba_triad(a, b, c, 1.5)
    t_mv = min(_median(lambda: A.matvec_dot(x, out), repeat)[2])
    t_tr = min(_median(triad, repeat)[2])
    t_nt = min(_median(lambda: _numba_triad(a, b, c, 1.5), repeat)[2])
    # bytes: matvec reads x and writes out (constant k: no coefficient array); triad reads b, c and writes a
    bw_mv, bw_tr, bw_nt = 16 * N / t_mv, 24 * N / t_tr, 24 * N / t_nt
    return {"shape": list(shape), "matvec_s": t_mv, "triad_s": t_tr, "matvec_GBps": bw_mv / 1e9,
            "triad_GBps": bw_tr / 1e9, "fraction_of_triad": bw_mv / bw_tr,
            "numba_triad_GBps": bw_nt / 1e9, "fraction_of_numba_triad": bw_mv / bw_nt,
            "bytes_counted": "matvec 16 B/pt (read x, write Ax; constant k); triad 24 B/pt (read b, c; write a)",
            "note": "the issue's yardstick is the NumPy triad (one thread, plus a temporary); the Numba triad "
                    "runs on the same threads as the matvec with no temporary and is the stricter yardstick"}


@numba.njit(parallel=True, cache=True)
def _numba_triad(a, b, c, s):
    for i in numba.prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def _min_matvec(A, x, y, n=3):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        A.matvec_dot(x, y)
        ts.append(time.perf_counter() - t)
    return min(ts)


def phase_profile(A, b, t_mv, repeat=3, rtol=1e-8):
    """Where one MG-CG solve spends its time: an instrumented solve (kernel-set calls timed one by one, so
    slower than the timed runs by the instrumentation), the minimum over ``repeat`` per phase, in seconds and
    in matvec-equivalents (``t_mv``). Phases: ``setup`` (building the hierarchy); per level ``L0``-``L2`` (and
    ``coarse`` for all coarser ones) the pre-smoothing + residual + restriction step and the prolongation +
    post-smoothing step, except the levels the kernel set's compiled tail runs (``compiled tail``: from the
    first level below ``SERIAL_BELOW`` points down, one call per cycle); the V-cycles in total (including the dense coarsest solve and Python); CG's products
    (``A.matvec_dot``/``matvec_into``), the FMG start where the default takes it (its coarse-level kernel calls
    are in the level rows too) and the rest of CG (vector updates, dot products, Python)."""

    K = A.backend.kernels("multigrid")
    runs = []
    for _ in range(repeat):
        M = multigrid(A)
        lev_of = {int(np.prod(lev.shape)): l for l, lev in enumerate(M.levels)}
        rec = {}

        def timed(fn, key):
            def g(*a, **k):
                t0 = time.perf_counter()
                out = fn(*a, **k)
                kk = key(a)
                rec[kk] = rec.get(kk, 0.0) + time.perf_counter() - t0
                return out
            return g

        def lvl(tag, pos):
            def key(a):
                l = lev_of.get(int(a[pos].size), -1)
                return f"L{l} {tag}" if 0 <= l <= 2 else f"coarse {tag}"
            return key

        saved = [(K, "smooth_residual_restrict"), (K, "prolong_sweeps")]
        orig = [getattr(m, nm) for m, nm in saved]
        K.smooth_residual_restrict = timed(orig[0], lvl("pre-smoothing + residual + restriction", 1))
        K.prolong_sweeps = timed(orig[1], lvl("prolongation + post-smoothing", 1))
        for l, lev in enumerate(M.levels):         # levels smoothed in the kernel set's split layout
            if getattr(lev, "split", None) is not None:
                lev.split.pre = timed(lev.split.pre, lambda a, l=l: f"L{l} pre-smoothing + residual + restriction")
                lev.split.post = timed(lev.split.post, lambda a, l=l: f"L{l} prolongation + post-smoothing")
        M._tail = K.compiled_tail(M.levels, M.nus, M._cinv)   # planned now, so it can be timed as a phase
        if M._tail:
            l0, run = M._tail
            M._tail = (l0, timed(run, lambda a, l0=l0: f"compiled tail (levels {l0}+, one call per cycle)"))
        M.matvec_dot = timed(M.matvec_dot, lambda a: "V-cycles")
        # the products are timed on the class, not the instance: methods set on an instance make the solver treat
        # A as the caller's code (first products checked, no fused direction + product pass), another path than
        # the timed solve's (the session-40 profile showed 'CG rest' at 92 matvec-equivalents that way)
        cls = type(A)
        saved_cls = {nm: cls.__dict__[nm] for nm in ("matvec_dot", "matvec_into", "fused_direction")
                     if nm in cls.__dict__}
        prod = (lambda a: "CG products" if a[0] is A else "other products")
        cls.matvec_dot = timed(saved_cls["matvec_dot"], prod)
        cls.matvec_into = timed(saved_cls["matvec_into"], prod)
        if "fused_direction" in saved_cls:
            def fused_direction(self, _orig=saved_cls["fused_direction"]):
                f = _orig(self)
                return None if f is None else timed(f, lambda a: "CG fused direction + product")
            cls.fused_direction = fused_direction
        try:
            t0 = time.perf_counter()
            M2 = multigrid(A)
            rec["setup"] = time.perf_counter() - t0
            M2.matvec_dot = M.matvec_dot
            if M2.fmg_start:                   # its coarse-level kernel calls also count in the level rows
                M2.initial_guess = timed(M2.initial_guess, lambda a: "FMG start (initial guess)")
            t0 = time.perf_counter()
            solvers.cg(A, b, M=M2, rtol=rtol, backend="numba")
            rec["total (setup + solve)"] = time.perf_counter() - t0 + rec["setup"]
        finally:
            for (m, nm), f in zip(saved, orig):
                setattr(m, nm, f)
            for nm, f in saved_cls.items():
                setattr(cls, nm, f)
        runs.append(rec)
    out = {}
    for k in runs[0]:
        v = min(r.get(k, 0.0) for r in runs)
        out[k] = {"s": v, "matvec_equivalents": v / t_mv}
    tot = out["total (setup + solve)"]["s"]
    rest = (tot - out["setup"]["s"] - out["V-cycles"]["s"] - out.get("CG products", {"s": 0.0})["s"]
            - out.get("CG fused direction + product", {"s": 0.0})["s"]
            - out.get("FMG start (initial guess)", {"s": 0.0})["s"])
    out["CG rest (vector updates, dots, Python)"] = {"s": rest, "matvec_equivalents": rest / t_mv}
    return out


def cold_matvec(A, x, y, repeat=5):
    """One stencil matvec with ``x`` and ``y`` evicted from the caches first (a 96 MB buffer written in
    between): the cost of a product inside a solve whose vectors do not fit in the last-level cache."""
    junk = np.empty(12 * 2 ** 20)
    ts = []
    for _ in range(repeat):
        junk.fill(1.0)
        t0 = time.perf_counter()
        A.matvec_dot(x, y)
        ts.append(time.perf_counter() - t0)
    return min(ts)


def mgcg_work(A, b, repeat, rtol=1e-8):
    """MG-CG (set-up included) in matvec-equivalents: the time ratio and the counted work (module notes)."""
    xv, yv = np.asarray(b).copy(), np.empty_like(np.asarray(b))
    box = {}

    def mgcg():
        M = multigrid(A)
        box["M"] = M
        return solvers.cg(A, b, M=M, rtol=rtol, backend="numba")

    mgcg()                                   # JIT warm-up (cached kernels load)
    A.matvec_dot(xv, yv)
    # the first solve of a process after the warm-up: the memoised 1-D transfer tables (multigrid_setup) built
    # again, as in a process's first solve on this grid (the timed solves below reuse them)
    from solvers._kernels.numba import mgsplit as _msp
    from solvers.linear import multigrid_memo as _mm, multigrid_setup as _ms

    _ms._tables_1d.cache_clear()
    _mm.clear()                              # the memoised coarsening steps and coarsest inverse
    _msp._TABLES.clear()
    t0 = time.perf_counter()
    mgcg()
    t_first = time.perf_counter() - t0
    ts, mvs = [], []
    for _ in range(repeat):                  # the matvec timed right before and after every solve
        mvs.append(_min_matvec(A, xv, yv))
        t = time.perf_counter()
        res = mgcg()
        ts.append(time.perf_counter() - t)
        mvs.append(_min_matvec(A, xv, yv))
    M = box["M"]
    t = float(np.median(ts))
    t_cold = cold_matvec(A, xv, yv)
    # the hot matvec on freshly allocated vector pairs: its time depends on the pages the vectors got
    # (transparent huge pages or not: 128^3 measured 0.84-1.44 ms across processes on one quiet machine)
    pairs = []
    for _ in range(4):
        xa, ya = np.asarray(b).copy(), np.empty_like(np.asarray(b))
        A.matvec_dot(xa, ya)
        pairs.append(_min_matvec(A, xa, ya, 5))
        del xa, ya
    # the yardstick: the fastest matvec measured on any pair (the solve's own pair, or a fresh one whose pages
    # happened to be faster: session 28 saw 1.50 ms on the solve's pair against 1.20 ms on a fresh one), so the
    # count is never flattered by a slow yardstick
    t_mv = float(min(min(mvs), min(pairs)))
    cycles = M.stats["vcycles"]
    evals = cycles * M.stats["fine_evals_per_cycle"] + res.stats["matvecs"]
    passes = cycles * M.stats["fine_passes_per_cycle"] + 3 * res.nit + (res.stats["matvecs"] - res.nit)
    return res, M, {
        "time_s": t, "times_s": ts, "time_min_s": float(np.min(ts)), "nit": res.nit, "setup_included": True,
        "matvec_s": t_mv, "matvec_equivalents": t / t_mv, "matvec_equivalents_min": float(np.min(ts)) / t_mv,
        "matvec_equivalents_per_iteration": t / t_mv / max(res.nit, 1),
        "first_solve_s": t_first, "first_solve_matvec_equivalents": t_first / t_mv,
        "first_solve_note": "after the JIT warm-up, with the memoised 1-D transfer tables and coarsest inverses "
                            "cleared (a process's first solve on this grid); every timed solve builds its hierarchy "
                            "(multigrid(A))",
        "matvec_cold_s": t_cold, "matvec_equivalents_vs_cold_matvec": t / t_cold,
        "matvec_fresh_pairs_s": pairs,
        "matvec_equivalents_vs_fresh_pairs": [t / p for p in pairs],
        "matvec_note": "matvec_s: the hot-loop minimum over the solve's vector pair and four fresh pairs (x, Ax "
                       "cache-resident where they fit: the headline's yardstick); matvec_cold_s: caches flushed "
                       "first (secondary figure)",
        "counted": {"vcycles": cycles, "fine_evals_per_cycle": M.stats["fine_evals_per_cycle"],
                    "fine_passes_per_cycle": M.stats["fine_passes_per_cycle"], "cg_matvecs": res.stats["matvecs"],
                    "evals": evals, "passes": passes},
        "levels": [list(lev.shape) for lev in M.levels], "nu_per_level": M.nus, "fmg_start": bool(M.fmg_start)}


def case(shape, repeat, peers=True, rtol=1e-8):
    p = pde.Poisson(shape)
    A = p.operator("numba")
    b = p.rhs("numba")
    out = {"shape": list(shape), "n": int(A.shape[0]), "rtol": rtol}
    res, _, out["newtonkit_mgcg"] = mgcg_work(A, b, repeat, rtol)
    assert res.converged
    w = out["newtonkit_mgcg"]
    w["phases"] = phase_profile(A, b, w["matvec_s"])
    print(f"{shape}: phases (matvec-equivalents, instrumented solve): " + ", ".join(
        f"{k} {v['matvec_equivalents']:.1f}" for k, v in w["phases"].items()), flush=True)
    print(f"{shape}: newtonkit MG-CG {w['time_s']:.3f} s, {res.nit} it = {w['matvec_equivalents']:.0f} "
          f"matvec-equivalents by time (median; min {w['matvec_equivalents_min']:.0f}; first solve "
          f"{w['first_solve_matvec_equivalents']:.0f}; vs a cache-cold matvec "
          f"{w['matvec_equivalents_vs_cold_matvec']:.0f}) (matvec {1e3 * w['matvec_s']:.2f} ms; on fresh vector "
          f"pairs {', '.join(f'{1e3 * p:.2f}' for p in w['matvec_fresh_pairs_s'])} ms), counted "
          f"{w['counted']['evals']:.0f} stencil evaluations / {w['counted']['passes']:.0f} passes", flush=True)
    xref = res.x
    # the other start than the default's choice (fmg_start="auto": the FMG start on 3-D grids of >= 500 000
    # points, zero elsewhere), same matvec yardstick
    other = not w["fmg_start"]
    solvers.cg(A, b, M=multigrid(A, fmg_start=other), rtol=rtol, backend="numba")
    xv, yv = np.asarray(b).copy(), np.empty_like(np.asarray(b))
    tsf = []
    for _ in range(repeat):                  # timed as the default's solves are: a matvec before each
        _min_matvec(A, xv, yv)               # (back to back, the solves found their vectors in the cache)
        t0 = time.perf_counter()
        rf = solvers.cg(A, b, M=multigrid(A, fmg_start=other), rtol=rtol, backend="numba")
        tsf.append(time.perf_counter() - t0)
    tf = float(np.median(tsf))
    out["newtonkit_mgcg_other_start"] = {"fmg_start": other, "time_s": tf, "times_s": tsf, "nit": rf.nit,
                                         "converged": rf.converged, "matvec_equivalents": tf / w["matvec_s"],
                                         "note": "MG-CG from the start the default does not take here"}
    print(f"{shape}: MG-CG with fmg_start={other} {tf:.3f} s, {rf.nit} it = {tf / w['matvec_s']:.0f} "
          "matvec-equivalents", flush=True)
    t, res, ts = _median(lambda: solvers.cg(A, b, rtol=rtol, backend="numba"), max(1, repeat // 2))
    out["newtonkit_cg"] = {"time_s": t, "times_s": ts, "nit": res.nit}
    print(f"{shape}: newtonkit CG {t:.3f} s, {res.nit} it", flush=True)
    if peers:
        C = p.csr()
        bn = np.asarray(b)
        its = [0]

        def sp_cg():
            its[0] = 0
            return spla.cg(C, bn, rtol=rtol, maxiter=20000, callback=lambda xk: its.__setitem__(0, its[0] + 1))

        t, (x, info), _ = _median(sp_cg, 1)
        out["scipy_cg"] = {"time_s": t, "nit": its[0], "info": int(info)}
        print(f"{shape}: scipy cg {t:.3f} s, {its[0]} it", flush=True)
        try:
            import pyamg

            t0 = time.perf_counter()
            ml = pyamg.smoothed_aggregation_solver(C)
            t_setup = time.perf_counter() - t0
            resid = []
            t0 = time.perf_counter()
            x = ml.solve(bn, tol=rtol, accel="cg", residuals=resid)
            t_solve = time.perf_counter() - t0
            out["pyamg_sa_cg"] = {"setup_s": t_setup, "solve_s": t_solve, "time_s": t_setup + t_solve,
                                  "nit": len(resid) - 1, "version": pyamg.__version__}
            print(f"{shape}: pyamg SA-CG setup {t_setup:.3f} s + solve {t_solve:.3f} s, {len(resid) - 1} it",
                  flush=True)
        except ImportError:
            out["pyamg_sa_cg"] = None
        mg = out["newtonkit_mgcg"]["time_s"]
        out["ratios"] = {"scipy_cg_over_mgcg": out["scipy_cg"]["time_s"] / mg,
                         "newtonkit_cg_over_mgcg": out["newtonkit_cg"]["time_s"] / mg}
        if out["pyamg_sa_cg"]:
            out["ratios"]["pyamg_sa_cg_over_mgcg"] = out["pyamg_sa_cg"]["time_s"] / mg
        print(f"{shape}: ratios {out['ratios']}", flush=True)
        out["max_abs_diff_mgcg_vs_scipy"] = float(np.abs(np.asarray(xref) - x).max())
    return out


def iteration_counts(sizes, d, repeat):
    """MG-CG iterations and matvec-equivalents (time ratio and counted) across grid sizes."""
    rows = []
    for n in sizes:
        p = pde.Poisson((n,) * d)
        A, b = p.operator("numba"), p.rhs("numba")
        res, _, w = mgcg_work(A, b, repeat)
        rows.append({"n": n, "nit": res.nit, "converged": res.converged, **w})
        print(f"{d}-D {n}: MG-CG {res.nit} it, {w['time_s']:.3f} s = {w['matvec_equivalents']:.0f} matvec-equivalents "
              f"(counted: {w['counted']['evals']:.0f} evaluations, {w['counted']['passes']:.0f} passes)", flush=True)
    return rows


def machine():
    return machine_info("pyamg")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (end-to-end check)")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--out", default=None, help="JSON path (default results/krylov_poisson[_quick].json)")
    ap.add_argument("--core", action="store_true",
                    help="only newtonkit MG-CG and CG on the 3-D and 2-D problems (no peers, bandwidth or "
                         "iteration sweeps): the quick before/after check of a change")
    ap.add_argument("--sweep3", default=None, metavar="N,N,...",
                    help="only MG-CG on the cubes N^3 (iterations and matvec-equivalents per size): whether the "
                         "ratio follows the working set against the caches (krylov_poisson_sweep3.json)")
    args = ap.parse_args()
    if args.sweep3:
        sizes = [int(a) for a in args.sweep3.split(",")]
        out = args.out or os.path.join(os.path.dirname(__file__), "results", "krylov_poisson_sweep3.json")
        res = {"benchmark": "krylov_poisson", "machine": machine(), "sweep3": sizes, "repeat": args.repeat or 5,
               "mgcg_size_sweep_3d": iteration_counts(sizes, 3, args.repeat or 5)}
        write_json(out, res)
        return
    if args.out is None:
        name = "krylov_poisson_quick.json" if args.quick else "krylov_poisson.json"
        if args.core:
            name = name.replace(".json", "_core.json")
        args.out = os.path.join(os.path.dirname(__file__), "results", name)
    repeat = args.repeat or (3 if args.quick else 5)
    if args.quick:
        shapes3, shapes2, its3, its2 = (32, 32, 32), (128, 128), [32, 64], [128, 256]
    else:
        shapes3, shapes2, its3, its2 = (128, 128, 128), (1024, 1024), [64, 128, 256], [256, 1024, 2048]
    result = {"benchmark": "krylov_poisson", "machine": machine(), "quick": args.quick, "repeat": repeat}
    if args.core:
        result["core"] = True
        result["poisson_3d"] = case(shapes3, repeat, peers=False)
        result["poisson_2d"] = case(shapes2, repeat, peers=False)
        write_json(args.out, result)
        return
    result["bandwidth"] = [bandwidth(shapes3, 10), bandwidth(shapes2, 10)]
    for bw in result["bandwidth"]:
        print(f"matvec {bw['shape']}: {bw['matvec_GBps']:.2f} GB/s vs triad {bw['triad_GBps']:.2f} GB/s "
              f"({100 * bw['fraction_of_triad']:.0f} %), vs Numba triad {bw['numba_triad_GBps']:.2f} GB/s "
              f"({100 * bw['fraction_of_numba_triad']:.0f} %)", flush=True)
    result["poisson_3d"] = case(shapes3, repeat)
    result["poisson_2d"] = case(shapes2, repeat)
    result["mgcg_iterations_3d"] = iteration_counts(its3, 3, max(1, repeat // 2))
    result["mgcg_iterations_2d"] = iteration_counts(its2, 2, max(1, repeat // 2))
    nits = [r["nit"] for r in result["mgcg_iterations_3d"]]
    result["mgcg_iterations_3d_spread"] = max(nits) - min(nits)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
