"""``newtonkit solve nlp | control | bratu``: the Newton-family problems of the command line.

Each is a :class:`~solvers.cli.solve.SolveKind` appended to
:data:`solvers.cli.solve.SOLVE_KINDS`:

* ``solve nlp NAME`` -- a problem of :func:`problems.nlp.hs` (Hock-Schittkowski, Boggs-Tolle, ...)
  by :func:`solvers.sketched_newton`; prints the objective against the published optimum;
* ``solve control --n N [--semilinear]`` -- Poisson optimal control
  (:class:`problems.pde.PoissonControl`) by sketched Newton with preconditioned MINRES on the
  KKT operator (``sketch=None``);
* ``solve bratu --shape N N --lam L`` -- ``-Δu = λ e^u`` (:class:`problems.pde.Bratu`) by
  Newton-Krylov with a multigrid-preconditioned inner solve.
"""
from __future__ import annotations

import argparse

import numpy as np

from . import UsageError, _format

SKETCHES = ("gaussian", "kaczmarz", "countsketch", "block", "none")


def _check_tol(args) -> None:
    if not (np.isfinite(args.tol) and args.tol > 0):
        raise UsageError(f"--tol must be a finite number > 0, got {args.tol}")
    if args.maxiter is not None and args.maxiter < 0:
        raise UsageError(f"--maxiter must be >= 0, got {args.maxiter}")


def _opts(args, **more) -> dict:
    opts = {"tol": args.tol, **more}
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    return opts


def _kkt_lines(res, problem) -> list[str]:
    x = np.asarray(res.x, dtype=float).reshape(-1)
    cinf = float(np.abs(np.asarray(problem.c(x))).max())
    kkt = res.history.get("kkt")
    lines = [f"objective f(x): {problem.f(x):.12g}",
             f"constraint violation ||c(x)||_inf: {cinf:.3e}",
             f"KKT residual ||(grad L, c)||: {_format.fmt(float(kkt[-1]) if kkt is not None and kkt.size else None)}"]
    st = res.stats
    if "inner_iterations" in st:
        lines.append(f"inner iterations: {st['inner_iterations']}, penalty updates: {st.get('penalty_updates')}, "
                     f"final mu = {_format.fmt(getattr(res, 'mu', None))}, nu = {_format.fmt(getattr(res, 'nu', None))}")
    return lines


# ------------------------------------------------------------------------------ nlp
def _add_nlp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="test problem, e.g. HS47, BT11, GENHS28 (see problems.nlp.HS_NAMES)")
    p.add_argument("--sketch", default="gaussian", choices=SKETCHES,
                   help="inner solver: randomized sketch-and-project, or 'none' for MINRES (default: gaussian)")
    p.add_argument("--superlinear", action="store_true", help="sharpen the inner accuracy with the KKT residual")
    p.add_argument("--tol", type=float, default=1e-8, help="KKT residual tolerance (default: 1e-8)")
    p.add_argument("--maxiter", type=int, default=None, help="Newton iteration limit")
    p.add_argument("--seed", type=int, default=0, help="seed of the random sketches (default: 0)")
    p.add_argument("--size", type=int, default=None, metavar="N",
                   help="n of a scalable problem (e.g. GENHS28; see problems.nlp.hs); fixed-size problems take none")


def _run_nlp(args):
    from problems import nlp

    _check_tol(args)
    try:
        problem = nlp.hs(args.name) if args.size is None else nlp.hs(args.name, n=args.size)
    except (TypeError, ValueError) as exc:      # (n is what hs() calls --size; helper-140)
        raise UsageError(str(exc) if args.size is None else f"--size {args.size}: {exc}") from None
    sketch = None if args.sketch == "none" else args.sketch
    res = _format.solve_with_progress(problem, f"sketched Newton ({args.sketch})", not args.no_progress,
                                      method="sketched_newton", backend=args.backend,
                                      **_opts(args, sketch=sketch, superlinear=args.superlinear, seed=args.seed))
    lines = [f"problem: {problem.name} (n = {problem.n}, m = {problem.m}; {problem.source})"]
    lines += _kkt_lines(res, problem)
    if problem.f_star is not None:
        fx = float(problem.f(np.asarray(res.x, dtype=float)))
        gap = abs(fx - problem.f_star) / max(1.0, abs(problem.f_star))
        res.stats.setdefault("error_f_star", gap)
        lines.append(f"published optimum f*: {problem.f_star:.12g} (|f - f*| / max(1, |f*|) = {gap:.2e})")
    return res, problem, lines


# ------------------------------------------------------------------------------ control
def _add_control_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=128, help="interior grid points per axis (default: 128)")
    p.add_argument("--semilinear", action="store_true", help="state equation -Δy + y^3 = u (default: -Δy = u)")
    p.add_argument("--alpha", type=float, default=1e-4, help="control cost α (default: 1e-4)")
    p.add_argument("--tol", type=float, default=1e-10,
                   help="KKT residual tolerance (default: 1e-10; f and c carry the grid weight h^2, so the "
                   "unweighted state-equation residual is about tol / h^2)")
    p.add_argument("--maxiter", type=int, default=None, help="Newton iteration limit")


