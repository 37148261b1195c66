"""Entropic optimal transport solvers: log-domain :func:`sinkhorn` and Sinkhorn-Newton-Sparse
:func:`sns`. Both take a :class:`problems.ot.EntropicOT` (or any object with ``C``, ``a``,
``b``, ``eps``)."""
from .sinkhorn import sinkhorn
from .sns import sns  # noqa: E402

__all__ = ["sinkhorn", "sns"]
