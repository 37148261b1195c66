"""The per-point form of the slab route (:mod:`solvers._kernels.numba.approx_slab`), kept for gradients: per pair
of points with the same first node, the outer product of their factor rows and its dot products with the node's
eight slabs, then the Lagrange weights of the last mode. The values use the GEMM form
(:func:`.approx_slab._evaluate_gemm`); this form computes ``d p / d t_k`` from the derivative tables with the same slabs. Moved out of :mod:`.approx_slab`
unchanged (session 34) to keep that module one algorithm's size.
"""
import numba as nb
import numpy as np

from ._table_rows import _FAST, _block_rows_table_pm, _weights8


@nb.njit(cache=True, fastmath=_FAST)
def _prefix(U, dU, k, r, d, q, P, Q):
    """``P[:size]`` = the outer product of the rows ``U[i][:r_i, q]`` of modes ``0 .. d-3`` (``dU`` for mode
    ``k``; C order; ``[1.0]`` for ``d = 2``); ``Q`` scratch of the same length. Returns ``size``."""
    P[0] = 1.0
    size = 1
    for i in range(d - 2):
        ri = r[i]
        R = dU[i] if i == k else U[i]
        for s in range(size):
            Q[s] = P[s]
        for s in range(size):
            x = Q[s]
            for b in range(ri):
                P[s * ri + b] = x * R[b, q]
        size *= ri
    return size


@nb.njit(cache=True, fastmath=_FAST)
def _pair_rows(U, dU, k, r, d, q, q2, Ka, Kb, Pa, Pb, Q, va, vb):
    """``Ka`` (``r_0 \\cdots r_{d-3} x r_{d-2}``, 2-D) = the outer product of the rows of modes
    ``0 .. d-2`` of point ``q`` (the derivative rows ``dU`` for mode ``k``; ``k = -1``: none), ``Kb`` of
    point ``q2`` (rows of a 2-D view, both points in one loop: an offset-indexed flat loop measured 3x
    slower, one point at a time 1.5x)."""
    rb = r[d - 2]
    size = _prefix(U, dU, k, r, d, q, Pa, Q)
    _prefix(U, dU, k, r, d, q2, Pb, Q)
    R = dU[d - 2] if k == d - 2 else U[d - 2]
    for b in range(rb):
        va[b] = R[b, q]
        vb[b] = R[b, q2]
    for s in range(size):
        x = Pa[s]
        y = Pb[s]
        ka = Ka[s]
        kb = Kb[s]
        for b in range(rb):
            ka[b] = x * va[b]
            kb[b] = y * vb[b]


@nb.njit(cache=True, fastmath=_FAST)
def _dots2(SL, off, n, Ka, Kb, out):
    """``out[0, l] = Ka . SL[off + l n : off + (l + 1) n]`` and ``out[1, l]`` likewise with ``Kb``,
    ``l < 8`` (two points sharing the stencil's first node: each slab entry loaded once for both;
    sixteen independent sums, vectorised over the entries)."""
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    r0, r1, r2, r3 = SL[off:off + n], SL[off + n:off + 2 * n], SL[off + 2 * n:off + 3 * n], SL[off + 3 * n:off + 4 * n]
    r4, r5 = SL[off + 4 * n:off + 5 * n], SL[off + 5 * n:off + 6 * n]
    r6, r7 = SL[off + 6 * n:off + 7 * n], SL[off + 7 * n:off + 8 * n]
    for j in range(n):              # row views: unit-stride loads (an offset index compiles to gathers)
        ka = Ka[j]
        kb = Kb[j]
        s0, s1, s2, s3 = r0[j], r1[j], r2[j], r3[j]
        s4, s5, s6, s7 = r4[j], r5[j], r6[j], r7[j]
        a0 += ka * s0
        a1 += ka * s1
        a2 += ka * s2
        a3 += ka * s3
        a4 += ka * s4
        a5 += ka * s5
        a6 += ka * s6
        a7 += ka * s7
        b0 += kb * s0
        b1 += kb * s1
        b2 += kb * s2
        b3 += kb * s3
        b4 += kb * s4
        b5 += kb * s5
        b6 += kb * s6
        b7 += kb * s7
    out[0, 0], out[0, 1], out[0, 2], out[0, 3], out[0, 4], out[0, 5], out[0, 6], out[0, 7] = a0, a1, a2, a3, a4, a5, a6, a7
    out[1, 0], out[1, 1], out[1, 2], out[1, 3], out[1, 4], out[1, 5], out[1, 6], out[1, 7] = b0, b1, b2, b3, b4, b5, b6, b7


