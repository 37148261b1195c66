"""sketched_newton on the Hock-Schittkowski / Boggs-Tolle set of problems.nlp against the published optima.

Reference: the optimal values published by Hock and Schittkowski (1981) and in the CUTEst SIF
files, carried by each problem as ``f_star``. A run passes when the objective at the returned
``x`` is within 1e-6 (relative) of ``f_star``, ``||c(x)||_inf <= 1e-8`` and the KKT residual
measured here, at the returned ``(x, lam)``, is ``<= 1e-8``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

nlp = pytest.importorskip("problems.nlp")

from solvers.nonlinear.sketched_newton import sketched_newton  # noqa: E402

#: problems the method does not solve from the standard start, and why (reported, never claimed)
KNOWN_FAILURES = {
    "HS61": "the constraint Jacobian is rank deficient at x0 = 0 (LICQ fails there), the KKT matrix is singular",
}
#: a fast subset solved with every sketch in the default run; the rest of the set is marked slow
FAST = ["HS28", "HS40", "HS42", "HS48", "HS78", "BOOTH", "HIMMELBA", "GENHS28"]
SKETCHES = ["gaussian", "kaczmarz", "countsketch", "block"]


def _kkt(P, res):
    x, lam = res.x, res.lam
    J = P.jac(x)
    JT = J.T @ lam if hasattr(J, "T") else J.rmatvec(lam)
    gL = P.grad(x) + np.asarray(JT).ravel()
    return math.hypot(np.linalg.norm(gL), np.linalg.norm(P.c(x)))


def check_optimum(P, res, name):
    assert res.converged, f"{name}: {res.message}"
    f_star = P.f_star
    assert abs(P.f(res.x) - f_star) <= 1e-6 * max(1.0, abs(f_star)), (name, P.f(res.x), f_star)
    assert np.max(np.abs(P.c(res.x))) <= 1e-8
    assert _kkt(P, res) <= 1e-8
    assert res.history["kkt"].shape == (res.nit + 1,)


@pytest.mark.parametrize("name", [n for n in nlp.HS_NAMES if n not in KNOWN_FAILURES])
def test_minres_reaches_published_optimum(name):
    P = nlp.hs(name)
    res = sketched_newton(P, sketch=None, tol=1e-8, maxiter=100, seed=0)
    check_optimum(P, res, name)


@pytest.mark.parametrize("name", sorted(KNOWN_FAILURES))
def test_known_failures_are_reported_not_claimed(name):
    P = nlp.hs(name)
    res = sketched_newton(P, sketch=None, tol=1e-8, maxiter=100, seed=0)
    if res.converged:             # a claim of convergence must hold on the returned iterate
        assert _kkt(P, res) <= 1e-8
    else:
        assert res.status in ("stagnated", "maxiter") and "try" in res.message


@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("name", FAST)
def test_every_sketch_reaches_published_optimum(name, sketch):
    P = nlp.hs(name)
    res = sketched_newton(P, sketch=sketch, tol=1e-8, maxiter=100, seed=0)
    check_optimum(P, res, name)


def test_median_iterations_minres():
    its = []
    for name in nlp.HS_NAMES:
        if name in KNOWN_FAILURES:
            continue
        res = sketched_newton(nlp.hs(name), sketch=None, tol=1e-8, maxiter=100, seed=0)
        its.append(res.nit)
    # measured 8 on 2026-11-30 (the target is 4; see the report): a regression guard
    assert np.median(its) <= 8
