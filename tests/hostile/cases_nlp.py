"""Hostile inputs for ``solvers.sketched_newton``, ``problems.nlp``, ``problems.pde.PoissonControl``
and ``solvers.newton_krylov`` on ``problems.pde.Bratu``.

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: a ValueError/TypeError whose message names the argument at fault;
* ``"verified"``: a ``SolveResult`` whose claim was checked here against an independent
  reference: a dense KKT solve (NumPy), published Hock-Schittkowski optima, or the KKT residual
  recomputed from the problem's callables; a ``converged=False`` result counts when its message
  is non-empty and its ``x`` finite (an honest failure);
* ``"wrong"``: anything else (a false ``converged=True``, an unclear or misattributed error).
"""
from __future__ import annotations

import numpy as np

import solvers
from problems import nlp
from problems.pde import Bratu, PoissonControl
from solvers.nonlinear.sketched_newton import sketched_newton


# ------------------------------------------------------------------ helpers
def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {exc}")


def _expect_error(fn, *needles, types=(ValueError, TypeError)):
    def case():
        try:
            out = fn()
        except types as exc:
            return _named(exc, *needles)
        return "wrong", f"accepted: {str(out)[:200]}"
    return case


class QP:
    """``min 1/2 x^T Q x + q^T x  s.t.  A x = b`` (duck-typed problem); the reference is the dense KKT solve."""

    def __init__(self, n=6, m=2, seed=0, fscale=1.0, cscale=1.0, x0=None, A=None, b=None):
        rng = np.random.default_rng(seed)
        M = rng.standard_normal((n, n))
        self.Q = (M @ M.T + n * np.eye(n)) * fscale
        self.q = rng.standard_normal(n) * fscale
        self.A = (rng.standard_normal((m, n)) if A is None else np.asarray(A, float)) * cscale
        self.b = (rng.standard_normal(self.A.shape[0]) if b is None else np.asarray(b, float)) * cscale
        self.x0 = np.zeros(n) if x0 is None else x0
        self.n, self.m = n, self.A.shape[0]

    def f(self, x):
        return float(0.5 * x @ self.Q @ x + self.q @ x)

    def grad(self, x):
        return self.Q @ x + self.q

    def c(self, x):
        return self.A @ x - self.b

    def jac(self, x):
        return self.A

    def hess_lagrangian(self, x, lam):
        return self.Q

    def reference(self):
        n, m = self.n, self.m
        K = np.block([[self.Q, self.A.T], [self.A, np.zeros((m, m))]])
        z = np.linalg.solve(K, np.concatenate([-self.q, self.b]))
        return z[:n], z[n:]


def _kkt(prob, x, lam):
    """KKT residual recomputed from the problem's own callables (not from the solver)."""
    J = prob.jac(x)
    lam = np.asarray(lam, float)
    if hasattr(J, "toarray"):
        JTl = J.toarray().T @ lam
    elif isinstance(J, np.ndarray):
        JTl = J.T @ lam
    else:
        JTl = np.asarray(J.rmatvec(lam))
    gl = np.asarray(prob.grad(x), float) + JTl
    cx = np.asarray(prob.c(x), float)
    return float(np.sqrt(gl @ gl + cx @ cx))


def _honest(res, prob, tol, x_ref=None, xtol=1e-5):
    """Converged claims are checked; a failure must be said and leave a finite x."""
    if not isinstance(res, solvers.SolveResult):
        return "wrong", f"not a SolveResult: {type(res).__name__}"
    if any(len(v) != res.nit + 1 for v in res.history.values()):
        return "wrong", f"history lengths {[len(v) for v in res.history.values()]} differ from nit + 1 = {res.nit + 1}"
    if res.converged:
        k = _kkt(prob, res.x, res.lam)
        if not k <= 10 * tol:
            return "wrong", f"converged=True but the recomputed KKT residual is {k:.3g} (tol {tol})"
        if x_ref is not None:
            err = np.linalg.norm(res.x - x_ref) / max(1.0, np.linalg.norm(x_ref))
            if not err <= xtol:
                return "wrong", f"converged=True but |x - x_ref| / |x_ref| = {err:.3g}"
        return "verified"
    if not res.message or not np.all(np.isfinite(res.x)):
        return "wrong", f"failure without a message or with a non-finite x: {res.message!r}"
    hist_ok = all(len(v) == res.nit + 1 for v in res.history.values())
    return "verified" if hist_ok else ("wrong", "history lengths differ from nit + 1")


def _solve_qp(scale_f=1.0, scale_c=1.0, tol=1e-8, **kw):
    def case():
        p = QP(fscale=scale_f, cscale=scale_c)
        x_ref, _ = p.reference()
        try:
            res = sketched_newton(p, tol=tol, sketch=None, maxiter=200, **kw)   # MINRES: the scaling, not the sketch
        except (ValueError, TypeError) as exc:   # a refusal of a badly scaled problem is allowed when it says so
            return _named(exc, "scal")
        if res.converged and "tol is absolute" in res.message:
            return "verified", "converged by the absolute tol, and the message says so"
        return _honest(res, p, tol, x_ref)
    return case


# ------------------------------------------------------------------ duck problems with faults
class Faulty(QP):
    """A QP whose callables misbehave in one way."""

    def __init__(self, where, value, after=0, **kw):
        super().__init__(**kw)
        self.where, self.value, self.after, self.calls = where, value, after, 0

    def _maybe(self, name, good):
        if name != self.where:
            return good
        self.calls += 1
        if self.calls <= self.after:
            return good
        v = self.value
        return v(good) if callable(v) else v

    def f(self, x):
        return self._maybe("f", super().f(x))

    def grad(self, x):
        return self._maybe("grad", super().grad(x))

    def c(self, x):
        return self._maybe("c", super().c(x))

    def jac(self, x):
        return self._maybe("jac", super().jac(x))

    def hess_lagrangian(self, x, lam):
        return self._maybe("hess_lagrangian", super().hess_lagrangian(x, lam))


def _fault_at_start(where, value, *needles):
    """A bad value at the start must be refused naming the callable, or end in an honest
    ``converged=False`` at iteration 0 whose message names the callable."""
    def case():
        try:
            res = sketched_newton(Faulty(where, value), seed=0)
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        if not res.converged and res.nit == 0 and all(n in res.message for n in needles):
            return "verified"
        return "wrong", f"accepted: {str(res)[:200]}"
    return case


