"""Particle systems for tests, demos and benchmarks: cubic lattices and bio-molecule-like clouds."""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import _checks


class Particles(NamedTuple):
    """Point charges in a box: ``positions`` (N, 3), ``charges`` (N,), ``box`` (3 (lo, hi) pairs)."""

    positions: np.ndarray
    charges: np.ndarray
    box: tuple


def _rng(seed):
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be None, a non-negative integer or a numpy.random.Generator, got {seed!r:.60}")
    return np.random.default_rng(int(seed))


def cubic_lattice(size=(24, 24, 4), spacing: float = 1.0, charges: str = "alternating", *, seed=None,
                  padding: float | None = None) -> Particles:
    """Charges on a rectangular ``n1 x n2 x n3`` lattice centred at the origin.

    The lattice-type compound of the range-separated and Chebyshev-Tucker papers
    (Benner, Khoromskaia, Khoromskij 2018; Benner, Khoromskij, Khoromskaia, Sun 2025).

    Parameters
    ----------
    size : 3 positive integers, default (24, 24, 4)
    spacing : float, default 1.0
        Lattice step (> 0).
    charges : {"alternating", "random", "positive"}
        ``(-1)^(i+j+k)`` (rock-salt), independent random signs, or all ``+1``.
    seed : int, Generator or None
        For ``charges="random"``.
    padding : float, optional
        Gap between the outer particles and the box faces (default: ``spacing``).

    Returns
    -------
    Particles
        ``positions[i] = spacing * (idx - (n - 1) / 2)``, in C order of the indices.
    """
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 3:
        raise ValueError(f"size must be 3 positive integers, got {size!r:.60}")
    n = [_checks.count(f"size[{i}]", s) for i, s in enumerate(size)]
    _checks.check_memory(f"cubic_lattice(size={tuple(n)})", 40.0 * n[0] * n[1] * n[2], "use a smaller size")
    spacing = _checks.real_scalar("spacing", spacing, positive=True)
    padding = spacing if padding is None else _checks.real_scalar("padding", padding, nonneg=True)
    axes = [spacing * (np.arange(k) - (k - 1) / 2.0) for k in n]
    grid = np.meshgrid(*axes, indexing="ij")
    pos = np.stack([g.ravel() for g in grid], axis=1)
    idx = np.indices(n).reshape(3, -1).sum(0)
    if charges == "alternating":
        z = np.where(idx % 2 == 0, 1.0, -1.0)
    elif charges == "random":
        z = _rng(seed).choice([-1.0, 1.0], size=pos.shape[0])
    elif charges == "positive":
        z = np.ones(pos.shape[0])
    else:
        raise ValueError(f"charges must be 'alternating', 'random' or 'positive', got {charges!r:.60}")
    box = tuple((float(a[0] - padding), float(a[-1] + padding)) for a in axes)
    return Particles(pos, z, box)


def random_cloud(N: int = 500, *, seed=None, box=None, bond: float = 1.5, min_separation: float = 1.2,
                 density: float = 0.05, padding: float = 2.0) -> Particles:
    """A bio-molecule-like cloud: a branched self-avoiding chain of ``N`` atoms with partial charges.

    Atoms are placed one by one at distance ``bond`` from a previous atom (the last one,
    or a random earlier one when the chain is stuck: side branches), in a random
    direction, keeping at least ``min_separation`` from every other atom and ``padding``
    from the box faces. Charges are normal partial charges (standard deviation 0.4) made
    neutral by subtracting their mean, like the atomic charges of a protein.

    Parameters
    ----------
    N : int, default 500
        Number of atoms (1 <= N <= 100000).
    seed : int, Generator or None
    box : 3 (lo, hi) pairs, optional
        Default: a cube centred at the origin holding ``N / density`` volume plus padding.
    bond, min_separation : float
        Step length and minimum distance (``0 < min_separation <= bond``).
    density : float, default 0.05
        Atoms per unit volume of the default box (> 0; about the heavy-atom density of a
        protein in atoms per cubic angstrom when lengths are in angstrom).
    padding : float, default 2.0
        Distance kept from the box faces (>= 0).

    Returns
    -------
    Particles
    """
    N = _checks.count("N", N)
    if N > 100_000:
        raise ValueError(f"N must be <= 100000 (the placement is O(N^2)), got {N}")
    bond = _checks.real_scalar("bond", bond, positive=True)
    min_separation = _checks.real_scalar("min_separation", min_separation, positive=True)
    if min_separation > bond:
        raise ValueError(f"min_separation ({min_separation:g}) must be <= bond ({bond:g})")
    density = _checks.real_scalar("density", density, positive=True)
    padding = _checks.real_scalar("padding", padding, nonneg=True)
    rng = _rng(seed)
    if box is None:
        half = 0.5 * (N / density) ** (1.0 / 3.0) + padding
        box = ((-half, half),) * 3
    box = tuple(_checks.domain("box", box, 3))
    lo = np.array([b[0] for b in box]) + padding
    hi = np.array([b[1] for b in box]) - padding
    if np.any(hi <= lo):
        raise ValueError(f"box={box} is too small for padding={padding:g}")
    pos = np.empty((N, 3))
    pos[0] = 0.5 * (lo + hi)
    tip, misses = 0, 0
    k = 1
    while k < N:
        v = rng.normal(size=3)
        cand = pos[tip] + bond * v / np.linalg.norm(v)
        ok = np.all(cand >= lo) and np.all(cand <= hi)
        if ok:
            d2 = ((pos[:k] - cand) ** 2).sum(1)
            ok = d2.min() >= min_separation ** 2 * (1 - 1e-12)
        if ok:
            pos[k] = cand
            tip, misses, k = k, 0, k + 1
            continue
        misses += 1
        if misses % 30 == 0:
            tip = int(rng.integers(k))     # branch from a random earlier atom
        if misses > 30 * (N + 100):
            raise ValueError(f"random_cloud could not place {N} atoms in box={box}; "
                             "use a larger box, a lower density or a smaller min_separation")
    z = rng.normal(scale=0.4, size=N)
    z -= z.mean()
    return Particles(pos, z, box)


__all__ = ["Particles", "cubic_lattice", "random_cloud"]
