"""The ``approx`` evaluation kernels (NumPy reference and Numba) against a direct evaluation of
the Tucker interpolant with ``numpy.polynomial.chebyshev`` (Vandermonde matrices, ``chebder``
for the derivatives, ``einsum`` for the core), for d = 1..4, unequal degrees and ranks
(rank 1 included), point counts that are not multiples of the kernels' blocks, and
large cores (several GEMM row blocks)."""
import string

import numpy as np
import numpy.polynomial.chebyshev as npc
import pytest

from solvers.backends import get_backend

CASES = [((7,), (3,), 1), ((9, 5), (4, 1), 17), ((12, 7, 20), (5, 3, 6), 1000), ((6, 8, 5, 7), (2, 3, 4, 3), 333),
         ((40, 33, 35), (20, 18, 19), 300), ((65, 65, 65), (30, 30, 30), 129)]


def _direct(core, factors, t):
    """sum_j G_j prod_i (T(t_i) A_i)[j_i] and its gradient, by einsum on chebvander rows."""
    d = len(factors)
    rows = [npc.chebvander(t[:, i], A.shape[0] - 1) @ A for i, A in enumerate(factors)]
    drows = [npc.chebvander(t[:, i], A.shape[0] - 1)[:, :-1] @ npc.chebder(A, axis=0) if A.shape[0] > 1
             else np.zeros((t.shape[0], A.shape[1])) for i, A in enumerate(factors)]
    idx = string.ascii_lowercase[:d]
    spec = idx + "," + ",".join("z" + c for c in idx) + "->z"
    val = np.einsum(spec, core, *rows)
    grad = np.stack([np.einsum(spec, core, *(rows[:k] + [drows[k]] + rows[k + 1:])) for k in range(d)], axis=1)
    return val, grad


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("m, r, n", CASES)
def test_evaluate_and_gradient_against_direct_chebyshev_sums(backend, m, r, n):
    from solvers.approx import _cheb

    rng = np.random.default_rng(sum(m) + n)
    core = rng.standard_normal(r)
    factors = [rng.standard_normal((mi, ri)) / (1.0 + np.arange(mi))[:, None] for mi, ri in zip(m, r)]
    t = rng.uniform(-1.0, 1.0, (n, len(m)))
    t[0] = 1.0
    K = get_backend(backend).kernels("approx")
    p = K.pack(core, factors, [_cheb.derivative(A) for A in factors])
    val_ref, grad_ref = _direct(core, factors, t)
    scale = np.abs(core).sum() * np.prod([np.abs(A).sum(0).max() for A in factors])
    out = np.empty(n)
    K.evaluate(p, t, out)
    np.testing.assert_allclose(out, val_ref, rtol=0, atol=1e-13 * scale)
    val, grad = np.empty(n), np.empty((n, len(m)))
    K.gradient(p, t, val, grad)
    np.testing.assert_allclose(val, val_ref, rtol=0, atol=1e-13 * scale)
    gscale = scale * max(mi ** 2 for mi in m)
    np.testing.assert_allclose(grad, grad_ref, rtol=0, atol=1e-13 * gscale)