def _fault_later(where, value, after):
    """A bad value after a few good evaluations: an honest failure (or an error naming the callable)."""
    def case():
        p = Faulty(where, value, after=after)
        try:
            res = sketched_newton(p, seed=0, tol=1e-10, maxiter=50)
        except (ValueError, FloatingPointError, ArithmeticError) as exc:
            return _named(exc, where.split("_")[0])
        if res.converged:
            x_ref, _ = QP().reference()
            return _honest(res, QP(), 1e-10, x_ref)
        if "nan" not in res.message.lower() and "finite" not in res.message.lower() and where not in res.message:
            return "wrong", f"failure message does not say what went wrong: {res.message!r}"
        return _honest(res, p, 1e-10)
    return case


def _nan_vec(g):
    out = np.array(g, dtype=float, copy=True)
    out.flat[0] = np.nan
    return out


def _inf_vec(g):
    out = np.array(g, dtype=float, copy=True)
    out.flat[-1] = np.inf
    return out


def _complex(g):
    return np.asarray(g) + 0j


def _strings(g):
    return np.asarray(g).astype(str)


def _objects(g):
    return np.asarray(g).astype(object)


def _transpose(g):
    return np.asarray(g).T


def _drop(g):
    return np.asarray(g)[:-1]


def _2d(g):
    return np.asarray(g)[None, :]


def _x0(x0, *needles):
    def case():
        p = QP()
        p.x0 = x0
        try:
            res = sketched_newton(p, seed=0)
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        return "wrong", f"x0={x0!r} accepted: {res.message}"
    return case


def _option(needle, **kw):
    return _expect_error(lambda: sketched_newton(QP(), **kw), needle)


def _option_ok(**kw):
    """Valid but extreme options: an honest result, checked against the dense KKT solve."""
    def case():
        p = QP()
        x_ref, _ = p.reference()
        try:
            res = sketched_newton(p, **kw)
        except (ValueError, TypeError) as exc:
            return _named(exc, *[k for k in kw if k != "seed"][:1])
        return _honest(res, p, kw.get("tol", 1e-8), x_ref)
    return case


# ------------------------------------------------------------------ structural hostility
def _m_greater_than_n_consistent():
    # 3 constraints on 2 variables, consistent (x = (1, 2)) but J has rank 2: LICQ fails, the answer is fixed.
    A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    p = QP(n=2, m=3, A=A, b=np.array([1.0, 2.0, 3.0]))
    res = sketched_newton(p, seed=0, tol=1e-8, maxiter=200)
    if res.converged and not np.allclose(res.x, [1.0, 2.0], atol=1e-6):
        return "wrong", f"converged to {res.x}, the only feasible point is (1, 2)"
    if res.converged:
        return "verified"       # multipliers are not unique: only x and the recomputed residual are checked
    return _honest(res, p, 1e-8)


def _infeasible():
    # x1 + x2 = 1 and x1 + x2 = 2: no feasible point; must not claim convergence.
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    p = QP(n=3, m=2, A=A, b=np.array([1.0, 2.0]))
    res = sketched_newton(p, seed=0, tol=1e-8, maxiter=25, inner_maxiter=2000)
    if res.converged:
        return "wrong", "converged=True on infeasible constraints"
    return _honest(res, p, 1e-8)


def _infeasible_minres():
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    p = QP(n=3, m=2, A=A, b=np.array([1.0, 2.0]))
    res = sketched_newton(p, sketch=None, tol=1e-8, maxiter=25)
    if res.converged:
        return "wrong", "converged=True on infeasible constraints"
    return _honest(res, p, 1e-8)


def _rank_deficient_consistent():
    # the same constraint twice (J rank 1 of 2 rows): the solution is unique in x.
    a = np.array([1.0, 2.0, -1.0, 0.5])
    A = np.vstack([a, a])
    p = QP(n=4, m=2, A=A, b=np.array([1.0, 1.0]))
    # reference: the QP with the constraint once
    ref = QP(n=4, m=1, A=a[None, :], b=np.array([1.0]))
    ref.Q, ref.q = p.Q, p.q
    x_ref, _ = ref.reference()
    res = sketched_newton(p, seed=0, tol=1e-8, maxiter=200)
    if res.converged and np.linalg.norm(res.x - x_ref) > 1e-6 * max(1, np.linalg.norm(x_ref)):
        return "wrong", f"x off the reference by {np.linalg.norm(res.x - x_ref):.3g}"
    return "verified" if res.converged else _honest(res, p, 1e-8)


def _m_zero():
    p = QP()
    p.A, p.b = np.zeros((0, p.n)), np.zeros(0)
    try:
        sketched_newton(p, seed=0)
    except (ValueError, TypeError) as exc:
        return _named(exc, "c")
    return "wrong", "m = 0 accepted"


def _hs_published(name, sketch="gaussian", **size):
    def case():
        p = nlp.hs(name, **size)
        res = sketched_newton(p, sketch=sketch, seed=1, tol=1e-8, maxiter=300)
        if not res.converged:
            return _honest(res, p, 1e-8)
        if p.f_star is not None and abs(p.f(res.x) - p.f_star) > 1e-6 * max(1.0, abs(p.f_star)):
            # a different KKT point is possible for non-convex problems: it must then be a KKT point
            k = _kkt(p, res.x, res.lam)
            return ("verified" if k <= 1e-7 else
                    ("wrong", f"f = {p.f(res.x)!r} vs published {p.f_star!r}, KKT {k:.3g}"))
        return _honest(res, p, 1e-8)
    return case


def _scalable_vs_exact(factory, **kw):
    """equality_qp / sphere_projection: their exact minimiser x_star, and for the QP also a dense KKT
    solve assembled here from the problem's own gradient and Jacobian at two points."""
    def case():
        p = factory(**kw)
        res = sketched_newton(p, sketch=None, tol=1e-9, maxiter=100)
        out = _honest(res, p, 1e-9, p.x_star, xtol=1e-6)
        if out != "verified" or factory is not nlp.equality_qp:
            return out
        n, m = p.n, p.m
        z = np.zeros(n)
        J = np.asarray(p.jac(z))
        g0 = np.asarray(p.grad(z))
        Q = np.column_stack([np.asarray(p.grad(e)) - g0 for e in np.eye(n)])   # exact for a quadratic
        K = np.block([[Q, J.T], [J, np.zeros((m, m))]])
        x_ref = np.linalg.solve(K, -np.concatenate([g0, np.asarray(p.c(z))]))[:n]
        err = np.linalg.norm(res.x - x_ref) / np.linalg.norm(x_ref)
        return "verified" if err < 1e-6 else ("wrong", f"off the dense KKT solve by {err:.3g}")
    return case


