"""Worker processes started with ``fork`` after the parent ran Numba kernels.

GNU OpenMP cannot run parallel regions in a forked child: Numba's omp layer prints "Terminating: fork()
called from a process already using GNU OpenMP" and the child's kernel never returns, so a
``multiprocessing`` pool (fork is the default start method on Linux) hung forever. newtonkit now raises a
clear RuntimeError in such a child where a parallel kernel would run; serial kernels (the Krylov and
sparse sets below 50 000 unknowns) and the NumPy backend still work there, and so does everything on a
fork-safe threading layer (workqueue). Each case runs in its own interpreter (the threading layer is
chosen once per process) with a timeout, so a regression fails instead of hanging the suite.
"""
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, sys
    import numpy as np, numba, solvers
    from problems import pde

    A = np.diag(np.arange(1.0, 41.0)) + np.diag(np.full(39, -0.5), 1) + np.diag(np.full(39, -0.5), -1)
    b = np.ones(40)
    x_ref = np.linalg.solve(A, b)
    P = pde.Poisson((40, 40, 40))                  # 64 000 unknowns: the parallel Krylov kernels
    big = solvers.cg(P.operator("numba"), P.rhs("numba"), rtol=1e-8)   # the parent runs Numba kernels first
    assert big.converged

    def child(case):
        backend, large = case
        try:
            if large:
                r = solvers.cg(P.operator(backend), P.rhs(backend), rtol=1e-8)
                ok = r.converged and np.allclose(np.asarray(r.x), np.asarray(big.x), rtol=1e-6, atol=1e-9)
            else:
                r = solvers.cg(A, b, rtol=1e-12, backend=backend)
                ok = r.converged and np.allclose(r.x, x_ref, rtol=1e-9, atol=1e-12)
            return "ok" if ok else "wrong"
        except RuntimeError as e:
            return "error: " + str(e)

    if __name__ == "__main__":
        layer = numba.threading_layer()
        vendor = getattr(sys.modules.get("numba.np.ufunc.omppool"), "openmp_vendor", "")
        cases = [("numba", True), ("numba", False), ("numpy", True)]
        with mp.get_context("fork").Pool(1) as pool:
            out = [pool.apply_async(child, (c,)).get(timeout=60) for c in cases]
        print(layer, vendor, "|", " | ".join(out))
""")


def _run(tmp_path, env_extra):
    path = tmp_path / "fork_case.py"
    path.write_text(SCRIPT)
    env = dict(os.environ, **env_extra)
    p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    layer, rest = p.stdout.strip().split(" ", 1)
    vendor, large_numba, small_numba, large_numpy = (s.strip() for s in rest.split("|"))
    return layer, vendor, large_numba, small_numba, large_numpy


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_gets_a_clear_error_on_gnu_openmp_and_serial_and_numpy_paths_still_work(tmp_path):
    layer, vendor, large_numba, small_numba, large_numpy = _run(tmp_path, {})
    assert small_numba == "ok" and large_numpy == "ok"     # serial Numba kernels and NumPy run in the child
    if layer == "omp" and vendor == "GNU":
        assert large_numba.startswith("error: newtonkit: this process was forked")
        assert "get_context('spawn')" in large_numba and "NUMBA_THREADING_LAYER=workqueue" in large_numba
    else:                                        # a fork-safe layer: the child just works
        assert large_numba == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_runs_numba_kernels_on_a_fork_safe_layer(tmp_path):
    layer, _, large_numba, small_numba, large_numpy = _run(tmp_path, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert layer == "workqueue"
    assert large_numba == small_numba == large_numpy == "ok"


HELD_AT_FORK = textwrap.dedent("""
    import os, signal, threading, time
    import numpy as np, solvers
    from solvers import _config
    from problems import pde, potentials

    P = pde.Poisson((24, 24, 24))
    A, b = P.operator("numba"), P.rhs("numba")
    M = P.preconditioner("mg", "numba")
    ref = np.asarray(solvers.cg(A, b, M=M, rtol=1e-10).x)
    held, release = threading.Event(), threading.Event()

    def hold():                    # another thread holds the launch lock and the preconditioner's lock at the fork
        with _config._LAUNCH, M._lock:
            held.set()
            release.wait()
    threading.Thread(target=hold, daemon=True).start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        signal.alarm(60)           # a hang ends the child by SIGALRM
        x = np.asarray(solvers.cg(A, b, M=M, rtol=1e-10).x)
        os._exit(0 if np.array_equal(x, ref) else 3)
    _, st = os.waitpid(pid, 0)
    release.set()
    print("signal" if os.WIFSIGNALED(st) else os.WEXITSTATUS(st))
""")


def test_a_lock_held_by_another_thread_at_the_fork_does_not_hang_the_child(tmp_path):
    # workqueue (fork-safe) layer: the child waited forever on the launch lock / the preconditioner's lock that a
    # parent thread held when the fork happened (outside probe helper-74); the locks are made again in the child
    path = tmp_path / "held.py"
    path.write_text(HELD_AT_FORK)
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue", NEWTONKIT_NUM_THREADS="2")
    p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip() == "0"                      # the child's solve ran and equals the parent's


def test_direct_coulomb_sum_in_a_forked_omp_child_is_a_clear_error(tmp_path):
    code = textwrap.dedent("""
        import multiprocessing as mp, sys, numba
        import numpy as np
        from problems import potentials

        pts = np.random.default_rng(0).random((50, 3)) + 2.0
        pos, z = np.random.default_rng(1).random((20, 3)), np.ones(20)
        ref = potentials.coulomb_sum(pts, pos, z)           # the parent runs the parallel kernel first

        def child(_):
            try:
                return "ok" if np.allclose(potentials.coulomb_sum(pts, pos, z), ref) else "wrong"
            except RuntimeError as e:
                return "error: " + str(e)[:40]

        if __name__ == "__main__":
            vendor = getattr(sys.modules.get("numba.np.ufunc.omppool"), "openmp_vendor", "")
            with mp.get_context("fork").Pool(1) as pool:
                print(numba.threading_layer(), vendor, "|", pool.apply_async(child, (0,)).get(timeout=60))
    """)
    path = tmp_path / "coulomb_fork.py"
    path.write_text(code)
    p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240,
                       env=dict(os.environ, NEWTONKIT_NUM_THREADS="2"))
    assert p.returncode == 0, p.stderr[-3000:]
    head, out = p.stdout.strip().split("|")
    if head.split()[0] == "omp" and "GNU" in head:
        assert out.strip().startswith("error: newtonkit: this process was forked")   # was killed by SIGTERM
    else:
        assert out.strip() == "ok"
