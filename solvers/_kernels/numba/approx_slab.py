"""The slab form of the Chebyshev–Tucker ``table`` route (Numba): the last mode interpolated on the
contracted core.

The table route (:mod:`solvers.approx._table`) interpolates every factor column by order-``p``
Lagrange interpolation in :math:`\\theta = \\arccos t` on a uniform grid, then contracts the core
with the interpolated rows: per point ``r_1 \\cdots r_d`` multiply-adds for the core. Interpolation
is linear, so for the last mode it can be applied to the core already contracted with that mode's
tabulated rows instead,

.. math:: \\sum_c G_{\\dots c}\\, u_{d,c}(\\theta) = \\sum_{l < p} w_l(\\theta)\\, S_{k_0 + l},
   \\qquad S_k = G \\times_d g_d(\\theta_k)\\ \\ (\\text{one } r_1 \\cdots r_{d-1} \\text{ slab per grid node}),

which is the same number up to rounding (the same nodes, the same weights) and costs
``p r_1 \\cdots r_{d-1}`` multiply-adds per point instead of ``r_1 \\cdots r_d``: ``r_d / 8`` times
less at ``p = 8``. The slabs (``(G_d + p + 1) x r_1 \\cdots r_{d-1}``, one GEMM at first use, kept on
the packed form) are read in grid order: the points are bucketed by their stencil's first node
(a counting sort, ``O(N + G_d)``), so each block of points reads a few consecutive slabs from cache
and the multiply-adds run over the points innermost. The other modes' rows come from their tables
as in :func:`solvers._kernels.numba.approx.evaluate_table`.

Values (:func:`evaluate`): the points of a work item (at most :func:`tile_for` of one first node ``c``) get
the rows of modes ``0 .. d-2`` from their tables, then one GEMM ``Y = [S_c; ...; S_{c+7}] B`` (the eight
slabs as a ``(8 r_1 \\cdots r_{d-2}) x r_{d-1}`` matrix, ``B`` the mode ``d-2`` rows of the item's
points: the generated fixed-shape kernels of :mod:`._slab_gemm` where that rank is at most 32, zero-padded to a
multiple of 4, else BLAS, 45-56 GFLOP/s per thread measured on the AVX-512 Xeon) and per point
:math:`\\sum_l w_l\\, A' \\cdot Y_l` with ``A'`` the outer product of the rows of modes ``0 .. d-3``. This
replaced per-point dot products with the row outer product ``K`` (two points at a time, about 85 % of
the FMA peak of 256-bit code but with ``K`` formed per point): (20,20,20) 203 -> 155 ms per 10^6 points,
(32,32,32) 436 -> 260 ms (2 threads, same process, ``/tmp/s8/abslab.py``). Gradients keep that
per-point form (:func:`._slab_points._evaluate`). Used by ``evaluate_table`` / ``gradient_table`` of the Numba kernel
set when it pays (:func:`use_slab`).
"""
import numba as nb
import numpy as np

from ..numpy.approx import check_points, check_table
from ..scratch import borrow_shared, take
from ._slab_cells import (TERMS, TRUNC_FRACTION, _chebyshev6, _combine6, _combine8,  # noqa: F401 (re-exported)
                          cell_chebyshev, slab_terms, term_norms)
from ._slab_order import order
from ._slab_points import _evaluate
from ._table_rows import _block_rows_into, _row_work, _weights8
from ._slab_gemm import KMAX as _SLAB_KMAX, gemm as _gemm_fixed
from .approx import BLAS_SERIAL, check_outputs

