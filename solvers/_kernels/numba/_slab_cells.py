"""The per-cell weights of the slab form's values (:mod:`solvers._kernels.numba.approx_slab`): the eight
nodal slabs with their order-8 Lagrange weights, or six Chebyshev terms of the cell's interpolant.

On the stencil's central interval ``sigma in [3, 4]``, where the kernels evaluate it, the slab interpolant
``sum_l w_l(sigma) S_{c + l}`` is a degree-7 polynomial; in Chebyshev form in ``u = 2 (sigma - 7/2)`` it is
``sum_k T_k(u) M_k`` with ``M_k = sum_l A[k, l] S_{c + l}`` (:func:`cell_chebyshev`). Its terms fall fast,
so where the dropped ones are negligible for the tables' target (:func:`slab_terms`) six terms replace the
eight slabs: the work item's GEMM has 25 % fewer rows. :func:`_combine8` and :func:`_combine6` finish a
work item with either set of weights.
"""
from functools import lru_cache

import numba as nb
import numpy as np

from ._table_rows import _FAST

#: Chebyshev terms per stencil cell of the values' slab form (:func:`slab_terms`; the combine kernel is unrolled
#: for them): fewer GEMM rows than the eight nodal slabs when the truncated terms are negligible
TERMS = 6
#: the truncated terms may add at most this fraction of the tables' target (relative to the largest slab norm)
TRUNC_FRACTION = 0.1
#: bytes of the temporary terms when their norms are measured (:func:`term_norms`, in blocks of cells)
TERM_BLOCK_BYTES = 16 * 2 ** 20


@lru_cache(maxsize=None)
def cell_chebyshev(K: int = 8) -> np.ndarray:
    """``A`` (``K x 8``): row ``k`` holds the Chebyshev coefficients, in ``u = 2 (sigma - 7/2)`` on ``[-1, 1]``,
    of the eight order-8 Lagrange basis polynomials (nodes ``0 .. 7``) on the stencil's central interval
    ``sigma in [3, 4]``, where the kernels evaluate it. Degree 7: ``K = 8`` is exact; the slab interpolant on
    a cell is ``sum_k T_k(u) M_k`` with ``M_k = sum_l A[k, l] S_{c + l}``, and ``K < 8`` drops ``M_K .. M_7``."""
    j = np.arange(64)
    sig = 3.5 + 0.5 * np.cos(np.pi * (j + 0.5) / 64)                # 64 Chebyshev points of [3, 4]
    nodes = np.arange(8.0)
    W = np.ones((sig.size, 8))
    for l in range(8):
        for i in range(8):
            if i != l:
                W[:, l] *= (sig - nodes[i]) / (nodes[l] - nodes[i])
    V = np.polynomial.chebyshev.chebvander(2.0 * (sig - 3.5), 7)
    A = np.ascontiguousarray(np.linalg.lstsq(V, W, rcond=None)[0][:K])   # exact up to rounding (degree 7)
    A.setflags(write=False)                                       # cached: shared by every caller
    return A


