"""Encoding of Python values in HDF5 groups for :mod:`solvers.runs.store`.

A mapping is written into a group as: NumPy arrays -> datasets; bools, numbers
and strings -> attributes (long strings -> string datasets); ``None``, lists,
tuples and dicts -> JSON text; anything else -> its (truncated) repr (a repr, and JSON that
changes inner types -- tuples inside lists, non-string keys --, are named in a ``RuntimeWarning``
"stored inexactly" after the save). The
encoding of every non-native value is recorded in the group's ``_encoding``
attribute so that :func:`get_mapping` returns the same Python types. Arrays
HDF5 has no type for are stored exactly as integers: text arrays (``<U``) as
their UCS-4 code points, datetime64/timedelta64 arrays as int64 (encodings
``unicode`` and ``dtype:<dtype>``); strings HDF5 cannot hold (a NUL, a lone
surrogate) are stored as JSON text.
"""
from __future__ import annotations

import json
import numbers
import warnings
from typing import Any

import h5py
import numpy as np

ATTR_TEXT_LIMIT = 16_000  # longer strings go to a dataset (attributes live in the 64 KiB object header)
REPR_LIMIT = 2_000
MAX_RANK = 32             # HDF5's largest dataspace rank (NumPy allows 64)
KEY_BYTES_LIMIT = 16_000  # a longer name does not fit HDF5's object header


def hdf5_text(text: str) -> bool:
    """Whether HDF5 can hold ``text`` as a UTF-8 string (no NUL, no lone surrogate)."""
    if "\0" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _put_exact_array(group, key: str, v: np.ndarray, encoding: dict, compression=None) -> bool:
    """Arrays without an HDF5 type, stored exactly as integers; ``False`` for other arrays."""
    kind = v.dtype.kind
    if kind == "U" and v.dtype.itemsize:
        n = v.dtype.itemsize // 4
        codes = np.ascontiguousarray(v, dtype=f"<U{n}").view("<u4").reshape(v.shape + (n,))
        encoding[key] = "unicode"
    elif kind in "Mm":
        codes = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")).view("<i8")
        encoding[key] = f"dtype:{v.dtype.newbyteorder('<').str}"
    else:
        return False
    kw = {"compression": compression} if (compression and codes.ndim > 0 and codes.size > 1) else {}
    group.create_dataset(key, data=codes, **kw)
    return True


def _get_exact_array(data: np.ndarray, enc: str) -> np.ndarray:
    if enc == "unicode":
        n = data.shape[-1]
        return np.ascontiguousarray(data, dtype="<u4").view(f"<U{n}")[..., 0]
    return np.ascontiguousarray(data, dtype="<i8").view(np.dtype(enc[len("dtype:"):]))


def to_host(v):
    """CuPy arrays -> NumPy; everything else unchanged."""
    if type(v).__module__.startswith("cupy") and hasattr(v, "get"):
        return v.get()
    return v


def _json_default(o):
    o = to_host(o)
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def short_repr(v) -> str:
    try:
        r = repr(v)
    except Exception:  # a broken __repr__ must not break a save
        r = f"<{type(v).__name__}>"
    return r if len(r) <= REPR_LIMIT else r[:REPR_LIMIT] + "..."


def put_text(group, key: str, text: str) -> None:
    text = str(text)               # a str subclass (numpy.str_) reached h5py as a '<U' array it cannot store
    if len(text) <= ATTR_TEXT_LIMIT:
        group.attrs[key] = text
    else:
        group.create_dataset(key, data=text, dtype=h5py.string_dtype())


