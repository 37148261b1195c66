"""Krylov solvers (cg, minres, gmres, cdm) and preconditioners (jacobi, chebyshev; the multigrid V-cycle is ``solvers.linear.multigrid.multigrid``).

All solvers share SciPy's keywords (``x0, rtol, atol, maxiter, M, callback``)
and return a :class:`solvers.SolveResult` whose ``history["residual"]`` holds
the residual 2-norm per iteration.
"""
from .cg import cg
from .cdm import cdm
from .gmres import gmres
from .minres import minres
from .multigrid import MultigridPreconditioner
from .precond import chebyshev, jacobi, lanczos_bounds

__all__ = ["cg", "minres", "gmres", "cdm", "jacobi", "chebyshev", "lanczos_bounds", "MultigridPreconditioner"]
