"""The fused multigrid smoothing kernels (``stencil.sweeps``, ``multigrid.prolong_sweeps``) against an
independent reference: pointwise red-black Gauss-Seidel on the assembled SciPy matrix and a Kronecker
product of 1-D linear-interpolation matrices; every kernel set (NumPy, Numba with 1-3 plane chunks,
emulated CuPy) and the V-cycle built on them (symmetric positive definite, work counted in ``stats``)."""
import importlib.util
import itertools
import pathlib

import numpy as np
import pytest
import scipy.sparse as sp

from solvers._kernels.numba import rbwave
from solvers._kernels.numpy import multigrid as RM
from solvers._kernels.numpy import stencil as RS
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator, dot_test

# the fake CuPy of the emulated-CuPy kernel tests (a fixture), reused for the composed CuPy kernels
_spec = importlib.util.spec_from_file_location(
    "_emulated_cupy", pathlib.Path(__file__).parents[1] / "kernels" / "test_cupy_kernels_emulated.py")
_emu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_emu)
fake_cupy = _emu.fake_cupy

SHAPES = [(7, 5), (40, 9), (1, 6), (2, 30), (13, 5, 4), (5, 4, 1), (3, 3, 3), (24, 3, 4)]


def _op(shape, variable, rng, backend="numpy"):
    h = tuple(1.0 / (n + 1) for n in shape)
    k = 1.0
    if variable:
        k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
             for a in range(len(shape))]
    return StencilOperator(shape, h, k=k, backend=backend)


def _gs_reference(A, u, f, first, count, zero):
    """Red-black Gauss-Seidel point by point on the CSR matrix (the textbook update, no kernel code)."""
    C = A.to_csr().tocsr()
    shape = A.grid_shape
    par = (np.indices(shape).sum(axis=0) & 1).ravel()
    x = np.zeros(u.size) if zero else u.ravel().copy()
    fv = f.ravel()
    for t in range(count):
        for p in np.nonzero(par == (first + t) % 2)[0]:
            row = slice(C.indptr[p], C.indptr[p + 1])
            cols, vals = C.indices[row], C.data[row]
            diag = vals[cols == p].sum()
            x[p] = (fv[p] - vals[cols != p] @ x[cols[cols != p]]) / diag
    return x.reshape(shape)


