"""Fixes from the hostile-input run: EqualityConstrainedProblem refuses a non-finite or complex
Jacobian / Hessian at x0 (its docstring promised it; the problem was accepted before)."""
import numpy as np
import pytest
import scipy.sparse as sp

from problems.nlp import EqualityConstrainedProblem


def _f(x):
    return float(x @ x)


def _g(x):
    return 2 * x


def _c(x):
    return np.array([x.sum() - 1.0])


def _J(x):
    return np.ones((1, x.size))


def _H(x, lam):
    return 2 * np.eye(x.size)


def _build(jac=_J, hess=_H):
    return EqualityConstrainedProblem(_f, _g, _c, jac, hess, np.zeros(3))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_dense_jacobian_refused(bad):
    with pytest.raises(ValueError, match=r"jac\(x0\) is not finite"):
        _build(jac=lambda x: np.array([[1.0, bad, 1.0]]))


def test_nonfinite_sparse_jacobian_refused():
    with pytest.raises(ValueError, match=r"jac\(x0\) is not finite"):
        _build(jac=lambda x: sp.csr_matrix(np.array([[1.0, np.nan, 1.0]])))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_hessian_refused(bad):
    with pytest.raises(ValueError, match=r"hess_lagrangian\(x0, lam0\) is not finite"):
        _build(hess=lambda x, lam: np.full((3, 3), bad))


def test_complex_jacobian_refused():
    with pytest.raises(TypeError, match=r"jac\(x0\) must be a real matrix"):
        _build(jac=lambda x: np.ones((1, 3)) + 1j)


def test_finite_problem_still_accepted_and_kkt_exact():
    p = _build()
    # min |x|^2 s.t. sum x = 1: x* = 1/3, lam* = -2/3 (analytic)
    x = np.full(3, 1 / 3)
    assert p.kkt_residual(x, np.array([-2 / 3])) < 1e-15
