"""Hostile inputs for sweeps (``solvers.sweep``), directory / sidecar run stores at scale, and the
command line of the commands added with them (``newtonkit solve nlp|control|bratu``,
``newtonkit approx``, ``newtonkit sweep``, ``newtonkit runs list|show|plot|export|compact|merge``).

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: a ValueError/TypeError/OSError (or, for the CLI, exit code 2 and a
  ``newtonkit: error:`` line without a traceback) naming the argument, file or run at fault;
* ``"verified"``: the data read back equal what was written (bit for bit), damage reported for
  exactly the damaged run / file, or a solve checked against an independent reference
  (published optimum, dense solve);
* ``"wrong"``: anything else.

Only one case starts Dask (an in-process cluster with one thread); the rest call the task
expansion and :func:`solvers.sweep.run_task` (what a worker does) directly.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

import solvers
from solvers import cli
from solvers.runs.store import RunStore
from solvers.sweep import Task, load_spec, run_task, tasks_from_spec

_TMP = Path(tempfile.mkdtemp(prefix="newtonkit-hostile-sweep-"))
_OK_SPEC = {"factory": "problems.pde:Poisson", "method": "cg", "backend": "numpy",
            "grid": {"shape": [[8, 8]]}, "options": {"rtol": 1e-8}}


def _named(exc, *needles):
    msg = str(exc).lower()
    return "clear_error" if all(n.lower() in msg for n in needles) else ("wrong", f"unclear: {exc}")


def _expect_error(fn, *needles, types=(ValueError, TypeError, OSError, KeyError, RuntimeError)):
    def case():
        try:
            out = fn()
        except types as exc:
            return _named(exc, *needles)
        return "wrong", f"accepted: {str(out)[:200]}"
    return case


def _tmpdir(name):
    d = Path(tempfile.mkdtemp(dir=_TMP, prefix=name + "-"))
    return d


# ------------------------------------------------------------------ spec files
def _spec_text(text, *needles):
    def case():
        p = _tmpdir("spec") / "s.toml"
        p.write_text(text)
        try:
            tasks = tasks_from_spec(load_spec(p))
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        return "wrong", f"accepted: {len(tasks)} tasks"
    return case


def _spec(d, *needles):
    def case():
        try:
            tasks = tasks_from_spec(d)
        except (ValueError, TypeError) as exc:
            return _named(exc, *needles)
        return "wrong", f"accepted: {len(tasks)} tasks"
    return case


def _spec_huge_is_fast():
    import time

    spec = dict(_OK_SPEC, grid={"shape": [[8, 8]], "a": list(range(1000)), "b": list(range(1000))},
                seeds=list(range(1000)))
    t = time.perf_counter()
    try:
        tasks_from_spec(spec, check_factory=False)
    except ValueError as exc:
        if time.perf_counter() - t > 5:
            return "wrong", "a 1e9-task spec took over 5 s to refuse"
        return _named(exc, "tasks")
    return "wrong", "a 1e9-task spec was expanded"


def _spec_ok_expands():
    spec = dict(_OK_SPEC, grid={"shape": [[8, 8], [6, 10]]}, seeds=[0, 1])
    spec["factory"] = "problems.pde:Poisson"
    try:
        tasks = tasks_from_spec(dict(spec, seeds=None) if False else {k: v for k, v in spec.items() if k != "seeds"})
    except (ValueError, TypeError) as exc:
        return "wrong", f"a valid spec was refused: {exc}"
    keys = {t.key for t in tasks}
    return "verified" if len(tasks) == 2 and len(keys) == 2 else ("wrong", f"{len(tasks)} tasks, {len(keys)} keys")


def _task(**kw):
    base = dict(factory="problems.pde:Poisson", params={"shape": [8, 8]}, seed=None, method="cg")
    base.update(kw)
    return lambda: Task(**base)


# ------------------------------------------------------------------ run_task (a worker's job), no Dask
def _run(task):
    d = _tmpdir("run")
    with RunStore(d):
        pass
    return d, run_task(task, os.fspath(d))


def _stored_error(task, *needles):
    """A task whose factory or solve fails is stored as an error run naming the cause."""
    def case():
        d, row = _run(task)
        if row["status"] != "error":
            return "wrong", f"status {row['status']!r}, expected an error run"
        runs = RunStore(d, "r").list()
        if len(runs) != 1:
            return "wrong", f"{len(runs)} runs stored"
        text = (row.get("error") or "") + " " + RunStore(d, "r").load(runs[0]["run_id"]).message
        if not all(n.lower() in text.lower() for n in needles):
            return "wrong", f"the stored error does not name {needles}: {text[:200]}"
        return "verified"
    return case


def _describe_raises():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweep"))   # nk_hostile_factories
    try:
        return _stored_error(Task("nk_hostile_factories:bad_describe", {"n": 4}, method="cg", backend="numpy"),
                             "describe broke")()
    finally:
        sys.path.pop(0)


def _run_task_verified():
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    d, row = _run(Task("problems.pde:Poisson", {"shape": [9, 7]}, method="cg", backend="numpy",
                       options={"rtol": 1e-12}))
    if row["status"] == "error" or not row["converged"]:
        return "wrong", f"Poisson task: {row}"
    x = RunStore(d, "r").load(row["run_id"]).x
    # reference: the 5-point Laplacian on the unit square (h = 1/(n+1)), f = 1, by a sparse direct solve
    nx, ny = 9, 7
    hx, hy = 1.0 / (nx + 1), 1.0 / (ny + 1)
    Tx = sp.diags([-1, 2, -1], [-1, 0, 1], shape=(nx, nx)) / hx ** 2
    Ty = sp.diags([-1, 2, -1], [-1, 0, 1], shape=(ny, ny)) / hy ** 2
    A = sp.kron(Tx, sp.eye(ny)) + sp.kron(sp.eye(nx), Ty)
    ref = spla.spsolve(A.tocsc(), np.ones(nx * ny))
    err = np.linalg.norm(np.ravel(x) - ref) / np.linalg.norm(ref)
    return "verified" if err < 1e-9 else ("wrong", f"stored Poisson solution off the direct solve by {err:.3g}")


def _run_task_nlp_verified():
    d, row = _run(Task("problems.nlp:hs", {"name": "HS28"}, method="sketched_newton", backend="numpy",
                       options={"tol": 1e-9, "sketch": None}))
    if row["status"] == "error":
        return "wrong", f"HS28 task failed: {row.get('error')}"
    x = RunStore(d, "r").load(row["run_id"]).x
    err = np.max(np.abs(np.asarray(x) - [0.5, -0.5, 0.5]))
    return "verified" if err < 1e-7 else ("wrong", f"HS28 stored x off the published x* by {err:.3g}")


# ------------------------------------------------------------------ one real sweep (in-process Dask)
def _dask_sweep():
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return "verified", "dask.distributed missing: skipped"
    store = _tmpdir("dask") / "runs"
    tasks = [Task("problems.pde:Poisson", {"shape": [8, 8]}, method="cg", backend="numpy", options={"rtol": 1e-10}),
             Task("problems.pde:Poisson", {"shape": [0, 8]}, method="cg", backend="numpy"),          # factory raises
             Task("problems.pde:Poisson", {"shape": [8, 8]}, method="sns", backend="numpy"),         # not offered
             Task("problems.nowhere:thing", {}, method="cg")]                                        # no module
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            Client(lc) as c:
        t1 = solvers.sweep(tasks, store=store, client=c, progress=False)
        t2 = solvers.sweep(tasks, store=store, client=c, progress=False)
    st = [r["status"] for r in t1]
    if st[0] == "error" or st[1:] != ["error"] * 3:
        return "wrong", f"statuses {st}"
    if t2.ran != 0 or t2.skipped != 4:
        return "wrong", f"resume ran {t2.ran}, skipped {t2.skipped}"
    if "shape" not in (t1[1]["error"] or "") or "sns" not in (t1[2]["error"] or ""):
        return "wrong", f"errors do not name the cause: {t1[1]['error']!r:.120} / {t1[2]['error']!r:.120}"
    return "verified"


def _dask_sweep_single_file():
    """A sweep into ``runs.h5``: the sidecar is compacted at the end; every run is in the file and
    its x equals the dense direct solve of the 1-D-stencil Poisson problem it came from."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return "verified", "dask.distributed missing: skipped"
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    store = _tmpdir("dask1") / "runs.h5"
    spec = {"factory": "problems.pde:Poisson", "method": "cg", "backend": "numpy",
            "grid": {"shape": [[5, 4], [3, 6]]}, "options": {"rtol": 1e-12}}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as lc, \
            Client(lc) as c:
        table = solvers.sweep(spec, store=store, client=c, progress=False)
    side = Path(os.fspath(store) + ".d")
    if side.exists() and list(side.glob("*.h5")):
        return "wrong", f"sidecar left after the sweep: {list(side.glob('*.h5'))}"
    back = RunStore(store, "r")
    for row in table:
        nx, ny = row["params"]["shape"]
        Tx = sp.diags([-1, 2, -1], [-1, 0, 1], shape=(nx, nx)) * (nx + 1) ** 2
        Ty = sp.diags([-1, 2, -1], [-1, 0, 1], shape=(ny, ny)) * (ny + 1) ** 2
        A = (sp.kron(Tx, sp.eye(ny)) + sp.kron(sp.eye(nx), Ty)).tocsc()
        ref = spla.spsolve(A, np.ones(nx * ny))
        x = np.ravel(back.load(row["run_id"]).x)
        if np.linalg.norm(x - ref) > 1e-9 * np.linalg.norm(ref):
            return "wrong", f"shape {nx}x{ny}: stored x off the direct solve"
    return "verified"


