"""Session 7, outsider tests of optimal transport (solvers.sinkhorn / sns / auto, the OT kernel sets,
problems.ot).

Every claim is checked against an independent reference measured on what was returned: the plan
``exp((f_i + g_j - C_ij) / eps)`` recomputed here with ``scipy.special.logsumexp``, POT
(``ot.sinkhorn`` / ``ot.emd2``), or a closed form (one-point marginals, constant costs).
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp

import solvers
from problems.ot import EntropicOT
from solvers._kernels.numba import ot as NB
from solvers._kernels.numpy import ot as NP
from tests.ot.test_exact import import_pot   # POT with the test package tests/ot out of the way

ot = import_pot()
if ot is None or not hasattr(ot, "emd2"):
    pytest.skip("POT is not installed", allow_module_level=True)


# ---------------------------------------------------------------------------------------------- references
def log_plan(C, f, g, eps):
    """``(f_i + g_j - C_ij) / eps``, summed before dividing (the plan's exponent)."""
    return (np.asarray(f, float)[:, None] + np.asarray(g, float)[None, :] - np.asarray(C, float)) / eps


def true_error(C, a, b, f, g, eps) -> float:
    """L1 marginal error of the plan of ``(f, g)``, each term relative to its weight (SciPy LSE)."""
    Z = log_plan(C, f, g, eps)
    with np.errstate(over="ignore", invalid="ignore"):
        er = np.sum(a * np.abs(np.expm1(logsumexp(Z, axis=1) - np.log(a))))
        ec = np.sum(b * np.abs(np.expm1(logsumexp(Z, axis=0) - np.log(b))))
    return float(er + ec)


def true_cost(C, f, g, eps) -> float:
    return float((np.exp(log_plan(C, f, g, eps)) * C).sum())


def random_problem(n, m, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    C = rng.random((n, m)) * scale
    a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
    return C, a / a.sum(), b / b.sum()


# ---------------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("eps", [1e-20, 1e-100, 1e-200, 1e-300])
def test_numba_column_lse_is_finite_and_matches_reference_at_tiny_eps(eps):
    """Defect (fixed): the numba column pass ``lse_cols`` returned inf/NaN for a 2 x 2 cost at
    eps = 1e-100 (the FMA-contracted ``z * inv_eps - mx`` of the column's own maximum came out
    positive, and the fast exp of a positive argument overflowed); so g_update, log_marginals and
    sinkhorn(backend='numba') produced NaN potentials where the NumPy reference is finite."""
    rng = np.random.default_rng(7)
    C = rng.random((6, 4))
    f, g = rng.random(6) * 0.1, rng.random(4) * 0.1
    cn, cp = NB.prepare_cost(C), NP.prepare_cost(C)
    ref_col = logsumexp((f[:, None] - C) / eps, axis=0)
    got = NB.col_lse(cn, f, eps)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref_col, rtol=1e-12)
    np.testing.assert_allclose(NP.col_lse(cp, f, eps), ref_col, rtol=1e-12)
    lr, lc = NB.log_marginals(cn, f, g, eps)
    Z = log_plan(C, f, g, eps)
    np.testing.assert_allclose(lr, logsumexp(Z, axis=1), rtol=1e-12)
    np.testing.assert_allclose(lc, logsumexp(Z, axis=0), rtol=1e-12)
    b = np.full(4, 0.25)
    out = NB.g_update(cn, f, np.log(b), eps, np.empty(4))
    np.testing.assert_allclose(out, eps * (np.log(b) - ref_col), rtol=1e-12)


def test_numba_sinkhorn_at_eps_1e_300_matches_numpy_backend():
    C, a, b = np.random.default_rng(1).random((6, 4)), np.full(6, 1 / 6), np.full(4, 1 / 4)
    rn = solvers.sinkhorn(C, a, b, eps=1e-300, maxiter=20, domain="log", backend="numba")
    rp = solvers.sinkhorn(C, a, b, eps=1e-300, maxiter=20, domain="log", backend="numpy")
    assert np.isfinite(rn.f).all() and np.isfinite(rn.g).all(), rn.message
    np.testing.assert_allclose(rn.g, rp.g, rtol=1e-12)
    np.testing.assert_allclose(rn.f, rp.f, rtol=1e-12, atol=10 * 1e-300)   # within the rounding of C / eps
    assert rn.status == rp.status
    assert not rn.converged


# ---------------------------------------------------------------------------------------------- SNS
# a 7 x 5 problem on which SNS (and so solve(method="auto")) ended "stagnated" at L1 error 0.86
# at eps = 1e-4 and 1e-8: the Newton steps raised the dual steadily while the marginal error sat
# on a plateau, and 30 steps without a new best error ended the run
PLATEAU_C = np.array([
    [0.5863003535907844, 0.12269066017607344, 0.9337689099568427, 0.684050448075033, 0.8237813583927717],
    [0.8968012322637599, 0.5833200469234759, 0.0402182209046007, 0.711486824117758, 0.5690258542633582],
    [0.8259572221703992, 0.5321604734743441, 0.8132440953641924, 0.9970102930724918, 0.35055481136788813],
    [0.1710214400206741, 0.3916747994539028, 0.7530499898656764, 0.43922893185830647, 0.5883801094292148],
    [0.12735847192167105, 0.7261235109339803, 0.28008240186649946, 0.19061756040401823, 0.8629499985831945],
    [0.5644128211205941, 0.48449894234625035, 0.8988237652484845, 0.08601243606100262, 0.6961544503408927],
    [0.32798228976460253, 0.17540974998508108, 0.6747986499672789, 0.3628219508629361, 0.32989583249393584]])
PLATEAU_A = np.array([0.2684565543953731, 0.05669620267309784, 0.14570267574525278, 0.0068312525204718,
                      0.04647479940795796, 0.25131412231800526, 0.22452439293984128])
PLATEAU_B = np.array([0.2700231799301198, 0.10787310515358348, 0.27046547597592946, 0.00589014828416179,
                      0.34574809065620543])


def check_against_emd(res, C, a, b, eps, tol):
    """The claim against the recomputed plan and POT's exact optimum: ``emd2 <= <P, C> <=
    emd2 + eps (log n + log m)`` (plus the slack of the marginal error)."""
    err = true_error(C, a, b, res.f, res.g, eps)
    assert res.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-15)
    assert err <= tol, res.message
    cost = true_cost(C, res.f, res.g, eps)
    assert res.cost == pytest.approx(cost, rel=1e-9)
    lo = ot.emd2(a, b, C)
    n, m = C.shape
    slack = tol * np.abs(C).max()
    assert lo - slack <= cost <= lo + eps * (np.log(n) + np.log(m)) + slack


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("eps", [1e-4, 1e-8])
@pytest.mark.parametrize("method", ["sns", "auto"])
def test_sns_goes_on_while_the_dual_rises_on_an_error_plateau(backend, eps, method):
    C, a, b = PLATEAU_C, PLATEAU_A, PLATEAU_B
    res = solvers.solve(EntropicOT(C, a, b, eps=eps), method=method, tol=1e-8, backend=backend)
    assert res.converged, res.message
    assert res.method == "sns"
    check_against_emd(res, C, a, b, eps, 1e-8)


