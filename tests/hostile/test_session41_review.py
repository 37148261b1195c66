"""Session 41's outside reviews: each test failed before its fix."""
import numpy as np
import pytest
import scipy.sparse as sp

import solvers


def _laplacian(n):
    return sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1], format="csr")


@pytest.mark.parametrize("method", ["cg", "cdm"])
def test_a_preconditioner_that_does_not_help_is_named(method):
    """A diagonal M with one entry 1e-300 (SPD, condition 1e300): the residual ends above where it started, and
    the message said only 'try a stronger preconditioner' (helper-146). Reference: the start residual ||b||."""
    n = 50
    A, b = _laplacian(n), np.ones(n)
    d = np.ones(n)
    d[3] = 1e-300
    r = getattr(solvers, method)(A, b, M=sp.diags(d), rtol=1e-10)
    assert not r.converged and r.status == "maxiter"
    assert "did not fall" in r.message and "well scaled" in r.message
    assert r.history["residual"][0] == pytest.approx(np.linalg.norm(b), rel=1e-12)


def test_a_helpful_preconditioner_keeps_the_plain_advice():
    n = 400
    A, b = _laplacian(n), np.ones(n)
    r = solvers.cg(A, b, M=solvers.linear.jacobi(A), rtol=1e-12, maxiter=20)
    assert not r.converged and "did not fall" not in r.message
