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
import numbers
from typing import Callable

from ..results import Status
from . import _common as C


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
        Stop when the recursively updated residual satisfies
        ``||r||_2 <= max(rtol * ||b||_2, atol)``.
    maxiter : int, optional
        Default ``10 n``.
    M : callable or operator, optional
        The approximate inverse: any callable ``r -> z`` (it receives a copy
        of the residual and may be nonlinear, e.g. a learned model or a
        residual-dependent number of smoothing sweeps; its output scale is
        irrelevant) or an operator with ``matvec``. ``None`` uses ``z = r``.
    k : int
        Number of previous directions to A-orthogonalise against (default 2,
        ``0`` gives preconditioned steepest descent).
    callback : callable, optional
        Called after every iteration: ``callback(intermediate_result)`` when its
        single parameter has that name (an :class:`~solvers.results.IntermediateResult`
        with ``x``, ``nit`` and ``residual``), else ``callback(xk)`` (``xk`` is the
        live iterate: copy it to keep it). Raising ``StopIteration`` ends the solve
        with status ``"stopped"``.
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``history["residual"]`` (2-norms, initial first: ``nit + 1`` entries); ``stats``: ``time_s``,
        ``matvecs``, ``precond_applications``. ``"breakdown"`` when
        ``d^T A d <= 0`` (A not SPD); ``"stagnated"`` when ``M(r)`` gives no
        new direction (``d^T r = 0``).

    References
    ----------
    A. Kaneda, O. Akar, J. Chen, V. A. T. Kala, D. Hyde and J. Teran, "A Deep
    Conjugate Direction Method for Iteratively Solving Linear Systems",
    Proceedings of ICML 2023, PMLR 202.
    Y. Notay, "Flexible conjugate gradients", SIAM J. Sci. Comput. 22(4) (2000).
    """
    R = C.start("cdm", A, b, x0, M, backend, rtol, atol, maxiter, allow_callable_M=True, callback=callback)
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k (number of stored directions) must be an integer >= 0, got {k!r}")
    S, n, xp, K, Aap, hist, cnt, tol, done = R.S, R.n, R.xp, R.K, R.A, R.hist, R.cnt, R.tol, R.done
    k = int(k)
    R.options = {"k": k}

    if S.M is None:
        def P(r):
            return r.copy()
    elif hasattr(S.M, "matvec"):
        def P(r):
            return S.M.matvec(r)
    else:
        def P(r):
            return S.M(r.copy())

    init = R.begin()
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init

    D = xp.empty((max(k, 1), n))       # ring buffers of directions, their images, and d^T A d
    AD = xp.empty((max(k, 1), n))
    dAd_hist = [0.0] * max(k, 1)
    stored = 0
    head = 0
    it = 0
    for it in range(1, S.maxiter + 1):
        z = P(r)
        cnt["precond_applications"] += 0 if S.M is None else 1
        z = xp.asarray(z, dtype=xp.float64).reshape(-1)
        if z.shape != (n,):
            raise ValueError(f"M returned an array of shape {tuple(z.shape)}, expected ({n},)")
        d = xp.array(z, copy=True)
        ad = Aap.into(d, xp.empty(n))
        cnt["matvecs"] += 1
        # A-orthogonalise against the last `stored` directions, newest first (modified Gram-Schmidt)
        for s in range(stored):
            i = (head - 1 - s) % k
            c = K.dot(ad, D[i]) / dAd_hist[i]
            d -= c * D[i]
            ad -= c * AD[i]
        dAd = K.dot(d, ad)
        dr = K.dot(d, r)
        if not (math.isfinite(dAd) and math.isfinite(dr)):
            return done(x, Status.NONFINITE, it - 1, rnorm,
                        C.nonfinite_reason(f"the search direction at iteration {it} (M(r) or A d)"))
        if dAd <= 0.0:
            if dAd == 0.0 and dr == 0.0:
                return done(x, Status.STAGNATED, it - 1, rnorm,
                            f"stagnated at iteration {it}: M(r) gave no new direction (it lies in the span of the "
                            "stored directions or is zero). Use a better approximate inverse or a larger k")
            return done(x, Status.BREAKDOWN, it - 1, rnorm,
                        f"breakdown at iteration {it}: d^T A d = {dAd:.3e} <= 0, so the operator is not symmetric "
                        "positive definite. Use solvers.minres (symmetric indefinite) or solvers.gmres")
        if dr == 0.0:
            return done(x, Status.STAGNATED, it - 1, rnorm,
                        f"stagnated at iteration {it}: the direction from M(r) is A-conjugate to the error "
                        "(d^T r = 0), so no progress is possible. Use a better approximate inverse")
        alpha = dr / dAd
        x += alpha * d
        r -= alpha * ad
        rnorm = math.sqrt(K.dot(r, r))
        hist.append(rnorm)
        stop = R.stop(x, it, rnorm)
        if not math.isfinite(rnorm):
            return done(x, Status.NONFINITE, it, rnorm, C.nonfinite_reason(f"the residual at iteration {it}"))
        if rnorm <= tol:
            return done(x, Status.CONVERGED, it, rnorm)
        if stop:
            return R.stopped(x, it, rnorm)
        if k > 0:
            D[head] = d
            AD[head] = ad
            dAd_hist[head] = dAd
            head = (head + 1) % k
            stored = min(stored + 1, k)
    return done(x, Status.MAXITER, S.maxiter, rnorm)


__all__ = ["cdm"]
