"""A Sinkhorn warm start whose spread the clip to the potentials' range left at its bound carried an offset of about
that bound into both potentials (f ~ +2, g ~ -2 on a unit cost): the rounding floor rose 4x, and a tol that a cold
start meets ended ``stagnated`` with a false "out of reach in double precision" (helper-107). The final stage now
moves the pair to its best gauge (``(f - c, g + c)``, the same plan) when that halves the floor. Reference: the
plan of classical Sinkhorn on ``K = exp(-C / eps)`` (``_refs.scaling_sinkhorn``, plain NumPy)."""
import importlib

import numpy as np
import pytest

import solvers

_sk = importlib.import_module("solvers.ot.sinkhorn")     # the module (the package exports the function)

from ._refs import scaling_sinkhorn
from .test_exact import _pot


def _problem(n, seed):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    return C / C.max(), rng


@pytest.mark.parametrize("domain", ["auto", "log"])
@pytest.mark.parametrize("seed", [0, 1])
def test_spread_warm_start_meets_the_tol_a_cold_start_meets(seed, domain):
    C, rng = _problem(60, seed)
    n = C.shape[0]
    a = b = np.full(n, 1.0 / n)
    ref = scaling_sinkhorn(C, a, b, 1e-2, iters=3000)
    tol = 1e-13
    cold = solvers.sinkhorn(C, eps=1e-2, tol=tol, domain=domain)
    assert cold.converged
    for f0 in (rng.standard_normal(n) * 1e6, np.linspace(0.0, 1e8, n)):
        warm = solvers.sinkhorn(C, eps=1e-2, tol=tol, f0=f0, domain=domain)
        assert warm.converged, warm.message
        P = np.exp((warm.f[:, None] + warm.g[None, :] - C) / 1e-2)
        np.testing.assert_allclose(P, ref, rtol=1e-9, atol=1e-15)
        # the pair is in a gauge of the cold start's size, not offset by the clip bound
        assert max(np.abs(warm.f).max(), np.abs(warm.g).max()) < 0.5


def test_gauge_moves_only_when_it_halves_max_f_plus_max_g():
    C, _ = _problem(20, 3)

    class Run:
        def __init__(self, f, g):
            self.f, self.g, self.shift = f, g, None
            self.geom = solvers.ot._common.Geometry(C, solvers.backends.get_backend("numpy"))

        def recentre(self, c):
            self.shift = c
            self.f, self.g = self.f - c, self.g + c

    f = np.linspace(-0.05, 0.05, 20)
    r = Run(f + 2.0, -f[::-1] - 2.1)           # offset 2: max|f| + max|g| 4.2 -> 0.2
    _sk._gauge(r)
    assert r.shift is not None and 1.95 <= r.shift <= 2.1
    assert max(np.abs(r.f).max(), np.abs(r.g).max()) <= 0.16
    r = Run(np.linspace(-0.0285, 0.0561, 20), np.linspace(-0.0896, 0.0039, 20))   # a cold start's pair: left
    _sk._gauge(r)
    assert r.shift is None
    r = Run(f + np.nan, f)                    # non-finite: left alone
    _sk._gauge(r)
    assert r.shift is None


def test_a_large_cost_entry_does_not_block_the_gauge():
    """Forbidden pairs given a large finite cost (what the NaN/inf error message advises): max|C| = 1e6 dominated
    the halving test, the offset (|f| ~ |g| ~ 202) stayed and tol 1e-12 ended stagnated with a false "out of reach"
    (helper-111). Reference: POT's log-domain Sinkhorn plan."""
    ot = _pot()
    C, rng = _problem(40, 5)
    C[[1, 7, 20], [3, 11, 30]] = 1e6
    n = C.shape[0]
    a = np.full(n, 1.0 / n)
    ref = ot.sinkhorn(a, a, C, 1e-2, method="sinkhorn_log", numItermax=200000, stopThr=1e-15)
    for domain in ("auto", "log"):
        warm = solvers.sinkhorn(C, eps=1e-2, tol=1e-12, f0=100.0 * rng.standard_normal(n), domain=domain)
        assert warm.converged, warm.message
        P = np.exp((warm.f[:, None] + warm.g[None, :] - C) / 1e-2)
        assert np.abs(P - ref).sum() <= 1e-10


def test_gauge_before_the_first_chunk_ends():
    """A final stage that converges within its first chunk (80 updates) never reached the gauge check after the
    chunk: tol 1e-14 ended stagnated at 1.05e-14 (helper-111). The first check now comes after 10 updates."""
    C, rng = _problem(60, 0)
    n = C.shape[0]
    a = np.full(n, 1.0 / n)
    ref = scaling_sinkhorn(C, a, a, 0.05, iters=2000)
    for domain in ("auto", "log"):
        warm = solvers.sinkhorn(C, eps=0.05, tol=1e-14, f0=1e6 * rng.standard_normal(n), domain=domain)
        assert warm.converged, warm.message
        P = np.exp((warm.f[:, None] + warm.g[None, :] - C) / 0.05)
        np.testing.assert_allclose(P, ref, rtol=1e-9, atol=1e-16)


def test_sns_warm_start_is_gauged_before_newton():
    """SNS with a spread warm start kept the offset through its Newton stage: tol 1e-13 ended stagnated at 2.8e-13
    with "this is the rounding floor" (helper-111). Reference: POT's log-domain Sinkhorn plan."""
    ot = _pot()
    rng = np.random.default_rng(3)
    n, m = 70, 50
    X, Y = rng.random((n, 2)), rng.random((m, 2))
    C = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    C /= C.max()
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    res = solvers.sns(C, a, b, eps=1e-3, tol=1e-13, f0=rng.standard_normal(n) * 1e6)
    assert res.converged, res.message
    P = np.exp((res.f[:, None] + res.g[None, :] - C) / 1e-3)
    ref = ot.sinkhorn(a, b, C, 1e-3, method="sinkhorn_log", numItermax=200000, stopThr=1e-14)
    assert np.abs(P - ref).sum() <= 1e-8


def test_maxiter_message_of_a_warm_start_advises_a_cold_one():
    """A run from a warm start that hit maxiter advised "a warm start (f0)" (helper-111: a spread f0 beside a cost
    entry of 1e6 never converged, while a cold start took 332 iterations)."""
    C, rng = _problem(30, 2)
    warm = solvers.sinkhorn(C, eps=1e-3, tol=1e-12, maxiter=5, f0=rng.standard_normal(30))
    assert warm.status == "maxiter" and "cold start (f0=None" in warm.message and "a warm start (f0)" not in warm.message
    cold = solvers.sinkhorn(C, eps=1e-3, tol=1e-12, maxiter=5)
    assert cold.status == "maxiter" and "a warm start (f0)" in cold.message
