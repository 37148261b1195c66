"""OT problems found by the session-24 outside probe (helper-99); references: the plan's definition
exp((f_i + g_j - C_ij) / eps) evaluated with NumPy, and the documented argument contracts."""
import numpy as np
import pytest

import problems.ot
import solvers


@pytest.mark.parametrize("seed,eps", [(15, 1e-2), (20, 1e-3)])
@pytest.mark.parametrize("threshold", [0.0, 5e-324, 1e-300])
def test_sparse_plan_with_a_tiny_threshold_agrees_on_every_backend(seed, eps, threshold):
    """NumPy raised 'math domain error' at threshold 0; Numba stored ~3e-306 for entries whose exponent was
    below -745 (clamped at -700 relative), 600 entries against NumPy's 494."""
    C = np.random.default_rng(seed).random((30, 20))
    out = {}
    for be in ("numpy", "numba"):
        r = solvers.sns(C, None, None, eps=eps, backend=be)
        P = r.plan(dense=False, threshold=threshold).toarray()
        Z = (np.asarray(r.f)[:, None] + np.asarray(r.g)[None, :] - C) / r.eps      # reference: the definition
        keep = P > 0
        assert np.all(np.abs(np.log(P[keep]) - Z[keep]) < 1e-9)
        rel = Z - Z.max(axis=1, keepdims=True)
        assert np.array_equal(keep, rel >= np.log(max(threshold, np.exp(-699.0))))   # the documented floor
        out[be] = keep
    assert np.array_equal(out["numpy"], out["numba"])


@pytest.mark.parametrize("name,shape", [("f0", (4, 5)), ("g0", (2, 10)), ("f0", (20, 1))])
def test_warm_starts_of_another_shape_are_refused(name, shape):
    p = problems.ot.random_point_clouds(20, eps=1e-2, seed=1)
    for routine in (solvers.sinkhorn, solvers.sns):
        with pytest.raises(ValueError, match=f"{name} has shape"):
            routine(p, **{name: np.zeros(shape)})


def test_solve_with_weights_for_a_problem_names_solve_and_the_reason():
    p = problems.ot.random_point_clouds(20, eps=1e-4, seed=1)
    for kw in ({"a": np.full(20, 0.05)}, {"b": np.full(20, 0.05)}):
        with pytest.raises(TypeError, match="come from the problem"):
            solvers.solve(p, **kw)
