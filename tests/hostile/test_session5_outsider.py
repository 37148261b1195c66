"""Outside tests (session 5) of three paths changed on 2026-11-30, each against an independent reference.

1. The compiled multigrid tail (``solvers/_kernels/numba/mgtail.py``): bit-identical to the Python
   recursion on tiny, thin, anisotropic and extreme-coefficient grids; MG-CG against a sparse direct
   solve; hostile right-hand sides (complex, NaN, other real dtypes, strided).
2. The Chebyshev-Tucker table route (point-major tables, unrolled order-8 weights): against the direct
   Chebyshev sums (``numpy.polynomial.chebyshev.chebval`` per factor column, contracted with the core by
   ``einsum``) within the route's own stated bound ``table_info()["f_bound"]``, at ranks that are not
   multiples of 4, d = 1..4, both table orders, box corners and points 1 ulp inside, batch sizes around
   the block size, non-[-1, 1] boxes, and point arrays of other layouts and dtypes.
3. The single-SVD automatic start of ``sketched_newton``: ``least_squares_multipliers`` against
   ``numpy.linalg.lstsq(J.T, -g, rcond=None)`` (minimum norm) on rank-deficient, zero-row, m > n and
   badly scaled ``J``; ``reduced_hessian_shift`` against ``scipy.linalg.null_space``; solves of small
   QPs against the analytic KKT solution.
"""
import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.polynomial import chebyshev as npcheb

import solvers
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator


# ---------------------------------------------------------------------------------------------- multigrid
def _stencil(shape, h=None, k=1.0):
    h = h if h is not None else tuple(1.0 / (n + 1) for n in shape)
    return StencilOperator(shape, h, k=k, backend="numba")


