"""Mesh-free Chebyshev–Tucker approximation of multivariate functions (:func:`chebtucker`)."""
from .chebtucker import ChebTucker, chebtucker

__all__ = ["ChebTucker", "chebtucker"]
