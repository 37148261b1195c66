"""Grid-transfer kernels for geometric multigrid (Numba, parallel over the outer axis).

Transfers are tensor products of 1-D operators given as padded index/weight
tables (built by :mod:`solvers.linear.multigrid`):

* prolongation, per fine index ``i`` along an axis: coarse indices
  ``pi[i, 0:2]`` and weights ``pw[i, 0:2]`` (a zero weight pads);
* restriction, per coarse index ``I``: fine indices ``ri[I, 0:m]`` and weights
  ``rw[I, 0:m]`` (the scaling ``c`` of ``R = c P^T`` is folded into ``rw``).

Fusions (each saves whole-grid memory passes; all are exact re-orderings of the same sums):

* ``residual_restrict2c/3c``: ``out = R (f - A u)`` without storing the fine residual. Each
  thread owns a range of coarse planes ``I`` and walks it in order; the residual of the fine
  axis-0 planes (rows in 2-D) is computed once, in order, into a small ring buffer holding the
  window of fine planes one coarse plane needs (planes shared with a neighbouring range are
  computed by both threads), and restricted from there (axis 0, then 1, then the last axis).
  This replaces a residual pass writing the fine grid plus a restriction pass reading it back.
* ``prolong_add2/3``: the last-axis interpolation runs once per coarse row into ``buf``, then one
  contiguous pass adds the tensor-product interpolation to the fine grid. The multigrid cycle itself
  calls :func:`prolong_sweeps`, which does the same interpolation as the first stage of the
  post-smoothing wavefront (:mod:`solvers._kernels.numba.rbwave`).
* The restriction along the last axis reads the fine points ``2 J + b`` directly when the table says
  so (:func:`_affine`; true for the grids built here, nested or not), with its weights per tap in a
  contiguous row (:func:`_last_weights`), which vectorises, instead of gathering through the index table;
  the plain restriction (the FMG start's) combines the fine rows (planes) of a coarse one in one pass
  (:func:`_combine`) before it.
* Levels below ``SERIAL_BELOW`` points call serial twins of the kernels (same code, compiled without
  ``parallel``): starting the parallel regions costs more than the work on small grids.

Galerkin (black-box) levels use the CSR kernels of :mod:`.mgcsr`: ``_csr_mv`` (transfers ``P``, ``P^T`` and level
products), ``_csr_res`` (residual and its norm in one pass) and ``_mcgs``, multicolour Gauss-Seidel
over the parity colours with the level's rows stored in colour order, so every colour is one
parallel loop over a contiguous block of the matrix.
"""
import numba as nb
import numpy as np

from ... import _workspace
from .rbwave import twin as _twin
from ._stencil_rows import residual_plane3c, residual_row2c
from .mginterp import interpolate2, interpolate3
from .mgcsr import _csr_mv, _flat, csr_level, csr_matvec, csr_residual, csr_smooth, csr_transfer  # noqa: F401

_FM = {"reassoc", "contract", "nsz"}


@nb.njit(cache=True)
def _affine(ri, rw, n):
    """Whether the restriction table reads fine points ``2 J + b`` (every nonzero weight; the grids of
    this module, nested or not) and stays inside ``n`` points: then :func:`_last2` / :func:`_last3` index
    directly instead of through the table (contiguous stride-2 loads the compiler vectorises)."""
    m = ri.shape[1]
    if ri.shape[0] == 0 or 2 * (ri.shape[0] - 1) + m > n:
        return False
    for J in range(ri.shape[0]):
        for b in range(m):
            if rw[J, b] != 0.0 and ri[J, b] != 2 * J + b:
                return False
    return True


@nb.njit(cache=True)
def _last_weights(ri, rw, n):
    """The last axis's restriction weights for :func:`_last2` / :func:`_last3`: ``lw[b, J] = rw[J, b]``
    (contiguous per tap ``b``) when the table is affine (:func:`_affine`) with 3 or 4 taps, else an array with
    no rows (then they gather through the table). Read per tap down the rows of ``rw``, the weights were
    stride-3/4 loads: the restriction of a 1024^2 grid took 0.32 ms, 0.24 ms with these (2 threads, Xeon)."""
    m = ri.shape[1]
    if (m != 3 and m != 4) or not _affine(ri, rw, n):
        return np.zeros((0, ri.shape[0]))
    lw = np.empty((m, ri.shape[0]))
    for b in range(m):
        for J in range(ri.shape[0]):
            lw[b, J] = rw[J, b]
    return lw


