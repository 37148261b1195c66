"""The ``newtonkit`` command (also ``python -m solvers``).

::

    newtonkit demo [--store runs.h5] [--shape N N N] [--backend numba]
    newtonkit solve poisson --shape 256 256 [--precond mg] [--method cg] [--rtol 1e-8] [--store runs.h5]
    newtonkit runs list FILE | runs show FILE RUN_ID | runs plot FILE [RUN_ID ...] [-o out.png]
    newtonkit runs merge OUT FILE [FILE ...]
    newtonkit info

Exit codes: 0 success, 1 a solve did not converge, 2 usage error (bad
arguments, missing file or run id, unavailable backend or optional package).

Extending: ``newtonkit solve <kind>`` is built from :data:`SOLVE_KINDS` (one
entry per problem kind: name, help, ``add_arguments(parser)``,
``run(args) -> (result, problem, extra_lines)``), and ``newtonkit demo`` runs
the cases returned by :func:`_demo_cases`; adding a problem kind or a demo case
is one function plus one list entry.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

EXIT_OK, EXIT_NOT_CONVERGED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or its inputs (exit code 2)."""


# ---------------------------------------------------------------------------------------------
# small helpers: tables, progress, numbers
# ---------------------------------------------------------------------------------------------

def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "-"
        return f"{v:.3g}" if (v == 0 or 1e-3 <= abs(v) < 1e4) else f"{v:.2e}"
    return str(v)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """Plain-text table: ``columns`` is a list of (key, header)."""
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _Progress:
    """Solver callback that shows a tqdm bar once a solve has run for ``delay`` seconds.

    Only used when stderr is a terminal and tqdm is installed; tqdm is imported
    on the first update after the delay, so short solves never import it.
    """

    def __init__(self, desc: str, delay: float = 0.5):
        self.desc, self.delay = desc, delay
        self.n = 0
        self.t0 = time.perf_counter()
        self.bar = None

    def __call__(self, *args, **kwargs) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.update(1)
        elif time.perf_counter() - self.t0 >= self.delay:
            from tqdm import tqdm

            self.bar = tqdm(desc=self.desc, initial=self.n, unit="it", leave=False, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _progress(desc: str, enabled: bool) -> _Progress | None:
    if not enabled or not sys.stderr.isatty() or importlib.util.find_spec("tqdm") is None:
        return None
    return _Progress(desc)


def _solve_with_progress(problem, desc: str, show: bool, **kwargs):
    import solvers

    bar = _progress(desc, show)
    try:
        return solvers.solve(problem, callback=bar, **kwargs) if bar is not None else solvers.solve(problem, **kwargs)
    finally:
        if bar is not None:
            bar.close()


def _to_numpy(res):
    import solvers

    return solvers.get_backend("cupy" if res.backend == "cupy" else "numpy").to_numpy(res.x)


def _rel_residual(res) -> float | None:
    h = res.history.get("residual")
    if h is None or h.size == 0:
        return None
    return float(h[-1] / h[0]) if h[0] > 0 else float(h[-1])


def _parse_tags(items: Sequence[str] | None) -> dict:
    tags = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag expects KEY=VALUE, got {item!r}")
        tags[key] = value
    return tags


def _store(path: str, mode: str = "a"):
    import solvers

    return solvers.RunStore(path, mode=mode)


# ---------------------------------------------------------------------------------------------
# Poisson: manufactured solution and the solve command
# ---------------------------------------------------------------------------------------------

def manufactured_poisson(shape: Sequence[int]):
    """``-Δu = f`` on the unit box with the exact solution ``u = Π_i x_i (1 - x_i) e^{x_i}``.

    ``u`` vanishes on the boundary (``g = 0``) and ``f = Σ_i x_i (3 + x_i) e^{x_i} Π_{j≠i} x_j (1 - x_j) e^{x_j}``.
    (A product of sines would be an eigenvector of the discrete Laplacian, which
    CG solves in one step: no use for comparing solvers.)

    Returns ``(problem, exact)`` where ``exact`` is ``u`` at the interior points.
    """
    from problems import pde

    def p(t):
        return t * (1.0 - t) * np.exp(t)

    def u(*xs):
        out = p(xs[0])
        for x in xs[1:]:
            out = out * p(x)
        return out

    def f(*xs):
        total = 0.0
        for i, xi in enumerate(xs):
            term = xi * (3.0 + xi) * np.exp(xi)  # = -p''(x_i)
            for j, xj in enumerate(xs):
                if j != i:
                    term = term * p(xj)
            total = total + term
        return total

    prob = pde.Poisson(shape=tuple(shape), f=f, g=0.0)
    return prob, u(*prob.coordinates())


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    if len(shape) not in (2, 3) or any(n < 1 for n in shape):
        raise UsageError(f"--shape takes 2 or 3 positive integers (interior points per axis), got {list(shape)}")
    return tuple(shape)


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

    shape = _check_shape(args.shape)
    if args.manufactured:
        problem, exact = manufactured_poisson(shape)
    else:
        problem, exact = pde.Poisson(shape=shape, f=args.f, g=0.0), None
    precond = None if args.precond == "none" else args.precond
    opts = {"rtol": args.rtol}
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    res = _solve_with_progress(problem, f"{args.method}+{args.precond}", not args.no_progress,
                               method=args.method, precond=precond, backend=args.backend, **opts)
    lines = [f"grid: {'x'.join(map(str, shape))} interior points ({int(np.prod(shape))} unknowns)"]
    if exact is not None:
        err = float(np.max(np.abs(_to_numpy(res) - exact)))
        res.stats.setdefault("error_max", err)
        lines.append(f"max error vs exact solution: {err:.3e}")
    return res, problem, lines


def _ot_problem(n: int, eps: float, seed: int | None):
    """Entropic OT between n uniform random points in [0,1]^2 (squared Euclidean cost, max C = 1)."""
    from problems import ot

    if n < 2:
        raise UsageError(f"--n must be >= 2, got {n}")
    if not eps > 0:
        raise UsageError(f"--eps must be > 0, got {eps}")
    rng = np.random.default_rng(seed)
    return ot.EntropicOT.from_points(rng.random((n, 2)), rng.random((n, 2)), eps=eps, scale="max")


def _add_ot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n", type=int, default=1000, help="points per side (default: 1000)")
    p.add_argument("--eps", type=float, default=1e-3, help="entropic regularisation, cost scaled to max 1 (default: 1e-3)")
    p.add_argument("--method", default="sns", choices=["sns", "sinkhorn"], help="solver (default: sns)")
    p.add_argument("--tol", type=float, default=1e-8, help="L1 marginal error tolerance (default: 1e-8)")
    p.add_argument("--maxiter", type=int, default=None, help="iteration limit")
    p.add_argument("--seed", type=int, default=0, help="random seed of the point clouds (default: 0)")


def _run_ot(args):
    problem = _ot_problem(args.n, args.eps, args.seed)
    opts = {"tol": args.tol}
    if args.maxiter is not None:
        opts["maxiter"] = args.maxiter
    res = _solve_with_progress(problem, args.method, not args.no_progress, method=args.method,
                               backend=args.backend, **opts)
    h = res.history.get("marginal_error")
    lines = [f"problem: {args.n} x {args.n} random points in [0,1]^2, eps = {args.eps:g}",
             f"transport cost <P, C>: {res.cost:.10g}",
             f"L1 marginal error: {_fmt(float(h[-1]) if h is not None and h.size else None)}"]
    if res.method == "sns":
        lines.append(f"Sinkhorn steps: {res.stats['sinkhorn_steps']}, Newton steps: {res.stats['newton_steps']}, "
                     f"CG iterations: {res.stats['cg_iterations']}")
    return res, problem, lines


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


def _print_result(res, extra_lines=()) -> None:
    rows = [("method", res.method), ("backend", res.backend), ("converged", res.converged),
            ("status", res.status), ("iterations", res.nit), ("time [s]", res.stats.get("time_s")),
            ("rel. residual", _rel_residual(res))]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(w)}  {_fmt(v)}")
    for line in extra_lines:
        print(line)
    if not res.converged:
        print(f"message: {res.message}")


