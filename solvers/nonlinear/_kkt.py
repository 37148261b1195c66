"""The Newton-KKT system of equality-constrained optimisation and its inexact solvers.

At an iterate ``(x, lam)`` the Lagrangian Newton system is

    K z = b,   K = [[B, J^T], [J, 0]],   b = -(g_L, c),

with ``B = H + t I`` the Hessian of the Lagrangian ``H``, shifted by ``t >= 0`` when ``H`` is
not positive definite on the null space of ``J``. :class:`NewtonSystem` holds ``K`` (a dense
array for small dense problems, else a :func:`~solvers.operators.kkt_operator`), chooses the
shift (:meth:`NewtonSystem.reduced_hessian_shift`, exact for the dense form) and solves the
system inexactly:

* :func:`sketch_and_project` -- randomized iterative sketching (Gower and Richtarik, 2015):
  ``z <- z - K S^T (S K K S^T)^+ S (K z - b)`` with a fresh sketch ``S`` every iteration,
  drawn by :class:`SketchSampler` from :mod:`solvers.operators.sketch`;
* :func:`krylov_solve` -- preconditioned MINRES (Paige and Saunders, 1975) on ``K``.

Both stop at the adaptive accuracy condition ``||K z - b|| <= tol`` that the caller sets
(Hong, Na, Mahoney and Kolar, ICML 2023).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..linear._common import norm2
from ..operators import IdentityOperator, aslinearoperator, count_sketch, gaussian_sketch, kkt_operator, row_sampling
from . import _kkt_checks as _checks
from ._nlp import _is_matrix, jacobian_svd, least_squares_multipliers, matvec

SKETCHES = ("gaussian", "kaczmarz", "countsketch", "block")

#: the reduced Hessian counts as positive definite when lambda_min(Z^T H Z) > _PD_RTOL ||H||_2: three orders above the
#: rounding of the computed eigenvalue (~ n eps ||H||). 1e-8 shifted every SPD Hessian of condition above 1e8 by
#: xi_B ||H|| at every iteration, so a convex QP with variables of mixed scales (1e-4 to 5) crawled to maxiter
_PD_RTOL = 1e-12
_REDUCED_SCALE = 1e-2   # the shift's scale is ||Z^T H Z||_F where that is below this fraction of ||H||_2
#: largest n + m for which the KKT matrix is formed densely (exact reduced-Hessian test)
DENSE_LIMIT = 2000
#: largest n + m of an operator KKT system whose matrix is assembled (n + m operator products) for the products of
#: the inner solvers, when they are sketches: a sketch-and-project iteration then costs dense row products instead of
#: operator products. The assembly's N products are fewer than one inner budget of sketch iterations on the operator
#: (about 100 N products), and its N^2 doubles (32 MB at 2000) as many as the dense form's: at 200, GENHS28(n=200..900,
#: sparse=True) ran out of its sketch budget at iteration 2 (sketch='gaussian'), assembled it converges in 1-2
#: iterations (0.14-5 s) to f_star within 6e-14. Also the limit of the second-order check's assembly (once per solve)
ASSEMBLE_LIMIT = DENSE_LIMIT
#: the same for MINRES (``sketch=None``), which needs only tens of products per solve: assembling K at every Newton
#: iteration up to 2000 made PoissonControl (N = 768 .. 1875) 75-180x more expensive (helper-154)
ASSEMBLE_LIMIT_MINRES = 200


class NewtonSystem:
    """``K = [[H + t I, J^T], [J, 0]]`` at one iterate.

    Parameters
    ----------
    H, J : array, sparse matrix or operator
        Hessian of the Lagrangian ``(n, n)`` and constraint Jacobian ``(m, n)``.
    backend : Backend
    for_sketch : bool or None
        An operator system is assembled up to :data:`ASSEMBLE_LIMIT` unknowns when True (sketches, the
        second-order check), up to :data:`ASSEMBLE_LIMIT_MINRES` when False (MINRES), never when None.
    """

    def __init__(self, H, J, backend, for_sketch: bool | None = True):
        self.assemble_limit = 0 if for_sketch is None else ASSEMBLE_LIMIT if for_sketch else ASSEMBLE_LIMIT_MINRES
        self.n = H.shape[0]
        self.m = J.shape[0]
        self.N = self.n + self.m
        self.be = backend
        self.shift = 0.0
        self.svd = None            # jacobian_svd(J), made on first use (or handed over by the caller)
        self.is_dense = _is_matrix(H) and _is_matrix(J) and self.N <= DENSE_LIMIT
        if self.is_dense:
            Hd = H.toarray() if sp.issparse(H) else np.asarray(H, dtype=np.float64)
            self.H = 0.5 * (Hd + Hd.T)
            self.J = J.toarray() if sp.issparse(J) else np.asarray(J, dtype=np.float64)
        else:
            self.H, self.J = H, J
        self._build()

    def _build(self):
        n = self.n
        if self.is_dense:
            K = np.zeros((self.N, self.N))
            K[:n, :n] = self.H + self.shift * np.eye(n)
            K[:n, n:] = self.J.T
            K[n:, :n] = self.J
            self.K = K
            self.op = self.Ka = None
        else:
            self.K = None
            self.op = self._operator()
            self.Ka = None
            if self.N <= self.assemble_limit and self.be.xp is np:
                # small operator system: assemble K once (N products); the method is unchanged (same sketches, same
                # curvature test), only the products are cheaper. Not "dense": the Hessian test stays the operator one.
                # (Host backends only: the sketches that use it are host code.)
                Ka = np.column_stack([np.asarray(self.op.matvec(e), dtype=np.float64) for e in np.eye(self.N)])
                if np.all(np.isfinite(Ka)):
                    self._check_symmetric(Ka)
                    self.Ka = 0.5 * (Ka + Ka.T)
                    self._diag0 = self.Ka.diagonal()[:n] - self.shift     # the unshifted diagonal (exact shifts)
            if self.Ka is None:
                self._dot_test()

    @property
    def assembled(self) -> bool:
        """``K`` is held as a dense array (dense problems, and operator problems with ``N <= ASSEMBLE_LIMIT``)."""
        return self.K is not None or self.Ka is not None

    def _operator(self):
        """``K`` as an operator, ``B = H + shift I`` (no products formed)."""
        B = aslinearoperator(self.H, backend=self.be)
        if self.shift:
            B = B + self.shift * IdentityOperator(self.n, backend=self.be)
        return kkt_operator(B, self.J, backend=self.be)

    def _check_symmetric(self, Ka):
        """An assembled operator ``K`` must be symmetric (as the first dense ``hess_lagrangian`` is checked,
        :meth:`._nlp.NLPEvaluator.hess`): :func:`._kkt_checks.check_assembled`."""
        _checks.check_assembled(Ka, self.n, self.m)

    def _dot_test(self):
        """The symmetry of an operator system too large to assemble: :func:`._kkt_checks.dot_test`."""
        _checks.dot_test(aslinearoperator(self.H, backend=self.be),
                         aslinearoperator(self.J, backend=self.be) if self.m else None, self.be)

    def set_shift(self, t: float) -> None:
        """Use ``B = H + t I``. An assembled operator system sets its diagonal from the unshifted one (no new
        products, no drift over a sequence of shifts)."""
        t = float(t)
        if self.Ka is not None:
            idx = np.arange(self.n)
            self.Ka[idx, idx] = self._diag0 + t
            self.shift = t
            self.op = self._operator()
            return
        self.shift = t
        self._build()

    # ------------------------------------------------------------------ products
    def matvec(self, v):
        if self.K is not None:
            return self.K @ v
        if self.Ka is not None:
            return self.Ka @ v
        return self.be.xp.asarray(self.op.matvec(v))

    def rows(self, S):
        """``S K`` for a dense ``(s, N)`` array ``S`` (``K`` is symmetric: ``(K S^T)^T``)."""
        if self.K is not None:
            return S @ self.K
        if self.Ka is not None:
            return S @ self.Ka
        op = self.op
        if hasattr(op, "matmat"):
            return np.asarray(op.matmat(np.ascontiguousarray(S.T))).T
        return np.column_stack([np.asarray(op.matvec(s)) for s in S]).T

    def curvature(self, dx) -> float:
        """``dx^T B dx``."""
        be = self.be                   # the backend's dot, not BLAS's (see _nlp.vdot)
        return be.dot(dx, matvec(self.H, dx, be.xp)) + self.shift * be.dot(dx, dx)

    def row_probabilities(self):
        """Squared row norms of ``K`` over ``||K||_F^2`` (dense form; ``None`` = uniform)."""
        if self.K is None:
            return None
        w = np.einsum("ij,ij->i", self.K, self.K)
        total = float(w.sum())
        if not (total > 0 and math.isfinite(total)):
            return None
        return w / total

    # ------------------------------------------------------------------ Hessian modification
    def reduced_hessian_shift(self, xi_B: float):
        """The shift ``t`` that makes ``Z^T (H + t I) Z`` positive definite (dense form only).

        ``Z`` is an orthonormal basis of the null space of ``J`` (from the SVD of ``J``). When
        ``lambda_min(Z^T H Z) > 1e-12 ||H||_2`` (:data:`_PD_RTOL`) no shift is needed (``t = 0``, so the step is the
        exact Newton step and local quadratic convergence is kept; the test is relative, so a
        positive definite Hessian of small norm, e.g. after the objective scaling of a problem
        whose variables are of size 1e10, is not shifted by ``xi_B``, which is far above its
        curvature and turned a convex QP into a crawl of gradient-like steps); otherwise
        ``t = xi_B s - lambda_min`` so that the smallest reduced eigenvalue becomes ``xi_B s``, with
        ``s = max(1, ||H||_2)``, or ``max(1, ||Z^T H Z||_F)`` where that norm is below ``_REDUCED_SCALE ||H||_2``.
        Returns ``(t, lambda_min, sigma_min(J))``.
        """
        n, m = self.n, self.m
        if self.svd is None or self.svd[2].shape[0] != n:     # the null space needs the square Vt
            self.svd = jacobian_svd(self.J, full=True)
        _, s, Vt, rank = self.svd
        sigma_min = float(s[min(m, n) - 1]) if m <= n and s.size else 0.0
        Z = Vt[rank:].T
        # ||H||_2 of the symmetric H: its largest |eigenvalue| (eigvalsh is 2.6x cheaper than the SVD norm(H, 2)
        # computes: 0.068 against 0.177 s at n = 1200, equal to 1e-15)
        hnorm = float(np.max(np.abs(np.linalg.eigvalsh(self.H)))) if n else 0.0
        if Z.shape[1] == 0:
            self.reduced_z = self.reduced_R = None
            return 0.0, math.inf, sigma_min
        R = Z.T @ self.H @ Z
        lam_min = float(sla.eigvalsh(R, subset_by_index=[0, 0])[0])
        self.reduced_z, self.reduced_R = Z, R   # for reduced_norm and the second-order check
        # the shift's scale: ||H||_2, or ||Z^T H Z||_F where that is below a hundredth of it -- H's large curvature
        # in directions the constraints remove made min 1e7 x^2 - y^2 + z^2 s.t. x = 0 crawl with a shift of 2e6
        # (helper-128)
        rnorm = float(np.linalg.norm(R))
        scale = max(1.0, rnorm if rnorm < _REDUCED_SCALE * hnorm else hnorm)
        if lam_min > _PD_RTOL * hnorm:
            return 0.0, lam_min, sigma_min
        return xi_B * scale - lam_min, lam_min, sigma_min


    def reduced_norm(self) -> float:
        """``||Z^T H Z||_2`` on the null space found by the last :meth:`reduced_hessian_shift` (0 without one)."""
        R = getattr(self, "reduced_R", None)
        if R is None or R.size == 0:
            return 0.0
        ev = np.linalg.eigvalsh(R)
        return float(max(abs(ev[0]), abs(ev[-1])))


class SketchSampler:
    """Draws the sketches of :func:`sketch_and_project`, in batches, from seeded sketch operators.

    ``"gaussian"``: ``s`` rows of a :func:`~solvers.operators.gaussian_sketch`;
    ``"kaczmarz"``: one row of the identity sampled by :func:`~solvers.operators.row_sampling`
    with probabilities proportional to the squared row norms of ``K`` (Strohmer and Vershynin,
    2009; uniform for an operator ``K``); ``"block"``: ``s`` such rows (block Kaczmarz);
    ``"countsketch"``: an ``(s, N)`` :func:`~solvers.operators.count_sketch`. Only the row space
    of ``S`` matters to the projection, so the operators' scalings do not change the method.
    """

    def __init__(self, kind: str, N: int, s: int, rng, probabilities=None):
        self.kind, self.N, self.s, self.rng, self.p = kind, N, s, rng, probabilities
        self.batch = 1 if s >= N else max(1, min(256, 4_000_000 // max(1, s * N)))
        self.S = self.SK = self.SKK = self.P = None
        self.full = None            # the S = I batch of the current K (its pseudo-inverse), reused until reset()
        self.pos = 0
        self.grown = 0

    def _seed(self) -> int:
        return int(self.rng.integers(0, 2**63 - 1))

    def grow(self, full: bool = False) -> bool:
        """Double the sketch size (the stagnation safeguard of :func:`sketch_and_project`), or make it the whole
        system with ``full`` (its predictive jump); ``False`` once the sketch is already the whole system
        (``s = N``: one exact projection)."""
        if self.s >= self.N:
            return False
        self.s = self.N if full else min(2 * self.s, self.N)
        self.batch = 1 if self.s >= self.N else max(1, min(256, 4_000_000 // max(1, self.s * self.N)))
        self.grown += 1
        self.reset()
        return True

    def _draw(self, system: NewtonSystem):
        s, N, B = self.s, self.N, self.batch
        if s >= N and self.full is not None:       # S = I again on the same K (refinement, penalty rounds)
            self.S, self.SK, self.SKK, self.P = self.full
            self.pos = 0
            return
        if s >= N:
            # the whole system: S = I, one exact (least-squares, for a singular K) projection
            S = np.tile(np.eye(N), (B, 1))
        elif self.kind == "gaussian":
            S = np.asarray(gaussian_sketch(s * B, N, seed=self._seed(), backend="numpy").todense())
        elif self.kind in ("kaczmarz", "block"):
            S = np.asarray(row_sampling(s * B, N, seed=self._seed(), probabilities=self.p,
                                        backend="numpy").todense())
        else:
            # the columns of a CountSketch are independent: one (s, B N) sketch is B independent (s, N) ones
            C = np.asarray(count_sketch(s, B * N, seed=self._seed(), backend="numpy").todense())
            S = C.reshape(s, B, N).transpose(1, 0, 2).reshape(B * s, N)
        SK = system.rows(S)                   # rows of S K
        SKK = system.rows(SK)                 # rows of S K K: the residual changes along them
        # the Gram matrices S K K^T S^T of the batch (not for S = I, whose projection comes from pinv(K) below:
        # this N^3 einsum took 2.9 of 10.6 s on equality_qp(1800, 100))
        G = np.einsum("bij,bkj->bik", SK.reshape(B, s, N), SK.reshape(B, s, N)) if s < N else None
        if s >= N:
            # S = I: (K K^T)^+ = (K^+)^T K^+ from the pseudo-inverse of K itself, whose condition is not squared
            # (pinv(K K^T) truncated the small singular values of a K of condition 1e9 and the exact projection
            # was not exact)
            Kp = np.linalg.pinv(SK[:N], hermitian=True)
            P = np.broadcast_to(Kp.T @ Kp, (B, N, N))
        elif s == 1:
            g = G.reshape(B)
            P = np.divide(1.0, g, out=np.zeros(B), where=g > 0).reshape(B, 1, 1)
        else:
            P = np.linalg.pinv(G, hermitian=True)     # (S K K S^T)^+ for each sketch of the batch
        self.S, self.SK, self.SKK, self.P = S.reshape(B, s, N), SK.reshape(B, s, N), SKK.reshape(B, s, N), P
        self.full = (self.S, self.SK, self.SKK, self.P) if s >= N else None
        self.pos = 0

    def next(self, system: NewtonSystem):
        """``(S, S K, S K K, (S K K S^T)^+)`` for the next iteration."""
        if self.S is None or self.pos >= self.batch:
            self._draw(system)
        i = self.pos
        self.pos += 1
        return self.S[i], self.SK[i], self.SKK[i], self.P[i]

    def reset(self):
        """Forget the current batch (``K`` changed)."""
        self.S = self.SK = self.SKK = self.P = self.full = None


#: sketch-and-project iterations per unknown after which a residual that has not halved counts as
#: stagnation and the sketch size doubles (:func:`sketch_and_project`)
STALL_WINDOW = 20
#: the work model of the jump to the whole system (:func:`_full_pays`), in flop-equivalents: an iteration costs
#: ``2 s N^2`` (the rows ``S K`` and ``S K K`` of a dense ``K``) plus ``ITER_OVERHEAD`` (the Python of one
#: iteration), the exact projection ``FULL_FLOPS N^3`` (the pseudo-inverse of ``K`` by SVD) plus ``FULL_OVERHEAD``
ITER_OVERHEAD, FULL_FLOPS, FULL_OVERHEAD = 2e4, 25.0, 2e5
#: ... and only when the predicted saving is at least this much work (~10 ms): the small HS/BT systems keep sketching
MIN_SAVING = 5e7


def _full_pays(rn: float, rn0: float, k: int, tol: float, s: int, N: int) -> bool:
    """Whether the exact projection (``S = I``) is predicted to cost less than sketching on to ``tol``: the
    rate measured over the last ``k`` iterations (``rn0 -> rn``) extrapolated to ``tol``, against the work
    model above. The sketch solver's rate is about ``1 - sigma_min(K)^2 / ||K||_F^2`` per row (Gower and
    Richtarik 2015), so a moderately conditioned dense KKT system of a few hundred unknowns needs 10^4-10^5
    iterations per Newton step where one factorization costs milliseconds: ``equality_qp(300, 30)`` took
    287 000 inner iterations and 95 s with one-row Gaussian sketches."""
    if not (tol > 0 and math.isfinite(rn) and rn > tol and k > 0):
        return False
    rate = (rn / rn0) ** (1.0 / k) if rn0 > 0 and math.isfinite(rn0) else 1.0
    need = (math.log(tol) - math.log(rn)) / math.log(rate) if rate < 1.0 else math.inf
    per_it = 2.0 * s * N * N + ITER_OVERHEAD
    full = FULL_FLOPS * N ** 3 + FULL_OVERHEAD
    return need * per_it > max(full, MIN_SAVING)


def sketch_and_project(system: NewtonSystem, b, z, r, tol: float, maxiter: int, sampler: SketchSampler):
    """Iterate ``z <- z - (S K)^T y``, ``y = (S K K S^T)^+ S r``, ``r = K z - b``, until ``||r|| <= tol``.

    The residual is updated along the precomputed rows of ``S K K`` and its norm checked every
    few iterations (then confirmed on the recomputed ``K z - b``). ``z`` and ``r`` are updated
    in place and returned with the iteration count and whether the accuracy condition holds.

    Stagnation safeguard: the expected contraction of sketch-and-project per iteration is
    ``1 - sigma_min^2 / ||K||_F^2``-like (Gower and Richtarik 2015), which is no contraction at
    all on the near-singular KKT systems met near degenerate solutions (singular reduced
    Hessians, rank-deficient Jacobians: HS26, HS46, HS47, HS49). When the residual has not
    halved over ``STALL_WINDOW * N`` iterations the sketch size doubles (``sampler.grow``), up
    to the whole system (one exact least-squares projection, ``(S K K^T S^T)^+`` from the pseudo-inverse of ``K``
    so that its condition is not squared; repeated only as iterative refinement while it halves the true
    residual, after which the solve returns instead of idling through ``maxiter``). ``sampler.grown`` counts it.

    Predictive jump (a dense ``K``): every ``max(100, N / 4)`` iterations the rate measured since the last check
    is extrapolated to ``tol``; when the sketch work still to do exceeds one exact projection
    (:func:`_full_pays`, a work model) the sketch becomes the whole system at once. Slow but steady sketching
    never triggers the stall test: ``equality_qp(300, 30)`` took 287 000 inner iterations (95 s) with the
    default one-row Gaussian sketches, and takes 101 (0.4 s) with the jump.
    """
    its = 0
    rn = float(np.linalg.norm(r))
    check = 1
    window = STALL_WINDOW * sampler.N
    mark, mark_rn = 0, rn
    full_done, full_rn = False, math.inf
    # the predictive jump to the whole system (dense K only: S = I needs K's N rows): every `span` iterations
    dense, span = system.K is not None or system.Ka is not None, max(100, sampler.N // 4)
    pmark, pmark_rn = 0, rn
    while its < maxiter:
        if dense and sampler.s < sampler.N and its - pmark >= span:
            rn = float(np.linalg.norm(r))
            if _full_pays(rn, pmark_rn, its - pmark, tol, sampler.s, sampler.N):
                sampler.grow(full=True)
                r[:] = system.matvec(z) - b           # a fresh residual for the exact projection
                rn = float(np.linalg.norm(r))
                mark, mark_rn = its, rn
            pmark, pmark_rn = its, rn
        if its - mark >= window:
            rn = float(np.linalg.norm(r))
            if rn > 0.5 * mark_rn and sampler.grow():
                r[:] = system.matvec(z) - b           # a fresh residual for the new sketches
                rn = float(np.linalg.norm(r))
            mark, mark_rn = its, rn
        if its % check == 0 or its + 1 >= maxiter:
            rn = float(np.linalg.norm(r))
            if not math.isfinite(rn):
                return z, r, its, False
            if rn <= tol:
                r[:] = system.matvec(z) - b           # confirm on the true residual
                rn = float(np.linalg.norm(r))
                if rn <= tol:
                    return z, r, its, True
            check = min(8, check + 1)
        if full_done:
            # an exact projection (S = I, the whole system) was applied: repeat it only as iterative refinement on
            # the true residual while that halves; otherwise repeating it is idle work (the rest of maxiter)
            r[:] = system.matvec(z) - b
            rn = float(np.linalg.norm(r))
            if rn <= tol:
                return z, r, its, True
            if not rn < 0.5 * full_rn:
                break
        S, SK, SKK, P = sampler.next(system)
        full_done = sampler.s >= sampler.N
        if full_done:
            full_rn = float(np.linalg.norm(r))
        y = P @ (S @ r)
        z -= y @ SK
        r -= y @ SKK
        its += 1
    r[:] = system.matvec(z) - b
    rn = float(np.linalg.norm(r))
    return z, r, its, rn <= tol


def krylov_solve(system: NewtonSystem, b, z, tol: float, maxiter: int, M, backend):
    """Preconditioned MINRES on ``K z = b`` from ``z`` to ``||K z - b|| <= tol``.

    Returns ``(z, r, iterations, matvecs, ok)``.
    """
    from ..linear.minres import minres

    xp = backend.xp                      # z, b and r stay on the backend's device
    bn = norm2(xp, b, dot=backend.dot)   # the backend's dot, not BLAS's (see _nlp.vdot)
    A = system.K if system.K is not None else system.op
    res = minres(A, b, x0=z, rtol=min(0.5, tol / bn) if bn > 0 else 0.5, atol=tol, maxiter=maxiter, M=M,
                 backend=backend)
    z = xp.asarray(res.x, dtype=np.float64)
    r = system.matvec(z) - b
    ok = bool(xp.all(xp.isfinite(r))) and norm2(xp, r, dot=backend.dot) <= tol * (1 + 1e-8)
    if not ok and system.K is not None:
        # a dense K that MINRES could not solve to the accuracy: singular or inconsistent (a rank-deficient
        # Jacobian, e.g. HS61 at its standard start). Take the minimum-norm least-squares step instead, the
        # same step the sketches reach when their safeguard grows the sketch to the whole system.
        z = np.linalg.lstsq(system.K, b, rcond=None)[0]
        r = system.K @ z - b
        ok = bool(np.all(np.isfinite(r))) and float(np.linalg.norm(r)) <= tol * (1 + 1e-8)
    return z, r, res.nit, int(res.stats.get("matvecs", res.nit)), ok


__all__ = ["NewtonSystem", "SketchSampler", "sketch_and_project", "krylov_solve", "SKETCHES", "DENSE_LIMIT"]


#: automatic least-squares multipliers larger than this times ``max(1, max |grad f(x0)|)`` are not used (IPOPT's
#: ``constr_mult_init_max`` safeguard, here relative to the objective's scale)
LS_MULTIPLIER_MAX = 1e3


def safeguarded_multipliers(ev, p, n: int, m: int):
    """The automatic starting multipliers of :func:`~solvers.nonlinear.sketched_newton`: ``(lam0, source)``.

    The least-squares estimate ``argmin ||grad f(x0) + J^T lam||`` (the usual start, e.g. IPOPT's)
    is first-order information only: where it makes the reduced Hessian of the Lagrangian
    ``Z^T H(x0, lam) Z`` indefinite while ``lam = 0`` keeps it positive definite, the first
    Newton steps need a Hessian modification that the zero start does not, and the merit then
    accepts only short steps for a while (HS6 from its standard start: 27 iterations instead of 2).
    So the estimate is kept unless (a) it is huge (above ``LS_MULTIPLIER_MAX max(1, |grad f|)``),
    or (b) the problem is dense (``n + m <= DENSE_LIMIT``, exact reduced-Hessian test) and the
    reduced Hessian is positive definite at ``lam = 0`` but not at the estimate. Larger or operator
    problems start from zeros (the estimate would need a dense least-squares solve). Costs two
    Hessian evaluations at ``x0`` (counted in ``stats``)."""
    zeros = ev.xp.zeros(m)
    if n + m > DENSE_LIMIT or not _is_matrix(p.J) or ev.xp is not np:
        return zeros, "zeros"
    Jd = p.J.toarray() if sp.issparse(p.J) else np.asarray(p.J, dtype=np.float64)
    svd = jacobian_svd(Jd) if np.all(np.isfinite(Jd)) else None
    ls = least_squares_multipliers(p.g, p.J, svd=svd)
    if ls is None:
        return zeros, "zeros (the least-squares estimate is not finite or above 1e100)"
    gmax = float(np.max(np.abs(p.g))) if p.g.size else 0.0
    if float(np.max(np.abs(ls))) > LS_MULTIPLIER_MAX * max(1.0, gmax):
        return zeros, "zeros (least-squares estimate too large)"
    at_ls = NewtonSystem(ev.hess(p.x, ls), p.J, ev.be, for_sketch=None)     # (only the dense form is tested here)
    # an operator Hessian (no exact test) or a non-finite one (the iterations report it): the authors' zero start
    if not at_ls.is_dense or not np.all(np.isfinite(at_ls.H)):
        return zeros, "zeros"
    at_ls.svd = svd
    if at_ls.reduced_hessian_shift(0.1)[0] == 0.0:
        return ls, "least-squares"
    at_0 = NewtonSystem(ev.hess(p.x, zeros), p.J, ev.be, for_sketch=None)
    if not np.all(np.isfinite(at_0.H)):
        return zeros, "zeros"
    at_0.svd = at_ls.svd
    if at_0.reduced_hessian_shift(0.1)[0] == 0.0:
        return zeros, "zeros (reduced Hessian positive definite there, not at the least-squares estimate)"
    return ls, "least-squares"
