"""Numba kernels for entropic optimal transport (log-domain and kernel-space Sinkhorn, sparse
Newton).

The public functions at the end of this module are the OT kernel set, with the
names, signatures and meaning of the NumPy reference ``solvers._kernels.numpy.ot``
(read its notes first). Underneath, the ``@njit`` kernels work on the C-ordered cost
matrix ``C`` (n x m) only -- no transposed copy (it doubled the memory of a solve): row
passes run over rows; column passes (:func:`lse_cols`) give each thread a tile of 256
columns and walk the rows in blocks, keeping a running maximum and a rescaled running sum
per column, so every inner loop still reads contiguous memory (measured as fast as the
row pass over a transposed copy). The scaling kernel of kernel-space Sinkhorn is built
row by row (:func:`_scaling_kernel`, float64 or float32); ``K v`` accumulates in float64
over rows in parallel, ``K^T u`` too: row blocks in parallel, each into its own float64 partial
sum, four rows per sweep (:func:`scaling_rmatvec`; measured faster than BLAS ``u @ K`` pinned to one
thread and than a column-tile loop). Truncated plans use int32 column indices.

The exponential in the hot loops is a vectorisable exp for non-positive
arguments (``_ot_dense._exp_le0``): Cody-Waite range reduction ``x = k ln2 + r``,
``|r| <= ln2 / 2``, a degree-12 Taylor polynomial (relative truncation error
< 2e-16) and ``2**k`` assembled from its IEEE-754 bit pattern. It is accurate
to a few ulp (checked against ``numpy.exp`` in the tests); arguments below
-700 give exp(-700) ~ 1e-304 (invisible next to a max-shifted sum >= 1; a true
underflow would produce subnormals, which slow the loop down ~100x).
Nothing here imports from the package.
"""
from types import SimpleNamespace

import numba as nb
import numpy as np
import scipy.sparse as sps

from ..numpy import ot as _reference
from . import _ot_summary
from ._ot_summary import row_weighted_sums  # noqa: F401  (the plan's fingerprint)
from ._ot_scaling import (_kernel_rmatvec, _kernel_rmatvec_serial, _rows_into, _scaling_step_serial,  # noqa: F401
                          _step_cols, _step_rows, col_min_blocks)
from ._ot_dense import (_exp_shifted, _kernel_matvec, _kernel_matvec_serial, _lse_pair_rows, _plan_cost,  # noqa: F401
                        _plan_dense, _scaling_kernel, _shift_max, _sum, exp_le0_array, l1_marginal_gap, lse_cols,
                        lse_rows, sinkhorn_update)
from ._ot_select import kernel_fill_rows, kernel_rows_sparse, row_index, row_select, work  # noqa: F401
from ._ot_sparse import (_schur_diagonal, _schur_gather_parallel, _schur_matvec_parallel,  # noqa: F401
                         _schur_matvec_serial, csr_matvec, csr_rmatvec, csr_transpose, fill_rows, lse_rows_sparse)


# ====================== the kernel set (the interface of solvers._kernels.numpy.ot) ==========
#: read the marginal error every iteration (host arrays: reading is free)
CHECK_EVERY = 1
#: a Schur product with more stored entries than this runs in parallel (below, thread start-up
#: costs more than it saves). 200 000 until session 27; on AMD Zen 5 (2 threads) the parallel
#: product was faster from about 70 000 (SNS at n = 1000, about 137 000 entries: eps = 3e-3 48 -> 39 ms,
#: 1e-3 48 -> 40 ms, 1e-4 123 -> 96 ms; at n = 300 and 500 the same or faster; ``/tmp/s27/schur.py``)
SCHUR_PARALLEL_NNZ = 50_000
#: row chunks of the parallel Schur product, each with its own column accumulator: fixed, so the summation
#: order (and the product, bit for bit) does not depend on the number of threads (at most this many are used)
SCHUR_CHUNKS = 16
#: above this many stored entries the Schur product is the one-pass scatter (:func:`_schur_matvec_parallel`),
#: below it the gather over a transposed copy (:func:`_schur_gather_parallel`). Per product, interleaved, 2 threads,
#: Zen 5, session 36 (``/tmp/s36/schur_ab2.py``), gather / scatter: n = m = 1000 with 6 10^4, 1.4 10^5, 2.6 10^5
#: entries 0.050 / 0.069, 0.113 / 0.144, 0.218 / 0.266 ms; n = 3000, 8 10^5: 0.955 / 0.92; n = 10^4, 3 10^6: 3.66 /
#: 2.97 ms. The gather form also builds the transpose for every Newton step: 0.12, 0.37, 2.1, 5.4 and 25 ms at
#: those sizes. With about 23 products a Newton step (SNS, n = 3000, eps = 1e-3: 140 products in 6 steps) the
#: scatter is the cheaper step from about 2 10^5 entries
SCHUR_SCATTER_NNZ = 200_000
#: ... and when the plan fills at least this many row chunks: a plan of a few entries per row over many columns
#: (n = m = 30000, 2.25 10^5 entries: one chunk) ran the scatter serially, 0.55 against the gather's 0.28 ms a
#: product (helper-122)
SCHUR_MIN_CHUNKS = 4
#: a scaling kernel with fewer entries than this is multiplied serially
KERNEL_PARALLEL_SIZE = 200_000


