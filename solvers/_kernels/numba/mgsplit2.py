"""Red-black Gauss-Seidel on a red/black *split* layout of a 2-D multigrid level (Numba, constant coefficients).

The 2-D twin of :mod:`.mgsplit` (which states the layout for 3-D): the points of colour ``c`` (``c = 0`` red,
``(i + k) % 2 == c``) of row ``i`` sit at ``k = 2 k' + t`` with ``t = (i + c) & 1`` and are stored contiguously
as ``X_c[i, k']``. A point of colour ``c`` reads only colour ``1 - c``: along the row ``X_{1-c}[i, k' - 1 + t]``
and ``X_{1-c}[i, k' + t]``, across it ``X_{1-c}[i +- 1, k']`` (the rows ``i +- 1`` have the same offset ``t``
for the other colour). Each colour array has ``m + 1`` entries per row, ``m = ceil(n1 / 2)``; the entries past a
row's points stay zero (the Dirichlet boundary). Values are float32 in the scaled unknowns of
:class:`.mgsplit.SplitLevel` (``X = s d x``, ``F = s f``), so a half sweep is ``X = F + sum (w / d) X_nb``.

Why a 2-D module of its own: the natural-layout half sweep updates every other point of a row in a stride-2
loop that LLVM leaves scalar (on Zen 5 as on the AVX-512 Xeon), at about 1.4 matvecs per half sweep of a
1024^2 grid; the split half sweep is contiguous and vectorised (1024^2, 2 threads, Zen 5, session 35: 0.06 ms
float32 / 0.13 ms float64 against 0.41 ms natural, ``/tmp/s35/micro_split.py``). Session 31 ran a 2-D level
through the 3-D kernels as ``(n0, 1, n1)`` and measured no gain: there the split of ``f`` and the last-axis
interpolation (plane-shaped loops over one-row planes, a scalar float maximum) cost as much as the half sweeps
saved. Here those steps are row loops that vectorise (an integer maximum over ``f``'s bits, see
:func:`._split_rows2.split_row`).

:class:`SplitLevel2` does a level's two smoothing phases of the cycle, each in one wavefront pass over the rows
(the stage order and end-row phases of :mod:`.rbwave`): ``pre`` splits ``f`` (the first colour solved from
``u = 0`` on the way), runs the half sweeps, then forms the residual of the colour not relaxed last (the other
one's is zero) restricted along the row at once; the axis-0 restriction follows (:func:`combine2`). ``post``
adds the interpolated coarse correction, runs the half sweeps, the last writing the natural ``u`` and ``f . u``.

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.1 and 3.3;
G. Wellein et al., COMPSAC 2009 (the wavefront).
"""
import math

import numba as nb
import numpy as np

from ... import _workspace as _work
from . import multigrid as _mg
from .mgsplit import LOG2_RANGE, SplitLevel, _last_axis_tables
from .multigrid import _combine
from .rbwave import _bounds
from ._split_rows2 import (around, count, half_row, half_row_out, natural_row, prolong_row, res_row,
                           restrict_gather, restrict_row, split_row)


#: rows per wavefront block: a stage runs on a block of rows per call (one call per row cost as much as the
#: row's arithmetic: a 1024-long float32 row is 32 vector iterations per colour)
BLOCK = 8


