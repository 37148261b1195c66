"""Outside tests (session 6) of the slab form of the Chebyshev–Tucker ``table`` route (Numba,
``solvers/_kernels/numba/approx_slab.py``), called directly and through ``ChebTucker.__call__``.

Independent references:

* the exact Chebyshev–Tucker sum: ``numpy.polynomial.chebyshev.chebvander`` rows times the factors,
  contracted with the core by ``einsum``; tolerance the route's own stated bound
  ``table_info()["f_bound"]`` (times 2) plus rounding relative to the largest value;
* for tables of a fixed grid (no bound at hand): order-8 Lagrange interpolation in
  ``theta = arccos t`` written here from its definition, on node values ``sum_k A_k cos(k theta_j)``
  computed directly (no DCT, no table code), contracted by ``einsum``; tolerance rounding,
  ``1e-12 ||G||_F prod_i max_n ||u_i(t_n)||_2`` (Cauchy–Schwarz bound of the values' size).

Comparisons with the plain table kernel or between thread counts are extras, never the reference.
"""
import pickle

import numba
import numpy as np
import pytest
from hypothesis import given, settings, HealthCheck
from hypothesis import strategies as st

import solvers
from solvers import _config
from solvers.approx import ChebTucker, _table
from solvers._kernels.numba import approx as NA
from solvers._kernels.numba import approx_slab as SLAB
from tests.approx import _slabref as slabref

BOX = [(0.0, 2.0), (-3.0, -1.0), (1.0, 1.5)]

ref_concurrently = slabref.concurrently
_tucker, _contract, _exact = slabref.tucker, slabref.contract, slabref.exact
_lagrange_rows = slabref.lagrange_rows


def _ct(core, factors, box=None, tol=1e-7):
    ct = ChebTucker(core, factors, box or [(-1.0, 1.0)] * len(factors), tol=tol, eval_method="table")
    assert ct.eval_route == "table"
    return ct


def _direct(p, t):
    return SLAB.evaluate(p, np.ascontiguousarray(t), np.full(t.shape[0], np.nan), *NA._point_major(p))


def _plain(p, t):
    out = np.empty(t.shape[0])
    NA._evaluate_table(p.core, *NA._point_major(p), p.tG, p.tp, p.inv_den, p.r, t, out, NA.chunk_for(p))
    return out


def _within_bound(ct, got, ref, factor=2.0):
    tol = factor * ct.table_info()["f_bound"] + 1e-13 * max(np.abs(ref).max(), 1e-300)
    err = np.abs(got - ref).max()
    assert err <= tol, (err, tol)


def _special_points(rng, d, n, G_last):
    """Random points plus box corners, faces, the last mode's grid nodes, node midpoints and a duplicate
    block."""
    t = rng.uniform(-1.0, 1.0, (n, d))
    c = min(2 ** d, n)
    t[:c] = ((np.arange(c)[:, None] >> np.arange(d)[None, :]) & 1) * 2.0 - 1.0
    k = np.arange(G_last + 1)
    nodes = np.concatenate([np.cos(k * np.pi / G_last), np.cos((k[:-1] + 0.5) * np.pi / G_last)])
    e = min(n - 120, c + nodes.size)
    t[c:e, -1] = nodes[:e - c]
    t[e:e + 40, 0] = 1.0                                          # a face
    t[e + 40:e + 80] = t[e + 80:e + 120]                          # duplicates
    return np.ascontiguousarray(np.clip(t, -1.0, 1.0))


