"""Dask worker preload of a local sweep cluster: the worker process ignores SIGINT.

A terminal's Ctrl-C reaches the whole process group, the workers included; the driver (``newtonkit sweep``)
handles it and shuts the cluster down, so the workers need not: ignoring it spares a KeyboardInterrupt
traceback per worker. Loaded through ``LocalCluster(preload=[__name__])`` (Dask runs ``dask_setup`` in each
worker at start-up, on its main thread)."""
import signal
import threading


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook signature
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
