"""Row kernels of the 2-D red/black split-layout smoothing (:mod:`.mgsplit2`, which states the layout): the split
of ``f``, half sweeps and the residual of one colour restricted along the last axis, each on one grid row. Inlined
into :mod:`.mgsplit2`'s wavefront.

Every inner loop is contiguous over one colour's entries of a row, with no branch, so LLVM vectorises it (16
float32 lanes with AVX-512). The helpers index the full 2-D arrays with unsigned last indices, as
:mod:`._split_rows` does for 3-D (row views measured slower there)."""
import numba as nb
import numpy as np

#: the bits of a float64 below its sign: as unsigned integers they order |x| (NaN above inf above every finite)
_ABS = np.uint64(0x7FFFFFFFFFFFFFFF)


@nb.njit(cache=True, inline="always")
def count(n1, t):
    """Points of a row at ``k = 2 k' + t``."""
    return (n1 - t + 1) // 2


@nb.njit(cache=True, inline="always")
def around(i, n, w):
    """The rows ``i - 1, i + 1`` (``i`` itself where one is missing) and their coefficients (``0`` where
    missing, of ``w``'s type)."""
    z = w - w
    return (i - 1 if i > 0 else i), (i + 1 if i < n - 1 else i), (w if i > 0 else z), (w if i < n - 1 else z)


@nb.njit(cache=True, fastmath={"contract"})
def half_row(X, Y, F, i, fi, im, ip, ca, cb, t, mc, w1):
    """Solve the ``mc`` points of row ``i`` of ``X`` (offset ``t``) from the other colour ``Y`` (scaled unknowns:
    ``X = F + sum (w / d) Y_nb``; the row's right-hand side is ``F[fi]``)."""
    if mc == 0:
        return
    one = np.uint64(1)
    if t == 0:
        X[i, 0] = F[fi, 0] + w1 * Y[i, 0] + ca * Y[im, 0] + cb * Y[ip, 0]
        for k in range(one, np.uint64(mc)):
            X[i, k] = F[fi, k] + w1 * (Y[i, k - one] + Y[i, k]) + ca * Y[im, k] + cb * Y[ip, k]
    else:
        for k in range(np.uint64(mc)):
            X[i, k] = F[fi, k] + w1 * (Y[i, k] + Y[i, k + one]) + ca * Y[im, k] + cb * Y[ip, k]


@nb.njit(cache=True, fastmath={"contract"})
def res_row(res, Y, X, G, i, fi, im, ip, ca, cb, t, mo, w1):
    """``res[k]``: the scaled residual of the ``mo`` points of row ``i`` of ``Y`` (offset ``t``; neighbours in
    ``X``, right-hand side ``G[fi]``), contiguous."""
    if mo == 0:
        return
    one = np.uint64(1)
    if t == 0:
        res[0] = G[fi, 0] - Y[i, 0] + w1 * X[i, 0] + ca * X[im, 0] + cb * X[ip, 0]
        for k in range(one, np.uint64(mo)):
            res[k] = G[fi, k] - Y[i, k] + w1 * (X[i, k - one] + X[i, k]) + ca * X[im, k] + cb * X[ip, k]
    else:
        for k in range(np.uint64(mo)):
            res[k] = G[fi, k] - Y[i, k] + w1 * (X[i, k] + X[i, k + one]) + ca * X[im, k] + cb * X[ip, k]


@nb.njit(cache=True)
def restrict_row(RL, i, res, t, Wt):
    """``RL[i, J] = sum_b Wt[b, J] r[2 J + b]`` where ``r[2 k + t] = res[k]`` and the other parity is zero: only
    the taps ``b`` of parity ``t`` remain, reading ``res[J + (b - t) / 2]`` (contiguous; every entry read is one
    of the row's, checked by :func:`.mgsplit._last_axis_tables`)."""
    nc = np.uint64(RL.shape[1])
    one = np.uint64(1)
    if Wt.shape[0] == 3:                     # full weighting (nested grids)
        if t == 0:
            for J in range(nc):
                RL[i, J] = Wt[0, J] * res[J] + Wt[2, J] * res[J + one]
        else:
            for J in range(nc):
                RL[i, J] = Wt[1, J] * res[J]
        return
    if Wt.shape[0] == 4:                     # linear interpolation between non-nested grids (2^k -> 2^(k-1) - 1)
        if t == 0:
            for J in range(nc):
                RL[i, J] = Wt[0, J] * res[J] + Wt[2, J] * res[J + one]
        else:
            for J in range(nc):
                RL[i, J] = Wt[1, J] * res[J] + Wt[3, J] * res[J + one]
        return
    for J in range(nc):
        RL[i, J] = 0.0
    for q in range(t, Wt.shape[0], 2):
        o = np.uint64((q - t) // 2)
        for J in range(nc):
            RL[i, J] += Wt[q, J] * res[J + o]


@nb.njit(cache=True)
def restrict_gather(RL, i, res, nat, t, mo, n1, ri1, rw1):
    """``RL[i] = `` the table ``(ri1, rw1)`` applied to the natural row ``nat`` (``res`` at parity ``t``, zeros
    between)."""
    for k in range(n1):
        nat[k] = 0.0
    for k in range(mo):
        nat[2 * k + t] = res[k]
    for J in range(RL.shape[1]):
        v = 0.0
        for q in range(ri1.shape[1]):
            v += rw1[J, q] * nat[ri1[J, q]]
        RL[i, J] = v


@nb.njit(cache=True)
def split_row(fb, f, F0, F1, X0, X1, i, fi, n1, sc, first, zero_other):
    """Row ``i``: ``F_c[fi] = sc f`` at the colour-``c`` points, ``X_first = F_first`` (a half sweep of colour
    ``first`` from ``u = 0`` in the scaled unknowns) and, when ``zero_other``, the other colour's ``X = 0``.
    Returns the largest ``|f|`` of the row as float64 bits below the sign (``fb``: ``f``'s bits; an integer
    maximum vectorises where a float one with NaN semantics does not; NaN orders above inf)."""
    h = np.uint64(n1 // 2)
    one, two = np.uint64(1), np.uint64(2)
    A, B = (F0, F1) if i & 1 == 0 else (F1, F0)      # row i: colour c at the points 2 k + ((i + c) & 1)
    big = np.uint64(0)
    for k in range(h):
        A[fi, k] = f[i, two * k] * sc
        B[fi, k] = f[i, two * k + one] * sc
    for k in range(np.uint64(n1)):
        big = max(big, fb[i, k] & _ABS)
    if n1 & 1:
        A[fi, h] = f[i, n1 - 1] * sc
    for col in range(2):
        F = F0 if col == 0 else F1
        X = X0 if col == 0 else X1
        mc = np.uint64(count(n1, (i + col) & 1))
        if col == first:
            for k in range(mc):
                X[i, k] = F[fi, k]
        elif zero_other:
            for k in range(mc):
                X[i, k] = 0.0
    return big