def _pickle_lambda():
    import pickle

    p = nlp.EqualityConstrainedProblem(lambda x: float(x @ x), lambda x: 2 * x, lambda x: x[:1] - 1.0,
                                       lambda x: np.eye(1, x.size), lambda x, lam: 2 * np.eye(x.size), np.ones(3))
    try:
        pickle.dumps(p)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        return _named(exc, "lambda")
    return "wrong", "a lambda problem pickled"


def _ecp(**over):
    """EqualityConstrainedProblem with one argument replaced."""
    q = QP()
    kw = dict(f=q.f, grad=q.grad, c=q.c, jac=q.jac, hess_lagrangian=q.hess_lagrangian, x0=np.zeros(q.n))
    kw.update(over)
    return lambda: nlp.EqualityConstrainedProblem(kw.pop("f"), kw.pop("grad"), kw.pop("c"), kw.pop("jac"),
                                                  kw.pop("hess_lagrangian"), kw.pop("x0"), **kw)


def _ecp_verified():
    q = QP(seed=3)
    p = nlp.EqualityConstrainedProblem(q.f, q.grad, q.c, q.jac, q.hess_lagrangian, np.zeros(q.n), name="qp")
    x_ref, _ = q.reference()
    res = solvers.solve(p, method="sketched_newton", seed=0, tol=1e-9) if hasattr(solvers, "solve") else None
    return _honest(res, q, 1e-9, x_ref)


def _sparse_jac_verified():
    import scipy.sparse as sp

    q = QP(n=8, m=3, seed=5)
    A = sp.csr_matrix(q.A)

    class S(QP):
        def jac(self, x):
            return A
    p = S(n=8, m=3, seed=5)
    x_ref, _ = q.reference()
    return _honest(sketched_newton(p, seed=0, tol=1e-9), q, 1e-9, x_ref)


def _minres_verified():
    p = QP(n=10, m=4, seed=7)
    x_ref, _ = p.reference()
    return _honest(sketched_newton(p, sketch=None, tol=1e-9), p, 1e-9, x_ref)


def _sketch_verified(sk, size=None, **kw):
    """A small QP (n = 5, m = 2): sketch-and-project converges in the default budgets; a
    14-unknown KKT system already needs ~3.5e6 Gaussian sketch steps (see the honest cases)."""
    def case():
        p = QP(n=5, m=2, seed=9)
        x_ref, _ = p.reference()
        res = sketched_newton(p, sketch=sk, sketch_size=size, seed=2, tol=1e-8, maxiter=200, **kw)
        return _honest(res, p, 1e-8, x_ref)
    return case


def _callback_stop():
    p = QP()

    def cb(r):
        raise StopIteration
    res = sketched_newton(p, seed=0, callback=cb)
    if res.nit > 1:
        return "wrong", f"callback StopIteration ignored (nit {res.nit}, converged {res.converged})"
    return _honest(res, p, 1e-8)            # converged only if iteration 1 reached tol (checked there)


def _maxiter_zero():
    p = QP()
    res = sketched_newton(p, seed=0, maxiter=0)
    if res.nit != 0 or not np.array_equal(res.x, p.x0):
        return "wrong", f"maxiter=0 moved: nit {res.nit}"
    if res.converged and _kkt(p, res.x, res.lam) > 1e-8:
        return "wrong", "maxiter=0 claims converged at a non-KKT start"
    return _honest(res, p, 1e-8)


def _start_at_solution():
    p = QP()
    x_ref, lam_ref = p.reference()
    p.x0 = x_ref.copy()
    p.lam0 = lam_ref.copy()
    res = sketched_newton(p, seed=0, tol=1e-8)
    if not res.converged or res.nit > 1:
        return "wrong", f"start at the solution: converged {res.converged}, nit {res.nit}"
    return _honest(res, p, 1e-8, x_ref)


def _lam0_bad(value, *needles):
    return _expect_error(lambda: sketched_newton(QP(), lam0=value, seed=0), *needles)


# ------------------------------------------------------------------ problem factories
def _logistic(**kw):
    return lambda: nlp.logistic_regression(**kw)


def _logistic_verified():
    # the synthetic problem with 2 constraints, checked by the recomputed KKT residual and against SciPy SLSQP
    from scipy.optimize import minimize

    p = nlp.logistic_regression("synthetic", constraints=2, seed=1)
    res = sketched_newton(p, seed=0, tol=1e-7, maxiter=300)
    out = _honest(res, p, 1e-7)
    if out != "verified" or not res.converged:
        return out
    ref = minimize(p.f, res.x + 1e-3, jac=p.grad, method="SLSQP",
                   constraints=[{"type": "eq", "fun": p.c, "jac": p.jac}], options={"ftol": 1e-14, "maxiter": 500})
    if ref.success and p.f(res.x) > ref.fun + 1e-6 * max(1, abs(ref.fun)):
        return "wrong", f"f = {p.f(res.x)} above SLSQP's {ref.fun} from a nearby start"
    return "verified"


def _logistic_loss_verified():
    from scipy.optimize import check_grad, minimize

    L = nlp.logistic_loss("synthetic", reg=1e-2, seed=0)
    x0 = np.zeros(L.n) if hasattr(L, "n") else np.zeros(np.asarray(L.x0).size)
    err = check_grad(L.fun, L.jac, x0 + 0.1)
    if err > 1e-5 * max(1, np.linalg.norm(L.jac(x0 + 0.1))):
        return "wrong", f"gradient off finite differences by {err:.3g}"
    r = minimize(L.fun, x0, jac=L.jac, hessp=L.hessp, method="trust-krylov", options={"gtol": 1e-10})
    return "verified" if np.linalg.norm(L.jac(r.x)) < 1e-8 else ("wrong", f"SciPy trust-krylov: {r.message}")


