"""One run, one HDF5 file: the primitive every writer of a run store uses.

:func:`write_run_file` converts a result, writes it into a new HDF5 file under a temporary name
(``.<name>.tmp-<host>-<pid>-<random>``), computes its digest from what reads back, marks it complete, optionally
``fsync``\\ s it, and links it into place under its final name (``<run_id>.h5``). The final name appears only for
a complete file, and an existing file is never replaced (``os.link`` fails on an existing name). The file has the
layout of a store file holding one run (format version 2), so any :class:`~solvers.runs.RunStore` reads it.

A sweep worker calls it directly (no lock, no shared file: each worker writes only its own files); the single
writer then indexes them (:meth:`RunStore.index_files`). :func:`summary_of` is a run's index row. Nothing is
written when the file system has not the room for the run (:func:`._files.check_free_space`)."""
from __future__ import annotations

import errno
import math
import numbers
import os
import shutil
import secrets
import socket
import time
from pathlib import Path

import h5py
import numpy as np

from ..results import SolveResult, Status
from . import _files
from . import _integrity
from . import provenance as _provenance
from ._encoding import decode as _decode, describe_problem, get_mapping as _get_mapping, hdf5_text as _hdf5_text
from ._encoding import put_mapping as _put_mapping, put_text as _put_text, to_host as _to_host
from ._integrity import DamagedRunError

FORMAT = "newtonkit-runs"
FORMAT_VERSION = 2          # 2: per-run digests, Fletcher-32 on arrays, exact key round trip
RUN_SUFFIX = ".h5"
_TMP_MARK = ".tmp-"
_HOST = socket.gethostname().replace("-", "_") or "host"


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
# converting a result (everything is checked before any file is touched)
# ---------------------------------------------------------------------------------------------

#: fields of :class:`StoredRun` besides the result's own: an extra of the same name is refused by save
_STORED_FIELDS = frozenset({"run_id", "created", "tags", "problem"})


class Payload:
    """A result converted for storage: host arrays, problem description, provenance, tags."""

    def __init__(self, result: SolveResult, problem=None, tags: dict | None = None, seed=None):
        if not isinstance(result, SolveResult) and callable(getattr(result, "to_result", None)):
            result = result.to_result()      # an approximation (ChebTucker) is a result too: stored as its to_result()
        if not isinstance(result, SolveResult):
            raise TypeError(f"RunStore.save expects a SolveResult (or an object with to_result(), such as a "
                            f"ChebTucker), got {type(result).__name__}")
        tags = _integrity.check_tags(tags)
        if not -2 ** 63 <= result.nit < 2 ** 63:
            raise ValueError(f"RunStore.save: result.nit = {result.nit} does not fit a 64-bit integer")
        if result.status not in Status.ALL:
            raise ValueError(f"RunStore.save: result.status is {result.status!r}, not one of {Status.ALL} (it was "
                             "changed after the result was built); set one of those and say more in result.message")
        clash = sorted(set(result.extras) & _STORED_FIELDS)
        if clash:
            raise ValueError(f"RunStore.save: result.extras has {clash[0]!r}, the name of a field every stored run "
                             f"carries ({', '.join(sorted(_STORED_FIELDS))}); rename that extra")
        for name in ("method", "backend", "status", "message"):
            if not _hdf5_text(str(getattr(result, name))):
                raise ValueError(f"RunStore.save: result.{name} contains a NUL character or a lone surrogate, "
                                 "which HDF5 strings cannot hold; remove it before saving")
        time_s = result.stats.get("time_s")
        time_s = float(time_s) if isinstance(time_s, (numbers.Real, np.floating)) else None
        if time_s is not None and not math.isfinite(time_s):
            time_s = None
        if seed is not None and not (hasattr(seed, "__index__") or isinstance(seed, str)) or isinstance(seed, bool):
            raise TypeError(f"RunStore.save: seed must be an int (or a str naming it), got {type(seed).__name__}")
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
        now = _provenance.utc_iso(time.time())
        if not (isinstance(result, StoredRun) and "utc_saved" in prov):    # a re-saved run keeps its provenance
            prov["utc_saved"] = now                                       # whole, as merge does
        x = _to_host(result.x)
        self.pre_notes = []
        if isinstance(x, np.ma.MaskedArray):
            self.pre_notes.append("RunStore: stored inexactly: x is a masked array; its mask is not stored (the masked entries load "
                                  "as their underlying values): store x.filled(np.nan), or the mask in extras")
        x = None if x is None else np.asarray(x)
        if x is not None and (x.dtype == object or x.dtype.kind in "UMm"):
            raise TypeError(f"RunStore.save: result.x is an array of dtype {x.dtype} (not numbers); it cannot be "
                            "stored as a solution: keep such values in result.extras or the tags")
        self.result, self.x, self.time_s = result, x, time_s
        self.history = {k: np.asarray(_to_host(v)) for k, v in result.history.items()}
        for k, v in self.history.items():
            if v.dtype.kind == "O":
                raise ValueError(f"RunStore.save: history[{k!r}] is an array of Python objects (a None among "
                                 "numbers?), which would be stored as its repr; a history is an array of numbers "
                                 "(or text): use NaN for a missing entry")
        self.problem, self.provenance, self.tags = prob, prov, dict(tags or {})
        self.created = now


