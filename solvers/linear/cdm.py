"""Flexible conjugate-direction method with an arbitrary (possibly nonlinear) approximate inverse.

In the spirit of the Deep Conjugate Direction Method of Kaneda et al. (ICML
2023): the search direction of step ``j`` is ``z_j = P(r_j)`` for an arbitrary
map ``P`` -- a linear preconditioner, a few sweeps of a smoother, a trained
network -- which is then A-orthogonalised against the last ``k`` directions;
the step length comes from an exact line search (minimising the A-norm of the
error along the direction). Every step therefore decreases ``||x - x*||_A``
monotonically for SPD ``A``, whatever ``P`` is, as long as ``z_j`` is not
A-orthogonal to the current error.
"""
from __future__ import annotations

import math
from typing import Callable

from ..results import Status
from . import _common as C
from ._validate import FIRST_ROWS, grown


def cdm(A, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None, M=None,
        k: int = 2, callback: Callable | None = None, backend=None):
    """Solve SPD ``A x = b`` by a flexible conjugate-direction method.

    Iteration ``j``: ``z = M(r)``; ``d = z - sum_i c_i d_i`` over the last
    ``k`` stored directions with ``c_i = (A d_i)^T z / d_i^T A d_i``
    (modified Gram-Schmidt in the A-inner product, with ``A d`` updated by the
    same combination, so one matvec per iteration); ``alpha = d^T r / d^T A d``;
    ``x += alpha d``, ``r -= alpha A d``.

    With a fixed SPD linear ``M`` and ``k >= 1`` this reproduces preconditioned
    CG in exact arithmetic (``k > 1`` re-orthogonalises against older
    directions, which makes it more robust -- and lets it handle a ``M`` that
    changes from step to step).

    Parameters
    ----------
    A : array, sparse matrix or operator
        Symmetric positive definite, ``n x n``.
    b : array, shape (n,)
    x0 : array, optional
    rtol, atol : float
        Stop when ``||b - A x||_2 <= max(rtol * ||b||_2, atol)``: the recursively
        updated residual is tested, and a claim is confirmed on the true
        residual of ``x`` (otherwise CDM restarts from ``x``, up to
        ``MAX_REPLACEMENTS`` times, then reports ``"stagnated"`` with the
        attainable accuracy).
    maxiter : int, optional
        Default ``10 n``. At the limit the result's ``x`` is the iterate with the smallest true
        residual seen (a nonlinear ``M`` need not reduce it monotonically), not necessarily the last.
    M : callable or operator, optional
        The approximate inverse: any callable ``r -> z`` (it receives a copy
        of the residual and may be nonlinear, e.g. a learned model or a
        residual-dependent number of smoothing sweeps; its output scale is
        irrelevant) or an operator with ``matvec``. ``None`` uses ``z = r``.
        Its output must be a real vector of length ``n`` (else a ``ValueError``
        / ``TypeError`` naming ``M``). For a right-hand side outside
        ``2^-100 <= max|b| <= 2^100`` it sees the residual scaled by a power of two.
    k : int
        Number of previous directions to A-orthogonalise against (default 2,
        ``0`` gives preconditioned steepest descent).
    callback : callable, optional
        Called after every iteration: ``callback(intermediate_result)`` when its
        single parameter has that name (an :class:`~solvers.results.IntermediateResult`
        with ``x``, ``nit`` and ``residual``), else ``callback(xk)`` (``xk`` is a
        copy of the iterate, yours to keep). Raising ``StopIteration`` ends the solve
        with status ``"stopped"``.
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``history["residual"]`` (2-norms, initial first: ``nit + 1`` entries; the last one of a
        converged / stagnated / maxiter result is the true residual of ``x``); ``stats``: ``time_s``,
        ``matvecs``, ``precond_applications``, ``restarts``. ``"breakdown"`` when
        ``d^T A d <= 0`` (A not SPD); ``"stagnated"`` when ``M(r)`` gives no
        new direction (``d^T r = 0``).

    References
    ----------
    A. Kaneda, O. Akar, J. Chen, V. A. T. Kala, D. Hyde and J. Teran, "A Deep
    Conjugate Direction Method for Iteratively Solving Linear Systems",
    Proceedings of ICML 2023, PMLR 202.
    Y. Notay, "Flexible conjugate gradients", SIAM J. Sci. Comput. 22(4) (2000).
    """
    k = C.check_count("k (number of stored directions)", k)
    R = C.start("cdm", A, b, x0, M, backend, rtol, atol, maxiter, allow_callable_M=True, callback=callback,
                counters=("matvecs", "precond_applications", "restarts"))
    S, n, xp, K, Aap, hist, cnt, tol, done = R.S, R.n, R.xp, R.K, R.A, R.hist, R.cnt, R.tol, R.done
    R.options = {"k": k}
    kk = min(k, n)                       # more than n stored directions cannot be A-independent

    if S.M is None:
        def P(r):
            return r.copy()
    elif R.M is not None:
        def P(r):
            cnt["precond_applications"] += 1
            return R.M.into(r, xp.empty(n))
    else:
        def P(r):
            cnt["precond_applications"] += 1
            return C.check_vector(S.M(r.copy()), n, "M", S.M_raw, R.be, what="call")

    init = R.begin()
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init

    D = xp.empty((max(min(kk, FIRST_ROWS), 1), n))   # ring buffers of directions, their images, and d^T A d;
    AD = xp.empty(D.shape)                               # grown up to kk rows while the ring fills (_validate)
    dAd_hist = [0.0] * max(kk, 1)
    stored = 0
    head = 0
    it = 0
    checks = []                        # true residuals of recursive residuals that claimed convergence
    best_x, best = x.copy(), rnorm     # the best iterate by its true residual: the start to begin with

    def failed(status, it, reason):
        """A breakdown / stagnation exit: ``x`` with its true residual, or the best iterate (the start at least)
        where that is smaller (on a singular A with b outside its range the iterates drift far from it)."""
        rv = R.residual(x)
        rt = math.sqrt(K.dot(rv, rv))
        if not rt > best:
            hist.buf[hist.n - 1] = rt
            return done(x, status, it, rt, reason)
        hist.buf[hist.n - 1] = best
        return done(best_x, status, it, best, f"{reason}; res.x is the iterate with the smallest true residual seen "
                    f"({R.unscale(best):.3e}; the last iterate's is {R.unscale(rt):.3e}): b may lie partly outside "
                    "the range of a singular A")

    for it in range(1, S.maxiter + 1):
        d = K.as_vector(xp.array(P(r), copy=True))
        ad = Aap.into_owned(d, xp.empty(n))      # updated in place below: never the operator's own storage
        cnt["matvecs"] += 1
        # A-orthogonalise against the last `stored` directions, newest first (modified Gram-Schmidt)
        for s in range(stored):
            i = (head - 1 - s) % kk
            c = K.dot(ad, D[i]) / dAd_hist[i]
            K.axpy(-c, D[i], d)                  # in place, no temporaries
            K.axpy(-c, AD[i], ad)
        dAd = K.dot(d, ad)
        dr = K.dot(d, r)
        if not (math.isfinite(dAd) and math.isfinite(dr)):
            return done(x, Status.NONFINITE, it - 1, rnorm,
                        C.nonfinite_reason(f"the search direction at iteration {it} (M(r) or A d)"))
        if dAd <= 0.0:
            if dAd == 0.0 and dr == 0.0:
                return failed(Status.STAGNATED, it - 1,
                              f"stagnated at iteration {it}: M(r) gave no new direction (it lies in the span of the "
                            "stored directions or is zero). Use a better approximate inverse or a larger k")
            return failed(Status.BREAKDOWN, it - 1,
                          f"breakdown at iteration {it}: d^T A d = {R.unscale(dAd, 2):.3e} <= 0, so the operator is "
                        "not symmetric positive definite. Use solvers.minres (symmetric indefinite) or solvers.gmres")
        if dr == 0.0:
            return failed(Status.STAGNATED, it - 1,
                          f"stagnated at iteration {it}: the direction from M(r) is A-conjugate to the error "
                        "(d^T r = 0), so no progress is possible. Use a better approximate inverse")
        alpha = dr / dAd
        rr = K.cg_update_xr(x, r, d, ad, alpha)   # x += alpha d, r -= alpha A d and r.r in one pass
        rnorm = math.sqrt(rr) if rr >= 0.0 else float("nan")
        hist.append(rnorm)
        stop = R.stop(x, it, rnorm)
        if not math.isfinite(rnorm):
            return done(x, Status.NONFINITE, it, rnorm, C.nonfinite_reason(f"the residual at iteration {it}"))
        if rnorm <= tol:
            # claim convergence only on the true residual of x; otherwise restart from it (residual
            # replacement, stored directions dropped) until the true residual stops improving
            r = R.residual(x)
            rnorm = math.sqrt(K.dot(r, r))
            hist.buf[hist.n - 1] = rnorm
            if rnorm <= tol:
                return done(x, Status.CONVERGED, it, rnorm)
            if not math.isfinite(rnorm):
                return done(x, Status.NONFINITE, it, rnorm, C.nonfinite_reason("the true residual b - A x"))
            if rnorm <= best:
                best_x, best = x.copy(), rnorm
            checks.append(rnorm)
            if stop or len(checks) >= MAX_REPLACEMENTS or (len(checks) >= 2 and checks[-1] > 0.5 * checks[-2]):
                xr, rr_ = (best_x, best) if best < rnorm else (x, rnorm)
                hist.buf[hist.n - 1] = rr_
                if stop:
                    return R.stopped(xr, it, rr_)
                return done(xr, Status.STAGNATED, it, rr_,
                            f"stagnated: the updated residual reached the tolerance {R.unscale(tol):.3e} "
                            f"{len(checks)} time(s) but the true residual ||b - A x|| did not ("
                            + ", ".join(f"{R.unscale(c):.3e}" for c in checks)
                            + (f"); res.x is an earlier iterate (the start or a better one) with true residual "
                               f"{R.unscale(rr_):.3e}: b may lie partly outside the range of a singular A, or M is "
                               "unsuitable" if min(checks) > best else
                               f"); about {R.unscale(rr_):.3e} is the attainable accuracy for this system and "
                               "approximate inverse. Loosen rtol/atol, or use a linear preconditioner"))
            stored = head = 0
            cnt["restarts"] += 1
            continue
        if stop:
            return R.stopped(x, it, rnorm)
        if kk > 0:
            if head >= D.shape[0]:             # (before the ring wraps: its slots are 0, 1, ... in order)
                D = grown(xp, D, head + 1, kk, f"cdm k={k}")
                AD = grown(xp, AD, head + 1, kk, f"cdm k={k}")
            D[head] = d
            AD[head] = ad
            dAd_hist[head] = dAd
            head = (head + 1) % kk
            stored = min(stored + 1, kk)
    if S.maxiter > 0:                  # report the true residual of the returned x
        r = R.residual(x)
        rnorm = math.sqrt(K.dot(r, r))
        hist.buf[hist.n - 1] = rnorm
        if rnorm <= tol:
            return done(x, Status.CONVERGED, S.maxiter, rnorm)
        if best < rnorm:
            hist.buf[hist.n - 1] = best
            return done(best_x, Status.MAXITER, S.maxiter, best)
    return done(x, Status.MAXITER, S.maxiter, rnorm)


#: how many times CDM restarts from the true residual after a false claim of convergence
MAX_REPLACEMENTS = 5


__all__ = ["cdm"]
