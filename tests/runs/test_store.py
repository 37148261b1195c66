"""RunStore: round trip, listing, never overwriting, errors, merge, and survival of killed writers."""
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

import solvers
from solvers import SolveResult
from solvers.runs import store as store_mod

REPO = Path(__file__).resolve().parents[2]


def make_result(i=0, n=50, converged=True, **extras):
    rng = np.random.default_rng(i)
    hist = np.geomspace(1.0, 10.0 ** (-1 - i), 7 + i)
    return SolveResult(rng.standard_normal((n, 3)), converged, "converged" if converged else "maxiter",
                       "ok" if converged else "raise maxiter or use precond='mg'", 6 + i,
                       history={"residual": hist, "stage": np.arange(hist.size) % 2, "empty": np.zeros(0)},
                       stats={"time_s": 0.25 + i, "matvecs": np.int64(7 + i), "flops": 1.5e9},
                       method="cg+mg", backend="numba",
                       options={"rtol": 1e-8, "maxiter": None, "precond": "mg", "shape": (n, 3),
                                "levels": [3, 2], "nested": {"a": 1, "b": [1.5, None]}, "flag": True,
                                "x0": np.linspace(0, 1, 4), "M": object()},
                       **extras)


def assert_same_result(loaded, res):
    np.testing.assert_array_equal(loaded.x, np.asarray(res.x))
    assert loaded.x.dtype == np.asarray(res.x).dtype
    for k in ("converged", "status", "message", "nit", "method", "backend"):
        assert getattr(loaded, k) == getattr(res, k), k
    assert set(loaded.history) == set(res.history)
    for k, v in res.history.items():
        np.testing.assert_array_equal(loaded.history[k], v)
        assert loaded.history[k].dtype == v.dtype
    assert loaded.stats == {k: (v.item() if isinstance(v, np.generic) else v) for k, v in res.stats.items()}


class Problem:
    def describe(self):
        return {"kind": "poisson", "shape": np.array([8, 8]), "h": 1 / 9, "f": "callable"}


def test_round_trip_every_field(tmp_path):
    res = make_result(1, f=np.arange(5.0), g=-np.arange(5.0), cost=0.125, stage_switch=12,
                      plan=lambda: None, info={"n": 5})
    with solvers.RunStore(tmp_path / "runs.h5") as store:
        rid = store.save(res, problem=Problem(), tags={"note": "first", "n": 3, "ok": True}, seed=42)
        back = store.load(rid)
    assert isinstance(back, SolveResult)
    assert_same_result(back, res)
    opts = back.options
    assert opts["rtol"] == 1e-8 and opts["maxiter"] is None and opts["precond"] == "mg"
    assert opts["shape"] == (50, 3) and opts["levels"] == [3, 2] and opts["nested"] == {"a": 1, "b": [1.5, None]}
    assert opts["flag"] is True
    np.testing.assert_array_equal(opts["x0"], np.linspace(0, 1, 4))
    assert opts["M"].startswith("<object object")  # unserialisable values are stored as their repr
    np.testing.assert_array_equal(back.f, np.arange(5.0))
    np.testing.assert_array_equal(back.g, -np.arange(5.0))
    assert back.cost == 0.125 and back.stage_switch == 12 and back.info == {"n": 5}
    assert "plan" not in back.extras  # callables are not data
    assert back.problem["kind"] == "poisson" and back.problem["type"].endswith("test_store.Problem")
    np.testing.assert_array_equal(back.problem["shape"], [8, 8])
    assert back.tags == {"note": "first", "n": 3, "ok": True}
    assert back.run_id == rid
    prov = back.provenance
    assert prov["seed"] == 42 and prov["backend"] == "numba" and prov["num_threads"] >= 1
    assert prov["version_newtonkit"] == solvers.__version__ and prov["version_numpy"] == np.__version__
    assert prov["version_h5py"] == h5py.__version__ and "version_scipy" in prov and "version_numba" in prov
    assert prov["python"] == sys.version.split()[0] and prov["host"] and prov["device"]
    start = np.datetime64(prov["utc_start"].replace("+00:00", ""))
    end = np.datetime64(prov["utc_end"].replace("+00:00", ""))
    assert (end - start) / np.timedelta64(1, "us") == pytest.approx(1.25e6, abs=2)  # stats time_s = 1.25
    assert prov["wall_time_s"] == 1.25


