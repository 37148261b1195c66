"""Restarted GMRES(m) with right preconditioning and Givens rotations."""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np

from ..results import Status
from . import _common as C


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
        ``restart`` inner iterations. Default: ``ceil(10 n / restart)`` cycles
        (about ``10 n`` inner iterations, the budget of the other solvers).
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
        (increase ``restart`` or use a better preconditioner).

    References
    ----------
    Y. Saad and M. H. Schultz, "GMRES: a generalized minimal residual algorithm
    for solving nonsymmetric linear systems", SIAM J. Sci. Stat. Comput. 7(3),
    856-869 (1986). Y. Saad, *Iterative Methods for Sparse Linear Systems*,
    2nd ed., Algorithm 9.5 (right preconditioning).
    """
    if not isinstance(restart, numbers.Integral) or isinstance(restart, bool) or restart < 1:
        raise ValueError(f"restart must be a positive integer, got {restart!r}")
    R = C.start("gmres", A, b, x0, M, backend, rtol, atol, maxiter,
                counters=("matvecs", "precond_applications", "restarts"), callback=callback)
    S, be, n, xp, Aap, hist, cnt, tol = R.S, R.be, R.n, R.xp, R.A, R.hist, R.cnt, R.tol
    done, apply_M = R.done, R.apply_M
    m = int(min(restart, max(n, 1)))
    if maxiter is None:                  # prepare filled in 10 n inner iterations: as restart cycles
        S.maxiter = -(-10 * n // m)
    cycles = S.maxiter
    R.options = {"restart": int(restart), "preconditioning": "right"}
    init = R.begin(norm=R.norm)
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init

    def out_of_cycles(x, itn, rnorm):
        return done(x, Status.MAXITER, itn, rnorm,
                    f"not converged after maxiter={cycles} restart cycles ({itn} iterations), residual "
                    f"{rnorm:.3e} > tolerance {tol:.3e}. Try a preconditioner, a larger restart or maxiter, "
                    "or a looser rtol")

    if cycles == 0:
        return out_of_cycles(x, 0, rnorm)

    V = xp.empty((m + 1, n))
    H = np.zeros((m + 1, m))
    cs = np.zeros(m)
    sn = np.zeros(m)
    g = np.zeros(m + 1)
    itn = 0
    cycle = 0
    stop = False
    while True:
        cycle += 1
        V[0] = r * (1.0 / rnorm)
        H[:] = 0.0
        g[:] = 0.0
        g[0] = rnorm
        j = 0
        reason = ""
        status = None
        for j in range(m):
            w = Aap.into(apply_M(V[j]), xp.empty(n))
            cnt["matvecs"] += 1
            itn += 1
            # Arnoldi step: classical Gram-Schmidt, repeated once (CGS2), as BLAS-2 products
            Vj = V[: j + 1]
            h = Vj @ w
            w = w - Vj.T @ h
            h2 = Vj @ w
            w = w - Vj.T @ h2
            hcol = be.to_numpy(h + h2)
            hnext = float(xp.linalg.norm(w))
            if not (np.all(np.isfinite(hcol)) and math.isfinite(hnext)):
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
            if den == 0.0:
                status, reason = Status.BREAKDOWN, (f"breakdown at iteration {itn}: A M v = 0 for a Krylov vector, "
                                                    "so A M is singular. Check A and the preconditioner")
                itn -= 1
                break
            cs[j], sn[j] = H[j, j] / den, H[j + 1, j] / den
            H[j, j], H[j + 1, j] = den, 0.0
            g[j + 1] = -sn[j] * g[j]
            g[j] = cs[j] * g[j]
            est = abs(g[j + 1])
            hist.append(est)
            if R.cb:
                stop = R.stop(x + apply_M(V[: j + 1].T @ xp.asarray(_solve_upper(H, g, j + 1))), itn, est)
            if est <= tol or hnext == 0.0 or stop:
                j += 1
                break
            V[j + 1] = w * (1.0 / hnext)
        else:
            j = m
        if j > 0:
            y = _solve_upper(H, g, j)
            x += apply_M(V[:j].T @ xp.asarray(y))
        if status is not None:
            return done(x, status, itn, rnorm, reason)
        prev = rnorm
        r = R.residual(x)
        rnorm = float(xp.linalg.norm(r))
        hist.buf[hist.n - 1] = rnorm
        if not math.isfinite(rnorm):
            return done(x, Status.NONFINITE, itn, rnorm, C.nonfinite_reason("the residual"))
        if rnorm <= tol:
            return done(x, Status.CONVERGED, itn, rnorm)
        if stop:
            return R.stopped(x, itn, rnorm)
        if cycle >= cycles:
            return out_of_cycles(x, itn, rnorm)
        if rnorm >= prev:
            return done(x, Status.STAGNATED, itn, rnorm,
                        f"stagnated: a full cycle of {m} iterations did not reduce the residual ({rnorm:.3e}). "
                        "Increase restart, or use a preconditioner")
        cnt["restarts"] += 1


def _solve_upper(H, g, j):
    """Solve the ``j x j`` upper-triangular system ``H[:j, :j] y = g[:j]`` (host, small)."""
    import scipy.linalg as sla

    return sla.solve_triangular(H[:j, :j], g[:j], lower=False, check_finite=False)


__all__ = ["gmres"]
