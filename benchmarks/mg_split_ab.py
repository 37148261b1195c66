"""MG-CG with and without the split-layout smoothing of large levels (3-D: mgsplit; 2-D: mgsplit2), in one process, interleaved.

Builds the default preconditioner for every solve; the natural one is the same hierarchy with every level's
``split`` set to None (the natural-layout kernels). Prints the medians and their ratio, and the medians in
units of one (cold) fine matvec. Poisson, rtol 1e-8, the numba backend.

    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/mg_split_ab.py 128x128x128 11
    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/mg_split_ab.py 1024x1024 11
"""
import os
import sys
import time

os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import solvers  # noqa: E402
from problems import pde  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402


def main():
    shape = tuple(int(a) for a in (sys.argv[1] if len(sys.argv) > 1 else "128x128x128").split("x"))
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    p = pde.Poisson(shape)
    A, b = p.operator("numba"), p.rhs("numba")

    def solve(split):
        M = multigrid(A)
        if not split:
            for lev in M.levels:
                lev.split = None
        return solvers.cg(A, b, M=M, rtol=1e-8, backend="numba")

    for _ in range(2):                           # JIT warm-up of both paths
        solve(True), solve(False)
    x, y = np.random.default_rng(0).random(A.shape[0]), np.empty(A.shape[0])
    T, mv = {True: [], False: []}, []
    for i in range(repeat):
        for split in ((True, False) if i % 2 == 0 else (False, True)):   # alternate which runs first
            t = time.perf_counter()
            r = solve(split)
            T[split].append(time.perf_counter() - t)
            assert r.converged, r.message
        t = time.perf_counter()
        A.matvec_dot(x, y)
        mv.append(time.perf_counter() - t)
    m, s, n = min(mv), np.median(T[True]), np.median(T[False])
    print(f"{sys.argv[1] if len(sys.argv) > 1 else '128x128x128'}: {r.nit} it; split {s:.4f} s ({s / m:.0f} matvecs), "
          f"natural {n:.4f} s ({n / m:.0f}); split / natural {s / n:.3f}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
