"""``newtonkit runs list | show | plot | merge``: inspect and combine run stores (HDF5)."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

import solvers

from . import EXIT_OK, UsageError, _format

#: history series tried, in order, when ``runs plot`` is given no ``--key``
PLOT_KEYS = ("residual", "marginal_error", "kkt", "grad_norm", "objective")


def _tags_str(tags: dict) -> str:
    return ",".join(f"{k}={_format.fmt(v) if isinstance(v, float) else v}" for k, v in tags.items())


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 16 else f"<array shape={v.shape} dtype={v.dtype}>"
    if isinstance(v, np.generic):
        return v.item()
    return v


def json_safe(v):
    """``v`` with NaN and +-inf replaced by None (JSON has no such numbers), arrays and NumPy scalars as
    plain values, recursively; the result dumps with ``allow_nan=False``."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_safe(v.tolist()) if v.size <= 16 else f"<array shape={v.shape} dtype={v.dtype}>"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, complex):
        return [json_safe(v.real), json_safe(v.imag)]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def dumps(v) -> str:
    """Strict JSON (no bare NaN / Infinity) of ``v``."""
    return json.dumps(json_safe(v), indent=1, allow_nan=False)


def _resolve(store, key: str) -> str:
    if not key.strip():
        raise UsageError("run id is empty; give a run id, a unique prefix of it, or -1 for the latest run")
    try:
        return store.resolve(key)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None


def cmd_runs_list(args) -> int:
    with solvers.RunStore(args.file, mode="r") as store:
        rows = store.list()
    if args.json:
        print(dumps(rows))
        return EXIT_OK
    if not rows:
        print(f"{args.file}: no completed runs")
        return EXIT_OK
    for r in rows:
        r["tags_s"] = _tags_str(r["tags"])
        r["created_s"] = r["created"][:19].replace("T", " ")
    print(_format.format_table(rows, [("run_id", "run id"), ("created_s", "created (UTC)"), ("method", "method"),
                                      ("backend", "backend"), ("converged", "conv"), ("nit", "iters"),
                                      ("time_s", "time [s]"), ("tags_s", "tags")]))
    print(f"{len(rows)} runs")
    return EXIT_OK


def cmd_runs_show(args) -> int:
    with solvers.RunStore(args.file, mode="r") as store:
        r = store.load(_resolve(store, args.run_id))
    x = np.asarray(r.x)
    info = {
        "run_id": r.run_id, "created": r.created, "method": r.method, "backend": r.backend,
        "converged": r.converged, "status": r.status, "message": r.message, "nit": r.nit,
        "x": f"array shape={x.shape} dtype={x.dtype}" + (f" min={x.min():.4g} max={x.max():.4g}"
                                                          if x.size and np.isrealobj(x) else ""),
        "history": {k: (f"{v.size} values, first {_format.fmt(v[0])}, last {_format.fmt(v[-1])}"
                        if v.size else "empty") for k, v in r.history.items()},
        "stats": r.stats, "options": r.options, "extras": r.extras, "problem": r.problem, "tags": r.tags,
        "provenance": r.provenance,
    }
    if args.json:
        print(dumps(info))
        return EXIT_OK
    for key, value in info.items():
        if isinstance(value, dict) and value:
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {_jsonable(v)}")
        else:
            print(f"{key}: {value}")
    return EXIT_OK


def cmd_runs_plot(args) -> int:
    if args.last < 1:
        raise UsageError(f"--last must be a positive number of runs, got {args.last}")
    with solvers.RunStore(args.file, mode="r") as store:
        ids = [_resolve(store, k) for k in args.run_id] if args.run_id else store.run_ids()[-args.last:]
        if not ids:
            raise UsageError(f"{args.file} holds no completed runs to plot")
        runs = [store.load(rid) for rid in ids]
    curves = []
    for r in runs:
        key = args.key or next((k for k in PLOT_KEYS if k in r.history), next(iter(r.history), None))
        if key is None or key not in r.history:
            print(f"run {r.run_id} has no history {args.key or ''}; skipped", file=sys.stderr)
            continue
        values = r.history[key] if args.absolute else _format.normalised(r.history[key])
        curves.append(("runs", f"{r.run_id[-6:]} {r.method} ({r.backend}, {r.nit} it) [{key}]", values))
    if not curves:
        raise UsageError("nothing to plot: none of the runs has that history")
    if not _format.plot_histories(curves, args.output, title=os.path.basename(args.file),
                                  ylabel="value" if args.absolute else "relative to the first value"):
        raise UsageError("`runs plot` needs matplotlib: pip install 'newtonkit[plot]'")
    print(f"wrote {args.output} ({len(curves)} runs)")
    return EXIT_OK


def cmd_runs_merge(args) -> int:
    with solvers.RunStore(args.output) as store:
        added = store.merge(args.sources)
        total = len(store)
    print(f"merged {len(added)} new runs into {args.output} ({total} runs in all)")
    return EXIT_OK


def add_parser(sub) -> None:
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


__all__ = ["json_safe", "dumps", "cmd_runs_list", "cmd_runs_show", "cmd_runs_plot", "cmd_runs_merge", "add_parser",
           "PLOT_KEYS"]
