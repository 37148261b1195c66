"""Preconditioned conjugate gradients with a fused hot loop.

On the ``numba`` backend one iteration is the matvec plus two memory passes:

1. ``q = A p`` and ``p.q`` (one pass when the operator offers ``matvec_dot``),
2. ``x += a p; r -= a q`` returning ``r.r`` -- with a Jacobi / diagonal
   preconditioner the same pass also writes ``z = D^-1 r`` and returns ``r.z``,
3. ``p = z + beta p``.

Any other preconditioner is applied between passes 2 and 3 (through its
``matvec_dot`` or ``matvec_into`` when it has one; ``matvec_dot(r, z)`` writes
``z = M r`` and returns ``r . z`` from its own pass), and only when the
iteration continues: the iteration that meets the tolerance does not apply it. The ``numpy`` backend runs the same loop
with plain NumPy kernels and is the reference the fast paths are tested
against.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..results import Status, stopped_message
from . import _common as C

NEGATIVE_CURVATURE = ("breakdown", "return")


def cg(A, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None, M=None,
       callback: Callable | None = None, negative_curvature: str = "breakdown", backend=None):
    """Solve ``A x = b`` for symmetric positive definite ``A`` by (preconditioned) conjugate gradients.

    Parameters
    ----------
    A : array, sparse matrix or operator
        SPD, ``n x n``; anything :func:`solvers.aslinearoperator` accepts. On the
        numba / cupy backends the optional methods ``A.matvec_dot(x, out)``
        (writes ``A x`` into ``out`` and returns ``x . A x`` from the same pass)
        and ``A.matvec_into(x, out)`` are used when present.
    b : array, shape (n,)
    x0 : array, shape (n,), optional
        Initial guess (default zero).
    rtol, atol : float
        Stop when ``||b - A x||_2 <= max(rtol * ||b||_2, atol)`` (Euclidean
        2-norm, also when ``M`` is given). The iteration tests CG's recursively
        updated residual; when that reaches the tolerance, the true residual
        ``b - A x`` is computed (one more matvec) and convergence is claimed only
        if it is below the tolerance too. Otherwise CG restarts from ``x`` with
        the true residual (residual replacement; van der Vorst and Ye 2000), at
        most ``MAX_REPLACEMENTS`` times and while the true residual keeps
        improving; then the status is ``"stagnated"`` and the message gives the
        attainable accuracy (the smallest true residual reached, whose iterate
        is returned). ``rtol = atol = 0`` therefore never claims convergence
        unless ``b - A x`` is exactly zero.
    maxiter : int, optional
        Iteration limit (default ``10 n``).
    M : operator, optional
        SPD preconditioner approximating ``A^{-1}`` (anything with ``matvec``;
        ``matvec_dot(r, out)`` or ``matvec_into(r, out)`` is used when present). A Jacobi preconditioner
        (:func:`solvers.linear.jacobi`) or a :class:`DiagonalOperator` is fused
        into the update pass. With any other ``M`` (and no callback) the update
        ``x += alpha p`` is deferred into the pass that forms the next direction
        ``p = z + beta p`` (one pass fewer over ``x`` and ``p`` per iteration, the
        same arithmetic), and applied before any exit.
    callback : callable, optional
        Called after every iteration: ``callback(intermediate_result)`` when its
        single parameter has that name (an :class:`~solvers.results.IntermediateResult`
        with ``x``, ``nit`` and ``residual``), else ``callback(xk)``. ``xk`` is
        the live iterate: copy it to keep it. Raising ``StopIteration`` ends the
        solve with status ``"stopped"``.
    negative_curvature : {"breakdown", "return"}, default "breakdown"
        What a direction ``p`` with ``p^T A p <= 0`` means. ``"breakdown"``
        (an SPD solve): ``A`` is not SPD, the message says which solver to use
        instead. ``"return"`` (Newton-CG, Steihaug-Toint): the exit is expected;
        the message reports the curvature found. In both cases the result has
        status ``"breakdown"``, ``x`` is the iterate before that step, and the
        extras ``res.direction`` (``p``, the conjugate direction of negative or
        zero curvature; for an indefinite Hessian a descent-compatible direction
        along which the quadratic model is unbounded below) and
        ``res.curvature`` (``p^T A p``) are set. Results of other exits have
        ``res.direction = None`` and ``res.curvature = None``.
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``history["residual"]``: residual 2-norms, starting with the initial
        one (length ``nit + 1``); the last entry of a ``"converged"``,
        ``"stagnated"`` or ``"maxiter"`` result is the true residual
        ``||b - A x||`` of the returned ``x``. ``stats``: ``time_s``, ``matvecs``,
        ``precond_applications``. ``status`` is ``"breakdown"`` when
        ``p^T A p <= 0`` (A is not SPD) or ``r^T M r <= 0`` (M is not SPD),
        ``"nonfinite"`` when NaN/inf appears, ``"maxiter"`` when the budget ran
        out, ``"stopped"`` when the callback raised ``StopIteration``, and
        ``"diverged"`` when the residual exceeded ``1e10`` times the initial one
        in two consecutive iterations (impossible for SPD A with cond(A) < 1e20:
        A is singular or indefinite and b has no solution, e.g. a pure-Neumann b
        that does not sum to zero, or A is SPD beyond what CG resolves in double
        precision -- the message says which when A's diagonal spans more than
        1e20); ``x`` is then the starting point, with its residual as the last
        history entry. Otherwise ``x`` is the last iterate, or the start (zero or
        ``x0``) after a ``"nonfinite"`` exit whose iterate holds NaN/inf.

    Notes
    -----
    Complex inputs are rejected with a ``TypeError`` (solve the real 2n x 2n
    form instead). An operator whose ``matvec`` returns something other than a
    real vector of length ``n`` raises a ``ValueError`` / ``TypeError`` naming it
    (``A`` or ``M``) before the value reaches a kernel. A right-hand side outside
    ``2^-100 <= max|b| <= 2^100`` is solved scaled by a power of two (exact) so
    that no norm under- or overflows: the result is scale-invariant over the
    whole double range.

    References
    ----------
    M. R. Hestenes and E. Stiefel, "Methods of conjugate gradients for solving
    linear systems", J. Res. Nat. Bur. Standards 49 (1952).
    Y. Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed., SIAM 2003,
    Algorithm 9.1.
    T. Steihaug, "The conjugate gradient method and trust regions in large scale
    optimization", SIAM J. Numer. Anal. 20(3), 626-637 (1983); J. Nocedal and
    S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, Algorithm 7.1
    (negative-curvature exit of Newton-CG).
    H. A. van der Vorst and Q. Ye, "Residual replacement strategies for Krylov
    subspace iterative methods for the convergence of true residuals", SIAM J.
    Sci. Comput. 22(3), 835-852 (2000).
    """
    if not isinstance(negative_curvature, str) or negative_curvature not in NEGATIVE_CURVATURE:
        raise ValueError(f"negative_curvature must be one of {NEGATIVE_CURVATURE}, got {negative_curvature!r}")
    R = C.start("cg", A, b, x0, M, backend, rtol, atol, maxiter,
                options={"negative_curvature": negative_curvature}, callback=callback)
    R.extras = {"direction": None, "curvature": None}
    S, n, xp, K, Aap, hist, b, tol = R.S, R.n, R.xp, R.K, R.A, R.hist, R.S.b, R.tol
    r, q = xp.empty(n), xp.empty(n)
    rr = 0.0

    # a preconditioner built to give the start (multigrid with fmg_start=True) fills x before the first residual
    Msrc = C._raw_or_wrapped(R.M.raw, R.M.op) if (S.x is None and R.M is not None) else None
    start_from = getattr(Msrc, "initial_guess", None) if getattr(Msrc, "fmg_start", False) else None

    def first(x):                  # r = b - A x into r, and r.r from the same pass
        nonlocal rr
        if S.x is None and start_from is not None:
            start_from(b, x)
            R.cnt["matvecs"] += 1
            rr = K.residual(b, Aap.into(x, q), r)
        elif S.x is None:
            r[...] = b
            rr = R.bnorm * R.bnorm
        else:
            R.cnt["matvecs"] += 1
            rr = K.residual(b, Aap.into(x, q), r)
        return r, math.sqrt(rr)

    init = R.begin(first=first)
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init
    matvecs, papps = R.cnt["matvecs"], 0   # the hot loop counts in locals
    r0 = rnorm
    grow = DIVERGE_FACTOR * r0             # beyond this the system is not SPD with a consistent b (see below)
    x_start = x.copy() if (S.x is not None and start_from is None) else None   # an FMG start is recomputed
    over = False

    def done(x, status, nit, rnorm, reason="", direction=None, curvature=None):
        if direction is not None:          # back to the user's units
            direction, curvature = R.unscale_vector(direction), R.unscale(curvature, 2)
        return R.done(x, status, nit, rnorm, reason, matvecs=matvecs, precond_applications=papps,
                      extras={"direction": direction, "curvature": curvature})

    # preconditioner setup
    dinv = C.diagonal_of_preconditioner(S.M) if S.M is not None else None
    if dinv is not None:
        if hasattr(dinv, "dtype") and np.dtype(dinv.dtype).kind in "biu":   # an integer diagonal is exact
            dinv = xp.asarray(dinv, dtype=xp.float64)
        dinv = K.as_vector(C.check_vector(dinv, n, "M", S.M_raw, R.be, what="diagonal"))
    Map = None if dinv is not None else R.M
    cb_on = bool(R.cb)
    z = r if S.M is None else xp.empty(n)   # unpreconditioned: z aliases r

    def precondition():
        """``z = M r``; return ``r.z`` (``r.r`` without M)."""
        nonlocal papps
        if S.M is None:
            return rr
        papps += 1
        if dinv is not None:
            return K.diag_apply(dinv, r, z)
        zz, rz0 = Map.with_dot(r, z)
        if zz is not z:
            z[...] = zz
        return rz0

    rz = precondition()
    if not (rz > 0.0) or not math.isfinite(rz):
        return _precond_fail(done, R, x, 0, rnorm, rz)
    p = z.copy()

    # convergence is claimed on the true residual b - A x of the returned x (one matvec per claim); a
    # recursive residual below the tolerance whose true residual is not restarts CG from x (residual
    # replacement) -- until the true residual stops improving: then the attainable accuracy is reached
    checks = []                    # true residuals of the failed claims
    best_x, best = None, math.inf

    def true_residual():
        nonlocal matvecs, rr
        matvecs += 1
        rr = K.residual(b, Aap.into(x, q), r)
        return math.sqrt(rr) if rr >= 0.0 else float("nan")

    lanczos = []                   # alpha_0, beta_0, alpha_1, ... of the first LANCZOS_KEEP / 2 iterations
    keep = LANCZOS_KEEP            # of the first run only: a residual replacement starts another Lanczos process
    k = 0
    status = Status.MAXITER
    reason = ""
    stop = False
    pending = False                # x += alpha p not applied yet (see the loop)
    while True:
        for k in range(k + 1, S.maxiter + 1):
            qv, pap = Aap.with_dot(p, q)
            matvecs += 1
            if not math.isfinite(pap):
                status, reason = Status.NONFINITE, C.nonfinite_reason(f"p^T A p at iteration {k}")
                k -= 1
                break
            if pap <= 0.0:
                pu = R.unscale(pap, 2)
                if negative_curvature == "return":
                    reason = (f"negative curvature at iteration {k}: p^T A p = {pu:.3e} <= 0 (Steihaug-Toint "
                              "exit); res.direction is that direction p, res.x the iterate before this step")
                elif S.M is not None and pap == 0.0 and float(R.xp.max(R.xp.abs(p))) <= 1e-150 * rnorm:   # p = M r +
                    # beta p (nearly) zero while r is not: p^T A p underflowed, M r ~ 0 (helper-86: a singular M)
                    reason = (f"breakdown at iteration {k}: the search direction p = M r + beta p is (nearly) zero "
                              f"while the residual is not ({R.unscale(rnorm):.3e}), so M maps r to zero: the "
                              "preconditioner M is singular, not positive definite or badly scaled (CG needs an SPD "
                              "M). Use an "
                              "SPD preconditioner; res.direction holds p")
                else:
                    reason = (f"breakdown at iteration {k}: p^T A p = {pu:.3e} <= 0, so the operator is not "
                              "symmetric positive definite. Use solvers.minres (symmetric indefinite) or "
                              "solvers.gmres (non-symmetric); res.direction holds p")
                    if rnorm > BREAKDOWN_WORSE * r0:     # the iterate is far worse than the start: return that
                        return _worse_than_start(done, R, b, x, x_start, start_from, k, rnorm, r0, reason,
                                                 direction=p, curvature=pap)
                return done(x, Status.BREAKDOWN, k - 1, rnorm, reason, direction=p, curvature=pap)
            alpha = rz / pap
            if len(lanczos) < keep:                # CG's coefficients: a Lanczos matrix for a maxiter message
                lanczos.append(alpha)
            if S.M is None:
                rr = K.cg_update_xr(x, r, p, qv, alpha)
                rz_new = rr
            elif dinv is not None:
                rz_new, rr = K.cg_update_xrz(x, r, z, p, qv, dinv, alpha)
                papps += 1
            elif cb_on:                    # z = M r below, once this iteration is known not to be the last
                rr = K.cg_update_xr(x, r, p, qv, alpha)
                rz_new = None
            else:                          # x += alpha p deferred: fused with p = z + beta p below (one pass
                rr = K.cg_update_r(r, qv, alpha)    # fewer over x, p), or applied on the way out
                rz_new = None
                pending = True
            rnorm = math.sqrt(rr) if rr >= 0.0 else float("nan")
            if pending and not (tol < rnorm <= grow):   # (NaN too)
                K.axpy(alpha, p, x)        # this iteration may end the loop: x is the iterate of rnorm
                pending = False
            hist.append(rnorm)
            stop = cb_on and R.stop(x, k, rnorm)
            if rnorm > grow:               # two iterations running: a near-zero curvature step of an indefinite A
                if over:                   # is followed by p^T A p <= 0 (breakdown / negative curvature exit)
                    return _diverged(done, R, b, x, x_start, start_from, k, rnorm, r0, Aap)
                over = True
            else:
                over = False
            if not math.isfinite(rnorm):
                status, reason = Status.NONFINITE, C.nonfinite_reason(f"the residual at iteration {k}")
                break
            if rnorm <= tol:
                status = Status.CONVERGED
                break
            if stop:
                status, reason = Status.STOPPED, stopped_message("cg", k)
                break
            if rz_new is None:
                zz, rz_new = Map.with_dot(r, z)     # r.z from the preconditioner's own pass when it offers one
                if zz is not z:
                    z[...] = zz
                papps += 1
            if not (rz_new > 0.0) or not math.isfinite(rz_new):
                if pending:
                    K.axpy(alpha, p, x)
                return _precond_fail(done, R, x, k, rnorm, rz_new, true_residual)
            beta = rz_new / rz
            if len(lanczos) < keep:
                lanczos.append(beta)
            rz = rz_new
            if pending:
                K.cg_update_xp(x, p, z, alpha, beta)
                pending = False
            else:
                K.xpby(z, beta, p)
        else:
            k = S.maxiter
            status = Status.MAXITER
        keep = 0
        del lanczos[len(lanczos) - len(lanczos) % 2:]     # whole (alpha, beta) pairs of the first run
        if status not in (Status.CONVERGED, Status.MAXITER) or k == 0:
            return done(x, status, k, rnorm, reason)
        # ---- measure the claim (or the maxiter exit) on the true residual of x
        rnorm = true_residual()
        hist.buf[hist.n - 1] = rnorm
        if rnorm <= tol:
            return done(x, Status.CONVERGED, k, rnorm)
        if not math.isfinite(rnorm):
            return done(x, Status.NONFINITE, k, rnorm, C.nonfinite_reason(f"the true residual b - A x at "
                                                                           f"iteration {k}"))
        if status == Status.MAXITER:
            return _best(done, R, x, best_x, best, k, rnorm, Status.MAXITER, _grew(R, k, rnorm, r0, Aap, lanczos))
        if best_x is None or rnorm <= best:
            best_x, best = x.copy(), rnorm
        checks.append(rnorm)
        if stop:
            return _best(done, R, x, best_x, best, k, rnorm, Status.STOPPED, stopped_message("cg", k))
        if len(checks) >= MAX_REPLACEMENTS or (len(checks) >= 2 and checks[-1] > 0.5 * checks[-2]):
            return _best(done, R, x, best_x, best, k, rnorm, Status.STAGNATED, _stagnated_reason(R, checks, best))
        # residual replacement: r is b - A x now; restart the recurrences from it
        rz = precondition()
        if not (rz > 0.0) or not math.isfinite(rz):
            return _precond_fail(done, R, x, k, rnorm, rz, true_residual)
        p[...] = z


#: a maxiter exit whose residual ended above this multiple of the initial one says that A may not be SPD
GREW_FACTOR = 10.0
#: a breakdown (p^T A p <= 0) after the residual grew past this multiple of the initial one returns the start
#: (a singular A with b outside its range; below it, as on an indefinite A, the iterate before the step)
BREAKDOWN_WORSE = 1e3
#: a breakdown r^T M r <= 0 at a recursive residual below this times ||b|| is rounding, not a non-SPD M
ROUNDING_LEVEL = 1e-15
#: how many times CG restarts from the true residual after a false claim of convergence
MAX_REPLACEMENTS = 5
#: CG stops as diverged when the residual exceeds this multiple of the initial one in two consecutive iterations
#: (an indefinite A can have one such step before p^T A p <= 0 is seen). On an SPD system with any b
#: the residual stays below sqrt(cond) ||r_0|| (the A^-1-norm of the residual decreases), so 1e10 is beyond
#: every condition number double precision can resolve; a singular system with b outside the range of A
#: (a pure-Neumann problem whose b does not sum to zero) reaches it once the Krylov space is exhausted
#: (measured: the residual jumps from about 10 ||r_0|| to 1e10-1e13 ||r_0|| at iteration n, and x to 1e33)
DIVERGE_FACTOR = 1e10
#: CG coefficients kept for the condition estimate of a maxiter message (the first LANCZOS_KEEP / 2 iterations)
LANCZOS_KEEP = 600
#: relative asymmetry above which the probe of that message calls A non-symmetric (rounding is ~1e-16 sqrt(n))
SYMMETRY_PROBE_TOL = 1e-8


def _start_point(R, b, x, x_start, start_from):
    """The solve's starting point (``x0``, zeros, or the FMG start recomputed)."""
    if x_start is None:
        x_start = R.xp.zeros_like(x)
        if start_from is not None:
            start_from(b, x_start)
    return x_start


