"""Manufactured solutions: f = -div(k grad u) checked against an independent finite-difference
evaluation of u and k (flux form, Richardson-extrapolated to O(delta^6)), boundary values, pickling."""
import pickle

import numpy as np
import pytest

from problems import pde


def _flux_difference(u, k, x, delta):
    """-sum_a [k(x + d/2 e_a)(u(x + d e_a) - u(x)) - k(x - d/2 e_a)(u(x) - u(x - d e_a))] / d^2.

    Even in ``delta`` (symmetric), so its error expands in delta^2, delta^4, ...
    """
    kf = (lambda *y: np.full_like(y[0], float(k))) if isinstance(k, float) else k
    ux = u(*x)
    total = 0.0
    for a in range(len(x)):
        def shift(s, a=a):
            return [xi + s if b == a else xi for b, xi in enumerate(x)]
        total = total + (kf(*shift(delta / 2)) * (u(*shift(delta)) - ux)
                         - kf(*shift(-delta / 2)) * (ux - u(*shift(-delta)))) / delta ** 2
    return -total


def _reference_source(u, k, x, delta=0.02):
    d1, d2, d3 = (_flux_difference(u, k, x, delta / s) for s in (1, 2, 4))
    r1, r2 = (4 * d2 - d1) / 3, (4 * d3 - d2) / 3
    return (16 * r2 - r1) / 15


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("kind", ["sin", "variable_k", "bubble"])
def test_source_is_minus_div_k_grad_u(kind, d):
    p = pde.Poisson.manufactured((5,) * d, kind=kind)
    x = list(np.random.default_rng(7).uniform(0.05, 0.95, size=(d, 200)))
    f = p.f(*x)
    ref = _reference_source(p.exact, p.k, x)
    # measured: relative error <= 5e-12 (round-off ~ 1e-16 / (delta/4)^2); dropping the grad k term
    # of variable_k is off by ~10
    np.testing.assert_allclose(f, ref, rtol=0, atol=1e-9 * np.abs(ref).max())
    assert np.abs(f).max() > 1.0  # not a trivially zero source


@pytest.mark.parametrize("d", [2, 3])
def test_bubble_vanishes_on_the_unit_box_boundary(d):
    p = pde.Poisson.manufactured((6,) * d, kind="bubble")
    assert p.g == 0.0 and p.describe()["manufactured"] is True
    t = np.linspace(0, 1, 11)
    for a in range(d):
        for side in (0.0, 1.0):
            pts = [t] * d
            pts[a] = np.full_like(t, side)
            np.testing.assert_array_equal(p.exact(*pts), 0.0)
    # off the unit box the boundary data comes from u itself
    q = pde.Poisson.manufactured((6,) * d, kind="bubble", domain=[(-0.5, 1.0)] * d)
    assert q.g is q.exact


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ValueError, match="'sin', 'variable_k', 'bubble'"):
        pde.Poisson.manufactured((5, 5), kind="cos")


@pytest.mark.parametrize("kind", ["sin", "variable_k", "bubble"])
def test_manufactured_fields_pickle(kind):
    p = pde.Poisson.manufactured((7, 6), kind=kind)
    q = pickle.loads(pickle.dumps(p))
    x = p.coordinates()
    for name in ("f", "k", "exact"):
        a, b = getattr(p, name), getattr(q, name)
        np.testing.assert_array_equal(np.broadcast_to(a if isinstance(a, float) else a(*x), x[0].shape),
                                      np.broadcast_to(b if isinstance(b, float) else b(*x), x[0].shape))
