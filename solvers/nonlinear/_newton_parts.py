"""Parts of :func:`solvers.nonlinear.newton`: the problem wrapper (counted, checked callbacks), an overflow-safe
norm, the modified-Cholesky Newton direction (Nocedal & Wright, *Numerical Optimization*,
2nd ed., Algorithm 3.3), f's resolution and the wrong-gradient check, and the failure messages."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np
import scipy.sparse as sp

from .._scalar import unwrap
# the second-order check lives in ._curvature; newton.py and _sketched_steps.py import its names from here
from ._curvature import _as_dense, f_noise, negative_curvature, reduced_curvature_verdict, resolved_slope  # noqa: F401


class _Problem:
    """The user's callables with evaluation counters and output checks."""

    def __init__(self, fun, jac, hess, hessp, args, n):
        self.fun, self.jac, self.hess, self.hessp, self.args, self.n = fun, jac, hess, hessp, args, n
        self.nfev = self.njev = self.nhev = self.nhpev = 0

    def f(self, x) -> float:
        self.nfev += 1
        v = self.fun(x, *self.args)
        a = np.asarray(v)
        if a.dtype.kind not in "biuf" or a.size != 1:     # a string "1.0" converted silently before
            raise ValueError(f"fun must return a real scalar, got {type(v).__name__} "
                             f"with shape {np.shape(v)}" + (f" and dtype {a.dtype}" if a.size == 1 else ""))
        return float(a.reshape(()))

    def g(self, x):
        self.njev += 1
        g = np.asarray(self.jac(x, *self.args))
        if g.shape != (self.n,):
            raise ValueError(f"jac must return an array of shape ({self.n},) (the gradient), got shape {g.shape}")
        if np.iscomplexobj(g):
            raise TypeError("jac returned a complex gradient; newton minimises real functions of real x")
        if g.dtype.kind not in "biuf":
            raise TypeError(f"jac must return a real numeric array (the gradient), got dtype {g.dtype}")
        return np.array(g, dtype=np.float64)

    def H(self, x):
        self.nhev += 1
        H = self.hess(x, *self.args)
        if isinstance(H, (list, tuple)):   # nested lists, as jac may return a list (helper-126)
            try:
                H = np.asarray(H)
            except ValueError:             # ragged: named below by its missing shape
                pass
        shape = getattr(H, "shape", None)
        if shape != (self.n, self.n):
            raise ValueError(f"hess must return an ({self.n}, {self.n}) array, sparse matrix or operator, "
                             f"got {type(H).__name__} with shape {shape}")
        kind = getattr(getattr(H, "dtype", None), "kind", "f")
        if kind == "c" or ((isinstance(H, np.ndarray) or sp.issparse(H)) and kind not in "biuf"):
            raise TypeError(f"hess must return a real Hessian, got dtype {H.dtype}; newton minimises real functions")
        if self.nhev == 1 and (isinstance(H, np.ndarray) or sp.issparse(H)):
            _check_symmetric(H)
        return H

    def Hp(self, x, p):
        self.nhpev += 1
        v = np.asarray(self.hessp(x, p, *self.args))
        if v.shape != (self.n,):
            raise ValueError(f"hessp must return an array of shape ({self.n},), got shape {v.shape}")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"hessp must return a real array, got dtype {v.dtype}")
        return v


def _check_symmetric(H):
    """The first Hessian must be symmetric (as sketched_newton's ``hess_lagrangian``): one triangle ran Rosenbrock to
    maxiter with the advice 'raise maxiter', and [[2, 3], [-3, 2]] (whose symmetric part is 2 I) had LAPACK read
    one triangle and call the minimiser of |x|^2 a saddle (helper-145)."""
    if H.shape[0] < 2:
        return
    d = H - H.T
    with np.errstate(invalid="ignore"):
        a, h = (float(abs(d).max()), float(abs(H).max())) if sp.issparse(H) else (np.abs(d).max(), np.abs(H).max())
    if a > 1e-6 * h:
        raise ValueError(f"hess(x) is not symmetric (max |H - H^T| = {a:.2e}, max |H| = {h:.2e}); return the whole "
                         "symmetric Hessian, not one triangle (or (H + H.T) / 2 of a non-symmetric approximation)")


