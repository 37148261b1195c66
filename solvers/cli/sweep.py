"""``newtonkit sweep SPEC.toml --store runs/``: run a parameter sweep on Dask distributed.

The spec (TOML) names a problem factory, a routine, fixed options, a grid of
parameters and seeds (format: :func:`solvers.sweep.load_spec`). Without
``--scheduler`` (or ``DASK_SCHEDULER_ADDRESS``) a LocalCluster sized to this
machine runs the tasks. Rerunning the same command resumes: runs already in the
store are not run again.

Exit codes: 0 every task stored (converged or not: a sweep maps where a method
fails too; the summary line counts the runs that did not converge), 1 some tasks
raised (stored as errors with their traceback) or, with ``--require-converged``,
some stored run did not converge, 2 usage error (bad spec, refused address,
missing dask / dask-cuda, store busy), 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM). On either signal the runs stored so far are indexed and kept, the pending
tasks cancelled and the cluster closed; rerunning the command resumes. A sweep started
in the background of a non-interactive shell (``newtonkit sweep ... &`` in a script)
inherits SIGINT ignored, as POSIX shells arrange for background jobs: stop it with
SIGTERM (``kill PID``).
"""
from __future__ import annotations

import math

import sys

from . import EXIT_NOT_CONVERGED, EXIT_OK, UsageError, _format, sigterm_stops_cleanly


def _params_str(row: dict) -> str:
    parts = [f"{k}={_format.fmt(v) if isinstance(v, float) else v}" for k, v in row["params"].items()]
    parts += [f"{k}={_format.fmt(v) if isinstance(v, float) else v}" for k, v in row["options"].items()]
    return " ".join(parts)