#: cost model of :func:`use_slab`, nanoseconds per point and thread: slab ~ SLAB_NS[0] + SLAB_NS[1] * P +
#: (ITEM_NS[0] + ITEM_NS[1] * P) * L / n with P = r_1 ... r_{d-1} and L / n the grid nodes per point (each
#: node's last, padded work item), the ordering included; the plain table route ~ GEMM_NS[0] + GEMM_NS[1] *
#: r_1 ... r_d. Weighted least squares on direct calls of both kernels (d = 3, m = 129, random orthonormal
#: factors, 2 threads, AVX-512 Xeon, ranks 5 .. 32 x 10^4 .. 10^6 points, ``/tmp/s22/fit.py``, session 22,
#: after the parallel ordering of :mod:`._slab_order`): it picks the faster form in 39 of the 40 cases, the
#: other a 5 % tie at rank 15, 10^5 points. The slab form now wins from rank 15 at 3 10^5 points (rank 15,
#: 10^6 points: 177 against 198 ns), where the model of session 8 (serial ordering) kept the plain route.
SLAB_NS = (94.5, 0.245)
ITEM_NS = (838.0, 4.97)
GEMM_NS = (72.5, 0.0310)
#: the plain route's line where OpenBLAS runs narrower kernels than the CPU has (:func:`fixed_gemm`: the slab form
#: then runs its own 512-bit GEMMs, the plain route still BLAS's): a least-squares line through rank 8, 10, 12, 15
#: at 10^6 points (94, 135, 176, 245 ns per point and thread; d = 3, m = 129, 2 threads, Zen 5, OpenBLAS Haswell
#: kernels, ``/tmp/s34/model.py``, session 34). With it the model picks the faster form in 11 of the 12 cases of
#: that run (10^5, 3 10^5, 10^6 points x those ranks; the other, rank 10 at 10^6 points, slab 10 % faster) and in
#: 10 of 12 of a second run (the others within 1 % and 7 %); with :data:`GEMM_NS` it kept the plain route at rank
#: 12 (10^6 points: 88 ms against the slab form's 65).
GEMM_NS_NARROW = (67.5, 0.0526)
#: the same for gradients (value and d derivatives; ad-hoc ``/tmp/s6/gradslab.py``, 2e5 points): slab form
#: ~ SLAB_GRAD_NS[0] + SLAB_GRAD_NS[1] * r_1 ... r_{d-1}, plain ~ GRAD_NS[0] + GRAD_NS[1] * r_1 ... r_d
SLAB_GRAD_NS = (850.0, 2.25)
GRAD_NS = (666.0, 0.103)
#: fewest points per grid node of the last mode (the slabs are made once per packed form, and the
#: bucketing costs ``O(G_d)``: below this the plain route is used)
MIN_POINTS_PER_NODE = 2
#: the process-wide work arrays of the bucketing (:func:`solvers._kernels.scratch.borrow_shared`)
WORK = "approx.slab"
#: largest slab table kept on a packed form, in bytes
MAX_BYTES = 256 * 2 ** 20
#: points per parallel work item (gradients)
CHUNK = 256
#: points per GEMM work item of the values (:func:`_evaluate_gemm`; padded to it): :data:`TILE`, or
#: :data:`TILE_LARGE` from :data:`TILE_LARGE_FROM` points per grid node of a batch (:func:`tile_for`). Session 8
#: measured 32 faster than 64 and 128 at 10^4 .. 10^6 points in batches of 2^18; with batches of 2^20
#: (:data:`BATCH`), interleaved in one process (rank 20, m = 129, 2 threads, Zen 5, ``/tmp/s29/tile2.py``,
#: session 29): 10^5 points (47 per node) 14.3 ms at 32 against 15.6 at 64; 3 10^5 points (140 per node)
#: 35.6 against 34.5; 10^6 points see :data:`BATCH`.
TILE = 32
TILE_LARGE = 64
TILE_LARGE_FROM = 96
#: points per batch of :func:`evaluate` (bounds its work arrays, about 64 bytes per point of a batch, kept
#: between calls: :mod:`solvers._kernels.scratch`). Session 29, 10^6 points, 2 threads, Zen 5, interleaved,
#: medians of 7 (``/tmp/s29/tile2.py``; the call batch :data:`solvers.approx._calls.CALL_BATCH` the same):
#: batches of 2^18 at tile 32 against 2^20 at tile 64, rank 20: 118 -> 106 ms with OpenBLAS's AVX-512
#: kernels, 204 -> 165 ms with its AVX2 (Haswell) kernels; rank 15 (AVX-512) 104 -> 86 ms. More points per
#: grid node per batch: each node's eight slabs serve more work items while they are in cache.
BATCH = 1 << 20


