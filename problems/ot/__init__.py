"""Optimal transport problems: :class:`EntropicOT` (cost matrix, point clouds, grid
densities for W1/W2), :func:`random_point_clouds` (reproducible random instances) and
:func:`exact_ot` (the unregularised LP for small problems)."""
from .entropic import EntropicOT, pairwise_cost
from .exact import exact_ot
from .generators import random_point_clouds

__all__ = ["EntropicOT", "exact_ot", "pairwise_cost", "random_point_clouds"]
