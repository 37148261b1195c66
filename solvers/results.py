"""The one result type returned by every newtonkit routine, and the run clock.

Conventions every routine follows (written down in ``docs/conventions.md``):

* ``history`` arrays have ``nit + 1`` entries; entry 0 is the starting point;
* ``options`` holds what the caller asked for; values adapted during the run go to ``stats``;
* ``stats["time_s"]`` is the wall time of the solve *without* JIT compilation and
  kernel-cache loading, which is ``stats["compile_s"]``;
* ``success`` is an alias of ``converged`` (as in SciPy's ``OptimizeResult``);
* ``provenance`` (UTC start and end, host, device, threads, versions, seed) is
  captured by the :class:`Timer` while the solve runs and travels with the result;
* a result holds host-side data and plain values, and pickles with the standard library.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any

import numpy as np


class Status:
    """Short status strings used in :attr:`SolveResult.status`."""

    CONVERGED = "converged"
    MAXITER = "maxiter"          # iteration budget exhausted before the tolerance
    BREAKDOWN = "breakdown"      # the method cannot continue (e.g. non-SPD operator in CG)
    STAGNATED = "stagnated"      # no progress (line search failed, residual not decreasing)
    DIVERGED = "diverged"        # residual grew beyond a safe bound
    NONFINITE = "nonfinite"      # NaN or inf appeared
    STOPPED = "stopped"          # the callback raised StopIteration
    FAILED = "failed"            # any other failure; see message

    ALL = (CONVERGED, MAXITER, BREAKDOWN, STAGNATED, DIVERGED, NONFINITE, STOPPED, FAILED)


_CORE = ("x", "converged", "status", "message", "nit", "history", "stats", "method", "backend", "options")


class SolveResult:
    """Outcome of a solve.

    Attributes
    ----------
    x : array
        The solution (NumPy or CuPy array, per backend). Always present, also
        when the solve failed (then it is the last iterate, see ``converged``).
    converged : bool
        Whether the stopping criterion was met.
    status : str
        One of :class:`Status`.
    message : str
        Human-readable summary; on failure it says what to try.
    nit : int
        Iterations performed.
    history : dict of str -> 1-D numpy.ndarray
        Per-iteration records (e.g. ``residual``, ``marginal_error``).
    stats : dict
        ``time_s`` and counters (``matvecs``, kernel calls, ...).
    method : str
    backend : str
    options : dict
        The settings the caller asked for (defaults filled in); values adapted
        during the run are in ``stats``.
    provenance : dict
        UTC start/end, host, device, threads, versions, seed: captured when
        the solve ran (empty for results built by hand).
    success : bool
        Alias of ``converged``.

    Routine-specific extras (dual potentials, multipliers, costs) are passed as
    keyword arguments, are reachable as attributes and are listed in
    :attr:`extras`.
    """

    def __init__(self, x, converged: bool, status: str, message: str, nit: int, *,
                 history: dict | None = None, stats: dict | None = None, method: str = "",
                 backend: str = "", options: dict | None = None, provenance: dict | None = None,
                 **extras: Any):
        if status not in Status.ALL:
            raise ValueError(f"unknown status {status!r}; use one of {Status.ALL}")
        self.x = x
        self.converged = bool(converged)
        self.status = status
        self.message = message
        self.nit = int(nit)
        self.history = {k: np.asarray(v) for k, v in (history or {}).items()}
        self.stats = dict(stats or {})
        self.method = method
        self.backend = backend
        self.options = dict(options or {})
        self.provenance = dict(provenance or {})
        self.extras = dict(extras)

    @property
    def success(self) -> bool:
        """Alias of :attr:`converged` (SciPy's name)."""
        return self.converged

    def __getattr__(self, name):
        # Only called when normal lookup fails: expose extras as attributes.
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
        if name == "plan" and extras is not None and {"f", "g", "eps"} <= set(extras):
            # a stored OT run keeps the potentials, not the cost matrix the plan is built from (helper-75)
            raise AttributeError("SolveResult has no attribute 'plan': a stored optimal-transport run keeps the "
                                 "potentials f, g and eps but not the cost matrix C; the plan is "
                                 "numpy.exp((res.f[:, None] + res.g[None, :] - C) / res.eps) for your C")
        raise AttributeError(f"SolveResult has no attribute {name!r}")

    def __repr__(self) -> str:
        t = self.stats.get("time_s")
        ts = f", time_s={t:.3g}" if isinstance(t, (int, float)) else ""
        return (f"SolveResult(method={self.method!r}, backend={self.backend!r}, converged={self.converged}, "
                f"status={self.status!r}, nit={self.nit}{ts}, message={self.message!r})")

    def summary(self) -> dict:
        """A flat dict of scalars (for tables and stored run indexes)."""
        out = {"method": self.method, "backend": self.backend, "converged": self.converged,
               "status": self.status, "nit": self.nit}
        for k, v in self.stats.items():
            if np.isscalar(v):
                out[k] = v
        return out


# ---------------------------------------------------------------------------------------------
# callbacks: one convention for every routine
class IntermediateResult:
    """What a callback with a parameter named ``intermediate_result`` receives at every iteration.

    Always has ``x`` (a copy of the iterate: yours to keep or change) and ``nit``; routines add their
    current measures (``residual``, ``marginal_error``, ``f``, ``g``, ...) as attributes.
    """

    def __init__(self, x, nit: int, **fields: Any):
        self.x = x
        self.nit = int(nit)
        self.__dict__.update(fields)

    def __repr__(self) -> str:
        return "IntermediateResult(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "x") + ")"