def _logistic_scaled_features(scale):
    """Standardised features do not depend on the units: Z and scale * Z give the same loss."""
    def case():
        rng = np.random.default_rng(0)
        Z, y = rng.random((30, 4)), np.where(rng.random(30) > 0.5, 1.0, -1.0)
        x = np.array([0.3, -0.2, 0.1, 0.5])
        try:
            got = nlp.logistic_loss(dataset=(Z * scale, y)).fun(x)
        except (ValueError, TypeError) as exc:
            return _named(exc, "Z")
        Zs = (Z - Z.mean(0)) / Z.std(0)                         # textbook standardisation, unscaled data
        ref = np.mean(np.logaddexp(0.0, -y * (Zs @ x))) + 0.5e-3 * x @ x
        return "verified" if abs(got - ref) <= 1e-12 * ref else ("wrong", f"loss {got} vs {ref} at scale {scale:g}")
    return case


def _control_semilinear_derivatives():
    """The semilinear control problem's gradient, Jacobian and Lagrangian Hessian against central
    differences of its own f and c (independent of the derivative code), then a solve whose KKT
    residual is recomputed from them."""
    p = PoissonControl(4, alpha=1e-2, semilinear=True)
    rng = np.random.default_rng(0)
    x, lam, v = rng.standard_normal(p.n), rng.standard_normal(p.m), rng.standard_normal(p.n)
    h = 1e-6
    fd_g = (p.f(x + h * v) - p.f(x - h * v)) / (2 * h)
    fd_J = (np.asarray(p.c(x + h * v)) - np.asarray(p.c(x - h * v))) / (2 * h)

    def gl(z):
        return np.asarray(p.grad(z)) + np.asarray(p.jac(z).rmatvec(lam))
    fd_H = (gl(x + h * v) - gl(x - h * v)) / (2 * h)
    H = p.hess_lagrangian(x, lam)
    Hv = H @ v if isinstance(H, np.ndarray) else H.matvec(v)
    errs = [abs(fd_g - np.asarray(p.grad(x)) @ v) / max(1, abs(fd_g)),
            np.linalg.norm(fd_J - np.asarray(p.jac(x).matvec(v))) / max(1, np.linalg.norm(fd_J)),
            np.linalg.norm(fd_H - np.asarray(Hv)) / max(1, np.linalg.norm(fd_H))]
    if max(errs) > 1e-6:
        return "wrong", (f"derivatives off central differences: grad {errs[0]:.2g}, jac {errs[1]:.2g}, "
                         f"hess {errs[2]:.2g}")
    res = sketched_newton(p, sketch=None, tol=1e-9, maxiter=50)
    return _honest(res, p, 1e-9)


def _control_verified():
    # linear control: a QP; reference: the dense KKT solve assembled from the problem's own operators
    p = PoissonControl(6, alpha=1e-2)
    res = sketched_newton(p, sketch=None, tol=1e-10, maxiter=20)
    n, m = p.n, p.m
    J = p.jac(p.x0)
    Jd = np.column_stack([J.matvec(e) for e in np.eye(n)])
    H = p.hess_lagrangian(p.x0, np.zeros(m))
    Hd = np.column_stack([H.matvec(e) for e in np.eye(n)]) if not isinstance(H, np.ndarray) else H
    g0 = p.grad(p.x0)
    K = np.block([[Hd, Jd.T], [Jd, np.zeros((m, m))]])
    z = np.linalg.solve(K, -np.concatenate([g0, p.c(p.x0)]))
    x_ref = p.x0 + z[:n]
    if not res.converged:
        return "wrong", f"linear control did not converge: {res.message}"
    err = np.linalg.norm(res.x - x_ref) / np.linalg.norm(x_ref)
    return "verified" if err < 1e-6 else ("wrong", f"control off the dense KKT solve by {err:.3g}")


def _bratu_verified():
    # 1-D-like check: the residual F(u) recomputed from the problem must be small where convergence is claimed,
    # and lam = 0 has the exact solution u = 0.
    p = Bratu((12, 12), lam=2.0)
    res = solvers.solve(p, tol=1e-9)
    if not res.converged:
        return "wrong", f"Bratu lam=2 did not converge: {res.message}"
    F = p.residual(res.x)
    F0 = p.residual(np.zeros(p.n))
    if np.linalg.norm(F) > 1e-6 * np.linalg.norm(F0):
        return "wrong", f"|F(u)| = {np.linalg.norm(F):.3g} after a converged solve"
    return "verified"


def _bratu_jacobian_vs_fd():
    """J(u) v against central differences of F (the problem's own residual)."""
    p = Bratu((5, 4), lam=3.0)
    rng = np.random.default_rng(1)
    u, v = 0.3 * rng.standard_normal(p.n), rng.standard_normal(p.n)
    h = 1e-6
    fd = (np.asarray(p.residual(u + h * v)) - np.asarray(p.residual(u - h * v))) / (2 * h)
    J = p.jacobian(u)
    Jv = np.asarray(J.matvec(v) if hasattr(J, "matvec") else J @ v)
    err = np.linalg.norm(fd - Jv) / np.linalg.norm(fd)
    return "verified" if err < 1e-7 else ("wrong", f"J v off central differences by {err:.3g}")


def _bratu_far_beyond_fold():
    # lam above lambda_min(A)/e: provably no solution; a clear error naming lam, not a failed solve
    try:
        Bratu((10, 10), lam=50.0)
    except ValueError as exc:
        return _named(exc, "lam")
    return "wrong", "Bratu(lam=50) accepted: no solution exists above lambda_min(A)/e"


def _bratu_beyond_fold():
    # lam between the fold (about 6.81 on the unit square) and lambda_min(A)/e (7.21 on 10 x 10): no solution
    # exists; the solve must not claim convergence.
    p = Bratu((10, 10), lam=7.15)
    res = solvers.solve(p, tol=1e-8)
    if res.converged:
        F = p.residual(res.x)
        return ("wrong", f"converged beyond the fold, |F| = {np.linalg.norm(F):.3g}") if np.linalg.norm(F) > 1e-6 \
            else "verified"
    return "verified" if res.message else ("wrong", "silent failure")


def _bratu_method_not_offered():
    try:
        solvers.solve(Bratu((8, 8)), method="cg")
    except (ValueError, TypeError, KeyError) as exc:
        return _named(exc, "cg")
    return "wrong", "method cg accepted for Bratu"


def _control_method_not_offered():
    try:
        solvers.solve(PoissonControl(4), method="newton_krylov")
    except (ValueError, TypeError, KeyError) as exc:
        return _named(exc, "newton_krylov")
    return "wrong", "newton_krylov accepted for PoissonControl"


