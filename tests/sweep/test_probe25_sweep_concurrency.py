"""Concurrency probe (session 25): a task that kills its worker must not take an innocent task with it.

Dask's default ``distributed.scheduler.worker-saturation`` (1.1) rounds up to two tasks per single-threaded
worker: one running, one queued on the worker. When the running task kills the process (``os._exit``, a
segfault, the OOM killer), Dask counts every task the worker held as suspicious, so after ``allowed-failures``
deaths the task queued behind the crashing one was stored as failed (``KilledWorker``) too. Seen with a spec
of 10 tiny tasks on 2 workers: the crashing case 7 and the innocent case 9 both failed, every time. A sweep's
own LocalCluster now hands a worker a task only when it has a free thread.
"""
import dask
import pytest

pytest.importorskip("distributed")

import solvers  # noqa: E402
from solvers.sweep import Task, _cluster, sweep  # noqa: E402


def test_own_cluster_queues_no_task_on_a_busy_worker_and_leaves_the_config_alone():
    import distributed  # noqa: F401 - its defaults loaded

    before = dask.config.get("distributed.scheduler.worker-saturation")
    c = _cluster.local_cluster(1, 1)
    try:
        assert c.scheduler.WORKER_SATURATION == 1.0
    finally:
        c.close()
    assert dask.config.get("distributed.scheduler.worker-saturation") == before
    assert dask.config.get("distributed.scheduler.allowed-failures") is not None   # Dask's defaults intact
    with dask.config.set({"distributed.scheduler.worker-saturation": 0.5}):       # a stricter choice is kept
        c = _cluster.local_cluster(1, 1)
        try:
            assert c.scheduler.WORKER_SATURATION == 0.5
        finally:
            c.close()


@pytest.mark.slow
def test_a_worker_killed_by_one_task_fails_only_that_task(tmp_path):
    # one single-threaded worker: the crashing task runs first, the innocent one waits behind it
    tasks = [Task("nk_sweep_factories:crash", {"n": 1}, method="cg", backend="numpy"),
             Task("nk_sweep_factories:poisson", {"n": 6}, method="cg", backend="numpy")]
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        table = sweep(tasks, store=tmp_path, n_workers=1, threads=1, batch=1, progress=False)
    assert table[0]["status"] == "error" and "KilledWorker" in table[0]["error"]
    assert table[1]["status"] == "converged", table[1]["error"]
    with solvers.RunStore(tmp_path, mode="r") as st:
        assert set(st.verify().values()) == {"ok"}
