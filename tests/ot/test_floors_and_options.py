"""Outside review findings (session 14): unreachable tolerances end early with a true message, the
weights' mass mismatch and an overflowing eps are refused up front, ``EntropicOT.dual`` with zero
weights, ``method="auto"``'s option check and its callback across the Sinkhorn -> SNS hand-off."""
import importlib
import warnings

import numpy as np
import pytest

import solvers
from problems.ot import EntropicOT

from solvers.ot.auto import auto

sinkhorn_mod = importlib.import_module("solvers.ot.sinkhorn")


def _l1_error(C, a, b, f, g, eps):
    """Independent float64 NumPy measurement of the plan's L1 marginal error."""
    P = np.exp((f[:, None] + g[None, :] - C) / eps)
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


@pytest.mark.parametrize("seed", [13, 14])
def test_sinkhorn_unreachable_tol_stagnates_at_the_floor(seed):
    """tol below double precision: Sinkhorn stops within a few hundred iterations (not the 100 000 budget)
    as ``stagnated``, names the rounding floor, and its returned pair has the error it reports."""
    rng = np.random.default_rng(seed)
    C = rng.random((50, 40))
    a, b = np.full(50, 1 / 50), np.full(40, 1 / 40)
    r = solvers.sinkhorn(C, a, b, eps=0.1, tol=1e-17)
    assert r.status == "stagnated" and not r.converged
    assert r.nit <= sinkhorn_mod.STALL_WINDOW + 2 * sinkhorn_mod.STALL + 100
    assert "rounding floor" in r.message and "stopped decreasing" in r.message
    assert len(r.history["marginal_error"]) == r.nit + 1
    assert _l1_error(C, a, b, r.f, r.g, 0.1) < 1e-14          # it did reach the floor
    assert r.marginal_error == pytest.approx(_l1_error(C, a, b, r.f, r.g, 0.1), rel=0.5, abs=1e-15)


