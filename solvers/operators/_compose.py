"""The composed operators that :class:`~solvers.operators.base.LinearOperator`'s algebra builds.

``A + B`` and ``A - B`` give a :class:`SumOperator` (``A - B`` is ``A + (-1) B``), ``A @ B`` a
:class:`ProductOperator`, ``alpha * A`` and ``-A`` a :class:`ScaledOperator`, and ``A.T`` a
:class:`TransposedOperator`. Each holds its operands (no arrays of its own), applies them lazily,
declares only the structure that follows from theirs (a sum of symmetric positive definite
operators is symmetric positive definite; a product declares nothing), and moves to another
backend by moving its operands (``with_backend``).

The classes are re-exported by :mod:`solvers.operators.base`, where they lived before, so
``from solvers.operators.base import SumOperator`` and pickles written before the move still work.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backends as _backends
from .base import LinearOperator
from ._convert import convert


class SumOperator(LinearOperator):
    """The sum ``A + B`` of two operators of the same shape."""

    def __init__(self, A, B):
        if A.shape != B.shape:
            raise ValueError(f"cannot add operators of shapes {A.shape} and {B.shape}")
        super().__init__(A.shape, np.result_type(A.dtype, B.dtype), A.backend,
                         symmetric=A.symmetric and B.symmetric,
                         positive_definite=A.positive_definite and B.positive_definite)
        self.A, self.B = A, B

    def _matvec(self, x):
        return self.A.matvec(x) + self.B.matvec(x)

    def _rmatvec(self, x):
        return self.A.rmatvec(x) + self.B.rmatvec(x)

    def diagonal(self):
        return self.A.diagonal() + self.B.diagonal()

    def with_backend(self, backend) -> "SumOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else SumOperator(convert(self.A, be), convert(self.B, be))


class ProductOperator(LinearOperator):
    """The product ``A B`` (``B`` applied first)."""

    def __init__(self, A, B):
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"cannot multiply operators of shapes {A.shape} and {B.shape}")
        super().__init__((A.shape[0], B.shape[1]), np.result_type(A.dtype, B.dtype), A.backend)
        self.A, self.B = A, B

    def _matvec(self, x):
        return self.A.matvec(self.B.matvec(x))

    def _rmatvec(self, x):
        return self.B.rmatvec(self.A.rmatvec(x))

    def with_backend(self, backend) -> "ProductOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else ProductOperator(convert(self.A, be), convert(self.B, be))


def _scaled_dtype(dtype, alpha):
    """The dtype of ``alpha * (A x)``: a Python number keeps A's precision (NumPy 2's rule for Python scalars:
    2.0 * a float32 operator is float32, as its products are), a NumPy scalar takes part with its own."""
    if isinstance(alpha, np.generic):
        return np.result_type(dtype, alpha.dtype)
    v = int(alpha) if isinstance(alpha, numbers.Integral) else (
        float(alpha) if isinstance(alpha, numbers.Real) else complex(alpha))
    return np.result_type(dtype, v)


class ScaledOperator(LinearOperator):
    """The scalar multiple ``alpha A``."""

    def __init__(self, A, alpha):
        if not isinstance(alpha, numbers.Number):
            raise TypeError(f"alpha must be a scalar, got {type(alpha).__name__}")
        if not np.isfinite(alpha):
            raise ValueError(f"the scale factor of an operator must be finite, got {alpha!r}")
        real = isinstance(alpha, numbers.Real)
        super().__init__(A.shape, _scaled_dtype(A.dtype, alpha), A.backend,
                         symmetric=A.symmetric and real,
                         positive_definite=A.positive_definite and real and alpha > 0)
        self.A, self.alpha = A, alpha

    def _matvec(self, x):
        return self.alpha * self.A.matvec(x)

    def _rmatvec(self, x):
        return np.conj(self.alpha) * self.A.rmatvec(x)

    def diagonal(self):
        return self.alpha * self.A.diagonal()

    def with_backend(self, backend) -> "ScaledOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else ScaledOperator(convert(self.A, be), self.alpha)


class TransposedOperator(LinearOperator):
    """The (conjugate) transpose ``A^H``."""

    def __init__(self, A):
        super().__init__((A.shape[1], A.shape[0]), A.dtype, A.backend,
                         symmetric=A.symmetric, positive_definite=A.positive_definite)
        self.A = A

    def _matvec(self, x):
        return self.A.rmatvec(x)

    def _rmatvec(self, x):
        return self.A.matvec(x)

    def diagonal(self):
        return self.A.diagonal().conj()

    def with_backend(self, backend) -> "TransposedOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else TransposedOperator(convert(self.A, be))
