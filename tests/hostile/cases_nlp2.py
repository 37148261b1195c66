"""Hostile inputs for the newer options of ``solvers.sketched_newton``: ``tight_size``,
``lam0="least-squares"``, the watchdog, the second-order correction and ``superlinear``.

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: a ValueError/TypeError whose message names the argument at fault;
* ``"verified"``: a ``SolveResult`` whose claim was checked here: the KKT residual recomputed
  from the problem's own callables at the returned ``(x, lam)``, and ``x`` (or ``f``) against an
  independent reference (dense KKT solve, published Hock-Schittkowski optima, an analytic
  minimiser or SciPy's ``brentq`` on the reduced one-variable problem); a ``converged=False``
  result counts when its message is non-empty, its ``x`` finite and its history ``nit + 1`` long;
* ``"wrong"``: anything else.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

import solvers
from problems import nlp
from solvers.nonlinear.sketched_newton import sketched_newton


# ------------------------------------------------------------------ helpers
def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {exc}")


def _expect_error(fn, *needles):
    def case():
        try:
            out = fn()
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        return "wrong", f"accepted: {str(out)[:200]}"
    return case


def _dense(J):
    if hasattr(J, "toarray"):
        return J.toarray()
    if isinstance(J, np.ndarray):
        return J
    return None


def _kkt(prob, x, lam):
    """||(grad f + J^T lam, c)||_2 recomputed from the problem's own callables."""
    J = prob.jac(x)
    lam = np.asarray(lam, float)
    Jd = _dense(J)
    JTl = Jd.T @ lam if Jd is not None else np.asarray(J.rmatvec(lam))
    gl = np.asarray(prob.grad(x), float) + JTl
    cx = np.asarray(prob.c(x), float)
    return float(np.sqrt(gl @ gl + cx @ cx))


def _second_order(prob, x, lam):
    """None, or a note when the reduced Hessian of the Lagrangian at a claimed solution has a
    clearly negative eigenvalue (a constrained maximiser or saddle: second-order necessary
    conditions of a minimiser fail), computed from the problem's own callables with NumPy."""
    Jd = _dense(prob.jac(x))
    H = prob.hess_lagrangian(x, np.asarray(lam, float))
    H = _dense(H)
    if Jd is None or H is None:
        return None
    u, s, vt = np.linalg.svd(Jd)
    rank = int((s > 1e-10 * max(1.0, s.max() if s.size else 0.0)).sum())
    Z = vt[rank:].T
    if Z.shape[1] == 0:
        return None
    ev = np.linalg.eigvalsh(Z.T @ H @ Z)
    if ev.min() < -1e-6 * max(1.0, np.abs(H).max()):
        return (f"converged=True at a point whose reduced Hessian has eigenvalue {ev.min():.3g} < 0 "
                f"(not a minimiser; x = {np.round(x, 6).tolist()})")
    return None


def _honest(res, prob, tol, x_ref=None, xtol=1e-5, f_ref=None):
    if not isinstance(res, solvers.SolveResult):
        return "wrong", f"not a SolveResult: {type(res).__name__}"
    if any(len(v) != res.nit + 1 for v in res.history.values()):
        return "wrong", f"history lengths {[len(v) for v in res.history.values()]} != nit + 1 = {res.nit + 1}"
    if res.converged:
        k = _kkt(prob, res.x, res.lam)
        if not k <= 10 * tol:
            return "wrong", f"converged=True but the recomputed KKT residual is {k:.3g} (tol {tol})"
        so = _second_order(prob, res.x, res.lam)
        if so is not None:
            return "wrong", so + f" ({res.message[:80]})"
        if x_ref is not None:
            err = np.linalg.norm(res.x - x_ref) / max(1.0, np.linalg.norm(x_ref))
            if not err <= xtol:
                return "wrong", f"converged=True at x = {np.round(res.x, 6).tolist()}, reference {x_ref}, err {err:.3g}"
        if f_ref is not None:
            fx = float(prob.f(res.x))
            if not abs(fx - f_ref) <= 1e-6 * max(1.0, abs(f_ref)):
                return "wrong", f"converged=True with f = {fx!r}, reference {f_ref!r}"
        return "verified"
    if not res.message or not np.all(np.isfinite(res.x)):
        return "wrong", f"failure without a message or with a non-finite x: {res.message!r}"
    return "verified", f"honest failure: {res.message[:120]}"