# ------------------------------------------------------------------------------------- direct calls
@pytest.mark.parametrize("m, r", [
    ((23, 31), (9, 40)),                      # d = 2
    ((1, 29), (1, 24)),                       # d = 2, a degree-0 mode of rank 1
    ((19, 17, 27), (1, 1, 64)),               # rank-1 modes
    ((21, 1, 25), (30, 1, 33)),               # a degree-0 middle mode, very unequal ranks
    ((13, 15, 17, 21), (2, 7, 3, 48)),        # d = 4
    ((9, 11, 1, 13, 17), (3, 2, 1, 4, 28)),   # d = 5 with a degree-0 mode
])
def test_direct_slab_against_the_exact_sum(m, r):
    """Direct calls (whatever the cost model says) at d = 2..5 against the exact sum within the route's
    bound, at random points, corners, faces, the last mode's grid nodes and midpoints, duplicates."""
    rng = np.random.default_rng(sum(m) + sum(r))
    core, factors = _tucker(rng, m, r)
    ct = _ct(core, factors)
    be, p = ct._pack("table")
    assert p.perm is None
    t = _special_points(rng, len(m), 1500, int(p.tG[-1]))
    got = _direct(p, t)
    assert np.all(np.isfinite(got))
    _within_bound(ct, got, _exact(core, factors, t))
    np.testing.assert_allclose(got, _plain(p, t), rtol=0, atol=slabref.terms_atol(p, factors, t))    # extra


def test_direct_slab_for_one_to_twenty_points():
    rng = np.random.default_rng(20)
    core, factors = _tucker(rng, (17, 19, 23), (4, 5, 30))
    ct = _ct(core, factors)
    p = ct._pack("table")[1]
    for n in range(1, 21):
        t = rng.uniform(-1.0, 1.0, (n, 3))
        if n % 3 == 0:
            t[:] = t[0]                                           # all identical: one bucket, paired
        got = _direct(p, t)
        _within_bound(ct, got, _exact(core, factors, t))


