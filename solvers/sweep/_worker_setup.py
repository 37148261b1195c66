"""Dask worker preload of a local sweep cluster: the worker process ignores SIGINT.

A terminal's Ctrl-C reaches the whole process group, the workers included; the driver (``newtonkit sweep``)
handles it and shuts the cluster down, so the workers need not: ignoring it spares a KeyboardInterrupt
traceback per worker. Loaded through ``LocalCluster(preload=[__name__])`` (Dask runs ``dask_setup`` in each
worker at start-up, on its main thread).

The same shutdown closes a worker while it runs a task; Dask logs that as a warning ("Async instruction for
<Task ...> ended with CancelledError", which its source says happens exactly in ``Worker.close()``). After an
interrupt it is expected, so that one message is dropped; every other warning of the worker still shows.
Likewise a heartbeat in flight while the driver closes the scheduler logs "Failed to communicate with scheduler
during heartbeat" with a traceback (seen once in a fresh-clone CI run after SIGTERM): in a local sweep cluster
the scheduler lives in the driver, so it only goes away at shutdown, and that message is dropped too."""
import logging
import signal
import threading


class _DropCancelledOnClose(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not (msg.startswith("Async instruction for") and msg.endswith("ended with CancelledError"))


class _DropHeartbeatOnClose(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to communicate with scheduler during heartbeat")


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook signature
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("distributed.worker.state_machine").addFilter(_DropCancelledOnClose())
    logging.getLogger("distributed.worker").addFilter(_DropHeartbeatOnClose())
