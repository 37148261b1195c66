"""CG's direction update fused with the next stencil product (``StencilOperator.fused_direction``,
``solvers._kernels.numba.cgstencil``): the pass against the separate NumPy steps and SciPy's CSR product, with
``z`` aliasing ``q`` as in MG-CG, at every chunk count; and MG-CG, which takes it, against a direct solve."""
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from solvers import _config
from solvers.linear.multigrid import multigrid
from solvers.operators import StencilOperator


@pytest.mark.parametrize("shape", [(2, 2), (3, 9), (40, 33), (2, 3, 4), (5, 6, 7), (17, 12, 9)])
@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("alias", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_direction_is_the_update_then_the_product(shape, first, alias, threads):
    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), backend="numba")
    n = A.shape[0]
    rng = np.random.default_rng(n + first + 2 * alias)
    x, p, z = rng.standard_normal((3, n))
    alpha, beta = 0.37, -1.3
    x_ref = alpha * p if first else x + alpha * p
    p_ref = z + beta * p
    q_ref = A.to_csr() @ p_ref                       # SciPy's CSR product: an independent reference
    q = z if alias else np.full(n, np.nan)
    with _config.limit(threads):
        d = A.fused_direction()(x, p, z, q, alpha, beta, first)
    scale = np.abs(x_ref).max() + abs(alpha) * np.abs(p_ref).max()
    np.testing.assert_allclose(x, x_ref, rtol=0, atol=4e-16 * scale)
    np.testing.assert_allclose(p, p_ref, rtol=0, atol=4e-16 * np.abs(p_ref).max() * (1 + abs(beta)))
    np.testing.assert_allclose(q, q_ref, rtol=0, atol=1e-14 * np.abs(A.to_csr()).max() * np.abs(p_ref).max())
    assert abs(d - p_ref @ q_ref) <= 1e-13 * (np.abs(p_ref) @ np.abs(q_ref))


def test_fused_direction_declines_what_it_cannot_do():
    A = StencilOperator((8, 9, 10), 0.1, backend="numba")
    f = A.fused_direction()
    n = A.shape[0]
    x, p, z, q = np.zeros((4, n))
    wide = np.zeros(2 * n)
    before = p.copy()
    assert f(x, wide[::2], z, q, 1.0, 1.0, False) is None          # not contiguous: nothing done
    assert f(x, p.astype(np.float32), z, q, 1.0, 1.0, False) is None
    assert f(x, p, z, q[:-1], 1.0, 1.0, False) is None
    np.testing.assert_array_equal(p, before)
    k = [np.ones((9, 9, 10)), np.ones((8, 10, 10)), np.linspace(1, 2, 8 * 9 * 11).reshape(8, 9, 11)]
    assert StencilOperator((8, 9, 10), 0.1, k=k, backend="numba").fused_direction() is None     # variable k
    assert StencilOperator((8, 9, 10), 0.1, backend="numpy").fused_direction() is None          # no fused kernel


@pytest.mark.parametrize("shape", [(63, 64), (24, 20, 22)])
def test_mg_cg_with_the_fused_pass_matches_a_direct_solve(shape, monkeypatch):
    A = StencilOperator(shape, tuple(1.0 / (n + 1) for n in shape), backend="numba")
    b = np.random.default_rng(7).standard_normal(A.shape[0])
    calls = []
    orig = StencilOperator.fused_direction

    def spy(self):
        f = orig(self)
        return None if f is None else (lambda *a: calls.append(1) or f(*a))

    monkeypatch.setattr(StencilOperator, "fused_direction", spy)
    res = solvers.cg(A, b, M=multigrid(A), rtol=1e-10, backend="numba")
    assert res.converged and len(calls) == res.nit - 1          # every iteration but the last ends fused
    assert res.stats["matvecs"] == res.nit + 1                   # the products counted once each, + the check
    C = A.to_csr()
    assert np.linalg.norm(b - C @ res.x) <= 1e-10 * np.linalg.norm(b)
    xref = spla.spsolve(C.tocsc(), b)
    np.testing.assert_allclose(res.x, xref, rtol=0, atol=1e-8 * np.abs(xref).max())
    monkeypatch.setattr(StencilOperator, "fused_direction", lambda self: None)
    plain = solvers.cg(A, b, M=multigrid(A), rtol=1e-10, backend="numba")
    assert plain.nit == res.nit
    np.testing.assert_allclose(plain.history["residual"], res.history["residual"], rtol=1e-6)
