"""EqualityConstrainedProblem: the duck interface (f, grad, c, jac, hess_lagrangian as given), n and m
from x0 and c(x0), validation of every construction argument, KKT helpers against hand-computed values,
and pickling (a lambda gives a clear PicklingError)."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

from problems.nlp import EqualityConstrainedProblem


# a small problem written with module-level functions: min x1^2 + x2^2 + x3^2 s.t. x1 + x2 + x3 = 3,
# x1 - x2 = 0; the solution is (1, 1, 1) with multipliers lam = (-2, 0) (grad 2x + J^T lam = 0)
def f(x):
    return float(x @ x)


def grad(x):
    return 2.0 * x


def c(x):
    return np.array([x.sum() - 3.0, x[0] - x[1]])


def jac(x):
    return np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]])


def jac_sparse(x):
    return sp.csr_matrix(jac(x))


def jac_operator(x):
    return aslinearoperator(jac(x))


def hess(x, lam):
    return 2.0 * np.eye(3)


X0 = np.array([0.5, -1.0, 2.0])


def make(**kw):
    args = dict(f=f, grad=grad, c=c, jac=jac, hess_lagrangian=hess, x0=X0)
    args.update(kw)
    return EqualityConstrainedProblem(args.pop("f"), args.pop("grad"), args.pop("c"), args.pop("jac"),
                                      args.pop("hess_lagrangian"), args.pop("x0"), **args)


def test_attributes_and_duck_interface():
    p = make(name="toy", f_star=3.0, x_star=[1, 1, 1], source="here")
    assert (p.n, p.m) == (3, 2)
    assert p.f is f and p.grad is grad and p.c is c and p.jac is jac and p.hess_lagrangian is hess
    assert p.methods == ("sketched_newton",)
    assert p.x0.dtype == np.float64 and p.x0 is not X0
    assert p.lam0 is None                    # the solver chooses (safeguarded least-squares multipliers)
    assert p.describe() == {"problem": "EqualityConstrainedProblem", "name": "toy", "n": 3, "m": 2,
                            "source": "here", "f_star": 3.0}
    assert repr(p) == "EqualityConstrainedProblem(name='toy', n=3, m=2, f_star=3)"


def test_x0_is_a_copy():
    x0 = X0.copy()
    p = make(x0=x0)
    x0[0] = 99.0
    assert p.x0[0] == 0.5


@pytest.mark.parametrize("jacobian", [jac, jac_sparse, jac_operator])
def test_kkt_helpers_at_the_known_solution(jacobian):
    p = make(jac=jacobian)
    xs, lam = np.ones(3), np.array([-2.0, 0.0])
    assert p.kkt_residual(xs, lam) == pytest.approx(0.0, abs=1e-14)
    np.testing.assert_allclose(p.least_squares_multipliers(xs), lam, atol=1e-12)
    # away from it: grad L = 2x + J^T lam, hand-computed
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p.lagrangian_gradient(x, [1.0, 1.0]), [4.0, 4.0, 7.0])
    assert p.kkt_residual(x, [1.0, 1.0]) == pytest.approx(np.sqrt(16 + 16 + 49 + 9 + 1))


def test_lam0_is_checked_and_kept():
    p = make(lam0=[1.0, 2.0])
    np.testing.assert_array_equal(p.lam0, [1.0, 2.0])
    with pytest.raises(ValueError, match="lam0 must have m = 2"):
        make(lam0=[1.0])


@pytest.mark.parametrize("which", ["f", "grad", "c", "jac", "hess_lagrangian"])
def test_non_callable_is_a_type_error_naming_the_argument(which):
    with pytest.raises(TypeError, match=f"^{which} must be callable"):
        make(**{which: np.ones(3)})


@pytest.mark.parametrize("x0, err, msg", [
    (np.ones((3, 1)), ValueError, "1-D"),
    ([1.0, np.nan, 0.0], ValueError, "NaN or inf"),
    ([1.0, np.inf, 0.0], ValueError, "NaN or inf"),
    (np.array([]), ValueError, "at least one entry"),
    ("abc", TypeError, "string"),
    ([1 + 1j, 0, 0], TypeError, "complex"),
    (None, TypeError, "None"),
])
def test_bad_x0(x0, err, msg):
    with pytest.raises(err, match=msg):
        make(x0=x0)


def _grad_wrong(x):
    return np.ones(4)


def _c_2d(x):
    return np.ones((2, 1))


def _c_nan(x):
    return np.array([np.nan, 0.0])


def _jac_wrong(x):
    return np.ones((3, 3))


def _jac_list(x):
    return [[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]]


def _hess_wrong(x, lam):
    return np.eye(2)


def _f_vector(x):
    return np.ones(3)


@pytest.mark.parametrize("kw, err, msg", [
    (dict(grad=_grad_wrong), ValueError, r"grad\(x0\) must return an array of shape \(n,\) = \(3,\)"),
    (dict(c=_c_2d), ValueError, r"c\(x0\) must return a non-empty 1-D array"),
    (dict(c=_c_nan), ValueError, r"c\(x0\) is not finite"),
    (dict(jac=_jac_wrong), ValueError, r"jac\(x0\) must have shape \(m, n\) = \(2, 3\).*got \(3, 3\)"),
    (dict(jac=_jac_list), TypeError, r"jac\(x0\): expected an array"),
    (dict(hess_lagrangian=_hess_wrong), ValueError, r"hess_lagrangian\(x0, lam0\) must have shape \(n, n\)"),
    (dict(f=_f_vector), TypeError, r"f\(x0\) must return a real number"),
    (dict(x_star=[1.0, 1.0]), ValueError, "x_star must have n = 3"),
    (dict(f_star=float("nan")), ValueError, "f_star must be finite"),
    (dict(name=3), TypeError, "name must be a string"),
])
def test_wrong_shapes_at_x0_are_reported(kw, err, msg):
    with pytest.raises(err, match=msg):
        make(**kw)


def test_pickle_roundtrip_with_module_level_functions():
    p = make(name="toy", x_star=np.ones(3))
    q = pickle.loads(pickle.dumps(p))
    assert repr(q) == repr(p)
    np.testing.assert_array_equal(q.x_star, p.x_star)
    assert q.f(np.ones(3)) == 3.0


def test_lambda_refuses_to_pickle_with_a_clear_message():
    p = make(f=lambda x: float(x @ x))
    with pytest.raises(pickle.PicklingError, match=r"EqualityConstrainedProblem\.f is '.*<lambda>'.*module-level"):
        pickle.dumps(p)


def _f_nan(x):
    return float("nan")


def _f_complex(x):
    return 1.0 + 2.0j


def _hess_operator(x, lam):
    return aslinearoperator(2.0 * np.eye(3))


@pytest.mark.parametrize("fn, err, msg", [(_f_nan, ValueError, r"f\(x0\) must be finite"),
                                          (_f_complex, TypeError, r"f\(x0\) must be a real number")])
def test_bad_objective_values(fn, err, msg):
    with pytest.raises(err, match=msg):
        make(f=fn)


def test_operator_hessian_and_jacobian_are_accepted():
    p = make(jac=jac_operator, hess_lagrangian=_hess_operator)
    assert p.m == 2
    np.testing.assert_allclose(p.hess_lagrangian(X0, p.lam0).matvec(X0), 2.0 * X0)


def test_description_round_trips_through_a_run_store(tmp_path):
    import solvers
    from problems import nlp

    res = solvers.SolveResult(np.zeros(3), True, "converged", "", 1, method="m", backend="numpy")
    with solvers.RunStore(str(tmp_path / "runs.h5")) as store:
        for p in (make(name="toy", source=None), nlp.hs("BT2")):
            stored = store.load(store.save(res, problem=p)).problem
            assert {k: stored[k] for k in p.describe()} == p.describe()
