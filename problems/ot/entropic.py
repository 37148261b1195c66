"""Entropic optimal transport problems.

``EntropicOT(C, a, b, eps)`` states

    minimise  <P, C> + eps * sum_ij P_ij (log P_ij - 1)   subject to  P 1 = a,  P^T 1 = b,

whose dual is the concave function of the potentials (f, g)

    D(f, g) = <a, f> + <b, g> - eps * sum_ij exp((f_i + g_j - C_ij) / eps),

with optimal plan ``P_ij = exp((f_i + g_j - C_ij) / eps)``. Solve it with
``solvers.sinkhorn`` / ``solvers.sns`` or ``solvers.solve(prob, method=...)``.

References
----------
M. Cuturi, "Sinkhorn distances: lightspeed computation of optimal transport", NeurIPS 2013.
G. Peyre and M. Cuturi, "Computational optimal transport", Found. Trends ML 11 (2019).
"""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np

from solvers.ot._common import refuse_mask as _refuse_mask

from .. import _checks

_COSTS = ("sqeuclidean", "euclidean")
_NONFINITE_C = "C contains NaN or inf; costs must be finite (replace forbidden pairs by a large finite cost)"


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def _host(a):
    return a.get() if _is_cupy(a) else a


def _check_weights(w, name: str, size: int | None, of: str = "the cost matrix C"):
    _refuse_mask(name, w)
    if w is None:
        if size is None:
            raise ValueError(f"{name} is None and its size is unknown")
        return np.full(size, 1.0 / size)
    w = _checks.real_array(name, w, ndims=(1,), nonneg=True, what="1-D weight vector").copy()
    if size is not None and w.shape[0] != size:
        raise ValueError(f"{name} has length {w.shape[0]} but {of} needs {size}; give one weight per point")
    with np.errstate(over="ignore"):
        total = w.sum()
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to inf (its entries overflow when added); rescale {name}")
    if total <= 0:
        raise ValueError(f"{name} sums to zero; give at least one positive weight")
    return w


def _check_eps(eps) -> float:
    """Positive, finite and with a finite 1/eps: the solvers' own rule (solvers.ot._common.positive_eps), so a
    problem they would refuse is not built (eps=1e-320 was; helper-152)."""
    from solvers.ot._common import positive_eps

    _checks.real_scalar("eps", eps, positive=True)
    return positive_eps(eps, "")


