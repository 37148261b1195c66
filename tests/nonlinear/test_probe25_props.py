"""Probe 25: Newton's line search where f is not resolved (its rounding far above 16 eps |f|).

f = 0.5 x'Hx (+ 0.25 sum x^4) - c'x with a stiff H cancels: f's rounding is ~ eps |x| |H| |x|, not
16 eps |f|. Newton-CG then stagnated on a convex quadratic at ||g|| = 6e-8 (tol 1e-8, numpy backend; the
numba backend and dense Newton reach 1e-11), and a noise "decrease" of f passed the Armijo test and took
||g|| from 2.4e-9 to 3.7e-2 (returned with status "stagnated").
"""
import numpy as np
import pytest

import solvers
from solvers.nonlinear.linesearch import armijo_backtracking


def _stiff(seed, n, logcond, scale):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = (Q * np.logspace(0, logcond, n)) @ Q.T * scale
    H = (H + H.T) / 2
    return rng, H, rng.standard_normal(n) * scale


def test_newton_cg_stiff_quadratic_reaches_tol_on_numpy_backend():
    rng, H, c = _stiff(9, 9, 6, 1.0)
    res = solvers.newton(lambda x: 0.5 * x @ H @ x - c @ x, np.zeros(9), jac=lambda x: H @ x - c,
                         hessp=lambda x, p: H @ p, method="newton-cg", tol=1e-8, backend="numpy")
    assert res.converged, res.message
    assert np.abs(H @ res.x - c).max() <= 1e-8


def test_newton_cg_noise_decrease_does_not_wreck_the_gradient():
    rng, H, c = _stiff(1559, 2, 6, 59.33323504353757)
    x0 = rng.standard_normal(2) * 7.63249336224455
    f = lambda x: 0.5 * x @ H @ x + 0.25 * np.sum(x ** 4) - c @ x     # noqa: E731
    g = lambda x: H @ x + x ** 3 - c                                     # noqa: E731
    h = lambda x: H + np.diag(3 * x ** 2)                                # noqa: E731
    res = solvers.newton(f, x0, jac=g, hess=h, method="newton-cg", tol=1e-10, backend="numba")
    gn = np.abs(g(res.x)).max()
    assert gn <= 1e-8, (res.status, gn)          # was 3.7e-2 after reaching 2.4e-9
    assert min(res.history["grad_norm"]) * 10 >= gn or res.converged


@pytest.mark.parametrize("method", ["newton", "newton-cg"])
def test_quartic_tol_1e5_converges(method):
    rng, H, c = _stiff(339, 15, 6, 10.0)
    f = lambda x: 0.5 * x @ H @ x + 0.25 * np.sum(x ** 4) - c @ x     # noqa: E731
    g = lambda x: H @ x + x ** 3 - c                                     # noqa: E731
    h = lambda x: H + np.diag(3 * x ** 2)                                # noqa: E731
    res = solvers.newton(f, np.zeros(15), jac=g, hess=h, method=method, tol=1e-5, backend="numpy")
    assert res.converged, res.message
    assert np.abs(g(res.x)).max() <= 1e-5


def test_armijo_trust_noise_false_asks_the_noise_test():
    asked = []

    def test(a):
        asked.append(a)
        return a < 0.3

    # phi "decreases" by 1e-12 (noise) at every step; with trust_noise=False Armijo alone does not accept
    ls = armijo_backtracking(lambda a: -1e-12, 0.0, -1e-20, noise=1e-9, noise_test=test, trust_noise=False)
    assert ls.accepted and ls.by_noise and ls.alpha == 0.25 and asked == [1.0, 0.5, 0.25]
    ls = armijo_backtracking(lambda a: -1e-12, 0.0, -1e-20, noise=1e-9, noise_test=test)
    assert ls.accepted and not ls.by_noise and ls.alpha == 1.0
    # a decrease beyond the noise level is still accepted by Armijo
    ls = armijo_backtracking(lambda a: -1.0, 0.0, -1.0, noise=1e-9, noise_test=lambda a: False, trust_noise=False)
    assert ls.accepted and not ls.by_noise
