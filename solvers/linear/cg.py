"""Preconditioned conjugate gradients with a fused hot loop.

On the ``numba`` backend one iteration is the matvec plus two memory passes:

1. ``q = A p`` and ``p.q`` (one pass when the operator offers ``matvec_dot``),
2. ``x += a p; r -= a q`` returning ``r.r`` -- with a Jacobi / diagonal
   preconditioner the same pass also writes ``z = D^-1 r`` and returns ``r.z``,
3. ``p = z + beta p``.

Any other preconditioner is applied between passes 2 and 3 (through its
``matvec_into`` when it has one). The ``numpy`` backend runs the same loop
with plain NumPy kernels and is the reference the fast paths are tested
against.
"""
from __future__ import annotations

import math
from typing import Callable

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
        Stop when ``||b - A x||_2 <= max(rtol * ||b||_2, atol)``. The residual is
        the *recursively updated* residual ``r`` of CG in the Euclidean 2-norm
        (not the preconditioned ``M``-norm), also when ``M`` is given.
    maxiter : int, optional
        Iteration limit (default ``10 n``).
    M : operator, optional
        SPD preconditioner approximating ``A^{-1}`` (anything with ``matvec``;
        ``matvec_into(r, out)`` is used when present). A Jacobi preconditioner
        (:func:`solvers.linear.jacobi`) or a :class:`DiagonalOperator` is fused
        into the update pass.
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
        one (length ``nit + 1``). ``stats``: ``time_s``, ``matvecs``,
        ``precond_applications``. ``status`` is ``"breakdown"`` when
        ``p^T A p <= 0`` (A is not SPD) or ``r^T M r <= 0`` (M is not SPD),
        ``"nonfinite"`` when NaN/inf appears, ``"maxiter"`` when the budget ran
        out, ``"stopped"`` when the callback raised ``StopIteration``. ``x`` is
        always the last finite iterate.

    Notes
    -----
    Complex inputs are rejected with a ``TypeError`` (solve the real 2n x 2n
    form instead).

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
    """
    if negative_curvature not in NEGATIVE_CURVATURE:
        raise ValueError(f"negative_curvature must be one of {NEGATIVE_CURVATURE}, got {negative_curvature!r}")
    R = C.start("cg", A, b, x0, M, backend, rtol, atol, maxiter,
                options={"negative_curvature": negative_curvature}, callback=callback)
    R.extras = {"direction": None, "curvature": None}
    cb = R.cb
    S, n, xp, K, Aap, hist, b, tol = R.S, R.n, R.xp, R.K, R.A, R.hist, R.S.b, R.tol
    r, q = xp.empty(n), xp.empty(n)
    rr = 0.0

    def first(x):                  # r = b - A x into r, and r.r from the same pass
        nonlocal rr
        if S.x is None:
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

    def done(x, status, nit, rnorm, reason="", direction=None, curvature=None):
        return R.done(x, status, nit, rnorm, reason, matvecs=matvecs, precond_applications=papps,
                      extras={"direction": direction, "curvature": curvature})

    # preconditioner setup
    dinv = C.diagonal_of_preconditioner(S.M) if S.M is not None else None
    if dinv is not None:
        dinv = K.as_vector(dinv)
    Map = None if dinv is not None else R.M
    cb_on = bool(cb)

    if S.M is None:
        z = r                      # unpreconditioned: z aliases r
        rz = rr
    else:
        z = xp.empty(n)
        if dinv is not None:
            rz = K.diag_apply(dinv, r, z)
        else:
            zz = Map.into(r, z)
            if zz is not z:
                z[...] = zz
            rz = K.dot(r, z)
        papps += 1
        if not (rz > 0.0) or not math.isfinite(rz):
            return _precond_fail(done, x, 0, rnorm, rz)
    p = z.copy()

    k = 0
    status = Status.MAXITER
    reason = ""
    for k in range(1, S.maxiter + 1):
        qv, pap = Aap.with_dot(p, q)
        matvecs += 1
        if not math.isfinite(pap):
            status, reason = Status.NONFINITE, C.nonfinite_reason(f"p^T A p at iteration {k}")
            k -= 1
            break
        if pap <= 0.0:
            if negative_curvature == "return":
                reason = (f"negative curvature at iteration {k}: p^T A p = {pap:.3e} <= 0 (Steihaug-Toint exit); "
                          "res.direction is that direction p, res.x the iterate before this step")
            else:
                reason = (f"breakdown at iteration {k}: p^T A p = {pap:.3e} <= 0, so the operator is not symmetric "
                          "positive definite. Use solvers.minres (symmetric indefinite) or solvers.gmres "
                          "(non-symmetric); res.direction holds p")
            return done(x, Status.BREAKDOWN, k - 1, rnorm, reason, direction=p, curvature=pap)
        alpha = rz / pap
        if S.M is None:
            rr = K.cg_update_xr(x, r, p, qv, alpha)
            rz_new = rr
        elif dinv is not None:
            rz_new, rr = K.cg_update_xrz(x, r, z, p, qv, dinv, alpha)
            papps += 1
        else:
            rr = K.cg_update_xr(x, r, p, qv, alpha)
            zz = Map.into(r, z)
            if zz is not z:
                z[...] = zz
            rz_new = K.dot(r, z)
            papps += 1
        rnorm = math.sqrt(rr) if rr >= 0.0 else float("nan")
        hist.append(rnorm)
        stop = cb_on and cb(x, k, residual=rnorm)
        if not math.isfinite(rnorm):
            status, reason = Status.NONFINITE, C.nonfinite_reason(f"the residual at iteration {k}")
            break
        if rnorm <= tol:
            status = Status.CONVERGED
            break
        if stop:
            status, reason = Status.STOPPED, stopped_message("cg", k)
            break
        if not (rz_new > 0.0) or not math.isfinite(rz_new):
            return _precond_fail(done, x, k, rnorm, rz_new)
        beta = rz_new / rz
        rz = rz_new
        K.xpby(z, beta, p)
    else:
        k = S.maxiter
    return done(x, status, k, rnorm, reason)


def _precond_fail(done, x, k, rnorm, rz):
    if not math.isfinite(rz):
        return done(x, Status.NONFINITE, k, rnorm,
                    C.nonfinite_reason(f"the preconditioned residual r^T M r at iteration {k}"))
    return done(x, Status.BREAKDOWN, k, rnorm,
                f"breakdown at iteration {k}: r^T M r = {rz:.3e} <= 0, so the preconditioner M is not symmetric "
                "positive definite. Use an SPD preconditioner (e.g. solvers.linear.jacobi on an SPD matrix) or "
                "solvers.gmres, which accepts any preconditioner")


__all__ = ["cg"]
