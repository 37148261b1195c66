"""CuPy kernels for entropic optimal transport (GPU twins of ``_kernels/numba/ot.py``).

The OT kernel set: the functions, signatures and meaning of the NumPy reference
``solvers._kernels.numpy.ot`` (read its notes first), on device arrays. Row and column
log-sum-exp are two fused reductions each (max, then sum of shifted exponentials) with
broadcasting, so no n x m temporary is formed. The truncated plan
for the sparse Newton stage is built with plain CuPy ops (one n x m temporary).
Scalars that a loop tests (the marginal error) stay on the device; ``CHECK_EVERY = 10``
reads them back every tenth iteration. Sparse matrices are ``cupyx.scipy.sparse`` with int32
indices. CuPy is imported inside the functions; nothing here imports from the package.
"""
import math
from types import SimpleNamespace

from ..numpy.ot import plan_matvec, plan_rmatvec, schur_matvec  # noqa: F401  (array-module agnostic)
from . import _build
from ..numpy import ot as _reference

#: read the (device) marginal error back every tenth iteration: each read synchronises
CHECK_EVERY = 10

_NEG_HUGE = "-1.7976931348623157e308"

#: every CUDA source of this module (compiled by tests/kernels/test_cuda_compile.py without a GPU)
_MAX = _build.Reduction("nk_ot_shifted_max", "float64 c, float64 p, float64 inv_eps", "float64 y",
                        "(p - c) * inv_eps", "max(a, b)", "y = a", _NEG_HUGE)
_SUMEXP = _build.Reduction("nk_ot_sum_shifted_exp", "float64 c, float64 p, float64 mx, float64 inv_eps",
                           "float64 y", "exp((p - c) * inv_eps - mx)", "a + b", "y = a", "0")
_COST = _build.Reduction("nk_ot_plan_cost", "float64 c, float64 f, float64 g, float64 inv_eps", "float64 y",
                         "exp((f + g - c) * inv_eps) * c", "a + b", "y = a", "0")
_PAIR_MAX = _build.Reduction("nk_ot_pair_max", "float64 c, float64 f, float64 g, float64 inv_eps", "float64 y",
                             "((f + g) - c) * inv_eps", "max(a, b)", "y = a", _NEG_HUGE)
SOURCES = (_MAX, _SUMEXP, _COST, _PAIR_MAX)

#: rows per chunk of the kernel build (bounds its float64 temporary to about 2**23 entries)
_CHUNK_ENTRIES = 2**23


def _kernels():
    return {"max": _build.build(_MAX), "sumexp": _build.build(_SUMEXP), "cost": _build.build(_COST),
            "pair_max": _build.build(_PAIR_MAX)}


def check_vector(name, v, size):
    """``v`` must be a float64 vector of length ``size``: else a ValueError/TypeError naming it."""
    shape = getattr(v, "shape", None)
    if shape != (size,):
        raise ValueError(f"OT kernel: {name} has shape {shape}, expected ({size},)")
    if str(getattr(v, "dtype", "")) != "float64":
        raise TypeError(f"OT kernel: {name} must be float64, got dtype {getattr(v, 'dtype', type(v).__name__)}")
    return v


def _check(cost, rows=(), cols=()):
    _reference._check_pairs(check_vector, cost, rows, cols)


def prepare_cost(C):
    """The device cost matrix (``.C``); columns are reduced in place (adjacent threads read
    adjacent columns), so no transposed copy is kept. A float32 C is converted to float64 here
    (the reductions are declared for float64 costs): on the GPU a float32 C saves nothing."""
    if str(C.dtype) != "float64":
        C = C.astype("float64")
    return SimpleNamespace(C=C)


def row_lse(cost, g, eps):
    """``LSE_j (g_j - C_ij) / eps`` per row (shape n)."""
    import cupy as cp

    _check(cost, cols=[("g", g)])
    C = cost.C
    K = _kernels()
    inv = 1.0 / eps
    mx = K["max"](C, g[None, :], inv, axis=1)
    s = K["sumexp"](C, g[None, :], mx[:, None], inv, axis=1)
    return mx + cp.log(s)


def row_weighted_sums(C, v):
    """``(C v)_i`` in float64 (``C`` float32 or float64) for the plan's fingerprint."""
    return (C @ v.astype(C.dtype)).astype(v.dtype)


def col_min(cost, f):
    """``min_i (C_ij - f_i)`` per column: minus the shifted-max reduction at ``inv_eps = 1``."""
    _check(cost, rows=[("f", f)])
    return -_kernels()["max"](cost.C, f[:, None], 1.0, axis=0)


def col_lse(cost, f, eps):
    """``LSE_i (f_i - C_ij) / eps`` per column (shape m); adjacent threads read adjacent columns."""
    import cupy as cp

    _check(cost, rows=[("f", f)])
    C = cost.C
    K = _kernels()
    inv = 1.0 / eps
    mx = K["max"](C, f[:, None], inv, axis=0)
    s = K["sumexp"](C, f[:, None], mx[None, :], inv, axis=0)
    return mx + cp.log(s)


