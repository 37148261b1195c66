"""Stored runs: :class:`RunStore` (HDF5, crash-safe, O(run) saves), the worker primitive
:func:`write_run_file`, and provenance.

Importing this package loads h5py; ``import solvers`` does not (``solvers.RunStore``
is resolved lazily).
"""
from ._single import StoreInUseError
from .provenance import collect as collect_provenance
from .store import DamagedRunError, DamagedStoreError, RunStore, StoredRun, describe_problem, write_run_file

__all__ = ["RunStore", "StoredRun", "describe_problem", "collect_provenance", "DamagedStoreError",
           "DamagedRunError", "StoreInUseError", "write_run_file"]