@pytest.mark.parametrize("pattern", ["identical", "one_bucket", "ends", "tiny_offsets"])
def test_degenerate_point_sets(pattern):
    """Every point in one bucket (identical points; the last coordinate fixed, the others random), only
    the ends +-1 (the first and the last stencil), and points 1e-15 apart around a grid node (stencils
    that change between neighbours)."""
    rng = np.random.default_rng(4)
    core, factors = _tucker(rng, (17, 21, 25), (6, 5, 36))
    ct = _ct(core, factors)
    p = ct._pack("table")[1]
    t = slabref.degenerate_points(pattern, rng, 2000, 0.123, [(7, int(p.tG[-1]))])
    got = _direct(p, t)
    ref = _exact(core, factors, t)
    _within_bound(ct, got, ref)
    if pattern == "identical":
        assert np.all(got == got[0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_slab_equals_lagrange_interpolation_in_theta(data):
    """Random small shapes (d = 2..4, degrees 0..11, ranks 1..6 and a last rank 1..40, grids 16..48),
    1..60 points (ends included): the slab kernel equals the order-8 interpolant in theta built here
    from its definition, to rounding."""
    d = data.draw(st.integers(2, 4))
    m = [data.draw(st.integers(1, 12)) for _ in range(d)]
    r = [data.draw(st.integers(1, 6)) for _ in range(d - 1)] + [data.draw(st.integers(1, 40))]
    G = [data.draw(st.sampled_from([16, 32, 48])) for _ in range(d)]
    n = data.draw(st.integers(1, 60))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    core, factors = _tucker(rng, m, r)
    t = rng.uniform(-1, 1, (n, d))
    t[rng.random((n, d)) < 0.1] = 1.0
    t[rng.random((n, d)) < 0.1] = -1.0
    tabs = [_table.tabulate(A, g, 8) for A, g in zip(factors, G)]
    p = NA.pack(core, factors, factors, tables={"p": 8, "grid": G, "table": tabs})
    got = _direct(p, t)
    rows = [_lagrange_rows(A, g, t[:, i]) for i, (A, g) in enumerate(zip(factors, G))]
    ref = _contract(core, rows)
    scale = np.linalg.norm(core) * np.prod([np.linalg.norm(u, axis=1).max() for u in rows])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(scale, 1e-300))


def test_direct_call_refuses_what_it_cannot_do():
    """Before the fix: order 16 gave values off by O(1) (extrapolated stencils), order 4 read past the
    slabs, d = 1 corrupted the heap (``free(): invalid next size``) and a short ``out`` was written past
    its end. Now each is a ValueError/TypeError before any kernel runs."""
    rng = np.random.default_rng(9)
    core, factors = _tucker(rng, (17, 19, 21), (3, 4, 30))
    t = rng.uniform(-1, 1, (600, 3))
    for order in (4, 6, 16):
        tabs = [_table.tabulate(A, 64, order) for A in factors]
        p = NA.pack(core, factors, factors, tables={"p": order, "grid": [64] * 3, "table": tabs})
        assert not SLAB.use_slab(p, 10 ** 6)
        with pytest.raises(ValueError, match="order-8"):
            SLAB.evaluate(p, t, np.empty(600), *NA._point_major(p))
        got = NA.evaluate_table(p, t, np.empty(600))                     # the public kernel: plain form
        err = np.abs(got - _exact(core, factors, t)).max() / np.abs(got).max()
        assert err < (1e-5 if order == 16 else 1e-2)                    # order 16: well within; 4, 6: G = 64 is coarse
    c1, f1 = _tucker(rng, (17,), (30,))
    p1 = NA.pack(c1, f1, f1, tables={"p": 8, "grid": [64], "table": [_table.tabulate(f1[0], 64, 8)]})
    assert not SLAB.use_slab(p1, 10 ** 6)
    with pytest.raises(ValueError, match="d >= 2"):
        SLAB.evaluate(p1, t[:, :1].copy(), np.empty(600), *NA._point_major(p1))
    tabs = [_table.tabulate(A, 64, 8) for A in factors]
    p = NA.pack(core, factors, factors, tables={"p": 8, "grid": [64] * 3, "table": tabs})
    pm = NA._point_major(p)
    buf = np.zeros(1600)
    with pytest.raises(ValueError, match="out must be"):
        SLAB.evaluate(p, t, buf[:500], *pm)
    assert not buf.any()
    with pytest.raises(ValueError, match="out must be"):
        SLAB.evaluate(p, t, np.empty(600, dtype=np.float32), *pm)
    with pytest.raises(TypeError):
        SLAB.evaluate(p, np.asfortranarray(t), np.empty(600), *pm)
    with pytest.raises(ValueError):
        SLAB.evaluate(p, t[:, :2].copy(), np.empty(600), *pm)
    np.testing.assert_allclose(SLAB.evaluate(p, t, np.empty(600), *pm), _plain(p, t), rtol=0,
                               atol=slabref.terms_atol(p, factors, t))


# ------------------------------------------------------------------------------------- public API
@pytest.fixture(scope="module")
def big():
    """Ranks (40, 12, 12) on a non-[-1, 1] box: the packed form moves the rank-40 mode last (perm
    (1, 2, 0)) and the cost model takes the slab form for 3 10^4 points (about 90 per grid node; one GEMM per
    grid node pays from some tens of points per node)."""
    rng = np.random.default_rng(1)
    core, factors = _tucker(rng, (21, 19, 23), (40, 12, 12))
    ct = _ct(core, factors, BOX)
    p = ct._pack("table")[1]
    assert p.perm == (1, 2, 0)
    n = 30000
    assert SLAB.use_slab(p, n)
    lo, hi = np.array(BOX).T
    x = rng.uniform(lo, hi, (n, 3))
    x[:8] = np.array(np.meshgrid(*BOX, indexing="ij")).reshape(3, -1).T
    x[8:50, 2] = hi[2]
    return ct, core, factors, x


def _t(x):
    lo, hi = np.array(BOX).T
    return np.clip(2.0 * (np.asarray(x, dtype=np.float64) - lo) / (hi - lo) - 1.0, -1.0, 1.0)


def test_public_call_takes_the_slab_and_any_layout_or_dtype_gives_the_exact_sum(big):
    ct, core, factors, x = big
    ct.clear_cache()
    got = np.asarray(ct(x))
    assert getattr(ct._pack("table")[1], "_nb_slab", None) is not None
    _within_bound(ct, got, _exact(core, factors, _t(x)))
    wide = np.zeros((x.shape[0], 7))
    wide[:, 1:7:2] = x
    for xx in (np.asfortranarray(x), wide[:, 1:7:2], x[::-1][::-1], x.tolist()):
        np.testing.assert_array_equal(np.asarray(ct(xx)), got)
    for xx in (x.astype(np.float32), np.round(x).astype(np.int64).clip(*np.array(BOX).T)):
        _within_bound(ct, np.asarray(ct(xx)), _exact(core, factors, _t(xx)))


def test_public_call_rejects_nan_inf_and_outside_points(big):
    ct, core, factors, x = big
    lo, hi = np.array(BOX).T
    for bad, msg in ((np.nan, "NaN or inf"), (np.inf, "NaN or inf"), (-np.inf, "NaN or inf"),
                     (hi[2] + 1e-6, "outside the domain"), (lo[2] - 1e-9, "outside the domain")):
        for col in (0, 2):                                        # a prefix mode and the slab's mode
            xb = x.copy()
            xb[1234, col] = bad if col == 2 or not np.isfinite(bad) else lo[0] - 1.0
            with pytest.raises(ValueError, match=msg):
                ct(xb)
    # within the documented slack (1e-12 of the width) the point is taken as the face
    xs = x.copy()
    xs[:, 2] = hi[2] + 0.4e-12 * (hi[2] - lo[2])
    xf = x.copy()
    xf[:, 2] = hi[2]
    np.testing.assert_allclose(np.asarray(ct(xs)), np.asarray(ct(xf)), rtol=0, atol=1e-12 * np.abs(ct(xf)).max())
    _within_bound(ct, np.asarray(ct(x)), _exact(core, factors, _t(x)))        # still fine after the errors


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_huge_and_tiny_core_scales(scale):
    rng = np.random.default_rng(12)
    core, factors = _tucker(rng, (21, 19, 23), (12, 12, 40), scale)
    ct = _ct(core, factors, BOX)
    x = rng.uniform(*np.array(BOX).T, (30000, 3))
    assert SLAB.use_slab(ct._pack("table")[1], x.shape[0])
    got = np.asarray(ct(x))
    assert np.all(np.isfinite(got))
    ref = _exact(core, factors, _t(x))
    _within_bound(ct, got, ref)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()      # and not vacuous (ref is ~scale)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_one_and_two_threads_give_identical_values(big, monkeypatch):
    ct, core, factors, x = big
    monkeypatch.setattr(_config, "_requested", None)
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "1")
    old = numba.get_num_threads()
    try:
        solvers.set_num_threads(1)
        one = np.asarray(ct(x))
        solvers.set_num_threads(2)
        two = np.asarray(ct(x))
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, two)
    _within_bound(ct, one, _exact(core, factors, _t(x)))


