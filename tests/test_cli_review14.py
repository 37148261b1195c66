"""Command-line findings of an outside review (session 14): tags are checked before the solve, a failed sweep
run can be shown, CG at rtol 0 reports the true residual, sweep stores and worker counts are checked, and a
KeyboardInterrupt raised inside a kernel (as a SystemError cause) is an interrupt."""
import numpy as np
import pytest

from solvers.cli import _interrupted, main


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_bad_tag_key_is_refused_before_the_solve(capsys, tmp_path):
    rc, out, err = _run(capsys, "solve", "poisson", "--shape", "8", "8", "--store", str(tmp_path / "t.h5"),
                        "--tag", "a/b=1")
    assert rc == 2 and "--tag" in err and out == ""            # nothing solved, nothing printed
    rc, out, err = _run(capsys, "solve", "poisson", "--shape", "8", "8", "--tag", "x=1", "--tag", "x=2")
    assert rc == 2 and "twice" in err


def test_cg_at_rtol_zero_reports_the_true_residual(capsys, tmp_path):
    store = tmp_path / "r0.h5"
    rc, out, err = _run(capsys, "solve", "poisson", "--shape", "32", "32", "--rtol", "0", "--store", str(store))
    import solvers
    from problems import pde

    with solvers.RunStore(str(store), mode="r") as st:
        run = st.load(st.list()[0]["run_id"])
    p = pde.Poisson((32, 32))
    A, b = p.csr(), np.asarray(p.rhs("numpy")).reshape(-1)
    true = np.linalg.norm(b - A @ np.asarray(run.x).reshape(-1))
    assert run.history["residual"][-1] == pytest.approx(true, rel=1e-6)
    assert "not symmetric positive definite" not in run.message and run.converged is False


def test_interrupt_inside_a_kernel_is_recognised():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("returned a result with an exception set") from ki
    except SystemError as exc:
        assert _interrupted(exc)
    assert not _interrupted(ValueError("x"))


def test_sweep_store_and_workers_are_checked(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('factory = "numpy:eye"\nmethod = "cg"\n[grid]\nN = [2]\n')
    rc, _, err = _run(capsys, "sweep", str(spec), "--store", str(tmp_path / "no" / "such" / "dir") + "/")
    assert rc == 2 and "does not exist" in err and not (tmp_path / "no").exists()
    f = tmp_path / "afile"
    f.write_text("x")
    rc, _, err = _run(capsys, "sweep", str(spec), "--store", str(f))
    assert rc == 2 and "existing file" in err
    rc, _, err = _run(capsys, "sweep", str(spec), "--store", str(tmp_path / "ok") + "/", "--workers", "100000")
    assert rc == 2 and "n_workers" in err


@pytest.mark.parametrize("argv", [("solve", "poisson", "--shape", "8", "8"), ("approx", "lattice", "--size", "2", "2", "2"),
                                  ("demo",)])
def test_empty_store_name_is_refused(capsys, argv):
    rc, out, err = _run(capsys, *argv, "--store", "")
    assert rc == 2 and "--store needs a file name" in err and out == ""


def test_approx_time_and_provenance_cover_the_grid_sampling(monkeypatch):
    """The grid-values path (a potential of CP rank above CP_RANK_LIMIT) times and stamps both stages."""
    from problems import potentials
    from solvers.cli import approx as cli_approx
    from solvers.runs.provenance import utc_iso

    system = potentials.cubic_lattice((3, 3, 2), spacing=1.0)
    V = potentials.long_range_potential(system.positions, system.charges, box=system.box, tol=1e-6, cutoff=1.0)
    monkeypatch.setattr(cli_approx, "CP_RANK_LIMIT", 0)
    before = utc_iso(__import__("time").time())
    ct, info = cli_approx.approximate(V, 24, 1e-6, "hosvd", "numpy")
    assert info["input"] == "grid values"
    g = ct.stats["grid_values_s"]
    assert 0.0 < g <= ct.stats["time_s"] <= info["build_s"] + 1e-9
    assert ct.provenance["wall_time_s"] >= g
    assert ct.provenance["utc_start"] >= before          # ISO strings of one format sort by time
    assert ct.to_result().stats["time_s"] == ct.stats["time_s"]
