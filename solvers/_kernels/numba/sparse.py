"""CSR sparse matrix-vector product (parallel over rows)."""
import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True, fastmath=False)
def csr_matvec(indptr, indices, data, x, out):
    n = indptr.shape[0] - 1
    for i in nb.prange(n):
        s = 0.0
        # unsigned bounds/indices: no negative-index wraparound test in the inner loop (~1.5x faster)
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            s += data[k] * x[np.uint64(indices[k])]
        out[i] = s
    return out


@nb.njit(cache=True)
def _warm():  # pragma: no cover - only used to trigger compilation
    return np.zeros(1)


# --- added for the Krylov solvers: serial twin for short vectors, and a fused matvec + dot
# (rows below this count use the serial kernels: waking the thread pool costs more than the work)
PARALLEL_MIN_ROWS = 50_000


@nb.njit(cache=True)
def csr_matvec_s(indptr, indices, data, x, out):
    n = indptr.shape[0] - 1
    for i in range(n):
        s = 0.0
        # unsigned bounds/indices: no negative-index wraparound test in the inner loop (~1.5x faster)
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            s += data[k] * x[np.uint64(indices[k])]
        out[i] = s
    return out


@nb.njit(parallel=True, cache=True)
def csr_matvec_dot(indptr, indices, data, x, out):
    """``out = A x``; return ``x . out`` from the same pass."""
    n = indptr.shape[0] - 1
    acc = 0.0
    for i in nb.prange(n):
        s = 0.0
        # unsigned bounds/indices: no negative-index wraparound test in the inner loop (~1.5x faster)
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            s += data[k] * x[np.uint64(indices[k])]
        out[i] = s
        acc += x[i] * s
    return acc


@nb.njit(cache=True)
def csr_matvec_dot_s(indptr, indices, data, x, out):
    n = indptr.shape[0] - 1
    acc = 0.0
    for i in range(n):
        s = 0.0
        # unsigned bounds/indices: no negative-index wraparound test in the inner loop (~1.5x faster)
        for k in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            s += data[k] * x[np.uint64(indices[k])]
        out[i] = s
        acc += x[i] * s
    return acc
