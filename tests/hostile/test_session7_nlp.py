"""Session 7 hostile tests: Newton, sketched Newton and the NLP / PDE-control problems.

Every test compares with an independent reference (analytic optimum, SciPy, a dense direct
solve, published Hock-Schittkowski optima) measured on the returned iterate, or asserts a
specific error type and message fragment.
"""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import solvers
from tests.hostile.cases_session4 import QP


# ---------------------------------------------------------------------------------------------- newton
def _quartic():
    return (lambda x: float(np.sum(x ** 4)), lambda x: 4 * x ** 3, lambda x: np.diag(12 * x ** 2))


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_tol_near_underflow_returns_a_result_instead_of_raising(method):
    # the gradient 4 x^3 underflows long before ||g|| <= 1e-300: g @ d became 0 and the line search raised
    # "dphi0 must be negative" (newton, newton-cg) or ||g|| / gamma divided by zero (grad-reg)
    f, g, H = _quartic()
    r = solvers.newton(f, np.ones(3), jac=g, hess=H, method=method, maxiter=10 ** 6, tol=1e-300)
    gx = np.max(np.abs(g(np.asarray(r.x))))
    assert r.converged == (gx <= 1e-300)
    if not r.converged:
        assert r.status == "stagnated" and "tol may be below the attainable accuracy" in r.message
    assert np.max(np.abs(r.x)) < 1e-60          # it did minimise (the minimiser is 0)


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_newton_extreme_objective_scales_against_the_analytic_minimiser(method, scale):
    # grad-reg computed ||g||_2 with overflowing squares (inf) at scale 1e300: lam = inf, inf * 0 = NaN and the
    # solve reported "no acceptable step" for a convex quadratic
    n = 3
    f = lambda x: scale * float(np.sum((x - 1) ** 2))
    g = lambda x: scale * 2 * (x - 1)
    H = lambda x: scale * 2 * np.eye(n)
    r = solvers.newton(f, np.zeros(n), jac=g, hess=H, method=method, tol=1e-8 * scale)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, np.ones(n), atol=1e-6)
    assert np.max(np.abs(g(np.asarray(r.x)))) <= 1e-8 * scale


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_complex_hessian_is_refused_not_truncated(method):
    # "newton" and "grad-reg" cast a complex Hessian to float (ComplexWarning, imaginary part dropped)
    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    with pytest.raises(TypeError, match="hess must return a real Hessian"):
        solvers.newton(f, np.zeros(3), jac=g, hess=lambda x: (2 + 1j) * np.eye(3), method=method)


def test_newton_complex_hessp_is_refused():
    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    with pytest.raises(TypeError, match="hessp must return a real array"):
        solvers.newton(f, np.zeros(3), jac=g, hessp=lambda x, p: (2 + 1j) * p, method="newton-cg")


# ---------------------------------------------------------------------------------------------- newton_krylov
@pytest.mark.parametrize("scale, tol", [(1e300, 1e290), (1e-300, 1e-310), (1e160, 1e150)])
@pytest.mark.parametrize("jac", [False, True])
def test_newton_krylov_extreme_residual_scales_against_the_analytic_root(scale, tol, jac):
    # ||F||_2 and the merit ||F||^2 / 2 overflowed (1e300: "F(x0) contains NaN or inf", a false refusal of a finite
    # F) or underflowed (1e-300: ZeroDivisionError in the Jacobian-free product)
    F = lambda x: scale * (x - 1.0)
    kw = {"jac": (lambda x: scale * np.eye(2))} if jac else {}
    r = solvers.newton_krylov(F, np.zeros(2), tol=tol, **kw)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [1.0, 1.0], rtol=1e-8)
    assert np.max(np.abs(F(np.asarray(r.x)))) <= tol


@pytest.mark.parametrize("x0", [1e200, -1e250])
def test_newton_krylov_far_start_with_finite_residual_is_not_refused(x0):
    # F(x0) = x0 - 1 is finite, but ||x0||_2 (Jacobian-free step size) and ||F||_2 overflowed
    F = lambda x: np.array([x[0] - 1.0, 2.0 * (x[1] - 3.0)])
    r = solvers.newton_krylov(F, np.array([x0, x0]))
    ref = __import__("scipy.optimize", fromlist=["root"]).root(F, [0.0, 0.0]).x
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, ref, rtol=1e-8)
    assert np.max(np.abs(F(np.asarray(r.x)))) <= 1e-8


