"""Optimised exponential sums for the Newton kernel: ``1/r ~ sum_k c_k exp(-t_k^2 r^2)`` with few terms.

The sinc quadrature of :func:`problems.potentials.newton_kernel` (``method="sinc"``) spends
terms on its truncated ends. Best approximations by exponential sums need fewer: Braess and
Hackbusch (2005) show that the best ``k``-term relative approximation of ``1/sqrt(t)`` on
``[1, R]`` converges like ``exp(-pi^2 k / log R)``, and that its exponents are spaced
uniformly (in ``log t``) in the interior with a few adjusted terms at either end.

Here the sum is written in ``x = log r`` on ``[0, L]`` (``r`` in units of ``r_min``,
``L = log(r_max / r_min)``) as ``sum_k b_k g(x - m_k)`` with the bump
``g(y) = exp(y - e^{2y})`` (``t_k = e^{-m_k}``, ``c_k = b_k t_k``), started from
uniformly spaced bumps with non-negative least-squares weights, and refined by
Levenberg-Marquardt on the log-weights and positions, minimising the ``l_p`` norm of the
relative error ``r P(r) - 1`` for ``p = 2, 4, ..., 64`` (a continuation towards the
minimax error). Starting above the expected count, one term at a time is dropped (the
positions resampled, refined again) while the refined sum still meets ``tol`` on a dense,
independent sample of ``2 * 10^5 + 2000`` distances.

Refining takes seconds to minutes, so sums are computed once, for the grids of Benner,
Khoromskaia and Khoromskij (``r`` in ``[h, sqrt(3) n h]`` for an ``n^3`` grid of step ``h``)
at ``tol`` 1e-6, 1e-7, 1e-8, and shipped in ``data/newton_expsums.json``; :func:`lookup`
returns the fewest-term shipped sum that covers a requested ratio ``r_max / r_min`` at a
requested tolerance. Every entry records ``how`` it was made; the shipped file came from::

    python -m problems.potentials._expsum                              # fit every entry
    python -m problems.potentials._expsum --improve --tol 1e-7         # twice
    python -m problems.potentials._expsum --improve --tol 1e-6 1e-8    # once
    python -m problems.potentials._expsum --transplant 256 26 --tol 1e-7 --n 512
    python -m problems.potentials._expsum --transplant 512 29 --tol 1e-7 --n 1024
    python -m problems.potentials._expsum --transplant 1024 31 --tol 1e-7 --n 2048
    python -m problems.potentials._expsum --transplant 2048 34 --tol 1e-7 --n 4096
    python -m problems.potentials._expsum --transplant 2048 36 --tol 1e-7 --n 8192
    python -m problems.potentials._expsum --transplant 8192 39 --tol 1e-7 --n 16384
    python -m problems.potentials._expsum --transplant 16384 41 --tol 1e-7 --n 32768

(about two hours of one core in all). The refinement is not bit-reproducible across BLAS
builds; what is guaranteed is checked by the tests: every shipped sum meets its ``tol``
against the exact ``1/r`` on 10^5 points of their own.

References
----------
.. [BH05] D. Braess, W. Hackbusch, "Approximation of 1/x by exponential sums in [1, inf)",
   IMA J. Numer. Anal. 25 (2005) 685-697.
.. [Hac19] W. Hackbusch, "Computation of best L^inf exponential sums for 1/x by Remez'
   algorithm", Comput. Vis. Sci. 20 (2019) 1-11.
.. [BKK18] P. Benner, V. Khoromskaia, B. N. Khoromskij, SIAM J. Sci. Comput. 40 (2018) A1034.
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
import time

import numpy as np
from scipy.optimize import least_squares, nnls

#: the shipped table
TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "newton_expsums.json")
#: grids n (r in [1, sqrt(3) n]) and tolerances of the shipped table: every n of TABLE_N at every
#: tolerance of TABLE_TOL, and the extra grids TABLE_EXTRA_N at 1e-7
TABLE_N = (256, 512, 1024, 2048, 4096, 8192)
TABLE_TOL = (1e-6, 1e-7, 1e-8)
TABLE_EXTRA_N = {1e-7: (64, 128, 16384, 32768)}
#: points of the dense verification sample
N_VERIFY = 200_001
#: the l_p continuation of the refinement
_P_STAGES = (2, 4, 8, 16, 32, 64)


# ------------------------------------------------------------------------------ the sum in x = log r
def _bumps(theta: np.ndarray, x: np.ndarray):
    k = theta.size // 2
    y = x[:, None] - theta[None, k:]
    with np.errstate(over="ignore", under="ignore"):
        e2 = np.exp(2.0 * y)
        terms = np.exp(theta[None, :k] + y - e2)
    return terms, e2


def _error(theta, x):
    """Relative error ``r P(r) - 1`` at ``x = log r``."""
    return _bumps(theta, x)[0].sum(axis=1) - 1.0


def _jacobian(theta, x):
    terms, e2 = _bumps(theta, x)
    return np.hstack([terms, terms * (2.0 * e2 - 1.0)])


def to_gaussians(theta) -> tuple[np.ndarray, np.ndarray]:
    """``(c, t)`` of ``P(r) = sum c_k exp(-t_k^2 r^2)`` (``r`` in units of ``r_min``), widest first."""
    k = theta.size // 2
    t = np.exp(-theta[k:])
    c = np.exp(theta[:k]) * t
    order = np.argsort(t)
    return c[order], t[order]


def relative_error(c, t, rho: float, n: int = N_VERIFY) -> float:
    """Max of ``|r P(r) - 1|`` over ``n`` log-spaced distances in ``[1, rho]`` and 2000 random ones.

    The independent check: the exact ``1/r`` against the sum, on points not used by the fit.
    """
    rng = np.random.default_rng(12345)
    x = np.concatenate([np.linspace(0.0, math.log(rho), n), rng.uniform(0.0, math.log(rho), 2000)])
    worst = 0.0
    for chunk in np.array_split(x, max(1, x.size // 20000)):
        r = np.exp(chunk)
        p = np.exp(-np.outer(r * r, t * t)) @ c
        worst = max(worst, float(np.max(np.abs(r * p - 1.0))))
    return worst


# ------------------------------------------------------------------------------ refinement
def _start(k: int, big_l: float) -> np.ndarray:
    """Uniformly spaced bumps over ``[-1, L + 1]`` with non-negative least-squares weights."""
    mu = np.linspace(-1.0, big_l + 1.0, k)
    x = np.linspace(0.0, big_l, 30 * k)
    y = x[:, None] - mu[None, :]
    b, _ = nnls(np.exp(y - np.exp(2.0 * y)), np.ones_like(x))
    keep = b > 1e-12 * b.max()
    return np.concatenate([np.log(b[keep]), mu[keep]])


def refine(theta: np.ndarray, big_l: float, nfev: int = 400) -> tuple[np.ndarray, float]:
    """Levenberg-Marquardt on the ``l_p`` norm of the relative error, ``p = 2 ... 64``."""
    k = theta.size // 2
    x = np.linspace(0.0, big_l, max(1500, 50 * k))
    for p in _P_STAGES:
        scale = float(np.abs(_error(theta, x)).max())
        q = 0.5 * (p - 2)
        res = least_squares(_LpResidual(x, scale, q), theta, jac=_LpJacobian(x, scale, q), method="lm",
                            xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=nfev)
        if np.all(np.isfinite(res.x)):
            theta = res.x
    return theta, float(np.abs(_error(theta, x)).max())


class _LpResidual:
    def __init__(self, x, scale, q):
        self.x, self.scale, self.q = x, scale, q

    def __call__(self, theta):
        e = _error(theta, self.x)
        with np.errstate(over="ignore", invalid="ignore"):
            return e * np.abs(e / self.scale) ** self.q


class _LpJacobian(_LpResidual):
    def __call__(self, theta):
        e = _error(theta, self.x)
        with np.errstate(over="ignore", invalid="ignore"):
            return ((1.0 + self.q) * np.abs(e / self.scale) ** self.q)[:, None] * _jacobian(theta, self.x)


def _weights_for(mu: np.ndarray, big_l: float) -> np.ndarray:
    """``theta`` for bumps at ``mu`` with non-negative least-squares weights."""
    x = np.linspace(0.0, big_l, 30 * mu.size)
    y = x[:, None] - mu[None, :]
    b, _ = nnls(np.exp(y - np.exp(2.0 * y)), np.ones_like(x))
    b = np.maximum(b, 1e-8 * b.max())
    return np.concatenate([np.log(b), mu])


def _drop_one(theta: np.ndarray, big_l: float) -> np.ndarray:
    """A start with one term fewer: the sorted positions resampled at ``k - 1`` evenly spread indices."""
    k = theta.size // 2
    mu = np.sort(theta[k:])
    return _weights_for(np.interp(np.linspace(0.0, 1.0, k - 1), np.linspace(0.0, 1.0, k), mu), big_l)


def _from_entry(entry: dict) -> np.ndarray:
    """``theta`` of a table entry (inverse of :func:`to_gaussians`)."""
    c, t = np.asarray(entry["c"], dtype=float), np.asarray(entry["t"], dtype=float)
    return np.concatenate([np.log(c / t), -np.log(t)])


def improve(entry: dict, nfev: int = 1500, verbose: bool = False) -> dict:
    """Try once more to drop a term from a table entry, with a longer refinement; the entry if that fails."""
    tol, rho = entry["tol"], entry["rho"]
    big_l = math.log(rho)
    trial, _ = refine(_drop_one(_from_entry(entry), big_l), big_l, nfev=nfev)
    c, t = to_gaussians(trial)
    err = relative_error(c, t, rho)
    if verbose:
        print(f"  improve rho={rho:.6g} tol={tol:g}: {c.size} terms, error {err:.3e}", flush=True)
    if err <= tol and c.size < entry["rank"]:
        return {**entry, "rank": int(c.size), "error": err, "c": c.tolist(), "t": t.tolist()}
    return entry


def transplant(entry: dict, rho: float, k: int, nfev: int = 1500, verbose: bool = False) -> dict | None:
    """Start from another range's entry: positions stretched to ``[0, log rho]`` and resampled at ``k``.

    Refines, then drops terms while the dense check holds; the best sum that meets
    ``entry["tol"]``, or None.
    """
    tol = entry["tol"]
    theta = _from_entry(entry)
    l0, l1 = math.log(entry["rho"]), math.log(rho)
    mu = (np.sort(theta[theta.size // 2:]) + 1.0) * (l1 + 1.0) / (l0 + 1.0) - 1.0
    mu = np.interp(np.linspace(0.0, 1.0, k), np.linspace(0.0, 1.0, mu.size), mu)
    best = None
    trial, _ = refine(_weights_for(mu, l1), l1, nfev=nfev)
    while True:
        c, t = to_gaussians(trial)
        err = relative_error(c, t, rho)
        if verbose:
            print(f"  transplant to rho={rho:.6g} tol={tol:g}: {c.size} terms, error {err:.3e}", flush=True)
        if err > tol:
            return best
        best = {"tol": tol, "rho": rho, "rank": int(c.size), "error": err, "c": c.tolist(), "t": t.tolist()}
        trial, _ = refine(_drop_one(trial, l1), l1, nfev=nfev)


def fit(tol: float, rho: float, verbose: bool = False) -> dict:
    """The fewest-term refined sum found with ``max |r P(r) - 1| <= tol`` on ``[1, rho]`` (dense check).

    Start above the expected count (``(log rho + 0.8) / h + 3`` terms, ``h`` the interior
    spacing at which uniform bumps alias to ``tol``), refine, then drop one term at a time
    (:func:`_drop_one`, refine, verify) while the dense check holds.
    """
    big_l = math.log(rho)
    h = math.pi ** 2 / (2.0 * math.log(2.0 * math.sqrt(2.0) / tol))   # interior spacing of a best sum
    k = max(3, int(math.ceil((big_l + 0.8) / h)) + 3)

    def verified(theta):
        c, t = to_gaussians(theta)
        err = relative_error(c, t, rho)
        if verbose:
            print(f"  rho={rho:.6g} tol={tol:g}: {c.size} terms, error {err:.3e}", flush=True)
        return c, t, err

    while True:
        theta, _ = refine(_start(k, big_l), big_l)
        best = verified(theta)
        if best[2] <= tol:
            break
        if k > 250:
            raise RuntimeError(f"no refined sum met tol={tol:g} on [1, {rho:g}]")
        k += 3
    while theta.size > 2:
        trial, _ = refine(_drop_one(theta, big_l), big_l)
        cand = verified(trial)
        if cand[2] > tol:
            break
        theta, best = trial, cand
    c, t, err = best
    return {"tol": tol, "rho": rho, "rank": int(c.size), "error": err, "c": c.tolist(), "t": t.tolist()}


# ------------------------------------------------------------------------------ the shipped table
@functools.lru_cache(maxsize=1)
def load_table(path: str = TABLE_PATH) -> tuple:
    """The shipped sums as a tuple of dicts (``tol``, ``rho``, ``rank``, ``error``, ``c``, ``t`` arrays)."""
    if not os.path.exists(path):
        return ()
    with open(path) as fh:
        data = json.load(fh)
    return tuple({**e, "c": np.asarray(e["c"], dtype=float), "t": np.asarray(e["t"], dtype=float)}
                 for e in data["entries"])


def lookup(tol: float, rho: float):
    """The shipped sum with the fewest terms valid on ``[1, rho']``, ``rho' >= rho``, at ``tol' <= tol``; or None."""
    best = None
    for e in load_table():
        if e["tol"] <= tol and e["rho"] >= rho * (1.0 - 1e-12):
            if best is None or (e["rank"], e["error"]) < (best["rank"], best["error"]):
                best = e
    return best


def coverage() -> tuple[list[float], float]:
    """The tolerances of the shipped table and the widest ratio it covers."""
    table = load_table()
    return sorted({e["tol"] for e in table}), max((e["rho"] for e in table), default=0.0)


def main(argv=None) -> None:
    """Regenerate ``data/newton_expsums.json`` (``--tol`` / ``--n`` restrict it; about two minutes an entry).

    Without ``--tol`` / ``--n``: every ``TABLE_N`` at every ``TABLE_TOL`` and ``TABLE_EXTRA_N``.
    """
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--tol", type=float, nargs="*", default=None)
    ap.add_argument("--n", type=int, nargs="*", default=None)
    ap.add_argument("--out", default=TABLE_PATH)
    ap.add_argument("--merge", action="store_true", help="keep the entries of --out not recomputed")
    ap.add_argument("--improve", action="store_true",
                    help="instead of fitting anew, try to drop one more term from the entries of --out (--tol, --n)")
    ap.add_argument("--transplant", type=int, nargs=2, metavar=("N_FROM", "K"),
                    help="instead of fitting anew, start the entries --tol, --n of --out from the entry of grid "
                         "N_FROM stretched to K terms (kept where that needs fewer terms)")
    args = ap.parse_args(argv)
    entries = {}
    if (args.merge or args.improve or args.transplant) and os.path.exists(args.out):
        with open(args.out) as fh:
            for e in json.load(fh)["entries"]:
                entries[(e["tol"], e["n"])] = e
    for tol in args.tol or TABLE_TOL:
        grid = args.n or sorted(TABLE_N + TABLE_EXTRA_N.get(tol, ()))
        for n in sorted(grid):
            t0 = time.perf_counter()
            if args.transplant:
                n_from, k = args.transplant
                new = transplant(entries[(tol, n_from)], math.sqrt(3.0) * n, k, verbose=True)
                old = entries[(tol, n)]
                e = {**old, **new, "how": old.get("how", "fit, improve") + f", transplant {n_from}"} \
                    if new is not None and new["rank"] < old["rank"] else old
            elif args.improve:
                if (tol, n) not in entries:
                    continue
                e = improve(entries[(tol, n)], verbose=True)
            else:
                e = fit(tol, math.sqrt(3.0) * n, verbose=True)
            e["n"], e["fit_s" if not (args.improve or args.transplant) else "improve_s"] = n, time.perf_counter() - t0
            entries[(tol, n)] = e
            print(f"tol {tol:g} n {n}: {e['rank']} terms, error {e['error']:.3e} ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
            os.makedirs(os.path.dirname(args.out), exist_ok=True)
            with open(args.out, "w") as fh:
                json.dump({"about": "exponential sums r P(r) ~ 1 on [1, rho], rho = sqrt(3) n, max relative error "
                                    "'error' (<= tol) on 2e5 log-spaced + 2000 random points; P(r) = sum c exp(-t^2 r^2)",
                           "entries": [entries[key] for key in sorted(entries)]}, fh, indent=0)


if __name__ == "__main__":
    main(sys.argv[1:])
