"""Entropic optimal transport solvers: :func:`sinkhorn` (kernel space where safe, log domain
elsewhere), Sinkhorn-Newton-Sparse :func:`sns`, and :func:`auto`, which picks one of them by a
measured rule (:mod:`solvers.ot.auto`).

Both take a :class:`problems.ot.EntropicOT` (or any object with ``C``, ``a``, ``b``, ``eps``)
or, POT style, the arrays themselves: ``sinkhorn(C, a, b, eps=1e-2, tol=1e-9)``; every
option is keyword-only. The work on the cost matrix is done by the backend's OT kernel set
(``backend.kernels("ot")``, see :mod:`solvers._kernels.numpy.ot`). Results follow the common
convention (``history`` with ``nit + 1`` rows, ``options`` as asked, adapted values in
``stats``) and pickle: ``res.plan()`` is a :class:`~solvers.ot._result.TransportPlan` that
rebuilds the plan from the cost matrix, the potentials and ``eps``.
"""
from .sinkhorn import sinkhorn
from .sns import sns  # noqa: E402
from .auto import auto  # noqa: E402

__all__ = ["sinkhorn", "sns", "auto"]
