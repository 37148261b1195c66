"""The full-multigrid start of MG-CG (``multigrid(..., fmg_start=True)``): the start approximates the solution
(energy-norm error well below that of the zero start), and CG from it converges to the direct solution (SciPy ``spsolve``) with the
true residual below the tolerance, on constant and jumping coefficients, 2-D and 3-D, NumPy and Numba."""
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator


def _op(shape, jump, backend):
    h = tuple(1.0 / (n + 1) for n in shape)
    if not jump:
        return StencilOperator(shape, h, backend=backend)
    k = []
    for a in range(len(shape)):
        fshape = tuple(n + 1 if b == a else n for b, n in enumerate(shape))
        x = (np.indices(fshape)[0] + 0.5) / (shape[0] + 1)
        k.append(np.where(x < 0.37, 1.0, 1e4))
    return StencilOperator(shape, h, k=k, backend=backend)


@pytest.mark.parametrize("shape", [(33, 40), (16, 17, 15)])
@pytest.mark.parametrize("jump", [False, True])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_fmg_start_converges_to_the_direct_solution(shape, jump, backend):
    rng = np.random.default_rng(sum(shape))
    A = _op(shape, jump, backend)
    b = rng.standard_normal(A.shape[0])
    M = multigrid(A, fmg_start=True)
    assert M.fmg_start and M.kind == ("galerkin" if jump else "geometric")
    x0 = M.initial_guess(b, np.full(A.shape[0], np.nan))
    C = A.to_csr()
    xref = spla.spsolve(C.tocsc(), b)
    assert np.all(np.isfinite(x0))
    res = solvers.cg(A, b, M=M, rtol=1e-9, backend=backend)
    assert res.converged
    assert np.linalg.norm(b - C @ res.x) <= 1e-9 * np.linalg.norm(b)
    np.testing.assert_allclose(res.x, xref, rtol=0, atol=1e-7 * np.abs(xref).max())
    assert res.history["residual"][0] == pytest.approx(np.linalg.norm(b - C @ x0), rel=1e-10)
    plain = solvers.cg(A, b, M=multigrid(A), rtol=1e-9, backend=backend)
    assert plain.history["residual"][0] == pytest.approx(np.linalg.norm(b), rel=1e-12)   # default: zero start


@pytest.mark.parametrize("shape", [(63, 63), (64, 64), (31, 32, 31)])
def test_fmg_start_smooth_right_hand_side_is_close_to_the_solution(shape):
    # a smooth right-hand side (-Laplace u = f for u = prod sin(pi x_a)): the FMG approximation is within a
    # few per cent of the discrete solution (and of the analytic one)
    A = StencilOperator(shape, tuple(1 / (n + 1) for n in shape), backend="numba")
    X = np.meshgrid(*[np.arange(1, n + 1) / (n + 1) for n in shape], indexing="ij")
    u = np.prod([np.sin(np.pi * x) for x in X], axis=0).ravel()
    b = len(shape) * np.pi ** 2 * u
    x0 = multigrid(A, fmg_start=True).initial_guess(b, np.empty(b.size))
    xref = spla.spsolve(A.to_csr().tocsc(), b)
    # 6-point interpolation: 7e-4 - 1e-2 of max |x| (3e-3 - 3e-2 linear), initial residual 7e-4 - 1e-2 ||b||
    assert np.abs(x0 - xref).max() < 0.015 * np.abs(xref).max()
    assert np.abs(x0 - u).max() < 0.015
    assert np.linalg.norm(b - A.to_csr() @ x0) < 0.015 * np.linalg.norm(b)


def test_fmg_start_is_kept_across_backends_and_validated():
    A = StencilOperator((15, 15), 1 / 16, backend="numpy")
    assert multigrid(A, fmg_start=True).with_backend("numba").fmg_start
    with pytest.raises(TypeError, match="fmg_start"):
        multigrid(A, fmg_start="yes")
    with pytest.raises(TypeError, match="fmg_start"):
        multigrid(A, fmg_start=1)


