"""``newtonkit solve <kind>``: build one problem, solve it, print the summary, optionally store the run.

Each kind is a :class:`SolveKind` in :data:`SOLVE_KINDS`: its arguments and a
``run(args) -> (result, problem, extra summary lines)`` that builds the problem
with the :mod:`problems` constructors and calls :func:`solvers.solve`.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..linear._common import norm2 as _norm2

import solvers

from . import EXIT_NOT_CONVERGED, EXIT_OK, UsageError, _format, _newton_kinds, add_common_solve


def check_shape(shape: Sequence[int], variable_k: bool = False) -> tuple[int, ...]:
    """``--shape``: 2 or 3 positive integers whose Poisson solve fits in memory (estimated first)."""
    if len(shape) not in (2, 3) or any(n < 1 for n in shape):
        raise UsageError(f"--shape takes 2 or 3 positive integers (interior points per axis), got {list(shape)}")
    from problems import _checks
    from problems.pde import poisson

    need, limit = poisson.memory_estimate(shape, variable_k), _checks.memory_limit()
    if need > limit:
        raise UsageError(f"--shape {' '.join(map(str, shape))}: {float(np.prod([float(n) for n in shape])):.3g} "
                         f"unknowns need about {_checks.fmt_bytes(need)} of memory, more than the "
                         f"{_checks.fmt_bytes(limit)} available (NEWTONKIT_MEMORY_LIMIT changes the limit); "
                         "use a smaller --shape")
    return tuple(shape)


def check_number(flag: str, value: float, *, positive: bool = False) -> float:
    """A finite number >= 0 (> 0 with ``positive``) given as ``flag``."""
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise UsageError(f"{flag} must be a finite number {'>' if positive else '>='} 0, got {value}")
    return value


def check_maxiter(value):
    """``--maxiter``: None or an integer >= 0."""
    if value is not None and value < 0:
        raise UsageError(f"--maxiter must be >= 0, got {value}")
    return value


def parse_tags(items: Sequence[str] | None) -> dict:
    """``--tag KEY=VALUE`` (repeatable) as a dict."""
    from ..runs._integrity import check_tags

    tags = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag expects KEY=VALUE, got {item!r}")
        if key in tags and tags[key] != value:
            raise UsageError(f"--tag {key} is given twice ({tags[key]!r} and {value!r}); give each key once")
        tags[key] = value
    try:                     # the store's rules, checked before any work (a bad key lost the finished solve)
        check_tags(tags)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"--tag: {exc}") from None
    return tags


# ------------------------------------------------------------------------------ poisson
def _add_poisson_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shape", type=int, nargs="+", default=[256, 256], metavar="N",
                   help="interior grid points per axis, 2 or 3 numbers (default: 256 256)")
    p.add_argument("--method", default="cg", choices=["cg", "minres", "gmres"], help="Krylov method (default: cg)")
    p.add_argument("--precond", default="mg", choices=["mg", "jacobi", "chebyshev", "none"],
                   help="preconditioner (default: mg, geometric multigrid V-cycle)")
    p.add_argument("--f", type=float, default=1.0, help="constant right-hand side f (default: 1.0)")
    p.add_argument("--manufactured", action="store_true",
                   help="use f from the exact solution u = prod x_i (1 - x_i) exp(x_i) and report the error against it")
    p.add_argument("--rtol", type=float, default=1e-8, help="relative residual tolerance (default: 1e-8)")
    p.add_argument("--maxiter", type=int, default=None, help="iteration limit")


def _run_poisson(args):
    from problems import pde

    shape = check_shape(args.shape)
    check_number("--rtol", args.rtol)
    check_maxiter(args.maxiter)
    if not np.isfinite(args.f):
        raise UsageError(f"--f must be a finite number, got {args.f}")
    if args.manufactured:
        problem = pde.Poisson.manufactured(shape, kind="bubble")
    else:
        problem = pde.Poisson(shape=shape, f=args.f, g=0.0)
    precond = None if args.precond == "none" else args.precond
    opts = {"rtol": args.rtol}
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    res = _format.solve_with_progress(problem, f"{args.method}+{args.precond}", not args.no_progress,
                                      method=args.method, precond=precond, backend=args.backend, **opts)
    res.stats.setdefault("rhs_norm", _norm2(np, problem.rhs("numpy")))   # rtol's reference (no overflow): the
    # residual history starts at the FMG start's residual on large 3-D grids, not at ||b||
    lines = [f"grid: {'x'.join(map(str, shape))} interior points ({int(np.prod(shape))} unknowns)"]
    if problem.exact is not None:
        err = problem.error(res.x, norm="max")
        res.stats.setdefault("error_max", err)
        lines.append(f"max error vs exact solution: {err:.3e}")
    return res, problem, lines


# ------------------------------------------------------------------------------ ot
def ot_problem(n: int, eps: float, seed: int | None):
    """``--n``/``--eps``/``--seed`` checked as flags, then :func:`problems.ot.random_point_clouds`."""
    from problems import ot

    from problems import _checks

    if n < 2:
        raise UsageError(f"--n must be >= 2, got {n}")
    if not (eps > 0 and np.isfinite(eps)):
        raise UsageError(f"--eps must be a finite number > 0, got {eps}")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    # the dense n x n cost, about two more while it is built, and the solver's n x n work arrays
    need, limit = 5 * 8.0 * n * n, _checks.memory_limit()
    if need > limit:
        raise UsageError(f"--n {n}: the dense {n} x {n} cost matrix and the solver's work arrays need about "
                         f"{_checks.fmt_bytes(need)} of memory, more than the {_checks.fmt_bytes(limit)} available "
                         "(NEWTONKIT_MEMORY_LIMIT changes the limit); use a smaller --n")
    return ot.random_point_clouds(n, eps, seed=seed)


def _add_ot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=1000, help="points per side (default: 1000)")
    p.add_argument("--eps", type=float, default=1e-3, help="entropic regularisation, cost scaled to max 1 (default: 1e-3)")
    p.add_argument("--method", default="auto", choices=["auto", "sns", "sinkhorn"],
                   help="solver (default: auto, Sinkhorn or SNS by eps / cost range and size)")
    p.add_argument("--tol", type=float, default=1e-8, help="L1 marginal error tolerance (default: 1e-8)")
    p.add_argument("--maxiter", type=int, default=None, help="iteration limit")
    p.add_argument("--seed", type=int, default=0, help="random seed of the point clouds (default: 0)")


def _run_ot(args):
    check_number("--tol", args.tol, positive=True)
    check_maxiter(args.maxiter)
    problem = ot_problem(args.n, args.eps, args.seed)
    opts = {"tol": args.tol}
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    res = _format.solve_with_progress(problem, args.method, not args.no_progress, method=args.method,
                                      backend=args.backend, **opts)
    h = res.history.get("marginal_error")
    lines = [f"problem: {args.n} x {args.n} random points in [0,1]^2, eps = {args.eps:g}",
             f"transport cost <P, C>: {res.cost:.10g}",
             f"L1 marginal error: {_format.fmt(float(h[-1]) if h is not None and h.size else None)}"]
    if "auto_choice" in res.stats:
        lines.append(f"method auto: {res.stats['auto_choice']} ({res.stats.get('auto_reason', '')})")
    if res.method == "sns":
        lines.append(f"Sinkhorn steps: {res.stats['sinkhorn_steps']}, Newton steps: {res.stats['newton_steps']}, "
                     f"CG iterations: {res.stats['cg_iterations']}")
    return res, problem, lines


# ------------------------------------------------------------------------------ the command
@dataclass
class SolveKind:
    """One ``newtonkit solve <name>`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable  # args -> (SolveResult, problem, list of extra summary lines)


SOLVE_KINDS: list[SolveKind] = [
    SolveKind("poisson", "-div(grad u) = f on the unit square / cube, u = 0 on the boundary",
              _add_poisson_args, _run_poisson),
    SolveKind("ot", "entropic optimal transport between random point clouds (Sinkhorn / Sinkhorn-Newton-Sparse)",
              _add_ot_args, _run_ot),
]
SOLVE_KINDS += _newton_kinds.kinds()    # nlp, control, bratu


def check_store(path) -> None:
    """``--store``: an existing run store must be readable (a damaged one is reported before solving);
    a new one needs an existing directory where files can be created, and a name short enough for its
    temporary files."""
    import os
    from pathlib import Path

    from solvers.runs import _files, _runfile

    if not str(path).strip():
        raise UsageError("--store needs a file name, e.g. --store runs.h5 (leave the option out to store nothing)")
    if os.path.exists(path):
        with solvers.RunStore(path, mode="r") as store:
            len(store)
            # new runs go into the directory store itself, or beside a store file (its sidecar and the
            # compaction's rewrite): a solve whose run cannot be written is refused before it runs
            where = str(store.path) if store.is_directory else os.path.dirname(os.path.abspath(path))
        if not os.access(where, os.W_OK):
            raise UsageError(f"--store {path}: the directory {where} is not writable, so no run can be added")
        return
    _format.check_writable(path, "--store")
    try:                                # the store's temporary files are named after it
        _files.check_name_length(Path(os.path.abspath(path)), _runfile.tmp_overhead())
    except ValueError as exc:
        raise UsageError(f"--store {path}: {exc}") from None


def cmd_solve(args) -> int:
    kind = next(k for k in SOLVE_KINDS if k.name == args.kind)
    tags = parse_tags(args.tag)
    if args.store is not None:          # --store "" is a mistake, not "do not store"
        check_store(args.store)
    res, problem, lines = kind.run(args)
    _format.print_result(res, lines)
    if args.store:
        with solvers.RunStore(args.store) as store:
            rid = store.save(res, problem=problem, tags={"command": f"solve {kind.name}", **tags},
                             seed=getattr(args, "seed", None))
        print(f"stored run {rid} in {args.store}")
    return EXIT_OK if res.converged else EXIT_NOT_CONVERGED


def add_parser(sub) -> None:
    p = sub.add_parser("solve", help="solve one problem and print the result summary")
    ksub = p.add_subparsers(dest="kind", metavar="PROBLEM", required=True)
    for kind in SOLVE_KINDS:
        kp = ksub.add_parser(kind.name, help=kind.help, description=kind.help)
        kind.add_arguments(kp)
        add_common_solve(kp)
        kp.add_argument("--store", default=None, metavar="FILE", help="store the run in this HDF5 file")
        kp.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag stored with the run (repeatable)")
        kp.set_defaults(func=cmd_solve)


__all__ = ["SolveKind", "SOLVE_KINDS", "cmd_solve", "add_parser", "check_shape", "check_number", "check_maxiter",
           "check_store", "parse_tags", "ot_problem"]