@nb.njit(cache=True, fastmath=_FM, inline="always")
def _last_row(buf, o, ri, rw, lw):
    """``o[J] = sum_b rw[J, b] buf[ri[J, b]]``: one row restricted along the last axis (``lw`` from
    :func:`_last_weights`)."""
    nc = o.shape[0]
    if lw.shape[0] == 3:
        w0, w1, w2 = lw[0], lw[1], lw[2]
        for J in range(nc):
            o[J] = w0[J] * buf[2 * J] + w1[J] * buf[2 * J + 1] + w2[J] * buf[2 * J + 2]
    elif lw.shape[0] == 4:
        w0, w1, w2, w3 = lw[0], lw[1], lw[2], lw[3]
        for J in range(nc):
            o[J] = w0[J] * buf[2 * J] + w1[J] * buf[2 * J + 1] + w2[J] * buf[2 * J + 2] + w3[J] * buf[2 * J + 3]
    else:
        m = ri.shape[1]
        for J in range(nc):
            acc = 0.0
            for b in range(m):
                acc += rw[J, b] * buf[ri[J, b]]
            o[J] = acc


@nb.njit(cache=True, fastmath=_FM)
def _last2(buf, out, I, ri, rw, lw):
    """``out[I, J] = sum_b rw[J, b] buf[ri[J, b]]``: the restriction along the last axis (2-D)."""
    _last_row(buf, out[I], ri, rw, lw)


@nb.njit(cache=True, fastmath=_FM)
def _last3(row, out, I, J, ri, rw, lw):
    """3-D twin of :func:`_last2`: ``out[I, J, K]`` from the row buffer ``row``."""
    _last_row(row, out[I, J], ri, rw, lw)


@nb.njit(parallel=True, cache=True)
def restrict2(r, out, ri0, rw0, ri1, rw1):
    """``out = R r``: combine the fine rows of each coarse row in one pass (:func:`_combine`), then restrict
    along the last axis (1024^2 -> 511^2: 0.38 ms tap by tap with the weights read down the table's rows,
    0.24 ms so; bandwidth-bound at about 0.2 ms; 2 threads, Xeon)."""
    m0 = ri0.shape[1]
    n1 = r.shape[1]
    lw = _last_weights(ri1, rw1, n1)
    for I in nb.prange(out.shape[0]):
        buf = np.empty(n1)
        _combine(r, ri0[I], rw0[I], m0, buf)
        _last2(buf, out, I, ri1, rw1, lw)


@nb.njit(parallel=True, cache=True)
def restrict3(r, out, ri0, rw0, ri1, rw1, ri2, rw2):
    """3-D twin of :func:`restrict2`: per coarse plane, the fine planes combined in one pass, then per coarse
    row the plane's rows, then the last axis."""
    m0, m1 = ri0.shape[1], ri1.shape[1]
    n1, n2 = r.shape[1], r.shape[2]
    lw = _last_weights(ri2, rw2, n2)
    rf = r.reshape((r.shape[0], n1 * n2))
    for I in nb.prange(out.shape[0]):
        pl = np.empty((n1, n2))
        row = np.empty(n2)
        _combine(rf, ri0[I], rw0[I], m0, pl.reshape(n1 * n2))
        for J in range(out.shape[1]):
            _combine(pl, ri1[J], rw1[J], m1, row)
            _last3(row, out, I, J, ri2, rw2, lw)


@nb.njit(cache=True)
def _window(ri0):
    """Widest span of fine axis-0 indices feeding one coarse index (rows of ``ri0`` are ascending)."""
    W = 1
    for I in range(ri0.shape[0]):
        hi = ri0[I, 0]
        for a in range(ri0.shape[1]):
            hi = max(hi, ri0[I, a])
        W = max(W, hi - ri0[I, 0] + 1)
    return W


