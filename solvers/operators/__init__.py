"""Linear operators: the protocol, basic and composed operators, stencils, sketches."""
from .base import (DenseOperator, DiagonalOperator, FunctionOperator, IdentityOperator, LinearOperator,
                   ProductOperator, ScaledOperator, SparseOperator, SumOperator, TransposedOperator,
                   aslinearoperator, dot_test)
from .stencil import StencilOperator

__all__ = ["LinearOperator", "DenseOperator", "SparseOperator", "DiagonalOperator", "IdentityOperator",
           "FunctionOperator", "SumOperator", "ProductOperator", "ScaledOperator", "TransposedOperator",
           "aslinearoperator", "dot_test", "StencilOperator"]