@pytest.mark.parametrize("domain", ["auto", "kernel", "log"])
def test_sns_with_a_row_of_costs_near_1e200_does_not_raise(domain):
    """Defect (fixed): the Newton direction handed CG a right-hand side with inf (an overflowing
    plan entry) and CG's input check escaped as 'ValueError: b contains NaN or inf' -- about an
    argument ``b`` the caller never passed. Now that step falls back to Sinkhorn steps and the
    result says honestly what it reached."""
    rng = np.random.default_rng(0)
    C0 = rng.random((6, 5))
    C = np.vstack([C0[:-1], 1e200 + C0[-1:]])
    a, b = np.full(6, 1 / 6), np.full(5, 1 / 5)
    res = solvers.sns(C, a, b, eps=0.01, tol=1e-8, domain=domain)
    err = true_error(C, a, b, res.f, res.g, 0.01) if np.isfinite(res.f).all() and np.isfinite(res.g).all() \
        else np.nan
    if res.converged:
        assert err <= 1e-8
    elif np.isfinite(err):
        assert res.marginal_error == pytest.approx(err, rel=1e-6)
    else:
        assert not np.isfinite(res.marginal_error)
    assert len(res.message) > 20


# ---------------------------------------------------------------------------------------------- method="auto"
def test_auto_on_costs_spanning_more_than_the_double_range():
    """Defect (fixed): C.max() - C.min() overflowed to inf for costs -1.5e308 .. 1.5e308, and the
    rule then took the 'constant cost matrix' branch: Sinkhorn at eps / range = 3.3e-9, 100 000
    iterations to an L1 error of 0.33, with stats['auto_eps_rel'] = nan."""
    C = np.array([[1.5e308, -1.5e308, 0.0], [-1.5e308, 1.5e308, 1e307]])
    a, b = np.full(2, 0.5), np.full(3, 1 / 3)
    eps = 1e300
    res = solvers.solve(EntropicOT(C, a, b, eps=eps), method="auto", tol=1e-6)
    assert res.stats["auto_eps_rel"] == pytest.approx((eps / 3) / 1e308, rel=1e-12)
    assert "constant" not in res.stats["auto_reason"]
    assert res.stats["auto_choice"] == "sns" and res.method == "sns"
    err = true_error(C, a, b, res.f, res.g, eps)
    assert res.marginal_error == pytest.approx(err, rel=1e-6)
    assert res.converged and err <= 1e-6, res.message


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_auto_constant_cost_gives_the_product_plan(backend):
    """Closed form: for a constant cost every plan costs the same and the entropic optimum is
    ``a b^T / sum(a)``."""
    rng = np.random.default_rng(3)
    a, b = rng.random(5) + 0.1, rng.random(3) + 0.1
    a, b = a / a.sum() * 2.5, b / b.sum() * 2.5
    C = np.full((5, 3), 7.0)
    res = solvers.solve(EntropicOT(C, a, b, eps=0.1), method="auto", tol=1e-10, backend=backend)
    assert res.converged and "constant" in res.stats["auto_reason"]
    np.testing.assert_allclose(res.plan(), np.outer(a, b) / 2.5, rtol=1e-9)
    assert res.cost == pytest.approx(7.0 * 2.5, rel=1e-12)


