"""The Numba kernel sets against the NumPy reference, step by step, through the shared names.

Each family (``krylov``, ``sparse``, ``stencil``, ``multigrid``) is called the
way the algorithms call it (``backend.kernels(family).<name>``), on the same
inputs, for both backends; the results must agree to rounding.
"""
import numpy as np
import pytest
import scipy.sparse as sp

from solvers.backends import get_backend

NP, NB = get_backend("numpy"), get_backend("numba")


@pytest.mark.parametrize("n", [17, 60_000])            # serial and parallel Numba kernels
def test_krylov_steps(rng, n):
    R, K = NP.kernels("krylov").select(n), NB.kernels("krylov").select(n)
    v = lambda: rng.standard_normal(n)  # noqa: E731
    p, q, d, z0, b = v(), v(), rng.uniform(0.5, 2.0, n), v(), v()
    assert K.dot(p, q) == pytest.approx(R.dot(p, q), rel=1e-12)
    x1, r1, z1 = v(), v(), z0
    x2, r2, z2 = x1.copy(), r1.copy(), z1.copy()
    close = lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-14)  # noqa: E731  (FMA contraction)
    assert K.cg_update_xr(x1, r1, p, q, 0.3) == pytest.approx(R.cg_update_xr(x2, r2, p, q, 0.3), rel=1e-12)
    close(x1, x2)
    got = K.cg_update_xrz(x1, r1, z1, p, q, d, -0.2)
    ref = R.cg_update_xrz(x2, r2, z2, p, q, d, -0.2)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    close(z1, z2)
    p1, p2 = p.copy(), p.copy()
    K.xpby(z1, 0.7, p1)
    R.xpby(z2, 0.7, p2)
    close(p1, p2)
    assert K.diag_apply(d, r1, z1) == pytest.approx(R.diag_apply(d, r2, z2), rel=1e-12)
    assert K.residual(b, q, r1) == pytest.approx(R.residual(b, q, r2), rel=1e-12)
    e1, s1, ad = v(), v(), v()
    e2, s2 = e1.copy(), s1.copy()
    K.cheb_step(z1, s1, e1, ad, 0.4, 1.1)
    R.cheb_step(z2, s2, e2, ad, 0.4, 1.1)
    for a, c in ((z1, z2), (s1, s2), (e1, e2)):
        close(a, c)
    # MINRES's direction and iterate update, against the formula written out here
    vv, w1, w2, xx = v(), v(), v(), v()
    want_w = (vv - 0.3 * w1 - (-1.7) * w2) * (1.0 / 2.5)
    want_x = xx + 0.9 * want_w
    for S in (K, R):
        a, c = w1.copy(), xx.copy()
        S.minres_update(vv, a, w2, c, 0.3, -1.7, 1.0 / 2.5, 0.9)
        close(a, want_w)
        close(c, want_x)
    with pytest.raises(ValueError):
        K.minres_update(vv, w1, w2[:-1], xx, 0.3, -1.7, 0.4, 0.9)
    assert K.as_vector(np.arange(4)).dtype == np.float64
    assert K.as_vector(np.ones((3, 2))[:, 0]).flags.c_contiguous


