"""The run browser (issue 10): ``newtonkit runs list/plot/export/compact`` filters and sorting,
``RunStore.table``, on single-file and directory stores."""
import csv
import json
import sys

import numpy as np
import pytest

import solvers
from solvers import cli
from solvers.runs import RunStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Toy:
    def __init__(self, name):
        self.name = name

    def describe(self):
        return {"problem": self.name}


def res(i, method):
    conv = i % 3 != 0
    return solvers.SolveResult(np.arange(4.0) + i, conv, "converged" if conv else "maxiter", "", 3 + i,
                               history={"residual": np.geomspace(1.0, 10.0 ** -(i + 1), 4 + i),
                                        "objective": np.linspace(5.0, 1.0 + i, 4 + i)},
                               stats={"time_s": 0.25 * (6 - i)}, method=method, backend="numpy")


@pytest.fixture(params=["runs.h5", "runs"])
def store(tmp_path, request):
    """Six runs: i = 0..5, cg for even i, gmres for odd; problem A for i < 3, B after; i % 3 == 0 fails."""
    p = tmp_path / request.param
    with RunStore(p) as s:
        ids = [s.save(res(i, "cg" if i % 2 == 0 else "gmres"), problem=Toy("A" if i < 3 else "B"),
                      tags={"i": i, "grp": "a" if i < 3 else "b"}) for i in range(6)]
    return p, ids


def _json(capsys, argv):
    assert cli.main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_filters_and_sort(store, capsys):
    p, ids = store
    rows = _json(capsys, ["runs", "list", str(p), "--json"])
    assert [r["run_id"] for r in rows] == ids and rows[4]["problem"] == "B"
    pick = lambda argv: [ids.index(r["run_id"]) for r in _json(capsys, ["runs", "list", str(p), "--json", *argv])]
    assert pick(["--method", "cg"]) == [0, 2, 4]
    assert pick(["--method", "cg", "--method", "gmres"]) == list(range(6))
    assert pick(["--problem", "B"]) == [3, 4, 5]
    assert pick(["--status", "maxiter"]) == [0, 3]
    assert pick(["--failed"]) == [0, 3] and pick(["--converged"]) == [1, 2, 4, 5]
    assert pick(["--tag", "grp=a"]) == [0, 1, 2]
    assert pick(["--tag", "grp=b", "--tag", "i=4"]) == [4]
    assert pick(["--tag", "i=4.0"]) == [4]                 # numeric tags compare as numbers
    assert pick(["--backend", "cupy"]) == []
    assert pick(["--sort", "time_s"]) == [5, 4, 3, 2, 1, 0]
    assert pick(["--sort", "nit", "--reverse"]) == [5, 4, 3, 2, 1, 0]
    assert pick(["--sort", "residual"]) == [5, 4, 3, 2, 1, 0]       # the final residual
    assert pick(["--sort", "objective", "--reverse"]) == [5, 4, 3, 2, 1, 0]
    assert pick(["--reverse"]) == [5, 4, 3, 2, 1, 0]
    assert pick(["--sort", "grp", "--method", "gmres"]) == [1, 3, 5]   # a tag key
    # the table form: problem column, and the count
    assert cli.main(["runs", "list", str(p), "--problem", "A", "--method", "gmres"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].split()[:4] == ["run", "id", "created", "(UTC)"] and "problem" in out[0]
    assert out[2].split()[0] == ids[1] and out[-1] == "1 runs"
    assert cli.main(["runs", "list", str(p), "--method", "nope"]) == 0
    assert "no completed runs match the filters" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [(["--sort", "nosuch"], "cannot sort by 'nosuch'"),
                                           (["--tag", "novalue"], "key=value"),
                                           (["--converged", "--failed"], "not allowed")])
def test_list_usage_errors(store, capsys, argv, message):
    p, _ = store
    assert cli.main(["runs", "list", str(p), *argv]) == 2
    assert message in capsys.readouterr().err


