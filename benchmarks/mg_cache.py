"""Where the 3-D MG-CG solve loses against its matvec yardstick: cache-resident versus cache-cold costs.

The issue-12 yardstick is the hot-loop matvec (``x`` and ``Ax`` resident in the last-level cache where they
fit). A 128^3 MG-CG solve touches about 110 MB per iteration (five float64 CG vectors of 16 MB, the finest
level's float32 split arrays, the coarse levels), more than the last-level cache a process gets here, so
its fine-level passes run at memory speed. This script measures, in one process:

* the read bandwidth of a 2-thread sum over arrays of 1 MB .. 512 MB (where the cache ends);
* the stencil matvec, one V-cycle, and the finest level's pre- and post-smoothing passes (the split-layout
  ``SplitLevel.pre``/``post``) hot (repeated on the same data) and cold (a 256 MB buffer written before
  each call), and the CG vector updates hot and cold;
* one MG-CG solve (set-up included, median) in hot- and cold-matvec equivalents.

Writes ``results/mg_cache.json``. Run with ``OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2``.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

from _machine import machine_info, write_json  # noqa: E402
import solvers  # noqa: E402
from problems import pde  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402


@numba.njit(parallel=True, fastmath=True, cache=True)
def _sum(a):
    s = 0.0
    for i in numba.prange(a.size):
        s += a[i]
    return s


def read_bandwidth(sizes_mb, repeat):
    out = []
    for mb in sizes_mb:
        a = np.ones(mb * 2 ** 20 // 8)
        _sum(a)
        ts = []
        for _ in range(max(repeat, 256 // mb)):
            t0 = time.perf_counter()
            _sum(a)
            ts.append(time.perf_counter() - t0)
        out.append({"MB": mb, "GBps_median": a.nbytes / float(np.median(ts)) / 1e9,
                    "GBps_best": a.nbytes / min(ts) / 1e9})
        del a
    return out


def hot_cold(fn, repeat, junk):
    """Minimum over ``repeat`` calls, hot (back to back) and cold (``junk`` written before each call)."""
    fn()
    hot, cold = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        hot.append(time.perf_counter() - t0)
    for _ in range(repeat):
        junk.fill(1.0)
        t0 = time.perf_counter()
        fn()
        cold.append(time.perf_counter() - t0)
    return {"hot_ms": 1e3 * min(hot), "cold_ms": 1e3 * min(cold)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128, help="grid points per axis (default 128)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "mg_cache.json"))
    args = ap.parse_args()
    shape = (args.n,) * 3
    junk = np.empty(32 * 2 ** 20)                  # 256 MB
    res = {"benchmark": "mg_cache", "machine": machine_info(), "shape": list(shape),
           "read_bandwidth": read_bandwidth([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], args.repeat)}
    p = pde.Poisson(shape)
    A, b = p.operator("numba"), p.rhs("numba")
    N = A.shape[0]
    rng = np.random.default_rng(0)
    f, y, z = rng.standard_normal(N), np.empty(N), np.empty(N)
    M = multigrid(A)
    M.matvec_dot(f, z)
    K = A.backend.kernels("krylov").select(N)
    x, r, pv, q, zz = (rng.standard_normal(N) for _ in range(5))
    parts = {"matvec": hot_cold(lambda: A.matvec_into(f, y), args.repeat, junk),
             "V-cycle": hot_cold(lambda: M.matvec_dot(f, z), args.repeat, junk),
             "cg_update_r": hot_cold(lambda: K.cg_update_r(r, q, 1e-12), args.repeat, junk),
             "cg_update_xp": hot_cold(lambda: K.cg_update_xp(x, pv, zz, 1e-12, 0.5), args.repeat, junk)}
    sp = getattr(M.levels[0], "split", None)
    if sp is not None:                             # the finest level's split-layout passes
        cnt = 2 * M.nus[0] + 1
        coarse = np.zeros(int(np.prod(M.levels[1].shape)))
        e = rng.standard_normal(coarse.size)
        u = np.zeros(N)
        parts["L0 pre (split)"] = hot_cold(lambda: sp.pre(f, u, coarse, 0, cnt), args.repeat, junk)
        parts["L0 post (split)"] = hot_cold(lambda: sp.post(e, u, f, 0, cnt, True), args.repeat, junk)
    res["parts"] = parts
    mv_hot, mv_cold = parts["matvec"]["hot_ms"] / 1e3, parts["matvec"]["cold_ms"] / 1e3
    solvers.cg(A, b, M=multigrid(A), rtol=1e-8, backend="numba")
    ts = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        out = solvers.cg(A, b, M=multigrid(A), rtol=1e-8, backend="numba")
        ts.append(time.perf_counter() - t0)
    t = float(np.median(ts))
    res["mgcg"] = {"time_s": t, "nit": out.nit, "converged": out.converged,
                   "hot_matvec_equivalents": t / mv_hot, "cold_matvec_equivalents": t / mv_cold,
                   "V-cycles_hot_ms": out.nit * parts["V-cycle"]["hot_ms"]}
    for k, v in parts.items():
        print(f"{k:18s} hot {v['hot_ms']:7.3f} ms   cold {v['cold_ms']:7.3f} ms   cold/hot {v['cold_ms'] / v['hot_ms']:.2f}")
    print("read bandwidth (GB/s, median):", ", ".join(f"{d['MB']} MB {d['GBps_median']:.0f}"
                                                      for d in res["read_bandwidth"]))
    print(f"MG-CG {1e3 * t:.1f} ms, {out.nit} it: {t / mv_hot:.0f} hot-matvec equivalents, {t / mv_cold:.0f} "
          "cold-matvec equivalents")
    write_json(args.out, res)


if __name__ == "__main__":
    main()
