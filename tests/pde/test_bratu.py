"""Bratu: residual and Jacobian against finite differences and a dense Newton solve."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from problems import pde
from problems.pde import Bratu
from solvers.operators import dot_test


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 5)])
def test_jacobian_matches_finite_differences(shape, cpu_backend, rng):
    p = pde.Bratu(shape, lam=2.0)
    u = 0.3 * rng.standard_normal(p.n)
    J = p.jacobian(u, cpu_backend)
    dot_test(J, rng=rng, rtol=1e-12)
    Jd = np.column_stack([J.matvec(e) for e in np.eye(p.n)])
    eps = 1e-6
    Jfd = np.column_stack([(p.residual(u + eps * e, cpu_backend) - p.residual(u - eps * e, cpu_backend)) / (2 * eps)
                           for e in np.eye(p.n)])
    np.testing.assert_allclose(Jd, Jfd, rtol=1e-6, atol=1e-6 * np.abs(Jd).max())
    # residual = A u - lam e^u with A the assembled Laplacian
    A = p.laplacian("numpy").to_csr()
    np.testing.assert_allclose(p.residual(u, cpu_backend), A @ u - 2.0 * np.exp(u), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(p.residual(u.reshape(shape), cpu_backend), (A @ u - 2.0 * np.exp(u)).reshape(shape),
                               rtol=1e-12, atol=1e-10)


def _newton(p, backend, solve):
    u = p.initial_guess(backend)
    for _ in range(30):
        F = p.residual(u, backend)
        if np.linalg.norm(F) < 1e-10 * p.n:
            break
        u = u - solve(p.jacobian(u, backend), F)
    return u


def test_newton_dense_vs_matrix_free_mg():
    p = pde.Bratu((15, 15), lam=5.0)
    u_dense = _newton(p, "numpy", lambda J, F: np.linalg.solve(J.to_csr().toarray(), F))
    assert np.linalg.norm(p.residual(u_dense, "numpy")) < 1e-8
    # lower branch: positive, and symmetric under the box's reflections
    ug = u_dense.reshape(p.shape)
    assert ug.min() > 0
    np.testing.assert_allclose(ug, ug.T, atol=1e-12)
    np.testing.assert_allclose(ug, ug[::-1], atol=1e-12)

    def mgcg(J, F):
        import solvers
        from solvers.linear.multigrid import multigrid

        assert J.positive_definite
        res = solvers.cg(J, F, M=multigrid(J), rtol=1e-12, backend="numba")
        assert res.converged and res.nit <= 15
        return res.x

    u_mg = _newton(p, "numba", mgcg)
    np.testing.assert_allclose(u_mg, u_dense, rtol=1e-8, atol=1e-10)
    # independent reference: scipy sparse Newton on the assembled system
    A = sp.csr_matrix(p.laplacian("numpy").to_csr())
    u = np.zeros(p.n)
    for _ in range(30):
        F = A @ u - 5.0 * np.exp(u)
        u = u - spla.spsolve((A - sp.diags(5.0 * np.exp(u))).tocsc(), F)
    np.testing.assert_allclose(u_dense, u, rtol=1e-10, atol=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="lam"):
        pde.Bratu((5, 5), lam=-1.0)
    with pytest.raises(ValueError, match="shape"):
        pde.Bratu((5,))
    with pytest.raises(ValueError, match="u must have shape"):
        pde.Bratu((5, 5)).residual(np.zeros(7), "numpy")


# ---- lam above lambda_min(A) / e: provably no solution, refused up front (session 24; `--lam 1e308` was an
# overflow error that did not name lam)
@pytest.mark.parametrize("shape,domain", [((15, 15), None), ((9, 11, 7), None), ((20, 12), [(0, 2), (-1, 0.5)])])
def test_lambda_bound_is_lambda_min_over_e(shape, domain):
    import scipy.sparse.linalg as spla

    from problems.pde.bratu import lambda_bound

    p = Bratu(shape, lam=1.0, domain=domain)
    lam1 = spla.eigsh(p.laplacian("numpy").to_csr().tocsc(), k=1, sigma=0.0, which="LM")[0][0]   # reference
    assert lambda_bound(p.h, p.shape) == pytest.approx(lam1 / np.e, rel=1e-10)


@pytest.mark.parametrize("lam", [7.3, 50.0, 1e308])
def test_lam_above_the_bound_is_a_clear_error(lam):
    with pytest.raises(ValueError, match="lam"):
        Bratu((15, 15), lam=lam)
    p = Bratu((15, 15), lam=1.0)
    with pytest.raises(ValueError, match="lam"):
        p.lam = lam
    assert p.lam == 1.0


def test_a_larger_domain_lowers_the_bound():
    p = Bratu((15, 15), lam=5.0)
    with pytest.raises(ValueError, match="domain"):
        p.domain = [(0, 2), (0, 2)]                  # lambda_min / 4: bound 1.8 < 5
    assert p.domain == ((0.0, 1.0), (0.0, 1.0)) or np.allclose(p.domain, [(0, 1), (0, 1)])
    p.lam = 1.0
    p.domain = [(0, 2), (0, 2)]
    assert p.h[0] == pytest.approx(2 / 16)


def test_between_fold_and_bound_fails_honestly():
    """7.0 lies above the discrete fold of 15 x 15 (about 6.8) and below the bound (7.24): accepted, and the
    solve finds no solution and says so."""
    p = Bratu((15, 15), lam=7.0)
    res = solvers.solve(p, tol=1e-8, maxiter=30)
    assert not res.converged and res.message