def test_round_trip_edge_values(tmp_path):
    res = SolveResult(np.array([1 + 2j, 3 - 1j]), False, "nonfinite", "x" * 40_000, 0,
                      history={}, stats={}, method="gmres", backend="numpy", options={})
    scalar_x = SolveResult(np.float32(2.5), True, "converged", "", 1, method="newton", backend="numpy")
    fallback = SolveResult(np.zeros(2), True, "converged", "", 1, method="m", backend="numpy")
    with solvers.RunStore(tmp_path / "r.h5") as store:
        a = store.load(store.save(res))
        b = store.load(store.save(scalar_x))
        c = store.load(store.save(fallback, problem=[1, 2, 3]))
    np.testing.assert_array_equal(a.x, res.x)
    assert a.message == "x" * 40_000 and a.history == {} and a.stats == {} and not a.converged
    assert b.x.shape == () and b.x.dtype == np.float32 and b.x == np.float32(2.5)
    assert c.problem == {"type": "builtins.list", "repr": "[1, 2, 3]"}


def test_list_table(tmp_path):
    results = [make_result(i, converged=(i != 1)) for i in range(3)]
    with solvers.RunStore(tmp_path / "runs.h5") as store:
        ids = [store.save(r, tags={"i": i}) for i, r in enumerate(results)]
        rows = store.list()
        assert len(store) == 3 and ids[0] in store and "nope" not in store
    assert [r["run_id"] for r in rows] == ids  # oldest first
    for i, (row, res) in enumerate(zip(rows, results)):
        assert set(row) >= {"run_id", "method", "backend", "converged", "nit", "time_s", "created", "tags"}
        assert row["method"] == "cg+mg" and row["backend"] == "numba"
        assert row["converged"] is (i != 1) and row["nit"] == res.nit
        assert row["time_s"] == pytest.approx(0.25 + i)
        assert row["tags"] == {"i": i}
        assert row["created"].endswith("+00:00")
    # reopening read-only sees the same
    with solvers.RunStore(tmp_path / "runs.h5", mode="r") as again:
        assert again.list() == rows
        assert again.resolve("-1") == ids[-1] and again.resolve(ids[1][:-3]) in ids


def test_never_overwrites(tmp_path, monkeypatch):
    res0, res1 = make_result(0), make_result(1)
    seq = iter(["fixed-id", "fixed-id", "other-id"])
    monkeypatch.setattr(store_mod, "_new_run_id", lambda: next(seq))
    with solvers.RunStore(tmp_path / "runs.h5") as store:
        assert store.save(res0) == "fixed-id"
        assert store.save(res1) == "other-id"  # the colliding id was replaced, not overwritten
        assert_same_result(store.load("fixed-id"), res0)
        assert_same_result(store.load("other-id"), res1)
    monkeypatch.undo()
    with solvers.RunStore(tmp_path / "runs.h5") as store:
        ids = {store.save(res0) for _ in range(5)}
        assert len(ids) == 5 and len(store) == 7


