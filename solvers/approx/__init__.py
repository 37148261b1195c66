"""Mesh-free Chebyshev–Tucker approximation of multivariate functions (:func:`chebtucker`)."""
from ._calls import release_work, work_nbytes
from .chebtucker import ChebTucker, chebtucker

__all__ = ["ChebTucker", "chebtucker", "work_nbytes", "release_work"]