def f_update(cost, g, log_a, eps, out):
    _check(cost, rows=[("log_a", log_a), ("out", out)])
    out[...] = eps * (log_a - row_lse(cost, g, eps))
    return out


def g_update(cost, f, log_b, eps, out):
    _check(cost, cols=[("log_b", log_b), ("out", out)])
    out[...] = eps * (log_b - col_lse(cost, f, eps))
    return out


def row_gap(a, f_old, f_new, eps):
    """The L1 row gap as a 0-d device array (no synchronisation)."""
    import cupy as cp

    check_vector("f_old", f_old, a.shape[0])
    check_vector("f_new", f_new, a.shape[0])
    x = (f_old - f_new) / eps
    # exp(log a + x) where exp(x) alone overflows (a subnormal weight with a row sum near 1), as the
    # NumPy reference row_gap does
    r = cp.where((x > 700.0) & (a > 0), cp.exp(cp.log(cp.where(a > 0, a, 1.0)) + cp.minimum(x, 1e300)),
                  a * cp.exp(cp.minimum(x, 700.0)))
    return cp.abs(a - r).sum()


def scaling_kernel(cost, f, g, eps, out):
    """The stabilised kernel ``exp((f_i + g_j - C_ij) / eps)`` into ``out`` (float64 or float32),
    in row chunks (a float64 temporary of at most ``_CHUNK_ENTRIES`` entries), and the row
    maxima of the exponent (one reduction)."""
    import cupy as cp

    _check(cost, rows=[("f", f)], cols=[("g", g)])
    if getattr(out, "shape", None) != cost.C.shape or str(out.dtype) not in ("float64", "float32"):
        raise ValueError(f"OT kernel: out must be a float64/float32 array of shape {cost.C.shape}")
    C = cost.C
    n, m = C.shape
    inv = 1.0 / eps
    step = max(1, _CHUNK_ENTRIES // m)
    tiny = float(cp.finfo(out.dtype).tiny)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        Z = ((f[i0:i1, None] + g[None, :]) - C[i0:i1]) * inv
        Z = cp.exp(Z, out=Z)
        out[i0:i1] = cp.where(Z >= tiny, Z, 0.0)     # no subnormals, as the CPU sets
    return _kernels()["pair_max"](C, f[:, None], g[None, :], inv, axis=1)


def scaling_matvec(kernel, v, out):
    """``out = K v`` (cuBLAS; a float32 kernel multiplies a float32 copy of ``v``)."""
    check_vector("v", v, kernel.shape[1])
    check_vector("out", out, kernel.shape[0])
    out[...] = kernel @ (v.astype(kernel.dtype) if kernel.dtype != v.dtype else v)
    return out


def scaling_rmatvec(kernel, u, out):
    """``out = K^T u`` (cuBLAS)."""
    check_vector("u", u, kernel.shape[0])
    check_vector("out", out, kernel.shape[1])
    out[...] = (u.astype(kernel.dtype) if kernel.dtype != u.dtype else u) @ kernel
    return out


def scaling_step(kernel, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi):
    """As the reference: one measured scaling iteration; ``err`` stays on the device, the range
    test is read back (one synchronisation per iteration, as the range checks it replaces)."""
    import cupy as cp

    scaling_matvec(kernel, v, Kv)
    for name, w, size in (("u", u, kernel.shape[0]), ("a", a, kernel.shape[0]), ("u_new", u_new, kernel.shape[0]),
                          ("b", b, kernel.shape[1]), ("v_new", v_new, kernel.shape[1])):
        check_vector(name, w, size)
    err = cp.abs(a - u * Kv).sum()
    cp.divide(a, Kv, out=u_new)
    if not bool(((u_new >= lo) & (u_new <= hi)).all()):
        return err, 1
    scaling_rmatvec(kernel, u_new, KTu)
    cp.divide(b, KTu, out=v_new)
    return err, (0 if bool(((v_new >= lo) & (v_new <= hi)).all()) else 2)


def plan_cost(cost, f, g, eps):
    """``sum_ij exp((f_i + g_j - C_ij)/eps) C_ij``."""
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    return float(_kernels()["cost"](cost.C, f[:, None], g[None, :], 1.0 / eps))


def plan_dense(cost, f, g, eps):
    import cupy as cp

    _check(cost, rows=[("f", f)], cols=[("g", g)])
    return cp.exp((f[:, None] + g[None, :] - cost.C) / eps)


def plan_summary(cost, f, g, eps):
    """``(log P 1, log P^T 1, <P, C>)``: :func:`log_marginals` and :func:`plan_cost`."""
    return (*log_marginals(cost, f, g, eps), plan_cost(cost, f, g, eps))


def log_marginals(cost, f, g, eps):
    """``(log P 1, log P^T 1)`` with ``(f_i + g_j - C_ij) / eps`` summed before the division (one
    n x m temporary), max-shifted."""
    import cupy as cp

    _check(cost, rows=[("f", f)], cols=[("g", g)])
    Z = (f[:, None] + g[None, :] - cost.C) / eps
    out = []
    for axis in (1, 0):
        mx = Z.max(axis=axis, keepdims=True)
        safe = cp.where(cp.isfinite(mx), mx, 0.0)
        out.append((cp.log(cp.exp(Z - safe).sum(axis=axis, keepdims=True)) + safe).reshape(-1))
    return out[0], out[1]


def sparse_plan(cost, f, g, eps, rho, kmax, share=0.0):
    """CSR arrays of the plan truncated per row to ``P_ij >= rho max_j P_ij`` (at most
    ``max(kmax, k_share)`` largest, see the reference; ties at the cut may keep a few more)."""
    import cupy as cp

    _check(cost, rows=[("f", f)], cols=[("g", g)])
    C = cost.C
    log_rho = math.log(rho)
    n, m = C.shape
    Z = (f[:, None] + g[None, :] - C) * (1.0 / eps)
    rowmax = Z.max(axis=1)
    keep = Z >= (rowmax + log_rho)[:, None]
    counts = keep.sum(axis=1)
    over = cp.nonzero(counts > kmax)[0]
    if over.size and kmax < m:
        Zo = Z[over]
        Zs = -cp.sort(-Zo, axis=1)                      # each row descending
        k = cp.full(over.size, kmax)
        if share > 0:
            E = cp.exp(Zs - rowmax[over][:, None])
            E = cp.where(Zs >= (rowmax[over] + log_rho)[:, None], E, 0.0)
            need = (cp.cumsum(E, axis=1) < share * cp.exp(Zo - rowmax[over][:, None]).sum(axis=1)[:, None]).sum(1) + 1
            k = cp.minimum(counts[over], cp.maximum(k, need))
        thr = cp.take_along_axis(Zs, (k - 1)[:, None], axis=1)
        keep[over] = Zo >= thr
    rows, cols = cp.nonzero(keep)
    # cupyx.scipy.sparse wants int32 indices; int64 only when nnz would overflow them
    itype = cp.int32 if rows.size <= 2**31 - 1 else cp.int64
    indptr = cp.zeros(n + 1, dtype=itype)
    indptr[1:] = cp.cumsum(cp.bincount(rows, minlength=n))
    return indptr, cols.astype(itype), cp.exp(Z[rows, cols])


def scaling_sparse(kernel, u, v, rho, kmax, share=0.0):
    """Row sums ``u * (K v)`` and the truncated plan ``u_i K_ij v_j`` (the reference's rule) with
    plain CuPy ops (one float64 n x m temporary)."""
    import cupy as cp

    check_vector("u", u, kernel.shape[0])
    check_vector("v", v, kernel.shape[1])
    n, m = kernel.shape
    E = kernel.astype(cp.float64) * v[None, :]
    mx = E.max(axis=1)
    r = u * E.sum(axis=1)
    R = E / cp.where(mx > 0, mx, 1.0)[:, None]
    keep = R >= rho
    counts = keep.sum(axis=1)
    over = cp.nonzero(counts > kmax)[0]
    if over.size and kmax < m:
        Ro = R[over]
        Rs = -cp.sort(-Ro, axis=1)                      # each row descending
        k = cp.full(over.size, kmax)
        if share > 0:
            need = (cp.cumsum(cp.where(Rs >= rho, Rs, 0.0), axis=1) < share * Ro.sum(axis=1)[:, None]).sum(1) + 1
            k = cp.minimum(counts[over], cp.maximum(k, need))
        keep[over] = Ro >= cp.take_along_axis(Rs, (k - 1)[:, None], axis=1)
    rows, cols = cp.nonzero(keep)
    itype = cp.int32 if rows.size <= 2**31 - 1 else cp.int64
    indptr = cp.zeros(n + 1, dtype=itype)
    indptr[1:] = cp.cumsum(cp.bincount(rows, minlength=n))
    return r, (indptr, cols.astype(itype), (u * mx)[rows] * R[rows, cols])


def row_lse_sparse(cost, g, f, eps, rho, kmax, share=0.0):
    """Two device passes (row LSE, truncated plan)."""
    return row_lse(cost, g, eps), sparse_plan(cost, f, g, eps, rho, kmax, share)


def schur_prepare(csr, shape):
    """``P`` and ``P^T`` as ``cupyx.scipy.sparse`` CSR matrices."""
    import cupyx.scipy.sparse as sps

    indptr, indices, data = csr
    P = sps.csr_matrix((data, indices, indptr), shape=shape)
    return SimpleNamespace(P=P, PT=P.T.tocsr(), csr=csr, shape=shape)


def schur_diagonal(schur, dcol, inv_drow):
    import cupyx.scipy.sparse as sps

    indptr, indices, data = schur.csr
    return dcol - sps.csr_matrix((data * data, indices, indptr), shape=schur.shape).T @ inv_drow


def csr_matrix(csr, shape):
    import cupyx.scipy.sparse as sps

    indptr, indices, data = csr
    return sps.csr_matrix((data, indices, indptr), shape=shape)


def csr_scatter(P, rows, cols, shape):
    """(data, ij) COO form, which every cupyx version accepts."""
    import cupyx.scipy.sparse as sps

    coo = P.tocoo()
    return sps.coo_matrix((coo.data, (rows[coo.row], cols[coo.col])), shape=shape).tocsr()
