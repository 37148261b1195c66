"""SNS's automatic eps continuation with forbidden pairs encoded by a huge finite cost.

:class:`problems.ot.EntropicOT` refuses inf in C and advises a large finite cost for forbidden pairs.
The automatic continuation started at ``eps_start (C.max() - C.min())``, so a cost of 1e20 on a few pairs
gave about 20 stages from eps = 1e17 that used up the step budget: SNS (and ``solve``, which picked it)
ended with an L1 marginal error of 270 where Sinkhorn converged. The start now comes from the costs below such a
cluster (:func:`solvers.ot._options.schedule_range`). Reference: the dual maximised by SciPy's L-BFGS (``_refs``).
"""
import numpy as np
import pytest

import solvers
from problems.ot import EntropicOT
from solvers.ot import _options

from ._refs import dual_lbfgs, l1_marginal_error


def _forbidden(seed, big, frac):
    rng = np.random.default_rng(seed)
    x, y = rng.random((80, 2)), rng.random((70, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    C[0, :60] = big                             # row 0 may use only the last 10 columns
    mask = rng.random(C.shape) < frac           # and a random fraction of all pairs is forbidden
    mask[np.arange(70), np.arange(70)] = False  # (a feasible plan stays: the diagonal)
    mask[0, 60:] = False
    C[mask] = big
    return C


@pytest.mark.parametrize("seed, big, eps, frac", [(3, 1e20, 1e-2, 0.0), (4, 1e10, 1e-2, 0.3), (5, 1e30, 3e-3, 0.0),
                                                  (6, 1e20, 3e-3, 0.6)])
def test_sns_converges_with_forbidden_pairs_as_large_costs(seed, big, eps, frac):
    C = _forbidden(seed, big, frac)
    a, b = np.full(80, 1 / 80), np.full(70, 1 / 70)
    p = EntropicOT(C, a, b, eps=eps)
    for r in (solvers.sns(p, tol=1e-9), solvers.solve(p, tol=1e-9)):
        assert r.converged, r.message
        P = np.asarray(r.plan())
        assert l1_marginal_error(P, p) <= 1e-9
        assert P[0, :60].sum() == 0.0 or P[0, :60].sum() < 1e-300     # nothing on the forbidden pairs
        _, _, Pref = dual_lbfgs(C, a, b, eps)
        assert l1_marginal_error(Pref, p) < 1e-5                     # the reference itself converged
        assert abs(r.cost - float((Pref * C)[Pref > 0].sum())) <= 1e-4 * abs(r.cost)


def _ranges(p):
    geom = solvers.ot._common.read_inputs("sns", p, None, None, None, None, None, None).geometry()
    return _options.schedule_range(geom), _options.cost_range(geom)


def test_the_schedule_range_is_the_cost_range_without_a_cluster_of_huge_costs():
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 2)), rng.random((200, 2))
    got, full = _ranges(EntropicOT.from_points(x, y, eps=1e-3, scale="max"))
    assert got == full
    z = rng.standard_cauchy((300, 2))           # heavy tails, no gap of 1e4 between consecutive costs
    C = ((z[:, None] - z[None]) ** 2).sum(-1)
    got, full = _ranges(EntropicOT(C / C.max(), np.full(300, 1 / 300), np.full(300, 1 / 300), eps=1e-3))
    assert got == full
    C = _forbidden(0, 1e20, 0.9)                # 90 % forbidden: the top of the sampled feasible costs
    got, full = _ranges(EntropicOT(C, np.full(80, 1 / 80), np.full(70, 1 / 70), eps=1e-3))
    assert full >= 1e20 and 0.5 < got <= 2.0
