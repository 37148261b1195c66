"""The point ordering of the slab form (:mod:`solvers._kernels.numba.approx_slab`): each point's first
stencil node in the last mode, and the points bucketed by it.

The slab form reads the slabs of one node for a block of points, so the points are put in node order
first: a stable counting sort by node (``O(N + L)``, ``L`` the nodes), the points, nodes and offsets
copied in that order, and the work items (blocks of at most ``tile`` points of one node) listed.

:func:`order` does it in two parallel passes over contiguous chunks of the points: the nodes and a
per-chunk histogram, then (after prefix sums over nodes and chunks, ``O(L x chunks)``) each chunk places
its points at its own running offsets within each node's bucket. The chunks are contiguous and taken
in order, so the permutation is the serial stable sort's whatever the number of chunks (a point's
place, and so its value, does not depend on the thread count). It replaced five passes (the nodes, a
serial counting sort, a gather through the permutation, a recount for the items, and a scatter of the
values, now written through the permutation by the evaluation kernel): 10^6 random points of a
(20, 20, 20) table, 2 threads, 19-21 -> 9.3-9.6 ms per call (the two versions alternated three times,
``/tmp/s22/overb.py`` and ``over2.py``).
"""
import numba as nb
import numpy as np

from ._table_rows import _acos, ASIN_P, in_grid


@nb.njit(cache=True, parallel=True)
def _count(t, col, G, half, C, S, cnt):
    """Per point, by chunks (``cnt.shape[0]`` contiguous ranges of the points): ``C`` the grid column of the
    first node of its centred stencil in the last mode (column ``col``) and ``S`` its offset from that node
    (as :func:`solvers._kernels.numba._table_rows._stencils`; a finite offset whatever ``t`` is:
    :func:`_place` marks bad points), and ``cnt[ch, c]`` the number of points of chunk ``ch`` whose first node
    is ``c``."""
    n = t.shape[0]
    nch = cnt.shape[0]
    hinv = G / np.pi
    for ch in nb.prange(nch):
        # unsigned bounds: from a signed run-time start Numba keeps its negative-index wrap-around select in
        # the loop, which stopped LLVM vectorising it (10^6 points, 2 threads, Zen 5: 7.9 -> 6.0 ms; session 32)
        s0, e0 = np.uint64(ch * n // nch), np.uint64((ch + 1) * n // nch)
        for k in range(s0, e0):                        # vectorised (no library call, selects only)
            s = in_grid(_acos(t[k, col], ASIN_P) * hinv, G)
            j0 = min(int(s), G - 1) - half + 1
            C[k] = j0 + half
            S[k] = s - j0
        row = cnt[ch]
        row[:] = 0
        for k in range(s0, e0):
            row[C[k]] += 1


@nb.njit(cache=True)
def _starts(cnt, tile):
    """From the per-chunk histograms: ``start[ch, c]``, where chunk ``ch``'s first point of node ``c`` goes
    in the sorted order, and the work items ``(start, count)`` (at most ``tile`` points of one node,
    nodes in turn)."""
    nch, L = cnt.shape
    start = np.empty((nch, L), dtype=np.int64)
    tot = np.zeros(L, dtype=np.int64)
    nitems = 0
    s = 0
    for c in range(L):
        for ch in range(nch):
            start[ch, c] = s + tot[c]
            tot[c] += cnt[ch, c]
        s += tot[c]
        nitems += (tot[c] + tile - 1) // tile
    items = np.empty((nitems, 2), dtype=np.int64)
    k = 0
    s = 0
    for c in range(L):
        left = tot[c]
        while left > 0:
            take = min(tile, left)
            items[k, 0] = s
            items[k, 1] = take
            s += take
            left -= take
            k += 1
    return start, items


@nb.njit(cache=True, parallel=True)
def _place(t, C, S, start, perm, tb, Cb, Sb):
    """Each chunk puts its points at its running offsets (``start``, updated): ``perm[dst] = k``,
    ``tb[dst] = t[k, :d-1]``, ``Cb[dst] = C[k]`` and ``Sb[dst] = S[k]``, NaN where the last coordinate
    is not in ``[-1, 1]`` (NaN too; :func:`_count` buckets such a point at an end, which would give a
    finite value)."""
    n = t.shape[0]
    d1 = tb.shape[1]
    nch = start.shape[0]
    for ch in nb.prange(nch):
        pos = start[ch]
        for k in range(ch * n // nch, (ch + 1) * n // nch):
            c = C[k]
            dst = pos[c]
            pos[c] = dst + 1
            perm[dst] = k
            for i in range(d1):
                tb[dst, i] = t[k, i]
            Cb[dst] = c
            Sb[dst] = S[k] if abs(t[k, d1]) <= 1.0 else np.nan


def order(t, G, L, tile, work, take, chunks):
    """The points ``t`` (``(n, d)``, mapped) in the order of the first stencil node of their last
    coordinate on a grid of ``G`` intervals (``L`` nodes, half-width 4), in arrays kept in ``work`` (got
    by ``take``): ``perm`` (sorted position -> point), the points' first ``d - 1`` coordinates ``tb``,
    nodes ``Cb`` and offsets ``Sb`` in that order, and the work items of at most ``tile`` points of one
    node (``(start, count)`` rows). ``chunks``: the parallel ranges (the result does not depend on it)."""
    n, d = t.shape
    chunks = max(1, min(int(chunks), n))
    C, S = take(work, "C", (n,), np.int64), take(work, "S", (n,))
    cnt = take(work, "cnt", (chunks, L), np.int64)
    _count(t, d - 1, G, 4, C, S, cnt)
    start, items = _starts(cnt, tile)
    perm = take(work, "perm", (n,), np.int64)
    tb, Cb, Sb = take(work, "tb", (n, d - 1)), take(work, "Cb", (n,), np.int64), take(work, "Sb", (n,))
    _place(t, C, S, start, perm, tb, Cb, Sb)
    return perm, tb, Cb, Sb, items