def _run_control(args):
    from problems import _checks, pde

    _check_tol(args)
    if args.n < 2:
        raise UsageError(f"--n must be >= 2, got {args.n}")
    if not (np.isfinite(args.alpha) and args.alpha > 0):
        raise UsageError(f"--alpha must be a finite number > 0, got {args.alpha}")
    # y, u, lam and about 30 more grid vectors in the Newton and MINRES work space
    need, limit = 40 * 8.0 * args.n ** 2, _checks.memory_limit()
    if need > limit:
        raise UsageError(f"--n {args.n}: about {_checks.fmt_bytes(need)} of memory needed, more than the "
                         f"{_checks.fmt_bytes(limit)} available; use a smaller --n")
    problem = pde.PoissonControl(args.n, alpha=args.alpha, semilinear=args.semilinear)
    res = _format.solve_with_progress(problem, "sketched Newton (MINRES)", not args.no_progress,
                                      method="sketched_newton", backend=args.backend, **_opts(args, sketch=None))
    kind = "semilinear -Δy + y^3 = u" if args.semilinear else "linear -Δy = u"
    lines = [f"problem: Poisson optimal control on a {args.n} x {args.n} grid, {kind}, alpha = {args.alpha:g} "
             f"({2 * args.n ** 2} unknowns, {args.n ** 2} constraints)"]
    lines += _kkt_lines(res, problem)
    if "minres_matvecs" in res.stats:
        lines.append(f"MINRES matrix-vector products: {res.stats['minres_matvecs']}")
    return res, problem, lines


# ------------------------------------------------------------------------------ bratu
def _add_bratu_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shape", type=int, nargs="+", default=[256, 256], metavar="N",
                   help="interior grid points per axis, 2 or 3 numbers (default: 256 256)")
    p.add_argument("--lam", type=float, default=6.0,
                   help="λ in -Δu = λ e^u (default: 6; the fold is near 6.808 in 2-D, 9.9 in 3-D)")
    p.add_argument("--tol", type=float, default=1e-8, help="tolerance on ||F(u)||_inf (default: 1e-8)")
    p.add_argument("--maxiter", type=int, default=None, help="Newton step limit")


def _run_bratu(args):
    from problems import pde

    from .solve import check_shape

    _check_tol(args)
    shape = check_shape(args.shape)
    if not (np.isfinite(args.lam) and args.lam >= 0):
        raise UsageError(f"--lam must be a finite number >= 0, got {args.lam}")
    problem = pde.Bratu(shape, lam=args.lam)
    res = _format.solve_with_progress(problem, "Newton-Krylov + MG", not args.no_progress,
                                      method="newton_krylov", backend=args.backend, **_opts(args))
    u = np.asarray(res.x)
    lines = [f"problem: Bratu -Δu = {args.lam:g} e^u on a {'x'.join(map(str, shape))} grid",
             f"max u: {float(u.max()):.10g}"]
    for key, label in (("inner_iterations", "inner Krylov iterations"), ("f_evals", "F evaluations")):
        if key in res.stats:
            lines.append(f"{label}: {res.stats[key]}")
    return res, problem, lines


def kinds():
    """The :class:`~solvers.cli.solve.SolveKind` entries of this module."""
    from .solve import SolveKind

    return [
        SolveKind("nlp", "equality-constrained test problem (HS/BT/CUTEst set) by sketched inexact Newton",
                  _add_nlp_args, _run_nlp),
        SolveKind("control", "Poisson optimal control (linear or semilinear state equation) by sketched Newton "
                  "with preconditioned MINRES", _add_control_args, _run_control),
        SolveKind("bratu", "Bratu problem -Δu = λ e^u by Newton-Krylov with a multigrid preconditioner",
                  _add_bratu_args, _run_bratu),
    ]


__all__ = ["kinds", "SKETCHES"]


# ------------------------------------------------------------------------------ demo case
def demo_constrained(args, show_progress: bool):
    """``newtonkit demo`` case: constrained logistic regression on the breast-cancer data
    (Hong et al. 2023: mean logistic loss, 10 random linear equalities and ``||x||^2 = 1``) by
    sketched Newton with three inner solvers. The error column is ``|f - f_ref| / |f_ref|``
    against SciPy's SLSQP run to a tight tolerance from the same start (an independent solver).
    """
    from scipy.optimize import minimize

    from problems import nlp

    from .demo import DemoRun

    problem = nlp.logistic_regression("breast_cancer", constraints=10, seed=0)
    ref = minimize(problem.f, problem.x0, jac=problem.grad, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500},
                   constraints=[{"type": "eq", "fun": problem.c, "jac": problem.jac}])
    f_ref = float(ref.fun)
    runs = []
    for label, sketch in (("MINRES", None), ("Gaussian sketch", "gaussian"), ("CountSketch", "countsketch")):
        res = _format.solve_with_progress(problem, f"sketched Newton ({label})", show_progress,
                                          method="sketched_newton", sketch=sketch, tol=1e-8, seed=0,
                                          backend=args.backend)
        x = np.asarray(res.x, dtype=float)
        kkt = res.history["kkt"]
        runs.append(DemoRun(label, res, problem, float(kkt[-1]), abs(problem.f(x) - f_ref) / abs(f_ref),
                            history_key="kkt", tags={"dataset": "breast_cancer", "sketch": str(sketch)}))
    print(f"  SLSQP reference: f = {f_ref:.12g} ({'converged' if ref.success else 'NOT converged: ' + ref.message}, "
          f"{ref.nit} iterations)")
    return runs
