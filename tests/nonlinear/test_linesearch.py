"""Armijo backtracking against the closed form on quadratics, failure modes and the noise hook."""
import math

import numpy as np
import pytest

from solvers.nonlinear import LineSearchResult, armijo_backtracking


def _quadratic(rng, n=6):
    Q = rng.standard_normal((n, n))
    A = Q @ Q.T + n * np.eye(n)                # SPD
    b = rng.standard_normal(n)
    F = lambda x: 0.5 * x @ A @ x - b @ x      # noqa: E731
    return A, b, F


@pytest.mark.parametrize("c1, shrink", [(1e-4, 0.5), (0.3, 0.5), (0.45, 0.3)])
def test_accepted_step_is_the_largest_armijo_step_on_a_quadratic(rng, c1, shrink):
    A, b, F = _quadratic(rng)
    x = rng.standard_normal(6)
    d = -(A @ x - b) * 3.0                    # steepest descent, over-long: backtracking needed
    phi = lambda t: F(x + t * d)              # noqa: E731
    dphi0 = (A @ x - b) @ d
    kappa = d @ A @ d
    # phi(t) = phi0 + t dphi0 + t^2 kappa / 2 <= phi0 + c1 t dphi0  <=>  t <= 2 (1 - c1) (-dphi0) / kappa
    t_max = 2 * (1 - c1) * (-dphi0) / kappa
    k = math.ceil(math.log(t_max) / math.log(shrink)) if t_max < 1 else 0
    res = armijo_backtracking(phi, phi(0.0), dphi0, c1=c1, shrink=shrink)
    assert res.accepted and not res.by_noise
    assert res.alpha == pytest.approx(shrink ** k, rel=1e-15) and res.evals == k + 1
    assert res.value <= phi(0.0) + c1 * res.alpha * dphi0                   # Armijo holds ...
    if k > 0:                                                              # ... and failed one step before
        assert phi(res.alpha / shrink) > phi(0.0) + c1 * res.alpha / shrink * dphi0


def test_newton_direction_takes_the_full_step_to_the_minimiser(rng):
    A, b, F = _quadratic(rng)
    x = rng.standard_normal(6)
    d = np.linalg.solve(A, b - A @ x)
    res = armijo_backtracking(lambda t: F(x + t * d), F(x), (A @ x - b) @ d)
    assert res == LineSearchResult(True, 1.0, F(x + d), 1)
    np.testing.assert_allclose(x + res.alpha * d, np.linalg.solve(A, b), rtol=1e-12)


def test_non_finite_trials_are_rejected():
    phi = lambda t: math.inf if t > 0.3 else (t - 0.2) ** 2   # noqa: E731
    res = armijo_backtracking(phi, 0.04, -0.4)
    assert res.accepted and res.alpha == 0.25 and res.evals == 3
    res = armijo_backtracking(lambda t: math.nan, 0.0, -1.0, max_evals=7)
    assert not res.accepted and res.evals == 7 and math.isnan(res.value)


def test_failure_budget_and_minimum_step():
    up = lambda t: t          # noqa: E731  (claims descent, goes up)
    res = armijo_backtracking(up, 0.0, -1.0, max_evals=40)
    assert not res.accepted and res.evals == 40 and res.alpha == 0.5 ** 40
    # stop once alpha * |d| < xtol: 1 * 0.5**k * 8 < 1e-3  <=>  k >= 13
    res = armijo_backtracking(up, 0.0, -1.0, step_norm=8.0, xtol=1e-3)
    assert not res.accepted and res.evals == 13 and res.alpha * 8.0 < 1e-3


def test_noise_hook_decides_only_at_the_noise_level():
    calls = []

    def hook(alpha):
        calls.append(alpha)
        return alpha <= 0.25

    flat = lambda t: 1.0 + 1e-14 * t          # noqa: E731  rounding-level change, Armijo fails
    res = armijo_backtracking(flat, 1.0, -1e-8, noise=1e-12, noise_test=hook)
    assert res.accepted and res.by_noise and res.alpha == 0.25 and calls == [1.0, 0.5, 0.25]
    calls.clear()
    big = lambda t: 1.0 + t                   # noqa: E731  a real increase: the hook is never asked
    res = armijo_backtracking(big, 1.0, -1e-8, noise=1e-12, noise_test=hook, max_evals=5)
    assert not res.accepted and calls == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="descent"):
        armijo_backtracking(lambda t: t, 0.0, 0.0)
    with pytest.raises(ValueError, match="c1"):
        armijo_backtracking(lambda t: t, 0.0, -1.0, c1=1.0)
