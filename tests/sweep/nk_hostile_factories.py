"""Factories for tests/sweep/test_hostile_fixes.py, imported by dotted path (``nk_hostile_factories:...``)."""
from problems import pde


class BadDescribe(pde.Poisson):
    """A Poisson problem whose ``describe()`` raises (a third-party problem with a bug)."""

    def describe(self):
        raise RuntimeError("describe broke")


def bad_describe(n):
    return BadDescribe((n, n))


def exits(n):
    """A factory that calls ``sys.exit(3)`` (its SystemExit killed the Dask worker running it)."""
    raise SystemExit(3)


def interrupts(n):
    raise KeyboardInterrupt


def labelled(n, label="", **extra):
    """A Poisson problem with parameters a tag cannot hold (a NUL in a string, '=' in a name, 2**70)."""
    return pde.Poisson((n, n))
