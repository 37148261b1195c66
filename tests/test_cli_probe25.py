"""CLI and message fixes from outside probe 25 (helpers 101, 103); each fails on the code before them."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from problems import ot
from solvers import cli


def test_info_with_a_bad_thread_setting_prints_nothing_then_the_error(monkeypatch, capsys):
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "0")
    assert cli.main(["info"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "NEWTONKIT_NUM_THREADS" in err      # half the report was printed before the error


def test_demo_shape_error_says_three_numbers(capsys):
    assert cli.main(["demo", "--shape", "5"]) == 2
    err = capsys.readouterr().err
    assert "takes 3 numbers" in err and "2 or 3" not in err


@pytest.mark.parametrize("flag", ["--workers", "--threads-per-worker"])
def test_sweep_sizes_are_named_by_their_flag(tmp_path, capsys, flag):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "t"\nfactory = "problems.pde:Poisson"\nmethod = "cg"\n[params]\nshape = [8, 8]\n')
    assert cli.main(["sweep", str(spec), "--store", str(tmp_path / "r"), flag, "0"]) == 2
    assert f"{flag} must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()                   # refused before the store is made


def test_runs_plot_names_the_missing_history(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    store = tmp_path / "r.h5"
    from problems import pde

    res = solvers.solve(pde.Poisson((8, 8)), method="cg", precond="mg")
    with solvers.RunStore(str(store)) as st:
        st.save(res)
    cli.main(["runs", "plot", str(store), "--metric", "nope", "--output", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert "has no history 'nope'; skipped" in err


@pytest.mark.parametrize("fmt", ["csr", "coo", "csc"])
def test_sparse_cost_matrix_message_suggests_toarray(fmt):
    C = sp.random(4, 5, density=1.0, format=fmt, random_state=0)
    with pytest.raises(TypeError, match=r"scipy.sparse .*C.toarray\(\)"):
        ot.EntropicOT(C, np.full(4, 0.25), np.full(5, 0.2), eps=0.1)


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf"])
def test_sweep_task_timeout_flag_checked(tmp_path, capsys, value):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "t"\nfactory = "problems.pde:Poisson"\nmethod = "cg"\n[params]\nshape = [8, 8]\n')
    assert cli.main(["sweep", str(spec), "--store", str(tmp_path / "r"), "--task-timeout", value]) == 2
    assert "--task-timeout must be a positive number" in capsys.readouterr().err


def test_plot_leaves_out_panels_without_history(tmp_path):
    """The demo's lattice case (a build, no iterations) was drawn as an empty panel (helper-103)."""
    pytest.importorskip("matplotlib")
    from solvers.cli import _format

    seen = {}
    from matplotlib.figure import Figure

    real = Figure.subplots

    def spy(self, *a, **k):
        seen["shape"] = a
        return real(self, *a, **k)

    curves = [("a", "x", np.array([1.0, 0.1, 0.01])), ("b", "y", np.zeros(0)), ("c", "z", np.array([1.0, 0.5]))]
    Figure.subplots = spy
    try:
        assert _format.plot_histories(curves, str(tmp_path / "p.png"), panels=["a", "b", "c"])
    finally:
        Figure.subplots = real
    assert seen["shape"] == (1, 2) and (tmp_path / "p.png").stat().st_size > 0


def test_runs_plot_same_run_twice_is_one_curve(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from problems import pde

    store = tmp_path / "r.h5"
    with solvers.RunStore(str(store)) as st:
        st.save(solvers.solve(pde.Poisson((8, 8)), method="cg", precond="mg"))
    from solvers.cli import _format

    got = {}
    real = _format.plot_histories
    _format.plot_histories = lambda curves, *a, **k: got.setdefault("n", len(curves)) or True
    try:
        cli.main(["runs", "plot", str(store), "-1", "-1", "--output", str(tmp_path / "p.png")])
    finally:
        _format.plot_histories = real
    assert got["n"] == 1
