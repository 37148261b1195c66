"""Sinkhorn for entropic optimal transport: the log-domain iteration (and, by default, its
kernel-space form where that is safe, :mod:`solvers.ot._scaling`).

For the problem ``min <P, C> + eps sum P (log P - 1)`` s.t. ``P 1 = a``, ``P^T 1 = b``
the iteration alternates the exact block maximisations of the dual
``D(f, g) = <a,f> + <b,g> - eps sum_ij exp((f_i + g_j - C_ij)/eps)``:

    g_j = eps log b_j - eps LSE_i (f_i - C_ij) / eps
    f_i = eps log a_i - eps LSE_j (g_j - C_ij) / eps

with max-shifted log-sum-exp, so nothing overflows for any ``eps``.

Iterates and history. The k-th iterate is the pair ``(f_k, g_k)`` with ``g_k`` the exact
column update of ``f_k``; its column marginals are exact, so its L1 marginal error is the row
error, ``sum_i |a_i - a_i exp((f_k - f_{k+1})_i / eps)|``, read off the next f-update
``f_{k+1}`` at no extra cost. ``history["marginal_error"][0]`` is the error of the starting
point ``(f_0, g_0)`` (``f_0`` = ``f0``, the f-update of ``g0``, or zeros); entry k that of the
k-th iterate; ``nit`` iterations give ``nit + 1`` entries, and the returned potentials are the
last entry's pair. A new eps stage (``eps_scaling``) restarts from the last iterate with its
column update at the new eps, which is one more entry; when the budget runs out during an
intermediate stage the run jumps to the final eps for that last entry, so the returned
potentials and the last error always belong to the problem's eps. Once the f-update is a fixed
point in floating point (``f_{k+1} == f_k`` to the last bit: the change falls below ``f``'s
rounding, e.g. at eps 1e-12), that estimate reads exactly 0 although the marginals are off by
the rounding floor; such rows are no measurement of convergence, and the returned pair's error
is measured again (below) before anything is claimed (helper-158).

What is claimed. The returned pair is measured once more from ``f`` and ``g`` themselves
(:func:`solvers.ot._common.verify`): ``(f_i + g_j - C_ij) / eps`` summed before dividing,
max-shifted log-sum-exp, each term relative to its weight. ``converged``, the message and
``res.marginal_error`` follow that measurement, not the iteration's running estimate (which
``f_k - f_{k+1}`` can fool when ``|f| / eps`` is huge). When the tolerance is out of reach in
double precision the result is ``stagnated`` and the message gives the rounding floor computed
for the returned potentials: the final stage ends as soon as its error has stayed within 100x
that floor without falling by 10 % over half of :data:`STALL_WINDOW` iterations (instead of
spending the whole budget).
A tolerance below the weights' own mismatch ``|sum a - sum b|`` is refused before any work. A warm start ``f0`` (or ``g0``) is re-centred first: a constant
offset is a gauge change, and carried along it would swamp every exponent. The final stage also moves the pair
to its best gauge (:func:`_gauge`) after its first updates and each chunk when that at least halves ``max|f| +
max|g|`` (the callback's ``f`` and ``g`` then move by that constant between two calls; the plan does not).

References
----------
M. Cuturi, "Sinkhorn distances", NeurIPS 2013.
B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
problems", SIAM J. Sci. Comput. 41 (2019) (log-domain updates, eps-scaling).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..results import Callback, Status, Timer, stopped_message
from . import _common, _mass, _options, _result


class SinkhornRun:
    """The state of a log-domain Sinkhorn run at one eps: the iterate ``(f, g)`` (``g`` the
    column update of ``f``), two spare buffers and the device record of measured errors.

    Parameters
    ----------
    geom : Geometry
    a, b, log_a, log_b : backend arrays
        Weights (on the support) and their logarithms.
    eps : float
    f : backend array
        Starting row potentials; becomes one of the run's buffers (it is overwritten later).
    errors : backend array
        Where the marginal error of every measured iterate is written (device writes on the
        GPU; the host reads only every ``check_every`` entries). It grows (doubling) when a run
        needs more entries, so a large iteration budget costs no memory up front; read the
        entries from :attr:`errors` (it may be a new array).
    """

    def __init__(self, geom, a, b, log_a, log_b, eps: float, f, errors, g=None):
        xp = geom.be.xp
        self.geom, self.a, self.b, self.log_a, self.log_b = geom, a, b, log_a, log_b
        self.eps = eps
        self.f, self.f_new = f, xp.empty_like(f)
        # g: the column update of f (a subclass may start from other reference potentials and
        # make g exact before any log-domain step, see solvers.ot._scaling)
        self.g = geom.g_update(f, log_b, eps) if g is None else g
        self.g_new = xp.empty(geom.m)
        self.errors, self.count = errors, 0
        self.err = math.inf

    def restart(self, eps: float) -> None:
        """Continue from the current ``f`` at another eps (recomputes ``g``)."""
        self.eps = eps
        self.g = self.geom.g_update(self.f, self.log_b, eps, out=self.g)

    def recentre(self, c: float) -> None:
        """``(f - c, g + c)``: the same plan and the same iteration from here, in another gauge (new arrays)."""
        self.f, self.g = self.f - c, self.g + c

    def run(self, tol: float, steps: int, check_every: int, *, measure_last: bool, cb=None, nit0: int = 0) -> str:
        """Measure the current iterate, then alternate update and measurement, ``steps`` updates.

        The host reads the error every ``check_every`` measurements and at the last one; the
        run stops when a read error is ``<= tol`` (the measured iterate is kept), non-finite,
        or when the callback asks. Otherwise, after ``steps`` updates, the new iterate is
        measured too (``measure_last=True``; then ``steps + 1`` measurements) or left
        unmeasured (``steps`` measurements; a later pass will measure it, as SNS's first
        Newton iteration does). ``cb`` gets ``nit = nit0 + index of the measurement``.

        Returns the status: converged, nonfinite, stopped or maxiter.
        """
        geom, a, log_a, log_b, eps = self.geom, self.a, self.log_a, self.log_b, self.eps
        f, g, f_new, g_new = self.f, self.g, self.f_new, self.g_new
        errors, pos = self.errors, self.count
        total = steps + 1 if measure_last else steps
        status = Status.MAXITER
        for k in range(total):
            f_new = geom.f_update(g, log_a, eps, out=f_new)
            e = geom.row_gap(a, f, f_new, eps)
            if pos == errors.shape[0]:
                errors = self.errors = self._grow(errors, total - k)
            errors[pos] = e
            pos += 1
            last = k == total - 1
            if pos % check_every == 0 or last:     # by the run's count, not the chunk's (checks drifted: helper-144)
                self.err = float(e)
                # after each iteration, as SciPy and the Krylov solvers do (not at the starting point, row 0)
                if cb and nit0 + pos > cb.first and cb(geom.be.xp.concatenate([f, g]), nit0 + pos - 1, f=f, g=g,
                                                marginal_error=self.err, eps=eps):
                    status = Status.STOPPED
                    break
                if not math.isfinite(self.err):
                    status = Status.NONFINITE
                    break
                if self.err <= tol:
                    status = Status.CONVERGED
                    break
            if last and measure_last:
                break
            f, f_new = f_new, f
            g, g_new = geom.g_update(f, log_b, eps, out=g_new), g
        self.f, self.g, self.f_new, self.g_new, self.count = f, g, f_new, g_new, pos
        return status

    def _grow(self, errors, need: int):
        """A longer copy of the error buffer: ``min(need, its length)`` more entries (at least 16),
        so a budget of 10**12 iterations allocates only what the run uses."""
        xp = self.geom.be.xp
        extra = max(16, min(int(need), errors.shape[0]))
        return xp.concatenate([errors, xp.zeros(extra)])


@dataclass
class Handoff:
    """Where a Sinkhorn run stopped by a switch rule (:func:`_sinkhorn` with ``rule``) leaves off:
    the next iterate's row potentials ``f`` (full size, of the problem as posed: the routine that
    takes over measures it as its starting point), the ``errors`` of the ``count`` iterates measured
    (history rows 0 .. count - 1), ``eps``, the run's ``times`` (``time_s``, ``compile_s``, taken at the
    stop), ``utc_start`` (POSIX), ``stats``, and the rule's ``reason``."""

    f: object
    errors: np.ndarray
    count: int
    eps: float
    times: dict
    utc_start: float
    stats: dict
    reason: str