@nb.njit(cache=True, inline="always")
def _restrict_buffers(W, n1, n2, m0):
    """The work buffers of a plane-wise restriction (one set per thread): the ring of ``W`` residual planes
    (and its flat view), a plane (and its flat view), a row and the coarse-plane slots."""
    ring = np.empty((W, n1, n2))
    pl = np.empty((n1, n2))
    return ring, ring.reshape((W, n1 * n2)), pl, pl.reshape(n1 * n2), np.empty(n2), np.empty(m0, dtype=np.int64)


@nb.njit(cache=True, fastmath=_FM)
def _combine(src, idx, wts, m, dst):
    """``dst = sum_a wts[a] src[idx[a]]`` over the rows (1-D views or flattened planes) of ``src``: one pass
    for up to four terms (the restriction tables have 1, 3 or 4), skipping zero weights as the
    term-by-term loop does."""
    n = dst.shape[0]
    a0 = a1 = a2 = a3 = idx[0]
    c0 = c1 = c2 = c3 = 0.0
    q = 0
    for a in range(m):
        w = wts[a]
        if w == 0.0:
            continue
        if q == 0:
            a0, c0 = idx[a], w
        elif q == 1:
            a1, c1 = idx[a], w
        elif q == 2:
            a2, c2 = idx[a], w
        elif q == 3:
            a3, c3 = idx[a], w
        q += 1
    if q > 4:                                  # wider tables: term by term
        for k in range(n):
            dst[k] = 0.0
        for a in range(m):
            w = wts[a]
            if w != 0.0:
                r = src[idx[a]]
                for k in range(n):
                    dst[k] += w * r[k]
        return
    r0, r1, r2, r3 = src[a0], src[a1], src[a2], src[a3]
    if q == 4:
        for k in range(n):
            dst[k] = c0 * r0[k] + c1 * r1[k] + c2 * r2[k] + c3 * r3[k]
    elif q == 3:
        for k in range(n):
            dst[k] = c0 * r0[k] + c1 * r1[k] + c2 * r2[k]
    elif q == 2:
        for k in range(n):
            dst[k] = c0 * r0[k] + c1 * r1[k]
    elif q == 1:
        for k in range(n):
            dst[k] = c0 * r0[k]
    else:
        for k in range(n):
            dst[k] = 0.0


@nb.njit(cache=True)
def _restrict_row2(ring, out, I, W, ri0, rw0, ri1, rw1, lw, buf, slots):
    """Coarse row ``I`` of ``R r`` from the residual rows in the ring (slot ``p % W`` holds row ``p``)."""
    m0 = ri0.shape[1]
    for a in range(m0):
        slots[a] = ri0[I, a] % W
    _combine(ring, slots, rw0[I], m0, buf)
    _last2(buf, out, I, ri1, rw1, lw)


def _residual_restrict2c(u, f, out, w0, w1, d, ri0, rw0, ri1, rw1, nchunks):
    """``out = R (f - A u)`` for the constant-coefficient 2-D stencil, fused (see the module notes)."""
    nc0 = out.shape[0]
    n1 = u.shape[1]
    m0 = ri0.shape[1]
    lw = _last_weights(ri1, rw1, n1)
    W = _window(ri0)
    for t in nb.prange(nchunks):
        Is, Ie = t * nc0 // nchunks, (t + 1) * nc0 // nchunks
        ring = np.empty((W, n1))
        buf = np.empty(n1)
        slots = np.empty(m0, dtype=np.int64)
        nxt = ri0[Is, 0] if Ie > Is else 0
        for I in range(Is, Ie):
            hi = ri0[I, 0]
            for a in range(m0):
                hi = max(hi, ri0[I, a])
            while nxt <= hi:                       # residual rows enter the ring in order
                residual_row2c(u, f, ring[nxt % W], nxt, w0, w1, d)
                nxt += 1
            _restrict_row2(ring, out, I, W, ri0, rw0, ri1, rw1, lw, buf, slots)


