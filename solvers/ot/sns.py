"""Sinkhorn-Newton-Sparse (SNS) with a safe Newton stage.

Stage 1 runs Sinkhorn (with ``domain="auto"`` in kernel space with a float32 kernel where
that is safe, :mod:`solvers.ot._scaling`, else log-domain); stage 2 runs Newton's method
(its plan, gradient and truncated Hessian from the same kernel while that is safe and the
error is above 1e-5, :mod:`solvers.ot._sns_kernel`) on the concave dual
(the Lyapunov potential of the paper, written for our primal
``<P, C> + eps sum P (log P - 1)``):

    D(f, g) = <a, f> + <b, g> - eps * sum_ij exp((f_i + g_j - C_ij) / eps).

With this primal the last term is exactly ``-eps * sum P`` with no extra constant. The
paper writes ``-(1/eta) sum exp(eta (x_i + y_j - C_ij) - 1) + <r, x> + <c, y>`` with
``eta = 1/eps`` because its entropy is ``sum P log P``; its potentials relate to ours by
``x = f + eps`` (any split of the shift between x and y), and the plans coincide.
Gradient and Hessian:

    grad D = (a - P 1, b - P^T 1),   -eps * hess D = H = [[diag(r), P], [P^T, diag(c)]],

``r = P 1``, ``c = P^T 1``. H is PSD with null vector (1, -1) (the gauge
``f + t, g - t``). The Newton system ``H d = eps * grad D`` is sparsified and made safe:

* the diagonal blocks ``diag(r)``, ``diag(c)`` are exact; the off-diagonal block is
  ``P`` truncated per row to the entries ``>= rho * max_j P_ij``, the ``kmax`` largest --
  unless those hold less than :data:`SHARE` (1 - 1e-4) of the row's mass: then the fewest largest
  entries that do, so the sparsity follows the plan (a point cloud whose clusters are
  larger than ``kmax`` keeps whole clusters; a fixed cap drops half of each row there and
  the Newton steps stall). Built as CSR by the kernel set. Truncation only removes
  positive entries, so the sparsified H stays PSD;
* a Levenberg-Marquardt shift, Marquardt-scaled: ``H + delta diag(H)`` =
  ``[[diag(r (1 + delta)), P], [P^T, diag(c (1 + delta))]]`` with ``delta = mu * err``
  (``err`` the L1 marginal error; Tang & Qiu's safe and sparse Newton uses the
  unscaled ``H + delta I``; scaling by the diagonal keeps rows with tiny weights, e.g.
  Gaussian tails on a grid, from being frozen by the shift). Since the row sums of
  the truncated ``P`` are at most ``r``, the shifted matrix is SPD -- this is how the
  (1, -1) null direction is fixed -- and the shift vanishes as the iteration
  converges, which keeps the fast local rate;
* ``d_f`` is eliminated (Schur complement on the g-block,
  ``S = diag(c (1 + delta)) - P^T diag(1 / (r (1 + delta))) P``, SPD), ``S d_g = rhs`` is
  solved by :func:`solvers.cg` with a Jacobi preconditioner to a relative
  tolerance ``min(cg_rtol, sqrt(err))`` (inexact Newton, superlinear), then
  ``d_f = (eps grad_f - P d_g) / (r (1 + delta))``;
* an Armijo backtracking line search on ``D``; ``mu`` is divided by 4 after a full
  step and multiplied by 4 after a damped one. When the line search fails the
  iteration falls back to ``n_fallback`` Sinkhorn steps, raises ``mu`` and lowers
  ``rho`` (denser Hessian), so every case makes progress. These parts are the shared
  Newton machinery of :mod:`solvers.nonlinear` (``armijo_backtracking`` with a
  noise-level hook, ``MarquardtDamping``, ``SqrtResidualForcing``, ``FallbackPolicy``,
  ``StallMonitor``);
* global phase (error > ``polish_above``): each Newton iteration starts with a
  Sinkhorn g-update computed from the column LSE that the gradient needs anyway;
* eps-continuation (default): for eps below ``eps_start`` times the cost range the
  problem is solved for eps, 10 eps, 100 eps, ... from the largest down, each warm
  started (the Newton global phase at very small eps is otherwise long); a warm start
  already close at eps (marginal error <= ``WARM_DIRECT``) skips it;
* 30 Newton steps without a new best error end the run as ``stagnated`` (a step that raises
  the dual by more than ``PROGRESS`` times its rounding level, away from the rounding floor of
  the marginals, restarts the count: at small eps the error can sit on a plateau for dozens of
  steps while the dual rises, :mod:`solvers.ot._sns_stages`); the best iterate
  seen is returned (one more history row, ``stage`` 4, when it is not the current one) and
  the message compares its error with the rounding floor computed for it.

Every returned pair is measured once more from ``f`` and ``g`` themselves
(:func:`solvers.ot._common.verify`: ``(f_i + g_j - C_ij) / eps`` summed first, errors relative
to the weights), and ``converged``, the message and ``res.marginal_error`` follow that
measurement. A warm start ``f0`` is re-centred first, so a constant offset (1e8, 1e16) does
not reach the exponents.

History: one row per measured iterate (entry 0 = the starting point), ``nit + 1`` rows.
Stage 1 measures its Sinkhorn iterates as in :mod:`solvers.ot.sinkhorn`; every Newton
iteration measures the current iterate (after the global-phase polish) before stepping, and
the row says what produced that iterate (``stage`` 1 Sinkhorn, 2 Newton, 3 fallback
Sinkhorn, 0 the potentials re-evaluated at a new eps, 4 the best iterate restored; ``step``,
``nnz``, ``cg_iterations`` of the Newton step, 0 otherwise) and at which ``eps``. A fallback restarts Sinkhorn from the
current ``f`` (one more row). A run stopped during an intermediate eps stage (budget or
callback) ends with one more row: its last potentials measured at the problem's eps, which
are the potentials returned. ``nit`` (rows minus one) is thus the number of Sinkhorn and
Newton steps plus one per restart (each new eps stage, each fallback); the work itself is
counted in ``stats``.

Stage 1 -> 2 switch: after at least ``n_sinkhorn`` Sinkhorn steps, as soon as the
marginal error is below ``switch_tol`` or has stopped falling fast (ratio over the
last 10 iterations > 0.9) or ``max_sinkhorn`` steps were spent. The defaults
(5 steps, ``switch_tol=1``) switch early: with the safe Newton stage (shift, line
search, Sinkhorn polish in the global phase) a long warm-up only costs time
(measured at n = 1000: 5 warm-up steps need ~35-60 % fewer kernel passes in total
than 20-50 at eps = 1e-2 ... 1e-4).

References
----------
X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao,
L. Ying, "Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024,
arXiv:2401.12253.
X. Tang, Y. Qiu, "Safe and sparse Newton method for entropic-regularized optimal
transport", NeurIPS 2024.

Layout: this module holds the driver :func:`sns`, the solve's fixed data (``_Run``) and
adapting state (``_State``) and the final message; the steps of the two stages (Sinkhorn,
measure, Newton step, fallback) are in :mod:`solvers.ot._sns_stages`, which also defines
:data:`SHARE`, :data:`BEST` and :data:`RESTART` (re-exported here).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import nonlinear
from ..results import Callback, Status, Timer, stopped_message
from . import _common, _mass, _options, _result, _sns_stages
from ._sns_kernel import NEWTON_KERNEL_MAX, NewtonKernel
from ._sns_stages import _measure_at_target, _newton_stage, _restore_best, _sinkhorn_stage

#: Newton steps without a new best marginal error before the run ends as stagnated
PATIENCE = 30
#: the Hessian's row-mass share, the best-iterate and restart history rows (defined with the steps)
SHARE, BEST, RESTART = _sns_stages.SHARE, _sns_stages.BEST, _sns_stages.RESTART


@dataclass
class _Run:
    """What stays fixed during a solve: data, geometry, options and the shared records."""

    geom: _common.Geometry
    opts: _options.SNSOptions
    a: object
    b: object
    log_a: object
    log_b: object
    kmax: int
    cg_maxiter: int
    maxiter: int
    check_every: int
    cb: Callback
    history: _result.History
    forcing: nonlinear.SqrtResidualForcing
    fallback: nonlinear.FallbackPolicy
    eps: float = math.nan          # the problem's eps (set at the end, for the message)
    kern: NewtonKernel = None      # the Newton stage's float32 kernel (None: log domain only)
    counts: dict = field(default_factory=lambda: {"sinkhorn_steps": 0, "newton_steps": 0, "cg_iterations": 0,
                                                   "line_search_evals": 0})

    def record(self, err: float, producer: tuple, eps: float) -> None:
        stage, step, nnz, ncg = producer
        self.history.append(marginal_error=err, stage=stage, step=step, nnz=nnz, cg_iterations=ncg, eps=eps)


@dataclass
class _State:
    """What adapts: the iterate, the current eps stage, the Hessian sparsity and damping."""

    f: object
    g: object
    eps: float
    tol: float
    rho: float
    kmax: int
    damping: nonlinear.MarquardtDamping
    lse_r: object = None           # row LSE of the current iterate (None: recompute)
    csr: object = None             # truncated plan from the same pass, built for the sparsity csr_key
    csr_key: tuple = None
    producer: tuple = (1, 0.0, 0, 0)   # (stage, step, nnz, cg iterations) of what made (f, g)
    prev_err: float = math.inf     # error before the last accepted Newton step
    err: float = math.inf
    status: str = Status.MAXITER
    it: int = 0                    # stage-2 budget spent
    best: tuple = None             # (err, f, g, eps) of the best measured iterate at the current eps
    uv: tuple = None               # kernel scalings (u, v) of the current iterate (None: log domain)
    stall: nonlinear.StallMonitor = field(default_factory=lambda: nonlinear.StallMonitor(PATIENCE))


def _message(st: _State, run: _Run, tol: float, note, floor) -> str:
    c, err = run.counts, st.err
    if st.status == Status.CONVERGED:
        return (f"sns: converged, L1 marginal error {err:.3e} <= tol {tol:.3e} after {c['sinkhorn_steps']} Sinkhorn "
                f"and {c['newton_steps']} Newton steps" + (f"; {note}" if note else ""))
    if note:
        return f"sns: {note}"
    if st.status == Status.STAGNATED:
        head = (f"sns: the marginal error stopped decreasing at {err:.3e} > tol {tol:.3e} ({PATIENCE} Newton steps "
                "without a new best)")
        fl, scale = floor
        if err <= 10 * fl:
            return (f"{head}: this is the rounding floor of the potentials (about {fl:.1e}, computed from |f| + |g| + "
                    f"|C| up to {scale:.3g} at eps={run.eps:.3g}); loosen tol, or rescale C")
        return (f"{head}; the rounding floor of these potentials is about {fl:.1e}, far below: the Newton model is "
                "too crude here; try a smaller rho, a larger kmax, a larger n_sinkhorn, or solvers.sinkhorn")
    if st.status == Status.NONFINITE:
        return "sns: NaN/inf appeared in the potentials or marginals; check C, a, b and eps"
    if st.status == Status.STOPPED:
        return stopped_message("sns", len(run.history) - 1)
    head = (f"sns: not converged within maxiter={run.maxiter} stage-2 iterations (L1 marginal error {err:.3e} > "
            f"tol {tol:.3e})")
    fl, scale = floor if floor is not None else (0.0, 0.0)
    if not fl < tol:                             # (inf / NaN too) more iterations cannot get below rounding
        return (f"{head}; the rounding floor of these potentials is about {fl:.1e} (a worst-case bound from |f| + |g| "
                f"+ |C| up to {scale:.3g} at eps={run.eps:.3g}): this accuracy is likely out of reach in double "
                "precision; loosen tol, rescale C (C - C.min(), or divide C and eps by a common factor) or raise eps")
    return f"{head}; try a larger maxiter, a smaller rho (denser Hessian) or a larger n_sinkhorn"


# ---------------------------------------------------------------------------------------------- driver
#: a warm start whose marginal error at the target eps (L1, unit mass, after a g-update) is at most this skips the
#: eps continuation (``eps_scaling="auto"``): solved directly it took fewer iterations than through the continuation
#: up to errors of about 0.45, and more from 0.6 (n = 1000, eps = 1e-4 and 1e-5, warm starts from the solutions at
#: 1.5 ... 100 eps; at eps = 1e-5 from 3 eps: 16 against 34 iterations, 0.22 against 0.41 s; from 100 eps: 45
#: against 27; session 27, ``/tmp/s27/snswarm2.py``)
WARM_DIRECT = 0.3


def _warm_error(geom, f, run, eps) -> float:
    """The L1 marginal error at ``eps`` of the warm start ``f`` with its exact ``g`` (two LSE passes): the row
    marginals are ``a_i exp((f_i - f'_i) / eps)`` with ``f'`` the Sinkhorn update of that ``g``."""
    xp = geom.be.xp
    g = geom.g_update(f, run.log_b, eps)
    fn = geom.f_update(g, run.log_a, eps)
    with np.errstate(over="ignore", invalid="ignore"):
        e = float(xp.sum(run.a * xp.abs(xp.expm1((f - fn) / eps))))
    return e if math.isfinite(e) else math.inf


def sns(data, a=None, b=None, *, eps: float | None = None, tol: float = 1e-9, maxiter: int | None = None, f0=None,
        g0=None, n_sinkhorn: int = 5, max_sinkhorn: int = 2000, switch_tol: float = 1.0, rho: float = 1e-8,
        kmax: int | None = None, mu0: float = 1.0, eps_scaling: float | str | None = "auto", eps_start: float = 1e-3,
        polish: bool = True, polish_above: float = 1e-3, cg_rtol: float = 1e-2, cg_maxiter: int | None = None,
        n_fallback: int = 10, domain: str = "auto", callback=None, backend=None):
    """Sinkhorn-Newton-Sparse: Sinkhorn warm-up, then safe sparse Newton on the dual.

    SNS pays at small eps. Where eps is large against the cost range, plain Sinkhorn needs only tens to
    hundreds of iterations and is the faster choice (``benchmarks/ot_sns.py``: at eps = 0.1 on the unit
    cost range, 0.018 s against 0.20 s at n = 1000, 0.14 s against 1.8 s at n = 3000; SNS is ahead from
    eps = 3e-3 down). ``solvers.solve(problem)`` (``method="auto"``) chooses between them by a measured rule.

    Parameters
    ----------
    data : problems.ot.EntropicOT or (n, m) array
        A problem (anything with ``C``, ``a``, ``b``, ``eps``), or the cost matrix itself, POT
        style: ``sns(C, a, b, eps=1e-3)``.
        A float32 ``C`` (at least 2**20 entries) is used without a float64 copy: half the
        memory, the same answer as for ``float64(C)`` (every kernel computes in float64).
    a, b : arrays, optional
        Only with a cost matrix: the weights (uniform when None).
    eps : float
        Only with a cost matrix (a problem carries its own): the regularisation, > 0.
    tol : float
        Stop when the L1 marginal error ``|P 1 - a|_1 + |P^T 1 - b|_1 <= tol``.
    maxiter : int, optional
        Budget of stage-2 iterations (Newton steps plus fallback Sinkhorn steps; default 1000).
    f0, g0 : arrays, optional
        Warm start (as in :func:`solvers.sinkhorn`). With ``eps_scaling="auto"`` a warm start whose
        marginal error at ``eps`` is at most :data:`WARM_DIRECT` (0.3) is solved at ``eps`` directly,
        without the continuation (``stats["warm_start_error"]`` reports that error; an exact ``f0``
        then costs no iteration).
    n_sinkhorn, max_sinkhorn, switch_tol : int, int, float
        Stage-1 length: at least ``n_sinkhorn`` steps, at most ``max_sinkhorn``, stopping early
        once the error is below ``switch_tol`` or decays slowly.
    rho : float in (0, 1)
        Relative truncation: keep ``P_ij >= rho * max_j P_ij`` per row.
    kmax : int, optional
        Cap on kept entries per row (default ``max(16, m // 10)``); a row whose ``kmax``
        largest entries hold less than ``SHARE`` (1 - 1e-4) of its mass keeps more.
    mu0 : float
        Initial Levenberg-Marquardt factor (relative shift ``delta = mu * err``).
    eps_scaling : float in (0, 1), "auto" or None
        (default "auto" = 0.1: continuation from ``eps_start`` times the cost range, which only
        has an effect for smaller ``eps``; measured at n = 1000 it cuts the kernel passes at
        eps = 1e-4 by 40 % and makes grid problems with tiny weights converge.) Continuation:
        solve for ``eps_k = eps / eps_scaling**k`` from the first value above
        ``eps_start * (C.max() - C.min())`` down to ``eps`` (each stage warm-started,
        intermediate stages to tolerance 1e-6). Stage 1 (Sinkhorn) runs at the first eps.
    eps_start : float, default 1e-3
        Where the continuation starts, relative to the cost range ``C.max() - C.min()`` (see
        ``eps_scaling``); an ``eps`` at or above it runs a single stage.
    polish, polish_above : bool, float
        While the error exceeds ``polish_above``, every Newton iteration starts with a free
        Sinkhorn g-update (it reuses the column LSE of the gradient).
    cg_rtol, cg_maxiter : float, int
        Inexact Newton: CG stops at ``min(cg_rtol, sqrt(err))`` relative residual
        (default ``cg_maxiter`` 10 m).
    n_fallback : int
        Sinkhorn steps taken when the line search fails.
    domain : {"auto", "kernel", "log"}
        ``"auto"``: stage 1 in kernel space with a float32 kernel where that is safe (see
        :mod:`solvers.ot._scaling`; half a cost matrix of extra memory), and the Newton
        stage's plan, gradient and truncated Hessian from the same kernel while the error is
        above 1e-5 and the kernel is safe (:mod:`solvers.ot._sns_kernel`) -- for cost matrices
        of at most ``NEWTON_KERNEL_MAX`` (2.5e7) entries; larger ones free the kernel after
        stage 1 (peak 1.5 x C). ``"kernel"``: the kernel in the Newton stage at any size.
        ``"log"``: exponential passes over C only (no extra n x m memory).
    callback : callable, optional
        ``callback(intermediate_result)`` at every measured iterate (Sinkhorn and Newton), with
        ``f``, ``g``, ``marginal_error``, ``eps`` (the stage's), ``nit`` and ``x = [f, g]`` (copies, as every array field);
        ``callback(xk)`` receives ``x``. Raising StopIteration stops the run.
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        As :func:`solvers.sinkhorn`, with ``history`` rows ``marginal_error``, ``stage``
        (1 = Sinkhorn, 2 = Newton, 3 = fallback Sinkhorn inside stage 2, 0 = re-evaluated at a
        new eps, 4 = best iterate restored), ``step`` (line-search
        step, 0 for Sinkhorn rows), ``nnz``, ``cg_iterations`` and ``eps`` (``nit + 1`` rows,
        see the module notes); ``stats`` counts Sinkhorn and Newton steps, CG iterations,
        line-search evaluations, fallbacks and densifications, and reports the adapted
        ``final_rho``, ``final_kmax``, ``final_mu``. ``options`` is what was asked for.
        ``marginal_error`` is the error of the returned potentials, re-measured (module notes).
    """
    opts = _options.SNSOptions(tol=tol, maxiter=maxiter, n_sinkhorn=n_sinkhorn, max_sinkhorn=max_sinkhorn,
                               switch_tol=switch_tol, rho=rho, kmax=kmax, mu0=mu0, eps_scaling=eps_scaling,
                               eps_start=eps_start, polish=polish, polish_above=polish_above, cg_rtol=cg_rtol,
                               cg_maxiter=cg_maxiter, n_fallback=n_fallback, domain=domain)
    inputs = _common.read_inputs("sns", data, a, b, eps, backend, f0, g0)
    timer = Timer(inputs.be)
    xp, eps = inputs.be.xp, inputs.eps
    geom = inputs.geometry()
    # the solve runs on unit mass (its thresholds -- shift, switch_tol, polish_above, the float32
    # range -- are absolute); potentials and errors are mapped back (f + eps log mass, err * mass)
    an, bn, tol, mass, shift = _mass.unit_mass(inputs, opts.tol)
    cb = _mass.MassCallback(callback, shift, mass, xp, inputs)
    stages = [eps]
    if opts.factor is not None:
        auto = opts.eps_scaling == "auto"
        top = _options.schedule_range(geom)    # (forbidden-pair costs; an explicit factor too: helper-138)
        stages = _options.eps_stages_up(eps, opts.eps_start * top, opts.factor, clip=auto)
    m = geom.m
    run = _Run(geom, opts, an, bn, xp.log(an), xp.log(bn),
               kmax=max(16, m // 10) if opts.kmax is None else opts.kmax,
               cg_maxiter=10 * m if opts.cg_maxiter is None else opts.cg_maxiter,
               maxiter=1000 if opts.maxiter is None else opts.maxiter, check_every=geom.K.CHECK_EVERY, cb=cb,
               history=_result.History(marginal_error=float, stage=np.int8, step=float, nnz=np.int64,
                                       cg_iterations=np.int64, eps=float),
               forcing=nonlinear.SqrtResidualForcing(eta_max=opts.cg_rtol, eta_min=min(1e-12, opts.cg_rtol)),
               fallback=nonlinear.FallbackPolicy(opts.n_fallback))
    if opts.domain == "kernel" or (opts.domain == "auto" and geom.n * geom.m <= NEWTON_KERNEL_MAX):
        run.kern = NewtonKernel(geom, tol)
    warm_err, f = None, None
    if len(stages) > 1 and opts.eps_scaling == "auto" and (inputs.f0 is not None or inputs.g0 is not None):
        # a warm start close to the solution at eps is worth more than the continuation, which would move
        # it to the first stage's eps and back (an exact f0 at eps = 1e-4, n = 1000: 19 iterations, 0.135 s)
        f = inputs.f0 if inputs.f0 is not None else geom.f_update(inputs.g0, run.log_a, eps)
        warm_err = _warm_error(geom, f, run, eps)
        if warm_err <= WARM_DIRECT:
            stages = [eps]             # (f from g0 is then the one at stages[0]: not computed again)
        elif inputs.f0 is None:
            f = None
    if f is None:
        f = (inputs.f0 if inputs.f0 is not None else xp.zeros(geom.n) if inputs.g0 is None
             else geom.f_update(inputs.g0, run.log_a, stages[0]))
    st = _State(f, None, stages[0], tol, opts.rho, run.kmax, nonlinear.MarquardtDamping(opts.mu0))
    for s, eps_s in enumerate(stages):
        st.eps, st.tol = eps_s, tol if s == len(stages) - 1 else max(tol, 1e-6)
        st.prev_err, st.stall = math.inf, nonlinear.StallMonitor(PATIENCE)
        if s == 0:
            _sinkhorn_stage(run, st)
        else:
            st.status, st.lse_r, st.producer = Status.MAXITER, None, RESTART
        if st.status == Status.MAXITER:
            _newton_stage(run, st)
        if st.status in (Status.NONFINITE, Status.STOPPED, Status.MAXITER):
            break
    if st.status in (Status.STAGNATED, Status.MAXITER, Status.NONFINITE) and st.eps == eps:
        _restore_best(run, st)          # (NaN/inf met: verify reports the finite best as stagnated; review)
    if st.status in (Status.STOPPED, Status.MAXITER) and st.eps != eps:
        _measure_at_target(run, st, eps, tol)
    if mass != 1.0:
        st.f = st.f + shift
        run.history.scale("marginal_error", mass)
    st.status, st.err, note = _common.verify(geom, st.f, st.g, eps, inputs.a, inputs.b, opts.tol, st.status)
    if not math.isnan(st.err):       # the last row: the returned potentials' error as measured, not the estimate
        run.history.set_last("marginal_error", st.err)
    floor = (geom.rounding_floor(st.f, st.g, eps, inputs.a, inputs.b)
             if st.status in (Status.STAGNATED, Status.MAXITER) and not note else None)
    run.eps = eps
    nit = len(run.history) - 1
    stats = {**run.counts, "fallbacks": run.fallback.failures, "densify": run.fallback.densified, "iterations": nit,
             "final_rho": st.rho, "final_kmax": st.kmax, "final_mu": st.damping.mu, "eps_stages": len(stages),
             **({} if warm_err is None else {"warm_start_error": warm_err}),
             **(run.kern.stats if run.kern is not None else {})}
    run.kern = None                  # free the kernel before the result is built
    options = {**opts.as_dict(), "maxiter": run.maxiter, "kmax": run.kmax, "cg_maxiter": run.cg_maxiter, "eps": eps,
               "warm_start": f0 is not None or g0 is not None}
    return _result.build_result("sns", inputs, geom, st.f, st.g, eps, status=st.status,
                                message=_message(st, run, opts.tol, note, floor), nit=nit, history=run.history,
                                stats=stats, options=options, timer=timer, marginal_error=st.err)
