"""No threaded BLAS call between the Numba kernels of a solve.

OpenBLAS's worker threads spin for about 0.1 s after a threaded call, on the cores the Numba kernels then
run on. Measured with ``OPENBLAS_NUM_THREADS`` unset (2 cores, before these paths changed): MINRES 10x,
GMRES 3.9x, geometric MG-CG 2-5x, Galerkin MG-CG 4.7x slower than with it set to 1
(``benchmarks/blas_threads.py``). The solvers' vector products on the Numba backend therefore go through
the backend's kernels, and the multigrid set-up's small dense inverse runs LAPACK on one thread. These
tests check that directly, without timing a solve: the BLAS workers' CPU time during a solve with two BLAS
threads allowed (any threaded call wakes them, however it was spelled), NumPy's product functions
wrapped (names the call), and LAPACK's thread count inside the coarse inverse.
"""
import os

import numpy as np
import pytest
import scipy.linalg
from threadpoolctl import threadpool_info, threadpool_limits

import solvers
from problems import pde
from solvers.linear.multigrid import multigrid
from solvers.linear.precond import chebyshev

LONG = 10_000          # OpenBLAS threads a dot product from here on (interface/dot.c)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_coarse_inverse_runs_lapack_on_one_thread(monkeypatch):
    seen = []
    real = scipy.linalg.lapack.dpotrf

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.linalg.lapack, "dpotrf", spy)
    from solvers.linear import multigrid_memo

    multigrid_memo.clear()                      # memoised by grid and coefficients: an earlier test may have built it
    A = pde.Poisson((40, 40, 40)).operator("numba")
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        M = multigrid(A)
        after = _blas_threads()
    assert seen and all(n == 1 for n in seen[-1])
    assert after == before                      # the caller's count is restored
    C = M.levels[-1].A.to_csr().toarray()        # and the inverse is the inverse
    np.testing.assert_allclose(M._cinv @ C, np.eye(C.shape[0]), atol=1e-10)


def _newton_cg_case(n=20_000):
    """Newton-CG (Hessian products) on the strictly convex ``sum cosh(x_i) - x_i + 1/2 sum (x_{i+1} - x_i)^2``:
    its slopes and gradient norms took NumPy's BLAS on n-vectors between the Numba CG kernels."""
    def f(x):
        return float(np.sum(np.cosh(x) - x) + 0.5 * np.sum(np.diff(x) ** 2))

    def g(x):
        d = np.diff(x)
        out = np.sinh(x) - 1.0
        out[:-1] -= d
        out[1:] += d
        return out

    def hessp(x, p):
        dp = np.diff(p)
        out = np.cosh(x) * p
        out[:-1] -= dp
        out[1:] += dp
        return out

    return solvers.newton(f, np.full(n, 2.0), jac=g, hessp=hessp, backend="numba", tol=1e-8)


def _cases():
    p2 = pde.Poisson((128, 128))
    A2, b2 = p2.operator("numba"), p2.rhs("numba")
    k = lambda x, y, z: np.where((x > 0.3) & (x < 0.7), 1e3, 1.0)  # noqa: E731
    p3 = pde.Poisson((24, 24, 24), k=k)
    A3, b3 = p3.operator("numba"), p3.rhs("numba")
    p4 = pde.Poisson((32, 32, 32))
    A4, b4 = p4.operator("numba"), p4.rhs("numba")
    return {
        "minres": lambda: solvers.minres(A2, b2, rtol=1e-6, backend="numba"),
        "gmres": lambda: solvers.gmres(A2, b2, rtol=1e-3, restart=12, backend="numba"),
        "cdm": lambda: solvers.cdm(A2, b2, rtol=1e-3, backend="numba"),
        "cg+chebyshev": lambda: solvers.cg(A2, b2, M=chebyshev(A2), rtol=1e-6, backend="numba"),
        "mg-cg geometric": lambda: solvers.cg(A4, b4, M=multigrid(A4), rtol=1e-8),
        "mg-cg galerkin": lambda: solvers.cg(A3, b3, M=multigrid(A3), rtol=1e-8),
        "mg stationary": lambda: multigrid(A4).solve(b4, rtol=1e-6),
        "cg csr": lambda: solvers.cg(A2.to_csr(), b2, rtol=1e-3, backend="numba"),
        "newton_krylov bratu": lambda: solvers.newton_krylov(**pde.Bratu((112, 112), lam=3.0).nonlinear_system("numba"),
                                                             tol=1e-8),
        "newton-cg hessp": _newton_cg_case,
        # the merit, slopes, KKT norms and the problem's f by the backend's dot: 2.3-2.7x slower unpinned before
        "sketched_newton control": lambda: solvers.sketched_newton(pde.PoissonControl(64, alpha=1e-4, semilinear=True),
                                                                   sketch=None, tol=1e-8, backend="numba"),
    }


def _thread_cpu():
    """CPU seconds (user + system) of every thread of this process, by thread id (Linux ``/proc``)."""
    out, tick = {}, os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:                              # the thread ended meanwhile
            continue
        out[tid] = (int(fields[11]) + int(fields[12])) / tick
    return out


