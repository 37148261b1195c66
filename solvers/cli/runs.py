"""``newtonkit runs list | show | plot | export | merge | compact``: browse and combine run stores.

A store is a single HDF5 file (``runs.h5``) or a directory of run files (``runs/``); see
:class:`solvers.RunStore`. ``list``, ``plot`` and ``export`` take the same filters
(``--problem --method --backend --status --tag key=value``, ``--converged/--failed``) and ``--sort FIELD
[--reverse]``; they read the store's index, not the runs (listing 10,000 runs is fast)."""
from __future__ import annotations

import argparse
import os
import sys
from argparse import Namespace

import numpy as np

import solvers

from . import EXIT_OK, UsageError, _format
from ._format import dumps, json_safe  # noqa: F401  (re-exported: approx, sweep and scripts use them)

#: history series tried, in order, when ``runs plot`` is given no ``--key``
PLOT_KEYS = ("residual", "marginal_error", "kkt", "grad_norm", "objective")


def _tags_str(tags: dict) -> str:
    """``k=v,...`` on one line: control characters in a tag (a newline broke the table's row) are escaped."""
    return _format.printable(",".join(f"{k}={_format.fmt(v) if isinstance(v, float) and v == v else v}"   # NaN:
                                      for k, v in tags.items()))     # 'nan', not fmt's '-' for a missing cell


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 16 else f"<array shape={v.shape} dtype={v.dtype}>"
    if isinstance(v, np.generic):
        return v.item()
    return v