def _control_pickle_roundtrip():
    import pickle

    p = PoissonControl(5, semilinear=True)
    q = pickle.loads(pickle.dumps(p))
    x = np.linspace(0, 1, p.n)
    return "verified" if np.allclose(p.c(x), q.c(x)) and p.f(x) == q.f(x) else ("wrong", "pickle changed the problem")


def _scaled_hs(scale):
    """f multiplied by ``scale``: the minimiser of HS28 is unchanged (published x* = (0.5, -0.5, 0.5))."""
    def case():
        base = nlp.hs("HS28")

        class Scaled:
            x0 = base.x0.copy()
            n, m = base.n, base.m

            def f(self, x):
                return scale * base.f(x)

            def grad(self, x):
                return scale * np.asarray(base.grad(x))

            def c(self, x):
                return base.c(x)

            def jac(self, x):
                return base.jac(x)

            def hess_lagrangian(self, x, lam):
                # H(f*s + lam^T c) = s H_f + sum lam_i H_ci; HS28 has linear constraints
                return scale * np.asarray(base.hess_lagrangian(x, np.zeros(base.m)))
        p = Scaled()
        try:
            res = sketched_newton(p, sketch=None, tol=1e-8, maxiter=200)
        except (ValueError, TypeError) as exc:
            return _named(exc, "scal")
        x_star = np.array([0.5, -0.5, 0.5])
        if res.converged and res.nit == 0 and "tol is absolute" in res.message:
            return "verified", "converged at the start by the absolute tol, and the message says so (lower tol)"
        if res.converged and np.linalg.norm(res.x - x_star) > 1e-4:
            return "wrong", (f"f scaled by {scale:g}: converged=True at x = {np.round(res.x, 4).tolist()}, "
                             f"published x* = {x_star.tolist()} (absolute tol on a scaled gradient)")
        if not res.converged and not res.message:
            return "wrong", "silent failure"
        return "verified"
    return case