def _residual_restrict3c(u, f, out, w0, w1, w2, d, ri0, rw0, ri1, rw1, ri2, rw2, nchunks):
    """``out = R (f - A u)`` for the constant-coefficient 3-D stencil, fused (see the module notes)."""
    nc0, nc1, nc2 = out.shape
    n1, n2 = u.shape[1], u.shape[2]
    m0, m1 = ri0.shape[1], ri1.shape[1]
    lw = _last_weights(ri2, rw2, n2)
    W = _window(ri0)
    for t in nb.prange(nchunks):
        Is, Ie = t * nc0 // nchunks, (t + 1) * nc0 // nchunks
        ring, ringf, pl, plf, row, slots = _restrict_buffers(W, n1, n2, m0)
        nxt = ri0[Is, 0] if Ie > Is else 0
        for I in range(Is, Ie):
            hi = ri0[I, 0]
            for a in range(m0):
                hi = max(hi, ri0[I, a])
            while nxt <= hi:                       # residual planes enter the ring in order
                residual_plane3c(u, f, ring[nxt % W], nxt, w0, w1, w2, d)
                nxt += 1
            for a in range(m0):                    # axis 0: combine the fine planes (one pass)
                slots[a] = ri0[I, a] % W
            _combine(ringf, slots, rw0[I], m0, plf)
            for J in range(nc1):                   # axis 1, then the last axis
                _combine(pl, ri1[J], rw1[J], m1, row)
                _last3(row, out, I, J, ri2, rw2, lw)


# parallel kernels, and serial twins (the same code) for grids below SERIAL_BELOW points
residual_restrict2c = nb.njit(parallel=True, cache=True)(_residual_restrict2c)
residual_restrict3c = nb.njit(parallel=True, cache=True)(_residual_restrict3c)
residual_restrict2c_s = nb.njit(cache=True)(_twin(_residual_restrict2c))   # own cache entry (rbwave.twin)
residual_restrict3c_s = nb.njit(cache=True)(_twin(_residual_restrict3c))


@nb.njit(parallel=True, cache=True)
def prolong_add2(e, u, pi0, pw0, pi1, pw1, buf, add=True):
    """``u += P e`` (``u = P e`` when not ``add``), last axis first: ``buf = e P1^T`` (coarse rows, fine length), then a contiguous pass.

    ``buf`` has shape ``(e.shape[0], u.shape[1])``. Interpolating the coarse rows along the last axis
    first does the index-table gathers once per coarse row instead of once per fine row; the fine pass
    ``u[i] += x0 buf[a0] + x1 buf[a1]`` is then branch-free and vectorises.
    """
    n1 = u.shape[1]
    for I in nb.prange(e.shape[0]):
        for k in range(n1):
            buf[I, k] = pw1[k, 0] * e[I, pi1[k, 0]] + pw1[k, 1] * e[I, pi1[k, 1]]
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        if add:
            for k in range(n1):
                u[i, k] += x0 * buf[a0, k] + x1 * buf[a1, k]
        else:
            for k in range(n1):
                u[i, k] = x0 * buf[a0, k] + x1 * buf[a1, k]


@nb.njit(parallel=True, cache=True)
def prolong_add3(e, u, pi0, pw0, pi1, pw1, pi2, pw2, buf, add=True):
    """3-D twin of :func:`prolong_add2`; ``buf`` has shape ``(e.shape[0], e.shape[1], u.shape[2])``."""
    n2 = u.shape[2]
    nc1 = e.shape[1]
    for I in nb.prange(e.shape[0]):
        for J in range(nc1):
            for k in range(n2):
                buf[I, J, k] = pw2[k, 0] * e[I, J, pi2[k, 0]] + pw2[k, 1] * e[I, J, pi2[k, 1]]
    for i in nb.prange(u.shape[0]):
        a0, a1 = pi0[i, 0], pi0[i, 1]
        x0, x1 = pw0[i, 0], pw0[i, 1]
        for j in range(u.shape[1]):
            b0, b1 = pi1[j, 0], pi1[j, 1]
            c00, c01, c10, c11 = x0 * pw1[j, 0], x0 * pw1[j, 1], x1 * pw1[j, 0], x1 * pw1[j, 1]
            if add:
                for k in range(n2):
                    u[i, j, k] += (c00 * buf[a0, b0, k] + c01 * buf[a0, b1, k]
                                   + c10 * buf[a1, b0, k] + c11 * buf[a1, b1, k])
            else:
                for k in range(n2):
                    u[i, j, k] = (c00 * buf[a0, b0, k] + c01 * buf[a0, b1, k]
                                  + c10 * buf[a1, b0, k] + c11 * buf[a1, b1, k])


