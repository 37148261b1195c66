"""Red-black Gauss-Seidel smoothing on a red/black *split* layout of a 2-D multigrid level (Numba, constant
coefficients): the pre-smoothing in float32, the post-smoothing in float64 colour rows.

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
one's is zero) restricted along the row at once; the axis-0 restriction follows (:func:`combine2`). The split
``f`` is read only within that pass, so each range of rows keeps it in rows of its own (a ring; session 47:
the grid-sized float32 pair it replaced was 4 MB written per cycle at 1024^2, MG-CG 0.983x at 1024^2, 0.97x at
512^2, alternating processes). ``post``
(:func:`post_split2`) forms ``u = X / (s d) + P e`` in float64 colour rows from the float32 arrays and runs the
half sweeps there (contiguous, vectorised), writing the natural ``u`` (and ``f . u``) after the last. Its inputs
``X``, ``e`` and ``f`` are read-only, so each thread's range of rows recomputes the ``count`` rows beyond its ends
that it depends on (no waiting between ranges) and keeps its working rows in a ring of ``count + 2`` rows that
stays in cache: it moves the bytes of the natural post-smoothing it replaced (session 46; that one updated ``u``
in place with a stride-2 loop LLVM left scalar) and MG-CG to 1e-8 took 0.96x the time at 1024^2 and 1448^2, 1.01x
at 512^2 (interleaved A/B, Xeon, 2 threads). Full float64 colour arrays instead of the ring were slower (two
more 8 MB streams at 1024^2: a stream written costs about half a fine matvec here). The coarse rows interpolated
along the row per parity (as in 3-D, float64 weights here) are formed by each range as its first stage needs
them, in a ring of three (:func:`_coarse_row`): session 47 wrote them into a grid-sized buffer first (4 MB at
1024^2) and read it back; session 48 dropped that buffer, and with unsigned indices (the signed ones carried a
wraparound test that kept the loop scalar) the 1024^2 post-smoothing went from 4.1 to 3.75 fine matvecs hot,
MG-CG to 1e-8 0.979x at 1024^2 and 0.988x at 128^3 (the 3-D buffer kernel, :func:`.mgsplit.interp_last_pairs`,
got the unsigned indices), alternating processes, 3 rounds.

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
from . import _idmemo
from .mgsplit import LOG2_RANGE, SplitLevel, _last_axis_tables, gather_row, pair_row
from .multigrid import _combine
from .rbwave import _bounds, _pdot
from ._split_rows2 import around, count, half_row, res_row, restrict_gather, restrict_row, split_row


#: rows per wavefront block: a stage runs on a block of rows per call (one call per row cost as much as the
#: row's arithmetic: a 1024-long float32 row is 32 vector iterations per colour)
BLOCK = 8


@nb.njit(cache=True, inline="always")
def _fslot(p, s, en, lo, hi, cnt):
    """The block of the chunk's ``F`` rows (:func:`pre_wave2`) that holds block ``p`` of the chunk ``[s, en)``:
    the ``cnt`` end blocks on each side that have a neighbouring range (they wait for the serial phases) keep
    their own, the others share a ring of ``cnt + 1`` blocks (block ``p`` is read from step ``p`` to
    ``p + cnt``)."""
    if p < s + lo * cnt:
        return p - s
    if p >= en - hi * cnt:
        return cnt + p - (en - hi * cnt)
    return 2 * cnt + p % (cnt + 1)


@nb.njit(cache=True)
def _stage(st, blk, cnt, first, fb, bits, tc, f, FR, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt, ri1, rw1,
           fo):
    """Stage ``st`` of the pre-smoothing on the rows of block ``blk``: 0 splits ``f`` (and solves colour ``first``
    from ``u = 0``), raising ``bits[tc]`` to the largest ``|f|`` bits (:func:`._split_rows2.split_row`; ``tc``
    the chunk); ``1 .. cnt - 1`` are the half sweeps, ``cnt`` the residual restricted along the row into ``RL``.
    The block's scaled ``f`` lives in the chunk's rows ``FR[:, tc]`` from row ``fo`` on (:func:`_fslot`)."""
    r0, r1 = blk * BLOCK, min(n0, (blk + 1) * BLOCK)
    F0, F1 = FR[0, tc], FR[1, tc]
    if st == 0:
        for i in range(r0, r1):
            bits[tc] = max(bits[tc], split_row(fb, f, F0, F1, X0, X1, i, fo + i - r0, n1, sc, first, cnt == 1))
        return
    if st < cnt:
        c = (first + st) & 1
        X, Y, F = (X0, X1, F0) if c == 0 else (X1, X0, F1)
        for i in range(r0, r1):
            im, ip, ca, cb = around(i, n0, w0)
            t = (i + c) & 1
            half_row(X, Y, F, i, fo + i - r0, im, ip, ca, cb, t, count(n1, t), w1)
        return
    c = (first + cnt - 1) & 1                      # the colour solved last: its residual is zero
    Xl, Yl, Gl = (X0, X1, F1) if c == 0 else (X1, X0, F0)
    for i in range(r0, r1):
        im, ip, ca, cb = around(i, n0, w0)
        t = (i + 1 - c) & 1
        mo = count(n1, t)
        res_row(res, Yl, Xl, Gl, i, fo + i - r0, im, ip, ca, cb, t, mo, w1)
        if aff:
            restrict_row(RL, i, res, t, Wt)
        else:
            restrict_gather(RL, i, res, nat, t, mo, n1, ri1, rw1)


@nb.njit(parallel=True, cache=True)
def pre_wave2(cnt, first, fb, f, X0, X1, RL, n1, w0, w1, sc, aff, Wt, ri1, rw1, nchunks):
    """The ``cnt + 1`` stages of :func:`_stage` over all row blocks in one pass (stage ``s`` on block ``b - s``
    at step ``b``; the end blocks of each range in serial phases after it, stage by stage, as in
    :mod:`.rbwave`: a block is a fat row, so the same order keeps every stage's neighbours one stage ahead).
    The scaled ``f`` split by colour is read only within the pass: each range keeps it in rows of its own
    (a ring, and the end blocks that wait for the serial phases: :func:`_fslot`), never a grid-sized array.
    Returns ``max |f|`` (NaN where ``f`` has one)."""
    n0 = X0.shape[0]
    nblk = (n0 + BLOCK - 1) // BLOCK
    S = cnt + 1
    bits = np.zeros(nchunks, dtype=np.uint64)
    nres = max(RL.shape[1] + Wt.shape[0], X0.shape[1]) + 2
    FR = np.empty((2, nchunks, (3 * cnt + 1) * BLOCK, X0.shape[1]), dtype=X0.dtype)
    for t in nb.prange(nchunks):
        res = np.zeros(nres, dtype=X0.dtype)
        nat = np.empty(n1, dtype=X0.dtype)
        s, en, lo, hi = _bounds(t, nchunks, nblk, S)
        for i in range(s, en + S - 1):
            for st in range(S):
                p = i - st
                if s + lo * st <= p < en - hi * st:
                    _stage(st, p, cnt, first, fb, bits, t, f, FR, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff,
                           Wt, ri1, rw1, BLOCK * _fslot(p, s, en, lo, hi, cnt))
    res = np.zeros(nres, dtype=X0.dtype)
    nat = np.empty(n1, dtype=X0.dtype)
    for st in range(1, S):                   # the end blocks of the ranges, stage by stage (serial)
        for t in range(nchunks):
            s, en, lo, hi = _bounds(t, nchunks, nblk, S)
            for p in range(s, s + lo * st):
                _stage(st, p, cnt, first, fb, bits, t, f, FR, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt,
                       ri1, rw1, BLOCK * _fslot(p, s, en, lo, hi, cnt))
            for p in range(en - hi * st, en):
                _stage(st, p, cnt, first, fb, bits, t, f, FR, X0, X1, RL, res, nat, n0, n1, w0, w1, sc, aff, Wt,
                       ri1, rw1, BLOCK * _fslot(p, s, en, lo, hi, cnt))
    return np.array([bits.max()]).view(np.float64)[0]


@nb.njit(parallel=True, cache=True)
def combine2(RL, out, ri0, rw0, g):
    """``out = g x`` the axis-0 restriction of ``RL`` (the residual already restricted along the rows)."""
    m0 = ri0.shape[1]
    for I in nb.prange(out.shape[0]):
        _combine(RL, ri0[I], rw0[I], m0, out[I])
        for k in range(out.shape[1]):
            out[I, k] *= g


@nb.njit(cache=True)
def _coarse_row(e, a, CB, q, ep, n1, off, wt, pi1, pw1):
    """Ring slot ``q`` of ``CB`` = the coarse row ``e[a]`` interpolated along the row at the fine points
    ``2 k + t`` (``CB[q, t, k]``, float64): :func:`.mgsplit.pair_row` when ``off`` has rows (the pair tables),
    else :func:`.mgsplit.gather_row` through the index table ``pi1, pw1``."""
    if off.shape[0] == 2:
        pair_row(e[a], ep, CB[q], n1, off, wt, 1.0)
    else:
        gather_row(e[a], CB[q], n1, pi1, pw1, 1.0)


@nb.njit(cache=True, fastmath={"contract"})
def _start64(X0, X1, Z0, Z1, G0, G1, f, i, j, cu, dinv, CB, q0, q1, x0, x1, first):
    """Stage 0 of :func:`post_split2` on row ``i`` into ring row ``j``: the float64 colour row
    ``Z = cu X + P e`` of the colour NOT relaxed first from ``pre``'s float32 one (``P e``: ``x0 b[a0] + x1 b[a1]``,
    ``CB[q, t]`` the coarse row ``a`` interpolated along the row at the fine points ``2 k + t``, :func:`_coarse_row`,
    in slot ``q0`` / ``q1`` of the range's ring; the first half
    sweep writes the other colour from this one and ``G`` alone, so its ``Z`` would be overwritten unread) and
    ``G = f / d``; one contiguous loop per output row (one loop for all four had too many arrays for LLVM's alias
    checks: scalar, 1.4x slower)."""
    n1 = f.shape[1]
    if i & 1 == 0:
        A, B, ZA, ZB, GA, GB = X0, X1, Z0, Z1, G0, G1
    else:
        A, B, ZA, ZB, GA, GB = X1, X0, Z1, Z0, G1, G0
    h = np.uint64(n1 // 2)
    ha = np.uint64((n1 + 1) // 2)                  # A's colour holds the even points: one more for odd n1
    one, two = np.uint64(1), np.uint64(2)
    for k in range(h):
        GA[j, k] = f[i, two * k] * dinv
        GB[j, k] = f[i, two * k + one] * dinv
    if n1 & 1:
        GA[j, h] = f[i, n1 - 1] * dinv
        ZB[j, h] = 0.0                              # past the row for B's colour (the ring row may have held the
    if (i & 1) != first:                            # other parity); A's colour is i & 1
        for k in range(ha):
            ZA[j, k] = cu * np.float64(A[i, k]) + (x0 * CB[q0, 0, k] + x1 * CB[q1, 0, k])
    else:
        for k in range(h):
            ZB[j, k] = cu * np.float64(B[i, k]) + (x0 * CB[q0, 1, k] + x1 * CB[q1, 1, k])


#: coarse rows interpolated along the row that a range of :func:`post_split2` keeps (a ring: the fine row ``p``
#: reads the coarse rows ``pi0[p, 0], pi0[p, 1]``, at most ``RING_COARSE - 1`` apart, in order)
RING_COARSE = 3


@nb.njit(cache=True, inline="always")
def _ensure(e, a, CB, tag, ep, n1, off, wt, pi1, pw1):
    """The ring slot holding coarse row ``a``, interpolated on first use."""
    q = a % RING_COARSE
    if tag[q] != a:
        _coarse_row(e, a, CB, q, ep, n1, off, wt, pi1, pw1)
        tag[q] = a
    return q


@nb.njit(cache=True)
def _merge_row(Z0, Z1, u, i, j):
    """The natural row ``u[i]`` from the colour rows ``j`` of the ring."""
    n1 = u.shape[1]
    A, B = (Z0, Z1) if i & 1 == 0 else (Z1, Z0)
    h = np.uint64(n1 // 2)
    one, two = np.uint64(1), np.uint64(2)
    for k in range(h):
        u[i, two * k] = A[j, k]
        u[i, two * k + one] = B[j, k]
    if n1 & 1:
        u[i, n1 - 1] = A[j, h]


@nb.njit(cache=True)
def _post_rows(u, f, X0, X1, cu, w0, w1, dinv, first, cnt, s, en, e, pi0, pw0, off, wt, pi1, pw1, want_dot):
    """Rows ``[s, en)`` of :func:`post_split2`: the wavefront over ``[s - cnt, en + cnt)`` (clipped to the grid),
    stage ``st`` on the rows that the final rows depend on (``cnt - st`` beyond each end), in a ring of
    ``cnt + 2`` float64 colour rows, the coarse rows of ``e`` interpolated along the row as stage 0 first needs
    them (a ring of :data:`RING_COARSE`). Returns the rows' ``f . u`` when ``want_dot``."""
    n0, n1 = u.shape
    R = cnt + 2                                     # row p lives from step p to step p + cnt + 1
    m = (n1 + 1) // 2 + 1
    Z0 = np.zeros((R, m))                           # zero past every row's points: the Dirichlet boundary
    Z1 = np.zeros((R, m))
    G0 = np.empty((R, m))
    G1 = np.empty((R, m))
    CB = np.zeros((RING_COARSE, 2, m))
    tag = np.full(RING_COARSE, -1, dtype=np.int64)
    ep = np.zeros(e.shape[1] + m + 3)               # a coarse row zero-padded (one entry before it)
    dot = 0.0
    for i in range(max(0, s - cnt), min(n0, en + cnt) + cnt):
        for st in range(cnt + 1):
            p = i - st
            if not max(0, s - cnt + st) <= p < min(n0, en + cnt - st):
                continue
            j = p % R
            if st == 0:
                q0 = _ensure(e, pi0[p, 0], CB, tag, ep, n1, off, wt, pi1, pw1)
                q1 = _ensure(e, pi0[p, 1], CB, tag, ep, n1, off, wt, pi1, pw1)
                _start64(X0, X1, Z0, Z1, G0, G1, f, p, j, cu, dinv, CB, q0, q1, pw0[p, 0], pw0[p, 1], first)
                continue
            c = (first + st - 1) & 1
            X, Y, G = (Z0, Z1, G0) if c == 0 else (Z1, Z0, G1)
            ca = w0 if p > 0 else 0.0
            cb = w0 if p < n0 - 1 else 0.0
            jm = (p - 1) % R if p > 0 else j
            jp = (p + 1) % R if p < n0 - 1 else j
            t = (p + c) & 1
            half_row(X, Y, G, j, j, jm, jp, ca, cb, t, count(n1, t), w1)
            if st == cnt:
                _merge_row(Z0, Z1, u, p, j)
                if want_dot:
                    dot += _pdot(u, f, p)
    return dot


