"""The linear-operator protocol and the basic operators.

A linear operator is anything with ``shape``, ``dtype`` and ``matvec(x)``; ``rmatvec``, ``matmat`` and
``diagonal()`` are optional. :class:`LinearOperator` is the convenience base class: it adds ``@``, ``+``,
``-``, scalar ``*`` and ``.T`` (with an array, sparse matrix or operator on either side: ``M + A`` is an
operator; ``X @ A`` mirrors ``A @ X``: the array ``X A``, for a vector the row vector ``x^T A``, for a
sparse matrix or operator a product operator), and declared structure (``symmetric``,
``positive_definite``) that solvers may rely on (declared, never guessed).

Every operator lives on one backend (``op.backend``); solvers run on it unless told otherwise.
``aslinearoperator(op, backend=other)`` converts explicitly with ``op.with_backend(other)`` (the same
operator built again on ``other``), or raises a ``TypeError`` that says how to build it there; an operator
is never relabelled.

Operators are immutable in practice: solvers cache validation on them (the scan of a dense or sparse matrix
for NaN/inf runs once per operator, not on every solve of a Newton loop). After changing an operator's
arrays in place, build a new operator.

The composed operators that ``+``, ``-``, ``*``, ``@`` and ``.T`` build (:class:`SumOperator`,
:class:`ProductOperator`, :class:`ScaledOperator`, :class:`TransposedOperator`) live in
:mod:`solvers.operators._compose`; re-exported here, so imports from this module and older pickles work.
"""
from __future__ import annotations

import numbers

import sys

import numpy as np

from .. import backends as _backends
from ._out import check_out


class OperatorOutputError(ValueError):
    """A user-supplied ``matvec`` / ``rmatvec`` returned an array that is not a vector of the
    operator's output length (raised before the value can reach a kernel)."""


class OperatorOutputTypeError(TypeError):
    """A user-supplied ``matvec`` / ``rmatvec`` returned something that is not an array."""


def _checked_output(op, y, n, what):
    """``y`` (the output of the callable behind ``op.<what>``) as a vector of length ``n``.

    O(1): looks at the type and shape only. ``(n, 1)`` / ``(1, n)`` outputs are flattened (a
    column or row vector); anything else raises :class:`OperatorOutputError` naming the operator.
    """
    shape = getattr(y, "shape", None)
    name = type(op.A if isinstance(op, _WrappedOperator) else op).__name__     # the user's operator type
    if shape is None or not hasattr(y, "dtype") or not hasattr(y, "reshape"):
        raise OperatorOutputTypeError(f"{name}.{what} returned {type(y).__name__}, expected an array of "
                                  f"shape ({n},) (the operator has shape {op.shape}); return an array")
    if shape == (n,):
        return y
    if len(shape) == 2 and 1 in shape and shape[0] * shape[1] == n:
        return y.reshape(-1)
    raise OperatorOutputError(f"{name}.{what} returned an array of shape {tuple(shape)}, expected "
                              f"({n},) (the operator has shape {op.shape}); fix the {what} callable or the "
                              "operator's shape")