@nb.njit(cache=True)
def _warm():  # pragma: no cover
    return np.zeros(1)


# ----------------------------------------------------------------------------- the shared kernel-set interface
# The names every backend's ``multigrid`` module shares (see :mod:`solvers._kernels.numpy.multigrid`).
from . import stencil as _stencil  # noqa: E402
from . import krylov as _krylov  # noqa: E402
from . import rbwave as _rbwave  # noqa: E402

#: grid points; coarser levels run on one thread (waking the thread pool costs more than the work there)
#: and call the serial twins of the kernels
SERIAL_BELOW = _rbwave.SERIAL_BELOW
#: 2-D constant-coefficient levels this small run in the compiled tail as whole-grid half sweeps
#: (:func:`.mgtail._pre_small2`), counted so in ``stats`` (``multigrid_setup.work_per_cycle``)
WHOLE_GRID_2D_BELOW = SERIAL_BELOW


def restrict(r, out, R):
    """``out = R r`` (tensor tables, or a CSR matrix on Galerkin levels)."""
    if not isinstance(R, tuple):
        _csr_mv(R.indptr, R.indices, R.data, r.reshape(-1), _flat(out), False)
        return
    _check_tables(r, out, R)
    (restrict2 if r.ndim == 2 else restrict3)(np.ascontiguousarray(r), out, *R)


def _check_tables(r, out, R):
    """The kernels index without bounds checks: the tables must match ``out``'s shape and stay inside ``r``."""
    if r.ndim not in (2, 3) or len(R) != 2 * r.ndim or out.ndim != r.ndim:
        raise ValueError(f"restrict: a {r.ndim}-D grid with {len(R)} tables into a {out.ndim}-D array; it needs a 2-D "
                         "or 3-D grid, two tables (indices, weights) per axis and an output of the same dimension")
    for a in range(r.ndim):
        ri = R[2 * a]
        if ri.shape[0] != out.shape[a] or (ri.size and not 0 <= int(ri.min()) <= int(ri.max()) < r.shape[a]):
            raise ValueError(f"restrict: axis {a}'s table has {ri.shape[0]} rows and indices up to "
                             f"{int(ri.max()) if ri.size else -1}, for a grid of {r.shape[a]} and an output of "
                             f"{out.shape[a]} points along it; pass the level's own arrays")


def prolong_work(fine_shape, coarse_shape):
    """The work array of :func:`prolong_add`: the coarse grid with the fine last axis (pooled)."""
    return _workspace.empty(np, tuple(coarse_shape[:-1]) + tuple(fine_shape[-1:]))


def prolong_add(e, u, P, work, add=True):
    """``u += P e`` (``u = P e`` when not ``add``: ``u``'s old entries are not read; ``work`` from
    :func:`prolong_work`, unused for a CSR ``P``)."""
    if not isinstance(P, tuple):
        _csr_mv(P.indptr, P.indices, P.data, e.reshape(-1), _flat(u), bool(add))
        return
    (prolong_add2 if u.ndim == 2 else prolong_add3)(e, u, *P, work, bool(add))


def interpolate(e, u, T, work):
    """``u = T e`` for tensor tables ``T = (pi0, pw0, ...)`` of any width, one row per point of ``u`` (the FMG
    interpolation; ``work`` from :func:`prolong_work`). 6-tap tables: :func:`interpolate2` / :func:`interpolate3`;
    others: the restriction's kernels (any width, slower)."""
    if work is None or any(t.shape[1] != 6 for t in T):
        restrict(e, u, T)
        return
    (interpolate2 if u.ndim == 2 else interpolate3)(e, u, *T, work)


