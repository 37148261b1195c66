"""CSR sparse matrix-vector products on the GPU (cupyx.scipy.sparse, cuSPARSE).

Same names and signatures as :mod:`solvers._kernels.numpy.sparse`. CuPy is
imported on first use only.
"""
import numpy as np

from ..numpy.sparse import matvec, matvec_into  # noqa: F401  (``A @ x``: cupyx runs it on the device)


def csr(A):
    """``A`` (a SciPy or cupyx sparse matrix) as a cupyx CSR matrix on the device
    (cupyx holds bool/float/complex only: other dtypes become float64)."""
    import cupyx.scipy.sparse as csp

    if np.dtype(A.dtype).char not in "?fdFD":
        A = A.astype(np.float64)
    if not type(A).__module__.startswith("cupyx"):
        A = csp.csr_matrix(A)
    return A.tocsr()


def matvec_dot(A, x, out):
    """Write ``A x`` into ``out``; return ``x . A x``."""
    import cupy

    out[...] = A @ x
    return float(cupy.dot(x, out))