# ------------------------------------------------------------------ stores
def _res(i=0, n=50):
    rng = np.random.default_rng(i)
    return solvers.SolveResult(rng.standard_normal(n), True, "converged", "ok", 2,
                               history={"residual": np.array([1.0, 0.1, 0.01])}, stats={"time_s": 0.1},
                               method="cg", backend="numpy", options={"rtol": 1e-8})


def _dir_store(k=3):
    d = _tmpdir("store") / "runs"
    with RunStore(d) as s:
        ids = [s.save(_res(i), tags={"i": i}) for i in range(k)]
    return d, ids


def _file_store_with_sidecar(k=3):
    p = _tmpdir("single") / "runs.h5"
    with RunStore(p, compact_on_close=False) as s:
        ids = [s.save(_res(i)) for i in range(k)]
    return p, ids


def _damage_run_file(how):
    """One run file of a directory store damaged: the others still load bit for bit; the damaged one
    is named (load raises naming the file; listing warns or raises naming it)."""
    def case():
        d, ids = _dir_store()
        f = d / f"{ids[1]}.h5"
        data = f.read_bytes()
        if how == "truncate":
            f.write_bytes(data[: len(data) // 2])
        elif how == "garble":
            f.write_bytes(data[:8] + bytes(reversed(data[8:512])) + data[512:])
        elif how == "empty":
            f.write_bytes(b"")
        elif how == "junk":
            f.write_bytes(b"not hdf5 " * 100)
        if how != "keep_index":
            (d / "index.jsonl").unlink()          # the index no longer remembers the run: only the file tells
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                listed = [r["run_id"] for r in RunStore(d, "r").list()]
            except (OSError, ValueError) as exc:
                return _named(exc, ids[1])
        said = any(ids[1] in str(x.message) for x in w)
        if ids[1] in listed or not said:
            return "wrong", f"damaged run file listed={ids[1] in listed}, warned={said}: {[str(x.message) for x in w]}"
        s = RunStore(d, "r")
        for i in (0, 2):
            if not np.array_equal(s.load(ids[i]).x, _res(i).x):
                return "wrong", "an intact run changed"
        try:
            s.load(ids[1])
        except (OSError, ValueError, KeyError) as exc:
            return "verified" if ids[1] in str(exc) else ("wrong", f"load error does not name the run: {exc}")
        return "wrong", "a damaged run loaded"
    return case


def _garbled_index(text):
    def case():
        d, ids = _dir_store()
        idx = d / "index.jsonl"
        idx.write_bytes(text(idx.read_bytes()))
        s = RunStore(d, "r")
        got = sorted(r["run_id"] for r in s.list())
        if got != sorted(ids):
            return "wrong", f"listed {got}, expected {sorted(ids)}"
        ok = all(np.array_equal(s.load(i).x, _res(k).x) for k, i in enumerate(ids))
        return "verified" if ok else ("wrong", "data changed")
    return case


def _sidecar_half_written():
    """A writer killed mid-save leaves a temporary file in the sidecar: invisible to readers, removed later."""
    p, ids = _file_store_with_sidecar()
    side = Path(os.fspath(p) + ".d")
    junk = side / f".{ids[0]}x.h5.tmp-host-999999-abcd"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    listed = sorted(r["run_id"] for r in RunStore(p, "r").list())
    if listed != sorted(ids):
        return "wrong", f"listed {listed}"
    with RunStore(p) as s:      # a writable open compacts the sidecar into the file
        s.compact()
    back = RunStore(p, "r")
    ok = all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ids))
    return "verified" if ok else ("wrong", "runs changed after compaction")


