"""Row and plane building blocks of the Numba stencil kernels (inlined into :mod:`.stencil`, :mod:`.rbwave`,
:mod:`.multigrid` and :mod:`.mgfused`): matrix-vector and residual rows, red-black Gauss-Seidel rows, and the
per-plane (3-D) / per-row (2-D) half-sweep steps of the fused smoothing passes.

Grid and coefficient conventions are those of :mod:`.stencil` (constant "c" and variable "v" forms).
"""
import numba as nb
import numpy as np

# ----------------------------------------------------------------------------- vectorisable row helpers
# The inner (last-axis) loops below carry no branches: the two end points of a row are peeled, so LLVM
# vectorises the interior (AVX2/AVX-512). The red-black row updates update only the points of their colour
# in a stride-2 loop over an *unsigned* index (exact in place: a point of colour c only reads neighbours of
# colour 1 - c). Half the arithmetic of the earlier form (a candidate for every point of the row into a
# buffer, then a select), and 17-25 % faster per smoothing pass in 3-D, 5-15 % in 2-D on Zen 4 (constant
# k; 128^3, 63^3, 1024^2, 511^2); a signed-index stride-2 loop had measured slower than the select. On an
# AVX-512 Xeon ("rocketlake" to LLVM) the loop stays scalar (no packed arithmetic in its assembly: the cost
# model declines the interleaved stores) and the select form measured no faster there (MG-CG 128^3 and
# 1024^2, interleaved), nor did a compact-buffer form with stride-2 loads only; a red/black split layout
# of the level vectorises it (:mod:`.mgsplit`, used for large 3-D levels). On Zen 5 ("znver5", session 31) the
# 2-D loop is scalar too (``vfmadd...sd`` only), yet three vectorised forms (candidates into a buffer then a
# select; a copy of the row then one select loop, indexed or on row views) measured no faster: 0.36 ns per
# grid point for all four on L2-resident 16 x 1024 grids, 0.41 (scalar) against 0.46-0.48 ms per half sweep on
# 1024^2, one thread (``/tmp/s31/hs.py``). The ``tmp`` row buffer argument is unused now.
# The helpers index the full arrays (row ``(i, j)``, neighbours ``im, ip, jm, jp``): passing 1-D row
# views instead measured 2.5x slower in 3-D (the view structs defeat inlining / alias analysis).
# Dot products inside apply/residual use ``_FM`` (reassociation only, no finite-math assumptions) so
# the reductions vectorise too.
# Some 3-D row loops index the last axis with an unsigned ``k`` (``range(np.uint64(1), ...)``): Numba emits
# a negative-index wraparound select for every signed index, and when LLVM cannot prove ``k >= 0`` (it could
# not in the apply loop) it vectorises the row with gathers instead of contiguous loads (2x slower than the
# scalar loop). Unsigned indices carry no wraparound, so the loads stay contiguous.

_FM = {"reassoc", "contract", "nsz"}
#: the red-black row updates: fused multiply-adds only (no reordering; a point's sum keeps its order). On an
#: AVX-512 Xeon, where LLVM leaves the stride-2 loop scalar, 12 % faster per smoothing sweep (16x32x128, one
#: thread) and MG-CG 128^3 7 % faster (134-139 vs 146-153 ms, 2 threads, interleaved; 1024^2 within noise)
_GS = {"contract"}


@nb.njit(cache=True, fastmath=_FM)
def _rrow3c(u, f, r, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d, store):
    """``r = f - A u`` on the 3-D row ``(i, j)`` (constant k); returns its ``dot(r, r)``. ``store`` False: the
    sum only, ``r`` untouched (the norm of a residual nobody reads: one read pass, no write)."""
    n = u.shape[2]
    if n == 1:
        v = f[i, j, 0] - (d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0]
                          - cjm * u[i, jm, 0] - cjp * u[i, jp, 0])
        if store:
            r[i, j, 0] = v
        return v * v
    v = f[i, j, 0] - (d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0]
                      - cjm * u[i, jm, 0] - cjp * u[i, jp, 0] - w2 * u[i, j, 1])
    if store:
        r[i, j, 0] = v
    s = v * v
    for k in range(1, n - 1):                       # (LLVM unswitches the loop on store)
        v = f[i, j, k] - (d * u[i, j, k] - cim * u[im, j, k] - cip * u[ip, j, k]
                          - cjm * u[i, jm, k] - cjp * u[i, jp, k] - w2 * (u[i, j, k - 1] + u[i, j, k + 1]))
        if store:
            r[i, j, k] = v
        s += v * v
    m = n - 1
    v = f[i, j, m] - (d * u[i, j, m] - cim * u[im, j, m] - cip * u[ip, j, m]
                      - cjm * u[i, jm, m] - cjp * u[i, jp, m] - w2 * u[i, j, m - 1])
    if store:
        r[i, j, m] = v
    return s + v * v


