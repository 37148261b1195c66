"""Tucker compression of Chebyshev coefficient tensors: HOSVD, HOOI and reduced HOSVD.

* HOSVD (De Lathauwer, De Moor, Vandewalle, SIAM J. Matrix Anal. Appl. 21, 2000): the
  factor of mode ``i`` holds the leading left singular vectors of the mode-``i`` unfolding;
  with per-mode discarded tails :math:`\\delta_i` the error obeys
  :math:`\\|C - \\hat C\\|_F \\le (\\sum_i \\delta_i^2)^{1/2}`.
* ST-HOSVD (Vannieuwenhoven, Vandebril & Meerbergen, SIAM J. Sci. Comput. 34, 2012): the
  same with each mode projected before the next is decomposed; the error is exactly
  :math:`(\\sum_i \\delta_i^2)^{1/2}` with the sequential tails.
* HOOI / ALS (De Lathauwer, De Moor, Vandewalle, SIAM J. Matrix Anal. Appl. 21, 2000b):
  alternating sweeps from the HOSVD factors at fixed ranks; never worse than HOSVD in the
  Frobenius norm of the error (it maximises the core norm).
* Reduced HOSVD (Khoromskij & Khoromskaia, Centr. Eur. J. Math. 7, 2009; Benner,
  Khoromskaia & Khoromskij, SIAM J. Sci. Comput. 40, 2018): for a canonical tensor
  :math:`\\sum_r \\xi_r \\otimes_i u^{(i)}_r` with unit columns, the factor of mode ``i`` comes
  from the SVD of the weighted side matrix :math:`U^{(i)} \\mathrm{diag}(\\xi)` only, and the
  core is the projection of the canonical terms; the full tensor is never formed.
"""
from __future__ import annotations

import numpy as np

from . import _validate as _v


def mode_dot(T: np.ndarray, M: np.ndarray, mode: int) -> np.ndarray:
    """``T x_mode M``: contract mode ``mode`` of ``T`` (length ``n``) with ``M`` (``k x n``)."""
    return np.moveaxis(np.tensordot(M, T, axes=(1, mode)), 0, mode)


def unfold(T: np.ndarray, mode: int) -> np.ndarray:
    """The mode-``mode`` unfolding, shape ``(T.shape[mode], -1)``."""
    return np.moveaxis(T, mode, 0).reshape(T.shape[mode], -1)


def fold(P: np.ndarray, mode: int, shape) -> np.ndarray:
    """The inverse of :func:`unfold` for a product ``P = X unfold(T, mode)``: a tensor of ``T``'s ``shape`` with
    mode ``mode`` of length ``P.shape[0]``."""
    return np.moveaxis(P.reshape((P.shape[0],) + tuple(shape[:mode]) + tuple(shape[mode + 1:])), 0, mode)


def reconstruct(core: np.ndarray, factors) -> np.ndarray:
    """The full tensor ``core x_1 A_1 ... x_d A_d`` (its size is checked before anything is
    allocated: :class:`~solvers.approx._validate.TooLargeError`)."""
    shape, peak = list(core.shape), float(np.prod(core.shape, dtype=float))
    for i, A in enumerate(factors):
        shape[i] = A.shape[0]
        peak = max(peak, float(np.prod(shape, dtype=float)))
    _v.check_memory(f"a tensor of shape {tuple(shape)}", 16.0 * peak, "ask for fewer points per variable")
    T = core
    for i, A in enumerate(factors):
        T = mode_dot(T, A, i)
    return T


def fro(a) -> float:
    """The Frobenius norm without overflow or underflow of the squares: the plain norm (one pass) when it
    lies where neither can have mattered, else again on ``a`` divided by its largest entry."""
    if not np.size(a):
        return 0.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        plain = float(np.linalg.norm(a))
        if FRO_SAFE[0] <= plain <= FRO_SAFE[1]:
            return plain
        top = float(np.abs(a).max())
        return top * float(np.linalg.norm(a / top)) if top > 0 else 0.0