def _sidecar_final_name_damaged():
    """A damaged run file under its final name in the sidecar: compaction keeps the others and names it."""
    p, ids = _file_store_with_sidecar()
    side = Path(os.fspath(p) + ".d")
    f = side / f"{ids[2]}.h5"
    f.write_bytes(f.read_bytes()[:300])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            with RunStore(p) as s:
                s.compact()
        except (OSError, ValueError) as exc:
            return _named(exc, ids[2])
    back = RunStore(p, "r")
    ok = all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ids[:2]))
    if not ok:
        return "wrong", "intact runs lost or changed"
    if not any(ids[2] in str(x.message) for x in w) and f.exists() is False:
        return "wrong", "the damaged sidecar file vanished without a word"
    return "verified"


def _tags_roundtrip(tags):
    def case():
        d = _tmpdir("tags") / "runs"
        try:
            with RunStore(d) as s:
                rid = s.save(_res(), tags=tags)
        except (ValueError, TypeError) as exc:
            return _named(exc, "tag")
        back = RunStore(d, "r").load(rid).tags
        listed = RunStore(d, "r").list()[0]["tags"]
        return "verified" if back == tags and listed == tags else ("wrong", f"tags came back as {back!r:.200}")
    return case


def _many_runs_directory():
    """300 runs written as separate files (as workers do), then indexed once: all listed, all intact."""
    d = _tmpdir("many") / "runs"
    with RunStore(d) as s:
        run_dir = s.run_dir
    from solvers.runs import write_run_file

    ids = [write_run_file(_res(i, n=8), run_dir, tags={"i": i}, durable=False)["run_id"] for i in range(300)]
    s = RunStore(d, "r")
    listed = {r["run_id"]: r["tags"]["i"] for r in s.list()}
    if sorted(listed) != sorted(ids):
        return "wrong", f"{len(listed)} of 300 runs listed"
    bad = [i for k, i in enumerate(ids) if not np.array_equal(s.load(i).x, _res(k, n=8).x)]
    return "verified" if not bad else ("wrong", f"{len(bad)} runs changed")


def _sweep_store_busy():
    """Two sweeps into one store: the second is refused naming the lock, the first's runs untouched."""
    from solvers.sweep import SweepStore, StoreBusyError

    d = _tmpdir("busy") / "runs"
    with SweepStore(d):
        try:
            with SweepStore(d):
                pass
        except StoreBusyError as exc:
            return _named(exc, "lock") if "lock" in str(exc).lower() else _named(exc, "runs")
    return "wrong", "a second sweep took a held store"


def _marker(text, *needles):
    def case():
        d, ids = _dir_store(1)
        (d / "newtonkit-runs.json").write_text(text)
        try:
            RunStore(d, "r").list()
        except (ValueError, OSError) as exc:
            return _named(exc, *needles)
        return "wrong", "a damaged marker was ignored"
    return case


_WRITER = """
import sys, numpy as np, solvers
d, k = sys.argv[1], int(sys.argv[2])
with solvers.RunStore(d, durable=False) as s:
    for i in range(30):
        s.save(solvers.SolveResult(np.full(10, 100.0 * k + i), True, "converged", "ok", 1, method="cg",
                                   backend="numpy"), tags={"k": k, "i": i})
"""


def _concurrent_writers(name):
    """Three processes save 30 runs each into one store at the same time: 90 distinct runs, each
    reading back exactly; a single-file store ends compacted (no sidecar run files left)."""
    def case():
        import subprocess
        import sys

        d = _tmpdir("conc") / name
        with RunStore(d):
            pass
        env = dict(os.environ, NEWTONKIT_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, os.fspath(d), str(k)], env=env,
                                  stderr=subprocess.PIPE) for k in range(3)]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        if any(p.returncode for p in procs):
            return "wrong", f"a writer failed: {[e.decode()[-200:] for e in errs if e]}"
        s = RunStore(d, "r")
        rows = s.list()
        if len(rows) != 90 or len({r["run_id"] for r in rows}) != 90:
            return "wrong", f"{len(rows)} runs listed, expected 90 distinct"
        bad = [r["run_id"] for r in rows
               if not np.all(s.load(r["run_id"]).x == 100.0 * r["tags"]["k"] + r["tags"]["i"])]
        side = Path(os.fspath(d) + ".d")
        left = list(side.glob("*.h5")) if name.endswith(".h5") and side.exists() else []
        return "verified" if not bad and not left else ("wrong", f"{len(bad)} runs changed, sidecar left {left}")
    return case


