"""``hs(name)``: the built-in equality-constrained test problems by their CUTEst names.

Every problem is the CUTEst equality-constrained form without bounds, with the
standard starting point, the published optimal value ``f_star`` and, where
published, an optimal point ``x_star``; ``problem.source`` says where each one
comes from. The scalable problems take their size as a keyword
(``hs("GENHS28", n=100)``); see :mod:`problems.nlp.scalable`.
"""
from __future__ import annotations

import inspect

from . import boggs_tolle as _bt
from . import equations as _eq
from . import hock_schittkowski as _hs_mod
from . import hock_schittkowski_extra as _hsx
from . import scalable as _sc
from .problem import EqualityConstrainedProblem

_REGISTRY = {cls.name: cls for cls in (
    _hs_mod.HS6, _hs_mod.HS7, _hs_mod.HS26, _hs_mod.HS27, _hs_mod.HS28,
    _hsx.HS39, _hs_mod.HS40, _hs_mod.HS42, _hsx.HS46, _hs_mod.HS47, _hs_mod.HS48, _hsx.HS49, _hsx.HS50,
    _hs_mod.HS51, _hs_mod.HS52, _hs_mod.HS56, _hsx.HS61, _hs_mod.HS77, _hs_mod.HS78, _hsx.HS79,
    _bt.BT2, _bt.BT3, _bt.BT6, _bt.BT9, _bt.BT10, _bt.BT11, _bt.BT12,
    _eq.BOOTH, _eq.HIMMELBA, _sc.GENHS28,
)}

#: the names :func:`hs` knows, in catalogue order
HS_NAMES: tuple[str, ...] = tuple(_REGISTRY)


def hs(name: str, **size) -> EqualityConstrainedProblem:
    """A built-in equality-constrained test problem by name.

    Parameters
    ----------
    name : str
        A name from :data:`HS_NAMES` (case-insensitive), e.g. ``"HS47"``,
        ``"BT11"``, ``"GENHS28"``.
    **size
        Size parameters of the scalable problems only (e.g. ``n=100`` for
        ``"GENHS28"``); a fixed-size problem takes none.

    Returns
    -------
    EqualityConstrainedProblem
        With ``name``, ``source``, ``f_star`` and (where published) ``x_star`` set.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), or a bad size.
    TypeError
        ``name`` is not a string, or a size keyword the problem does not take.

    References
    ----------
    W. Hock and K. Schittkowski, *Test Examples for Nonlinear Programming
    Codes*, Springer, 1981; K. Schittkowski, *More Test Examples for Nonlinear
    Programming Codes*, Springer, 1987; the CUTEst SIF collection.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'HS47', got {type(name).__name__} {name!r:.40}")
    key = name.strip().upper()
    if key not in _REGISTRY:
        raise ValueError(f"unknown problem {name!r}; known: {', '.join(HS_NAMES)}")
    cls = _REGISTRY[key]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"] \
        if cls.__init__ is not object.__init__ else []
    extra = set(size) - set(params)
    if extra:
        takes = f"takes only {', '.join(params)}" if params else "has a fixed size and takes no size keywords"
        raise TypeError(f"{key} {takes}; got {', '.join(sorted(extra))}")
    return cls(**size).build()


__all__ = ["hs", "HS_NAMES"]
