"""problems.ot.exact_ot: every feasible problem is solved, verified, and matches POT's network simplex.

Independent references: POT's ``ot.emd2`` (C++ network simplex, when installed) and the 1-D closed
form ``W1 = sum |F_a - F_b| dx`` on a uniform grid.
"""
import importlib
import math
import os
import sys

import numpy as np
import pytest

from problems import ot as pot_problems
from problems.ot import exact_ot
from problems.ot.exact import MARGINAL_RTOL


def import_pot():
    """POT's ``ot`` package, or None. Under pytest ``ot`` may name this test package (tests/ot), so
    POT is imported with that directory hidden and the test package put back afterwards."""
    mod = sys.modules.get("ot")
    if mod is not None and hasattr(mod, "emd2"):
        return mod
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "ot" or k.startswith("ot.")}
    path = sys.path[:]
    sys.path[:] = [p for p in path if not os.path.exists(os.path.join(p or ".", "ot", "_refs.py"))]
    try:
        pot = importlib.import_module("ot")
        if not hasattr(pot, "emd2"):
            pot = None
    except ImportError:
        pot = None
    finally:
        for k in [k for k in sys.modules if k == "ot" or k.startswith("ot.")]:
            sys.modules.pop(k)
        sys.modules.update(saved)
        sys.path[:] = path
    return pot


def _pot():
    pot = import_pot()
    if pot is None:
        pytest.skip("POT is not installed")
    return pot


def _gauss_1d(n, lo, hi, mu, var):
    x = np.linspace(lo, hi, n)
    w = np.exp(-(x - mu) ** 2 / (2 * var))
    return x, w / w.sum()


def _cases():
    rng = np.random.default_rng(7)
    out = []
    # 1-D Gaussian histograms whose tails reach 1e-109 and 1e-157
    x, a = _gauss_1d(60, -5, 5, 0.0, 0.05)
    _, b = _gauss_1d(60, -5, 5, 1.0, 0.05)
    out.append(("gauss_tails_1e-109", (x[:, None] - x[None, :]) ** 2, a, b))
    x, a = _gauss_1d(40, -1, 1, 0.0, 0.01)
    _, b = _gauss_1d(40, -1, 1, 0.5, 0.002)
    out.append(("gauss_narrow", np.abs(x[:, None] - x[None, :]), a, b))
    # one weight 1e-7 (and 1e-30, 1e-300) beside uniform weights
    for tiny in (1e-7, 1e-30, 1e-300):
        n = 25
        X, Y = rng.random((n, 2)), rng.random((n, 2))
        a = np.ones(n)
        a[3] = tiny
        a /= a.sum()
        out.append((f"tiny_weight_{tiny:g}", ((X[:, None] - Y[None]) ** 2).sum(-1), a, np.full(n, 1.0 / n)))
    # zero weights, unnormalised masses, rectangular, uniform assignment, large and small costs
    n, m = 30, 20
    a, b = rng.random(n), rng.random(m)
    a[[0, 5]] = 0.0
    b[4] = 0.0
    b *= a.sum() / b.sum()
    out.append(("zeros_rect", rng.random((n, m)), 1e3 * a, 1e3 * b))
    out.append(("assignment_uniform", rng.random((40, 40)), np.full(40, 1 / 40), np.full(40, 1 / 40)))
    out.append(("cost_scale_1e100", 1e100 * rng.random((15, 17)), np.full(15, 1 / 15), np.full(17, 1 / 17)))
    out.append(("cost_scale_1e-100", 1e-100 * rng.random((15, 17)), np.full(15, 1 / 15), np.full(17, 1 / 17)))
    out.append(("negative_costs", rng.standard_normal((12, 9)), np.full(12, 1 / 12), np.full(9, 1 / 9)))
    w = rng.random(50) ** 8                     # weights spread over many orders of magnitude
    v = rng.random(45) ** 8
    out.append(("spread_weights", rng.random((50, 45)), w / w.sum(), v / v.sum()))
    out.append(("1x1", np.array([[3.0]]), np.array([2.0]), np.array([2.0])))
    out.append(("1xm", rng.random((1, 6)), np.array([1.0]), np.full(6, 1 / 6)))
    return out


CASES = _cases()