class LinearOperator:
    """Base class for operators ``y = A x`` on backend arrays.

    Subclasses implement :meth:`_matvec` (and :meth:`_rmatvec` when the
    transpose is available), and :meth:`with_backend` when they can be built
    on another backend. Inputs are 1-D arrays of length ``shape[1]`` in the
    operator's backend (``self.backend``).
    """

    symmetric: bool = False
    positive_definite: bool = False

    def __init__(self, shape, dtype=np.float64, backend=None, *, symmetric=False, positive_definite=False):
        if len(shape) != 2 or any((not isinstance(s, numbers.Integral)) or s < 0 for s in shape):
            raise ValueError(f"shape must be a pair of non-negative integers, got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.backend = _backends.get_backend(backend)
        self.symmetric = bool(symmetric)
        self.positive_definite = bool(positive_definite)

    # -- protocol -------------------------------------------------------
    def _array(self, x, what):
        """``x`` unchanged when it is an array (has ``shape`` and ``dtype``), else a ``TypeError`` naming
        it (a list or a scalar would fail deep inside ``_matvec`` with an ``AttributeError``)."""
        if not (hasattr(x, "shape") and hasattr(x, "dtype")):
            raise TypeError(f"{type(self).__name__}.{what}: the input must be an array of the operator's backend "
                            f"({self.backend.name}), got {type(x).__name__}; convert it first, e.g. "
                            f"np.asarray(x, dtype=float)")
        return x

    def matvec(self, x):
        x = self._array(x, "matvec")
        if x.shape != (self.shape[1],):
            raise ValueError(f"{type(self).__name__}.matvec: x has shape {x.shape}, expected ({self.shape[1]},)")
        return self._matvec(x)

    def rmatvec(self, x):
        x = self._array(x, "rmatvec")
        if x.shape != (self.shape[0],):
            raise ValueError(f"{type(self).__name__}.rmatvec: x has shape {x.shape}, expected ({self.shape[0]},)")
        return self._rmatvec(x)

    def _block(self, X):
        """``X`` checked as the input of :meth:`matmat`: an array of shape ``(shape[1], k)``."""
        X = self._array(X, "matmat")
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"{type(self).__name__}.matmat: X has shape {X.shape}, expected ({self.shape[1]}, k)")
        return X

    def matmat(self, X):
        X = self._block(X)
        xp = self.backend.xp
        if X.shape[1] == 0:                     # no columns: np.stack of nothing raised "need at least one array"
            return xp.zeros((self.shape[0], 0), dtype=xp.result_type(self.dtype or np.float64, X.dtype))
        return xp.stack([self._matvec(X[:, j]) for j in range(X.shape[1])], axis=1)

    def diagonal(self):
        raise NotImplementedError(f"{type(self).__name__} does not provide its diagonal")

    def with_backend(self, backend) -> "LinearOperator":
        """The same operator on ``backend`` (``self`` when it already lives there).

        Subclasses that hold arrays rebuild themselves on the target backend;
        this default raises a ``TypeError`` naming the fix.
        """
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        raise TypeError(f"{type(self).__name__} lives on backend {self.backend.name!r} and has no conversion to "
                        f"{be.name!r}; build it again with backend={be.name!r}, or leave backend=None to use the "
                        "operator's own backend")

    def _structure(self) -> dict:
        return {"symmetric": self.symmetric, "positive_definite": self.positive_definite}

    def _matvec(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _rmatvec(self, x):
        if self.symmetric:
            return self._matvec(x)
        raise NotImplementedError(f"{type(self).__name__} does not provide rmatvec")

    # -- algebra ---------------------------------------------------------
    #: NumPy defers to the operator's own arithmetic: ``array * A`` raises a ``TypeError`` instead of building
    #: an object array of ``ScaledOperator``s (one per entry); ``array @ A``, ``array + A`` and ``array - A``
    #: reach ``__rmatmul__`` / ``__radd__`` / ``__rsub__``
    __array_ufunc__ = None

    def __matmul__(self, other):
        # a sparse matrix is an operand like another operator (as in +): a product operator, the same for every
        # kind of self (was an ndarray, a csr_matrix or an error, depending on self)
        if isinstance(other, LinearOperator) or _is_operator_like(other) or _is_sparse_matrix(other):
            return ProductOperator(self, aslinearoperator(other, backend=self.backend))
        x = other
        if getattr(x, "ndim", 1) == 1:
            return self.matvec(x)
        return self.matmat(x)

    def __rmatmul__(self, other):
        """``other @ A``, mirroring ``A @ other``: a vector ``x`` gives the row vector ``x^T A`` and a 2-D array
        ``X`` the array ``X A`` (NumPy's meanings); a sparse matrix or an operator a product operator."""
        if isinstance(other, (list, tuple)):
            other = np.asarray(other)
        ndim = getattr(other, "ndim", None) if not (_is_sparse_matrix(other) or _is_operator_like(other)) else None
        if ndim in (1, 2):
            xp = self.backend.xp
            X = self.backend.asarray(other)
            cplx = np.iscomplexobj(X) or np.dtype(self.dtype).kind == "c"
            if ndim == 1:
                return xp.conj(self.rmatvec(xp.conj(X))) if cplx else self.rmatvec(X)
            Y = self.T.matmat(xp.conj(X).T if cplx else X.T)       # A^H X^H = (X A)^H
            return xp.conj(Y).T if cplx else Y.T
        return ProductOperator(aslinearoperator(other, backend=self.backend), self)

    def __add__(self, other):
        return SumOperator(self, aslinearoperator(other, backend=self.backend))

    def __radd__(self, other):          # array + A (NumPy defers here: __array_ufunc__ = None)
        return SumOperator(aslinearoperator(other, backend=self.backend), self)

    def __sub__(self, other):
        return SumOperator(self, ScaledOperator(aslinearoperator(other, backend=self.backend), -1.0))

    def __rsub__(self, other):
        return SumOperator(aslinearoperator(other, backend=self.backend), -self)

    def __mul__(self, alpha):
        if getattr(alpha, "ndim", None) == 0 and hasattr(alpha, "item"):   # a 0-d array: the scalar it holds
            alpha = alpha.item()
        if getattr(alpha, "ndim", 0):
            raise TypeError(f"an operator can be multiplied by a scalar only, got an array of shape "
                            f"{tuple(alpha.shape)}: for the product A x use A @ x or A.matvec(x); for diag(d) A use "
                            "DiagonalOperator(d) @ A")
        if not isinstance(alpha, numbers.Number):
            return NotImplemented
        return ScaledOperator(self, alpha)

    __rmul__ = __mul__

    def __neg__(self):
        return ScaledOperator(self, -1.0)

    @property
    def T(self):
        return TransposedOperator(self)

    def __repr__(self) -> str:
        return f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__} dtype={self.dtype} backend={self.backend.name}>"


