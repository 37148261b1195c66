"""NumPy reference kernels for entropic optimal transport (log-domain Sinkhorn, sparse Newton).

The readable version of every OT step; ``solvers._kernels.numba.ot`` (fused, parallel CPU
kernels) and ``solvers._kernels.cupy.ot`` (GPU) have the same functions with the same
signatures and are tested against this module. Conventions shared by the three sets:

* potentials are in the units of the cost: the plan is ``P_ij = exp((f_i + g_j - C_ij) / eps)``;
* ``cost = prepare_cost(C)`` turns the C-ordered float64 cost matrix (n x m) into what the set
  needs (here only ``C``; the Numba set adds the transposed copy for contiguous column passes
  and work buffers); every dense kernel takes that object;
* a truncated plan is a CSR triple ``(indptr, indices, data)`` of shape (n, m) that keeps, per
  row, the entries ``P_ij >= rho * max_j P_ij``, at most ``max(kmax, k_share)`` of them (the
  largest; ties at the cut broken by position), where ``k_share`` is the fewest largest entries
  that carry ``share`` of the row's mass ``sum_j P_ij``: the cap ``kmax`` only binds on rows
  whose ``kmax`` largest entries already hold that share (``share=0``: a hard cap);
* every kernel entry checks the shapes and dtypes of the vectors it is given
  (:func:`check_vector`) before touching memory: a wrong length is a ValueError naming the
  argument, never an out-of-bounds read or a silent broadcast;
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


def check_vector(name, v, size):
    """``v`` must be a float64 vector of length ``size`` (else a ValueError/TypeError naming it)."""
    shape = getattr(v, "shape", None)
    if shape != (size,):
        raise ValueError(f"OT kernel: {name} has shape {shape}, expected ({size},)")
    if getattr(v, "dtype", None) != np.float64:
        raise TypeError(f"OT kernel: {name} must be float64, got dtype {getattr(v, 'dtype', type(v).__name__)}")
    return v


def _check_pairs(check, cost, rows=(), cols=()):
    """Check ``(name, vector)`` pairs with ``check(name, v, size)`` against the rows (n) and
    columns (m) of the cost (shared by every backend's set, each with its own ``check``)."""
    n, m = cost.C.shape
    for name, v in rows:
        check(name, v, n)
    for name, v in cols:
        check(name, v, m)


def _check(cost, rows=(), cols=()):
    _check_pairs(check_vector, cost, rows, cols)


def prepare_cost(C):
    """The cost matrix as the kernels of this set use it (``.C``, shape n x m; float64, or
    float32 whose entries every formula promotes to float64)."""
    return SimpleNamespace(C=C)


# ---------------------------------------------------------------------------------------------
# log-sum-exp passes and Sinkhorn updates
def row_lse(cost, g, eps):
    """``LSE_j (g_j - C_ij) / eps`` for every row i (max-shifted, never overflows)."""
    _check(cost, cols=[("g", g)])
    return logsumexp((g[None, :] - cost.C) / eps, axis=1)


def col_lse(cost, f, eps):
    """``LSE_i (f_i - C_ij) / eps`` for every column j."""
    _check(cost, rows=[("f", f)])
    return logsumexp((f[:, None] - cost.C) / eps, axis=0)


def row_weighted_sums(C, v):
    """``(C v)_i`` in float64 for a raw 2-D array ``C`` (float32 or float64): NumPy's own summation loop
    (``einsum`` without BLAS), so the value does not depend on BLAS threads; for the plan's fingerprint."""
    return np.einsum("ij,j->i", C, v, dtype=np.float64, casting="same_kind")


def col_min(cost, f):
    """``min_i (C_ij - f_i)`` for every column j: the potentials ``g_j = col_min_j + eps log b_j`` put
    each column's largest exponent ``(f_i + g_j - C_ij) / eps`` at ``log b_j`` exactly (a stabilised
    kernel's reference potentials without an exponential pass)."""
    _check(cost, rows=[("f", f)])
    return (cost.C - f[:, None]).min(axis=0)


def f_update(cost, g, log_a, eps, out):
    """Sinkhorn row update ``f_i = eps log a_i - eps LSE_j (g_j - C_ij)/eps``, written to ``out``."""
    _check(cost, rows=[("log_a", log_a), ("out", out)])
    out[...] = eps * (log_a - row_lse(cost, g, eps))
    return out


def g_update(cost, f, log_b, eps, out):
    """Sinkhorn column update ``g_j = eps log b_j - eps LSE_i (f_i - C_ij)/eps``, written to ``out``."""
    _check(cost, cols=[("log_b", log_b), ("out", out)])
    out[...] = eps * (log_b - col_lse(cost, f, eps))
    return out


def row_gap(a, f_old, f_new, eps):
    """L1 row-marginal error of ``(f_old, g)`` when ``f_new`` is the Sinkhorn update of ``f_old``
    for that ``g``: the row sums of the plan are ``a_i exp((f_old_i - f_new_i) / eps)``."""
    check_vector("f_old", f_old, a.shape[0])
    check_vector("f_new", f_new, a.shape[0])
    x = (f_old - f_new) / eps
    with np.errstate(over="ignore", invalid="ignore"):   # an overflowing row sum is an infinite error
        # exp(log a + x) where exp(x) alone overflows (a subnormal weight with a row sum near 1)
        r = np.where((x > 700.0) & (a > 0), np.exp(np.log(np.where(a > 0, a, 1.0)) + np.minimum(x, 1e300)),
                     a * np.exp(np.minimum(x, 700.0)))
        return float(np.abs(a - r).sum())


# ---------------------------------------------------------------------------------------------
# kernel space (scaling) Sinkhorn: the stabilised kernel and its products
def scaling_kernel(cost, f, g, eps, out):
    """The stabilised Gibbs kernel ``out[i, j] = exp((f_i + g_j - C_ij) / eps)`` in the dtype of
    ``out`` (float64, or float32 for the cheap early iterations), for the scaling iteration
    ``u = a / (K v)``, ``v = b / (K^T u)`` whose potentials are ``f + eps log u``, ``g + eps log v``
    (Schmitzer 2019). Returns the row maxima of the exponent, ``max_j (f_i + g_j - C_ij) / eps``
    (float64, length n), from which the caller decides whether the kernel is safe (no row that
    underflows to zero, nothing that overflows). Entries below the smallest normal number of
    the output type are stored as 0 (harmless: they are negligible next to the row maximum,
    and subnormal arithmetic is slow on some CPUs)."""
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    if getattr(out, "shape", None) != cost.C.shape or out.dtype not in (np.float64, np.float32):
        raise ValueError(f"OT kernel: out must be a float64/float32 array of shape {cost.C.shape}")
    Z = _log_plan(cost, f, g, eps)
    zmax = Z.max(axis=1)
    with np.errstate(under="ignore", over="ignore"):
        np.exp(Z, out=Z)
    Z[Z < np.finfo(out.dtype).tiny] = 0.0     # no subnormals in the kernel (slow on some CPUs)
    out[...] = Z
    return zmax


def scaling_matvec(kernel, v, out):
    """``out = K v`` (float64 ``out``, length n) for a kernel from :func:`scaling_kernel`,
    accumulated in float64 also for a float32 kernel (as the Numba set does; here through a
    float64 copy of the kernel)."""
    check_vector("v", v, kernel.shape[1])
    check_vector("out", out, kernel.shape[0])
    np.dot(kernel.astype(np.float64, copy=False), v, out=out)
    return out


def scaling_rmatvec(kernel, u, out):
    """``out = K^T u`` (float64 ``out``, length m)."""
    check_vector("u", u, kernel.shape[0])
    check_vector("out", out, kernel.shape[1])
    if kernel.dtype == np.float32:
        out[...] = u.astype(np.float32) @ kernel
    else:
        np.dot(u, kernel, out=out)
    return out


def scaling_step(kernel, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi):
    """One scaling iteration from ``(u, v)``, measured first: ``Kv = K v``; the row-marginal error
    ``err = sum_i |a_i - u_i (K v)_i|`` of the plan ``diag(u) K diag(v)`` (its column marginal is exact:
    ``v`` is the column update of ``u``); ``u_new = a / Kv``; if every entry of ``u_new`` lies in
    ``[lo, hi]``, ``KTu = K^T u_new`` and ``v_new = b / KTu``. Returns ``(err, code)``: code 0 when
    both new scalings are in range, 1 when ``u_new`` is not (``KTu``, ``v_new`` not computed), 2 when
    ``v_new`` is not (NaN is out of range). ``u`` and ``v`` are not changed: a caller that stops at
    this measurement keeps the measured iterate."""
    scaling_matvec(kernel, v, Kv)
    for name, w, size in (("u", u, kernel.shape[0]), ("a", a, kernel.shape[0]), ("u_new", u_new, kernel.shape[0]),
                          ("b", b, kernel.shape[1]), ("v_new", v_new, kernel.shape[1])):
        check_vector(name, w, size)
    err = np.abs(a - u * Kv).sum()
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        np.divide(a, Kv, out=u_new)
        if not bool(np.all((u_new >= lo) & (u_new <= hi))):
            return err, 1
        scaling_rmatvec(kernel, u_new, KTu)
        np.divide(b, KTu, out=v_new)
    return err, (0 if bool(np.all((v_new >= lo) & (v_new <= hi))) else 2)


def scaling_sparse(kernel, u, v, rho, kmax, share=0.0):
    """For the plan ``P_ij = u_i K_ij v_j`` of a kernel from :func:`scaling_kernel` (float32 or
    float64; ``u``, ``v`` float64 scalings): its row sums ``r = u * (K v)`` (float64) and its
    truncation as CSR arrays ``(indptr, indices, data)`` by the rule of :func:`sparse_plan` (the
    SNS Newton stage in kernel space: no exponential, the kernel is read once)."""
    check_vector("u", u, kernel.shape[0])
    check_vector("v", v, kernel.shape[1])
    E = kernel.astype(np.float64) * v[None, :]
    mx = E.max(axis=1)
    r = u * E.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = E / mx[:, None]                        # entries relative to the row maximum
    R[~(mx > 0)] = 0.0
    keep = (R >= rho) & (mx > 0)[:, None]
    return r, _csr_of(R, keep, u * mx, kmax, share)


def _csr_of(R, keep, scale, kmax, share):
    """CSR of ``scale_i * R_ij`` over the candidates ``keep`` capped per row (the rule of
    :func:`sparse_plan`); ``R`` holds each row's entries relative to its maximum."""
    n = R.shape[0]
    count, k = _keep_counts(R, keep, kmax, share)
    for i in np.nonzero(count > k)[0]:   # keep the k largest (stable: ties by position)
        keep[i] = False
        keep[i, np.argsort(-R[i], kind="stable")[:k[i]]] = True
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols.astype(np.int64), scale[rows] * R[rows, cols]


# ---------------------------------------------------------------------------------------------
# the plan: cost, dense, truncated
def _log_plan(cost, f, g, eps):
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    return (f[:, None] + g[None, :] - cost.C) / eps


def plan_cost(cost, f, g, eps):
    """``<P, C> = sum_ij P_ij C_ij``."""
    with np.errstate(over="ignore"):   # inf for plans that overflow (the caller checks finiteness)
        return float((np.exp(_log_plan(cost, f, g, eps)) * cost.C).sum())


def plan_dense(cost, f, g, eps):
    """The plan ``P`` as an (n, m) array."""
    return np.exp(_log_plan(cost, f, g, eps))


def log_marginals(cost, f, g, eps):
    """``(log P 1, log P^T 1)`` of the plan of ``(f, g)``, with the exponent summed *before* the
    division, ``(f_i + g_j - C_ij) / eps`` in this order (as a user evaluates the plan), and a
    max-shifted log-sum-exp: no cancellation between ``f_i / eps`` and a row LSE, no overflow.
    This is how a solver measures the potentials it returns."""
    Z = _log_plan(cost, f, g, eps)
    with np.errstate(invalid="ignore", over="ignore"):
        return logsumexp(Z, axis=1), logsumexp(Z, axis=0)


def plan_summary(cost, f, g, eps):
    """``(log P 1, log P^T 1, <P, C>)``: :func:`log_marginals` and :func:`plan_cost` of the same
    potentials (how a solver measures and reports what it returns; the Numba set does both in one
    pass over C)."""
    return (*log_marginals(cost, f, g, eps), plan_cost(cost, f, g, eps))


def _keep_counts(E, keep, kmax, share):
    """Entries kept per row: the ``keep`` ones (``>= rho`` max), at most ``max(kmax, k_share)``.
    ``E`` holds the row's entries divided by the row maximum."""
    count = keep.sum(axis=1)
    k = np.minimum(count, kmax)
    for i in np.nonzero(count > kmax)[0]:
        if share > 0:
            top = np.cumsum(np.sort(E[i][keep[i]])[::-1])
            need = int(np.searchsorted(top, share * E[i].sum())) + 1   # fewest entries holding the share
            k[i] = min(count[i], max(kmax, need))
    return count, k


def sparse_plan(cost, f, g, eps, rho, kmax, share=0.0):
    """The plan truncated per row (see the module notes) as CSR arrays ``(indptr, indices, data)``."""
    Z = _log_plan(cost, f, g, eps)
    n = Z.shape[0]
    zmax = Z.max(axis=1)
    keep = Z >= (zmax + math.log(rho))[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        E = np.exp(Z - zmax[:, None])
    count, k = _keep_counts(E, keep, kmax, share)
    for i in np.nonzero(count > k)[0]:   # keep the k largest (stable: ties by position)
        keep[i] = False
        keep[i, np.argsort(-Z[i], kind="stable")[:k[i]]] = True
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    with np.errstate(over="ignore"):   # a trial point of a line search may overflow: D(f, g) is then -inf
        data = np.exp(Z[rows, cols])
    return indptr, cols.astype(np.int64), data


def row_lse_sparse(cost, g, f, eps, rho, kmax, share=0.0):
    """``row_lse(cost, g, eps)`` and ``sparse_plan(cost, f, g, eps, rho, kmax, share)`` together (the
    Newton stage needs both at every trial point; the Numba set fuses them into one pass over C)."""
    return row_lse(cost, g, eps), sparse_plan(cost, f, g, eps, rho, kmax, share)


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