# ---------------------------------------------------------------------------------------------- total mass
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mass", [1e-200, 1e8, 1e200])
def test_sns_is_invariant_under_scaling_the_mass(backend, mass):
    """Defect (fixed): SNS's thresholds (Marquardt shift mu * err, switch_tol, polish_above, the
    float32 range) are absolute, so the same problem with a, b (and tol) multiplied by 1e8 or
    1e200 ended at maxiter with a relative error of 0.26 / 0.013, where mass 1 converges in 45
    rows. The reference: the plan scales with the mass (P(s a, s b) = s P(a, b)); errors, cost,
    history and the callback's view are checked on the returned potentials."""
    C, a, b = random_problem(30, 20, 0)
    eps, tol = 1e-3, 1e-9
    ref = solvers.sns(C, a, b, eps=eps, tol=tol, backend=backend)
    assert ref.converged
    seen = []

    def cb(intermediate_result):
        seen.append((intermediate_result.f.copy(), intermediate_result.g.copy(),
                     intermediate_result.marginal_error))

    res = solvers.sns(C, a * mass, b * mass, eps=eps, tol=tol * mass, backend=backend, callback=cb)
    assert res.converged, res.message
    assert res.nit <= ref.nit + 5
    err = true_error(C, a * mass, b * mass, res.f, res.g, eps)
    assert err <= tol * mass and res.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-13 * mass)
    assert res.cost == pytest.approx(mass * ref.cost, rel=1e-8)
    np.testing.assert_allclose(res.plan(), mass * ref.plan(), rtol=1e-6, atol=1e-12 * mass)
    assert res.history["marginal_error"][-1] == pytest.approx(res.marginal_error, rel=1e-3, abs=0.05 * tol * mass)
    # the callback sees the potentials and errors of the problem as posed
    f, g, e = seen[-1]
    assert true_error(C, a * mass, b * mass, f, g, eps) == pytest.approx(e, rel=1e-3, abs=1e-12 * mass)


# ---------------------------------------------------------------------------------------------- plans, point clouds
@pytest.fixture(scope="module")
def zero_weight_result():
    rng = np.random.default_rng(0)
    C = rng.random((6, 5))
    a, b = np.array([0.5, 0, 0.25, 0, 0.25, 0]), np.array([0, 0.5, 0.5, 0, 0.0])
    return C, a, b, solvers.sinkhorn(C, a, b, eps=0.05, tol=1e-10)


