"""Session 7, outsider tests of optimal transport (solvers.sinkhorn / sns / auto, the OT kernel sets,
problems.ot).

Every claim is checked against an independent reference measured on what was returned: the plan
``exp((f_i + g_j - C_ij) / eps)`` recomputed here with ``scipy.special.logsumexp``, POT
(``ot.sinkhorn`` / ``ot.emd2``), or a closed form (one-point marginals, constant costs).
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.special import logsumexp

import solvers
from problems.ot import EntropicOT
from solvers._kernels.numba import ot as NB
from solvers._kernels.numpy import ot as NP

ot = pytest.importorskip("ot")


# ---------------------------------------------------------------------------------------------- references
def log_plan(C, f, g, eps):
    """``(f_i + g_j - C_ij) / eps``, summed before dividing (the plan's exponent)."""
    return (np.asarray(f, float)[:, None] + np.asarray(g, float)[None, :] - np.asarray(C, float)) / eps


def true_error(C, a, b, f, g, eps) -> float:
    """L1 marginal error of the plan of ``(f, g)``, each term relative to its weight (SciPy LSE)."""
    Z = log_plan(C, f, g, eps)
    with np.errstate(over="ignore", invalid="ignore"):
        er = np.sum(a * np.abs(np.expm1(logsumexp(Z, axis=1) - np.log(a))))
        ec = np.sum(b * np.abs(np.expm1(logsumexp(Z, axis=0) - np.log(b))))
    return float(er + ec)


def true_cost(C, f, g, eps) -> float:
    return float((np.exp(log_plan(C, f, g, eps)) * C).sum())


def random_problem(n, m, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    C = rng.random((n, m)) * scale
    a, b = rng.random(n) + 0.05, rng.random(m) + 0.05
    return C, a / a.sum(), b / b.sum()


# ---------------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("eps", [1e-20, 1e-100, 1e-200, 1e-300])
def test_numba_column_lse_is_finite_and_matches_reference_at_tiny_eps(eps):
    """Defect (fixed): the numba column pass ``lse_cols`` returned inf/NaN for a 2 x 2 cost at
    eps = 1e-100 (the FMA-contracted ``z * inv_eps - mx`` of the column's own maximum came out
    positive, and the fast exp of a positive argument overflowed); so g_update, log_marginals and
    sinkhorn(backend='numba') produced NaN potentials where the NumPy reference is finite."""
    rng = np.random.default_rng(7)
    C = rng.random((6, 4))
    f, g = rng.random(6) * 0.1, rng.random(4) * 0.1
    cn, cp = NB.prepare_cost(C), NP.prepare_cost(C)
    ref_col = logsumexp((f[:, None] - C) / eps, axis=0)
    got = NB.col_lse(cn, f, eps)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref_col, rtol=1e-12)
    np.testing.assert_allclose(NP.col_lse(cp, f, eps), ref_col, rtol=1e-12)
    lr, lc = NB.log_marginals(cn, f, g, eps)
    Z = log_plan(C, f, g, eps)
    np.testing.assert_allclose(lr, logsumexp(Z, axis=1), rtol=1e-12)
    np.testing.assert_allclose(lc, logsumexp(Z, axis=0), rtol=1e-12)
    b = np.full(4, 0.25)
    out = NB.g_update(cn, f, np.log(b), eps, np.empty(4))
    np.testing.assert_allclose(out, eps * (np.log(b) - ref_col), rtol=1e-12)


def test_numba_sinkhorn_at_eps_1e_300_matches_numpy_backend():
    C, a, b = np.random.default_rng(1).random((6, 4)), np.full(6, 1 / 6), np.full(4, 1 / 4)
    rn = solvers.sinkhorn(C, a, b, eps=1e-300, maxiter=20, domain="log", backend="numba")
    rp = solvers.sinkhorn(C, a, b, eps=1e-300, maxiter=20, domain="log", backend="numpy")
    assert np.isfinite(rn.f).all() and np.isfinite(rn.g).all(), rn.message
    np.testing.assert_allclose(rn.g, rp.g, rtol=1e-12)
    np.testing.assert_allclose(rn.f, rp.f, rtol=1e-12, atol=10 * 1e-300)   # within the rounding of C / eps
    assert rn.status == rp.status
    assert not rn.converged
