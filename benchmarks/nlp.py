"""Nonlinear programs and systems: newtonkit against SciPy and IPOPT (CasADi), in one process run.

Three parts (every number in the JSON says how it was measured):

(a) **HS/BT set** (:func:`problems.nlp.hs`, every name in ``HS_NAMES``): ``solvers.sketched_newton``
    with each sketch (``gaussian``, ``kaczmarz``, ``countsketch``, ``block``) and with MINRES
    (``sketch=None``), ``tol=1e-8`` on ``||(grad L, c)||_2``, ``seed=0``, default ``lam0`` (automatic: the
    least-squares multipliers unless they make the reduced Hessian indefinite at ``x0`` while zeros
    do not; each run records the start it took); medians over all of ``HS_NAMES`` and over the 24
    problems the issue names (``issue_list``); ``scipy.optimize.minimize``
    with ``trust-constr`` (exact Hessian of the Lagrangian, ``gtol=1e-8``) and ``SLSQP``
    (``ftol=1e-12``); IPOPT through CasADi (``tol=1e-8``, exact Hessian). Each newtonkit run also
    records where its iterations go: the step size of every iteration, inner iterations, Hessian
    modifications, penalty updates, unit steps accepted by the second-order correction, relaxed
    (watchdog) steps and watchdog returns. As a yardstick of what Newton's method itself needs
    from the standard start, ``exact_newton`` is the plain Newton-KKT iteration (dense
    least-squares solve of the KKT system, unit steps, no globalisation) from ``lam0 = 0`` and
    from the least-squares multipliers, to the same ``1e-8`` (``None``: not within 200).
    *How IPOPT sees the problem*: no symbolic re-derivation. A :class:`casadi.Callback` evaluates
    ``(f, c)`` with the problem's own NumPy callables (its reverse mode is ``grad`` and ``J^T``), and
    ``nlpsol`` gets the problem's gradient, Jacobian and Lagrangian Hessian as the ``grad_f``,
    ``jac_g`` and ``hess_lag`` functions (``hess_lag(x, s, lam) = s H(x, 0) + H(x, lam) - H(x, 0)``,
    upper triangle). All peers therefore use the same derivative code.
(b) **Poisson control** (:class:`problems.pde.PoissonControl`, ``alpha=1e-4``, linear and
    semilinear) at ``n = 64, 128, 256`` (``N = n^2``, ``2N`` variables, ``N`` constraints):
    ``sketched_newton(sketch=None)`` (MINRES with the problem's block-diagonal multigrid
    preconditioner), IPOPT via CasADi on the same discretisation written symbolically (``SX``,
    sparse Kronecker Laplacian, exact Hessian by CasADi's AD, MUMPS), and ``trust-constr`` with
    sparse derivatives, time-capped (a capped run is recorded as not finished, never
    extrapolated). SLSQP is dense and is not run here. Tolerance ``1e-10`` on
    ``||(grad L, c)||_2`` for newtonkit, ``tol=1e-10`` for IPOPT, ``gtol=1e-10`` for trust-constr.
(c) **Bratu** ``-Δu = 6 e^u`` on a ``256 x 256`` interior grid: ``solvers.newton_krylov`` with the
    problem's ``nonlinear_system`` (GMRES preconditioned by a multigrid V-cycle of ``J(u)``, numba)
    against ``scipy.optimize.newton_krylov`` (default LGMRES, no preconditioner) and, to separate
    preconditioner from method, SciPy with ``inner_M`` = our multigrid V-cycle of ``J(0)``. Same
    ``F`` (the problem's numba residual), same start ``u = 0``, same test ``||F||_inf <= 1e-8``.

Every solver's final point is scored by one measure computed here, independent of the solver's
own multipliers: ``kkt = ||(grad f + J^T lam_ls, c)||_2`` with ``lam_ls`` the least-squares
multipliers at the returned ``x`` (dense ``lstsq`` for HS, a sparse factorisation of ``J J^T`` for
the control problems). Times are medians of up to ``--repeats`` runs (fewer when one run exceeds
``REPEAT_BUDGET_S``; ``repeats`` records how many), with the solver's own setup included.

Usage: ``python benchmarks/nlp.py [--quick] [--repeats R] [--only hs|control|bratu]``; writes
``benchmarks/results/nlp.json`` (``nlp_quick.json`` with ``--quick``: a subset, small sizes, noisy;
``nlp_<part>.json`` with ``--only``).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from _machine import machine_info  # noqa: E402
import casadi as ca  # noqa: E402
from problems import nlp as knlp  # noqa: E402
from problems.pde.bratu import Bratu  # noqa: E402
from problems.pde.control import PoissonControl  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402
from solvers.nonlinear.newton_krylov import newton_krylov  # noqa: E402
from solvers.nonlinear.sketched_newton import sketched_newton  # noqa: E402

SKETCHES = ("gaussian", "kaczmarz", "countsketch", "block", None)
REPEAT_BUDGET_S = 10.0
QUICK_HS = ("HS6", "HS28", "HS40", "HS42", "BT2")


class TimeBudget:
    """A callback that stops a solver after ``budget`` seconds (sketched_newton: StopIteration;
    trust-constr: returning True)."""

    def __init__(self, budget, mode="raise"):
        self.budget, self.mode, self.t0, self.hit = budget, mode, time.perf_counter(), False

    def __call__(self, *args, **kw):
        if time.perf_counter() - self.t0 > self.budget:
            self.hit = True
            if self.mode == "raise":
                raise StopIteration
            return True
        return False


def pack(x, nit, claimed, extra=None):
    """A run's raw outcome; scored (KKT, objective) after the timing by the section's ``score``."""
    return {"_x": np.array(x, dtype=float), "nit": int(nit), "claimed_converged": bool(claimed), **(extra or {})}


def timed(run, repeats, score=None):
    """Median wall time of up to ``repeats`` calls of ``run() -> dict`` (the last call's dict is kept); a run
    that reports ``solve_s`` (IPOPT: the solve without CasADi's symbolic set-up) is timed by that."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = run()
        times.append(out.pop("solve_s", time.perf_counter() - t))
        if sum(times) > REPEAT_BUDGET_S or out.get("capped"):
            break
    out["time_s"] = statistics.median(times)
    out["repeats"] = len(times)
    if score is not None and "_x" in out:
        out.update(score(out.pop("_x")))
    return out


# ---------------------------------------------------------------------------------------------- IPOPT (CasADi)
class _ProblemCallback(ca.Callback):
    """One of the problem's callables for CasADi: ``fg`` (x -> f, c; reverse mode ``adj``), ``grad_f``,
    ``jac_g`` or ``hess`` (x, p, s, lam -> upper triangle of ``s H_f + sum lam_i H_ci``)."""

    _NIN = {"fg": 2, "grad_f": 2, "jac_g": 2, "hess": 4, "adj": 6}
    _NOUT = {"fg": 2, "grad_f": 2, "jac_g": 2, "hess": 1, "adj": 2}

    def __init__(self, name, p, kind):
        ca.Callback.__init__(self)
        self.p, self.kind, self._keep = p, kind, []
        self.construct(name, {})

    def get_n_in(self):
        return self._NIN[self.kind]

    def get_n_out(self):
        return self._NOUT[self.kind]

    def get_sparsity_in(self, i):
        n, m, d = self.p.n, self.p.m, ca.Sparsity.dense
        return [d(n, 1), d(0, 1), d(1, 1), d(m, 1), d(1, 1), d(m, 1)][i]

    def get_sparsity_out(self, i):
        n, m, d = self.p.n, self.p.m, ca.Sparsity.dense
        return {"fg": [d(1, 1), d(m, 1)], "grad_f": [d(1, 1), d(n, 1)], "jac_g": [d(m, 1), d(m, n)],
                "hess": [ca.Sparsity.upper(n)], "adj": [d(n, 1), d(0, 1)]}[self.kind][i]

    def has_reverse(self, nadj):
        return self.kind == "fg" and nadj == 1

    def get_reverse(self, nadj, name, inames, onames, opts):
        cb = _ProblemCallback(name, self.p, "adj")
        self._keep.append(cb)          # CasADi does not own Python callbacks
        return cb

    def eval(self, args):
        p, x = self.p, np.array(args[0], dtype=float).ravel()
        if self.kind == "fg":
            return [p.f(x), np.asarray(p.c(x), dtype=float)]
        if self.kind == "grad_f":
            return [p.f(x), np.asarray(p.grad(x), dtype=float)]
        if self.kind == "jac_g":
            return [np.asarray(p.c(x), dtype=float), dense(p.jac(x))]
        if self.kind == "adj":
            af, ag = float(args[4]), np.array(args[5], dtype=float).ravel()
            return [af * np.asarray(p.grad(x), dtype=float) + dense(p.jac(x)).T @ ag, np.zeros((0, 1))]
        s, lam = float(args[2]), np.array(args[3], dtype=float).ravel()
        H0 = dense(p.hess_lagrangian(x, np.zeros(p.m)))
        H = s * H0 + dense(p.hess_lagrangian(x, lam)) - H0
        return [ca.triu(ca.DM(H))]


def slsqp(p, ftol):
    """SciPy's SLSQP on the equality-constrained ``p`` from ``p.x0`` (warnings silenced): a :func:`pack` dict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = so.minimize(p.f, p.x0, jac=p.grad, method="SLSQP",
                        constraints=[{"type": "eq", "fun": p.c, "jac": lambda x: dense(p.jac(x))}],
                        options={"ftol": ftol, "maxiter": 1000})
    return pack(r.x, r.nit, r.success, {"status": int(r.status)})


def ipopt_callbacks(p, tol):
    """IPOPT on ``p`` through CasADi callbacks of the problem's own derivatives: (x, iterations, ok, status)."""
    cbs = [_ProblemCallback(f"{p.name}_{k}", p, k) for k in ("fg", "grad_f", "jac_g", "hess")]
    x = ca.MX.sym("x", p.n)
    f, g = cbs[0](x, ca.MX(0, 1))
    S = ca.nlpsol("S", "ipopt", {"x": x, "f": f, "g": g},
                  {"grad_f": cbs[1], "jac_g": cbs[2], "hess_lag": cbs[3], "print_time": 0,
                   "ipopt.print_level": 0, "ipopt.sb": "yes", "ipopt.tol": tol, "ipopt.max_iter": 3000})
    r = S(x0=p.x0, lbg=0, ubg=0)
    st = S.stats()
    return np.array(r["x"]).ravel(), st["iter_count"], bool(st["success"]), st["return_status"]


def ipopt_control_solver(p, tol):
    """IPOPT for the control problem written in CasADi SX (sparse Laplacian, exact Hessian by AD, MUMPS):
    ``(solver, build seconds)``; the build (symbolic graph, AD, sparsity) is done once per problem."""
    from problems.pde.control import kron_laplacian

    t = time.perf_counter()
    N, h2 = p.N, p.h2
    A = ca.DM(kron_laplacian(p.grid, p.h))
    y, u = ca.SX.sym("y", N), ca.SX.sym("u", N)
    r = y - ca.DM(p.y_desired)
    f = 0.5 * h2 * (ca.dot(r, r) + p.alpha * ca.dot(u, u))
    g = h2 * (ca.mtimes(A, y) - u + (y ** 3 if p.semilinear else 0))
    S = ca.nlpsol("S", "ipopt", {"x": ca.vertcat(y, u), "f": f, "g": g},
                  {"print_time": 0, "ipopt.print_level": 0, "ipopt.sb": "yes", "ipopt.tol": tol,
                   "ipopt.max_iter": 500})
    return S, time.perf_counter() - t


def ipopt_solve(S, x0):
    """One IPOPT solve: (x, iterations, ok, status, solve seconds)."""
    t = time.perf_counter()
    sol = S(x0=x0, lbg=0, ubg=0)
    solve = time.perf_counter() - t
    st = S.stats()
    return np.array(sol["x"]).ravel(), st["iter_count"], bool(st["success"]), st["return_status"], solve


# ---------------------------------------------------------------------------------------------- scores
def dense(a):
    if hasattr(a, "toarray"):
        return a.toarray()
    if hasattr(a, "matvec"):
        return np.column_stack([a.matvec(e) for e in np.eye(a.shape[1])])
    return np.asarray(a, dtype=float)


def kkt_dense(p, x):
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)):
        return math.inf
    g, c, J = np.asarray(p.grad(x)), np.asarray(p.c(x)), dense(p.jac(x))
    lam = np.linalg.lstsq(J.T, -g, rcond=None)[0]
    return float(np.linalg.norm(np.concatenate([g + J.T @ lam, c])))


