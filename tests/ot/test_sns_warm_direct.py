"""SNS from a warm start: one close to the solution at the target eps skips the eps continuation, which would
move it to the first stage's eps and back (an exact ``f0`` at eps = 1e-4, n = 1000 took 19 iterations and
0.135 s instead of 0). A poor warm start keeps the continuation; an explicit ``eps_scaling`` is honoured.
Reference: the plan from the dual maximised by SciPy (L-BFGS, then ``trust-exact`` with the exact Hessian:
``_refs.dual_newton``), at eps = 5e-4 on a unit cost, below the continuation's threshold (1e-3 of the range)."""
import importlib

import numpy as np
import pytest

import solvers

_sns = importlib.import_module("solvers.ot.sns")      # the module (the package exports the function)

from ._refs import dual_newton

EPS = 5e-4


def _problem(n, seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    return C / C.max()


def _plan(res, C, eps):
    return np.exp((res.f[:, None] + res.g[None, :] - C) / eps)


@pytest.mark.parametrize("seed", [0, 1])
def test_warm_start_near_the_solution_skips_the_continuation(seed):
    C = _problem(50, seed)
    n = C.shape[0]
    a = b = np.full(n, 1.0 / n)
    ref = dual_newton(C, a, b, EPS)[2]
    cold = solvers.sns(C, eps=EPS, tol=1e-10)
    assert cold.converged and cold.stats["eps_stages"] >= 2 and "warm_start_error" not in cold.stats
    np.testing.assert_allclose(_plan(cold, C, EPS), ref, rtol=0, atol=1e-9)

    exact = solvers.sns(C, eps=EPS, tol=1e-10, f0=cold.f)
    assert exact.converged and exact.nit == 0 and exact.stats["eps_stages"] == 1
    assert exact.stats["warm_start_error"] <= 1e-9
    from_g = solvers.sns(C, eps=EPS, tol=1e-10, g0=cold.g)
    assert from_g.converged and from_g.stats["eps_stages"] == 1 and from_g.nit <= 1

    near = solvers.sns(C, eps=EPS, tol=1e-10, f0=solvers.sns(C, eps=1.5 * EPS, tol=1e-10).f)
    assert near.converged and near.stats["eps_stages"] == 1
    assert 0.0 < near.stats["warm_start_error"] <= _sns.WARM_DIRECT
    np.testing.assert_allclose(_plan(near, C, EPS), ref, rtol=0, atol=1e-9)


def test_poor_warm_start_keeps_the_continuation_and_explicit_scaling_is_honoured():
    C = _problem(50, 2)
    n = C.shape[0]
    a = b = np.full(n, 1.0 / n)
    ref = dual_newton(C, a, b, EPS)[2]
    rng = np.random.default_rng(5)
    poor = solvers.sns(C, eps=EPS, tol=1e-10, f0=rng.standard_normal(n))     # unit-size noise: far off
    assert poor.stats["warm_start_error"] > 0.3 and poor.stats["eps_stages"] >= 2
    assert poor.converged
    np.testing.assert_allclose(_plan(poor, C, EPS), ref, rtol=0, atol=1e-9)
    cold = solvers.sns(C, eps=EPS, tol=1e-10)
    asked = solvers.sns(C, eps=EPS, tol=1e-10, f0=cold.f, eps_scaling=0.1)    # the user's schedule: kept
    assert asked.converged and asked.stats["eps_stages"] >= 2 and "warm_start_error" not in asked.stats
