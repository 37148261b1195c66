"""The run-store index trusts a line only while its file keeps the size and modification time the line
records: a run file truncated or replaced after it was indexed is summarised again from the file, so
``list()`` (and ``newtonkit runs list/export``) never shows a damaged run as an intact converged one."""
import glob
import json
import os
import warnings

import numpy as np
import pytest

import solvers
from solvers.results import SolveResult


def _result(i, converged=True):
    return SolveResult(np.full(500, float(i)), converged, "converged" if converged else "maxiter", "msg", 3,
                       method="cg", backend="numpy")


def _truncate(path):
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def test_truncated_run_file_leaves_the_listing(tmp_path):
    path = str(tmp_path / "st") + "/"
    with solvers.RunStore(path) as st:
        ids = [st.save(_result(i)) for i in range(3)]
        files = sorted(glob.glob(os.path.join(str(st.run_dir), "*.h5")))
    assert len(files) == 3
    _truncate(files[1])
    with solvers.RunStore(path, "r") as st:
        with pytest.warns(RuntimeWarning, match="cannot be read"):
            rows = st.list()
    listed = {r["run_id"] for r in rows}
    assert len(listed) == 2 and listed < set(ids)
    assert all(r["converged"] for r in rows)


def test_cli_list_leaves_out_a_truncated_run(tmp_path, capsys):
    from solvers.cli import main

    path = str(tmp_path / "st") + "/"
    with solvers.RunStore(path) as st:
        ids = [st.save(_result(i)) for i in range(2)]
    _truncate(sorted(glob.glob(str(tmp_path / "st" / "*.h5")))[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        main(["runs", "list", path])
    out = capsys.readouterr().out
    assert "1 runs" in out or "1 run" in out
    assert sum(rid in out for rid in ids) == 1


def test_replaced_run_file_is_summarised_again(tmp_path):
    """A run file overwritten by another run's file of another size lists what the file holds now (the stamp
    is the size: a copy of the store that changes every modification time is not re-read)."""
    a, b = str(tmp_path / "a") + "/", str(tmp_path / "b") + "/"
    with solvers.RunStore(a) as st:
        st.save(_result(1, converged=True))
    with solvers.RunStore(b) as st:
        st.save(SolveResult(np.full(5000, 2.0), False, "maxiter", "msg", 3, method="cg", backend="numpy"))
    fa = glob.glob(str(tmp_path / "a" / "*.h5"))[0]
    fb = glob.glob(str(tmp_path / "b" / "*.h5"))[0]
    assert os.path.getsize(fa) != os.path.getsize(fb)
    os.replace(fb, fa)
    with solvers.RunStore(a, "r") as st:
        rows = st.list()
    assert len(rows) == 1 and rows[0]["converged"] is False


def test_index_lines_without_stamp_are_read(tmp_path):
    """Index lines written before stamps existed are still used (the runs list without re-reading)."""
    from solvers.runs._dirstore import index_line

    path = str(tmp_path / "st") + "/"
    with solvers.RunStore(path) as st:
        ids = [st.save(_result(i)) for i in range(2)]
    idx = tmp_path / "st" / "index.jsonl"
    lines = []
    for line in idx.read_text().splitlines():
        e = json.loads(line.rpartition("\t")[0])
        assert isinstance(e.get("stamp"), list) and len(e["stamp"]) == 1
        e.pop("stamp")
        lines.append(index_line(e))
    idx.write_text("".join(lines))
    with solvers.RunStore(path, "r") as st:
        assert sorted(r["run_id"] for r in st.list()) == sorted(ids)


def test_save_recreates_a_sidecar_removed_by_another_close(tmp_path, monkeypatch):
    """Another process's close removed the empty sidecar between its creation and this save's first file:
    the run was written as a *file* named like the sidecar, after which every save failed. Now the save makes
    the sidecar again (session 24: write_payload does, for a worker's write_run_file too), never writing a file in
    its place."""
    import shutil

    from solvers.runs import _runfile

    path = tmp_path / "s.h5"
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    orig, calls = _runfile.write_payload, []

    def closer_first(payload, where, **kw):
        calls.append(where)
        if len(calls) == 1:
            shutil.rmtree(where)                # what drop_empty_sidecar does in the other process
        return orig(payload, where, **kw)

    monkeypatch.setattr(_runfile, "write_payload", closer_first)
    with solvers.RunStore(path) as st:
        rid = st.save(_result(1))
        # (session 24: write_payload makes a store's sidecar again itself, so the store's own retry is not needed)
        assert len(calls) in (1, 2) and (tmp_path / "s.h5.d").is_dir()

    def always(payload, where, **kw):
        shutil.rmtree(where, ignore_errors=True)
        return orig(payload, where, **kw)

    monkeypatch.setattr(_runfile, "write_payload", always)
    with solvers.RunStore(path, compact_on_close=False) as st:
        st.save(_result(2))                     # removed before every write: made again every time
    assert (tmp_path / "s.h5.d").is_dir() and not (tmp_path / "s.h5.d").is_file()
    monkeypatch.setattr(_runfile, "write_payload", orig)
    with solvers.RunStore(path) as st:
        assert rid in {r["run_id"] for r in st.list()} and len(st.list()) == 3
        st.save(_result(3))
    with solvers.RunStore(path, "r") as st:
        assert len(st.list()) == 4


def test_close_with_a_full_disk_keeps_the_runs_in_the_sidecar(tmp_path, monkeypatch):
    """The compaction at close rewrites the file: with no space left it failed the whole command although
    the run was stored. Now close() warns and the runs stay listed from the sidecar until a later compact."""
    import errno

    path = tmp_path / "s.h5"
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    st = solvers.RunStore(path)
    rid = st.save(_result(1))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(st, "compact", full)
    with pytest.warns(RuntimeWarning, match="compacting .* at close failed"):
        st.close()
    with solvers.RunStore(path, "r") as r:
        assert rid in {row["run_id"] for row in r.list()} and len(r.list()) == 2
    with solvers.RunStore(path) as w:              # a later close compacts
        w.compact()
    assert not (tmp_path / "s.h5.d").exists() or not list((tmp_path / "s.h5.d").glob("*.h5"))


def test_other_compaction_errors_still_raise(tmp_path, monkeypatch):
    path = tmp_path / "s.h5"
    st = solvers.RunStore(path)
    st.save(_result(0))

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(st, "compact", denied)
    with pytest.raises(PermissionError):
        st.close()


def test_cli_refuses_an_existing_store_it_cannot_write_before_solving(tmp_path, monkeypatch, capsys):
    import os

    from solvers.cli import main

    path = str(tmp_path / "s.h5")
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (os.path.abspath(p) == str(tmp_path) and
                                                                          mode == os.W_OK) else real(p, mode))
    assert main(["solve", "poisson", "--shape", "8", "8", "--store", path, "--no-progress"]) == 2
    cap = capsys.readouterr()
    assert "not writable" in cap.err and "iterations" not in cap.out.lower()


def test_a_copied_store_is_listed_from_its_index(tmp_path, monkeypatch):
    """cp -r without keeping modification times: the index still holds (no run file is opened to list)."""
    import shutil

    from solvers.runs import _runfile

    src = str(tmp_path / "a") + "/"
    with solvers.RunStore(src) as st:
        ids = [st.save(_result(i)) for i in range(3)]
    dst = tmp_path / "copy"
    shutil.copytree(tmp_path / "a", dst, copy_function=shutil.copyfile)     # new mtimes
    opened = []
    real = _runfile.summaries_in_file
    monkeypatch.setattr(_runfile, "summaries_in_file", lambda *a, **k: opened.append(a[0]) or real(*a, **k))
    with solvers.RunStore(str(dst) + "/", "r") as st:
        assert sorted(r["run_id"] for r in st.list()) == sorted(ids)
    assert opened == []


def test_a_damaged_attribute_table_in_a_directory_store_is_named(tmp_path):
    """The middle run of data/three_runs.h5 with its attribute table damaged, indexed in a directory store
    (the file grows by the damage check? no: same size), then re-described: listed apart, named by verify."""
    import shutil

    from solvers.runs import DamagedRunError

    data = os.path.join(os.path.dirname(__file__), "data", "three_runs.h5")
    d = tmp_path / "st"
    with solvers.RunStore(str(d) + "/") as st:
        st.save(_result(0))
    f = d / "extra.h5"
    shutil.copyfile(data, f)
    with open(f, "r+b") as fh:
        fh.seek(20938)
        b = fh.read(1)
        fh.seek(20938)
        fh.write(bytes([b[0] ^ 0xFF]))
    with solvers.RunStore(str(d) + "/", "r") as st:
        with pytest.warns(RuntimeWarning, match="cannot be read"):
            rows = st.list()
        assert len(rows) == 3                    # the first run, and the two intact runs of extra.h5
        out = st.verify()
        bad = [k for k, v in out.items() if v.startswith("damaged")]
        assert bad == ["20261202T011802302213Z-48d44d"]
        with pytest.raises(DamagedRunError):
            st.load(bad[0])


def test_a_sidecar_run_compacted_meanwhile_is_read_from_the_file(tmp_path, monkeypatch):
    """merge/export/verify list a single-file store, then open each listed run; a concurrent compaction that
    moved a sidecar run into the file made them report it damaged (and advise salvage)."""
    from solvers.runs import _combine

    path = tmp_path / "src.h5"
    st = solvers.RunStore(path, compact_on_close=False)
    ids = [st.save(_result(i)) for i in range(2)]
    stale = st._summaries()
    assert all(".d" in s["_path"] for s in stale)
    st.compact()                                     # another process's compaction, between list and read
    monkeypatch.setattr(type(st), "_summaries", lambda self, adopt=True, left_out=None: [dict(s) for s in stale])
    assert all(v == "ok" for v in st.verify().values())
    with solvers.RunStore(tmp_path / "out.h5") as out:
        assert sorted(out.merge([path])) == sorted(ids)
    monkeypatch.undo()
    with solvers.RunStore(tmp_path / "out.h5", "r") as out:
        assert sorted(r["run_id"] for r in out.list()) == sorted(ids)
    st.close()
    with pytest.raises(FileNotFoundError):            # without the store file to fall back on, the error stays
        _combine.open_source({**stale[0], "_main": None})


def test_sidecar_keeps_its_marker_when_a_writer_file_arrives_during_the_drop(tmp_path, monkeypatch):
    """drop_empty_sidecar lists the sidecar, a writer's run file arrives, the marker and index are deleted
    and rmdir fails: the marker is made again, so a compaction still moves that run into the file."""
    from solvers.runs import _combine

    path = tmp_path / "s.h5"
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    writer = solvers.RunStore(path, compact_on_close=False)
    real_listdir = os.listdir
    late = {}

    def listdir_then_write(p):
        names = real_listdir(p)
        if not late:
            late["id"] = writer.save(_result(1))      # arrives after the closer's listing
        return names

    closer = solvers.RunStore(path)
    closer._dir.create(sidecar_of=path.name)          # an empty sidecar, as a save's first step leaves it
    monkeypatch.setattr(_combine.os, "listdir", listdir_then_write)
    _combine.drop_empty_sidecar(closer)
    monkeypatch.undo()
    assert (tmp_path / "s.h5.d" / "newtonkit-runs.json").is_file()
    closer.close()
    writer.close()
    with solvers.RunStore(path) as st:
        st.compact()
    import h5py
    with h5py.File(path, "r") as f:                  # the file alone holds both runs
        assert late["id"] in f["runs"] and len(f["runs"]) == 2


def test_a_read_only_store_file_is_named_at_compaction(tmp_path, monkeypatch):
    """A store file the process cannot write (another owner, mode 0444): the save goes to the sidecar, and
    the compaction at close raises a PermissionError that names the file and says where the runs are (was
    h5py's error about a temporary copy '.s.h5.tmp-...')."""
    import os

    path = tmp_path / "s.h5"
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if (os.fspath(p) == str(path) and mode == os.W_OK)
                        else real(p, mode, *a, **k))
    st = solvers.RunStore(path)
    st.save(_result(1))
    with pytest.raises(PermissionError, match=r"s\.h5' is read-only.*sidecar .*s\.h5\.d"):
        st.close()
    monkeypatch.setattr(os, "access", real)
    assert len(solvers.RunStore(path, mode="r").list()) == 2       # nothing lost: the sidecar run is listed


def test_cli_export_to_a_missing_folder_and_warnings_are_one_line(tmp_path, capsys):
    from solvers.cli import main

    path = str(tmp_path / "s.h5")
    with solvers.RunStore(path) as st:
        st.save(_result(0))
    assert main(["runs", "export", path, "--csv", str(tmp_path / "missing" / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "the folder" in err and "missing" in err and ".tmp-" not in err
    d = tmp_path / "dir"
    d.mkdir()
    with solvers.RunStore(str(d) + "/") as st:
        st.save(_result(0))
    (d / "junk.h5").write_text("junk")
    assert main(["runs", "list", str(d) + "/"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("newtonkit: warning: RunStore: 1 run file(s)") and "runs.py" not in err
