"""RunStore scaling: does a save cost O(the run) rather than O(the store)? And how long does
listing a store of 10,000 runs take?

Measured in one process, same data, same disk:

* ``directory``: ``RunStore("runs/")``, N saves of a 1 MB run (131,072 float64), per-save times;
* ``single_file``: ``RunStore("runs.h5")`` (runs go to the sidecar ``runs.h5.d/``), same saves,
  plus the one compaction into the file when the store is closed;
* ``copy_per_save`` (the peer: the previous design): every save copies the whole store file,
  adds the run, ``fsync``\\ s and renames (``solvers.runs._single.rewrite``); fewer saves, as it is
  quadratic.

For each: median of the first and of the last 100 saves (10% of N in --quick) and their ratio
(target <= 1.5: flat), total seconds, and the bytes each save caused to be written to storage
(``/proc/self/io``, Linux): a load-independent check that a save writes O(the run). Saves are durable (``fsync``) as
by default. Then ``listing``: ``list()`` of a directory store and of a single file holding
10,000 small runs (target < 1 s; median of 5).

Usage: ``python benchmarks/store_scaling.py [--quick] [--dir TMPDIR]`` (the full run needs about
7 GB of free disk in TMPDIR and several minutes); writes ``benchmarks/results/store_scaling.json``
(``store_scaling_quick.json`` with --quick).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NEWTONKIT_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _machine import machine_info  # noqa: E402
import solvers  # noqa: E402
from solvers.runs import RunStore  # noqa: E402
from solvers.runs import _files, _runfile, _single  # noqa: E402

MB_FLOATS = 131_072


def make_result(i: int, n: int) -> solvers.SolveResult:
    x = np.random.default_rng(i).standard_normal(n)
    return solvers.SolveResult(x, True, "converged", "ok", 20, history={"residual": np.geomspace(1, 1e-8, 21)},
                               stats={"time_s": 0.1}, method="cg", backend="numpy", options={"rtol": 1e-8})


def io_bytes() -> int | None:
    """Bytes this process has caused to be written to storage (Linux ``/proc/self/io``), else None.

    Unlike times, this does not depend on the load of a shared machine: it shows directly
    whether a save writes O(the run) or O(the store)."""
    try:
        with open("/proc/self/io") as fh:
            for line in fh:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def summarise(times: list[float], window: int, written: list) -> dict:
    first, last = statistics.median(times[:window]), statistics.median(times[-window:])
    out = {"saves": len(times), "window": window, "median_first_s": first, "median_last_s": last,
           "ratio_last_first": last / first, "total_s": sum(times), "max_s": max(times),
           "per_save_s": [round(t, 6) for t in times]}
    if None not in written:
        wf, wl = statistics.median(written[:window]), statistics.median(written[-window:])
        out.update({"median_first_bytes_written": wf, "median_last_bytes_written": wl,
                    "bytes_ratio_last_first": wl / wf if wf else None, "per_save_bytes_written": written})
    return out


def bench_store(path: Path, n: int, window: int) -> dict:
    res = make_result(0, MB_FLOATS)
    times, written = [], []
    store = RunStore(path)
    for i in range(n):
        b = io_bytes()
        t = time.perf_counter()
        store.save(res, tags={"i": i})
        times.append(time.perf_counter() - t)
        written.append(None if b is None else io_bytes() - b)
    out = summarise(times, window, written)
    t = time.perf_counter()
    store.close()                              # single file: compaction into the file
    out["close_s"] = time.perf_counter() - t
    out["bytes_on_disk"] = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size
    out["bytes_per_run"] = out["bytes_on_disk"] / n
    with RunStore(path, "r") as s:
        assert len(s) == n
    return out


def bench_copy_per_save(path: Path, n: int, window: int) -> dict:
    """The previous design: each save rewrites a copy of the whole store file."""
    res = make_result(0, MB_FLOATS)
    lock = path.with_name(path.name + ".lock")
    times, written = [], []
    for i in range(n):
        b = io_bytes()
        t = time.perf_counter()
        payload = _runfile.Payload(res, None, {"i": i})

        def write(f, payload=payload):
            rid = _files.new_run_id()
            _runfile.write_group(f["runs"].create_group(rid, track_order=True), payload, rid)

        with _files.Lock(lock):
            _single.rewrite(path, write, True)
        times.append(time.perf_counter() - t)
        written.append(None if b is None else io_bytes() - b)
    return summarise(times, window, written)


def bench_listing(folder: Path, n: int) -> dict:
    d = folder / "many"
    res = make_result(1, 16)
    t = time.perf_counter()
    with RunStore(d, durable=False) as s:
        for i in range(n):
            s.save(res, tags={"i": i, "group": i % 7})
    build = time.perf_counter() - t

    def timed(path):
        ts = []
        for _ in range(5):
            with RunStore(path, "r") as s:
                t = time.perf_counter()
                rows = s.list()
                ts.append(time.perf_counter() - t)
            assert len(rows) == n
        return statistics.median(ts)

    out = {"runs": n, "build_s": build, "directory_list_s": timed(d)}
    f = folder / "many.h5"
    t = time.perf_counter()
    with RunStore(f, durable=False) as s:
        s.merge([d])
    out["merge_into_file_s"] = time.perf_counter() - t
    out["single_file_list_s"] = timed(f)
    (d / "index.jsonl").unlink()
    with RunStore(d, "r") as s:
        t = time.perf_counter()
        assert len(s.list()) == n
        out["directory_list_without_index_s"] = time.perf_counter() - t
    with RunStore(d) as s:
        t = time.perf_counter()
        s.reindex()
        out["reindex_s"] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (< 30 s)")
    ap.add_argument("--dir", default=None, help="where the stores are written (default: a temporary directory)")
    args = ap.parse_args()
    n, n_copy, n_list = (60, 25, 150) if args.quick else (3000, 300, 10_000)
    window = max(10, n // 10) if args.quick else 100
    base = Path(tempfile.mkdtemp(prefix="store_scaling_", dir=args.dir))
    report = {"benchmark": "store_scaling", "quick": args.quick, "machine": machine_info(),
              "run_bytes": MB_FLOATS * 8, "durable": True}
    try:
        t0 = time.perf_counter()
        report["directory"] = bench_store(base / "runs", n, window)
        shutil.rmtree(base / "runs")
        report["single_file"] = bench_store(base / "runs.h5", n, window)
        (base / "runs.h5").unlink()
        report["copy_per_save"] = bench_copy_per_save(base / "old.h5", n_copy, max(5, n_copy // 10))
        (base / "old.h5").unlink()
        report["listing"] = bench_listing(base, n_list)
        report["seconds"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(base, ignore_errors=True)
    d, s, c = report["directory"], report["single_file"], report["copy_per_save"]
    report["summary"] = {
        "directory_ratio_last_first": d["ratio_last_first"],
        "single_file_ratio_last_first": s["ratio_last_first"],
        "copy_per_save_ratio_last_first": c["ratio_last_first"],
        "target_ratio": 1.5,
        "single_file_compaction_s": s["close_s"],
        "copy_per_save_last_vs_directory_last": c["median_last_s"] / d["median_last_s"],
        "bytes_written_ratio_last_first": {k: report[k].get("bytes_ratio_last_first")
                                           for k in ("directory", "single_file", "copy_per_save")},
        "list_directory_s": report["listing"]["directory_list_s"],
        "list_single_file_s": report["listing"]["single_file_list_s"],
        "target_list_s": 1.0,
    }
    out = Path(__file__).parent / "results" / ("store_scaling_quick.json" if args.quick else "store_scaling.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    print(f"wrote {out} ({report['seconds']:.1f} s)")


if __name__ == "__main__":
    main()
