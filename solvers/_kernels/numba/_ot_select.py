"""Row selection of the truncated plans of the SNS Newton stage (Numba): which entries of a plan row
the sparse Hessian keeps.

A row's candidates are its entries ``>= lo`` (``rho`` times the row maximum). Of them the ``kmax``
largest are kept, unless those hold less than ``target`` (``share`` of the row's mass): then the fewest
largest that do (:func:`row_select`). Both selections come from one histogram of the candidates by
their float64 bit pattern (``bits >> 50``: four buckets per octave, monotone in the value for
non-negative doubles): a scan from the top bucket down finds the bucket where the kept count or the
kept mass is reached, and only that bucket's entries are gathered and sorted. It replaced a
quickselect by partial sums and an ``np.partition`` of the candidates (data-dependent branches over a
few hundred candidates per row at eps = 3e-3): the selection pass of :func:`solvers._kernels.numba.
_ot_dense.kernel_rows_sparse` at n = 1000, eps = 3e-3 (137 kept entries per row on average, 2
threads, AMD Zen 5) 5.5-6.2 -> about 2 ms, the same counts and thresholds on every row
(``/tmp/s27/krs3.py``, session 27).
"""
import numba as nb
import numpy as np

from ._ot_dense import _f64_bits

#: histogram slots: every bucket key of a non-negative double (``bits >> 50`` <= 0x1FFF), twice (two
#: interleaved tables, so consecutive entries of one bucket do not wait on each other's update)
SLOTS = 2 * 8192 + 2


@nb.njit(cache=True)
def work(m):
    """The per-thread work arrays of :func:`row_select` for rows of ``m`` entries: ``(cnt, sm, cand, slot)``."""
    return (np.empty(SLOTS, dtype=np.int64), np.empty(SLOTS), np.empty(m + 1), np.empty(m + 1, dtype=np.int64))


@nb.njit(cache=True)
def _gather(buf, m, lo, cand):
    """The candidates (``buf[j] >= lo``) into ``cand[:c]`` in row order, branch-free; returns ``c``."""
    q = 0
    for j in range(m):
        x = buf[j]
        cand[q] = x
        q += 1 if x >= lo else 0
    return q


@nb.njit(cache=True)
def _bucket_sorted(cand, c, key, out):
    """The candidates of bucket ``key``, sorted ascending into ``out[:q]``; returns ``q``."""
    q = 0
    for j in range(c):
        x = cand[j]
        out[q] = x
        q += 1 if (_f64_bits(x) >> 50) == key else 0
    out[:q].sort()
    return q


@nb.njit(cache=True)
def row_select(buf, m, lo, kmax, target, cnt, sm, cand, slot):
    """``(c, k, thr)`` for the non-negative row ``buf[:m]``: ``c`` candidates
    (entries ``>= lo``); keep ``k`` of them, those ``>= thr``. ``c <= kmax``: all (``k = c``, ``thr =
    lo``). Otherwise the ``kmax`` largest (``thr`` the ``kmax``-th largest), unless they sum to less
    than ``target`` (``target <= 0``: no such test): then the fewest largest that reach it (``thr`` the
    smallest of them; all ``c`` candidates and their minimum when even they do not). ``cnt`` ..
    ``slot``: :func:`work`. The candidates are gathered first, so the histogram passes run over ``c``
    entries, not ``m``."""
    c = _gather(buf, m, lo, cand)
    if c <= kmax:
        return c, c, lo
    top = 0.0
    for j in range(c):
        top = max(top, cand[j])
    top_key = _f64_bits(top) >> 50
    nbk = top_key - (_f64_bits(lo) >> 50) + 1 if lo > 0.0 else top_key + 1   # slot 0: the top bucket
    off = nbk + 1
    for b in range(2 * off):
        cnt[b] = 0
        sm[b] = 0.0
    amin = np.inf
    for j in range(c):
        x = cand[j]
        slot[j] = min(max(top_key - (_f64_bits(x) >> 50), 0), nbk)
        amin = min(amin, x)
    for j in range(0, c - 1, 2):               # two tables: consecutive entries of one bucket do not wait
        b0, b1 = slot[j], slot[j + 1] + off
        cnt[b0] += 1
        sm[b0] += cand[j]
        cnt[b1] += 1
        sm[b1] += cand[j + 1]
    if c % 2:
        cnt[slot[c - 1]] += 1
        sm[slot[c - 1]] += cand[c - 1]
    for b in range(off):
        cnt[b] += cnt[b + off]
        sm[b] += sm[b + off]
    out = slot.view(np.float64)                # the slots are not needed any more: the bucket goes there
    if target > 0.0:                           # the mass test: the fewest largest reaching target
        acc, k = 0.0, 0
        for b in range(off):
            if acc + sm[b] >= target:
                if k + cnt[b] <= kmax:         # reached within the kmax largest: the count rule decides
                    break
                q = _bucket_sorted(cand, c, top_key - b, out)
                for t in range(q - 1, -1, -1):
                    acc += out[t]
                    k += 1
                    if acc >= target:
                        if k > kmax:
                            return c, k, out[t]
                        break
                break
            acc += sm[b]
            k += cnt[b]
        else:
            return c, c, amin                  # the candidates together hold less than target
    above = 0                                  # the kmax-th largest: where the count from the top reaches kmax
    for b in range(off):
        if above + cnt[b] >= kmax:
            q = _bucket_sorted(cand, c, top_key - b, out)
            return c, kmax, out[q - (kmax - above)]
        above += cnt[b]
    return c, c, amin


