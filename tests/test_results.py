"""The result convention's foundation: pickling, provenance captured while the solve runs,
compile time kept out of ``time_s``, the callback convention, backends by name."""
import pickle
import time

import numpy as np
import pytest
import scipy.sparse as sp

import solvers
from solvers import backends
from solvers.results import Callback, IntermediateResult, Status, Timer


def _poisson_1d(n=50):
    return sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


@pytest.mark.parametrize("name", ["numpy", "numba"])
def test_backend_pickles_by_name(name):
    be = solvers.get_backend(name)
    again = pickle.loads(pickle.dumps(be))
    assert again is be          # the receiving process reuses its own backend


def test_backend_kernel_sets_have_the_same_functions():
    """Every family's NumPy reference set and Numba set expose the same public function names."""
    import inspect

    for fam in backends.FAMILIES:
        ref = solvers.get_backend("numpy").kernels(fam)
        fast = solvers.get_backend("numba").kernels(fam)
        public = {n for n, v in vars(ref).items() if not n.startswith("_") and inspect.isfunction(v)
                  and v.__module__ == ref.__name__}
        missing = {n for n in public if not hasattr(fast, n)}
        assert not missing, f"numba {fam} kernel set lacks {sorted(missing)}"
    with pytest.raises(ValueError, match="unknown kernel family"):
        solvers.get_backend("numpy").kernels("nope")


def test_get_backend_none_honours_operator_backend():
    op = solvers.aslinearoperator(np.eye(3), backend="numpy")
    assert solvers.get_backend(None, op).name == "numpy"
    assert solvers.get_backend(None, None, op).name == "numpy"
    assert solvers.get_backend(None, np.eye(2)).name == "numba"


def test_solve_result_success_alias_and_pickle():
    r = solvers.SolveResult(np.arange(3.0), True, "converged", "ok", 2, history={"residual": [1.0, 0.5, 0.1]},
                            stats={"time_s": 0.1}, method="cg", backend="numpy", options={"rtol": 1e-8},
                            provenance={"host": "h"}, f=np.ones(2))
    assert r.success is True
    again = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(again.x, r.x)
    np.testing.assert_array_equal(again.f, r.f)
    assert again.provenance == {"host": "h"} and again.options == r.options and again.success


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_krylov_result_pickles_with_provenance_from_the_solve(backend):
    A = _poisson_1d()
    b = np.ones(50)
    t_before = time.time()
    res = solvers.cg(A, b, rtol=1e-10, backend=backend)
    t_after = time.time()
    assert res.converged and res.success
    prov = res.provenance
    for key in ("utc_start", "utc_end", "host", "device", "backend", "version_newtonkit"):
        assert key in prov, key
    import datetime as dt

    start = dt.datetime.fromisoformat(prov["utc_start"]).timestamp()
    end = dt.datetime.fromisoformat(prov["utc_end"]).timestamp()
    assert t_before - 1e-3 <= start <= end <= t_after + 1e-3
    assert res.stats["compile_s"] >= 0.0 and res.stats["time_s"] >= 0.0
    again = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(again.x, res.x)
    assert again.provenance == res.provenance
    # an independent check of the answer itself
    np.testing.assert_allclose(res.x, sp.linalg.spsolve(A.tocsc(), b), rtol=1e-8)


def test_runstore_keeps_the_provenance_of_the_solve(tmp_path):
    res = solvers.cg(_poisson_1d(), np.ones(50), rtol=1e-10, backend="numpy")
    time.sleep(0.01)
    with solvers.RunStore(tmp_path / "r.h5") as store:
        rid = store.save(res)
        back = store.load(rid)
    for k, v in res.provenance.items():
        assert back.provenance[k] == v, k
    assert back.provenance["utc_saved"] > res.provenance["utc_end"]
    assert "captured_at_save" not in back.provenance
    # a result built by hand has no solve-time provenance: the store says so
    hand = solvers.SolveResult(np.zeros(2), True, "converged", "", 0, backend="numpy")
    with solvers.RunStore(tmp_path / "r.h5") as store:
        back = store.load(store.save(hand))
    assert back.provenance["captured_at_save"] is True or back.provenance["captured_at_save"] == 1


def test_timer_excludes_compilation():
    """A freshly defined Numba function compiled inside the timed region lands in compile_s, not time_s."""
    import numba

    t = Timer()

    @numba.njit
    def _f(x):  # a new function each run: never in the cache
        s = 0.0
        for i in range(x.shape[0]):
            s += np.sin(x[i]) ** 2
        return s

    _f(np.ones(10))
    st = t.stats()
    assert st["compile_s"] > 0.02
    assert st["time_s"] < st["compile_s"]


def test_callback_convention():
    seen = []
    cb = Callback(lambda intermediate_result: seen.append(intermediate_result))
    assert not cb(np.ones(2), 3, residual=0.5)
    assert isinstance(seen[0], IntermediateResult) and seen[0].nit == 3 and seen[0].residual == 0.5
    xs = []
    assert not Callback(xs.append)(np.ones(2), 1)
    np.testing.assert_array_equal(xs[0], np.ones(2))

    def stop(xk):
        raise StopIteration

    assert Callback(stop)(np.ones(2), 1)
    assert not Callback(None)
    with pytest.raises(TypeError, match="callback"):
        Callback(3)
    assert Status.STOPPED in Status.ALL


@pytest.mark.parametrize("bad", [lambda: None, lambda x, y: None, lambda *, k: None])
def test_callback_that_cannot_take_one_argument_is_refused_before_the_solve(bad):
    """A callback with the wrong signature used to fail inside the first iteration with a bare TypeError
    (helper-41); now every routine refuses it up front, naming the signature."""
    import numpy as np
    import solvers

    A, b = np.diag([1.0, 2.0, 3.0]), np.ones(3)
    with pytest.raises(TypeError, match="callback must take one argument"):
        solvers.cg(A, b, callback=bad)
    with pytest.raises(TypeError, match="callback must take one argument"):
        solvers.newton(lambda x: float(x @ x), np.ones(2), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(2),
                       callback=bad)
    seen = []
    r = solvers.cg(A, b, callback=lambda xk, *rest: seen.append(xk.copy()))     # one required argument: fine
    assert r.converged and len(seen) >= 1
    np.testing.assert_allclose(r.x, np.linalg.solve(A, b), rtol=1e-8)


def test_first_solves_of_a_process_in_threads():
    """helper-95: the first solves of a fresh process, run in four threads at once, raised
    ``AttributeError: '_thread._local' object has no attribute 't0'`` from the compile clock (a thread
    already inside Numba's compiler when another installed the listener ended a section it never saw
    start). Each thread's result must converge (checked against a direct solve) and say so."""
    import subprocess
    import sys

    code = r'''
import numpy as np, scipy.sparse.linalg as spla
from concurrent.futures import ThreadPoolExecutor
import solvers
from problems import pde
A = pde.Poisson(shape=(40, 40), f=1.0).operator("numba")
ref = spla.spsolve(A.to_csr().tocsc(), np.ones(A.shape[0]))
def task(i):
    out = []
    for m in ("cg", "minres", "gmres"):
        r = getattr(solvers, m)(A, np.ones(A.shape[0]) * (i + 1), rtol=1e-10)
        ok = r.converged and np.allclose(r.x, (i + 1) * ref, rtol=1e-7, atol=0) and r.stats["compile_s"] >= 0
        out.append(ok)
    return all(out)
with ThreadPoolExecutor(4) as ex:
    print([f.result() for f in [ex.submit(task, i) for i in range(8)]])
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str([True] * 8), out.stdout + out.stderr[-2000:]
