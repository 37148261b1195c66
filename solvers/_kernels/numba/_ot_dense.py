"""Numba dense kernels of the OT set: the fast exp, row and column log-sum-exp passes, the plan's
cost and dense form, and the stabilised kernel of kernel-space Sinkhorn with its products.

Split from :mod:`solvers._kernels.numba.ot` (the kernel set, whose notes describe these
kernels: no transposed copy of C, column tiles, the vectorisable exp). Nothing here imports
from the package.
"""
import math

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


_FM_SAFE = {"nnan", "ninf", "nsz", "contract"}

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238      # high part of ln 2 (exact product with small k)
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
_SHIFTER = 6755399441055744.0     # 1.5 * 2**52: adding it rounds to an integer in the low mantissa bits
_XMIN = -700.0


@intrinsic
def _f64_bits(typingctx, x):
    """Reinterpret a float64 as int64 (no conversion)."""
    if x != types.float64:
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _bits_f64(typingctx, x):
    """Reinterpret an int64 as float64 (no conversion)."""
    if x != types.int64:
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@nb.njit(cache=True, fastmath=_FM_SAFE, inline="always")
def _exp_le0(x):
    """exp(x) for x <= 0; x < -700 is clamped to -700 (no subnormal results: they are ~100x
    slower) and x > 0 to 0; branch-free, vectorisable.

    The upper clamp matters: callers pass ``z * inv_eps - mx`` with ``mx`` the rounded maximum
    of the ``z * inv_eps``, and the fast-math contraction may fuse that into one FMA (the
    product unrounded), so the row's own maximum can come out as ``+-u |mx|`` instead of 0 --
    1e83 at ``|mx| = 1e99`` (eps = 1e-100 for costs of order 1), which without the clamp
    overflowed the bit-pattern scale to inf/NaN."""
    x = min(max(x, _XMIN), 0.0)
    t = x * _LOG2E + _SHIFTER
    kf = t - _SHIFTER
    r = (x - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _bits_f64((_f64_bits(t) + 1023) << 52)
    return p * scale


@nb.njit(cache=True, fastmath=_FM_SAFE)
def exp_le0_array(x, out):
    """Elementwise :func:`_exp_le0` (exposed for accuracy tests)."""
    for k in range(x.shape[0]):
        out[k] = _exp_le0(x[k])
    return out


@nb.njit(cache=True, fastmath=True)
def _sum(buf, n):
    s = 0.0
    for k in range(n):
        s += buf[k]
    return s


@nb.njit(cache=True, fastmath=True)
def _shift_max(Crow, pot, inv_eps, buf):
    """buf[j] = (pot[j] - Crow[j]) * inv_eps; return max_j buf[j]."""
    m = Crow.shape[0]
    mx = -np.inf
    for j in range(m):
        z = (pot[j] - Crow[j]) * inv_eps
        buf[j] = z
        mx = max(mx, z)
    return mx


@nb.njit(cache=True, fastmath=_FM_SAFE)
def _exp_shifted(buf, mx, m):
    for j in range(m):
        buf[j] = _exp_le0(buf[j] - mx)


@nb.njit(cache=True)
def _row_lse(Crow, pot, inv_eps, buf):
    m = Crow.shape[0]
    mx = _shift_max(Crow, pot, inv_eps, buf)
    if not np.isfinite(mx):
        return mx
    _exp_shifted(buf, mx, m)
    return mx + math.log(_sum(buf, m))


@nb.njit(parallel=True, cache=True)
def lse_rows(C, pot, inv_eps, out):
    """out[i] = logsumexp_j (pot[j] - C[i, j]) * inv_eps, parallel over rows."""
    n, m = C.shape
    for i in nb.prange(n):
        buf = np.empty(m)
        out[i] = _row_lse(C[i], pot, inv_eps, buf)
    return out


@nb.njit(parallel=True, cache=True)
def sinkhorn_update(C, pot, inv_eps, eps, log_w, out):
    """out[i] = eps * log_w[i] - eps * logsumexp_j (pot[j] - C[i, j]) / eps.

    With ``C`` the cost and ``pot = g`` this is the f-update; with ``C^T`` and
    ``pot = f`` the g-update.
    """
    n, m = C.shape
    for i in nb.prange(n):
        buf = np.empty(m)
        out[i] = eps * (log_w[i] - _row_lse(C[i], pot, inv_eps, buf))
    return out


@nb.njit(cache=True)
def l1_marginal_gap(w, f_old, f_new, inv_eps):
    """sum_i |w_i - w_i exp((f_old_i - f_new_i) / eps)|: the row-marginal error of (f_old, g)
    when f_new is the Sinkhorn update of f_old for that g. The row sum is formed as
    ``exp(log w_i + x)`` when ``exp(x)`` alone would overflow (a subnormal weight 5e-324 with a
    row sum near 1 has ``x = 744``: ``w_i * exp(x)`` was ``0 * inf``-like, an infinite error)."""
    s = 0.0
    for i in range(w.shape[0]):
        x = (f_old[i] - f_new[i]) * inv_eps
        r = math.exp(math.log(w[i]) + x) if x > 700.0 else w[i] * math.exp(x)
        s += abs(w[i] - r)
    return s


@nb.njit(cache=True, fastmath=_FM_SAFE)
def _row_cost(Crow, fi, g, inv_eps, mx):
    s = 0.0
    for j in range(Crow.shape[0]):
        s += _exp_le0(((fi + g[j]) - Crow[j]) * inv_eps - mx) * Crow[j]
    return s


#: a row's cost sum that overflows (costs near the float64 limit, e.g. -1.7e308: helper-124 saw cost = -inf with
#: converged=True) is summed again with every cost scaled by COST_DOWN (a power of two: exact) and scaled back
#: after the row's exp(mx) factor; no fast-math there, so neither the scaling nor the test is reassociated away
COST_DOWN, COST_UP = 2.0 ** -512, 2.0 ** 512


@nb.njit(cache=True)
def _row_cost_scaled(Crow, fi, g, inv_eps, mx):
    """:func:`_row_cost` with every cost scaled by :data:`COST_DOWN` (the rare overflow path)."""
    s = 0.0
    for j in range(Crow.shape[0]):
        x = ((fi + g[j]) - Crow[j]) * inv_eps - mx
        s += (_exp_le0(x) if x >= _XMIN else 0.0) * (Crow[j] * COST_DOWN)
    return s


@nb.njit(cache=True)
def _weighted_scaled(e, Crow):
    """``sum_j e_j (Crow_j COST_DOWN)`` (the overflow path of the one-pass summary)."""
    s = 0.0
    for j in range(Crow.shape[0]):
        s += e[j] * (Crow[j] * COST_DOWN)
    return s


@nb.njit(parallel=True, cache=True)
def _plan_cost(C, f, g, inv_eps, out):
    """out[i] = sum_j P_ij C_ij with P_ij = exp((f_i + g_j - C_ij) / eps) (row-max shifted fast exp,
    entries more than 700 below the row maximum count as 0); returns sum(out)."""
    n, m = C.shape
    for i in nb.prange(n):
        mx = _pair_row_max(C[i], f[i], g, inv_eps)
        if not np.isfinite(mx):
            out[i] = 0.0
            continue
        c = _row_cost(C[i], f[i], g, inv_eps, mx) * math.exp(mx)
        if not np.isfinite(c):
            c = (_row_cost_scaled(C[i], f[i], g, inv_eps, mx) * math.exp(mx)) * COST_UP
        out[i] = c
    return out.sum()


@nb.njit(parallel=True, cache=True)
def _plan_dense(C, f, g, inv_eps, out):
    n, m = C.shape
    for i in nb.prange(n):
        fi = f[i]
        for j in range(m):
            out[i, j] = math.exp((fi + g[j] - C[i, j]) * inv_eps)
    return out


# --------------------------------------------------------------------------------------------
# column passes without a transposed copy (column tiles, row blocks: C is read row-contiguous)
# --------------------------------------------------------------------------------------------
#: columns per tile of the column passes (one thread per tile) and rows per block
_TILE_W = 256
_TILE_R = 256


@nb.njit(cache=True, fastmath=True)
def _seg_max(Cseg, pk, qs, inv_eps, bm):
    """``bm[jj] = max(bm[jj], ((pk + qs[jj]) - Cseg[jj]) * inv_eps)``."""
    for jj in range(Cseg.shape[0]):
        bm[jj] = max(bm[jj], ((pk + qs[jj]) - Cseg[jj]) * inv_eps)


@nb.njit(cache=True, fastmath=_FM_SAFE)
def _seg_sum(Cseg, pk, qs, inv_eps, mx, s):
    """``s[jj] += exp(((pk + qs[jj]) - Cseg[jj]) * inv_eps - mx[jj])``."""
    for jj in range(Cseg.shape[0]):
        s[jj] += _exp_le0(((pk + qs[jj]) - Cseg[jj]) * inv_eps - mx[jj])


@nb.njit(parallel=True, cache=True)
def lse_cols(C, p, q, inv_eps, out):
    """``out[j] = LSE_i ((p_i + q_j) - C_ij) * inv_eps`` over the rows of C (n x m, C-ordered),
    without a transposed copy: each thread owns a tile of ``_TILE_W`` columns and walks the
    rows in blocks of ``_TILE_R`` (the block stays in cache between its two reads): the
    block's column maxima, then the sum of exponentials shifted by the running maximum
    (the running sum is rescaled when a block raises it: one exp per column and block).
    ``q = 0`` gives the Sinkhorn column pass, ``(p, q) = (f, g)`` the column marginals of a
    plan. Extra memory: O(threads x tile), never n x m."""
    n, m = C.shape
    ntiles = (m + _TILE_W - 1) // _TILE_W
    for t in nb.prange(ntiles):
        j0 = t * _TILE_W
        w = min(m, j0 + _TILE_W) - j0
        mx = np.full(w, -1e308)
        s = np.zeros(w)
        bm = np.empty(w)
        qs = q[j0:j0 + w]
        for i0 in range(0, n, _TILE_R):
            i1 = min(n, i0 + _TILE_R)
            bm[:] = -1e308
            for i in range(i0, i1):
                _seg_max(C[i, j0:j0 + w], p[i], qs, inv_eps, bm)
            for jj in range(w):
                if bm[jj] > mx[jj]:
                    if s[jj] > 0.0:
                        s[jj] *= math.exp(mx[jj] - bm[jj])
                    mx[jj] = bm[jj]
            for i in range(i0, i1):
                _seg_sum(C[i, j0:j0 + w], p[i], qs, inv_eps, mx, s)
        for jj in range(w):
            out[j0 + jj] = mx[jj] + math.log(s[jj]) if mx[jj] > -1e308 else -np.inf
    return out


# --------------------------------------------------------------------------------------------
# kernel space (scaling) Sinkhorn
# --------------------------------------------------------------------------------------------
@nb.njit(cache=True, fastmath=True, inline="always")
def _pair_row_max(Crow, fi, g, inv_eps):
    mx = -np.inf
    for j in range(Crow.shape[0]):
        mx = max(mx, ((fi + g[j]) - Crow[j]) * inv_eps)
    return mx


@nb.njit(cache=True, fastmath=_FM_SAFE, inline="always")
def _kernel_row(Crow, fi, g, inv_eps, mx, scale, tiny, orow):
    for j in range(Crow.shape[0]):
        e = _exp_le0(((fi + g[j]) - Crow[j]) * inv_eps - mx) * scale
        orow[j] = e if e >= tiny else 0.0    # no subnormals (slow on some CPUs), negligible anyway


@nb.njit(parallel=True, cache=True)
def _scaling_kernel(C, f, g, inv_eps, tiny, out, zmax):
    """``out[i, j] = exp((f_i + g_j - C_ij) * inv_eps)`` row by row (max-shifted fast exp times
    ``exp(row max)``; entries more than 700 below the row maximum are clamped there, i.e. they
    stay negligible next to it; entries below ``tiny``, the smallest normal number of the
    output type, are stored as 0), ``zmax[i]`` the row maximum of the exponent."""
    n, m = C.shape
    for i in nb.prange(n):
        mx = _pair_row_max(C[i], f[i], g, inv_eps)
        zmax[i] = mx
        _kernel_row(C[i], f[i], g, inv_eps, mx, math.exp(min(mx, 709.0)), tiny, out[i])
    return zmax


@nb.njit(cache=True, fastmath=True)
def _dot(Krow, v):
    s = 0.0
    for j in range(Krow.shape[0]):
        s += Krow[j] * v[j]
    return s


@nb.njit(parallel=True, cache=True)
def _kernel_matvec(K, v, out):
    """``out = K v`` with float64 accumulation (K float32 or float64), parallel over rows."""
    for i in nb.prange(K.shape[0]):
        out[i] = _dot(K[i], v)
    return out


@nb.njit(cache=True)
def _kernel_matvec_serial(K, v, out):
    """Serial :func:`_kernel_matvec` (small kernels: thread start-up would dominate)."""
    for i in range(K.shape[0]):
        out[i] = _dot(K[i], v)
    return out


@nb.njit(cache=True)
def _pair_shift_max(Crow, fi, g, inv_eps, buf):
    """buf[j] = ((fi + g[j]) - Crow[j]) * inv_eps in this order (no fast-math: no reassociation,
    infinities kept), clamped below at -1e300 so that a later shift stays finite; the max."""
    mx = -np.inf
    for j in range(Crow.shape[0]):
        z = ((fi + g[j]) - Crow[j]) * inv_eps
        mx = max(mx, z)
        buf[j] = max(z, -1e300)
    return mx


@nb.njit(parallel=True, cache=True)
def _lse_pair_rows(C, f, g, inv_eps, out):
    """out[i] = LSE_j (f_i + g_j - C_ij) * inv_eps, the sum formed before the scaling (in that
    order, as a user evaluates the plan); for the columns pass ``C^T`` with f and g swapped."""
    n, m = C.shape
    for i in nb.prange(n):
        buf = np.empty(m)
        mx = _pair_shift_max(C[i], f[i], g, inv_eps, buf)
        if not np.isfinite(mx):
            out[i] = mx
            continue
        _exp_shifted(buf, mx, m)
        out[i] = mx + math.log(_sum(buf, m))
    return out
