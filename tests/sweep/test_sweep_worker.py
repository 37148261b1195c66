"""What a worker does with a task, without a cluster: the run file it writes, failed tasks, the store index."""
import json
import os

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers.sweep import SweepStore, Task, run_task
from solvers.sweep._store import StoreBusyError

OT = "problems.ot:random_point_clouds"


def _only_run(path):
    store = solvers.RunStore(path, mode="r")
    ids = store.run_ids()
    assert len(ids) == 1
    return store.load(ids[0])


def test_poisson_task_stores_the_solution_of_the_linear_system(tmp_path):
    from problems import pde

    t = Task("problems.pde:Poisson", {"shape": [16, 16]}, method="cg", options={"precond": "mg", "rtol": 1e-10},
             backend="numpy")
    row = run_task(t, str(tmp_path))
    assert row["key"] == t.key and row["status"] == "converged"
    assert os.listdir(tmp_path) == [f"{row['run_id']}.h5"] and row["file"] == str(tmp_path / os.listdir(tmp_path)[0])
    run = _only_run(row["file"])
    # reference: a direct sparse solve of the same system
    p = pde.Poisson((16, 16))
    u = spla.spsolve(p.csr().tocsc(), np.asarray(p.rhs("numpy")))
    np.testing.assert_allclose(np.asarray(run.x).ravel(), u, rtol=1e-8, atol=1e-12)
    assert run.run_id == row["run_id"] and run.tags["sweep_key"] == t.key and run.tags["sweep_status"] == "ok"
    assert json.loads(run.tags["sweep_params"]) == {"shape": [16, 16]}
    assert run.problem["problem"] == "Poisson"
    from solvers.sweep._worker import from_stored

    listed = from_stored(solvers.RunStore(row["file"], mode="r").list()[0])
    assert row["run"]["run_id"] == row["run_id"] and row["run"]["digest"]      # the run file's own index row
    assert listed == {**{k: v for k, v in row.items() if k != "run"}, "file": None, "wall_s": None, "error": None,
                      "host": None, "pid": None}


def _dense_sinkhorn_cost(C, a, b, eps, iters=20000):
    """Reference: plain log-domain Sinkhorn (scipy logsumexp) until the row marginal error is 1e-15."""
    from scipy.special import logsumexp

    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(iters):
        f = -eps * logsumexp((g[None, :] - C) / eps + np.log(b)[None, :], axis=1)
        g = -eps * logsumexp((f[:, None] - C) / eps + np.log(a)[:, None], axis=0)
        P = a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - C) / eps)
        if np.abs(P.sum(1) - a).sum() < 1e-15:
            break
    else:
        raise AssertionError("the reference Sinkhorn did not converge")
    return float(np.sum(P * C))


def test_ot_task_uses_the_seed_and_matches_a_dense_reference(tmp_path):
    from problems.ot import random_point_clouds

    rows = [run_task(Task(OT, {"n": 20, "eps": 0.05}, seed=s, method="sinkhorn", options={"tol": 1e-11},
                          backend="numpy"), str(tmp_path)) for s in (1, 2)]
    assert rows[0]["key"] != rows[1]["key"]
    for row, seed in zip(rows, (1, 2)):
        run = _only_run(row["file"])
        p = random_point_clouds(20, 0.05, seed=seed)
        C = np.asarray(p.C)
        ref = _dense_sinkhorn_cost(C, np.asarray(p.a, float), np.asarray(p.b, float), 0.05)
        np.testing.assert_allclose(run.extras["cost"], ref, rtol=1e-7)
        assert run.tags["sweep_seed"] == seed and run.problem.get("seed", seed) == seed
    assert _only_run(rows[0]["file"]).extras["cost"] != _only_run(rows[1]["file"]).extras["cost"]


@pytest.mark.parametrize("params, exc", [({"n": 20, "eps": -1.0}, "ValueError"),
                                         ({"n": 20, "nonsense": 1}, "TypeError")])
