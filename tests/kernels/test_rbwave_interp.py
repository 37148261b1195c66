"""The last-axis interpolation of the fused prolongation + smoothing pass (``rbwave._interp_row``, and the
split levels' per-parity form ``mgsplit.interp_last_pairs`` / ``interp_last_gather``) against linear interpolation by :func:`numpy.interp` between
the uniform vertex grids (zero Dirichlet ends)."""
import numpy as np
import pytest

pytest.importorskip("numba")

from solvers._kernels.numba import mgsplit, rbwave  # noqa: E402
from solvers.linear.multigrid_setup import interp_1d  # noqa: E402


@pytest.mark.parametrize("n, nc, shift", [(16, 7, 0), (15, 7, 1), (1024, 511, 0), (9, 4, 1), (4, 1, 0), (3, 1, 1),
                                          (7, 7, -1), (12, 4, -1), (2, 1, -1)])
def test_interp_row_is_linear_interpolation(n, nc, shift):
    rng = np.random.default_rng(n * 31 + nc)
    pi, pw = interp_1d(n, nc)
    assert rbwave._pair_shift(pi, pw, nc) == shift           # the pair structure: n = 2 nc + 2 - s
    W = rbwave._pair_weights(pw, shift, nc)
    for _ in range(3):
        e = rng.standard_normal(nc)
        out = np.full(n, np.nan)
        rbwave._interp_row(e, out, pi, pw, shift, W)
        x = np.arange(1, n + 1) / (n + 1)
        X = np.concatenate([[0.0], np.arange(1, nc + 1) / (nc + 1), [1.0]])
        ref = np.interp(x, X, np.concatenate([[0.0], e, [0.0]]))
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)   # rounding (np.interp on 1/512 spacings)

        # the split layout of the split levels' post-smoothing (mgsplit.interp_last_pairs, float64 weights as the
        # 2-D level uses; the gathering kernel where the table has no pair structure): even fine points in bE,
        # odd in bO (entries past the row untouched)
        m = (n + 1) // 2 + 1
        buf = np.full((1, 1, 2, m), np.nan)
        pairs = mgsplit._last_axis_tables((pi, pw), (pi, pw), n, nc, np.float64)[2]
        assert (pairs is None) == (shift < 0)
        if pairs is not None:
            mgsplit.interp_last_pairs(e.reshape(1, 1, nc), 1.0, n, *pairs, buf)
        else:
            mgsplit.interp_last_gather(e.reshape(1, 1, nc), 1.0, n, pi, pw, buf)
        bE, bO = buf[0, 0, 0], buf[0, 0, 1]
        np.testing.assert_allclose(bE[:(n + 1) // 2], ref[0::2], rtol=0, atol=1e-12)
        np.testing.assert_allclose(bO[:n // 2], ref[1::2], rtol=0, atol=1e-12)
        assert np.isnan(bE[(n + 1) // 2:]).all() and np.isnan(bO[n // 2:]).all()


def test_pair_shift_refuses_other_tables():
    pi, pw = interp_1d(16, 7)
    pi = pi.copy()
    pi[5, 0] += 1                                               # a table that is not the pair structure
    assert rbwave._pair_shift(pi, pw, 7) == -1
    out = np.empty(16)
    e = np.arange(7.0)
    rbwave._interp_row(e, out, pi, pw, -1, rbwave._pair_weights(pw, -1, 7))   # the gathering fallback
    np.testing.assert_allclose(out, pw[:, 0] * e[pi[:, 0]] + pw[:, 1] * e[pi[:, 1]], rtol=0, atol=0)