class QP:
    """``min 1/2 x^T Q x + q^T x  s.t.  A x = b``; the reference is the dense KKT solve."""

    def __init__(self, n=6, m=2, seed=0, fscale=1.0, cscale=1.0, A=None, b=None):
        rng = np.random.default_rng(seed)
        M = rng.standard_normal((n, n))
        self.Q = (M @ M.T + n * np.eye(n)) * fscale
        self.q = rng.standard_normal(n) * fscale
        self.A = (rng.standard_normal((m, n)) if A is None else np.asarray(A, float)) * cscale
        self.b = (rng.standard_normal(self.A.shape[0]) if b is None else np.asarray(b, float)) * cscale
        self.x0 = np.zeros(n)
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
        z = np.linalg.lstsq(K, np.concatenate([-self.q, self.b]), rcond=None)[0]
        return z[:n], z[n:]


# ------------------------------------------------------------------ 1. tight_size
def _tight_ok(value, sketch="gaussian"):
    def case():
        p = QP()
        x_ref, _ = p.reference()
        try:
            res = sketched_newton(p, tight_size=value, sketch=sketch, seed=0, tol=1e-9, maxiter=200)
        except (ValueError, TypeError) as exc:
            return _named(exc, "tight_size")
        if res.options.get("tight_size") != int(value):
            return "wrong", f"options['tight_size'] = {res.options.get('tight_size')!r}, asked {value!r}"
        return _honest(res, p, 1e-9, x_ref)
    return case


def _tight_bad(value):
    return _expect_error(lambda: sketched_newton(QP(), tight_size=value, seed=0), "tight_size")


# ------------------------------------------------------------------ 2. lam0
def _lam0_ls(sketch="gaussian", prob=None, ref=None):
    def case():
        p = QP() if prob is None else prob()
        x_ref = p.reference()[0] if ref is None else ref
        res = sketched_newton(p, lam0="least-squares", sketch=sketch, seed=0, tol=1e-9, maxiter=200)
        if res.stats.get("lam0") not in ("least-squares", "zeros"):
            return "wrong", f"stats['lam0'] = {res.stats.get('lam0')!r}"
        return _honest(res, p, 1e-9, x_ref)
    return case


def _lam0_ls_is_least_squares():
    """With maxiter=0 the returned multipliers are the starting ones: they must minimise
    ||grad f(x0) + J^T lam|| (checked against NumPy lstsq on the normal equations)."""
    p = QP(seed=4)
    p.x0 = np.ones(p.n)
    res = sketched_newton(p, lam0="least-squares", seed=0, maxiter=0)
    g = p.grad(p.x0)
    ref = np.linalg.solve(p.A @ p.A.T, -p.A @ g)
    if res.stats.get("lam0") != "least-squares":
        return "wrong", f"stats['lam0'] = {res.stats.get('lam0')!r}"
    err = np.linalg.norm(res.lam - ref) / max(1, np.linalg.norm(ref))
    if err > 1e-10:
        return "wrong", f"lam0='least-squares' gave {res.lam}, normal equations give {ref}"
    if res.history["kkt"][0] - _kkt(p, res.x, res.lam) > 1e-12 * max(1, res.history["kkt"][0]):
        return "wrong", "history kkt[0] is not the residual at the least-squares multipliers"
    return "verified"


def _lam0_ls_operator():
    """An operator Jacobian (PoissonControl): documented to fall back to zeros, and stats say so."""
    from problems.pde import PoissonControl

    p = PoissonControl(4, alpha=1e-2)
    res = sketched_newton(p, lam0="least-squares", sketch=None, tol=1e-9, maxiter=30)
    if res.stats.get("lam0") != "zeros":
        return "wrong", f"operator Jacobian: stats['lam0'] = {res.stats.get('lam0')!r}, documented zeros"
    return _honest(res, p, 1e-9)


def _lam0_ls_zero_jac():
    """J = 0 at x0 (c = x1^2 + x2^2 - 1 ... at x0 = 0): lstsq of a zero matrix gives lam = 0."""
    p = Circle()
    p.x0 = np.zeros(2)
    try:
        res = sketched_newton(p, lam0="least-squares", seed=0, tol=1e-9, maxiter=100)
    except (ValueError, TypeError) as exc:
        return _named(exc, "jac")
    return _honest(res, p, 1e-9, np.array([-1.0, -1.0]) / math.sqrt(2))


def _lam0_huge():
    """lam0 = +-1e200: ||J^T lam||^2 overflows in the merit. A refusal naming lam0, or a
    solve; a failure must not blame the KKT matrix or the inner solver (0 inner iterations)."""
    p = QP()
    try:
        res = sketched_newton(p, lam0=np.array([1e200, -1e200]), seed=0, tol=1e-9)
    except (ValueError, TypeError) as exc:
        return _named(exc, "lam0")
    if not res.converged and "lam0" not in res.message and "scal" not in res.message:
        return "wrong", f"lam0 = 1e200 accepted, then a misleading failure: {res.message[:240]}"
    return _honest(res, p, 1e-9, p.reference()[0])


