"""Fixes from the hostile-input run (tests/hostile/cases_approx.py, cases_sweep.py): potentials at
absurd length scales are refused with a message (a lattice of spacing 1e200 raised OverflowError
from the box diameter; 1e-200 said "r_min must be > 0"), scale invariance holds where the
exponents are representable, and cutoffs outside the kernel's range are refused (they silently
gave the whole singular kernel, a 20 % error)."""
import numpy as np
import pytest

from problems import potentials


@pytest.mark.parametrize("spacing", [1e-200, 1e200])
def test_absurd_length_scales_refused(spacing):
    lat = potentials.cubic_lattice((2, 2, 2), spacing=spacing)
    with pytest.raises(ValueError, match="rescale the positions"):
        potentials.long_range_potential(lat.positions, lat.charges, box=lat.box, cutoff=spacing)


@pytest.mark.parametrize("spacing", [1e-120, 1e120])
def test_coulomb_scaling_law_at_large_and_small_scales(spacing):
    # V_s(s x) = V_1(x) / s for the Coulomb kernel; reference: direct summation of 1/r by hand
    lat1 = potentials.cubic_lattice((2, 2, 2), spacing=1.0)
    lat = potentials.cubic_lattice((2, 2, 2), spacing=spacing)
    V = potentials.long_range_potential(lat.positions, lat.charges, box=lat.box, cutoff=spacing)
    pts = np.array([[3.0, 0.2, 0.1], [2.5, -2.5, 1.0]])            # away from the lattice (|x| > 2)
    d = np.linalg.norm(pts[:, None, :] - lat1.positions[None, :, :], axis=2)
    ref = (lat1.charges[None, :] / d).sum(axis=1)
    got = np.asarray(V.direct(pts * spacing, backend="numpy")) * spacing
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * np.abs(lat1.charges).sum())


@pytest.mark.parametrize("cutoff,msg", [(1e-300, "below the kernel's r_min"), (1e300, "beyond 1e150")])
def test_cutoff_outside_the_kernel_range_refused(cutoff, msg):
    k = potentials.newton_kernel(1e-7, r_min=1e-3, r_max=10.0)
    with pytest.raises(ValueError, match=msg):
        k.long_range(cutoff=cutoff)
