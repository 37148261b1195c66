"""Fixes from the hostile-input run (tests/hostile/cases_approx.py): complex or string data are
refused instead of being silently cast (NumPy drops an imaginary part with only a warning and
parses strings), and tensor grids are sized before anything is allocated."""
import math

import numpy as np
import pytest

from solvers.approx import _tucker
from solvers.approx._validate import TooLargeError
from solvers.approx.chebtucker import ChebTucker, chebtucker


def _exp2(p):
    return np.exp(p[:, 0] + 0.5 * p[:, 1])


def _complex(p):
    return np.exp(p[:, 0]) * (1.0 + 0.5j)


def _strings(p):
    return np.exp(p[:, 0]).astype(str)


class _CPComplex:
    def cp_factors(self, nodes):
        return np.ones(2) + 1j, [np.ones((x.size, 2)) for x in nodes]


@pytest.fixture(scope="module")
def ct():
    return chebtucker(_exp2, [(0, 1), (-1, 1)], degree=16, tol=1e-13)


@pytest.mark.parametrize("f", [_complex, _strings])
def test_non_real_function_values_refused(f):
    with pytest.raises(TypeError, match="real numbers"):
        chebtucker(f, [(0, 1)], degree=4)


def test_complex_canonical_weights_refused():
    with pytest.raises(TypeError, match="weights"):
        chebtucker(_CPComplex(), [(0, 1)] * 2, degree=4)


@pytest.mark.parametrize("pts", [np.full((2, 2), 0.5 + 0.1j), np.array([["0.1", "0.2"]])])
def test_non_real_points_refused(ct, pts):
    with pytest.raises(TypeError, match="points"):
        ct(pts)


def test_huge_grid_refused_before_allocation(ct):
    with pytest.raises(TooLargeError, match="on_grid"):
        ct.on_grid(1 << 24)


def test_reconstruct_sized_first():
    core = np.ones((1, 1, 1))
    big = [np.lib.stride_tricks.as_strided(np.ones(1), (1 << 22, 1), (0, 8))] * 3   # no memory behind it
    with pytest.raises(TooLargeError, match="tensor of shape"):
        _tucker.reconstruct(core, big)


def test_on_grid_still_exact(ct):
    G = ct.on_grid(3)
    x, y = np.linspace(0, 1, 3), np.linspace(-1, 1, 3)
    ref = np.exp(x[:, None] + 0.5 * y[None, :])
    assert np.max(np.abs(G - ref)) < 1e-12 * math.e ** 1.5


def _sum8(p):
    return np.exp(p.sum(axis=1) / 8)


def test_auto_degree_refuses_a_start_grid_too_large():
    # 9^8 = 4.3e7 values at the first sampling (ran for minutes and ~25 GB before the check)
    with pytest.raises(ValueError, match=r"degree='auto'.*9\^8"):
        chebtucker(_sum8, [(0, 1)] * 8)


def test_explicit_degree_grid_checked_against_the_memory_limit(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "1000000")
    with pytest.raises(TooLargeError, match="sampling the full Chebyshev grid"):
        chebtucker(_exp2, [(0, 1)] * 2, degree=200)


def test_auto_degree_in_seven_variables_still_exact():
    # separable exp: Chebyshev interpolation of degree 8 per variable is accurate to ~1e-9 on [0, 1]
    ct = chebtucker(lambda p: np.exp(p[:, :7].sum(axis=1) / 7), [(0, 1)] * 7, degree=8, tol=1e-10)
    pts = np.random.default_rng(0).random((20, 7))
    ref = np.exp(pts.sum(axis=1) / 7)
    assert np.max(np.abs(np.asarray(ct(pts)) - ref)) < 1e-8 * ref.max()


def test_from_values_refuses_complex_and_strings():
    with pytest.raises(TypeError, match="values"):
        ChebTucker.from_values(np.ones((4, 4)) + 1j, [(0, 1)] * 2)
    with pytest.raises(TypeError, match="values"):
        ChebTucker.from_values(np.ones((4, 4)).astype(str), [(0, 1)] * 2)


