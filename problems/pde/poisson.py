"""Poisson / diffusion problems ``-div(k grad u) = f`` on 2-D and 3-D boxes with Dirichlet data.

Discretisation: interior nodes ``x_i = lo + (i + 1) h`` with ``h = (hi - lo) / (n + 1)``
per axis; the 5-/7-point flux form with ``k`` **evaluated at the face midpoints**
``lo + (i + 1/2) h`` (no averaging of node values is needed when ``k`` is a
function; it is second-order accurate for smooth ``k``). The Dirichlet values
``g`` on the boundary are moved to the right-hand side:
``b_p = f(x_p) + sum_{boundary faces of p} k_face g(x_boundary) / h_a^2``.
The matrix (:class:`solvers.operators.stencil.StencilOperator`) is symmetric
positive definite.

References
----------
R. J. LeVeque, *Finite Difference Methods for Ordinary and Partial Differential
Equations*, SIAM 2007, chapters 2-3.
"""
from __future__ import annotations

import inspect
import pickle

import numpy as np

import solvers
from solvers.operators import stencil as _stencil

from .. import _checks
from . import manufactured as _manufactured


def _check_field(name, v, d):
    """A constant or a callable of d coordinate arrays; returns a float or the callable."""
    if v is None:
        return None
    if callable(v) and not isinstance(v, np.ndarray):
        nin = getattr(v, "nin", None)                # a ufunc: its own count (np.sin's signature takes 2 positionally,
        if isinstance(v, np.ufunc) and nin != d:     # x and out, and wrote sin(x) into y; outside probe helper-89)
            raise TypeError(f"{name} must be a constant or a vectorised callable of {d} coordinates "
                            f"({', '.join('xyz'[:d])}); the ufunc {v.__name__} takes {nin} input(s)")
        try:
            sig = inspect.signature(v)
        except (TypeError, ValueError):  # builtins / ufuncs without a signature
            return v
        try:
            sig.bind(*([0.0] * d))
        except TypeError:
            raise TypeError(f"{name} must be a constant or a vectorised callable of {d} coordinates "
                            f"({', '.join('xyz'[:d])}); its signature {sig} does not accept {d} arguments") from None
        return v
    if isinstance(v, np.ndarray) and v.ndim > 0:
        raise TypeError(f"{name} must be a number or a callable of the coordinates ({', '.join('xyz'[:d])}), "
                        f"got an array of shape {v.shape}; wrap grid values in a callable or pass a constant")
    try:
        return _checks.real_scalar(name, v)
    except TypeError:
        raise TypeError(f"{name} must be a real number or a callable of the coordinates "
                        f"({', '.join('xyz'[:d])}), got {type(v).__name__} {v!r:.60}") from None


def _evaluate(name, v, coords):
    shape = np.broadcast_shapes(*(c.shape for c in coords))
    if isinstance(v, float):
        return np.full(shape, v)
    try:
        out = v(*coords)
    except TypeError as exc:
        raise TypeError(f"{name} could not be evaluated on coordinate arrays ({exc}); it must take "
                        f"{len(coords)} arrays and be vectorised") from exc
    except (ArithmeticError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"{name} raised {type(exc).__name__} when evaluated on the grid's coordinate arrays "
                         f"({exc}); it must take {len(coords)} arrays of the grid's shape and return values of "
                         "that shape") from exc
    if isinstance(out, np.ma.MaskedArray) and np.ma.is_masked(out):    # (np.asarray drops the mask: the values
        raise ValueError(f"{name} returned a masked array with masked entries; it must give a value at every grid "
                         "point (fill them: out.filled(value))")          # under it were used; helper-137)
    try:
        arr = np.asarray(out)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} returned {type(out).__name__}, not an array of numbers") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} returned values of dtype {arr.dtype}; it must return real numbers")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} returned complex values (dtype {arr.dtype}); it must return real numbers "
                        f"(take .real inside {name} if that is what you mean)")
    if arr.shape != shape and arr.ndim != 0:
        raise ValueError(f"{name} returned an array of shape {arr.shape} for coordinate arrays of shape {shape}: "
                         f"it must return one value per grid point (an array of the coordinates' shape {shape}, "
                         "or a scalar); it is never broadcast, so a 1-D profile is not silently laid along an axis")
    out = np.broadcast_to(arr.astype(np.float64), shape)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} returned NaN or inf on the grid; it must be finite at every point")
    return out


