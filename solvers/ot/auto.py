"""``method="auto"`` for entropic OT: Sinkhorn or Sinkhorn-Newton-Sparse, chosen by a measured rule.

Sinkhorn needs a number of iterations that grows like ``1 / eps`` (relative to the cost
range ``C.max() - C.min()``); each costs two matrix-vector products with the stabilised
kernel (:mod:`solvers.ot._scaling`). SNS needs a few dozen Newton steps almost independently
of eps; each costs several passes over the cost matrix with exponentials plus a sparse
solve. The rule is a threshold on the *relative* regularisation
``eps_rel = eps / (C.max() - C.min())`` that depends on the size ``n m``:

    eps_rel >= threshold(n m)  ->  solvers.sinkhorn
    otherwise                  ->  solvers.sns

with ``threshold = 3e-3`` up to ``n m = 9e4``, ``4.5e-3`` at ``n m = 1e6``, ``1.4e-2`` from
``n m = 9e6`` on, and log-log interpolation in between (:func:`threshold`). Session 37 re-measured the
crossover after SNS's Schur product became 9-18 % faster at n >= 3000 (session 36): at n = 3000 the
rule of session 33 (``1e-2`` from ``9e6``, one straight log-log line from ``9e4``) picked Sinkhorn at
``eps_rel = 1e-2``, 1.17x slower than SNS. Session 33's values were ``3e-3`` / ``1e-2`` (``5.6e-3`` at
``n m = 1e6``), the values before ``1.5e-3`` up to ``n m = 1e6`` and ``3.5e-3`` from ``9e6``.

Measured in session 37 (``benchmarks/ot_sns.py --auto-rule --repeats 5``, the set-up below, two Numba
threads, the two routines' runs interleaved, medians; ``benchmarks/results/ot_sns_auto_rule_s37_zen5.json``),
wall time of Sinkhorn / wall time of SNS (CPU-time ratios within 0.04 of these except 0.93 at n = 300,
3e-3):

    ========  ======  ======  ======  ======  ======  ======  ======  ======  ======
    eps_rel   3e-2    2e-2    1.5e-2  1e-2    7e-3    5e-3    3e-3    2e-3
    n = 300                           0.44    0.67    0.78    1.08    1.70
    n = 1000  0.20    0.31    0.44    0.55    0.83    0.88    2.09
    n = 2000                          0.75    1.19    1.57    3.17    3.96
    n = 3000  0.50    0.91    0.96    1.17    2.07    3.21    5.70
    n = 5000  0.52    0.54    1.03*   1.57
    ========  ======  ======  ======  ======  ======  ======  ======  ======  ======

The ratio crosses 1 near ``3e-3`` at n = 300, between ``5e-3`` and ``3e-3`` at n = 1000, between ``1e-2``
and ``7e-3`` at n = 2000 (the interpolated threshold there is ``9.2e-3``) and near ``1.4e-2`` at n = 3000:
the anchors above; at n = 5000 (``*``: measured at ``1.4e-2``, three repeats) it crosses there too, so the
threshold is held beyond ``9e6``. Next to a crossover the two routines are within 20 % of each other.

Near the threshold the better routine depends on the machine (one cost matrix pass against a
sparse solve: at n = 1000, eps_rel = 3e-3, Sinkhorn took 0.098 s and SNS 0.136 s on an AMD EPYC,
0.228 s and 0.131 s on an Intel Xeon), so the choice of Sinkhorn is checked while it runs
(:class:`SwitchRule`): every ``SWITCH_EVERY`` (20) iterations the iterations still needed are
predicted from the decay of the marginal error over the last ``SWITCH_WINDOW`` (10) (Sinkhorn
converges linearly; at n = 1000 the prediction made at iteration 20 was within 5 % of the final
count for eps_rel >= 5e-3 and within 13 % at 3e-3, ad-hoc run), and when more than
``SWITCH_KAPPA`` (400) remain, SNS continues from the next iterate. 400 is the cost of an SNS
solve counted in Sinkhorn iterations near the threshold on the Xeon: 330 and 320 at n = 1000,
280 and 410 at n = 3000, for eps_rel = 1e-3 and 3e-3 (SNS time over Sinkhorn time per iteration,
``benchmarks/results/ot_sns_n1000.json``, ``ot_sns_n3000.json``; 300-550 in runs earlier the same
day, before SNS's row selection was made faster); about 800 on the EPYC; unmeasured on a GPU. Session 27 made
SNS's row selection a histogram (:mod:`solvers._kernels.numba._ot_select`): on an AMD Zen 5 at n = 1000, eps_rel = 3e-3,
SNS then took 0.039 s against Sinkhorn's 0.055 s (0.116 s before), and ``auto`` was within 1.18x of the faster
routine at every eps from 0.1 to 1e-5 at n = 1000 and 3000 (``ot_sns_n1000_s27_zen5.json``, ``ot_sns_n3000_s27_zen5.json``;
the rule itself unchanged, its 400 not re-measured on the Xeon). The result is then SNS's, with the Sinkhorn rows in front of its history
(``stage`` 1) and ``stats["auto_head"]``. The decision depends on the errors only, not on
timings, so a run is reproducible. Routine options other than ``domain`` turn the check off
(Sinkhorn runs as asked). With the switch, ``auto`` was within 1.11x of the faster routine at
every eps from 0.1 to 1e-5 at n = 1000 and 3000 (same files).

Measured in session 33 (``benchmarks/ot_sns.py --auto-rule --eps 3e-2 1e-2 7e-3 5e-3 3e-3 2e-3 1e-3``, the same
set-up as below, medians of 3, one Numba thread, AMD Zen 5, ``benchmarks/results/ot_sns_auto_rule.json``), time of
Sinkhorn / time of SNS:

    ========  ======  ======  ======  ======  ======  ======  ======
    eps_rel   3e-2    1e-2    7e-3    5e-3    3e-3    2e-3    1e-3
    n = 300   0.21    0.47    0.67    0.79    1.01    1.61    2.51
    n = 1000  0.15    0.50    0.76    0.98    1.88    3.16    5.33
    n = 3000  0.38    0.96    1.46    2.22    4.72    8.48    16.7
    ========  ======  ======  ======  ======  ======  ======  ======

The ratio crosses 1 near ``eps_rel = 3e-3`` at n = 300, ``5e-3`` at n = 1000 and ``1e-2`` at n = 3000: the
thresholds above. An SNS solve near them costs 490 (n = 300), 360 (n = 1000) and 155-165 (n = 3000) Sinkhorn
iterations; the switch's 400 is kept (where Sinkhorn is chosen it needs fewer than that on this machine, so the
switch guards machines where the crossover lies elsewhere).

With these thresholds ``auto`` was within 0.97-1.04x of the faster routine at every eps from 0.1 to 1e-5 at
n = 1000 and 3000 (``ot_sns_n1000_s33_zen5.json``, ``ot_sns_n3000_s33_zen5.json``; 1.21x at eps 3e-3, n = 1000,
with the thresholds before).

The first measurement (an earlier session, commit aca03dc; ``benchmarks/ot_sns.py --auto-rule``; n random
points in [0, 1]^2 on each side, squared Euclidean cost scaled to max 1, uniform weights, L1 marginal error 1e-8, Numba
backend, one thread, process CPU time; quick single runs on a shared, loaded 2-core machine,
``benchmarks/results/ot_sns_auto_rule_quick.json``), time of Sinkhorn / time of SNS:

    ========  ======  ======  ======  ======  ======  ======
    eps_rel   1e-2    5e-3    3e-3    2e-3    1.5e-3  1e-3
    n = 300   0.17    0.28    0.48    0.81            1.96
    n = 1000  0.14    0.19    0.42    0.65            1.88
    n = 3000  0.34    0.66    1.29            6.4     7.98
    ========  ======  ======  ======  ======  ======  ======

The ratio grows like ``1 / eps``. It crosses 1 near ``eps_rel = 1.4e-3`` at n = 300 and
1000, and near ``3.6e-3`` at n = 3000, where the kernel (36 MB in float32) no longer fits
in cache and each Sinkhorn iteration becomes memory-bound while SNS's Newton steps scale
better. Near the threshold the two routines are within about 1.3x of each other; away
from it the gain is large (Sinkhorn 3-7x faster at 1e-2, SNS 2-8x at 1e-3 and more below:
Sinkhorn's iterations grow like ``1 / eps``). Beyond n m = 9e6 the threshold is held at
its n = 3000 value (not measured there). A looser tolerance favours Sinkhorn (its
iterations grow like ``log(1/tol)``, SNS's stay few), which the rule ignores: it was
measured at 1e-8.

References
----------
M. Cuturi, "Sinkhorn distances", NeurIPS 2013.
X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao, L. Ying,
"Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backends as _backends
from . import _common

#: relative regularisation at and above which Sinkhorn is chosen, for n m <= SIZE_SMALL (measured at n = 300)
EPS_REL_SMALL = 3e-3
#: ... at n m = SIZE_MID (measured at n = 1000, session 37)
EPS_REL_MID = 4.5e-3
#: ... and for n m >= SIZE_LARGE (measured at n = 3000, session 37; log-log interpolation between the anchors:
#: 9.2e-3 at n m = 4e6, where n = 2000 crossed between 7e-3 and 1e-2)
EPS_REL_LARGE = 1.4e-2
SIZE_SMALL, SIZE_MID, SIZE_LARGE = 9e4, 1e6, 9e6
#: the Sinkhorn -> SNS switch (:class:`SwitchRule`): checked every SWITCH_EVERY iterations, the decay
#: measured over the last SWITCH_WINDOW, switching when more than SWITCH_KAPPA iterations are predicted
SWITCH_EVERY, SWITCH_WINDOW, SWITCH_KAPPA = 20, 10, 400

_ANCHORS = ((SIZE_SMALL, EPS_REL_SMALL), (SIZE_MID, EPS_REL_MID), (SIZE_LARGE, EPS_REL_LARGE))


def threshold(size: float) -> float:
    """The ``eps / (C.max() - C.min())`` at and above which :func:`auto` picks Sinkhorn, for a
    cost matrix of ``size = n m`` entries: the measured crossovers at n = 300, 1000 and 3000,
    log-log interpolated between them and held constant outside (module notes)."""
    if not size > SIZE_SMALL:          # (also size 0: unknown)
        return EPS_REL_SMALL
    if size >= SIZE_LARGE:
        return EPS_REL_LARGE
    logs, loge = zip(*((math.log(a), math.log(e)) for a, e in _ANCHORS))
    # np.interp holds the end values beyond the anchors; the clip keeps rounding from putting the value one ulp
    # below EPS_REL_SMALL just above SIZE_SMALL (helper-124)
    return float(min(max(math.exp(np.interp(math.log(size), logs, loge)), EPS_REL_SMALL), EPS_REL_LARGE))


def choose(eps: float, cost_range: float, size: float = 0.0, rel: float | None = None) -> tuple:
    """The routine the rule picks for ``eps``, ``C.max() - C.min()`` and ``n m``: ``(name, reason)``.

    ``cost_range`` may be ``inf`` (costs spanning more than the double range, e.g. -1.5e308 and
    1.5e308); ``rel``, when given, is ``eps / (C.max() - C.min())`` computed without that
    overflow (:func:`auto` passes it), else ``eps / cost_range``. NaN or non-positive arguments are refused by
    name (a NaN eps picked 'sns' because 'nan < 0.0045', a NaN range 'constant cost'; helper-152)."""
    for name, v, ok in (("eps", eps, lambda v: v > 0), ("cost_range", cost_range, lambda v: v >= 0),
                        ("size", size, lambda v: v >= 0)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v) or not ok(v):
            raise ValueError(f"choose: {name} must be a {'positive' if name == 'eps' else 'non-negative'} number, "
                             f"got {v!r}")
    if not cost_range > 0:
        return "sinkhorn", "constant cost matrix: every plan has the same cost, Sinkhorn converges at once"
    rel, thr = (eps / cost_range if rel is None else rel), threshold(size)
    if not rel >= 0:
        raise ValueError(f"choose: rel must be a non-negative number, got {rel!r}")
    digits = 3
    while digits < 17 and f"{rel:.{digits}g}" == f"{thr:.{digits}g}" and rel != thr:
        digits += 1                    # enough digits to show which side of the threshold eps lies (helper-124)
    r, t = f"{rel:.{digits}g}", f"{thr:.{digits}g}"
    if rel >= thr:
        return "sinkhorn", (f"eps / (C.max() - C.min()) = {r} >= {t} (the threshold at n m = {size:.3g}): "
                            "Sinkhorn needs few iterations and each is two kernel products")
    return "sns", (f"eps / (C.max() - C.min()) = {r} < {t} (the threshold at n m = {size:.3g}): "
                   "Sinkhorn would need ~1/eps iterations; the Newton stage of SNS needs a few dozen")


def _cost_range(data, backend) -> tuple:
    """``(C.max() - C.min(), C.size, half)`` with ``half = C.max() / 2 - C.min() / 2`` (finite even
    when the range overflows to inf); NaN range when C cannot be read: the routine reports it."""
    C = data.C if hasattr(data, "C") else data
    be = _backends.get_backend(backend, C)
    try:
        xp_C = be.asarray(C)
        if xp_C.dtype.kind not in "biuf":          # complex, object...: left to the routine's clear error (bool is
            return math.nan, 0.0, math.nan         # a 0/1 cost the routines accept: helper-124)
        hi, lo = float(xp_C.max()), float(xp_C.min())
        return hi - lo, float(xp_C.size), 0.5 * hi - 0.5 * lo
    except (TypeError, ValueError):
        return math.nan, 0.0, math.nan


def _check_options(options: dict, name: str, reason: str) -> None:
    """Refuse, before any work, an option that neither routine has (listing both routines' options) or
    that only the routine the rule did not pick has (saying which was picked and why)."""
    import inspect

    from .sinkhorn import sinkhorn
    from .sns import sns

    own = {"sinkhorn": set(inspect.signature(sinkhorn).parameters), "sns": set(inspect.signature(sns).parameters)}
    for key in options:
        if key == "eps_scaling" and isinstance(options[key], str) and name == "sinkhorn":   # (a bare sinkhorn
            raise ValueError(f"auto: eps_scaling={options[key]!r} is sns's automatic schedule, and the rule picked "
                             f"sinkhorn here ({reason}); call solvers.sns (method='sns') to use it, or pass a "
                             "factor in (0, 1) or None")                   # ValueError before; helper-138)
        if key in own[name]:
            continue
        other = "sns" if name == "sinkhorn" else "sinkhorn"
        if key in own[other]:
            raise TypeError(f"auto: option {key!r} belongs to {other} only, and the rule picked {name} here ({reason}); "
                            f"call solvers.{other} (method={other!r}) to use it, or drop it")
        allowed = sorted((own["sinkhorn"] | own["sns"]) - {"data", "a", "b"})
        raise TypeError(f"auto: unknown option {key!r}; the options of sinkhorn and sns are {', '.join(allowed)}")


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
        Passed on to the chosen routine. An option neither routine has, or one only the routine the
        rule did not pick has, is refused with a TypeError that says which was picked and why.
        ``domain="kernel"`` is an SNS value (its Newton stage in kernel space); when the rule
        picks Sinkhorn it is passed on as ``domain="auto"`` (Sinkhorn's kernel-space phase,
        with log-domain steps where the kernel is unsafe) and ``stats["auto_domain"]`` says so.

    Returns
    -------
    SolveResult
        The chosen routine's result; ``stats["auto_choice"]`` is ``"sinkhorn"`` or ``"sns"``,
        ``stats["auto_reason"]`` the rule's reason (with the value of ``eps / (C.max() -
        C.min())``, and the switch's reason when Sinkhorn handed over to SNS), ``method`` the
        routine that produced the returned potentials. After a switch, ``nit``, ``history``
        (the Sinkhorn rows first, ``stage`` 1), ``stats["sinkhorn_steps"]``, ``stats["time_s"]``
        and the provenance's start cover both parts; ``stats["auto_head"]`` describes the
        Sinkhorn part; ``maxiter`` bounds each part.
    """
    from .sinkhorn import sinkhorn
    from .sns import sns

    if data is None or isinstance(data, (dict, str, bytes, numbers.Number)):   # named as auto's (were 'sns:')
        raise TypeError(f"auto: expected an EntropicOT (or an object with C, a, b, eps) or a cost matrix, got "
                        f"{type(data).__name__}")
    if not (hasattr(data, "C") or hasattr(data, "shape") or isinstance(data, (list, tuple))):   # (was 'eps is
        raise TypeError(f"auto: expected an EntropicOT (or an object with C, a, b, eps) or a cost matrix, got "
                        f"{type(data).__name__}")               # required with a cost matrix': helper-127)
    if hasattr(data, "C"):                        # named as auto's (was 'sinkhorn:', the routine it fell to)
        _common.refuse_problem_eps("auto", data, eps)
        if getattr(data, "a", None) is None or getattr(data, "b", None) is None:
            raise TypeError("auto: problem.a and problem.b must be weight arrays, got "
                            f"{type(getattr(data, 'a', None)).__name__} and {type(getattr(data, 'b', None)).__name__}")
        if a is not None or b is not None:      # (named 'sns'/'sinkhorn' and 'keyword-only' for solve(p, b=...))
            raise TypeError("auto(problem) / solve(problem): the weights a and b come from the problem (problem.a, "
                            "problem.b), not from options; build the problem with other weights, or pass a cost "
                            "matrix: solvers.auto(C, a, b, eps=...)")
    pre_eps = getattr(data, "eps", None) if hasattr(data, "C") else eps
    if pre_eps is None and not hasattr(data, "C"):
        raise TypeError("auto(C, a, b, eps=...): eps is required with a cost matrix")
    e = _common.positive_eps(pre_eps, " (problem.eps)" if hasattr(data, "C") else "")
    rng, size, half = _cost_range(data, backend)
    # eps / (C.max() - C.min()) without overflow; a subnormal range whose half rounds to 0 divides directly
    rel = 0.5 * e / half if half > 0 else (e / rng if rng > 0 else math.nan)
    name, reason = choose(e, rng, size, rel=rel) if not math.isnan(rng) else ("sns", "cost range unknown")
    _check_options(options, name, reason)
    dom = options.get("domain", "auto")
    if not (isinstance(dom, str) and dom in ("auto", "log", "kernel")):   # named as auto's, with all it accepts
        raise ValueError(f"auto: domain must be one of 'auto', 'log', 'kernel', got {dom!r}")
    mapped = None
    if name == "sinkhorn" and isinstance(options.get("domain"), str) and options["domain"] == "kernel":
        options = dict(options, domain="auto")     # sinkhorn's kernel phase (module notes of auto)
        mapped = "domain='kernel' (an sns value) passed to sinkhorn as domain='auto' (its kernel-space phase)"
    if name == "sns":
        res = sns(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=f0, g0=g0, callback=callback, backend=backend,
                  **options)
    elif set(options) - {"domain"}:                # routine options: Sinkhorn alone, as asked (no switch)
        res = sinkhorn(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=f0, g0=g0, callback=callback,
                       backend=backend, **options)
    else:
        res, switched = _sinkhorn_then_sns(data, a, b, eps, tol, maxiter, f0, g0, callback, backend,
                                           options.get("domain", "auto"), "kernel" if mapped else None)
        if switched is not None:
            name, reason = "sns", f"{reason}; {switched}"
    res.stats["auto_choice"] = name
    res.stats["auto_reason"] = reason
    res.stats["auto_eps_rel"] = rel
    if mapped is not None:
        res.stats["auto_domain"] = mapped
    return res


class SwitchRule:
    """When to leave a Sinkhorn run for SNS (:func:`auto`): every ``every`` iterations, predict the
    iterations still needed from the error's decay over the last ``window`` ones (Sinkhorn converges
    linearly: ``log err`` falls by a constant per iteration) and switch when that exceeds ``kappa``,
    the cost of an SNS solve in Sinkhorn iterations (module notes), or when the error stopped falling."""

    every, window, kappa = SWITCH_EVERY, SWITCH_WINDOW, SWITCH_KAPPA

    def __init__(self):
        self.reason, self.predicted = "", math.nan

    def __call__(self, recent, count: int, tol: float) -> bool:
        """``recent``: the last ``window + 1`` (or more) of the ``count`` errors measured so far."""
        k = count
        if k < 2 * self.window or len(recent) < self.window + 1:
            return False
        e1, e0 = float(recent[-1]), float(recent[-1 - self.window])
        if not (e1 > 0 and e0 > 0 and math.isfinite(e1) and math.isfinite(e0)):
            return False
        slope = (math.log(e1) - math.log(e0)) / self.window
        self.predicted = (math.log(tol) - math.log(e1)) / slope if slope < 0 else math.inf
        if self.predicted <= self.kappa:
            return False
        self.reason = (f"switched to sns after {k} Sinkhorn iterations: error {e1:.3g}, falling by a factor "
                       f"{math.exp(slope):.4f} per iteration, predicts {self.predicted:.4g} more to tol > "
                       f"{self.kappa} (an SNS solve's cost in Sinkhorn iterations)")
        return True


class _Offset:
    """A user callback for the SNS part of a switched solve: ``nit`` continues the Sinkhorn count, and
    SNS's starting point (the hand-off iterate, the Sinkhorn part's next one) is one of its rows too."""

    continues = True       # read by sns: call it at SNS's row 0 as well

    def __init__(self, fn, offset: int):
        from ..results import Callback

        self.cb, self.offset = Callback(fn), offset

    def __call__(self, intermediate_result):
        if self.cb.wants_result:
            intermediate_result.nit += self.offset
            self.cb.fn(intermediate_result)
        else:
            self.cb.fn(intermediate_result.x)


def _sinkhorn_then_sns(data, a, b, eps, tol, maxiter, f0, g0, callback, backend, domain, sns_domain):
    """Sinkhorn with :class:`SwitchRule`; when it stops the run, SNS from the next iterate, and one
    result of both parts. Returns ``(result, switch reason or None)``."""
    from .sinkhorn import Handoff, _sinkhorn
    from .sns import sns

    rule = SwitchRule()
    out = _sinkhorn(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=f0, g0=g0, eps_scaling=None, check_every=None,
                    domain=domain, float32=True, callback=callback, backend=backend, rule=rule)
    if not isinstance(out, Handoff):
        return out, None
    res = sns(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=out.f, callback=_Offset(callback, out.count)
              if callback is not None else None, backend=backend, domain=sns_domain or domain)
    return _joined(out, res, f0 is not None or g0 is not None), out.reason


def _joined(head, res, warm: bool):
    """``res`` (SNS from the head's next iterate) with the head's rows in front: ``nit``, history, the
    Sinkhorn step count, time and provenance cover both parts; ``options["warm_start"]`` is the caller's."""
    from ..runs.provenance import utc_iso

    k = head.count
    rows = {"marginal_error": head.errors, "stage": np.ones(k, np.int8), "step": np.zeros(k),
            "nnz": np.zeros(k, np.int64), "cg_iterations": np.zeros(k, np.int64), "eps": np.full(k, head.eps)}
    res.history = {c: np.concatenate([rows[c].astype(v.dtype), v]) for c, v in res.history.items()}
    res.message = (f"{res.message} [method='auto': {k} Sinkhorn iterations came first, then the switch to SNS, "
                   f"whose counts the message gives; nit = {k} + {res.nit}]")
    res.nit += k
    t = head.times
    res.stats["time_s"] = res.stats["time_s"] + t["time_s"]
    res.stats["compile_s"] = res.stats["compile_s"] + t["compile_s"]
    res.stats["sinkhorn_steps"] = res.stats.get("sinkhorn_steps", 0) + k
    res.stats["iterations"] = res.nit
    res.stats["auto_head"] = {"sinkhorn_iterations": k, "time_s": t["time_s"], **head.stats}
    res.provenance["utc_start"] = utc_iso(head.utc_start)
    if "wall_time_s" in res.provenance:
        res.provenance["wall_time_s"] += t["time_s"] + t["compile_s"]
    res.options["warm_start"] = warm
    return res
