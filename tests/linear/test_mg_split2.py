"""The 2-D multigrid level with a float32 red/black split pre-smoothing and a float64 post-smoothing (colour rows)
(:mod:`solvers._kernels.numba.mgsplit2`) against independent references: pointwise red-black Gauss-Seidel on
the assembled SciPy matrix, Kronecker products of the 1-D transfer matrices, SciPy's sparse direct solve, and
the iteration counts and residual histories of the natural float64 cycle. The pre-smoothing stores float32, so
the tolerances are float32's (relative 1e-5 of the largest entry)."""
import importlib.util
import pathlib
import pickle

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers._kernels.numba import mgsplit2
from solvers._kernels.numba import multigrid as NM
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_mg_refs_{name}", pathlib.Path(__file__).with_name(name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# the pointwise Gauss-Seidel and Kronecker-transfer references of the fused-kernel and 3-D split tests (any d)
_fused, _split3 = _load("test_mg_fused_kernels.py"), _load("test_mg_split.py")
_gs_reference, _prolongation = _fused._gs_reference, _fused._prolongation
_restriction, _close, TOL = _split3._restriction, _split3._close, _split3.TOL

# odd and even row lengths, nested (2^k - 1) and non-nested (2^k) grids, rows much longer or shorter than the
# number of rows, and a grid whose second axis is 10x finer
CASES = [((33, 31), None), ((32, 30), None), ((17, 40), None), ((64, 9), None), ((31, 32), (1.0, 0.1)),
         ((40, 33), (0.1, 1.0))]


def _operator(shape, h, backend, shift=None, k=1.0):
    h = tuple(1.0 / (n + 1) for n in shape) if h is None else tuple(a / (n + 1) for a, n in zip(h, shape))
    return StencilOperator(shape, h, k=k, shift=shift, backend=backend)


def _level(shape, h):
    opn, opb = _operator(shape, h, "numpy"), _operator(shape, h, "numba")
    Mn = multigrid(opn, max_coarse=1, coarsening="geometric")
    Mb = multigrid(opb, max_coarse=1, coarsening="geometric")
    lev = Mb.levels[0]
    return opn, Mn, mgsplit2.SplitLevel2(opb, lev.P, lev.R, Mb.levels[1].shape)