@pytest.mark.parametrize("kw, exc, fragment", [
    ({"dense": False, "threshold": float("nan")}, ValueError, "threshold"),   # was: an empty plan
    ({"dense": False, "threshold": 2.0}, ValueError, "threshold"),            # was: an empty plan
    ({"dense": False, "threshold": -1.0}, ValueError, "threshold"),
    ({"dense": False, "threshold": "x"}, TypeError, "threshold"),             # was: float() error
    ({"dense": "yes"}, TypeError, "dense"),                                   # was: taken as True
    ({"dense_max": -1}, ValueError, "dense_max"),                             # was: sparse, silently
    ({"dense_max": float("nan")}, ValueError, "dense_max"),
    ({"dense_max": "big"}, ValueError, "dense_max"),                          # was: '<=' TypeError
])
def test_plan_arguments_are_checked(zero_weight_result, kw, exc, fragment):
    res = zero_weight_result[3]
    with pytest.raises(exc, match=fragment):
        res.plan(**kw)


def test_plan_of_a_pickled_zero_weight_result_is_the_recomputed_plan(zero_weight_result):
    C, a, b, res = zero_weight_result
    back = pickle.loads(pickle.dumps(res))
    f, g = np.asarray(back.f), np.asarray(back.g)
    ref = np.zeros_like(C)
    ia, ib = a > 0, b > 0
    ref[np.ix_(ia, ib)] = np.exp(log_plan(C[np.ix_(ia, ib)], f[ia], g[ib], 0.05))
    np.testing.assert_allclose(back.plan(), ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(back.plan(dense=False, threshold=0.0).toarray(), ref, rtol=1e-12, atol=0)
    assert np.abs(ref.sum(1) - a).sum() + np.abs(ref.sum(0) - b).sum() <= 1e-10
    assert back.cost == pytest.approx((ref * C).sum(), rel=1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e160, 1e200, 1e300])
def test_euclidean_distances_of_tiny_and_huge_point_clouds(scale):
    """Defect (fixed): pairwise_cost formed |x|^2 + |y|^2 - 2 x.y, whose squares underflow or
    overflow although the distances are representable: euclidean distances of points of size
    1e-200 came out exactly 0 (a constant cost, silently), and from_points refused points of
    size 1e160 as 'overflow'. The reference is the distance of the points divided by ``scale``
    first (exact: a power of ten in the points)."""
    from problems.ot.entropic import pairwise_cost

    rng = np.random.default_rng(4)
    x0, y0 = rng.random((5, 3)), rng.random((4, 3))
    ref = np.sqrt(((x0[:, None, :] - y0[None, :, :]) ** 2).sum(-1)) * scale
    got = pairwise_cost(x0 * scale, y0 * scale, "euclidean")
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    prob = EntropicOT.from_points(x0 * scale, y0 * scale, cost="euclidean", eps=1e-2 * scale)
    np.testing.assert_allclose(prob.C, ref, rtol=1e-12)
    res = solvers.sinkhorn(prob, tol=1e-9)
    assert res.converged
    assert true_error(prob.C, prob.a, prob.b, res.f, res.g, prob.eps) <= 1e-9


def test_squared_distances_of_small_points_are_exact_powers_of_two_rescalings():
    """sqeuclidean of points of size 1e-160: the squares (1e-320) are subnormal; they were formed
    as differences of subnormal squares (1e-2 relative error). Reference: the unit cost scaled by
    an exact power of two (and bit-identical results for ordinary scales)."""
    from problems.ot.entropic import pairwise_cost

    rng = np.random.default_rng(5)
    x0, y0 = rng.random((5, 2)), rng.random((4, 2))
    s = 2.0 ** -500          # squares about 1e-301: normal numbers
    np.testing.assert_allclose(pairwise_cost(x0 * s, y0 * s), pairwise_cost(x0, y0) * s * s, rtol=1e-13)
    s = 2.0 ** -531          # squares about 1e-320: subnormal, spacing 5e-324
    np.testing.assert_allclose(pairwise_cost(x0 * s, y0 * s), pairwise_cost(x0, y0) * s * s, rtol=2e-3)
    np.testing.assert_array_equal(pairwise_cost(x0 * 2.0 ** 20, y0 * 2.0 ** 20),
                                  pairwise_cost(x0, y0) * 2.0 ** 40)