@nb.njit(cache=True, parallel=True)
def _evaluate(SL, tR, r_off, rpad, tG, dtR, dr_off, dtG, p, inv_den, r, tb, Cb, Sb, vals, grads, nderiv, chunk):
    """Blocks of ``chunk`` points in bucket order (``tb``, ``Cb``, ``Sb`` from :func:`solvers._kernels.numba._slab_order.order`): the rows
    of modes ``0 .. d-2`` from their tables and the last mode's weights; per pair of points with the
    same first node ``c``, their row products (:func:`_pair_rows`) and ``sum_l w_l K . S_{c + l}``
    (:func:`_dots2`) into ``vals``. With ``nderiv = d - 1`` also the derivative rows (tables ``dtR``) and,
    for each ``k < d - 1``, ``d p / d t_k`` (the row products with mode ``k``'s derivative rows, against
    the same slabs) into ``grads[:, k]``; with ``nderiv = 0`` neither (``dtR``, ``grads`` unused)."""
    n, d1 = tb.shape
    d = d1 + 1
    nprefix = 1
    rmax = 1
    for i in range(d1):
        nprefix *= r[i]
        rmax = max(rmax, r[i])
    rb = r[d - 2]
    nblocks = (n + chunk - 1) // chunk
    for blk in nb.prange(nblocks):
        p0 = blk * chunk
        nb_ = min(n, p0 + chunk) - p0
        W = np.empty((8, chunk))
        Sw = np.zeros(chunk)
        Sw[:nb_] = Sb[p0:p0 + nb_]
        _weights8(Sw, W, inv_den)
        U = np.empty((d, rmax, chunk))
        dU = np.empty((d, rmax, chunk)) if nderiv > 0 else U
        _block_rows_table_pm(tR, r_off, rpad, tG, p, inv_den, r, tb, p0, nb_, U)
        if nderiv > 0:
            _block_rows_table_pm(dtR, dr_off, rpad, dtG, p, inv_den, r, tb, p0, nb_, dU)
        Ka = np.empty((nprefix // rb, rb))
        Kb = np.empty((nprefix // rb, rb))
        Pa = np.empty(nprefix // rb)
        Pb = np.empty(nprefix // rb)
        Q = np.empty(nprefix // rb)
        va = np.empty(rb)
        vb = np.empty(rb)
        D = np.empty((2, 8))
        fa = Ka.reshape(-1)
        fb = Kb.reshape(-1)
        q = 0
        while q < nb_:
            q2 = q + 1 if (q + 1 < nb_ and Cb[p0 + q + 1] == Cb[p0 + q]) else q
            off = Cb[p0 + q] * nprefix
            for k in range(-1, nderiv):
                _pair_rows(U, dU, k, r, d, q, q2, Ka, Kb, Pa, Pb, Q, va, vb)
                _dots2(SL, off, nprefix, fa, fb, D)
                v = 0.0
                v2 = 0.0
                for l in range(8):
                    v += W[l, q] * D[0, l]
                    v2 += W[l, q2] * D[1, l]
                if k < 0:
                    vals[p0 + q] = v
                    vals[p0 + q2] = v2
                else:
                    grads[p0 + q, k] = v
                    grads[p0 + q2, k] = v2
            q = q2 + 1
