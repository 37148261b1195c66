"""Compiled kernels of the kernel-space (scaling) Sinkhorn iteration (Numba): ``K^T u`` by row
blocks with float64 partial sums, one whole measured iteration for small kernels, and the column
minima that give a first kernel its reference potentials. The checked entry points
(``scaling_rmatvec``, ``scaling_step``, ``col_min``) are in :mod:`solvers._kernels.numba.ot`."""
import numba as nb
import numpy as np

from ._ot_dense import _kernel_matvec_serial


@nb.njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _rows_into(K, u, i0, i1, acc):
    """``acc += K[i0:i1]^T u[i0:i1]`` (float64), four rows per sweep of ``acc`` (a quarter of its
    loads and stores: the loop streams K once, vectorised)."""
    m = K.shape[1]
    i = i0
    while i + 4 <= i1:
        u0, u1, u2, u3 = u[i], u[i + 1], u[i + 2], u[i + 3]
        K0, K1, K2, K3 = K[i], K[i + 1], K[i + 2], K[i + 3]
        for j in range(m):
            acc[j] += (u0 * K0[j] + u1 * K1[j]) + (u2 * K2[j] + u3 * K3[j])
        i += 4
    while i < i1:
        ui, K0 = u[i], K[i]
        for j in range(m):
            acc[j] += ui * K0[j]
        i += 1


@nb.njit(parallel=True, cache=True)
def _kernel_rmatvec(K, u, out, parts):
    """``out = K^T u`` with float64 accumulation: ``parts.shape[0]`` row blocks in parallel, each
    into its own row of ``parts``, then the partial sums added in a fixed order (the result does not
    depend on the scheduling)."""
    n = K.shape[0]
    T = parts.shape[0]
    rows = (n + T - 1) // T
    for t in nb.prange(T):
        parts[t, :] = 0.0
        _rows_into(K, u, min(n, t * rows), min(n, (t + 1) * rows), parts[t])
    out[:] = parts[0]
    for t in range(1, T):
        out += parts[t]
    return out


@nb.njit(cache=True)
def _kernel_rmatvec_serial(K, u, out):
    """Serial :func:`_kernel_rmatvec` (small kernels: a parallel region would dominate)."""
    out[:] = 0.0
    _rows_into(K, u, 0, K.shape[0], out)
    return out


@nb.njit(cache=True, fastmath={"reassoc", "contract", "nsz"}, error_model="numpy")
def _step_rows(a, u, Kv, u_new, lo, hi):
    """``(sum_i |a_i - u_i Kv_i|, every a_i / Kv_i in [lo, hi])`` with ``u_new = a / Kv`` (NumPy's
    error model: a zero ``Kv_i`` gives inf, out of range -- never a ZeroDivisionError)."""
    err = 0.0
    for i in range(a.shape[0]):
        err += abs(a[i] - u[i] * Kv[i])
    ok = True
    for i in range(a.shape[0]):
        x = a[i] / Kv[i]
        u_new[i] = x
        ok &= (x >= lo) & (x <= hi)       # False for NaN
    return err, ok


@nb.njit(cache=True, error_model="numpy")
def _step_cols(b, KTu, v_new, lo, hi):
    ok = True
    for j in range(b.shape[0]):
        x = b[j] / KTu[j]
        v_new[j] = x
        ok &= (x >= lo) & (x <= hi)
    return ok


@nb.njit(cache=True, error_model="numpy")
def _scaling_step_serial(K, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi):
    """:func:`scaling_step` in one compiled call (small kernels: the iteration's Python and dispatch
    overhead, about 45 us at n = 300, was larger than its two products)."""
    _kernel_matvec_serial(K, v, Kv)
    err, ok = _step_rows(a, u, Kv, u_new, lo, hi)
    if not ok:
        return err, 1
    _kernel_rmatvec_serial(K, u_new, KTu)
    return err, (0 if _step_cols(b, KTu, v_new, lo, hi) else 2)


@nb.njit(cache=True, fastmath={"nsz"})
def _min_into(C, f, i0, i1, mn):
    """``mn[j] = min(mn[j], min_{i0 <= i < i1} (C_ij - f_i))`` (rows streamed once, vectorised)."""
    for i in range(i0, i1):
        fi = f[i]
        row = C[i]
        for j in range(mn.shape[0]):
            mn[j] = min(mn[j], row[j] - fi)


@nb.njit(parallel=True, cache=True)
def col_min_blocks(C, f, out, parts):
    """``out[j] = min_i (C_ij - f_i)``: ``parts.shape[0]`` row blocks in parallel, then merged."""
    n = C.shape[0]
    T = parts.shape[0]
    rows = (n + T - 1) // T
    for t in nb.prange(T):
        parts[t, :] = np.inf
        _min_into(C, f, min(n, t * rows), min(n, (t + 1) * rows), parts[t])
    out[:] = parts[0]
    for t in range(1, T):
        for j in range(out.shape[0]):
            out[j] = min(out[j], parts[t, j])
    return out
