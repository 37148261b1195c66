"""``chebtucker`` against exact functions, analytic integrals and derivatives, SciPy quadrature,
and the Eckart–Young optimum; every box is not [-1, 1]^d unless said."""
import numpy as np
import numpy.polynomial.polynomial as npp
import pytest
import scipy.integrate
from hypothesis import given, settings, strategies as st

from solvers.approx import ChebTucker, chebtucker

from ._funcs import box_points

BOX3 = [(0.0, 2.0), (-3.0, -1.0), (1.0, 1.5)]


def runge2(x):
    return 1.0 / (1.0 + 25.0 * (x[:, 0] ** 2 + x[:, 1] ** 2))


def expsin3(x):
    return np.exp(np.sin(x[:, 0]) * np.cos(x[:, 1]) + 0.5 * x[:, 2])


def test_runge_2d_error_decays_geometrically_at_the_bernstein_ellipse_rate(rng):
    """Singularities of 1/(1 + 25 (x^2 + y^2)) nearest the box sit at x = +-i/5 (y = 0): the
    interpolation error decays like rho^-n, rho = 1/5 + sqrt(1 + 1/25) (Trefethen, ATAP ch. 8)."""
    X = box_points(rng, [(-1, 1), (-1, 1)], 4000)
    degs = np.array([8, 16, 24, 32, 40])
    errs = np.array([np.abs(chebtucker(runge2, [(-1, 1), (-1, 1)], degree=n, tol=1e-15)(X) - runge2(X)).max()
                     for n in degs])
    slope = np.polyfit(degs, np.log(errs), 1)[0]
    rho = 0.2 + np.sqrt(1.04)
    assert -slope == pytest.approx(np.log(rho), rel=0.2)
    assert np.all(np.diff(errs) < 0)


def test_exp_sin_3d_reaches_rounding_on_a_shifted_box(rng):
    X = box_points(rng, BOX3, 20_000)
    errs = [np.abs(chebtucker(expsin3, BOX3, degree=n, tol=1e-14)(X) - expsin3(X)).max() for n in (4, 8, 16, 24)]
    assert errs[0] > 1e-3 and errs[1] < errs[0] * 1e-2 and errs[2] < errs[1] * 1e-3 and errs[3] < 1e-12


@pytest.mark.parametrize("f, dom, ranks", [
    (lambda x: np.exp(x[:, 0] + x[:, 1] + x[:, 2]), BOX3, (1, 1, 1)),
    (lambda x: np.sin(x[:, 0] + x[:, 1]), [(-2.0, 1.0), (0.5, 3.0)], (2, 2)),
    (lambda x: np.sin(x[:, 0] + x[:, 1] + x[:, 2]), BOX3, (2, 2, 2)),
    (lambda x: x[:, 0] * x[:, 1] + x[:, 1] * x[:, 2] ** 2, BOX3, (2, 1, 2)),
    (lambda x: x[:, 0] * x[:, 1] + x[:, 2] ** 2, BOX3, (2, 2, 2)),
    (lambda x: np.cos(x[:, 0] - x[:, 1]) * np.exp(x[:, 2] - x[:, 3]), [(0, 1), (-1, 2), (0, 0.5), (1, 2)],
     (2, 2, 1, 1)),
])
def test_tucker_ranks_are_the_separation_ranks(f, dom, ranks):
    """exp(x+y+z) is one product; sin(a+b) = sin a cos b + cos a sin b has rank 2 in each mode;
    x y + y z^2 = y (x + z^2) has mode ranks (2, 1, 2), x y + z^2 has (2, 2, 2);
    cos(x - y) exp(z - w) has (2, 2, 1, 1)."""
    assert chebtucker(f, dom, degree=20, tol=1e-10).ranks == ranks


@pytest.mark.parametrize("tol", [1e-4, 1e-7, 1e-10])
def test_error_at_1e5_random_points_is_within_the_tolerance(rng, tol):
    """Degree 40 resolves f to ~1e-14, so the error is the compression's: the sup error is
    at most 10 * tol * ||C||_F (||C||_F the coefficient norm; the rigorous factor
    sqrt(prod m_i) is ~260 here), and within 10x of the a-posteriori estimate."""
    f = lambda x: 1.0 / (1.0 + x[:, 0] ** 2 + 0.5 * x[:, 1] ** 2 + x[:, 2] ** 2)  # noqa: E731
    ct = chebtucker(f, BOX3, degree=40, tol=tol)
    X = box_points(rng, BOX3, 100_000)
    err = np.abs(ct(X) - f(X)).max()
    cnorm = np.linalg.norm(ct.core)
    assert err <= 10 * tol * cnorm + 1e-13
    est = ct.error_estimate()
    assert est["truncation"] <= tol * cnorm * 1.000001
    assert err <= 10 * est["total"] + 1e-13
    assert max(ct.ranks) < 41


