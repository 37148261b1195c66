"""Red-black Gauss-Seidel pre-smoothing on a red/black *split* layout of a 2-D multigrid level (Numba, constant
coefficients), with the post-smoothing in the natural float64 layout.

The 2-D twin of :mod:`.mgsplit` (which states the layout for 3-D): the points of colour ``c`` (``c = 0`` red,
``(i + k) % 2 == c``) of row ``i`` sit at ``k = 2 k' + t`` with ``t = (i + c) & 1`` and are stored contiguously
as ``X_c[i, k']``. A point of colour ``c`` reads only colour ``1 - c``: along the row ``X_{1-c}[i, k' - 1 + t]``
and ``X_{1-c}[i, k' + t]``, across it ``X_{1-c}[i +- 1, k']`` (the rows ``i +- 1`` have the same offset ``t``
for the other colour). Each colour array has ``m + 1`` entries per row, ``m = ceil(n1 / 2)``; the entries past a
row's points stay zero (the Dirichlet boundary). Values are float32 in the scaled unknowns of
:class:`.mgsplit.SplitLevel` (``X = s d x``, ``F = s f``), so a half sweep is ``X = F + sum (w / d) X_nb``.

:class:`SplitLevel2` does a level's two smoothing phases of the cycle, each in one wavefront pass over the rows
(the stage order and end-row phases of :mod:`.rbwave`): ``pre`` splits ``f`` (the first colour solved from
``u = 0`` on the way), runs the half sweeps, then forms the residual of the colour not relaxed last (the other
one's is zero) restricted along the row at once; the axis-0 restriction follows (:func:`combine2`). ``post``
(:func:`post_wave2`) writes the natural float64 ``u = X / (s d) + P e`` from the colour arrays and runs the
natural float64 half sweeps (:mod:`._stencil_rows`), the last one with ``f . u``.

Why only the pre-smoothing is float32 (sessions 35 and 43, commits ``ddd083b``, ``b1ee21d``, ``5f09c36``, all
reverted): float32 on both sides costs a CG iteration at 512^2-2048^2 (the rounding noise of the post-smoothed
vector is rough and ``A`` amplifies it by about cond(A)), while float32 before the coarse correction keeps the
float64 iteration counts and residual histories (1024^2: final residual 4.8399e-9 against 4.8395e-9). The
natural half sweep is a stride-2 row loop LLVM leaves scalar; the split one is contiguous and vectorised (16
float32 lanes with AVX-512). ``5f09c36`` also wrote the natural ``u`` in the pre-smoothing, so the level moved
more bytes than the natural one (1024^2 0.96-0.985x, 2048^2 1.23x); here ``post`` reads the float32 colour
arrays instead of a float64 ``u`` and ``pre`` writes no natural ``u``: MG-CG to 1e-8, split / natural, same
process, interleaved, Xeon, 2 threads (session 44): 512^2 0.967, 768^2 0.957, 1024^2 0.924 (L0 + L1; L0 alone
0.93), 1448^2 0.927, 2048^2 0.99 (L0 alone) and 1.04 (L0-L2) -- hence :data:`MAX_FINE_POINTS`.

Reference: U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.1 and 3.3;
G. Wellein et al., COMPSAC 2009 (the wavefront).
"""
import math

import numba as nb
import numpy as np

from ... import _workspace as _work
from .mgsplit import LOG2_RANGE, SplitLevel, _last_axis_tables
from .multigrid import _combine
from .rbwave import _bounds, _interp_row, _pair_shift, _pair_weights, _pdot
from ._split_rows2 import around, count, half_row, res_row, restrict_gather, restrict_row, split_row
from ._stencil_rows import _row2c


#: rows per wavefront block: a stage runs on a block of rows per call (one call per row cost as much as the
#: row's arithmetic: a 1024-long float32 row is 32 vector iterations per colour)
BLOCK = 8


@nb.njit(cache=True)
def _stage(st, blk, cnt, first, fb, bits, tc, f, F0, F1, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt, ri1,
           rw1):
    """Stage ``st`` of the pre-smoothing on the rows of block ``blk``: 0 splits ``f`` (and solves colour ``first``
    from ``u = 0``), raising ``bits[tc]`` to the largest ``|f|`` bits (:func:`._split_rows2.split_row`; ``tc``
    the chunk); ``1 .. cnt - 1`` are the half sweeps, ``cnt`` the residual restricted along the row into ``RL``."""
    r0, r1 = blk * BLOCK, min(n0, (blk + 1) * BLOCK)
    if st == 0:
        for i in range(r0, r1):
            bits[tc] = max(bits[tc], split_row(fb, f, F0, F1, X0, X1, i, n1, sc, first, cnt == 1))
        return
    if st < cnt:
        c = (first + st) & 1
        X, Y, F = (X0, X1, F0) if c == 0 else (X1, X0, F1)
        for i in range(r0, r1):
            im, ip, ca, cb = around(i, n0, w0)
            t = (i + c) & 1
            half_row(X, Y, F, i, im, ip, ca, cb, t, count(n1, t), w1)
        return
    c = (first + cnt - 1) & 1                      # the colour solved last: its residual is zero
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