def _lam0_bad(value, *needles):
    return _expect_error(lambda: sketched_newton(QP(), lam0=value, seed=0), *needles)


# ------------------------------------------------------------------ 3. nonlinear problems for the watchdog / SOC
class Circle:
    """``min x1 + x2  s.t.  x1^2 + x2^2 = 1``: x* = -(1, 1)/sqrt(2), lam* = 1/sqrt(2) (analytic)."""

    def __init__(self, x0=(2.0, 0.5), copies=1, scale_f=1.0, scale_c=1.0):
        self.x0 = np.asarray(x0, float)
        self.copies, self.sf, self.sc = copies, scale_f, scale_c

    def f(self, x):
        return self.sf * float(x[0] + x[1])

    def grad(self, x):
        return self.sf * np.ones(2)

    def c(self, x):
        v = x[0] ** 2 + x[1] ** 2 - 1.0
        return self.sc * np.array([v * (k + 1) for k in range(self.copies)])

    def jac(self, x):
        return self.sc * np.array([[2 * x[0] * (k + 1), 2 * x[1] * (k + 1)] for k in range(self.copies)])

    def hess_lagrangian(self, x, lam):
        return self.sc * 2.0 * float(sum(lam[k] * (k + 1) for k in range(self.copies))) * np.eye(2)


class LogBarrier:
    """``min -sum log x_i  s.t.  sum x_i = n``: x* = 1, lam* = 1 (analytic); f is NaN for
    x_i <= 0, so a long Newton step lands on a NaN objective."""

    def __init__(self, x0):
        self.x0 = np.asarray(x0, float)
        self.n = self.x0.size

    def f(self, x):
        with np.errstate(all="ignore"):
            return float(-np.sum(np.log(x)))

    def grad(self, x):
        with np.errstate(all="ignore"):
            return -1.0 / x

    def c(self, x):
        return np.array([x.sum() - self.n])

    def jac(self, x):
        return np.ones((1, self.n))

    def hess_lagrangian(self, x, lam):
        with np.errstate(all="ignore"):
            return np.diag(1.0 / x ** 2)


class LogCurve:
    """``min x1^2 + x2^2  s.t.  x2 - log(x1) = 0``: c is NaN/inf for x1 <= 0. Reference: the
    root of ``t^2 + log t = 0`` (SciPy brentq), x* = (t, log t)."""

    x0 = np.array([3.0, -2.0])

    def f(self, x):
        return float(x[0] ** 2 + x[1] ** 2)

    def grad(self, x):
        return 2.0 * x

    def c(self, x):
        with np.errstate(all="ignore"):
            return np.array([x[1] - np.log(x[0]) if x[0] > 0 else (np.inf if x[0] == 0 else np.nan)])

    def jac(self, x):
        with np.errstate(all="ignore"):
            return np.array([[-1.0 / x[0], 1.0]])

    def hess_lagrangian(self, x, lam):
        with np.errstate(all="ignore"):
            return np.array([[2.0 + lam[0] / x[0] ** 2, 0.0], [0.0, 2.0]])

    @staticmethod
    def reference():
        t = brentq(lambda t: t * t + math.log(t), 0.1, 1.0, xtol=1e-15)
        return np.array([t, math.log(t)])


class ThreeOnTwo:
    """m = 3 > n = 2, consistent: circle, x2 = 0 and x1 = 1 + x2^2 meet only at (1, 0)."""

    x0 = np.array([1.5, 0.7])

    def f(self, x):
        return float((x[0] - 3) ** 2 + (x[1] + 1) ** 2)

    def grad(self, x):
        return np.array([2 * (x[0] - 3), 2 * (x[1] + 1)])

    def c(self, x):
        return np.array([x[0] ** 2 + x[1] ** 2 - 1, x[1], x[0] - x[1] ** 2 - 1])

    def jac(self, x):
        return np.array([[2 * x[0], 2 * x[1]], [0.0, 1.0], [1.0, -2 * x[1]]])

    def hess_lagrangian(self, x, lam):
        return np.array([[2 + 2 * lam[0], 0.0], [0.0, 2 + 2 * lam[0] - 2 * lam[2]]])


class NanOutside(QP):
    """A QP whose f/grad are NaN outside the ball |x|_inf <= R (the minimiser lies inside): a
    unit step from far away lands on NaN."""

    def __init__(self, R, where="f", **kw):
        super().__init__(**kw)
        self.R, self.where = R, where

    def _out(self, x):
        return np.max(np.abs(x)) > self.R

    def f(self, x):
        return float("nan") if (self.where == "f" and self._out(x)) else super().f(x)

    def c(self, x):
        v = super().c(x)
        return np.full_like(v, np.inf) if (self.where == "c" and self._out(x)) else v


