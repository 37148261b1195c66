"""Seeded sketches: dot test, explicit matrix against NumPy formulas, seeding, E[S^T S] = I, errors."""
import numpy as np
import pytest

from solvers.operators import (CountSketch, GaussianSketch, RowSamplingSketch, count_sketch, dot_test,
                               gaussian_sketch, row_sampling)

P8 = np.array([0.05, 0.1, 0.2, 0.05, 0.15, 0.25, 0.1, 0.1])


def _dense(op):
    be = op.backend
    return np.column_stack([be.to_numpy(op.matvec(be.asarray(e))) for e in np.eye(op.shape[1])])


def _dense_T(op):
    be = op.backend
    return np.column_stack([be.to_numpy(op.rmatvec(be.asarray(e))) for e in np.eye(op.shape[0])]).T


def _reference(op):
    """The explicit matrix from the documented construction (NumPy loops and formulas, no operator code)."""
    s, m = op.shape
    if isinstance(op, GaussianSketch):
        return np.random.default_rng(op.seed).standard_normal((s, m)) / np.sqrt(s)
    D = np.zeros((s, m))
    if isinstance(op, CountSketch):
        rows, signs = np.asarray(op.rows), np.asarray(op.signs)
        for j in range(m):
            D[rows[j], j] = signs[j]
        return D
    rows = np.asarray(op.rows)
    p = np.full(m, 1.0 / m) if op.probabilities is None else op.probabilities
    for i in range(s):
        D[i, rows[i]] = 1.0 / np.sqrt(s * p[rows[i]])
    return D


def _all(s, m, seed, backend):
    return [gaussian_sketch(s, m, seed=seed, backend=backend),
            count_sketch(s, m, seed=seed, backend=backend),
            row_sampling(s, m, seed=seed, backend=backend),
            row_sampling(s, m, seed=seed, probabilities=np.full(m, 1.0 / m) if m != 8 else P8, backend=backend)]


@pytest.mark.parametrize("s,m", [(4, 8), (3, 17), (9, 5), (1, 1)])
def test_dot_test_and_dense_reference(s, m, cpu_backend, rng):
    for S in _all(s, m, 7, cpu_backend):
        assert S.shape == (s, m) and S.seed == 7 and S.backend.name == cpu_backend
        dot_test(S)
        D = _dense(S)
        ref = _reference(S)
        np.testing.assert_allclose(D, ref, rtol=1e-14, atol=0, err_msg=repr(S))
        np.testing.assert_allclose(_dense_T(S), ref, rtol=1e-14, atol=0, err_msg=repr(S))
        np.testing.assert_allclose(S.todense(), ref, rtol=1e-14, atol=0, err_msg=repr(S))
        X = rng.standard_normal((m, 3))
        np.testing.assert_allclose(S.matmat(X), ref @ X, rtol=1e-12, atol=1e-14, err_msg=repr(S))
        z = rng.standard_normal(m) + 1j * rng.standard_normal(m)
        w = rng.standard_normal(s) + 1j * rng.standard_normal(s)
        np.testing.assert_allclose(S.matvec(z), ref @ z, rtol=1e-12, atol=1e-14, err_msg=repr(S))
        np.testing.assert_allclose(S.rmatvec(w), ref.T @ w, rtol=1e-12, atol=1e-14, err_msg=repr(S))


def test_structure():
    C = _dense(count_sketch(5, 40, seed=3, backend="numpy"))
    assert ((C != 0).sum(axis=0) == 1).all()                  # one entry per column
    assert set(np.unique(C[C != 0])) <= {-1.0, 1.0}
    R = row_sampling(6, 40, seed=3, backend="numpy")
    DR = _dense(R)
    assert ((DR != 0).sum(axis=1) == 1).all()                 # one entry per row
    np.testing.assert_allclose(DR[DR != 0], np.sqrt(40 / 6))  # uniform: 1/sqrt(s/m)
    # zero-probability rows are never sampled
    p = np.zeros(40)
    p[[2, 5]] = 0.5
    Z = row_sampling(30, 40, seed=1, probabilities=p, backend="numpy")
    assert set(np.asarray(Z.rows)) <= {2, 5}


def test_seeding():
    for make in (gaussian_sketch, count_sketch, row_sampling):
        a, b, c = (make(5, 30, seed=s, backend="numpy") for s in (11, 11, 12))
        np.testing.assert_array_equal(_dense(a), _dense(b))
        assert not np.array_equal(_dense(a), _dense(c))
        fresh = make(5, 30, backend="numpy")                  # seed=None: drawn and recorded
        assert isinstance(fresh.seed, int) and fresh.seed >= 0
        np.testing.assert_array_equal(_dense(fresh), _dense(make(5, 30, seed=fresh.seed, backend="numpy")))
    # same seed, same matrix on both CPU backends
    for make in (gaussian_sketch, count_sketch, row_sampling):
        np.testing.assert_array_equal(_dense(make(4, 9, seed=2, backend="numpy")),
                                      _dense(make(4, 9, seed=2, backend="numba")))


