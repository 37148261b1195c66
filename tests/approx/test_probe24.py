"""Chebyshev-Tucker problems found by the session-24 outside probe (helper-97), each against the exact function
or the documented contract."""
import warnings

import numpy as np
import pytest

from solvers.approx import chebtucker
from solvers.approx.chebtucker import ChebTucker


def _exp(X):
    return np.exp(X.sum(1))


def test_auto_degree_respects_the_memory_limit(monkeypatch):
    """degree='auto' sampled (64, 512, 512) at a 0.2 GB limit (2 GB resident); an explicit degree was refused."""
    from solvers.approx import _validate

    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "9e7")
    x0 = np.array([1.01, 0.3, 0.7])
    with pytest.warns(RuntimeWarning, match="memory limit"):
        ct = chebtucker(lambda X: 1 / np.linalg.norm(X - x0, axis=1), [(0, 1)] * 3, tol=1e-6)
    assert _validate.grid_bytes(np.prod([n + 1 for n in ct.degree]), 3) <= 9e7
    assert not ct.converged


def test_a_bad_memory_limit_is_caught_on_the_auto_path(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_MEMORY_LIMIT", "abc")
    with pytest.raises(ValueError, match="NEWTONKIT_MEMORY_LIMIT"):
        chebtucker(_exp, [(0, 1)] * 2)


@pytest.mark.parametrize("dom", [[(0, 1)] * 2, [(-2, 3), (1, 1.5)]])
def test_an_f_that_changes_its_input_in_place(dom):
    def f(X):
        X -= 0.5
        return np.exp(X.sum(1))

    ct = chebtucker(f, dom, tol=1e-10)
    assert ct.converged
    pts = np.random.default_rng(0).uniform([a for a, _ in dom], [b for _, b in dom], (1000, 2))
    exact = np.exp((pts - 0.5).sum(1))                     # reference: the function itself
    assert np.max(np.abs(ct(pts) - exact)) <= 1e-8 * np.abs(exact).max()


@pytest.mark.parametrize("k", [20, 30])
def test_an_explicit_degree_that_aliases_is_not_converged(k):
    """T_k(x) + y at degree 12 is exact on the grid (T_k aliases to a low-degree polynomial there)."""
    f = lambda X: np.cos(k * np.arccos(X[:, 0])) + X[:, 1]          # noqa: E731
    with pytest.warns(RuntimeWarning, match="off the sampling grid"):
        ct = chebtucker(f, [(-1, 1)] * 2, degree=12)
    assert not ct.converged and ct.status == "maxiter"
    good = chebtucker(f, [(-1, 1)] * 2, degree=2 * k)
    pts = np.random.default_rng(1).uniform(-1, 1, (500, 2))
    assert good.converged and np.max(np.abs(good(pts) - f(pts))) < 1e-10


def test_the_auto_warning_names_aliasing():
    f = lambda X: 1 + 1e-3 * np.sin(512 * np.arccos(X[:, 0]))        # noqa: E731  (zero on every 512-grid)
    with pytest.warns(RuntimeWarning, match="aliases f"):
        ct = chebtucker(f, [(-1, 1)], tol=1e-8)
    assert not ct.converged


@pytest.mark.parametrize("call", [
    lambda ct: chebtucker(_exp, [(0, 10 ** 400)]),
    lambda ct: chebtucker(_exp, [(0, 1)], tol=10 ** 400),
    lambda ct: ct.truncate(10 ** 400),
    lambda ct: ct + 10 ** 400,
    lambda ct: ct - 10 ** 400,
])
def test_huge_python_ints_are_named_value_errors(call):
    ct = chebtucker(_exp, [(0, 1)] * 2)
    with pytest.raises(ValueError, match="domain|tol|constant"):
        call(ct)


@pytest.mark.parametrize("kw,match", [({"factors": None}, "factors"), ({"stats": 5}, "stats"),
                                      ({"history": 5}, "history")])
def test_constructor_arguments_are_named(kw, match):
    ct = chebtucker(_exp, [(0, 1)] * 2)
    args = {"core": ct.core, "factors": ct.factors, "domain": ct.domain, **kw}
    with pytest.raises(TypeError, match=match):
        ChebTucker(args.pop("core"), args.pop("factors"), args.pop("domain"), **args)


def test_cp_factors_errors_are_named():
    class NotCallable:
        cp_factors = 3

    class BadReturn:
        def cp_factors(self, nodes):
            return np.ones(1), 5

    with pytest.raises(TypeError, match="cp_factors"):
        chebtucker(NotCallable(), [(0, 1)])
    with pytest.raises(TypeError, match="cp_factors"):
        chebtucker(BadReturn(), [(0, 1)])


@pytest.mark.parametrize("name", ["core", "factors", "domain", "tol"])
def test_rebinding_what_the_caches_derive_from_is_refused(name):
    ct = chebtucker(_exp, [(0, 1)] * 2)
    p = np.array([[0.5, 0.5]])
    v = ct(p)
    with pytest.raises(AttributeError, match=name):
        setattr(ct, name, getattr(ct, name))
    assert ct(p) == v and abs(v[0] - np.e) < 1e-12