#: :func:`fro` trusts the plain norm in this range: a square that overflowed would make it inf, and the squares
#: that underflow (entries below about 1e-154, each square below 1e-308) move a norm of at least 1e-100 by a
#: relative 1e-90 or less even for 10^10 of them
FRO_SAFE = (1e-100, 1e100)


def _tails(s: np.ndarray) -> np.ndarray:
    """``tails[r] = sqrt(sum_{k >= r} s_k^2)`` for ``r = 0..len(s)``, without cancellation."""
    out = np.zeros(s.size + 1)
    out[:-1] = np.sqrt(np.cumsum((s[::-1] ** 2))[::-1])
    return out


def choose_rank(s: np.ndarray, budget: float, cap: int | None) -> int:
    """The smallest rank ``r >= 1`` whose discarded tail of ``s`` is at most ``budget``
    (or ``cap`` when fixed ranks are asked for)."""
    if cap is not None:
        return max(1, min(int(cap), s.size))
    t = _tails(s)
    ok = np.nonzero(t <= budget)[0]
    return max(1, int(ok[0]) if ok.size else s.size)


#: the Gram route resolves singular values down to about ``sqrt(m * eps) * sigma_max``; directions
#: with Gram eigenvalues above ``GRAM_FLOOR * m * eps * lambda_max`` count as resolved
GRAM_FLOOR = 64.0


def _wide_svd(M: np.ndarray):
    """Left singular vectors and singular values of a wide ``M`` (``k x n``, ``n >= k``) without
    its right singular vectors: ``M^T = Q R`` (Householder, backward stable), then the SVD of
    the ``k x k`` factor ``R^T`` (Golub & Van Loan, *Matrix Computations*, 4th ed., 8.6.3)."""
    R = np.linalg.qr(M.T, mode="r")
    W, s, _ = np.linalg.svd(R.T)
    return W, s


def _pick(tails: np.ndarray, budget: float, cap) -> int:
    """The smallest rank ``r >= 1`` with ``tails[r] <= budget`` (or ``cap``, at most the size)."""
    size = tails.size - 1
    if cap is not None:
        return max(1, min(int(cap), size))
    ok = np.nonzero(tails <= budget)[0]
    return max(1, int(ok[0]) if ok.size else size)


