"""Concurrency probe (session 25): opening a single-file store while another process closes it.

Closing a writable single-file store compacts its sidecar ``<file>.d/`` into the file and then removes the
emptied sidecar, marker included. A process opening the store at that moment saw the marker (``exists()``),
then found it gone when reading it, and got a false ValueError: "... is not a readable run-store marker
([Errno 2] No such file or directory) ... delete the marker". Seen with two processes compacting in a loop
while three others saved. A vanished sidecar is simply no sidecar.
"""
import numpy as np
import pytest

from solvers import SolveResult
from solvers.runs import RunStore
from solvers.runs import _dirstore


def _result(i):
    return SolveResult(x=np.arange(5.0) + i, converged=True, status="converged", message="", nit=1,
                       history={"residual": np.array([1.0, 0.1])}, stats={"time_s": 0.0}, method="cg",
                       backend="numpy", options={})


def _sidecar_removed_right_after_the_look(monkeypatch, store_path):
    """``RunDir.exists`` of the sidecar answers True once, then the sidecar is gone (another process's close)."""
    original = _dirstore.RunDir.exists
    fired = []

    def exists(self):
        ok = original(self)
        if ok and not fired and self.path.name == store_path.name + ".d":
            fired.append(True)
            for f in self.path.iterdir():
                f.unlink()
            self.path.rmdir()
        return ok

    monkeypatch.setattr(_dirstore.RunDir, "exists", exists)
    return fired


@pytest.mark.parametrize("mode", ["a", "r"])
def test_open_while_another_process_drops_the_emptied_sidecar(tmp_path, monkeypatch, mode):
    path = tmp_path / "runs.h5"
    with RunStore(path) as st:
        rid = st.save(_result(0))
    # an empty sidecar left by a store opened elsewhere (its run_dir made, nothing saved yet)
    with RunStore(path, compact_on_close=False) as st:
        st.run_dir
    assert (tmp_path / "runs.h5.d" / _dirstore.MARKER).is_file()
    fired = _sidecar_removed_right_after_the_look(monkeypatch, path)
    with RunStore(path, mode=mode) as st:            # raised "not a readable run-store marker"
        assert [r["run_id"] for r in st.list()] == [rid]
        np.testing.assert_array_equal(st.load(rid).x, np.arange(5.0))
        if mode == "a":
            rid2 = st.save(_result(1))
    assert fired
    with RunStore(path, mode="r") as st:
        assert sorted(r["run_id"] for r in st.list()) == sorted([rid] + ([rid2] if mode == "a" else []))
        assert set(st.verify().values()) == {"ok"}


def test_an_unreadable_marker_is_still_refused(tmp_path):
    path = tmp_path / "runs.h5"
    with RunStore(path, compact_on_close=False) as st:
        st.save(_result(0))
    (tmp_path / "runs.h5.d" / _dirstore.MARKER).write_text("{not json")
    with pytest.raises(ValueError, match="not a readable run-store marker"):
        RunStore(path)


# ---------------------------------------------------------------------------------------------------------------
# mode "w-" / "x" on a directory store: two processes creating it at the same moment both got it (the single-file
# form takes a lock for this). 3 processes released by one event: 6 of 30 trials had two "ok". The marker is now
# linked into place, which fails when another process made it first.

@pytest.mark.parametrize("mode", ["w-", "x"])
def test_directory_store_created_by_another_process_at_the_same_moment(tmp_path, monkeypatch, mode):
    path = tmp_path / "runs"
    path.mkdir()                                  # an empty folder: a new store may be made in it
    original = _dirstore.RunDir.exists
    calls = []

    def exists(self):
        calls.append(1)
        if len(calls) == 2:                       # create()'s look: the other process wins just after it
            other = _dirstore.RunDir(self.path, self.lock_path)
            other.create()
            return False
        return original(self)

    monkeypatch.setattr(_dirstore.RunDir, "exists", exists)
    with pytest.raises(FileExistsError, match="created by another process"):
        RunStore(path, mode=mode)
    monkeypatch.setattr(_dirstore.RunDir, "exists", original)
    with RunStore(path, mode="a") as st:          # the other process's store is intact
        st.save(_result(0))
        assert len(st.list()) == 1
    assert not [p.name for p in path.iterdir() if ".tmp-" in p.name]


def test_directory_store_exclusive_create_still_works(tmp_path):
    with RunStore(tmp_path / "new", mode="x") as st:
        st.save(_result(0))
    with pytest.raises(FileExistsError, match="exists and is not empty"):
        RunStore(tmp_path / "new", mode="w-")
