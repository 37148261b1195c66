"""The store a sweep writes: a :class:`solvers.RunStore` (a directory ``runs/``, or a single file
``runs.h5`` with its sidecar ``runs.h5.d/``) that one client indexes while workers add run files.

* Workers write each run into a new file of its own in :attr:`RunStore.run_dir`
  (:func:`solvers.runs.write_run_file`: temporary name, atomic link, never overwrites).
* The client is the only writer of the index: it indexes the files the workers report
  (:meth:`RunStore.index_files`, in batches).
* Resume: the runs already stored are found by the task key in their tags
  (``sweep_key``), from :meth:`RunStore.list`, which also discovers run files that no
  index line lists yet (a client killed between a worker's write and its own index
  append loses nothing). When a key has several runs (a rerun of a failed task; a
  worker killed between writing its file and reporting it, which makes Dask run the
  task again; or a client killed while attached to a running cluster, whose workers
  finish the tasks already started while the resumed sweep submits them again), all
  are complete runs and the latest one stands for the task.
* One sweep writes a store at a time: the client holds an advisory lock
  (``<dir>/.sweep.lock`` or ``<file>.sweep.lock``), released by the kernel when it dies.

To get one shareable HDF5 file from a directory store: ``newtonkit runs merge all.h5 runs/``
(:meth:`solvers.RunStore.merge`); a single-file store compacts its sidecar into the file when
the sweep closes it.
"""
from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock
    fcntl = None


class StoreBusyError(RuntimeError):
    """Another sweep holds the store's lock."""


class SweepStore:
    """The client's side of a sweep's :class:`~solvers.RunStore` (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A directory (``"runs/"``; created when missing, in a folder that must exist: a mistyped path
        does not create a tree of folders) or a file name with a
        suffix (``"runs.h5"``), as :class:`solvers.RunStore` takes them.
    durable : bool
        ``fsync`` the index appends (the run files are ``fsync``-ed by their writers).
    """

    def __init__(self, path, *, durable: bool = True):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"store must be a path (a directory 'runs/' or a file 'runs.h5'), got "
                            f"{type(path).__name__}")
        self.given = os.fspath(path)
        if not self.given.strip():               # (abspath('') is the current directory, helper-98)
            raise ValueError("store must be a path (a directory 'runs/' or a file 'runs.h5'), got an empty string")
        if not isinstance(durable, bool):        # durable="no" acted as True (RunStore refuses it)
            raise TypeError(f"durable must be True or False, got {durable!r}")
        self.path = Path(os.path.abspath(self.given))
        self.durable = bool(durable)
        self.runs = None
        self._lock_fd = None

    @property
    def lock_path(self) -> Path:
        if self.path.is_dir():
            return self.path / ".sweep.lock"
        return self.path.with_name(self.path.name + ".sweep.lock")

    # -- open / close ----------------------------------------------------------------------------
    def acquire(self) -> "SweepStore":
        """Open (create) the run store and take the sweep lock."""
        from ..runs.store import RunStore

        suffix = Path(self.given.rstrip("/" + os.sep)).suffix
        directory = not suffix or self.given.endswith(("/", os.sep))
        parent = self.path.parent
        if not parent.is_dir():      # as RunStore does for a file: the folder it goes in must exist
            raise FileNotFoundError(f"store {self.given!r}: the folder {str(parent)!r} does not exist; create it "
                                    "first (a mistyped path would otherwise create a tree of folders)")
        if directory:
            if self.path.exists() and not self.path.is_dir():
                raise FileExistsError(f"store {self.given!r} names an existing file, not a directory store; give a "
                                      "new directory name (ending in '/') or an .h5 file name")
            self.path.mkdir(exist_ok=True)
        made = not self.lock_path.exists()
        if fcntl is not None:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusyError(f"another sweep is writing to {str(self.path)!r} (it holds "
                                     f"{self.lock_path.name}); wait for it to finish or use another store") from None
            self._lock_fd = fd
        try:
            self.runs = RunStore(self.path if self.path.is_dir() else self.given, durable=self.durable)
        except BaseException:
            if made:        # a refused store keeps no lock file of ours (one was left in a plain folder: helper-160)
                try:
                    self.lock_path.unlink()
                except OSError:
                    pass
            self.release()
            raise
        return self

    def release(self) -> None:
        """Close the run store (a single-file store compacts its sidecar) and drop the lock."""
        try:
            if self.runs is not None:
                self.runs.close()
                self.runs = None
        finally:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    # -- what the client does --------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        """Where the workers write their run files."""
        return self.runs.run_dir

    def stored(self) -> dict[str, dict]:
        """``{task key: summary}`` of the runs in the store that sweeps wrote (latest run per key)."""
        from ._worker import from_stored

        out = {}
        for row in self.runs.list():        # oldest first: a later run of a key replaces an earlier one
            s = from_stored(row)
            if s is not None:
                out[s["key"]] = s
        return out

    def index(self, rows) -> None:
        """Index the run files of ``rows`` (summaries returned by the workers).

        A worker reports the path it wrote; on another host the same file may be mounted
        elsewhere, so a path the client cannot see is looked up by name in :attr:`run_dir`.
        A file the client cannot find at all is left out with a warning (the workers write
        where the client cannot read: use a file system both see)."""
        files, runs, missing = [], [], []
        for r in rows:
            if not r.get("file"):
                continue
            p = Path(r["file"])
            if not p.is_file():
                p = self.run_dir / p.name
            if p.is_file():
                files.append(p)
                runs.append(r.get("run"))
            else:
                missing.append(p)
        if missing:
            import warnings

            warnings.warn(f"sweep: {len(missing)} run files reported by workers are not visible here (e.g. "
                          f"{str(missing[0])!r}); the workers must write to a file system the client sees "
                          f"({str(self.run_dir)!r})", RuntimeWarning, stacklevel=3)
        if files:
            self.runs.index_files(files, summaries=runs)


__all__ = ["SweepStore", "StoreBusyError"]