def _prolongation(M, l):
    """``P`` of level ``l`` as the Kronecker product of 1-D interpolation matrices from its tables."""
    P = M.levels[l].P
    mats = []
    for a in range(len(P) // 2):
        pi, pw = np.asarray(P[2 * a]), np.asarray(P[2 * a + 1])
        n, nc = pi.shape[0], M.levels[l + 1].shape[a]
        T = sp.csr_matrix((pw.ravel(), (np.repeat(np.arange(n), 2), pi.ravel())), shape=(n, nc))
        mats.append(T)
    out = mats[0]
    for T in mats[1:]:
        out = sp.kron(out, T)
    return out.tocsr()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("variable", [False, True])
def test_sweeps_match_pointwise_gauss_seidel(shape, variable, rng):
    from solvers._kernels.numba import stencil as NS

    opn = _op(shape, variable, rng)
    opb = _op(shape, False, rng, "numba") if not variable else StencilOperator(
        shape, opn.h, k=[np.asarray(k) for k in opn.k], backend="numba")
    f, u0 = rng.standard_normal(shape), rng.standard_normal(shape)
    for first, count, zero in itertools.product((0, 1), (1, 2, 3), (False, True)):
        ref = _gs_reference(opn, u0, f, first, count, zero)
        tol = 1e-12 * max(1.0, np.abs(ref).max())
        a = u0.copy()
        RS.sweeps(opn, a, f, first, count, zero)
        np.testing.assert_allclose(a, ref, rtol=0, atol=tol)
        b = u0.copy()
        NS.sweeps(opb, b, f, first, count, zero)
        np.testing.assert_allclose(b, ref, rtol=0, atol=tol)
        for nchunks in (2, 3):                   # the phases of the chunked wavefront, whatever the threads
            c = u0.copy()
            rbwave.run(opb, c, f, first, count, zero, nchunks=nchunks)
            np.testing.assert_allclose(c, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("shape", [(15, 9), (31, 16), (9, 7, 5), (16, 15, 7)])
@pytest.mark.parametrize("variable", [False, True])
def test_prolong_sweeps_match_interpolation_then_gauss_seidel(shape, variable, rng):
    from solvers._kernels.numba import multigrid as NM

    opn = _op(shape, variable, rng)
    opb = StencilOperator(shape, opn.h, k=opn.k if not variable else [np.asarray(k) for k in opn.k],
                          backend="numba")
    Mn, Mb = multigrid(opn, max_coarse=1, coarsening="geometric"), multigrid(opb, max_coarse=1,
                                                                             coarsening="geometric")
    P = _prolongation(Mn, 0)
    cshape = Mn.levels[1].shape
    e, f, u0 = rng.standard_normal(cshape), rng.standard_normal(shape), rng.standard_normal(shape)
    work = NM.prolong_work(shape, cshape)
    for first, count in itertools.product((0, 1), (0, 1, 3)):
        v = u0 + (P @ e.ravel()).reshape(shape)
        ref = _gs_reference(opn, v, f, first, count, False)
        tol = 1e-12 * max(1.0, np.abs(ref).max())
        a = u0.copy()
        RM.prolong_sweeps(e, a, Mn.levels[0].P, None, opn, f, first, count)
        np.testing.assert_allclose(a, ref, rtol=0, atol=tol)
        b = u0.copy()
        NM.prolong_sweeps(e, b, Mb.levels[0].P, work, opb, f, first, count)
        np.testing.assert_allclose(b, ref, rtol=0, atol=tol)
        c = u0.copy()
        rbwave.run(opb, c, f, first, count, False, e=e, P=Mb.levels[0].P, buf=work, nchunks=2)
        np.testing.assert_allclose(c, ref, rtol=0, atol=tol)


@pytest.mark.parametrize("shape, variable", [((7, 5), False), ((6, 9), True), ((5, 3, 4), True), ((9, 7, 5), False)])
def test_cupy_sweeps_and_prolong_sweeps(fake_cupy, rng, shape, variable):
    from solvers._kernels.cupy import multigrid as cm
    from solvers._kernels.cupy import stencil as cs

    op = _op(shape, variable, rng)
    f, u0 = rng.standard_normal(shape), rng.standard_normal(shape)
    for first, count, zero in itertools.product((0, 1), (1, 3), (False, True)):
        ref = _gs_reference(op, u0, f, first, count, zero)
        a = u0.copy()
        cs.sweeps(op, a, f, first, count, zero)
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()))
    M = multigrid(op, max_coarse=1, coarsening="geometric")
    if len(M.levels) > 1:
        P = _prolongation(M, 0)
        e = rng.standard_normal(M.levels[1].shape)
        ref = _gs_reference(op, u0 + (P @ e.ravel()).reshape(shape), f, 1, 3, False)
        a = u0.copy()
        v = cm.prolong_sweeps(e, a, M.levels[0].P, None, op, f, 1, 3, True)
        np.testing.assert_allclose(a, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(ref).max()))
        assert v == pytest.approx(float(np.vdot(f, ref)), rel=1e-12)


@pytest.mark.parametrize("nu", [1, (1, 2), (2, 1), 3])
@pytest.mark.parametrize("shape", [(17, 12), (9, 10, 7)])
def test_red_black_red_cycle_is_spd(nu, shape, cpu_backend):
    """Pre-smoothing ``R (B R)^nu`` from zero and the same sequence after the correction: symmetric
    (the sequence reversed is itself) and positive definite, as CG needs."""
    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), backend=cpu_backend)
    M = multigrid(A, nu=nu, max_coarse=10)
    dot_test(M, rng=11, rtol=1e-12)
    Md = np.column_stack([M.matvec(e) for e in np.eye(A.shape[0])])
    np.testing.assert_allclose(Md, Md.T, atol=1e-12 * np.abs(Md).max())
    assert np.linalg.eigvalsh(0.5 * (Md + Md.T)).min() > 0


def test_work_is_counted_in_stats():
    """``stats`` counts the fine-grid-equivalent passes and stencil evaluations per cycle (levels weighted
    by their points), against the count from the hierarchy by hand."""
    shape = (63, 63)
    A = StencilOperator(shape, 1.0 / 64, backend="numpy")
    M = multigrid(A, nu=(1, 2))
    N0 = A.shape[0]
    evals = passes = 0.0
    for l, lev in enumerate(M.levels[:-1]):
        w = np.prod(lev.shape) / N0
        nu = M.nus[l]
        evals += w * (2 * (2 * nu + 1) + 1)          # half sweeps both sides + the residual
        passes += w * 2                               # pre-smoothing with residual+restriction, prolongation+post
    assert M.stats["fine_passes_per_cycle"] == pytest.approx(passes)
    assert M.stats["fine_evals_per_cycle"] == pytest.approx(evals)
    b = np.ones(N0)
    M.matvec(b)
    M.matvec(b)
    assert M.stats["vcycles"] == 2


