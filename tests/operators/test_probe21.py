"""Operator findings of an outside probe (session 21, helper-82), each against the dense NumPy product: matvec_dot
of a non-square sparse operator read x past its end on numba; an out aliasing x gave silently wrong products; a
read-only or integer out was not named (numpy truncated A x into an integer out); a shifted Gram operator of an
integer matrix declared an integer dtype; an empty CountSketch matmat came back int64; cg on a 2 x 2
non-symmetric matrix whose residual grew 9.9x was advised a preconditioner."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers.operators import GramOperator, SparseOperator, StencilOperator, count_sketch


@pytest.mark.parametrize("be", ["numpy", "numba"])
def test_sparse_fast_products_check_square_alias_and_out(be):
    A = sp.csr_matrix(np.arange(1.0, 13.0).reshape(4, 3))
    op = SparseOperator(A, backend=be)
    buf = np.array([1.0, 1.0, 1.0, 1000.0])
    with pytest.raises(ValueError, match="matvec_dot: x . A x needs a square operator, this one is 4 x 3"):
        op.matvec_dot(buf[:3], np.empty(4))
    out = np.empty(4)
    op.matvec_into(buf[:3], out)
    np.testing.assert_array_equal(out, A.toarray() @ buf[:3])
    S = SparseOperator(sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 3.0]])), backend=be)
    x = np.array([1.0, 2.0])
    for call in (S.matvec_into, S.matvec_dot):
        with pytest.raises(ValueError, match="out shares memory with x"):
            call(x, x)
    ro = np.empty(2)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        S.matvec_into(x, ro)
    with pytest.raises(TypeError, match="out has dtype int64, which would truncate"):
        S.matvec_into(x, np.empty(2, dtype=np.int64))
    assert S.matvec_dot(x, np.empty(2)) == pytest.approx(x @ (S.A.toarray() @ x))


@pytest.mark.parametrize("be", ["numpy", "numba"])
def test_stencil_refuses_an_aliased_out(be):
    A = StencilOperator((3, 1), (0.25, 0.5), backend=be)
    x = np.array([1.0, 2.0, 3.0])
    ref = A.matvec(x)
    with pytest.raises(ValueError, match="out shares memory with x"):
        A.matvec_into(x, x)
    out = np.empty(3)
    A.matvec_into(x, out)
    np.testing.assert_array_equal(out, ref)


def test_dtypes_of_a_shifted_integer_gram_and_an_empty_sketch_product():
    M = np.array([[1, 2], [3, 4]])
    g = GramOperator(M, shift=0.5)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.matvec(np.ones(2)), (M.T @ M + 0.5 * np.eye(2)) @ np.ones(2))
    S = count_sketch(3, 5, seed=0)
    assert S.matmat(np.zeros((5, 0))).dtype == np.float64


def test_cg_names_a_non_symmetric_matrix_whose_residual_grew_less_than_tenfold():
    N = np.array([[4.0, 1.0], [-1.0, 3.0]])
    r = solvers.cg(N, np.ones(2), maxiter=1000)
    assert r.status == "maxiter" and "A is not symmetric" in r.message
    assert solvers.gmres(N, np.ones(2)).converged
