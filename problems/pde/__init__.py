"""PDE problems on structured 2-D/3-D grids: Poisson / variable-coefficient diffusion, Bratu, Poisson control.

``Poisson(shape, f=1.0, g=0.0, k=None, domain=None)`` solves ``-div(k grad u) = f``
with ``u = g`` on the boundary; ``solvers.solve(p, method="cg", precond="mg")``.
``Poisson.manufactured(shape, kind="sin" | "variable_k" | "bubble")`` builds one with a
known exact solution (picklable fields from :mod:`problems.pde.manufactured`).
``Bratu(shape, lam)``: ``solvers.newton_krylov(**p.nonlinear_system(backend))``.
``PoissonControl(n, alpha=1e-4, semilinear=False)``: an equality-constrained NLP for
``solvers.sketched_newton`` (see :mod:`problems.pde.control`).
"""
from . import manufactured
from .bratu import Bratu
from .control import PoissonControl
from .poisson import Poisson

__all__ = ["Poisson", "Bratu", "PoissonControl", "manufactured"]
