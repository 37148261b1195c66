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


@pytest.mark.parametrize("seed", [1, 2])
def test_cg_does_not_blame_an_ill_conditioned_symmetric_preconditioner(seed):
    """helper-96: an SPD M given as a dense inverse (cond 1e12) is symmetric only to ~eps cond(M) (8.5e-8 by the
    probe) and was called "not symmetric" when the residual grew 1.2x."""
    rng = np.random.default_rng(seed)
    n = 200
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    S = (Q * np.logspace(0, 12, n)) @ Q.T
    M = np.linalg.inv(0.5 * (S + S.T))
    assert np.linalg.eigvalsh(0.5 * (M + M.T)).min() > 0                           # SPD (reference: NumPy)
    A = sp.diags(np.logspace(0, 3, n))
    r = solvers.cg(A, rng.standard_normal(n), M=M, maxiter=40, backend="numpy")
    assert not r.converged
    assert "not symmetric" not in r.message


class _Shared:
    """A and M as user operators that return one buffer of their own (overwritten by the next product)."""

    def __init__(self, mat, buf):
        self.mat, self.buf = mat, buf
        self.shape, self.dtype = mat.shape, np.float64

    def matvec(self, x):
        self.buf[:] = self.mat @ x
        return self.buf


class _SharedStepwise(_Shared):
    """As :class:`_Shared`, but the product is written into the buffer term by term (so an input that is the
    buffer itself is overwritten while it is read: GMRES passed M's returned storage to A, helper-96)."""

    def matvec(self, x):
        o = self.buf
        o[:] = self.mat.diagonal() * x
        off = self.mat - sp.diags(self.mat.diagonal())
        o += off @ x
        return o


@pytest.mark.parametrize("method", ["cg", "minres", "gmres", "cdm"])
@pytest.mark.parametrize("m", [30, 45])
@pytest.mark.parametrize("kind", [_Shared, _SharedStepwise])
def test_operator_and_preconditioner_sharing_their_output_buffer(method, m, kind):
    A = sp.kronsum(_poisson1d(m), _poisson1d(m), format="csr")
    n = A.shape[0]
    b = np.cos(np.arange(n) * 0.37) + 1.0
    # SPD preconditioner with off-diagonal terms: the tridiagonal part of A^-1 is not SPD in general, so use
    # D^-1/2 (I - 0.1 T) D^-1/2 with T the 1-D second difference (eigenvalues of I - 0.1 T in (0.6, 1))
    d = 1.0 / np.sqrt(A.diagonal())
    Minv = (sp.diags(d) @ (sp.identity(n) - 0.1 * sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))) @ sp.diags(d))
    Minv = Minv.tocsr()
    shared = np.empty(n)
    r = getattr(solvers, method)(kind(A, shared), b, M=kind(Minv, shared), rtol=1e-9, maxiter=2000)
    ref = spla.spsolve(A.tocsc(), b)
    assert r.converged, r.message
    assert np.linalg.norm(b - A @ r.x) <= 1.5e-9 * np.linalg.norm(b)
    assert np.linalg.norm(r.x - ref) <= 1e-5 * np.linalg.norm(ref)
