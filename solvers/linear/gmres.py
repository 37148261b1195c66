"""Restarted GMRES(m) with right preconditioning and Givens rotations."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..results import Status
from . import _common as C
from ._validate import FIRST_ROWS, grown


def gmres(A, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None, M=None,
          callback: Callable | None = None, restart: int = 30, backend=None):
    """Solve a general (non-symmetric) system ``A x = b`` by restarted GMRES.

    Parameters
    ----------
    A : array, sparse matrix or operator, ``n x n``
    b : array, shape (n,)
    x0 : array, optional
    rtol, atol : float
        Stop when ``||b - A x||_2 <= max(rtol * ||b||_2, atol)``. Because the
        preconditioning is **right** preconditioning (``A M u = r0``,
        ``x = x0 + M u``), the residual minimised and tested is the true,
        unpreconditioned residual: inside a cycle its 2-norm is the Givens
        estimate ``|g_{j+1}|``; at the end of every cycle it is recomputed
        explicitly as ``b - A x`` (that value is the last history entry of the
        cycle and the one the convergence decision rests on).
    maxiter : int, optional
        Maximum number of **restart cycles** (SciPy's meaning), each of at most
        ``restart`` inner iterations. Default: ``10 n`` cycles, SciPy's default.
        Restarted GMRES can need many more than ``n`` iterations on an ill-conditioned
        system (the 100-point 1-D Laplacian, ``restart=30``: 53 cycles, 1590
        iterations; SciPy's GMRES(20) 2446): the earlier default of about
        ``10 n`` iterations stopped it there at ``"maxiter"``. A cycle that does
        not reduce the residual ends the solve as ``"stagnated"``, so the budget
        does not keep a stuck solve running.
        ``maxiter=0`` performs no iteration. ``res.nit`` counts inner
        iterations (matvecs with ``A`` in the Arnoldi process).
    M : operator, optional
        Any (fixed, linear) preconditioner approximating ``A^{-1}``; need not
        be symmetric or definite.
    callback : callable, optional
        Called after every inner iteration: ``callback(intermediate_result)``
        when its single parameter has that name (an
        :class:`~solvers.results.IntermediateResult` with ``x``, ``nit`` and
        ``residual``, the Givens estimate), else ``callback(xk)``. Forming
        ``xk`` costs an extra ``O(n j)`` (and one ``M`` application), only paid
        when a callback is given. Raising ``StopIteration`` ends the solve with
        status ``"stopped"``.
    restart : int
        Krylov subspace dimension per cycle (default 30).
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``history["residual"]`` (2-norms, initial one first: ``nit + 1``
        entries); ``stats``:
        ``time_s``, ``matvecs``, ``precond_applications``, ``restarts``.
        ``status="stagnated"`` when a whole cycle does not reduce the residual
        (increase ``restart`` or use a better preconditioner). ``x`` is always
        the best iterate seen: an update whose true residual is larger than the
        current one (a near-singular least-squares problem) is not taken; the
        solve then retries with the well-conditioned leading Krylov columns and
        otherwise stops as ``"stagnated"``. Breakdown (a Krylov column that is
        numerically dependent on the previous ones) is detected relative to the
        scale ``||A M||``, not by an exact zero.

    References
    ----------
    Y. Saad and M. H. Schultz, "GMRES: a generalized minimal residual algorithm
    for solving nonsymmetric linear systems", SIAM J. Sci. Stat. Comput. 7(3),
    856-869 (1986). Y. Saad, *Iterative Methods for Sparse Linear Systems*,
    2nd ed., Algorithm 9.5 (right preconditioning).
    """
    restart = C.check_count("restart", restart, minimum=1, what="a positive integer")
    R = C.start("gmres", A, b, x0, M, backend, rtol, atol, maxiter,
                counters=("matvecs", "precond_applications", "restarts"), callback=callback)
    S, be, n, xp, Aap, hist, cnt, tol = R.S, R.be, R.n, R.xp, R.A, R.hist, R.cnt, R.tol
    done, apply_M = R.done, R.apply_M
    m = int(min(restart, max(n, 1)))
    if maxiter is None:                  # SciPy's default: 10 n restart cycles
        S.maxiter = 10 * n
    cycles = S.maxiter
    R.options = {"restart": int(restart)}
    init = R.begin(norm=R.norm)
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init

    def out_of_cycles(x, itn, rnorm):
        return done(x, Status.MAXITER, itn, rnorm,
                    f"not converged after maxiter={cycles} restart cycles ({itn} iterations), residual "
                    f"{R.unscale(rnorm):.3e} > tolerance {R.unscale(tol):.3e}. Try a "
                    f"{'stronger ' if R.M is not None else ''}preconditioner, a larger "
                    "restart or maxiter, or a looser rtol")

    if cycles == 0:
        return out_of_cycles(x, 0, rnorm)

    V = xp.empty((min(m, FIRST_ROWS) + 1, n))    # grows with the iterations up to m + 1 rows (_validate.grown)
    K = R.K                              # the Arnoldi products by the backend's kernels, not a threaded BLAS
    h1, h2 = xp.zeros(m + 1), xp.zeros(m + 1)   # call between the Numba kernels (see krylov.rows_dot)
    wbuf = xp.empty(n)                   # A M v_j, private to the solve (V[j + 1] is a copy of it)
    H = np.zeros((min(m, FIRST_ROWS) + 1, min(m, FIRST_ROWS)))
    cs = np.zeros(m)
    sn = np.zeros(m)
    g = np.zeros(m + 1)
    itn = 0
    cycle = 0
    stop = False
    scale_AM = 0.0                       # largest ||A M v|| seen: the scale breakdowns are measured against

    def combine(j, y):
        """``V_j^T y`` (a fresh vector)."""
        out = xp.zeros(n)
        K.rows_sub(V, j, xp.asarray(-y), out)
        return out

    def candidate(j):
        """``x + M V_j y_j`` (the least-squares update from the first ``j`` columns), its residual and norm."""
        xn = x + apply_M(combine(j, _solve_upper(H, g, j)))
        rn = R.residual(xn)
        return xn, rn, R.norm(rn)

    while True:
        cycle += 1
        V[0] = r * (1.0 / rnorm)
        H[:] = 0.0
        g[:] = 0.0
        g[0] = rnorm
        j = 0
        reason = ""
        status = None
        dependent = False
        for j in range(m):
            w = Aap.into(apply_M(V[j]), wbuf)
            if w is not wbuf:            # the operator's own array (possibly a view of V): the Arnoldi step
                wbuf[...] = w            # below updates w in place
                w = wbuf
            cnt["matvecs"] += 1
            itn += 1
            wnorm = R.norm(w)
            scale_AM = max(scale_AM, wnorm)
            # Arnoldi step: classical Gram-Schmidt, repeated once (CGS2), as BLAS-2 products (in place on w)
            K.rows_dot(V, j + 1, w, h1)
            K.rows_sub(V, j + 1, h1, w)
            K.rows_dot(V, j + 1, w, h2)
            K.rows_sub(V, j + 1, h2, w)
            hcol = be.to_numpy(h1[: j + 1] + h2[: j + 1])
            hnext = R.norm(w)
            if not (np.all(np.isfinite(hcol)) and math.isfinite(hnext) and math.isfinite(wnorm)):
                status, reason = Status.NONFINITE, C.nonfinite_reason(f"the Arnoldi step at iteration {itn}")
                itn -= 1
                break
            H[: j + 1, j] = hcol
            H[j + 1, j] = hnext
            for i in range(j):           # previous rotations
                t = cs[i] * H[i, j] + sn[i] * H[i + 1, j]
                H[i + 1, j] = -sn[i] * H[i, j] + cs[i] * H[i + 1, j]
                H[i, j] = t
            den = math.hypot(H[j, j], H[j + 1, j])
            if den <= DEPENDENT * scale_AM:
                # A M v_j lies (numerically) in the span of the previous images: the triangular factor
                # would be singular, so the cycle ends with the j columns before it
                dependent = True
                itn -= 1
                break
            cs[j], sn[j] = H[j, j] / den, H[j + 1, j] / den
            H[j, j], H[j + 1, j] = den, 0.0
            g[j + 1] = -sn[j] * g[j]
            g[j] = cs[j] * g[j]
            est = abs(g[j + 1])
            hist.append(est)
            if R.cb:
                stop = R.stop(x + apply_M(combine(j + 1, _solve_upper(H, g, j + 1))), itn, est)
            # happy breakdown (relative): w has no component outside the Krylov space, which is invariant
            if est <= tol or hnext <= DEPENDENT * wnorm or stop:
                j += 1
                break
            if j + 2 > V.shape[0]:         # room for v_{j+1}, and for column j + 1 of H
                V = grown(xp, V, j + 2, m + 1, f"gmres restart={restart}")
            if j + 2 > H.shape[1]:
                H = grown(np, H, j + 3, m + 1, f"gmres restart={restart}", hessenberg=True)
            V[j + 1] = w * (1.0 / hnext)
        else:
            j = m
        if j == 0:                       # no usable column (dependent or non-finite at the first step)
            if status is None:
                status, reason = Status.BREAKDOWN, (
                    f"breakdown at iteration {itn + 1}: A M r is zero or negligible (||A M r|| <= "
                    f"{DEPENDENT:.1e} * ||A M||) for the residual r, so A M is (numerically) singular on it and "
                    "GMRES cannot reduce the residual. Check A and the preconditioner; res.x is the best iterate")
            return done(x, status, itn, rnorm, reason)
        prev = rnorm
        xn, rn, rnn = candidate(j)
        if not rnn < rnorm:
            # the update is worse than the current iterate: the least-squares problem is too ill-conditioned
            # for all j columns; retry with the well-conditioned leading columns of the triangular factor
            jc = _well_conditioned_prefix(H, j)
            if 0 < jc < j:
                xc, rc, rcn = candidate(jc)
                if rcn < rnn or not math.isfinite(rnn):
                    xn, rn, rnn = xc, rc, rcn
        improved = rnn < rnorm
        if improved:                     # x is always the best iterate seen
            x, r, rnorm = xn, rn, rnn
        hist.buf[hist.n - 1] = rnorm
        if status is not None:
            return done(x, status, itn, rnorm, reason)
        if rnorm <= tol:
            return done(x, Status.CONVERGED, itn, rnorm)
        if stop:
            return R.stopped(x, itn, rnorm)
        if not improved:
            # (worse by more than rounding: a cycle that reduced nothing came out 1 ulp worse too, and was called
            # singular with a well-conditioned triangular factor; helper-125)
            why = ("the Krylov least-squares problem is numerically singular (A M is near-singular on the Krylov "
                   "space)" if dependent or not math.isfinite(rnn) or rnn > prev * (1.0 + WORSE_THAN_ROUNDING) else
                   f"a full cycle of {j} iterations did not reduce the residual")
            if ((rnorm <= NEAR_TOL * tol or tol < UNREACHABLE * R.bnorm)   # just short of a small rtol, or an rtol
                    and rnorm <= NEAR_TOL_LEVEL * R.bnorm):    # below double precision (0, 1e-20): rounding, not
                # singularity (helper-77, helper-86); a large rtol missed by a restart stagnation is not that
                why = (f"the residual stopped at {rnorm / R.bnorm:.1e} of ||b||, above the tolerance, which is likely "
                       f"the attainable accuracy of double precision for this system (about eps * cond(A M)); loosen "
                       f"rtol, or ({why})")
            return done(x, Status.STAGNATED, itn, rnorm,
                        f"stagnated: {why}; res.x is the best iterate seen (residual {R.unscale(rnorm):.3e}, "
                        f"tolerance {R.unscale(tol):.3e}). Increase restart, use a preconditioner, or check that "
                        "A is not (nearly) singular")
        if cycle >= cycles:
            return out_of_cycles(x, itn, rnorm)
        cnt["restarts"] += 1


#: a cycle's candidate residual above the previous one by more than this relative amount points to a singular
#: least-squares problem; within it, to a cycle that made no progress (rounding)
WORSE_THAN_ROUNDING = 1e-8
#: a stagnation within this factor of the tolerance is reported as the attainable accuracy, not as singularity
NEAR_TOL = 100.0
#: ... and only when the residual is at most this fraction of ||b|| (below it rounding can be the cause)
NEAR_TOL_LEVEL = 1e-6
#: a tolerance below this fraction of ||b|| is beyond double precision whatever A is (rtol = 0, 1e-20): a stagnation
#: within NEAR_TOL_LEVEL of ||b|| is then reported as the attainable accuracy as well
UNREACHABLE = 1e-15
#: a Krylov column whose new direction has norm <= DEPENDENT * ||A M|| is treated as linearly dependent
#: (breakdown, measured relative to the scale of the operator instead of ``== 0``)
DEPENDENT = 64 * 2.220446049250313e-16


def _well_conditioned_prefix(H, j):
    """The number of leading columns of the triangular factor ``H[:j, :j]`` before the first diagonal entry
    that is tiny (``<= sqrt(eps)``) relative to the largest one before it."""
    d = np.abs(np.diag(H[:j, :j]))
    big = np.maximum.accumulate(d)
    small = np.flatnonzero(d <= 1.5e-8 * big)
    return int(small[0]) if small.size else j


def _solve_upper(H, g, j):
    """Solve the ``j x j`` upper-triangular system ``H[:j, :j] y = g[:j]`` (host, small)."""
    import scipy.linalg as sla

    return sla.solve_triangular(H[:j, :j], g[:j], lower=False, check_finite=False)


__all__ = ["gmres"]
