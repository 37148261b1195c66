"""Krylov solvers (cg, minres, gmres, cdm) and preconditioners (jacobi, chebyshev; the multigrid V-cycle is ``solvers.multigrid``, defined in ``solvers.linear.multigrid``).

All solvers take keyword-only options after ``(A, b)`` with SciPy's names
(``x0, rtol, atol, maxiter, M, callback``; ``gmres``'s ``maxiter`` counts
restart cycles, as in SciPy), accept ``callback(intermediate_result)`` or
``callback(xk)`` (``StopIteration`` stops with status ``"stopped"``), run on the
backend of their operator unless ``backend=`` converts it, and return a
:class:`solvers.SolveResult` whose ``history["residual"]`` holds the residual
2-norms, the initial one first (``nit + 1`` entries). The vector kernels come
from ``backend.kernels("krylov")``.
"""
from .cg import cg
from .cdm import cdm
from .gmres import gmres
from .minres import minres
from .multigrid import MultigridPreconditioner
from .precond import chebyshev, jacobi, lanczos_bounds

__all__ = ["cg", "minres", "gmres", "cdm", "jacobi", "chebyshev", "lanczos_bounds", "MultigridPreconditioner"]