def write_group(g, p: Payload, run_id: str, compression: str | None = None) -> None:
    """Write payload ``p`` into the empty group ``g``; the ``digest`` and ``complete`` attributes last."""
    res = p.result
    if p.x is not None:
        kw = {"compression": compression} if (compression and p.x.size > 1) else {}
        if p.x.ndim > 0 and p.x.size > 0:
            kw["fletcher32"] = True
        g.create_dataset("x", data=p.x, **kw)
    n = p.notes = list(p.pre_notes)   # values that do not load back as they are: RunStore.save warns after it
    _put_mapping(g.create_group("history", track_order=True), p.history, compression=compression, notes=n)
    _put_mapping(g.create_group("stats", track_order=True), res.stats, notes=n)
    _put_mapping(g.create_group("options", track_order=True), res.options, compression=compression, notes=n)
    _put_mapping(g.create_group("extras", track_order=True), res.extras, compression=compression, notes=n,
                 skip_callables=True)
    _put_mapping(g.create_group("problem", track_order=True), p.problem, compression=compression, notes=n)
    _put_mapping(g.create_group("provenance", track_order=True), p.provenance, notes=n)
    _put_mapping(g.create_group("tags", track_order=True), p.tags, notes=n)
    a = g.attrs
    a["run_id"] = run_id
    a["created"] = p.created
    a["method"] = str(res.method)
    a["backend"] = str(res.backend)
    a["converged"] = np.bool_(res.converged)
    a["status"] = str(res.status)
    _put_text(g, "message", str(res.message))
    a["nit"] = int(res.nit)
    a["time_s"] = np.nan if p.time_s is None else p.time_s
    g.file.flush()
    a["digest"] = _integrity.digest_group(g)   # read back from the file: what a later load must find
    a["complete"] = np.bool_(True)  # last: marks the run complete


def new_store_file(path) -> h5py.File:
    """Create (``w-``) an empty store file: format attributes and an empty ``/runs`` group."""
    f = h5py.File(path, "w-")
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.create_group("runs", track_order=True)
    return f


# ---------------------------------------------------------------------------------------------
# temporary names and placing a finished file
# ---------------------------------------------------------------------------------------------

