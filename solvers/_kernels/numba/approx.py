"""Chebyshev–Tucker evaluation kernels (Numba; parallel over blocks of points).

Same names, signatures and meaning as the NumPy reference
``solvers._kernels.numpy.approx`` (read its notes first). Evaluation works on blocks of points
with the points innermost: the Chebyshev values ``T_k`` by the three-term recurrence
(``m_i x chunk``), the factor rows ``U_i = A_i^T T`` and the contraction of the core with the
last mode ``W = G_(d) U_d`` as two small GEMMs (``np.dot``, BLAS), then one sweep over the
``r^(d-1)`` core fibres in C order: an odometer over the first ``d - 1`` modes keeps the running
products of ``U`` rows and accumulates ``prod * W[fibre]`` (``O(d m r + r^d)`` per point).
The gradient kernel does the same with the derivative rows ``dU_i`` as well and, for each of
the first ``d - 1`` modes, running products with that mode's row replaced by its derivative.
"""
import numba as nb
import numpy as np

from ..numpy.approx import check_points, pack  # noqa: F401  (same packed form as the reference)

#: most points per parallel work item (see :func:`chunk_for`)
CHUNK = 256


#: OpenBLAS runs a GEMM on one thread below this many multiply-adds (m * n * k); every GEMM
#: here is split to stay below it, so BLAS never starts threads of its own inside a Numba worker
BLAS_SERIAL = 4 * 65536
#: bytes of the per-block contraction buffer (``r^(d-1) x chunk``), sized for a core's L2
L2_BYTES = 256 * 1024


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


@nb.njit(cache=True, parallel=True)
def _evaluate(core, FT, ft_off, m, r, t, out, chunk):
    """Blocks of ``chunk`` points, points innermost: ``T`` (``m_i x chunk``) by the recurrence,
    ``U_i = A_i^T T`` and ``W = G_(d) U_d`` (``r^(d-1) x chunk``) as GEMMs, then the modes
    ``d-2, ..., 0`` contracted one after the other with their rows ``U_i`` (``O(r^(d-1))``
    multiply-adds per point in unit-stride loops)."""
    n, d = t.shape
    rmax = 0
    mmax = 0
    for i in range(d):
        rmax = max(rmax, r[i])
        mmax = max(mmax, m[i])
    rl = r[d - 1]
    nprefix = core.size // rl
    G = core.reshape(nprefix, rl)
    nblocks = (n + chunk - 1) // chunk
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
def _products_d(U, dU, P, idx, start, d, nb_):
    """``P[k, j] = prod_{l <= j} (dU if l == k else U)[l, idx[l]]``; ``k = d - 1``: no derivative."""
    for k in range(d):
        for j in range(start, d - 1):
            src = dU if j == k else U
            if j == 0:
                for q in range(nb_):
                    P[k, 0, q] = src[0, idx[0], q]
            else:
                for q in range(nb_):
                    P[k, j, q] = src[j, idx[j], q] * P[k, j - 1, q]


@nb.njit(cache=True, parallel=True)
def _gradient(core, FT, dFT, ft_off, m, r, t, val, grad, chunk):
    """As :func:`_evaluate`, with the derivative rows ``dU_i`` and, per prefix mode ``k``, the
    running products with ``U_k`` replaced by ``dU_k``; ``W`` and ``dW = G_(d) dU_d`` by GEMM."""
    n, d = t.shape
    rmax = 0
    mmax = 0
    for i in range(d):
        rmax = max(rmax, r[i])
        mmax = max(mmax, m[i])
    rl = r[d - 1]
    nprefix = core.size // rl
    G = core.reshape(nprefix, rl)
    nblocks = (n + chunk - 1) // chunk
    for b in nb.prange(nblocks):
        p0 = b * chunk
        nb_ = min(n, p0 + chunk) - p0
        T = np.empty((mmax, chunk))
        U = np.empty((d, rmax, chunk))
        dU = np.empty((d, rmax, chunk))
        for i in range(d):
            _rows(FT, ft_off, i, m[i], r[i], t, p0, nb_, T, U[i])
            _rows(dFT, ft_off, i, m[i], r[i], t, p0, nb_, T, dU[i])
        W = np.empty((nprefix, chunk))
        dW = np.empty((nprefix, chunk))
        _gemm(G, U[d - 1, :rl], W)
        _gemm(G, dU[d - 1, :rl], dW)
        if d == 1:
            for q in range(nb_):
                val[p0 + q] = W[0, q]
                grad[p0 + q, 0] = dW[0, q]
            continue
        P = np.empty((d, d - 1, chunk))
        idx = np.zeros(d, np.int64)
        acc = np.zeros(chunk)
        gacc = np.zeros((d, chunk))
        _products_d(U, dU, P, idx, 0, d, chunk)
        for s in range(nprefix):
            for q in range(chunk):
                acc[q] += P[d - 1, d - 2, q] * W[s, q]
                gacc[d - 1, q] += P[d - 1, d - 2, q] * dW[s, q]
            for k in range(d - 1):
                for q in range(chunk):
                    gacc[k, q] += P[k, d - 2, q] * W[s, q]
            i = d - 2
            while i >= 0:
                idx[i] += 1
                if idx[i] < r[i]:
                    break
                idx[i] = 0
                i -= 1
            if i < 0:
                break
            _products_d(U, dU, P, idx, i, d, chunk)
        for q in range(nb_):
            val[p0 + q] = acc[q]
            for k in range(d):
                grad[p0 + q, k] = gacc[k, q]


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
    if t.shape[0]:
        _gradient(packed.core, packed.FT, packed.dFT, packed.ft_off, packed.m, packed.r, t, val, grad,
                  max(8, chunk_for(packed) // 2))
    return val, grad
