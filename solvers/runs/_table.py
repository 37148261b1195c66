"""Run tables: filter, flatten, sort the summaries of a :class:`~solvers.runs.RunStore` (the run
browser behind ``store.table()`` and ``newtonkit runs list/export``)."""
from __future__ import annotations

import csv
import os
import math
import numbers

import numpy as np

#: columns every table starts with, in this order (then ``final_<history>``, then ``tag_<key>``)
COLUMNS = ("run_id", "created", "problem", "method", "backend", "status", "converged", "nit", "time_s")
_TEXT_FILTERS = ("problem", "method", "backend", "status")


def parse_tag(text: str) -> tuple[str, object]:
    """``"key=value"`` -> ``(key, value)``; the value is compared with stored tags as text."""
    if not isinstance(text, str) or "=" not in text or text.startswith("="):
        raise ValueError(f"tag filter {text!r}: write it as key=value (e.g. --tag precond=mg)")
    key, value = text.split("=", 1)
    return key, value


def _same_number(a, b) -> bool:
    """Equal numbers, NaN matching NaN (so ``--tag x=nan`` finds a NaN tag)."""
    return a == b or (a != a and b != b)


def _tag_matches(stored, wanted) -> bool:
    if isinstance(wanted, str) and not isinstance(stored, str):
        if isinstance(stored, bool):
            return wanted.lower() in (str(stored).lower(), str(int(stored)))
        if isinstance(stored, numbers.Number):
            try:
                return _same_number(float(wanted), stored)
            except ValueError:
                return False
        return str(stored) == wanted
    if isinstance(wanted, numbers.Number) and isinstance(stored, numbers.Number) and not isinstance(stored, bool):
        return _same_number(wanted, stored)
    return stored == wanted


def select(rows: list[dict], *, problem=None, method=None, backend=None, status=None, converged=None,
           tags=None) -> list[dict]:
    """Rows that pass every filter given: text fields equal to the value (or one of a list of
    values), ``converged`` equal, every tag in ``tags`` (a dict, or ``"key=value"`` strings) equal."""
    wanted = {"problem": problem, "method": method, "backend": backend, "status": status}
    for name, v in wanted.items():
        if v is not None and not isinstance(v, (str, list, tuple, set)):
            raise TypeError(f"filter {name}= takes a string or a list of strings, got {type(v).__name__}")
    if converged is not None and not (isinstance(converged, (bool, np.bool_)) or
                                      (isinstance(converged, numbers.Integral) and converged in (0, 1))):
        raise TypeError(f"filter converged= takes True or False, got {converged!r} (a string such as 'False' "
                        "counted as true)")
    if isinstance(tags, (str, list, tuple)):
        tags = dict(parse_tag(t) for t in ([tags] if isinstance(tags, str) else tags))
    elif tags is not None and not isinstance(tags, dict):
        raise TypeError(f"filter tags= takes a dict or key=value strings, got {type(tags).__name__}")
    out = []
    for r in rows:
        ok = True
        for name, v in wanted.items():
            if v is None:
                continue
            values = {v} if isinstance(v, str) else set(v)
            if r.get(name) not in values:
                ok = False
                break
        if ok and converged is not None and bool(r.get("converged")) != bool(converged):
            ok = False
        if ok and tags:
            rt = r.get("tags") or {}
            ok = all(k in rt and _tag_matches(rt[k], v) for k, v in tags.items())
        if ok:
            out.append(r)
    return out


def flatten(rows: list[dict]) -> list[dict]:
    """One flat dict per run: :data:`COLUMNS`, ``final_<history>`` and ``tag_<key>`` columns."""
    finals = sorted({k for r in rows for k in (r.get("final") or {})})
    tag_keys = sorted({k for r in rows for k in (r.get("tags") or {})})
    out = []
    for r in rows:
        d = {c: r.get(c) for c in COLUMNS}
        for k in finals:
            d[f"final_{k}"] = (r.get("final") or {}).get(k)
        for k in tag_keys:
            d[f"tag_{k}"] = (r.get("tags") or {}).get(k)
        out.append(d)
    return out