def test_errors(tmp_path):
    p = tmp_path / "runs.h5"
    with pytest.raises(ValueError, match="mode must be one of"):
        solvers.RunStore(p, mode="w")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        solvers.RunStore(p, mode="r")
    with pytest.raises(FileNotFoundError, match="directory"):
        solvers.RunStore(tmp_path / "nodir" / "runs.h5")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("not runs")
    with pytest.raises(ValueError, match="not a run store"):
        solvers.RunStore(other)          # a directory holding other things is not taken over
    with pytest.raises(FileNotFoundError, match="not a run store"):
        solvers.RunStore(other, mode="r")
    with pytest.raises(TypeError, match="path"):
        solvers.RunStore(3)
    solvers.RunStore(p, mode="x").close()
    with pytest.raises(FileExistsError):
        solvers.RunStore(p, mode="w-")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        solvers.RunStore(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.ones(3)
    with pytest.raises(ValueError, match="not a newtonkit run store"):
        solvers.RunStore(tmp_path / "other.h5")
    store = solvers.RunStore(p)
    rid = store.save(make_result(0))
    with pytest.raises(TypeError, match="SolveResult"):
        store.save({"x": 1})
    with pytest.raises(TypeError, match="tags"):
        store.save(make_result(0), tags=["a"])
    with pytest.raises(KeyError, match=rid):  # the known ids are hinted
        store.load(rid[:-1] + ("1" if rid[-1] == "0" else "0"))  # a different, unknown id
    with pytest.raises(KeyError, match="ambiguous"):
        store.save(make_result(1))
        store.resolve("20")
    with solvers.RunStore(p, mode="r") as ro, pytest.raises(PermissionError, match="read only"):
        ro.save(make_result(0))
    store.close()
    with pytest.raises(ValueError, match="closed"):
        store.list()
    with pytest.raises(KeyError, match="no completed runs"):
        solvers.RunStore(tmp_path / "empty.h5").load("x")


def test_incomplete_groups_are_skipped(tmp_path):
    p = tmp_path / "runs.h5"
    with solvers.RunStore(p) as store:
        rid = store.save(make_result(0))
    with h5py.File(p, "r+") as f:  # a run group without the completion flag (e.g. a foreign writer)
        g = f["runs"].create_group("20000101T000000000000Z-partial")
        g["x"] = np.ones(3)
        g.attrs["method"] = "cg"
    with solvers.RunStore(p) as store:
        assert store.run_ids() == [rid]
        with pytest.raises(KeyError, match=rid):
            store.load("20000101T000000000000Z-partial")


def test_merge(tmp_path):
    a, b, dst = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "all.h5"
    ra, rb = make_result(0), make_result(2, f=np.ones(3))
    with solvers.RunStore(a) as sa, solvers.RunStore(b) as sb:
        ida, idb = sa.save(ra, tags={"w": 0}), sb.save(rb, tags={"w": 1})
    with solvers.RunStore(dst) as s:
        assert sorted(s.merge([a, b])) == sorted([ida, idb])
        assert s.merge([a, b]) == []  # already there: skipped, never overwritten
        assert_same_result(s.load(ida), ra)
        back = s.load(idb)
        assert_same_result(back, rb)
        np.testing.assert_array_equal(back.f, np.ones(3)) and back.tags == {"w": 1}
        with pytest.raises(FileNotFoundError):
            s.merge([tmp_path / "missing.h5"])
        with pytest.raises(ValueError, match="itself"):
            s.merge(dst)


def test_cupy_free_provenance_and_git(tmp_path):
    from solvers.runs import provenance

    prov = provenance.collect(backend="numpy", time_s=2.0)
    assert "version_cupy" not in prov or "cupy" in sys.modules
    commit, _ = provenance.git_info()
    if (REPO / ".git").exists() and Path(solvers.__file__).resolve().parent == REPO / "solvers":
        assert commit is not None and len(commit) == 40
        assert prov["git_commit"] == commit


# -- killed writers -------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import solvers
    from solvers.runs import _runfile

    path, marker, log = sys.argv[1:4]
    def result(i, n):
        rng = np.random.default_rng(i)
        return solvers.SolveResult(rng.standard_normal(n), True, "converged", "ok", i,
                                   history={"residual": np.geomspace(1, 1e-8, 10 + i)},
                                   stats={"time_s": 0.1 * i}, method="cg", backend="numpy", options={"i": i})
    store = solvers.RunStore(path, durable=False)
    for i in range(3):
        rid = store.save(result(i, 1000 + i))
        with open(log, "a") as f:
            f.write(rid + "\\n")
    orig = _runfile._put_mapping
    def slow(group, mapping, **kw):   # stall in the middle of the big run, after its 32 MB solution
        orig(group, mapping, **kw)
        open(marker, "w").close()
        time.sleep(120)
    _runfile._put_mapping = slow
    store.save(result(99, 4_000_000))
""")

LOOP_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import solvers
    path, log = sys.argv[1:3]
    store = solvers.RunStore(path, durable=False)
    i = 0
    while True:
        rid = store.save(solvers.SolveResult(np.full(200_000, float(i)), True, "converged", "", i,
                                             history={"residual": np.ones(i + 1)}, method="cg", backend="numpy"))
        with open(log, "a") as f:
            f.write(f"{rid} {i}\\n")
        i += 1
""")


