"""Outside tests (session 6) of the gradients of the Chebyshev–Tucker ``table`` route in the slab form
(Numba, ``solvers/_kernels/numba/approx_slab.py::gradient``), called directly and through
``ChebTucker.gradient``.

Independent reference: the analytic derivative of the exact Chebyshev–Tucker sum, written here from
its definition (``numpy.polynomial.chebyshev.chebder`` of each factor, ``chebvander`` rows, ``einsum``
with the core; no table code). Tolerances for ``tol = 1e-7`` objects (value and derivative tables both
built to the relative target ``1e-9`` per column): gradients within ``1e-7`` of the largest reference
derivative, values within ``1e-8`` of the largest reference value. Agreement with the plain table kernel
``approx._gradient_table`` (``1e-12`` of the largest derivative) and between thread counts / batchings
(bit for bit) are extras, never the reference.
"""
import pickle

import numba
import numpy as np
import numpy.polynomial.chebyshev as npc
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
_tucker, _spec, _exact, _exact_grad = slabref.tucker, slabref.spec, slabref.exact, slabref.exact_grad
_lagrange_rows = slabref.lagrange_rows


def _ct(core, factors, box=None):
    ct = ChebTucker(core, factors, box or [(-1.0, 1.0)] * len(factors), tol=1e-7, eval_method="table")
    assert ct.eval_route == "table"
    ct.gradient(np.zeros((1, len(factors))) + np.array([(a + b) / 2 for a, b in ct.domain]))
    assert ct._route(derivative=True) == "table+derivative"
    return ct


def _tabs(p):
    tabs = NA._point_major(p)
    return tabs + NA._point_major(p, "d")[:2]


def _direct(p, t):
    t = np.ascontiguousarray(t)
    return SLAB.gradient(p, t, np.full(t.shape[0], np.nan), np.full(t.shape, np.nan), *_tabs(p))


def _plain(p, t):
    tR, r_off, rpad, dtR, dr_off = _tabs(p)
    val, grad = np.empty(t.shape[0]), np.empty(t.shape)
    NA._gradient_table(p.core, tR, r_off, dtR, dr_off, rpad, p.tG, p.dtG, p.tp, p.inv_den, p.r, t, val, grad, 64)
    return val, grad


def _check(core, factors, t, val, grad, scale=None):
    rv, rg = _exact(core, factors, t), _exact_grad(core, factors, t)
    if scale is not None:
        rg = rg * scale[None, :]
    gmax = max(np.abs(rg).max(), 1e-300)
    assert np.abs(val - rv).max() <= 1e-8 * np.abs(rv).max(), np.abs(val - rv).max()
    err = np.abs(grad - rg).max()
    assert err <= 1e-7 * gmax, (err, gmax)
    return rv, rg


def _points(rng, p, n):
    """Random points plus the corners, two faces, every node of BOTH the value and the derivative grid of
    every mode (in that mode's column), one bucket of equal last coordinates, and a duplicate block."""
    d = p.d
    blocks = [((np.arange(2 ** d)[:, None] >> np.arange(d)[None, :]) & 1) * 2.0 - 1.0]
    for i in range(d):
        for G in (int(p.tG[i]), int(p.dtG[i])):
            nodes = np.cos(np.arange(G + 1) * np.pi / G)
            b = rng.uniform(-1.0, 1.0, (nodes.size, d))
            b[:, i] = nodes
            blocks.append(b)
    face = rng.uniform(-1.0, 1.0, (60, d))
    face[:30, 0] = -1.0
    face[30:, -1] = 1.0
    bucket = rng.uniform(-1.0, 1.0, (40, d))
    bucket[:, -1] = 0.3
    blocks += [face, bucket]
    head = np.concatenate(blocks)
    rest = rng.uniform(-1.0, 1.0, (max(n - head.shape[0], 100), d))
    rest[:50] = rest[50:100]                                       # duplicates
    t = np.concatenate([head, rest])
    return np.ascontiguousarray(np.clip(t, -1.0, 1.0))