def _check_plan(C, a, b, cost, P):
    assert P.min() >= 0
    mass = a.sum()
    assert np.abs(P.sum(1) - a).max() <= MARGINAL_RTOL * mass
    assert np.abs(P.sum(0) - b).max() <= MARGINAL_RTOL * mass
    assert np.count_nonzero(P) <= a.size + b.size - 1
    ref = math.fsum((P * C).ravel().tolist())
    assert cost == pytest.approx(ref, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name,C,a,b", CASES, ids=[c[0] for c in CASES])
def test_matches_pot_emd2(name, C, a, b):
    pot = _pot()
    cost, P = exact_ot(C, a, b, return_plan=True)
    _check_plan(C, a, b, cost, P)
    # POT's network simplex uses absolute tolerances (at costs of 1e-100 it stops early), so it is given
    # the cost scaled to max |C| = 1 and its answer scaled back
    s = np.abs(C).max()
    ref = s * pot.emd2(a, b, C / s, numItermax=10**7)
    scale = s * a.sum()
    assert abs(cost - ref) <= 1e-9 * abs(ref) + 1e-14 * scale, (name, cost, ref)


@pytest.mark.parametrize("name,C,a,b", CASES, ids=[c[0] for c in CASES])
def test_plan_verified(name, C, a, b):
    cost, P = exact_ot(C, a, b, return_plan=True)
    _check_plan(C, a, b, cost, P)


@pytest.mark.parametrize("seed", range(4))
def test_1d_w1_closed_form(seed):
    rng = np.random.default_rng(seed)
    n = 80
    x = (np.arange(n) + 0.5) / n
    a, b = rng.random(n) ** 6, rng.random(n) ** 6
    a[rng.integers(0, n, 5)] = 1e-120
    a, b = a / a.sum(), b / b.sum()
    w1 = math.fsum(np.abs(np.cumsum(a) - np.cumsum(b))[:-1].tolist()) / n
    assert exact_ot(np.abs(x[:, None] - x[None, :]), a, b) == pytest.approx(w1, rel=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    (dict(a=[0.5, 0.5], b=[0.5, 0.6]), "equal total mass"),
    (dict(a=[0.5, -0.5], b=[0.5, 0.5]), "a has negative"),
    (dict(a=[0.5, 0.5], b=[np.nan, 0.5]), "b contains NaN"),
    (dict(a=[0.0, 0.0], b=[0.5, 0.5]), "a sums to zero"),
    (dict(a=[1.0], b=[0.5, 0.5]), "a has length 1"),
    (dict(a=[0.5, 0.5], b=[1.0]), "b has length 1"),
    (dict(a=[0.5 + 1j, 0.5], b=[0.5, 0.5]), "a must be a real"),
    (dict(a=np.ones((2, 1)) / 2, b=[0.5, 0.5]), "a must be 1-D"),
])
def test_bad_inputs_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        exact_ot(np.ones((2, 2)), **kwargs)


def test_bad_cost_and_size():
    with pytest.raises(ValueError, match="C contains NaN"):
        exact_ot([[np.inf, 1.0], [1.0, 0.0]], [0.5, 0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="C must be 2-D"):
        exact_ot(np.ones(4), [0.5, 0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="max_size"):
        exact_ot(np.ones((20, 20)), np.full(20, 0.05), np.full(20, 0.05), max_size=100)


def test_masses_equal_within_tolerance_are_feasible():
    a = np.array([0.5, 0.5])
    cost = exact_ot(np.array([[0.0, 1.0], [1.0, 0.0]]), a, a * (1 + 5e-10))
    assert cost == pytest.approx(0.0, abs=1e-15)
    # histograms normalised in float32 (sums 1 +- 1e-7) are feasible, as for POT
    rng = np.random.default_rng(2)
    a32, b32 = rng.random(50).astype(np.float32), rng.random(50).astype(np.float32)
    a32, b32 = a32 / a32.sum(), b32 / b32.sum()
    C = rng.random((50, 50))
    cost, P = exact_ot(C, a32, b32, return_plan=True)
    assert abs(P.sum() - float(np.sum(a32, dtype=np.float64))) <= 1e-13
    pot = import_pot()
    if pot is not None:
        a64, b64 = a32.astype(float), b32.astype(float)
        assert cost == pytest.approx(pot.emd2(a64, b64 * a64.sum() / b64.sum(), C), rel=1e-9)


def test_from_grids_problem():
    rng = np.random.default_rng(3)
    da, db = rng.random((6, 5)), rng.random((6, 5))
    da[0, 0] = 0.0
    p = pot_problems.EntropicOT.from_grids(da, db, p=2)
    pot = _pot()
    assert exact_ot(p.C, p.a, p.b) == pytest.approx(pot.emd2(p.a, p.b, p.C), rel=1e-9)


@pytest.mark.parametrize("name", ["assignment_uniform", "tiny_weight_1e-300", "zeros_rect"])
def test_bland_fallback_and_north_west_start(monkeypatch, name):
    """The anti-cycling fallback (Bland's rule) and the start without HiGHS give the same optimum."""
    from problems.ot import exact as E

    _, C, a, b = next(c for c in CASES if c[0] == name)
    ref = exact_ot(C, a, b)
    monkeypatch.setattr(E, "_DANTZIG_PIVOTS", lambda n, m: 0)
    monkeypatch.setattr(E, "_highs_start", lambda *args: None)
    cost, P = exact_ot(C, a, b, return_plan=True)
    _check_plan(C, a, b, cost, P)
    assert cost == pytest.approx(ref, rel=1e-12, abs=1e-300)


def test_extreme_cost_scales():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((20, 30))
    a, b = rng.random(20), rng.random(30)
    b *= a.sum() / b.sum()
    ref = exact_ot(C, a, b)
    assert exact_ot(1e307 * C, a, b) == pytest.approx(1e307 * ref, rel=1e-12)
    assert exact_ot(1e-307 * C, a, b) == pytest.approx(1e-307 * ref, rel=1e-12)
