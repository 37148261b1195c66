"""`newtonkit solve nlp | control | bratu`: exit codes, printed figures checked against independent references,
stored runs, usage errors."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from problems import nlp, pde
from solvers import cli


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_solve_nlp_reaches_the_published_optimum_and_stores_the_run(capsys, tmp_path):
    store = tmp_path / "runs.h5"
    code, out, err = _run(capsys, "solve", "nlp", "hs28", "--sketch", "none", "--backend", "numpy",
                          "--store", str(store), "--no-progress")
    assert code == 0, err
    assert "HS28" in out and "published optimum f*: 0" in out
    with solvers.RunStore(store, mode="r") as s:
        (row,) = s.list()
        run = s.load(row["run_id"])
    # HS28: min (x1 + x2)^2 + (x2 + x3)^2 s.t. x1 + 2 x2 + 3 x3 = 1; optimum (0.5, -0.5, 0.5), f* = 0
    np.testing.assert_allclose(run.x, [0.5, -0.5, 0.5], atol=1e-8)
    assert run.tags["command"] == "solve nlp" and run.converged


def test_solve_control_linear_matches_the_direct_kkt_solve(capsys, tmp_path):
    store = tmp_path / "runs"
    code, out, err = _run(capsys, "solve", "control", "--n", "12", "--tol", "1e-10", "--backend", "numpy",
                          "--store", str(store), "--no-progress")
    assert code == 0, err
    assert "linear -Δy = u" in out and "MINRES" in out
    with solvers.RunStore(store, mode="r") as s:
        run = s.load(s.list()[0]["run_id"])
    x_ref, _ = pde.PoissonControl(12).reference_solution()      # scipy spsolve of the assembled KKT system
    np.testing.assert_allclose(run.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())


def test_solve_bratu_solves_the_assembled_equations(capsys, tmp_path):
    store = tmp_path / "runs.h5"
    code, out, err = _run(capsys, "solve", "bratu", "--shape", "15", "15", "--lam", "3", "--backend", "numpy",
                          "--store", str(store), "--no-progress")
    assert code == 0, err
    with solvers.RunStore(store, mode="r") as s:
        u = np.asarray(s.load(s.list()[0]["run_id"]).x).reshape(-1)
    n = 15
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) ** 2
    A = sp.kron(T, sp.identity(n)) + sp.kron(sp.identity(n), T)
    F = A @ u - 3.0 * np.exp(u)
    assert np.abs(F).max() <= 1e-7
    assert f"max u: {u.max():.10g}" in out


@pytest.mark.parametrize("argv, word", [
    (["solve", "nlp", "HS999"], "HS999"),
    (["solve", "nlp", "HS28", "--tol", "0"], "--tol"),
    (["solve", "nlp", "HS28", "--maxiter", "-1"], "--maxiter"),
    (["solve", "control", "--n", "1"], "--n"),
    (["solve", "control", "--alpha", "-1"], "--alpha"),
    (["solve", "control", "--n", "10000000"], "memory"),
    (["solve", "bratu", "--lam", "nan"], "--lam"),
    (["solve", "bratu", "--shape", "8"], "--shape"),
])
def test_usage_errors_exit_2_naming_the_flag(capsys, argv, word):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and word in err, err


def test_not_converged_exits_1_with_a_true_message(capsys):
    code, out, err = _run(capsys, "solve", "nlp", "HS7", "--maxiter", "1", "--backend", "numpy", "--no-progress")
    assert code == 1
    assert "maxiter" in out
    assert nlp.hs("HS7").f_star == pytest.approx(-np.sqrt(3))


def test_demo_constrained_case_stores_three_kkt_points(capsys, tmp_path):
    """The demo's constrained case: every stored run is a KKT point of the breast-cancer problem whose objective
    matches SciPy's trust-constr (run here, independently of the demo's own SLSQP reference)."""
    from scipy.optimize import NonlinearConstraint, minimize

    store = tmp_path / "demo.h5"
    code, out, err = _run(capsys, "demo", "--case", "constrained", "--no-plot", "--store", str(store),
                          "--backend", "numpy", "--no-progress")
    assert code == 0, err
    p = nlp.logistic_regression("breast_cancer", constraints=10, seed=0)
    ref = minimize(p.f, p.x0, jac=p.grad, method="trust-constr",
                   constraints=[NonlinearConstraint(p.c, 0.0, 0.0, jac=p.jac)],
                   options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 3000})
    with solvers.RunStore(store, mode="r") as s:
        rows = s.list()
        assert len(rows) == 3
        for row in rows:
            x = np.asarray(s.load(row["run_id"]).x)
            assert np.abs(p.c(x)).max() <= 1e-8
            assert abs(p.f(x) - ref.fun) <= 1e-7 * abs(ref.fun)