@pytest.mark.parametrize("n, k", [(17, 0), (17, 5), (60_000, 1), (60_000, 9), (70_001, 31)])
@pytest.mark.parametrize("backend", [NP, NB])
def test_rows_kernels_against_dense_products(rng, n, k, backend):
    """GMRES's Arnoldi products ``h = V[:k] w`` and ``w -= V[:k]^T h`` (compiled four rows at a time on Numba,
    a remainder of 0-3 rows, chunked in parallel from 50 000 points) against exactly rounded sums
    (``math.fsum``), on rows of mixed scale; a basis that does not match is refused."""
    import math

    K = backend.kernels("krylov").select(n)
    V = rng.standard_normal((k + 2, n)) * np.logspace(-3, 3, k + 2)[:, None]
    w, h = rng.standard_normal(n), np.full(k + 2, np.nan)
    K.rows_dot(V, k, w, h)
    want = np.array([math.fsum(V[r] * w) for r in range(k)])
    scale = np.abs(V[:k]) @ np.abs(w)
    assert np.all(np.abs(h[:k] - want) <= 1e-13 * scale)
    assert np.isnan(h[k:]).all()                              # only the first k entries are written
    w0 = w.copy()
    K.rows_sub(V, k, h, w)
    want = np.array([math.fsum([w0[i]] + list(-V[:k, i] * h[:k])) for i in range(0, n, max(1, n // 50))])
    idx = np.arange(0, n, max(1, n // 50))
    err = np.abs(w[idx] - want)
    assert np.all(err <= 1e-13 * (np.abs(w0[idx]) + np.abs(V[:k, idx]).T @ np.abs(h[:k])))
    with pytest.raises(ValueError):
        K.rows_dot(V, k, w[:-1], h)
    with pytest.raises(ValueError):
        K.rows_sub(V, k + 3, h, w)


@pytest.mark.parametrize("n", [17, 60_000])
@pytest.mark.parametrize("backend", [NP, NB])
def test_deferred_cg_updates(rng, n, backend):
    """CG's split update (``r -= a q``; later ``x += a p, p = z + b p`` from the old ``p``; ``axpy``) against
    the element-wise formulas, and with a length mismatch refused before anything is written."""
    K = backend.kernels("krylov").select(n)
    x, r, p, q, z = (rng.standard_normal(n) for _ in range(5))
    r_ref = r - 0.3 * q
    assert K.cg_update_r(r, q, 0.3) == pytest.approx(float(r_ref @ r_ref), rel=1e-12)
    np.testing.assert_allclose(r, r_ref, rtol=1e-13, atol=1e-15)
    x_ref, p_ref = x + 0.3 * p, z + 0.7 * p
    K.cg_update_xp(x, p, z, 0.3, 0.7)
    np.testing.assert_allclose(x, x_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(p, p_ref, rtol=1e-13, atol=1e-15)
    K.axpy(-2.0, p, x)
    np.testing.assert_allclose(x, x_ref - 2.0 * p_ref, rtol=1e-13, atol=1e-14)
    short = np.zeros(n - 1)
    keep = x.copy()
    for call in (lambda: K.cg_update_r(short, q, 1.0), lambda: K.cg_update_xp(x, short, z, 1.0, 1.0),
                 lambda: K.axpy(1.0, short, x)):
        with pytest.raises(ValueError, match="length"):
            call()
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("n", [17, 60_000])
@pytest.mark.parametrize("backend", [NP, NB])
def test_first_cg_updates(rng, n, backend):
    """CG's first updates from ``x = 0`` (``r = b - a q`` with ``b`` read, ``x = a p, p = z + b p``) against the
    element-wise formulas: the old contents of ``r`` and ``x`` (NaN here) are never read, ``b`` is untouched,
    and a length mismatch is refused before anything is written."""
    K = backend.kernels("krylov").select(n)
    b, p, q, z = (rng.standard_normal(n) for _ in range(4))
    r, x = np.full(n, np.nan), np.full(n, np.nan)
    b_keep = b.copy()
    r_ref = b - 0.3 * q
    assert K.cg_first_r(b, q, 0.3, r) == pytest.approx(float(r_ref @ r_ref), rel=1e-12)
    np.testing.assert_allclose(r, r_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(b, b_keep)
    x_ref, p_ref = 0.3 * p, z + 0.7 * p
    K.cg_first_xp(x, p, z, 0.3, 0.7)
    np.testing.assert_allclose(x, x_ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(p, p_ref, rtol=1e-13, atol=1e-15)
    short = np.zeros(n - 1)
    keep = x.copy()
    for call in (lambda: K.cg_first_r(short, q, 1.0, r), lambda: K.cg_first_r(b, q, 1.0, short),
                 lambda: K.cg_first_xp(x, short, z, 1.0, 1.0)):
        with pytest.raises(ValueError, match="length"):
            call()
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("n", [0, 1, 17, 60_000, 1_000_003])
@pytest.mark.parametrize("backend", [NP, NB])
def test_absmax_against_numpy(rng, n, backend):
    """``absmax`` (b's scale, one pass) against ``numpy.abs(a).max()``: exact, with NaN anywhere giving NaN
    and an inf giving inf; 0 for an empty vector."""
    K = backend.kernels("krylov").select(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300)
    ref = float(np.abs(a).max()) if n else 0.0
    assert K.absmax(a) == ref
    if n:
        for bad, want in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "inf")):
            c = a.copy()
            c[rng.integers(n)] = bad
            got = K.absmax(c)
            assert (np.isnan(got) if want == "nan" else got == np.inf), (bad, got)
        c = a.copy()
        c[0], c[-1] = -np.inf, np.nan                  # NaN wins over inf, wherever it sits
        assert np.isnan(K.absmax(c))
        c = np.full(n, -0.0)                           # signed zeros and subnormals order by magnitude too
        assert K.absmax(c) == 0.0
        c[-1], c[0] = -1e-310, 5e-324
        assert K.absmax(c) == (1e-310 if n > 1 else 5e-324)


@pytest.mark.parametrize("n", [0, 1, 17, 60_000, 1_000_003])
@pytest.mark.parametrize("backend", [NP, NB])
def test_absmax_sq_against_numpy(rng, n, backend):
    """``absmax_sq`` (the right-hand side's scan: ``max |b|`` and ``b . b`` in one pass) against NumPy: the max
    exact, NaN / inf as ``absmax`` gives them, the sum of squares to rounding (another summation order)."""
    K = backend.kernels("krylov").select(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-100, 100)
    m, s = K.absmax_sq(a)
    assert m == (float(np.abs(a).max()) if n else 0.0)
    assert s == pytest.approx(float(np.dot(a, a)), rel=1e-12, abs=0.0)
    if n:
        c = a.copy()
        c[rng.integers(n)] = np.nan
        assert np.isnan(K.absmax_sq(c)[0])
        c[:] = a
        c[-1] = -np.inf
        assert K.absmax_sq(c)[0] == np.inf


def test_cg_norm_of_b_from_the_scan_matches_numpy():
    # ||b|| comes from the validation's scan when b is not rescaled, from a pass over the scaled copy otherwise:
    # the first history entry (zero start) is ||b|| either way, against numpy.linalg.norm
    import solvers
    from solvers.operators import StencilOperator

    A = StencilOperator((20, 21), 1 / 22, backend="numba")
    g = np.random.default_rng(2).standard_normal(A.shape[0])
    for scale in (1.0, 2.0 ** -660, 2.0 ** 660):                # exact scalings (NumPy's norm overflows there)
        res = solvers.cg(A, scale * g, rtol=1e-6, backend="numba")
        assert res.history["residual"][0] == pytest.approx(scale * np.linalg.norm(g), rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_sparse_steps(rng, dtype):
    A = sp.random(300, 300, density=0.05, random_state=3, format="coo") * 10
    A = A.astype(dtype)
    Rk, Kk = NP.kernels("sparse"), NB.kernels("sparse")
    Ar, Ak = Rk.csr(A), Kk.csr(A)
    x = rng.standard_normal(300)
    ref = A.tocsr() @ x
    np.testing.assert_allclose(Rk.matvec(Ar, x), ref, rtol=1e-12)
    np.testing.assert_allclose(Kk.matvec(Ak, x), ref, rtol=1e-12)
    o1, o2 = np.empty(300), np.empty(300)
    assert Kk.matvec_dot(Ak, x, o1) == pytest.approx(Rk.matvec_dot(Ar, x, o2), rel=1e-12)
    np.testing.assert_allclose(o1, o2, rtol=1e-12)
    np.testing.assert_allclose(Kk.matvec_into(Ak, x, o1), ref, rtol=1e-12)


def _stencil(shape, variable, rng, backend, shift=None):
    from solvers.operators.stencil import StencilOperator

    k = 1.0
    if variable:
        k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
             for a in range(len(shape))]
    return StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), k=k, shift=shift, backend=backend)


CASES = [((9, 7), False, None), ((8, 11), True, None), ((6, 5, 7), False, 2.0), ((7, 6, 5), True, None),
         ((15, 13, 9), False, None)]


@pytest.mark.parametrize("shape, variable, shift", CASES)
def test_stencil_and_multigrid_steps(rng, shape, variable, shift):
    from solvers.linear.multigrid import MultigridPreconditioner

    seed = int(rng.integers(1 << 30))
    ops = {be: _stencil(shape, variable, np.random.default_rng(seed), be, shift) for be in ("numpy", "numba")}
    S = {be: get_backend(be).kernels("stencil") for be in ops}
    u, f = rng.standard_normal(shape), rng.standard_normal(shape)
    outs = {}
    for be, op in ops.items():
        o, r = np.empty(shape), np.empty(shape)
        outs[be] = (S[be].apply_dot(op, u, o), o, S[be].residual(op, u, f, r), r)
    assert outs["numba"][0] == pytest.approx(outs["numpy"][0], rel=1e-11)
    assert outs["numba"][2] == pytest.approx(outs["numpy"][2], rel=1e-11)
    np.testing.assert_allclose(outs["numba"][1], outs["numpy"][1], rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(outs["numba"][3], outs["numpy"][3], rtol=1e-12, atol=1e-10)
    for color in (0, 1):
        got = {}
        for be, op in ops.items():
            a, c = u.copy(), u.copy()
            S[be].rbgs(op, a, f, color)
            S[be].rb_first(op, c, f, color)
            got[be] = (a, c)
        for i in range(2):
            np.testing.assert_allclose(got["numba"][i], got["numpy"][i], rtol=1e-12, atol=1e-12)
        for zero in (False, True):
            pair = {}
            for be, op in ops.items():
                a = u.copy()
                S[be].sweep_pair(op, a, f, color, zero)
                pair[be] = a
            np.testing.assert_allclose(pair["numba"], pair["numpy"], rtol=1e-12, atol=1e-12)
    # multigrid transfers and the fused residual + restriction
    mgs = {be: MultigridPreconditioner(op, max_coarse=1) for be, op in ops.items()}
    M = {be: get_backend(be).kernels("multigrid") for be in ops}
    for l in range(len(mgs["numpy"].levels) - 1):
        levs = {be: mg.levels[l] for be, mg in mgs.items()}
        fine, coarse = levs["numpy"].shape, mgs["numpy"].levels[l + 1].shape
        uf, ff, e = rng.standard_normal(fine), rng.standard_normal(fine), rng.standard_normal(coarse)
        res = {}
        for be, lev in levs.items():
            K = M[be]
            work = np.empty(fine) if K.needs_residual_buffer(lev.A) else None
            rr, ro = np.empty(coarse), np.empty(coarse)
            K.residual_restrict(lev.A, uf, ff, rr, lev.R, work)
            K.restrict(uf, ro, lev.R)
            up = uf.copy()
            K.prolong_add(e, up, lev.P, K.prolong_work(fine, coarse))
            # add=False writes P e without reading u (the FMG start hands it unwritten memory: NaN here)
            pe = np.full(fine, np.nan)
            K.prolong_add(e, pe, lev.P, K.prolong_work(fine, coarse), add=False)
            res[be] = (rr, ro, up, pe)
        for i in range(4):
            np.testing.assert_allclose(res["numba"][i], res["numpy"][i], rtol=1e-11, atol=1e-10)
        for be in res:
            assert np.all(np.isfinite(res[be][3]))
            np.testing.assert_allclose(res[be][3], res[be][2] - uf, rtol=1e-12, atol=1e-12)
    x = rng.standard_normal(ops["numpy"].shape[0])
    np.testing.assert_allclose(mgs["numba"].matvec(x), mgs["numpy"].matvec(x), rtol=1e-10, atol=1e-12)
