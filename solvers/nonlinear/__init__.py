"""Shared machinery of Newton-type methods, one idea per module.

* :mod:`.linesearch` -- Armijo backtracking on ``phi(alpha)`` with an optional noise-level hook;
* :mod:`.damping` -- Levenberg-Marquardt shift ``delta = mu * ||F||`` and its ``mu`` schedule;
* :mod:`.forcing` -- forcing terms of inexact Newton (constant, sqrt(residual), Eisenstat-Walker);
* :mod:`.fallback` -- what to do when a step fails (safe steps, denser model) and when to stop.

Sinkhorn-Newton-Sparse (:func:`solvers.sns`) and :func:`solvers.newton` (damped Newton,
Newton-CG, gradient-regularised Newton) and :func:`solvers.newton_krylov` are built from these
parts; sketched Newton will use the same ones.
"""
from .damping import MarquardtDamping
from .fallback import FallbackPolicy, StallMonitor
from .forcing import ConstantForcing, EisenstatWalker, SqrtResidualForcing
from .linesearch import LineSearchResult, armijo_backtracking
from .newton import newton
from .newton_krylov import newton_krylov

__all__ = ["MarquardtDamping", "FallbackPolicy", "StallMonitor", "ConstantForcing", "EisenstatWalker",
           "SqrtResidualForcing", "LineSearchResult", "armijo_backtracking", "newton",
           "newton_krylov"]
