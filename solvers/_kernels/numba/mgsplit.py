"""Red-black Gauss-Seidel on a red/black *split* layout of a multigrid level (Numba, constant coefficients).

The natural-layout half sweep (:mod:`.rbwave`, :mod:`._stencil_rows`) updates every other point of a row in
a stride-2 loop, which LLVM leaves scalar on an AVX-512 Xeon, so a half sweep (half the points) costs more
than a whole matvec there. Here the points of a level are kept in two arrays, one per colour: the points of
colour ``c`` (``c = 0`` red, ``(i + j + k) % 2 == c``) of the row ``(i, j)`` sit at ``k = 2 k' + t`` with
``t = (i + j + c) & 1``, stored contiguously as ``X_c[i, j, k']``. A point of colour ``c`` reads only points
of colour ``1 - c``: along the last axis ``X_{1-c}[i, j, k' - 1 + t]`` and ``X_{1-c}[i, j, k' + t]``, along
the others ``X_{1-c}[i +- 1, j, k']`` and ``X_{1-c}[i, j +- 1, k']``. Every loop is contiguous and
vectorises (a float64 half sweep of 128^3: 0.84 ms against 1.93 ms natural, 2 threads, Xeon). Each colour
array has ``m + 1`` entries per row, ``m = ceil(n2 / 2)``: the entries past a row's points stay zero (the
Dirichlet boundary), so the last neighbour of a row needs no test.

:class:`SplitLevel` does a level's two smoothing phases of the multigrid cycle, each in one wavefront pass
over the axis-0 planes (the stage order and end-plane phases of :mod:`.rbwave`):

* ``pre``: split ``f`` (the first colour solved from ``u = 0`` on the way), the half sweeps, then the
  residual. After a half sweep of colour ``c`` the residual of the colour-``c`` points is zero in exact
  arithmetic (each was just solved for), so only the other colour's residual is formed, restricted along
  the last axis at once (only the taps of the row's parity remain: contiguous), and the axis-0 and axis-1
  restriction run afterwards on those coarse-length rows (:func:`combine`);
* ``post``: ``u += P e`` (the coarse rows interpolated along the last axis once, per parity), the half
  sweeps, the last writing the natural ``u`` and ``f . u``.

The arrays are float32 in scaled unknowns (see :class:`SplitLevel`): in the solve the fine level is
memory-bound, and half the bytes is what makes the layout pay there (float64 split arrays measured only
0-5 % faster than the natural kernels in MG-CG 128^3, float32 ones 10-14 %).

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.1 and
3.3 (red-black Gauss-Seidel; the residual vanishing at the last-relaxed colour).
"""
import math

import numba as nb
import numpy as np

from ... import _workspace as _work
from . import _idmemo
from . import multigrid as _mg
from .multigrid import _affine, _combine
from .rbwave import _bounds, _pair_shift
from ._split_rows import _count, _half_plane, _half_plane_out, _prolong_plane, _res_plane, _split_plane, pair_tables


@nb.njit(cache=True, inline="always")
def pair_row(er, ep, B, n2, off, wt, g):
    """``B[t, k]``: ``g`` times the coarse row ``er`` interpolated along it at the fine points ``2 k + t``, for a
    table whose fine point ``2 k + t`` reads the coarse points ``k + off[t, a]`` (``a = 0, 1``; weights
    ``wt[t, a, k]``), with contiguous loads from ``ep``, the row zero-padded (one entry before it, the rest
    after; only ``ep[1 : len(er) + 1]`` is written). Unsigned indices: signed ones carry a wraparound test that
    keeps the loops scalar (0.89 against 0.32 ns per output, one thread, session 48)."""
    one = np.uint64(1)
    for k in range(np.uint64(er.shape[0])):
        ep[k + one] = er[k]
    for t in range(2):
        br = B[t]
        o0, o1 = np.uint64(off[t, 0] + 1), np.uint64(off[t, 1] + 1)
        wa, wb = wt[t, 0], wt[t, 1]
        for k in range(np.uint64(_count(n2, t))):
            br[k] = g * (wa[k] * ep[k + o0] + wb[k] * ep[k + o1])


