"""``newtonkit approx <system>``: the long-range Coulomb potential of a particle system in Chebyshev-Tucker format.

::

    newtonkit approx lattice --size 24 24 4 --tol 1e-7 [--degree auto|128] [--cutoff 3] [--store runs.h5] [--json]
    newtonkit approx cloud --n 500 --seed 0 --tol 1e-7 [--degree auto|128]

The Newton kernel is a sum of Gaussians (sinc quadrature); its long-range part
(:meth:`problems.potentials.GaussianSum.long_range`) summed over the particles is a canonical tensor that
:func:`solvers.approx.chebtucker` turns into a Chebyshev-Tucker function (Benner, Khoromskij, Khoromskaia, Sun,
arXiv:2503.01696, 2025). Printed: Tucker ranks, error against direct summation at random points, storage, timings.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import solvers

from . import EXIT_NOT_CONVERGED, EXIT_OK, UsageError, _format, add_common_solve
from .solve import check_number, check_store, parse_tags

#: above this canonical rank (kernel terms x particles) the potential is handed over as grid values
CP_RANK_LIMIT = 4000
#: ``--degree auto`` adapts the degree on the canonical route up to this canonical rank, else the grid route at
#: AUTO_GRID_DEGREE. Measured (2 threads, tol 1e-7): cloud n = 500 (rank 7 500) canonical 5.6 s, grid 28 s; n = 2000
#: (rank 34 000) canonical 80 s and 1.3 GB, grid 17 s; the limit lies between
AUTO_CP_RANK_LIMIT, AUTO_GRID_DEGREE = 16_000, 128


# ------------------------------------------------------------------------------ building blocks
def lattice_system(size, spacing: float, charges: str, seed: int | None):
    """``--size/--spacing/--charges/--seed`` checked as flags, then :func:`problems.potentials.cubic_lattice`."""
    from problems import potentials

    if len(size) != 3 or any(n < 1 for n in size):
        raise UsageError(f"--size takes 3 positive integers, got {list(size)}")
    if int(np.prod(size)) > 200_000:
        raise UsageError(f"--size {' '.join(map(str, size))}: {int(np.prod(size))} particles; at most 200000 "
                         "(direct summation is the reference)")
    check_number("--spacing", spacing, positive=True)
    if not 1e-100 <= spacing <= 1e100:
        raise UsageError(f"--spacing must lie within [1e-100, 1e100] (the kernel's Gaussian exponents scale like "
                         f"1 / spacing^2), got {spacing:g}; give positions in units near the spacing")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    return potentials.cubic_lattice(tuple(size), spacing=spacing, charges=charges, seed=seed)


def cloud_system(n: int, seed: int | None):
    """``--n/--seed`` checked as flags, then :func:`problems.potentials.random_cloud`."""
    from problems import potentials

    if not 1 <= n <= 20_000:
        raise UsageError(f"--n must be between 1 and 20000, got {n}")
    if seed is not None and seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    return potentials.random_cloud(n, seed=seed)


def degree_arg(text: str):
    """``--degree``: ``auto`` or an integer."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None


def check_degree(degree, tol: float) -> None:
    check_number("--tol", tol, positive=True)
    if not 1e-14 <= tol <= 0.1:         # the range run_case takes, named as the flag
        raise UsageError(f"--tol must lie in [1e-14, 0.1], got {tol:g}")
    if degree != "auto" and not 2 <= degree <= 1024:
        raise UsageError(f"--degree must be between 2 and 1024, got {degree}")


def check_grid_memory(degree: int) -> None:
    """The grid route's ``(degree + 1)^3`` values and about three copies, refused beyond the memory available."""
    from problems import _checks

    need, limit = 4 * 8.0 * (degree + 1) ** 3, _checks.memory_limit()
    if need > limit:
        raise UsageError(f"--degree {degree}: the {degree + 1}^3 grid of values (this system's canonical rank is "
                         f"above {CP_RANK_LIMIT}, so the potential is sampled on the grid) needs about "
                         f"{_checks.fmt_bytes(need)}, more than the {_checks.fmt_bytes(limit)} available; "
                         "use a smaller --degree")


