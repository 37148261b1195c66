"""Operators on the right of NumPy arrays, and the declared dtype / structure of scaled and diagonal
operators, against dense NumPy arithmetic."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvers import operators as O

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("n", [1, 4, 7])
def test_array_left_of_operator_matches_dense(n):
    M, N = RNG.standard_normal((n, n)), RNG.standard_normal((n, n))
    A = O.DenseOperator(M)
    x = RNG.standard_normal(n)
    np.testing.assert_allclose((N + A).matvec(x), (N + M) @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose((N - A).matvec(x), (N - M) @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(N @ A, N @ M, rtol=1e-13, atol=1e-13)             # an array, as A @ N is
    np.testing.assert_allclose(x @ A, x @ M, rtol=1e-13, atol=1e-13)            # row vector times matrix
    np.testing.assert_allclose(list(x) @ A, x @ M, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose((sp.csr_matrix(N) @ A).matvec(x), N @ M @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose((sp.csr_matrix(N) + A).matvec(x), (N + M) @ x, rtol=1e-13, atol=1e-13)


def test_row_vector_times_complex_operator_is_not_conjugated():
    M = RNG.standard_normal((5, 5)) + 1j * RNG.standard_normal((5, 5))
    x = RNG.standard_normal(5) + 1j * RNG.standard_normal(5)
    np.testing.assert_allclose(x @ O.DenseOperator(M), x @ M, rtol=1e-13)
    X = RNG.standard_normal((3, 5)) + 1j * RNG.standard_normal((3, 5))
    np.testing.assert_allclose(X @ O.DenseOperator(M), X @ M, rtol=1e-13)


@pytest.mark.parametrize("alpha, want", [(2.0, np.float32), (-1, np.float32), (np.float64(3.0), np.float32),
                                         (1j, np.complex64), (0.5 + 2j, np.complex64)])
def test_scaled_float32_operator_declares_the_dtype_it_returns(alpha, want):
    A = O.DiagonalOperator(np.array([1.0, 2.0, 3.0], dtype=np.float32))
    for B in (alpha * A, A * alpha):
        y = B.matvec(np.ones(3, np.float32))
        assert B.dtype == want == y.dtype
        np.testing.assert_allclose(y, alpha * np.array([1.0, 2.0, 3.0]), rtol=1e-6)


def test_complex_diagonal_is_not_declared_positive_definite():
    assert not O.DiagonalOperator(np.array([1 + 1j, 2.0, 3.0])).positive_definite
    assert not O.DiagonalOperator(np.array([1 + 1j, 2.0, 3.0])).symmetric
    real_valued = O.DiagonalOperator(np.array([1 + 0j, 2.0, 3.0]))       # Hermitian positive definite
    assert real_valued.positive_definite and real_valued.symmetric
    assert not O.DiagonalOperator(np.array([1.0, -2.0])).positive_definite
