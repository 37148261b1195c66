"""The FMG interpolation of :mod:`solvers.linear.multigrid_iterate` (``FMG_ORDER``-point Lagrange tables on the
uniform vertex grids of the geometric hierarchy) and the kernel sets' ``interpolate``.

References: polynomial exactness (a degree ``m - 1`` polynomial vanishing on the Dirichlet boundary is
reproduced at every fine point, to rounding), and a dense Kronecker product of the 1-D tables (NumPy ``kron``)
for the tensor kernels of the NumPy, Numba and (emulated) CuPy sets."""
import numpy as np
import pytest

from solvers.linear import multigrid_iterate as it
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator

SIZES = [(128, 63), (127, 63), (96, 47), (40, 19), (9, 4), (5, 2), (3, 1), (2, 1), (7, 7)]


def _poly(x, deg):
    """``x (1 - x) q(x)``, ``q`` of degree ``deg - 2`` (fixed coefficients): zero at both ends, degree ``deg``."""
    q = np.polynomial.Polynomial([0.3, -1.1, 0.7, 2.0, -1.3][:max(deg - 1, 1)])
    return x * (1 - x) * q(x)


@pytest.mark.parametrize("n, nc", SIZES)
def test_lagrange_tables_reproduce_polynomials_of_their_degree(n, nc):
    pi, pw = it._lagrange_1d(n, nc, it.FMG_ORDER)
    assert pi.shape == pw.shape == (n, it.FMG_ORDER)
    assert pi.min() >= 0 and pi.max() <= nc - 1
    xf, xc = np.arange(1, n + 1) / (n + 1), np.arange(1, nc + 1) / (nc + 1)
    m = min(it.FMG_ORDER, nc + 2)                                  # the boundary nodes count
    for deg in range(2, m):                                        # up to degree m - 1
        got = (pw * _poly(xc, deg)[pi]).sum(axis=1)
        np.testing.assert_allclose(got, _poly(xf, deg), rtol=0, atol=1e-13)
    # local: every weight sits on a coarse node within m / 2 coarse spacings of its fine point, m - 1 next to
    # the boundary (one-sided there)
    d = np.abs(xc[pi] - xf[:, None]) * (nc + 1)
    edge = (xf < (m / 2) / (nc + 1)) | (xf > 1 - (m / 2) / (nc + 1))
    lim = np.where(edge, m - 1, m / 2)[:, None] + 1e-9
    assert not np.any((d > lim) & (pw != 0.0))


def test_lagrange_tables_are_one_degree_short_of_exact_beyond_it():
    # degree m is not reproduced (the tables are not accidentally of a higher order than stated): the error of
    # x (1 - x) q(x), q of degree m - 2, is O(h^m), small but far above rounding
    n, nc = 128, 63
    pi, pw = it._lagrange_1d(n, nc, it.FMG_ORDER)
    xf, xc = np.arange(1, n + 1) / (n + 1), np.arange(1, nc + 1) / (nc + 1)
    deg = it.FMG_ORDER
    err = np.abs((pw * _poly(xc, deg)[pi]).sum(axis=1) - _poly(xf, deg)).max()
    assert 1e-12 < err < 1e-6


def test_identity_axis_and_memoised_copies():
    pi, pw = it._lagrange_1d(7, 7, 6)
    np.testing.assert_array_equal(pi[:, 0], np.arange(7))
    np.testing.assert_array_equal(pw, np.eye(1, 6)[[0] * 7])
    assert it._lagrange_1d(128, 63, 6) is it._lagrange_1d(128, 63, 6)      # memoised (fmg_tables copies)


def _dense(pi, pw, nc):
    D = np.zeros((pi.shape[0], nc))
    np.add.at(D, (np.repeat(np.arange(pi.shape[0]), pi.shape[1]), pi.ravel()), pw.ravel())
    return D


def _kron_ref(e, T):
    D = [_dense(T[2 * a], T[2 * a + 1], e.shape[a]) for a in range(e.ndim)]
    K = D[0]
    for Da in D[1:]:
        K = np.kron(K, Da)
    return (K @ e.ravel()).reshape(tuple(Da.shape[0] for Da in D))


def _tables(shape, cshape, order=6):
    T = []
    for n, nc in zip(shape, cshape):
        T += list(it._lagrange_1d(n, nc, order))
    return tuple(T)


CASES = [((128, 63), (63, 31)), ((33, 40), (16, 19)), ((20, 17, 23), (9, 8, 11)), ((16, 7, 15), (7, 7, 7)),
         ((5, 6, 9), (2, 2, 4))]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("shape, cshape", CASES)
@pytest.mark.parametrize("order", [6, 4])
def test_interpolate_kernels_match_a_dense_kronecker_product(backend, shape, cshape, order):
    from solvers.backends import get_backend

    K = get_backend(backend).kernels("multigrid")
    rng = np.random.default_rng(sum(shape) + order)
    T = _tables(shape, cshape, order)
    e = rng.standard_normal(cshape)
    u = np.full(shape, np.nan)                         # written whole
    K.interpolate(e, u, T, K.prolong_work(shape, cshape))
    np.testing.assert_allclose(u, _kron_ref(e, T), rtol=1e-13, atol=1e-13)
    u2 = np.full(shape, np.nan)
    K.interpolate(e, u2, T, None)                      # no work array: the general route
    np.testing.assert_allclose(u2, u, rtol=1e-13, atol=1e-13)


