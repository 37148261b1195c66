"""The iterations of :func:`~solvers.nonlinear.sketched_newton.sketched_newton` (AdaSketch-Newton).

:func:`iterate` runs the Newton iterations from a validated start: the Newton-KKT system with the modified
Hessian, the inexact inner solve with the adaptive accuracy and penalty updates, Armijo backtracking on the
exact augmented Lagrangian merit with the second-order correction and the watchdog, the stopping tests, the
second-order check of a first-order point and the :class:`~solvers.results.SolveResult`; the watchdog's saved
iterate (:class:`Watch`, :func:`return_to_watch`) lives here with them. The entry point is :mod:`.sketched_newton`.

References
----------
I. Hong, S. Na, M. W. Mahoney and M. Kolar, "Constrained optimization via exact augmented Lagrangian and
randomized iterative sketching", ICML 2023 (arXiv:2305.18379).
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., Springer 2006, sections 15.6 and 18.1.
"""
from __future__ import annotations

import math

import numpy as np

from ..results import SolveResult, Status, stopped_message
from ._constraint_notes import degenerate_note, inconsistency_note, unresolved_constraints_note
from ._kkt import DENSE_LIMIT, NewtonSystem, SketchSampler, krylov_solve, sketch_and_project
from ._newton_parts import falls_at_constant, far_and_falling, kkt_stall, reduced_curvature_verdict
from ._nlp import (SCALE_MARGIN, Point, merit_gradient, merit_noise, merit_products, merit_value, nonfinite_product,
                   second_order_point, vdot, vnorm)
from .linesearch import armijo_backtracking

METHOD = "sketched_newton"
_MU_MAX, _NU_MIN, _DELTA_MIN = 1e12, 1e-12, 1e-12
#: the tight inner accuracy of small systems (``n + m <= tight_size``): ``max(_TIGHT_FRACTION tol, _TIGHT_FLOOR ||b||)``
_TIGHT_FRACTION, _TIGHT_FLOOR = 0.1, 1e-12
_OPERATOR_PRODUCTS = 100  # inner budget on an operator KKT system: products per unknown and Newton iteration
_NEG_CURVATURE, _ROUNDING = 1e-6, 1.5e-8   # the reduced Hessian's negative curvature: reduced_curvature_verdict
_SCALE_HINT = 1e3         # objective scales (max |grad f(x0)|) outside [1/_SCALE_HINT, _SCALE_HINT] are named
_SLOPE_FLOOR = 1e-280     # below this squared KKT norm the merit's slope underflows (STAGNATED, naming tol)
_STALL_ITERATIONS = 10    # STAGNATED when the KKT residual is unchanged to 12 digits over this many iterations
_WATCHDOG_RETURNS = 1     # relaxed (watchdog) steps stop after this many returns to a saved iterate
#: DIVERGED when max |x| > this x max(1, max |x0|) with the KKT residual above its x0 value (unbounded problem)
_DIVERGE_FACTOR = 1e20


class Watch:
    """The saved iterate of the watchdog technique (Chamberlain, Powell, Lemarechal and Pedersen, 1982).

    After a relaxed iteration (the unit step taken although the merit rejected it) the next
    iterate ``q`` is kept when the merit at the relaxed point is below the saved value, or the
    merit at ``q`` satisfies the Armijo condition relative to the saved iterate along its
    direction; both with the penalties of the check (``mu``, ``nu`` only grow/shrink).
    Otherwise the method returns to the saved iterate (Nocedal and Wright 2006, Algorithm 15.2
    with one relaxed step).
    """

    __slots__ = ("p", "z", "products", "relaxed", "k")

    def __init__(self, p, z, products, relaxed, k):
        self.p, self.z, self.products, self.relaxed, self.k = p, z, products, relaxed, k

    def passes(self, q, mu, nu, beta) -> bool:
        phi_k = merit_value(self.p, mu, nu)
        slope_k = vdot(self.p.be, merit_gradient(self.p, mu, nu, self.products), self.z)
        return merit_value(self.relaxed, mu, nu) <= phi_k or merit_value(q, mu, nu) <= phi_k + beta * min(slope_k, 0.0)


