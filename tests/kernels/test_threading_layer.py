"""Parallel kernels launched from several Python threads at once must not abort the process.

Numba's ``workqueue`` threading layer (where neither TBB nor OpenMP loads, or with
``NUMBA_THREADING_LAYER=workqueue``) terminates the process on a concurrent launch
("Concurrent access has been detected"). newtonkit serialises the launches there
(:func:`solvers._config.launch_lock`, the Numba kernel sets' ``kernel_set`` hook). The check runs
in a subprocess on that layer: CG with multigrid, Sinkhorn, a Chebyshev-Tucker evaluation and a
direct Coulomb sum, each from three threads at once, every answer compared with an independent
reference (a sparse direct solve, POT-free marginal checks, the exact function, a NumPy sum).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from solvers import _config

SCRIPT = textwrap.dedent(r"""
    import threading
    import numpy as np
    import numba
    import scipy.sparse.linalg as spla
    import solvers
    from solvers import _config
    from solvers.linear.multigrid import multigrid
    from problems import pde
    from problems.potentials import particles

    assert _config.threading_layer() == "workqueue", _config.threading_layer()
    assert not _config.threading_layer_threadsafe()

    p = pde.Poisson((64, 64)); A = p.operator("numba"); b = p.rhs("numba")
    x_ref = spla.spsolve(p.operator("numpy").to_csr().tocsc(), b)

    rng = np.random.default_rng(0)
    C = rng.random((300, 200)); a = np.full(300, 1 / 300); bb = np.full(200, 1 / 200)

    f = lambda x: np.exp(0.3 * x[:, 0] - 0.2 * x[:, 1] + 0.1 * x[:, 2]) / (2.5 + x[:, 0])
    ct = solvers.chebtucker(f, [(-1, 1)] * 3, degree=24, tol=1e-10)
    pts = rng.uniform(-1, 1, (20000, 3))

    pos = rng.uniform(-1, 1, (40, 3)); z = rng.choice([-1.0, 1.0], 40)
    far = rng.uniform(2, 3, (5000, 3))
    direct_ref = particles.coulomb_sum(far, pos, z, backend="numpy")

    errors = []

    def work(k):
        try:
            for _ in range(4):
                r = solvers.cg(A, b, M=multigrid(A), rtol=1e-10, backend="numba")
                assert r.converged and np.abs(r.x - x_ref).max() <= 1e-7 * np.abs(x_ref).max()
                s = solvers.sinkhorn(C, a, bb, eps=0.05, tol=1e-9, backend="numba")
                assert s.converged
                v = ct(pts)
                assert np.abs(v - f(pts)).max() <= 1e-8
                d = particles.coulomb_sum(far, pos, z, backend="numba")
                assert np.abs(d - direct_ref).max() <= 1e-12 * np.abs(direct_ref).max()
        except BaseException as exc:  # noqa: BLE001
            errors.append(repr(exc))

    ts = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors
    print("OK", numba.threading_layer())
""")


def test_concurrent_launches_on_workqueue_do_not_abort():
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NEWTONKIT_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert "OK workqueue" in proc.stdout


def test_layer_here_is_known_and_lock_matches_it():
    layer = _config.threading_layer()
    assert layer in ("tbb", "omp", "workqueue")
    assert _config.threading_layer_threadsafe() == (layer != "workqueue")
    lock = _config.launch_lock()
    if layer == "workqueue":
        assert lock is _config._LAUNCH
    else:
        with lock:                        # a no-op context
            pass


def test_serialized_wraps_and_reenters():
    calls = []

    @_config.serialized
    def inner(x):
        calls.append(x)
        return x + 1

    @_config.serialized
    def outer(x):
        return inner(x) * 2

    assert outer(1) == 4 and calls == [1]
    assert inner.__name__ == "inner"


def test_serialized_kernel_set_namespace_keeps_constants_and_wraps_functions(monkeypatch):
    from solvers._kernels import numba as nbk
    from solvers._kernels.numba import approx_slab

    monkeypatch.setattr(_config, "_layer_threadsafe", False)
    ks = nbk.kernel_set(approx_slab)
    assert ks is not approx_slab
    assert ks.BATCH == approx_slab.BATCH and ks.SLAB_NS == approx_slab.SLAB_NS
    assert ks.use_slab is not approx_slab.use_slab and ks.use_slab.__wrapped__ is approx_slab.use_slab
    monkeypatch.setattr(_config, "_layer_threadsafe", True)
    assert nbk.kernel_set(approx_slab) is approx_slab


def test_serialized_krylov_select_namespaces_are_locked_too(monkeypatch):
    from solvers._kernels import numba as nbk
    from solvers._kernels.numba import krylov

    monkeypatch.setattr(_config, "_layer_threadsafe", False)
    ks = nbk.kernel_set(krylov)
    par = ks.select(krylov.PARALLEL_MIN)
    assert par.dot.__wrapped__ is krylov.dot_p and ks.select(krylov.PARALLEL_MIN) is par
    assert par.select(10).dot.__wrapped__ is krylov.dot_s      # the namespace's own select wraps too
    a = np.arange(krylov.PARALLEL_MIN, dtype=float)
    assert par.dot(a, a) == pytest.approx(float(a @ a), rel=1e-14)