def kkt_control(p, x):
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)):
        return math.inf
    g = np.asarray(p.grad(x, "numpy"))
    c = np.asarray(p.c(x, "numpy"))
    _, J = p.assembled(x, p.lam0)
    lam = spla.splu((J @ J.T).tocsc()).solve(-(J @ g))
    return float(np.linalg.norm(np.concatenate([g + J.T @ lam, c])))


# ---------------------------------------------------------------------------------------------- (a) HS/BT
def exact_newton(p, least_squares, tol=1e-8, maxiter=200):
    """Iterations of the plain Newton-KKT iteration (dense least-squares KKT solve, unit steps) to
    ``||(grad L, c)|| <= tol`` from ``p.x0``; ``None`` when it does not get there in ``maxiter``."""
    x = np.array(p.x0, dtype=float)
    m = np.asarray(p.c(x)).size
    lam = np.zeros(m)
    if least_squares:
        lam = np.linalg.lstsq(dense(p.jac(x)).T, -np.asarray(p.grad(x)), rcond=None)[0]
    for k in range(maxiter + 1):
        g, c, J = np.asarray(p.grad(x)), np.asarray(p.c(x)), dense(p.jac(x))
        gL = g + J.T @ lam
        if not (np.all(np.isfinite(gL)) and np.all(np.isfinite(c))):
            return None
        if math.hypot(np.linalg.norm(gL), np.linalg.norm(c)) <= tol:
            return k
        K = np.block([[dense(p.hess_lagrangian(x, lam)), J.T], [J, np.zeros((m, m))]])
        z = np.linalg.lstsq(K, -np.concatenate([gL, c]), rcond=None)[0]
        x, lam = x + z[:p.n], lam + z[p.n:]
    return None


