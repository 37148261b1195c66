"""Shared machinery of the OT solvers: the log-domain geometry and the input boundary.

The solvers touch the cost only through :class:`Geometry` (in the spirit of OTT-JAX's
``apply_lse_kernel``): the log-sum-exp row/column passes, the Sinkhorn updates, the
transport cost and the (truncated) plan. The work is done by the backend's OT kernel set,
``backend.kernels("ot")`` -- ``solvers._kernels.numpy.ot`` is the readable reference,
``numba.ot`` the fused parallel CPU kernels, ``cupy.ot`` the GPU kernels -- so nothing here
depends on which backend runs. :func:`read_inputs` is the one boundary where a problem
object (anything with ``C``, ``a``, ``b``, ``eps``) or POT-style arrays ``(C, a, b, eps=...)``
are validated. This module never imports :mod:`problems`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .. import backends as _backends


class Geometry:
    """Cost matrix on a backend plus the kernels the OT solvers need.

    All potentials are in the units of the cost: the plan is
    ``P_ij = exp((f_i + g_j - C_ij) / eps)``. ``kernel_calls`` counts the passes over C.

    Parameters
    ----------
    C : (n, m) array
        Cost matrix (converted to a C-ordered float64 array of the backend).
    be : Backend
    """

    def __init__(self, C, be):
        self.be = be
        self.K = be.kernels("ot")
        self.C = be.xp.ascontiguousarray(be.asarray(C, dtype=np.float64))
        self.n, self.m = self.C.shape
        self.cost_data = self.K.prepare_cost(self.C)
        self.kernel_calls = 0

    # -- log-sum-exp passes ---------------------------------------------------------------------
    def row_lse(self, g, eps):
        """``LSE_j (g_j - C_ij) / eps`` for every row i."""
        self.kernel_calls += 1
        return self.K.row_lse(self.cost_data, g, eps)

    def col_lse(self, f, eps):
        """``LSE_i (f_i - C_ij) / eps`` for every column j."""
        self.kernel_calls += 1
        return self.K.col_lse(self.cost_data, f, eps)

    def f_update(self, g, log_a, eps, out=None):
        """Sinkhorn update ``f_i = eps log a_i - eps LSE_j (g_j - C_ij)/eps`` (into ``out``)."""
        self.kernel_calls += 1
        return self.K.f_update(self.cost_data, g, log_a, eps, self.be.xp.empty(self.n) if out is None else out)

    def g_update(self, f, log_b, eps, out=None):
        """Sinkhorn update ``g_j = eps log b_j - eps LSE_i (f_i - C_ij)/eps`` (into ``out``)."""
        self.kernel_calls += 1
        return self.K.g_update(self.cost_data, f, log_b, eps, self.be.xp.empty(self.m) if out is None else out)

    def row_gap(self, a, f_old, f_new, eps):
        """L1 row-marginal error of ``(f_old, g)`` given the update ``f_new`` of ``f_old`` for g:
        the row sums are ``a_i exp((f_old_i - f_new_i)/eps)``. A device scalar on the GPU."""
        return self.K.row_gap(a, f_old, f_new, eps)

    # -- cost and plans -------------------------------------------------------------------------
    def cost(self, f, g, eps) -> float:
        """``<P, C>`` of the plan of ``(f, g)``."""
        self.kernel_calls += 1
        return float(self.K.plan_cost(self.cost_data, f, g, eps))

    def plan_dense(self, f, g, eps):
        """The plan as an (n, m) backend array."""
        return self.K.plan_dense(self.cost_data, f, g, eps)

    def sparse_plan(self, f, g, eps, rho: float, kmax: int):
        """Truncated plan in CSR arrays ``(indptr, indices, data)``: per row the entries with
        ``P_ij >= rho * max_j P_ij``, at most ``kmax`` of them (the largest)."""
        self.kernel_calls += 2
        return self.K.sparse_plan(self.cost_data, f, g, eps, rho, int(kmax))

    def row_lse_sparse(self, g, f, eps, rho: float, kmax: int):
        """``row_lse(g)`` and ``sparse_plan(f, g)`` (one fused pass where the kernel set has one)."""
        self.kernel_calls += 1
        return self.K.row_lse_sparse(self.cost_data, g, f, eps, rho, int(kmax))


# ----------------------------------------------------------------------------------------------
# the input boundary
@dataclass
class Inputs:
    """Validated inputs of an OT solve (potentials and weights restricted to the support).

    ``C`` is the full cost as a backend array (kept by the result to rebuild the plan),
    ``support = (ia, ib)`` the kept index arrays (NumPy) or None when every weight is positive,
    ``shape`` the full ``(n, m)``.
    """

    be: object
    C: object
    a: object
    b: object
    eps: float
    support: tuple | None
    shape: tuple
    f0: object
    g0: object

    def geometry(self) -> Geometry:
        """The geometry of the supported rows/columns (copies C when a weight is zero)."""
        C = self.C
        if self.support is not None:
            ia, ib = (self.be.asarray(i) for i in self.support)
            C = C[ia][:, ib]
        return Geometry(C, self.be)


def positive_eps(eps, where: str) -> float:
    """``eps`` as a float, or a ValueError/TypeError that names it."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps{where} must be a positive real number, got {eps!r}")
    eps = float(eps)
    if not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps{where} must be positive and finite, got {eps!r}")
    return eps