@nb.njit(cache=True, fastmath=_FM)
def _arow3c(u, out, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d):
    """``out = A u`` on the 3-D row ``(i, j)`` (constant k); returns its ``dot(u, out)``."""
    n = u.shape[2]
    if n == 1:
        v = d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0] - cjm * u[i, jm, 0] - cjp * u[i, jp, 0]
        out[i, j, 0] = v
        return v * u[i, j, 0]
    v = (d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0] - cjm * u[i, jm, 0] - cjp * u[i, jp, 0]
         - w2 * u[i, j, 1])
    out[i, j, 0] = v
    s = v * u[i, j, 0]
    one = np.uint64(1)  # unsigned k: no wraparound select, contiguous vector loads (see the note above)
    for k in range(one, np.uint64(n) - one):
        v = (d * u[i, j, k] - cim * u[im, j, k] - cip * u[ip, j, k] - cjm * u[i, jm, k] - cjp * u[i, jp, k]
             - w2 * (u[i, j, k - one] + u[i, j, k + one]))
        out[i, j, k] = v
        s += v * u[i, j, k]
    m = n - 1
    v = (d * u[i, j, m] - cim * u[im, j, m] - cip * u[ip, j, m] - cjm * u[i, jm, m] - cjp * u[i, jp, m]
         - w2 * u[i, j, m - 1])
    out[i, j, m] = v
    return s + v * u[i, j, m]


@nb.njit(cache=True, fastmath=_FM)
def _arow3v(u, out, i, j, im, ip, jm, jp, mim, mip, mjm, mjp, f0, f1, f2, d):
    """Variable-k twin of :func:`_arow3c` (face arrays ``f0, f1, f2``, diagonal array ``d``)."""
    n = u.shape[2]
    if n == 1:
        v = (d[i, j, 0] * u[i, j, 0] - mim * f0[i, j, 0] * u[im, j, 0] - mip * f0[i + 1, j, 0] * u[ip, j, 0]
             - mjm * f1[i, j, 0] * u[i, jm, 0] - mjp * f1[i, j + 1, 0] * u[i, jp, 0])
        out[i, j, 0] = v
        return v * u[i, j, 0]
    v = (d[i, j, 0] * u[i, j, 0] - mim * f0[i, j, 0] * u[im, j, 0] - mip * f0[i + 1, j, 0] * u[ip, j, 0]
         - mjm * f1[i, j, 0] * u[i, jm, 0] - mjp * f1[i, j + 1, 0] * u[i, jp, 0] - f2[i, j, 1] * u[i, j, 1])
    out[i, j, 0] = v
    s = v * u[i, j, 0]
    one = np.uint64(1)
    for k in range(one, np.uint64(n) - one):
        v = (d[i, j, k] * u[i, j, k] - mim * f0[i, j, k] * u[im, j, k] - mip * f0[i + 1, j, k] * u[ip, j, k]
             - mjm * f1[i, j, k] * u[i, jm, k] - mjp * f1[i, j + 1, k] * u[i, jp, k]
             - f2[i, j, k] * u[i, j, k - one] - f2[i, j, k + one] * u[i, j, k + one])
        out[i, j, k] = v
        s += v * u[i, j, k]
    m = n - 1
    v = (d[i, j, m] * u[i, j, m] - mim * f0[i, j, m] * u[im, j, m] - mip * f0[i + 1, j, m] * u[ip, j, m]
         - mjm * f1[i, j, m] * u[i, jm, m] - mjp * f1[i, j + 1, m] * u[i, jp, m] - f2[i, j, m] * u[i, j, m - 1])
    out[i, j, m] = v
    return s + v * u[i, j, m]


