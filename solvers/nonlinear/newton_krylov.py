"""Inexact Newton-Krylov for square nonlinear systems ``F(x) = 0``.

Each Newton step solves ``J(x_k) d = -F(x_k)`` only to the relative accuracy
``||F_k + J_k d||_2 <= eta_k ||F_k||_2`` (Dembo-Eisenstat-Steihaug), with ``eta_k`` from
a forcing rule (Eisenstat-Walker Choice 2 by default, :mod:`.forcing`), by
:func:`solvers.gmres` or :func:`solvers.minres`; the step length comes from a
backtracking line search (:func:`.linesearch.armijo_backtracking`) on the merit
``phi(alpha) = ||F(x_k + alpha d)||_2^2 / 2``.

References
----------
R. S. Dembo, S. C. Eisenstat and T. Steihaug, "Inexact Newton methods", SIAM J. Numer.
Anal. 19 (1982) 400-408.
S. C. Eisenstat and H. F. Walker, "Globally convergent inexact Newton methods", SIAM J.
Optim. 4 (1994) 393-422 (the sufficient-decrease test used here).
S. C. Eisenstat and H. F. Walker, "Choosing the forcing terms in an inexact Newton method",
SIAM J. Sci. Comput. 17 (1996) 16-32.
D. A. Knoll and D. E. Keyes, "Jacobian-free Newton-Krylov methods: a survey of approaches
and applications", J. Comput. Phys. 193 (2004) 357-397 (directional differences, Bratu).
C. T. Kelley, *Solving Nonlinear Equations with Newton's Method*, SIAM 2003 (``nsoli``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backends as _backends
from .._masks import refuse_masked
from ..results import Callback, SolveResult, Status, Timer, stopped_message
from .forcing import ConstantForcing, EisenstatWalker, fresh
from .linesearch import armijo_backtracking
from ._newton_parts import reraise_inner, satisfied_at_x0
from ..operators.base import FunctionOperator
from .._scalar import unwrap

_METHOD = "newton-krylov"
C1 = 1e-4   #: sufficient-decrease constant of the line search (Eisenstat & Walker's t)
_EPS = float(np.finfo(np.float64).eps)
#: a maxiter exit whose ||F||_2 fell by less than half over this many last steps says the root may not exist
STALL_STEPS = 20


def _check_tol(name, v, example, *, positive=False, below_one=False):
    """A finite real >= 0 (> 0 if ``positive``; < 1 if ``below_one``: rtol = 2 accepted x0 unchanged, helper-145)."""
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, e.g. {name}={example}; got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v < 0 or (positive and v == 0) or (below_one and v >= 1):
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0{' and below 1' * below_one}, "
                         f"e.g. {name}={example}; got {v!r}")
    return v


def _check_count(name, v, *, minimum=0, allow_none=False):
    if v is None and allow_none:
        return None
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}, "
                        f"got {type(v).__name__} {v!r}")
    if v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _make_forcing(forcing):
    if isinstance(forcing, str):
        key = forcing.lower()
        if key in ("eisenstat-walker", "ew", "eisenstat-walker-2"):
            return EisenstatWalker(2)
        if key == "eisenstat-walker-1":
            return EisenstatWalker(1)
        raise ValueError(f"forcing must be 'eisenstat-walker', 'eisenstat-walker-1', a constant in (0, 1) or a "
                         f"forcing object (solvers.nonlinear.forcing), got {forcing!r}")
    if isinstance(forcing, numbers.Real) and not isinstance(forcing, bool):
        if not 0 < float(forcing) < 1:
            raise ValueError(f"a constant forcing term must lie in (0, 1), got forcing={forcing!r}")
        return ConstantForcing(float(forcing))
    if callable(forcing) and hasattr(forcing, "observe"):
        return fresh(forcing)
    raise TypeError(f"forcing must be 'eisenstat-walker', a float in (0, 1) or an object with __call__(fnorm) and "
                    f"observe(linear_residual), got {type(forcing).__name__}")


def _refuse_host_matrix(A, who: str, be) -> None:
    """On a device backend a NumPy array or SciPy sparse matrix (host memory) is refused with the fix."""
    import scipy.sparse as sp

    if isinstance(A, np.ndarray) or sp.issparse(A):
        raise TypeError(f"{_METHOD}: {who} returned a host {type(A).__module__}.{type(A).__name__} on the {be.name} "
                        "backend: it would be copied to the device at every Newton step; return an operator on the "
                        "backend's arrays (e.g. solvers.operators.FunctionOperator, or a device sparse matrix), or "
                        "use backend='numpy'")

def _rounds_away(fun, x, f, eps, xp, n) -> int:
    """How many components of the difference quotients at ``x`` vanish by F's rounding (called on a breakdown
    only, at most three evaluations of F): along the unit diagonal ``u`` the quotient of component ``i`` at the
    difference step ``h`` is exactly zero, while a step ``H = 10^6 h`` (or ``10^12 h``, for F ~ 1e15) shows a
    derivative ``D_i = |F_i(x + H u) - F_i(x)| / H`` whose change over ``h``, ``D_i h``, is below F_i's rounding
    unit (x - 1e9 from 0: 1.5e-8 against 2e-7). A Jacobian that is truly zero along u is not rounding: x^3 + 1
    from 0 gives ``D h = 3e-12``, far above ``eps |F|`` (session-22 review). Per component, so that mixed scales
    (x_0 - 1e9 beside x_1 - 1) are seen (helper-100)."""
    h = math.sqrt(eps) * (1.0 + float(xp.sqrt(xp.sum(x * x))))
    u = xp.full(n, 1.0 / math.sqrt(n))
    same = fun(x + h * u) == f
    if not bool(xp.any(same)):
        return 0
    for factor in (1e6, 1e12):
        H = factor * h
        fh = fun(x + H * u)
        if not bool(xp.all(xp.isfinite(fh))):
            return 0
        D = xp.abs(fh - f) / H
        hit = same & (D > 0) & (D * h <= 8.0 * eps * xp.abs(f))
        if bool(xp.any(hit)):
            return int(xp.sum(hit))
    return 0


def _may_share(xp, a, b) -> bool:
    try:
        return bool(xp.may_share_memory(a, b))
    except (TypeError, ValueError, AttributeError):     # arrays of two libraries: no shared memory
        return False


def newton_krylov(F, x0, *, jac=None, jvp=None, M=None, inner: str = "gmres", tol: float = 1e-8,
                  rtol: float = 0.0, maxiter: int = 50, forcing="eisenstat-walker", inner_maxiter: int | None = None,
                  callback=None, backend=None):
    """Solve ``F(x) = 0`` by an inexact Newton-Krylov method with a line search.

    Parameters
    ----------
    F : callable
        ``F(x) -> array`` of the same shape as ``x`` (any shape; the method works on the
        flattened vector). Its output is checked on every call (an array of ``x0``'s size).
    x0 : array
        Starting point (finite, real).
    jac : callable, optional
        ``jac(x)`` returns the Jacobian at ``x``: a dense or sparse ``n x n`` matrix or any
        operator (e.g. :meth:`problems.pde.Bratu.jacobian`). Called once per Newton step.
    jvp : callable, optional
        ``jvp(x, v)`` returns the Jacobian-vector product ``J(x) v`` (same shape as ``x``).
        Give at most one of ``jac`` and ``jvp``. Without either, the method is
        *Jacobian-free*: ``J v ~ (F(x + h v) - F(x)) / h`` with
        ``h = sqrt(eps) * (1 + ||x||_2) / ||v||_2`` (``eps`` the float64 machine epsilon;
        Knoll & Keyes 2004, eq. (12) in spirit), one ``F`` evaluation per product.
    M : operator or callable, optional
        Preconditioner approximating ``J^{-1}`` for the inner solver: a fixed operator /
        matrix, or a callable ``M(x)`` (anything callable without a ``matvec``) returning
        one at the current iterate, rebuilt every Newton step -- e.g.
        ``M=lambda u: solvers.multigrid(bratu.jacobian(u))``. With ``inner="minres"`` it
        must be symmetric positive definite.
    inner : {"gmres", "minres"}
        The Krylov solver of the Newton systems. ``"minres"`` needs a symmetric Jacobian.
    tol : float
        Absolute tolerance: stop when ``||F(x)||_inf <= max(tol, rtol * ||F(x0)||_inf)``.
    rtol : float
        Relative tolerance of that test (default 0: the test is absolute).
    maxiter : int
        Most Newton steps.
    forcing : "eisenstat-walker", "eisenstat-walker-1", float or forcing object
        Forcing terms ``eta_k``: Eisenstat-Walker Choice 2 (default; ``gamma = 0.9``,
        ``alpha = 2``, ``eta_0 = 0.5``, ``eta_max = 0.9``) or Choice 1, a constant, or an
        object of :mod:`solvers.nonlinear.forcing`. The inner solve also stops at the
        absolute linear residual ``0.5 * max(tol, rtol ||F(x0)||_inf)`` (solving more
        accurately cannot help the outer test; Kelley's safeguard against over-solving).
    inner_maxiter : int, optional
        Most inner iterations (matvecs) per Newton step. Default: ``10 n``. GMRES restarts
        every ``min(30, inner_maxiter, n)`` iterations (the budget rounded up to whole cycles).
    callback : callable, optional
        Called after every Newton step: ``callback(intermediate_result)`` (an
        :class:`~solvers.results.IntermediateResult` with ``x``, ``nit``, ``residual``
        (``||F||_inf``), ``fnorm`` (``||F||_2``), ``eta``, ``step``, ``inner_iterations``),
        or ``callback(xk)``. Raising ``StopIteration`` ends the solve (status ``"stopped"``).
    backend : str or Backend, optional
        Backend of the inner solves (default: that of ``x0``; see ``solvers.get_backend``). On
        a device backend (``"cupy"``) the iterate, ``F``, the Newton step and the line search
        stay on the device (``F``, ``jac``/``jvp`` and ``M`` get and should return the backend's
        arrays; a host array returned by ``F`` is copied to the device); only norms come back,
        as floats. ``x`` of the result is a backend array, ``history`` host arrays.

    Returns
    -------
    SolveResult
        ``method="newton-krylov"``; ``history`` (``nit + 1`` entries, entry 0 the start):
        ``residual`` (``||F(x_k)||_inf``, the tested measure), ``fnorm`` (``||F(x_k)||_2``),
        ``eta`` (forcing term used for the step into ``x_k``; NaN at entry 0), ``step``
        (accepted line-search step ``alpha``; 0 at entry 0), ``inner_iterations``
        (Krylov iterations of that step; 0 at entry 0). ``stats``: ``time_s``, ``compile_s``,
        ``f_evals`` (all evaluations of ``F``, including those inside directional
        differences and the line search), ``jvps`` (Jacobian-vector products: calls of
        ``jvp`` or directional differences), ``jac_evals``, ``matvecs`` and
        ``inner_iterations`` (totals over the inner solves), ``precond_applications``,
        ``precond_builds`` (calls of a callable ``M``), ``linesearch_evals``, ``backtracks``.

    Notes
    -----
    **Line search.** With the achieved linear residual ``eta = ||F + J d||_2 / ||F||_2 < 1``
    the slope of ``phi`` at 0 satisfies ``phi'(0) = F^T J d <= -(1 - eta) ||F||^2``. The
    Armijo test is applied with that bound as the slope:
    ``phi(alpha) <= (1 - 2 c1 alpha (1 - eta)) phi(0)``, ``c1 = 1e-4`` -- the squared form
    (to first order) of Eisenstat & Walker's inexact-Newton condition
    ``||F(x + alpha d)|| <= (1 - c1 alpha (1 - eta)) ||F(x)||``. Steps are halved from
    ``alpha = 1`` (at most 30 trials). A failed line search ends the solve as
    ``"stagnated"``; an inner solve that does not reduce the linear residual at all
    (``eta >= 1``) ends it as ``"breakdown"``. With directional differences ``eta`` is
    measured on the difference approximation of ``J``.
    """
    # ---------------------------------------------------------------- validation
    if not callable(F):
        raise TypeError(f"F must be a callable F(x) -> array, got {type(F).__name__}")
    if jac is not None and jvp is not None:
        raise ValueError("give at most one of jac= (the Jacobian at x) and jvp= (Jacobian-vector products)")
    if jac is not None and not callable(jac):
        raise TypeError(f"jac must be a callable jac(x) returning the Jacobian, got {type(jac).__name__}")
    if jvp is not None and not callable(jvp):
        raise TypeError(f"jvp must be a callable jvp(x, v) returning J(x) v, got {type(jvp).__name__}")
    if not isinstance(inner, str) or inner.lower() not in ("gmres", "minres"):
        raise ValueError(f"inner must be 'gmres' or 'minres', got {inner!r}")
    inner = inner.lower()
    tol = _check_tol("tol", tol, "1e-8")
    rtol = _check_tol("rtol", rtol, "1e-6", below_one=True)
    if tol == 0 and rtol == 0:
        raise ValueError("tol and rtol are both 0: the stopping test ||F(x)||_inf <= max(tol, rtol ||F(x0)||_inf) "
                         "could never hold; pass tol > 0 (e.g. 1e-8)")
    maxiter = _check_count("maxiter", maxiter)
    inner_maxiter = _check_count("inner_maxiter", inner_maxiter, minimum=1, allow_none=True)
    forcing_rule = _make_forcing(forcing)
    cb = Callback(callback)
    M_callable = M is not None and callable(M) and not hasattr(M, "matvec")

    if x0 is None:
        raise TypeError("x0 must be an array (the starting point), got None")
    refuse_masked("x0", x0)
    be = _backends.get_backend(backend, x0)
    xp = be.xp
    if not hasattr(x0, "shape"):
        x0 = np.asarray(x0)
    if x0.dtype.kind == "c":
        raise TypeError("x0 is complex; newton_krylov solves real systems (split real and imaginary parts)")
    if x0.dtype.kind not in "biuf":
        raise TypeError(f"x0 must be a real numeric array, got dtype {x0.dtype}")
    shape = tuple(x0.shape)
    n = int(np.prod(shape)) if shape else 1
    if n == 0:
        raise ValueError("x0 is empty; newton_krylov needs at least one unknown")
    x = xp.array(be.asarray(x0), dtype=xp.float64, copy=True).reshape(-1)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError("x0 contains NaN or inf; pass a finite starting point")

    cnt = {"f_evals": 0, "jvps": 0, "jac_evals": 0, "matvecs": 0, "inner_iterations": 0,
           "precond_applications": 0, "precond_builds": 0, "linesearch_evals": 0, "backtracks": 0}

    def shaped(v):
        return v.reshape(shape)

    def checked(y, who):
        if not hasattr(y, "shape") or not hasattr(y, "dtype"):
            if not isinstance(y, (list, tuple)):
                raise TypeError(f"{who} returned {type(y).__name__}, expected an array of shape {shape}")
            try:
                y = np.asarray(y, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{who} returned {type(y).__name__}, expected an array of shape {shape}") from None
        if tuple(y.shape) != shape and tuple(y.shape) != (n,):
            raise ValueError(f"{who} returned an array of shape {tuple(y.shape)}, expected {shape} (the shape of x0); "
                             f"F must map R^{n} to R^{n} (a square system)")
        if y.dtype.kind == "c":
            raise TypeError(f"{who} returned a complex array; newton_krylov solves real systems")
        if who == "F" and y.dtype.kind == "f":   # F's precision sets the difference step (float32: 3e-4)
            precision[0] = max(precision[0], float(np.finfo(y.dtype).eps))
        elif who == "F" and y.dtype.kind in "biu" and jac is None and jvp is None:
            raise TypeError(f"F returned {y.dtype} values: its difference quotients would be 0 or jumps, so there is "
                            "no Jacobian to solve with; return floating-point values (or pass jac= or jvp=)")
        return xp.asarray(be.asarray(y), dtype=xp.float64).reshape(-1)

    precision = [_EPS]                      # the largest rounding unit among F's values

    def fun(v):
        cnt["f_evals"] += 1
        y = F(shaped(v))
        out = checked(y, "F")
        # F(x) is kept while F(x + h u) is evaluated: an F that writes into a buffer of its own (and returns it)
        # made every difference quotient zero, reported as a singular Jacobian (helper-100)
        return out.copy() if hasattr(y, "shape") and _may_share(xp, out, y) else out

    def norm2(v):
        """``||v||_2`` without over- or underflow of the squares (values near 1e300 or 1e-300)."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            nrm = math.sqrt(max(be.dot(v, v), 0.0))   # one pass (the backend's dot, not BLAS's): exact
        if 1e-100 < nrm < 1e100:            # unless the squares came near the under- or overflow level
            return nrm
        vmax = float(xp.max(xp.abs(v)))
        if not (vmax > 0 and math.isfinite(vmax)):
            return vmax
        w = v / vmax
        return vmax * math.sqrt(be.dot(w, w))

    def norms(f):
        return float(xp.max(xp.abs(f))), norm2(f)

    f = fun(x)                     # F(x0): checked as part of the input
    finf, f2 = norms(f)
    if not math.isfinite(finf):
        raise ValueError("F(x0) contains NaN or inf; pass a starting point where F is finite")
    if not math.isfinite(f2):
        raise ValueError(f"||F(x0)||_2 overflows the double range (entries up to {finf:.3g}); rescale F or the "
                         "problem's data (e.g. a parameter near 1e300) so that its values stay well below 1e300")
    target = max(tol, rtol * finf)
    options = {"jac": jac is not None, "jvp": jvp is not None,
               "M": "callable" if M_callable else None if M is None else type(M).__name__, "inner": inner, "tol": tol, "rtol": rtol, "maxiter": maxiter,
               "forcing": forcing if isinstance(forcing, (str, float, int)) else type(forcing).__name__,
               "inner_maxiter": inner_maxiter}

    from ..linear.gmres import gmres as _gmres
    from ..linear.minres import minres as _minres

    timer = Timer(be)
    hist = {"residual": [finf], "fnorm": [f2], "eta": [math.nan], "step": [0.0], "inner_iterations": [0]}

    def result(status, nit, message):
        stats = {**timer.stats(), **cnt}
        return SolveResult(shaped(x), status == Status.CONVERGED, status, message, nit,
                           history={k: np.asarray(v, dtype=float) if k != "inner_iterations" else np.asarray(v)
                                    for k, v in hist.items()},
                           stats=stats, method=_METHOD, backend=be.name, options=options,
                           provenance=timer.provenance())

    if finf <= target:
        return result(Status.CONVERGED, 0, satisfied_at_x0(_METHOD, finf, target))

    inner_kw = {}
    if inner == "gmres":             # at most inner_maxiter (default 10 n) iterations, in cycles of 30 (of n
        budget = 10 * n if inner_maxiter is None else inner_maxiter    # when smaller: gmres caps a cycle at n)
        m = max(1, min(30, budget, n))
        inner_kw = {"restart": m, "maxiter": -(-budget // m)}
    elif inner_maxiter is not None:
        inner_kw = {"maxiter": inner_maxiter}
    solve_inner = _gmres if inner == "gmres" else _minres

    nit = 0
    while True:
        if nit >= maxiter:
            fn = hist["fnorm"]
            stalled = len(fn) > STALL_STEPS and fn[-1] > 0.5 * fn[-1 - STALL_STEPS]
            return result(Status.MAXITER, nit,
                          f"{_METHOD}: not converged after maxiter={maxiter} Newton steps: ||F||_inf = {finf:.3e} > "
                          f"{target:.3e}. " + (
                              f"||F|| fell by less than half over the last {STALL_STEPS} steps: F(x) = 0 may have no "
                              "solution near x (e.g. a parameter past a fold or turning point); otherwise try a "
                              "better x0" if stalled else "Try a larger maxiter, a better x0, or a preconditioner M"))
        # ---- Jacobian (or its action) at x
        xs = shaped(x)
        nonfinite = [0, 0, 0, 0]   # non-finite: F at difference quotients / line-search trials, jvp, vectors J got
        if jac is not None:
            cnt["jac_evals"] += 1
            J = jac(xs)
        else:
            if jvp is not None:
                def mv(v, _xs=xs):
                    cnt["jvps"] += 1
                    out = checked(jvp(_xs, shaped(v)), "jvp")
                    if not bool(xp.all(xp.isfinite(out))):
                        nonfinite[2] += 1
                    return out
            else:
                xnorm = norm2(x)

                def mv(v, _x=x, _f=f, _xn=xnorm):
                    cnt["jvps"] += 1
                    vn = norm2(v)
                    if not math.isfinite(vn):       # from M or the inner solve itself, not F's fault
                        nonfinite[3] += 1
                        return xp.full(n, math.nan)
                    if vn == 0.0:
                        return xp.zeros(n)
                    # J v = ||v|| J u with the unit u = v / ||v||: the difference step h = sqrt(eps) (1 + ||x||)
                    # along u, so that neither h nor 1 / h over- or underflows for tiny or huge ||v||
                    h = math.sqrt(precision[0]) * (1.0 + _xn)
                    fh = fun(_x + h * (v / vn))
                    if not bool(xp.all(xp.isfinite(fh))):
                        nonfinite[0] += 1
                    return (fh - _f) * (vn / h)
            J = FunctionOperator((n, n), mv, backend=be, symmetric=(inner == "minres"))
        if M_callable:
            cnt["precond_builds"] += 1
            Mk = M(xs)
            if Mk is None:
                raise TypeError(f"{_METHOD}: M(x) returned None at step {nit + 1}; it must return a preconditioner "
                                "(an operator with matvec, a matrix, or a callable v -> M v)")
        else:
            Mk = M
        if callable(Mk) and not hasattr(Mk, "matvec") and not hasattr(Mk, "shape"):   # M(x) -> a v -> M v callable,
            Mk = FunctionOperator((n, n), Mk, backend=be)   # as its None message offers (helper-134)
        if xp is not np:                    # a device backend: host matrices would be uploaded (or refused) per step
            _refuse_host_matrix(J, "jac(x)" if jac is not None else "the Jacobian operator", be)
            _refuse_host_matrix(Mk, "M(x)" if M_callable else "M", be)
        # ---- inner solve: ||F + J d|| <= max(eta ||F||, target / 2)
        eta = float(forcing_rule(f2))
        try:
            r = solve_inner(J, -f, rtol=eta, atol=0.5 * target, M=Mk, backend=be, **inner_kw)
        except (ValueError, TypeError) as e:
            reraise_inner(e, _METHOD, inner, nit + 1, "jac(x)" if jac is not None else ("M(x)" if M_callable else
                                                                                       "the Jacobian operator"))
        cnt["matvecs"] += int(r.stats.get("matvecs", 0))
        cnt["inner_iterations"] += int(r.nit)
        cnt["precond_applications"] += int(r.stats.get("precond_applications", 0))
        d = xp.asarray(r.x).reshape(-1)
        linres = float(r.history["residual"][-1]) if len(r.history.get("residual", ())) else math.nan
        forcing_rule.observe(linres)
        eta_act = linres / f2
        if not (math.isfinite(eta_act) and eta_act < 1.0) or not bool(xp.all(xp.isfinite(d))):
            hint = "not symmetric (use inner='gmres')" if inner == "minres" else "badly conditioned"
            if nonfinite[2]:
                return result(Status.NONFINITE, nit,
                              f"{_METHOD}: jvp(x, v) returned NaN or inf in {nonfinite[2]} of its products at step "
                              f"{nit + 1}: check that jvp is finite at x (or pass jac=, or neither for difference "
                              "quotients). x is the last iterate")
            if r.status == Status.NONFINITE and not nonfinite[0] or nonfinite[3]:
                who = " or ".join(w for w, on in (("the operator of jac(x)", jac is not None), ("the preconditioner M",
                                                  Mk is not None)) if on) or "the Jacobian's difference quotients"
                return result(Status.NONFINITE, nit,
                              f"{_METHOD}: the inner {inner} solve met NaN or inf at step {nit + 1} while F was finite: "
                              f"{who} returned NaN/inf for a finite vector; check it (e.g. solvers.dot_test). x is "
                              "the last iterate")
            if jac is None and jvp is None and (lost := _rounds_away(fun, x, f, precision[0], xp, n)):
                return result(Status.BREAKDOWN, nit,
                              f"{_METHOD}: the difference quotients J u vanish at step {nit + 1} in {lost} of the {n} "
                              "components (F_i(x + h u) = F_i(x) "
                              f"exactly, while a larger step shows F varying): the step h = {math.sqrt(precision[0]):.1e} "
                              f"(1 + ||x||) is below the rounding unit of F (||F||_inf = {finf:.3e}), so F(x + h u) "
                              "rounds to F(x); pass jac= or jvp=, or subtract F's large constant part (scale F). x is "
                              "the last iterate")
            if nonfinite[0]:
                return result(Status.NONFINITE, nit,
                              f"{_METHOD}: F was NaN or inf at {nonfinite[0]} of the points x + h u of the "
                              f"difference quotients J u at step {nit + 1}: F is not defined (or overflows) just beyond "
                              "x; pass jac= or jvp=, reformulate F, or start elsewhere. x is the last iterate")
            return result(Status.BREAKDOWN, nit,
                          f"{_METHOD}: the inner {inner} solve ({r.status}) did not reduce the linear residual at step "
                          f"{nit + 1} (||F + J d|| / ||F|| = {eta_act:.3g}); the Jacobian may be singular or "
                          f"{hint}, "
                          "or the preconditioner unsuitable. x is the last iterate")
        # ---- line search on phi(alpha) = ||F(x + alpha d)||^2 / (2 ||F(x)||^2) (scaled by the constant ||F(x)||^2,
        # which leaves the Armijo test unchanged and keeps the squares finite for ||F|| near 1e300 or 1e-300)
        phi0 = 0.5
        dphi0 = -(1.0 - eta_act)
        trial = {}

        def phi(alpha):
            xn = x + alpha * d
            fn = fun(xn)
            cnt["linesearch_evals"] += 1
            ratio = norm2(fn) / f2
            if not math.isfinite(ratio):
                nonfinite[1] += 1
            v = 0.5 * ratio * ratio          # float products overflow to inf (** raises OverflowError)
            trial[alpha] = (xn, fn)
            return v if math.isfinite(v) else math.inf

        dmax = float(xp.max(xp.abs(d)))
        ls = armijo_backtracking(phi, phi0, dphi0, alpha0=1.0, c1=C1, shrink=0.5, max_evals=30, step_norm=dmax,
                                 xtol=1e-15 * float(xp.max(xp.abs(x))))   # relative: tiny unknowns work
        cnt["backtracks"] += ls.evals - 1 if ls.accepted else ls.evals
        if not ls.accepted:
            return result(Status.STAGNATED, nit,
                          f"{_METHOD}: the line search failed at step {nit + 1}: no step along the Newton direction "
                          f"reduced ||F|| enough ({ls.evals} trials, ||F||_inf = {finf:.3e}). " + (
                              f"F was NaN or inf at {nonfinite[1]} of them: F is not defined (or overflows) just "
                              "beyond x; reformulate F or start elsewhere. x is the last iterate"
                              if 2 * nonfinite[1] >= ls.evals else
                              ("The Jacobian's difference approximation may be inaccurate (pass jac= or jvp=)"
                               if jac is None and jvp is None else
                               f"{'jac' if jac is not None else 'jvp'} may be inaccurate (compare it with difference "
                               "quotients of F)") +
                              "; or the Jacobian is singular near x, which may be a local minimiser of ||F|| with "
                              "F != 0 (then F(x) = 0 may have no solution near it: try another x0); or ||F|| is at F's "
                              "rounding level (loosen tol). A smaller forcing term may help. x is the last iterate"))
        x, f = trial[ls.alpha]
        trial.clear()
        nit += 1
        finf, f2 = norms(f)
        hist["residual"].append(finf)
        hist["fnorm"].append(f2)
        hist["eta"].append(eta)
        hist["step"].append(ls.alpha)
        hist["inner_iterations"].append(int(r.nit))
        stop = bool(cb) and cb(shaped(x), nit, residual=finf, fnorm=f2, eta=eta, step=ls.alpha,
                               inner_iterations=int(r.nit))
        if finf <= target:
            return result(Status.CONVERGED, nit, f"{_METHOD}: converged in {nit} Newton steps, ||F||_inf = {finf:.3e} "
                                                 f"<= {target:.3e}")
        if stop:
            return result(Status.STOPPED, nit, stopped_message(_METHOD, nit))

__all__ = ["newton_krylov"]
