"""Fix from the hostile-input run: a task whose problem cannot be described (``describe()``
raises after a successful solve) is stored as an error run naming the cause; it used to escape
``run_task``, so Dask re-ran the solve (retries) before the driver recorded it as lost."""
import pytest

from solvers.runs.store import RunStore
from solvers.sweep import Task, run_task


def test_describe_failure_is_stored_not_raised(tmp_path):
    d = tmp_path / "runs"
    with RunStore(d):
        pass
    row = run_task(Task("nk_hostile_factories:bad_describe", {"n": 4}, method="cg", backend="numpy"), str(d))
    assert row["status"] == "error" and "describe broke" in row["error"]
    stored = RunStore(d, "r").load(row["run_id"])
    assert "describe broke" in stored.message and not stored.converged


def test_file_system_errors_still_raise_for_dask_retries(tmp_path):
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(OSError):
        run_task(Task("problems.pde:Poisson", {"shape": [4, 4]}, method="cg", backend="numpy"), str(missing))


@pytest.mark.parametrize("address,needle", [("http://localhost:8786", "unknown protocol 'http'"),
                                            ("tcp://127.0.0.1:99999", "port 99999"),
                                            ("tcp://127.0.0.1:0", "port 0")])
def test_scheduler_address_refused_before_connecting(address, needle):
    # an unknown protocol or impossible port reached Dask's connect (and its timeout)
    from solvers.sweep import ClusterError, _cluster

    with pytest.raises(ClusterError, match=needle):
        _cluster.check_arguments(None, address, cluster=None, n_workers=None, threads=None, insecure=False)
    _cluster.check_arguments(None, "tcp://127.0.0.1:8786", cluster=None, n_workers=None, threads=None,
                             insecure=False)    # loopback clear text stays allowed


@pytest.mark.parametrize("factory, needle", [("exits", "SystemExit: 3"), ("interrupts", "KeyboardInterrupt")])
def test_a_task_that_exits_is_stored_with_its_own_cause(tmp_path, factory, needle):
    """Outside probe (session 22): a factory raising SystemExit or KeyboardInterrupt escaped run_task and
    killed its Dask worker: the run was stored as KilledWorker, and other tasks of that worker were rerun
    and stored again (9 runs for 4 tasks). run_task now records it like any task error."""
    import threading

    d = tmp_path / "runs"
    with RunStore(d):
        pass
    task = Task(f"nk_hostile_factories:{factory}", {"n": 4}, method="cg", backend="numpy")
    out = {}
    th = threading.Thread(target=lambda: out.update(row=run_task(task, str(d))))   # as in a Dask worker's thread
    th.start()
    th.join(60)
    row = out["row"]
    assert row["status"] == "error" and needle in row["error"]
    stored = RunStore(d, "r").load(row["run_id"])
    assert needle in stored.message and not stored.converged
    # in the main thread (a user's own loop over run_task) the exit / interrupt is the user's: it propagates
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        run_task(task, str(d))
