"""Instance generators for entropic OT: reproducible random problems for demos, tests and sweeps."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _checks
from .entropic import _BLOCK_ENTRIES, EntropicOT


def _count(name: str, v) -> int:
    if not isinstance(v, numbers.Integral) or isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive integer, got {type(v).__name__} {v!r:.60}")
    if v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if v > 2 ** 40:
        raise ValueError(f"{name} = {str(v)[:20]}{'...' if len(str(v)) > 20 else ''} is far beyond any memory; "
                         "give a practical size")
    return int(v)


def _rng(seed):
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be None, a non-negative integer or a numpy.random.Generator, "
                        f"got {type(seed).__name__} {seed!r:.60}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))


def random_point_clouds(n: int, eps: float = 1e-3, *, seed=None, m: int | None = None, dim: int = 2,
                        return_points: bool = False):
    """Entropic OT between two uniform random point clouds in the unit cube ``[0, 1]^dim``.

    The points are drawn as ``x = rng.random((n, dim))`` and then
    ``y = rng.random((m, dim))`` with ``rng = numpy.random.default_rng(seed)``;
    the cost is the squared Euclidean distance divided by its maximum (so
    ``max C = 1`` and ``eps`` is relative to it), and both marginals are uniform.
    The cost matrix is the only large array: it is built and scaled in place, so the peak
    memory is ``8 n m`` bytes plus O(n + m) (a size whose cost matrix does not fit in the
    memory limit, :func:`solvers._config.memory_limit`, is refused before anything is drawn).

    Parameters
    ----------
    n : int
        Points in the source cloud (>= 1).
    eps : float, default 1e-3
        Entropic regularisation (> 0), relative to the scaled cost.
    seed : int, numpy.random.Generator or None
        Seed of the draw; the same seed gives the same problem. ``None`` draws a seed; an
        integer seed (given or drawn) is recorded in ``problem.origin`` and in
        ``problem.describe()`` (so stored runs say how to rebuild the problem).
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
    eps_f = _checks.real_scalar("eps", eps, positive=True)
    return_points = _checks.boolean("return_points", return_points)
    # the cost matrix is the one large array: built in place by row blocks (pairwise_cost) and
    # scaled in place, so the peak is C plus the points and one block
    _checks.check_memory(f"random_point_clouds(n={n}, m={m}): the dense {n} x {m} cost matrix",
                         8.0 * n * m + 8.0 * (n + m) * (dim + 8) + 8.0 * _BLOCK_ENTRIES, "use fewer points")
    if seed is None:   # draw a seed and record it, so the problem can be rebuilt
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    rng = _rng(seed)
    x = rng.random((n, dim))
    y = rng.random((m, dim))
    problem = EntropicOT.from_points(x, y, eps=eps_f, scale="max")
    if isinstance(seed, numbers.Integral):
        problem.origin = {"generator": "random_point_clouds", "seed": int(seed), "dim": dim}
    return (problem, x, y) if return_points else problem


__all__ = ["random_point_clouds"]
