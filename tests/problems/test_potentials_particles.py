"""Multi-particle potentials: CP factors and direct sums against plain double loops and the exact Coulomb sum;
generators; pickling; validation."""
import math
import pickle

import numpy as np
import pytest

from problems.potentials import (ParticlePotential, coulomb_sum, cubic_lattice, long_range_potential,
                                 newton_kernel, random_cloud)


def _double_loop(points, positions, charges, c, t):
    """Independent reference: plain Python loops over points and particles, math.exp per term."""
    out = np.zeros(len(points))
    for p, x in enumerate(points):
        s = 0.0
        for y, z in zip(positions, charges):
            r2 = sum((xi - yi) ** 2 for xi, yi in zip(x, y))
            s += z * sum(ck * math.exp(-tk * tk * r2) for ck, tk in zip(c, t))
        out[p] = s
    return out


@pytest.fixture(scope="module")
def small_lattice():
    lat = cubic_lattice((4, 3, 2), spacing=1.0)
    V = long_range_potential(lat.positions, lat.charges, box=lat.box, tol=1e-8, cutoff=1.0)
    return lat, V


@pytest.mark.parametrize("charges,separable", [("alternating", True), ("positive", True), ("random", False)])
def test_lattice_long_range_cp_tensor_vs_double_loop(charges, separable):
    lat = cubic_lattice((4, 3, 2), spacing=1.0, charges=charges, seed=11)
    V = long_range_potential(lat.positions, lat.charges, box=lat.box, tol=1e-8, cutoff=1.0)
    nodes = [np.linspace(lo, hi, n) for (lo, hi), n in zip(V.box, (6, 5, 4))]
    w, U = V.cp_factors(nodes)
    # separable charges on a full lattice: the lattice sum has the kernel's rank (assembled sums)
    assert w.shape == (V.rank,) == ((V.kernel.rank,) if separable else (V.kernel.rank * 24,))
    T = np.einsum("r,ir,jr,kr->ijk", w, *U)
    pts = np.stack([g.ravel() for g in np.meshgrid(*nodes, indexing="ij")], 1)
    ref = _double_loop(pts, lat.positions, lat.charges, V.kernel.c, V.kernel.t)
    np.testing.assert_allclose(T.ravel(), ref, rtol=1e-12, atol=1e-13 * np.abs(ref).max())
    # a lattice with one site removed (a vacancy) is no longer a product: rank R N
    W = long_range_potential(lat.positions[1:], lat.charges[1:], box=lat.box, tol=1e-8, cutoff=1.0)
    assert W.rank == W.kernel.rank * 23


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_direct_sum_vs_double_loop(small_lattice, backend):
    lat, V = small_lattice
    pts = np.random.default_rng(0).uniform(-2.5, 2.5, (40, 3))
    ref = _double_loop(pts, lat.positions, lat.charges, V.kernel.c, V.kernel.t)
    np.testing.assert_allclose(V.direct(pts, backend=backend), ref, rtol=1e-12, atol=1e-13)


def test_long_range_equals_coulomb_away_from_particles(small_lattice):
    lat, V = small_lattice
    rng = np.random.default_rng(1)
    pts = rng.uniform(-6, 6, (1500, 3))
    d = np.sqrt(((pts[:, None, :] - lat.positions[None]) ** 2).sum(-1)).min(1)
    far = pts[d >= 1.0][:300]
    exact = np.array([sum(z / np.linalg.norm(x - y) for y, z in zip(lat.positions, lat.charges)) for x in far])
    # each particle's long-range term matches 1/r to 1e-8 (kernel) + 1e-8 (split) beyond the cutoff
    bound = 2.1e-8 * np.array([sum(1 / np.linalg.norm(x - y) for y in lat.positions) for x in far])
    assert np.all(np.abs(V.direct(far) - exact) <= bound)
    scale = np.abs(lat.charges).sum() / d[d >= 1.0][:300]     # cancellation: compare with sum |z| / r
    for be in ("numba", "numpy"):
        assert np.all(np.abs(coulomb_sum(far, lat.positions, lat.charges, backend=be) - exact) <= 1e-14 * scale)


