"""Conventions shared by the Krylov solvers, operators and their kernel sets.

Kernel sets per backend with the same names, no backend-name branches in the
algorithms, explicit backend conversion of operators, threads, the callback
convention, history lengths, CG's negative-curvature exit, and the finite-value
scan done once per operator.
"""
import importlib
import inspect
import os
import pathlib
import pickle
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers import _config
from solvers.backends import get_backend
from solvers.linear import _common, chebyshev, jacobi
from solvers.linear.multigrid import multigrid
from solvers.operators import DenseOperator, DiagonalOperator, FunctionOperator, LinearOperator, aslinearoperator
from solvers.operators.base import IdentityOperator, SparseOperator
from solvers.operators.stencil import StencilOperator

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAMILIES = ("krylov", "sparse", "stencil", "multigrid")


def laplacian_2d(m):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    I = sp.identity(m)
    return (sp.kron(T, I) + sp.kron(I, T)).tocsr()


# ----------------------------------------------------------------------------- kernel sets
def _public(mod):
    out = {}
    for nm, v in vars(mod).items():
        if nm.startswith("_") or inspect.ismodule(v):
            continue
        if inspect.isfunction(v) and v.__module__ != mod.__name__ and nm != "csr":
            continue                      # imported helpers
        out[nm] = v
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_every_backend_has_every_step_with_the_same_signature(family):
    ref = _public(importlib.import_module(f"solvers._kernels.numpy.{family}"))
    assert ref, family
    for backend in ("numba", "cupy"):       # the cupy modules import cupy lazily: importable without it
        mod = importlib.import_module(f"solvers._kernels.{backend}.{family}")
        for nm, fn in ref.items():
            assert hasattr(mod, nm), f"solvers._kernels.{backend}.{family} lacks {nm}"
            if callable(fn):
                want = list(inspect.signature(fn).parameters)
                got = list(inspect.signature(getattr(mod, nm)).parameters)
                assert got[:len(want)] == want, (backend, family, nm, got, want)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backend_kernels_returns_the_family_module(backend):
    be = get_backend(backend)
    for family in FAMILIES:
        assert be.kernels(family).__name__ == f"solvers._kernels.{backend}.{family}"


def test_no_backend_name_branches_in_linear_and_operators():
    pat = re.compile(r"\.name\s*(==|!=|\bin\b|\bnot in\b)")
    files = sorted((ROOT / "solvers" / "linear").glob("*.py")) + [
        ROOT / "solvers" / "operators" / "base.py", ROOT / "solvers" / "operators" / "stencil.py"]
    hits = [f"{p.name}:{i}" for p in files for i, line in enumerate(p.read_text().splitlines(), 1)
            if pat.search(line)]
    assert not hits, hits
    # and no numba thread changes outside solvers._config
    for p in files:
        assert "set_num_threads" not in p.read_text(), p


def test_krylov_select_picks_serial_or_parallel_by_length():
    k = get_backend("numba").kernels("krylov")
    raw = lambda f: getattr(f, "__wrapped__", f)    # noqa: E731 - under the workqueue layer's launch lock
    assert raw(k.select(10).dot) is raw(k.dot_s) and raw(k.select(k.PARALLEL_MIN).dot) is raw(k.dot_p)
    a = np.arange(5.0)
    assert k.dot(a, a) == 30.0                       # the unsuffixed name picks per call
    assert get_backend("numpy").kernels("krylov").select(10).dot(a, a) == 30.0


# ----------------------------------------------------------------------------- operators and backends
def _ops(rng):
    n = 12
    A = rng.standard_normal((n, n))
    A = A @ A.T + n * np.eye(n)
    S = laplacian_2d(4)[:n, :n]
    d = rng.uniform(1, 2, n)
    return n, [DenseOperator(A, backend="numpy"), SparseOperator(S, backend="numpy"),
               DiagonalOperator(d, backend="numpy"), IdentityOperator(n, backend="numpy"),
               FunctionOperator((n, n), lambda x: 2.0 * x, backend="numpy", symmetric=True),
               DenseOperator(A, backend="numpy") + 2.0 * DiagonalOperator(d, backend="numpy"),
               DenseOperator(A, backend="numpy").T]


