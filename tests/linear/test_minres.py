"""solvers.minres against scipy.sparse.linalg.minres and dense solves (symmetric indefinite systems)."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers.operators import DiagonalOperator


def sym_indefinite(rng, n, cond=1e3):
    """Symmetric matrix with eigenvalues of both signs, |lambda| in [1, cond]."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    ev = np.geomspace(1.0, cond, n) * np.where(np.arange(n) % 3 == 0, -1.0, 1.0)
    return (Q * ev) @ Q.T


def kkt(rng, n, m):
    """Saddle-point matrix [[H, J^T], [J, 0]] with SPD H and full-rank J."""
    B = rng.standard_normal((n, n))
    H = B @ B.T + n * np.eye(n)
    J = rng.standard_normal((m, n))
    return np.block([[H, J.T], [J, np.zeros((m, m))]])


@pytest.mark.parametrize("n,cond", [(40, 1e2), (90, 1e4)])
def test_minres_indefinite_matches_dense_and_scipy(cpu_backend, rng, n, cond):
    A = sym_indefinite(rng, n, cond)
    b = rng.standard_normal(n)
    res = solvers.minres(A, b, rtol=1e-10, backend=cpu_backend)
    assert res.converged and res.status == "converged"
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-10 * cond * 10)
    assert np.linalg.norm(b - A @ res.x) <= 1e-10 * np.linalg.norm(b)
    if cond <= 1e2:
        # scipy stops on a normwise backward error, which for ill-conditioned A is looser than the
        # residual test used here; on a well-conditioned A both count the same iterations
        its = []
        spla.minres(A, b, rtol=1e-10, callback=lambda xk: its.append(1))
        assert abs(res.nit - len(its)) <= max(3, 0.1 * len(its))     # (71 against 67 on AMD Zen 5: rounding)
    h = res.history["residual"]
    assert h.shape == (res.nit + 1,)
    np.testing.assert_allclose(h[0], np.linalg.norm(b), rtol=1e-14)
    # MINRES residual norms never increase
    assert np.all(np.diff(h[:-1]) <= 1e-12 * h[0])


def test_minres_kkt_preconditioned(cpu_backend, rng):
    n, m = 50, 15
    A = kkt(rng, n, m)
    b = rng.standard_normal(n + m)
    # block-diagonal SPD preconditioner: diag(H)^-1 and (J diag(H)^-1 J^T)^-1
    H, J = A[:n, :n], A[n:, :n]
    Dh = np.diag(1.0 / np.diag(H))
    Sc = J @ Dh @ J.T
    Minv = np.block([[Dh, np.zeros((n, m))], [np.zeros((m, n)), np.linalg.inv(Sc)]])
    plain = solvers.minres(A, b, rtol=1e-10, backend=cpu_backend)
    pre = solvers.minres(A, b, rtol=1e-10, M=Minv, backend=cpu_backend)
    x = np.linalg.solve(A, b)
    for r in (plain, pre):
        assert r.converged
        np.testing.assert_allclose(r.x, x, rtol=1e-7, atol=1e-9 * np.abs(x).max())
        # the tested residual is the 2-norm (not the M-norm scipy uses)
        assert np.linalg.norm(b - A @ r.x) <= 1e-10 * np.linalg.norm(b)
    assert pre.nit < plain.nit
    assert pre.stats["precond_applications"] >= pre.nit
    x_sp, info = spla.minres(A, b, M=Minv, rtol=1e-12)
    np.testing.assert_allclose(pre.x, x_sp, rtol=1e-6, atol=1e-8 * np.abs(x).max())


def test_minres_spd_agrees_with_cg(rng):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(12, 12))
    A = (sp.kron(T, sp.identity(12)) + sp.kron(sp.identity(12), T)).tocsr()
    b = rng.standard_normal(144)
    r1 = solvers.minres(A, b, rtol=1e-10, backend="numba")
    r2 = solvers.cg(A, b, rtol=1e-10, backend="numba")
    np.testing.assert_allclose(r1.x, r2.x, rtol=1e-8, atol=1e-10)


def test_minres_numpy_numba_agree(rng):
    A = sym_indefinite(rng, 300, 3.0)      # converges well before n steps: no loss-of-orthogonality chaos
    b = rng.standard_normal(300)
    r1 = solvers.minres(A, b, backend="numpy", rtol=1e-10)
    r2 = solvers.minres(A, b, backend="numba", rtol=1e-10)
    assert abs(r1.nit - r2.nit) <= 1
    k = min(r1.nit, r2.nit) - 2
    np.testing.assert_allclose(r1.history["residual"][:k], r2.history["residual"][:k], rtol=1e-8)
    np.testing.assert_allclose(r1.x, r2.x, rtol=1e-8)


