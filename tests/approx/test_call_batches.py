"""``ChebTucker.__call__`` / ``gradient`` in batches with kept work arrays (:mod:`solvers._kernels.scratch`).

A call maps and evaluates its points in batches of ``CALL_BATCH``, into a mapped-points buffer kept between
calls (one process-wide set for all objects, per dimension), and the slab form keeps its bucketing arrays
the same way. References: the exact
Chebyshev–Tucker sum (``tests/approx/_slabref.py``: ``chebvander`` rows and ``einsum``), within the
route's own bound ``f_bound``; batch boundaries must not change a value beyond rounding (1e-13 relative).
"""
import pickle
import sys
import threading

import numpy as np
import pytest

from solvers._kernels import scratch as SC
from solvers.approx import ChebTucker
from tests.approx import _slabref as slabref

CTM = sys.modules["solvers.approx._calls"]

BOX = [(0.0, 2.0), (-3.0, -1.0), (1.0, 1.5)]


def _mapped(x):
    lo, hi = np.array(BOX).T
    return (2.0 * x - (hi + lo)) / (hi - lo)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    core, factors = slabref.tucker(rng, (21, 17, 19), (6, 5, 7))
    x = rng.uniform(*np.array(BOX).T, (3500, 3))
    return core, factors, x


@pytest.mark.parametrize("route", ["chebyshev", "table"])
def test_batched_calls_match_the_exact_sum_and_the_unbatched_call(case, route, monkeypatch):
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7, eval_method=route)
    whole, gwhole = np.asarray(ct(x)), np.asarray(ct.gradient(x))
    monkeypatch.setattr(CTM, "CALL_BATCH", 1000)             # 4 batches of 875 points
    assert list(ct._batches(3500)) == [(0, 875), (875, 1750), (1750, 2625), (2625, 3500)]
    v, g = np.asarray(ct(x)), np.asarray(ct.gradient(x))
    exact = slabref.exact(core, factors, _mapped(x))
    bound = ct.table_info()["f_bound"] if route == "table" else 1e-12 * np.abs(exact).max()
    assert np.abs(v - exact).max() <= 2 * bound + 1e-13 * np.abs(exact).max()
    scale = np.abs(whole).max()
    np.testing.assert_allclose(v, whole, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(g, gwhole, rtol=0, atol=1e-12 * np.abs(gwhole).max())


def test_no_points_and_one_point(case):
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7)
    assert np.asarray(ct(np.empty((0, 3)))).shape == (0,)
    assert np.asarray(ct.gradient(np.empty((0, 3)))).shape == (0, 3)
    one = np.asarray(ct(x[7]))
    np.testing.assert_allclose(one, slabref.exact(core, factors, _mapped(x[7:8])), rtol=1e-6)


def test_a_bad_point_in_a_later_batch_is_named_by_its_index(case, monkeypatch):
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7)
    monkeypatch.setattr(CTM, "CALL_BATCH", 1000)
    bad = x.copy()
    bad[2500, 1] = 5.0                                        # outside (-3, -1), in the third batch
    with pytest.raises(ValueError, match=r"points\[2500\]"):
        ct(bad)
    bad[2500, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ct.gradient(bad)


def _kept(d=3):
    return SC.shared_sets(CTM.WORK)[0].arrays[("d", d)]


def test_results_are_fresh_arrays_and_the_buffers_are_kept(case):
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7)
    v1 = np.asarray(ct(x)).copy()
    a = ct(x)
    kept = _kept()["t"]
    b = ct(x[::-1].copy())
    assert _kept()["t"] is kept                               # the same buffer, not a new one per call
    other = ChebTucker(core * 2.0, factors, BOX, tol=1e-7)
    c = other(x)
    assert _kept()["t"] is kept                               # another object: the same process-wide buffer
    assert not np.shares_memory(a, b) and not np.shares_memory(np.asarray(a), kept)
    assert not np.shares_memory(c, a)
    np.testing.assert_array_equal(np.asarray(a), v1)          # later calls did not touch an earlier result
    np.testing.assert_allclose(np.asarray(c), 2.0 * v1, rtol=1e-13, atol=0)
    pickle.loads(pickle.dumps(ct))                            # nothing kept on the object to pickle


def test_many_objects_share_one_set_of_work_arrays():
    """Evaluating many objects holds one set of batch buffers, not one per object; ``clear_cache``
    releases it (when no call is using it)."""
    rng = np.random.default_rng(8)
    core, factors = slabref.tucker(rng, (21, 17, 19), (6, 5, 7))
    x = rng.uniform(*np.array(BOX).T, (20000, 3))
    cts = [ChebTucker(core * (k + 1), factors, BOX, tol=1e-7, eval_method=m)
           for k, m in enumerate(["table", "chebyshev"] * 3)]
    cts[0](x)
    one = SC.shared_nbytes()
    assert one >= x.nbytes                                    # at least the mapped batch
    for ct in cts[1:]:
        ct(x)
    assert SC.shared_nbytes() == one                          # no set per object
    assert all(ct.cache_nbytes < x.nbytes for ct in cts)      # and nothing batch-sized on the objects
    cts[0].clear_cache()
    assert SC.shared_nbytes() == 0
    with SC.borrow_shared(CTM.WORK) as work:                 # a buffer lent to a call is not released
        SC.take(work, "t", (10, 3))
        assert SC.release_shared() == 0 and SC.shared_nbytes() > 0
    assert SC.release_shared() > 0


