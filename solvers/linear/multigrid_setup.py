"""Multigrid hierarchy construction (host side, NumPy/SciPy): geometric and Galerkin coarse levels.

Two kinds of coarsening, chosen by :class:`solvers.linear.multigrid.MultigridPreconditioner`
(the design is described in that module's docstring):

* **geometric** (constant ``k``): 1-D linear-interpolation tables between uniform vertex grids
  (:func:`interp_1d`, :func:`restrict_1d`) and rediscretised coarse operators
  (:func:`coarse_operator`);
* **Galerkin / black box** (variable ``k``): operator-dependent prolongation
  (:func:`dendy_prolongation`, Dendy's collapsed-stencil interpolation), coarse operators
  ``P^T A P`` (:func:`galerkin`) stored as CSR (:class:`CSRLevel`), smoothed by multicolour
  Gauss-Seidel over the ``2^d`` parity colours (:func:`parity_colours`).

Both coarsen only the axes with strong coupling (:func:`strong_axes`): semi-coarsening for
anisotropic spacing.

References
----------
J. E. Dendy, "Black box multigrid", J. Comput. Phys. 48 (1982) 366-386.
R. E. Alcouffe, A. Brandt, J. E. Dendy, J. W. Painter, SIAM J. Sci. Stat. Comput. 2 (1981) 430-454.
S. Schaffer, "A semicoarsening multigrid method for elliptic partial differential equations with
highly discontinuous and anisotropic coefficients", SIAM J. Sci. Comput. 20 (1998) 228-242.
"""
from __future__ import annotations

import functools
import itertools
import numbers

import numpy as np
import scipy.sparse as sp

from .. import _config
from ..operators.base import LinearOperator
from ..operators.stencil import StencilOperator

#: the accepted ``coarsening`` and ``cycle`` values, and the largest ``nu``
_COARSENINGS, _CYCLES = ("auto", "geometric", "galerkin"), ("auto", "V", "W")
NU_MAX = 100


#: an axis is coarsened when its coupling is at least this fraction of the strongest axis' coupling
STRONG = 0.25


