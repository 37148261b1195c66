"""``RunStore``: solve results, problem parameters and provenance in one HDF5 file.

Layout of the file (``h5py``)::

    /                        attrs: format="newtonkit-runs", format_version
    /runs/<run_id>/          attrs: complete (written last), run_id, created, method, backend,
                                    converged, status, message, nit, time_s
        x                    the solution (NumPy array)
        history/<name>       per-iteration records (1-D datasets)
        stats/, options/     attrs (scalars, strings, JSON) and datasets (arrays)
        extras/              routine-specific extras (e.g. OT potentials ``f``, ``g``)
        problem/             the problem description (``problem.describe()`` or type + repr)
        provenance/          versions, backend, device, host, git commit, UTC start/end ...
        tags/                user tags

Crash safety
------------
HDF5 updates its metadata (superblock, B-trees, heaps) in place; a process
killed in the middle of an ``h5py`` write can leave a file that no longer
opens at all. ``RunStore`` therefore never writes into the store file. Every
change (``save``, ``merge``, creating the store) is made on a copy:

1. take an advisory lock on the sibling ``<file>.lock`` (``fcntl.flock``), so
   concurrent writers on one machine queue instead of racing;
2. copy the store to a temporary sibling ``.<file>.tmp-<pid>-<random>``, add
   the run there, set its ``complete`` attribute last, flush and close;
3. ``fsync`` the temporary file and ``os.replace`` it over the store (atomic on
   POSIX), then ``fsync`` the directory.

A writer killed at any point (even with ``SIGKILL``) leaves the previous store
untouched: it loses the run in flight, never earlier runs, and the file keeps
opening. Leftover temporary files of killed writers are removed by the next
writer (under the lock, any temporary file belongs to a dead writer). Readers
need no lock: they always see a complete earlier or later version of the
file. Readers also skip run groups that lack the ``complete`` flag (files
written by other tools, or by hand).

Integrity
---------
Every run carries a SHA-256 ``digest`` of everything stored for it (all datasets'
bytes, dtypes and shapes, all attributes), computed by reading the run back from
the temporary file before it is marked complete. :meth:`RunStore.load` recomputes it
and raises :class:`DamagedRunError` naming the run when a single byte differs;
array datasets also carry HDF5's Fletcher-32 checksum. A file that HDF5 cannot open
(damaged superblock, truncated) raises :class:`DamagedStoreError` naming the file;
it is never reported as an empty store. :meth:`RunStore.verify` checks every run and
:meth:`RunStore.salvage` copies the intact runs of a damaged file into a new store.

Trade-off: each save copies the store, so a save costs O(file size) of
sequential I/O (the copy uses the kernel's ``copy_file_range``/``sendfile``;
about 0.1 s per 100 MB from the page cache, more with ``fsync`` to a slow
disk). That is negligible for the sizes newtonkit stores (solutions up to a
few tens of MB per run); for very large sweeps, let each worker write its own
store and combine them with :meth:`RunStore.merge` (one copy for many runs), or
pass ``durable=False`` to skip the ``fsync`` calls (still safe against killed
processes, not against power loss).
"""
from __future__ import annotations

import difflib
import math
import numbers
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from ..results import SolveResult
from . import _files
from . import _integrity
from . import provenance as _provenance
from ._integrity import DamagedRunError, DamagedStoreError
from ._encoding import decode as _decode
from ._encoding import describe_problem
from ._encoding import get_mapping as _get_mapping
from ._encoding import put_mapping as _put_mapping
from ._encoding import put_text as _put_text
from ._encoding import to_host as _to_host

FORMAT = "newtonkit-runs"
FORMAT_VERSION = 2          # 2: per-run digests, Fletcher-32 on arrays, exact key round trip
_READABLE_VERSIONS = (1, 2)
_new_run_id = _files.new_run_id   # module attribute: tests replace it to force id collisions
_MODES = ("r", "a", "w-", "x")
class StoredRun(SolveResult):
    """A :class:`~solvers.SolveResult` loaded from a :class:`RunStore`.

    Besides the result fields (``x`` as a NumPy array, ``history``, ``stats``,
    ``options``, ``extras``) it carries ``run_id``, ``created`` (ISO UTC),
    ``tags``, ``problem`` (the stored problem description) and ``provenance``.
    """

    def __init__(self, x, converged, status, message, nit, *, run_id: str, created: str, tags: dict,
                 problem: dict, provenance: dict, **kwargs):
        super().__init__(x, converged, status, message, nit, **kwargs)
        self.run_id = run_id
        self.created = created
        self.tags = tags
        self.problem = problem
        self.provenance = provenance

    def __repr__(self) -> str:
        return f"StoredRun(run_id={self.run_id!r}, " + super().__repr__()[len("SolveResult("):]


