"""sketched_newton: equality-constrained QPs against numpy.linalg.solve on the full KKT matrix,
small nonlinear problems against their published optima, the algorithm's invariants (merit
descent, Hessian modification, penalty monotonicity), the result conventions and hostile input.

The Hock-Schittkowski set of problems.nlp is tested in test_sketched_newton_hs.py.
"""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from solvers.nonlinear._nlp import NLPEvaluator, Point, merit_gradient, merit_value
from solvers.nonlinear.sketched_newton import sketched_newton
from solvers.backends import get_backend

SKETCHES = ["gaussian", "kaczmarz", "countsketch", "block", None]


# ---------------------------------------------------------------------------------------------
# test problems (module level: picklable)
class QP:
    """``min 1/2 x^T H x + g^T x  s.t.  A x = b``; the KKT solution by numpy.linalg.solve is the reference."""

    def __init__(self, H, g, A, b, x0, form="dense"):
        self.H, self.g, self.A, self.b, self.x0, self.form = H, g, A, b, x0, form

    def f(self, x):
        return float(0.5 * x @ self.H @ x + self.g @ x)

    def grad(self, x):
        return self.H @ x + self.g

    def c(self, x):
        return self.A @ x - self.b

    def jac(self, x):
        if self.form == "sparse":
            return sp.csr_matrix(self.A)
        if self.form == "operator":
            return _Op(self.A)
        return self.A

    def hess_lagrangian(self, x, lam):
        if self.form == "operator":
            return _Op(self.H)
        return self.H

    def reference(self):
        n, m = self.H.shape[0], self.A.shape[0]
        K = np.block([[self.H, self.A.T], [self.A, np.zeros((m, m))]])
        sol = np.linalg.solve(K, np.concatenate([-self.g, self.b]))
        return sol[:n], sol[n:]


class _Op:
    """A bare operator (shape, dtype, matvec, rmatvec): not an array."""

    def __init__(self, A):
        self.A, self.shape, self.dtype = A, A.shape, np.float64

    def matvec(self, v):
        return self.A @ v

    def rmatvec(self, v):
        return self.A.T @ v


class BlockDiagPreconditioner:
    def __init__(self, d):
        self.d, self.shape, self.dtype = d, (d.size, d.size), np.float64

    def matvec(self, v):
        return v / self.d


def random_qp(seed, n=6, m=2, indefinite=False, form="dense"):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    R = rng.standard_normal((n, n))
    H = R @ R.T / n + np.eye(n)
    if indefinite:          # positive definite on null(A), indefinite on R^n
        H = H - 4.0 * A.T @ A
    return QP(H, rng.standard_normal(n), A, rng.standard_normal(m), rng.standard_normal(n), form=form)


class HS6:
    """Hock-Schittkowski 6: ``min (1 - x1)^2 s.t. 10 (x2 - x1^2) = 0``; ``f* = 0`` at ``(1, 1)``."""

    x0 = np.array([-1.2, 1.0])

    def f(self, x):
        return (1.0 - x[0]) ** 2

    def grad(self, x):
        return np.array([-2.0 * (1.0 - x[0]), 0.0])

    def c(self, x):
        return np.array([10.0 * (x[1] - x[0] ** 2)])

    def jac(self, x):
        return np.array([[-20.0 * x[0], 10.0]])

    def hess_lagrangian(self, x, lam):
        return np.array([[2.0 - 20.0 * lam[0], 0.0], [0.0, 0.0]])


class HS7:
    """Hock-Schittkowski 7: ``min log(1 + x1^2) - x2 s.t. (1 + x1^2)^2 + x2^2 = 4``; ``f* = -sqrt(3)``."""

    x0 = np.array([2.0, 2.0])

    def f(self, x):
        return math.log1p(x[0] ** 2) - x[1]

    def grad(self, x):
        return np.array([2 * x[0] / (1 + x[0] ** 2), -1.0])

    def c(self, x):
        return np.array([(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4.0])

    def jac(self, x):
        return np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]])

    def hess_lagrangian(self, x, lam):
        a = x[0] ** 2
        hf = 2 * (1 - a) / (1 + a) ** 2
        hc = 4 + 12 * a
        return np.array([[hf + lam[0] * hc, 0.0], [0.0, 2 * lam[0]]])


