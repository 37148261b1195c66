"""Multigrid used on its own: the full-multigrid start and the stationary iteration (helpers of
:class:`solvers.linear.multigrid.MultigridPreconditioner`, kept apart so that module stays one algorithm's
size; the methods ``initial_guess`` and ``solve`` call these).

References
----------
A. Brandt, "Multi-level adaptive solutions to boundary-value problems", Math. Comp. 31 (1977) 333-390.
U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001, sec. 2.6 (full multigrid).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import _config
from .. import _workspace as _work
from ..results import SolveResult, Status, Timer
from . import multigrid_memo as _memo


#: moved to :mod:`.multigrid_memo` (session 48); the name kept for earlier callers
coarsest_inverse = _memo.coarsest_inverse

#: the stationary iteration stops as ``"diverged"`` once the residual exceeds this multiple of its smallest value
DIVERGED = 1e6


def check_vectors(M, r, out, name):
    """The arguments of a cycle (``name``: ``"r"``) or of the FMG start (``"b"``): shape ``(n,)`` (``r`` / ``b``
    may also have the grid's shape), ``r`` real, ``out`` float64 and writable; errors name the argument. The
    compiled kernels index by the grid's shape and write in place, so nothing else may reach them."""
    n, shp = M.shape[0], M.levels[0].shape
    if getattr(r, "shape", None) not in ((n,), shp) or getattr(out, "shape", None) != (n,):
        raise ValueError(f"multigrid preconditioner: {name} and out must have shape ({n},), got "
                         f"{getattr(r, 'shape', type(r).__name__)} and {getattr(out, 'shape', type(out).__name__)}")
    if np.dtype(r.dtype).kind not in "biuf":
        raise TypeError(f"multigrid preconditioner: {name} has dtype {r.dtype}; it needs a real vector (for a "
                        "complex one apply it to the real and imaginary parts separately)")
    if np.dtype(out.dtype) != np.float64:
        raise TypeError(f"multigrid preconditioner: out has dtype {out.dtype}; it must be float64")
    if not getattr(out.flags, "writeable", True):
        raise ValueError("multigrid preconditioner: out is read-only; pass a writable float64 array")
    from ..operators._out import overlaps

    if overlaps(r, out):               # the cycle reads r after writing out: a silently wrong result (helper-137)
        raise ValueError(f"multigrid preconditioner: out shares memory with {name}, which is still being read; "
                         "pass a separate array")


def starts_for(M, A) -> bool:
    """Whether :func:`solvers.cg` solving with the operator ``A`` starts from ``M``'s FMG approximation:
    ``M.fmg_start`` is True and, where that was the automatic choice, ``A`` is the operator the hierarchy was
    built for (the same object, or a plain constant-coefficient stencil with the same grid and coefficients).
    The FMG approximation of another operator's solution (``M`` built for ``L`` preconditioning ``A = L + c I``)
    started CG far worse than zero: 2.6e3 ||b|| at c = 1e5, 68 iterations against 54 from zero (outside review
    helper-112). ``fmg_start=True`` is kept as asked."""
    from ..operators.stencil import StencilOperator

    if not M.fmg_start:
        return False
    F = M.levels[0].A
    if not isinstance(M._fmg_asked, str) or A is F:        # True as asked, or M's own operator
        return True
    return (type(A) is StencilOperator and type(F) is StencilOperator and A.const and F.const
            and A.plain_products() and A.grid_shape == F.grid_shape and A._w == F._w and A._d == F._d)


#: points of the Lagrange interpolation that carries each level's FMG approximation to the next finer level on
#: constant-coefficient levels (a polynomial of degree ``FMG_ORDER - 1`` through the nearest coarse points and
#: the Dirichlet boundary's zeros). Trottenberg et al. sec. 2.6: FMG interpolation of higher order than the
#: discretisation; linear interpolation leaves the interpolation error's O(1) residual (0.58 ||b|| on Poisson
#: 128^3, f = 1), which the first cycles then spend themselves on. MG-CG to rtol 1e-8 (Poisson, f = 1), initial
#: residual / ||b|| and iterations, linear / 4 points / 6 points: 128^3 0.58, 6 / 9.6e-3, 5 (final 9.8e-9) /
#: 5.9e-3, 5 (6.0e-9); 256^3 0.59, 6 / 4.8e-3, 5 / 2.9e-3, 5; 64^3 0.58, 7 / 2.0e-2, 6 / 1.2e-2, 6
FMG_ORDER = 6


@functools.lru_cache(maxsize=256)
def _lagrange_1d(n: int, nc: int, order: int):
    """Tables ``(pi, pw)``, shape ``(n, order)``: the fine point ``i`` of the uniform grid with ``n`` interior
    points gets ``sum_t pw[i, t] u_c[pi[i, t]]`` from the one with ``nc`` (same interval, Dirichlet zeros at
    both ends), the Lagrange polynomial through the ``order`` nearest coarse nodes, the two boundary nodes
    counted (their zero value: weight 0, index clipped). Memoised; callers get copies."""
    if nc == n:
        pi = np.zeros((n, order), dtype=np.int64)
        pi[:, 0] = np.arange(n)
        pw = np.zeros((n, order))
        pw[:, 0] = 1.0
        return pi, pw
    m = min(order, nc + 2)                       # nodes 0 .. nc + 1 in all, the ends on the boundary
    x = (np.arange(n, dtype=np.int64) + 1) * (nc + 1)   # positions in units of L / ((n + 1)(nc + 1)): exact
    left = x // (n + 1)                          # the node at or left of each fine point
    lo = np.clip(left - m // 2 + 1, 0, nc + 2 - m)
    nodes = lo[:, None] + np.arange(m)           # (n, m) node indices, 0 and nc + 1 the boundary
    X = nodes * (n + 1)
    pw = np.ones((n, m))
    for c in range(m):
        d = (x[:, None] - X[:, c:c + 1]).astype(float) / np.where(np.arange(m) == c, 1, X - X[:, c:c + 1])
        pw *= np.where(np.arange(m) == c, 1.0, d)
    inner = (nodes >= 1) & (nodes <= nc)
    pw = np.where(inner, pw, 0.0)
    pi = np.clip(nodes - 1, 0, nc - 1)
    if m < order:                                # padded with zero weights
        pi = np.concatenate([pi, np.repeat(pi[:, :1], order - m, axis=1)], axis=1)
        pw = np.concatenate([pw, np.zeros((n, order - m))], axis=1)
    return np.ascontiguousarray(pi, dtype=np.int64), np.ascontiguousarray(pw)


def fmg_tables(M):
    """Per level ``l``: the tensor tables of the FMG interpolation from level ``l + 1`` (:data:`FMG_ORDER`-point
    Lagrange, in the restriction's table form: one entry per output point) where both levels are
    constant-coefficient stencil levels with tensor transfers, else None (the cycle's ``P``: operator-dependent on
    Galerkin levels, linear where ``k`` varies). Built on the first FMG start."""
    L, xp = M.levels, M.backend.xp
    out = []
    for l in range(len(L) - 1):
        lev, nxt = L[l], L[l + 1]
        ok = (not lev.csr and not nxt.csr and isinstance(lev.P, tuple) and getattr(lev.A, "const", False)
              and getattr(nxt.A, "const", False))
        if not ok:
            out.append(None)
            continue
        T = []
        for n, nc in zip(lev.shape, nxt.shape):
            pi, pw = _lagrange_1d(int(n), int(nc), FMG_ORDER)
            T += [xp.asarray(pi.copy()), xp.asarray(pw.copy())]
        out.append(tuple(T))
    return out


def _fmg_interpolate(K, M, T, l, uc, u):
    """``u = `` the level-``l`` interpolation of the coarse approximation ``uc`` (writes ``u`` whole)."""
    if T[l] is not None:
        K.interpolate(uc, u, T[l], M.levels[l].pbuf)
    else:
        K.prolong_add(uc, u, M.levels[l].P, M.levels[l].pbuf, add=False)


def fmg_guess(M, b, out):
    """``out`` = the full-multigrid start of :meth:`MultigridPreconditioner.initial_guess` for ``A x = b``.

    Each coarse level's approximation is carried up by the :data:`FMG_ORDER`-point interpolation of
    :func:`fmg_tables` (constant-coefficient levels; the cycle's ``P`` elsewhere), then improved by one cycle
    from that level; the finest level gets the interpolation only (CG's first iteration is its cycle). The
    start costs the restrictions of ``b``, the coarse cycles, the interpolation and one fine matvec (the
    initial residual), and saves what its smaller initial residual saves: one or two iterations on 2-D and
    3-D grids (``solvers.linear.multigrid.FMG_AUTO_POINTS`` and ``FMG_AUTO_POINTS_2D`` have the measurements)."""
    xp = M.backend.xp
    L = M.levels
    K = M.backend.kernels("multigrid")
    KV = M.backend.kernels("krylov")
    b = b.reshape(-1)
    if len(L) == 1:
        M._coarsest(b, out)
        return out
    if M._fmg is None:                    # per coarse level: restricted b, approximation, residual, correction
        M._fmg = [None] + [tuple(xp.empty(lev.shape) for _ in range(4)) for lev in L[1:]]
    F = M._fmg
    if getattr(M, "_fmg_T", None) is None:
        M._fmg_T = fmg_tables(M)
    T = M._fmg_T
    src = b.reshape(L[0].shape)
    for l in range(len(L) - 1):
        K.restrict(src, F[l + 1][0], L[l].R)
        src = F[l + 1][0]
    M._coarsest(F[-1][0], F[-1][1])
    for l in range(len(L) - 2, 0, -1):
        f, u, r, e = F[l]
        _fmg_interpolate(K, M, T, l, F[l + 1][1], u)                    # u = P u_c
        if L[l].csr:
            K.csr_residual(L[l].A.mg_csr, u, f, r)
        else:
            L[l].A.residual_into(u, f, r)
        if L[l].A.shape[0] < K.SERIAL_BELOW:
            with _config.limit(1):
                M._cycle(l, r, e, K)
        else:
            M._cycle(l, r, e, K)
        KV.axpy(1.0, e.reshape(-1), u.reshape(-1))                    # u += e (the kernel set's threads)
    _fmg_interpolate(K, M, T, 0, F[1][1], out.reshape(L[0].shape))   # writes out whole
    return out


def stationary_solve(M, b, *, x0=None, rtol=1e-8, atol=0.0, maxiter=100) -> SolveResult:
    """Multigrid as a stationary iteration ``x += M (b - A x)`` (:meth:`MultigridPreconditioner.solve`)."""
    from . import _common

    be = M.backend
    xp = be.xp
    A = M.levels[0].A
    # the Krylov solvers' boundary checks: shapes, dtypes, finiteness, rtol/atol/maxiter (named errors)
    S = _common.prepare(A, b, x0, None, be, rtol, atol, maxiter)
    b, rtol, atol, maxiter = S.b, S.rtol, S.atol, S.maxiter
    timer = Timer(be)
    # a right-hand side far from 1 in size is solved scaled by a power of two (exact), as the Krylov solvers do:
    # the squared residual norms of b ~ 1e-200 underflowed to 0 and b ~ 1e200 overflowed, and x = 0 was
    # returned as "converged" at relative residual 1
    e = _common.scale_exponent(xp, b, S.bmax)
    if e:                         # exact (xp.ldexp: 2^-e itself may overflow when b is subnormal)
        b = xp.ldexp(b, -e)
    x = _work.zeros(xp, b.shape) if S.x is None else S.x
    if e and S.x is not None:
        x = xp.ldexp(x, -e)
    r = _work.empty(xp, b.shape)      # pooled work vectors (solvers._workspace)
    z = _work.empty(xp, b.shape)
    shp = A.grid_shape
    dot = be.dot                  # not a threaded BLAS dot next to the Numba kernels
    bnorm = _common.norm2(xp, b, dot)
    tol = max(rtol * bnorm, _common.ldexp(atol, -e))

    def residual(v=None):         # ||b - A v|| (v = x by default), also where its square under- or overflows
        rr = A.residual_into((x if v is None else v).reshape(shp), b.reshape(shp), r.reshape(shp))
        return math.sqrt(rr) if 1e-280 < rr < 1e280 else _common.norm2(xp, r, dot)

    hist = [residual()]
    best, best_x, best_it = hist[0], None, 0   # best_x: a copy, made only once a cycle raised the residual
    status = Status.MAXITER
    it = 0
    while it < maxiter:
        if hist[-1] <= tol:
            status = Status.CONVERGED
            break
        if not np.isfinite(hist[-1]):
            status = Status.NONFINITE
            break
        if hist[-1] > DIVERGED * best:
            status = Status.DIVERGED
            break
        M.matvec_into(r, z)
        x += z
        it += 1
        hist.append(residual())
        if hist[-1] < best:
            best, best_x, best_it = hist[-1], None, it
        elif best_x is None and best_it == it - 1:
            best_x = x - z            # the iterate before this cycle, the best so far
    if status == Status.MAXITER and hist[-1] <= tol:
        status = Status.CONVERGED
    fine_spd = bool(getattr(M.levels[0].A, "positive_definite", True))
    krylov = ("a CG preconditioner (solvers.cg(A, b, M=...))" if fine_spd else
              "a preconditioner of solvers.gmres (A is not positive definite, so neither is the cycle in general: "
              "not of CG, nor of MINRES, which needs an SPD M)")
    msg = {Status.CONVERGED: f"converged in {it} V-cycles",
           Status.NONFINITE: "non-finite residual; check the operator and right-hand side",
           Status.DIVERGED: (f"diverged: the residual grew to more than {DIVERGED:g} times its smallest value; the "
                             "cycle is no convergent iteration for this A (indefinite, e.g. a large negative shift?): "
                             "use it as a preconditioner of solvers.gmres instead"),
           }.get(status, f"not converged after {maxiter} V-cycles; raise maxiter or use it as {krylov}")
    if status != Status.CONVERGED and best_x is not None and not hist[-1] <= best:
        x = best_x                    # the iterate with the smallest residual, not the diverged / non-finite one
        hist[-1] = residual()
        msg += f"; res.x is the iterate of V-cycle {best_it}, the smallest residual seen"
    if e:                         # back to the caller's units
        xs, x = x, xp.ldexp(x, e)
        back = _common.rounded_back(xp, xs, x, e) if status == Status.CONVERGED else None
        if back is not None:      # rounded into the subnormal range: measured again on the returned x
            true = residual(back)
            if not true <= tol:
                status = Status.STAGNATED
                msg = _common.SUBNORMAL_ADVICE.format(true=_common.ldexp(true, e), tol=_common.ldexp(tol, e))
            hist[-1] = true
        hist = np.ldexp(np.array(hist), e)
    msg = "multigrid: " + msg          # prefixed as the Krylov solvers' messages are
    return SolveResult(x, status == Status.CONVERGED, status, msg, it, history={"residual": np.array(hist)},
                       stats={**timer.stats(), "vcycles": it}, method="multigrid",
                       backend=be.name,
                       options={"rtol": rtol, "atol": atol, "maxiter": maxiter, "nu": list(M.nus)},
                       provenance=timer.provenance())

#: dimensions whose compiled-tail kernels this process has loaded through the Python recursion
_TAIL_KERNELS_LOADED = set()


def load_tail_kernels(M, K) -> None:
    """Before a compiled tail (``M._tail``) first runs in this process, load the serial kernels it calls through
    one Python-recursion cycle of its levels, on zeros (once per grid dimension). Numba resolves a function that
    two loaded libraries define (the kernel's own and the copy compiled into the tail) to the first one loaded:
    with the tail loaded first, its copy ran, which rounds differently in the last bit (different inlining and
    contraction), so the same solve gave other bits depending on what had run before it in the process (the
    tail-vs-recursion tests failed when run alone). With the kernels loaded first, tail and recursion are the
    same code, as :mod:`solvers._kernels.numba.mgtail` promises."""
    from .. import _config

    tail = M._tail
    if not tail:
        return
    l0 = tail[0]
    nd = len(M.levels[l0].shape)
    if nd in _TAIL_KERNELS_LOADED:
        return
    shp = tuple(M.levels[l0].shape)
    M._tail = None
    try:
        with _config.limit(1):
            M._cycle(l0, np.zeros(shp), np.zeros(shp), K, False)
    finally:
        M._tail = tail
    _TAIL_KERNELS_LOADED.add(nd)