def approximate(V, degree, tol: float, method: str = "hosvd", backend=None):
    """Chebyshev-Tucker approximation of the potential ``V`` (a :class:`problems.potentials.ParticlePotential`).

    ``degree="auto"``: canonical input at the degrees :func:`solvers.chebtucker` picks (doubled from 8 per
    axis until the coefficients fall below ``tol``) up to canonical rank :data:`AUTO_CP_RANK_LIMIT`, the grid
    route at :data:`AUTO_GRID_DEGREE` above. A fixed degree: canonical input (reduced HOSVD, never
    the full grid) when ``V.rank <= CP_RANK_LIMIT``;
    otherwise the values on the Chebyshev grid from :meth:`ParticlePotential.grid_values`
    (assembled without forming ``m^3 x rank`` work) and :meth:`ChebTucker.from_values`.
    Returns ``(ct, info)``: ``input``, ``build_s`` (wall time, both stages), ``compile_s`` (Numba's part of it)."""
    from ..approx import ChebTucker, chebtucker
    from ..results import compile_seconds

    c0, t0 = compile_seconds(), time.perf_counter()
    with warnings.catch_warnings():     # "not resolved" is reported by the command itself (resolved, exit code 1)
        warnings.simplefilter("ignore", RuntimeWarning)
        path = "grid values"
        if degree == "auto" and V.rank > AUTO_CP_RANK_LIMIT:
            degree, path = AUTO_GRID_DEGREE, f"grid values (--degree auto: {AUTO_GRID_DEGREE} above canonical " \
                                             f"rank {AUTO_CP_RANK_LIMIT})"
        if degree == "auto" or V.rank <= CP_RANK_LIMIT:
            ct = chebtucker(V, V.domain, degree=degree, tol=tol, method=method, backend=backend)
            path = "cp"
        else:
            check_grid_memory(degree)
            t_wall = time.time()
            values = V.grid_values(ChebTucker.nodes(V.domain, degree))
            grid_s = time.perf_counter() - t0
            ct = ChebTucker.from_values(values, V.domain, tol=tol, method=method, backend=backend)
            _include_sampling(ct, grid_s, t_wall)
    return ct, {"input": path, "build_s": time.perf_counter() - t0, "compile_s": compile_seconds() - c0}


#: most error samples ``--samples`` takes (each is a direct sum over up to 200 000 particles)
MAX_SAMPLES = 1_000_000


def measure(ct, V, samples: int, seed: int = 0) -> dict:
    """Error of ``ct`` against direct summation at ``samples`` uniform points of the box, and timings."""
    rng = np.random.default_rng(seed)
    box = np.asarray(V.box)
    pts = rng.uniform(box[:, 0], box[:, 1], (samples, 3))
    ct(pts[:2])                       # compile / pack outside the clocks
    V.direct(pts[:2])
    t0 = time.perf_counter()
    approx = np.asarray(solvers.get_backend(ct.backend).to_numpy(ct(pts)))
    t_ct = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = V.direct(pts)
    t_direct = time.perf_counter() - t0
    scale = float(np.abs(ref).max())
    err = float(np.abs(approx - ref).max())
    return {"samples": samples, "max_abs_error": err, "max_rel_error": err / scale if scale > 0 else err,
            "max_abs_value": scale, "eval_s": t_ct, "direct_s": t_direct,
            "points_per_s": samples / t_ct if t_ct > 0 else float("inf"),
            "speedup_vs_direct": t_direct / t_ct if t_ct > 0 else float("inf")}