PUBLISHED = [(HS6, 0.0), (HS7, -math.sqrt(3.0))]


def solve(problem, **kw):
    kw.setdefault("seed", 0)
    return sketched_newton(problem, **kw)


# ---------------------------------------------------------------------------------------------
# QPs against the dense KKT solve
@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("seed", [1, 2])
def test_qp_matches_dense_kkt_solve(sketch, seed):
    qp = random_qp(seed)
    x_ref, lam_ref = qp.reference()
    res = solve(qp, sketch=sketch, tol=1e-10, seed=seed)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-9 * max(1.0, np.abs(x_ref).max()))
    np.testing.assert_allclose(res.lam, lam_ref, rtol=0, atol=1e-8 * max(1.0, np.abs(lam_ref).max()))
    assert res.history["kkt"][-1] <= 1e-10


@pytest.mark.parametrize("sketch", [None, "gaussian", "countsketch"])
def test_qp_kkt_residual_after_unit_step_is_the_inner_residual(sketch):
    # for a QP the KKT residual after a unit step is exactly the residual K z + (g_L, c) of the
    # inner solve, so the adaptive accuracy condition bounds the contraction per iteration (tight_size=0: the
    # paper's condition alone, no tight solve of small systems)
    qp = random_qp(3)
    beta, mu, nu = 0.1, 1.0, 0.1
    res = solve(qp, sketch=sketch, tol=1e-9, beta=beta, mu0=mu, nu0=nu, tight_size=0)
    assert res.converged and res.stats["penalty_updates"] == 0 and res.nit > 1
    assert np.all(res.history["step_size"][1:] == 1.0)
    bound = (0.5 - beta) * nu / (1 + mu + nu)
    kkt = res.history["kkt"]
    assert np.all(kkt[1:] <= bound * kkt[:-1] * (1 + 1e-8))


@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("seed", [1, 5, 6])
def test_small_qp_is_solved_in_one_iteration(sketch, seed):
    """n + m <= tight_size: the Newton system is solved to tol / 10, so a QP takes one unit step, to the dense
    KKT solution."""
    qp = random_qp(seed, n=8, m=3)
    x_ref, lam_ref = qp.reference()
    res = solve(qp, sketch=sketch, tol=1e-8, seed=seed)
    assert res.converged and res.nit == 1, (res.nit, res.message)
    assert res.history["step_size"][1] == 1.0 and res.history["kkt"][-1] <= 1e-8
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * max(1.0, np.abs(x_ref).max()))
    np.testing.assert_allclose(res.lam, lam_ref, rtol=0, atol=1e-7 * max(1.0, np.abs(lam_ref).max()))


def test_tight_size_bounds_the_tight_solve():
    """Above tight_size (and with tight_size=0) the adaptive accuracy condition alone is used: more than one
    iteration on the same QP, to the same solution."""
    qp = random_qp(1, n=8, m=3)
    x_ref, _ = qp.reference()
    for kw in ({"tight_size": 0}, {"tight_size": 10}):
        res = solve(qp, sketch="gaussian", tol=1e-8, **kw)
        assert res.converged and res.nit > 1 and res.options["tight_size"] == kw["tight_size"]
        np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-7 * max(1.0, np.abs(x_ref).max()))
    assert solve(qp, sketch="gaussian", tol=1e-8, tight_size=11).nit == 1


@pytest.mark.parametrize("sketch", [None, "gaussian", "block"])
def test_watchdog_takes_the_newton_path_on_hs6(sketch):
    """HS6 from (-1.2, 1): the unit Newton step lands on x1 = 1 with ||c|| grown from 4.4 to 48.4, which every
    merit rejects; exact Newton reaches (1, 1) in two steps. The watchdog's relaxed step follows it; without it the
    line search creeps (8-9 iterations). Reference: the published minimiser (1, 1), f* = 0."""
    res = solve(HS6(), sketch=sketch)
    assert res.converged and res.nit == 2
    assert res.stats["relaxed_steps"] == 1 and res.stats["watchdog_returns"] == 0
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-9)
    off = solve(HS6(), sketch=sketch, watchdog=False)
    assert off.converged and off.nit > 2 and off.stats["relaxed_steps"] == 0
    np.testing.assert_allclose(off.x, [1.0, 1.0], atol=1e-8)


