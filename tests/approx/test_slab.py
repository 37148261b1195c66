"""The slab form of the ``table`` route (Numba kernel set, :mod:`solvers._kernels.numba.approx_slab`).

References independent of the table code: values by ``numpy.polynomial.chebyshev.chebvander`` rows
and ``einsum`` on the core (the exact Chebyshev–Tucker sum). Tolerances: the route's own error bound
``f_bound`` of ``table_info()`` (the slab form evaluates the same interpolant as the plain table
route, so the same bound holds), and a few units of rounding between the two table forms.
"""
import pickle

import numpy as np
import numpy.polynomial.chebyshev as npc
import pytest

from solvers.approx import ChebTucker
from solvers._kernels.numba import approx as NA
from solvers._kernels.numba import _slab_order as ORD
from solvers._kernels.numba import approx_slab as SLAB
from tests.approx import _slabref as slabref

BOX3 = [(0.0, 2.0), (-3.0, -1.0), (1.0, 1.5)]

_tucker, _exact, _exact_grad = slabref.tucker, slabref.exact, slabref.exact_grad


def _mapped(rng, d, n):
    """Random points in [-1, 1]^d plus the ends, the middle and a duplicate block."""
    t = rng.uniform(-1.0, 1.0, (n, d))
    t[:3] = np.array([-1.0, 0.0, 1.0])[:, None]
    t[3:9] = t[9:15]
    return np.ascontiguousarray(t)


def _packed(core, factors, tol=1e-7):
    ct = ChebTucker(core, factors, [(-1.0, 1.0)] * len(factors), tol=tol, eval_method="table")
    assert ct.eval_route == "table"
    be, p = ct._pack("table")
    return ct, p


@pytest.mark.parametrize("m, r", [((33, 29), (14, 20)),
                                  ((25, 31, 29), (9, 12, 20)),
                                  ((17, 15, 19, 21), (4, 5, 6, 13))])