# ---------------------------------------------------------------------------------------------- POT's own cases
# In the spirit of POT's test/test_bregman.py (test_sinkhorn, test_sinkhorn_variants, sinkhorn2's
# loss): 100 Gaussian points, uniform weights, squared Euclidean ``ot.dist``, reg 1 -- and the same
# at a small regularisation, where POT needs its log-domain method, and a non-square weighted case.
def _pot_cloud(n=100, m=None, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 2)
    y = x if m is None else rng.randn(m, 2)
    return x, y, ot.dist(x, y)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["sinkhorn", "sns", "auto"])
def test_pot_test_sinkhorn_case(backend, method):
    _, _, M = _pot_cloud()
    u = ot.utils.unif(100)
    G = ot.sinkhorn(u, u, M, 1, stopThr=1e-12, method="sinkhorn_log", numItermax=100000)
    res = solvers.solve(EntropicOT(M, u, u, eps=1.0), method=method, tol=1e-10, backend=backend)
    assert res.converged, res.message
    P = res.plan()
    np.testing.assert_allclose(P.sum(1), u, atol=1e-10)
    np.testing.assert_allclose(P.sum(0), u, atol=1e-10)
    np.testing.assert_allclose(P, G, atol=1e-9)
    # POT's sinkhorn2 loss is <P, M> of its plan
    assert res.cost == pytest.approx(ot.sinkhorn2(u, u, M, 1, stopThr=1e-12, method="sinkhorn_log"), rel=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_pot_small_reg_non_square_weighted_case(backend, method):
    """reg = 5e-3 x the cost range, 60 x 40 with random weights: POT's log-domain Sinkhorn as the
    reference plan, emd2 as the lower bound of <P, M>."""
    _, _, M = _pot_cloud(60, 40, seed=3)
    rng = np.random.RandomState(4)
    a, b = rng.rand(60) + 0.1, rng.rand(40) + 0.1
    a, b = a / a.sum(), b / b.sum()
    eps = 5e-3 * float(M.max() - M.min())
    G = ot.sinkhorn(a, b, M, eps, stopThr=1e-13, method="sinkhorn_log", numItermax=200000)
    res = getattr(solvers, method)(M, a, b, eps=eps, tol=1e-10, backend=backend)
    assert res.converged, res.message
    check_against_emd(res, M, a, b, eps, 1e-10)
    np.testing.assert_allclose(res.plan(), G, atol=1e-8)


# ---------------------------------------------------------------------------------------------- property
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       log_scale=st.integers(-100, 100), log_mass=st.integers(-5, 5), log_rel_eps=st.floats(-3.0, 1.0),
       method=st.sampled_from(["sinkhorn", "sns", "auto"]), backend=st.sampled_from(["numpy", "numba"]))
def test_every_claim_matches_the_recomputed_plan(n, m, seed, log_scale, log_mass, log_rel_eps, method, backend):
    rng = np.random.default_rng(seed)
    scale, mass = 10.0 ** log_scale, 10.0 ** log_mass
    C = rng.random((n, m)) * scale
    a, b = rng.random(n), rng.random(m)
    a[rng.random(n) < 0.25] = 0.0
    b[rng.random(m) < 0.25] = 0.0
    a[rng.integers(n)] += 0.5
    b[rng.integers(m)] += 0.5
    a, b = a / a.sum() * mass, b / b.sum() * mass
    eps = 10.0 ** log_rel_eps * scale
    tol = 1e-9 * mass
    res = solvers.solve(EntropicOT(C, a, b, eps=eps), method=method, tol=tol, backend=backend)
    f, g = np.asarray(res.f), np.asarray(res.g)
    ia, ib = a > 0, b > 0
    assert np.all(f[~ia] == -np.inf) and np.all(g[~ib] == -np.inf)
    assert np.isfinite(f[ia]).all() and np.isfinite(g[ib]).all(), res.message
    Cs = C[np.ix_(ia, ib)]
    err = true_error(Cs, a[ia], b[ib], f[ia], g[ib], eps)
    assert res.marginal_error == pytest.approx(err, rel=1e-4, abs=1e-13 * mass)
    assert res.converged == (res.status == "converged")
    if res.converged:
        assert err <= tol * (1 + 1e-6)
        assert res.cost == pytest.approx(true_cost(Cs, f[ia], g[ib], eps), rel=1e-9, abs=1e-300)
        lo = ot.emd2(a[ia] / mass, b[ib] / mass, Cs / scale) * mass * scale
        slack = 1e-8 * mass * scale
        assert lo * (1 - 1e-9) - slack <= res.cost <= lo + eps * mass * np.log(n * m) + slack