def slab_bytes(packed) -> int:
    """Bytes of the slab table of ``packed`` (float64)."""
    r = [int(k) for k in packed.r]
    L = int(packed.tG[-1]) + int(packed.tp) + 1
    return 8 * L * int(np.prod(r[:-1]))


def use_slab(packed, n: int, gradient: bool = False) -> bool:
    """Whether :func:`evaluate` (:func:`gradient` with ``gradient``) is the faster form for ``n`` points:
    order 8, ``d >= 2``, slabs within :data:`MAX_BYTES` (two with ``gradient``: values and derivatives), at
    least :data:`MIN_POINTS_PER_NODE` points per grid node, and the cost model (:data:`SLAB_NS`,
    :data:`ITEM_NS`, :data:`GEMM_NS`; :data:`SLAB_GRAD_NS`, :data:`GRAD_NS`) in its favour. Measured
    (direct calls, random points, 2 threads, Xeon, ns per point and thread, plain / slab, session 22):
    (15,15,15) 10^6 points 198 / 177, (20,20,20) 343 / 228, (32,32,32) 981 / 361; at (20,20,20) the slab
    form wins from about 50 points per grid node (3 10^4 points: 339 / 382, 10^5: 344 / 248). Gradients (``/tmp/s6/gradslab.py``, Zen 4, points/s) (20,20,20) 1.34e6 -> 1.15e6 (not taken),
    (32,32,32) 4.3e5 -> 5.7e5, (62,16,62) 3.0e5 -> 5.9e5, (65,64,65) 7.0e4 -> 2.0e5."""
    if packed.d < 2 or int(packed.tp) != 8 or (gradient and getattr(packed, "dtG", None) is None):
        return False
    r = [int(k) for k in packed.r]
    prefix = int(np.prod(r[:-1]))
    L = int(packed.tG[-1]) + int(packed.tp) + 1
    nbytes = slab_bytes(packed)
    if gradient:                                  # the derivative slabs too, on the derivative table's grid
        dL = int(packed.dtG[-1]) + int(packed.tp) + 1
        nbytes += 8 * dL * prefix
        L = max(L, dL)
    if n < MIN_POINTS_PER_NODE * L or nbytes > MAX_BYTES:
        return False
    if gradient:
        return SLAB_GRAD_NS[0] + SLAB_GRAD_NS[1] * prefix < GRAD_NS[0] + GRAD_NS[1] * prefix * r[-1]
    per_item = (ITEM_NS[0] + ITEM_NS[1] * prefix) * L / n
    g0, g1 = GEMM_NS_NARROW if fixed_gemm() else GEMM_NS
    return SLAB_NS[0] + SLAB_NS[1] * prefix + per_item < g0 + g1 * prefix * r[-1]


def slabs(packed, tR, r_off, rpad, derivative=False):
    """``S`` (``(G_d + p + 1) x r_1 \\cdots r_{d-1}``): row ``k`` is the core contracted in its last mode
    with that mode's tabulated rows at grid node ``k`` (one GEMM; made once and kept on ``packed``). With
    ``derivative``, from the derivative table of the last mode (``tR``, ``r_off``: the derivative tables)."""
    key = "_nb_dslab" if derivative else "_nb_slab"
    got = getattr(packed, key, None)
    if got is None:
        d = packed.d
        rl = int(packed.r[d - 1])
        L = int((packed.dtG if derivative else packed.tG)[d - 1]) + int(packed.tp) + 1
        T = tR[r_off[d - 1]:r_off[d]].reshape(L, int(rpad[d - 1]))[:, :rl]
        G = np.asarray(packed.core).reshape(-1, rl)
        got = np.ascontiguousarray(T @ G.T).reshape(-1)
        setattr(packed, key, got)
    return got


@nb.njit(cache=True, parallel=True)
def _scatter(vals, perm, out):
    for k in nb.prange(perm.shape[0]):
        out[perm[k]] = vals[k]


