"""Session 38: failure messages that name the likely cause."""
import numpy as np

import solvers
from problems.nlp import EqualityConstrainedProblem


def _cubic_on_line():
    # min -x^3 - y s.t. x = y: f -> -inf along the feasible ray x = y -> inf (no minimiser)
    return EqualityConstrainedProblem(
        f=lambda x: -x[0] ** 3 - x[1], grad=lambda x: np.array([-3.0 * x[0] ** 2, -1.0]),
        c=lambda x: np.array([x[0] - x[1]]), jac=lambda x: np.array([[1.0, -1.0]]),
        hess_lagrangian=lambda x, lam: np.array([[-6.0 * x[0], 0.0], [0.0, 0.0]]), x0=np.array([1.0, 1.0]))


def test_sketched_newton_unbounded_failure_says_unbounded():
    for seed in (0, 1):
        res = solvers.sketched_newton(_cubic_on_line(), maxiter=200, seed=seed)
        assert not res.converged
        # whichever exit ends it (no descent direction, divergence, maxiter), the message names unboundedness
        assert "unbounded below" in res.message, res.message
        f = -res.x[0] ** 3 - res.x[1]
        assert f < -1e6                    # the objective really fell far: the note is true


def test_far_and_falling_note_is_quiet_near_x0():
    from solvers.nonlinear._newton_parts import far_and_falling

    assert far_and_falling(1.0, 0.5, 10.0, 1.0) == ""          # near x0, small decrease
    assert far_and_falling(1.0, -1e9, 10.0, 1.0) == ""         # large decrease but close to x0
    assert far_and_falling(1.0, 0.0, 1e9, 1.0) == ""           # far but f barely fell
    assert "unbounded" in far_and_falling(1.0, -1e9, 1e9, 1.0)