def test_newton_krylov_overflowing_trial_points_still_give_a_true_failure():
    # Bratu-like exponential: trials overflow to inf; the scaled merit must treat them as rejected, not raise
    F = lambda x: np.exp(np.minimum(x, 800.0)) + 1.0        # no root: F > 1 everywhere
    r = solvers.newton_krylov(F, np.array([0.0, 1.0]), maxiter=30)
    assert not r.converged and r.status in ("stagnated", "maxiter", "breakdown")
    assert np.max(np.abs(F(np.asarray(r.x)))) > 1.0


# ---------------------------------------------------------------------------------------------- sketched_newton
class _Duck:
    """A duck-typed equality-constrained problem (no construction-time checks)."""

    def __init__(self, f, grad, c, jac, hess, x0, lam0=None):
        self.f, self.grad, self.c, self.jac, self.hess_lagrangian = f, grad, c, jac, hess
        self.x0 = np.asarray(x0, dtype=float)
        self.lam0 = lam0


def _kkt_of(prob, res):
    """||(grad f + J^T lam, c)||_2 recomputed from the returned x and lam."""
    x = np.asarray(res.x)
    J = np.atleast_2d(np.asarray(prob.jac(x), dtype=float))
    return math.hypot(np.linalg.norm(prob.grad(x) + J.T @ np.asarray(res.lam)), np.linalg.norm(prob.c(x)))


def _concave_on_a_line():
    # min -||x||^2 s.t. x1 + x2 = 1: unbounded below along (1, -1)
    return _Duck(lambda x: -float(x @ x), lambda x: -2 * x, lambda x: np.array([x[0] + x[1] - 1]),
                 lambda x: np.array([[1.0, 1.0]]), lambda x, l: -2 * np.eye(2), [0.3, 0.2])


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz", "countsketch", "block", None])
@pytest.mark.parametrize("maxiter", [100, 10 ** 6])
def test_sketched_newton_unbounded_objective_stops_as_diverged(sketch, maxiter):
    # before: maxiter=100 ended at |x| ~ 1e103 advising "raise maxiter"; maxiter=1e6 ran to |x| ~ 1e154 and
    # blamed "a singular KKT matrix or a slow inner solver"
    prob = _concave_on_a_line()
    r = solvers.sketched_newton(prob, sketch=sketch, seed=0, maxiter=maxiter)
    assert not r.converged and r.status == "diverged" and r.nit < 100
    assert "unbounded below" in r.message
    x = np.asarray(r.x)
    assert np.max(np.abs(x)) > 1e20 and abs(x[0] + x[1] - 1) <= 1e-6 * np.max(np.abs(x))  # feasible, far out
    assert prob.f(x) < -1e40 and _kkt_of(prob, r) > 1.0


def test_sketched_newton_divergence_is_relative_to_the_start():
    # a well-posed problem whose solution is at 1e15 (start 1e14) is not mistaken for divergence
    s = 1e15
    prob = _Duck(lambda x: float((x[0] - s) ** 2 + (x[1] - s) ** 2) / s ** 2,
                 lambda x: 2 * (x - s) / s ** 2, lambda x: np.array([(x[0] - x[1]) / s]),
                 lambda x: np.array([[1.0, -1.0]]) / s, lambda x, l: 2 * np.eye(2) / s ** 2, [1e14, 2e14])
    r = solvers.sketched_newton(prob, sketch=None, tol=1e-12)
    assert r.status != "diverged"


def _far_qp(a):
    """min (x1 - a)^2 + (x2 - a)^2 s.t. x1 = x2, from (a/10, 3a/10): x* = (a, a), lam* = 0 (analytic)."""
    return _Duck(lambda x: float((x[0] - a) ** 2 + (x[1] - a) ** 2), lambda x: 2 * (x - a),
                 lambda x: np.array([x[0] - x[1]]), lambda x: np.array([[1.0, -1.0]]),
                 lambda x, l: 2 * np.eye(2), [a / 10, 3 * a / 10])


