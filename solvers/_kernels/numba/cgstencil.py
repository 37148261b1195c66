"""CG's direction update fused with the next stencil product (Numba, constant coefficients).

Preconditioned CG ends an iteration with ``x += alpha p`` and ``p = z + beta p`` (one pass over ``x``, ``p``,
``z``) and starts the next with ``q = A p`` and ``p . q`` (a second pass, reading ``p`` again). On a
constant-coefficient stencil both fit in ONE pass over the axis-0 planes (rows in 2-D), as a two-stage
wavefront: at step ``i`` plane ``i`` is updated, then the product of plane ``i - 1``, whose neighbours
``i - 2 .. i`` are all updated by then, is formed while they are in cache. ``p`` is read from memory once
instead of twice.

Each thread owns a range of planes (at least two). The product of a range's first plane needs the last plane
of the range below, and that of its last plane the first plane of the range above; both wait for a short
serial phase after the parallel one. ``z`` may be the same array as ``q`` (CG's z = M r lives in q's memory):
plane ``i`` of ``z`` is read when plane ``i`` of ``p`` is updated, and plane ``i`` of ``q`` is written only
after that (at step ``i + 1`` or in the serial phase), so the aliasing is safe. The arithmetic of each entry is
that of :func:`solvers._kernels.numba.krylov.cg_update_xp` followed by the stencil's ``apply`` rows (the same
row helpers); ``p . q`` is summed in another order (by planes and ranges).

Measured (128^3, 2 threads, vectors evicted from the caches first, Zen 5): the two passes 2.90 ms, the fused
pass 2.06 ms; with the vectors in cache no difference (2.0 against 2.15 ms).

Reference: M. R. Hestenes and E. Stiefel (1952); the fusion is a loop-fusion of Saad, *Iterative Methods for
Sparse Linear Systems* (2003), Algorithm 9.1, lines 8-9 with line 3 of the next iteration.
"""
import numba as nb
import numpy as np

from ._stencil_rows import apply_line2c, apply_plane3c

_FM = {"contract", "reassoc", "nsz"}


@nb.njit(cache=True, fastmath=_FM)
def _update_plane(x, p, z, alpha, beta, first, i):
    """Plane ``i`` (a row in 2-D): ``x += alpha p`` (``x = alpha p`` when ``first``), ``p = z + beta p``."""
    xi, pi, zi = x[i].ravel(), p[i].ravel(), z[i].ravel()
    if first:
        for k in range(xi.shape[0]):
            pk = pi[k]
            xi[k] = alpha * pk
            pi[k] = zi[k] + beta * pk
    else:
        for k in range(xi.shape[0]):
            pk = pi[k]
            xi[k] += alpha * pk
            pi[k] = zi[k] + beta * pk


@nb.njit(parallel=True, cache=True)
def direction3(x, p, z, q, alpha, beta, first, w0, w1, w2, d, nchunks):
    """The fused pass (module notes) on 3-D grid arrays; returns ``p . q``."""
    n0 = p.shape[0]
    parts = np.zeros(nchunks)
    for t in nb.prange(nchunks):
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        lo = 1 if t > 0 else 0                   # the first plane waits for the range below
        acc = 0.0
        for i in range(s, e):
            _update_plane(x, p, z, alpha, beta, first, i)
            if i - 1 >= s + lo:
                acc += apply_plane3c(p, q, i - 1, w0, w1, w2, d)
        if t == nchunks - 1:                     # no range above: the last plane now
            acc += apply_plane3c(p, q, e - 1, w0, w1, w2, d)
        parts[t] = acc
    tot = parts.sum()
    for t in range(nchunks):                     # the planes at the ranges' boundaries (serial)
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if t > 0:
            tot += apply_plane3c(p, q, s, w0, w1, w2, d)
        if t < nchunks - 1:
            tot += apply_plane3c(p, q, e - 1, w0, w1, w2, d)
    return tot


@nb.njit(parallel=True, cache=True)
def direction2(x, p, z, q, alpha, beta, first, w0, w1, d, nchunks):
    """2-D twin of :func:`direction3` (rows instead of planes)."""
    n0 = p.shape[0]
    parts = np.zeros(nchunks)
    for t in nb.prange(nchunks):
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        lo = 1 if t > 0 else 0
        acc = 0.0
        for i in range(s, e):
            _update_plane(x, p, z, alpha, beta, first, i)
            if i - 1 >= s + lo:
                acc += apply_line2c(p, q, i - 1, w0, w1, d)
        if t == nchunks - 1:
            acc += apply_line2c(p, q, e - 1, w0, w1, d)
        parts[t] = acc
    tot = parts.sum()
    for t in range(nchunks):
        s, e = t * n0 // nchunks, (t + 1) * n0 // nchunks
        if t > 0:
            tot += apply_line2c(p, q, s, w0, w1, d)
        if t < nchunks - 1:
            tot += apply_line2c(p, q, e - 1, w0, w1, d)
    return tot


def direction_dot(op, x, p, z, q, alpha, beta, first):
    """``x += alpha p`` (``x = alpha p`` when ``first``), ``p = z + beta p``, ``q = A p``; returns ``p . q``, in
    one pass for a constant-coefficient 2-D or 3-D :class:`~solvers.operators.StencilOperator` (``None`` for
    other operators, and for arrays other than writable contiguous float64 vectors of the grid's size: the
    caller does the steps one after the other). ``z`` may be ``q``; no other two may share memory."""
    if not getattr(op, "const", False) or op.ndim_grid not in (2, 3):
        return None
    n = op.shape[0]
    for a in (x, p, z, q):
        if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (n,) and a.flags.c_contiguous
                and a.flags.writeable):
            return None
    shp = op.grid_shape
    n0 = shp[0]
    nchunks = max(1, min(nb.get_num_threads(), n0 // 2))
    w = op._w
    g = [a.reshape(shp) for a in (x, p, z, q)]
    c = (float(alpha), float(beta), bool(first))
    if len(shp) == 3:
        return float(direction3(*g, *c, w[0], w[1], w[2], op._d, nchunks))
    return float(direction2(*g, *c, w[0], w[1], op._d, nchunks))
