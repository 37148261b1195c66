"""Where the tasks run: a Dask client on a LocalCluster, a LocalCUDACluster, or a running scheduler.

* No address: a :class:`distributed.LocalCluster` sized to this machine, one
  single-threaded worker *process* per core (``processes=True,
  threads_per_worker=1``); each worker gets ``NEWTONKIT_NUM_THREADS`` =
  T // workers Numba threads (at least 1), T the configured count
  (``NEWTONKIT_NUM_THREADS``, :func:`solvers.set_num_threads`, ``newtonkit --threads``)
  or else the cores, and one BLAS/OpenMP thread, so workers do not
  oversubscribe the cores.
* ``cluster="cuda"``: :class:`dask_cuda.LocalCUDACluster`, one worker per GPU
  (needs the ``dask-cuda`` package).
* An address (``scheduler=``, else the environment variable
  ``DASK_SCHEDULER_ADDRESS``, else Dask's ``scheduler-address`` config): attach
  to that scheduler; its workers keep their own settings. The address is probed
  first (:func:`probe`): an unknown host, a refused port, or a port where
  something other than a Dask scheduler answers fails at once with a message
  saying so, instead of Dask's 20 s of retries or a wait without end.

Security: a cluster shared with others is not reached in clear text.
``tls://`` addresses use the certificates named in Dask's own configuration
(:class:`distributed.security.Security` built from ``distributed.comm.tls.ca-file``,
``distributed.comm.tls.client.cert`` and ``.key``; e.g. in
``~/.config/dask/distributed.yaml`` or ``DASK_DISTRIBUTED__COMM__TLS__CA_FILE``);
a ``tls://`` address without a CA file configured is refused. A clear-text
address (``tcp://``, ``ws://``, ``ucx://``) is accepted only when its host is
this machine's loopback interface (``127.0.0.0/8``, ``::1``, ``localhost``);
anything else needs ``insecure=True`` (``--insecure``), an explicit statement
that the network is trusted.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import struct

#: environment of LocalCluster workers besides NEWTONKIT_NUM_THREADS
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ClusterError(RuntimeError):
    """The cluster asked for cannot be used (missing package, refused address, no certificates)."""


class ClusterLostError(ClusterError):
    """The connection to the scheduler was lost (or its tasks were cancelled) mid-sweep. The runs that finished
    are stored; nothing is stored for the tasks still pending, so running the same sweep again runs them."""


def connection_lost(client, exc) -> bool:
    """Whether a task's failure ``exc`` says the sweep lost its scheduler, not that the task failed: a
    cancellation (Dask cancels every pending future when the client loses the scheduler, or when the client
    or another one closes or cancels them), a closed comm, a closed event loop, or a client no longer running.
    These tasks were stored as failed runs, which a rerun skipped (helper-147)."""
    from concurrent.futures import CancelledError

    if isinstance(exc, CancelledError) or (type(exc) is RuntimeError and "IOLoop is closed" in str(exc)):
        return True
    try:
        from distributed.comm.core import CommClosedError
        if isinstance(exc, CommClosedError):
            return True
    except ImportError:  # pragma: no cover - distributed is there when a sweep runs
        pass
    return getattr(client, "status", "running") not in ("running", "connecting", "newly-created")


class _ReconnectNoise(logging.Filter):
    """Drops the traceback Dask's client logs when its reconnection attempts to a lost scheduler are cancelled
    at close (a CancelledError over a CommClosedError): the sweep reports the loss itself, in one line."""

    def filter(self, record) -> bool:
        import asyncio

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to attach to: ``scheduler``, else ``DASK_SCHEDULER_ADDRESS``, else Dask's config."""
    if scheduler:
        return scheduler
    env = os.environ.get("DASK_SCHEDULER_ADDRESS", "").strip()
    if env:
        return env
    try:
        import dask

        return dask.config.get("scheduler-address", None) or None
    except ImportError:
        return None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def security_for(address: str, insecure: bool = False):
    """The :class:`distributed.security.Security` to reach ``address`` with (None for clear text), after
    the checks described in the module docstring."""
    from distributed.comm import parse_address, parse_host_port
    from distributed.security import Security

    scheme, loc = parse_address(address)
    if scheme not in ("tcp", "tls", "inproc", "ucx", "ws", "wss"):
        raise ClusterError(f"scheduler address {address!r}: unknown protocol {scheme!r}; a Dask scheduler listens on "
                           "tcp://host:port or tls://host:port")
    if scheme == "ucx" and not any(_importable(m) for m in ("distributed_ucxx", "ucp")):
        raise ClusterError(f"scheduler address {address!r}: ucx:// needs Dask's UCX comm (pip install "
                           "distributed-ucxx), which is not installed here")
    if scheme in ("tls", "wss"):   # (wss is TLS too: it was refused as clear text)
        sec = Security()   # from dask config: distributed.comm.tls.*
        if not sec.tls_ca_file:
            raise ClusterError(
                f"{address}: a {scheme}:// scheduler needs certificates from the Dask config; set "
                "distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and distributed.comm.tls.client.key "
                "(e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE=ca.pem DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT=... "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY=...)")
        return sec
    if scheme == "inproc":       # a scheduler in this process (LocalCluster(processes=False)); from another
        parts = loc.split("/")   # one, Dask raised an unpacking error (helper-149)
        if len(parts) != 3 or parts[1] != str(os.getpid()):
            raise ClusterError(f"scheduler address {address!r}: an inproc:// address (host/pid/n) names a scheduler "
                               "inside one process, reachable only from that process (pass its client: "
                               "sweep(client=...)); a scheduler elsewhere listens on tcp:// or tls://")
        return None
    try:
        host, port = parse_host_port(loc)
    except ValueError as exc:
        raise ClusterError(f"scheduler address {address!r} is not host:port ({exc})") from None
    if not 0 < int(port) < 65536:
        raise ClusterError(f"scheduler address {address!r}: port {port} is outside 1..65535")
    if not insecure and not _is_loopback(host):
        raise ClusterError(
            f"refusing to reach {address} in clear text: a cluster shared with others is not reached unencrypted. "
            f"Use tls://{loc} with certificates in the Dask config (distributed.comm.tls.*), or pass "
            "insecure=True (--insecure) if this network is yours alone")
    return None


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_arguments(client=None, scheduler=None, *, cluster=None, n_workers=None, threads=None,
                    insecure: bool = False) -> None:
    """Everything :func:`connect` would refuse, checked before anything is started or written."""
    if cluster not in (None, "local", "cuda"):
        raise ValueError(f"cluster must be 'local', 'cuda' or None, got {cluster!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1):
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads (Numba threads per worker) must be a positive integer, got {threads!r}")
    if client is None and cluster == "cuda":
        import importlib.util

        if importlib.util.find_spec("dask_cuda") is None:
            raise ClusterError("cluster='cuda' needs dask-cuda: pip install dask-cuda (one worker per GPU)")
    if client is not None or cluster is not None:
        return
    address = scheduler_address(scheduler)
    if address is None:
        return
    if not isinstance(address, str):
        raise TypeError(f"scheduler must be an address string such as 'tcp://127.0.0.1:8786', got {address!r}")
    try:
        security_for(address, insecure)
    except ImportError:
        raise ClusterError("sweeps run on Dask: pip install 'dask[distributed]' (or 'newtonkit[dist]')") from None


#: a local cluster takes at most this many worker processes per core
MAX_WORKERS_PER_CORE = 4


def local_cluster(n_workers: int | None = None, threads: int | None = None, *, env: dict | None = None,
                  cuda: bool = False):
    """Start a LocalCluster (or LocalCUDACluster) sized to this machine; see the module docstring."""
    check_arguments(n_workers=n_workers, threads=threads, cluster="cuda" if cuda else "local")
    cores = machine_cores()
    if n_workers is not None and n_workers > MAX_WORKERS_PER_CORE * cores:
        raise ValueError(f"n_workers={n_workers} local worker processes on {cores} cores: at most "
                         f"{MAX_WORKERS_PER_CORE * cores} (each is a Python process with its own memory; more only "
                         "wait for the same cores); use a scheduler address for more workers")
    if n_workers is None:
        n_workers = max(1, cores // (threads or 1))
    # the thread count configured in the one place (NEWTONKIT_NUM_THREADS, set_num_threads, newtonkit --threads)
    # is split between the workers; without one, the cores are
    from .._config import configured_threads

    total = min(configured_threads() or cores, cores)
    threads = threads or max(1, total // n_workers)
    wenv = {"NEWTONKIT_NUM_THREADS": str(threads), **{k: "1" for k in _ONE_THREAD}, **(env or {})}
    with _no_queue_on_workers():
        return _start_local(n_workers, wenv, cuda)


@contextlib.contextmanager
def _no_queue_on_workers():
    """The scheduler of a sweep's own cluster hands a worker a task only when it has a free thread
    (``distributed.scheduler.worker-saturation`` 1.0, read when the scheduler starts). Dask's default 1.1 rounds
    up to two tasks per single-threaded worker, and when a task kills its worker (a segfault, ``os._exit``, the
    OOM killer) the task queued behind it is counted as suspicious too: after ``allowed-failures`` deaths an
    innocent task was stored as failed with ``KilledWorker``, beside the one that crashed. A saturation the user
    configured below 1.0 is kept."""
    import dask
    import distributed  # noqa: F401 - its defaults first: leaving the set() below must not remove them

    sat = dask.config.get("distributed.scheduler.worker-saturation", 1.1)
    try:
        keep = float(sat) <= 1.0
    except (TypeError, ValueError):
        keep = False
    if keep:
        yield
        return
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}):
        yield


def _start_local(n_workers, wenv, cuda):
    if cuda:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise ClusterError("cluster='cuda' needs dask-cuda: pip install dask-cuda (one worker per GPU)") from None
        try:      # LocalCUDACluster passes these on to LocalCluster
            return LocalCUDACluster(dashboard_address=None, silence_logs=logging.WARNING, env=wenv, **_QUIET)
        except TypeError:   # a dask-cuda that sets one of them itself: its own settings (not run here: no GPU)
            return LocalCUDACluster(dashboard_address=None, silence_logs=logging.WARNING, env=wenv)
    from distributed import LocalCluster

    try:
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.WARNING, env=wenv, **_QUIET)
    except BaseException:
        _forget_half_built()
        raise


