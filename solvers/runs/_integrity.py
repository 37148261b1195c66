"""Integrity of stored runs: per-run digests, tag checks, and the errors that name damage.

Every run carries a SHA-256 ``digest`` of everything stored for it (datasets' names,
dtypes, shapes and bytes; attributes' names and values, except ``digest`` and
``complete``), computed by reading the run back from the file before it is marked
complete; :func:`verify_group` recomputes it on load.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import re
import shutil
import tempfile
import warnings

import h5py
import numpy as np

from ._encoding import decode as _decode
from ._encoding import stored_key as _stored_key

_UNHASHED_ATTRS = ("digest", "complete")


class DamagedStoreError(OSError):
    """The store file cannot be read as HDF5 (truncated, damaged superblock...); the message names it."""


#: what h5py raises when a file's metadata is damaged (a failed checksum, a garbled header, attribute table
#: or attribute type). Only these count as a run's damage: MemoryError, KeyboardInterrupt and the like
#: propagate as what they are
HDF5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError)


class DamagedRunError(ValueError):
    """A stored run does not match its digest (or cannot be read); the message names the run."""


#: x86's 80-bit long double sits in 16 bytes (a complex one in 32): the 6 padding bytes after each 10-byte value
#: read back uninitialised, so they are zeroed before hashing (exact, and the same bytes as the plain digest
#: wherever the padding read back as zeros, as it does for real long doubles)
_PADDED = frozenset({np.dtype(np.longdouble), np.dtype(np.clongdouble)}
                    - {np.dtype(np.float64), np.dtype(np.complex128)}) if np.finfo(np.longdouble).nmant == 63 \
    else frozenset()


def _value_bytes(a: np.ndarray) -> bytes:
    """The bytes of ``a`` (C order), with the padding of 80-bit extended values zeroed."""
    a = np.ascontiguousarray(a)
    if a.dtype.newbyteorder("=") not in _PADDED or not a.dtype.isnative:
        return a.tobytes()
    b = a.view(np.uint8).reshape(-1, 16).copy()
    b[:, 10:] = 0
    return b.tobytes()


def digest_group(g) -> str:
    """SHA-256 over everything stored below ``g``: names, dtypes, shapes and bytes of datasets,
    names and values of attributes (except ``digest`` and ``complete``), in a fixed order (the padding
    bytes of 80-bit extended values zeroed: :data:`_PADDED`)."""
    h = hashlib.sha256()

    def feed_value(v):
        a = np.asarray(v)
        if a.dtype.kind in "OSU":
            text = json.dumps(a.tolist(), default=lambda o: o.decode("utf-8", "replace")
                              if isinstance(o, bytes) else repr(o))
            h.update(b"T" + text.encode("utf-8"))
        else:
            h.update(a.dtype.str.encode() + repr(a.shape).encode() + _value_bytes(a))

    def walk(obj, path):
        for k in sorted(obj.attrs.keys()):
            if obj is g and k in _UNHASHED_ATTRS:
                continue
            h.update(f"@{path}/{k}".encode("utf-8"))
            feed_value(obj.attrs[k])
        if isinstance(obj, h5py.Group):
            for k in sorted(obj.keys()):
                child = obj[k]
                if isinstance(child, h5py.Group):
                    h.update(f"G{path}/{k}".encode("utf-8"))
                    walk(child, f"{path}/{k}")
                else:
                    h.update(f"D{path}/{k}".encode("utf-8"))
                    feed_value(child[()])
                    walk(child, f"{path}/{k}")

    walk(g, "")
    return h.hexdigest()


def check_tags(tags) -> dict:
    """Tags must round-trip exactly: str keys HDF5 can name, scalar values; refuse the rest."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise TypeError(f"tags must be a dict of str -> scalar, got {type(tags).__name__}")
    for k, v in tags.items():
        if not isinstance(k, str):
            raise TypeError(f"tag key {k!r} is a {type(k).__name__}; tag keys must be strings")
        if not k or "/" in k or "=" in k or "\0" in k or k.startswith(("_", ".")):
            raise ValueError(f"tag key {k[:60]!r} is not allowed: use a non-empty name without '/', '=' or NUL "
                             "that does not start with '_' or '.' (a key with '=' could not be selected by "
                             "--tag KEY=VALUE)")
        _stored_key(k)           # the name HDF5 must hold (a key beyond its length limit is refused here)
        if isinstance(v, str):
            if "\0" in v:
                raise ValueError(f"tag {k!r}: the value contains a NUL character, which HDF5 strings cannot hold")
        elif isinstance(v, (bool, np.bool_)):
            pass
        elif isinstance(v, numbers.Integral):
            if not -2**63 <= int(v) < 2**63:
                raise ValueError(f"tag {k!r}: integer {v} does not fit in 64 bits; store it as a string")
        elif isinstance(v, numbers.Real):
            pass
        else:
            raise TypeError(f"tag {k!r}: value of type {type(v).__name__} is not a scalar; tags take str, bool, "
                            "int or float (put arrays and structures in the result or problem description)")
    return dict(tags)


