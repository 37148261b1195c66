"""Ctrl-C during ``newtonkit sweep`` (SIGINT to the whole process group, as a terminal sends it): the driver
stops with exit code 130 and one line, the workers print no KeyboardInterrupt tracebacks (they start with SIGINT
ignored), and the runs stored before the interrupt are intact (outside review, session 14)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[2]

SPEC = """factory = "sweep_poisson:checkerboard_poisson"
method = "cg"
backend = "numpy"
store = "runs/"
[grid]
n = [15, 31, 47, 63, 79, 95, 111, 127]
contrast = [1.0, 100.0, 1e4, 1e6]
[options]
rtol = 1e-10
maxiter = 20000
[option_grid]
precond = ["jacobi", "none"]
"""


def test_ctrl_c_stops_the_sweep_cleanly(tmp_path):
    (tmp_path / "sw.toml").write_text(SPEC)
    exe = Path(sys.executable).with_name("newtonkit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "solvers"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "examples"), OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(cmd + ["sweep", "sw.toml", "--workers", "1", "--threads-per-worker", "1", "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((tmp_path / "runs").glob("*.h5")):   # some work done
        time.sleep(0.5)
        if proc.poll() is not None:
            break
    if proc.poll() is not None:
        pytest.skip("the sweep finished before it could be interrupted")
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "interrupted" in err
    import solvers

    with solvers.RunStore(str(tmp_path / "runs") + "/", "r") as st:
        assert all(v == "ok" for v in st.verify().values())
