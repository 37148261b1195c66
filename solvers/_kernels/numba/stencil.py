"""Matrix-free 5-/7-point stencil kernels (Numba, parallel over the outer grid axis).

Grid conventions (shared with :mod:`solvers.operators.stencil`): ``u`` has the
interior shape ``(n0, n1[, n2])`` in C order; Dirichlet values are eliminated,
so neighbours outside the box count as zero.

* constant coefficient ("c" kernels): ``w0, w1[, w2]`` are the scalar face
  weights ``k / h_a**2`` and ``d`` the scalar diagonal ``2 * sum(w)``; no
  coefficient array is read.
* variable coefficient ("v" kernels): ``f0`` has shape ``(n0 + 1, n1[, n2])``
  (face ``i`` sits between nodes ``i - 1`` and ``i``), likewise ``f1``/``f2``
  along their axis; ``d`` is the diagonal array (face sums plus any shift).

``(A u)[p] = d[p] u[p] - sum_faces w_face u[neighbour]``.

Every apply kernel writes ``out = A u`` and returns ``dot(u, A u)`` computed in
the same pass (used by fused CG). Residual kernels write ``r = f - A u`` and
return ``dot(r, r)``.
"""
import numba as nb
import numpy as np

# ----------------------------------------------------------------------------- vectorisable row helpers
# The inner (last-axis) loops below carry no branches: the two end points of a row are peeled, so LLVM
# vectorises the interior (AVX2/AVX-512). Red-black updates compute the candidate value for *every*
# point of the row into a row buffer ``tmp`` (a contiguous, vectorised loop that reads only the row's
# old values), then write back the points of one colour with a stride-2 loop. That does twice the
# arithmetic of a strided update but runs ~2.5x faster than the scalar strided loop, and it is exact:
# a point of colour c only reads neighbours of colour 1 - c, which this half sweep does not change.
# Dot products inside apply/residual use ``_FM`` (reassociation only, no finite-math assumptions) so
# the reductions vectorise too.

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True, fastmath=_FM)
def _rrow3c(uc, fc, rc, um, up, vm, vp, cim, cip, cjm, cjp, w2, d):
    """``rc = f - A u`` on one 3-D row (constant k); returns ``dot(rc, rc)``."""
    n = uc.shape[0]
    if n == 1:
        v = fc[0] - (d * uc[0] - cim * um[0] - cip * up[0] - cjm * vm[0] - cjp * vp[0])
        rc[0] = v
        return v * v
    v = fc[0] - (d * uc[0] - cim * um[0] - cip * up[0] - cjm * vm[0] - cjp * vp[0] - w2 * uc[1])
    rc[0] = v
    s = v * v
    for k in range(1, n - 1):
        v = fc[k] - (d * uc[k] - cim * um[k] - cip * up[k] - cjm * vm[k] - cjp * vp[k]
                     - w2 * (uc[k - 1] + uc[k + 1]))
        rc[k] = v
        s += v * v
    m = n - 1
    v = fc[m] - (d * uc[m] - cim * um[m] - cip * up[m] - cjm * vm[m] - cjp * vp[m] - w2 * uc[m - 1])
    rc[m] = v
    return s + v * v


@nb.njit(cache=True)
def _gsrow3c(uc, fc, um, up, vm, vp, cim, cip, cjm, cjp, w2, dinv, k0, tmp):
    """Gauss-Seidel update of the points ``k0, k0 + 2, ...`` of one 3-D row (constant k)."""
    n = uc.shape[0]
    if n == 1:
        if k0 == 0:
            uc[0] = (fc[0] + cim * um[0] + cip * up[0] + cjm * vm[0] + cjp * vp[0]) * dinv
        return
    tmp[0] = fc[0] + cim * um[0] + cip * up[0] + cjm * vm[0] + cjp * vp[0] + w2 * uc[1]
    for k in range(1, n - 1):
        tmp[k] = fc[k] + cim * um[k] + cip * up[k] + cjm * vm[k] + cjp * vp[k] + w2 * (uc[k - 1] + uc[k + 1])
    m = n - 1
    tmp[m] = fc[m] + cim * um[m] + cip * up[m] + cjm * vm[m] + cjp * vp[m] + w2 * uc[m - 1]
    for k in range(k0, n, 2):
        uc[k] = tmp[k] * dinv