def _child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("NEWTONKIT_NUM_THREADS", "1")
    return env


def _wait_for(pred, proc, timeout=60.0):
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read().decode()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.02)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
@pytest.mark.parametrize("name", ["runs.h5", "runs"])
def test_sigkill_mid_write_keeps_earlier_runs(tmp_path, name):
    """Both forms: the single file (runs in its sidecar until compaction) and the directory."""
    path, marker, log = tmp_path / name, tmp_path / "marker", tmp_path / "ids.txt"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(marker), str(log)],
                            env=_child_env(), stderr=subprocess.PIPE)
    _wait_for(marker.exists, proc)
    run_dir = path if name == "runs" else tmp_path / "runs.h5.d"
    before = {p.name: p.read_bytes() for p in run_dir.glob("*.h5")}
    size_before = path.stat().st_size if path.is_file() else None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    ids = log.read_text().split()
    assert len(ids) == 3
    # the files of the earlier runs were never touched again; no file of the killed run has a final name
    assert {p.name: p.read_bytes() for p in run_dir.glob("*.h5")} == before
    assert sorted(before) == sorted(f"{i}.h5" for i in ids)
    for rid in ids:
        with h5py.File(run_dir / f"{rid}.h5", "r") as f:  # every run file opens with plain h5py
            assert list(f["runs"]) == [rid]
    if size_before is not None:
        assert path.stat().st_size == size_before  # the store file itself was never written by a save
        with h5py.File(path, "r") as f:
            assert list(f["runs"]) == []
    leftovers = list(run_dir.glob(".*.tmp-*"))
    assert len(leftovers) == 1  # the half-written file of the killed writer
    with solvers.RunStore(path) as store:
        assert store.run_ids() == ids  # the partial run is absent
        for i, rid in enumerate(ids):
            r = store.load(rid)
            np.testing.assert_array_equal(r.x, np.random.default_rng(i).standard_normal(1000 + i))
            np.testing.assert_array_equal(r.history["residual"], np.geomspace(1, 1e-8, 10 + i))
            assert r.nit == i and r.options == {"i": i} and r.stats == {"time_s": 0.1 * i}
        store.save(make_result(0))  # the next writer removes the stale temporary file (its writer is dead)
        assert len(store) == 4
    assert not list(run_dir.glob(".*.tmp-*"))
    if size_before is not None:   # closing compacted the four runs into the file
        with h5py.File(path, "r") as f:
            in_file = sorted(f["runs"])
        assert len(in_file) == 4 and set(ids) <= set(in_file)
        assert not list(run_dir.glob("*.h5"))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