def _weights(be, w, name: str, size: int):
    w = np.full(size, 1.0 / size) if w is None else np.asarray(be.to_numpy(w))
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real 1-D array of weights, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (size,):
        raise ValueError(f"{name} has shape {w.shape}; the cost matrix needs ({size},)")
    if not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
        raise ValueError(f"{name} must be finite and non-negative with a positive sum")
    return w


def _cost_matrix(C, be, check_finite: bool):
    if not hasattr(C, "shape") or not hasattr(C, "dtype"):
        C = np.asarray(C)
    if C.dtype.kind not in "biuf" or len(C.shape) != 2 or 0 in C.shape:
        raise ValueError(f"C must be a non-empty 2-D real cost matrix, got shape {tuple(C.shape)} dtype {C.dtype}")
    C = be.xp.ascontiguousarray(be.asarray(C, dtype=np.float64))
    if check_finite and not bool(be.xp.isfinite(C).all()):
        raise ValueError("C contains NaN or inf; costs must be finite (give forbidden pairs a large finite cost)")
    return C


def read_inputs(method: str, data, a, b, eps, backend, f0, g0) -> Inputs:
    """Validate ``data`` (a problem with ``C, a, b, eps``, or the cost matrix of POT-style arrays
    ``(C, a, b, eps=...)``), pick the backend, find zero weights, check warm starts.

    A problem object is trusted for the finiteness of ``C`` (``EntropicOT`` checks it); arrays
    are checked here. Weights must have equal totals (to 1e-9 relative).
    """
    if hasattr(data, "C"):
        for attr in ("a", "b", "eps"):
            if not hasattr(data, attr):
                raise TypeError(f"{method}: problem must be an EntropicOT (or have C, a, b, eps); missing {attr!r}")
        if a is not None or b is not None:
            raise TypeError(f"{method}(problem, ...): the options are keyword-only, e.g. {method}(problem, tol=1e-9); "
                            "pass a and b only with a cost matrix: {method}(C, a, b, eps=...)")
        if eps is not None:
            raise TypeError(f"{method}: eps comes from the problem (problem.eps={data.eps!r}); pass eps= only with "
                            "arrays, or build the problem with the eps you want")
        C, a, b, eps, where, check = data.C, data.a, data.b, data.eps, " (problem.eps)", False
    elif hasattr(data, "shape") or isinstance(data, (list, tuple)):
        if eps is None:
            raise TypeError(f"{method}(C, a, b, eps=...): eps is required with arrays (a positive number)")
        C, where, check = data, "", True
    else:
        raise TypeError(f"{method}: expected an EntropicOT (or an object with C, a, b, eps) or a cost matrix, "
                        f"got {type(data).__name__}")
    eps = positive_eps(eps, where)
    be = _backends.get_backend(backend, C)
    C = _cost_matrix(C, be, check)
    n, m = C.shape
    a, b = _weights(be, a, "a", n), _weights(be, b, "b", m)
    if abs(a.sum() - b.sum()) > 1e-9 * max(a.sum(), b.sum()):
        raise ValueError(f"a and b must have equal total mass: sum(a)={a.sum():.12g}, sum(b)={b.sum():.12g}")
    support = None
    if (a <= 0).any() or (b <= 0).any():
        ia, ib = np.nonzero(a > 0)[0], np.nonzero(b > 0)[0]
        support = (ia, ib)
        a, b = a[ia], b[ib]
    out = []
    for v, name, size, idx in ((f0, "f0", n, 0), (g0, "g0", m, 1)):
        if v is not None:
            v = np.asarray(be.to_numpy(v), dtype=np.float64).reshape(-1)
            if v.shape != (size,):
                raise ValueError(f"{name} has shape {v.shape}, expected ({size},)")
            if support is not None:
                v = v[support[idx]]
            if not np.isfinite(v).all():
                raise ValueError(f"{name} contains NaN or inf on the support; pass finite potentials")
            v = be.xp.array(be.asarray(v))
        out.append(v)
    return Inputs(be, C, be.asarray(a), be.asarray(b), eps, support, (n, m), out[0], out[1])


def expand(be, v, idx, size):
    """Scatter the potentials of the supported rows back to full size (-inf elsewhere)."""
    if idx is None:
        return v
    xp = be.xp
    full = xp.full(size, -xp.inf)
    full[be.asarray(idx)] = v
    return full