@nb.njit(cache=True, inline="always")
def gather_row(er, B, n2, pi2, pw2, g):
    """:func:`pair_row` through the index table (any table)."""
    for t in range(2):
        br = B[t]
        for k in range(_count(n2, t)):
            q = 2 * k + t
            br[k] = g * (pw2[q, 0] * er[pi2[q, 0]] + pw2[q, 1] * er[pi2[q, 1]])


@nb.njit(parallel=True, cache=True)
def interp_last_pairs(e, g, n2, off, wt, ep_len, buf):
    """``buf[I, J, t, k]``: ``g`` times the coarse row ``(I, J)`` interpolated along the last axis at the fine
    points ``2 k + t`` (:func:`pair_row`)."""
    for I in nb.prange(e.shape[0]):
        ep = np.zeros(ep_len)
        for J in range(e.shape[1]):
            pair_row(e[I, J], ep, buf[I, J], n2, off, wt, g)


@nb.njit(parallel=True, cache=True)
def interp_last_gather(e, g, n2, pi2, pw2, buf):
    """``buf[I, J, t, k]``: ``g`` times the coarse row ``(I, J)`` interpolated along the last axis at the fine
    points ``2 k + t``, through the index table (any table, :func:`gather_row`)."""
    for I in nb.prange(e.shape[0]):
        for J in range(e.shape[1]):
            gather_row(e[I, J], buf[I, J], n2, pi2, pw2, g)


# ----------------------------------------------------------------------------- the wavefront
@nb.njit(cache=True)
def _stage(pre, st, p, count, first, f, fb, F0, F1, X0, X1, RL, res, nat, u, n2, w0, w1, w2, one, sc, cu, aff, Wt, ri2,
           rw2, buf, pi0, pw0, pi1, pw1, want_dot, T):
    """Stage ``st`` on plane ``p`` (scaled unknowns: see :class:`SplitLevel`). ``pre``: 0 splits ``f`` (and
    solves colour ``first`` from ``u = 0``), ``1 .. count - 1`` are the half sweeps, ``count`` is the residual
    restricted along the last axis into ``RL``; returns ``max |f|`` of the plane from stage 0. Post: 0 adds the
    interpolated coarse correction, ``1 .. count`` are the half sweeps, the last writing the natural ``u``;
    returns the plane's ``F . X`` from it (``want_dot``)."""
    if pre:
        if st == 0:
            return _split_plane(f, fb, F0, F1, X0, X1, p, n2, sc, first, count == 1)
        if st < count:
            c = (first + st) & 1
            if c == 0:
                _half_plane(X0, X1, F0, 0, p, n2, w0, w1, w2, one, T)
            else:
                _half_plane(X1, X0, F1, 1, p, n2, w0, w1, w2, one, T)
        else:
            c = (first + count - 1) & 1                 # the colour solved last: its residual is zero
            Xl, Yl, Gl = (X0, X1, F1) if c == 0 else (X1, X0, F0)
            _res_plane(Xl, Yl, Gl, c, p, RL, res, nat, n2, w0, w1, w2, one, aff, Wt, ri2, rw2, T)
        return 0.0
    if st == 0:
        _prolong_plane(X0, X1, p, n2, pi0, pw0, pi1, pw1, buf, 1 - first)    # the colour not solved first
        return 0.0
    c = (first + st - 1) & 1
    X, Y, F, G = (X0, X1, F0, F1) if c == 0 else (X1, X0, F1, F0)
    if st < count:
        _half_plane(X, Y, F, c, p, n2, w0, w1, w2, one, T)
        return 0.0
    return _half_plane_out(X, Y, F, G, c, p, n2, w0, w1, w2, one, u, cu, want_dot, T)


