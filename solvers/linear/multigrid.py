"""Multigrid V-cycle for :class:`~solvers.operators.stencil.StencilOperator`, as an SPD preconditioner.

Design (PyAMG-style: the hierarchy is built once, the cycle is a linear operator). Two
hierarchies, chosen automatically (``coarsening="auto"``):

**Geometric** (constant ``k``, or ``k`` within a factor ``GALERKIN_CONTRAST`` = 10: the fast path):

* **Coarsening**, per axis, ``n -> nc = (n - 1) // 2`` for ``n >= 3``. The coarse grid is the
  uniform vertex grid with ``hc = L / (nc + 1)`` on the same box. For odd ``n`` it is nested
  (``hc = 2 h``); for even ``n`` (128, 1024, ...) it is not, and the transfer is linear
  interpolation between the two uniform grids (``2^k`` goes to ``2^(k-1) - 1``, nested from then on).
* **Transfers**: prolongation ``P`` = tensor product of 1-D linear interpolation (zero Dirichlet
  correction on the boundary); restriction ``R = c P^T`` with ``c = prod_a h_a / hc_a``.
* **Coarse operators** by rediscretisation: constant ``k`` stays constant; a variable shift is
  averaged. (With ``coarsening="geometric"`` variable face coefficients are averaged too:
  harmonically along the flux, arithmetically across it.)

**Galerkin / black box** (``k`` varying more: jumps, inclusions, layers; or a shift making a rediscretised level
of an SPD ``A`` indefinite), after Dendy's black-box multigrid (Alcouffe, Brandt, Dendy, Painter 1981; Dendy 1982):

* **Coarsening** by two on the coarsened axes: the coarse points are the fine points with odd
  indices (``n -> n // 2``, nested for every ``n``).
* **Operator-dependent prolongation** (:func:`~solvers.linear.multigrid_setup.dendy_prolongation`):
  a fine point between coarse points takes the value that satisfies its own equation with the
  stencil collapsed onto the interpolation direction(s), so across a coefficient jump the
  interpolant keeps the flux ``k du/dx`` continuous instead of ``du/dx``. This is what linear
  interpolation gets wrong when a jump does not lie on a node plane of every coarse grid (a jump
  at ``x = 1/3``, or any jump on even grids): MG-CG needed 20-300+ iterations there.
* **Coarse operators** ``A_c = P^T A P`` (9-/27-point stencils), assembled as CSR on the host
  (coarse levels are small) and held in the backend's ``multigrid`` kernel set; ``R = P^T``.
* **Smoother** on the CSR levels: multicolour Gauss-Seidel over the ``2^d`` parity colours (no two
  points of one colour are coupled by a 3^d-point stencil, so each colour is one exact parallel
  update), colours in order before the coarse correction and reversed after it. The finest level
  keeps the matrix-free red-black kernels.

* **W-cycle** (``cycle="auto"`` on this hierarchy): every coarse level is visited twice, the
  second time on the residual the first visit left. Checkerboards, where high-contrast cells
  touch only at corners (cross points), took 11-14 MG-CG iterations with a V-cycle and take 9-10
  with it. The smoothing is not the limit there (three or four sweeps per level change nothing);
  the error comes from compounding coarse Galerkin levels (two-grid on 31^2, contrast 1e4:
  smallest eigenvalue of ``M A`` 0.79; three levels on 63^2: 0.21), which the second visit
  corrects. The cost is small because the finest level, which dominates, is visited once
  (coarse work about 1.5x in 2-D, 1.17x in 3-D). Near cross points a fine point can also be tied
  weakly to both coarse ends but strongly to a *perpendicular* fine neighbour, which the plain
  collapse lumps onto the point; where the coefficient varies across the interpolation direction
  the collapsed weights are re-split by the conductance of the paths through the perpendicular
  neighbours (see :func:`~solvers.linear.multigrid_setup.dendy_prolongation`; two-grid 0.26 ->
  0.79). Plane jumps, inclusions and layers take 5-7.

**Semi-coarsening** (both hierarchies; Schaffer 1998): only the axes whose coupling is at least
a quarter of the strongest axis' (``k / h_a^2`` on geometric levels; the summed stencil entries
along the axis on Galerkin ones) are coarsened. Thin boxes and short axes beside long ones
(spacing ratios 10:1 ... 250:1, which took 35-550 iterations with full coarsening) then coarsen
only the strongly coupled directions, where point Gauss-Seidel smooths well, until the coupling
is balanced; isotropic grids coarsen every axis (the tuned fast path is unchanged).

Common to both:

* The cycle is symmetric: on a stencil level the pre-smoothing is ``2 nu_l + 1`` red-black half
  sweeps ``R (B R)^nu_l`` from ``u = 0``, the post-smoothing the same sequence after the coarse
  correction (a sequence that begins and ends with red is its own reverse, i.e. the adjoint of the
  pre-smoother); CSR levels do ``nu_l`` multicolour sweeps, colours reversed after the correction.
  Coarse corrections are ``P B_c R`` with ``R`` a positive multiple of ``P^T`` and an exact coarsest
  solve (a dense Cholesky inverse of at most ``max_coarse`` points). The cycle is positive definite
  because the symmetric Gauss-Seidel smoother is convergent in the energy norm, so CG may use it.
  Ending the pre-smoothing with a red half sweep (and starting the post-smoothing with one) is what
  brings the symmetric cycle close to the textbook non-symmetric one: with the pair order ``R B``
  before and its adjoint ``B R`` after, the stationary V(1,1) cycle contracts by 0.25-0.26 per cycle
  on 2-D Poisson (0.41-0.42 in 3-D); ``R B R`` on both sides gives 0.145 (0.22), the non-symmetric
  ``R B`` / ``R B`` cycle 0.09-0.10 (0.23); measured on 255^2, 1024^2, 63^3, 128^3. The default schedule
  ``nu = (1, 2)`` (three half sweeps each side on the finest level, five on the coarser ones) needs
  the fewest stencil evaluations to rtol 1e-8 among the schedules measured (MG-CG, Poisson, zero start,
  ``max_coarse=100``: 5-6 iterations from 256^2 to 2048^2, 7 from 64^3 to 256^3, 59-71 (2-D) and 67 (3-D)
  fine-grid stencil evaluations per solve; ``nu = (2, 3)`` took 6 and 99-100, 82). CG applies the cycle
  ``nit`` times and gets ``r . z`` from its last pass (:meth:`MultigridPreconditioner.matvec_dot`).

Cost-saving structure (numba backend; the module docs of :mod:`solvers._kernels.numba.rbwave`,
:mod:`solvers._kernels.numba.multigrid` and :mod:`solvers._kernels.numba.stencil` give details):

* each smoothing step (all ``2 nu + 1`` half sweeps) is ONE wavefront pass over the grid: half sweep
  ``t`` runs on plane ``i - t`` while plane ``i`` is read, so ``u`` and ``f`` are read and ``u`` written
  once per step; the first half sweep starts from ``u = 0`` (it is ``u = f / d``, nothing is read);
* the prolongation ``u += P e_c`` is the first stage of the post-smoothing pass;
* residual and restriction are one fused pass (constant coefficients), the last stage of the pre-smoothing
  wavefront (:mod:`solvers._kernels.numba.mgfused`): the fine residual is never stored; so a stencil level costs
  two passes per visit (``stats``: ``fine_passes_per_cycle``, ``fine_evals_per_cycle``, in fine-grid units);
* large levels smooth in a red/black split layout (``split_level``: contiguous rows; 3-D float32 both sides,
  ``mgsplit``; 2-D float32 before the coarse visit and float64 colour rows after it, ``mgsplit2``);
* coarse levels below the kernel set's ``SERIAL_BELOW`` points run single-threaded, inside a scoped
  :func:`solvers._config.limit` (thread-local, restored afterwards); the coarsest grid is a dense SPD
  inverse (Cholesky) applied as a matrix-vector product; where those small levels are all geometric
  stencil levels, the kernel set's ``compiled_tail`` runs their part of the cycle as one compiled call
  (:mod:`solvers._kernels.numba.mgtail`: the same serial kernels in the same order; 256^2: 0.50 -> 0.45 ms).

Every step comes from the backend's ``stencil`` and ``multigrid`` kernel sets; the NumPy reference
(:mod:`solvers._kernels.numpy.multigrid`) does the fused steps one after the other. No level array is allocated
per cycle: every level holds its buffers, and the finest level writes straight into the output.

References
----------
U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid*, Academic Press 2001 (chapters 2-5: red-black
smoothing, full weighting, anisotropy and semi-coarsening, V-cycles as preconditioners).
R. E. Alcouffe, A. Brandt, J. E. Dendy, J. W. Painter, "The multi-grid method for the diffusion
equation with strongly discontinuous coefficients", SIAM J. Sci. Stat. Comput. 2 (1981) 430-454.
J. E. Dendy, "Black box multigrid", J. Comput. Phys. 48 (1982) 366-386.
S. Schaffer, "A semicoarsening multigrid method for elliptic partial differential equations with
highly discontinuous and anisotropic coefficients", SIAM J. Sci. Comput. 20 (1998) 228-242.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _config
from .. import _workspace as _work
from .. import backends as _backends
from ..operators.base import LinearOperator, aslinearoperator as _aslinop
from ..operators.stencil import StencilOperator
from ..results import SolveResult
from . import multigrid_iterate as _iterate
from . import multigrid_memo as _memo
from .multigrid_setup import NU_MAX, check_args as _check_args  # noqa: F401  (NU_MAX: part of this module's API)
from . import multigrid_setup as _setup

_interp_1d = _setup.interp_1d      # the setup helpers live in multigrid_setup (old private name, still importable)


class _Level:
    __slots__ = ("A", "u", "f", "r", "P", "R", "shape", "pbuf", "csr", "rc", "ec", "split")


_DENSE_MAX = 8000          # points of the coarsest grid, solved with a dense inverse (8000^2 doubles = 0.5 GiB)


#: ``coarsening="auto"`` builds the Galerkin hierarchy when max k / min k exceeds this: below it the
#: geometric V-cycle with averaged coefficients keeps 6-8 iterations at a fraction of the set-up
#: cost (smooth k in [0.5, 1.5] on 64^3: 6 iterations, 0.08 s, against 8 and 0.5 s Galerkin)
GALERKIN_CONTRAST = 10.0
#: largest k contrast for an explicitly asked geometric W-cycle (SPD measured to 100x, indefinite from 300x)
GEOMETRIC_W_CONTRAST = 100.0

#: default ``nu`` schedules (finest level first, the last entry repeating). Geometric: the fewest stencil
#: evaluations to rtol 1e-8 on Poisson among (1, 1), (1, 2), (2, 1), (2, 2), (1, 2, 1), (1, 1, 2), 1
#: (66-82 fine-grid evaluations per solve, 6-7 MG-CG iterations, 64^3-128^3 and 256^2-2048^2).
#: Galerkin (jumps, checkerboards): more smoothing, whose cost is small beside the Galerkin set-up
#: (2-D checkerboards 1e4/1e6 on 255^2: 10/11 iterations with (1, 2), 9/10 with this)
NU_GEOMETRIC = (1, 2)
NU_GALERKIN = (2, 3)

#: ``fmg_start="auto"`` (the default) starts CG from the full-multigrid approximation on a geometric, SPD, 3-D
#: hierarchy of at least this many fine points (2-D: :data:`FMG_AUTO_POINTS_2D`), and from zero elsewhere. MG-CG to
#: rtol 1e-8 on Poisson (f = 1), FMG (6-point interpolation, :data:`.multigrid_iterate.FMG_ORDER`) / zero start,
#: median time, set-up included, interleaved in one process (9 solves each), 2 threads, Xeon, session 45
#: (``benchmarks/mg_fmg_ab.py``, ``results/mg_fmg_ab_s45_xeon.json``): 48^3 1.02, 64^3 0.96 (7 -> 6 iterations),
#: 96^3 0.85, 128^3 0.82, 160^3 0.79, 256^3 0.82 (7 -> 5). With linear interpolation (before) the start saved one
#: iteration only from 96^3, and cost more below 500 000 points
FMG_AUTO_POINTS = 200_000
#: the same for 2-D (session 46, ``results/mg_fmg_ab_2d_s46_xeon.json``): FMG takes 4 iterations from 256^2 to
#: 3000^2, the zero start 6 at most sizes (ratio 256^2 0.875, 600^2 0.92, 1000^2 0.90, 1448^2 0.83, 2048^2 0.93), 5
#: at some (512^2 1.06, 1024^2 1.02); below, the start's per-level overhead does not pay (128^2 1.07, 180^2 1.08)
FMG_AUTO_POINTS_2D = 60_000


def _varying(A: StencilOperator, contrast: float = GALERKIN_CONTRAST) -> bool:
    """Whether ``A``'s face coefficients vary by more than ``contrast`` (jumps, inclusions)."""
    if isinstance(A.k, float):
        return False
    xp = A.backend.xp
    lo = min(float(xp.min(ka)) for ka in A.k)
    hi = max(float(xp.max(ka)) for ka in A.k)
    return hi > contrast * lo


