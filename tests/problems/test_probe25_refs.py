"""Probe 25 (reference numbers): problem modules checked against independent references."""
import numpy as np
import pytest


def test_euclidean_cost_of_coincident_and_close_points_is_accurate():
    """pairwise_cost(kind="euclidean") took sqrt of the expanded |x|^2 + |y|^2 - 2 x.y: coincident points
    came out ~1e-8 apart (sqrt of round-off) and points 1e-9 apart at 0; the docstring promises an error
    of about the float64 round-off of the spread. Reference: the direct differences."""
    from problems.ot import EntropicOT, pairwise_cost
    rng = np.random.default_rng(1)
    for d, shift in ((2, 0.3), (3, 0.0), (3, 100.0)):
        x = rng.random((50, d)) + shift
        y = np.vstack([x[:20], rng.random((30, d)) + shift])
        ref = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
        C = pairwise_cost(x, y, "euclidean")
        assert np.abs(C - ref).max() <= 1e-14
        assert np.all(C[np.arange(20), np.arange(20)] == 0.0)
    x = np.array([[0.3, 0.7], [0.0, 0.0], [1.0, 1.0]])
    y = x + np.array([1e-9, 0.0])
    assert pairwise_cost(x, y, "euclidean")[0, 0] == pytest.approx(1e-9, rel=1e-6)
    # W1 between grid densities: staying in place costs exactly 0
    prob = EntropicOT.from_grids(np.ones((4, 4, 4)), np.ones((4, 4, 4)), p=1)
    assert np.all(np.diag(prob.C) == 0.0)