# ---------------------------------------------------------------------------------------------
# the store
# ---------------------------------------------------------------------------------------------

class RunStore:
    """An HDF5 file of solver runs that survives killed writers.

    Parameters
    ----------
    path : str or os.PathLike
        The store file, e.g. ``"runs.h5"``. Its directory must exist.
    mode : {"a", "r", "w-", "x"}
        ``"a"`` (default): read and add runs, create the file if missing;
        ``"r"``: read only, the file must exist; ``"w-"`` / ``"x"``: create a
        new store, fail if the file exists.
    durable : bool
        ``fsync`` the new file and the directory on every save (default). With
        ``False`` a save is still atomic against killed processes, but not
        against power loss or an OS crash.
    compression : str, optional
        h5py compression filter for array datasets (e.g. ``"gzip"``); none by default.

    Examples
    --------
    >>> with RunStore("runs.h5") as store:                      # doctest: +SKIP
    ...     run_id = store.save(res, problem=prob, tags={"note": "baseline"})
    ...     table = store.list()
    ...     again = store.load(run_id)

    Notes
    -----
    See the module docstring for the crash-safety design (copy, write, flag,
    fsync, atomic rename) and its cost. Run ids are a UTC time stamp plus a
    random suffix and are never reused: a save never overwrites a run.
    """

    def __init__(self, path, mode: str = "a", *, durable: bool = True, compression: str | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES} ('a' read/append, 'r' read only, "
                             f"'w-'/'x' create new), got {mode!r}")
        # a symlinked store is updated where it really lives (the link stays a link)
        self.path = Path(os.path.realpath(os.fspath(path)))
        self.mode = mode
        self.durable = bool(durable)
        self.compression = compression
        self._closed = False
        if self.path.is_dir():
            raise IsADirectoryError(f"RunStore path {str(self.path)!r} is a directory; give a file name such as "
                                    f"{str(self.path / 'runs.h5')!r}")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"RunStore: directory {str(self.path.parent)!r} does not exist; create it first")
        exists = self.path.exists()
        if mode == "r" and not exists:
            raise FileNotFoundError(f"RunStore: {str(self.path)!r} does not exist (mode 'r' reads an existing store)")
        if mode in ("w-", "x") and exists:
            raise FileExistsError(f"RunStore: {str(self.path)!r} exists; mode {mode!r} creates a new store "
                                  "(use mode='a' to add runs to it)")
        if exists:
            self._check_format()
        elif mode != "r":
            self._modify(lambda f: None, create=True)

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self) -> "RunStore":
        self._check_open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Mark the store closed (no file handle is held between calls)."""
        self._closed = True

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r}, mode={self.mode!r})"

    # -- internals ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    def _damaged(self, exc) -> DamagedStoreError:
        return DamagedStoreError(
            f"RunStore: {str(self.path)!r} is damaged and cannot be read as HDF5 ({type(exc).__name__}: {exc}). "
            f"It is not empty: try RunStore.salvage({str(self.path)!r}, 'recovered.h5') to copy the runs that are "
            "still intact into a new store")

    def _check_format(self) -> None:
        size = self.path.stat().st_size
        if not h5py.is_hdf5(self.path):
            if size == 0:
                raise ValueError(f"RunStore: {str(self.path)!r} is an empty file, not a run store")
            with open(self.path, "rb") as fh:
                head = fh.read(1024)
            if b"\x89HDF\r\n\x1a\n" in head or b"newtonkit-runs" in head:
                raise self._damaged(OSError("HDF5 signature found but the superblock is unreadable"))
            raise ValueError(f"RunStore: {str(self.path)!r} is not an HDF5 file")
        try:
            with h5py.File(self.path, "r") as f:
                fmt = f.attrs.get("format")
                if fmt is not None and _decode(fmt, None) != FORMAT:
                    raise ValueError(f"RunStore: {str(self.path)!r} is an HDF5 file of format {fmt!r}, "
                                     "not a run store")
                if fmt is None and len(f.keys()) and "runs" not in f:
                    raise ValueError(f"RunStore: {str(self.path)!r} is an HDF5 file but not a newtonkit run store "
                                     f"(no /runs group; it holds {sorted(f.keys())[:5]})")
                ver = f.attrs.get("format_version")
                if ver is not None:
                    try:
                        ver = int(ver)
                    except (TypeError, ValueError):
                        ver = repr(ver)
                    if ver not in _READABLE_VERSIONS:
                        raise ValueError(f"RunStore: {str(self.path)!r} has format_version {ver}; this newtonkit "
                                         f"reads versions {_READABLE_VERSIONS}. Upgrade newtonkit to read it")
        except OSError as exc:
            raise self._damaged(exc) from exc

    def _open_read(self):
        self._check_open()
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise self._damaged(exc) from exc

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _tmp_prefix(self) -> str:
        return f".{self.path.name}.tmp-"

    def _modify(self, write, *, create: bool = False):
        """Apply ``write(h5file)`` to a temporary copy of the store, then atomically replace it."""
        self._check_open()
        if self.mode == "r":
            raise PermissionError(f"{self!r} is read only; open it with mode='a' to add runs")
        with _files.Lock(self._lock_path):
            for stale in self.path.parent.glob(self._tmp_prefix() + "*"):
                # under the lock, any temporary file belongs to a writer that died
                try:
                    stale.unlink()
                except OSError:
                    pass
            exists = self.path.exists()
            if create and exists:  # another process created it meanwhile
                if self.mode in ("w-", "x"):
                    raise FileExistsError(f"RunStore: {str(self.path)!r} was created by another process")
                self._check_format()
                return None
            tmp = self.path.with_name(f"{self._tmp_prefix()}{os.getpid()}-{secrets.token_hex(4)}")
            try:
                if exists:
                    shutil.copyfile(self.path, tmp)
                    shutil.copymode(self.path, tmp)  # keep the store's permission bits
                    f = h5py.File(tmp, "r+")
                else:
                    f = h5py.File(tmp, "w-")
                    f.attrs["format"] = FORMAT
                    f.attrs["format_version"] = FORMAT_VERSION
                    f.create_group("runs", track_order=True)
                try:
                    out = write(f)
                    f.flush()
                finally:
                    f.close()
                if self.durable:
                    _files.fsync_path(tmp)
                os.replace(tmp, self.path)
                if self.durable:
                    _files.fsync_path(self.path.parent, directory=True)
                return out
            except BaseException:
                try:
                    tmp.unlink()
                except OSError:
                    pass
                raise

    @staticmethod
    def _complete_ids(f) -> list[str]:
        runs = f.get("runs")
        if runs is None:
            return []
        return sorted(rid for rid, g in runs.items() if isinstance(g, h5py.Group) and bool(g.attrs.get("complete", False)))

    # -- public API -----------------------------------------------------------------------------
    def save(self, result: SolveResult, problem=None, tags: dict | None = None, *, seed=None) -> str:
        """Store ``result`` (with the problem description, tags and provenance).

        Parameters
        ----------
        result : SolveResult
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
        Saving a :class:`StoredRun` (a run loaded from a store) into another
        store keeps its original provenance, problem description and tags
        (``tags`` are added); use :meth:`merge` to copy whole files of runs.
        """
        if not isinstance(result, SolveResult):
            raise TypeError(f"RunStore.save expects a SolveResult, got {type(result).__name__}")
        tags = _integrity.check_tags(tags)
        # Everything is converted before the store is touched, so a bad value fails early.
        time_s = result.stats.get("time_s")
        time_s = float(time_s) if isinstance(time_s, (numbers.Real, np.floating)) else None
        if time_s is not None and not math.isfinite(time_s):
            time_s = None
        if seed is None:
            seed = result.options.get("seed")
        if isinstance(result, StoredRun):
            # a run loaded from a store keeps the provenance of the original solve
            prov = dict(result.provenance)
            prob = describe_problem(problem) if problem is not None else dict(result.problem)
            tags = {**result.tags, **(tags or {})}
        elif result.provenance:
            # captured by the routine while it ran: stored as it is
            prov = dict(result.provenance)
            if seed is not None and "seed" not in prov:
                prov["seed"] = int(seed) if hasattr(seed, "__index__") else str(seed)
            prob = describe_problem(problem)
        else:
            # a result built by hand: the best we can do is now, and we say so
            prov = _provenance.collect(backend=result.backend, time_s=time_s, seed=seed)
            prov["captured_at_save"] = True
            prob = describe_problem(problem)
        prov["utc_saved"] = _provenance.utc_iso(time.time())
        x = _to_host(result.x)
        x = None if x is None else np.asarray(x)
        if x is not None and x.dtype == object:
            raise TypeError("RunStore.save: result.x is an object array; it cannot be stored")
        history = {k: np.asarray(_to_host(v)) for k, v in result.history.items()}
        created = prov["utc_saved"]

        def write(f):
            runs = f.require_group("runs")
            run_id = _new_run_id()
            while run_id in runs:  # pragma: no cover - 24 random bits per microsecond
                run_id = _new_run_id()
            g = runs.create_group(run_id, track_order=True)  # fails if the name exists: never overwrites
            if x is not None:
                kw = {"compression": self.compression} if (self.compression and x.size > 1) else {}
                if x.ndim > 0 and x.size > 0:
                    kw["fletcher32"] = True
                g.create_dataset("x", data=x, **kw)
            _put_mapping(g.create_group("history", track_order=True), history, compression=self.compression)
            _put_mapping(g.create_group("stats", track_order=True), result.stats)
            _put_mapping(g.create_group("options", track_order=True), result.options, compression=self.compression)
            _put_mapping(g.create_group("extras", track_order=True), result.extras, compression=self.compression,
                         skip_callables=True)
            _put_mapping(g.create_group("problem", track_order=True), prob, compression=self.compression)
            _put_mapping(g.create_group("provenance", track_order=True), prov)
            _put_mapping(g.create_group("tags", track_order=True), dict(tags or {}))
            a = g.attrs
            a["run_id"] = run_id
            a["created"] = created
            a["method"] = str(result.method)
            a["backend"] = str(result.backend)
            a["converged"] = np.bool_(result.converged)
            a["status"] = str(result.status)
            _put_text(g, "message", str(result.message))
            a["nit"] = int(result.nit)
            a["time_s"] = np.nan if time_s is None else time_s
            f.flush()
            a["digest"] = _integrity.digest_group(g)   # read back from the file: what a later load must find
            a["complete"] = np.bool_(True)  # last: marks the run complete
            return run_id

        return self._modify(write)

    def list(self) -> list[dict]:
        """One dict per completed run, oldest first: ``run_id, method, backend, converged,
        status, nit, time_s, created, tags``."""
        rows = []
        with self._open_read() as f:
            for rid in self._complete_ids(f):
                g = f["runs"][rid]
                a = g.attrs
                t = float(a.get("time_s", np.nan))
                rows.append({
                    "run_id": rid,
                    "method": _decode(a.get("method", ""), None),
                    "backend": _decode(a.get("backend", ""), None),
                    "converged": bool(a.get("converged", False)),
                    "status": _decode(a.get("status", ""), None),
                    "nit": int(a.get("nit", 0)),
                    "time_s": None if np.isnan(t) else t,
                    "created": _decode(a.get("created", ""), None),
                    "tags": _get_mapping(g["tags"]) if "tags" in g else {},
                })
        rows.sort(key=lambda r: (r["created"], r["run_id"]))
        return rows

    def run_ids(self) -> list[str]:
        """Ids of the completed runs, oldest first."""
        return [r["run_id"] for r in self.list()]

    def __len__(self) -> int:
        with self._open_read() as f:
            return len(self._complete_ids(f))

    def __contains__(self, run_id) -> bool:
        with self._open_read() as f:
            g = f.get(f"runs/{run_id}") if isinstance(run_id, str) and "/" not in run_id else None
            return isinstance(g, h5py.Group) and bool(g.attrs.get("complete", False))

    def _missing(self, run_id, known: list[str]) -> KeyError:
        if not known:
            return KeyError(f"run {run_id!r} not found: {str(self.path)!r} holds no completed runs")
        near = difflib.get_close_matches(str(run_id), known, n=3, cutoff=0.4)
        shown = near or known[-5:]
        return KeyError(f"run {run_id!r} not found in {str(self.path)!r} ({len(known)} completed runs); "
                        f"{'closest' if near else 'latest'}: {', '.join(shown)}")

    def resolve(self, key: str) -> str:
        """Run id for ``key``: an exact id, a unique prefix, or a negative index such as ``"-1"`` (latest)."""
        ids = self.run_ids()
        if key in ids:
            return key
        if isinstance(key, str) and key.startswith("-") and key[1:].isdigit():
            i = int(key)
            if i == 0:
                raise KeyError(f"run {key!r}: negative indices count from the latest run, -1 being the latest; "
                               "-0 is not a run")
            if -len(ids) <= i:
                return ids[i]
            raise self._missing(key, ids)
        matches = [r for r in ids if r.startswith(str(key))]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise KeyError(f"run id prefix {key!r} is ambiguous: {', '.join(matches[:5])}")
        raise self._missing(key, ids)

    def load(self, run_id: str) -> StoredRun:
        """Load a completed run as a :class:`StoredRun` (a ``SolveResult`` with ``run_id``,
        ``created``, ``tags``, ``problem`` and ``provenance``).

        Raises
        ------
        KeyError
            When no completed run has this id (the message lists the closest known ids).
        """
        with self._open_read() as f:
            known = self._complete_ids(f)
            if run_id not in known:
                raise self._missing(run_id, known)
            g = f["runs"][run_id]
            try:
                self._verify_run(g, run_id)
                a = g.attrs
                x = g["x"][...] if "x" in g else None
                message = _decode(g["message"][()], None) if "message" in g else _decode(a.get("message", ""), None)
                sections = {name: (_get_mapping(g[name]) if name in g else {})
                            for name in ("history", "stats", "options", "extras", "problem", "provenance", "tags")}
            except (OSError, KeyError, ValueError) as exc:
                if isinstance(exc, DamagedRunError):
                    raise
                raise DamagedRunError(f"RunStore: run {run_id!r} in {str(self.path)!r} is damaged and cannot be "
                                      f"read ({type(exc).__name__}: {exc}); RunStore.salvage copies the intact "
                                      "runs into a new store") from exc
            return StoredRun(
                x, bool(a["converged"]), _decode(a["status"], None), message, int(a["nit"]),
                history=sections["history"], stats=sections["stats"], options=sections["options"],
                method=_decode(a.get("method", ""), None), backend=_decode(a.get("backend", ""), None),
                run_id=run_id, created=_decode(a.get("created", ""), None), tags=sections["tags"],
                problem=sections["problem"], provenance=sections["provenance"], **sections["extras"])

    def _verify_run(self, g, run_id: str) -> None:
        _integrity.verify_group(g, run_id, self.path)

    def verify(self) -> dict:
        """Check every completed run against its digest: ``{run_id: "ok" | "damaged: <reason>" |
        "unverified (format 1)"}``. Raises :class:`DamagedStoreError` when the file itself is unreadable."""
        out = {}
        with self._open_read() as f:
            for rid in self._complete_ids(f):
                g = f["runs"][rid]
                if g.attrs.get("digest") is None:
                    out[rid] = "unverified (format 1)"
                    continue
                try:
                    self._verify_run(g, rid)
                    out[rid] = "ok"
                except DamagedRunError as exc:
                    out[rid] = f"damaged: {exc}"
        return out

    @staticmethod
    def salvage(source, destination) -> dict:
        """Copy every run of ``source`` that can still be read and matches its digest into a new
        store ``destination``; return ``{"copied": [...], "damaged": {run_id: reason}}``.

        Works on stores whose index is partly damaged: each run is tried on its own.
        """
        dest = RunStore(destination, mode="w-")
        return dest._modify(lambda f: _integrity.copy_intact_runs(Path(os.fspath(source)), f))

    def merge(self, sources: Iterable) -> list[str]:
        """Copy the completed runs of other store files into this one (one atomic update).

        This is how results of many workers come together: each worker writes its
        own store, a single process merges them. Runs whose id is already present
        are skipped (ids are unique, so they are the same run), never overwritten.

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
        paths = [s.path if isinstance(s, RunStore) else Path(os.fspath(s)).absolute() for s in sources]
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"RunStore.merge: {str(p)!r} does not exist")
            if p.resolve() == self.path.resolve():
                raise ValueError("RunStore.merge: a store cannot be merged into itself")
            RunStore(p, mode="r")   # format, version and readability checked before anything is written

        def write(f):
            runs = f.require_group("runs")
            added = []
            for p in paths:
                with h5py.File(p, "r") as src:
                    for rid in self._complete_ids(src):
                        if rid in runs:
                            continue
                        src.copy(src["runs"][rid], runs, name=rid)
                        added.append(rid)
            return added

        return self._modify(write)


__all__ = ["RunStore", "StoredRun", "describe_problem", "DamagedStoreError", "DamagedRunError"]