def test_integral_against_analytic_and_scipy():
    ct = chebtucker(lambda x: np.exp(x[:, 0] + x[:, 1] + x[:, 2]), BOX3, degree=20, tol=1e-13)
    exact = np.prod([np.exp(b) - np.exp(a) for a, b in BOX3])
    assert ct.integral() == pytest.approx(exact, rel=1e-12)
    dom = [(-2.0, 1.0), (0.5, 3.0)]
    g = lambda x: 1.0 / (1.0 + x[:, 0] ** 2 + x[:, 1] ** 2)  # noqa: E731
    ct2 = chebtucker(g, dom, degree=48, tol=1e-13)
    ref, _ = scipy.integrate.dblquad(lambda y, x: 1.0 / (1.0 + x * x + y * y), *dom[0], *dom[1],
                                     epsabs=1e-13, epsrel=1e-13)
    assert ct2.integral() == pytest.approx(ref, rel=1e-11)


def test_gradient_against_analytic(rng):
    f = lambda x: np.exp(np.sin(x[:, 0])) * np.cos(x[:, 1]) * x[:, 2] ** 2  # noqa: E731
    X = box_points(rng, BOX3, 500)
    e, c, s = np.exp(np.sin(X[:, 0])), np.cos(X[:, 1]), X[:, 2] ** 2
    ref = np.stack([e * np.cos(X[:, 0]) * c * s, -e * np.sin(X[:, 1]) * s, 2 * e * c * X[:, 2]], axis=1)
    for be in ("numpy", "numba"):
        g = chebtucker(f, BOX3, degree=28, tol=1e-13, backend=be).gradient(X)
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-9)