def run_case(system, *, tol: float, degree: int, cutoff: float, kernel_tol: float | None = None,
             method: str = "hosvd", samples: int = 2000, backend=None, seed: int = 0) -> dict:
    """Build the long-range potential of ``system`` (:class:`problems.potentials.Particles`),
    approximate it and measure it; returns a dict with ``ct``, ``potential`` and the figures."""
    from problems import potentials

    t0 = time.perf_counter()
    V = potentials.long_range_potential(system.positions, system.charges, box=system.box,
                                        tol=kernel_tol or tol, cutoff=cutoff)
    t_kernel = time.perf_counter() - t0
    ct, info = approximate(V, degree, tol, method, backend)
    m = measure(ct, V, samples, seed)
    full = 8 * int(np.prod([n + 1 for n in ct.degree]))
    out = {"ct": ct, "potential": V, "ranks": ct.ranks, "degree": ct.degree, "kernel_rank": V.kernel.rank,
           "newton_rank": V.kernel.params.get("full_rank"), "cp_rank": V.rank, "n_particles": V.n_particles,
           "cutoff": cutoff, "tol": tol, "kernel_s": t_kernel, "nbytes": ct.nbytes, "full_nbytes": full,
           "compression": full / ct.nbytes, **info, **m}
    est = ct.error_estimate()
    out.update(error_estimate=est["total"], resolved=est["resolved"])
    return out


def summary_lines(r: dict) -> list[str]:
    f = _format.fmt
    return [
        f"particles: {r['n_particles']}, Newton kernel: {r['newton_rank']} Gaussians, long-range part: "
        f"{r['kernel_rank']} (cutoff {f(r['cutoff'])}), "
        f"canonical rank {r['cp_rank']}",
        f"Chebyshev degree: {r['degree']}, Tucker ranks: {r['ranks']} (input: {r['input']})",
        f"max error vs direct summation ({r['samples']} points): {r['max_abs_error']:.3e} absolute, "
        f"{r['max_rel_error']:.3e} relative to max |V| = {f(r['max_abs_value'])}; a-posteriori estimate "
        f"{r['error_estimate']:.3e}",
        f"storage: {r['nbytes']} bytes vs {r['full_nbytes']} for the full coefficient tensor "
        f"({f(r['compression'])}x smaller)",
        f"time: kernel {f(r['kernel_s'])} s, build {f(r['build_s'])} s" + (f" (of which {f(r['compile_s'])} s "
        "compiling or loading Numba kernels)" if r.get("compile_s", 0.0) >= 0.1 else "") + f"; evaluation "
        f"{f(r['points_per_s'])} points/s, {f(r['speedup_vs_direct'])}x faster than direct summation",
    ]


def _public(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("ct", "potential")}


# ------------------------------------------------------------------------------ the command
def _add_common(p) -> None:
    p.add_argument("--tol", type=float, default=1e-7,
                   help="accuracy of the kernel quadrature and of the Tucker compression (default: 1e-7)")
    p.add_argument("--degree", type=degree_arg, default="auto",
                   help="Chebyshev degree per axis, m = degree + 1, or 'auto' (default): doubled from 8 per axis "
                        "until the coefficients fall below --tol (at most 512)")
    p.add_argument("--method", default="hosvd", choices=["hosvd", "sthosvd", "hooi"],
                   help="Tucker compression: HOSVD, sequentially truncated HOSVD or HOOI sweeps (default: hosvd)")
    p.add_argument("--samples", type=int, default=2000,
                   help="random points of the box for the error against direct summation (default: 2000)")
    p.add_argument("--max-error", type=float, default=None,
                   help="exit with code 1 when the measured relative error exceeds this")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--store", default=None, metavar="FILE", help="store the approximation in this HDF5 run store")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag stored with the run (repeatable)")
    add_common_solve(p)