def _forget_half_built() -> None:
    """A cluster interrupted while it starts (Ctrl-C, SIGTERM) stays registered with Dask with workers in state
    ``init``, and Dask's exit hook then closes it with a 27-line ``AssertionError: Status.init`` traceback after
    "newtonkit: interrupted" (helper-98); its processes end with this one, so the hook may skip it."""
    try:
        from distributed.core import Status
        from distributed.deploy.spec import SpecCluster
    except Exception:   # noqa: BLE001 - another Dask layout: the hook runs as before
        return
    for c in list(getattr(SpecCluster, "_instances", ())):
        if getattr(c, "status", None) != Status.closed:
            c.shutdown_on_close = False


#: each worker ignores SIGINT (Ctrl-C reaches the whole process group; the driver handles it and closes the
#: cluster): no KeyboardInterrupt traceback per worker, and the driver's own handler stays in place throughout.
#: The scheduler's HTTP server (health and metrics routes; no dashboard) takes a free port, not Dask's default
#: 8787: two sweeps on one machine do not warn "Port 8787 is already in use"
_QUIET = {"scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
          "preload": ["solvers.sweep._worker_setup"]}


def probe(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast when nothing can answer at ``address`` (``tcp``, ``tls``, ``ws``, ``wss``): an unknown
    host, a refused connection or no answer within ``timeout_s`` raise :class:`ClusterError` at once,
    where Dask's client would retry for its whole connect timeout and then say only "Timed out"."""
    from distributed.comm import parse_address, parse_host_port

    scheme, loc = parse_address(address)
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return
    try:
        host, port = parse_host_port(loc)
    except ValueError as exc:
        raise ClusterError(f"scheduler address {address!r} is not host:port ({exc})") from None
    try:
        first = _connect_first(scheme, host.strip("[]"), int(port), timeout_s)
    except socket.gaierror as exc:
        raise ClusterError(f"scheduler address {address!r}: host {host!r} is not known ({exc})") from None
    except ConnectionRefusedError:
        raise ClusterError(f"no Dask scheduler at {address}: the connection was refused (nothing listens on port "
                           f"{port} of {host}); start one (dask scheduler) or check the address") from None
    except (socket.timeout, TimeoutError):
        raise ClusterError(f"no Dask scheduler at {address}: no answer within {timeout_s:g} s") from None
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    # a Dask scheduler speaks first: its handshake, a frame whose 8-byte length header is small.
    # Something else on the port (a web server) stays silent, which Dask waits for without end,
    # or sends bytes that Dask takes for a frame length of exabytes (a MemoryError).
    if first is not None and (len(first) < 8 or not 0 < struct.unpack("<Q", first)[0] < 2**26):
        what = ("sent nothing within {:g} s".format(timeout_s) if not first
                else f"answered {first!r}, not a Dask handshake")
        raise ClusterError(f"{address} is not a Dask scheduler: it accepted the connection but {what}; "
                           "check the address and port (the scheduler's default is 8786)")


#: seconds a refused connection is retried: a scheduler started just before the sweep (``dask scheduler &``
#: in a job script) listens after about half a second; nothing listening is still reported within seconds
REFUSED_RETRY_S = 3.0


def _connect_first(scheme: str, host: str, port: int, timeout_s: float):
    """Connect (retrying a refused connection for :data:`REFUSED_RETRY_S`) and read the first 8 bytes (tcp)."""
    import time

    deadline = time.monotonic() + REFUSED_RETRY_S
    while True:
        try:
            with socket.create_connection((host, port), timeout=timeout_s) as sock:
                return _first_bytes(sock, 8) if scheme == "tcp" else None
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _first_bytes(sock, n: int) -> bytes:
    data = b""
    try:
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        pass
    return data


@contextlib.contextmanager
def connect(client=None, scheduler: str | None = None, *, cluster: str | None = None, n_workers: int | None = None,
            threads: int | None = None, insecure: bool = False, env: dict | None = None):
    """Yield a :class:`distributed.Client`: ``client`` as given, one attached to a scheduler, or one on a
    cluster started here (closed on exit)."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("sweeps run on Dask: pip install 'dask[distributed]' (or 'newtonkit[dist]')") from None
    check_arguments(client, scheduler, cluster=cluster, n_workers=n_workers, threads=threads, insecure=insecure)
    if client is not None:
        yield client
        return
    address = None if cluster is not None else scheduler_address(scheduler)
    if address is not None:
        sec = security_for(address, insecure)
        probe(address)
        quiet = _ReconnectNoise()
        log = logging.getLogger("distributed.client")
        log.addFilter(quiet)
        try:
            with Client(address, security=sec, timeout="20s") as c:
                yield c
        finally:
            log.removeFilter(quiet)
        return
    lc = local_cluster(n_workers, threads, env=env, cuda=cluster == "cuda")
    try:
        with Client(lc) as c:
            yield c
    finally:
        lc.close()


__all__ = ["connect", "probe", "check_arguments", "local_cluster", "security_for", "scheduler_address", "machine_cores",
           "ClusterError", "ClusterLostError", "connection_lost"]
