"""Row and plane kernels of the red/black split-layout smoothing (:mod:`.mgsplit`, which states the layout):
half sweeps, the residual of one colour, the last-axis restriction of that residual, the split of ``f`` and the
prolongation into the colour arrays, each on one axis-0 plane. Inlined into :mod:`.mgsplit`'s wavefront."""
import math

import numba as nb
import numpy as np

from ._split_rows2 import restrict_gather

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True, inline="always")
def _count(n2, t):
    """Points of a row at ``k = 2 k' + t``."""
    return (n2 - t + 1) // 2


@nb.njit(cache=True, inline="always")
def _around(i, n, w):
    """The neighbour indices ``i - 1, i + 1`` (``i`` itself where one is missing) and their coefficients ``w``
    (``0`` where missing, of ``w``'s type: float32 coefficients keep the row arithmetic in float32)."""
    z = w - w
    return (i - 1 if i > 0 else i), (i + 1 if i < n - 1 else i), (w if i > 0 else z), (w if i < n - 1 else z)


# The row helpers index the full 3-D arrays (row ``(i, j)``, neighbour rows ``im, ip, jm, jp``) with an unsigned
# last index, as :mod:`._stencil_rows` does (row views passed to a helper measured about 2x slower here).
@nb.njit(cache=True, fastmath={"contract"})
def _half_row(X, Y, F, i, j, im, ip, jm, jp, t, mc, w2, ca, cb, cc, ce, dinv):
    """Solve the ``mc`` points of row ``(i, j)`` of ``X`` (offset ``t``) for their values from ``Y``."""
    if mc == 0:
        return
    one = np.uint64(1)
    if t == 0:
        X[i, j, 0] = (F[i, j, 0] + w2 * Y[i, j, 0] + ca * Y[im, j, 0] + cb * Y[ip, j, 0] + cc * Y[i, jm, 0]
                      + ce * Y[i, jp, 0]) * dinv
        for k in range(one, np.uint64(mc)):
            X[i, j, k] = (F[i, j, k] + w2 * (Y[i, j, k - one] + Y[i, j, k]) + ca * Y[im, j, k] + cb * Y[ip, j, k]
                          + cc * Y[i, jm, k] + ce * Y[i, jp, k]) * dinv
    else:
        for k in range(np.uint64(mc)):
            X[i, j, k] = (F[i, j, k] + w2 * (Y[i, j, k] + Y[i, j, k + one]) + ca * Y[im, j, k] + cb * Y[ip, j, k]
                          + cc * Y[i, jm, k] + ce * Y[i, jp, k]) * dinv


@nb.njit(cache=True, fastmath={"contract"})
def _res_row(res, Y, X, G, i, j, im, ip, jm, jp, t, mo, w2, ca, cb, cc, ce, d):
    """``res[k]``: the residual of the ``mo`` points of row ``(i, j)`` of ``Y`` (offset ``t``; its neighbours
    in ``X``, right-hand side ``G``), contiguous."""
    if mo == 0:
        return
    one = np.uint64(1)
    if t == 0:
        res[0] = G[i, j, 0] - (d * Y[i, j, 0] - w2 * X[i, j, 0] - ca * X[im, j, 0] - cb * X[ip, j, 0]
                               - cc * X[i, jm, 0] - ce * X[i, jp, 0])
        for k in range(one, np.uint64(mo)):
            res[k] = G[i, j, k] - (d * Y[i, j, k] - w2 * (X[i, j, k - one] + X[i, j, k]) - ca * X[im, j, k]
                                   - cb * X[ip, j, k] - cc * X[i, jm, k] - ce * X[i, jp, k])
    else:
        for k in range(np.uint64(mo)):
            res[k] = G[i, j, k] - (d * Y[i, j, k] - w2 * (X[i, j, k] + X[i, j, k + one]) - ca * X[im, j, k]
                                   - cb * X[ip, j, k] - cc * X[i, jm, k] - ce * X[i, jp, k])


#: float64 bit patterns: the bits below the sign, the first non-finite magnitude (inf; NaN above), the mantissa
_ABS = np.uint64(0x7FFFFFFFFFFFFFFF)
_INF_BITS = np.uint64(0x7FF0000000000000)
_MANT = np.uint64(0x000FFFFFFFFFFFFF)


