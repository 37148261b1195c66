"""Radial kernels as sums of Gaussians (canonical tensors): Newton 1/|x|, Slater exp(-a|x|), Yukawa exp(-k|x|)/|x|.

Every kernel ``p(|x|)`` here has an integral representation over Gaussians,
``p(r) = int_R w(s) exp(-tau(s) r^2) ds``, and is approximated by a sinc
(trapezoidal) quadrature of that integral,

    p(r) ~ sum_k c_k exp(-t_k^2 r^2),

whose step ``h`` and node range are chosen so that the relative error
``max |P(r) / p(r) - 1|`` on ``[r_min, r_max]`` is below ``tol`` (measured on a
dense logarithmic grid of ``r``; the achieved value is kept as ``error``).
Because ``exp(-t^2 |x|^2) = prod_i exp(-t^2 x_i^2)``, each term is a rank-one
tensor in ``R^3`` and the kernel is a canonical (CP) tensor of rank ``R``.

The Newton kernel also has optimised sums with fewer terms (``newton_kernel(method=...)``,
:mod:`problems.potentials._expsum`, after Braess and Hackbusch 2005): refined exponential sums
shipped as a table for the ranges of ``n^3`` grids, chosen whenever they need fewer terms.

The Slater and Yukawa kernels and their quadrature (``_exp_rule``) live in
:mod:`problems.potentials._screened` and are re-exported here; this module keeps
:class:`GaussianSum`, the range checks and the Newton kernel.

References
----------
.. [HK06] W. Hackbusch, B. N. Khoromskij, "Low-rank Kronecker-product approximation to
   multi-dimensional nonlocal operators. Part I", Computing 76 (2006) 177-202 (sinc quadrature
   of 1/r with the substitution t = sinh(u)).
.. [BH05] D. Braess, W. Hackbusch, "Approximation of 1/x by exponential sums in [1, inf)",
   IMA J. Numer. Anal. 25 (2005) 685-697.
.. [BKK18] P. Benner, V. Khoromskaia, B. N. Khoromskij, "Range-separated tensor format for
   many-particle modeling", SIAM J. Sci. Comput. 40 (2018) A1034-A1062 (arXiv:1606.09218).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from .. import _checks
from . import _expsum

#: points of the logarithmic r-grid on which a quadrature is verified
_NCHECK = 4000
#: the step search gives up (RuntimeError) rather than build more terms than this
_MAX_TERMS = 3000


class GaussianSum:
    """A radial kernel ``P(r) = sum_k c_k exp(-t_k^2 r^2)`` centred at the origin of R^3: a CP tensor.

    Built by :func:`newton_kernel`, :func:`slater_kernel`, :func:`yukawa_kernel`,
    or from explicit coefficients. Terms are stored widest first (``t`` ascending),
    so :meth:`long_range` keeps a leading block of terms (Benner, Khoromskaia and Khoromskij,
    SIAM J. Sci. Comput. 2018).

    Parameters
    ----------
    c, t : array_like, shape (R,)
        Coefficients and Gaussian parameters (``exp(-t_k^2 r^2)``); finite, ``t >= 0``.
    kind : str
        What the sum approximates (``"newton"``, ``"slater"``, ``"yukawa"``, ``"newton-long"``, ...).
    tol, r_min, r_max, error : float, optional
        The requested relative accuracy, the range of ``r`` it holds on and the achieved
        relative error there (NaN when unknown).
    params : dict, optional
        Kernel parameters (``alpha`` for Slater, ``kappa`` for Yukawa).

    Attributes
    ----------
    rank : int
        Number of terms ``R`` (the canonical rank).
    """

    def __init__(self, c, t, *, kind: str = "custom", tol: float = math.nan, r_min: float = math.nan,
                 r_max: float = math.nan, error: float = math.nan, params: dict | None = None):
        c = _checks.real_array("c", c, ndims=(1,))
        t = _checks.real_array("t", t, ndims=(1,), nonneg=True)
        if c.shape != t.shape:
            raise ValueError(f"c and t must have the same length, got {c.size} and {t.size}")
        if c.size == 0:
            raise ValueError("a GaussianSum needs at least one term; got empty c and t")
        order = np.argsort(t, kind="stable")
        self.c, self.t = c[order].copy(), t[order].copy()
        self.kind, self.tol, self.r_min, self.r_max, self.error = str(kind), float(tol), float(r_min), \
            float(r_max), float(error)
        self.params = dict(params or {})

    # ---------------------------------------------------------------- basics
    @property
    def rank(self) -> int:
        """The number of Gaussians (canonical rank)."""
        return int(self.c.size)

    def __repr__(self) -> str:
        return (f"GaussianSum(kind={self.kind!r}, rank={self.rank}, tol={self.tol:g}, "
                f"r_min={self.r_min:g}, r_max={self.r_max:g}, error={self.error:.2e})")

    def radial(self, r) -> np.ndarray:
        """``P(r)`` at distances ``r`` (any shape, finite, >= 0)."""
        r = _checks.real_array("r", r, nonneg=True)
        out = np.zeros(r.shape)
        r2 = r * r
        for ck, tk in zip(self.c, self.t):
            out += ck * np.exp(-(tk * tk) * r2)
        return out

    def __call__(self, points) -> np.ndarray:
        """``P(|x|)`` at an ``(N, 3)`` array of points (or ``(N, d)``; the kernel is radial)."""
        x = _checks.real_array("points", points, ndims=(2,), what="(N, d) array of points")
        return self.radial(np.sqrt(np.einsum("ij,ij->i", x, x)))

    def cp_factors(self, nodes):
        """Canonical factors of the kernel on a tensor grid: ``(weights, [U_1, ..., U_d])``.

        ``P(x) = sum_r w_r prod_i U_i[x_i, r]`` with ``w = c`` and
        ``U_i[j, r] = exp(-t_r^2 nodes_i[j]^2)``.
        """
        nodes = _check_nodes(nodes)
        a = self.t * self.t
        return self.c.copy(), [np.exp(-np.outer(z * z, a)) for z in nodes]

    # ---------------------------------------------------------------- range separation
    def split_index(self, cutoff: float) -> int:
        """Smallest ``K`` such that the terms ``K, K+1, ...`` stay below ``tol * P(r)`` for ``r >= cutoff``.

        Measured on a logarithmic grid of ``[cutoff, max(r_max, 2 cutoff)]``, where the
        short-range remainder is largest near ``cutoff`` and decays beyond it.
        """
        cutoff = _checks.real_scalar("cutoff", cutoff, positive=True)
        if np.isfinite(self.r_min) and cutoff < self.r_min:
            raise ValueError(f"cutoff={cutoff:g} lies below the kernel's r_min={self.r_min:g}: the long-range part "
                             "would be the whole (singular) kernel; give a cutoff inside [r_min, r_max]")
        if cutoff > 1e150:
            raise ValueError(f"cutoff={cutoff:g} is beyond 1e150 (the Gaussians' t^2 r^2 overflow); give a cutoff "
                             "inside [r_min, r_max]")
        if np.isfinite(self.r_max) and cutoff > self.r_max:
            raise ValueError(f"cutoff={cutoff:g} lies beyond the kernel's r_max={self.r_max:g}: the sum is accurate "
                             "only on [r_min, r_max]; give a cutoff inside it (for a particle potential r_max is the "
                             "box's diameter)")
        tol = self.tol if np.isfinite(self.tol) else 1e-7
        hi = max(self.r_max if np.isfinite(self.r_max) else cutoff, 2.0 * cutoff)
        r = np.geomspace(cutoff, hi, 400)
        terms = self.c[None, :] * np.exp(-np.outer(r * r, self.t * self.t))     # (n_r, R)
        total = np.abs(terms.sum(axis=1))
        tail = np.abs(np.cumsum(terms[:, ::-1], axis=1)[:, ::-1])                  # tail[:, K] = sum_{k>=K}
        ok = np.all(tail <= tol * total[:, None], axis=0)
        for k in range(self.rank + 1):
            if k == self.rank or ok[k:].all():
                return k
        return self.rank  # pragma: no cover

    def _part(self, sl, suffix, cutoff, k):
        return GaussianSum(self.c[sl], self.t[sl], kind=f"{self.kind}-{suffix}", tol=self.tol, r_min=self.r_min,
                           r_max=self.r_max, error=math.nan,
                           params={**self.params, "cutoff": cutoff, "split_index": k, "full_rank": self.rank})

    def _resolve_split(self, cutoff, rank) -> tuple[int, float]:
        if (cutoff is None) == (rank is None):
            raise ValueError("give exactly one of cutoff= (a radius) or rank= (the number of long-range terms)")
        if rank is not None:
            k = _checks.count("rank", rank, minimum=1)
            if k > self.rank:
                raise ValueError(f"rank={k} exceeds the kernel's {self.rank} terms")
            return k, math.nan
        k = self.split_index(cutoff)
        if k == 0:
            raise ValueError(f"cutoff={cutoff:g} leaves no long-range term (beyond it every term of the kernel is "
                             "below tol of its value); use a smaller cutoff")
        return k, float(cutoff)

    def long_range(self, cutoff: float | None = None, rank: int | None = None) -> "GaussianSum":
        """The long-range part: the widest Gaussians (small ``t_k``), a smooth function.

        Parameters
        ----------
        cutoff : float, optional
            Radius beyond which the long-range part alone matches the kernel to ``tol``
            (relative); the split index is :meth:`split_index` of it.
        rank : int, optional
            Keep this many widest terms instead. Give exactly one of ``cutoff``, ``rank``.

        Returns
        -------
        GaussianSum
            ``kind`` gets the suffix ``-long``; ``params["split_index"]`` and
            ``params["cutoff"]`` record the split, ``params["full_rank"]`` the whole kernel's
            rank. ``long + short`` is the whole kernel.

        References
        ----------
        P. Benner, V. Khoromskaia, B. N. Khoromskij, SIAM J. Sci. Comput. 40 (2018) A1034,
        Section 2: the long-range part collects the terms with small ``t_k``.
        """
        k, cut = self._resolve_split(cutoff, rank)
        return self._part(slice(0, k), "long", cut, k)

    def short_range(self, cutoff: float | None = None, rank: int | None = None) -> "GaussianSum":
        """The short-range part: the narrow Gaussians left by :meth:`long_range` with the same arguments.

        ``rank`` is the number of LONG-range terms (the split is the same); raises when
        nothing is left.
        """
        k, cut = self._resolve_split(cutoff, rank)
        if k >= self.rank:
            raise ValueError("the split leaves no short-range term (every term is long-range)")
        return self._part(slice(k, None), "short", cut, k)


# ------------------------------------------------------------------------------ checks
def _check_nodes(nodes) -> list[np.ndarray]:
    if isinstance(nodes, np.ndarray) and nodes.ndim == 1:
        raise TypeError("nodes must be a list of 1-D arrays, one per mode (got one 1-D array)")
    try:
        nodes = list(nodes)
    except TypeError:
        raise TypeError(f"nodes must be a list of 1-D arrays, one per mode, got {type(nodes).__name__}") from None
    if not nodes:
        raise ValueError("nodes must hold at least one 1-D array")
    return [_checks.real_array(f"nodes[{i}]", z, ndims=(1,)) for i, z in enumerate(nodes)]


def _check_range(tol, r_min, r_max) -> tuple[float, float, float]:
    tol = _checks.real_scalar("tol", tol, positive=True)
    if not 1e-14 <= tol <= 0.1:
        raise ValueError(f"tol must lie in [1e-14, 0.1] (double precision bounds what a quadrature can "
                         f"reach), got {tol!r}")
    r_min = _checks.real_scalar("r_min", r_min, positive=True)
    r_max = _checks.real_scalar("r_max", r_max, positive=True)
    if not r_max > r_min:
        raise ValueError(f"r_max must be > r_min, got r_min={r_min!r}, r_max={r_max!r}")
    if r_max / r_min > 1e12:
        raise ValueError(f"r_max / r_min = {r_max / r_min:.3g} exceeds 1e12; narrow the range")
    if r_min < 1e-150 or r_max > 1e150:
        # the exponents t_k^2 ~ 1 / r_min^2 overflow, the products t_k^2 r^2 over/underflow: rescale
        raise ValueError(f"r_min = {r_min:.3g}, r_max = {r_max:.3g}: distances must lie within [1e-150, 1e150] "
                         "(the Gaussian exponents over/underflow); rescale the positions (e.g. to units of the "
                         "lattice spacing)")
    return tol, r_min, r_max


def _rel_error(c, t, r, exact) -> float:
    approx = np.exp(-np.outer(r * r, t * t)) @ c
    return float(np.max(np.abs(approx / exact - 1.0)))


# ------------------------------------------------------------------------------ Newton kernel
_METHODS = ("auto", "optimised", "sinc")


def _check_method(method) -> str:
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    return method


def newton_kernel(tol: float = 1e-7, r_min: float = 1e-3, r_max: float = 1.0, method: str = "auto") -> GaussianSum:
    """The Newton kernel ``1/|x|`` in R^3 as a sum of Gaussians, relative accuracy ``tol`` on ``[r_min, r_max]``.

    Two constructions, both with ``max |r P(r) - 1| <= tol`` on ``[r_min, r_max]``:

    * ``method="sinc"``: sinc quadrature (Hackbusch and Khoromskij, Computing 2006) of
      ``1/r = (2/sqrt(pi)) int_0^inf exp(-r^2 t^2) dt`` after ``t = sinh(u)``: the
      trapezoidal rule on ``u_k = k h``, ``k = -M..M``, folds into ``M + 1`` Gaussians
      ``t_k = sinh(k h)`` with ``c_0 = h/sqrt(pi)``, ``c_k = 2 h cosh(k h)/sqrt(pi)``; ``M h``
      makes ``exp(-r_min^2 t_M^2)`` negligible, ``h`` is the largest (on a 3 % ladder) whose
      rule meets ``tol`` on 4000 log-spaced distances, and trailing terms the tolerance does not
      need are dropped. Any ``tol`` and range.
    * ``method="optimised"``: a refined exponential sum (Braess and Hackbusch, IMA J. Numer. Anal.
      2005; :mod:`problems.potentials._expsum`) from the shipped table, computed for the
      ranges ``r_max / r_min = sqrt(3) n`` of ``n^3`` grids (``n = 256 ... 8192`` at ``tol`` 1e-6,
      1e-7, 1e-8; also ``n = 64, 128, 16384, 32768`` at 1e-7); the
      entry with the fewest terms whose range covers ``r_max / r_min`` at a tolerance
      ``<= tol`` is rescaled to ``r_min``. Raises ``ValueError`` when no entry covers the request.
    * ``method="auto"`` (default): the optimised sum when one covers the request with no more
      terms than the sinc rule, else the sinc rule.

    Both are built on ``[1, r_max / r_min]`` and rescaled (``1/r`` is homogeneous), so the
    rank depends only on ``tol`` and ``r_max / r_min``.

    Parameters
    ----------
    tol : float, default 1e-7
        Relative accuracy ``max |r P(r) - 1|`` on ``[r_min, r_max]``, in ``[1e-14, 0.1]``.
    r_min, r_max : float
        The range of distances (``0 < r_min < r_max``, ratio at most 1e12); for a grid of
        step ``h_grid`` in a box of diameter ``D``, ``r_min = h_grid`` and ``r_max = D``.
    method : {"auto", "optimised", "sinc"}
        The construction (see above); ``params["method"]`` records the one used.

    Returns
    -------
    GaussianSum
        ``kind="newton"``, ``rank`` = number of Gaussians, ``error`` = the relative error
        measured on 4000 logarithmically spaced distances of ``[r_min, r_max]`` (the same check
        for both methods; the shipped sums were also checked on 2e5 points of their range).

    Examples
    --------
    >>> k = newton_kernel(1e-7, r_min=1 / 256, r_max=3 ** 0.5)
    >>> k.rank <= 27 and k.error <= 1e-7
    True
    """
    method = _check_method(method)
    tol, r_min, r_max = _check_range(tol, r_min, r_max)
    rho = r_max / r_min
    if method == "sinc":
        c, t, err = _sinc_rule(tol, rho)
        info = {"method": "sinc"}
    else:
        c, t, err, info = _optimised_rule(tol, rho)
        if method == "optimised" and c is None:
            tols, widest = _expsum.coverage()
            raise ValueError(f"method='optimised': no shipped sum covers r_max / r_min = {rho:.4g} at tol={tol:g} "
                             f"(the table holds tol {', '.join(f'{q:g}' for q in tols)}, ratios up to {widest:.4g}); "
                             "use method='auto' or 'sinc'")
        if method == "auto":
            cs, ts, es = _sinc_rule(tol, rho)
            if c is None or cs.size < c.size:
                c, t, err, info = cs, ts, es, {"method": "sinc"}
    return GaussianSum(c / r_min, t / r_min, kind="newton", tol=tol, r_min=r_min, r_max=r_max, error=err,
                       params=info)


def newton_kernel_on_grid(n: int, tol: float = 1e-7, step: float = 1.0, method: str = "auto") -> GaussianSum:
    """The Newton kernel for an ``n x n x n`` grid of step ``step``: :func:`newton_kernel` on ``[step, sqrt(3) n step]``.

    The setting of Benner, Khoromskaia and Khoromskij (SIAM J. Sci. Comput. 2018): a cube
    ``[-b, b]^3`` with ``n`` cells a side, ``h = 2 b / n``, distances from ``h`` to the
    diagonal ``2 sqrt(3) b = sqrt(3) n h``.

    Parameters
    ----------
    n : int
        Grid points a side, ``>= 2``.
    tol, method
        As in :func:`newton_kernel`.
    step : float, default 1.0
        The grid step ``h`` (> 0).
    """
    n = _checks.count("n", n, minimum=2)
    if n > 5e11:
        raise ValueError(f"n={str(n)[:15]}{'...' if len(str(n)) > 15 else ''}: the range ratio sqrt(3) n exceeds 1e12 (double precision bounds the kernel); "
                         "give n <= 5e11")
    step = _checks.real_scalar("step", step, positive=True)
    return newton_kernel(tol, r_min=step, r_max=math.sqrt(3.0) * n * step, method=method)


@functools.lru_cache(maxsize=256)
def _sinc_rule(tol: float, rho: float):
    """The sinc rule on ``[1 / rho, 1]``, returned for ``[1, rho]``: ``(c, t, error)``."""
    r = np.geomspace(1.0 / rho, 1.0, _NCHECK)
    exact = 1.0 / r
    t_far = special.erfcinv(tol / 8.0) * rho        # exp(-t^2 / rho^2) ~ tol beyond this t
    h = 1.2
    while h > 1e-3:
        m = int(math.ceil(math.asinh(t_far) / h)) + 1
        if m > _MAX_TERMS:
            break
        k = np.arange(m + 1)
        t = np.sinh(k * h)
        c = (h / math.sqrt(math.pi)) * np.cosh(k * h)
        c[1:] *= 2.0
        err = _rel_error(c, t, r, exact)
        if err <= tol:
            while c.size > 1:   # drop the narrowest terms while the tolerance holds
                e2 = _rel_error(c[:-1], t[:-1], r, exact)
                if e2 > tol:
                    break
                c, t, err = c[:-1], t[:-1], e2
            return _frozen(c / rho), _frozen(t / rho), err
        h *= 0.97
    raise RuntimeError(f"newton_kernel: no quadrature with at most {_MAX_TERMS} terms met tol={tol:g} on a range "
                       f"ratio {rho:g}; loosen tol or narrow the range")  # pragma: no cover


@functools.lru_cache(maxsize=256)
def _optimised_rule(tol: float, rho: float):
    """The shipped optimised sum for ``[1, rho]`` at ``tol``: ``(c, t, error, info)``, or Nones."""
    entry = _expsum.lookup(tol, rho)
    if entry is None:
        return None, None, None, None
    c, t = entry["c"], entry["t"]
    r = np.geomspace(1.0, rho, _NCHECK)
    err = _rel_error(c, t, r, 1.0 / r)
    return _frozen(c), _frozen(t), err, {"method": "optimised", "table_tol": entry["tol"], "table_rho": entry["rho"]}


def _frozen(a):
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


# The Slater and Yukawa kernels use GaussianSum and the checks above, so they are imported after
# them (the package imports this module first).
from ._screened import slater_kernel, yukawa_kernel  # noqa: E402

__all__ = ["GaussianSum", "newton_kernel", "newton_kernel_on_grid", "slater_kernel", "yukawa_kernel"]