def test_aslinearoperator_keeps_or_converts_the_backend(rng):
    n, ops = _ops(rng)
    x = rng.standard_normal(n)
    for op in ops:
        assert aslinearoperator(op) is op
        assert aslinearoperator(op, backend="numpy") is op
        conv = aslinearoperator(op, backend="numba")
        assert conv is not op and conv.backend.name == "numba" and op.backend.name == "numpy"
        assert type(conv) is type(op)
        assert (conv.symmetric, conv.positive_definite) == (op.symmetric, op.positive_definite)
        np.testing.assert_allclose(conv.matvec(x), op.matvec(x), rtol=1e-14)
        assert conv.with_backend("numpy").backend.name == "numpy"


def test_stencil_and_preconditioners_convert_explicitly(rng):
    k = [rng.uniform(0.5, 2.0, (10, 9)), rng.uniform(0.5, 2.0, (9, 10))]
    A = StencilOperator((9, 9), 0.1, k=k, shift=0.5, backend="numpy")
    B = aslinearoperator(A, backend="numba")
    assert isinstance(B, StencilOperator) and B.backend.name == "numba"
    x = rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(B.matvec(x), A.matvec(x), rtol=1e-13)
    for M in (jacobi(A), chebyshev(A, degree=4), multigrid(A)):
        Mb = M.with_backend("numba")
        assert type(Mb) is type(M) and Mb.backend.name == "numba"
        np.testing.assert_allclose(Mb.matvec(x), M.matvec(x), rtol=1e-11)


def test_operator_without_conversion_raises_naming_the_fix():
    class Custom(LinearOperator):
        def _matvec(self, x):
            return x

    op = Custom((3, 3), backend="numpy")
    with pytest.raises(TypeError, match="backend='numba'"):
        aslinearoperator(op, backend="numba")
    with pytest.raises(TypeError, match="backend='numba'"):
        solvers.cg(op, np.ones(3), backend="numba")
    assert solvers.cg(op, np.ones(3)).backend == "numpy"        # its own backend by default


def test_solvers_run_on_the_operator_backend(rng):
    A = laplacian_2d(6)
    b = rng.standard_normal(36)
    for be in ("numpy", "numba"):
        op = SparseOperator(A, backend=be)
        for solve in (solvers.cg, solvers.minres, solvers.gmres, solvers.cdm):
            assert solve(op, b).backend == be
        assert jacobi(op).backend.name == be and chebyshev(op).backend.name == be


def test_chebyshev_and_stencil_pickle(rng):
    A = StencilOperator((7, 8), 0.1, backend="numba")
    M = chebyshev(A, degree=3)
    x = rng.standard_normal(A.shape[0])
    for op in (A, M, multigrid(A)):
        op2 = pickle.loads(pickle.dumps(op))
        np.testing.assert_allclose(op2.matvec(x), op.matvec(x), rtol=1e-14)


# ----------------------------------------------------------------------------- threads
needs_two_threads = pytest.mark.skipif(
    importlib.import_module("numba").config.NUMBA_NUM_THREADS < 2, reason="needs NUMBA_NUM_THREADS >= 2")


@pytest.fixture
def thread_config(monkeypatch):
    """Start with no configured thread count; restore the process-wide setting after the test
    (``set_num_threads`` also writes the environment)."""
    import numba

    old_env = os.environ.get("NEWTONKIT_NUM_THREADS")
    monkeypatch.setattr(_config, "_requested", None)
    monkeypatch.delenv("NEWTONKIT_NUM_THREADS", raising=False)
    old = numba.get_num_threads()
    yield
    if old_env is None:
        os.environ.pop("NEWTONKIT_NUM_THREADS", None)
    else:
        os.environ["NEWTONKIT_NUM_THREADS"] = old_env
    numba.set_num_threads(old)


@needs_two_threads
def test_cg_in_a_second_python_thread_honours_the_setting(thread_config, monkeypatch):
    import numba

    A = laplacian_2d(20)
    b = np.ones(400)
    for how in ("env", "set_num_threads"):
        if how == "env":
            monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "1")
        else:
            monkeypatch.delenv("NEWTONKIT_NUM_THREADS")
            solvers.set_num_threads(1)
        seen = []

        def work():
            solvers.cg(A, b, maxiter=3, backend="numba", callback=lambda xk: seen.append(numba.get_num_threads()))

        t = threading.Thread(target=work)
        t.start()
        t.join()
        assert seen and set(seen) == {1}, (how, seen)
        monkeypatch.setattr(_config, "_requested", None)


