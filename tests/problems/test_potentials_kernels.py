"""Gaussian-sum kernels: accuracy against the exact 1/r, exp(-a r), exp(-k r)/r; range separation; CP factors."""
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from problems.potentials import GaussianSum, newton_kernel, slater_kernel, yukawa_kernel


def _log_uniform(lo, hi, n, seed):
    return np.exp(np.random.default_rng(seed).uniform(math.log(lo), math.log(hi), n))


@pytest.mark.parametrize("method", ["auto", "sinc"])
@pytest.mark.parametrize("tol,r_min,r_max,max_rank", [
    (1e-4, 1 / 256, 3 ** 0.5, 22),
    (1e-7, 1 / 256, 3 ** 0.5, 34),      # Benner et al. report 26-39 for n = 256 ... 8192 at 1e-7
    (1e-7, 1 / 8192, 3 ** 0.5, 46),
    (1e-10, 1e-3, 50.0, 70),
])
def test_newton_kernel_meets_tol_on_random_distances(tol, r_min, r_max, max_rank, method):
    k = newton_kernel(tol, r_min=r_min, r_max=r_max, method=method)
    r = np.concatenate([_log_uniform(r_min, r_max, 20000, 1), [r_min, r_max]])
    rel = np.abs(k.radial(r) * r - 1.0)
    assert rel.max() <= 1.02 * tol                  # the exact kernel 1/r is the reference
    assert k.error <= tol and k.rank <= max_rank and k.kind == "newton"
    assert np.all(k.t[1:] >= k.t[:-1])              # widest Gaussians first
    assert k.params["method"] in ("sinc", "optimised") and (method == "auto" or k.params["method"] == method)


def test_newton_kernel_rank_grows_like_log_of_range():
    ranks = [newton_kernel(1e-7, r_min=1.0 / n, r_max=1.0).rank for n in (64, 1024, 16384)]
    assert ranks[0] < ranks[1] < ranks[2] and ranks[2] - ranks[0] < 25


@pytest.mark.parametrize("alpha", [0.7, 4.0])
def test_slater_kernel_vs_exact(alpha):
    k = slater_kernel(alpha, tol=1e-6, r_min=1e-3, r_max=5.0)
    r = np.concatenate([_log_uniform(1e-3, 5.0, 10000, 2), [1e-3, 5.0]])
    assert np.max(np.abs(k.radial(r) / np.exp(-alpha * r) - 1)) <= 1.02e-6
    assert k.params["alpha"] == alpha


@pytest.mark.parametrize("kappa", [0.3, 2.0])
def test_yukawa_kernel_vs_exact(kappa):
    k = yukawa_kernel(kappa, tol=1e-6, r_min=1e-3, r_max=5.0)
    r = np.concatenate([_log_uniform(1e-3, 5.0, 10000, 3), [1e-3, 5.0]])
    assert np.max(np.abs(k.radial(r) * r / np.exp(-kappa * r) - 1)) <= 1.02e-6


def test_long_plus_short_is_full_and_long_matches_beyond_cutoff():
    k = newton_kernel(1e-7, r_min=1e-3, r_max=10.0)
    r = _log_uniform(1e-3, 10.0, 5000, 4)
    for cut in (0.3, 1.0, 3.0):
        lo, sh = k.long_range(cutoff=cut), k.short_range(cutoff=cut)
        assert lo.rank + sh.rank == k.rank and lo.rank < k.rank
        np.testing.assert_allclose(lo.radial(r) + sh.radial(r), k.radial(r), rtol=1e-14)
        far = r[r >= cut]
        assert np.max(np.abs(lo.radial(far) * far - 1)) <= 2.05e-7   # kernel tol + split tol vs exact 1/r
        assert np.all(lo.t <= sh.t.min())                           # long range = the wide Gaussians
    # the long-range part is smooth: bounded at 0, unlike 1/r
    # (about 2 sqrt(log(1/tol)) / (sqrt(pi) cutoff), as for erf(r / sigma) / r)
    assert k.long_range(cutoff=1.0).radial(np.array([0.0]))[0] < 5.0
    assert k.long_range(rank=5).rank == 5 and k.short_range(rank=5).rank == k.rank - 5


