"""Chebyshev–Tucker evaluation kernels (Numba; parallel over blocks of points).

Same names, signatures and meaning as the NumPy reference
``solvers._kernels.numpy.approx`` (read its notes first). Evaluation works on blocks of points
with the points innermost: the Chebyshev values ``T_k`` by the three-term recurrence
(``m_i x chunk``), the factor rows ``U_i = A_i^T T`` and the contraction of the core with the
last mode ``W = G_(d) U_d`` as GEMMs (``np.dot``, BLAS; split into row blocks below OpenBLAS's
serial limit, so BLAS starts no threads inside a Numba worker), then the modes ``d-2, ..., 0``
contracted one after the other with their rows in unit-stride loops
(``O(d m r + r^d)`` per point, the ``r^d`` part at GEMM speed). Blocks are sized so the
``r^(d-1) x chunk`` buffer stays in a core's L2 cache. The gradient kernel does the same with
the derivative rows ``dU_i``: ``dW = G_(d) dU_d`` for the last variable, and for variable
``k < d - 1`` the contraction of ``W`` with ``dU_k`` in mode ``k``.
"""
import numba as nb
import numpy as np

from ..numpy.approx import (ROUTES, TABLE_AUTO, check_points, check_table,  # noqa: F401  (same packed form)
                            inverse_denominators, pack)
# the table route's row kernels (re-exported: the arccos and the stencils are tested under these names)
from ._table_rows import ASIN_P, _acos, _block_rows_table_pm, _rows_table_pm, _stencils  # noqa: F401

#: most points per parallel work item (see :func:`chunk_for`)
CHUNK = 256


#: OpenBLAS runs a GEMM on one thread below this many multiply-adds (m * n * k); every GEMM
#: here is split to stay below it, so BLAS never starts threads of its own inside a Numba worker
BLAS_SERIAL = 4 * 65536
#: bytes of the per-block contraction buffer (``r^(d-1) x chunk``), sized for a core's L2
L2_BYTES = 256 * 1024


def check_outputs(what, *outs):
    """Each ``(name, array, shape)`` of ``outs`` must be a writeable C-contiguous float64 array of that shape
    (the kernels write into them by index: a short one would be written past its end)."""
    for name, a, shape in outs:
        if (getattr(a, "shape", None) != shape or str(getattr(a, "dtype", "")) != "float64"
                or not a.flags.c_contiguous or not a.flags.writeable):
            raise ValueError(f"approx kernel {what}: {name} must be a writeable C-contiguous float64 array of "
                             f"shape {shape}, got {getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', None)}")


