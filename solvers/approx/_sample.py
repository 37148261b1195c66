"""Sampling a function at the Chebyshev grid, its coefficients, and the degree choice.

``degree="auto"`` doubles the degree of every mode whose trailing coefficients are not yet
negligible (the last two coefficient slices of that mode, in the Frobenius norm, at most
``tol * ||C||_F`` or the rounding plateau), starting from :data:`START` and stopping at
:data:`MAX_DEGREE` or :data:`MAX_AUTO_GRID` grid points; the same chopping idea as Chebfun's
(Aurentz & Trefethen, "Chopping a Chebyshev series", ACM TOMS 43, 2017), in a simpler form. A mode whose tail
is negligible but whose coefficients fail the decay test the build applies afterwards is doubled too, at most
:data:`DECAY_GROW` times (:func:`_decay_growth`).
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import _config
from . import _cheb, _tucker
from . import _validate as _v
from ._decay import (DECAY_MIN, DECAY_RATIO, RATE_DROP, STEEP_DROP, TAIL_RATE_MAX,  # noqa: F401 (re-exported)
                     _negligible_tail_cut, _runs, data_decays_geometrically, data_slice_norms, decays_geometrically,
                     grid_slice_norms, mode_floors, pattern_tail, representation_resolved, slice_norms, stopped,
                     tail_estimate, tail_estimates)
from ._precision import _EPS64, _PREC, _eps, value_precision  # noqa: F401 (re-exported)

START = 8
MAX_DEGREE = 512
MAX_AUTO_GRID = 2e7
def sample(f, pts, where=None):
    """``f(pts)`` checked (:func:`solvers.approx._validate.sampled`; ``where`` names the points in its
    non-finite-value message), its precision noted."""
    try:
        raw = f(pts)
    except TypeError as e:
        _check_arity(f, pts, e)
        raise
    value_precision(getattr(raw, "dtype", np.float64))
    return _v.sampled(f"f ({getattr(f, '__name__', type(f).__name__)})", raw, pts.shape[0], where)


def _check_arity(f, pts, err):
    """A TypeError from ``f(pts)`` because f takes the coordinates as separate arguments (``f(x, y)``) becomes one
    that says so (a raw "missing 1 required positional argument" before); any other TypeError is f's own."""
    try:
        inspect.signature(f).bind(pts)
    except TypeError:
        raise TypeError(f"f must take one argument, an (N, d) array of points (d = {pts.shape[1]}), and return N "
                        f"values; {getattr(f, '__name__', type(f).__name__)} does not accept one argument ({err}). A "
                        "function of the coordinates f(x, y, ...) can be passed as lambda p: f(*p.T)") from err
    except ValueError:             # no signature (a builtin): nothing to add
        pass


def nodes(dom, deg) -> list:
    return [_cheb.to_box(_cheb.points(n), lo, hi) for n, (lo, hi) in zip(deg, dom)]


def grid_coefficients(kind, f, dom, deg):
    """The coefficient tensor of a callable or a value grid, divided by ``vmax = max |values|``
    (so that huge or tiny values neither overflow nor underflow); returns ``(C, nevals, vmax)``."""
    if kind == "callable":
        V = grid_values(f, nodes(dom, deg))
    else:
        V = f
    vmax = max(-float(V.min()), float(V.max())) if V.size else 0.0     # max |V| without an |V| array
    if 0.0 < vmax < np.finfo(np.float64).tiny:
        who = "f" if kind == "callable" else "values"
        raise ValueError(f"{who}: every value is subnormal (max |value| = {vmax:.3g} < "
                         f"{np.finfo(np.float64).tiny:.3g}), so it carries few significant digits; scale the function")
    scale = vmax if vmax > 0 else 1.0
    safe = SAFE_SCALE[0] <= scale <= SAFE_SCALE[1]     # else scaled first: the transform's sums neither overflow
    C = _cheb.coefficients_all(V if safe else V / scale, scale if safe else 1.0, _config.get_num_threads())
    return C, int(V.size), scale                       # (nor lose digits to subnormals)


