"""The Newton stage of SNS in kernel space: plan, gradient and sparsified Hessian from a float32
stabilised kernel instead of exponential passes over ``C / eps``.

With a kernel ``K_ij = exp((fb_i + gb_j - C_ij) / eps)`` built at reference potentials
``(fb, gb)`` (:func:`solvers.ot._scaling` builds and safety-tests it the same way), the plan of
any ``(f, g)`` is ``P = diag(u) K diag(v)`` with ``u = exp((f - fb) / eps)``,
``v = exp((g - gb) / eps)``. A Newton iteration then needs

* the marginals ``r = u * (K v)``, ``c = v * (K^T u)`` (two matrix-vector products; the
  global-phase polish is ``v = b / (K^T u)``) and the truncated plan for the Hessian, read
  from the same rows ``K_ij v_j`` (the kernel set's ``scaling_sparse``: no exponential);
* per line-search trial only ``sum P = u . (K v)`` for the dual value (one product) -- the
  truncated plan is built once, at the accepted point.

Safety is the test of :mod:`solvers.ot._scaling`, applied to the data as the potentials move:
a kernel is used only when every row's largest exponent lies in the float32 window
``[-25, 25]`` and the scalings ``u``, ``v`` stay in ``[1e-6, 1e6]`` (then nothing the products
drop, the entries stored as 0 below the smallest float32, matters next to the row maxima);
the window is re-checked at each iterate and at the full step of each line search (it is an
interval in ``log u``, so every trial between is inside too). Out of the window the kernel is
rebuilt at the current iterate (one exponential pass, the cost of one log-domain pass); a
kernel that fails the test switches the rest of that eps stage to the log domain. Each
iteration is evaluated wholly in one domain (measurement, direction, line search), so the line
search compares dual values of one function.

Precision: as in Sinkhorn's float32 phase, the kernel is used while the marginal error is
above :data:`solvers.ot._scaling.FLOAT32_UNTIL` (1e-5): the first iterate measured below it is
measured again from C in float64, the kernel is freed, and the log-domain passes take over.
The returned potentials are re-measured from C in float64 as always.

Memory: the float32 kernel is half a cost matrix. ``domain="auto"`` keeps it for the Newton
stage only while it has at most :data:`NEWTON_KERNEL_MAX` entries (the SNS peak of larger
problems stays at 1.5 x C: C plus stage 1's float32 kernel, freed before the Newton stage);
``domain="kernel"`` keeps it at any size (peak about C + 0.5 C + the truncated plans).

References
----------
B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
problems", SIAM J. Sci. Comput. 41 (2019) (stabilised kernels, absorption).
X. Tang, M. Shavlovsky, H. Rahmanian, E. Tardini, K. K. Thekumparampil, T. Xiao, L. Ying,
"Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024.
"""
from __future__ import annotations

import math

import numpy as np

from ._scaling import FLOAT32, FLOAT32_UNTIL

#: ``domain="auto"``: the Newton stage keeps a float32 kernel only up to this many entries
#: (100 MB); larger problems keep the SNS peak at 1.5 x C
NEWTON_KERNEL_MAX = 25_000_000