@pytest.mark.parametrize("core,factors,msg", [
    (np.full((2, 2), np.nan), [np.ones((3, 2))] * 2, "finite"),
    (np.ones((2, 2)) + 1j, [np.ones((3, 2))] * 2, "core"),
    (np.ones((2, 2)), [np.ones((3, 2)), np.full((3, 2), np.inf)], "finite"),
])
def test_constructor_refuses_bad_core_or_factors(core, factors, msg):
    with pytest.raises((TypeError, ValueError), match=msg):
        ChebTucker(core, factors, [(0, 1)] * 2)


def test_from_result_refuses_other_results(ct):
    import solvers

    with pytest.raises(ValueError, match="holds no Chebyshev-Tucker"):
        ChebTucker.from_result(solvers.SolveResult(np.ones(3), True, "converged", "ok", 0, method="cg",
                                                   backend="numpy"))
    with pytest.raises(ValueError, match="holds no Chebyshev-Tucker"):
        ChebTucker.from_result(object())
    res = ct.to_result()
    del res.extras["factor_1"]
    with pytest.raises(ValueError, match="factor_1"):
        ChebTucker.from_result(res)


# ---- hostile findings A1-A4 (2026-11-30, tests/hostile/cases_approx_table.py) ----------------
import warnings  # noqa: E402

from solvers.approx import _sample, _table  # noqa: E402
from tests.approx._funcs import GaussianSum  # noqa: E402

_X2 = np.random.default_rng(1).random((4000, 2)) * [1, 2] - [0, 1]
_D2 = [(0, 1), (-1, 1)]


def _f_sign(p):
    return np.sign(p[:, 0] - 0.3) + 0.1 * p[:, 1]


def _f_kink(p):
    return np.abs(p[:, 0] - 0.3) * np.exp(p[:, 1])


def _f_step(p):
    return np.exp(p[:, 0]) + 1e-3 * (p[:, 1] > 0.1)


def _f_runge(p):
    return 1.0 / (1.0 + 25.0 * (2.0 * p[:, 0] - 1.0) ** 2) + p[:, 1]


def _f_exp(p):
    return np.exp(p[:, 0] - 0.5 * p[:, 1])


@pytest.mark.parametrize("eval_method", ["chebyshev", "table"])
def test_zero_rank_refused(eval_method):
    """A4: a zero rank used to evaluate to uninitialised memory (or a Numba SystemError)."""
    A = np.linalg.qr(np.random.default_rng(0).standard_normal((7, 3)))[0]
    with pytest.raises(ValueError, match="rank and degree must be >= 1"):
        ChebTucker(np.zeros((0, 3)), [np.zeros((9, 0)), A], [(0, 1), (0, 1)], eval_method=eval_method)
    with pytest.raises(ValueError, match="core shape"):
        ChebTucker(np.zeros((3, 0)), [A, np.zeros((9, 0))], [(0, 1), (0, 1)], eval_method=eval_method)


def test_zero_function_still_has_rank_one():
    ct = chebtucker(lambda p: 0.0 * p[:, 0], _D2, degree=8)
    assert min(ct.ranks) >= 1
    np.testing.assert_array_equal(ct(_X2[:5]), 0.0)


@pytest.mark.parametrize("f, deg, tol", [(_f_sign, 30, 1e-8), (_f_kink, 80, 1e-8), (_f_step, 40, 1e-8),
                                         (_f_kink, 128, 1e-4), (_f_step, 64, 1e-4)])
def test_explicit_degree_unresolved_function_warns_and_says_so(f, deg, tol):
    """A1: at an explicit degree, non-smooth functions (true error 30-1400x the estimate, measured
    against f itself) now give a RuntimeWarning and error_estimate()['resolved'] is False. The
    tol=1e-4 cases have tails below tol: only the decay test catches them."""
    with pytest.warns(RuntimeWarning, match="not resolved"):
        ct = chebtucker(f, _D2, degree=deg, tol=tol, eval_method="table")
    est = ct.error_estimate()
    assert est["resolved"] is False and ct.stats["resolved"] is False
    err = np.abs(ct(_X2) - f(_X2)).max()
    assert err > tol * np.abs(f(_X2)).max()                       # why the warning is needed