def _spacing(domain, shape):
    """Grid spacings; refuses a box so small or so large that 1/h^2 under- or overflows."""
    h = tuple((hi - lo) / (n + 1) for (lo, hi), n in zip(domain, shape))
    for a, ha in enumerate(h):
        with np.errstate(over="ignore", divide="ignore"):
            h2 = np.float64(ha) ** 2
            inv = 1.0 / h2 if h2 > 0 else np.inf
        if not (np.isfinite(inv) and inv > 0 and np.isfinite(h2)):
            raise ValueError(f"domain[{a}] = {domain[a]} gives a spacing h = {ha:.3g} whose 1/h^2 is not a finite "
                             "positive double; rescale the box (domain) to a moderate size")
        ulp = float(np.spacing(max(abs(float(domain[a][0])), abs(float(domain[a][1])))))
        if ha < RESOLVED_SPACING * ulp:   # the nodes lo + i h round to a few doubles: f, g, k sampled at wrong points
            raise ValueError(f"domain[{a}] = {domain[a]} is too narrow for its position: the spacing h = {ha:.3g} is "
                             f"{ha / ulp:.3g} times the gap between doubles there ({ulp:.3g}; at least "
                             f"{RESOLVED_SPACING:g} needed), so the grid points cannot be told apart and f, g, k would "
                             "be sampled at the wrong places; shift the coordinates so the box starts near 0 "
                             "(e.g. x - lo), or use fewer points")
    return h


#: the spacing must be at least this many times the gap between doubles at the box's ends (helper-137: a box of
#: width 1e-4 at 1e12 had 2 distinct node coordinates of 63, and MG-CG 'converged' to an error of 1.6)
RESOLVED_SPACING = 1024.0


def memory_estimate(shape, variable_k: bool = False) -> float:
    """Bytes a multigrid-preconditioned Krylov solve on this grid needs, roughly: about a dozen
    vectors of the grid's size (solution, right-hand side, Krylov work vectors, the multigrid
    hierarchy) plus the face coefficients of a variable ``k``."""
    n = float(np.prod([float(s) for s in shape]))
    return 8.0 * n * (12 + (len(shape) + 1 if variable_k else 0))


def check_grid_memory(shape, variable_k: bool = False, what: str = "Poisson") -> None:
    """Refuse (``ProblemTooLargeError``) a grid whose solve cannot fit in memory, before allocating."""
    n = float(np.prod([float(s) for s in shape]))
    _checks.check_memory(f"{what} on a {'x'.join(map(str, shape))} grid ({n:.3g} unknowns)",
                         memory_estimate(shape, variable_k), "use a smaller shape")