def _is_operator_like(A) -> bool:
    return hasattr(A, "shape") and hasattr(A, "matvec") and hasattr(A, "dtype")


def _is_sparse_matrix(A) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return (sparse is not None and sparse.issparse(A)) or _is_cupyx_sparse(A)


class DenseOperator(LinearOperator):
    """A dense matrix as an operator."""

    def __init__(self, A, *, backend=None, **structure):
        be = _backends.get_backend(backend, A)
        A = be.asarray(A)
        if A.ndim != 2:
            raise ValueError(f"A must be a 2-D array or operator, got a {A.ndim}-D array of shape {tuple(A.shape)}")
        super().__init__(A.shape, A.dtype, be, **structure)
        self.A = A

    def _matvec(self, x):
        return self.A @ x

    def _rmatvec(self, x):
        return self.A.T.conj() @ x

    def matmat(self, X):
        return self.A @ self._block(X)

    def diagonal(self):
        return self.backend.xp.diagonal(self.A).copy()

    def todense(self):
        return self.A

    def with_backend(self, backend) -> "DenseOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else DenseOperator(self.A, backend=be, **self._structure())


class SparseOperator(LinearOperator):
    """A SciPy (CPU) or cupyx (GPU) sparse matrix as an operator, stored as CSR.

    Storage and products come from the backend's ``sparse`` kernel set
    (``backend.kernels("sparse")``): on ``numba`` a parallel CSR kernel.
    """

    def __init__(self, A, *, backend=None, **structure):
        be = _backends.get_backend(backend, A)
        A = be.kernels("sparse").csr(A)
        super().__init__(A.shape, A.dtype, be, **structure)
        self.A = A

    def _matvec(self, x):
        return self.backend.kernels("sparse").matvec(self.A, x)

    # optional fast methods (used by the Krylov solvers): no allocation, fused dot
    def _check_into(self, x, out, what="matvec_into"):
        m, n = self.shape
        if what == "matvec_dot" and m != n:     # x . A x needs a square A (the kernel read x past its end)
            raise ValueError(f"SparseOperator.matvec_dot: x . A x needs a square operator, this one is {m} x {n}; "
                             "use matvec_into")
        if getattr(x, "shape", None) != (n,) or getattr(out, "shape", None) != (m,):
            raise ValueError(f"SparseOperator.{what}: x has shape {getattr(x, 'shape', None)} and out "
                             f"{getattr(out, 'shape', None)}, expected ({n},) and ({m},)")
        check_out(f"SparseOperator.{what}", x, out)
        cx = np.iscomplexobj(x) or np.dtype(self.dtype).kind == "c"
        if what == "matvec_dot" and (cx or np.dtype(out.dtype) != np.float64):   # x . A x of complex data: neither
            raise TypeError("SparseOperator.matvec_dot: x . A x is defined for real data and a float64 out here (x "
                            f"{np.asarray(x).dtype}, A {self.dtype}, out {out.dtype}); use matvec and numpy.vdot")
        if cx and not np.iscomplexobj(out):
            raise TypeError(f"SparseOperator.matvec_into: A x is complex (x {np.asarray(x).dtype}, A {self.dtype}) but "
                            f"out is {out.dtype}, which would drop its imaginary part; pass a complex out or use matvec")
        if np.dtype(out.dtype) not in (np.float64, np.complex128):     # the same rule on every backend (numpy
            raise TypeError(f"SparseOperator.{what}: out has dtype {out.dtype}, which would round A x; pass a "  # rounded
                            "float64 array (complex128 for a complex product)")                        # to float32)

    def matvec_into(self, x, out):
        """Write ``A x`` into ``out`` (float64 on the numba backend: no allocation)."""
        self._check_into(x, out)
        return self.backend.kernels("sparse").matvec_into(self.A, x, out)

    def matvec_dot(self, x, out):
        """Write ``A x`` into ``out`` and return ``x . A x`` (one pass on the numba backend)."""
        self._check_into(x, out, "matvec_dot")
        return self.backend.kernels("sparse").matvec_dot(self.A, x, out)

    def with_backend(self, backend) -> "SparseOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else SparseOperator(self.A, backend=be, **self._structure())

    def _rmatvec(self, x):
        return self.A.T.conj() @ x

    def matmat(self, X):
        return self.A @ self._block(X)

    def diagonal(self):
        return self.A.diagonal()

    def todense(self):
        return self.A.toarray()