@pytest.mark.parametrize("a", [1e10, 1e15, 1e25, 1e40])
@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz", "countsketch", "block", None])
def test_sketched_newton_convex_qp_with_large_variables_against_the_analytic_solution(a, sketch):
    # the default objective scaling brought ||grad f(x0)|| ~ 1e10 into [1e-2, 1e2] and so the Hessian 2 I down to
    # 7e-9 I: the reduced-Hessian test (absolute floor 1e-8) shifted it by 0.1 at every iteration and the sketches
    # met a KKT matrix of condition 1e9; the QP failed (maxiter / stagnated / failed) while scaling=False solves
    # it in one iteration
    prob = _far_qp(a)
    r = solvers.sketched_newton(prob, sketch=sketch, seed=3, tol=1e-8 * a)
    assert r.converged, r.message
    assert _kkt_of(prob, r) <= 1e-8 * a and r.nit <= 3
    np.testing.assert_allclose(r.x, [a, a], rtol=1e-8)          # ||2 (x - a)|| <= tol = 1e-8 a
    ref = np.linalg.solve(np.array([[2.0, 0, 1], [0, 2, -1], [1, -1, 0]]), [2 * a, 2 * a, 0.0])   # dense KKT solve
    np.testing.assert_allclose(r.x, ref[:2], rtol=1e-8)
    assert abs(float(np.asarray(r.lam)[0]) - ref[2]) <= 1e-8 * a


def test_reduced_hessian_test_is_relative_for_small_positive_definite_hessians():
    from solvers.backends import get_backend
    from solvers.nonlinear._kkt import NewtonSystem

    J = np.array([[1.0, -1.0, 0.0]])
    for s in (1e-12, 1e-9, 1e-3):
        H = s * np.diag([2.0, 3.0, 5.0])
        t, lam_min, _ = NewtonSystem(H, J, get_backend("numpy")).reduced_hessian_shift(0.1)
        Z = np.linalg.svd(J)[2][1:].T                                    # independent null-space basis
        ref = np.linalg.eigvalsh(Z.T @ H @ Z)[0]
        assert abs(lam_min - ref) <= 1e-12 * s and ref > 0
        assert t == 0.0                          # positive definite: the exact Newton step (was shifted by 0.1)
    t, _, _ = NewtonSystem(-1e-9 * np.eye(3), J, get_backend("numpy")).reduced_hessian_shift(0.1)
    assert t > 0                                  # negative definite of small norm: still shifted


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_sketched_newton_objective_scaling_still_balances_a_scaled_objective(s):
    # the curvature limit must not undo the scaling where f itself is scaled (gradient and Hessian alike): HS28 * s
    from problems import nlp

    base = nlp.hs("HS28")
    prob = _Duck(lambda x: s * base.f(x), lambda x: s * base.grad(x), base.c, base.jac,
                 lambda x, l: s * np.asarray(base.hess_lagrangian(x, np.asarray(l) / s)), base.x0)
    r = solvers.sketched_newton(prob, sketch="gaussian", seed=0, tol=1e-8 * min(1.0, s))
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [0.5, -0.5, 0.5], atol=1e-7)            # published x* of HS28
    gmax = s * float(np.max(np.abs(base.grad(base.x0))))
    assert 1e-2 <= gmax * r.stats["objective_scale"] <= 1e2                   # the scaled gradient is in the band


class _QP(QP):
    """min 1/2 x^T Q x + q^T x s.t. A x = b with given data (dense, picklable; the callables of
    tests/hostile/cases_session4.QP)."""

    def __init__(self, Q, q, A, b, x0):
        self.Q, self.q, self.A, self.b, self.x0 = Q, q, A, b, np.asarray(x0, dtype=float)
        self.n, self.m = A.shape[1], A.shape[0]