# ------------------------------------------------------------------------------------- direct calls
@pytest.mark.parametrize("m, r", [
    ((33, 29), (14, 40)),                     # d = 2
    ((1, 29), (1, 31)),                       # d = 2, degree-0 first mode (its derivative factor empty)
    ((29, 2), (12, 2)),                       # d = 2, degree-1 last mode (constant derivative)
    ((2, 25), (2, 30)),                       # d = 2, degree-1 first mode
    ((19, 1, 27), (6, 1, 33)),                # degree-0 middle mode of rank 1
    ((17, 21, 1), (5, 7, 1)),                 # degree-0 LAST mode: the derivative slabs are zero
    ((19, 17, 27), (1, 1, 40)),               # rank-1 prefix modes
    ((13, 15, 17, 21), (2, 7, 3, 36)),        # d = 4
    ((9, 11, 2, 13, 17), (3, 2, 2, 4, 28)),   # d = 5 with a degree-1 mode
])
def test_direct_slab_gradient_against_the_analytic_derivative(m, r):
    rng = np.random.default_rng(sum(m) * 7 + sum(r))
    core, factors = _tucker(rng, m, r)
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    assert p.perm is None
    t = _points(rng, p, 2500)
    val, grad = _direct(p, t)
    assert np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
    _check(core, factors, t, val, grad)
    pv, pg = _plain(p, t)                                           # extra: the plain table kernel
    np.testing.assert_allclose(grad, pg, rtol=0, atol=1e-12 * max(np.abs(pg).max(), 1e-300))
    np.testing.assert_allclose(val, pv, rtol=0, atol=1e-12 * np.abs(pv).max())


def test_direct_slab_gradient_for_one_to_twenty_points():
    rng = np.random.default_rng(21)
    core, factors = _tucker(rng, (17, 19, 23), (4, 5, 30))
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    for n in range(1, 21):
        t = rng.uniform(-1.0, 1.0, (n, 3))
        if n % 3 == 0:
            t[:] = t[0]                                             # identical: one bucket, paired
        if n % 4 == 0:
            t[:, 2] = np.cos(5 * np.pi / int(p.dtG[2]))             # one derivative-grid bucket
        val, grad = _direct(p, t)
        _check(core, factors, t, val, grad)
        if n % 3 == 0:
            assert np.all(grad == grad[0]) and np.all(val == val[0])


@pytest.mark.parametrize("pattern", ["identical", "one_bucket", "ends", "tiny_offsets"])
def test_degenerate_point_sets(pattern):
    rng = np.random.default_rng(4)
    core, factors = _tucker(rng, (17, 21, 25), (6, 5, 36))
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    t = slabref.degenerate_points(pattern, rng, 1500, -0.77, [(7, int(p.tG[2])), (11, int(p.dtG[2]))])
    val, grad = _direct(p, t)
    _check(core, factors, t, val, grad)
    if pattern == "identical":
        assert np.all(grad == grad[0])


def test_direct_nan_and_outside_coordinates_give_nan_never_a_crash():
    """Direct calls (the public API rejects these first): a NaN / inf / outside last coordinate gives a
    NaN value and NaN gradient row (not the value at an end of the grid); NaN elsewhere likewise; the
    other points are untouched by it."""
    rng = np.random.default_rng(8)
    core, factors = _tucker(rng, (17, 19, 23), (4, 5, 30))
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    t = rng.uniform(-1.0, 1.0, (800, 3))
    ref_v, ref_g = _direct(p, t.copy())
    bad_rows = {3: (2, np.nan), 10: (2, np.inf), 11: (2, -np.inf), 12: (2, 1.5), 13: (2, -1.0 - 1e-9),
                20: (0, np.nan), 21: (1, np.nan)}
    tb = t.copy()
    for k, (c, v) in bad_rows.items():
        tb[k, c] = v
    val, grad = _direct(p, tb)
    good = np.setdiff1d(np.arange(t.shape[0]), list(bad_rows))
    for k, (c, v) in bad_rows.items():
        assert np.isnan(val[k]), (k, c, v, val[k])
        assert np.all(np.isnan(grad[k])), (k, c, v, grad[k])
    np.testing.assert_array_equal(val[good], ref_v[good])
    np.testing.assert_array_equal(grad[good], ref_g[good])


