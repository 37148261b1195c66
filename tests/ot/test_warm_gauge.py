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


def test_gauge_moves_only_when_it_halves_the_floor():
    C, _ = _problem(20, 3)

    class Run:
        def __init__(self, f, g):
            self.f, self.g, self.shift = f, g, None
            self.geom = solvers.ot._common.Geometry(C, solvers.backends.get_backend("numpy"))

        def recentre(self, c):
            self.shift = c
            self.f, self.g = self.f - c, self.g + c

    f = np.linspace(-0.05, 0.05, 20)
    r = Run(f + 2.0, -f[::-1] - 2.1)           # offset 2: floor scale 5.2 -> 1.2
    _sk._gauge(r, 1.0)
    assert r.shift is not None and 1.95 <= r.shift <= 2.1
    assert max(np.abs(r.f).max(), np.abs(r.g).max()) <= 0.16
    r = Run(f + 0.05, -f - 0.05)              # a cold-start-like pair: left as it is
    _sk._gauge(r, 1.0)
    assert r.shift is None
    r = Run(f + np.nan, f)                    # non-finite: left alone
    _sk._gauge(r, 1.0)
    assert r.shift is None
