"""Persistence of :class:`~solvers.approx.ChebTucker` (a mix-in): pickling, which drops the evaluation caches
(rebuilt, on the same grids, on first use), and the :class:`~solvers.SolveResult` form a
:class:`~solvers.runs.RunStore` keeps (:meth:`Persistence.to_result`, :meth:`Persistence.from_result`)."""
from __future__ import annotations

import numpy as np

from ..backends import get_backend
from ..results import SolveResult


def _frozen(a) -> np.ndarray:
    """A C-contiguous copy of ``a`` that cannot be written."""
    a = np.array(a, order="C", copy=True)
    a.flags.writeable = False
    return a


class Persistence:
    """Pickling and stored-run round trips of :class:`~solvers.approx.ChebTucker`."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_packed"] = {}
        state["_tables"] = {}           # derived from the factors; rebuilt (same grids) on first use
        return state

    def __setstate__(self, state):
        state.setdefault("_tables", {})
        state.setdefault("eval_method", "auto")
        state["core"] = _frozen(state["core"])           # unpickled arrays come back writeable
        state["factors"] = tuple(_frozen(A) for A in state["factors"])   # a tuple, as built (a list took item
        # assignments that left the cached evaluation stale: helper-159)
        self.__dict__.update(state)

    def to_result(self) -> SolveResult:
        """A :class:`~solvers.SolveResult` for :class:`~solvers.runs.RunStore`: ``x`` is the core,
        extras ``domain``, ``factor_0`` ... ``factor_{d-1}``, ``tol``, ``truncation_bound``
        (rebuild with :meth:`from_result`)."""
        extras = {f"factor_{i}": A for i, A in enumerate(self.factors)}
        return SolveResult(self.core, self.converged, self.status, self.message, self.nit,
                           history=dict(self.history), stats=dict(self.stats), method=self.method, backend=self.backend, options=self.options,
                           provenance=self.provenance, domain=self.domain, tol=self.tol,
                           truncation_bound=self.truncation_bound, **extras)

    @classmethod
    def from_result(cls, res, *, backend=None):
        """Rebuild from :meth:`to_result` output or a :class:`~solvers.runs.StoredRun` of it;
        ``backend`` overrides the stored one (e.g. a GPU run read back on a CPU machine)."""
        ex = getattr(res, "extras", None)
        if not isinstance(ex, dict) or "domain" not in ex or "tol" not in ex:
            raise ValueError(f"from_result: {type(res).__name__} (method {getattr(res, 'method', None)!r}) holds no "
                             "Chebyshev-Tucker function; give the output of ChebTucker.to_result() or a stored run "
                             "of it (extras domain, factor_0 ...)")
        d = np.asarray(ex["domain"]).shape[0]
        missing = [f"factor_{i}" for i in range(d) if f"factor_{i}" not in ex]
        if missing:
            raise ValueError(f"from_result: the result lacks {', '.join(missing)} of its {d}-variable function")
        stats = dict(res.stats)
        be = get_backend(res.backend if backend is None else backend)
        em = dict(res.options or {}).get("eval_method", "auto")
        if "table" not in be.kernels("approx").ROUTES and em == "table":
            em = "auto"                 # e.g. a CPU table-route run read back on the GPU
        return cls(res.x, [ex[f"factor_{i}"] for i in range(d)], ex["domain"], tol=ex["tol"],
                   truncation_bound=ex["truncation_bound"], stats=stats, options=res.options, history=res.history,
                   provenance=res.provenance, method=res.method, backend=be, eval_method=em)
