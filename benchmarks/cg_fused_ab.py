"""MG-CG with and without CG's fused direction pass (``StencilOperator.fused_direction``), interleaved in one process.

The unfused path is the same solve with ``StencilOperator.fused_direction`` returning None (the update and the
product as two passes). Poisson, rtol 1e-8, the default multigrid preconditioner (set-up included), numba.
Prints the medians, minima and their ratio.

    OPENBLAS_NUM_THREADS=1 NEWTONKIT_NUM_THREADS=2 python benchmarks/cg_fused_ab.py 128x128x128 15
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
from solvers.operators import StencilOperator  # noqa: E402


def main():
    shape = tuple(int(a) for a in (sys.argv[1] if len(sys.argv) > 1 else "128x128x128").split("x"))
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    p = pde.Poisson(shape)
    A, b = p.operator("numba"), p.rhs("numba")
    fused = StencilOperator.fused_direction

    def run(on):
        StencilOperator.fused_direction = fused if on else (lambda self: None)
        try:
            return solvers.cg(A, b, M=multigrid(A), rtol=1e-8, backend="numba")
        finally:
            StencilOperator.fused_direction = fused

    for on in (True, False):                     # JIT warm-up of both paths
        run(on)
    T = {True: [], False: []}
    for i in range(reps):
        for on in ((True, False) if i % 2 == 0 else (False, True)):
            t0 = time.perf_counter()
            res = run(on)
            T[on].append(time.perf_counter() - t0)
            assert res.converged
    m = {on: float(np.median(T[on])) for on in T}
    print(f"{shape}: fused {1e3 * m[True]:.1f} ms, separate {1e3 * m[False]:.1f} ms, ratio {m[True] / m[False]:.3f}; "
          f"minima {1e3 * min(T[True]):.1f} / {1e3 * min(T[False]):.1f} ms; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
