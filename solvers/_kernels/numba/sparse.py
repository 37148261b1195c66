"""CSR sparse matrix-vector product (parallel over rows)."""
import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True, fastmath=False)
def csr_matvec(indptr, indices, data, x, out):
    n = indptr.shape[0] - 1
    for i in nb.prange(n):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s
    return out


@nb.njit(cache=True)
def _warm():  # pragma: no cover - only used to trigger compilation
    return np.zeros(1)