def _worse_than_start(done, R, b, x, x_start, start_from, k, rnorm, r0, reason, **extras):
    """A breakdown whose iterate's residual grew far past the start's: the starting point is returned (a singular
    A with b outside its range, e.g. pure Neumann, reaches p^T A p <= 0 after the residual grew 1e9-fold; a
    near-zero curvature step of an indefinite A blows the iterate up before it)."""
    R.hist.buf[R.hist.n - 1] = r0
    return done(_start_point(R, b, x, x_start, start_from), Status.BREAKDOWN, k - 1, r0,
                f"{reason}. The residual had grown to {rnorm / r0:.1e} times its initial value first (a near-zero "
                "curvature step of an indefinite A, or a singular A with b outside its range, e.g. a pure-Neumann "
                "problem whose right-hand side does not sum to zero: remove that component, b - mean(b)); res.x is "
                "the starting point, whose residual is smaller",
                **extras)


def _diverged(done, R, b, x, x_start, start_from, k, rnorm, r0, Aap):
    """Return the starting point (its residual ``r0``), status ``diverged``, and say why (a symmetry probe of
    ``A`` first: a non-symmetric, non-singular A diverged too and was called singular or indefinite, helper-86)."""
    x_start = _start_point(R, b, x, x_start, start_from)
    R.hist.buf[R.hist.n - 1] = r0
    spread = _diagonal_spread(R.A.op, R.be)
    head = (f"diverged at iteration {k}: the residual grew to {rnorm / r0:.1e} times its initial value. On a "
            "symmetric positive definite A the residual stays below sqrt(cond(A)) times the initial one, so ")
    asym = _asymmetry(R, Aap)
    if math.isfinite(asym) and asym > SYMMETRY_PROBE_TOL:       # (NaN: the probe overflowed, no evidence)
        why = (f"here A is not symmetric (a probe gave |u^T A v - v^T A u| = {asym:.1e} relative), and CG needs a "
               "symmetric positive definite A. res.x is the starting point. Use solvers.gmres")
    elif spread is not None and spread > DIVERGE_FACTOR ** 2:
        why = (f"here A is most likely SPD but too ill-conditioned for CG in double precision: its diagonal spans "
               f"a factor {spread:.1e}, so cond(A) >= {spread:.1e}. res.x is the starting point. Precondition it "
               "(M=solvers.linear.jacobi(A) removes a badly scaled diagonal) or rescale the unknowns")
    else:
        why = ("either A is singular or indefinite and b has a component outside the range of A (e.g. a "
               "pure-Neumann problem whose right-hand side does not sum to zero: A x = b has no solution), or "
               f"cond(A) exceeds {DIVERGE_FACTOR ** 2:.0e}. res.x is the starting point. solvers.minres returns a "
               "least-squares solution; for a singular consistent system, remove the component of b outside the "
               "range (e.g. b - mean(b)); for an ill-conditioned one, use a preconditioner M")
    return done(x_start, Status.DIVERGED, k, r0, head + why)


