"""The steps of an SNS solve (:func:`solvers.sns`): the Sinkhorn stage, the measured Newton stage, fallbacks.

:func:`solvers.ot.sns.sns` sets up the solve (its fixed data ``run``, a
:class:`~solvers.ot.sns._Run`, and its adapting state ``st``, a :class:`~solvers.ot.sns._State`),
loops over the eps stages and builds the result; the steps that act on ``run`` and ``st`` live
here:

* :func:`_sinkhorn_stage`: stage 1, Sinkhorn (float32 kernel where safe, else log domain);
* :func:`_newton_stage`: stage 2 at one eps -- :func:`_measure` (gradient, L1 marginal error,
  history row, adaptive sparsity; in kernel space via :mod:`solvers.ot._sns_kernel` or from C via
  :func:`_marginals_log`), the stopping tests, then :func:`_newton_step` (shifted sparse Newton
  direction, Armijo line search on the dual) or, when it fails, :func:`_fallback` (Sinkhorn steps,
  larger shift, denser Hessian);
* :func:`_measure_at_target` and :func:`_restore_best`: the extra history rows at the end of a run.

The method, the history rows and the references (Tang et al., ICLR 2024; Tang & Qiu, NeurIPS
2024) are described in :mod:`solvers.ot.sns`. :data:`SHARE`, :data:`BEST` and :data:`RESTART` are
defined here and re-exported there.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import nonlinear
from ..results import Status
from . import _newton, _sns_kernel
from ._scaling import ScalingRun
from .sinkhorn import SinkhornRun, _gauge

if TYPE_CHECKING:
    from .sns import _Run, _State

#: the truncated Hessian keeps, per row, at least the largest entries holding this share of the
#: row's mass (beyond the cap ``kmax``; see the module notes)
SHARE = 1.0 - 1e-4
#: history row of the best iterate, restored at a stagnation or budget exit
BEST = (4, 0.0, 0, 0)
#: history row of the current potentials re-evaluated at a new eps (stage 0)
RESTART = (0, 0.0, 0, 0)
#: an accepted Newton step whose dual gain exceeds this many times the rounding level of D
#: restarts the stall count (the marginal error can sit on a plateau while D still rises)
PROGRESS = 1e5


# ---------------------------------------------------------------------------------------------- steps
def _sinkhorn_stage(run: _Run, st: _State) -> None:
    """Stage 1: at least ``n_sinkhorn`` Sinkhorn steps, then chunks of 10 until the error is below
    ``switch_tol``, decays slowly or ``max_sinkhorn`` steps are spent. Leaves the next iterate
    unmeasured (the first Newton iteration measures it)."""
    o, xp, be = run.opts, run.geom.be.xp, run.geom.be
    buf = xp.zeros(min(o.max_sinkhorn, 1024))
    if o.domain != "log":    # float32 kernel steps where safe (at most half a cost matrix more memory)
        sk = ScalingRun(run.geom, run.a, run.b, run.log_a, run.log_b, st.eps, st.f, buf, float32=True, float64=False)
    else:
        sk = SinkhornRun(run.geom, run.a, run.b, run.log_a, run.log_b, st.eps, st.f, buf)
    status = Status.MAXITER
    while sk.count < o.max_sinkhorn:
        chunk = min(o.n_sinkhorn if sk.count == 0 else 10, o.max_sinkhorn - sk.count)
        status = sk.run(st.tol, chunk, run.check_every, measure_last=False, cb=run.cb, nit0=0)
        if status == Status.MAXITER:   # the best gauge before Newton: a warm start's offset (f ~ +2, g ~ -2)
            _gauge(sk)                  # otherwise stayed and raised the floor 4x (helper-111; sinkhorn._gauge)
        if status != Status.MAXITER or sk.err <= o.switch_tol:
            break
        h = be.to_numpy(sk.errors[:sk.count])
        if sk.count >= 20 and h[-1] > 0.9 * h[-11]:
            break
    run.history.extend(be.to_numpy(sk.errors[:sk.count]), stage=1, step=0.0, nnz=0, cg_iterations=0, eps=st.eps)
    run.counts["sinkhorn_steps"] += sk.count
    for k, v in getattr(sk, "stats", {}).items():
        if k in ("kernel_builds", "float32_steps", "log_steps"):
            run.counts[f"stage1_{k}"] = v
    st.f, st.g, st.err, st.status, st.producer = sk.f, sk.g, sk.err, status, (1, 0.0, 0, 0)
    if run.kern is not None and getattr(sk, "kernel", None) is not None:   # the Newton stage goes on with it
        run.kern.adopt(sk.kernel, sk.fb.copy(), sk.gb.copy(), st.eps)


def _marginals_log(run: _Run, st: _State):
    """``(r, c)`` of the current iterate from exponential passes over C (after the polish
    g-update in the global phase), refreshing the row LSE and truncated plan when needed."""
    geom, xp, eps, o = run.geom, run.geom.be.xp, st.eps, run.opts
    st.uv = None
    lse_c = geom.col_lse(st.f, eps)
    if o.polish and st.prev_err > o.polish_above:
        st.g = eps * (run.log_b - lse_c)      # exact column marginals; never decreases D
        st.lse_r = None
        c = run.b
    else:
        c = xp.exp(st.g / eps + lse_c)
    if st.lse_r is None:
        st.lse_r, st.csr = geom.row_lse_sparse(st.g, st.f, eps, st.rho, st.kmax, SHARE)
        st.csr_key = (st.rho, st.kmax)
    with np.errstate(over="ignore"):   # an overflowing row sum makes err infinite: handled as non-finite below
        r = xp.exp(st.f / eps + st.lse_r)
    return r, c


def _measure(run: _Run, st: _State):
    """Gradient and L1 marginal error of the current iterate, in kernel space while that is safe
    and the error is in the float32 range (:mod:`solvers.ot._sns_kernel`), else from C (global
    phase: after a free Sinkhorn update of g); records the history row."""
    geom, xp, eps = run.geom, run.geom.be.xp, st.eps
    rc = _sns_kernel.marginals(run, st, SHARE) if run.kern is not None else None
    if rc is not None:
        r, c = rc
        gf, gg = run.a - r, run.b - c
        st.err = err = float(xp.abs(gf).sum() + xp.abs(gg).sum())
        run.kern.stats["newton_kernel_iterations"] += 1
        if not err > run.kern.handover:    # below the float32 range: measured again from C in float64
            run.kern.retire(eps)
            rc = None
    if rc is None:
        r, c = _marginals_log(run, st)
        gf, gg = run.a - r, run.b - c
        st.err = err = float(xp.abs(gf).sum() + xp.abs(gg).sum())
        if run.kern is not None:
            run.kern.stats["newton_log_iterations"] += 1
    nit = len(run.history)
    run.record(err, st.producer, eps)
    if math.isfinite(err) and (st.best is None or err < st.best[0] or st.best[3] != eps):
        st.best = (err, st.f.copy(), st.g.copy(), eps)
    if run.cb and nit >= run.cb.first and run.cb(xp.concatenate([st.f, st.g]), nit, f=st.f, g=st.g, marginal_error=err, eps=eps):
        st.status = Status.STOPPED
    stage, step, nnz = st.producer[:3]
    # adaptive sparsity: a full Newton step with only linear progress means the truncated Hessian
    # is too crude -> keep more entries per row
    if stage == 2 and step == 1.0 and err < 1e-3 and err > 0.25 * st.prev_err and nnz < geom.n * geom.m:
        st.rho, st.kmax = run.fallback.denser(st.rho, st.kmax, geom.m)
    return r, c, gf, gg


def _newton_step(run: _Run, st: _State, r, c, gf, gg) -> bool:
    """One safe Newton step: shifted sparse direction, Armijo line search on D. True if accepted."""
    xp, eps, f, g = run.geom.be.xp, st.eps, st.f, st.g
    be = run.geom.be
    D = be.dot(run.a, f) + be.dot(run.b, g) - eps * float(r.sum())
    if st.csr is not None and st.csr_key == (st.rho, st.kmax):
        csr = st.csr  # built in the same pass as the row LSE
    elif st.uv is not None:
        csr = run.kern.rows_sparse(*st.uv, st.rho, st.kmax, SHARE)[1]
    else:
        csr = run.geom.sparse_plan(f, g, eps, st.rho, st.kmax, SHARE)
    d = _newton.newton_direction(run.geom.be, csr, r, c, gf, gg, eps, st.damping.shift(st.err),
                                 run.forcing(st.err), run.cg_maxiter)
    del csr                   # memory: the line search builds the trial points' plans (and a failed
    st.csr = None             # search lowers rho, so this plan would be rebuilt anyway)
    run.counts["cg_iterations"] += d.cg_iterations
    st.it += 1
    if not d.usable:
        return False
    dmax = float(xp.abs(d.df).max() + xp.abs(d.dg).max())
    fmax = max(1.0, float(xp.abs(f).max()))
    # round-off level of D: near the solution the Armijo gain drops below it, and then the step is
    # judged by the marginal error instead
    noise = 1e-13 * (be.dot(xp.abs(run.a), xp.abs(f)) + be.dot(xp.abs(run.b), xp.abs(g)) + eps)
    kernel = st.uv is not None and run.kern.trial_scalings(*st.uv, d.df, d.dg, eps) is not None
    if st.uv is not None and not kernel:   # the step leaves the kernel's window: this search in the log
        with np.errstate(over="ignore"):   # domain, from the dual value computed there
            D = (be.dot(run.a, f) + be.dot(run.b, g)
                 - eps * float(xp.exp(f / eps + run.geom.row_lse(g, eps)).sum()))
    trial = _newton.Trial(run, st, d, SHARE, kernel)
    ls = nonlinear.armijo_backtracking(trial, -D, -d.slope, step_norm=dmax, xtol=1e-15 * fmax, noise=noise,
                                       noise_test=trial.marginals_improve)
    run.counts["line_search_evals"] += ls.evals
    if not ls.accepted:
        return False
    st.stall.update(st.err)
    st.f, st.g, st.lse_r, st.csr = trial.point
    if -ls.value - D > PROGRESS * noise and \
            st.err > PROGRESS * run.geom.rounding_floor(st.f, st.g, eps, run.a, run.b)[0]:
        # the dual still rises well above its rounding level, far from the rounding floor of the
        # marginals: not a stall, even while the L1 error sits on a plateau (small eps: the
        # potentials cross the flat stretches of the error; measured on a 7 x 5 problem at eps
        # 1e-4, 38 steps on one plateau, then convergence in 80 more)
        st.stall.count = 0
    st.csr_key = (st.rho, st.kmax)
    run.counts["newton_steps"] += 1
    st.damping.step_taken(ls.alpha)
    st.producer = (2, ls.alpha, d.nnz, d.cg_iterations)
    st.prev_err = st.err
    return True


def _fallback(run: _Run, st: _State, buf) -> None:
    """The line search failed: larger shift, denser Hessian, then ``n_fallback`` Sinkhorn steps."""
    st.damping.step_failed()
    st.rho, st.kmax = run.fallback.step_failed(st.rho, st.kmax, run.geom.m)
    n = min(run.fallback.n_steps, max(1, run.maxiter - st.it))   # never beyond the budget
    sk = SinkhornRun(run.geom, run.a, run.b, run.log_a, run.log_b, st.eps, st.f, buf)
    status = sk.run(st.tol, n, n, measure_last=False, cb=run.cb, nit0=len(run.history))
    run.history.extend(run.geom.be.to_numpy(sk.errors[:sk.count]), stage=3, step=0.0, nnz=0, cg_iterations=0,
                       eps=st.eps)
    run.counts["sinkhorn_steps"] += sk.count
    st.it += sk.count - 1
    st.f, st.g, st.lse_r, st.producer = sk.f, sk.g, None, (3, 0.0, 0, 0)
    if status != Status.MAXITER:
        st.status, st.err = status, sk.err


def _measure_at_target(run: _Run, st: _State, eps: float, tol: float) -> None:
    """A run stopped (budget, callback) during an intermediate eps stage: one more row, the current
    potentials at the problem's eps (after the polish g-update), so the result is consistent."""
    status = st.status
    st.eps, st.tol, st.lse_r, st.prev_err, st.producer = eps, tol, None, math.inf, RESTART
    cb = run.cb
    if status == Status.STOPPED:       # the callback raised StopIteration: it is not called again (helper-123)
        run.cb = None
    try:
        _measure(run, st)
    finally:
        run.cb = cb
    st.status = Status.NONFINITE if not math.isfinite(st.err) else Status.CONVERGED if st.err <= tol else status