#: the final stage runs to this fraction of tol by its own error estimate (the returned pair is measured again)
TOL_MARGIN = 0.98
#: times the final stage goes on, to a lower target, when its estimate met tol but the returned pair's measured
#: error did not
RETRIES = 3
#: iterations per stagnation check of a final eps stage (:class:`_Stall`), and the window it judges
STALL = 100
STALL_WINDOW = 300
#: minima of the window's thirds falling in turn, the last below this times the first: progress (:class:`_Stall`)
STEADY = 0.98


class _Stall:
    """The stagnation test of a final eps stage, asked after each chunk of iterations: the smallest error of
    the second half of the last :data:`STALL_WINDOW` is above 0.9 times that of the first half (a decay slower
    than 0.9993 per iteration; minima, not a fitted trend, which the jitter at the floor moves either way) while
    the best error is within 100x the rounding floor of the current potentials (there the error only jitters),
    unless the minima of the window's thirds fall in turn by 2 % or more (a steady fall). Away
    from the floor a flat stretch is not taken as stagnation: Sinkhorn's error can sit on a plateau for
    hundreds of iterations and then fall (weights of very different sizes at small eps)."""

    def __init__(self, geom, a, b):
        self.geom, self.a, self.b = geom, a, b
        self.floor = (math.nan, math.nan)

    def __call__(self, window, run) -> bool:
        """``window``: the last :data:`STALL_WINDOW` errors measured (host array; fewer: not judged)."""
        e = np.asarray(window, dtype=float)
        if e.size < STALL_WINDOW or not np.all(np.isfinite(e)):
            return False
        half = e.size // 2
        if not float(e[half:].min()) > 0.9 * float(e[:half].min()):     # it still fell by 10 % in 150 iterations
            return False
        k = e.size // 3                  # a slow but steady fall is progress, not the jitter of the floor (the
        m0, m1, m2 = float(e[:k].min()), float(e[k:2 * k].min()), float(e[2 * k:].min())   # floor estimate can
        if m0 > m1 > m2 and m2 < STEADY * m0:      # be high: 5 % per 150 iterations at 98x it went on to 1e-14)
            return False
        self.floor = self.geom.rounding_floor(run.f, run.g, run.eps, self.a, self.b)
        return float(e.min()) <= 100.0 * self.floor[0]


