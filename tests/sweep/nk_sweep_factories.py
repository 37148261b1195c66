"""Problem factories for the sweep tests, imported by dotted path on the Dask workers
(``nk_sweep_factories:slow_ot``; this directory is on the workers' ``sys.path``)."""
import time

from problems import ot, pde


def slow_ot(n, eps, seed, delay=0.0):
    """``random_point_clouds`` after ``delay`` seconds (gives a test time to kill a process mid-sweep)."""
    time.sleep(delay)
    return ot.random_point_clouds(n, eps, seed=seed)


def poisson(n):
    """Unit-square Poisson ``-lap u = 1``, ``u = 0`` on the boundary, ``n x n`` interior points."""
    return pde.Poisson((n, n))



def crash(n):
    """Kills the worker process that builds the problem (SIGKILL): a task no worker survives."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def sleepy_poisson(n, seconds):
    """:func:`poisson` after ``seconds`` of sleep: a run that outlives a sweep's ``task_timeout``."""
    time.sleep(seconds)
    return pde.Poisson((n, n))
