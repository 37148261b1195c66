"""Options of the OT solvers: validated once at the boundary, then frozen.

Every check names the option and says what is allowed; numbers must be real (``True`` is not
a tolerance) and counts must be integers. :func:`eps_stages` builds the eps-continuation
schedules and refuses factors so close to 1 that the number of stages explodes.
"""
from __future__ import annotations

import math
import numbers
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .._scalar import unwrap

#: most eps stages a continuation may have (a factor near 1 would otherwise run forever)
MAX_STAGES = 200


def real(name: str, v, *, low: float = 0.0, high: float = math.inf, low_open: bool = True,
         high_open: bool = True) -> float:
    """``v`` as a float in the interval (low, high) (ends open or closed as asked), else an error."""
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    v = float(v)
    ok_low = v > low if low_open else v >= low
    ok_high = v < high if high_open else v <= high
    if math.isnan(v) or not (ok_low and ok_high) or (high == math.inf and not math.isfinite(v)):
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {v!r}")
    return v


def integer(name: str, v, *, low: int = 0, allow_none: bool = False):
    """``v`` as an int ``>= low`` (or None when allowed), else an error naming the option."""
    if v is None and allow_none:
        return None
    v = unwrap(v)
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}{' or None' if allow_none else ''}, got {v!r}")
    if v < low:
        raise ValueError(f"{name} must be >= {low}, got {v!r}")
    return int(v)


def scaling_factor(name: str, v, allow_auto: bool = False):
    """An eps-scaling factor in (0, 1), None (no continuation) or ``"auto"`` where allowed."""
    if v is None or (allow_auto and isinstance(v, str) and v == "auto"):
        return v
    if isinstance(v, str):
        allowed = "a factor in (0, 1), 'auto' or None" if allow_auto else "a factor in (0, 1) or None"
        raise ValueError(f"{name} must be {allowed}, got {v!r}")
    return real(name, v, low=0.0, high=1.0)


def choice(name: str, v, allowed: tuple):
    """``v`` if it is one of the strings ``allowed``, else an error naming the option."""
    if not isinstance(v, str) or v not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(x) for x in allowed)}, got {v!r}")
    return v


def flag(name: str, v) -> bool:
    if not isinstance(v, (bool, np.bool_)):       # (numpy.True_ was refused, as plan(dense=) takes it: helper-138)
        raise TypeError(f"{name} must be True or False, got {v!r}")
    return bool(v)


def cost_range(geom) -> float:
    """``C.max() - C.min()`` of a geometry, without overflow (at most the largest double)."""
    lo, hi = geom.cost_bounds()
    return min(hi - lo, sys.float_info.max)          # Python floats: an overflowing difference is inf


#: entries of C sampled (evenly strided) by :func:`schedule_range`, and the jump between consecutive sorted
#: entries that separates a cluster of forbidden-pair costs from the rest
RANGE_SAMPLE = 1 << 14
RANGE_GAP = 1e4


