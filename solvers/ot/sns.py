"""Sinkhorn-Newton-Sparse (SNS) with a safe Newton stage.

Stage 1 runs log-domain Sinkhorn; stage 2 runs Newton's method on the concave dual
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
  ``P`` truncated per row to the entries ``>= rho * max_j P_ij`` (at most ``kmax``,
  the largest), built as CSR by a Numba kernel. Truncation only removes positive
  entries, so the sparsified H stays PSD;
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
  ``rho`` (denser Hessian), so every case makes progress;
* global phase (error > ``polish_above``): each Newton iteration starts with a
  Sinkhorn g-update computed from the column LSE that the gradient needs anyway;
* eps-continuation (default): for eps below ``eps_start`` times the cost range the
  problem is solved for eps, 10 eps, 100 eps, ... from the largest down, each warm
  started (the Newton global phase at very small eps is otherwise long);
* 30 Newton steps without a new best error end the run as ``stagnated`` (the
  floating-point floor of the marginals for the given eps and cost scale).

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
"""
from __future__ import annotations

import math

import numpy as np

from ..operators import base as _ops
from ..results import Status, Timer
from . import _common as common
from .sinkhorn import _check_opts, sinkhorn_loop


class _SchurOperator(_ops.LinearOperator):
    """``S x = dcol * x - P^T (inv_drow * (P x))`` for the truncated plan ``P`` (CSR)."""

    def __init__(self, be, csr, dcol, inv_drow, shape):
        m = shape[1]
        super().__init__((m, m), np.float64, be, symmetric=True, positive_definite=True)
        self.dcol, self.inv_drow = dcol, inv_drow
        indptr, indices, data = csr
        if be.name == "numba":
            from .._kernels.numba import ot as K

            self.K = K
            t_indptr = np.empty(m + 1, dtype=np.int64)
            t_indices = np.empty_like(indices)
            t_data = np.empty_like(data)
            K.csr_transpose(shape[0], m, indptr, indices, data, t_indptr, t_indices, t_data)
            self.arrays = (indptr, indices, data, t_indptr, t_indices, t_data)
            self.tmp = np.empty(shape[0])
            self.diag = K.schur_diagonal(indptr, indices, data, dcol, inv_drow, np.empty(m))
        else:
            if be.name == "cupy":
                import cupyx.scipy.sparse as sps
            else:
                import scipy.sparse as sps
            self.P = sps.csr_matrix((data, indices, indptr), shape=shape)
            self.PT = self.P.T.tocsr()
            sq = sps.csr_matrix((data * data, indices, indptr), shape=shape)
            self.diag = dcol - sq.T @ inv_drow

    def _matvec(self, x):
        return self.matvec_into(x, self.backend.xp.empty(self.shape[0]))

    def matvec_into(self, x, out):
        if self.backend.name == "numba":
            kern = self.K.schur_matvec if self.arrays[2].shape[0] > 200_000 else self.K.schur_matvec_serial
            return kern(*self.arrays, self.dcol, self.inv_drow, x, self.tmp, out)
        out[...] = self.dcol * x - self.PT @ (self.inv_drow * (self.P @ x))
        return out

    def apply_P(self, x):
        if self.backend.name == "numba":
            indptr, indices, data = self.arrays[:3]
            return self.K.csr_matvec(indptr, indices, data, x, np.empty(indptr.shape[0] - 1))
        return self.P @ x

    def apply_PT(self, x):
        if self.backend.name == "numba":
            t_indptr, t_indices, t_data = self.arrays[3:]
            return self.K.csr_matvec(t_indptr, t_indices, t_data, x, np.empty(t_indptr.shape[0] - 1))
        return self.PT @ x


def _record(errs, stage, steps, nnzs, cgits, err, stg, alpha, nnz, ncg):
    errs.append(err)
    stage.append(stg)
    steps.append(alpha)
    nnzs.append(nnz)
    cgits.append(ncg)


def _cg(S, rhs, rtol, maxiter, be):
    from ..linear.cg import cg

    d = S.diag
    M = _ops.DiagonalOperator(1.0 / be.xp.maximum(d, 1e-300), backend=be)
    return cg(S, rhs, rtol=rtol, maxiter=maxiter, M=M, backend=be)


