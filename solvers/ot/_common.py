"""Shared machinery of the OT solvers: the log-domain geometry, input handling, results.

The solvers touch the problem only through :class:`Geometry` (in the spirit of
OTT-JAX's ``apply_lse_kernel``): the log-sum-exp row/column kernels, the
transport cost and the (truncated) plan. Each backend supplies the kernels:
NumPy (readable reference, O(nm) temporaries), Numba (fused parallel kernels,
``solvers._kernels.numba.ot``) and CuPy (``solvers._kernels.cupy.ot``).
This module never imports :mod:`problems`; a problem is anything with ``C``,
``a``, ``b`` and ``eps`` attributes.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backends as _backends
from ..results import SolveResult


class Geometry:
    """Cost matrix on a backend plus the kernels the OT solvers need.

    All potentials are in the units of the cost: the plan is
    ``P_ij = exp((f_i + g_j - C_ij) / eps)``.
    """

    def __init__(self, C, be, *, keep_transpose: bool = True):
        self.be = be
        xp = be.xp
        self.C = xp.ascontiguousarray(be.asarray(C, dtype=np.float64))
        self.n, self.m = self.C.shape
        self.CT = None
        if be.name == "numba" and keep_transpose:
            self.CT = np.ascontiguousarray(self.C.T)
        if be.name == "numba":
            from .._kernels.numba import ot as K
        elif be.name == "cupy":
            from .._kernels.cupy import ot as K
        else:
            K = None
        self.K = K
        self.kernel_calls = 0

    # -- log-sum-exp kernels ------------------------------------------------------------------
    def row_lse(self, g, eps):
        """``LSE_j (g_j - C_ij) / eps`` for every row i."""
        self.kernel_calls += 1
        if self.be.name == "numba":
            return self.K.lse_rows(self.C, g, 1.0 / eps, np.empty(self.n))
        if self.be.name == "cupy":
            return self.K.lse_rows(self.C, g, eps)
        from scipy.special import logsumexp

        return logsumexp((g[None, :] - self.C) / eps, axis=1)

    def col_lse(self, f, eps):
        """``LSE_i (f_i - C_ij) / eps`` for every column j."""
        self.kernel_calls += 1
        if self.be.name == "numba":
            if self.CT is not None:
                return self.K.lse_rows(self.CT, f, 1.0 / eps, np.empty(self.m))
            return self.K.lse_rows(np.ascontiguousarray(self.C.T), f, 1.0 / eps, np.empty(self.m))
        if self.be.name == "cupy":
            return self.K.lse_cols(self.C, f, eps)
        from scipy.special import logsumexp

        return logsumexp((f[:, None] - self.C) / eps, axis=0)

    def f_update(self, g, log_a, eps, out=None):
        """Sinkhorn update ``f_i = eps log a_i - eps LSE_j (g_j - C_ij)/eps``."""
        if self.be.name == "numba":
            self.kernel_calls += 1
            out = np.empty(self.n) if out is None else out
            return self.K.sinkhorn_update(self.C, g, 1.0 / eps, eps, log_a, out)
        return eps * (log_a - self.row_lse(g, eps))

    def g_update(self, f, log_b, eps, out=None):
        """Sinkhorn update ``g_j = eps log b_j - eps LSE_i (f_i - C_ij)/eps``."""
        if self.be.name == "numba":
            self.kernel_calls += 1
            out = np.empty(self.m) if out is None else out
            CT = self.CT if self.CT is not None else np.ascontiguousarray(self.C.T)
            return self.K.sinkhorn_update(CT, f, 1.0 / eps, eps, log_b, out)
        return eps * (log_b - self.col_lse(f, eps))

    def row_gap(self, a, f_old, f_new, eps):
        """L1 row-marginal error of ``(f_old, g)`` given the update ``f_new`` of ``f_old`` for g:
        the row sums are ``a_i exp((f_old_i - f_new_i)/eps)``. Device scalar on CuPy."""
        if self.be.name == "numba":
            return self.K.l1_marginal_gap(a, f_old, f_new, 1.0 / eps)
        xp = self.be.xp
        return xp.abs(a - a * xp.exp((f_old - f_new) / eps)).sum()

    def marginals(self, f, g, eps):
        """Row and column sums of the plan of ``(f, g)``."""
        r = self.be.xp.exp(f / eps + self.row_lse(g, eps))
        c = self.be.xp.exp(g / eps + self.col_lse(f, eps))
        return r, c

    # -- cost and plans -------------------------------------------------------------------------
    def cost(self, f, g, eps) -> float:
        """``<P, C>`` of the plan of ``(f, g)``."""
        self.kernel_calls += 1
        if self.be.name == "numba":
            return float(self.K.plan_cost(self.C, f, g, 1.0 / eps, np.empty(self.n)))
        if self.be.name == "cupy":
            return float(self.K.plan_cost(self.C, f, g, eps))
        return float((np.exp((f[:, None] + g[None, :] - self.C) / eps) * self.C).sum())

    def plan_dense(self, f, g, eps):
        if self.be.name == "numba":
            return self.K.plan_dense(self.C, f, g, 1.0 / eps, np.empty((self.n, self.m)))
        xp = self.be.xp
        return xp.exp((f[:, None] + g[None, :] - self.C) / eps)

    def row_lse_sparse(self, g, f, eps, rho: float, kmax: int):
        """``row_lse(g)`` and ``sparse_plan(f, g)`` from one pass over C (Numba: fused kernel)."""
        if self.be.name != "numba" or kmax * self.n > max(4 * self.n * 64, self.n * self.m // 4):
            return self.row_lse(g, eps), self.sparse_plan(f, g, eps, rho, kmax)
        self.kernel_calls += 1
        K = self.K
        key = (self.n, int(kmax))
        if getattr(self, "_sp_key", None) != key:
            self._sp_bufs = (np.empty((self.n, kmax), dtype=np.int64), np.empty((self.n, kmax)))
            self._sp_key = key
        idx, val = self._sp_bufs
        counts = np.empty(self.n, dtype=np.int64)
        lse = K.lse_rows_sparse(self.C, g, f, 1.0 / eps, float(rho), int(kmax), np.empty(self.n), counts, idx, val)
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        indices = np.empty(nnz, dtype=np.int64)
        data = np.empty(nnz)
        K.compact_rows(counts, idx, val, indptr, indices, data)
        return lse, (indptr, indices, data)

    def sparse_plan(self, f, g, eps, rho: float, kmax: int):
        """Truncated plan in CSR arrays ``(indptr, indices, data)``: per row the entries with
        ``P_ij >= rho * max_j P_ij``, at most ``kmax`` of them (the largest)."""
        self.kernel_calls += 2
        log_rho = math.log(rho)
        if self.be.name == "numba":
            K = self.K
            rowmax = np.empty(self.n)
            counts = np.empty(self.n, dtype=np.int64)
            K.sparse_plan_count(self.C, f, g, 1.0 / eps, log_rho, int(kmax), rowmax, counts)
            indptr = np.zeros(self.n + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            nnz = int(indptr[-1])
            indices = np.empty(nnz, dtype=np.int64)
            data = np.empty(nnz)
            K.sparse_plan_fill(self.C, f, g, 1.0 / eps, log_rho, rowmax, indptr, indices, data)
            return indptr, indices, data
        if self.be.name == "cupy":
            return self.K.sparse_plan(self.C, f, g, eps, log_rho, int(kmax))
        Z = (f[:, None] + g[None, :] - self.C) / eps
        rowmax = Z.max(axis=1)
        keep = Z >= (rowmax + log_rho)[:, None]
        counts = keep.sum(axis=1)
        over = np.nonzero(counts > kmax)[0]
        for i in over:  # keep the kmax largest (ties broken by position)
            order = np.argsort(-Z[i], kind="stable")[:kmax]
            keep[i] = False
            keep[i, order] = True
        rows, cols = np.nonzero(keep)
        indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n), out=indptr[1:])
        return indptr, cols.astype(np.int64), np.exp(Z[rows, cols])


# ----------------------------------------------------------------------------------------------
def prepare(problem, backend, f0=None, g0=None):
    """Validate the problem object, pick the backend, drop zero-weight rows/columns.

    Returns ``(be, geom, a, b, eps, support, f0, g0)`` where ``support = (ia, ib)`` are
    the kept index arrays (NumPy) or None when every weight is positive.
    """
    for attr in ("C", "a", "b", "eps"):
        if not hasattr(problem, attr):
            raise TypeError(f"problem must be an EntropicOT (or have C, a, b, eps); missing {attr!r}")
    be = _backends.get_backend(backend, problem.C)
    a = np.asarray(be.to_numpy(problem.a), dtype=np.float64)
    b = np.asarray(be.to_numpy(problem.b), dtype=np.float64)
    eps = float(problem.eps)
    C = problem.C
    n, m = C.shape
    support = None
    if (a <= 0).any() or (b <= 0).any():
        ia, ib = np.nonzero(a > 0)[0], np.nonzero(b > 0)[0]
        support = (ia, ib)
        C = be.asarray(C)[be.asarray(ia)][:, be.asarray(ib)]
        a, b = a[ia], b[ib]
        f0 = None if f0 is None else np.asarray(be.to_numpy(f0))[ia]
        g0 = None if g0 is None else np.asarray(be.to_numpy(g0))[ib]
    geom = Geometry(C, be)
    xp = be.xp
    out = []
    for v, name, size in ((f0, "f0", geom.n), (g0, "g0", geom.m)):
        if v is None:
            out.append(None)
            continue
        v = be.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape != (size,):
            raise ValueError(f"{name} has shape {tuple(v.shape)}, expected ({size},)")
        if not bool(xp.all(xp.isfinite(v))):
            raise ValueError(f"{name} contains NaN or inf; pass finite potentials")
        out.append(xp.array(v))
    return be, geom, be.asarray(a), be.asarray(b), eps, support, (n, m), out[0], out[1]


def expand(be, v, idx, size):
    """Scatter the potentials of the supported rows back to full size (-inf elsewhere)."""
    if idx is None:
        return v
    xp = be.xp
    full = xp.full(size, -xp.inf)
    full[be.asarray(idx)] = v
    return full


class PlanFactory:
    """``res.plan()``: the transport plan, dense up to ``dense_max`` entries, else scipy/cupyx CSR
    of the entries above ``threshold`` times the row maximum."""

    def __init__(self, geom, f, g, eps, support, full_shape):
        self.geom, self.f, self.g, self.eps, self.support, self.full_shape = geom, f, g, eps, support, full_shape

    def __call__(self, dense: bool | None = None, threshold: float = 1e-12, dense_max: int = 25_000_000):
        n, m = self.full_shape
        be = self.geom.be
        if dense is None:
            dense = n * m <= dense_max
        if dense:
            P = self.geom.plan_dense(self.f, self.g, self.eps)
            if self.support is not None:
                full = be.xp.zeros((n, m))
                ia, ib = (be.asarray(i) for i in self.support)
                full[ia[:, None], ib[None, :]] = P
                P = full
            return P
        indptr, indices, data = self.geom.sparse_plan(self.f, self.g, self.eps, threshold, self.geom.m)
        if be.name == "cupy":
            import cupyx.scipy.sparse as sps
        else:
            import scipy.sparse as sps
        P = sps.csr_matrix((data, indices, indptr), shape=(self.geom.n, self.geom.m))
        if self.support is not None:
            ia, ib = self.support
            P = P.tocoo()
            rows, cols = be.asarray(ia)[P.row], be.asarray(ib)[P.col]
            P = sps.coo_matrix((P.data, (rows, cols)), shape=(n, m)).tocsr()   # (data, ij) form: any cupyx
        return P


def build_result(method, be, geom, f, g, eps, support, full_shape, *, converged, status, message, nit,
                 history, stats, options, timer):
    """Assemble the SolveResult with potentials, cost, plan and objective."""
    xp = be.xp
    finite = bool(xp.all(xp.isfinite(f))) and bool(xp.all(xp.isfinite(g)))
    cost = geom.cost(f, g, eps) if finite else float("nan")
    a_dot_f = None
    n, m = full_shape
    ff = expand(be, f, None if support is None else support[0], n)
    gg = expand(be, g, None if support is None else support[1], m)
    stats = dict(stats)
    stats["kernel_calls"] = geom.kernel_calls
    stats.update(timer.stats())
    del a_dot_f
    return SolveResult(
        xp.concatenate([ff, gg]), converged, status, message, nit, history=history, stats=stats,
        method=method, backend=be.name, options=options, provenance=timer.provenance(), f=ff, g=gg, cost=cost,
        plan=PlanFactory(geom, f, g, eps, support, full_shape), eps=eps,
    )


def dual_value(geom, a, b, f, g, eps, lse_rows=None):
    """``D(f, g) = <a,f> + <b,g> - eps sum_ij exp((f_i+g_j-C_ij)/eps)`` and the row sums."""
    xp = geom.be.xp
    if lse_rows is None:
        lse_rows = geom.row_lse(g, eps)
    r = xp.exp(f / eps + lse_rows)
    return float(a @ f + b @ g - eps * r.sum()), r