def test_pickle_before_and_after_the_slab_and_clear_cache(big):
    ct, core, factors, x = big
    fresh = pickle.loads(pickle.dumps(ct))               # before (caches dropped anyway)
    ct.clear_cache()
    assert ct.cache_nbytes == 0
    before = pickle.loads(pickle.dumps(ct))
    got = np.asarray(ct(x))
    p = ct._pack("table")[1]
    assert p._nb_slab.nbytes == SLAB.slab_bytes(p)
    assert ct.cache_nbytes >= SLAB.slab_bytes(p)
    after = pickle.loads(pickle.dumps(ct))
    assert after.cache_nbytes == 0
    for other in (fresh, before, after):
        np.testing.assert_allclose(np.asarray(other(x)), got, rtol=0, atol=1e-13 * np.abs(got).max())
    ct.clear_cache()
    np.testing.assert_array_equal(np.asarray(ct(x)), got)


def test_batches_through_the_public_call(big, monkeypatch):
    """Batches of 7000 points (the last 300 of 28300 are fewer than the minimum per grid node, so that batch is
    recomputed with the previous one's overlap) give the values of one batch, bit for bit."""
    ct, core, factors, x = big
    one = np.asarray(ct(x))
    monkeypatch.setattr(SLAB, "BATCH", 7000)
    np.testing.assert_array_equal(np.asarray(ct(x[:28300])), one[:28300])
    monkeypatch.setattr(SLAB, "BATCH", 10000)
    np.testing.assert_array_equal(np.asarray(ct(x)), one)