def term_norms(SL, L, npre, first=TERMS) -> tuple:
    """``(norms, scale)``: ``norms[k]`` the largest Frobenius norm of ``M_k`` (:func:`cell_chebyshev`) over the
    cells for ``k >= first`` (NaN below: not measured), ``scale`` the largest slab norm, from the slab table
    ``SL`` (``L`` nodes of ``npre`` values). The terms are formed in blocks of cells of at most
    :data:`TERM_BLOCK_BYTES` (a review measured 4-14x the slab table, and 0.7-3.6 s, when all eight were
    formed at once). Computed on the slabs divided by their largest entry, so neither the squares of huge
    values overflow nor those of tiny ones underflow (the norms are returned in the slabs' own units)."""
    S = SL.reshape(L, npre)
    norms = np.full(8, np.nan)
    top = float(np.abs(S).max()) if S.size else 0.0
    if not np.isfinite(top):
        norms[first:] = np.inf
        return norms, np.inf
    norms[first:] = 0.0
    if top == 0.0:
        return norms, 0.0
    A = cell_chebyshev(8)[first:] / top
    ncell = L - 7
    block = max(1, TERM_BLOCK_BYTES // max(1, 8 * npre))
    M = np.empty((min(block, L), npre))
    scale = 0.0
    for c0 in range(0, ncell, block):
        c1 = min(ncell, c0 + block)
        Mb = M[:c1 - c0]
        for k in range(A.shape[0]):
            np.multiply(S[c0:c1], A[k, 0], out=Mb)
            for l in range(1, 8):
                Mb += A[k, l] * S[c0 + l:c1 + l]
            norms[first + k] = max(norms[first + k], float(np.sqrt(np.einsum("ij,ij->i", Mb, Mb)).max()))
    for c0 in range(0, L, block):
        Mb = M[:min(L, c0 + block) - c0]
        np.multiply(S[c0:c0 + Mb.shape[0]], 1.0 / top, out=Mb)
        scale = max(scale, float(np.sqrt(np.einsum("ij,ij->i", Mb, Mb)).max()))
    norms[first:] *= top
    return norms, scale * top


def slab_terms(packed, SL) -> int:
    """Chebyshev terms per cell the values' slab form uses: :data:`TERMS` when the dropped terms' norms
    (largest over the cells) sum to at most :data:`TRUNC_FRACTION` times the tables' target times the largest
    slab norm, else 8 (the nodal slabs, exact). Made once per packed form. Rank 20, order 8, target 1e-9
    (session 29): the term norms relative to the slabs' fall 1, 6e-2, 1e-3, 2e-5, 2e-7, 2e-9, 1e-11, 8e-14,
    so six terms drop about 1e-11 while the GEMMs do 25 % fewer flops: the slab kernel on 2^20 points,
    2 threads, 149 -> 127 ms (OpenBLAS's AVX2 kernels), 92 -> 78 ms (AVX-512); values within 9e-12 of the
    nodal form's relative to the largest."""
    got = getattr(packed, "_nb_slab_terms", None)
    if got is None:
        target = float(getattr(packed, "ttarget", 0.0) or 0.0)
        got = 8
        if target > 0.0:
            d = packed.d
            L = int(packed.tG[d - 1]) + int(packed.tp) + 1
            norms, scale = term_norms(SL, L, SL.size // L)
            if norms[TERMS:].sum() <= TRUNC_FRACTION * target * scale:
                got = TERMS
        packed._nb_slab_terms = got
    return got


@nb.njit(cache=True, fastmath=_FAST)
def _combine8(Y, W, Ap, nA, out):
    """``out[q] = sum_a Ap[a, q] sum_{l < 8} W[l, q] Y[l nA + a, q]`` over the whole tile (points innermost)."""
    w0, w1, w2, w3, w4, w5, w6, w7 = W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7]
    for q in range(out.shape[0]):
        out[q] = 0.0
    for a in range(nA):
        x = Ap[a]
        y0, y1, y2, y3 = Y[a], Y[nA + a], Y[2 * nA + a], Y[3 * nA + a]
        y4, y5, y6, y7 = Y[4 * nA + a], Y[5 * nA + a], Y[6 * nA + a], Y[7 * nA + a]
        for q in range(out.shape[0]):
            out[q] += x[q] * (w0[q] * y0[q] + w1[q] * y1[q] + w2[q] * y2[q] + w3[q] * y3[q]
                              + w4[q] * y4[q] + w5[q] * y5[q] + w6[q] * y6[q] + w7[q] * y7[q])


@nb.njit(cache=True, fastmath=_FAST)
def _combine6(Y, T, Ap, nA, out):
    """As :func:`_combine8` with six Chebyshev terms: ``out[q] = sum_a Ap[a, q] sum_{k < 6} T[k, q] Y[k nA + a, q]``."""
    t0, t1, t2, t3, t4, t5 = T[0], T[1], T[2], T[3], T[4], T[5]
    for q in range(out.shape[0]):
        out[q] = 0.0
    for a in range(nA):
        x = Ap[a]
        y0, y1, y2, y3, y4, y5 = Y[a], Y[nA + a], Y[2 * nA + a], Y[3 * nA + a], Y[4 * nA + a], Y[5 * nA + a]
        for q in range(out.shape[0]):
            out[q] += x[q] * (t0[q] * y0[q] + t1[q] * y1[q] + t2[q] * y2[q] + t3[q] * y3[q] + t4[q] * y4[q]
                              + t5[q] * y5[q])


@nb.njit(cache=True, fastmath=_FAST)
def _chebyshev6(Sw, T):
    """``T[k, q] = T_k(2 (Sw[q] - 7/2))``, ``k < 6`` (the three-term recurrence, points innermost)."""
    for q in range(Sw.shape[0]):
        u = 2.0 * (Sw[q] - 3.5)
        T[0, q] = 1.0
        T[1, q] = u
        T[2, q] = 2.0 * u * u - 1.0
        T[3, q] = 2.0 * u * T[2, q] - u
        T[4, q] = 2.0 * u * T[3, q] - T[2, q]
        T[5, q] = 2.0 * u * T[4, q] - T[3, q]
