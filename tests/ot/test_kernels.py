"""The OT kernel sets: one interface on every backend, Numba against the NumPy reference, no
backend branches in the algorithm modules."""
import inspect
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from solvers._kernels.cupy import ot as cupy_ot
from solvers._kernels.numba import ot as numba_ot
from solvers._kernels.numpy import ot as ref

API = ("CHECK_EVERY", "prepare_cost", "row_lse", "col_lse", "f_update", "g_update", "row_gap", "plan_cost",
       "plan_dense", "sparse_plan", "row_lse_sparse", "schur_prepare", "schur_diagonal", "schur_matvec",
       "plan_matvec", "plan_rmatvec", "csr_matrix", "csr_scatter", "scaling_kernel", "scaling_matvec",
       "scaling_rmatvec", "plan_summary", "log_marginals", "scaling_step", "col_min")


@pytest.mark.parametrize("mod", [numba_ot, cupy_ot], ids=["numba", "cupy"])
def test_every_set_has_the_reference_functions_and_signatures(mod):
    for name in API:
        assert hasattr(mod, name), f"{mod.__name__} lacks {name}"
        if callable(getattr(ref, name)):
            assert inspect.signature(getattr(mod, name)) == inspect.signature(getattr(ref, name)), name
    assert isinstance(mod.CHECK_EVERY, int) and mod.CHECK_EVERY >= 1


def test_no_backend_branches_in_the_ot_algorithms():
    root = pathlib.Path(__file__).resolve().parents[2] / "solvers" / "ot"
    for path in root.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"\.name\s*(==|!=|\bin\b)", text), path.name
        assert "is_gpu" not in text, path.name


@pytest.fixture
def data(rng):
    n, m = 37, 29
    C = rng.random((n, m))
    f, g = rng.standard_normal(n) * 0.05, rng.standard_normal(m) * 0.05
    return C, f, g, np.log(rng.uniform(0.5, 1.5, n)), np.log(rng.uniform(0.5, 1.5, m))


@pytest.mark.parametrize("eps", [1.0, 1e-2, 1e-4])
def test_numba_dense_kernels_match_reference(data, eps):
    C, f, g, la, lb = data
    n, m = C.shape
    fast, slow = numba_ot.prepare_cost(C), ref.prepare_cost(C)
    np.testing.assert_allclose(numba_ot.row_lse(fast, g, eps), ref.row_lse(slow, g, eps), rtol=1e-13)
    np.testing.assert_allclose(numba_ot.col_lse(fast, f, eps), ref.col_lse(slow, f, eps), rtol=1e-13)
    np.testing.assert_allclose(numba_ot.f_update(fast, g, la, eps, np.empty(n)), ref.f_update(slow, g, la, eps,
                               np.empty(n)), rtol=1e-13, atol=1e-14 * eps)
    np.testing.assert_allclose(numba_ot.g_update(fast, f, lb, eps, np.empty(m)), ref.g_update(slow, f, lb, eps,
                               np.empty(m)), rtol=1e-13, atol=1e-14 * eps)
    a, f1 = np.exp(la), f + 1e-3 * eps
    assert numba_ot.row_gap(a, f, f1, eps) == pytest.approx(ref.row_gap(a, f, f1, eps), rel=1e-12)
    if eps >= 1e-2:       # exp((f + g - C) / eps) underflows at 1e-4 (both give ~0)
        assert numba_ot.plan_cost(fast, f, g, eps) == pytest.approx(ref.plan_cost(slow, f, g, eps), rel=1e-12)
        np.testing.assert_allclose(numba_ot.plan_dense(fast, f, g, eps), ref.plan_dense(slow, f, g, eps), rtol=1e-13)


