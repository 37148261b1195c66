"""Notes that sketched_newton's messages add about the constraints: met by an absolute ``tol`` alone
(:func:`unresolved_constraints_note`), inconsistent or degenerate at a stagnated point (:func:`inconsistency_note`).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def unresolved_constraints_note(J, x, tol: float, method: str) -> str:
    """For a converged run's message (and a RuntimeWarning): when the constraints' terms at ``x``, ``max |J| max |x|``,
    are within 1e3 x of the absolute ``tol``, c(x) = 0 is met by tol alone (helper-142: PoissonControl with alpha
    = 1e8 'converged' with the state 91x off: y, u ~ 1e-11); else ``""``."""
    import warnings
    from ._nlp import SCALE_MARGIN, matrix_scale

    js = matrix_scale(J)
    if js is None and hasattr(J, "matvec") and isinstance(x, np.ndarray) and x.size:   # an operator: one product
        js = float(np.max(np.abs(np.asarray(J.matvec(np.random.default_rng(7).choice([-1.0, 1.0], x.size))))))
    terms = js * float(np.max(np.abs(x))) if js is not None and np.size(x) else 0.0
    if not 0.0 < terms < SCALE_MARGIN * tol:
        return ""
    warnings.warn(f"{method}: converged by an absolute tol {tol:.1e} that does not resolve the constraints (max |jac| "
                  f"max |x| = {terms:.1e}); see res.message", RuntimeWarning, stacklevel=5)
    return (f"; caution: the terms of the constraints at x are tiny (max |jac| max |x| = {terms:.1e}, within "
            f"{SCALE_MARGIN:g}x of tol), so c(x) = 0 is met by tol alone, not resolved: x may be far off; lower tol "
            "below 1e-3 of that, or rescale the variables")


#: ``||J^T c|| <= INCONSISTENT * max(||J||_F, jac scale at x0) * ||c||`` marks a stagnated point as a stationary
#: point of ``||c||^2`` (outside probe, session 22: sketched runs stop with the ratio at 1e-8 .. 4e-6; helper-139:
#: stalled runs on infeasible random quadratic constraints at 1e-5 .. 5e-5 with sketch=None got no note at 1e-5)
INCONSISTENT = 1e-3


def inconsistency_note(J, c, jscale: float = 0.0, c0: float = 0.0) -> str:
    """For a stagnated run's message: when ``x`` is a stationary point of ``||c||^2`` with ``c != 0``
    (``||J^T c|| <= INCONSISTENT s ||c||``, a dense or sparse ``J``; ``s = ||J||_F``, or ``jscale``, the Jacobian's
    scale at ``x0``, where ``J`` has (nearly) vanished: one constraint ``|x|^2 + 1 = 0`` at ``x = 0``, where the
    ratio with ``||J||_F`` alone is always 1) the constraints look inconsistent, which the generic advice (a
    singular KKT matrix, a slow inner solver, inconsistent derivatives) does not say; else ``""``. Where ``J`` has
    vanished and ``max |c|`` fell below 1e-6 of ``c0 = max |c(x0)|``, the constraints are rather degenerate at a
    solution (``x0^2 = 0``: LICQ fails there; helper-145 found those called inconsistent)."""
    if not (isinstance(J, np.ndarray) or sp.issparse(J)):
        return ""
    c = np.asarray(c, dtype=float)
    cn = float(np.linalg.norm(c))
    jn = float(np.sqrt(J.multiply(J).sum())) if sp.issparse(J) else float(np.linalg.norm(J))
    jtc = float(np.linalg.norm(J.T @ c))
    js = float(jscale or 0.0)
    scale = jn if jn >= 1e-3 * js else js              # the x0 scale only where J itself has (nearly) vanished
    if not (cn > 0 and np.isfinite(jtc) and jtc <= INCONSISTENT * scale * cn):
        return ""
    if scale == js and float(np.max(np.abs(c))) <= 1e-6 * c0:
        return (f". The constraint Jacobian has (nearly) vanished (||J||_F = {jn:.1e} against {js:.1e} at x0) where "
                f"||c(x)||_2 = {cn:.1e} is small: the constraints look degenerate at their solution (a constraint "
                "qualification fails, as for c(x)^2 = 0, and KKT multipliers may not exist); write each constraint so "
                "its gradient does not vanish at the solution (c = 0 rather than c^2 = 0)")
    return (f". The constraints look inconsistent: x is (nearly) a stationary point of ||c||^2 with ||c(x)||_2 = "
            f"{cn:.3e} and ||J^T c|| = {jtc:.1e} (a least-squares point of c(x) = 0, not a solution); check that the "
            "constraints have a common solution")


def degenerate_note(J, jscale, lam, kkt) -> str:
    """For a converged run's message: where the constraint Jacobian has (nearly) vanished at ``x`` (``||J||_F`` below
    1e-3 of its scale at ``x0``, ``jscale``), a constraint qualification may fail there: the multipliers grow like
    ``1 / ||J||``, and the KKT residual bounds ``x``'s error only by about ``kkt / sigma_min(J)`` (helper-145:
    ``(x0 + x1 - 1)^2 = 0`` 'converged' with lam = -5785, x 4.3e-5 off at tol 1e-8); else ``""``."""
    if not (isinstance(J, np.ndarray) or sp.issparse(J)) or not jscale:
        return ""
    jn = float(np.sqrt(J.multiply(J).sum())) if sp.issparse(J) else float(np.linalg.norm(J))
    if jn >= 1e-3 * float(jscale):
        return ""
    smin = jn
    if isinstance(J, np.ndarray) and J.size <= 1 << 22 and min(J.shape) > 0:
        smin = float(np.linalg.svd(J, compute_uv=False)[min(J.shape) - 1])
    big = float(np.max(np.abs(lam))) if np.size(lam) else 0.0
    err = f"{kkt / smin:.1e}" if smin > 0 else "nothing"
    return (f"; caution: the constraint Jacobian has (nearly) vanished at x (||J||_F = {jn:.1e} against {jscale:.1e} "
            f"at x0; max |lam| = {big:.1e}): the constraints may be degenerate there (a constraint qualification "
            f"fails, as for c(x)^2 = 0), and the KKT residual bounds x's error only by about ||KKT|| / sigma_min(J) = "
            f"{err}; write each constraint so its gradient does not vanish at the solution")


def derivative_mismatch(problem, x0, x, tol) -> str:
    """'' when ``problem.grad`` and ``problem.jac`` agree with central differences of ``problem.f`` and
    ``problem.c`` at the returned ``x`` along ``u = (x - x0) / |x - x0|``; else what disagrees. A difference counts
    when steps h and h/2 agree to 1% (its truncation error is then below 1.3%) and it differs from the derivative
    by more than 10% and far above rounding. Eight evaluations, at a claimed convergence only (a grad that is not
    f's gradient 'converged' at a wrong point from every start; helper-153). NumPy problems only."""
    from ._curvature import f_noise, resolved_slope

    s = np.asarray(x, dtype=float) - np.asarray(x0, dtype=float)
    nrm = float(np.linalg.norm(s))
    if not (nrm > 0 and np.isfinite(nrm)):
        return ""
    u = s / nrm
    try:
        J = problem.jac(x)
        pairs = (("grad", lambda y: np.atleast_1d(problem.f(y)), np.atleast_1d(np.dot(problem.grad(x), u))),
                 ("jac", lambda y: np.asarray(problem.c(y), dtype=float),
                  np.asarray(J.matvec(u) if hasattr(J, "matvec") else J @ u, dtype=float).ravel()))
        for name, F, d in pairs:
            dmax = float(np.max(np.abs(d))) if d.size else 0.0
            d1, h = resolved_slope(F, x, u, np, 0.01, floor=dmax)
            if d1 is None or d1.shape != d.shape:
                continue
            scale = max(float(np.max(np.abs(d1))), dmax)
            off = float(np.max(np.abs(d1 - d)))
            noise = 1e4 * f_noise(float(np.max(np.abs(F(x))))) / h
            if scale > 0 and off > max(0.1 * scale, noise, 100.0 * tol):
                what = "f" if name == "grad" else "c"
                return (f"{name} does not match {what}: along x - x0, {what}'s central difference is "
                        f"{np.array2string(d1[:3], precision=3)} (steps h and h/2 agree) while {name} gives "
                        f"{np.array2string(d[:3], precision=3)}, so x is not a KKT point of the problem. Check that "
                        f"{name} is the derivative of {what} (scipy.optimize.check_grad)")
    except Exception:  # noqa: BLE001 - a check of the user's callables never turns a result into a crash
        return ""
    return ""
