"""Nonlinear / NLP problems found by the session-24 outside probe (helper-100); references: the residual F(x)
or the KKT residual computed here, and SciPy's SLSQP optimum."""
import numpy as np
import pytest
import scipy.optimize as so

import solvers
from problems import nlp


@pytest.mark.parametrize("name", ["BOOTH", "HS48", "HS51"])
@pytest.mark.parametrize("tol", [1e-200, 1e-300])
def test_sketched_newton_at_a_tol_below_the_slope_underflow_stops_honestly(name, tol):
    """tol <= 1e-200 raised 'dphi0 must be negative' from the line search (the merit's slope underflowed)."""
    p = nlp.hs(name)
    r = solvers.sketched_newton(p, tol=tol, seed=0, backend="numpy")
    assert not r.converged and r.status == "stagnated" and "tol" in r.message
    ref = so.minimize(p.f, p.x0, jac=p.grad, constraints=[{"type": "eq", "fun": p.c, "jac": p.jac}],
                      method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    assert abs(p.f(r.x) - ref.fun) <= 1e-8 * max(1.0, abs(ref.fun))            # the returned x is the solution


@pytest.mark.parametrize("n", [5, 40])
def test_jacobian_free_newton_with_an_f_writing_into_its_own_buffer(n):
    """Every difference quotient was zero (F(x) overwritten by F(x + h u)): 'breakdown ... Jacobian singular'."""
    buf = np.empty(n)

    def F(x):
        np.subtract(x ** 3 + x, np.linspace(1.0, 2.0, n), out=buf)
        return buf

    for be in ("numpy", "numba"):
        r = solvers.newton_krylov(F, np.zeros(n), backend=be)
        assert r.converged
        assert np.max(np.abs(r.x ** 3 + r.x - np.linspace(1.0, 2.0, n))) <= 1e-8          # F(x) computed here


def test_a_nonsymmetric_hessian_is_refused_by_name():
    """np.triu of the Hessian (some interfaces take one triangle) ran to maxiter with a 'raise maxiter' hint."""
    p0 = nlp.hs("HS47")
    p = nlp.EqualityConstrainedProblem(p0.f, p0.grad, p0.c, p0.jac,
                                       lambda x, lam: np.triu(p0.hess_lagrangian(x, lam)), p0.x0)
    with pytest.raises(ValueError, match="hess_lagrangian.*not symmetric"):
        solvers.sketched_newton(p, seed=0, backend="numpy")
    assert solvers.sketched_newton(p0, seed=0, backend="numpy").converged


def test_logistic_regression_with_one_feature_names_d():
    with pytest.raises(ValueError, match="d >= 2 features"):
        nlp.logistic_regression(dataset=(np.ones((5, 1)), np.ones(5)), constraints=0)
    with pytest.raises(ValueError) as exc:
        nlp.logistic_regression(dataset=(np.ones(5), np.ones(5)), constraints=0)
    assert "2-D 2-D" not in str(exc.value) and "2-D" in str(exc.value)


def test_cli_nlp_sets_the_size_of_a_scalable_problem(capsys):
    from solvers import cli

    assert cli.main(["solve", "nlp", "GENHS28", "--size", "12", "--backend", "numpy", "--no-progress"]) == 0
    assert "n = 12" in capsys.readouterr().out
    assert cli.main(["solve", "nlp", "HS47", "--size", "12", "--backend", "numpy", "--no-progress"]) == 2
    assert "fixed size" in capsys.readouterr().err


@pytest.mark.parametrize("F,x0,lost", [(lambda x: x - 1e15, np.zeros(4), 4),
                                       (lambda x: np.array([x[0] - 1e9, x[1] - 1.0]), np.zeros(2), 1)])
def test_rounded_away_difference_quotients_are_diagnosed(F, x0, lost):
    """J = I here; the difference step is lost to F's rounding (a constant of 1e15, or one component of 1e9
    beside one of 1): this was reported as 'the Jacobian may be singular'."""
    r = solvers.newton_krylov(F, x0, backend="numpy")
    assert r.status == "breakdown" and f"in {lost} of the {x0.size} components" in r.message
    assert "jac= or jvp=" in r.message
    ok = solvers.newton_krylov(F, x0, jac=lambda x: np.eye(x0.size), backend="numpy")
    assert ok.converged and np.max(np.abs(F(ok.x))) <= 1e-8 * max(1.0, np.max(np.abs(F(x0))))


def test_a_truly_zero_jacobian_is_not_called_rounding():
    r = solvers.newton_krylov(lambda x: x ** 3 + 1.0, np.zeros(3), backend="numpy")     # J(0) = 0
    assert r.status == "breakdown" and "singular" in r.message and "components" not in r.message
