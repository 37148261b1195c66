"""Sinkhorn-Newton-Sparse against Sinkhorn, dense references and the exact LP."""
import numpy as np
import pytest

import solvers
from problems import ot

from ._refs import dual_lbfgs, gauge, l1_marginal_error as _l1_marg, random_problem as _prob


@pytest.mark.parametrize("eps", [1e-1, 1e-2, 1e-3])
def test_sns_agrees_with_sinkhorn(rng, cpu_backend, eps):
    p = _prob(rng, 70, 55, eps, weights=True)
    r_s = solvers.sinkhorn(p, tol=1e-11, backend="numba")
    r_n = solvers.sns(p, tol=1e-11, backend=cpu_backend)
    assert r_n.converged, r_n.message
    f1, g1 = gauge(np.asarray(r_s.f), np.asarray(r_s.g))
    f2, g2 = gauge(np.asarray(r_n.f), np.asarray(r_n.g))
    # potentials are determined up to (t, -t); errors in them scale like eps * marginal error / weight
    np.testing.assert_allclose(f2, f1, atol=1e-6 * max(eps, 1e-2))
    np.testing.assert_allclose(g2, g1, atol=1e-6 * max(eps, 1e-2))
    np.testing.assert_allclose(r_n.plan(), r_s.plan(), atol=1e-10)
    assert r_n.cost == pytest.approx(r_s.cost, rel=1e-8)
    assert _l1_marg(r_n.plan(), p) <= 1.01e-11


def test_sns_matches_lbfgs_dual(rng):
    p = _prob(rng, 8, 11, 0.05, weights=True)
    f_ref, g_ref, P_ref = dual_lbfgs(p.C, p.a, p.b, p.eps)
    res = solvers.sns(p, tol=1e-12, n_sinkhorn=2, switch_tol=1.0, backend="numba")
    assert res.converged
    f, g = gauge(np.asarray(res.f), np.asarray(res.g))
    fr, gr = gauge(f_ref, g_ref)
    np.testing.assert_allclose(f, fr, atol=1e-6)
    np.testing.assert_allclose(g, gr, atol=1e-6)
    np.testing.assert_allclose(res.plan(), P_ref, atol=1e-7)


def test_sns_small_eps_newton_stage_and_history(rng):
    p = _prob(rng, 150, 150, 1e-4)
    res = solvers.sns(p, tol=1e-9, backend="numba")
    assert res.converged, res.message
    h = res.history
    assert set(np.unique(h["stage"])) >= {1, 2}
    assert len(h["marginal_error"]) == len(h["stage"]) == len(h["eps"]) == res.nit + 1
    assert h["marginal_error"][-1] <= 1e-9
    assert res.stats["newton_steps"] >= 1
    # the Newton stage uses a sparse Hessian: far fewer than n*m entries
    assert 0 < h["nnz"][h["stage"] == 2].max() < 0.5 * 150 * 150
    assert _l1_marg(res.plan(), p) <= 1.01e-9
    # Sinkhorn alone needs far more iterations at this eps
    r_s = solvers.sinkhorn(p, tol=1e-9, maxiter=5 * res.nit, backend="numba")
    assert not r_s.converged


def test_cost_tends_to_exact_lp_small_eps(rng):
    p0 = _prob(rng, 30, 30, 1.0)
    lp = ot.exact_ot(p0.C, p0.a, p0.b)
    gaps = []
    for eps in (1e-2, 1e-3, 1e-4, 1e-5):
        res = solvers.sns(ot.EntropicOT(p0.C, p0.a, p0.b, eps=eps), tol=1e-9, backend="numba")
        assert res.converged, (eps, res.message)
        gap = res.cost - lp
        assert -1e-9 <= gap <= eps * np.log(30 * 30) + 1e-9
        gaps.append(gap)
    assert gaps[-1] <= 1e-3 * lp and gaps[-1] < gaps[0]


