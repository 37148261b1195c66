"""StencilOperator: dot test, agreement with its CSR form and a hand-built Laplacian, numba vs numpy."""
import numpy as np
import pytest
import scipy.sparse as sp

from solvers.operators import StencilOperator, dot_test


def _faces(rng, shape):
    d = len(shape)
    return tuple(rng.uniform(0.5, 2.0, size=tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
                 for a in range(d))


def _laplacian_1d(n, h):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h ** 2


@pytest.mark.parametrize("shape", [(6, 5), (4, 5, 3), (1, 7), (9, 1, 4)])
def test_constant_matches_kron_laplacian(shape, cpu_backend, rng):
    h = [0.1, 0.25, 0.2][:len(shape)]
    A = StencilOperator(shape, h, k=2.0, backend=cpu_backend)
    ref = None
    for a, (n, ha) in enumerate(zip(shape, h)):
        mats = [sp.identity(m) for m in shape]
        mats[a] = _laplacian_1d(n, ha)
        term = mats[0]
        for m in mats[1:]:
            term = sp.kron(term, m)
        ref = term if ref is None else ref + term
    ref = 2.0 * ref.toarray()
    np.testing.assert_allclose(A.to_csr().toarray(), ref, rtol=1e-13, atol=1e-10)
    x = rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(A.matvec(x), ref @ x, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(A.diagonal(), np.diag(ref), rtol=1e-14)
    assert A.const and A.symmetric and A.positive_definite


@pytest.mark.parametrize("shape", [(7, 6), (5, 4, 6), (3, 1, 5)])
def test_variable_dot_test_csr_and_fused(shape, cpu_backend, rng):
    d = len(shape)
    A = StencilOperator(shape, [0.3, 0.2, 0.1][:d], k=_faces(rng, shape), shift=rng.uniform(0, 1, shape),
                        backend=cpu_backend)
    dot_test(A, rng=rng, rtol=1e-12)
    C = A.to_csr()
    assert abs(C - C.T).max() == 0.0
    assert np.linalg.eigvalsh(C.toarray()).min() > 0
    x = rng.standard_normal(A.shape[0])
    out = np.empty_like(x)
    xax = A.matvec_dot(x, out)
    np.testing.assert_allclose(out, C @ x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(xax, x @ (C @ x), rtol=1e-11)
    out2 = np.empty_like(x)
    assert A.matvec_into(x, out2) is out2
    np.testing.assert_allclose(out2, C @ x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(A.diagonal(), C.diagonal(), rtol=1e-14)
    # residual kernel
    u, f = rng.standard_normal(shape), rng.standard_normal(shape)
    r = np.empty(shape)
    rr = A.residual_into(u, f, r)
    np.testing.assert_allclose(r.ravel(), f.ravel() - C @ u.ravel(), rtol=1e-11, atol=1e-10)
    np.testing.assert_allclose(rr, np.sum(r * r), rtol=1e-11)


@pytest.mark.parametrize("var", [False, True])
@pytest.mark.parametrize("shape", [(8, 7), (5, 6, 4)])
def test_numba_matches_numpy_and_gauss_seidel(shape, var, rng):
    d = len(shape)
    k = _faces(rng, shape) if var else 1.5
    ops = {be: StencilOperator(shape, [0.2, 0.1, 0.3][:d], k=k, backend=be) for be in ("numpy", "numba")}
    x = rng.standard_normal(ops["numpy"].shape[0])
    np.testing.assert_allclose(ops["numba"].matvec(x), ops["numpy"].matvec(x), rtol=1e-13, atol=1e-10)
    u0, f = rng.standard_normal(shape), rng.standard_normal(shape)
    C = ops["numpy"].to_csr().toarray()
    dg = np.diag(C)
    par = np.indices(shape).sum(axis=0).ravel() % 2
    for color in (0, 1):
        got = {}
        for be, A in ops.items():
            u = u0.copy()
            A.smooth_rb(u, f, color)
            got[be] = u
        np.testing.assert_allclose(got["numba"], got["numpy"], rtol=1e-13, atol=1e-13)
        # reference: exact solve of the colour's equations with the other colour frozen
        ref = u0.ravel().copy()
        off = C - np.diag(dg)
        upd = (f.ravel() - off @ u0.ravel()) / dg
        ref[par == color] = upd[par == color]
        np.testing.assert_allclose(got["numpy"].ravel(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("var", [False, True])
@pytest.mark.parametrize("shape", [(7, 6), (33, 40), (5, 4, 6), (3, 1, 5), (1, 9), (12, 9, 17)])
def test_residual_norm_sq_matches_the_assembled_matrix(shape, var, cpu_backend, rng):
    """``residual_norm_sq`` (the norm CG's convergence claim measures, the residual not stored) against
    ``||f - C u||^2`` with SciPy's CSR matrix of the operator, constant and variable coefficients; nothing written."""
    d = len(shape)
    k = _faces(rng, shape) if var else 1.0
    A = StencilOperator(shape, [0.3, 0.2, 0.1][:d], k=k, shift=0.5, backend=cpu_backend)
    C = A.to_csr()
    for scale in (1.0, 1e-140, 1e140):             # (squares within range: the sum is a squared norm)
        u, f = scale * rng.standard_normal(shape), scale * rng.standard_normal(shape)
        u0, f0 = u.copy(), f.copy()
        ref = np.sum((f.ravel() - C @ u.ravel()) ** 2)
        np.testing.assert_allclose(A.residual_norm_sq(u, f, np.empty(shape)), ref, rtol=1e-12)
        np.testing.assert_array_equal(u, u0)
        np.testing.assert_array_equal(f, f0)
    with pytest.raises(ValueError, match="residual_norm_sq: u has shape"):
        A.residual_norm_sq(np.zeros(A.shape[0] + 1), f, np.empty(shape))


def test_positive_definite_flag_follows_shift():
    shape, h = (9, 9), 0.1
    from solvers.operators.stencil import laplacian_lambda_min

    lmin = laplacian_lambda_min(shape, (h, h))
    C = StencilOperator(shape, h).to_csr().toarray()
    np.testing.assert_allclose(np.linalg.eigvalsh(C).min(), lmin, rtol=1e-12)
    assert StencilOperator(shape, h, shift=-0.9 * lmin).positive_definite
    assert not StencilOperator(shape, h, shift=-1.1 * lmin).positive_definite


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(shape=(4,), h=0.1), ValueError, "shape"),
    (dict(shape=(4, 0), h=0.1), ValueError, "shape"),
    (dict(shape=8, h=0.1), TypeError, "shape"),
    (dict(shape=(4, 4), h=-0.1), ValueError, "h"),
    (dict(shape=(4, 4), h=0.1, k=-1.0), ValueError, "k"),
    (dict(shape=(4, 4), h=0.1, k=(np.ones((5, 4)), np.ones((4, 4)))), ValueError, "k[1]"),
    (dict(shape=(4, 4), h=0.1, k=(np.ones((5, 4)), np.zeros((4, 5)))), ValueError, "k"),
    (dict(shape=(4, 4), h=0.1, shift=np.ones(3)), ValueError, "shift"),
])
def test_bad_inputs(kwargs, exc, word):
    with pytest.raises(exc, match=word.replace("[", r"\[").replace("]", r"\]")):
        StencilOperator(**kwargs)


@pytest.mark.gpu
@pytest.mark.parametrize("var", [False, True])
def test_cupy_matches_numpy(var, rng):
    import cupy as cp

    for shape in [(9, 7), (5, 6, 4)]:
        k = _faces(rng, shape) if var else 1.5
        h = [0.2, 0.1, 0.3][:len(shape)]
        A_np = StencilOperator(shape, h, k=k, backend="numpy")
        A_cp = StencilOperator(shape, h, k=k, backend="cupy")
        x = rng.standard_normal(A_np.shape[0])
        np.testing.assert_allclose(cp.asnumpy(A_cp.matvec(cp.asarray(x))), A_np.matvec(x), rtol=1e-12, atol=1e-10)
        u, f = rng.standard_normal(shape), rng.standard_normal(shape)
        for color in (0, 1):
            ug = cp.asarray(u)
            A_cp.smooth_rb(ug, cp.asarray(f), color)
            un = u.copy()
            A_np.smooth_rb(un, f, color)
            np.testing.assert_allclose(cp.asnumpy(ug), un, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("var", [False, True])
@pytest.mark.parametrize("shape", [(17, 9), (12, 5, 6), (3, 4, 5)])
def test_fused_pair_sweep_equals_two_half_sweeps(shape, var, rng):
    import numba

    d = len(shape)
    k = _faces(rng, shape) if var else 1.5
    A = StencilOperator(shape, [0.2, 0.1, 0.3][:d], k=k, backend="numba")
    R = StencilOperator(shape, [0.2, 0.1, 0.3][:d], k=k, backend="numpy")
    u0, f = rng.standard_normal(shape), rng.standard_normal(shape)
    for first in (0, 1):
        for zero in (False, True):
            ref = u0.copy()
            (R.smooth_rb_first if zero else R.smooth_rb)(ref, f, first)
            R.smooth_rb(ref, f, 1 - first)
            for nthreads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
                u = u0.copy()
                old = numba.get_num_threads()
                numba.set_num_threads(nthreads)
                try:
                    A.smooth_rb_pair(u, f, first, zero=zero)
                finally:
                    numba.set_num_threads(old)
                np.testing.assert_allclose(u, ref, rtol=1e-13, atol=1e-13)
            from solvers._kernels.numba import stencil as ks

            for nchunks in (1, 2, 3, max(1, shape[0] // 2)):      # chunking must not change the result
                u = u0.copy()
                fn = getattr(ks, f"sweep{d}{'c' if A.const else 'v'}")
                fn(u, f, *A._coef(), first, zero, nchunks)
                np.testing.assert_allclose(u, ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("h, k", [(1e-5, 1e300), (1e10, 1e-300), (1e-160, 1.0), (1e200, 1.0)])
def test_weights_that_over_or_underflow_are_refused(h, k, rng):
    """``k / h^2`` must be a finite, normal double: an infinite or subnormal weight would silently change the
    operator (inf - inf = NaN in the products, or a singular matrix)."""
    with pytest.raises(ValueError, match=r"k / h\^2 over- or underflows.*rescale"):
        StencilOperator((4, 5), h, k=k, backend="numpy")
    faces = tuple(k * f for f in _faces(rng, (4, 5)))
    with pytest.raises(ValueError, match=r"k / h\^2 over- or underflows"):
        StencilOperator((4, 5), h, k=faces, backend="numpy")


def test_extreme_but_representable_scales_are_accepted(rng):
    for h, k in ((0.1, 1e-300), (1e-140, 1e-20), (1e100, 1e250)):
        A = StencilOperator((4, 5), h, k=k, backend="numpy")
        x = rng.standard_normal(20)
        np.testing.assert_allclose(A.matvec(x), A.to_csr() @ x, rtol=1e-13)