def test_show_on_both_forms(store, capsys):
    p, ids = store
    info = _json(capsys, ["runs", "show", str(p), ids[4][:24], "--json"])
    assert info["run_id"] == ids[4] and info["problem"]["problem"] == "B" and info["nit"] == 7
    assert info["tags"] == {"i": 4, "grp": "b"}


def test_export_csv_content(store, tmp_path, capsys):
    p, ids = store
    out = tmp_path / "runs.csv"
    assert cli.main(["runs", "export", str(p), "--csv", str(out), "--method", "cg", "--sort", "nit",
                     "--reverse"]) == 0
    assert "wrote" in capsys.readouterr().out
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run_id"] for r in rows] == [ids[4], ids[2], ids[0]]
    assert list(rows[0])[:9] == ["run_id", "created", "problem", "method", "backend", "status", "converged", "nit",
                                 "time_s"]
    for r in rows:
        i = ids.index(r["run_id"])
        ref = res(i, "cg")
        assert r["method"] == "cg" and r["problem"] == ("A" if i < 3 else "B")
        assert r["converged"] == str(ref.converged) and r["status"] == ref.status and int(r["nit"]) == ref.nit
        assert float(r["time_s"]) == ref.stats["time_s"]
        assert float(r["final_residual"]) == ref.history["residual"][-1]
        assert float(r["final_objective"]) == ref.history["objective"][-1]
        assert r["tag_i"] == str(i) and r["tag_grp"] == ("a" if i < 3 else "b")


def test_export_parquet_needs_pyarrow(store, tmp_path, capsys, monkeypatch):
    p, _ = store
    monkeypatch.setitem(sys.modules, "pyarrow", None)      # as if it were not installed
    assert cli.main(["runs", "export", str(p), "--parquet", str(tmp_path / "r.parquet")]) == 2
    assert "pip install pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "r.parquet").exists()
    assert cli.main(["runs", "export", str(p)]) == 2


