"""Applying the operators of a Krylov solve: :class:`Applier` (products into preallocated storage through an
operator's optional fast methods, checked on first use where the library did not write them) and the checks of
every product (:func:`check_vector`)."""
from __future__ import annotations

import math

import numpy as np

from ..operators import _convert, base as _ops
from ._validate import _COMPLEX_MSG


def _raw_or_wrapped(obj, op):
    """The object whose optional fast methods are used: the caller's own object when it offers them
    and is the operator that runs (not a LinearOperator that was converted to another backend),
    else the converted operator ``op``."""
    if isinstance(obj, _ops.LinearOperator) and obj is not op:
        return op
    return obj if (hasattr(obj, "matvec_into") or hasattr(obj, "matvec_dot")) else op


_F64 = np.dtype(np.float64)


def _shares(a, b) -> bool:          # exactly (a strided column beside b's in one 2-D array shares none: helper-110)
    try:
        return bool(np.shares_memory(a, b, max_work=10 ** 6))
    except np.exceptions.TooHardError:
        return True


def describe(raw) -> str:
    """``'a FunctionOperator of shape (n, n)'``: how messages name an operator."""
    shape = getattr(raw, "shape", None)
    return f"a {type(raw).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def check_vector(y, n, name, raw, be, x=None, what="matvec"):
    """The output ``y`` of operator ``name`` (``"A"`` or ``"M"``; ``raw`` is what the user passed) as a float64
    vector of length ``n`` for the kernels, or a clear error. Accepted: a backend array of shape ``(n,)`` (or a
    ``(n, 1)`` / ``(1, n)`` column / row) of a real floating dtype (other floats are cast to float64). Rejected
    with an error naming the operator: another shape (``ValueError``), a complex, integer, boolean or object
    dtype, or something that is not an array of the backend (``TypeError``). An output that is the input array
    itself is copied (the solvers update outputs in place). O(1) unless a cast or copy is needed."""
    xp = be.xp
    who = f"{name}(r)" if what == "call" else f"{name}.{what}"
    if not isinstance(y, xp.ndarray):
        if hasattr(y, "shape") and hasattr(y, "dtype"):
            hint = f"an array of type {type(y).__module__}.{type(y).__name__}, not a {be.name} backend array"
        else:
            hint = f"{type(y).__name__}"
        raise TypeError(f"{who} returned {hint}; {name} is {describe(raw)} and must return a {be.name}-backend "
                        f"array of shape ({n},) (use backend= to pick the backend its arrays live on)")
    if type(y) is not xp.ndarray:   # a subclass (numpy.matrix stays 2-D when reshaped) becomes a plain array
        y = y.view(xp.ndarray)
    if y.shape != (n,):
        if y.ndim == 2 and 1 in y.shape and y.size == n:
            y = y.reshape(-1)
        else:
            raise ValueError(f"{who} returned an array of shape {tuple(y.shape)}, expected ({n},): {name} is "
                             f"{describe(raw)}; fix {'it' if what == 'call' else 'its ' + what} (or its shape)")
    dt = np.dtype(y.dtype)
    if dt != _F64:
        if dt.kind == "f":
            y = y.astype(xp.float64)
        elif dt.kind == "c":
            raise TypeError(f"{who} returned complex values (dtype {dt}); {name} is {describe(raw)}: "
                            f"{_COMPLEX_MSG}")
        else:
            raise TypeError(f"{who} returned dtype {dt}; {name} ({describe(raw)}) must return real floating-point "
                            "values: return float64 (e.g. y.astype(float))")
    if y is x:
        y = y.copy()
    return y