class MultigridPreconditioner(LinearOperator):
    """A symmetric V-cycle (``2 nu_l + 1`` red-black half sweeps each side on stencil level ``l``), SPD.

    Build it with :func:`multigrid`. ``matvec(r)`` returns one V-cycle applied to
    ``r`` from a zero initial guess, i.e. ``M r ~= A^{-1} r``. ``r`` must be real and ``out``
    float64 (a ``TypeError`` otherwise). The level buffers are shared, so cycles run one at a
    time (a lock): one preconditioner may serve several threads, which then take turns.

    Attributes
    ----------
    levels : list
        The hierarchy, finest first (``levels[l].A`` is the level operator: a
        :class:`~solvers.operators.stencil.StencilOperator` on geometric levels, a
        :class:`~solvers.linear.multigrid_setup.CSRLevel` on Galerkin ones).
    nu : int or tuple of int
        The smoothing parameter, as given (a tuple is per level, finest first, its last entry
        repeating): ``R (B R)^nu`` before and after the correction on stencil levels, ``nu``
        multicolour sweeps on CSR levels.
    nus : list of int
        The ``nu`` used on each level.
    stats : dict
        ``vcycles`` (cycles applied so far), ``fine_evals_per_cycle`` and ``fine_passes_per_cycle``
        (the work of one cycle in fine-grid stencil evaluations and grid passes, each level weighted by
        its points over the fine grid's).
    coarsening : str
        As asked (``"auto"``, ``"geometric"`` or ``"galerkin"``); ``kind`` is the one used.
    kind : str
        ``"geometric"`` or ``"galerkin"``.
    reads_input_only : bool
        True: a cycle never writes into the vector it is applied to (so :func:`solvers.cg` may apply it
        to the caller's ``b`` itself). ``start_writes_all``: :meth:`initial_guess` writes every entry of ``out``
        (so CG hands it unwritten memory).
    """

    reads_input_only = start_writes_all = True
    def __init__(self, A: StencilOperator, nu=None, max_coarse: int = 100, max_levels: int = 20,
                 coarsening: str = "auto", cycle: str = "auto", fmg_start="auto"):
        nu, max_coarse, max_levels, fmg_start = _check_args(A, nu, max_coarse, max_levels, coarsening, cycle,
                                                            fmg_start)
        galerkin = coarsening == "galerkin" or (coarsening == "auto" and _varying(A))
        super().__init__(A.shape, np.float64, A.backend, symmetric=True,
                         positive_definite=bool(getattr(A, "positive_definite", True)))
        be = A.backend
        xp = be.xp
        K = be.kernels("multigrid")
        self.nu = nu
        self.max_coarse, self.max_levels, self.coarsening = max_coarse, max_levels, coarsening
        self._fmg_asked, self._fmg = fmg_start, None
        self.kind = "galerkin" if galerkin else "geometric"
        self.cycle = cycle
        self.cycle_kind = ("W" if galerkin else "V") if cycle == "auto" else cycle
        if self.cycle_kind == "W" and not galerkin and _varying(A, GEOMETRIC_W_CONTRAST):
            # 2 B_c - B_c A_c B_c is SPD only while spec(B_c A_c) lies in (0, 2): averaged coarse k breaks that
            raise ValueError(f"cycle='W' with coarsening='geometric' needs k varying by <= {GEOMETRIC_W_CONTRAST:g}x: "
                             "on jumping k its averaged coarse operators make the W-cycle indefinite (CG breaks down); "
                             "use coarsening='galerkin' (or 'auto') for the W-cycle, or cycle='V'")
        self.levels = []
        op, host = A, None
        while True:
            lev = _Level()
            lev.A, lev.shape, lev.csr = op, op.grid_shape, isinstance(op, _setup.CSRLevel)
            self.levels.append(lev)
            n = op.grid_shape
            if int(np.prod(n)) <= max_coarse or len(self.levels) >= max_levels:
                break
            if galerkin:
                host = op.to_csr() if host is None else host
                st = _setup.stencil_array(host, n)
                axes = _setup.strong_axes(_setup.axis_strength(st, len(n)), n, 2)
                if not any(axes):
                    break
                Pm, cshape = _setup.dendy_prolongation(host, n, axes, st)
                del st
                host = _setup.galerkin(host, Pm)
                lev.P, lev.R = K.csr_transfer(Pm), K.csr_transfer(Pm.T.tocsr())
                op = _setup.CSRLevel(host, cshape, be)
            else:                                      # (memoised for a constant k: multigrid_memo)
                step = _memo.geometric_step(op, be, _setup)
                if step is None:
                    break
                lev.P, lev.R, op = step
        if not galerkin and self.positive_definite and not all(lv.A.positive_definite for lv in self.levels[1:]):
            if coarsening == "auto":   # an indefinite rediscretised level (module notes): Galerkin instead
                self.__init__(A, nu, max_coarse, max_levels, "galerkin", cycle, fmg_start)
                self.coarsening = "auto"
                return
            self.positive_definite = False     # explicit "geometric": kept as asked, SPD not claimed
        self.fmg_start = (bool(fmg_start) if fmg_start != "auto" else
                          (not galerkin and self.positive_definite and len(self.levels) > 1
                           and A.shape[0] >= (FMG_AUTO_POINTS if len(A.grid_shape) == 3 else
                                              FMG_AUTO_POINTS_2D if len(A.grid_shape) == 2 else math.inf)))
        for l, lev in enumerate(self.levels):
            inner = l < len(self.levels) - 1
            lev.r = (_work.empty(xp, lev.shape) if inner and (K.needs_residual_buffer(lev.A) or not isinstance(lev.R, tuple))
                     else None)
            lev.u = None if l == 0 else _work.empty(xp, lev.shape)     # pooled (solvers._workspace)
            lev.f = None if l == 0 else _work.empty(xp, lev.shape)
            lev.pbuf = (K.prolong_work(lev.shape, self.levels[l + 1].shape)
                        if inner and isinstance(lev.P, tuple) else None)
            # the kernel set's split-layout smoothing of this level (None: the natural layout); finest grid's size last
            lev.split = (None if not inner or lev.csr else
                         K.split_level(lev.A, lev.P, lev.R, self.levels[l + 1].shape, self.levels[0].A.shape[0]))
            # W-cycle: a second coarse visit from this level's residual needs its own buffers
            second = self.cycle_kind == "W" and 0 < l < len(self.levels) - 1
            lev.rc = _work.empty(xp, lev.shape) if second else None
            lev.ec = _work.empty(xp, lev.shape) if second else None
        if nu is None:                             # the default schedule of the hierarchy built
            nu = NU_GALERKIN if galerkin else NU_GEOMETRIC
        sched = (nu,) if isinstance(nu, numbers.Integral) else tuple(nu)
        self.nus = [int(sched[min(l, len(sched) - 1)]) for l in range(len(self.levels))]
        nlast = int(np.prod(self.levels[-1].shape))
        if nlast > _DENSE_MAX:
            who = (f"max_levels={max_levels}", "raise max_levels") if len(self.levels) >= max_levels else (
                f"max_coarse={max_coarse}", f"keep max_coarse <= {_DENSE_MAX}")     # (named max_levels: helper-150)
            raise ValueError(f"{who[0]} stops the coarsening at {self.levels[-1].shape} = {nlast} points, too many "
                             f"for the exact coarsest solve (a dense {nlast}^2 inverse, {8 * nlast ** 2 / 2 ** 30:.1f} "
                             f"GiB; the limit is {_DENSE_MAX} points): {who[1]}")
        self._cinv = be.asarray(_memo.coarsest_inverse(self.levels[-1].A, _setup.spd_inverse))   # (memoised)
        self._tail = False                         # the kernel set's compiled tail of the cycle, planned on first use
        # the level buffers are shared state: one cycle at a time (two threads applying the same preconditioner
        # interleaved their cycles and both got wrong vectors)
        _config.fork_safe(self, "_lock")
        self.stats = {"vcycles": 0, **_setup.work_per_cycle(self.levels, self.nus, getattr(K, "WHOLE_GRID_2D_BELOW",
                                                                                             0))}

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_tail"] = False                     # compiled plans do not pickle: planned again on first use
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        _config.fork_safe(self, "_lock")

    # ------------------------------------------------------------------ cycle
    def _cycle(self, l, f, u, K, dot=False):
        """One cycle from level ``l`` down; returns ``f . u`` when ``dot`` (from the last pass), else None."""
        lev = self.levels[l]
        if self._tail and l == self._tail[0]:     # the small levels in one compiled call (same kernels, same order)
            return self._tail[1](f, u, dot)
        if l == len(self.levels) - 1:
            self._coarsest(f, u)
            return self.backend.dot(f, u) if dot else None
        A = lev.A
        nu = self.nus[l]
        nxt = self.levels[l + 1]
        if lev.csr:                                # multicolour Gauss-Seidel, colours in order
            u[...] = 0.0
            for _ in range(nu):
                K.csr_smooth(A.mg_csr, u, f, False)
            K.residual_restrict(A, u, f, nxt.f, lev.R, lev.r)
        elif lev.split is not None:                # the same, in the kernel set's split layout
            lev.split.pre(f, u, nxt.f, 0, 2 * nu + 1)
        else:                                      # red (black red)^nu from u = 0, then R (f - A u)
            K.smooth_residual_restrict(A, u, f, 0, 2 * nu + 1, nxt.f, lev.R, lev.r)
        if nxt.A.shape[0] < K.SERIAL_BELOW <= A.shape[0]:
            # the coarser levels are small: a parallel region costs more than the work there
            with _config.limit(1):
                self._cycle(l + 1, nxt.f, nxt.u, K)
        else:
            self._cycle(l + 1, nxt.f, nxt.u, K)
        if nxt.rc is not None:
            # W-cycle: visit the coarse level again on its own residual, u_c += B_c (f_c - A_c u_c);
            # two symmetric iterations give the symmetric operator 2 B_c - B_c A_c B_c
            nxt.rc[...] = nxt.f - nxt.A.matvec(nxt.u.reshape(-1)).reshape(nxt.shape)
            self._cycle(l + 1, nxt.rc, nxt.ec, K)
            nxt.u += nxt.ec
        if lev.csr:
            K.prolong_add(nxt.u, u, lev.P, lev.pbuf)
            for _ in range(nu):
                K.csr_smooth(A.mg_csr, u, f, True)     # colours reversed: the adjoint of the pre-smoother
            return self.backend.dot(f, u) if dot else None
        if lev.split is not None:                  # on the iterate its pre left; writes u
            return lev.split.post(nxt.u, u, f, 0, 2 * nu + 1, dot)
        # u += P e_c, then red (black red)^nu: one pass
        return K.prolong_sweeps(nxt.u, u, lev.P, lev.pbuf, A, f, 0, 2 * nu + 1, dot)

    def _coarsest(self, f, u):   # u = C^-1 f by the backend's kernel (C^-1 is symmetric), not a threaded BLAS call
        u.reshape(-1)[...] = 0.0
        self.backend.kernels("krylov").select(f.size).rows_sub(self._cinv, f.size, -f.reshape(-1), u.reshape(-1))

    def _apply(self, r, out, dot):
        shp = self.levels[0].shape
        _iterate.check_vectors(self, r, out, "r")
        K = self.backend.kernels("multigrid")
        with self._lock:
            self._plan_tail(K)
            if self.levels[0].A.shape[0] < K.SERIAL_BELOW:
                with _config.limit(1):
                    v = self._cycle(0, r.reshape(shp), out.reshape(shp), K, dot)
            else:
                v = self._cycle(0, r.reshape(shp), out.reshape(shp), K, dot)
            self.stats["vcycles"] += 1
        return v

    def _plan_tail(self, K):
        """The compiled tail of the small levels (``self._tail``), planned on the first cycle or FMG start (the
        FMG start ran its coarse cycles through the Python recursion before: the start precedes every cycle)."""
        if self._tail is False:
            self._tail = K.compiled_tail(self.levels, self.nus, self._cinv)
            _iterate.load_tail_kernels(self, K)

    def start_for(self, A) -> bool:
        """Whether :func:`solvers.cg` solving with the operator ``A`` starts from :meth:`initial_guess`
        (:func:`solvers.linear.multigrid_iterate.starts_for`)."""
        return _iterate.starts_for(self, A)

    def initial_guess(self, b, out):
        """A full-multigrid start for ``A x = b`` (flat arrays): ``out`` = the prolongation to the fine grid of
        the FMG approximation on the second level (coarsest grid solved exactly; on each finer level up to
        the second, the coarser approximation interpolated -- 6-point Lagrange on constant-coefficient levels,
        :func:`.multigrid_iterate.fmg_tables` -- and improved by one cycle). The fine-level cycle of
        the FMG scheme is left out: CG's first preconditioner application is that cycle. Used by CG when
        ``fmg_start`` is True (:data:`FMG_AUTO_POINTS`). Writes every entry of ``out`` (CG passes it unwritten).

        References: A. Brandt, "Multi-level adaptive solutions to boundary-value problems", Math. Comp. 31
        (1977) 333-390; U. Trottenberg, C. W. Oosterlee, A. Schueller, *Multigrid* (2001), sec. 2.6.
        """
        _iterate.check_vectors(self, b, out, "b")
        with self._lock:
            self._plan_tail(self.backend.kernels("multigrid"))
            return _iterate.fmg_guess(self, b, out)

    def matvec_into(self, r, out):
        """``out[:] = M r`` (one V-cycle from zero); returns ``out``."""
        self._apply(r, out, False)
        return out

    def matvec_dot(self, r, out) -> float:
        """``out[:] = M r`` (one cycle) and return ``r . M r``, accumulated in the cycle's last pass over the
        fine grid (CG's ``r.z`` without another pass)."""
        return self._apply(r, out, True)

    def with_backend(self, backend) -> "MultigridPreconditioner":
        """The same V-cycle built on ``backend`` (from the fine operator converted there)."""
        be = _backends.get_backend(backend)
        if be == self.backend:
            return self
        return MultigridPreconditioner(_aslinop(self.levels[0].A, backend=be), nu=self.nu, max_coarse=self.max_coarse,
                                       max_levels=self.max_levels, coarsening=self.coarsening, cycle=self.cycle,
                                       fmg_start=self._fmg_asked)

    def _matvec(self, r):
        out = self.backend.xp.empty(self.shape[0])
        return self.matvec_into(r, out)

    # ------------------------------------------------------------------ stationary iteration
    def solve(self, b, *, x0=None, rtol: float = 1e-8, atol: float = 0.0, maxiter: int = 100) -> SolveResult:
        """Multigrid as a stationary iteration ``x += M (b - A x)`` (for checking the cycle).

        ``history["residual"]`` has ``nit + 1`` entries (the initial residual first);
        ``maxiter`` counts V-cycles.
        """
        return _iterate.stationary_solve(self, b, x0=x0, rtol=rtol, atol=atol, maxiter=maxiter)

    def __repr__(self) -> str:
        grids = " -> ".join("x".join(map(str, lev.shape)) for lev in self.levels)
        return f"<MultigridPreconditioner {self.cycle_kind}-cycle nu={self.nus} {grids} backend={self.backend.name}>"