def _nonlinear(factory, x_ref, sketch="gaussian", tol=1e-9, **kw):
    def case():
        p = factory()
        xr = x_ref() if callable(x_ref) else x_ref
        try:
            res = sketched_newton(p, sketch=sketch, seed=0, tol=tol, maxiter=200, **kw)
        except (ValueError, TypeError) as exc:
            return "wrong", f"{type(exc).__name__} on a valid problem: {exc}"
        return _honest(res, p, tol, xr, xtol=1e-6)
    return case


def _nan_outside(where, x0_scale, **kw):
    def case():
        p = NanOutside(R=5.0, where=where)
        x_ref, _ = p.reference()
        if np.max(np.abs(x_ref)) > 5:
            return "wrong", "test set-up: minimiser outside the ball"
        p.x0 = np.full(p.n, x0_scale)
        try:
            res = sketched_newton(p, seed=0, tol=1e-9, maxiter=200, **kw)
        except (ValueError, TypeError) as exc:
            return _named(exc, where)
        return _honest(res, p, 1e-9, x_ref)
    return case


def _redundant(copies, sketch="gaussian", **kw):
    """The same constraint ``copies`` times (J of rank 1): x* unique, multipliers not."""
    def case():
        p = Circle(copies=copies)
        res = sketched_newton(p, sketch=sketch, seed=0, tol=1e-9, maxiter=200, **kw)
        return _honest(res, p, 1e-9, -np.ones(2) / math.sqrt(2), xtol=1e-6)
    return case


def _scaled_circle(sf, sc, sketch=None):
    """Scaled objective/constraints: same minimiser -(1, 1)/sqrt(2); a refusal must name the scale."""
    def case():
        p = Circle(scale_f=sf, scale_c=sc)
        try:
            res = sketched_newton(p, sketch=sketch, seed=0, tol=1e-9, maxiter=200)
        except (ValueError, TypeError) as exc:
            return _named(exc, "scaled")
        if res.converged and "tol is absolute" in res.message and np.linalg.norm(
                res.x + np.ones(2) / math.sqrt(2)) > 1e-4:
            return "verified", "converged by the absolute tol away from x*, and the message says so"
        return _honest(res, p, 1e-9, -np.ones(2) / math.sqrt(2), xtol=1e-5)
    return case


# ------------------------------------------------------------------ 4. the published HS/BT set under option combinations
def _hs(name, sketch="gaussian", **kw):
    def case():
        p = nlp.hs(name)
        tol = 1e-8
        res = sketched_newton(p, sketch=sketch, seed=1, tol=tol, maxiter=300, **kw)
        out = _honest(res, p, tol)
        if out != "verified" or not res.converged:
            return out
        if p.f_star is not None and abs(p.f(res.x) - p.f_star) > 1e-6 * max(1.0, abs(p.f_star)):
            return "verified", f"a different KKT point (f = {p.f(res.x):.6g}, published {p.f_star:.6g}); KKT checked"
        xs = getattr(p, "x_star", None)
        if xs is not None and p.f_star is not None and np.linalg.norm(res.x - xs) > 1e-4 * max(1, np.linalg.norm(xs)):
            # degenerate problems may have several minimisers with the published value
            return "verified", "published f reached at another minimiser"
        return "verified"
    return case


def _callback_stop_tight0():
    p = QP()

    def cb(r):
        raise StopIteration
    res = sketched_newton(p, seed=0, callback=cb, tight_size=0)
    if res.nit > 1:
        return "wrong", f"StopIteration ignored (nit {res.nit})"
    return _honest(res, p, 1e-8)


def _superlinear_sketch(name):
    def case():
        p = nlp.hs(name)
        res = sketched_newton(p, sketch="kaczmarz", superlinear=True, tight_size=0, seed=3, tol=1e-8, maxiter=300)
        return _honest(res, p, 1e-8, f_ref=None)
    return case


def _pickle_result():
    import pickle

    p = nlp.hs("HS6")
    res = sketched_newton(p, seed=0, tight_size=0, lam0="least-squares", watchdog=False)
    r2 = pickle.loads(pickle.dumps(res))
    if not np.array_equal(r2.x, res.x) or r2.options != res.options:
        return "wrong", "pickle round trip changed the result"
    return _honest(res, p, 1e-8)


def _hs6_watchdog_counts():
    """HS6 from its standard start: the docstring says the watchdog handles it; with or without
    it, any convergence claim must be the published x* = (1, 1)."""
    p = nlp.hs("HS6")
    outs = []
    for wd in (True, False):
        for soc in (True, False):
            res = sketched_newton(p, seed=0, watchdog=wd, second_order_correction=soc, tol=1e-10, maxiter=300)
            o = _honest(res, p, 1e-10, np.array([1.0, 1.0]), xtol=1e-6)
            if o != "verified" and not (isinstance(o, tuple) and o[0] == "verified"):
                return o
            outs.append((wd, soc, res.nit, res.stats["relaxed_steps"], res.stats["watchdog_returns"]))
    return "verified", str(outs)


