"""Matrix-free 5-/7-point variable-coefficient stencil on a 2-D/3-D box.

The operator is the standard finite-volume / finite-difference discretisation of
``-div(k grad u) + c u`` on the interior points of a box with Dirichlet data
eliminated (boundary values move to the right-hand side, see
:class:`problems.pde.Poisson`)::

    (A u)_p = sum_a [ k_{p+e_a/2} (u_p - u_{p+e_a}) + k_{p-e_a/2} (u_p - u_{p-e_a}) ] / h_a^2 + c_p u_p

with ``k`` given at the face midpoints between neighbouring nodes. ``A`` is
symmetric, and positive definite when ``k > 0`` and ``c > -lambda_min`` (checked
with the exact smallest eigenvalue of the constant-coefficient Laplacian).

Vectors are flat (C order over the interior grid ``grid_shape``). The products
and smoothers run in the backend's ``stencil`` kernel set
(``backend.kernels("stencil")``): parallel Numba kernels
(:mod:`solvers._kernels.numba.stencil`), CUDA kernels, or the readable NumPy
slicing reference (:mod:`solvers._kernels.numpy.stencil`).

References
----------
R. J. LeVeque, *Finite Difference Methods for Ordinary and Partial Differential
Equations*, SIAM 2007, sections 2.15 and 3.2 (variable coefficients, 5-point Laplacian).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backends as _backends
from .._masks import refuse_masked
from ._out import overlaps
from .base import LinearOperator


def _check_shape(shape):
    if isinstance(shape, numbers.Integral):
        raise TypeError("shape must be a tuple of 2 or 3 interior point counts, e.g. (64, 64); got an integer")
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of 2 or 3 positive integers, got {type(shape).__name__}") from None
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must have length 2 or 3 (a 2-D or 3-D box), got length {len(shape)}: {shape!r}")
    for s in shape:
        if not isinstance(s, numbers.Integral) or isinstance(s, bool):
            raise TypeError(f"shape entries must be integers, got {shape!r}")
        if s < 1:
            raise ValueError(f"shape entries must be positive interior point counts, got {shape!r}")
    return tuple(int(s) for s in shape)


def laplacian_lambda_min(shape, h) -> float:
    """Smallest eigenvalue of the Dirichlet 5-/7-point Laplacian (k = 1) on the grid."""
    return float(sum(4.0 / (ha * ha) * np.sin(np.pi * ha / (2 * ha * (n + 1))) ** 2 for n, ha in zip(shape, h)))


class StencilOperator(LinearOperator):
    """``-div(k grad .) + shift`` on the interior of a box, matrix-free.

    Parameters
    ----------
    shape : tuple of int
        Interior points per axis (2 or 3 axes).
    h : float or tuple of float
        Grid spacing per axis.
    k : float or sequence of arrays, default 1.0
        A positive constant (fast path: no coefficient array is read), or one
        face array per axis: ``k[a]`` has ``shape[a] + 1`` entries along axis
        ``a`` (face ``i`` lies between nodes ``i - 1`` and ``i``; faces 0 and
        ``shape[a]`` touch the boundary) and ``shape[b]`` along the others.
    shift : float or array of ``shape``, optional
        Added to the diagonal (a reaction term ``c u``; may be negative).
    backend : str or Backend, optional

    Attributes
    ----------
    grid_shape, h, k, shift, ndim_grid
    symmetric : True
    positive_definite : bool
        True when ``k > 0`` and ``shift > -lambda_min(k_min * Laplacian)``.
    """

    def __init__(self, shape, h, *, k=1.0, shift=None, backend=None):
        shape = _check_shape(shape)
        be = _backends.get_backend(backend)
        d = len(shape)
        h = _spacing(h, d)
        if len(h) != d or not all(np.isfinite(x) and x > 0 for x in h):
            raise ValueError(f"h must be a positive spacing or one per axis ({d}), got {h!r}")
        super().__init__((int(np.prod(shape)),) * 2, np.float64, be, symmetric=True)
        self._flat = (self.shape[0],)
        self.grid_shape = shape
        self.ndim_grid = d
        self.h = h
        xp = be.xp
        if isinstance(k, (bool, np.bool_)):
            raise TypeError(f"k must be a positive number or {d} face arrays, got the bool {k!r}")
        if getattr(k, "ndim", None) == 0:          # a 0-d array: the scalar it holds
            k = _real_scalar("k", k)
        if isinstance(k, numbers.Real):
            if not (np.isfinite(k) and k > 0):
                raise ValueError(f"k must be positive (the diffusion coefficient), got {k!r}")
            if k < _TINY:            # (as for face arrays: 1/k overflows in the preconditioners; helper-151)
                raise ValueError(f"k = {k:.1e} is below {_TINY:.1e}, the smallest normal double, so 1/k overflows "
                                 "in the preconditioners: rescale k (and f) by a common factor")
            self.k = float(k)
            kmin = self.k
        else:
            if not hasattr(k, "__len__") or isinstance(k, (str, bytes)) or len(k) != d:
                raise ValueError(f"k must be a positive number or a sequence of {d} face arrays (one per axis), "
                                 f"got {type(k).__name__}" + (f" of length {len(k)}" if hasattr(k, "__len__") else ""))
            faces = []
            for a, ka in enumerate(k):
                want = tuple(n + 1 if b == a else n for b, n in enumerate(shape))
                ka = be.asarray(_real_array(f"k[{a}]", ka), dtype=np.float64)
                if ka.shape != want:
                    raise ValueError(f"k[{a}] must have shape {want} (faces along axis {a}), got {ka.shape}")
                faces.append(ka)
            kmin = min(float(xp.min(ka)) for ka in faces)
            if not (np.isfinite(kmin) and kmin > 0) or not all(bool(xp.all(xp.isfinite(ka))) for ka in faces):
                raise ValueError("k must be finite and > 0 on every face; got a non-positive or non-finite value")
            if kmin < _TINY:         # (1/k overflowed: every preconditioned solve ended 'nonfinite'; helper-150)
                raise ValueError(f"k has face values below {_TINY:.1e}, the smallest normal double (min k = "
                                 f"{kmin:.1e}), so 1/k overflows in the preconditioners: rescale k (and f) by a "
                                 "common factor")
            self.k = tuple(faces)
        if getattr(shift, "ndim", None) == 0:      # a 0-d array: the scalar it holds
            shift = _real_scalar("shift", shift)
        if isinstance(shift, (bool, np.bool_)):     # (True was read as 1.0, though k=True is refused)
            raise TypeError(f"shift must be a real number or a real array of shape {shape}, got the bool {shift!r}")
        if shift is None:
            self.shift = None
            smin = 0.0
        elif isinstance(shift, numbers.Real):
            self.shift = float(shift)
            smin = self.shift
        elif isinstance(shift, (numbers.Number, str, bytes)):
            raise TypeError(f"shift must be a real number or a real array of shape {shape}, got "
                            f"{type(shift).__name__} {shift!r:.40}")
        else:
            s = be.asarray(_real_array("shift", shift), dtype=np.float64)
            if s.shape != shape:
                raise ValueError(f"shift must be a scalar or an array of shape {shape}, got {s.shape}")
            self.shift = s
            smin = float(xp.min(s))
        if not np.isfinite(smin):
            raise ValueError("shift must be finite")
        self._build()                  # refuses weights k / h^2 that over- or underflow
        self.positive_definite = smin > -kmin * laplacian_lambda_min(shape, h) * (1 - 1e-12)

    # ------------------------------------------------------------------ internal representation
    def _build(self):
        xp = self.backend.xp
        h2 = [ha * ha for ha in self.h]
        self.const = isinstance(self.k, float) and (self.shift is None or isinstance(self.shift, float))
        if self.const:
            if not all(x > 0 for x in h2):     # h^2 underflowed to 0 (h = 1e-170): a ZeroDivisionError (helper-146)
                raise ValueError(_SCALE_MSG.format(k=self.k, h=self.h))
            self._w = tuple(self.k / x for x in h2)
            self._d = 2.0 * sum(self._w) + (self.shift or 0.0)
            if not all(np.isfinite(w) and w >= _TINY for w in self._w) or not np.isfinite(self._d):
                raise ValueError(_SCALE_MSG.format(k=self.k, h=self.h))
            self._dinv_arr = xp.full((1,) * self.ndim_grid, 1.0 / self._d)
            return
        shape = self.grid_shape
        if isinstance(self.k, float):
            faces = tuple(xp.full(tuple(n + 1 if b == a else n for b, n in enumerate(shape)), self.k / h2[a])
                          for a in range(self.ndim_grid))
        else:
            with np.errstate(over="ignore", under="ignore"):
                faces = tuple(xp.ascontiguousarray(ka / h2[a]) for a, ka in enumerate(self.k))
        for fa in faces:
            if not (bool(xp.all(xp.isfinite(fa))) and float(xp.min(fa)) >= _TINY):
                kr = "the face coefficients" if not isinstance(self.k, float) else self.k
                raise ValueError(_SCALE_MSG.format(k=kr, h=self.h))
        dg = xp.zeros(shape)
        with np.errstate(over="ignore", invalid="ignore"):
            for a, fa in enumerate(faces):
                n = shape[a]
                dg += _take(xp, fa, 0, n, a) + _take(xp, fa, 1, n + 1, a)
            if self.shift is not None:
                dg += self.shift
        if not bool(xp.all(xp.isfinite(dg))):      # each face finite, their sum on the diagonal not
            kr = "the face coefficients" if not isinstance(self.k, float) else self.k
            raise ValueError(_SCALE_MSG.format(k=kr, h=self.h).replace(
                "the stencil weights must be", "the diagonal (the sum of a point's face weights) overflows; the weights "
                "and their sums must be"))
        self._faces = faces
        self._dg = xp.ascontiguousarray(dg)
        self._dinv_arr = 1.0 / self._dg

    def grid(self, x):
        """View a flat vector as a grid array (no copy)."""
        return x.reshape(self.grid_shape)

    # ------------------------------------------------------------------ protocol
    def _matvec(self, x):
        out = self.backend.xp.empty(self.shape[0])
        self.matvec_dot(x, out)
        return out

    def matvec_into(self, x, out):
        """``out[:] = A x`` (flat arrays); returns ``out``."""
        self.matvec_dot(x, out)
        return out

    def matvec_dot(self, x, out) -> float:
        """Write ``A x`` into ``out`` and return ``dot(x, A x)`` from the same pass."""
        if not (x.dtype is _F64 and out.dtype is _F64 and x.shape == self._flat and out.shape == self._flat
                and getattr(out.flags, "writeable", True)) or overlaps(x, out):
            x = self._check_vectors(x, out)
        return self.backend.kernels("stencil").apply_dot(self, x.reshape(self.grid_shape),
                                                         out.reshape(self.grid_shape))

    def fused_direction(self):
        """CG's direction update fused with its next product, where the backend's stencil kernel set has that
        pass for this operator (:mod:`solvers._kernels.numba.cgstencil`: constant coefficients, 2-D or 3-D):
        a callable ``f(x, p, z, q, alpha, beta, first)`` doing ``x += alpha p`` (``x = alpha p`` when
        ``first``), ``p = z + beta p`` and ``q = A p`` in one pass and returning ``p . q`` (``z`` may be ``q``;
        it returns None, having done nothing, unless all four are contiguous float64 vectors of length n);
        else None. Used by :func:`solvers.cg`."""
        fn = getattr(self.backend.kernels("stencil"), "direction_dot", None)
        if fn is None or not self.const or self.ndim_grid not in (2, 3) or not self.plain_products():
            return None
        return lambda x, p, z, q, alpha, beta, first: fn(self, x, p, z, q, alpha, beta, first)

    def plain_products(self) -> bool:
        """Whether this operator's products are this class's stencil: ``matvec_dot``, ``matvec_into``, ``_matvec``
        and ``matvec`` overridden neither by a subclass nor on the instance. A fused pass computing the stencil
        itself (:meth:`fused_direction`) would skip an override (a subclass adding a term to ``matvec_dot``
        got the bare stencil's products from CG's fused pass once an ``x0`` had made it trusted: outside review
        helper-112)."""
        cls = type(self)
        return (all(getattr(cls, m) is getattr(StencilOperator, m)
                    for m in ("matvec_dot", "matvec_into", "_matvec", "matvec"))
                and not any(m in vars(self) for m in ("matvec_dot", "matvec_into", "_matvec", "matvec")))

    def residual_into(self, u, f, r) -> float:
        """``r = f - A u`` on grid arrays; returns ``||r||^2``."""
        self._check_grids("residual_into", (("u", u), ("f", f)), (("r", r),))
        return self.backend.kernels("stencil").residual(self, u, f, r)

    def residual_norm_sq(self, u, f, work) -> float:
        """``||f - A u||^2`` on grid arrays for a convergence check whose residual nobody reads: on numba with
        constant coefficients one read pass that stores nothing; elsewhere the residual goes into ``work`` (a
        grid array whose contents are then undefined)."""
        self._check_grids("residual_norm_sq", (("u", u), ("f", f)), (("work", work),))
        return self.backend.kernels("stencil").residual_sq(self, u, f, work)

    def smooth_rb(self, u, f, color: int) -> None:
        """One red-black Gauss-Seidel half sweep on the points with coordinate-sum parity ``color``."""
        self._check_grids("smooth_rb", (("f", f),), (("u", u),), color=("color", color))
        self.backend.kernels("stencil").rbgs(self, u, f, int(color))

    def smooth_rb_first(self, u, f, color: int) -> None:
        """Half sweep from a zero guess: ``u = f / d`` on ``color`` points, 0 on the others."""
        self._check_grids("smooth_rb_first", (("f", f),), (("u", u),), color=("color", color))
        self.backend.kernels("stencil").rb_first(self, u, f, int(color))

    def smooth_rb_pair(self, u, f, first: int, zero: bool = False) -> None:
        """Half sweep of colour ``first`` then of ``1 - first`` (one fused pass on ``numba``).

        With ``zero=True`` the first half sweep starts from ``u = 0`` (``u`` is overwritten).
        The result equals the two half sweeps done one after the other.
        """
        self._check_grids("smooth_rb_pair", (("f", f),), (("u", u),), color=("first", first))
        self.backend.kernels("stencil").sweep_pair(self, u, f, int(first), bool(zero))

    # ------------------------------------------------------------------ argument checks
    def _check_vectors(self, x, out):
        """``x`` (a real vector of length ``n``; cast to float64) for :meth:`matvec_dot` / :meth:`matvec_into`,
        after checking ``out`` (a writable float64 vector of length ``n``): errors name the argument.
        The compiled kernels read and write by the grid's indices, so a wrong size or dtype must not reach them."""
        n = self.shape[0]
        for name, v in (("x", x), ("out", out)):
            if not (hasattr(v, "shape") and hasattr(v, "dtype")):
                raise TypeError(f"StencilOperator.matvec_into: {name} must be an array of shape ({n},), got "
                                f"{type(v).__name__}")
            if tuple(v.shape) not in (self._flat, self.grid_shape):
                raise ValueError(f"StencilOperator.matvec_into: {name} has shape {tuple(v.shape)}, expected ({n},) "
                                 f"(or the grid shape {self.grid_shape})")
        if np.dtype(x.dtype).kind not in "biuf":
            raise TypeError(f"StencilOperator.matvec_into: x has dtype {x.dtype}; it must be real (float64); "
                            "apply the operator to the real and imaginary parts separately")
        if np.dtype(out.dtype) != _F64:
            raise TypeError(f"StencilOperator.matvec_into: out has dtype {out.dtype}; it must be float64 "
                            "(the product is not rounded to another dtype)")
        if not getattr(out.flags, "writeable", True):
            raise ValueError("StencilOperator.matvec_into: out is read-only; pass a writable float64 array")
        if overlaps(x, out):                  # an aliased out was overwritten while x was read (helper-82)
            raise ValueError("StencilOperator.matvec_into: out shares memory with x, which is still being read; "
                             "pass a separate array")
        return x if np.dtype(x.dtype) == _F64 else x.astype(np.float64)

    def _check_grids(self, method, inputs, outputs, color=None):
        """Grid arguments of the smoothers and the residual: float64 arrays of ``grid_shape`` (the outputs
        writable), and a colour 0 or 1; ``ValueError`` / ``TypeError`` naming the argument otherwise."""
        gs = self.grid_shape
        for name, v in inputs + outputs:
            if not (hasattr(v, "shape") and hasattr(v, "dtype")):
                raise TypeError(f"StencilOperator.{method}: {name} must be a float64 array of the grid shape {gs}, "
                                f"got {type(v).__name__}")
            if tuple(v.shape) != gs:
                raise ValueError(f"StencilOperator.{method}: {name} has shape {tuple(v.shape)}, expected the grid "
                                 f"shape {gs} (reshape flat vectors with A.grid(x))")
            if np.dtype(v.dtype) != _F64:
                raise TypeError(f"StencilOperator.{method}: {name} has dtype {v.dtype}; it must be float64 "
                                "(e.g. v.astype(float))")
        for name, v in outputs:
            if not getattr(v.flags, "writeable", True):
                raise ValueError(f"StencilOperator.{method}: {name} is read-only; pass a writable array")
        if color is not None:
            cname, c = color
            if isinstance(c, bool) or not isinstance(c, numbers.Integral) or c not in (0, 1):
                raise ValueError(f"StencilOperator.{method}: {cname} must be 0 or 1 (the parity of the points "
                                 f"updated first), got {c!r}")

    def diagonal(self):
        xp = self.backend.xp
        if self.const:
            return xp.full(self.shape[0], self._d)
        return self._dg.reshape(-1).copy()

    # ------------------------------------------------------------------ helpers
    def _coef(self):
        if self.const:
            return (*self._w, self._d)
        return (*self._faces, self._dg)

    def _parity(self):
        p = getattr(self, "_par", None)
        if p is None:
            xp = self.backend.xp
            idx = xp.indices(self.grid_shape).sum(axis=0)
            p = self._par = (idx & 1)
        return p

    def _apply_reference(self, u):
        """The readable NumPy slicing form of ``A u`` on a grid array (the reference kernel)."""
        from .._kernels.numpy import stencil as ref

        return ref.apply(self, u)

    def with_backend(self, backend) -> "StencilOperator":
        """The same operator on ``backend`` (coefficient arrays copied there); ``self`` when it already is."""
        be = _backends.get_backend(backend)
        if be is self.backend:
            return self
        src = self.backend
        k = self.k if isinstance(self.k, float) else [src.to_numpy(ka) for ka in self.k]
        shift = self.shift if (self.shift is None or isinstance(self.shift, float)) else src.to_numpy(self.shift)
        return StencilOperator(self.grid_shape, self.h, k=k, shift=shift, backend=be)

    def to_csr(self):
        """The assembled matrix as a SciPy CSR matrix (on the host)."""
        import scipy.sparse as sp

        be = self.backend
        shape = self.grid_shape
        N = self.shape[0]
        idx = np.arange(N).reshape(shape)
        diag = be.to_numpy(self.diagonal())
        rows, cols, vals = [np.arange(N)], [np.arange(N)], [diag]
        for a in range(self.ndim_grid):
            n = shape[a]
            if n < 2:
                continue
            if self.const:
                w = np.full(_take(None, idx, 1, n, a).shape, self._w[a])
            else:
                w = be.to_numpy(_take(be.xp, self._faces[a], 1, n, a))
            p = _take(None, idx, 0, n - 1, a).ravel()
            q = _take(None, idx, 1, n, a).ravel()
            rows += [p, q]
            cols += [q, p]
            vals += [-w.ravel(), -w.ravel()]
        A = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
        return A.tocsr()

    def __repr__(self) -> str:
        kind = "constant" if self.const else "variable"
        return f"<StencilOperator grid={self.grid_shape} {kind} k, backend={self.backend.name}>"


