"""Backtracking line search with the Armijo sufficient-decrease condition, on ``phi(alpha)`` only.

Given a merit function along a search direction, ``phi(alpha) = F(x + alpha d)``, its value
``phi0 = phi(0)`` and slope ``dphi0 = phi'(0) < 0`` (a descent direction), the search tries
``alpha = alpha0, alpha0 * shrink, alpha0 * shrink**2, ...`` and accepts the first step with

    phi(alpha) <= phi0 + c1 * alpha * dphi0          (Armijo, sufficient decrease).

It knows nothing about ``x`` or ``d`` (SciPy's ``scalar_search_armijo`` has the same shape),
so any Newton-type method can use it; whatever the caller needs from an accepted trial
(the new point, quantities computed on the way) it keeps itself, e.g. in the object whose
``__call__`` is ``phi``.

Near a solution the decrease ``phi0 - phi(alpha)`` falls below the rounding error of ``phi``
and the Armijo test becomes a coin toss. The optional *noise hook* handles that case: when
the test fails but ``|phi(alpha) - phi0| <= noise + c1 * alpha * |dphi0|`` (the change is at the
noise level), ``noise_test(alpha)`` decides -- typically by a second measure of progress
that does not cancel, such as a residual norm (in the spirit of PETSc's line-search
post-check hooks).

References
----------
L. Armijo, "Minimization of functions having Lipschitz continuous first partial derivatives",
Pacific J. Math. 16 (1966) 1-3.
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, Algorithm 3.1.
J. E. Dennis and R. B. Schnabel, *Numerical Methods for Unconstrained Optimization and
Nonlinear Equations*, SIAM 1996, Section 6.3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class LineSearchResult:
    """Outcome of :func:`armijo_backtracking`.

    Attributes
    ----------
    accepted : bool
        A step was accepted.
    alpha : float
        The accepted step (on failure: the last step tried, times ``shrink``).
    value : float
        ``phi(alpha)`` of the last trial (``nan`` when no trial was made).
    evals : int
        Number of ``phi`` evaluations.
    by_noise : bool
        Accepted by the noise hook rather than by the Armijo test.
    """

    accepted: bool
    alpha: float
    value: float
    evals: int
    by_noise: bool = False


def armijo_backtracking(phi: Callable[[float], float], phi0: float, dphi0: float, *, alpha0: float = 1.0,
                        c1: float = 1e-4, shrink: float = 0.5, max_evals: int = 40, step_norm: float = 0.0,
                        xtol: float = 0.0, noise: float = 0.0,
                        noise_test: Optional[Callable[[float], bool]] = None,
                        trust_noise: bool = True) -> LineSearchResult:
    """Backtrack from ``alpha0`` until the Armijo condition holds.

    Parameters
    ----------
    phi : callable
        ``phi(alpha) -> float``. A non-finite value counts as a failed trial.
    phi0, dphi0 : float
        ``phi(0)`` and ``phi'(0)``; ``dphi0`` must be negative.
    alpha0 : float
        First step (1 for Newton directions).
    c1 : float
        Sufficient-decrease constant in (0, 1).
    shrink : float
        Factor in (0, 1) applied after a rejected trial.
    max_evals : int
        Most ``phi`` evaluations.
    step_norm, xtol : float
        Stop (unaccepted) once ``alpha * step_norm < xtol``: the step no longer moves the
        iterate (e.g. ``step_norm = max|d|``, ``xtol = 1e-15 * max|x|``). The defaults
        never stop early.
    noise : float
        Rounding level of ``phi`` for the noise hook.
    noise_test : callable, optional
        ``noise_test(alpha) -> bool``, asked only when the Armijo test fails at a finite
        ``phi(alpha)`` within the noise level of ``phi0``; True accepts the step.
    trust_noise : bool
        ``True`` (default): any trial that passes the Armijo test is accepted. ``False`` (with
        ``noise_test``): a trial whose change ``|phi(alpha) - phi0|`` is within ``noise`` is
        accepted only by ``noise_test``, also when it passes the Armijo test -- a decrease of
        ``phi`` at its rounding level is noise and can come with a far worse iterate.

    Returns
    -------
    LineSearchResult
    """
    if not dphi0 < 0:
        raise ValueError(f"dphi0 must be negative (a descent direction), got {dphi0!r}")
    if not (0 < c1 < 1 and 0 < shrink < 1) or max_evals < 1:
        raise ValueError(f"need 0 < c1 < 1, 0 < shrink < 1, max_evals >= 1; got c1={c1}, shrink={shrink}, "
                         f"max_evals={max_evals}")
    alpha, value = alpha0, math.nan
    for k in range(1, max_evals + 1):
        value = phi(alpha)
        if math.isfinite(value):
            within = abs(value - phi0) <= noise + c1 * alpha * abs(dphi0)
            if value <= phi0 + c1 * alpha * dphi0 and (trust_noise or noise_test is None or not within):
                return LineSearchResult(True, alpha, value, k)
            if noise_test is not None and within and noise_test(alpha):
                return LineSearchResult(True, alpha, value, k, by_noise=True)
        alpha *= shrink
        if alpha * step_norm < xtol:
            break
    return LineSearchResult(False, alpha, value, k)