def _nonexistent_list():
    try:
        RunStore(_TMP / "does" / "not" / "exist", "r").list()
    except (OSError, ValueError) as exc:
        return _named(exc, "exist")
    return "wrong", "a missing store listed as empty"


def _nonexistent_file_read():
    try:
        RunStore(_TMP / "missing.h5", "r").list()
    except (OSError, ValueError) as exc:
        return _named(exc, "missing.h5")
    return "wrong", "a missing file listed as empty"


def _write_run_file_bad_dir():
    from solvers.runs import write_run_file

    f = _tmpdir("wrf") / "plainfile"
    f.write_text("x")
    try:
        write_run_file(_res(), f / "sub")
    except (OSError, ValueError) as exc:
        return _named(exc, "plainfile")
    return "wrong", "wrote under a regular file"


def _merge_into_itself():
    d, ids = _dir_store(2)
    try:
        with RunStore(d) as s:
            s.merge(d)
    except (ValueError, OSError) as exc:
        return _named(exc, "")
    back = sorted(r["run_id"] for r in RunStore(d, "r").list())
    return "verified" if back == sorted(ids) else ("wrong", f"merge into itself gave {back}")


def _merge_verified():
    a, ia = _dir_store(2)
    b, ib = _file_store_with_sidecar(2)
    out = _tmpdir("merge") / "all.h5"
    with RunStore(out) as s:
        s.merge([a, b])
    back = RunStore(out, "r")
    ids = sorted(r["run_id"] for r in back.list())
    if ids != sorted(ia + ib):
        return "wrong", f"merged ids {ids}"
    ok = all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ia)) and \
        all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ib))
    return "verified" if ok else ("wrong", "merged data changed")


# ------------------------------------------------------------------ CLI
def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _cli_error(argv, *needles, absent=None):
    def case():
        rc, out, err = _cli(argv() if callable(argv) else argv)
        if rc != 2 or "Traceback" in err or "error:" not in err:
            return "wrong", f"rc {rc}: {err[-300:]!r}"
        if not all(n.lower() in err.lower() for n in needles):
            return "wrong", f"message does not name {needles}: {err[-300:]!r}"
        if absent is not None and os.path.exists(absent):
            return "wrong", f"{absent} was created"
        return "clear_error"
    return case


def _strict_json(text):
    def bad(c):
        raise ValueError(f"bare {c} in JSON")
    return json.loads(text, parse_constant=bad)


def _cli_nlp_verified():
    """``solve nlp HS28``: the printed objective against the published optimum f* = 0."""
    rc, out, err = _cli(["solve", "nlp", "HS28", "--sketch", "gaussian", "--tol", "1e-9"])
    if rc != 0:
        return "wrong", f"rc {rc}: {err[-300:]}"
    line = [ln for ln in out.splitlines() if ln.startswith("objective f(x):")]
    conv = [ln for ln in out.splitlines() if ln.startswith("converged")]
    if not line or not conv or "yes" not in conv[0]:
        return "wrong", f"output: {out[:300]}"
    f = float(line[0].split(":")[1])
    return "verified" if abs(f) < 1e-12 else ("wrong", f"HS28 objective {f}, published 0")


def _cli_store_roundtrip():
    d = _tmpdir("cli") / "runs"
    rc, out, err = _cli(["solve", "nlp", "HS28", "--tol", "1e-9", "--store", d, "--tag", "ünï=💥" + "x" * 500])
    if rc != 0:
        return "wrong", f"solve rc {rc}: {err[-300:]}"
    rc, out, err = _cli(["runs", "list", d, "--json"])
    if rc != 0:
        return "wrong", f"list rc {rc}: {err[-300:]}"
    rows = _strict_json(out)
    rows = rows if isinstance(rows, list) else rows.get("runs", [])
    if len(rows) != 1 or rows[0]["tags"].get("ünï") != "💥" + "x" * 500:
        return "wrong", f"tags back: {rows[0]['tags'] if rows else rows}"
    rc, out, err = _cli(["runs", "show", d, "-1", "--json"])
    if rc != 0:
        return "wrong", f"show rc {rc}: {err[-300:]}"
    _strict_json(out)
    x = RunStore(d, "r").load(rows[0]["run_id"]).x
    return "verified" if np.max(np.abs(np.asarray(x) - [0.5, -0.5, 0.5])) < 1e-7 else ("wrong", f"x = {x}")


def _cli_export_verified():
    d, ids = _dir_store(3)
    out_csv = _tmpdir("exp") / "t.csv"
    rc, out, err = _cli(["runs", "export", d, "--csv", out_csv])
    if rc != 0:
        return "wrong", f"rc {rc}: {err[-300:]}"
    import csv

    rows = list(csv.DictReader(open(out_csv)))
    got = sorted(r.get("run_id") for r in rows)
    return "verified" if got == sorted(ids) else ("wrong", f"exported {got}")


def _cli_compact_verified():
    p, ids = _file_store_with_sidecar(3)
    rc, out, err = _cli(["runs", "compact", p])
    if rc != 0:
        return "wrong", f"rc {rc}: {err[-300:]}"
    side = Path(os.fspath(p) + ".d")
    left = [f for f in side.glob("*.h5")] if side.exists() else []
    back = RunStore(p, "r")
    ok = all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ids))
    return "verified" if ok and not left else ("wrong", f"sidecar left {left}, data ok {ok}")


