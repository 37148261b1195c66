"""Pre-smoothing, residual and restriction of a multigrid level in one pass (Numba, constant coefficients).

The pre-smoothing wavefront of :mod:`.rbwave` (``count`` red-black half sweeps from ``u = 0``) with the fused
residual + restriction of :mod:`.multigrid` as its last stage: once the last half sweep has finished the
axis-0 planes ``p - 1, p, p + 1``, the residual of plane ``p`` enters a small ring buffer, and a coarse plane
is restricted as soon as the ring holds its window of fine planes. ``u`` and ``f`` are read from memory
once for the three steps instead of twice (the separate residual + restriction pass reads both again).

Each thread owns a range of fine planes (as in :mod:`.rbwave`). Only the coarse planes whose whole window
of residual planes can be formed inside one range during the wavefront are restricted there; the few at
range boundaries (their residuals need planes that are final only after the end-plane phases) are done
afterwards, serially, by the plain residual + restriction of those coarse planes. The arithmetic of every
output is that of the separate kernels (same helpers, same order), bitwise. 2-D grids have their own twin over
rows (:func:`_pre_rr2`): run as ``(n0, 1, n1)`` through the 3-D kernel the pass was 1.05x slower than the two
passes in MG-CG on 1024^2 (session 34); the row twin is bitwise the same as the two passes and 0.97-1.01x
their MG-CG time (512^2, 1024^2 three runs, 2048^2; interleaved, 2 threads, Zen 5, session 35).

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001 (red-black
smoothing, full weighting); G. Wellein et al., COMPSAC 2009 (wavefront temporal blocking).
"""
import numba as nb
import numpy as np

from .multigrid import _combine, _last3, _last_weights, _restrict_buffers, _restrict_row2, _window
from .rbwave import _bounds, _stage2, _stage3, twin
from ._stencil_rows import residual_plane3c, residual_row2c


@nb.njit(cache=True)
def _restrict_plane(ring, ringf, out, I, W, ri0, rw0, ri1, rw1, ri2, rw2, lw, pl, plf, row, slots):
    """Coarse plane ``I`` of ``R r`` from the residual planes in the ring (slot ``p % W`` holds plane ``p``)."""
    m0 = ri0.shape[1]
    for a in range(m0):
        slots[a] = ri0[I, a] % W
    _combine(ringf, slots, rw0[I], m0, plf)
    for J in range(out.shape[1]):
        _combine(pl, ri1[J], rw1[J], ri1.shape[1], row)
        _last3(row, out, I, J, ri2, rw2, lw)


@nb.njit(cache=True)
def _windows(ri0):
    """The first and last fine plane (row in 2-D) of every coarse plane's restriction window."""
    nc0, m0 = ri0.shape
    lo_I = np.empty(nc0, dtype=np.int64)
    hi_I = np.empty(nc0, dtype=np.int64)
    for I in range(nc0):
        a0 = ri0[I, 0]
        b0 = a0
        for a in range(m0):
            a0 = min(a0, ri0[I, a])
            b0 = max(b0, ri0[I, a])
        lo_I[I], hi_I[I] = a0, b0
    return lo_I, hi_I


@nb.njit(cache=True)
def _coarse_range(lo_I, hi_I, cs, ce):
    """``[Ia, Ib)``: the coarse planes whose whole window lies in the fine planes ``[cs, ce)`` (those a range
    restricts during the wavefront)."""
    nc0 = lo_I.shape[0]
    Ia = 0
    while Ia < nc0 and lo_I[Ia] < cs:
        Ia += 1
    Ib = Ia
    while Ib < nc0 and hi_I[Ib] < ce:
        Ib += 1
    return Ia, Ib


def _pre_rr(u, f, out, w0, w1, w2, d, first, count, ri0, rw0, ri1, rw1, ri2, rw2, nchunks):
    """``count`` half sweeps from ``u = 0`` (colours from ``first``), then ``out = R (f - A u)``; one pass."""
    n0, n1, n2 = u.shape
    nc0 = out.shape[0]
    S = count
    m0 = ri0.shape[1]
    lw = _last_weights(ri2, rw2, n2)
    W = _window(ri0)
    lo_I, hi_I = _windows(ri0)                   # the window of fine planes of every coarse plane
    done = np.zeros(nc0, dtype=np.bool_)
    g = np.zeros((1, 1, 1))
    gi = np.zeros((1, 2), dtype=np.int64)
    gw = np.zeros((1, 2))
    for t in nb.prange(nchunks):
        tmp = np.empty(n2)
        ring, ringf, pl, plf, row, slots = _restrict_buffers(W, n1, n2, m0)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        cs, ce = s + lo * S, en - hi * S         # residuals formed during the wavefront: planes [cs, ce)
        Ia, Ib = _coarse_range(lo_I, hi_I, cs, ce)
        Inext = Ia
        nxt = lo_I[Ia] if Ia < Ib else 0
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _stage3(st, p, u, f, w0, w1, w2, d, g, g, g, g, True, first, True, False, g,
                            gi, gw, gi, gw, tmp)
            q = min(i - (S - 1), en - hi * (S - 1) - 1)      # the last plane the last half sweep finished
            lim = q if q == n0 - 1 else q - 1                # residual planes formable now: up to lim
            while Inext < Ib and hi_I[Inext] <= lim:
                while nxt <= hi_I[Inext]:
                    residual_plane3c(u, f, ring[nxt % W], nxt, w0, w1, w2, d)
                    nxt += 1
                _restrict_plane(ring, ringf, out, Inext, W, ri0, rw0, ri1, rw1, ri2, rw2, lw, pl, plf, row, slots)
                done[Inext] = True
                Inext += 1
    tmp = np.empty(n2)
    for st in range(1, S):                       # the end planes of the ranges (serial, as in rbwave)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                _stage3(st, p, u, f, w0, w1, w2, d, g, g, g, g, True, first, True, False, g, gi, gw, gi, gw, tmp)
            for p in range(en - hi * st, en):
                _stage3(st, p, u, f, w0, w1, w2, d, g, g, g, g, True, first, True, False, g, gi, gw, gi, gw, tmp)
    # the coarse planes at range boundaries: plain residual + restriction on the final u
    ring, ringf, pl, plf, row, slots = _restrict_buffers(W, n1, n2, m0)
    nxt = -1
    for I in range(nc0):
        if done[I]:
            continue
        if nxt < lo_I[I]:
            nxt = lo_I[I]
        while nxt <= hi_I[I]:
            residual_plane3c(u, f, ring[nxt % W], nxt, w0, w1, w2, d)
            nxt += 1
        _restrict_plane(ring, ringf, out, I, W, ri0, rw0, ri1, rw1, ri2, rw2, lw, pl, plf, row, slots)


