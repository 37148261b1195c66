"""``RunStore``: solve results, problem parameters and provenance in HDF5, safe against killed
writers, with saves that cost O(the run saved), not O(the store).

Two forms
---------
*Single file* (``RunStore("runs.h5")``, any name with a suffix such as ``.h5``): the form you
share. Its layout (``h5py``, format version 2)::

    /                        attrs: format="newtonkit-runs", format_version
    /runs/<run_id>/          attrs: complete (written last), digest, run_id, created, method,
                                    backend, converged, status, message, nit, time_s
        x                    the solution (NumPy array)
        history/<name>       per-iteration records (1-D datasets)
        stats/, options/     attrs (scalars, strings, JSON) and datasets (arrays)
        extras/              routine-specific extras (e.g. OT potentials ``f``, ``g``)
        problem/             the problem description (``problem.describe()`` or type + repr)
        provenance/          versions, backend, device, host, git commit, UTC start/end ...
        tags/                user tags
    /index                   JSON lines: one summary per run (a cache for fast listing)

*Directory* (``RunStore("runs/")``, an existing directory, or a new path without suffix): one
HDF5 file per run, ``<dir>/<run_id>.h5`` (each a format-2 store file holding one run), a marker
``newtonkit-runs.json`` (``layout_version`` 1) and an index ``index.jsonl``
(:mod:`solvers.runs._dirstore`). This is what many workers write into.

How a save works (both forms)
-----------------------------
HDF5 updates its metadata in place, and a process killed inside an ``h5py`` write can leave a
file that no longer opens. So no save ever writes into an existing file. A save writes the run
into a NEW file under a temporary name, computes the run's digest from what reads back, sets
``complete`` last, ``fsync``\\ s it (``durable=True``), links it to ``<run_id>.h5`` (``os.link``:
atomic, never replaces a file) and ``fsync``\\ s the directory; then appends one line to the
index under the advisory lock ``fcntl.flock``. The cost is O(the run): measured with
``benchmarks/store_scaling.py`` (3,000 saves of 1 MB, last-100 / first-100 median ratio).

For a single-file store the run files go to a *sidecar* directory ``runs.h5.d/`` beside the
file. Readers see the file and its sidecar as one store (the sidecar is read first, then the
file, so a concurrent compaction never hides a run). *Compaction* moves the sidecar's runs into
the file: copy the file to a temporary name, copy the run groups in (``h5py`` group copies:
bytes, attributes and digests unchanged), ``fsync``, ``os.replace`` over the file, then delete
the sidecar files now held by the file. It happens when a writable store is closed (the end of
``with RunStore(...)``; pass ``compact_on_close=False`` to defer), in :meth:`RunStore.compact`,
and inside :meth:`RunStore.merge` / :meth:`RunStore.export`. After a clean close the file alone
holds every run and can be copied and shared. Compaction costs one copy of the file, once per
session instead of once per save; a writer killed during it leaves the old file and the
sidecar (runs present in both are the same run and are shown once), and the next compaction
finishes the job.

Crash safety: a writer killed at any moment (even ``SIGKILL``) loses at most the run in
flight: earlier runs live in files that are never written again, the final name of a run
file appears only when the file is complete, and the store keeps opening. Temporary files of
dead writers (``.<name>.tmp-<host>-<pid>-<random>``) are removed by later writers. Readers take
no lock and skip incomplete runs.

Many workers: each worker writes only its own run files (:func:`write_run_file`, into
:attr:`RunStore.run_dir`, or anywhere); a single writer then indexes them
(:meth:`RunStore.index_files`, or simply lists the directory: run files the index lacks are
summarised on the fly) or merges stores. Two processes never write one HDF5 file. On a
shared file system whose locking HDF5 cannot use (some NFS/Lustre mounts), set
``HDF5_USE_FILE_LOCKING=FALSE`` in the worker's environment before ``h5py`` is imported;
nothing here sets it.

Integrity
---------
Every run carries a SHA-256 ``digest`` of everything stored for it (all datasets' bytes,
dtypes and shapes, all attributes), computed by reading the run back before it is marked
complete. :meth:`RunStore.load` recomputes it and raises :class:`DamagedRunError` naming the
run when a single byte differs; array datasets also carry HDF5's Fletcher-32 checksum. A file
that HDF5 cannot open raises :class:`DamagedStoreError` naming the file; it is never reported
as an empty store. :meth:`RunStore.verify` checks every run and :meth:`RunStore.salvage`
copies the intact runs of a damaged file into a new store.

Versions: HDF5 files keep format version 2 (versions 1 and 2 are read; a file written by
this version is read by the previous one, which ignores ``/index`` and the sidecar). The
directory layout has its own ``layout_version`` (1) in its marker.

Code layout: this module holds :class:`RunStore`'s constructor, saving, indexing, compaction,
merge, export and salvage; its reading methods (``list``, ``table``, ``run_ids``, ``resolve``,
``load``, ``verify``, ``len`` and ``in``) come from the mixin in :mod:`solvers.runs._reading`.
The file and directory mechanics are in :mod:`solvers.runs._runfile`, :mod:`solvers.runs._single`,
:mod:`solvers.runs._dirstore` and :mod:`solvers.runs._combine`.
"""
from __future__ import annotations