@nb.njit(cache=True)
def _stage(pre, st, blk, cnt, first, fb, bits, tc, f, F0, F1, X0, X1, RL, res, nat, u, n0, n1, w0, w1, sc, cu, aff,
           Wt, ri1, rw1, buf, pi0, pw0, want_dot):
    """Stage ``st`` on the rows of block ``blk``. ``pre``: 0 splits ``f`` (and solves colour ``first`` from
    ``u = 0``), raising ``bits[tc]`` to the largest ``|f|`` bits (:func:`._split_rows2.split_row`; ``tc`` the
    chunk); ``1 .. cnt - 1`` are the half sweeps, ``cnt`` the residual restricted along the row into ``RL``.
    Post: 0 adds the interpolated coarse correction, ``1 .. cnt`` are the half sweeps, the last writing the
    natural ``u``; returns the rows' ``F . X`` from it (``want_dot``)."""
    r0, r1 = blk * BLOCK, min(n0, (blk + 1) * BLOCK)
    if pre:
        if st == 0:
            for i in range(r0, r1):
                bits[tc] = max(bits[tc], split_row(fb, f, F0, F1, X0, X1, i, n1, sc, first, cnt == 1))
            return 0.0
        if st < cnt:
            c = (first + st) & 1
            X, Y, F = (X0, X1, F0) if c == 0 else (X1, X0, F1)
            for i in range(r0, r1):
                im, ip, ca, cb = around(i, n0, w0)
                t = (i + c) & 1
                half_row(X, Y, F, i, im, ip, ca, cb, t, count(n1, t), w1)
            return 0.0
        c = (first + cnt - 1) & 1                  # the colour solved last: its residual is zero
        Xl, Yl, Gl = (X0, X1, F1) if c == 0 else (X1, X0, F0)
        for i in range(r0, r1):
            im, ip, ca, cb = around(i, n0, w0)
            t = (i + 1 - c) & 1
            mo = count(n1, t)
            res_row(res, Yl, Xl, Gl, i, im, ip, ca, cb, t, mo, w1)
            if aff:
                restrict_row(RL, i, res, t, Wt)
            else:
                restrict_gather(RL, i, res, nat, t, mo, n1, ri1, rw1)
            natural_row(X0, X1, i, n1, u, cu)
        return 0.0
    if st == 0:
        for i in range(r0, r1):
            prolong_row(X0, X1, i, n1, pi0, pw0, buf)
        return 0.0
    c = (first + st - 1) & 1
    X, Y, F, G = (X0, X1, F0, F1) if c == 0 else (X1, X0, F1, F0)
    if st < cnt:
        for i in range(r0, r1):
            im, ip, ca, cb = around(i, n0, w0)
            t = (i + c) & 1
            half_row(X, Y, F, i, im, ip, ca, cb, t, count(n1, t), w1)
        return 0.0
    v = 0.0
    for i in range(r0, r1):
        v += half_row_out(X, Y, F, G, c, i, n0, n1, w0, w1, u, cu, want_dot)
    return v


