"""The pooled work memory (solvers._workspace): nothing handed out twice while any view of it lives, the
bound, release, the environment knob; and MG-CG / CG with every pooled array poisoned (NaN) on hand-out,
against SciPy references (a kernel reading an entry it did not write first would show)."""
import gc
import threading

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import solvers
from problems import pde
from solvers import _workspace as W
from solvers.linear.multigrid import multigrid

pytestmark = pytest.mark.skipif(not W.ENABLED, reason="the pool needs CPython reference counts")

N = W.MIN_BYTES // 8          # float64 entries of one pooled vector


@pytest.fixture(autouse=True)
def _clean_pool():
    W.release()
    yield
    W.POISON = False
    gc.collect()
    W.release()


def test_reuse_only_after_every_view_is_gone():
    a = W.empty(np, N)
    addr = a.ctypes.data
    v = a[::3]                           # a view of a view: its base is the pool buffer, not a
    w = memoryview(a[5:])
    del a
    b = W.empty(np, N)
    assert not np.shares_memory(b, v)
    del w
    c = W.empty(np, N)
    assert not np.shares_memory(c, v)
    del v
    d = W.empty(np, N)
    assert d.ctypes.data == addr         # reused once nothing refers to it
    assert not np.shares_memory(d, b) and not np.shares_memory(d, c)


