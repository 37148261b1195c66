"""BLAS-2 kernels on the rows of a basis (GMRES's Arnoldi step) for :mod:`.krylov`, which exports them in
its kernel set (``rows_dot``, ``rows_sub``; serial ``_s`` and parallel ``_p`` versions, as there)."""
import numba as nb
import numpy as np

_FM = {"reassoc", "contract", "nsz"}


# ------------------------------------------------ BLAS-2 on the rows of a basis (GMRES's Arnoldi step)
#: points per work item of the row kernels (a chunk of ``w`` stays in L2 while the rows stream past it)
_ROW_CHUNK = 8192


@nb.njit(cache=True, inline="always")
def _rows_check(V, k, w, h):
    if V.shape[1] != w.shape[0] or k < 0 or k > V.shape[0] or h.shape[0] < k:
        raise ValueError("krylov kernel: the rows of V do not match w and h")


@nb.njit(cache=True, fastmath=_FM, inline="always")
def _rows_dot_chunk(V, k, w, lo, hi, out):
    """``out[r] = V[r, lo:hi] . w[lo:hi]``, four rows per sweep of the chunk (``w`` read once per four).

    The chunk's indices are unsigned: from a run-time signed ``lo`` Numba keeps its negative-index
    wrap-around select in the loop and LLVM does not vectorise it (``rows_dot_p``, k = 30, n = 2^18,
    2 threads, Zen 5: 5.4 -> 2.0 ms; session 32)."""
    ulo, uhi = np.uint64(lo), np.uint64(hi)
    r = 0
    while r + 4 <= k:
        v0, v1, v2, v3 = V[r], V[r + 1], V[r + 2], V[r + 3]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for i in range(ulo, uhi):
            wi = w[i]
            s0 += v0[i] * wi
            s1 += v1[i] * wi
            s2 += v2[i] * wi
            s3 += v3[i] * wi
        out[r] = s0
        out[r + 1] = s1
        out[r + 2] = s2
        out[r + 3] = s3
        r += 4
    while r < k:
        v0 = V[r]
        s = 0.0
        for i in range(ulo, uhi):
            s += v0[i] * w[i]
        out[r] = s
        r += 1


@nb.njit(cache=True, fastmath=_FM, inline="always")
def _rows_sub_chunk(V, k, h, w, lo, hi):
    """``w[lo:hi] -= V[:k, lo:hi].T @ h[:k]``, four rows per sweep of the chunk (unsigned indices, as
    :func:`_rows_dot_chunk`)."""
    ulo, uhi = np.uint64(lo), np.uint64(hi)
    r = 0
    while r + 4 <= k:
        v0, v1, v2, v3 = V[r], V[r + 1], V[r + 2], V[r + 3]
        h0 = h[r]
        h1 = h[r + 1]
        h2 = h[r + 2]
        h3 = h[r + 3]
        for i in range(ulo, uhi):
            w[i] -= v0[i] * h0 + v1[i] * h1 + v2[i] * h2 + v3[i] * h3
        r += 4
    while r < k:
        v0 = V[r]
        hr = h[r]
        for i in range(ulo, uhi):
            w[i] -= v0[i] * hr
        r += 1


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def rows_dot_p(V, k, w, h):
    """``h[:k] = V[:k] @ w``. Here and in :func:`rows_sub_p` compiled loops replace the BLAS GEMV they
    compute: a threaded BLAS call between the Numba kernels leaves OpenBLAS's threads spinning on the same
    cores (GMRES 3.9x slower with ``OPENBLAS_NUM_THREADS`` unset); blocked by four rows they also beat
    one-thread OpenBLAS (k = 30, n = 262144, 2 threads: 4.7 against 7.0-8.5 ms). Partial sums per chunk
    (a ``chunks x k`` scratch), added in chunk order."""
    _rows_check(V, k, w, h)
    n = w.shape[0]
    nc = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    part = np.zeros((nc, max(k, 1)))
    for c in nb.prange(nc):
        lo = c * _ROW_CHUNK
        _rows_dot_chunk(V, k, w, lo, min(n, lo + _ROW_CHUNK), part[c])
    for r in range(k):
        s = 0.0
        for c in range(nc):
            s += part[c, r]
        h[r] = s


@nb.njit(cache=True, fastmath=_FM)
def rows_dot_s(V, k, w, h):
    _rows_check(V, k, w, h)
    _rows_dot_chunk(V, k, w, 0, w.shape[0], h)


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def rows_sub_p(V, k, h, w):
    """``w -= V[:k].T @ h[:k]`` in place."""
    _rows_check(V, k, w, h)
    n = w.shape[0]
    nc = (n + _ROW_CHUNK - 1) // _ROW_CHUNK
    for c in nb.prange(nc):
        lo = c * _ROW_CHUNK
        _rows_sub_chunk(V, k, h, w, lo, min(n, lo + _ROW_CHUNK))


@nb.njit(cache=True, fastmath=_FM)
def rows_sub_s(V, k, h, w):
    _rows_check(V, k, w, h)
    _rows_sub_chunk(V, k, h, w, 0, w.shape[0])
