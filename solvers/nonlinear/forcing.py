"""Forcing terms of inexact Newton methods: how accurately to solve each Newton system.

An inexact Newton step ``s_k`` only satisfies ``||F(x_k) + J(x_k) s_k|| <= eta_k ||F(x_k)||``;
the *forcing term* ``eta_k`` is the relative tolerance handed to the inner (Krylov) solver.
Dembo, Eisenstat & Steihaug show: ``eta_k <= eta < 1`` gives local linear convergence,
``eta_k -> 0`` superlinear, ``eta_k = O(||F(x_k)||^p)`` convergence of order ``1 + p``.
A rule is an object called with the current residual norm; rules that look back at the last
step are told its linear residual by :meth:`observe`.

* :class:`ConstantForcing` -- ``eta_k = eta``;
* :class:`SqrtResidualForcing` -- ``eta_k = min(eta_max, max(sqrt(||F_k||), eta_min))``, order
  1.5 (what Sinkhorn-Newton-Sparse uses);
* :class:`EisenstatWalker` -- the two adaptive choices of Eisenstat & Walker (1996), with
  their safeguards against ``eta_k`` dropping too fast.

References
----------
R. S. Dembo, S. C. Eisenstat and T. Steihaug, "Inexact Newton methods", SIAM J. Numer. Anal.
19 (1982) 400-408.
S. C. Eisenstat and H. F. Walker, "Choosing the forcing terms in an inexact Newton method",
SIAM J. Sci. Comput. 17 (1996) 16-32.
C. T. Kelley, *Iterative Methods for Linear and Nonlinear Equations*, SIAM 1995, Section 6.3.
"""
from __future__ import annotations

import copy
import numbers

import math

#: exponent of the Choice 1 safeguard, (1 + sqrt 5) / 2
GOLDEN = (1.0 + math.sqrt(5.0)) / 2.0


def fresh(rule):
    """A user's forcing rule object for one solve: a copy (a rule passed to several solves starts each one afresh:
    EisenstatWalker kept its last eta and ||F|| between solves, so a second identical solve started at eta = 0.9
    and took another Newton step; the object itself when it cannot be copied) whose terms are checked
    (:class:`_Checked`)."""
    try:
        rule = copy.deepcopy(rule)
    except Exception:  # noqa: BLE001 - an uncopyable user object: used as it is, as before
        pass
    return _Checked(rule)


class _Checked:
    """A user's forcing rule whose ``eta_k`` must be a real number in [0, 1): 1 or more was reported as a singular
    Jacobian, a negative or NaN one as an inner solver rejecting jac or M, None or an array as a raw float()
    error (helper-142); now a ValueError naming forcing."""

    def __init__(self, rule):
        self.rule = rule

    def __call__(self, fnorm: float) -> float:
        eta = self.rule(fnorm)
        ok = isinstance(eta, numbers.Real) and not isinstance(eta, bool) and 0.0 <= float(eta) < 1.0
        if not ok:
            raise ValueError(f"forcing: the rule {type(self.rule).__name__} returned eta = {eta!r:.60}; a forcing "
                             "term must be a real number in [0, 1) (the inner solve's relative tolerance)")
        return float(eta)

    def observe(self, linear_residual: float) -> None:
        self.rule.observe(linear_residual)


class ConstantForcing:
    """``eta_k = eta`` for every k."""

    def __init__(self, eta: float = 1e-2):
        if not 0 < eta < 1:
            raise ValueError(f"eta must be in (0, 1), got {eta!r}")
        self.eta = float(eta)

    def __call__(self, fnorm: float) -> float:
        return self.eta

    def observe(self, linear_residual: float) -> None:
        """Nothing to remember."""


