"""Review of the session-7 fixes: inputs that worked before them must keep working.

Each test compares with an independent reference (a dense plan computed from the potentials).
"""
from __future__ import annotations

import numpy as np
import pytest

from solvers.ot import sinkhorn


@pytest.mark.parametrize("dense_max, dense", [(1e8, True), (10.0, False), (float("inf"), True), (20, True)])
def test_plan_dense_max_accepts_a_real_count(dense_max, dense):
    """plan(dense_max=1e8) worked before the argument checks (a count compared with n m) and was then refused
    as 'not a non-negative integer'; any non-negative real is a valid count."""
    rng = np.random.default_rng(0)
    C = rng.random((5, 4))
    res = sinkhorn(C, eps=0.1, tol=1e-10)
    P = res.plan(dense_max=dense_max)
    f, g = res.x[:5], res.x[5:]
    ref = np.exp((f[:, None] + g[None, :] - C) / 0.1)       # the plan from the returned potentials
    got = P if dense else P.toarray()
    assert isinstance(P, np.ndarray) == dense
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("bad", [-1, float("nan"), "big", True])
def test_plan_dense_max_still_refuses_invalid(bad):
    res = sinkhorn(np.random.default_rng(1).random((3, 3)), eps=0.1)
    with pytest.raises(ValueError, match="dense_max"):
        res.plan(dense_max=bad)
