"""The sparse, shifted Newton direction of Sinkhorn-Newton-Sparse.

With ``r = P 1``, ``c = P^T 1`` and the gradient ``(a - r, b - c)`` of the dual ``D``, the
Newton system ``H d = eps * grad D`` has ``H = [[diag(r), P], [P^T, diag(c)]]``. Here ``P``
is truncated per row (the kernel set's ``row_lse_sparse`` / ``sparse_plan``), the diagonal
blocks are shifted by ``delta`` (Marquardt scaling, ``diag(r (1 + delta))``), ``d_f`` is
eliminated and the Schur complement

    S = diag(c (1 + delta)) - P^T diag(1 / (r (1 + delta))) P        (SPD)

is solved by preconditioned CG (Jacobi) to the forcing tolerance; then
``d_f = (eps grad_f - P d_g) / (r (1 + delta))``. See :mod:`solvers.ot.sns` for the method.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..operators import base as _ops
from ..operators._out import check_out as _check_out


class SchurOperator(_ops.LinearOperator):
    """``S x = dcol * x - P^T (inv_drow * (P x))`` for a truncated plan ``P`` (CSR triple).

    The products run in the backend's OT kernel set (``schur_matvec``, ``plan_matvec``,
    ``plan_rmatvec``, ``schur_diagonal``); ``matvec_into`` lets CG write in place.
    """

    def __init__(self, be, csr, dcol, inv_drow, shape):
        m = shape[1]
        super().__init__((m, m), np.float64, be, symmetric=True, positive_definite=True)
        self.K = be.kernels("ot")
        self.dcol, self.inv_drow = dcol, inv_drow
        self.plan = self.K.schur_prepare(csr, shape)
        self.diag = self.K.schur_diagonal(self.plan, dcol, inv_drow)

    def _matvec(self, x):
        return self.matvec_into(x, self.backend.xp.empty(self.shape[0]))

    def _rmatvec(self, x):
        return self._matvec(x)

    def matvec_into(self, x, out):
        _check_out("SchurOperator.matvec_into", x, out)
        return self.K.schur_matvec(self.plan, self.dcol, self.inv_drow, x, out)

    def diagonal(self):
        return self.diag

    def apply_P(self, x):
        """``P x`` (length n)."""
        return self.K.plan_matvec(self.plan, x)

    def apply_PT(self, y):
        """``P^T y`` (length m)."""
        return self.K.plan_rmatvec(self.plan, y)


@dataclass
class Direction:
    """A Newton direction ``(df, dg)`` with its slope ``<grad D, d>`` and what it cost."""

    df: object
    dg: object
    slope: float
    nnz: int
    cg_iterations: int
    usable: bool


def newton_direction(be, csr, r, c, gf, gg, eps: float, delta: float, cg_rtol: float, cg_maxiter: int) -> Direction:
    """Solve the shifted, sparsified Newton system for the ascent direction of ``D``.

    ``csr`` is the truncated plan, ``r``/``c`` the row/column sums of the full plan, ``gf``,
    ``gg`` the gradient blocks, ``delta`` the Marquardt shift and ``cg_rtol`` the forcing term.
    The direction is usable when CG converged or used its budget, the slope is positive and
    everything is finite.
    """
    from ..linear.cg import cg

    xp = be.xp
    n, m = r.shape[0], c.shape[0]
    d_r = r * (1.0 + delta) + 1e-300
    d_c = c * (1.0 + delta) + 1e-300
    S = SchurOperator(be, csr, d_c, 1.0 / d_r, (n, m))
    rf = eps * gf
    with np.errstate(over="ignore", invalid="ignore"):    # an overflow is handled just below
        rhs = eps * gg - S.apply_PT(rf / d_r)
    if not (bool(xp.all(xp.isfinite(rhs))) and bool(xp.all(xp.isfinite(S.diag)))):
        # an overflowing plan entry (exponents near the top of the double range): no direction;
        # the caller falls back to Sinkhorn steps (CG would refuse the non-finite system)
        return Direction(xp.zeros(n), xp.zeros(m), 0.0, int(csr[0][-1]), 0, False)
    M = _ops.DiagonalOperator(1.0 / xp.maximum(S.diag, 1e-300), backend=be)
    res = cg(S, rhs, rtol=cg_rtol, maxiter=cg_maxiter, M=M, backend=be)
    dg = res.x
    df = (rf - S.apply_P(dg)) / d_r
    slope = be.dot(gf, df) + be.dot(gg, dg)
    # "stagnated": CG's best iterate at the attainable accuracy (cg_rtol below it) is still a direction
    usable = (res.status in ("converged", "maxiter", "stagnated") and slope > 0
              and bool(xp.all(xp.isfinite(df)) and xp.all(xp.isfinite(dg))))
    return Direction(df, dg, slope, int(csr[0][-1]), res.nit, usable)


class Trial:
    """``phi(alpha) = -D(f + alpha df, g + alpha dg)`` for the line search of an SNS Newton step
    (``run``, ``st``: the solve's fixed data and state, :mod:`solvers.ot.sns`); keeps the last
    trial point with its row LSE and truncated plan (reused when the step is accepted). In
    kernel space (``kernel``) a trial is one product with the kernel, ``sum P = u . (K v)``,
    and the plan is truncated once the step is accepted."""

    def __init__(self, run, st, d: Direction, share: float, kernel: bool = False):
        self.run, self.st, self.d, self.share = run, st, d, share
        self.point = None
        self.kernel = kernel     # trials in kernel space (every trial's scalings inside the window)

    def __call__(self, alpha: float) -> float:
        run, st, d, xp = self.run, self.st, self.d, self.run.geom.be.xp
        fn, gn = st.f + alpha * d.df, st.g + alpha * d.dg
        if self.kernel:          # sum P = u . (K v): one product; the plan is truncated once accepted
            un, vn = self._scalings(alpha)
            be = run.geom.be
            Dn = be.dot(run.a, fn) + be.dot(run.b, gn) - st.eps * be.dot(un, run.kern.matvec(vn))
            self.point = (fn, gn, None, None)
            return -Dn
        lse_n, csr_n = run.geom.row_lse_sparse(gn, fn, st.eps, st.rho, st.kmax, self.share)
        with np.errstate(over="ignore"):
            be = run.geom.be
            Dn = be.dot(run.a, fn) + be.dot(run.b, gn) - st.eps * float(xp.exp(fn / st.eps + lse_n).sum())
        self.point = (fn, gn, lse_n, csr_n)
        return -Dn

    def marginals_improve(self, alpha: float) -> bool:
        """Noise hook: near the solution D changes below its rounding level; accept the step when
        the marginal error of the trial point is below the current one."""
        run, st, xp = self.run, self.st, self.run.geom.be.xp
        fn, gn, lse_n, _ = self.point
        if self.kernel:
            un, vn = self._scalings(alpha)
            rn, cn = un * run.kern.matvec(vn), vn * run.kern.rmatvec(un)
            return float(xp.abs(run.a - rn).sum() + xp.abs(run.b - cn).sum()) < st.err
        rn = xp.exp(fn / st.eps + lse_n)
        cn = xp.exp(gn / st.eps + run.geom.col_lse(fn, st.eps))
        return float(xp.abs(run.a - rn).sum() + xp.abs(run.b - cn).sum()) < st.err

    def _scalings(self, alpha: float):
        xp, (u, v), eps = self.run.geom.be.xp, self.st.uv, self.st.eps
        return u * xp.exp(alpha * self.d.df / eps), v * xp.exp(alpha * self.d.dg / eps)
