"""sketched_newton on the Poisson optimal-control problem (operator Jacobian and Hessian, MINRES with the
problem's block-diagonal KKT preconditioner).

References: for the linear problem the sparse direct solve of its KKT system
(``PoissonControl.reference_solution``, scipy.sparse.linalg.spsolve); for the semilinear one
the first-order residuals computed on assembled sparse matrices (``PoissonControl.kkt_residual``).
"""
from __future__ import annotations

import numpy as np
import pytest

pde = pytest.importorskip("problems.pde")

from solvers.nonlinear.sketched_newton import sketched_newton  # noqa: E402


@pytest.mark.parametrize("n, backend", [(8, "numpy"), (24, "numpy"), (24, "numba")])
def test_linear_control_matches_sparse_direct_kkt_solve(n, backend):
    P = pde.PoissonControl(n)
    res = sketched_newton(P, sketch=None, tol=1e-11, backend=backend)
    assert res.backend == backend
    assert res.converged, res.message
    assert res.stats["kkt_form"] == "operator" and res.stats["preconditioner_evaluations"] == res.nit
    x_ref, lam_ref = P.reference_solution()
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    np.testing.assert_allclose(res.lam, lam_ref, rtol=0, atol=1e-8 * np.abs(lam_ref).max())


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_semilinear_control_first_order_conditions(backend):
    P = pde.PoissonControl(16, semilinear=True)
    res = sketched_newton(P, sketch=None, tol=1e-11, backend=backend)
    assert res.converged, res.message
    r = P.kkt_residual(res.x, res.lam)
    assert r["stationarity"] <= 1e-11 and r["feasibility"] <= 1e-11
    # preconditioned MINRES: a handful of inner iterations per Newton step
    assert res.stats["inner_iterations"] <= 20 * res.nit


def test_sketch_on_operator_problem_small_grid(sketch="block"):
    # sketch-and-project works through the KKT operator (products only); a well-conditioned
    # instance (alpha = 1) keeps it fast -- for alpha = 1e-4 the sketches need far more iterations
    # instance (alpha = 1) keeps it fast; the default inner budget on operators (100 (n + m) operator
    # products per Newton iteration) is raised here, as the budget's failure message advises
    P = pde.PoissonControl(3, alpha=1.0)
    res = sketched_newton(P, sketch=sketch, tol=1e-13, seed=0, maxiter=60, inner_maxiter=3000)
    assert res.converged, res.message
    assert res.stats["kkt_form"] == "operator"
    x_ref, _ = P.reference_solution()
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
