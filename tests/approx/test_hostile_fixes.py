"""Fixes from the hostile-input run (tests/hostile/cases_approx.py): complex or string data are
refused instead of being silently cast (NumPy drops an imaginary part with only a warning and
parses strings), and tensor grids are sized before anything is allocated."""
import math

import numpy as np
import pytest

from solvers.approx import _tucker
from solvers.approx._validate import TooLargeError
from solvers.approx.chebtucker import ChebTucker, chebtucker


def _exp2(p):
    return np.exp(p[:, 0] + 0.5 * p[:, 1])


def _complex(p):
    return np.exp(p[:, 0]) * (1.0 + 0.5j)


def _strings(p):
    return np.exp(p[:, 0]).astype(str)


class _CPComplex:
    def cp_factors(self, nodes):
        return np.ones(2) + 1j, [np.ones((x.size, 2)) for x in nodes]


@pytest.fixture(scope="module")
def ct():
    return chebtucker(_exp2, [(0, 1), (-1, 1)], degree=16, tol=1e-13)


@pytest.mark.parametrize("f", [_complex, _strings])
def test_non_real_function_values_refused(f):
    with pytest.raises(TypeError, match="real numbers"):
        chebtucker(f, [(0, 1)], degree=4)


def test_complex_canonical_weights_refused():
    with pytest.raises(TypeError, match="weights"):
        chebtucker(_CPComplex(), [(0, 1)] * 2, degree=4)


@pytest.mark.parametrize("pts", [np.full((2, 2), 0.5 + 0.1j), np.array([["0.1", "0.2"]])])
def test_non_real_points_refused(ct, pts):
    with pytest.raises(TypeError, match="points"):
        ct(pts)


def test_huge_grid_refused_before_allocation(ct):
    with pytest.raises(TooLargeError, match="on_grid"):
        ct.on_grid(1 << 24)


def test_reconstruct_sized_first():
    core = np.ones((1, 1, 1))
    big = [np.lib.stride_tricks.as_strided(np.ones(1), (1 << 22, 1), (0, 8))] * 3   # no memory behind it
    with pytest.raises(TooLargeError, match="tensor of shape"):
        _tucker.reconstruct(core, big)


def test_on_grid_still_exact(ct):
    G = ct.on_grid(3)
    x, y = np.linspace(0, 1, 3), np.linspace(-1, 1, 3)
    ref = np.exp(x[:, None] + 0.5 * y[None, :])
    assert np.max(np.abs(G - ref)) < 1e-12 * math.e ** 1.5


def _sum8(p):
    return np.exp(p.sum(axis=1) / 8)


def test_auto_degree_refuses_a_start_grid_too_large():
    # 9^8 = 4.3e7 values at the first sampling (ran for minutes and ~25 GB before the check)
    with pytest.raises(ValueError, match=r"degree='auto'.*9\^8"):
        chebtucker(_sum8, [(0, 1)] * 8)


def test_explicit_degree_grid_checked_against_the_memory_limit(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "1000000")
    with pytest.raises(TooLargeError, match="sampling the full Chebyshev grid"):
        chebtucker(_exp2, [(0, 1)] * 2, degree=200)


def test_auto_degree_in_seven_variables_still_exact():
    # separable exp: Chebyshev interpolation of degree 8 per variable is accurate to ~1e-9 on [0, 1]
    ct = chebtucker(lambda p: np.exp(p[:, :7].sum(axis=1) / 7), [(0, 1)] * 7, degree=8, tol=1e-10)
    pts = np.random.default_rng(0).random((20, 7))
    ref = np.exp(pts.sum(axis=1) / 7)
    assert np.max(np.abs(np.asarray(ct(pts)) - ref)) < 1e-8 * ref.max()


def test_from_values_refuses_complex_and_strings():
    with pytest.raises(TypeError, match="values"):
        ChebTucker.from_values(np.ones((4, 4)) + 1j, [(0, 1)] * 2)
    with pytest.raises(TypeError, match="values"):
        ChebTucker.from_values(np.ones((4, 4)).astype(str), [(0, 1)] * 2)


@pytest.mark.parametrize("core,factors,msg", [
    (np.full((2, 2), np.nan), [np.ones((3, 2))] * 2, "finite"),
    (np.ones((2, 2)) + 1j, [np.ones((3, 2))] * 2, "core"),
    (np.ones((2, 2)), [np.ones((3, 2)), np.full((3, 2), np.inf)], "finite"),
])
def test_constructor_refuses_bad_core_or_factors(core, factors, msg):
    with pytest.raises((TypeError, ValueError), match=msg):
        ChebTucker(core, factors, [(0, 1)] * 2)


def test_from_result_refuses_other_results(ct):
    import solvers

    with pytest.raises(ValueError, match="holds no Chebyshev-Tucker"):
        ChebTucker.from_result(solvers.SolveResult(np.ones(3), True, "converged", "ok", 0, method="cg",
                                                   backend="numpy"))
    with pytest.raises(ValueError, match="holds no Chebyshev-Tucker"):
        ChebTucker.from_result(object())
    res = ct.to_result()
    del res.extras["factor_1"]
    with pytest.raises(ValueError, match="factor_1"):
        ChebTucker.from_result(res)
