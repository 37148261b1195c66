"""Shared plumbing of the Krylov solvers (input checks: :mod:`._validate`): per-backend vector kernels,
the residual history buffer and result building.

The numerical loops live in :mod:`cg`, :mod:`minres`, :mod:`gmres` and
:mod:`cdm`; they are written once and call the backend's ``krylov`` kernel set
(:func:`kernels`: the readable NumPy reference :mod:`solvers._kernels.numpy.krylov`,
fused Numba kernels, element-wise CuPy kernels), never branching on the backend.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _workspace as _work
from ..operators import base as _ops  # noqa: F401
from ..results import Callback, SolveResult, Status, Timer, stopped_message
from ._validate import _COMPLEX_MSG, System, check_count, check_nonnegative, prepare  # noqa: F401
from ._validate import _as_operator, _as_vector  # noqa: F401  (used by the solvers as C._as_*)


# ------------------------------------------------------------------ kernels
def kernels(be, n: int):
    """The Krylov kernel set of backend ``be`` for vectors of length ``n``
    (``be.kernels("krylov").select(n)``: the kernel module picks serial or parallel kernels)."""
    return be.kernels("krylov").select(n)


# ------------------------------------------------------------------ operators (module _apply)
from ._apply import _F64, Applier, _raw_or_wrapped, _shares, check_vector, describe, diagonal_of_preconditioner  # noqa: E402,F401


# ------------------------------------------------------------------ history
class History:
    """Preallocated float64 buffer (grows by doubling, rarely) for per-iteration values."""

    __slots__ = ("buf", "n")

    def __init__(self, maxiter: int):
        self.buf = np.empty(min(maxiter + 1, 4096))
        self.n = 0

    def append(self, v: float) -> None:
        if self.n == self.buf.shape[0]:
            self.buf = np.concatenate([self.buf, np.empty(self.buf.shape[0])])
        self.buf[self.n] = v
        self.n += 1

    def array(self):
        return self.buf[: self.n].copy()


# ------------------------------------------------------------------ scaling
def sqrt_dot(xp, a, b, dot=None) -> tuple[float, float]:
    """``(d, sqrt|d|)`` for ``d = a . b``, with ``sqrt|d|`` free of under- and overflow.

    ``d`` is exact when it is comfortably inside the double range; otherwise it is
    ``a/max|a| . b/max|b|``: only its sign (and finiteness) are meaningful then. ``dot``: the
    backend's dot kernel (``K.dot``; default ``xp.dot``). The solvers pass it: on the Numba backend a
    threaded BLAS dot between the Numba kernels left OpenBLAS's threads spinning on their cores (MINRES
    10x slower with ``OPENBLAS_NUM_THREADS`` unset).
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):   # out of range: handled below
        d = float((dot or xp.dot)(a, b))
    if 1e-280 < abs(d) < 1e280 or math.isnan(d) or a.size == 0:
        return d, math.sqrt(abs(d))
    ma, mb = float(xp.max(xp.abs(a))), float(xp.max(xp.abs(b)))
    if ma == 0.0 or mb == 0.0:
        return 0.0, 0.0
    if not (math.isfinite(ma) and math.isfinite(mb)):
        return math.nan, math.nan
    ds = float((dot or xp.dot)(a / ma, b / mb))
    return ds, math.sqrt(abs(ds)) * math.sqrt(ma) * math.sqrt(mb)


