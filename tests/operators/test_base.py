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


def test_wrapping_a_sparse_matrix_with_duplicates_leaves_the_callers_arrays_alone():
    """csr() summed duplicates in place on arrays shared with the caller's matrix (indptr [0 3 4] -> [0 2 3],
    nnz 4 -> 3; helper-68). The operator still sums them (checked against the dense matrix)."""
    import scipy.sparse as sp

    data, indices, indptr = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1]), np.array([0, 3, 4])
    M = sp.csr_matrix((data, indices, indptr), shape=(2, 2))
    before = (data.copy(), indices.copy(), indptr.copy(), M.nnz)
    op = solvers.operators.SparseOperator(M)
    assert np.array_equal(M.data, before[0]) and np.array_equal(M.indices, before[1])
    assert np.array_equal(M.indptr, before[2]) and M.nnz == before[3]
    np.testing.assert_allclose(op.matvec(np.array([1.0, 2.0])), M.toarray() @ np.array([1.0, 2.0]))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sparse_matvec_into_a_real_out_refuses_a_complex_product(backend):
    import scipy.sparse as sp

    op = solvers.operators.SparseOperator(sp.csr_matrix(np.array([[2, 1j], [-1j, 2]])), backend=backend)
    with pytest.raises(TypeError, match="imaginary part"):
        op.matvec_into(np.ones(2), np.empty(2))
    if backend == "numpy":                            # (the Numba kernel takes float64 only, and says so)
        out = np.empty(2, dtype=complex)
        np.testing.assert_allclose(op.matvec_into(np.ones(2), out), [2 + 1j, 2 - 1j])


def test_matmat_with_no_columns_returns_an_empty_block():
    from solvers.operators import FunctionOperator, GramOperator, IdentityOperator

    F = FunctionOperator((3, 3), lambda v: 2 * v)
    for op in (F, F + F, 2 * F, F @ F, F.T, IdentityOperator(3) + F, GramOperator(F)):
        assert op.matmat(np.zeros((3, 0))).shape == (3, 0)


def test_kkt_operator_symmetry_check_is_relative_and_sees_lists_and_nan():
    import scipy.sparse as sp

    from solvers.operators import kkt_operator

    J = np.ones((1, 3))
    for H in (1e-20 * np.triu(np.ones((3, 3))), sp.csr_matrix(1e-20 * np.triu(np.ones((3, 3)))),
              [[1, 2, 0], [0, 1, 0], [0, 0, 1]]):
        with pytest.raises(ValueError, match="must be symmetric"):
            kkt_operator(H, J)
    with pytest.raises(ValueError, match="finite"):
        kkt_operator(np.full((3, 3), np.nan), J)
    K = kkt_operator(1e-20 * np.eye(3), J)             # a tiny symmetric H is fine (reference: the assembled K)
    Kd = np.block([[1e-20 * np.eye(3), J.T], [J, np.zeros((1, 1))]])
    np.testing.assert_allclose(K.matvec(np.arange(4.0)), Kd @ np.arange(4.0))


def test_an_operator_times_a_sparse_matrix_is_a_product_operator():
    """op @ S gave an ndarray (dense op), a csr_matrix (sparse, identity), a SciPy error (function) or a false
    dimension mismatch (diagonal), depending on op (helper-68); now a product operator for every kind, checked
    against the dense matrices."""
    from solvers.operators import DenseOperator, ProductOperator, SparseOperator

    rng = np.random.default_rng(0)
    S = sp.random(3, 4, density=0.6, random_state=1, format="csr")
    D = rng.standard_normal((3, 3))
    x = rng.standard_normal(4)
    for op, dense in ((DenseOperator(D), D), (SparseOperator(sp.csr_matrix(D)), D), (IdentityOperator(3), np.eye(3)),
                      (FunctionOperator((3, 3), lambda v: D @ v), D), (DiagonalOperator(np.arange(1.0, 4.0)),
                                                                         np.diag(np.arange(1.0, 4.0)))):
        P = op @ S
        assert isinstance(P, ProductOperator) and P.shape == (3, 4)
        np.testing.assert_allclose(P.matvec(x), dense @ (S @ x), rtol=1e-12, atol=1e-14)