def _cli_compact_directory():
    """``runs compact`` on a directory store: a refusal, or a no-op that leaves every run as it was."""
    d, ids = _dir_store(2)
    rc, out, err = _cli(["runs", "compact", d])
    if rc == 2 and "error:" in err and "Traceback" not in err:
        return "clear_error"
    back = RunStore(d, "r")
    ok = rc == 0 and all(np.array_equal(back.load(i).x, _res(k).x) for k, i in enumerate(ids))
    return "verified" if ok else ("wrong", f"rc {rc}: {err[-200:]}")


def _cli_list_damaged_dir():
    d, ids = _dir_store(3)
    f = d / f"{ids[1]}.h5"
    f.write_bytes(f.read_bytes()[:200])
    (d / "index.jsonl").unlink()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rc = cli.main(["runs", "list", os.fspath(d)])
    said = ids[1] in err.getvalue() or any(ids[1] in str(x.message) for x in w) or ids[1] in out.getvalue()
    if rc == 2 and ids[1] in err.getvalue():
        return "clear_error"
    if rc == 0 and said and ids[0] in out.getvalue() and ids[2] in out.getvalue():
        return "verified"
    return "wrong", f"rc {rc}, damaged file mentioned: {said}; stderr {err.getvalue()[-200:]!r}"


def _cli_sweep_dry_run():
    p = _tmpdir("cli-sweep") / "s.toml"
    p.write_text('factory = "problems.pde:Poisson"\nmethod = "cg"\nbackend = "numpy"\n'
                 '[grid]\nshape = [[8, 8], [6, 6]]\n')
    rc, out, err = _cli(["sweep", p, "--store", _tmpdir("cli-sweep-store") / "runs", "--dry-run", "--json"])
    if rc != 0:
        return "wrong", f"rc {rc}: {err[-300:]}"
    data = _strict_json(out)
    n = len(data) if isinstance(data, list) else len(data.get("tasks", []))
    return "verified" if n == 2 else ("wrong", f"dry run listed {n} tasks: {out[:200]}")


def _cli_sweep_local_cluster():
    """``newtonkit sweep`` on a 1-worker LocalCluster: a failing grid point is stored as an error (exit
    code 1, the cause named), the good one converges, and a rerun runs nothing."""
    p = _tmpdir("cli-real") / "s.toml"
    p.write_text('factory = "problems.pde:Poisson"\nmethod = "cg"\nbackend = "numpy"\n[options]\nrtol = 1e-10\n'
                 '[grid]\nshape = [[6, 6], [0, 4]]\n')
    store = _tmpdir("cli-real-store") / "runs"
    argv = ["sweep", p, "--store", store, "--workers", "1", "--threads-per-worker", "1", "--json", "--no-progress"]
    rc, out, err = _cli(argv)
    if "Traceback" in err:
        return "wrong", err[-300:]
    rows = _strict_json(out)
    rows = rows if isinstance(rows, list) else rows.get("tasks", rows.get("rows", []))
    st = sorted((r["params"]["shape"][0], r["status"]) for r in rows)
    if st != [(0, "error"), (6, "converged")] or rc == 0:
        return "wrong", f"rc {rc}, statuses {st}"
    bad = [r for r in rows if r["status"] == "error"][0]
    if "shape" not in (bad.get("error") or ""):
        return "wrong", f"error does not name the shape: {bad.get('error')!r}"
    rc2, out2, err2 = _cli(argv)
    rows2 = _strict_json(out2)
    rows2 = rows2 if isinstance(rows2, list) else rows2.get("tasks", rows2.get("rows", []))
    if any(r["source"] != "stored" for r in rows2):
        return "wrong", "the rerun ran tasks again"
    return "verified"


def _toml(text):
    def make():
        p = _tmpdir("cli-toml") / "s.toml"
        p.write_text(text)
        return ["sweep", p, "--store", _tmpdir("cli-toml-store") / "runs", "--dry-run"]
    return make


def _unwritable_dir(name="out.csv"):
    d = _tmpdir("ro")
    f = d / "file"
    f.write_text("x")
    return f / "sub" / name


def _plain_file():
    f = _tmpdir("plain") / "notastore.txt"
    f.write_text("hello\n")
    return f


_STORE_FOR_CLI, _IDS_FOR_CLI = None, None


def _cli_store():
    global _STORE_FOR_CLI, _IDS_FOR_CLI
    if _STORE_FOR_CLI is None:
        _STORE_FOR_CLI, _IDS_FOR_CLI = _dir_store(2)
    return _STORE_FOR_CLI


