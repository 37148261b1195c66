"""Per-run time limits of a sweep (``sweep(..., task_timeout=T)``).

A solve running on a Dask worker cannot be interrupted from outside: a Python thread has no safe
kill, and Numba kernels do not look at signals. So the client watches instead. Every
:attr:`Watchdog.poll` seconds it asks the scheduler which keys each worker is processing
(:meth:`distributed.Client.processing`); a run assigned to a worker for longer than ``T`` is a
candidate, and that worker is asked how long the run has really been executing
(:func:`solvers.sweep._worker.running_for`: the scheduler also counts runs queued on a worker behind
the one executing -- a run that waited behind a stopped one was stopped too before this check). A
run executing for longer than ``T`` has its future cancelled and its worker process restarted
(:meth:`distributed.Client.restart_workers`; the nanny starts a fresh one), and is stored as a
failed run whose error says so; a rerun skips it unless ``retry_failed``. Queueing does not count,
and a run may overrun by about one poll. Other runs on a restarted worker (a worker with several
threads) are rescheduled by Dask as after any worker loss. A worker without a nanny cannot be
restarted, so a sweep with ``task_timeout`` refuses such workers before it submits anything
(:func:`require_nannies`): on threads (``LocalCluster(processes=False)``) a stopped run kept its thread, the
sweep waited forever for the runs queued behind it, and a stopped run that finished later was stored after all
(helper-131).
"""
from __future__ import annotations

import math
import time


def check_timeout(task_timeout):
    """``task_timeout`` as a float of seconds (> 0, finite), or None."""
    if task_timeout is None:
        return None
    if isinstance(task_timeout, bool) or not isinstance(task_timeout, (int, float)):
        raise TypeError(f"task_timeout must be a number of seconds or None, got {type(task_timeout).__name__}")
    if not (math.isfinite(task_timeout) and task_timeout > 0):
        raise ValueError(f"task_timeout must be a positive, finite number of seconds, got {task_timeout!r}")
    return float(task_timeout)


def require_nannies(client) -> None:
    """Refuse workers without a nanny (a ValueError naming them): a run there cannot be stopped (module notes)."""
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # noqa: BLE001 - an old scheduler without the info: the watchdog does what it can
        return
    bare = sorted(a for a, w in workers.items() if isinstance(w, dict) and "nanny" in w and not w["nanny"])
    if bare:
        raise ValueError(f"task_timeout needs Dask workers started by a nanny (worker processes), so that a run "
                         f"past the limit can be stopped by restarting its worker; {len(bare)} of the cluster's "
                         f"{len(workers)} workers have none (e.g. LocalCluster(processes=False), or dask-worker "
                         "--no-nanny): start them with processes / a nanny, or drop task_timeout")


class Watchdog:
    """The running time of each submitted run, seen from the client (see the module notes)."""

    def __init__(self, client, limit_s: float):
        self.client, self.limit = client, float(limit_s)
        self.poll = min(1.0, max(0.05, self.limit / 20))     #: seconds between checks
        self._since = {}                                      # key -> time it was first seen processing

    def overdue(self, futures) -> list:
        """``[(future, worker address)]`` of the runs executing for longer than the limit. The scheduler's
        ``processing`` (cheap) names the candidates: runs assigned to a worker for longer than the limit; it
        also counts runs queued on a worker behind the one executing, so the workers of the candidates are
        asked how long each has really been executing (:func:`solvers.sweep._worker.running_for`)."""
        from ._worker import running_for

        now = time.monotonic()
        where = {}
        for worker, keys in self.client.processing().items():
            for k in keys:
                where[k] = worker
        for k in list(self._since):
            if k not in where:          # finished, or back in the queue after a worker loss: its clock restarts
                del self._since[k]
        cand = [(fut, where[fut.key]) for fut in futures
                if fut.key in where and now - self._since.setdefault(fut.key, now) > self.limit]
        if not cand:
            return []
        try:
            ran = self.client.run(running_for, workers=sorted({w for _, w in cand}), on_error="return")
        except Exception:  # noqa: BLE001 - a worker gone meanwhile: look again at the next poll
            return []
        return [(fut, w) for fut, w in cand
                if isinstance(ran.get(w), dict) and ran[w].get(fut.key, 0.0) > self.limit]

    def stop(self, fut, worker) -> None:
        """Cancel ``fut`` and restart the worker process running it."""
        fut.cancel()
        self._since.pop(fut.key, None)
        try:
            self.client.restart_workers([worker], raise_for_error=False)
        except Exception:  # noqa: BLE001 - no nanny / an old scheduler: the run is given up all the same
            pass

    def error(self) -> TimeoutError:
        return TimeoutError(f"the run took longer than task_timeout={self.limit:g} s and was stopped (its worker "
                            "process was restarted); raise task_timeout, or rerun with retry_failed")
