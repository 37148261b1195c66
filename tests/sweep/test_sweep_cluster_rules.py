"""Which cluster a sweep reaches, and the rule that a shared cluster is not reached in clear text."""
import os

import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402

from solvers.sweep import ClusterError, connect, scheduler_address, security_for  # noqa: E402
from solvers.sweep._cluster import _is_loopback, local_cluster  # noqa: E402


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786",
                                     "127.0.0.5:8786", f"inproc://10.0.0.1/{os.getpid()}/2"])
def test_clear_text_to_this_machine_is_allowed(address):
    assert security_for(address) is None


@pytest.mark.parametrize("address, match", [("inproc://x", "inside one process"),
                                            ("inproc://10.0.0.1/1/2", "inside one process"),
                                            ("wss://10.0.0.1:8786", "wss:// scheduler needs certificates")])
def test_addresses_that_cannot_be_reached_are_named(address, match):
    """inproc:// from another process gave Dask's 'not enough values to unpack'; wss:// (TLS) was refused as
    clear text (helper-149)."""
    with dask.config.set({"distributed.comm.tls.ca-file": None}):
        with pytest.raises(ClusterError, match=match):
            security_for(address)


@pytest.mark.parametrize("address", ["tcp://10.1.2.3:8786", "tcp://192.0.2.7:8786", "ws://8.8.8.8:80",
                                     "10.1.2.3:8786"])
def test_clear_text_to_another_host_is_refused_unless_insecure(address):
    with pytest.raises(ClusterError, match="clear text"):
        security_for(address)
    assert security_for(address, insecure=True) is None


def test_tls_needs_certificates_from_the_dask_config(tmp_path, monkeypatch):
    for var in ("DASK_DISTRIBUTED__COMM__TLS__CA_FILE",):
        monkeypatch.delenv(var, raising=False)
    with dask.config.set({"distributed.comm.tls.ca-file": None}):
        with pytest.raises(ClusterError, match="distributed.comm.tls.ca-file"):
            security_for("tls://10.1.2.3:8786")
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "c.pem", "k.pem"))
    with dask.config.set({"distributed.comm.tls.ca-file": str(ca), "distributed.comm.tls.client.cert": str(cert),
                          "distributed.comm.tls.client.key": str(key)}):
        sec = security_for("tls://10.1.2.3:8786")
    assert sec.tls_ca_file == str(ca) and sec.tls_client_cert == str(cert) and sec.tls_client_key == str(key)


def test_connect_refuses_before_connecting():
    with pytest.raises(ClusterError, match="clear text"):
        with connect(scheduler="tcp://10.1.2.3:8786"):
            pass


def test_scheduler_address_precedence(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9999")
    assert scheduler_address("tcp://127.0.0.1:1") == "tcp://127.0.0.1:1"
    assert scheduler_address() == "tcp://127.0.0.1:9999"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    with dask.config.set({"scheduler-address": "tcp://127.0.0.1:7777"}):
        assert scheduler_address() == "tcp://127.0.0.1:7777"
    with dask.config.set({"scheduler-address": None}):
        assert scheduler_address() is None


def test_loopback_detection():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("[::1]") and _is_loopback("localhost")
    assert not _is_loopback("10.0.0.1") and not _is_loopback("no-such-host.invalid")


def test_cuda_cluster_needs_dask_cuda():
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        with pytest.raises(ClusterError, match="dask-cuda"):
            local_cluster(cuda=True)
    else:  # pragma: no cover - machines with dask-cuda
        pytest.skip("dask-cuda is installed")


def test_bad_cluster_arguments():
    with pytest.raises(ValueError, match="cluster must be"):
        with connect(cluster="kubernetes"):
            pass
    with pytest.raises(ValueError, match="n_workers"):
        local_cluster(0)
    with pytest.raises(ValueError, match="threads"):
        local_cluster(1, threads=0)


def test_cuda_cluster_gets_the_same_quiet_settings(monkeypatch):
    """``cluster="cuda"`` passes the free HTTP port and the SIGINT-ignoring preload on to
    ``dask_cuda.LocalCUDACluster`` (a stand-in module here: no GPU), and falls back to its own settings
    when that version refuses them."""
    import sys
    import types

    calls = []

    class Fake:
        def __init__(self, **kw):
            calls.append(kw)
            if "preload" in kw and len(calls) == 1 and refuse:
                raise TypeError("got multiple values for keyword argument 'preload'")

    import importlib.machinery

    mod = types.ModuleType("dask_cuda")
    mod.__spec__ = importlib.machinery.ModuleSpec("dask_cuda", None)
    mod.LocalCUDACluster = Fake
    monkeypatch.setitem(sys.modules, "dask_cuda", mod)
    for refuse in (False, True):
        calls.clear()
        assert isinstance(local_cluster(cuda=True), Fake)
        assert calls[0]["preload"] == ["solvers.sweep._worker_setup"]
        assert calls[0]["scheduler_kwargs"]["dashboard_address"] == "127.0.0.1:0"
        assert len(calls) == (2 if refuse else 1) and ("preload" not in calls[-1]) == refuse
