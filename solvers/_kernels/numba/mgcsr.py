"""Numba kernels of the Galerkin (black-box, CSR) multigrid levels: ``_csr_mv`` (transfers ``P``, ``P^T`` and
level products), ``_csr_res`` (the residual and its norm in one pass) and ``_mcgs`` (multicolour Gauss-Seidel,
a colour's points in parallel), with the level storage and products of the multigrid kernel set, which
:mod:`.multigrid` re-exports."""
import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def _csr_mv(indptr, indices, data, x, out, add):
    """``out = A x`` (``out += A x`` when ``add``); rows in parallel, each summed in index order."""
    for i in nb.prange(out.shape[0]):
        s = 0.0
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):    # unsigned: no wrap-around test
            s += data[p] * x[np.uint64(indices[p])]
        out[i] = out[i] + s if add else s


@nb.njit(parallel=True, cache=True)
def _csr_res(indptr, indices, data, u, f, r):
    """``r = f - A u``; returns ``r . r``."""
    tot = 0.0
    for i in nb.prange(r.shape[0]):
        s = 0.0
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            s += data[p] * u[np.uint64(indices[p])]
        v = f[i] - s
        r[i] = v
        tot += v * v
    return tot


@nb.njit(parallel=True, cache=True)
def _mcgs(indptr, indices, data, dinv, order, cptr, u, f, reverse):
    """One multicolour Gauss-Seidel sweep (colours in order, or reversed); a colour's points in parallel.

    The matrix rows are stored in colour order (row ``t`` of ``indptr/indices/data`` is grid point
    ``order[t]``), so each colour streams through a contiguous block of the matrix."""
    ncol = cptr.shape[0] - 1
    for cc in range(ncol):
        c = ncol - 1 - cc if reverse else cc
        s0 = cptr[c]
        for t in nb.prange(cptr[c + 1] - s0):
            q = s0 + t
            i = order[q]
            s = 0.0
            for p in range(np.uint64(indptr[q]), np.uint64(indptr[q + 1])):
                s += data[p] * u[np.uint64(indices[p])]
            u[i] += dinv[i] * (f[i] - s)


def _flat(a):
    """A flat view of the grid array ``a`` (never a copy: writes must reach ``a``)."""
    v = a.view()
    v.shape = (-1,)
    return v


def csr_transfer(M):
    """The SciPy CSR matrix ``M`` (sorted, 64-bit indices) as a transfer."""
    M = M.tocsr()
    M.sort_indices()
    M.indptr, M.indices = M.indptr.astype(np.int64), M.indices.astype(np.int64)
    return M


def csr_level(C, order, cptr):
    """Storage of a coarse CSR level: the matrix, its rows in colour order (``G``, for the smoother), its
    inverse diagonal and the colour-sorted point indices."""
    C = csr_transfer(C)
    order = np.ascontiguousarray(order, dtype=np.int64)
    return {"A": C, "G": csr_transfer(C[order]), "dinv": 1.0 / C.diagonal(), "order": order,
            "cptr": np.ascontiguousarray(cptr, dtype=np.int64)}


def csr_matvec(L, x, out):
    """``out = A x`` on a CSR level."""
    A = L["A"]
    _csr_mv(A.indptr, A.indices, A.data, x.reshape(-1), _flat(out), False)


def csr_residual(L, u, f, r):
    """``r = f - A u`` on a CSR level; returns ``r . r``."""
    A = L["A"]
    return float(_csr_res(A.indptr, A.indices, A.data, u.reshape(-1), f.reshape(-1), _flat(r)))


def csr_smooth(L, u, f, reverse):
    """One multicolour Gauss-Seidel sweep in place (colours reversed when ``reverse``: the adjoint)."""
    A = L["G"]
    _mcgs(A.indptr, A.indices, A.data, L["dinv"], L["order"], L["cptr"], _flat(u), f.reshape(-1),
          bool(reverse))
