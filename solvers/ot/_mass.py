"""Unit mass for the entropic OT solvers: the solvers' thresholds are absolute, so they solve for ``a / mass``,
``b / mass`` (:func:`unit_mass`), and the user's callback sees the problem as posed (:class:`MassCallback`)."""
from __future__ import annotations

import math

from ._common import expand


#: ``|sum(a) - sum(b)|`` up to this times the mass is summation rounding, not a mismatch of the weights
MASS_ROUNDING = 1e-13
#: largest size of ``eps * |log(weight)|`` accepted (the potentials hold terms of that size; float64 ends at
#: 1.8e308)
POTENTIAL_MAX = 1e308


def eps_overflow(eps: float, wmin: float) -> float:
    """``eps * max(|log(wmin)|, 1)`` (the size of the potentials' terms ``eps log(weight)``, ``wmin`` the
    smallest unit-mass weight) where it exceeds :data:`POTENTIAL_MAX`, else 0."""
    size = eps * max(abs(math.log(wmin)), 1.0)
    return size if not size <= POTENTIAL_MAX else 0.0


# unit mass: the solvers' thresholds are absolute, so they solve for a / mass, b / mass
def unit_mass(inputs, tol: float) -> tuple:
    """``(a / mass, b / mass, tol / mass, mass, eps log mass)`` of validated inputs (the arrays
    themselves when ``mass = sum(a)`` is 1). The potentials of the unit-mass problem give those
    of the problem as posed by ``f + eps log mass`` (the plan scales with the mass)."""
    xp = inputs.be.xp
    mass, mass_b = float(xp.sum(inputs.a)), float(xp.sum(inputs.b))
    gap = abs(mass - mass_b)
    if gap > tol and gap > MASS_ROUNDING * mass:
        raise ValueError(f"tol={tol:.3g} is below |sum(a) - sum(b)| = {gap:.3g}: the L1 marginal error of any plan is at "
                         "least that, so no solver can reach tol; rescale one weight vector onto the other in float64 "
                         "(b = b * (a.sum() / b.sum())) or raise tol")
    big = eps_overflow(inputs.eps, min(float(xp.min(inputs.a)), float(xp.min(inputs.b))) / mass)
    if big:
        raise ValueError(f"eps={inputs.eps:.3g} is too large for double precision: the potentials are of size eps * "
                         f"|log(weight)| (up to {big:.3g}) and overflow; divide C and eps by a common factor")
    if mass == 1.0:
        return inputs.a, inputs.b, tol, 1.0, 0.0
    return inputs.a / mass, inputs.b / mass, tol / mass, mass, inputs.eps * math.log(mass)


class MassCallback:
    """The user's callback (a :class:`solvers.results.Callback`), given the potentials and errors
    of the problem as posed while a solve runs on unit mass: ``f + eps log(mass)`` (``eps`` the
    current stage's, from the ``eps`` field; ``shift``, the final one's, without it) and ``err * mass``;
    with zero weights, at full size (``-inf`` off the support, as the result's: the callback's ``f`` had the
    support's size and could not be passed back as ``f0``)."""

    def __init__(self, fn, shift: float, mass: float, xp, inputs=None):
        from ..results import Callback

        self.cb, self.shift, self.mass, self.xp = Callback(fn), shift, mass, xp
        self.full = None if inputs is None or inputs.support is None else (inputs.be, inputs.support, inputs.shape)
        self.log_mass = math.log(mass) if mass > 0 else 0.0
        # the first row reported: 1 (after each iteration, not at the starting point), or 0 for a run that
        # continues another one's count (``fn.continues``: SNS after auto's Sinkhorn part, whose hand-off
        # iterate is SNS's row 0)
        self.first = 0 if getattr(fn, "continues", False) else 1

    def __bool__(self) -> bool:
        return bool(self.cb)

    def __call__(self, x, nit: int, **fields) -> bool:
        if not self.cb or (self.mass == 1.0 and self.full is None):
            return self.cb(x, nit, **fields)
        if self.mass != 1.0:
            eps = fields.get("eps")
            fields.update(f=fields["f"] + (self.shift if eps is None else eps * self.log_mass),
                          marginal_error=fields["marginal_error"] * self.mass)
        if self.full is not None:
            be, (ia, ib), (n, m) = self.full
            fields.update(f=expand(be, fields["f"], ia, n), g=expand(be, fields["g"], ib, m))
        return self.cb(self.xp.concatenate([fields["f"], fields["g"]]), nit, **fields)
