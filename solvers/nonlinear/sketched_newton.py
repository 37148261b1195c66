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

import numbers

import numpy as np

from .._masks import refuse_masked
from ..results import Callback, Status, Timer
from ._kkt import SKETCHES
from ._constraint_notes import derivative_mismatch
from ._kkt import safeguarded_multipliers
from ._nlp import (SCALE_LIMIT, NLPEvaluator, _is_matrix, Point, check_problem, check_scales, curvature_limited_scale,
                   int_arg, kkt_norm, least_squares_multipliers, matrix_scale, objective_scale, positive_arg, rmatvec,
                   vector_arg)
# the tuning constants of the iterations live with them in ._sketched_steps (re-exported here)
from ._sketched_steps import (_DELTA_MIN, _MU_MAX, _NEG_CURVATURE, _NU_MIN, _OPERATOR_PRODUCTS,  # noqa: F401
                              _SCALE_HINT, _STALL_ITERATIONS, _TIGHT_FLOOR, _TIGHT_FRACTION, _WATCHDOG_RETURNS,
                              METHOD, iterate)

#: the solve stops (honestly) after this many consecutive Newton iterations whose sketch ran out of inner_maxiter
_SPENT_ITERATIONS = 5
#: a rejected unit step is taken (relaxed) only when it cuts ||g_L|| at least by this factor: rejected for the growth
#: of ||c|| alone (constraint curvature), which the next Newton step removes
_WATCHDOG_GL = 0.5


