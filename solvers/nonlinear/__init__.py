"""Shared machinery of Newton-type methods, one idea per module.

* :mod:`.linesearch` -- Armijo backtracking on ``phi(alpha)`` with an optional noise-level hook;
* :mod:`.damping` -- Levenberg-Marquardt shift ``delta = mu * ||F||`` and its ``mu`` schedule;
* :mod:`.forcing` -- forcing terms of inexact Newton (constant, sqrt(residual), Eisenstat-Walker);
* :mod:`.fallback` -- what to do when a step fails (safe steps, denser model) and when to stop.

Sinkhorn-Newton-Sparse (:func:`solvers.sns`) and :func:`solvers.newton` (damped Newton,
Newton-CG, gradient-regularised Newton), :func:`solvers.newton_krylov` and
:func:`solvers.sketched_newton` (equality-constrained, exact augmented Lagrangian) are built
from these parts.
"""
from .damping import MarquardtDamping
from .fallback import FallbackPolicy, StallMonitor
from .forcing import ConstantForcing, EisenstatWalker, SqrtResidualForcing
from .linesearch import LineSearchResult, armijo_backtracking
from .newton import newton
from .newton_krylov import newton_krylov
from .sketched_newton import sketched_newton

__all__ = ["MarquardtDamping", "FallbackPolicy", "StallMonitor", "ConstantForcing", "EisenstatWalker",
           "SqrtResidualForcing", "LineSearchResult", "armijo_backtracking", "newton",
           "newton_krylov", "sketched_newton"]