@nb.njit(parallel=True, cache=True)
def wave(pre, count, first, f, fb, F0, F1, X0, X1, RL, u, n2, w0, w1, w2, one, sc, cu, aff, Wt, ri2, rw2, buf, pi0,
         pw0, pi1, pw1, nchunks, want_dot, T):
    """The ``count + 1`` stages of :func:`_stage` over all planes in one pass (the wavefront and the serial
    end-plane phases of :func:`solvers._kernels.numba.rbwave.wave3`: stage ``s`` runs on plane ``i - s`` at
    step ``i``, so a plane's neighbours are one stage ahead of it and no further). Returns ``max |f|`` (pre) or
    ``F . X`` (post with ``want_dot``; else 0)."""
    n0 = X0.shape[0]
    S = count + 1
    parts = np.zeros(nchunks)
    nres = X0.shape[1] * X0.shape[2] + RL.shape[2] + Wt.shape[0]     # a plane of residuals (_res_plane)
    for t in nb.prange(nchunks):
        res = np.zeros(nres, dtype=X0.dtype)
        nat = np.empty(n2, dtype=X0.dtype)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    v = _stage(pre, st, p, count, first, f, fb, F0, F1, X0, X1, RL, res, nat, u, n2, w0, w1, w2, one,
                               sc, cu, aff, Wt, ri2, rw2, buf, pi0, pw0, pi1, pw1, want_dot, T)
                    parts[t] = max(parts[t], v) if pre else parts[t] + v
    res = np.zeros(nres, dtype=X0.dtype)
    nat = np.empty(n2, dtype=X0.dtype)
    for st in range(1, S):                   # the end planes of the ranges, stage by stage (serial)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                parts[t] += _stage(pre, st, p, count, first, f, fb, F0, F1, X0, X1, RL, res, nat, u, n2, w0, w1, w2,
                                   one, sc, cu, aff, Wt, ri2, rw2, buf, pi0, pw0, pi1, pw1, want_dot, T)
            for p in range(en - hi * st, en):
                parts[t] += _stage(pre, st, p, count, first, f, fb, F0, F1, X0, X1, RL, res, nat, u, n2, w0, w1, w2,
                                   one, sc, cu, aff, Wt, ri2, rw2, buf, pi0, pw0, pi1, pw1, want_dot, T)
    return parts.max() if pre else parts.sum()


@nb.njit(parallel=True, cache=True)
def combine(RL, out, ri0, rw0, ri1, rw1, g):
    """``out = g x`` the axis-0 and axis-1 restriction of ``RL`` (the residual already restricted along the
    last axis), a coarse plane per iteration."""
    n0, n1, nc2 = RL.shape
    RLf = RL.reshape((n0, n1 * nc2))
    m0, m1 = ri0.shape[1], ri1.shape[1]
    for I in nb.prange(out.shape[0]):
        pl = np.empty((n1, nc2), dtype=RL.dtype)
        _combine(RLf, ri0[I], rw0[I], m0, pl.reshape(n1 * nc2))
        for J in range(out.shape[1]):
            _combine(pl, ri1[J], rw1[J], m1, out[I, J])
            for k in range(nc2):
                out[I, J, k] *= g