def test_concurrent_borrowers_get_their_own_sets_up_to_the_cap(monkeypatch):
    """Each concurrent borrower of a name gets a set of its own (never one another holds), up to ``MAX_SETS``
    kept sets; beyond them a fresh dict that is not kept; released sets are lent again."""
    monkeypatch.setattr(SC, "MAX_SETS", 2)
    name = "test.concurrent"
    with SC.borrow_shared(name) as a:
        with SC.borrow_shared(name) as b:
            with SC.borrow_shared(name) as c:
                assert a is not b and c is not a and c is not b
                SC.take(c, "x", (4,))
            assert len(SC.shared_sets(name)) == 2                 # the third was not kept
        SC.take(a, "x", (4,))
    with SC.borrow_shared(name) as again:
        assert again is a and "x" in again                       # the first free set, its arrays kept
    got = []

    def worker():
        with SC.borrow_shared(name) as w:
            got.append(w)

    with SC.borrow_shared(name) as held:
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert got[0] is not held                                # another thread: another set


def test_borrow_lends_to_one_caller_at_a_time():
    s = SC.Scratch()
    with SC.borrow(s) as w1:
        a = SC.take(w1, "a", (10, 3))
        with SC.borrow(s) as w2:                              # nested: its own arrays
            assert w2 is not w1 and SC.take(w2, "a", (10, 3)) is not a
        got = []
        th = threading.Thread(target=lambda: got.append(SC.borrow(s).__enter__()))
        th.start()
        th.join()
        assert got[0] is not w1 and got[0] == {}               # another thread: its own arrays
    with SC.borrow(s) as w3:
        assert w3 is w1
        b = SC.take(w3, "a", (4, 3))
        assert np.shares_memory(a, b) and b.shape == (4, 3)   # fewer rows: the kept array's leading rows
        c = SC.take(w3, "a", (20, 3))                         # more rows: a bigger array, kept instead
        assert c.shape == (20, 3) and c.base is w3["a"]
        d = SC.take(w3, "a", (5, 2))                          # another trailing shape: a new array
        assert d.shape == (5, 2)
        e = SC.take(w3, "a", (5, 2), np.int64)
        assert e.dtype == np.int64


def test_a_device_copy_does_not_reuse_the_host_buffer(case):
    """When the backend's ``asarray`` returns another array (a device copy that may still be in flight),
    the batch's host buffer is dropped from the kept arrays, so the next batch cannot overwrite it."""
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7)
    be, p = ct._pack(ct._route())

    class CopyingBackend:
        def kernels(self, family):
            return be.kernels(family)

        def asarray(self, a):
            return np.array(a, copy=True)

    work = {}
    t1 = ct._t(x, 0, 100, CopyingBackend(), p, work)
    assert "t" not in work and "tperm" not in work
    t2 = ct._t(x, 100, 200, CopyingBackend(), p, work)
    assert not np.shares_memory(t1, t2)
    np.testing.assert_allclose(t1[:, :] if p.perm is None else t1[:, np.argsort(p.perm)], _mapped(x[:100]),
                               rtol=0, atol=1e-15)
    ct._t(x, 0, 100, be, p, work)                              # the host backend: kept
    assert "t" in work


def test_the_slab_choice_is_made_for_the_whole_call(case, monkeypatch):
    """The Numba set chooses the plain or slab form from the points of the whole call, not of a batch."""
    from solvers._kernels.numba import approx_slab

    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7, eval_method="table", backend="numba")
    seen = []
    real = approx_slab.use_slab
    monkeypatch.setattr(approx_slab, "use_slab", lambda p, n, gradient=False: seen.append(n) or real(p, n, gradient))
    monkeypatch.setattr(CTM, "CALL_BATCH", 1000)
    ct(x)
    ct.gradient(x)
    assert seen and set(seen) == {3500}


def test_cache_nbytes_counts_the_objects_caches_not_the_shared_buffers(case):
    core, factors, x = case
    ct = ChebTucker(core, factors, BOX, tol=1e-7)
    ct(x[:10])
    before = ct.cache_nbytes
    ct(x)
    assert ct.cache_nbytes == before                         # the batch buffers are process-wide
    assert sum(a.nbytes for a in _kept().values()) >= x.nbytes
    ct.clear_cache()
    assert ct.cache_nbytes == 0


def test_clear_cache_from_another_thread_does_not_break_running_calls():
    """``clear_cache()`` replaces the object's cache dicts while other threads evaluate: every call still
    returns the right values (before the fix, ``_table_data`` re-read ``self._tables`` after building and
    raised ``KeyError: 'value'`` within a few seconds; review helper-113)."""
    import time

    rng = np.random.default_rng(0)
    core = rng.standard_normal((6, 5, 7))
    factors = [np.linalg.qr(rng.standard_normal((m, r)))[0] for m, r in [(21, 6), (17, 5), (19, 7)]]
    ct = ChebTucker(core, factors, [(-1, 1)] * 3, tol=1e-7, eval_method="table")
    x = rng.uniform(-1, 1, (50, 3))
    ref = slabref.exact(core, factors, x)
    errs, stop = [], time.time() + 4.0

    def work():
        while time.time() < stop and not errs:
            try:
                v = np.asarray(ct(x))
                if not np.abs(v - ref).max() <= 1e-8 * np.abs(ref).max():
                    errs.append("wrong values")
            except Exception as exc:                       # noqa: BLE001 - any exception is the failure
                errs.append(repr(exc))

    def clear():
        while time.time() < stop and not errs:
            ct.clear_cache()
            time.sleep(0.001)

    ts = [threading.Thread(target=work) for _ in range(3)] + [threading.Thread(target=clear)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errs, errs[:3]