class SqrtResidualForcing:
    """``eta_k = min(eta_max, max(sqrt(||F_k||), eta_min))``: q-order 1.5 near the solution.

    Parameters
    ----------
    eta_max : float
        Cap (the tolerance far from the solution).
    eta_min : float
        Floor (no point asking the inner solver for more than rounding allows).
    """

    def __init__(self, eta_max: float = 1e-2, eta_min: float = 1e-12):
        if not 0 < eta_min <= eta_max < 1:
            raise ValueError(f"need 0 < eta_min <= eta_max < 1, got {eta_min!r}, {eta_max!r}")
        self.eta_max, self.eta_min = float(eta_max), float(eta_min)

    def __call__(self, fnorm: float) -> float:
        return min(self.eta_max, max(math.sqrt(fnorm), self.eta_min))

    def observe(self, linear_residual: float) -> None:
        """Nothing to remember."""


class EisenstatWalker:
    """Eisenstat & Walker's adaptive forcing terms.

    Choice 1: ``eta_k = | ||F_k|| - ||F_{k-1} + J_{k-1} s_{k-1}|| | / ||F_{k-1}||`` (how well the
    linear model predicted the new residual), safeguarded by
    ``eta_k = max(eta_k, eta_{k-1}**GOLDEN)`` when ``eta_{k-1}**GOLDEN > 0.1``.

    Choice 2: ``eta_k = gamma * (||F_k|| / ||F_{k-1}||)**alpha``, safeguarded by
    ``eta_k = max(eta_k, gamma * eta_{k-1}**alpha)`` when ``gamma * eta_{k-1}**alpha > 0.1``.

    The first call returns ``eta0``; every value is clipped to ``[eta_min, eta_max]``.

    Parameters
    ----------
    choice : {1, 2}
    eta0 : float
        Forcing term of the first step.
    eta_max, eta_min : float
        Bounds (``eta_max < 1`` keeps convergence; a floor avoids over-solving).
    gamma, alpha : float
        Parameters of Choice 2, ``gamma`` in (0, 1], ``alpha`` in (1, 2]. The paper's
        experiments use ``gamma = 0.9``, ``alpha = 2``.
    """

    def __init__(self, choice: int = 2, *, eta0: float = 0.5, eta_max: float = 0.9, eta_min: float = 0.0,
                 gamma: float = 0.9, alpha: float = 2.0):
        if choice not in (1, 2):
            raise ValueError(f"choice must be 1 or 2, got {choice!r}")
        if not (0 <= eta_min <= eta0 <= eta_max < 1):
            raise ValueError(f"need 0 <= eta_min <= eta0 <= eta_max < 1, got {eta_min}, {eta0}, {eta_max}")
        if not (0 < gamma <= 1 and 1 < alpha <= 2):
            raise ValueError(f"need 0 < gamma <= 1 and 1 < alpha <= 2, got gamma={gamma}, alpha={alpha}")
        self.choice, self.eta0, self.eta_max, self.eta_min = choice, eta0, eta_max, eta_min
        self.gamma, self.alpha = gamma, alpha
        self.prev_fnorm = None
        self.prev_eta = None
        self.prev_linres = None

    def __call__(self, fnorm: float) -> float:
        """The forcing term for the step from the iterate with residual norm ``fnorm``."""
        if self.prev_fnorm is None or self.prev_fnorm == 0:
            eta = self.eta0
        elif self.choice == 1:
            if self.prev_linres is None:
                raise RuntimeError("EisenstatWalker(choice=1): call observe(linear_residual) after each step")
            eta = abs(fnorm - self.prev_linres) / self.prev_fnorm
            guard = self.prev_eta ** GOLDEN
            if guard > 0.1:
                eta = max(eta, guard)
        else:
            # (the ratio capped: a residual grown 1e154-fold in one step overflowed the power, an OverflowError
            # out of newton-cg on an unbounded objective; helper-153. eta is capped at eta_max below anyway)
            eta = self.gamma * min(fnorm / self.prev_fnorm, 1e100) ** self.alpha
            guard = self.gamma * self.prev_eta ** self.alpha
            if guard > 0.1:
                eta = max(eta, guard)
        eta = min(max(eta, self.eta_min), self.eta_max)
        self.prev_fnorm, self.prev_eta, self.prev_linres = fnorm, eta, None
        return eta

    def observe(self, linear_residual: float) -> None:
        """``||F_k + J_k s_k||`` of the step just computed (Choice 1 needs it)."""
        self.prev_linres = float(linear_residual)
