"""Hostile inputs for the ``newtonkit`` command line, run in-process through ``solvers.cli.main``.

``CASES = [(name, callable)]``; each callable returns

* ``"clear_error"``: exit code 2 and a ``newtonkit: error:`` message on stderr that names the
  flag / file / run at fault (the strings in ``needles``), and no traceback;
* ``"verified"``: exit code 0 and the output checked here (strict JSON, stored numbers);
* ``"wrong"``: any other exit code, a missing or vague message, or output that fails its check.

Nothing here allocates much memory: the size cases must be refused by the estimate before
anything is allocated.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile

import numpy as np

import solvers
from solvers import cli

_TMP = tempfile.mkdtemp(prefix="newtonkit-hostile-cli-")


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def _expect_error(argv, *needles, absent=None):
    def run():
        rc, _, err = _run(argv)
        if rc != 2 or "Traceback" in err or "newtonkit: error:" not in err and "error:" not in err:
            return "wrong"
        if not all(n.lower() in err.lower() for n in needles):
            return "wrong"
        if absent is not None and os.path.exists(absent):
            return "wrong"
        return "clear_error"
    return run


def _strict_json(text):
    def bad(c):
        raise ValueError(f"bare {c} in JSON")
    return json.loads(text, parse_constant=bad)


# ------------------------------------------------------------------------------ stores used by the cases
def _result(i=0, time_s=0.5, hist=None, x=None):
    return solvers.SolveResult(np.arange(6.0) + i if x is None else x, True, "converged", "ok", 3 + i,
                               history={"residual": np.geomspace(1.0, 1e-6, 4) if hist is None else hist},
                               stats={"time_s": time_s, "matvecs": 4}, method="cg", backend="numpy",
                               options={"rtol": 1e-8})


def _store(name, results):
    path = os.path.join(_TMP, name)
    with solvers.RunStore(path) as store:
        ids = [store.save(r, tags={"i": str(k)}) for k, r in enumerate(results)]
    return path, ids


_GOOD, _GOOD_IDS = _store("good.h5", [_result(0), _result(1), _result(2)])
_NAN, _NAN_IDS = _store("nan.h5", [_result(0, time_s=float("nan"), hist=np.array([1.0, np.nan, np.inf]))])
_EMPTY = os.path.join(_TMP, "empty.h5")
with solvers.RunStore(_EMPTY):
    pass


def _damaged_copies():
    raw = open(_GOOD, "rb").read()
    paths = {}
    paths["truncated"] = os.path.join(_TMP, "truncated.h5")
    open(paths["truncated"], "wb").write(raw[: len(raw) // 2])
    sb = bytearray(raw)
    sb[10] ^= 0xFF
    paths["superblock"] = os.path.join(_TMP, "superblock.h5")
    open(paths["superblock"], "wb").write(bytes(sb))
    paths["junk"] = os.path.join(_TMP, "junk.h5")
    open(paths["junk"], "wb").write(b"not an hdf5 file " * 64)
    # one flipped byte inside a dataset: x of a run with a recognisable value
    marker = np.full(32, 1234.5678)
    path, ids = _store("flipped.h5", [_result(0), _result(1, x=marker)])
    data = bytearray(open(path, "rb").read())
    pos = bytes(data).find(marker.tobytes()[:16])
    flipped = None
    if pos >= 0:
        data[pos + 3] ^= 0x01
        flipped = os.path.join(_TMP, "flipped_byte.h5")
        open(flipped, "wb").write(bytes(data))
    return paths, flipped, ids[1]


_DAMAGED, _FLIPPED, _FLIPPED_ID = _damaged_copies()


def _json_case(argv, check):
    def run():
        rc, out, err = _run(argv)
        if rc != 0:
            return "wrong"
        try:
            data = _strict_json(out)
        except ValueError:
            return "wrong"
        return "verified" if check(data) else "wrong"
    return run


def _flipped_case():
    if _FLIPPED is None:
        return "clear_error" if _expect_error(["runs", "show", os.path.join(_TMP, "nope.h5"), "-1"],
                                              "nope.h5")() == "clear_error" else "wrong"
    return _expect_error(["runs", "show", _FLIPPED, _FLIPPED_ID], "damaged", _FLIPPED_ID[:8])()


def _solve_poisson_verified():
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    path = os.path.join(_TMP, "poisson.h5")
    rc, out, _ = _run(["solve", "poisson", "--shape", 7, 6, "--backend", "numpy", "--rtol", 1e-12, "--no-progress",
                       "--store", path])
    if rc != 0:
        return "wrong"
    with solvers.RunStore(path, mode="r") as store:
        x = store.load(store.resolve("-1")).x
    mats = [sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * (n + 1) ** 2 for n in (7, 6)]
    A = sp.kron(mats[0], sp.identity(6)) + sp.kron(sp.identity(7), mats[1])
    ref = spla.spsolve(A.tocsc(), np.ones(42))
    return "verified" if np.allclose(np.ravel(x), ref, rtol=1e-9, atol=1e-12) else "wrong"


_HUGE3 = [100000, 100000, 100000]
_S = ["--no-progress"]

CASES = [
    # sizes: refused by the estimate, with the figure, before allocating (and before creating a store)
    ("solve-poisson-huge-3d", _expect_error(["solve", "poisson", "--shape", *_HUGE3, *_S], "--shape", "PB")),
    ("solve-poisson-huge-2d", _expect_error(["solve", "poisson", "--shape", 3000000, 3000000, *_S], "--shape", "TB")),
    ("solve-poisson-huge-manufactured", _expect_error(["solve", "poisson", "--manufactured", "--shape", *_HUGE3, *_S],
                                                      "--shape", "memory")),
    ("demo-huge", _expect_error(["demo", "--shape", *_HUGE3, "--no-plot", "--store", os.path.join(_TMP, "d1.h5"), *_S],
                                "--shape", "memory", absent=os.path.join(_TMP, "d1.h5"))),
    ("demo-huge-case", _expect_error(["demo", "--case", "poisson3d", "--shape", 50000, 50000, 50000, "--no-plot",
                                      "--store", os.path.join(_TMP, "d2.h5"), *_S], "--shape", "GB",
                                     absent=os.path.join(_TMP, "d2.h5"))),
    ("solve-ot-huge", _expect_error(["solve", "ot", "--n", 200000, *_S], "--n", "TB")),
    ("solve-ot-large", _expect_error(["solve", "ot", "--n", 2000000, *_S], "--n", "memory")),
    # flags
    ("shape-one-number", _expect_error(["solve", "poisson", "--shape", 4, *_S], "--shape")),
    ("shape-zero", _expect_error(["solve", "poisson", "--shape", 0, 5, *_S], "--shape")),
    ("shape-four-numbers", _expect_error(["solve", "poisson", "--shape", 4, 4, 4, 4, *_S], "--shape")),
    ("shape-negative", _expect_error(["solve", "poisson", "--shape", -3, 4, *_S], "--shape")),
    ("shape-float", _expect_error(["solve", "poisson", "--shape", 4.5, 4, *_S], "--shape")),
    ("rtol-nan", _expect_error(["solve", "poisson", "--shape", 6, 6, "--rtol", "nan", *_S], "--rtol")),
    ("rtol-negative", _expect_error(["solve", "poisson", "--shape", 6, 6, "--rtol", -1, *_S], "--rtol")),
    ("rtol-inf", _expect_error(["solve", "poisson", "--shape", 6, 6, "--rtol", "inf", *_S], "--rtol")),
    ("maxiter-negative", _expect_error(["solve", "poisson", "--shape", 6, 6, "--maxiter", -5, *_S], "--maxiter")),
    ("f-nan", _expect_error(["solve", "poisson", "--shape", 6, 6, "--f", "nan", *_S], "--f")),
    ("f-inf", _expect_error(["solve", "poisson", "--shape", 6, 6, "--f", "inf", *_S], "--f")),
    ("precond-unknown", _expect_error(["solve", "poisson", "--precond", "ilu", *_S], "--precond")),
    ("backend-unknown", _expect_error(["solve", "poisson", "--backend", "bogus", *_S], "--backend")),
    ("ot-eps-zero", _expect_error(["solve", "ot", "--n", 10, "--eps", 0, *_S], "--eps")),
    ("ot-eps-nan", _expect_error(["solve", "ot", "--n", 10, "--eps", "nan", *_S], "--eps")),
    ("ot-eps-inf", _expect_error(["solve", "ot", "--n", 10, "--eps", "inf", *_S], "--eps")),
    ("ot-eps-negative", _expect_error(["solve", "ot", "--n", 10, "--eps", -1, *_S], "--eps")),
    ("ot-n-one", _expect_error(["solve", "ot", "--n", 1, *_S], "--n")),
    ("ot-n-negative", _expect_error(["solve", "ot", "--n", -5, *_S], "--n")),
    ("ot-tol-negative", _expect_error(["solve", "ot", "--n", 10, "--tol", -1, *_S], "--tol")),
    ("ot-tol-nan", _expect_error(["solve", "ot", "--n", 10, "--tol", "nan", *_S], "--tol")),
    ("ot-seed-negative", _expect_error(["solve", "ot", "--n", 10, "--seed", -1, *_S], "--seed")),
    ("ot-maxiter-negative", _expect_error(["solve", "ot", "--n", 10, "--maxiter", -1, *_S], "--maxiter")),
    ("threads-zero", _expect_error(["--threads", 0, "info"], "threads")),
    ("threads-negative", _expect_error(["--threads", -1, "info"], "threads")),
    ("tag-no-equals", _expect_error(["solve", "poisson", "--shape", 6, 6, "--tag", "oops", *_S], "--tag")),
    ("demo-unknown-case", _expect_error(["demo", "--case", "nope", "--no-plot", *_S], "nope")),
    ("demo-rtol-nan", _expect_error(["demo", "--rtol", "nan", "--no-plot", "--store", os.path.join(_TMP, "d3.h5"),
                                     *_S], "--rtol", absent=os.path.join(_TMP, "d3.h5"))),
    ("solve-store-missing-dir", _expect_error(["solve", "poisson", "--shape", 6, 6, "--store",
                                               os.path.join(_TMP, "no", "such", "dir.h5"), *_S], "--store")),
    ("solve-store-junk", _expect_error(["solve", "poisson", "--shape", 6, 6, "--store", os.path.join(_TMP, "junk.h5"),
                                        *_S], "junk.h5")),
    ("demo-store-missing-dir", _expect_error(["demo", "--no-plot", "--store", os.path.join(_TMP, "no", "d.h5"), *_S],
                                             "--store")),
    ("demo-plot-missing-dir", _expect_error(["demo", "--plot", os.path.join(_TMP, "no", "p.png"), "--store",
                                             os.path.join(_TMP, "d4.h5"), *_S], "--plot",
                                            absent=os.path.join(_TMP, "d4.h5"))),
    # run stores: missing, damaged, bad run ids
    ("runs-list-missing", _expect_error(["runs", "list", os.path.join(_TMP, "missing.h5")], "missing.h5")),
    ("runs-list-junk", _expect_error(["runs", "list", _DAMAGED["junk"]], "junk.h5")),
    ("runs-list-truncated", _expect_error(["runs", "list", _DAMAGED["truncated"]], "truncated.h5", "salvage")),
    ("runs-list-superblock", _expect_error(["runs", "list", _DAMAGED["superblock"]], "superblock.h5")),
    ("runs-show-truncated", _expect_error(["runs", "show", _DAMAGED["truncated"], "-1"], "truncated.h5")),
    ("runs-merge-damaged-source", _expect_error(["runs", "merge", os.path.join(_TMP, "merged.h5"),
                                                 _DAMAGED["superblock"]], "superblock.h5")),
    ("runs-show-flipped-byte", _flipped_case),
    ("runs-show-minus-zero", _expect_error(["runs", "show", _GOOD, "-0"], "-0")),
    ("runs-show-out-of-range", _expect_error(["runs", "show", _GOOD, "-99"], "-99")),
    ("runs-show-unknown", _expect_error(["runs", "show", _GOOD, "zzzz"], "zzzz")),
    ("runs-show-empty-id", _expect_error(["runs", "show", _GOOD, ""], "run id")),
    ("runs-plot-empty-id", _expect_error(["runs", "plot", _GOOD, " ", "-o", os.path.join(_TMP, "p.png")], "run id")),
    ("runs-merge-into-itself", _expect_error(["runs", "merge", _GOOD, _GOOD], "itself")),
    ("runs-list-directory", _expect_error(["runs", "list", _TMP], "directory")),
    ("runs-plot-last-zero", _expect_error(["runs", "plot", _GOOD, "--last", 0, "-o", os.path.join(_TMP, "p.png")],
                                          "--last")),
    ("runs-plot-last-negative", _expect_error(["runs", "plot", _GOOD, "--last", -1, "-o",
                                               os.path.join(_TMP, "p.png")], "--last")),
    # valid answers, checked
    ("runs-list-json-nan-time", _json_case(["runs", "list", _NAN, "--json"],
                                           lambda rows: len(rows) == 1 and rows[0]["time_s"] is None)),
    ("runs-show-json-nan-history", _json_case(["runs", "show", _NAN, "-1", "--json"],
                                              lambda info: info["stats"]["time_s"] is None
                                              and info["run_id"] == _NAN_IDS[0])),
    ("runs-list-json-good", _json_case(["runs", "list", _GOOD, "--json"],
                                       lambda rows: [r["run_id"] for r in rows] == _GOOD_IDS
                                       and rows[1]["nit"] == 4)),
    ("runs-list-json-empty", _json_case(["runs", "list", _EMPTY, "--json"], lambda rows: rows == [])),
    ("runs-show-json-latest", _json_case(["runs", "show", _GOOD, "-1", "--json"],
                                         lambda info: info["run_id"] == _GOOD_IDS[-1] and info["nit"] == 5)),
    ("solve-poisson-small-verified", _solve_poisson_verified),
]

__all__ = ["CASES"]
