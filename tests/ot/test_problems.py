"""problems.ot: validation, constructors, exact LP helper."""
import numpy as np
import pytest

from problems import ot


def _pts(rng, n, m, d=2):
    return rng.random((n, d)), rng.random((m, d))


def test_from_points_costs(rng):
    x, y = _pts(rng, 7, 5)
    p = ot.EntropicOT.from_points(x, y, eps=0.1)
    ref = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(p.C, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.a, np.full(7, 1 / 7))
    np.testing.assert_allclose(p.b, np.full(5, 1 / 5))
    pe = ot.EntropicOT.from_points(x, y, cost="euclidean", eps=0.1)
    np.testing.assert_allclose(pe.C, np.sqrt(ref), rtol=1e-10, atol=1e-7)
    pm = ot.EntropicOT.from_points(x, y, eps=0.1, scale="max")
    assert pm.C.max() == pytest.approx(1.0)
    pc = ot.EntropicOT.from_points(x, y, cost=lambda u, v: np.abs(u[:, None, 0] - v[None, :, 0]), eps=0.1)
    np.testing.assert_allclose(pc.C, np.abs(x[:, None, 0] - y[None, :, 0]))
    d = pm.describe()
    assert (d["n"], d["m"], d["eps"], d["cost"]) == (7, 5, 0.1, "sqeuclidean")


@pytest.mark.parametrize("bad, err, match", [
    (dict(a=np.array([0.5, -0.1, 0.6])), ValueError, "negative"),
    (dict(a=np.array([0.5, np.nan, 0.5])), ValueError, "NaN or inf"),
    (dict(a=np.array([0.5, np.inf, 0.5])), ValueError, "NaN or inf"),
    (dict(a=np.array([0.2, 0.2, 0.2])), ValueError, "normalize=True"),
    (dict(a=np.array([0.5, 0.5])), ValueError, "length"),
    (dict(eps=0.0), ValueError, "eps"),
    (dict(eps=-1e-3), ValueError, "eps"),
    (dict(eps=np.nan), ValueError, "eps"),
    (dict(C=np.array([[0.0, np.nan], [1.0, 0.0], [1.0, 1.0]])), ValueError, "NaN or inf"),
    (dict(C=np.array([[0.0, np.inf], [1.0, 0.0], [1.0, 1.0]])), ValueError, "NaN or inf"),
    (dict(C=np.zeros(3)), ValueError, "2-D"),
    (dict(C=np.zeros((3, 2), dtype=complex)), TypeError, "real"),
])
def test_validation_errors(bad, err, match):
    kw = dict(C=np.ones((3, 2)), a=np.full(3, 1 / 3), b=np.full(2, 0.5), eps=0.1)
    kw.update(bad)
    with pytest.raises(err, match=match):
        ot.EntropicOT(kw.pop("C"), kw.pop("a"), kw.pop("b"), **kw)


