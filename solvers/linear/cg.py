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

from .. import _workspace as W
from ..results import Status, stopped_message
from . import _common as C
from ._cg_exits import (BREAKDOWN_WORSE, DIVERGE_FACTOR, LANCZOS_KEEP, MAX_REPLACEMENTS, _best,
                        _diverged, _grew, _precond_fail, _stagnated_reason, _worse_than_start)

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
        ``b - A x`` is computed (one more matvec; on a library stencil only its
        norm, in a pass that stores nothing) and convergence is claimed only
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
        a copy of the iterate (yours to keep or change). Raising ``StopIteration`` ends the
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
    r, q = W.empty(xp, n), W.empty(xp, n)     # pooled work vectors (solvers._workspace: no page faults
    # on repeated solves of one size)
    rr = 0.0

    # a preconditioner built to give the start (multigrid with fmg_start=True) fills x before the first residual
    Msrc = C._raw_or_wrapped(R.M.raw, R.M.op) if (S.x is None and R.M is not None) else None
    start_for = getattr(Msrc, "start_for", None)      # the automatic FMG start: only for M's own operator
    use_start = (start_for(C._raw_or_wrapped(R.A.raw, R.A.op)) if callable(start_for)
                 else getattr(Msrc, "fmg_start", False))
    start_from = getattr(Msrc, "initial_guess", None) if use_start else None

    # from x = 0 with a general M and no callback (MG-CG): x is left unwritten until the first iteration writes
    # it whole (x = alpha p); r too (r = b - alpha q, M reading the caller's b itself) where M promises not to
    # write into its input (``reads_input_only``: the library's multigrid) and A writes its products into CG's
    # own q -- an M using its input as scratch changed the caller's b and gave a false convergence, and A's reused
    # output buffer passed as b was overwritten before the update read it (helper-110): two passes fewer per solve
    lazy = (S.x is None and start_from is None and S.M is not None and not R.cb
            and C.diagonal_of_preconditioner(S.M) is None)
    lazy_r = (lazy and getattr(Msrc, "reads_input_only", False) is True
              and (Aap._dot is not None or Aap._into is not None))

    def first(x):                  # r = b - A x into r, and r.r from the same pass
        nonlocal rr
        if S.x is None and start_from is not None:
            start_from(b, x)
            R.cnt["matvecs"] += 1
            rr = Aap.residual(b, x, r, q)
        elif S.x is None:
            if not lazy_r:
                r[...] = b
            rr = R.bnorm * R.bnorm
        else:
            R.cnt["matvecs"] += 1
            rr = Aap.residual(b, x, r, q)
        return r, math.sqrt(rr)

    # x handed to the start unwritten only where the preconditioner says its start writes it whole (the library's
    # multigrid: start_writes_all); a caller's initial_guess may write part of it (helper-154): that one gets zeros
    init = R.begin(first=first, zero_x=not lazy,
                   x_written=start_from is not None and getattr(Msrc, "start_writes_all", False) is True)
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init
    r_src = b if lazy_r else r     # what holds the residual until the first update writes r
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
    # unpreconditioned: z aliases r. A general M writes z = M r into q's memory: q = A p is dead from the r update
    # to the next product, z from that product on (one n-vector less in memory and in the iteration's working set)
    z = r if S.M is None else (q if dinv is None else W.empty(xp, n))

    def precondition(out):
        """``out = M r``; return ``r.z`` (``r.r`` without M, ``out`` untouched)."""
        nonlocal papps
        if S.M is None:
            return rr
        papps += 1
        if dinv is not None:
            return K.diag_apply(dinv, r, out)
        zz, rz0 = Map.with_dot(r_src, out)
        if zz is not out:
            out[...] = zz
        return rz0

    # the first direction p = z = M r: M writes it into p directly (no copy)
    p = W.copy(xp, r) if S.M is None else W.empty(xp, n)
    rz = precondition(p)
    x_unset = lazy                 # x not written yet (lazy start): zeroed before any use but the first update
    # the deferred x += alpha p and p = z + beta p fused with the next product q = A p (one pass; a constant-
    # coefficient stencil A on the numba backend: StencilOperator.fused_direction), whose p.q waits in ``fused``
    fuse = getattr(C._raw_or_wrapped(R.A.raw, R.A.op), "fused_direction", None) if (S.M is not None and not cb_on
                                                                                    and dinv is None) else None
    fuse = fuse() if (callable(fuse) and R.A._trusted) else None
    fused = None

    def x_zero():
        nonlocal x_unset
        if x_unset:
            x[...] = 0.0
            x_unset = False

    if not (rz > 0.0) or not math.isfinite(rz):
        x_zero()
        return _precond_fail(done, R, x, 0, rnorm, rz)

    # convergence is claimed on the true residual b - A x of the returned x (one matvec per claim); a
    # recursive residual below the tolerance whose true residual is not restarts CG from x (residual
    # replacement) -- until the true residual stops improving: then the attainable accuracy is reached
    checks = []                    # true residuals of the failed claims
    best_x, best = None, math.inf

    def true_residual(store=True):
        """``||b - A x||``; ``r = b - A x`` too when ``store`` (a claim that holds needs only the norm: the
        library's stencils sum it in a read-only pass)."""
        nonlocal matvecs, rr
        matvecs += 1
        rr = Aap.residual(b, x, r, q) if store else Aap.residual_sq(b, x, r, q)
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
            if fused is None:
                qv, pap = Aap.with_dot(p, q)
                matvecs += 1
            else:                          # formed by the last iteration's fused pass
                qv, pap, fused = q, fused, None
            if x_unset and not (0.0 < pap < math.inf):
                x_zero()
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
                if r_src is r:             # fewer over x, p), or applied on the way out
                    rr = K.cg_update_r(r, qv, alpha)
                else:                      # the lazy start's first update: r = b - alpha q
                    rr = K.cg_first_r(r_src, qv, alpha, r)
                    r_src = r
                rz_new = None
                pending = True
            rnorm = math.sqrt(rr) if rr >= 0.0 else float("nan")
            if pending and not (tol < rnorm <= grow):   # (NaN too)
                x_zero()
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
                    x_zero()
                    K.axpy(alpha, p, x)
                return _precond_fail(done, R, x, k, rnorm, rz_new, true_residual)
            beta = rz_new / rz
            if len(lanczos) < keep:
                lanczos.append(beta)
            rz = rz_new
            if (pending and fuse is not None and k < S.maxiter     # (at maxiter no next product: helper-112)
                    and (fused := fuse(x, p, z, q, alpha, beta, x_unset)) is not None):
                matvecs += 1               # x, p updated and q = A p formed in one pass
                pending = x_unset = False
            elif pending and x_unset:
                K.cg_first_xp(x, p, z, alpha, beta)     # x = alpha p: the lazy start's first x
                pending = x_unset = False
            elif pending:
                K.cg_update_xp(x, p, z, alpha, beta)
                pending = False
            else:
                K.xpby(z, beta, p)
        else:
            k = S.maxiter
            status = Status.MAXITER
        x_zero()                   # (maxiter = 0: no iteration wrote x)
        keep = 0
        del lanczos[len(lanczos) - len(lanczos) % 2:]     # whole (alpha, beta) pairs of the first run
        if status not in (Status.CONVERGED, Status.MAXITER) or k == 0:
            return done(x, status, k, rnorm, reason)
        # ---- measure the claim (or the maxiter exit) on the true residual of x
        rnorm = true_residual(store=False)
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
        # residual replacement: restart the recurrences from r = b - A x (p = M r)
        true_residual()
        fused = None
        rz = precondition(p)
        if S.M is None:
            p[...] = r
        if not (rz > 0.0) or not math.isfinite(rz):
            return _precond_fail(done, R, x, k, rnorm, rz, true_residual)


__all__ = ["cg"]