class EntropicOT:
    """Entropy-regularised optimal transport between weights ``a`` (n) and ``b`` (m).

    Parameters
    ----------
    C : (n, m) array_like
        Cost matrix (finite), kept as float64 -- or as float32 when given a float32 NumPy
        array (no upcast copy: half the memory; the solvers compute in float64 from its exact
        entries). A CuPy array is kept on the device. A float64 (or float32) array is kept by
        reference, not copied (a copy would double the memory of a large problem): change it after
        a solve and that result's ``plan()`` refuses (a sample of C taken at the solve no longer
        matches); pass ``C.copy()`` to keep changing your array.
    a, b : (n,), (m,) array_like, optional
        Non-negative marginals with equal sums; uniform when None.
    eps : float
        Entropic regularisation, > 0 (absolute, in the units of ``C``).
    normalize : bool
        Rescale ``a`` and ``b`` to sum to one (otherwise their sums must agree
        to ``rtol=1e-9`` relative).
    cost_kind : str
        Label stored in :meth:`describe` (set by the constructors).

    Notes
    -----
    Zero weights are allowed; their potentials are -inf in exact arithmetic, so
    solvers drop those rows/columns internally and report them with a zero plan.
    """

    methods = ("auto", "sinkhorn", "sns")

    def __init__(self, C, a=None, b=None, eps: float = 1e-3, *, normalize: bool = False,
                 cost_kind: str = "matrix"):
        if _is_cupy(C):
            if C.ndim != 2:
                raise ValueError(f"C must be a 2-D cost matrix, got shape {C.shape}")
            import cupy

            if cupy.iscomplexobj(C) or not (C.dtype.kind in "fiub"):
                raise TypeError(f"C must be a real numeric matrix, got dtype {C.dtype}")
            if not bool(cupy.all(cupy.isfinite(C))):
                raise ValueError(_NONFINITE_C)
            self.C = C.astype(cupy.float64, copy=False)
        else:
            _refuse_mask("C", C)
            if isinstance(C, np.ndarray) and C.dtype == np.float32 and C.ndim == 2:
                Ch = C                   # kept in float32 (half the memory; solvers compute in float64)
            else:
                Ch = _checks.real_array("C", C, ndims=(2,), finite=False, what="(n, m) cost matrix")
            if not all_finite(Ch):
                raise ValueError(_NONFINITE_C)
            self.C = np.ascontiguousarray(Ch)
        n, m = self.C.shape
        if n == 0 or m == 0:
            raise ValueError(f"C has an empty dimension: shape {self.C.shape}; give at least one row and column")
        a = _check_weights(a, "a", n, "the rows of C")
        b = _check_weights(b, "b", m, "the columns of C")
        normalize = _checks.boolean("normalize", normalize)
        eps = _check_eps(eps)
        if not isinstance(cost_kind, str):
            raise TypeError(f"cost_kind must be a string label, got {type(cost_kind).__name__}")
        sa, sb = a.sum(), b.sum()
        if normalize:
            a, b = a / sa, b / sb
        elif abs(sa - sb) > 1e-9 * max(sa, sb):
            raise ValueError(f"a and b must have equal total mass: sum(a)={sa:.12g}, sum(b)={sb:.12g}; "
                             "pass normalize=True to rescale both to 1")
        self.a, self.b = a, b
        self.eps = eps
        self.cost_kind = cost_kind

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.C.shape)

    def describe(self) -> dict:
        """Scalars that identify the problem (stored with runs)."""
        n, m = self.C.shape
        out = {"problem": "EntropicOT", "n": int(n), "m": int(m), "eps": self.eps, "cost": self.cost_kind,
               "cost_max": float(_host(self.C.max()))}
        for k, v in (getattr(self, "origin", None) or {}).items():   # e.g. generator and seed
            out[f"origin_{k}"] = v
        return out

    def dual(self, f, g) -> float:
        """The dual objective D(f, g) (NumPy reference, O(nm) memory); a zero weight's term
        ``a_i f_i`` counts 0 (its potential may be ``-inf``, as the solvers return it)."""
        C = np.asarray(_host(self.C))
        n, m = C.shape
        f = _checks.real_array("f", f, ndims=(1,), finite=False, what="potential vector")
        g = _checks.real_array("g", g, ndims=(1,), finite=False, what="potential vector")
        if f.shape != (n,) or g.shape != (m,):
            raise ValueError(f"f and g must have shapes ({n},) and ({m},) (one potential per row / column of C), "
                             f"got {f.shape} and {g.shape}")
        # a zero weight's term is 0 whatever its potential (the solvers return -inf there: 0 * -inf is not NaN here)
        a, b = np.asarray(self.a, dtype=float), np.asarray(self.b, dtype=float)
        with np.errstate(invalid="ignore"):
            lin = np.where(a > 0, a * f, 0.0).sum() + np.where(b > 0, b * g, 0.0).sum()
        return float(lin - self.eps * np.exp((f[:, None] + g[None, :] - C) / self.eps).sum())

    def __repr__(self) -> str:
        n, m = self.C.shape
        return f"EntropicOT(n={n}, m={m}, eps={self.eps:g}, cost={self.cost_kind!r})"

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_points(cls, x, y, a=None, b=None, cost: str | Callable = "sqeuclidean", eps: float = 1e-3, *,
                    scale: str | float | None = None, normalize: bool = False) -> "EntropicOT":
        """Problem between point clouds ``x`` (n, d) and ``y`` (m, d).

        Parameters
        ----------
        x, y : array_like, shape (n, d) and (m, d)
            The points (a 1-D array is ``d = 1``).
        a, b : array_like, optional
            Non-negative weights of the points (default uniform, ``1/n`` and ``1/m``).
        cost : {"sqeuclidean", "euclidean"} or callable
            ``|x - y|^2``, ``|x - y|`` or ``cost(x, y) -> (n, m) array``.
        eps : float
            Entropic regularisation (> 0), in the units of the (scaled) cost.
        scale : None, "max" or float
            Divide the cost by its maximum (``"max"``) or by a number; ``eps``
            is relative to the scaled cost.
        normalize : bool
            Rescale ``a`` and ``b`` to unit mass (default False: their masses must be equal).
        """
        x = _checks.real_array("x", x, ndims=(1, 2), what="(n, d) point array")
        y = _checks.real_array("y", y, ndims=(1, 2), what="(m, d) point array")
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim == 1:
            y = y[:, None]
        for name, pts in (("x", x), ("y", y)):
            if pts.shape[0] == 0 or pts.shape[1] == 0:
                raise ValueError(f"{name} has shape {pts.shape}: give at least one point with at least one coordinate")
        if x.shape[1] != y.shape[1]:
            raise ValueError(f"x and y must have the same d (coordinates per point): x is {x.shape} "
                             f"(d={x.shape[1]}), y is {y.shape} (d={y.shape[1]})")
        n, m = x.shape[0], y.shape[0]
        a = _check_weights(a, "a", n, "x (one weight per point)")
        b = _check_weights(b, "b", m, "y (one weight per point)")
        eps = _check_eps(eps)
        normalize = _checks.boolean("normalize", normalize)
        if scale is not None and not (isinstance(scale, str) and scale == "max"):
            if isinstance(scale, str):
                raise ValueError(f"scale must be None, 'max' or a positive number, got {scale!r}")
            scale = _checks.real_scalar("scale", scale, positive=True)
        _check_cost_memory(n, m, "from_points", copies=2 if callable(cost) else 1)
        if callable(cost):
            try:
                C = cost(x, y)
            except Exception as exc:
                raise ValueError(f"cost(x, y) raised {type(exc).__name__}: {exc}; the cost callable must take the "
                                 f"(n, d) and (m, d) point arrays and return an (n, m) array") from exc
            C = _checks.real_array("cost(x, y)", C, finite=False, what="(n, m) cost matrix")
            if C.shape != (n, m):
                raise ValueError(f"cost(x, y) returned shape {C.shape}, expected {(n, m)}: one cost per pair of "
                                 "points (x in rows, y in columns)")
            if not all_finite(C):
                raise ValueError("cost(x, y) returned NaN or inf; the cost callable must return finite values")
            kind = getattr(cost, "__name__", "callable")
            own = False                      # the callable's array may be the caller's: scale a copy
        elif isinstance(cost, str) and cost in _COSTS:
            with np.errstate(over="ignore", invalid="ignore", under="ignore"):
                C, p2, k = pairwise_cost(x, y, cost, unit_scale=True)
                big = float(C.max()) if C.size else 0.0
                # the scale is applied in the coordinates' own units, so tiny or huge points keep their digits
                # (helper-144: points of size 1e-200 gave an all-zero C even with scale="max")
                if isinstance(scale, str):
                    factor = 1.0 / big if big > 0 else 1.0
                else:                                       # p2^k / scale, each step representable if the result is
                    factor = p2 / (1.0 if scale is None else scale) * (p2 if k == 2 else 1.0)
                if factor != 1.0:
                    if 0 < big and not _NORMAL <= big * factor <= _HUGE:
                        raise ValueError(f"the {cost} distances between x and y {'divided by scale ' if scale else ''}"
                                         f"{'over' if big * factor > 1 else 'under'}flow (coordinates up to "
                                         f"{max(np.abs(x).max(), np.abs(y).max()):.3g}); rescale the points x and y, "
                                         "or pass scale='max'")
                    C *= factor
                scale = None
            kind = cost
            own = True                       # built here: scaled in place (no second n x m array)
        else:
            raise ValueError(f"cost must be one of {_COSTS} or a callable cost(x, y), got {cost!r:.60}")
        if isinstance(scale, str):
            cmax = C.max()
            if cmax > 0:
                C = _divide(C, cmax, own)
        elif scale is not None:
            with np.errstate(over="ignore"):
                C = _divide(C, scale, own)
            if not all_finite(C):
                raise ValueError(f"the cost divided by scale={scale!r} overflows; use a larger scale")
        return cls(C, a, b, eps=eps, normalize=normalize, cost_kind=kind)

    @classmethod
    def from_grids(cls, density_a, density_b, p: int = 2, eps: float = 1e-3, *, extent=None,
                   normalize: bool = True) -> "EntropicOT":
        """W_p (p = 1 or 2) problem between two densities sampled on the same regular grid.

        Parameters
        ----------
        density_a, density_b : array_like
            Non-negative arrays of equal shape (1-, 2- or 3-D), e.g. images.
        p : {1, 2}
            Cost ``|x - y|^p`` between cell centres; the optimal cost of the
            unregularised problem is ``W_p^p``.
        eps : float
            Entropic regularisation (> 0), in the units of the cost.
        extent : sequence of float, optional
            Physical side length per axis (default 1 for every axis); cell
            centres are at ``(k + 1/2) * extent / size``.
        normalize : bool
            Rescale both densities to unit mass (default True).
        """
        da = _checks.real_array("density_a", density_a, ndims=(1, 2, 3), nonneg=True, what="grid of densities")
        db = _checks.real_array("density_b", density_b, ndims=(1, 2, 3), nonneg=True, what="grid of densities")
        if da.shape != db.shape:
            raise ValueError(f"density_a and density_b must have the same grid shape, got {da.shape} and {db.shape}")
        if da.size == 0:
            raise ValueError(f"density_a and density_b are empty (shape {da.shape}); give at least one cell")
        for name, d in (("density_a", da), ("density_b", db)):
            with np.errstate(over="ignore"):
                total = d.sum()
            if not np.isfinite(total):
                raise ValueError(f"{name} sums to inf (its entries overflow when added); rescale {name}")
            if total <= 0:
                raise ValueError(f"{name} sums to zero; give at least one positive cell")
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
            raise TypeError(f"p must be the integer 1 or 2 (the exponent of the cost |x - y|^p), got {p!r:.60}")
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2 (the exponent of the cost |x - y|^p), got {p!r:.60}")
        p = int(p)
        eps = _check_eps(eps)
        normalize = _checks.boolean("normalize", normalize)
        if extent is None:
            extent = (1.0,) * da.ndim
        else:
            if isinstance(extent, (str, bytes)) or not hasattr(extent, "__len__"):
                raise TypeError(f"extent must be a sequence of {da.ndim} side lengths (one per grid axis), "
                                f"got {extent!r:.60}")
            if len(extent) != da.ndim:
                raise ValueError(f"extent needs {da.ndim} entries (one side length per grid axis), "
                                 f"got {len(extent)}")
            extent = tuple(_checks.real_scalar(f"extent[{i}]", e, positive=True) for i, e in enumerate(extent))
        if not normalize:
            sa, sb = da.sum(), db.sum()
            if abs(sa - sb) > 1e-9 * max(sa, sb):
                raise ValueError(f"density_a and density_b must have equal total mass when normalize=False: "
                                 f"{sa:.12g} vs {sb:.12g}; pass normalize=True to rescale both to 1")
        N = da.size
        _check_cost_memory(N, N, f"from_grids on a {'x'.join(map(str, da.shape))} grid")
        axes = [(np.arange(s) + 0.5) * (e / s) for s, e in zip(da.shape, extent)]
        pts = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        C = pairwise_cost(pts, pts, "sqeuclidean" if p == 2 else "euclidean")
        if not all_finite(C):
            raise ValueError("the distances between grid cells overflow; use a smaller extent")
        return cls(C, da.ravel(), db.ravel(), eps=eps, normalize=normalize, cost_kind=f"grid_W{p}")