@nb.njit(cache=True)
def _gsrow3v(uc, fc, um, up, vm, vp, mim, mip, mjm, mjp, a0, a1, b0, b1, kr, dr, k0, tmp):
    """Variable-k twin of :func:`_gsrow3c`: ``a0/a1`` axis-0 face rows (low/high), ``b0/b1`` axis-1,
    ``kr`` the axis-2 faces of the row (length n + 1), ``dr`` the diagonal row."""
    n = uc.shape[0]
    if n == 1:
        if k0 == 0:
            uc[0] = (fc[0] + mim * a0[0] * um[0] + mip * a1[0] * up[0] + mjm * b0[0] * vm[0]
                     + mjp * b1[0] * vp[0]) / dr[0]
        return
    tmp[0] = (fc[0] + mim * a0[0] * um[0] + mip * a1[0] * up[0] + mjm * b0[0] * vm[0] + mjp * b1[0] * vp[0]
              + kr[1] * uc[1])
    for k in range(1, n - 1):
        tmp[k] = (fc[k] + mim * a0[k] * um[k] + mip * a1[k] * up[k] + mjm * b0[k] * vm[k] + mjp * b1[k] * vp[k]
                  + kr[k] * uc[k - 1] + kr[k + 1] * uc[k + 1])
    m = n - 1
    tmp[m] = (fc[m] + mim * a0[m] * um[m] + mip * a1[m] * up[m] + mjm * b0[m] * vm[m] + mjp * b1[m] * vp[m]
              + kr[m] * uc[m - 1])
    for k in range(k0, n, 2):
        uc[k] = tmp[k] / dr[k]


@nb.njit(cache=True)
def _gsrow2c(uc, fc, um, up, cim, cip, w1, dinv, k0, tmp):
    """Gauss-Seidel update of the points ``k0, k0 + 2, ...`` of one 2-D row (constant k)."""
    n = uc.shape[0]
    if n == 1:
        if k0 == 0:
            uc[0] = (fc[0] + cim * um[0] + cip * up[0]) * dinv
        return
    tmp[0] = fc[0] + cim * um[0] + cip * up[0] + w1 * uc[1]
    for k in range(1, n - 1):
        tmp[k] = fc[k] + cim * um[k] + cip * up[k] + w1 * (uc[k - 1] + uc[k + 1])
    m = n - 1
    tmp[m] = fc[m] + cim * um[m] + cip * up[m] + w1 * uc[m - 1]
    for k in range(k0, n, 2):
        uc[k] = tmp[k] * dinv


@nb.njit(cache=True)
def _gsrow2v(uc, fc, um, up, mim, mip, a0, a1, kr, dr, k0, tmp):
    n = uc.shape[0]
    if n == 1:
        if k0 == 0:
            uc[0] = (fc[0] + mim * a0[0] * um[0] + mip * a1[0] * up[0]) / dr[0]
        return
    tmp[0] = fc[0] + mim * a0[0] * um[0] + mip * a1[0] * up[0] + kr[1] * uc[1]
    for k in range(1, n - 1):
        tmp[k] = fc[k] + mim * a0[k] * um[k] + mip * a1[k] * up[k] + kr[k] * uc[k - 1] + kr[k + 1] * uc[k + 1]
    m = n - 1
    tmp[m] = fc[m] + mim * a0[m] * um[m] + mip * a1[m] * up[m] + kr[m] * uc[m - 1]
    for k in range(k0, n, 2):
        uc[k] = tmp[k] / dr[k]


@nb.njit(cache=True)
def _zerorow(uc, fc, dinv, k0):
    """A half sweep from ``u = 0`` on one row: ``u = f * dinv`` on ``k0, k0 + 2, ...``, 0 elsewhere."""
    for k in range(uc.shape[0]):
        uc[k] = 0.0
    for k in range(k0, uc.shape[0], 2):
        uc[k] = fc[k] * dinv


