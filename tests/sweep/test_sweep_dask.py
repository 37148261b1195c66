"""Sweeps on real Dask clusters: a LocalCluster of worker processes, a separately started scheduler and
worker reached through DASK_SCHEDULER_ADDRESS, a worker and the client killed with SIGKILL mid-sweep."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

import solvers  # noqa: E402
from solvers.sweep import ClusterError, Task, load_spec, sweep, tasks_from_spec  # noqa: E402

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ENV = {"NEWTONKIT_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")])}
OT_SPEC = {"factory": "problems.ot:random_point_clouds", "method": "sns", "backend": "numpy", "seeds": [0, 1],
           "grid": {"n": [20], "eps": [0.05, -1.0]}, "options": {"tol": 1e-9}}


@pytest.fixture(scope="module")
def client():
    import dask
    from distributed import Client, LocalCluster

    # workers are spawned with this process's sys.path (pytest put tests/sweep on it: nk_sweep_factories);
    # a task that killed its worker is tried once more elsewhere, then given up (KilledWorker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"NEWTONKIT_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as lc, Client(lc) as c:
            yield c


def _run_files(store):
    return sorted(Path(store).glob("*.h5"))


def _stored_keys(store) -> dict:
    """{sweep key: [run ids]} of the runs in a store, read from their tags."""
    out = {}
    for r in solvers.RunStore(store, mode="r").list():
        out.setdefault(r["tags"]["sweep_key"], []).append(r["run_id"])
    return out


def _dead(pid) -> bool:
    """The process is gone, or a zombie its parent has not reaped yet."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _slow_tasks(count, delay):
    return [Task("nk_sweep_factories:slow_ot", {"n": 20, "eps": 0.05, "delay": delay}, seed=s, method="sns",
                 backend="numpy") for s in range(count)]


def test_sweep_stores_every_task_failures_included_and_resumes(client, tmp_path):
    tasks = tasks_from_spec(OT_SPEC) + [
        Task("nk_sweep_factories:poisson", {"n": 16}, method="cg", options={"precond": p, "rtol": 1e-10},
             backend="numpy") for p in ("mg", "jacobi")]
    table = solvers.sweep(tasks, store=tmp_path, client=client)     # the package is callable: solvers.sweep(...)
    assert [r["key"] for r in table] == [t.key for t in tasks]
    assert (table.ran, table.skipped, table.errors) == (6, 0, 2)
    worker_pids = set(client.run(os.getpid).values())
    assert {r["pid"] for r in table} <= worker_pids                      # solved on the workers
    by_seed = {(r["params"]["eps"], r["seed"]): r for r in table if r["factory"].startswith("problems.ot")}
    # a failing task is stored as a failed run with its traceback; the others complete
    for seed in (0, 1):
        bad = by_seed[(-1.0, seed)]
        assert bad["status"] == "error" and not bad["converged"] and bad["error"].startswith("ValueError")
        run = solvers.RunStore(bad["file"], mode="r")
        stored = run.load(run.run_ids()[0])
        assert "Traceback" in stored.extras["traceback"] and "eps" in stored.extras["traceback"]
    # equal parameters, different seeds: both ran, different problems, different solutions
    a, b = by_seed[(0.05, 0)], by_seed[(0.05, 1)]
    assert a["status"] == b["status"] == "converged" and a["key"] != b["key"] and a["file"] != b["file"]
    xa, xb = (solvers.RunStore(r["file"], mode="r") for r in (a, b))
    ca, cb = xa.load(xa.run_ids()[0]).extras["cost"], xb.load(xb.run_ids()[0]).extras["cost"]
    assert ca != cb
    from problems.ot import random_point_clouds   # the stored cost is that of the seeded problem

    ref = solvers.solve(random_point_clouds(20, 0.05, seed=1), method="sns", tol=1e-9, backend="numpy")
    np.testing.assert_allclose(cb, ref.extras["cost"], rtol=1e-12)
    for r in table[4:]:
        assert r["status"] == "converged" and r["method"] == f"cg+{r['options']['precond']}"
    assert len(_run_files(tmp_path)) == 6 and {k: len(v) for k, v in _stored_keys(tmp_path).items()} == {
        t.key: 1 for t in tasks}
    # resume: nothing runs again; the same run ids come back
    again = sweep(tasks, store=tmp_path, client=client)
    assert (again.ran, again.skipped) == (0, 6)
    assert [r["run_id"] for r in again] == [r["run_id"] for r in table]
    # retry_failed reruns exactly the failed tasks; a new task runs alone
    retried = sweep(tasks, store=tmp_path, client=client, retry_failed=True)
    assert retried.ran == 2 and {r["key"] for r in retried if r["source"] == "ran"} == {
        by_seed[(-1.0, 0)]["key"], by_seed[(-1.0, 1)]["key"]}
    extra = Task("problems.ot:random_point_clouds", {"n": 20, "eps": 0.05}, seed=2, method="sns", backend="numpy")
    more = sweep(tasks + [extra], store=tmp_path, client=client)
    assert (more.ran, more.skipped) == (1, 6) and more[-1]["key"] == extra.key
    assert len(_run_files(tmp_path)) == 9           # 6 + the 2 failed ones again + 1 new
    try:
        import pandas  # noqa: F401
    except ImportError:                                # optional: without it to_frame says what to install
        with pytest.raises(ImportError, match="pip install pandas"):
            more.to_frame()
    else:
        frame = more.to_frame()
        assert list(frame["key"]) == [t.key for t in tasks + [extra]] and "eps" in frame and "opt_precond" in frame


