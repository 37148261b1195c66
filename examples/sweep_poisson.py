"""Sweep: preconditioners for a jumping-coefficient Poisson problem over grid sizes and contrasts.

    python examples/sweep_poisson.py [STORE] [--scheduler ADDRESS]

``-div(k grad u) = 1`` on the unit square, ``u = 0`` on the boundary, ``k`` a 4 x 4
checkerboard of 1 and ``contrast``; CG with multigrid, Jacobi and Chebyshev
preconditioners over n = 31, 63, 127 and contrasts 1, 1e2, 1e4 (27 solves; spec
``examples/sweep_poisson.toml``). Every run is stored in ``STORE`` (default
``runs/sweep_poisson/``); the plot ``sweep_poisson.png`` shows CG iterations against the
grid size, one panel per contrast.

The problem factory :func:`checkerboard_poisson` is defined here; Dask's worker processes
import it as ``sweep_poisson:checkerboard_poisson`` (this directory is on their path when
this script starts the LocalCluster).
"""
import argparse
import os

import numpy as np

from problems import pde
from solvers.sweep import load_spec, sweep

HERE = os.path.dirname(os.path.abspath(__file__))


class Checkerboard:
    """``k(x, y) = contrast`` on the black cells of a ``cells x cells`` checkerboard of the unit square, else 1
    (a callable object, so the problem pickles)."""

    def __init__(self, contrast: float, cells: int = 4):
        self.contrast, self.cells = float(contrast), int(cells)

    def __call__(self, x, y):
        black = (np.floor(x * self.cells) + np.floor(y * self.cells)) % 2 == 1
        return np.where(black, self.contrast, 1.0)

    def __repr__(self) -> str:
        return f"Checkerboard(contrast={self.contrast:g}, cells={self.cells})"


def checkerboard_poisson(n: int, contrast: float):
    """The sweep's problem factory: an ``n x n`` interior grid, ``k`` a checkerboard of 1 and ``contrast``."""
    p = pde.Poisson((n, n), f=1.0, g=0.0, k=Checkerboard(contrast))
    p.name = f"poisson-checkerboard-{contrast:g}"
    return p


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contrasts = sorted({r["params"]["contrast"] for r in table})
    fig, axes = plt.subplots(1, len(contrasts), figsize=(4 * len(contrasts), 3.6), sharey=True)
    for ax, c in zip(np.atleast_1d(axes), contrasts):
        for pre, marker in (("mg", "o"), ("jacobi", "s"), ("chebyshev", "^")):
            rows = sorted((r for r in table if r["params"]["contrast"] == c and r["options"]["precond"] == pre),
                          key=lambda r: r["params"]["n"])
            ax.semilogy([r["params"]["n"] for r in rows], [max(r["nit"], 1) for r in rows], marker=marker,
                        label=pre)
            for r in rows:
                if not r["converged"]:
                    ax.annotate("x", (r["params"]["n"], max(r["nit"], 1)), color="red")
        ax.set_title(f"contrast {c:g}")
        ax.set_xlabel("n (interior points per axis)")
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("CG iterations to rtol 1e-8")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", default=None, help="run directory (default: runs/sweep_poisson/)")
    ap.add_argument("--scheduler", default=None, help="attach to a running Dask scheduler")
    ap.add_argument("--plot", default="sweep_poisson.png")
    args = ap.parse_args()
    spec = load_spec(os.path.join(HERE, "sweep_poisson.toml"))
    store = args.store or spec.pop("store")
    spec.pop("store", None)
    if args.store is None:             # the default store's folder (runs/): a store's parent must exist
        os.makedirs(os.path.dirname(store.rstrip("/")), exist_ok=True)
    table = sweep(spec, store=store, scheduler=args.scheduler)
    print(f"{len(table)} runs ({table.ran} solved now, {table.skipped} already in {store}, {table.errors} errors)")
    for r in table:
        print(f"  n={r['params']['n']:4d} contrast={r['params']['contrast']:<8g} {r['method']:14s} "
              f"{r['status']:10s} {r['nit']:5d} it  {r['time_s'] or float('nan'):.4f} s")
    plot(table, args.plot)
    print(f"wrote {args.plot}")


if __name__ == "__main__":   # the guard matters: Dask's worker processes import this module
    main()