def test_normalize_and_shape_mismatch(rng):
    p = ot.EntropicOT(np.ones((3, 2)), [1.0, 1.0, 2.0], [3.0, 1.0], eps=0.1, normalize=True)
    np.testing.assert_allclose(p.a, [0.25, 0.25, 0.5])
    np.testing.assert_allclose(p.b, [0.75, 0.25])
    with pytest.raises(ValueError, match="same d"):
        ot.EntropicOT.from_points(rng.random((4, 2)), rng.random((4, 3)))
    with pytest.raises(ValueError, match="same grid shape"):
        ot.EntropicOT.from_grids(np.ones((3, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        ot.EntropicOT.from_grids(np.ones((3, 3)), np.ones((3, 3)), p=3)
    with pytest.raises(ValueError, match="cost must be one of"):
        ot.EntropicOT.from_points(rng.random((4, 2)), rng.random((4, 2)), cost="manhattan")


def test_exact_ot_1d_closed_form(rng):
    # in 1-D with |x-y|^2 and uniform equal-size samples, the optimal plan matches sorted points
    x, y = rng.random(6), rng.random(6)
    C = (x[:, None] - y[None, :]) ** 2
    w = np.full(6, 1 / 6)
    ref = np.mean((np.sort(x) - np.sort(y)) ** 2)
    cost, P = ot.exact_ot(C, w, w, return_plan=True)
    assert cost == pytest.approx(ref, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(P.sum(1), w, atol=1e-12)


def test_from_grids_w1_w2_1d_closed_form():
    # 1-D grid: W1 = integral |F_a - F_b|, W2 via quantile functions (discrete: LP), compare to exact_ot
    da = np.array([1.0, 2.0, 0.0, 1.0, 0.0, 0.0])
    db = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    p1 = ot.EntropicOT.from_grids(da, db, p=1, eps=1e-2)
    Fa, Fb = np.cumsum(da / da.sum()), np.cumsum(db / db.sum())
    w1 = np.abs(Fa - Fb)[:-1].sum() * (1 / 6)
    assert ot.exact_ot(p1.C, p1.a, p1.b) == pytest.approx(w1, rel=1e-9)
    p2 = ot.EntropicOT.from_grids(da, db, p=2, eps=1e-2)
    np.testing.assert_allclose(p2.C, p1.C ** 2, atol=1e-15)
    assert p2.describe()["cost"] == "grid_W2"


# -- random_point_clouds: the generator behind `newtonkit solve ot` / the demo --------------------

def test_random_point_clouds_reproducible_and_documented_draw():
    from scipy.spatial.distance import cdist

    p1, x, y = ot.random_point_clouds(40, 2e-3, seed=5, m=30, dim=3, return_points=True)
    p2 = ot.random_point_clouds(40, 2e-3, seed=5, m=30, dim=3)
    np.testing.assert_array_equal(p1.C, p2.C)                       # same seed, same problem
    assert not np.array_equal(ot.random_point_clouds(40, 2e-3, seed=6, m=30, dim=3).C, p1.C)
    rng = np.random.default_rng(5)                                  # the draw the docstring states
    np.testing.assert_array_equal(x, rng.random((40, 3)))
    np.testing.assert_array_equal(y, rng.random((30, 3)))
    assert x.shape == (40, 3) and y.shape == (30, 3) and p1.shape == (40, 30)
    assert 0.0 <= x.min() and x.max() < 1.0
    ref = cdist(x, y, "sqeuclidean")
    np.testing.assert_allclose(p1.C, ref / ref.max(), rtol=1e-12, atol=1e-14)
    assert p1.C.max() == pytest.approx(1.0, rel=1e-12)
    assert p1.a.sum() == pytest.approx(1.0, rel=1e-14) and p1.b.sum() == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_array_equal(p1.a, np.full(40, 1 / 40))
    assert p1.eps == 2e-3 and p1.cost_kind == "sqeuclidean"


def test_random_point_clouds_defaults_match_the_command_line():
    # `newtonkit solve ot --n 60 --eps 1e-2 --seed 3`: square problem in 2-D
    p, x, y = ot.random_point_clouds(60, 1e-2, seed=3, return_points=True)
    assert p.shape == (60, 60) and x.shape == y.shape == (60, 2)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(n=0), ValueError, "n must be a positive integer"),
    (dict(n=2.5), TypeError, "n must be"),
    (dict(n=5, m=0), ValueError, "m must be"),
    (dict(n=5, dim=0), ValueError, "dim must be"),
    (dict(n=5, eps=0.0), ValueError, "eps"),
    (dict(n=5, eps=np.inf), ValueError, "eps"),
    (dict(n=5, eps="x"), TypeError, "eps"),
])
def test_random_point_clouds_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        ot.random_point_clouds(**kwargs)


# -- memory: the cost matrix is the one large array -------------------------------------------------

def test_pairwise_cost_blocks_match_cdist(rng):
    """Row blocks (several blocks, a ragged last one) against SciPy's cdist, both cost kinds."""
    from scipy.spatial.distance import cdist

    from problems.ot import entropic

    m = 700
    rows = entropic._BLOCK_ENTRIES // m
    x, y = rng.random((3 * rows + 7, 3)), rng.random((m, 3))
    np.testing.assert_allclose(ot.pairwise_cost(x, y), cdist(x, y, "sqeuclidean"), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ot.pairwise_cost(x, y, "euclidean"), cdist(x, y), rtol=1e-12, atol=1e-7)
    assert ot.pairwise_cost(x, x).min() >= 0.0                     # clipped against round-off


def test_random_point_clouds_peak_is_one_cost_matrix():
    """tracemalloc (every NumPy allocation): generating n = m = 600 peaks at C plus O(n) -- the old
    construction held three n x m arrays at once."""
    import tracemalloc

    ot.random_point_clouds(50, seed=0)
    tracemalloc.start()
    try:
        p = ot.random_point_clouds(600, 1e-3, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= p.C.nbytes + 2 * 2**20, peak / p.C.nbytes
    assert p.C.max() == 1.0 and p.C.min() >= 0.0


def test_generator_refusal_uses_the_true_estimate(monkeypatch):
    """A limit between 1x and 3x the cost matrix: built (it was refused when the estimate counted
    temporaries); a limit below 1x: refused before anything is drawn, naming the size."""
    from problems._checks import ProblemTooLargeError

    n = 1000
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", str(int(1.3 * 8 * n * n)))
    p = ot.random_point_clouds(n, 1e-3, seed=1)
    assert p.shape == (n, n)
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", str(int(0.9 * 8 * n * n)))
    with pytest.raises(ProblemTooLargeError, match=r"random_point_clouds\(n=1000, m=1000\).*needs about 8\.\d+ MB"):
        ot.random_point_clouds(n, 1e-3, seed=1)
    with pytest.raises(ProblemTooLargeError, match="from_points"):
        ot.EntropicOT.from_points(np.zeros((n, 2)), np.ones((n, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_cost_found_without_a_mask(bad):
    C = np.ones((4, 5))
    C[2, 3] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        ot.EntropicOT(C, eps=0.1)
    with pytest.raises(ValueError, match="overflow"):
        ot.EntropicOT.from_points(np.array([[1e200, 0.0]]), np.array([[-1e200, 0.0]]))