def test_a_failing_task_is_stored_as_a_failed_run_with_its_traceback(tmp_path, params, exc):
    t = Task(OT, params, seed=0, method="sns", backend="numpy")
    row = run_task(t, str(tmp_path))
    assert row["status"] == "error" and row["converged"] is False and row["error"].startswith(exc)
    run = _only_run(row["file"])
    assert run.status == solvers.Status.FAILED and not run.converged
    assert run.tags["sweep_status"] == "error" and run.tags["sweep_key"] == t.key
    tb = run.extras["traceback"]
    assert tb.startswith("Traceback (most recent call last)") and exc in tb and "random_point_clouds" in tb
    assert exc in run.message and "retry_failed" in run.message


def test_store_finds_runs_by_key_also_unindexed_ones(tmp_path):
    st = SweepStore(tmp_path / "runs")
    with st:
        rows = [run_task(Task(OT, {"n": 10, "eps": 0.1}, seed=s, method="sns", backend="numpy"), str(st.run_dir))
                for s in range(3)]
        st.index(rows[:1])                        # the client indexed one run, then was killed
        other = solvers.SolveResult(np.zeros(2), True, "converged", "by hand", 0)
        st.runs.save(other, tags={"note": "not from a sweep"})
        stored = st.stored()
    assert sorted(stored) == sorted(r["key"] for r in rows)              # found by the key in their tags
    assert {k: v["run_id"] for k, v in stored.items()} == {r["key"]: r["run_id"] for r in rows}
    with st:   # a rerun of a key: the latest run stands for the task
        again = run_task(Task(OT, {"n": 10, "eps": 0.1}, seed=0, method="sns", backend="numpy"), str(st.run_dir))
        st.index([again])
        assert st.stored()[again["key"]]["run_id"] == again["run_id"]
        assert len(st.runs) == 5


def test_single_file_store(tmp_path):
    st = SweepStore(tmp_path / "all.h5")
    with st:
        row = run_task(Task(OT, {"n": 10, "eps": 0.1}, seed=1, method="sns", backend="numpy"), str(st.run_dir))
        st.index([row])
    store = solvers.RunStore(tmp_path / "all.h5", mode="r")
    assert store.run_ids() == [row["run_id"]] and store.list()[0]["tags"]["sweep_key"] == row["key"]
    assert not (tmp_path / "all.h5.d").exists() or not list((tmp_path / "all.h5.d").glob("*.h5"))  # compacted


def test_one_sweep_per_store(tmp_path):
    a, b = SweepStore(tmp_path / "r"), SweepStore(tmp_path / "r")
    with a:
        with pytest.raises(StoreBusyError, match="another sweep"):
            b.acquire()
    with b:
        pass
    with pytest.raises(TypeError, match="a directory"):
        SweepStore(3)


def test_a_sweep_whose_runs_are_all_stored_starts_no_cluster(tmp_path):
    pytest.importorskip("distributed")
    from solvers.sweep import sweep

    tasks = [Task(OT, {"n": 10, "eps": 0.1}, seed=s, method="sns", backend="numpy") for s in range(2)]
    with SweepStore(tmp_path) as st:
        st.index([run_task(t, str(st.run_dir)) for t in tasks])
    # nothing listens on port 9 of this machine: a connection attempt would fail; none is made
    table = sweep(tasks, store=tmp_path, scheduler="tcp://127.0.0.1:9")
    assert (table.ran, table.skipped) == (0, 2) and [r["key"] for r in table] == [t.key for t in tasks]
    # stored rows list their parameters in the spec's order, as ran rows do (they came back key-sorted)
    assert all(list(r["params"]) == ["n", "eps"] for r in table)
    from solvers.sweep import ClusterError

    # a refused address fails before the store is touched, stored runs or not
    with pytest.raises(ClusterError, match="clear text"):
        sweep(tasks, store=tmp_path / "new", scheduler="tcp://10.9.9.9:8786")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(store=3), TypeError, "a directory"),
    (dict(store="s", retries=-1), ValueError, "retries"),
    (dict(store="s", retries=True), ValueError, "retries"),
    (dict(store="s", progress="yes"), TypeError, "progress"),
    (dict(store="s", n_workers=0), ValueError, "n_workers"),
    (dict(store="s", threads=-2), ValueError, "threads"),
    (dict(store="s", cluster="slurm"), ValueError, "cluster must be"),
    (dict(store="s", scheduler=8786), TypeError, "address string"),
])
def test_bad_sweep_arguments_fail_before_anything_runs(tmp_path, kwargs, exc, match):
    from solvers.sweep import sweep

    if kwargs.get("store") == "s":
        kwargs["store"] = tmp_path / "s"
    with pytest.raises(exc, match=match):
        sweep([Task(OT, {"n": 10, "eps": 0.1}, seed=1)], **kwargs)
    assert not (tmp_path / "s").exists()
    with pytest.raises(TypeError, match="iterable of Task"):
        sweep(42, store=tmp_path / "s")