@pytest.mark.parametrize("eps, tol", [(0.002, 1e-12), (0.001, 1e-12), (0.002, 1e-13)])
def test_slow_geometric_decay_near_the_floor_is_not_stagnation(eps, tol):
    """A review of the first stagnation rule (no halving in 100 iterations near the floor) found it stopping
    runs still decaying geometrically (halving every 150-200 iterations) at 1.6e-12 against tol 1e-12."""
    rng = np.random.default_rng(1)
    x, y = rng.random((60, 2)), rng.random((50, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    r = solvers.sinkhorn(C, eps=eps, tol=tol, maxiter=200000)
    assert r.converged, r.message
    a, b = np.full(60, 1 / 60), np.full(50, 1 / 50)
    assert _l1_error(C, a, b, r.f, r.g, eps) <= tol * (1 + 1e-2)


def test_slow_sinkhorn_is_not_called_stagnated():
    """A slow but steady run (small eps, a tight tol) is not stopped by the stagnation test."""
    rng = np.random.default_rng(2)
    x, y = rng.random((60, 2)), rng.random((50, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    C /= C.max()
    r = solvers.sinkhorn(C, eps=2e-3, tol=1e-9, maxiter=3000, domain="log")
    assert r.status in ("converged", "maxiter")
    assert r.status == "converged" or r.nit == 3000


@pytest.mark.parametrize("fn", [solvers.sinkhorn, solvers.sns])
def test_mass_mismatch_above_tol_is_refused(fn):
    rng = np.random.default_rng(11)
    C = rng.random((20, 15))
    a = rng.random(20)
    a /= a.sum()
    b = rng.random(15)
    b /= b.sum()
    b *= 1 + 5e-10                       # inside read_inputs' 1e-9 rule, above tol
    with pytest.raises(ValueError, match=r"sum\(a\) - sum\(b\)"):
        fn(C, a, b, eps=0.1, tol=1e-11)
    r = fn(C, a, b, eps=0.1, tol=1e-8)   # a reachable tol still solves
    assert r.converged and _l1_error(C, a, b, r.f, r.g, 0.1) <= 1e-8 * (1 + 1e-6)


@pytest.mark.parametrize("eps", [1.7e308, 1e306])
def test_overflowing_eps_is_refused(eps):
    C = np.random.default_rng(17).random((6, 5))
    a = np.full(6, 1 / 6)
    a[0] = 1e-300
    a /= a.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (solvers.sinkhorn, solvers.sns):
            with pytest.raises(ValueError, match="too large"):
                fn(C, a, np.full(5, 0.2), eps=eps)


def test_dual_with_zero_weights_is_finite():
    """Reference: the dual of the problem restricted to the support (zero-weight rows dropped)."""
    rng = np.random.default_rng(10)
    C = rng.random((6, 5))
    a = rng.random(6)
    a[2] = 0
    a /= a.sum()
    b = np.full(5, 0.2)
    p = EntropicOT(C, a, b, eps=0.05)
    r = solvers.sinkhorn(p, tol=1e-12)
    keep = a > 0
    f, g = r.f[keep], r.g
    ref = a[keep] @ f + b @ g - 0.05 * np.exp((f[:, None] + g[None, :] - C[keep]) / 0.05).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p.dual(r.f, r.g) == pytest.approx(ref, rel=1e-12)


def test_auto_refuses_options_with_a_true_reason():
    C = np.random.default_rng(0).random((30, 20))
    a, b = np.full(30, 1 / 30), np.full(20, 1 / 20)
    assert solvers.solve(EntropicOT(C, a, b, eps=1e-4), method="auto", rho=1e-3).converged    # sns picked
    with pytest.raises(TypeError, match="belongs to sns only.*picked sinkhorn"):
        solvers.solve(EntropicOT(C, a, b, eps=1e-1), method="auto", rho=1e-3)
    with pytest.raises(TypeError, match="belongs to sinkhorn only.*picked sns"):
        auto(C, a, b, eps=1e-4, float32=False)
    with pytest.raises(TypeError, match="unknown option 'foo'"):
        auto(C, a, b, eps=1e-1, foo=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # no ComplexWarning before the routine's error
        with pytest.raises(ValueError, match="complex"):
            auto(np.ones((3, 2)) + 0j, eps=0.1)


def test_auto_callback_sees_every_row_across_the_switch():
    rng = np.random.default_rng(5)
    x, y = rng.random((90, 2)), rng.random((80, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    C /= C.max()
    seen = []
    res = auto(C, eps=3.2e-3, tol=1e-9, callback=lambda intermediate_result: seen.append(intermediate_result.nit))
    assert res.stats["auto_choice"] == "sns" and "auto_head" in res.stats          # it did switch
    assert seen == list(range(1, res.nit + 1))


def test_stall_test_tells_a_slow_steady_fall_from_the_floor_jitter():
    # sinkhorn stopped as 'stagnated at the rounding floor' a run falling 5 % per 150 iterations at 98x the floor
    # estimate (outside probe helper-73: 80x60, eps 1e-3, tol 1e-12; it converges in 54 455 iterations)
    from types import SimpleNamespace

    from solvers.ot.sinkhorn import STALL_WINDOW, _Stall

    geom = SimpleNamespace(rounding_floor=lambda f, g, eps, a, b: (1e-13, 1.0))
    run = SimpleNamespace(f=None, g=None, eps=1e-3)
    stall = _Stall(geom, None, None)
    it = np.arange(STALL_WINDOW)
    steady = 9.8e-12 * 0.9997 ** it                               # 9 % down over the window, at 98x the floor
    jitter = 5e-12 * (1 + 0.3 * np.random.default_rng(0).random(STALL_WINDOW))
    assert not stall(steady, run)
    assert stall(jitter, run)
    assert not stall(jitter * 1e3, run)                            # far above the floor: a plateau, not the floor


def test_sns_maxiter_message_names_the_rounding_floor_when_it_is_the_limit():
    """Costs of size 1e308 at eps = 1: the rounding floor of any potentials is infinite, so the maxiter exit
    must say the accuracy is out of reach (before the fix it advised a larger maxiter, a smaller rho or a
    larger n_sinkhorn, none of which can help); a solvable problem stopped by a small maxiter keeps that
    advice (its floor is far below tol)."""
    rng = np.random.default_rng(0)
    n = 20
    a = b = np.full(n, 1.0 / n)
    C = np.where(rng.random((n, n)) > 0.5, 1e308, -1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        r = solvers.sns(C, a, b, eps=1.0, maxiter=30)
    assert not r.converged and r.status == "maxiter"
    assert "out of reach in double precision" in r.message and "larger maxiter" not in r.message
    C = rng.random((n, n))
    r = solvers.sns(C, a, b, eps=1e-3, maxiter=1, eps_scaling=None, n_sinkhorn=1)
    assert not r.converged and r.status == "maxiter", r.message
    assert "larger maxiter" in r.message and "out of reach" not in r.message


def test_auto_names_every_domain_it_accepts():
    """Outside probe (session 22): auto's error for a bad domain came from the routine the rule picked and
    left out 'kernel', which auto accepts."""
    rng = np.random.default_rng(1)
    C = rng.random((6, 5))
    with pytest.raises(ValueError, match="auto: domain must be one of 'auto', 'log', 'kernel'"):
        auto(C, np.full(6, 1 / 6), np.full(5, 0.2), eps=0.05, domain="bogus")
    assert auto(C, np.full(6, 1 / 6), np.full(5, 0.2), eps=0.05, domain="kernel").converged


def test_measured_error_is_the_last_history_row_and_tiny_tol_gets_a_caution():
    """Outside probe (session 22): history['marginal_error'][-1] was the iteration's estimate (0.0 at eps =
    1e-300 while the returned potentials' error was 60); and a converged claim at tol 1e-15 sat below the
    rounding floor of the potentials (the library's own bound) with nothing said. sns at eps = 1e-300 said
    'NaN/inf appeared in the potentials' although the returned ones were finite."""
    rng = np.random.default_rng(6)
    x, y = rng.random((30, 2)), rng.random((20, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    a, b = np.full(30, 1 / 30), np.full(20, 1 / 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for f in (solvers.sinkhorn, solvers.sns):
            r = f(C, a, b, eps=1e-300, maxiter=50)
            assert not r.converged and r.history["marginal_error"][-1] == r.marginal_error
            assert np.isfinite(r.f).all() and "NaN/inf appeared in the potentials" not in r.message
    x, y = rng.random((60, 2)), rng.random((50, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = rng.random(60) + 0.1
    a /= a.sum()
    b = rng.random(50) + 0.1
    b /= b.sum()
    r = solvers.sinkhorn(C, a, b, eps=0.3 * C.max(), tol=1e-15)
    if r.converged:
        assert "below the rounding floor" in r.message


def test_a_tol_near_the_total_mass_carries_a_caution():
    """Outside probe (session 22): at a total mass of 1e-100 the absolute tol 1e-9 is met by any plan (0
    iterations, marginals 99 % off), and the converged claim said nothing. It now says so."""
    from problems import ot

    C = np.random.default_rng(1).random((30, 20))
    p = ot.EntropicOT(C, np.full(30, 1e-100), np.full(20, 1.5e-100), eps=1e-2)
    for method in ("sinkhorn", "sns"):
        r = solvers.solve(p, method=method, backend="numpy")
        if r.converged:
            assert "of the total mass" in r.message and "absolute" in r.message


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_cost_bounds_read_by_the_input_check_are_those_of_the_geometry(backend):
    """The input check's C.min() / C.max() are handed to the geometry (one pass pair a solve, not three); with a
    zero weight the geometry is the restricted C, whose bounds are its own: here the full C's extremes lie in
    the dropped row and column."""
    from solvers.ot import _common, _options

    rng = np.random.default_rng(3)
    C = rng.random((30, 20)) + 1.0
    C[4, :], C[:, 7] = 50.0, -9.0                       # the extremes, only in row 4 and column 7
    a, b = np.full(30, 1 / 29), np.full(20, 1 / 19)
    a[4], b[7] = 0.0, 0.0
    full = _common.read_inputs("sinkhorn", C, np.full(30, 1 / 30), np.full(20, 1 / 20), 0.1, backend, None, None)
    g = full.geometry()
    assert g.cost_bounds() == (C.min(), C.max()) == (-9.0, 50.0)
    assert _options.cost_range(g) == 59.0 and g.cost_absmax() == 50.0
    sub = _common.read_inputs("sinkhorn", C, a, b, 0.1, backend, None, None).geometry()
    kept = np.delete(np.delete(C, 4, axis=0), 7, axis=1)
    assert sub.cost_bounds() == (kept.min(), kept.max())
    assert _options.cost_range(sub) == kept.max() - kept.min() < 1.0
    # and the solve on the support meets tol, measured here in NumPy on the restricted C
    res = solvers.sinkhorn(C, a, b, eps=0.1, tol=1e-9, backend=backend)
    f, gg = np.asarray(res.f)[a > 0], np.asarray(res.g)[b > 0]
    assert res.converged and _l1_error(kept, a[a > 0], b[b > 0], f, gg, 0.1) < 1e-8


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_cost_near_the_float64_limit_is_finite_and_right(method):
    """Outside review helper-124: costs near -1.7e308 gave res.cost = -inf with converged=True on the numba backend
    (the row-max-shifted sum of e_j C_j overflowed before the row's exp(mx) factor). The cost is now summed again
    scaled by a power of two; checked against <P, C> in NumPy with C scaled by 2^-10 (exact)."""
    fn = getattr(solvers, method)
    C1 = np.full((3, 3), -1.7e308)
    C1[0, 0] = -1.6e308
    C2 = np.random.default_rng(0).uniform(-1.0, 1.0, (40, 50)) * 1e308
    for C in (C1, C2):
        res = fn(C, None, None, eps=1e306, backend="numba")
        assert res.converged, res.message
        with np.errstate(over="ignore"):
            P = np.exp((res.f[:, None] + res.g[None, :] - C) / 1e306)
        ref = float((P * (C * 2.0 ** -10)).sum()) * 2.0 ** 10
        assert np.isfinite(res.cost) and abs(res.cost - ref) <= 1e-12 * abs(ref)
