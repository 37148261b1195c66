"""Block operators: ``[[A, B], [C, D]]`` built from operators, and the KKT operator.

A :class:`BlockOperator` applies a grid of operators to a vector split into
column segments and stacks the row results; a ``None`` block is a zero block.
:func:`kkt_operator` builds the saddle-point (Karush--Kuhn--Tucker) matrix of
an equality-constrained quadratic model::

    K = [[H, J^T],
         [J, 0  ]]

which is symmetric and indefinite (``n`` positive and ``m`` negative
eigenvalues when ``H`` is positive definite on the null space of ``J`` and
``J`` has full row rank), so it is solved with MINRES or GMRES, not CG.

References
----------
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
section 16.1 (the KKT system of an equality-constrained QP).
M. Benzi, G. H. Golub and J. Liesen, "Numerical solution of saddle point
problems", *Acta Numerica* 14 (2005), 1--137.
"""
from __future__ import annotations

import numpy as np

from .. import backends as _backends
from .base import LinearOperator, aslinearoperator


def _block_grid(blocks):
    """Check that ``blocks`` is a non-empty rectangular list of lists and return it as one."""
    if isinstance(blocks, LinearOperator) or hasattr(blocks, "shape"):
        raise TypeError("blocks must be a list of lists of operators, e.g. [[A, B], [C, None]]; "
                        "got a single operator or array")
    try:
        rows = [list(r) for r in blocks]
    except TypeError:
        raise TypeError("blocks must be a list of lists of operators (None for a zero block), e.g. [[A, B], [C, None]]"
                        ) from None
    if not rows or not rows[0]:
        raise ValueError("blocks must have at least one block row and one block column")
    ncol = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != ncol:
            raise ValueError(f"blocks must be rectangular: block row 0 has {ncol} blocks, block row {i} has {len(r)}")
    return rows


