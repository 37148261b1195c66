"""Issue 7 defect classes for the OT solvers: every hostile case ends in a clear error or an
answer whose claim holds when recomputed independently (SciPy logsumexp on ``res.f``/``res.g``);
the truncated Hessian follows the plan (clustered clouds); options are refused at the boundary."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest
from scipy.special import logsumexp

import solvers
from solvers._kernels.numba import ot as numba_ot
from solvers._kernels.numpy import ot as ref

_spec = importlib.util.spec_from_file_location(
    "cases_ot", pathlib.Path(__file__).resolve().parents[1] / "hostile" / "cases_ot.py")
cases_ot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases_ot)


@pytest.mark.parametrize("name, fn", cases_ot.CASES, ids=[c[0] for c in cases_ot.CASES])
def test_hostile_case(name, fn):
    out = fn()
    outcome, detail = out if isinstance(out, tuple) else (out, "")
    assert outcome in ("clear_error", "verified"), f"{name}: {outcome}: {detail}"


def test_there_are_enough_hostile_cases():
    assert len(cases_ot.CASES) >= 40


# ---------------------------------------------------------------- class 2
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
@pytest.mark.parametrize("offset", [1e8, 1e12, 1e16])
def test_warm_start_offset_is_harmless(method, offset, rng):
    """A constant offset in f0 is a gauge change: same answer, verified on the returned plan."""
    C, a, b = rng.random((9, 7)), np.full(9, 1 / 9), np.full(7, 1 / 7)
    res = getattr(solvers, method)(C, a, b, eps=1e-2, tol=1e-9, f0=np.full(9, offset), backend="numba")
    assert res.converged, res.message
    err = cases_ot.true_error(C, a, b, res.f, res.g, 1e-2)
    assert err <= 1e-9 * (1 + 1e-6), (err, res.message)
    assert res.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-15)


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_unreachable_accuracy_is_said_with_the_floor(method, rng):
    """C = 1e8 + U(0, 1) at eps = 1e-4: |f| + |g| ~ 1e8 limit the plan to ~1e-4 relative error per
    entry; no false claim, and the message gives the computed rounding floor."""
    C = 1e8 + rng.random((5, 5))
    a = b = np.full(5, 0.2)
    res = getattr(solvers, method)(C, a, b, eps=1e-4, tol=1e-8, maxiter=300, backend="numba")
    err = cases_ot.true_error(C, a, b, res.f, res.g, 1e-4)
    if res.converged:
        assert err <= 1e-8
    else:
        assert res.marginal_error == pytest.approx(err, rel=1e-6)
        if res.status == "stagnated":
            assert "rounding" in res.message and "about" in res.message


def test_eps_1e_300_claim_matches_plan():
    """The property-test example: eps = 1e-300, C ~ 1e-300, f0 = 1e8 used to claim 0 error (true 0.94)."""
    C = np.full((1, 1), 0.6e-300)
    res = solvers.sinkhorn(C, np.ones(1), np.ones(1), eps=1e-300, tol=1e-8, f0=np.full(1, 1e8))
    err = cases_ot.true_error(C, np.ones(1), np.ones(1), res.f, res.g, 1e-300)
    assert res.converged and err <= 1e-8, (err, res.message)


def test_eps_whose_inverse_overflows_is_refused():
    with pytest.raises(ValueError, match="eps"):
        solvers.sinkhorn(np.ones((2, 2)), eps=1e-310)


def test_log_marginals_kernels_agree_and_sum_first(rng):
    """log P1 / log P^T 1 with (f + g - C) summed before dividing: exact where f/eps would overflow."""
    C = rng.random((7, 5)) * 1e-300
    f, g = np.full(7, 1e-300), -C.min(axis=0)
    for K in (ref, numba_ot):
        lr, lc = K.log_marginals(K.prepare_cost(C), f, g, 1e-300)
        Z = (f[:, None] + g[None, :] - C) / 1e-300
        np.testing.assert_allclose(lr, logsumexp(Z, axis=1), rtol=1e-13)
        np.testing.assert_allclose(lc, logsumexp(Z, axis=0), rtol=1e-13)


# ---------------------------------------------------------------- class 3
def _true(C, a, b, res, eps):
    return cases_ot.true_error(C, a, b, res.f, res.g, eps)


@pytest.mark.parametrize("seed, weighted", [(3, True), (0, True), (0, False), (1, False)])
def test_clustered_clouds_converge_like_a_dense_hessian(seed, weighted):
    """5 clusters of 40 points (sigma 1e-3) at eps 1e-3, default cap max(16, n // 10) = 20 < 40:
    a fixed cap stagnated; the mass-share rule converges within 2x the Newton steps of a dense
    Hessian (kmax = n), both checked on the returned plan."""
    C, a, b = cases_ot.clusters(seed=seed, weighted=weighted)
    res = solvers.sns(C, a, b, eps=1e-3, tol=1e-8, backend="numba")
    dense = solvers.sns(C, a, b, eps=1e-3, tol=1e-8, kmax=C.shape[1], backend="numba")
    assert res.converged and _true(C, a, b, res, 1e-3) <= 1e-8, res.message
    assert dense.converged and _true(C, a, b, dense, 1e-3) <= 1e-8
    assert res.stats["newton_steps"] <= 2 * dense.stats["newton_steps"] + 5


@pytest.mark.parametrize("share", [0.0, 0.5, 0.99, 1 - 1e-9])
@pytest.mark.parametrize("kmax", [3, 10])
def test_share_rule_numba_matches_reference(rng, share, kmax):
    C = rng.random((23, 31))
    C[:, :12] *= 1e-3                                      # a flat block wider than the cap
    f, g = rng.standard_normal(23) * 1e-3, rng.standard_normal(31) * 1e-3
    eps = 1e-2
    want = ref.sparse_plan(ref.prepare_cost(C), f, g, eps, 1e-8, kmax, share)
    fast = numba_ot.prepare_cost(C)
    for got in (numba_ot.sparse_plan(fast, f, g, eps, 1e-8, kmax, share),
                numba_ot.row_lse_sparse(fast, g, f, eps, 1e-8, kmax, share)[1]):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-13)
    P = np.exp((f[:, None] + g[None, :] - C) / eps)
    kept = np.add.reduceat(want[2], want[0][:-1]) if want[2].size else np.zeros(23)
    counts = np.diff(want[0])
    for i in range(23):
        if counts[i] > kmax:                                # beyond the cap only to reach the share
            top = np.sort(P[i])[::-1]
            assert kept[i] >= share * P[i].sum() * (1 - 1e-12)
            assert top[:counts[i] - 1].sum() < share * P[i].sum()
        else:
            assert counts[i] == min(kmax, (P[i] >= 1e-8 * P[i].max()).sum())


def test_stagnation_message_states_a_floor_only_when_it_is_one(rng):
    """Any non-converged SNS result reports the error of the potentials it returns, and calls the
    error a rounding floor only when it is within 10x of the floor computed for them."""
    C, a, b = cases_ot.clusters(per=20)
    for kw in ({"maxiter": 2}, {"maxiter": 1, "kmax": 1, "rho": 0.5}):
        res = solvers.sns(C, a, b, eps=1e-4, tol=1e-12, backend="numba", **kw)
        err = _true(C, a, b, res, 1e-4)
        assert res.marginal_error == pytest.approx(err, rel=1e-6)
        if "floor of the potentials" in res.message:
            assert res.status == "stagnated"
        assert res.history["marginal_error"][-1] == pytest.approx(err, rel=1e-4)


# ---------------------------------------------------------------- classes 1, 5, 6
def test_mutated_problem_is_checked_again():
    from problems import ot

    p = ot.EntropicOT(np.random.default_rng(0).random((4, 3)), eps=0.1)
    p.C[0, 0] = np.nan
    with pytest.raises(ValueError, match="problem.C"):
        solvers.sinkhorn(p)


def test_large_budgets_allocate_lazily():
    C = np.random.default_rng(0).random((5, 5))
    res = solvers.sinkhorn(C, eps=0.1, maxiter=10**15)
    assert res.converged and res.history["marginal_error"].size == res.nit + 1
    assert solvers.sns(C, eps=0.1, max_sinkhorn=10**15, n_fallback=10**15).converged


@pytest.mark.parametrize("fn, name", [
    (lambda K, c: K.row_lse(c, np.zeros(3), 0.1), "g"),
    (lambda K, c: K.g_update(c, np.zeros(4), np.zeros(5), 0.1, np.empty(5)), "f"),
    (lambda K, c: K.plan_cost(c, np.zeros(4), np.zeros(5), 0.1), "f"),
    (lambda K, c: K.sparse_plan(c, np.zeros(4), np.zeros(5), 0.1, 1e-3, 2), "f"),
    (lambda K, c: K.log_marginals(c, np.zeros(6), np.zeros(4), 0.1), "g"),
])
@pytest.mark.parametrize("K", [ref, numba_ot], ids=["numpy", "numba"])
def test_kernel_entries_check_lengths(K, fn, name):
    c = K.prepare_cost(np.random.default_rng(1).random((6, 5)))
    with pytest.raises(ValueError, match=f"{name} has shape"):
        fn(K, c)


def test_history_and_result_agree_on_the_returned_pair(rng):
    C = rng.random((30, 20))
    for method in ("sinkhorn", "sns"):
        res = getattr(solvers, method)(C, eps=1e-2, tol=1e-10, backend="numba")
        err = _true(C, np.full(30, 1 / 30), np.full(20, 1 / 20), res, 1e-2)
        assert math.isclose(res.marginal_error, err, rel_tol=1e-6, abs_tol=1e-15)


# -- a float32 cost matrix: kept as it is (half the memory), solved as float64(C) ------------------

def _f32_problem(rng, n=40, m=30, scale=1.0):
    x, y = rng.random((n, 2)), rng.random((m, 2))
    return (((x[:, None] - y[None]) ** 2).sum(-1) * scale).astype(np.float32)


def test_float32_cost_is_not_copied_and_matches_pot(rng, monkeypatch):
    """No upcast copy at the input boundary or in the problem; the answer is POT's for the float64
    values of the same matrix (sinkhorn and sns, numpy set; the numba set compiles its kernels for
    float32 too -- checked at kernel level below, the solves in benchmarks/ot_sns.py --float32)."""
    import tracemalloc

    from problems.ot import EntropicOT
    from solvers.ot import _common

    from .test_exact import import_pot

    assert _common.cost_dtype(np.ones((1024, 1024), dtype=np.float32)) == np.float32
    assert _common.cost_dtype(np.ones((10, 10), dtype=np.float32)) == np.float64    # small: copied
    monkeypatch.setattr(_common, "FLOAT32_KEEP_MIN", 0)     # small float32 C kept (numpy set here)
    big = EntropicOT(_f32_problem(rng, 400, 300), eps=5e-2)
    tracemalloc.start()
    try:
        inputs = _common.read_inputs("sns", big, None, None, None, "numpy", None, None)
        geom = inputs.geometry()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert inputs.C is big.C and geom.C is big.C and peak < 0.1 * big.C.nbytes
    C32 = _f32_problem(rng)
    p = EntropicOT(C32, eps=5e-2)
    assert p.C is C32
    pot = import_pot()
    if pot is None:
        pytest.skip("POT is not installed")
    P = pot.sinkhorn(p.a, p.b, C32.astype(np.float64), 5e-2, method="sinkhorn_log", numItermax=50_000,
                     stopThr=1e-13)
    for solve in (solvers.sinkhorn, solvers.sns):
        res = solve(p, tol=1e-10, backend="numpy")
        assert res.converged, res.message
        np.testing.assert_allclose(res.plan(), P, atol=1e-10)
        assert res.cost == pytest.approx(float((P * C32.astype(np.float64)).sum()), rel=1e-9)


def test_float32_numba_kernels_read_float32_exactly(rng):
    from solvers._kernels.numba import ot as nbo

    C32 = _f32_problem(rng, 50, 40)
    g, f = rng.standard_normal(40) * 0.01, rng.standard_normal(50) * 0.01
    c32, c64 = nbo.prepare_cost(C32), nbo.prepare_cost(C32.astype(np.float64))
    np.testing.assert_allclose(nbo.row_lse(c32, g, 1e-2), nbo.row_lse(c64, g, 1e-2), rtol=1e-15)
    np.testing.assert_allclose(nbo.col_lse(c32, f, 1e-2), nbo.col_lse(c64, f, 1e-2), rtol=1e-15)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_float32_huge_and_tiny_scales(rng, monkeypatch, scale):
    """float32 costs near the ends of its range: solved with eps on the same scale (the problem is
    scale-free), the plan equals the unit-scale plan; NaN/inf in a float32 C are refused."""
    from solvers.ot import _common

    monkeypatch.setattr(_common, "FLOAT32_KEEP_MIN", 0)
    C = _f32_problem(rng, 20, 15)
    Cs = (C.astype(np.float64) * scale).astype(np.float32)
    ref_plan = solvers.sns(Cs.astype(np.float64) / scale, eps=5e-2, tol=1e-10, backend="numpy").plan()
    res = solvers.sns(Cs, eps=5e-2 * scale, tol=1e-10, backend="numpy")
    assert res.converged, res.message
    np.testing.assert_allclose(res.plan(), ref_plan, atol=1e-6)
    bad = C.copy()
    bad[1, 2] = np.float32(np.inf) if scale > 1 else np.float32(np.nan)
    for solve in (solvers.sinkhorn, solvers.sns):
        with pytest.raises(ValueError, match="NaN or inf"):
            solve(bad, eps=0.1, backend="numpy")


# ---- hostile findings O1-O3 (2026-11-30) --------------------------------------------------

@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8, -3e12])
@pytest.mark.parametrize("kind", ["sqeuclidean", "euclidean"])
def test_pairwise_cost_far_from_origin_matches_direct_differences(offset, kind):
    """O1: clouds far from the origin; reference: the direct (x - y)^2 sums (no cancellation)."""
    from problems.ot import pairwise_cost
    rng = np.random.default_rng(0)
    for n, m, d in ((6, 5, 2), (40, 31, 3)):
        x, y = offset + rng.random((n, d)), offset + 2.0 * rng.random((m, d))
        ref = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        if kind == "euclidean":
            ref = np.sqrt(ref)
        C = pairwise_cost(x, y, kind)
        assert np.abs(C - ref).max() <= 1e-12 * ref.max()


def test_from_points_far_from_origin_matches_direct_differences():
    from problems.ot import EntropicOT
    rng = np.random.default_rng(1)
    x, y = 1e8 + rng.random((7, 2)), 1e8 + rng.random((9, 2))
    ref = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    prob = EntropicOT.from_points(x, y, eps=0.1)
    assert np.abs(prob.C - ref).max() <= 1e-12 * ref.max()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_pairwise_cost_refuses_non_finite_points(bad):
    """O2: float64 2-D input takes the fast path; NaN/inf must still be refused, naming the argument."""
    from problems.ot import pairwise_cost
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        pairwise_cost(np.array([[bad, 0.0]]), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        pairwise_cost(np.zeros((2, 2)), np.array([[0.0, bad]]))


def test_auto_domain_kernel_when_sinkhorn_is_chosen():
    """O3: domain='kernel' is an sns value; when auto picks sinkhorn it becomes sinkhorn's 'auto'."""
    from solvers.ot.auto import auto
    C = np.random.default_rng(0).random((6, 5))
    res = auto(C, eps=10.0, domain="kernel", tol=1e-10)
    assert res.stats["auto_choice"] == "sinkhorn"
    assert "domain='kernel'" in res.stats["auto_domain"]
    assert res.converged
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    assert cases_ot.true_error(C, a, b, res.f, res.g, 10.0) <= 1e-10 * (1 + 1e-6)
    res2 = auto(C, eps=1e-5, domain="kernel")
    assert res2.stats["auto_choice"] == "sns" and "auto_domain" not in res2.stats


@pytest.mark.parametrize("big", [1e200, 1e300, 1e306])
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_cost_of_forbidden_pairs_is_zero(big, method):
    # the one-pass summary kernel counted entries 700 below their row maximum as exp(-700): times a cost of
    # 1e306 that added ~1e2 to res.cost of a converged solve (0.0877 reported 266.6); reference: <P, C> of the
    # returned plan, whose forbidden entries are exactly 0, summed over the allowed pairs only
    rng = np.random.default_rng(5)
    C = rng.random((60, 40))
    forbid = rng.random(C.shape) < 0.3
    C[forbid] = big
    a, b = np.full(60, 1 / 60), np.full(40, 1 / 40)
    r = getattr(solvers, method)(C, a, b, eps=0.1, tol=1e-9, backend="numba")
    assert r.converged
    P = np.asarray(r.plan())
    assert np.all(P[forbid] == 0.0)
    ref = float((P[~forbid] * C[~forbid]).sum())
    assert abs(r.cost - ref) <= 1e-12 * ref


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_callback_potentials_are_full_size_with_zero_weights(method):
    rng = np.random.default_rng(0)
    C = rng.random((5, 4))
    a, b = np.array([0.0, 0.25, 0.25, 0.25, 0.25]), np.array([0.5, 0.0, 0.25, 0.25])
    seen, xs = [], []
    fn = getattr(solvers, method)
    r = fn(C, a, b, eps=0.1, tol=1e-9, callback=lambda intermediate_result: seen.append(intermediate_result))
    fn(C, a, b, eps=0.1, tol=1e-9, callback=lambda xk: xs.append(xk.shape))
    last = seen[-1]
    assert last.f.shape == r.f.shape == (5,) and last.g.shape == r.g.shape == (4,) and xs[-1] == r.x.shape == (9,)
    assert np.isneginf(last.f[0]) and np.isneginf(last.g[1])
    np.testing.assert_allclose(last.f[1:], r.f[1:], rtol=1e-6, atol=1e-9)
    warm = fn(C, a, b, eps=0.1, tol=1e-9, f0=last.f)              # the callback's f is a valid warm start
    assert warm.converged


@pytest.mark.parametrize("data", [None, {"C": np.ones((2, 2))}, 3.0])
def test_auto_names_itself_for_data_that_is_not_a_problem(data):
    from solvers.ot.auto import auto

    with pytest.raises(TypeError, match="^auto: expected an EntropicOT"):   # was labelled 'sns:'
        auto(data, eps=0.1)


@pytest.mark.parametrize("method", ["sinkhorn", "sns", "auto"])
def test_a_cost_range_that_overflows_is_not_claimed_converged(method):
    """Outside probe helper-80: entries of +-1e308 are finite, but max - min overflows: at eps = 1 no solver can
    reach the tolerance, and none claims to (a refusal up front would also refuse the solvable eps = 1e300 case
    of test_session7_ot); the rescaled problem converges."""
    rng = np.random.default_rng(0)
    C = rng.choice([-1e308, 1e308], size=(20, 30))
    a, b = np.full(20, 1 / 20), np.full(30, 1 / 30)
    fn = getattr(solvers, method) if method != "auto" else solvers.ot.auto
    with np.errstate(all="ignore"):
        assert not fn(C, a, b, eps=1.0, maxiter=200).converged
    assert fn(C / 1e308, a, b, eps=1e-2).converged


def test_auto_names_itself_for_eps_beside_a_problem():
    """helper-80: auto(problem, eps=...) said 'sinkhorn: eps comes from the problem'."""
    from problems import ot

    p = ot.EntropicOT(np.random.default_rng(1).random((5, 6)), eps=0.01)
    with pytest.raises(TypeError, match="^auto: eps comes from the problem"):
        solvers.ot.auto(p, eps=1e-2)