def put_mapping(group, mapping: dict, *, compression=None, skip_callables=False, notes=None) -> None:
    """Write ``mapping`` into ``group``: arrays as datasets, scalars and strings as
    attributes, ``None``/lists/tuples/dicts as JSON, anything else as its repr.
    The encoding of non-native values is recorded in the ``_encoding`` attribute.
    Values that will not load back as they are (a repr, JSON that changes inner types) are
    named in a message appended to ``notes`` (a list; without one, a ``RuntimeWarning``)."""
    encoding: dict[str, str] = {}
    inexact: list[str] = []        # values that will not load back as they are
    skipped: list[str] = []
    renamed: dict[str, Any] = {}
    used: dict[str, Any] = {}      # stored name -> the key stored under it
    for orig, value in mapping.items():
        key = stored_key(orig)
        if key in used:
            raise ValueError(f"keys {orig!r} and {used[key]!r} would be stored under the same name {key!r}; "
                             "rename one of them")
        used[key] = orig
        if key != orig:
            renamed[key] = orig if not isinstance(orig, int) else {"int": orig}
        v = to_host(value)
        if isinstance(v, np.ma.MaskedArray) and np.ma.is_masked(v):     # (as for a masked x: helper-140)
            inexact.append(f"{orig!r} (a masked array: its mask is not stored; the masked entries load as the "
                           "values under the mask)")
        if skip_callables and callable(v) and not isinstance(v, np.ndarray):
            skipped.append(key)
            continue
        if isinstance(v, np.ndarray) and v.ndim > MAX_RANK:       # (h5py: 'Dimensionality is too large')
            raise ValueError(f"RunStore.save: {orig!r} is an array of {v.ndim} dimensions; HDF5 stores at most "
                             f"{MAX_RANK}: reshape it (keep its shape as a tuple beside it)")
        if isinstance(v, np.ndarray) and _put_exact_array(group, key, v, encoding, compression):
            continue
        if isinstance(v, np.ndarray) and v.dtype != object:
            kw = {"compression": compression} if (compression and v.ndim > 0 and v.size > 1) else {}
            group.create_dataset(key, data=v, **kw)
            continue
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if isinstance(v, (bool, np.bool_)):
            group.attrs[key] = np.bool_(v)
            encoding[key] = "bool"
            continue
        if isinstance(v, str):
            if hdf5_text(v):
                put_text(group, key, v)
            else:
                put_text(group, key, json.dumps(v))    # ASCII: NUL and lone surrogates escaped
                encoding[key] = "json"
            continue
        if isinstance(v, numbers.Integral) and not isinstance(v, np.integer) and not -2**63 <= v < 2**63:
            put_text(group, key, str(int(v)))          # beyond int64: exact, as decimal text
            encoding[key] = "bigint"
            continue
        if isinstance(v, (numbers.Number, np.number)) and not isinstance(v, (np.datetime64, np.timedelta64)):
            try:
                group.attrs[key] = v
                continue
            except (TypeError, ValueError, OverflowError):
                pass
        elif v is None or isinstance(v, (list, tuple, dict)):
            try:
                text = json.dumps(v, default=_json_default, allow_nan=True)
            except (TypeError, ValueError):
                text = None
            except RecursionError:                     # (its repr would recurse as deep)
                section = group.name.rsplit("/", 1)[-1] or "/"
                raise ValueError(f"RunStore: {section}[{orig!r}] is nested too deeply to store (its JSON encoding "
                                 "exceeds Python's recursion limit); flatten it, or store it as an array") from None
            if text is not None:
                put_text(group, key, text)
                encoding[key] = "tuple" if isinstance(v, tuple) else "json"
                if not _exact(v, decode(text, encoding[key])):
                    inexact.append(f"{orig!r} (JSON: inner tuples come back as lists, arrays as lists, "
                                   "non-string keys as strings)")
                continue
        put_text(group, key, short_repr(v))
        encoding[key] = "repr"
        inexact.append(f"{orig!r} (a {type(v).__name__}: stored as its repr, loaded as a string)")
    if inexact:
        section = group.name.rsplit("/", 1)[-1] or "/"
        msg = (f"RunStore: stored inexactly: {section} {'; '.join(inexact)}; the stored run keeps that form "
               "(convert such values to numbers, strings, arrays or plain lists first)")
        if notes is None:
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        else:
            notes.append(msg)
    if encoding:
        group.attrs["_encoding"] = json.dumps(encoding)
    if skipped:
        group.attrs["_skipped"] = json.dumps(skipped)
    if renamed:
        group.attrs["_keys"] = json.dumps(renamed)


