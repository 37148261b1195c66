"""Multi-particle potentials as canonical (CP) tensors: input of the Chebyshev-Tucker format.

* :func:`newton_kernel`, :func:`slater_kernel`, :func:`yukawa_kernel`: radial kernels
  as sums of Gaussians (optimised exponential sums for 1/r where the shipped table covers the
  request, sinc quadrature otherwise), :func:`newton_kernel_on_grid`, :class:`GaussianSum` with range separation
  (:meth:`~GaussianSum.long_range`, :meth:`~GaussianSum.short_range`);
* :class:`ParticlePotential`: ``sum_nu z_nu P(x - x_nu)`` with ``cp_factors(nodes)`` for
  :func:`solvers.chebtucker` and direct summation (the reference);
  :func:`long_range_potential`, :func:`coulomb_sum`;
* :func:`cubic_lattice`, :func:`random_cloud`: particle systems (:class:`Particles`).

Example
-------
>>> from problems import potentials
>>> lat = potentials.cubic_lattice((4, 4, 2))
>>> V = potentials.long_range_potential(lat.positions, lat.charges, box=lat.box, cutoff=1.0)
>>> V.rank == V.kernel.rank     # a lattice with separable charges (rock salt) collapses to the kernel's rank
True
>>> r = potentials.random_cloud(20, seed=0)
>>> W = potentials.long_range_potential(r.positions, r.charges, cutoff=1.0)
>>> W.rank == W.kernel.rank * 20
True
"""
from .generators import Particles, cubic_lattice, random_cloud
from .kernels import GaussianSum, newton_kernel, newton_kernel_on_grid, slater_kernel, yukawa_kernel
from .particles import ParticlePotential, coulomb_sum, long_range_potential

__all__ = ["GaussianSum", "newton_kernel", "newton_kernel_on_grid", "slater_kernel", "yukawa_kernel", "ParticlePotential", "coulomb_sum",
           "long_range_potential", "Particles", "cubic_lattice", "random_cloud"]
