"""Log-domain Sinkhorn for entropic optimal transport.

For the problem ``min <P, C> + eps sum P (log P - 1)`` s.t. ``P 1 = a``, ``P^T 1 = b``
the iteration alternates the exact block maximisations of the dual
``D(f, g) = <a,f> + <b,g> - eps sum_ij exp((f_i + g_j - C_ij)/eps)``:

    g_j = eps log b_j - eps LSE_i (f_i - C_ij) / eps
    f_i = eps log a_i - eps LSE_j (g_j - C_ij) / eps

with max-shifted log-sum-exp, so nothing overflows for any ``eps``.

References
----------
M. Cuturi, "Sinkhorn distances", NeurIPS 2013.
B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport
problems", SIAM J. Sci. Comput. 41 (2019) (log-domain updates, eps-scaling).
"""
from __future__ import annotations

import math

import numpy as np

from ..results import Status, Timer
from . import _common as common


def _check_opts(tol, maxiter, check_every, eps_scaling):
    if not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol <= 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    if maxiter is not None and (not isinstance(maxiter, (int, np.integer)) or isinstance(maxiter, bool) or maxiter < 1):
        raise ValueError(f"maxiter must be a positive integer or None, got {maxiter!r}")
    if check_every is not None and (not isinstance(check_every, (int, np.integer)) or check_every < 1):
        raise ValueError(f"check_every must be a positive integer or None, got {check_every!r}")
    if eps_scaling is not None and not (0.0 < float(eps_scaling) < 1.0):
        raise ValueError(f"eps_scaling must be a factor in (0, 1) or None, got {eps_scaling!r}")


def sinkhorn_loop(geom, a, b, log_a, log_b, eps, f, tol, maxiter, check_every, err_buf, start, callback=None):
    """Run Sinkhorn iterations from ``f`` (g is computed from f first).

    Every iteration is ``g <- update(f)`` (columns exact), ``f_new <- update(g)``; the L1
    marginal error of the consistent pair ``(f, g)`` is then
    ``sum_i |a_i - a_i exp((f_i - f_new_i)/eps)|`` and is written to ``err_buf[start + k]``
    (a device write on CuPy; the host reads it only every ``check_every`` iterations).

    Returns ``(f, g, nit, err, status)``: the pair whose error ``err`` was last checked.
    """
    be = geom.be
    xp = be.xp
    numba = be.name == "numba"
    g = geom.g_update(f, log_b, eps)
    f_new = xp.empty_like(f) if numba else None
    g_new = xp.empty_like(g) if numba else None
    err = math.inf
    for k in range(maxiter):
        f_new = geom.f_update(g, log_a, eps, out=f_new)
        e = geom.row_gap(a, f, f_new, eps)
        err_buf[start + k] = e
        last = k == maxiter - 1
        if (k + 1) % check_every == 0 or last:
            err = float(e)
            if callback is not None:
                callback(f, g, err)
            if not math.isfinite(err):
                return f, g, k + 1, err, Status.NONFINITE
            if err <= tol:
                return f, g, k + 1, err, Status.CONVERGED
            if last:
                f, f_new = f_new, f
                g = geom.g_update(f, log_b, eps, out=g_new)
                return f, g, k + 1, err, Status.MAXITER
        f, f_new = f_new, f
        g, g_new = geom.g_update(f, log_b, eps, out=g_new), g
    return f, g, maxiter, err, Status.MAXITER


