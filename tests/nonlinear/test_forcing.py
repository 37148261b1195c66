"""Forcing terms against the formulas of Eisenstat & Walker (1996), and the sqrt rule."""
import math

import pytest

from solvers.nonlinear import ConstantForcing, EisenstatWalker, SqrtResidualForcing
from solvers.nonlinear.forcing import GOLDEN


def test_constant_and_sqrt():
    assert ConstantForcing(0.1)(123.0) == 0.1
    s = SqrtResidualForcing(eta_max=1e-2, eta_min=1e-12)
    assert s(1.0) == 1e-2 and s(1e-6) == pytest.approx(1e-3, rel=1e-15) and s(1e-30) == 1e-12
    s.observe(0.5)            # no state


def test_choice_2_sequence():
    ew = EisenstatWalker(2, eta0=0.5, gamma=0.9, alpha=2.0)
    assert ew(1.0) == 0.5
    # eta_1 = 0.9 (0.5/1)^2 = 0.225; safeguard 0.9 * 0.5^2 = 0.225 > 0.1 -> max = 0.225
    assert ew(0.5) == pytest.approx(0.225, rel=1e-15)
    # eta_2 = 0.9 (0.1/0.5)^2 = 0.036; safeguard 0.9 * 0.225^2 = 0.0455625 <= 0.1 -> unchanged
    assert ew(0.1) == pytest.approx(0.036, rel=1e-14)
    # an increase is capped by eta_max
    assert ew(1.0) == 0.9


def test_choice_1_sequence_with_safeguard():
    ew = EisenstatWalker(1, eta0=0.5)
    assert ew(1.0) == 0.5
    ew.observe(0.3)                          # ||F_0 + J_0 s_0||
    # eta_1 = |0.4 - 0.3| / 1 = 0.1; safeguard 0.5^GOLDEN ~ 0.326 > 0.1 -> 0.326
    g1 = 0.5 ** ((1 + math.sqrt(5)) / 2)
    assert GOLDEN == pytest.approx(1.6180339887498949) and ew(0.4) == pytest.approx(g1, rel=1e-15)
    ew.observe(0.05)
    # eta_2 = |0.1 - 0.05| / 0.4 = 0.125; safeguard g1^GOLDEN ~ 0.163 > 0.1 -> 0.163
    assert ew(0.1) == pytest.approx(max(0.125, g1 ** GOLDEN), rel=1e-15)
    ew.observe(0.099)
    # eta_3 = |0.01 - 0.099| / 0.1 = 0.89; safeguard 0.163^GOLDEN < 0.1
    assert ew(0.01) == pytest.approx(0.89, rel=1e-14)
    with pytest.raises(RuntimeError, match="observe"):
        ew(0.001)                            # choice 1 needs the linear residual of every step


def test_bounds_and_validation():
    assert EisenstatWalker(2, eta_min=0.05)(1.0) == 0.5
    ew = EisenstatWalker(2, eta0=0.1, eta_min=0.05)
    ew(1.0)
    assert ew(1e-3) == 0.05                  # floor (avoids over-solving)
    for kw in ({"choice": 3}, {"eta_max": 1.0}, {"gamma": 0.0}, {"alpha": 1.0}, {"eta0": 0.95}):
        with pytest.raises(ValueError):
            EisenstatWalker(**kw)
    with pytest.raises(ValueError):
        SqrtResidualForcing(eta_max=1e-13, eta_min=1e-12)