def _gauge(run) -> None:
    """Move the pair ``(f, g)`` to the gauge ``(f - c, g + c)`` (the same plan) of the smallest ``max|f| + max|g|``
    when that at least halves it: the rounding of every exponent ``f_i + g_j - C_ij`` scales with ``|f_i| + |g_j|``
    (:meth:`~solvers.ot._common.Geometry.rounding_floor`). Over ``c`` the minimum is ``s_f + s_g + |m_f + m_g|``
    (``m``, ``s``: the midpoint and half-width of a potential's range), reached for every ``c`` between ``m_f`` and
    ``-m_g``: the one nearest 0 is taken. A warm start whose spread the clip to the potentials' range
    (:func:`~solvers.ot._common.clip_warm_start`) left at its bound carried an offset of about that bound into both
    potentials (``f ~ +2``, ``g ~ -2`` on a unit cost): the floor rose 4x and a tol a cold start meets ended
    ``stagnated`` with an "out of reach" message (helper-107). ``max|C|`` is left out of the test: one large cost
    entry (a forbidden pair) dominated it and kept the offset (helper-111). A cold start is already near its best
    gauge and is left as it is."""
    xp = run.geom.be.xp
    fl, fh, gl, gh = float(xp.min(run.f)), float(xp.max(run.f)), float(xp.min(run.g)), float(xp.max(run.g))
    if not all(map(math.isfinite, (fl, fh, gl, gh))):
        return
    mf, mg = 0.5 * (fl + fh), 0.5 * (gl + gh)
    now = max(-fl, fh) + max(-gl, gh)
    best = 0.5 * (fh - fl) + 0.5 * (gh - gl) + abs(mf + mg)
    if best <= 0.5 * now:
        run.recentre(min(max(0.0, min(mf, -mg)), max(mf, -mg)))