class Applier:
    """Apply an operator into preallocated storage, using its optional fast methods.

    ``A.matvec_dot(x, out)`` (writes ``A x`` to ``out`` and returns ``x . A x``) and ``A.matvec_into(x, out)``
    are used when present, on every backend (the operator tests check them against ``matvec``). Products from
    ``matvec`` are checked before they reach a kernel (:func:`check_vector`: shape ``(n,)``, real floating dtype;
    an O(1) test on the fast path) and pass through ``K.as_vector`` (the layout the kernels compile for).
    ``name`` (``"A"`` / ``"M"``) is how errors name the operator."""

    def __init__(self, op, raw, be, K, name="A"):
        self.op = op
        self.K = K
        self.be = be
        self.raw = raw
        self.name = name
        self.protect = None           # a NumPy array no borrowed product may share memory with (the solve's b)
        self.n = op.shape[0]
        self._shape = (self.n,)
        src = _raw_or_wrapped(raw, op)
        self._dot = getattr(src, "matvec_dot", None)
        self._into = getattr(src, "matvec_into", None)
        self._asvec = K.as_vector
        # a caller's own fast methods are checked against its matvec on their first use (one product): a
        # matvec_into that returned the product instead of writing it into ``out`` made a solve "converge" on
        # uninitialised memory (outside probe helper-77); the library's own operators are tested instead
        own = set(vars(src)) if hasattr(src, "__dict__") else set()
        if own & {"matvec", "_matvec"}:
            # a product replaced on the instance: the class's fast methods compute the old one, and a solve
            # 'converged' on those at residual 758 against the product the caller set (helper-146)
            self._dot = self._into = None
        stale = _convert.stale_fast_products(src)
        if stale:                     # a subclass redefining matvec / _matvec below the class of these (helper-157)
            self._dot = None if "matvec_dot" in stale else self._dot
            self._into = None if "matvec_into" in stale else self._into
        self._trusted = ((type(src).__module__.split(".")[0] == "solvers" and not own & {"matvec_dot", "matvec_into"})
                         or (self._dot is None and self._into is None))     # fast methods set on an instance: checked
        # the residual in one pass (the library's stencils: StencilOperator.residual_into), where the product is
        # the class's own (plain_products: no override the fused kernel would skip)
        res, plain = getattr(src, "residual_into", None), getattr(src, "plain_products", None)
        self._res = (res if (self._trusted and type(src).__module__.split(".")[0] == "solvers" and callable(res)
                             and callable(plain) and plain()) else None)
        self._resn = getattr(src, "residual_norm_sq", None) if self._res is not None else None
        self._grid = getattr(src, "grid_shape", None)
        # whether the product runs the caller's code, which may use its input as scratch: checked on the first
        # product, then given a copy if it did (an M halving r on every call made cg 'stagnate' at 0.51 with the
        # advice 'attainable accuracy', helper-146); None: not yet known, False: the library's own kernels
        self._copy_input = None if (type(op).__module__.split(".")[0] != "solvers" or own & {"matvec", "_matvec"}
                                    or isinstance(op, _USER_CODE)) else False

    def product(self, x):
        """``A x`` from the plain ``matvec``, validated (a fresh or borrowed array, never ``x`` itself); ``x`` is
        left as it was (the caller's code gets a copy once it has been seen writing into its input)."""
        if self._copy_input is None:
            keep = x.copy()
            y = self._product(x)
            xp = self.be.xp
            changed = bool(xp.any((x != keep) & ~(xp.isnan(x) & xp.isnan(keep))))
            self._copy_input = changed
            if not changed:
                return y
            x[...] = keep
        return self._product(x.copy() if self._copy_input else x)

    def _product(self, x):
        try:
            y = self.op.matvec(x)
        except _ops.OperatorOutputError as e:
            raise ValueError(f"{self.name} ({describe(self.raw)}): {e}") from None
        except _ops.OperatorOutputTypeError as e:
            raise TypeError(f"{self.name} ({describe(self.raw)}): {e}") from None
        try:
            ok = y.shape == self._shape and y.dtype is _F64 and y is not x
        except AttributeError:
            ok = False
        if not ok:
            y = check_vector(y, self.n, self.name, self.raw, self.be, x)
        if self.protect is not None and np.may_share_memory(y, self.protect) and _shares(y, self.protect):
            raise ValueError(f"{self.name} ({describe(self.raw)}) returned storage that b shares: b is the operator's "
                             "own output buffer, overwritten by every product; pass b.copy()")
        return self._asvec(y)

    def into(self, x, out):
        """Return ``A x``, written into ``out`` when the operator allows it."""
        if self._into is not None:
            self._into(x, out)
            if not self._trusted:
                self._verify(x, out, "matvec_into")
            return out
        return self.product(x)

    def residual(self, b, x, r, q):
        """``r = b - A x``; returns ``r . r``. One pass where the operator has a fused residual (the library's
        stencils), else ``A x`` into ``q`` (which it may overwrite) and the kernels' residual pass."""
        if self._res is not None:
            g = self._grid
            return float(self._res(x.reshape(g), b.reshape(g), r.reshape(g)))
        return self.K.residual(b, self.into(x, q), r)

    def residual_sq(self, b, x, r, q):
        """``||b - A x||^2``; ``r`` is left undefined (the library's stencils sum the residual without writing it
        where they can, else write it there, as :meth:`residual`)."""
        if self._resn is not None:
            g = self._grid
            return float(self._resn(x.reshape(g), b.reshape(g), r.reshape(g)))
        return self.residual(b, x, r, q)

    def into_owned(self, x, out):
        """``A x`` in ``out`` itself (copied from storage the operator may reuse, e.g. one A and M share)."""
        y = self.into(x, out)
        if y is not out:
            out[...] = y
        return out

    def with_dot(self, x, out):
        """Return ``(A x, x . A x)``."""
        if self._dot is not None:
            d = float(self._dot(x, out))
            if not self._trusted:
                self._verify(x, out, "matvec_dot", d)
            return out, d
        y = self.into(x, out)
        return y, self.K.dot(x, y)

    def _verify(self, x, out, what, d=None):
        """Compare the first fast product with ``matvec`` (and the returned ``x . A x`` with it)."""
        ref = self.product(x)
        xp = self.be.xp
        scale = float(xp.linalg.norm(ref))
        err = float(xp.linalg.norm(out - ref))
        if not math.isfinite(scale):
            return                          # a non-finite product: the solver reports it, the next call checks
        bad = not err <= 1e-6 * scale       # rounding differences of a different summation order pass
        if not bad and d is not None:
            dref = float(x @ ref)
            bad = not abs(d - dref) <= 1e-6 * float(xp.linalg.norm(x)) * scale
        if bad:
            raise ValueError(f"{self.name} ({describe(self.raw)}): {what}(x, out) disagrees with matvec(x) "
                             f"(|difference| {err:.3e}, |matvec(x)| {scale:.3e}"
                             + (f"; returned x . A x = {d:.6e}" if d is not None else "") + f"): {what} must write "
                             f"A x into out" + (" and return x . A x" if d is not None else "")
                             + "; or remove it and matvec is used")
        # A 0 = 0 passed by chance when ``out`` held zeros: only a nonzero product earns trust (review helper-79)
        self._trusted = scale > 0.0


#: library operator classes whose products run the caller's code (or compose operators that may)
_USER_CODE = (_ops.FunctionOperator, _ops._WrappedOperator, _ops.SumOperator, _ops.ProductOperator,
              _ops.ScaledOperator, _ops.TransposedOperator)


def diagonal_of_preconditioner(M):
    """The vector ``d`` when ``M`` acts as ``diag(d)`` (Jacobi / diagonal operator), else None."""
    d = getattr(M, "inv_diagonal", None)
    if d is not None:
        return d
    if isinstance(M, _ops.DiagonalOperator):
        return M.d
    return None