@pytest.mark.parametrize("system", ["lattice", "cloud"])
def test_grid_values_vs_cp_tensor(system):
    if system == "lattice":
        p = cubic_lattice((5, 4, 3), spacing=0.8, charges="random", seed=3)
    else:
        p = random_cloud(60, seed=2)
    V = long_range_potential(p.positions, p.charges, box=p.box, tol=1e-7, cutoff=1.5)
    nodes = [np.linspace(lo, hi, n) for (lo, hi), n in zip(V.box, (9, 8, 7))]
    w, U = V.cp_factors(nodes)
    T = np.einsum("r,ir,jr,kr->ijk", w, *U)
    G = V.grid_values(nodes)
    np.testing.assert_allclose(G, T, rtol=0, atol=1e-11 * np.abs(T).max())


def test_chebtucker_of_the_long_range_potential(small_lattice):
    approx = pytest.importorskip("solvers.approx")
    lat, _ = small_lattice
    V = long_range_potential(lat.positions, lat.charges, box=lat.box, tol=1e-8, cutoff=2.0)   # smooth enough
    ct = approx.chebtucker(V, V.domain, degree=40, tol=1e-9)
    pts = np.random.default_rng(4).uniform([b[0] for b in V.box], [b[1] for b in V.box], (500, 3))
    ref = _double_loop(pts[:60], lat.positions, lat.charges, V.kernel.c, V.kernel.t)
    assert np.max(np.abs(ct(pts[:60]) - ref)) <= 1e-6 * np.abs(ref).max()
    ct2 = approx.ChebTucker.from_values(V.grid_values(approx.ChebTucker.nodes(V.domain, 40)), V.domain, tol=1e-9)
    np.testing.assert_allclose(ct2(pts), ct(pts), atol=1e-7 * np.abs(ref).max())


def test_generators():
    lat = cubic_lattice((24, 24, 4), spacing=2.0)
    assert lat.positions.shape == (2304, 3) and lat.charges.sum() == 0 and set(lat.charges) == {-1.0, 1.0}
    assert lat.box == ((-25.0, 25.0), (-25.0, 25.0), (-5.0, 5.0))
    # neighbours carry opposite charges (rock salt)
    i = np.argmin(np.abs(lat.positions - [1, 1, 1]).sum(1))
    j = np.argmin(np.abs(lat.positions - [3, 1, 1]).sum(1))
    assert lat.charges[i] == -lat.charges[j]
    r1, r2 = cubic_lattice((3, 3, 3), charges="random", seed=5), cubic_lattice((3, 3, 3), charges="random", seed=5)
    np.testing.assert_array_equal(r1.charges, r2.charges)
    assert np.all(cubic_lattice((2, 2, 2), charges="positive").charges == 1)

    c = random_cloud(300, seed=7)
    assert c.positions.shape == (300, 3) and abs(c.charges.sum()) < 1e-12
    d = np.sqrt(((c.positions[:, None] - c.positions[None]) ** 2).sum(-1)) + np.eye(300) * 10
    assert d.min() >= 1.2 - 1e-9
    assert np.isclose(np.sort(d, 1)[:, 0].max(), 1.5) or np.sort(d, 1)[:, 0].max() <= 1.5 + 1e-9  # bonded
    for i, (lo, hi) in enumerate(c.box):
        assert lo + 2.0 - 1e-9 <= c.positions[:, i].min() and c.positions[:, i].max() <= hi - 2.0 + 1e-9
    np.testing.assert_array_equal(random_cloud(50, seed=1).positions, random_cloud(50, seed=1).positions)


def test_pickle_roundtrip(small_lattice):
    lat, V = small_lattice
    q = pickle.loads(pickle.dumps(V))
    pts = np.random.default_rng(5).uniform(-2, 2, (30, 3))
    np.testing.assert_array_equal(q.direct(pts), V.direct(pts))
    assert q.describe()["n_particles"] == 24 and q.box == V.box
    lat2 = pickle.loads(pickle.dumps(lat))
    np.testing.assert_array_equal(lat2.positions, lat.positions)