CASES = [
    # ---- tight_size
    ("tight_size=0", _tight_ok(0)),
    ("tight_size=0 kaczmarz", _tight_ok(0, "kaczmarz")),
    ("tight_size=0 minres", _tight_ok(0, None)),
    ("tight_size=1", _tight_ok(1)),
    ("tight_size=10**18", _tight_ok(10 ** 18)),
    ("tight_size=np.int64(8)", _tight_ok(np.int64(8))),
    ("tight_size=-1", _tight_bad(-1)),
    ("tight_size=1.5", _tight_bad(1.5)),
    ("tight_size=100.0", _tight_bad(100.0)),
    ("tight_size=nan", _tight_bad(float("nan"))),
    ("tight_size=inf", _tight_bad(float("inf"))),
    ("tight_size=True", _tight_bad(True)),
    ("tight_size=None", _tight_bad(None)),
    ("tight_size='100'", _tight_bad("100")),
    ("tight_size=[100]", _tight_bad([100])),
    ("callback_stop with tight_size=0", _callback_stop_tight0),
    # ---- lam0
    ("lam0=least-squares gaussian", _lam0_ls()),
    ("lam0=least-squares minres", _lam0_ls(None)),
    ("lam0=least-squares countsketch", _lam0_ls("countsketch")),
    ("lam0=least-squares is the lstsq solution", _lam0_ls_is_least_squares),
    ("lam0=least-squares operator jacobian -> zeros", _lam0_ls_operator),
    ("lam0=least-squares, J = 0 at x0", _lam0_ls_zero_jac),
    ("lam0=least-squares rank-deficient J",
     _lam0_ls(prob=lambda: QP(n=4, m=2, A=np.array([[1.0, 2, -1, .5], [1.0, 2, -1, .5]]), b=np.array([1.0, 1.0])))),
    ("lam0='Least-Squares'", _lam0_bad("Least-Squares", "lam0")),
    ("lam0='least_squares'", _lam0_bad("least_squares", "lam0")),
    ("lam0=''", _lam0_bad("", "lam0")),
    ("lam0 shape (3,) for m=2", _lam0_bad(np.zeros(3), "lam0")),
    ("lam0 shape (2,1)", _lam0_bad(np.zeros((2, 1)), "lam0")),
    ("lam0 shape (1,2)", _lam0_bad(np.zeros((1, 2)), "lam0")),
    ("lam0 scalar", _lam0_bad(0.0, "lam0")),
    ("lam0 empty", _lam0_bad(np.zeros(0), "lam0")),
    ("lam0 NaN", _lam0_bad(np.array([0.0, np.nan]), "lam0")),
    ("lam0 inf", _lam0_bad(np.array([np.inf, 0.0]), "lam0")),
    ("lam0 strings", _lam0_bad(np.array(["1", "2"]), "lam0")),
    ("lam0 object", _lam0_bad(np.array([1.0, None], dtype=object), "lam0")),
    ("lam0 bytes", _lam0_bad(b"least-squares", "lam0")),
    ("lam0 dict", _lam0_bad({"a": 1}, "lam0")),
    ("lam0 list ok", lambda: _honest(sketched_newton(QP(), lam0=[0.5, -0.5], seed=0, tol=1e-9), QP(), 1e-9,
                                     QP().reference()[0])),
    ("lam0 int array ok", lambda: _honest(sketched_newton(QP(), lam0=np.array([1, 2]), seed=0, tol=1e-9), QP(),
                                          1e-9, QP().reference()[0])),
    ("lam0 huge 1e200 (merit squares overflow)", _lam0_huge),
    # ---- boolean options
    ("superlinear=1", _expect_error(lambda: sketched_newton(QP(), superlinear=1), "superlinear")),
    ("superlinear=np.bool_", _tight_ok(100) if False else
     (lambda: _honest(sketched_newton(QP(), superlinear=np.bool_(True), seed=0, tol=1e-9), QP(), 1e-9,
                      QP().reference()[0]))),
    ("watchdog='no'", _expect_error(lambda: sketched_newton(QP(), watchdog="no"), "watchdog")),
    ("watchdog=None", _expect_error(lambda: sketched_newton(QP(), watchdog=None), "watchdog")),
    ("second_order_correction=0",
     _expect_error(lambda: sketched_newton(QP(), second_order_correction=0), "second_order_correction")),
    # ---- nonlinear with the safeguards
    ("circle from (2, .5)", _nonlinear(Circle, -np.ones(2) / math.sqrt(2))),
    ("circle from (2, .5) no watchdog no soc", _nonlinear(Circle, -np.ones(2) / math.sqrt(2), watchdog=False,
                                                          second_order_correction=False)),
    ("circle from (-0.01, 10) minres", _nonlinear(lambda: Circle(x0=(-0.01, 10.0)), -np.ones(2) / math.sqrt(2),
                                                 sketch=None)),
    ("circle from (1e-3, 1e-3) minres (J nearly 0)", _nonlinear(lambda: Circle(x0=(1e-3, 1e-3)),
                                                               -np.ones(2) / math.sqrt(2), sketch=None)),
    ("circle from (1e-3, 1e-3) (J nearly 0)", _nonlinear(lambda: Circle(x0=(1e-3, 1e-3)),
                                                        -np.ones(2) / math.sqrt(2))),
    ("circle from (1e-3, 1e-3) superlinear tight0",
     _nonlinear(lambda: Circle(x0=(1e-3, 1e-3)), -np.ones(2) / math.sqrt(2), superlinear=True, tight_size=0)),
    ("log barrier: unit step lands on NaN f", _nonlinear(lambda: LogBarrier([0.05, 2.9, 0.05]), np.ones(3))),
    ("log barrier: NaN f, no watchdog", _nonlinear(lambda: LogBarrier([0.05, 2.9, 0.05]), np.ones(3),
                                                   watchdog=False)),
    ("log barrier: NaN f, no soc, kaczmarz", _nonlinear(lambda: LogBarrier([0.01, 3.98, 0.01]), np.ones(3),
                                                        sketch="kaczmarz", second_order_correction=False)),
    ("log barrier: NaN f, minres, superlinear", _nonlinear(lambda: LogBarrier([0.001, 1.999]), np.ones(2),
                                                           sketch=None, superlinear=True)),
    ("log curve: c NaN/inf for x1 <= 0", _nonlinear(LogCurve, LogCurve.reference)),
    ("log curve: no safeguards", _nonlinear(LogCurve, LogCurve.reference, watchdog=False,
                                            second_order_correction=False)),
    ("log curve: tight0 superlinear minres", _nonlinear(LogCurve, LogCurve.reference, sketch=None, tight_size=0,
                                                        superlinear=True)),
    ("m=3 > n=2 nonlinear consistent", _nonlinear(ThreeOnTwo, np.array([1.0, 0.0]))),
    ("m=3 > n=2 nonlinear consistent minres", _nonlinear(ThreeOnTwo, np.array([1.0, 0.0]), sketch=None)),
    ("m=3 > n=2 least-squares lam0", _nonlinear(ThreeOnTwo, np.array([1.0, 0.0]), lam0="least-squares")),
    ("redundant constraint x2", _redundant(2)),
    ("redundant constraint x3 minres", _redundant(3, None)),
    ("redundant constraint x2 lam0 ls no watchdog", _redundant(2, lam0="least-squares", watchdog=False)),
    ("QP f NaN outside ball, start far", _nan_outside("f", 40.0)),
    ("QP f NaN outside ball, start far, no watchdog", _nan_outside("f", 40.0, watchdog=False)),
    ("QP c inf outside ball, start far", _nan_outside("c", 40.0)),
    ("QP c inf outside ball, tight0", _nan_outside("c", 40.0, tight_size=0)),
    ("circle scaled f 1e-300", _scaled_circle(1e-300, 1.0)),
    ("circle scaled f 1e300", _scaled_circle(1e300, 1.0)),
    ("circle scaled c 1e-300", _scaled_circle(1.0, 1e-300)),
    ("circle scaled c 1e300", _scaled_circle(1.0, 1e300)),
    ("circle scaled f 1e-60", _scaled_circle(1e-60, 1.0)),
    ("circle scaled f 1e60", _scaled_circle(1e60, 1.0)),
    ("circle scaled c 1e60 gaussian", _scaled_circle(1.0, 1e60, "gaussian")),
    ("circle scaled f 1e-9 c 1e9", _scaled_circle(1e-9, 1e9)),
    ("QP scaled f 1e80 tight0", lambda: (lambda p: _honest(
        sketched_newton(p, sketch=None, tol=1e-9, tight_size=0, maxiter=200), p, 1e-9 * 1e80, p.reference()[0]))(
        QP(fscale=1e80))),
    # ---- misc
    ("HS6 watchdog x soc grid", _hs6_watchdog_counts),
    ("pickle result with new options", _pickle_result),
]

