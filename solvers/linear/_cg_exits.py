"""The exits of :func:`solvers.linear.cg` that need a diagnosis: divergence, breakdowns, a residual that grew,
stagnation after residual replacement, a failed preconditioner -- each returns the result with a message that
names the cause the evidence points to (a symmetry probe of ``A``, a condition estimate from CG's own
coefficients, the diagonal's spread) and the iterate to return (the start, the best one seen)."""
from __future__ import annotations

import math

import numpy as np

from ..results import Status
from . import _common as C

#: a maxiter exit whose residual ended above this multiple of the initial one says that A may not be SPD
GREW_FACTOR = 10.0
#: a breakdown (p^T A p <= 0) whose iterate's residual is above this multiple of the initial one returns the start,
#: the better of the two (a singular A with b outside its range; an indefinite A). 1e3 returned an iterate 900x
#: worse than the start on a pure-Neumann problem with b off its range by 1e-6 (helper-150)
BREAKDOWN_WORSE = 1.0
#: a breakdown after a residual growth beyond this factor names a singular A with b off its range as a cause
NEUMANN_GROWTH = 100.0
#: below this many iterations a grown residual is not taken as evidence that A or M is not positive definite
FEW_ITERATIONS = 10
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
#: the same for the preconditioner, far looser: an inverse-type SPD M (a dense inverse, an LU solve) is
#: symmetric only to about eps * cond(M) (8.5e-8 at cond 1e12, 2.5e-6 - 8.5e-6 at 1e14; helper-96), while the
#: non-symmetric preconditioners met in practice sit far above (forward Gauss-Seidel (D + L)^-1 on 1-D
#: Poisson 7.6e-3 by this probe)
M_SYMMETRY_PROBE_TOL = 1e-3


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
    why = (" (a near-zero curvature step of an indefinite A, or a singular A with b outside its range, e.g. a "
           "pure-Neumann problem whose right-hand side does not sum to zero: remove that component, b - mean(b))"
           if rnorm > NEUMANN_GROWTH * r0 else "")       # (named at a 1.6x growth on an indefinite diagonal)
    return done(_start_point(R, b, x, x_start, start_from), Status.BREAKDOWN, k - 1, r0,
                f"{reason}. The residual had grown to {rnorm / r0:.1e} times its initial value first{why}; res.x is "
                "the starting point, whose residual is smaller", **extras)


def _diverged(done, R, b, x, x_start, start_from, k, rnorm, r0, Aap):
    """Return the starting point (its residual ``r0``), status ``diverged``, and say why (a symmetry probe of
    ``A`` first: a non-symmetric, non-singular A diverged too and was called singular or indefinite, helper-86)."""
    x_start = _start_point(R, b, x, x_start, start_from)
    R.hist.buf[R.hist.n - 1] = r0
    spread = _diagonal_spread(R.A.op, R.be)
    head = (f"diverged at iteration {k}: the residual grew to {rnorm / r0:.1e} times its initial value. On a "
            "symmetric positive definite A the residual stays below sqrt(cond(A)) times the initial one, so ")
    asym = _asymmetry(R, Aap)
    masym = _m_asymmetry(R)
    if math.isfinite(asym) and asym > SYMMETRY_PROBE_TOL:       # (NaN: the probe overflowed, no evidence)
        why = (f"here A is not symmetric (a probe gave |u^T A v - v^T A u| = {asym:.1e} relative), and CG needs a "
               "symmetric positive definite A. res.x is the starting point. Use solvers.gmres")
    elif masym > M_SYMMETRY_PROBE_TOL:
        why = _m_not_symmetric(masym) + " res.x is the starting point."
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
    with np.errstate(over="ignore"):           # (1e200 / 1e-200: inf, without a RuntimeWarning; helper-137)
        return float(d.max() / d.min())


def _stagnated_reason(R, checks, best):
    tol = R.unscale(R.tol)
    return (f"stagnated: the recursively updated residual reached the tolerance {tol:.3e} {len(checks)} time(s), "
            f"but the true residual ||b - A x|| of x did not (after residual replacement: "
            + ", ".join(f"{R.unscale(c):.3e}" for c in checks)
            + f"). The attainable accuracy in double precision for this system is about {R.unscale(best):.3e} "
            f"({best / R.bnorm:.1e} of ||b||); res.x is the iterate with that true residual. Loosen rtol to at least "
            f"{best / R.bnorm:.1e} (or atol to {R.unscale(best):.1e}), or improve the conditioning (preconditioner M, "
            "rescaling A)")


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
    masym = _m_asymmetry(R)
    if masym > M_SYMMETRY_PROBE_TOL:        # (a non-symmetric M was reported as too weak a preconditioner)
        return head + "A passed a symmetry probe, but " + _m_not_symmetric(masym)
    cond, need = _lanczos_cond(lanczos), (rnorm / r0) ** 2
    what = "M^-1 A" if R.M is not None else "A"
    advice = ("a stronger preconditioner M" if R.M is not None else "a preconditioner M (solvers.linear.multigrid."
              "multigrid(A), jacobi(A); solvers.solve(problem, precond='mg'))")
    why = ("(CG minimises the A-norm of the error; its residual can grow by up to sqrt(cond)). Use " + advice
           + ", or solvers.minres, which minimises the residual")
    if math.isfinite(cond) and cond >= need:
        return head + (f"A passed a symmetry probe and the condition number of {what} estimated from CG's "
                       f"coefficients is at least {cond:.1e}, enough to explain the growth {why}")
    spread = _diagonal_spread(R.A.op, R.be) if R.M is None else None
    if spread is not None and spread >= need:       # (CG's estimate missed it: an SPD Poisson matrix with k
        return head + (f"A passed a symmetry probe and its diagonal spans a factor {spread:.1e}, so cond(A) is at "
                       f"least that, enough to explain the growth {why}")    # jumping 1e-6 .. 1e6; helper-137)
    if k < FEW_ITERATIONS:     # (an SPD A of cond 1e6 at maxiter=1 was told it may not be definite: helper-149)
        return head + (f"A passed a symmetry probe; after {k} iteration(s) CG's coefficients cannot tell an "
                       f"ill-conditioned {what} (CG minimises the A-norm of the error; its residual can grow by up "
                       "to sqrt(cond)) from one that is not positive definite. Raise maxiter, use " + advice
                       + ", or solvers.minres, which minimises the residual")
    return head + ("A passed a symmetry probe, but A or M may not be positive definite (or M not symmetric), which "
                   "CG needs: for a symmetric indefinite A use solvers.minres, for any other solvers.gmres")


def _m_asymmetry(R) -> float:
    """The symmetry probe of the preconditioner (0 without one, or when a product is not finite)."""
    if R.M is None:
        return 0.0
    a = _asymmetry(R, R.M)
    return a if math.isfinite(a) else 0.0


def _m_not_symmetric(masym) -> str:
    return (f"the preconditioner M is not symmetric (a probe gave |u^T M v - v^T M u| = {masym:.1e} relative), and "
            "CG needs a symmetric positive definite M. Use a symmetric preconditioner (a multigrid V-cycle is "
            "symmetric when its post-smoothing mirrors its pre-smoothing), or solvers.gmres, which takes any M")


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