@nb.njit(cache=True, parallel=True)
def _evaluate_gemm(SL, Acoef, tR, r_off, rpad, tG, p, inv_den, r, tb, Cb, Sb, items, perm, out, tile, nchunks, fixed):
    """Values by the slab form, one GEMM per work item (``items``: at most ``tile`` points of one first
    node ``c``; ``tb``, ``Cb``, ``Sb`` the points in bucket order and ``perm`` their places, from
    :func:`solvers._kernels.numba._slab_order.order`): the rows of modes
    ``0 .. d-2`` from their tables, ``Y = [S_c; ...; S_{c+7}] B`` with the eight slabs as a
    ``(8 r_0 \\cdots r_{d-3}) x r_{d-2}`` matrix and ``B`` the mode ``d-2`` rows (``r_{d-2} x tile``, BLAS),
    then ``out[perm[q]] = sum_l w_l(q) A'_q . Y[l, :, q]`` with ``A'`` the outer product of the rows of modes
    ``0 .. d-3`` (:func:`_combine8`). Every item is padded to ``tile`` points, or to :data:`TILE` (below), as
    the plain route pads its blocks, and the GEMMs have fixed row blocks, so every kernel and BLAS call has one of
    the two shapes a call's batches can have whatever the item: a point's value does not depend on the other
    points of its item (BLAS and the vectorised loops round differently by position and size otherwise).
    Between batches the tile can differ (:func:`tile_for`: 32 or 64 columns) but the row blocks of the GEMMs do not;
    so blocked, OpenBLAS's Haswell and SkylakeX kernels gave bitwise the same values at both tiles (d = 3, ranks
    9-20; d = 4; session 29 and its review), which other BLAS builds need not. The items run in ``nchunks``
    parallel ranges, each allocating its work arrays once (4-6 % faster than per item). A node's last item, when it
    fits in :data:`TILE` points, runs at that width within a batch of tile :data:`TILE_LARGE` (the same two shapes
    as between batches, so the values are bitwise those of the full width: 1.5e6 values of five rank sets, both of
    OpenBLAS's kernel sets here; less padding: rank 20, 10^6 points, 1-5 % faster, alternating runs, session 33).
    The points as the GEMM's rows instead (``Y^T = B^T S^T``, the factor rows then read point-major with no
    transposes) measured 4 % faster per call, but OpenBLAS's SkylakeX kernels round a GEMM row by its position and
    the GEMM's row count (ranks (4, 40, 41): 42366 of 59309 values changed with the call's size, review
    helper-118), so it was not kept. Gathering the points
    in their own pass measured faster than reading them through ``perm`` here (random reads in the items).

    The GEMM: where ``fixed`` (:func:`fixed_gemm`) and ``r_{d-2} <= 32`` (:func:`pad_rank`), the generated kernel
    of :mod:`._slab_gemm` on the block with its columns zero-padded to a multiple of 4 (copied once per node) and
    ``B`` copied into a zero-padded, 64-byte aligned buffer, ``Y`` aligned too. Its every entry is one fixed chain
    of FMAs, so a value does not depend on the item's width, and this product not on the BLAS build (the slab
    table and the cells' Chebyshev terms it reads are still made by BLAS: review helper-119 found 38082 of 40900
    values differing in the last bits between OpenBLAS's Haswell and SkylakeX kernels with these kernels
    forced). Rank 20 (slab terms 6: 120 x 20 x 64 per item), 10^6 points, 2 threads, Zen 5, OpenBLAS on its
    Haswell kernels, alternating runs (``/tmp/s34/thr.py``, session 34): padded to a multiple of 8 (24), 91.6-93.8
    ms against 113-126 ms with BLAS; to a multiple of 4 (no padding at 20), 80.7-86.6 against 90.2-97.2 ms for
    the multiple of 8 (16 kernels instead of 8: 5.6 against 2.4 s to compile them cold, once). With OpenBLAS's
    AVX-512 (SkylakeX) kernels BLAS was the faster at the multiple of 8 (77-94 against 92-131 ms), hence
    :func:`fixed_gemm`. Otherwise BLAS in fixed row blocks as before.

    ``Acoef``: with 8 rows, the eight nodal slabs and the Lagrange weights as above; with six
    (:func:`cell_chebyshev`, :func:`slab_terms`), the cell's Chebyshev terms ``M = Acoef [S_c; ...; S_{c+7}]``
    (made once per run of items of one node) in place of the slabs and ``T_k(u)`` in place of the weights."""
    d = tb.shape[1] + 1
    rb = r[d - 2]
    nA = 1
    rmax = 1
    for i in range(d - 2):
        nA *= r[i]
    for i in range(d - 1):
        rmax = max(rmax, r[i])
    K = Acoef.shape[0]
    M = K * nA
    npre = nA * rb
    # row blocks: each GEMM below OpenBLAS's threading limit at the largest tile, the same blocks at every tile
    # (OpenBLAS's Haswell edge kernels round by where a GEMM is split: tile-dependent blocks made a value depend
    # on the call's size, 221 of 25290 values by up to 9e-16 at d = 4; review helper-113)
    rows = max(1, BLAS_SERIAL // max(1, rb * TILE_LARGE))
    # the generated fixed-shape kernels (_slab_gemm) in place of BLAS: the rank r_{d-2} zero-padded to kp
    kp = pad_rank(rb) if fixed else 0
    nit = items.shape[0]
    for ch in nb.prange(nchunks):
        Sw = np.empty(tile)
        W = np.empty((8, tile))
        Uf = np.empty(d * rmax * tile)
        S, A, C, Wr, Up = _row_work(tile, p, rpad, d - 1)
        Apf = np.empty(nA * tile)
        Yf = _aligned(np.empty(M * tile + 8), M * tile)
        v = np.empty(tile)
        Mc = np.empty((K, npre))                  # the cell's Chebyshev terms (K < 8)
        Ak = np.zeros((M, max(kp, 1)))            # the slab block, its columns zero-padded to kp
        Bk32 = _aligned(np.zeros(max(kp, 1) * TILE + 8), max(kp, 1) * TILE).reshape(max(kp, 1), TILE)
        Bk64 = _aligned(np.zeros(max(kp, 1) * TILE_LARGE + 8), max(kp, 1) * TILE_LARGE).reshape(max(kp, 1),
                                                                                                 TILE_LARGE)
        last = -1
        lastk = -1
        for it in range(ch * nit // nchunks, (ch + 1) * nit // nchunks):
            q0 = items[it, 0]
            P = items[it, 1]
            c = Cb[q0]
            for q in range(tile):
                Sw[q] = Sb[q0 + q] if q < P else 3.5
            if K == 8:
                _weights8(Sw, W, inv_den)
            else:
                _chebyshev6(Sw, W)
            # GEMM columns: the tile, or TILE when the item fits in it (a node's last item): the two shapes the
            # batches of a call can have anyway (tile_for), so a value does not depend on its item's neighbours
            mq = TILE if (P <= TILE < tile) else tile
            U = Uf[:d * rmax * mq].reshape(d, rmax, mq)
            Ap = Apf[:nA * mq].reshape(nA, mq)
            Y = Yf[:M * mq].reshape(M, mq)
            _block_rows_into(tR, r_off, rpad, tG, p, inv_den, r, tb, q0, P, U, S, A, C, Wr, Up)
            Ap[0, :] = 1.0
            size = 1
            for i in range(d - 2):                # A' = rows of mode 0 (x) ... (x) rows of mode d-3, in place
                ri = r[i]
                for a in range(size - 1, -1, -1):
                    for b in range(ri - 1, -1, -1):
                        for q in range(mq):
                            Ap[a * ri + b, q] = Ap[a, q] * U[i, b, q]
                size *= ri
            if K == 8:
                blk = SL[c * npre:(c + 8) * npre].reshape(M, rb)
            else:
                if c != last:                     # the cell's terms, once per run of its items
                    np.dot(Acoef, SL[c * npre:(c + 8) * npre].reshape(8, npre), Mc)
                    last = c
                blk = Mc.reshape(M, rb)
            B = U[d - 2].reshape(-1)[:rb * mq].reshape(rb, mq)         # the mode d-2 rows (contiguous)
            done = False
            if kp > 0 and (mq == TILE or mq == TILE_LARGE):
                if c != lastk:                    # the node's block, padded, once per run of its items
                    for i in range(M):
                        for b in range(rb):
                            Ak[i, b] = blk[i, b]
                    lastk = c
                Bk = Bk64 if mq == TILE_LARGE else Bk32     # rows rb .. kp-1 stay zero
                for b in range(rb):
                    for q in range(mq):
                        Bk[b, q] = B[b, q]
                done = _gemm_fixed(Ak, Bk, Y)     # False: no kernel of this shape (BLAS below)
            if not done:
                for s in range(0, M, rows):
                    e = min(M, s + rows)
                    np.dot(blk[s:e], B, Y[s:e])
            if K == 8:
                _combine8(Y, W, Ap, nA, v[:P])
            else:
                _combine6(Y, W, Ap, nA, v[:P])
            for q in range(P):
                out[perm[q0 + q]] = v[q]                 # (no scatter pass after)


_FIXED = None


def fixed_gemm() -> bool:
    """Whether the slab form's GEMMs run on the generated kernels of :mod:`._slab_gemm` (once per process):
    where the CPU has AVX-512 (Numba compiles them to 512-bit code) and every BLAS loaded is an OpenBLAS on
    narrower kernels (e.g. ``OPENBLAS_CORETYPE=Haswell`` on an AVX-512 CPU; SciPy's is the one Numba's ``np.dot``
    calls, NumPy's reads the same setting). Measured
    (rank 20, 10^6 points, 2 threads, Zen 5, session 34): with OpenBLAS's Haswell kernels the generated ones are
    20 % faster; with its SkylakeX kernels about 15 % slower. Any other BLAS, or none recognised: BLAS."""
    global _FIXED
    if _FIXED is None:
        from ... import _blasinfo

        libs = _blasinfo.blas_libraries()
        _FIXED = bool("avx512f" in _blasinfo.cpu_flags() and libs
                      and all(lib.get("internal_api") == "openblas" and lib.get("architecture")
                              and str(lib["architecture"]).lower() not in _blasinfo.AVX512_KERNELS for lib in libs))
    return _FIXED


@nb.njit(cache=True)
def pad_rank(rb):
    """The inner dimension of the generated GEMM kernel for rank ``rb``: the next multiple of 4, or 0 above
    :data:`._slab_gemm.KMAX` (BLAS then)."""
    return (rb + 3) // 4 * 4 if 0 < rb <= _SLAB_KMAX else 0


@nb.njit(cache=True)
def _aligned(raw, n):
    """``n`` entries of the float64 vector ``raw`` (at least ``n + 7`` long) from its first 64-byte boundary: the
    generated kernels stream ``B`` and ``Y`` with 512-bit loads and stores (Numba aligns arrays to 32 bytes; half
    of them split every load across two cache lines, about 30 % slower)."""
    off = ((64 - raw.ctypes.data % 64) % 64) // 8
    return raw[off:off + n]


@nb.njit(cache=True, parallel=True)
def _scatter_cols(G2, perm, out, ncols):
    for k in nb.prange(perm.shape[0]):
        for i in range(ncols):
            out[perm[k], i] = G2[k, i]


@nb.njit(cache=True, parallel=True)
def _scatter_col(vals, perm, out, col):
    for k in nb.prange(perm.shape[0]):
        out[perm[k], col] = vals[k]


def tile_for(n, L) -> int:
    """Points per work item for a batch of ``n`` points on ``L`` grid nodes: :data:`TILE_LARGE` from
    :data:`TILE_LARGE_FROM` points per node on average, else :data:`TILE` (less padding of a node's last item)."""
    return TILE_LARGE if n >= TILE_LARGE_FROM * L else TILE


def _batches(n, L):
    """``(s, e)`` of the batches of :data:`BATCH` points (a short last batch overlaps the one before, so
    every batch has at least ``MIN_POINTS_PER_NODE * L`` points when ``n`` has)."""
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        if e - s < MIN_POINTS_PER_NODE * L and s > 0:
            s = max(0, e - BATCH)
        yield s, e


def _chunks(n, L):
    """Parallel ranges of the ordering: four per thread, fewer when their histograms' serial prefix pass
    (``chunks x L``) would rival the ``n`` points (grids of 32768 nodes at 64 threads: 41 ms per batch; review),
    never fewer than the threads."""
    nt = nb.get_num_threads()
    return max(nt, min(4 * nt, n // max(L, 1)))


def _check(packed, t, what, *outs):
    check_points(packed, t)
    check_table(packed)
    n, d = t.shape
    if d < 2 or int(packed.tp) != 8:
        raise ValueError(f"approx_slab.{what}: the slab form needs order-8 tables and d >= 2, got order "
                         f"{int(packed.tp)} and d = {d} (use approx.{what}_table, which checks use_slab)")
    check_outputs(f"approx_slab.{what}", *outs)
    return n, d


def evaluate(packed, t, out, tR, r_off, rpad):
    """``out[n] = p(t[n])`` by the slab form (the caller checked that the points lie in ``[-1, 1]``, and
    :func:`use_slab`), in batches of :data:`BATCH` points so that the bucketing's work arrays stay bounded
    (about 64 bytes per point of a batch): the points bucketed by their first node in the last mode, then one
    GEMM per work item of at most :func:`tile_for` points of one node (:func:`_evaluate_gemm`). Raises
    ``ValueError`` for what the kernels cannot do (order other than 8 or ``d < 2``: wrong values or
    out-of-range reads) and for an ``out`` of the wrong shape."""
    n, d = _check(packed, t, "evaluate", ("out", out, (t.shape[0],)))
    SL = slabs(packed, tR, r_off, rpad)
    Acoef = cell_chebyshev(slab_terms(packed, SL))
    G = int(packed.tG[d - 1])
    L = G + int(packed.tp) + 1
    with borrow_shared(WORK) as work:                # process-wide, one set per dimension
        work = work.setdefault(("d", d), {})
        for s, e in _batches(n, L):
            tile = tile_for(e - s, L)
            perm, tb, Cb, Sb, items = order(t[s:e], G, L, tile, work, take, _chunks(e - s, L))
            _evaluate_gemm(SL, Acoef, tR, r_off, rpad, packed.tG, packed.tp, packed.inv_den, packed.r, tb, Cb, Sb,
                           items, perm, out[s:e], tile, max(1, min(items.shape[0], 8 * nb.get_num_threads())),
                           fixed_gemm())
    return out


def gradient(packed, t, val, grad, tR, r_off, rpad, dtR, dr_off):
    """``val[n] = p(t[n])`` and ``grad[n, i] = dp/dt_i (t[n])`` by the slab form: the value and the
    derivatives in modes ``0 .. d-2`` against the slabs (:func:`._slab_points._evaluate`), the derivative in the
    last mode as a value against the slabs of its derivative table (bucketed on that table's grid).
    ``tR``, ``r_off``, ``rpad`` the point-major tables, ``dtR``, ``dr_off`` those of the derivatives."""
    check_table(packed, derivative=True)
    n, d = _check(packed, t, "gradient", ("val", val, (t.shape[0],)), ("grad", grad, t.shape))
    SL = slabs(packed, tR, r_off, rpad)
    dSL = slabs(packed, dtR, dr_off, rpad, derivative=True)
    G, dG = int(packed.tG[d - 1]), int(packed.dtG[d - 1])
    L, dL = G + 9, dG + 9
    for s, e in _batches(n, max(L, dL)):
        ts = t[s:e]
        perm, tb, Cb, Sb, _ = order(ts, G, L, CHUNK, {}, take, _chunks(e - s, L))
        vals, gk = np.empty(e - s), np.empty((e - s, d - 1))
        _evaluate(SL, tR, r_off, rpad, packed.tG, dtR, dr_off, packed.dtG, packed.tp, packed.inv_den, packed.r,
                  tb, Cb, Sb, vals, gk, d - 1, CHUNK)
        _scatter(vals, perm, val[s:e])
        _scatter_cols(gk, perm, grad[s:e], d - 1)
        if dG != G:                                   # the derivative table's own grid: bucket again
            perm, tb, Cb, Sb, _ = order(ts, dG, dL, CHUNK, {}, take, _chunks(e - s, dL))
        _evaluate(dSL, tR, r_off, rpad, packed.tG, tR, r_off, packed.tG, packed.tp, packed.inv_den, packed.r, tb, Cb,
                  Sb, vals, gk, 0, CHUNK)
        _scatter_col(vals, perm, grad[s:e], d - 1)
    return val, grad