def prepare_cost(C):
    """``C`` itself (no transposed copy: the column passes walk C in column tiles, see
    :func:`lse_cols`); the per-row buffers of :func:`row_lse_sparse` are kept while their size
    fits. A float32 ``C`` is used as it is (the kernels are compiled for it too and compute in
    float64 from its entries)."""
    if not isinstance(C, np.ndarray) or C.ndim != 2 or C.dtype not in (np.float64, np.float32) \
            or not C.flags.c_contiguous:
        raise TypeError(f"OT kernel: C must be a C-contiguous 2-D float64 or float32 array, got "
                        f"{type(C).__name__} {getattr(C, 'dtype', '')} {getattr(C, 'shape', '')}")
    return SimpleNamespace(C=C, rows=None, zeros_n=np.zeros(C.shape[0]), zeros_m=np.zeros(C.shape[1]))


def check_vector(name, v, size):
    """``v`` must be a float64 NumPy vector of length ``size`` (the Numba kernels index it
    without bounds checks): else a ValueError/TypeError naming it."""
    if not isinstance(v, np.ndarray) or v.shape != (size,):
        raise ValueError(f"OT kernel: {name} has shape {getattr(v, 'shape', None)}, expected ({size},)")
    if v.dtype != np.float64:
        raise TypeError(f"OT kernel: {name} must be float64, got dtype {v.dtype}")
    return v


def _check(cost, rows=(), cols=()):
    _reference._check_pairs(check_vector, cost, rows, cols)


def row_lse(cost, g, eps):
    _check(cost, cols=[("g", g)])
    return lse_rows(cost.C, g, 1.0 / eps, np.empty(cost.C.shape[0]))


def col_lse(cost, f, eps):
    _check(cost, rows=[("f", f)])
    return lse_cols(cost.C, f, cost.zeros_m, 1.0 / eps, np.empty(cost.C.shape[1]))


def col_min(cost, f):
    """As the reference: ``min_i (C_ij - f_i)`` per column (one pass over C, no exponential)."""
    _check(cost, rows=[("f", f)])
    n, m = cost.C.shape
    blocks = 1 if cost.C.size < KERNEL_PARALLEL_SIZE else max(1, min(nb.get_num_threads(), n))
    return col_min_blocks(cost.C, f, np.empty(m), np.empty((blocks, m)))


def f_update(cost, g, log_a, eps, out):
    _check(cost, rows=[("log_a", log_a), ("out", out)], cols=[("g", g)])
    return sinkhorn_update(cost.C, g, 1.0 / eps, eps, log_a, out)


def g_update(cost, f, log_b, eps, out):
    _check(cost, rows=[("f", f)], cols=[("log_b", log_b), ("out", out)])
    lse_cols(cost.C, f, cost.zeros_m, 1.0 / eps, out)
    out[...] = eps * (log_b - out)
    return out


def row_gap(a, f_old, f_new, eps):
    check_vector("f_old", f_old, a.shape[0])
    check_vector("f_new", f_new, a.shape[0])
    return l1_marginal_gap(a, f_old, f_new, 1.0 / eps)


def plan_cost(cost, f, g, eps):
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    return float(_plan_cost(cost.C, f, g, 1.0 / eps, np.empty(cost.C.shape[0])))


