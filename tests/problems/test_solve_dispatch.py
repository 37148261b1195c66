"""solvers.solve(): every method a problem in `problems` declares dispatches and solves (checked against
independent references), and misuse (M=, unknown options, undeclared methods) raises clear errors."""
import importlib
import inspect

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from problems import nlp, ot, pde
from solvers import _solve

# a small instance of every problem class that declares `methods`
FACTORIES = {
    "Poisson": lambda: pde.Poisson.manufactured((12, 11), kind="variable_k"),
    "Bratu": lambda: pde.Bratu((8, 8), lam=1.0),
    "EntropicOT": lambda: ot.random_point_clouds(40, 5e-2, seed=1, m=30),
    "EqualityConstrainedProblem": lambda: nlp.hs("HS28"),
    "PoissonControl": lambda: pde.PoissonControl(8),
}


def _problem_classes():
    found = {}
    for sub in ("ot", "pde", "nlp", "potentials"):
        mod = importlib.import_module(f"problems.{sub}")
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and hasattr(obj, "methods") and obj.__module__.startswith("problems."):
                found[name] = obj
    return found


CASES = [(name, m) for name, cls in sorted(_problem_classes().items()) for m in cls.methods]


def test_every_problem_class_has_a_factory_here():
    missing = set(_problem_classes()) - set(FACTORIES)
    assert not missing, f"add a small instance of {missing} to FACTORIES so its methods are dispatched"


def test_declared_methods_exist():
    known = set(_solve.LINEAR) | set(_solve.PROBLEM_LEVEL) | set(_solve.NONLINEAR)
    for name, cls in _problem_classes().items():
        assert set(cls.methods) <= known, f"{name} declares {set(cls.methods) - known}, which solve() cannot run"