def return_to_watch(watch, stats, record, line_search, inner=0):
    """Return to the watchdog's saved iterate and backtrack along its direction from ``alpha = 1/2`` (the unit
    step was rejected there), as one recorded iteration; when that finds no decrease the saved iterate itself is
    recorded, with step size 0. Returns ``(p, None, True)``: no relaxed step at the next iteration."""
    stats["watchdog_returns"] += 1
    q, alpha = line_search(watch)
    p = q if q is not None else watch.p
    record(p, inner, alpha)
    return p, None, True


def iterate(problem, ev, be, timer, cb, p, *, n, m, sketch, tol, maxiter, mu0, nu0, delta0, xi_B, beta, rho,
            superlinear, tight_size, second_order_correction, watchdog, sketch_size, inner_maxiter, seed_used,
            options, lam_src, scale_f, scale_c, spent_iterations, watchdog_gl):
    """Run the Newton iterations of ``sketched_newton`` from the evaluated start ``p`` and return its result.

    The arguments are the validated options of :func:`~solvers.nonlinear.sketched_newton.sketched_newton`
    (``sketch_size`` and ``inner_maxiter`` as given, ``None`` for the defaults) and its set-up: the evaluator
    ``ev``, backend ``be``, ``timer``, callback ``cb``, sizes ``n``, ``m``, the seed, the recorded ``options``,
    the source of ``lam0`` and the problem's scales at ``x0`` (``scale_f``, ``scale_c``, for the messages);
    ``spent_iterations`` and ``watchdog_gl`` are the module constants ``_SPENT_ITERATIONS`` and
    ``_WATCHDOG_GL`` of :mod:`.sketched_newton`.

    Returns
    -------
    SolveResult
        As documented in :func:`~solvers.nonlinear.sketched_newton.sketched_newton`.
    """
    N = n + m
    xp = be.xp            # the array module of the iterate: vectors stay on the device, scalars come back as floats
    if sketch == "kaczmarz":
        s = 1
    elif sketch_size is not None:
        s = min(sketch_size, N)
    else:
        s = 1 if sketch in ("gaussian", None) else int(math.ceil(math.sqrt(N)))
    inner_given = inner_maxiter is not None
    if inner_maxiter is None:
        inner_maxiter = max(20000, 200 * N) if sketch is not None else 10 * N
    rng = np.random.default_rng(seed_used)
    tight = N <= tight_size          # applied to dense (assembled) KKT matrices only, see step 2
    op_budget = None                 # inner iterations of a sketch per Newton iteration on an operator KKT system

    mu, nu, delta = mu0, nu0, delta0
    stats = {"inner_iterations": 0, "penalty_updates": 0, "hessian_modifications": 0, "max_shift": 0.0,
             "inexact_directions": 0, "line_search_evaluations": 0, "minres_matvecs": 0,
             "preconditioner_evaluations": 0, "sketch_growths": 0, "second_order_corrections": 0,
             "relaxed_steps": 0, "watchdog_returns": 0, "second_order": "not measured (no first-order point)",
             "reduced_hessian_min_eig": None}
    hist = {"kkt": [p.kkt], "objective": [ev.user_f(p.f)], "constraint": [float(xp.max(xp.abs(p.c)))],
            "inner_iterations": [0], "step_size": [0.0], "mu": [mu], "nu": [nu]}
    kkt0 = p.kkt
    x_limit = _DIVERGE_FACTOR * max(1.0, x0max := float(xp.max(xp.abs(p.x))))
    kkt_form = ""
    watch = None            # the pending watchdog check (after a relaxed unit step), see Watch
    returned = False        # the last iteration returned to a saved iterate: no relaxed step now
    spent_run = 0           # consecutive iterations whose sketch used all of inner_maxiter (see spent_iterations)

    def backtrack(w):
        """Armijo backtracking from ``alpha = 1/2`` along the saved direction at the saved iterate (current
        penalties): ``(point, alpha)`` or ``(None, 0.0)``."""
        slope_w = vdot(be, merit_gradient(w.p, mu, nu, w.products), w.z)
        if not slope_w < 0:
            return None, 0.0
        pts = {}

        def phi_w(a):
            q = Point.evaluate(ev, w.p.x + a * w.z[:n], w.p.lam + a * w.z[n:], strict=False)
            pts[a] = q
            return merit_value(q, mu, nu)
        lsr = armijo_backtracking(phi_w, merit_value(w.p, mu, nu), slope_w, alpha0=0.5, c1=beta, max_evals=59,
                                  step_norm=float(xp.max(xp.abs(w.z))),
                                  xtol=1e-15 * float(xp.max(xp.abs(w.p.x))))
        stats["line_search_evaluations"] += lsr.evals
        return (pts[lsr.alpha], lsr.alpha) if lsr.accepted else (None, 0.0)

    def tail(k):
        """The callback and the stopping tests at the end of iteration ``k``: ``(status, message)`` or ``None``."""
        stop = cb(p.x, k, lam=ev.user_lam(p.lam), kkt=p.kkt, objective=ev.user_f(p.f), constraint=hist["constraint"][-1])
        if p.kkt <= tol:
            return second_order(k, converged_msg(k))
        if stop:
            return Status.STOPPED, stopped_message(METHOD, k)
        return None

    def record(p, inner, step):
        hist["kkt"].append(p.kkt)
        hist["objective"].append(ev.user_f(p.f))
        hist["constraint"].append(float(xp.max(xp.abs(p.c))))
        hist["inner_iterations"].append(inner)
        hist["step_size"].append(step)
        hist["mu"].append(mu)
        hist["nu"].append(nu)

    def finish(status, k, msg):
        if status == Status.STAGNATED and xp is np and "constraints look" not in msg:
            msg += inconsistency_note(p.J, p.c, scale_c, hist["constraint"][0])
        out_stats = {**timer.stats(), **ev.counts, **stats, "final_delta": delta, "seed": seed_used,
                     "sketch_size": s if sketch is not None else None, "inner_maxiter": inner_maxiter,
                     "kkt_form": kkt_form, "lam0": lam_src, "objective_scale": ev.fscale}
        return SolveResult(p.x, status == Status.CONVERGED, status, msg, k,
                           history={key: np.asarray(v, dtype=float) for key, v in hist.items()},
                           stats=out_stats, method=METHOD, backend=be.name, options=options,
                           provenance=timer.provenance(), lam=ev.user_lam(p.lam), mu=mu, nu=nu)

    def second_order(k, msg):
        """The second-order check of a first-order point (dense problems): ``(status, message)``. A KKT point whose
        reduced Hessian has a clearly negative eigenvalue is not a local minimiser (a constrained maximiser or
        saddle point): reported as a failure, never as convergence."""
        H = ev.hess(p.x, p.lam)
        system = NewtonSystem(H, p.J, be)
        if not system.is_dense and system.Ka is not None:
            # a small operator system, assembled by n + m products: the same exact test on its blocks
            Ka = system.Ka
            system = NewtonSystem(Ka[:n, :n], Ka[n:, :n], be)
        if not system.is_dense:
            stats["second_order"] = "not measured (operator KKT system)"
            return Status.CONVERGED, (msg + "; a first-order KKT point: second-order conditions are not checked for an "
                                      "operator KKT system (the curvature test along the steps does not exclude a "
                                      "saddle point)")
        if not np.all(np.isfinite(system.H)):
            stats["second_order"] = "not measured (hess_lagrangian not finite)"
            return Status.CONVERGED, msg
        _, lam_min, _ = system.reduced_hessian_shift(xi_B)
        stats["reduced_hessian_min_eig"] = ev.user_f(float(lam_min))   # of the problem's own f (not fscale f)
        negative, limit, probed = reduced_curvature_verdict(ev, p, system, lam_min, be, _NEG_CURVATURE, _ROUNDING)
        if not negative:
            stats["second_order"] = (
                "no null space (J has full column rank)" if lam_min == math.inf else "positive definite reduced "
                "Hessian" if lam_min > limit else "positive semidefinite reduced Hessian (degenerate)" if not probed
                else f"degenerate: the reduced Hessian's smallest eigenvalue {ev.user_f(lam_min):.1e} < 0, but the "
                "Lagrangian does not fall along its direction (a valley of minimisers)")
            return Status.CONVERGED, msg
        stats["second_order"] = "negative curvature (not a local minimiser)"
        return Status.FAILED, (
            f"{METHOD}: reached a first-order KKT point in {k} iterations (||(grad L, c)||_2 = {p.kkt:.3e} <= tol = "
            f"{tol:.1e}) that is NOT a local minimiser: the reduced Hessian Z^T H Z of the Lagrangian on the null "
            f"space of jac has the eigenvalue {ev.user_f(lam_min):.3e} < 0 (negative curvature along the constraints: a "
            "constrained maximiser or saddle point); try another x0")

    def scale_hint():
        """A failure message's note when max |grad f(x0)| or max |jac(x0)| is far from 1 ('' otherwise): the merit's
        penalties and descent test are absolute (mu0/nu0 scaled to f did not rescue such problems: rescaling does)."""
        notes = []
        for what, name, v in (("objective", "grad f", scale_f), ("constraints", "jac", scale_c)):
            if v is not None and (v > _SCALE_HINT or 0.0 < v < 1.0 / _SCALE_HINT):
                notes.append(f"the {what} is badly scaled (max |{name}(x0)| = {v:.1e}, far from 1)".replace(
                    "constraints is", "constraints are"))
        if not notes:
            return ""
        return (f"; {' and '.join(notes)}, while the merit's penalties (mu0 = {mu0:g}, nu0 = {nu0:g}) and its "
                "descent test are absolute, so its terms are unbalanced: rescale f and/or c (divide each by its "
                "scale at x0; tol with the objective's)")

    def converged_msg(k):
        msg = f"{METHOD}: converged in {k} iterations, ||(grad L, c)||_2 = {p.kkt:.3e} <= tol = {tol:.1e}"
        small = [f"max |{name}(x0)| = {v:.1e}" for name, v in (("grad f", scale_f), ("jac", scale_c))
                 if v is not None and 0.0 < v < SCALE_MARGIN * tol]   # 0: e.g. a feasibility problem
        if small and k > 0:
            msg += (f"; caution: tol is absolute and the problem's own scale is within {SCALE_MARGIN:g}x of it "
                    f"({', '.join(small)}), so this point meets tol but may be far from a minimiser: rescale the "
                    "problem or lower tol")
        msg += unresolved_constraints_note(p.J, p.x, tol, METHOD) if k > 0 and xp is np else ""
        return msg + (degenerate_note(p.J, scale_c, ev.user_lam(p.lam), p.kkt) if xp is np else "")

    if p.kkt <= tol:
        # true by the (absolute) measure; say so, since an objective scaled small passes it anywhere
        status0, msg0 = second_order(0, converged_msg(0) + (
            " at the starting point (tol is absolute: if the objective or constraints are scaled small, here "
            f"||grad f(x0)|| = {ev.user_f(float(xp.linalg.norm(p.g))):.2e}, any point may pass; then lower tol or rescale)"))
        return finish(status0, 0, msg0)

    status, msg, k = Status.MAXITER, "", 0
    for k in range(1, maxiter + 1):
        # -------------------------------------------------------------- Newton system with modified Hessian
        H = ev.hess(p.x, p.lam)
        system = NewtonSystem(H, p.J, be, for_sketch=sketch is not None)
        if system.is_dense and not np.all(np.isfinite(system.H)) and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if system.is_dense and not np.all(np.isfinite(system.H)):
            status, msg = Status.NONFINITE, (f"{METHOD}: problem.hess_lagrangian is not finite at iteration {k}; "
                                             "x is the last iterate. Rescale the problem or start elsewhere")
            k -= 1
            break
        p.H = system.H
        kkt_form = "dense" if system.is_dense else "operator"
        op_sketch = sketch is not None and not system.assembled
        if op_sketch and op_budget is None:
            # each sketch iteration costs operator products here: bound the inner work per Newton iteration
            op_budget = inner_maxiter if inner_given else max(50, _OPERATOR_PRODUCTS * N // (2 * s))
            inner_maxiter = op_budget
        if system.is_dense:
            t, _, _ = system.reduced_hessian_shift(xi_B)
            if t > 0:
                system.set_shift(t)
                stats["hessian_modifications"] += 1
                stats["max_shift"] = max(stats["max_shift"], t)
        b = -p.kkt_vector()
        bnorm = vnorm(be, b)
        if bnorm * bnorm < _SLOPE_FLOOR:   # the merit's slope would underflow to 0.0 (helper-100: tol 1e-200)
            status, msg = Status.STAGNATED, (f"{METHOD}: the KKT residual {p.kkt:.3e} at iteration {k} is so small "
                                             f"that the merit's slope underflows: tol = {tol:.1e} is below what this "
                                             "solver resolves; use tol >= 1e-140 (x is the last iterate)")
            k -= 1
            break
        theta = min(1.0, p.kkt / kkt0) if superlinear else 1.0
        products = merit_products(p, system.H)   # exact Hessian of the Lagrangian (no shift); once per iterate
        bad = nonfinite_product(products, xp)
        if bad and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if bad:
            status, msg = Status.NONFINITE, (f"{METHOD}: {bad} at iteration {k}; x is the last iterate. Check "
                                             "the operator's matvec/rmatvec (finite outputs of the right shape)")
            k -= 1
            break
        M = None
        if sketch is None and getattr(problem, "kkt_preconditioner", None) is not None:
            M = problem.kkt_preconditioner(p.x, p.lam)
            stats["preconditioner_evaluations"] += 1
        sampler = SketchSampler(sketch, N, s, rng, system.row_probabilities() if sketch in ("kaczmarz", "block")
                                else None) if sketch is not None else None
        # -------------------------------------------------------------- inner solve + penalty updates
        z, r = xp.zeros(N), -b.copy()
        inner = 0
        delta = max(min(delta, (0.5 - beta) * nu / (1.0 + mu + nu)), _DELTA_MIN)
        descent = None
        exhausted = False      # a sketch on an operator KKT system used up its inner budget (op_budget)
        stuck = False          # a sketch round used its whole inner_maxiter without meeting the accuracy
        for _ in range(200):
            acc = theta * delta * bnorm
            if tight and system.is_dense:
                acc = min(acc, max(_TIGHT_FRACTION * tol, _TIGHT_FLOOR * bnorm))
            if sketch is None:
                z, r, its, mv, ok = krylov_solve(system, b, z, acc, inner_maxiter, M, be)
                stats["minres_matvecs"] += mv
            elif stuck:
                # the last round ran its full inner_maxiter without the accuracy: the sketch does not converge
                # on this K, so later rounds only update the penalties and repeat the descent test on this z
                its, ok = 0, False
            else:
                budget = op_budget - inner if op_sketch else inner_maxiter
                z, r, its, ok = sketch_and_project(system, b, z, r, acc, budget, sampler)
                stats["sketch_growths"] += sampler.grown
                sampler.grown = 0
                stuck = not ok and its >= budget
            inner += its
            if not bool(xp.all(xp.isfinite(z))):
                break
            if op_sketch and not ok and inner >= op_budget:
                exhausted = True
                break
            if not system.is_dense:          # curvature test on the step (operator problems)
                dx = z[:n]
                if vdot(be, dx, dx) > 0 and system.curvature(dx) <= 0 and stats["hessian_modifications"] < 60:
                    t = max(2.0 * system.shift, xi_B)
                    system.set_shift(t)
                    if sampler is not None:
                        sampler.reset()          # its batch holds rows of the old K
                    stats["hessian_modifications"] += 1
                    stats["max_shift"] = max(stats["max_shift"], t)
                    z, r = xp.zeros(N), -b.copy()
                    stuck = False
                    continue
            grad_merit = merit_gradient(p, mu, nu, products)
            slope = vdot(be, grad_merit, z)
            if slope < 0.0 and slope <= -0.5 * nu * bnorm * bnorm:
                descent = (z, slope, ok)
                break
            if mu >= _MU_MAX or nu <= _NU_MIN:
                if slope < 0:
                    descent = (z, slope, ok)
                break
            mu, nu = mu * rho * rho, nu / rho
            delta = max(min(delta / rho ** 4, (0.5 - beta) * nu / (1.0 + mu + nu)), _DELTA_MIN)
            stats["penalty_updates"] += 1
        stats["inner_iterations"] += inner
        if exhausted:
            status = Status.FAILED
            msg = (f"{METHOD}: sketch={sketch!r} on an operator KKT system (matrix-free, or above {DENSE_LIMIT} "
                   f"unknowns) used its inner budget of {op_budget} sketch iterations (about {2 * s * op_budget} "
                   f"operator products) at iteration {k} without meeting the inner accuracy "
                   f"(||K z - b|| = {vnorm(be, r):.2e}, needed {acc:.2e}); each sketch row of an operator costs "
                   "products: use sketch=None (MINRES with problem.kkt_preconditioner), or pass a larger inner_maxiter")
            k -= 1
            break
        if descent is None and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if descent is None:
            status = Status.STAGNATED
            far = far_and_falling(hist["objective"][0], hist["objective"][-1], float(xp.max(xp.abs(p.x))), x0max)
            msg = (f"{METHOD}: no descent direction of the merit at iteration {k} (mu = {mu:.2e}, nu = {nu:.2e}, "
                   f"{inner} inner iterations)" + (f": {far}; else " if far else "; ") + "the KKT matrix may be "
                   f"singular (dependent constraints) or the inner solver too slow: try {'' if sketch is None else 'sketch=None (MINRES), '}"
                   "a larger inner_maxiter, or another starting point" + scale_hint())
            k -= 1
            break
        z, slope, ok = descent
        if not ok:
            stats["inexact_directions"] += 1
        # consecutive Newton iterations whose sketch ran out of inner_maxiter without the accuracy
        spent_run = spent_run + 1 if (sketch is not None and not ok and stuck) else 0
        # -------------------------------------------------------------- Armijo on the merit
        dx, dl = z[:n], z[n:]
        phi0 = merit_value(p, mu, nu)
        trials = {}

        soc_J = system.J if (second_order_correction and system.is_dense) else None

        def phi(a, p=p, dx=dx, dl=dl, mu=mu, nu=nu, slope=slope, soc_J=soc_J):
            q = Point.evaluate(ev, p.x + a * dx, p.lam + a * dl, strict=False)
            trials[a] = q
            value = merit_value(q, mu, nu)
            if a == 1.0 and soc_J is not None and q.finite and not value <= phi0 + beta * slope:
                # the unit step is rejected: try it with the second-order correction (same Armijo test)
                qs = second_order_point(ev, q, soc_J)
                if qs is not None and merit_value(qs, mu, nu) <= phi0 + beta * slope:
                    trials[a] = qs
                    stats["second_order_corrections"] += 1
                    return merit_value(qs, mu, nu)
            return value

        def noise_test(a, p=p):
            q = trials[a]
            return q.finite and q.kkt < 0.9 * p.kkt

        zmax = float(xp.max(xp.abs(z)))
        ls_kw = {"c1": beta, "shrink": 0.5, "step_norm": zmax, "noise": merit_noise(p, mu, nu),
                 "xtol": 1e-15 * float(xp.max(xp.abs(p.x))), "noise_test": noise_test}
        lsr = armijo_backtracking(phi, phi0, slope, max_evals=1, **ls_kw)     # the unit step (with its correction)
        stats["line_search_evaluations"] += lsr.evals
        relax = (watchdog and watch is None and not returned and stats["watchdog_returns"] < _WATCHDOG_RETURNS
                 and not lsr.accepted and trials[1.0].finite
                 and vnorm(be, trials[1.0].gL) <= watchdog_gl * vnorm(be, p.gL))
        if not lsr.accepted and not relax:
            lsr = armijo_backtracking(phi, phi0, slope, alpha0=0.5, max_evals=59, **ls_kw)
            stats["line_search_evaluations"] += lsr.evals
        returned = False
        if not lsr.accepted and not relax and watch is not None:
            p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
            if (end := tail(k)):
                status, msg = end
                break
            continue
        if not lsr.accepted and not relax:
            status = Status.STAGNATED
            msg = (f"{METHOD}: the line search on the merit found no decrease at iteration {k} "
                   f"(||(grad L, c)|| = {p.kkt:.3e})")
            bad = [q.bad for q in trials.values() if not q.finite]
            hint = scale_hint()
            if bad:
                names = ", ".join(sorted(set(bad)))
                msg += (f": {names} was not finite (NaN or inf) at {len(bad)} of the {len(trials)} trial points "
                        "x + alpha dx along the Newton step; the problem is undefined or overflows there: make it "
                        "finite near x (e.g. a smooth extension or bounded formulation) or start elsewhere")
            elif hint:
                msg += hint
            elif xp is np and (note := inconsistency_note(p.J, p.c, scale_c, hist["constraint"][0])):
                msg += note + ("; if they do, grad/jac/hess_lagrangian may be inconsistent with f and c (check them "
                               "with finite differences)")
            else:
                msg += ("; tol may be below the attainable accuracy, or grad/jac/hess_lagrangian may be "
                        "inconsistent with f and c (check them with finite differences)")
            k -= 1
            break
        alpha = 1.0 if relax else lsr.alpha
        q = trials[alpha]
        if relax:                          # take the rejected unit step; the next iteration checks it
            stats["relaxed_steps"] += 1
            watch = Watch(p, z, products, q, k)
            p = q
            record(p, inner, alpha)
        elif watch is not None:            # the check: keep both steps, or return to the saved iterate
            if q.kkt <= tol or watch.passes(q, mu, nu, beta):
                p, watch = q, None
                record(p, inner, alpha)
            else:
                p, watch, returned = return_to_watch(watch, stats, record, backtrack, inner)
        else:
            p = q
            record(p, inner, alpha)
        if (end := tail(k)):
            status, msg = end
            break
        xmax = float(xp.max(xp.abs(p.x)))
        if not xmax <= x_limit and p.kkt > kkt0:   # far out AND farther from first-order than at x0
            status = Status.DIVERGED
            msg = (f"{METHOD}: the iterates diverge: max |x| = {xmax:.3e} at iteration {k}, above {_DIVERGE_FACTOR:.0e} "
                   f"times max(1, max |x0|), with objective {hist['objective'][-1]:.3e} (at x0: "
                   f"{hist['objective'][0]:.3e}) and ||(grad L, c)||_2 = {p.kkt:.3e} > tol = {tol:.1e}; the objective "
                   "may be unbounded below on the feasible set (or the constraints do not bound x): check the "
                   "formulation, add constraints or start elsewhere")
            break
        stall = kkt_stall(hist["kkt"], hist["objective"], _STALL_ITERATIONS)
        if stall:
            status = Status.STAGNATED
            msg = (f"{METHOD}: the KKT residual ||(grad L, c)||_2 = {p.kkt:.6e} has not changed (to 12 digits) over "
                   f"the last {_STALL_ITERATIONS} iterations (up to {k}): the steps no longer change the iterate "
                   "(an ill-conditioned KKT matrix or an inexact direction below rounding); use "
                   f"{'' if sketch is None else 'sketch=None (MINRES), '}a larger inner_maxiter, or rescale the problem"
                   + scale_hint()) if stall == "constant" else (
                f"{METHOD}: the KKT residual ||(grad L, c)||_2 = {p.kkt:.6e} has made no new low in the last "
                f"{2 * _STALL_ITERATIONS} iterations (up to {k}; lowest {min(hist['kkt']):.3e}) and sits at the rounding "
                f"level of this problem: tol = {tol:.1e} is below the accuracy attainable in double precision; loosen tol")
            break
        if spent_run >= spent_iterations:
            status = Status.FAILED
            msg = (f"{METHOD}: sketch={sketch!r} ran out of inner_maxiter = {inner_maxiter} without meeting the "
                   f"inner accuracy at {spent_run} consecutive iterations (up to {k}, ||(grad L, c)||_2 = "
                   f"{p.kkt:.3e} > tol = {tol:.1e}): the KKT matrix is too ill-conditioned for the sketch; use "
                   "sketch=None (MINRES), or pass a larger inner_maxiter" + scale_hint())
            break
    else:
        k = maxiter
        msg = (f"{METHOD}: maxiter = {maxiter} reached with ||(grad L, c)||_2 = {p.kkt:.3e} > tol = {tol:.1e}; "
               + (scale_hint()[2:] if scale_hint() else "raise maxiter" +
                  ("" if sketch is None else ", or try sketch=None (MINRES) or superlinear=True")))
        if falls_at_constant(hist["objective"], hist["kkt"], _STALL_ITERATIONS):
            msg += (f". The objective fell at each of the last {_STALL_ITERATIONS} iterations while the KKT residual "
                    "stayed the same: it may be unbounded below on the feasible set (linear along a feasible "
                    "direction), or the iterates cross a region of constant gradient")
    return finish(status, k, msg)


__all__ = ["iterate"]
