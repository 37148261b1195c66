"""Log-domain Sinkhorn against dense references, the exact LP, and across backends."""
import numpy as np
import pytest

import solvers
from problems import ot
from scipy.special import logsumexp

from ._refs import dual_lbfgs, gauge, l1_marginal_error as _l1_marg, random_problem as _prob, scaling_sinkhorn


@pytest.mark.parametrize("eps", [0.3, 0.05])
def test_plan_matches_scaling_sinkhorn(rng, cpu_backend, eps):
    p = _prob(rng, 23, 17, eps, weights=True)
    res = solvers.sinkhorn(p, tol=1e-12, backend=cpu_backend)
    assert res.converged, res.message
    P = res.plan()
    Pref = scaling_sinkhorn(p.C, p.a, p.b, eps)
    np.testing.assert_allclose(P, Pref, rtol=1e-8, atol=1e-13)
    assert res.cost == pytest.approx((Pref * p.C).sum(), rel=1e-9)


def test_potentials_match_lbfgs_dual(rng, cpu_backend):
    p = _prob(rng, 9, 7, 0.1, weights=True)
    f_ref, g_ref, P_ref = dual_lbfgs(p.C, p.a, p.b, p.eps)
    res = solvers.sinkhorn(p, tol=1e-13, backend=cpu_backend)
    f, g = gauge(np.asarray(res.f), np.asarray(res.g))
    fr, gr = gauge(f_ref, g_ref)
    np.testing.assert_allclose(f, fr, atol=1e-6)
    np.testing.assert_allclose(g, gr, atol=1e-6)
    np.testing.assert_allclose(res.plan(), P_ref, atol=1e-7)
    assert p.dual(res.f, res.g) == pytest.approx(p.dual(f_ref, g_ref), rel=1e-9)


@pytest.mark.parametrize("eps", [1e-1, 1e-2, 1e-3])
@pytest.mark.parametrize("kw", [{}, {"float32": False}, {"domain": "log"}], ids=["auto", "kernel64", "log"])
def test_marginals_within_tol(rng, cpu_backend, eps, kw):
    p = _prob(rng, 60, 50, eps)
    tol = 1e-9
    res = solvers.sinkhorn(p, tol=tol, backend=cpu_backend, **kw)
    assert res.converged and res.status == "converged"
    assert _l1_marg(res.plan(), p) <= 1.01 * tol
    h = res.history["marginal_error"]
    assert h.shape == (res.nit + 1,) and h[-1] <= tol and h[0] > tol
    # entry 0 is the starting point (f = 0 with its column update): its plan's row error
    f0 = np.zeros(p.C.shape[0])
    g0 = p.eps * (np.log(p.b) - logsumexp((f0[:, None] - p.C) / p.eps, axis=0))
    P0 = np.exp((f0[:, None] + g0[None, :] - p.C) / p.eps)
    if kw:
        assert h[0] == pytest.approx(_l1_marg(P0, p), rel=1e-10)
    else:   # measured with the float32 kernel: about 1e-7 absolute (solvers.ot._scaling)
        assert h[0] == pytest.approx(_l1_marg(P0, p), abs=1e-6)
    assert np.isfinite(res.f).all() and np.isfinite(res.g).all()


@pytest.mark.parametrize("kw", [{"domain": "log"}, {"float32": False}], ids=["log", "kernel64"])
def test_numpy_numba_agree(rng, kw):
    p = _prob(rng, 80, 64, 2e-3, weights=True)
    r1 = solvers.sinkhorn(p, tol=1e-10, backend="numpy", **kw)
    r2 = solvers.sinkhorn(p, tol=1e-10, backend="numba", **kw)
    assert r1.nit == r2.nit
    np.testing.assert_allclose(r2.f, r1.f, atol=1e-12)
    np.testing.assert_allclose(r2.g, r1.g, atol=1e-12)
    np.testing.assert_allclose(r2.history["marginal_error"], r1.history["marginal_error"], rtol=1e-6, atol=1e-13)
    assert r2.cost == pytest.approx(r1.cost, rel=1e-12)
    assert r2.backend == "numba" and r1.backend == "numpy"


def test_numpy_numba_agree_with_float32_phase(rng):
    """The float32 phase accumulates differently (NumPy: float32 BLAS; Numba: float64 sums), so
    the iterates differ at the 1e-7 level until the float64 phase; both end within tol."""
    p = _prob(rng, 80, 64, 2e-3, weights=True)
    r1 = solvers.sinkhorn(p, tol=1e-10, backend="numpy")
    r2 = solvers.sinkhorn(p, tol=1e-10, backend="numba")
    assert r1.converged and r2.converged and abs(r1.nit - r2.nit) <= 0.05 * r1.nit
    assert r1.stats["float32_steps"] > 0 and r2.stats["float32_steps"] > 0
    np.testing.assert_allclose(r2.plan(), r1.plan(), atol=1e-9)
    assert r2.cost == pytest.approx(r1.cost, rel=1e-8)


def test_cost_tends_to_exact_lp(rng, cpu_backend):
    p0 = _prob(rng, 25, 25, 1.0)
    lp = ot.exact_ot(p0.C, p0.a, p0.b)
    gaps = []
    for eps in (1e-1, 3e-2, 1e-2):
        p = ot.EntropicOT(p0.C, p0.a, p0.b, eps=eps)
        res = solvers.sinkhorn(p, tol=1e-10, backend=cpu_backend)
        assert res.converged, res.message
        gap = res.cost - lp
        # the entropic plan is feasible (to tol) so its cost is >= LP; the entropy bound caps the excess
        assert -1e-9 <= gap <= eps * np.log(25 * 25) + 1e-9
        gaps.append(gap)
    assert gaps[2] < gaps[1] < gaps[0]