def norm2(xp, v, dot=None) -> float:
    """``||v||_2`` without under- or overflow (``numpy.linalg.norm`` of a vector is ``sqrt(v.v)``, which
    returns 0 for entries near 1e-160 and inf near 1e160): one dot product when ``v.v`` is comfortably
    inside the double range, else the norm of ``v / max|v|`` times ``max|v|`` (as BLAS ``nrm2`` does).
    ``dot``: the backend's dot kernel, as in :func:`sqrt_dot`."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):   # out of range: handled below
        s = float((dot or xp.dot)(v, v))
    if 1e-280 < s < 1e280:
        return math.sqrt(s)
    if math.isnan(s) or v.size == 0:
        return s if v.size else 0.0
    m = float(xp.max(xp.abs(v)))
    if m == 0.0 or not math.isfinite(m):
        return m
    w = v * (1.0 / m) if m >= 1e-300 else v / m
    return m * math.sqrt(float((dot or xp.dot)(w, w)))


#: right-hand sides with ``max|b|`` inside ``[2^-SCALE_BAND, 2^SCALE_BAND]`` are solved as given; others
#: are first multiplied by a power of two (exact) so that ``max|b|`` lies in ``[1/2, 1)``
SCALE_BAND = 100


def ldexp(v: float, e: int) -> float:
    """``v * 2**e`` for a Python float, ``inf`` on overflow (``math.ldexp`` raises instead)."""
    if e == 0:
        return v
    try:
        return math.ldexp(v, e)
    except OverflowError:
        return math.copysign(math.inf, v)


def scale_exponent(xp, b, amax: float = math.nan) -> int:
    """The exponent ``e`` of the power-of-two scaling ``b -> b * 2^-e`` (0 when ``b`` needs none). Norms and dot
    products of vectors whose largest entry is near 1 neither overflow nor underflow (``||b||^2 <= n``); a power
    of two changes no digit (short of the subnormal range): the scaled solve does the same arithmetic."""
    if b.size == 0:
        return 0
    m = amax if math.isfinite(amax) else float(xp.max(xp.abs(b)))     # amax: max |b| when already measured
    if m == 0.0 or 2.0 ** -SCALE_BAND <= m <= 2.0 ** SCALE_BAND:
        return 0
    return math.frexp(m)[1]


def rounded_back(xp, xs, x, e: int):
    """After ``x = xs * 2^e`` with ``e < 0``: ``x * 2^-e`` (exact) where rounding ``xs`` into the subnormal
    range changed any entry of ``x``, else None (nothing was lost)."""
    if e >= 0 or not xs.size:
        return None
    back = xp.ldexp(x, -e)
    return None if bool(xp.all(back == xs)) else back


SUBNORMAL_ADVICE = ("the solution lies partly in the subnormal range (below 2.2e-308), where double precision keeps "
                    "fewer digits; rounded there, x leaves a residual {true:.3e} > tolerance {tol:.3e} (measured on the "
                    "returned x; the converged solve's relative residual was within rtol): about that residual is "
                    "the attainable accuracy at this scale of b. Multiply b by a power of two (e.g. b * 2**600) and "
                    "divide the solution by it")


# ------------------------------------------------------------------ results
def finish(method, sysm: System, x, status, nit, hist: History, timer, tol, rnorm, *, reason="",
           options=None, extras=None, scale=0, start=None, **stats):
    """Build the :class:`SolveResult` with a message that says what to try on failure. ``x``, ``tol``, ``rnorm``
    and the history are in the units of the solve; ``scale`` is the exponent ``e`` of the right-hand side scaling
    (:func:`scale_exponent`): ``x`` and the residuals are multiplied by ``2^e`` here. ``start``: a callable giving
    the user's ``x0`` (float64), returned instead of an ``x`` that overflows in that multiplication (else zero)."""
    xp = sysm.be.xp
    residuals = hist.array()
    if scale:
        with np.errstate(over="ignore"):     # an overflowing solution: refused below (the start is returned)
            xs, x = x, xp.ldexp(x, scale)
        with np.errstate(over="ignore"):     # a norm beyond the double range (b ~ 1e308 on many points) is inf
            residuals = np.ldexp(residuals, scale)
        back = rounded_back(xp, xs, x, scale) if status == Status.CONVERGED else None
        if back is not None:          # measured on the returned (rounded) x, in the solve's units
            true = norm2(xp, sysm.b - sysm.A.matvec(back))
            if residuals.size:
                residuals[-1] = ldexp(true, scale)
            if not true <= tol:
                status = Status.STAGNATED
                reason = SUBNORMAL_ADVICE.format(true=ldexp(true, scale), tol=ldexp(tol, scale))
            rnorm = true
        tol, rnorm = ldexp(tol, scale), ldexp(rnorm, scale)
        if status == Status.CONVERGED and x.size and not bool(xp.all(xp.isfinite(x))):
            status = Status.NONFINITE
            x = xp.zeros_like(x) if start is None else start()        # a finite x on every exit
            reason = (f"the solution overflows double precision (entries beyond 1.8e308) although the scaled "
                      f"system converged; b has max |b| = 2^{scale - 1} .. 2^{scale}: rescale the problem. x is the "
                      f"start ({'zero' if start is None else 'x0'})")
    converged = status == Status.CONVERGED
    if converged:
        msg = f"{method}: converged in {nit} iterations, residual {rnorm:.3e} <= tolerance {tol:.3e}"
    elif status == Status.MAXITER and not reason:
        try_m = ("a stronger preconditioner" if sysm.M_raw is not None else
                 "a preconditioner (M=solvers.linear.jacobi(A) / solvers.linear.chebyshev(A) / solvers.multigrid(A))")
        msg = (f"{method}: not converged after maxiter={nit} iterations, residual {rnorm:.3e} > tolerance "
               f"{tol:.3e}. Try {try_m}, a larger maxiter or a looser rtol")
        if sysm.M_raw is not None and nit >= 10 and residuals.size > 1 and rnorm >= residuals[0] > 0:
            msg += (f". The residual did not fall over {nit} iterations ({residuals[0]:.3e} at the start): M may be "
                    "badly scaled or not approximate A^-1 (a diagonal M whose entries span many orders of "
                    "magnitude stalls the iteration), or A is ill-conditioned beyond what M corrects")  # (helper-146)
        if sysm.rtol < 1e-14 and sysm.atol == 0.0 and rnorm <= 1e-12 * sysm.bmax * math.sqrt(max(sysm.n, 1)):
            msg = (f"{method}: not converged after maxiter={nit} iterations, residual {rnorm:.3e} > tolerance "
                   f"{tol:.3e}: rtol = {sysm.rtol:.1e} asks for less than double precision's rounding of the residual "
                   "(about 1e-16 ||A|| ||x||), which the residual has about reached; loosen rtol to 1e-14 or more")
            # (rtol=0 read 'try a preconditioner': helper-146)
    elif status == Status.STOPPED:
        msg = reason or stopped_message(method, nit)
    else:
        msg = f"{method}: {reason}"
    st = timer.stats()
    st.update(stats)
    opts = {"rtol": sysm.rtol, "atol": sysm.atol, "maxiter": sysm.maxiter,
            "M": None if sysm.M is None else type(sysm.M_raw).__name__, "x0": sysm.x is not None}
    opts.update(options or {})
    return SolveResult(x, converged, status, msg, nit, history={"residual": residuals}, stats=st,
                       method=method, backend=sysm.be.name, options=opts, provenance=timer.provenance(),
                       **(extras or {}))