def _check_linear(p, res):
    ref = spla.spsolve(p.csr().tocsc(), p.rhs("numpy")).reshape(p.shape)
    np.testing.assert_allclose(res.x, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def _check_ot(p, res):
    # independent of the solver: the plan exp((f + g - C) / eps) has the marginals a, b and cost <P, C>
    P = np.exp((np.asarray(res.f)[:, None] + np.asarray(res.g)[None, :] - p.C) / p.eps)
    np.testing.assert_allclose(P.sum(1), p.a, rtol=0, atol=1e-8)
    np.testing.assert_allclose(P.sum(0), p.b, rtol=0, atol=1e-8)
    assert res.cost == pytest.approx(float((P * p.C).sum()), rel=1e-7)


@pytest.mark.parametrize("name, method", CASES)
def test_every_declared_method_dispatches(name, method):
    p = FACTORIES[name]()
    if method in _solve.LINEAR:
        for precond in (None, *getattr(p, "preconditioners", ())):
            res = solvers.solve(p, method=method, precond=precond, rtol=1e-10, maxiter=2000, backend="numpy")
            assert res.converged, (method, precond, res.message)
            assert res.method == (method if precond is None else f"{method}+{precond}")
            assert res.options["precond"] == precond and res.x.shape == p.shape
            _check_linear(p, res)
    elif method in ("sinkhorn", "sns", "auto"):
        res = solvers.solve(p, method=method, tol=1e-10, backend="numpy")
        assert res.converged and res.method == (res.stats["auto_choice"] if method == "auto" else method), res.message
        _check_ot(p, res)
    elif method == "newton_krylov":
        res = solvers.solve(p, method=method, tol=1e-10, backend="numpy")
        assert res.converged and res.method == "newton-krylov", res.message
        # independent: the discrete Bratu equations A u - lam e^u = 0 with A assembled by SciPy
        u = np.asarray(res.x).reshape(-1)
        A = solvers.operators.StencilOperator(p.shape, p.h, backend="numpy").to_csr()
        assert res.x.shape == p.shape
        assert np.abs(A @ u - p.lam * np.exp(u)).max() <= 1e-8 * np.abs(A @ u).max()
    elif method == "sketched_newton":
        # dense problems: the default sketch; operator problems (Poisson control): MINRES on the KKT operator
        sketch = "gaussian" if isinstance(p.jac(p.x0), np.ndarray) else None
        res = solvers.solve(p, method=method, sketch=sketch, tol=1e-9, backend="numpy")
        assert res.converged and res.method == method, res.message
        if getattr(p, "f_star", None) is not None:          # published optimum (HS28: 0 at (0.5, -0.5, 0.5))
            assert abs(p.f(res.x) - p.f_star) <= 1e-8
        else:                                               # linear control: the exact discrete KKT point (spsolve)
            ref = p.reference_solution()
            ref_x = ref[0] if isinstance(ref, tuple) else getattr(ref, "x", ref)
            np.testing.assert_allclose(res.x, ref_x, rtol=0, atol=1e-7 * np.abs(ref_x).max())
        assert np.abs(p.c(res.x)).max() <= 1e-8
    else:
        raise AssertionError(f"no independent check for method {method!r}: add one here")


def test_default_method_is_the_first_declared():
    assert solvers.solve(FACTORIES["Poisson"](), backend="numpy").method == "cg"
    res = solvers.solve(FACTORIES["EntropicOT"](), backend="numpy")      # "auto": eps/range 5e-2 -> Sinkhorn
    assert res.method == "sinkhorn" and res.stats["auto_choice"] == "sinkhorn"


def test_M_is_refused_with_the_way_out():
    p = FACTORIES["Poisson"]()
    M = solvers.linear.jacobi(p.operator("numpy"))
    with pytest.raises(TypeError, match=r"precond=.*'mg', 'jacobi', 'chebyshev'.*solvers\.cg\(problem\.operator"):
        solvers.solve(p, method="cg", M=M, backend="numpy")
    # the way out works and matches precond="jacobi"
    be = solvers.get_backend("numpy")
    direct = solvers.cg(p.operator(be), p.rhs(be), M=M, rtol=1e-10, backend=be)
    via = solvers.solve(p, method="cg", precond="jacobi", rtol=1e-10, backend=be)
    np.testing.assert_allclose(direct.x.reshape(p.shape), via.x, rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="linear methods"):
        solvers.solve(FACTORIES["EntropicOT"](), method="sns", M=M)


def test_unknown_options_list_the_accepted_ones():
    with pytest.raises(TypeError, match=r"unknown option\(s\) tol; solvers\.cg accepts: x0, rtol, atol, maxiter"):
        solvers.solve(FACTORIES["Poisson"](), method="cg", tol=1e-8)
    with pytest.raises(TypeError, match=r"unknown option\(s\) bogus, rtol; solvers\.sinkhorn accepts: .*tol"):
        solvers.solve(FACTORIES["EntropicOT"](), method="sinkhorn", rtol=1e-8, bogus=1)
    assert "restart" in _solve.accepted_options("gmres") and "M" not in _solve.accepted_options("gmres")
    for method in _solve.PROBLEM_LEVEL:  # the problem carries its data, marginals and eps
        assert not {"problem", "data", "C", "a", "b", "eps", "backend"} & set(_solve.accepted_options(method))
    with pytest.raises(TypeError, match=r"unknown option\(s\) eps; solvers\.sns accepts: tol"):
        solvers.solve(FACTORIES["EntropicOT"](), method="sns", eps=0.1)


def test_wrong_pairings():
    with pytest.raises(ValueError, match="choose one of: auto, sinkhorn, sns"):
        solvers.solve(FACTORIES["EntropicOT"](), method="cg")
    with pytest.raises(ValueError, match="precond= applies to linear methods only"):
        solvers.solve(FACTORIES["EntropicOT"](), method="sns", precond="mg")

    class Bare:
        methods = ()

    with pytest.raises(TypeError, match="declares no methods"):
        solvers.solve(Bare())
    with pytest.raises(ValueError, match="choose one of: newton_krylov"):
        solvers.solve(FACTORIES["Bratu"](), method="cg")
    with pytest.raises(TypeError, match="not a newtonkit problem"):
        solvers.solve(object())

    class Odd:
        methods = ("simplex",)

    with pytest.raises(ValueError, match="no such routine"):
        solvers.solve(Odd())


@pytest.mark.parametrize("cls", ["Poisson", "Bratu"])
def test_a_problem_class_instead_of_an_instance_is_named(cls):
    from problems import pde

    with pytest.raises(TypeError, match=f"got the class {cls}, not a problem; pass an instance"):
        solvers.solve(getattr(pde, cls))


def test_newton_krylov_names_an_overflowing_norm_not_nan():
    # F(x0) = -1e308 everywhere is finite, its norm is not (this used Bratu(lam=1e308), which Bratu now
    # refuses as above its no-solution bound: see test_bratu_refuses_lam_above_its_bound below)
    with pytest.raises(ValueError, match=r"\|\|F\(x0\)\|\|_2 overflows"):
        solvers.newton_krylov(lambda x: x - 1e308, np.zeros(64), maxiter=5, backend="numpy")


def test_bratu_refuses_lam_above_its_bound():
    from problems.pde import Bratu

    with pytest.raises(ValueError, match="lam = 1e\\+308 exceeds"):
        solvers.solve(Bratu((8, 8), 1e308), method="newton_krylov", maxiter=5)


def test_poisson_control_defaults_to_minres_and_matches_a_dense_kkt_solve():
    # solve(PoissonControl) used the Gaussian sketch on the operator KKT system: 94 s at n = 32, stopped at
    # iteration 0 (outside probe helper-74); the problem now recommends sketch=None (MINRES) via solve_defaults
    p = pde.PoissonControl(12)
    r = solvers.solve(p)
    assert r.converged and r.options["sketch"] is None
    x0, n, m = np.asarray(p.x0, dtype=float), p.n, p.m
    H = np.column_stack([p.hess_lagrangian(x0, np.zeros(m)).matvec(e) for e in np.eye(n)])
    J = np.column_stack([p.jac(x0).matvec(e) for e in np.eye(n)])
    K = np.block([[H, J.T], [J, np.zeros((m, m))]])
    step = np.linalg.solve(K, -np.concatenate([p.grad(x0), p.c(x0)]))     # the QP's exact optimum from x0
    x_ref = x0 + step[:n]
    assert np.linalg.norm(np.asarray(r.x) - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
    assert solvers.solve(p, sketch="gaussian", maxiter=1).options["sketch"] == "gaussian"   # the caller wins
