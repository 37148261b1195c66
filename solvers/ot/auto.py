"""``method="auto"`` for entropic OT: Sinkhorn or Sinkhorn-Newton-Sparse, chosen by a measured rule.

Sinkhorn needs a number of iterations that grows like ``1 / eps`` (relative to the cost
range ``C.max() - C.min()``); each costs two matrix-vector products with the stabilised
kernel (:mod:`solvers.ot._scaling`). SNS needs a few dozen Newton steps almost independently
of eps; each costs several passes over the cost matrix with exponentials plus a sparse
solve. Both costs grow like ``n m``, so the cross-over is a value of the *relative*
regularisation ``eps_rel = eps / (C.max() - C.min())``:

    eps_rel >= EPS_REL_SINKHORN  ->  solvers.sinkhorn
    otherwise                    ->  solvers.sns

Measured (``benchmarks/ot_sns.py --auto-rule``; n random points in [0, 1]^2 on each side,
squared Euclidean cost scaled to max 1, uniform weights, L1 marginal error 1e-8, Numba
backend, one thread, process CPU time; a quick, noisy run on a shared 2-core machine,
``benchmarks/results/ot_sns_auto_rule_quick.json``), time of Sinkhorn / time of SNS:

    ========  ======  ======  ======  ======  ======
    eps_rel   1e-2    5e-3    3e-3    2e-3    1e-3
    n = 300   0.17    0.28    0.48    0.81    1.96
    n = 1000  0.14    0.19    0.42    0.65    1.88
    ========  ======  ======  ======  ======  ======

The ratio grows like ``1 / eps`` and hardly depends on n (both costs scale like ``n m``);
it crosses 1 near ``eps_rel = 1.4e-3`` at both sizes, so the switch is set at
``EPS_REL_SINKHORN = 1.5e-3``: on either side of it the chosen routine is within about
1.2x of the other one, and away from it the gain is large (Sinkhorn 5-7x faster at 1e-2,
SNS 2x at 1e-3 and more below: Sinkhorn's iterations grow like ``1 / eps``). A looser
tolerance favours Sinkhorn (its iterations grow like ``log(1/tol)``, SNS's stay few), which
the rule ignores: it was measured at 1e-8.

References
----------
M. Cuturi, "Sinkhorn distances", NeurIPS 2013.
X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao, L. Ying,
"Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backends as _backends
from . import _common

#: relative regularisation at and above which Sinkhorn is chosen (module notes: measured)
EPS_REL_SINKHORN = 1.5e-3


def choose(eps: float, cost_range: float) -> tuple:
    """The routine the rule picks for ``eps`` and ``C.max() - C.min()``: ``(name, reason)``."""
    if not cost_range > 0 or not math.isfinite(cost_range):
        return "sinkhorn", "constant cost matrix: every plan has the same cost, Sinkhorn converges at once"
    rel = eps / cost_range
    if rel >= EPS_REL_SINKHORN:
        return "sinkhorn", (f"eps / (C.max() - C.min()) = {rel:.3g} >= {EPS_REL_SINKHORN:g}: Sinkhorn needs few "
                            "iterations and each is two kernel products")
    return "sns", (f"eps / (C.max() - C.min()) = {rel:.3g} < {EPS_REL_SINKHORN:g}: Sinkhorn would need "
                   "~1/eps iterations; the Newton stage of SNS needs a few dozen")


def _cost_range(data, backend) -> float:
    C = data.C if hasattr(data, "C") else data
    be = _backends.get_backend(backend, C)
    try:
        xp_C = be.asarray(C)
        return float(xp_C.max()) - float(xp_C.min())
    except (TypeError, ValueError):
        return math.nan


def auto(data, a=None, b=None, *, eps: float | None = None, tol: float = 1e-9, maxiter: int | None = None, f0=None,
         g0=None, callback=None, backend=None, **options):
    """Solve entropic OT with :func:`solvers.sinkhorn` or :func:`solvers.sns`, picked by the
    measured rule of the module notes.

    Parameters
    ----------
    data : problems.ot.EntropicOT or (n, m) array
        A problem (anything with ``C``, ``a``, ``b``, ``eps``) or the cost matrix, POT style:
        ``auto(C, a, b, eps=1e-3)``.
    a, b : arrays, optional
        Only with a cost matrix: the weights (uniform when None).
    eps : float
        Only with a cost matrix: the regularisation, > 0.
    tol : float
        L1 marginal error to reach (as for both routines).
    maxiter, f0, g0, callback
        As for both routines (``maxiter`` counts the chosen routine's iterations).
    backend : str or Backend, optional
    **options
        Passed on to the chosen routine (options it does not have raise its TypeError).

    Returns
    -------
    SolveResult
        The chosen routine's result; ``stats["auto_choice"]`` is ``"sinkhorn"`` or ``"sns"``,
        ``stats["auto_reason"]`` the rule's reason (with the value of ``eps / (C.max() -
        C.min())``), ``method`` the chosen routine's name.
    """
    from .sinkhorn import sinkhorn
    from .sns import sns

    pre_eps = getattr(data, "eps", None) if hasattr(data, "C") else eps
    if pre_eps is None:
        raise TypeError("auto(C, a, b, eps=...): eps is required with a cost matrix")
    e = _common.positive_eps(pre_eps, " (problem.eps)" if hasattr(data, "C") else "")
    rng = _cost_range(data, backend)
    if not math.isfinite(rng) and not np.isnan(rng):
        rng = math.inf
    name, reason = choose(e, rng) if not math.isnan(rng) else ("sns", "cost range unknown")
    routine = sinkhorn if name == "sinkhorn" else sns
    res = routine(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=f0, g0=g0, callback=callback, backend=backend,
                  **options)
    res.stats["auto_choice"] = name
    res.stats["auto_reason"] = reason
    res.stats["auto_eps_rel"] = e / rng if rng and math.isfinite(rng) else math.nan
    return res
