"""The screened kernels, Slater ``exp(-alpha |x|)`` and Yukawa ``exp(-kappa |x|)/|x|``, as sums of Gaussians.

Both have an integral representation over Gaussians with the substitution ``t = e^s``,
``p(r) = int_R w(s) exp(-e^{2s} r^2) ds``, whose integrand decays doubly exponentially at both
ends; :func:`_exp_rule` applies the trapezoidal (sinc) rule to it with the node range and step
chosen to meet a relative tolerance on ``[r_min, r_max]`` (Hackbusch and Khoromskij, Computing 76
(2006) 177-202; Benner, Khoromskaia and Khoromskij, SIAM J. Sci. Comput. 40 (2018) A1034-A1062).
The weights ``w(s)`` are the picklable classes :class:`_SlaterWeight` and :class:`_YukawaWeight`.

:func:`slater_kernel` and :func:`yukawa_kernel` are public as
:func:`problems.potentials.slater_kernel` / :func:`problems.potentials.yukawa_kernel` and are
re-exported by :mod:`problems.potentials.kernels` (where they lived before); the Newton kernel,
:class:`~problems.potentials.kernels.GaussianSum` and the range checks shared with it stay there.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from .kernels import _MAX_TERMS, _NCHECK, GaussianSum, _check_range, _rel_error


# ------------------------------------------------------------------------------ generic exp-substitution rule
def _exp_rule(weight, exact_fn, tol, r_min, r_max, kind, params) -> GaussianSum:
    """Trapezoidal rule for ``p(r) = int_R weight(s) exp(-e^{2s} r^2) ds`` (so ``t = e^s``).

    The node range keeps every ``s`` whose integrand reaches ``tol/50`` of ``p(r)`` for
    some ``r`` in the range; ``h`` descends on a 3 % ladder until the rule meets ``tol``;
    terms below the tolerance's need are then dropped from both ends.
    """
    r = np.geomspace(r_min, r_max, _NCHECK)
    rs = np.geomspace(r_min, r_max, 200)
    exact = exact_fn(r)
    s = np.linspace(-60.0, 60.0, 12001)
    with np.errstate(over="ignore", under="ignore"):
        log_g = np.log(np.maximum(weight(s), 1e-300))[:, None] - np.outer(np.exp(2 * s), rs * rs)
    rel = np.max(log_g - np.log(exact_fn(rs))[None, :], axis=1)   # log of the relative integrand size
    keep = np.nonzero(rel > math.log(tol / 50.0))[0]
    s_lo, s_hi = s[keep[0]], s[keep[-1]]
    h = 1.0
    while h > 1e-3:
        n = int(math.ceil((s_hi - s_lo) / h)) + 1
        if n > _MAX_TERMS:
            break
        sk = s_lo + h * np.arange(n)
        c, t = h * weight(sk), np.exp(sk)
        err = _rel_error(c, t, r, exact)
        if err <= tol:
            for end in (-1, 0):       # trim the narrowest, then the widest terms
                while c.size > 1:
                    sl = slice(None, -1) if end == -1 else slice(1, None)
                    e2 = _rel_error(c[sl], t[sl], r, exact)
                    if e2 > tol:
                        break
                    c, t, err = c[sl], t[sl], e2
            return GaussianSum(c, t, kind=kind, tol=tol, r_min=r_min, r_max=r_max, error=err, params=params)
        h *= 0.97
    raise RuntimeError(f"{kind}: no quadrature with at most {_MAX_TERMS} terms met tol={tol:g} on "
                       f"[{r_min:g}, {r_max:g}]; loosen tol or narrow the range")  # pragma: no cover


class _SlaterWeight:
    """``exp(-a r) = int_R (a/sqrt(pi)) e^{-s} exp(-a^2 e^{-2s}/4) exp(-e^{2s} r^2) ds`` (picklable)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def __call__(self, s):
        a = self.alpha
        with np.errstate(over="ignore", under="ignore"):
            return (a / math.sqrt(math.pi)) * np.exp(-s - 0.25 * a * a * np.exp(-2.0 * s))

    def exact(self, r):
        return np.exp(-self.alpha * r)


