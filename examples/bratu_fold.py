"""Bratu ``-Δu = λ e^u`` on the unit square: Newton-Krylov with multigrid, up to the fold.

Solves the lower solution branch for a few λ with ``solvers.newton_krylov`` (GMRES preconditioned
by a multigrid V-cycle of the Jacobian, rebuilt every Newton step), prints Newton steps, inner
iterations, max u and the smallest Jacobian eigenvalue (``scipy.sparse.linalg.eigsh``), which goes
to zero like ``sqrt(λ* - λ)`` at the fold ``λ* ≈ 6.80812`` (Karkowski 2013; Chan & Keller 1982).
Beyond the fold there is no solution and the solve ends unconverged with a message.

    python examples/bratu_fold.py [--n 127] [--backend numba]
"""
import argparse

import numpy as np
import scipy.sparse.linalg as spla

import solvers
from problems.pde import Bratu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=127, help="interior points per axis")
    ap.add_argument("--backend", default="numba")
    args = ap.parse_args()
    print(f"{'lam':>6} {'conv':>5} {'newton':>6} {'inner':>6} {'max u':>9} {'mu_min(J)':>10} {'time_s':>7}")
    for lam in (1.0, 4.0, 6.0, 6.5, 6.7, 6.8, 6.9):
        p = Bratu((args.n, args.n), lam=lam)
        res = solvers.newton_krylov(**p.nonlinear_system(args.backend), tol=1e-8, maxiter=40)
        mu = float("nan")
        if res.converged and args.n <= 255:
            J = p.jacobian(np.asarray(res.x), "numpy").to_csr()
            mu = spla.eigsh(J, k=1, sigma=0, which="LM")[0][0]
        print(f"{lam:6.2f} {str(res.converged):>5} {res.nit:6d} {res.stats['inner_iterations']:6d} "
              f"{float(np.max(res.x)):9.5f} {mu:10.4f} {res.stats['time_s']:7.3f}")
        if not res.converged:
            print("   ", res.message)


if __name__ == "__main__":
    main()
