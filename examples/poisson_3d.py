"""Solve a 3-D Poisson problem with multigrid-preconditioned CG, store the run, print a summary.

    python examples/poisson_3d.py [N] [runs.h5]

-div(grad u) = f on the unit cube with u = g on the boundary, built by
``pde.Poisson.manufactured`` so that the exact solution is known
(u = sin(pi x) sin(pi y) sin(pi z) + x y); the printed error is the
discretisation error, O(h^2) with h = 1/(N+1).
"""
import sys

import solvers
from problems import pde


def main(n: int = 48, path: str = "runs.h5") -> None:
    problem = pde.Poisson.manufactured((n, n, n), kind="sin")
    res = solvers.solve(problem, method="cg", precond="mg", rtol=1e-8, backend="numba")
    err = problem.error(res.x, norm="max")
    with solvers.RunStore(path) as store:
        run_id = store.save(res, problem=problem, tags={"example": "poisson_3d", "max_error": err})
    r = res.history["residual"]
    print(f"{n}^3 Poisson, {res.method} on {res.backend}: converged={res.converged} in {res.nit} iterations, "
          f"{res.stats['time_s']:.3f} s")
    print(f"relative residual {r[-1] / r[0]:.2e}, max error vs exact solution {err:.3e} (h^2 = {(n + 1) ** -2:.2e})")
    print(f"stored as run {run_id} in {path}; see it with `newtonkit runs show {path} {run_id}`")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 48, args[1] if len(args) > 1 else "runs.h5")
