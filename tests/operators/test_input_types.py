"""Operators refuse inputs that are not arrays with a TypeError naming the method (not an AttributeError
from deep inside ``_matvec``), and keep working for arrays."""
import numpy as np
import pytest

from solvers.operators import DenseOperator, DiagonalOperator, sketch


def _ops():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    return [DenseOperator(A, backend="numpy"), DiagonalOperator(np.arange(1.0, 6.0), backend="numpy"),
            sketch.gaussian_sketch(5, 5, seed=1, backend="numpy")], A


@pytest.mark.parametrize("bad", [[1.0, 2.0, 3.0, 4.0, 5.0], (1.0,) * 5, 3.0, "abcde", None])
def test_non_array_inputs_are_type_errors(bad):
    for op in _ops()[0]:
        for name in ("matvec", "rmatvec", "matmat"):
            with pytest.raises(TypeError, match=rf"{type(op).__name__}\.{name}: the input must be an array"):
                getattr(op, name)(bad)


def test_arrays_still_give_the_dense_products():
    ops, A = _ops()
    x = np.linspace(-1.0, 1.0, 5)
    X = np.vander(x, 3)
    np.testing.assert_allclose(ops[0].matvec(x), A @ x, rtol=1e-14)
    np.testing.assert_allclose(ops[0].rmatvec(x), A.T @ x, rtol=1e-14)
    np.testing.assert_allclose(ops[0].matmat(X), A @ X, rtol=1e-14)
    np.testing.assert_allclose(ops[1].matvec(x), np.arange(1.0, 6.0) * x, rtol=1e-15)
    S = ops[2].todense()
    np.testing.assert_allclose(ops[2].matvec(x), S @ x, rtol=1e-13)
    np.testing.assert_allclose(ops[2].matmat(X), S @ X, rtol=1e-13)


def test_matmat_shapes_are_checked_for_every_operator():
    """Dense, diagonal and identity ``matmat`` used to take any shape: a diagonal operator times a 1-D
    ``(5,)`` input broadcast to a silent ``(5, 5)`` outer product."""
    from solvers.operators import IdentityOperator

    ops = _ops()[0] + [IdentityOperator(5, backend="numpy")]
    for op in ops:
        for X in (np.ones(5), np.ones((4, 2)), np.ones((5, 2, 1))):
            with pytest.raises(ValueError, match=rf"{type(op).__name__}\.matmat: X has shape"):
                op.matmat(X)
        np.testing.assert_allclose(op.matmat(np.eye(5))[:, 2], op.matvec(np.eye(5)[:, 2]), rtol=1e-13)