#: the final stage's first gauge check (:func:`_gauge`) comes after this many updates (a warm start's offset forms
#: in its first updates; a run that converges within its first chunk was left offset, helper-111), then one after
#: every chunk
GAUGE_FIRST = 10


def _run_final(run, tol: float, steps: int, check: int, cb, rule, be, stall):
    """The final eps stage: ``run.run(tol, steps, check, measure_last=True)`` in chunks of ``rule.every``
    (:data:`STALL` without a rule) updates, asking after each chunk the switch ``rule(recent, count, tol)``
    (``recent``: a host copy of the last ``rule.window + 1`` errors, so a check costs the same however long
    the run) and the stagnation test ``stall`` (:class:`_Stall`). The iterates are those of one call (a chunk
    leaves its next iterate unmeasured; the next chunk measures it first). Returns the run's status,
    ``"switch"`` when the rule asks to stop (the next iterate, unmeasured, is ``run.f``) or ``stagnated`` (that
    iterate measured, the last one)."""
    every = rule.every if rule is not None else STALL
    done, mark = 0, every                  # updates so far; the next chunk boundary (rule and stall asked there)
    early = GAUGE_FIRST if GAUGE_FIRST < every else None
    while True:
        stop = early if early is not None else mark
        if steps - done <= stop - done:
            return run.run(tol, steps - done, check, measure_last=True, cb=cb, nit0=0)
        status = run.run(tol, stop - done, check, measure_last=False, cb=cb, nit0=0)
        done = stop
        if status != Status.MAXITER:
            return status
        _gauge(run)
        if early is not None:              # the first gauge check only: the chunk goes on to its boundary
            early = None
            continue
        mark += every
        if rule is not None:
            recent = be.to_numpy(run.errors[max(0, run.count - rule.window - 1):run.count])
            if rule(recent, run.count, tol):
                return "switch"
        if stall(be.to_numpy(run.errors[max(0, run.count - STALL_WINDOW):run.count]), run):
            status = run.run(tol, 0, check, measure_last=True, cb=cb, nit0=0)    # the current iterate, measured
            return Status.STAGNATED if status == Status.MAXITER else status