def schedule_range(geom) -> float:
    """The cost range the automatic SNS continuation starts from: ``C.max() - C.min()``, unless the costs
    fall into a low cluster and a cluster at least :data:`RANGE_GAP` times higher (forbidden pairs given a
    huge finite cost, as :class:`problems.ot.EntropicOT` advises instead of inf); then the top of the low
    cluster, read from an evenly strided sample of :data:`RANGE_SAMPLE` entries. Such entries never carry
    mass, and a schedule from 1e-3 times them (eps = 1e17 for a cost of 1e20) spent the whole budget on
    about 20 meaningless stages (L1 error 270 where Sinkhorn converged)."""
    lo, hi = geom.cost_bounds()
    full = min(hi - lo, sys.float_info.max)                            # cost_range, with its min kept
    C = geom.C.reshape(-1)
    step = max(1, C.shape[0] // RANGE_SAMPLE)
    with np.errstate(over="ignore", invalid="ignore"):                # costs near +-1.8e308: inf differences
        s = np.sort(np.asarray(geom.be.to_numpy(C[::step]), dtype=np.float64)) - lo
        s = s[(s > 0) & np.isfinite(s)]
        if s.size < 2:
            return full
        ratio = s[1:] / s[:-1]
    k = int(np.argmax(ratio))
    return min(full, float(s[k])) if ratio[k] >= RANGE_GAP else full


def eps_stages(eps: float, top: float, factor: float, *, name: str = "eps_scaling") -> list:
    """``[top, top * factor, ...]`` down to (excluding) ``eps``, then ``eps``: the Sinkhorn schedule
    (``top`` is the first value). Raises when more than :data:`MAX_STAGES` would be needed."""
    _count(eps, top, factor, name)
    stages, e = [], max(min(top, sys.float_info.max), eps)
    while e > eps:
        stages.append(e)
        e *= factor
    stages.append(eps)
    return stages


def eps_stages_up(eps: float, above: float, factor: float, *, name: str = "eps_scaling", clip: bool = False) -> list:
    """``[eps / factor**k, ..., eps / factor, eps]``, the first value the first above ``above``:
    the SNS continuation, which starts at eps times a power of ``1 / factor``. With ``clip``
    (the automatic schedule) a schedule longer than :data:`MAX_STAGES` starts lower instead
    of raising."""
    above = min(above, sys.float_info.max)
    if clip:
        above = min(above, eps * (1.0 / factor) ** (MAX_STAGES - 2)) if factor ** (MAX_STAGES - 2) > 0 else above
    _count(eps, above, factor, name)
    stages, e = [eps], eps
    while e < above and e / factor <= sys.float_info.max:
        e /= factor
        stages.insert(0, e)
    # a tiny factor overshoots: eps_scaling=1e-300 at eps=1e-4 started at eps=1e296, whose
    # potentials (~1e296 log a) carried nothing but rounding into the next stage (SNS ended at
    # L1 error 2); the first stage is at most 10 x above (a factor >= 0.1 never gets there)
    if len(stages) > 1 and stages[0] > 10.0 * above:
        stages[0] = 10.0 * above
    return stages


def _count(eps, top, factor, name):
    top = min(top, sys.float_info.max)
    if top > eps and math.ceil((math.log(top) - math.log(eps)) / -math.log(factor)) + 1 > MAX_STAGES:
        raise ValueError(f"{name}={factor!r} needs more than {MAX_STAGES} eps stages to go from {top:.3g} down to "
                         f"eps={eps:.3g}; use a factor of at most "
                         f"{math.exp((math.log(eps) - math.log(top)) / (MAX_STAGES - 1)):.3g}, {name}=None, or a smaller "
                         "starting value (eps_start for sns; the cost range C.max() - C.min() sets it)")


@dataclass(frozen=True)
class SinkhornOptions:
    """The settings of :func:`solvers.sinkhorn` (validated; ``None`` means the default)."""

    tol: float = 1e-9
    maxiter: int | None = None
    eps_scaling: float | None = None
    check_every: int | None = None
    domain: str = "auto"
    float32: bool = True

    def __post_init__(self):
        real("tol", self.tol)
        integer("maxiter", self.maxiter, allow_none=True)
        scaling_factor("eps_scaling", self.eps_scaling)
        integer("check_every", self.check_every, low=1, allow_none=True)
        choice("domain", self.domain, ("auto", "log"))
        flag("float32", self.float32)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SNSOptions:
    """The settings of :func:`solvers.sns` (validated; see its docstring for their meaning)."""

    tol: float = 1e-9
    maxiter: int | None = None
    n_sinkhorn: int = 5
    max_sinkhorn: int = 2000
    switch_tol: float = 1.0
    rho: float = 1e-8
    kmax: int | None = None
    mu0: float = 1.0
    eps_scaling: float | str | None = "auto"
    eps_start: float = 1e-3
    polish: bool = True
    polish_above: float = 1e-3
    cg_rtol: float = 1e-2
    cg_maxiter: int | None = None
    n_fallback: int = 10
    domain: str = "auto"

    def __post_init__(self):
        for name in ("tol", "switch_tol", "mu0", "eps_start"):
            real(name, getattr(self, name))
        real("rho", self.rho, high=1.0)
        real("cg_rtol", self.cg_rtol, high=1.0)
        real("polish_above", self.polish_above, low_open=False)
        integer("maxiter", self.maxiter, allow_none=True)
        for name in ("n_sinkhorn", "max_sinkhorn", "n_fallback"):
            integer(name, getattr(self, name), low=1)
        integer("kmax", self.kmax, low=1, allow_none=True)
        integer("cg_maxiter", self.cg_maxiter, low=1, allow_none=True)
        scaling_factor("eps_scaling", self.eps_scaling, allow_auto=True)
        choice("domain", self.domain, ("auto", "kernel", "log"))
        object.__setattr__(self, "polish", flag("polish", self.polish))     # (frozen; numpy.bool_ -> bool)

    @property
    def factor(self):
        """The continuation factor (``"auto"`` is 0.1) or None."""
        return 0.1 if self.eps_scaling == "auto" else self.eps_scaling

    def as_dict(self) -> dict:
        return asdict(self)
