"""Numba kernels of the SNS Newton stage on a truncated plan in CSR form: the fused row pass that selects the
kept entries of each plan row (:func:`lse_rows_sparse`, :func:`fill_rows`), and the Schur-complement product
``dcol x - P^T (inv_drow (P x))`` in its three forms (serial scatter, parallel gather over a transposed copy,
parallel one-pass scatter into per-chunk column accumulators), ``P x``, ``P^T y`` and ``diag(S)``. The kernel
set in :mod:`.ot` picks the form (``schur_prepare``) and checks every array before these kernels index it
without bounds checks. Nothing here imports from the package.
"""
import math

import numba as nb
import numpy as np

from ._ot_dense import _exp_shifted, _shift_max, _sum
from ._ot_select import row_index, row_select, work


# --------------------------------------------------------------------------------------------
# sparse Newton: truncated plan in CSR form
# --------------------------------------------------------------------------------------------
@nb.njit(parallel=True, cache=True)
def lse_rows_sparse(C, g, f, inv_eps, rho, kmax, share, out, counts, thrs, mxs, idx, val, nch):
    """Fused row pass for the Newton stage: ``out[i] = LSE_j (g_j - C_ij)/eps`` and, from the
    same exponentials, the kept entries of the truncated plan row: the candidates
    ``P_ij >= rho max_j P_ij``, the ``kmax`` largest of them unless those hold less than
    ``share`` of the row's mass, then the fewest largest that do (``counts[i]`` entries from
    threshold ``thrs[i]``, relative to the row maximum ``exp(mxs[i])``). Rows with at most
    ``idx.shape[1]`` kept entries are written to ``idx[i, :counts[i]]``, ``val[i, :counts[i]]``
    (the mass they hold is summed while writing, so the share test is free there);
    :func:`fill_rows` recomputes the others."""
    n, m = C.shape
    width = idx.shape[1]
    # nch parallel ranges of rows (:func:`_ranges`), each with its own work arrays
    for ch in nb.prange(nch):
        buf = np.empty(m)
        cnt, sm, cand, slot = work(m)
        for i in range(ch * n // nch, (ch + 1) * n // nch):
            mx = _shift_max(C[i], g, inv_eps, buf)
            _exp_shifted(buf, mx, m)
            s = _sum(buf, m)
            out[i] = mx + math.log(s)
            mxs[i] = mx
            _, k, thr = row_select(buf, m, rho, kmax, share * s, cnt, sm, cand, slot)   # (the row's max is 1)
            if k <= width:                 # (k > kmax >= width when the mass test raised it: fill_rows recomputes)
                scale = math.exp(f[i] * inv_eps + mx)  # P_ij = scale * buf[j]
                ti = np.empty(k + 1, dtype=np.int64)
                q = row_index(buf, m, thr, k, ti)
                for p in range(q):
                    j = ti[p]
                    idx[i, p] = j
                    val[i, p] = scale * buf[j]
                while q < k:  # ties at the threshold may leave slots: explicit zeros (harmless)
                    idx[i, q] = 0
                    val[i, q] = 0.0
                    q += 1
            counts[i] = k
            thrs[i] = thr
    return out


@nb.njit(parallel=True, cache=True)
def fill_rows(C, g, f, inv_eps, counts, thrs, mxs, idx, val, indptr, indices, data):
    """The CSR rows of :func:`lse_rows_sparse`: copied from its buffers, or recomputed (same
    arithmetic) for the rows that did not fit them."""
    n, m = C.shape
    width = idx.shape[1]
    for i in nb.prange(n):
        start = indptr[i]
        k = counts[i]
        if k <= width:
            for q in range(k):
                indices[start + q] = idx[i, q]
                data[start + q] = val[i, q]
            continue
        buf = np.empty(m)
        mx = _shift_max(C[i], g, inv_eps, buf)
        _exp_shifted(buf, mx, m)
        scale = math.exp(f[i] * inv_eps + mxs[i])
        thr = thrs[i]
        q = 0
        for j in range(m):
            if buf[j] >= thr and q < k:
                indices[start + q] = j
                data[start + q] = scale * buf[j]
                q += 1
        while q < k:
            indices[start + q] = 0
            data[start + q] = 0.0
            q += 1
    return indptr


@nb.njit(cache=True)
def csr_transpose(n, m, indptr, indices, data, t_indptr, t_indices, t_data):
    """CSR of the transpose (m x n) by counting sort."""
    nnz = indptr[n]
    for k in range(m + 1):
        t_indptr[k] = 0
    one = np.uint64(1)
    for k in range(nnz):
        t_indptr[np.uint64(indices[k]) + one] += 1
    for k in range(m):
        t_indptr[k + 1] += t_indptr[k]
    pos = t_indptr[:m].copy()
    for i in range(n):                 # unsigned indices (see _schur_matvec_parallel)
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            j = np.uint64(indices[k])
            q = np.uint64(pos[j])
            t_indices[q] = i
            t_data[q] = data[k]
            pos[j] = q + one
    return t_indptr


@nb.njit(cache=True)
def _row_dot(indptr, indices, data, x, i):
    """``(P x)_i`` of the CSR row ``i``. Unsigned bounds and gathered indices: no negative-index wrap-around test
    per entry (as :mod:`.sparse`; random P, 2 threads, Zen 5, session 32: the Schur product at n = m = 3000 with
    1.8 10^5 entries 140 -> 60 us, at n = m = 10^4 with 5 10^5 entries 657 -> 292 us)."""
    s = 0.0
    for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        s += data[k] * x[np.uint64(indices[k])]
    return s


@nb.njit(cache=True)
def _row_scatter(indptr, indices, data, w, a, i):
    """``a += w P[i, :]`` (the CSR row ``i`` scattered into the column vector ``a``)."""
    for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
        a[np.uint64(indices[k])] += data[k] * w


@nb.njit(parallel=True, cache=True)
def _schur_gather_parallel(indptr, indices, data, t_indptr, t_indices, t_data, tmp, dcol, inv_drow, x, out):
    """out = dcol * x - P^T (inv_drow * (P x)) for the CSR P (n x m) and its transpose (a gather per column:
    faster than the one-pass scatter of :func:`_schur_matvec_parallel` on small plans, see
    :data:`.ot.SCHUR_SCATTER_NNZ`)."""
    n = indptr.shape[0] - 1
    m = t_indptr.shape[0] - 1
    for i in nb.prange(n):
        tmp[i] = _row_dot(indptr, indices, data, x, i) * inv_drow[i]
    for j in nb.prange(m):
        out[j] = dcol[j] * x[j] - _row_dot(t_indptr, t_indices, t_data, tmp, j)
    return out


@nb.njit(parallel=True, cache=True)
def _schur_matvec_parallel(indptr, indices, data, bounds, acc, dcol, inv_drow, x, out):
    """out = dcol * x - P^T (inv_drow * (P x)) for the CSR P (n x m), in one pass over P.

    Row chunk ``c`` (rows ``bounds[c] .. bounds[c + 1]``, about equal stored entries) computes each row's
    ``s_i = inv_drow[i] (P x)_i`` and at once scatters ``P[i, :] s_i`` into its own accumulator ``acc[c]``
    (length m); the chunks' accumulators are then summed per column in chunk order. A fixed chunk count
    (:data:`.ot.SCHUR_CHUNKS`), not the thread count, sets the summation order, so the product is the same on
    any number of threads. Each row is read once, while in cache, for both products, and no transposed copy
    is built (the gather form's counting sort: 5 ms at n = 3000 with 8 10^5 entries, 25 ms at n = 10^4 with
    3 10^6, for every Newton step). Used above :data:`.ot.SCHUR_SCATTER_NNZ` entries."""
    nch = acc.shape[0]
    m = out.shape[0]
    for c in nb.prange(nch):
        a = acc[c]
        for j in range(m):
            a[j] = 0.0
        for i in range(bounds[c], bounds[c + 1]):
            _row_scatter(indptr, indices, data, _row_dot(indptr, indices, data, x, i) * inv_drow[i], a, i)
    for j in nb.prange(m):
        s = 0.0
        for c in range(nch):
            s += acc[c, j]
        out[j] = dcol[j] * x[j] - s
    return out


@nb.njit(cache=True)
def _schur_matvec_serial(indptr, indices, data, bounds, acc, dcol, inv_drow, x, out):
    """Serial :func:`_schur_matvec_parallel` (small systems: thread start-up would dominate): one chunk, one
    accumulator ``acc[0]``; ``out`` is written only after ``x`` and ``inv_drow`` have been read, so ``out`` may
    be ``x`` itself (scattering straight into ``out`` overwrote ``x`` before ``P x`` read it: outside review
    helper-122)."""
    n = indptr.shape[0] - 1
    a = acc[0]
    for j in range(a.shape[0]):
        a[j] = 0.0
    for i in range(n):
        _row_scatter(indptr, indices, data, _row_dot(indptr, indices, data, x, i) * inv_drow[i], a, i)
    for j in range(out.shape[0]):
        out[j] = dcol[j] * x[j] - a[j]
    return out


@nb.njit(cache=True)
def csr_rmatvec(indptr, indices, data, y, out):
    """``out = P^T y`` for the CSR ``P`` (a scatter over its rows)."""
    for j in range(out.shape[0]):
        out[j] = 0.0
    for i in range(indptr.shape[0] - 1):
        _row_scatter(indptr, indices, data, y[i], out, i)
    return out


@nb.njit(cache=True)
def csr_matvec(indptr, indices, data, x, out):
    for i in range(indptr.shape[0] - 1):
        out[i] = _row_dot(indptr, indices, data, x, i)
    return out


@nb.njit(cache=True)
def _schur_diagonal(indptr, indices, data, dcol, inv_drow, out):
    """diag(dcol - P^T diag(inv_drow) P)."""
    n = indptr.shape[0] - 1
    for j in range(out.shape[0]):
        out[j] = dcol[j]
    for i in range(n):
        w = inv_drow[i]
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            out[np.uint64(indices[k])] -= data[k] * data[k] * w
    return out