@pytest.mark.parametrize("rho, kmax", [(1e-3, 29), (1e-8, 5), (0.5, 2), (1e-300, 29)])
def test_numba_sparse_kernels_match_reference(data, rho, kmax):
    C, f, g, _, _ = data
    n, m = C.shape
    eps = 1e-2
    fast, slow = numba_ot.prepare_cost(C), ref.prepare_cost(C)
    want = ref.sparse_plan(slow, f, g, eps, rho, kmax)
    fused = numba_ot.row_lse_sparse(fast, g, f, eps, rho, kmax)[1]
    for got in (numba_ot.sparse_plan(fast, f, g, eps, rho, kmax), fused):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[2], want[2], rtol=1e-13)
    lse, _ = numba_ot.row_lse_sparse(fast, g, f, eps, rho, kmax)
    np.testing.assert_allclose(lse, ref.row_lse(slow, g, eps), rtol=1e-13)
    # the plan entries really are exp((f_i + g_j - C_ij)/eps) in each kept (row, column)
    P = np.exp((f[:, None] + g[None, :] - C) / eps)
    rows = np.repeat(np.arange(n), np.diff(want[0]))
    np.testing.assert_allclose(want[2], P[rows, want[1]], rtol=1e-13)
    assert (np.diff(want[0]) <= kmax).all()


@pytest.mark.parametrize("form", ["serial", "gather", "scatter"])
def test_numba_schur_kernels_match_reference(data, rng, monkeypatch, form):
    C, f, g, _, _ = data
    n, m = C.shape
    if form != "serial":
        monkeypatch.setattr(numba_ot, "SCHUR_PARALLEL_NNZ", 0)
        monkeypatch.setattr(numba_ot, "SCHUR_SCATTER_NNZ", 10 ** 9 if form == "gather" else 0)
        monkeypatch.setattr(numba_ot, "SCHUR_MIN_CHUNKS", 1)
    csr = ref.sparse_plan(ref.prepare_cost(C), f, g, 0.05, 1e-3, 8)
    dcol, inv_drow, x, y = rng.uniform(1, 2, m), rng.uniform(1, 2, n), rng.standard_normal(m), rng.standard_normal(n)
    fast, slow = numba_ot.schur_prepare(csr, (n, m)), ref.schur_prepare(csr, (n, m))
    P = ref.csr_matrix(csr, (n, m)).toarray()
    S = np.diag(dcol) - P.T @ np.diag(inv_drow) @ P                       # dense, obviously right
    np.testing.assert_allclose(numba_ot.schur_diagonal(fast, dcol, inv_drow), np.diag(S), rtol=1e-13)
    np.testing.assert_allclose(ref.schur_diagonal(slow, dcol, inv_drow), np.diag(S), rtol=1e-13)
    for mod, sch in ((numba_ot, fast), (ref, slow)):
        np.testing.assert_allclose(mod.schur_matvec(sch, dcol, inv_drow, x, np.empty(m)), S @ x, rtol=1e-12)
        np.testing.assert_allclose(mod.plan_matvec(sch, x), P @ x, rtol=1e-13)
        np.testing.assert_allclose(mod.plan_rmatvec(sch, y), P.T @ y, rtol=1e-13)