def plan_dense(cost, f, g, eps):
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    return _plan_dense(cost.C, f, g, 1.0 / eps, np.empty(cost.C.shape))


def log_marginals(cost, f, g, eps):
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    inv = 1.0 / eps
    return (_lse_pair_rows(cost.C, f, g, inv, np.empty(cost.C.shape[0])),
            lse_cols(cost.C, f, g, inv, np.empty(cost.C.shape[1])))


def plan_summary(cost, f, g, eps):
    """``(log P 1, log P^T 1, <P, C>)``: one pass over C where it is exact to rounding
    (:mod:`solvers._kernels.numba._ot_summary`), else :func:`log_marginals` and :func:`plan_cost`."""
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    threads = 1 if cost.C.size < KERNEL_PARALLEL_SIZE else nb.get_num_threads()
    got = _ot_summary.plan_summary(cost.C, f, g, 1.0 / eps, threads)
    if got is None:
        got = (*log_marginals(cost, f, g, eps), plan_cost(cost, f, g, eps))
    return got


def scaling_kernel(cost, f, g, eps, out):
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    if not isinstance(out, np.ndarray) or out.shape != cost.C.shape or out.dtype not in (np.float64, np.float32) \
            or not out.flags.c_contiguous:
        raise ValueError(f"OT kernel: out must be a C-contiguous float64/float32 array of shape {cost.C.shape}")
    return _scaling_kernel(cost.C, f, g, 1.0 / eps, float(np.finfo(out.dtype).tiny), out, np.empty(cost.C.shape[0]))


def _check_kernel(kernel):
    if not isinstance(kernel, np.ndarray) or kernel.ndim != 2 or kernel.dtype not in (np.float64, np.float32) \
            or not kernel.flags.c_contiguous:
        raise TypeError("OT kernel: the scaling kernel must be a C-contiguous 2-D float64/float32 array")


def scaling_matvec(kernel, v, out):
    _check_kernel(kernel)
    check_vector("v", v, kernel.shape[1])
    check_vector("out", out, kernel.shape[0])
    if kernel.size < KERNEL_PARALLEL_SIZE:
        return _kernel_matvec_serial(kernel, v, out)
    return _kernel_matvec(kernel, v, out)


def scaling_rmatvec(kernel, u, out):
    """``out = K^T u``, float64 accumulation, row blocks in parallel (:func:`_kernel_rmatvec`; serially
    below ``KERNEL_PARALLEL_SIZE`` entries). Measured against BLAS ``u @ K`` (float32 accumulation for
    a float32 kernel) with OpenBLAS pinned to one thread as the benchmarks run it: 0.116 vs 0.163-0.188 ms
    at 1000 x 1000, 1.03 vs 1.5-1.7 ms at 3000 x 3000 (float32, 2 threads, ad-hoc)."""
    _check_kernel(kernel)
    check_vector("u", u, kernel.shape[0])
    check_vector("out", out, kernel.shape[1])
    blocks = 1 if kernel.size < KERNEL_PARALLEL_SIZE else min(nb.get_num_threads(), kernel.shape[0] // 4)
    if blocks <= 1:
        return _kernel_rmatvec_serial(kernel, u, out)
    return _kernel_rmatvec(kernel, u, out, np.empty((blocks, kernel.shape[1])))


def scaling_step(kernel, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi):
    """As the reference: one measured scaling iteration, ``(err, code)``. Below ``KERNEL_PARALLEL_SIZE``
    entries one compiled call (:func:`_scaling_step_serial`), else the parallel products and two
    compiled vector passes."""
    _check_kernel(kernel)
    n, m = kernel.shape
    for name, w, size in (("u", u, n), ("v", v, m), ("a", a, n), ("b", b, m), ("Kv", Kv, n), ("KTu", KTu, m),
                          ("u_new", u_new, n), ("v_new", v_new, m)):
        check_vector(name, w, size)
    lo, hi = float(lo), float(hi)
    if kernel.size < KERNEL_PARALLEL_SIZE:
        err, code = _scaling_step_serial(kernel, u, v, a, b, Kv, KTu, u_new, v_new, lo, hi)
        return float(err), int(code)
    _kernel_matvec(kernel, v, Kv)
    err, ok = _step_rows(a, u, Kv, u_new, lo, hi)
    if not ok:
        return float(err), 1
    scaling_rmatvec(kernel, u_new, KTu)
    return float(err), (0 if _step_cols(b, KTu, v_new, lo, hi) else 2)


def _ranges(n):
    """Parallel row ranges of the sparse row passes: four per thread (each allocates its work arrays once;
    computed here: ``numba.get_num_threads`` inside a kernel keeps it from being cached)."""
    return max(1, min(n, 4 * nb.get_num_threads()))


def scaling_sparse(kernel, u, v, rho, kmax, share=0.0):
    """Two passes over the kernel (:func:`kernel_rows_sparse`: row sums and selection, then
    :func:`kernel_fill_rows`), no exponential and no per-row buffers."""
    _check_kernel(kernel)
    n, m = kernel.shape
    check_vector("u", u, n)
    check_vector("v", v, m)
    counts, thrs, mxs = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n)
    r = kernel_rows_sparse(kernel, u, v, float(rho), int(kmax), float(share), np.empty(n), counts, thrs, mxs,
                           _ranges(n))
    indptr, indices, data = _csr_from_counts(counts)
    kernel_fill_rows(kernel, u, v, counts, thrs, mxs, indptr, indices, data, _ranges(n))
    return r, (indptr, indices, data)


