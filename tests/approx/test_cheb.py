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


def _vandermonde_coefficients(V):
    """The reference: the interpolation conditions solved along every axis (NumPy's Chebyshev
    Vandermonde matrices at the ascending second-kind points)."""
    C = np.asarray(V, dtype=float)
    for i, m in enumerate(V.shape):
        if m < 2:
            continue
        A = npc.chebvander(_cheb.points(m - 1), m - 1)
        C = np.moveaxis(np.tensordot(np.linalg.inv(A), C, axes=(1, i)), 0, i)
    return C


@pytest.mark.parametrize("shape", [(9,), (5, 7), (2, 9, 4), (3, 4, 5, 6), (1, 7), (6, 1, 3), (17, 17, 17)])
@pytest.mark.parametrize("scale", [1.0, 3.5e7])
def test_multi_axis_coefficients_equal_vandermonde_solves(rng, shape, scale):
    """``coefficients_all`` (one dctn, weights after) against the per-axis Vandermonde solves, divided by
    ``scale``; a new C-contiguous array, the input untouched; axes of length 1 are left as they are."""
    V = rng.standard_normal(shape)
    keep = V.copy()
    C = _cheb.coefficients_all(V, scale, workers=2)
    ref = _vandermonde_coefficients(V) / scale
    assert C.shape == V.shape and C.flags.c_contiguous
    np.testing.assert_allclose(C, ref, rtol=1e-11, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(V, keep)


def test_multi_axis_coefficients_of_a_polynomial_are_its_own():
    """A known polynomial: ``T_2(x) T_3(y) + 0.5 T_1(z)`` sampled at degree (4, 5, 3) gives exactly those
    coefficients (independent of any solve)."""
    deg = (4, 5, 3)
    t = [_cheb.points(n) for n in deg]
    X, Y, Z = np.meshgrid(*t, indexing="ij")
    V = npc.chebval(X, [0, 0, 1]) * npc.chebval(Y, [0, 0, 0, 1]) + 0.5 * npc.chebval(Z, [0, 1])
    C = _cheb.coefficients_all(V)
    ref = np.zeros(tuple(n + 1 for n in deg))
    ref[2, 3, 0] = 1.0
    ref[0, 0, 1] = 0.5
    np.testing.assert_allclose(C, ref, atol=1e-14)