def test_watchdog_return_to_the_saved_iterate(monkeypatch):
    """With the relaxed step allowed for any rejected unit step, HS7's first relaxed step fails the check: the
    method returns to the saved iterate (one return, then monotone) and still reaches the published optimum."""
    import importlib

    mod = importlib.import_module("solvers.nonlinear.sketched_newton")
    monkeypatch.setattr(mod, "_WATCHDOG_GL", math.inf)
    res = solve(HS7(), sketch=None, maxiter=200)
    assert res.converged, res.message
    assert res.stats["relaxed_steps"] == 1 and res.stats["watchdog_returns"] == 1
    assert abs(res.history["objective"][-1] + math.sqrt(3.0)) <= 1e-8
    steps = res.history["step_size"][1:]
    assert np.all((steps >= 0) & (steps <= 1)) and res.history["kkt"].shape == (res.nit + 1,)


class HS6NaNHessianBelow(HS6):
    """HS6 whose Hessian of the Lagrangian is NaN for x2 < -3: at the watchdog's relaxed point (1, -3.84)."""

    def hess_lagrangian(self, x, lam):
        H = super().hess_lagrangian(x, lam)
        return H * np.nan if x[1] < -3.0 else H


@pytest.mark.parametrize("sketch", [None, "gaussian"])
def test_watchdog_returns_when_the_relaxed_point_cannot_be_continued(sketch):
    """A non-finite Hessian at the relaxed point is not a failure of the run: the method returns to the saved
    iterate, backtracks along the saved direction and reaches the published minimiser (1, 1)."""
    res = solve(HS6NaNHessianBelow(), sketch=sketch, maxiter=100)
    assert res.converged, res.message
    assert res.stats["relaxed_steps"] == 1 and res.stats["watchdog_returns"] == 1
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-8)
    for h in res.history.values():
        assert h.shape == (res.nit + 1,)
    assert np.all(np.diff(res.history["mu"]) >= 0)


def test_second_order_correction_is_counted_and_only_for_matrix_jacobians():
    nlp = pytest.importorskip("problems.nlp")
    P = nlp.hs("HS39")              # from zero multipliers (the least-squares start needs no correction here)
    on, off = solve(P, sketch=None, lam0="zeros"), solve(P, sketch=None, second_order_correction=False, lam0="zeros")
    assert on.converged and off.converged and on.stats["second_order_corrections"] >= 1
    assert off.stats["second_order_corrections"] == 0 and on.nit <= off.nit
    for r in (on, off):
        assert abs(P.f(r.x) - P.f_star) <= 1e-6 * max(1.0, abs(P.f_star))
    op = solve(random_qp(2, form="operator"), sketch=None)
    assert op.converged and op.stats["second_order_corrections"] == 0


@pytest.mark.parametrize("sketch", [None, "block"])
def test_indefinite_qp_positive_definite_on_null_space_needs_no_modification(sketch):
    qp = random_qp(4, indefinite=True)
    assert np.linalg.eigvalsh(qp.H).min() < 0
    x_ref, lam_ref = qp.reference()
    res = solve(qp, sketch=sketch, tol=1e-10)
    assert res.converged, res.message
    assert res.stats["hessian_modifications"] == 0
    np.testing.assert_allclose(res.x, x_ref, atol=1e-8)


@pytest.mark.parametrize("form", ["sparse", "operator"])
@pytest.mark.parametrize("sketch", [None, "gaussian"])
def test_sparse_and_operator_jacobian_and_hessian(form, sketch):
    qp = random_qp(5, form=form)
    x_ref, _ = qp.reference()
    res = solve(qp, sketch=sketch, tol=1e-10)
    assert res.converged, res.message
    assert res.stats["kkt_form"] == ("dense" if form == "sparse" else "operator")
    np.testing.assert_allclose(res.x, x_ref, atol=1e-8)


