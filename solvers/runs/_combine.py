"""The file-level work of :class:`~solvers.runs.RunStore`: opening or creating a store,
compaction, merge and salvage (stored runs are copied as HDF5 groups: bytes, attributes and
digests unchanged), adopting run files, verifying digests.

Compaction and merge run under the store's lock, taken by the caller.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py

from . import _dirstore
from . import _files
from . import _integrity
from . import _runfile
from . import _single
from ._integrity import DamagedRunError, DamagedStoreError


def into_directory(target, stores: list) -> list[str]:
    """Copy the runs of ``stores`` that ``target`` (a directory store) lacks into new run files
    (one each); with no ``stores``, rewrite the index without dead lines. Returns the ids added."""
    known = {s["run_id"] for s in target._summaries(adopt=False)}
    lines, added = [], []
    todo = [s for other in stores for s in _intact_summaries(other) if s["run_id"] not in known]
    for s in todo:               # every run checked before any is copied: a damaged one leaves no half merge
        src, where = open_source(s)
        with src:
            _checked_run(src, s["run_id"], where)
    sizes = _runs_bytes([(s["_path"], s["run_id"]) for s in todo])     # (unchecked: a raw errno 27; helper-151)
    _files.check_free_space(target._dir.path, sum(sizes), "the merged runs", file_bytes=max(sizes, default=0))
    for s in todo:
        if s["run_id"] in known:  # the same run in two sources
            continue
        final = target._dir.path / f"{s['run_id']}{_runfile.RUN_SUFFIX}"
        tmp = _runfile.tmp_name(final)
        try:
            src, where = open_source(s)
            with src, _runfile.new_store_file(tmp) as dst:
                src.copy(_integrity.open_run(src["runs"], s["run_id"], where), dst["runs"], name=s["run_id"])
                _single.refresh_index(dst)
            _runfile.place(tmp, final, target.durable)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        lines.append(target._dir.describe_file(final.name))
        known.add(s["run_id"])
        added.append(s["run_id"])
    if lines:
        target._dir.append(lines, locked=True)
    if not stores:
        target._dir.rewrite_index(target._dir.entries())
        _runfile.remove_stale_tmps(target._dir.path)
    return added


def _files_bytes(paths) -> int:
    """The bytes of the distinct files among ``paths`` (what a rewrite copying their runs adds, at most)."""
    total = 0
    for p in {str(p) for p in paths}:
        try:
            total += os.stat(p).st_size
        except OSError:
            pass
    return total


def _runs_bytes(runs) -> list[int]:
    """The bytes each run ``(path, run_id)`` takes in its file (its datasets' storage plus an entry's overhead per
    object), read from the metadata, each file opened once: a merge or compaction checks the room for the runs it
    copies, not for whole source files (a merge adding nothing was refused as needing both stores; helper-151)."""
    runs = list(runs)
    sizes = {}
    by_file: dict = {}
    for path, rid in runs:
        by_file.setdefault(str(path), []).append(rid)
    for path, rids in by_file.items():
        try:
            with h5py.File(path, "r") as f:
                for rid in rids:
                    total = [_files.ENTRY_BYTES]

                    def add(_name, obj, total=total):
                        total[0] += _files.ENTRY_BYTES + (obj.id.get_storage_size()
                                                          if isinstance(obj, h5py.Dataset) else 0)

                    g = f.get(f"runs/{rid}")
                    if g is not None:
                        g.visititems(add)
                    sizes[(path, rid)] = total[0]
        except (OSError, KeyError, RuntimeError):
            pass            # unreadable here: the copy names the damage
    return [sizes.get((str(p), rid), _files.ENTRY_BYTES) for p, rid in runs]


def _held(path: Path) -> set:
    """The ids of the complete runs in the store file ``path`` (none when it does not exist)."""
    if not path.exists():
        return set()
    out = set()
    with h5py.File(path, "r") as f:
        runs = f.get("runs")
        for k in (runs if isinstance(runs, h5py.Group) else ()):
            try:                 # a soft or external link there is not a run of the file (helper-129's links)
                g = runs.get(k) if isinstance(runs.get(k, getlink=True), h5py.HardLink) else None
            except (OSError, RuntimeError, KeyError):
                g = None
            if isinstance(g, h5py.Group) and bool(g.attrs.get("complete", False)):
                out.add(k)
    return out


def into_file(target, stores: list) -> list[str]:
    """One atomic rewrite of ``target``'s file (a single-file store) taking in its sidecar's runs
    and the runs of ``stores`` it lacks; then delete the sidecar files it now holds. Returns the
    ids added from ``stores`` (or, with no ``stores``, the sidecar runs moved)."""
    side = target._dir.entries() if target._dir.exists() else []
    side_runs = [(target._dir.path / e["file"], s, True) for e in side for s in e.get("runs", ())]
    for e in side:               # damaged since it was indexed: nothing changes, the damage is named
        if ("error" in e and e.get("indexed_runs")) or e.get("damaged"):
            raise _single.damaged(target._dir.path / e["file"],
                                  OSError(e.get("error") or f"runs {e['damaged']} cannot be read"))
    external = [(s["_path"], s, False) for other in stores for s in _intact_summaries(other)]
    if not side_runs and not external:
        if not stores and not _single.index_is_current(target.path):
            _single.rewrite(target.path, lambda f: None, target.durable)   # a file of an older version:
        if target._dir.path.is_dir():                                     # give it the listing index
            _runfile.remove_stale_tmps(target._dir.path)     # a killed writer's file kept the sidecar alive
        return []
    side_runs.sort(key=lambda t: (t[1]["created"] or "", t[1]["run_id"]))   # the file keeps runs oldest first
    moved, added = [], []

    def write(f):
        runs = f.require_group("runs")
        for path, s, own in side_runs + external:
            rid = s["run_id"]
            g = runs.get(rid)
            if g is not None:
                if bool(g.attrs.get("complete", False)):
                    continue          # the same run (ids are unique), e.g. after a killed compaction
                del runs[rid]         # an incomplete group of that name is not a stored run
            try:
                src, path = open_source({**s, "_path": path})
            except OSError as exc:   # damaged since it was indexed: the rewrite is dropped, nothing changes
                raise _single.damaged(Path(path), exc) from exc
            with src:
                src.copy(_checked_run(src, rid, path), runs, name=rid)
            (moved if own else added).append(rid)

    held = _held(target.path)
    extra = sum(_runs_bytes([(p, s["run_id"]) for p, s, _ in side_runs + external if s["run_id"] not in held]))
    _single.rewrite(target.path, write, target.durable, extra=extra)
    # the file now holds every run of these sidecar files: delete them (unreadable ones stay)
    done = {e["file"] for e in side if e.get("runs")}
    for name in done:
        (target._dir.path / name).unlink(missing_ok=True)
    if side:
        target._dir.rewrite_index([e for e in target._dir.entries() if e["file"] not in done])
    _runfile.remove_stale_tmps(target._dir.path)
    return added if stores else moved


def open_source(s: dict):
    """``(h5py file, path)`` holding the listed run ``s``; a sidecar run that a concurrent compaction moved
    into its store file (``s["_main"]``) meanwhile is read there (it was reported as damaged)."""
    try:
        return h5py.File(s["_path"], "r"), s["_path"]
    except FileNotFoundError:
        main = s.get("_main")
        if not main or main == s["_path"]:
            raise
        return h5py.File(main, "r"), main


def _intact_summaries(source) -> list[dict]:
    """The runs of the store ``source`` to merge; :class:`DamagedStoreError` when some cannot be read (a merge
    copies whole stores: one that would come out short is refused, naming what to salvage)."""
    left_out: dict = {}
    rows = source._summaries(adopt=False, left_out=left_out)
    bad = left_out.get("sidecar", []) + left_out.get("main", [])
    if bad:
        raise DamagedStoreError(f"merge: {len(bad)} run(s) or run file(s) of {str(source.path)!r} cannot be read: "
                                f"{', '.join(sorted(bad)[:10])}{' ...' if len(bad) > 10 else ''}. Nothing was "
                                f"merged; salvage the source first: RunStore.salvage({str(source.path)!r}, "
                                "'intact.h5')")
    return rows


def _checked_run(src, run_id: str, path):
    """The run group ``run_id`` of the open file ``src`` after checking it reads back and matches its digest
    (:class:`DamagedRunError` naming it otherwise: HDF5's copy of a group with garbled metadata can crash
    the process, and a copy would carry a changed byte on unnoticed)."""
    g = _integrity.open_run(src["runs"], run_id, path)
    if g is None:
        raise DamagedRunError(f"RunStore: run {run_id!r} listed in {str(path)!r} has no group there")
    _integrity.verify_group(g, run_id, path)
    return g


def remove_if_empty(store_class, path) -> None:
    """Remove the store ``path`` (file, lock and sidecar, or directory) when it holds no run: the output a
    failed merge created."""
    import shutil

    try:
        with store_class(path, mode="r") as st:
            if len(st):
                return
    except (OSError, ValueError):
        return
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    for p in (path, f"{path}.lock"):
        try:
            os.unlink(p)
        except OSError:
            pass
    shutil.rmtree(f"{path}.d", ignore_errors=True)


def salvage(store_class, source, destination) -> dict:
    """Copy every run of ``source`` that can still be read and matches its digest into a new
    store ``destination``; return ``{"copied": [...], "damaged": {run_id: reason}}``.

    Works on stores whose index is partly damaged: each run is tried on its own. A truncated store file
    is read through a copy padded back to its recorded length; what is recovered then depends on where the
    cut fell: HDF5 writes a group's index as the group grows, often near the end of the file, and a cut
    through the index of ``/runs`` loses every run of that file (five runs of 8 kB each: none recovered at
    50 % or 90 % of the file, four at 99 %; helper-158). A directory store keeps each run in a file of
    its own, so a damaged file costs only its run: use one where files travel over unreliable links. ``source``
    may be a store file or a directory of run files.
    """
    source = Path(os.fspath(source))
    if Path(os.fspath(destination)).suffix == "" or Path(os.fspath(destination)).is_dir():
        raise ValueError("RunStore.salvage: give a file name such as 'recovered.h5' as destination")
    if not source.exists():                 # before the destination is made (an empty store was left behind)
        raise FileNotFoundError(f"RunStore.salvage: {str(source)!r} does not exist")
    dest = store_class(destination, mode="w-")
    files = sorted(source.glob("*.h5")) if source.is_dir() else [source]
    side = source.with_name(source.name + ".d")
    if not source.is_dir() and side.is_dir():
        files += sorted(side.glob("*.h5"))

    def copy(f):
        out = {"copied": [], "damaged": {}}
        for p in files:
            if not p.is_file():             # a FIFO would block the copy forever: named, not opened
                out["damaged"][f"file:{p.name}"] = "not a regular file"
                continue
            try:
                r = _integrity.copy_intact_runs(p, f)
            except DamagedStoreError as exc:
                if len(files) == 1:
                    raise
                out["damaged"][f"file:{p.name}"] = str(exc)
                continue
            out["copied"] += [c for c in r["copied"] if c not in out["copied"]]
            out["damaged"].update(r["damaged"])
        return out

    try:
        with _files.Lock(dest._dir.lock_path):
            return _single.rewrite(dest.path, copy, dest.durable, extra=_files_bytes(p for p in files if p.is_file()))
    except BaseException:            # nothing recovered: the new, empty destination goes too (a second try would
        for q in (dest.path, Path(dest._dir.lock_path)):        # refuse it: mode 'w-' creates a new store)
            try:
                q.unlink()
            except OSError:
                pass
        try:
            os.rmdir(dest._dir.path)       # its (new, empty) sidecar of run files, if one was made
        except OSError:
            pass
        raise


def adopt_files(target, paths: list, move: bool, rows=None) -> list[str]:
    """:meth:`RunStore.index_files`: index run files of ``target.run_dir`` the index lacks (from the
    writer's summary row when ``rows`` has one, else by reading the file), copy (or move) other
    files in; skip files whose runs ``target`` holds. Returns the ids added."""
    run_dir = target.run_dir
    indexed = target._dir.read_index()
    known = {s["run_id"] for e in indexed.values() for s in e.get("runs", ())}
    if not target.is_directory:
        with target._open_main() as f:
            known.update(s["run_id"] for s in _single.summaries(f))
    lines, added = [], []
    for p, row in zip(paths, rows or [None] * len(paths)):
        if p.parent == run_dir:
            if p.name in indexed:
                continue
            e = ({"file": p.name, "runs": [dict(row)], "stamp": _dirstore.file_stamp(p)}
                 if isinstance(row, dict) and row.get("run_id")
                 else target._dir.describe_file(p.name))
        else:
            ids = [s["run_id"] for s in _runfile.summaries_in_file(p)]
            if ids and all(rid in known for rid in ids):
                continue
            e = target._dir.adopt(p, move=move)
        lines.append(e)
        new = [s["run_id"] for s in e.get("runs", ()) if s["run_id"] not in known]
        known.update(new)
        added += new
    if lines:
        target._dir.append(lines)
    return added


def verify(target) -> dict:
    """:meth:`RunStore.verify`: every complete run checked against its digest."""
    out = {}
    left_out: dict = {}                  # what the listing leaves out is reported here, by id
    summaries = target._summaries(left_out=left_out)
    if not target.is_directory:
        for rid in left_out.get("main", ()):
            out[rid] = (f"damaged: its group in {str(target.path)!r} cannot be read; RunStore.salvage("
                        f"{str(target.path)!r}, ...) copies the readable runs to a new store")
    for s in summaries:
        try:
            f, where = open_source(s)
            s = {**s, "_path": where}
        except OSError as exc:      # a truncated or overwritten file: the damage verify() is there to report
            out[s["run_id"]] = (f"damaged: its file {s['_path']} cannot be opened ({exc}); RunStore.salvage("
                                f"{str(target.path)!r}, ...) copies the readable runs to a new store")
            continue
        with f:
            try:
                g = _integrity.open_run(f["runs"], s["run_id"], s["_path"])
                if g is None:
                    raise KeyError("no such group")
                if g.attrs.get("digest") is None and _integrity.is_complete(g, s["run_id"], s["_path"]):
                    out[s["run_id"]] = "unverified (format 1)"
                    continue
                _integrity.verify_group(g, s["run_id"], s["_path"])
                out[s["run_id"]] = "ok"
            except DamagedRunError as exc:
                out[s["run_id"]] = f"damaged: {exc}"
            except _integrity.HDF5_ERRORS as exc:     # HDF5 reports damaged metadata in assorted ways
                out[s["run_id"]] = f"damaged: the run's group cannot be read from {s['_path']} ({exc})"
    if target._dir.exists():
        for e in target._dir.entries():
            if "error" in e:
                msg = (f"damaged: its file {e['file']} cannot be read ({e['error']}); RunStore.salvage("
                       f"{str(target.path)!r}, ...) copies the readable runs to a new store")
                for rid in e.get("indexed_runs") or [f"file:{e['file']}"]:
                    out[rid] = msg
            for rid in e.get("damaged", ()):
                out[rid] = (f"damaged: the run cannot be read from its file {e['file']}; RunStore.salvage("
                            f"{str(target.path)!r}, ...) copies the readable runs to a new store")
    return out


def open_directory(store) -> None:
    """Check or create the directory store ``store`` (marker, layout version, foreign files)."""
    exists = store._dir.exists()
    where = str(store.path)
    if store.mode == "r" and not exists:
        if not store.path.exists():
            raise FileNotFoundError(f"RunStore: {where!r} does not exist (mode 'r' reads an existing store)")
        if foreign(store):   # a directory of run files without marker (e.g. worker output) reads fine
            raise FileNotFoundError(f"RunStore: {where!r} is a directory but not a run store (no "
                                    f"{store._dir.marker.name}; it holds {foreign(store)[:5]})")
    if store.mode in ("w-", "x") and (exists or (store.path.exists() and any(store.path.iterdir()))):
        raise FileExistsError(f"RunStore: {where!r} exists and is not empty; mode {store.mode!r} creates a new "
                              "store (use mode='a' to add runs to it)")
    if exists:
        store._dir.check()
        return
    if store.mode == "r":
        return
    if store.path.exists() and foreign(store):
        raise ValueError(f"RunStore: {where!r} is a directory but not a run store (it holds "
                         f"{foreign(store)[:5]}); give an empty or new directory, a directory of run files, "
                         f"or a file name such as {str(store.path / 'runs.h5')!r}")
    if store.mode in ("w-", "x"):
        try:       # two processes creating the store at once: only one of them gets it
            store._dir.create(exclusive=True)
        except FileExistsError:
            raise FileExistsError(f"RunStore: {where!r} was created by another process; mode {store.mode!r} "
                                  "creates a new store (use mode='a' to add runs to it)") from None
        return
    store._dir.create()


def foreign(store) -> list[str]:
    """Entries of the directory that are neither run files nor hidden bookkeeping."""
    own = (_dirstore.INDEX, _dirstore.MARKER)
    return sorted(p.name for p in store.path.iterdir()
                  if not (p.name.endswith(".h5") or p.name.startswith(".") or p.name in own))


def open_file(store) -> None:
    """Check or create the single store file of ``store`` (format, version; sidecar marker)."""
    exists = store.path.exists()
    if store.mode == "r" and not exists:
        raise FileNotFoundError(f"RunStore: {str(store.path)!r} does not exist (mode 'r' reads an existing store)")
    if store.mode in ("w-", "x") and exists:
        raise FileExistsError(f"RunStore: {str(store.path)!r} exists; mode {store.mode!r} creates a new store "
                              "(use mode='a' to add runs to it)")
    if exists:
        _single.check_format(store.path)
    else:
        with _files.Lock(store._lock_path):
            if store.path.exists():   # another process created it meanwhile
                if store.mode in ("w-", "x"):
                    raise FileExistsError(f"RunStore: {str(store.path)!r} was created by another process")
                _single.check_format(store.path)
            else:
                _single.rewrite(store.path, lambda f: None, store.durable)
    if store._dir.exists():
        store._dir.check(missing_ok=True)   # (a concurrent close may remove an emptied sidecar meanwhile)


def drop_empty_sidecar(store) -> None:
    """Remove the sidecar once it holds nothing (under the lock; a writer's file keeps it)."""
    with store._lock():
        try:
            names = os.listdir(store._dir.path)
        except FileNotFoundError:
            return
        if any(n.endswith(_runfile.RUN_SUFFIX) or _runfile.is_tmp(n) for n in names):
            return
        for n in names:
            (store._dir.path / n).unlink(missing_ok=True)
        try:
            store._dir.path.rmdir()
        except OSError:
            # a writer's file arrived after the listing (writers do not take the lock): the sidecar stays,
            # and must keep its marker, without which no compaction would ever move that run into the file
            if store._dir.path.is_dir():
                store._dir.create(sidecar_of=store.path.name)


__all__ = ["into_directory", "into_file", "remove_if_empty", "salvage", "adopt_files", "verify", "open_directory", "open_file",
           "foreign", "drop_empty_sidecar"]