#: the 24 problems the issue names (``HS_NAMES`` adds HS39, HS46, HS49, HS50, HS61 and HS79); the summary gives the
#: median over both
ISSUE_LIST = ("HS6 HS7 HS26 HS27 HS28 HS40 HS42 HS47 HS48 HS51 HS52 HS56 HS77 HS78 BT2 BT3 BT6 BT9 BT10 BT11 BT12 "
              "BOOTH HIMMELBA GENHS28").split()


def run_hs(names, repeats, budget):
    rows = []
    for name in names:
        p = knlp.hs(name)
        fstar = p.f_star
        entry = {"problem": name, "n": p.n, "m": p.m, "f_star": fstar, "solvers": {},
                 "exact_newton": {"lam0_zero": exact_newton(p, False), "lam0_least_squares": exact_newton(p, True)}}

        def score(x):
            d = {"kkt": kkt_dense(p, x), "f": float(p.f(x))}
            d["f_error"] = abs(d["f"] - fstar) / (1 + abs(fstar)) if fstar is not None else None
            d["solved"] = bool(d["kkt"] <= 1e-6 and (d["f_error"] is None or d["f_error"] <= 1e-6))
            return d

        for sk in SKETCHES:
            def run(sk=sk):
                cb = TimeBudget(budget)
                r = sketched_newton(p, sketch=sk, tol=1e-8, seed=0, maxiter=200, callback=cb)
                where = {key: int(r.stats[key]) for key in (
                    "inner_iterations", "hessian_modifications", "penalty_updates", "second_order_corrections",
                    "relaxed_steps", "watchdog_returns")}
                return pack(r.x, r.nit, r.converged, {"status": str(r.status), "capped": cb.hit, "lam0": r.stats["lam0"],
                                                       "step_sizes": [float(a) for a in r.history["step_size"][1:]],
                                                       **where})
            entry["solvers"][f"newtonkit-{sk or 'minres'}"] = timed(run, repeats, score)

        Hf = p.hess_lagrangian

        def run_tc():
            con = so.NonlinearConstraint(p.c, 0.0, 0.0, jac=lambda x: dense(p.jac(x)),
                                         hess=lambda x, v: dense(Hf(x, v)) - dense(Hf(x, np.zeros(p.m))))
            cb = TimeBudget(budget, mode="return")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = so.minimize(p.f, p.x0, jac=p.grad, hess=lambda x: dense(Hf(x, np.zeros(p.m))), constraints=[con],
                                method="trust-constr", callback=cb,
                                options={"gtol": 1e-8, "xtol": 1e-14, "maxiter": 2000})
            return pack(r.x, r.nit, r.status in (1, 2), {"status": int(r.status), "capped": cb.hit})

        def run_ipopt():
            x, nit, ok, status = ipopt_callbacks(p, tol=1e-8)
            return pack(x, nit, ok, {"status": status})

        entry["solvers"]["scipy-trust-constr"] = timed(run_tc, repeats, score)
        entry["solvers"]["scipy-SLSQP"] = timed(lambda: slsqp(p, 1e-12), repeats, score)
        entry["solvers"]["ipopt"] = timed(run_ipopt, repeats, score)
        rows.append(entry)
        print(name, {k: (v["nit"], v["solved"], round(v["time_s"], 3)) for k, v in entry["solvers"].items()},
              flush=True)
    summary = {}
    for s in rows[0]["solvers"]:
        its = [r["solvers"][s]["nit"] for r in rows if r["solvers"][s]["solved"]]
        listed = [r["solvers"][s]["nit"] for r in rows if r["problem"] in ISSUE_LIST and r["solvers"][s]["solved"]]
        summary[s] = {"solved": len(its), "of": len(rows),
                      "median_nit_solved": statistics.median(its) if its else None,
                      "median_time_s": statistics.median(r["solvers"][s]["time_s"] for r in rows),
                      "issue_list": {"solved": len(listed), "of": sum(r["problem"] in ISSUE_LIST for r in rows),
                                     "median_nit_solved": statistics.median(listed) if listed else None}}
    for key in ("lam0_zero", "lam0_least_squares"):
        its = [r["exact_newton"][key] for r in rows if r["exact_newton"][key] is not None]
        summary[f"exact_newton_{key}"] = {"solved": len(its), "of": len(rows),
                                          "median_nit_solved": statistics.median(its) if its else None}
    return {"problems": rows, "summary": summary}


