"""Fallback policy and stall monitor against their written rules."""
import pytest

from solvers.nonlinear import FallbackPolicy, StallMonitor


def test_denser_model_and_counters():
    fb = FallbackPolicy(10)
    assert fb.denser_model(1e-8, 16, 100) == (1e-10, 32)
    assert fb.denser_model(1e-8, 64, 100) == (1e-10, 100)                # at most the row length
    assert fb.denser_model(1e-299, 4, 100) == (1e-300, 8)                # threshold floor
    assert fb.step_failed(1e-8, 16, 100) == (1e-10, 32) and fb.failures == 1 and fb.densified == 0
    assert fb.denser(1e-8, 16, 100) == (1e-10, 32) and fb.densified == 1
    fb = FallbackPolicy(3, rho_factor=0.5, kmax_factor=3)
    assert fb.n_steps == 3 and fb.denser_model(1.0, 2, 100) == (0.5, 6)
    for kw in ({"n_steps": 0}, {"n_steps": 1.5}, {"n_steps": 1, "rho_factor": 1.0}, {"n_steps": 1, "kmax_factor": 1}):
        with pytest.raises(ValueError):
            FallbackPolicy(**kw)


def test_stall_monitor():
    m = StallMonitor(2)
    states = []
    for r in (5.0, 4.0, 4.0, 6.0, 3.0):
        m.update(r)
        states.append((m.best, m.count, m.stalled))
    assert states == [(5.0, 0, False), (4.0, 0, False), (4.0, 1, False), (4.0, 2, True), (3.0, 0, False)]
    with pytest.raises(ValueError):
        StallMonitor(0)