def test_concurrent_calls_on_one_object(big):
    """Two Python threads evaluating the same fresh object (caches built concurrently) while a third
    clears the caches: every result equals the single-threaded one (rounding: the tables are rebuilt)."""
    ct, core, factors, x = big
    ref = np.asarray(ct(x))
    if numba.threading_layer() == "workqueue":
        pytest.skip("the workqueue threading layer aborts on concurrent parallel calls (Numba's limit)")
    obj = pickle.loads(pickle.dumps(ct))
    results, errors = ref_concurrently(lambda k: np.asarray(obj(x[k:])), obj)
    assert not errors, errors
    assert len(results) == 6
    for k, v in results:
        assert k == x.shape[0] - v.shape[0]
        np.testing.assert_allclose(v, ref[k:], rtol=0, atol=1e-13 * np.abs(ref).max())


@pytest.mark.parametrize("m, r", [((65, 65), (64, 64)), ((13, 13, 13, 41), (6, 6, 6, 40))])
def test_public_call_takes_the_slab_at_d2_and_d4(m, r):
    """d = 2 and d = 4 shapes where the cost model takes the slab form through ``ct(x)``; also no points
    and one point of shape ``(d,)`` (the plain form)."""
    rng = np.random.default_rng(len(m))
    core, factors = _tucker(rng, m, r)
    box = [(-2.0, 5.0)] * len(m)
    ct = _ct(core, factors, box)
    p = ct._pack("table")[1]
    n = 40 * (int(p.tG[-1]) + 9)
    assert p.perm is None and SLAB.use_slab(p, n)
    x = rng.uniform(-2.0, 5.0, (n, len(m)))
    x[0], x[1] = -2.0, 5.0                                       # corners
    got = np.asarray(ct(x))
    assert getattr(p, "_nb_slab", None) is not None
    t = np.clip((2.0 * x - 3.0) / 7.0, -1.0, 1.0)
    _within_bound(ct, got, _exact(core, factors, t))
    assert np.asarray(ct(np.empty((0, len(m))))).shape == (0,)
    one = np.asarray(ct(x[5]))                                   # the plain form: within the dropped terms' bound
    assert one.shape == (1,)
    np.testing.assert_allclose(one[0], got[5], rtol=0, atol=slabref.terms_atol(p, factors, t))


def test_direct_call_gives_nan_for_a_last_coordinate_outside_the_interval():
    """Kernel level (the public call refuses such points first): a NaN, an infinite or an out-of-range
    last coordinate gives NaN, as the plain form does, never the finite value at an end of the interval
    (before the fix the slab form returned p(t_1, t_2, 1) for t_3 = NaN or 2); the other points keep
    their values."""
    rng = np.random.default_rng(6)
    core, factors = _tucker(rng, (17, 19, 21), (3, 4, 30))
    tabs = [_table.tabulate(A, 64, 8) for A in factors]
    p = NA.pack(core, factors, factors, tables={"p": 8, "grid": [64] * 3, "table": tabs})
    t = rng.uniform(-1, 1, (600, 3))
    good = _direct(p, t)
    bad = [np.nan, np.inf, -np.inf, 2.0, -1.0 - 1e-15, 1.0 + 1e-15]
    t[:len(bad), 2] = bad
    t[len(bad):2 * len(bad), 2] = [1.0, -1.0] * (len(bad) // 2)
    got = _direct(p, t)
    assert np.all(np.isnan(got[:len(bad)]))
    plain = _plain(p, t)
    assert np.all(np.isnan(plain[:len(bad)]))
    np.testing.assert_array_equal(got[2 * len(bad):], good[2 * len(bad):])
    np.testing.assert_allclose(got[len(bad):], _exact(core, factors, t[len(bad):]), rtol=0,
                               atol=1e-3 * np.abs(good).max())          # G = 64: a coarse table