def test_fmg_start_auto_is_on_only_for_large_geometric_hierarchies(monkeypatch):
    """The default ``fmg_start="auto"`` resolves to True only on geometric SPD hierarchies of at least
    ``FMG_AUTO_POINTS`` points in 3-D, ``FMG_AUTO_POINTS_2D`` in 2-D (where the start was measured to pay);
    explicit choices are kept."""
    from solvers.linear import multigrid as mgm

    assert mgm.FMG_AUTO_POINTS == 200_000 and mgm.FMG_AUTO_POINTS_2D == 60_000
    big = StencilOperator((59, 59, 59), 1 / 60, backend="numba")          # 205 379 points
    assert multigrid(big).fmg_start and not multigrid(big, fmg_start=False).fmg_start
    assert not multigrid(StencilOperator((58, 58, 58), 1 / 59, backend="numba")).fmg_start      # 195 112
    assert multigrid(StencilOperator((1024, 1024), 1 / 1025, backend="numba")).fmg_start         # 2-D
    assert multigrid(StencilOperator((245, 245), 1 / 246, backend="numba")).fmg_start           # 60 025
    assert not multigrid(StencilOperator((244, 245), 1 / 246, backend="numba")).fmg_start       # 59 780
    assert not multigrid(StencilOperator((400, 400), 1 / 401, backend="numba"), fmg_start=False).fmg_start
    monkeypatch.setattr(mgm, "FMG_AUTO_POINTS", 1000)
    assert multigrid(StencilOperator((16, 17, 15), 1 / 16, backend="numpy")).fmg_start
    assert not multigrid(_op((16, 17, 15), True, "numpy")).fmg_start                # Galerkin (a jump)
    assert not multigrid(StencilOperator((40, 40), 1 / 41, backend="numpy")).fmg_start
    assert multigrid(StencilOperator((16, 17, 15), 1 / 16, backend="numpy")).with_backend("numba").fmg_start
    assert not multigrid(StencilOperator((16, 17, 15), 1 / 16, backend="numpy"),
                         fmg_start=False).with_backend("numba").fmg_start


def test_default_mg_cg_on_a_large_3d_grid_meets_the_true_residual():
    # 96^3 (the default takes the FMG start there): the true residual b - A x from SciPy's CSR product, and the
    # solution against the analytic one of -Laplace u = f for u = prod sin(pi x_a) (discretisation error O(h^2))
    shape = (96, 96, 96)
    A = StencilOperator(shape, 1 / 97, backend="numba")
    X = np.meshgrid(*[np.arange(1, 97) / 97] * 3, indexing="ij")
    u = np.prod([np.sin(np.pi * x) for x in X], axis=0).ravel()
    b = 3 * np.pi ** 2 * u
    M = multigrid(A)
    assert M.fmg_start
    res = solvers.cg(A, b, M=M, rtol=1e-8, backend="numba")
    assert res.converged and res.nit <= 5       # 6-point FMG interpolation (7 from zero, 6 with the linear one)
    assert res.history["residual"][0] < 1e-2 * np.linalg.norm(b)       # the start's residual (0.5 ||b|| linear)
    assert np.linalg.norm(b - A.to_csr() @ res.x) <= 1e-8 * np.linalg.norm(b)
    assert np.abs(res.x - u).max() < 3 * np.pi ** 2 / 12 / 97 ** 2 * 3      # |u''''| h^2 / 12 per axis, 3 axes


@pytest.mark.parametrize("shape", [(127, 130), (40, 33, 35)])
def test_fmg_start_runs_its_small_levels_in_the_compiled_tail_with_the_recursions_values(shape):
    # the start precedes every cycle, so it plans the compiled tail itself (it ran the Python recursion before);
    # the tail is the same kernels in the same order: the start agrees with the recursion's to rounding
    A = StencilOperator(shape, tuple(1 / (n + 1) for n in shape), backend="numba")
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    M = multigrid(A, fmg_start=True)
    x_tail = M.initial_guess(b, np.empty(b.size))
    assert M._tail, "the hierarchy has levels below SERIAL_BELOW: a tail is planned"
    R = multigrid(A, fmg_start=True)
    R._tail = None                                   # no tail: the Python recursion on every level
    x_rec = R.initial_guess(b, np.empty(b.size))
    np.testing.assert_allclose(x_tail, x_rec, rtol=1e-12, atol=1e-12 * np.abs(x_rec).max())


def test_the_automatic_fmg_start_is_only_for_the_operator_m_was_built_for(monkeypatch):
    # M built for L preconditioning A = L + c I: the FMG approximation of L's solution started CG at 2.6e3 ||b||
    # (68 iterations against 54 from zero at c = 1e5: outside review helper-112); an explicit True is kept
    from solvers.linear import multigrid as mgm

    monkeypatch.setattr(mgm, "FMG_AUTO_POINTS", 1000)
    shape, h = (15, 16, 17), 1 / 18
    L = StencilOperator(shape, h, backend="numba")
    A = StencilOperator(shape, h, shift=1e5, backend="numba")
    b = np.random.default_rng(3).standard_normal(L.shape[0])
    M = multigrid(L)
    assert M.fmg_start and M.start_for(L) and not M.start_for(A)
    assert M.start_for(StencilOperator(shape, h, backend="numba"))            # an equal operator, another object
    res = solvers.cg(A, b, M=M, rtol=1e-8, backend="numba")
    assert res.converged and res.history["residual"][0] == pytest.approx(np.linalg.norm(b), rel=1e-12)
    C = A.to_csr()
    assert np.linalg.norm(b - C @ res.x) <= 1e-8 * np.linalg.norm(b)
    own = solvers.cg(L, b, M=multigrid(L), rtol=1e-8, backend="numba")      # M's own operator: the FMG start
    assert own.history["residual"][0] != pytest.approx(np.linalg.norm(b), rel=1e-6)     # not the zero start
    forced = multigrid(L, fmg_start=True)
    assert forced.start_for(A)
