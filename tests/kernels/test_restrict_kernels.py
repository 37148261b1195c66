"""The Numba kernel set's tensor restriction ``out = R r`` (:func:`solvers._kernels.numba.multigrid.restrict`,
used by the FMG start) against the dense Kronecker product of its 1-D tables: nested (3-tap) and non-nested
(4-tap) grids, 2-D and 3-D, a table that is not affine (the gathering path), and a non-contiguous input."""
import numpy as np
import pytest

from problems import pde
from solvers._kernels.numba import multigrid as km
from solvers.linear.multigrid import multigrid


def _dense(ri, rw, n):
    D = np.zeros((ri.shape[0], n))
    for J in range(ri.shape[0]):
        for b in range(ri.shape[1]):
            D[J, ri[J, b]] += rw[J, b]
    return D


def _reference(r, R):
    out = r
    for a in range(r.ndim):
        D = _dense(np.asarray(R[2 * a]), np.asarray(R[2 * a + 1]), r.shape[a])
        out = np.moveaxis(np.tensordot(D, np.moveaxis(out, a, 0), axes=(1, 0)), 0, a)
    return out


@pytest.mark.parametrize("shape", [(1024, 1024), (127, 127), (100, 37), (64, 64, 64), (33, 20, 17), (31, 31, 31)])
def test_restrict_matches_the_dense_product(shape):
    M = multigrid(pde.Poisson(shape).operator("numba"))
    R = M.levels[0].R
    taps = R[-1].shape[1]                 # 1 where the last axis is not coarsened (100 x 37)
    r = np.random.default_rng(len(shape) * 1000 + shape[0]).standard_normal(shape)
    out = np.full(M.levels[1].shape, np.nan)
    km.restrict(r, out, R)
    ref = _reference(r, R)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-14 * np.abs(ref).max())
    # the last axis's weights in their contiguous form are the table's, per tap
    lw = km._last_weights(np.asarray(R[-2]), np.asarray(R[-1]), shape[-1])
    if taps in (3, 4):
        assert lw.shape == (taps, R[-1].shape[0])
        np.testing.assert_array_equal(lw, np.asarray(R[-1]).T)
    else:
        assert lw.shape[0] == 0


def test_restrict_non_affine_table_and_strided_input():
    rng = np.random.default_rng(7)
    n0, n1, c0, c1 = 40, 30, 12, 9
    ri0 = np.sort(rng.integers(0, n0, size=(c0, 3)), axis=1)
    ri1 = np.sort(rng.integers(0, n1, size=(c1, 3)), axis=1)   # not 2 J + b: the gathering path
    rw0, rw1 = rng.standard_normal((c0, 3)), rng.standard_normal((c1, 3))
    R = (ri0, rw0, ri1, rw1)
    assert km._last_weights(ri1, rw1, n1).shape[0] == 0
    big = rng.standard_normal((n1, n0))
    r = big.T                                                   # a transposed (F-ordered) view
    out = np.empty((c0, c1))
    km.restrict(r, out, R)
    np.testing.assert_allclose(out, _reference(np.ascontiguousarray(r), R), rtol=1e-13, atol=1e-13)


def test_restrict_refuses_arrays_that_do_not_match_the_tables():
    M = multigrid(pde.Poisson((64, 64)).operator("numba"))
    R, coarse = M.levels[0].R, M.levels[1].shape
    with pytest.raises(ValueError, match="axis 0"):
        km.restrict(np.ones((63, 64)), np.empty(coarse), R)          # the tables read row 63
    with pytest.raises(ValueError, match="axis 1"):
        km.restrict(np.ones((64, 64)), np.empty((coarse[0], coarse[1] + 1)), R)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        km.restrict(np.ones(64 * 64), np.empty(coarse), R)