def prolong_sweeps(e, u, P, work, op, f, first, count, dot=False):
    """``u += P e``, then ``count`` half sweeps of ``op`` from colour ``first``: one wavefront pass for tensor
    transfers on a stencil level (:mod:`solvers._kernels.numba.rbwave`; ``work`` from :func:`prolong_work`),
    else the prolongation followed by :func:`solvers._kernels.numba.stencil.sweeps`. Returns ``f . u`` of
    the result when ``dot`` (from the same pass), else None."""
    if isinstance(P, tuple) and hasattr(op, "_coef"):
        return _rbwave.run(op, u, f, first, count, False, e=e, P=P, buf=work, dot=dot)
    prolong_add(e, u, P, work)
    _stencil.sweeps(op, u, f, first, count, False)
    return float(_krylov.dot(f.reshape(-1), u.reshape(-1))) if dot else None   # not BLAS: see krylov.rows_dot


def needs_residual_buffer(op):
    """Constant coefficients use the fused kernel (no fine residual is stored) with tensor transfers;
    variable ones and CSR transfers do not."""
    return not getattr(op, "const", False)


def smooth_residual_restrict(op, u, f, first, count, out, R, work):
    """``count`` half sweeps of ``op`` from ``u = 0`` (colours from ``first``), then ``out = R (f - A u)``: one
    wavefront pass for constant coefficients with tensor transfers (:mod:`.mgfused`; 128^3: 19 % less than the
    two passes, 1 thread; 2-D MG-CG fused / two passes 0.97-1.01 at 512^2-2048^2, session 35), else the smoothing
    pass then :func:`residual_restrict`."""
    if getattr(op, "const", False) and isinstance(R, tuple) and count >= 1:
        from . import mgfused

        mgfused.run(op, u, f, first, count, out, R, SERIAL_BELOW)
        return
    _stencil.sweeps(op, u, f, first, count, True)
    residual_restrict(op, u, f, out, R, work)


def residual_restrict(op, u, f, out, R, work):
    """``out = R (f - A u)``: one fused pass for constant coefficients, else residual into ``work``
    then restriction."""
    if getattr(op, "const", False) and isinstance(R, tuple):
        if u.size < SERIAL_BELOW:
            fn, nchunks = (residual_restrict2c_s if u.ndim == 2 else residual_restrict3c_s), 1
        else:
            fn = residual_restrict2c if u.ndim == 2 else residual_restrict3c
            nchunks = max(1, min(nb.get_num_threads(), out.shape[0]))
        fn(u, f, out, *op._coef(), *R, nchunks)
        return
    if getattr(op, "mg_csr", None) is not None:
        csr_residual(op.mg_csr, u, f, work)
    else:
        _stencil.residual(op, u, f, work)
    restrict(work, out, R)


def split_level(op, P, R, coarse_shape, finest_points=None):
    """The split-layout smoothing of a level with constant coefficients and tensor transfers, else None: a
    :class:`.mgsplit.SplitLevel` for a 3-D level of at least :data:`.mgsplit.MIN_POINTS` points (float32 on both
    sides; MG-CG 128^3 16 % and 256^3 17 % faster than the natural layout), a :class:`.mgsplit2.SplitLevel2` for a
    2-D level of at least :data:`.mgsplit2.MIN_POINTS` points (a coarser level of the hierarchy:
    :data:`.mgsplit2.MIN_POINTS_COARSE`) in a hierarchy whose finest grid (``finest_points``, default this level's)
    has fewer than :data:`.mgsplit2.MAX_FINE_POINTS` (float32 pre-smoothing only)."""
    from . import mgsplit, mgsplit2

    if len(op.grid_shape) == 2:
        fine = op.shape[0] if finest_points is None else int(finest_points)
        least = mgsplit2.MIN_POINTS if fine <= op.shape[0] else mgsplit2.MIN_POINTS_COARSE
        if op.shape[0] < least or fine >= mgsplit2.MAX_FINE_POINTS or not mgsplit2.eligible(op, P, R):
            return None
        return mgsplit2.SplitLevel2(op, P, R, coarse_shape)
    if op.shape[0] < mgsplit.MIN_POINTS or not mgsplit.eligible(op, P, R):
        return None
    return mgsplit.SplitLevel(op, P, R, coarse_shape)


def compiled_tail(levels, nus, cinv):
    """``(l0, run)``: the cycle from the first level below :data:`SERIAL_BELOW` points down as one compiled
    serial call (:mod:`.mgtail`), or None where the hierarchy does not qualify there."""
    from . import mgtail

    return mgtail.plan(levels, nus, cinv)