@pytest.mark.parametrize("shape", [(1024, 6), (63, 9), (16, 128, 5), (9, 15, 31), (6, 7, 8)])
def test_restriction_is_scaled_transpose_of_interpolation(shape, rng):
    """Numba's restriction (direct ``2 J + b`` indexing on these grids, tables otherwise) and the fused
    residual + restriction equal ``c P^T`` (``c = prod h / hc``) applied to ``f - A u`` (SciPy)."""
    from solvers._kernels.numba import multigrid as NM

    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), backend="numba")
    M = multigrid(A, max_coarse=1, coarsening="geometric")
    lev, nxt = M.levels[0], M.levels[1]
    P = _prolongation(M, 0)
    c = np.prod([h / hc for h, hc in zip(A.h, nxt.A.h)])
    u, f = rng.standard_normal(shape), rng.standard_normal(shape)
    r = f.ravel() - A.to_csr() @ u.ravel()
    ref = (c * (P.T @ r)).reshape(nxt.shape)
    got = np.empty(nxt.shape)
    NM.residual_restrict(A, u, f, got, lev.R, None)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    got2 = np.empty(nxt.shape)
    NM.restrict(r.reshape(shape), got2, lev.R)
    np.testing.assert_allclose(got2, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_default_schedule_follows_the_hierarchy():
    """``nu=None``: (1, 2) on the geometric hierarchy, (2, 3) on the Galerkin one; an explicit ``nu`` wins."""
    from solvers.linear.multigrid import NU_GALERKIN, NU_GEOMETRIC

    shape = (63, 63)
    A = StencilOperator(shape, 1.0 / 64, backend="numpy")
    M = multigrid(A)
    assert M.kind == "geometric" and M.nus[:3] == [NU_GEOMETRIC[0], NU_GEOMETRIC[1], NU_GEOMETRIC[1]]
    k = [np.where(np.arange(n + 1 if a == 0 else n)[:, None] > 20, 1e4, 1.0) * np.ones((1, 63 + (a == 1)))
         for a, n in enumerate(shape)]
    G = multigrid(StencilOperator(shape, 1.0 / 64, k=k, backend="numpy"))
    assert G.kind == "galerkin" and G.nus[:2] == list(NU_GALERKIN[:2])
    assert multigrid(A, nu=3).nus == [3] * len(M.levels)
    with pytest.raises(ValueError, match="nu"):
        multigrid(A, nu=0)


@pytest.mark.parametrize("shape", [(33, 20), (12, 9, 10)])
def test_matvec_dot_returns_r_dot_mr(shape, cpu_backend, rng):
    """``M.matvec_dot(r, z)`` writes the cycle's ``z = M r`` and returns ``r . z`` (accumulated in the last
    pass on numba), equal to NumPy's dot of the two; also through the dense coarsest-only hierarchy."""
    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), backend=cpu_backend)
    for M in (multigrid(A, max_coarse=10), multigrid(A, max_coarse=10 ** 4)):
        r = rng.standard_normal(A.shape[0])
        z1, z2 = np.empty_like(r), np.empty_like(r)
        v = M.matvec_dot(r, z1)
        M.matvec_into(r, z2)
        np.testing.assert_array_equal(z1, z2)
        assert v == pytest.approx(float(np.dot(r, z2)), rel=1e-12)
    if cpu_backend == "numba":                   # the chunked wavefront's partial sums
        u, f = rng.standard_normal(shape), rng.standard_normal(shape)
        for nchunks in (1, 2, 3):
            a = u.copy()
            v = rbwave.run(A, a, f, 1, 3, False, nchunks=nchunks, dot=True)
            assert v == pytest.approx(float(np.vdot(f, a)), rel=1e-12)


def test_work_counts_the_numba_2d_tail_levels_as_whole_grid_sweeps():
    """On the numba set the 2-D levels below ``WHOLE_GRID_2D_BELOW`` points run whole-grid half sweeps in the
    compiled tail (``mgtail._pre_small2``): ``stats`` counts one pass per half sweep and two for the transfers
    there, two per level above."""
    from solvers._kernels.numba import multigrid as NM

    shape = (255, 255)
    A = StencilOperator(shape, 1.0 / 256, backend="numba")
    M = multigrid(A)
    N0 = A.shape[0]
    passes = 0.0
    small = 0
    for l, lev in enumerate(M.levels[:-1]):
        w = np.prod(lev.shape) / N0
        if np.prod(lev.shape) < NM.WHOLE_GRID_2D_BELOW:
            small += 1
            passes += w * (2 * (2 * M.nus[l] + 1) + 2)
        else:
            passes += w * 2
    assert small >= 1
    assert M.stats["fine_passes_per_cycle"] == pytest.approx(passes)
