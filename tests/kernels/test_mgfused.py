"""The fused pre-smoothing + residual + restriction pass (``multigrid.smooth_residual_restrict``; Numba:
:mod:`solvers._kernels.numba.mgfused`) against an independent reference: pointwise red-black Gauss-Seidel
from zero on the assembled SciPy matrix, the residual ``f - A u`` from that matrix, and the restriction
``c P^T`` with ``P`` the Kronecker product of 1-D linear interpolation between the uniform vertex grids
(built with :func:`numpy.interp`, not from the kernels' tables); several plane ranges (threads' chunks); 3-D
grids and the 2-D row twin."""
import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("numba")

from solvers._kernels.numba import mgfused  # noqa: E402
from solvers._kernels.numba import multigrid as NM  # noqa: E402
from solvers._kernels.numpy import multigrid as RM  # noqa: E402
from solvers.linear.multigrid import multigrid  # noqa: E402
from solvers.operators import StencilOperator  # noqa: E402


def _gs_from_zero(C, shape, f, first, count):
    par = (np.indices(shape).sum(axis=0) & 1).ravel()
    x = np.zeros(C.shape[0])
    fv = f.ravel()
    for t in range(count):
        for p in np.nonzero(par == (first + t) % 2)[0]:
            row = slice(C.indptr[p], C.indptr[p + 1])
            cols, vals = C.indices[row], C.data[row]
            x[p] = (fv[p] - vals[cols != p] @ x[cols[cols != p]]) / vals[cols == p].sum()
    return x


def _interp_matrix(n, nc):
    """Linear interpolation from ``nc`` to ``n`` interior points of [0, 1] (zero Dirichlet ends)."""
    if n == nc:
        return np.eye(n)
    x = np.arange(1, n + 1) / (n + 1)
    X = np.concatenate([[0.0], np.arange(1, nc + 1) / (nc + 1), [1.0]])
    return np.stack([np.interp(x, X, np.concatenate([[0.0], e, [0.0]])) for e in np.eye(nc)], axis=1)


@pytest.mark.parametrize("shape", [(32, 31, 9), (31, 31, 31), (16, 15, 7), (64, 12, 10), (9, 7, 5),
                                   (32, 31), (64, 12), (12, 64), (41, 40), (9, 7), (100, 33)])
@pytest.mark.parametrize("count", [1, 3, 5])
def test_fused_pass_matches_gauss_seidel_residual_restriction(shape, count):
    rng = np.random.default_rng(sum(shape) + count)
    h = tuple(1.0 / (n + 1) for n in shape)
    A = StencilOperator(shape, h, backend="numba")
    M = multigrid(A, max_coarse=1, coarsening="geometric")
    L0, L1 = M.levels[0], M.levels[1]
    cshape = L1.shape
    C = A.to_csr()
    f = rng.standard_normal(shape)
    first = count % 2
    u_ref = _gs_from_zero(C, shape, f, first, count)
    r = f.ravel() - C @ u_ref
    P = sp.csr_matrix(np.ones((1, 1)))
    c = 1.0
    for n, nc, ha in zip(shape, cshape, h):
        P = sp.kron(P, sp.csr_matrix(_interp_matrix(n, nc)))
        c *= ha / (1.0 / (nc + 1))                     # R = c P^T, c = prod h / hc
    out_ref = (c * (P.T @ r)).reshape(cshape)
    for nchunks in (1, 2, 3):
        u = np.full(shape, np.nan)
        out = np.full(cshape, np.nan)
        nch = max(1, min(nchunks, shape[0] // (2 * count + 2)))
        kern = mgfused.pre_rr if len(shape) == 3 else mgfused.pre_rr2      # 2-D: the row twin
        kern(u, f, out, *A._w, A._d, first, count, *L0.R, nch)
        np.testing.assert_allclose(u.ravel(), u_ref, rtol=0, atol=1e-12 * np.abs(u_ref).max())
        np.testing.assert_allclose(out, out_ref, rtol=0, atol=1e-10 * np.abs(out_ref).max())
    # the kernel-set entry points (Numba fused, NumPy composed) give the same
    for K in (NM, RM):
        u = np.full(shape, np.nan)
        out = np.full(cshape, np.nan)
        K.smooth_residual_restrict(A, u, f, first, count, out, L0.R, np.empty(shape))
        np.testing.assert_allclose(out, out_ref, rtol=0, atol=1e-10 * np.abs(out_ref).max())


def test_two_dimensional_grids_through_the_entry_point():
    rng = np.random.default_rng(5)
    A = StencilOperator((40, 33), (1 / 41, 1 / 34), backend="numba")
    M = multigrid(A, max_coarse=1, coarsening="geometric")
    L0, L1 = M.levels[0], M.levels[1]
    f = rng.standard_normal(A.grid_shape)
    outs = []
    for K in (NM, RM):
        u = np.empty(A.grid_shape)
        out = np.full(L1.shape, np.nan)
        K.smooth_residual_restrict(A, u, f, 0, 3, out, L0.R, np.empty(A.grid_shape))
        outs.append(out)
    u2 = np.empty(A.grid_shape)
    out2 = np.full(L1.shape, np.nan)
    mgfused.run(A, u2, f, 0, 3, out2, L0.R, 0)        # the 2-D row twin, parallel kernel
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-10 * np.abs(outs[1]).max())
    np.testing.assert_allclose(out2, outs[1], rtol=0, atol=1e-10 * np.abs(outs[1]).max())