# ----------------------------------------------------------------------------- arguments
def check_args(A, nu, max_coarse, max_levels, coarsening, cycle, fmg_start):
    """The arguments of :func:`multigrid` / the class, checked; returns ``(nu, max_coarse, max_levels, fmg_start)``."""
    if not isinstance(A, StencilOperator):
        raise TypeError(f"A must be a StencilOperator (a structured-grid operator), got {type(A).__name__}; "
                        "for general sparse matrices use an algebraic multigrid such as pyamg")
    if isinstance(nu, np.ndarray):     # an array of counts: its entries (a 0-d array: the count it holds)
        nu = nu.item() if nu.ndim == 0 else tuple(v.item() if isinstance(v, np.generic) else v for v in nu)
    nus = (1,) if nu is None else (nu if isinstance(nu, (tuple, list)) else (nu,))
    if len(nus) == 0 or any(not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1 for v in nus):
        raise ValueError(f"nu must be an integer >= 1 or a non-empty sequence of them (per level), got {nu!r}")
    if max(nus) > NU_MAX:          # nu = 1e5 took minutes per cycle on 64^2: a hang inside a Krylov loop
        raise ValueError(f"nu must be <= {NU_MAX} (each unit is two grid passes per level and cycle; beyond a few "
                         f"the coarse correction limits the convergence), got {max(nus)}")
    for name, v, lo in (("max_coarse", max_coarse, 1), ("max_levels", max_levels, 1)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    if not isinstance(coarsening, str) or coarsening not in _COARSENINGS:
        raise ValueError(f"coarsening must be one of {_COARSENINGS}, got {coarsening!r}")
    if not isinstance(cycle, str) or cycle not in _CYCLES:
        raise ValueError(f"cycle must be one of {_CYCLES}, got {cycle!r}")
    if not (isinstance(fmg_start, (bool, np.bool_)) or (isinstance(fmg_start, str) and fmg_start == "auto")):
        raise TypeError(f"fmg_start must be 'auto', True or False, got {fmg_start!r}")
    if nu is not None:
        nu = int(nu) if isinstance(nu, numbers.Integral) else tuple(int(v) for v in nu)
    return nu, int(max_coarse), int(max_levels), (fmg_start if isinstance(fmg_start, str) else bool(fmg_start))


# ----------------------------------------------------------------------------- axis selection
def strong_axes(strength, sizes, min_size):
    """Which axes to coarsen: those with ``sizes[a] >= min_size`` whose coupling ``strength[a]`` is at
    least :data:`STRONG` times the strongest coarsenable axis' (semi-coarsening, Schaffer 1998)."""
    ok = [n >= min_size for n in sizes]
    if not any(ok):
        return tuple(False for _ in sizes)
    smax = max(s for s, o in zip(strength, ok) if o)
    return tuple(bool(o and s >= STRONG * smax) for s, o in zip(strength, ok))


# ----------------------------------------------------------------------------- geometric tables
def interp_1d(n: int, nc: int):
    """Linear interpolation from the uniform grid with ``nc`` interior points to the one with ``n``.

    Returns ``(pi, pw)`` of shape ``(n, 2)``: coarse indices and weights (zero
    weight where the neighbour is the Dirichlet boundary). Exact rational arithmetic.
    """
    pi = np.zeros((n, 2), dtype=np.int64)
    pw = np.zeros((n, 2))
    if nc == n:
        pi[:, 0] = pi[:, 1] = np.arange(n)
        pw[:, 0] = 1.0
        return pi, pw
    i = np.arange(n)
    num = (i + 1) * (nc + 1)            # fine position / hc, times (n + 1)
    jr = num // (n + 1)                 # coarse index (1-based incl. boundary 0) left of x
    frac = (num % (n + 1)) / (n + 1)
    left, right = jr - 1, jr            # 0-based interior coarse indices
    wl, wr = 1.0 - frac, frac
    wl = np.where(left >= 0, wl, 0.0)
    wr = np.where((right <= nc - 1) & (frac > 0), wr, 0.0)
    pi[:, 0] = np.clip(left, 0, nc - 1)
    pi[:, 1] = np.clip(right, 0, nc - 1)
    pw[:, 0], pw[:, 1] = wl, wr
    return pi, pw


def restrict_1d(pi, pw, nc: int, scale: float):
    """Padded tables of ``scale * P^T``: for each coarse index, fine indices and weights.

    Entries of a coarse row are in increasing fine index; padding repeats the row's first fine
    index with weight 0 (vectorised: a stable sort of the nonzeros of ``P`` by coarse index).
    """
    ii, mm = np.nonzero(pw != 0.0)                  # row-major: increasing fine index i, then m
    J = pi[ii, mm]
    order = np.argsort(J, kind="stable")
    ii, J, w = ii[order], J[order], scale * pw[ii, mm][order]
    counts = np.bincount(J, minlength=nc)
    width = max(1, int(counts.max()) if counts.size else 1)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(J.size) - start[J]
    ri = np.zeros((nc, width), dtype=np.int64)
    rw = np.zeros((nc, width))
    has = counts > 0
    ri[has] = ii[start[has]][:, None]               # pad with the row's first fine index
    ri[J, slot] = ii
    rw[J, slot] = w
    return ri, rw


def face_average_1d(n: int, nc: int):
    """Overlap weights (rows sum to 1) of fine face cells in each coarse face cell, as a CSR matrix."""
    if nc == n:
        return sp.identity(n + 1, format="csr")
    # fine face i owns [i, i+1] in units of h; coarse face J owns [J, J+1] in units of hc.
    # use the common unit 1 / ((n+1)(nc+1)): h = (nc+1) units, hc = (n+1) units.
    rows, cols, vals = [], [], []
    hf, hcu = nc + 1, n + 1
    for J in range(nc + 1):
        a, b = J * hcu, (J + 1) * hcu
        i0, i1 = a // hf, min(n, (b - 1) // hf)
        for i in range(i0, i1 + 1):
            ov = min(b, (i + 1) * hf) - max(a, i * hf)
            if ov > 0:
                rows.append(J), cols.append(i), vals.append(ov / hcu)
    return sp.csr_matrix((vals, (rows, cols)), shape=(nc + 1, n + 1))


def _apply_axis(M, a, axis):
    """Apply the sparse matrix ``M`` along ``axis`` of the NumPy array ``a``."""
    b = np.moveaxis(a, axis, 0)
    shp = b.shape
    out = M @ b.reshape(shp[0], -1)
    return np.moveaxis(np.asarray(out).reshape((M.shape[0],) + shp[1:]), 0, axis)


def coarse_operator(A: StencilOperator, cshape, hc, avg):
    """Rediscretise ``A`` on the coarse grid: constant ``k`` stays constant; face coefficients are
    averaged harmonically along the flux and arithmetically across it; a shift is averaged."""
    be = A.backend
    if isinstance(A.k, float):
        kc = A.k
    else:
        kc = []
        for a, ka in enumerate(A.k):
            x = be.to_numpy(ka)
            for b in range(A.ndim_grid):
                if b == a:
                    x = 1.0 / _apply_axis(avg[b][1], 1.0 / x, b)   # harmonic along the flux
                else:
                    x = _apply_axis(avg[b][0], x, b)               # arithmetic across
            kc.append(x)
    if A.shift is None or isinstance(A.shift, float):
        sc = A.shift
    else:
        sc = be.to_numpy(A.shift)
        for b in range(A.ndim_grid):
            sc = _apply_axis(avg[b][0], sc, b)
    return StencilOperator(cshape, hc, k=kc, shift=sc, backend=be)


@functools.lru_cache(maxsize=512)
def _tables_1d(n: int, nc: int, scale: float):
    """:func:`interp_1d` and :func:`restrict_1d` tables, memoised: they depend on the sizes and the scale
    only, and building them was most of a geometric set-up (1.3 of 1.8 ms for 1024^2, 8 levels; callers
    get copies)."""
    pi, pw = interp_1d(n, nc)
    ri, rw = restrict_1d(pi, pw, nc, scale)
    return pi, pw, ri, rw


def geometric_transfer(op: StencilOperator, nc, be):
    """Tensor tables ``(P, R)`` and the face-averaging matrices from ``op``'s grid to ``nc`` points."""
    n = op.grid_shape
    L = [ha * (m + 1) for ha, m in zip(op.h, n)]
    hc = tuple(La / (m + 1) for La, m in zip(L, nc))
    P, R, avg = [], [], []
    for a in range(op.ndim_grid):
        pi, pw, ri, rw = (t.copy() for t in _tables_1d(n[a], nc[a], op.h[a] / hc[a]))
        P += [be.asarray(pi), be.asarray(pw)]
        R += [be.asarray(ri), be.asarray(rw)]
        if not op.const:
            T = sp.csr_matrix((rw.ravel(), (np.repeat(np.arange(nc[a]), rw.shape[1]), ri.ravel())),
                              shape=(nc[a], n[a]))
            T = sp.diags(1.0 / np.asarray(T.sum(axis=1)).ravel()) @ T
            avg.append((T.tocsr(), face_average_1d(n[a], nc[a])))
    return tuple(P), tuple(R), hc, avg


def spd_inverse(C):
    """Dense inverse of the coarsest matrix: Cholesky (LAPACK potrf + potri, half the flops of a general
    inverse) when ``C`` is SPD, else a general or pseudo inverse."""
    from scipy.linalg import lapack

    if C.shape[0] > SERIAL_INVERSE_MAX:
        return _inverse(C, lapack)
    with _config.blas_serial():            # threaded LAPACK here slowed the whole solve after it 2-3x
        return _inverse(C, lapack)


#: coarsest matrices up to this size are inverted with BLAS on one thread (:func:`solvers._config.blas_serial`);
#: larger ones (a hierarchy cut short by ``max_levels``) keep the library's threads, whose work then dominates
SERIAL_INVERSE_MAX = 2000


def _inverse(C, lapack):
    c, info = lapack.dpotrf(C, lower=False)
    if info == 0:
        ci, info = lapack.dpotri(c, lower=False)
        if info == 0:
            return np.triu(ci) + np.triu(ci, 1).T
    try:
        return np.linalg.inv(C)
    except np.linalg.LinAlgError:  # pragma: no cover - singular coarse grid
        return np.linalg.pinv(C)


# ----------------------------------------------------------------------------- Galerkin / black box
def _offsets(d):
    """The ``3^d`` stencil offsets in {-1, 0, 1}^d; offset code ``sum_a (delta_a + 1) 3^a``."""
    return np.array(list(itertools.product((-1, 0, 1), repeat=d)))[:, ::-1]


def stencil_array(C, shape):
    """The CSR matrix ``C`` of a compact stencil on the grid ``shape`` as ``{code: st}``: for every offset
    code present (see :func:`_offsets`), the array of the entries at that offset from each point (zero
    where the neighbour is outside the box). Raises if ``C`` couples points more than one step apart."""
    d = len(shape)
    C = C.tocsr()
    C.sum_duplicates()
    N = int(np.prod(shape))
    row = np.repeat(np.arange(N, dtype=np.int64), np.diff(C.indptr))
    col = C.indices.astype(np.int64)
    code = np.zeros(row.size, dtype=np.int64)
    for a in range(d):
        s_a = int(np.prod(shape[a + 1:]))
        delta = (col // s_a) % shape[a] - (row // s_a) % shape[a]
        if delta.size and np.abs(delta).max() > 1:  # pragma: no cover - internal invariant
            raise RuntimeError("multigrid: a coarse operator is not a compact (3^d-point) stencil")
        code += (delta + 1) * 3 ** a
    present = np.nonzero(np.bincount(code, minlength=3 ** d))[0]
    slot = np.full(3 ** d, -1, dtype=np.int64)
    slot[present] = np.arange(present.size)
    st = np.zeros((present.size, N))
    st[slot[code], row] = C.data
    return {int(c): st[i] for i, c in enumerate(present)}


def axis_strength(st, d):
    """Coupling strength per axis: the summed magnitude of the off-diagonal entries whose offset moves
    along that axis (``st`` from :func:`stencil_array`)."""
    offs = _offsets(d)
    out = [0.0] * d
    for code, v in st.items():
        mag = float(np.abs(v).sum())
        for a in range(d):
            if offs[code][a] != 0:
                out[a] += mag
    return out


def dendy_prolongation(C, shape, axes, st=None):
    """Operator-dependent prolongation (Dendy 1982) for coarsening ``axes`` by two.

    Coarse points are the fine points with odd indices on every coarsened axis (``n -> n // 2``;
    non-coarsened axes keep all points). A fine point whose index is even on the coarsened axes
    ``S`` takes the value that solves its own equation with the stencil *collapsed* (summed) onto
    the directions ``S``: ``e_i = -(1 / a0) sum_{delta != 0} a_delta e_{i + delta}`` with
    ``a_delta`` the sum of the stencil entries whose offset restricted to ``S`` is ``delta``. The
    neighbours ``i + delta`` have fewer even coordinates, so rows are built by increasing ``|S|``.
    Across a coefficient jump the collapsed stencil weighs each side by its conductance: the
    interpolant keeps the flux continuous instead of the gradient.

    The collapse lumps a perpendicular neighbour ``f`` onto the point (``e_f = e_i``), which is right when
    the coefficient does not vary across the interpolation direction. Where it does (cross points of
    checkerboards: a point tied weakly to both coarse ends but strongly to ``f``, whose own links
    continue towards one end only), the axis entries of the collapsed stencil are re-split
    (:func:`_path_split`, same sum, so constants are interpolated as before) in proportion to the
    conductance towards each end: the direct (collapsed) link plus, for every perpendicular neighbour
    ``f``, the series conductance of the path ``i -> f -> f + delta -> i + delta``, weighted by
    ``|c_f - c_i| / (c_f + c_i)`` (``c_f``, ``c_i``: the links of ``f`` and of ``i`` along ``delta``), which
    is zero where the coefficient is the same across, leaving Dendy's weights unchanged (constant
    ``k``, plane jumps, layers). MG-CG on 4x4 checkerboards (contrast 1e4-1e6): 12-17 iterations -> 11-14.

    ``st`` is :func:`stencil_array` of ``C`` when already computed.
    Returns ``(P, coarse_shape)`` with ``P`` a SciPy CSR matrix of shape ``(N, Nc)``.
    """
    d = len(shape)
    N = int(np.prod(shape))
    cshape = tuple(n // 2 if c else n for n, c in zip(shape, axes))
    Nc = int(np.prod(cshape))
    st = stencil_array(C, shape) if st is None else st
    offs = _offsets(d)
    coords = np.indices(shape).reshape(d, -1)
    fmask = np.array([(coords[a] % 2 == 0) if axes[a] else np.zeros(N, bool) for a in range(d)])
    is_c = ~fmask.any(axis=0)
    cidx = np.ravel_multi_index(tuple((coords[a][is_c] - 1) // 2 if axes[a] else coords[a][is_c]
                                      for a in range(d)), cshape)
    P = sp.csr_matrix((np.ones(cidx.size), (np.nonzero(is_c)[0], cidx)), shape=(N, Nc))
    diag = np.abs(st[(3 ** d - 1) // 2])          # every row has its diagonal
    cax = [a for a in range(d) if axes[a]]
    strides = np.array([int(np.prod(shape[a + 1:])) for a in range(d)])
    for m in range(1, len(cax) + 1):
        rows, cols, vals = [], [], []
        for S in itertools.combinations(cax, m):
            sel = np.all([fmask[a] == (a in S) for a in cax], axis=0)
            pts = np.nonzero(sel)[0]
            if pts.size == 0:
                continue
            coll = {}
            for code, v in st.items():
                key = tuple(offs[code][a] for a in S)
                coll[key] = coll.get(key, 0.0) + v[pts]
            a0 = coll.pop((0,) * m)
            _path_split(coll, st, coords, pts, S, shape, strides)
            offsum = sum(coll.values())
            bad = ~(a0 > 1e-12 * diag[pts])
            a0 = np.where(bad, np.abs(offsum) + (offsum == 0), a0)
            for key, ad in coll.items():
                nb = coords[:, pts].copy()
                for a, da in zip(S, key):
                    nb[a] += da
                inside = np.all([(nb[a] >= 0) & (nb[a] < shape[a]) for a in S], axis=0) & (ad != 0)
                rows.append(pts[inside])
                cols.append((strides[:, None] * nb[:, inside]).sum(axis=0))
                vals.append(-ad[inside] / a0[inside])
        if rows:
            T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(N, N))
            P = (P + T @ P).tocsr()
    P.eliminate_zeros()
    return P, cshape


def _path_split(coll, st, coords, pts, S, shape, strides):
    """Re-split the collapsed axis entries of the points ``pts`` (fine on the axes ``S`` only) by the
    conductance towards each neighbour, counting the three-link paths through the perpendicular
    neighbours where the coefficient varies across (see :func:`dendy_prolongation`)."""
    d, m = len(shape), len(S)
    perp = [b for b in range(d) if b not in S]
    if not perp:
        return
    code0 = (3 ** d - 1) // 2
    x = coords[:, pts]
    keys, G = [], []
    for j, a in enumerate(S):
        for s_a in (-1, 1):
            key = tuple(s_a if q == j else 0 for q in range(m))
            ca = code0 + s_a * 3 ** a
            if key not in coll or ca not in st:
                continue
            dl = -st[ca][pts]                           # i's own link along a
            tot = np.where(coll[key] < 0, -coll[key], 0.0)
            for b in perp:
                for s_b in (-1, 1):
                    cb = code0 + s_b * 3 ** b
                    if cb not in st:
                        continue
                    f = x.copy(); f[b] += s_b                    # perpendicular neighbour
                    ok = (f[b] >= 0) & (f[b] < shape[b]) & (f[a] + s_a >= 0) & (f[a] + s_a < shape[a])
                    fi = (strides[:, None] * np.where(ok, f, 0)).sum(axis=0)
                    e = x.copy(); e[a] += s_a                    # i's neighbour along a
                    ei = (strides[:, None] * np.where(ok, e, 0)).sum(axis=0)
                    c1, c2, c3 = -st[cb][pts], -st[ca][fi], -st[cb][ei]
                    good = ok & (c1 > 0) & (c2 > 0) & (c3 > 0) & (tot > 0)
                    one = lambda c: np.where(good, c, 1.0)  # noqa: E731
                    ser = np.where(good, 1.0 / (1 / one(c1) + 1 / one(c2) + 1 / one(c3)), 0.0)
                    # only where the coefficient varies across: if f's link along a equals i's, the error
                    # is smooth across and the collapse (e_f = e_i) is already right
                    theta = np.where(good, np.abs(one(c2) - dl) / (one(c2) + np.abs(dl)), 0.0)
                    tot = tot + theta * ser
            keys.append(key)
            G.append(tot)
    if len(keys) < 2:
        return
    neg = [np.where(coll[k] < 0, coll[k], 0.0) for k in keys]
    total, gs = sum(neg), sum(G)
    ok = gs > 0
    for k, g, n in zip(keys, G, neg):
        # total * (g / gs): the share first, so coefficients near the top of the double range do not overflow
        coll[k] = np.where(ok, np.where(g > 0, total * (g / np.where(ok, gs, 1.0)), 0.0) + (coll[k] - n), coll[k])


def galerkin(C, P):
    """``P^T C P`` as a symmetric CSR matrix."""
    Ac = (P.T @ (C @ P)).tocsr()
    Ac = (0.5 * (Ac + Ac.T)).tocsr()
    Ac.eliminate_zeros()
    Ac.sort_indices()
    return Ac


def parity_colours(shape):
    """Colour ``sum_a (i_a mod 2) 2^a`` of every grid point (flat): no two points of a colour are
    coupled by a compact (3^d-point) stencil, so a Gauss-Seidel sweep over one colour is exact in
    parallel. Returns ``(order, cptr)``: point indices sorted by colour and the colour offsets
    (empty colours dropped)."""
    d = len(shape)
    coords = np.indices(shape).reshape(d, -1)
    col = sum((coords[a] & 1) << a for a in range(d))
    order = np.argsort(col, kind="stable").astype(np.int64)
    counts = np.bincount(col, minlength=2 ** d)
    cptr = np.concatenate([[0], np.cumsum(counts[counts > 0])]).astype(np.int64)
    return order, cptr


class CSRLevel(LinearOperator):
    """A Galerkin coarse level: the assembled operator on a structured grid, smoothed by multicolour
    Gauss-Seidel in the backend's ``multigrid`` kernel set.

    Attributes
    ----------
    grid_shape : tuple of int
    host : scipy.sparse.csr_matrix
        The matrix on the host.
    mg_csr : object
        The backend's storage for the kernels (from ``kernels("multigrid").csr_level``).
    """

    def __init__(self, C, shape, backend):
        super().__init__(C.shape, np.float64, backend, symmetric=True, positive_definite=True)
        self.grid_shape = tuple(shape)
        self.ndim_grid = len(shape)
        self.host = C
        order, cptr = parity_colours(shape)
        self.mg_csr = backend.kernels("multigrid").csr_level(C, order, cptr)

    def _matvec(self, x):
        K = self.backend.kernels("multigrid")
        out = self.backend.xp.empty(self.shape[0])
        K.csr_matvec(self.mg_csr, x, out)
        return out

    def to_csr(self):
        """The matrix as a SciPy CSR matrix (on the host)."""
        return self.host

    def __repr__(self) -> str:
        return f"<CSRLevel grid={self.grid_shape} nnz={self.host.nnz}, backend={self.backend.name}>"


def work_per_cycle(levels, nus, whole_grid_below=0):
    """The work of one cycle counted in fine-grid units (each level weighted by its points over the
    fine grid's): ``fine_evals_per_cycle``, stencil evaluations (a half sweep counts as one, as it did
    when the kernels evaluated the stencil on every point and kept one colour; they now update only
    the colour's points, half that arithmetic, and the unit is kept so that counts compare across
    versions; a residual or level product is one, a CSR multicolour sweep is one), and
    ``fine_passes_per_cycle``, passes over a level grid in the fused (Numba) kernels: pre-smoothing,
    residual + restriction, prolongation + post-smoothing (two per stencil level with constant coefficients
    and tensor transfers, where the residual + restriction is part of the pre-smoothing pass, else three;
    CSR levels do one pass per sweep and transfer; 2-D ones of fewer than ``whole_grid_below`` points, the
    kernel set's ``WHOLE_GRID_2D_BELOW``, one per half sweep and two for the transfers)."""
    n0 = float(np.prod(levels[0].shape))
    evals = passes = 0.0
    visits = 1.0
    for l, lev in enumerate(levels[:-1]):
        w = visits * float(np.prod(lev.shape)) / n0
        nu = nus[l]
        if lev.csr:
            evals += w * (2 * nu + 1)
            passes += w * (2 * nu + 3)
        else:
            evals += w * (2 * (2 * nu + 1) + 1)
            fused = getattr(lev.A, "const", False) and isinstance(lev.R, tuple)
            whole = fused and len(lev.shape) == 2 and float(np.prod(lev.shape)) < whole_grid_below
            passes += w * (2 * (2 * nu + 1) + 2 if whole else 2 if fused else 3)
        nxt = levels[l + 1]
        if nxt.rc is not None:                 # W-cycle: a residual and a second visit of the next level
            wn = visits * float(np.prod(nxt.shape)) / n0
            evals += wn
            passes += wn
            visits *= 2.0
    return {"fine_evals_per_cycle": evals, "fine_passes_per_cycle": passes}