def cmd_solve(args) -> int:
    kind = next(k for k in SOLVE_KINDS if k.name == args.kind)
    tags = _parse_tags(args.tag)
    res, problem, lines = kind.run(args)
    _print_result(res, lines)
    if args.store:
        with _store(args.store) as store:
            rid = store.save(res, problem=problem, tags={"command": f"solve {kind.name}", **tags},
                             seed=getattr(args, "seed", None))
        print(f"stored run {rid} in {args.store}")
    return EXIT_OK if res.converged else EXIT_NOT_CONVERGED


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------

@dataclass
class DemoRun:
    """One solve of a demo case: a row of the comparison table and a curve of the plot."""

    label: str
    result: object
    problem: object
    residual: float | None           # final residual measure shown in the table
    error: float | None = None       # error against a known answer (exact solution, LP optimum ...)
    history_key: str = "residual"    # history series plotted
    tags: dict = field(default_factory=dict)


@dataclass
class DemoCase:
    name: str
    title: str
    run: Callable  # (args, show_progress) -> list[DemoRun]
    error_label: str = "max error vs exact"
    residual_label: str = "residual norm relative to the initial one"
    normalise: bool = True  # plot the history relative to its first value


def _demo_poisson(args, show_progress: bool) -> list[DemoRun]:
    shape = _check_shape(args.shape)
    # Compile the kernels first, so the timings compare solvers, not the JIT. The grid must be
    # large enough to reach the parallel kernel variants (used above ~50k points), with a loose rtol.
    cap = 40 if len(shape) == 3 else 256
    warm_shape = tuple(min(n, cap) for n in shape)
    small, _ = manufactured_poisson(warm_shape)
    import solvers

    t0 = time.perf_counter()
    for precond in ("mg", None):
        solvers.solve(small, method="cg", precond=precond, rtol=1e-3, backend=args.backend)
    print(f"  warm-up on a {'x'.join(map(str, warm_shape))} grid: {time.perf_counter() - t0:.1f} s "
          "(Numba compiles the kernels on the very first run and caches them)")
    problem, exact = manufactured_poisson(shape)
    problem.operator(args.backend)  # shared by both solves: build operator and rhs outside the timings
    problem.rhs(args.backend)
    runs = []
    for label, precond in (("MG-CG", "mg"), ("CG", None)):
        t0 = time.perf_counter()
        res = _solve_with_progress(problem, label, show_progress, method="cg", precond=precond,
                                   rtol=args.rtol, backend=args.backend)
        res.stats["wall_s"] = time.perf_counter() - t0  # includes the preconditioner setup
        err = float(np.max(np.abs(_to_numpy(res) - exact)))
        runs.append(DemoRun(label, res, problem, _rel_residual(res), err,
                            tags={"shape": "x".join(map(str, shape))}))
    return runs