class Callback:
    """Wraps a user callback in SciPy's convention.

    ``callback(intermediate_result)`` (a single parameter of that name) receives an
    :class:`IntermediateResult`; any other callable receives the iterate ``xk``
    (SciPy's older form), in both cases copies of the solver's arrays. A callback that raises
    :class:`StopIteration` ends the solve cleanly: :meth:`__call__` returns True and the routine returns with
    status ``"stopped"``.
    """

    def __init__(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError(f"callback must be callable or None, got {type(fn).__name__}")
        if fn is not None:
            _check_one_argument(fn)
        self.fn = fn
        self.wants_result = fn is not None and _takes_intermediate_result(fn)

    def __bool__(self) -> bool:
        return self.fn is not None

    def __call__(self, x, nit: int, _fresh: bool = False, **fields) -> bool:
        """Call the user function; True means: stop now. ``_fresh``: ``x`` is already a new array (not copied)."""
        if self.fn is None:
            return False
        x = x if _fresh else _own(x)   # the solver's arrays are not handed out: a callback that writes into xk (or
        fields = {k: _own(v) for k, v in fields.items()}     # keeps it) saw them change (helper-139)
        try:
            if self.wants_result:
                self.fn(IntermediateResult(x, nit, **fields))
            else:
                self.fn(x)
        except StopIteration:
            return True
        return False


def _own(v):
    """A copy of an array (NumPy or CuPy) for a callback; other values as they are."""
    return v.copy() if hasattr(v, "copy") and hasattr(v, "shape") and getattr(v, "ndim", 0) > 0 else v


def _check_one_argument(fn) -> None:
    """A ``TypeError`` before the solve when ``fn`` cannot be called with one argument (instead of a bare
    one from inside the first iteration); callables without a readable signature are let through."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(None)
    except TypeError:
        raise TypeError(f"callback must take one argument (intermediate_result, or the iterate xk), but its "
                        f"signature is {sig}; e.g. def callback(intermediate_result): ...") from None


def _takes_intermediate_result(fn) -> bool:
    import inspect

    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return len(params) == 1 and params[0].name == "intermediate_result"


def stopped_message(method: str, nit: int) -> str:
    return f"{method}: stopped by the callback (StopIteration) after {nit} iterations; x is the last iterate"


# ---------------------------------------------------------------------------------------------
# compile-time accounting: Numba triggers "numba:compiler_lock" around every compilation and
# every load from its on-disk cache; the outermost event of each thread is timed here.
_compile = threading.local()
_listener_installed = False


_listener_lock = threading.Lock()


def _install_compile_listener() -> None:
    if _listener_installed:
        return
    with _listener_lock:
        if _listener_installed:
            return
        _register_compile_clock()


def _register_compile_clock() -> None:
    global _listener_installed
    try:
        from numba.core import event
    except Exception:  # pragma: no cover - numba missing: nothing is compiled
        _listener_installed = True
        return

    class _CompileClock(event.Listener):
        def on_start(self, ev):
            depth = getattr(_compile, "depth", 0)
            if depth == 0:
                _compile.t0 = time.perf_counter()
            _compile.depth = depth + 1

        def on_end(self, ev):
            # A thread already inside Numba's compiler when another thread registered
            # this listener ends a section it never saw start: it has no clock to stop.
            depth = getattr(_compile, "depth", 0)
            if depth <= 0:
                return
            _compile.depth = depth - 1
            if depth == 1:
                _compile.total = getattr(_compile, "total", 0.0) + time.perf_counter() - _compile.t0

    event.register("numba:compiler_lock", _CompileClock())
    _listener_installed = True


def compile_seconds() -> float:
    """Seconds the calling thread has spent compiling (or cache-loading) Numba kernels so far."""
    return getattr(_compile, "total", 0.0)


class Timer:
    """The run clock every routine starts on entry (after validating its input).

    Starting it pushes the configured thread count into Numba for the calling
    thread (see :mod:`solvers._config`). ``stats()`` gives ``time_s`` (wall time
    minus compilation) and ``compile_s``; ``provenance()`` the record of the run.
    Nested solves (CG inside SNS) start their own timers; the outer one counts
    the inner time as its own.
    """

    def __init__(self, backend=None, *, seed=None):
        from . import _config

        _config.apply()
        _install_compile_listener()
        self.threads = None
        numba = sys.modules.get("numba")
        if numba is not None:   # the count this thread will actually run with
            self.threads = int(numba.get_num_threads())
        self.backend = backend
        self.seed = seed
        self.utc_start = time.time()
        self.c0 = compile_seconds()
        self.t0 = time.perf_counter()
        self._end = None

    def compile_s(self) -> float:
        return compile_seconds() - self.c0

    def elapsed(self) -> float:
        """Wall time so far without compilation (synchronises the device first)."""
        if self.backend is not None:
            self.backend.synchronize()
        return max(time.perf_counter() - self.t0 - self.compile_s(), 0.0)

    def stats(self) -> dict:
        """``{"time_s": ..., "compile_s": ...}``; also fixes the end time used by :meth:`provenance`."""
        t = self.elapsed()
        self._end = time.time()
        return {"time_s": t, "compile_s": self.compile_s()}

    def provenance(self) -> dict:
        """Provenance of this run (see :func:`solvers.runs.provenance.collect`)."""
        from .runs import provenance as _prov

        end = self._end if self._end is not None else time.time()
        name = getattr(self.backend, "name", "") or ""
        return _prov.collect(backend=name, start=self.utc_start, finished=end, seed=self.seed, threads=self.threads)


__all__ = ["SolveResult", "Status", "Timer", "compile_seconds", "Callback", "IntermediateResult",
           "stopped_message"]
