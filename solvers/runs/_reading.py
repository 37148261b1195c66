"""The read side of :class:`~solvers.runs.RunStore`: listing, lookup, loading and verification.

:class:`_StoreReading` is a mixin of :class:`~solvers.runs.store.RunStore` (the only class that
uses it); it holds the methods that read a store and never write one: :meth:`~_StoreReading.list`,
:meth:`~_StoreReading.table`, :meth:`~_StoreReading.run_ids`, ``len(store)``, ``run_id in store``,
:meth:`~_StoreReading.resolve`, :meth:`~_StoreReading.load` and :meth:`~_StoreReading.verify`, and
the internals behind them (``_summaries``: every complete run once, the sidecar read before the
file; ``_candidates`` / ``_load_from``: the files that may hold a run, tried without reading the
index first). The store's layout, crash-safety and integrity design are described in
:mod:`solvers.runs.store`, which keeps the constructor, saving, indexing and compaction.

The mixin relies on attributes that :class:`~solvers.runs.store.RunStore` sets: ``path``,
``mode``, ``is_directory``, ``_dir`` (a :class:`~solvers.runs._dirstore.RunDir`: the directory or
the sidecar) and ``_check_open()``.
"""
from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path

import h5py

from . import _combine, _integrity, _runfile, _single, _table
from ._integrity import DamagedRunError
from ._runfile import StoredRun

#: the keyword filters of RunStore.table (solvers.runs._table.select)
_TABLE_FILTERS = frozenset({"problem", "method", "backend", "status", "converged", "tags"})

_SUMMARY_KEYS = ("run_id", "created", "problem", "method", "backend", "converged", "status", "nit", "time_s",
                 "tags", "final")