def cmd_sweep(args) -> int:
    from ..sweep import ClusterError, StoreBusyError, load_spec, sweep, tasks_from_spec

    try:
        spec = load_spec(args.spec)
    except FileNotFoundError:
        raise UsageError(f"sweep spec {args.spec!r} does not exist") from None
    if args.scheduler and args.cluster:           # (--cluster local ran, --scheduler silently ignored: helper-160)
        raise UsageError(f"--scheduler {args.scheduler} and --cluster {args.cluster}: give one (attach to a running "
                         "scheduler, or start a cluster here)")
    store = args.store or spec.pop("store", None)
    spec.pop("store", None)
    if store is not None and not isinstance(store, str):       # (TypeError of os.fspath, unnamed: helper-160)
        raise UsageError(f"sweep spec: store must be a path (a string), got {type(store).__name__} {store!r:.40}")
    tasks = tasks_from_spec(spec)
    if args.dry_run:
        if args.json:                      # --json holds for the task list too (it printed text before)
            from .runs import dumps

            print(dumps([{"key": t.key, "label": t.label(), **t.describe(), "name": t.name} for t in tasks]))
            return EXIT_OK
        for t in tasks:
            print(f"{t.key}  {t.label()}")
        print(f"{len(tasks)} tasks")
        return EXIT_OK
    for flag, v in (("--workers", args.workers), ("--threads-per-worker", args.threads_per_worker)):
        if v is not None and v < 1:        # named by its flag (sweep()'s own check says n_workers / threads)
            raise UsageError(f"{flag} must be a positive integer, got {v}")
    if args.task_timeout is not None and not (math.isfinite(args.task_timeout) and args.task_timeout > 0):
        raise UsageError(f"--task-timeout must be a positive number of seconds, got {args.task_timeout}")
    if not store:
        raise UsageError("give --store DIR (or store = 'DIR' in the spec): the directory the runs are stored in")
    _format.check_writable(store, "--store", directory=True)
    progress = False if args.no_progress else (True if args.progress else None)
    try:
        locking = None if args.hdf5_file_locking is None else args.hdf5_file_locking == "on"
        with sigterm_stops_cleanly():      # kill PID / a batch system's limit: stored runs indexed, cluster closed
            table = sweep(tasks, store=store, scheduler=args.scheduler, cluster=args.cluster, n_workers=args.workers,
                          threads=args.threads_per_worker, task_timeout=args.task_timeout, retries=args.retries,
                          retry_failed=args.retry_failed,
                          progress=progress, insecure=args.insecure, file_locking=locking)
    except (ClusterError, StoreBusyError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        from .runs import dumps

        print(dumps(list(table)))
    else:
        rows = [{**r, "params_s": _params_str(r), "seed_s": "" if r["seed"] is None else r["seed"]} for r in table]
        print(_format.format_table(rows, [("key", "key"), ("method", "method"), ("params_s", "parameters"),
                                          ("seed_s", "seed"), ("status", "status"), ("nit", "iters"),
                                          ("time_s", "time [s]"), ("source", "source")]))
        print(f"{len(table)} tasks: {table.ran} ran, {table.skipped} already stored, {table.errors} errors, "
              f"{_not_converged(table)} not converged; runs in {table.store}")
    for r in table:
        if r["status"] == "error" and r["source"] == "ran" and r.get("error"):
            print(f"task {r['key']} raised: {r['error']}", file=sys.stderr)
    if table.errors:
        return EXIT_NOT_CONVERGED
    if args.require_converged and _not_converged(table):
        print(f"{_not_converged(table)} of {len(table)} runs did not converge (--require-converged)", file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _not_converged(table) -> int:
    """Tasks stored as runs that did not converge (errors are counted apart)."""
    return sum(1 for r in table if r["status"] not in ("converged", "error"))


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a parameter sweep (TOML spec) on Dask; resumes where it stopped",
                       description="Run every task of a sweep spec on Dask distributed, one stored run per task. "
                       "Without --scheduler or DASK_SCHEDULER_ADDRESS a LocalCluster sized to this machine is "
                       "started. A cluster shared with others is not reached in clear text: tls:// uses the "
                       "certificates of the Dask config (distributed.comm.tls.*); tcp:// only to this machine "
                       "unless --insecure.")
    p.add_argument("spec", help="sweep spec (TOML): factory, method, [params], [grid], [options], seeds")
    p.add_argument("--store", default=None, help="run directory (default: store = ... in the spec)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="attach to a running scheduler, e.g. tls://host:8786 (default: DASK_SCHEDULER_ADDRESS)")
    p.add_argument("--insecure", action="store_true",
                   help="allow a clear-text (tcp://) scheduler on another host")
    p.add_argument("--cluster", choices=["local", "cuda"], default=None,
                   help="start a cluster here: local (default without an address) or cuda (dask-cuda, 1 GPU/worker)")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: cores)")
    p.add_argument("--threads-per-worker", type=int, default=None, metavar="N",
                   help="Numba threads per LocalCluster worker (default: --threads or NEWTONKIT_NUM_THREADS, "
                        "else the cores, split between the workers)")
    p.add_argument("--task-timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a run that runs longer than this on its worker (restarts the worker; the run is "
                        "stored as failed) (default: no limit)")
    p.add_argument("--retries", type=int, default=1, help="Dask retries of a task whose worker failed (default 1)")
    p.add_argument("--retry-failed", action="store_true",
                   help="rerun tasks stored as errors or whose stored run is damaged (reads every stored run once)")
    p.add_argument("--hdf5-file-locking", choices=["on", "off"], default=None,
                   help="set HDF5_USE_FILE_LOCKING on the workers (off for NFS/Lustre "
                   "without POSIX locks)")
    p.add_argument("--require-converged", action="store_true",
                   help="exit 1 when any stored run did not converge (default: 0 once every task is stored)")
    p.add_argument("--dry-run", action="store_true", help="list the tasks and their keys; run nothing")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", action="store_true", help="progress bar even when stderr is not a terminal")
    g.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(func=cmd_sweep)


__all__ = ["cmd_sweep", "add_parser"]