def test_kkt_preconditioner_is_used_by_minres():
    qp = random_qp(6, n=12, m=4, form="operator")
    d = np.concatenate([np.abs(np.diag(qp.H)) + 1.0, np.full(4, 1.0)])
    qp.kkt_preconditioner = lambda x, lam: BlockDiagPreconditioner(d)
    x_ref, _ = qp.reference()
    res = solve(qp, sketch=None, tol=1e-10)
    assert res.converged and res.stats["preconditioner_evaluations"] == res.nit
    np.testing.assert_allclose(res.x, x_ref, atol=1e-8)


# ---------------------------------------------------------------------------------------------
# nonlinear problems with published optima
@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("cls,f_star", PUBLISHED)
def test_published_optimum(cls, f_star, sketch):
    prob = cls()
    res = solve(prob, sketch=sketch, tol=1e-8, maxiter=200)
    assert res.converged, res.message
    assert abs(prob.f(res.x) - f_star) <= 1e-6 * max(1.0, abs(f_star))
    assert np.max(np.abs(prob.c(res.x))) <= 1e-8
    gL = prob.grad(res.x) + prob.jac(res.x).T @ res.lam
    assert math.hypot(np.linalg.norm(gL), np.linalg.norm(prob.c(res.x))) <= 1e-8   # measured on the result


def test_hessian_modification_when_reduced_hessian_is_indefinite():
    # with least-squares multipliers at x0 the reduced Hessian of HS6 is negative
    res = solve(HS6(), sketch=None, lam0="least-squares")
    assert res.stats["lam0"] == "least-squares"
    assert res.stats["hessian_modifications"] > 0 and res.stats["max_shift"] > 0
    assert res.converged
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)


