"""What a worker does with one task: build the problem, solve, write the run to its own file.

Storage rule: many processes never write one HDF5 file. Each task writes its run
into a file of its own with :func:`solvers.runs.write_run_file` (temporary name,
digest, complete flag, atomic link to ``<run_id>.h5`` in the store's
:attr:`~solvers.RunStore.run_dir`), so a file with a final name is always a
complete run and a worker killed at any moment leaves at most a temporary file
(removed by later writers). The worker returns only the file's path and a small
summary; the client, the single writer of the store's index, indexes it
(:meth:`solvers.RunStore.index_files`). The task key travels in the run's tags
(``sweep_key``): that is what a resumed sweep compares.

A task that raises (a bad parameter, a factory that fails, a routine that
raises) is stored too, as a failed run: status ``"failed"`` (the
:class:`~solvers.Status` convention), ``converged=False``, the exception in the
message and the full traceback in ``extras["traceback"]``, tag
``sweep_status="error"``. The sweep goes on with the other tasks.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import traceback

from ..results import SolveResult, Status
from ..runs._integrity import check_tags
from ._tasks import Task, canonical, resolve_factory

#: ``sweep_status`` tag values
OK, ERROR = "ok", "error"


def task_tags(task: Task, status: str, error=None) -> dict:
    """Tags stored with a task's run: the key (what resume compares), the description, scalar params (those a
    tag can hold: a NUL, a '=' in the name or a 2**70 made the write fail and aborted the whole sweep, helper-98;
    ``sweep_params`` keeps them all), and for a failed task the last line of its error (``sweep_error``: what
    a resumed sweep reports)."""
    tags = {"sweep_key": task.key, "sweep_status": status, "sweep_factory": task.factory,
            "sweep_params": canonical(task.params), "sweep_options": canonical(task.options),
            "sweep_method": task.method or "", "sweep_backend": task.backend or ""}
    if task.name:
        tags["sweep_name"] = task.name
    if task.seed is not None:
        tags["sweep_seed"] = task.seed
    for k, v in task.params.items():
        if isinstance(v, (str, int, float, bool)) and "/" not in k and not k.startswith(("_", ".")):
            try:
                tags.update(check_tags({f"param_{k}": v}))
            except (TypeError, ValueError):
                continue
    if status == ERROR and isinstance(error, str):
        tags["sweep_error"] = error.replace("\0", "")[:500]
    return tags


def error_result(task: Task, exc: BaseException, tb: str) -> SolveResult:
    """A failed :class:`SolveResult` that records an exception and its traceback."""
    last = tb.strip().splitlines()[-1] if tb.strip() else f"{type(exc).__name__}: {exc}"
    if type(exc).__name__ == "KilledWorker":
        msg = (f"the workers running this task died ({exc}): this task, or another one on the same worker, "
               "crashed it or ran it out of memory. Rerun the sweep with retry_failed=True (--retry-failed); if "
               "the task fails again, give the workers more memory or make the problem smaller")
    else:
        msg = (f"sweep task raised {type(exc).__name__}: {exc}. The traceback is stored in extras['traceback']; "
               f"fix the parameters or the factory and rerun the sweep with retry_failed=True (--retry-failed)")
    return SolveResult(None, False, Status.FAILED, msg, 0, method=task.method or "", backend=task.backend or "",
                       options=dict(task.options), error_type=type(exc).__name__, error=last, traceback=tb)


def _write(result, run_dir, *, problem=None, tags=None, seed=None, durable=True) -> dict:
    from ..runs import write_run_file

    return write_run_file(result, run_dir, problem=problem, tags=tags, seed=seed, durable=durable)


def summary(task: Task, result: SolveResult, *, status: str, file: str, run_id: str, wall_s: float,
            run: dict | None = None) -> dict:
    """The small record a worker sends back (and the store's index keeps); ``run`` is the run file's own
    index row (:func:`solvers.runs.write_run_file`'s summary), so the client indexes the file unopened."""
    t = result.stats.get("time_s")
    return {"key": task.key, "status": ERROR if status == ERROR else result.status, "converged": bool(result.converged),
            "nit": int(result.nit), "time_s": float(t) if isinstance(t, (int, float)) else None,
            "wall_s": float(wall_s), "method": result.method or (task.method or ""), "backend": result.backend or "",
            "factory": task.factory, "params": task.params, "seed": task.seed, "options": task.options,
            "name": task.name, "file": file, "run_id": run_id,
            "error": result.extras.get("error") if status == ERROR else None,
            "host": socket.gethostname(), "pid": os.getpid(),
            "run": None if run is None else {k: v for k, v in run.items() if k != "file"}}


def run_task(task: Task, run_dir: str, *, durable: bool = True, file_locking: bool | None = None) -> dict:
    """Run one task on a worker and write its run to a new file in ``run_dir``; return its summary.

    Parameters
    ----------
    task : Task
    run_dir : str
        Directory of the run files (:attr:`solvers.RunStore.run_dir`; must be reachable
        from the worker: a local disk for a LocalCluster, a shared file system for a
        multi-host cluster).
    durable : bool
        ``fsync`` the file and the directory (see :class:`solvers.RunStore`).
    file_locking : bool, optional
        Sets ``HDF5_USE_FILE_LOCKING`` in the worker (``False`` for shared file
        systems without POSIX locks, e.g. some NFS / Lustre mounts). Only effective
        before the worker's first HDF5 file is opened; None leaves it alone.
    """
    if file_locking is not None:
        os.environ["HDF5_USE_FILE_LOCKING"] = "TRUE" if file_locking else "FALSE"
    from .. import _solve

    t0 = time.perf_counter()
    problem = None
    status = OK
    try:
        problem = resolve_factory(task.factory)(**task.factory_kwargs())
        result = _solve.solve(problem, method=task.method, backend=task.backend, **task.options)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - every failure of a task is recorded
        # and the sweep goes on; a task's own sys.exit() or KeyboardInterrupt killed its Dask worker, so the run
        # was stored as KilledWorker and other tasks of that worker ran and were stored again (helper-85). In the
        # main thread (run_task / run_batch called in a user's own loop) they are the user's: raised as they are
        if not isinstance(exc, Exception) and threading.current_thread() is threading.main_thread():
            raise
        status = ERROR
        result = error_result(task, exc, traceback.format_exc())
    tags = task_tags(task, status, result.extras.get("error"))
    try:
        written = _write(result, run_dir, problem=problem, tags=tags, seed=task.seed, durable=durable)
    except OSError:
        raise                   # the file system: Dask's retries are for this
    except Exception as exc:  # noqa: BLE001 - e.g. problem.describe() raised: the solve is not thrown away
        # the result or problem description could not be stored: store the failure (without the problem)
        if status != ERROR:
            status = ERROR
            result = error_result(task, exc, traceback.format_exc())
        written = _write(result, run_dir, tags=task_tags(task, status, result.extras.get("error")), seed=task.seed,
                         durable=durable)
    return summary(task, result, status=status, file=written["file"], run_id=written["run_id"],
                   wall_s=time.perf_counter() - t0, run=written)


#: the Dask keys this worker process is executing, with the ``time.monotonic()`` each started at (read by the
#: client's :class:`solvers.sweep._watch.Watchdog` through :func:`running_for`)
_RUNNING: dict = {}


def running_for() -> dict:
    """``{Dask key: seconds it has been executing}`` on this worker process (the scheduler's ``processing``
    also counts tasks queued on the worker behind the one executing)."""
    now = time.monotonic()
    return {k: now - t0 for k, t0 in list(_RUNNING.items())}


def _current_key():
    try:
        from distributed import get_worker

        return get_worker().get_current_task()
    except Exception:  # noqa: BLE001 - not on a Dask worker (a direct call): nothing to record
        return None


def run_batch(tasks, run_dir: str, *, durable: bool = True, file_locking: bool | None = None) -> list:
    """:func:`run_task` for each task of a batch, in order (each writes its own run file)."""
    key = _current_key()
    if key is not None:
        _RUNNING[key] = time.monotonic()
    try:
        return [run_task(t, run_dir, durable=durable, file_locking=file_locking) for t in tasks]
    finally:
        _RUNNING.pop(key, None)


def record_lost_task(task: Task, run_dir: str, exc: BaseException, tb: str, *, durable: bool = True) -> dict:
    """Store a task that never returned (its worker died too often, retries exhausted) as a failed run.

    Runs in the client; the file is a new one of its own, so the single-writer rule holds.
    """
    result = error_result(task, exc, tb)
    written = _write(result, run_dir, tags=task_tags(task, ERROR, result.extras.get("error")), seed=task.seed,
                     durable=durable)
    return summary(task, result, status=ERROR, file=written["file"], run_id=written["run_id"], wall_s=0.0,
                   run=written)


def from_stored(row: dict) -> dict | None:
    """A task summary from a stored run's listing (:meth:`solvers.RunStore.list`), from its tags;
    None for runs that no sweep wrote."""
    tags = row.get("tags") or {}
    if not isinstance(tags.get("sweep_key"), str):
        return None
    seed = tags.get("sweep_seed")
    try:
        params, options = json.loads(tags.get("sweep_params", "{}")), json.loads(tags.get("sweep_options", "{}"))
    except ValueError:
        return None
    return {"key": tags["sweep_key"], "status": ERROR if tags.get("sweep_status") == ERROR else row["status"],
            "converged": bool(row["converged"]), "nit": row["nit"], "time_s": row["time_s"], "wall_s": None,
            "method": row["method"], "backend": row["backend"], "factory": tags.get("sweep_factory", ""),
            "params": params, "seed": None if seed is None else int(seed), "options": options,
            "name": tags.get("sweep_name", ""), "file": None, "run_id": row["run_id"],
            "error": tags.get("sweep_error") if tags.get("sweep_status") == ERROR else None,
            "host": None, "pid": None}


__all__ = ["run_task", "run_batch", "record_lost_task", "from_stored", "error_result", "task_tags", "summary", "OK", "ERROR"]