@nb.njit(cache=True)
def _gemm(A, B, C):
    """``C = A @ B`` (C-contiguous 2-D arrays) as GEMMs over blocks of rows of ``A``, each
    below :data:`BLAS_SERIAL` multiply-adds."""
    k, n = B.shape
    rows = max(1, BLAS_SERIAL // max(1, k * n))
    for s in range(0, A.shape[0], rows):
        e = min(A.shape[0], s + rows)
        np.dot(A[s:e], B, C[s:e])


@nb.njit(cache=True)
def _rows(FT, ft_off, i, mi, ri, t, p0, nb_, T, out):
    """``out[:ri] = A_i^T T(t[p0:p0+nb_, i])`` (``T`` the Chebyshev values, a GEMM)."""
    chunk = T.shape[1]
    for q in range(chunk):
        T[0, q] = 1.0
        T[1, q] = t[p0 + q, i] if q < nb_ else 0.0
    for k in range(2, mi):
        for q in range(chunk):
            T[k, q] = 2.0 * T[1, q] * T[k - 1, q] - T[k - 2, q]
    _gemm(FT[ft_off[i]:ft_off[i + 1]].reshape(ri, mi), T[:mi], out[:ri])


@nb.njit(cache=True)
def _contract_mode(W, u, ri, W2):
    """``W2[s, q] = sum_j W[s * ri + j, q] * u[j, q]`` (one mode contracted, points innermost)."""
    chunk = W.shape[1]
    for s in range(W2.shape[0]):
        for q in range(chunk):
            W2[s, q] = 0.0
        for j in range(ri):
            w = W[s * ri + j]
            uj = u[j]
            for q in range(chunk):
                W2[s, q] += w[q] * uj[q]


@nb.njit(cache=True)
def _layout(core, r, n, chunk):
    """Blocked evaluation layout: the largest rank, ``r_d``, the core as the ``r^(d-1) x r_d``
    matrix ``G_(d)`` and the number of point blocks."""
    d = r.shape[0]
    rmax = 0
    for i in range(d):
        rmax = max(rmax, r[i])
    rl = r[d - 1]
    return rmax, rl, core.reshape(core.size // rl, rl), (n + chunk - 1) // chunk


@nb.njit(cache=True, parallel=True)
def _evaluate(core, FT, ft_off, m, r, t, out, chunk):
    """Blocks of ``chunk`` points, points innermost: ``T`` (``m_i x chunk``) by the recurrence,
    ``U_i = A_i^T T`` and ``W = G_(d) U_d`` (``r^(d-1) x chunk``) as GEMMs, then the modes
    ``d-2, ..., 0`` contracted one after the other with their rows ``U_i`` (``O(r^(d-1))``
    multiply-adds per point in unit-stride loops)."""
    n, d = t.shape
    rmax, rl, G, nblocks = _layout(core, r, n, chunk)
    nprefix = G.shape[0]
    mmax = 2                    # _rows writes T[0] and T[1] even for degree-0 factors (m_i = 1)
    for i in range(d):
        mmax = max(mmax, m[i])
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        T = np.empty((mmax, chunk))
        U = np.empty((d, rmax, chunk))
        for i in range(d):
            _rows(FT, ft_off, i, m[i], r[i], t, p0, nb_, T, U[i])
        W = np.empty((nprefix, chunk))
        _gemm(G, U[d - 1, :rl], W)
        size = nprefix
        for i in range(d - 2, -1, -1):
            size //= r[i]
            W2 = np.empty((size, chunk))
            _contract_mode(W, U[i], r[i], W2)
            W = W2
        for q in range(nb_):
            out[p0 + q] = W[0, q]


@nb.njit(cache=True)
def _contract_rest(W, U, dU, k, r, d):
    """Modes ``d-2, ..., 0`` of ``W`` (``r^(d-1) x chunk``) contracted with the rows ``U_i``,
    or ``dU_i`` for ``i == k``; returns the ``chunk`` values."""
    chunk = W.shape[1]
    size = W.shape[0]
    for i in range(d - 2, -1, -1):
        size //= r[i]
        W2 = np.empty((size, chunk))
        if i == k:
            _contract_mode(W, dU[i], r[i], W2)
        else:
            _contract_mode(W, U[i], r[i], W2)
        W = W2
    return W[0]


@nb.njit(cache=True, parallel=True)
def _gradient(core, FT, dFT, ft_off, m, r, t, val, grad, chunk):
    """As :func:`_evaluate`, with the derivative rows ``dU_i``: ``W = G_(d) U_d`` and
    ``dW = G_(d) dU_d`` by GEMM; the value and ``d p / d t_d`` contract the other modes with
    ``U``; ``d p / d t_k`` (``k < d - 1``) contracts ``W`` with ``dU_k`` in mode ``k``."""
    n, d = t.shape
    rmax, rl, G, nblocks = _layout(core, r, n, chunk)
    mmax = 2                    # _rows writes T[0] and T[1] even for degree-0 factors (m_i = 1)
    for i in range(d):
        mmax = max(mmax, m[i])
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        T = np.empty((mmax, chunk))
        U = np.empty((d, rmax, chunk))
        dU = np.empty((d, rmax, chunk))
        for i in range(d):
            _rows(FT, ft_off, i, m[i], r[i], t, p0, nb_, T, U[i])
            _rows(dFT, ft_off, i, m[i], r[i], t, p0, nb_, T, dU[i])
        _grad_block(G, U, dU, r, d, rl, p0, nb_, val, grad)


@nb.njit(cache=True)
def _grad_block(G, U, dU, r, d, rl, p0, nb_, val, grad):
    """Value and gradient of one block from its rows ``U`` and derivative rows ``dU``."""
    chunk = U.shape[2]
    W = np.empty((G.shape[0], chunk))
    dW = np.empty((G.shape[0], chunk))
    _gemm(G, U[d - 1, :rl], W)
    _gemm(G, dU[d - 1, :rl], dW)
    v = _contract_rest(W, U, dU, -1, r, d)
    g = _contract_rest(dW, U, dU, -1, r, d)
    for q in range(nb_):
        val[p0 + q] = v[q]
        grad[p0 + q, d - 1] = g[q]
    for k in range(d - 1):
        g = _contract_rest(W, U, dU, k, r, d)
        for q in range(nb_):
            grad[p0 + q, k] = g[q]


@nb.njit(cache=True, parallel=True)
def _map_points(x, lo, hi, t):
    n, d = x.shape
    bad = 0
    for p in nb.prange(n):
        for i in range(d):
            v = (2.0 * x[p, i] - (hi[i] + lo[i])) / (hi[i] - lo[i])
            if not abs(v) <= 1.0 + 2e-12:
                bad += 1
            t[p, i] = min(max(v, -1.0), 1.0)
    return bad


def map_points(x, lo, hi, t) -> int:
    """As the reference (one parallel pass instead of five array passes)."""
    return int(_map_points(x, lo, hi, t)) if x.shape[0] else 0


def evaluate(packed, t, out):
    """``out[n] = p(t[n])``."""
    check_points(packed, t)
    check_outputs("evaluate", ("out", out, (t.shape[0],)))
    if t.shape[0]:
        _evaluate(packed.core, packed.FT, packed.ft_off, packed.m, packed.r, t, out, chunk_for(packed))
    return out


def chunk_for(packed) -> int:
    """Points per block: the contraction buffer ``r^(d-1) x chunk`` within :data:`L2_BYTES`,
    between 16 and :data:`CHUNK` (a multiple of 8)."""
    prefix = max(1, int(packed.core.size) // max(1, int(packed.r[-1])))
    return int(max(16, min(CHUNK, (L2_BYTES // (8 * prefix)) // 8 * 8)))


def gradient(packed, t, val, grad):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])``."""
    check_points(packed, t)
    check_outputs("gradient", ("val", val, (t.shape[0],)), ("grad", grad, t.shape))
    if t.shape[0]:
        _gradient(packed.core, packed.FT, packed.dFT, packed.ft_off, packed.m, packed.r, t, val, grad,
                  max(16, chunk_for(packed) // 2))
    return val, grad


# --------------------------------------------------------------------------- the table route


@nb.njit(cache=True, parallel=True)
def _evaluate_table(core, tR, r_off, rpad, tG, p, inv_den, r, t, out, chunk):
    """As :func:`_evaluate` with the factor rows from the point-major tables."""
    n, d = t.shape
    rmax, rl, G, nblocks = _layout(core, r, n, chunk)
    nprefix = G.shape[0]
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        U = np.empty((d, rmax, chunk))
        _block_rows_table_pm(tR, r_off, rpad, tG, p, inv_den, r, t, p0, nb_, U)
        W = np.empty((nprefix, chunk))
        _gemm(G, U[d - 1, :rl], W)
        v = _contract_rest(W, U, U, -1, r, d)
        for q in range(nb_):
            out[p0 + q] = v[q]


@nb.njit(cache=True, parallel=True)
def _gradient_table(core, tR, r_off, dtR, dr_off, rpad, tG, dtG, p, inv_den, r, t, val, grad, chunk):
    """As :func:`_gradient` with the factor rows and their derivatives from the tables."""
    n, d = t.shape
    rmax, rl, G, nblocks = _layout(core, r, n, chunk)
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        U = np.empty((d, rmax, chunk))
        dU = np.empty((d, rmax, chunk))
        _block_rows_table_pm(tR, r_off, rpad, tG, p, inv_den, r, t, p0, nb_, U)
        _block_rows_table_pm(dtR, dr_off, rpad, dtG, p, inv_den, r, t, p0, nb_, dU)
        _grad_block(G, U, dU, r, d, rl, p0, nb_, val, grad)


@nb.njit(cache=True)
def _table_rows(tR, roff, rp, G, p, inv_den, ri, x, out):
    n = x.shape[0]
    chunk = 256
    t = x.reshape(n, 1)
    S = np.empty(chunk)
    A = np.empty(chunk)
    C = np.empty(chunk, dtype=np.int64)
    W = np.empty((p, chunk))
    Up = np.empty((chunk, rp))
    buf = np.empty((ri, chunk))
    for p0 in range(0, n, chunk):
        nb_ = min(n, p0 + chunk) - p0
        _rows_table_pm(tR, roff, rp, G, p, inv_den, ri, t, p0, nb_, 0, S, C, W, A, Up, buf)
        for q in range(nb_):
            for j in range(ri):
                out[p0 + q, j] = buf[j, q]


def table_rows(packed, i, x, out, derivative=False):
    """As the reference (the kernel that :func:`evaluate_table` runs, for one mode)."""
    check_table(packed, derivative)
    pre = "d" if derivative else ""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.size:
        tR, r_off, rpad = _point_major(packed, pre)
        _table_rows(tR, int(r_off[i]), int(rpad[i]), int(getattr(packed, pre + "tG")[i]), packed.tp, packed.inv_den,
                    int(packed.r[i]), x, out)
    return out


def _point_major(packed, pre=""):
    """The tables of ``packed`` transposed to point-major ``(G_i + p + 1) x rpad_i`` blocks (``rpad_i`` =
    ``r_i`` rounded up to a multiple of 4, zero columns after ``r_i``), back to back, with their offsets and
    ``rpad``; made once per packed form and kept on it."""
    key = "_nb_pm_" + (pre or "v")
    got = getattr(packed, key, None)
    if got is None:
        tT, off, tG = getattr(packed, pre + "tT"), getattr(packed, pre + "t_off"), getattr(packed, pre + "tG")
        L = [int(g) + packed.tp + 1 for g in tG]
        rp = [(int(ri) + 3) // 4 * 4 for ri in packed.r]
        blocks = []
        for i, (Li, rpi) in enumerate(zip(L, rp)):
            ri = int(packed.r[i])
            B = np.zeros((Li, rpi))
            B[:, :ri] = np.asarray(tT[off[i]:off[i + 1]]).reshape(ri, Li).T
            blocks.append(B.reshape(-1))
        r_off = np.concatenate([[0], np.cumsum([b.size for b in blocks])]).astype(np.int64)
        got = (np.concatenate(blocks), r_off, np.array(rp, dtype=np.int64))
        setattr(packed, key, got)
    return got


def evaluate_table(packed, t, out, total=None):
    """``out[n] = p(t[n])`` with the factor rows from the tables. ``total``: the points of the whole call
    when ``t`` is one batch of it (the plain or slab form is chosen for the call, not per batch)."""
    check_points(packed, t)
    check_outputs("evaluate_table", ("out", out, (t.shape[0],)))
    check_table(packed)
    if t.shape[0]:
        from . import approx_slab

        tR, r_off, rpad = _point_major(packed)
        if approx_slab.use_slab(packed, max(t.shape[0], total or 0)):    # the last mode on the contracted core
            return approx_slab.evaluate(packed, t, out, tR, r_off, rpad)
        _evaluate_table(packed.core, tR, r_off, rpad, packed.tG, packed.tp, packed.inv_den, packed.r, t, out,
                        chunk_for(packed))
    return out


def gradient_table(packed, t, val, grad, total=None):
    """As :func:`gradient` with the factor rows and their derivatives from the tables (``total``: as in
    :func:`evaluate_table`)."""
    check_points(packed, t)
    check_outputs("gradient_table", ("val", val, (t.shape[0],)), ("grad", grad, t.shape))
    check_table(packed)
    check_table(packed, derivative=True)
    if t.shape[0]:
        from . import approx_slab

        tR, r_off, rpad = _point_major(packed)
        dtR, dr_off, _ = _point_major(packed, "d")
        if approx_slab.use_slab(packed, max(t.shape[0], total or 0), gradient=True):
            return approx_slab.gradient(packed, t, val, grad, tR, r_off, rpad, dtR, dr_off)
        _gradient_table(packed.core, tR, r_off, dtR, dr_off, rpad, packed.tG, packed.dtG, packed.tp, packed.inv_den,
                        packed.r, t, val, grad, max(16, chunk_for(packed) // 2))
    return val, grad