def _exact(a, b) -> bool:
    """Whether ``b`` (a value read back from JSON) is ``a`` again, types included (a NumPy scalar counts as the
    Python number it holds; NaN equals NaN)."""
    if isinstance(a, np.generic) and not isinstance(a, (np.datetime64, np.timedelta64)):
        a = a.item()
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(_exact(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_exact(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def stored_key(key) -> str:
    """The HDF5 name under which mapping key ``key`` is stored (``_keys`` maps it back).

    HDF5 names cannot hold ``/`` or NUL, and names starting with ``_`` are this module's
    bookkeeping; such keys, and non-string keys, are stored under an escaped name and
    restored exactly by :func:`get_mapping`.
    """
    if isinstance(key, str) and len(key.encode("utf-8", "surrogatepass")) > KEY_BYTES_LIMIT:
        raise ValueError(f"mapping key {key[:40]!r}... is {len(key.encode('utf-8', 'surrogatepass'))} bytes long; "
                         f"HDF5 names hold at most {KEY_BYTES_LIMIT} bytes: use a shorter key")
    if isinstance(key, str) and key and hdf5_text(key) and "/" not in key and not key.startswith(("_", ".")):
        return key
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"mapping keys must be str or int, got {type(key).__name__} ({key!r})")
    text = str(key)
    return "_k" + text.encode("utf-8", "surrogatepass").hex()


def decode(value, enc: str | None):
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if enc in ("json", "tuple"):
        out = json.loads(value)
        return tuple(out) if enc == "tuple" else out
    if enc == "bool":
        return bool(value)
    if enc == "bigint":
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def get_mapping(group) -> dict:
    encoding = json.loads(group.attrs.get("_encoding", "{}"))
    names = json.loads(group.attrs.get("_keys", "{}"))

    def original(key):
        k = names.get(key, key)
        return k["int"] if isinstance(k, dict) else k

    out: dict[Any, Any] = {}
    for key, value in group.attrs.items():
        if key.startswith("_") and key not in names:
            continue
        out[original(key)] = decode(value, encoding.get(key))
    for key, ds in group.items():
        if not isinstance(ds, h5py.Dataset):
            continue
        enc = encoding.get(key)
        if h5py.check_string_dtype(ds.dtype) is not None and ds.shape == ():
            out[original(key)] = decode(ds[()], enc)
        elif enc is not None and (enc == "unicode" or enc.startswith("dtype:")):
            out[original(key)] = _get_exact_array(ds[...], enc)
        else:
            out[original(key)] = ds[...]
    return out


def describe_problem(problem) -> dict:
    """Description stored for ``problem``: ``problem.describe()`` when it offers one
    (a dict of scalars / small arrays), plus its type; otherwise its type, repr and
    plain-data public attributes (numbers, strings, short tuples, small arrays,
    names of callables)."""
    if problem is None:
        return {}
    cls = type(problem)
    out = {"type": f"{cls.__module__}.{cls.__qualname__}"}
    describe = getattr(problem, "describe", None)
    if callable(describe):
        d = describe()
        if not isinstance(d, dict):
            raise TypeError(f"{cls.__name__}.describe() must return a dict, got {type(d).__name__}")
        out.update(d)
    else:
        out["repr"] = short_repr(problem)
        out.update(_simple_attributes(problem))
    return out


def _simple_attributes(obj, max_items: int = 32) -> dict:
    """Public attributes of ``obj`` that are plain data: numbers, strings, short tuples of
    numbers, small arrays; callables are named (their qualified name), the rest left out."""
    out = {}
    for key, v in list(getattr(obj, "__dict__", {}).items()):
        if key.startswith("_") or key in ("type", "repr") or len(out) >= max_items:
            continue
        v = to_host(v)
        if v is None or isinstance(v, (bool, str, numbers.Number, np.generic)):
            out[key] = v
        elif isinstance(v, np.ndarray) and v.size <= 64:
            out[key] = v
        elif isinstance(v, (tuple, list)) and len(v) <= 16 and all(
                isinstance(e, (numbers.Number, str)) or (isinstance(e, (tuple, list)) and len(e) <= 4
                                                         and all(isinstance(t, numbers.Number) for t in e))
                for e in v):
            out[key] = v
        elif callable(v) and not isinstance(v, type):
            out[key] = f"<function {getattr(v, '__qualname__', type(v).__name__)}>"
    return out


__all__ = ["hdf5_text", "to_host", "short_repr", "put_text", "put_mapping", "decode", "get_mapping", "describe_problem",
           "stored_key"]
