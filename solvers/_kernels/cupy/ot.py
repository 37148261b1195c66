"""CuPy kernels for entropic optimal transport (GPU twins of ``_kernels/numba/ot.py``).

Row and column log-sum-exp are two fused reductions each (max, then sum of shifted
exponentials) with broadcasting, so no n x m temporary is formed. The truncated plan
for the sparse Newton stage is built with plain CuPy ops (one n x m temporary).
CuPy is imported inside the functions; nothing here imports from the package.
"""

_K = {}
_NEG_HUGE = "-1.7976931348623157e308"


def _kernels():
    if not _K:
        import cupy as cp

        _K["max"] = cp.ReductionKernel(
            "float64 c, float64 p, float64 inv_eps", "float64 y",
            "(p - c) * inv_eps", "max(a, b)", "y = a", _NEG_HUGE, "nk_ot_shifted_max")
        _K["sumexp"] = cp.ReductionKernel(
            "float64 c, float64 p, float64 mx, float64 inv_eps", "float64 y",
            "exp((p - c) * inv_eps - mx)", "a + b", "y = a", "0", "nk_ot_sum_shifted_exp")
        _K["cost"] = cp.ReductionKernel(
            "float64 c, float64 f, float64 g, float64 inv_eps", "float64 y",
            "exp((f + g - c) * inv_eps) * c", "a + b", "y = a", "0", "nk_ot_plan_cost")
    return _K


def lse_rows(C, g, eps):
    """``LSE_j (g_j - C_ij) / eps`` per row (shape n)."""
    import cupy as cp

    K = _kernels()
    inv = 1.0 / eps
    mx = K["max"](C, g[None, :], inv, axis=1)
    s = K["sumexp"](C, g[None, :], mx[:, None], inv, axis=1)
    return mx + cp.log(s)


def lse_cols(C, f, eps):
    """``LSE_i (f_i - C_ij) / eps`` per column (shape m); adjacent threads read adjacent columns."""
    import cupy as cp

    K = _kernels()
    inv = 1.0 / eps
    mx = K["max"](C, f[:, None], inv, axis=0)
    s = K["sumexp"](C, f[:, None], mx[None, :], inv, axis=0)
    return mx + cp.log(s)


def plan_cost(C, f, g, eps):
    """``sum_ij exp((f_i + g_j - C_ij)/eps) C_ij`` (0-d device array)."""
    return _kernels()["cost"](C, f[:, None], g[None, :], 1.0 / eps)


def sparse_plan(C, f, g, eps, log_rho, kmax):
    """CSR arrays of the plan truncated per row to ``P_ij >= rho max_j P_ij`` (at most ``kmax``
    largest; ties at the cut may keep a few more)."""
    import cupy as cp

    n, m = C.shape
    Z = (f[:, None] + g[None, :] - C) * (1.0 / eps)
    rowmax = Z.max(axis=1)
    keep = Z >= (rowmax + log_rho)[:, None]
    counts = keep.sum(axis=1)
    over = cp.nonzero(counts > kmax)[0]
    if over.size and kmax < m:
        Zo = Z[over]
        thr = -cp.partition(-Zo, kmax - 1, axis=1)[:, kmax - 1]
        keep[over] = Zo >= thr[:, None]
    rows, cols = cp.nonzero(keep)
    # cupyx.scipy.sparse wants int32 indices; int64 only when nnz would overflow them
    itype = cp.int32 if rows.size <= 2**31 - 1 else cp.int64
    indptr = cp.zeros(n + 1, dtype=itype)
    indptr[1:] = cp.cumsum(cp.bincount(rows, minlength=n))
    return indptr, cols.astype(itype), cp.exp(Z[rows, cols])
