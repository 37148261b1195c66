"""Newton methods for unconstrained minimisation with SciPy-style callables.

:func:`newton` minimises ``f(x)`` given ``fun``, its gradient ``jac`` and either the Hessian
``hess(x)`` or Hessian-vector products ``hessp(x, p)``. Three methods share one loop, one
result convention and the machinery of :mod:`solvers.nonlinear`:

* ``"newton"`` -- damped Newton: the Hessian is made positive definite by adding a multiple
  of the identity until a Cholesky factorisation succeeds (Nocedal & Wright, Algorithm 3.3),
  then Armijo backtracking (:func:`~solvers.nonlinear.armijo_backtracking`) on ``f``;
* ``"newton-cg"`` -- inexact (truncated) Newton: :func:`solvers.cg` on the Hessian operator to
  the Eisenstat-Walker forcing tolerance (:class:`~solvers.nonlinear.EisenstatWalker`), with
  Steihaug's negative-curvature exit, then Armijo backtracking on ``f``;
* ``"grad-reg"`` -- gradient-regularised Newton with an approximate Hessian (Semenov, Jaggi &
  Doikov): ``x+ = x - (H + lam B)^{-1} g`` with ``lam = ||g||_* / gamma``, accepted when
  ``f(x) - f(x+) >= ||g(x+)||_*^2 / (8 lam)`` (then ``gamma`` doubles), else ``gamma`` halves;
  ``||v||_* = sqrt(v^T B^{-1} v)`` is the dual norm of the metric ``B`` (Euclidean for ``B = I``).
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp

from .._masks import refuse_masked
from ..results import Callback, SolveResult, Status, Timer, stopped_message
from .forcing import EisenstatWalker
from ._newton_parts import (Metric, _Problem, _as_dense, _check_positive, _modified_cholesky_direction,
                            _norm, f_level, falls_at_constant, fd_jac_message, inconsistent_jac, negative_curvature,
                            not_a_minimiser, rose_note, wrong_jac_message, grad_reg_failure)
from ._nlp import int_arg
from .linesearch import armijo_backtracking

METHODS = ("newton", "newton-cg", "grad-reg")
#: the run ends as diverged when max |x| grows past this many times max(1, max |x0|) while f is below f(x0) and
#: ||grad f||_inf is not below its value at x0: f unbounded below (a concave objective; a far-away minimiser is
#: approached with a falling gradient; a test on f itself would not be invariant to scaling f)
UNBOUNDED = 1e20
#: a maxiter message adds that f may be unbounded below when f fell at each of this many last iterations while
#: ||grad f||_inf stayed the same (to 12 digits): a linear f, or a Huber loss's linear part (so not a stop rule)
RAY_WINDOW = 10
#: the default ``maxiter`` of "newton" and "newton-cg" is ``max(200, MAXITER_PER_UNKNOWN * n)``: on the chained
#: Rosenbrock function from (-1.2, 1, ...) Newton-CG takes about 2-3 n iterations (n = 100: 243, 300: 860,
#: 1000: 2353; SciPy's Newton-CG 227, 557, 1616), so a fixed 200 stopped it at n = 100 with f = 16
MAXITER_PER_UNKNOWN = 5


def newton(fun, x0, *, jac, hess=None, hessp=None, method: str = "newton-cg", tol: float = 1e-8,
           maxiter: int | None = None, callback=None, backend=None, args=(), B=None, gamma0: float = 1.0,
           c1: float = 1e-4, cg_maxiter: int | None = None):
    """Minimise ``f(x)`` by a Newton method: damped Newton, Newton-CG or gradient-regularised Newton.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, the objective.
    x0 : array_like, shape (n,)
        Starting point (real, finite, 1-D).
    jac : callable
        ``jac(x, *args) -> array (n,)``, the gradient of ``fun`` (required; keyword-only).
    hess : callable, optional
        ``hess(x, *args)`` -> the Hessian (or any approximation for ``"grad-reg"``): a dense
        ``(n, n)`` array, a SciPy sparse matrix or a linear operator (anything
        :func:`solvers.aslinearoperator` accepts). ``"newton"`` densifies it.
    hessp : callable, optional
        ``hessp(x, p, *args) -> array (n,)``, the Hessian times ``p``; used by ``"newton-cg"``
        and ``"grad-reg"`` when ``hess`` is not given. ``"newton"`` needs ``hess``.
    method : {"newton-cg", "newton", "grad-reg"}
        ``"newton"``: damped Newton with Armijo backtracking; a Hessian that is not positive
        definite is shifted by ``tau I``, ``tau`` doubled until Cholesky succeeds.
        ``"newton-cg"``: inexact Newton; the Newton system is solved by :func:`solvers.cg` to the
        relative tolerance ``eta_k`` of Eisenstat & Walker's Choice 2 (``eta_0 = 0.5``,
        ``eta_max = 0.5``). When CG meets negative curvature (``p^T H p <= 0``) at its first
        iteration the step is the steepest-descent direction ``-g``; later, the CG iterate so far
        (Steihaug). Then Armijo backtracking on ``f``.
        ``"grad-reg"``: gradient-regularised Newton, ``x+ = x - (H + lam B)^{-1} g`` with
        ``lam = ||g||_* / gamma`` (``||v||_* = sqrt(v^T B^{-1} v)``, the 2-norm for ``B = I``); the trial is
        accepted when ``f(x) - f(x+) >= ||g(x+)||_*^2 / (8 lam)`` and ``gamma`` doubles, else ``gamma`` halves
        and the step is recomputed. Near the solution, where ``f(x) - f(x+)`` is below the
        rounding level of ``f`` (``16 eps |f|``), a trial that reduces ``||g||_2`` by 10% is
        accepted instead (the Armijo searches of the other methods use the same noise hook). ``H`` may be exact, Gauss-Newton, Fisher or any symmetric
        approximation; the shifted system is solved by a dense solve when ``hess`` returns an
        array, else by :func:`solvers.cg`.
    tol : float
        Stop when ``||grad f(x)||_inf <= tol``, measured on the returned ``x`` (default 1e-8).
    maxiter : int, optional
        Most outer iterations (default ``max(200, 5 n)`` for "newton" and "newton-cg", 1000 for
        "grad-reg"; SciPy's Newton-CG allows ``200 n``).
    callback : callable, optional
        ``callback(intermediate_result)`` (fields ``x``, ``nit``, ``fun``, ``jac``, ``grad_norm``) or
        ``callback(xk)``, after every iteration; ``StopIteration`` ends the solve with status
        ``"stopped"``.
    backend : {"numba", "numpy"} or Backend, optional
        Backend of the inner CG solves (default ``"numba"``, the library's CPU default; ``"numpy"`` is
        the plain reference). The outer loop works on the NumPy arrays the callables return.
    args : tuple
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp``.
    B : array or operator, shape (n, n), optional
        The regularisation metric of ``"grad-reg"`` (symmetric positive definite; default identity).
    gamma0 : float
        Initial ``gamma`` of ``"grad-reg"`` (default 1).
    c1 : float
        Armijo constant of the line search (default 1e-4).
    cg_maxiter : int, optional
        Most CG iterations per Newton step (default ``max(2 n, 20)``).

    Returns
    -------
    SolveResult
        ``x``, ``converged``, ``status`` (``converged``, ``maxiter``, ``stagnated`` when the line
        search or the ``gamma`` search found no acceptable step, ``nonfinite``, ``stopped``,
        ``diverged`` when f looks unbounded below: ``max |x|`` past :data:`UNBOUNDED` times
        ``max(1, max |x0|)`` with f below f(x0) and the gradient not smaller than at x0; a ``maxiter``
        message says so when f fell at each of the last :data:`RAY_WINDOW` iterations at a constant gradient;
        ``failed`` for a stationary point, x0 or reached, where the Hessian has negative curvature: a saddle or
        a maximum, checked by its smallest eigenvalue up to 2000 unknowns, else by Lanczos Ritz values),
        ``message`` (what to try on failure), ``nit``, ``history`` with ``objective``,
        ``grad_norm`` (inf-norm) and ``step`` (2-norm of ``x_{k+1} - x_k``, entry 0 is 0), each
        ``nit + 1`` long; ``stats``: ``time_s``, ``compile_s``, ``function_evaluations``,
        ``gradient_evaluations``, ``hessian_evaluations``, ``hessp_evaluations``,
        ``cg_iterations``, ``negative_curvature_exits``, ``steepest_descent_steps`` (newton-cg; exits
        at CG's first iteration, where ``-g`` is used), ``max_shift`` (newton: largest ``tau``),
        ``nonfinite_hessian_steps`` (newton, newton-cg: ``-g`` steps where H was not finite, said in ``message``),
        ``final_gamma``, ``rejected_steps`` (grad-reg); extras ``fun``, ``jac`` (value, gradient at x).

    Raises
    ------
    TypeError, ValueError
        For invalid input, naming the argument (checked before any evaluation), and when a
        callable returns something of the wrong shape.

    References
    ----------
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, Chapter 3
    (Algorithms 3.1, 3.3) and Chapter 7 (Algorithm 7.1, line-search Newton-CG).
    S. C. Eisenstat and H. F. Walker, "Choosing the forcing terms in an inexact Newton method",
    SIAM J. Sci. Comput. 17 (1996) 16-32.
    T. Steihaug, "The conjugate gradient method and trust regions in large scale optimization",
    SIAM J. Numer. Anal. 20 (1983) 626-637.
    A. Semenov, M. Jaggi and N. Doikov, "Gradient-normalized smoothness for optimization with
    approximate Hessians", ICLR 2026.
    """
    # ------------------------------------------------------------------ validation
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if not callable(jac):
        raise TypeError(f"jac must be a callable returning the gradient, got {type(jac).__name__}")
    if hess is not None and not callable(hess):
        raise TypeError(f"hess must be callable or None, got {type(hess).__name__}")
    if hessp is not None and not callable(hessp):
        raise TypeError(f"hessp must be callable or None, got {type(hessp).__name__}")
    if method == "newton" and hess is None:
        raise ValueError("method='newton' needs hess (a callable returning the Hessian); with only hessp use "
                         "method='newton-cg'")
    if hess is None and hessp is None:
        raise ValueError(f"method={method!r} needs hess or hessp")
    if not isinstance(args, tuple):
        args = (args,)
    refuse_masked("x0", x0)
    x = np.asarray(x0)
    if np.iscomplexobj(x):
        raise TypeError("x0 must be real; newton minimises real functions of real x")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x0 must be a real numeric array, got dtype {x.dtype}")
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D array, got shape {x.shape}")
    x = np.array(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 must be finite (it contains NaN or inf)")
    n = x.size
    tol = _check_positive("tol", tol)
    if maxiter is None:     # Newton's iterations grow with n on curved valleys (MAXITER_PER_UNKNOWN)
        maxiter = 1000 if method == "grad-reg" else max(200, MAXITER_PER_UNKNOWN * n)
    maxiter = int_arg("maxiter", maxiter, 0)
    cg_maxiter = int_arg("cg_maxiter", max(2 * n, 20) if cg_maxiter is None else cg_maxiter, 1)
    gamma0 = _check_positive("gamma0", gamma0)
    c1 = float(c1) if isinstance(c1, numbers.Real) and not isinstance(c1, bool) else c1
    if not isinstance(c1, float) or not 0 < c1 < 0.5:
        raise ValueError(f"c1 must be in (0, 0.5), got {c1!r}")
    if B is not None and method != "grad-reg":
        raise ValueError("B (the regularisation metric) is an option of method='grad-reg' only")
    from ..backends import get_backend

    be = get_backend(backend)
    if be.xp is not np:
        raise TypeError(f"newton runs on NumPy arrays; use backend='numpy' or 'numba', got {be.name!r}")
    cb = Callback(callback)
    metric = Metric(B, n, be)

    options = {"method": method, "tol": tol, "maxiter": maxiter, "c1": c1, "cg_maxiter": int(cg_maxiter),
               "backend": be.name, "hessian": "hess" if hess is not None else "hessp"}
    if method == "grad-reg":
        options.update(gamma0=gamma0, B="identity" if B is None else type(B).__name__)

    P = _Problem(fun, jac, hess, hessp, args, n)
    timer = Timer(be)
    extra_stats = {"cg_iterations": 0}

    # ------------------------------------------------------------------ common loop state
    fx = P.f(x)
    g = P.g(x) if math.isfinite(fx) else np.full(n, np.nan)
    hist_f, hist_g, hist_s = [fx], [float(np.max(np.abs(g)))], [0.0]

    def finish(x, status, nit, msg, fx, g):
        stats = {**timer.stats(), "function_evaluations": P.nfev, "gradient_evaluations": P.njev,
                 "hessian_evaluations": P.nhev, "hessp_evaluations": P.nhpev, **extra_stats}
        return SolveResult(x, status == Status.CONVERGED, status, msg, nit,
                           history={"objective": np.array(hist_f), "grad_norm": np.array(hist_g),
                                    "step": np.array(hist_s)},
                           stats=stats, method=method, backend=be.name, options=options,
                           provenance=timer.provenance(), fun=fx, jac=g)

    if not (math.isfinite(fx) and np.all(np.isfinite(g))):
        return finish(x, Status.NONFINITE, 0, f"{method}: f or its gradient is not finite at x0; start from a "
                      "point where fun and jac are finite", fx, g)

    def converged_msg(k):
        msg = f"{method}: converged in {k} iterations, ||grad f(x)||_inf = {hist_g[-1]:.3e} <= tol = {tol:.1e}"
        if 0.0 < hist_g[0] < 1e3 * tol:     # (f * 1e-300 was 'converged in 0 iterations' at x0: helper-145)
            msg += (f"; caution: tol is absolute and the gradient at x0 was already within 1000x of it "
                    f"(||grad f(x0)||_inf = {hist_g[0]:.1e}), so a point may meet tol far from a minimiser: rescale "
                    "f or x, or lower tol")
        return msg

    def at_stationary(x, fx, g, k):    # (status, message): a minimiser only without negative curvature
        c = negative_curvature(P, x, n, hess, be, fx, g)
        return (Status.CONVERGED, converged_msg(k)) if c is None else (
            Status.FAILED, not_a_minimiser(method, k, hist_g[0] if k == 0 else hist_g[-1], tol, c))

    if hist_g[0] <= tol:             # (the Hessian costs one evaluation here, which the iterations would have paid)
        st0, msg0 = at_stationary(x, fx, g, 0)
        return finish(x, st0, 0, msg0, fx, g)

    forcing = EisenstatWalker(2, eta0=0.5, eta_max=0.5) if method == "newton-cg" else None
    gamma = gamma0
    extra_stats.update({"newton": dict(max_shift=0.0, nonfinite_hessian_steps=0),
                        "newton-cg": dict(negative_curvature_exits=0, steepest_descent_steps=0,
                                          nonfinite_hessian_steps=0),
                        "grad-reg": dict(final_gamma=gamma, rejected_steps=0)}[method])

    from ..linear.cg import cg
    from ..operators import FunctionOperator, aslinearoperator

    def hessian_operator(x):
        if hess is None:
            xc = x.copy()
            return FunctionOperator((n, n), lambda p: P.Hp(xc, p), backend=be, symmetric=True)
        return aslinearoperator(P.H(x), backend=be)

    def line_search(x, fx, g, d):
        """Armijo on f along d; returns (x_new, f_new, g_new or None) or None.

        When the decrease of f is below its rounding level, the trial is accepted if it
        reduces ||grad f||_2 by 10 % or meets the approximate Armijo condition of Hager and Zhang
        (2005), the decrease estimated from the slopes at both ends (the noise hook of
        :func:`armijo_backtracking`). W. W. Hager, H. Zhang, "A new conjugate gradient method with
        guaranteed descent and an efficient line search", SIAM J. Optim. 16 (2005) 170-192."""
        slope = be.dot(g, d)
        if not slope < 0:        # g @ d underflows to 0 for a gradient near the underflow level (tol ~ 1e-300)
            return None
        gn0 = _norm(g, be.dot)
        trial, grads = {}, {}

        def phi(a):
            xt = x + a * d
            trial[a] = xt
            ft = P.f(xt)
            trials[0] += 1
            if not math.isfinite(ft):
                trials[1] += 1
            return ft

        def noise_test(a):
            gt = P.g(trial[a])
            grads[a] = gt
            if not bool(np.all(np.isfinite(gt))):
                return False
            # the decrease of f from gradients: the trapezoid rule a (phi'(0) + phi'(a)) / 2 (exact on a
            # quadratic) against Armijo's c1 a phi'(0) -- Hager and Zhang's approximate Armijo condition,
            # for where f's own changes are rounding (a cond-1e6 quadratic stagnated at ||g|| 7e-5 under
            # newton-cg, numba: its inexact steps lowered f but not ||g|| by 10 %)
            return _norm(gt, be.dot) < 0.9 * gn0 or 0.5 * (slope + be.dot(gt, d)) <= c1 * slope

        dmax = float(np.max(np.abs(d)))
        # f unresolved along d: the predicted decrease |g . d| is below sqrt(eps) |f|. The rounding of
        # f can then exceed 16 eps |f| many times over (f = 0.5 x'Hx - c'x with a stiff H cancels: noise
        # ~ eps |x| |H| |x|), its changes are noise -- a noise 'decrease' passed Armijo and took ||g||
        # from 2e-9 to 4e-2 -- and ||grad f|| decides (probe 25)
        unresolved, noise = f_level(fx, slope)
        ls = armijo_backtracking(phi, fx, slope, c1=c1, step_norm=dmax, max_evals=60,
                                 xtol=1e-15 * float(np.max(np.abs(x))),   # relative (1e-15 absolute failed x ~ 1e-16)
                                 noise=noise, noise_test=noise_test, trust_noise=not unresolved)
        if not ls.accepted:
            return None
        return trial[ls.alpha], ls.value, grads.get(ls.alpha)

    status, msg = Status.MAXITER, ""
    hist_x0 = x.copy()
    trials = [0, 0, 0]             # this iteration's trial points, those where fun, and where jac, was not finite
    k = 0
    for k in range(1, maxiter + 1):
        gnorm2 = _norm(g, be.dot)
        trials[:] = [0, 0, 0]
        if method == "grad-reg":
            Hk = P.H(x) if hess is not None else None
            dense = Hk is not None and (isinstance(Hk, np.ndarray) or sp.issparse(Hk))
            if dense:
                Hk = _as_dense(Hk, n)
            accepted, finite_steps, flat = None, 0, 0         # flat: trials whose f and ||g|| did not measurably move
            gdual = metric.dual_norm(g)                        # ||g||_* (module notes of Metric)
            for _ in range(100):
                lam = gdual / gamma
                if not (lam > 0 and math.isfinite(lam)):       # ||g|| / gamma under- or overflows: no step
                    finite_steps += 1                            # (stagnation, not a fault of hess)
                    break
                s = None
                if dense:
                    try:
                        s = np.linalg.solve(Hk + lam * metric.dense(), g)
                    except np.linalg.LinAlgError:
                        s = None
                else:
                    op = aslinearoperator(Hk, backend=be) if Hk is not None else hessian_operator(x)
                    op = op + lam * metric.op
                    r = cg(op, g, rtol=min(0.5, math.sqrt(gnorm2)) * 0.1, maxiter=int(cg_maxiter), backend=be)
                    extra_stats["cg_iterations"] += r.nit
                    s = r.x if r.status in (Status.CONVERGED, Status.MAXITER, Status.STAGNATED) else None
                if s is not None and np.all(np.isfinite(s)):
                    finite_steps += 1
                    xt = x - s
                    ft = P.f(xt)
                    trials[0] += 1
                    trials[1] += 0 if math.isfinite(ft) else 1
                    # the decrease test; when f changes by less than its rounding level the
                    # test cannot be evaluated, and a clear decrease of ||g|| accepts instead -- of a
                    # descent step only (g . s > 0): with an indefinite H the step (H + lam B)^-1 g can
                    # point uphill, and ||g|| falls towards a maximum too (f + 1e6 climbed to one)
                    # f unresolved along s (predicted decrease g . s below sqrt(eps) |f|, as in line_search): its
                    # changes up to that level are noise, and the decrease is estimated from the slopes at both
                    # ends instead (trapezoid rule, exact on a quadratic; a cond-1e6 quadratic + quartic stagnated
                    # at ||g|| 5e-7 with gamma -> 1e-29 on f's rounding)
                    pred = be.dot(g, s)
                    level = f_level(fx, pred)[1]
                    noisy = math.isfinite(ft) and abs(fx - ft) <= level and pred > 0
                    if math.isfinite(ft) and (fx - ft >= 0 or noisy):
                        gt = P.g(xt)
                        gtn = _norm(gt, be.dot)
                        trials[2] += 0 if math.isfinite(gtn) else 1
                        # (slopes only where ||g|| falls too: a collapsed gamma crept along f's rounding to a NaN wall)
                        drop = 0.5 * (pred + be.dot(gt, s)) if noisy and gtn < gnorm2 else fx - ft
                        gtd = metric.dual_norm(gt) if np.all(np.isfinite(gt)) else math.inf
                        if np.all(np.isfinite(gt)) and (drop >= gtd * (gtd / (8.0 * lam))
                                                        or (noisy and gtn < 0.9 * gnorm2)):
                            accepted = (xt, ft, gt)
                            gamma = min(2.0 * gamma, 1e300)
                            break
                        flat += bool(noisy and np.all(np.isfinite(gt))       # ||g|| unchanged to rounding: a
                                     and abs(gtn - gnorm2) <= 1e-8 * gnorm2)    # wrong jac moves it (review)
                gamma /= 2.0
                extra_stats["rejected_steps"] += 1
                if gamma < 1e-300:
                    break
            extra_stats["final_gamma"] = gamma
            if accepted is None:
                status = Status.STAGNATED if finite_steps else Status.NONFINITE
                msg = grad_reg_failure(k, gamma, trials, flat, finite_steps, hess is not None,
                                       gamma0 if (k == 1 and gamma0 != 1.0) else None,
                                       float(np.max(np.abs(np.asarray(be.to_numpy(x))))) if n else 1.0)
                k -= 1
                break
            xn, fn, gn = accepted
        else:
            if method == "newton":
                Hd = _as_dense(P.H(x), n)
                if not np.all(np.isfinite(Hd)):       # steepest descent (counted, said in the message)
                    d, tau = None, math.nan
                    extra_stats["nonfinite_hessian_steps"] += 1
                else:
                    d, tau = _modified_cholesky_direction(Hd, g)
                    extra_stats["max_shift"] = max(extra_stats["max_shift"], tau)
                if d is None:
                    d = -g
            else:
                eta = forcing(gnorm2)
                Hop = hessian_operator(x)
                try:
                    r = cg(Hop, -g, rtol=eta, maxiter=int(cg_maxiter),
                           negative_curvature="return", backend=be)
                except ValueError as exc:     # a dense / sparse hess with NaN or inf, refused by cg's check
                    if "NaN or inf" in str(exc):
                        r = None
                    elif str(exc).startswith("A ("):      # cg's own check of its operator's products: name it
                        raise ValueError(f"newton-cg: the Hessian from {'hess' if hess is not None else 'hessp'} "
                                         f"at iteration {k}: {exc}") from exc
                    else:                     # the user's own error (from hessp or the operator): unchanged
                        raise
                extra_stats["cg_iterations"] += 0 if r is None else r.nit
                if r is None:                 # steepest descent (counted, said in the message)
                    extra_stats["nonfinite_hessian_steps"] += 1
                    d = -g
                elif r.status == Status.BREAKDOWN and r.direction is not None:
                    extra_stats["negative_curvature_exits"] += 1
                    if r.nit == 0:        # first CG direction already has p^T H p <= 0: steepest descent
                        extra_stats["steepest_descent_steps"] += 1
                        d = -g
                    else:                 # Steihaug: the CG iterate before the negative-curvature direction
                        d = np.asarray(r.x)
                elif r.status in (Status.CONVERGED, Status.MAXITER, Status.STAGNATED, Status.STOPPED):
                    d = np.asarray(r.x)
                else:                     # steepest descent (counted, said in the message)
                    extra_stats["nonfinite_hessian_steps" if r.status == Status.NONFINITE
                                else "steepest_descent_steps"] += 1
                    d = -g
                if r is not None and r.history.get("residual") is not None and len(r.history["residual"]):
                    forcing.observe(float(r.history["residual"][-1]))
            if not (np.all(np.isfinite(d)) and be.dot(g, d) < 0):
                d = -g
            out = line_search(x, fx, g, d)
            if out is None and not np.array_equal(d, -g):
                out = line_search(x, fx, g, -g)      # fall back to steepest descent
            if out is None:
                status = Status.STAGNATED
                msg = (f"{method}: the line search found no decrease of f at iteration {k} "
                       f"(||grad||_inf = {hist_g[-1]:.3e}); " + (
                           f"fun was NaN or inf at {trials[1]} of the {trials[0]} trial points along the steps: f is "
                           "not defined (or overflows) just beyond x; restrict the step (rescale x), reformulate f, or "
                           "start elsewhere" if 2 * trials[1] >= max(trials[0], 1) else
                           "tol may be below the attainable accuracy of f -- loosen tol, or check that jac is the "
                           "gradient of fun (scipy.optimize.check_grad)"))
                k -= 1
                break
            xn, fn, gn = out
            if gn is None:
                gn = P.g(xn)
        if not np.all(np.isfinite(gn)):
            status, msg = Status.NONFINITE, (f"{method}: the gradient is not finite at the new iterate of "
                                             f"iteration {k}; x is the last finite iterate. Rescale the problem")
            k -= 1
            break
        step = _norm(xn - x, be.dot)
        bad_grad = ""
        if np.max(np.abs(gn)) <= tol:         # a claimed stationary point: jac checked against fun first
            bad = inconsistent_jac(be.dot, x, fx, g, xn, fn, gn, hist_f[0])
            bad_grad = (wrong_jac_message(method, float(np.max(np.abs(gn))), tol, k, *bad) if bad is not None else
                        fd_jac_message(method, P.f, xn, fn, gn, xn - x, be.xp, tol, k))
        x, fx, g = xn, fn, gn
        hist_f.append(fx)
        hist_g.append(float(np.max(np.abs(g))))
        hist_s.append(step)
        stop = cb(x, k, fun=fx, jac=g, grad_norm=hist_g[-1])
        if hist_g[-1] <= tol and bad_grad:
            status, msg = Status.FAILED, bad_grad
            break
        if hist_g[-1] <= tol:
            status, msg = at_stationary(x, fx, g, k)
            break
        if stop:
            status, msg = Status.STOPPED, stopped_message(method, k)
            break
        if (float(np.max(np.abs(x))) > UNBOUNDED * max(1.0, float(np.max(np.abs(hist_x0))))
                and fx < hist_f[0] and hist_g[-1] >= hist_g[0]):
            status = Status.DIVERGED
            msg = (f"{method}: f fell to {fx:.3e} (from {hist_f[0]:.3e}) with max |x| = {float(np.max(np.abs(x))):.3e} "
                   f"at iteration {k}: f is probably unbounded below (linear or concave along the path); check the "
                   "formulation, or bound the variables")
            break
    else:
        k = maxiter
        status = Status.MAXITER
        msg = (f"{method}: maxiter = {maxiter} reached with ||grad f(x)||_inf = {hist_g[-1]:.3e} > tol = {tol:.1e}; "
               "raise maxiter" + ("" if method == "newton-cg" else ", or try method='newton-cg'"))
        if falls_at_constant(hist_f, hist_g, RAY_WINDOW):
            msg += (f". f fell at each of the last {RAY_WINDOW} iterations while ||grad f||_inf stayed the same: f may "
                    "be unbounded below along the path (linear there), or the iterates are crossing a region of "
                    "constant gradient (e.g. a Huber loss's linear part)")
        msg += rose_note(hist_f[0], hist_f[-1])
    if extra_stats.get("nonfinite_hessian_steps", 0):
        what = "hess" if hess is not None else "hessp"
        msg += (f" ({what} was not finite at {extra_stats['nonfinite_hessian_steps']} iterates: steepest descent "
                f"there; check that {what} returns finite values)")
    return finish(x, status, k, msg, fx, g)


__all__ = ["newton"]