@pytest.mark.parametrize("name", ["runs.h5", "runs"])
def test_sigkill_at_random_moments(tmp_path, name):
    """Kill a writer that saves in a loop at arbitrary points (write, link, index append)."""
    path, log = tmp_path / name, tmp_path / "ids.txt"
    rng = np.random.default_rng(7)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", LOOP_CHILD, str(path), str(log)],
                                env=_child_env(), stderr=subprocess.PIPE)
        before = len(log.read_text().split("\n")) if log.exists() else 0
        _wait_for(lambda: log.exists() and len(log.read_text().split("\n")) > before + 2, proc)
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        lines = log.read_text().split("\n")[:-1]  # drop a line the kill may have cut short
        logged = dict(line.split() for line in lines)
        with solvers.RunStore(path, mode="r") as store:
            ids = store.run_ids()
            # every save that returned is there; beyond those, at most the one in flight per kill
            # (stored, but killed before it was logged)
            assert set(logged) <= set(ids) and 0 <= len(ids) - len(logged) <= attempt + 1
            for rid in list(logged)[-3:]:
                r = store.load(rid)
                i = int(logged[rid])
                np.testing.assert_array_equal(r.x, np.full(200_000, float(i)))
                assert r.history["residual"].shape == (i + 1,)


def test_concurrent_writers_serialise(tmp_path):
    path = tmp_path / "runs.h5"
    code = textwrap.dedent("""
        import sys, numpy as np, solvers
        store = solvers.RunStore(sys.argv[1], durable=False)
        w = int(sys.argv[2])
        for i in range(6):
            store.save(solvers.SolveResult(np.full(50_000, 10.0 * w + i), True, "converged", "", i,
                                           method="cg", backend="numpy"), tags={"w": w, "i": i})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(w)], env=_child_env(),
                              stderr=subprocess.PIPE) for w in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    with solvers.RunStore(path, mode="r") as store:
        rows = store.list()
        assert sorted((r["tags"]["w"], r["tags"]["i"]) for r in rows) == [(w, i) for w in range(2) for i in range(6)]
        for r in rows:
            np.testing.assert_array_equal(store.load(r["run_id"]).x, 10.0 * r["tags"]["w"] + r["tags"]["i"])


@pytest.mark.gpu
def test_cupy_result_is_stored_as_numpy(tmp_path):
    import cupy as cp

    res = SolveResult(cp.arange(4.0), True, "converged", "", 1, history={"residual": np.ones(2)},
                      method="cg", backend="cupy", f=cp.ones(3))
    with solvers.RunStore(tmp_path / "gpu.h5") as store:
        back = store.load(store.save(res))
    assert isinstance(back.x, np.ndarray)
    np.testing.assert_array_equal(back.x, np.arange(4.0))
    np.testing.assert_array_equal(back.f, np.ones(3))
    assert back.provenance["device"] not in ("", "unknown")


def test_symlink_and_permissions_survive_saves(tmp_path):
    real = tmp_path / "data" / "runs.h5"
    real.parent.mkdir()
    link = tmp_path / "link.h5"
    with solvers.RunStore(real) as s:
        first = s.save(make_result(0))
    os.chmod(real, 0o640)
    link.symlink_to(real)
    with solvers.RunStore(link) as s:
        second = s.save(make_result(1))
        assert s.run_ids() == [first, second]
    assert link.is_symlink() and (real.stat().st_mode & 0o777) == 0o640
    with solvers.RunStore(real, mode="r") as s:
        assert_same_result(s.load(second), make_result(1))


def test_resaving_a_loaded_run_keeps_its_provenance(tmp_path):
    res = make_result(2, f=np.ones(4))
    with solvers.RunStore(tmp_path / "a.h5") as a:
        first = a.load(a.save(res, problem=Problem(), tags={"origin": "a"}, seed=7))
    with solvers.RunStore(tmp_path / "b.h5") as b:
        copy = b.load(b.save(first, tags={"copied": True}))
    assert_same_result(copy, res)
    np.testing.assert_array_equal(copy.f, np.ones(4))
    assert copy.tags == {"origin": "a", "copied": True}
    assert copy.problem["kind"] == "poisson"
    same = {k: v for k, v in first.provenance.items() if k != "utc_saved"}
    assert {k: v for k, v in copy.provenance.items() if k != "utc_saved"} == same
    assert same["seed"] == 7 and "command" in same
