"""The one result type returned by every newtonkit routine."""
from __future__ import annotations

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
    FAILED = "failed"            # any other failure; see message

    ALL = (CONVERGED, MAXITER, BREAKDOWN, STAGNATED, DIVERGED, NONFINITE, FAILED)


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
        The settings used.

    Routine-specific extras (dual potentials, multipliers, costs) are passed as
    keyword arguments, are reachable as attributes and are listed in
    :attr:`extras`.
    """

    def __init__(self, x, converged: bool, status: str, message: str, nit: int, *,
                 history: dict | None = None, stats: dict | None = None, method: str = "",
                 backend: str = "", options: dict | None = None, **extras: Any):
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
        self.extras = dict(extras)

    def __getattr__(self, name):
        # Only called when normal lookup fails: expose extras as attributes.
        extras = self.__dict__.get("extras")
        if extras is not None and name in extras:
            return extras[name]
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


class Timer:
    """Wall-clock timer used by solvers to fill ``stats['time_s']``."""

    def __init__(self, backend=None):
        self.backend = backend
        self.t0 = time.perf_counter()

    def elapsed(self) -> float:
        if self.backend is not None:
            self.backend.synchronize()
        return time.perf_counter() - self.t0


__all__ = ["SolveResult", "Status", "Timer"]