def _check_cost_memory(n: int, m: int, what: str, copies: int = 1) -> None:
    """The dense (n, m) cost matrix (``copies`` of it: 2 when a cost callable's result is scaled
    into a new array) plus the O(n + m) blocks it is built with (:func:`pairwise_cost` writes
    in place)."""
    _checks.check_memory(f"EntropicOT.{what}: the dense {n} x {m} cost matrix", copies * 8.0 * n * m
                         + _BLOCK_ENTRIES * 8.0 + 64.0 * (n + m), "use fewer points or a coarser grid")


def all_finite(C) -> bool:
    """Whether every entry of the float array ``C`` is finite, without an n x m temporary:
    ``max`` and ``min`` propagate NaN, and an infinite entry is the max or the min."""
    if C.size == 0:
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.isfinite(C.max())) and bool(np.isfinite(C.min()))


def _divide(C, s, own: bool):
    """``C / s``: in place when ``C`` was built here (``own``), else a new array."""
    if own:
        C /= s
        return C
    return C / s


#: entries per row block of :func:`pairwise_cost` (its only temporary: 2**16 doubles, 512 kB)
_BLOCK_ENTRIES = 2**16
#: euclidean pairs with ``|x - y|^2 < _NEAR (max |x|^2 + max |y|^2)`` (per row block, after the shift to the
#: common centre) are recomputed from the differences (see :func:`pairwise_cost`)
_NEAR = 2.0 ** -10


