"""Scalable equality-constrained problems: GENHS28(n) (dense and sparse forms), equality_qp and
sphere_projection. Derivatives against central differences; the exactly known optima against SciPy's
SLSQP (an independent solver) and, for GENHS28 with n = 3, against HS28's published optimum."""
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from problems import nlp
from problems.nlp.problem import jac_t_dot
from test_nlp_catalogue import _dense, _fd_jacobian


def _slsqp(p):
    cons = [{"type": "eq", "fun": p.c, "jac": lambda x: _dense(p.jac(x))}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return optimize.minimize(p.f, p.x0, jac=p.grad, constraints=cons, method="SLSQP",
                                 options={"ftol": 1e-14, "maxiter": 2000})


def _check_derivatives(p, seed=0):
    rng = np.random.default_rng(seed)
    for x in (p.x0, p.x0 + 0.3 * rng.standard_normal(p.n)):
        np.testing.assert_allclose(p.grad(x), _fd_jacobian(p.f, x)[0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(_dense(p.jac(x)), _fd_jacobian(p.c, x), rtol=1e-6, atol=1e-6)
        lam = rng.standard_normal(p.m)
        H_fd = _fd_jacobian(lambda z: p.grad(z) + jac_t_dot(p.jac(z), lam), x)
        np.testing.assert_allclose(_dense(p.hess_lagrangian(x, lam)), H_fd, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ GENHS28
def test_genhs28_n3_is_hs28():
    p, q = nlp.hs("GENHS28", n=3), nlp.hs("HS28")
    np.testing.assert_array_equal(p.x0, q.x0)
    np.testing.assert_allclose(p.x_star, q.x_star, atol=1e-14)
    assert p.f_star == pytest.approx(q.f_star, abs=1e-14)
    x = np.array([0.3, -1.2, 2.0])
    assert p.f(x) == pytest.approx(q.f(x)) and p.c(x) == pytest.approx(q.c(x))


@pytest.mark.parametrize("n", [10, 25])
def test_genhs28_optimum_matches_slsqp(n):
    p = nlp.hs("GENHS28", n=n)
    assert (p.n, p.m) == (n, n - 2)
    r = _slsqp(p)
    assert np.linalg.norm(p.c(r.x)) < 1e-9
    np.testing.assert_allclose(r.fun, p.f_star, rtol=1e-8)
    np.testing.assert_allclose(r.x, p.x_star, atol=1e-6)
    if n == 10:  # the value reported for CUTEst's default size
        assert p.f_star == pytest.approx(0.92717369, abs=5e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_genhs28_derivatives(sparse):
    _check_derivatives(nlp.hs("GENHS28", n=12, sparse=sparse))


def test_genhs28_sparse_form_is_the_dense_form():
    d, s = nlp.hs("GENHS28", n=30), nlp.hs("GENHS28", n=30, sparse=True)
    x, lam = np.linspace(-1, 1, 30), np.linspace(0, 1, 28)
    assert sp.issparse(s.jac(x)) and hasattr(s.hess_lagrangian(x, lam), "matvec")
    np.testing.assert_array_equal(s.jac(x).toarray(), d.jac(x))
    np.testing.assert_allclose(s.hess_lagrangian(x, lam).matvec(x), d.hess_lagrangian(x, lam) @ x)
    np.testing.assert_allclose(s.lagrangian_gradient(x, lam), d.lagrangian_gradient(x, lam))
    q = pickle.loads(pickle.dumps(s))
    assert q.f(x) == s.f(x)


def test_genhs28_large_n_builds_quickly_and_is_feasible_at_x_star():
    p = nlp.hs("GENHS28", n=20000, sparse=True)
    assert np.abs(p.c(p.x_star)).max() < 1e-10
    assert np.linalg.norm(p.lagrangian_gradient(p.x_star, _genhs28_lam(p))) < 1e-8


def _genhs28_lam(p):
    import scipy.sparse.linalg as spla
    J = p.jac(p.x_star)
    return spla.lsqr(J.T, -p.grad(p.x_star), atol=1e-14, btol=1e-14)[0]


@pytest.mark.parametrize("kw, err", [(dict(n=2), ValueError), (dict(n=5.0), TypeError),
                                     (dict(sparse="yes"), TypeError), (dict(m=3), TypeError)])
def test_genhs28_bad_arguments(kw, err):
    with pytest.raises(err):
        nlp.hs("GENHS28", **kw)


# ------------------------------------------------------------------ equality_qp / sphere_projection
@pytest.mark.parametrize("n, m, seed", [(8, 3, 0), (20, 7, 5)])
def test_equality_qp_optimum_matches_slsqp(n, m, seed):
    p = nlp.equality_qp(n, m, seed=seed, cond=50.0)
    _check_derivatives(p, seed)
    r = _slsqp(p)
    np.testing.assert_allclose(r.fun, p.f_star, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.x, p.x_star, atol=1e-6)
    assert np.linalg.norm(p.c(p.x_star)) < 1e-10 * max(1.0, np.linalg.norm(p.x_star))
    assert np.linalg.eigvalsh(p.hess_lagrangian(p.x0, np.zeros(m))).min() > 0.99


@pytest.mark.parametrize("n, m, seed", [(6, 1, 0), (6, 3, 1), (25, 6, 2)])
def test_sphere_projection_optimum_matches_slsqp(n, m, seed):
    p = nlp.sphere_projection(n, m, seed=seed)
    _check_derivatives(p, seed)
    assert np.linalg.norm(p.x_star) == pytest.approx(1.0)
    assert np.linalg.norm(p.c(p.x_star)) < 1e-12
    r = _slsqp(p)
    np.testing.assert_allclose(r.fun, p.f_star, rtol=1e-8)
    np.testing.assert_allclose(r.x, p.x_star, atol=1e-6)


def test_random_problems_are_reproducible_and_pickle():
    a, b = nlp.sphere_projection(10, 3, seed=4), nlp.sphere_projection(10, 3, seed=4)
    np.testing.assert_array_equal(a.x0, b.x0)
    assert a.f_star == b.f_star
    c = pickle.loads(pickle.dumps(nlp.equality_qp(10, 3, seed=1)))
    assert c.f_star == nlp.equality_qp(10, 3, seed=1).f_star


@pytest.mark.parametrize("fn", [nlp.equality_qp, nlp.sphere_projection])
@pytest.mark.parametrize("kw, err", [(dict(n=5, m=5), ValueError), (dict(n=5, m=0), ValueError),
                                     (dict(n=1.5), TypeError), (dict(seed=-1), ValueError)])
def test_random_problems_bad_arguments(fn, kw, err):
    with pytest.raises(err):
        fn(**kw)


def test_equality_qp_bad_cond():
    with pytest.raises(ValueError, match="cond must be >= 1"):
        nlp.equality_qp(5, 2, cond=0.5)


def test_genhs28_dense_refuses_absurd_sizes_and_names_the_fix(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", str(10**8))
    with pytest.raises(MemoryError, match="sparse=True"):
        nlp.hs("GENHS28", n=10**5)
    assert nlp.hs("GENHS28", n=10**5, sparse=True).m == 10**5 - 2


# ------------------------------------------------------------------ properties (no solver involved)
@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), m=st.integers(1, 11), seed=st.integers(0, 10**6), t=st.integers(0, 2**31))
def test_sphere_projection_x_star_beats_every_feasible_point(n, m, seed, t):
    m = min(m, n - 1)
    p = nlp.sphere_projection(n, m, seed=seed)
    assert np.linalg.norm(p.c(p.x_star)) < 1e-10
    B = p.jac(p.x_star)[:-1]
    rng = np.random.default_rng([t, 99])  # a stream unrelated to the problem's own default_rng(seed)
    for _ in range(20):  # random feasible points: normalised projections on null(B)
        v = rng.standard_normal(n)
        if m > 1:
            v -= B.T @ np.linalg.lstsq(B.T, v, rcond=None)[0]
        v /= np.linalg.norm(v)
        assert np.linalg.norm(p.c(v)) < 1e-10
        assert p.f(v) >= p.f_star - 1e-12


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), m=st.integers(1, 11), seed=st.integers(0, 10**6), t=st.integers(0, 2**31))
def test_equality_qp_x_star_beats_every_feasible_point(n, m, seed, t):
    m = min(m, n - 1)
    p = nlp.equality_qp(n, m, seed=seed, cond=10.0)
    A = p.jac(p.x0)
    assert np.linalg.norm(p.c(p.x_star)) < 1e-9 * max(1.0, np.linalg.norm(p.x_star))
    rng = np.random.default_rng([t, 99])
    for _ in range(20):  # x_star + (a null-space direction of A) stays feasible and is no better
        v = rng.standard_normal(n)
        v -= A.T @ np.linalg.lstsq(A.T, v, rcond=None)[0]
        x = p.x_star + v
        assert p.f(x) >= p.f_star - 1e-9 * max(1.0, abs(p.f_star))