def multigrid(A, *, nu=None, max_coarse: int = 100, max_levels: int = 20,
              coarsening: str = "auto", cycle: str = "auto", fmg_start="auto") -> MultigridPreconditioner:
    """Multigrid preconditioner for a structured-grid stencil operator: a geometric V-cycle, or a Galerkin W-cycle
    for jumping coefficients and indefinite shifts (``coarsening`` / ``cycle``, "auto" by default).

    Parameters
    ----------
    A : StencilOperator
        The fine-grid operator (from :class:`problems.pde.Poisson` or built directly).
    nu : int or sequence of int, optional
        Smoothing on each stencil level: ``2 nu + 1`` red-black Gauss-Seidel half
        sweeps ``R (B R)^nu`` before the coarse correction (from zero) and the
        same after it (a symmetric cycle); on Galerkin CSR levels ``nu``
        multicolour sweeps each side. One count for every level, or one per
        level, finest first, the last entry repeating on coarser levels.
        Default: :data:`NU_GEOMETRIC` ``(1, 2)`` on the geometric hierarchy
        (three half sweeps each side on the finest level, five on the others),
        :data:`NU_GALERKIN` ``(2, 3)`` on the Galerkin one. At most :data:`NU_MAX` (100).
    max_coarse : int, default 100
        Coarsening stops once a grid has at most this many points; that grid is
        solved exactly (a dense Cholesky inverse, built with the hierarchy). The
        default keeps that inverse cheap to build: 500 (the earlier default) left
        7^3 / 15^2 coarsest grids whose inverse took 1-4 ms of the set-up (a 2-D
        1024^2 MG-CG solve 110 -> 87 ms at 1 thread with 100; iterations unchanged
        or one fewer). At most 8000 points are solved so (a larger coarsest grid is refused).
    max_levels : int, default 20
    coarsening : {"auto", "geometric", "galerkin"}, default "auto"
        ``"geometric"``: rediscretised coarse operators and linear interpolation
        (the fast path); ``"galerkin"``: operator-dependent interpolation and
        Galerkin coarse operators ``P^T A P`` (robust for jumping coefficients);
        ``"auto"``: Galerkin when the coefficient ``k`` varies by more than a factor
        ``GALERKIN_CONTRAST`` (10), else geometric.
        Both coarsen only strongly coupled axes (semi-coarsening).
    cycle : {"auto", "V", "W"}, default "auto"
        ``"W"`` visits every coarse level twice per visit of the level above (the second time on the
        residual left by the first); ``"auto"``: W on the Galerkin hierarchy, V on the geometric one.
        The W-cycle costs about 1.5x a V-cycle's coarse-level work in 2-D (1.17x in 3-D; the fine level,
        which dominates, is visited once) and took checkerboard coefficients from 13-14 MG-CG iterations
        to 9-10. A geometric W-cycle on k varying by more than ``GEOMETRIC_W_CONTRAST`` (100) is refused.

    fmg_start : {"auto", True, False}, default "auto"
        CG started without ``x0`` starts from a full-multigrid approximation
        (:meth:`MultigridPreconditioner.initial_guess`) instead of zero. ``"auto"``: on geometric SPD
        3-D hierarchies of at least :data:`FMG_AUTO_POINTS` (200 000) fine points and 2-D ones of at least
        :data:`FMG_AUTO_POINTS_2D` (60 000), where it was measured to pay (Poisson, 2 threads: 64^3 4 % less
        time, 7 -> 6 iterations; 96^3 to 256^3 15-21 % less, 7 -> 5; 2-D 4 iterations from 256^2 up, 6-17 %
        less time where the zero start takes 6, 2-6 % more where it takes 5: 512^2, 1024^2), not on smaller
        grids, and only
        when CG solves with the operator the hierarchy was built for (:meth:`MultigridPreconditioner.start_for`).
        The resolved choice is the attribute ``fmg_start``.

    Returns
    -------
    MultigridPreconditioner
        A symmetric :class:`~solvers.operators.LinearOperator` (``matvec``, ``matvec_into``), positive
        definite for an SPD ``A`` and usable as ``M=`` in CG; for an indefinite shifted ``A`` its
        ``positive_definite`` is False and the cycle may be indefinite: use it with gmres (MINRES needs an SPD M).
    """
    return MultigridPreconditioner(A, nu=nu, max_coarse=max_coarse, max_levels=max_levels,
                                   coarsening=coarsening, cycle=cycle, fmg_start=fmg_start)


__all__ = ["multigrid", "MultigridPreconditioner"]
