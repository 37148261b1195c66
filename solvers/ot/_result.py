"""What an OT solve returns: the per-iterate history, the transport plan as data, the result.

A result must travel (Dask ships results between processes), so it holds arrays and plain
values only: :class:`TransportPlan` keeps the cost matrix (once), the potentials and ``eps``
and rebuilds a :class:`~solvers.ot._common.Geometry` each time the plan is asked for; no
kernel module, geometry or closure is stored.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backends as _backends
from ..results import SolveResult
from ._common import Geometry, expand


class History:
    """Per-iterate records, one row per iterate (row 0 is the starting point).

    Parameters
    ----------
    **columns : dtype
        The column names and their dtypes, e.g. ``History(marginal_error=float, eps=float)``.
    """

    def __init__(self, **columns):
        self.dtypes = dict(columns)
        self._cols = {k: [] for k in columns}

    def __len__(self) -> int:
        return len(next(iter(self._cols.values()))) if self._cols else 0

    def append(self, **row) -> None:
        """One row: every column by name."""
        if row.keys() != self._cols.keys():
            raise ValueError(f"a history row needs the columns {sorted(self._cols)}, got {sorted(row)}")
        for k, v in row.items():
            self._cols[k].append(v)

    def extend(self, values, **fixed) -> None:
        """Rows whose first column takes ``values`` (a host array) and whose other columns take
        the scalars in ``fixed`` (e.g. Sinkhorn iterates read back from a device buffer)."""
        first = next(iter(self._cols))
        values = np.asarray(values).tolist()
        if set(fixed) != set(self._cols) - {first}:
            raise ValueError(f"History.extend needs fixed values for {sorted(set(self._cols) - {first})}")
        self._cols[first].extend(values)
        for k, v in fixed.items():
            self._cols[k].extend([v] * len(values))

    def scale(self, column: str, factor: float) -> None:
        """Multiply every entry of ``column`` by ``factor`` (e.g. errors of a unit-mass solve)."""
        self._cols[column] = [v * factor for v in self._cols[column]]

    def last(self, column: str):
        return self._cols[column][-1]

    def set_last(self, column: str, value) -> None:
        """Replace the last entry of ``column`` (the returned iterate's error as measured, not the iteration's
        running estimate of it); nothing when the history is empty."""
        if self._cols[column]:
            self._cols[column][-1] = value

    def arrays(self) -> dict:
        """The columns as 1-D NumPy arrays."""
        return {k: np.asarray(v, dtype=self.dtypes[k]) for k, v in self._cols.items()}


class TransportPlan:
    """``res.plan(dense=None, threshold=1e-12, dense_max=25_000_000)``: the transport plan.

    Data, not a closure: the cost matrix ``C`` (full size, a backend array: the one the solve
    used, not a copy), the full-size potentials ``f``, ``g`` (``-inf`` on zero weights), ``eps``
    and ``support = (ia, ib)`` (the rows/columns with positive weight, or None). Calling it
    rebuilds the geometry from ``C``; it pickles with the standard library (the backend travels
    by name).
    """

    def __init__(self, C, f, g, eps: float, support, backend):
        self.C, self.f, self.g, self.eps, self.support = C, f, g, float(eps), support
        self.backend = _backends.get_backend(backend)
        self._fingerprint = _fingerprint(C, self.backend)

    def _check_unchanged(self) -> None:
        """``C`` is the caller's array, kept by reference (a copy would double the memory of a large solve): a C
        changed after the solve gave a plan that matched neither ``res.cost`` nor the marginals, silently
        (helper-138: ``C *= 2``). A fingerprint of it taken at the solve is compared here (:func:`_fingerprint`)."""
        fp = getattr(self, "_fingerprint", None)        # (a plan pickled before the sample existed: not checked)
        now = _fingerprint(self.C, self.backend)
        if fp is not None and not _same(tuple(now), tuple(fp), 1e-13):
            raise ValueError("the cost matrix C was changed after the solve (the problem keeps C by reference, not "
                             "a copy), so this plan would match neither res.cost nor the marginals; solve again, or "
                             "pass a copy to the problem (EntropicOT(C.copy(), ...)) to change C afterwards")

    @property
    def shape(self) -> tuple:
        return tuple(self.C.shape)

    def __call__(self, dense: bool | None = None, threshold: float = 1e-12, dense_max: int = 25_000_000):
        """The plan ``P_ij = exp((f_i + g_j - C_ij) / eps)``.

        Parameters
        ----------
        dense : bool, optional
            Dense (n, m) array, or CSR (``scipy.sparse`` / ``cupyx.scipy.sparse``) of the entries
            ``>= threshold`` times their row maximum (at least :data:`SPARSE_FLOOR` times it, on every
            backend). Default: dense up to ``dense_max`` entries.
        """
        dense, threshold, dense_max = _plan_args(dense, threshold, dense_max)
        self._check_unchanged()
        be = self.backend
        n, m = self.shape
        if dense is None:
            dense = n * m <= dense_max
        C, f, g = self.C, self.f, self.g
        if self.support is not None:
            ia, ib = (be.asarray(i) for i in self.support)
            C, f, g = C[ia][:, ib], f[ia], g[ib]
        geom = Geometry(C, be)
        if dense:
            P = geom.plan_dense(f, g, self.eps)
            if self.support is not None:
                full = be.xp.zeros((n, m))
                full[ia[:, None], ib[None, :]] = P
                P = full
            return P
        K = geom.K
        rho = max(threshold, SPARSE_FLOOR)
        P = K.csr_matrix(geom.sparse_plan(f, g, self.eps, rho, geom.m), (geom.n, geom.m))
        if self.support is not None:
            P = K.csr_scatter(P, ia, ib, (n, m))
        return P

    def __repr__(self) -> str:
        return f"TransportPlan(shape={self.shape}, eps={self.eps:g}, backend={self.backend.name!r})"


def _fingerprint(C, be) -> tuple:
    """``(u^T C v, max |C v|)`` over all of ``C``, with fixed uneven weights ``u_i / n``, ``v_j / m`` in ``[1, 2)``: one
    pass of the kernel set's ``row_weighted_sums`` (float64 sums of C's own values, no copy of a float32 C, the
    same for every thread count). A strided sample of at most 256 x 256 entries missed a changed row between its
    rows (helper-144); a plain sum missed changes that keep it and overflowed near 1e306 (helper-141)."""
    xp = be.xp
    n, m = C.shape
    A = C if C.dtype in (xp.float32, xp.float64) else xp.asarray(C, dtype=xp.float64)
    v = (1.0 + (xp.arange(m, dtype=xp.float64) * 0.6180339887) % 1.0) / max(m, 1)
    u = (1.0 + (xp.arange(n, dtype=xp.float64) * 0.7548776662) % 1.0) / max(n, 1)
    with np.errstate(all="ignore"):
        Cv = be.kernels("ot").row_weighted_sums(A, v)
        return (float(u @ Cv), float(xp.max(xp.abs(Cv))) if n else 0.0)


def _same(a, b, rtol) -> bool:
    """Fingerprints equal up to ``rtol`` of their scale (NaN equal to NaN)."""
    if len(a) != len(b):
        return False
    scale = max([abs(x) for x in a + b if math.isfinite(x)] or [0.0])
    return all((x == y) or (math.isnan(x) and math.isnan(y)) or abs(x - y) <= rtol * scale for x, y in zip(a, b))


#: the smallest relative threshold of a sparse plan, exp(-699) ~ 3e-304: the Numba kernels clamp exponents more
#: than 700 below the row maximum there (no subnormal arithmetic in the hot loops), so below it the backends
#: disagreed (helper-99: numba stored ~3e-306 for entries NumPy held as 0 or subnormal; NumPy's log(0) for a
#: threshold of 0 raised 'math domain error'). Such entries are at most 1e-304 x the row maximum anyway.
SPARSE_FLOOR = math.exp(-699.0)


def _plan_args(dense, threshold, dense_max) -> tuple:
    """The arguments of :meth:`TransportPlan.__call__`, checked (a NaN threshold or a string
    would otherwise give an empty plan or a bare comparison error)."""
    import numbers

    if dense is not None and not isinstance(dense, (bool, np.bool_)):
        raise TypeError(f"plan(dense=...) must be True, False or None (automatic), got {dense!r:.60}")
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"plan(threshold=...) must be a real number in [0, 1] (relative to each row's "
                        f"maximum), got {threshold!r:.60}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"plan(threshold=...) must be in [0, 1]: entries >= threshold x their row's maximum "
                         f"are kept (0 keeps every entry above 3e-304 of it), got {threshold!r}")
    # a count compared with n m: any non-negative real (dense_max=1e8 is a natural spelling), not NaN
    if isinstance(dense_max, (bool, np.bool_)) or not isinstance(dense_max, numbers.Real) or not dense_max >= 0:
        raise ValueError(f"plan(dense_max=...) must be a non-negative number (entries up to which the "
                         f"automatic choice is dense), got {dense_max!r:.60}")
    dense_max = int(dense_max) if isinstance(dense_max, numbers.Integral) else float(dense_max)
    return (None if dense is None else bool(dense)), float(threshold), dense_max


def build_result(method: str, inputs, geom, f, g, eps, *, status, message, nit, history, stats, options, timer,
                 **extras) -> SolveResult:
    """The SolveResult: full-size potentials, ``x = [f, g]``, ``cost = <P, C>``, ``plan``, history."""
    from ..results import Status

    be = inputs.be
    xp = be.xp
    finite = bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))
    cost = geom.cost(f, g, eps) if finite else float("nan")
    n, m = inputs.shape
    support = inputs.support
    ff = expand(be, f, None if support is None else support[0], n)
    gg = expand(be, g, None if support is None else support[1], m)
    hist = history.arrays()
    if len(next(iter(hist.values()))) != nit + 1:   # the convention every routine follows
        raise AssertionError(f"{method}: history has {len(next(iter(hist.values())))} rows for nit={nit}")
    stats = {**timer.stats(), **stats, "kernel_calls": geom.kernel_calls}
    return SolveResult(
        xp.concatenate([ff, gg]), status == Status.CONVERGED, status, message, nit, history=hist, stats=stats,
        method=method, backend=be.name, options=options, provenance=timer.provenance(), f=ff, g=gg, cost=cost,
        plan=TransportPlan(inputs.C, ff, gg, eps, support, be), eps=eps, **extras,
    )
