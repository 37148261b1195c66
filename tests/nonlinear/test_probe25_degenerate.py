"""Probe 25 (degenerate problems): a jac that is not the gradient of fun must not end 'converged' silently."""
import numpy as np
import pytest

import solvers

METHODS = ("newton", "newton-cg", "grad-reg")


def _quad(x):
    return float(np.sum((x - 3.0) ** 2))


@pytest.mark.parametrize("method", METHODS)
def test_wrong_gradient_zero_elsewhere_is_not_converged(method):
    # jac = 2 (x - 1) vanishes at x = 1, where fun = |x - 3|^2 has gradient -4: was converged=True at x = 1
    r = solvers.newton(_quad, np.zeros(2), jac=lambda x: 2.0 * (x - 1.0), hess=lambda x: 2.0 * np.eye(2),
                       method=method)
    assert not r.converged
    assert r.status == "failed"
    assert "jac" in r.message and "check_grad" in r.message


@pytest.mark.parametrize("method", METHODS)
def test_correct_gradient_still_converges(method):
    r = solvers.newton(_quad, np.zeros(2), jac=lambda x: 2.0 * (x - 3.0), hess=lambda x: 2.0 * np.eye(2),
                       method=method)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, 3.0, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_flat_and_nonsmooth_minima_still_converge(method):
    # x^4 (singular Hessian at the minimiser) and |x|^1.5: the last step's trapezoid error is moderate
    r = solvers.newton(lambda x: float(np.sum(x ** 4)), np.array([1.0, 2.0]), jac=lambda x: 4 * x ** 3,
                       hess=lambda x: np.diag(12 * x ** 2), method=method)
    assert r.converged, r.message


@pytest.mark.parametrize("method", ("newton", "newton-cg"))
def test_uphill_creep_maxiter_message_names_jac(method):
    # jac = -grad f: every step is uphill for fun; the noise hook accepted 1e-14 creeps and the message
    # only said 'raise maxiter'
    r = solvers.newton(_quad, np.zeros(2), jac=lambda x: -2.0 * (x - 3.0), hess=lambda x: 2.0 * np.eye(2),
                       method=method, maxiter=50)
    assert not r.converged
    assert "check_grad" in r.message