class _YukawaWeight:
    """``exp(-k r)/r = int_R (2/sqrt(pi)) exp(s - k^2 e^{-2s}/4) exp(-e^{2s} r^2) ds``."""

    def __init__(self, kappa):
        self.kappa = kappa

    def __call__(self, s):
        k = self.kappa
        with np.errstate(over="ignore", under="ignore"):
            return (2.0 / math.sqrt(math.pi)) * np.exp(s - 0.25 * k * k * np.exp(-2.0 * s))

    def exact(self, r):
        return np.exp(-self.kappa * r) / r


def slater_kernel(alpha: float = 1.0, tol: float = 1e-7, r_min: float = 1e-3, r_max: float = 1.0) -> GaussianSum:
    """The Slater kernel ``exp(-alpha |x|)`` as a sum of Gaussians, relative accuracy ``tol`` on ``[r_min, r_max]``.

    Uses the subordination (Laplace-transform) identity
    ``exp(-a r) = (a / (2 sqrt(pi))) int_0^inf u^{-3/2} exp(-a^2/(4u)) exp(-u r^2) du``
    with ``u = e^{2s}`` and the trapezoidal rule in ``s`` (the integrand decays doubly
    exponentially at both ends), see Hackbusch and Khoromskij (Computing 2006) and Benner,
    Khoromskaia and Khoromskij (SIAM J. Sci. Comput. 2018) for sinc quadratures of radial
    kernels; ``h`` and the node range are chosen as in :func:`newton_kernel`.

    Parameters
    ----------
    alpha : float, default 1.0
        Decay rate (> 0).
    tol, r_min, r_max : float
        As in :func:`newton_kernel`; ``alpha * r_max`` must stay below 600 (the kernel
        underflows beyond).
    """
    alpha = _checks.real_scalar("alpha", alpha, positive=True)
    tol, r_min, r_max = _check_range(tol, r_min, r_max)
    if alpha * r_max > 600 or alpha * r_min < 1e-12:
        raise ValueError(f"alpha * r must stay within [1e-12, 600] on the range, got alpha={alpha:g}, "
                         f"r in [{r_min:g}, {r_max:g}]; rescale alpha or the range")
    w = _SlaterWeight(alpha)
    return _exp_rule(w, w.exact, tol, r_min, r_max, "slater", {"alpha": alpha})


def yukawa_kernel(kappa: float = 1.0, tol: float = 1e-7, r_min: float = 1e-3, r_max: float = 1.0) -> GaussianSum:
    """The Yukawa kernel ``exp(-kappa |x|)/|x|`` as a sum of Gaussians, relative accuracy ``tol``.

    Uses ``exp(-k r)/r = (2/sqrt(pi)) int_0^inf exp(-r^2 t^2 - k^2/(4 t^2)) dt`` with
    ``t = e^s`` and the trapezoidal rule in ``s`` (for ``k > 0`` the integrand decays
    doubly exponentially at both ends); ``h`` and the node range are chosen as in
    :func:`newton_kernel`. References: Hackbusch and Khoromskij (Computing 2006); Benner,
    Khoromskaia and Khoromskij (SIAM J. Sci. Comput. 2018).

    Parameters
    ----------
    kappa : float, default 1.0
        Screening parameter (> 0; ``kappa = 0`` is the Newton kernel, use :func:`newton_kernel`).
    tol, r_min, r_max : float
        As in :func:`newton_kernel`; ``kappa * r_max`` must stay below 600.
    """
    kappa = _checks.real_scalar("kappa", kappa, positive=True)
    tol, r_min, r_max = _check_range(tol, r_min, r_max)
    if kappa * r_max > 600:
        raise ValueError(f"kappa * r_max must stay below 600 (the kernel underflows), got {kappa * r_max:g}")
    w = _YukawaWeight(kappa)
    return _exp_rule(w, w.exact, tol, r_min, r_max, "yukawa", {"kappa": kappa})