import atexit
import errno
import os
import warnings
import weakref
from pathlib import Path
from typing import Iterable

from ..results import SolveResult
from . import _files
from . import _runfile
from . import _combine
from . import _dirstore
from . import _single
from ._dirstore import RunDir
from ._encoding import describe_problem
from ._integrity import DamagedRunError, DamagedStoreError
from ._reading import _StoreReading
from ._runfile import StoredRun, write_run_file

FORMAT = _runfile.FORMAT
FORMAT_VERSION = _runfile.FORMAT_VERSION
_READABLE_VERSIONS = _single.READABLE_VERSIONS
def _check_paths(method: str, name: str, items) -> None:
    """``items`` must be an iterable of paths (or stores): a clear TypeError instead of 'not iterable'."""
    if isinstance(items, (bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"RunStore.{method}: {name} must be a path or a list of paths, got {type(items).__name__}")


_new_run_id = _files.new_run_id   # module attribute: tests replace it to force id collisions
_MODES = ("r", "a", "w-", "x")


def _is_directory_path(given: str, path: Path) -> bool:
    if path.is_dir():
        return True
    if path.exists():
        return False
    return given.endswith(("/", os.sep)) or path.suffix == ""


#: stores not yet closed: closed by :func:`_close_open_stores` at interpreter exit, while h5py still works
#: (a finaliser run during interpreter teardown compacted through a half-torn-down h5py and printed
#: "Failed to find converter ..." lines to stdout)
_OPEN: "weakref.WeakSet[RunStore]" = weakref.WeakSet()


@atexit.register
def _close_open_stores() -> None:
    for store in list(_OPEN):
        try:
            store.close()
        except Exception:  # noqa: BLE001 - never raise at exit; the runs stay safe in the sidecar
            pass


#: errors of the compaction at close that leave the runs in the sidecar with a warning (no space, quota)
_DEFERRABLE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
#: how often a save recreates a sidecar that another process's close removed meanwhile
SIDECAR_RETRIES = 20


class RunStore(_StoreReading):
    """A store of solver runs (one HDF5 file, or a directory of run files) that survives killed
    writers and saves in O(the run saved).

    Parameters
    ----------
    path : str or os.PathLike
        ``"runs.h5"`` (a single file, the form to share) or a directory ``"runs/"`` (an existing
        directory, or a new path without suffix: one file per run). Its parent must exist.
    mode : {"a", "r", "w-", "x"}
        ``"a"`` (default): read and add runs, create the store if missing; ``"r"``: read only,
        the store must exist; ``"w-"`` / ``"x"``: create a new store, fail if it exists.
    durable : bool
        ``fsync`` new files and their directory (default). With ``False`` a save is still
        atomic against killed processes, but not against power loss or an OS crash.
    compression : str, optional
        h5py compression filter for array datasets (e.g. ``"gzip"``); none by default.
    compact_on_close : bool
        Single-file stores: move the runs saved in the sidecar ``<file>.d/`` into the file when
        the store is closed (default). Directory stores ignore it.

    Examples
    --------
    >>> with RunStore("runs.h5") as store:                      # doctest: +SKIP
    ...     run_id = store.save(res, problem=prob, tags={"note": "baseline"})
    ...     table = store.list()
    ...     again = store.load(run_id)

    Notes
    -----
    See the module docstring for the design (a new file per run, atomic link, rebuildable
    index, compaction into the single file) and its costs. Run ids are a UTC time stamp plus a
    random suffix and are never reused: a save never overwrites a run.
    """

    def __init__(self, path, mode: str = "a", *, durable: bool = True, compression: str | None = None,
                 compact_on_close: bool = True):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES} ('a' read/append, 'r' read only, "
                             f"'w-'/'x' create new), got {mode!r}")
        given = os.fspath(path)
        if not str(given).strip():
            raise ValueError("path is empty; give a store such as 'runs.h5' or 'runs/' (an empty path would open the "
                             "current directory)")
        # a symlinked store is updated where it really lives (the link stays a link)
        self.path = Path(os.path.realpath(given))
        self.mode = mode
        self.durable = _files.flag("durable", durable)
        self.compression = _files.compression(compression) if mode != "r" else compression   # (used when writing)
        self.compact_on_close = _files.flag("compact_on_close", compact_on_close)
        self._closed = True            # until the store is open (a failed open has nothing to close)
        self._cleaned = False
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"RunStore: directory {str(self.path.parent)!r} does not exist; create it first")
        _files.check_name_length(self.path, _runfile.tmp_overhead())
        self.is_directory = _is_directory_path(given, self.path)
        if self.is_directory:
            self._dir = RunDir(self.path, self.path / ".lock", self.durable)
            _combine.open_directory(self)
        else:
            self._dir = RunDir(self.path.with_name(self.path.name + ".d"), self._lock_path, self.durable)
            _dirstore.check_sidecar_names(self.path, self._dir, self._lock_path)
            _combine.open_file(self)
        self._closed = False
        _OPEN.add(self)

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> "RunStore":
        self._check_open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the store; a writable single-file store first compacts its sidecar into the file
        (unless ``compact_on_close=False``). No file handle is held between calls."""
        if self._closed:
            return
        try:
            if self.mode != "r" and not self.is_directory and self.compact_on_close and self._dir.path.exists():
                try:
                    self.compact()
                except (OSError, RuntimeError) as exc:
                    # the file is rewritten whole: with the disk full (or quota reached; HDF5 says so in a
                    # RuntimeError) or a sidecar run file that cannot be read, the runs stay in the sidecar, where
                    # every reader lists them; nothing is lost, the rewrite waits (the saves succeeded: raising
                    # here made them look failed, and a retry stored them twice; helper-140)
                    damaged = isinstance(exc, DamagedStoreError)
                    too_big = getattr(exc, "errno", None) == errno.EFBIG or "errno = 27" in str(exc)
                    if not (damaged or too_big or getattr(exc, "errno", None) in _DEFERRABLE
                            or "errno = 28" in str(exc)):
                        raise
                    fix = ("Move the damaged run file out of the sidecar (RunStore.salvage copies what can be "
                           "read into a new store), then run" if damaged else "Raise the file-size limit "
                           "(ulimit -f), then run" if too_big else "Free space, then run")
                    warnings.warn(f"RunStore: compacting {str(self.path)!r} at close failed ({exc}); the runs are "
                                  f"stored in its sidecar {str(self._dir.path)!r} and listed from there. {fix} "
                                  "`newtonkit runs compact` (RunStore.compact())", RuntimeWarning, stacklevel=3)
                    return
                _combine.drop_empty_sidecar(self)
        finally:
            self._closed = True

    def __del__(self):
        # a safety net for ``RunStore(p).save(res)`` without close(): the runs are safe in the
        # sidecar either way, this only makes the file self-contained sooner (stores still open at
        # interpreter exit are closed by _close_open_stores, before h5py is torn down)
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser (e.g. at interpreter exit)
            pass

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r}, mode={self.mode!r})"

    @property
    def run_dir(self) -> Path:
        """Where run files of this store live: the directory itself, or the sidecar ``<file>.d/``
        of a single-file store (created on first use). Workers may :func:`write_run_file` here."""
        if self.mode != "r" and not self._dir.exists():
            self._dir.create(sidecar_of=self.path.name)
        return self._dir.path

    # -- internals ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.mode == "r":
            raise PermissionError(f"{self!r} is read only; open it with mode='a' to add runs")

    def _check_lock_writable(self) -> None:
        """A save takes the store's lock after writing its run file (to add the index line): a lock file or
        index this user cannot open (made by another user, mode 0644) raised then, after the run was stored,
        and a retry stored it twice. Refused before anything is written instead."""
        for what, f in (("lock file", self._dir.lock_path), ("index", self._dir.index_path)):
            ok = os.access(f, os.R_OK | os.W_OK) if f.exists() else (
                not f.parent.exists() or os.access(f.parent, os.W_OK | os.X_OK))
            if not ok:
                raise PermissionError(f"RunStore: cannot open the store's {what} {str(f)!r} for writing (a save "
                                      "takes the lock and adds a line to the index); ask the store's owner to make "
                                      "its lock file, index and folders group-writable (chmod -R g+w), or save to "
                                      "a store of your own and merge it later")

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> _files.Lock:
        return _files.Lock(self._dir.lock_path)

    def _taken(self, run_id: str) -> bool:
        return not self.is_directory and _single.has_run(self.path, run_id)

    def _cleanup_once(self) -> None:
        if not self._cleaned:
            _runfile.remove_stale_tmps(self._dir.path)
            self._cleaned = True

    # -- public API -----------------------------------------------------------------------------
    def save(self, result: SolveResult, problem=None, tags: dict | None = None, *, seed=None) -> str:
        """Store ``result`` (with the problem description, tags and provenance) in a new run file.

        Parameters
        ----------
        result : SolveResult
            Or an object with ``to_result()`` (a :class:`~solvers.approx.ChebTucker`), stored as that.
        problem : optional
            The problem solved; stored as ``problem.describe()`` when it has one,
            else its type and repr.
        tags : dict, optional
            User tags (str -> str / number / bool).
        seed : int, optional
            Random seed, recorded in the provenance (default: ``result.options['seed']`` if any).

        Returns
        -------
        str
            The new, unique run id.

        Notes
        -----
        Costs O(the run): nothing already stored is copied. Values that cannot be stored exactly (a
        ``set``, ``bytes``, an object: stored as their repr; tuples inside lists and non-string dict
        keys: changed by JSON; the mask of a masked ``x``) are stored in that form and named in a
        ``RuntimeWarning`` ("stored inexactly") after the save; a history of Python objects (a None
        among numbers) is refused. Saving a :class:`StoredRun` (a run loaded from a store) keeps its
        original provenance, problem description and tags (``tags`` are added); use :meth:`merge` to
        copy whole stores.
        """
        self._check_writable()
        self._check_lock_writable()
        payload = _runfile.Payload(result, problem, tags, seed)   # bad input is refused before any file
        for attempt in range(SIDECAR_RETRIES):
            try:
                run_dir = self.run_dir
                self._cleanup_once()
                s = _runfile.write_payload(payload, run_dir, durable=self.durable, compression=self.compression,
                                           taken=self._taken, directory=True)
                break
            except OSError as exc:
                # another process closing this single-file store removed the empty sidecar between its
                # creation and this writer's first file there (another writer may have made it again since):
                # make it again. A directory store's own directory is never removed, so its errors are real
                vanished = isinstance(exc, FileNotFoundError) or not self._dir.path.is_dir()
                if self.is_directory or attempt == SIDECAR_RETRIES - 1 or not vanished:
                    raise
        file = Path(s.pop("file"))
        line = {"file": file.name, "runs": [s], "stamp": _dirstore.file_stamp(run_dir / file.name)}
        for attempt in range(SIDECAR_RETRIES):
            try:
                self._dir.append([line])
                break
            except PermissionError as exc:  # the run file is stored; the index is only a cache (rebuilt when listed)
                warnings.warn(f"RunStore: run {s['run_id']} is stored, but its index line could not be added "
                              f"({exc}); listing finds it from its file", RuntimeWarning, stacklevel=2)
                break
            except FileNotFoundError:
                # another process compacted meanwhile: it moved this run into the file and removed the
                # emptied sidecar (index included; another writer may have made a new one since). The run
                # is stored either way: in the file, or still in its run file (the index is only a cache:
                # a run file without a line is summarised from the file)
                if self._taken(s["run_id"]):
                    break
                if not (run_dir / file.name).exists():
                    raise
                if attempt == SIDECAR_RETRIES - 1:
                    break
        for note in payload.notes:      # stored: now say what will not load back as it was
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        return s["run_id"]

    def index_files(self, paths: Iterable, *, move: bool = False, summaries=None) -> list[str]:
        """Add run files written by workers (:func:`write_run_file`) or other store files.

        Files already in :attr:`run_dir` are indexed where they are; others are copied there
        (renamed with ``move=True``, which falls back to a copy across file systems). Files whose
        runs the store already holds are skipped; a single-file store takes them in at its next
        compaction.

        ``summaries`` (optional, aligned with ``paths``): the rows :func:`write_run_file` returned for
        the files, ``None`` where unknown. A file already in :attr:`run_dir` with a row is indexed
        from the row without being opened (a sweep's client indexes thousands of worker files; the
        index is a cache that listing checks against the files, so a wrong row costs no run).

        Returns
        -------
        list of str
            The ids of the runs added.
        """
        self._check_writable()
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        _check_paths("index_files", "paths", paths)
        paths = [Path(os.path.abspath(os.fspath(p))) for p in paths]
        rows = [None] * len(paths) if summaries is None else list(summaries)
        if len(rows) != len(paths):
            raise ValueError(f"RunStore.index_files: {len(rows)} summaries for {len(paths)} paths; pass one per "
                             "path (None where unknown)")
        run_dir = self.run_dir
        for p, row in zip(paths, rows):
            if p.is_dir():
                raise IsADirectoryError(f"RunStore.index_files: {str(p)!r} is a directory; give its run files "
                                        "(or merge the directory store with RunStore.merge)")
            if not p.is_file():
                raise FileNotFoundError(f"RunStore.index_files: {str(p)!r} does not exist")
            if row is None or p.parent != run_dir:
                _single.check_format(p)
        return _combine.adopt_files(self, paths, move, rows)

    def reindex(self) -> int:
        """Rebuild the index of the run files from the files alone (after it was lost or damaged;
        listing repairs it too). Returns the number of runs indexed."""
        self._check_writable()
        if not self._dir.exists():
            return 0
        return sum(len(e.get("runs", ())) for e in self._dir.reindex())

    # -- compaction, merge, export, salvage -----------------------------------------------------
    def compact(self) -> list[str]:
        """Single file: move the runs of the sidecar ``<file>.d/`` into the file (one atomic
        rewrite), then delete the sidecar files it now holds; directory: rewrite the index.
        Returns the ids moved. Stored runs are copied as they are (digests unchanged)."""
        return self._combine([])

    def merge(self, sources: Iterable) -> list[str]:
        """Copy the completed runs of other stores (files or directories) into this one.

        This is how results of many workers come together: each worker writes its own store
        (or run files), a single process merges them. Runs whose id is already present are
        skipped (ids are unique, so they are the same run), never overwritten. A single-file
        store is compacted in the same atomic rewrite; a directory store gets one new run file
        per run added.

        Parameters
        ----------
        sources : iterable of paths (or RunStore objects)

        Returns
        -------
        list of str
            The ids of the runs added.
        """
        if isinstance(sources, (str, os.PathLike, RunStore)):
            sources = [sources]
        _check_paths("merge", "sources", sources)
        stores = []
        for s in sources:
            p = s.path if isinstance(s, RunStore) else Path(os.path.realpath(os.fspath(s)))
            if not p.exists():
                raise FileNotFoundError(f"RunStore.merge: {str(p)!r} does not exist")
            if p == self.path:
                raise ValueError("RunStore.merge: a store cannot be merged into itself")
            stores.append(RunStore(p, mode="r"))   # format, version and readability checked first
        return self._combine(stores)

    def export(self, destination) -> list[str]:
        """Write every run of this store into a NEW single-file store ``destination`` (the form to
        share); returns the ids written. This store is not changed."""
        with RunStore(destination, mode="w-", durable=self.durable) as out:
            return out.merge([self])

    def _combine(self, stores: list) -> list[str]:
        self._check_writable()
        with self._lock():
            if self.is_directory:
                return self._combine_into_directory(stores)
            return self._combine_into_file(stores)

    def _combine_into_directory(self, stores: list) -> list[str]:
        return _combine.into_directory(self, stores)

    def _combine_into_file(self, stores: list) -> list[str]:
        return _combine.into_file(self, stores)

    @staticmethod
    def salvage(source, destination) -> dict:
        """Copy every run of ``source`` that can still be read and matches its digest into a new
        store ``destination``; return ``{"copied": [...], "damaged": {run_id: reason}}``.

        Works on stores whose index is partly damaged: each run is tried on its own; a truncated
        single file may lose them all (:func:`solvers.runs._combine.salvage`). ``source`` may be a
        store file (with its sidecar) or a directory of run files.
        """
        return _combine.salvage(RunStore, source, destination)

__all__ = ["RunStore", "StoredRun", "describe_problem", "write_run_file", "DamagedStoreError", "DamagedRunError"]