@pytest.mark.parametrize("f, deg, tol", [(_f_exp, 20, 1e-12), (_f_runge, 128, 1e-4), (_f_exp, 40, 1e-4)])
def test_explicit_degree_smooth_function_no_warning(f, deg, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ct = chebtucker(f, _D2, degree=deg, tol=tol)
    est = ct.error_estimate()
    assert est["resolved"] is True
    assert np.abs(ct(_X2) - f(_X2)).max() <= 10 * est["total"] + 1e-14


def test_decay_test_on_analytic_coefficient_sequences():
    """Reference sequences: geometric rho^-k passes, k^-a (jump a = 1, kink a = 2, a = 4) fails."""
    k = np.arange(64, dtype=float)
    for rho in (1.2, 2.0, 5.0):
        assert _sample.decays_geometrically(rho ** -k, 1e-300)
    for a in (1.0, 2.0, 4.0):
        s = (k + 1.0) ** -a
        s[1::2] *= 0.3                                        # even/odd pattern: the envelope handles it
        assert not _sample.decays_geometrically(s, 1e-300)
    assert _sample.decays_geometrically((k + 1.0) ** -2, 1.0)       # tail below the floor: nothing to say


def test_error_estimate_resolved_for_objects_built_by_arithmetic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kink = chebtucker(_f_kink, _D2, degree=128, tol=1e-4)
    smooth = chebtucker(_f_exp, _D2, degree=24, tol=1e-12)
    assert (2.0 * smooth).error_estimate()["resolved"] is True
    assert (kink + smooth).error_estimate()["resolved"] is False


class _Scaled:
    def __init__(self, k):
        self.k = k

    def __call__(self, p):
        return self.k * np.exp(p[:, 0] - p[:, 1])


def test_table_f_bound_scales_with_the_function():
    """A2: f_bound was inf at 1e200 and 0 (below the measured error) at 1e-200."""
    ref = chebtucker(_Scaled(1.0), [(0, 1), (0, 1)], degree=20, tol=1e-10, eval_method="table").table_info()
    assert ref["f_bound"] >= ref["f_error"] > 0
    for k in (1e300, 1e200, 1e-200, 1e-300):
        info = chebtucker(_Scaled(k), [(0, 1), (0, 1)], degree=20, tol=1e-10, eval_method="table").table_info()
        assert np.isfinite(info["f_bound"]) and info["f_bound"] >= info["f_error"]
        assert info["f_bound"] == pytest.approx(k * ref["f_bound"], rel=1e-3)


def test_function_check_points_capped_for_a_large_core():
    """A3: points x core entries <= 2**24 (the d = 20 rank-2 core has 2**20 entries: 16 points)."""
    assert _table.check_count(8) == 1024
    assert _table.check_count(2 ** 20) == 16
    assert _table.check_count(2 ** 40) == 16
    assert all(_table.check_count(c) * c <= 2 ** 24 for c in (2 ** 14, 2 ** 15, 3 ** 12))


def test_table_route_in_fifteen_variables_checked_against_direct_summation():
    """The capped check still works (and corners go in first): d = 15, rank 2 (core 2**15)."""
    rng = np.random.default_rng(3)
    g = GaussianSum(rng.uniform(0.5, 1.0, 2), rng.uniform(0.1, 0.3, 2), rng.uniform(-0.5, 0.5, (2, 15)))
    ct = ChebTucker.from_cp(g, [(-1, 1)] * 15, degree=16, tol=1e-8, eval_method="table")
    assert ct.stats["resolved"] is True and _table.check_count(ct.core.size) < 1024
    info = ct.table_info()
    assert info is not None and info["f_error"] <= info["f_bound"]
    X = rng.uniform(-1, 1, (50, 15))
    np.testing.assert_allclose(ct(X), g(X), rtol=0, atol=1e-7 * np.abs(g(X)).max())


def test_table_error_claim_in_ten_variables_not_only_corners():
    """In d >= 10 all 1024 check points used to be box corners, where the tables are exact, so
    error_estimate()['table'] was ~1e-17 while the routes differ by ~1e-10 at random points.
    Reference for the error the table adds: the exact Chebyshev sums at other random points."""
    rng = np.random.default_rng(5)
    g = GaussianSum(rng.uniform(0.5, 1.0, 2), rng.uniform(0.5, 2.0, 2), rng.uniform(-0.5, 0.5, (2, 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ct = ChebTucker.from_cp(g, [(-1, 1)] * 10, degree=12, tol=1e-6, eval_method="table")
    assert ct.eval_route == "table"
    ref = ChebTucker.from_result(ct.to_result())
    ref.eval_method = "chebyshev"
    X = np.random.default_rng(3).uniform(-1.0, 1.0, (150, 10))
    diff = float(np.abs(ct(X) - ref(X)).max())
    assert diff <= 10 * ct.error_estimate()["table"] + 1e-15


@pytest.mark.parametrize("tol", [float("nan"), float("inf"), 5.0, 1.0, 0.0, -1e-3, 1e-300])
def test_constructor_refuses_a_tol_outside_its_range(tol):
    # an outside tester's case: tol=nan/inf/5 passed the constructor and set the table route's accuracy target
    # to nan/inf/0.05, so the coarsest table was used and its check never failed (errors of 31 % of max|f|)
    rng = np.random.default_rng(7)
    core = rng.standard_normal((4, 4, 4))
    facs = [np.linalg.qr(rng.standard_normal((60, 4)))[0] for _ in range(3)]
    with pytest.raises(ValueError, match="tol must be in"):
        ChebTucker(core, facs, [(-1.0, 1.0)] * 3, tol=tol, eval_method="table")


@pytest.mark.parametrize("bound", [float("nan"), -1.0, "1", True])
def test_constructor_refuses_a_bad_truncation_bound(bound):
    with pytest.raises(ValueError, match="truncation_bound"):
        ChebTucker(np.ones((1, 1)), [np.ones((3, 1))] * 2, [(0, 1), (0, 1)], truncation_bound=bound)


def test_table_route_at_a_valid_loose_tol_keeps_its_target():
    # the largest valid tol: the table's target is 1e-2 * tol, and the route matches the Chebyshev sums within it
    rng = np.random.default_rng(7)
    core = rng.standard_normal((4, 4, 4))
    facs = [np.linalg.qr(rng.standard_normal((60, 4)))[0] for _ in range(3)]
    dom = [(-1.0, 1.0)] * 3
    X = rng.uniform(-1, 1, (2000, 3))
    ref = ChebTucker(core, facs, dom, eval_method="chebyshev")(X)
    ct = ChebTucker(core, facs, dom, tol=0.5, eval_method="table")
    target = ct.table_info()["target"]
    assert target == pytest.approx(5e-3)
    # the table's error is relative to each mode's scale; the value error stays within target * the core's l1 norm
    assert np.abs(ct(X) - ref).max() <= target * np.abs(core).sum()


def test_values_at_the_float_limit_say_so():
    """Outside probe helper-76: 1.7e308 cos(10 x) on [0, 1] x [2, 3] gave an overflow warning, then 'core and
    factors must be finite'; the error now names the size of f's values and the fix."""
    import warnings

    import solvers

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # no overflow warning on the way
        with pytest.raises(ValueError, match=r"max \|f\| = 1.7e\+308.*too close to the float64 limit"):
            solvers.chebtucker(lambda x: 1.7e308 * np.cos(10 * x[:, 0]), [[0, 1], [2, 3]])
