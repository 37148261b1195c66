"""Float32 (and float16) function values in chebtucker: the build resolves them to their own precision
(outside probe helper-101: a float32 f at tol 1e-12 took degree 256 and full ranks, 137 MB, 11 s, with a
warning blaming non-smoothness; the float64 f takes degree 32 and ranks 2)."""
import warnings

import numpy as np
import pytest

import solvers
from solvers.approx import ChebTucker

DOM = [(-1.0, 1.0), (-0.5, 2.0), (0.0, 1.0)]


def f64(P):
    return np.exp(-P[:, 0] ** 2) * np.cos(P[:, 1]) + P[:, 2] * 0.5 / (1.5 + P[:, 0])


def f32(P):
    return f64(P).astype(np.float32)


@pytest.fixture(scope="module")
def pts():
    return np.random.default_rng(5).uniform([-1, -0.5, 0], [2 - 1, 2, 1], (20000, 3))


def _err(ct, pts):
    ref = f64(pts)                              # the exact (float64) function is the reference
    return float(np.abs(ct(pts) - ref).max() / np.abs(ref).max())


def test_float32_values_are_resolved_to_float32_precision(pts):
    with pytest.warns(RuntimeWarning, match="float32.*tol=1e-12 is below"):
        ct = solvers.chebtucker(f32, DOM, tol=1e-12)
    u = np.finfo(np.float32).eps
    assert ct.stats["effective_tol"] == pytest.approx(4 * u) and ct.stats["value_eps"] == u
    assert ct.options["tol"] == 1e-12 and ct.tol == pytest.approx(4 * u)
    assert max(ct.stats["degree"]) <= 32 and max(ct.ranks) <= 4 and ct.nbytes < 10_000
    assert ct.stats["resolved"] and _err(ct, pts) <= 20 * u         # float32 rounding of the samples, a few u


def test_float16_values(pts):
    with pytest.warns(RuntimeWarning, match="float16"):
        ct = solvers.chebtucker(lambda P: f64(P).astype(np.float16), DOM, tol=1e-9)
    u = float(np.finfo(np.float16).eps)
    assert ct.stats["effective_tol"] == pytest.approx(4 * u)
    assert max(ct.stats["degree"]) <= 16 and _err(ct, pts) <= 4 * u


def test_float64_build_unchanged_and_precision_not_carried_over(pts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solvers.chebtucker(f32, DOM, tol=1e-12)                    # a float32 build first
    with warnings.catch_warnings():
        warnings.simplefilter("error")                             # no precision warning for float64 values
        ct = solvers.chebtucker(f64, DOM, tol=1e-12)
    assert ct.stats["effective_tol"] == 1e-12 and ct.stats["value_eps"] == np.finfo(float).eps
    assert _err(ct, pts) <= 1e-12


def test_float32_tol_above_its_precision_is_kept(pts):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ct = solvers.chebtucker(f32, DOM, tol=1e-5)
    assert ct.stats["effective_tol"] == 1e-5 and _err(ct, pts) <= 1e-5


def test_from_values_float32_grid(pts):
    nodes = ChebTucker.nodes(DOM, (24, 12, 6))
    g = np.meshgrid(*nodes, indexing="ij")
    V = f64(np.stack([a.ravel() for a in g], axis=1)).reshape(g[0].shape)
    with pytest.warns(RuntimeWarning, match="float32"):
        ct = ChebTucker.from_values(V.astype(np.float32), DOM, tol=1e-12)
    assert max(ct.ranks) <= 4 and _err(ct, pts) <= 20 * np.finfo(np.float32).eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # float64 at this degree: not resolved to 1e-12, as warned
        ct64 = ChebTucker.from_values(V, DOM, tol=1e-12)
    assert ct64.stats["effective_tol"] == 1e-12