def _same(a, b):
    """Tail and recursion agree to rounding. Not bitwise: which FMA contractions LLVM applies to a kernel
    helper inlined in both can depend on the order the Numba cache loaded them (1e-13 relative once seen
    after kernel edits invalidated the cache, not reproducible afterwards), so the comparison allows
    1e-12 of the largest entry -- far below any algorithmic difference (a level or sweep out of order
    changes the cycle at 1e-2)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()


def _tail_and_recursion(A, **kw):
    M, R = multigrid(A, **kw), multigrid(A, **kw)
    R._tail = None                                    # force the Python recursion
    return M, R


@pytest.mark.parametrize("shape, h, k", [
    ((3, 3), None, 1.0), ((2, 5), None, 1.0), ((1, 50), None, 1.0), ((2, 200), None, 1.0),
    ((17, 1023), None, 1.0), ((4, 4, 4), None, 1.0), ((1, 1, 30), None, 1.0), ((3, 31, 63), None, 1.0),
    ((31, 31), (1.0, 0.01), 1.0), ((9, 9, 9), (0.01, 1.0, 1.0), 1.0),
    ((31, 31), None, 1e-200), ((31, 31), None, 1e200), ((9, 9, 9), None, 1e-300), ((100, 37), None, 1e20)])
def test_mg_tail_bitwise_on_hostile_grids(rng, shape, h, k):
    A = _stencil(shape, h, k)
    M, R = _tail_and_recursion(A)
    x = rng.standard_normal(A.shape[0])
    _same(M.matvec(x), R.matvec(x))
    o1, o2 = np.empty_like(x), np.empty_like(x)
    assert M.matvec_dot(x, o1) == pytest.approx(R.matvec_dot(x, o2), rel=1e-12, abs=0)
    _same(o1, o2)


@pytest.mark.parametrize("kw", [dict(nu=3), dict(nu=(1, 2, 4)), dict(max_coarse=1), dict(max_coarse=2000),
                                dict(max_levels=2, max_coarse=1), dict(cycle="W"), dict(coarsening="galerkin")])
def test_mg_tail_bitwise_across_options(rng, kw):
    for shape in [(31, 31), (9, 9, 9)]:
        A = _stencil(shape)
        M, R = _tail_and_recursion(A, **kw)
        x = rng.standard_normal(A.shape[0])
        _same(M.matvec(x), R.matvec(x))


def test_mg_tail_rejects_complex_input_instead_of_dropping_the_imaginary_part(rng):
    """Found here: a complex r reached the compiled tail, which cast it to float64 (a ComplexWarning
    only) and returned M Re(r) as if it were M r; the recursion fails in Numba typing instead."""
    A = _stencil((31, 31))
    M = multigrid(A)
    x = rng.standard_normal(A.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="complex"):
            M.matvec(x + 1j * x)


def test_mg_tail_other_real_dtypes_and_layouts_match_float64(rng):
    A = _stencil((31, 31))
    M, R = _tail_and_recursion(A)
    x = np.round(10 * rng.standard_normal(A.shape[0]))
    y = M.matvec(x)
    for r in (x.astype(np.float32), x.astype(np.int64), np.repeat(x, 2)[::2]):
        np.testing.assert_array_equal(M.matvec(r), y)
        _same(R.matvec(r), y)
    buf = np.zeros(2 * x.size)                          # a strided output
    M.matvec_into(x, buf[::2])
    np.testing.assert_array_equal(buf[::2], y)


def test_mg_tail_nan_propagates_like_the_recursion(rng):
    A = _stencil((15, 15))
    M, R = _tail_and_recursion(A)
    x = rng.standard_normal(A.shape[0])
    x[7] = np.nan
    y = M.matvec(x)
    assert np.isnan(y).any()
    z = R.matvec(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(z))
    if np.isfinite(y).any():
        _same(y[np.isfinite(y)], z[np.isfinite(z)])


def test_mg_tail_pickled_twice_and_reused(rng):
    A = _stencil((63, 63))
    M = multigrid(A)
    x = rng.standard_normal(A.shape[0])
    y = M.matvec(x)
    M2 = pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(M))))
    np.testing.assert_array_equal(M2.matvec(x), y)
    np.testing.assert_array_equal(M2.matvec(x), y)     # reuse after the re-plan


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (31, 17), (7, 9, 5)])
def test_mg_cg_against_sparse_direct_solve(rng, shape):
    from problems import pde

    p = pde.Poisson(shape)
    A = p.operator("numba")
    b = rng.standard_normal(A.shape[0])
    res = solvers.cg(A, b, M=multigrid(A), rtol=1e-12)
    x_ref = spla.spsolve(p.csr().tocsc(), b)
    assert res.converged
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-9 * np.abs(x_ref).max())


@pytest.mark.parametrize("shape, shift", [((31, 31), -5.0), ((31, 31), 1e300), ((9, 9, 9), 50.0)])
def test_mg_tail_bitwise_with_a_shift(rng, shape, shift):
    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), shift=shift, backend="numba")
    M, R = _tail_and_recursion(A)
    x = rng.standard_normal(A.shape[0])
    np.testing.assert_array_equal(M.matvec(x), R.matvec(x))
    assert M._tail


def test_mg_tail_under_a_parallel_top_level_with_fmg_start(rng):
    """A top level above SERIAL_BELOW and the next below it (4800 points, then 39 x 29: the tail from level
    1); the FMG start (which cycles the coarse levels itself) and MG-CG must equal the recursion's and the
    sparse direct solution."""
    from problems import pde
    from solvers._kernels.numba import mgtail

    p = pde.Poisson((80, 60))
    assert 80 * 60 >= mgtail.SERIAL_BELOW > 39 * 29
    A = p.operator("numba")
    b = rng.standard_normal(A.shape[0])
    M, R = _tail_and_recursion(A, fmg_start=True)
    M.matvec(b)
    assert M._tail and M._tail[0] == 1
    g1, g2 = np.empty_like(b), np.empty_like(b)
    M.initial_guess(b, g1)
    R.initial_guess(b, g2)
    np.testing.assert_array_equal(g1, g2)
    res = solvers.cg(A, b, M=M, rtol=1e-10)
    x_ref = spla.spsolve(p.csr().tocsc(), b)
    assert res.converged
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())


# ------------------------------------------------------------------------------------------ Chebyshev-Tucker
def _direct(core, factors, dom, X):
    """The interpolant by direct Chebyshev sums: chebval per factor column, contracted by einsum."""
    rows = []
    for i, A in enumerate(factors):
        lo, hi = dom[i]
        t = np.clip((2.0 * X[:, i] - (hi + lo)) / (hi - lo), -1.0, 1.0)
        rows.append(np.stack([npcheb.chebval(t, A[:, j]) for j in range(A.shape[1])], axis=1))
    ls = "abcd"[:len(factors)]
    return np.einsum(ls + "," + ",".join("n" + c for c in ls) + "->n", core, *rows)


def _random_ct(rng, d, r, m, decay):
    factors = [rng.standard_normal((m, r)) * (decay ** np.arange(m))[:, None] for _ in range(d)]
    return rng.standard_normal((r,) * d), factors


def _points(rng, dom, N):
    dom = np.asarray(dom, dtype=float)
    X = rng.uniform(dom[:, 0], dom[:, 1], (N, len(dom)))
    k = min(N, 2 ** len(dom))
    for j in range(k):                                        # corners
        X[j] = [dom[i, (j >> i) & 1] for i in range(len(dom))]
    if N > k + 2:                                             # 1 ulp inside the upper and lower faces
        X[k] = np.nextafter(dom[:, 1], -np.inf)
        X[k + 1] = np.nextafter(dom[:, 0], np.inf)
    return X


def _check_table(ct, core, factors, dom, X):
    info = ct.table_info()
    assert info is not None and ct.eval_route == "table"
    ref = _direct(core, factors, dom, X)
    y = ct(X)
    assert y.shape == (X.shape[0],)
    # the route's stated bound (twice, for the bound's own estimate of the row norms) plus rounding
    lim = 2.0 * info["f_bound"] + 1e-13 * max(1.0, np.abs(ref).max())
    assert np.abs(y - ref).max() <= lim, (np.abs(y - ref).max(), lim)
    return info


@pytest.mark.parametrize("d, r", [(1, 1), (1, 33), (2, 3), (2, 13), (2, 21), (3, 5), (3, 7), (4, 2), (4, 3),
                                  (4, 5)])
@pytest.mark.parametrize("dom0", [(-1.0, 1.0), (2.0, 5.0), (-1e150, 1e150), (1.0, 1.0 + 1e-9)])
def test_table_route_order8_against_direct_sums(d, r, dom0):
    rng = np.random.default_rng(100 * d + r)
    core, factors = _random_ct(rng, d, r, max(30, r), 0.7)
    dom = [dom0] * d
    ct = solvers.approx.ChebTucker(core, factors, dom, tol=1e-8, eval_method="table")
    for N in (1, 255, 257):
        info = _check_table(ct, core, factors, dom, _points(rng, dom, N))
    assert info["order"] == 8


@pytest.mark.parametrize("d, r", [(1, 7), (2, 5), (2, 13), (3, 3)])
def test_table_route_order16_against_direct_sums(d, r):
    rng = np.random.default_rng(7 * d + r)
    core, factors = _random_ct(rng, d, r, 1500, 0.99)         # slowly decaying: order 8 needs > 4096 cells
    dom = [(-3.0, 11.0)] * d
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct = solvers.approx.ChebTucker(core, factors, dom, tol=1e-10, eval_method="table")
        info = _check_table(ct, core, factors, dom, _points(rng, dom, 333))
    assert info["order"] == 16


def test_table_route_point_layouts_and_dtypes():
    rng = np.random.default_rng(3)
    d, r = 3, 7
    core, factors = _random_ct(rng, d, r, 30, 0.7)
    dom = [(0.0, 2.0)] * d
    ct = solvers.approx.ChebTucker(core, factors, dom, tol=1e-8, eval_method="table")
    X = rng.uniform(0.0, 2.0, (300, d))
    y = ct(X)
    lim = 2.0 * ct.table_info()["f_bound"] + 1e-12
    ref = _direct(core, factors, dom, X)
    assert np.abs(y - ref).max() <= lim
    for Xv in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2], np.concatenate([X, X], axis=1)[:, :d]):
        np.testing.assert_array_equal(ct(Xv), y)
    X32 = X.astype(np.float32)
    assert np.abs(ct(X32) - _direct(core, factors, dom, X32.astype(float))).max() <= lim
    Xi = np.ones((5, d), dtype=np.int64)
    assert np.abs(ct(Xi) - _direct(core, factors, dom, Xi.astype(float))).max() <= lim
    assert ct(np.empty((0, d))).shape == (0,)
    np.testing.assert_allclose(ct(X[0]), y[:1], rtol=0, atol=0)
    bad = X[:3].copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ct(bad)
    with pytest.raises(TypeError):
        ct(X.astype(complex))
    with pytest.raises(ValueError, match="shape"):
        ct(np.ones((3, d + 1)))
    ct2 = pickle.loads(pickle.dumps(ct))
    np.testing.assert_array_equal(ct2(X), y)


# ------------------------------------------------------------------------------------ sketched_newton start
def _lstsq_ref(J, g):
    return np.linalg.lstsq(np.asarray(J, dtype=float).T, -np.asarray(g, dtype=float), rcond=None)[0]


@pytest.mark.parametrize("m, n", [(3, 5), (5, 5), (8, 5), (1, 1), (1, 10), (10, 1), (40, 60)])
@pytest.mark.parametrize("kind", ["full", "duplicate", "zero_row", "dependent", "all_zero", "sparse", "scaled"])
def test_least_squares_multipliers_against_min_norm_lstsq(m, n, kind):
    from solvers.nonlinear._nlp import least_squares_multipliers

    rng = np.random.default_rng(m * 100 + n)
    J = rng.standard_normal((m, n))
    g = rng.standard_normal(n)
    if kind == "duplicate" and m > 1:
        J[1] = J[0]
    elif kind == "zero_row":
        J[0] = 0.0
    elif kind == "dependent" and m > 2:
        J[-1] = 2.0 * J[0] - 3.0 * J[1]
    elif kind == "all_zero":
        J[:] = 0.0
    elif kind == "scaled":
        J *= 1e-40
        g *= 1e-40
    lam = least_squares_multipliers(g, sp.csr_matrix(J) if kind == "sparse" else J)
    ref = _lstsq_ref(J, g)
    assert lam is not None and lam.shape == (m,)
    np.testing.assert_allclose(lam, ref, rtol=0, atol=1e-9 * max(np.abs(ref).max(), 1e-300))


def test_least_squares_multipliers_hostile_values():
    from solvers.nonlinear._nlp import least_squares_multipliers

    rng = np.random.default_rng(0)
    J = rng.standard_normal((3, 5))
    g = rng.standard_normal(5)
    for Jb, gb in [(np.where(np.eye(3, 5) > 0, np.nan, J), g), (np.where(np.eye(3, 5) > 0, np.inf, J), g),
                   (J, np.where(np.arange(5) == 1, np.nan, g)), (J * 1e-150, g)]:
        assert least_squares_multipliers(gb, Jb) is None       # not finite, or above 1e100: no estimate
    for Jb, gb in [((J * 10).astype(np.int64), g), (J.astype(np.float32), g.astype(np.float32)), (J * 1e150, g)]:
        ref = _lstsq_ref(Jb, gb)
        np.testing.assert_allclose(least_squares_multipliers(gb, Jb), ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize("n, m", [(5, 2), (6, 6), (4, 7), (8, 3), (1, 1)])
@pytest.mark.parametrize("kind", ["full", "duplicate", "zero_row", "indefinite", "tiny", "huge"])
def test_reduced_hessian_shift_against_null_space(n, m, kind):
    from solvers.backends import get_backend
    from solvers.nonlinear._kkt import NewtonSystem

    rng = np.random.default_rng(10 * n + m)
    B = rng.standard_normal((n, n))
    H = B + B.T - (3.0 * np.eye(n) if kind == "indefinite" else 0.0)
    J = rng.standard_normal((m, n))
    if kind == "duplicate" and m > 1:
        J[1] = J[0]
    elif kind == "zero_row":
        J[0] = 0.0
    elif kind == "tiny":
        J *= 1e-150
    elif kind == "huge":
        J *= 1e150
    t, lam_min, _ = NewtonSystem(H, J, get_backend("numpy")).reduced_hessian_shift(0.1)
    Z = sla.null_space(J, rcond=max(J.shape) * np.finfo(float).eps)
    hn = max(1.0, np.linalg.norm(H, 2))
    if Z.shape[1] == 0:
        assert t == 0.0 and lam_min == np.inf
        return
    lam_ref = np.linalg.eigvalsh(Z.T @ H @ Z)[0]
    t_ref = 0.0 if lam_ref > 1e-8 * hn else 0.1 * hn - lam_ref
    assert abs(lam_min - lam_ref) <= 1e-10 * hn and abs(t - t_ref) <= 1e-10 * hn


class _QP:
    """``min 1/2 x^T Q x + q^T x  s.t.  A x = b`` (picklable parts)."""

    def __init__(self, Q, q, A, b):
        self.Q, self.q, self.A, self.b = Q, q, A, b

    def f(self, x):
        return 0.5 * x @ self.Q @ x + self.q @ x

    def grad(self, x):
        return self.Q @ x + self.q

    def c(self, x):
        return self.A @ x - self.b

    def jac(self, x):
        return self.A

    def jac_sparse(self, x):
        return sp.csr_matrix(self.A)

    def hess(self, x, lam):
        return self.Q


@pytest.mark.parametrize("n, m, kind", [(5, 2, "full"), (6, 6, "full"), (10, 4, "duplicate"), (10, 4, "zero_row"),
                                        (6, 3, "sparse"), (3, 5, "overdetermined"), (4, 1, "indefinite")])
def test_sketched_newton_automatic_start_solves_qps_to_the_kkt_solution(n, m, kind):
    from problems.nlp.problem import EqualityConstrainedProblem

    rng = np.random.default_rng(n + 10 * m)
    B = rng.standard_normal((n, n))
    Q = B @ B.T + np.eye(n)
    q = rng.standard_normal(n)
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    if kind == "duplicate":
        A[1], b[1] = A[0], b[0]
    elif kind == "zero_row":
        A[1], b[1] = 0.0, 0.0
    elif kind == "overdetermined":
        b = A @ rng.standard_normal(n)                  # consistent m > n
    elif kind == "indefinite":                          # Q indefinite, positive definite on null(A)
        Q = np.diag([1.0, 1.0, -1.0, 2.0])
        A = np.array([[0.0, 0.0, 1.0, 0.0]])
    qp = _QP(Q, q, A, b)
    P = EqualityConstrainedProblem(qp.f, qp.grad, qp.c, qp.jac_sparse if kind == "sparse" else qp.jac, qp.hess,
                                   rng.standard_normal(n))
    res = solvers.sketched_newton(P, sketch=None, tol=1e-10)
    K = np.block([[Q, A.T], [A, np.zeros((m, m))]])
    x_ref = np.linalg.lstsq(K, np.concatenate([-q, b]), rcond=None)[0][:n]
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * max(1.0, np.abs(x_ref).max()))


_DEGREE0 = """
import numpy as np, solvers
core, A, B = np.array([[2.0]]), np.array([[3.0]]), np.array([[-0.5]])
ct = solvers.approx.ChebTucker(core, [A, B], [(-1.0, 1.0), (0.0, 2.0)], eval_method="{route}")
X = np.random.default_rng(0).uniform(0.0, 1.0, (700, 2))
y = ct(X)
g = ct.gradient(X)
assert np.abs(y + 3.0).max() <= 1e-13 and np.abs(g).max() <= 1e-13, (y[:3], g[:3])
print("ok")
"""


@pytest.mark.parametrize("route", ["chebyshev"])   # the table route itself is fine; its table_info check runs
                                                # the same Chebyshev kernel, but that corruption aborts only at times
def test_chebtucker_all_degree_zero_factors_do_not_corrupt_the_heap(route):
    """Found here: ``ChebTucker(core, factors, ...)`` with every factor of one row (degree 0, a constant:
    the value is core * A * B = -3, the gradient 0) aborts the process ("double free or corruption") on the
    Numba backend (10 of 10 runs, 1 and 2 threads); the table route's ``table_info`` check runs the same
    kernel. Run in a subprocess so that the abort cannot take the test run with it."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _DEGREE0.format(route=route)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, (proc.returncode, proc.stderr[-300:])


def test_mg_tail_equals_the_recursion_in_a_fresh_process_with_the_tail_first():
    """Session 22: in a fresh process whose Numba cache is warm, running the compiled tail before the Python
    recursion loaded the tail's own copy of the serial kernels (Numba resolves a function two libraries define
    to the first one loaded), and the tail then differed from the recursion in the last bit. The multigrid
    preconditioner now loads the kernels first; checked here in a subprocess, tail first."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from solvers.linear.multigrid import multigrid\n"
            "from solvers.operators import StencilOperator\n"
            "for shape in [(31, 31), (9, 9, 9)]:\n"
            "    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), k=1.0, backend='numba')\n"
            "    M, R = multigrid(A), multigrid(A)\n"
            "    R._tail = None\n"
            "    x = np.round(10 * np.random.default_rng(0).standard_normal(A.shape[0]))\n"
            "    y = M.matvec(x)\n"
            "    assert M._tail, 'no compiled tail'\n"
            "    assert np.array_equal(y, R.matvec(x)), shape\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
