"""Tucker compression bounds, as properties on random tensors (reference: the full tensor)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from solvers.approx import _tucker


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 25), st.sampled_from([2, 3, 4]), st.floats(1e-8, 0.5), st.integers(0, 2**31 - 1))
def test_rhosvd_error_is_within_its_bound_and_the_tolerance(R, d, tol, seed):
    """Reduced HOSVD of a random canonical tensor: the error of the Tucker tensor against the
    full tensor (formed here by einsum) is at most the returned bound, which is at most
    tol * ||A||_F (rounding aside)."""
    rng = np.random.default_rng(seed)
    m = [int(k) for k in rng.integers(3, 9, d)]
    w = rng.standard_normal(R) * np.exp(rng.uniform(-3, 3, R))
    U = [rng.standard_normal((k, R)) for k in m]
    A = _tucker.cp_core(w, U)
    G, Z, bound, scale = _tucker.rhosvd(w, U, tol)
    G, bound = G * scale, bound * scale
    err = np.linalg.norm(_tucker.reconstruct(G, Z) - A)
    norm = np.linalg.norm(A)
    assert err <= bound * (1 + 1e-9) + 1e-12 * norm
    assert bound <= tol * norm * (1 + 1e-9) + 1e-12 * norm
    for z in Z:
        np.testing.assert_allclose(z.T @ z, np.eye(z.shape[1]), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([2, 3]), st.floats(1e-10, 0.3), st.integers(0, 2**31 - 1))
def test_hosvd_error_is_within_its_bound_and_hooi_does_not_increase_it(d, tol, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(k) for k in rng.integers(3, 8, d))
    C = _tucker.cp_core(np.ones(3), [rng.standard_normal((k, 3)) for k in shape])
    C = C + 1e-3 * rng.standard_normal(shape)
    G, A, bound, s = _tucker.hosvd(C, tol)
    err = np.linalg.norm(_tucker.reconstruct(G, A) - C)
    assert err <= bound * (1 + 1e-9) + 1e-13 and bound <= tol * np.linalg.norm(C) * (1 + 1e-9)
    for i in range(d):   # the singular values are those of the unfoldings (NumPy's SVD)
        np.testing.assert_allclose(s[i], np.linalg.svd(_tucker.unfold(C, i), compute_uv=False), rtol=1e-12)
    G2, A2, errors = _tucker.hooi(C, A, sweeps=5)
    assert errors[0] == np.float64(errors[0]) and abs(errors[0] - err) <= 1e-12 * np.linalg.norm(C)
    assert np.all(np.diff(errors) <= 1e-12 * np.linalg.norm(C))
    assert abs(np.linalg.norm(_tucker.reconstruct(G2, A2) - C) - errors[-1]) <= 1e-12 * np.linalg.norm(C)