def test_merit_gradient_matches_central_differences():
    prob = HS7()
    ev = NLPEvaluator(prob, 2, get_backend("numpy"))
    ev.c(prob.x0)
    x, lam, mu, nu = np.array([0.7, 1.3]), np.array([0.4]), 3.0, 0.2
    p = Point.evaluate(ev, x, lam, strict=True)
    p.H = prob.hess_lagrangian(x, lam)
    g = merit_gradient(p, mu, nu)

    def L(z):
        return merit_value(Point.evaluate(ev, z[:2], z[2:], strict=True), mu, nu)

    z, h = np.r_[x, lam], 1e-6
    fd = np.array([(L(z + h * e) - L(z - h * e)) / (2 * h) for e in np.eye(3)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("sketch", ["gaussian", "block"])
def test_merit_decreases_and_penalties_are_monotone(sketch):
    prob = HS7()
    res = solve(prob, sketch=sketch, maxiter=200)
    mu, nu = res.history["mu"], res.history["nu"]
    assert np.all(np.diff(mu) >= 0) and np.all(np.diff(nu) <= 0)
    assert res.mu == mu[-1] and res.nu == nu[-1]
    assert np.all((res.history["step_size"][1:] > 0) & (res.history["step_size"][1:] <= 1))


def test_superlinear_variant_needs_no_more_iterations_on_average():
    plain, sharp = [], []
    for seed in (0, 1):
        for sk in ("gaussian", "block"):
            plain.append(solve(HS6(), sketch=sk, seed=seed, maxiter=200).nit)
            sharp.append(solve(HS6(), sketch=sk, seed=seed, maxiter=200, superlinear=True).nit)
    for qs in (1, 2, 3):
        for sk in ("gaussian", "block"):
            plain.append(solve(random_qp(qs), sketch=sk, tol=1e-10).nit)
            sharp.append(solve(random_qp(qs), sketch=sk, tol=1e-10, superlinear=True).nit)
    assert np.mean(sharp) <= np.mean(plain)


# ---------------------------------------------------------------------------------------------
# conventions
def test_result_conventions_and_pickle():
    res = solve(HS7(), sketch="block", seed=7)
    for key in ("kkt", "objective", "constraint", "inner_iterations", "step_size", "mu", "nu"):
        assert res.history[key].shape == (res.nit + 1,)
    assert res.history["inner_iterations"][0] == 0 and res.history["inner_iterations"].sum() == \
        res.stats["inner_iterations"]
    for key in ("function_evaluations", "gradient_evaluations", "constraint_evaluations",
                "jacobian_evaluations", "hessian_evaluations", "time_s"):
        assert res.stats[key] > 0
    assert res.options["seed"] == 7 and res.stats["seed"] == 7 and res.provenance["seed"] == 7
    assert res.options["sketch"] == "block" and res.backend == "numba" and res.method == "sketched_newton"
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back.x, res.x)
    np.testing.assert_array_equal(back.lam, res.lam)
    assert back.history["kkt"].tolist() == res.history["kkt"].tolist()


@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz", "countsketch", "block"])
def test_same_seed_same_run(sketch):
    a = solve(random_qp(1), sketch=sketch, seed=11)
    b = solve(random_qp(1), sketch=sketch, seed=11)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.history["inner_iterations"].tolist() == b.history["inner_iterations"].tolist()


def test_seed_none_is_recorded_and_reproduces():
    a = sketched_newton(random_qp(1), sketch="gaussian")
    assert a.options["seed"] is None and isinstance(a.stats["seed"], int)
    b = sketched_newton(random_qp(1), sketch="gaussian", seed=a.stats["seed"])
    np.testing.assert_array_equal(a.x, b.x)


def test_maxiter_reports_failure_with_advice():
    res = solve(HS7(), sketch="gaussian", maxiter=2)
    assert not res.converged and res.status == "maxiter" and res.nit == 2
    assert "maxiter" in res.message and "raise maxiter" in res.message
    assert res.history["kkt"].shape == (3,)


def test_callback_receives_fields_and_can_stop():
    seen = []

    def cb(intermediate_result):
        seen.append((intermediate_result.nit, intermediate_result.kkt, intermediate_result.lam.copy()))
        if intermediate_result.nit == 2:
            raise StopIteration

    res = solve(HS7(), sketch=None, callback=cb)
    assert res.status == "stopped" and not res.converged and res.nit == 2
    assert [s[0] for s in seen] == [1, 2] and seen[-1][1] == res.history["kkt"][-1]


def test_converged_at_start_returns_zero_iterations():
    qp = random_qp(8)
    x_ref, lam_ref = qp.reference()
    qp.x0, qp.lam0 = x_ref, lam_ref
    res = solve(qp, tol=1e-8)
    assert res.converged and res.nit == 0 and res.stats["lam0"] == "problem"


def test_nan_in_line_search_trial_is_rejected_not_fatal():
    calls = {"nan": 0}

    class Guarded(HS6):
        def f(self, x):          # undefined for x2 < -1: some trial steps of HS6 from x0 go there
            if x[1] < -1.0:
                calls["nan"] += 1
                return math.nan
            return super().f(x)

    res = solve(Guarded(), sketch=None, maxiter=100)
    assert calls["nan"] > 0
    assert res.converged and abs(res.history["objective"][-1]) < 1e-12
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-7)


# ---------------------------------------------------------------------------------------------
# hostile input
def test_nan_objective_at_start_raises_naming_f():
    class Bad(HS6):
        def f(self, x):
            return math.nan

    with pytest.raises(ValueError, match="problem.f"):
        sketched_newton(Bad())


def test_wrong_shaped_jacobian_raises_naming_jac():
    class Bad(HS6):
        def jac(self, x):
            return np.ones((2, 2))

    with pytest.raises(ValueError, match="problem.jac"):
        sketched_newton(Bad())


def test_wrong_shaped_gradient_and_hessian_raise():
    class BadG(HS6):
        def grad(self, x):
            return np.ones(3)

    class BadH(HS6):
        def hess_lagrangian(self, x, lam):
            return np.ones((3, 3))

    with pytest.raises(ValueError, match="problem.grad"):
        sketched_newton(BadG())
    with pytest.raises(ValueError, match="problem.hess_lagrangian"):
        sketched_newton(BadH(), sketch=None)