def test_sns_numpy_numba_agree(rng):
    """Backend agreement (extra to the references): iterate by iterate in the log domain; with the
    float32 kernel (stage 1 and the Newton stage above 1e-5) the float32 sums differ between the
    sets, so there only the answers are compared."""
    p = _prob(rng, 60, 60, 1e-3, weights=True)
    r1 = solvers.sns(p, tol=1e-10, backend="numpy", domain="log")
    r2 = solvers.sns(p, tol=1e-10, backend="numba", domain="log")
    assert r1.converged and r2.converged
    np.testing.assert_array_equal(r1.history["stage"], r2.history["stage"])
    np.testing.assert_allclose(r2.history["marginal_error"], r1.history["marginal_error"], rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(r2.plan(), r1.plan(), atol=1e-11)
    k1 = solvers.sns(p, tol=1e-10, backend="numpy", domain="kernel")
    k2 = solvers.sns(p, tol=1e-10, backend="numba", domain="kernel")
    assert k1.converged and k2.converged and k2.stats["newton_kernel_iterations"] > 0
    np.testing.assert_allclose(k2.plan(), r1.plan(), atol=1e-11)
    np.testing.assert_allclose(k1.plan(), r1.plan(), atol=1e-11)


def test_sns_fallback_and_safety(rng):
    # an extremely sparse Hessian (1 entry per row) still converges thanks to shift + densification
    p = _prob(rng, 80, 80, 3e-4)
    res = solvers.sns(p, tol=1e-9, kmax=1, rho=0.5, n_sinkhorn=1, switch_tol=10.0, backend="numba")
    assert res.converged, res.message
    assert _l1_marg(res.plan(), p) <= 1.01e-9


def test_sns_solve_dispatch_warm_start_and_errors(rng):
    p = _prob(rng, 30, 20, 1e-2)
    res = solvers.solve(p, method="sns", tol=1e-10, backend="numba")
    assert res.method == "sns" and res.converged
    r2 = solvers.sns(p, tol=1e-10, f0=res.f, backend="numba")
    assert r2.converged and r2.nit <= 2
    with pytest.raises(ValueError, match="rho"):
        solvers.sns(p, rho=2.0)
    with pytest.raises(ValueError, match="tol"):
        solvers.sns(p, tol=0.0)
    with pytest.raises(TypeError, match="EntropicOT"):
        solvers.sns(object())


def test_sparse_plan_kernel_matches_numpy(rng):
    from solvers.ot._common import Geometry

    p = _prob(rng, 40, 33, 1e-2)
    f, g = rng.standard_normal(40) * 1e-2, rng.standard_normal(33) * 1e-2
    ref = Geometry(p.C, solvers.get_backend("numpy")).sparse_plan(f, g, p.eps, 1e-3, 7)
    got = Geometry(p.C, solvers.get_backend("numba")).sparse_plan(f, g, p.eps, 1e-3, 7)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-13)
    P = np.exp((f[:, None] + g[None, :] - p.C) / p.eps)
    np.testing.assert_allclose(ref[2], P[np.repeat(np.arange(40), np.diff(ref[0])), ref[1]], rtol=1e-13)


@pytest.mark.gpu
def test_sns_cupy_matches_numpy(rng):
    import cupy

    p = _prob(rng, 90, 70, 1e-3, weights=True)
    r1 = solvers.sns(p, tol=1e-10, backend="numpy")
    pg = ot.EntropicOT(cupy.asarray(p.C), p.a, p.b, eps=p.eps)
    r2 = solvers.sns(pg, tol=1e-10, backend="cupy")
    assert r2.converged and r2.backend == "cupy"
    np.testing.assert_allclose(cupy.asnumpy(r2.plan()), r1.plan(), atol=1e-10)
    assert r2.cost == pytest.approx(r1.cost, rel=1e-8)


@pytest.mark.parametrize("p_exp", [1, 2])
def test_from_grids_entropic_cost_tends_to_lp(rng, p_exp):
    da, db = rng.random((5, 4)) + 0.05, rng.random((5, 4)) + 0.05
    da[0, 0] = 0.0  # an empty cell
    lp = ot.exact_ot(*(lambda q: (q.C, q.a, q.b))(ot.EntropicOT.from_grids(da, db, p=p_exp)))
    for eps in (1e-2, 1e-4):
        prob = ot.EntropicOT.from_grids(da, db, p=p_exp, eps=eps)
        res = solvers.sns(prob, tol=1e-10, backend="numba")
        assert res.converged, res.message
        # feasible to tol, so cost >= LP - tol * max C; the entropic excess is at most eps log(n m)
        assert lp - 1e-9 <= res.cost <= lp + eps * np.log(20 * 20) + 1e-9
    assert res.cost == pytest.approx(lp, rel=2e-3)
