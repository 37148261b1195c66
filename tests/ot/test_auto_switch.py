"""``method="auto"``'s run-time rule: Sinkhorn, switching to SNS when its measured decay predicts more
than ``SWITCH_KAPPA`` iterations to go (:class:`solvers.ot.auto.SwitchRule`)."""
import importlib
import math
import pickle

import numpy as np
import pytest

import solvers

from ._refs import l1_marginal_error, random_problem, scaling_sinkhorn

auto_mod = importlib.import_module("solvers.ot.auto")

# eps / (C.max() - C.min()) = 3.2e-3 >= the size threshold (3e-3 at these sizes): the rule starts with Sinkhorn,
# which needs ~560 iterations here, so it switches at one of its first checks (iteration 20, 40 or 60); 1e-2:
# ~180 iterations, no switch
SWITCHES, STAYS = 3.2e-3, 1e-2


@pytest.mark.parametrize("seed,weights", [(0, False), (1, True)])
def test_switch_reaches_the_dense_reference(seed, weights):
    p = random_problem(np.random.default_rng(seed), 150, 130, SWITCHES, weights=weights)
    res = solvers.solve(p, method="auto", tol=1e-10)
    assert res.converged, res.message
    assert res.method == "sns" and res.stats["auto_choice"] == "sns"
    assert "switched to sns after" in res.stats["auto_reason"]
    assert res.stats["auto_head"]["sinkhorn_iterations"] % auto_mod.SWITCH_EVERY == 0
    P_ref = scaling_sinkhorn(p.C, p.a, p.b, p.eps, iters=20000)       # independent dense reference
    assert l1_marginal_error(P_ref, p) < 1e-11
    P = np.asarray(res.plan())
    assert np.abs(P - P_ref).sum() < 1e-8
    assert l1_marginal_error(P, p) <= 1.01e-10
    assert res.cost == pytest.approx(float((P_ref * p.C).sum()), rel=1e-8)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_switched_result_follows_the_result_convention(backend):
    p = random_problem(np.random.default_rng(2), 120, 120, SWITCHES)
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.nit)

    res = solvers.solve(p, method="auto", tol=1e-9, callback=cb, backend=backend)
    assert res.backend == backend
    k = res.stats["auto_head"]["sinkhorn_iterations"]
    assert res.converged and k >= 20
    h = res.history
    assert all(len(v) == res.nit + 1 for v in h.values())
    assert (h["stage"][:k] == 1).all() and (h["stage"] == 2).any()        # the head, then the Newton stage
    assert res.stats["sinkhorn_steps"] >= k + 5 and res.stats["iterations"] == res.nit
    assert res.stats["time_s"] > res.stats["auto_head"]["time_s"] > 0
    assert res.options["warm_start"] is False
    assert seen == sorted(seen) and seen[-1] <= res.nit and len(set(seen)) == len(seen)
    assert "utc_start" in res.provenance
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.x, res.x)


def test_no_switch_gives_sinkhorns_iterates():
    """Checked in chunks, the run is the one of a plain call: same iterates, same result."""
    p = random_problem(np.random.default_rng(3), 140, 100, STAYS)
    res = solvers.solve(p, method="auto", tol=1e-9)
    ref = solvers.sinkhorn(p, tol=1e-9)
    assert res.method == "sinkhorn" and res.stats["auto_choice"] == "sinkhorn" and "switched" not in res.stats[
        "auto_reason"]
    assert res.nit == ref.nit > 2 * auto_mod.SWITCH_EVERY
    np.testing.assert_array_equal(res.x, ref.x)
    np.testing.assert_array_equal(res.history["marginal_error"], ref.history["marginal_error"])


def test_switched_warm_start_is_the_callers():
    p = random_problem(np.random.default_rng(7), 110, 100, SWITCHES)
    res = solvers.solve(p, method="auto", tol=1e-9, f0=np.zeros(110))
    assert res.converged and "switched to sns" in res.stats["auto_reason"] and res.options["warm_start"] is True


def test_options_turn_the_switch_off():
    """Routine options other than ``domain`` mean Sinkhorn as asked, without the switch."""
    p = random_problem(np.random.default_rng(4), 100, 100, SWITCHES)
    res = solvers.solve(p, method="auto", tol=1e-8, check_every=1)
    assert res.converged and res.method == "sinkhorn" and res.nit > 400


@pytest.mark.parametrize("rate", [0.9, 0.97, 0.995])
def test_rule_predicts_geometric_decay(rate):
    rule = auto_mod.SwitchRule()
    errors = 0.5 * rate ** np.arange(40)
    tol = 1e-9
    want = math.log(tol / errors[-1]) / math.log(rate)
    switched = rule(errors[-11:], len(errors), tol)
    assert rule.predicted == pytest.approx(want, rel=1e-9)
    assert switched == (want > auto_mod.SWITCH_KAPPA)


def test_rule_on_flat_short_or_broken_records():
    rule = auto_mod.SwitchRule()
    assert rule(np.full(11, 1e-3), 30, 1e-9) and rule.predicted == math.inf  # not falling: switch
    assert not rule(np.full(10, 1e-3), 10, 1e-9)                             # too few to judge
    assert not rule(np.full(5, 1e-3), 30, 1e-9)                              # too short a record
    assert not rule(np.r_[np.full(10, 1e-3), np.nan], 30, 1e-9)              # NaN: the run reports it
    assert not rule(np.r_[np.full(10, 1e-3), 0.0], 30, 1e-9)


def test_switch_with_zero_weights_and_unit_free_mass():
    """Zero weights (the run is on the support; the handed-over potentials are -inf off it) and a total
    mass of 7 (the run is on unit mass; potentials and errors are mapped back before SNS takes over)."""
    from problems import ot

    rng = np.random.default_rng(5)
    x, y = rng.random((140, 2)), rng.random((120, 2))
    a, b = rng.random(140) + 0.1, rng.random(120) + 0.1
    a[[3, 50, 51]] = 0.0
    b[[0, 119]] = 0.0
    a, b = 7 * a / a.sum(), 7 * b / b.sum()
    p = ot.EntropicOT.from_points(x, y, a, b, eps=SWITCHES, scale="max")
    res = solvers.solve(p, method="auto", tol=1e-9)
    assert res.converged and "switched to sns" in res.stats["auto_reason"], res.message
    P = np.asarray(res.plan())
    assert (P[[3, 50, 51]] == 0).all() and (P[:, [0, 119]] == 0).all()
    ia, ib = a > 0, b > 0
    P_ref = np.zeros_like(P)
    P_ref[np.ix_(ia, ib)] = scaling_sinkhorn(p.C[np.ix_(ia, ib)], a[ia], b[ib], p.eps, iters=20000)
    assert np.abs(P - P_ref).sum() < 1e-8 * 7
    assert np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum() <= 1.01e-9
    assert res.history["marginal_error"][0] > 1.0          # errors on the problem's scale (mass 7)


def test_switched_message_counts_both_parts():
    p = random_problem(np.random.default_rng(6), 100, 90, SWITCHES)
    k = solvers.solve(p, method="auto", tol=1e-9).stats["auto_head"]["sinkhorn_iterations"]   # deterministic

    def stop(intermediate_result):
        if intermediate_result.nit >= k + 3:
            raise StopIteration

    res = solvers.solve(p, method="auto", tol=1e-9, callback=stop)
    assert res.status == "stopped" and res.nit == k + 3 and res.stats["auto_head"]["sinkhorn_iterations"] == k
    assert f"{k} Sinkhorn iterations came first" in res.message and f"nit = {k} + 3" in res.message