def test_on_grid_equals_direct_evaluation(rng):
    ct = chebtucker(expsin3, BOX3, degree=24, tol=1e-13)
    V = ct.on_grid((5, 7, 3))
    axes = [np.linspace(a, b, n) for (a, b), n in zip(BOX3, (5, 7, 3))]
    P = np.stack([g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    np.testing.assert_allclose(V.reshape(-1), expsin3(P), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(V.reshape(-1), ct(P), rtol=1e-12, atol=1e-13)
    axes = [np.sort(rng.uniform(a, b, k)) for (a, b), k in zip(BOX3, (4, 2, 6))]
    W = ct.on_grid(axes)
    P = np.stack([g.reshape(-1) for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    np.testing.assert_allclose(W.reshape(-1), expsin3(P), rtol=1e-11, atol=1e-12)


def test_from_values_equals_callable_build(rng):
    nodes = ChebTucker.nodes(BOX3, (10, 12, 8))
    grids = np.meshgrid(*nodes, indexing="ij")
    V = expsin3(np.stack([g.reshape(-1) for g in grids], axis=1)).reshape(grids[0].shape)
    a = ChebTucker.from_values(V, BOX3, tol=1e-13)
    b = chebtucker(expsin3, BOX3, degree=(10, 12, 8), tol=1e-13)
    assert a.degree == (10, 12, 8)
    X = box_points(rng, BOX3, 200)
    np.testing.assert_allclose(a(X), b(X), rtol=1e-12, atol=1e-13)
    P = np.stack([g.reshape(-1) for g in grids], axis=1)
    np.testing.assert_allclose(a(P), V.reshape(-1), rtol=1e-11, atol=1e-12)   # interpolates


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 5), st.integers(0, 5), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_polynomials_up_to_the_degree_are_reproduced(p, q, terms, seed):
    """A sum of products of polynomials of degrees <= (p, q) is interpolated exactly at degree
    (max(p,1), max(q,1)); reference: NumPy's power-series evaluation."""
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((terms, p + 1)), rng.standard_normal((terms, q + 1))
    dom = [(-0.5, 2.0), (1.0, 4.0)]
    f = lambda x: sum(npp.polyval(x[:, 0], A[k]) * npp.polyval(x[:, 1], B[k]) for k in range(terms))  # noqa: E731
    ct = chebtucker(f, dom, degree=(max(p, 1), max(q, 1)), tol=1e-14)
    X = box_points(rng, dom, 50)
    scale = np.abs(f(X)).max() + 1.0
    np.testing.assert_allclose(ct(X), f(X), atol=1e-10 * scale)
    assert max(ct.ranks) <= terms


def test_hooi_matches_eckart_young_in_2d_and_never_loses_to_hosvd():
    """In 2-D the truncated SVD is optimal (Eckart-Young): HOSVD and HOOI both reach the
    singular-value tail; in 3-D HOOI's measured error never exceeds HOSVD's."""
    g = lambda x: 1.0 / (1.0 + x[:, 0] ** 2 + x[:, 1] ** 2)  # noqa: E731
    dom = [(-2.0, 1.0), (0.5, 3.0)]
    ct = chebtucker(g, dom, degree=30, ranks=4, method="hooi")
    nodes = ChebTucker.nodes(dom, 30)
    P = np.stack([a.reshape(-1) for a in np.meshgrid(*nodes, indexing="ij")], axis=1)
    from solvers.approx import _cheb
    C = _cheb.coefficients(_cheb.coefficients(g(P).reshape(31, 31), axis=0), axis=1)
    s = np.linalg.svd(C, compute_uv=False)
    assert ct.stats["truncation_bound"] == pytest.approx(np.sqrt(np.sum(s[4:] ** 2)), rel=1e-6)
    f3 = lambda x: 1.0 / (1.0 + x[:, 0] ** 2 + 0.5 * x[:, 1] ** 2 + x[:, 2] ** 2)  # noqa: E731
    h = chebtucker(f3, BOX3, degree=20, ranks=(3, 2, 4), method="hooi")
    err = h.to_result().history["error"]
    assert h.stats["hooi_sweeps"] == len(err) - 1 >= 1
    assert np.all(np.diff(err) <= 1e-14) and err[-1] <= err[0]


def test_auto_degree_resolves_smooth_functions_and_warns_on_a_kink(rng):
    """degree='auto' doubles per variable until the trailing coefficients are below tol:
    exp(sin) reaches ~tol at random points with a low degree in the nearly linear variable;
    1/(1 + 25 x^2) needs a high degree in x only; |x| (a kink) stops unresolved with a warning."""
    ct = chebtucker(expsin3, BOX3, tol=1e-10)
    X = box_points(rng, BOX3, 20_000)
    assert ct.stats["resolved"] and np.abs(ct(X) - expsin3(X)).max() < 1e-8
    assert ct.degree == ct.stats["degree"] and ct.degree[2] <= ct.degree[0] and ct.options["degree"] == "auto"
    f = lambda x: np.cos(x[:, 1]) / (1.0 + 25.0 * x[:, 0] ** 2)  # noqa: E731
    dom = [(-1.0, 1.0), (0.0, 1.0)]
    r = chebtucker(f, dom, tol=1e-9)
    assert r.degree[0] >= 64 and r.degree[1] <= 16 and r.stats["resolved"]
    Y = box_points(rng, dom, 20_000)
    assert np.abs(r(Y) - f(Y)).max() < 1e-7
    with pytest.warns(RuntimeWarning, match="auto"):
        k = chebtucker(lambda x: np.abs(x[:, 0] - 0.1) + x[:, 1], dom, tol=1e-10)
    assert not k.stats["resolved"] and k.degree[0] == 512


def test_fixed_degree_reports_whether_it_resolves():
    assert chebtucker(expsin3, BOX3, degree=30, tol=1e-10).stats["resolved"]
    assert not chebtucker(expsin3, BOX3, degree=6, tol=1e-10).stats["resolved"]


@pytest.mark.parametrize("method", ["hosvd", "sthosvd", "hooi"])
@pytest.mark.parametrize("tol", [1e-4, 1e-9])
def test_every_compression_meets_its_bound_against_the_exact_function(rng, method, tol):
    """expsin3 at degree 24 (interpolation error ~1e-13): the error at random points against
    the exact function is within sqrt(prod m) times the Frobenius bound of the discarded
    coefficients (plus the interpolation level), and the bound is within tol * ||C||_F."""
    ct = chebtucker(expsin3, BOX3, degree=24, tol=tol, method=method)
    X = box_points(rng, BOX3, 5000)
    err = np.abs(ct(X) - expsin3(X)).max()
    bound = ct.stats["truncation_bound"]
    assert err <= 25 ** 1.5 * bound + 1e-11
    nodes = ChebTucker.nodes(BOX3, 24)
    P = np.stack([a.reshape(-1) for a in np.meshgrid(*nodes, indexing="ij")], axis=1)
    from solvers.approx import _cheb
    C = expsin3(P).reshape((25,) * 3)
    for i in range(3):
        C = _cheb.coefficients(C, axis=i)
    assert bound <= tol * np.linalg.norm(C) * (1 + 1e-12)