def test_warm_start_and_eps_scaling(rng):
    p = _prob(rng, 40, 30, 1e-3)
    r = solvers.sinkhorn(p, tol=1e-9, backend="numba")
    r_warm = solvers.sinkhorn(p, tol=1e-9, f0=r.f, backend="numba")
    assert r_warm.nit == 0 and r_warm.converged          # the starting point already meets tol
    assert r_warm.history["marginal_error"].shape == (1,)
    r_scaled = solvers.sinkhorn(p, tol=1e-10, eps_scaling=0.3, backend="numba")
    assert r_scaled.converged
    assert set(np.unique(r_scaled.history["eps"])) > {1e-3}
    np.testing.assert_allclose(r_scaled.plan(), r.plan(), atol=1e-8)


def test_zero_weights(rng, cpu_backend):
    x, y = rng.random((10, 2)), rng.random((8, 2))
    a = np.full(10, 0.1)
    a[[2, 7]] = 0.0
    a /= a.sum()
    b = np.full(8, 1 / 8)
    b[3] = 0
    b /= b.sum()
    p = ot.EntropicOT.from_points(x, y, a, b, eps=0.05)
    res = solvers.sinkhorn(p, tol=1e-11, backend=cpu_backend)
    assert res.converged
    P = res.plan()
    assert P.shape == (10, 8) and np.all(P[[2, 7]] == 0) and np.all(P[:, 3] == 0)
    ref = scaling_sinkhorn(p.C[np.ix_(a > 0, b > 0)], a[a > 0], b[b > 0], 0.05)
    np.testing.assert_allclose(P[np.ix_(a > 0, b > 0)], ref, atol=1e-12)
    assert np.isneginf(res.f[2]) and np.isneginf(res.g[3])
    Ps = res.plan(dense=False)          # CSR path scatters the support back to full size
    assert Ps.shape == (10, 8)
    np.testing.assert_allclose(Ps.toarray(), P, atol=1e-12 * P.max())


def test_maxiter_failure_message(rng):
    p = _prob(rng, 30, 30, 1e-4)
    res = solvers.sinkhorn(p, tol=1e-12, maxiter=5, backend="numba")
    assert not res.converged and res.status == "maxiter" and res.nit == 5
    assert "sns" in res.message
    assert np.isfinite(res.f).all()


def test_solve_dispatch_and_bad_options(rng):
    p = _prob(rng, 12, 12, 0.05)
    res = solvers.solve(p, method="sinkhorn", tol=1e-10, backend="numpy")
    assert res.method == "sinkhorn" and res.converged
    with pytest.raises(ValueError, match="tol"):
        solvers.sinkhorn(p, tol=-1)
    with pytest.raises(ValueError, match="maxiter"):
        solvers.sinkhorn(p, maxiter=-1)
    with pytest.raises(ValueError, match="f0"):
        solvers.sinkhorn(p, f0=np.zeros(5))
    with pytest.raises(ValueError, match="method"):
        solvers.solve(p, method="cg")


def test_fast_exp_kernel_accuracy(rng):
    from solvers._kernels.numba import ot as K

    x = np.concatenate([-rng.random(20000) * 700, -rng.random(1000) * 1e-8, [0.0, -1e-300, -700.0]])
    out = np.empty_like(x)
    K.exp_le0_array(x, out)
    np.testing.assert_allclose(out, np.exp(x), rtol=1e-15)
    low = np.array([-700.5, -745.0, -1e5, -np.inf])
    np.testing.assert_allclose(K.exp_le0_array(low, np.empty(4)), np.exp(-700.0), rtol=1e-15)


@pytest.mark.gpu
def test_cupy_matches_numpy(rng):
    import cupy

    p = _prob(rng, 70, 50, 1e-2, weights=True)
    r1 = solvers.sinkhorn(p, tol=1e-10, backend="numpy")
    pg = ot.EntropicOT(cupy.asarray(p.C), p.a, p.b, eps=p.eps)
    r2 = solvers.sinkhorn(pg, tol=1e-10, backend="cupy")
    assert r2.backend == "cupy" and r2.converged
    np.testing.assert_allclose(cupy.asnumpy(r2.f), r1.f, atol=1e-10)
    np.testing.assert_allclose(cupy.asnumpy(r2.plan()), r1.plan(), atol=1e-12)
    assert r2.cost == pytest.approx(r1.cost, rel=1e-10)


@pytest.mark.gpu
def test_cupy_sparse_plan_with_zero_weights(rng):
    import cupy

    p = _prob(rng, 30, 20, 5e-2, weights=True)
    a, b = p.a.copy(), p.b.copy()
    a[[1, 4]] = 0.0
    b[2] = 0.0
    pg = ot.EntropicOT(cupy.asarray(p.C), a / a.sum(), b / b.sum(), eps=p.eps)
    r = solvers.sinkhorn(pg, tol=1e-10, backend="cupy")
    P = cupy.asnumpy(r.plan(dense=True))
    Ps = r.plan(dense=False)
    assert Ps.shape == (30, 20)
    np.testing.assert_allclose(cupy.asnumpy(Ps.toarray()), P, atol=1e-12 * P.max())