@nb.njit(cache=True)
def row_index(buf, m, thr, k, ti):
    """The column indices of the first ``k`` entries ``buf[j] >= thr`` (by position) into ``ti[:q]``, branch-free
    (slot ``k`` of ``ti`` takes the writes past them); returns ``q`` (at most ``k``). The caller reads the kept
    values through ``ti``: one store per entry instead of an index, a value and a running sum (the earlier
    ``row_write``: SNS's kernel-space fill pass at n = 3000, 2 threads, Zen 5, 7.2-8.8 -> 5.0-5.5 ms, the same
    CSR bit for bit; session 32, ``/tmp/s32/fill.py``)."""
    q = 0
    for j in range(m):
        ti[min(q, k)] = j
        q += 1 if buf[j] >= thr else 0
    return min(q, k)


@nb.njit(cache=True, fastmath=True)
def _kv_row(Krow, v, buf):
    """``buf[j] = K_ij v_j`` (float64); returns the row maximum and sum."""
    mx = 0.0
    s = 0.0
    for j in range(Krow.shape[0]):
        z = Krow[j] * v[j]
        buf[j] = z
        mx = max(mx, z)
        s += z
    return mx, s


@nb.njit(parallel=True, cache=True)
def kernel_rows_sparse(K, u, v, rho, kmax, share, r, counts, thrs, mxs, nch):
    """Kernel-space twin of ``ot.lse_rows_sparse`` for the plan ``P_ij = u_i K_ij v_j`` of a
    stabilised kernel: ``r[i] = sum_j P_ij`` (float64 accumulation) and, from the same row
    ``K_ij v_j`` (no exponential; thresholds relative to the row maximum ``mxs[i]``), the
    selection of the truncated row (:func:`row_select`: ``counts[i]`` entries from threshold
    ``thrs[i]``); :func:`kernel_fill_rows` writes them. The rows run in ``nch`` parallel ranges, each
    with its own work arrays (a row's result does not depend on the ranges)."""
    n, m = K.shape
    for ch in nb.prange(nch):
        buf = np.empty(m)
        cnt, sm, cand, slot = work(m)
        for i in range(ch * n // nch, (ch + 1) * n // nch):
            mx, s = _kv_row(K[i], v, buf)
            mxs[i] = mx
            r[i] = u[i] * s
            if not mx > 0.0:
                counts[i] = 0
                thrs[i] = np.inf
                continue
            _, k, thr = row_select(buf, m, rho * mx, kmax, share * s, cnt, sm, cand, slot)
            counts[i] = k
            thrs[i] = thr
    return r


@nb.njit(parallel=True, cache=True)
def kernel_fill_rows(K, u, v, counts, thrs, mxs, indptr, indices, data, nch):
    """The CSR rows selected by :func:`kernel_rows_sparse` (the row recomputed, same arithmetic), in
    ``nch`` parallel ranges of rows, each with its own row buffers (allocated per row they took 1.4 of
    the pass's 1.4 ms at n = 1000, eps = 3e-3)."""
    n, m = K.shape
    for ch in nb.prange(nch):
        buf = np.empty(m)
        ti = np.empty(m + 1, dtype=np.int64)
        for i in range(ch * n // nch, (ch + 1) * n // nch):
            k = counts[i]
            if k == 0:
                continue
            _kv_row(K[i], v, buf)
            q = row_index(buf, m, thrs[i], k, ti)
            start = indptr[i]
            scale = u[i]
            for p in range(q):
                j = ti[p]
                indices[start + p] = j
                data[start + p] = scale * buf[j]
            while q < k:                     # ties at the threshold may leave slots: explicit zeros
                indices[start + q] = 0
                data[start + q] = 0.0
                q += 1
    return indptr