# ----------------------------------------------------------------------------- the level object
def eligible(op, P, R) -> bool:
    """A level runs split when it is a 3-D grid whose stencil has constant, finite coefficients with a positive
    diagonal and whose transfers are tensor tables. (2-D grids: :mod:`.mgsplit2`, the pre-smoothing only, float32
    before the coarse correction; what follows is why. There a row is a
    whole plane, and the split MG-CG on 1024^2 measured 1.25-1.4x slower than the natural one, in the same
    process, interleaved; on Zen 5, session 31, run as ``(n0, 1, n1)`` with identity tables for the middle axis:
    48.2 against 39.4 ms, median of 11, and 6 CG iterations against 5. Session 35 wrote dedicated 2-D split
    kernels, commit ``ddd083b``, reverted: pre + post of a 1024^2 level 1.55-1.7 ms against 2.4-3.0 ms natural in
    isolation, but in MG-CG float32 costs an iteration at 512^2-2048^2 -- the rounding noise of the preconditioned
    vector is rough, and ``A`` amplifies it by about cond(A) (``|A dz| / |r|`` 6.4e-3 at 1024^2 against 1.0e-4 at
    128^3) -- and float64 split levels keep 5 iterations but were no faster in the solve: 44-47 against 40-46
    ms, interleaved. Commit ``b1ee21d``, reverted: a post-smoothing that relaxes ``w = u - P e`` with ``P e`` kept
    in float64 keeps the natural iteration counts and residual histories (7 digits), but moves as many bytes as
    the natural level and measured 0.96-0.99x at 1024^2, 0.88-0.93x at 2048^2, 0.97x at 512^2. Commit ``5f09c36``,
    reverted (session 43, Xeon): float32 split pre-smoothing only (the natural float64 post-smoothing on the u it
    writes) keeps the float64 iteration counts and histories -- the lost iteration comes from the rounding of the
    post-smoothed z -- but writing the natural u besides the colour arrays moves more bytes: 0.96-0.985x at 1024^2,
    1.23x at 2048^2.)"""
    if not (getattr(op, "const", False) and isinstance(P, tuple) and isinstance(R, tuple)):
        return False
    if len(op.grid_shape) != 3 or min(op.grid_shape) < 2:
        return False
    w, d = np.asarray(op._w, dtype=float), float(op._d)
    return bool(np.all(np.isfinite(w)) and np.isfinite(d) and d > 0.0 and np.all(np.abs(w) <= d))


_TABLES: dict = {}          # the memo of _last_axis_tables (._idmemo)


def _last_axis_tables(P, R, n2, nc2, dtype=np.float32):
    """:func:`_tables_for`, memoised by the identity of the four last-axis tables (:mod:`._idmemo`; a memoised
    geometric hierarchy hands every hierarchy of a grid the same read-only tables). The result is read-only for
    the kernels."""
    return _idmemo.memo(_TABLES, (P[-2], P[-1], R[-2], R[-1]), (int(n2), int(nc2), np.dtype(dtype).str),
                        lambda: _tables_for(P, R, n2, nc2, dtype))