@pytest.mark.parametrize("form", ["gather", "scatter"])
@pytest.mark.parametrize("n, m", [(400, 300), (64, 900), (1, 50)])
def test_numba_schur_product_on_skewed_rows_against_scipy(n, m, form, monkeypatch):
    """Both parallel forms -- the gather over a transposed copy, and the chunked one-pass scatter (row chunks of
    about equal stored entries, one column accumulator each) -- on rows of very unequal length, empty rows and a
    single row, against SciPy's sparse products; and the same bits on one and two threads (the chunk count, not
    the thread count, fixes the scatter's summation order)."""
    import numba

    monkeypatch.setattr(numba_ot, "SCHUR_PARALLEL_NNZ", 0)
    monkeypatch.setattr(numba_ot, "SCHUR_SCATTER_NNZ", 10 ** 9 if form == "gather" else 0)
    monkeypatch.setattr(numba_ot, "SCHUR_MIN_CHUNKS", 1)

    r = np.random.default_rng(n + m)
    counts = r.integers(0, m, n)
    counts[r.random(n) < 0.2] = 0                                   # empty rows
    counts[: max(1, n // 50)] = m                                   # a few full rows
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = np.concatenate([np.sort(r.choice(m, c, replace=False)) for c in counts]).astype(np.int32)
    data = r.random(indices.size)
    P = ref.csr_matrix((indptr, indices, data), (n, m))
    dcol, inv_drow, x, y = r.uniform(1, 2, m), r.uniform(1, 2, n), r.standard_normal(m), r.standard_normal(n)
    want = dcol * x - P.T @ (inv_drow * (P @ x))
    sch = numba_ot.schur_prepare((indptr, indices, data), (n, m))
    assert sch.kernel is (numba_ot._schur_gather_parallel if form == "gather" else numba_ot._schur_matvec_parallel)
    if form == "scatter" and n > 1:
        bounds, acc = sch.operands[3:]
        assert acc.shape[0] > 1 and bounds[0] == 0 and bounds[-1] == n and (np.diff(bounds) >= 0).all()
    scale = np.abs(dcol * x).max() + np.abs(P.T @ (inv_drow * np.abs(P @ np.abs(x)))).max()
    outs = []
    before = numba.get_num_threads()
    try:
        for t in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(t)
            outs.append(numba_ot.schur_matvec(sch, dcol, inv_drow, x, np.empty(m)))
    finally:
        numba.set_num_threads(before)
    np.testing.assert_allclose(outs[0], want, rtol=0, atol=1e-13 * scale)
    assert all(np.array_equal(o, outs[0]) for o in outs)
    np.testing.assert_allclose(numba_ot.plan_rmatvec(sch, y), P.T @ y, rtol=0,
                               atol=1e-13 * (np.abs(P.T) @ np.abs(y)).max())


@pytest.mark.parametrize("form", ["serial", "gather", "scatter"])
def test_numba_schur_product_may_write_into_x(form, monkeypatch):
    """``out`` may be ``x`` itself in every form: the serial scatter wrote ``out = dcol x`` before ``P x`` read
    ``x`` (2 x 2 plan: [-20, 400] for [7, -5]; helper-122). The operator refuses a partial overlap."""
    monkeypatch.setattr(numba_ot, "SCHUR_PARALLEL_NNZ", 10 ** 9 if form == "serial" else 0)
    monkeypatch.setattr(numba_ot, "SCHUR_SCATTER_NNZ", 10 ** 9 if form == "gather" else 0)
    monkeypatch.setattr(numba_ot, "SCHUR_MIN_CHUNKS", 1)
    r = np.random.default_rng(5)
    n = m = 40
    P = (r.random((n, m)) < 0.3) * r.random((n, m))
    import scipy.sparse as sps
    Pc = sps.csr_matrix(P)
    csr = (Pc.indptr.astype(np.int64), Pc.indices.astype(np.int32), Pc.data.copy())
    dcol, inv_drow, x = r.uniform(1, 2, m), r.uniform(1, 2, n), r.standard_normal(m)
    want = dcol * x - P.T @ (inv_drow * (P @ x))
    sch = numba_ot.schur_prepare(csr, (n, m))
    y = x.copy()
    assert numba_ot.schur_matvec(sch, dcol, inv_drow, y, y) is y
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-13 * np.abs(want).max())
    w = inv_drow.copy()
    np.testing.assert_allclose(numba_ot.schur_matvec(sch, dcol, w, x, w), want, rtol=0, atol=1e-13 * np.abs(want).max())
    from solvers.ot._newton import SchurOperator
    import solvers
    S = SchurOperator(solvers.get_backend("numba"), csr, dcol, inv_drow, (n, m))
    buf = np.zeros(m + 1)
    with pytest.raises(ValueError, match="shares memory"):
        S.matvec_into(buf[:m], buf[1:])


@pytest.mark.parametrize("mod", [numba_ot], ids=["numba"])
@pytest.mark.parametrize("bad, err", [
    (lambda p, i, d: (np.array([0, 3, 1, 5]), i, d), ValueError),                # decreasing: entries counted twice
    (lambda p, i, d: (np.array([1, 2, 3, 5]), i, d), ValueError),                # not starting at 0
    (lambda p, i, d: (np.array([0, 10 ** 7, 2, 5]), i, d), ValueError),          # beyond the entries
    (lambda p, i, d: (p, i.astype(np.float64), d), TypeError),                   # float column indices
    (lambda p, i, d: (p, i, d.astype(np.complex128)), TypeError),                # complex plan
    (lambda p, i, d: (list(p), i, d), ValueError),                               # not an array
])
def test_schur_prepare_refuses_a_malformed_csr(mod, bad, err):
    """Checked before any kernel runs (the gather form aborted with a double free or segfaulted on the first
    three; the scatter forms silently miscounted: helper-122)."""
    indptr, indices, data = np.array([0, 2, 3, 5]), np.array([0, 2, 1, 0, 2], dtype=np.int32), np.arange(1.0, 6.0)
    with pytest.raises(err, match="CSR"):
        mod.schur_prepare(bad(indptr, indices, data), (3, 3))


def test_csr_scatter_places_the_block(data):
    C, f, g, _, _ = data
    n, m = C.shape
    csr = ref.sparse_plan(ref.prepare_cost(C), f, g, 0.05, 1e-2, 6)
    rows, cols = np.arange(n) * 2, np.arange(m) + 3
    for mod in (ref, numba_ot):
        full = mod.csr_scatter(mod.csr_matrix(csr, (n, m)), rows, cols, (2 * n, m + 3)).toarray()
        np.testing.assert_array_equal(full[np.ix_(rows, cols)], ref.csr_matrix(csr, (n, m)).toarray())
        assert full.sum() == pytest.approx(csr[2].sum(), rel=1e-14)


@pytest.mark.parametrize("shape", [(700, 400), (601, 503), (5, 50_000), (3, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaling_rmatvec_against_float64_product(shape, dtype):
    """``K^T u`` with float64 accumulation (row blocks in parallel above ``KERNEL_PARALLEL_SIZE``
    entries, serially below and when there are fewer than 4 rows per thread), against NumPy in float64."""
    rng = np.random.default_rng(sum(shape))
    K = rng.random(shape).astype(dtype)
    u = np.exp(rng.standard_normal(shape[0]))
    out = np.full(shape[1], np.nan)
    numba_ot.scaling_rmatvec(K, u, out)
    np.testing.assert_allclose(out, u @ K.astype(np.float64), rtol=1e-13)
    out2 = np.empty(shape[1])
    numba_ot.scaling_rmatvec(K, u, out2)
    np.testing.assert_array_equal(out2, out)          # fixed reduction order: the same bits every call


def _select_by_sort(buf, lo, kmax, target):
    """The definition of the kept entries: the candidates (>= lo) sorted in decreasing order; all of them
    when at most kmax; else the kmax largest unless they sum to less than target, then the fewest largest
    whose sum reaches target (all when none does). Returns (c, k, thr), thr the k-th largest."""
    cand = np.sort(buf[buf >= lo])[::-1]
    c = cand.size
    if c <= kmax:
        return c, c, lo
    acc = np.cumsum(cand)
    if target <= 0.0 or acc[kmax - 1] >= target:
        return c, kmax, float(cand[kmax - 1])
    hit = np.nonzero(acc >= target)[0]
    k = int(hit[0]) + 1 if hit.size else c
    return c, k, float(cand[k - 1]) if hit.size else float(cand.min())


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1e-12, 0.25, 0.5, 1.0, 3.0]) | st.floats(0.0, 10.0) |
                st.floats(1e-300, 1e300), min_size=1, max_size=300),
       st.floats(0.0, 1.2), st.floats(0.0, 1e-3), st.integers(1, 64))