# ---------------------------------------------------------------------------------------------- warm starts
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
@pytest.mark.parametrize("which, start", [
    ("f0", [1e300, -1e300, 0.0, 0.0, 0.0, 0.0]),      # was: stagnated at L1 error 5.9 after 1 iteration
    ("f0", [1.7e308, -1.7e308, 0.0, 0.0, 0.0, 0.0]),  # was: NaN potentials
    ("g0", [1e300, -1e300, 0.0, 0.0, 0.0]),           # was: stagnated at 5.9
])
def test_a_warm_start_with_a_huge_range_does_not_ruin_the_solve(backend, method, which, start):
    """Any finite warm start is a valid starting point of Sinkhorn; one whose range is far beyond
    what any potential of the problem can have is clipped (module notes of clip_warm_start).
    Reference: POT's log-domain Sinkhorn plan from scratch."""
    rng = np.random.default_rng(0)
    C = rng.random((6, 5))
    a, b = np.full(6, 1 / 6), np.full(5, 0.2)
    res = getattr(solvers, method)(C, a, b, eps=0.05, tol=1e-9, backend=backend, **{which: np.array(start)})
    assert res.converged, res.message
    assert true_error(C, a, b, res.f, res.g, 0.05) <= 1e-9
    G = ot.sinkhorn(a, b, C, 0.05, stopThr=1e-13, method="sinkhorn_log", numItermax=100000)
    np.testing.assert_allclose(res.plan(), G, atol=1e-9)


def test_a_good_warm_start_is_not_changed(rng=np.random.default_rng(9)):
    """The clip leaves potentials of the problem alone: the converged pair as warm start is
    converged at once."""
    C = rng.random((7, 4))
    a, b = rng.random(7) + 1e-6, rng.random(4) + 1e-6
    a, b = a / a.sum(), b / b.sum()
    first = solvers.sinkhorn(C, a, b, eps=0.02, tol=1e-11)
    again = solvers.sinkhorn(C, a, b, eps=0.02, tol=1e-10, f0=first.f)
    assert again.converged and again.nit <= 2


@pytest.mark.parametrize("eps_scaling", [None, 0.5])
@pytest.mark.parametrize("mass", [1e-200, 1e8, 1e200])
def test_sinkhorn_is_invariant_under_scaling_the_mass(mass, eps_scaling):
    """Defect (fixed): Sinkhorn's kernel-safety window, float32 range and the tolerance of the
    eps-scaling stages are absolute: at masses 1e+-200 every step ran in the log domain (426 exp
    steps instead of kernel products, ~10x slower), and at mass 1e8 eps_scaling=0.5 took 749
    iterations instead of 439. Reference: the unit-mass run (same iterates, plan times the mass)
    and the recomputed marginals."""
    C, a, b = random_problem(200, 150, 0)
    kw = {"eps": 2e-3, "eps_scaling": eps_scaling}
    ref = solvers.sinkhorn(C, a, b, tol=1e-9, **kw)
    seen = []
    res = solvers.sinkhorn(C, a * mass, b * mass, tol=1e-9 * mass, callback=lambda intermediate_result:
                           seen.append((intermediate_result.f.copy(), intermediate_result.g.copy(),
                                        intermediate_result.marginal_error)), **kw)
    assert ref.converged and res.converged, res.message
    assert res.nit == ref.nit
    assert res.stats["log_steps"] == ref.stats["log_steps"]
    err = true_error(C, a * mass, b * mass, res.f, res.g, 2e-3)
    assert err <= 1e-9 * mass and res.marginal_error == pytest.approx(err, rel=1e-6, abs=1e-13 * mass)
    np.testing.assert_allclose(res.plan(), mass * ref.plan(), rtol=1e-9, atol=1e-15 * mass)
    np.testing.assert_allclose(res.history["marginal_error"], mass * ref.history["marginal_error"], rtol=1e-6,
                               atol=1e-12 * mass)
    f, g, e = seen[-1]
    assert true_error(C, a * mass, b * mass, f, g, 2e-3) == pytest.approx(e, rel=1e-3, abs=1e-12 * mass)