# ---------------------------------------------------------------------------------------------- (b) control
def run_control(sizes, repeats, tc_budget, tc_max_n):
    out = []
    for semilinear in (False, True):     # JIT warm-up of the stencil and multigrid kernels
        sketched_newton(PoissonControl(8, semilinear=semilinear), sketch=None, tol=1e-8, backend="numba")
    for semilinear in (False, True):
        for n in sizes:
            p = PoissonControl(n, alpha=1e-4, semilinear=semilinear)
            entry = {"problem": p.name, "grid": n, "variables": p.n, "constraints": p.m, "alpha": p.alpha,
                     "solvers": {}}

            def score(x):
                return {"kkt": kkt_control(p, x), "f": float(p.f(x, "numpy"))}

            def run_nk():
                r = sketched_newton(p, sketch=None, tol=1e-10, maxiter=100, backend="numba")
                return pack(r.x, r.nit, r.converged, {"status": str(r.status),
                                                       "inner_iterations": int(r.stats["inner_iterations"])})

            S, build_s = ipopt_control_solver(p, tol=1e-10)

            def run_ip():
                x, nit, ok, status, solve_s = ipopt_solve(S, p.x0)
                return pack(x, nit, ok, {"status": status, "build_s": build_s, "solve_s": solve_s})

            entry["solvers"]["newtonkit-minres-mg"] = timed(run_nk, repeats, score)
            entry["solvers"]["ipopt"] = timed(run_ip, repeats, score)
            if n <= tc_max_n:
                def run_tc():
                    H0 = p.assembled()[0]

                    def chess(x, v):
                        return (p.assembled(x, v)[0] - H0).tocsr()
                    con = so.NonlinearConstraint(lambda x: p.c(x, "numpy"), 0.0, 0.0,
                                                 jac=lambda x: p.assembled(x)[1], hess=chess)
                    cb = TimeBudget(tc_budget, mode="return")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = so.minimize(lambda x: p.f(x, "numpy"), p.x0, jac=lambda x: p.grad(x, "numpy"),
                                        hess=lambda x: H0, constraints=[con], method="trust-constr", callback=cb,
                                        options={"gtol": 1e-10, "xtol": 1e-14, "maxiter": 5000})
                    return pack(r.x, r.nit, r.status in (1, 2) and not cb.hit,
                                 {"status": int(r.status), "capped": cb.hit, "finished": not cb.hit,
                                  "budget_s": tc_budget})
                entry["solvers"]["scipy-trust-constr"] = timed(run_tc, 1, score)
            else:
                entry["solvers"]["scipy-trust-constr"] = {"finished": False, "not_run": True,
                                                          "why": f"n > {tc_max_n}: beyond the time cap"}
            t_nk = entry["solvers"]["newtonkit-minres-mg"]["time_s"]
            entry["ipopt_over_newtonkit_time"] = entry["solvers"]["ipopt"]["time_s"] / t_nk
            out.append(entry)
            print(p.name, n, {k: (v.get("nit"), v.get("kkt"), round(v.get("time_s", float("nan")), 3))
                              for k, v in entry["solvers"].items()}, flush=True)
    return out


