"""Outside review (session 15): CG's divergence message on an SPD matrix too ill-conditioned for double
precision; RunStore.load with a non-string id; the CLI's relative residual when ||b|| overflows."""
import numpy as np
import pytest

import solvers
from solvers.results import SolveResult


@pytest.mark.parametrize("span", [20, 150])
def test_cg_on_an_spd_matrix_beyond_double_says_ill_conditioned(span):
    d = np.logspace(-span, span, 40)
    A, b = np.diag(d), np.ones(40)
    r = solvers.cg(A, b, rtol=1e-8, maxiter=5000)
    assert not r.converged
    if r.status == "diverged":
        assert "ill-conditioned" in r.message and "jacobi" in r.message and "no solution" not in r.message
    # the advice works: the Jacobi-preconditioned solve matches the exact solution 1/d
    r2 = solvers.cg(A, b, rtol=1e-8, M=solvers.linear.jacobi(A))
    assert r2.converged and np.allclose(r2.x * d, 1.0, rtol=1e-8)


def test_cg_divergence_on_a_singular_inconsistent_system_still_says_so():
    """A 1-D pure-Neumann Laplacian (sparse) with a random b: no solution (the diagonal spread is 2)."""
    import scipy.sparse as sp

    n = 400
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]).tolil()
    T[0, 0] = T[-1, -1] = 1.0
    b = np.random.default_rng(n).standard_normal(n)
    r = solvers.cg(sp.csr_matrix(T), b, rtol=1e-10, maxiter=20 * n)
    assert r.status == "diverged"
    assert "outside the range" in r.message and "ill-conditioned for CG" not in r.message
    assert np.array_equal(r.x, np.zeros(n))


@pytest.mark.parametrize("bad", [-1, 0, None, 1.5, b"abc"])
def test_load_refuses_a_run_id_that_is_not_a_string(tmp_path, bad):
    with solvers.RunStore(str(tmp_path / "s.h5")) as st:
        st.save(SolveResult(np.zeros(3), True, "converged", "ok", 1, method="cg", backend="numpy"))
        with pytest.raises(TypeError, match="run_id must be a run id string"):
            st.load(bad)


def test_cli_relative_residual_when_the_first_residual_overflowed():
    from solvers.cli._format import normalised, rel_residual

    res = SolveResult(np.zeros(3), True, "converged", "ok", 2, method="cg", backend="numpy",
                      history={"residual": np.array([np.inf, 1e300, 1e290])})
    assert rel_residual(res) is None
    assert np.array_equal(normalised(res.history["residual"]), res.history["residual"])
    ok = SolveResult(np.zeros(3), True, "converged", "ok", 2, method="cg", backend="numpy",
                     history={"residual": np.array([2.0, 1.0, 1e-9])})
    assert rel_residual(ok) == pytest.approx(5e-10)


def _cli(argv):
    from solvers.cli import main

    return main(argv)


def test_export_never_overwrites_the_store(tmp_path, capsys):
    store = str(tmp_path / "st.h5")
    assert _cli(["solve", "poisson", "--shape", "8", "8", "--store", store, "--no-progress"]) == 0
    before = open(store, "rb").read()
    assert _cli(["runs", "export", store, "--csv", store]) == 2
    assert "HDF5 file" in capsys.readouterr().err
    assert open(store, "rb").read() == before
    with solvers.RunStore(store, "r") as st:
        assert len(st.list()) == 1
    out = str(tmp_path / "runs.csv")
    assert _cli(["runs", "export", store, "--csv", out]) == 0 and open(out).read().count("\n") == 2


def test_long_tag_key_is_refused_before_the_solve(tmp_path, capsys):
    store = str(tmp_path / "st.h5")
    code = _cli(["solve", "poisson", "--shape", "8", "8", "--store", store, "--no-progress", "--tag", "k" * 16001 + "=1"])
    cap = capsys.readouterr()
    assert code == 2 and "--tag" in cap.err and "16001 bytes" in cap.err
    assert "iterations" not in cap.out.lower() and not (tmp_path / "st.h5").exists()


def test_plot_extension_and_demo_shape_are_checked_first(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    store = str(tmp_path / "d.h5")
    assert _cli(["demo", "--case", "poisson3d", "--shape", "8", "8", "8", "--store", store,
                 "--plot", str(tmp_path / "p.xyz")]) == 2
    assert "cannot write .xyz" in capsys.readouterr().err and not (tmp_path / "d.h5").exists()
    assert _cli(["demo", "--case", "poisson3d", "--shape", "8", "8", "--store", store, "--no-plot"]) == 2
    assert "3-D" in capsys.readouterr().err and not (tmp_path / "d.h5").exists()


def test_sweep_spec_equal_numbers_and_non_utf8_are_refused(tmp_path):
    from solvers.sweep import load_spec, tasks_from_spec

    base = {"factory": "problems.ot:random_point_clouds", "method": "sinkhorn", "seeds": [0]}
    with pytest.raises(ValueError, match="the same number written twice"):
        tasks_from_spec({**base, "grid": {"n": [10, 10.0], "eps": [0.1]}})
    with pytest.raises(ValueError, match="the same number written twice"):
        tasks_from_spec({**base, "grid": {"n": [10]}, "option_grid": {"tol": [1e-8, 1, 1.0]}})
    assert len(tasks_from_spec({**base, "grid": {"n": [10, 11], "eps": [0.1, 1]}})) == 4
    p = tmp_path / "s.toml"
    p.write_bytes(b'name = "\xe9t\xe9"\n')
    with pytest.raises(ValueError, match="not UTF-8"):
        load_spec(p)