@nb.njit(parallel=True, cache=True)
def pre_wave2(cnt, first, fb, f, F0, F1, X0, X1, RL, n1, w0, w1, sc, aff, Wt, ri1, rw1, nchunks):
    """The ``cnt + 1`` stages of :func:`_stage` over all row blocks in one pass (stage ``s`` on block ``b - s``
    at step ``b``; the end blocks of each range in serial phases after it, stage by stage, as in
    :mod:`.rbwave`: a block is a fat row, so the same order keeps every stage's neighbours one stage ahead).
    Returns ``max |f|`` (NaN where ``f`` has one)."""
    n0 = X0.shape[0]
    nblk = (n0 + BLOCK - 1) // BLOCK
    S = cnt + 1
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
                    _stage(st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff,
                           Wt, ri1, rw1)
    res = np.zeros(nres, dtype=X0.dtype)
    nat = np.empty(n1, dtype=X0.dtype)
    for st in range(1, S):                   # the end blocks of the ranges, stage by stage (serial)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, nblk, S)
            for p in range(s, s + lo * st):
                _stage(st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt,
                       ri1, rw1)
            for p in range(en - hi * st, en):
                _stage(st, p, cnt, first, fb, bits, t, f, F0, F1, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt,
                       ri1, rw1)
    return np.array([bits.max()]).view(np.float64)[0]


@nb.njit(parallel=True, cache=True)
def combine2(RL, out, ri0, rw0, g):
    """``out = g x`` the axis-0 restriction of ``RL`` (the residual already restricted along the rows)."""
    m0 = ri0.shape[1]
    for I in nb.prange(out.shape[0]):
        _combine(RL, ri0[I], rw0[I], m0, out[I])
        for k in range(out.shape[1]):
            out[I, k] *= g