def sinkhorn(data, a=None, b=None, *, eps: float | None = None, tol: float = 1e-9, maxiter: int | None = None,
             f0=None, g0=None, eps_scaling: float | None = None, check_every: int | None = None,
             domain: str = "auto", float32: bool = True, callback=None, backend=None):
    """Sinkhorn: in kernel space where that is safe, in the log domain elsewhere.

    Parameters
    ----------
    data : problems.ot.EntropicOT or (n, m) array
        A problem (anything with ``C`` (n, m), ``a``, ``b`` with equal sums and ``eps``), or the
        cost matrix ``C`` itself, POT style: ``sinkhorn(C, a, b, eps=1e-2)``.
        A float32 ``C`` (at least 2**20 entries) is used without a float64 copy: half the
        memory, the same answer as for ``float64(C)`` (every kernel computes in float64).
    a, b : arrays, optional
        Only with a cost matrix: the weights (uniform when None).
    eps : float
        Only with a cost matrix (a problem carries its own): the regularisation, > 0.
    tol : float
        Stop when the L1 marginal error ``|P 1 - a|_1 + |P^T 1 - b|_1 <= tol`` (the column
        error is zero after each g-update, so this is the row error).
    maxiter : int, optional
        Iteration budget, summed over the eps-scaling stages (default 100 000).
    f0, g0 : arrays, optional
        Warm start potentials (``g0`` is only used when ``f0`` is None: then ``f0`` is its
        Sinkhorn update).
    eps_scaling : float in (0, 1), optional
        Solve a sequence ``eps_k = max(eps, (C.max() - C.min()) * eps_scaling**k)``, each
        intermediate stage to marginal error ``max(tol, 1e-2)`` (warm-starting the next).
    check_every : int, optional
        How often the host reads the error and the callback runs: at every ``check_every``-th
        iteration of the run and at the ends of its internal chunks (the 10th update and every
        100th, where the stagnation test runs) (default: the kernel set's ``CHECK_EVERY``, 1 on the
        CPU, 10 on the GPU); every iteration's error is recorded on the device regardless (a
        float32 kernel phase reads each one, for its hand-over to float64).
    domain : {"auto", "log"}
        ``"auto"`` (default): the scaling iteration ``u = a / (K v)``, ``v = b / (K^T u)`` with a
        stabilised kernel (two matrix-vector products per iteration instead of two exp passes
        over C), absorbed into the potentials when the scalings grow, and log-domain steps
        where a kernel would under/overflow (see :mod:`solvers.ot._scaling`; same iterates).
        It holds one extra n x m array (float64; float32 while the error is above 1e-5 where
        a float64 probe of the first iterations predicts that this pays, see ``float32``).
        ``"log"``: log-domain steps only (no extra n x m memory).
    float32 : bool
        With ``domain="auto"``: allow a float32 kernel while the error is above 1e-5, taken
        when the decay of the first float64 iterations predicts more than 40 iterations to
        1e-5 (its extra kernel build then pays; :mod:`solvers.ot._scaling`). The returned
        potentials are always re-measured in float64; the history entries of the float32 phase
        are accurate to about 1e-7.
    callback : callable, optional
        ``callback(intermediate_result)`` at every check, with ``f``, ``g``, ``marginal_error``,
        ``eps`` (the current stage's), ``nit`` and ``x = [f, g]`` (copies of the potentials, as
        every array field: keep or change them freely); ``callback(xk)`` receives ``x``. Raising StopIteration stops the run. Between two
        calls the pair may move by a constant, ``(f - c, g + c)`` (the same plan; see the module notes).
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``f``, ``g`` (potentials, ``-inf`` where a weight is zero), ``x`` = concatenation of f
        and g, ``cost`` = <P, C>, ``plan()`` (a :class:`~solvers.ot._result.TransportPlan`:
        dense below 2.5e7 entries, else CSR of the entries above 1e-12 times the row maximum),
        ``history["marginal_error"]`` and ``history["eps"]`` (``nit + 1`` entries, see the
        module notes), ``marginal_error`` (of the returned potentials, measured as in the
        module notes: what ``converged`` is based on).
    """
    return _sinkhorn(data, a, b, eps=eps, tol=tol, maxiter=maxiter, f0=f0, g0=g0, eps_scaling=eps_scaling,
                     check_every=check_every, domain=domain, float32=float32, callback=callback, backend=backend)