for _name in nlp.HS_NAMES:
    CASES.append((f"{_name} tight_size=0", _hs(_name, tight_size=0)))
    CASES.append((f"{_name} lam0=ls, no watchdog/soc", _hs(_name, lam0="least-squares", watchdog=False,
                                                         second_order_correction=False)))
    CASES.append((f"{_name} minres superlinear lam0=ls", _hs(_name, sketch=None, superlinear=True,
                                                           lam0="least-squares")))
for _name in ("HS6", "HS7", "HS27", "HS39", "HS61", "HS77", "HS78", "BT2", "BT11"):
    CASES.append((f"{_name} kaczmarz superlinear tight0", _superlinear_sketch(_name)))


# ------------------------------------------------------------------ 5. faults right after the watchdog's relaxed step
class HS6Fault:
    """HS6 (published x* = (1, 1), f* = 0) from its standard start, where the watchdog takes a relaxed
    unit step at iteration 1; ``where`` returns ``value`` on its calls number ``calls`` (1-based)."""

    def __init__(self, where, calls, value):
        self.base = nlp.hs("HS6")
        self.x0 = self.base.x0.copy()
        self.where, self.calls, self.value, self.count = where, set(calls), value, 0

    def _hit(self, name, good):
        if name != self.where:
            return good
        self.count += 1
        if self.count not in self.calls:
            return good
        v = self.value
        return v(good) if callable(v) else v

    def f(self, x):
        return self._hit("f", self.base.f(x))

    def grad(self, x):
        return self._hit("grad", np.asarray(self.base.grad(x), float))

    def c(self, x):
        return self._hit("c", np.asarray(self.base.c(x), float))

    def jac(self, x):
        return self._hit("jac", np.asarray(self.base.jac(x), float))

    def hess_lagrangian(self, x, lam):
        return self._hit("hess_lagrangian", np.asarray(self.base.hess_lagrangian(x, lam), float))


