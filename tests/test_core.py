"""Backends, results and the lazy top-level import."""
import subprocess
import sys

import numpy as np
import pytest

import solvers
from solvers import backends


def test_import_is_light():
    code = ("import sys, solvers; heavy=[m for m in ('numba','scipy','h5py','cupy') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_get_backend_names():
    assert solvers.get_backend().name == "numba"
    assert solvers.get_backend("numpy").xp is np
    be = solvers.get_backend("numba")
    assert solvers.get_backend(be) is be
    with pytest.raises(ValueError, match="unknown backend"):
        solvers.get_backend("torch")
    with pytest.raises(TypeError):
        solvers.get_backend(3)


@pytest.mark.skipif(backends.cupy_available(), reason="a GPU is present")
def test_cupy_missing_is_clear():
    with pytest.raises(backends.BackendUnavailableError, match="backend='numba'"):
        solvers.get_backend("cupy")


@pytest.mark.skipif(backends.cupy_available(), reason="a GPU is present")
def test_default_backend_follows_device_inputs():
    """backend=None picks "cupy" for CuPy arrays and cupyx sparse matrices (recognised by type only)."""
    FakeSparse = type("csr_matrix", (), {"__module__": "cupyx.scipy.sparse._csr"})
    FakeArray = type("ndarray", (), {"__module__": "cupy", "get": None, "__cuda_array_interface__": {}})
    for dev in (FakeSparse(), FakeArray()):
        with pytest.raises(backends.BackendUnavailableError):
            solvers.get_backend(None, np.zeros(2), dev)
    assert solvers.get_backend(None, np.zeros(2), None).name == "numba"


@pytest.mark.gpu
def test_cupy_backend_roundtrip():
    be = solvers.get_backend("cupy")
    a = be.asarray(np.arange(5.0))
    np.testing.assert_array_equal(be.to_numpy(a), np.arange(5.0))
    assert solvers.get_backend(None, a).name == "cupy"


def test_solve_result_extras_and_status():
    r = solvers.SolveResult(np.zeros(2), True, "converged", "ok", 3, history={"residual": [1.0, 0.1]},
                            method="cg", backend="numpy", f=np.ones(2))
    np.testing.assert_array_equal(r.f, np.ones(2))
    assert r.history["residual"].dtype == np.float64
    with pytest.raises(AttributeError):
        r.nope
    with pytest.raises(ValueError):
        solvers.SolveResult(None, False, "weird", "", 0)


def test_thread_setting(monkeypatch):
    from solvers import _config

    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "1")
    assert solvers.get_num_threads() == 1
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "x")
    with pytest.raises(ValueError, match="NEWTONKIT_NUM_THREADS"):
        _config.apply()
    with pytest.raises(ValueError):
        solvers.set_num_threads(0)


def test_every_lazy_export_resolves():
    for name in solvers._LAZY:
        assert getattr(solvers, name) is not None
    assert not hasattr(solvers, "no_such_routine")