def test_progress_lines_without_tqdm(monkeypatch, capsys):
    import sys

    from solvers.sweep._driver import _Progress

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)        # as if tqdm were not installed
    bar = _Progress(20, True)
    for i in range(20):
        bar.update({"status": "error" if i == 3 else "converged"})
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "sweep: 1/20 runs (0 errors)" and lines[-1] == "sweep: 20/20 runs (1 errors)"
    assert len(lines) <= 11
    quiet = _Progress(20, None)            # auto: stderr is not a terminal under pytest
    quiet.update({"status": "converged"})
    assert capsys.readouterr().err == "" and not quiet.on


def test_index_finds_files_by_name_and_warns_about_invisible_ones(tmp_path):
    with SweepStore(tmp_path / "r") as st:
        row = run_task(Task(OT, {"n": 10, "eps": 0.1}, seed=1, method="sns", backend="numpy"), str(st.run_dir))
        elsewhere = {**row, "file": "/mnt/other-host/runs/" + os.path.basename(row["file"])}
        st.index([elsewhere])                     # the same file under another mount point: found by name
        assert [r["run_id"] for r in st.runs.list()] == [row["run_id"]]
        with pytest.warns(RuntimeWarning, match="not visible here"):
            st.index([{**row, "file": "/mnt/other-host/runs/20990101T000000000000Z-abcdef.h5"}])


@pytest.mark.parametrize("params", [{"n": 8, "label": "a\x00b"}, {"n": 8, "a=b": 1}, {"n": 8, "big": 2 ** 70}])
def test_a_parameter_no_tag_can_hold_does_not_abort_the_task(tmp_path, params):
    """helper-98: every parameter was copied into a param_<k> tag, whose refusal made the write fail after the solve
    and aborted the whole sweep; such parameters are kept in sweep_params only."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        t = Task("nk_hostile_factories:labelled", params, method="cg", backend="numpy", options={"rtol": 1e-10})
        row = run_task(t, str(tmp_path))
    finally:
        sys.path.pop(0)
    assert row["status"] == "converged"
    run = _only_run(row["file"])
    assert json.loads(run.tags["sweep_params"]) == params and run.tags["param_n"] == 8
    assert not [k for k in run.tags if k.startswith("param_") and k != "param_n"]


def test_a_resumed_failed_task_says_why(tmp_path):
    """helper-98: a resumed sweep reported a stored failure with error None (the reason was only in the run)."""
    from solvers.sweep._worker import from_stored

    t = Task(OT, {"n": 10, "eps": -1.0}, seed=0, method="sns", backend="numpy")
    row = run_task(t, str(tmp_path))
    assert row["status"] == "error" and row["error"].startswith("ValueError")
    listed = solvers.RunStore(tmp_path, mode="r").list()
    again = from_stored(listed[0])
    assert again["status"] == "error" and again["error"] == row["error"]


def test_a_task_name_with_nul_is_refused_up_front():
    with pytest.raises(ValueError, match="NUL"):
        Task(OT, {"n": 10, "eps": 0.1}, name="a\x00b")


def test_sweep_arguments_are_checked_like_run_stores(tmp_path):
    """helper-98: durable='no' acted as True, file_locking='off' turned locking on, store='' made the current
    directory a store, and backend 'NUMPY' / 'numpy' were two tasks of one solve."""
    t = Task(OT, {"n": 10, "eps": 0.1}, method="sns", backend="NUMPY")
    assert t.backend == "numpy" and t.key == Task(OT, {"n": 10, "eps": 0.1}, method="sns", backend="numpy").key
    with pytest.raises(TypeError, match="durable"):
        solvers.sweep([t], store=tmp_path / "s", durable="no")
    with pytest.raises(TypeError, match="file_locking"):
        solvers.sweep([t], store=tmp_path / "s", file_locking="off")
    with pytest.raises(ValueError, match="empty"):
        solvers.sweep([t], store="")
    assert not (tmp_path / "s").exists()
