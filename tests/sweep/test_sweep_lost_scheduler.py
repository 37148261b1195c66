"""A sweep whose Dask scheduler dies (kill -9) mid-sweep (helper-147): the tasks still pending were stored as
failed runs ('Client lost the connection to the scheduler'), a rerun skipped them as already stored, and a worker
that finished one afterwards left a duplicate. Now the sweep stops with exit code 2 and one line, stores nothing
for those tasks, and a rerun runs exactly the rest."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

import solvers  # noqa: E402
from solvers.sweep import ClusterLostError  # noqa: E402
from solvers.sweep._cluster import connection_lost  # noqa: E402

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
N_TASKS = 16
SPEC = """factory = "nk_sweep_factories:slow_ot"
method = "sinkhorn"
backend = "numpy"
store = "runs/"
seeds = [%s]
[params]
n = 20
eps = 0.05
delay = 0.5
""" % ", ".join(str(s) for s in range(N_TASKS))


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


def test_connection_loss_is_told_apart_from_a_failed_task():
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    class Running:
        status = "running"

    class Closed:
        status = "closed"

    assert connection_lost(Running(), CancelledError("scheduler-connection-lost"))
    assert connection_lost(Running(), CommClosedError("in <TCP>: Stream is closed"))
    assert connection_lost(Closed(), RuntimeError("anything"))
    assert not connection_lost(Running(), KilledWorker("t", type("W", (), {"address": "tcp://w"})(), 3))          # a task killing its workers: stored
    assert not connection_lost(Running(), ValueError("the task's own error"))


def test_a_killed_scheduler_stores_no_failed_runs_and_a_rerun_resumes(tmp_path):
    dask_cli = Path(sys.executable).with_name("dask")
    exe = Path(sys.executable).with_name("newtonkit")
    if not dask_cli.exists() or not exe.exists():
        pytest.skip("the dask and newtonkit command lines are not installed beside this Python")
    (tmp_path / "sw.toml").write_text(SPEC)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NEWTONKIT_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")
    sched = worker = sweep = None
    try:
        sched = subprocess.Popen([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=env, stdout=log, stderr=log, start_new_session=True)
        worker = subprocess.Popen([str(dask_cli), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard"], env=env, stdout=log, stderr=log, cwd=tmp_path,
                                  start_new_session=True)
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        sweep = subprocess.Popen([str(exe), "sweep", "sw.toml", "--scheduler", address, "--no-progress"],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*.h5")):
            time.sleep(0.2)
            assert sweep.poll() is None, sweep.communicate()[1][-2000:]
        _kill(sched)                                   # kill -9 of the scheduler mid-sweep
        out, err = sweep.communicate(timeout=120)
    finally:
        for p in (sweep, worker, sched):
            _kill(p)
        log.close()
    assert sweep.returncode == 2, err
    line = next((ln for ln in err.splitlines() if "lost the Dask scheduler" in ln), "")
    assert "Run the same sweep again" in line, err                     # one line (Dask's text has a newline)
    assert "Traceback" not in err, err
    with solvers.RunStore(str(tmp_path / "runs") + "/", "r") as st:
        first = st.list()
    assert 1 <= len(first) < N_TASKS
    assert all(r["status"] == "converged" for r in first), [r["status"] for r in first]   # no failed runs

    rerun = subprocess.run([str(exe), "sweep", "sw.toml", "--workers", "1", "--threads-per-worker", "1",
                            "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N_TASKS - len(first)} ran, {len(first)} already stored, 0 errors" in rerun.stdout, rerun.stdout
    with solvers.RunStore(str(tmp_path / "runs") + "/", "r") as st:
        rows = st.list()
    assert len(rows) == N_TASKS and all(r["status"] == "converged" for r in rows)   # one run per task


def test_cluster_lost_error_is_a_cluster_error():
    from solvers.sweep import ClusterError

    assert issubclass(ClusterLostError, ClusterError)


def test_a_scheduler_without_workers_is_named_instead_of_a_silent_wait(tmp_path):
    """helper-147: a sweep attached to a scheduler with no workers waited with no word; now it warns, and runs
    once a worker joins."""
    import threading

    from distributed import Client, LocalCluster

    from solvers.sweep import Task, sweep

    tasks = [Task("nk_sweep_factories:poisson", {"n": 16}, method="cg", backend="numpy")]
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as lc, Client(lc) as c:
        timer = threading.Timer(2.0, lambda: lc.scale(1))
        timer.start()
        try:
            with pytest.warns(RuntimeWarning, match="has no workers yet"):
                table = sweep(tasks, store=tmp_path / "runs", client=c)
        finally:
            timer.cancel()
    assert (table.ran, table.errors) == (1, 0)