@pytest.fixture(scope="module")
def blas_workers():
    """The thread ids of the BLAS libraries' workers: the threads other than this one that get CPU time
    while this one runs large BLAS products (NumPy's and SciPy's OpenBLAS) with two threads allowed."""
    import threading
    import time

    from scipy.linalg import blas

    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs Linux /proc")
    me = str(threading.get_native_id())
    X = np.random.default_rng(0).standard_normal((700, 700))
    with threadpool_limits(limits=2, user_api="blas"):
        if max(_blas_threads(), default=1) < 2:
            pytest.skip("the BLAS libraries cannot run two threads here")
        time.sleep(0.3)                        # threads that spin after earlier work go to sleep
        c0 = _thread_cpu()
        for _ in range(3):
            X @ X
            blas.dgemm(1.0, X, X)
        c1 = _thread_cpu()
    workers = {t for t in c1 if t != me and c1[t] - c0.get(t, 0.0) > 0.0}
    if not workers:
        pytest.skip("no BLAS worker thread could be identified")
    return workers


@pytest.mark.parametrize("name", list(_cases()))
def test_blas_worker_threads_stay_idle_in_numba_solves(blas_workers, name):
    """With BLAS allowed two threads, the solve must not wake the BLAS workers. A threaded BLAS call between
    the kernels makes them spin for ~0.1 s each time (>= 10 ms of CPU: a clock tick), whatever Python
    spelling made the call (``@``, ``.dot``, ``np.linalg.norm``)."""
    import time

    fn = _cases()[name]
    fn()                                       # compile
    with threadpool_limits(limits=2, user_api="blas"):
        time.sleep(0.3)
        c0 = _thread_cpu()
        res = fn()
        c1 = _thread_cpu()
    busy = {t: c1.get(t, 0.0) - c0.get(t, 0.0) for t in blas_workers}
    assert res.converged
    assert sum(busy.values()) < 0.02, busy


@pytest.mark.parametrize("name", list(_cases()))
def test_no_numpy_blas_on_long_vectors_in_numba_solves(monkeypatch, name):
    """Run once (compiling), then again with NumPy's BLAS-backed products wrapped: none may see a long vector."""
    fn = _cases()[name]
    ref = fn()
    calls = []

    def wrap(f):
        def g(*args, **kwargs):
            if any(getattr(a, "size", 0) >= LONG for a in args):
                calls.append((f.__name__, [getattr(a, "shape", None) for a in args]))
            return f(*args, **kwargs)
        return g

    for mod, names in ((np, ("dot", "vdot", "inner", "matmul")), (np.linalg, ("norm",))):
        for nm in names:
            monkeypatch.setattr(mod, nm, wrap(getattr(mod, nm)))
    res = fn()
    monkeypatch.undo()
    assert calls == []
    assert res.converged and res.nit == ref.nit
    np.testing.assert_array_equal(res.x, ref.x)


def test_overlapping_serial_blocks_restore_the_callers_count():
    """Two blocks (of two Python threads, say) overlapping out of order -- first in, first out -- keep the cap
    until the last one leaves, then restore the caller's count (restoring per block left it at 1)."""
    from solvers import _config

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        a, b = _config.blas_serial(), _config.blas_serial()
        a.__enter__()
        b.__enter__()
        assert all(n == 1 for n in _blas_threads())
        a.__exit__(None, None, None)
        assert all(n == 1 for n in _blas_threads())      # b is still inside
        b.__exit__(None, None, None)
        assert _blas_threads() == before == [2] * len(before)


def test_blas_workers_stay_idle_in_a_chebtucker_build_and_evaluation(blas_workers):
    """The Chebyshev-Tucker build (tails, HOSVD, the tables), a sum with re-truncation and the evaluation after
    them: the dense factorizations run on one BLAS thread (``blas_serial``), so nothing spins into the Numba
    evaluation (build at m = 65 then 2e5 points, BLAS unpinned: 1.19x the pinned time before). The user's f
    (elementwise here) is called outside the cap."""
    import time
    import warnings

    x0 = np.array([1.3, 0.2, -0.1])
    f = lambda X: 1.0 / np.sqrt(((X - x0) ** 2).sum(1))  # noqa: E731
    P = np.random.default_rng(2).uniform(-1, 1, (20_000, 3))

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ct = solvers.chebtucker(f, [(-1, 1)] * 3, degree=48, tol=1e-7, backend="numba")
            twice = ct + ct
        return ct(P), twice(P)

    run()                                      # compile
    with threadpool_limits(limits=2, user_api="blas"):
        time.sleep(0.3)
        c0 = _thread_cpu()
        v, w = run()
        c1 = _thread_cpu()
    busy = {t: c1.get(t, 0.0) - c0.get(t, 0.0) for t in blas_workers}
    np.testing.assert_allclose(v, f(P), rtol=1e-5)
    np.testing.assert_allclose(w, 2 * f(P), rtol=1e-5)
    assert sum(busy.values()) < 0.02, busy
