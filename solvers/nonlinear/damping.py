"""Levenberg-Marquardt damping: the shift added to a Newton system and how it adapts.

A damped Newton step solves ``(H + delta * D) d = -grad`` with ``D`` the identity
(Levenberg) or the diagonal of ``H`` (Marquardt's scaling, invariant to the scaling of the
variables). Following Yamashita & Fukushima and Fan & Yuan, the shift is tied to the size of
the residual, ``delta = mu * ||F(x)||``: it vanishes as the iteration converges, which keeps
the fast local rate, while far from the solution it regularises a singular or indefinite
``H`` (Tang & Qiu's safe and sparse Newton for entropic OT uses it to remove the null
direction of the OT Hessian). The factor ``mu`` adapts to how the last step went:

* a full step was accepted (``alpha == 1``): the model is good, ``mu /= shrink``;
* a damped step (``alpha < 1``): the model over-reached, ``mu *= grow``;
* the step failed (line search found nothing): ``mu *= fail_grow``;

always kept in ``[mu_min, mu_max]``, and ``delta`` itself in ``[delta_min, delta_max]``.

References
----------
K. Levenberg, "A method for the solution of certain non-linear problems in least squares",
Quart. Appl. Math. 2 (1944) 164-168.
D. W. Marquardt, "An algorithm for least-squares estimation of nonlinear parameters",
J. SIAM 11 (1963) 431-441.
N. Yamashita and M. Fukushima, "On the rate of convergence of the Levenberg-Marquardt method",
Computing Suppl. 15 (2001) 239-249.
J. Fan and Y. Yuan, "On the quadratic convergence of the Levenberg-Marquardt method without
nonsingularity assumption", Computing 74 (2005) 23-39.
X. Tang and Y. Qiu, "Safe and sparse Newton method for entropic-regularized optimal transport",
NeurIPS 2024.
"""
from __future__ import annotations

import math


class MarquardtDamping:
    """The adaptive factor ``mu`` of a residual-scaled Levenberg-Marquardt shift.

    Parameters
    ----------
    mu0 : float
        Initial factor (> 0).
    shrink, grow, fail_grow : float
        ``mu`` is divided by ``shrink`` after a full step, multiplied by ``grow`` after a
        damped one and by ``fail_grow`` after a failure (all > 1).
    mu_min, mu_max : float
        Bounds on ``mu``.
    delta_min, delta_max : float
        Bounds on the shift ``delta = mu * residual``.

    Attributes
    ----------
    mu : float
        The current factor.
    """

    def __init__(self, mu0: float = 1.0, *, shrink: float = 4.0, grow: float = 4.0, fail_grow: float = 10.0,
                 mu_min: float = 1e-6, mu_max: float = 1e6, delta_min: float = 1e-10, delta_max: float = 1e6):
        if not (math.isfinite(mu0) and mu0 > 0):
            raise ValueError(f"mu0 must be positive and finite, got {mu0!r}")
        if not (shrink > 1 and grow > 1 and fail_grow > 1):
            raise ValueError(f"shrink, grow and fail_grow must be > 1, got {shrink}, {grow}, {fail_grow}")
        if not (0 < mu_min <= mu_max and 0 <= delta_min <= delta_max):
            raise ValueError("need 0 < mu_min <= mu_max and 0 <= delta_min <= delta_max")
        self.mu = float(mu0)
        self.shrink, self.grow, self.fail_grow = shrink, grow, fail_grow
        self.mu_min, self.mu_max = mu_min, mu_max
        self.delta_min, self.delta_max = delta_min, delta_max

    def shift(self, residual: float) -> float:
        """``delta = mu * residual``, clipped to ``[delta_min, delta_max]``."""
        return min(max(self.mu * residual, self.delta_min), self.delta_max)

    def step_taken(self, alpha: float) -> float:
        """Update after an accepted step of length ``alpha``; returns the new ``mu``."""
        if alpha == 1.0:
            self.mu = max(self.mu / self.shrink, self.mu_min)
        else:
            self.mu = min(self.mu * self.grow, self.mu_max)
        return self.mu

    def step_failed(self) -> float:
        """Update after a failed step (no acceptable step length); returns the new ``mu``."""
        self.mu = min(self.mu * self.fail_grow, self.mu_max)
        return self.mu

    def __repr__(self) -> str:
        return f"MarquardtDamping(mu={self.mu:g})"
