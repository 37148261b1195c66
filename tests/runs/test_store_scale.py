"""RunStore at scale (issue 10): saves that write only their own run file, directory stores,
the rebuildable index, many writer processes, compaction/merge/export bit-exact, 10k listing."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from solvers import SolveResult
from solvers.runs import RunStore, write_run_file
from solvers.runs import _integrity
from solvers.runs._dirstore import index_line


def index_entries(path):
    """The JSON entries of an index file (each line: JSON, a tab, its CRC-32)."""
    return [json.loads(line.rsplit("\t", 1)[0]) for line in Path(path).read_text().splitlines()]

REPO = Path(__file__).resolve().parents[2]


def result(i, n=300, converged=True, method="cg"):
    rng = np.random.default_rng(i)
    return SolveResult(rng.standard_normal(n), converged, "converged" if converged else "maxiter", "ok", 3 + i,
                       history={"residual": np.geomspace(1.0, 10.0 ** -(i + 1), 4 + i)},
                       stats={"time_s": 0.5 + i}, method=method, backend="numpy", options={"i": i})


class Prob:
    def describe(self):
        return {"problem": "Toy", "n": 3}


def file_state(folder):
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.glob("*.h5"))}


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.setdefault("NEWTONKIT_NUM_THREADS", "1")
    return e


# ---------------------------------------------------------------------------------------------- both forms
@pytest.mark.parametrize("name", ["runs.h5", "runs", "runs/"])
def test_round_trip_and_saves_touch_only_their_own_file(tmp_path, name):
    path = str(tmp_path / name) if not name.endswith("/") else str(tmp_path / name[:-1]) + "/"
    results = [result(i) for i in range(4)]
    with RunStore(path) as store:
        assert store.is_directory == (not name.endswith(".h5"))
        ids, states, main_before = [], [], None
        for i, r in enumerate(results):
            ids.append(store.save(r, problem=Prob(), tags={"i": i}))
            states.append(file_state(store.run_dir))
            main = (tmp_path / name).read_bytes() if name.endswith(".h5") else None
            if i:
                # every earlier run file is byte-for-byte the same file (same inode, same mtime): a save
                # writes its own run only, it never rewrites the store
                assert {k: v for k, v in states[i].items() if k in states[i - 1]} == states[i - 1]
                assert len(states[i]) == len(states[i - 1]) + 1
                if main is not None:
                    assert main == main_before
            main_before = main
        rows = store.list()
        assert [r["run_id"] for r in rows] == ids
        assert [r["problem"] for r in rows] == ["Toy"] * 4
        assert [r["final"]["residual"] for r in rows] == [float(r.history["residual"][-1]) for r in results]
        for rid, r in zip(ids, results):
            back = store.load(rid)
            np.testing.assert_array_equal(back.x, r.x)
            np.testing.assert_array_equal(back.history["residual"], r.history["residual"])
            assert back.nit == r.nit and back.options == {"i": r.options["i"]}
    with RunStore(path, mode="r") as again:
        assert again.run_ids() == ids and len(again) == 4 and ids[2] in again
        assert set(again.verify().values()) == {"ok"}
    if name.endswith(".h5"):   # closing compacted everything into the one file and removed the sidecar
        with h5py.File(tmp_path / name, "r") as f:
            assert sorted(f["runs"]) == sorted(ids)
        assert not (tmp_path / (name + ".d")).exists()


def test_unclosed_single_file_store_is_read_with_its_sidecar(tmp_path):
    p = tmp_path / "r.h5"
    s = RunStore(p, compact_on_close=False)
    ids = [s.save(result(i)) for i in range(3)]
    s.close()
    with h5py.File(p, "r") as f:
        assert list(f["runs"]) == []          # not compacted: the runs are in r.h5.d/
    with RunStore(p, "r") as r:
        assert r.run_ids() == ids
        np.testing.assert_array_equal(r.load(ids[1]).x, result(1).x)
    with RunStore(p) as w:
        assert sorted(w.compact()) == sorted(ids)
        assert w.compact() == []
        assert w.run_ids() == ids
    with h5py.File(p, "r") as f:
        assert sorted(f["runs"]) == sorted(ids)


# ---------------------------------------------------------------------------------------------- the index
def test_lost_or_corrupt_index_is_rebuilt_without_loss(tmp_path):
    d = tmp_path / "runs"
    with RunStore(d) as s:
        ids = [s.save(result(i), tags={"i": i}) for i in range(5)]
        rows = s.list()
    idx = d / "index.jsonl"
    lines = idx.read_text().splitlines()
    entries = index_entries(idx)
    assert len(lines) == 5
    # 1. index lost
    idx.unlink()
    with RunStore(d, "r") as s:
        assert s.list() == rows
    # 2. damaged: garbage, a line cut short, a line for a file that is gone, a duplicate
    changed = index_line({"file": entries[3]["file"], "runs": [dict(entries[3]["runs"][0], nit=999)]})
    idx.write_text("garbage\n" + lines[0] + "\n" + lines[1][:40] + "\n" + index_line(
        {"file": "20000101T000000000000Z-gone00.h5", "runs": [dict(entries[2]["runs"][0], run_id="gone")]})
        + lines[0] + "\n" + changed.replace('"nit":999', '"nit":998'))
    with RunStore(d, "r") as s:
        assert s.list() == rows
    # 3. a writer repairs it (adopts what the index lacks) and reindex() rebuilds it from the files
    with RunStore(d) as s:
        assert s.list() == rows
        assert s.reindex() == 5
        assert s.list() == rows
    assert sorted(e["file"] for e in index_entries(idx)) == sorted(f"{i}.h5" for i in ids)
    # 4. a torn last line (no newline) does not swallow the next append
    with open(idx, "a") as fh:
        fh.write('{"file": "x.h5", "ru')
    with RunStore(d) as s:
        new = s.save(result(9))
    last = idx.read_text().splitlines()[-1]
    assert json.loads(last.rsplit("\t", 1)[0])["runs"][0]["run_id"] == new


def test_single_file_in_file_index_and_old_files(tmp_path):
    p = tmp_path / "r.h5"
    with RunStore(p) as s:
        ids = [s.save(result(i)) for i in range(3)]
        rows = s.list()
    with h5py.File(p, "r") as f:
        idx = [json.loads(line) for line in f["index"][...].tobytes().decode().splitlines()]
    assert [r["run_id"] for r in idx] == ids
    # a damaged in-file index (Fletcher-32) is ignored: the runs themselves are listed
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(p.read_bytes())
    with h5py.File(damaged, "r") as f:
        off = f["index"].id.get_chunk_info(0).byte_offset
    raw = bytearray(damaged.read_bytes())
    raw[off + 60] ^= 0x04
    damaged.write_bytes(bytes(raw))
    with RunStore(damaged, "r") as s:
        assert s.list() == rows
    # a format-2 file written before the in-file index existed, and a format-1 file (no digests)
    old = tmp_path / "old.h5"
    with h5py.File(p, "r") as src, h5py.File(old, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        src.copy(src["runs"], dst, name="runs")
    with RunStore(old, "r") as s:
        assert s.list() == rows
        np.testing.assert_array_equal(s.load(ids[0]).x, result(0).x)
    with h5py.File(old, "r") as f:
        assert "index" not in f
    with RunStore(old) as s:       # compact() gives a file of an older version its listing index
        assert s.compact() == [] and s.list() == rows
    with h5py.File(old, "r") as f:
        assert sorted(json.loads(x)["run_id"] for x in f["index"][...].tobytes().decode().splitlines()) == sorted(ids)
    v1 = tmp_path / "v1.h5"
    with h5py.File(old, "r") as src, h5py.File(v1, "w") as dst:
        dst.attrs["format"] = "newtonkit-runs"
        dst.attrs["format_version"] = 1
        src.copy(src["runs"], dst, name="runs")
        for rid in ids:
            del dst["runs"][rid].attrs["digest"]
    with RunStore(v1) as s:
        assert s.run_ids() == ids
        assert set(s.verify().values()) == {"unverified (format 1)"}
        new = s.save(result(5))
    with RunStore(v1, "r") as s:
        assert s.run_ids() == ids + [new] and s.verify()[new] == "ok"


# ---------------------------------------------------------------------------------------------- many writers
WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import solvers
    from solvers.runs import write_run_file
    folder, w = sys.argv[1], int(sys.argv[2])
    for i in range(4):
        r = solvers.SolveResult(np.full(1000, 10.0 * w + i), True, "converged", "", i, method="cg",
                                backend="numpy", history={"residual": np.ones(i + 1)})
        s = write_run_file(r, folder, tags={"w": w, "i": i}, durable=False)
        print(s["run_id"], s["file"], flush=True)
""")


