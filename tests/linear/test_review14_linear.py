"""Outside review (session 14) of the Krylov solvers and PDE problems. References: SciPy (assembled
matrices), the starting point's residual, named errors at entry."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from problems import pde


def _neumann(n):
    L = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tolil()
    L[0, 0] = L[-1, -1] = 1
    return (sp.kron(L, sp.eye(n)) + sp.kron(sp.eye(n), L)).tocsr()


@pytest.mark.parametrize("method, backend", [("cg", "numba"), ("cg", "numpy"), ("cdm", "numba"), ("cdm", "numpy")])
def test_inconsistent_singular_system_returns_no_worse_than_the_start(method, backend):
    """2-D pure-Neumann Laplacian, b not summing to zero: CG broke down at a residual 1.9e9 ||b|| and returned
    that iterate; CDM returned one 770-1130x ||b|| saying it was the attainable accuracy."""
    A = _neumann(40)
    b = np.random.default_rng(1).standard_normal(1600)
    b -= b.mean()
    b += 1.0
    r = getattr(solvers, method)(A, b, rtol=1e-10, backend=backend)
    true = np.linalg.norm(b - A @ r.x)
    assert not r.converged
    assert true <= np.linalg.norm(b) * (1 + 1e-12)
    assert r.history["residual"][-1] == pytest.approx(true, rel=1e-6)
    assert "range" in r.message


def test_callable_k_whose_diagonal_overflows_is_refused():
    p = pde.Poisson((15, 15), f=1.0, k=lambda x, y: np.full_like(x, 5e305))   # each face k/h^2 = 1.3e308
    with pytest.raises(ValueError, match="diagonal"):
        solvers.solve(p, method="cg", precond="mg", backend="numba")


@pytest.mark.parametrize("shape", [(15, 17), (1, 15), (15, 1), (7, 9, 5)])
def test_solution_in_grid_shape_is_a_warm_start(shape):
    p = pde.Poisson.manufactured(shape)
    r = solvers.solve(p, method="cg", precond="mg", rtol=1e-4)
    r2 = solvers.solve(p, method="cg", precond="mg", rtol=1e-10, x0=r.x)
    assert r2.converged and r2.nit <= r.nit + 6
    A = p.csr()
    b = np.asarray(p.rhs("numpy")).reshape(-1)
    assert np.linalg.norm(b - A @ np.asarray(r2.x).reshape(-1)) <= 1e-10 * np.linalg.norm(b) * (1 + 1e-6)
    with pytest.raises(ValueError, match="x0 has shape"):
        solvers.solve(p, method="cg", rtol=1e-10, x0=np.zeros(int(np.prod(shape)) + 1))


def test_huge_rhs_leaks_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = solvers.solve(pde.Poisson((15, 15), f=1e308), method="cg", precond="mg")
    assert r.converged and np.isfinite(r.x).all()
