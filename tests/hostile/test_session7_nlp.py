"""Session 7 hostile tests: Newton, sketched Newton and the NLP / PDE-control problems.

Every test compares with an independent reference (analytic optimum, SciPy, a dense direct
solve, published Hock-Schittkowski optima) measured on the returned iterate, or asserts a
specific error type and message fragment.
"""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import solvers


# ---------------------------------------------------------------------------------------------- newton
def _quartic():
    return (lambda x: float(np.sum(x ** 4)), lambda x: 4 * x ** 3, lambda x: np.diag(12 * x ** 2))


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_tol_near_underflow_returns_a_result_instead_of_raising(method):
    # the gradient 4 x^3 underflows long before ||g|| <= 1e-300: g @ d became 0 and the line search raised
    # "dphi0 must be negative" (newton, newton-cg) or ||g|| / gamma divided by zero (grad-reg)
    f, g, H = _quartic()
    r = solvers.newton(f, np.ones(3), jac=g, hess=H, method=method, maxiter=10 ** 6, tol=1e-300)
    gx = np.max(np.abs(g(np.asarray(r.x))))
    assert r.converged == (gx <= 1e-300)
    if not r.converged:
        assert r.status == "stagnated" and "tol may be below the attainable accuracy" in r.message
    assert np.max(np.abs(r.x)) < 1e-60          # it did minimise (the minimiser is 0)


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_newton_extreme_objective_scales_against_the_analytic_minimiser(method, scale):
    # grad-reg computed ||g||_2 with overflowing squares (inf) at scale 1e300: lam = inf, inf * 0 = NaN and the
    # solve reported "no acceptable step" for a convex quadratic
    n = 3
    f = lambda x: scale * float(np.sum((x - 1) ** 2))
    g = lambda x: scale * 2 * (x - 1)
    H = lambda x: scale * 2 * np.eye(n)
    r = solvers.newton(f, np.zeros(n), jac=g, hess=H, method=method, tol=1e-8 * scale)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, np.ones(n), atol=1e-6)
    assert np.max(np.abs(g(np.asarray(r.x)))) <= 1e-8 * scale


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_complex_hessian_is_refused_not_truncated(method):
    # "newton" and "grad-reg" cast a complex Hessian to float (ComplexWarning, imaginary part dropped)
    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    with pytest.raises(TypeError, match="hess must return a real Hessian"):
        solvers.newton(f, np.zeros(3), jac=g, hess=lambda x: (2 + 1j) * np.eye(3), method=method)


def test_newton_complex_hessp_is_refused():
    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    with pytest.raises(TypeError, match="hessp must return a real array"):
        solvers.newton(f, np.zeros(3), jac=g, hessp=lambda x, p: (2 + 1j) * p, method="newton-cg")


# ---------------------------------------------------------------------------------------------- newton_krylov
@pytest.mark.parametrize("scale, tol", [(1e300, 1e290), (1e-300, 1e-310), (1e160, 1e150)])
@pytest.mark.parametrize("jac", [False, True])
def test_newton_krylov_extreme_residual_scales_against_the_analytic_root(scale, tol, jac):
    # ||F||_2 and the merit ||F||^2 / 2 overflowed (1e300: "F(x0) contains NaN or inf", a false refusal of a finite
    # F) or underflowed (1e-300: ZeroDivisionError in the Jacobian-free product)
    F = lambda x: scale * (x - 1.0)
    kw = {"jac": (lambda x: scale * np.eye(2))} if jac else {}
    r = solvers.newton_krylov(F, np.zeros(2), tol=tol, **kw)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [1.0, 1.0], rtol=1e-8)
    assert np.max(np.abs(F(np.asarray(r.x)))) <= tol


@pytest.mark.parametrize("x0", [1e200, -1e250])
def test_newton_krylov_far_start_with_finite_residual_is_not_refused(x0):
    # F(x0) = x0 - 1 is finite, but ||x0||_2 (Jacobian-free step size) and ||F||_2 overflowed
    F = lambda x: np.array([x[0] - 1.0, 2.0 * (x[1] - 3.0)])
    r = solvers.newton_krylov(F, np.array([x0, x0]))
    ref = __import__("scipy.optimize", fromlist=["root"]).root(F, [0.0, 0.0]).x
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, ref, rtol=1e-8)
    assert np.max(np.abs(F(np.asarray(r.x)))) <= 1e-8


def test_newton_krylov_overflowing_trial_points_still_give_a_true_failure():
    # Bratu-like exponential: trials overflow to inf; the scaled merit must treat them as rejected, not raise
    F = lambda x: np.exp(np.minimum(x, 800.0)) + 1.0        # no root: F > 1 everywhere
    r = solvers.newton_krylov(F, np.array([0.0, 1.0]), maxiter=30)
    assert not r.converged and r.status in ("stagnated", "maxiter", "breakdown")
    assert np.max(np.abs(F(np.asarray(r.x)))) > 1.0