def test_non_finite_jacobian_at_start_raises():
    class Bad(HS6):
        def jac(self, x):
            return np.array([[np.inf, 1.0]])

    with pytest.raises(ValueError, match="problem.jac"):
        sketched_newton(Bad())


@pytest.mark.parametrize("kw,match", [
    ({"tol": 0.0}, "tol"), ({"tol": -1.0}, "tol"), ({"tol": math.nan}, "tol"),
    ({"sketch": "fourier"}, "sketch"), ({"sketch": 3}, "sketch"),
    ({"maxiter": -1}, "maxiter"), ({"maxiter": 2.5}, "maxiter"),
    ({"mu0": 0.0}, "mu0"), ({"nu0": -1.0}, "nu0"), ({"delta0": 1.0}, "delta0"),
    ({"beta": 0.5}, "beta"), ({"rho": 1.0}, "rho"), ({"xi_B": 0.0}, "xi_B"),
    ({"sketch_size": 0}, "sketch_size"), ({"inner_maxiter": 0}, "inner_maxiter"),
    ({"seed": -1}, "seed"), ({"lam0": np.zeros(3)}, "lam0"), ({"lam0": "ones"}, "lam0"),
    ({"lam0": np.array([np.nan])}, "lam0"),
    ({"tight_size": -1}, "tight_size"), ({"tight_size": 2.5}, "tight_size"), ({"tight_size": True}, "tight_size"),
    ({"watchdog": "yes"}, "watchdog"), ({"second_order_correction": 1}, "second_order_correction"),
])
def test_invalid_options_raise(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sketched_newton(HS6(), **kw)


def test_problem_without_callables_or_x0_raises():
    class NoHess:
        x0 = np.zeros(2)
        f = HS6.f
        grad = HS6.grad
        c = HS6.c
        jac = HS6.jac

    with pytest.raises(TypeError, match="hess_lagrangian"):
        sketched_newton(NoHess())

    class NoX0(HS6):
        x0 = None

    with pytest.raises((TypeError, ValueError), match="x0"):
        sketched_newton(NoX0())


def test_unconstrained_problem_is_refused():
    class Free(HS6):
        def c(self, x):
            return np.zeros(0)

    with pytest.raises(ValueError, match="m = 0"):
        sketched_newton(Free())


# ---------------------------------------------------------------------------------------------
# property: any well-posed equality-constrained QP is solved to the dense KKT solution
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 7), m_frac=st.floats(0.1, 0.9),
       indefinite=st.booleans())
def test_property_qp_solution_matches_dense_kkt(seed, n, m_frac, indefinite):
    m = max(1, min(n - 1, int(round(m_frac * n))))
    qp = random_qp(seed, n=n, m=m, indefinite=indefinite)
    x_ref, lam_ref = qp.reference()
    res = solve(qp, sketch=None, tol=1e-10)
    assert res.converged, res.message
    scale = max(1.0, np.abs(x_ref).max())
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-7 * scale)


def test_non_numeric_objective_raises_naming_f():
    class Bad(HS6):
        def f(self, x):
            return "1.0"

    with pytest.raises((TypeError, ValueError), match="problem.f"):
        sketched_newton(Bad())


@pytest.mark.filterwarnings("ignore:overflow encountered")
@pytest.mark.parametrize("fscale,cscale,name", [(1e-300, 1.0, "f"), (1.0, 1e-150, "c"), (1e300, 1.0, "f"),
                                                (1.0, 1e150, "c")])
def test_extreme_scales_are_refused_naming_the_callable(fscale, cscale, name):
    qp = random_qp(1)
    qp.H, qp.g = qp.H * fscale, qp.g * fscale
    qp.A, qp.b = qp.A * cscale, qp.b * cscale
    with pytest.raises(ValueError, match=f"badly scaled.*problem.{name}"):
        sketched_newton(qp)


