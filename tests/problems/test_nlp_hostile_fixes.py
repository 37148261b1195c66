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


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e-310, 1e150])
def test_logistic_features_standardised_at_any_scale(scale):
    # features scaled by 1e300 / 1e-300 used to come out as zeros (overflow / underflow of Z.std)
    from problems.nlp import logistic_loss

    rng = np.random.default_rng(0)
    Z, y = rng.random((30, 4)), np.where(rng.random(30) > 0.5, 1.0, -1.0)
    x = np.array([0.3, -0.2, 0.1, 0.5])
    ref = logistic_loss(dataset=(Z, y))
    got = logistic_loss(dataset=(Z * scale, y))
    assert got.fun(x) == pytest.approx(ref.fun(x), rel=1e-12)
    np.testing.assert_allclose(got.jac(x), ref.jac(x), rtol=1e-10, atol=1e-14)
    # reference: the textbook standardisation of the unscaled data
    Zs = (Z - Z.mean(0)) / Z.std(0)
    np.testing.assert_allclose(got.Z, Zs, rtol=1e-12, atol=1e-12)


def test_logistic_constant_column_is_zero():
    from problems.nlp import logistic_loss

    rng = np.random.default_rng(1)
    Z, y = rng.random((20, 3)), np.where(rng.random(20) > 0.5, 1.0, -1.0)
    Z[:, 1] = 3.0 + 1e-17 * rng.random(20)          # constant to rounding
    L = logistic_loss(dataset=(Z, y))
    assert np.all(L.Z[:, 1] == 0.0) and np.all(np.isfinite(L.Z))
