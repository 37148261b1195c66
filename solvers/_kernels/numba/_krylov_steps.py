"""Fused vector steps of the Chebyshev preconditioner and of MINRES for :mod:`.krylov`, which exports them in its
kernel set (``cheb_step``, ``minres_update``; serial ``_s`` and parallel ``_p`` versions, as there)."""
import numba as nb

_FM = {"reassoc", "contract", "nsz"}


# ------------------------------------- Chebyshev iteration step (preconditioner)
@nb.njit(parallel=True, cache=True, fastmath=_FM)
def cheb_step_p(z, res, d, ad, c1, c2):
    """``res -= ad; d = c1 d + c2 res; z += d`` in one pass."""
    if res.shape[0] != z.shape[0] or d.shape[0] != z.shape[0] or ad.shape[0] != z.shape[0]:
        raise ValueError("cheb_step: vectors of different lengths")
    for i in nb.prange(z.shape[0]):
        ri = res[i] - ad[i]
        res[i] = ri
        di = c1 * d[i] + c2 * ri
        d[i] = di
        z[i] += di


@nb.njit(cache=True, fastmath=_FM)
def cheb_step_s(z, res, d, ad, c1, c2):
    if res.shape[0] != z.shape[0] or d.shape[0] != z.shape[0] or ad.shape[0] != z.shape[0]:
        raise ValueError("cheb_step: vectors of different lengths")
    for i in range(z.shape[0]):
        ri = res[i] - ad[i]
        res[i] = ri
        di = c1 * d[i] + c2 * ri
        d[i] = di
        z[i] += di


@nb.njit(parallel=True, cache=True, fastmath=_FM)
def minres_update_p(v, w1, w2, x, oldeps, delta, inv_gamma, phi):
    """``w1 = (v - oldeps w1 - delta w2) inv_gamma``, then ``x += phi w1``, in one pass."""
    if w1.shape[0] != v.shape[0] or w2.shape[0] != v.shape[0] or x.shape[0] != v.shape[0]:
        raise ValueError("minres_update: vectors of different lengths")
    for i in nb.prange(v.shape[0]):
        wi = (v[i] - oldeps * w1[i] - delta * w2[i]) * inv_gamma
        w1[i] = wi
        x[i] += phi * wi


@nb.njit(cache=True, fastmath=_FM)
def minres_update_s(v, w1, w2, x, oldeps, delta, inv_gamma, phi):
    if w1.shape[0] != v.shape[0] or w2.shape[0] != v.shape[0] or x.shape[0] != v.shape[0]:
        raise ValueError("minres_update: vectors of different lengths")
    for i in range(v.shape[0]):
        wi = (v[i] - oldeps * w1[i] - delta * w2[i]) * inv_gamma
        w1[i] = wi
        x[i] += phi * wi