def _nanify(a):
    a = np.array(a, dtype=float, copy=True)
    a.flat[0] = np.nan
    return a


def _hs6_fault(where, calls, value, **kw):
    def case():
        p = HS6Fault(where, calls, value)
        try:
            res = sketched_newton(p, seed=0, tol=1e-9, maxiter=100, **kw)
        except (ValueError, TypeError, FloatingPointError) as exc:
            return _named(exc, where.split("_")[0])
        ref = nlp.hs("HS6")
        return _honest(res, ref, 1e-9, np.array([1.0, 1.0]), xtol=1e-6)
    return case


def _hs6_stop_after_relaxed():
    """A callback that stops right after the relaxed step: the returned point is the relaxed one
    (its merit was rejected); any convergence claim must hold there."""
    p = nlp.hs("HS6")

    def cb(r):
        raise StopIteration
    res = sketched_newton(p, seed=0, tol=1e-9, callback=cb)
    if res.nit > 1:
        return "wrong", f"StopIteration ignored (nit {res.nit})"
    return _honest(res, p, 1e-9, np.array([1.0, 1.0]), xtol=1e-6)


for _where, _calls, _val in (("hess_lagrangian", (2,), _nanify), ("hess_lagrangian", (2, 3, 4), _nanify),
                             ("hess_lagrangian", range(2, 1000), _nanify), ("f", (3, 4, 5), float("nan")),
                             ("f", range(3, 1000), float("inf")), ("grad", (3,), _nanify),
                             ("jac", (3,), lambda J: J * np.inf), ("c", (3, 4), _nanify),
                             ("hess_lagrangian", (2,), lambda H: H * 1e200)):
    for _sk in ("gaussian", None):
        CASES.append((f"HS6 {_where} bad on calls {list(_calls)[:3]}{'...' if len(_calls) > 3 else ''} "
                      f"({getattr(_val, '__name__', _val)}) sketch={_sk}", _hs6_fault(_where, _calls, _val, sketch=_sk)))
CASES.append(("HS6 callback stop after the relaxed step", _hs6_stop_after_relaxed))


# ------------------------------------------------------------------ 6. operator problems (PoissonControl): tight_size / lam0 / superlinear
def _control(semilinear, **kw):
    def case():
        from problems.pde import PoissonControl

        p = PoissonControl(5, alpha=1e-2, semilinear=semilinear)
        res = sketched_newton(p, tol=1e-9, maxiter=60, **kw)
        out = _honest(res, p, 1e-9)
        if out != "verified" or semilinear or not res.converged:
            return out
        # linear control: a QP; reference: the dense KKT solve from the problem's own operators
        n, m = p.n, p.m
        J = p.jac(p.x0)
        Jd = np.column_stack([J.matvec(e) for e in np.eye(n)])
        H = p.hess_lagrangian(p.x0, np.zeros(m))
        Hd = np.column_stack([H.matvec(e) for e in np.eye(n)]) if not isinstance(H, np.ndarray) else H
        K = np.block([[Hd, Jd.T], [Jd, np.zeros((m, m))]])
        z = np.linalg.solve(K, -np.concatenate([p.grad(p.x0), p.c(p.x0)]))
        err = np.linalg.norm(res.x - (p.x0 + z[:n])) / np.linalg.norm(p.x0 + z[:n])
        return "verified" if err < 1e-6 else ("wrong", f"off the dense KKT solve by {err:.3g}")
    return case


