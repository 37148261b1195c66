"""Geometric multigrid V-cycle: symmetric positive definite, grid-independent MG-CG, numba == numpy."""
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers.linear.multigrid import _interp_1d, multigrid
from solvers.operators import StencilOperator, dot_test


def _op(shape, backend="numba", k=1.0):
    return StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), k=k, backend=backend)


def _dense(M, n):
    return np.column_stack([M.matvec(e) for e in np.eye(n)])


@pytest.mark.parametrize("shape", [(12, 11), (15, 15), (8, 9, 7)])
def test_vcycle_is_spd_and_dot_test(shape, cpu_backend):
    A = _op(shape, cpu_backend)
    M = multigrid(A, max_coarse=20)
    assert len(M.levels) >= 2 and M.symmetric and M.positive_definite
    dot_test(M, rng=3, rtol=1e-12)
    Md = _dense(M, A.shape[0])
    np.testing.assert_allclose(Md, Md.T, atol=1e-12 * np.abs(Md).max())
    assert np.linalg.eigvalsh(0.5 * (Md + Md.T)).min() > 0
    # two-grid/V-cycle error propagation I - M A is a contraction
    E = np.eye(A.shape[0]) - Md @ A.to_csr().toarray()
    assert np.abs(np.linalg.eigvals(E)).max() < 0.6


def test_interpolation_tables():
    # nested (odd n): fine 2J+1 is coarse J, even fine points average two neighbours
    pi, pw = _interp_1d(7, 3)
    P = np.zeros((7, 3))
    for i in range(7):
        for m in range(2):
            P[i, pi[i, m]] += pw[i, m]
    np.testing.assert_allclose(P, [[.5, 0, 0], [1, 0, 0], [.5, .5, 0], [0, 1, 0], [0, .5, .5], [0, 0, 1], [0, 0, .5]])
    # non-nested (even n): P reproduces linear functions that vanish on the boundary... and any linear
    # function away from the boundary cells
    n, nc = 10, 4
    pi, pw = _interp_1d(n, nc)
    x, X = np.arange(1, n + 1) / (n + 1), np.arange(1, nc + 1) / (nc + 1)
    for fun in (lambda t: t, lambda t: 1 - t):
        v = (pw * fun(X)[pi]).sum(axis=1)
        inner = (x >= X[0]) & (x <= X[-1])
        np.testing.assert_allclose(v[inner], fun(x)[inner], rtol=1e-13)
    v = (pw * np.sin(np.pi * X)[pi]).sum(axis=1)
    np.testing.assert_allclose(v, np.sin(np.pi * x), atol=0.1)


def _mgcg_its(A, M, b):
    res = solvers.cg(A, b, M=M, rtol=1e-8, backend=A.backend)
    assert res.converged
    r = b - A.to_csr() @ res.x
    assert np.linalg.norm(r) <= 1.5e-8 * np.linalg.norm(b)
    return res.nit


@pytest.mark.parametrize("sizes", [[31, 63, 127, 255], [32, 64, 128, 256]])
def test_mgcg_iterations_flat_2d(sizes):
    its = []
    for n in sizes:
        A = _op((n, n))
        its.append(_mgcg_its(A, multigrid(A), np.ones(A.shape[0])))
    assert max(its) - min(its) <= 2, its
    assert max(its) <= 12, its


@pytest.mark.parametrize("sizes", [[15, 31, 63], [16, 32, 64], [17, 24, 40]])
def test_mgcg_iterations_flat_3d(sizes):
    its = []
    for n in sizes:
        A = _op((n, n, n))
        its.append(_mgcg_its(A, multigrid(A), np.ones(A.shape[0])))
    assert max(its) - min(its) <= 2, its
    assert max(its) <= 14, its


def test_variable_and_jump_coefficients_converge(rng):
    for shape in [(63, 63), (24, 24, 24)]:
        d = len(shape)
        for kind in ("smooth", "jump"):
            faces = []
            for a in range(d):
                fs = tuple(n + 1 if b == a else n for b, n in enumerate(shape))
                grids = np.meshgrid(*[(np.arange(m) + (0.5 if b == a else 1.0)) / (shape[b] + 1)
                                      for b, m in enumerate(fs)], indexing="ij")
                if kind == "smooth":
                    faces.append(1 + 0.5 * np.sin(2 * np.pi * sum(grids)))
                else:
                    inside = np.all([(g > 0.3) & (g < 0.7) for g in grids], axis=0)
                    faces.append(np.where(inside, 100.0, 1.0))
            A = _op(shape, k=tuple(faces))
            b = rng.standard_normal(A.shape[0])
            its = _mgcg_its(A, multigrid(A), b)
            assert its <= 20, (shape, kind, its)


