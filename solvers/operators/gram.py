"""The Gram operator ``A^H A + shift I`` (normal equations, Gauss--Newton models).

Applied matrix-free as ``A^H (A x) + shift x``: two products with ``A`` per
``matvec``; ``A^H A`` is never formed (that would cost ``m n^2`` flops and
``n^2`` memory and lose the sparsity of ``A``).

Declared structure: symmetric (Hermitian) and **positive definite**, so CG
accepts it. ``A^H A`` is only positive *semi*-definite in general; it is
definite exactly when ``A`` has full column rank, and ``A^H A + shift I`` is
definite for every ``shift > 0``. The declaration is made because the Gram
operator exists to be handed to CG (least squares, Gauss--Newton and
Levenberg--Marquardt steps); the caller is responsible for the rank condition
or for a positive ``shift`` (a rank-deficient ``A`` with ``shift = 0`` makes CG
meet a zero-curvature direction, which it reports as a breakdown).

References
----------
A. Bjorck, *Numerical Methods for Least Squares Problems*, SIAM 1996, section 7.4 (CGLS / CGNR).
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006,
section 10.3 (Levenberg--Marquardt, ``J^T J + lambda I``).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backends as _backends
from .base import DenseOperator, LinearOperator, SparseOperator, aslinearoperator


class GramOperator(LinearOperator):
    """``A^H A + shift I`` for an ``(m, n)`` operator ``A``, applied matrix-free.

    Parameters
    ----------
    A : operator or array, shape (m, n)
        Anything :func:`~solvers.operators.aslinearoperator` accepts; it must
        provide ``rmatvec``. For CG, ``A`` must have full column rank unless
        ``shift > 0`` (see the module notes).
    shift : float, default 0.0
        A non-negative real added to the diagonal (Levenberg--Marquardt /
        Tikhonov regularisation).
    backend : str or Backend, optional
        Default: ``A``'s backend.

    Attributes
    ----------
    A : LinearOperator
    shift : float
    symmetric : True
    positive_definite : True
        Declared, see above: holds when ``A`` has full column rank or ``shift > 0``.

    Raises
    ------
    ValueError
        When ``shift`` is negative or not finite.
    TypeError
        When ``shift`` is not a real number.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.operators import GramOperator
    >>> A = np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 0.0]])
    >>> G = GramOperator(A, shift=1.0, backend="numpy")
    >>> np.allclose(G.matvec(np.ones(2)), (A.T @ A + np.eye(2)) @ np.ones(2))
    True
    """

    def __init__(self, A, *, shift=0.0, backend=None):
        if isinstance(shift, bool) or not isinstance(shift, numbers.Real):
            raise TypeError(f"shift must be a real number >= 0, got {type(shift).__name__}")
        shift = float(shift)
        if not np.isfinite(shift) or shift < 0:
            raise ValueError(f"shift must be finite and >= 0 (A^H A + shift I is declared positive definite), "
                             f"got {shift!r}")
        be = _backends.get_backend(backend, A)
        Aop = aslinearoperator(A, backend=be)
        n = Aop.shape[1]
        dt = np.result_type(Aop.dtype, np.float64) if shift else Aop.dtype   # an integer A plus a shift is float
        super().__init__((n, n), dt, be, symmetric=True, positive_definite=True)
        self.A = Aop
        self.shift = shift

    def _matvec(self, x):
        y = self.A.rmatvec(self.A.matvec(x))
        if self.shift:
            y = y + self.shift * x
        return y

    _rmatvec = _matvec   # Hermitian

    def matmat(self, X):
        X = self._block(X)
        if isinstance(self.A, (DenseOperator, SparseOperator)):
            Y = self.A.A.T.conj() @ (self.A.A @ X)
        elif X.shape[1] == 0:
            return super().matmat(X)
        else:
            xp = self.backend.xp
            Y = xp.stack([self.A.rmatvec(self.A.matvec(X[:, j])) for j in range(X.shape[1])], axis=1)
        if self.shift:
            Y = Y + self.shift * X
        return Y

    def diagonal(self):
        """``sum_i |A_ij|^2 + shift`` (squared column norms); needs a dense or sparse ``A``."""
        xp = self.backend.xp
        if isinstance(self.A, DenseOperator):
            d = xp.sum(xp.abs(self.A.A) ** 2, axis=0)
        elif isinstance(self.A, SparseOperator):
            d = xp.asarray(abs(self.A.A).power(2).sum(axis=0)).ravel()
        else:
            raise NotImplementedError(f"GramOperator.diagonal needs a dense or sparse A, got "
                                      f"{type(self.A).__name__} (its column norms are not available)")
        return d + self.shift