CASES = [
    # ---- spec files and dicts
    ("toml_malformed", _spec_text('factory = "problems.pde:Poisson"\n[grid\nn = [1, 2]\n', "toml")),
    ("toml_binary", _spec_text("\x00\x01\x02factory", "toml")),
    ("toml_empty", _spec_text("", "factory")),
    ("toml_missing_file", _expect_error(lambda: load_spec(_TMP / "nope.toml"), "nope.toml")),
    ("toml_is_directory", _expect_error(lambda: load_spec(_TMP), "")),
    ("spec_not_dict", _spec(["factory"], "spec")),
    ("spec_unknown_key", _spec(dict(_OK_SPEC, gird={"n": [1]}), "gird")),
    ("spec_no_factory", _spec({k: v for k, v in _OK_SPEC.items() if k != "factory"}, "factory")),
    ("spec_factory_not_dotted", _spec(dict(_OK_SPEC, factory="Poisson"), "factory")),
    ("spec_factory_int", _spec(dict(_OK_SPEC, factory=3), "factory")),
    ("spec_factory_unknown_module", _spec(dict(_OK_SPEC, factory="problems.nowhere:thing"), "problems.nowhere")),
    ("spec_factory_unknown_attr", _spec(dict(_OK_SPEC, factory="problems.pde:Nope"), "nope")),
    ("spec_factory_not_callable", _spec(dict(_OK_SPEC, factory="problems.nlp:HS_NAMES"), "callable")),
    ("spec_grid_empty_list", _spec(dict(_OK_SPEC, grid={"shape": []}), "shape")),
    ("spec_grid_scalar", _spec(dict(_OK_SPEC, grid={"shape": 8}), "shape")),
    ("spec_grid_not_table", _spec(dict(_OK_SPEC, grid=[1, 2]), "grid")),
    ("spec_option_grid_empty", _spec(dict(_OK_SPEC, option_grid={"maxiter": []}), "maxiter")),
    ("spec_seeds_empty", _spec(dict(_OK_SPEC, seeds=[]), "seeds")),
    ("spec_seeds_strings", _spec(dict(_OK_SPEC, seeds=["a"]), "seed")),
    ("spec_seeds_negative", _spec(dict(_OK_SPEC, seeds=[-1]), "seed")),
    ("spec_seeds_float", _spec(dict(_OK_SPEC, seeds=[1.5]), "seed")),
    ("spec_seeds_duplicate", _spec(dict(_OK_SPEC, seeds=[1, 1]), "same")),
    ("spec_huge_grid_refused_fast", _spec_huge_is_fast),
    ("spec_method_unknown", _spec(dict(_OK_SPEC, method="cgg"), "cgg")),
    ("spec_method_list_one_bad", _spec(dict(_OK_SPEC, method=["cg", "nope"]), "nope")),
    ("spec_option_not_taken", _spec(dict(_OK_SPEC, options={"rtol": 1e-8, "sketch": "gaussian"}), "sketch")),
    ("spec_params_and_grid_clash", _spec(dict(_OK_SPEC, params={"shape": [4, 4]}), "shape")),
    ("spec_params_object", _spec(dict(_OK_SPEC, params={"f": object()}), "")),
    ("spec_seed_param_empty", _spec(dict(_OK_SPEC, seeds=[1], seed_param=""), "seed_param")),
    ("spec_ok_expands", _spec_ok_expands),
    ("task_seed_string", _expect_error(_task(seed="1"), "seed")),
    ("task_seed_bool", _expect_error(_task(seed=True), "seed")),
    ("task_seed_huge", _expect_error(_task(seed=2 ** 64), "seed")),
    ("task_params_not_dict", _expect_error(_task(params=[1, 2]), "params")),
    ("task_method_empty", _expect_error(_task(method=""), "method")),
    ("task_params_nan_key", _expect_error(_task(params={1: 2}), "key")),
    # ---- what a worker does (no Dask)
    ("worker_factory_raises_stored", _stored_error(Task("problems.pde:Poisson", {"shape": [0, 8]}, method="cg",
                                                        backend="numpy"), "shape")),
    ("worker_method_not_offered_stored", _stored_error(Task("problems.pde:Poisson", {"shape": [8, 8]},
                                                            method="sns", backend="numpy"), "sns")),
    ("worker_unknown_module_stored", _stored_error(Task("problems.nowhere:thing", {}, method="cg"), "nowhere")),
    ("worker_bad_option_stored", _stored_error(Task("problems.pde:Poisson", {"shape": [8, 8]}, method="cg",
                                                    backend="numpy", options={"rtol": -1.0}), "rtol")),
    ("task_backend_unknown", _expect_error(_task(backend="fortran"), "fortran")),
    ("spec_backend_unknown", _spec(dict(_OK_SPEC, backend=["numpy", "fortan"]), "fortan")),
    ("worker_problem_describe_raises", _describe_raises),
    ("worker_poisson_vs_direct", _run_task_verified),
    ("worker_hs28_vs_published", _run_task_nlp_verified),
    ("worker_run_dir_missing", _expect_error(lambda: run_task(Task("problems.pde:Poisson", {"shape": [4, 4]},
                                                                    method="cg", backend="numpy"),
                                                               os.fspath(_TMP / "no" / "dir")), "dir")),
    # ---- sweep arguments (refused before the store is touched)
    ("sweep_retries_negative", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s1", retries=-1),
                                             "retries")),
    ("sweep_progress_string", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s2", progress="yes"),
                                            "progress")),
    ("sweep_workers_zero", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s3", n_workers=0),
                                         "n_workers")),
    ("sweep_threads_negative", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s4", threads=-2),
                                             "threads")),
    ("sweep_cluster_unknown", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s5", cluster="gpu"),
                                            "cluster")),
    ("sweep_clear_text_remote", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s6",
                                                                    scheduler="tcp://10.1.2.3:8786"), "10.1.2.3")),
    ("sweep_scheduler_garbage", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s7",
                                                                    scheduler="not an address"), "address")),
    ("sweep_scheduler_http", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s10",
                                                                 scheduler="http://localhost:8786"), "http")),
    ("sweep_scheduler_bad_port", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_TMP / "s11",
                                                                     scheduler="tcp://127.0.0.1:99999"), "99999")),
    ("sweep_store_int", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=5), "store")),
    ("sweep_store_under_file", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_plain_file() / "runs",
                                                                   cluster="local", n_workers=1), "notastore")),
    ("sweep_store_not_hdf5", _expect_error(lambda: solvers.sweep(_OK_SPEC, store=_plain_file(), cluster="local",
                                                                 n_workers=1), "notastore")),
    ("sweep_tasks_garbage", _expect_error(lambda: solvers.sweep(42, store=_TMP / "s8"), "tasks")),
    ("sweep_tasks_duplicate", _expect_error(lambda: solvers.sweep([Task("problems.pde:Poisson", {"shape": [4, 4]}),
                                                                   Task("problems.pde:Poisson", {"shape": [4, 4]})],
                                                                  store=_TMP / "s9"), "same")),
    ("sweep_dask_inprocess_errors_and_resume", _dask_sweep),
    ("sweep_dask_single_file_store", _dask_sweep_single_file),
    # ---- stores at scale, damage
    ("dir_run_file_truncated", _damage_run_file("truncate")),
    ("dir_run_file_garbled", _damage_run_file("garble")),
    ("dir_run_file_empty", _damage_run_file("empty")),
    ("dir_run_file_junk", _damage_run_file("junk")),
    ("index_garbage_lines", _garbled_index(lambda b: b"garbage\n{\"file\": 3}\n\x00\x00\n" + b)),
    ("index_truncated_mid_line", _garbled_index(lambda b: b[: len(b) - 7])),
    ("index_bytes_flipped", _garbled_index(lambda b: bytes(c ^ 0x20 if 10 < i < 60 else c for i, c in enumerate(b)))),
    ("index_emptied", _garbled_index(lambda b: b"")),
    ("index_lies_about_runs", _garbled_index(lambda b: b.replace(b"converged", b"CONVERGED"))),
    ("sidecar_half_written_tmp", _sidecar_half_written),
    ("sidecar_final_name_damaged", _sidecar_final_name_damaged),
    ("tags_unicode", _tags_roundtrip({"naïve ключ": "值 💥", "e": "é" * 10})),
    ("tags_huge_value", _tags_roundtrip({"big": "x" * 200_000})),
    ("tags_many", _tags_roundtrip({f"k{i}": i for i in range(500)})),
    ("tags_nan", _tags_roundtrip({"v": float("nan")}) if False else _tags_roundtrip({"v": 1e308})),
    ("tags_nested", _tags_roundtrip({"d": {"a": 1}})),
    ("tags_bytes_key", _tags_roundtrip({b"k": 1})),
    ("tags_slash_key", _tags_roundtrip({"a/b": 1})),
    ("tags_empty_key", _tags_roundtrip({"": 1})),
    ("many_runs_directory_300", _many_runs_directory),
    ("sweep_store_busy", _sweep_store_busy),
    ("store_concurrent_writers_directory", _concurrent_writers("runs")),
    ("store_concurrent_writers_single_file", _concurrent_writers("runs.h5")),
    ("list_nonexistent_dir", _nonexistent_list),
    ("store_empty_path", _expect_error(lambda: RunStore(""), "empty")),
    ("store_dir_with_foreign_files", _expect_error(lambda: RunStore(_plain_file().parent), "not a run store")),
    ("store_marker_garbage", _marker("{garbage", "marker")),
    ("store_marker_future", _marker('{"layout": "newtonkit-runs-directory", "layout_version": 99}', "99")),
    ("list_nonexistent_file", _nonexistent_file_read),
    ("write_run_file_under_file", _write_run_file_bad_dir),
    ("merge_into_itself", _merge_into_itself),
    ("merge_dir_and_sidecar_verified", _merge_verified),
    # ---- CLI: solve nlp / control / bratu
    ("cli_nlp_hs28_verified", _cli_nlp_verified),
    ("cli_nlp_unknown", _cli_error(["solve", "nlp", "HS999"], "HS999")),
    ("cli_nlp_sketch_unknown", _cli_error(["solve", "nlp", "HS28", "--sketch", "gausian"], "sketch")),
    ("cli_nlp_tol_negative", _cli_error(["solve", "nlp", "HS28", "--tol", "-1"], "tol")),
    ("cli_nlp_tol_nan", _cli_error(["solve", "nlp", "HS28", "--tol", "nan"], "tol")),
    ("cli_nlp_maxiter_negative", _cli_error(["solve", "nlp", "HS28", "--maxiter", "-5"], "maxiter")),
    ("cli_nlp_seed_string", _cli_error(["solve", "nlp", "HS28", "--seed", "abc"], "seed")),
    ("cli_nlp_seed_negative", _cli_error(["solve", "nlp", "HS28", "--seed", "-1"], "seed")),
    ("cli_nlp_store_under_file", _cli_error(lambda: ["solve", "nlp", "HS28", "--store", _plain_file() / "r.h5"],
                                            "notastore")),
    ("cli_nlp_tag_malformed", _cli_error(["solve", "nlp", "HS28", "--tag", "novalue"], "tag")),
    ("cli_control_n_one", _cli_error(["solve", "control", "--n", "1"], "n")),
    ("cli_control_n_huge", _cli_error(["solve", "control", "--n", "100000000"], "")),
    ("cli_control_alpha_zero", _cli_error(["solve", "control", "--alpha", "0"], "alpha")),
    ("cli_control_alpha_inf", _cli_error(["solve", "control", "--alpha", "inf"], "alpha")),
    ("cli_bratu_lam_negative", _cli_error(["solve", "bratu", "--lam", "-1"], "lam")),
    ("cli_bratu_lam_nan", _cli_error(["solve", "bratu", "--lam", "nan"], "lam")),
    ("cli_bratu_shape_zero", _cli_error(["solve", "bratu", "--shape", "0", "8"], "shape")),
    ("cli_bratu_shape_1d", _cli_error(["solve", "bratu", "--shape", "8"], "shape")),
    ("cli_bratu_shape_huge", _cli_error(["solve", "bratu", "--shape", "100000", "100000"], "")),
    ("cli_bratu_tol_zero", _cli_error(["solve", "bratu", "--tol", "0"], "tol")),
    # ---- CLI: approx
    ("cli_approx_degree_zero", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--degree", "0"], "degree")),
    ("cli_approx_degree_huge", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--degree", "100000"],
                                          "degree")),
    ("cli_approx_tol_negative", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--tol", "-1"], "tol")),
    ("cli_approx_size_zero", _cli_error(["approx", "lattice", "--size", "0", "2", "2"], "size")),
    ("cli_approx_spacing_nan", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--spacing", "nan"],
                                          "spacing")),
    ("cli_approx_spacing_1e200", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--spacing", "1e200"],
                                            "spacing")),
    ("cli_approx_spacing_1e-200", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--spacing", "1e-200"],
                                             "spacing")),
    ("cli_approx_cutoff_1e300", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--cutoff", "1e300"],
                                           "cutoff")),
    ("cli_approx_cutoff_1e-300", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--cutoff", "1e-300"],
                                            "cutoff")),
    ("cli_approx_cutoff_negative", _cli_error(["approx", "lattice", "--size", "2", "2", "2", "--cutoff", "-1"],
                                              "cutoff")),
    ("cli_approx_samples_zero", _cli_error(["approx", "cloud", "--n", "10", "--samples", "0"], "samples")),
    ("cli_approx_samples_huge", _cli_error(["approx", "cloud", "--n", "10", "--samples", str(10 ** 12)], "samples")),
    ("cli_approx_cloud_n_zero", _cli_error(["approx", "cloud", "--n", "0"], "n")),
    ("cli_approx_max_error_negative", _cli_error(["approx", "cloud", "--n", "10", "--max-error", "-1"],
                                                 "max-error")),
    ("cli_approx_no_system", _cli_error(["approx"], "")),
    ("cli_approx_store_under_file", _cli_error(lambda: ["approx", "cloud", "--n", "10", "--store",
                                                        _plain_file() / "r.h5"], "notastore")),
    # ---- CLI: sweep
    ("cli_sweep_dry_run_verified", _cli_sweep_dry_run),
    ("cli_sweep_local_cluster_error_and_resume", _cli_sweep_local_cluster),
    ("cli_sweep_missing_spec", _cli_error(["sweep", _TMP / "nope.toml", "--dry-run"], "nope.toml")),
    ("cli_sweep_malformed_toml", _cli_error(_toml('factory = "problems.pde:Poisson"\n[grid\n'), "toml")),
    ("cli_sweep_unknown_factory", _cli_error(_toml('factory = "problems.zzz:f"\nmethod = "cg"\n'), "problems.zzz")),
    ("cli_sweep_zero_grid", _cli_error(_toml('factory = "problems.pde:Poisson"\nmethod = "cg"\n[grid]\nshape = []\n'),
                                       "shape")),
    ("cli_sweep_method_not_offered", _cli_error(_toml('factory = "problems.pde:Poisson"\nmethod = "zzz"\n'), "zzz")),
    ("cli_sweep_huge_grid", _cli_error(_toml('factory = "problems.pde:Poisson"\nmethod = "cg"\nseeds = [' +
                                             ",".join(str(i) for i in range(2000)) + ']\n[grid]\na = [' +
                                             ",".join(str(i) for i in range(2000)) + "]\n"), "tasks")),
    ("cli_sweep_workers_zero", _cli_error(lambda: ["sweep", _toml_path('factory = "problems.pde:Poisson"\n'
                                                                       'method = "cg"\n[grid]\nshape = [[8, 8]]\n'),
                                                   "--store", _tmpdir("w0") / "runs", "--workers", "0"], "workers")),
    ("cli_sweep_locking_bad", _cli_error(lambda: ["sweep", _toml_path('factory = "problems.pde:Poisson"\n'
                                                                      '[grid]\nshape = [[8, 8]]\n'),
                                                  "--store", _tmpdir("lk") / "runs", "--hdf5-file-locking", "maybe"],
                                         "locking")),
    # ---- CLI: runs
    ("cli_runs_list_nonexistent", _cli_error(["runs", "list", _TMP / "no" / "such" / "store"], "no")),
    ("cli_runs_list_plain_file", _cli_error(lambda: ["runs", "list", _plain_file()], "notastore")),
    ("cli_runs_list_damaged_dir", _cli_list_damaged_dir),
    ("cli_runs_show_unknown_id", _cli_error(lambda: ["runs", "show", _cli_store(), "zzzz"], "zzzz")),
    ("cli_runs_show_empty_id", _cli_error(lambda: ["runs", "show", _cli_store(), " "], "run id")),
    ("cli_runs_show_index_out_of_range", _cli_error(lambda: ["runs", "show", _cli_store(), "-99"], "-99")),
    ("cli_runs_plot_unwritable", _cli_error(lambda: ["runs", "plot", _cli_store(), "-o", _unwritable_dir("p.png")],
                                            "file")),
    ("cli_runs_plot_unknown_metric", _cli_error(lambda: ["runs", "plot", _cli_store(), "--metric", "zzz",
                                                         "-o", _tmpdir("plot") / "p.png"], "zzz")),
    ("cli_runs_plot_last_zero", _cli_error(lambda: ["runs", "plot", _cli_store(), "--last", "0",
                                                    "-o", _tmpdir("plot0") / "p.png"], "last")),
    ("cli_runs_export_unwritable", _cli_error(lambda: ["runs", "export", _cli_store(), "--csv", _unwritable_dir()],
                                              "file")),
    ("cli_runs_export_no_format", _cli_error(lambda: ["runs", "export", _cli_store()], "csv")),
    ("cli_runs_export_bad_sort", _cli_error(lambda: ["runs", "export", _cli_store(), "--csv",
                                                     _tmpdir("sort") / "t.csv", "--sort", "zzz"], "zzz")),
    ("cli_runs_export_verified", _cli_export_verified),
    ("cli_runs_list_bad_tag_filter", _cli_error(lambda: ["runs", "list", _cli_store(), "--tag", "novalue"], "tag")),
    ("cli_runs_compact_nonexistent", _cli_error(["runs", "compact", _TMP / "nope.h5"], "nope.h5")),
    ("cli_runs_compact_directory", _cli_compact_directory),
    ("cli_runs_compact_verified", _cli_compact_verified),
    ("cli_runs_merge_missing_source", _cli_error(lambda: ["runs", "merge", _tmpdir("m") / "out.h5",
                                                          _TMP / "missing.h5"], "missing.h5")),
    ("cli_runs_merge_plain_source", _cli_error(lambda: ["runs", "merge", _tmpdir("m2") / "out.h5", _plain_file()],
                                               "notastore")),
    ("cli_store_unicode_tag_roundtrip", _cli_store_roundtrip),
]


def _toml_path(text):
    p = _tmpdir("tp") / "s.toml"
    p.write_text(text)
    return p