def _gram_directions(M: np.ndarray, budget: float, cap=None) -> np.ndarray:
    """Eigenvectors of ``M M^T`` (one GEMM, descending): as many as the eigenvalue tail says
    the budget needs, at most :func:`unresolved_reach` beyond those above the rounding floor
    ``GRAM_FLOOR * m * eps * lambda_max``, plus a margin (and at least ``cap + 4``)."""
    m = M.shape[0]
    lam, V = np.linalg.eigh(M @ M.T)
    lam, V = np.maximum(lam[::-1], 0.0), V[:, ::-1]
    floor = GRAM_FLOOR * m * np.finfo(np.float64).eps * float(lam[0])
    resolved = int(np.count_nonzero(lam > floor))
    tail2 = np.append(np.cumsum(lam[::-1])[::-1], 0.0)
    need = int(np.nonzero(tail2 <= 0.25 * budget * budget)[0][0])
    k = min(need, resolved + unresolved_reach(resolved))
    k = max(k + max(4, k // 4), 0 if cap is None else int(cap) + 4)
    return np.ascontiguousarray(V[:, :min(k, m)])


def unresolved_reach(resolved: int) -> int:
    """How many eigenvectors below the Gram route's rounding floor :func:`_gram_directions` may take when the
    budget asks for them: ``max(8, resolved // 2)``. Their eigenvalues are rounding, but the subspace they
    span with the resolved ones still holds the next singular directions: the residual of the projection,
    measured afterwards by :func:`mode_basis`, was 0.01-0.05 of the budget at tol 1e-7 on the benchmark's
    coefficient tensors (m = 129; 26-30 resolved of 34-39 needed), so one pass did what took two when only
    the resolved ones were taken (``/tmp/s30/gram.py``, session 30). Where they do not hold it, the measured
    residual says so and :func:`mode_basis` adds the residual's own directions, as before."""
    return max(8, resolved // 2)


def mode_basis(M: np.ndarray, budget: float, cap=None, project: bool = False):
    """The leading left singular subspace of an unfolding ``M`` (``m x n``).

    Two steps when ``n > 2 m``: the Gram matrix ``M M^T`` (one GEMM) and its eigenvectors give
    an orthonormal ``Q`` (``m x k``) holding every direction the Gram route resolves, plus a
    margin; then ``B = Q^T M``, the norm ``e`` of the residual ``M - Q B`` (measured, so
    the bound does not inherit the ``sqrt(eps)`` resolution of the Gram route; :func:`_residual_norm`) and
    the SVD of the small ``B``. The tail of rank ``r`` is :math:`(\\sum_{j \\ge r} s_j(B)^2 + e^2)^{1/2}`,
    the error of projecting ``M`` on the first ``r`` vectors. When that misses the budget, the
    Gram directions of the residual (resolved relative to ``e``) join ``Q`` and the step repeats.
    When ``Q`` would exceed half of ``m``, the SVD of ``M`` itself is used
    (:func:`_wide_svd`). Returns ``(U, s, tail)``: ``U`` the ``m x r`` basis, ``s`` the
    singular values computed (leading ones), ``tail`` the bound; with ``project`` also ``U^T M``
    (``r x n``; on the Gram route from ``B``, a product ``k / m`` times smaller).
    """
    m, n = M.shape
    if n > 2 * m:
        Q = _gram_directions(M, budget, cap)
        first = True
        while 2 * Q.shape[1] <= m:
            B = Q.T @ M
            e = _residual_norm(M, Q, B)
            W, s = _wide_svd(B)
            tails = np.sqrt(_tails(s) ** 2 + e * e)
            r = _pick(tails, budget, cap)
            # the first pass (which may hold Gram directions below the rounding floor) is kept only when its
            # residual leaves the SVD at least 3/4 of the budget's square, as _gram_directions aims: a residual
            # near the whole budget left the SVD too little and cost 1-2 extra ranks (review helper-115)
            if cap is not None or (tails[r] <= budget and (not first or e <= FIRST_PASS_RESIDUAL * budget)):
                U = np.ascontiguousarray(Q @ W[:, :r])
                out = (U, s, float(tails[r]))
                return out + (W[:, :r].T @ B,) if project else out
            first = False
            P = _gram_directions(M - Q @ B, budget)      # what Q misses, resolved relative to the residual
            for _ in range(2):                   # twice is enough (Giraud et al., Numer. Math. 2005)
                P = P - Q @ (Q.T @ P)
            Q = np.ascontiguousarray(np.hstack([Q, np.linalg.qr(P)[0]]))
    W, s = _wide_svd(M) if n >= m else np.linalg.svd(M, full_matrices=False)[:2]
    r = _pick(_tails(s), budget, cap)
    U = np.ascontiguousarray(W[:, :r])
    out = (U, s, float(_tails(s)[r]))
    return out + (U.T @ M,) if project else out


#: the largest residual, relative to the budget, with which :func:`mode_basis` keeps its first pass
FIRST_PASS_RESIDUAL = 0.5

#: columns per block of :func:`_residual_norm` (the block of the residual, ``m`` rows, stays in cache)
RESIDUAL_BLOCK = 2048


def _residual_norm(M: np.ndarray, Q: np.ndarray, B: np.ndarray) -> float:
    """``||M - Q B||_F`` by blocks of :data:`RESIDUAL_BLOCK` columns (no residual the size of ``M`` is
    stored: 129 x 16641, one thread, 7.1 -> 4 ms), with :func:`fro`'s safeguard: a sum of squares outside
    its safe range is done again on the whole residual, scaled."""
    n = M.shape[1]
    buf = np.empty((M.shape[0], min(n, RESIDUAL_BLOCK)))
    total = 0.0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for s0 in range(0, n, RESIDUAL_BLOCK):
            s1 = min(n, s0 + RESIDUAL_BLOCK)
            blk = buf[:, :s1 - s0]
            np.matmul(Q, B[:, s0:s1], out=blk)
            np.subtract(M[:, s0:s1], blk, out=blk)
            x = blk.reshape(-1) if blk.flags.c_contiguous else blk.ravel()
            total += float(np.dot(x, x))
    e = float(np.sqrt(total))
    return e if FRO_SAFE[0] <= e <= FRO_SAFE[1] else fro(M - Q @ B)


def hosvd(C: np.ndarray, tol: float, ranks=None, floor: float = 0.0):
    """Truncated HOSVD of ``C`` (every factor from the unfolding of ``C`` itself).

    Ranks come from ``ranks`` (fixed) or from the tolerance: per-mode tail
    ``<= max(tol * ||C||_F, floor) / sqrt(d)``, so that ``||C - C_hat||_F <= max(tol ||C||_F, floor)``
    (``floor``: an absolute budget, the rounding level of the operation that made ``C``). The mode
    bases come from :func:`mode_basis` (Gram matrix, then the SVD of the projected unfolding).

    Returns
    -------
    core, factors, bound, svals
        ``bound`` is :math:`(\\sum_i \\delta_i^2)^{1/2}`, a guaranteed bound of the
        Frobenius error; ``svals[i]`` the leading mode-``i`` singular values (all of them when
        the unfolding was decomposed directly).
    """
    d = C.ndim
    budget = max(tol * float(np.linalg.norm(C)), floor) / np.sqrt(d)
    factors, svals, tails = [], [], []
    for i in range(d):
        U, s, tail = mode_basis(unfold(C, i), budget, None if ranks is None else ranks[i])
        factors.append(U)
        svals.append(s)
        tails.append(tail)
    core = reconstruct_core(C, factors)
    return core, factors, float(np.sqrt(np.sum(np.square(tails)))), svals


def sthosvd(C: np.ndarray, tol: float, ranks=None):
    """Sequentially truncated HOSVD (Vannieuwenhoven, Vandebril & Meerbergen, SIAM J. Sci.
    Comput. 34, 2012): mode ``i``'s basis comes from the unfolding of ``C`` already projected
    on the bases of modes ``0 .. i-1``, so later modes work on smaller tensors. The discarded
    parts are mutually orthogonal: :math:`\\|C - \\hat C\\|_F^2 = \\sum_i \\delta_i^2` with
    :math:`\\delta_i` the tail of step ``i``, so the tolerance rule and the returned bound are
    those of :func:`hosvd`. Same returns as :func:`hosvd`.
    """
    d = C.ndim
    budget = tol * float(np.linalg.norm(C)) / np.sqrt(d)
    core, factors, svals, tails = C, [], [], []
    for i in range(d):
        U, s, tail, P = mode_basis(unfold(core, i), budget, None if ranks is None else ranks[i], project=True)
        factors.append(U)
        svals.append(s)
        tails.append(tail)
        core = fold(P, i, core.shape)      # U^T applied in mode i (from mode_basis)
    return np.ascontiguousarray(core), factors, float(np.sqrt(np.sum(np.square(tails)))), svals


def hooi(C: np.ndarray, factors, *, sweeps: int = 10, rtol: float = 1e-13):
    """HOOI sweeps on ``C`` from ``factors`` (orthonormal columns), ranks kept.

    Stops after ``sweeps`` sweeps or when a sweep lowers the measured Frobenius error by
    less than ``rtol * ||C||_F``. Returns ``(core, factors, errors)``, ``errors[k]`` the
    error ``||C - core x A||_F`` after sweep ``k`` (entry 0: the start).
    """
    d = C.ndim
    factors = [A.copy() for A in factors]
    norm = float(np.linalg.norm(C))
    core, err = projection_error(C, factors)
    errors = [err]
    for _ in range(sweeps):
        first = None                     # C x_0 A_0^T with this sweep's new A_0: shared by the modes after 0
        for i in range(d):
            Y = C if i == 0 else first
            for j in range(1 if i > 0 else 0, d):
                if j != i:
                    Y = mode_dot(Y, factors[j].T, j)
            M = unfold(Y, i)
            U = _wide_svd(M)[0] if M.shape[1] >= M.shape[0] else np.linalg.svd(M, full_matrices=False)[0]
            factors[i] = np.ascontiguousarray(U[:, :factors[i].shape[1]])
            if i == 0 and d > 1:
                first = mode_dot(C, factors[0].T, 0)
        core, err = projection_error(C, factors, first)
        errors.append(err)
        if errors[-2] - errors[-1] <= rtol * norm:
            break
    return core, factors, errors


def projection_error(C: np.ndarray, factors, first=None):
    """``(core, ||C - core x A||_F)`` with ``core = C x_1 A_1^T ... x_d A_d^T``. For orthonormal factors the
    error is the orthogonal sum of the residuals of each projection in turn, :math:`\\|C - \\hat C\\|_F^2 =
    \\sum_i \\|(I - A_i A_i^T) T_{i(i)}\\|_F^2` with ``T_i = C x_1 A_1^T ... x_{i-1} A_{i-1}^T`` (as the ST-HOSVD
    bound), each measured by :func:`_residual_norm`, never by subtracting squares: the full tensor is not
    rebuilt (HOOI's error per sweep, newton_50 at m = 129: 17 -> about 6 ms). Factors whose columns are not
    orthonormal to 1e-12 get the direct ``||C - reconstruct(core, A)||``. ``first``: ``C x_1 A_1^T`` when the
    caller has it (HOOI's sweep does), so that product is not formed again."""
    ortho = all(np.abs(A.T @ A - np.eye(A.shape[1])).max() <= 1e-12 for A in factors)
    if not ortho:
        core = reconstruct_core(C, factors)
        return core, fro(C - reconstruct(core, factors))
    T, parts = C, []
    for i, A in enumerate(factors):
        M = unfold(T, i)
        B = unfold(first, 0) if (i == 0 and first is not None) else A.T @ M
        parts.append(_residual_norm(M, A, B))
        T = fold(B, i, T.shape)
    top = max(parts) if parts else 0.0
    err = top * float(np.sqrt(sum((e / top) ** 2 for e in parts))) if top > 0 else 0.0
    return np.ascontiguousarray(T), err


def reconstruct_core(C: np.ndarray, factors) -> np.ndarray:
    """The projected core ``C x_1 A_1^T ... x_d A_d^T``."""
    core = C
    for i, A in enumerate(factors):
        core = mode_dot(core, A.T, i)
    return core


def orthonormalize(core: np.ndarray, factors):
    """QR of every factor, the triangular parts moved into the core (same tensor)."""
    out = []
    for i, A in enumerate(factors):
        Q, R = np.linalg.qr(A)
        out.append(Q)
        core = mode_dot(core, R, i)
    return core, out


def truncate(core: np.ndarray, factors, tol: float, ranks=None, floor: float = 0.0):
    """Re-truncate a Tucker tensor (any factors): orthonormalise, then HOSVD of the core, with
    ``floor`` an absolute Frobenius budget as in :func:`hosvd` (the rounding level of a sum of
    two tensors: their difference can be pure rounding, which a budget relative to it keeps).
    A core whose whole norm is within ``floor`` becomes zero (ranks 1): the function is zero to
    that accuracy.

    Returns ``(core, factors, bound)`` with ``bound`` as in :func:`hosvd` (at most
    ``max(tol ||core||_F, floor)``).
    """
    core, Q = orthonormalize(core, factors)
    scale = float(np.abs(core).max()) or 1.0       # unit-size core: no overflow in the norms
    total = fro(core)
    if ranks is None and 0.0 < total <= floor:
        G = np.zeros((1,) * core.ndim)
        return G, [np.ascontiguousarray(q[:, :1]) for q in Q], total
    G, V, bound, _ = hosvd(core / scale, tol, ranks, floor / scale)
    return G * scale, [np.ascontiguousarray(q @ v) for q, v in zip(Q, V)], bound * scale


def cp_core(xi: np.ndarray, B) -> np.ndarray:
    """``sum_r xi_r  B_1[:, r] o ... o B_d[:, r]`` as one GEMM: ``B_1 diag(xi)`` times the
    transposed Khatri–Rao product of the other factors (small sizes: the result is full)."""
    K = np.ones((1, xi.size))
    for Bj in B[1:]:
        K = (K[:, None, :] * Bj[None, :, :]).reshape(-1, xi.size)
    return ((B[0] * xi) @ K.T).reshape(tuple(Bj.shape[0] for Bj in B))


def cp_normalize(weights: np.ndarray, factors):
    """Unit columns and weights scaled to ``max |xi| = 1``, without overflow or underflow.

    Returns ``(xi, U_hat, scale)`` with ``sum_r w_r o_i U_i[:, r] = scale * sum_r xi_r o_i U_hat_i[:, r]``;
    terms with a zero weight or a zero column are dropped.
    """
    norms = [np.linalg.norm(U, axis=0) for U in factors]
    w = np.asarray(weights, dtype=np.float64)
    keep = (w != 0.0) & np.all([n > 0.0 for n in norms], axis=0)
    if not keep.any():
        return np.zeros(0), [np.zeros((U.shape[0], 0)) for U in factors], 0.0
    logs = np.log(np.abs(w[keep])) + np.sum([np.log(n[keep]) for n in norms], axis=0)
    top = float(logs.max())
    xi = np.sign(w[keep]) * np.exp(logs - top)
    return xi, [U[:, keep] / n[keep] for U, n in zip(factors, norms)], float(np.exp(top))


#: up to this many terms the constant of the reduced-HOSVD bound is an exact R x R eigenvalue
EXACT_KAPPA_MAX = 256


def _rhosvd_gram(weights: np.ndarray, factors, tol: float, ranks=None):
    """Reduced HOSVD of the canonical tensor ``sum_r w_r o_i U_i[:, r]``.

    Columns are normalised into the weights :math:`\\xi`; the factor of mode ``i`` holds the
    leading left singular vectors of :math:`\\hat U_i \\mathrm{diag}(\\xi)`. Projecting mode
    ``i`` costs at most :math:`\\|K_i\\|_2 \\delta_i` in the Frobenius norm, :math:`K_i` the
    Khatri–Rao product of the other (unit-column) factors and :math:`\\delta_i` the discarded
    tail; :math:`\\|K_i\\|_2^2` is the largest eigenvalue of the Hadamard product of their
    Gram matrices (R x R), computed for ``R <= EXACT_KAPPA_MAX`` and else bounded by the
    smallest of their largest eigenvalues (Schur's product theorem, unit diagonals). Ranks are
    chosen so the summed bound is at most
    ``tol * ||A||_F``. Returns ``(core, factors, bound, scale)``: the tensor is ``scale`` times
    the Tucker tensor (the core is kept near unit size, so huge or tiny inputs neither
    overflow nor underflow); ``bound`` is relative to the scaled tensor too.
    """
    d = len(factors)
    xi, Uh, scale = cp_normalize(weights, factors)
    if xi.size == 0:                        # the zero tensor: rank 1, zero core
        return np.zeros((1,) * d), [np.eye(U.shape[0], 1) for U in factors], 0.0, 1.0
    grams = [U.T @ U for U in Uh]
    full = np.ones((xi.size, xi.size))
    for Gm in grams:
        full *= Gm
    norm = float(np.sqrt(max(xi @ full @ xi, 0.0)))
    spec2 = [float(np.linalg.eigvalsh(U @ U.T)[-1]) for U in Uh]   # ||U_j||_2^2 = lambda_max(G_j), m x m
    Z, tails = [], []
    for i in range(d):
        # lambda_max of the Hadamard product of the other Grams (unit diagonals) is at most the
        # smallest lambda_max(G_j) (Schur); computed exactly when R is small
        lam = min([spec2[j] for j in range(d) if j != i], default=1.0)
        if xi.size <= EXACT_KAPPA_MAX:
            H = np.ones_like(full)
            for j in range(d):
                if j != i:
                    H *= grams[j]
            lam = min(lam, float(np.linalg.eigvalsh(H)[-1]))
        kappa = float(np.sqrt(max(lam, 0.0)))
        W, s, _ = np.linalg.svd(Uh[i] * xi, full_matrices=False)
        budget = tol * norm / (d * kappa) if kappa > 0 else np.inf
        r = choose_rank(s, budget, None if ranks is None else ranks[i])
        Z.append(np.ascontiguousarray(W[:, :r]))
        tails.append(kappa * _tails(s)[r])
    rk = [z.shape[1] for z in Z]
    need = 8.0 * (np.prod(rk[1:], dtype=float) * xi.size + 2 * np.prod(rk, dtype=float))   # Khatri-Rao + core
    _v.check_memory("the reduced-HOSVD core", need, "raise tol or pass smaller ranks")
    core = cp_core(xi, [z.T @ u for z, u in zip(Z, Uh)])
    return core, Z, float(np.sum(tails)), scale


#: canonical inputs with more terms are compressed in groups of this many (the R x R Gram
#: matrices of :func:`_rhosvd_gram` would grow quadratically), then summed in Tucker form
GRAM_MAX = 1024


def add(core_a, fac_a, core_b, fac_b):
    """The exact Tucker sum: factors side by side (zero-padded to the longer), block-diagonal core."""
    size = np.prod([a.shape[1] + b.shape[1] for a, b in zip(fac_a, fac_b)], dtype=float)
    _v.check_memory("the Tucker sum's core", 8.0 * size, "truncate the operands first or raise tol")
    fac = []
    for a, b in zip(fac_a, fac_b):
        F = np.zeros((max(a.shape[0], b.shape[0]), a.shape[1] + b.shape[1]))
        F[:a.shape[0], :a.shape[1]] = a
        F[:b.shape[0], a.shape[1]:] = b
        fac.append(F)
    core = np.zeros(tuple(a.shape[1] + b.shape[1] for a, b in zip(fac_a, fac_b)))
    core[tuple(slice(0, n) for n in core_a.shape)] = core_a
    core[tuple(slice(n, None) for n in core_a.shape)] = core_b
    return core, fac


def rhosvd(weights: np.ndarray, factors, tol: float, ranks=None):
    """Reduced HOSVD of ``sum_r w_r o_i U_i[:, r]`` (see :func:`_rhosvd_gram`).

    With more than :data:`GRAM_MAX` terms, the terms are split into groups, each group is
    compressed at ``tol / groups`` and the Tucker tensors are summed with re-truncation at the
    same tolerance; the returned bound is the sum of all the (absolute) bounds, so it stays
    rigorous, while its size relative to ``||A||_F`` can exceed ``tol`` when groups cancel.
    Memory is estimated before anything is allocated (at most ``GRAM_MAX^2`` Gram entries per
    group; :class:`~solvers.approx._validate.TooLargeError` beyond ``NEWTONKIT_MEMORY_LIMIT``
    or 75 % of the physical memory).
    Returns ``(core, factors, bound, scale)`` as :func:`_rhosvd_gram`.
    """
    w = np.asarray(weights, dtype=np.float64)
    d, g = len(factors), min(w.size, GRAM_MAX)
    # the normalised factors (d m x R), per group d + 2 Gram-sized R x R arrays and the m x m spectra
    need = 8.0 * (sum(2.0 * U.shape[0] * w.size + U.shape[0] ** 2 for U in factors) + (d + 2.0) * g * g)
    _v.check_memory(f"the reduced HOSVD of {w.size} canonical terms", need,
                    "use fewer terms (e.g. a coarser kernel approximation) or less memory per factor")
    if w.size <= GRAM_MAX:
        return _rhosvd_gram(w, factors, tol, ranks)
    xi, Uh, scale = cp_normalize(w, factors)
    groups = max(1, -(-xi.size // GRAM_MAX))
    part = tol / (2 * groups)
    acc, total = None, 0.0
    for g in range(groups):
        sl = slice(g * GRAM_MAX, (g + 1) * GRAM_MAX)
        G, Z, b, sc = _rhosvd_gram(xi[sl], [U[:, sl] for U in Uh], part)
        G, b = G * sc, b * sc
        total += b
        if acc is None:
            acc = (G, Z)
            continue
        core, fac = add(acc[0], acc[1], G, Z)
        G, Z, b = truncate(core, fac, part, ranks if g == groups - 1 else None)
        acc = (G, Z)
        total += b
    if acc is None:
        d = len(factors)
        return np.zeros((1,) * d), [np.eye(U.shape[0], 1) for U in factors], 0.0, 1.0
    return acc[0], acc[1], total, scale