_F64 = np.dtype(np.float64)
_TINY = float(np.finfo(np.float64).tiny)    # smallest normal double: weights below it lose their precision
_SCALE_MSG = ("k / h^2 over- or underflows in double precision (k = {k}, h = {h}): the stencil weights "
              "must be finite and positive; rescale the problem (multiply k and f by one factor, or change the "
              "length unit of the domain)")


_TINY = float(np.finfo(np.float64).tiny)


def _spacing(h, d: int) -> tuple:
    """``h`` as ``d`` floats: a real number (or 0-d array) for every axis, or an iterable of ``d`` real numbers;
    a ``TypeError`` naming ``h`` otherwise (a string or bytes was read as its characters, a dict as its keys,
    a bool ``shift=True`` as 1; helper-150)."""
    refuse_masked("h", h)
    if getattr(h, "ndim", None) == 0:
        h = _real_scalar("h", h)
    if _real_number(h):
        return (float(h),) * d
    if isinstance(h, (str, bytes, dict, numbers.Number, bool, np.bool_)) or not hasattr(h, "__iter__"):
        raise TypeError(f"h must be a positive grid spacing or a sequence of {d} (one per axis), got "
                        f"{type(h).__name__} {h!r:.40}")
    out = []
    for x in h:
        x = _real_scalar("h", x) if getattr(x, "ndim", None) == 0 else x
        if not _real_number(x):
            raise TypeError(f"h must hold real numbers (one spacing per axis), got {type(x).__name__} {x!r:.40}")
        out.append(float(x))
    return tuple(out)