def test_zeros_and_copy():
    a = W.empty(np, (N // 4, 4))
    a.fill(7.0)
    del a
    z = W.zeros(np, (N // 4, 4))
    assert z.shape == (N // 4, 4) and z.dtype == np.float64 and not z.any()
    y = W.copy(np, np.arange(N, dtype=np.float32))
    assert y.dtype == np.float32 and np.array_equal(y, np.arange(N, dtype=np.float32))


def test_small_arrays_are_plain_allocations():
    a = W.empty(np, 10)
    assert a.base is None and W.held() == (0, 0)


def test_bound_and_release(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "2.5")     # room for two 1 MiB buffers
    a, b, c = W.empty(np, N), W.empty(np, N), W.empty(np, N)
    assert W.held() == (2 * W.MIN_BYTES, 2 * W.MIN_BYTES)
    assert c.base is None                                    # past the bound: a plain allocation
    del a
    assert W.held() == (2 * W.MIN_BYTES, W.MIN_BYTES)
    assert W.release() == W.MIN_BYTES
    assert W.held() == (W.MIN_BYTES, W.MIN_BYTES)
    del b, c


@pytest.mark.parametrize("raw", ["lots", "-1", "nan", "inf", "-inf", "1e400", "1e300"])
def test_bad_limit_is_a_clear_error(monkeypatch, raw):
    """helper-95: ``inf`` and ``1e400`` raised OverflowError from ``int(mb * 2**20)``."""
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", raw)
    with pytest.raises(ValueError, match="NEWTONKIT_WORKSPACE_MB"):
        W.empty(np, N)


def test_bad_limit_is_caught_with_a_free_buffer_waiting(monkeypatch):
    a = W.empty(np, N)
    del a                                          # a free buffer of this size: no new allocation needed
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "inf")
    with pytest.raises(ValueError, match="NEWTONKIT_WORKSPACE_MB"):
        W.empty(np, N)


def test_empty_limit_means_the_default(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", " ")
    assert W._limit() == 256 * 2 ** 20
    assert W.empty(np, N).base is not None


def test_zero_limit_turns_the_pool_off(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "0")
    assert W.empty(np, N).base is None and W.held() == (0, 0)


def test_threads_never_share_a_buffer():
    seen, lock, errors = [], threading.Lock(), []

    def work():
        for _ in range(200):
            a = W.empty(np, N)
            a.fill(threading.get_ident())
            with lock:
                seen.append(a.ctypes.data)
            if not np.all(a == threading.get_ident()):
                errors.append("another thread wrote into this thread's array")
            del a

    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert W.held()[1] == 0


def test_a_kept_result_is_never_reused():
    p = pde.Poisson((40, 40, 40))
    A, b = p.operator("numba"), p.rhs("numba")
    r1 = solvers.cg(A, b, M=multigrid(A), rtol=1e-10)
    keep = r1.x.copy()
    view = r1.x[::2]
    del r1
    for _ in range(3):
        solvers.cg(A, 2.0 * b, M=multigrid(A), rtol=1e-10)
    np.testing.assert_array_equal(view, keep[::2])


@pytest.mark.parametrize("shape", [(84, 80, 76), (81, 80, 79), (512, 511)])
def test_poisoned_workspace_mgcg_matches_scipy(shape):
    """MG-CG (numba; the split-layout fine level on the 3-D grids, both parities of the last axis) with every
    pooled array NaN on hand-out, twice (the second build reuses the first one's memory): the answer is the
    SciPy CG solution of the CSR matrix to 1e-12 (reference), within 1e-7 relative."""
    p = pde.Poisson(shape)
    A, b = p.operator("numba"), p.rhs("numba")
    ref, info = spla.cg(A.to_csr(), b, rtol=1e-12, maxiter=5000)
    assert info == 0
    W.POISON = True
    for _ in range(2):
        M = multigrid(A)
        res = solvers.cg(A, b, M=M, rtol=1e-9)
        assert res.converged and np.all(np.isfinite(res.x))
        assert np.linalg.norm(res.x - ref) <= 1e-7 * np.linalg.norm(ref)
        del M, res


def test_free_buffers_of_other_sizes_make_room(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "3.5")
    a, b, c = W.empty(np, N), W.empty(np, N + 1), W.empty(np, N + 2)    # three sizes, 3 MiB + 48 bytes
    keep_b = b
    del a, b, c
    d = W.empty(np, 2 * N)             # 2 MiB: the free 1 MiB buffers are dropped for it, b's is in use
    assert d.base is not None
    held, busy = W.held()
    assert held <= 3.5 * 2 ** 20 and busy == d.nbytes + keep_b.nbytes
    e = W.empty(np, 2 * N)             # no room left beside d and b: a plain allocation
    assert e.base is None


def test_an_empty_size_list_dropped_by_eviction_does_not_leak(monkeypatch):
    """helper-94: an empty list left for a size (by a failed request) was deleted by the eviction while the
    request went on appending to it: the buffer was counted as held forever, never as busy or free."""
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "bad")
    with pytest.raises(ValueError):
        W.empty(np, N)                                 # (left an empty list for this size, first in order)
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "3.5")
    a, b, c = W.empty(np, N + 1), W.empty(np, N + 2), W.empty(np, N + 3)
    del a, b
    d = W.empty(np, N)                                 # needs room: the eviction runs
    assert d.base is not None
    assert W.held()[1] == c.nbytes + d.nbytes
    del d
    assert W.held()[1] == c.nbytes
    W.release()
    assert W.held() == (c.nbytes, c.nbytes)           # nothing counted that the pool cannot see


def test_pool_off_when_a_tracer_is_active_at_import():
    """A tracer reading frame locals while the module is imported would inflate the free-buffer baseline
    (helper-94: a buffer with one live user was then handed out again): the pool stays off instead."""
    import subprocess
    import sys

    code = ("import sys\n"
            "def tr(frame, event, arg):\n"
            "    frame.f_locals\n"
            "    return tr\n"
            "sys.settrace(tr)\n"
            "from solvers import _workspace as W\n"
            "sys.settrace(None)\n"
            "import numpy as np\n"
            "a = W.empty(np, 1 << 18)\n"
            "b = W.empty(np, 1 << 18)\n"
            "print(W.ENABLED, np.shares_memory(a, b))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_zero_limit_is_off_even_with_a_free_buffer_waiting(monkeypatch):
    """helper-96: with a free pooled buffer of the size asked for, ``0`` still handed it out."""
    a = W.empty(np, N)
    del a
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "0")
    assert W.empty(np, N).base is None


def test_limit_message_names_the_range(monkeypatch):
    monkeypatch.setenv("NEWTONKIT_WORKSPACE_MB", "1e300")
    with pytest.raises(ValueError, match=r"from 0 \(the pool off\) to 2\^43"):
        W.empty(np, N)
