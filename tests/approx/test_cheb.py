"""1-D Chebyshev tools against NumPy's Chebyshev module (an independent implementation)."""
import numpy as np
import numpy.polynomial.chebyshev as npc
import pytest

from solvers.approx import _cheb


@pytest.mark.parametrize("m", [2, 3, 4, 7, 12, 17])
def test_dct_coefficients_equal_vandermonde_solve(rng, m):
    t = _cheb.points(m - 1)
    assert np.all(np.diff(t) > 0) and t[0] == -1.0 and t[-1] == 1.0
    np.testing.assert_allclose(t, np.sort(npc.chebpts2(m)), atol=1e-15)
    v = rng.standard_normal((m, 3))
    ref = np.linalg.solve(npc.chebvander(t, m - 1), v)
    np.testing.assert_allclose(_cheb.coefficients(v, axis=0), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_cheb.coefficients(v.T, axis=1), ref.T, rtol=1e-12, atol=1e-12)


def test_vander_derivative_moments_against_numpy(rng):
    m = 9
    t = rng.uniform(-1, 1, 20)
    np.testing.assert_allclose(_cheb.vander(t, m), npc.chebvander(t, m - 1), rtol=1e-13, atol=1e-13)
    A = rng.standard_normal((m, 2))
    D = _cheb.derivative(A)
    for j in range(2):
        np.testing.assert_allclose(D[:-1, j], npc.chebder(A[:, j]), rtol=1e-12, atol=1e-12)
        assert D[-1, j] == 0.0
        integ = npc.chebval(1.0, npc.chebint(A[:, j], lbnd=-1))
        assert _cheb.moments(m) @ A[:, j] == pytest.approx(integ, rel=1e-13, abs=1e-13)


def test_map_points_kernels_against_the_affine_formula():
    """Every kernel set's map_points: the affine map to [-1, 1] (NumPy formula written out),
    clipping within the slack, and the count of coordinates outside the box or NaN."""
    from solvers.backends import get_backend

    rng = np.random.default_rng(4)
    lo, hi = np.array([0.0, -3.0, 1.0]), np.array([2.0, -1.0, 1.5])
    x = rng.uniform(lo, hi, (1000, 3))
    x[0] = lo - 1e-13 * (hi - lo)                     # within the slack: clipped, not counted
    x[1, 2] = hi[2] + 0.1                             # outside
    x[2, 0] = np.nan
    ref = (2.0 * x - (hi + lo)) / (hi - lo)
    for name in ("numpy", "numba"):
        t = np.empty_like(x)
        assert get_backend(name).kernels("approx").map_points(x, lo, hi, t) == 2
        np.testing.assert_array_equal(t[3:], ref[3:])
        np.testing.assert_array_equal(t[0], -np.ones(3))
        assert t[1, 2] == 1.0