def test_plot_by_group(store, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    p, ids = store
    out = tmp_path / "by.png"
    assert cli.main(["runs", "plot", str(p), "--metric", "residual", "--by", "method", "-o", str(out)]) == 0
    assert "(6 runs)" in capsys.readouterr().out and out.read_bytes()[:8] == PNG_MAGIC
    assert cli.main(["runs", "plot", str(p), "--metric", "objective", "--by", "tag:grp", "--problem", "B",
                     "-o", str(out)]) == 0
    assert "(3 runs)" in capsys.readouterr().out
    assert cli.main(["runs", "plot", str(p), "--by", "colour", "-o", str(out)]) == 2
    assert "--by colour" in capsys.readouterr().err
    assert cli.main(["runs", "plot", str(p), "--method", "nope", "-o", str(out)]) == 2
    assert "match the filters" in capsys.readouterr().err


def test_plot_named_runs_keeps_those_passing_the_filters(store, tmp_path, capsys):
    """Run ids with filter flags plot the named runs that pass the filters (the flags were ignored; helper-103)."""
    pytest.importorskip("matplotlib")
    p, ids = store
    out = tmp_path / "named.png"
    assert cli.main(["runs", "plot", str(p), ids[0], ids[1], ids[4], "-o", str(out)]) == 0
    assert "(3 runs)" in capsys.readouterr().out
    assert cli.main(["runs", "plot", str(p), ids[0], ids[1], ids[4], "--method", "cg", "-o", str(out)]) == 0
    assert "(2 runs)" in capsys.readouterr().out                   # ids 0 and 4 are cg, 1 is gmres
    assert cli.main(["runs", "plot", str(p), ids[1], "--method", "cg", "-o", str(out)]) == 2
    assert "match the filters" in capsys.readouterr().err


def test_plot_by_group_draws_one_colour_per_group(tmp_path):
    pytest.importorskip("matplotlib")
    from solvers.runs import _plot

    import matplotlib.axes

    seen = {}

    orig = matplotlib.axes.Axes.semilogy

    def spy(self, *a, **kw):
        seen.setdefault(kw.get("color"), []).append(kw.get("label"))
        return orig(self, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(matplotlib.axes.Axes, "semilogy", spy)
    try:
        assert _plot.plot_groups([("cg", [1, 0.1]), ("gmres", [1, 0.5]), ("cg", [1, 0.01])],
                                    str(tmp_path / "g.png"), "t", "y")
    finally:
        mp.undo()
    assert sorted(seen) == ["C0", "C1"]
    assert seen["C0"] == ["cg (2 runs)", None] and seen["C1"] == ["gmres (1 runs)"]


def test_table_from_python(store, monkeypatch):
    p, ids = store
    pd = pytest.importorskip("pandas")
    with RunStore(p, "r") as s:
        t = s.table(problem="A", sort="time_s")
        assert isinstance(t, pd.DataFrame)
        assert list(t["run_id"]) == [ids[2], ids[1], ids[0]]
        assert list(t["tag_grp"]) == ["a"] * 3
        t2 = s.table(tags={"grp": "b"}, converged=True, method=["cg", "gmres"])
        assert sorted(t2["run_id"]) == sorted([ids[4], ids[5]])
        monkeypatch.setitem(sys.modules, "pandas", None)   # without pandas: a list of dicts
        rows = s.table(tags="grp=b", sort="nit", reverse=True)
        assert isinstance(rows, list) and [r["run_id"] for r in rows] == [ids[5], ids[4], ids[3]]
        assert rows[0]["final_residual"] == pytest.approx(1e-6)
        with pytest.raises(TypeError, match="method"):
            s.table(method=3)
        with pytest.raises(KeyError, match="cannot sort"):
            s.table(sort="nosuch")


def test_compact_and_merge_commands(tmp_path, capsys):
    p = tmp_path / "r.h5"
    s = RunStore(p, compact_on_close=False)
    ids = [s.save(res(i, "cg")) for i in range(2)]
    s.close()
    assert (tmp_path / "r.h5.d").is_dir()
    assert cli.main(["runs", "compact", str(p)]) == 0
    assert "compacted 2 runs" in capsys.readouterr().out
    assert not (tmp_path / "r.h5.d").exists()
    d = tmp_path / "d"
    assert cli.main(["runs", "merge", str(d) + "/", str(p)]) == 0
    assert "merged 2 new runs" in capsys.readouterr().out
    assert [r["run_id"] for r in _json(capsys, ["runs", "list", str(d), "--json"])] == ids


def test_plot_into_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    p = tmp_path / "s.h5"
    with solvers.RunStore(str(p)) as st:
        st.save(solvers.SolveResult(np.zeros(1), True, "converged", "m", 1, history={"residual": np.array([1.0, 0.1])}))
    assert cli.main(["runs", "plot", str(p), "-o", str(tmp_path / "nodir" / "p.png")]) == 2
    assert "does not exist; create it first" in capsys.readouterr().err        # was a raw [Errno 2]


def test_list_and_show_escape_terminal_control_sequences(tmp_path, capsys):
    """Outside probe (session 22): a stored message, method, stats key or tag holding an escape sequence
    (an OSC title change, a clear-screen) reached the reader's terminal raw through ``runs list`` (the method
    column) and ``runs show`` (every field). Every printed field is now escaped; ``--json`` escapes by itself."""
    p = tmp_path / "esc.h5"
    r = solvers.SolveResult(np.zeros(2), True, "converged", "msg \x1b]0;pwned\x07 \x1b[2J", 0, method="m\x1b[31mX",
                            stats={"k\x1b[1m": "v\x1b[5m"})
    with RunStore(p) as s:
        s.save(r, tags={"t": "a\x1b[31mb"})
    for argv in (["runs", "list", str(p)], ["runs", "show", str(p), "-1"], ["runs", "show", str(p), "-1", "--json"]):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out, argv
        assert "\\x1b" in out or "\\u001b" in out, argv          # shown, escaped