def _mixed_scale_qp(cond_exp, seed=0, n=6, m=2):
    """A strictly convex QP in variables of mixed scales: Q = D^-1 Q0 D^-1 with D spanning 10^(cond_exp/2)."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    Q0 = B @ B.T + np.eye(n)
    d = np.logspace(-cond_exp / 4, cond_exp / 4, n)
    Q = Q0 / np.outer(d, d)
    A = rng.standard_normal((m, n)) / d
    return _QP(Q, rng.standard_normal(n) / d, A, rng.standard_normal(m), 10 * rng.standard_normal(n) * d)


@pytest.mark.parametrize("cond_exp", [9, 10, 11])
@pytest.mark.parametrize("sketch", [None, "gaussian", "kaczmarz"])
@pytest.mark.parametrize("seed", [0, 1])
def test_sketched_newton_ill_conditioned_spd_qp_against_a_dense_kkt_solve(cond_exp, sketch, seed):
    # an SPD Hessian of condition > 1e8 was judged "not positive definite" (lambda_min <= 1e-8 ||H||) and shifted
    # by 0.1 ||H|| at every iteration: a strictly convex QP crawled to maxiter (100 modifications in 100 iterations).
    # The sketches then failed on the KKT matrix of condition 1e9-1e11: their safeguard grows the sketch to the
    # whole system, whose "exact" projection used pinv(K K^T) (condition squared, truncated), then idled through
    # inner_maxiter = 20000 five times
    prob = _mixed_scale_qp(cond_exp, seed)
    m = prob.A.shape[0]
    assert np.linalg.eigvalsh(prob.Q)[0] > 0 and np.linalg.cond(prob.Q) > 1e8
    K = np.block([[prob.Q, prob.A.T], [prob.A, np.zeros((m, m))]])
    ref = np.linalg.solve(K, np.r_[-prob.q, prob.b])
    b0 = math.hypot(np.linalg.norm(prob.grad(prob.x0)), np.linalg.norm(prob.c(prob.x0)))
    tol = 1e-8 * b0
    r = solvers.sketched_newton(prob, sketch=sketch, seed=seed, tol=tol)
    assert r.converged, r.message
    assert _kkt_of(prob, r) <= tol * (1 + 1e-9) and r.nit <= 5
    x = np.asarray(r.x)
    # the KKT residual bounds the error through K^-1 (independent measure on the returned iterate)
    err = np.linalg.norm(np.r_[x, np.asarray(r.lam)] - ref)
    assert err <= np.linalg.norm(np.linalg.inv(K), 2) * tol * 1.01


@pytest.mark.parametrize("method", ["newton", "newton-cg", "grad-reg"])
def test_newton_complex_hessian_operator_is_refused(method):
    # "newton" densified a complex-dtype operator with a ComplexWarning and dropped the imaginary part
    import scipy.sparse.linalg as spla

    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    H = lambda x: spla.LinearOperator((3, 3), matvec=lambda v: (2 + 1j) * v, dtype=complex)
    with pytest.raises(TypeError, match="hess must return a real Hessian"):
        solvers.newton(f, np.zeros(3), jac=g, hess=H, method=method)


def test_newton_operator_whose_matvec_is_complex_is_refused_by_the_dense_method():
    class Op:
        shape, dtype = (3, 3), np.dtype(float)

        def matvec(self, v):
            return (2 + 1j) * v

    with pytest.raises(TypeError, match="real Hessian"):
        solvers.newton(lambda x: float(np.sum((x - 1) ** 2)), np.zeros(3), jac=lambda x: 2 * (x - 1),
                       hess=lambda x: Op(), method="newton")


# ---------------------------------------------------------------------------------------------- published optima
#: f* (and x* where short) from Hock and Schittkowski (1981), typed in independently of problems.nlp
_PUBLISHED = {
    "HS6": (0.0, [1.0, 1.0]), "HS7": (-math.sqrt(3.0), [0.0, math.sqrt(3.0)]), "HS26": (0.0, [1.0, 1.0, 1.0]),
    "HS27": (0.04, [-1.0, 1.0, 0.0]), "HS28": (0.0, [0.5, -0.5, 0.5]), "HS39": (-1.0, [1.0, 1.0, 0.0, 0.0]),
    "HS40": (-0.25, [2 ** (-1 / 3), 2 ** (-1 / 2), 2 ** (-11 / 12), 2 ** (-1 / 4)]),
    "HS42": (28.0 - 10.0 * math.sqrt(2.0), [2.0, 2.0, 0.6 * math.sqrt(2.0), 0.8 * math.sqrt(2.0)]),
    "HS46": (0.0, None), "HS48": (0.0, [1.0] * 5), "HS49": (0.0, None), "HS50": (0.0, [1.0] * 5),
    "HS51": (0.0, [1.0] * 5), "HS52": (1859.0 / 349.0, [-33 / 349, 11 / 349, 180 / 349, -158 / 349, 11 / 349]),
    "HS56": (-3.456, None), "HS61": (-143.6461422, [5.32677015, -2.11899864, 3.21046424]),
    "HS77": (0.24150513, [1.166172, 1.182111, 1.380257, 1.506036, 0.6109203]),
    "HS78": (-2.91970041, [-1.717143, 1.595709, 1.827247, -0.7636413, -0.7636450]),
    "HS79": (0.0787768209, [1.191127, 1.362603, 1.472818, 1.635017, 1.679081]),
}


@pytest.mark.parametrize("name", sorted(_PUBLISHED))
@pytest.mark.parametrize("sketch", ["gaussian", None])
def test_hs_problems_reach_the_published_optimum_with_a_true_kkt_claim(name, sketch):
    from problems import nlp

    prob = nlp.hs(name)
    f_pub, x_pub = _PUBLISHED[name]
    r = solvers.sketched_newton(prob, sketch=sketch, seed=0, tol=1e-8)
    assert r.converged, r.message
    x = np.asarray(r.x)
    assert _kkt_of(prob, r) <= 1e-8 * (1 + 1e-9)                      # the claim, recomputed
    assert abs(prob.f(x) - f_pub) <= 1e-6 * max(1.0, abs(f_pub))
    if x_pub is not None:
        # HS26 is degenerate (f = (x1-x2)^2 + (x2-x3)^4): a KKT residual of 1e-8 leaves x ~ 1e-4 from x*
        np.testing.assert_allclose(x, x_pub, atol=1e-3 if name == "HS26" else 1e-5 * max(1.0, abs(f_pub)))
    # the result survives pickling with its multipliers
    back = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(back.x, r.x)
    np.testing.assert_array_equal(back.lam, r.lam)


@pytest.mark.parametrize("name", ["HS27", "HS39", "HS42", "HS56", "HS77", "HS78", "HS79"])   # SLSQP: HS7 hits its
# iteration limit at tol=1e-12, HS61 fails from x0 = 0 (singular LSQ subproblem)
def test_hs_problems_against_scipy_slsqp(name):
    from scipy.optimize import minimize

    from problems import nlp

    prob = nlp.hs(name)
    ref = minimize(prob.f, prob.x0, jac=prob.grad, method="SLSQP", tol=1e-12, options={"maxiter": 500},
                   constraints=[{"type": "eq", "fun": prob.c, "jac": lambda x: np.atleast_2d(prob.jac(x))}])
    r = solvers.sketched_newton(prob, sketch="kaczmarz", seed=1, tol=1e-9)
    assert r.converged and ref.success
    assert abs(prob.f(np.asarray(r.x)) - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))


# ---------------------------------------------------------------------------------------------- properties
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(k=st.integers(-290, 290), seed=st.integers(0, 2 ** 16), jac=st.booleans())
def test_newton_krylov_is_scale_invariant_on_linear_systems(k, seed, jac):
    # F(x) = 10^k (A x - b): the Newton iterates do not depend on the scale; the result must match the dense solve
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    A = rng.standard_normal((n, n)) + n * np.eye(n)
    b = rng.standard_normal(n)
    s = 10.0 ** k
    F = lambda x: s * (A @ x - b)
    kw = {"jac": (lambda x: s * A)} if jac else {}
    tol = 1e-9 * s * max(1.0, float(np.max(np.abs(b))))
    r = solvers.newton_krylov(F, np.zeros(n), tol=tol, **kw)
    ref = np.linalg.solve(A, b)
    assert r.converged, r.message
    assert np.max(np.abs(F(np.asarray(r.x)))) <= tol
    np.testing.assert_allclose(r.x, ref, atol=1e-6 * max(1.0, float(np.max(np.abs(ref)))))


@settings(max_examples=25, deadline=None)
@given(k=st.integers(-250, 250), seed=st.integers(0, 2 ** 16), method=st.sampled_from(["newton", "newton-cg",
                                                                                      "grad-reg"]))
def test_newton_is_scale_invariant_on_convex_quadratics(k, seed, method):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 6))
    B = rng.standard_normal((n, n))
    Q = B @ B.T + np.eye(n)
    q = rng.standard_normal(n)
    s = 10.0 ** k
    ref = np.linalg.solve(Q, -q)
    r = solvers.newton(lambda x: s * float(0.5 * x @ Q @ x + q @ x), np.zeros(n), jac=lambda x: s * (Q @ x + q),
                       hess=lambda x: s * Q, method=method, tol=1e-9 * s)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, ref, atol=1e-7 * max(1.0, float(np.max(np.abs(ref)))))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 16), fexp=st.integers(-6, 6), xexp=st.integers(-8, 8),
       sketch=st.sampled_from(["gaussian", "kaczmarz", "countsketch", "block", None]))
def test_sketched_newton_random_qps_with_scaled_objective_and_variables(seed, fexp, xexp, sketch):
    # min f(x) s.t. A x = b with f scaled by 10^fexp and every variable by 10^xexp (well conditioned otherwise):
    # the answer must be the dense KKT solution (exact), whatever the scales
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 8))
    m = int(rng.integers(1, n))
    B = rng.standard_normal((n, n))
    fs, d = 10.0 ** fexp, 10.0 ** xexp
    Q0 = B @ B.T + np.eye(n)
    prob = _QP(fs * Q0 / d ** 2, fs * rng.standard_normal(n) / d, rng.standard_normal((m, n)) / d,
               rng.standard_normal(m), 10.0 * rng.standard_normal(n) * d)
    K = np.block([[prob.Q, prob.A.T], [prob.A, np.zeros((m, m))]])
    ref = np.linalg.solve(K, np.r_[-prob.q, prob.b])
    tol = 1e-9 * math.hypot(np.linalg.norm(prob.grad(prob.x0)), np.linalg.norm(prob.c(prob.x0)))
    r = solvers.sketched_newton(prob, sketch=sketch, seed=seed, tol=tol)
    assert r.converged, r.message
    assert _kkt_of(prob, r) <= tol * (1 + 1e-9)
    err = np.linalg.norm(np.r_[np.asarray(r.x), np.asarray(r.lam)] - ref)
    assert err <= np.linalg.norm(np.linalg.inv(K), 2) * tol * 1.01


def test_sketched_newton_far_solution_from_a_small_start_is_not_divergence():
    # x* = (1e22, 1e22) from x0 = (0, 1): max |x| passes 1e20 max(1, |x0|) on the way, with a falling KKT residual
    a = 1e22
    prob = _Duck(lambda x: float((x[0] - a) ** 2 + (x[1] - a) ** 2) / a ** 2, lambda x: 2 * (x - a) / a ** 2,
                 lambda x: np.array([x[0] - x[1]]), lambda x: np.array([[1.0, -1.0]]),
                 lambda x, l: 2 * np.eye(2) / a ** 2, [0.0, 1.0])
    r = solvers.sketched_newton(prob, sketch=None, tol=1e-32)
    assert r.converged, r.message
    np.testing.assert_allclose(r.x, [a, a], rtol=1e-12)


@pytest.mark.parametrize("kind", ["dense", "operator", "hessp"])
def test_grad_reg_nonfinite_hessian_is_named_not_blamed_on_jac(kind):
    # a NaN Hessian made every regularised step NaN; the message said "check that jac is the gradient of fun"
    import scipy.sparse.linalg as spla

    f = lambda x: float(np.sum((x - 1) ** 2))
    g = lambda x: 2 * (x - 1)
    kw = {"dense": {"hess": lambda x: np.full((3, 3), np.nan)},
          "operator": {"hess": lambda x: spla.LinearOperator((3, 3), matvec=lambda v: np.nan * v)},
          "hessp": {"hessp": lambda x, p: np.nan * p}}[kind]
    r = solvers.newton(f, np.zeros(3), jac=g, method="grad-reg", **kw)
    assert not r.converged and r.status == "nonfinite" and r.nit == 0
    assert ("hessp" if kind == "hessp" else "hess") + " returns finite values" in r.message
    np.testing.assert_array_equal(r.x, np.zeros(3))
