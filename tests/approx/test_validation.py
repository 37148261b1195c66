"""Hostile inputs: every bad argument raises a clear error naming it, before f is sampled."""
import numpy as np
import pytest

from solvers.approx import ChebTucker, chebtucker

from ._funcs import gaussians

DOM = [(0.0, 1.0), (-1.0, 2.0)]


def f2(x):
    return np.exp(x[:, 0] - x[:, 1])


class Spy:
    """Counts calls: validation must fail before any function value is sampled."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return f2(x)


@pytest.mark.parametrize("kw, exc, match", [
    ({"domain": [(1.0, 0.0), (0, 1)]}, ValueError, r"domain\[0\].*lo < hi"),
    ({"domain": [(0.0, np.nan), (0, 1)]}, ValueError, "domain must be finite"),
    ({"domain": [(0.0, np.inf), (0, 1)]}, ValueError, "domain must be finite"),
    ({"domain": [0.0, 1.0]}, ValueError, r"shape \(d, 2\)"),
    ({"domain": [(0, 1, 2)]}, ValueError, r"shape \(d, 2\)"),
    ({"domain": "box"}, TypeError, "domain"),
    ({"domain": [(1e9, 1e9 + 1e-6), (0, 1)]}, ValueError, "rescale"),
    # outside probe (session 22): accepted, then every value was NaN (2 x and hi + lo overflow in the map)
    ({"domain": [(9e307, 9e307 + 5e299), (0, 1)]}, ValueError, r"domain\[0\].*at most 1e300"),
    ({"domain": [(0, 1), (-1.7e308, -1.7e308 + 1e300)]}, ValueError, r"domain\[1\].*at most 1e300"),
    ({"degree": 0}, ValueError, "degree"),
    ({"degree": -3}, ValueError, "degree"),
    ({"degree": 2.5}, TypeError, "degree"),
    ({"degree": True}, TypeError, "degree"),
    ({"degree": (4, 5, 6)}, ValueError, "degree"),
    ({"degree": 5000}, ValueError, "degree"),
    ({"tol": 0.0}, ValueError, "tol"),
    ({"tol": -1e-6}, ValueError, "tol"),
    ({"tol": np.nan}, ValueError, "tol"),
    ({"tol": 1.5}, ValueError, "tol"),
    ({"tol": 1e-300}, ValueError, "tol"),
    ({"tol": "1e-6"}, TypeError, "tol"),
    ({"ranks": 0}, ValueError, "ranks"),
    ({"ranks": (2, 2, 2)}, ValueError, "ranks"),
    ({"ranks": (2, 1.5)}, TypeError, "ranks"),
    ({"method": "svd"}, ValueError, "method"),
    ({"hooi_sweeps": 0}, ValueError, "hooi_sweeps"),
    ({"backend": "fortran"}, ValueError, "backend"),
    ({"degree": 600, "domain": [(0, 1)] * 3}, ValueError, "grid would have"),
])
def test_bad_options_raise_before_sampling(kw, exc, match):
    spy = Spy()
    args = {"domain": DOM, "degree": 6, **kw}
    dom = args.pop("domain")
    with pytest.raises(exc, match=match):
        chebtucker(spy, dom, **args)
    assert spy.calls == 0


@pytest.mark.parametrize("bad, match", [
    (lambda x: np.ones((x.shape[0], 1)), r"f \(<lambda>\) returned shape"),
    (lambda x: np.ones(x.shape[0] + 1), "returned shape"),
    (lambda x: np.where(x[:, 0] > 0.5, np.nan, 1.0), "non-finite"),
    (lambda x: 1.0 / (x[:, 0] - x[:, 0]), "non-finite"),
])
def test_bad_function_values_name_f(bad, match):
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(ValueError, match=match):
        chebtucker(bad, DOM, degree=4)


def test_bad_f_and_cp_objects(rng):
    with pytest.raises(TypeError, match="f must be callable"):
        chebtucker(3.0, DOM)

    class BadCP:
        def __init__(self, out):
            self.out = out

        def cp_factors(self, nodes):
            return self.out

    w, U = gaussians(rng, 3, 2).cp_factors(ChebTucker.nodes(DOM, 5))
    for out, exc, match in [([w, U], TypeError, "must return"), ((w[:, None], U), ValueError, "weights"),
                            ((w, U[:1]), ValueError, "1 factor matrices for 2"),
                            ((w, [U[0][:-1], U[1]]), ValueError, "factor 0 has shape"),
                            ((np.array([np.nan, 1, 1]), U), ValueError, "non-finite")]:
        with pytest.raises(exc, match=match):
            chebtucker(BadCP(out), DOM, degree=5)


def test_bad_points_and_grids():
    ct = chebtucker(f2, DOM, degree=6)
    for pts, exc, match in [(np.zeros((3, 3)), ValueError, r"shape \(N, 2\)"),
                            (np.array([[0.5, np.nan]]), ValueError, "NaN"),
                            (np.array([[1.5, 0.0]]), ValueError, "outside the domain"),
                            (np.array([["a", "b"]]), TypeError, "points")]:
        with pytest.raises(exc, match=match):
            ct(pts)
        with pytest.raises(exc, match=match):
            ct.gradient(pts)
    with pytest.raises(ValueError, match="grid"):
        ct.on_grid(0)
    with pytest.raises(ValueError, match=r"grid\[1\]"):
        ct.on_grid([np.array([0.0, 0.5]), np.array([3.0])])
    with pytest.raises(ValueError, match="values"):
        ChebTucker.from_values(np.ones((4, 4, 4)), DOM)
    with pytest.raises(ValueError, match="values contain"):
        ChebTucker.from_values(np.full((4, 4), np.nan), DOM)
    with pytest.raises(ValueError, match="tol"):
        ct.truncate(0.0)
    with pytest.raises(ValueError, match="finite"):     # a named error since session 14 (was Python's TypeError)
        ct * np.nan
    with pytest.raises(TypeError):
        ct + "1"


def test_the_zero_function_is_rank_one_zero():
    class Zero:
        def cp_factors(self, nodes):
            return np.zeros(2), [np.ones((x.size, 2)) for x in nodes]

    for f in (lambda x: 0.0 * x[:, 0], Zero()):
        ct = chebtucker(f, DOM, degree=5)
        assert ct.ranks == (1, 1) and ct(np.array([[0.5, 0.5]]))[0] == 0.0 and ct.integral() == 0.0


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_huge_and_tiny_functions_keep_their_relative_accuracy(rng, scale):
    """Values and canonical weights are scaled to unit size before the transforms: 1e300 f and
    1e-300 f are approximated to the same relative accuracy as f (reference: f itself)."""
    from ._funcs import GaussianSum, box_points

    dom = [(0.0, 1.0)] * 3
    X = box_points(rng, dom, 500)
    f = lambda x: scale * np.exp(x.sum(axis=1) * np.sin(x[:, 0]))  # noqa: E731
    ct = chebtucker(f, dom, tol=1e-10)
    np.testing.assert_allclose(ct(X), f(X), rtol=1e-9)
    g = GaussianSum([scale, -0.5 * scale], [1.0, 2.0], [[0.2] * 3, [0.5] * 3])
    cg = chebtucker(g, dom, tol=1e-10)
    np.testing.assert_allclose(cg(X), g(X), rtol=1e-8)
    assert np.isfinite(ct.integral()) and np.isfinite(cg.error_estimate()["total"])
    np.testing.assert_allclose((ct + 2.0 * ct).truncate(1e-9)(X), 3.0 * f(X), rtol=1e-8)


def test_subnormal_values_are_refused():
    with pytest.raises(ValueError, match="subnormal"):
        chebtucker(lambda x: 1e-320 * np.exp(x[:, 0]), DOM, degree=4)


def test_division_by_a_number_and_overflowing_factors(rng):
    """``ct / a`` is ``ct * (1 / a)`` (checked against the function itself); a factor that overflows the core
    and a divisor with no finite reciprocal are named ValueErrors (were: ``/`` a TypeError, and an overflow
    RuntimeWarning followed by "core and factors must be finite")."""
    def f(x):
        return 1e10 * np.exp(x[:, 0] * x[:, 1])

    ct = chebtucker(f, [(0.0, 1.0), (-1.0, 2.0)], degree=24, tol=1e-12)
    X = rng.uniform([0.0, -1.0], [1.0, 2.0], (200, 2))
    np.testing.assert_allclose((ct / 4)(X), f(X) / 4, rtol=1e-10)
    np.testing.assert_allclose((ct / -3.0)(X), f(X) / -3.0, rtol=1e-10)
    with pytest.raises(ValueError, match=r"\* 1.000e\+308 overflows the core"):
        ct * 1e308
    with pytest.raises(ValueError, match=r"/ 1.000e-300 overflows the core"):
        ct / 1e-300
    for bad in (0, 0.0, np.nan, np.inf, 10 ** 400):
        with pytest.raises(ValueError, match="divisor"):
            ct / bad
    with pytest.raises(ValueError, match="factor"):
        ct * 10 ** 400
    tiny = chebtucker(lambda x: 1e-10 * np.exp(x[:, 0] * x[:, 1]), [(0.0, 1.0), (-1.0, 2.0)], degree=24, tol=1e-12)
    np.testing.assert_allclose((tiny / 1e-310)(X), 1e-10 * np.exp(X[:, 0] * X[:, 1]) / 1e-310, rtol=1e-10)
    with pytest.raises(TypeError):
        ct / "2"
    with pytest.raises(TypeError):
        2 / ct


def test_table_error_estimate_sees_the_ends_of_the_box():
    """The table route's error concentrates near the box ends; the function-level check sampled t uniformly and
    missed it (sqrt(x + 1.001): estimate 2.8e-13, true 1.2e-11 at x = -0.999998; log(1.01 - x) at degree 256: 3.2e-12
    against 3.2e-11; helper-67). Half its points are now uniform in arccos t. Reference: the function itself at
    10^5 uniform points and 2000 points geometrically close to the end."""
    X = np.random.default_rng(1).uniform(-1, 1, (100000, 1))
    X = np.vstack([X, -1 + np.geomspace(1e-9, 1e-2, 2000)[:, None], 1 - np.geomspace(1e-9, 1e-2, 2000)[:, None]])
    for f, kw in ((lambda p: np.sqrt(p[:, 0] + 1.001), {"degree": "auto"}),
                  (lambda p: np.log(1.01 - p[:, 0]), {"degree": 256})):
        ct = chebtucker(f, [(-1, 1)], tol=1e-9, **kw)
        assert ct.eval_route == "table"
        true = np.abs(ct(X) - f(X)).max()
        assert ct.error_estimate()["total"] >= 0.2 * true


def test_from_cp_and_factor_shapes_are_named():
    with pytest.raises(TypeError, match="cp_factors"):
        ChebTucker.from_cp(lambda p: p[:, 0], [(0, 1)], degree=4)
    with pytest.raises(ValueError, match=r"factors\[0\] has shape \(3,\)"):
        ChebTucker(np.ones((1, 1)), [np.ones(3), np.ones((3, 1))], [(0, 1), (2, 3)])


def test_a_box_near_the_float64_limit_is_refused_and_one_at_1e300_evaluates():
    """The constructor refuses a box whose map to [-1, 1] overflows (it used to return NaN values without a
    word); a box whose bounds are at most 1e300 evaluates exactly (the interpolant of (x - lo) / w + y is
    linear: value 0.5 + 0.5 t_x + ... checked analytically at the corners)."""
    from solvers.approx import ChebTucker

    core, facs = np.ones((1, 1)), [np.array([[1.0], [0.5]]), np.array([[1.0]])]
    with pytest.raises(ValueError, match="at most 1e300"):
        ChebTucker(core, facs, [(9e307, 9e307 + 5e299), (0.0, 1.0)], eval_method="chebyshev")
    lo, w = 0.9e300, 5e297
    ct = ChebTucker(core, facs, [(lo, lo + w), (0.0, 1.0)], eval_method="chebyshev")
    got = np.asarray(ct(np.array([[lo, 0.5], [lo + w, 0.5], [lo + w / 2, 0.5]])))
    np.testing.assert_allclose(got, [0.5, 1.5, 1.0], rtol=1e-12)


@pytest.mark.parametrize("f, dom, tol", [
    (lambda p: np.abs(p[:, 0]) + np.cos(p[:, 1]) + p[:, 2], [(-1.2, 2.1), (0.0, 1.0), (1.0, 2.0)], 1e-4),
    (lambda p: np.sqrt(np.abs(p[:, 0])), [(-1.2, 2.1)], 1e-3),
    (lambda p: np.maximum(p[:, 0], p[:, 1]), [(0.0, 1.0), (0.0, 1.0)], 1e-3)])
def test_auto_degree_does_not_call_a_kink_resolved_at_a_moderate_tol(f, dom, tol):
    """Outside probe (session 22): with degree='auto' the decay test was skipped, and |x|, sqrt|x| and max(x, y)
    came out converged/resolved with a measured error 4-47 x tol (the trailing coefficients of a kink fall
    below tol long before the error does). Now converged is False, with the warning, whenever the measured error
    (at 2000 random points, against f itself) exceeds tol."""
    from solvers.approx import chebtucker as build

    # (since session 37 a mode whose small tail fails the decay test is doubled up to twice more, _sample.DECAY_GROW,
    # and there the tail estimate of |x| can rise above tol again: either warning is the true one)
    with pytest.warns(RuntimeWarning, match="decay algebraically|trailing Chebyshev coefficients are above tol"):
        ct = build(f, dom, tol=tol)
    lo, hi = np.array(dom).T
    x = lo + np.random.default_rng(0).random((2000, len(dom))) * (hi - lo)
    err = np.abs(np.asarray(ct(x)) - f(x)).max() / np.abs(f(x)).max()
    assert not ct.converged and not ct.stats["resolved"]
    assert err > tol                                       # (the claim it replaces was false)


@pytest.mark.parametrize("f, tol", [(lambda p: np.log(1.05 + p[:, 0]), 1e-10), (lambda p: np.log(1.001 + p[:, 0]), 1e-6),
                                    (lambda p: np.tanh(20 * p[:, 0]), 1e-8),
                                    # review (session 22): called unresolved at moderate tols on the auto path
                                    (lambda p: np.log(1.05 + p[:, 0]), 1e-3), (lambda p: np.log(1.05 + p[:, 0]), 1e-6),
                                    (lambda p: np.sqrt(p[:, 0] + 1.01), 1e-3), (lambda p: np.sqrt(p[:, 0] + 1.01), 1e-6)])
def test_auto_degree_still_resolves_smooth_functions_near_a_singularity(f, tol):
    from solvers.approx import chebtucker as build

    ct = build(f, [(-1.0, 1.0)], tol=tol)
    x = np.random.default_rng(1).uniform(-1, 1, (4000, 1))
    assert ct.converged
    assert np.abs(np.asarray(ct(x)) - f(x)).max() <= 10 * tol * np.abs(f(x)).max()