def _common_centre(x: np.ndarray, y: np.ndarray):
    """The midpoint of the joint bounding box of ``x`` and ``y`` (computed without overflow),
    or None when a cloud is empty; subtracting it from both leaves the distances unchanged."""
    if x.shape[0] == 0 or y.shape[0] == 0 or x.shape[1] == 0:
        return None
    lo = np.minimum(x.min(0), y.min(0))
    hi = np.maximum(x.max(0), y.max(0))
    return 0.5 * lo + 0.5 * hi


def pairwise_cost(x, y, kind: str = "sqeuclidean", *, unit_scale: bool = False):
    """Pairwise ``|x_i - y_j|^2`` or ``|x_i - y_j|`` (clipped at zero against round-off).

    The (n, m) result is the only large array: it is filled by row blocks of about
    ``_BLOCK_ENTRIES`` entries, ``|x_i|^2 + |y_j|^2 - 2 x_i . y_j`` (in that order), so the
    peak memory is the result plus O(n + m + block).

    Both clouds are first shifted by a common centre (:func:`_common_centre`, the midpoint of
    their joint bounding box): the distances do not change, and the expansion no longer
    cancels catastrophically for clouds far from the origin (coordinates like 1e8 + U(0, 1)
    would otherwise lose every digit; after the shift the error is about the float64
    round-off of the spread of the points). This costs O((n + m) d).

    Raises
    ------
    ValueError
        For NaN or inf coordinates, different ``d``, or an unknown ``kind``.
    """
    if not (isinstance(x, np.ndarray) and x.dtype == np.float64 and x.ndim == 2):
        x = _checks.real_array("x", x, ndims=(2,), what="(n, d) point array")
    elif not np.isfinite(x).all():
        raise ValueError("x contains NaN or inf; give finite point coordinates")
    if not (isinstance(y, np.ndarray) and y.dtype == np.float64 and y.ndim == 2):
        y = _checks.real_array("y", y, ndims=(2,), what="(m, d) point array")
    elif not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf; give finite point coordinates")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same d (coordinates per point), got {x.shape} and {y.shape}")
    if kind not in _COSTS:
        raise ValueError(f"unknown cost kind {kind!r}; use one of {_COSTS}")
    centre = _common_centre(x, y)
    if centre is not None:
        x, y = x - centre, y - centre
    # a power of two that brings the largest coordinate near 1 (exact: the result is unchanged
    # where nothing under/overflows): |x - y| for points of size 1e-200 or 1e200 is representable,
    # but its square is not -- it would come out 0 or inf
    p2 = _pow2_scale(x, y)
    if p2 != 1.0:
        x, y = x / p2, y / p2
    n, m = x.shape[0], y.shape[0]
    xx, yy, yt = (x * x).sum(1), (y * y).sum(1), np.ascontiguousarray(y.T)
    out = np.empty((n, m))
    ymax = float(yy.max()) if m else 0.0
    rows = max(1, _BLOCK_ENTRIES // max(m, 1))
    for i0 in range(0, n, rows):
        blk = out[i0:i0 + rows]
        np.add(xx[i0:i0 + rows, None], yy[None, :], out=blk)
        xy = x[i0:i0 + rows] @ yt
        xy *= 2.0
        blk -= xy
        np.maximum(blk, 0.0, out=blk)
        if kind == "euclidean":
            # the expansion's absolute error is ~ ulp(|x|^2 + |y|^2); its square root would carry
            # sqrt(ulp) ~ 1e-8 of the spread (coincident points came out 1e-8 apart, points 1e-9 apart
            # at 0): pairs closer than 2**-5 of the largest norms are recomputed from the differences
            ii, jj = np.nonzero(blk < _NEAR * (xx[i0:i0 + rows].max() + ymax))
            if ii.size:
                diff = x[i0 + ii] - y[jj]
                blk[ii, jj] = np.einsum("ij,ij->i", diff, diff)
            np.sqrt(blk, out=blk)
    if unit_scale:                  # (C / p2^k, p2, k): C in the units of the largest coordinate
        return out, p2, (2 if kind == "sqeuclidean" else 1)
    if p2 != 1.0:
        with np.errstate(over="ignore", under="ignore"):   # a true overflow is inf: the callers refuse it
            out *= p2
            if kind == "sqeuclidean":
                out *= p2       # twice, not by p2 * p2 (which alone may overflow or underflow)
    return out


_NORMAL, _HUGE = float(np.finfo(np.float64).tiny) * 2.0 ** 52, float(np.finfo(np.float64).max)


def _pow2_scale(x, y) -> float:
    """``2**k`` with ``max(|x|, |y|) / 2**k`` in [0.5, 1) (1.0 for empty or all-zero clouds)."""
    big = max(float(np.abs(x).max()) if x.size else 0.0, float(np.abs(y).max()) if y.size else 0.0)
    if not big > 0 or not np.isfinite(big):
        return 1.0
    return float(np.ldexp(1.0, min(int(np.frexp(big)[1]), 1023)))   # 2**1024 is inf: points >= 2**1023 gave C = 0