def _real_number(x) -> bool:
    """A real number (a Decimal or Fraction too), not a bool or complex."""
    if isinstance(x, (bool, np.bool_)):
        return False
    return isinstance(x, numbers.Real) or (isinstance(x, numbers.Number) and not isinstance(x, numbers.Complex))


def _real_scalar(name, v):
    """The Python float held by the 0-d array ``v`` (``TypeError`` naming ``name`` when it is not real)."""
    if np.dtype(v.dtype).kind not in "iuf":
        raise TypeError(f"{name} must be a real number, got a 0-d array of dtype {v.dtype}")
    return float(v)


def _real_array(name, v):
    """``v`` unchanged when it holds real numbers; a ``TypeError`` naming ``name`` when it is complex, boolean,
    text or objects (a complex coefficient would otherwise lose its imaginary part silently)."""
    dt = getattr(v, "dtype", None)
    if dt is None:
        try:
            dt = np.asarray(v).dtype
        except (ValueError, TypeError):
            raise ValueError(f"{name} must be a real array, got a ragged or invalid {type(v).__name__}") from None
    if np.dtype(dt).kind not in "iuf":
        raise TypeError(f"{name} must be a real array (float64), got dtype {np.dtype(dt)}"
                        + ("; the operator is real: complex coefficients are not supported"
                           if np.dtype(dt).kind == "c" else ""))
    return v


def _take(xp, a, start, stop, axis):
    """``a[..., start:stop, ...]`` along ``axis`` (a view)."""
    sl = [slice(None)] * a.ndim
    sl[axis] = slice(start, stop)
    return a[tuple(sl)]


__all__ = ["StencilOperator", "laplacian_lambda_min"]