@nb.njit(cache=True)
def _zerorowv(uc, fc, dr, k0):
    for k in range(uc.shape[0]):
        uc[k] = 0.0
    for k in range(k0, uc.shape[0], 2):
        uc[k] = fc[k] / dr[k]


@nb.njit(cache=True, fastmath=_FM)
def _arow2c(uc, oc, um, up, cim, cip, w1, d):
    """``oc = A u`` on one 2-D row (constant k); returns ``dot(uc, oc)``."""
    n = uc.shape[0]
    if n == 1:
        v = d * uc[0] - cim * um[0] - cip * up[0]
        oc[0] = v
        return v * uc[0]
    v = d * uc[0] - cim * um[0] - cip * up[0] - w1 * uc[1]
    oc[0] = v
    s = v * uc[0]
    for k in range(1, n - 1):
        v = d * uc[k] - cim * um[k] - cip * up[k] - w1 * (uc[k - 1] + uc[k + 1])
        oc[k] = v
        s += v * uc[k]
    m = n - 1
    v = d * uc[m] - cim * um[m] - cip * up[m] - w1 * uc[m - 1]
    oc[m] = v
    return s + v * uc[m]


@nb.njit(cache=True, fastmath=_FM)
def _rrow2c(uc, fc, rc, um, up, cim, cip, w1, d):
    """``rc = f - A u`` on one 2-D row (constant k); returns ``dot(rc, rc)``."""
    n = uc.shape[0]
    if n == 1:
        v = fc[0] - (d * uc[0] - cim * um[0] - cip * up[0])
        rc[0] = v
        return v * v
    v = fc[0] - (d * uc[0] - cim * um[0] - cip * up[0] - w1 * uc[1])
    rc[0] = v
    s = v * v
    for k in range(1, n - 1):
        v = fc[k] - (d * uc[k] - cim * um[k] - cip * up[k] - w1 * (uc[k - 1] + uc[k + 1]))
        rc[k] = v
        s += v * v
    m = n - 1
    v = fc[m] - (d * uc[m] - cim * um[m] - cip * up[m] - w1 * uc[m - 1])
    rc[m] = v
    return s + v * v

# ----------------------------------------------------------------------------- 2-D


@nb.njit(parallel=True, cache=True)
def apply2c(u, out, w0, w1, d):
    n0 = u.shape[0]
    acc = 0.0
    for i in nb.prange(n0):
        cim = w0 if i > 0 else 0.0
        cip = w0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        acc += _arow2c(u[i], out[i], u[im], u[ip], cim, cip, w1, d)
    return acc


@nb.njit(parallel=True, cache=True)
def residual2c(u, f, r, w0, w1, d):
    n0 = u.shape[0]
    acc = 0.0
    for i in nb.prange(n0):
        cim = w0 if i > 0 else 0.0
        cip = w0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        acc += _rrow2c(u[i], f[i], r[i], u[im], u[ip], cim, cip, w1, d)
    return acc


@nb.njit(parallel=True, cache=True)
def rbgs2c(u, f, w0, w1, d, color):
    """One red-black Gauss-Seidel half sweep: update points with (i + j) % 2 == color."""
    n0, n1 = u.shape
    dinv = 1.0 / d
    for i in nb.prange(n0):
        cim = w0 if i > 0 else 0.0
        cip = w0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        for j in range((i + color) & 1, n1, 2):
            ujm = u[i, j - 1] if j > 0 else 0.0
            ujp = u[i, j + 1] if j < n1 - 1 else 0.0
            u[i, j] = (f[i, j] + cim * u[im, j] + cip * u[ip, j] + w1 * (ujm + ujp)) * dinv