# ---------------------------------------------------------------------------------------------- subnormal weights
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("method", ["sinkhorn", "sns", "auto"])
def test_subnormal_weights_are_not_an_infinite_error(backend, method):
    """Defect (fixed): with weights 1e-320 and 5e-324 beside 0.5 at eps = 1e-3 every routine
    returned 'nonfinite' with marginal error inf at iteration 0: the row error
    ``|a_i - a_i exp((f_old - f_new) / eps)|`` (and the final measurement
    ``a_i |expm1(log r_i - log a_i)|``) overflowed exp(744) although the row sum a_i exp(744) ~ 1
    is finite. Reference: the marginals recomputed with SciPy's logsumexp (L1, the contract)."""
    rng = np.random.default_rng(0)
    C = rng.random((6, 5))
    a = np.array([1e-320, 0.5, 1e-300, 0.25, 0.25 - 1e-300 - 1e-320, 5e-324])
    a = a / a.sum()
    b = np.full(5, 0.2) * a.sum()
    res = solvers.solve(EntropicOT(C, a, b, eps=1e-3), method=method, tol=1e-9, backend=backend)
    assert res.converged, res.message
    err = true_error(C, a, b, res.f, res.g, 1e-3)
    assert err <= 1e-9 and res.marginal_error == pytest.approx(err, rel=1e-3, abs=1e-15)
    check_against_emd(res, C, a, b, 1e-3, 1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("factor", [1e-300, 1e-20])
def test_sns_with_a_tiny_eps_scaling_factor(backend, factor):
    """Defect (fixed): eps_scaling=1e-300 at eps=1e-4 made the continuation start at eps=1e296
    (the first value eps / factor**k above eps_start x range), whose potentials (~1e296 log a)
    handed only rounding to the final stage: 'stagnated' at L1 error 2.0, the largest possible.
    Reference: POT's log-domain plan at the same eps, emd2 bounds."""
    rng = np.random.default_rng(1)
    C = rng.random((20, 15))
    a, b = rng.random(20) + 0.05, rng.random(15) + 0.05
    a, b = a / a.sum(), b / b.sum()
    res = solvers.sns(C, a, b, eps=1e-3, tol=1e-9, eps_scaling=factor, eps_start=0.1, backend=backend)
    assert res.converged, res.message
    assert max(res.history["eps"]) <= 10 * 0.1 * (C.max() - C.min()) * (1 + 1e-12)
    check_against_emd(res, C, a, b, 1e-3, 1e-9)
    G = ot.sinkhorn(a, b, C, 1e-3, stopThr=1e-13, method="sinkhorn_log", numItermax=10**6)
    np.testing.assert_allclose(res.plan(), G, atol=1e-8)


# ---------------------------------------------------------------------------------------------- masked arrays
@pytest.mark.parametrize("where", ["C", "a", "b", "problem"])
def test_masked_arrays_are_refused_not_unmasked(where):
    """Defect (fixed): a masked C (or a, b) was read as its data with the mask dropped, so the
    'masked' pairs were transported as if valid, silently. Reference for the fix's advice: the
    filled array solves as a plain array."""
    rng = np.random.default_rng(0)
    C = rng.random((6, 5))
    a, b = np.full(6, 1 / 6), np.full(5, 0.2)
    mask = C > 0.8
    args = {"C": C, "a": a, "b": b}
    if where == "problem":
        with pytest.raises(TypeError, match="C is a masked array"):
            EntropicOT(np.ma.masked_array(C, mask=mask), a, b, eps=0.05)
        return
    one = np.zeros(args[where].shape, bool)
    one.flat[0] = True              # (a masked array with no masked entry is its data: accepted since session 41)
    args[where] = np.ma.masked_array(args[where], mask=one)
    from solvers.ot.auto import auto

    for fn in (solvers.sinkhorn, solvers.sns, auto):
        with pytest.raises(TypeError, match=f"{where} is a masked array"):
            fn(args["C"], args["a"], args["b"], eps=0.05)
    filled = solvers.sinkhorn(np.ma.masked_array(C, mask=mask).filled(1e3), a, b, eps=0.05, tol=1e-10)
    assert filled.converged and np.all(filled.plan()[mask] < 1e-300)


def test_exact_ot_refuses_masked_arrays_and_matches_emd2():
    from problems.ot import exact_ot

    rng = np.random.default_rng(2)
    C = rng.random((5, 4))
    a, b = np.full(5, 0.2), np.full(4, 0.25)
    with pytest.raises(TypeError, match="C is a masked array"):
        exact_ot(np.ma.masked_array(C, mask=C > 0.5), a, b)
    with pytest.raises(TypeError, match="b is a masked array"):
        exact_ot(C, a, np.ma.masked_array(b, mask=[True, False, False, False]))
    assert exact_ot(C, a, b) == pytest.approx(ot.emd2(a, b, C), rel=1e-12)


def test_float32_normalised_weights_get_an_actionable_error():
    """Weights normalised in float32 sum to 1 +- 3e-8: refused (the contract asks equal masses to
    1e-9), and the message now says how to fix it; the suggested fix then solves (POT's plan)."""
    rng = np.random.default_rng(6)
    C = rng.random((7, 5))
    a = rng.random(7).astype(np.float32)
    a /= a.sum()
    b = np.full(5, 0.2)
    if abs(float(a.astype(np.float64).sum()) - 1.0) <= 1e-9:
        pytest.skip("this draw happens to sum to 1 in float64")
    with pytest.raises(ValueError, match=r"a\.sum\(\) / b\.sum\(\)|rescale"):
        solvers.sinkhorn(C, a, b, eps=0.05)
    a64 = a.astype(np.float64)
    res = solvers.sinkhorn(C, a64, b * (a64.sum() / b.sum()), eps=0.05, tol=1e-10)
    assert res.converged
    G = ot.sinkhorn(a64, b * (a64.sum() / b.sum()), C, 0.05, stopThr=1e-13, method="sinkhorn_log")
    np.testing.assert_allclose(res.plan(), G, atol=1e-9)


@pytest.mark.parametrize("routine", ["sinkhorn", "sns"])
def test_callback_potentials_during_eps_continuation_are_those_of_the_posed_problem(routine):
    """helper-43: at a total mass != 1 the callback's f was shifted by the FINAL eps log(mass) during every
    eps-continuation stage; it must be the current stage's. References: (1) the scaling law of entropic OT,
    f_posed = f_unit + eps_stage log(mass), against the same solve on unit mass; (2) the marginal error of the
    plan exp((f + g - C) / eps_stage) recomputed here on the posed problem is the error the callback was given
    (to the routines' measuring convention, a few 1e-3; the final-eps shift was off by a factor ~ mass^(1/2))."""
    rng = np.random.default_rng(5)
    n, m, mass = 12, 9, 5.0
    C = rng.random((n, m))
    a = rng.uniform(0.5, 1.5, n)
    b = rng.uniform(0.5, 1.5, m)
    a, b = a / a.sum(), b / b.sum()

    def run(scale):
        seen = []

        def cb(intermediate_result):
            r = intermediate_result
            seen.append((np.array(r.f), np.array(r.g), float(r.eps), float(r.marginal_error)))

        res = getattr(solvers, routine)(C, scale * a, scale * b, eps=1e-2, tol=1e-9 * scale, eps_scaling=0.5,
                                        callback=cb, backend="numpy")
        assert res.converged
        return seen

    unit, posed = run(1.0), run(mass)
    assert len(unit) == len(posed) and len(posed) > 0
    if routine == "sinkhorn":                  # its callback sees every stage (SNS's stage 1 reports none)
        assert len({e for _, _, e, _ in posed}) >= 2
    for (fu, gu, eu, erru), (f, g, eps, err) in zip(unit, posed):
        assert eps == eu
        # a * mass / mass is not a bit for bit: the two runs agree to rounding (the bug was off by ~0.016)
        np.testing.assert_allclose(f, fu + eps * np.log(mass), rtol=0, atol=1e-8)
        np.testing.assert_allclose(g, gu, rtol=0, atol=1e-8)
        assert err == pytest.approx(mass * erru, rel=1e-4, abs=1e-12)
        logP = (f[:, None] + g[None, :] - C) / eps
        rows, cols = np.exp(logsumexp(logP, axis=1)), np.exp(logsumexp(logP, axis=0))
        recomputed = np.abs(rows - mass * a).sum() + np.abs(cols - mass * b).sum()
        if err > 1e-10:
            assert abs(np.log(recomputed / err)) < 0.05
