"""One result convention, checked across every routine (docs/conventions.md).

For each routine on each CPU backend: ``history`` arrays have ``nit + 1`` entries,
``success`` is ``converged``, ``stats`` has ``time_s`` and ``compile_s``, ``provenance``
was captured during the solve, ``options`` holds only what was asked for, the result
pickles, and a callback raising StopIteration stops the run with status "stopped".
Answers are checked against independent references (SciPy direct solves, POT-free
marginal checks computed here from the returned potentials).
"""
import ast
import pathlib
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.special import logsumexp

import solvers

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _spd(n=60):
    return sp.diags([-1.0, 2.05, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


def _ot_problem(n=40, m=30, eps=0.05, seed=0):
    from problems import ot

    rng = np.random.default_rng(seed)
    return ot.EntropicOT.from_points(rng.random((n, 2)), rng.random((m, 2)), eps=eps)


def _krylov(name):
    fn = getattr(solvers, name)
    A = _spd()
    b = np.linspace(1.0, 2.0, A.shape[0])
    extra = {"M": (lambda r: r / 2.05), "k": 2} if name == "cdm" else {}

    def run(backend, callback=None, **kw):
        return fn(A, b, rtol=1e-10, backend=backend, callback=callback, **extra, **kw)

    def check(res):
        np.testing.assert_allclose(res.x, spla.spsolve(A.tocsc(), b), rtol=1e-7)
        r = np.linalg.norm(b - A @ res.x)
        np.testing.assert_allclose(res.history["residual"][-1], r, rtol=1e-6, atol=1e-12)

    return run, check


def _ot(name):
    fn = getattr(solvers, name)
    prob = _ot_problem()

    def run(backend, callback=None, **kw):
        return fn(prob, tol=1e-9, backend=backend, callback=callback, **kw)

    def check(res):
        C, a, b, eps = prob.C, prob.a, prob.b, prob.eps
        logP = (res.f[:, None] + res.g[None, :] - C) / eps
        err = (np.abs(np.exp(logsumexp(logP, axis=1)) - a).sum() + np.abs(np.exp(logsumexp(logP, axis=0)) - b).sum())
        assert err <= 1e-8
        np.testing.assert_allclose(res.history["marginal_error"][-1], err, rtol=1e-3, atol=1e-12)

    return run, check


def _multigrid(_name):
    from solvers.linear.multigrid import multigrid
    from solvers.operators.stencil import StencilOperator

    shape, h = (15, 15), 1.0 / 16

    def run(backend, callback=None, **kw):
        M = multigrid(StencilOperator(shape, h, backend=backend))
        return M.solve(np.ones(225), rtol=1e-10)

    def check(res):
        A = StencilOperator(shape, h, backend="numpy").to_csr()
        np.testing.assert_allclose(res.x, spla.spsolve(A.tocsc(), np.ones(225)), rtol=1e-8)

    return run, check


def _newton(_name):
    from scipy.optimize import rosen, rosen_der, rosen_hess

    def run(backend, callback=None, **kw):
        return solvers.newton(rosen, np.array([-1.2, 1.0]), jac=rosen_der, hess=rosen_hess, method="newton-cg",
                              tol=1e-10, backend=backend, callback=callback, **kw)

    def check(res):
        np.testing.assert_allclose(res.x, np.ones(2), rtol=1e-7)    # the Rosenbrock minimiser
        assert np.max(np.abs(rosen_der(res.x))) <= 1e-10

    return run, check


def _newton_krylov(_name):
    from scipy.optimize import brentq

    bvec = np.linspace(-2.0, 3.0, 12)

    def F(x):
        return x ** 3 + x - bvec

    def run(backend, callback=None, **kw):
        return solvers.newton_krylov(F, np.zeros(12), tol=1e-10, backend=backend, callback=callback, **kw)

    def check(res):   # each component's root by bracketing (an independent reference)
        ref = np.array([brentq(lambda t, bi=bi: t ** 3 + t - bi, -3, 3, xtol=1e-14) for bi in bvec])
        np.testing.assert_allclose(res.x, ref, rtol=1e-9, atol=1e-12)

    return run, check


def _sketched_newton(_name):
    from problems import nlp

    prob = nlp.hs("HS28")

    def run(backend, callback=None, **kw):
        return solvers.sketched_newton(prob, sketch="gaussian", tol=1e-10, seed=0, tight_size=0, backend=backend,
                                       callback=callback, **kw)

    def check(res):   # HS28: the minimiser (0.5, -0.5, 0.5) (Hock & Schittkowski 1981)
        np.testing.assert_allclose(res.x, [0.5, -0.5, 0.5], atol=1e-9)
        assert res.history["kkt"][-1] <= 1e-10

    return run, check


ROUTINES = {"sketched_newton": _sketched_newton, "newton_krylov": _newton_krylov, "newton": _newton, "cg": _krylov, "minres": _krylov, "gmres": _krylov, "cdm": _krylov, "sinkhorn": _ot, "sns": _ot,
            "multigrid.solve": _multigrid}
CALLBACK_ROUTINES = ("cg", "minres", "gmres", "cdm", "sinkhorn", "sns", "newton", "newton_krylov", "sketched_newton")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name", list(ROUTINES))
def test_result_convention(name, backend):
    run, check = ROUTINES[name](name)
    res = run(backend)
    assert res.converged and res.success is res.converged
    check(res)
    assert res.history, "every routine records a history"
    for key, h in res.history.items():
        assert isinstance(h, np.ndarray) and h.ndim == 1, key
        assert h.shape[0] == res.nit + 1, f"{name}: history[{key!r}] has {h.shape[0]} entries for nit={res.nit}"
    assert res.stats["time_s"] >= 0 and res.stats["compile_s"] >= 0
    for key in ("utc_start", "utc_end", "host", "device", "backend"):
        assert key in res.provenance, f"{name}: provenance lacks {key}"
    assert res.provenance["backend"] == backend
    again = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(np.asarray(again.x), np.asarray(res.x))
    assert again.nit == res.nit and again.options == res.options


def test_sns_options_are_what_was_asked():
    prob = _ot_problem(eps=0.01)
    res = solvers.sns(prob, tol=1e-9, rho=1e-6, kmax=8, backend="numpy")
    assert res.options["rho"] == 1e-6 and res.options["kmax"] == 8


@pytest.mark.parametrize("name", CALLBACK_ROUTINES)
def test_callback_stop_iteration(name):
    run, _ = ROUTINES[name](name)
    seen = []

    def cb(intermediate_result):     # stops at the first call: sketched Newton solves HS28 in 2 iterations
        seen.append(intermediate_result.nit)   # since its sketch jumps to the exact projection
        raise StopIteration

    res = run("numba", callback=cb)
    assert res.status == "stopped" and not res.converged, res
    assert len(seen) == 1
    assert "callback" in res.message
    for key, h in res.history.items():
        assert h.shape[0] == res.nit + 1, key


# ------------------------------------------------------------------ algorithms never branch on a backend's name
_BACKEND_NAMES = {"numpy", "numba", "cupy"}


def _branches(tree, src, rel):
    """Comparisons of anything with a backend name, ``is_gpu``, ``match`` on a ``.name``."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            consts = set()
            for p in parts:
                if isinstance(p, ast.Constant) and isinstance(p.value, str):
                    consts.add(p.value)
                elif isinstance(p, (ast.Tuple, ast.List, ast.Set)):
                    consts |= {e.value for e in p.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            named = any(isinstance(p, ast.Attribute) and p.attr == "name" for p in parts)
            if consts & _BACKEND_NAMES or (named and any("backend" in (ast.get_source_segment(src, p) or "")
                                                         or (ast.get_source_segment(src, p) or "").startswith("be")
                                                         for p in parts)):
                bad.append(f"{rel}:{node.lineno}: {ast.get_source_segment(src, node)}")
        elif isinstance(node, ast.Attribute) and node.attr == "is_gpu":
            bad.append(f"{rel}:{node.lineno}: is_gpu")
        elif isinstance(node, ast.Match) and isinstance(node.subject, ast.Attribute) and node.subject.attr == "name":
            bad.append(f"{rel}:{node.lineno}: match on .name")
    return bad


def test_no_backend_name_branches_outside_backends_and_kernels():
    bad = []
    for path in sorted((ROOT / "solvers").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        # backends and kernel sets own the differences; the CLI and provenance only report names
        if rel.startswith(("solvers/backends/", "solvers/_kernels/", "solvers/cli/", "solvers/runs/")):
            continue
        src = path.read_text()
        bad += _branches(ast.parse(src, filename=rel), src, rel)
    assert not bad, "backend-name branches (ask the backend for its kernel set instead):\n" + "\n".join(bad)


def test_branch_detector_catches_the_forms():
    src = ("if be.name == 'numba': pass\nif backend.name in ('cupy',): pass\nif name != 'numpy': pass\n"
           "if self.backend.is_gpu: pass\nmatch be.name:\n    case _: pass\n")
    assert len(_branches(ast.parse(src), src, "x.py")) == 5


@pytest.mark.parametrize("op_backend, run_backend", [("numpy", "numba"), ("numba", "numpy")])
def test_a_converted_operator_is_the_one_that_runs(op_backend, run_backend, monkeypatch):
    """cg(A on one backend, backend=other) converts A and M, and every product runs on the converted ones."""
    from solvers.linear.multigrid import multigrid
    from solvers.operators.stencil import StencilOperator

    A = StencilOperator((15, 15), 1.0 / 16, backend=op_backend)
    M = multigrid(A)
    seen = []
    for cls in {type(A), type(M)}:
        for meth in ("matvec", "matvec_into", "matvec_dot"):
            orig = getattr(cls, meth, None)
            if orig is None:
                continue

            def spy(self, *a, _orig=orig, **k):
                seen.append(self.backend.name)
                return _orig(self, *a, **k)

            monkeypatch.setattr(cls, meth, spy)
    res = solvers.cg(A, np.ones(225), M=M, rtol=1e-10, backend=run_backend)
    assert res.converged and res.backend == run_backend
    assert seen and set(seen) == {run_backend}, set(seen)