def verify_group(g, run_id: str, path) -> None:
    """Raise :class:`DamagedRunError` naming ``run_id`` when the run does not match its digest or any
    part of it cannot be read (nothing to compare for runs written by format version 1). HDF5 reports
    damaged metadata as assorted exceptions (``OSError``, ``KeyError``, ``RuntimeError``, even a
    ``TypeError`` for a garbled attribute type): every one of them is the run's damage here."""
    try:
        stored = g.attrs.get("digest") if is_complete(g, run_id, path) else None
        if stored is None:
            return
        actual = digest_group(g)
        stored = _decode(stored, None)
    except DamagedRunError:
        raise
    except HDF5_ERRORS as exc:  # Fletcher-32 mismatch, unreadable chunk or header, garbled attribute
        raise DamagedRunError(f"RunStore: run {run_id!r} in {str(path)!r} is damaged: its data cannot be "
                              f"read ({type(exc).__name__}: {exc})") from exc
    if actual != stored:
        if _holds_complex_extended(g):
            # saved before the padding was zeroed: its digest covered uninitialised bytes, so no digest can
            # match it; reading it is the only way not to lose it (it is read unverified, and says so)
            warnings.warn(f"RunStore: run {run_id!r} in {str(path)!r} holds complex long double values and was "
                          "saved by a newtonkit whose digest covered their uninitialised padding bytes: it is read "
                          "without verification", RuntimeWarning, stacklevel=3)
            return
        raise DamagedRunError(f"RunStore: run {run_id!r} in {str(path)!r} is damaged: its content does not "
                              "match the digest written when it was saved (a changed byte)")


def _holds_complex_extended(g) -> bool:
    """Whether an attribute or dataset below ``g`` is an 80-bit complex long double (see :data:`_PADDED`)."""
    if not _PADDED:
        return False
    want = np.dtype(np.clongdouble)

    def holds(obj) -> bool:
        if any(np.asarray(v).dtype == want for v in obj.attrs.values()):
            return True
        if isinstance(obj, h5py.Dataset):
            return obj.dtype == want
        return any(holds(child) for child in obj.values())
    try:
        return holds(g)
    except HDF5_ERRORS:
        return False


def is_complete(g, run_id: str, path) -> bool:
    """Whether the run group ``g`` is marked complete; :class:`DamagedRunError` when its attributes
    cannot be read (``attrs.get`` alone answers None for a group whose attribute table is damaged,
    which made a listed run look incomplete: salvage skipped it, load called it missing)."""
    try:
        names = set(g.attrs.keys())
        return "complete" in names and bool(g.attrs["complete"])
    except HDF5_ERRORS as exc:
        raise DamagedRunError(f"RunStore: run {run_id!r} in {str(path)!r} is damaged: its attributes cannot be "
                              f"read ({type(exc).__name__}: {exc})") from exc