def _pre_rr2(u, f, out, w0, w1, d, first, count, ri0, rw0, ri1, rw1, nchunks):
    """2-D twin of :func:`_pre_rr` (rows instead of planes): ``count`` half sweeps from ``u = 0``, then
    ``out = R (f - A u)``, in one pass."""
    n0, n1 = u.shape
    nc0 = out.shape[0]
    S = count
    m0 = ri0.shape[1]
    lw = _last_weights(ri1, rw1, n1)
    W = _window(ri0)
    lo_I, hi_I = _windows(ri0)
    done = np.zeros(nc0, dtype=np.bool_)
    g = np.zeros((1, 1))
    gi = np.zeros((1, 2), dtype=np.int64)
    gw = np.zeros((1, 2))
    for t in nb.prange(nchunks):
        tmp = np.empty(n1)
        ring = np.empty((W, n1))
        buf = np.empty(n1)
        slots = np.empty(m0, dtype=np.int64)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        cs, ce = s + lo * S, en - hi * S
        Ia, Ib = _coarse_range(lo_I, hi_I, cs, ce)
        Inext = Ia
        nxt = lo_I[Ia] if Ia < Ib else 0
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _stage2(st, p, u, f, w0, w1, d, g, g, g, True, first, True, False, g, gi, gw, tmp)
            q = min(i - (S - 1), en - hi * (S - 1) - 1)
            lim = q if q == n0 - 1 else q - 1
            while Inext < Ib and hi_I[Inext] <= lim:
                while nxt <= hi_I[Inext]:
                    residual_row2c(u, f, ring[nxt % W], nxt, w0, w1, d)
                    nxt += 1
                _restrict_row2(ring, out, Inext, W, ri0, rw0, ri1, rw1, lw, buf, slots)
                done[Inext] = True
                Inext += 1
    tmp = np.empty(n1)
    for st in range(1, S):
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                _stage2(st, p, u, f, w0, w1, d, g, g, g, True, first, True, False, g, gi, gw, tmp)
            for p in range(en - hi * st, en):
                _stage2(st, p, u, f, w0, w1, d, g, g, g, True, first, True, False, g, gi, gw, tmp)
    ring = np.empty((W, n1))
    buf = np.empty(n1)
    slots = np.empty(m0, dtype=np.int64)
    nxt = -1
    for I in range(nc0):
        if done[I]:
            continue
        if nxt < lo_I[I]:
            nxt = lo_I[I]
        while nxt <= hi_I[I]:
            residual_row2c(u, f, ring[nxt % W], nxt, w0, w1, d)
            nxt += 1
        _restrict_row2(ring, out, I, W, ri0, rw0, ri1, rw1, lw, buf, slots)


pre_rr2 = nb.njit(parallel=True, cache=True)(_pre_rr2)
pre_rr2_s = nb.njit(cache=True)(twin(_pre_rr2))
pre_rr = nb.njit(parallel=True, cache=True)(_pre_rr)
pre_rr_s = nb.njit(cache=True)(twin(_pre_rr))


def run(op, u, f, first, count, out, R, serial_below):
    """``count`` half sweeps of ``op`` from ``u = 0`` then ``out = R (f - A u)`` (constant ``k``, tensor ``R``)."""
    serial = u.size < serial_below
    nchunks = 1 if serial else max(1, min(nb.get_num_threads(), u.shape[0] // (2 * count + 2)))
    if u.ndim == 2:
        (pre_rr2_s if serial else pre_rr2)(u, f, out, *op._w, op._d, int(first), int(count), *R, nchunks)
        return
    (pre_rr_s if serial else pre_rr)(u, f, out, *op._w, op._d, int(first), int(count), *R, nchunks)