def _sinkhorn(data, a, b, *, eps, tol, maxiter, f0, g0, eps_scaling, check_every, domain, float32, callback, backend,
              rule=None):
    """:func:`sinkhorn`; with a switch ``rule`` (``rule.every``, ``rule.window``, ``rule(recent, count, tol)``, see
    :func:`_run_final`) the final eps stage may end early with a :class:`Handoff` instead of a result."""
    opts = _options.SinkhornOptions(tol=tol, maxiter=maxiter, eps_scaling=eps_scaling, check_every=check_every,
                                    domain=domain, float32=float32)
    Callback(callback)               # a callback that is not callable is refused before any work
    inputs = _common.read_inputs("sinkhorn", data, a, b, eps, backend, f0, g0)
    timer = Timer(inputs.be)
    be, eps = inputs.be, inputs.eps
    xp = be.xp
    geom = inputs.geometry()
    # the run is on unit mass (the float32 range, the kernel's scaling window and the stages'
    # tolerance are absolute); potentials and errors are mapped back at the end
    a, b, tol, mass, shift = _mass.unit_mass(inputs, opts.tol)
    cb = _mass.MassCallback(callback, shift, mass, xp, inputs)
    maxiter = 100_000 if opts.maxiter is None else opts.maxiter
    check = geom.K.CHECK_EVERY if opts.check_every is None else opts.check_every
    stages = [eps]
    if opts.eps_scaling is not None:
        stages = _options.eps_stages(eps, _options.schedule_range(geom), opts.eps_scaling)   # (as sns: helper-138)
    log_a, log_b = xp.log(a), xp.log(b)
    if inputs.f0 is not None:
        f = inputs.f0
    elif inputs.g0 is not None:
        f = geom.f_update(inputs.g0, log_a, stages[0])
    else:
        f = xp.zeros(geom.n)
    errors = xp.zeros(min(maxiter + 1, 1024))
    if opts.domain == "auto":
        from ._scaling import ScalingRun

        run = ScalingRun(geom, a, b, log_a, log_b, stages[0], f, errors, float32=opts.float32)
    else:
        run = SinkhornRun(geom, a, b, log_a, log_b, stages[0], f, errors)
    history = _result.History(marginal_error=float, eps=float)
    status, stall = Status.MAXITER, None
    for s, e in enumerate(stages):
        final = s == len(stages) - 1
        steps = maxiter - run.count - (0 if final else 1)   # an intermediate stage leaves the last row
        if steps < 0:                                       # to the final eps (see the notes)
            continue
        if e != run.eps:
            run.restart(e)
        start = run.count
        # the run counts its measurements across stages itself: the callback's nit is that count
        if final:
            stall = _Stall(geom, a, b)
            # the run stops on its own estimate, 2 % inside tol: the re-measurement (verify) differs from it in
            # the last digits and decides; at tol the two straddled it (1.001 x tol measured: 'stagnated')
            status = _run_final(run, TOL_MARGIN * tol, steps, check, cb, rule, be, stall)
            if status == "switch":
                return _handoff(inputs, run, mass, shift, timer, rule)
        else:
            status = run.run(tol if final else max(tol, 1e-2), steps, check, measure_last=True, cb=cb, nit0=0)
        history.extend(be.to_numpy(run.errors[start:run.count]), eps=e)
        if status in (Status.NONFINITE, Status.STOPPED):
            break
    target = TOL_MARGIN * tol
    for retry in range(RETRIES + 1):
        f, g = run.f, run.g
        f = f + shift if mass != 1.0 else f
        claimed = status == Status.CONVERGED
        status, err, note = _common.verify(geom, f, g, eps, inputs.a, inputs.b, opts.tol, status)
        if not math.isnan(err):      # the last row: the returned potentials' error as measured, not the estimate
            history.set_last("marginal_error", err / mass)
        if not (claimed and status == Status.STAGNATED and math.isfinite(err) and retry < RETRIES
                and run.count < maxiter and stall is not None):
            break
        # the estimate met tol but the measurement did not (a constant offset of 3000 in C: estimate 2-12 % low,
        # measured 1.004e-9 at tol 1e-9, called 'out of reach' though the floor was 0.27 tol: helper-144): the
        # final stage goes on to a target lowered by the measured ratio
        target *= min(0.5, 0.9 * opts.tol / err)
        start = run.count
        status = _run_final(run, target, maxiter - run.count, check, cb, rule, be, stall)
        if status == "switch":
            return _handoff(inputs, run, mass, shift, timer, rule)
        history.extend(be.to_numpy(run.errors[start:run.count]), eps=eps)
    nit = run.count - 1
    if mass != 1.0:
        history.scale("marginal_error", mass)
    if status == Status.CONVERGED:
        msg = (f"sinkhorn: converged in {nit} iterations, L1 marginal error {err:.3e} <= tol {opts.tol:.3e}"
               + (f"; {note}" if note else ""))
    elif note:
        msg = f"sinkhorn: {note}"
    elif status == Status.MAXITER:
        warm = f0 is not None or g0 is not None      # (then no warm start is advised: it may be the cause, helper-111)
        msg = (f"sinkhorn: not converged after {nit} iterations (L1 marginal error {err:.3e} > tol {opts.tol:.3e}). "
               "Small eps makes Sinkhorn slow: try solvers.sns (Newton stage), a larger maxiter, "
               + ("a cold start (f0=None, g0=None: a warm start far from the solution can take longer than none) "
                  if warm else "a warm start (f0) ") + "or eps_scaling=0.5")
    elif status == Status.STOPPED:
        msg = stopped_message("sinkhorn", nit)
    elif status == Status.STAGNATED:
        msg = _stalled_message(err, opts.tol, stall, mass, eps)
    else:
        msg = "sinkhorn: NaN/inf appeared in the potentials; check that C, a, b are finite and eps is not tiny"
        lo, hi = geom.cost_bounds()
        if not math.isfinite(hi - lo) or max(abs(lo), abs(hi)) > 1e300:   # finite C whose sums overflow (helper-127)
            msg = (f"sinkhorn: NaN/inf appeared in the potentials: C spans [{lo:.3e}, {hi:.3e}], so sums of costs "
                   "and potentials overflow double precision; divide C and eps by a common factor (e.g. max |C|)")
    options = {**opts.as_dict(), "maxiter": maxiter, "check_every": check, "eps": eps,
               "warm_start": f0 is not None or g0 is not None}
    return _result.build_result("sinkhorn", inputs, geom, f, g, eps, status=status, message=msg, nit=nit,
                                history=history, stats={"iterations": nit, "eps_stages": len(stages),
                                                        **getattr(run, "stats", {})},
                                options=options, timer=timer, marginal_error=err)


