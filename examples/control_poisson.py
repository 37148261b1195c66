"""Distributed optimal control of the Poisson equation (linear or semilinear) with sketched Newton.

``min 1/2 ||y - y_d||^2 + alpha/2 ||u||^2`` subject to ``-Δy (+ y^3) = u``, ``y = 0`` on the
boundary of the unit square (Rees, Dollar & Wathen 2010, example 1 target), solved by
``solvers.sketched_newton`` with MINRES inner solves preconditioned by the problem's block-diagonal
multigrid preconditioner (Pearson & Wathen 2012 Schur complement). For the linear problem the
answer is checked against the sparse direct KKT solve (``reference_solution``) when n <= 128.

    python examples/control_poisson.py [--n 128] [--alpha 1e-4] [--semilinear]
"""
import argparse

import numpy as np

from problems.pde import PoissonControl
from solvers.nonlinear.sketched_newton import sketched_newton


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--alpha", type=float, default=1e-4)
    ap.add_argument("--semilinear", action="store_true")
    ap.add_argument("--tol", type=float, default=1e-10)
    args = ap.parse_args()
    p = PoissonControl(args.n, alpha=args.alpha, semilinear=args.semilinear)
    res = sketched_newton(p, sketch=None, tol=args.tol, backend="numba")
    print(res.message)
    print(f"Newton steps {res.nit}, MINRES iterations {res.stats['inner_iterations']}, "
          f"time {res.stats['time_s']:.2f} s")
    kkt = p.kkt_residual(res.x, res.lam)
    y, u = p.split(res.x)
    yd = p.y_desired.reshape(p.shape)
    print(f"stationarity {kkt['stationarity']:.2e}  feasibility {kkt['feasibility']:.2e}")
    print(f"||y - y_d||_L2 = {np.sqrt(p.h2 * np.sum((y - yd) ** 2)):.4e}   "
          f"||u||_L2 = {np.sqrt(p.h2 * np.sum(u ** 2)):.4e}")
    if not args.semilinear and args.n <= 128:
        x, _ = p.reference_solution()
        diff = np.abs(res.x - x).max() / np.abs(x).max()
        print(f"max relative difference to the sparse direct KKT solve: {diff:.2e}")


if __name__ == "__main__":
    main()