def _index_type(size):
    """Column indices of the truncated plans: int32 (a quarter less memory than int64 next to the
    float64 data) unless a column index could exceed it."""
    return np.int32 if size < 2**31 else np.int64


def _csr_from_counts(counts):
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    return indptr, np.empty(nnz, dtype=_index_type(nnz)), np.empty(nnz)


def _sparse(cost, g, f, eps, rho, kmax, share, width):
    C = cost.C
    n, m = C.shape
    _check(cost, rows=[("f", f)], cols=[("g", g)])
    if width == 0:
        idx, val = np.empty((n, 0), dtype=np.int32), np.empty((n, 0))
    else:
        if cost.rows is None or cost.rows[0].shape != (n, width):
            cost.rows = (np.empty((n, width), dtype=np.int32), np.empty((n, width)))
        idx, val = cost.rows
    counts, thrs, mxs = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n)
    inv = 1.0 / eps
    lse = lse_rows_sparse(C, g, f, inv, float(rho), int(kmax), float(share), np.empty(n), counts, thrs, mxs, idx, val,
                          _ranges(n))
    indptr, indices, data = _csr_from_counts(counts)
    fill_rows(C, g, f, inv, counts, thrs, mxs, idx, val, indptr, indices, data)
    return lse, (indptr, indices, data)


def _width(n, m, kmax):
    """Slots per row of the fused pass's buffers: ``kmax`` unless that would cost more memory
    than a quarter of C (or 256 per row); then 0 (every row recomputed by the fill pass)."""
    return 0 if kmax * n > max(4 * n * 64, n * m // 4) else int(kmax)


def sparse_plan(cost, f, g, eps, rho, kmax, share=0.0):
    """The row pass of :func:`row_lse_sparse` (its LSE discarded), then the fill pass."""
    n, m = cost.C.shape
    return _sparse(cost, g, f, eps, rho, kmax, share, _width(n, m, kmax))[1]


def row_lse_sparse(cost, g, f, eps, rho, kmax, share=0.0):
    """One fused pass (:func:`lse_rows_sparse`) into per-row buffers of ``kmax`` slots, then a
    compaction (:func:`fill_rows`, which recomputes only rows that keep more than ``kmax``)."""
    n, m = cost.C.shape
    return _sparse(cost, g, f, eps, rho, kmax, share, _width(n, m, kmax))


def _check_csr(csr, n, m):
    """The CSR triple of an ``n x m`` plan, checked before any kernel indexes it without bounds checks (a
    decreasing or shifted ``indptr`` double-counted entries silently, or crashed the process: helper-122)."""
    indptr, indices, data = csr
    for name, v in (("indptr", indptr), ("indices", indices), ("data", data)):
        if not isinstance(v, np.ndarray) or v.ndim != 1:
            raise ValueError(f"OT kernel: CSR {name} must be a 1-D NumPy array, got {type(v).__name__} "
                             f"of shape {getattr(v, 'shape', None)}")
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        raise TypeError(f"OT kernel: CSR indptr and indices must be integer arrays, got {indptr.dtype} and {indices.dtype}")
    if data.dtype.kind != "f":
        raise TypeError(f"OT kernel: CSR data must be a real floating array, got {data.dtype}")
    if indptr.shape != (n + 1,) or indices.shape != data.shape or indices.shape != (int(indptr[-1]),):
        raise ValueError(f"OT kernel: the CSR arrays do not describe a {n} x {m} matrix: indptr needs {n + 1} entries "
                         f"ending at len(indices) == len(data), got {indptr.shape[0]} entries ending at "
                         f"{int(indptr[-1]) if indptr.size else None}, {indices.shape[0]} indices, {data.shape[0]} values")
    if int(indptr[0]) != 0 or (n and bool((np.diff(indptr) < 0).any())):
        raise ValueError("OT kernel: CSR indptr must start at 0 and never decrease")
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= m):
        raise ValueError(f"OT kernel: CSR column indices outside [0, {m})")


