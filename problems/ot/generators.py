"""Instance generators for entropic OT: reproducible random problems for demos, tests and sweeps."""
from __future__ import annotations

import numbers

import numpy as np

from .entropic import EntropicOT


def _count(name: str, v) -> int:
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def random_point_clouds(n: int, eps: float = 1e-3, seed=None, *, m: int | None = None, dim: int = 2,
                        return_points: bool = False):
    """Entropic OT between two uniform random point clouds in the unit cube ``[0, 1]^dim``.

    The points are drawn as ``x = rng.random((n, dim))`` and then
    ``y = rng.random((m, dim))`` with ``rng = numpy.random.default_rng(seed)``;
    the cost is the squared Euclidean distance divided by its maximum (so
    ``max C = 1`` and ``eps`` is relative to it), and both marginals are uniform.

    Parameters
    ----------
    n : int
        Points in the source cloud (>= 1).
    eps : float, default 1e-3
        Entropic regularisation (> 0), relative to the scaled cost.
    seed : int, numpy.random.Generator or None
        Seed of the draw; the same seed gives the same problem.
    m : int, optional
        Points in the target cloud (default ``n``).
    dim : int, default 2
        Dimension of the points.
    return_points : bool, default False
        Also return the point arrays.

    Returns
    -------
    problem : EntropicOT
        ``C`` of shape ``(n, m)``, ``a = 1/n``, ``b = 1/m``, ``cost_kind="sqeuclidean"``.
    x, y : ndarray, only with ``return_points``
        The ``(n, dim)`` and ``(m, dim)`` points.

    Examples
    --------
    >>> prob = random_point_clouds(500, eps=2e-3, seed=0)
    >>> prob.shape
    (500, 500)
    """
    n = _count("n", n)
    m = n if m is None else _count("m", m)
    dim = _count("dim", dim)
    try:
        eps_f = float(eps)
    except (TypeError, ValueError):
        raise TypeError(f"eps must be a positive number, got {eps!r}") from None
    if not np.isfinite(eps_f) or eps_f <= 0:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    rng = np.random.default_rng(seed)
    x = rng.random((n, dim))
    y = rng.random((m, dim))
    problem = EntropicOT.from_points(x, y, eps=eps_f, scale="max")
    return (problem, x, y) if return_points else problem


__all__ = ["random_point_clouds"]