CASES = [
    # ---- options
    ("tol_zero", _option("tol", tol=0.0)),
    ("tol_negative", _option("tol", tol=-1e-8)),
    ("tol_nan", _option("tol", tol=float("nan"))),
    ("tol_inf", _option("tol", tol=float("inf"))),
    ("tol_string", _option("tol", tol="1e-8")),
    ("tol_bool", _option("tol", tol=True)),
    ("maxiter_negative", _option("maxiter", maxiter=-1)),
    ("maxiter_float", _option("maxiter", maxiter=10.5)),
    ("maxiter_string", _option("maxiter", maxiter="10")),
    ("maxiter_huge_converges", _option_ok(maxiter=10 ** 18, seed=0)),
    ("maxiter_zero", _maxiter_zero),
    ("sketch_unknown", _option("sketch", sketch="gausian")),
    ("sketch_int", _option("sketch", sketch=3)),
    ("sketch_upper", _option("sketch", sketch="GAUSSIAN")),
    ("sketch_size_zero", _option("sketch_size", sketch_size=0)),
    ("sketch_size_negative", _option("sketch_size", sketch_size=-4)),
    ("sketch_size_float", _option("sketch_size", sketch_size=2.0)),
    ("sketch_size_huge", _option_ok(sketch="block", sketch_size=10 ** 9, seed=0)),
    ("sketch_size_n_plus_m", _option_ok(sketch="gaussian", sketch_size=8, seed=0)),
    ("sketch_size_countsketch_big", _option_ok(sketch="countsketch", sketch_size=100, seed=0)),
    ("seed_string", _option("seed", seed="zero")),
    ("seed_float", _option("seed", seed=1.5)),
    ("seed_negative", _option("seed", seed=-3)),
    ("seed_list", _option("seed", seed=[1, 2])),
    ("seed_generator", _option_ok(seed=np.random.default_rng(0))),
    ("seed_huge", _option_ok(seed=2 ** 80)),
    ("mu0_zero", _option("mu0", mu0=0.0)),
    ("nu0_negative", _option("nu0", nu0=-1.0)),
    ("delta0_one", _option("delta0", delta0=1.0)),
    ("beta_half", _option("beta", beta=0.5)),
    ("rho_one", _option("rho", rho=1.0)),
    ("rho_nan", _option("rho", rho=float("nan"))),
    ("xi_B_inf", _option("xi_b", xi_B=float("inf"))),
    ("superlinear_string", _option("superlinear", superlinear="yes")),
    ("inner_maxiter_zero", _option("inner_maxiter", inner_maxiter=0)),
    ("inner_maxiter_one", _option_ok(inner_maxiter=1, seed=0, maxiter=30)),
    ("backend_unknown", _option("backend", backend="fortran", sketch=None)),
    ("callback_not_callable", _option("callback", callback=3)),
    ("callback_stop", _callback_stop),
    ("lam0_string", _lam0_bad("least squares", "lam0")),
    ("lam0_wrong_size", _lam0_bad(np.zeros(5), "lam0")),
    ("lam0_nan", _lam0_bad(np.array([np.nan, 0.0]), "lam0")),
    ("lam0_complex", _lam0_bad(np.array([1j, 0.0]), "lam0")),
    ("lam0_least_squares", _option_ok(lam0="least-squares", seed=0)),
    ("start_at_solution", _start_at_solution),
    # ---- x0
    ("x0_nan", _x0(np.array([np.nan, 0, 0, 0, 0, 0.0]), "x0")),
    ("x0_inf", _x0(np.array([0, 0, 0, 0, 0, -np.inf]), "x0")),
    ("x0_complex", _x0(np.zeros(6) + 1j, "x0")),
    ("x0_strings", _x0(np.array(["0"] * 6), "x0")),
    ("x0_object", _x0(np.array([0.0] * 6, dtype=object), "x0")),
    ("x0_2d", _x0(np.zeros((2, 3)), "x0")),
    ("x0_empty", _x0(np.zeros(0), "x0")),
    ("x0_none", _x0(None, "x0")),
    ("x0_int_ok", _option_ok(seed=0) if False else (lambda: _honest(
        sketched_newton(_with_x0(np.zeros(6, dtype=np.int64)), seed=0), QP(), 1e-8, QP().reference()[0]))),
    # ---- callables returning garbage at the start
    ("f_nan", _fault_at_start("f", float("nan"), "f")),
    ("f_inf", _fault_at_start("f", float("inf"), "f")),
    ("f_vector", _fault_at_start("f", np.ones(3), "f")),
    ("f_string", _fault_at_start("f", "1.0", "f")),
    ("f_complex", _fault_at_start("f", 1 + 1j, "f")),
    ("f_none", _fault_at_start("f", None, "f")),
    ("grad_nan", _fault_at_start("grad", _nan_vec, "grad")),
    ("grad_short", _fault_at_start("grad", _drop, "grad")),
    ("grad_2d", _fault_at_start("grad", _2d, "grad")),
    ("grad_complex", _fault_at_start("grad", _complex, "grad")),
    ("grad_strings", _fault_at_start("grad", _strings, "grad")),
    ("c_nan", _fault_at_start("c", _nan_vec, "c")),
    ("c_inf", _fault_at_start("c", _inf_vec, "c")),
    ("c_2d", _fault_at_start("c", _2d, "c")),
    ("c_empty", _m_zero),
    ("c_complex", _fault_at_start("c", _complex, "c")),
    ("c_object", _fault_at_start("c", _objects, "c")),
    ("c_scalar", _fault_at_start("c", 1.0, "c")),
    ("jac_transposed", _fault_at_start("jac", _transpose, "jac")),
    ("jac_nan", _fault_at_start("jac", _nan_vec, "jac")),
    ("jac_inf", _fault_at_start("jac", _inf_vec, "jac")),
    ("jac_complex", _fault_at_start("jac", _complex, "jac")),
    ("jac_list", _fault_at_start("jac", lambda J: J.tolist(), "jac")),
    ("jac_none", _fault_at_start("jac", None, "jac")),
    ("jac_strings", _fault_at_start("jac", _strings, "jac")),
    ("hess_nan", _fault_at_start("hess_lagrangian", _nan_vec, "hess")),
    ("hess_inf", _fault_at_start("hess_lagrangian", _inf_vec, "hess")),
    ("hess_wrong_shape", _fault_at_start("hess_lagrangian", lambda H: H[:-1], "hess")),
    ("hess_complex", _fault_at_start("hess_lagrangian", _complex, "hess")),
    ("hess_none", _fault_at_start("hess_lagrangian", None, "hess")),
    ("hess_vector", _fault_at_start("hess_lagrangian", lambda H: np.diag(H), "hess")),
    ("problem_missing_jac", _expect_error(lambda: sketched_newton(object()), "problem")),
    ("problem_none", _expect_error(lambda: sketched_newton(None), "problem")),
    # ---- callables going bad mid-run
    ("f_nan_later", _fault_later("f", float("nan"), 2)),
    ("grad_nan_later", _fault_later("grad", _nan_vec, 2)),
    ("c_inf_later", _fault_later("c", _inf_vec, 2)),
    ("jac_nan_later", _fault_later("jac", _nan_vec, 1)),
    ("hess_nan_later", _fault_later("hess_lagrangian", _nan_vec, 1)),
    # ---- structure
    ("m_gt_n_consistent", _m_greater_than_n_consistent),
    ("infeasible", _infeasible),
    ("infeasible_minres", _infeasible_minres),
    ("rank_deficient_consistent", _rank_deficient_consistent),
    ("sparse_jac_vs_dense_kkt", _sparse_jac_verified),
    ("minres_vs_dense_kkt", _minres_verified),
    ("gaussian_vs_dense_kkt", _sketch_verified("gaussian")),
    ("kaczmarz_vs_dense_kkt", _sketch_verified("kaczmarz", inner_maxiter=3000, )),
    ("countsketch_vs_dense_kkt", _sketch_verified("countsketch")),
    ("block_vs_dense_kkt", _sketch_verified("block", 14)),
    ("block_size_1", _sketch_verified("block", 1, inner_maxiter=3000)),
    ("gaussian_budget_short_honest", _option_ok(sketch="gaussian", seed=0, maxiter=15, inner_maxiter=500)),
    ("kaczmarz_budget_short_honest", _option_ok(sketch="kaczmarz", seed=0, maxiter=15, inner_maxiter=500)),
    # ---- scaling: 1e-300 / 1e300
    ("qp_f_scaled_1e300", _solve_qp(scale_f=1e300)),
    ("qp_f_scaled_1e-300", _solve_qp(scale_f=1e-300)),
    ("qp_c_scaled_1e150", _solve_qp(scale_c=1e150)),
    ("qp_c_scaled_1e-150", _solve_qp(scale_c=1e-150)),
    ("qp_f_scaled_1e6", _solve_qp(scale_f=1e6)),
    ("qp_f_scaled_1e-9", _solve_qp(scale_f=1e-9)),
    ("qp_f_scaled_1e-12", _solve_qp(scale_f=1e-12)),
    ("qp_c_scaled_1e-9", _solve_qp(scale_c=1e-9)),
    ("hs28_f_scaled_1e-12", _scaled_hs(1e-12)),
    ("hs28_f_scaled_1e12", _scaled_hs(1e12)),
    # ---- catalogue, published optima
    ("hs28_published", _hs_published("HS28")),
    ("hs6_published", _hs_published("HS6")),
    ("hs47_published_minres", _hs_published("HS47", sketch=None)),
    ("bt11_published_minres", _hs_published("BT11", sketch=None)),
    ("genhs28_n20_published", _hs_published("GENHS28", n=20)),
    ("hs_unknown", _expect_error(lambda: nlp.hs("HS999"), "HS999")),
    ("hs_int", _expect_error(lambda: nlp.hs(28), "name")),
    ("hs_none", _expect_error(lambda: nlp.hs(None), "name")),
    ("hs_size_on_fixed", _expect_error(lambda: nlp.hs("HS28", n=5), "n")),
    ("genhs28_n_zero", _expect_error(lambda: nlp.hs("GENHS28", n=0), "n")),
    ("genhs28_n_negative", _expect_error(lambda: nlp.hs("GENHS28", n=-3), "n")),
    ("genhs28_n_float", _expect_error(lambda: nlp.hs("GENHS28", n=10.5), "n")),
    ("genhs28_n_huge", _expect_error(lambda: nlp.hs("GENHS28", n=10 ** 12), "n")),
    ("equality_qp_m_gt_n", _expect_error(lambda: nlp.equality_qp(n=3, m=5), "m")),
    ("equality_qp_m_zero", _expect_error(lambda: nlp.equality_qp(n=3, m=0), "m")),
    ("equality_qp_cond_nan", _expect_error(lambda: nlp.equality_qp(cond=float("nan")), "cond")),
    ("equality_qp_cond_below_one", _expect_error(lambda: nlp.equality_qp(cond=0.5), "cond")),
    ("equality_qp_n_huge", _expect_error(lambda: nlp.equality_qp(n=10 ** 7, m=10), "n")),
    ("sphere_projection_m_zero", _expect_error(lambda: nlp.sphere_projection(n=5, m=0), "m")),
    ("sphere_projection_m_ge_n", _expect_error(lambda: nlp.sphere_projection(n=5, m=5), "m")),
    ("equality_qp_vs_exact_and_dense_kkt", _scalable_vs_exact(nlp.equality_qp, n=30, m=8, seed=3)),
    ("sphere_projection_vs_exact", _scalable_vs_exact(nlp.sphere_projection, n=20, m=4, seed=2)),
    ("pickle_lambda_problem", _pickle_lambda),
    ("ecp_via_solve", _ecp_verified),
    ("ecp_f_not_callable", _expect_error(_ecp(f=3.0), "f")),
    ("ecp_x0_nan", _expect_error(_ecp(x0=np.array([np.nan] * 6)), "x0")),
    ("ecp_x0_complex", _expect_error(_ecp(x0=np.zeros(6) + 1j), "x0")),
    ("ecp_x_star_wrong", _expect_error(_ecp(x_star=np.zeros(2)), "x_star")),
    ("ecp_lam0_wrong", _expect_error(_ecp(lam0=np.zeros(7)), "lam0")),
    ("ecp_f_star_nan", _expect_error(_ecp(f_star=float("nan")), "f_star")),
    ("ecp_name_int", _expect_error(_ecp(name=5), "name")),
    ("ecp_hess_nan", _expect_error(_ecp(hess_lagrangian=lambda x, lam: np.full((6, 6), np.nan)), "hess")),
    ("ecp_jac_nan", _expect_error(_ecp(jac=lambda x: np.full((2, 6), np.nan)), "jac")),
    ("ecp_jac_wrong_shape", _expect_error(_ecp(jac=lambda x: np.ones((6, 2))), "jac")),
    ("ecp_c_empty", _expect_error(_ecp(c=lambda x: np.zeros(0)), "c(x0)")),
    # ---- logistic
    ("logistic_unknown_dataset", _expect_error(_logistic(dataset="iris"), "dataset")),
    ("logistic_constraints_negative", _expect_error(_logistic(dataset="synthetic", constraints=-1), "constraints")),
    ("logistic_constraints_huge", _expect_error(_logistic(dataset="synthetic", constraints=10 ** 6), "constraints")),
    ("logistic_constraints_float", _expect_error(_logistic(dataset="synthetic", constraints=2.5), "constraints")),
    ("logistic_seed_string", _expect_error(_logistic(dataset="synthetic", seed="a"), "seed")),
    ("logistic_data_nan", _expect_error(_logistic(dataset=(np.full((5, 3), np.nan), np.ones(5)), constraints=0),
                                        "nan")),
    ("logistic_data_mismatch", _expect_error(_logistic(dataset=(np.ones((5, 3)), np.ones(4)), constraints=0),
                                             "y")),
    ("logistic_labels_bad", _expect_error(_logistic(dataset=(np.ones((5, 3)), np.arange(5.0)), constraints=0),
                                          "label")),
    ("logistic_vs_slsqp", _logistic_verified),
    ("logistic_loss_reg_negative", _expect_error(lambda: nlp.logistic_loss("synthetic", reg=-1.0), "reg")),
    ("logistic_loss_reg_nan", _expect_error(lambda: nlp.logistic_loss("synthetic", reg=float("nan")), "reg")),
    ("logistic_loss_vs_fd_lbfgs", _logistic_loss_verified),
    ("logistic_features_1e300", _logistic_scaled_features(1e300)),
    ("logistic_features_1e-300", _logistic_scaled_features(1e-300)),
    ("logistic_features_1", _logistic_scaled_features(1.0)),
    # ---- control
    ("control_n_one", _expect_error(lambda: PoissonControl(1), "n")),
    ("control_n_float", _expect_error(lambda: PoissonControl(4.5), "n")),
    ("control_n_huge", _expect_error(lambda: PoissonControl(10 ** 6), "")),
    ("control_alpha_zero", _expect_error(lambda: PoissonControl(4, alpha=0.0), "alpha")),
    ("control_alpha_nan", _expect_error(lambda: PoissonControl(4, alpha=float("nan")), "alpha")),
    ("control_alpha_tiny", _expect_error(lambda: PoissonControl(4, alpha=1e-300), "alpha")),
    ("control_semilinear_string", _expect_error(lambda: PoissonControl(4, semilinear="no"), "semilinear")),
    ("control_target_wrong_shape", _expect_error(lambda: PoissonControl(4, y_desired=np.ones(5)), "y_desired")),
    ("control_target_nan", _expect_error(lambda: PoissonControl(4, y_desired=float("nan")), "y_desired")),
    ("control_target_callable_nan",
     _expect_error(lambda: PoissonControl(4, y_desired=lambda x, y: x * np.nan), "y_desired")),
    ("control_domain_reversed", _expect_error(lambda: PoissonControl(4, domain=[(1, 0), (0, 1)]), "domain")),
    ("control_vs_dense_kkt", _control_verified),
    ("control_semilinear_vs_central_differences", _control_semilinear_derivatives),
    ("control_method_not_offered", _control_method_not_offered),
    ("control_pickle", _control_pickle_roundtrip),
    # ---- Bratu
    ("bratu_far_beyond_fold", _bratu_far_beyond_fold),
    ("bratu_lam_negative", _expect_error(lambda: Bratu((8, 8), lam=-1.0), "lam")),
    ("bratu_lam_nan", _expect_error(lambda: Bratu((8, 8), lam=float("nan")), "lam")),
    ("bratu_shape_1d", _expect_error(lambda: Bratu((8,)), "shape")),
    ("bratu_shape_zero", _expect_error(lambda: Bratu((8, 0)), "shape")),
    ("bratu_shape_huge", _expect_error(lambda: Bratu((10 ** 5, 10 ** 5)), "")),
    ("bratu_residual_wrong_shape", _expect_error(lambda: Bratu((4, 4)).residual(np.zeros(5)), "u")),
    ("bratu_jacobian_nan", _expect_error(lambda: Bratu((4, 4)).jacobian(np.full(16, np.nan)), "u")),
    ("bratu_domain_1e-200", _expect_error(lambda: Bratu((6, 6), domain=[(0, 1e-200), (0, 1)]), "domain")),
    ("bratu_domain_1e200", _expect_error(lambda: Bratu((6, 6), domain=[(0, 1e200), (0, 1)]), "domain")),
    ("bratu_lam_bool", _expect_error(lambda: Bratu((6, 6), lam=True), "lam")),
    ("bratu_residual_complex", _expect_error(lambda: Bratu((4, 4)).residual(np.zeros(16) + 1j), "u")),
    ("control_domain_1e-200", _expect_error(lambda: PoissonControl(4, domain=[(0, 1e-200), (0, 1)]), "domain")),
    ("bratu_converged_residual", _bratu_verified),
    ("bratu_jacobian_vs_central_differences", _bratu_jacobian_vs_fd),
    ("bratu_beyond_fold", _bratu_beyond_fold),
    ("bratu_method_not_offered", _bratu_method_not_offered),
    ("bratu_tol_negative", _expect_error(lambda: solvers.solve(Bratu((6, 6)), tol=-1.0), "tol")),
]