def _newton_stage(run: _Run, st: _State) -> None:
    """Stage 2 at the current eps: measure, stop or step, until converged (or out of budget)."""
    buf = run.geom.be.xp.zeros(min(run.fallback.n_steps, 1024))
    while True:
        r, c, gf, gg = _measure(run, st)
        if st.status == Status.STOPPED:
            return
        if not math.isfinite(st.err):
            st.status = Status.NONFINITE
        elif st.err <= st.tol:
            st.status = Status.CONVERGED
        elif st.stall.stalled:
            st.status = Status.STAGNATED
        elif st.it >= run.maxiter:
            st.status = Status.MAXITER
        if st.status != Status.MAXITER or st.it >= run.maxiter:
            return
        if not _newton_step(run, st, r, c, gf, gg):
            _fallback(run, st, buf)
            if st.status != Status.MAXITER:
                return


def _restore_best(run: _Run, st: _State) -> None:
    """Stagnation, budget or NaN/inf exit at the problem's eps: return the best measured iterate when the
    current one is worse or not finite (one more history row, stage 4, with its measured error)."""
    if st.best is None or st.best[3] != st.eps or not (st.best[0] < st.err or math.isnan(st.err)):
        return
    st.err, st.f, st.g = st.best[0], st.best[1], st.best[2]
    run.record(st.err, BEST, st.eps)