def test_minres_indefinite_preconditioner_breakdown(cpu_backend, rng):
    A = sym_indefinite(rng, 30, 10.0)
    d = np.ones(30)
    d[1::2] = -1.0
    res = solvers.minres(A, rng.standard_normal(30), M=DiagonalOperator(d), backend=cpu_backend)
    assert res.status == "breakdown" and not res.converged
    assert "preconditioner" in res.message and "SPD" in res.message
    assert np.all(np.isfinite(res.x))


def test_minres_edge_cases(cpu_backend, rng):
    A = sym_indefinite(rng, 20, 10.0)
    b = rng.standard_normal(20)
    z = solvers.minres(A, np.zeros(20), backend=cpu_backend)
    assert z.converged and z.nit == 0 and np.all(z.x == 0)
    xs = np.linalg.solve(A, b)
    r = solvers.minres(A, b, x0=xs, backend=cpu_backend)
    assert r.converged and r.nit == 0
    x0 = rng.standard_normal(20)
    r = solvers.minres(A, b, x0=x0, rtol=1e-11, backend=cpu_backend)
    np.testing.assert_allclose(r.history["residual"][0], np.linalg.norm(b - A @ x0), rtol=1e-12)
    np.testing.assert_allclose(r.x, xs, rtol=1e-8)
    m = solvers.minres(A, b, maxiter=4, backend=cpu_backend)
    assert m.status == "maxiter" and m.nit == 4 and not m.converged and m.history["residual"].size == 5
    calls = []
    r = solvers.minres(A, b, callback=lambda xk: calls.append(xk.copy()), backend=cpu_backend)
    assert len(calls) == r.nit


def test_minres_bad_inputs():
    with pytest.raises(ValueError, match="b has shape"):
        solvers.minres(np.eye(3), np.ones(4))
    with pytest.raises(TypeError, match="complex"):
        solvers.minres(np.eye(3) * 1j, np.ones(3))
    with pytest.raises(ValueError, match="b contains NaN"):
        solvers.minres(np.eye(2), np.array([1.0, np.nan]))


@pytest.mark.gpu
def test_minres_cupy(rng):
    import cupy

    A = sym_indefinite(rng, 50, 1e2)
    b = rng.standard_normal(50)
    res = solvers.minres(cupy.asarray(A), cupy.asarray(b), rtol=1e-10)
    assert res.backend == "cupy" and res.converged
    np.testing.assert_allclose(cupy.asnumpy(res.x), np.linalg.solve(A, b), rtol=1e-7)


@pytest.mark.parametrize("shape, rtol", [((63, 63), 0.0), ((23, 23, 23), 1e-16)])
def test_minres_stops_at_the_rounding_level_instead_of_running_the_budget(shape, rtol):
    """An unattainable rtol (0, 1e-16) with a multigrid M: MINRES ran the whole 10 n budget (39 690
    iterations on 63^2, 121 670 on 23^3) where cg and gmres stopped as stagnated. It now stops once its
    residual is at the rounding level and no longer halving; the iterate is checked against SciPy's direct
    solve of the assembled matrix."""
    import scipy.sparse.linalg as spla

    from problems import pde

    p = pde.Poisson(shape)
    r = solvers.solve(p, method="minres", precond="mg", rtol=rtol)
    assert r.status == "stagnated" and not r.converged and r.nit < 200
    assert "rounding level" in r.message or "near machine precision" in r.message   # (the recurrence's claim
    assert "looser rtol" in r.message or "loosen rtol" in r.message                  # refuted three times)
    A, b = p.csr(), np.asarray(p.rhs("numpy"))
    x = np.asarray(r.x).reshape(-1)
    ref = spla.spsolve(A.tocsc(), b)
    assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-12 * np.abs(ref).max())


def test_slow_unpreconditioned_minres_is_not_stopped_early():
    """The stagnation exit only acts at the rounding level: an ill-conditioned 1-D Laplacian (cond ~ 4e5,
    the residual halving only every few hundred iterations) still converges to rtol = 1e-9 (SciPy's MINRES
    as the reference)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = 1000
    A = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")
    b = np.sin(np.linspace(0, 40, n)) + 0.1
    r = solvers.minres(A, b, rtol=1e-9, maxiter=20 * n)
    assert r.converged, r.message
    ref = spla.spsolve(A.tocsc(), b)
    # residual 1e-9 ||b|| and cond ~ 4e5: the error is at most ~4e-4 of the solution's size
    np.testing.assert_allclose(r.x, ref, rtol=0, atol=1e-3 * np.abs(ref).max())