def _readonly(a):
    a.flags.writeable = False
    return a


def test_direct_call_rejects_wrong_outputs_and_inputs():
    rng = np.random.default_rng(9)
    core, factors = _tucker(rng, (17, 19, 21), (3, 4, 30))
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    t = rng.uniform(-1, 1, (600, 3))
    tabs = _tabs(p)
    buf = np.zeros(4000)
    bad = [
        (buf[:599], np.empty((600, 3))),                        # short val
        (np.empty(600), buf[:1797].reshape(599, 3)),            # short grad
        (np.empty(600), np.empty((600, 2))),                    # grad of the wrong width
        (np.empty(600), np.empty(1800)),                        # grad flat
        (np.empty(600, dtype=np.float32), np.empty((600, 3))),
        (np.empty(600), np.empty((600, 3), dtype=np.float32)),
        (np.empty(600), np.empty((600, 3), dtype=np.complex128)),
        (np.empty(1200)[::2], np.empty((600, 3))),              # non-contiguous val
        (np.empty(600), np.asfortranarray(np.empty((600, 3)))),  # Fortran grad
        (np.empty(600), np.empty((600, 6))[:, ::2]),            # strided grad
        (None, np.empty((600, 3))),
        (_readonly(np.empty(600)), np.empty((600, 3))),         # before the fix: a Numba TypingError
        (np.empty(600), _readonly(np.empty((600, 3)))),         # (after val was written)
        (np.empty(600), [[0.0] * 3] * 600),
    ]
    for v, g in bad:
        with pytest.raises(ValueError, match="(val|grad) must be"):
            SLAB.gradient(p, t, v, g, *tabs)
    assert not buf.any()                                         # nothing written before the error
    with pytest.raises(TypeError):
        SLAB.gradient(p, np.asfortranarray(t), np.empty(600), np.empty((600, 3)), *tabs)
    with pytest.raises(ValueError):
        SLAB.gradient(p, t[:, :2].copy(), np.empty(600), np.empty((600, 2)), *tabs)
    pv = ct._pack("table")[1]                                    # no derivative tables on this one
    assert not SLAB.use_slab(pv, 10 ** 7, gradient=True)
    with pytest.raises(ValueError, match="derivative"):
        SLAB.gradient(pv, t, np.empty(600), np.empty((600, 3)), *tabs)
    dfac = [np.vstack([npc.chebder(A, axis=0), np.zeros((1, A.shape[1]))]) for A in factors]
    for order, fs, c in ((6, factors, core), (8, factors[:1], core[:, 0, 0])):     # order 6; d = 1
        tables = {"p": order, "grid": [64] * len(fs), "table": [_table.tabulate(A, 64, order) for A in fs],
                  "dgrid": [64] * len(fs), "dtable": [_table.tabulate(A, 64, order) for A in dfac[:len(fs)]]}
        q = NA.pack(np.ascontiguousarray(c), fs, dfac[:len(fs)], tables=tables)
        tq = np.ascontiguousarray(t[:, :len(fs)])
        assert not SLAB.use_slab(q, 10 ** 7, gradient=True)
        with pytest.raises(ValueError, match="order-8 tables and d >= 2"):
            SLAB.gradient(q, tq, np.empty(600), np.empty(tq.shape), *_tabs(q))
    val, grad = SLAB.gradient(p, t, np.empty(600), np.empty((600, 3)), *tabs)    # still fine
    _check(core, factors, t, val, grad)
    v0, g0 = SLAB.gradient(p, np.empty((0, 3)), np.empty(0), np.empty((0, 3)), *tabs)    # no points
    assert v0.shape == (0,) and g0.shape == (0, 3)
    buf = np.full(4 * 600, np.nan)                                   # val and grad in one buffer
    val2, grad2 = SLAB.gradient(p, t, buf[:600], buf[600:].reshape(600, 3), *tabs)
    np.testing.assert_array_equal(grad2, grad)
    np.testing.assert_array_equal(val2, val)


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_huge_and_tiny_core_scales(scale):
    """A core of size ~1e-300 (subnormal products nowhere: the rows are O(1)) and ~1e300 (derivatives
    ~1e302, no overflow) through the public gradient, slab form taken."""
    rng = np.random.default_rng(12)
    core, factors = _tucker(rng, (21, 19, 23), (12, 12, 40))
    ct = _ct(core * scale, factors, BOX)
    x = rng.uniform(*np.array(BOX).T, (3000, 3))
    p = ct._pack("table+derivative")[1]
    assert SLAB.use_slab(p, x.shape[0], gradient=True)
    g = np.asarray(ct.gradient(x))
    assert np.all(np.isfinite(g)) and getattr(p, "_nb_dslab", None) is not None
    _check(core * scale, factors, _t(x), np.asarray(ct(x)), g, _scale())


