"""The red/black split-layout smoothing of a multigrid level (:mod:`solvers._kernels.numba.mgsplit`) against
independent references: pointwise red-black Gauss-Seidel on the assembled SciPy matrix, Kronecker products of
the 1-D transfer matrices, and MG-CG solutions against SciPy's sparse direct solve. The level stores float32,
so the tolerances are float32's (relative 1e-5 of the largest entry)."""
import importlib.util
import math
import pathlib
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers._kernels.numba import mgsplit
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator

# the pointwise Gauss-Seidel and Kronecker-prolongation references of the fused-kernel tests
_spec = importlib.util.spec_from_file_location("_mg_fused_refs", pathlib.Path(__file__).with_name(
    "test_mg_fused_kernels.py"))
_refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_refs)
_gs_reference, _prolongation = _refs._gs_reference, _refs._prolongation

TOL = 1e-5

# shapes with odd and even last axes and a grid whose last axis is not coarsened (spacing 10x finer there)
CASES = [((9, 7, 5), None), ((16, 15, 7), None), ((8, 8, 8), None), ((12, 10, 11), None),
         ((11, 9, 16), (1.0, 1.0, 0.1)), ((16, 12, 9), (0.1, 1.0, 1.0))]


def _operator(shape, h, backend, shift=None):
    h = tuple(1.0 / (n + 1) for n in shape) if h is None else tuple(a / (n + 1) for a, n in zip(h, shape))
    return StencilOperator(shape, h, k=1.0, shift=shift, backend=backend)


