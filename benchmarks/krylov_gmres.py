"""GMRES(30) on a 2-D convection-diffusion matrix: newtonkit (numba) against SciPy, same system, same target.

The matrix is the 5-point Laplacian on an ``n x n`` grid plus a centred first-order convection term along the
last axis (``A = kron(I, T) + kron(S, I) + kron(I, Cx)``, ``T = tridiag(-1, 4, -1)``, ``S`` the off-diagonal
``-1`` coupling, ``Cx = 0.4 tridiag(-1, 0, 1)``: non-symmetric), CSR, ``b = 1``. Both solvers restart every 30
iterations and stop at ``||b - A x|| <= rtol ||b||`` (rtol 1e-8); each result's true relative residual is
measured here. Times are medians of ``--repeat`` runs, the two solvers interleaved; newtonkit runs on
``NEWTONKIT_NUM_THREADS`` threads (2 by default), SciPy with one BLAS thread (its sparse product is serial).

Session 32 found GMRES's Gram-Schmidt row kernels (``solvers._kernels.numba._krylov_rows``) looping over a chunk
from a run-time signed start, which kept Numba's negative-index wrap-around test in the loop and stopped LLVM
vectorising it; this benchmark records GMRES end to end after that fix.

    python benchmarks/krylov_gmres.py              # n = 512 (262 144 unknowns), writes results/krylov_gmres.json
    python benchmarks/krylov_gmres.py --quick      # n = 128, a quick check (results/krylov_gmres_quick.json)
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from _machine import machine_info, write_json  # noqa: E402
import solvers  # noqa: E402

RTOL = 1e-8
RESTART = 30


def convection_diffusion(n: int, c: float = 0.4):
    """The benchmark's non-symmetric CSR matrix (module notes) and ``b = 1``."""
    e = np.ones(n)
    eye = sp.identity(n)
    T = sp.diags([-e[:-1], 4 * e, -e[:-1]], [-1, 0, 1])
    S = sp.diags([-e[:-1], -e[:-1]], [-1, 1])
    Cx = sp.diags([-c * e[:-1], c * e[:-1]], [-1, 1])
    A = (sp.kron(eye, T) + sp.kron(S, eye) + sp.kron(eye, Cx)).tocsr()
    return A, np.ones(A.shape[0])


def run_newtonkit(A, b):
    t0 = time.perf_counter()
    r = solvers.gmres(A, b, rtol=RTOL, restart=RESTART, maxiter=20000, backend="numba")
    t = time.perf_counter() - t0
    return t, r.nit, bool(r.converged), float(np.linalg.norm(b - A @ np.asarray(r.x)) / np.linalg.norm(b))


def run_scipy(A, b):
    it = [0]

    def count(_):
        it[0] += 1

    t0 = time.perf_counter()
    x, info = spla.gmres(A, b, rtol=RTOL, restart=RESTART, maxiter=2000, callback=count, callback_type="pr_norm")
    t = time.perf_counter() - t0
    return t, it[0], info == 0, float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="grid points per axis (n^2 unknowns; default 512)")
    ap.add_argument("--quick", action="store_true", help="n = 128 (krylov_gmres_quick.json)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None, help="JSON path (default results/krylov_gmres.json)")
    args = ap.parse_args()
    args.n = args.n or (128 if args.quick else 512)
    A, b = convection_diffusion(args.n)
    run_newtonkit(A, b)                                  # JIT warm-up (cached kernels load)
    rows = {"newtonkit gmres (numba)": [], "scipy gmres": []}
    for _ in range(args.repeat):
        rows["newtonkit gmres (numba)"].append(run_newtonkit(A, b))
        rows["scipy gmres"].append(run_scipy(A, b))
    out = {"benchmark": "krylov_gmres", "machine": machine_info(), "n": args.n, "unknowns": int(A.shape[0]),
           "nnz": int(A.nnz), "rtol": RTOL, "restart": RESTART, "repeat": args.repeat, "loadavg_end": None,
           "solvers": {}}
    for name, rs in rows.items():
        ts = [r[0] for r in rs]
        out["solvers"][name] = {"time_s": statistics.median(ts), "times_s": ts, "iterations": rs[-1][1],
                                "converged": all(r[2] for r in rs), "true_rel_residual": max(r[3] for r in rs)}
        print(f"{name}: {statistics.median(ts):.2f} s (runs {', '.join(f'{t:.2f}' for t in ts)}), "
              f"{rs[-1][1]} iterations, true relative residual {max(r[3] for r in rs):.2e}", flush=True)
    s = out["solvers"]
    out["scipy_over_newtonkit"] = s["scipy gmres"]["time_s"] / s["newtonkit gmres (numba)"]["time_s"]
    out["loadavg_end"] = list(os.getloadavg())
    print(f"SciPy / newtonkit time: {out['scipy_over_newtonkit']:.2f} (load average {out['loadavg_end']})")
    name = "krylov_gmres_quick.json" if args.quick else "krylov_gmres.json"
    write_json(args.out or os.path.join(os.path.dirname(__file__), "results", name), out)


if __name__ == "__main__":
    main()
