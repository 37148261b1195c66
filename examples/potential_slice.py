"""Long-range Coulomb potential of a bio-molecule-like particle cloud in Chebyshev-Tucker format; slice plot.

    python examples/potential_slice.py [N] [out.png]

N atoms (default 500) of a branched self-avoiding chain carry neutral partial charges
(``potentials.random_cloud``). The Newton kernel 1/r is a sum of Gaussians (an optimised
exponential sum from the shipped table, sinc quadrature outside it); its wide Gaussians (the long-range part, cutoff 3) summed over the atoms
are approximated by ``solvers.approx.ChebTucker`` with 129 Chebyshev points per axis.
The script prints the Tucker ranks and the error against direct summation, and saves
the potential on the slice z = 0, with the atoms near the slice, as a PNG.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from problems import potentials  # noqa: E402
from solvers.approx import ChebTucker  # noqa: E402


def main(n: int = 500, path: str = "potential_slice.png", degree: int = 128) -> None:
    cloud = potentials.random_cloud(n, seed=0)
    V = potentials.long_range_potential(cloud.positions, cloud.charges, box=cloud.box, tol=1e-7, cutoff=3.0)
    values = V.grid_values(ChebTucker.nodes(V.domain, degree))   # assembled from the CP factors
    ct = ChebTucker.from_values(values, V.domain, tol=1e-7)
    rng = np.random.default_rng(1)
    box = np.asarray(V.box)
    pts = rng.uniform(box[:, 0], box[:, 1], (2000, 3))
    ref = V.direct(pts)
    err = np.abs(ct(pts) - ref).max() / np.abs(ref).max()
    print(f"{n} atoms, long-range kernel rank {V.kernel.rank}, canonical rank {V.rank}; "
          f"Chebyshev-Tucker degree {ct.degree}, ranks {ct.ranks}, {ct.nbytes} bytes")
    print(f"max error vs direct summation at 2000 points: {err:.2e} (relative to max |V|)")
    g = 300
    xs = np.linspace(*V.box[0], g)
    ys = np.linspace(*V.box[1], g)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    pts = np.stack([X.ravel(), Y.ravel(), np.zeros(X.size)], 1)
    Z = np.asarray(ct(pts)).reshape(g, g)
    fig, ax = plt.subplots(figsize=(6.4, 5.4), layout="constrained")
    lim = np.abs(Z).max()
    im = ax.pcolormesh(X, Y, Z, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    near = np.abs(cloud.positions[:, 2]) < 1.0
    ax.scatter(cloud.positions[near, 0], cloud.positions[near, 1], s=6,
               c=np.where(cloud.charges[near] > 0, "k", "0.5"), label="atoms with |z| < 1")
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"long-range potential, z = 0 (Tucker ranks {ct.ranks})", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.colorbar(im, ax=ax, label="V_long")
    fig.savefig(path, dpi=110)
    print(f"slice plot: {path}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 500, args[1] if len(args) > 1 else "potential_slice.png")
