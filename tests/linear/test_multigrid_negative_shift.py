"""A negative shift close to -lambda_min (outside review, session 14): A = L + s is SPD, but rediscretised
coarse operators L_c + s were indefinite (the coarse Laplacian's smallest eigenvalue is below the fine
one's), so the cycle was indefinite while it claimed SPD and CG broke down at iteration 0. "auto" now takes
Galerkin coarse operators there. Reference: SciPy's spsolve on the assembled matrix."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers.linear.multigrid import multigrid
from solvers.operators.stencil import StencilOperator, laplacian_lambda_min


def _assembled(op):
    return sp.csc_matrix(np.column_stack([op.matvec(e) for e in np.eye(op.shape[0])]))


@pytest.mark.parametrize("shape", [(31, 31), (15, 15, 15), (16, 16, 16)])
@pytest.mark.parametrize("frac", [0.5, 0.9, 0.97, 0.99])
def test_mgcg_with_a_shift_near_minus_lambda_min(shape, frac):
    h = (1.0 / (shape[0] + 1),) * len(shape)
    A = StencilOperator(shape, h, shift=-frac * laplacian_lambda_min(shape, h), backend="numba")
    assert A.positive_definite
    M = multigrid(A)
    assert M.positive_definite
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    r = solvers.cg(A, b, M=M, rtol=1e-8)
    assert r.converged and r.nit <= 15, r.message
    ref = spla.spsolve(_assembled(A), b)
    assert np.linalg.norm(r.x - ref) <= 1e-6 * np.linalg.norm(ref)


def test_rediscretised_hierarchy_with_a_large_negative_shift_does_not_claim_spd():
    shape, h = (15, 15, 15), (1 / 16,) * 3
    A = StencilOperator(shape, h, shift=-0.98 * laplacian_lambda_min(shape, h), backend="numba")
    assert multigrid(A).kind == "galerkin"
    assert not multigrid(A, coarsening="geometric").positive_definite     # not guaranteed: not claimed
    small = StencilOperator(shape, h, shift=-0.5 * laplacian_lambda_min(shape, h), backend="numba")
    M = multigrid(small)
    assert M.kind == "geometric" and M.positive_definite       # every coarse level stays SPD there
