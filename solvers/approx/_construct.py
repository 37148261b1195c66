"""How :func:`~solvers.approx.chebtucker` builds a :class:`~solvers.approx.ChebTucker`: sample, compress, record.

:func:`_build` is the one construction behind :func:`~solvers.approx.chebtucker`,
:meth:`ChebTucker.from_values <solvers.approx.ChebTucker.from_values>` and
:meth:`ChebTucker.from_cp <solvers.approx.ChebTucker.from_cp>`: it validates the options, samples
the Chebyshev coefficients (:mod:`solvers.approx._sample`: a fixed degree, or ``degree="auto"``
doubling until the trailing coefficients fall below the tolerance), compresses them to Tucker
form (:mod:`solvers.approx._tucker`: the reduced HOSVD first for canonical input, then HOSVD,
ST-HOSVD or ST-HOSVD + HOOI; :func:`_compress`, :func:`_hooi`), checks that the function is
resolved (a ``RuntimeWarning`` when not), and records options, stats, history and provenance
(Benner, Khoromskij, Khoromskaia & Sun, arXiv:2503.01696, 2025). The class and the public
function stay in :mod:`solvers.approx.chebtucker`.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .. import _config
from ..backends import get_backend
from ..results import Timer
from . import _cheb, _sample, _tucker
from ._algebra import cp_discarded_max
from . import _validate as _v

if TYPE_CHECKING:
    from .chebtucker import ChebTucker


#: what stopped a build unresolved, in its warning (:func:`solvers.approx._sample.adapt`)
_STOPS = {"offgrid": "the interpolant misses f at points off the sampling grid by more than its trailing coefficients "
                     "suggest (the grid aliases f: it varies faster than this degree resolves)",
          "memory": "the next degree's sampling grid would exceed the memory limit (NEWTONKIT_MEMORY_LIMIT), with "
                    "trailing Chebyshev coefficients above tol",
          "grid": "the next degree's sampling grid would exceed the 2e7 points degree='auto' may sample, with "
                  "trailing Chebyshev coefficients above tol"}
#: the advice of a degree='auto' build stopped by its grid's size, not by the function (exp(-|x|^2) in 6-D at
#: degree 8 was told 'non-smooth ... split the domain': helper-148)
_SIZE_ADVICE = ("pass degree= explicitly (a full grid up to 2e8 points), raise tol, or give the function in canonical "
                "form (cp_factors), which needs no full grid")


def _build(source, dom, deg, tol, ranks, method, hooi_sweeps, backend, eval_method="auto",
           value_dtype=np.float64) -> ChebTucker:
    """A :class:`~solvers.approx.ChebTucker` of ``source`` (``("callable", f)``, ``("values", V)`` or
    ``("cp", f)``) on the box ``dom`` at degree ``deg`` (a tuple or ``"auto"``); the other arguments
    as in :func:`~solvers.approx.chebtucker`, validated here (``value_dtype``: the type the values came in)."""
    token = _sample._PREC.set(_sample._EPS64)     # this build's value precision (raised by float32 values)
    try:
        _sample.value_precision(value_dtype)
        return _build_at(source, dom, deg, tol, ranks, method, hooi_sweeps, backend, eval_method)
    finally:
        _sample._PREC.reset(token)


def _narrow_note(dom) -> str:
    """A note for an unresolved build on a box whose width is below 1e-6 of its distance from 0 along some axis:
    double precision holds few distinct points across it, so the sampled function is a staircase there (exp of a
    box [1000, 1000 + 2e-9] climbed to degree 512 with the advice to split the domain: helper-135)."""
    lo, hi = dom[:, 0], dom[:, 1]
    ratio = (hi - lo) / np.maximum(np.abs(lo), np.abs(hi))
    i = int(np.argmin(ratio))
    if not ratio[i] < 1e-6:
        return ""
    return (f". Axis {i} is narrow against its position ([{lo[i]:.17g}, {hi[i]:.17g}]: about "
            f"{(hi[i] - lo[i]) / np.spacing(max(abs(lo[i]), abs(hi[i]))):.3g} doubles across it), so its points are "
            "rounded to a coarse staircase: shift the variable (x - lo) before building")


#: a build whose values carry the relative precision ``u`` (float32: 1.2e-7) compresses and checks to at least
#: ``VALUE_EPS_TOL * u``: below that the coefficients are the values' rounding
VALUE_EPS_TOL = 4.0


def _build_at(source, dom, deg, tol, ranks, method, hooi_sweeps, backend, eval_method) -> ChebTucker:
    from .chebtucker import ChebTucker   # the class module imports this one

    d = dom.shape[0]
    tol, ranks, method = _v.tol(tol), _v.ranks(ranks, d), _v.method(method)
    hooi_sweeps = _v.per_mode("hooi_sweeps", hooi_sweeps, 1, 1, 1000)[0]
    be = get_backend(backend)
    eval_method = _v.eval_method(eval_method, be)
    kind, f = source
    if kind != "cp" and deg != "auto":
        _v.grid_size([n + 1 for n in deg], d)
    options = {"degree": deg, "tol": tol, "ranks": ranks, "method": method, "hooi_sweeps": hooi_sweeps,
               "backend": be.name, "input": kind, "eval_method": eval_method}
    timer = Timer(be)
    stop, slices = "", None
    if deg == "auto":
        data, deg, nevals, ok, stop = _sample.adapt(kind, f, dom, tol)
    elif kind == "cp":
        w, B, nevals = _sample.cp_coefficients(f, dom, deg)
        tails = _sample.cp_tails(w, B)
        data, ok = (w, B), all(_sample.resolved(tails, tol))
        if ok:                                 # the off-grid check, as for a callable below
            missed, n = _sample.cp_off_grid_miss(f, dom, w, B, tol, tails)
            nevals += n
            ok, stop = not missed, "offgrid" if missed else ""
    else:
        C, nevals, vmax = _sample.grid_coefficients(kind, f, dom, deg)
        slices = _sample.grid_slice_norms(C)          # shared by the tails and the decay test below
        tails = _sample.grid_tails(C, slices)
        data, ok = (C, vmax), all(_sample.resolved(tails, tol))
        if ok and kind == "callable":          # the off-grid check of the auto path (helper-97: T_20(x) + y at
            missed, n = _sample.off_grid_miss(f, dom, C, vmax, tol, tails)   # degree 12 was 'converged', error 1.8)
            nevals += n
            ok, stop = not missed, "offgrid" if missed else ""
    asked, u = tol, _sample._eps()
    if u > _sample._EPS64 and tol < VALUE_EPS_TOL * u:
        # f returned float32 (or coarser) values: their rounding bounds what any degree or rank resolves
        tol = VALUE_EPS_TOL * u
        warnings.warn(f"chebtucker: the values came as {_dtype_of(u)} "
                      f"(relative precision {u:.2g}), so tol={asked:g} is below what they resolve: the build used "
                      f"tol={tol:.3g} (stats['effective_tol']); return float64 values for a tighter approximation",
                      RuntimeWarning, stacklevel=4)
    with _small_dense_work(kind, data):    # (the sampling of the user's f above keeps the library's threads)
        history, sweeps = {}, 0
        if kind == "cp":
            w, B = data
            G0, Z, bound0, scale = _tucker.rhosvd(w, B, 0.5 * tol)   # ranks of the tolerance, then the asked ones
            G, V, bound1, _ = _compress(method)(G0, 0.5 * tol, ranks)
            bound = bound0 + bound1
            if method == "hooi":
                G, V, sweeps, history = _hooi(G0, V, hooi_sweeps)
                bound = bound0 + float(history["error"][-1])
            factors = [z @ v for z, v in zip(Z, V)]
        else:
            C, scale = data
            G, factors, bound, _ = _compress(method)(C, tol, ranks)
            if method == "hooi":
                G, factors, sweeps, history = _hooi(C, factors, hooi_sweeps)
                bound = float(history["error"][-1])
        # the compression's error measured at the grid points (the interpolant's values there are f's): the
        # Frobenius bound of the discarded coefficients was 30-40x below the error at a corner (helper-143)
        tmax = None if kind == "cp" else _grid_truncation_max(C, G, factors)
        with np.errstate(over="ignore"):
            G, bound = G * scale, bound * scale         # the sampled data were scaled to unit size
            tmax = None if tmax is None else tmax * scale
        if kind == "cp" and np.all(np.isfinite(G)):
            tmax = max(bound, cp_discarded_max(data[0], data[1], G, factors))
        if not np.all(np.isfinite(G)):
            raise ValueError(f"chebtucker: the function's values (max |f| = {scale:.3g}) are too close to the float64 "
                             "limit: its Tucker core overflows when scaled back; scale f down (e.g. approximate "
                             "f / 1e10) and multiply the result (ct * 1e10 refuses what overflows)")
        if history:
            history = {"error": history["error"] * scale}
        why = _STOPS.get(stop, "the trailing Chebyshev coefficients are above tol")
        tails_ok = ok
        if ok:     # small tails: also the decay of the coefficients, on both paths. (Session 20 took it off the auto
            # path, where it flagged log(1.05 + x), resolved to 1e-11; the negligible-tail cut of the test fixed that
            # since. Without it a kink at a moderate tol was 'resolved': |x| at tol 1e-4, degree 256, error 12-47 x tol,
            # outside probe helper-91; log(1.05 + x), log(1.001 + x), tanh(20 x) and Runge still pass.)
            ok = _sample.data_decays_geometrically(kind, data, G, factors, tol, slices)
            why = "the Chebyshev coefficients decay algebraically, not geometrically"
        stats = timer.stats()
        stats.update({"nevals": nevals, "truncation_bound": bound, "truncation_max": tmax, "hooi_sweeps": sweeps,
                      "degree": tuple(deg),
                      "resolved": bool(ok), "value_eps": u, "effective_tol": tol})
        if options["degree"] == "auto" and not tails_ok and stop in ("grid", "memory"):
            warnings.warn(f"chebtucker: degree='auto' stopped at degree {tuple(deg)}: {why}; {_SIZE_ADVICE}",
                          RuntimeWarning, stacklevel=4)
        elif options["degree"] == "auto" and not tails_ok:
            warnings.warn(f"chebtucker: degree='auto' stopped at degree {tuple(deg)}: {why} (the function may be "
                          "non-smooth, nearly singular or oscillating on the box); split the domain, raise tol, or pass "
                          "degree= explicitly" + _narrow_note(dom), RuntimeWarning, stacklevel=4)
        elif options["degree"] == "auto" and not ok:
            warnings.warn(f"chebtucker: degree='auto' reached small trailing coefficients at degree {tuple(deg)}, but {why} "
                          "(a jump or a kink): error_estimate() is not a bound and may underestimate the error many times "
                          "(stats['resolved'] is False); split the domain at the non-smooth point",
                          RuntimeWarning, stacklevel=4)
        elif not ok:
            warnings.warn(f"chebtucker: the function is not resolved at degree {tuple(deg)}: {why} (a jump, a kink "
                          "or too low a degree), so error_estimate() is not a bound and may underestimate the error many times "
                          "(stats['resolved'] is False); raise the degree, split the domain at the non-smooth point, or "
                          "use degree='auto'", RuntimeWarning, stacklevel=4)
        ct = ChebTucker(G, factors, dom, tol=tol, truncation_bound=bound, stats=stats, options=options,
                        provenance=timer.provenance(), method=method, backend=be.name, history=history,
                        eval_method=eval_method)
        ct._record_route()
        timer._end = None       # the route's tables count in time_s: the provenance window covers them too
        ct.provenance = timer.provenance()
    return ct


def _grid_truncation_max(C, G, factors) -> float:
    """``max |values(C - G x_1 A_1 ... x_d A_d)|`` over the Chebyshev grid: the largest difference between the
    full interpolant (which takes f's sampled values there) and its Tucker compression at the sampled points.
    One reconstruction and one multi-axis DCT-I, about the cost of the transform that made ``C``."""
    D = _tucker.reconstruct(G, factors)
    np.subtract(C, D, out=D)
    V = _cheb.values_all(D, _config.get_num_threads(), overwrite=True)
    return max(-float(V.min()), float(V.max()))          # max |V| without an |V| array


#: below this many flops of compression (:func:`_dense_flops`) the build's dense work runs on one BLAS thread
SERIAL_BUILD_FLOPS = 1e10


def _dtype_of(u: float) -> str:
    """The name of the float type whose rounding unit is ``u``."""
    for t in (np.float16, np.float32, np.float64):
        if np.finfo(t).eps == u:
            return np.dtype(t).name
    return f"a float type of eps {u:.2g}"


def _dense_flops(kind, data) -> float:
    """A rough count of the compression's dense flops: ``4 N sum m_i`` for a grid of ``N`` coefficients (the
    mode Gram matrices and projections), ``4 R sum m_i min(m_i, R)`` for ``R`` canonical terms (the factor
    orthogonalisations of RHOSVD)."""
    if kind == "cp":
        w, B = data
        R = int(np.size(w))
        return 4.0 * R * sum(b.shape[0] * min(b.shape[0], R) for b in B)
    C = data[0]
    return 4.0 * C.size * sum(C.shape)


def _small_dense_work(kind, data):
    """:func:`solvers._config.blas_serial` when the compression is small (:data:`SERIAL_BUILD_FLOPS`, about
    0.2 s on one thread), else no cap. OpenBLAS's threads spin for about 0.1 s after a threaded call, on the
    cores the Numba evaluation runs on next: a build at m = 65 followed by 2e5 points ran 1.19x the pinned time
    with ``OPENBLAS_NUM_THREADS`` unset (``benchmarks/results/blas_threads_ot_approx.json``), and the evaluation
    right after a build at m = 129 took 55 ms against 25-27 capped. A large build (m = 257: 5e10 flops) keeps
    the library's threads: what threads save there exceeds the spin, and the cap is process-wide, so a long
    one would serialise other threads' BLAS work (a threaded Dask worker's) for seconds."""
    import contextlib

    return _config.blas_serial() if _dense_flops(kind, data) < SERIAL_BUILD_FLOPS else contextlib.nullcontext()


def _compress(method):
    """Plain HOSVD for ``"hosvd"``; ST-HOSVD otherwise (also the start of HOOI: cheaper, and
    its error is at most the HOSVD bound)."""
    return _tucker.hosvd if method == "hosvd" else _tucker.sthosvd


def _hooi(C, factors, sweeps):
    """HOOI from ``factors``; ``history["error"]``: the measured Frobenius error of the
    coefficients per sweep (entry 0: the HOSVD start)."""
    G, A, err = _tucker.hooi(C, factors, sweeps=sweeps)
    return G, A, len(err) - 1, {"error": np.asarray(err)}
