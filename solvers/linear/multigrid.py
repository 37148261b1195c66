"""Geometric multigrid V-cycle for :class:`~solvers.operators.stencil.StencilOperator`, as an SPD preconditioner.

Design (PyAMG-style: the hierarchy is built once, the cycle is a linear operator):

* **Coarsening**, per axis, ``n -> nc = (n - 1) // 2`` for ``n >= 3`` (axes with
  fewer points are not coarsened). The coarse grid is the uniform vertex grid
  with ``hc = L / (nc + 1)`` on the same box. For odd ``n`` it is nested
  (``hc = 2 h``, standard vertex-centred coarsening); for even ``n`` (128,
  1024, ...) it is not, and the transfer is linear interpolation between the two
  uniform grids. ``n = 2^k`` goes to ``2^(k-1) - 1``, after which every level is
  nested again.
* **Transfers**: prolongation ``P`` = tensor product of 1-D linear
  interpolation (zero Dirichlet correction on the boundary); restriction
  ``R = c P^T`` with ``c = prod_a h_a / hc_a`` (full weighting on nested levels).
* **Coarse operators** by rediscretisation: constant ``k`` stays constant; face
  coefficients are coarsened by a harmonic mean along the flux direction
  (series conductances, weighted by overlap) and an arithmetic mean (the
  normalised restriction weights) across it; a shift (reaction term) is
  averaged. The coarsest grid (at most ``max_coarse`` points) is solved exactly
  with a dense inverse of its assembled matrix.
* **Smoother**: red-black Gauss-Seidel, ``nu_l`` sweeps red->black before the
  coarse correction on level ``l`` and ``nu_l`` sweeps black->red after it (the
  adjoint), so the V-cycle is a symmetric operator; it is positive definite
  because the symmetric Gauss-Seidel smoother is convergent in the energy norm
  and each coarse correction ``P B_c R`` is positive semi-definite (SPD
  ``B_c``). CG may therefore use it. The default schedule ``nu = (2, 3)`` is two
  sweeps on the finest level and three on every coarser one: coarse sweeps are
  cheap and improve the coarse correction, so MG-CG (Poisson, rtol 1e-8) needs 6
  iterations instead of V(2,2)'s 7 from 1024^2 and 17^3 up (6 at 31^2 ... 2048^2
  and 17^3 ... 128^3), ~10 % less time. (One finest sweep, ``(1, 2)``, took 8-10.)

Cost-saving structure (numba backend; the module docs of
:mod:`solvers._kernels.numba.multigrid` and :mod:`solvers._kernels.numba.stencil` give details):

* each pre/post smoothing step is one fused red+black pass; the first one starts
  from ``u = 0`` (the red half sweep is ``u = f / d``, nothing is read from ``u``);
* residual and restriction are one fused pass (constant coefficients): the fine
  residual is never stored;
* prolongation interpolates along the last axis on the coarse rows, then adds
  to the fine grid in one contiguous pass;
* coarse levels below the kernel set's ``SERIAL_BELOW`` points run
  single-threaded, inside a scoped :func:`solvers._config.limit` (thread-local,
  restored afterwards: the caller's thread count never changes); the coarsest
  grid is a dense SPD inverse (Cholesky) applied as a matrix-vector product.

Every step (smoothing, residual + restriction, prolongation) comes from the
backend's ``stencil`` and ``multigrid`` kernel sets; the NumPy reference
(:mod:`solvers._kernels.numpy.multigrid`) does the fused residual + restriction
as a residual followed by a restriction.

No memory is allocated per cycle: every level holds preallocated ``u``, ``f``
(and, where the residual is not fused, ``r``) buffers and a transfer work array,
and the finest level writes straight into the output.

References
----------
U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001
(chapters 2-4: red-black smoothing, full weighting, V-cycles as preconditioners).
R. E. Alcouffe, A. Brandt, J. E. Dendy, J. W. Painter, "The multi-grid method for
the diffusion equation with strongly discontinuous coefficients", SIAM J. Sci.
Stat. Comput. 2 (1981) 430-454 (harmonic averaging of coefficients).
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _config
from .. import backends as _backends
from ..operators.base import LinearOperator
from ..operators.stencil import StencilOperator
from ..results import SolveResult, Status, Timer


# ----------------------------------------------------------------------------- 1-D transfer tables
def _interp_1d(n: int, nc: int):
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


def _restrict_1d(pi, pw, nc: int, scale: float):
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


def _face_average_1d(n: int, nc: int):
    """Overlap weights (rows sum to 1) of fine face cells in each coarse face cell, as a CSR matrix."""
    import scipy.sparse as sp

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


def _coarse_operator(A: StencilOperator, cshape, hc, avg):
    """Rediscretise ``A`` on the coarse grid (coefficients averaged as described in the module docs)."""
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


def _spd_inverse(C):
    """Dense inverse of the coarsest matrix: Cholesky (LAPACK potrf + potri, half the flops of a general
    inverse) when ``C`` is SPD, else a general or pseudo inverse."""
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(C, lower=False)
    if info == 0:
        ci, info = lapack.dpotri(c, lower=False)
        if info == 0:
            return np.triu(ci) + np.triu(ci, 1).T
    try:
        return np.linalg.inv(C)
    except np.linalg.LinAlgError:  # pragma: no cover - singular coarse grid
        return np.linalg.pinv(C)


class _Level:
    __slots__ = ("A", "u", "f", "r", "P", "R", "shape", "pbuf")


class MultigridPreconditioner(LinearOperator):
    """A symmetric V-cycle with red-black Gauss-Seidel (``nu_l`` sweeps each side on level ``l``), SPD.

    Build it with :func:`multigrid`. ``matvec(r)`` returns one V-cycle applied to
    ``r`` from a zero initial guess, i.e. ``M r ~= A^{-1} r``.

    Attributes
    ----------
    levels : list
        The hierarchy, finest first (``levels[l].A`` is the level operator).
    nu : int or tuple of int
        Smoothing sweeps before and after the coarse correction, as given
        (a tuple is per level, finest first, its last entry repeating).
    nus : list of int
        The sweeps used on each level.
    """

    def __init__(self, A: StencilOperator, nu=(2, 3), max_coarse: int = 500, max_levels: int = 20):
        super().__init__(A.shape, np.float64, A.backend, symmetric=True, positive_definite=True)
        be = A.backend
        xp = be.xp
        K = be.kernels("multigrid")
        self.nu = nu
        self.max_coarse, self.max_levels = max_coarse, max_levels
        self.levels = []
        op = A
        while True:
            lev = _Level()
            lev.A, lev.shape = op, op.grid_shape
            self.levels.append(lev)
            n = op.grid_shape
            nc = tuple((m - 1) // 2 if m >= 3 else m for m in n)
            if (int(np.prod(n)) <= max_coarse or nc == n or len(self.levels) >= max_levels):
                break
            L = [ha * (m + 1) for ha, m in zip(op.h, n)]
            hc = tuple(La / (m + 1) for La, m in zip(L, nc))
            P, R, avg = [], [], []
            for a in range(op.ndim_grid):
                pi, pw = _interp_1d(n[a], nc[a])
                ri, rw = _restrict_1d(pi, pw, nc[a], op.h[a] / hc[a])
                P += [be.asarray(pi), be.asarray(pw)]
                R += [be.asarray(ri), be.asarray(rw)]
                if not op.const:
                    import scipy.sparse as sp

                    T = sp.csr_matrix((rw.ravel(), (np.repeat(np.arange(nc[a]), rw.shape[1]), ri.ravel())),
                                      shape=(nc[a], n[a]))
                    T = sp.diags(1.0 / np.asarray(T.sum(axis=1)).ravel()) @ T
                    avg.append((T.tocsr(), _face_average_1d(n[a], nc[a])))
            lev.P, lev.R = tuple(P), tuple(R)
            op = _coarse_operator(op, nc, hc, avg)
        for l, lev in enumerate(self.levels):
            inner = l < len(self.levels) - 1
            lev.r = xp.empty(lev.shape) if inner and K.needs_residual_buffer(lev.A) else None
            lev.u = None if l == 0 else xp.empty(lev.shape)
            lev.f = None if l == 0 else xp.empty(lev.shape)
            lev.pbuf = K.prolong_work(lev.shape, self.levels[l + 1].shape) if inner else None
        sched = (nu,) if isinstance(nu, numbers.Integral) else tuple(nu)
        self.nus = [int(sched[min(l, len(sched) - 1)]) for l in range(len(self.levels))]
        C = self.levels[-1].A.to_csr().toarray()
        Cinv = _spd_inverse(C)
        self._cinv = be.asarray(0.5 * (Cinv + Cinv.T))
        self.stats = {"vcycles": 0}

    # ------------------------------------------------------------------ cycle
    def _restrict(self, lev, r, out):
        """``out = R r`` (the backend's restriction kernel)."""
        self.backend.kernels("multigrid").restrict(r, out, lev.R)

    def _prolong_add(self, lev, e, u):
        """``u += P e``."""
        self.backend.kernels("multigrid").prolong_add(e, u, lev.P, lev.pbuf)

    def _cycle(self, l, f, u, K):
        lev = self.levels[l]
        if l == len(self.levels) - 1:
            u.reshape(-1)[...] = self._cinv @ f.reshape(-1)
            return
        A = lev.A
        A.smooth_rb_pair(u, f, 0, zero=True)       # red then black, from u = 0
        nu = self.nus[l]
        for _ in range(nu - 1):
            A.smooth_rb_pair(u, f, 0)
        nxt = self.levels[l + 1]
        K.residual_restrict(A, u, f, nxt.f, lev.R, lev.r)
        if nxt.A.shape[0] < K.SERIAL_BELOW <= A.shape[0]:
            # the coarser levels are small: a parallel region costs more than the work there
            with _config.limit(1):
                self._cycle(l + 1, nxt.f, nxt.u, K)
        else:
            self._cycle(l + 1, nxt.f, nxt.u, K)
        K.prolong_add(nxt.u, u, lev.P, lev.pbuf)
        for _ in range(nu):
            A.smooth_rb_pair(u, f, 1)              # black then red: the adjoint of the pre-smoother

    def matvec_into(self, r, out):
        """``out[:] = M r`` (one V-cycle from zero); returns ``out``."""
        shp = self.levels[0].shape
        K = self.backend.kernels("multigrid")
        if self.levels[0].A.shape[0] < K.SERIAL_BELOW:
            with _config.limit(1):
                self._cycle(0, r.reshape(shp), out.reshape(shp), K)
        else:
            self._cycle(0, r.reshape(shp), out.reshape(shp), K)
        self.stats["vcycles"] += 1
        return out

    def with_backend(self, backend) -> "MultigridPreconditioner":
        """The same V-cycle built on ``backend`` (from the fine operator converted there)."""
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        return MultigridPreconditioner(self.levels[0].A.with_backend(be), nu=self.nu, max_coarse=self.max_coarse,
                                       max_levels=self.max_levels)

    def _matvec(self, r):
        out = self.backend.xp.empty(self.shape[0])
        return self.matvec_into(r, out)

    # ------------------------------------------------------------------ stationary iteration
    def solve(self, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int = 100) -> SolveResult:
        """Multigrid as a stationary iteration ``x += M (b - A x)`` (for checking the cycle).

        ``history["residual"]`` has ``nit + 1`` entries (the initial residual first);
        ``maxiter`` counts V-cycles.
        """
        be = self.backend
        xp = be.xp
        timer = Timer(be)
        A = self.levels[0].A
        b = be.asarray(b, dtype=np.float64).reshape(-1)
        x = xp.zeros_like(b) if x0 is None else be.asarray(x0, dtype=np.float64).reshape(-1).copy()
        r = xp.empty_like(b)
        z = xp.empty_like(b)
        shp = A.grid_shape
        bnorm = float(xp.linalg.norm(b))
        tol = max(rtol * bnorm, atol)
        hist = [np.sqrt(A.residual_into(x.reshape(shp), b.reshape(shp), r.reshape(shp)))]
        status = Status.MAXITER
        it = 0
        while it < maxiter:
            if hist[-1] <= tol:
                status = Status.CONVERGED
                break
            if not np.isfinite(hist[-1]):
                status = Status.NONFINITE
                break
            self.matvec_into(r, z)
            x += z
            it += 1
            hist.append(np.sqrt(A.residual_into(x.reshape(shp), b.reshape(shp), r.reshape(shp))))
        if status == Status.MAXITER and hist[-1] <= tol:
            status = Status.CONVERGED
        msg = {Status.CONVERGED: f"converged in {it} V-cycles",
               Status.NONFINITE: "non-finite residual; check the operator and right-hand side",
               }.get(status, f"not converged after {maxiter} V-cycles; raise maxiter or use it as a CG preconditioner")
        return SolveResult(x, status == Status.CONVERGED, status, msg, it, history={"residual": np.array(hist)},
                           stats={**timer.stats(), "vcycles": it}, method="multigrid",
                           backend=be.name,
                           options={"rtol": rtol, "atol": atol, "maxiter": maxiter, "nu": list(self.nus)},
                           provenance=timer.provenance())

    def __repr__(self) -> str:
        grids = " -> ".join("x".join(map(str, lev.shape)) for lev in self.levels)
        return f"<MultigridPreconditioner V-cycle nu={self.nus} {grids} backend={self.backend.name}>"


def multigrid(A, *, nu=(2, 3), max_coarse: int = 500, max_levels: int = 20) -> MultigridPreconditioner:
    """Geometric multigrid V-cycle preconditioner for a structured-grid stencil operator.

    Parameters
    ----------
    A : StencilOperator
        The fine-grid operator (from :class:`problems.pde.Poisson` or built directly).
    nu : int or sequence of int, default (2, 3)
        Red-black Gauss-Seidel sweeps before (red->black) and after (black->red)
        the coarse correction: one count for every level, or one per level,
        finest first, the last entry repeating on coarser levels. The default
        is two sweeps on the finest level and three on the others.
    max_coarse : int, default 500
        Coarsening stops once a grid has at most this many points; that grid is
        solved exactly.
    max_levels : int, default 20

    Returns
    -------
    MultigridPreconditioner
        A symmetric positive definite :class:`~solvers.operators.LinearOperator`
        (``matvec``, ``matvec_into``), usable as ``M=`` in CG.
    """
    if not isinstance(A, StencilOperator):
        raise TypeError(f"A must be a StencilOperator (a structured-grid operator), got {type(A).__name__}; "
                        "for general sparse matrices use an algebraic multigrid such as pyamg")
    nus = nu if isinstance(nu, (tuple, list)) else (nu,)
    if len(nus) == 0 or any(not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1 for v in nus):
        raise ValueError(f"nu must be an integer >= 1 or a non-empty sequence of them (per level), got {nu!r}")
    for name, v, lo in (("max_coarse", max_coarse, 1), ("max_levels", max_levels, 1)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    nu = int(nu) if isinstance(nu, numbers.Integral) else tuple(int(v) for v in nu)
    return MultigridPreconditioner(A, nu=nu, max_coarse=int(max_coarse), max_levels=int(max_levels))


__all__ = ["multigrid", "MultigridPreconditioner"]
