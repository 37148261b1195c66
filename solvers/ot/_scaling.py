"""Kernel-space (scaling) Sinkhorn with absorption into the potentials, and its safety switch.

The log-domain iteration of :mod:`solvers.ot.sinkhorn` evaluates ``n m`` exponentials per
half step. The scaling form of the same iteration (Cuturi 2013) works with a precomputed
*stabilised* kernel ``K_ij = exp((fb_i + gb_j - C_ij) / eps)`` for reference potentials
``(fb, gb)`` and only multiplies by it:

    u <- a / (K v),    v <- b / (K^T u),    f = fb + eps log u,  g = gb + eps log v,

two matrix-vector products per iteration instead of two exp passes. It is the same
iteration, iterate by iterate. It is *safe* while nothing under- or overflows: Schmitzer
(2019, "Stabilized sparse scaling algorithms for entropy regularized transport problems",
SIAM J. Sci. Comput. 41, Algorithm 2) absorbs the scalings into the reference potentials
(``fb += eps log u``, ``u = 1``, the kernel rebuilt from C: one exp pass) whenever they leave
a fixed range, so the kernel stays close to the plan itself. Here:

* a kernel is built at an iterate whose g is the exact column update (``v`` is recomputed
  from the new kernel), except the first: its reference ``gb_j = min_i (C_ij - f_i) + eps log b_j``
  (column minima, no exponential pass: each column's largest exponent is ``log b_j``, the
  exact update's is at most that) -- its ``v = b / K^T 1`` makes the iterate the same one, and
  ``g`` is made exact before any log-domain step (:meth:`ScalingRun._exact_g`). A kernel is
  accepted only when every row's largest exponent
  ``max_j (fb_i + gb_j - C_ij) / eps`` lies in ``[LOG_TINY, LOG_HUGE]`` of its precision
  (:data:`FLOAT64`: ``[-230, 230]``; :data:`FLOAT32`: ``[-25, 25]``), so no row of K underflows
  to zero and no product overflows; the scalings are absorbed when they leave
  ``[1/ABSORB, ABSORB]`` (1e30 / 1e6) or stop being finite and positive;
* when a kernel is not safe (tiny eps or huge costs seen from the current potentials, a row
  far from every column, tiny weights), or when absorptions come faster than one per
  :data:`MIN_RUN` iterations (then the exp pass of each rebuild costs as much as the log
  steps it saves), the run continues with log-domain steps for :data:`LOG_CHUNK` iterations
  and then tries a kernel again. So the decision is taken from the data (eps, the costs, the
  weights, seen through the current potentials) and re-taken as the potentials move;
* float32 kernels: while the marginal error is above :data:`FLOAT32_UNTIL` (1e-5) a float32
  kernel does the work (half the memory traffic; the rows are accumulated in float64 by the
  Numba set); below, the kernel is rebuilt in float64, so the errors that decide
  convergence are measured with a float64 kernel -- and every solver re-measures the
  returned potentials from C in float64 before it claims anything
  (:func:`solvers.ot._common.verify`). Errors recorded during the float32 phase are accurate
  to about 1e-7 (absolute). The float32 phase costs one extra kernel build (an exp pass over
  C), which pays only when it saves enough iterations' worth of traffic: where both precisions
  are allowed, a run starts in float64 and measures :data:`FLOAT32_PROBE` iterations; it moves
  to float32 only when the error's last decay ratio predicts more than :data:`FLOAT32_PAYS`
  iterations to the handover (:meth:`ScalingRun._float32_pays`). Measured (n = m = 1000, 2 threads, Xeon,
  ad-hoc ``/tmp/s10/f32.py``): a kernel build costs about as much as 25-30 float32 iterations
  save; always-float32 was 3-5 % slower than float64-only at eps = 0.1 (16 iterations; 7-14 %
  at n = 400 and 700) and 9-11 % faster at eps = 0.01 (176 iterations).

Each measured iterate's error is its row error ``sum_i |a_i - u_i (K v)_i|`` (the columns
are exact after the v-update), the same quantity, at the same iterates, as the log-domain
run records.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..results import Status
from .sinkhorn import SinkhornRun


@dataclass(frozen=True)
class Precision:
    """A kernel precision and the exponent/scaling window in which it is safe."""

    dtype: type
    log_tiny: float
    log_huge: float
    absorb: float


FLOAT64 = Precision(np.float64, -230.0, 230.0, 1e30)
FLOAT32 = Precision(np.float32, -25.0, 25.0, 1e6)
#: the float32 kernel is used while the marginal error is above this
FLOAT32_UNTIL = 1e-5
#: float64 iterations measured before deciding whether a float32 phase pays
FLOAT32_PROBE = 4
#: predicted iterations to the handover above which the float32 phase pays for its kernel build
FLOAT32_PAYS = 40
#: log-domain iterations after an unsafe kernel (or too frequent absorptions) before trying again
LOG_CHUNK = 50
#: more than one absorption per this many iterations (three in a row) switches to log steps
MIN_RUN = 4


class ScalingRun(SinkhornRun):
    """A Sinkhorn run that works in kernel space where that is safe (module notes) and in the
    log domain elsewhere; the interface of :class:`~solvers.ot.sinkhorn.SinkhornRun`
    (``run``, ``restart``, ``f``, ``g``, ``errors``, ``count``, ``err``).

    Parameters
    ----------
    geom, a, b, log_a, log_b, eps, f, errors
        As for :class:`~solvers.ot.sinkhorn.SinkhornRun`.
    float32 : bool
        Use a float32 kernel while the error is above :data:`FLOAT32_UNTIL`.
    float64 : bool
        Use a float64 kernel below it (False: log-domain steps there; SNS's warm-up uses this
        to keep at most half a cost matrix of extra memory).
    """

    def __init__(self, geom, a, b, log_a, log_b, eps: float, f, errors, *, float32: bool = True,
                 float64: bool = True):
        # the first kernel's reference g: column minima of C - f shifted by eps log b (each column's
        # largest exponent is log b_j; no exponential pass -- the kernel's v then makes g exact)
        # (minus eps log(n) / 2, so that v = b / K^T 1, between 1/n and 1 without it, is centred in
        # [n^-1/2, n^1/2]: inside float32's window for any n up to 1e12)
        super().__init__(geom, a, b, log_a, log_b, eps, f, errors,
                         g=geom.col_min(f) + eps * (log_b - 0.5 * math.log(geom.n)))
        self.g_exact = False      # g is the column update of f (needed before log-domain steps)
        xp = geom.be.xp
        self.use32, self.use64 = float32, float64
        self.kernel, self.prec, self.fb, self.gb, self.u, self.v = None, None, None, None, None, None
        self.Kv, self.KTu = xp.empty(geom.n), xp.empty(geom.m)
        self.log_until = 0
        self.handover = FLOAT32_UNTIL   # float32 while the error is above this (max(tol, FLOAT32_UNTIL))
        self.recent = []          # iteration counts of the last absorptions
        self.kstart = 0           # count when the current kernel was built
        self.f32 = self._f32_initial()   # float32 phase: None = undecided (float64 first, probing)
        self.stats = {"kernel_builds": 0, "absorptions": 0, "kernel_steps": 0, "float32_steps": 0,
                      "log_steps": 0, "unsafe_kernels": 0}

    # -- the kernel ------------------------------------------------------------------------------
    def _f32_initial(self):
        """True (float32 only), False (float64 only) or None (both allowed: decided by probing)."""
        return None if (self.use32 and self.use64) else self.use32

    def _want(self):
        """The precision the next kernel should have (None: log-domain steps now)."""
        if self.count < self.log_until:
            return None
        if self.use32 and self.err > self.handover and (self.f32 or not self.use64):
            return FLOAT32
        return FLOAT64 if self.use64 else None

    def _float32_pays(self) -> bool:
        """Whether a float32 phase pays from here: the last ratio of measured errors (Sinkhorn's
        decay slows down, so the most recent ratio is the one to extrapolate), taken as geometric,
        predicts more than :data:`FLOAT32_PAYS` iterations until the error reaches the handover
        (an error that does not decay: yes). On the n = 1000 sweep (eps = 0.1, 0.03, 0.01, 0.003:
        9, 32, 99, 332 iterations to 1e-5) it predicts 6, 28, 56, 60."""
        k = self.count - 1
        e1, e0 = float(self.errors[k]), float(self.errors[k - 1])
        if not (math.isfinite(e0) and math.isfinite(e1) and e1 > self.handover):
            return False
        if not (e0 > 0 and e1 < e0):
            return True
        return math.log(self.handover / e1) / math.log(e1 / e0) > FLOAT32_PAYS

    def _build(self, prec: Precision, f, g) -> bool:
        """Kernel at ``(f, g)`` (g the column update of f) in precision ``prec``; ``u = 1`` and
        ``v`` its exact column update. False (kernel dropped) when it is not safe."""
        geom, xp = self.geom, self.geom.be.xp
        if self.kernel is None or self.kernel.dtype != prec.dtype:
            self.kernel = None                       # free the old one first (memory)
            self.kernel = xp.empty((geom.n, geom.m), dtype=prec.dtype)
        geom.kernel_calls += 1
        zmax = geom.K.scaling_kernel(geom.cost_data, f, g, self.eps, self.kernel)
        self.stats["kernel_builds"] += 1
        lo, hi = float(zmax.min()), float(zmax.max())
        ok = math.isfinite(lo) and math.isfinite(hi) and lo >= prec.log_tiny and hi <= prec.log_huge
        if ok:
            self.u = xp.ones(geom.n)
            geom.K.scaling_rmatvec(self.kernel, self.u, self.KTu)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                self.v = self.b / self.KTu
            ok = self._in_range(self.v, prec)
        if not ok:
            self.kernel, self.u, self.v = None, None, None
            self.stats["unsafe_kernels"] += 1
            return False
        self.prec, self.fb, self.gb = prec, f, g
        self.kstart = self.count
        return True

    @staticmethod
    def _in_range(w, prec: Precision) -> bool:
        lo, hi = float(w.min()), float(w.max())
        return lo >= 1.0 / prec.absorb and hi <= prec.absorb     # False for NaN

    def _potentials(self):
        """``(fb + eps log u, gb + eps log v)`` of the current kernel iterate."""
        xp = self.geom.be.xp
        return self.fb + self.eps * xp.log(self.u), self.gb + self.eps * xp.log(self.v)

    def _exact_g(self) -> None:
        """Make ``g`` the column update of ``f`` if it is still the first kernel's reference."""
        if not self.g_exact:
            self.g = self.geom.g_update(self.f, self.log_b, self.eps, out=self.g)
            self.g_exact = True

    def _materialise(self) -> None:
        """``f``, ``g`` of the current kernel iterate (the kernel is kept)."""
        if self.kernel is not None:
            self.f, self.g = self._potentials()
            self.g_exact = True
            self.f_new, self.g_new = self.geom.be.xp.empty_like(self.f), self.geom.be.xp.empty_like(self.g)

    def _leave_kernel(self, to_log: bool = True) -> None:
        """Leave the current kernel at the current iterate. Towards log-domain steps (``to_log``)
        after a float32 kernel, g is recomputed in the log domain (those steps need it to be
        the exact column update; a new kernel recomputes its v itself)."""
        if self.kernel is not None:
            self._materialise()
            if to_log and self.prec is FLOAT32:
                self.g = self.geom.g_update(self.f, self.log_b, self.eps, out=self.g)
        self.kernel, self.u, self.v = None, None, None

    def _enter_kernel(self, prec: Precision) -> bool:
        if self._build(prec, self.f, self.g):
            return True
        if prec is FLOAT32 and self.use64:
            # float32 is not safe here: stay in float64 (a float64 kernel may be) rather than
            # alternate failed float32 builds with log-domain chunks
            self.f32 = False
            if self._build(FLOAT64, self.f, self.g):
                return True
        self.log_until = self.count + LOG_CHUNK
        return False

    def _absorb(self, f, g_from=None) -> bool:
        """Rebuild the kernel at ``f`` (the next iterate's row potentials) with ``g`` its exact
        column update (from the log domain when the kernel's own ``v`` overflowed). False
        when the new kernel is not safe or absorptions come too fast: log steps follow."""
        self.stats["absorptions"] += 1
        self.recent = [c for c in self.recent if c > self.count - 3 * MIN_RUN] + [self.count]
        prec = self.prec
        g = g_from if g_from is not None else self.geom.g_update(f, self.log_b, self.eps)
        too_fast = len(self.recent) >= 3
        if too_fast or not self._build(prec, f, g):
            self.kernel, self.u, self.v = None, None, None
            self.f, self.g, self.g_exact = f, g, True
            self.f_new, self.g_new = self.geom.be.xp.empty_like(f), self.geom.be.xp.empty_like(g)
            self.log_until = self.count + LOG_CHUNK
            return False
        return True

    # -- the iteration -------------------------------------------------------------------------
    def recentre(self, c: float) -> None:
        """As :meth:`SinkhornRun.recentre`; the kernel's reference potentials move with the pair (its entries
        ``exp((fb + gb - C) / eps)`` and the scalings do not change)."""
        super().recentre(c)
        if self.kernel is not None:
            self.fb, self.gb = self.fb - c, self.gb + c

    def restart(self, eps: float) -> None:
        self._leave_kernel()
        self.f32 = self._f32_initial()
        super().restart(eps)
        self.g_exact = True

    def run(self, tol: float, steps: int, check_every: int, *, measure_last: bool, cb=None, nit0: int = 0) -> str:
        """As :meth:`SinkhornRun.run`: kernel steps where safe, log-domain chunks elsewhere."""
        total = steps + 1 if measure_last else steps
        start = self.count
        status = Status.MAXITER
        self.handover = max(tol, FLOAT32_UNTIL)
        while self.count - start < total:
            left = total - (self.count - start)
            prec = self._want()
            if self.kernel is not None and (prec is None or prec is not self.prec):
                self._leave_kernel(to_log=prec is None)
            if prec is not None and (self.kernel is not None or self._enter_kernel(prec)):
                status = self._kernel_steps(tol, left, check_every, measure_last, cb, nit0)
            else:
                # log-domain steps until the next kernel attempt (all of them when none is wanted)
                self._exact_g()
                chunk = min(left, self.log_until - self.count) if self.log_until > self.count else left
                final = chunk == left
                before = self.count
                status = SinkhornRun.run(self, tol, chunk - 1 if final and measure_last else chunk, check_every,
                                         measure_last=final and measure_last, cb=cb, nit0=nit0)
                self.stats["log_steps"] += self.count - before
            if status != Status.MAXITER:
                break
        self._materialise()
        self._exact_g()
        return status

    def _kernel_steps(self, tol, left, check_every, measure_last, cb, nit0) -> str:
        """Kernel iterations until ``left`` measurements are done, a stop, an unsafe absorption
        (log steps follow) or the float32 phase ends. Returns the status (maxiter = go on)."""
        geom, xp, K = self.geom, self.geom.be.xp, self.geom.K
        a, b, prec, eps = self.a, self.b, self.prec, self.eps
        kernel, Kv, KTu = self.kernel, self.Kv, self.KTu
        lo, hi = 1.0 / prec.absorb, prec.absorb
        for k in range(left):
            u, v = self.u, self.v
            # measure (u, v) and form the next scalings in one kernel-set call (u, v untouched)
            u_new, v_new = xp.empty(geom.n), xp.empty(geom.m)
            e, code = K.scaling_step(kernel, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi)
            pos = self.count
            if pos == self.errors.shape[0]:
                self.errors = self._grow(self.errors, left - k)
            self.errors[pos] = e
            self.count = pos + 1
            self.stats["kernel_steps"] += 1
            self.stats["float32_steps"] += prec is FLOAT32
            last = k == left - 1
            at_check = (self.count % check_every == 0) or last
            if at_check or prec is FLOAT32:      # (float32 reads every error for its handover; the callback
                                                  # still runs at the checks only: helper-144)
                self.err = float(e)
                if prec is FLOAT32 and self.err <= self.handover:
                    # hand over to float64 at this iterate: un-record it, it is measured again there
                    self.count -= 1
                    self.stats["kernel_steps"] -= 1
                    self.stats["float32_steps"] -= 1
                    return Status.MAXITER
                if self.f32 is None and self.count - self.kstart >= FLOAT32_PROBE:
                    self.f32 = self._float32_pays()
                    if self.f32:
                        # to float32 at this iterate: un-record it, the float32 kernel measures it again
                        self.count -= 1
                        self.stats["kernel_steps"] -= 1
                        return Status.MAXITER
                if cb and at_check and nit0 + self.count > cb.first:
                    f, g = self._potentials()
                    if cb(xp.concatenate([f, g]), nit0 + self.count - 1, f=f, g=g, marginal_error=self.err, eps=eps):
                        return Status.STOPPED
                if not math.isfinite(self.err):
                    return Status.NONFINITE
                if self.err <= tol and prec is not FLOAT32:
                    return Status.CONVERGED
            if last and measure_last:
                return Status.MAXITER
            if code == 1:                 # u_new out of the kernel's window: absorb into the potentials
                g_cur = self.gb + eps * xp.log(v)
                f_new = (self.fb + eps * xp.log(u_new) if bool(xp.all(xp.isfinite(u_new)) & xp.all(u_new > 0))
                         else geom.f_update(g_cur, self.log_a, eps))
                if not self._absorb(f_new):
                    return Status.MAXITER
                continue
            self.u = u_new
            if code == 2:                 # v_new out of the window
                f_new = self.fb + eps * xp.log(u_new)
                if not self._absorb(f_new):
                    return Status.MAXITER
                continue
            self.v = v_new
        return Status.MAXITER
