"""Worker processes started with ``fork`` after the parent ran Numba kernels.

GNU OpenMP cannot run parallel regions in a forked child: Numba's omp layer prints "Terminating: fork()
called from a process already using GNU OpenMP" and the child's kernel never returns, so a
``multiprocessing`` pool (fork is the default start method on Linux) hung forever. newtonkit now raises a
clear RuntimeError in such a child; the NumPy backend still works there, and so does everything on a
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

    A = np.diag(np.arange(1.0, 41.0)) + np.diag(np.full(39, -0.5), 1) + np.diag(np.full(39, -0.5), -1)
    b = np.ones(40)
    x_ref = np.linalg.solve(A, b)
    assert solvers.cg(A, b, backend="numba").converged       # the parent runs Numba kernels first

    def child(backend):
        try:
            r = solvers.cg(A, b, rtol=1e-12, backend=backend)
            return "ok" if r.converged and np.allclose(r.x, x_ref, rtol=1e-9, atol=1e-12) else "wrong"
        except RuntimeError as e:
            return "error: " + str(e)

    if __name__ == "__main__":
        layer = numba.threading_layer()
        vendor = getattr(sys.modules.get("numba.np.ufunc.omppool"), "openmp_vendor", "")
        with mp.get_context("fork").Pool(1) as pool:
            out = [pool.apply_async(child, (be,)).get(timeout=60) for be in ("numba", "numpy")]
        print(layer, vendor, "|", out[0], "|", out[1])
""")


def _run(tmp_path, env_extra):
    path = tmp_path / "fork_case.py"
    path.write_text(SCRIPT)
    env = dict(os.environ, **env_extra)
    p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    layer, rest = p.stdout.strip().split(" ", 1)
    vendor, numba_out, numpy_out = (s.strip() for s in rest.split("|"))
    return layer, vendor, numba_out, numpy_out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_gets_a_clear_error_on_gnu_openmp_and_numpy_still_works(tmp_path):
    layer, vendor, numba_out, numpy_out = _run(tmp_path, {})
    assert numpy_out == "ok"
    if layer == "omp" and vendor == "GNU":
        assert numba_out.startswith("error: newtonkit: this process was forked")
        assert "get_context('spawn')" in numba_out and "NUMBA_THREADING_LAYER=workqueue" in numba_out
    else:                                        # a fork-safe layer: the child just works
        assert numba_out == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_child_runs_numba_kernels_on_a_fork_safe_layer(tmp_path):
    layer, _, numba_out, numpy_out = _run(tmp_path, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert layer == "workqueue"
    assert numba_out == "ok" and numpy_out == "ok"
