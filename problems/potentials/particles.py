"""Multi-particle potentials ``sum_nu z_nu P(x - x_nu)`` of a Gaussian-sum kernel, as CP tensors.

``P(x - y) = sum_k c_k prod_i exp(-t_k^2 (x_i - y_i)^2)``, so the potential of
``N`` particles is a canonical tensor of rank ``R N`` whose factors are shifted
1-D Gaussians ([BKK18]_). :class:`ParticlePotential` hands these factors to
:func:`solvers.chebtucker` (``cp_factors(nodes)``) and evaluates the sum
directly at points (the reference, :mod:`._direct`).

References
----------
.. [BKK18] P. Benner, V. Khoromskaia, B. N. Khoromskij, "Range-separated tensor format for
   many-particle modeling", SIAM J. Sci. Comput. 40 (2018) A1034-A1062 (arXiv:1606.09218).
.. [BKKS25] P. Benner, B. N. Khoromskij, V. Khoromskaia, B. Sun, "A mesh-free hybrid
   Chebyshev-Tucker tensor format with applications to multi-particle modelling",
   arXiv:2503.01696 (2025).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _checks
from . import _direct
from .kernels import GaussianSum, _check_nodes, newton_kernel


def _check_particles(positions, charges) -> tuple[np.ndarray, np.ndarray]:
    x = _checks.real_array("positions", positions, ndims=(2,), what="(N, 3) array of positions")
    if x.shape[1] != 3 or x.shape[0] < 1:
        raise ValueError(f"positions must have shape (N, 3) with N >= 1, got {x.shape}")
    z = _checks.real_array("charges", charges, ndims=(1,), what="1-D array of charges")
    if z.shape[0] != x.shape[0]:
        raise ValueError(f"charges must have one entry per particle ({x.shape[0]}), got {z.shape[0]}")
    return np.ascontiguousarray(x), np.ascontiguousarray(z)


def _check_box(box, positions=None):
    if box is None:
        if positions is None:
            raise ValueError("box is required")
        lo, hi = positions.min(0), positions.max(0)
        pad = np.maximum(0.1 * (hi - lo), 1.0)
        return tuple((float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad))
    box = tuple(_checks.domain("box", box, 3))
    if positions is not None:
        out = [(positions[:, i] < lo) | (positions[:, i] > hi) for i, (lo, hi) in enumerate(box)]
        if np.any(out):
            raise ValueError(f"{int(np.any(out, axis=0).sum())} particles lie outside box={box}; enlarge the box")
    return box


class ParticlePotential:
    """The potential ``V(x) = sum_nu z_nu P(x - x_nu)`` of charges ``z_nu`` at ``x_nu``, ``P`` a :class:`GaussianSum`.

    A canonical tensor of rank ``P.rank * N`` (``P.rank`` for a lattice whose charges are separable; Benner, Khoromskaia and Khoromskij, SIAM J.
    Sci. Comput. 2018); with the long-range part of the Newton kernel it is the smooth input
    of the Chebyshev-Tucker format (Benner, Khoromskij, Khoromskaia and Sun, arXiv:2503.01696).

    Parameters
    ----------
    kernel : GaussianSum
        The single-particle kernel (e.g. ``newton_kernel(...).long_range(cutoff=...)``).
    positions : array_like, shape (N, 3)
    charges : array_like, shape (N,)
    box : sequence of 3 (lo, hi) pairs, optional
        The computational box (default: the particles' bounding box padded by 10 %, at
        least 1). Every particle must lie in it.

    Attributes
    ----------
    rank : int
        ``kernel.rank * N``, or ``kernel.rank`` for a separable lattice (see :attr:`rank`).
    domain : list of (lo, hi)
        The box, in the form :func:`solvers.chebtucker` takes.
    """

    def __init__(self, kernel: GaussianSum, positions, charges, box=None):
        if not isinstance(kernel, GaussianSum):
            raise TypeError(f"kernel must be a GaussianSum (newton_kernel(...) or a part of it), "
                            f"got {type(kernel).__name__}")
        self.kernel = kernel
        self.positions, self.charges = _check_particles(positions, charges)
        self.box = _check_box(box, self.positions)

    @property
    def n_particles(self) -> int:
        return int(self.charges.size)

    @property
    def rank(self) -> int:
        """Canonical rank of :meth:`cp_factors`: ``kernel.rank`` for a separable lattice, else ``kernel.rank * N``."""
        return self.kernel.rank * (1 if self._lattice() is not None else self.n_particles)

    def _lattice(self):
        """``(lam, [q_1, q_2, q_3], [u_1, u_2, u_3])`` when the particles fill a product grid
        ``u_1 x u_2 x u_3`` once each and the charges are ``lam q_1 o q_2 o q_3`` (to 1e-12), else None."""
        if "_lat" in self.__dict__:
            return self._lat
        self._lat = None
        uniq = [np.unique(self.positions[:, i], return_inverse=True) for i in range(3)]
        shape = tuple(u[0].size for u in uniq)
        if shape[0] * shape[1] * shape[2] == self.n_particles:
            Q = np.full(shape, np.nan)
            Q[tuple(u[1].ravel() for u in uniq)] = self.charges
            if np.all(np.isfinite(Q)):                      # every grid point holds one particle
                qs = []
                for i in range(3):
                    left, sv, _ = np.linalg.svd(np.moveaxis(Q, i, 0).reshape(shape[i], -1), full_matrices=False)
                    qs.append(left[:, 0])
                lam = float(np.einsum("abc,a,b,c->", Q, *qs))
                if np.max(np.abs(Q - lam * np.einsum("a,b,c->abc", *qs))) <= 1e-12 * np.abs(Q).max():
                    self._lat = (lam, qs, [u[0] for u in uniq])
        return self._lat

    @property
    def domain(self) -> list:
        return [tuple(p) for p in self.box]

    def __repr__(self) -> str:
        return f"ParticlePotential(kernel={self.kernel!r}, n_particles={self.n_particles}, box={self.box})"

    def describe(self) -> dict:
        """Scalars that identify the potential (stored with runs)."""
        k = self.kernel
        return {"problem": "ParticlePotential", "kernel": k.kind, "kernel_rank": k.rank, "tol": k.tol,
                "r_min": k.r_min, "r_max": k.r_max, "cutoff": float(k.params.get("cutoff", math.nan)),
                "n_particles": self.n_particles, "total_charge": float(self.charges.sum()),
                "box": np.asarray(self.box, dtype=float)}

    def cp_factors(self, nodes):
        """Canonical factors on a tensor grid: ``(weights, [U_1, U_2, U_3])`` of :attr:`rank` columns.

        In general ``V(x) = sum_{nu, k} w_{nu k} prod_i U_i[x_i, (nu, k)]`` with
        ``w_{nu k} = z_nu c_k`` and ``U_i[j, (nu, k)] = exp(-t_k^2 (nodes_i[j] - x_{nu, i})^2)``
        (column index ``nu * R + k``): rank ``R N``. When the particles fill a product
        lattice ``u_1 x u_2 x u_3`` and the charges are separable, ``z = lam q_1 o q_2 o q_3``
        (rock salt ``(-1)^(i+j+k)``, equal charges), the lattice sum collapses to rank ``R``:
        ``w_k = lam c_k``, ``U_i[j, k] = sum_a q_i[a] exp(-t_k^2 (nodes_i[j] - u_ia)^2)``
        (assembled lattice sums, Khoromskaia and Khoromskij, Phys. Chem. Chem. Phys. 2014).

        Parameters
        ----------
        nodes : list of 3 1-D arrays
            Points per coordinate (e.g. Chebyshev points mapped to the box).
        """
        nodes = _check_nodes(nodes)
        if len(nodes) != 3:
            raise ValueError(f"nodes must hold 3 arrays (one per coordinate), got {len(nodes)}")
        R, N = self.kernel.rank, self.n_particles
        a = self.kernel.t ** 2
        lat = self._lattice()
        if lat is not None:
            lam, qs, us = lat
            mats = [np.einsum("a,jak->jk", q, np.exp(-((z[:, None] - u[None, :]) ** 2)[:, :, None] * a))
                    for z, q, u in zip(nodes, qs, us)]
            return lam * self.kernel.c, mats
        _checks.check_memory(f"cp_factors: {len(nodes)} factor matrices with {R * N} columns",
                             8.0 * R * N * sum(z.size for z in nodes) * 2, "use fewer particles or nodes")
        w = np.outer(self.charges, self.kernel.c).ravel()
        mats = []
        for i, z in enumerate(nodes):
            d2 = (z[:, None] - self.positions[None, :, i]) ** 2              # (m, N)
            mats.append(np.exp(-d2[:, :, None] * a[None, None, :]).reshape(z.size, N * R))
        return w, mats

    def grid_values(self, nodes, rtol: float = 1e-13, chunk: int = 4096) -> np.ndarray:
        """The potential on the tensor grid ``nodes[0] x nodes[1] x nodes[2]`` (shape ``(m1, m2, m3)``).

        Never forms an ``m^3 x R N`` array. When the particles' distinct coordinates
        ``n_1, n_2, n_3`` per axis span a small product grid (a lattice), the charges are
        a core tensor ``Q`` (``n_1 x n_2 x n_3``) and every Gaussian term is the Tucker
        product ``c_k Q x_1 G_1k x_2 G_2k x_3 G_3k`` with ``G_ik[j, a] =
        exp(-t_k^2 (nodes_i[j] - u_ia)^2)`` (assembled lattice sums, Benner, Khoromskaia and
        Khoromskij, SIAM J. Sci. Comput. 2018). Otherwise
        each factor ``U_i diag(|w|^(1/3))`` is projected on its leading left singular
        vectors (singular values above ``rtol`` times the largest: a near-exact basis), the
        small core is accumulated in chunks of ``chunk`` terms and expanded (the reduced
        HOSVD of Khoromskij and Khoromskaia, SIAM J. Sci. Comput. 31 (2009), without rank
        truncation). Used to hand a high-rank potential to
        :meth:`solvers.approx.ChebTucker.from_values`.
        """
        rtol = _checks.real_scalar("rtol", rtol, positive=True)
        chunk = _checks.count("chunk", chunk)
        nodes = _check_nodes(nodes)
        if len(nodes) != 3:
            raise ValueError(f"nodes must hold 3 arrays (one per coordinate), got {len(nodes)}")
        m = [z.size for z in nodes]
        _checks.check_memory("grid_values: the full grid", 8.0 * 3 * m[0] * m[1] * m[2], "use fewer nodes")
        uniq = [np.unique(self.positions[:, i], return_inverse=True) for i in range(3)]
        n = [u[0].size for u in uniq]
        if n[0] * n[1] * n[2] <= max(8 * self.n_particles, 4096) and n[0] * n[1] * n[2] <= 4_000_000:
            return self._grid_values_lattice(nodes, uniq)
        return self._grid_values_rhosvd(nodes, rtol, chunk)

    def _grid_values_lattice(self, nodes, uniq):
        Q = np.zeros(tuple(u[0].size for u in uniq))
        np.add.at(Q, tuple(u[1].ravel() for u in uniq), self.charges)
        out = np.zeros(tuple(z.size for z in nodes))
        for ck, tk in zip(self.kernel.c, self.kernel.t):
            G = [np.exp(-(tk * tk) * (z[:, None] - u[0][None, :]) ** 2) for z, u in zip(nodes, uniq)]
            T = np.einsum("abc,ia->ibc", Q, G[0])
            T = np.einsum("ibc,jb->ijc", T, G[1])
            out += ck * np.einsum("ijc,kc->ijk", T, G[2])
        return out

    def _grid_values_rhosvd(self, nodes, rtol, chunk):
        w, U = self.cp_factors(nodes)
        Z = []
        for u in U:
            left, sv, _ = np.linalg.svd(u * (np.abs(w) ** (1.0 / 3.0)), full_matrices=False)
            r = max(1, int(np.count_nonzero(sv > rtol * sv[0]))) if sv.size and sv[0] > 0 else 1
            Z.append(left[:, :r])
        A = [z.T @ u for z, u in zip(Z, U)]                                  # (r_i, R N)
        r1, r2, r3 = (a.shape[0] for a in A)
        core = np.zeros((r1, r2 * r3))
        for s in range(0, w.size, chunk):
            sl = slice(s, s + chunk)
            kr = (A[1][:, None, sl] * A[2][None, :, sl]).reshape(r2 * r3, -1)  # Khatri-Rao of modes 2, 3
            core += (A[0][:, sl] * w[sl]) @ kr.T
        core = core.reshape(r1, r2, r3)
        out = np.einsum("abc,ia->ibc", core, Z[0])
        out = np.einsum("ibc,jb->ijc", out, Z[1])
        return np.einsum("ijc,kc->ijk", out, Z[2])

    def direct(self, points, backend: str = "numba") -> np.ndarray:
        """The potential at ``(n, 3)`` points by direct summation over particles and terms (the reference).

        ``backend="numba"`` runs a parallel loop over the points (threads from
        ``NEWTONKIT_NUM_THREADS``); ``"numpy"`` a chunked NumPy sum. Cost
        ``O(n N R)``.
        """
        x = _checks.real_array("points", points, ndims=(2,), what="(n, 3) array of points")
        if x.shape[1] != 3:
            raise ValueError(f"points must have shape (n, 3), got {x.shape}")
        x = np.ascontiguousarray(x)
        a = self.kernel.t ** 2
        if backend == "numba":
            from solvers import _config

            _config.check_fork()                   # a clear error, not an abort, in a forked GNU OpenMP child
            _config.apply()
            return _in_blocks(lambda xb: _direct.gaussian_sum_direct(xb, self.positions, self.charges, self.kernel.c, a),
                              x, self.positions.shape[0] * max(1, len(a)))
        if backend == "numpy":
            return _direct.gaussian_sum_numpy(x, self.positions, self.charges, self.kernel.c, a)
        raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")

    __call__ = direct


#: direct sums run in blocks of points of about this many point-term pairs each (~0.1 s): Ctrl-C is seen between
#: blocks (one compiled call over 4000 points of a 40^3 lattice ignored it for 40 s: helper-133)
DIRECT_BLOCK_WORK = 2 ** 25


def _in_blocks(fn, x, per_point):
    """``fn`` over blocks of the rows of ``x`` (each a parallel launch under the launch lock), concatenated."""
    from solvers import _config

    step = max(1, DIRECT_BLOCK_WORK // max(1, int(per_point)))
    out = []
    for i in range(0, max(1, x.shape[0]), step):
        with _config.launch_lock():            # workqueue layer: one parallel launch at a time
            out.append(fn(x[i:i + step]))
    return out[0] if len(out) == 1 else np.concatenate(out)


def coulomb_sum(points, positions, charges, backend: str = "numba") -> np.ndarray:
    """The exact Coulomb potential ``sum_nu z_nu / |x - x_nu|`` at ``(n, 3)`` points by direct summation."""
    x = _checks.real_array("points", points, ndims=(2,), what="(n, 3) array of points")
    if x.shape[1] != 3:
        raise ValueError(f"points must have shape (n, 3), got {x.shape}")
    pos, z = _check_particles(positions, charges)
    x = np.ascontiguousarray(x)
    if backend == "numba":
        from solvers import _config

        _config.check_fork()
        _config.apply()
        return _in_blocks(lambda xb: _direct.coulomb_direct(xb, pos, z), x, pos.shape[0])
    if backend == "numpy":
        return _direct.coulomb_numpy(x, pos, z)
    raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")


def long_range_potential(positions, charges, *, box=None, tol: float = 1e-7, cutoff: float | None = None,
                         rank: int | None = None, r_min: float | None = None) -> ParticlePotential:
    """The long-range part of the Coulomb potential of point charges, as a :class:`ParticlePotential`.

    The Newton kernel is approximated by :func:`newton_kernel` with relative accuracy
    ``tol`` on ``[r_min, diameter of the box]`` and split by
    :meth:`GaussianSum.long_range` (Benner, Khoromskaia and Khoromskij, SIAM J. Sci. Comput.
    2018; the input of Benner, Khoromskij, Khoromskaia and Sun, arXiv:2503.01696).

    Parameters
    ----------
    positions, charges, box
        As in :class:`ParticlePotential`.
    tol : float, default 1e-7
    cutoff : float, optional
        Range-separation radius (default: ``min(1.0, diameter / 2)`` when ``rank`` is not given, in
        the units of the positions; for a lattice take about its spacing). At most the box's diameter.
    rank : int, optional
        Number of long-range terms instead of a cutoff.
    r_min : float, optional
        Smallest distance the full kernel resolves (default: diameter / 4096).
    """
    pos, z = _check_particles(positions, charges)
    box = _check_box(box, pos)
    diam = math.hypot(*(hi - lo for lo, hi in box))      # no overflow / underflow of the squares
    if not 0.0 < diam < math.inf:
        raise ValueError(f"box={box}: its diameter {diam!r} is not a positive finite number; rescale the positions")
    r_min = diam / 4096.0 if r_min is None else _checks.real_scalar("r_min", r_min, positive=True)
    if cutoff is None and rank is None:
        cutoff = min(1.0, 0.5 * diam)     # inside [r_min, r_max = diameter] for boxes smaller than 2
    kernel = newton_kernel(tol, r_min=r_min, r_max=diam).long_range(cutoff=cutoff, rank=rank)
    return ParticlePotential(kernel, pos, z, box)


__all__ = ["ParticlePotential", "coulomb_sum", "long_range_potential"]