@nb.njit(parallel=True, cache=True)
def post_split2(u, f, X0, X1, cu, w0, w1, d, first, cnt, e, pi0, pw0, off, wt, pi1, pw1, nchunks, want_dot):
    """The post-smoothing of a split level: ``u = cu X + P e`` from ``pre``'s colour arrays (the coarse rows of
    ``e`` interpolated along the row per parity as they are needed: :func:`_coarse_row`, with the pair tables
    ``off, wt`` of :func:`.mgsplit._last_axis_tables` when ``off`` has two rows, else the index tables
    ``pi1, pw1``), then ``cnt`` half sweeps (colours from ``first``), in float64 colour rows (contiguous,
    vectorised), each range of rows in one wavefront whose working rows stay in a small ring
    (:func:`_post_rows`): the inputs ``X``, ``e`` and ``f`` are read-only, so a range recomputes the ``cnt`` rows
    (and interpolates the coarse rows) beyond each end it depends on instead of waiting for its neighbours.
    Returns ``f . u`` when ``want_dot``, else 0."""
    n0 = u.shape[0]
    dinv = 1.0 / d
    parts = np.zeros(nchunks)
    for t in nb.prange(nchunks):
        parts[t] = _post_rows(u, f, X0, X1, cu, w0 * dinv, w1 * dinv, dinv, first, cnt, t * n0 // nchunks,
                              (t + 1) * n0 // nchunks, e, pi0, pw0, off, wt, pi1, pw1, want_dot)
    return parts.sum()


#: 2-D levels with fewer points keep the natural layout (their arrays stay in cache; see the module notes)
MIN_POINTS = 200_000
#: the same for the coarse levels of a split hierarchy (their input is the restriction the finer level just
#: wrote): session 47 measured MG-CG with the 255^2 level split too 0.989x at 1024^2, 0.966x at 768^2, 0.988x
#: at 512^2 (in one process, interleaved) where a 256^2 finest grid split cost 1.036x
MIN_POINTS_COARSE = 50_000
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
    d = float(op._d)
    if not (math.isfinite(d) and d > 0.0 and all(math.isfinite(w) and abs(w) <= d for w in map(float, op._w))):
        return False
    return _taps_close(P[0])          # the post-smoothing's ring of coarse rows (RING_COARSE) holds both taps


_TAPS: dict = {}                      # whether a table's two taps are < RING_COARSE apart, by its identity


def _taps_close(pi0) -> bool:
    def check():
        a = np.asarray(pi0)
        return bool(a.ndim == 2 and a.shape[1] == 2 and np.all(np.abs(a[:, 1] - a[:, 0]) < RING_COARSE))
    return _idmemo.memo(_TAPS, (pi0,), None, check)


class SplitLevel2(SplitLevel):
    """The smoothing of one 2-D multigrid level: the pre-smoothing in the red/black split layout, float32, the
    post-smoothing float64 from its colour arrays (module notes; the scaling, the range check and the
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
        self.aff, self.Wt, _ = _last_axis_tables(self.P, self.R, n1, self.coarse3[1])
        # the post-smoothing's interpolation along the row: float64 pair weights (its sums are float64)
        self.pairs = _last_axis_tables(self.P, self.R, n1, self.coarse3[1], np.float64)[2]
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
        X, (w0, w1) = self.X, self.w
        return pre_wave2(int(cnt), int(first), f.view(np.uint64), f, X[0], X[1], self.RL, self.n1, w0, w1, float(sc),
                         self.aff, self.Wt, self.R[2], self.R[3], self._nchunks(cnt))

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
        """``u = X / (s d) + P e`` from the colour arrays ``pre`` left, then ``count`` float64 half sweeps, in one
        pass (:func:`post_split2`). Returns ``f . u`` when ``dot``, else None."""
        if count < 1:
            raise ValueError("SplitLevel2.post: count must be >= 1")
        if self.fallback:
            return self._natural().prolong_sweeps(e.reshape(self.coarse3), u.reshape(self.shape3), self.P,
                                                  self._pbuf, self.op, f.reshape(self.shape3), first, count, dot)
        if self.pairs is not None:
            off, wt = self.pairs[0], self.pairs[1]
        else:
            off, wt = np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2, 1))
        w0, w1 = self.op._w
        v = post_split2(u.reshape(self.shape3), f.reshape(self.shape3), self.X[0], self.X[1], 1.0 / (self.s * self.d),
                        float(w0), float(w1), float(self.op._d), int(first), int(count), e.reshape(self.coarse3),
                        self.P[0], self.P[1], off, wt, self.P[2], self.P[3], self._post_nchunks(count), bool(dot))
        return float(v) if dot else None