def _stalled_message(err: float, tol: float, stall: _Stall, mass: float, eps: float) -> str:
    """The message of a run the stagnation test ended (``err``, ``tol`` of the problem as posed)."""
    fl, scale = stall.floor
    fl *= mass
    head = (f"sinkhorn: the marginal error stopped decreasing at {err:.3e} > tol {tol:.3e} (its smallest value fell "
            f"by less than 10 % from the first to the second half of the last {STALL_WINDOW} iterations)")
    where = f"about {fl:.1e}, computed from |f| + |g| + |C| up to {scale:.3g} at eps={eps:.3g}"
    if err <= 3.0 * fl:
        return (f"{head}: this is the rounding floor of the potentials ({where}); loosen tol, or rescale C "
                "(C - C.min(), or divide C and eps by a common factor)")
    if err <= 100.0 * fl:          # (called 'the rounding floor' at 50x it, where sns went 1000x lower: helper-138)
        return (f"{head}, within 100x of the rounding floor of the potentials ({where}), where Sinkhorn's updates "
                "no longer improve it: try solvers.sns (its Newton steps can go further), loosen tol, or rescale C "
                "(C - C.min(), or divide C and eps by a common factor)")
    return (f"{head}; the rounding floor of these potentials is about {fl:.1e}, far below: try solvers.sns, a warm "
            "start (f0) or eps_scaling=0.5")


def _handoff(inputs, run, mass: float, shift: float, timer: Timer, rule) -> Handoff:
    """The :class:`Handoff` of a run the rule stopped (potentials and errors of the problem as posed)."""
    be = inputs.be
    f = run.f + shift if mass != 1.0 else run.f
    support = inputs.support
    f = _common.expand(be, f, None if support is None else support[0], inputs.shape[0])
    errors = be.to_numpy(run.errors[:run.count]) * mass
    return Handoff(f=f, errors=errors, count=run.count, eps=run.eps, times=timer.stats(), utc_start=timer.utc_start,
                   stats=dict(getattr(run, "stats", {})), reason=rule.reason)