@pytest.mark.parametrize("shape, h", CASES)
@pytest.mark.parametrize("general", [False, True])
@pytest.mark.parametrize("chunks", ["threads", "many"])
def test_pre_and_post_match_pointwise_gauss_seidel_and_the_transfers(shape, h, general, chunks, rng, monkeypatch):
    """``chunks="many"``: as many row ranges as the wavefronts allow, so the end-row phases of every stage run;
    ``general``: the restriction gathers through its table whatever the table allows."""
    if chunks == "many":
        monkeypatch.setattr(mgsplit2.SplitLevel2, "_nchunks",
                            lambda self, c: max(1, -(-self.shape3[0] // mgsplit2.BLOCK) // (2 * (c + 1) + 2)))
        monkeypatch.setattr(mgsplit2.SplitLevel2, "_post_nchunks",
                            lambda self, c: max(1, self.shape3[0] // (2 * (c + 1) + 2)))
    opn, Mn, S = _level(shape, h)
    if general:
        S.aff = False
    _split3.check_pre_post(S, opn, Mn, shape, rng, [(0, 1), (0, 3), (1, 3), (0, 5), (1, 2)])


@pytest.mark.parametrize("shape, chunks", [((200, 33), 2), ((203, 20), 3), ((200, 33), 1)])
def test_pre_smoothing_keeps_f_in_each_ranges_rows(shape, chunks, rng, monkeypatch):
    """Grids of 25-26 row blocks in 1-3 row ranges: each range's split ``f`` rows (``pre_wave2``: a ring of
    ``count + 1`` blocks, wrapped several times, and the end blocks that wait for the serial phases) against
    the pointwise reference."""
    monkeypatch.setattr(mgsplit2.SplitLevel2, "_nchunks", lambda self, c: chunks)
    opn, Mn, S = _level(shape, None)
    _split3.check_pre_post(S, opn, Mn, shape, rng, [(0, 1), (1, 2), (0, 3), (1, 5)])


@pytest.mark.parametrize("e2", [-1070, -700, -140, 0, 140, 700, 1000])
def test_right_hand_sides_far_from_one_are_scaled_not_flushed(e2, rng):
    """float32 holds about 2^+-126: a right-hand side of 2^-1070 (subnormal) ... 2^1000 is split scaled by a
    power of two, so the cycle is the same operator at every size (a diagonal of about 2^8, as in the 3-D test:
    at 2^-1070 the level falls back to the float64 kernels, whose subnormal iterate keeps a few quanta)."""
    opn, Mn, S = _level((17, 14), (2.0, 2.0))
    _split3.check_scaled(S, opn, Mn, (17, 14), e2, rng)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_right_hand_sides_propagate(bad, rng):
    _, Mn, S = _level((33, 30), None)
    f = rng.standard_normal((33, 30))
    f[7, 11] = bad
    out = np.empty(Mn.levels[1].shape)
    u = np.empty(f.shape)
    S.pre(f, u, out, 0, 3)
    assert not np.isfinite(out).all()
    S.post(np.zeros(Mn.levels[1].shape), u, f, 0, 3)
    assert not np.isfinite(u).all()


def test_count_below_one_is_refused():
    _, Mn, S = _level((33, 30), None)
    with pytest.raises(ValueError, match="count must be >= 1"):
        S.pre(np.ones((33, 30)), np.empty((33, 30)), np.empty(Mn.levels[1].shape), 0, 0)
    with pytest.raises(ValueError, match="count must be >= 1"):
        S.post(np.ones(Mn.levels[1].shape), np.empty((33, 30)), np.ones((33, 30)), 0, 0)


@pytest.mark.parametrize("shape, h, shift", [((300, 280), None, None), ((257, 300), (1.0, 0.1), None),
                                              ((280, 280), None, 50.0)])
def test_mgcg_with_split_levels_solves_like_a_direct_solve(monkeypatch, shape, h, shift, rng):
    """Every eligible level split (the size threshold lowered): the MG-CG solution against SciPy's sparse direct
    solve, the iteration count within one of the natural cycle's, the cycle symmetric and close to the natural
    one, and it pickles."""
    A = _operator(shape, h, "numba", shift)
    b = rng.standard_normal(A.shape[0])
    M0 = multigrid(A)
    assert all(lev.split is None for lev in M0.levels)
    monkeypatch.setattr(mgsplit2, "MIN_POINTS", 0)
    monkeypatch.setattr(mgsplit2, "MIN_POINTS_COARSE", 0)
    M = multigrid(A)
    assert all(lev.split is not None for lev in M.levels[:-1])
    calls = []
    pre = mgsplit2.SplitLevel2.pre
    monkeypatch.setattr(mgsplit2.SplitLevel2, "pre", lambda self, *a: (calls.append(1), pre(self, *a))[1])
    r = solvers.cg(A, b, M=M, rtol=1e-10, backend="numba")
    assert len(calls) >= r.nit
    r0 = solvers.cg(A, b, M=M0, rtol=1e-10, backend="numba")
    Acsr = A.to_csr().tocsc()
    x = spla.spsolve(Acsr, b)
    assert r.converged and np.linalg.norm(b - Acsr @ r.x) <= 1e-10 * np.linalg.norm(b)
    np.testing.assert_allclose(r.x, x, rtol=0, atol=1e-7 * np.abs(x).max())
    assert r.nit <= r0.nit + 1
    u, v = rng.standard_normal(A.shape[0]), rng.standard_normal(A.shape[0])
    Mu, Mv = M.matvec(u), M.matvec(v)
    np.testing.assert_allclose(Mu, M0.matvec(u), rtol=0, atol=1e-6 * np.abs(Mu).max())
    assert abs(v @ Mu - u @ Mv) <= 1e-6 * np.linalg.norm(u) * np.linalg.norm(Mv)
    M2 = pickle.loads(pickle.dumps(M))
    np.testing.assert_array_equal(M2.matvec(u), Mu)


@pytest.mark.parametrize("shape", [(33, 31), (64, 64), (200, 130), (129, 64), (2, 5), (3, 2), (5, 3), (9, 2)])
@pytest.mark.parametrize("first, count", [(0, 1), (0, 3), (1, 2), (1, 5)])
@pytest.mark.parametrize("chunks", [None, 1, 7])
def test_post_smoothing_is_float64_exact(shape, first, count, chunks, rng, monkeypatch):
    """``post`` against pointwise float64 Gauss-Seidel on the assembled matrix started from exactly the iterate
    it starts from (the float32 colour arrays ``pre`` left, widened, plus ``P e``): equal to float64 rounding,
    whatever the number of row ranges (each recomputes the rows beyond its ends; 7 ranges: every range boundary
    inside the halo of the next)."""
    if chunks is not None:
        monkeypatch.setattr(mgsplit2.SplitLevel2, "_post_nchunks", lambda self, c: chunks)
    opn, Mn, S = _level(shape, None)
    P = _prolongation(Mn, 0)
    cshape = Mn.levels[1].shape
    f = rng.standard_normal(shape)
    got = np.full(shape, np.nan)
    S.pre(f, got, np.empty(cshape), first, count)
    u0 = np.zeros(shape)
    n0, n1 = shape
    for i in range(n0):
        for c in range(2):
            t = (i + c) & 1
            u0[i, t::2] = S.X[c][i, :(n1 - t + 1) // 2].astype(np.float64) / (S.s * S.d)
    e = rng.standard_normal(cshape)
    ref = _gs_reference(opn, u0 + (P @ e.ravel()).reshape(shape), f, first, count, False)
    dot = S.post(e, got, f, first, count, dot=True)
    np.testing.assert_allclose(got, ref, rtol=0, atol=4e-15 * np.abs(ref).max())
    assert dot == pytest.approx(float(f.ravel() @ ref.ravel()), rel=1e-12)


@pytest.mark.parametrize("shape", [(1024, 1024), (512, 512), (700, 500)])
def test_iterations_and_residual_history_of_the_natural_cycle_are_kept(monkeypatch, shape):
    """The point of keeping the post-smoothing in float64: MG-CG to 1e-8 takes the natural cycle's iterations
    and its residual history agrees to 3 digits (float32 on both sides cost an iteration here), or to 1e-10
    ||b||: the split post-smoothing sums in another order than the natural one (exact to float64 rounding:
    test_post_smoothing_is_float64_exact), and rounding differences of order eps cond(A) ||b|| (about 1e-10
    ||b|| at 1024^2) move the last residual (5e-9 ||b||) in its third digit."""
    p_op = _operator(shape, None, "numba")
    b = np.ones(p_op.shape[0])
    M = multigrid(p_op)
    assert M.levels[0].split is not None
    r = solvers.cg(p_op, b, M=M, rtol=1e-8, backend="numba")
    monkeypatch.setattr(mgsplit2, "MIN_POINTS", 10 ** 12)
    monkeypatch.setattr(mgsplit2, "MIN_POINTS_COARSE", 10 ** 12)
    M0 = multigrid(p_op)
    assert all(lev.split is None for lev in M0.levels)
    r0 = solvers.cg(p_op, b, M=M0, rtol=1e-8, backend="numba")
    assert r.converged and r0.converged and r.nit == r0.nit
    np.testing.assert_allclose(r.history["residual"], r0.history["residual"], rtol=1e-3,
                               atol=1e-10 * np.linalg.norm(b))


def test_which_2d_levels_are_split(rng):
    M = multigrid(_operator((1024, 1024), None, "numba"))
    # the finest level from 200 000 points, coarser ones of a split hierarchy from 50 000 (255^2 = 65 025)
    assert [lev.split is not None for lev in M.levels[:4]] == [True, True, True, False]
    assert [lev.split is not None for lev in multigrid(_operator((512, 512), None, "numba")).levels[:3]] == [
        True, True, False]
    assert all(lev.split is None for lev in multigrid(_operator((256, 256), None, "numba")).levels)   # 65 536 finest
    assert all(lev.split is None for lev in multigrid(_operator((2048, 2048), None, "numba")).levels)  # fine >= 3e6
    assert multigrid(_operator((400, 400), None, "numba")).levels[0].split is None               # 160 000 points
    k = [rng.uniform(0.5, 2.0, tuple(n + 1 if b == a else n for b, n in enumerate((600, 600)))) for a in range(2)]
    assert all(lev.split is None for lev in multigrid(StencilOperator((600, 600), 1 / 601, k=k,
                                                                      backend="numba")).levels)
    assert multigrid(_operator((600, 600), None, "numpy")).levels[0].split is None              # the reference set
    lev = M.levels[0]
    neg = _operator((1024, 1024), None, "numba", shift=-1e9)                                   # diagonal <= 0
    assert NM.split_level(neg, lev.P, lev.R, M.levels[1].shape) is None
    assert NM.split_level(M.levels[0].A, lev.P, lev.R, M.levels[1].shape, 4_000_000) is None


def test_memoised_coarsest_inverse_is_the_dense_inverse_and_a_private_copy():
    """The coarsest inverse of a constant-coefficient stencil hierarchy is memoised by grid and coefficients: it
    is NumPy's inverse of the assembled coarsest matrix, each preconditioner gets its own copy, and a different
    coefficient or shift gets its own entry."""
    from solvers.linear import multigrid_memo as MI

    MI._CINV.clear()
    A = _operator((1024, 1024), None, "numba")
    M1, M2 = multigrid(A), multigrid(A)
    C = M1.levels[-1].A.to_csr().toarray()
    np.testing.assert_allclose(M1._cinv, np.linalg.inv(C), rtol=1e-12, atol=1e-12 * np.abs(np.linalg.inv(C)).max())
    assert M1._cinv is not M2._cinv and len(MI._CINV) == 1
    M1._cinv[...] = 0.0                       # a preconditioner's copy written: the others and the memo keep theirs
    np.testing.assert_allclose(M2._cinv, np.linalg.inv(C), rtol=1e-12, atol=1e-12 * np.abs(np.linalg.inv(C)).max())
    M3 = multigrid(_operator((1024, 1024), None, "numba", shift=5.0))
    C3 = M3.levels[-1].A.to_csr().toarray()
    np.testing.assert_allclose(M3._cinv, np.linalg.inv(C3), rtol=1e-12, atol=1e-12 * np.abs(np.linalg.inv(C3)).max())
    assert len(MI._CINV) == 2
    b = np.ones(A.shape[0])
    assert solvers.cg(A, b, M=multigrid(A), rtol=1e-8).converged