def _with_x0(x0):
    p = QP()
    p.x0 = x0
    return p


# ------------------------------------------------------------------ operators, dispatch, pickling
class _Op:
    """A matrix-free operator with a shape; ``bad`` breaks one product."""

    def __init__(self, M, bad=None, dtype=True):
        self.M, self.shape, self.bad = M, M.shape, bad
        if dtype:
            self.dtype = np.dtype(np.float64)

    def matvec(self, v):
        out = self.M @ v
        return out[:-1] if self.bad == "short" else (out * np.nan if self.bad == "nan" else out)

    def rmatvec(self, v):
        return self.M.T @ v


class OpQP(QP):
    def __init__(self, bad_jac=None, bad_hess=None, **kw):
        super().__init__(**kw)
        self.bad_jac, self.bad_hess = bad_jac, bad_hess

    def jac(self, x):
        return _Op(self.A, self.bad_jac, dtype=self.bad_jac != "no_dtype")

    def hess_lagrangian(self, x, lam):
        return _Op(self.Q, self.bad_hess)


def _operator_verified():
    p = OpQP(n=6, m=2, seed=4)
    x_ref, _ = p.reference()
    return _honest(sketched_newton(p, sketch=None, tol=1e-9), p, 1e-9, x_ref)


def _operator_fault(bad_jac=None, bad_hess=None, *needles):
    def case():
        p = OpQP(bad_jac=bad_jac, bad_hess=bad_hess)
        try:
            res = sketched_newton(p, sketch=None, tol=1e-9, maxiter=20)
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        if res.converged:
            return _honest(res, QP(), 1e-9, QP().reference()[0])
        said = any(n in res.message for n in needles) or "nan" in res.message.lower() or "finite" in res.message
        return _honest(res, p, 1e-9) if said else \
            ("wrong", f"failure message does not name {needles}: {res.message!r}")
    return case