def test_worker_processes_write_their_own_files_then_one_writer_indexes(tmp_path):
    d = tmp_path / "runs"
    with RunStore(d) as s:
        run_dir = s.run_dir
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(run_dir), str(w)], env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for w in range(2)]
    written = {}
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        for line in out.decode().split("\n"):
            if line:
                rid, f = line.split()
                written[rid] = f
    assert len(written) == 8 and all(Path(f).parent == run_dir for f in written.values())
    # a reader already sees them (run files the index lacks are summarised on the fly) ...
    with RunStore(d, "r") as r:
        assert sorted(r.run_ids()) == sorted(written)
    # ... and the single writer indexes them
    with RunStore(d) as s:
        assert sorted(s.index_files(list(written.values()))) == sorted(written)
        assert s.index_files(list(written.values())) == []      # already indexed
        rows = s.list()
        assert sorted((r["tags"]["w"], r["tags"]["i"]) for r in rows) == [(w, i) for w in range(2) for i in range(4)]
        for row in rows:
            np.testing.assert_array_equal(s.load(row["run_id"]).x, 10.0 * row["tags"]["w"] + row["tags"]["i"])


def test_index_files_from_elsewhere_and_into_a_single_file(tmp_path):
    out = tmp_path / "worker"
    out.mkdir()
    summaries = [write_run_file(result(i), out, tags={"i": i}, durable=False) for i in range(3)]
    assert {s["run_id"] for s in summaries} == {Path(s["file"]).stem for s in summaries}
    assert summaries[0]["method"] == "cg" and summaries[1]["tags"] == {"i": 1} and summaries[2]["nit"] == 5
    one = tmp_path / "named.h5"
    s1 = write_run_file(result(7), one, problem=Prob())
    assert s1["file"] == str(one) and s1["problem"] == "Toy"
    with pytest.raises(FileExistsError):
        write_run_file(result(8), one)
    with pytest.raises(TypeError, match="SolveResult"):
        write_run_file({"x": 1}, tmp_path / "bad.h5")
    with pytest.raises(TypeError, match="tag"):
        write_run_file(result(8), tmp_path / "bad.h5", tags={"a": [1]})
    assert not (tmp_path / "bad.h5").exists()
    files = [s["file"] for s in summaries] + [str(one)]
    with RunStore(tmp_path / "all.h5") as store:
        added = store.index_files(files)
        assert sorted(added) == sorted([s["run_id"] for s in summaries] + [s1["run_id"]])
        assert store.index_files(files) == []
    assert all(Path(f).exists() for f in files)          # copied, not moved
    with RunStore(tmp_path / "all.h5", "r") as store:
        assert sorted(store.run_ids()) == sorted(added)
        np.testing.assert_array_equal(store.load(s1["run_id"]).x, result(7).x)
    with RunStore(tmp_path / "d") as store:
        assert len(store.index_files(files, move=True)) == 4
    assert not any(Path(f).exists() for f in files)