@nb.njit(cache=True, fastmath={"contract"})
def _start_row(X0, X1, u, i, cu, buf, pi0, pw0):
    """Stage 0 of the post-smoothing on row ``i``: the natural float64 ``u[i] = cu X + (P e)[i]`` from the colour
    arrays ``pre`` left (``buf``: the coarse rows interpolated along the row)."""
    n1 = u.shape[1]
    A, B = (X0, X1) if i & 1 == 0 else (X1, X0)
    a0, a1 = pi0[i, 0], pi0[i, 1]
    x0, x1 = pw0[i, 0], pw0[i, 1]
    h = np.uint64(n1 // 2)
    one, two = np.uint64(1), np.uint64(2)
    for k in range(h):
        u[i, two * k] = cu * np.float64(A[i, k]) + (x0 * buf[a0, two * k] + x1 * buf[a1, two * k])
        u[i, two * k + one] = cu * np.float64(B[i, k]) + (x0 * buf[a0, two * k + one] + x1 * buf[a1, two * k + one])
    if n1 & 1:
        u[i, n1 - 1] = cu * np.float64(A[i, h]) + (x0 * buf[a0, n1 - 1] + x1 * buf[a1, n1 - 1])


@nb.njit(cache=True, inline="always")
def _post_stage(st, p, u, f, X0, X1, cu, w0, w1, d, first, buf, pi0, pw0, tmp):
    if st == 0:
        _start_row(X0, X1, u, p, cu, buf, pi0, pw0)
    else:
        _row2c(u, f, p, w0, w1, d, (first + st - 1) & 1, False, tmp)


@nb.njit(parallel=True, cache=True)
def post_wave2(u, f, X0, X1, cu, w0, w1, d, first, cnt, e, pi0, pw0, pi1, pw1, buf, nchunks, want_dot):
    """The post-smoothing of a split level in the natural float64 layout, one wavefront pass over the rows (the
    stage order and end-row phases of :func:`.rbwave.wave2`): stage 0 writes ``u = cu X + P e`` from the colour
    arrays, stages ``1 .. cnt`` are the natural half sweeps (colours from ``first``). Returns ``f . u`` when
    ``want_dot``, else 0."""
    n0, n1 = u.shape
    S = cnt + 1
    parts = np.zeros(nchunks)
    sh = _pair_shift(pi1, pw1, e.shape[1])          # the coarse grid interpolated along the rows
    W = _pair_weights(pw1, sh, e.shape[1])
    for I in nb.prange(e.shape[0]):
        _interp_row(e[I], buf[I], pi1, pw1, sh, W)
    for t in nb.prange(nchunks):
        tmp = np.empty(n1)
        s, en, lo, hi = _bounds(t, nchunks, n0, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _post_stage(st, p, u, f, X0, X1, cu, w0, w1, d, first, buf, pi0, pw0, tmp)
                    if want_dot and st == S - 1:
                        parts[t] += _pdot(u, f, p)
    tmp = np.empty(n1)
    for st in range(1, S):                           # the end rows of the ranges, stage by stage (serial)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, n0, S)
            for p in range(s, s + lo * st):
                _post_stage(st, p, u, f, X0, X1, cu, w0, w1, d, first, buf, pi0, pw0, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
            for p in range(en - hi * st, en):
                _post_stage(st, p, u, f, X0, X1, cu, w0, w1, d, first, buf, pi0, pw0, tmp)
                if want_dot and st == S - 1:
                    parts[t] += _pdot(u, f, p)
    return parts.sum()


#: 2-D levels with fewer points keep the natural layout (their arrays stay in cache; see the module notes)
MIN_POINTS = 200_000
#: and so do all levels of a hierarchy whose finest grid has this many points or more (2048^2: 1.04x slower
#: with its three largest levels split, 0.99x with the finest alone)
MAX_FINE_POINTS = 3_000_000


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
    """The smoothing of one 2-D multigrid level: the pre-smoothing in the red/black split layout, float32, the
    post-smoothing natural float64 from its colour arrays (module notes; the scaling, the range check and the
    natural fallback are those of :class:`.mgsplit.SplitLevel`)."""

    def __init__(self, op, P, R, coarse_shape):       # noqa: D107  (no super().__init__: 2-D arrays)
        shp = tuple(op.grid_shape)
        self.shape3, self.coarse3 = shp, tuple(coarse_shape)     # the names the parent's fallback uses
        self.P, self.R = tuple(P), tuple(R)
        self.d = float(op._d)
        f32 = np.float32
        self.w = tuple(f32(wa / self.d) for wa in op._w)
        n0, n1 = shp
        self.n1 = n1
        m = (n1 + 1) // 2 + 1                        # one zero entry past every row's points
        E = _work.empty                              # pooled; every entry read is written first in a cycle
        self.X = (E(np, (n0, m), f32), E(np, (n0, m), f32))
        for Xc in self.X:
            Xc[:, n1 // 2:] = 0.0                    # past the shorter rows' points
        self.F = (E(np, (n0, m), f32), E(np, (n0, m), f32))
        self.aff, self.Wt, _ = _last_axis_tables(self.P, self.R, n1, self.coarse3[1])
        self.RL = E(np, (n0, self.coarse3[1]), f32)
        self.s, self.fallback = 1.0, False
        self.op, self._pbuf = op, None

    def _nchunks(self, cnt):
        # ranges of at least 2 (cnt + 1) + 2 blocks (rbwave.nchunks_for)
        nblk = -(-self.shape3[0] // BLOCK)
        return max(1, min(nb.get_num_threads(), nblk // (2 * (cnt + 1) + 2)))

    def _post_nchunks(self, cnt):
        # row ranges of at least 2 (cnt + 1) + 2 rows (rbwave.nchunks_for)
        return max(1, min(nb.get_num_threads(), self.shape3[0] // (2 * (cnt + 1) + 2)))

    def _pre(self, cnt, first, f, sc):
        X, F, (w0, w1) = self.X, self.F, self.w
        return pre_wave2(int(cnt), int(first), f.view(np.uint64), f, F[0], F[1], X[0], X[1], self.RL, self.n1, w0,
                         w1, float(sc), self.aff, self.Wt, self.R[2], self.R[3], self._nchunks(cnt))

    def pre(self, f, u, out, first, count):
        """``count`` half sweeps from ``u = 0`` (colours from ``first``), then ``out = R (f - A u)`` (the
        contract of :meth:`.mgsplit.SplitLevel.pre`; ``u`` is written only by the natural fallback)."""
        if count < 1:
            raise ValueError("SplitLevel2.pre: count must be >= 1")
        f2 = f.reshape(self.shape3)
        self.s, self.fallback = 1.0, False
        big = self._pre(count, first, f2, 1.0)
        if np.isfinite(big) and big > 0.0 and abs(math.frexp(big)[1]) > LOG2_RANGE:
            self.s = math.ldexp(1.0, -min(max(math.frexp(big)[1], -1000), 1000))
            if not 2.0 ** -1000 < self.s * self.d < 2.0 ** 1000:
                self.fallback = True
                self._natural().smooth_residual_restrict(self.op, u.reshape(self.shape3), f2, first, count,
                                                         out.reshape(self.coarse3), self.R, None)
                return
            self._pre(count, first, f2, self.s)
        combine2(self.RL, out.reshape(self.coarse3), self.R[0], self.R[1], 1.0 / self.s)

    def post(self, e, u, f, first, count, dot=False):
        """``u = X / (s d) + P e`` from the colour arrays ``pre`` left, then ``count`` natural float64 half sweeps,
        in one pass (:func:`post_wave2`). Returns ``f . u`` when ``dot``, else None."""
        if count < 1:
            raise ValueError("SplitLevel2.post: count must be >= 1")
        nat = self._natural()
        if self.fallback:
            return nat.prolong_sweeps(e.reshape(self.coarse3), u.reshape(self.shape3), self.P, self._pbuf, self.op,
                                      f.reshape(self.shape3), first, count, dot)
        w0, w1 = self.op._w
        nch = self._post_nchunks(count)
        v = post_wave2(u.reshape(self.shape3), f.reshape(self.shape3), self.X[0], self.X[1], 1.0 / (self.s * self.d),
                       float(w0), float(w1), float(self.op._d), int(first), int(count), e.reshape(self.coarse3),
                       *self.P[:4], self._pbuf, nch, bool(dot))
        return float(v) if dot else None
