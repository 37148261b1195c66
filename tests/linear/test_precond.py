"""Jacobi and Chebyshev preconditioners, and the Lanczos spectral bounds (against eigsh / eigvalsh)."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers.linear import chebyshev, jacobi, lanczos_bounds
from solvers.linear.precond import ChebyshevPreconditioner, JacobiPreconditioner
from solvers.operators import dot_test


def laplacian_2d(m):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(T, sp.identity(m)) + sp.kron(sp.identity(m), T)).tocsr()


def test_jacobi_values_and_errors(cpu_backend, rng):
    A = laplacian_2d(6) + sp.diags(rng.uniform(0, 1, 36))
    J = jacobi(A, backend=cpu_backend)
    assert isinstance(J, JacobiPreconditioner) and J.symmetric and J.positive_definite
    r = rng.standard_normal(36)
    np.testing.assert_allclose(J.matvec(r), r / A.diagonal(), rtol=1e-15)
    out = np.empty(36)
    assert J.matvec_into(r, out) is out
    np.testing.assert_allclose(out, r / A.diagonal(), rtol=1e-15)
    dot_test(J, rng=1)
    D = np.diag([1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="entry 1"):
        jacobi(D)
    with pytest.raises(ValueError, match="positive"):
        jacobi(np.diag([1.0, -2.0]))
    Jn = jacobi(np.diag([1.0, -2.0]), require_positive=False)
    assert not Jn.positive_definite
    np.testing.assert_allclose(Jn.matvec(np.ones(2)), [1.0, -0.5])
    with pytest.raises(ValueError, match="square"):
        jacobi(np.ones((2, 3)))


@pytest.mark.parametrize("m", [10, 24])
def test_lanczos_bounds_vs_eigsh(rng, m):
    A = laplacian_2d(m)
    lmin, lmax = lanczos_bounds(A, k=30, rng=rng)
    tmax = spla.eigsh(A, k=1, which="LA", return_eigenvectors=False)[0]
    tmin = spla.eigsh(A, k=1, sigma=0, which="LM", return_eigenvectors=False)[0]
    # Ritz values lie inside the spectrum; the top one converges fast
    assert tmin - 1e-10 <= lmin and lmax <= tmax + 1e-10
    assert lmax >= 0.97 * tmax


def test_lanczos_bounds_exact_on_small_spectrum(rng):
    n = 40
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.concatenate([[0.5], rng.uniform(1, 5, n - 2), [9.0]])
    A = (Q * ev) @ Q.T
    lmin, lmax = lanczos_bounds(A, k=n, rng=3)     # k = n: the full spectrum is captured
    ref = np.linalg.eigvalsh(A)
    np.testing.assert_allclose([lmin, lmax], [ref[0], ref[-1]], rtol=1e-8)
    A3 = np.diag([2.0, 2.0, 7.0])                   # invariant subspace found early
    np.testing.assert_allclose(lanczos_bounds(A3, k=3, v0=np.ones(3)), [2.0, 7.0], rtol=1e-12)


def test_chebyshev_polynomial_against_dense(cpu_backend, rng):
    """M = p(A) with p(l) = (1 - T_d((th - l)/de) / T_d(th/de)) / l, checked in the eigenbasis."""
    n = 50
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.geomspace(1.0, 50.0, n)
    A = (Q * ev) @ Q.T
    deg = 5
    M = chebyshev(A, degree=deg, bounds=(1.0, 50.0), backend=cpu_backend)
    th, de = 25.5, 24.5
    T = np.polynomial.chebyshev.Chebyshev.basis(deg)
    p = (1.0 - T((th - ev) / de) / T(th / de)) / ev
    Mref = (Q * p) @ Q.T
    r = rng.standard_normal(n)
    np.testing.assert_allclose(M.matvec(r), Mref @ r, rtol=1e-10, atol=1e-12)
    assert isinstance(M, ChebyshevPreconditioner) and M.symmetric and M.positive_definite
    assert np.all(p > 0)
    dot_test(M, rng=2)
    # the residual polynomial is small on the interval: ||I - M A|| <= 1 / T_d(th/de)
    E = np.eye(n) - Mref @ A
    assert np.linalg.norm(E, 2) <= 1.0 / T(th / de) + 1e-10


def test_chebyshev_preconditioned_cg(cpu_backend, rng):
    A = laplacian_2d(24)
    b = rng.standard_normal(A.shape[0])
    plain = solvers.cg(A, b, backend=cpu_backend)
    for deg in (4, 8):
        M = chebyshev(A, degree=deg, backend=cpu_backend)
        res = solvers.cg(A, b, M=M, backend=cpu_backend)
        assert res.converged
        xs = spla.spsolve(A.tocsc(), b)
        np.testing.assert_allclose(res.x, xs, rtol=0, atol=1e-6 * np.abs(xs).max())
        assert res.nit < plain.nit / (0.6 * deg)
        assert np.linalg.norm(b - A @ res.x) <= 1.2e-8 * np.linalg.norm(b)


def test_chebyshev_numpy_numba_agree(rng):
    A = laplacian_2d(12)
    r = rng.standard_normal(144)
    m1 = chebyshev(A, degree=6, backend="numpy").matvec(r)
    m2 = chebyshev(A, degree=6, backend="numba").matvec(r)
    np.testing.assert_allclose(m1, m2, rtol=1e-12)


def test_chebyshev_errors():
    with pytest.raises(ValueError, match="degree"):
        chebyshev(np.eye(3), degree=0)
    with pytest.raises(ValueError, match="lmin < lmax"):
        chebyshev(np.eye(3), bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match="SPD"):
        chebyshev(-np.eye(3) - np.diag([0.0, 1.0, 2.0]))