@nb.njit(cache=True)
def _rrow3c_to(u, f, rb, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d):
    """``rb[j] = (f - A u)[i, j]`` for the fused residual + restriction (row buffer ``rb`` of a plane)."""
    n = u.shape[2]
    if n == 1:
        rb[j, 0] = f[i, j, 0] - (d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0]
                                 - cjm * u[i, jm, 0] - cjp * u[i, jp, 0])
        return
    rb[j, 0] = f[i, j, 0] - (d * u[i, j, 0] - cim * u[im, j, 0] - cip * u[ip, j, 0]
                             - cjm * u[i, jm, 0] - cjp * u[i, jp, 0] - w2 * u[i, j, 1])
    for k in range(1, n - 1):
        rb[j, k] = f[i, j, k] - (d * u[i, j, k] - cim * u[im, j, k] - cip * u[ip, j, k]
                                 - cjm * u[i, jm, k] - cjp * u[i, jp, k] - w2 * (u[i, j, k - 1] + u[i, j, k + 1]))
    m = n - 1
    rb[j, m] = f[i, j, m] - (d * u[i, j, m] - cim * u[im, j, m] - cip * u[ip, j, m]
                             - cjm * u[i, jm, m] - cjp * u[i, jp, m] - w2 * u[i, j, m - 1])


@nb.njit(cache=True)
def _rrow2c_to(u, f, rb, i, im, ip, cim, cip, w1, d):
    """``rb = (f - A u)[i]`` (2-D, constant k) into a row buffer."""
    n = u.shape[1]
    if n == 1:
        rb[0] = f[i, 0] - (d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0])
        return
    rb[0] = f[i, 0] - (d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0] - w1 * u[i, 1])
    for k in range(1, n - 1):
        rb[k] = f[i, k] - (d * u[i, k] - cim * u[im, k] - cip * u[ip, k] - w1 * (u[i, k - 1] + u[i, k + 1]))
    m = n - 1
    rb[m] = f[i, m] - (d * u[i, m] - cim * u[im, m] - cip * u[ip, m] - w1 * u[i, m - 1])


@nb.njit(cache=True)
def residual_plane3c(u, f, rb, i, w0, w1, w2, d):
    """``rb = (f - A u)[i]``: the residual of one axis-0 plane into the buffer ``rb`` (constant k)."""
    n0, n1, n2 = u.shape
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    for j in range(n1):
        cjm = w1 if j > 0 else 0.0
        cjp = w1 if j < n1 - 1 else 0.0
        jm = j - 1 if j > 0 else 0
        jp = j + 1 if j < n1 - 1 else n1 - 1
        _rrow3c_to(u, f, rb, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d)


@nb.njit(cache=True)
def residual_row2c(u, f, rb, i, w0, w1, d):
    """``rb = (f - A u)[i]``: the residual of one row into the buffer ``rb`` (2-D, constant k)."""
    n0 = u.shape[0]
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    _rrow2c_to(u, f, rb, i, im, ip, cim, cip, w1, d)


@nb.njit(cache=True, fastmath=_GS)
def _gsrow3c(u, f, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, dinv, k0, tmp):
    """Gauss-Seidel update of the points ``k0, k0 + 2, ...`` of the 3-D row ``(i, j)`` (constant k)."""
    n = u.shape[2]
    if n == 1:
        if k0 == 0:
            u[i, j, 0] = (f[i, j, 0] + cim * u[im, j, 0] + cip * u[ip, j, 0]
                          + cjm * u[i, jm, 0] + cjp * u[i, jp, 0]) * dinv
        return
    k = k0                                   # one colour, stride 2, unsigned index (as in _gsrow2c)
    if k0 == 0:
        u[i, j, 0] = (f[i, j, 0] + cim * u[im, j, 0] + cip * u[ip, j, 0] + cjm * u[i, jm, 0] + cjp * u[i, jp, 0]
                      + w2 * u[i, j, 1]) * dinv
        k = 2
    one, two = np.uint64(1), np.uint64(2)
    kk = np.uint64(k)
    end = np.uint64(n - 1)
    while kk < end:
        u[i, j, kk] = (f[i, j, kk] + cim * u[im, j, kk] + cip * u[ip, j, kk] + cjm * u[i, jm, kk]
                       + cjp * u[i, jp, kk] + w2 * (u[i, j, kk - one] + u[i, j, kk + one])) * dinv
        kk += two
    if ((n - 1 - k0) & 1) == 0:
        m = n - 1
        u[i, j, m] = (f[i, j, m] + cim * u[im, j, m] + cip * u[ip, j, m] + cjm * u[i, jm, m] + cjp * u[i, jp, m]
                      + w2 * u[i, j, m - 1]) * dinv