def tmp_name(final: Path) -> Path:
    """``.<name>.tmp-<host>-<pid>-<random>`` beside ``final``: never a run file, names its writer."""
    return final.with_name(f".{final.name}{_TMP_MARK}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


def tmp_overhead() -> int:
    """Characters :func:`tmp_name` adds to a file name (process ids up to 7 digits, plus slack)."""
    return len(tmp_name(Path("x")).name) + 6


def is_tmp(name: str) -> bool:
    return name.startswith(".") and _TMP_MARK in name


def stale_tmp(path: Path, max_age_s: float = 86400.0) -> bool:
    """A temporary file whose writer is dead: same host and its pid gone, or older than ``max_age_s``."""
    try:
        head, pid, _ = path.name.rsplit("-", 2)
        host = head.split(_TMP_MARK, 1)[1]
        pid = int(pid)
    except (ValueError, IndexError):
        return False
    if host == _HOST:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False
    try:
        return time.time() - path.stat().st_mtime > max_age_s
    except OSError:
        return False


def remove_stale_tmps(folder: Path) -> None:
    for p in folder.glob(".*" + _TMP_MARK + "*"):
        if stale_tmp(p):
            try:
                p.unlink()
            except OSError:
                pass


def place(tmp: Path, final: Path, durable: bool) -> None:
    """Give the finished ``tmp`` its final name without ever replacing an existing file."""
    if durable:
        _files.fsync_path(tmp)
    try:
        os.link(tmp, final)             # atomic, and fails when ``final`` exists
    except FileExistsError:
        raise
    except OSError:                     # pragma: no cover - file systems without hard links
        if final.exists():
            raise FileExistsError(final) from None
        os.replace(tmp, final)
    else:
        os.unlink(tmp)
    if durable:
        _files.fsync_path(final.parent, directory=True)


def write_run_file(result: SolveResult, path, problem=None, tags: dict | None = None, seed=None, *,
                   durable: bool = True, compression: str | None = None, taken=None) -> dict:
    """Write one run into its own HDF5 file, atomically; return the run's summary.

    This is the primitive that sweep workers call: no lock, no shared file. The
    file is written under a temporary name, its digest computed from what reads
    back, marked complete, ``fsync``\\ ed (``durable=True``) and linked into place;
    a process killed at any moment leaves no file under the final name.

    Parameters
    ----------
    result : SolveResult
    path : str or os.PathLike
        An existing directory (the file is ``<dir>/<run_id>.h5``; e.g. a directory store, or
        :attr:`RunStore.run_dir`, made again if another process's close removed it meanwhile) or
        the new file's name (must not exist; its directory must).
    problem, tags, seed
        As for :meth:`RunStore.save`.
    durable, compression, taken
        ``fsync`` the file and its directory (default); the h5py compression filter for array
        datasets; ``taken(run_id) -> bool``, ids to avoid besides existing files (the store's).

    Returns
    -------
    dict
        The summary (:func:`summary_of`) plus ``"file"``: the absolute path written.
    """
    return write_payload(Payload(result, problem, tags, seed), path, durable=durable, compression=compression,
                         taken=taken)


def write_payload(payload: Payload, path, *, durable: bool = True, compression: str | None = None,
                  taken=None, directory: bool = False) -> dict:
    """:func:`write_run_file` for a result already converted (:class:`Payload`). With ``directory`` the
    path must be a directory (a ``FileNotFoundError`` when it is not, e.g. a sidecar removed meanwhile:
    never a run file in its place)."""
    from ._dirstore import make_sidecar, sidecar_of_store   # (it imports this module)

    if (sidecar := sidecar_of_store(Path(os.path.abspath(os.fspath(path))))) is not None:
        path, directory = sidecar, True           # made again if another process's close removed it
        make_sidecar(path, durable)
    if os.fspath(path).endswith(("/", os.sep)) and not Path(os.fspath(path)).is_dir():
        raise FileNotFoundError(f"write_run_file: directory {os.fspath(path)!r} does not exist (a trailing '/' names "
                                "a directory: create it first)")      # was: a run file named like the directory
    path = Path(os.path.abspath(os.fspath(path)))
    in_dir = path.is_dir()
    if directory and not in_dir:
        raise FileNotFoundError(f"write_run_file: directory {str(path)!r} does not exist (removed meanwhile)")
    if not in_dir:
        if not path.parent.is_dir():
            raise FileNotFoundError(f"write_run_file: directory {str(path.parent)!r} does not exist")
        if path.exists():
            raise FileExistsError(f"write_run_file: {str(path)!r} exists; a run file is never overwritten")
    nbytes = _files.payload_bytes(payload)
    _files.check_free_space(path if in_dir else path.parent, 2 * nbytes, "the run", file_bytes=nbytes)
    for _ in range(100):
        run_id = _new_id()
        final = path / f"{run_id}{RUN_SUFFIX}" if in_dir else path
        if (in_dir and final.exists()) or (taken is not None and taken(run_id)):
            continue
        tmp = tmp_name(final)
        try:
            with new_store_file(tmp) as f:
                write_group(f["runs"].create_group(run_id, track_order=True), payload, run_id, compression)
                summary = summary_of(f["runs"][run_id], run_id)
            place(tmp, final, durable)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            if sidecar is None:
                raise
            make_sidecar(path, durable)        # removed again by another process's compaction: once more
            continue
        except FileExistsError:
            tmp.unlink(missing_ok=True)
            if not in_dir:
                raise FileExistsError(f"write_run_file: {str(final)!r} appeared meanwhile; not overwritten") from None
            continue
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            full = _no_space(tmp.parent, exc)
            if full:
                raise OSError(errno.ENOSPC, f"RunStore: the run could not be written to {str(tmp.parent)!r}: no "
                                            f"space left on the device ({full}); nothing was stored, the runs "
                                            "stored before are intact. Free space, or save to another disk") from exc
            raise
        summary["file"] = str(final)
        return summary
    raise RuntimeError("write_run_file: no free run id after 100 tries")  # pragma: no cover


def _no_space(folder: Path, exc: BaseException) -> str:
    """A description of a full disk when ``exc`` (from writing a run) came from one, else ''. HDF5 reports a
    full device from deep inside (``RuntimeError: Can't destroy cache``, an ``OSError`` without errno), so
    the free space of ``folder`` decides, besides an ``ENOSPC`` anywhere in the exception chain."""
    if not isinstance(exc, (OSError, RuntimeError, ValueError)):
        return ""
    e = exc
    while e is not None:
        if getattr(e, "errno", None) == errno.ENOSPC:
            return "ENOSPC"
        e = e.__cause__ or e.__context__
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return ""
    return f"{free} bytes free" if free < FULL_BELOW else ""


#: a failed write with less free space than this in the store's folder is reported as a full disk
FULL_BELOW = 1 << 20


def _new_id() -> str:
    from . import store   # tests replace store._new_run_id to force collisions

    return store._new_run_id()


def read_group(g, run_id: str, path) -> StoredRun:
    """The complete run group ``g`` as a :class:`StoredRun`, after checking its digest
    (:class:`DamagedRunError` naming the run and file otherwise)."""
    try:
        _integrity.verify_group(g, run_id, path)
        a = g.attrs
        x = g["x"][...] if "x" in g else None
        message = _decode(g["message"][()], None) if "message" in g else _decode(a.get("message", ""), None)
        sections = {name: (_get_mapping(g[name]) if name in g else {})
                    for name in ("history", "stats", "options", "extras", "problem", "provenance", "tags")}
        head = (bool(a["converged"]), _decode(a["status"], None), int(a["nit"]), _decode(a.get("method", ""), None),
                _decode(a.get("backend", ""), None), _decode(a.get("created", ""), None))
    except DamagedRunError:
        raise
    except _integrity.HDF5_ERRORS as exc:       # HDF5 reports damaged metadata in assorted ways
        raise DamagedRunError(f"RunStore: run {run_id!r} in {str(path)!r} is damaged and cannot be "
                              f"read ({type(exc).__name__}: {exc}); RunStore.salvage copies the intact "
                              "runs into a new store") from exc
    converged, status, nit, method, backend, created = head
    # extras are set after construction and the status as stored: an extra named like a keyword of StoredRun
    # (tags, problem, run_id, created) or a status outside Status.ALL (changed on a result after it was built)
    # made the run impossible to load; save refuses both now, runs stored before stay readable
    run = StoredRun(
        x, converged, status if status in Status.ALL else Status.FAILED, message, nit,
        history=sections["history"], stats=sections["stats"], options=sections["options"],
        method=method, backend=backend, run_id=run_id, created=created, tags=sections["tags"],
        problem=sections["problem"], provenance=sections["provenance"])
    run.status = status
    run.extras = dict(sections["extras"])
    return run


# ---------------------------------------------------------------------------------------------
# summaries: what an index keeps for a run
# ---------------------------------------------------------------------------------------------

def problem_label(attrs) -> str:
    """Short name of the stored problem: its ``problem``/``kind``/``name`` entry, else the class name."""
    for key in ("problem", "kind", "name"):
        v = attrs.get(key)
        if v is not None:
            v = _decode(v, None)
            if isinstance(v, str) and v:
                return v
    t = attrs.get("type")
    return _decode(t, None).rsplit(".", 1)[-1] if t is not None else ""


def _finite(v) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def summary_of(g, run_id: str) -> dict | None:
    """The index row of the run group ``g`` (``None`` when it is not marked complete).

    Keys: ``run_id, created, problem, method, backend, converged, status, nit, time_s, tags,
    final`` (last value of every 1-D numeric history) and ``digest``.
    """
    if not _integrity.is_complete(g, run_id, g.file.filename):   # DamagedRunError: an unreadable attribute table
        return None
    a = g.attrs
    final = {}
    hist = g.get("history")
    if isinstance(hist, h5py.Group):
        for k, ds in hist.items():
            if isinstance(ds, h5py.Dataset) and ds.ndim == 1 and ds.shape[0] and ds.dtype.kind in "iuf":
                final[k] = _finite(ds[-1])
    prob = g.get("problem")
    return {
        "run_id": run_id,
        "created": _decode(a.get("created", ""), None),
        "problem": problem_label(prob.attrs) if isinstance(prob, h5py.Group) else "",
        "method": _decode(a.get("method", ""), None),
        "backend": _decode(a.get("backend", ""), None),
        "converged": bool(a.get("converged", False)),
        "status": _decode(a.get("status", ""), None),
        "nit": int(a.get("nit", 0)),
        "time_s": _finite(a.get("time_s", np.nan)),
        "tags": _get_mapping(g["tags"]) if "tags" in g else {},
        "final": final,
        "digest": _decode(a["digest"], None) if "digest" in a else None,
    }


def run_groups(runs, damaged: list | None = None):
    """``(run_id, group)`` for every run group under ``runs``: hard-linked groups only. A store never
    writes links, and a soft or external link there (or a dataset) is no run: following one can loop
    (RuntimeError "too many links") or open another file. A group whose header cannot be read is left
    out and, when ``damaged`` is a list, its id appended there (else the error is raised)."""
    for rid in runs.keys():
        try:
            g = _integrity.open_run(runs, rid, runs.file.filename)
        except _integrity.DamagedRunError:
            if damaged is None:
                raise
            damaged.append(rid)
            continue
        if g is not None:
            yield rid, g


def summaries_in_file(path, damaged: list | None = None) -> list[dict]:
    """Summaries of the complete runs in one store file (raises ``OSError`` when it cannot be read). A run
    that cannot be read is left out and its id appended to ``damaged`` when it is a list (else raised)."""
    with h5py.File(path, "r") as f:
        runs = f.get("runs")
        return group_summaries(runs, damaged) if isinstance(runs, h5py.Group) else []


def group_summaries(runs, damaged: list | None = None, index: dict | None = None) -> list[dict]:
    """Summaries of the complete run groups under ``runs`` (taken from ``index`` where it has them); runs
    that cannot be read are left out, their ids appended to ``damaged`` when it is a list (else raised)."""
    out = []
    for rid, g in run_groups(runs, damaged):
        s = index.get(rid) if index else None
        if s is None:
            try:
                s = summary_of(g, rid)
            except _integrity.HDF5_ERRORS:
                if damaged is None:
                    raise
                damaged.append(rid)
                continue
        if s is not None:
            out.append(s)
    return out


__all__ = ["run_groups", "group_summaries", "StoredRun", "Payload", "write_group", "write_run_file", "write_payload",
           "summary_of", "summaries_in_file", "new_store_file", "problem_label", "FORMAT", "FORMAT_VERSION"]
