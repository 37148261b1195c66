"""Fixes from the hostile-input run (tests/hostile/cases_sweep.py): an unreadable run file of a
directory store is named when listing (it used to vanish without a word once the index no
longer listed it), compaction names a sidecar file damaged after it was indexed (it raised
HDF5's bare OSError), ``newtonkit runs compact`` refuses a missing file (it created an empty
store), and ``Task`` refuses params/options that are not dicts."""
import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

import solvers
from solvers import cli
from solvers.runs.store import DamagedStoreError, RunStore
from solvers.sweep import Task


def _res(i):
    return solvers.SolveResult(np.arange(4.0) + i, True, "converged", "ok", 1, history={"residual": np.ones(2)},
                               stats={"time_s": 0.0}, method="cg", backend="numpy", options={})


def _dir_store(tmp_path, k=3):
    d = tmp_path / "runs"
    with RunStore(d) as s:
        ids = [s.save(_res(i)) for i in range(k)]
    return d, ids


@pytest.mark.parametrize("keep", [0, 100])
def test_unreadable_run_file_is_named_when_listing(tmp_path, keep):
    d, ids = _dir_store(tmp_path)
    f = d / f"{ids[1]}.h5"
    f.write_bytes(f.read_bytes()[:keep])
    (d / "index.jsonl").unlink()
    with pytest.warns(RuntimeWarning, match=ids[1]):
        listed = [r["run_id"] for r in RunStore(d, "r").list()]
    assert listed == [ids[0], ids[2]]
    s = RunStore(d, "r")
    assert np.array_equal(s.load(ids[2]).x, _res(2).x)      # the intact runs read back exactly
    with pytest.raises((DamagedStoreError, KeyError), match=ids[1]):
        s.load(ids[1])


def test_intact_store_lists_without_warning(tmp_path, recwarn):
    d, ids = _dir_store(tmp_path)
    assert [r["run_id"] for r in RunStore(d, "r").list()] == ids
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_compaction_names_a_sidecar_file_damaged_after_indexing(tmp_path):
    p = tmp_path / "runs.h5"
    with RunStore(p, compact_on_close=False) as s:
        ids = [s.save(_res(i)) for i in range(2)]
    f = Path(os.fspath(p) + ".d") / f"{ids[1]}.h5"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.raises(DamagedStoreError, match=ids[1]):
        with RunStore(p, compact_on_close=False) as s:
            s.compact()
    # nothing was lost: the intact sidecar run still reads back
    assert np.array_equal(RunStore(p, "r").load(ids[0]).x, _res(0).x)


def test_cli_compact_refuses_a_missing_file(tmp_path):
    target = tmp_path / "typo.h5"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(["runs", "compact", str(target)])
    assert rc == 2 and "typo.h5" in err.getvalue() and "does not exist" in err.getvalue()
    assert not target.exists()


@pytest.mark.parametrize("field,value", [("params", [1, 2]), ("options", "rtol=1e-8"), ("params", None)])
def test_task_refuses_non_dict_params(field, value):
    with pytest.raises(TypeError, match=field):
        Task("problems.pde:Poisson", **{field: value})


def test_task_refuses_an_unknown_backend_up_front():
    # a spec with a misspelt backend used to expand into tasks that all failed on the workers
    from solvers.sweep import tasks_from_spec

    with pytest.raises(ValueError, match="fortran"):
        tasks_from_spec({"factory": "problems.pde:Poisson", "method": "cg", "backend": ["numpy", "fortran"],
                         "grid": {"shape": [[4, 4]]}})
    assert Task("problems.pde:Poisson", {"shape": [4, 4]}, backend="numba").backend == "numba"


def test_cli_approx_refuses_absurd_sample_counts():
    # 10^12 samples reached NumPy's allocator (21.8 TiB) before being refused
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main(["approx", "cloud", "--n", "10", "--samples", str(10 ** 12)])
    assert rc == 2 and "--samples must be at most" in err.getvalue()


@pytest.mark.parametrize("path", ["", "   "])
def test_empty_store_path_refused(path):
    # "" resolved to the current directory (and mode 'a' would have made it a store)
    with pytest.raises(ValueError, match="path is empty"):
        RunStore(path)