def _demo_ot(args, show_progress: bool) -> list[DemoRun]:
    import solvers

    solvers.sns(_ot_problem(64, 1e-3, 1), tol=1e-6, backend=args.backend)  # compile the kernels first
    problem = _ot_problem(500, 2e-3, 0)
    runs = []
    for label, method in (("SNS", "sns"), ("Sinkhorn", "sinkhorn")):
        res = _solve_with_progress(problem, label, show_progress, method=method, tol=1e-8, backend=args.backend)
        h = res.history["marginal_error"]
        runs.append(DemoRun(label, res, problem, float(h[-1]) if h.size else None, None,
                            history_key="marginal_error", tags={"n": "500", "eps": "2e-3"}))
    gap = abs(runs[0].result.cost - runs[1].result.cost) / abs(runs[1].result.cost)
    for r in runs:
        r.error = gap
    return runs


def _demo_cases() -> list[DemoCase]:
    """The cases ``newtonkit demo`` runs, in order (append new ones here)."""
    return [
        DemoCase("poisson3d", "3-D Poisson -div(grad u) = f, manufactured u = prod x_i (1 - x_i) exp(x_i)",
                 _demo_poisson),
        DemoCase("ot", "entropic OT, 500 x 500 random points, eps = 2e-3: Sinkhorn-Newton-Sparse vs Sinkhorn",
                 _demo_ot, error_label="relative gap between the two costs", residual_label="L1 marginal error",
                 normalise=False),
    ]


