"""CG from ``x = 0`` with a general preconditioner and no callback (MG-CG's case) leaves ``x`` unwritten and does not
copy ``b`` into ``r``: the first iteration writes them whole (``x = alpha p``, ``r = b - alpha q``). Every exit
before that write must still return a zero, finite ``x``. The pooled work vectors are handed out NaN-filled
here (``solvers._workspace.POISON``), so an exit that returned or read the unwritten ``x`` or ``r`` shows as NaN.
References: SciPy's direct solve and the one-step CG iterate written out by hand."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import solvers
from solvers import _workspace as W

N = 400                       # 400^2 = 160 000 unknowns: the work vectors (1.25 MiB) come from the pool


@pytest.fixture
def poisoned():
    W.POISON = True
    yield
    W.POISON = False


def _poisson2d(n):
    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    e = sp.identity(n)
    return (sp.kron(t, e) + sp.kron(e, t)).tocsr()


def _general(f, n):
    """A preconditioner CG cannot see as a diagonal (a plain operator)."""
    return spla.LinearOperator((n, n), matvec=f, dtype=float)


@pytest.fixture(scope="module")
def system():
    A = _poisson2d(N)
    b = np.random.default_rng(7).standard_normal(A.shape[0])
    return A, b


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lazy_start_solution_matches_spsolve(poisoned, system, backend):
    A, b = system
    d = A.diagonal()
    b_keep = b.copy()
    res = solvers.cg(A, b, M=_general(lambda r: r / d, A.shape[0]), rtol=1e-10, maxiter=5000, backend=backend)
    ref = spla.spsolve(A.tocsc(), b)
    assert res.converged
    assert np.linalg.norm(res.x - ref) <= 1e-7 * np.linalg.norm(ref)
    np.testing.assert_array_equal(b, b_keep)          # b is read, never written


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lazy_start_one_step_is_the_hand_written_iterate(poisoned, system, backend):
    A, b = system
    d = A.diagonal()
    res = solvers.cg(A, b, M=_general(lambda r: r / d, A.shape[0]), maxiter=1, backend=backend)
    p = b / d
    x1 = (b @ p) / (p @ (A @ p)) * p
    assert res.status == "maxiter" and res.nit == 1
    np.testing.assert_allclose(res.x, x1, rtol=1e-12, atol=1e-14 * np.abs(x1).max())
    assert res.history["residual"][-1] == pytest.approx(np.linalg.norm(b - A @ x1), rel=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lazy_start_exact_preconditioner_converges_in_one_step(poisoned, system, backend):
    A, b = system
    lu = spla.splu(A.tocsc())
    res = solvers.cg(A, b, M=_general(lu.solve, A.shape[0]), rtol=1e-9, backend=backend)
    assert res.converged and res.nit == 1
    np.testing.assert_allclose(res.x, lu.solve(b), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_lazy_start_exits_before_the_first_update_return_zero(poisoned, system, backend):
    A, b = system
    n = A.shape[0]
    ident = _general(lambda r: r.copy(), n)
    # M maps everything to zero: r.z = 0 before the first iteration
    res = solvers.cg(A, b, M=_general(lambda r: np.zeros_like(r), n), backend=backend)
    assert res.status == "breakdown" and not res.converged
    np.testing.assert_array_equal(res.x, np.zeros(n))
    # A negative definite: p^T A p < 0 in the first iteration
    res = solvers.cg(-A, b, M=ident, backend=backend)
    assert res.status == "breakdown" and res.nit == 0
    np.testing.assert_array_equal(res.x, np.zeros(n))
    # A's product non-finite in the first iteration
    nan_A = spla.LinearOperator((n, n), matvec=lambda v: np.full(n, np.nan), dtype=float)
    res = solvers.cg(nan_A, b, M=ident, backend=backend)
    assert res.status == "nonfinite"
    np.testing.assert_array_equal(res.x, np.zeros(n))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_preconditioner_writing_into_its_input_leaves_b_alone(poisoned, system, backend):
    """An M that uses its input as scratch on its first call (allowed: nothing says M must not) got the caller's
    b itself from the lazy start: b was halved and CG claimed convergence for b / 2 (helper-110). Only an M that
    promises ``reads_input_only`` (the library's multigrid) reads b itself now."""
    A, b = system
    d = A.diagonal()
    b_keep = b.copy()
    calls = [0]

    def scratch(r):
        z = r / d
        if calls[0] == 0:
            r *= 0.5
        calls[0] += 1
        return z

    res = solvers.cg(A, b, M=_general(scratch, A.shape[0]), rtol=1e-10, maxiter=5000, backend=backend)
    np.testing.assert_array_equal(b, b_keep)
    ref = spla.spsolve(A.tocsc(), b_keep)
    assert res.converged and np.linalg.norm(res.x - ref) <= 1e-7 * np.linalg.norm(ref)
    assert res.history["residual"][-1] == pytest.approx(np.linalg.norm(b_keep - A @ res.x), rel=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_b_that_is_the_operators_own_output_buffer_is_refused(backend):
    """b = A.matvec(x) returned A's reused buffer, passed uncopied: every product overwrote b, and CG reported a
    last residual of 0 against a true 3.9e-9 (the old code) or returned a wrong x under converged=True (the lazy
    start; helper-110). Such a b is refused with an error naming the fix; a copy solves (against spsolve)."""
    n = 300
    S = sp.diags([-1.0, 2.01, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    buf = np.empty(n)

    def mv(v):
        buf[...] = S @ v
        return buf

    A = solvers.operators.FunctionOperator((n, n), mv)
    xt = np.random.default_rng(0).standard_normal(n)
    b = A.matvec(xt)
    M = solvers.operators.FunctionOperator((n, n), lambda r: r / S.diagonal())
    with pytest.raises(ValueError, match="b.copy"):
        solvers.cg(A, b, M=M, rtol=1e-10, backend=backend)
    b = S @ xt
    res = solvers.cg(A, b.copy(), M=M, rtol=1e-10, backend=backend)
    assert res.converged
    ref = spla.spsolve(S.tocsc(), b)
    assert np.linalg.norm(res.x - ref) <= 1e-6 * np.linalg.norm(ref)


def test_strided_neighbour_of_b_is_not_refused():
    """The aliasing test is exact: a product in the column next to b's, in one 2-D array, shares no memory."""
    n = 200
    S = sp.diags([-1.0, 2.01, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    W = np.zeros((n, 2))

    def mv(v):
        W[:, 1] = S @ v
        return W[:, 1]

    W[:, 0] = S @ np.ones(n)
    res = solvers.cg(solvers.operators.FunctionOperator((n, n), mv), W[:, 0], rtol=1e-10)
    assert res.converged
    np.testing.assert_allclose(res.x, np.ones(n), rtol=1e-7)


def test_numba_absmax_of_other_dtypes():
    """The numba absmax reads float64 bit patterns: other dtypes are converted first (helper-110: float32 gave
    32.00000757, an odd-length float32 raised, int64 gave NaN)."""
    from solvers._kernels.numba import krylov as K

    for a in (np.array([1, -3, 2, 0.5], np.float32), np.array([1, -3, 2], np.float32), np.array([1, -7, 2]),
              np.arange(10.0)[::-3], np.asfortranarray(np.eye(3))[:, 1]):
        for fn in (K.absmax_p, K.absmax_s):
            assert fn(a) == np.abs(a).max()
