"""Probe 25 (docs vs behaviour): the sweep's LocalCluster and the one place that sets the thread count.

README: "The number of CPU threads the Numba kernels use is set in one place: NEWTONKIT_NUM_THREADS (or
solvers.set_num_threads(n), or newtonkit --threads N ...)"; sweeps: "NEWTONKIT_NUM_THREADS split between
them". ``newtonkit --threads 1 sweep spec.toml --workers 1`` on a 2-core machine stored runs whose
provenance said num_threads = 2: the LocalCluster gave each worker cores // workers threads, overriding
the configured count.
"""
import pytest

pytest.importorskip("distributed")

import distributed  # noqa: E402

from solvers import _config  # noqa: E402
from solvers.sweep import _cluster  # noqa: E402


@pytest.fixture
def fake_cluster(monkeypatch):
    seen = {}

    class FakeLocalCluster:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", FakeLocalCluster)
    monkeypatch.setattr(_cluster, "machine_cores", lambda: 4)
    monkeypatch.setattr(_config, "_requested", None)
    return seen


def test_configured_thread_count_is_split_between_the_workers(fake_cluster, monkeypatch):
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "2")
    _cluster.local_cluster(1)
    assert fake_cluster["env"]["NEWTONKIT_NUM_THREADS"] == "2"        # was "4" (all cores)
    _cluster.local_cluster(2)
    assert fake_cluster["env"]["NEWTONKIT_NUM_THREADS"] == "1"        # was "2"


def test_without_a_configured_count_the_cores_are_split(fake_cluster, monkeypatch):
    monkeypatch.delenv("NEWTONKIT_NUM_THREADS", raising=False)
    _cluster.local_cluster(1)
    assert fake_cluster["env"]["NEWTONKIT_NUM_THREADS"] == "4"
    _cluster.local_cluster()
    assert fake_cluster["n_workers"] == 4 and fake_cluster["env"]["NEWTONKIT_NUM_THREADS"] == "1"


def test_threads_per_worker_given_wins(fake_cluster, monkeypatch):
    monkeypatch.setenv("NEWTONKIT_NUM_THREADS", "1")
    _cluster.local_cluster(1, threads=3)
    assert fake_cluster["env"]["NEWTONKIT_NUM_THREADS"] == "3"