@nb.njit(parallel=True, cache=True)
def wave2(pre, cnt, first, fb, f, F0, F1, X0, X1, RL, u, n1, w0, w1, sc, cu, aff, Wt, ri1, rw1, buf, pi0, pw0,
          nchunks, want_dot):
    """The ``cnt + 1`` stages of :func:`_stage` over all row blocks in one pass (stage ``s`` on block ``b - s``
    at step ``b``; the end blocks of each range in serial phases after it, stage by stage, as in
    :mod:`.rbwave`: a block is a fat row, so the same order keeps every stage's neighbours one stage ahead).
    Returns ``max |f|`` (pre; NaN where ``f`` has one) or ``F . X`` (post with ``want_dot``; else 0)."""
    n0 = X0.shape[0]
    nblk = (n0 + BLOCK - 1) // BLOCK
    S = cnt + 1
    parts = np.zeros(nchunks)
    bits = np.zeros(nchunks, dtype=np.uint64)
    nres = max(RL.shape[1] + Wt.shape[0], X0.shape[1]) + 2
    for t in nb.prange(nchunks):
        res = np.zeros(nres, dtype=X0.dtype)
        nat = np.empty(n1, dtype=X0.dtype)
        s, en, lo, hi = _bounds(t, nchunks, nblk, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    parts[t] += _stage(pre, st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, u, n0,
                                       n1, w0, w1, sc, cu, aff, Wt, ri1, rw1, buf, pi0, pw0, want_dot)
    res = np.zeros(nres, dtype=X0.dtype)
    nat = np.empty(n1, dtype=X0.dtype)
    for st in range(1, S):                   # the end blocks of the ranges, stage by stage (serial)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, nblk, S)
            for p in range(s, s + lo * st):
                parts[t] += _stage(pre, st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, u, n0,
                                   n1, w0, w1, sc, cu, aff, Wt, ri1, rw1, buf, pi0, pw0, want_dot)
            for p in range(en - hi * st, en):
                parts[t] += _stage(pre, st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, u, n0,
                                   n1, w0, w1, sc, cu, aff, Wt, ri1, rw1, buf, pi0, pw0, want_dot)
    if pre:
        return np.array([bits.max()]).view(np.float64)[0]
    return parts.sum()


@nb.njit(parallel=True, cache=True)
def combine2(RL, out, ri0, rw0, g):
    """``out = g x`` the axis-0 restriction of ``RL`` (the residual already restricted along the rows)."""
    m0 = ri0.shape[1]
    for I in nb.prange(out.shape[0]):
        _combine(RL, ri0[I], rw0[I], m0, out[I])
        for k in range(out.shape[1]):
            out[I, k] *= g


@nb.njit(parallel=True, cache=True, fastmath={"contract"})
def interp_pairs2(e, g, n1, off, wt, ep_len, buf):
    """``buf[I, t, k]``: ``g`` times the coarse row ``I`` interpolated along the row at the fine points
    ``2 k + t`` (pair tables of :func:`.mgsplit._last_axis_tables`), from a zero-padded float32 copy of it."""
    nc0, nc1 = e.shape
    for I in nb.prange(nc0):
        ep = np.zeros(ep_len, dtype=buf.dtype)
        er = e[I]
        for k in range(nc1):
            ep[k + 1] = er[k] * g
        for t in range(2):
            br = buf[I, t]
            wa, wb = wt[t, 0], wt[t, 1]
            ea, eb = ep[off[t, 0] + 1:], ep[off[t, 1] + 1:]     # views at the offsets: the loop vectorises
            for k in range(count(n1, t)):                        # (indexing ep[k + o] measured 4x slower)
                br[k] = wa[k] * ea[k] + wb[k] * eb[k]


@nb.njit(parallel=True, cache=True)
def interp_gather2(e, g, n1, pi1, pw1, buf):
    """``buf[I, t, k]``: as :func:`interp_pairs2`, through the index table (any table)."""
    for I in nb.prange(e.shape[0]):
        er = e[I]
        for t in range(2):
            br = buf[I, t]
            for k in range(count(n1, t)):
                q = 2 * k + t
                br[k] = g * (pw1[q, 0] * er[pi1[q, 0]] + pw1[q, 1] * er[pi1[q, 1]])


import os
MIN_POINTS = int(os.environ.get("NK_MIN2", "200000"))
MAX_POINTS = 10 ** 12
F64_ABOVE = int(os.environ.get("NK_F64", "10000000000"))


def eligible(op, P, R) -> bool:
    """A 2-D grid whose stencil has constant, finite coefficients with a positive diagonal and whose transfers
    are tensor tables."""
    if not (getattr(op, "const", False) and isinstance(P, tuple) and isinstance(R, tuple)):
        return False
    if len(op.grid_shape) != 2 or min(op.grid_shape) < 2:
        return False
    w, d = np.asarray(op._w, dtype=float), float(op._d)
    return bool(np.all(np.isfinite(w)) and np.isfinite(d) and d > 0.0 and np.all(np.abs(w) <= d))


class SplitLevel2(SplitLevel):
    """The smoothing of one 2-D multigrid level in the red/black split layout, float32 (module notes; the
    scaling, the range check and the natural fallback are those of :class:`.mgsplit.SplitLevel`)."""

    def __init__(self, op, P, R, coarse_shape):       # noqa: D107  (no super().__init__: 2-D arrays)
        shp = tuple(op.grid_shape)
        self.shape3, self.coarse3 = shp, tuple(coarse_shape)     # the names the parent's fallback uses
        self.P, self.R = tuple(P), tuple(R)
        self.d = float(op._d)
        f32 = np.float64 if op.shape[0] >= F64_ABOVE else np.float32
        self.w = tuple(f32(wa / self.d) for wa in op._w)
        n0, n1 = shp
        self.n1 = n1
        m = (n1 + 1) // 2 + 1                        # one zero entry past every row's points
        E = _work.empty                              # pooled; every entry read is written first in a cycle
        self.X = (E(np, (n0, m), f32), E(np, (n0, m), f32))
        for Xc in self.X:
            Xc[:, n1 // 2:] = 0.0                    # past the shorter rows' points
        self.F = (E(np, (n0, m), f32), E(np, (n0, m), f32))
        self.buf = E(np, (self.coarse3[0], 2, m), f32)
        self.aff, self.Wt, self.pairs = _last_axis_tables(self.P, self.R, n1, self.coarse3[1])
        if self.pairs is not None:                   # float32 weights, as the colour arrays
            off, wt, ep_len = self.pairs
            self.pairs = (off, wt.astype(f32), ep_len)
        self.RL = E(np, (n0, self.coarse3[1]), f32)
        self._u0 = np.zeros((1, 1))
        self._fb0 = np.zeros((1, 1), np.uint64)
        self.s, self.fallback = 1.0, False
        self.op, self._pbuf = op, None

    def _nchunks(self, cnt):
        # ranges of at least 2 (cnt + 1) + 2 blocks (rbwave.nchunks_for)
        nblk = -(-self.shape3[0] // BLOCK)
        return max(1, min(nb.get_num_threads(), nblk // (2 * (cnt + 1) + 2)))

    def _wave(self, pre, cnt, first, f, u, sc, cu, dot):
        X, F, (w0, w1) = self.X, self.F, self.w
        fb = f.view(np.uint64) if pre else self._fb0
        return wave2(pre, int(cnt), int(first), fb, f, F[0], F[1], X[0], X[1], self.RL, u, self.n1, w0, w1,
                     self.w[0].dtype.type(sc), cu, self.aff, self.Wt, self.R[2], self.R[3], self.buf, self.P[0], self.P[1],
                     self._nchunks(cnt), dot)

    def pre(self, f, u, out, first, count):
        """``count`` half sweeps from ``u = 0`` (colours from ``first``), then ``out = R (f - A u)`` (the
        contract of :meth:`.mgsplit.SplitLevel.pre`)."""
        if count < 1:
            raise ValueError("SplitLevel2.pre: count must be >= 1")
        f2 = f.reshape(self.shape3)
        self.s, self.fallback = 1.0, False
        u2 = u.reshape(self.shape3)
        big = self._wave(True, count, first, f2, u2, 1.0, 1.0 / self.d, False)
        if np.isfinite(big) and big > 0.0 and abs(math.frexp(big)[1]) > LOG2_RANGE:
            self.s = math.ldexp(1.0, -min(max(math.frexp(big)[1], -1000), 1000))
            if not 2.0 ** -1000 < self.s * self.d < 2.0 ** 1000:
                self.fallback = True
                self._natural().smooth_residual_restrict(self.op, u.reshape(self.shape3), f2, first, count,
                                                         out.reshape(self.coarse3), self.R, None)
                return
            self._wave(True, count, first, f2, u2, self.s, 1.0 / (self.s * self.d), False)
        combine2(self.RL, out.reshape(self.coarse3), self.R[0], self.R[1], 1.0 / self.s)

    def post(self, e, u, f, first, count, dot=False):
        """``u += P e`` on the natural iterate ``pre`` wrote, then ``count`` half sweeps: the natural float64 kernels
        (:func:`.multigrid.prolong_sweeps`). Returns ``f . u`` when ``dot``, else None."""
        return self._natural().prolong_sweeps(e.reshape(self.coarse3), u.reshape(self.shape3), self.P,
                                              self._pbuf, self.op, f.reshape(self.shape3), first, count, dot)