@nb.njit(parallel=True, cache=True)
def apply2v(u, out, f0, f1, d):
    n0, n1 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        s = 0.0
        for j in range(n1):
            ujm = f1[i, j] * u[i, j - 1] if j > 0 else 0.0
            ujp = f1[i, j + 1] * u[i, j + 1] if j < n1 - 1 else 0.0
            v = (d[i, j] * u[i, j] - mim * f0[i, j] * u[im, j] - mip * f0[i + 1, j] * u[ip, j]
                 - ujm - ujp)
            out[i, j] = v
            s += v * u[i, j]
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def residual2v(u, f, r, f0, f1, d):
    n0, n1 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        s = 0.0
        for j in range(n1):
            ujm = f1[i, j] * u[i, j - 1] if j > 0 else 0.0
            ujp = f1[i, j + 1] * u[i, j + 1] if j < n1 - 1 else 0.0
            v = f[i, j] - (d[i, j] * u[i, j] - mim * f0[i, j] * u[im, j] - mip * f0[i + 1, j] * u[ip, j]
                           - ujm - ujp)
            r[i, j] = v
            s += v * v
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def rbgs2v(u, f, f0, f1, d, color):
    n0, n1 = u.shape
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        for j in range((i + color) & 1, n1, 2):
            ujm = f1[i, j] * u[i, j - 1] if j > 0 else 0.0
            ujp = f1[i, j + 1] * u[i, j + 1] if j < n1 - 1 else 0.0
            u[i, j] = (f[i, j] + mim * f0[i, j] * u[im, j] + mip * f0[i + 1, j] * u[ip, j]
                       + ujm + ujp) / d[i, j]


# ----------------------------------------------------------------------------- 3-D


@nb.njit(parallel=True, cache=True)
def apply3c(u, out, w0, w1, w2, d):
    # scalar inner loop on purpose: at 3-D sizes this is bandwidth-bound and the branchy loop measured
    # ~10 % faster than a peeled, vectorised row helper like _rrow3c
    n0, n1, n2 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
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
            for k in range(n2):
                ukm = u[i, j, k - 1] if k > 0 else 0.0
                ukp = u[i, j, k + 1] if k < n2 - 1 else 0.0
                uc = u[i, j, k]
                v = (d * uc - cim * u[im, j, k] - cip * u[ip, j, k] - cjm * u[i, jm, k]
                     - cjp * u[i, jp, k] - w2 * (ukm + ukp))
                out[i, j, k] = v
                s += v * uc
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def residual3c(u, f, r, w0, w1, w2, d):
    n0, n1, n2 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
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
            s += _rrow3c(u[i, j], f[i, j], r[i, j], u[im, j], u[ip, j], u[i, jm], u[i, jp],
                         cim, cip, cjm, cjp, w2, d)
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def rbgs3c(u, f, w0, w1, w2, d, color):
    """Red-black Gauss-Seidel half sweep on points with (i + j + k) % 2 == color."""
    n0, n1, n2 = u.shape
    dinv = 1.0 / d
    for i in nb.prange(n0):
        cim = w0 if i > 0 else 0.0
        cip = w0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        for j in range(n1):
            cjm = w1 if j > 0 else 0.0
            cjp = w1 if j < n1 - 1 else 0.0
            jm = j - 1 if j > 0 else 0
            jp = j + 1 if j < n1 - 1 else n1 - 1
            for k in range((i + j + color) & 1, n2, 2):
                ukm = u[i, j, k - 1] if k > 0 else 0.0
                ukp = u[i, j, k + 1] if k < n2 - 1 else 0.0
                u[i, j, k] = (f[i, j, k] + cim * u[im, j, k] + cip * u[ip, j, k] + cjm * u[i, jm, k]
                              + cjp * u[i, jp, k] + w2 * (ukm + ukp)) * dinv


