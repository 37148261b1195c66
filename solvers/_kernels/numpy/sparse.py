"""CSR sparse matrix-vector products, NumPy/SciPy reference.

Every backend's ``sparse`` module has these functions: ``csr(A)`` converts a
sparse matrix to the backend's CSR storage once (when the operator is built);
the products take that stored matrix.
"""
import numpy as np


def csr(A):
    """``A`` (any SciPy sparse matrix, or a cupyx one, copied to the host) as a SciPy CSR matrix
    with summed duplicates (and 64-bit indices when the count of nonzeros needs them)."""
    import scipy.sparse as sp

    if type(A).__module__.startswith("cupyx") and hasattr(A, "get"):
        A = A.get()
    A = sp.csr_matrix(A)
    try:  # O(nnz), once per operator: indices in range and indptr monotone, so no kernel reads out of bounds
        A.check_format(full_check=True)
    except ValueError as e:
        raise ValueError(f"A is not a valid sparse matrix ({e}); rebuild it, e.g. with "
                         "scipy.sparse.csr_matrix((data, indices, indptr), shape=...) from valid arrays") from None
    if not A.has_canonical_format:     # sum_duplicates works in place on arrays the caller's matrix shares
        A = A.copy()
        A.sum_duplicates()
    if A.indices.dtype != np.int64 and A.nnz > 2**31 - 1:  # pragma: no cover - huge
        A.indices = A.indices.astype(np.int64)
    return A


def matvec(A, x):
    """``A x`` as a new array."""
    return A @ x


def matvec_into(A, x, out):
    """Write ``A x`` into ``out``; return ``out``."""
    out[...] = A @ x
    return out


def matvec_dot(A, x, out):
    """Write ``A x`` into ``out``; return ``x . A x``."""
    out[...] = A @ x
    return float(np.dot(x, out))
