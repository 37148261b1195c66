"""What a safeguarded Newton method does when a step fails, and when it gives up.

:class:`FallbackPolicy` holds the rules applied when the line search finds no acceptable
step (or the direction is unusable): take ``n_steps`` steps of a slow but safe method
(Sinkhorn for OT, gradient steps elsewhere), make the Hessian model *denser* -- a truncated
Hessian keeps more entries: its relative threshold ``rho`` is lowered and its per-row cap
``kmax`` raised -- and count what happened. The damping factor is raised by the
:class:`~solvers.nonlinear.damping.MarquardtDamping` object (``step_failed``). The same
densification is used when full steps make only linear progress (the truncated Hessian is
too crude to give the Newton rate).

:class:`StallMonitor` ends a run that keeps taking steps without improving its best residual
(the floating-point floor of the problem).

References
----------
X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao and L. Ying,
"Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024 (Sinkhorn steps as
the safe method, sparsified Hessian).
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, Section 3.4
(safeguards when a Newton direction is unusable).
"""
from __future__ import annotations

import math


class FallbackPolicy:
    """Rules and counters for failed Newton steps.

    Parameters
    ----------
    n_steps : int
        Safe steps to take after a failed step (>= 1).
    rho_factor, rho_min : float
        A denser model multiplies the truncation threshold by ``rho_factor`` (in (0, 1)),
        never going below ``rho_min``.
    kmax_factor : int
        ... and multiplies the per-row cap by ``kmax_factor`` (>= 2), up to the row length.

    Attributes
    ----------
    failures : int
        Failed steps handled by :meth:`step_failed`.
    densified : int
        Densifications asked for by :meth:`denser` outside a failure.
    """

    def __init__(self, n_steps: int = 10, *, rho_factor: float = 1e-2, rho_min: float = 1e-300, kmax_factor: int = 2):
        if int(n_steps) != n_steps or n_steps < 1:
            raise ValueError(f"n_steps must be an integer >= 1, got {n_steps!r}")
        if not (0 < rho_factor < 1 and rho_min > 0 and kmax_factor >= 2):
            raise ValueError("need 0 < rho_factor < 1, rho_min > 0 and kmax_factor >= 2")
        self.n_steps = int(n_steps)
        self.rho_factor, self.rho_min, self.kmax_factor = rho_factor, rho_min, int(kmax_factor)
        self.failures = 0
        self.densified = 0

    def denser_model(self, rho: float, kmax: int, limit: int) -> tuple:
        """``(rho, kmax)`` of the next denser truncation (``kmax <= limit``, the row length)."""
        return max(rho * self.rho_factor, self.rho_min), min(self.kmax_factor * kmax, limit)

    def denser(self, rho: float, kmax: int, limit: int) -> tuple:
        """A densification asked for by the method (e.g. slow full steps): counted in ``densified``."""
        self.densified += 1
        return self.denser_model(rho, kmax, limit)

    def step_failed(self, rho: float, kmax: int, limit: int) -> tuple:
        """Count a failure; returns the denser ``(rho, kmax)`` to continue with (the caller then
        takes :attr:`n_steps` safe steps)."""
        self.failures += 1
        return self.denser_model(rho, kmax, limit)


class StallMonitor:
    """Counts accepted steps since the best residual last improved.

    Parameters
    ----------
    patience : int
        :attr:`stalled` once this many accepted steps brought no new best residual.
    """

    def __init__(self, patience: int = 30):
        if int(patience) != patience or patience < 1:
            raise ValueError(f"patience must be an integer >= 1, got {patience!r}")
        self.patience = int(patience)
        self.best = math.inf
        self.count = 0

    def update(self, residual: float) -> None:
        """Record the residual of the iterate a step was accepted from."""
        if residual < self.best:
            self.best, self.count = residual, 0
        else:
            self.count += 1

    @property
    def stalled(self) -> bool:
        return self.count >= self.patience
