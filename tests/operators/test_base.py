"""Operator protocol: every operator passes the dot test and matches its dense form."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers.operators import (DiagonalOperator, FunctionOperator, IdentityOperator, aslinearoperator,
                               dot_test)


def _dense(op, n):
    return np.column_stack([op.matvec(e) for e in np.eye(n)])


@pytest.fixture
def mats(rng):
    A = rng.standard_normal((7, 7))
    B = rng.standard_normal((7, 7))
    return A, B


def test_dense_sparse_scipy(mats, cpu_backend):
    A, _ = mats
    ops = [aslinearoperator(A, backend=cpu_backend),
           aslinearoperator(sp.csr_matrix(A), backend=cpu_backend),
           aslinearoperator(spla.aslinearoperator(A), backend=cpu_backend)]
    for op in ops:
        dot_test(op)
        np.testing.assert_allclose(_dense(op, 7), A, rtol=1e-13, atol=1e-13)


def test_composition(mats, rng):
    A, B = mats
    a, b = aslinearoperator(A), aslinearoperator(B)
    d = rng.standard_normal(7)
    cases = {"sum": (a + b, A + B), "diff": (a - b, A - B), "prod": (a @ b, A @ B), "scaled": (2.5 * a, 2.5 * A),
             "T": (a.T, A.T), "neg": (-a, -A), "diag": (DiagonalOperator(d), np.diag(d)),
             "I": (IdentityOperator(7), np.eye(7)), "mix": ((a + DiagonalOperator(d)).T @ b, (A + np.diag(d)).T @ B)}
    for name, (op, ref) in cases.items():
        dot_test(op)
        np.testing.assert_allclose(_dense(op, 7), ref, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose((a + DiagonalOperator(d)).diagonal(), np.diag(A) + d)


def test_function_operator_and_errors(mats):
    A, _ = mats
    op = FunctionOperator((7, 7), lambda x: A @ x, lambda y: A.T @ y)
    dot_test(op)
    with pytest.raises(ValueError, match="shape"):
        op.matvec(np.ones(3))
    with pytest.raises(TypeError, match="linear operator"):
        aslinearoperator("not a matrix")
    with pytest.raises(ValueError):
        aslinearoperator(A) + aslinearoperator(np.ones((3, 3)))
    bad = FunctionOperator((7, 7), lambda x: A @ x, lambda y: A @ y)  # wrong transpose
    with pytest.raises(AssertionError, match="dot test"):
        dot_test(bad)


def test_numba_csr_matches_scipy(rng):
    S = sp.random(300, 200, density=0.05, random_state=1, format="csr")
    op = aslinearoperator(S, backend="numba")
    x = rng.standard_normal(200)
    np.testing.assert_allclose(op.matvec(x), S @ x, rtol=1e-13, atol=1e-14)
    dot_test(op)


@pytest.mark.gpu
def test_cupy_operators(mats):
    import cupy as cp
    import cupyx.scipy.sparse as csp

    A, _ = mats
    for op in (aslinearoperator(cp.asarray(A)), aslinearoperator(csp.csr_matrix(cp.asarray(A)))):
        assert op.backend.name == "cupy"
        dot_test(op)


@pytest.mark.gpu
def test_cupy_sparse_from_scipy_integer_matrix():
    import cupy as cp

    S = sp.random(30, 30, density=0.2, random_state=0, format="csr")
    Si = (S * 10).astype(np.int64) + sp.identity(30, dtype=np.int64, format="csr")
    op = aslinearoperator(Si, backend="cupy")          # cupyx holds float/complex only: cast on entry
    assert op.backend.name == "cupy" and op.dtype == np.float64
    x = np.random.default_rng(0).standard_normal(30)
    np.testing.assert_allclose(cp.asnumpy(op.matvec(cp.asarray(x))), Si @ x, rtol=1e-13)
    res = solvers.cg(Si.T @ Si, cp.asarray(x), backend="cupy")
    assert res.backend == "cupy" and res.converged