class UnknownColumn(KeyError, ValueError):
    """A sort key that is no column: a KeyError (as before) and the ValueError that bad input raises."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def sort(rows: list[dict], key: str | None, reverse: bool = False) -> list[dict]:
    """Rows ordered by column ``key`` (missing values last, whatever the direction)."""
    if key is None:
        return list(reversed(rows)) if reverse else rows
    if rows and key not in rows[0]:
        known = sorted({k for r in rows for k in r})
        alias = f"final_{key}" if f"final_{key}" in known else (f"tag_{key}" if f"tag_{key}" in known else None)
        if alias is None:
            raise UnknownColumn(f"cannot sort by {key!r}: the columns are {', '.join(known)}")
        key = alias

    def missing(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    present = [r for r in rows if not missing(r.get(key))]
    absent = [r for r in rows if missing(r.get(key))]
    try:
        present.sort(key=lambda r: r[key], reverse=reverse)
    except TypeError:   # mixed types in a tag column: compare as text
        present.sort(key=lambda r: str(r[key]), reverse=reverse)
    return present + absent


def ordered(rows: list[dict], key: str | None, reverse: bool = False) -> list[dict]:
    """Summary rows (as :meth:`RunStore.list` gives them) in the order of column ``key`` of their
    flat form (``KeyError`` naming the columns when there is no such column)."""
    if key is None:
        return list(reversed(rows)) if reverse else rows
    by_id = {r["run_id"]: r for r in rows}
    return [by_id[r["run_id"]] for r in sort(flatten(rows), key, reverse)]


def frame(rows: list[dict]):
    """A pandas DataFrame of ``rows`` when pandas is installed, else the list itself."""
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else list(COLUMNS))


#: the first bytes of every HDF5 file (a run store among them)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def refuse_hdf5_target(path, what: str) -> None:
    """Refuse to write an export over an HDF5 file (``runs export STORE --csv STORE`` replaced the store)."""
    p = os.path.realpath(os.fspath(path))
    if not os.path.isfile(p):  # absent, a directory, a FIFO or a device (opening a FIFO to read would block)
        return
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(HDF5_SIGNATURE))
    except OSError:            # absent, a directory, unreadable: nothing stored there to lose
        return
    if head == HDF5_SIGNATURE:
        raise ValueError(f"{what}: {os.fspath(path)!r} is an HDF5 file (a run store?); an export never "
                         "overwrites one: choose another output path")


def write_rows(rows: list[dict], fh=None) -> None:
    """``rows`` as CSV into the open text stream ``fh`` (default ``sys.stdout``: ``newtonkit runs export --csv -``)."""
    import sys

    _write_rows(sys.stdout if fh is None else fh, list(rows[0]) if rows else list(COLUMNS), rows)


def write_csv(rows: list[dict], path) -> None:
    """``rows`` (flat dicts with the same keys) as CSV; missing values are empty cells."""
    refuse_hdf5_target(path, "CSV export")
    columns = list(rows[0]) if rows else list(COLUMNS)
    # written under a temporary name and renamed: a failed export never leaves a truncated CSV
    # (nor destroys an earlier one); text UTF-8 cannot hold (a lone surrogate in a tag) is
    # written as its backslash escape
    path = os.fspath(path)
    if os.path.islink(path) and os.path.isfile(path):
        path = os.path.realpath(path)      # a link to a file: the file is replaced, the link kept
    if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
        # /dev/stdout, a FIFO, a dangling link: written through, as an open() does (a rename would put
        # a regular file in place of the pipe or link)
        with open(path, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
            _write_rows(fh, columns, rows)
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):          # named here: the temporary file's error would name only itself
        raise FileNotFoundError(f"cannot write {path!r}: the folder {folder!r} does not exist; create it first")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
            _write_rows(fh, columns, rows)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_rows(fh, columns, rows) -> None:
    w = csv.DictWriter(fh, fieldnames=columns)
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})


def write_parquet(rows: list[dict], path) -> None:
    """``rows`` as Parquet (needs pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("Parquet export needs pyarrow, which is not installed: pip install pyarrow "
                          "(or export CSV with --csv)") from None
    refuse_hdf5_target(path, "Parquet export")
    columns = list(rows[0]) if rows else list(COLUMNS)
    table = pa.table({c: [r.get(c) for r in rows] for c in columns})
    pq.write_table(table, path)


__all__ = ["COLUMNS", "parse_tag", "select", "flatten", "sort", "ordered", "frame", "write_csv", "write_parquet"]