@nb.njit(cache=True, fastmath=_GS)
def _gsrow3v(u, f, i, j, im, ip, jm, jp, mim, mip, mjm, mjp, f0, f1, f2, d, k0, tmp):
    """Variable-k twin of :func:`_gsrow3c` (face arrays ``f0, f1, f2``, diagonal array ``d``)."""
    n = u.shape[2]
    if n == 1:
        if k0 == 0:
            u[i, j, 0] = (f[i, j, 0] + mim * f0[i, j, 0] * u[im, j, 0] + mip * f0[i + 1, j, 0] * u[ip, j, 0]
                          + mjm * f1[i, j, 0] * u[i, jm, 0] + mjp * f1[i, j + 1, 0] * u[i, jp, 0]) / d[i, j, 0]
        return
    k = k0                                   # one colour, stride 2, unsigned index (as in _gsrow3c)
    if k0 == 0:
        u[i, j, 0] = (f[i, j, 0] + mim * f0[i, j, 0] * u[im, j, 0] + mip * f0[i + 1, j, 0] * u[ip, j, 0]
                      + mjm * f1[i, j, 0] * u[i, jm, 0] + mjp * f1[i, j + 1, 0] * u[i, jp, 0]
                      + f2[i, j, 1] * u[i, j, 1]) / d[i, j, 0]
        k = 2
    one, two = np.uint64(1), np.uint64(2)
    kk = np.uint64(k)
    end = np.uint64(n - 1)
    while kk < end:
        u[i, j, kk] = (f[i, j, kk] + mim * f0[i, j, kk] * u[im, j, kk] + mip * f0[i + 1, j, kk] * u[ip, j, kk]
                       + mjm * f1[i, j, kk] * u[i, jm, kk] + mjp * f1[i, j + 1, kk] * u[i, jp, kk]
                       + f2[i, j, kk] * u[i, j, kk - one] + f2[i, j, kk + one] * u[i, j, kk + one]) / d[i, j, kk]
        kk += two
    if ((n - 1 - k0) & 1) == 0:
        m = n - 1
        u[i, j, m] = (f[i, j, m] + mim * f0[i, j, m] * u[im, j, m] + mip * f0[i + 1, j, m] * u[ip, j, m]
                      + mjm * f1[i, j, m] * u[i, jm, m] + mjp * f1[i, j + 1, m] * u[i, jp, m]
                      + f2[i, j, m] * u[i, j, m - 1]) / d[i, j, m]


@nb.njit(cache=True, fastmath=_GS)
def _gsrow2c(u, f, i, im, ip, cim, cip, w1, dinv, k0, tmp):
    """Gauss-Seidel update of the points ``k0, k0 + 2, ...`` of the 2-D row ``i`` (constant k)."""
    n = u.shape[1]
    if n == 1:
        if k0 == 0:
            u[i, 0] = (f[i, 0] + cim * u[im, 0] + cip * u[ip, 0]) * dinv
        return
    # the points of one colour only, a stride-2 loop with an unsigned index (vectorised with interleaved
    # loads; 1.2x faster than the candidate-for-every-point select of the 3-D helpers on 1024-long rows)
    k = k0
    if k0 == 0:
        u[i, 0] = (f[i, 0] + cim * u[im, 0] + cip * u[ip, 0] + w1 * u[i, 1]) * dinv
        k = 2
    one, two = np.uint64(1), np.uint64(2)
    kk = np.uint64(k)
    end = np.uint64(n - 1)
    while kk < end:
        u[i, kk] = (f[i, kk] + cim * u[im, kk] + cip * u[ip, kk] + w1 * (u[i, kk - one] + u[i, kk + one])) * dinv
        kk += two
    if ((n - 1 - k0) & 1) == 0:
        m = n - 1
        u[i, m] = (f[i, m] + cim * u[im, m] + cip * u[ip, m] + w1 * u[i, m - 1]) * dinv