def test_moderate_scales_still_solved():
    qp = random_qp(2)
    qp.H, qp.g = qp.H * 1e6, qp.g * 1e6
    x_ref, _ = qp.reference()
    m = qp.A.shape[0]
    K = np.block([[qp.H, qp.A.T], [qp.A, np.zeros((m, m))]])
    for tol in (1e-4, 1e-8):
        res = solve(qp, sketch=None, tol=tol)
        assert res.converged
        # a KKT residual <= tol puts x within ||K^-1|| tol of the solution (the QP's KKT system is linear)
        bound = np.linalg.norm(np.linalg.inv(K), 2) * tol
        np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=max(bound, 1e-12 * max(1, np.abs(x_ref).max())))


def test_automatic_multipliers_least_squares_with_the_reduced_hessian_safeguard():
    nlp = pytest.importorskip("problems.nlp")
    import scipy.linalg as sla
    # BT12: the least-squares estimate keeps Z^T H Z positive definite -> it is the start (same run as asking for it)
    P = nlp.hs("BT12")
    auto, ls = solve(P, sketch=None), solve(P, sketch=None, lam0="least-squares")
    assert auto.stats["lam0"] == "least-squares" and auto.nit == ls.nit
    np.testing.assert_allclose(auto.history["kkt"], ls.history["kkt"], rtol=1e-12)
    # HS6: the estimate makes Z^T H Z negative at x0, zeros keep it positive -> zeros (checked independently here)
    P = nlp.hs("HS6")
    x0 = np.asarray(P.x0, float)
    J = np.atleast_2d(P.jac(x0))
    lam_ls = np.linalg.lstsq(J.T, -P.grad(x0), rcond=None)[0]
    Z = sla.null_space(J)
    assert np.linalg.eigvalsh(Z.T @ P.hess_lagrangian(x0, lam_ls) @ Z).min() < 0
    assert np.linalg.eigvalsh(Z.T @ P.hess_lagrangian(x0, np.zeros(1)) @ Z).min() > 0
    res = solve(P, sketch=None)
    assert res.stats["lam0"].startswith("zeros (reduced Hessian") and res.converged
    assert abs(P.f(res.x) - P.f_star) <= 1e-6
    # a problem that sets lam0 keeps it; lam0="zeros" is the authors' start
    assert solve(P, sketch=None, lam0="zeros").stats["lam0"] == "zeros"


def test_automatic_multipliers_refuse_a_huge_estimate():
    # min x1^2 + x2^2 s.t. eps * (x1 + x2 - 1) = 0: the least-squares multipliers scale like 1/eps
    eps = 1e-4
    qp = QP(np.eye(2) * 2, np.zeros(2), np.array([[eps, eps]]), np.array([eps]), x0=np.array([3.0, -1.0]))
    res = solve(qp, sketch=None, tol=1e-12)
    assert res.stats["lam0"] == "zeros (least-squares estimate too large)"
    assert res.converged and np.allclose(res.x, [0.5, 0.5], atol=1e-6)


class ScaledCircle:
    """``min s (x1 + x2)  s.t.  x1^2 + x2^2 = 1`` from (2, 0.5): x* = -(1, 1)/sqrt(2), lam* = s/sqrt(2) (analytic)."""

    def __init__(self, s):
        self.s, self.x0 = s, np.array([2.0, 0.5])

    def f(self, x):
        return self.s * float(x[0] + x[1])

    def grad(self, x):
        return self.s * np.ones(2)

    def c(self, x):
        return np.array([x[0] ** 2 + x[1] ** 2 - 1.0])

    def jac(self, x):
        return np.array([[2 * x[0], 2 * x[1]]])

    def hess_lagrangian(self, x, lam):
        return 2.0 * float(lam[0]) * np.eye(2)