class KrylovRun:
    """The set-up every Krylov solver shares: validated inputs, kernels, appliers, history,
    counters, tolerance and result building. Create it with :func:`start`.

    The right-hand side (and ``x0``) are scaled by ``2^-scale`` (:func:`scale_exponent`, 0 for
    ordinary scales) so that no norm under- or overflows; the solvers work in those units
    and :meth:`done`, :meth:`stop` and :meth:`unscale` convert back.
    """

    def __init__(self, method, S: System, counters, options, timer):
        self.method, self.S, self.timer = method, S, timer
        self.be, self.n, self.xp = S.be, S.n, S.be.xp
        self.K = K = kernels(S.be, S.n)
        self.A = Applier(S.A, S.A_raw, S.be, K, "A")
        self.M = Applier(S.M, S.M_raw, S.be, K, "M") if hasattr(S.M, "matvec") else None
        self.hist = History(S.maxiter)
        self.cnt = dict.fromkeys(counters, 0)
        self.options = options
        self.extras = {}              # routine-specific result extras (defaults for every exit)
        self.cb = Callback(None)
        xp = self.xp
        self.scale = e = scale_exponent(xp, S.b, S.bmax)
        if e:                         # exact power-of-two scaling (S.b and S.x are private copies)
            S.b = xp.ldexp(S.b, -e)
            if S.x is not None:
                S.x = xp.ldexp(S.x, -e)
        # ||b|| from the validation's scan of b where b was not rescaled (max |b| within 2^+-SCALE_BAND: b . b
        # neither over- nor underflows), else a pass over the scaled copy
        self.bnorm = math.sqrt(S.bsq if (not e and math.isfinite(S.bsq)) else K.dot(S.b, S.b))
        self.tol = max(S.rtol * self.bnorm, ldexp(S.atol, -e))
        for ap in [p for p in (self.A, self.M) if p is not None and isinstance(S.b, np.ndarray)]:
            ap.protect = S.b

    def unscale(self, v: float, power: int = 1) -> float:
        """A value of the solve (a residual norm: ``power=1``; a curvature ``p^T A p``: 2) in the user's units."""
        return ldexp(v, power * self.scale)

    def unscale_vector(self, v):
        """A vector of the solve (``x``, a direction) in the user's units (a new array when scaled)."""
        return self.xp.ldexp(v, self.scale) if self.scale else v

    def done(self, x, status, nit, rnorm, reason="", extras=None, **counters):
        """The result; ``counters`` override the values in :attr:`cnt` (for solvers counting in locals),
        ``extras`` update :attr:`extras`. A ``nonfinite`` exit whose iterate holds NaN/inf returns the start
        instead (zero or ``x0``): a finite ``x`` is what every exit returns."""
        if status == Status.NONFINITE and not bool(self.xp.all(self.xp.isfinite(x))):
            x0 = getattr(self, "x0_input", None)
            x = self.xp.zeros(self.n) if x0 is None else self.xp.ldexp(
                self.xp.array(self.be.asarray(x0), dtype=self.xp.float64).reshape(-1), -self.scale)
            reason = (reason + " " if reason else "") + ("x is the start (" + ("zero" if x0 is None else "x0")
                                                         + "): the iterate itself became non-finite")
        x0 = getattr(self, "x0_input", None)
        start = (None if x0 is None else   # (made by finish only when the multiplication overflows)
                 lambda: self.xp.array(self.be.asarray(x0), dtype=self.xp.float64).reshape(-1))
        return finish(self.method, self.S, x, status, nit, self.hist, self.timer, self.tol, rnorm, reason=reason,
                      options=self.options, extras={**self.extras, **(extras or {})}, scale=self.scale, start=start,
                      **{**self.cnt, **counters})

    def stop(self, x, nit, rnorm, **fields) -> bool:
        """Call the user callback (when there is one) after iteration ``nit``; True means: stop
        (the callback raised ``StopIteration``). The callback sees ``x`` and the residual in its units."""
        if not self.cb:
            return False
        if self.scale:
            return self.cb(self.xp.ldexp(x, self.scale), nit, _fresh=True, residual=self.unscale(rnorm), **fields)
        return self.cb(x, nit, residual=rnorm, **fields)

    def stopped(self, x, nit, rnorm):
        """The result of a solve stopped by its callback."""
        return self.done(x, Status.STOPPED, nit, rnorm, stopped_message(self.method, nit))

    def apply_M(self, v):
        """``M v`` into fresh solver-owned storage (``v`` itself without a preconditioner), counted."""
        if self.M is None:
            return v
        self.cnt["precond_applications"] += 1
        return self.M.into_owned(v, self.xp.empty(self.n))

    def residual(self, x):
        """``b - A x`` as a fresh array; the matvec is skipped while ``x`` is still the zero initial guess."""
        if self.S.x is None and self.cnt["matvecs"] == 0:
            return self.S.b.copy()
        self.cnt["matvecs"] += 1
        return self.S.b - self.A.into(x, self.xp.empty(self.n))

    def dot_norm(self, v) -> float:      # ``||v||_2`` from the backend's dot kernel
        return math.sqrt(self.K.dot(v, v))

    def norm(self, v) -> float:          # ``||v||_2`` without under- or overflow (norm2, the backend's dot)
        return norm2(self.xp, v, self.K.dot)

    def x0_reason(self, r=None) -> str:
        """What a non-finite initial residual means (``r``: the initial residual vector, when formed)."""
        if self.S.x is None:
            return nonfinite_reason("the right-hand side b")
        rmax = float(self.xp.max(self.xp.abs(r))) if r is not None and r.size else math.nan
        if math.isfinite(rmax):            # every entry finite, only the norm's squares overflow (helper-125)
            return (f"max |b - A x0| = {rmax:.3e} is finite but ||b - A x0|| overflows: x0 is far outside the scale "
                    "of the solution for this b; pass x0=None, or scale b and x0 down by a power of two")
        return nonfinite_reason("A @ x0" + (f" (b and x0 were scaled by 2^{-self.scale} to keep norms finite; x0 is far "
                                            "outside the scale of the solution for this b: pass x0=None or a rescaled "
                                            "x0)" if self.scale else ""))

    def begin(self, norm=None, first=None, zero_x=True, x_written=False):
        """The zero right-hand side and initial-residual checks: an early :class:`SolveResult` (``b = 0``, non-finite
        or converged initial residual) or ``(x, r, rnorm)``, ``x`` zero or the ``x0`` copy. ``norm(r)``: default
        :meth:`dot_norm`; ``first(x) -> (r, rnorm)`` replaces :meth:`residual` and ``norm``. ``zero_x=False`` (with a
        ``first`` that does not read ``x``): without ``x0``, ``x`` is returned unwritten, for a solver whose first
        update writes it whole (CG: ``x = alpha p``) and zeroes it before any other use. Early exits return zeros.
        ``x_written=True`` (with a ``first`` that writes ``x`` whole before reading it: CG's multigrid start):
        without ``x0``, ``first`` gets ``x`` unwritten (one pass fewer than zeroing it first), and ``x`` is what
        ``first`` wrote, early exits included."""
        xp, n = self.xp, self.n
        if self.bnorm == 0.0:
            self.hist.append(0.0)
            return self.done(xp.zeros(n), Status.CONVERGED, 0, 0.0)
        written = self.S.x is None and x_written and first is not None
        unset = self.S.x is None and not zero_x and first is not None and not written   # (pooled: solvers._workspace)
        x = (_work.empty(xp, n) if (unset or written) else _work.zeros(xp, n)) if self.S.x is None else self.S.x
        if first is not None:
            r, rnorm = first(x)
        else:
            r = self.residual(x)
            rnorm = (norm or self.dot_norm)(r)
        self.hist.append(rnorm)
        if unset and not (math.isfinite(rnorm) and rnorm > self.tol):
            x[...] = 0.0
        if not math.isfinite(rnorm):
            return self.done(x, Status.NONFINITE, 0, rnorm, self.x0_reason(r))
        if rnorm <= self.tol:
            return self.done(x, Status.CONVERGED, 0, rnorm)
        return x, r, rnorm