class BlockOperator(LinearOperator):
    """A 2-D grid of operators acting as one operator.

    Parameters
    ----------
    blocks : list of list
        ``blocks[i][j]`` is the block in block row ``i`` and block column
        ``j``: anything :func:`~solvers.operators.aslinearoperator` accepts
        (operator, dense array, sparse matrix) or ``None`` for a zero block.
        Every block row and every block column needs at least one block that
        is not ``None`` (it fixes the row height / column width).
    backend : str or Backend, optional
        Default: the backend of the first block that carries one.
    symmetric, positive_definite : bool, default False
        Declared structure (not checked): declare ``symmetric=True`` only when
        ``blocks[j][i]`` is the transpose of ``blocks[i][j]`` for all ``i, j``.

    Attributes
    ----------
    blocks : list of list of LinearOperator or None
    row_sizes, col_sizes : tuple of int
        Height of each block row and width of each block column.

    Raises
    ------
    ValueError
        When a block's shape does not match its block row's height or its block
        column's width (the message names the block), or a block row or column
        is all ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.operators import BlockOperator
    >>> K = BlockOperator([[np.eye(2), np.ones((2, 1))], [None, np.eye(1)]], backend="numpy")
    >>> K.matvec(np.ones(3))
    array([2., 2., 1.])
    """

    def __init__(self, blocks, backend=None, *, symmetric=False, positive_definite=False):
        rows = _block_grid(blocks)
        present = [b for r in rows for b in r if b is not None]
        if not present:
            raise ValueError("all blocks are None: at least one block per block row and block column is needed")
        be = _backends.get_backend(backend, *present)
        grid = [[None if b is None else aslinearoperator(b, backend=be) for b in r] for r in rows]
        nrow, ncol = len(grid), len(grid[0])
        heights, widths = [None] * nrow, [None] * ncol
        for i in range(nrow):
            for j in range(ncol):
                b = grid[i][j]
                if b is None:
                    continue
                if heights[i] is None:
                    heights[i] = b.shape[0]
                elif b.shape[0] != heights[i]:
                    raise ValueError(f"block [{i}][{j}] has {b.shape[0]} rows but block row {i} has height "
                                     f"{heights[i]} (set by an earlier block in that row)")
                if widths[j] is None:
                    widths[j] = b.shape[1]
                elif b.shape[1] != widths[j]:
                    raise ValueError(f"block [{i}][{j}] has {b.shape[1]} columns but block column {j} has width "
                                     f"{widths[j]} (set by an earlier block in that column)")
        for i, h in enumerate(heights):
            if h is None:
                raise ValueError(f"block row {i} is all None: its height is unknown; put an explicit zero "
                                 "operator there or drop the row")
        for j, w in enumerate(widths):
            if w is None:
                raise ValueError(f"block column {j} is all None: its width is unknown; put an explicit zero "
                                 "operator there or drop the column")
        dtype = np.result_type(*[b.dtype for r in grid for b in r if b is not None])
        super().__init__((sum(heights), sum(widths)), dtype, be,
                         symmetric=symmetric, positive_definite=positive_definite)
        self.blocks = grid
        self.row_sizes = tuple(heights)
        self.col_sizes = tuple(widths)
        self._row_off = tuple(int(v) for v in np.concatenate([[0], np.cumsum(heights)]))
        self._col_off = tuple(int(v) for v in np.concatenate([[0], np.cumsum(widths)]))

    # the block-wise product, for matvec (transpose=False) and rmatvec (transpose=True)
    def _apply(self, x, transpose):
        xp = self.backend.xp
        out_sizes, in_off = (self.col_sizes, self._row_off) if transpose else (self.row_sizes, self._col_off)
        nout, nin = len(out_sizes), len(in_off) - 1
        dtype = np.result_type(self.dtype, x.dtype)
        parts = []
        for o in range(nout):
            acc = None
            for k in range(nin):
                b = self.blocks[k][o] if transpose else self.blocks[o][k]
                if b is None:
                    continue
                seg = x[in_off[k]:in_off[k + 1]]
                y = b.rmatvec(seg) if transpose else b.matvec(seg)
                acc = y if acc is None else acc + y
            parts.append(xp.zeros(out_sizes[o], dtype=dtype) if acc is None else acc.astype(dtype, copy=False))
        return xp.concatenate(parts)

    def _matvec(self, x):
        return self._apply(x, False)

    def _rmatvec(self, x):
        return self._apply(x, True)

    def matmat(self, X):
        xp = self.backend.xp
        X = self._block(X)
        dtype = np.result_type(self.dtype, X.dtype)
        parts = []
        for i, row in enumerate(self.blocks):
            acc = None
            for j, b in enumerate(row):
                if b is None:
                    continue
                y = b.matmat(X[self._col_off[j]:self._col_off[j + 1]])
                acc = y if acc is None else acc + y
            parts.append(xp.zeros((self.row_sizes[i], X.shape[1]), dtype=dtype) if acc is None
                         else acc.astype(dtype, copy=False))
        return xp.concatenate(parts, axis=0)

    def diagonal(self):
        """The diagonal, from the diagonal blocks.

        Available when the operator is square with square diagonal blocks
        (``row_sizes == col_sizes``) and every diagonal block provides
        ``diagonal()``; a ``None`` diagonal block contributes zeros.
        """
        if self.row_sizes != self.col_sizes:
            raise NotImplementedError(
                f"BlockOperator.diagonal needs square diagonal blocks (row sizes {self.row_sizes} equal to column "
                f"sizes {self.col_sizes})")
        xp = self.backend.xp
        parts = []
        for i, n in enumerate(self.row_sizes):
            b = self.blocks[i][i]
            parts.append(xp.zeros(n, dtype=self.dtype) if b is None else b.diagonal().astype(self.dtype, copy=False))
        return xp.concatenate(parts)

    def todense(self):
        """The explicit matrix (for tests and small problems), from the blocks' products with unit vectors."""
        xp = self.backend.xp
        return self.matmat(xp.eye(self.shape[1], dtype=self.dtype))


