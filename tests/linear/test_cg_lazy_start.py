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