for _semi in (False, True):
    for _kw in ({"sketch": None, "tight_size": 0}, {"sketch": None, "tight_size": 10 ** 6},
                {"sketch": None, "superlinear": True, "lam0": "least-squares"},
                {"sketch": None, "watchdog": False, "second_order_correction": False}):
        CASES.append((f"PoissonControl(semilinear={_semi}) {_kw}", _control(_semi, **_kw)))
# a sketch on an operator problem with the tight small-system solve (N = 75 <= tight_size): the first
# iteration alone ran > 100 s here (each sketch row costs operator products); a bounded honest answer expected
CASES.append(("PoissonControl(5) sketch='block', tight_size=10**6 (runtime)",
              _control(False, sketch="block", tight_size=10 ** 6, seed=0)))


# ------------------------------------------------------------------ 7. random QPs x random new options (dense KKT reference)
def _random_qp(seed):
    def case():
        rng = np.random.default_rng(1000 + seed)
        n = int(rng.integers(2, 12))
        m = int(rng.integers(1, n + 1))
        p = QP(n=n, m=m, seed=seed, fscale=float(10.0 ** rng.uniform(-3, 3)), cscale=float(10.0 ** rng.uniform(-3, 3)))
        p.x0 = rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 2)
        kw = {"tight_size": int(rng.choice([0, 1, n + m - 1, n + m, n + m + 1, 10 ** 9])),
              "sketch": [None, "gaussian", "kaczmarz", "countsketch", "block"][int(rng.integers(0, 5))],
              "superlinear": bool(rng.integers(0, 2)), "watchdog": bool(rng.integers(0, 2)),
              "second_order_correction": bool(rng.integers(0, 2)),
              "lam0": [None, "least-squares", rng.standard_normal(m)][int(rng.integers(0, 3))]}
        x_ref, _ = p.reference()
        tol = 1e-8 * max(1.0, float(np.abs(p.q).max()), float(np.abs(p.b).max()))
        try:
            res = sketched_newton(p, tol=tol, maxiter=200, seed=seed, **kw)
        except (ValueError, TypeError) as exc:
            return _named(exc, "scal")
        K = np.block([[p.Q, p.A.T], [p.A, np.zeros((m, m))]])
        # a KKT residual <= 10 tol puts x within ||K^-1|| 10 tol of x* (K nonsingular): the x check uses that bound
        xtol = max(1e-8, np.linalg.norm(np.linalg.inv(K), 2) * 10 * tol / max(1.0, np.linalg.norm(x_ref)))
        out = _honest(res, p, tol, x_ref, xtol=xtol)
        if out != "verified" and not (isinstance(out, tuple) and out[0] == "verified"):
            return out[0], f"{out[1]} | n={n} m={m} {dict((k, v) for k, v in kw.items() if k != 'lam0')}"
        return out
    return case


#: seeds whose KKT matrix has cond 3e8..5e9: sketches stall there (see the stall case below), minutes per case
_STALL_SEEDS = (8, 12, 25, 5, 29)   # 5, 29: honest failures after 11-29 s (ill-conditioned K)
CASES += [(f"random QP #{_s} with random new options", _random_qp(_s)) for _s in range(40) if _s not in _STALL_SEEDS]
# seed 8: n = 5, m = 1, cond(K) = 3e8, gaussian sketch, superlinear, tight_size = 5: from iteration 2 every
# iteration takes the unit step, 2e4 inner iterations, and the KKT residual does not change (2.54470423e-02)
# until maxiter = 200 (~100 s): a stall that is never detected
CASES.append(("random QP #8: undetected stall (runtime)", _random_qp(8)))
CASES += [
    ("tight_size = N exactly (8)", _tight_ok(8)),
    ("tight_size = N - 1 (7)", _tight_ok(7)),
    ("tight_size huge, inner_maxiter=1", lambda: (lambda p: _honest(
        sketched_newton(p, tight_size=10 ** 6, inner_maxiter=1, seed=0, tol=1e-9, maxiter=50), p, 1e-9,
        p.reference()[0]))(QP())),
    ("lam0='least-squares' overrides problem.lam0", lambda: (lambda p: (
        lambda r: ("wrong", f"stats lam0 = {r.stats['lam0']}") if r.stats["lam0"] != "least-squares" else _honest(
            r, p, 1e-9, p.reference()[0]))(sketched_newton(p, lam0="least-squares", seed=0, tol=1e-9)))(
        _with_lam0(QP(), np.array([5.0, -5.0])))),
]


def _with_lam0(p, lam):
    p.lam0 = lam
    return p