def test_batches_give_bit_identical_gradients(monkeypatch):
    """Batches of 700 points (below MIN_POINTS_PER_NODE * L: the short last batch overlaps) and of 1000
    give the gradients of one batch, bit for bit."""
    rng = np.random.default_rng(5)
    core, factors = _tucker(rng, (25, 31, 29), (9, 12, 33))
    ct = _ct(core, factors)
    p = ct._pack("table+derivative")[1]
    t = _points(rng, p, 4321)
    one = _direct(p, t)
    _check(core, factors, t, *one)
    for b in (700, 1000):
        monkeypatch.setattr(SLAB, "BATCH", b)
        many = _direct(p, t)
        np.testing.assert_array_equal(many[0], one[0])
        np.testing.assert_array_equal(many[1], one[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_slab_gradient_equals_the_interpolated_derivative(data):
    """Random small shapes (d = 2..4, degrees 0..11, ranks 1..5 and a last rank 1..40, value and
    derivative grids drawn independently from 16..48), 1..60 points (ends included): the slab gradient
    equals, to rounding, the contraction with mode ``k``'s rows interpolated (order 8 in theta, written
    here from the definition) from ``chebder`` of its factor and the other modes' from their factors."""
    d = data.draw(st.integers(2, 4))
    m = [data.draw(st.integers(1, 12)) for _ in range(d)]
    r = [data.draw(st.integers(1, 5)) for _ in range(d - 1)] + [data.draw(st.integers(1, 40))]
    G = [data.draw(st.sampled_from([16, 24, 48])) for _ in range(d)]
    dG = [data.draw(st.sampled_from([16, 32, 48])) for _ in range(d)]
    n = data.draw(st.integers(1, 60))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    core, factors = _tucker(rng, m, r)
    dfac = [np.vstack([npc.chebder(A, axis=0), np.zeros((1, A.shape[1]))]) if A.shape[0] > 1 else np.zeros_like(A)
            for A in factors]                                           # (m_i, r_i), as pack takes them
    t = rng.uniform(-1, 1, (n, d))
    t[rng.random((n, d)) < 0.1] = 1.0
    t[rng.random((n, d)) < 0.1] = -1.0
    tables = {"p": 8, "grid": G, "table": [_table.tabulate(A, g, 8) for A, g in zip(factors, G)],
              "dgrid": dG, "dtable": [_table.tabulate(A, g, 8) for A, g in zip(dfac, dG)]}
    p = NA.pack(core, factors, dfac, tables=tables)
    val, grad = _direct(p, t)
    rows = [_lagrange_rows(A, g, t[:, i]) for i, (A, g) in enumerate(zip(factors, G))]
    drows = [_lagrange_rows(A, g, t[:, i]) for i, (A, g) in enumerate(zip(dfac, dG))]
    nu = [np.linalg.norm(u, axis=1).max() for u in rows]
    dnu = [np.linalg.norm(u, axis=1).max() for u in drows]
    for k in range(d):
        ref = np.einsum(_spec(d), core, *(rows[:k] + [drows[k]] + rows[k + 1:]))
        scale = np.linalg.norm(core) * dnu[k] * np.prod(nu[:k] + nu[k + 1:])
        np.testing.assert_allclose(grad[:, k], ref, rtol=0, atol=1e-12 * max(scale, 1e-300))
    ref = np.einsum(_spec(d), core, *rows)
    np.testing.assert_allclose(val, ref, rtol=0, atol=1e-12 * max(np.linalg.norm(core) * np.prod(nu), 1e-300))


# ------------------------------------------------------------------------------------- public API
@pytest.fixture(scope="module")
def big():
    """Ranks (40, 12, 12) on a box: the packed form moves the rank-40 mode last (perm (1, 2, 0)) and the
    gradient cost model takes the slab form for a few thousand points."""
    rng = np.random.default_rng(1)
    core, factors = _tucker(rng, (21, 19, 23), (40, 12, 12))
    ct = _ct(core, factors, BOX)
    p = ct._pack("table+derivative")[1]
    assert p.perm == (1, 2, 0)
    n = 3000
    assert SLAB.use_slab(p, n, gradient=True)
    nmin = SLAB.MIN_POINTS_PER_NODE * (max(int(p.tG[-1]), int(p.dtG[-1])) + 9)    # both grids count
    assert SLAB.use_slab(p, nmin, gradient=True) and not SLAB.use_slab(p, nmin - 1, gradient=True)
    lo, hi = np.array(BOX).T
    x = rng.uniform(lo, hi, (n, 3))
    x[:8] = np.array(np.meshgrid(*BOX, indexing="ij")).reshape(3, -1).T
    x[8:50, 0] = hi[0]                                        # a face of the mode that goes last
    G = int(p.dtG[-1])                                        # its derivative-grid nodes, mapped back
    x[50:51 + G, 0] = lo[0] + (np.cos(np.arange(G + 1) * np.pi / G) + 1.0) * (hi[0] - lo[0]) / 2
    x[100 + G:200 + G] = x[300:400]                           # duplicates
    return ct, core, factors, x


def _t(x):
    lo, hi = np.array(BOX).T
    return np.clip(2.0 * (np.asarray(x, dtype=np.float64) - lo) / (hi - lo) - 1.0, -1.0, 1.0)


def _scale():
    lo, hi = np.array(BOX).T
    return 2.0 / (hi - lo)


def test_public_gradient_takes_the_slab_with_reordered_modes(big):
    ct, core, factors, x = big
    ct.clear_cache()
    g = np.asarray(ct.gradient(x))
    p = ct._pack("table+derivative")[1]
    assert getattr(p, "_nb_dslab", None) is not None and getattr(p, "_nb_slab", None) is not None
    assert g.shape == x.shape
    _check(core, factors, _t(x), np.asarray(ct(x)), g, _scale())
    for xx in (np.asfortranarray(x), x.tolist()):
        np.testing.assert_array_equal(np.asarray(ct.gradient(xx)), g)
    g1 = np.asarray(ct.gradient(x[5]))                                # one point, shape (d,): plain form
    assert g1.shape == (1, 3)
    np.testing.assert_allclose(g1[0], g[5], rtol=0, atol=1e-12 * np.abs(g).max())
    assert np.asarray(ct.gradient(np.empty((0, 3)))).shape == (0, 3)


@pytest.mark.parametrize("m, r, box", [
    ((65, 65), (64, 64), [(-2.0, 5.0)] * 2),
    ((13, 13, 13, 41), (6, 6, 6, 40), [(-2.0, 5.0), (0.0, 1.0), (-1.0, 1.0), (3.0, 3.5)]),
    ((41, 9, 9, 9), (40, 6, 5, 4), [(-1.0, 1.0)] * 4),          # largest rank first: reordered
    ((101, 47), (100, 45), [(0.0, 1.0), (-4.0, 4.0)]),          # d = 2 reordered
    ((41, 9, 7, 8, 9), (40, 6, 5, 5, 5), [(-1.0, 0.0)] * 5),     # d = 5 reordered
])
def test_public_gradient_at_d2_d4_d5(m, r, box):
    rng = np.random.default_rng(len(m) + r[0])
    core, factors = _tucker(rng, m, r)
    ct = _ct(core, factors, box)
    p = ct._pack("table+derivative")[1]
    n = 2 * SLAB.MIN_POINTS_PER_NODE * (max(int(p.tG[-1]), int(p.dtG[-1])) + 9)
    assert SLAB.use_slab(p, n, gradient=True), (p.r, n)
    assert (p.perm is not None) == (r[0] > r[-1])
    lo, hi = np.array(box).T
    x = rng.uniform(lo, hi, (n, len(m)))
    x[0], x[1] = lo, hi
    g = np.asarray(ct.gradient(x))
    assert getattr(p, "_nb_dslab", None) is not None
    t = np.clip(2.0 * (x - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    _check(core, factors, t, np.asarray(ct(x)), g, 2.0 / (hi - lo))


def test_public_gradient_rejects_nan_inf_and_outside_points(big):
    ct, core, factors, x = big
    lo, hi = np.array(BOX).T
    for bad, msg in ((np.nan, "NaN or inf"), (np.inf, "NaN or inf"), (-np.inf, "NaN or inf"),
                     ("hi", "outside the domain"), ("lo", "outside the domain")):
        for col in (0, 2):                          # the mode that goes last (slabs) and a prefix mode
            xb = x.copy()
            xb[1234, col] = hi[col] + 1e-6 if bad == "hi" else lo[col] - 1e-9 if bad == "lo" else bad
            with pytest.raises(ValueError, match=msg):
                ct.gradient(xb)
    _check(core, factors, _t(x), np.asarray(ct(x)), np.asarray(ct.gradient(x)), _scale())


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_one_and_two_threads_give_identical_gradients(big, monkeypatch):
    ct, core, factors, x = big
    monkeypatch.setattr(_config, "_requested", None)
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "1")
    old = numba.get_num_threads()
    try:
        solvers.set_num_threads(1)
        one = np.asarray(ct.gradient(x))
        solvers.set_num_threads(2)
        two = np.asarray(ct.gradient(x))
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, two)


def test_public_batches_and_pickle_and_clear_cache(big, monkeypatch):
    ct, core, factors, x = big
    g = np.asarray(ct.gradient(x))
    monkeypatch.setattr(SLAB, "BATCH", 700)
    np.testing.assert_array_equal(np.asarray(ct.gradient(x[:2950])), g[:2950])
    monkeypatch.undo()
    ct2 = pickle.loads(pickle.dumps(ct))
    assert ct2.cache_nbytes == 0
    np.testing.assert_allclose(np.asarray(ct2.gradient(x)), g, rtol=0, atol=1e-13 * np.abs(g).max())
    p = ct._pack("table+derivative")[1]
    assert ct.cache_nbytes >= p._nb_dslab.nbytes + p._nb_slab.nbytes
    ct.clear_cache()
    assert ct.cache_nbytes == 0
    np.testing.assert_array_equal(np.asarray(ct.gradient(x)), g)


def test_concurrent_gradients_on_one_object(big):
    """Two Python threads calling ``gradient`` on one fresh object (caches and slabs built concurrently)
    while a third clears the caches: every result equals the single-threaded one."""
    ct, core, factors, x = big
    ref = np.asarray(ct.gradient(x))
    if numba.threading_layer() == "workqueue":
        pytest.skip("the workqueue threading layer aborts on concurrent parallel calls (Numba's limit)")
    obj = pickle.loads(pickle.dumps(ct))
    results, errors = ref_concurrently(lambda k: np.asarray(obj.gradient(x[k:])), obj)
    assert not errors, errors
    assert len(results) == 6
    for k, g in results:
        np.testing.assert_allclose(g, ref[k:], rtol=0, atol=1e-13 * np.abs(ref).max())
