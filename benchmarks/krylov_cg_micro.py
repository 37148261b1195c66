"""Micro-benchmark: time per CG iteration on a 2-D Laplacian CSR matrix.

Compares newtonkit CG on the numba backend (fused update kernels + fused CSR
matvec/dot), newtonkit CG on the numpy reference backend, and
scipy.sparse.linalg.cg, in the same process. Writes
benchmarks/results/krylov_cg_micro.json.

    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/krylov_cg_micro.py [--m 512] [--iters 200] [--repeat 3]
    python benchmarks/krylov_cg_micro.py --quick
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from _machine import machine_info  # noqa: E402
import solvers  # noqa: E402
from solvers.linear import jacobi  # noqa: E402


def laplacian_2d(m):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(T, sp.identity(m)) + sp.kron(sp.identity(m), T)).tocsr()


def median_time(fn, repeat):
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", type=int, default=512)
    ap.add_argument("--iters", type=int, default=200, help="fixed iteration count (rtol=0)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.m, a.iters, a.repeat = 64, 30, 1
    A = laplacian_2d(a.m)
    n = A.shape[0]
    b = np.random.default_rng(0).standard_normal(n)
    k = a.iters
    rows = {}

    def nk(backend, M=None):
        r = solvers.cg(A, b, rtol=0.0, maxiter=k, M=M, backend=backend)
        assert r.nit == k, r
        return r

    J = jacobi(A, backend="numba")
    nk("numba"), nk("numba", J)        # compile / load caches
    for name, fn in [("newtonkit_numba", lambda: nk("numba")),
                     ("newtonkit_numba_jacobi", lambda: nk("numba", J)),
                     ("newtonkit_numpy", lambda: nk("numpy")),
                     ("scipy_cg", lambda: spla.cg(A, b, rtol=1e-300, atol=0.0, maxiter=k))]:
        t, _ = median_time(fn, a.repeat)
        rows[name] = {"time_s": t, "iterations": k, "ms_per_iteration": 1e3 * t / k}
    base = rows["scipy_cg"]["ms_per_iteration"]
    for r in rows.values():
        r["speedup_vs_scipy"] = base / r["ms_per_iteration"]
    # to-tolerance run (rtol 1e-8) for context
    t, res = median_time(lambda: solvers.cg(A, b, rtol=1e-8, backend="numba"), a.repeat)
    its = []
    t2, _ = median_time(lambda: (its.clear(), spla.cg(A, b, rtol=1e-8, callback=lambda x: its.append(1))), a.repeat)
    tol_run = {"newtonkit_numba": {"time_s": t, "iterations": res.nit}, "scipy_cg": {"time_s": t2, "iterations": len(its)}}
    out = {
        "benchmark": "krylov_cg_micro", "matrix": f"2-D Laplacian CSR {a.m}^2 (n={n}, nnz={A.nnz})",
        "fixed_iterations": rows, "to_rtol_1e-8": tol_run,
        "machine": machine_info(),
    }
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", "krylov_cg_micro.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    for name, r in rows.items():
        print(f"{name:24s} {r['ms_per_iteration']:8.3f} ms/it   x{r['speedup_vs_scipy']:.2f} vs scipy")
    print(f"to rtol 1e-8: newtonkit numba {t:.3f} s / {res.nit} it; "
          f"scipy {t2:.3f} s / {len(its)} it")
    print("wrote", path)


if __name__ == "__main__":
    main()