def _restriction(M, l):
    """``R`` of level ``l`` as the Kronecker product of its 1-D restriction tables."""
    R = M.levels[l].R
    mats = []
    for a in range(len(R) // 2):
        ri, rw = np.asarray(R[2 * a]), np.asarray(R[2 * a + 1])
        nc, n = ri.shape[0], M.levels[l].shape[a]
        mats.append(sp.csr_matrix((rw.ravel(), (np.repeat(np.arange(nc), ri.shape[1]), ri.ravel())), shape=(nc, n)))
    out = mats[0]
    for T in mats[1:]:
        out = sp.kron(out, T)
    return out.tocsr()


def _level(shape, h, rng):
    opn, opb = _operator(shape, h, "numpy"), _operator(shape, h, "numba")
    Mn = multigrid(opn, max_coarse=1, coarsening="geometric")
    Mb = multigrid(opb, max_coarse=1, coarsening="geometric")
    lev = Mb.levels[0]
    S = mgsplit.SplitLevel(opb, lev.P, lev.R, Mb.levels[1].shape)
    return opn, Mn, S


def _close(a, ref):
    np.testing.assert_allclose(a, ref, rtol=0, atol=TOL * max(np.abs(ref).max(), 1e-300))


@pytest.mark.parametrize("shape, h", CASES + [((30, 7, 9), None), ((31, 6, 8), None), ((9, 2, 7), None),
                                              ((8, 3, 9), None)])
@pytest.mark.parametrize("general", [False, True])
@pytest.mark.parametrize("chunks", ["threads", "many"])
def test_pre_and_post_match_pointwise_gauss_seidel_and_the_transfers(shape, h, general, chunks, rng, monkeypatch):
    """``chunks="many"``: as many plane ranges as the wavefront allows (up to 5 here, whatever the threads), so
    the end-plane phases of every stage run."""
    if chunks == "many":
        monkeypatch.setattr(mgsplit.SplitLevel, "_nchunks",
                            lambda self, count: max(1, self.shape3[0] // (2 * (count + 1) + 2)))
    opn, Mn, S = _level(shape, h, rng)
    if general:                                  # the table-gather routes, whatever the tables allow
        S.aff, S.pairs = False, None
    check_pre_post(S, opn, Mn, shape, rng, [(0, 1), (0, 3), (1, 3), (0, 5)])


def check_pre_post(S, opn, Mn, shape, rng, sweeps):
    """``S.pre`` then ``S.post`` on the same iterate, for each ``(first, count)`` of ``sweeps``, against pointwise
    red-black Gauss-Seidel on the assembled matrix and the Kronecker transfers (also used by the 2-D split
    tests, :mod:`test_mg_split2`)."""
    A = opn.to_csr()
    R, P = _restriction(Mn, 0), _prolongation(Mn, 0)
    cshape = Mn.levels[1].shape
    for first, count in sweeps:
        f = rng.standard_normal(shape)
        u = _gs_reference(opn, np.zeros(shape), f, first, count, True)
        out = np.empty(cshape)
        got = np.full(shape, np.nan)               # the level's iterate: the same array for pre and post
        S.pre(f, got, out, first, count)
        _close(out, (R @ (f.ravel() - A @ u.ravel())).reshape(cshape))
        e = rng.standard_normal(cshape)
        ref = _gs_reference(opn, u + (P @ e.ravel()).reshape(shape), f, first, count, False)
        dot = S.post(e, got, f, first, count, dot=True)
        _close(got, ref)
        assert dot == pytest.approx(float(f.ravel() @ ref.ravel()), rel=1e-4, abs=TOL * np.abs(f).sum() * np.abs(ref).max())
        assert S.post(e, got, f, first, count) is None       # no dot asked: none returned


def check_scaled(S, opn, Mn, shape, e2, rng):
    """``S.pre`` and ``S.post`` on a right-hand side and correction of size ``2^e2`` against the float64
    references at size 1 scaled back (also used by the 2-D split tests, :mod:`test_mg_split2`)."""
    A, R, P = opn.to_csr(), _restriction(Mn, 0), _prolongation(Mn, 0)
    cshape = Mn.levels[1].shape
    s = math.ldexp(1.0, e2)
    f = rng.standard_normal(shape) * s / s        # what a subnormal f * s keeps of f (its input is f * s)
    e = rng.standard_normal(cshape) * s / s
    u = _gs_reference(opn, np.zeros(f.shape), f, 0, 3, True)
    q = 8 * math.ldexp(1.0, -1074) / s            # outputs of size 2^-1070 are float64 subnormals: this quantum
    out = np.empty(cshape)
    got = np.empty(f.shape)
    S.pre(f * s, got, out, 0, 3)
    np.testing.assert_allclose(out / s, (R @ (f.ravel() - A @ u.ravel())).reshape(cshape), rtol=0,
                               atol=TOL * np.abs(R @ f.ravel()).max() + q)
    S.post(e * s, got, f * s, 0, 3)
    ref = _gs_reference(opn, u + (P @ e.ravel()).reshape(f.shape), f, 0, 3, False)
    np.testing.assert_allclose(got / s, ref, rtol=0, atol=TOL * np.abs(ref).max() + q)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("e2", [-1070, -700, -140, 0, 140, 700, 1000])
def test_right_hand_sides_far_from_one_are_scaled_not_flushed(e2, rng):
    """float32 holds about 2^+-126: a right-hand side of 2^-1070 (subnormal) ... 2^1000 is split scaled by a
    power of two, so the cycle is the same operator at every size."""
    opn, Mn, S = _level((9, 8, 7), None, rng)
    check_scaled(S, opn, Mn, (9, 8, 7), e2, rng)


def test_non_finite_right_hand_sides_propagate(rng):
    _, Mn, S = _level((9, 8, 7), None, rng)
    f = rng.standard_normal((9, 8, 7))
    f[3, 2, 1] = np.nan
    out = np.empty(Mn.levels[1].shape)
    S.pre(f, np.empty(f.shape), out, 0, 3)
    assert np.isnan(out).any()


@pytest.mark.parametrize("shape, h, shift", [((36, 34, 35), None, None), ((40, 36, 38), (1.0, 1.0, 0.1), None),
                                              ((36, 36, 36), None, 50.0)])
def test_mgcg_with_split_levels_solves_like_a_direct_solve(monkeypatch, shape, h, shift, rng):
    """Every eligible level split (the size threshold lowered; grids above the compiled tail's, so the cycle
    reaches the split level): the MG-CG solution against SciPy's CG to a residual 1e-13, the iteration count
    within one of the natural-layout cycle's, the cycle symmetric and close to the natural one."""
    A = _operator(shape, h, "numba", shift)
    b = rng.standard_normal(A.shape[0])
    M0 = multigrid(A)
    monkeypatch.setattr(mgsplit, "MIN_POINTS", 0)
    M = multigrid(A)
    calls = []
    pre = mgsplit.SplitLevel.pre
    monkeypatch.setattr(mgsplit.SplitLevel, "pre", lambda self, *a: (calls.append(1), pre(self, *a))[1])
    r = solvers.cg(A, b, M=M, rtol=1e-10, backend="numba")
    assert len(calls) >= r.nit                  # the split level ran in every cycle
    r0 = solvers.cg(A, b, M=M0, rtol=1e-10, backend="numba")
    # reference: SciPy's own CG on the assembled matrix, to a residual 1e-13 (a sparse direct solve of these
    # 50 000-unknown 3-D grids took 18-30 s of the suite for the same check)
    Acsr = A.to_csr()
    x, info = spla.cg(Acsr, b, rtol=1e-13, atol=0.0, maxiter=20000)
    assert info == 0 and np.linalg.norm(b - Acsr @ x) <= 1e-12 * np.linalg.norm(b)
    assert r.converged
    np.testing.assert_allclose(r.x, x, rtol=0, atol=1e-8 * np.abs(x).max())
    assert r.nit <= r0.nit + 1
    u, v = rng.standard_normal(A.shape[0]), rng.standard_normal(A.shape[0])
    Mu, Mv = M.matvec(u), M.matvec(v)
    np.testing.assert_allclose(Mu, M0.matvec(u), rtol=0, atol=1e-6 * np.abs(Mu).max())
    assert abs(v @ Mu - u @ Mv) <= 1e-6 * np.linalg.norm(u) * np.linalg.norm(Mv)
    M2 = pickle.loads(pickle.dumps(M))          # the split level pickles with its preconditioner
    np.testing.assert_array_equal(M2.matvec(u), Mu)


@pytest.mark.parametrize("e2, k", [(59.99, 1.0), (80.0, 1.0), (-990.0, 1e8), (-700.0, 1e8), (-1060.0, 1.0)])
def test_cycles_at_the_limits_of_float64_match_the_natural_cycle(monkeypatch, e2, k, rng):
    """A right-hand side of size 2^e2: the cycle's ``f . u`` and ``u`` as the natural float64 cycle's. Regressions:
    ``F X`` formed in float32 overflowed near 2^60 (r.z = inf, CG stopped as non-finite), and ``s d`` overflowed
    for a tiny f on a stiff operator (u all NaN); now the products are float64 and the cycle falls back to the
    natural kernels where the scaled unknowns cannot hold f."""
    A = StencilOperator((36, 36, 36), 1 / 37, k=k, backend="numba")
    M0 = multigrid(A)
    monkeypatch.setattr(mgsplit, "MIN_POINTS", 0)
    M = multigrid(A)
    x = np.sin(np.pi * np.arange(1, 37) / 37)
    b = (np.einsum("i,j,k->ijk", x, x, x).ravel() + 0.1 * rng.standard_normal(A.shape[0])) * 2.0 ** e2
    z0, z1 = np.empty_like(b), np.empty_like(b)
    d0, d1 = M0.matvec_dot(b, z0), M.matvec_dot(b, z1)
    assert np.isfinite(z1).all() and np.isfinite(d1)
    q = 2.0 ** -1074 * 8                       # the float64 quantum where z is subnormal
    np.testing.assert_allclose(z1, z0, rtol=0, atol=1e-6 * np.abs(z0).max() + q)
    assert d1 == pytest.approx(d0, rel=1e-5, abs=1e-300)
    if e2 > 0:
        r = solvers.cg(A, b, M=M, rtol=1e-8, backend="numba")
        assert r.converged


def test_only_large_constant_coefficient_3d_levels_are_split(rng):
    from solvers._kernels.numba import multigrid as NM

    big = _operator((80, 80, 80), None, "numba")
    M = multigrid(big)
    assert M.levels[0].split is not None and all(lev.split is None for lev in M.levels[1:])
    assert multigrid(_operator((2048, 2048), None, "numba")).levels[0].split is None     # 2-D: mgsplit2/natural
    k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate((80, 80, 80)))) for a in range(3)]
    var = StencilOperator((80, 80, 80), 1 / 81, k=k, backend="numba")
    assert all(lev.split is None for lev in multigrid(var).levels)
    assert multigrid(_operator((80, 80, 80), None, "numpy")).levels[0].split is None     # the reference set
    lev = M.levels[0]
    neg = _operator((80, 80, 80), None, "numba", shift=-1e9)                           # diagonal <= 0
    assert NM.split_level(neg, lev.P, lev.R, M.levels[1].shape) is None
