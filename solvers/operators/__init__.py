"""Linear operators: the protocol, basic and composed operators, stencils, block/KKT, Gram and sketches.

A linear operator is anything with ``shape``, ``dtype`` and ``matvec(x)``
(``rmatvec``, ``matmat`` and ``diagonal()`` optional);
:class:`LinearOperator` is the convenience base class with declared structure
(``symmetric``, ``positive_definite``). Every operator here passes
:func:`dot_test` and pickles with the standard library when built from arrays.
"""
from .base import (DenseOperator, DiagonalOperator, FunctionOperator, IdentityOperator, LinearOperator,
                   ProductOperator, ScaledOperator, SparseOperator, SumOperator, TransposedOperator,
                   aslinearoperator)
from ._dottest import dot_test
from .block import BlockOperator, kkt_operator
from .gram import GramOperator
from .sketch import (CountSketch, GaussianSketch, RowSamplingSketch, SketchOperator, count_sketch,
                     gaussian_sketch, row_sampling)
from .stencil import StencilOperator

__all__ = ["LinearOperator", "DenseOperator", "SparseOperator", "DiagonalOperator", "IdentityOperator",
           "FunctionOperator", "SumOperator", "ProductOperator", "ScaledOperator", "TransposedOperator",
           "aslinearoperator", "dot_test", "StencilOperator",
           "BlockOperator", "kkt_operator", "GramOperator",
           "SketchOperator", "GaussianSketch", "CountSketch", "RowSamplingSketch",
           "gaussian_sketch", "count_sketch", "row_sampling"]