@nb.njit(parallel=True, cache=True)
def apply3v(u, out, f0, f1, f2, d):
    n0, n1, n2 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        s = 0.0
        for j in range(n1):
            mjm = 1.0 if j > 0 else 0.0
            mjp = 1.0 if j < n1 - 1 else 0.0
            jm = j - 1 if j > 0 else 0
            jp = j + 1 if j < n1 - 1 else n1 - 1
            for k in range(n2):
                ukm = f2[i, j, k] * u[i, j, k - 1] if k > 0 else 0.0
                ukp = f2[i, j, k + 1] * u[i, j, k + 1] if k < n2 - 1 else 0.0
                uc = u[i, j, k]
                v = (d[i, j, k] * uc - mim * f0[i, j, k] * u[im, j, k] - mip * f0[i + 1, j, k] * u[ip, j, k]
                     - mjm * f1[i, j, k] * u[i, jm, k] - mjp * f1[i, j + 1, k] * u[i, jp, k] - ukm - ukp)
                out[i, j, k] = v
                s += v * uc
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def residual3v(u, f, r, f0, f1, f2, d):
    n0, n1, n2 = u.shape
    acc = 0.0
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        s = 0.0
        for j in range(n1):
            mjm = 1.0 if j > 0 else 0.0
            mjp = 1.0 if j < n1 - 1 else 0.0
            jm = j - 1 if j > 0 else 0
            jp = j + 1 if j < n1 - 1 else n1 - 1
            for k in range(n2):
                ukm = f2[i, j, k] * u[i, j, k - 1] if k > 0 else 0.0
                ukp = f2[i, j, k + 1] * u[i, j, k + 1] if k < n2 - 1 else 0.0
                v = f[i, j, k] - (d[i, j, k] * u[i, j, k] - mim * f0[i, j, k] * u[im, j, k]
                                  - mip * f0[i + 1, j, k] * u[ip, j, k] - mjm * f1[i, j, k] * u[i, jm, k]
                                  - mjp * f1[i, j + 1, k] * u[i, jp, k] - ukm - ukp)
                r[i, j, k] = v
                s += v * v
        acc += s
    return acc


@nb.njit(parallel=True, cache=True)
def rbgs3v(u, f, f0, f1, f2, d, color):
    n0, n1, n2 = u.shape
    for i in nb.prange(n0):
        mim = 1.0 if i > 0 else 0.0
        mip = 1.0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        for j in range(n1):
            mjm = 1.0 if j > 0 else 0.0
            mjp = 1.0 if j < n1 - 1 else 0.0
            jm = j - 1 if j > 0 else 0
            jp = j + 1 if j < n1 - 1 else n1 - 1
            for k in range((i + j + color) & 1, n2, 2):
                ukm = f2[i, j, k] * u[i, j, k - 1] if k > 0 else 0.0
                ukp = f2[i, j, k + 1] * u[i, j, k + 1] if k < n2 - 1 else 0.0
                u[i, j, k] = (f[i, j, k] + mim * f0[i, j, k] * u[im, j, k] + mip * f0[i + 1, j, k] * u[ip, j, k]
                              + mjm * f1[i, j, k] * u[i, jm, k] + mjp * f1[i, j + 1, k] * u[i, jp, k]
                              + ukm + ukp) / d[i, j, k]


# ----------------------------------------------------------------------------- first red sweep from u = 0


@nb.njit(parallel=True, cache=True)
def rb_first2(u, f, dinv, color):
    """``u = f / d`` on points of ``color``, 0 elsewhere (a red sweep from a zero guess).

    ``dinv`` is a 2-D array, or a 1x1 array holding the constant ``1 / d``.
    """
    n0, n1 = u.shape
    const = dinv.shape[0] == 1 and dinv.shape[1] == 1 and (n0 > 1 or n1 > 1)
    for i in nb.prange(n0):
        for j in range(n1):
            if ((i + j) & 1) == color:
                u[i, j] = f[i, j] * (dinv[0, 0] if const else dinv[i, j])
            else:
                u[i, j] = 0.0


@nb.njit(parallel=True, cache=True)
def rb_first3(u, f, dinv, color):
    n0, n1, n2 = u.shape
    const = dinv.shape[0] == 1 and dinv.shape[1] == 1 and dinv.shape[2] == 1 and (n0 * n1 * n2 > 1)
    for i in nb.prange(n0):
        for j in range(n1):
            for k in range(n2):
                if ((i + j + k) & 1) == color:
                    u[i, j, k] = f[i, j, k] * (dinv[0, 0, 0] if const else dinv[i, j, k])
                else:
                    u[i, j, k] = 0.0


