"""Sweeps: many independent solves on Dask distributed, each run stored in its own HDF5 file.

::

    import solvers
    from solvers.sweep import Task

    table = solvers.sweep("examples/sweep_ot_eps.toml", store="runs/")            # a TOML spec
    table = solvers.sweep([Task("problems.ot:random_point_clouds", {"n": 200, "eps": 1e-2}, seed=s,
                                method="sns") for s in range(10)], store="runs/")
    table.to_frame()                                                         # pandas, if installed

or from the shell: ``newtonkit sweep SPEC.toml --store runs/ [--scheduler tls://host:8786]``.

Pieces (this package writes no scheduler; Dask does the scheduling):

* :mod:`._tasks` -- :class:`Task` (a description: factory path, params, seed, method,
  options, backend) with a deterministic key; spec files (TOML) expanded into tasks;
* :mod:`._worker` -- what a worker does with a task: import the factory, build the
  problem, :func:`solvers.solve`, write the run to its own file atomically
  (:func:`solvers.runs.write_run_file`);
* :mod:`._store` -- the :class:`solvers.RunStore` the client indexes (single writer) and resume;
* :mod:`._cluster` -- LocalCluster / LocalCUDACluster / a running scheduler, and the
  rule that a shared cluster is not reached in clear text;
* :mod:`._driver` -- :func:`sweep`.

Dask (``dask[distributed]``) is imported when a sweep runs, never by ``import solvers``.
The package ``solvers.sweep`` is also callable: ``solvers.sweep(...)`` calls :func:`sweep`
whether the name resolves to the function or to this module.
"""
from __future__ import annotations

import sys
import types

from ._cluster import ClusterError, ClusterLostError, connect, local_cluster, scheduler_address, security_for
from ._driver import SweepTable, sweep
from ._store import StoreBusyError, SweepStore
from ._tasks import Task, load_spec, resolve_factory, tasks_from_spec
from ._worker import run_task


class _CallableModule(types.ModuleType):
    """Importing ``solvers.sweep`` makes the package the attribute ``solvers.sweep``; calling it runs a sweep."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["sweep", "Task", "SweepTable", "SweepStore", "load_spec", "tasks_from_spec", "resolve_factory",
           "run_task", "connect", "local_cluster", "security_for",
           "scheduler_address", "ClusterError", "ClusterLostError", "StoreBusyError"]
