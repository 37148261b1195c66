"""Problems cross process boundaries (Dask sweeps): they pickle with the standard library, also after
use (per-backend operator caches are dropped), and a solve of the copy gives the same answer."""
import functools
import pickle

import numpy as np
import pytest

import solvers
from problems import ot, pde


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _source(x, y, scale):  # module level: picklable
    return scale * np.sin(np.pi * x) * y


@pytest.mark.parametrize("kind", ["sin", "variable_k", "bubble"])
def test_used_manufactured_poisson_pickles_and_solves_identically(kind):
    p = pde.Poisson.manufactured((14, 13), kind=kind)
    res = solvers.solve(p, method="cg", precond="mg", rtol=1e-10, backend="numba")  # fills the caches
    p.operator("numpy"), p.rhs("numpy")
    assert p._ops and p._rhs is not None
    q = _roundtrip(p)
    assert q._ops == {} and q._rhs is None and repr(q) == repr(p) and q.describe() == p.describe()
    for be in ("numba", "numpy"):
        again = solvers.solve(q, method="cg", precond="mg", rtol=1e-10, backend=be)
        ref = res if be == "numba" else solvers.solve(p, method="cg", precond="mg", rtol=1e-10, backend=be)
        np.testing.assert_array_equal(again.x, ref.x)
        assert again.nit == ref.nit
    assert q.error(res.x) == p.error(res.x)


def test_pickle_holds_no_operator():
    fresh = pde.Poisson.manufactured((30, 30), kind="bubble")
    used = pde.Poisson.manufactured((30, 30), kind="bubble")
    solvers.solve(used, method="cg", precond="mg", backend="numba")
    assert len(pickle.dumps(used)) == len(pickle.dumps(fresh))


def test_poisson_with_module_level_callables_pickles():
    p = pde.Poisson((9, 8), f=functools.partial(_source, scale=2.0), g=np.hypot, k=1.5)
    q = _roundtrip(p)
    np.testing.assert_array_equal(q.rhs("numpy"), p.rhs("numpy"))


@pytest.mark.parametrize("field", ["f", "g", "k"])
def test_user_lambda_gives_a_clear_pickling_error(field):
    p = pde.Poisson((6, 6), **{field: lambda x, y: 1.0 + x * y})
    with pytest.raises(pickle.PicklingError, match=rf"Poisson\.{field} is '.*<lambda>'.*module-level function"):
        pickle.dumps(p)

    def local(x, y):
        return 1.0 + x

    with pytest.raises(pickle.PicklingError, match="nested function"):
        pickle.dumps(pde.Poisson((6, 6), f=local))


def test_used_bratu_pickles():
    b = pde.Bratu((10, 9), lam=3.0)
    u = 0.1 * np.ones(90)
    F = b.residual(u, "numba")
    J = b.jacobian(u, "numba")
    assert b._lap
    c = _roundtrip(b)
    assert c._lap == {} and (c.shape, c.lam, c.domain, c.h) == (b.shape, b.lam, b.domain, b.h)
    np.testing.assert_array_equal(c.residual(u, "numba"), F)
    np.testing.assert_array_equal(c.jacobian(u, "numpy").to_csr().toarray(), J.to_csr().toarray())


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_entropic_ot_pickles_and_solves_identically(method):
    p = ot.random_point_clouds(50, 5e-2, seed=2, m=40)
    res = solvers.solve(p, method=method, tol=1e-9, backend="numpy")
    q = _roundtrip(p)
    np.testing.assert_array_equal(q.C, p.C)
    np.testing.assert_array_equal(q.a, p.a)
    assert (q.eps, q.cost_kind, q.describe()) == (p.eps, p.cost_kind, p.describe())
    again = solvers.solve(q, method=method, tol=1e-9, backend="numpy")
    np.testing.assert_array_equal(again.f, res.f)
    np.testing.assert_array_equal(again.g, res.g)
    assert again.cost == res.cost and again.nit == res.nit
    size = sum(a.nbytes for a in (p.C, p.a, p.b))
    assert len(pickle.dumps(p, protocol=pickle.HIGHEST_PROTOCOL)) <= 1.05 * size + 1024