@nb.njit(cache=True, inline="always")
def _magnitude(b):
    """The float64 ``|x|`` whose bits below the sign are ``b`` (``inf`` for inf and NaN), without a bit cast."""
    if b >= _INF_BITS:
        return np.inf
    e, m = np.int64(b >> np.uint64(52)), b & _MANT
    return math.ldexp(float(m), -1074) if e == 0 else math.ldexp(float(m | (_MANT + np.uint64(1))), int(e) - 1075)


@nb.njit(cache=True)
def _split_plane(f, fb, F0, F1, X0, X1, p, n2, sc, first, zero_other):
    """Plane ``p``: ``F_c = sc f`` at the colour-``c`` points; ``X_first = F_first`` (a half sweep of colour
    ``first`` from ``u = 0``, in the scaled unknowns) and, when ``zero_other``, the other colour's ``X = 0``.
    Returns ``max |f|`` over the plane (NaN counts as infinite), from ``f``'s bits ``fb``: an integer maximum
    vectorises where a float one with NaN semantics does not (the split 1.4x faster, one thread, 128^3)."""
    h = np.uint64(n2 // 2)
    one, two = np.uint64(1), np.uint64(2)
    big = np.uint64(0)
    for j in range(f.shape[1]):
        A, B = (F0, F1) if (p + j) & 1 == 0 else (F1, F0)      # red points at 2 k + t, black at 2 k + 1 - t
        for k in range(h):
            A[p, j, k] = f[p, j, two * k] * sc
            B[p, j, k] = f[p, j, two * k + one] * sc
        if n2 & 1:
            A[p, j, h] = f[p, j, n2 - 1] * sc
        for k in range(np.uint64(n2)):
            big = max(big, fb[p, j, k] & _ABS)
        for col in range(2):
            F = F0 if col == 0 else F1
            X = X0 if col == 0 else X1
            mc = np.uint64(_count(n2, (p + j + col) & 1))
            if col == first:
                for k in range(mc):
                    X[p, j, k] = F[p, j, k]
            elif zero_other:
                for k in range(mc):
                    X[p, j, k] = 0.0
    return _magnitude(big)


def pair_tables(n1, m, w2):
    """``T[s, a]`` (float32, one entry per colour-array entry of a plane, ``m`` per row): the weight of the
    along-row neighbour ``k' - 1`` (``a = 0``) and ``k' + 1`` (``a = 1``) of :func:`_half_plane`'s plane loop
    for the planes whose row ``j`` has offset ``t = (s + j) & 1``: ``w2`` on the side the row's offset reads
    (``t = 0``: ``k' - 1``; ``t = 1``: ``k' + 1``), zero on the other."""
    t = (np.arange(2)[:, None] + np.arange(n1)[None, :]) & 1           # (s, j) -> the row's offset
    T = np.zeros((2, 2, n1, m), dtype=np.float32)
    T[:, 0] = np.where(t == 0, np.float32(w2), np.float32(0.0))[:, :, None]
    T[:, 1] = np.where(t == 1, np.float32(w2), np.float32(0.0))[:, :, None]
    return T.reshape(2, 2, n1 * m)


@nb.njit(cache=True, fastmath={"contract"})
def _half_plane(X, Y, F, col, p, n2, w0, w1, w2, dinv, T):
    """Plane ``p``: solve the colour-``col`` points (array ``X``) from their neighbours (array ``Y``). The first
    and last rows row by row (their missing neighbour row), the others as ONE contiguous loop over the plane's
    entries, the along-row pair weighted by the row's offset from ``T`` (:func:`pair_tables`), then the entries
    past each row's points set back to zero (the Dirichlet boundary the next sweep reads): a row of 64 float32
    entries left the vector loop mostly in its set-up and remainder (one thread, 128^3: 0.56 -> 0.37 ns per
    point, session 47). The same sums as :func:`_half_row`, in another order (float32 rounding)."""
    n0, n1 = X.shape[0], X.shape[1]
    im, ip, ca, cb = _around(p, n0, w0)
    if n1 < 3:
        for j in range(n1):
            jm, jp, cc, ce = _around(j, n1, w1)
            t = (p + j + col) & 1
            _half_row(X, Y, F, p, j, im, ip, jm, jp, t, _count(n2, t), w2, ca, cb, cc, ce, dinv)
        return
    for j in (0, n1 - 1):
        jm, jp, cc, ce = _around(j, n1, w1)
        t = (p + j + col) & 1
        _half_row(X, Y, F, p, j, im, ip, jm, jp, t, _count(n2, t), w2, ca, cb, cc, ce, dinv)
    s = (p + col) & 1
    A0, A1 = T[s, 0], T[s, 1]
    M = np.uint64(X.shape[2])
    z, one = np.uint64(0), np.uint64(1)
    for q in range(M, np.uint64(n1 - 1) * M):           # rows 1 .. n1 - 2 (index q = j m + k' of the plane)
        X[p, z, q] = (F[p, z, q] + w2 * Y[p, z, q] + A0[q] * Y[p, z, q - one] + A1[q] * Y[p, z, q + one]
                      + ca * Y[im, z, q] + cb * Y[ip, z, q] + w1 * (Y[p, z, q - M] + Y[p, z, q + M])) * dinv
    for j in range(1, n1 - 1):
        for k in range(_count(n2, (p + j + col) & 1), X.shape[2]):
            X[p, j, k] = 0.0


@nb.njit(cache=True, fastmath=_FM)
def _half_plane_out(X, Y, F, G, col, p, n2, w0, w1, w2, dinv, u, cu, want_dot, T):
    """:func:`_half_plane`, then the natural ``u = cu X`` of the plane (``X``: colour ``col``, ``Y`` the other);
    returns the plane's ``F . X`` over both colours when ``want_dot`` (``F``, ``G``: the colour parts of the
    right-hand side), else 0."""
    n1 = X.shape[1]
    _half_plane(X, Y, F, col, p, n2, w0, w1, w2, dinv, T)
    h = np.uint64(n2 // 2)
    one, two = np.uint64(1), np.uint64(2)
    tot = 0.0
    for j in range(n1):
        t = (p + j + col) & 1
        mc, mo = _count(n2, t), _count(n2, 1 - t)
        A, B = (X, Y) if t == 0 else (Y, X)
        for k in range(h):
            u[p, j, two * k] = cu * A[p, j, k]
            u[p, j, two * k + one] = cu * B[p, j, k]
        if n2 & 1:
            u[p, j, n2 - 1] = cu * A[p, j, h]
        if want_dot:
            s = 0.0
            for k in range(np.uint64(mc)):              # float64 products: F X may pass float32's range
                s += np.float64(F[p, j, k]) * np.float64(X[p, j, k])
            for k in range(np.uint64(mo)):
                s += np.float64(G[p, j, k]) * np.float64(Y[p, j, k])
            tot += s
    return tot


@nb.njit(cache=True, fastmath={"contract"})
def _res_plane(X, Y, G, col, p, RL, res, nat, n2, w0, w1, w2, d, aff, Wt, ri2, rw2, T):
    """Plane ``p`` of the residual restricted along the last axis into ``RL[p]`` (``(n1, nc2)``). The residual
    of the other colour's points (``Y``; the just-solved colour's residual is zero) goes into ``res``, row ``j``
    from ``res[j m]`` on -- the first and last rows row by row, the others as one loop over the plane as in
    :func:`_half_plane` -- then each row's :func:`_restrict_row` (``aff``: a last-axis table reading
    ``r[2 J + b]``) or, with a general table, the natural row ``nat`` and a gather."""
    n0, n1 = X.shape[0], X.shape[1]
    M = X.shape[2]
    im, ip, ca, cb = _around(p, n0, w0)
    flat = n1 >= 3
    for j in range(n1):
        if flat and 0 < j < n1 - 1:
            continue
        jm, jp, cc, ce = _around(j, n1, w1)
        t = (p + j + 1 - col) & 1
        _res_row(res[j * M:], Y, X, G, p, j, im, ip, jm, jp, t, _count(n2, t), w2, ca, cb, cc, ce, d)
    if flat:
        s = (p + 1 - col) & 1
        A0, A1 = T[s, 0], T[s, 1]
        Mu = np.uint64(M)
        z, one = np.uint64(0), np.uint64(1)
        for q in range(Mu, np.uint64(n1 - 1) * Mu):
            res[q] = G[p, z, q] - (d * Y[p, z, q] - w2 * X[p, z, q] - A0[q] * X[p, z, q - one]
                                   - A1[q] * X[p, z, q + one] - ca * X[im, z, q] - cb * X[ip, z, q]
                                   - w1 * (X[p, z, q - Mu] + X[p, z, q + Mu]))
    for j in range(n1):
        t = (p + j + 1 - col) & 1
        rj = res[j * M:]
        if aff and Wt.shape[0] == 4:
            _restrict_row4(RL, p, j, rj, t, Wt)
        elif aff:
            _restrict_row(RL, p, j, rj, t, Wt)
        else:
            _restrict_gather(RL, p, j, rj, nat, t, _count(n2, t), n2, ri2, rw2)


@nb.njit(cache=True)
def _restrict_row(RL, p, j, res, t, Wt):
    """``RL[p, j, J] = sum_b Wt[b, J] r[2 J + b]`` where ``r[2 k + t] = res[k]`` and the other parity is zero:
    only the taps ``b`` of parity ``t`` remain, reading ``res[J + (b - t) / 2]`` (contiguous). Every
    ``2 J + b`` is a point of the row (``2 (nc2 - 1) + taps <= n2``, checked by :func:`_last_axis_tables`), so
    every ``res`` entry read is one of the row's."""
    nc2 = np.uint64(RL.shape[2])
    one = np.uint64(1)
    if Wt.shape[0] == 3:                     # full weighting: one written loop (3x faster than the general one)
        if t == 0:
            for J in range(nc2):
                RL[p, j, J] = Wt[0, J] * res[J] + Wt[2, J] * res[J + one]
        else:
            for J in range(nc2):
                RL[p, j, J] = Wt[1, J] * res[J]
        return
    for J in range(nc2):
        RL[p, j, J] = 0.0
    for q in range(t, Wt.shape[0], 2):
        o = np.uint64((q - t) // 2)
        for J in range(nc2):
            RL[p, j, J] += Wt[q, J] * res[J + o]


@nb.njit(cache=True)
def _restrict_row4(RL, p, j, res, t, Wt):
    """:func:`_restrict_row` for the four-tap tables of non-nested grids (linear interpolation's transpose,
    ``2^k -> 2^(k-1) - 1`` points): two taps per parity, written out, in a helper of its own so that LLVM inlines
    it into the plane loop (the residual stage of a 128^3 level 0.75 -> 0.5 ms with 2 threads, session 43; the
    same sums as the general loop, bitwise)."""
    nc2 = np.uint64(RL.shape[2])
    one = np.uint64(1)
    if t == 0:
        for J in range(nc2):
            RL[p, j, J] = Wt[0, J] * res[J] + Wt[2, J] * res[J + one]
    else:
        for J in range(nc2):
            RL[p, j, J] = Wt[1, J] * res[J] + Wt[3, J] * res[J + one]


@nb.njit(cache=True)
def _restrict_gather(RL, p, j, res, nat, t, mo, n2, ri2, rw2):
    """``RL[p, j] = `` the table ``(ri2, rw2)`` applied to the natural row (``res`` at parity ``t``, zeros between):
    :func:`._split_rows2.restrict_gather` on the plane ``RL[p]``."""
    restrict_gather(RL[p], j, res, nat, t, mo, n2, ri2, rw2)


@nb.njit(cache=True)
def _prolong_plane(X0, X1, p, n2, pi0, pw0, pi1, pw1, buf, col):
    """Plane ``p``: ``X_col += `` the tensor interpolation of the coarse rows ``buf`` (already along the last
    axis, per parity), for the colour ``col`` only: the post-smoothing's first half sweep solves the other colour
    from ``col``'s values and ``F`` alone, so a correction of the other colour would be overwritten unread (the
    stage's work halved; the cycle's result is bitwise the same)."""
    a0, a1 = pi0[p, 0], pi0[p, 1]
    x0, x1 = pw0[p, 0], pw0[p, 1]
    X = X0 if col == 0 else X1
    for j in range(X0.shape[1]):
        b0, b1 = pi1[j, 0], pi1[j, 1]
        c00, c01, c10, c11 = x0 * pw1[j, 0], x0 * pw1[j, 1], x1 * pw1[j, 0], x1 * pw1[j, 1]
        t = (p + j + col) & 1
        for k in range(np.uint64(_count(n2, t))):
            X[p, j, k] += (c00 * buf[a0, b0, t, k] + c01 * buf[a0, b1, t, k] + c10 * buf[a1, b0, t, k]
                           + c11 * buf[a1, b1, t, k])
