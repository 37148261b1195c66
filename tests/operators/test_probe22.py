"""Operator defects found by an outside probe (helper-90, session 22), each against a dense NumPy reference."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvers.operators import FunctionOperator, dot_test, kkt_operator
from solvers.operators.base import DenseOperator, SparseOperator
from solvers.operators.stencil import StencilOperator


def test_dot_test_fails_on_nan_and_overflow_and_refuses_bad_arguments():
    with pytest.raises(AssertionError, match="not finite"):
        dot_test(FunctionOperator((2, 2), lambda x: np.full(2, np.nan), lambda y: y), rng=0)
    with pytest.raises(AssertionError, match="not finite"):          # a wrong adjoint whose products overflow
        dot_test(FunctionOperator((200, 200), lambda x: 1e308 * x, lambda y: -1e308 * y), rng=0)
    M = np.array([[1.0, 2.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="rtol"):
        dot_test(FunctionOperator((2, 2), lambda x: M @ x, lambda y: M @ y), rng=0, rtol=np.nan)
    with pytest.raises(ValueError, match="nvec"):
        dot_test(FunctionOperator((2, 2), lambda x: M @ x, lambda y: M.T @ y), rng=0, nvec=0)
    assert dot_test(FunctionOperator((2, 2), lambda x: M @ x, lambda y: M.T @ y), rng=0) < 1e-14


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_an_aliased_out_is_refused_for_ndarray_subclasses_too(backend):
    """An ndarray subclass x (or a memmap) skipped the overlap check, and the numba product came out wrong."""
    A = sp.diags([-np.ones(4), 2 * np.ones(5), -np.ones(4)], [-1, 0, 1]).tocsr()
    x = np.arange(1.0, 6.0).view(_Sub)
    with pytest.raises(ValueError, match="shares memory"):
        SparseOperator(A, backend=backend).matvec_into(x, x.view(np.ndarray))
    y = np.arange(1.0, 6.0).view(_Sub)
    with pytest.raises(ValueError, match="shares memory"):
        StencilOperator((5, 1), 1.0, backend=backend).matvec_into(y, y.view(np.ndarray))


def test_kkt_checks_the_matrix_of_a_dense_or_sparse_operator():
    H, J = np.array([[2.0, 1.0], [0.0, 2.0]]), np.array([[1.0, 1.0]])
    for op in (DenseOperator(H), SparseOperator(sp.csr_matrix(H))):
        with pytest.raises(ValueError, match="H must be symmetric"):
            kkt_operator(op, J)
    K = kkt_operator(DenseOperator(H + H.T), J)
    D = np.block([[H + H.T, J.T], [J, np.zeros((1, 1))]])
    np.testing.assert_allclose(K.todense() if hasattr(K, "todense") else K @ np.eye(3), D)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sparse_fast_products_follow_one_dtype_rule(backend):
    """numpy rounded A x into a float32 out and returned Re(x^T A x) for complex data; numba refused every
    complex out. Now: matvec_dot is for real data, out is float64 or complex128, on both backends."""
    Ac = sp.csr_matrix([[1, 1j], [-1j, 2]])
    x = np.array([1 + 1j, 2 - 1j])
    op = SparseOperator(Ac, backend=backend)
    with pytest.raises(TypeError, match="real data"):  # (and a float64 out)
        op.matvec_dot(x, np.empty(2, complex))
    np.testing.assert_allclose(op.matvec_into(x, np.empty(2, complex)), Ac @ x)
    R = SparseOperator(sp.csr_matrix(3.0 * np.eye(2)), backend=backend)
    with pytest.raises(TypeError, match="round"):
        R.matvec_into(np.ones(2), np.empty(2, np.float32))


def test_dot_test_survives_huge_norms_and_refuses_complex_out_for_matvec_dot():
    """Review (session 22): with entries near 1e160 the norms overflowed to inf, so a wrong adjoint had
    mismatch 0 and passed; a correct one at that scale must still pass. matvec_dot with a complex out
    warned on numpy and passed on numba."""
    with pytest.raises(AssertionError, match="dot test failed"):
        dot_test(FunctionOperator((4, 4), lambda x: 1e160 * x, lambda y: -1e160 * y), rng=0)
    assert dot_test(FunctionOperator((4, 4), lambda x: 1e150 * x, lambda y: 1e150 * y), rng=0) < 1e-14
    for backend in ("numpy", "numba"):
        op = SparseOperator(sp.csr_matrix(np.eye(2)), backend=backend)
        with pytest.raises(TypeError, match="float64 out"):
            op.matvec_dot(np.ones(2), np.empty(2, complex))