class Poisson:
    """``-div(k grad u) = f`` in a box, ``u = g`` on its boundary.

    Parameters
    ----------
    shape : tuple of int
        Interior points per axis (2 or 3 axes).
    f, g : float or callable, defaults 1.0 and 0.0
        Source and Dirichlet data; callables take the coordinate arrays ``(x, y[, z])``.
    k : float or callable, optional
        Positive diffusion coefficient (default 1). A callable is sampled at
        the face midpoints.
    domain : sequence of (lo, hi), optional
        The box (default the unit box).

    Notes
    -----
    ``solvers.solve(p, method="cg", precond="mg")`` solves it; ``res.x`` has ``shape``.
    Preconditioners: ``"mg"`` (multigrid: a geometric V-cycle, or a Galerkin W-cycle for jumping ``k``),
    ``"jacobi"``, ``"chebyshev"``.
    The problem pickles (for process pools and Dask) when ``f``, ``g``, ``k`` are
    constants, module-level functions or callable objects, as in
    :meth:`manufactured`; operators cached per backend are not shipped.
    """

    methods = ("cg", "minres", "gmres", "cdm")
    preconditioners = ("mg", "jacobi", "chebyshev")

    def __init__(self, shape, f=1.0, g=0.0, k=None, domain=None):
        self.exact = None        # set by manufactured(): callable of the coordinates
        self.name = "poisson"
        self._set_data(shape=shape, f=f, g=g, k=1.0 if k is None else k, domain=domain)

    # ---------------------------------------------------------------- data
    _DATA = ("shape", "domain", "f", "g", "k")

    def _set_data(self, **new):
        """Check the data (all of it, as the constructor does) and commit it with empty caches; on an error the
        problem is left as it was. Replacing ``k`` or the grid on a built problem used to keep the cached
        operator and face coefficients: ``solve`` then solved the old system and reported it converged."""
        if new.get("k", 0.0) is None:
            new["k"] = 1.0                        # as the constructor: k=None is k = 1
        if "g" in new and new["g"] is None:
            new["g"] = 0.0                        # g=None is no boundary data, recorded as 0.0 (was 'callable NoneType')
        cur = {n: self.__dict__.get("_" + n) for n in self._DATA}
        cur.update(new)
        shape = _checks.grid_shape("shape", cur["shape"])
        d = len(shape)
        if "domain" not in new and cur["domain"] is not None and len(cur["domain"]) != d:
            raise ValueError(f"shape {shape} has {d} axes, this problem's domain {len(cur['domain'])}: the number "
                             "of axes cannot change; build a new Poisson")
        domain = _checks.domain("domain", cur["domain"], d)
        h = _spacing(domain, shape)
        if cur["f"] is None:
            raise TypeError("f must be a real number or a callable of the coordinates, got None (pass 0.0 for none)")
        f, g, k = (_check_field(n, cur[n], d) for n in ("f", "g", "k"))
        if isinstance(k, float) and not k > 0:
            raise ValueError(f"k must be positive, got {k!r}")
        if isinstance(k, float) and not np.isfinite(k / min(h) ** 2):
            raise ValueError(f"k = {k!r} overflows the matrix entries k/h^2 (h = {min(h):.3g}); rescale k")
        tiny = float(np.finfo(np.float64).tiny)
        if isinstance(k, float) and not (k / max(h) ** 2 >= tiny and np.isfinite(2.0 * sum(k / hi ** 2 for hi in h))):
            # the operator refuses these weights too, but only when a solve builds it (helper-125: k = 1e-320 was
            # accepted here); a subnormal weight has lost its precision
            raise ValueError(f"k = {k!r} gives matrix entries k/h^2 outside the normal double range (h = "
                             f"{min(h):.3g} .. {max(h):.3g}: k/h^2 down to {k / max(h) ** 2:.3g}); rescale k")
        check_grid_memory(shape, not isinstance(k, float))
        old = dict(self.__dict__)
        self.__dict__.update(_shape=shape, _ndim=d, _domain=domain, _h=h, _f=f, _g=g, _k=k, _ops={}, _rhs=None,
                             _faces=None)
        try:
            # evaluate the data now, so a callable that returns the wrong shape, complex or non-finite
            # values, or data that overflow, are reported here, naming them (the values are cached for the solve)
            if not isinstance(k, float):
                self.face_coefficients()
            self.rhs("numpy")
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(old)
            raise
        changed = sorted(set(new) - {"shape"})
        if self.exact is not None and changed:   # a finer grid keeps the manufactured solution; new data do not
            self.exact, self.name = None, "poisson"
            self._dropped = f"the manufactured solution was dropped when {', '.join(changed)} was replaced"

    def _data(name, doc):  # noqa: N805 - a property factory used in the class body
        def get(self):
            return self.__dict__["_" + name]

        def put(self, value):
            self._set_data(**{name: value})
        return property(get, put, doc=doc + " Replacing it checks the data again and rebuilds the operator.")

    shape = _data("shape", "Interior points per axis.")
    domain = _data("domain", "The box, ``((lo, hi), ...)``.")
    f = _data("f", "Source term (number or callable of the coordinates).")
    g = _data("g", "Dirichlet boundary data (number or callable).")
    k = _data("k", "Diffusion coefficient (number or callable, sampled at the face midpoints).")
    del _data
    h = property(lambda self: self._h, doc="Grid spacing per axis (from ``shape`` and ``domain``; read only).")
    ndim = property(lambda self: self._ndim, doc="Number of axes (read only).")

    def __setstate__(self, state):
        if "shape" in state:                       # pickled before the data became properties
            state = {("_" + key if key in self._DATA + ("h", "ndim") else key): v for key, v in state.items()}
        self.__dict__.update(state)

    # ---------------------------------------------------------------- grid
    def axes(self):
        """1-D interior node coordinates per axis."""
        return tuple(lo + h * np.arange(1, n + 1) for (lo, _), h, n in zip(self.domain, self.h, self.shape))

    def coordinates(self):
        """Tuple of ``ndim`` arrays of shape ``shape``: the interior node coordinates."""
        return tuple(np.meshgrid(*self.axes(), indexing="ij"))

    def face_coefficients(self):
        """``k`` at the face midpoints: one array per axis, ``shape[a] + 1`` faces along axis ``a``."""
        if self._faces is None:
            faces = []
            ax = self.axes()
            for a in range(self.ndim):
                (lo, _), h, n = self.domain[a], self.h[a], self.shape[a]
                fa = list(ax)
                fa[a] = lo + h * (np.arange(n + 1) + 0.5)
                ka = _evaluate("k", self.k, np.meshgrid(*fa, indexing="ij"))
                if not np.all(ka > 0):
                    raise ValueError(f"k must be > 0 everywhere in the domain; it is {ka.min():.3g} at some face "
                                     "midpoints (k is sampled there)")
                with np.errstate(over="ignore"):
                    too_big = not np.isfinite(ka.max() / h ** 2)
                if too_big:
                    raise ValueError(f"k reaches {ka.max():.3g}, which overflows the matrix entries k/h^2 "
                                     f"(h = {h:.3g}); rescale k")
                faces.append(np.ascontiguousarray(ka))
            self._faces = tuple(faces)
        return self._faces

    # ---------------------------------------------------------------- solve protocol
    def operator(self, backend=None):
        """The matrix-free :class:`StencilOperator` on ``backend`` (cached)."""
        be = solvers.get_backend(backend)
        if be.name not in self._ops:
            k = self.k if isinstance(self.k, float) else self.face_coefficients()
            self._ops[be.name] = _stencil.StencilOperator(self.shape, self.h, k=k, backend=be)
        return self._ops[be.name]

    def csr(self):
        """The assembled SciPy CSR matrix."""
        return self.operator("numpy").to_csr()

    def rhs(self, backend=None):
        """Flat right-hand side with the boundary data ``g`` moved in (evaluated once, a fresh copy per call)."""
        be = solvers.get_backend(backend)
        key = (id(self.f), id(self.g), id(self.k), self.shape, tuple(map(tuple, self.domain)))
        if self._rhs is None or self._rhs[0] != key:   # re-evaluated if f, g, k or the grid were replaced
            self._rhs = (key, self._assemble_rhs())
        b = self._rhs[1]
        return be.xp.array(b)   # a fresh array on the backend (a copy on the host, a transfer to the device)

    def _assemble_rhs(self):
        b = _evaluate("f", self.f, self.coordinates()).copy()
        if self.g is not None and not (isinstance(self.g, float) and self.g == 0.0):
            ax = self.axes()
            faces = None if isinstance(self.k, float) else self.face_coefficients()
            for a in range(self.ndim):
                lo, hi = self.domain[a]
                for side, pos, fidx, nidx in ((0, lo, 0, 0), (1, hi, self.shape[a], self.shape[a] - 1)):
                    bx = list(ax)
                    bx[a] = np.array([pos])
                    gv = _evaluate("g", self.g, np.meshgrid(*bx, indexing="ij"))
                    if faces is None:
                        w = self.k / self.h[a] ** 2
                    else:
                        w = np.take(faces[a], [fidx], axis=a) / self.h[a] ** 2
                    sl = [slice(None)] * self.ndim
                    sl[a] = slice(nidx, nidx + 1)
                    with np.errstate(over="ignore", invalid="ignore"):
                        b[tuple(sl)] += w * gv
        if not np.all(np.isfinite(b)):
            raise ValueError("the right-hand side overflows: f plus the boundary terms k g / h^2 exceed the double "
                             "range; rescale f and g")
        return b.reshape(-1)

    def preconditioner(self, name, backend=None):
        """``"mg"`` (multigrid, :func:`solvers.multigrid`), ``"jacobi"`` or ``"chebyshev"`` for this problem's operator."""
        if not isinstance(name, str) or name not in self.preconditioners:
            raise ValueError(f"preconditioner name must be one of {', '.join(map(repr, self.preconditioners))} "
                             f"(or precond=None in solvers.solve), got {name!r:.60}")
        A = self.operator(backend)
        if name == "mg":
            from solvers.linear import multigrid

            return multigrid.multigrid(A)
        if name == "jacobi":
            from solvers.linear import precond

            return precond.jacobi(A)
        if name == "chebyshev":
            from solvers.linear import precond

            return precond.chebyshev(A)
        raise ValueError(f"unknown preconditioner {name!r} for Poisson; choose one of "
                         f"{', '.join(self.preconditioners)}")

    def finalize(self, result, backend=None):
        """Reshape ``result.x`` to the grid shape."""
        result.x = result.x.reshape(self.shape)
        return result

    # ---------------------------------------------------------------- checks
    def exact_solution(self):
        """The exact solution on the interior nodes (manufactured problems only)."""
        if self.exact is None:
            why = getattr(self, "_dropped", "")
            raise ValueError(f"this problem has no known exact solution{' (' + why + ')' if why else ''}; build it "
                             "with Poisson.manufactured(...)")
        return _evaluate("exact", self.exact, self.coordinates())

    def error(self, u, norm="max") -> float:
        """Error of ``u`` (grid or flat, any backend) against the exact solution: ``"max"`` or ``"l2"`` (RMS)."""
        be = solvers.get_backend(None, u)
        un = np.asarray(be.to_numpy(u))
        if np.iscomplexobj(un) or not np.issubdtype(un.dtype, np.number):
            raise TypeError(f"u must be a real array of the grid's values, got dtype {un.dtype}")
        if un.size != int(np.prod(self.shape)):
            raise ValueError(f"u has shape {un.shape}; it must hold one value per grid point: shape {self.shape} "
                             f"or ({int(np.prod(self.shape))},)")
        if not isinstance(norm, str) or norm not in ("max", "l2"):
            raise ValueError(f"norm must be 'max' or 'l2', got {norm!r:.60}")
        e = un.reshape(self.shape) - self.exact_solution()
        if norm == "max":
            return float(np.abs(e).max())
        if norm == "l2":
            return float(np.sqrt(np.mean(e * e)))
        raise ValueError(f"norm must be 'max' or 'l2', got {norm!r}")

    # ---------------------------------------------------------------- manufactured problems
    @classmethod
    def manufactured(cls, shape, kind: str = "sin", domain=None) -> "Poisson":
        """A problem with a known exact solution (stored as ``p.exact``).

        ``kind`` (the fields are picklable objects from :mod:`problems.pde.manufactured`):

        * ``"sin"``: ``k = 1``, ``u = prod_a sin(pi x_a) + x_0 x_1`` (non-zero
          boundary data from the bilinear part).
        * ``"variable_k"``: ``k = 1 + 0.5 sin(2 pi (x_0 + ... ))``,
          ``u = prod_a sin(pi x_a) + x_0 x_1``.
        * ``"bubble"``: ``k = 1``, ``u = prod_a x_a (1 - x_a) e^{x_a}``, zero on
          the boundary of the unit box (``g = 0`` there). Unlike a product of
          sines it is not an eigenvector of the discrete Laplacian, so Krylov
          methods need many iterations: the case ``newtonkit demo`` compares.

        ``f = -div(k grad u)`` is computed analytically; ``u`` also supplies ``g``.

        Examples
        --------
        >>> p = Poisson.manufactured((31, 31), kind="bubble")
        >>> res = solvers.solve(p, method="cg", precond="mg", rtol=1e-10)   # doctest: +SKIP
        >>> p.error(res.x)                                                   # doctest: +SKIP
        """
        shape = _checks.grid_shape("shape", shape)
        if not isinstance(kind, str) or kind not in _manufactured.KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, _manufactured.KINDS))}, got {kind!r:.60}")
        domain = _checks.domain("domain", domain, len(shape))
        solution_cls, k_cls = _manufactured.KINDS[kind]
        u = solution_cls()
        k = 1.0 if k_cls is None else k_cls()
        unit_box = all(d == (0.0, 1.0) for d in domain)
        g = 0.0 if kind == "bubble" and unit_box else u
        f = _manufactured.Source(u, None if k_cls is None else k)
        p = cls(shape, f=f, g=g, k=k, domain=domain)
        p.exact = u
        p.name = f"poisson-{kind}"
        return p

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        """Plain data only: the per-backend operator and rhs caches are rebuilt on demand.

        The data ``f``, ``g``, ``k`` (and ``exact``) must pickle: constants, module-level
        functions or callable objects. A lambda or a function defined inside another
        cannot be pickled by the standard library; that is reported by name here.
        """
        for name in ("f", "g", "k", "exact"):
            v = getattr(self, name)
            qual = getattr(v, "__qualname__", "")
            if callable(v) and ("<lambda>" in qual or "<locals>" in qual):
                raise pickle.PicklingError(
                    f"Poisson.{name} is {qual!r}, a lambda or nested function, which the standard pickle cannot "
                    f"ship to another process; define {name} as a module-level function or a callable object "
                    "(e.g. functools.partial of a module-level function), or pass a constant")
        state = self.__dict__.copy()
        state["_ops"], state["_rhs"] = {}, None
        return state

    def describe(self) -> dict:
        """Plain-data description stored with runs (see :class:`solvers.RunStore`)."""
        def kind(v):
            return repr(v) if isinstance(v, float) else f"callable {getattr(v, '__name__', type(v).__name__)}"

        return {"problem": "Poisson", "name": self.name, "shape": list(self.shape), "ndim": self.ndim,
                "h": list(self.h), "domain": [list(d) for d in self.domain],
                "f": kind(self.f), "g": kind(self.g), "k": kind(self.k),
                "manufactured": self.exact is not None, "unknowns": int(np.prod(self.shape))}

    def __repr__(self) -> str:
        return f"Poisson(shape={self.shape}, domain={self.domain})"


__all__ = ["Poisson"]