@pytest.mark.parametrize("s", [1e-6, 1e-4, 1.0, 1e4, 1e8])
@pytest.mark.parametrize("sketch", [None, "gaussian"])
def test_objective_scaling_solves_badly_scaled_objectives(s, sketch):
    res = solve(ScaledCircle(s), sketch=sketch, tol=1e-8 * min(1.0, s), maxiter=200)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, -np.ones(2) / np.sqrt(2), atol=1e-7)
    np.testing.assert_allclose(res.lam, [s / np.sqrt(2)], rtol=1e-6)           # the problem's own multiplier
    np.testing.assert_allclose(res.history["objective"][-1], -s * np.sqrt(2), rtol=1e-9)
    scale = res.stats["objective_scale"]
    assert scale == 1.0 if 1e-2 <= s <= 1e2 else 1e-2 <= s * scale <= 1e2
    assert math.log2(scale) == int(math.log2(scale))                          # a power of two: exact


def test_objective_scaling_can_be_switched_off():
    res = solve(ScaledCircle(1e-4), sketch=None, maxiter=200, scaling=False)
    assert not res.converged and res.stats["objective_scale"] == 1.0 and "badly scaled" in res.message
    with pytest.raises(TypeError, match="scaling"):
        solve(ScaledCircle(1.0), scaling="yes")


class _DoubleWellOp:
    """``min sum(x^4/4 - x^2/2)  s.t.  sum(x) = 1`` with operator Jacobian and Hessian: KKT points with every
    coordinate at -1, 0 or +1 (shifted by lam); the ones with a coordinate near the hump are saddles."""

    def __init__(self, x0):
        self.x0 = np.asarray(x0, float)

    def f(self, x):
        return float(np.sum(x ** 4 / 4 - x ** 2 / 2))

    def grad(self, x):
        return x ** 3 - x

    def c(self, x):
        return np.array([x.sum() - 1.0])

    def jac(self, x):
        from solvers.operators import DenseOperator
        return DenseOperator(np.ones((1, x.size)))

    def hess_lagrangian(self, x, lam):
        from solvers.operators import DiagonalOperator
        return DiagonalOperator(3 * x * x - 1)


def test_small_operator_problems_get_the_second_order_check():
    # a converged claim must be a local minimiser, checked independently (null space of 1^T, dense eigenvalues)
    rng = np.random.default_rng(0)
    seen = {"minimiser": 0, "saddle refused": 0}
    for _ in range(12):
        n = int(rng.integers(5, 13))
        res = solve(_DoubleWellOp(rng.uniform(-0.8, 0.8, n)), sketch=None, tol=1e-10)
        x = res.x
        Z = np.linalg.svd(np.ones((1, n)))[2][1:].T
        emin = np.linalg.eigvalsh(Z.T @ np.diag(3 * x * x - 1) @ Z).min()
        if res.converged:
            assert emin > 1e-6 and res.stats["second_order"] == "positive definite reduced Hessian"
            seen["minimiser"] += 1
        elif res.stats["second_order"].startswith("negative curvature"):
            assert emin < 0 and "NOT a local minimiser" in res.message
            seen["saddle refused"] += 1
    assert seen["minimiser"] >= 3 and seen["saddle refused"] >= 3, seen


@pytest.mark.parametrize("sketch", [None, "gaussian"])
def test_inconsistent_constraints_are_named_when_the_run_stagnates(sketch):
    """x0 = 1, x1 = 2, x0 + x1 = 4 have no common solution: the run stagnates at their least-squares point
    (c = (1/3, 1/3, -1/3), J^T c = 0, analytic) and the message blamed a singular KKT matrix or a slow inner
    solver, advising sketch=None even when in use (helper-66). It now says the constraints look inconsistent."""
    from problems.nlp import EqualityConstrainedProblem

    J = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    prob = EqualityConstrainedProblem(lambda x: float(x @ x), lambda x: 2 * x,
                                      lambda x: J @ x - np.array([1.0, 2.0, 4.0]), lambda x: J,
                                      lambda x, lam: 2 * np.eye(2), np.zeros(2))
    r = sketched_newton(prob, sketch=sketch, maxiter=60)
    assert not r.converged and r.status == "stagnated"
    assert "constraints look inconsistent" in r.message
    np.testing.assert_allclose(r.x, [4 / 3, 7 / 3], atol=1e-6)
    if sketch is None:
        assert "sketch=None" not in r.message
