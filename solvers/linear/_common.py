"""Shared plumbing of the Krylov solvers: input checks, per-backend vector kernels,
the residual history buffer and result building.

The numerical loops live in :mod:`cg`, :mod:`minres`, :mod:`gmres` and
:mod:`cdm`; they are written once and call the backend's ``krylov`` kernel set
(:func:`kernels`: the readable NumPy reference :mod:`solvers._kernels.numpy.krylov`,
fused Numba kernels, element-wise CuPy kernels), never branching on the backend.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends as _backends
from ..operators import base as _ops
from ..results import Callback, SolveResult, Status, Timer, stopped_message

_COMPLEX_MSG = ("complex systems are not supported by the newtonkit Krylov solvers; solve the real "
                "equivalent [[Re A, -Im A], [Im A, Re A]] [Re x; Im x] = [Re b; Im b] instead")


# ------------------------------------------------------------------ kernels
def kernels(be, n: int):
    """The Krylov kernel set of backend ``be`` for vectors of length ``n``
    (``be.kernels("krylov").select(n)``: the kernel module picks serial or parallel kernels)."""
    return be.kernels("krylov").select(n)


# ------------------------------------------------------------------ operators
def _raw_or_wrapped(obj, op):
    """Return the object whose optional fast methods should be used."""
    return obj if (hasattr(obj, "matvec_into") or hasattr(obj, "matvec_dot")) else op


class Applier:
    """Apply an operator into preallocated storage, using its optional fast methods.

    ``A.matvec_dot(x, out)`` (writes ``A x`` to ``out`` and returns ``x . A x``)
    and ``A.matvec_into(x, out)`` are used when present and the kernel set says so
    (``K.FAST_OPERATOR_METHODS``; the NumPy reference always calls the plain
    ``matvec``). Products from ``matvec`` pass through ``K.as_vector`` (the layout
    the kernels compile for).
    """

    def __init__(self, op, raw, be, K):
        self.op = op
        self.K = K
        fast = K.FAST_OPERATOR_METHODS
        src = _raw_or_wrapped(raw, op)
        self._dot = getattr(src, "matvec_dot", None) if fast else None
        self._into = getattr(src, "matvec_into", None) if fast else None
        self._asvec = K.as_vector

    def into(self, x, out):
        """Return ``A x``, written into ``out`` when the operator allows it."""
        if self._into is not None:
            self._into(x, out)
            return out
        return self._asvec(self.op.matvec(x))

    def with_dot(self, x, out):
        """Return ``(A x, x . A x)``."""
        if self._dot is not None:
            return out, float(self._dot(x, out))
        y = self.into(x, out)
        return y, self.K.dot(x, y)


def diagonal_of_preconditioner(M):
    """The vector ``d`` when ``M`` acts as ``diag(d)`` (Jacobi / diagonal operator), else None."""
    d = getattr(M, "inv_diagonal", None)
    if d is not None:
        return d
    if isinstance(M, _ops.DiagonalOperator):
        return M.d
    return None


# ------------------------------------------------------------------ validation
@dataclass
class System:
    A: Any            # LinearOperator
    A_raw: Any        # what the user passed (for optional fast methods)
    b: Any
    x: Any            # initial guess (float64 copy, writable) or None when x0 is None
    M: Any            # LinearOperator or None
    M_raw: Any
    be: Any
    n: int
    maxiter: int
    rtol: float
    atol: float


def _check_finite_array(xp, a, name):
    if a.size and not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"{name} contains NaN or inf; pass finite values")


def _check_operator_finite(op, be, name):
    """Check the stored entries of dense / sparse / diagonal operators (others cannot be checked).

    The scan runs once per operator: a passed check is remembered on the operator
    (``op._finite_checked``; operators are immutable in practice, see
    :mod:`solvers.operators.base`), so a Newton loop that calls a solver with the
    same operator many times scans its matrix once.
    """
    if getattr(op, "_finite_checked", False):
        return
    xp = be.xp
    data = None
    if isinstance(op, _ops.DenseOperator):
        data = op.A
    elif isinstance(op, _ops.SparseOperator):
        data = op.A.data
    elif isinstance(op, _ops.DiagonalOperator):
        data = op.d
    if data is not None:
        _check_finite_array(xp, data, name)
        op._finite_checked = True


def _is_complex_dtype(dt) -> bool:
    return dt is not None and np.issubdtype(np.dtype(dt), np.complexfloating)


def _as_vector(be, v, n, name, shape_of_A):
    xp = be.xp
    if not hasattr(v, "shape"):
        v = np.asarray(v)
    if _is_complex_dtype(v.dtype):
        raise TypeError(f"{name} is complex: {_COMPLEX_MSG}")
    if not (np.issubdtype(np.dtype(v.dtype), np.number) or np.dtype(v.dtype) == np.bool_):
        raise TypeError(f"{name} must be a numeric array, got dtype {v.dtype}")
    v = be.asarray(v)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v.reshape(-1)
    if v.shape != (n,):
        raise ValueError(f"{name} has shape {tuple(v.shape)}, expected ({n},) to match A with shape {shape_of_A}")
    v = xp.array(v, dtype=xp.float64, order="C", copy=True)
    _check_finite_array(xp, v, name)
    return v


def _as_operator(obj, be, name):
    if isinstance(obj, _ops.LinearOperator):
        return _ops.aslinearoperator(obj, backend=be)
    try:
        return _ops.aslinearoperator(obj, backend=be)
    except TypeError:
        if callable(obj):
            raise TypeError(f"{name} is a plain callable; wrap it as an operator with "
                            f"solvers.operators.FunctionOperator(shape, matvec), or use solvers.cdm, which "
                            "accepts any callable approximate inverse") from None
        raise TypeError(f"{name} of type {type(obj).__name__} is not an operator: pass a dense array, a sparse "
                        "matrix, a LinearOperator or an object with shape, dtype and matvec(x)") from None


def prepare(A, b, x0, M, backend, rtol, atol, maxiter, *, allow_callable_M=False) -> System:
    """Validate and convert the inputs of a Krylov solve (once, on entry)."""
    be = _backends.get_backend(backend, A, b, x0)
    op = _as_operator(A, be, "A")
    if _is_complex_dtype(op.dtype):
        raise TypeError(f"A is complex: {_COMPLEX_MSG}")
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"A must be square, got shape {op.shape}; for least squares use a normal-equations "
                         "operator or a dedicated solver")
    n = op.shape[0]
    _check_operator_finite(op, be, "A")
    b = _as_vector(be, b, n, "b", op.shape)
    x = None if x0 is None else _as_vector(be, x0, n, "x0", op.shape)

    Mop = None
    if M is not None:
        if allow_callable_M and callable(M) and not hasattr(M, "matvec"):
            Mop = M
        else:
            Mop = _as_operator(M, be, "M")
            if Mop.shape != (n, n):
                raise ValueError(f"M has shape {Mop.shape}, expected ({n}, {n}) to match A")
            if _is_complex_dtype(Mop.dtype):
                raise TypeError(f"M is complex: {_COMPLEX_MSG}")
            _check_operator_finite(Mop, be, "M")

    for nm, v in (("rtol", rtol), ("atol", atol)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
    if maxiter is None:
        maxiter = 10 * n
    elif not isinstance(maxiter, numbers.Integral) or isinstance(maxiter, bool) or maxiter < 0:
        raise ValueError(f"maxiter must be a non-negative integer or None, got {maxiter!r}")
    return System(op, A, b, x, Mop, M, be, n, int(maxiter), float(rtol), float(atol))


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


# ------------------------------------------------------------------ results
def finish(method, sysm: System, x, status, nit, hist: History, timer, tol, rnorm, *, reason="",
           options=None, extras=None, **stats):
    """Build the :class:`SolveResult` with a message that says what to try on failure."""
    converged = status == Status.CONVERGED
    if converged:
        msg = f"{method}: converged in {nit} iterations, residual {rnorm:.3e} <= tolerance {tol:.3e}"
    elif status == Status.MAXITER and not reason:
        msg = (f"{method}: not converged after maxiter={nit} iterations, residual {rnorm:.3e} > tolerance "
               f"{tol:.3e}. Try a preconditioner (M=solvers.linear.jacobi(A) / chebyshev(A) / multigrid), a "
               "larger maxiter or a looser rtol")
    elif status == Status.STOPPED:
        msg = reason or stopped_message(method, nit)
    else:
        msg = f"{method}: {reason}"
    st = timer.stats()
    st.update(stats)
    opts = {"rtol": sysm.rtol, "atol": sysm.atol, "maxiter": sysm.maxiter,
            "M": None if sysm.M is None else type(sysm.M_raw).__name__, "x0": sysm.x is not None}
    opts.update(options or {})
    return SolveResult(x, converged, status, msg, nit, history={"residual": hist.array()}, stats=st,
                       method=method, backend=sysm.be.name, options=opts, provenance=timer.provenance(),
                       **(extras or {}))


class KrylovRun:
    """The set-up every Krylov solver shares: validated inputs, kernels, appliers, history,
    counters, tolerance and result building. Create it with :func:`start`."""

    def __init__(self, method, S: System, counters, options, timer):
        self.method, self.S, self.timer = method, S, timer
        self.be, self.n, self.xp = S.be, S.n, S.be.xp
        self.K = K = kernels(S.be, S.n)
        self.A = Applier(S.A, S.A_raw, S.be, K)
        self.M = Applier(S.M, S.M_raw, S.be, K) if hasattr(S.M, "matvec") else None
        self.hist = History(S.maxiter)
        self.cnt = dict.fromkeys(counters, 0)
        self.options = options
        self.extras = {}              # routine-specific result extras (defaults for every exit)
        self.cb = Callback(None)
        self.bnorm = math.sqrt(K.dot(S.b, S.b))
        self.tol = max(S.rtol * self.bnorm, S.atol)

    def done(self, x, status, nit, rnorm, reason="", extras=None, **counters):
        """The result; ``counters`` override the values in :attr:`cnt` (for solvers counting in locals),
        ``extras`` update :attr:`extras`."""
        return finish(self.method, self.S, x, status, nit, self.hist, self.timer, self.tol, rnorm, reason=reason,
                      options=self.options, extras={**self.extras, **(extras or {})}, **{**self.cnt, **counters})

    def stop(self, x, nit, rnorm, **fields) -> bool:
        """Call the user callback (when there is one) after iteration ``nit``; True means: stop
        (the callback raised ``StopIteration``)."""
        return bool(self.cb) and self.cb(x, nit, residual=rnorm, **fields)

    def stopped(self, x, nit, rnorm):
        """The result of a solve stopped by its callback."""
        return self.done(x, Status.STOPPED, nit, rnorm, stopped_message(self.method, nit))

    def apply_M(self, v):
        """``M v`` into fresh storage (``v`` itself without a preconditioner), counted."""
        if self.M is None:
            return v
        self.cnt["precond_applications"] += 1
        return self.M.into(v, self.xp.empty(self.n))

    def residual(self, x):
        """``b - A x`` as a fresh array; the matvec is skipped while ``x`` is still the zero initial guess."""
        if self.S.x is None and self.cnt["matvecs"] == 0:
            return self.S.b.copy()
        self.cnt["matvecs"] += 1
        return self.S.b - self.A.into(x, self.xp.empty(self.n))

    def dot_norm(self, v) -> float:
        """``||v||_2`` from the backend's dot kernel."""
        return math.sqrt(self.K.dot(v, v))

    def norm(self, v) -> float:
        """``||v||_2`` from ``xp.linalg.norm``."""
        return float(self.xp.linalg.norm(v))

    def begin(self, norm=None, first=None):
        """The zero right-hand side and initial-residual checks.

        Returns an early :class:`SolveResult` (``b = 0``, non-finite or already
        converged initial residual) or ``(x, r, rnorm)`` with ``x`` the zero
        vector or the ``x0`` copy. ``norm(r)`` defaults to :meth:`dot_norm`;
        ``first(x) -> (r, rnorm)`` replaces :meth:`residual` plus ``norm``.
        """
        xp, n = self.xp, self.n
        if self.bnorm == 0.0:
            self.hist.append(0.0)
            return self.done(xp.zeros(n), Status.CONVERGED, 0, 0.0)
        x = xp.zeros(n) if self.S.x is None else self.S.x
        if first is not None:
            r, rnorm = first(x)
        else:
            r = self.residual(x)
            rnorm = (norm or self.dot_norm)(r)
        self.hist.append(rnorm)
        if not math.isfinite(rnorm):
            return self.done(x, Status.NONFINITE, 0, rnorm, nonfinite_reason("A @ x0"))
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
    R.cb = cb
    return R


def nonfinite_reason(what: str) -> str:
    return (f"a non-finite value (NaN/inf) appeared in {what}; the operator or preconditioner produced "
            "NaN/inf for a finite input, or the iteration overflowed. Check A and M (e.g. with "
            "solvers.dot_test) and rescale the system")


__all__ = ["prepare", "start", "KrylovRun", "kernels", "Applier", "History", "finish", "System",
           "diagonal_of_preconditioner", "nonfinite_reason"]