def sinkhorn(problem, tol: float = 1e-9, maxiter: int | None = None, *, f0=None, g0=None,
             eps_scaling: float | None = None, check_every: int | None = None, callback=None,
             backend=None):
    """Log-domain Sinkhorn.

    Parameters
    ----------
    problem : problems.ot.EntropicOT
        Anything with ``C`` (n, m), ``a``, ``b`` (equal sums) and ``eps``.
    tol : float
        Stop when the L1 marginal error ``|P 1 - a|_1 + |P^T 1 - b|_1 <= tol``
        (after each g-update the column error is zero, so this is the row error).
    maxiter : int, optional
        Iteration budget, summed over the eps-scaling stages (default 100 000).
    f0, g0 : arrays, optional
        Warm start potentials (``g0`` is only used when ``f0`` is None: then
        ``f0`` is its Sinkhorn update).
    eps_scaling : float in (0, 1), optional
        Solve a sequence ``eps_k = max(eps, C.max() * eps_scaling**k)``, each
        intermediate stage to marginal error 1e-2 (warm-starting the next).
    check_every : int, optional
        How often the host reads the error (default 1 on the CPU, 10 on the GPU);
        every iteration's error is recorded on the device regardless.
    callback : callable, optional
        ``callback(f, g, err)`` at every check.
    backend : str or Backend, optional

    Returns
    -------
    SolveResult
        ``f``, ``g`` (potentials, ``-inf`` where a weight is zero), ``x`` = concatenation
        of f and g, ``cost`` = <P, C>, ``plan()`` (dense below 2.5e7 entries, else
        CSR of the entries above 1e-12 times the row maximum), ``history["marginal_error"]``
        and ``history["eps"]`` per iteration.
    """
    _check_opts(tol, maxiter, check_every, eps_scaling)
    be, geom, a, b, eps, support, full_shape, f0, g0 = common.prepare(problem, backend, f0, g0)
    timer = Timer(be)
    xp = be.xp
    maxiter = 100_000 if maxiter is None else int(maxiter)
    check_every = (10 if be.is_gpu else 1) if check_every is None else int(check_every)
    log_a, log_b = xp.log(a), xp.log(b)
    err_buf = xp.zeros(maxiter)
    if f0 is None:
        f = geom.f_update(g0, log_a, eps) if g0 is not None else xp.zeros(geom.n)
    else:
        f = f0
    stages = [eps]
    if eps_scaling is not None:
        cmax = float(xp.max(geom.C) - xp.min(geom.C))
        e = max(cmax, eps)
        stages = []
        while e > eps:
            stages.append(e)
            e *= float(eps_scaling)
        stages.append(eps)
    eps_hist = []
    nit = 0
    status, err = Status.MAXITER, math.inf
    for s, e in enumerate(stages):
        final = s == len(stages) - 1
        stage_tol = tol if final else max(tol, 1e-2)
        budget = maxiter - nit
        if budget <= 0:
            break
        f, g, k, err, status = sinkhorn_loop(geom, a, b, log_a, log_b, e, f, stage_tol, budget, check_every,
                                             err_buf, nit, callback)
        eps_hist.extend([e] * k)
        nit += k
        if status == Status.NONFINITE:
            break
        if status == Status.MAXITER and not final:
            continue
    if status != Status.NONFINITE and not bool(xp.all(xp.isfinite(f)) and xp.all(xp.isfinite(g))):
        status = Status.NONFINITE
    converged = status == Status.CONVERGED
    if converged:
        msg = f"sinkhorn: converged in {nit} iterations, L1 marginal error {err:.3e} <= tol {tol:.3e}"
    elif status == Status.MAXITER:
        msg = (f"sinkhorn: not converged after {nit} iterations (L1 marginal error {err:.3e} > tol {tol:.3e}). "
               "Small eps makes Sinkhorn slow: try solvers.sns (Newton stage), a larger maxiter, a warm start "
               "(f0) or eps_scaling=0.5")
    else:
        msg = "sinkhorn: NaN/inf appeared in the potentials; check that C, a, b are finite and eps is not tiny"
    history = {"marginal_error": be.to_numpy(err_buf[:nit]), "eps": np.asarray(eps_hist[:nit], dtype=float)}
    options = {"tol": tol, "maxiter": maxiter, "eps": eps, "eps_scaling": eps_scaling,
               "check_every": check_every, "warm_start": f0 is not None or g0 is not None}
    return common.build_result("sinkhorn", be, geom, f, g, eps, support, full_shape, converged=converged,
                               status=status, message=msg, nit=nit, history=history,
                               stats={"iterations": nit}, options=options, timer=timer)