class DiagonalOperator(LinearOperator):
    """``diag(d)``."""

    def __init__(self, d, *, backend=None):
        be = _backends.get_backend(backend, d)
        d = be.asarray(d)
        if d.ndim != 1:
            raise ValueError(f"diagonal must be 1-D, got shape {d.shape}")
        # Hermitian (and then positive definite when every entry is > 0) only with real entries: a complex d with
        # positive real parts was declared positive definite
        herm = not np.iscomplexobj(d) or bool(be.to_numpy(be.xp.all(d.imag == 0)))
        pos = herm and (bool(be.to_numpy(be.xp.all(d.real > 0))) if d.size else True)
        super().__init__((d.size, d.size), d.dtype, be, symmetric=herm, positive_definite=pos)
        self.d = d

    def _matvec(self, x):
        return self.d * x

    def _rmatvec(self, x):
        return self.d.conj() * x

    def matmat(self, X):
        return self.d[:, None] * self._block(X)

    def diagonal(self):
        return self.d.copy()

    def with_backend(self, backend) -> "DiagonalOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else DiagonalOperator(self.d, backend=be)


class IdentityOperator(LinearOperator):
    def __init__(self, n, dtype=np.float64, backend=None):
        super().__init__((n, n), dtype, backend, symmetric=True, positive_definite=True)

    def _matvec(self, x):
        return x.copy()

    def matmat(self, X):
        return self._block(X).copy()

    def diagonal(self):
        return self.backend.xp.ones(self.shape[0], dtype=self.dtype)

    def with_backend(self, backend) -> "IdentityOperator":
        be = _backends.get_backend(backend)
        return self if be == self.backend else IdentityOperator(self.shape[0], self.dtype, be)


def _same_arrays(src, dst) -> bool:
    """Whether two backends share the array type (a callable written for one works on the other)."""
    return src.xp is dst.xp


def _callable_error(op, be):
    return TypeError(f"{type(op).__name__} on backend {op.backend.name!r} wraps Python callables that work on its "
                     f"arrays, so it cannot move to backend {be.name!r} (another array type); build a new operator "
                     f"with callables for {be.name!r} arrays and backend={be.name!r}")


class FunctionOperator(LinearOperator):
    """An operator from callables ``matvec`` (and optionally ``rmatvec`` / ``diagonal``)."""

    def __init__(self, shape, matvec, rmatvec=None, *, dtype=np.float64, backend=None, diagonal=None, **structure):
        bad = [(n, f) for n, f in (("matvec", matvec), ("rmatvec", rmatvec)) if f is not None and not callable(f)]
        if bad:                          # (an int was accepted and failed in the solve: helper-146)
            raise TypeError(f"FunctionOperator: {bad[0][0]} must be a callable x -> A x, got {type(bad[0][1]).__name__}")
        super().__init__(shape, dtype, backend, **structure)
        self._mv, self._rmv, self._diag = matvec, rmatvec, diagonal

    def _matvec(self, x):
        return _checked_output(self, self._mv(x), self.shape[0], "matvec")

    def _rmatvec(self, x):
        if self._rmv is None:
            return super()._rmatvec(x)
        return _checked_output(self, self._rmv(x), self.shape[1], "rmatvec")

    def diagonal(self):
        if self._diag is None:
            return super().diagonal()
        return self._diag() if callable(self._diag) else self._diag

    def with_backend(self, backend) -> "FunctionOperator":
        """The same callables on ``backend``: allowed between backends that share the array type
        (numpy and numba), else a ``TypeError``."""
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        if not _same_arrays(self.backend, be):
            raise _callable_error(self, be)
        return FunctionOperator(self.shape, self._mv, self._rmv, dtype=self.dtype, backend=be, diagonal=self._diag,
                                **self._structure())


