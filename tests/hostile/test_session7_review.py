"""Review of the session-7 fixes: inputs that worked before them must keep working.

Each test compares with an independent reference (a dense plan computed from the potentials).
"""
from __future__ import annotations

import numpy as np
import pytest

from solvers.ot import sinkhorn


@pytest.mark.parametrize("dense_max, dense", [(1e8, True), (10.0, False), (float("inf"), True), (20, True)])
def test_plan_dense_max_accepts_a_real_count(dense_max, dense):
    """plan(dense_max=1e8) worked before the argument checks (a count compared with n m) and was then refused
    as 'not a non-negative integer'; any non-negative real is a valid count."""
    rng = np.random.default_rng(0)
    C = rng.random((5, 4))
    res = sinkhorn(C, eps=0.1, tol=1e-10)
    P = res.plan(dense_max=dense_max)
    f, g = res.x[:5], res.x[5:]
    ref = np.exp((f[:, None] + g[None, :] - C) / 0.1)       # the plan from the returned potentials
    got = P if dense else P.toarray()
    assert isinstance(P, np.ndarray) == dense
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("bad", [-1, float("nan"), "big", True])
def test_plan_dense_max_still_refuses_invalid(bad):
    res = sinkhorn(np.random.default_rng(1).random((3, 3)), eps=0.1)
    with pytest.raises(ValueError, match="dense_max"):
        res.plan(dense_max=bad)


# ---------------------------------------------------------------------------------------------- runs: CSV export
def test_write_csv_writes_through_a_symlink_and_a_fifo(tmp_path):
    """write_csv wrote to a temporary file and renamed it onto the path: a symlink was replaced by a regular
    file (the file it points to kept its old content), and a FIFO (or /dev/stdout) was replaced by a file
    whose reader got nothing. Reference: what open(path, 'w') does (the behaviour before the rename)."""
    import csv
    import os
    import threading

    from solvers.runs import _table

    rows = [{"run_id": "r1", "status": "converged"}]
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    os.symlink(target, link)
    _table.write_csv(rows, link)
    assert link.is_symlink()
    assert list(csv.DictReader(target.open())) == rows
    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    _table.write_csv(rows, fifo)
    reader.join(10)
    assert not fifo.is_file() and fifo.exists()
    assert got and list(csv.DictReader(got[0].splitlines())) == rows


# ---------------------------------------------------------------------------------------------- sweep: probe
def test_probe_waits_for_a_scheduler_that_is_starting():
    """The address probe failed at once on a refused connection, so the usual job script
    (``dask scheduler &`` then the sweep) failed where Dask's client (retrying for 20 s) connected after
    half a second. Reference: a listener that opens 1 s after the probe starts and answers like a Dask
    scheduler (an 8-byte little-endian frame-length header) must be accepted."""
    import socket
    import struct
    import threading
    import time

    pytest.importorskip("distributed")
    from solvers.sweep import _cluster

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    def serve():
        time.sleep(1.0)
        with socket.create_server(("127.0.0.1", port)) as srv:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(struct.pack("<Q", 64) + b"\0" * 64)
                time.sleep(0.5)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    t = time.monotonic()
    _cluster.probe(f"tcp://127.0.0.1:{port}", timeout_s=5.0)          # no ClusterError
    assert time.monotonic() - t < 4.0
    th.join(5)


# ---------------------------------------------------------------------------------------------- newton_krylov norms
@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_newton_krylov_norms_at_extreme_scales_stay_exact_and_quiet(scale):
    """Guard for the one-pass norm of newton_krylov (the scaled two-pass norm only where the plain norm is
    outside [1e-100, 1e100]): F = s (x^3 + x - 2) has the root x = 1 at every scale s, found without an
    overflow warning."""
    import warnings

    from solvers import newton_krylov

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = newton_krylov(lambda x: scale * (x ** 3 + x - 2.0), np.zeros(6), tol=1e-10 * scale)
    assert res.converged
    np.testing.assert_allclose(res.x, np.ones(6), rtol=0, atol=1e-12)
