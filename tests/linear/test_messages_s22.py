"""Failure messages of the Krylov solvers that named the wrong cause (outside probe helper-86, session 22),
each on a system whose structure is known analytically or checked with NumPy: the message must name the
true cause, and the returned x must be finite."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers


def _poisson(n):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cg_divergence_on_a_nonsymmetric_matrix_names_the_asymmetry(backend):
    A = np.random.default_rng(1234).random((10, 10))         # not symmetric, det -6.3e-3 (non-singular)
    assert not np.allclose(A, A.T) and abs(np.linalg.det(A)) > 1e-3
    r = solvers.cg(A, np.random.default_rng(0).random(10), backend=backend)
    assert not r.converged
    assert "not symmetric" in r.message and "gmres" in r.message
    assert "singular or indefinite" not in r.message


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cg_with_a_singular_preconditioner_blames_m(backend):
    """SPD A (1-D Poisson, smallest eigenvalue 0.081) and M = I with M[0, 0] = 0 (singular PSD)."""
    P = _poisson(10)
    assert np.linalg.eigvalsh(P.toarray()).min() > 0.05
    M = np.eye(10)
    M[0, 0] = 0.0
    r = solvers.cg(P, np.ones(10), M=M, backend=backend)
    assert not r.converged
    assert "preconditioner M" in r.message and "operator is not symmetric positive definite" not in r.message


def test_minres_with_a_singular_preconditioner_blames_m():
    P = _poisson(5)
    M = np.eye(5)
    M[0, 0] = 0.0
    r = solvers.minres(P, np.ones(5), M=M)
    assert not r.converged
    assert "M is singular or not positive definite" in r.message and "A may not be symmetric" not in r.message


def test_minres_on_an_inconsistent_symmetric_system_names_the_range():
    """SciPy's 'defective matrix' case: A symmetric and singular, b = (1, 0, 1) outside range(A) (its third
    component meets a zero row); the least-squares solution is (0, 1, 0) (numpy.linalg.lstsq)."""
    A = np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 0]])
    b = np.array([1.0, 0, 1])
    r = solvers.minres(A, b)
    assert not r.converged
    assert "outside range(A)" in r.message and "Try a preconditioner" not in r.message
    np.testing.assert_allclose(r.x, np.linalg.lstsq(A, b, rcond=None)[0], atol=1e-10)


def test_minres_message_is_in_the_users_units():
    rng = np.random.default_rng(1234)
    Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
    ev = np.linspace(1, 2, 20)
    ev[0] = 1e-10
    A = Q @ np.diag(ev) @ Q.T
    b = np.full(20, 1e-300)
    r = solvers.minres(A, b)
    if "explicit residual" in r.message:
        shown = float(r.message.split("explicit residual ")[1].split()[0])
        assert shown < 1e-290                         # the user's scale, not the internal 2^k-scaled one


def test_gmres_at_rtol_zero_reports_the_attainable_accuracy():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((50, 50)))
    A = Q @ np.diag(np.linspace(1, 2, 50)) @ Q.T               # cond 2
    b = rng.standard_normal(50)
    r = solvers.gmres(A, b, rtol=0.0)
    assert not r.converged
    assert "attainable accuracy" in r.message
    assert np.linalg.norm(b - A @ r.x) <= 1e-14 * np.linalg.norm(b)


@pytest.mark.parametrize("solver", ["cg", "minres", "gmres"])
def test_an_overflowing_solution_returns_a_finite_start(solver):
    """A = 1e-300 * Poisson, b = 1e300: the solution (~1e600) overflows; the exit is nonfinite and x the
    (zero) start, with no overflow warning."""
    import warnings

    P = _poisson(30) * 1e-300
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = getattr(solvers, solver)(P, np.full(30, 1e300))
    assert not r.converged and r.status == "nonfinite"
    assert np.isfinite(r.x).all()
