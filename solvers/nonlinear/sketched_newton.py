"""Adaptive inexact Newton for ``min f(x) s.t. c(x) = 0`` with randomized iterative sketching.

:func:`sketched_newton` is AdaSketch-Newton of Hong, Na, Mahoney and Kolar (ICML 2023): the
Lagrangian Newton system is solved inexactly by a randomized sketch-and-project solver (or by
preconditioned MINRES), the accuracy and the penalty parameters of the exact augmented
Lagrangian merit are adapted until the inexact direction is a descent direction of the merit,
and Armijo backtracking (:func:`~solvers.nonlinear.armijo_backtracking`) on the merit picks
the step. The pieces live in :mod:`._nlp` (evaluation, merit) and :mod:`._kkt` (KKT system,
Hessian modification, inner solvers).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..results import Callback, SolveResult, Status, Timer, stopped_message
from ._kkt import SKETCHES, NewtonSystem, SketchSampler, krylov_solve, sketch_and_project
from ._nlp import (SCALE_LIMIT, SCALE_MARGIN, NLPEvaluator, Point, Watch, check_problem, check_scales, int_arg,
                   least_squares_multipliers, matrix_scale, merit_gradient, merit_noise, merit_products, merit_value,
                   nonfinite_product, positive_arg, return_to_watch, rmatvec, second_order_point, vector_arg)
from .linesearch import armijo_backtracking

METHOD = "sketched_newton"
_MU_MAX, _NU_MIN, _DELTA_MIN = 1e12, 1e-12, 1e-12
#: the tight inner accuracy of small systems (``n + m <= tight_size``): ``max(_TIGHT_FRACTION tol, _TIGHT_FLOOR ||b||)``
_TIGHT_FRACTION, _TIGHT_FLOOR = 0.1, 1e-12
#: default inner budget of a sketch on an operator (matrix-free) KKT system: operator products per unknown and
#: Newton iteration (each sketch-and-project iteration with ``s`` rows costs about ``2 s`` products)
_OPERATOR_PRODUCTS = 100
#: a returned KKT point is reported as not a minimiser when ``lambda_min(Z^T H Z) < -_NEG_CURVATURE max |H_ij|``
_NEG_CURVATURE = 1e-6
#: objective scales (max |grad f(x0)|) outside [1 / _SCALE_HINT, _SCALE_HINT] are named in failure messages
_SCALE_HINT = 1e3
#: the solve stops (honestly) after this many consecutive Newton iterations whose sketch ran out of inner_maxiter
_SPENT_ITERATIONS = 5
#: the solve stops (STAGNATED) when the KKT residual is unchanged to 12 digits over this many iterations
_STALL_ITERATIONS = 10
#: relaxed (watchdog) steps stop after this many returns to a saved iterate
_WATCHDOG_RETURNS = 1
#: a rejected unit step is taken (relaxed) only when it cuts ||g_L|| at least by this factor: rejected for the growth
#: of ||c|| alone (constraint curvature), which the next Newton step removes
_WATCHDOG_GL = 0.5


def sketched_newton(problem, *, sketch: str | None = "gaussian", tol: float = 1e-8, maxiter: int = 100,
                    lam0=None, mu0: float = 1.0, nu0: float = 0.1, delta0: float = 0.1, xi_B: float = 0.1,
                    beta: float = 0.1, rho: float = 1.5, superlinear: bool = False, tight_size: int = 100,
                    second_order_correction: bool = True, watchdog: bool = True, sketch_size: int | None = None,
                    inner_maxiter: int | None = None, seed: int | None = None, callback=None, backend=None):
    """Solve ``min f(x) s.t. c(x) = 0`` by adaptive inexact Newton on the exact augmented Lagrangian.

    Iteration ``k`` at ``(x_k, lam_k)``:

    1. **Newton-KKT system.** ``K_k z = -(g_L, c)`` with ``K_k = [[B_k, J^T], [J, 0]]``,
       ``g_L = grad f + J^T lam`` and ``B_k = H_k + t_k I``, ``H_k`` the Hessian of the
       Lagrangian. For dense problems (``n + m <= 2000``, arrays or sparse matrices) ``t_k`` is
       exact: ``t_k = 0`` when the reduced Hessian ``Z^T H_k Z`` on the null space of ``J`` is
       positive definite, else ``t_k = xi_B max(1, ||H_k||) - lambda_min(Z^T H_k Z)``. For
       operator problems the curvature test ``dx^T B_k dx > 0`` on the computed step doubles
       ``t_k`` (from ``xi_B``) until it holds.
    2. **Inexact solve with adaptive accuracy.** From ``z = 0``, randomized sketch-and-project
       (``sketch`` given) or preconditioned MINRES (``sketch=None``) runs until
       ``||K_k z + (g_L, c)|| <= theta_k delta_k ||(g_L, c)||`` (the adaptive accuracy
       condition), with ``delta_k <= (1/2 - beta) nu / (1 + mu + nu)`` (the paper's bound
       ``delta_trial`` without its conservative problem constants) and ``theta_k = 1``.
       Small dense systems (``n + m <= tight_size``, ``K`` assembled from arrays or sparse
       matrices) are solved tighter, to ``max(tol / 10, 1e-12 ||(g_L, c)||)`` (never looser than
       the adaptive condition): there the sketch solve to that accuracy costs little, the outer
       iteration is the exact Newton iteration (quadratic local rate), and a QP with linear
       constraints is solved in one iteration instead of ``log(tol) / log(delta)`` (4-6 on the
       HS/BT set). Operator (matrix-free) systems always use the adaptive condition alone; when
       ``n + m <= 200`` their ``K`` is assembled (``n + m`` operator products per iteration) for
       the sketch rows, larger ones bound the sketch's work (see ``inner_maxiter``).
    3. **Penalty update.** The exact augmented Lagrangian
       ``L_{mu,nu} = f + lam^T c + mu/2 ||c||^2 + nu/2 ||g_L||^2`` has the exact gradient
       ``(g_L + mu J^T c + nu H_k g_L, c + nu J g_L)``. While
       ``grad L_{mu,nu}^T z > -(nu/2) ||(g_L, c)||^2`` (not a sufficient descent direction):
       ``mu <- rho^2 mu``, ``nu <- nu / rho``, ``delta <- min(delta / rho^4, delta_trial)``, and
       the inner solver continues from ``z`` to the sharper accuracy.
    4. **Line search.** Armijo backtracking on ``L_{mu,nu}`` along ``z`` from the unit step
       (constant ``beta``, halving); ``(x, lam) <- (x, lam) + alpha z``. Two classical
       safeguards against rejecting a good unit step (Nocedal and Wright 2006, section 15.6):

       * *second-order correction* (dense ``J``): a rejected unit step is tried once more as
         ``x + dx - J^+ c(x + dx)`` (same multipliers, same Armijo test) before backtracking;
       * *watchdog* (Chamberlain et al. 1982): a rejected unit step that cuts ``||g_L||`` at
         least in half (rejected for the growth of ``||c||`` alone, i.e. constraint curvature:
         HS6 from its standard start) is taken anyway; the next iteration keeps it when the
         merit at the relaxed point, or at the next iterate by the Armijo test along the saved
         direction, is below the saved value, else it returns to the saved iterate and
         backtracks along the saved direction from ``alpha = 1/2``. After one such return no
         more relaxed steps are taken, so the method stays monotone in the merit but for at
         most one excursion.

    With ``superlinear=True`` the accuracy condition is sharpened over the iterations:
    ``theta_k = min(1, ||(g_L, c)_k|| / ||(g_L, c)_0||)``, so the relative residual of the inner
    solve goes to zero with the KKT residual and the local linear rate of the inexact method
    becomes superlinear (the paper's second variant; the authors' published code keeps
    ``theta_k = 1``).

    Parameters
    ----------
    problem : object
        Duck-typed: ``f(x) -> float``, ``grad(x) -> (n,)``, ``c(x) -> (m,)`` (``m >= 1``),
        ``jac(x)`` -> ``(m, n)`` dense array, SciPy sparse matrix or operator with ``matvec``
        and ``rmatvec``, ``hess_lagrangian(x, lam)`` -> ``(n, n)`` Hessian of ``f + lam^T c``
        (dense, sparse or operator), ``x0``; optional ``lam0`` and
        ``kkt_preconditioner(x, lam)`` (an SPD operator of size ``n + m``, used by MINRES).
    sketch : {"gaussian", "kaczmarz", "countsketch", "block"} or None
        Inner solver: sketch-and-project with a Gaussian sketch, randomized Kaczmarz (one row,
        sampled by squared row norm), a CountSketch, or block Kaczmarz (``sketch_size`` rows);
        ``None``: MINRES preconditioned by ``problem.kkt_preconditioner`` when it exists.
    tol : float
        Stop when ``||(g_L, c)||_2 <= tol`` at the returned ``(x, lam)``.
    maxiter : int
        Most Newton iterations.
    lam0 : array_like, shape (m,), or "least-squares", optional
        Starting multipliers; default ``problem.lam0`` if present, else zeros (as the authors'
        code). ``"least-squares"``: ``argmin ||grad f(x0) + J^T lam||`` (dense or sparse ``J``;
        zeros for an operator Jacobian).
    mu0, nu0 : float
        Initial penalty parameters of the merit (``mu`` grows, ``nu`` shrinks).
    delta0 : float
        Initial accuracy ``delta`` (in (0, 1)).
    xi_B : float
        Curvature level of the Hessian modification (step 1).
    beta : float
        Armijo constant, in (0, 1/2).
    rho : float
        Penalty update factor, > 1.
    superlinear : bool
        Sharpen the accuracy condition (``theta_k -> 0``), see above.
    tight_size : int
        Largest ``n + m`` whose dense Newton system is solved to ``max(tol / 10, 1e-12 ||b||)``
        (step 2; default 100; not applied to operator systems); ``0``: the adaptive accuracy
        condition alone, as in the paper.
    second_order_correction : bool
        Try the second-order correction of a rejected unit step (dense Jacobians, step 4).
    watchdog : bool
        Allow the watchdog's relaxed unit step (step 4).
    sketch_size : int, optional
        Rows ``s`` per sketch (default 1 for "gaussian" and "kaczmarz", ``ceil(sqrt(n + m))``
        for "countsketch" and "block"; "kaczmarz" uses 1 always).
    inner_maxiter : int, optional
        Most inner iterations per penalty round (default ``max(20000, 200 (n + m))`` for
        sketches, ``10 (n + m)`` for MINRES). When it runs out the current ``z`` is used if it
        passes the descent test. Two safeguards keep degenerate problems solvable: when
        sketch-and-project has not halved its residual in ``20 (n + m)`` iterations the sketch
        size doubles, up to the whole system (one exact least-squares projection; counted in
        ``stats["sketch_growths"]``), and when MINRES cannot meet the accuracy on a dense,
        singular KKT matrix (a rank-deficient Jacobian) the minimum-norm least-squares step
        is taken. When a sketch round uses all of ``inner_maxiter`` without the accuracy, later
        penalty rounds of that iteration only repeat the descent test on the same ``z``, and after
        5 consecutive such iterations the solve stops (``Status.FAILED``, advising
        ``sketch=None``). On an operator KKT system with ``n + m > 200`` (each sketch row costs
        operator products) ``inner_maxiter`` bounds the sketch iterations of a whole Newton
        iteration, by default ``max(50, 100 (n + m) / (2 s))`` (about ``100 (n + m)`` operator
        products); running out stops the solve (``Status.FAILED``, advising ``sketch=None``).
    seed : int, optional
        Seed of the sketches (``None`` draws one; it is in ``stats["seed"]``).
    callback : callable, optional
        ``callback(intermediate_result)`` (fields ``x``, ``nit``, ``lam``, ``kkt``,
        ``objective``, ``constraint``) or ``callback(xk)``; ``StopIteration`` stops.
    backend : str or Backend, optional
        Backend of MINRES (default ``"numpy"``); recorded in the result. The outer algebra is
        NumPy.

    Returns
    -------
    SolveResult
        ``x``; extras ``lam`` (multipliers), ``mu``, ``nu`` (final penalties); ``history``:
        ``kkt`` (``||(g_L, c)||_2``), ``objective``, ``constraint`` (``||c||_inf``),
        ``inner_iterations``, ``step_size`` (entry 0 is 0; 0 also for a watchdog return that
        found no decrease along the saved direction), ``mu``, ``nu``, each ``nit + 1`` long;
        ``stats``: ``time_s``, ``compile_s``, ``function_evaluations``,
        ``gradient_evaluations``, ``constraint_evaluations``, ``jacobian_evaluations``,
        ``hessian_evaluations``, ``inner_iterations``, ``penalty_updates``,
        ``hessian_modifications``, ``max_shift``, ``inexact_directions`` (inner budget ran out),
        ``line_search_evaluations``, ``second_order_corrections`` (unit steps accepted with the
        correction), ``relaxed_steps``, ``watchdog_returns``, ``minres_matvecs``,
        ``preconditioner_evaluations``, ``final_delta``, ``seed``, ``sketch_size``, ``inner_maxiter`` (the values used),
        ``kkt_form`` (``"dense"`` or ``"operator"``), ``lam0`` (its source: ``"problem"``,
        ``"given"``, ``"zeros"``, ``"least-squares"``), ``second_order`` (at a first-order
        point, in words: a positive definite or semidefinite (degenerate) reduced Hessian, no null
        space, negative curvature (not a local minimiser), or not measured) and ``reduced_hessian_min_eig`` (``lambda_min(Z^T H Z)`` at
        the returned point, dense problems; ``None`` when not measured).

        Second-order check: a point that meets ``tol`` is a first-order (KKT) point. For dense
        problems the smallest eigenvalue of the reduced Hessian ``Z^T H Z`` (``Z`` a basis of the
        null space of ``J``) is measured there; when it is clearly negative
        (``< -1e-6 max |H_ij|``) the point is a constrained maximiser or saddle, not a solution
        of the minimisation, and the result is ``converged=False`` with ``Status.FAILED`` and a
        message that says so (it keeps the first-order measurement) and advises another ``x0``.
        Operator problems are not checked (``stats["second_order"]`` says so).

    Notes
    -----
    The sketch-and-project iteration converges at a rate set by the smallest singular value
    of ``K`` relative to its Frobenius norm (Gower and Richtarik, 2015), so it suits
    well-conditioned KKT systems; near degenerate solutions (singular ``K``, e.g. HS26, HS46)
    or for PDE-constrained problems use ``sketch=None`` (MINRES with
    ``problem.kkt_preconditioner``). Far from a solution the merit often accepts only short
    steps; with a dense KKT matrix the Hessian modification is exact, with an operator it is
    a curvature test, which does not detect every indefinite reduced Hessian.

    Iterations on the 30 HS/BT problems of :func:`problems.nlp.hs` from their standard starts to
    ``tol = 1e-8`` (``benchmarks/nlp.py``): median 6 with every sketch and with MINRES (IPOPT: 7);
    the quadratic programs take one iteration, unit steps are accepted once the KKT residual
    is below about 1e-3 of its start, and the degenerate problems (HS26, HS46, HS47, HS49:
    singular reduced Hessian or Jacobian at the solution) take about 20, as Newton's method
    does there (linear rate). The plain Newton-KKT iteration from the same starts takes a
    median 6.5 (``lam0 = 0``), so counts much below 6 on this set are not to be expected
    from a Newton method. With a sketch, ``tight_size=0`` saves inner iterations (24-39 % fewer
    on this set) at the price of more outer ones (median 7-8).

    Raises
    ------
    TypeError, ValueError
        Invalid options or problem (named), a callable returning the wrong shape, type or a
        non-finite value at the starting point, or values at the start so large or small
        (outside ``[1e-100, 1e100]``, zero allowed) that the merit's squares over- or underflow;
        multipliers ``lam0`` (or ``problem.lam0``) above ``1e100``, or making
        ``grad f + J^T lam0`` exceed it at ``x0``.

    References
    ----------
    I. Hong, S. Na, M. W. Mahoney and M. Kolar, "Constrained optimization via exact augmented
    Lagrangian and randomized iterative sketching", ICML 2023 (arXiv:2305.18379).
    R. M. Gower and P. Richtarik, "Randomized iterative methods for linear systems", SIAM J.
    Matrix Anal. Appl. 36 (2015) 1660-1690.
    T. Strohmer and R. Vershynin, "A randomized Kaczmarz algorithm with exponential
    convergence", J. Fourier Anal. Appl. 15 (2009) 262-278.
    G. Di Pillo and L. Grippo, "A new class of augmented Lagrangians in nonlinear
    programming", SIAM J. Control Optim. 17 (1979) 618-628.
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, sections 3.4,
    15.6 and 18.1 (Hessian modification, second-order correction and watchdog, Newton-KKT).
    R. M. Chamberlain, M. J. D. Powell, C. Lemarechal and H. C. Pedersen, "The watchdog technique
    for forcing convergence in algorithms for constrained optimization", Math. Programming
    Study 16 (1982) 1-17.
    """
    # ------------------------------------------------------------------ validation (no evaluation yet)
    if sketch is not None and (not isinstance(sketch, str) or sketch not in SKETCHES):
        raise ValueError(f"sketch must be one of {SKETCHES} or None (MINRES), got {sketch!r}")
    check_problem(problem)
    tol = positive_arg("tol", tol)
    maxiter = int_arg("maxiter", maxiter, 0)
    mu0, nu0 = positive_arg("mu0", mu0), positive_arg("nu0", nu0)
    delta0 = positive_arg("delta0", delta0, upper=1.0)
    xi_B = positive_arg("xi_B", xi_B)
    beta = positive_arg("beta", beta, upper=0.5)
    rho = positive_arg("rho", rho)
    if rho <= 1:
        raise ValueError(f"rho must be > 1 (the penalty update factor), got {rho!r}")
    if not isinstance(superlinear, (bool, np.bool_)):
        raise TypeError(f"superlinear must be True or False, got {superlinear!r}")
    tight_size = int_arg("tight_size", tight_size, 0)
    if not isinstance(second_order_correction, (bool, np.bool_)):
        raise TypeError(f"second_order_correction must be True or False, got {second_order_correction!r}")
    if not isinstance(watchdog, (bool, np.bool_)):
        raise TypeError(f"watchdog must be True or False, got {watchdog!r}")
    if sketch_size is not None:
        sketch_size = int_arg("sketch_size", sketch_size, 1)
    if inner_maxiter is not None:
        inner_maxiter = int_arg("inner_maxiter", inner_maxiter, 1)
    if isinstance(lam0, str) and lam0 != "least-squares":
        raise ValueError(f"lam0 must be an array of shape (m,), 'least-squares' or None, got {lam0!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    x = vector_arg("problem.x0", getattr(problem, "x0", None))
    n = x.size
    from ..backends import get_backend

    be = get_backend("numpy" if backend is None else backend)
    if be.xp is not np:
        raise TypeError(f"sketched_newton runs on NumPy arrays; use backend='numpy' or 'numba', got {be.name!r}")
    cb = Callback(callback)
    seed_used = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else int(seed)
    options = {"sketch": sketch, "tol": tol, "maxiter": maxiter, "mu0": mu0, "nu0": nu0, "delta0": delta0,
               "xi_B": xi_B, "beta": beta, "rho": rho, "superlinear": bool(superlinear), "tight_size": tight_size,
               "second_order_correction": bool(second_order_correction), "watchdog": bool(watchdog),
               "sketch_size": sketch_size,
               "inner_maxiter": inner_maxiter, "seed": seed, "backend": be.name,
               "lam0": lam0 if (lam0 is None or isinstance(lam0, str)) else "given"}

    ev = NLPEvaluator(problem, n, be)
    timer = Timer(be, seed=seed_used)
    # ------------------------------------------------------------------ starting point
    ev.c(x)                                  # fixes m (counted as a constraint evaluation)
    m = ev.m
    want_ls = isinstance(lam0, str)
    if lam0 is None and getattr(problem, "lam0", None) is not None:
        lam, lam_src = vector_arg("problem.lam0", problem.lam0, m), "problem"
    elif lam0 is not None and not want_ls:
        lam, lam_src = vector_arg("lam0", lam0, m), "given"
    else:
        lam, lam_src = np.zeros(m), "zeros"
    lam_name = "problem.lam0" if lam_src == "problem" else "lam0"
    lam_max = float(np.max(np.abs(lam)))
    if lam_max > SCALE_LIMIT:
        raise ValueError(f"{lam_name} is badly scaled: max |{lam_name}| = {lam_max:.3e} is above 1e100, where the "
                         "squared terms of the merit (||grad f + jac^T lam||^2) overflow; pass multipliers of the "
                         "problem's scale, lam0='least-squares', or None (zeros)")
    p = Point.evaluate(ev, x, lam, strict=True)
    check_scales(p)
    gL_max = float(np.max(np.abs(p.gL)))
    if lam_max > 0 and gL_max > SCALE_LIMIT:
        raise ValueError(f"{lam_name} is badly scaled: max |grad f + jac^T {lam_name}| = {gL_max:.3e} at x0 is above "
                         "1e100, where the squared terms of the merit overflow; pass multipliers of the problem's "
                         "scale, lam0='least-squares', or None (zeros)")
    # the problem's own scale at x0: tol is absolute, so a problem scaled within a small factor of tol can meet it
    # far from a minimiser (reported with the convergence, never silently)
    scale_f = float(np.max(np.abs(p.g))) if p.g.size else 0.0
    scale_c = matrix_scale(p.J)
    if want_ls:
        ls = least_squares_multipliers(p.g, p.J)
        if ls is not None:
            lam, lam_src = ls, "least-squares"
            p.lam = lam
            p.gL = p.g + rmatvec(p.J, lam)
            p.kkt = float(math.hypot(np.linalg.norm(p.gL), np.linalg.norm(p.c)))
    N = n + m
    if sketch == "kaczmarz":
        s = 1
    elif sketch_size is not None:
        s = min(sketch_size, N)
    else:
        s = 1 if sketch in ("gaussian", None) else int(math.ceil(math.sqrt(N)))
    inner_given = inner_maxiter is not None
    if inner_maxiter is None:
        inner_maxiter = max(20000, 200 * N) if sketch is not None else 10 * N
    rng = np.random.default_rng(seed_used)
    tight = N <= tight_size          # applied to dense (assembled) KKT matrices only, see step 2
    op_budget = None                 # inner iterations of a sketch per Newton iteration on an operator KKT system

    mu, nu, delta = mu0, nu0, delta0
    stats = {"inner_iterations": 0, "penalty_updates": 0, "hessian_modifications": 0, "max_shift": 0.0,
             "inexact_directions": 0, "line_search_evaluations": 0, "minres_matvecs": 0,
             "preconditioner_evaluations": 0, "sketch_growths": 0, "second_order_corrections": 0,
             "relaxed_steps": 0, "watchdog_returns": 0, "second_order": "not measured (no first-order point)",
             "reduced_hessian_min_eig": None}
    hist = {"kkt": [p.kkt], "objective": [p.f], "constraint": [float(np.max(np.abs(p.c)))],
            "inner_iterations": [0], "step_size": [0.0], "mu": [mu], "nu": [nu]}
    kkt0 = p.kkt
    kkt_form = ""
    watch = None            # the pending watchdog check (after a relaxed unit step), see Watch
    returned = False        # the last iteration returned to a saved iterate: no relaxed step now
    spent_run = 0           # consecutive iterations whose sketch used all of inner_maxiter (see _SPENT_ITERATIONS)

    def backtrack(w):
        """Armijo backtracking from ``alpha = 1/2`` along the saved direction at the saved iterate (current
        penalties): ``(point, alpha)`` or ``(None, 0.0)``."""
        slope_w = float(merit_gradient(w.p, mu, nu, w.products) @ w.z)
        if not slope_w < 0:
            return None, 0.0
        pts = {}

        def phi_w(a):
            q = Point.evaluate(ev, w.p.x + a * w.z[:n], w.p.lam + a * w.z[n:], strict=False)
            pts[a] = q
            return merit_value(q, mu, nu)
        lsr = armijo_backtracking(phi_w, merit_value(w.p, mu, nu), slope_w, alpha0=0.5, c1=beta, max_evals=59,
                                  step_norm=float(np.max(np.abs(w.z))),
                                  xtol=1e-15 * max(1.0, float(np.max(np.abs(w.p.x)))))
        stats["line_search_evaluations"] += lsr.evals
        return (pts[lsr.alpha], lsr.alpha) if lsr.accepted else (None, 0.0)

    def tail(k):
        """The callback and the stopping tests at the end of iteration ``k``: ``(status, message)`` or ``None``."""
        stop = cb(p.x, k, lam=p.lam, kkt=p.kkt, objective=p.f, constraint=hist["constraint"][-1])
        if p.kkt <= tol:
            return second_order(k, converged_msg(k))
        if stop:
            return Status.STOPPED, stopped_message(METHOD, k)
        return None

    def record(p, inner, step):
        hist["kkt"].append(p.kkt)
        hist["objective"].append(p.f)
        hist["constraint"].append(float(np.max(np.abs(p.c))))
        hist["inner_iterations"].append(inner)
        hist["step_size"].append(step)
        hist["mu"].append(mu)
        hist["nu"].append(nu)

    def finish(status, k, msg):
        out_stats = {**timer.stats(), **ev.counts, **stats, "final_delta": delta, "seed": seed_used,
                     "sketch_size": s if sketch is not None else None, "inner_maxiter": inner_maxiter,
                     "kkt_form": kkt_form, "lam0": lam_src}
        return SolveResult(p.x, status == Status.CONVERGED, status, msg, k,
                           history={key: np.asarray(v, dtype=float) for key, v in hist.items()},
                           stats=out_stats, method=METHOD, backend=be.name, options=options,
                           provenance=timer.provenance(), lam=p.lam, mu=mu, nu=nu)

    def second_order(k, msg):
        """The second-order check of a first-order point (dense problems): ``(status, message)``. A KKT point whose
        reduced Hessian has a clearly negative eigenvalue is not a local minimiser (a constrained maximiser or
        saddle point): reported as a failure, never as convergence."""
        H = ev.hess(p.x, p.lam)
        system = NewtonSystem(H, p.J, be)
        if not system.is_dense:
            stats["second_order"] = "not measured (operator KKT system)"
            return Status.CONVERGED, msg
        if not np.all(np.isfinite(system.H)):
            stats["second_order"] = "not measured (hess_lagrangian not finite)"
            return Status.CONVERGED, msg
        _, lam_min, _ = system.reduced_hessian_shift(xi_B)
        stats["reduced_hessian_min_eig"] = float(lam_min)
        hmax = float(np.max(np.abs(system.H))) if system.H.size else 0.0
        if not lam_min < -_NEG_CURVATURE * hmax:
            stats["second_order"] = ("no null space (J has full column rank)" if lam_min == math.inf
                                     else "positive definite reduced Hessian" if lam_min > _NEG_CURVATURE * hmax
                                     else "positive semidefinite reduced Hessian (degenerate)")
            return Status.CONVERGED, msg
        stats["second_order"] = "negative curvature (not a local minimiser)"
        return Status.FAILED, (
            f"{METHOD}: reached a first-order KKT point in {k} iterations (||(grad L, c)||_2 = {p.kkt:.3e} <= tol = "
            f"{tol:.1e}) that is NOT a local minimiser: the reduced Hessian Z^T H Z of the Lagrangian on the null "
            f"space of jac has the eigenvalue {lam_min:.3e} < 0 (negative curvature along the constraints: a "
            "constrained maximiser or saddle point); try another x0")

    def scale_hint():
        """A note for failure messages when the objective's or the constraints' scale at x0 (max |grad f(x0)|,
        max |jac(x0)|) is far from 1 ('' otherwise): the merit's penalties mu0, nu0 and its descent test are
        absolute, so its terms are unbalanced for a badly scaled problem (mu0/nu0 scaled to f were tried on such
        problems and do not rescue them: rescaling the problem does)."""
        notes = []
        for what, name, v in (("objective", "grad f", scale_f), ("constraints", "jac", scale_c)):
            if v is not None and (v > _SCALE_HINT or 0.0 < v < 1.0 / _SCALE_HINT):
                notes.append(f"the {what} is badly scaled (max |{name}(x0)| = {v:.1e}, far from 1)".replace(
                    "constraints is", "constraints are"))
        if not notes:
            return ""
        return (f"; {' and '.join(notes)}, while the merit's penalties (mu0 = {mu0:g}, nu0 = {nu0:g}) and its "
                "descent test are absolute, so its terms are unbalanced: rescale f and/or c (divide each by its "
                "scale at x0; tol with the objective's)")

    def converged_msg(k):
        msg = f"{METHOD}: converged in {k} iterations, ||(grad L, c)||_2 = {p.kkt:.3e} <= tol = {tol:.1e}"
        small = [f"max |{name}(x0)| = {v:.1e}" for name, v in (("grad f", scale_f), ("jac", scale_c))
                 if v is not None and 0.0 < v < SCALE_MARGIN * tol]   # 0: e.g. a feasibility problem
        if small and k > 0:
            msg += (f"; caution: tol is absolute and the problem's own scale is within {SCALE_MARGIN:g}x of it "
                    f"({', '.join(small)}), so this point meets tol but may be far from a minimiser: rescale the "
                    "problem or lower tol")
        return msg

    if p.kkt <= tol:
        # true by the (absolute) measure; say so, since an objective scaled small passes it anywhere
        status0, msg0 = second_order(0, converged_msg(0) + (
            " at the starting point: tol is absolute, so for an objective or constraints scaled small "
            f"(here ||grad f(x0)|| = {float(np.linalg.norm(p.g)):.2e}) lower tol or rescale the problem"))
        return finish(status0, 0, msg0)

    status, msg, k = Status.MAXITER, "", 0
    for k in range(1, maxiter + 1):
        # -------------------------------------------------------------- Newton system with modified Hessian
        H = ev.hess(p.x, p.lam)
        system = NewtonSystem(H, p.J, be)
        if system.is_dense and not np.all(np.isfinite(system.H)) and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if system.is_dense and not np.all(np.isfinite(system.H)):
            status, msg = Status.NONFINITE, (f"{METHOD}: problem.hess_lagrangian is not finite at iteration {k}; "
                                             "x is the last iterate. Rescale the problem or start elsewhere")
            k -= 1
            break
        p.H = system.H
        kkt_form = "dense" if system.is_dense else "operator"
        op_sketch = sketch is not None and not system.assembled
        if op_sketch and op_budget is None:
            # each sketch iteration costs operator products here: bound the inner work per Newton iteration
            op_budget = inner_maxiter if inner_given else max(50, _OPERATOR_PRODUCTS * N // (2 * s))
            inner_maxiter = op_budget
        if system.is_dense:
            t, _, _ = system.reduced_hessian_shift(xi_B)
            if t > 0:
                system.set_shift(t)
                stats["hessian_modifications"] += 1
                stats["max_shift"] = max(stats["max_shift"], t)
        b = -p.kkt_vector()
        bnorm = float(np.linalg.norm(b))
        theta = min(1.0, p.kkt / kkt0) if superlinear else 1.0
        products = merit_products(p, system.H)   # exact Hessian of the Lagrangian (no shift); once per iterate
        bad = nonfinite_product(products)
        if bad and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if bad:
            status, msg = Status.NONFINITE, (f"{METHOD}: {bad} at iteration {k}; x is the last iterate. Check "
                                             "the operator's matvec/rmatvec (finite outputs of the right shape)")
            k -= 1
            break
        M = None
        if sketch is None and getattr(problem, "kkt_preconditioner", None) is not None:
            M = problem.kkt_preconditioner(p.x, p.lam)
            stats["preconditioner_evaluations"] += 1
        sampler = SketchSampler(sketch, N, s, rng, system.row_probabilities() if sketch in ("kaczmarz", "block")
                                else None) if sketch is not None else None
        # -------------------------------------------------------------- inner solve + penalty updates
        z, r = np.zeros(N), -b.copy()
        inner = 0
        delta = max(min(delta, (0.5 - beta) * nu / (1.0 + mu + nu)), _DELTA_MIN)
        descent = None
        exhausted = False      # a sketch on an operator KKT system used up its inner budget (op_budget)
        stuck = False          # a sketch round used its whole inner_maxiter without meeting the accuracy
        for _ in range(200):
            acc = theta * delta * bnorm
            if tight and system.is_dense:
                acc = min(acc, max(_TIGHT_FRACTION * tol, _TIGHT_FLOOR * bnorm))
            if sketch is None:
                z, r, its, mv, ok = krylov_solve(system, b, z, acc, inner_maxiter, M, be)
                stats["minres_matvecs"] += mv
            elif stuck:
                # the last round ran its full inner_maxiter without the accuracy: the sketch does not converge
                # on this K, so later rounds only update the penalties and repeat the descent test on this z
                its, ok = 0, False
            else:
                budget = op_budget - inner if op_sketch else inner_maxiter
                z, r, its, ok = sketch_and_project(system, b, z, r, acc, budget, sampler)
                stats["sketch_growths"] += sampler.grown
                sampler.grown = 0
                stuck = not ok and its >= budget
            inner += its
            if not np.all(np.isfinite(z)):
                break
            if op_sketch and not ok and inner >= op_budget:
                exhausted = True
                break
            if not system.is_dense:          # curvature test on the step (operator problems)
                dx = z[:n]
                if float(dx @ dx) > 0 and system.curvature(dx) <= 0 and stats["hessian_modifications"] < 60:
                    t = max(2.0 * system.shift, xi_B)
                    system.set_shift(t)
                    if sampler is not None:
                        sampler.reset()          # its batch holds rows of the old K
                    stats["hessian_modifications"] += 1
                    stats["max_shift"] = max(stats["max_shift"], t)
                    z, r = np.zeros(N), -b.copy()
                    stuck = False
                    continue
            grad_merit = merit_gradient(p, mu, nu, products)
            slope = float(grad_merit @ z)
            if slope <= -0.5 * nu * bnorm * bnorm:
                descent = (z, slope, ok)
                break
            if mu >= _MU_MAX or nu <= _NU_MIN:
                if slope < 0:
                    descent = (z, slope, ok)
                break
            mu, nu = mu * rho * rho, nu / rho
            delta = max(min(delta / rho ** 4, (0.5 - beta) * nu / (1.0 + mu + nu)), _DELTA_MIN)
            stats["penalty_updates"] += 1
        stats["inner_iterations"] += inner
        if exhausted:
            status = Status.FAILED
            msg = (f"{METHOD}: sketch={sketch!r} on an operator (matrix-free) KKT system used its inner budget of "
                   f"{op_budget} sketch iterations (about {2 * s * op_budget} operator products) at iteration {k} "
                   f"without meeting the inner accuracy (||K z - b|| = {float(np.linalg.norm(r)):.2e}, needed "
                   f"{acc:.2e}); each sketch row of an operator costs products: use sketch=None (MINRES with "
                   "problem.kkt_preconditioner), or pass a larger inner_maxiter")
            k -= 1
            break
        if descent is None and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if descent is None:
            status = Status.STAGNATED
            msg = (f"{METHOD}: no descent direction of the merit at iteration {k} (mu = {mu:.2e}, nu = {nu:.2e}, "
                   f"{inner} inner iterations); the KKT matrix may be singular (dependent constraints) or the inner "
                   "solver too slow: try sketch=None (MINRES), a larger inner_maxiter, or another starting point"
                   + scale_hint())
            k -= 1
            break
        z, slope, ok = descent
        if not ok:
            stats["inexact_directions"] += 1
        # consecutive Newton iterations whose sketch ran out of inner_maxiter without the accuracy
        spent_run = spent_run + 1 if (sketch is not None and not ok and stuck) else 0
        # -------------------------------------------------------------- Armijo on the merit
        dx, dl = z[:n], z[n:]
        phi0 = merit_value(p, mu, nu)
        trials = {}

        soc_J = system.J if (second_order_correction and system.is_dense) else None

        def phi(a, p=p, dx=dx, dl=dl, mu=mu, nu=nu, slope=slope, soc_J=soc_J):
            q = Point.evaluate(ev, p.x + a * dx, p.lam + a * dl, strict=False)
            trials[a] = q
            value = merit_value(q, mu, nu)
            if a == 1.0 and soc_J is not None and q.finite and not value <= phi0 + beta * slope:
                # the unit step is rejected: try it with the second-order correction (same Armijo test)
                qs = second_order_point(ev, q, soc_J)
                if qs is not None and merit_value(qs, mu, nu) <= phi0 + beta * slope:
                    trials[a] = qs
                    stats["second_order_corrections"] += 1
                    return merit_value(qs, mu, nu)
            return value

        def noise_test(a, p=p):
            q = trials[a]
            return q.finite and q.kkt < 0.9 * p.kkt

        zmax = float(np.max(np.abs(z)))
        ls_kw = {"c1": beta, "shrink": 0.5, "step_norm": zmax, "noise": merit_noise(p, mu, nu),
                 "xtol": 1e-15 * max(1.0, float(np.max(np.abs(p.x)))), "noise_test": noise_test}
        lsr = armijo_backtracking(phi, phi0, slope, max_evals=1, **ls_kw)     # the unit step (with its correction)
        stats["line_search_evaluations"] += lsr.evals
        relax = (watchdog and watch is None and not returned and stats["watchdog_returns"] < _WATCHDOG_RETURNS
                 and not lsr.accepted and trials[1.0].finite
                 and np.linalg.norm(trials[1.0].gL) <= _WATCHDOG_GL * np.linalg.norm(p.gL))
        if not lsr.accepted and not relax:
            lsr = armijo_backtracking(phi, phi0, slope, alpha0=0.5, max_evals=59, **ls_kw)
            stats["line_search_evaluations"] += lsr.evals
        returned = False
        if not lsr.accepted and not relax and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if not lsr.accepted and not relax:
            status = Status.STAGNATED
            msg = (f"{METHOD}: the line search on the merit found no decrease at iteration {k} "
                   f"(||(grad L, c)|| = {p.kkt:.3e})")
            bad = [q.bad for q in trials.values() if not q.finite]
            hint = scale_hint()
            if bad:
                names = ", ".join(sorted(set(bad)))
                msg += (f": {names} was not finite (NaN or inf) at {len(bad)} of the {len(trials)} trial points "
                        "x + alpha dx along the Newton step; the problem is undefined or overflows there: make it "
                        "finite near x (e.g. a smooth extension or bounded formulation) or start elsewhere")
            elif hint:
                msg += hint
            else:
                msg += ("; tol may be below the attainable accuracy, or grad/jac/hess_lagrangian may be "
                        "inconsistent with f and c (check them with finite differences)")
            k -= 1
            break
        alpha = 1.0 if relax else lsr.alpha
        q = trials[alpha]
        if relax:                          # take the rejected unit step; the next iteration checks it
            stats["relaxed_steps"] += 1
            watch = Watch(p, z, products, q, k)
            p = q
            record(p, inner, alpha)
        elif watch is not None:            # the check: keep both steps, or return to the saved iterate
            if q.kkt <= tol or watch.passes(q, mu, nu, beta):
                p, watch = q, None
                record(p, inner, alpha)
            else:
                p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
        else:
            p = q
            record(p, inner, alpha)
        if (end := tail(k)):
            status, msg = end
            break
        last = hist["kkt"][-_STALL_ITERATIONS - 1:]
        if len(last) > _STALL_ITERATIONS and max(last) - min(last) <= 1e-12 * max(last):
            status = Status.STAGNATED
            msg = (f"{METHOD}: the KKT residual ||(grad L, c)||_2 = {p.kkt:.6e} has not changed (to 12 digits) over "
                   f"the last {_STALL_ITERATIONS} iterations (up to {k}): the steps no longer change the iterate "
                   "(an ill-conditioned KKT matrix or an inexact direction below rounding); use sketch=None (MINRES), "
                   "a larger inner_maxiter, or rescale the problem" + scale_hint())
            break
        if spent_run >= _SPENT_ITERATIONS:
            status = Status.FAILED
            msg = (f"{METHOD}: sketch={sketch!r} ran out of inner_maxiter = {inner_maxiter} without meeting the "
                   f"inner accuracy at {spent_run} consecutive iterations (up to {k}, ||(grad L, c)||_2 = "
                   f"{p.kkt:.3e} > tol = {tol:.1e}): the KKT matrix is too ill-conditioned for the sketch; use "
                   "sketch=None (MINRES), or pass a larger inner_maxiter" + scale_hint())
            break
    else:
        k = maxiter
        msg = (f"{METHOD}: maxiter = {maxiter} reached with ||(grad L, c)||_2 = {p.kkt:.3e} > tol = {tol:.1e}; "
               + (scale_hint()[2:] if scale_hint() else "raise maxiter" +
                  ("" if sketch is None else ", or try sketch=None (MINRES) or superlinear=True")))
    return finish(status, k, msg)


__all__ = ["sketched_newton"]