#: values whose largest magnitude lies in this range are transformed as they are and divided by it after (one
#: pass less); outside it they are divided first
SAFE_SCALE = (1e-100, 1e100)


#: ``f`` is sampled on the tensor grid in calls of at most this many points (whole rows of the grid in C order;
#: one row where a row is longer)
SAMPLE_CHUNK = 32768


def grid_values(f, axes, chunk: int = SAMPLE_CHUNK) -> np.ndarray:
    """``f`` at the tensor grid of the 1-D point sets ``axes``, as an array of the grid's shape.

    ``f`` is called on consecutive blocks of the grid's points in C order (the last axis fastest), each a fresh
    ``(N, d)`` array of at most ``max(chunk, n_last)`` points: whole rows of the grid's trailing axes whose
    product fits in ``chunk``, as many as fit (so between about half of ``chunk`` and ``chunk`` points; 16641 at
    129^3). One call on all the points made the grid (51 MB at 129^3) and every
    temporary of a NumPy ``f`` (as many again, several times) fresh allocations of that size: those page-fault
    on first write, and with transparent huge pages (``enabled=always``, ``defrag=madvise``: NumPy advises huge
    pages for large arrays) a fresh one could stall in memory compaction -- builds measured 2-4x their median
    in bursts (session 31, ``/tmp/s31/chunk.py``: Slater 129^3, 95-100 ms with spikes to 230-530 ms; in blocks
    97-128 ms, no spike). Blocks of 32768 points keep ``f``'s temporaries in the cache and under NumPy's
    huge-page threshold (4 MB)."""
    shape = tuple(len(a) for a in axes)
    d = len(axes)
    out = np.empty(shape)
    flat = out.reshape(-1)
    s = d - 1                                 # the trailing axes s.. go whole into every block
    while s > 0 and int(np.prod(shape[s - 1:])) <= chunk:
        s -= 1
    Q = int(np.prod(shape[s:]))
    rest = grid_points(axes[s:]).reshape(1, Q, d - s)
    if s == 0:
        flat[:] = sample(f, rest.reshape(Q, d))
        return out
    lead = grid_points(axes[:s])              # (P, s): the leading axes' points, one row per block row
    k = max(1, chunk // Q)
    for p0 in range(0, lead.shape[0], k):
        p1 = min(lead.shape[0], p0 + k)
        pts = np.empty((p1 - p0, Q, d))       # fresh each call: f may keep or change its argument
        pts[..., :s] = lead[p0:p1, None, :]
        pts[..., s:] = rest
        flat[p0 * Q:p1 * Q] = sample(f, pts.reshape(-1, d), f"in the block of {(p1 - p0) * Q} of the {flat.size} "
                                     "Chebyshev grid points it was called with (the first block with any)")
    return out


def grid_points(axes) -> np.ndarray:
    """The tensor grid of the 1-D point sets ``axes`` as an ``(N, d)`` array (C order: the last axis
    fastest), written in place (``np.stack`` of ``meshgrid`` copies took 2x as long: 16 ms at 129^3)."""
    shape = tuple(len(a) for a in axes)
    d = len(axes)
    pts = np.empty(shape + (d,))
    for i, a in enumerate(axes):
        view = [None] * d
        view[i] = slice(None)
        pts[..., i] = np.asarray(a, dtype=np.float64)[tuple(view)]
    return pts.reshape(-1, d)


@_config.blas_serial()    # norms (BLAS) just before the Numba evaluation: see _construct._build
def grid_tails(C, norms=None):
    """Per mode of ``C`` (scaled to unit maximum value): the interpolation error its slice norms suggest
    (:func:`tail_estimate`: the last two, more where they decay slowly), the rounding level, and ``||C||_F``.
    ``norms``: :func:`grid_slice_norms` of ``C`` when already at hand."""
    norms = grid_slice_norms(C) if norms is None else norms
    norm = float(np.sqrt(np.sum(np.square(norms[0])))) if C.ndim else float(abs(C))
    out = []
    for i in range(C.ndim):
        plateau = 10.0 * _eps() * max(1.0, norm) * np.sqrt(2.0 * (C.size // C.shape[i]))
        out.append((tail_estimate(norms[i], plateau), plateau, norm))
    return out


def cp_coefficients(f, dom, deg):
    """``(weights, [coefficient factors])`` of a canonical function; returns ``(w, B, nevals)``."""
    w, U = _v.cp(f, nodes(dom, deg))
    return w, [_cheb.coefficients(u, axis=0) for u in U], int(sum(u.size for u in U))


@_config.blas_serial()
def cp_tails(w, B):
    """Per mode: ``sum_r |xi_r| t_r`` with ``t_r`` the :func:`tail_estimate` of the unit column ``B_i[:, r]``
    (the last two coefficients, more where they decay slowly; relative to the scale of
    :func:`~solvers.approx._tucker.cp_normalize`), the rounding level and the norm."""
    xi, Bh, _ = _tucker.cp_normalize(w, B)
    if xi.size == 0:
        return [(0.0, 0.0, 0.0)] * len(B)
    if xi.size <= _tucker.GRAM_MAX:
        G = np.ones((xi.size, xi.size))
        for b in Bh:
            G *= b.T @ b
        norm = float(np.sqrt(max(xi @ G @ xi, 0.0)))
    else:                       # many terms: sum |xi_r| >= ||A||_F stands in (exact without cancellation)
        norm = float(np.abs(xi).sum())
    plateau = 10.0 * _eps() * float(np.abs(xi).sum())
    return [(float(np.abs(xi) @ tail_estimates(np.abs(b), 10.0 * _eps())), plateau, norm) for b in Bh]


def resolved(tails, tol) -> list:
    """Per mode: whether the trailing coefficients are negligible."""
    return [t <= max(tol * norm, plateau) for t, plateau, norm in tails]


def adapt(kind, f, dom, tol):
    """Sample at doubling degrees until every mode is resolved or a limit is reached.

    Returns ``(data, deg, nevals, ok, stop)`` with ``data`` = ``(C, vmax)`` or ``(w, B)`` and ``stop`` why it
    stopped unresolved (``""`` when resolved): ``"tails"``, ``"offgrid"`` (the off-grid check failed), ``"memory"``
    (the next degree's grid would exceed the memory limit, checked before each sampling as for an explicit
    degree: helper-97 saw degree (64, 512, 512) sampled at a 0.2 GB limit, 2 GB resident).
    """
    d = dom.shape[0]
    deg = [START] * d
    if kind != "cp" and float(START + 1) ** d > MAX_AUTO_GRID:
        raise ValueError(f"degree='auto' starts at degree {START} per variable: {START + 1}^{d} = "
                         f"{float(START + 1) ** d:.3g} function values for d = {d} variables, more than the "
                         f"{MAX_AUTO_GRID:.3g} it may sample; pass degree= explicitly (full grid up to 2e8 points) "
                         "or a canonical function (cp_factors), which needs no full grid")
    total = 0
    decay_grown = [0] * d
    while True:
        if kind != "cp":
            _v.grid_size([n + 1 for n in deg], d)         # (at the start: also checks NEWTONKIT_MEMORY_LIMIT)
        slices = None
        if kind == "cp":
            w, B, n = cp_coefficients(f, dom, deg)
            data, tails = (w, B), cp_tails(w, B)
        else:
            C, n, vmax = grid_coefficients(kind, f, dom, deg)
            slices = grid_slice_norms(C)
            data, tails = (C, vmax), grid_tails(C, slices)
        total += n
        tails_ok = resolved(tails, tol)
        # at least DECAY_MIN coefficients unless the tail is far below tol (1e-3 tol) or at the rounding plateau:
        # below that the tail estimate cannot see a slow decay (a 1e-5 jump at tol 1e-6 passed at degree 8), while
        # exp(sum(x) / 5) in 5 variables needed no more than degree 8 (and 25x the samples at 16)
        ok = [o and (deg[i] + 1 >= DECAY_MIN or deg[i] >= MAX_DEGREE
                     or tails[i][0] <= max(tails[i][1], 1e-3 * tol * tails[i][2]))
              for i, o in enumerate(tails_ok)]
        ok = _decay_growth(kind, data, slices, tol, deg, ok, decay_grown)
        missed = False
        if all(ok) and kind != "values":         # Chebfun's sampleTest: the interpolant against f off the grid
            missed, n = (off_grid_miss(f, dom, C, vmax, tol, tails) if kind == "callable"
                         else cp_off_grid_miss(f, dom, w, B, tol, tails))
            total += n
            ok = [not missed] * d
        grow = [i for i in range(d) if not ok[i] and deg[i] < MAX_DEGREE]
        size = np.prod([deg[i] * (2 if i in grow else 1) + 1 for i in range(d)], dtype=np.float64)
        memory = kind != "cp" and _v.grid_bytes(size, d) > _v.memory_limit()
        if all(ok) or not grow or (kind != "cp" and size > MAX_AUTO_GRID) or memory:
            stop = "" if all(tails_ok) and not missed else "offgrid" if missed else "memory" if (
                memory and grow and size <= MAX_AUTO_GRID) else "grid" if (grow and kind != "cp"
                                                                           and size > MAX_AUTO_GRID) else "tails"
            return data, tuple(deg), total, not stop, stop
        for i in grow:
            deg[i] *= 2


#: doublings of a mode that :func:`adapt` makes because its small tail fails the decay test (at most this many per
#: mode, then the build reports the decay as algebraic): the 24 x 24 x 4 lattice potential of the README's
#: ``newtonkit approx lattice`` had small tails at degree (256, 256, 32) but its z coefficients were still on a
#: plateau near 1e-6 (the Gaussian-sum kernel's own tolerance) before falling at the last degree, so the build
#: stopped there unresolved (exit 1); one more doubling of z passes the test (outside review helper-123). A kink
#: keeps failing and costs at most this many doublings more
DECAY_GROW = 2


def _decay_growth(kind, data, slices, tol, deg, ok, grown) -> list:
    """``ok`` with the modes that :func:`adapt` should still double for their decay: a mode whose tail is small
    (``ok``) but whose coefficients fail :func:`decays_geometrically` (as the build tests them afterwards,
    :func:`data_decays_geometrically`), below :data:`MAX_DEGREE` and doubled for its decay fewer than
    :data:`DECAY_GROW` times, is marked not ok and its count in ``grown`` raised."""
    if not any(ok[i] and deg[i] < MAX_DEGREE and grown[i] < DECAY_GROW for i in range(len(ok))):
        return ok
    norms = data_slice_norms(kind, data, slices)
    if norms is None:                  # a canonical input with too many terms for its slice norms
        return ok
    out = list(ok)
    for i, (s, plateau) in enumerate(norms):
        if (ok[i] and deg[i] < MAX_DEGREE and grown[i] < DECAY_GROW
                and not decays_geometrically(s, plateau, cut=_negligible_tail_cut(s, tol))):
            out[i] = False
            grown[i] += 1
    return out


#: points of the off-grid check of :func:`off_grid_miss` (fixed: the build stays deterministic)
CHECK_POINTS = 8


def _check_points(dom):
    """The :data:`CHECK_POINTS` fixed pseudo-random points of the box of the off-grid checks (deterministic)."""
    return dom[:, 0] + np.random.default_rng(20171).random((CHECK_POINTS, dom.shape[0])) * (dom[:, 1] - dom[:, 0])


def off_grid_miss(f, dom, C, vmax, tol, tails):
    """Whether the interpolant with coefficients ``C`` (scaled by ``1 / vmax``) misses ``f`` at
    :data:`CHECK_POINTS` fixed pseudo-random points of the box by more than 10 times what its tails claim
    (``d tol ||C||``, or rounding): a grid that aliases the function (``T_16(x)`` is constant on the 9 points of
    degree 8) shows negligible tails (outside probe helper-76: ``T_16(x) + y`` stopped at degree 8 with an error
    of 2 and an estimate of 0). As Chebfun's ``sampleTest`` (Aurentz & Trefethen 2017, sec. 5). Returns
    ``(missed, evaluations)``."""
    d = dom.shape[0]
    pts = _check_points(dom)
    # f gets a copy: an f that changes its input in place moved the points the interpolant is compared at
    vals = sample(f, pts.copy())
    T = [_cheb.vander(np.clip(_cheb.from_box(pts[:, i], *dom[i]), -1, 1), C.shape[i]) for i in range(d)]
    Z = T[0] @ C.reshape(C.shape[0], -1)
    for i in range(1, d):
        Z = np.einsum("km,kmr->kr", T[i], Z.reshape(CHECK_POINTS, C.shape[i], -1))
    norm = max(tails[0][2], 1.0)
    allowed = 10.0 * max(d * tol * norm, sum(tl[0] for tl in tails), 1e3 * _EPS64 * norm, 10.0 * _eps() * norm)
    return bool(np.max(np.abs(Z[:, 0] - vals / vmax)) > allowed), CHECK_POINTS


def cp_off_grid_miss(f, dom, w, B, tol, tails):
    """:func:`off_grid_miss` for a canonical function: its value at the same :data:`CHECK_POINTS` points, from
    ``f.cp_factors`` at their coordinates (``sum_r w_r prod_i U_i[j, r]`` at point ``j``), against the interpolant
    of the coefficient columns ``B``, both in the units of :func:`~solvers.approx._tucker.cp_normalize` (the
    tails' units). Without it a canonical input that the grid aliases (a column ``T_16(x)`` is constant on the 9
    points of degree 8) was resolved with an estimate of 0 and an error of 2, where the same function as a
    callable was caught (outside probe helper-108). Returns ``(missed, evaluations)``."""
    d = dom.shape[0]
    pts = _check_points(dom)
    w2, U2 = _v.cp(f, [pts[:, i].copy() for i in range(d)])
    nevals = int(sum(u.size for u in U2))
    if w2.shape != w.shape:
        return False, nevals            # a term count that depends on the nodes: nothing to compare term by term
    norms = [np.linalg.norm(b, axis=0) for b in B]
    keep = (w != 0.0) & np.all([n > 0.0 for n in norms], axis=0)
    xi, Bh, _ = _tucker.cp_normalize(w, B)
    if xi.size == 0:
        return False, nevals
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        exact = np.broadcast_to(xi * (w2[keep] / w[keep]), (CHECK_POINTS, xi.size)).copy()
        approx = np.broadcast_to(xi, (CHECK_POINTS, xi.size)).copy()
        for i in range(d):
            t = np.clip(_cheb.from_box(pts[:, i], *dom[i]), -1.0, 1.0)
            exact *= U2[i][:, keep] / norms[i][keep]
            approx *= _cheb.vander(t, Bh[i].shape[0]) @ Bh[i]
        miss = float(np.max(np.abs(exact.sum(axis=1) - approx.sum(axis=1))))
    norm = tails[0][2]
    allowed = 10.0 * max(d * tol * norm, sum(tl[0] for tl in tails), 1e3 * _EPS64 * float(np.abs(xi).sum()),
                         10.0 * _eps() * float(np.abs(xi).sum()))
    return not miss <= allowed, nevals
