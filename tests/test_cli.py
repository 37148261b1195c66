"""The `newtonkit` command: demo, solve, runs list/show/plot, info, exit codes."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from problems import pde
from solvers import cli
from solvers.cli import _format, demo

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def laplacian(shape):
    """Dense-free reference: the 5/7-point Dirichlet Laplacian on the unit box, h = 1/(n+1)."""
    mats = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) ** 2 for n in shape]
    A = mats[0]
    for M in mats[1:]:
        A = sp.kron(A, sp.identity(M.shape[0])) + sp.kron(sp.identity(A.shape[0]), M)
    return A.tocsc()


def fake_result(i, converged=True):
    return solvers.SolveResult(np.arange(6.0).reshape(2, 3) + i, converged, "converged" if converged else "maxiter",
                               "ok", 3 + i, history={"residual": np.geomspace(1.0, 1e-6 * (i + 1), 4 + i)},
                               stats={"time_s": 0.5 + i, "matvecs": 4 + i}, method="cg", backend="numpy",
                               options={"rtol": 1e-8})


@pytest.fixture
def store_path(tmp_path):
    p = tmp_path / "runs.h5"
    with solvers.RunStore(p) as store:
        ids = [store.save(fake_result(i), tags={"i": i}) for i in range(3)]
    return p, ids


def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"newtonkit {solvers.__version__}" in out
    assert "numba" in out and "threads:" in out and "cupy" in out


def test_usage_errors(tmp_path, capsys):
    assert cli.main([]) == 2
    assert cli.main(["bogus"]) == 2
    assert cli.main(["--help"]) == 0
    assert cli.main(["solve", "poisson", "--shape", "4"]) == 2
    assert "2 or 3 positive integers" in capsys.readouterr().err
    assert cli.main(["solve", "poisson", "--precond", "ilu"]) == 2
    assert cli.main(["runs", "list", str(tmp_path / "missing.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["demo", "--case", "nope", "--store", str(tmp_path / "d.h5")]) == 2
    assert "unknown demo case" in capsys.readouterr().err
    assert cli.main(["solve", "poisson", "--tag", "novalue", "--shape", "4", "4"]) == 2
    assert cli.main(["--threads", "0", "info"]) == 2


def test_runs_list_show(store_path, capsys):
    path, ids = store_path
    assert cli.main(["runs", "list", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["run", "id", "created"]
    assert [ln.split()[0] for ln in lines[2:5]] == ids
    assert lines[2].split()[-3:] == ["3", "0.5", "i=0"] and lines[-1] == "3 runs"
    assert cli.main(["runs", "list", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == ids and rows[2]["nit"] == 5 and rows[1]["tags"] == {"i": 1}

    assert cli.main(["runs", "show", str(path), ids[1]]) == 0
    out = capsys.readouterr().out
    assert f"run_id: {ids[1]}" in out and "nit: 4" in out and "residual: 5 values" in out
    assert "version_numpy" in out and "x: array shape=(2, 3)" in out
    assert cli.main(["runs", "show", str(path), "-1", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["run_id"] == ids[2] and info["stats"] == {"time_s": 2.5, "matvecs": 6}
    assert cli.main(["runs", "show", str(path), "nope"]) == 2
    assert ids[-1] in capsys.readouterr().err  # known ids are hinted


def test_runs_plot(store_path, tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    path, ids = store_path
    out = tmp_path / "h.png"
    assert cli.main(["runs", "plot", str(path), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    out2 = tmp_path / "h2.png"
    assert cli.main(["runs", "plot", str(path), ids[0], ids[2][:20], "-o", str(out2), "--absolute"]) == 0
    assert "(2 runs)" in capsys.readouterr().out and out2.stat().st_size > 1000
    assert cli.main(["runs", "plot", str(path), "--key", "nothing", "-o", str(out2)]) == 2
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert cli.main(["runs", "plot", str(path), "-o", str(tmp_path / "x.png")]) == 2
    assert "matplotlib" in capsys.readouterr().err


def test_format_table():
    t = cli.format_table([{"a": 1, "b": 1.23456e-9, "c": True}, {"a": 10, "b": None, "c": False}],
                         [("a", "A"), ("b", "B"), ("c", "C")])
    assert t.splitlines() == ["A   B         C", "--  --------  ---", "1   1.23e-09  yes", "10  -         no"]


def test_progress_only_on_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert _format.progress("x", True) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert _format.progress("x", False) is None
    bar = _format.progress("x", True)
    bar.delay = 0.0
    for k in range(1, 6):
        bar(solvers.results.IntermediateResult(np.zeros(2), k, residual=1.0 / k))
    assert bar.n == 5 and bar.bar is not None and bar.bar.n == 5
    bar.close()


def test_progress_is_a_library_callback():
    """The bar follows the routine's ``intermediate_result.nit`` (SciPy callback convention)."""
    bar = _format.Progress("cg", delay=1e9)          # never draws: no tqdm needed
    assert solvers.results.Callback(bar).wants_result
    res = solvers.solve(pde.Poisson((20, 20)), method="cg", rtol=1e-8, backend="numpy", callback=bar)
    assert res.converged and bar.n == res.nit and bar.bar is None
    counting = _format.Progress("x", delay=1e9)      # an intermediate result without nit: counts calls
    for _ in range(3):
        counting(object())
    assert counting.n == 3


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_progress_with_ot_routines(method):
    from problems import ot

    bar = _format.Progress(method, delay=1e9)
    res = solvers.solve(ot.random_point_clouds(60, 1e-2, seed=3), method=method, tol=1e-8, backend="numpy",
                        callback=bar)
    assert res.converged and 1 <= bar.n <= res.nit