# ----------------------------------------------------------------------------- fused red+black sweeps
# One pass over the grid performs the half sweep of colour c1 and then that of c2 = 1 - c1, exactly as
# two separate sweeps would: the axis-0 planes are split into chunks; inside a chunk the c2 update of
# plane i - 1 follows the c1 update of plane i (phase 1); the first and last planes of every chunk,
# whose c2 update needs c1 values of a neighbouring chunk, are done after all chunks finished (phase 2).
# With zero=True the c1 sweep starts from u = 0 (u = f / d on c1 points, 0 on c2 points).


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
        _gsrow3c(u[i, j], f[i, j], u[im, j], u[ip, j], u[i, jm], u[i, jp], cim, cip, cjm, cjp, w2, dinv,
                 (i + j + color) & 1, tmp)


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
        _gsrow3v(u[i, j], f[i, j], u[im, j], u[ip, j], u[i, jm], u[i, jp], mim, mip, mjm, mjp,
                 f0[i, j], f0[i + 1, j], f1[i, j], f1[i, j + 1], f2[i, j], d[i, j], (i + j + color) & 1, tmp)


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
    _gsrow2c(u[i], f[i], u[im], u[ip], cim, cip, w1, dinv, (i + color) & 1, tmp)


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
    _gsrow2v(u[i], f[i], u[im], u[ip], mim, mip, f0[i], f0[i + 1], f1[i], d[i], (i + color) & 1, tmp)


@nb.njit(parallel=True, cache=True)
def sweep3c(u, f, w0, w1, w2, d, c1, zero, nchunks):
    n0 = u.shape[0]
    nl = u.shape[u.ndim - 1]
    c2 = 1 - c1
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        for i in range(s, e):
            _plane3c(u, f, i, w0, w1, w2, d, c1, zero, tmp)
            if i - 1 > s:
                _plane3c(u, f, i - 1, w0, w1, w2, d, c2, False, tmp)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if e > s:
            _plane3c(u, f, s, w0, w1, w2, d, c2, False, tmp)
        if e - 1 > s:
            _plane3c(u, f, e - 1, w0, w1, w2, d, c2, False, tmp)


@nb.njit(parallel=True, cache=True)
def sweep3v(u, f, f0, f1, f2, d, c1, zero, nchunks):
    n0 = u.shape[0]
    nl = u.shape[u.ndim - 1]
    c2 = 1 - c1
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        for i in range(s, e):
            _plane3v(u, f, i, f0, f1, f2, d, c1, zero, tmp)
            if i - 1 > s:
                _plane3v(u, f, i - 1, f0, f1, f2, d, c2, False, tmp)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if e > s:
            _plane3v(u, f, s, f0, f1, f2, d, c2, False, tmp)
        if e - 1 > s:
            _plane3v(u, f, e - 1, f0, f1, f2, d, c2, False, tmp)


@nb.njit(parallel=True, cache=True)
def sweep2c(u, f, w0, w1, d, c1, zero, nchunks):
    n0 = u.shape[0]
    nl = u.shape[u.ndim - 1]
    c2 = 1 - c1
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        for i in range(s, e):
            _row2c(u, f, i, w0, w1, d, c1, zero, tmp)
            if i - 1 > s:
                _row2c(u, f, i - 1, w0, w1, d, c2, False, tmp)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if e > s:
            _row2c(u, f, s, w0, w1, d, c2, False, tmp)
        if e - 1 > s:
            _row2c(u, f, e - 1, w0, w1, d, c2, False, tmp)


@nb.njit(parallel=True, cache=True)
def sweep2v(u, f, f0, f1, d, c1, zero, nchunks):
    n0 = u.shape[0]
    nl = u.shape[u.ndim - 1]
    c2 = 1 - c1
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        for i in range(s, e):
            _row2v(u, f, i, f0, f1, d, c1, zero, tmp)
            if i - 1 > s:
                _row2v(u, f, i - 1, f0, f1, d, c2, False, tmp)
    for t in nb.prange(nchunks):
        tmp = np.empty(nl)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if e > s:
            _row2v(u, f, s, f0, f1, d, c2, False, tmp)
        if e - 1 > s:
            _row2v(u, f, e - 1, f0, f1, d, c2, False, tmp)


@nb.njit(cache=True)
def _warm():  # pragma: no cover
    return np.zeros(1)