def _diagonal_spread(op, be):
    """max / min of A's diagonal when A offers one and it is positive (a lower bound on cond(A)), else None."""
    try:
        d = np.asarray(be.to_numpy(op.diagonal()), dtype=np.float64).ravel()
    except Exception:            # no diagonal(), or one that cannot be read: no evidence either way
        return None
    if d.size == 0 or not np.all(np.isfinite(d)) or not d.min() > 0.0:
        return None
    return float(d.max() / d.min())


def _stagnated_reason(R, checks, best):
    tol = R.unscale(R.tol)
    return (f"stagnated: the recursively updated residual reached the tolerance {tol:.3e} {len(checks)} time(s), "
            f"but the true residual ||b - A x|| of x did not (after residual replacement: "
            + ", ".join(f"{R.unscale(c):.3e}" for c in checks)
            + f"). The attainable accuracy in double precision for this system is about {R.unscale(best):.3e}; "
            "res.x is the iterate with that true residual. Loosen rtol/atol to at least that, or improve the "
            "conditioning (preconditioner M, rescaling A)")


def _grew(R, k, rnorm, r0, Aap, lanczos):
    """The maxiter message when the residual ended above its start (``""`` otherwise: the generic one). CG
    minimises the A-norm of the error, not the residual, which on an SPD system can grow by up to
    ``sqrt(cond)``; so the message says which cause the evidence points to: a symmetry probe of ``A``
    (``u^T A v`` against ``v^T A u``, two matvecs) and the condition number of ``M^-1 A`` estimated from
    CG's coefficients (the Lanczos matrix of the first iterations, Saad 2003 sec. 6.7.3: its extreme
    eigenvalues lie inside the spectrum, so the estimate is a lower bound)."""
    if not rnorm > r0:
        return ""
    head = (f"not converged after maxiter={k} iterations, and the residual grew from {R.unscale(r0):.3e} to "
            f"{R.unscale(rnorm):.3e}: ")
    asym = _asymmetry(R, Aap)        # probed whenever the residual ended above its start (a 9.9x growth on a 2 x 2
    if math.isfinite(asym) and asym > SYMMETRY_PROBE_TOL:   # non-symmetric A was advised a preconditioner; helper-82)
        return head + (f"A is not symmetric (a probe gave |u^T A v - v^T A u| = {asym:.1e} relative), and CG "
                       "needs a symmetric positive definite A: use solvers.gmres")
    if not rnorm > GREW_FACTOR * r0:
        return ""
    cond = _lanczos_cond(lanczos)
    if cond >= (rnorm / r0) ** 2:
        return head + (f"A passed a symmetry probe and the condition number of M^-1 A estimated from CG's "
                       f"coefficients is at least {cond:.1e}, enough to explain the growth (CG minimises the A-norm "
                       "of the error; its residual can grow by up to sqrt(cond)). Use a (stronger) preconditioner M, or solvers.minres, which minimises the residual")
    return head + ("A passed a symmetry probe, but A or M may not be positive definite (or M not symmetric), which "
                   "CG needs: for a symmetric indefinite A use solvers.minres, for any other solvers.gmres")