def start(method, A, b, x0, M, backend, rtol, atol, maxiter, *, counters=("matvecs", "precond_applications"),
          options=None, allow_callable_M=False, callback=None) -> KrylovRun:
    """Validate the inputs (:func:`prepare`), start the timer and build the shared :class:`KrylovRun`
    (``callback`` is wrapped in :class:`~solvers.results.Callback`, see :meth:`KrylovRun.stop`)."""
    cb = Callback(callback)
    S = prepare(A, b, x0, M, backend, rtol, atol, maxiter, allow_callable_M=allow_callable_M)
    R = KrylovRun(method, S, counters, options, Timer(S.be))
    R.cb, R.x0_input = cb, x0        # x0_input: the caller's array, untouched (S.x is the copy the iteration updates)
    return R


def nonfinite_reason(what: str) -> str:
    return (f"a non-finite value (NaN/inf) appeared in {what}; the operator or preconditioner produced NaN/inf for a "
            "finite input, or the iteration overflowed. Check A and M (e.g. with solvers.dot_test) and rescale the system")


__all__ = ["prepare", "start", "KrylovRun", "kernels", "Applier", "History", "finish", "System",
           "diagonal_of_preconditioner", "nonfinite_reason", "check_vector", "check_nonnegative", "check_count",
           "describe", "scale_exponent", "ldexp", "norm2", "sqrt_dot"]