def _norm(v, dot=None) -> float:
    """``||v||_2`` without over- or underflow of the squares (gradients of size 1e300 or 1e-300). ``dot``: the
    backend's dot (``Backend.dot``; default NumPy's): a threaded BLAS call between the Numba kernels of the
    inner solves leaves OpenBLAS's workers spinning on their cores."""
    vmax = float(np.max(np.abs(v))) if v.size else 0.0
    if not (vmax > 0 and math.isfinite(vmax)):
        return vmax
    w = v / vmax
    return vmax * math.sqrt(float((dot or np.dot)(w, w)))


def _modified_cholesky_direction(H, g, beta=1e-3):
    """Solve ``(H + tau I) d = -g`` with the smallest ``tau`` in ``{0, beta, 2 beta, ...}`` (scaled
    to H) for which Cholesky succeeds (Nocedal & Wright, Algorithm 3.3). Returns ``(d, tau)``; ``d`` is None
    where no shift gives a finite direction or H is zero (the caller takes steepest descent)."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    H = 0.5 * (H + H.T)
    n = H.shape[0]
    if not (np.max(np.abs(H)) if H.size else 0.0) > 0:
        return None, 0.0           # H = 0: no curvature to scale a step by (tau ~ 1e-303 gave steps of 1e303)
    scale = float(np.max(np.abs(H)))
    mind = float(np.min(np.diag(H))) if n else 1.0
    tau = 0.0 if mind > 0 else -mind + beta * scale
    for _ in range(200):
        try:
            c = cho_factor(H + tau * np.eye(n), lower=True, check_finite=True)
            d = -cho_solve(c, g)
            if np.all(np.isfinite(d)):
                return d, tau
        except (LinAlgError, ValueError):
            pass
        tau = max(2.0 * tau, beta * scale)
    return None, tau


def _check_positive(name, v, allow_zero=False):
    what = f"{name} must be a {'non-negative' if allow_zero else 'positive'} finite number"
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):      # a wrong type is a TypeError, as in cg
        raise TypeError(f"{what}, got {type(v).__name__} {v!r}")
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{what}, got {v!r}")
    return float(v)


def falls_at_constant(fvals, mvals, window: int) -> bool:
    """Whether the objective ``fvals`` fell at each of the last ``window`` iterations (by more than rounding in
    all, 1e-8 relative) while the optimality measure ``mvals`` (``||grad f||``, the KKT residual) stayed the same
    to 12 digits: a linear objective along the path, unbounded below there -- or a region of constant gradient
    (a Huber loss's linear part), so a hint, not a stop rule."""
    fw, mw = list(fvals[-window - 1:]), list(mvals[-window - 1:])
    return (len(fw) > window and all(b < a for a, b in zip(fw, fw[1:]))
            and max(mw) - min(mw) <= 1e-12 * max(mw)
            and fw[0] - fw[-1] > 1e-8 * max(abs(fw[0]), abs(fw[-1]), 1e-300))


#: the optimality measure at or below this fraction of its first or recent values is at the rounding level
ROUNDING_LEVEL = 1e-12


def kkt_stall(mvals, fvals, window: int) -> str:
    """Why the optimality measure ``mvals`` (the KKT residual) no longer moves, or ``''``: ``"constant"`` when it
    stayed the same to 12 digits over the last ``window`` iterations, ``"rounding"`` when it made no new minimum over
    the last ``2 window`` (against the ``2 window`` before) and sits at :data:`ROUNDING_LEVEL` of its first or
    those earlier values (cycling between rounding-level values: HS40 at tol 1e-20 alternated 2.0e-16 / 2.8e-16 to
    maxiter, helper-156). A constant measure while the
    objective ``fvals`` falls at every step is no stall (x moves: a linear objective on a feasible ray, or a
    Huber-like linear part; :func:`falls_at_constant`)."""
    mw = list(mvals[-window - 1:])
    if len(mw) <= window or falls_at_constant(fvals, mvals, window):
        return ""
    if max(mw) - min(mw) <= 1e-12 * max(mw):
        return "constant"
    n = len(mvals)                                   # (windows only: O(window) per iteration, not O(n))
    tail, head = list(mvals[-2 * window:]), list(mvals[max(0, n - 4 * window):max(0, n - 2 * window)])
    if head and min(tail) >= min(head) and min(tail) <= ROUNDING_LEVEL * max(mvals[0], max(head)):
        return "rounding"
    return ""


def far_and_falling(f0, f, xmax, x0max) -> str:
    """A failure message's clause when the iterate went far from x0 (``max |x|`` above ``1e3 max(1, max |x0|)``) while
    the objective fell far below ``f(x0)`` (by more than ``1e3 max(1, |f(x0)|)``); '' otherwise. sketched_newton on
    ``min -x^3 - y s.t. x = y`` from (1, 1) ended 'no descent direction ... the KKT matrix may be singular' at
    ``|x|`` 4.5e6 with f -9e19, which is an unbounded problem, not a singular system."""
    if not (xmax > 1e3 * max(1.0, x0max) and f0 - f > 1e3 * max(1.0, abs(f0))):
        return ""
    return (f"the iterates went far (max |x| = {xmax:.3e}, max |x0| = {x0max:.3e}) while the objective fell from "
            f"{f0:.3e} to {f:.3e}: it may be unbounded below on the feasible set (check the formulation)")


#: relative resolution of f assumed by newton's line search: a predicted decrease below F_RESOLUTION |f| is left to
#: the gradients (f's rounding can be far above 16 eps |f| when f cancels: 0.5 x'Hx - c'x with a stiff H)
F_RESOLUTION = math.sqrt(np.finfo(float).eps)


def f_level(fx, decrease):
    """``(unresolved, level)``: whether f cannot resolve a predicted ``decrease`` (below F_RESOLUTION |f|), and
    the size of f's changes that count as noise there (``f_noise(fx)``, raised to F_RESOLUTION |f| when
    unresolved). The line search and grad-reg's decrease test share it."""
    unresolved = abs(decrease) <= F_RESOLUTION * abs(fx)
    return unresolved, (max(f_noise(fx), F_RESOLUTION * abs(fx)) if unresolved else f_noise(fx))


def inconsistent_jac(dot, x, fx, g, xn, fn, gn, f0=0.0):
    """``(df, pred)`` when the last step's change of f, ``df = f(xn) - f(x)``, disagrees with the change
    the gradients predict, ``pred = (g(x) + g(xn)) . (xn - x) / 2`` (trapezoid rule, exact on a quadratic),
    by more than a factor 3 and well above f's resolution; else None. A jac that is not the gradient of fun
    (f = |x - 3|^2 with jac 2 (x - 1)) otherwise ends 'converged' at a zero of jac that is no minimiser."""
    s = xn - x
    df, pred = fn - fx, 0.5 * (float(dot(g, s)) + float(dot(gn, s)))
    if not (math.isfinite(df) and math.isfinite(pred)):
        return None
    # f's rounding taken at the size of f(x0) too: near f* = 0 an f that cancels (sqrt(1 + r^2) - 1, 1 - cos r) has
    # an absolute rounding of the size of its terms, and an exact jac read 'does not match fun' (helper-130)
    big = max(abs(fx), abs(fn))
    if abs(df - pred) <= max(1e3 * f_noise(max(big, abs(f0) if math.isfinite(f0) else 0.0)), F_RESOLUTION * big):
        return None                                  # f does not resolve the difference
    if pred < 0 and df < 0 and pred / 3.0 >= df >= 3.0 * pred:
        return None
    return df, pred


def wrong_jac_message(method, gn, tol, k, df, pred) -> str:
    return (f"{method}: ||grad f(x)||_inf = {gn:.3e} <= tol = {tol:.1e} at iteration {k}, but jac does not match "
            f"fun: over the last step f changed by {df:.3e} while the gradients at its ends predict {pred:.3e} "
            "(trapezoid rule), so x may not be a stationary point of fun. Check that jac is the gradient of fun "
            "(scipy.optimize.check_grad)")


def fd_jac_message(method, f, x, fx, g, s, xp, tol, k) -> str:
    """The failure message when jac calls ``x`` stationary but fun's central difference along the last step's
    direction ``u`` says otherwise; '' when they agree or the difference is not resolved. Resolved means the
    differences at ``h`` and ``h/2`` agree to 10% (so the truncation error, which falls 4-fold, is small) and stand
    far above f's rounding over ``h``. Four evaluations of fun, at a claimed convergence only. (f = |x - 3|^2 with
    jac 2 (x - 1) from x0 = -10 passed the trapezoid test, df / pred = 1.36, and 'converged' at x = 1; helper-153)"""
    nrm = float(xp.sqrt(xp.sum(s * s)))
    if not (nrm > 0 and math.isfinite(nrm)):
        return ""
    u = s / nrm
    d, h = resolved_slope(f, x, u, xp, 0.1)
    if d is None:
        return ""
    d1, gu = float(d[0]), float(xp.sum(g * u))
    if abs(d1) <= max(1e4 * f_noise(fx) / h, 100.0 * tol) or abs(d1 - gu) <= 0.5 * abs(d1):
        return ""
    return (f"{method}: ||grad f(x)||_inf <= tol = {tol:.1e} at iteration {k}, but jac does not match fun: along "
            f"the last step's direction fun's central difference is {d1:.3e} (steps h and h/2 agree) while jac gives "
            f"{gu:.3e}, so x is not a stationary point of fun. Check that jac is the gradient of fun "
            "(scipy.optimize.check_grad)")


def rose_note(f0, f) -> str:
    """The maxiter message's note when f ends above f(x0) though every step was accepted as a descent step (within
    f's rounding: on the gradients alone, which a jac that is not fun's gradient fools -- f = |x - 3|^2 with jac
    -2 (x - 3) crept uphill by 1e-14 a step and advised 'raise maxiter'); '' otherwise."""
    if not f > f0 + 10.0 * f_noise(f0):
        return ""
    return (f". f rose by {f - f0:.3e} from f(x0) = {f0:.6e}, though each step was accepted as a descent step (within "
            "f's rounding): check that jac is the gradient of fun (scipy.optimize.check_grad), or loosen tol if f is "
            "at its rounding level")


def not_a_minimiser(method, k, gn, tol, c) -> str:
    """The message of a stationary point with negative curvature ``c`` (d^T H d / d^T d) at iteration ``k`` (f = cos
    x from 0, a maximum, and x^2 - y^2 from (1, 0), a saddle, were 'converged'). grad-reg's ``hess`` may be an
    approximation: the message says the verdict rests on it (a false failure, named with its reason, is not
    silent; a false 'converged' at a saddle would be)."""
    from ._curvature import FlatFall

    if isinstance(c, FlatFall):
        where = (f"x0 is a stationary point (||grad f(x0)||_inf = {gn:.3e} <= tol = {tol:.1e})" if k == 0 else
                 f"reached a stationary point in {k} iterations (||grad f(x)||_inf = {gn:.3e} <= tol = {tol:.1e})")
        return (f"{method}: {where} that is not a minimiser: the Hessian has (near-)zero curvature along a direction "
                f"(d^T H d / d^T d = {float(c):.3e}) where f itself falls, by more than the gradient explains. The "
                "Hessian given may be an approximation that cannot see it (Gauss-Newton, Fisher), or f falls to "
                "higher order (as -x^4 at 0). Restart from x plus a small step along that direction, or from "
                "another x0")
    approx = (" (if hess is the exact Hessian: grad-reg accepts approximations, and the verdict rests on the one "
              "given)" if method == "grad-reg" else "")
    if k == 0:
        return (f"{method}: x0 is a stationary point (||grad f(x0)||_inf = {gn:.3e} <= tol = {tol:.1e}) but not a "
                f"minimiser: the Hessian has negative curvature there (d^T H d / d^T d = {c:.3e}), so x0 is a saddle "
                f"point or a maximum{approx}. Start from another x0 (e.g. x0 plus a small perturbation)")
    return (f"{method}: reached a stationary point in {k} iterations (||grad f(x)||_inf = {gn:.3e} <= tol = "
            f"{tol:.1e}) that is not a minimiser: the Hessian has negative curvature there (d^T H d / d^T d = "
            f"{c:.3e}), so x is a saddle point or a maximum{approx}. Restart from x plus a small perturbation along "
            "a direction of negative curvature, or from another x0")


class Metric:
    """grad-reg's regularisation metric ``B`` (None: the identity), validated: symmetric positive definite (a
    Cholesky of an array, a probe of an operator). :meth:`operator` and :meth:`dense` give it as an operator and as
    a dense matrix (an operator assembled from ``n`` products, once: a dense Hessian solves with ``H + lam B``; an
    operator ``B`` was dropped there, helper-139), :meth:`dual_norm` the norm of gradients that goes with it,
    ``||v||_* = sqrt(v^T B^-1 v)`` (Euclidean for the identity). The step ``(H + lam B)^-1 g`` measures lengths in
    ``||.||_B``, so ``lam`` and the decrease test measure gradients in ``||.||_*``: with Euclidean ones a ``B`` of
    eigenvalues above about 8 could never pass the test (stagnation on 0.5 ||x||^2, helper-139). Reference: A.
    Semenov, M. Jaggi, N. Doikov, "Gradient-Normalized Smoothness for Optimization with Approximate Hessians",
    arXiv:2506.13710, 2025 (norms ``||.||_B``, dual norms of gradients)."""

    def __init__(self, B, n, be):
        from ..operators import IdentityOperator, aslinearoperator

        self.B, self.n, self.be, self._dense, self._chol = B, n, be, None, None
        if B is None:
            self.op = IdentityOperator(n, backend=be)
            return
        if getattr(B, "shape", None) != (n, n):
            raise ValueError(f"B must be an ({n}, {n}) array or operator, got shape {getattr(B, 'shape', None)}")
        if isinstance(B, np.ndarray) or sp.issparse(B):
            Bd = _as_dense(B, n)
            if not np.all(np.isfinite(Bd)):
                raise ValueError("B must be finite")
            if not np.allclose(Bd, Bd.T, rtol=1e-12, atol=0.0):
                raise ValueError("B (the regularisation metric of grad-reg) must be symmetric; pass (B + B.T) / 2")
            try:
                self._chol = np.linalg.cholesky(Bd)
            except np.linalg.LinAlgError:
                raise ValueError("B (the regularisation metric of grad-reg) must be positive definite (its Cholesky "
                                 "factorisation failed); pass an SPD matrix, e.g. the identity or a diagonal of "
                                 "positive scales") from None
            self._dense = Bd
        else:
            _probe_operator_metric(B, n)
        self.op = aslinearoperator(self._dense if self._dense is not None else B, backend=be)

    def dense(self):
        if self.B is None:
            return np.eye(self.n)
        if self._dense is None:
            from ._curvature import _assembled

            self._dense = _assembled(self.op, self.n, self.be)
        return self._dense

    def dual_norm(self, v) -> float:
        if self.B is None:
            return _norm(v, self.be.dot)
        if self._chol is not None:         # L w = v: v^T B^-1 v = |w|^2 (a triangular solve, O(n^2): helper-141)
            import scipy.linalg as sla

            return _norm(sla.solve_triangular(self._chol, np.asarray(v, dtype=float), lower=True), self.be.dot)
        from ..linear.cg import cg

        r = cg(self.op, v, rtol=1e-10, maxiter=10 * self.n, backend=self.be)
        return math.sqrt(max(float(self.be.dot(v, r.x)), 0.0))


def _probe_operator_metric(B, n) -> None:
    """An operator ``B`` (grad-reg's metric) cannot be factorised here; refuse one that is visibly not SPD: a
    non-positive ``v^T B v`` or an asymmetric ``u^T B v`` on two fixed random vectors (a ``-I`` operator was accepted
    and the run ended 'nonfinite' blaming hessp, where a dense ``-I`` is refused; helper-126)."""
    from ..operators import aslinearoperator

    rng = np.random.default_rng(20261204)
    u, v = rng.standard_normal(n), rng.standard_normal(n)
    try:                               # (an operator of device arrays is not probed with host vectors)
        op = aslinearoperator(B, backend="numpy")
        Bu, Bv = np.asarray(op.matvec(u), dtype=float), np.asarray(op.matvec(v), dtype=float)
    except (TypeError, AttributeError):
        return
    if Bu.shape != (n,) or Bv.shape != (n,) or not (np.all(np.isfinite(Bu)) and np.all(np.isfinite(Bv))):
        raise ValueError(f"B (the regularisation metric of grad-reg) must map ({n},) vectors to finite ({n},) vectors")
    vBv, uBv, vBu = float(v @ Bv), float(u @ Bv), float(v @ Bu)
    if not vBv > 0 or abs(uBv - vBu) > 1e-8 * (np.linalg.norm(u) * np.linalg.norm(Bv) + np.linalg.norm(v) *
                                                 np.linalg.norm(Bu)):
        raise ValueError(f"B (the regularisation metric of grad-reg) must be symmetric positive definite: on random "
                         f"vectors v^T B v = {vBv:.3e}, u^T B v - v^T B u = {uBv - vBu:.3e}; pass an SPD operator")


def grad_reg_failure(k, gamma, trials, flat, finite_steps, has_hess, gamma0=None, xscale=1.0) -> str:
    """grad-reg's message when no trial step was accepted at iteration ``k`` (``trials``: the trial points and those
    where fun was not finite; ``flat``: the trials that moved neither f nor ||g|| beyond their rounding; ``gamma0``:
    the caller's start value when the very first iteration failed from it, named as the likely cause: 1e40 could not
    be halved down to a useful gamma, 1e-300 gave steps too long to measure, and the messages blamed jac or the
    problem's scale; helper-126)."""
    if gamma0 is not None and finite_steps:
        return (f"grad-reg: no acceptable step at iteration 1 from gamma0 = {gamma0:.1e} (gamma fell to {gamma:.1e}): "
                "gamma0 is probably far from this problem's scale; try the default gamma0 = 1.0")
    if not finite_steps:
        return (f"grad-reg: every regularised Newton step (H + lam B) s = g at iteration {k} was NaN or inf (or its "
                f"solve failed): check that {'hess' if has_hess else 'hessp'} returns finite values at x; x is the "
                "last iterate")
    nan = (f"fun was NaN or inf at {trials[1]} of the {trials[0]} trial points, so f may not be defined (or overflow) "
           "just beyond x: rescale x, reformulate f, or start elsewhere; else " if trials[1] else "")
    if len(trials) > 2 and trials[2]:       # (a NaN jac beyond x read 'check that jac is the gradient': helper-128)
        nan += (f"jac was NaN or inf at {trials[2]} of the trial points where f fell, so the gradient is not finite "
                "just beyond x: check jac there, or start elsewhere; else ")
    why = ("every trial step moved f and ||grad f|| by less than their rounding (the shorter steps that followed too): "
           "the problem's scale, of x or of f, is far from 1; rescale the variables or f, or use method='newton'"
           if flat == finite_steps else
           "check that jac is the gradient of fun (scipy.optimize.check_grad), loosen tol, or pass a better Hessian "
           "approximation")
    if gamma < 1e-20 and not 1e-8 <= xscale <= 1e8 and flat != finite_steps:
        # gamma has the units of x (lam = ||g|| / gamma): at x ~ 1e-50 an exact gradient needs gamma ~ 1e-50, beyond
        # the 100 halvings of one iteration, and the message blamed jac (helper-145)
        why = (f"gamma has the units of x (lam = ||g|| / gamma) and the variables' scale is far from 1 (max |x| = "
               f"{xscale:.1e}): rescale the variables to about 1, or pass gamma0 of about that scale; else " + why)
    return f"grad-reg: no acceptable step at iteration {k} (gamma fell to {gamma:.1e}); " + nan + why


def reraise_inner(e, method, inner, step, who):
    """Raise the ValueError/TypeError ``e`` of newton_krylov's inner solve: rebuilt with the solve named when the
    library's own checks raised it (an operator's output refused), else unchanged (``F``, ``jvp`` or ``M`` raised
    it: a user's exception keeps its type and attributes, with a note where Python has them; rebuilding a
    ``DomainError(ValueError)`` whose ``__init__`` takes two arguments raised a TypeError, and F's own ValueError
    was blamed on 'the Jacobian operator or M': helper-134)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the solvers package
    if type(e) in (ValueError, TypeError) and tb is not None and tb.tb_frame.f_code.co_filename.startswith(here):
        raise type(e)(f"{method}: the inner {inner} solve rejected {who} or M: {e}") from e
    if hasattr(e, "add_note"):
        e.add_note(f"({method}: raised during the inner {inner} solve of step {step}, by F, jvp, jac or M)")
    raise e


def satisfied_at_x0(method: str, finf: float, target: float) -> str:
    """The message of a root-finding run whose x0 already meets the (absolute) target, with the caution that a
    small-scaled F passes anywhere (``1e-12 (x - 5)`` from 0 was 'converged' with no word: helper-149)."""
    msg = f"{method}: x0 already satisfies ||F||_inf = {finf:.3e} <= {target:.3e}"
    if finf > 0:
        msg += ("; caution: the tolerance is absolute, so if F is scaled small x0 may pass far from a root: "
                "rescale F or lower tol")
    return msg
