"""Save a few runs in an HDF5 run store, list them, load one back and check it is identical.

    python examples/runs_roundtrip.py [runs_example.h5]

Uses small CG solves on a 1-D Laplacian plus a varying diagonal (no problem module needed), so it runs in a second.
"""
import sys

import numpy as np
import scipy.sparse as sp

import solvers


def main(path: str = "runs_example.h5") -> None:
    n = 200
    A = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) + sp.diags(np.geomspace(1e-3, 1e2, n))).tocsr()
    rng = np.random.default_rng(0)
    saved = {}
    with solvers.RunStore(path) as store:
        for precond in (None, "jacobi"):
            b = rng.standard_normal(n)
            M = solvers.linear.jacobi(A, backend="numpy") if precond else None
            res = solvers.cg(A, b, rtol=1e-10, M=M, backend="numpy")
            run_id = store.save(res, tags={"precond": precond or "none"}, seed=0)
            saved[run_id] = res
        print(f"{path}: {len(store)} runs")
        for row in store.list():
            print(f"  {row['run_id']}  {row['method']:10s} converged={row['converged']}  nit={row['nit']:4d}  "
                  f"time={row['time_s']:.4f}s  tags={row['tags']}")
        for run_id, res in saved.items():
            back = store.load(run_id)
            assert np.array_equal(back.x, res.x) and back.nit == res.nit
            assert np.array_equal(back.history["residual"], res.history["residual"])
        print(f"loaded {len(saved)} runs back: solution, iterations and residual histories identical")
        prov = back.provenance
        print(f"provenance of the last one: newtonkit {prov['version_newtonkit']}, numpy {prov['version_numpy']}, "
              f"host {prov['host']}, {prov['utc_start']} .. {prov['utc_end']}, commit {prov.get('git_commit', '-')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs_example.h5")
