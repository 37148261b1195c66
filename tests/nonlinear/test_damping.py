"""The Marquardt damping schedule against its written rules."""
import pytest

from solvers.nonlinear import MarquardtDamping


def test_schedule_full_damped_failed_and_bounds():
    d = MarquardtDamping(1.0)
    assert d.step_taken(1.0) == 0.25                       # full step: / 4
    assert d.step_taken(0.5) == 1.0                        # damped: * 4
    assert d.step_failed() == 10.0                         # failure: * 10
    for _ in range(10):
        d.step_failed()
    assert d.mu == 1e6                                     # capped
    for _ in range(30):
        d.step_taken(1.0)
    assert d.mu == 1e-6                                    # floored
    assert repr(d) == "MarquardtDamping(mu=1e-06)"


def test_shift_is_mu_times_residual_clipped():
    d = MarquardtDamping(2.0)
    assert d.shift(0.1) == 0.2
    assert d.shift(1e-20) == 1e-10                         # delta_min
    assert d.shift(1e9) == 1e6                             # delta_max
    d = MarquardtDamping(3.0, shrink=2.0, grow=3.0, fail_grow=5.0, mu_min=1.0, mu_max=20.0, delta_min=0.0,
                         delta_max=1.0)
    assert [d.step_taken(1.0), d.step_taken(1.0), d.step_taken(0.9), d.step_failed(), d.step_failed()] == \
        [1.5, 1.0, 3.0, 15.0, 20.0]
    assert d.shift(0.0) == 0.0 and d.shift(1.0) == 1.0


@pytest.mark.parametrize("kw", [{"mu0": 0.0}, {"mu0": float("inf")}, {"shrink": 1.0}, {"mu_min": 2.0, "mu_max": 1.0}])
def test_bad_parameters(kw):
    args = {"mu0": 1.0, **kw}
    with pytest.raises(ValueError):
        MarquardtDamping(args.pop("mu0"), **args)