def schur_prepare(csr, shape):
    """``P`` as CSR arrays, ready for :func:`schur_matvec`: below :data:`SCHUR_PARALLEL_NNZ` stored entries
    the serial one-pass scatter; in parallel the one-pass scatter above :data:`SCHUR_SCATTER_NNZ` entries when
    they make at least :data:`SCHUR_MIN_CHUNKS` row chunks (about ``4 m`` entries each, so the chunks' column
    accumulators cost at most a quarter of the product), else the gather over a transposed copy (counting
    sort)."""
    n, m = shape
    _check_csr(csr, n, m)
    indptr, indices, data = csr
    nnz = int(indptr[-1])
    nch = max(1, min(SCHUR_CHUNKS, n, nnz // (4 * max(m, 1))))
    if nnz <= SCHUR_PARALLEL_NNZ:
        operands, kernel = (indptr, indices, data, np.zeros(2, dtype=np.int64), np.empty((1, m))), _schur_matvec_serial
    elif nnz <= SCHUR_SCATTER_NNZ or nch < SCHUR_MIN_CHUNKS:
        t_indptr = np.empty(m + 1, dtype=np.int64)
        t_indices = np.empty_like(indices)
        t_data = np.empty_like(data)
        csr_transpose(n, m, indptr, indices, data, t_indptr, t_indices, t_data)
        operands, kernel = (indptr, indices, data, t_indptr, t_indices, t_data, np.empty(n)), _schur_gather_parallel
    else:
        bounds = np.searchsorted(indptr, np.linspace(0, nnz, nch + 1), side="left").astype(np.int64)
        bounds[0], bounds[-1] = 0, n
        operands, kernel = (indptr, indices, data, bounds, np.empty((nch, m))), _schur_matvec_parallel
    return SimpleNamespace(arrays=(indptr, indices, data), operands=operands, kernel=kernel, shape=shape)


def schur_diagonal(schur, dcol, inv_drow):
    n, m = schur.shape
    check_vector("dcol", dcol, m)
    check_vector("inv_drow", inv_drow, n)
    indptr, indices, data = schur.arrays[:3]
    return _schur_diagonal(indptr, indices, data, dcol, inv_drow, np.empty(m))


def schur_matvec(schur, dcol, inv_drow, x, out):
    n, m = schur.shape
    check_vector("x", x, m)
    check_vector("out", out, m)
    check_vector("dcol", dcol, m)
    check_vector("inv_drow", inv_drow, n)
    return schur.kernel(*schur.operands, dcol, inv_drow, x, out)


def plan_matvec(schur, x):
    check_vector("x", x, schur.shape[1])
    indptr, indices, data = schur.arrays[:3]
    return csr_matvec(indptr, indices, data, x, np.empty(schur.shape[0]))


def plan_rmatvec(schur, y):
    check_vector("y", y, schur.shape[0])
    indptr, indices, data = schur.arrays
    return csr_rmatvec(indptr, indices, data, y, np.empty(schur.shape[1]))


def csr_matrix(csr, shape):
    indptr, indices, data = csr
    return sps.csr_matrix((data, indices, indptr), shape=shape)


def csr_scatter(P, rows, cols, shape):
    coo = P.tocoo()
    return sps.coo_matrix((coo.data, (rows[coo.row], cols[coo.col])), shape=shape).tocsr()
