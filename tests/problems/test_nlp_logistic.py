"""Logistic regression problems: the breast-cancer file (shape, class counts of the published data set,
checksum), the loss against direct summation, hand derivatives against central differences, the
unconstrained minimiser against scikit-learn's LogisticRegression (an independent solver), the constrained
problem's feasibility by construction and a KKT point found by SciPy's SLSQP, and hostile inputs."""
import hashlib
import pickle
import warnings

import numpy as np
import pytest
from scipy import optimize

from problems import nlp
from problems.nlp import logistic
from problems.nlp.problem import jac_t_dot
from test_nlp_catalogue import _fd_jacobian

SHA256 = "9173fe82f7401ba1007c73f4888db17fb6ce4683795c8ec95814ac4e4ce2410d"


def test_breast_cancer_file_is_the_documented_one():
    path = logistic.data_dir() / "breast_cancer.csv"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256  # as listed in data/README.md
    Z, y = nlp.load_dataset("breast_cancer")
    assert Z.shape == (569, 30)
    assert (np.sum(y == 1), np.sum(y == -1)) == (357, 212)  # benign / malignant, as published by UCI
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)


def test_breast_cancer_matches_scikit_learns_copy():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    d = sklearn_datasets.load_breast_cancer()
    raw = np.loadtxt(logistic.data_dir() / "breast_cancer.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(raw[:, :-1], d.data)
    np.testing.assert_array_equal(raw[:, -1], d.target)


def test_missing_data_dir_gives_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWTONKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pip install -e"):
        nlp.load_dataset("breast_cancer")


def _direct_loss(Z, y, x):
    total = 0.0
    for zi, yi in zip(Z, y):
        total += np.log1p(np.exp(-yi * float(zi @ x)))
    return total / len(y)


@pytest.mark.parametrize("dataset", ["breast_cancer", "synthetic"])
def test_loss_matches_direct_summation(dataset):
    L = nlp.logistic_loss(dataset, reg=0.3)
    Z, y = nlp.load_dataset(dataset)
    x = np.random.default_rng(1).standard_normal(L.n) * 0.2
    assert L.fun(x) == pytest.approx(_direct_loss(Z, y, x) + 0.15 * x @ x, rel=1e-12)
    assert L.fun(L.x0) == pytest.approx(np.log(2.0), rel=1e-14)


def test_loss_is_stable_for_huge_margins():
    Z, y = np.array([[1.0], [-1.0]]), np.array([1.0, -1.0])
    L = nlp.logistic_loss((Z, y), reg=0.0)
    assert L.fun(np.array([1e4])) == pytest.approx(0.0, abs=1e-300)
    assert L.fun(np.array([-1e4])) == pytest.approx(1e4, rel=1e-12)  # log(1 + e^1e4) without overflow
    assert np.all(np.isfinite(L.jac(np.array([-1e4])))) and np.all(np.isfinite(L.hess(np.array([-1e4]))))


@pytest.mark.parametrize("dataset", ["breast_cancer", "synthetic"])
def test_unconstrained_derivatives_match_central_differences(dataset):
    L = nlp.logistic_loss(dataset, reg=0.05)
    rng = np.random.default_rng(3)
    for x in (L.x0, 0.3 * rng.standard_normal(L.n)):
        np.testing.assert_allclose(L.jac(x), _fd_jacobian(L.fun, x)[0], rtol=1e-6, atol=1e-8)
        H = L.hess(x)
        np.testing.assert_allclose(H, _fd_jacobian(L.jac, x), rtol=1e-6, atol=1e-8)
        p = rng.standard_normal(L.n)
        np.testing.assert_allclose(L.hessp(x, p), H @ p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dataset, reg", [("breast_cancer", 1e-2), ("synthetic", 1e-3)])
def test_unconstrained_minimiser_matches_scikit_learn(dataset, reg):
    linear_model = pytest.importorskip("sklearn.linear_model")
    fun, jac, hess, hessp, x0 = L = nlp.logistic_loss(dataset, reg=reg)
    r = optimize.minimize(fun, x0, jac=jac, hessp=hessp, method="trust-ncg", options={"gtol": 1e-10})
    assert r.success
    Z, y = nlp.load_dataset(dataset)
    # sklearn minimises 1/2 |w|^2 + C sum_i log(1 + exp(-y_i z_i^T w)): the same minimiser for C = 1/(N reg)
    sk = linear_model.LogisticRegression(C=1.0 / (len(y) * reg), fit_intercept=False, tol=1e-12, max_iter=10000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(Z, y)
    w = sk.coef_.ravel()
    np.testing.assert_allclose(r.x, w, rtol=1e-5, atol=1e-6 * np.abs(w).max())
    assert L.fun(r.x) == pytest.approx(L.fun(w), rel=1e-9)


def test_logistic_loss_pickles_and_unpacks():
    L = nlp.logistic_loss("synthetic", reg=0.1, seed=2)
    M = pickle.loads(pickle.dumps(L))
    x = np.linspace(-1, 1, L.n)
    assert M.fun(x) == L.fun(x) and repr(M) == repr(L)
    fun, jac, hess, hessp, x0 = M
    np.testing.assert_array_equal(x0, np.zeros(L.n))
    assert fun(x) == L.fun(x)


# ------------------------------------------------------------------ constrained
@pytest.mark.parametrize("dataset, k", [("breast_cancer", 10), ("synthetic", 3), ("breast_cancer", 0)])
def test_constrained_shapes_feasibility_and_derivatives(dataset, k):
    p = nlp.logistic_regression(dataset, constraints=k, seed=4)
    assert (p.n, p.m) == ((30 if dataset == "breast_cancer" else 20), k + 1)
    assert np.linalg.norm(p.c(p.x_feasible)) < 1e-12  # nonempty feasible set by construction
    assert p.f_star is None and p.x_star is None
    rng = np.random.default_rng(5)
    for x in (p.x0, p.x0 + 0.2 * rng.standard_normal(p.n)):
        np.testing.assert_allclose(p.grad(x), _fd_jacobian(p.f, x)[0], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(p.jac(x), _fd_jacobian(p.c, x), rtol=1e-6, atol=1e-8)
        lam = rng.standard_normal(p.m)
        H_fd = _fd_jacobian(lambda z: p.grad(z) + jac_t_dot(p.jac(z), lam), x)
        np.testing.assert_allclose(p.hess_lagrangian(x, lam), H_fd, rtol=1e-6, atol=1e-7)


def test_constrained_problem_has_a_local_minimiser_slsqp_finds():
    p = nlp.logistic_regression("breast_cancer", constraints=10, seed=0)
    cons = [{"type": "eq", "fun": p.c, "jac": p.jac}]
    r = optimize.minimize(p.f, p.x0, jac=p.grad, constraints=cons, method="SLSQP",
                          options={"ftol": 1e-14, "maxiter": 1000})
    assert r.success and np.linalg.norm(p.c(r.x)) < 1e-10
    lam = p.least_squares_multipliers(r.x)
    assert p.kkt_residual(r.x, lam) < 1e-6
    # second-order sufficiency: the Hessian of the Lagrangian is positive definite on the null space of J
    J = p.jac(r.x)
    N = np.linalg.svd(J)[2][p.m:].T
    assert np.linalg.eigvalsh(N.T @ p.hess_lagrangian(r.x, lam) @ N).min() > 1e-3
    assert r.fun < p.f(p.x_feasible)  # better than the feasible point we planted


def test_constrained_is_reproducible_and_pickles():
    a = nlp.logistic_regression("synthetic", constraints=4, seed=7)
    b = pickle.loads(pickle.dumps(nlp.logistic_regression("synthetic", constraints=4, seed=7)))
    np.testing.assert_array_equal(a.x0, b.x0)
    np.testing.assert_array_equal(a.jac(a.x0), b.jac(b.x0))
    assert a.f(a.x0) == b.f(b.x0)
    c = nlp.logistic_regression("synthetic", constraints=4, seed=8)
    assert not np.array_equal(a.jac(a.x0), c.jac(c.x0))


@pytest.mark.parametrize("kw, err, msg", [
    (dict(dataset="iris"), ValueError, "unknown dataset 'iris'; known: breast_cancer, synthetic"),
    (dict(dataset=42), TypeError, "dataset must be one of"),
    (dict(constraints=29), ValueError, "at most d - 2 = 28"),
    (dict(constraints=-1), ValueError, "constraints must be an integer >= 0"),
    (dict(constraints=2.5), TypeError, "constraints must be an integer"),
    (dict(seed=-3), ValueError, "seed"),
])
def test_constrained_bad_arguments(kw, err, msg):
    with pytest.raises(err, match=msg):
        nlp.logistic_regression(**kw)


@pytest.mark.parametrize("data, err, msg", [
    ((np.ones((5, 2)), np.array([1.0, -1, 1, 2, 1])), ValueError, "labels -1 and \\+1"),
    ((np.ones((5, 2)), np.ones(4)), ValueError, "must agree"),
    ((np.ones(5), np.ones(5)), ValueError, "2-D"),
    ((np.full((3, 2), np.nan), np.ones(3)), ValueError, "NaN"),
])
def test_custom_data_is_checked(data, err, msg):
    with pytest.raises(err, match=msg):
        nlp.logistic_loss(data)


def test_custom_zero_one_labels_map_to_minus_plus_one():
    Z = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]])
    _, y = nlp.load_dataset((Z, np.array([0, 1, 1, 0])))
    np.testing.assert_array_equal(y, [-1.0, 1.0, 1.0, -1.0])


@pytest.mark.parametrize("reg, err", [(-1.0, ValueError), (np.nan, ValueError), ("0.1", TypeError)])
def test_bad_reg(reg, err):
    with pytest.raises(err, match="reg"):
        nlp.logistic_loss("synthetic", reg=reg)
