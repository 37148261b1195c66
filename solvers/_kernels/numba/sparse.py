"""CSR sparse matrix-vector products (Numba; parallel over rows, serial below ``PARALLEL_MIN_ROWS``).

The module-level ``csr`` / ``matvec`` / ``matvec_into`` / ``matvec_dot`` are the
names every backend's ``sparse`` module shares; float64 products run in the
kernels below, other dtypes fall back to SciPy.
"""
import numba as nb
import numpy as np

from ... import _config
from . import krylov as _krylov
from ..numpy.sparse import csr  # noqa: F401  (same host storage as the reference: SciPy CSR)


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
# (rows below this count use the serial kernels: waking the thread pool costs more than the work; CG on a
# Poisson CSR matrix, ms at 50 000 / 10 000 / 4 000 rows, session 23: 80^2 5.35 / 5.38 / 3.56, 200^2 61.7 / 34.5 /
# 34.2, 20^3 2.64 / 2.63 / 1.88; 60^2 unchanged)
PARALLEL_MIN_ROWS = 4_000


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


# ------------------------------------------------------------------ the shared kernel-set interface
def _fast(A, x):
    return A.dtype == np.float64 and x.dtype == np.float64


def _check(A, x, out):
    """O(1) shape check before a kernel runs (the kernels index ``x`` and ``out`` without bounds checks)."""
    m, n = A.shape
    if x.shape != (n,) or (out is not None and out.shape != (m,)):
        raise ValueError(f"sparse matvec: x has shape {x.shape}, out {None if out is None else out.shape}; "
                         f"expected ({n},) and ({m},) for a matrix of shape {A.shape}")
    if out is not None and out.dtype not in (np.float64, np.complex128):   # (the operator refuses a dtype that
        raise TypeError(f"sparse matvec: out has dtype {out.dtype}; pass float64 (complex128 for a complex "
                        "product)")                                          # rounds A x; complex goes A @ x)


def matvec(A, x):
    """``A x`` as a new array."""
    _check(A, x, None)
    if _fast(A, x):
        return matvec_into(A, x, np.empty(A.shape[0]))
    return A @ x


def _parallel(fn):
    """``fn``, a parallel kernel, after the forked-child check (:func:`solvers._config.check_fork`)."""
    _config.check_fork()
    return fn


def matvec_into(A, x, out):
    """Write ``A x`` into ``out``; return ``out`` (no allocation for float64)."""
    _check(A, x, out)
    if _fast(A, x):
        fn = csr_matvec_s if A.shape[0] < PARALLEL_MIN_ROWS else _parallel(csr_matvec)
        return fn(A.indptr, A.indices, A.data, np.ascontiguousarray(x), out)
    out[...] = A @ x
    return out


def matvec_dot(A, x, out):
    """Write ``A x`` into ``out``; return ``x . A x`` (one pass for float64)."""
    _check(A, x, out)
    if _fast(A, x):
        fn = csr_matvec_dot_s if A.shape[0] < PARALLEL_MIN_ROWS else _parallel(csr_matvec_dot)
        return float(fn(A.indptr, A.indices, A.data, np.ascontiguousarray(x), out))
    out[...] = A @ x
    if x.dtype == np.float64 and out.dtype == np.float64 and x.ndim == 1 and x.flags.c_contiguous:
        return float(_krylov.dot(x, out))          # not a threaded BLAS dot (see krylov.rows_dot)
    return float(np.dot(x, out))
