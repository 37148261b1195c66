"""What a worker does with a task, without a cluster: the run file it writes, failed tasks, the store index."""
import json
import os

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers.sweep import SweepStore, Task, read_run_file, run_task, write_run_file
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
    assert row["key"] == t.key and row["file"] == f"{t.key}.h5" and row["status"] == "converged"
    assert sorted(os.listdir(tmp_path)) == [f"{t.key}.h5"]          # no temporary or lock files left
    run = _only_run(tmp_path / row["file"])
    # reference: a direct sparse solve of the same system
    p = pde.Poisson((16, 16))
    u = spla.spsolve(p.csr().tocsc(), np.asarray(p.rhs("numpy")))
    np.testing.assert_allclose(np.asarray(run.x).ravel(), u, rtol=1e-8, atol=1e-12)
    assert run.run_id == row["run_id"] and run.tags["sweep_key"] == t.key and run.tags["sweep_status"] == "ok"
    assert json.loads(run.tags["sweep_params"]) == {"shape": [16, 16]}
    assert run.problem["problem"] == "Poisson"
    assert read_run_file(tmp_path / row["file"]) == {**row, "wall_s": None, "error": None, "host": None, "pid": None}


def test_ot_task_uses_the_seed_and_matches_pot(tmp_path):
    pot = pytest.importorskip("ot")
    from problems.ot import random_point_clouds

    rows = [run_task(Task(OT, {"n": 20, "eps": 0.05}, seed=s, method="sinkhorn", options={"tol": 1e-11},
                          backend="numpy"), str(tmp_path)) for s in (1, 2)]
    assert rows[0]["key"] != rows[1]["key"]
    for row, seed in zip(rows, (1, 2)):
        run = _only_run(tmp_path / row["file"])
        p = random_point_clouds(20, 0.05, seed=seed)
        C = np.asarray(p.C)
        plan = pot.sinkhorn(np.asarray(p.a), np.asarray(p.b), C, 0.05, method="sinkhorn_log", stopThr=1e-13,
                            numItermax=100000)
        np.testing.assert_allclose(run.extras["cost"], float(np.sum(plan * C)), rtol=1e-7)
        assert run.tags["sweep_seed"] == seed and run.problem.get("seed", seed) == seed
    assert _only_run(tmp_path / rows[0]["file"]).extras["cost"] != _only_run(tmp_path / rows[1]["file"]).extras["cost"]


@pytest.mark.parametrize("params, exc", [({"n": 20, "eps": -1.0}, "ValueError"), ({"n": 20, "nonsense": 1}, "TypeError")])
def test_a_failing_task_is_stored_as_a_failed_run_with_its_traceback(tmp_path, params, exc):
    t = Task(OT, params, seed=0, method="sns", backend="numpy")
    row = run_task(t, str(tmp_path))
    assert row["status"] == "error" and row["converged"] is False and row["error"].startswith(exc)
    run = _only_run(tmp_path / row["file"])
    assert run.status == solvers.Status.FAILED and not run.converged
    assert run.tags["sweep_status"] == "error" and run.tags["sweep_key"] == t.key
    tb = run.extras["traceback"]
    assert tb.startswith("Traceback (most recent call last)") and exc in tb and "random_point_clouds" in tb
    assert exc in run.message and "retry_failed" in run.message


def test_write_run_file_replaces_atomically_and_cleans_up(tmp_path):
    res = solvers.SolveResult(np.arange(3.0), True, "converged", "ok", 2, history={"residual": [1.0, 0.1, 0.01]})
    path = tmp_path / "r.h5"
    first = write_run_file(res, path, tags={"a": 1})
    second = write_run_file(res, path, tags={"a": 2})
    assert first != second and os.listdir(tmp_path) == ["r.h5"]
    assert _only_run(path).tags == {"a": 2}
    with pytest.raises(TypeError):      # a bad tag fails before the final name is touched
        write_run_file(res, path, tags={"a": [1, 2]})
    assert os.listdir(tmp_path) == ["r.h5"] and _only_run(path).tags == {"a": 2}


def test_store_index_adoption_and_torn_lines(tmp_path):
    st = SweepStore(tmp_path / "runs")
    with st:
        rows = [run_task(Task(OT, {"n": 10, "eps": 0.1}, seed=s, method="sns", backend="numpy"), str(st.files))
                for s in range(3)]
        st.append(rows[:1])                       # the client indexed one run, then was killed
        with open(st.index_path, "a") as fh:
            fh.write('{"key": "t123", "trunc')     # a torn last line
        (st.files / ".tmp-tdead-1-ab.h5").write_bytes(b"half a file")
        (st.files / "tdamaged.h5").write_bytes(b"not hdf5")
        stored = st.stored()
        assert sorted(stored) == sorted(r["key"] for r in rows)          # adopted from the files' tags
        assert stored[rows[2]["key"]]["run_id"] == rows[2]["run_id"]
        assert set(st.read_index()) == set(stored)                       # adopted runs are now indexed
    with st:   # a new sweep removes temporary files of dead writers
        assert not list(st.files.glob(".tmp-*"))


def test_one_sweep_per_store(tmp_path):
    a, b = SweepStore(tmp_path), SweepStore(tmp_path)
    with a:
        with pytest.raises(StoreBusyError, match="another sweep"):
            b.acquire()
    with b:
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="directory"):
        SweepStore(tmp_path / "file")
    with pytest.raises(TypeError, match="directory path"):
        SweepStore(3)
