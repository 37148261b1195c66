"""Session 41's store findings (helper-147): each test failed before its fix.

* A compaction (close, compact, merge) checked free space only for the store file's own size, not for the runs it
  copies in: on a full disk HDF5 aborted the process (double free) part-way through the copy.
* A run file written past the process's file-size limit (``ulimit -f``, errno 27) crashed the process (a
  segmentation fault in HDF5's flush).
* ``runs show`` and ``runs plot --metric`` crashed on a 0-d or 2-D history saved by a caller.
"""
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import solvers
from solvers import cli
from solvers.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]


def _result(nbytes=800_000, seed=0):
    r = solvers.cg(np.eye(4), np.ones(4))
    r.extras["big"] = np.random.default_rng(seed).random(nbytes // 8)      # incompressible
    return r


def test_compaction_checks_room_for_the_runs_it_copies_in(tmp_path, monkeypatch):
    import shutil

    p = tmp_path / "exp.h5"
    st = RunStore(p)
    for i in range(3):
        st.save(_result(seed=i))
    side = sum(f.stat().st_size for f in (tmp_path / "exp.h5.d").glob("*.h5"))
    real = shutil.disk_usage
    room = p.stat().st_size + (1 << 20) + 100_000          # the store file and the margin fit, its runs do not

    def usage(path):
        u = real(path)
        return type(u)(u.total, u.total - room, room)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    with pytest.warns(RuntimeWarning, match="no space left on the device"):
        st.close()
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert side > 2_000_000
    with RunStore(p, mode="r") as back:           # nothing lost: the runs wait in the sidecar
        assert len(back.list()) == 3
        assert all(v == "ok" for v in back.verify().values())


def _limited(code: str, limit: int, cwd) -> subprocess.CompletedProcess:
    prog = textwrap.dedent(f"""
        import resource, warnings
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        import numpy as np, solvers
        from solvers.runs import RunStore
        def result(seed):
            r = solvers.cg(np.eye(4), np.ones(4))
            r.extras["big"] = np.random.default_rng(seed).random(100_000)
            return r
    """) + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", prog], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_run_above_the_file_size_limit_is_refused_before_it_is_written(tmp_path):
    out = _limited("""
        st = RunStore("exp/")
        try:
            st.save(result(0))
        except OSError as e:
            print("errno", e.errno, e)
        print("runs", len(RunStore("exp/", mode="r").list()))
    """, 200_000, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]          # was -11 (SIGSEGV in HDF5's flush)
    assert f"errno {errno.EFBIG}" in out.stdout and "file-size limit" in out.stdout, out.stdout
    assert "runs 0" in out.stdout


def test_a_compaction_above_the_file_size_limit_waits_in_the_sidecar(tmp_path):
    out = _limited("""
        st = RunStore("exp.h5")
        for i in range(3):
            st.save(result(i))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            st.close()
        print("warned", [str(x.message)[:400] for x in w])
        with RunStore("exp.h5", mode="r") as back:
            print("runs", len(back.list()), set(back.verify().values()))
    """, 1_500_000, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "file-size limit" in out.stdout and "ulimit -f" in out.stdout, out.stdout
    assert "runs 3 {'ok'}" in out.stdout, out.stdout


@pytest.fixture()
def odd_history_store(tmp_path):
    r = solvers.cg(np.eye(3), np.ones(3))
    r.history["scalar"] = np.float64(3.0)
    r.history["table"] = np.ones((3, 2))
    p = tmp_path / "odd.h5"
    with RunStore(p, mode="w-") as st:
        rid = st.save(r)
    return p, rid


def test_runs_show_describes_a_history_that_is_not_a_series(odd_history_store, capsys):
    p, rid = odd_history_store
    assert cli.main(["runs", "show", str(p), rid]) == 0
    out = capsys.readouterr().out
    assert "scalar: not a 1-D series: array shape=()" in out
    assert "table: not a 1-D series: array shape=(3, 2)" in out
    assert "residual: 2 values" in out


@pytest.mark.parametrize("metric, shape", [("scalar", "()"), ("table", "(3, 2)")])
def test_runs_plot_skips_a_history_that_is_not_a_series(odd_history_store, tmp_path, capsys, metric, shape):
    pytest.importorskip("matplotlib")
    p, _ = odd_history_store
    assert cli.main(["runs", "plot", str(p), "--metric", metric, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert f"history {metric!r} of shape {shape}, not a 1-D series" in err
    assert "internal error" not in err and "ambiguous" not in err


def test_an_array_of_more_dimensions_than_hdf5_holds_is_named(tmp_path):
    r = solvers.cg(np.eye(3), np.ones(3))
    r.extras["deep"] = np.zeros((1,) * 33)
    with RunStore(tmp_path / "runs/", mode="a") as st:
        with pytest.raises(ValueError, match="'deep' is an array of 33 dimensions; HDF5 stores at most 32"):
            st.save(r)
        assert st.list() == []
    assert not [p for p in (tmp_path / "runs").iterdir() if p.suffix == ".h5" or ".tmp" in p.name]


def test_runs_plot_names_a_wrong_by_before_loading(odd_history_store, tmp_path, capsys):
    p, _ = odd_history_store
    assert cli.main(["runs", "plot", str(p), "--by", "tag:", "-o", str(tmp_path / "x.png")]) == 2
    assert "group by one of" in capsys.readouterr().err


def test_many_small_entries_count_toward_the_file_size_limit(tmp_path):
    """3000 small history entries were estimated at their arrays' 72 kB: HDF5 wrote past ulimit -f and the
    process died with a segmentation fault (helper-151)."""
    out = _limited("""
        r = solvers.cg(np.eye(4), np.ones(4))
        for i in range(3000):
            r.history[f"h{i}"] = np.arange(3.0)
        r.extras["listed"] = list(range(20000))
        try:
            RunStore("exp/").save(r)
        except OSError as e:
            print("errno", e.errno)
        print("runs", len(RunStore("exp/", mode="r").list()))
    """, 300_000, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"errno {errno.EFBIG}" in out.stdout and "runs 0" in out.stdout, out.stdout


def test_merges_check_room_for_the_runs_they_add_only(tmp_path):
    """A merge adding nothing into a single-file store was refused as needing both stores' sizes; a merge into a
    directory store was not checked at all (a raw HDF5 errno 27; helper-151)."""
    for name in ("a.h5", "b.h5"):
        with RunStore(tmp_path / name) as st:
            st.save(_result(seed=0))
    import shutil

    shutil.copy(tmp_path / "a.h5", tmp_path / "same.h5")
    (tmp_path / "d").mkdir()
    with RunStore(str(tmp_path / "d") + "/") as st:
        st.save(solvers.cg(np.eye(2), np.ones(2)))
    out = _limited("""
        st = RunStore("a.h5", compact_on_close=False)
        print("added", st.merge(["same.h5"]))
    """, 1_200_000, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "added []" in out.stdout, out.stdout
    out = _limited("""
        try:
            RunStore("d/").merge(["b.h5"])
        except OSError as e:
            print("errno", e.errno)
        print("dir runs", len(RunStore("d/", mode="r").list()))
    """, 500_000, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"errno {errno.EFBIG}" in out.stdout and "dir runs 1" in out.stdout, out.stdout


@pytest.mark.parametrize("history, why", [({"table": np.ones((3, 2))}, "of shape (3, 2), not a 1-D series"),
                                          ({"residual": np.zeros(0)}, "an empty history 'residual'")])
def test_runs_plot_without_metric_names_why_the_default_history_is_skipped(tmp_path, capsys, history, why):
    """Without --metric it said 'has no history' for a 2-D one, and drew an empty curve for a (0,) one
    (helper-151)."""
    pytest.importorskip("matplotlib")
    r = solvers.cg(np.eye(3), np.ones(3))
    r.history.clear()
    r.history.update(history)
    p = tmp_path / "odd.h5"
    with RunStore(p, mode="w-") as st:
        st.save(r)
    assert cli.main(["runs", "plot", str(p), "-o", str(tmp_path / "x.png")]) == 2
    assert why in capsys.readouterr().err