def _superlinear_verified():
    p = QP(n=6, m=2, seed=11)
    x_ref, _ = p.reference()
    return _honest(sketched_newton(p, sketch=None, superlinear=True, tol=1e-10), p, 1e-10, x_ref)


def _result_pickles():
    import pickle

    p = nlp.hs("HS28")
    res = sketched_newton(p, sketch=None, tol=1e-9)
    back = pickle.loads(pickle.dumps(res))
    ok = np.array_equal(back.x, res.x) and np.array_equal(back.lam, res.lam) and back.converged == res.converged
    return "verified" if ok and np.max(np.abs(res.x - [0.5, -0.5, 0.5])) < 1e-7 else ("wrong", "pickle / x*")


def _solve_default_method():
    p = nlp.hs("HS48")
    res = solvers.solve(p, tol=1e-9)
    if res.method != "sketched_newton":
        return "wrong", f"default method {res.method}"
    return _honest(res, p, 1e-9, p.x_star, xtol=1e-6)


def _solve_unknown_option():
    try:
        solvers.solve(nlp.hs("HS28"), method="sketched_newton", rtol=1e-8)
    except (ValueError, TypeError) as exc:
        return _named(exc, "rtol")
    return "wrong", "rtol accepted by sketched_newton"


def _callback_raises():
    def cb(r):
        raise ZeroDivisionError("from the callback")
    try:
        sketched_newton(QP(), seed=0, callback=cb)
    except ZeroDivisionError as exc:
        return "clear_error" if "from the callback" in str(exc) else ("wrong", str(exc))
    return "wrong", "the callback's exception vanished"


def _problem_lam0_nan():
    p = QP()
    p.lam0 = np.array([np.nan, 0.0])
    try:
        res = sketched_newton(p, seed=0)
    except (ValueError, TypeError) as exc:
        return _named(exc, "lam0")
    return "wrong", f"problem.lam0 with NaN accepted: {res.message[:100]}"


def _bratu_maxiter_negative():
    try:
        solvers.solve(Bratu((6, 6)), maxiter=-1)
    except (ValueError, TypeError) as exc:
        return _named(exc, "maxiter")
    return "wrong", "maxiter=-1 accepted"


def _bratu_lam_zero_exact():
    p = Bratu((7, 5), lam=0.0)
    res = solvers.solve(p, tol=1e-10)
    return "verified" if res.converged and np.max(np.abs(np.asarray(res.x))) < 1e-12 else \
        ("wrong", f"lam = 0: u should be 0 exactly, max |u| = {np.max(np.abs(np.asarray(res.x))):.3g}")


CASES += [
    ("operator_jac_vs_dense_kkt", _operator_verified),
    ("operator_jac_without_dtype", _operator_fault("no_dtype", None, "dtype")),
    ("operator_jac_short_matvec", _operator_fault("short", None, "matvec", "shape")),
    ("operator_jac_nan_matvec", _operator_fault("nan", None, "jac")),
    ("operator_hess_nan_matvec", _operator_fault(None, "nan", "hess")),
    ("operator_hess_short_matvec", _operator_fault(None, "short", "matvec", "shape")),
    ("superlinear_vs_dense_kkt", _superlinear_verified),
    ("result_pickles_hs28", _result_pickles),
    ("solve_default_method_hs48", _solve_default_method),
    ("solve_unknown_option", _solve_unknown_option),
    ("callback_raises_propagates", _callback_raises),
    ("problem_lam0_nan", _problem_lam0_nan),
    ("bratu_maxiter_negative", _bratu_maxiter_negative),
    ("bratu_lam_zero_exact", _bratu_lam_zero_exact),
]