def test_slab_form_against_the_exact_sum(m, r):
    """d = 2, 3, 4: the slab kernel (called directly, whatever the cost model says) against the exact
    sum within the table route's bound; against the plain table kernel within the bound of the dropped
    Chebyshev terms (:func:`SLAB.slab_terms`: their norms times the rows' norms), and, with the eight nodal
    slabs forced, to rounding."""
    rng = np.random.default_rng(len(m))
    core, factors = _tucker(rng, m, r)
    ct, p = _packed(core, factors)
    t = _mapped(rng, len(m), 3000)
    pm = NA._point_major(p)
    got = SLAB.evaluate(p, t, np.empty(t.shape[0]), *pm)
    ref = _exact(core, factors, t)
    info = ct.table_info()
    assert np.abs(got - ref).max() <= 2.0 * info["f_bound"] + 1e-13 * np.abs(ref).max()
    plain = np.empty(t.shape[0])
    NA._evaluate_table(p.core, *pm, p.tG, p.tp, p.inv_den, p.r, t, plain, NA.chunk_for(p))
    K = SLAB.slab_terms(p, SLAB.slabs(p, *pm))
    SL = SLAB.slabs(p, *pm)
    L = int(p.tG[-1]) + 9
    norms, _ = SLAB.term_norms(SL, L, SL.size // L)
    nu = np.prod([np.sqrt((_exact_rows(A, t[:, i]) ** 2).sum(axis=1)).max() for i, A in enumerate(factors[:-1])])
    drop = norms[K:].sum() * nu * 1.01 if K < 8 else 0.0
    np.testing.assert_allclose(got, plain, rtol=0, atol=drop + 1e-12 * np.abs(plain).max())
    p._nb_slab_terms = 8                                    # the nodal slabs: the plain route's numbers
    nodal = SLAB.evaluate(p, t, np.empty(t.shape[0]), *pm)
    np.testing.assert_allclose(nodal, plain, rtol=0, atol=1e-12 * np.abs(plain).max())


def _exact_rows(A, x):
    """The factor rows ``sum_k A[k, :] T_k(x)`` (NumPy's Chebyshev Vandermonde matrix)."""
    return npc.chebvander(x, A.shape[0] - 1) @ A


def test_six_chebyshev_terms_per_cell():
    """:func:`SLAB.cell_chebyshev` against the Lagrange basis on [3, 4] (exact at eight terms); the terms
    are taken where the dropped ones are negligible for the tables' target (rank 20, order 8), the nodal
    slabs where the target is unknown or too fine; six terms differ from eight by at most their bound."""
    rng = np.random.default_rng(61)
    sig = rng.uniform(3.0, 4.0, 200)
    W = np.ones((sig.size, 8))
    for l in range(8):
        for i in range(8):
            if i != l:
                W[:, l] *= (sig - i) / (l - i)
    A8 = SLAB.cell_chebyshev(8)
    np.testing.assert_allclose(npc.chebvander(2.0 * (sig - 3.5), 7) @ A8, W, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(SLAB.cell_chebyshev(6), A8[:6])
    core, factors = _tucker(rng, (65, 61, 63), (20, 18, 20))
    ct, p = _packed(core, factors)
    pm = NA._point_major(p)
    SL = SLAB.slabs(p, *pm)
    assert SLAB.slab_terms(p, SL) == SLAB.TERMS
    t = _mapped(rng, 3, 20000)
    six = SLAB.evaluate(p, t, np.empty(t.shape[0]), *pm)
    p._nb_slab_terms = 8
    eight = SLAB.evaluate(p, t, np.empty(t.shape[0]), *pm)
    L = int(p.tG[-1]) + 9
    norms, scale = SLAB.term_norms(SL, L, SL.size // L)
    assert norms[SLAB.TERMS:].sum() <= SLAB.TRUNC_FRACTION * p.ttarget * scale
    nu = np.prod([np.sqrt((_exact_rows(A, t[:, i]) ** 2).sum(axis=1)).max() for i, A in enumerate(factors[:-1])])
    assert 0.0 < np.abs(six - eight).max() <= norms[SLAB.TERMS:].sum() * nu * 1.01 + 1e-13 * np.abs(eight).max()
    for target in (0.0, 1e-16):                             # unknown, or finer than the dropped terms
        p._nb_slab_terms = None
        p.ttarget = target
        assert SLAB.slab_terms(p, SL) == 8


def test_public_evaluation_takes_the_slab_form_and_stays_exact():
    """Ranks where the cost model takes the slab form, on a box that is not [-1, 1]^3: ``ct(x)`` against
    the exact sum, and the same values before and after pickling (the slabs are a cache)."""
    rng = np.random.default_rng(7)
    core, factors = _tucker(rng, (41, 37, 45), (30, 24, 32))
    ct = ChebTucker(core, factors, BOX3, tol=1e-7, eval_method="table")
    be, p = ct._pack("table")
    n = 40 * (int(p.tG[-1]) + 9)             # the slab form's GEMMs pay from some tens of points per node
    assert SLAB.use_slab(p, n)
    lo, hi = np.array(BOX3).T
    x = rng.uniform(lo, hi, (n, 3))
    x[:8] = np.array(np.meshgrid(*BOX3, indexing="ij")).reshape(3, -1).T     # the corners
    got = np.asarray(ct(x))
    assert getattr(p, "_nb_slab", None) is not None                         # the slab form ran
    t = 2.0 * (x - lo) / (hi - lo) - 1.0
    ref = _exact(core, factors, np.clip(t, -1.0, 1.0))
    assert np.abs(got - ref).max() <= 2.0 * ct.table_info()["f_bound"] + 1e-13 * np.abs(ref).max()
    ct2 = pickle.loads(pickle.dumps(ct))
    np.testing.assert_allclose(np.asarray(ct2(x)), got, rtol=0, atol=1e-12 * np.abs(got).max())


def test_cost_model_and_limits():
    rng = np.random.default_rng(3)
    core, factors = _tucker(rng, (33, 33, 33), (8, 8, 8))
    _, p = _packed(core, factors)
    assert not SLAB.use_slab(p, 10 ** 7)                   # a small core: the GEMM route is cheaper
    core, factors = _tucker(rng, (41, 41, 41), (24, 20, 40))
    _, p = _packed(core, factors)
    L = int(p.tG[-1]) + 9
    assert SLAB.use_slab(p, 20 * L)
    assert not SLAB.use_slab(p, SLAB.MIN_POINTS_PER_NODE * L - 1)    # too few points per grid node
    # at a few points per node the per-work-item cost (one GEMM per node) outweighs the saving
    assert not SLAB.use_slab(p, SLAB.MIN_POINTS_PER_NODE * L)
    assert SLAB.slab_bytes(p) == 8 * L * 24 * 20
    old = SLAB.MAX_BYTES
    try:
        SLAB.MAX_BYTES = SLAB.slab_bytes(p) - 1
        assert not SLAB.use_slab(p, 10 ** 7)
    finally:
        SLAB.MAX_BYTES = old


def test_nodes_stay_in_range():
    t = np.array([[np.nan], [2.0], [-2.0], [1.0], [-1.0], [0.0], [np.inf], [-np.inf]])
    G = 64
    Cn, S = np.empty(t.shape[0], dtype=np.int64), np.empty(t.shape[0])
    ORD._count(t, 0, G, 4, Cn, S, np.empty((3, G + 9), dtype=np.int64))
    assert Cn.min() >= 1 and Cn.max() <= G                  # slab rows C .. C + 7 exist (G + 9 of them)
    assert np.all(np.isfinite(S))
    # the stencil of t = 1 (theta = 0) and t = -1 (theta = pi) as in the plain kernel
    assert (Cn[3], S[3]) == (1, 3.0) and (Cn[4], S[4]) == (G, 4.0)


@pytest.mark.parametrize("chunks", [1, 3, 8, 64])
def test_parallel_order_is_the_stable_counting_sort(chunks):
    """``_slab_order.order`` (per-chunk histograms, parallel placement) against ``numpy.argsort(kind=
    "stable")`` of the stencil nodes computed with ``numpy.arccos``, for any number of chunks; the copied points, nodes
    and offsets follow the permutation (NaN offsets where the last coordinate is not in [-1, 1]), and the
    work items cover the sorted points in blocks of at most ``tile`` of one node."""
    from solvers._kernels.scratch import take
    rng = np.random.default_rng(chunks)
    n, G = 5003, 96
    L = G + 9
    t = rng.uniform(-1.0, 1.0, (n, 3))
    t[:40, 2] = np.cos(rng.uniform(0, 0.05, 40))            # a crowded end node
    t[40:45, 2] = [np.nan, 2.0, -2.0, np.inf, 1.0]
    work = {}
    perm, tb, Cb, Sb, items = ORD.order(t, G, L, 32, work, take, chunks)
    C, S = work["C"][:n], work["S"][:n]                       # the nodes and offsets, in the points' order
    s = np.clip(np.nan_to_num(np.arccos(np.clip(t[:, 2], -1.0, 1.0)), nan=0.0) * G / np.pi, 0, G)   # numpy's
    j0 = np.minimum(s.astype(np.int64), G - 1) - 3
    ok = np.abs(t[:, 2]) <= 1.0                               # (the others get NaN offsets below)
    near = np.abs(s - np.round(s)) < 1e-9                     # a node itself: either stencil is right
    assert (C[ok & ~near] == j0[ok & ~near] + 4).all() and (np.abs(C - (j0 + 4))[ok] <= 1).all()
    assert ((C >= 1) & (C <= G)).all()
    np.testing.assert_allclose((S + C - 4)[ok & ~near], s[ok & ~near], rtol=0, atol=1e-9)
    want = np.argsort(C, kind="stable")
    np.testing.assert_array_equal(perm, want)
    np.testing.assert_array_equal(tb, t[want, :2])
    np.testing.assert_array_equal(Cb, C[want])
    bad = ~(np.abs(t[want, 2]) <= 1.0)
    assert np.isnan(Sb[bad]).all() and bad.sum() == 4
    np.testing.assert_array_equal(Sb[~bad], S[want][~bad])
    assert items[0, 0] == 0 and items[:, 1].sum() == n and items[:, 1].max() <= 32
    np.testing.assert_array_equal(items[1:, 0], np.cumsum(items[:, 1])[:-1])
    for s0, k in items:
        assert (Cb[s0:s0 + k] == Cb[s0]).all()


def test_cache_bytes_count_the_slabs_and_clear_cache_frees_them():
    rng = np.random.default_rng(11)
    core, factors = _tucker(rng, (41, 37, 45), (30, 24, 32))
    ct = ChebTucker(core, factors, BOX3, tol=1e-7, eval_method="table")
    assert ct.cache_nbytes == 0
    be, p = ct._pack("table")
    n = 40 * (int(p.tG[-1]) + 9) + 5
    lo, hi = np.array(BOX3).T
    x = rng.uniform(lo, hi, (n, 3))
    before = np.asarray(ct(x))
    slab = ct._pack("table")[1]._nb_slab
    assert ct.cache_nbytes >= slab.nbytes + sum(A.nbytes for A in factors)
    ct.clear_cache()
    assert ct.cache_nbytes == 0
    np.testing.assert_array_equal(np.asarray(ct(x)), before)         # rebuilt: the same tables, the same values


@pytest.mark.parametrize("d", [2, 3, 4])
def test_large_work_items_against_the_exact_sum(d):
    """Enough points per grid node for the large work items (:func:`SLAB.tile_for` gives
    ``TILE_LARGE``; nodes with more than one item, and a padded last item): against the exact sum within
    the route's bound, and against the same points in small items (a batch with too few points per node):
    bitwise with OpenBLAS (the GEMMs' row blocks do not depend on the tile: at d = 4 tile-dependent blocks
    changed 221 of 25290 values in the last bit, review helper-113), to rounding with another BLAS."""
    from solvers import _blasinfo

    rng = np.random.default_rng(40 + d)
    m, r = {2: ((25, 21), (12, 16)), 3: ((25, 31, 29), (9, 12, 16)),
            4: ((17, 15, 19, 21), (8, 9, 10, 13))}[d]
    core, factors = _tucker(rng, m, r)
    ct, p = _packed(core, factors)
    L = int(p.tG[-1]) + 9
    n = SLAB.TILE_LARGE_FROM * L + 77
    assert SLAB.tile_for(n, L) == SLAB.TILE_LARGE and SLAB.tile_for(n // 4, L) == SLAB.TILE
    t = _mapped(rng, d, n)
    got = SLAB.evaluate(p, t, np.empty(n), *NA._point_major(p))
    ref = _exact(core, factors, t)
    assert np.abs(got - ref).max() <= 2.0 * ct.table_info()["f_bound"] + 1e-13 * np.abs(ref).max()
    small = np.concatenate([SLAB.evaluate(p, t[s:s + n // 4], np.empty(t[s:s + n // 4].shape[0]),
                                          *NA._point_major(p)) for s in range(0, n, n // 4)])
    np.testing.assert_allclose(got, small, rtol=0, atol=1e-13 * np.abs(ref).max())
    if all(lib.get("internal_api") == "openblas" for lib in _blasinfo.blas_libraries()):
        np.testing.assert_array_equal(got, small)


_SIZE_INVARIANCE = """
import numpy as np
from solvers.approx import ChebTucker
from tests.approx import _slabref as slabref
rng = np.random.default_rng(11)
core, factors = slabref.tucker(rng, (17, 44, 45), (4, 40, 41))
ct = ChebTucker(core, factors, [(-1.0, 1.0)] * 3, tol=1e-7, eval_method="table")
x, whole, parts = slabref.call_size_split(ct, rng)
bad = int(np.count_nonzero(whole != parts))
assert bad == 0, f"{bad} of {x.shape[0]} values changed with the call's size"
"""


def _has_avx512():
    try:
        with open("/proc/cpuinfo") as fh:
            return " avx512f" in fh.read()
    except OSError:
        return False


@pytest.mark.skipif(not _has_avx512(), reason="OpenBLAS's SkylakeX kernels need AVX-512")
def test_values_do_not_depend_on_the_call_size_with_openblas_skylakex_kernels():
    """OpenBLAS's AVX-512 (SkylakeX) DGEMM rounds a row of C by its position and the GEMM's row count for some
    shapes; the slab form keeps the points as GEMM columns, so a value is the same in a call of 60 000 points
    (64-point items) and of 15 000 (32-point items). With the points as rows (tried in session 33), 42366 of
    59309 values changed here (review helper-118). In a subprocess: OpenBLAS reads ``OPENBLAS_CORETYPE`` once."""
    import os
    import subprocess
    import sys

    from solvers import _blasinfo

    if not all(lib.get("internal_api") == "openblas" for lib in _blasinfo.blas_libraries()):
        pytest.skip("not OpenBLAS")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", _SIZE_INVARIANCE], env=env, capture_output=True, text=True,
                         timeout=600, cwd=root)
    assert run.returncode == 0, run.stderr[-3000:]


def test_batches_give_the_same_values(monkeypatch):
    """The bucketing runs in batches (bounded work arrays); batches of 1000 points, with a short last
    batch, give the values of one batch."""
    rng = np.random.default_rng(5)
    core, factors = _tucker(rng, (25, 31, 29), (9, 12, 20))
    _, p = _packed(core, factors)
    t = _mapped(rng, 3, 4321)
    one = SLAB.evaluate(p, t, np.empty(t.shape[0]), *NA._point_major(p))
    monkeypatch.setattr(SLAB, "BATCH", 1000)
    many = SLAB.evaluate(p, t, np.full(t.shape[0], np.nan), *NA._point_major(p))
    np.testing.assert_array_equal(many, one)
    ref = _exact(core, factors, t)
    assert np.abs(many - ref).max() <= 1e-8 * np.abs(ref).max()


def test_core_and_factors_are_owned_and_read_only():
    """The caches (packed forms, tables, slabs) derive from the core and the factors: they are copies
    that cannot be changed in place, so no route can go stale (before the fix an in-place ``core *= 2``
    doubled the Chebyshev route's values but not the slab form's)."""
    rng = np.random.default_rng(13)
    core, factors = _tucker(rng, (25, 31, 29), (9, 12, 20))
    ct = ChebTucker(core, factors, BOX3, tol=1e-7)
    x = np.array([[1.0, -2.0, 1.25]])
    before = np.asarray(ct(x))
    core *= 2.0                                      # the caller's arrays are not shared
    factors[0][:] = 0.0
    np.testing.assert_array_equal(np.asarray(ct(x)), before)
    with pytest.raises(ValueError, match="read-only"):
        ct.core *= 2.0
    with pytest.raises(ValueError, match="read-only"):
        ct.factors[1][0, 0] = 1.0
    ct2 = pickle.loads(pickle.dumps(ct))
    assert not ct2.core.flags.writeable and not any(A.flags.writeable for A in ct2.factors)


@pytest.mark.parametrize("m, r", [((33, 29), (14, 20)),
                                  ((25, 31, 29), (9, 12, 20)),
                                  ((17, 15, 19, 21), (4, 5, 6, 13))])
def test_slab_gradient_against_the_exact_derivatives(m, r):
    """d = 2, 3, 4: the slab gradient (called directly) against the analytic derivatives of the exact sum
    (``chebder`` rows), and the values against the exact sum; the plain table gradient agrees to rounding."""
    rng = np.random.default_rng(20 + len(m))
    core, factors = _tucker(rng, m, r)
    ct = ChebTucker(core, factors, [(-1.0, 1.0)] * len(m), tol=1e-7, eval_method="table")
    ct.gradient(np.zeros((1, len(m))))
    be, p = ct._pack("table+derivative")
    t = _mapped(rng, len(m), 3000)
    tabs = NA._point_major(p)
    dtabs = NA._point_major(p, "d")
    val, grad = SLAB.gradient(p, t, np.empty(t.shape[0]), np.empty(t.shape), *tabs, *dtabs[:2])
    ref_v, ref_g = _exact(core, factors, t), _exact_grad(core, factors, t)
    assert np.abs(val - ref_v).max() <= 1e-8 * np.abs(ref_v).max()
    assert np.abs(grad - ref_g).max() <= 1e-7 * np.abs(ref_g).max()     # derivative tables: a looser target
    pv, pg = np.empty(t.shape[0]), np.empty(t.shape)
    NA._gradient_table(p.core, tabs[0], tabs[1], dtabs[0], dtabs[1], tabs[2], p.tG, p.dtG, p.tp, p.inv_den, p.r, t,
                       pv, pg, 64)
    np.testing.assert_allclose(grad, pg, rtol=0, atol=1e-12 * np.abs(pg).max())


def test_public_gradient_takes_the_slab_form():
    """Ranks where the gradient cost model takes the slab form, on a box: ``ct.gradient(x)`` against the
    exact derivatives (chain rule of the box map), and ``ct(x)`` against the exact sum."""
    rng = np.random.default_rng(17)
    core, factors = _tucker(rng, (41, 37, 45), (30, 24, 40))
    ct = ChebTucker(core, factors, BOX3, tol=1e-7, eval_method="table")
    ct.gradient(np.array([[1.0, -2.0, 1.25]]))
    be, p = ct._pack("table+derivative")
    n = SLAB.MIN_POINTS_PER_NODE * (max(int(p.tG[-1]), int(p.dtG[-1])) + 9) + 7
    assert SLAB.use_slab(p, n, gradient=True)
    lo, hi = np.array(BOX3).T
    x = rng.uniform(lo, hi, (n, 3))
    grad = ct.gradient(x)
    assert getattr(p, "_nb_dslab", None) is not None                          # the slab form ran
    val = ct(x)
    t = 2.0 * (x - lo) / (hi - lo) - 1.0
    ref_g = _exact_grad(core, factors, t) * (2.0 / (hi - lo))[None, :]
    assert np.abs(np.asarray(grad) - ref_g).max() <= 1e-7 * np.abs(ref_g).max()
    ref_v = _exact(core, factors, t)
    assert np.abs(np.asarray(val) - ref_v).max() <= 1e-8 * np.abs(ref_v).max()


def test_every_numba_entry_point_refuses_outputs_it_would_overrun():
    """Short, wrongly shaped, non-contiguous or read-only outputs are a ValueError before any kernel runs, on
    the plain and the table routes too (before, a short ``out`` was written past its end by the plain route)."""
    rng = np.random.default_rng(2)
    core, factors = _tucker(rng, (25, 31, 29), (9, 12, 20))
    ct = ChebTucker(core, factors, [(-1.0, 1.0)] * 3, tol=1e-7, eval_method="table")
    ct.gradient(np.zeros((1, 3)))
    be, p = ct._pack("table+derivative")
    t = _mapped(rng, 3, 50)
    buf = np.zeros(1000)
    ro = np.empty(50)
    ro.flags.writeable = False
    for fn in (NA.evaluate, NA.evaluate_table):
        for out in (buf[:20], np.empty(50, dtype=np.float32), buf[::2][:50], ro):
            with pytest.raises(ValueError, match="out must be"):
                fn(p, t, out)
    for fn in (NA.gradient, NA.gradient_table):
        for grad in (buf[:60].reshape(20, 3), np.empty((50, 3), order="F"), np.empty(150)):
            with pytest.raises(ValueError, match="grad must be"):
                fn(p, t, np.empty(50), grad)
    assert not buf.any()                                  # nothing was written


def test_term_norms_in_blocks_and_at_extreme_scales(monkeypatch):
    """``term_norms`` against the terms formed all at once (NumPy, one expression), in one block and in many
    (a short last one), and unchanged in relative terms for slabs scaled by 1e-300 or 1e300 (the squares
    would underflow or overflow unscaled); zero slabs give zero norms, non-finite ones infinite norms (eight
    terms kept)."""
    from solvers._kernels.numba import _slab_cells as CELLS

    rng = np.random.default_rng(71)
    L, npre = 301, 96
    SL = np.cumsum(rng.standard_normal((L, npre)), axis=0).reshape(-1)
    A = CELLS.cell_chebyshev(8)
    S = SL.reshape(L, npre)
    M = np.stack([sum(A[k, l] * S[l:l + L - 7] for l in range(8)) for k in range(8)])
    ref = np.sqrt((M ** 2).sum(axis=2)).max(axis=1)
    ref_scale = np.sqrt((S ** 2).sum(axis=1)).max()
    for block_bytes in (CELLS.TERM_BLOCK_BYTES, 8 * npre * 37):
        monkeypatch.setattr(CELLS, "TERM_BLOCK_BYTES", block_bytes)
        norms, scale = CELLS.term_norms(SL, L, npre)
        np.testing.assert_allclose(norms[CELLS.TERMS:], ref[CELLS.TERMS:], rtol=1e-13)
        assert np.all(np.isnan(norms[:CELLS.TERMS]))
        np.testing.assert_allclose(scale, ref_scale, rtol=1e-14)
        for f in (1e-300, 1e300):
            n_f, s_f = CELLS.term_norms(SL * f, L, npre)
            np.testing.assert_allclose(n_f[CELLS.TERMS:] / f, ref[CELLS.TERMS:], rtol=1e-13)
            np.testing.assert_allclose(s_f / f, ref_scale, rtol=1e-13)
    assert CELLS.term_norms(np.zeros(L * npre), L, npre)[1] == 0.0
    norms, scale = CELLS.term_norms(np.where(np.arange(L * npre) == 5, np.inf, SL), L, npre)
    assert np.all(np.isinf(norms[CELLS.TERMS:])) and scale == np.inf
