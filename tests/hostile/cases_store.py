"""Hostile inputs and storage faults for RunStore (issue 7, class 7).

Each case returns "clear_error" (a RunStore/ValueError/TypeError/KeyError naming the file,
run or tag), "verified" (the data read back equals what was saved, or the damage was
reported for exactly the damaged run), or "wrong".
"""
import math
import tempfile
from pathlib import Path

import h5py
import numpy as np

import solvers
from solvers.runs.store import DamagedRunError, DamagedStoreError, RunStore


def _res(i=0, n=3000):
    rng = np.random.default_rng(i)
    return solvers.SolveResult(rng.standard_normal(n), True, "converged", "ok", 2,
                               history={"residual": np.array([1.0, 0.1, 0.01])}, stats={"time_s": 0.1},
                               method="cg", backend="numpy", options={"rtol": 1e-8})


def _store_with(k=2):
    d = Path(tempfile.mkdtemp())
    p = d / "r.h5"
    ids = []
    with RunStore(p) as s:
        for i in range(k):
            ids.append(s.save(_res(i)))
    return p, ids


def _named(exc, *names):
    return "clear_error" if all(n in str(exc) for n in names) else ("wrong", f"unclear: {exc}")


def _flip_data(offset_in_x):
    def case():
        p, ids = _store_with()
        with h5py.File(p, "r") as f:
            ds = f["runs"][ids[1]]["x"]
            off = ds.id.get_offset()
            off = off if off is not None else ds.id.get_chunk_info(0).byte_offset
        with open(p, "r+b") as fh:
            fh.seek(off + offset_in_x)
            b = fh.read(1)
            fh.seek(off + offset_in_x)
            fh.write(bytes([b[0] ^ 0x01]))
        with RunStore(p, "r") as s:
            if not np.array_equal(s.load(ids[0]).x, _res(0).x):
                return "wrong", "the intact run changed"
            try:
                s.load(ids[1])
            except DamagedRunError as exc:
                return "verified" if ids[1] in str(exc) else ("wrong", str(exc))
        return "wrong", "a flipped byte loaded silently"
    return case


def _change_attr(name, value):
    def case():
        p, ids = _store_with(1)
        with h5py.File(p, "r+") as f:
            f["runs"][ids[0]].attrs[name] = value
        with RunStore(p, "r") as s:
            try:
                s.load(ids[0])
            except DamagedRunError as exc:
                return "verified" if ids[0] in str(exc) else ("wrong", str(exc))
        return "wrong", f"changed attribute {name} loaded silently"
    return case


def _truncate(frac):
    def case():
        p, _ = _store_with()
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * frac)])
        try:
            RunStore(p, "r").list()
        except (DamagedStoreError, ValueError) as exc:
            return _named(exc, "r.h5")
        return "wrong", "a truncated store listed without complaint"
    return case


def _superblock(start, stop):
    def case():
        p, _ = _store_with()
        data = bytearray(p.read_bytes())
        for k in range(start, stop):
            data[k] ^= 0xFF
        p.write_bytes(bytes(data))
        try:
            n = len(RunStore(p, "r").list())
        except (DamagedStoreError, ValueError) as exc:
            return _named(exc, "r.h5")
        return ("verified" if n == 2 else ("wrong", f"damaged store listed {n} runs"))
    return case


def _tag(key, value):
    def case():
        p, _ = _store_with(0)
        with RunStore(p) as s:
            try:
                rid = s.save(_res(), tags={key: value})
            except (ValueError, TypeError) as exc:
                return _named(exc, "tag")
            back = s.load(rid).tags
        ok = list(back) == [key] and (back[key] == value or (isinstance(value, float) and math.isnan(value)
                                                             and math.isnan(back[key])))
        return "verified" if ok and type(back[key]) is type(value) else ("wrong", f"{key!r}: {back}")
    return case


def _resolve(key):
    def case():
        p, _ = _store_with()
        with RunStore(p, "r") as s:
            try:
                s.resolve(key)
            except KeyError as exc:
                return _named(exc, str(key))
        return "wrong", f"{key!r} resolved to a run"
    return case


def _format_version(v):
    def case():
        p, _ = _store_with(1)
        with h5py.File(p, "r+") as f:
            f.attrs["format_version"] = v
        try:
            RunStore(p, "r")
        except ValueError as exc:
            return _named(exc, "format_version")
        return "wrong", f"format_version {v!r} accepted"
    return case


def _nan_time():
    p, _ = _store_with(0)
    r = _res()
    r.stats["time_s"] = float("nan")
    with RunStore(p) as s:
        rid = s.save(r)
        row = s.list()[0]
        return "verified" if row["run_id"] == rid and row["time_s"] is None else ("wrong", str(row))


def _salvage():
    p, ids = _store_with(3)
    with h5py.File(p, "r+") as f:
        f["runs"][ids[1]].attrs["status"] = "maxiter"
    out = RunStore.salvage(p, p.with_name("rescued.h5"))
    ok = out["copied"] == [ids[0], ids[2]] and list(out["damaged"]) == [ids[1]]
    return "verified" if ok else ("wrong", str(out))


def _not_a_store(content):
    def case():
        d = Path(tempfile.mkdtemp())
        p = d / "x.h5"
        p.write_bytes(content)
        try:
            RunStore(p, "r")
        except (ValueError, OSError) as exc:
            return _named(exc, "x.h5")
        return "wrong", "accepted"
    return case


def _save_bad(obj):
    def case():
        p, _ = _store_with(0)
        with RunStore(p) as s:
            try:
                s.save(obj)
            except TypeError as exc:
                return _named(exc, "SolveResult")
        return "wrong", "saved"
    return case


CASES = [
    *[(f"flip x byte {o}", _flip_data(o)) for o in (0, 7, 1000, 8000, 23999)],
    *[(f"change attr {k}", _change_attr(k, v)) for k, v in (("nit", 7), ("converged", False), ("method", "gmres"),
                                                             ("status", "maxiter"), ("time_s", 9.0))],
    *[(f"truncate {f}", _truncate(f)) for f in (0.05, 0.3, 0.5, 0.9)],
    *[(f"superblock {a}-{b}", _superblock(a, b)) for a, b in ((8, 40), (0, 8), (40, 96))],
    *[(f"tag {k!r}={v!r}", _tag(k, v)) for k, v in (("a/b", 1), ("_x", 1), ("nul\0", 1), (1, "x"),
                                                     ("big", 2**70), ("v", "a\0b"), ("arr", np.ones(3)), ("", 1),
                                                     ("ok", "ünï ✓"), ("n", -(2**63)), ("f", 1e-300),
                                                     ("inf", math.inf), ("nan", math.nan), ("b", True),
                                                     (".hidden", 1), ("obj", object()))],
    *[(f"resolve {k!r}", _resolve(k)) for k in ("-0", "-3", "-99", "", "zzz", "0")],
    *[(f"format_version {v!r}", _format_version(v)) for v in (0, 3, 99, "two")],
    ("NaN time_s saves", _nan_time),
    ("salvage skips the damaged run", _salvage),
    *[(f"not a store {c[:8]!r}", _not_a_store(c)) for c in (b"", b"hello world", b"\x89HDF\r\n\x1a\n" + b"\0" * 40)],
    *[(f"save {type(o).__name__}", _save_bad(o)) for o in (None, {"x": 1}, np.zeros(3))],
]