def test_row_selection_matches_the_sorted_definition(values, frac, rho, kmax):
    """The histogram selection of :func:`row_select` (buckets by the float's bits, one bucket sorted) against
    sort + cumulative sum, with heavy ties (sampled values), values across the double range, targets beyond
    the total (then every candidate) and no mass test (target 0)."""
    from solvers._kernels.numba._ot_select import row_select, work

    buf = np.asarray(values, dtype=np.float64)
    lo = rho * buf.max()
    if not (buf >= lo).any() or not np.isfinite(buf.sum()):
        return
    target = frac * buf[buf >= lo].sum()
    cnt, sm, cand, slot = work(buf.size)
    c, k, thr = row_select(buf.copy(), buf.size, lo, kmax, target, cnt, sm, cand, slot)
    c_ref, k_ref, thr_ref = _select_by_sort(buf, lo, kmax, target)
    assert c == c_ref
    srt = np.sort(buf[buf >= lo])[::-1]
    if k_ref == c_ref and c_ref <= kmax:
        assert (k, thr) == (k_ref, thr_ref)
        return
    assert 1 <= k <= c and thr == srt[k - 1]            # thr is the k-th largest candidate
    # partial sums are added in another order than the cumulative sum: only a target within rounding of
    # a partial sum may move the count by one
    near = np.isclose(np.cumsum(srt), target, rtol=1e-12, atol=0.0).any()
    assert (abs(k - k_ref) <= 1) if near else (k == k_ref and thr == thr_ref)


