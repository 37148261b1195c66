"""Bratu through solvers.newton_krylov (the problem's nonlinear_system, multigrid-preconditioned): the discrete
solution against a sparse-direct Newton on an own Kronecker Laplacian and scipy.optimize.root, O(h^2) grid
convergence, the fold against the published lam* = 6.80812 (unit square), numpy/numba agreement."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from _bratu_ref import laplacian as _lap, sparse_newton as _sparse_newton
from problems.pde.bratu import Bratu
from solvers.nonlinear.newton_krylov import newton_krylov

LAM_STAR = 6.80812   # Karkowski 2013; Chan & Keller 1982 (continuous problem, unit square)


def _solve(n, lam, backend="numba", **kw):
    p = Bratu((n, n), lam=lam)
    return p, newton_krylov(**p.nonlinear_system(backend), **kw)


@pytest.mark.parametrize("n,lam", [(15, 1.0), (23, 6.0), (31, 6.5)])
def test_discrete_solution_vs_sparse_newton(n, lam):
    p, res = _solve(n, lam, tol=1e-10)
    assert res.converged, res.message
    assert res.nit <= 8
    u = _sparse_newton(n, lam)
    assert res.x.shape == (n, n)
    np.testing.assert_allclose(res.x.ravel(), u, atol=1e-9)
    assert np.abs(p.residual(res.x)).max() <= 1e-10
    if n == 15:   # and a third, derivative-free-of-ours reference: MINPACK's hybrid method on the same equations
        A = _lap(n)
        sol = so.root(lambda v: A @ v - lam * np.exp(v), np.zeros(n * n), method="hybr", tol=1e-13)
        assert sol.success
        np.testing.assert_allclose(res.x.ravel(), sol.x, atol=1e-9)


def test_grid_convergence_is_second_order():
    """Centre value u(1/2, 1/2) at h = 1/16, 1/32, 1/64, 1/128: successive differences shrink by ~4."""
    centre = []
    for n in (15, 31, 63, 127):
        p, res = _solve(n, 6.0, tol=1e-8)   # ||F||_inf rounding level is ~1e-11 at n = 127
        assert res.converged and res.nit <= 8, res.message
        centre.append(res.x[n // 2, n // 2])
    d = np.abs(np.diff(centre))
    ratios = d[:-1] / d[1:]
    assert np.all((ratios > 3.6) & (ratios < 4.4)), ratios
    # Richardson extrapolation agrees with the finest value to O(h^2)
    assert abs(centre[-1] + (centre[-1] - centre[-2]) / 3 - centre[-1]) < 2e-5


def _fold_lambda(n):
    """Discrete fold lam*_h: maximise lam over the branch parametrised by the centre value u_c = s
    (bordered sparse Newton for (u, lam)); the branch is smooth in s through the turning point."""
    A = _lap(n)
    N, c = n * n, (n // 2) * n + n // 2
    e = sp.csr_matrix(([1.0], ([0], [c])), shape=(1, N))

    def lam_of(s):
        u, lam = np.full(N, 0.5 * s), 6.0
        for _ in range(50):
            F = np.concatenate([A @ u - lam * np.exp(u), [u[c] - s]])
            if np.abs(F).max() < 1e-11:
                return lam
            K = sp.bmat([[A - sp.diags(lam * np.exp(u)), sp.csr_matrix(-np.exp(u)[:, None])], [e, None]], format="csc")
            d = spla.spsolve(K, -F)
            u, lam = u + d[:N], lam + d[N]
        raise AssertionError("bordered Newton did not converge")

    r = so.minimize_scalar(lambda s: -lam_of(s), bracket=(1.0, 1.4, 1.8), tol=1e-9)
    return -r.fun


def test_fold_matches_the_literature_and_the_smallest_jacobian_eigenvalue():
    lam15, lam31 = _fold_lambda(15), _fold_lambda(31)
    assert lam15 < lam31 < LAM_STAR
    assert abs(lam31 + (lam31 - lam15) / 3 - LAM_STAR) < 2e-4     # Richardson, O(h^2)
    # along the lower branch computed by newton_krylov the smallest Jacobian eigenvalue -> 0 like
    # sqrt(lam* - lam): a quadratic fit of mu_min^2 vanishes at the discrete fold
    lams = [6.5, 6.7, 6.77, 6.8]
    mus = []
    for lam in lams:
        p, res = _solve(31, lam, backend="numpy", tol=1e-11, maxiter=100)
        assert res.converged, res.message
        J = p.jacobian(res.x, "numpy").to_csr()
        mus.append(spla.eigsh(J, k=1, sigma=0, which="LM")[0][0])
    assert np.all(np.diff(mus) < 0) and mus[-1] > 0
    roots = np.roots(np.polyfit(lams, np.square(mus), 2))
    root = roots[np.argmin(np.abs(roots - 6.8))].real
    assert abs(root - lam31) < 2e-3, (root, lam31)


def test_beyond_the_fold_no_solution_and_a_true_message():
    p, res = _solve(31, 6.9, backend="numpy", tol=1e-10, maxiter=30)
    assert not res.converged
    assert res.status in ("stagnated", "maxiter", "breakdown")
    assert "try" in res.message and np.all(np.isfinite(res.x))
    assert res.history["residual"][-1] > 1e-3      # the residual stays far from zero


def test_no_overflow_warning_on_wild_trial_points():
    p = Bratu((7, 7), lam=6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F = p.residual(np.full(49, 800.0), "numpy")
    assert np.all(np.isinf(F))


def test_numpy_and_numba_agree_and_system_pickles():
    pa, a = _solve(31, 6.0, backend="numpy", tol=1e-10)
    pb, b = _solve(31, 6.0, backend="numba", tol=1e-10)
    assert a.converged and b.converged and b.backend == "numba" and a.backend == "numpy"
    np.testing.assert_allclose(a.x, b.x, atol=1e-10)
    kw = pickle.loads(pickle.dumps(pa.nonlinear_system("numpy")))
    np.testing.assert_allclose(kw["F"](a.x), pa.residual(a.x, "numpy"))
    assert pa.methods == ("newton_krylov",) and pa.describe()["lam"] == 6.0
