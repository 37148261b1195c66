"""Krylov exits found by the session-23 outside probe (helper-95): a non-symmetric preconditioner was reported
as too weak a one, and MINRES with an operator and a preconditioner that return the same storage of their
own ran to maxiter on a solved system. References: NumPy for M's asymmetry, SciPy's direct solve for x."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers


def _poisson1d(n):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("seed", [0, 1])
def test_cg_with_a_nonsymmetric_preconditioner_blames_m(backend, seed):
    n = 400
    A = _poisson1d(n)
    R = np.random.default_rng(seed).standard_normal((n, n))
    M = np.eye(n) + 0.5 * np.triu(R, 1) / np.sqrt(n)
    assert np.linalg.norm(M - M.T) > 0.1 * np.linalg.norm(M)           # far from symmetric
    r = solvers.cg(A, np.ones(n), M=M, maxiter=300, backend=backend)
    assert not r.converged
    assert "preconditioner M is not symmetric" in r.message and "gmres" in r.message
    assert "stronger" not in r.message and "A is not symmetric" not in r.message
    # the same A with a symmetric (SPD) M converges to SciPy's direct solution
    ok = solvers.cg(A, np.ones(n), M=0.5 * (M + M.T) @ (0.5 * (M + M.T)), maxiter=4000, rtol=1e-10,
                    backend=backend)
    assert ok.converged
    ref = spla.spsolve(A.tocsc(), np.ones(n))
    assert np.linalg.norm(ok.x - ref) <= 1e-7 * np.linalg.norm(ref)


class _Shared:
    """A and M as user operators that return one buffer of their own (overwritten by the next product)."""

    def __init__(self, mat, buf):
        self.mat, self.buf = mat, buf
        self.shape, self.dtype = mat.shape, np.float64

    def matvec(self, x):
        self.buf[:] = self.mat @ x
        return self.buf


@pytest.mark.parametrize("method", ["cg", "minres", "gmres"])
@pytest.mark.parametrize("m", [30, 45])
def test_operator_and_preconditioner_sharing_their_output_buffer(method, m):
    A = sp.kronsum(_poisson1d(m), _poisson1d(m), format="csr")
    n = A.shape[0]
    b = np.cos(np.arange(n) * 0.37) + 1.0
    Minv = sp.diags(1.0 / A.diagonal())                                                        # SPD Jacobi
    shared = np.empty(n)
    r = getattr(solvers, method)(_Shared(A, shared), b, M=_Shared(Minv, shared), rtol=1e-9, maxiter=2000)
    ref = spla.spsolve(A.tocsc(), b)
    assert r.converged, r.message
    assert np.linalg.norm(b - A @ r.x) <= 1.5e-9 * np.linalg.norm(b)
    assert np.linalg.norm(r.x - ref) <= 1e-5 * np.linalg.norm(ref)