class NewtonKernel:
    """The float32 kernel of the Newton stage, its reference potentials and its safety state.

    Parameters
    ----------
    geom : Geometry
    tol : float
        The final tolerance (the kernel is used while the error is above ``max(tol, 1e-5)``).
    """

    def __init__(self, geom, tol: float):
        self.geom = geom
        self.handover = max(tol, FLOAT32_UNTIL)
        self.kernel, self.fb, self.gb, self.eps = None, None, None, None
        self.off_eps = None          # the eps stage for which kernels were given up
        self.stats = {"newton_kernel_builds": 0, "newton_kernel_iterations": 0, "newton_log_iterations": 0}

    # -- the kernel ----------------------------------------------------------------------------
    def adopt(self, kernel, fb, gb, eps: float) -> None:
        """Take over stage 1's float32 kernel (``ScalingRun.kernel`` at ``(fb, gb)``)."""
        if kernel is not None and kernel.dtype == FLOAT32.dtype:
            self.kernel, self.fb, self.gb, self.eps = kernel, fb, gb, eps

    def retire(self, eps: float) -> None:
        """Free the kernel and use the log domain for the rest of this eps stage."""
        self.kernel, self.fb, self.gb, self.off_eps = None, None, None, eps

    def _build(self, f, g, eps: float) -> bool:
        geom, xp = self.geom, self.geom.be.xp
        if self.kernel is None:
            self.kernel = xp.empty((geom.n, geom.m), dtype=FLOAT32.dtype)
        geom.kernel_calls += 1
        self.stats["newton_kernel_builds"] += 1
        zmax = geom.K.scaling_kernel(geom.cost_data, f, g, eps, self.kernel)
        lo, hi = float(zmax.min()), float(zmax.max())
        if not (math.isfinite(lo) and math.isfinite(hi) and lo >= FLOAT32.log_tiny and hi <= FLOAT32.log_huge):
            self.retire(eps)
            return False
        self.fb, self.gb, self.eps = f.copy(), g.copy(), eps
        return True

    @staticmethod
    def _in_window(w) -> bool:
        lo, hi = float(w.min()), float(w.max())
        return lo >= 1.0 / FLOAT32.absorb and hi <= FLOAT32.absorb     # False for NaN

    def scalings(self, f, g, eps: float):
        """``(u, v)`` of ``(f, g)`` for the current kernel, rebuilding it at ``(f, g)`` when they
        leave the window; None when no safe kernel is at hand (log domain)."""
        if self.off_eps == eps:
            return None
        xp = self.geom.be.xp
        if self.kernel is not None and self.eps == eps:
            with np.errstate(over="ignore", under="ignore"):
                u, v = xp.exp((f - self.fb) / eps), xp.exp((g - self.gb) / eps)
            if self._in_window(u) and self._in_window(v):
                return u, v
        if not self._build(f, g, eps):
            return None
        return xp.ones(self.geom.n), xp.ones(self.geom.m)

    # -- evaluations ---------------------------------------------------------------------------
    def matvec(self, v):
        """``K v``."""
        K = self.geom.K
        return K.scaling_matvec(self.kernel, v, self.geom.be.xp.empty(self.geom.n))

    def rmatvec(self, u):
        """``K^T u``."""
        return self.geom.K.scaling_rmatvec(self.kernel, u, self.geom.be.xp.empty(self.geom.m))

    def rows_sparse(self, u, v, rho: float, kmax: int, share: float):
        """Row sums ``u * (K v)`` and the truncated plan (CSR) of ``diag(u) K diag(v)``."""
        self.geom.kernel_calls += 1
        return self.geom.K.scaling_sparse(self.kernel, u, v, rho, int(kmax), float(share))

    def trial_scalings(self, u, v, df, dg, eps: float):
        """The scalings of the full step ``(f + df, g + dg)`` when they are inside the window (then
        every trial of the line search is), else None."""
        xp = self.geom.be.xp
        with np.errstate(over="ignore", under="ignore"):
            u1, v1 = u * xp.exp(df / eps), v * xp.exp(dg / eps)
        return (u1, v1) if self._in_window(u1) and self._in_window(v1) else None


def marginals(run, st, share: float):
    """``(r, c)`` of the current iterate from the float32 kernel (after the polish v-update in the
    global phase) with the truncated plan (``run``, ``st``: the SNS solve's fixed data and
    state, :mod:`solvers.ot.sns`); sets ``st.uv``, ``st.csr``. None when no safe kernel is at
    hand (then nothing was changed)."""
    kern, o, eps = run.kern, run.opts, st.eps
    uv = kern.scalings(st.f, st.g, eps) if kern is not None else None
    if uv is None:
        return None
    u, v = uv
    KTu = kern.rmatvec(u)
    if o.polish and st.prev_err > o.polish_above:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            v_new = run.b / KTu               # exact column marginals; never decreases D
        if not kern._in_window(v_new):
            return None
        v, c = v_new, run.b
        st.g = kern.gb + eps * run.geom.be.xp.log(v)
    else:
        c = v * KTu
    r, st.csr = kern.rows_sparse(u, v, st.rho, st.kmax, share)
    st.csr_key, st.lse_r, st.uv = (st.rho, st.kmax), None, (u, v)
    return r, c