# -- solves (need problems.pde.Poisson and the multigrid preconditioner) ----------------------------

def test_solve_poisson_matches_direct_solve(tmp_path, capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "tqdm", raising=False)
    store = tmp_path / "runs.h5"
    rc = cli.main(["solve", "poisson", "--shape", "24", "20", "--manufactured", "--rtol", "1e-10",
                   "--store", str(store), "--tag", "who=test", "--backend", "numpy"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "tqdm" not in sys.modules  # no progress bar (not a terminal): tqdm never imported
    assert "converged      yes" in out and "stored run" in out
    with solvers.RunStore(store, mode="r") as s:
        (row,) = s.list()
        run = s.load(row["run_id"])
    assert run.method == "cg+mg" and run.converged and run.tags == {"command": "solve poisson", "who": "test"}
    assert run.x.shape == (24, 20)
    prob = pde.Poisson.manufactured((24, 20), kind="bubble")
    exact = prob.exact_solution()
    b = prob.rhs(solvers.get_backend("numpy"))
    ref = spla.spsolve(laplacian((24, 20)), np.asarray(b).ravel()).reshape(24, 20)
    np.testing.assert_allclose(run.x, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    err = np.abs(run.x - exact).max()
    assert 1e-5 < err < 1e-3  # O(h^2) discretisation error, h ~ 1/21..1/25
    assert f"{err:.3e}" in out


def test_solve_poisson_constant_f_and_not_converged(tmp_path, capsys):
    assert cli.main(["solve", "poisson", "--shape", "10", "9", "8", "--f", "2.5", "--precond", "jacobi"]) == 0
    assert "cg+jacobi" in capsys.readouterr().out
    assert cli.main(["solve", "poisson", "--shape", "30", "30", "--precond", "none", "--maxiter", "2"]) == 1
    out = capsys.readouterr().out
    assert "converged      no" in out and "message:" in out


def test_demo_in_process(tmp_path, capsys):
    store, png = tmp_path / "demo.h5", tmp_path / "demo.png"
    rc = cli.main(["demo", "--shape", "12", "12", "12", "--store", str(store), "--plot", str(png)])
    out = capsys.readouterr().out
    assert rc == 0, out
    with solvers.RunStore(store, mode="r") as s:
        rows = s.list()
        runs = {r["tags"]["case"] + "/" + r["method"]: s.load(r["run_id"]) for r in rows}
    assert {"poisson3d/cg+mg", "poisson3d/cg"} <= set(runs)
    mg, plain = runs["poisson3d/cg+mg"], runs["poisson3d/cg"]
    assert mg.converged and plain.converged and mg.nit < plain.nit
    np.testing.assert_allclose(mg.x, plain.x, atol=1e-6 * np.abs(plain.x).max())
    cases = {c.name for c in demo.demo_cases()}
    all_rows = [ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in cases]
    assert len(all_rows) == len(rows) and all(r["converged"] for r in rows)  # one table row per stored run
    assert {ln[-1] for ln in all_rows} == {r["run_id"] for r in rows}
    table = [ln.split() for ln in out.splitlines() if ln.startswith("poisson3d ")]
    assert [t[1] for t in table] == ["MG-CG", "CG"] and [int(t[4]) for t in table] == [mg.nit, plain.nit]
    if importlib.util.find_spec("matplotlib") is not None:
        assert png.read_bytes()[:8] == PNG_MAGIC


def test_demo_via_python_m(tmp_path):
    store = tmp_path / "runs.h5"
    env = dict(os.environ, NEWTONKIT_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "solvers", "demo", "--shape", "8", "8", "8", "--no-plot",
                           "--store", str(store)], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MG-CG" in proc.stdout and not list(tmp_path.glob("*.png"))
    proc = subprocess.run([sys.executable, "-m", "solvers", "runs", "list", str(store)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("runs")
    with solvers.RunStore(store, mode="r") as s:
        assert len(s) >= 2 and all(r["converged"] for r in s.list())


@pytest.mark.parametrize("script, args", [("poisson_3d.py", ["12", "ex.h5"]), ("runs_roundtrip.py", ["ex.h5"])])
def test_examples_run(tmp_path, script, args):
    env = dict(os.environ, NEWTONKIT_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(REPO / "examples" / script), *args], capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with solvers.RunStore(tmp_path / "ex.h5", mode="r") as s:
        rows = s.list()
    assert rows and all(r["converged"] for r in rows)
    if script == "poisson_3d.py":
        err = rows[0]["tags"]["max_error"]
        assert 1e-4 < err < 1e-2  # O(h^2), h = 1/13


def test_runs_merge(store_path, tmp_path, capsys):
    path, ids = store_path
    other = tmp_path / "other.h5"
    with solvers.RunStore(other) as s:
        extra = s.save(fake_result(7))
    out = tmp_path / "all.h5"
    assert cli.main(["runs", "merge", str(out), str(path), str(other)]) == 0
    assert "merged 4 new runs" in capsys.readouterr().out
    assert cli.main(["runs", "merge", str(out), str(path)]) == 0
    text = capsys.readouterr().out
    assert "merged 0 new runs" in text and "(4 runs in all)" in text
    with solvers.RunStore(out, mode="r") as s:
        assert sorted(s.run_ids()) == sorted(ids + [extra])
        np.testing.assert_array_equal(s.load(extra).x, fake_result(7).x)
    assert cli.main(["runs", "merge", str(out), str(tmp_path / "nope.h5")]) == 2


# ------------------------------------------------------------------------------ issue 7: hostile command lines
def _hostile_cli_cases():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_cases_cli", REPO / "tests" / "hostile" / "cases_cli.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_HOSTILE = _hostile_cli_cases()


@pytest.mark.parametrize("name,run", _HOSTILE.CASES, ids=[c[0] for c in _HOSTILE.CASES])
def test_hostile_command_lines(name, run):
    assert run() in ("clear_error", "verified")


def test_sizes_refused_with_the_figure(tmp_path, capsys):
    store = tmp_path / "demo.h5"
    assert cli.main(["solve", "poisson", "--shape", "100000", "100000", "100000", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--shape 100000 100000 100000" in err and "96 PB" in err and "Traceback" not in err
    assert cli.main(["demo", "--shape", "100000", "100000", "100000", "--store", str(store), "--no-plot"]) == 2
    assert "96 PB" in capsys.readouterr().err and not store.exists()
    assert cli.main(["solve", "ot", "--n", "200000", "--no-progress"]) == 2
    assert "1.6 TB" in capsys.readouterr().err


def test_memory_limit_env(monkeypatch, capsys):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "1000000")   # 1 MB: 20x20 needs 8*400*12 = 38 kB, 200x200 3.8 MB
    assert cli.main(["solve", "poisson", "--shape", "200", "200", "--no-progress"]) == 2
    assert "3.84 MB" in capsys.readouterr().err
    assert cli.main(["solve", "ot", "--n", "200", "--no-progress"]) == 2
    assert "--n 200" in capsys.readouterr().err


def test_json_is_strict_with_nan(tmp_path, capsys):
    path = tmp_path / "nan.h5"
    res = fake_result(0)
    res.stats["time_s"] = float("nan")
    res.stats["inf"] = float("inf")
    with solvers.RunStore(path) as store:
        rid = store.save(res)
    assert cli.main(["runs", "list", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert rows[0]["time_s"] is None and rows[0]["run_id"] == rid
    assert cli.main(["runs", "show", str(path), rid, "--json"]) == 0
    info = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert info["stats"]["time_s"] is None and info["stats"]["inf"] is None


@pytest.mark.parametrize("argv", [["runs", "show", "{p}", "-0"], ["runs", "plot", "{p}", "--last", "0"],
                                  ["runs", "plot", "{p}", "--last", "-1"]])
def test_bad_run_selection_refused(store_path, capsys, argv):
    p, _ = store_path
    assert cli.main([a.format(p=p) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "-0" in err or "--last" in err


def test_demo_reports_the_residual_relative_to_b_also_from_the_fmg_start(tmp_path, capsys, monkeypatch):
    # the multigrid default starts large 3-D solves from the FMG approximation: the table's "final resid." was
    # the last residual over the FIRST one (the start's), 1.04e-8 printed for a solve converged to rtol 1e-8
    from solvers.linear import multigrid as mgm

    monkeypatch.setattr(mgm, "FMG_AUTO_POINTS", 1000)        # the FMG start on this small grid too
    store = tmp_path / "demo.h5"
    rc = cli.main(["demo", "--case", "poisson3d", "--shape", "12", "12", "12", "--store", str(store), "--no-plot"])
    out = capsys.readouterr().out
    assert rc == 0, out
    from problems import pde

    bnorm = float(np.linalg.norm(pde.Poisson.manufactured((12, 12, 12), kind="bubble").rhs("numpy")))
    with solvers.RunStore(store, mode="r") as s:
        mg = next(s.load(r["run_id"]) for r in s.list() if r["method"] == "cg+mg")
    h = mg.history["residual"]
    assert h[0] < 0.9 * bnorm                                # it did start from the FMG approximation
    row = next(ln.split() for ln in out.splitlines() if ln.startswith("poisson3d ") and " MG-CG " in ln)
    assert float(row[7]) == pytest.approx(h[-1] / bnorm, rel=0.01) and float(row[7]) <= 1e-8
    assert "relative to ||b||" in out


def test_rel_residual_is_against_b_when_given():
    res = solvers.SolveResult(np.zeros(2), True, "converged", "", 3, history={"residual": np.array([0.5, 1e-9])})
    assert _format.rel_residual(res) == pytest.approx(2e-9)
    assert _format.rel_residual(res, 2.0) == pytest.approx(5e-10)
    assert _format.rel_residual(res, 0.0) == pytest.approx(2e-9)            # no usable ||b||: the first