def _resolve(store, key: str) -> str:
    if not key.strip():
        raise UsageError("run id is empty; give a run id, a unique prefix of it, or -1 for the latest run")
    try:
        return store.resolve(key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def _filters(args: Namespace) -> dict:
    from solvers.runs import _table

    tags = {}
    for t in getattr(args, "tag", None) or []:
        try:
            k, v = _table.parse_tag(t)
        except ValueError as exc:
            raise UsageError(f"--tag: {exc}") from None
        tags[k] = v
    out = {k: getattr(args, k, None) for k in ("problem", "method", "backend", "status")}
    out["converged"] = getattr(args, "converged", None)
    out["tags"] = tags or None
    return out


def _selected(store, args: Namespace) -> list[dict]:
    """Summaries of the runs passing the filters, in ``--sort`` order (oldest first by default)."""
    from solvers.runs import _table

    try:
        return _table.ordered(_table.select(store.list(), **_filters(args)), getattr(args, "sort", None),
                              getattr(args, "reverse", False))
    except KeyError as exc:
        raise UsageError(f"--sort: {exc.args[0]}") from None


def cmd_runs_list(args) -> int:
    with solvers.RunStore(args.file, mode="r") as store:
        rows = _selected(store, args)
    if args.json:
        print(dumps(rows))
        return EXIT_OK
    if not rows:
        print(f"{args.file}: no completed runs" + (" match the filters" if any(v is not None for v in _filters(args).values()) else ""))
        return EXIT_OK
    for r in rows:
        r["tags_s"] = _tags_str(r["tags"])
        r["created_s"] = r["created"][:19].replace("T", " ")
        for k in ("run_id", "problem", "method", "backend", "converged", "nit", "time_s"):
            if isinstance(r.get(k), str):              # (a hostile store may hold text anywhere)
                r[k] = _format.printable(r[k])
    print(_format.format_table(rows, [("run_id", "run id"), ("created_s", "created (UTC)"), ("problem", "problem"),
                                      ("method", "method"), ("backend", "backend"), ("converged", "conv"),
                                      ("nit", "iters"), ("time_s", "time [s]"), ("tags_s", "tags")]))
    print(f"{len(rows)} runs")
    return EXIT_OK


def cmd_runs_show(args) -> int:
    with solvers.RunStore(args.file, mode="r") as store:
        r = store.load(_resolve(store, args.run_id))
    x = None if r.x is None else np.asarray(r.x)
    numeric = x is not None and x.size and x.dtype.kind in "biuf"
    info = {
        "run_id": r.run_id, "created": r.created, "method": r.method, "backend": r.backend,
        "converged": r.converged, "status": r.status, "message": r.message, "nit": r.nit,
        # a failed sweep task stores no x (its traceback is in extras)
        "x": "none" if x is None else f"array shape={x.shape} dtype={x.dtype}" + (
            f" min={x.min():.4g} max={x.max():.4g}" if numeric else ""),
        "history": {k: _format.describe_history(v) for k, v in r.history.items()},
        "stats": r.stats, "options": r.options, "extras": r.extras, "problem": r.problem, "tags": r.tags,
        "provenance": r.provenance}
    if args.json:
        print(dumps(info))
        return EXIT_OK
    for key, value in info.items():
        if isinstance(value, dict) and value:
            print(f"{key}:")
            for k, v in value.items():
                print("  " + _format.printable(f"{k}: {_jsonable(v)}"))
        else:
            print(_format.printable(f"{key}: {value}"))
    return EXIT_OK


def _group_of(row: dict, by: str) -> str:
    if by.startswith("tag:") and len(by) > 4:
        return str(row["tags"].get(by[4:], "-"))
    if by not in row:
        raise UsageError(f"--by {by}: group by one of problem, method, backend, status, converged, tag:KEY")
    return str(row[by])


def cmd_runs_plot(args) -> int:
    from solvers.runs import _plot

    if args.last < 1:
        raise UsageError(f"--last must be a positive number of runs, got {args.last}")
    _format.check_plot_path(args.output, "--output")
    key_arg = args.metric or args.key
    with solvers.RunStore(args.file, mode="r") as store:
        if args.run_id:
            ids = list(dict.fromkeys(_resolve(store, k) for k in args.run_id))   # '-1 -1' is one run, one curve
            rows = {r["run_id"]: r for r in store.list()}
            keep = {r["run_id"] for r in _selected(store, args)}     # the named runs passing the filters
            rows = [rows[i] for i in ids if i in keep]                # (the filters were ignored; helper-103)
        else:
            rows = _selected(store, args)
            rows = rows if args.by else rows[-args.last:]
        if not rows:
            raise UsageError(f"{args.file} holds no completed runs to plot" +
                             (" that match the filters" if any(v is not None for v in _filters(args).values()) else ""))
        _ = args.by and _group_of(rows[0], args.by)       # a wrong --by named before the runs load (helper-147)
        runs = [(r, store.load(r["run_id"])) for r in rows]
    curves = []
    for row, r in runs:
        key = key_arg or next((k for k in PLOT_KEYS if k in r.history), next(iter(r.history), None))
        if _format.numeric_history(r.history, key) is None:     # (text: a raw float conversion error; helper-140)
            what = _format.why_not_plotted(r.history, key) if key is not None else "no history"
            print(_format.printable(f"run {r.run_id} has {what}; skipped"), file=sys.stderr)
            continue
        values = r.history[key] if args.absolute else _format.normalised(r.history[key])
        if args.by:
            curves.append((f"{_group_of(row, args.by)}", values))
        else:
            curves.append(("runs", f"{r.run_id[-6:]} {r.method} ({r.backend}, {r.nit} it) [{key}]", values))
    if not curves:
        raise UsageError("nothing to plot: none of the runs has that history")
    ylabel = "value" if args.absolute else "relative to the first value"
    if args.by:
        ok = _plot.plot_groups(curves, args.output, f"{os.path.basename(os.path.normpath(args.file))}: "
                         f"{key_arg or 'history'} by {args.by}", ylabel)
    else:
        ok = _format.plot_histories(curves, args.output, title=os.path.basename(os.path.normpath(args.file)),
                                    ylabel=ylabel)
    if not ok:
        raise UsageError("`runs plot` needs matplotlib: pip install 'newtonkit[plot]'")
    print(f"wrote {args.output} ({len(curves)} runs)")
    return EXIT_OK


def cmd_runs_export(args) -> int:
    from solvers.runs import _table

    if not args.csv and not args.parquet:
        raise UsageError("runs export: give --csv OUT.csv or --parquet OUT.parquet")
    for out, what in ((args.csv, "--csv"), (args.parquet, "--parquet")):
        if out and out != "-":            # --csv -: standard output (it wrote a file named '-': helper-133)
            try:                 # before reading the store: the output would replace an HDF5 file
                _table.refuse_hdf5_target(out, what)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            _format.check_writable(out, what)
    with solvers.RunStore(args.file, mode="r") as store:
        rows = _table.flatten(_selected(store, args))
    if args.parquet:
        try:
            _table.write_parquet(rows, args.parquet)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote {args.parquet} ({len(rows)} runs)")
    if args.csv == "-":
        _table.write_rows(rows)
    elif args.csv:
        _table.write_csv(rows, args.csv)
        print(f"wrote {args.csv} ({len(rows)} runs)")
    return EXIT_OK


def cmd_runs_compact(args) -> int:
    if not os.path.exists(args.file):
        raise UsageError(f"{args.file!r} does not exist; compact takes an existing store file (runs.h5)")
    with solvers.RunStore(args.file) as store:
        moved = store.compact()
        total = len(store)
    print(f"compacted {len(moved)} runs into {args.file} ({total} runs in all)")
    return EXIT_OK


def cmd_runs_merge(args) -> int:
    from solvers.runs._combine import remove_if_empty

    fresh = not os.path.lexists(args.output)
    if fresh:
        _format.check_writable(args.output, "merge target")
    try:
        with solvers.RunStore(args.output) as store:
            added = store.merge(args.sources)
            total = len(store)
    except BaseException:
        if fresh:                  # a failed merge leaves no empty store behind (nothing else was there)
            remove_if_empty(solvers.RunStore, args.output)
        raise
    print(f"merged {len(added)} new runs into {args.output} ({total} runs in all)")
    return EXIT_OK


def _add_filters(rp, sort: bool = True) -> None:
    g = rp.add_argument_group("filters")
    g.add_argument("--problem", action="append", help="only runs of this problem (repeatable)")
    g.add_argument("--method", action="append", help="only runs of this method (repeatable)")
    g.add_argument("--backend", action="append", help="only runs on this backend (repeatable)")
    g.add_argument("--status", action="append", choices=solvers.results.Status.ALL,
                   help="only runs with this status")
    g.add_argument("--tag", action="append", metavar="KEY=VALUE", help="only runs with this tag (repeatable)")
    c = g.add_mutually_exclusive_group()
    c.add_argument("--converged", action="store_const", const=True, dest="converged", help="only converged runs")
    c.add_argument("--failed", action="store_const", const=False, dest="converged", help="only runs that did not")
    if sort:
        rp.add_argument("--sort", metavar="FIELD", help="order by a column: created, nit, time_s, method, "
                        "residual (its final value), a tag key, ...")
        rp.add_argument("--reverse", action="store_true", help="descending order")


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="browse run stores: list, show, plot, export, merge, compact")
    rsub = p.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    rp = rsub.add_parser("list", help="table of the completed runs (filters, --sort)")
    rp.add_argument("file", help="a store: runs.h5 or a directory of run files")
    rp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_filters(rp)
    rp.set_defaults(func=cmd_runs_list)

    rp = rsub.add_parser("show", help="everything stored for one run")
    rp.add_argument("file")
    rp.add_argument("run_id", help="run id, a unique prefix of it, or -1 for the latest run")
    rp.add_argument("--json", action="store_true", help="print JSON")
    rp.set_defaults(func=cmd_runs_show)

    rp = rsub.add_parser("plot", help="convergence histories of runs (semilogy PNG)")
    rp.add_argument("file")
    rp.add_argument("run_id", nargs="*", help="runs to plot, if they pass the filters (default: the latest --last)")
    rp.add_argument("-o", "--output", default="runs.png", help="output image (default: runs.png)")
    rp.add_argument("--metric", default=None, help="history series, e.g. residual (default: residual / "
                    "marginal_error / ...)")
    rp.add_argument("--key", default=None, help=argparse.SUPPRESS)   # the older name of --metric
    rp.add_argument("--by", default=None, metavar="FIELD", help="one colour per value of FIELD (method, backend, "
                    "problem, status, tag:KEY); plots every run passing the filters")
    rp.add_argument("--last", type=int, default=10, help="without run ids or --by: plot this many latest runs")
    rp.add_argument("--absolute", action="store_true", help="plot the values, not relative to the first")
    _add_filters(rp)
    rp.set_defaults(func=cmd_runs_plot)

    rp = rsub.add_parser("export", help="the table of runs as CSV or Parquet (filters, --sort)")
    rp.add_argument("file")
    rp.add_argument("--csv", metavar="OUT.csv", help="write CSV ('-': to standard output)")
    rp.add_argument("--parquet", metavar="OUT.parquet", help="write Parquet (needs pyarrow)")
    _add_filters(rp)
    rp.set_defaults(func=cmd_runs_export)

    rp = rsub.add_parser("merge", help="copy the completed runs of other stores into one (skips known ids)")
    rp.add_argument("output", help="the store to add to (created if missing): runs.h5 or a directory")
    rp.add_argument("sources", nargs="+", help="stores to merge from (files or directories)")
    rp.set_defaults(func=cmd_runs_merge)

    rp = rsub.add_parser("compact", help="move the runs of runs.h5.d/ into runs.h5 (after a killed writer)")
    rp.add_argument("file")
    rp.set_defaults(func=cmd_runs_compact)


__all__ = ["json_safe", "dumps", "cmd_runs_list", "cmd_runs_show", "cmd_runs_plot", "cmd_runs_export",
           "cmd_runs_merge", "cmd_runs_compact", "add_parser", "PLOT_KEYS"]