@pytest.mark.parametrize("shape,eps,threads", [((37, 29), 0.1, 1), ((200, 150), 1e-2, 2), ((301, 257), 1e-3, 3),
                                               ((64, 500), 1e-3, 7)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plan_summary_one_pass_matches_the_dense_reference(rng, shape, eps, threads, dtype):
    """The one-pass measurement (row and column log marginals and <P, C> from one read of C, column
    sums merged over row blocks with their shifts) against the reference (scipy logsumexp of the
    dense exponent and the dense plan's cost), for one to seven row blocks and a float32 C."""
    from solvers._kernels.numba import _ot_summary

    n, m = shape
    C = rng.random(shape).astype(dtype)
    f, g = rng.standard_normal(n) * 0.1 * eps, rng.standard_normal(m) * 0.1 * eps
    got = _ot_summary.plan_summary(C, f, g, 1.0 / eps, threads)
    assert got is not None                            # row maxima within the spread: the one-pass form
    lr, lc, cost = ref.plan_summary(ref.prepare_cost(C.astype(np.float64)), f, g, eps)
    # the exponents are O(1/eps): their rounding (u |z|) is the accuracy either way
    tol = 4e-16 * (1.0 + float(np.abs(C).max()) / eps)
    np.testing.assert_allclose(got[0], lr, rtol=0, atol=tol)
    np.testing.assert_allclose(got[1], lc, rtol=0, atol=tol)
    assert got[2] == pytest.approx(cost, rel=tol)
    full = numba_ot.plan_summary(numba_ot.prepare_cost(C), f, g, eps)
    np.testing.assert_allclose(full[1], lc, rtol=0, atol=tol)


def test_plan_summary_falls_back_where_one_pass_would_lose_rows(rng):
    """Row maxima more than SPREAD apart (a column would lose the low rows' contribution), an infinite
    potential, and NaN: the one-pass form declines and the separate passes give the reference."""
    from solvers._kernels.numba import _ot_summary

    C = rng.random((40, 30))
    f = np.zeros(40)
    f[:20] = -1.0                                   # rows 0..19 lie 1000 below the others at eps = 1e-3
    g = np.zeros(30)
    assert _ot_summary.plan_summary(C, f, g, 1e3, 2) is None      # caught when the blocks are merged
    assert _ot_summary.plan_summary(C, f, g, 1e3, 1) is None      # caught within a block
    got = numba_ot.plan_summary(numba_ot.prepare_cost(C), f, g, 1e-3)
    want = ref.plan_summary(ref.prepare_cost(C), f, g, 1e-3)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-13)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
    assert got[2] == pytest.approx(want[2], rel=1e-12)
    f2 = np.zeros(40)
    f2[3] = -np.inf
    assert _ot_summary.plan_summary(C, f2, g, 10.0, 1) is None
    lr = numba_ot.plan_summary(numba_ot.prepare_cost(C), f2, g, 0.1)[0]
    assert lr[3] == -np.inf and np.isfinite(np.delete(lr, 3)).all()


def test_sinkhorn_cost_is_the_measured_plans_cost(rng):
    """The reported cost comes from the measurement pass (no separate cost pass) and equals <P, C>
    of the returned potentials' dense plan."""
    from solvers.ot import sinkhorn

    C = rng.random((120, 90))
    r = sinkhorn(C, eps=0.05, tol=1e-9)
    P = np.exp((r.f[:, None] + r.g[None, :] - C) / 0.05)
    assert r.converged and r.cost == pytest.approx(float((P * C).sum()), rel=1e-12)
    err = np.abs(P.sum(1) - 1 / 120).sum() + np.abs(P.sum(0) - 1 / 90).sum()
    assert err <= 1e-9 and r.marginal_error == pytest.approx(err, rel=1e-3, abs=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_geometry_cost_memo_is_dropped_by_an_in_place_update(rng, backend):
    """Geometry.cost reuses the cost measured with the marginals only for the very same, unchanged
    arrays: an in-place f/g update through the Geometry drops it (checked against the dense plan)."""
    import solvers
    from solvers.ot._common import Geometry

    C = rng.random((50, 40))
    eps = 0.1
    geom = Geometry(C, solvers.get_backend(backend))
    f, g = rng.normal(size=50) * 0.01, np.zeros(40)
    a, b = np.full(50, 1 / 50), np.full(40, 1 / 40)

    def dense_cost(f, g):
        return float((np.exp((f[:, None] + g[None, :] - C) / eps) * C).sum())

    geom.marginal_error(f, g, eps, a, b)
    assert geom.cost(f, g, eps) == pytest.approx(dense_cost(f, g), rel=1e-12)
    geom.marginal_error(f, g, eps, a, b)
    geom.g_update(f, np.log(b), eps, out=g)          # g changes in place: the memo must not answer
    assert geom.cost(f, g, eps) == pytest.approx(dense_cost(f, g), rel=1e-12)
    geom.marginal_error(f, g, eps, a, b)
    geom.f_update(g, np.log(a), eps, out=f)
    assert geom.cost(f, g, eps) == pytest.approx(dense_cost(f, g), rel=1e-12)


@pytest.mark.parametrize("size", [(30, 20), (600, 500)], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scaling_step_matches_the_reference_and_reports_range(rng, size, dtype):
    """One fused scaling iteration (Numba: one compiled call below KERNEL_PARALLEL_SIZE entries, the
    parallel products above) against the reference and against plain NumPy algebra; codes 1 and 2
    when u_new or v_new leaves the window; u and v are never written."""
    n, m = size
    K = rng.uniform(0.1, 1.0, size).astype(dtype)
    u, v = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, m)
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    u0, v0 = u.copy(), v.copy()
    K64 = K.astype(np.float64)
    want_err = np.abs(a - u * (K64 @ v)).sum()
    want_u = a / (K64 @ v)
    want_v = b / (K64.T @ want_u)
    for mod in (ref, numba_ot):
        Kv, KTu, un, vn = np.empty(n), np.empty(m), np.empty(n), np.empty(m)
        err, code = mod.scaling_step(K, u, v, a, b, Kv, KTu, un, vn, 1e-9, 1e9)
        assert code == 0 and err == pytest.approx(want_err, rel=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(un, want_u, rtol=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(vn, want_v, rtol=1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_array_equal(u, u0)
        np.testing.assert_array_equal(v, v0)
        lo_u = float(want_u.max()) * 1.01        # every u_new below the window: code 1
        assert mod.scaling_step(K, u, v, a, b, Kv, KTu, un, vn, lo_u, 1e9)[1] == 1
        hi = float(want_u.max()) * 1.01          # u_new inside, v_new (about 1e-3 .. 1e-1 larger) above
        if float(want_v.max()) > hi:
            assert mod.scaling_step(K, u, v, a, b, Kv, KTu, un, vn, 1e-12, hi)[1] == 2
        vnan = v.copy()
        vnan[0] = np.nan
        assert mod.scaling_step(K, u, vnan, a, b, Kv, KTu, un, vn, 1e-9, 1e9)[1] == 1
    with pytest.raises(ValueError, match="v_new"):
        numba_ot.scaling_step(K, u, v, a, b, np.empty(n), np.empty(m), np.empty(n), np.empty(m + 1), 1e-9, 1e9)


def test_col_min_matches_reference_and_numpy(rng):
    """The column minima of C - f (a first kernel's reference potentials) on every CPU set, for a
    float32 C and for row blocks, against plain NumPy."""
    for shape in ((7, 5), (700, 400)):
        C = rng.random(shape)
        f = rng.standard_normal(shape[0])
        want = (C - f[:, None]).min(axis=0)
        for mod in (ref, numba_ot):
            np.testing.assert_array_equal(mod.col_min(mod.prepare_cost(C), f), want)
        C32 = C.astype(np.float32)
        np.testing.assert_array_equal(numba_ot.col_min(numba_ot.prepare_cost(C32), f),
                                      (C32.astype(np.float64) - f[:, None]).min(axis=0))
    with pytest.raises(ValueError, match="f"):
        numba_ot.col_min(numba_ot.prepare_cost(rng.random((4, 3))), np.zeros(5))


def test_scaling_step_zero_products_are_out_of_range_not_errors():
    """A zero entry of K v (a zero row of K) or of K^T u (a zero column) makes that scaling inf: out
    of range (code 1 or 2, the caller absorbs), as in the reference -- never a ZeroDivisionError from
    the compiled kernel."""
    u, v, a, b = np.ones(2), np.ones(2), np.full(2, 0.5), np.full(2, 0.5)
    for mod in (ref, numba_ot):
        Kc = np.array([[1.0, 0.0], [1.0, 0.0]])           # column 1 is zero: v_new[1] = inf
        assert mod.scaling_step(Kc, u, v, a, b, *(np.empty(2) for _ in range(4)), 1e-30, 1e30)[1] == 2
        Kr = np.array([[1.0, 1.0], [0.0, 0.0]])           # row 1 is zero: u_new[1] = inf
        assert mod.scaling_step(Kr, u, v, a, b, *(np.empty(2) for _ in range(4)), 1e-30, 1e30)[1] == 1


def test_plan_summary_declines_rising_row_maxima_in_one_block(rng):
    """Row maxima rising in steps below SPREAD but spanning more than it within one block (-700, -200,
    0): the one-pass form declines (the lowest row's column terms would lose their digits)."""
    from solvers._kernels.numba import _ot_summary

    C = np.zeros((3, 4))
    f = np.array([-700.0, -200.0, 0.0])
    assert _ot_summary.plan_summary(C, f, np.zeros(4), 1.0, 1) is None
    got = numba_ot.plan_summary(numba_ot.prepare_cost(C), f, np.zeros(4), 1.0)
    want = ref.plan_summary(ref.prepare_cost(C), f, np.zeros(4), 1.0)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-14, atol=1e-15)   # log(1 + e^-200): 0 or 1.4e-87
