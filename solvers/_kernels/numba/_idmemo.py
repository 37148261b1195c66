"""Memoisation by the identity of read-only input objects (the transfer tables a memoised geometric hierarchy,
:mod:`solvers.linear.multigrid_memo`, hands every hierarchy of a grid): what the multigrid kernel set derives
from those tables (the split levels' table forms, the compiled tail's typed lists, the ring check) is built once
per table, not once per hierarchy. An entry keeps its objects alive, so an ``id`` is never reused while the
entry is kept; a hit is checked by ``is`` all the same."""


def memo(store: dict, objs, extra, build, limit: int = 256):
    """``build()`` for the objects ``objs`` (compared by identity) and the hashable ``extra``, memoised in
    ``store`` (cleared whole once it holds ``limit`` entries)."""
    objs = tuple(objs)
    key = (tuple(map(id, objs)), extra)
    hit = store.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], objs)):
        return hit[1]
    out = build()
    if len(store) >= limit:
        store.clear()
    store[key] = (objs, out)
    return out