# ---------------------------------------------------------------------------------------------- bit-exact copies
def _digests(path):
    out = {}
    with RunStore(path, "r") as s:
        for row in s.list():
            out[row["run_id"]] = row
    return out


def _recomputed(store_path):
    """{run_id: (stored digest, digest recomputed from the bytes)} straight from the HDF5 files."""
    out = {}
    with RunStore(store_path, "r") as s:
        for summ in s._summaries(adopt=False):
            with h5py.File(summ["_path"], "r") as f:
                g = f["runs"][summ["run_id"]]
                out[summ["run_id"]] = (g.attrs["digest"], _integrity.digest_group(g))
    return out


def test_merge_compact_export_round_trips_are_bit_exact(tmp_path):
    d = tmp_path / "d"
    with RunStore(d) as s:
        ids = [s.save(result(i, n=2000), problem=Prob(), tags={"i": i}) for i in range(3)]
    ref = _recomputed(d)
    assert all(a == b for a, b in ref.values())
    with RunStore(tmp_path / "f.h5", compact_on_close=False) as f:
        extra = f.save(result(5))
        assert sorted(f.merge([d])) == sorted(ids)          # merge and compaction in one rewrite
        assert f.merge([d]) == []
    with RunStore(tmp_path / "f.h5") as f:
        assert f.export(tmp_path / "e.h5") and f.compact() == []
    with RunStore(tmp_path / "back") as b:
        assert sorted(b.merge([tmp_path / "e.h5"])) == sorted(ids + [extra])
    for p in (tmp_path / "f.h5", tmp_path / "e.h5", tmp_path / "back"):
        got = _recomputed(p)
        for rid in ids:
            assert got[rid] == ref[rid], p
        with RunStore(p, "r") as s:
            assert set(s.verify().values()) == {"ok"}
            for i, rid in enumerate(ids):
                back = s.load(rid)
                np.testing.assert_array_equal(back.x, result(i, n=2000).x)
                assert back.tags == {"i": i} and back.problem["problem"] == "Toy"
    with pytest.raises(FileExistsError):
        RunStore(d).export(tmp_path / "e.h5")
    with pytest.raises(ValueError, match="itself"):
        RunStore(d).merge([d])


