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

from typing import Callable

import numpy as np

_COSTS = ("sqeuclidean", "euclidean")
_NONFINITE_C = "C contains NaN or inf; costs must be finite (replace forbidden pairs by a large finite cost)"


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def _host(a):
    return a.get() if _is_cupy(a) else a


def _check_weights(w, name: str, size: int | None):
    if w is None:
        if size is None:
            raise ValueError(f"{name} is None and its size is unknown")
        return np.full(size, 1.0 / size)
    w = np.asarray(_host(w))
    if not np.issubdtype(w.dtype, np.number) or np.iscomplexobj(w):
        raise TypeError(f"{name} must be a real numeric 1-D array, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {w.shape}")
    if size is not None and w.shape[0] != size:
        raise ValueError(f"{name} has length {w.shape[0]} but the cost matrix needs {size}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains NaN or inf; weights must be finite and non-negative")
    if np.any(w < 0):
        raise ValueError(f"{name} has negative entries (min {w.min():.3g}); weights must be non-negative")
    if w.sum() <= 0:
        raise ValueError(f"{name} sums to zero; give at least one positive weight")
    return w


class EntropicOT:
    """Entropy-regularised optimal transport between weights ``a`` (n) and ``b`` (m).

    Parameters
    ----------
    C : (n, m) array_like
        Cost matrix (finite). A CuPy array is kept on the device.
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

    methods = ("sinkhorn", "sns")

    def __init__(self, C, a=None, b=None, eps: float = 1e-3, *, normalize: bool = False,
                 cost_kind: str = "matrix"):
        if _is_cupy(C):
            Ch = None
            if C.ndim != 2:
                raise ValueError(f"C must be a 2-D cost matrix, got shape {C.shape}")
            import cupy

            if not bool(cupy.all(cupy.isfinite(C))):
                raise ValueError(_NONFINITE_C)
            self.C = C.astype(cupy.float64, copy=False)
        else:
            Ch = np.asarray(C)
            if not np.issubdtype(Ch.dtype, np.number) or np.iscomplexobj(Ch):
                raise TypeError(f"C must be a real numeric matrix, got dtype {Ch.dtype}")
            if Ch.ndim != 2:
                raise ValueError(f"C must be a 2-D cost matrix, got shape {Ch.shape}")
            Ch = np.ascontiguousarray(Ch, dtype=np.float64)
            if not np.all(np.isfinite(Ch)):
                raise ValueError(_NONFINITE_C)
            self.C = Ch
        n, m = self.C.shape
        if n == 0 or m == 0:
            raise ValueError(f"C has an empty dimension: shape {self.C.shape}")
        a = _check_weights(a, "a", n)
        b = _check_weights(b, "b", m)
        sa, sb = a.sum(), b.sum()
        if normalize:
            a, b = a / sa, b / sb
        elif abs(sa - sb) > 1e-9 * max(sa, sb):
            raise ValueError(f"a and b must have equal total mass: sum(a)={sa:.12g}, sum(b)={sb:.12g}; "
                             "pass normalize=True to rescale both to 1")
        self.a, self.b = a, b
        try:
            eps = float(eps)
        except (TypeError, ValueError):
            raise TypeError(f"eps must be a positive number, got {eps!r}") from None
        if not np.isfinite(eps) or eps <= 0:
            raise ValueError(f"eps must be a positive finite number, got {eps!r}")
        self.eps = eps
        self.cost_kind = cost_kind

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.C.shape)

    def describe(self) -> dict:
        """Scalars that identify the problem (stored with runs)."""
        n, m = self.C.shape
        return {"problem": "EntropicOT", "n": int(n), "m": int(m), "eps": self.eps, "cost": self.cost_kind,
                "cost_max": float(_host(self.C.max()))}

    def dual(self, f, g) -> float:
        """The dual objective D(f, g) (NumPy reference, O(nm) memory)."""
        C = np.asarray(_host(self.C))
        f, g = np.asarray(_host(f)), np.asarray(_host(g))
        return float(self.a @ f + self.b @ g - self.eps * np.exp((f[:, None] + g[None, :] - C) / self.eps).sum())

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
        cost : {"sqeuclidean", "euclidean"} or callable
            ``|x - y|^2``, ``|x - y|`` or ``cost(x, y) -> (n, m) array``.
        scale : None, "max" or float
            Divide the cost by its maximum (``"max"``) or by a number; ``eps``
            is relative to the scaled cost.
        """
        x = np.asarray(_host(x), dtype=np.float64)
        y = np.asarray(_host(y), dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if y.ndim == 1:
            y = y[:, None]
        if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
            raise ValueError(f"x and y must be (n, d) and (m, d) point arrays with the same d; "
                             f"got {x.shape} and {y.shape}")
        if callable(cost):
            C = np.asarray(cost(x, y), dtype=np.float64)
            if C.shape != (x.shape[0], y.shape[0]):
                raise ValueError(f"cost(x, y) returned shape {C.shape}, expected {(x.shape[0], y.shape[0])}")
            kind = getattr(cost, "__name__", "callable")
        elif cost in _COSTS:
            C = pairwise_cost(x, y, cost)
            kind = cost
        else:
            raise ValueError(f"cost must be one of {_COSTS} or a callable, got {cost!r}")
        if scale == "max":
            cmax = C.max()
            if cmax > 0:
                C = C / cmax
        elif scale is not None:
            C = C / float(scale)
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
        extent : sequence of float, optional
            Physical side length per axis (default 1 for every axis); cell
            centres are at ``(k + 1/2) * extent / size``.
        normalize : bool
            Rescale both densities to unit mass (default True).
        """
        da = np.asarray(_host(density_a), dtype=np.float64)
        db = np.asarray(_host(density_b), dtype=np.float64)
        if da.shape != db.shape:
            raise ValueError(f"density_a and density_b must have the same grid shape, got {da.shape} and {db.shape}")
        if da.ndim not in (1, 2, 3):
            raise ValueError(f"densities must be 1-, 2- or 3-D grids, got ndim={da.ndim}")
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p!r}")
        extent = (1.0,) * da.ndim if extent is None else tuple(float(e) for e in extent)
        if len(extent) != da.ndim:
            raise ValueError(f"extent needs {da.ndim} entries, got {len(extent)}")
        axes = [(np.arange(s) + 0.5) * (e / s) for s, e in zip(da.shape, extent)]
        pts = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
        C = pairwise_cost(pts, pts, "sqeuclidean" if p == 2 else "euclidean")
        return cls(C, da.ravel(), db.ravel(), eps=eps, normalize=normalize, cost_kind=f"grid_W{p}")


def pairwise_cost(x, y, kind: str = "sqeuclidean"):
    """Pairwise ``|x_i - y_j|^2`` or ``|x_i - y_j|`` (clipped at zero against round-off)."""
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    np.maximum(d2, 0.0, out=d2)
    if kind == "sqeuclidean":
        return d2
    if kind == "euclidean":
        return np.sqrt(d2)
    raise ValueError(f"unknown cost kind {kind!r}; use one of {_COSTS}")