def test_validation(small_lattice):
    lat, V = small_lattice
    k = newton_kernel(1e-6, 1e-2, 10.0)
    with pytest.raises(TypeError, match="kernel must be a GaussianSum"):
        ParticlePotential(1.0, lat.positions, lat.charges)
    with pytest.raises(ValueError, match=r"positions must have shape \(N, 3\)"):
        ParticlePotential(k, np.zeros((4, 2)), np.ones(4))
    with pytest.raises(ValueError, match="one entry per particle"):
        ParticlePotential(k, np.zeros((4, 3)), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        ParticlePotential(k, np.full((2, 3), np.nan), np.ones(2))
    with pytest.raises(ValueError, match="outside box"):
        ParticlePotential(k, lat.positions, lat.charges, box=[(-1, 1)] * 3)
    with pytest.raises(ValueError, match="hi > lo"):
        ParticlePotential(k, lat.positions, lat.charges, box=[(1, -1)] * 3)
    with pytest.raises(ValueError, match="3 arrays"):
        V.cp_factors([np.zeros(3)] * 2)
    with pytest.raises(ValueError, match=r"points must have shape \(n, 3\)"):
        V.direct(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="backend must be"):
        V.direct(np.zeros((3, 3)), backend="cupy")
    with pytest.raises(ValueError, match="size must be 3 positive integers"):
        cubic_lattice((2, 2))
    with pytest.raises(ValueError, match=r"size\[1\] must be an integer >= 1"):
        cubic_lattice((2, 0, 2))
    with pytest.raises(ValueError, match="charges must be"):
        cubic_lattice((2, 2, 2), charges="neutral")
    with pytest.raises(ValueError, match="spacing must be > 0"):
        cubic_lattice((2, 2, 2), spacing=0.0)
    with pytest.raises(TypeError, match="seed must be"):
        random_cloud(10, seed=-1)
    with pytest.raises(ValueError, match="min_separation"):
        random_cloud(10, min_separation=2.0, bond=1.5)
    with pytest.raises(ValueError, match="could not place"):
        random_cloud(120, box=[(-2, 2)] * 3, padding=0.5)
    with pytest.raises(TypeError, match="N must be an integer"):
        random_cloud(10.0)


def test_yukawa_particle_potential_vs_exact_screened_sum():
    from problems.potentials import yukawa_kernel

    lat = cubic_lattice((3, 2, 2), spacing=1.0, charges="random", seed=8)
    kappa = 0.8
    k = yukawa_kernel(kappa, tol=1e-6, r_min=0.05, r_max=8.0)
    V = ParticlePotential(k, lat.positions, lat.charges, box=lat.box)
    pts = np.random.default_rng(6).uniform(-2, 2, (200, 3))
    d = np.sqrt(((pts[:, None] - lat.positions[None]) ** 2).sum(-1))
    pts, d = pts[d.min(1) >= 0.05], d[d.min(1) >= 0.05]
    exact = (np.exp(-kappa * d) / d) @ lat.charges
    bound = 1.02e-6 * (np.exp(-kappa * d) / d) @ np.abs(lat.charges)
    assert np.all(np.abs(V.direct(pts) - exact) <= bound)
    w, U = V.cp_factors([pts[:1, 0], pts[:1, 1], pts[:1, 2]])
    assert abs(np.einsum("r,ir,jr,kr->ijk", w, *U)[0, 0, 0] - exact[0]) <= bound[0]


def test_long_range_potential_by_rank():
    lat = cubic_lattice((2, 2, 2))
    V = long_range_potential(lat.positions, lat.charges, box=lat.box, rank=6)
    assert V.kernel.rank == 6 and V.rank == 6 and V.kernel.kind == "newton-long"


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000])
def test_coulomb_sum_against_cdist_and_the_particle_order(n):
    """``coulomb_sum`` (point blocks, vectorised over points) against SciPy's ``cdist`` (an independent
    distance code), and bit for bit against the same sum taken over the particles in order with NumPy
    (per point: ``((dx^2 + dy^2) + dz^2)``, then ``+= z / sqrt``); a point on a particle gives inf."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(n)
    x = rng.uniform(-1, 1, (n, 3))
    y = rng.uniform(-1.5, 1.5, (37, 3))
    z = rng.choice([-1.0, 2.0], 37)
    got = coulomb_sum(x, y, z)
    np.testing.assert_allclose(got, (1.0 / cdist(x, y)) @ z, rtol=1e-12, atol=1e-12)
    acc = np.zeros(n)
    for nu in range(37):
        r2 = (x[:, 0] - y[nu, 0]) ** 2
        r2 = r2 + (x[:, 1] - y[nu, 1]) ** 2
        r2 = r2 + (x[:, 2] - y[nu, 2]) ** 2
        acc = acc + z[nu] / np.sqrt(r2)
    np.testing.assert_array_equal(got, acc)
    x[-1] = y[5]
    assert np.isinf(coulomb_sum(x, y, z)[-1])