def sketched_newton(problem, *, sketch: str | None = "gaussian", tol: float = 1e-8, maxiter: int = 100,
                    lam0=None, mu0: float = 1.0, nu0: float = 0.1, delta0: float = 0.1, xi_B: float = 0.1,
                    beta: float = 0.1, rho: float = 1.5, superlinear: bool = False, tight_size: int = 100,
                    second_order_correction: bool = True, watchdog: bool = True, scaling: bool = True,
                    sketch_size: int | None = None,
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
       ``n + m <= 2000`` and a sketch is the inner solver (200 for MINRES, which needs few products)
       their ``K`` is assembled (``n + m`` operator products per iteration) for the sketch rows, and
       must then be symmetric (a ``ValueError`` says otherwise); larger ones bound the sketch's work
       (see ``inner_maxiter``).
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
    lam0 : array_like, shape (m,), "least-squares", "zeros" or None, optional
        Starting multipliers. ``None`` (default): ``problem.lam0`` when the problem sets one
        (not ``None``), else automatic: the least-squares estimate
        ``argmin ||grad f(x0) + J^T lam||`` (IPOPT's start), except that zeros (the authors'
        start) are kept when the estimate is huge or when it makes the reduced Hessian of the
        Lagrangian at ``x0`` indefinite while zeros keep it positive definite (see
        :func:`~solvers.nonlinear._kkt.safeguarded_multipliers`; dense problems with
        ``n + m <= 2000``; larger or operator problems start from zeros).
        ``"least-squares"``: the estimate without the safeguard (dense or sparse ``J``; zeros
        for an operator Jacobian); ``"zeros"``: zeros.
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
    scaling : bool
        Objective scaling (default on): when ``||grad f(x0)||_inf`` lies outside ``[1e-2, 1e2]``
        the iterations work on ``s f`` with the power of two ``s`` that brings it inside (as
        IPOPT scales large gradients down, Waechter and Biegler 2006, section 3.8; small ones
        are scaled up too). The merit's penalties and its descent test are absolute, so without
        it objectives scaled by 1e4 or 1e-4 and beyond failed. Newton steps are unchanged by the
        scaling; the multipliers, the objective history, the callback's values and the stopping
        test (``tol`` on ``||(g_L, c)||_2``) are the problem's own. Not applied to a problem with
        a ``kkt_preconditioner`` (built for the unscaled system). ``stats["objective_scale"]``
        is the ``s`` used.
    sketch_size : int, optional
        Rows ``s`` per sketch (default 1 for "gaussian" and "kaczmarz", ``ceil(sqrt(n + m))``
        for "countsketch" and "block"; "kaczmarz" uses 1 always).
    inner_maxiter : int, optional
        Most inner iterations per penalty round (default ``max(20000, 200 (n + m))`` for
        sketches, ``10 (n + m)`` for MINRES). When it runs out the current ``z`` is used if it
        passes the descent test. Two safeguards keep degenerate problems solvable: when
        sketch-and-project has not halved its residual in ``20 (n + m)`` iterations the sketch
        size doubles, up to the whole system (one exact least-squares projection; counted in
        ``stats["sketch_growths"]``); on a dense KKT matrix the sketch also becomes the whole system at
        once when the measured rate predicts more sketch work than that projection costs (a 330-unknown
        QP: 287 000 inner iterations before, 101 after); and when MINRES cannot meet the accuracy on a dense,
        singular KKT matrix (a rank-deficient Jacobian) the minimum-norm least-squares step
        is taken. When a sketch round uses all of ``inner_maxiter`` without the accuracy, later
        penalty rounds of that iteration only repeat the descent test on the same ``z``, and after
        5 consecutive such iterations the solve stops (``Status.FAILED``, advising
        ``sketch=None``). On an operator KKT system with ``n + m > 2000`` (each sketch row costs
        operator products) ``inner_maxiter`` bounds the sketch iterations of a whole Newton
        iteration, by default ``max(50, 100 (n + m) / (2 s))`` (about ``100 (n + m)`` operator
        products); running out stops the solve (``Status.FAILED``, advising ``sketch=None``).
    seed : int, optional
        Seed of the sketches (``None`` draws one; it is in ``stats["seed"]``).
    callback : callable, optional
        ``callback(intermediate_result)`` (fields ``x``, ``nit``, ``lam``, ``kkt``,
        ``objective``, ``constraint``) or ``callback(xk)``; ``StopIteration`` stops.
    backend : str or Backend, optional
        Backend of the iterate and of MINRES (default: ``"numba"``, or ``"cupy"`` when the problem's
        ``x0`` is a CuPy array and ``sketch`` is None); recorded in the result. On
        a device backend (``"cupy"``) ``x``, ``lam``, the gradients, constraint values, KKT
        vectors and the MINRES solve stay on the device; only scalars (norms, dot products,
        merit values) come back, as Python floats, and ``x0``/``lam0`` are checked on the host
        and uploaded once. The problem's callables are called with the backend's arrays and
        must return them (``jac`` and ``hess_lagrangian`` as operators with ``matvec`` /
        ``rmatvec``, e.g. :class:`problems.pde.PoissonControl`). The dense machinery
        (sketches, the exact reduced-Hessian test, the second-order correction, least-squares
        multipliers) is host code: on a device backend ``sketch`` must be ``None`` and dense or
        sparse matrices are refused (``TypeError``; use ``backend="numpy"`` for them).

    Returns
    -------
    SolveResult
        ``x``; extras ``lam`` (multipliers), ``mu``, ``nu`` (final penalties); ``x`` and ``lam`` are
        arrays of the backend (CuPy arrays on ``"cupy"``), ``history`` and ``stats`` host values; ``history``:
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
        ``kkt_form`` (``"dense"`` or ``"operator"``; ``""`` when no Newton system was formed: x0 already met tol,
        or maxiter=0), ``lam0`` (its source: ``"problem"``,
        ``"given"``, ``"zeros"``, ``"least-squares"``, or ``"zeros (...)"`` saying why the automatic
        start rejected the least-squares estimate), ``objective_scale`` (see ``scaling``),
        ``second_order`` (at a first-order
        point, in words: a positive definite or semidefinite (degenerate) reduced Hessian, no null
        space, negative curvature (not a local minimiser), or not measured) and ``reduced_hessian_min_eig`` (``lambda_min(Z^T H Z)`` at
        the returned point, dense problems; ``None`` when not measured).

        Divergence: when ``max |x|`` exceeds ``1e20 max(1, max |x0|)`` with the KKT residual above its value at
        ``x0`` (the objective unbounded below on the feasible set, e.g. a concave objective on a line) the solve
        stops with ``Status.DIVERGED`` and a message that says so, instead of running to ``maxiter`` or an overflow.

        Second-order check: a point that meets ``tol`` is a first-order (KKT) point. For dense
        problems the smallest eigenvalue of the reduced Hessian ``Z^T H Z`` (``Z`` a basis of the
        null space of ``J``) is measured there; when it is clearly negative
        (``< -1e-6 max |H_ij|``) the point is a constrained maximiser or saddle, not a solution
        of the minimisation, and the result is ``converged=False`` with ``Status.FAILED`` and a
        message that says so (it keeps the first-order measurement) and advises another ``x0``.
        Operator problems with ``n + m <= 2000`` (on the host) are checked the same way on
        their blocks, assembled once from ``n + m`` products at the returned point; larger operator
        problems are not (``stats["second_order"]`` and the message say so).

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
    ``tol = 1e-8`` (``benchmarks/nlp.py``): median 6 with every sketch and with MINRES (IPOPT: 7),
    median 4 on the 24 problems named by the issue that asked for the solver (the automatic
    multipliers save one iteration on HS39, HS40, HS42, HS46, HS79, BT9 and BT12 and cost one or
    two on HS7 and HS27);
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
        Invalid options or problem (named); on a device backend a ``sketch``, a dense or sparse
        ``jac``/``hess_lagrangian``, or callables that fail on or do not return the backend's
        arrays (``TypeError`` naming the fix); a callable returning the wrong shape, type or a
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
    A. Waechter and L. T. Biegler, "On the implementation of an interior-point filter line-search
    algorithm for large-scale nonlinear programming", Math. Programming 106 (2006) 25-57 (the
    gradient-based objective scaling, section 3.8).
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
    if not isinstance(scaling, (bool, np.bool_)):
        raise TypeError(f"scaling must be True or False, got {scaling!r}")
    if sketch_size is not None:
        sketch_size = int_arg("sketch_size", sketch_size, 1)
    if inner_maxiter is not None:
        inner_maxiter = int_arg("inner_maxiter", inner_maxiter, 1)
    if isinstance(lam0, str) and lam0 not in ("least-squares", "zeros"):
        raise ValueError(f"lam0 must be an array of shape (m,), 'least-squares', 'zeros' or None (automatic), "
                         f"got {lam0!r}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)):
        # a wrong type is a TypeError, as for every other option and as solvers.operators.sketch's seed
        raise TypeError(f"seed must be a non-negative integer or None, got {type(seed).__name__} {seed!r:.60} "
                        "(a Generator cannot be recorded in the result's options; pass an integer)")
    if seed is not None and seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    from ..backends import get_backend

    # None: the contract's default, numba, or cupy for a problem on CuPy arrays when no (host) sketch is asked
    be = get_backend(backend, getattr(problem, "x0", None) if sketch is None else None)
    xp = be.xp
    if xp is not np and sketch is not None:
        raise TypeError(f"sketch={sketch!r} runs on NumPy arrays (sketch-and-project draws dense sketches on the "
                        f"host); on backend={be.name!r} use sketch=None (MINRES on the KKT operator with "
                        "problem.kkt_preconditioner), or backend='numpy'")
    x0 = getattr(problem, "x0", None)
    if x0 is None:                # ('must be a real numeric 1-D array, got dtype object'; helper-153)
        raise TypeError("problem.x0 is missing (None): the problem must carry its starting point as x0")
    for name, v in (("problem.x0", x0), ("lam0", lam0), ("problem.lam0", getattr(problem, "lam0", None))):
        refuse_masked(name, v)    # (a masked lam0 ran on the values under the mask; helper-153)
    x = vector_arg("problem.x0", be.to_numpy(x0))   # checked on the host, once
    n = x.size
    cb = Callback(callback)
    seed_used = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else int(seed)
    options = {"sketch": sketch, "tol": tol, "maxiter": maxiter, "mu0": mu0, "nu0": nu0, "delta0": delta0,
               "xi_B": xi_B, "beta": beta, "rho": rho, "superlinear": bool(superlinear), "tight_size": tight_size,
               "second_order_correction": bool(second_order_correction), "watchdog": bool(watchdog),
               "scaling": bool(scaling),
               "sketch_size": sketch_size,
               "inner_maxiter": inner_maxiter, "seed": seed, "backend": be.name,
               "lam0": lam0 if (lam0 is None or isinstance(lam0, str)) else "given"}

    ev = NLPEvaluator(problem, n, be)
    timer = Timer(be, seed=seed_used)
    # ------------------------------------------------------------------ starting point
    x = be.asarray(x)                        # one upload of x0; no vector comes back to the host per iteration
    try:
        ev.c(x)                              # fixes m (counted as a constraint evaluation)
    except TypeError as exc:
        if xp is np:
            raise
        raise TypeError(f"problem.c failed on x0 as an array of the {be.name} backend ({exc}); on a device backend "
                        "the problem's callables must take and return the backend's arrays (operator problems such "
                        "as problems.pde.PoissonControl): use backend='numpy' for a NumPy-only problem") from exc
    m = ev.m
    has_problem_lam0 = getattr(problem, "lam0", None) is not None
    want_ls = lam0 == "least-squares" if isinstance(lam0, str) else (lam0 is None and not has_problem_lam0)
    if lam0 is None and has_problem_lam0:
        lam, lam_src = vector_arg("problem.lam0", be.to_numpy(problem.lam0), m), "problem"
    elif lam0 is not None and not isinstance(lam0, str):
        lam, lam_src = vector_arg("lam0", be.to_numpy(lam0), m), "given"
    else:
        lam, lam_src = np.zeros(m), "zeros"
    lam_name = "problem.lam0" if lam_src == "problem" else "lam0"
    lam_max = float(np.max(np.abs(lam)))
    lam = be.asarray(lam)                    # the iterate and multipliers live on the backend's device
    if lam_max > SCALE_LIMIT:
        raise ValueError(f"{lam_name} is badly scaled: max |{lam_name}| = {lam_max:.3e} is above 1e100, where the "
                         "squared terms of the merit (||grad f + jac^T lam||^2) overflow; pass multipliers of the "
                         "problem's scale, lam0='least-squares' or 'zeros'")
    p = Point.evaluate(ev, x, lam, strict=True)
    check_scales(p)
    gL_max = float(xp.max(xp.abs(p.gL)))
    if lam_max > 0 and gL_max > SCALE_LIMIT:
        raise ValueError(f"{lam_name} is badly scaled: max |grad f + jac^T {lam_name}| = {gL_max:.3e} at x0 is above "
                         "1e100, where the squared terms of the merit overflow; pass multipliers of the problem's "
                         "scale, lam0='least-squares' or 'zeros'")
    # the problem's own scale at x0: tol is absolute, so a problem scaled within a small factor of tol can meet it
    # far from a minimiser (reported with the convergence, never silently)
    scale_f = float(xp.max(xp.abs(p.g))) if p.g.size else 0.0
    scale_c = matrix_scale(p.J)
    # objective scaling (not with a problem's own KKT preconditioner, which is built for the unscaled system)
    fscale = objective_scale(scale_f) if scaling and getattr(problem, "kkt_preconditioner", None) is None else 1.0
    if fscale != 1.0 and xp is np:          # not past the objective's own curvature (one Hessian evaluation)
        fscale = curvature_limited_scale(fscale, matrix_scale(ev.hess(p.x, xp.zeros(m))))
    if fscale != 1.0:                        # the values at x0 rescaled in place (no second evaluation)
        ev.set_objective_scale(fscale)
        p.f, p.g, p.lam = p.f * fscale, p.g * fscale, lam * fscale
        p.gL = p.g + rmatvec(p.J, p.lam, xp)
        p.kkt = kkt_norm(ev, p.gL, p.c)
    if want_ls:
        if lam0 is None:
            ls, lam_src = safeguarded_multipliers(ev, p, n, m)
        else:
            ls = least_squares_multipliers(p.g, p.J)
            lam_src = ("least-squares" if ls is not None else "zeros" if not _is_matrix(p.J)   # documented: operator
                       else "zeros (the least-squares estimate is not finite or above 1e100)")
        if ls is not None and bool(xp.any(ls)):
            lam = ls
            p.lam = lam
            p.gL = p.g + rmatvec(p.J, lam, xp)
            p.kkt = kkt_norm(ev, p.gL, p.c)
    res = iterate(problem, ev, be, timer, cb, p, n=n, m=m, sketch=sketch, tol=tol, maxiter=maxiter, mu0=mu0,
                   nu0=nu0, delta0=delta0, xi_B=xi_B, beta=beta, rho=rho, superlinear=superlinear,
                   tight_size=tight_size, second_order_correction=second_order_correction, watchdog=watchdog,
                   sketch_size=sketch_size, inner_maxiter=inner_maxiter, seed_used=seed_used, options=options,
                   lam_src=lam_src, scale_f=scale_f, scale_c=scale_c, spent_iterations=_SPENT_ITERATIONS,
                   watchdog_gl=_WATCHDOG_GL)
    if res.converged and xp is np:           # the returned point checked against the problem's own f and c
        bad = derivative_mismatch(problem, be.to_numpy(x0), res.x, tol)
        if bad:
            res.converged, res.status = False, Status.FAILED
            res.message = f"{METHOD}: ||(grad L, c)||_2 <= tol = {tol:.1e} at iteration {res.nit}, but {bad}"
    return res


__all__ = ["sketched_newton"]