@nb.njit(cache=True, fastmath=_GS)
def _gsrow2v(u, f, i, im, ip, mim, mip, f0, f1, d, k0, tmp):
    n = u.shape[1]
    if n == 1:
        if k0 == 0:
            u[i, 0] = (f[i, 0] + mim * f0[i, 0] * u[im, 0] + mip * f0[i + 1, 0] * u[ip, 0]) / d[i, 0]
        return
    k = k0                                   # one colour, stride 2, unsigned index (as in _gsrow2c)
    if k0 == 0:
        u[i, 0] = (f[i, 0] + mim * f0[i, 0] * u[im, 0] + mip * f0[i + 1, 0] * u[ip, 0] + f1[i, 1] * u[i, 1]) / d[i, 0]
        k = 2
    one, two = np.uint64(1), np.uint64(2)
    kk = np.uint64(k)
    end = np.uint64(n - 1)
    while kk < end:
        u[i, kk] = (f[i, kk] + mim * f0[i, kk] * u[im, kk] + mip * f0[i + 1, kk] * u[ip, kk]
                    + f1[i, kk] * u[i, kk - one] + f1[i, kk + one] * u[i, kk + one]) / d[i, kk]
        kk += two
    if ((n - 1 - k0) & 1) == 0:
        m = n - 1
        u[i, m] = (f[i, m] + mim * f0[i, m] * u[im, m] + mip * f0[i + 1, m] * u[ip, m] + f1[i, m] * u[i, m - 1]) / d[i, m]


@nb.njit(cache=True)
def _zerorow(uc, fc, dinv, k0):
    """A half sweep from ``u = 0`` on one row (1-D views): ``u = f * dinv`` on ``k0, k0 + 2, ...``, 0 elsewhere
    (one vectorised select; a zero fill followed by a stride-2 loop measured 1.7x slower)."""
    for k in range(uc.shape[0]):
        uc[k] = fc[k] * dinv if ((k ^ k0) & 1) == 0 else 0.0


@nb.njit(cache=True)
def _zerorowv(uc, fc, dr, k0):
    for k in range(uc.shape[0]):
        uc[k] = fc[k] / dr[k] if ((k ^ k0) & 1) == 0 else 0.0


@nb.njit(cache=True, fastmath=_FM)
def _arow2c(u, out, i, im, ip, cim, cip, w1, d):
    """``out = A u`` on the 2-D row ``i`` (constant k); returns its ``dot(u, out)``."""
    n = u.shape[1]
    if n == 1:
        v = d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0]
        out[i, 0] = v
        return v * u[i, 0]
    v = d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0] - w1 * u[i, 1]
    out[i, 0] = v
    s = v * u[i, 0]
    for k in range(1, n - 1):
        v = d * u[i, k] - cim * u[im, k] - cip * u[ip, k] - w1 * (u[i, k - 1] + u[i, k + 1])
        out[i, k] = v
        s += v * u[i, k]
    m = n - 1
    v = d * u[i, m] - cim * u[im, m] - cip * u[ip, m] - w1 * u[i, m - 1]
    out[i, m] = v
    return s + v * u[i, m]


@nb.njit(cache=True, fastmath=_FM)
def _rrow2c(u, f, r, i, im, ip, cim, cip, w1, d, store):
    """``r = f - A u`` on the 2-D row ``i`` (constant k); returns its ``dot(r, r)`` (``store`` False: the sum
    only, as :func:`_rrow3c`)."""
    n = u.shape[1]
    if n == 1:
        v = f[i, 0] - (d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0])
        if store:
            r[i, 0] = v
        return v * v
    v = f[i, 0] - (d * u[i, 0] - cim * u[im, 0] - cip * u[ip, 0] - w1 * u[i, 1])
    if store:
        r[i, 0] = v
    s = v * v
    for k in range(1, n - 1):                       # (LLVM unswitches the loop on store)
        v = f[i, k] - (d * u[i, k] - cim * u[im, k] - cip * u[ip, k] - w1 * (u[i, k - 1] + u[i, k + 1]))
        if store:
            r[i, k] = v
        s += v * v
    m = n - 1
    v = f[i, m] - (d * u[i, m] - cim * u[im, m] - cip * u[ip, m] - w1 * u[i, m - 1])
    if store:
        r[i, m] = v
    return s + v * v


