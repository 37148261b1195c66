"""The predictive jump of sketch-and-project to the whole system (one exact projection) on dense KKT systems.

Before it, the default one-row Gaussian sketches needed 287 000 inner iterations (95 s) on the convex QP
``equality_qp(300, 30)``: the sketch solver's rate is about ``1 - sigma_min(K)^2 / ||K||_F^2`` per row, while one
factorization of the 330 x 330 KKT matrix costs milliseconds. The reference is the QP's exact optimum from a
dense solve of its KKT system (``problems.nlp.equality_qp``)."""
import math

import numpy as np
import pytest

import solvers
from problems import nlp
from solvers.nonlinear import _kkt


@pytest.mark.parametrize("n,m,seed", [(200, 20, 0), (300, 30, 1), (260, 60, 2)])
@pytest.mark.parametrize("sketch", ["gaussian", "kaczmarz", "countsketch"])
def test_mid_size_dense_qp_is_solved_without_a_crawl(n, m, seed, sketch):
    p = nlp.equality_qp(n, m, seed=seed)
    res = solvers.sketched_newton(p, sketch=sketch, tol=1e-8, seed=3)
    assert res.converged, res.message
    assert res.stats["inner_iterations"] < 5000, res.stats["inner_iterations"]
    assert res.stats["sketch_growths"] >= 1                 # the exact projection was taken
    np.testing.assert_allclose(res.x, p.x_star, atol=1e-7 * max(1.0, float(np.abs(p.x_star).max())))
    assert abs(p.f(res.x) - p.f_star) <= 1e-8 * max(1.0, abs(p.f_star))


def test_full_pays_compares_the_predicted_sketch_work_with_one_projection():
    N = 330
    # halving every 1000 iterations, 5e5 to go: ~19 000 iterations x 2 N^2 flops = 4.5e9 > 25 N^3 = 9e8: jump
    assert _kkt._full_pays(0.5, 1.0, 1000, 1e-6, 1, N)
    # halving every 100 iterations: ~1900 iterations = 4.5e8 < 9e8, keep sketching
    assert not _kkt._full_pays(0.5, 1.0, 100, 1e-6, 1, N)
    # the slow rate but almost there: keep sketching
    assert not _kkt._full_pays(1.01e-6, 2.02e-6, 1000, 1e-6, 1, N)
    # no progress at all: jump (the stall safeguard would only double the sketch after 20 N iterations)
    assert _kkt._full_pays(1.0, 1.0, 100, 1e-6, 1, N)
    # a tiny system (HS-size): the saving is below MIN_SAVING, keep sketching
    assert not _kkt._full_pays(0.5, 1.0, 100, 1e-6, 1, 6)
    # already converged, or no iterations measured
    assert not _kkt._full_pays(1e-7, 1.0, 100, 1e-6, 1, N)
    assert not _kkt._full_pays(0.5, 1.0, 0, 1e-6, 1, N)
    assert not _kkt._full_pays(math.nan, 1.0, 100, 1e-6, 1, N)


def test_full_pays_is_a_bool_for_a_zero_tolerance_or_an_infinite_residual():
    assert _kkt._full_pays(0.5, 1.0, 100, 0.0, 1, 330) is False
    assert _kkt._full_pays(math.inf, 1.0, 100, 1e-6, 1, 330) is False
    assert _kkt._full_pays(1e-300, 1e-200, 100, 1e-310, 1, 330) in (True, False)   # tol / rn underflows: no error


class _Dense:
    """The two members of a dense NewtonSystem the sampler uses."""

    def __init__(self, K):
        self.K = np.asarray(K, dtype=float)

    def rows(self, S):
        return S @ self.K


@pytest.mark.parametrize("N", [1, 2, 5])
def test_whole_system_sketch_is_the_exact_projection(N):
    """S = I (also for N = 1, where the one-row and the whole-system cases coincide): one step of
    sketch-and-project lands on K^-1 b, checked against numpy.linalg.solve."""
    rng = np.random.default_rng(N)
    K = rng.standard_normal((N, N))
    K = K + K.T + 3 * N * np.eye(N)
    b = rng.standard_normal(N)
    sys = _Dense(K)
    sys.matvec = lambda z: K @ z
    sampler = _kkt.SketchSampler("gaussian", N, N, np.random.default_rng(0))
    z, r = np.zeros(N), -b.copy()
    z, r, its, ok = _kkt.sketch_and_project(sys, b, z, r, 1e-12 * np.linalg.norm(b), 10, sampler)
    assert ok and its <= 2
    np.testing.assert_allclose(z, np.linalg.solve(K, b), rtol=1e-10, atol=1e-12)
    first = sampler.full
    sampler.next(sys)                       # drawn again on the same K: the cached pseudo-inverse
    assert sampler.full is first
    sampler.reset()
    assert sampler.full is None
