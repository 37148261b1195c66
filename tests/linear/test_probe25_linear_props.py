"""Probe 25: preconditioned MINRES from a far x0 (||b - A x0|| = 5e7 ||b||) on the numba backend.

The recurrence's rounding level is eps ||r0||, above the stagnation floor FLOOR_LEVEL ||b|| and above the
tolerance: MINRES ran all 5600 iterations to "maxiter" (numpy backend: converged in 11 with one restart;
cg and gmres: 10). The floor now scales with the cycle's starting residual and restarts from the true one.
"""
import numpy as np
import scipy.sparse.linalg as spla

import solvers
from problems import pde
from solvers.linear import multigrid


class _Jump:
    def __call__(self, x, y):
        return np.where(x + y / 0.01 > 0.7, 1e6, 1.0)


def test_minres_mg_far_x0_converges_not_maxiter():
    p = pde.Poisson(shape=(28, 20), f=lambda x, y: np.sin(5 * x) + 1, g=0.0, k=_Jump(), domain=[(0, 1), (0, 0.01)])
    A, b = p.operator("numba"), p.rhs("numba")
    bn = np.asarray(b)
    xs = spla.spsolve(p.csr().tocsc(), bn)
    x0 = np.random.default_rng(0).standard_normal(bn.size) * np.abs(xs).max()
    atol = 1e-8 * np.linalg.norm(bn)
    res = solvers.minres(A, b, x0=x0, rtol=1e-10, atol=atol, M=multigrid.multigrid(A), backend="numba")
    assert res.converged, res.message
    assert res.nit < 500
    assert np.linalg.norm(bn - p.csr() @ np.asarray(res.x)) <= atol
    assert len(res.history["residual"]) == res.nit + 1
