"""Sweep: SNS against Sinkhorn over the regularisation eps and the size n, on Dask; plot the result.

    python examples/sweep_ot_eps.py [STORE] [--scheduler ADDRESS]

Runs the spec ``examples/sweep_ot_eps.toml`` (2 methods x 2 sizes x 4 eps x 2 seeds = 32
solves of random point clouds) with :func:`solvers.sweep` on a LocalCluster (or on a
running scheduler), stores every run in ``STORE`` (default ``runs/sweep_ot_eps/``) and plots
solve time (best of the seeds) and median iterations against eps into ``sweep_ot_eps.png``.
Iteration counts are the robust comparison; times need a machine with a free core per
worker (the first solve of each worker also loads the Numba cache). Run it twice: the
second time every run is found in the store and nothing is solved again.
"""
import argparse
import os
import statistics
from collections import defaultdict

from solvers.sweep import load_spec, sweep

HERE = os.path.dirname(os.path.abspath(__file__))


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = defaultdict(list)
    for r in table:
        if r["status"] != "error":
            groups[(r["options"].get("method") or r["method"], r["params"]["n"], r["params"]["eps"])].append(r)
    fig, (ax_t, ax_i) = plt.subplots(1, 2, figsize=(10, 4))
    for (method, n) in sorted({(m, n) for m, n, _ in groups}):
        eps = sorted(e for m, nn, e in groups if (m, nn) == (method, n))
        rows = [groups[(method, n, e)] for e in eps]
        t = [min(r["time_s"] for r in rs) for rs in rows]   # best of the seeds: timing noise only adds
        it = [statistics.median(r["nit"] for r in rs) for rs in rows]
        ok = [all(r["converged"] for r in rs) for rs in rows]
        style = dict(marker="o" if method == "sns" else "s", linestyle="-" if method == "sns" else "--")
        ax_t.loglog(eps, t, label=f"{method} n={n}", **style)
        ax_i.loglog(eps, it, label=f"{method} n={n}", **style)
        for e, tt, good in zip(eps, t, ok):
            if not good:
                ax_t.annotate("not converged", (e, tt), fontsize=7)
    for ax, ylabel in ((ax_t, "solve time [s], best of the seeds"), (ax_i, "median iterations")):
        ax.set_xlabel("eps (relative to max C)")
        ax.set_ylabel(ylabel)
        ax.invert_xaxis()
        ax.grid(True, which="both", alpha=0.3)
    ax_i.legend(fontsize=8)
    fig.suptitle("Entropic OT, random point clouds: SNS vs Sinkhorn (tol 1e-8)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", default=None, help="run directory (default: runs/sweep_ot_eps/)")
    ap.add_argument("--scheduler", default=None, help="attach to a running Dask scheduler")
    ap.add_argument("--plot", default="sweep_ot_eps.png")
    args = ap.parse_args()
    spec = load_spec(os.path.join(HERE, "sweep_ot_eps.toml"))
    store = args.store or spec.pop("store")
    spec.pop("store", None)
    if args.store is None:             # the default store's folder (runs/): a store's parent must exist
        os.makedirs(os.path.dirname(store.rstrip("/")), exist_ok=True)
    table = sweep(spec, store=store, scheduler=args.scheduler)
    print(f"{len(table)} runs ({table.ran} solved now, {table.skipped} already in {store}, {table.errors} errors)")
    for r in table:
        print(f"  {r['method']:9s} n={r['params']['n']:4d} eps={r['params']['eps']:<6g} seed={r['seed']}  "
              f"{r['status']:10s} {r['nit']:6d} it  {r['time_s'] or float('nan'):.4f} s")
    plot(table, args.plot)
    print(f"wrote {args.plot}")


if __name__ == "__main__":   # the guard matters: Dask's worker processes import this module
    main()
