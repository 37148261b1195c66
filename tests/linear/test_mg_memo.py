"""The memoised coarsening steps of constant-coefficient geometric hierarchies (solvers.linear.multigrid_memo):
shared only where the matrix is fixed by grid and coefficients, equal to the rediscretised operators built
directly, left unchanged by solves, and giving the same solution bits as a hierarchy built without them."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers.linear import multigrid_memo as MM
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator


def _poisson(shape, backend="numba", shift=None, k=1.0):
    return StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), k=k, shift=shift, backend=backend)


def _laplacian(shape, shift=0.0):
    """The 5/7-point Dirichlet Laplacian on the unit box by Kronecker sums (independent of the stencil code)."""
    mats = []
    for n in shape:
        h = 1.0 / (n + 1)
        mats.append(sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1]) / h ** 2)
    A = sp.csr_matrix((int(np.prod(shape)),) * 2)
    for a, T in enumerate(mats):
        left = sp.identity(int(np.prod(shape[:a])))
        right = sp.identity(int(np.prod(shape[a + 1:])))
        A = A + sp.kron(sp.kron(left, T), right)
    return (A + shift * sp.identity(A.shape[0])).tocsr()


@pytest.mark.parametrize("shape", [(64, 64), (65, 33), (17, 18, 16)])
def test_memoised_levels_are_shared_and_equal_to_the_rediscretised_laplacian(shape):
    MM.clear()
    A = _poisson(shape)
    M1, M2 = multigrid(A, max_coarse=1), multigrid(A, max_coarse=1)
    assert len(M1.levels) == len(M2.levels) >= 3
    for l1, l2 in zip(M1.levels[1:], M2.levels[1:]):
        assert l1.A is l2.A                       # memoised: the same coarse operator
        C = l1.A.to_csr()
        ref = _laplacian(l1.shape)
        assert abs(C - ref).max() <= 1e-12 * abs(ref).max()
    for l1, l2 in zip(M1.levels[:-1], M2.levels[:-1]):
        assert all(a is b for a, b in zip(l1.P, l2.P)) and all(a is b for a, b in zip(l1.R, l2.R))
    assert M1.levels[1].u is not M2.levels[1].u   # buffers are the hierarchy's own


def test_memo_keys_on_the_coefficients_and_skips_other_operators():
    MM.clear()
    shape = (63, 63)
    Ms = multigrid(_poisson(shape, shift=3.0), max_coarse=1)
    M0 = multigrid(_poisson(shape), max_coarse=1)
    assert Ms.levels[1].A is not M0.levels[1].A
    ref = _laplacian(Ms.levels[1].shape, shift=3.0)
    assert abs(Ms.levels[1].A.to_csr() - ref).max() <= 1e-12 * abs(ref).max()
    Mk = multigrid(_poisson(shape, k=2.0), max_coarse=1)
    np.testing.assert_allclose(Mk.levels[2].A.to_csr().toarray(), 2.0 * _laplacian(Mk.levels[2].shape).toarray(),
                               rtol=1e-12)

    class Sub(StencilOperator):
        pass

    S = Sub(shape, (1 / 64, 1 / 64))
    Ma, Mb = multigrid(S, max_coarse=1), multigrid(S, max_coarse=1)
    assert Ma.levels[1].A is not Mb.levels[1].A   # a subclass may assemble another matrix: not memoised
    kf = [np.full(tuple(n + 1 if b == a else n for b, n in enumerate(shape)), 1.0) for a in range(2)]
    V = StencilOperator(shape, (1 / 64, 1 / 64), k=kf)
    Va, Vb = multigrid(V, max_coarse=1, coarsening="geometric"), multigrid(V, max_coarse=1, coarsening="geometric")
    assert Va.levels[1].A is not Vb.levels[1].A   # face arrays: not memoised
    n0 = len(MM._STEPS)
    multigrid(_poisson(shape, backend="numpy"), max_coarse=1)
    assert len(MM._STEPS) > n0                    # per backend


@pytest.mark.parametrize("shape", [(96, 96), (24, 24, 24)])
def test_solves_leave_the_memo_unchanged_and_match_a_fresh_hierarchy(shape):
    MM.clear()
    A = _poisson(shape)
    b = np.sin(np.arange(A.shape[0]) * 0.37) + 1.0
    r1 = solvers.cg(A, b, M=multigrid(A), rtol=1e-10, backend="numba")
    M = multigrid(A)
    saved = [[np.array(t, copy=True) for t in lev.P + lev.R] for lev in M.levels[:-1]]
    r2 = solvers.cg(A, b, M=M, rtol=1e-10, backend="numba")      # a memo hit
    for lev, tabs in zip(M.levels[:-1], saved):
        for t, t0 in zip(lev.P + lev.R, tabs):
            np.testing.assert_array_equal(t, t0)                  # the shared tables were not written
    MM.clear()
    r3 = solvers.cg(A, b, M=multigrid(A), rtol=1e-10, backend="numba")   # built afresh
    assert r1.converged and r2.converged and r3.converged
    np.testing.assert_array_equal(r2.x, r3.x)
    np.testing.assert_array_equal(r1.x, r2.x)
    x = sp.linalg.spsolve(_laplacian(shape).tocsc(), b)
    assert np.linalg.norm(r2.x - x) <= 1e-7 * np.linalg.norm(x)