def test_directory_store_refusals(tmp_path):
    d = tmp_path / "d"
    RunStore(d).close()
    with pytest.raises(FileExistsError):
        RunStore(d, mode="x")
    marker = d / "newtonkit-runs.json"
    meta = json.loads(marker.read_text())
    marker.write_text(json.dumps({**meta, "layout_version": 99}))
    with pytest.raises(ValueError, match="layout_version 99"):
        RunStore(d, "r")
    marker.write_text("{not json")
    with pytest.raises(ValueError, match="marker"):
        RunStore(d, "r")
    marker.unlink()                      # as the message advises: the marker is rewritten, runs kept
    with RunStore(d) as s:
        rid = s.save(result(0))
    marker.unlink()
    with RunStore(d) as s:
        assert s.run_ids() == [rid]
    assert json.loads(marker.read_text())["layout_version"] == 1
    with pytest.raises(ValueError, match="recovered.h5"):
        RunStore.salvage(tmp_path / "x.h5", tmp_path / "nosuffix")


# ---------------------------------------------------------------------------------------------- 10,000 runs
def test_listing_ten_thousand_runs_from_the_index(tmp_path):
    """10,000 runs listed from the index (correctness; the timing is benchmarks/store_scaling.py).
    The files are hard links of one real run file, so the store is built in seconds."""
    d = tmp_path / "big"
    with RunStore(d) as s:
        rid0 = s.save(result(0, n=10), tags={"k": 0})
    template = index_entries(d / "index.jsonl")[0]["runs"][0]
    lines = []
    for k in range(1, 10_000):
        rid = f"20300101T{k // 3600:02d}{k // 60 % 60:02d}{k % 60:02d}000000Z-{k:06x}"
        os.link(d / f"{rid0}.h5", d / f"{rid}.h5")
        row = dict(template, run_id=rid, created=f"2030-01-01T{rid[9:11]}:{rid[11:13]}:{rid[13:15]}+00:00",
                   tags={"k": k}, method="cg" if k % 2 else "gmres", nit=k % 17)
        lines.append(index_line({"file": f"{rid}.h5", "runs": [row]}))
    with open(d / "index.jsonl", "a") as fh:
        fh.write("".join(lines))
    with RunStore(d, "r") as s:
        rows = s.list()
        assert len(rows) == 10_000 and rows[0]["run_id"] == rid0
        assert [r["tags"]["k"] for r in rows] == list(range(10_000))        # oldest first
        t = s.table(method="gmres", sort="nit", reverse=True)
        t = t.to_dict("records") if hasattr(t, "to_dict") else t
        assert len(t) == 4_999 and t[0]["nit"] == 16 and t[-1]["nit"] == 0
        assert s.resolve("-1") == rows[-1]["run_id"]


# ---------------------------------------------------------------------------------------------- killed compaction
COMPACT_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    import solvers
    from solvers.runs import _single
    path, marker = sys.argv[1:3]
    s = solvers.RunStore(path, durable=False, compact_on_close=False)
    for i in range(3):
        s.save(solvers.SolveResult(np.full(5000, float(i)), True, "converged", "", i, method="cg", backend="numpy"))
    orig = _single.refresh_index
    def stall(f):
        orig(f)
        open(marker, "w").close()
        time.sleep(120)
    _single.refresh_index = stall
    s.compact()
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_sigkill_during_compaction_loses_nothing(tmp_path):
    p, marker = tmp_path / "r.h5", tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", COMPACT_CHILD, str(p), str(marker)], env=env(),
                            stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() - t0 < 60
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with h5py.File(p, "r") as f:
        assert list(f["runs"]) == []        # the file was never replaced by the half-done copy
    with RunStore(p) as s:
        rows = s.list()
        assert len(rows) == 3
        assert [float(s.load(r["run_id"]).x[0]) for r in rows] == [0.0, 1.0, 2.0]
    with h5py.File(p, "r") as f:          # the next writer's close finished the compaction
        assert len(f["runs"]) == 3
    assert not (tmp_path / "r.h5.d").exists() and not list(tmp_path.glob(".r.h5.tmp-*"))