def open_run(runs, run_id: str, path):
    """The hard-linked group ``runs[run_id]`` (None when it is absent, a link or not a group: no run);
    :class:`DamagedRunError` when its header cannot be read."""
    if not run_id or run_id in (".", "..") or "/" in run_id:      # HDF5 path syntax, not a run id ('.' is the
        return None                                                # /runs group itself: it was called damaged)
    try:
        if not isinstance(runs.get(run_id, getlink=True), h5py.HardLink):
            return None
        g = runs[run_id]
    except HDF5_ERRORS as exc:
        raise DamagedRunError(f"RunStore: run {run_id!r} in {str(path)!r} is damaged: its group cannot be opened "
                              f"({type(exc).__name__}: {exc})") from exc
    return g if isinstance(g, h5py.Group) else None


def copy_intact_runs(source, dest_file) -> dict:
    """Copy the complete runs of the store file ``source`` that read back and match their digest
    into the open h5py file ``dest_file``; ``{"copied": [...], "damaged": {run_id: reason}}``."""
    copied, damaged = [], {}
    padded = None
    try:
        src = h5py.File(source, "r")
    except OSError as exc:
        padded = _padded_copy(source, dest_file, exc)    # a truncated file: its lost tail padded in a copy
        try:
            src = h5py.File(padded, "r") if padded is not None else None
        except OSError:
            src = None
        if src is None:
            if padded is not None:
                os.unlink(padded)
            raise DamagedStoreError(f"RunStore.salvage: {str(source)!r} cannot be opened by HDF5 at all ({exc}); "
                                    "no run can be recovered from it") from exc
    try:
        return _copy_from(src, source, dest_file, copied, damaged)
    finally:
        src.close()
        if padded is not None:
            os.unlink(padded)


def _padded_copy(source, dest_file, exc):
    """A copy of the truncated store file ``source`` padded with zeros to the end HDF5 recorded (``stored_eof`` in
    ``exc``), next to the destination; ``None`` when ``exc`` is not a truncation. The runs in the lost tail fail
    their digest check and are named damaged; those before it read back (a store that lost its last bytes
    recovered nothing before; outside probe helper-85)."""
    # HDF5's own wording of a truncation ("truncated file: eof = N, sblock->base_addr = 0, stored_eof = M", HDF5
    # 1.10 - 1.14); another wording leaves the file refused as before
    m = re.search(r"eof = (\d+).*stored_eof = (\d+)", str(exc))
    if m is None or int(m.group(2)) <= int(m.group(1)) or int(m.group(2)) > 4 * max(int(m.group(1)), 1 << 20):
        return None
    fd, tmp = tempfile.mkstemp(suffix=".h5", prefix=".salvage-", dir=os.path.dirname(dest_file.filename) or ".")
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.truncate(tmp, int(m.group(2)))
    return tmp


def _copy_from(src, source, dest_file, copied, damaged):
    with src:
        try:
            ids = list(src["runs"].keys())
        except HDF5_ERRORS as exc:             # (a RuntimeError from a damaged link table: helper-98)
            raise DamagedStoreError(f"RunStore.salvage: the run index of {str(source)!r} is unreadable ({exc})"
                                    ) from exc
        runs = dest_file.require_group("runs")
        for rid in ids:
            try:
                g = open_run(src["runs"], rid, source)
                if g is None or not is_complete(g, rid, source):
                    continue          # a link is no run (following one can loop or open another file)
                verify_group(g, rid, source)
                src.copy(g, runs, name=rid)
                copied.append(rid)
            except HDF5_ERRORS as exc:
                damaged[rid] = str(exc) if isinstance(exc, DamagedRunError) else f"{type(exc).__name__}: {exc}"
                if rid in runs:
                    del runs[rid]
    return {"copied": copied, "damaged": damaged}


__all__ = ["DamagedStoreError", "DamagedRunError", "digest_group", "check_tags", "verify_group",
           "copy_intact_runs"]