@needs_two_threads
def test_cg_in_a_subprocess_inherits_the_setting(thread_config):
    code = ("import numba, numpy as np, solvers\n"
            "seen = []\n"
            "solvers.cg(np.diag(np.arange(1.0, 30.0)), np.ones(29), maxiter=3, backend='numba',\n"
            "           callback=lambda xk: seen.append(numba.get_num_threads()))\n"
            "print(sorted(set(seen)))\n")

    def child(env=None):
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                             cwd=str(ROOT))
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    assert child({**os.environ, "NEWTONKIT_NUM_THREADS": "1"}) == "[1]"     # the environment variable
    solvers.set_num_threads(1)                                              # set in the parent process:
    assert child() == "[1]"                                                 # a worker started later inherits it


@needs_two_threads
@pytest.mark.parametrize("caller_threads", [1, 2])
def test_multigrid_leaves_the_callers_thread_count_unchanged(thread_config, caller_threads):
    import numba

    from solvers._kernels.numba import multigrid as km

    numba.set_num_threads(caller_threads)
    # 40^3 = 64000 points: the finest level runs in parallel, the coarsest ones (9^3, ...) serially
    A = StencilOperator((40, 40, 40), 1.0 / 41, backend="numba")
    assert A.shape[0] >= km.SERIAL_BELOW > 9 ** 3
    M = multigrid(A)
    seen = []
    res = solvers.cg(A, np.ones(A.shape[0]), M=M, rtol=1e-6, callback=lambda xk: seen.append(numba.get_num_threads()))
    assert res.converged
    assert numba.get_num_threads() == caller_threads
    assert set(seen) == {caller_threads}


# ----------------------------------------------------------------------------- callbacks and history
SOLVERS = [solvers.cg, solvers.minres, solvers.gmres, solvers.cdm]


@pytest.mark.parametrize("solve", SOLVERS, ids=lambda f: f.__name__)
def test_intermediate_result_callback_and_stop_iteration(solve, cpu_backend, rng):
    A = laplacian_2d(8)
    b = rng.standard_normal(64)
    got = []

    def cb(intermediate_result):
        got.append((intermediate_result.nit, intermediate_result.residual, intermediate_result.x.copy()))

    res = solve(A, b, callback=cb, backend=cpu_backend)
    assert res.converged and len(got) == res.nit
    assert [g[0] for g in got] == list(range(1, res.nit + 1))
    np.testing.assert_allclose(got[-1][2], res.x)

    calls = []

    def stopper(xk):
        calls.append(1)
        if len(calls) == 3:
            raise StopIteration

    st = solve(A, b, callback=stopper, backend=cpu_backend)
    assert st.status == "stopped" and not st.converged and st.nit == 3 and len(calls) == 3
    assert "StopIteration" in st.message
    assert st.history["residual"].shape == (st.nit + 1,)


@pytest.mark.parametrize("solve", SOLVERS, ids=lambda f: f.__name__)
def test_history_has_nit_plus_one_entries(solve, cpu_backend, rng):
    A = laplacian_2d(9)
    b = rng.standard_normal(81)
    x0 = rng.standard_normal(81)
    for kw in ({}, {"x0": x0}, {"maxiter": 4}, {"M": jacobi(A)}, {"maxiter": 0}):
        res = solve(A, b, backend=cpu_backend, **kw)
        h = res.history["residual"]
        assert h.shape == (res.nit + 1,), (kw, res.nit, h.shape)
        r0 = np.linalg.norm(b - A @ kw.get("x0", np.zeros(81)))
        assert h[0] == pytest.approx(r0, rel=1e-12)
        if kw.get("maxiter") == 0:
            assert res.nit == 0 and res.status == "maxiter"


def test_multigrid_solve_history(rng):
    A = StencilOperator((15, 15), 1.0 / 16, backend="numba")
    b = rng.standard_normal(A.shape[0])
    res = multigrid(A).solve(b, rtol=1e-8)
    assert res.converged and res.history["residual"].shape == (res.nit + 1,)
    assert res.history["residual"][0] == pytest.approx(np.linalg.norm(b), rel=1e-12)


def test_callback_must_be_callable():
    with pytest.raises(TypeError, match="callback"):
        solvers.cg(np.eye(3), np.ones(3), callback=3)