def _tables_for(P, R, n2, nc2, dtype=np.float32):
    """The last axis's transfer tables in the forms the split kernels read fastest:

    * restriction: ``(aff, Wt)``, ``aff`` when the table reads the fine points ``2 J + b``
      (:func:`.multigrid._affine`; then ``Wt[b, J]`` is its weight, contiguous per tap ``b``);
    * prolongation: ``(off, wt, ep_len)`` when the table has the pair structure of
      :func:`.rbwave._pair_shift` (shift ``s``): the fine point ``2 k + t`` reads the coarse points
      ``k + off[t, a]``, ``off[t] = ((t + s) // 2 - 1, (t + s) // 2)``, with weights ``wt[t, a, k]`` of
      ``dtype`` (float32 for the 3-D split levels, float64 for the 2-D post-smoothing); else None (then the
      kernels gather through the table)."""
    ri, rw = np.asarray(R[-2]), np.asarray(R[-1])
    aff = bool(_affine(ri, rw, n2))
    Wt = np.ascontiguousarray(rw.T, dtype=np.float32) if aff else np.zeros((1, 1), np.float32)
    pi, pw = np.asarray(P[-2]), np.asarray(P[-1])
    s = int(_pair_shift(pi, pw, nc2))
    if s < 0:
        return aff, Wt, None
    m = (n2 + 1) // 2 + 1
    off = np.array([[(t + s) // 2 - 1, (t + s) // 2] for t in range(2)], dtype=np.int64)
    wt = np.zeros((2, 2, m), dtype)
    for t in range(2):
        q = np.arange(t, n2, 2)
        wt[t, :, :q.size] = pw[q].T
    return aff, Wt, (off, wt, nc2 + m + 3)


#: levels with fewer points keep the natural layout: there the level's arrays stay in cache and the natural
#: kernels are not memory-bound, so the split pass and the extra arrays cost more than they save. MG-CG to
#: 1e-8, split / natural time, same process, interleaved, 2 threads (Xeon): 64^3 1.13 (only the finest level
#: split), 96^3 0.97, 128^3 0.87-0.89 (0.89-0.95 with its 63^3 level split too), 256^3 0.83 -- with the half
#: sweeps' row loops then (session 47: one loop per plane, :func:`._split_rows._half_plane`). With the plane
#: loops the threshold moved from 500 000 to 100 000 points: MG-CG time / the 500 000 threshold's, same
#: process, interleaved, medians of 3 x 7: 48^3 0.89, 64^3 0.83-0.89, 96^3 0.955, 128^3 0.96-0.98 (its 63^3 level
#: split), 160^3 0.93, 200^3 1.00, iterations and final residuals unchanged (3 digits); 25 000 and 10 000 measured
#: within +-2 % of 100 000 (64^3, 96^3, 128^3, 48^3)
MIN_POINTS = 100_000

#: ``max |f|`` outside ``[2^-LOG2_RANGE, 2^LOG2_RANGE]`` (and not 0) makes ``pre`` split ``f`` again, scaled by
#: a power of two (float32 holds about ``2^+-126``; the scaled unknowns stay within a few orders of ``f``)
LOG2_RANGE = 40


class SplitLevel:
    """The smoothing of one multigrid level in the red/black split layout, stored in float32 (see the module
    notes).

    The colour arrays hold the scaled unknowns ``X = s d x`` and right-hand side ``F = s f`` (``d`` the stencil's
    diagonal, ``s`` a power of two, 1 unless ``max |f|`` is far from 1), so a half sweep is
    ``X = F + sum_nb (w / d) X_nb`` with coefficients of size <= 1 and the values stay near those of ``f``:
    float32 keeps their range, and the level's arrays (two colours, two right-hand-side parts, the last-axis
    restricted residual: about 2.25x the level's points in float32, 9 bytes a point) cost half the memory
    traffic of float64. The coarse levels and the vectors ``pre`` and ``post`` exchange with the cycle stay
    float64. The cycle stays a fixed symmetric operator up to float32 rounding (about 6e-8 relative), far
    below what the preconditioner's own error moves CG; MG-CG iteration counts and final residuals
    measured unchanged (64^3, 96x80x72, 128^3).

    ``pre`` keeps the level's iterate in the colour arrays for the ``post`` of the same cycle (the cycle calls
    them in that order, one cycle at a time); the natural ``u`` is written only by ``post``."""

    def __init__(self, op, P, R, coarse_shape):
        shp = tuple(op.grid_shape)
        self.shape3, self.coarse3 = shp, tuple(coarse_shape)
        self.P, self.R = tuple(P), tuple(R)
        self.d = float(op._d)
        self.w = tuple(np.float32(wa / self.d) for wa in op._w)     # the coupling over the diagonal
        n0, n1, n2 = self.shape3
        self.n2 = n2
        m = (n2 + 1) // 2 + 1                          # one zero entry past every row's points
        f32 = np.float32
        # pooled (solvers._workspace: no page faults per build), not zeroed: every entry a kernel reads is
        # written first in each cycle (the split of f writes F and the first colour of X, a half sweep the
        # other colour, the interpolation buf, the residual RL), except the zero entries past each X row's
        # points -- zeroed here, never written
        E = _work.empty
        self.X = (E(np, (n0, n1, m), f32), E(np, (n0, n1, m), f32))
        for Xc in self.X:
            Xc[:, :, n2 // 2:] = 0.0                   # past the shorter rows' points (n2 // 2 of them)
        self.F = (E(np, (n0, n1, m), f32), E(np, (n0, n1, m), f32))
        self.buf = E(np, (self.coarse3[0], self.coarse3[1], 2, m), f32)
        self.aff, self.Wt, self.pairs = _last_axis_tables(self.P, self.R, n2, self.coarse3[2])
        self.T = pair_tables(n1, m, self.w[2])        # the along-row weights of the half sweeps' plane loop
        self.RL = E(np, (n0, n1, self.coarse3[2]), f32)     # the residual restricted along the last axis
        self._u0 = np.zeros((1, 1, 1))                     # placeholders for the arrays a phase does not use
        self._fb0 = np.zeros((1, 1, 1), np.uint64)
        self.s, self.fallback = 1.0, False                 # the current cycle's scale and route (set by pre)
        self.op, self._pbuf = op, None

    def _nchunks(self, count):
        # ranges of at least 2 (count + 1) + 2 planes (rbwave.nchunks_for)
        return max(1, min(nb.get_num_threads(), self.shape3[0] // (2 * (count + 1) + 2)))

    def _wave(self, pre, count, first, f, u, sc, cu, dot):
        X, F, (w0, w1, w2) = self.X, self.F, self.w
        pi0, pw0, pi1, pw1 = self.P[:4]
        fb = f.view(np.uint64) if pre else self._fb0           # f's bits: the split's max |f| (_split_plane)
        return wave(pre, int(count), int(first), f, fb, F[0], F[1], X[0], X[1], self.RL, u, self.n2, w0, w1, w2,
                    np.float32(1.0), sc, cu, self.aff, self.Wt, self.R[4], self.R[5], self.buf, pi0, pw0, pi1, pw1,
                    self._nchunks(count), dot, self.T)

    def _natural(self):
        """The natural-layout kernels of :mod:`.multigrid` (the cycle's usual route) and their work array."""
        if self._pbuf is None:
            self._pbuf = _mg.prolong_work(self.shape3, self.coarse3)
        return _mg

    def pre(self, f, u, out, first, count):
        """``count`` half sweeps from ``u = 0`` (colours from ``first``), then ``out = R (f - A u)``. ``u`` (the
        level's natural iterate: the same array as the ``post`` of this cycle) is written only where the scaled float32 unknowns cannot hold this ``f``
        (``s d`` outside ``2^+-1000``: a right-hand side near float64's own limits): then the cycle runs the
        natural float64 kernels on both sides."""
        if count < 1:
            raise ValueError("SplitLevel.pre: count must be >= 1")
        f3 = f.reshape(self.shape3)
        self.s, self.fallback = 1.0, False
        big = self._wave(True, count, first, f3, self._u0, 1.0, 1.0, False)
        if np.isfinite(big) and big > 0.0 and abs(math.frexp(big)[1]) > LOG2_RANGE:
            self.s = math.ldexp(1.0, -min(max(math.frexp(big)[1], -1000), 1000))   # stays a normal float64
            if not 2.0 ** -1000 < self.s * self.d < 2.0 ** 1000:
                self.fallback = True
                self._natural().smooth_residual_restrict(self.op, u.reshape(self.shape3), f3, first, count,
                                                         out.reshape(self.coarse3), self.R, None)
                return
            self._wave(True, count, first, f3, self._u0, self.s, 1.0, False)
        ri0, rw0, ri1, rw1 = self.R[:4]
        combine(self.RL, out.reshape(self.coarse3), ri0, rw0, ri1, rw1, 1.0 / self.s)

    def post(self, e, u, f, first, count, dot=False):
        """``u += P e`` on the iterate ``pre`` left, then ``count`` half sweeps; the natural ``u`` is written by
        the last one. Returns ``f . u`` when ``dot``, else None."""
        if count < 1:
            raise ValueError("SplitLevel.post: count must be >= 1")
        if self.fallback:
            return self._natural().prolong_sweeps(e.reshape(self.coarse3), u.reshape(self.shape3), self.P,
                                                  self._pbuf, self.op, f.reshape(self.shape3), first, count, dot)
        e3 = e.reshape(self.coarse3)
        g = self.s * self.d
        if self.pairs is not None:
            interp_last_pairs(e3, g, self.n2, *self.pairs, self.buf)
        else:
            interp_last_gather(e3, g, self.n2, self.P[4], self.P[5], self.buf)
        v = self._wave(False, count, first, self._u0, u.reshape(self.shape3), 1.0, 1.0 / g, bool(dot))
        return float(v) / self.s / g if dot else None          # in steps: s * g may underflow