def test_worker_killed_mid_sweep_loses_no_run(client, tmp_path):
    tasks = _slow_tasks(10, 0.25)
    pids = sorted(client.run(os.getpid).values())
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("table", sweep(tasks, store=tmp_path, client=client)))
    th.start()
    deadline = time.monotonic() + 60
    while len(_run_files(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert th.is_alive(), "the sweep finished before the worker could be killed"
    os.kill(pids[0], signal.SIGKILL)        # both workers are busy: this one dies in the middle of a task
    th.join(120)
    table = out["table"]
    assert (table.ran, table.errors) == (10, 0) and all(r["status"] == "converged" for r in table)
    assert set(_stored_keys(tmp_path)) == {t.key for t in tasks}
    assert _dead(pids[0]) and len({r["pid"] for r in table}) >= 2
    client.wait_for_workers(2, timeout=60)   # the nanny restarted it; the fixture stays usable


def test_a_task_that_kills_every_worker_is_stored_as_an_error(client, tmp_path):
    tasks = [Task("nk_sweep_factories:crash", {"n": 1}, method="sns", backend="numpy")] + _slow_tasks(2, 0.0)
    table = sweep(tasks, store=tmp_path, client=client)
    assert table[0]["status"] == "error" and "KilledWorker" in table[0]["error"]
    store = solvers.RunStore(tmp_path, mode="r")
    lost = store.load(table[0]["run_id"])
    assert not lost.converged and "KilledWorker" in lost.extras["traceback"] and lost.tags["sweep_status"] == "error"
    # a task queued on the same worker may die with it (Dask counts it too): stored as an error, and
    # retry_failed runs it again
    for r in table[1:]:
        assert r["status"] == "converged" or "KilledWorker" in r["error"]
    client.wait_for_workers(2, timeout=60)
    again = sweep(tasks[1:], store=tmp_path, client=client, retry_failed=True)
    assert [r["status"] for r in again] == ["converged", "converged"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(15)


def test_separately_started_scheduler_and_worker_through_the_environment(tmp_path, monkeypatch):
    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip("the dask command line is not installed beside this Python")
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, **ENV}
    log = open(tmp_path / "dask.log", "w")
    sched = subprocess.Popen([str(dask_cli), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                              "--no-dashboard"], env=env, stdout=log, stderr=log, start_new_session=True)
    worker = None
    try:
        worker = subprocess.Popen([str(dask_cli), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                   "--no-dashboard", "--name", "external"], env=env, stdout=log, stderr=log,
                                  cwd=tmp_path, start_new_session=True)
        with Client(address, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
            worker_pids = set(c.run(os.getpid).values())
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
        tasks = _slow_tasks(3, 0.0) + [Task("nk_sweep_factories:poisson", {"n": 16}, method="cg",
                                            options={"precond": "mg"}, backend="numpy")]
        table = sweep(tasks, store=tmp_path / "runs")
        assert (table.ran, table.errors) == (4, 0)
        assert {r["pid"] for r in table} <= worker_pids        # the external worker ran them
        assert worker.poll() is None and sched.poll() is None  # attached to, not started or stopped
    finally:
        for p in (worker, sched):
            if p is not None:
                _stop(p)
        log.close()


def test_tls_scheduler_with_the_certificates_of_the_dask_config(tmp_path):
    import shutil

    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    c, k = str(cert), str(key)
    sec = Security(tls_ca_file=c, tls_scheduler_cert=c, tls_scheduler_key=k, tls_worker_cert=c, tls_worker_key=k,
                   tls_client_cert=c, tls_client_key=k, require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tls", security=sec,
                      host="127.0.0.1", dashboard_address=None, env={"NEWTONKIT_NUM_THREADS": "1"}) as lc:
        address = lc.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        tasks = _slow_tasks(2, 0.0)
        with dask.config.set({"distributed.comm.tls.ca-file": c, "distributed.comm.tls.client.cert": c,
                              "distributed.comm.tls.client.key": k}):
            table = sweep(tasks, store=tmp_path / "runs", scheduler=address)
        assert (table.ran, table.errors) == (2, 0)
        with dask.config.set({"distributed.comm.tls.ca-file": None}):   # no certificates configured: refused
            with pytest.raises(ClusterError, match="ca-file"):
                sweep(_slow_tasks(3, 0.0), store=tmp_path / "runs", scheduler=address)


CLIENT = textwrap.dedent("""
    import argparse, sys
    from solvers import cli
    if "sweep" in cli.COMMANDS:
        sys.exit(cli.main(["sweep", *sys.argv[1:]]))
    from solvers.cli import sweep as command
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["sweep", *sys.argv[1:]])
    sys.exit(args.func(args))
""")


def test_client_killed_mid_sweep_then_resume_runs_only_the_missing_tasks(client, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent("""
        name = "kill-test"
        factory = "nk_sweep_factories:slow_ot"
        method = "sns"
        backend = "numpy"
        seeds = [0, 1, 2, 3, 4, 5, 6, 7]
        [params]
        n = 20
        eps = 0.05
        delay = 0.3
    """))
    store = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(spec), "--store", str(store), "--workers", "1",
                             "--no-progress"], env={**os.environ, **ENV}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while len(_run_files(store)) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    gone, alive = psutil.wait_procs(family, timeout=30)      # its workers notice and exit
    for p in alive:   # pragma: no cover - never seen; do not leave processes behind
        p.kill()
    assert not alive
    before = _stored_keys(store)
    assert 3 <= len(before) < 8 and all(len(v) == 1 for v in before.values())
    table = sweep(spec, store=store, client=client)
    assert table.skipped == len(before) and table.ran == 8 - len(before) and table.errors == 0
    assert {r["key"] for r in table if r["source"] == "stored"} == set(before)
    after = _stored_keys(store)
    assert len(after) == 8 and all(after[k] == ids for k, ids in before.items())   # no completed run lost
    assert len(_run_files(store)) == 8         # and none ran twice



def _cli_runner(spec_path, text, *fixed):
    """``run(*argv)``: the ``newtonkit sweep`` command on the spec ``text`` written to ``spec_path``."""
    import argparse

    from solvers.cli import sweep as command

    spec_path.write_text(text)
    parser = argparse.ArgumentParser()
    command.add_parser(parser.add_subparsers())

    def run(*argv):
        args = parser.parse_args(["sweep", str(spec_path), *fixed, *argv])
        return args.func(args)

    return run


def test_cli_dry_run_and_table(client, tmp_path, capsys):
    spec = tmp_path / "s.toml"
    run = _cli_runner(spec, 'factory = "problems.ot:random_point_clouds"\nmethod = "sns"\nbackend = "numpy"\n'
                            'seeds = [0, 1]\n[grid]\nn = [20]\neps = [0.05, -1.0]\n')

    assert run("--dry-run") == 0
    out = capsys.readouterr().out
    keys = [t.key for t in tasks_from_spec(load_spec(spec))]
    assert all(k in out for k in keys) and "4 tasks" in out and not (tmp_path / "runs").exists()
    code = run("--store", str(tmp_path / "runs"), "--scheduler", client.scheduler.address, "--no-progress")
    cap = capsys.readouterr()
    assert code == 1 and "4 tasks: 4 ran, 0 already stored, 2 errors" in cap.out and "ValueError" in cap.err
    assert run("--store", str(tmp_path / "runs"), "--scheduler", client.scheduler.address, "--json") == 1
    rows = json.loads(capsys.readouterr().out)
    assert [r["source"] for r in rows] == ["stored"] * 4 and len(_run_files(tmp_path / "runs")) == 4


def test_batched_sweep_stores_each_run_once_against_direct_solves(client, tmp_path):
    """Runs batched several to a Dask task (batch=3 over 7 tasks, one of them failing) are stored one file per run
    with their own keys, in task order, each OT cost equal to a direct solve in this process; the automatic size
    follows batch_size, and a bad batch is refused before the store is touched."""
    from problems import ot

    from solvers.sweep._driver import batch_size

    tasks = [Task("problems.ot:random_point_clouds", {"n": 20, "eps": 0.05}, seed=s, method="sns", backend="numpy",
                  options={"tol": 1e-9}) for s in range(6)]
    tasks.append(Task("problems.ot:random_point_clouds", {"n": 20, "eps": -1.0}, seed=0, method="sns",
                      backend="numpy"))
    table = sweep(tasks, store=tmp_path, client=client, batch=3)
    assert [r["key"] for r in table] == [t.key for t in tasks]
    assert (table.ran, table.errors) == (7, 1)
    assert len(_run_files(tmp_path)) == 7 and all(len(v) == 1 for v in _stored_keys(tmp_path).values())
    with solvers.RunStore(tmp_path, mode="r") as s:
        for r, t in zip(table[:6], tasks[:6]):
            ref = solvers.sns(ot.random_point_clouds(20, 0.05, seed=t.seed), tol=1e-9, backend="numpy")
            np.testing.assert_allclose(s.load(r["run_id"]).extras["cost"], ref.extras["cost"], rtol=1e-10)
    assert (batch_size(200, 2, None), batch_size(10, 2, None), batch_size(10_000, 2, None), batch_size(5, 2, 4)) == \
        (12, 1, 16, 4)
    with pytest.raises(ValueError, match="batch"):
        sweep(tasks, store=tmp_path / "other", client=client, batch=0)
    assert not (tmp_path / "other").exists()


def test_cli_counts_runs_that_did_not_converge_and_require_converged(client, tmp_path, capsys):
    """A run stored unconverged is data (exit 0), counted in the summary; --require-converged makes it exit 1."""
    run = _cli_runner(tmp_path / "s.toml",
                      'factory = "problems.ot:random_point_clouds"\nmethod = "sinkhorn"\nbackend = "numpy"\n'
                      'seeds = [0]\n[grid]\nn = [20]\neps = [0.05]\n[option_grid]\nmaxiter = [1, 5000]\n',
                      "--store", str(tmp_path / "runs"), "--scheduler", client.scheduler.address, "--no-progress")

    assert run() == 0
    out = capsys.readouterr().out
    assert "2 tasks: 2 ran, 0 already stored, 0 errors, 1 not converged" in out
    assert run("--require-converged") == 1
    cap = capsys.readouterr()
    assert "1 not converged" in cap.out and "1 of 2 runs did not converge" in cap.err


def test_retry_failed_reruns_a_stored_run_whose_data_is_damaged(client, tmp_path):
    """A stored run whose x no longer matches its digest (one flipped byte) counted as stored and converged,
    even with retry_failed; now retry_failed verifies the stored runs and reruns that task."""
    import h5py

    tasks = [Task("problems.ot:random_point_clouds", {"n": 20, "eps": 0.1}, seed=s, method="sinkhorn",
                  backend="numpy") for s in (0, 1)]
    table = solvers.sweep(tasks, store=tmp_path, client=client)
    assert table.ran == 2 and table.errors == 0
    victim = table[0]
    with h5py.File(victim["file"], "r") as f:
        ds = f["runs"][victim["run_id"]]["x"]
        offset = ds.id.get_offset() if ds.chunks is None else ds.id.get_chunk_info(0).byte_offset
    assert offset is not None
    with open(victim["file"], "r+b") as fh:
        fh.seek(offset + 3)
        b = fh.read(1)
        fh.seek(offset + 3)
        fh.write(bytes([b[0] ^ 0xFF]))
    again = solvers.sweep(tasks, store=tmp_path, client=client)
    assert again.ran == 0                                         # a plain resume does not read the runs
    retried = solvers.sweep(tasks, store=tmp_path, client=client, retry_failed=True)
    assert retried.ran == 1 and [r["source"] for r in retried] == ["ran", "stored"]
    assert retried[0]["status"] == "converged"
    with solvers.RunStore(tmp_path, "r") as st:                   # the new run reads back intact
        assert st.verify()[retried[0]["run_id"]] == "ok"