def _check_symmetric_array(H, be):
    """When ``H`` is a dense array or a SciPy sparse matrix, check that it is symmetric (Hermitian).

    Other operators (and cupyx matrices) are trusted: checking them would cost products; the matrix of a
    ``DenseOperator`` / ``SparseOperator`` not declared symmetric is checked as a matrix.
    """
    import scipy.sparse as sp

    if sp.issparse(H):
        if H.shape[0] != H.shape[1]:
            raise ValueError(f"H must be a square (n, n) matrix, got shape {H.shape}")
        scale = float(abs(H).max()) if H.nnz else 0.0
        asym = float(abs(H - H.T.conj()).max()) if H.nnz else 0.0
        _symmetric_enough(scale, asym)
        return
    if isinstance(H, LinearOperator) or hasattr(H, "matvec"):
        from .base import DenseOperator, SparseOperator

        if type(H) in (DenseOperator, SparseOperator) and not H.symmetric and H.shape[0] == H.shape[1]:  # its matrix
            _check_symmetric_array(H.A if not hasattr(H.A, "get") else H.A.get(), _backends.get_backend("numpy"))
        return                                                     # (kkt_operator(DenseOperator(H), J) was declared
        #                                                            symmetric for a non-symmetric H; helper-90)
    if not (isinstance(H, np.ndarray) or _backends._is_cupy_array(H)):
        H = np.asarray(H)                    # nested lists, which aslinearoperator accepts as a dense matrix
        if H.dtype.kind not in "biufc":
            return
    Hb = be.asarray(H)
    if Hb.ndim != 2 or Hb.shape[0] != Hb.shape[1]:
        raise ValueError(f"H must be a square (n, n) matrix, got shape {Hb.shape}")
    xp = be.xp
    scale = float(be.to_numpy(xp.max(xp.abs(Hb)))) if Hb.size else 0.0
    asym = float(be.to_numpy(xp.max(xp.abs(Hb - Hb.T.conj())))) if Hb.size else 0.0
    _symmetric_enough(scale, asym)


def _symmetric_enough(scale, asym):
    """Refuse a non-finite ``H`` and one with ``max |H - H^H| > 1e-12 max |H|`` (relative: an absolute floor
    let ``1e-20 triu(ones)`` through as symmetric)."""
    if not (np.isfinite(scale) and np.isfinite(asym)):
        raise ValueError("H must be finite for the KKT operator (NaN or inf found)")
    if asym > 1e-12 * scale:
        raise ValueError(f"H must be symmetric for the KKT operator: max |H - H^T| = {asym:.3e} "
                         f"(max |H| = {scale:.3e}); pass (H + H.T) / 2")


def kkt_operator(H, J, backend=None) -> BlockOperator:
    """The KKT (saddle-point) operator ``[[H, J^T], [J, 0]]``.

    Parameters
    ----------
    H : operator or array, shape (n, n)
        Symmetric, e.g. the Hessian of the Lagrangian. A dense array or SciPy
        sparse matrix is checked for symmetry (once, here), and so is the matrix of a
        ``DenseOperator`` / ``SparseOperator`` not declared symmetric; other operators are trusted.
    J : operator or array, shape (m, n)
        The constraint Jacobian; it must provide ``rmatvec`` (for ``J^T``).
    backend : str or Backend, optional
        Default: the backend of ``H`` or ``J`` when one carries one.

    Returns
    -------
    BlockOperator
        Shape ``(n + m, n + m)``, declared ``symmetric=True`` and
        ``positive_definite=False`` (it is indefinite: solve with MINRES or GMRES).
        ``diagonal()`` is ``[diag(H), 0]`` when ``H`` provides its diagonal.

    Raises
    ------
    ValueError
        When ``H`` is not square, ``J`` has a different number of columns, or a
        dense ``H`` is not symmetric.

    References
    ----------
    J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
    equation (16.4).
    """
    be = _backends.get_backend(backend, H, J)
    _check_symmetric_array(H, be)
    Hop = aslinearoperator(H, backend=be)
    Jop = aslinearoperator(J, backend=be)
    if Hop.shape[0] != Hop.shape[1]:
        raise ValueError(f"H must be square (n, n), got shape {Hop.shape}")
    if Jop.shape[1] != Hop.shape[0]:
        raise ValueError(f"J must have shape (m, n) with n = {Hop.shape[0]} columns (the size of H), "
                         f"got shape {Jop.shape}")
    return BlockOperator([[Hop, Jop.T], [Jop, None]], backend=be, symmetric=True, positive_definite=False)