def test_numba_matches_numpy_vcycle(rng):
    for shape in [(20, 13), (9, 12, 10)]:
        d = len(shape)
        faces = tuple(rng.uniform(0.5, 2, size=tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
                      for a in range(d))
        for k in (1.0, faces):
            r = rng.standard_normal(int(np.prod(shape)))
            outs = [multigrid(_op(shape, be, k=k), max_coarse=10).matvec(r) for be in ("numpy", "numba")]
            np.testing.assert_allclose(outs[1], outs[0], rtol=1e-11, atol=1e-12)


def test_stationary_iteration_and_scipy_cg():
    A = _op((40, 33))
    M = multigrid(A, nu=2)
    b = np.ones(A.shape[0])
    res = M.solve(b, rtol=1e-9, maxiter=40)
    assert res.converged and res.nit <= 15
    x_ref = spla.spsolve(A.to_csr().tocsc(), b)
    np.testing.assert_allclose(res.x, x_ref, rtol=1e-7, atol=1e-9 * np.abs(x_ref).max())
    Ms = spla.LinearOperator(A.shape, matvec=M.matvec)
    x, info = spla.cg(A.to_csr(), b, rtol=1e-10, M=Ms)
    assert info == 0
    np.testing.assert_allclose(x, x_ref, rtol=1e-7)


def test_tiny_grid_is_exact_solve():
    A = _op((3, 4))
    M = multigrid(A)
    assert len(M.levels) == 1
    np.testing.assert_allclose(_dense(M, 12) @ A.to_csr().toarray(), np.eye(12), atol=1e-12)


def test_bad_arguments():
    with pytest.raises(TypeError, match="StencilOperator"):
        multigrid(np.eye(4))
    with pytest.raises(ValueError, match="nu"):
        multigrid(_op((8, 8)), nu=0)
    with pytest.raises(ValueError, match="max_coarse"):
        multigrid(_op((8, 8)), max_coarse=0)


@pytest.mark.gpu
def test_cupy_vcycle_matches_numpy(rng):
    import cupy as cp

    for shape in [(33, 20), (12, 9, 16)]:
        r = rng.standard_normal(int(np.prod(shape)))
        ref = multigrid(_op(shape, "numpy")).matvec(r)
        got = multigrid(_op(shape, "cupy")).matvec(cp.asarray(r))
        np.testing.assert_allclose(cp.asnumpy(got), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(16, 9), (40, 33), (8, 9, 7), (10, 3, 9), (16, 16, 16)])
def test_fused_residual_restriction_equals_residual_then_restriction(shape, rng):
    from solvers._kernels.numba import multigrid as km

    A = StencilOperator(shape, [0.2, 0.1, 0.3][:len(shape)], k=1.3, backend="numba")
    M = multigrid(A, max_coarse=4)
    fused = km.residual_restrict2c if len(shape) == 2 else km.residual_restrict3c
    for l, lev in enumerate(M.levels[:-1]):
        u, f = rng.standard_normal(lev.shape), rng.standard_normal(lev.shape)
        r = f.ravel() - lev.A.to_csr() @ u.ravel()
        ref = np.empty(M.levels[l + 1].shape)
        M._restrict(lev, r.reshape(lev.shape), ref)
        for nchunks in (1, 2, 3, 7):               # the thread partition must not change the result
            out = np.full(ref.shape, np.nan)
            fused(u, f, out, *lev.A._coef(), *lev.R, nchunks)
            np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_per_level_sweep_schedule():
    A = _op((20, 17))
    M = multigrid(A, nu=(1, 3), max_coarse=10)
    assert M.nus == [1] + [3] * (len(M.levels) - 1) and len(M.levels) >= 3
    dot_test(M, rng=5, rtol=1e-12)                  # still symmetric
    Md = _dense(M, A.shape[0])
    assert np.linalg.eigvalsh(0.5 * (Md + Md.T)).min() > 0
    assert multigrid(A, nu=2, max_coarse=10).nus == [2] * len(M.levels)
    for bad in ((), (2, 0), 1.5, (True,)):
        with pytest.raises(ValueError, match="nu"):
            multigrid(A, nu=bad)
