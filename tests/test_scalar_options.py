"""Scalar options given as 0-d NumPy arrays (``np.asarray(1e-8)``, a reduction's 0-d result, a scalar read
back from HDF5) are the numbers they hold, as in NumPy and SciPy and as the problem classes already took them
(``rtol``, ``tol``, ``eps``, ``maxiter`` refused them; helper-101). A 0-d boolean or complex array is still
refused by name. References: SciPy's ``cg``, ``spsolve``; the plain-float call's answer is checked against
SciPy's here too."""
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla

import solvers


def _spd(n=30, seed=0):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    return B @ B.T + n * np.eye(n), rng.standard_normal(n)


def test_krylov_options_as_0d_arrays():
    A, b = _spd()
    ref = spla.spsolve(sps.csr_matrix(A), b)
    res = solvers.cg(A, b, rtol=np.asarray(1e-10), atol=np.asarray(0.0), maxiter=np.asarray(200))
    assert res.converged and np.allclose(res.x, ref, rtol=1e-8, atol=1e-10)
    assert type(res.options["rtol"]) is float and res.options["rtol"] == 1e-10
    assert type(res.options["maxiter"]) is int
    for bad, exc in ((np.asarray(True), TypeError), (np.asarray(1e-8 + 0j), TypeError), (np.asarray(-1.0), ValueError)):
        with pytest.raises(exc, match="rtol"):
            solvers.cg(A, b, rtol=bad)


def test_ot_options_as_0d_arrays():
    rng = np.random.default_rng(1)
    X, Y = rng.random((20, 2)), rng.random((20, 2))
    C = ((X[:, None] - Y[None]) ** 2).sum(-1)
    plain = solvers.sinkhorn(C, eps=0.1, tol=1e-10)
    arr = solvers.sinkhorn(C, eps=np.asarray(0.1), tol=np.asarray(1e-10), maxiter=np.asarray(5000))
    assert arr.converged and np.allclose(arr.f, plain.f, rtol=0, atol=1e-12)
    assert solvers.sns(C, eps=np.asarray(0.05), tol=np.asarray(1e-9)).converged
    with pytest.raises(TypeError, match="eps"):
        solvers.sinkhorn(C, eps=np.asarray(True))


def test_newton_and_approx_options_as_0d_arrays():
    # Rosenbrock's function: minimiser (1, 1) (analytic)
    fun = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # noqa: E731
    jac = lambda x: np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])  # noqa: E731
    hess = lambda x: np.array([[2 - 400 * (x[1] - 3 * x[0] ** 2), -400 * x[0]], [-400 * x[0], 200.0]])  # noqa: E731
    res = solvers.newton(fun, np.array([-1.2, 1.0]), jac=jac, hess=hess, tol=np.asarray(1e-10),
                         maxiter=np.asarray(200), gamma0=np.asarray(1.0))
    assert res.converged and np.allclose(res.x, [1.0, 1.0], atol=1e-8)
    root = solvers.newton_krylov(lambda x: x ** 3 - 8.0, np.array([3.0, 1.0]), tol=np.asarray(1e-12),
                                 maxiter=np.asarray(50))
    assert root.converged and np.allclose(root.x, 2.0, atol=1e-10)
    ct = solvers.chebtucker(lambda x: np.exp(x[:, 0] + x[:, 1]), [(0, 1), (0, 1)], tol=np.asarray(1e-10),
                            degree=np.asarray(20))
    x = np.random.default_rng(2).random((100, 2))
    np.testing.assert_allclose(ct(x), np.exp(x.sum(1)), rtol=1e-9)