def _asymmetry(R, Aap) -> float:
    """``|u^T A v - v^T A u| / (|u| |A v| + |v| |A u|)`` for two fixed random vectors (rounding level when A is
    symmetric); NaN when a product is not finite."""
    rng = np.random.default_rng(12345)
    u, v = (R.be.asarray(rng.standard_normal(R.n)) for _ in range(2))
    Au, Av = R.xp.array(Aap.into(u, R.xp.empty(R.n))), R.xp.array(Aap.into(v, R.xp.empty(R.n)))
    nu, nv = float(R.xp.linalg.norm(u)), float(R.xp.linalg.norm(v))
    scale = nu * float(R.xp.linalg.norm(Av)) + nv * float(R.xp.linalg.norm(Au))
    return abs(float(u @ Av) - float(v @ Au)) / scale if scale > 0 else 0.0


def _lanczos_cond(lanczos) -> float:
    """``lambda_max / lambda_min`` of the Lanczos tridiagonal built from CG's ``alpha_j, beta_j``: diagonal
    ``1/alpha_j + beta_{j-1}/alpha_{j-1}``, off-diagonal ``sqrt(beta_j)/alpha_j``; NaN when it cannot be formed."""
    import scipy.linalg as sl

    a = np.asarray(lanczos[0::2], dtype=float)
    bt = np.asarray(lanczos[1::2], dtype=float)[: max(a.size - 1, 0)]
    if a.size == 0 or not (np.all(np.isfinite(a)) and np.all(a > 0) and np.all(np.isfinite(bt)) and np.all(bt >= 0)):
        return float("nan")
    diag = 1.0 / a
    diag[1:] += bt / a[:-1]
    ev = sl.eigvalsh_tridiagonal(diag, np.sqrt(bt) / a[:-1])
    return float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")