def _plot_histories(curves, path: str, title: str = "", ylabel: str = "relative residual",
                    panels: Sequence[str] | None = None, titles: dict | None = None,
                    ylabels: dict | None = None) -> bool:
    """Semilogy plot of history series; ``curves`` = [(panel, label, values)]. False without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = list(panels or dict.fromkeys(c[0] for c in curves))
    fig = Figure(figsize=(6.4 * len(panels), 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        for pnl, label, values in curves:
            if pnl != panel:
                continue
            v = np.asarray(values, dtype=float)
            v = np.where(v > 0, v, np.nan)
            ax.semilogy(np.arange(v.size), v, label=label, marker="." if v.size < 60 else None)
        ax.set_xlabel("iteration")
        ax.set_ylabel(textwrap.fill((ylabels or {}).get(panel, ylabel), 45))
        label = textwrap.fill((titles or {}).get(panel, panel), 70)
        ax.set_title(label if not title else f"{title}\n{label}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=110)
    return True


def cmd_demo(args) -> int:
    cases = _demo_cases()
    names = [c.name for c in cases]
    if args.case:
        unknown = [c for c in args.case if c not in names]
        if unknown:
            raise UsageError(f"unknown demo case(s) {unknown}; choose from {names}")
        cases = [c for c in cases if c.name in args.case]
    import solvers

    print(f"newtonkit {solvers.__version__} demo: backend {args.backend}, "
          f"{solvers.get_num_threads()} threads; results go to {args.store}")
    rows, curves, all_converged = [], [], True
    with _store(args.store) as store:
        for case in cases:
            print(f"\n[{case.name}] {case.title}")
            t0 = time.perf_counter()
            runs = case.run(args, not args.no_progress)
            for r in runs:
                rid = store.save(r.result, problem=r.problem, tags={"command": "demo", "case": case.name, **r.tags})
                res = r.result
                all_converged &= res.converged
                rows.append({"case": case.name, "solver": r.label, "method": res.method, "backend": res.backend,
                             "converged": res.converged, "nit": res.nit, "time_s": res.stats.get("time_s"),
                             "wall_s": res.stats.get("wall_s", res.stats.get("time_s")),
                             "residual": r.residual, "error": r.error, "run_id": rid})
                h = res.history.get(r.history_key)
                curves.append((case.name, f"{r.label} ({res.nit} it, {_fmt(res.stats.get('time_s'))} s)",
                               _normalised(h) if case.normalise else (np.zeros(0) if h is None else h)))
            print(f"  done in {time.perf_counter() - t0:.1f} s")
    print()
    print(format_table(rows, [("case", "case"), ("solver", "solver"), ("backend", "backend"),
                              ("converged", "conv"), ("nit", "iters"), ("time_s", "solve [s]"),
                              ("wall_s", "+setup [s]"),
                              ("residual", "final resid."), ("error", "error"), ("run_id", "run id")]))
    for case in cases:
        sub = [r for r in rows if r["case"] == case.name]
        if len(sub) >= 2 and all(r["wall_s"] for r in sub):
            best = min(sub, key=lambda r: r["wall_s"])
            others = ", ".join(f"{r['wall_s'] / best['wall_s']:.1f}x faster than {r['solver']}"
                               for r in sub if r is not best)
            print(f"{case.name}: {best['solver']} is {others} (setup included)")
    print("(solve: the solver's own time; +setup: also building the preconditioner)")
    for c in cases:
        print(f"({c.name}: final resid. = {c.residual_label}; error = {c.error_label})")
    print(f"stored {len(rows)} runs in {args.store}; list them with `newtonkit runs list {args.store}`")
    if args.plot and curves:
        if _plot_histories(curves, args.plot, panels=[c.name for c in cases],
                           titles={c.name: f"{c.name}: {c.title}" for c in cases},
                           ylabels={c.name: c.residual_label for c in cases}):
            print(f"convergence plot: {args.plot}")
        else:
            print("matplotlib is not installed: no plot (pip install 'newtonkit[plot]')")
    return EXIT_OK if all_converged else EXIT_NOT_CONVERGED


def _normalised(h):
    if h is None or len(h) == 0:
        return np.zeros(0)
    h = np.asarray(h, dtype=float)
    return h / h[0] if h[0] > 0 else h


# ---------------------------------------------------------------------------------------------
# runs list / show / plot
# ---------------------------------------------------------------------------------------------

def _tags_str(tags: dict) -> str:
    return ",".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in tags.items())


def cmd_runs_list(args) -> int:
    with _store(args.file, "r") as store:
        rows = store.list()
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    if not rows:
        print(f"{args.file}: no completed runs")
        return EXIT_OK
    for r in rows:
        r["tags_s"] = _tags_str(r["tags"])
        r["created_s"] = r["created"][:19].replace("T", " ")
    print(format_table(rows, [("run_id", "run id"), ("created_s", "created (UTC)"), ("method", "method"),
                              ("backend", "backend"), ("converged", "conv"), ("nit", "iters"),
                              ("time_s", "time [s]"), ("tags_s", "tags")]))
    print(f"{len(rows)} runs")
    return EXIT_OK


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 16 else f"<array shape={v.shape} dtype={v.dtype}>"
    if isinstance(v, np.generic):
        return v.item()
    return v


def cmd_runs_show(args) -> int:
    with _store(args.file, "r") as store:
        rid = _resolve(store, args.run_id)
        r = store.load(rid)
    x = np.asarray(r.x)
    info = {
        "run_id": r.run_id, "created": r.created, "method": r.method, "backend": r.backend,
        "converged": r.converged, "status": r.status, "message": r.message, "nit": r.nit,
        "x": f"array shape={x.shape} dtype={x.dtype}" + (f" min={x.min():.4g} max={x.max():.4g}"
                                                          if x.size and np.isrealobj(x) else ""),
        "history": {k: (f"{v.size} values, first {_fmt(v[0])}, last {_fmt(v[-1])}" if v.size else "empty")
                    for k, v in r.history.items()},
        "stats": r.stats, "options": r.options, "extras": r.extras, "problem": r.problem, "tags": r.tags,
        "provenance": r.provenance,
    }
    if args.json:
        print(json.dumps(info, indent=1, default=_jsonable))
        return EXIT_OK
    for key, value in info.items():
        if isinstance(value, dict) and value:
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {_jsonable(v)}")
        else:
            print(f"{key}: {value}")
    return EXIT_OK


def _resolve(store, key: str) -> str:
    try:
        return store.resolve(key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


_PLOT_KEYS = ("residual", "marginal_error", "kkt", "grad_norm", "objective")


def cmd_runs_plot(args) -> int:
    with _store(args.file, "r") as store:
        ids = [_resolve(store, k) for k in args.run_id] if args.run_id else store.run_ids()[-args.last:]
        if not ids:
            raise UsageError(f"{args.file} holds no completed runs to plot")
        runs = [store.load(rid) for rid in ids]
    curves = []
    for r in runs:
        key = args.key or next((k for k in _PLOT_KEYS if k in r.history), next(iter(r.history), None))
        if key is None or key not in r.history:
            print(f"run {r.run_id} has no history {args.key or ''}; skipped", file=sys.stderr)
            continue
        values = r.history[key] if args.absolute else _normalised(r.history[key])
        curves.append(("runs", f"{r.run_id[-6:]} {r.method} ({r.backend}, {r.nit} it) [{key}]", values))
    if not curves:
        raise UsageError("nothing to plot: none of the runs has that history")
    if not _plot_histories(curves, args.output, title=os.path.basename(args.file),
                           ylabel="value" if args.absolute else "relative to the first value"):
        raise UsageError("`runs plot` needs matplotlib: pip install 'newtonkit[plot]'")
    print(f"wrote {args.output} ({len(curves)} runs)")
    return EXIT_OK


def cmd_runs_merge(args) -> int:
    with _store(args.output) as store:
        added = store.merge(args.sources)
        total = len(store)
    print(f"merged {len(added)} new runs into {args.output} ({total} runs in all)")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------

def cmd_info(args) -> int:
    import platform

    import solvers
    from solvers import backends
    from solvers.runs import provenance

    print(f"newtonkit {solvers.__version__}  (python {platform.python_version()}, {platform.platform()})")
    vers = provenance.versions()
    print("core:     " + ", ".join(f"{k} {v}" for k, v in vers.items() if k != "newtonkit"))
    opt = []
    for mod in ("cupy", "matplotlib", "tqdm", "dask", "pyamg", "ot"):
        opt.append(f"{mod} {'yes' if importlib.util.find_spec(mod) is not None else 'no'}")
    print("optional: " + ", ".join(opt))
    env = os.environ.get("NEWTONKIT_NUM_THREADS")
    print(f"threads:  {solvers.get_num_threads()} (NEWTONKIT_NUM_THREADS={env if env is not None else 'unset'})")
    print("backends:")
    for name in backends.NAMES:
        try:
            be = backends.get_backend(name)
            print(f"  {name:6s} available  ({be.device_name()})")
        except backends.BackendUnavailableError as exc:
            print(f"  {name:6s} unavailable: {exc}")
    commit, dirty = provenance.git_info()
    if commit:
        print(f"git:      {commit}{' (modified)' if dirty else ''}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# parser and entry point
# ---------------------------------------------------------------------------------------------

def _add_common_solve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="numba", choices=["numba", "numpy", "cupy"],
                   help="array backend (default: numba)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newtonkit", description="newtonkit: Newton, Krylov, multigrid and optimal-transport solvers "
        "on NumPy / Numba / CuPy backends, with runs stored in HDF5.",
        epilog="exit codes: 0 ok, 1 a solve did not converge, 2 usage error")
    from . import __version__

    parser.add_argument("--version", action="version", version=f"newtonkit {__version__}")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads for the Numba kernels (default: NEWTONKIT_NUM_THREADS or all cores)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="solve showcase problems, store the runs, print a table, plot convergence",
                       description="Solve a 3-D Poisson problem (manufactured solution) with multigrid-"
                       "preconditioned CG and plain CG, store both runs, print a comparison table and write a "
                       "convergence plot (with matplotlib).")
    p.add_argument("--store", default="runs.h5", help="run store file (default: runs.h5; runs are appended)")
    p.add_argument("--shape", type=int, nargs="+", default=[128, 128, 128], metavar="N",
                   help="interior grid points per axis of the Poisson case (default: 128 128 128)")
    p.add_argument("--rtol", type=float, default=1e-8, help="relative residual tolerance (default: 1e-8)")
    p.add_argument("--plot", default="newtonkit_demo.png", help="convergence plot file (default: newtonkit_demo.png)")
    p.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="do not write a plot")
    p.add_argument("--case", action="append", default=None, metavar="NAME",
                   help=f"run only this case (repeatable; cases: {', '.join(c.name for c in _demo_cases())})")
    _add_common_solve(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("solve", help="solve one problem and print the result summary")
    ksub = p.add_subparsers(dest="kind", metavar="PROBLEM", required=True)
    for kind in SOLVE_KINDS:
        kp = ksub.add_parser(kind.name, help=kind.help, description=kind.help)
        kind.add_arguments(kp)
        _add_common_solve(kp)
        kp.add_argument("--store", default=None, metavar="FILE", help="store the run in this HDF5 file")
        kp.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag stored with the run (repeatable)")
        kp.set_defaults(func=cmd_solve)

    p = sub.add_parser("runs", help="inspect run stores: list, show, plot, merge")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    rp = rsub.add_parser("list", help="table of the completed runs")
    rp.add_argument("file")
    rp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rp.set_defaults(func=cmd_runs_list)
    rp = rsub.add_parser("show", help="everything stored for one run")
    rp.add_argument("file")
    rp.add_argument("run_id", help="run id, a unique prefix of it, or -1 for the latest run")
    rp.add_argument("--json", action="store_true", help="print JSON")
    rp.set_defaults(func=cmd_runs_show)
    rp = rsub.add_parser("plot", help="convergence histories of runs (semilogy PNG)")
    rp.add_argument("file")
    rp.add_argument("run_id", nargs="*", help="runs to plot (default: the latest --last runs)")
    rp.add_argument("-o", "--output", default="runs.png", help="output image (default: runs.png)")
    rp.add_argument("--key", default=None, help="history series (default: residual / marginal_error / ...)")
    rp.add_argument("--last", type=int, default=10, help="without run ids: plot this many latest runs")
    rp.add_argument("--absolute", action="store_true", help="plot the values, not relative to the first")
    rp.set_defaults(func=cmd_runs_plot)

    rp = rsub.add_parser("merge", help="copy the completed runs of other stores into one (skips known ids)")
    rp.add_argument("output", help="the store to add to (created if missing)")
    rp.add_argument("sources", nargs="+", help="store files to merge from")
    rp.set_defaults(func=cmd_runs_merge)

    p = sub.add_parser("info", help="versions, backends, devices and threads")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``newtonkit`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from .backends import BackendUnavailableError

    try:
        if args.threads is not None:
            import solvers

            solvers.set_num_threads(args.threads)
        return int(args.func(args))
    except BrokenPipeError:  # `newtonkit runs list f.h5 | head`: stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return EXIT_OK
    except (UsageError, ValueError, TypeError, KeyError, OSError, BackendUnavailableError) as exc:
        if os.environ.get("NEWTONKIT_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"newtonkit: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("newtonkit: interrupted", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "format_table", "manufactured_poisson", "SOLVE_KINDS", "SolveKind",
           "DemoCase", "DemoRun"]