class _StoreReading:
    """The reading methods of :class:`~solvers.runs.store.RunStore` (see the module docstring)."""

    def _open_main(self):
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise _single.damaged(self.path, exc) from exc

    def _summaries(self, adopt: bool = True, left_out: dict | None = None) -> list[dict]:
        """Every complete run once, oldest first, each with ``_path`` (str: the HDF5 file holding it).

        The sidecar is read before the file: a compaction that runs meanwhile moves runs from
        the sidecar into the file, never the other way, so no run is missed. What cannot be read is
        left out with a warning, or, when ``left_out`` is a dict, listed there instead: ``"sidecar"``
        (run files, or ``file:run_id``) and ``"main"`` (run ids of the store file)."""
        self._check_open()
        seen: dict[str, dict] = {}
        folder = os.fspath(self._dir.path)
        unreadable = []
        for e in self._dir.entries(adopt=adopt and self.mode != "r") if self._dir.path.is_dir() else []:
            if "error" in e:
                unreadable.append(e["file"])
            unreadable += [f"{e['file']}:{rid}" for rid in e.get("damaged", ())]
            for s in e.get("runs", ()):
                seen.setdefault(s["run_id"], {**s, "_path": os.path.join(folder, e["file"]),
                                              "_main": None if self.is_directory else os.fspath(self.path)})
        if left_out is not None:
            left_out["sidecar"] = unreadable
        elif unreadable:
            warnings.warn(f"RunStore: {len(unreadable)} run file(s) in {folder!r} cannot be read and are left out: "
                          f"{', '.join(sorted(unreadable)[:10])}{' ...' if len(unreadable) > 10 else ''}; "
                          "RunStore.verify() names the damage, RunStore.salvage() copies what is intact",
                          RuntimeWarning, stacklevel=3)
        if not self.is_directory:
            damaged: list = []
            with self._open_main() as f:
                main = os.fspath(self.path)
                for s in _single.summaries(f, damaged):
                    seen[s["run_id"]] = {**s, "_path": main}
            if left_out is not None:
                left_out["main"] = damaged
            elif damaged:
                warnings.warn(f"RunStore: {len(damaged)} run(s) in {main!r} cannot be read and are left out: "
                              f"{', '.join(sorted(damaged)[:10])}{' ...' if len(damaged) > 10 else ''}; "
                              "RunStore.salvage() copies the intact runs to a new store", RuntimeWarning,
                              stacklevel=3)
        return sorted(seen.values(), key=lambda s: (s["created"] or "", s["run_id"]))

    def list(self) -> list[dict]:
        """One dict per completed run, oldest first: ``run_id, created, problem, method, backend,
        converged, status, nit, time_s, tags, final`` (``final``: last value of each history)."""
        return [{k: s.get(k) for k in _SUMMARY_KEYS} for s in self._summaries()]

    def table(self, *, sort: str | None = None, reverse: bool = False, **filters):
        """The runs as a table: a pandas ``DataFrame`` when pandas is installed, else a list of dicts.

        Filters (all optional, combined with AND): ``problem``, ``method``, ``backend``,
        ``status`` (exact values, or lists of values), ``converged`` (bool), ``tags``
        (``{"key": value}``; ``"key=value"`` strings also work). Columns: the summary fields,
        ``final_<history>`` and ``tag_<key>``. ``sort`` names a column (``reverse`` descending).
        """
        unknown = sorted(set(filters) - _TABLE_FILTERS)
        if unknown:
            raise TypeError(f"RunStore.table() got unknown filter(s) {', '.join(unknown)}: the filters are "
                            f"{', '.join(sorted(_TABLE_FILTERS))} (a tag is filtered with tags={{'key': value}})")
        rows = _table.select(self.list(), **filters)
        return _table.frame(_table.sort(_table.flatten(rows), sort, reverse))

    def run_ids(self) -> list[str]:
        """Ids of the completed runs, oldest first."""
        return [s["run_id"] for s in self._summaries()]

    def __len__(self) -> int:
        return len(self._summaries())

    def __contains__(self, run_id) -> bool:
        self._check_open()
        if not isinstance(run_id, str):
            return False
        for path in self._candidates(run_id):
            try:
                with h5py.File(path, "r") as f:
                    g = f.get(f"runs/{run_id}") if "/" not in run_id else None
                    if isinstance(g, h5py.Group) and bool(g.attrs.get("complete", False)):
                        return True
            except OSError:
                continue
        return any(s["run_id"] == run_id for s in self._summaries())

    def _missing(self, run_id, known: list[str]) -> KeyError:
        text = str(run_id)
        run_id = text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"   # not a page of it
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
        if isinstance(key, str) and key:
            for path in self._candidates(key):    # a run left out of the listing as unreadable is damaged,
                self._load_from(path, key)        # not missing: DamagedRunError names it
            self._raise_if_damaged(key)
        raise self._missing(key, ids)

    def _candidates(self, run_id: str) -> list[Path]:
        """Files that may hold ``run_id``, most likely first (no index read on the fast path)."""
        out = []
        if isinstance(run_id, str) and "/" not in run_id and self._dir.exists():
            out.append(self._dir.path / f"{run_id}{_runfile.RUN_SUFFIX}")
        if not self.is_directory:
            out.append(self.path)
        return out

    def load(self, run_id: str) -> StoredRun:
        """Load a completed run as a :class:`StoredRun` (a ``SolveResult`` with ``run_id``,
        ``created``, ``tags``, ``problem`` and ``provenance``); its digest is checked.

        Raises
        ------
        KeyError
            When no completed run has this id (the message lists the closest known ids).
        DamagedRunError
            When the run does not match its digest or cannot be read.
        """
        self._check_open()
        if not isinstance(run_id, str):
            raise TypeError(f"RunStore.load: run_id must be a run id string (a 'run_id' of list()), got "
                            f"{type(run_id).__name__} {run_id!r:.40}; the latest run is list()[-1]['run_id']")
        for path in self._candidates(run_id):
            out = self._load_from(path, run_id)
            if out is not None:
                return out
        summaries = self._summaries()
        for s in summaries:   # a run in a file not named after it (an adopted store file)
            if s["run_id"] == run_id:
                out = self._load_from(Path(s["_path"]), run_id)
                if out is not None:
                    return out
        self._raise_if_damaged(run_id)
        raise self._missing(run_id, [s["run_id"] for s in summaries])

    def _raise_if_damaged(self, run_id: str) -> None:
        """:class:`DamagedRunError` when an index line names ``run_id`` among the runs its file cannot give back."""
        if not self._dir.path.is_dir():
            return
        for e in self._dir.entries():
            if run_id in (e.get("damaged") or ()) or run_id in (e.get("indexed_runs") or ()):
                self._load_from(self._dir.path / e["file"], run_id)     # raises, naming the damage
                raise DamagedRunError(f"RunStore: run {run_id!r} in {str(self._dir.path / e['file'])!r} is "
                                      f"damaged ({e.get('error', 'unreadable')}); RunStore.salvage copies the "
                                      "intact runs into a new store")

    def _load_from(self, path: Path, run_id: str) -> StoredRun | None:
        try:
            f = h5py.File(path, "r")
        except FileNotFoundError:
            return None                      # compacted meanwhile: the caller tries the next place
        except OSError as exc:
            if not path.exists():
                return None
            raise _single.damaged(path, exc) from exc
        with f:
            runs = f.get("runs")
            if runs is None and f.get("runs", getlink=True) is not None:    # linked but unreadable (helper-98:
                raise DamagedRunError(f"RunStore: the runs group of {str(path)!r} is damaged and cannot be read; "
                                      "RunStore.salvage copies the intact runs into a new store")   # 'not found')
            g = _integrity.open_run(runs, run_id, path) if isinstance(runs, h5py.Group) and "/" not in run_id \
                and run_id in runs else None
            if g is None or not _integrity.is_complete(g, run_id, path):
                return None
            return _runfile.read_group(g, run_id, path)

    def verify(self) -> dict:
        """Check every completed run against its digest: ``{run_id: "ok" | "damaged: <reason>" |
        "unverified (format 1)"}``; run files that HDF5 cannot open appear as ``file:<name>``.
        Raises :class:`DamagedStoreError` when a single store file itself is unreadable."""
        return _combine.verify(self)