def _best(done, R, x, best_x, best, k, rnorm, status, reason):
    """Return the iterate with the smallest true residual among ``x`` (true residual ``rnorm``) and ``best_x``."""
    if best_x is not None and best < rnorm:
        R.hist.buf[R.hist.n - 1] = best
        return done(best_x, status, k, best, reason)
    return done(x, status, k, rnorm, reason)


def _precond_fail(done, R, x, k, rnorm, rz, measure=None):
    rz = R.unscale(rz, 2)
    if not math.isfinite(rz):
        return done(x, Status.NONFINITE, k, rnorm,
                    C.nonfinite_reason(f"the preconditioned residual r^T M r at iteration {k}"))
    if rnorm < ROUNDING_LEVEL * R.bnorm:
        # the recursive residual is far below rounding (rtol = 0 runs it to underflow): r^T M r of a vector of
        # 1e-160 entries is no test of M; report the true residual of x, the attainable accuracy
        true = measure() if measure is not None else R.norm(R.residual(x))
        R.hist.buf[R.hist.n - 1] = true
        return done(x, Status.STAGNATED, k, true,
                    f"stagnated at iteration {k}: the recursive residual fell to {R.unscale(rnorm):.3e}, far below "
                    f"rounding, where r^T M r = {rz:.3e} tests nothing; the true residual of x is {R.unscale(true):.3e}, "
                    f"about the attainable accuracy for this system (tolerance {R.unscale(R.tol):.3e})")
    return done(x, Status.BREAKDOWN, k, rnorm,
                f"breakdown at iteration {k}: r^T M r = {rz:.3e} <= 0, so the preconditioner M is not symmetric "
                "positive definite. Use an SPD preconditioner (e.g. solvers.linear.jacobi on an SPD matrix) or "
                "solvers.gmres, which accepts any preconditioner; a preconditioner built from A (multigrid, "
                "Jacobi) is not SPD when A itself is not (a negative shift, a wrong sign): then solve with "
                "solvers.minres (symmetric indefinite) or solvers.gmres")


__all__ = ["cg"]
