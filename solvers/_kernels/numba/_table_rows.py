"""Row kernels of the Chebyshev–Tucker ``table`` route (Numba): the arccos, the Lagrange stencils and
weights in ``theta = arccos t``, and the factor rows read from the point-major tables (used by
:mod:`solvers._kernels.numba.approx` and :mod:`solvers._kernels.numba.approx_slab`; see
``solvers/approx/_table.py`` for the route and its error bounds)."""
import math

import numba as nb
import numpy as np

def _asin_coefficients(degree=12):
    """``P`` with ``asin(z) = z + z^3 P(z^2)`` to rounding for ``0 <= z <= 1/2`` (monomial
    coefficients of the degree-``degree`` Chebyshev interpolant, on ``[0, 1/4]``, of the Taylor
    series :math:`\\sum_k \\binom{2k}{k} u^{k-1} / (4^k (2k + 1))`; Abramowitz & Stegun 4.4.40)."""
    from numpy.polynomial import Chebyshev, Polynomial

    def series(u):
        acc = np.zeros_like(u)
        for k in range(40, 0, -1):
            acc = acc * u + math.comb(2 * k, k) / 4.0 ** k / (2 * k + 1)
        return acc

    P = Chebyshev.interpolate(series, degree, domain=[0.0, 0.25])
    return np.ascontiguousarray(P.convert(kind=Polynomial, domain=[0.0, 0.25], window=[0.0, 0.25]).coef)


#: coefficients of :func:`_acos` (degree 12: |acos error| < 1e-15, against numpy.arccos in the tests)
ASIN_P = _asin_coefficients()


@nb.njit(cache=True)
def _acos(x, P):
    """``arccos x`` for ``|x| <= 1`` without a library call (so the loops around it vectorize):
    ``pi/2 - asin x`` for ``|x| <= 1/2``, else ``2 asin(sqrt((1 - |x|) / 2))`` (or ``pi`` minus it),
    the ``asin`` by the polynomial :data:`ASIN_P` on ``[0, 1/2]``."""
    ax = abs(x)
    big = ax > 0.5
    z = math.sqrt(0.5 * (1.0 - ax)) if big else ax
    u = z * z
    h = P[12]
    for k in range(11, -1, -1):
        h = h * u + P[k]
    a = z + z * u * h
    sg = math.copysign(1.0, x)                       # branch-free: selects only, so the loop vectorizes
    return (0.5 * math.pi * (1.0 - sg) + 2.0 * sg * a) if big else (0.5 * math.pi - sg * a)


#: fused multiply-adds and reassociation in the table kernels (the order of the weight products and
#: of the row sums; the arccos keeps IEEE semantics in its own function)
_FAST = {"contract", "reassoc"}


@nb.njit(cache=True, inline="always")
def in_grid(s, G):
    """The stencil position ``s = theta G / pi`` clamped to ``[0, G]`` (NaN to 0), so the table index built
    from it stays in range whatever ``t`` was (NaN, inf, outside ``[-1, 1]``: ``int(NaN)`` is undefined)."""
    return min(max(s, 0.0), float(G)) if s == s else 0.0


@nb.njit(cache=True, fastmath=_FAST)
def _stencils(G, p, inv_den, t, p0, nb_, i, S, C, W, A):
    """For the block's points ``t[p0:p0 + nb_, i]`` (padded with ``t = 1``): ``C[q]``, the table column of
    the first node of the centred order-``p`` stencil in ``theta = arccos t`` (``G`` intervals on
    ``[0, pi]``), and the Lagrange weights ``W[l, q]`` of its nodes (prefix and suffix products of
    ``sigma - j``; the order-8 form unrolled, :func:`_weights8`), all with the points innermost."""
    chunk = S.shape[0]
    half = p // 2
    hinv = G / math.pi
    P = ASIN_P
    for q in range(nb_):
        S[q] = t[p0 + q, i]
    for q in range(nb_, chunk):
        S[q] = 1.0
    for q in range(chunk):
        s = _acos(S[q], P) * hinv
        j0 = min(int(in_grid(s, G)), G - 1) - half + 1          # the offset keeps s: a NaN t gives NaN
        C[q] = j0 + half
        S[q] = s - j0
    if p == 8:
        _weights8(S, W, inv_den)
        return
    for q in range(chunk):
        W[0, q] = 1.0
        A[q] = 1.0
    for l in range(1, p):
        for q in range(chunk):
            W[l, q] = W[l - 1, q] * (S[q] - (l - 1))            # prod_{j < l} (sigma - j)
    for l in range(p - 1, -1, -1):
        c = inv_den[l]
        for q in range(chunk):
            W[l, q] *= A[q] * c                                 # times prod_{j > l} (sigma - j)
            A[q] *= S[q] - l


@nb.njit(cache=True, fastmath=_FAST)
def _weights8(S, W, c):
    """The order-8 Lagrange weights ``W[l, q]`` at offsets ``S[q]`` (prefix and suffix products of
    ``S - j`` per point in registers: one vectorised loop over the points, 2.3x the row-by-row form)."""
    w0, w1, w2, w3, w4, w5, w6, w7 = W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7]
    c0, c1, c2, c3, c4, c5, c6, c7 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for q in range(S.shape[0]):
        s = S[q]
        d1, d2, d3, d4, d5, d6, d7 = s - 1.0, s - 2.0, s - 3.0, s - 4.0, s - 5.0, s - 6.0, s - 7.0
        a1 = s
        a2 = a1 * d1
        a3 = a2 * d2
        a4 = a3 * d3
        a5 = a4 * d4
        a6 = a5 * d5
        a7 = a6 * d6
        b6 = d7
        b5 = b6 * d6
        b4 = b5 * d5
        b3 = b4 * d4
        b2 = b3 * d3
        b1 = b2 * d2
        b0 = b1 * d1
        w0[q] = b0 * c0
        w1[q] = a1 * b1 * c1
        w2[q] = a2 * b2 * c2
        w3[q] = a3 * b3 * c3
        w4[q] = a4 * b4 * c4
        w5[q] = a5 * b5 * c5
        w6[q] = a6 * b6 * c6
        w7[q] = a7 * c7


