"""Outside probe h8 (session 25): a canonical (cp_factors) input that the Chebyshev grid aliases.

``T_16`` is constant (1) on the 9 Chebyshev points of degree 8, so a column ``T_16(x)`` has negligible trailing
coefficients there. The callable path caught this with its off-grid check (helper-76/97); the canonical path had
no such check and returned ``resolved=True`` with an error estimate of 0 and a maximum error of 2.
"""
import warnings

import numpy as np
import pytest

from solvers import ChebTucker, chebtucker

DOM = [(0.0, 2.0), (1.0, 3.0)]


def _t16(x):
    return np.cos(16 * np.arccos(np.clip(x - 1.0, -1.0, 1.0)))        # T_16 mapped to [0, 2]


class _AliasedCP:
    """``T_16(x) + y`` as a canonical function of two terms."""

    def cp_factors(self, nodes):
        x, y = nodes
        return np.array([1.0, 1.0]), [np.stack([_t16(x), np.ones_like(x)], 1), np.stack([np.ones_like(y), y], 1)]


def _f(X):
    return _t16(X[:, 0]) + X[:, 1]


def _points():
    D = np.array(DOM)
    return D[:, 0] + (D[:, 1] - D[:, 0]) * np.random.default_rng(0).random((2000, 2))


def test_cp_auto_degree_is_not_fooled_by_aliasing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ct = chebtucker(_AliasedCP(), DOM, tol=1e-10)
    X = _points()
    err = np.abs(ct(X) - _f(X)).max()
    assert ct.degree[0] >= 16
    assert err < 1e-10, (ct.degree, err)
    assert ct.converged


def test_cp_explicit_degree_aliased_is_not_resolved():
    with pytest.warns(RuntimeWarning, match="not resolved"):
        ct = ChebTucker.from_cp(_AliasedCP(), DOM, degree=8, tol=1e-10)
    X = _points()
    assert np.abs(ct(X) - _f(X)).max() > 1.0          # the grid cannot see T_16 ...
    assert not ct.converged                            # ... and the object says so
    assert ct.error_estimate()["resolved"] is False


def test_cp_check_keeps_smooth_canonical_inputs_resolved():
    """The added check must not flag resolved canonical inputs (sum of Gaussians, a long-range lattice potential)."""
    from problems import potentials as P

    lat = P.cubic_lattice((3, 3, 2))
    V = P.long_range_potential(lat.positions, lat.charges, box=lat.box, cutoff=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        ct = chebtucker(V, V.domain, tol=1e-8)
        g = ChebTucker.from_cp(P.newton_kernel(1e-8, r_min=0.05, r_max=4.0), [(0.3, 1.3), (-0.5, 0.7), (0.1, 0.9)],
                               degree=48, tol=1e-8)
    assert ct.converged and g.converged
    D = np.array(V.domain)
    X = D[:, 0] + (D[:, 1] - D[:, 0]) * np.random.default_rng(1).random((500, 3))
    ref = V.direct(X)
    assert np.abs(ct(X) - ref).max() <= 1e-6 * np.abs(ref).max()
