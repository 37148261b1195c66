"""``sweep(..., task_timeout=T)``: a run that outlives its limit is stopped (worker restarted) and stored as a
failed run; the others complete and a rerun skips it."""
import math
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import solvers  # noqa: E402
from solvers.sweep import Task, sweep  # noqa: E402

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={"NEWTONKIT_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as lc, Client(lc) as c:
        yield c


def _tasks(sleep_s):
    fast = [Task("nk_sweep_factories:poisson", {"n": n}, method="cg", backend="numpy", options={"precond": "mg"})
            for n in (8, 12)]
    slow = Task("nk_sweep_factories:sleepy_poisson", {"n": 8, "seconds": sleep_s}, method="cg", backend="numpy")
    return [fast[0], slow, fast[1]]


def test_a_run_over_its_limit_is_stopped_and_stored_as_failed(client, tmp_path):
    tasks = _tasks(600.0)                 # one worker: the third run waits behind the sleeper
    t0 = time.monotonic()
    table = sweep(tasks, store=tmp_path, client=client, task_timeout=4.0)
    took = time.monotonic() - t0
    assert took < 90, f"the sweep waited for the 600 s run ({took:.0f} s)"
    by = {r["key"]: r for r in table}
    bad = by[tasks[1].key]
    assert bad["status"] == "error" and not bad["converged"]
    assert bad["error"].startswith("TimeoutError") and "task_timeout=4 s" in bad["error"]
    for t in (tasks[0], tasks[2]):     # before and after the stopped run (on the restarted worker)
        assert by[t.key]["status"] == "converged"
    stored = solvers.RunStore(str(tmp_path), mode="r")
    assert len(stored.list()) == 3 and all(v == "ok" for v in stored.verify().values())
    again = sweep(tasks, store=tmp_path, client=client, task_timeout=4.0)   # resume: the failed run is not redone
    assert (again.ran, again.skipped) == (0, 3)
    client.wait_for_workers(1, timeout=60)


def test_a_run_just_past_its_limit_leaves_one_record(client, tmp_path):
    """helper-140: a run a little past the limit finished while its worker was being restarted (the restart lets
    the worker close) and stored its result, and the watchdog then stored an error for the same task: two records,
    the later (error) hiding the result. Now exactly one record per task, and the table says what it holds."""
    tasks = _tasks(2.6)
    table = sweep(tasks, store=tmp_path, client=client, task_timeout=2.0)
    rows = solvers.RunStore(str(tmp_path), mode="r").list()
    keys = [r["tags"]["sweep_key"] for r in rows]
    assert sorted(keys) == sorted(t.key for t in tasks), keys
    slow = [r for r in rows if r["tags"]["sweep_key"] == tasks[1].key][0]
    row = {r["key"]: r for r in table}[tasks[1].key]
    assert (row["status"] == "error") == (slow["tags"].get("sweep_status") == "error")
    client.wait_for_workers(1, timeout=60)


def test_runs_within_the_limit_are_untouched(client, tmp_path):
    tasks = _tasks(0.2)
    table = sweep(tasks, store=tmp_path, client=client, task_timeout=30)
    assert (table.ran, table.errors) == (3, 0) and all(r["status"] == "converged" for r in table)


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1.0, ValueError), (math.nan, ValueError),
                                      (math.inf, ValueError), (True, TypeError), ("10", TypeError)])
def test_task_timeout_checked_before_anything_runs(tmp_path, bad, exc):
    with pytest.raises(exc, match="task_timeout"):
        sweep(_tasks(0.0), store=tmp_path / "s", task_timeout=bad)
    assert not (tmp_path / "s").exists()


def test_task_timeout_is_per_run(tmp_path):
    with pytest.raises(ValueError, match="batch=1"):
        sweep(_tasks(0.0), store=tmp_path / "s", task_timeout=5, batch=4)


def test_task_timeout_refuses_workers_without_a_nanny(tmp_path):
    # threads of the client's process (helper-131): a stopped run kept its thread, the runs queued behind it never
    # ran and the sweep hung; refused before anything is submitted
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            Client(lc) as c:
        with pytest.raises(ValueError, match="nanny"):
            sweep(_tasks(0.0), store=tmp_path / "s", client=c, task_timeout=5)
        table = sweep(_tasks(0.0), store=tmp_path / "s", client=c)     # without a limit it runs
        assert table.ran == 3 and table.errors == 0