@nb.njit(cache=True, fastmath=_FAST)
def _rows_table_pm(tR, roff, rp, G, p, inv_den, ri, t, p0, nb_, i, S, C, W, A, Up, out):
    """``out[:ri, q] = u_i(t[p0 + q, i])`` by Lagrange interpolation of order ``p`` in ``theta = arccos t``
    (:func:`_stencils`) on the point-major table ``tR[roff:]`` (``(G + p + 1) x rp``, the
    ``ri`` values of a grid node contiguous, zero-padded to ``rp``, a multiple of 4): per point, the
    ``p`` contiguous table rows combined into ``Up[q]`` (:func:`_rows8`, :func:`_rows_p`) instead of a
    strided ``p``-term sum per value (the earlier transposed-table form), then ``out[:ri]`` by a transpose
    (points innermost). One thread, 2e5 random points: the three modes' rows 141 -> 93 ns per point at
    rank 10, 175 -> 99 at rank 15, 214 -> 151 at rank 20 (the point-major layout; :func:`_rows8` took
    another 20 %); padding to 4 measured 1-7 % faster than to 8 or none (the row loops are short)."""
    chunk = out.shape[1]
    _stencils(G, p, inv_den, t, p0, nb_, i, S, C, W, A)
    if p == 8:
        _rows8(tR, roff, rp, C, W, nb_, Up)
    else:
        _rows_p(tR, roff, rp, p, C, W, nb_, Up)
    for j in range(ri):
        for q in range(nb_):
            out[j, q] = Up[q, j]
        for q in range(nb_, chunk):
            out[j, q] = 0.0


@nb.njit(cache=True, fastmath=_FAST)
def _rows8(tR, roff, rp, C, W, nb_, Up):
    """``Up[q, :rp] = sum_{l < 8} W[l, q] tR[roff + (C[q] + l) rp : ... + rp]``: one pass over the row with the
    eight-term sum per value (no read-modify-write of ``Up`` per node), the eight table rows addressed by
    unsigned offsets into ``tR`` (no wraparound selects). The earlier form took the rows as eight slices
    per point: the view set-up cost 22-27 % of the rows' time (stencils + rows of 3 modes, one thread,
    10^6 random points: rank 15 89 -> 66 ns per point, rank 10 80 -> 62, rank 20 125 -> 91)."""
    w0, w1, w2, w3, w4, w5, w6, w7 = W[0], W[1], W[2], W[3], W[4], W[5], W[6], W[7]
    urp = np.uint64(rp)
    for q in range(nb_):
        o0 = np.uint64(roff + C[q] * rp)
        o1 = o0 + urp
        o2 = o1 + urp
        o3 = o2 + urp
        o4 = o3 + urp
        o5 = o4 + urp
        o6 = o5 + urp
        o7 = o6 + urp
        a0, a1, a2, a3, a4, a5, a6, a7 = w0[q], w1[q], w2[q], w3[q], w4[q], w5[q], w6[q], w7[q]
        for j in range(urp):
            Up[q, j] = (a0 * tR[o0 + j] + a1 * tR[o1 + j] + a2 * tR[o2 + j] + a3 * tR[o3 + j]
                        + a4 * tR[o4 + j] + a5 * tR[o5 + j] + a6 * tR[o6 + j] + a7 * tR[o7 + j])


@nb.njit(cache=True, fastmath=_FAST)
def _rows_p(tR, roff, rp, p, C, W, nb_, Up):
    """As :func:`_rows8` for any order ``p``: ``p`` row updates of length ``rp`` into ``Up[q]``."""
    urp = np.uint64(rp)
    for q in range(nb_):
        o = np.uint64(roff + C[q] * rp)
        w = W[0, q]
        for j in range(urp):
            Up[q, j] = w * tR[o + j]
        for l in range(1, p):
            w = W[l, q]
            o += urp
            for j in range(urp):
                Up[q, j] += w * tR[o + j]


@nb.njit(cache=True)
def _row_work(chunk, p, rpad, nmodes):
    """The work arrays of :func:`_block_rows_into` for blocks of ``chunk`` points: ``S, A, C, W, Up``."""
    rpm = 8
    for i in range(nmodes):
        rpm = max(rpm, rpad[i])
    return (np.empty(chunk), np.empty(chunk), np.empty(chunk, dtype=np.int64), np.empty((p, chunk)),
            np.empty((chunk, rpm)))


@nb.njit(cache=True)
def _block_rows_into(tR, r_off, rpad, tG, p, inv_den, r, t, p0, nb_, U, S, A, C, W, Up):
    """:func:`_block_rows_table_pm` with the work arrays given (:func:`_row_work`: a caller that runs many
    blocks allocates them once)."""
    for i in range(t.shape[1]):
        _rows_table_pm(tR, r_off[i], rpad[i], tG[i], p, inv_den, r[i], t, p0, nb_, i, S, C, W, A, Up, U[i])


@nb.njit(cache=True)
def _block_rows_table_pm(tR, r_off, rpad, tG, p, inv_den, r, t, p0, nb_, U):
    S, A, C, W, Up = _row_work(U.shape[2], p, rpad, t.shape[1])
    _block_rows_into(tR, r_off, rpad, tG, p, inv_den, r, t, p0, nb_, U, S, A, C, W, Up)