# ----------------------------------------------------------------------------- negative curvature (CG)
@pytest.mark.parametrize("mode", ["breakdown", "return"])
def test_cg_negative_curvature_returns_the_direction(cpu_backend, mode):
    n = 6
    d = np.array([4.0, 3.0, 2.0, 1.0, -1.0, 5.0])   # indefinite, known negative eigenvector e_4
    A = np.diag(d)
    b = np.ones(n)
    res = solvers.cg(A, b, negative_curvature=mode, backend=cpu_backend)
    assert res.status == "breakdown" and not res.converged
    p = np.asarray(res.direction)
    # independent check: the curvature computed densely
    assert p @ A @ p < 0
    # to the rounding of the sum d_i p_i^2, whose terms cancel (|p| reaches 1e24 here: the two sums differed by
    # 2x at 1e49 on AMD Zen 5, where the Numba reduction runs in another order than on a Xeon)
    assert abs(res.curvature - p @ A @ p) <= 1e-12 * float(np.abs(d) @ (p * p))
    assert abs(p[4]) > 0                                   # it has a component along the negative eigenvector
    assert res.history["residual"].shape == (res.nit + 1,)
    assert res.options["negative_curvature"] == mode
    # x is the iterate before the failing step (CG on the same system run nit steps), except in breakdown mode
    # where that iterate's residual had grown past 1e3 times the start's: then the start (session 14)
    ref = solvers.cg(A, b, maxiter=res.nit, backend=cpu_backend)
    if mode == "breakdown" and np.linalg.norm(b - A @ ref.x) > 1e3 * np.linalg.norm(b):
        np.testing.assert_array_equal(res.x, 0.0)
        assert "starting point" in res.message
    else:
        np.testing.assert_allclose(res.x, ref.x, rtol=1e-12, atol=1e-14)
    assert ("negative curvature" in res.message) == (mode == "return")
    assert ("not symmetric positive definite" in res.message) == (mode == "breakdown")


def test_cg_negative_curvature_on_the_first_step():
    A = np.diag([-2.0, 1.0, 3.0])
    b = np.array([1.0, 0.0, 0.0])
    res = solvers.cg(A, b, negative_curvature="return")
    assert res.nit == 0 and np.all(res.x == 0)
    np.testing.assert_allclose(res.direction, b)            # p_0 = r_0 = b (steepest descent)
    assert res.curvature == pytest.approx(-2.0)


def test_cg_spd_results_have_no_direction(rng):
    res = solvers.cg(laplacian_2d(5), rng.standard_normal(25))
    assert res.converged and res.direction is None and res.curvature is None
    pickle.loads(pickle.dumps(res))
    with pytest.raises(ValueError, match="negative_curvature"):
        solvers.cg(np.eye(2), np.ones(2), negative_curvature="ignore")


# ----------------------------------------------------------------------------- validation once per operator
def test_finite_scan_runs_once_per_operator(monkeypatch, rng):
    calls = []
    from solvers.linear import _validate

    real = _validate._check_finite_array

    def counting(xp, a, name):
        calls.append(name)
        return real(xp, a, name)

    monkeypatch.setattr(_validate, "_check_finite_array", counting)
    real_rhs = _validate._as_rhs                            # b: finiteness and max |b| in one scan

    def counting_rhs(be, b, n, shape):
        calls.append("b")
        return real_rhs(be, b, n, shape)

    monkeypatch.setattr(_validate, "_as_rhs", counting_rhs)
    A = rng.standard_normal((20, 20))
    A = A @ A.T + 20 * np.eye(20)
    op = DenseOperator(A, backend="numba")
    for _ in range(100):
        solvers.cg(op, rng.standard_normal(20), rtol=1e-6)
    assert calls.count("A") == 1
    assert calls.count("b") == 100                          # vectors are checked on every call
    Ms = SparseOperator(sp.diags(np.full(20, 0.5)), backend="numba")
    for _ in range(5):
        solvers.cg(op, np.ones(20), M=Ms)
    assert calls.count("M") == 1 and calls.count("A") == 1
    bad = DenseOperator(np.full((2, 2), np.nan), backend="numba")
    for _ in range(2):                                      # a failed scan is not remembered
        with pytest.raises(ValueError, match="NaN"):
            solvers.cg(bad, np.ones(2))


@pytest.mark.parametrize("scale", [1.0, 1e-200, 1e200])
@pytest.mark.parametrize("method", ["cg", "minres", "gmres"])
def test_b_is_read_not_written(method, scale, rng):
    # b is no longer copied on entry (it is only read): the caller's array must come back unchanged, also when the
    # solve scales it by a power of two; the answer is checked against a dense solve
    A = rng.standard_normal((30, 30))
    A = A @ A.T + 30 * np.eye(30)
    b = rng.standard_normal(30) * scale
    keep = b.copy()
    res = getattr(solvers, method)(A, b, rtol=1e-10)
    np.testing.assert_array_equal(b, keep)
    np.testing.assert_allclose(res.x, np.linalg.solve(A, keep), rtol=1e-7)