@pytest.mark.parametrize("kind", ["gaussian", "count", "rows", "rows_p"])
def test_expected_gram_is_identity(kind):
    """Monte-Carlo E[S^T S] over N seeds; tolerance 6 standard errors per entry.

    Per-entry variances of S^T S (s = 4, m = 8): Gaussian diag 2/s, off-diag 1/s;
    CountSketch diag 0 (exactly 1), off-diag 1/s; row sampling diag (1 - p_j)/(s p_j),
    off-diag 0 (exactly 0). The tolerance is 6 * sqrt(max variance / N).
    """
    s, m, N = 4, 8, 4000
    make = {"gaussian": lambda k: gaussian_sketch(s, m, seed=k, backend="numpy"),
            "count": lambda k: count_sketch(s, m, seed=k, backend="numpy"),
            "rows": lambda k: row_sampling(s, m, seed=k, backend="numpy"),
            "rows_p": lambda k: row_sampling(s, m, seed=k, probabilities=P8, backend="numpy")}[kind]
    var = {"gaussian": 2 / s, "count": 1 / s, "rows": (1 - 1 / m) / (s / m),
           "rows_p": float(np.max((1 - P8) / (s * P8)))}[kind]
    acc = np.zeros((m, m))
    for k in range(N):
        D = make(k).todense()
        acc += D.T @ D
    mean = acc / N
    tol = 6 * np.sqrt(var / N)
    err = np.abs(mean - np.eye(m)).max()
    assert err < tol, f"{kind}: max |E[S^T S] - I| = {err:.3f} >= {tol:.3f}"


def test_errors():
    for make in (gaussian_sketch, count_sketch, row_sampling):
        with pytest.raises(ValueError, match="s must be a positive integer"):
            make(0, 5, seed=1)
        with pytest.raises(TypeError, match="m must be a positive integer"):
            make(2, 5.0, seed=1)
        with pytest.raises(TypeError, match="s must be a positive integer"):
            make(True, 5, seed=1)
        with pytest.raises(ValueError, match="seed must be a non-negative integer"):
            make(2, 5, seed=-1)
        with pytest.raises(TypeError, match="seed must be a non-negative integer or None"):
            make(2, 5, seed=np.random.default_rng(0))
        with pytest.raises(TypeError):
            make(2, 5, 1)                                     # seed is keyword-only
    with pytest.raises(ValueError, match="sum to 1"):
        row_sampling(2, 3, seed=1, probabilities=[0.5, 0.2, 0.2])
    with pytest.raises(ValueError, match="non-negative"):
        row_sampling(2, 3, seed=1, probabilities=[1.2, -0.2, 0.0])
    with pytest.raises(ValueError, match=r"shape \(m,\) = \(3,\)"):
        row_sampling(2, 3, seed=1, probabilities=[0.5, 0.5])
    with pytest.raises(ValueError, match="finite"):
        row_sampling(2, 3, seed=1, probabilities=[np.nan, 0.5, 0.5])
    with pytest.raises(TypeError, match="real numbers"):
        row_sampling(2, 2, seed=1, probabilities=["a", "b"])
    S = count_sketch(2, 5, seed=1, backend="numpy")
    with pytest.raises(ValueError, match="matmat"):
        S.matmat(np.ones((4, 2)))
    with pytest.raises(ValueError, match="shape"):
        S.matvec(np.ones(4))


@pytest.mark.gpu
def test_gpu_same_seed_same_matrix(rng):
    import cupy as cp

    for make in (gaussian_sketch, count_sketch, row_sampling):
        S = make(6, 50, seed=5, backend="cupy")
        Sc = make(6, 50, seed=5, backend="numpy")
        dot_test(S)
        assert isinstance(S.matvec(cp.ones(50)), cp.ndarray)
        np.testing.assert_allclose(_dense(S), _dense(Sc), rtol=1e-14)
        np.testing.assert_allclose(_dense_T(S), _dense_T(Sc), rtol=1e-14)
        X = rng.standard_normal((50, 3))
        np.testing.assert_allclose(cp.asnumpy(S.matmat(cp.asarray(X))), Sc.matmat(X), rtol=1e-12, atol=1e-14)