def sns(problem, tol: float = 1e-9, maxiter: int | None = None, *, f0=None, g0=None, n_sinkhorn: int = 5,
        max_sinkhorn: int = 2000, switch_tol: float = 1.0, rho: float = 1e-8, kmax: int | None = None,
        mu0: float = 1.0, eps_scaling: float | str | None = "auto", eps_start: float = 1e-3,
        polish: bool = True, polish_above: float = 1e-3, cg_rtol: float = 1e-2, cg_maxiter: int | None = None,
        n_fallback: int = 10, callback=None, backend=None):
    """Sinkhorn-Newton-Sparse: Sinkhorn warm-up, then safe sparse Newton on the dual.

    Parameters
    ----------
    problem : problems.ot.EntropicOT
    tol : float
        Stop when the L1 marginal error ``|P 1 - a|_1 + |P^T 1 - b|_1 <= tol``.
    maxiter : int, optional
        Budget of stage-2 iterations (Newton steps plus fallback Sinkhorn steps;
        default 1000).
    f0, g0 : arrays, optional
        Warm start (as in :func:`solvers.sinkhorn`).
    n_sinkhorn, max_sinkhorn, switch_tol : int, int, float
        Stage-1 length: at least ``n_sinkhorn`` steps, at most ``max_sinkhorn``,
        stopping early once the error is below ``switch_tol`` or decays slowly.
    rho : float
        Relative truncation: keep ``P_ij >= rho * max_j P_ij`` per row.
    kmax : int, optional
        Cap on kept entries per row (default ``max(16, m // 10)``).
    mu0 : float
        Initial Levenberg-Marquardt factor (relative shift ``delta = mu * err``).
    eps_scaling : float in (0, 1), "auto" or None
        (default "auto" = 0.1: continuation from ``eps_start`` times the cost range, which
        only has an effect for smaller ``eps``; measured at n = 1000 it cuts the kernel
        passes at eps = 1e-4 by 40 % and makes grid problems with tiny weights converge.)
        Continuation: solve for ``eps_k = eps / eps_scaling**k`` from the first value
        above ``eps_start * (C.max() - C.min())`` down to ``eps`` (each stage warm-started,
        intermediate stages to tolerance 1e-6). Stage 1 (Sinkhorn) runs at the first eps.
    polish, polish_above : bool, float
        While the error exceeds ``polish_above``, every Newton iteration starts with a
        free Sinkhorn g-update (it reuses the column LSE of the gradient).
    cg_rtol, cg_maxiter : float, int
        Inexact Newton: CG stops at ``min(cg_rtol, sqrt(err))`` relative residual.
    n_fallback : int
        Sinkhorn steps taken when the line search fails.
    callback : callable, optional
        ``callback(f, g, err)`` at every stage-2 iteration (the live potentials).
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        As :func:`solvers.sinkhorn`, plus ``history["stage"]`` (1 = Sinkhorn,
        2 = Newton, 3 = fallback Sinkhorn inside stage 2), ``history["step"]``
        (line-search step, 0 for Sinkhorn entries), ``history["nnz"]`` and
        ``history["cg_iterations"]`` per entry; ``stats`` counts Newton steps,
        CG iterations, line-search evaluations and fallbacks.
    """
    _check_opts(tol, maxiter, None, None)
    for nm, v in (("rho", rho), ("switch_tol", switch_tol), ("mu0", mu0), ("cg_rtol", cg_rtol)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{nm} must be a positive number, got {v!r}")
    if not (rho < 1):
        raise ValueError(f"rho must be in (0, 1), got {rho!r}")
    be, geom, a, b, eps, support, full_shape, f0, g0 = common.prepare(problem, backend, f0, g0)
    timer = Timer(be)
    xp = be.xp
    n, m = geom.n, geom.m
    maxiter = 1000 if maxiter is None else int(maxiter)
    kmax = max(16, m // 10) if kmax is None else int(kmax)
    cg_maxiter = 10 * m if cg_maxiter is None else int(cg_maxiter)
    log_a, log_b = xp.log(a), xp.log(b)
    ce = 10 if be.is_gpu else 1

    errs, stage, steps, nnzs, cgits = [], [], [], [], []
    st = {"sinkhorn_steps": 0, "newton_steps": 0, "cg_iterations": 0, "line_search_evals": 0, "fallbacks": 0,
          "densify": 0}

    eps_t, tol_t = eps, tol
    stages = [eps_t]
    crange = float(xp.max(geom.C) - xp.min(geom.C))
    if eps_scaling == "auto":
        eps_scaling = 0.1
    if eps_scaling is not None:
        if not 0 < float(eps_scaling) < 1:
            raise ValueError(f"eps_scaling must be a factor in (0, 1), 'auto' or None, got {eps_scaling!r}")
        e = eps_t
        stages = [e]
        while e < eps_start * crange:
            e /= float(eps_scaling)
            stages.insert(0, e)
    f, g = f0, None
    lse_r, csr_r, csr_key = None, None, None
    status, err = Status.MAXITER, math.inf
    it = 0
    mu = mu0
    for s_idx, eps in enumerate(stages):
        final = s_idx == len(stages) - 1
        tol = tol_t if final else max(tol_t, 1e-6)
        if s_idx > 0:
            status, lse_r = Status.MAXITER, None
        # ---------------- stage 1: Sinkhorn
        if f is None:
            f = geom.f_update(g0, log_a, eps) if g0 is not None else xp.zeros(n)
        buf = xp.zeros(max_sinkhorn)
        done = 0
        while done < max_sinkhorn and s_idx == 0:
            chunk = n_sinkhorn if done == 0 else 10
            chunk = min(chunk, max_sinkhorn - done)
            f, g, k, err, status = sinkhorn_loop(geom, a, b, log_a, log_b, eps, f, tol, chunk, ce, buf, done)
            done += k
            if status != Status.MAXITER or err <= switch_tol:
                break
            h = be.to_numpy(buf[:done])
            if done >= 20 and h[-1] > 0.9 * h[-11]:
                break
        h = be.to_numpy(buf[:done])
        for e in h.tolist():
            _record(errs, stage, steps, nnzs, cgits, e, 1, 0.0, 0, 0)
        st["sinkhorn_steps"] += done

        # ---------------- stage 2: safe sparse Newton
        fb_buf = xp.zeros(max(n_fallback, 1))
        prev_err = math.inf
        last = None  # (alpha, nnz, cg iterations) of the Newton step that produced the current iterate
        best_err, n_stall = math.inf, 0
        while status not in (Status.CONVERGED, Status.NONFINITE) and it < maxiter:
            if n_stall >= 30:
                status = Status.STAGNATED
                break
            lse_c = geom.col_lse(f, eps)
            if polish and prev_err > polish_above:
                # global phase: a Sinkhorn g-update (exact column marginals, never decreases D)
                # from the column LSE that the gradient needs anyway
                g = eps * (log_b - lse_c)
                lse_r = None
                c = b
            else:
                c = xp.exp(g / eps + lse_c)
            if lse_r is None:
                lse_r, csr_r = geom.row_lse_sparse(g, f, eps, rho, kmax)
                csr_key = (rho, kmax)
            r = xp.exp(f / eps + lse_r)
            gf, gg = a - r, b - c
            err = float(xp.abs(gf).sum() + xp.abs(gg).sum())
            if callback is not None:
                callback(f, g, err)
            if last is not None:
                _record(errs, stage, steps, nnzs, cgits, err, 2, *last)
                # adaptive sparsity: a full step with only linear progress means the truncated Hessian
                # is too crude -> keep more entries per row
                if last[0] == 1.0 and err < 1e-3 and err > 0.25 * prev_err and last[1] < n * m:
                    kmax = min(2 * kmax, m)
                    rho = max(rho * 1e-2, 1e-300)
                    st["densify"] += 1
            if not math.isfinite(err):
                status = Status.NONFINITE
                break
            if err <= tol:
                status = Status.CONVERGED
                break
            D = float(a @ f + b @ g) - eps * float(r.sum())
            delta = min(max(mu * err, 1e-10), 1e6)
            d_r = r * (1.0 + delta) + 1e-300
            d_c = c * (1.0 + delta) + 1e-300
            if csr_r is not None and csr_key == (rho, kmax):
                csr = csr_r  # built in the same pass as the row LSE
            else:
                csr = geom.sparse_plan(f, g, eps, rho, kmax)
            nnz = int(csr[0][-1])
            S = _SchurOperator(be, csr, d_c, 1.0 / d_r, (n, m))
            # H d = eps * grad, eliminating d_f
            rf = eps * gf
            rhs = eps * gg - S.apply_PT(rf / d_r)
            cres = _cg(S, rhs, min(cg_rtol, max(math.sqrt(err), 1e-12)), cg_maxiter, be)
            st["cg_iterations"] += cres.nit
            dg = cres.x
            df = (rf - S.apply_P(dg)) / d_r
            slope = float(gf @ df + gg @ dg)
            ok = (cres.status in ("converged", "maxiter") and slope > 0
                  and bool(xp.all(xp.isfinite(df)) and xp.all(xp.isfinite(dg))))
            alpha, accepted = 1.0, False
            if ok:
                dmax = float(xp.abs(df).max() + xp.abs(dg).max())
                fmax = max(1.0, float(xp.abs(f).max()))
                # round-off level of D: near the solution the Armijo gain drops below it, and then the
                # step is judged by the marginal error instead
                noise = 1e-13 * (float(xp.abs(a) @ xp.abs(f) + xp.abs(b) @ xp.abs(g)) + eps)
                for _ in range(40):
                    fn, gn = f + alpha * df, g + alpha * dg
                    lse_n, csr_n = geom.row_lse_sparse(gn, fn, eps, rho, kmax)
                    st["line_search_evals"] += 1
                    with np.errstate(over="ignore"):
                        Dn = float(a @ fn + b @ gn) - eps * float(xp.exp(fn / eps + lse_n).sum())
                    if math.isfinite(Dn) and Dn >= D + 1e-4 * alpha * slope:
                        accepted = True
                        break
                    if math.isfinite(Dn) and abs(Dn - D) <= noise + 1e-4 * alpha * slope:
                        rn = xp.exp(fn / eps + lse_n)
                        lse_c = geom.col_lse(fn, eps)
                        cn = xp.exp(gn / eps + lse_c)
                        if float(xp.abs(a - rn).sum() + xp.abs(b - cn).sum()) < err:
                            accepted = True
                            break
                    alpha *= 0.5
                    if alpha * dmax < 1e-15 * fmax:
                        break
            it += 1
            if accepted:
                if err < best_err:
                    best_err, n_stall = err, 0
                else:
                    n_stall += 1
                f, g, lse_r, csr_r, csr_key = fn, gn, lse_n, csr_n, (rho, kmax)
                st["newton_steps"] += 1
                mu = max(mu / 4.0, 1e-6) if alpha == 1.0 else min(mu * 4.0, 1e6)
                last = (alpha, nnz, cres.nit)
                prev_err = err
            else:
                # fallback: Sinkhorn steps, then a larger shift and a denser Hessian
                st["fallbacks"] += 1
                mu = min(mu * 10.0, 1e6)
                rho = max(rho * 1e-2, 1e-300)
                kmax = min(2 * kmax, m)
                f, g, k, err, status = sinkhorn_loop(geom, a, b, log_a, log_b, eps, f, tol, n_fallback, n_fallback,
                                                     fb_buf, 0)
                lse_r, last = None, None
                for e in be.to_numpy(fb_buf[:k]).tolist():
                    _record(errs, stage, steps, nnzs, cgits, e, 3, 0.0, 0, 0)
                st["sinkhorn_steps"] += k
                it += k - 1
        if status == Status.NONFINITE:
            break
    eps, tol = eps_t, tol_t
    nit = len(errs)
    if status == Status.CONVERGED:
        msg = (f"sns: converged, L1 marginal error {err:.3e} <= tol {tol:.3e} after {st['sinkhorn_steps']} Sinkhorn "
               f"and {st['newton_steps']} Newton steps")
    elif status == Status.STAGNATED:
        msg = (f"sns: the marginal error stopped decreasing at {err:.3e} > tol {tol:.3e} (30 Newton steps without "
               "progress): this is the floating-point floor for this eps and cost scale; loosen tol, or rescale C")
    elif status == Status.NONFINITE:
        msg = "sns: NaN/inf appeared in the potentials or marginals; check C, a, b and eps"
    else:
        status = Status.MAXITER
        msg = (f"sns: not converged within maxiter={maxiter} stage-2 iterations (L1 marginal error {err:.3e} > "
               f"tol {tol:.3e}); try a larger maxiter, a smaller rho (denser Hessian) or a larger n_sinkhorn")
    history = {"marginal_error": np.asarray(errs, dtype=float), "stage": np.asarray(stage, dtype=np.int8),
               "step": np.asarray(steps, dtype=float), "nnz": np.asarray(nnzs, dtype=np.int64),
               "cg_iterations": np.asarray(cgits, dtype=np.int64)}
    options = {"tol": tol, "maxiter": maxiter, "eps": eps, "n_sinkhorn": n_sinkhorn, "max_sinkhorn": max_sinkhorn,
               "switch_tol": switch_tol, "rho": rho, "kmax": kmax, "mu0": mu0, "cg_rtol": cg_rtol,
               "n_fallback": n_fallback, "eps_scaling": eps_scaling, "warm_start": f0 is not None or g0 is not None}
    st["iterations"] = nit
    return common.build_result("sns", be, geom, f, g, eps, support, full_shape, converged=status == Status.CONVERGED,
                               status=status, message=msg, nit=nit, history=history, stats=st, options=options,
                               timer=timer)