# ---------------------------------------------------------------------------------------------- (c) Bratu
class _OverBudget(Exception):
    pass


def _scipy_bratu(p, precond, budget):
    """scipy.optimize.newton_krylov on the problem's residual; stopped (as not finished) after ``budget`` s."""
    F = p.nonlinear_system("numba")["F"]
    kw = {}
    if precond:
        M = multigrid(p.jacobian(p.initial_guess("numba"), "numba"))
        kw["inner_M"] = spla.LinearOperator((p.n, p.n), matvec=lambda v: M.matvec(np.ascontiguousarray(v).ravel()))
    it = [0]
    t = time.perf_counter()

    def cb(x, f):
        it[0] += 1
        if time.perf_counter() - t > budget:
            raise _OverBudget
    try:
        u = so.newton_krylov(F, np.zeros(p.shape), f_tol=1e-8, maxiter=500, callback=cb, **kw)
        ok, finished = True, True
    except so.NoConvergence as exc:
        u, ok, finished = exc.args[0], False, True
    except _OverBudget:
        return {"nit": it[0], "converged": False, "finished": False, "budget_s": budget, "capped": True}
    return {"nit": it[0], "converged": ok, "finished": finished, "residual_inf": float(np.abs(F(u)).max())}


def run_bratu(shape, lam, repeats, budget):
    p = Bratu(shape, lam=lam)
    newton_krylov(**p.nonlinear_system("numba"), tol=1e-8)   # JIT warm-up (kernels compile once)

    def run_nk():
        r = newton_krylov(**p.nonlinear_system("numba"), tol=1e-8)
        return {"nit": r.nit, "converged": r.converged, "inner_iterations": int(r.stats["inner_iterations"]),
                "residual_inf": float(np.abs(p.residual(r.x, "numba")).max()), "solver_time_s": r.stats["time_s"]}

    res = {"shape": list(shape), "lam": lam, "tol_inf": 1e-8, "solvers": {}}
    res["solvers"]["newtonkit-newton_krylov-mg"] = timed(run_nk, repeats)
    res["solvers"]["scipy-newton_krylov"] = timed(lambda: _scipy_bratu(p, False, budget), repeats)
    res["solvers"]["scipy-newton_krylov+our-mg"] = timed(lambda: _scipy_bratu(p, True, budget), repeats)
    t_nk = res["solvers"]["newtonkit-newton_krylov-mg"]["time_s"]
    for label in ("scipy-newton_krylov", "scipy-newton_krylov+our-mg"):
        s = res["solvers"][label]
        res[f"speedup_vs_{label}"] = None if s.get("capped") else s["time_s"] / t_nk
    print("bratu", {k: (v.get("nit"), round(v.get("time_s", float("nan")), 3)) for k, v in res["solvers"].items()},
          flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a subset of HS, one repeat (< 30 s)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--only", choices=("hs", "control", "bratu"), default=None,
                    help="run one part only (written to nlp_<part>.json; nlp.json is the full run)")
    args = ap.parse_args()
    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    t0 = time.perf_counter()
    out = {"benchmark": "nlp", "quick": quick, "machine": machine_info("casadi"),
           "notes": __doc__.split("Usage:")[0].strip()}
    names = QUICK_HS if quick else knlp.HS_NAMES
    hs_budget = 0.25 if quick else 2.0
    part = args.only
    if part in (None, "hs"):
        out["hs"] = run_hs(names, repeats, budget=hs_budget)
        out["hs"]["time_budget_per_run_s"] = hs_budget
    if part in (None, "control"):
        out["control"] = run_control((16,) if quick else (64, 128, 256), repeats,
                                     tc_budget=3.0 if quick else 20.0, tc_max_n=16 if quick else 128)
    if part in (None, "bratu"):
        out["bratu"] = run_bratu((64, 64) if quick else (256, 256), 6.0, repeats, budget=10.0 if quick else 120.0)
    out["total_s"] = time.perf_counter() - t0
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                        "nlp" + (f"_{part}" if part else "") + ("_quick" if quick else "") + ".json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"wrote {path} in {out['total_s']:.1f} s")


if __name__ == "__main__":
    main()
