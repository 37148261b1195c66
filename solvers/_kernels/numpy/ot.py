"""NumPy reference kernels for entropic optimal transport (log-domain Sinkhorn, sparse Newton).

The readable version of every OT step; ``solvers._kernels.numba.ot`` (fused, parallel CPU
kernels) and ``solvers._kernels.cupy.ot`` (GPU) have the same functions with the same
signatures and are tested against this module. Conventions shared by the three sets:

* potentials are in the units of the cost: the plan is ``P_ij = exp((f_i + g_j - C_ij) / eps)``;
* ``cost = prepare_cost(C)`` turns the C-ordered float64 cost matrix (n x m) into what the set
  needs (here only ``C``; the Numba set adds the transposed copy for contiguous column passes
  and work buffers); every dense kernel takes that object;
* a truncated plan is a CSR triple ``(indptr, indices, data)`` of shape (n, m) that keeps, per
  row, the entries ``P_ij >= rho * max_j P_ij``, at most ``kmax`` of them (the largest; ties at
  the cut broken by position);
* ``schur = schur_prepare(csr, shape)`` holds a truncated plan ``P`` ready for the Schur
  complement ``S = diag(dcol) - P^T diag(inv_drow) P`` of the sparse Newton stage;
* ``CHECK_EVERY``: how often a loop reads the marginal error back on the host by default.

These functions form O(n m) temporaries; they are meant to be clear, not fast.
Nothing here imports from the package.
"""
import math
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sps
from scipy.special import logsumexp

#: read the marginal error every iteration (host arrays: reading is free)
CHECK_EVERY = 1


def prepare_cost(C):
    """The cost matrix as the kernels of this set use it (``.C``, shape n x m)."""
    return SimpleNamespace(C=C)


# ---------------------------------------------------------------------------------------------
# log-sum-exp passes and Sinkhorn updates
def row_lse(cost, g, eps):
    """``LSE_j (g_j - C_ij) / eps`` for every row i (max-shifted, never overflows)."""
    return logsumexp((g[None, :] - cost.C) / eps, axis=1)


def col_lse(cost, f, eps):
    """``LSE_i (f_i - C_ij) / eps`` for every column j."""
    return logsumexp((f[:, None] - cost.C) / eps, axis=0)


def f_update(cost, g, log_a, eps, out):
    """Sinkhorn row update ``f_i = eps log a_i - eps LSE_j (g_j - C_ij)/eps``, written to ``out``."""
    out[...] = eps * (log_a - row_lse(cost, g, eps))
    return out


def g_update(cost, f, log_b, eps, out):
    """Sinkhorn column update ``g_j = eps log b_j - eps LSE_i (f_i - C_ij)/eps``, written to ``out``."""
    out[...] = eps * (log_b - col_lse(cost, f, eps))
    return out


def row_gap(a, f_old, f_new, eps):
    """L1 row-marginal error of ``(f_old, g)`` when ``f_new`` is the Sinkhorn update of ``f_old``
    for that ``g``: the row sums of the plan are ``a_i exp((f_old_i - f_new_i) / eps)``."""
    return float(np.abs(a - a * np.exp((f_old - f_new) / eps)).sum())


# ---------------------------------------------------------------------------------------------
# the plan: cost, dense, truncated
def _log_plan(cost, f, g, eps):
    return (f[:, None] + g[None, :] - cost.C) / eps


def plan_cost(cost, f, g, eps):
    """``<P, C> = sum_ij P_ij C_ij``."""
    return float((np.exp(_log_plan(cost, f, g, eps)) * cost.C).sum())


def plan_dense(cost, f, g, eps):
    """The plan ``P`` as an (n, m) array."""
    return np.exp(_log_plan(cost, f, g, eps))


def sparse_plan(cost, f, g, eps, rho, kmax):
    """The plan truncated per row (see the module notes) as CSR arrays ``(indptr, indices, data)``."""
    Z = _log_plan(cost, f, g, eps)
    n = Z.shape[0]
    keep = Z >= (Z.max(axis=1) + math.log(rho))[:, None]
    for i in np.nonzero(keep.sum(axis=1) > kmax)[0]:   # keep the kmax largest (stable: ties by position)
        keep[i] = False
        keep[i, np.argsort(-Z[i], kind="stable")[:kmax]] = True
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    with np.errstate(over="ignore"):   # a trial point of a line search may overflow: D(f, g) is then -inf
        data = np.exp(Z[rows, cols])
    return indptr, cols.astype(np.int64), data


def row_lse_sparse(cost, g, f, eps, rho, kmax):
    """``row_lse(cost, g, eps)`` and ``sparse_plan(cost, f, g, eps, rho, kmax)`` together (the Newton
    stage needs both at every trial point; the Numba set fuses them into one pass over C)."""
    return row_lse(cost, g, eps), sparse_plan(cost, f, g, eps, rho, kmax)


# ---------------------------------------------------------------------------------------------
# the Schur complement of the sparsified Newton system
def schur_prepare(csr, shape):
    """The truncated plan ``P`` (CSR triple, ``shape = (n, m)``) as SciPy matrices ``P`` and ``P^T``."""
    indptr, indices, data = csr
    P = sps.csr_matrix((data, indices, indptr), shape=shape)
    return SimpleNamespace(P=P, PT=P.T.tocsr(), csr=csr, shape=shape)


def schur_diagonal(schur, dcol, inv_drow):
    """``diag(S) = dcol_j - sum_i P_ij^2 inv_drow_i``."""
    indptr, indices, data = schur.csr
    squares = sps.csr_matrix((data * data, indices, indptr), shape=schur.shape)
    return dcol - squares.T @ inv_drow


def schur_matvec(schur, dcol, inv_drow, x, out):
    """``out = S x = dcol * x - P^T (inv_drow * (P x))``."""
    out[...] = dcol * x - schur.PT @ (inv_drow * (schur.P @ x))
    return out


def plan_matvec(schur, x):
    """``P x`` (length n)."""
    return schur.P @ x


def plan_rmatvec(schur, y):
    """``P^T y`` (length m)."""
    return schur.PT @ y


# ---------------------------------------------------------------------------------------------
# sparse matrices handed to the user
def csr_matrix(csr, shape):
    """A ``scipy.sparse.csr_matrix`` from the CSR triple."""
    indptr, indices, data = csr
    return sps.csr_matrix((data, indices, indptr), shape=shape)


def csr_scatter(P, rows, cols, shape):
    """``P`` (a CSR matrix on a sub-grid) placed at rows ``rows`` and columns ``cols`` of a
    zero matrix of ``shape``."""
    coo = P.tocoo()
    return sps.coo_matrix((coo.data, (rows[coo.row], cols[coo.col])), shape=shape).tocsr()
