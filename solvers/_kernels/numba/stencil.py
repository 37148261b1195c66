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

# the row and plane building blocks live in ._stencil_rows (shared with rbwave, multigrid and mgfused)
from ._stencil_rows import _arow3v, apply_line2c, apply_plane3c, _plane3c, _plane3v, _row2c, _row2v, _rrow2c, _rrow3c

# ----------------------------------------------------------------------------- 2-D


@nb.njit(parallel=True, cache=True)
def apply2c(u, out, w0, w1, d):
    acc = 0.0
    for i in nb.prange(u.shape[0]):
        acc += apply_line2c(u, out, i, w0, w1, d)
    return acc


@nb.njit(parallel=True, cache=True)
def residual2c(u, f, r, w0, w1, d, store=True):
    n0 = u.shape[0]
    acc = 0.0
    for i in nb.prange(n0):
        cim = w0 if i > 0 else 0.0
        cip = w0 if i < n0 - 1 else 0.0
        im = i - 1 if i > 0 else 0
        ip = i + 1 if i < n0 - 1 else n0 - 1
        acc += _rrow2c(u, f, r, i, im, ip, cim, cip, w1, d, store)
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
    # peeled, vectorised rows (_arow3c, unsigned k); the earlier scalar branchy loop ran at 37 % of a
    # parallel Numba triad at 128^3 because the peeled signed-index row vectorised into gathers
    acc = 0.0
    for i in nb.prange(u.shape[0]):
        acc += apply_plane3c(u, out, i, w0, w1, w2, d)
    return acc


@nb.njit(parallel=True, cache=True)
def residual3c(u, f, r, w0, w1, w2, d, store=True):
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
            s += _rrow3c(u, f, r, i, j, im, ip, jm, jp, cim, cip, cjm, cjp, w2, d, store)
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
            s += _arow3v(u, out, i, j, im, ip, jm, jp, mim, mip, mjm, mjp, f0, f1, f2, d)
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


# ----------------------------------------------------------------------------- the shared kernel-set interface
# The names every backend's ``stencil`` module shares (see :mod:`solvers._kernels.numpy.stencil` for the
# meaning of ``op``): each picks the 2-D/3-D, constant/variable kernel above.
_TABLE = {(pre, d, c): globals()[f"{pre}{d}{'c' if c else 'v'}"]
          for pre in ("apply", "residual", "rbgs", "sweep") for d in (2, 3) for c in (True, False)}


def _pick(prefix, op):
    return _TABLE[prefix, op.ndim_grid, op.const]


def apply(op, u, out):
    """``out = A u``; returns ``out``."""
    _pick("apply", op)(u, out, *op._coef())
    return out


def apply_dot(op, u, out):
    """``out = A u``; return ``u . A u`` (same pass)."""
    return float(_pick("apply", op)(u, out, *op._coef()))


def residual(op, u, f, r):
    """``r = f - A u``; return ``r . r`` (same pass)."""
    return float(_pick("residual", op)(u, f, r, *op._coef()))


def residual_sq(op, u, f, work):
    """``||f - A u||^2`` without keeping the residual (constant coefficients: one read pass, ``work`` untouched;
    variable ones: the residual written into ``work``)."""
    if op.const:
        return float(_pick("residual", op)(u, f, u, *op._coef(), False))     # (u: never written)
    return residual(op, u, f, work)


def rbgs(op, u, f, color):
    """One red-black Gauss-Seidel half sweep on the points of parity ``color``."""
    _pick("rbgs", op)(u, f, *op._coef(), int(color))


def rb_first(op, u, f, color):
    """Half sweep from a zero guess: ``u = f / d`` on ``color`` points, 0 on the others."""
    (rb_first2 if op.ndim_grid == 2 else rb_first3)(u, f, op._dinv_arr, int(color))


def sweep_pair(op, u, f, first, zero):
    """Half sweeps of colours ``first`` and ``1 - first`` in one fused pass (from ``u = 0`` when ``zero``);
    the chunk count follows the calling thread's Numba thread count."""
    nchunks = max(1, min(nb.get_num_threads(), op.grid_shape[0] // 4))
    _pick("sweep", op)(u, f, *op._coef(), int(first), bool(zero), nchunks)


def sweeps(op, u, f, first, count, zero):
    """``count`` half sweeps of alternating colours from ``first`` (the first from ``u = 0`` when ``zero``)
    in one wavefront pass over the grid (:mod:`solvers._kernels.numba.rbwave`)."""
    from . import rbwave

    rbwave.run(op, u, f, first, count, zero)


from .cgstencil import direction_dot  # noqa: E402,F401  (CG's fused direction pass: StencilOperator.fused_direction)
