"""Optimal transport problems: :class:`EntropicOT` (cost matrix, point clouds, grid
densities for W1/W2) and :func:`exact_ot` (the unregularised LP for small problems)."""
from .entropic import EntropicOT, pairwise_cost
from .exact import exact_ot

__all__ = ["EntropicOT", "exact_ot", "pairwise_cost"]