def test_fmg_tables_only_on_constant_coefficient_levels():
    A = StencilOperator((31, 30, 29), 1 / 32, backend="numpy")
    M = multigrid(A, fmg_start=True)
    T = it.fmg_tables(M)
    assert len(T) == len(M.levels) - 1 and all(t is not None and len(t) == 6 for t in T)
    assert all(t.shape[1] == it.FMG_ORDER for tab in T for t in tab)
    shape = (31, 30, 29)                               # smooth variable k (geometric, averaged): the cycle's P
    k = [1.0 + 0.3 * np.random.default_rng(a).random(tuple(n + 1 if b == a else n for b, n in enumerate(shape)))
         for a in range(3)]
    Mv = multigrid(StencilOperator(shape, 1 / 32, k=k, backend="numpy"), fmg_start=True)
    assert Mv.kind == "geometric" and all(t is None for t in it.fmg_tables(Mv))
    fshapes = [tuple(n + 1 if b == a else n for b, n in enumerate(shape)) for a in range(3)]
    kj = [np.where(np.indices(fs)[0] < 12, 1.0, 1e4) for fs in fshapes]          # a jump across axis 0
    Mg = multigrid(StencilOperator(shape, 1 / 32, k=kj, backend="numpy"), fmg_start=True)
    assert Mg.kind == "galerkin" and all(t is None for t in it.fmg_tables(Mg))


@pytest.mark.parametrize("shape", [(30, 28, 31), (255, 254)])
def test_high_order_start_beats_the_linear_one_and_keeps_the_direct_solution(shape, monkeypatch):
    # f = 1 (the benchmark's Poisson): the 6-point start's residual is much smaller than the linear one's (18x at
    # 30x28x31, 60x at 128^3), and
    # MG-CG from it reaches SciPy's sparse direct solution
    import scipy.sparse.linalg as spla

    import solvers

    A = StencilOperator(shape, tuple(1 / (n + 1) for n in shape), backend="numba")
    b = np.ones(A.shape[0])
    C = A.to_csr()
    hi = multigrid(A, fmg_start=True).initial_guess(b, np.empty(b.size))
    monkeypatch.setattr(it, "fmg_tables", lambda M: [None] * (len(M.levels) - 1))
    lo = multigrid(A, fmg_start=True).initial_guess(b, np.empty(b.size))
    rh, rl = (np.linalg.norm(b - C @ x) / np.linalg.norm(b) for x in (hi, lo))
    assert rl > 0.2 and rh < rl / 10
    monkeypatch.undo()
    res = solvers.cg(A, b, M=multigrid(A, fmg_start=True), rtol=1e-9, backend="numba")
    assert res.converged and res.history["residual"][0] == pytest.approx(rh * np.linalg.norm(b), rel=1e-9)
    xref = spla.spsolve(C.tocsc(), b)
    np.testing.assert_allclose(res.x, xref, rtol=0, atol=1e-7 * np.abs(xref).max())


def _perturbed(pi, pw, rows, rng):
    """The table with the rows ``rows`` given other (valid) indices and weights: the parity run breaks there."""
    pi, pw = pi.copy(), pw.copy()
    nc = int(pi.max()) + 1
    for k in rows:
        pi[k] = rng.permutation(nc)[:pi.shape[1]] if nc >= pi.shape[1] else rng.integers(0, nc, pi.shape[1])
        pw[k] = rng.standard_normal(pi.shape[1])
    return pi, pw


@pytest.mark.parametrize("n, nc", [(128, 63), (127, 63), (40, 19), (9, 4)])
def test_parity_form_describes_exactly_the_rows_it_claims(n, nc):
    """The Numba stage-A fast path (:func:`solvers._kernels.numba.mginterp.parity_form`): every fine point of the
    run reads the six consecutive coarse points it says, with the table's weights; uniform tables have a run
    covering all but a few end points."""
    from solvers._kernels.numba import mginterp

    pi, pw = it._lagrange_1d(n, nc, 6)
    m0, m1, o, WT = mginterp.parity_form(pi, pw)
    for m in range(m0, m1):
        for q in range(2):
            np.testing.assert_array_equal(pi[2 * m + q], m + o[q] + np.arange(6))
            np.testing.assert_array_equal(WT[q, :, m], pw[2 * m + q])
    if n >= 40:
        assert 2 * m0 <= 6 and n - 2 * m1 <= 7


@pytest.mark.parametrize("shape, cshape, broken", [((63, 128), (31, 63), [65]), ((63, 128), (31, 63), [3, 126]),
                                                   ((63, 128), (31, 63), [40]), ((40, 21, 33), (19, 10, 16), [20, 21]),
                                                   ((64, 40), (31, 19), "all")])
def test_interpolate_without_the_parity_structure_gathers(shape, cshape, broken):
    """Tables whose last-axis rows break the parity run (at the middle point it starts from, near its ends,
    inside it, everywhere) against the dense Kronecker reference: the Numba kernels fall back to gathering wherever the structure does not hold."""
    from solvers.backends import get_backend

    K = get_backend("numba").kernels("multigrid")
    rng = np.random.default_rng(len(shape) + shape[-1])
    T = list(_tables(shape, cshape))
    rows = range(shape[-1]) if broken == "all" else broken
    T[-2], T[-1] = _perturbed(T[-2], T[-1], rows, rng)
    T = tuple(T)
    e = rng.standard_normal(cshape)
    u = np.full(shape, np.nan)
    K.interpolate(e, u, T, K.prolong_work(shape, cshape))
    np.testing.assert_allclose(u, _kron_ref(e, T), rtol=1e-12, atol=1e-12 * np.abs(e).max() * 10)