class _WrappedOperator(LinearOperator):
    """Any object with shape/dtype/matvec (the bare protocol), or a SciPy LinearOperator."""

    def __init__(self, A, backend=None):
        super().__init__(A.shape, getattr(A, "dtype", None) or np.float64, backend,
                         symmetric=getattr(A, "symmetric", False),
                         positive_definite=getattr(A, "positive_definite", False))
        self.A = A

    def _matvec(self, x):
        return _checked_output(self, self._product("matvec", x), self.shape[0], "matvec")

    def _rmatvec(self, x):
        if hasattr(self.A, "rmatvec"):
            return _checked_output(self, self._product("rmatvec", x), self.shape[1], "rmatvec")
        return super()._rmatvec(x)

    def _product(self, what, x):
        """``A.matvec(x)`` / ``A.rmatvec(x)``, once. A SciPy LinearOperator is called through its own hook
        (``A._matvec``, what its ``matvec`` calls), so a wrong-length output is named here with both shapes
        instead of failing in SciPy's reshape."""
        sla = sys.modules.get("scipy.sparse.linalg")
        if sla is not None and isinstance(self.A, sla.LinearOperator):
            y = getattr(self.A, "_" + what)(x)
            return y if hasattr(y, "shape") else np.asarray(y)
        return getattr(self.A, what)(x)

    def diagonal(self):
        if hasattr(self.A, "diagonal"):
            return self.A.diagonal()
        return super().diagonal()

    def with_backend(self, backend) -> "_WrappedOperator":
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        if not _same_arrays(self.backend, be):
            raise _callable_error(self, be)
        return _WrappedOperator(self.A, backend=be)


def _is_cupyx_sparse(A) -> bool:
    return type(A).__module__.startswith("cupyx.scipy.sparse")


def aslinearoperator(A, backend=None) -> LinearOperator:
    """Return ``A`` as a :class:`LinearOperator` on ``backend``.

    Accepts a :class:`LinearOperator`, a dense NumPy/CuPy array, a SciPy or
    cupyx sparse matrix, a ``scipy.sparse.linalg.LinearOperator`` or any object
    with ``shape``, ``dtype`` and ``matvec``.

    A :class:`LinearOperator` is returned as is when ``backend`` is None or its
    own backend; for another backend it is converted explicitly with
    ``A.with_backend(backend)`` (built again there, its arrays copied when the array type differs), which
    raises a ``TypeError`` naming the fix when the operator cannot be converted (or had its product replaced
    on the instance, or is a subclass that would be rebuilt as its parent class: either would drop the caller's
    code). It is never relabelled.
    """
    if isinstance(A, LinearOperator):
        if backend is None:
            return A
        from ._convert import convert

        return convert(A, _backends.get_backend(backend))
    import scipy.sparse as sp

    if sp.issparse(A) or _is_cupyx_sparse(A):
        return SparseOperator(A, backend=backend)
    if isinstance(A, np.ndarray) or _backends._is_cupy_array(A):
        return DenseOperator(A, backend=backend)
    if _is_operator_like(A):
        return _WrappedOperator(A, backend=backend)
    if isinstance(A, (list, tuple)):
        return DenseOperator(np.asarray(A), backend=backend)
    raise TypeError(
        f"cannot use an object of type {type(A).__name__} as a linear operator: pass a dense array, a sparse "
        "matrix, a scipy LinearOperator or an object with shape, dtype and matvec(x)")


# The composed operators subclass LinearOperator, so they are imported after it is defined (the
# package imports this module first); LinearOperator's algebra above uses them at call time.
from ._compose import ProductOperator, ScaledOperator, SumOperator, TransposedOperator  # noqa: E402
