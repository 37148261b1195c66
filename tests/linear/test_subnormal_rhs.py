"""Right-hand sides in or near the subnormal range (outside review, session 14): the solve runs scaled by a
power of two, and the solution scaled back may round (subnormals keep fewer digits). The claim is then
measured on the returned x: converged only when that x meets the tolerance. Reference: the residual of
the returned x computed exactly in scaled units (``b * 2^k``, ``x * 2^k`` are exact) and SciPy's spsolve."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from problems import pde
from solvers.linear.multigrid import multigrid


def _laplacian(n):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tocsr()


def _assembled(op):
    n = op.shape[0]
    return sp.csr_matrix(np.column_stack([op.matvec(e) for e in np.eye(n)]))


def _true_rel(A, b, x, k):
    bs, xs = np.ldexp(b, k), np.ldexp(x, k)
    return np.linalg.norm(bs - A @ xs) / np.linalg.norm(bs)


@pytest.mark.parametrize("method", ["cg", "minres", "gmres", "cdm"])
@pytest.mark.parametrize("scale", [1e-318, 1e-300])
def test_claim_is_measured_on_the_returned_x(method, scale):
    T = _laplacian(50)
    b = scale * np.random.default_rng(0).standard_normal(50)
    r = getattr(solvers, method)(T, b, rtol=1e-8)
    rel = _true_rel(T, b, r.x, 1060)
    assert r.converged == (rel <= 1e-8 * (1 + 1e-9)), (r.status, rel, r.message)
    if not r.converged:
        assert r.status == "stagnated" and "subnormal" in r.message
    # the digits that survive agree with a direct solve of the scaled system
    ref = np.ldexp(spla.spsolve(T.tocsc(), np.ldexp(b, 1060)), -1060)
    assert np.abs(r.x - ref).max() <= 1e-5 * np.abs(ref).max()


def test_multigrid_stationary_solve_of_a_subnormal_rhs():
    """Was: x = 0 returned as converged after 0 cycles (2^1025 overflowed the scaling factor)."""
    p = pde.Poisson((15, 15), f=1e-310)
    A, b = p.operator("numpy"), p.rhs("numpy")
    r = multigrid(A).solve(b, rtol=1e-8)
    rel = _true_rel(_assembled(A), np.asarray(b).reshape(-1), np.asarray(r.x).reshape(-1), 1000)
    assert r.nit > 0 and np.abs(r.x).max() > 0
    assert r.converged == (rel <= 1e-8 * (1 + 1e-9)), (r.status, rel)


def test_mgcg_on_a_subnormal_poisson_rhs_does_not_claim_too_much():
    p = pde.Poisson((31, 31), f=1e-315)
    r = solvers.solve(p, method="cg", precond="mg")
    A = _assembled(p.operator("numpy"))
    b = np.asarray(p.rhs("numpy")).reshape(-1)
    rel = _true_rel(A, b, np.asarray(r.x).reshape(-1), 1060)
    assert r.converged == (rel <= 1e-8 * (1 + 1e-9)), (r.status, rel, r.message)