@settings(max_examples=15, deadline=None)
@given(split=st.integers(1, 20), r=st.floats(1e-3, 10.0))
def test_split_by_rank_sums_to_full(split, r):
    k = _KERNEL
    s = k.long_range(rank=split).radial(np.array([r])) + k.short_range(rank=split).radial(np.array([r]))
    assert s[0] == pytest.approx(k.radial(np.array([r]))[0], rel=1e-14)


_KERNEL = newton_kernel(1e-6, r_min=1e-3, r_max=10.0)


def test_cp_factors_reproduce_the_kernel_on_a_grid():
    k = newton_kernel(1e-8, r_min=0.05, r_max=2.0)
    nodes = [np.linspace(0.1, 1.0, 7), np.linspace(-1.0, -0.2, 5), np.linspace(0.3, 1.1, 6)]
    w, U = k.cp_factors(nodes)
    assert w.shape == (k.rank,) and [u.shape for u in U] == [(7, k.rank), (5, k.rank), (6, k.rank)]
    T = np.einsum("r,ir,jr,kr->ijk", w, *U)
    X, Y, Z = np.meshgrid(*nodes, indexing="ij")
    np.testing.assert_allclose(T, 1.0 / np.sqrt(X ** 2 + Y ** 2 + Z ** 2), rtol=1.02e-8)
    pts = np.stack([X.ravel(), Y.ravel(), Z.ravel()], 1)
    np.testing.assert_allclose(k(pts), T.ravel(), rtol=1e-13)


def test_kernels_pickle():
    for k in (_KERNEL, _KERNEL.long_range(cutoff=1.0), yukawa_kernel(1.0, 1e-4, 1e-2, 2.0)):
        q = pickle.loads(pickle.dumps(k))
        assert repr(q) == repr(k) and q.params == k.params
        r = np.linspace(0.01, 2, 50)
        np.testing.assert_array_equal(q.radial(r), k.radial(r))


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"tol": 0.0}, ValueError, "tol must be > 0"),
    ({"tol": 1e-16}, ValueError, r"tol must lie in \[1e-14, 0.1\]"),
    ({"tol": float("nan")}, ValueError, "tol must be finite"),
    ({"tol": "1e-7"}, TypeError, "tol must be a real number"),
    ({"r_min": 2.0, "r_max": 1.0}, ValueError, "r_max must be > r_min"),
    ({"r_min": -1.0}, ValueError, "r_min must be > 0"),
    ({"r_min": 1e-14, "r_max": 10.0}, ValueError, "exceeds 1e12"),
])
def test_newton_kernel_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        newton_kernel(**kwargs)


def test_bad_kernel_parameters_and_splits():
    with pytest.raises(ValueError, match="alpha must be > 0"):
        slater_kernel(0.0)
    with pytest.raises(ValueError, match="kappa \\* r_max must stay below 600"):
        yukawa_kernel(1000.0, r_max=1.0)
    with pytest.raises(ValueError, match="exactly one of cutoff"):
        _KERNEL.long_range()
    with pytest.raises(ValueError, match="exactly one of cutoff"):
        _KERNEL.short_range(cutoff=1.0, rank=3)
    with pytest.raises(ValueError, match="exceeds the kernel"):
        _KERNEL.long_range(rank=10_000)
    with pytest.raises(ValueError, match="cutoff must be > 0"):
        _KERNEL.long_range(cutoff=-1.0)
    with pytest.raises(ValueError, match="leaves no short-range term"):
        _KERNEL.short_range(rank=_KERNEL.rank)
    with pytest.raises(ValueError, match="same length"):
        GaussianSum([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="negative"):
        GaussianSum([1.0], [-1.0])
    with pytest.raises(ValueError, match="NaN"):
        GaussianSum([np.nan], [1.0])
    with pytest.raises(TypeError, match="list of 1-D arrays"):
        _KERNEL.cp_factors(np.linspace(0, 1, 5))
    with pytest.raises(ValueError, match=r"nodes\[1\] must be a 1-D"):
        _KERNEL.cp_factors([np.zeros(3), np.zeros((2, 2))])
    with pytest.raises(ValueError, match="r has negative entries"):
        _KERNEL.radial([-1.0])