# ----------------------------------------------------------------------------- one half sweep of a plane / row
# The step of the fused red+black sweeps (:func:`.stencil.sweep3c` ...) and of the wavefront smoother
# (:mod:`.rbwave`): the half sweep of colour ``color`` on plane (3-D) or row (2-D) ``i``; with ``zero`` from
# u = 0 on that colour.


@nb.njit(cache=True)
def _plane3c(u, f, i, w0, w1, w2, d, color, zero, tmp):
    n0, n1, n2 = u.shape
    dinv = 1.0 / d
    if zero:
        for j in range(n1):
            _zerorow(u[i, j], f[i, j], dinv, (i + j + color) & 1)
        return
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    for j in range(n1):
        cjm = w1 if j > 0 else 0.0
        cjp = w1 if j < n1 - 1 else 0.0
        jm = j - 1 if j > 0 else 0
        jp = j + 1 if j < n1 - 1 else n1 - 1
        _gsrow3c(u, f, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, dinv, (i + j + color) & 1, tmp)


@nb.njit(cache=True)
def _plane3v(u, f, i, f0, f1, f2, d, color, zero, tmp):
    n0, n1, n2 = u.shape
    if zero:
        for j in range(n1):
            _zerorowv(u[i, j], f[i, j], d[i, j], (i + j + color) & 1)
        return
    mim = 1.0 if i > 0 else 0.0
    mip = 1.0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    for j in range(n1):
        mjm = 1.0 if j > 0 else 0.0
        mjp = 1.0 if j < n1 - 1 else 0.0
        jm = j - 1 if j > 0 else 0
        jp = j + 1 if j < n1 - 1 else n1 - 1
        _gsrow3v(u, f, i, j, im, ip, jm, jp, mim, mip, mjm, mjp, f0, f1, f2, d, (i + j + color) & 1, tmp)


@nb.njit(cache=True)
def _row2c(u, f, i, w0, w1, d, color, zero, tmp):
    n0 = u.shape[0]
    dinv = 1.0 / d
    if zero:
        _zerorow(u[i], f[i], dinv, (i + color) & 1)
        return
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    _gsrow2c(u, f, i, im, ip, cim, cip, w1, dinv, (i + color) & 1, tmp)


@nb.njit(cache=True)
def _row2v(u, f, i, f0, f1, d, color, zero, tmp):
    n0 = u.shape[0]
    if zero:
        _zerorowv(u[i], f[i], d[i], (i + color) & 1)
        return
    mim = 1.0 if i > 0 else 0.0
    mip = 1.0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    _gsrow2v(u, f, i, im, ip, mim, mip, f0, f1, d, (i + color) & 1, tmp)


# ----------------------------------------------------------------------------- whole rows / planes of A u
@nb.njit(cache=True)
def apply_line2c(u, out, i, w0, w1, d):
    """``out = A u`` on row ``i`` of a 2-D grid (constant k, zero beyond the boundary); returns the row's
    ``dot(u, out)`` (:func:`solvers._kernels.numba.stencil.apply2c`, :mod:`.cgstencil`)."""
    n0 = u.shape[0]
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    return _arow2c(u, out, i, im, ip, cim, cip, w1, d)


@nb.njit(cache=True)
def apply_plane3c(u, out, i, w0, w1, w2, d):
    """``out = A u`` on plane ``i`` of a 3-D grid (constant k, zero beyond the boundary); returns the plane's
    ``dot(u, out)`` (:func:`solvers._kernels.numba.stencil.apply3c`, :mod:`.cgstencil`)."""
    n0, n1 = u.shape[0], u.shape[1]
    cim = w0 if i > 0 else 0.0
    cip = w0 if i < n0 - 1 else 0.0
    im = i - 1 if i > 0 else 0
    ip = i + 1 if i < n0 - 1 else n0 - 1
    s = 0.0
    for j in range(n1):
        cjm = w1 if j > 0 else 0.0
        cjp = w1 if j < n1 - 1 else 0.0
        jm = j - 1 if j > 0 else 0
        jp = j + 1 if j < n1 - 1 else n1 - 1
        s += _arow3c(u, out, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d)
    return s
