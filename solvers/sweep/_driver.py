"""``sweep()``: submit the tasks a store does not hold yet, index what comes back, return the table."""
from __future__ import annotations

import sys
import time
import traceback

from . import _cluster, _watch, _store, _tasks, _worker


class SweepTable(list):
    """The result of :func:`sweep`: one summary dict per task, in task order.

    Each row has ``key, status, converged, nit, time_s, wall_s, method, backend,
    factory, params, seed, options, name, file, run_id, error`` and ``source``
    (``"ran"`` this time or ``"stored"`` before). ``status`` is the run's
    :class:`~solvers.Status` string, or ``"error"`` for a task that raised.
    """

    def __init__(self, rows=(), *, store=None):
        super().__init__(rows)
        self.store = store

    @property
    def ran(self) -> int:
        """Tasks run by this call."""
        return sum(r["source"] == "ran" for r in self)

    @property
    def skipped(self) -> int:
        """Tasks found in the store and not run again."""
        return sum(r["source"] == "stored" for r in self)

    @property
    def errors(self) -> int:
        """Tasks whose run is stored as an error."""
        return sum(r["status"] == "error" for r in self)

    def to_frame(self):
        """A pandas DataFrame, the params flattened into columns (``param_<name>`` on a name clash)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SweepTable.to_frame needs pandas (pip install pandas, or 'newtonkit[table]'); "
                              "the table itself is a list of dicts") from None

        flat = []
        for r in self:
            row = {k: v for k, v in r.items() if k not in ("params", "options")}
            for k, v in r["params"].items():
                row[k if k not in row else f"param_{k}"] = v
            for k, v in r["options"].items():
                row[f"opt_{k}"] = v
            flat.append(row)
        return pd.DataFrame(flat)


class _Progress:
    """tqdm over completed runs if installed, else a line every ~10 % (stderr)."""

    def __init__(self, total: int, enabled):
        stream = sys.stderr
        on = enabled if isinstance(enabled, bool) else bool(getattr(stream, "isatty", lambda: False)())
        self.total, self.done, self.failed, self.bar, self.on = total, 0, 0, None, on and total > 0
        self._next = 0
        if self.on:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit="run", desc="sweep", file=stream)
            except ImportError:
                self.bar = None

    def update(self, row: dict) -> None:
        self.done += 1
        self.failed += row["status"] == "error"
        if not self.on:
            return
        if self.bar is not None:
            self.bar.update(1)
            if self.failed:
                self.bar.set_postfix(errors=self.failed)
        elif self.done >= self._next or self.done == self.total:
            print(f"sweep: {self.done}/{self.total} runs ({self.failed} errors)", file=sys.stderr, flush=True)
            self._next = self.done + max(1, self.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _dask_key(task, store) -> str:
    # unique per (task, store): a scheduler shared by sweeps into different stores never hands one
    # sweep the result (a file name in another store) of another
    import hashlib

    return f"newtonkit-sweep-{task.key}-{hashlib.sha256(str(store.path).encode()).hexdigest()[:8]}"


def sweep(tasks, *, store, client=None, scheduler: str | None = None, cluster: str | None = None,
          n_workers: int | None = None, threads: int | None = None, retries: int = 1, retry_failed: bool = False,
          progress: bool | None = None, insecure: bool = False, file_locking: bool | None = None,
          durable: bool = True, batch: int | None = None, task_timeout: float | None = None) -> SweepTable:
    """Run many independent solves on Dask distributed; every run is stored, a rerun resumes.

    Parameters
    ----------
    tasks : str, os.PathLike, dict or iterable of Task
        A TOML spec file, a spec dict (see :func:`solvers.sweep.load_spec`) or
        :class:`solvers.sweep.Task` objects.
    store : str or os.PathLike
        A :class:`solvers.RunStore`: a directory ``"runs/"`` (created if missing;
        one HDF5 file per run) or a single file ``"runs.h5"`` (runs gathered in
        its sidecar while the sweep runs, compacted into the file at the end);
        see :class:`solvers.sweep.SweepStore`.
    client : distributed.Client, optional
        Use this client (not closed here).
    scheduler : str, optional
        Address of a running scheduler (default: ``DASK_SCHEDULER_ADDRESS``, then
        Dask's ``scheduler-address`` config). ``tls://`` uses the certificates of
        the Dask config; clear text only to loopback unless ``insecure``.
    cluster : {"local", "cuda"}, optional
        Start a cluster here even when an address is configured: ``"local"``
        (LocalCluster, the default without an address) or ``"cuda"``
        (dask_cuda.LocalCUDACluster, one worker per GPU).
    n_workers, threads : int, optional
        LocalCluster size: worker processes (default cores // threads) and Numba
        threads per worker (``NEWTONKIT_NUM_THREADS``; default T // workers, T the configured
        thread count (``NEWTONKIT_NUM_THREADS``, :func:`solvers.set_num_threads`) or else the cores).
    retries : int
        Dask retries of a task whose worker raised outside the solve (e.g. a file
        system error). Exceptions of the solve itself are stored at once; a
        worker that dies is rescheduled by Dask (``distributed.scheduler.allowed-failures``)
        and a task that outlives it is stored as an error.
    retry_failed : bool
        Also rerun tasks whose stored run is an error, or whose stored run no longer matches its
        digest (:meth:`solvers.RunStore.verify`, which reads every stored run once).
    progress : bool, optional
        Progress bar over completed runs (tqdm if installed, else lines on
        stderr). Default: only when stderr is a terminal.
    insecure : bool
        Allow a clear-text address to a host other than this one.
    file_locking : bool, optional
        Set ``HDF5_USE_FILE_LOCKING`` on the workers (LocalCluster: in their
        environment at start; a running cluster: before their first HDF5 write).
        ``False`` for shared file systems without POSIX locks.
    durable : bool
        ``fsync`` each run file and its directory (default).
    batch : int, optional
        Runs per Dask task (each still its own run file, key and resume entry). Default:
        ``len(tasks) // (8 workers)`` clipped to [1, 16] (:func:`batch_size`), which
        amortises Dask's per-task cost over short solves; ``batch=1`` submits every run
        alone. A worker that dies mid-batch reruns the batch elsewhere, so a run can be
        stored twice (the latest counts).
    task_timeout : float, optional
        Seconds a run may execute on its worker (the worker's clock, from the moment the run
        starts executing: time queued does not count). A run that takes longer is stopped: its future is
        cancelled, its worker process restarted, and it is stored as a failed run whose error
        says it timed out (a rerun skips it unless ``retry_failed``). Checked every
        ``min(1, task_timeout / 20)`` s (at least 0.05 s). Needs ``batch`` 1 (the default then):
        the limit is per run. See :mod:`solvers.sweep._watch`.

    Returns
    -------
    SweepTable
        A list of summary dicts, one per task in task order, with ``ran``,
        ``skipped``, ``errors`` and ``to_frame()`` (pandas).

    Notes
    -----
    Each task is submitted with an explicit key (from a hash of its
    description, :attr:`Task.key`) and ``pure=False``. A run is complete once its
    file has its final name; the client is the only writer of the index, and
    a rerun finds stored runs by the task key in their tags (also runs a killed
    client never indexed), so it runs only the tasks whose run is missing. Dask: M. Rocklin, "Dask: Parallel
    Computation with Blocked algorithms and Task Scheduling", Proc. SciPy 2015.
    """
    task_list = _tasks.as_tasks(tasks)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be None (automatic) or an integer >= 1, got {batch!r}")
    if file_locking is not None and not isinstance(file_locking, bool):    # 'off' turned locking on (helper-98)
        raise TypeError(f"file_locking must be True, False or None (leave HDF5's setting), got {file_locking!r}")
    task_timeout = _watch.check_timeout(task_timeout)
    if task_timeout is not None and batch not in (None, 1):
        raise ValueError(f"task_timeout is a limit per run: it needs batch=1 (each run its own Dask task), got "
                         f"batch={batch}")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None (only on a terminal), got {progress!r}")
    _cluster.check_arguments(client, scheduler, cluster=cluster, n_workers=n_workers, threads=threads,
                             insecure=insecure)   # a refused address or bad size fails before the store is touched
    st = _store.SweepStore(store, durable=durable)
    rows: dict[str, dict] = {}
    with st:
        for key, row in st.stored().items():
            rows[key] = {**row, "source": "stored"}
        if retry_failed:           # a stored run whose data no longer matches its digest failed too
            damaged = {rid for rid, v in st.runs.verify().items() if v.startswith("damaged")}
            for row in rows.values():
                if row["run_id"] in damaged:
                    row["status"] = _worker.ERROR
        todo = [t for t in task_list
                if t.key not in rows or (retry_failed and rows[t.key]["status"] == _worker.ERROR)]
        if todo:
            env = {} if file_locking is None else {"HDF5_USE_FILE_LOCKING": "TRUE" if file_locking else "FALSE"}
            with _cluster.connect(client, scheduler, cluster=cluster, n_workers=n_workers, threads=threads,
                                  insecure=insecure, env=env) as c:
                for row in _run(c, todo, st, retries=retries, progress=progress, durable=durable,
                                file_locking=file_locking, batch=1 if task_timeout else batch,
                                task_timeout=task_timeout):
                    rows[row["key"]] = {**row, "source": "ran"}
    # the task's own params and options (the spec's order): a stored row reads them back from the canonical
    # JSON of its tags, key-sorted, so the table's column order differed between ran and stored rows (helper-103)
    return SweepTable([{**rows[t.key], "params": dict(t.params), "options": dict(t.options)}
                       for t in task_list if t.key in rows], store=st.given)


#: automatic batching: at least this many Dask tasks per worker (for balance), at most this many runs per batch
_BATCHES_PER_WORKER, _MAX_BATCH = 8, 16


def batch_size(n_tasks: int, n_workers: int, batch: int | None) -> int:
    """Runs per Dask task: ``batch`` when given, else ``n_tasks // (8 n_workers)`` clipped to [1, 16].

    Dask's scheduling, serialisation and the client's bookkeeping cost a few milliseconds per
    Dask task, which is a large share of a 40 ms solve on a machine whose cores the scheduler
    and client share with the workers; a batch amortises it. Small sweeps (fewer than 16 tasks
    per worker) are not batched, so they keep the finest load balance.
    """
    if batch is not None:
        return batch
    return max(1, min(_MAX_BATCH, n_tasks // (_BATCHES_PER_WORKER * max(1, n_workers))))


def _batch_key(chunk, store) -> str:
    if len(chunk) == 1:
        return _dask_key(chunk[0], store)
    import hashlib

    h = hashlib.sha256("|".join(t.key for t in chunk).encode()).hexdigest()[:24]
    return f"newtonkit-sweep-batch-{h}-{hashlib.sha256(str(store.path).encode()).hexdigest()[:8]}"


def _n_workers(client, at_least: int = 1) -> int:
    try:
        return max(at_least, len(client.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - an unusual client: no batching information, assume one worker
        return 1


def _lost(chunk, st, exc, durable, look=False):
    """Rows for the tasks of a batch whose Dask task failed (its workers died too often) or was stopped (``look``):
    runs the batch stored before that are kept (found by their keys), the others are stored as errors. A run
    stopped past its time limit may still have stored its result while its worker was being restarted (the
    restart lets the worker close): that run is kept and no error is stored (helper-140: both were, and the error,
    being the later run, hid the result)."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    done = st.stored() if (len(chunk) > 1 or look) else {}
    return [done[t.key] if t.key in done and done[t.key]["status"] != _worker.ERROR
            else _worker.record_lost_task(t, str(st.run_dir), exc, tb, durable=durable) for t in chunk]


def _run(client, todo, st, *, retries, progress, durable, file_locking, batch=None, task_timeout=None):
    """Submit ``todo`` in batches; yield each summary as it is indexed."""
    if task_timeout is not None:
        _watch.require_nannies(client)
    if _n_workers(client, at_least=0) == 0:     # an attached scheduler without workers waited silently
        import warnings
        warnings.warn(f"sweep: the Dask scheduler {getattr(client.scheduler, 'address', '')} has no workers yet; the "
                      f"{len(todo)} task(s) wait until one joins (start one with `dask worker ADDRESS`, or stop "
                      "with Ctrl-C: nothing is stored for tasks not run)", RuntimeWarning, stacklevel=3)
    size = batch_size(len(todo), _n_workers(client), batch)
    by_future = {}
    for i in range(0, len(todo), size):
        chunk = todo[i:i + size]
        fut = client.submit(_worker.run_batch, chunk, str(st.run_dir), durable=durable, file_locking=file_locking,
                            key=_batch_key(chunk, st), pure=False, retries=retries)
        by_future[fut] = chunk
    bar = _Progress(len(todo), progress)
    pending, last_flush = [], time.monotonic()
    try:
        for got in _finished(client, by_future, st, durable, task_timeout):
            for row in got:
                pending.append(row)
                bar.update(row)
            if len(pending) >= 64 or time.monotonic() - last_flush > 1.0:
                st.index(pending)
                pending, last_flush = [], time.monotonic()
            for row in got:
                yield {k: v for k, v in row.items() if k != "run"}    # the run's index row stays with the store
    finally:
        st.index(pending)
        bar.close()
        for fut in by_future:   # interrupted: do not leave work behind on a shared scheduler
            try:
                fut.cancel()
            except Exception:  # noqa: BLE001 - the scheduler is gone: nothing is left behind on it
                pass


def _finished(client, by_future, st, durable, task_timeout):
    """The rows of each batch as it ends (popped from ``by_future``): its summaries, or failed runs for a batch
    whose workers died too often, or -- with ``task_timeout`` -- for a run stopped by the :class:`_watch.Watchdog`."""
    from distributed import as_completed

    def rows(fut):
        chunk = by_future.pop(fut)
        try:
            got = fut.result()
        except Exception as exc:  # noqa: BLE001 - worker died too often, retries exhausted: store it
            if _cluster.connection_lost(client, exc):   # not the task's failure: store nothing, a rerun runs it
                left = len(chunk) + sum(len(c) for c in by_future.values())
                raise _cluster.ClusterLostError(
                    f"sweep: lost the Dask scheduler, or the client was closed ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())}); the runs that finished are "
                    f"stored in {str(st.given)!r}; {left} task(s) had not reported back and no failed run was stored for "
                    "them (a run a worker still finishes is kept). Run the same sweep again with a running scheduler "
                    "and client: stored runs are skipped, the rest run") from exc
            got = _lost(chunk, st, exc, durable)
        fut.release()
        return got

    ac = as_completed(list(by_future))
    if task_timeout is None:
        for fut in ac:
            yield rows(fut)
        return
    watch = _watch.Watchdog(client, task_timeout)
    while by_future:
        done = [f for f in ac.next_batch(block=False) if f in by_future]
        for fut in done:
            yield rows(fut)
        for fut, worker in watch.overdue(list(by_future)):
            if fut.done():             # it ended between the two looks: its own result counts
                continue
            watch.stop(fut, worker)    # returns once the worker process is restarted
            chunk = by_future.pop(fut)
            fut.release()
            yield _lost(chunk, st, watch.error(), durable, look=True)
        if not done:
            time.sleep(watch.poll)


__all__ = ["sweep", "SweepTable"]