# ---------------------------------------------------------------------------------------------- property
_GARBLE_BASE = {}


def _garble_store():
    """One small directory store shared by the examples (built once; each example copies it)."""
    if not _GARBLE_BASE:
        import tempfile

        d = Path(tempfile.mkdtemp()) / "base"
        with RunStore(d, durable=False) as s:
            for i in range(4):
                s.save(result(i, n=20), tags={"i": i})
            _GARBLE_BASE["rows"] = s.list()
        _GARBLE_BASE["dir"] = d
        _GARBLE_BASE["index"] = (d / "index.jsonl").read_bytes()
    return _GARBLE_BASE


def test_any_damage_to_the_index_loses_no_run(tmp_path):
    """Property (hypothesis): truncating the index anywhere, flipping bytes in it or appending junk
    never changes what a reader lists, nor what a writer lists after repairing it (every index line
    carries a CRC-32, so a changed digit is not taken for a different nit or time)."""
    from hypothesis import given, settings, HealthCheck
    from hypothesis import strategies as st
    import shutil

    base = _garble_store()
    n = len(base["index"])

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    @given(cut=st.integers(0, n), flips=st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)),
                                                  max_size=6), junk=st.binary(max_size=80))
    def check(cut, flips, junk):
        d = tmp_path / "s"
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(base["dir"], d)
        data = bytearray(base["index"][:cut])
        for pos, x in flips:
            if pos < len(data):
                data[pos] ^= x
        (d / "index.jsonl").write_bytes(bytes(data) + junk)
        with RunStore(d, "r") as s:
            assert s.list() == base["rows"]
        with RunStore(d) as s:
            assert s.list() == base["rows"]
            assert s.list() == base["rows"]

    check()


def test_lock_is_reentrant_within_a_thread(tmp_path):
    """A store object finalised while the same thread holds the store's lock (e.g. garbage
    collected during another object's compaction) compacts without deadlocking on its own flock."""
    import threading

    p = tmp_path / "r.h5"
    holder = RunStore(p)
    done = []

    def body():
        with holder._lock():
            other = RunStore(p)
            rid = other.save(result(0))
            del other                     # finaliser -> close() -> compaction under the same lock
            done.append(rid)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout=60)
    assert done, "deadlocked on the store's own lock"
    with h5py.File(p, "r") as f:
        assert list(f["runs"]) == done
    holder.close()


@pytest.mark.parametrize("form", ["dir", "file"])
def test_index_files_from_the_writers_summaries_opens_no_file(tmp_path, monkeypatch, form):
    """A sweep's client indexes worker files from the rows write_run_file returned: no file is opened (the HDF5
    readers are made to fail), the listing equals the one read from the files, and loading reads the real run."""
    from solvers.runs import _combine, _dirstore, _runfile, _single

    path = tmp_path / ("runs" if form == "dir" else "runs.h5")

    def boom(*a, **k):
        raise AssertionError("a run file was opened")

    with RunStore(path, compact_on_close=False) if form == "file" else RunStore(path) as s:
        s.run_dir.mkdir(parents=True, exist_ok=True)
        rows = [write_run_file(result(i), s.run_dir, tags={"i": i}) for i in range(3)]   # the workers' files
        files = [r["file"] for r in rows]
        with monkeypatch.context() as m:
            for mod, name in ((_runfile, "summaries_in_file"), (_single, "check_format"),
                              (_dirstore._runfile, "summaries_in_file"), (_combine._runfile, "summaries_in_file")):
                m.setattr(mod, name, boom)
            added = s.index_files(files, summaries=rows)
        assert sorted(added) == sorted(r["run_id"] for r in rows)
        with pytest.raises(ValueError, match="one per path"):
            s.index_files(files, summaries=rows[:1])
        listed = {r["run_id"]: r for r in s.list()}
        for r in rows:
            assert listed[r["run_id"]]["tags"] == {"i": r["tags"]["i"]}
            np.testing.assert_array_equal(s.load(r["run_id"]).x, result(r["tags"]["i"]).x)
        assert s.index_files(files, summaries=rows) == []           # already indexed
