"""MINRES for symmetric (possibly indefinite) systems, with an SPD preconditioner."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..results import Status
from . import _common as C
from ._cg_exits import _diagonal_spread

_EPS = 2.220446049250313e-16
#: ``||A r|| < _NEAR_LSQ ||A|| ||r||``: the iterate is close to a least-squares solution and is checked
_NEAR_LSQ = 1e-6
#: a maxiter exit whose residual has r^T M r / r^T r below this times a random vector's names a singular M
_M_NULL = 1e-10


def minres(A, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int | None = None, M=None,
           callback: Callable | None = None, backend=None):
    """Solve ``A x = b`` for symmetric, possibly indefinite ``A`` by MINRES.

    Parameters
    ----------
    A : array, sparse matrix or operator
        Symmetric ``n x n`` (indefinite and singular-but-consistent allowed,
        e.g. KKT / saddle-point matrices). Symmetry is assumed, not checked;
        for non-symmetric ``A`` use :func:`solvers.gmres`.
    b : array, shape (n,)
    x0 : array, optional
    rtol, atol : float
        Stop when ``||b - A x||_2 <= max(rtol * ||b||_2, atol)``. Without ``M``
        the residual 2-norm is MINRES's recurrence ``phibar``; with ``M`` a
        recursively updated residual vector is carried (MINRES itself only
        knows the ``M``-norm). A claimed convergence is confirmed with an
        explicit residual ``b - A x``; if that fails the iteration restarts
        from the current ``x``.
    maxiter : int, optional
        Default ``10 n``.
    M : operator, optional
        **SPD** preconditioner approximating ``A^{-1}``. An indefinite ``M`` is
        detected (``r^T M r < 0``) and reported as a breakdown.
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
        ``history["residual"]`` as described under ``rtol`` (``nit + 1``
        entries, the initial residual first); ``stats``:
        ``time_s``, ``matvecs``, ``precond_applications``, ``restarts``.

    References
    ----------
    C. C. Paige and M. A. Saunders, "Solution of sparse indefinite systems of
    linear equations", SIAM J. Numer. Anal. 12(4), 617-629 (1975).
    """
    R = C.start("minres", A, b, x0, M, backend, rtol, atol, maxiter,
                counters=("matvecs", "precond_applications", "restarts"), callback=callback)
    S, n, xp, K, Aap, Map, hist, cnt, tol = R.S, R.n, R.xp, R.K, R.A, R.M, R.hist, R.cnt, R.tol
    done, apply_M = R.done, R.apply_M
    init = R.begin(norm=R.norm)
    if not isinstance(init, tuple):
        return init
    x, r, rnorm = init
    # the best iterate known by its true residual: the start, then iterates checked near least-squares points
    best = [rnorm, None if S.x is None else x.copy(), 0, rnorm]   # residual, iterate, iteration, next check

    def best_of(x, status, itn, rnorm, reason="", known=False):
        """A non-converged exit with true residual ``rnorm``: ``x``, or the best iterate when that is better
        (``known``: ``reason`` already names the cause)."""
        if not rnorm > best[0]:
            return done(x, status, itn, rnorm, reason)
        hist.buf[hist.n - 1] = best[0]
        xb = best[1] if best[1] is not None else xp.zeros(n)
        return done(xb, status, itn, best[0], (reason + "; " if reason else "") + (
            f"res.x is the iterate of iteration {best[2]}, whose true residual is the smallest seen (the last "
            f"iterate's is {R.unscale(rnorm):.3e})" + ("" if known else unknown_cause())))

    def unknown_cause():
        """(An SPD Poisson matrix with k jumping 1e-8 .. 1e8 heard 'A may not be symmetric ... use gmres' though it
        was declared symmetric; Jacobi solved it in 53 iterations: helper-146)"""
        spread = _diagonal_spread(Aap.op, R.be) if S.M is None else None
        if spread is not None and spread >= 1e8:
            return (f": A's diagonal spans a factor {spread:.1e}, so cond(A) is at least that and rounding limits "
                    "what MINRES reaches; precondition it (M=solvers.linear.jacobi(A) scales the diagonal to 1; "
                    "solvers.solve(problem, precond='mg') for a PDE)")
        d = None if S.M is None else C.diagonal_of_preconditioner(S.M)
        d = None if d is None else np.abs(np.asarray(R.be.to_numpy(d), dtype=float))
        if d is not None and d.size and d.min() > 0 and d.max() >= 1e8 * d.min():
            return (f": the preconditioner's diagonal spans a factor {d.max() / d.min():.1e}, so M is too "
                    "ill-conditioned for the residual to fall in double precision; use a better-scaled M")
        sym = getattr(Aap.op, "symmetric", False)
        return (": " + ("" if sym else "A or M may not be symmetric (MINRES needs a symmetric A and M), or ")
                + "b is not in the range of a singular A (an inconsistent system, which has no solution); use "
                + ("gmres for a least-squares approximation" if sym else
                   "gmres (non-symmetric A, or a least-squares approximation)"))

    def diagnosis(x, r, itn, lead=None):
        """The cause of a maxiter exit where the evidence shows one (else ``""``): ``M`` maps the residual to
        (nearly) zero (a singular M: that component is never reduced), or ``A r = 0`` (the residual lies in the
        null space of the symmetric A: b has a component outside range(A), and x is a least-squares solution)."""
        rn = R.norm(r)
        if not rn > 0.0:
            return ""
        if S.M is not None:
            u = xp.asarray(R.be.asarray(np.random.default_rng(7).standard_normal(n)))
            rmr, umu = K.dot(r, apply_M(r.copy())), K.dot(u, apply_M(u.copy()))
            if math.isfinite(rmr) and umu > 0 and abs(rmr) / rn ** 2 <= _M_NULL * umu / K.dot(u, u):
                lead = lead or f"not converged after maxiter={itn} iterations"
                return (f"{lead}: the preconditioner maps the residual to (nearly) "
                        f"zero (r^T M r / r^T r = {rmr / rn ** 2:.1e}, against {umu / K.dot(u, u):.1e} for a random "
                        "vector), so M is singular or not positive definite and that component of the residual is "
                        "never reduced (MINRES needs an SPD M). Use an SPD preconditioner")
        ar = R.norm(Aap.into(r, xp.empty(n)))
        cnt["matvecs"] += 1
        anorm = anorm_seen[0]
        if S.M is not None:   # the Lanczos estimate is of the preconditioned operator's norm (a diagonal M spanning
            u = xp.asarray(R.be.asarray(np.random.default_rng(8).standard_normal(n)))   # 1e-6 .. 1e6 made a
            anorm = R.norm(Aap.into(u, xp.empty(n))) / R.norm(u)        # nonsingular A 'singular': helper-146)
            cnt["matvecs"] += 1
        if math.isfinite(ar) and anorm > 0.0 and ar <= _NEAR_LSQ * anorm * rn:
            return (f"not converged after maxiter={itn} iterations: the residual r = b - A x lies in the null space "
                    f"of A (||A r|| = {ar / (anorm * rn):.1e} ||A|| ||r||): A is singular (or nearly so) and b "
                    "has a component outside range(A), so A x = b has no solution and x is a least-squares solution "
                    f"(its residual {R.unscale(rn):.3e} cannot be reduced). Remove that component of b, or accept the "
                    "least-squares solution")
        return ""

    itn = 0
    anorm_seen = [0.0]        # the Lanczos estimate of ||A|| at a maxiter exit (for diagnosis)
    floor = [rnorm, 0, 1]     # the residual at its last halving, that iteration, how long that halving took
    failed_checks = 0
    stop = False
    # overflow in a diverging recurrence (a singular, inconsistent system) is caught by the finiteness checks
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            # ---- start (or restart) the Lanczos process from the residual r
            cycle_r0 = rnorm                 # the recurrence's rounding level scales with it (a far x0: >> ||b||)
            r1 = r.copy()
            y = apply_M(r1)
            beta1, beta1_root = C.sqrt_dot(xp, r1, y, K.dot)      # r^T M r and its root, free of under/overflow
            if not math.isfinite(beta1):
                return done(x, Status.NONFINITE, itn, rnorm, C.nonfinite_reason("M r"))
            if beta1 <= 0.0:
                return done(x, Status.BREAKDOWN, itn, rnorm,
                            f"breakdown at iteration {itn}: r^T M r = {beta1:.3e} <= 0, so the preconditioner M is not "
                            "symmetric positive definite (MINRES needs an SPD M). Use an SPD preconditioner or gmres")
            beta1 = beta1_root
            oldb, beta, dbar, epsln, phibar = 0.0, beta1, 0.0, 0.0, beta1
            anorm = 0.0
            cs, sn = -1.0, 0.0
            r2 = r1
            w = xp.zeros(n)
            w2 = xp.zeros(n)
            track = Map is not None          # carry the true residual vector
            if track:
                aw = xp.zeros(n)
                aw2 = xp.zeros(n)
            status = None
            vbuf, avbuf = xp.empty(n), xp.empty(n)     # v and A v, rewritten every iteration (no temporaries)
            while itn < S.maxiter:
                itn += 1
                v = xp.multiply(y, 1.0 / beta, out=vbuf)
                # kept past M r2 below when tracked: not in the operator's storage, which M may share
                av = (Aap.into_owned if track else Aap.into)(v, avbuf)
                cnt["matvecs"] += 1
                # never update av in place: it may be the operator's own storage
                if oldb == 0.0:                            # a cycle's first step (r1 is r2 there)
                    y = av.copy()
                else:                                      # y = av - (beta / oldb) r1 in r1's memory (dead after)
                    K.xpby(av, -(beta / oldb), r1)
                    y = r1
                alfa = K.dot(v, y)
                K.axpy(-(alfa / beta), r2, y)
                r1, r2 = r2, y
                y = apply_M(r2)
                oldb = beta
                beta2, beta_root = C.sqrt_dot(xp, r2, y, K.dot)
                if not math.isfinite(beta2) or not math.isfinite(alfa):
                    status, reason = Status.NONFINITE, C.nonfinite_reason(f"the Lanczos recurrence at iteration {itn}")
                    itn -= 1
                    break
                if beta2 < 0.0:
                    status = Status.BREAKDOWN
                    reason = (f"breakdown at iteration {itn}: r^T M r = {beta2:.3e} < 0, so the preconditioner M is "
                              "not symmetric positive definite (MINRES needs an SPD M). Use an SPD preconditioner "
                              "or gmres")
                    itn -= 1
                    break
                beta = beta_root
                anorm = max(anorm, abs(alfa), beta)
                # apply the previous rotation, then a new one to annihilate beta
                oldeps = epsln
                delta = cs * dbar + sn * alfa
                gbar = sn * dbar - cs * alfa
                epsln = sn * beta
                dbar = -cs * beta
                # ||A r|| / (||A|| ||r||) small (Paige-Saunders' test2): x is near a least-squares solution; on a singular
                # inconsistent system it then drifts off while phibar keeps falling: keep the iterate if it is the best
                # (checked by its true residual, once per tenfold fall of phibar)
                if math.hypot(gbar, dbar) < _NEAR_LSQ * anorm and phibar <= best[3]:
                    best[3] = 0.1 * phibar
                    rt = R.norm(R.residual(x))
                    if rt < best[0]:
                        best[:3] = [rt, x.copy(), itn - 1]
                gamma = max(math.hypot(gbar, beta), _EPS * anorm)     # floor relative to the scale of A
                if not gamma > 0.0:            # A v = 0 from the start: r0 lies in the null space of A
                    status = Status.STAGNATED
                    reason = (f"the residual b - A x0 lies in the null space of A (A r0 = 0, iteration {itn}), so no "
                              "step of MINRES can reduce it: the system is inconsistent (b has a component outside "
                              "range(A)) and x0 is already a least-squares solution")
                    itn -= 1
                    break
                cs, sn = gbar / gamma, beta / gamma
                phi = cs * phibar
                phibar = sn * phibar

                # w = (v - oldeps w1 - delta w2) / gamma in the memory of w1 (dead after), x += phi w: one pass
                w1, w2 = w2, w
                K.minres_update(v, w1, w2, x, oldeps, delta, 1.0 / gamma, phi)
                w = w1
                if track:
                    aw1, aw2 = aw2, aw
                    K.minres_update(av, aw1, aw2, r, oldeps, delta, 1.0 / gamma, -phi)   # and r -= phi A M w
                    aw = aw1
                    rnorm = R.norm(r)
                else:
                    rnorm = abs(phibar)
                hist.append(rnorm)
                stop = R.stop(x, itn, rnorm)
                if not math.isfinite(rnorm):
                    status, reason = Status.NONFINITE, C.nonfinite_reason(f"the residual at iteration {itn}")
                    break
                if rnorm <= tol or beta == 0.0:
                    status = "check"
                    break
                if rnorm < 0.5 * floor[0]:         # progress: the residual halved
                    floor[:] = [rnorm, itn, max(itn - floor[1], 1)]
                elif (floor[0] <= FLOOR_LEVEL * max(R.bnorm, cycle_r0)
                      and itn - floor[1] >= max(FLOOR_WINDOW, FLOOR_SLOWDOWN * floor[2])):
                    status = "floor"             # at the rounding level and no longer falling: rtol is out of reach
                    break
                if stop:
                    return R.stopped(x, itn, rnorm)
            if status is None:                 # the true residual of x, not the recurrence's, decides and is reported
                r = R.residual(x)
                rnorm = R.norm(r)
                hist.buf[hist.n - 1] = rnorm
                anorm_seen[0] = anorm
                why = diagnosis(x, r, itn)
                return best_of(x, Status.MAXITER, itn, rnorm, why, known=bool(why))
            if status == "floor":
                rnorm = R.norm(R.residual(x))
                hist.buf[hist.n - 1] = rnorm
                if rnorm <= tol:
                    return done(x, Status.CONVERGED, itn, rnorm)
                if (cycle_r0 > R.bnorm and rnorm < FLOOR_RESTART * cycle_r0 and failed_checks < 3
                        and itn < S.maxiter and not stop):
                    # the floor was set by this cycle's large start (x0 far from the solution): a restart
                    # from the true residual lowers it (probe 25: 5600 iterations to maxiter instead)
                    r = R.residual(x)
                    failed_checks += 1
                    cnt["restarts"] += 1
                    floor[:] = [rnorm, itn, 1]
                    continue
                if rnorm > LOST_TOUCH * floor[0] and rnorm > FLOOR_LEVEL * max(R.bnorm, cycle_r0):
                    # not rounding: x drifted from the recurrence (helper-150)
                    return best_of(x, Status.STAGNATED, itn, rnorm, (
                        f"stagnated at iteration {itn}: the MINRES recurrence's residual fell to "
                        f"{R.unscale(floor[0]):.3e} ({floor[0] / R.bnorm:.1e} of ||b||) and stopped falling, but the "
                        f"true residual of the last iterate is {R.unscale(rnorm):.3e}: the recurrence no longer "
                        "describes the iterate (rounding in an ill-conditioned A: loosen rtol / atol; or see below)"))
                return best_of(x, Status.STAGNATED, itn, rnorm, (
                    f"stagnated at iteration {itn}: the residual has not halved in {itn - floor[1]} iterations; "
                    f"the true residual of x is {R.unscale(rnorm):.3e} ({rnorm / R.bnorm:.1e} of ||b||), about the "
                    f"rounding level of this system in double precision and above the tolerance "
                    f"{R.unscale(tol):.3e}: loosen rtol / atol"))
            if status == Status.NONFINITE and S.M is not None:
                # a singular M runs the Lanczos recurrence into 0/0 while A, M and x stay finite: name M (a diagonal M
                # with 50 zeros was reported as 'the operator or preconditioner produced NaN/inf'; helper-157)
                r = R.residual(x)
                rt = R.norm(r)
                why = diagnosis(x, r, itn, f"breakdown at iteration {itn + 1}: the Lanczos recurrence ran into a "
                                           "non-finite value") if math.isfinite(rt) else ""
                if why:
                    hist.buf[hist.n - 1] = rt
                    return best_of(x, Status.BREAKDOWN, itn, rt, why, known=True)
            if status != "check":
                return done(x, status, itn, rnorm, reason)
            # ---- confirm with the explicit residual
            r = R.residual(x)
            rnorm = R.norm(r)
            hist.buf[hist.n - 1] = rnorm
            if rnorm <= tol:
                return done(x, Status.CONVERGED, itn, rnorm)
            if stop:
                return R.stopped(x, itn, rnorm)
            failed_checks += 1
            if failed_checks >= 3 or itn >= S.maxiter:
                st = Status.STAGNATED if failed_checks >= 3 else Status.MAXITER
                return best_of(x, st, itn, rnorm,
                            f"the MINRES recurrence claimed convergence but the explicit residual {R.unscale(rnorm):.3e} "
                            f"exceeds the tolerance {R.unscale(tol):.3e} (A may not be symmetric, or the tolerance is near machine "
                            "precision for this conditioning). Try gmres or a looser rtol")
            cnt["restarts"] += 1


#: MINRES stops as stagnated when its residual is below FLOOR_LEVEL ||b|| (about the rounding level of a
#: moderately conditioned system; above it the run goes on to maxiter as before) and has not halved for
#: max(FLOOR_WINDOW, FLOOR_SLOWDOWN x the iterations its previous halving took): with rtol = 0 or 1e-16 and
#: a multigrid M it ran the whole 10 n budget (39 690 iterations on 63^2) where cg and gmres stopped in ~100
FLOOR_LEVEL = 1e6 * 2.220446049250313e-16
FLOOR_WINDOW = 50
FLOOR_SLOWDOWN = 10
#: at the floor, MINRES restarts from the true residual when that is below FLOOR_RESTART x the cycle's starting
#: residual and the cycle began above ||b|| (a far x0 sets a floor of eps ||r0||, which a restart lowers)
FLOOR_RESTART = 1e-3
#: at the floor, a true residual above LOST_TOUCH x the recurrence's (and above the floor) is not the recurrence's
#: rounding: an inconsistent singular system (the iterate drifts along the null space while the recurrence settles
#: at the least-squares residual), or an ill-conditioned A whose rounding the recurrence does not see
LOST_TOUCH = 1e3

__all__ = ["minres"]
