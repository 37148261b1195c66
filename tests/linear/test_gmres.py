"""solvers.gmres (restarted, right-preconditioned) against scipy.sparse.linalg.gmres and dense solves."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers.linear import jacobi


def convection_diffusion(n, seed):
    """Non-symmetric, diagonally dominant 1-D convection-diffusion plus a random sparse perturbation."""
    A = sp.diags([-1.3, 2.5, -0.7], [-1, 0, 1], shape=(n, n))
    return (A + 0.1 * sp.random(n, n, density=0.02, random_state=seed)).tocsr()


@pytest.mark.parametrize("n,restart,seed", [(120, 10, 1), (200, 30, 2), (150, 200, 3)])
def test_gmres_matches_scipy(cpu_backend, rng, n, restart, seed):
    A = convection_diffusion(n, seed)
    b = rng.standard_normal(n)
    res = solvers.gmres(A, b, rtol=1e-10, restart=restart, backend=cpu_backend)
    assert res.converged
    np.testing.assert_allclose(res.x, spla.spsolve(A.tocsc(), b), rtol=1e-7, atol=1e-9)
    assert np.linalg.norm(b - A @ res.x) <= 1e-10 * np.linalg.norm(b)
    its = []
    x, info = spla.gmres(A, b, rtol=1e-10, atol=0.0, restart=restart, maxiter=1000,
                         callback=lambda pr: its.append(pr), callback_type="pr_norm")
    assert info == 0 and abs(res.nit - len(its)) <= 2
    h = res.history["residual"]
    assert h.shape == (res.nit + 1,)
    np.testing.assert_allclose(h[-1], np.linalg.norm(b - A @ res.x), rtol=1e-6)


def test_gmres_dense_random_and_preconditioned(cpu_backend, rng):
    n = 80
    A = rng.standard_normal((n, n)) + 12 * np.eye(n)
    d = np.exp(rng.uniform(-3, 3, n))
    A = A * d[:, None]                     # badly row-scaled, non-symmetric
    b = rng.standard_normal(n)
    plain = solvers.gmres(A, b, restart=20, rtol=1e-10, maxiter=3000, backend=cpu_backend)
    pre = solvers.gmres(A, b, restart=20, rtol=1e-10, M=jacobi(A, require_positive=False), backend=cpu_backend)
    x = np.linalg.solve(A, b)
    assert pre.converged
    np.testing.assert_allclose(pre.x, x, rtol=1e-7, atol=1e-9)
    # right preconditioning: the unpreconditioned residual is the one tested
    assert np.linalg.norm(b - A @ pre.x) <= 1e-10 * np.linalg.norm(b)
    assert pre.nit < plain.nit


def test_gmres_x0_zero_rhs_maxiter_callback(cpu_backend, rng):
    A = convection_diffusion(60, 4)
    b = rng.standard_normal(60)
    xs = spla.spsolve(A.tocsc(), b)
    assert solvers.gmres(A, b, x0=xs, backend=cpu_backend).nit == 0
    x0 = rng.standard_normal(60)
    r = solvers.gmres(A, b, x0=x0, rtol=1e-11, backend=cpu_backend)
    np.testing.assert_allclose(r.history["residual"][0], np.linalg.norm(b - A @ x0), rtol=1e-12)
    np.testing.assert_allclose(r.x, xs, rtol=1e-8, atol=1e-10)
    z = solvers.gmres(A, np.zeros(60), x0=x0, backend=cpu_backend)
    assert z.converged and np.all(z.x == 0)
    m = solvers.gmres(A, b, maxiter=5, restart=3, backend=cpu_backend)
    # maxiter counts restart cycles, as in SciPy: 5 cycles of 3 inner iterations
    assert m.status == "maxiter" and m.nit == 15 and not m.converged
    assert m.history["residual"].shape == (16,) and m.stats["restarts"] == 4 and m.options["maxiter"] == 5
    xs5, info = spla.gmres(A, b, restart=3, maxiter=5, rtol=1e-15, atol=0.0)
    assert info > 0
    np.testing.assert_allclose(m.x, xs5, rtol=1e-8, atol=1e-10)
    z0 = solvers.gmres(A, b, maxiter=0, backend=cpu_backend)
    assert z0.status == "maxiter" and z0.nit == 0 and z0.stats["matvecs"] == 0 and np.all(z0.x == 0)
    assert z0.history["residual"].shape == (1,)
    seen = []
    r = solvers.gmres(A, b, restart=7, callback=lambda xk: seen.append(np.linalg.norm(b - A @ xk)),
                      backend=cpu_backend)
    assert len(seen) == r.nit
    np.testing.assert_allclose(seen, r.history["residual"][1:], rtol=1e-5, atol=1e-12)


def test_gmres_numpy_numba_agree(rng):
    A = convection_diffusion(100, 5)
    b = rng.standard_normal(100)
    r1 = solvers.gmres(A, b, restart=15, backend="numpy")
    r2 = solvers.gmres(A, b, restart=15, backend="numba")
    assert r1.nit == r2.nit
    np.testing.assert_allclose(r1.history["residual"], r2.history["residual"], rtol=1e-8)
    np.testing.assert_allclose(r1.x, r2.x, rtol=1e-9)


def test_gmres_stagnation_reported(cpu_backend):
    # cyclic shift: GMRES(m) with m < n makes no progress on b = e_1
    n = 20
    P = np.roll(np.eye(n), 1, axis=0)
    b = np.zeros(n)
    b[0] = 1.0
    res = solvers.gmres(P, b, restart=5, backend=cpu_backend)
    assert res.status == "stagnated" and not res.converged and "restart" in res.message
    full = solvers.gmres(P, b, restart=n, backend=cpu_backend)
    assert full.converged and full.nit == n


def test_gmres_bad_inputs():
    with pytest.raises(ValueError, match="restart"):
        solvers.gmres(np.eye(3), np.ones(3), restart=0)
    with pytest.raises(ValueError, match="square"):
        solvers.gmres(np.ones((2, 3)), np.ones(2))
    with pytest.raises(TypeError, match="complex"):
        solvers.gmres(np.eye(3), np.ones(3, dtype=complex))


@pytest.mark.gpu
def test_gmres_cupy(rng):
    import cupy
    import cupyx.scipy.sparse as csp

    A = convection_diffusion(100, 6)
    b = rng.standard_normal(100)
    ref = solvers.gmres(A, b, backend="numpy")
    res = solvers.gmres(csp.csr_matrix(A), cupy.asarray(b), backend="cupy")
    assert res.backend == "cupy" and res.nit == ref.nit
    np.testing.assert_allclose(cupy.asnumpy(res.x), ref.x, rtol=1e-8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_operator_returning_a_view_of_its_input(backend):
    """A matvec whose output is a view of its input (SciPy ``LinearOperator(matvec=lambda x: x)``): the
    in-place Arnoldi step must not write through it into the Krylov basis (it zeroed ``V[0]``: "stagnated")."""
    import scipy.sparse.linalg as sla

    n = 200
    b = np.random.default_rng(1).standard_normal(n)
    A = sla.LinearOperator((n, n), matvec=lambda x: x, dtype=float)
    res = solvers.gmres(A, b, backend=backend)
    assert res.converged and res.nit == 1
    np.testing.assert_allclose(res.x, b, rtol=1e-12)
    D = sla.LinearOperator((n, n), matvec=lambda x: x * np.arange(1.0, n + 1), dtype=float)
    res = solvers.gmres(D, b, backend=backend, rtol=1e-10)
    np.testing.assert_allclose(res.x, b / np.arange(1.0, n + 1), rtol=1e-8)


def test_default_budget_converges_on_the_readme_laplacian():
    """The README's example: restarted GMRES(30) needs 53 cycles on the 100-point 1-D Laplacian (cond ~4e3);
    the default budget (SciPy's, 10 n cycles) lets it converge. Reference: a direct solve."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(100, 100), format="csr")
    b = np.ones(100)
    r = solvers.gmres(A, b, rtol=1e-10)
    assert r.converged and r.options["maxiter"] == 1000 and r.nit > 1020
    ref = spl.spsolve(A.tocsc(), b)
    assert np.linalg.norm(r.x - ref) <= 1e-6 * np.linalg.norm(ref)