def cmd_approx(args) -> int:
    check_degree(args.degree, args.tol)
    if args.samples < 1:
        raise UsageError(f"--samples must be >= 1, got {args.samples}")
    if args.samples > MAX_SAMPLES:
        raise UsageError(f"--samples must be at most {MAX_SAMPLES} (each one is a direct sum over every particle), "
                         f"got {args.samples}")
    if args.max_error is not None:
        check_number("--max-error", args.max_error, positive=True)
    tags = parse_tags(args.tag)
    if args.store is not None:
        check_store(args.store)
    if args.system == "lattice":
        system = lattice_system(args.size, args.spacing, args.charges, args.seed)
        cutoff = 3.0 * args.spacing if args.cutoff is None else args.cutoff
    else:
        system = cloud_system(args.n, args.seed)
        cutoff = 3.0 if args.cutoff is None else args.cutoff
    check_number("--cutoff", cutoff, positive=True)
    solvers.get_backend(args.backend)
    r = run_case(system, tol=args.tol, degree=args.degree, cutoff=cutoff, method=args.method,
                 samples=args.samples, backend=args.backend)
    if args.store:
        res = r["ct"].to_result()
        res.stats.update({k: v for k, v in _public(r).items() if isinstance(v, (int, float))})
        with solvers.RunStore(args.store) as store:
            r["run_id"] = store.save(res, problem=r["potential"], tags={"command": f"approx {args.system}", **tags},
                                     seed=args.seed)
    if args.json:
        from .runs import dumps

        print(dumps(_public(r)))
    else:
        for line in summary_lines(r):
            print(line)
        if args.store:
            print(f"stored run {r['run_id']} in {args.store}")
    ok = args.max_error is None or r["max_rel_error"] <= args.max_error
    if not ok and not args.json:
        print(f"the measured relative error {r['max_rel_error']:.3e} exceeds --max-error {args.max_error:g}; "
              "raise --degree or --cutoff, or lower --tol")
    if not r["resolved"] and not args.json:
        at = (f"degree {args.degree}" if args.degree != "auto" else f"degrees {r['degree']} (--degree auto: at "
              f"most 512 on the canonical route, {AUTO_GRID_DEGREE} on the grid route)")
        print(f"not resolved at {at}: the Chebyshev coefficients do not fall below --tol (or decay too slowly), so "
              "the a-posteriori estimate is not a bound; raise --degree")
    return EXIT_OK if ok and r["resolved"] else EXIT_NOT_CONVERGED


def add_parser(sub) -> None:
    p = sub.add_parser("approx", help="long-range potential of a particle system in Chebyshev-Tucker format",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    ksub = p.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    lp = ksub.add_parser("lattice", help="charges on an n1 x n2 x n3 lattice (rock salt by default)")
    lp.add_argument("--size", type=int, nargs=3, default=[24, 24, 4], metavar="N",
                    help="lattice size (default: 24 24 4)")
    lp.add_argument("--spacing", type=float, default=1.0, help="lattice step (default: 1.0)")
    lp.add_argument("--charges", default="alternating", choices=["alternating", "random", "positive"],
                    help="charges (default: alternating, (-1)^(i+j+k))")
    lp.add_argument("--seed", type=int, default=0, help="seed for --charges random (default: 0)")
    lp.add_argument("--cutoff", type=float, default=None, help="range-separation radius (default: 3 x spacing)")
    _add_common(lp)
    lp.set_defaults(func=cmd_approx)
    cp = ksub.add_parser("cloud", help="a bio-molecule-like cloud of partial charges (branched chain)")
    cp.add_argument("--n", type=int, default=500, help="number of atoms (default: 500)")
    cp.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    cp.add_argument("--cutoff", type=float, default=None, help="range-separation radius (default: 3.0)")
    _add_common(cp)
    cp.set_defaults(func=cmd_approx)


def _include_sampling(ct, grid_s: float, t_wall: float) -> None:
    """Let the approximation's time and provenance cover the sampling on the grid as well as the
    compression of those values (``stats['grid_values_s']`` is the sampling alone)."""
    from ..runs.provenance import utc_iso

    ct.stats["grid_values_s"] = float(grid_s)
    ct.stats["time_s"] = float(ct.stats.get("time_s", 0.0)) + float(grid_s)
    if "wall_time_s" in ct.provenance:
        ct.provenance["wall_time_s"] = float(ct.provenance["wall_time_s"]) + float(grid_s)
        ct.provenance["utc_start"] = utc_iso(t_wall)


__all__ = ["CP_RANK_LIMIT", "lattice_system", "cloud_system", "approximate", "measure", "run_case", "summary_lines",
           "cmd_approx", "add_parser", "AUTO_CP_RANK_LIMIT", "AUTO_GRID_DEGREE"]

