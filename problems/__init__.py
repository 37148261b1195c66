"""Problem modules that plug into :mod:`solvers`: ``ot``, ``pde``, ``nlp``, ``potentials``.

Submodules are imported on first access (``from problems import ot``).
"""
import importlib

_SUB = ("ot", "pde", "nlp", "potentials")


def __getattr__(name):
    if name in _SUB:
        mod = importlib.import_module(f"problems.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'problems' has no attribute {name!r}")


__all__ = list(_SUB)
