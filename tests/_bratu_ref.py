"""Independent reference for the Bratu tests: Newton's method with SciPy's sparse direct solver on
an own Kronecker-product Laplacian (no newtonkit code), shared by the CPU, emulated-CuPy and GPU tests.

Importable as ``_bratu_ref`` from every test module (``tests/`` holds the root ``conftest.py``, so
pytest puts it on ``sys.path``).
"""
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def laplacian(n):
    """``-Δ_h`` (5-point, zero Dirichlet) on the ``n x n`` interior grid of the unit square, CSR."""
    h = 1.0 / (n + 1)
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h ** 2
    eye = sp.identity(n)
    return (sp.kron(T, eye) + sp.kron(eye, T)).tocsr()


def sparse_newton(n, lam):
    """The discrete Bratu solution on the lower branch: Newton from 0 to ``max |F| < 1e-12``."""
    A = laplacian(n)
    u = np.zeros(n * n)
    for _ in range(40):
        F = A @ u - lam * np.exp(u)
        if np.abs(F).max() < 1e-12:
            return u
        u = u - spla.spsolve((A - sp.diags(lam * np.exp(u))).tocsc(), F)
    raise AssertionError("reference Newton did not converge")
