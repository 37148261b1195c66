"""Hostile-input run: every case in ``tests/hostile/cases_*.py``, counted by outcome.

Outcomes: ``clear_error`` (a ValueError/TypeError/... naming the argument), ``verified`` (an
answer whose claimed accuracy the case checked independently), ``wrong`` (claimed success
that failed the check, or an unclear error), ``crash`` (the process died: segfault, abort,
an exception other than the ones a case maps), ``hang`` (over the time limit).

Cases run in a worker subprocess, one module at a time, one case after another; the
worker prints one JSON line per case. When a case kills the worker or runs past the
limit, the runner records it and starts a fresh worker at the next case, so one crash
never hides the rest.

    python benchmarks/hostile.py                 # all cases, writes benchmarks/results/hostile.json
    python benchmarks/hostile.py --timeout 20 --only krylov
    python benchmarks/hostile.py --jobs 2        # two modules at a time (one kernel thread each)
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES_DIR = ROOT / "tests" / "hostile"
OUTCOMES = ("clear_error", "verified", "wrong", "crash", "hang")


def case_modules(only=None):
    mods = sorted(CASES_DIR.glob("cases_*.py"))
    if only:
        mods = [m for m in mods if any(o in m.stem for o in only)]
    return mods


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def worker(path: str, start: int) -> None:
    """Run the cases of one module from index ``start``; one JSON line each (flushed)."""
    import warnings

    warnings.simplefilter("ignore")
    mod = _load(Path(path))
    for i, (name, fn) in enumerate(mod.CASES):
        if i < start:
            continue
        print(json.dumps({"i": i, "name": name, "event": "start"}), flush=True)
        t = time.perf_counter()
        try:
            out = fn()
            detail = ""
            if isinstance(out, tuple):
                out, detail = out[0], str(out[1])
            if out not in ("clear_error", "verified", "wrong"):
                detail, out = f"case returned {out!r}", "wrong"
        except (ValueError, TypeError, MemoryError, KeyError, OSError) as exc:
            # an error the case did not map itself: clear if it names something, else wrong; raised in the
            # case module itself (a call that never reached the library) it is a harness error, counted wrong
            # so it cannot pass as a clear error (36 OT cases and 2 store/CLI cases did, before 2026-12-01)
            inner = traceback.extract_tb(exc.__traceback__)[-1].filename
            if Path(inner).resolve() == Path(path).resolve():
                out, detail = "wrong", f"harness error: {type(exc).__name__}: {exc}"[:300]
            else:
                out, detail = ("clear_error" if len(str(exc)) > 20 else "wrong"), f"{type(exc).__name__}: {exc}"[:300]
        except BaseException as exc:  # anything else escaping is a crash of the library's contract
            out, detail = "crash", f"{type(exc).__name__}: {exc}"[:300]
        print(json.dumps({"i": i, "name": name, "event": "done", "outcome": out, "detail": detail,
                          "seconds": round(time.perf_counter() - t, 3)}), flush=True)


def run_module(path: Path, timeout: float, threads: str | None = None) -> list[dict]:
    import queue
    import threading

    n = len(_load(path).CASES)
    results, start = [], 0
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if threads is not None:
        env["NEWTONKIT_NUM_THREADS"] = threads
    while start < n:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", str(path), str(start)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()

        def pump(stream=proc.stdout, q=lines):
            for ln in stream:
                q.put(ln)
            q.put(None)   # end of output: the worker exited

        threading.Thread(target=pump, daemon=True).start()
        current, deadline = None, time.monotonic() + timeout + 30    # the first case pays imports and JIT
        finished = False
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                proc.kill()
                proc.wait()
                i = current["i"] if current else start
                results.append({"module": path.stem, "i": i, "name": current["name"] if current else f"#{i}",
                                "outcome": "hang", "detail": f"over {timeout} s"})
                start = i + 1
                break
            if line is None:
                proc.wait()
                if current is not None:
                    err = proc.stderr.read()[-500:]
                    results.append({"module": path.stem, "i": current["i"], "name": current["name"],
                                    "outcome": "crash", "detail": f"worker died (rc {proc.returncode}): {err}"})
                    start = current["i"] + 1
                else:
                    finished = True
                break
            ev = json.loads(line)
            if ev["event"] == "start":
                current = ev
                deadline = time.monotonic() + timeout + (30 if ev["i"] == start else 0)
            else:
                results.append({"module": path.stem, **{k: ev[k] for k in ("i", "name", "outcome", "detail",
                                                                            "seconds")}})
                current = None
        if finished:
            break
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    ap.add_argument("--only", nargs="*", help="substrings of case-module names")
    ap.add_argument("--jobs", type=int, default=1,
                    help="case modules run at a time, each in its own worker (with --jobs > 1 each worker gets "
                         "NEWTONKIT_NUM_THREADS=1 unless it is set, so the workers do not contend for cores)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "hostile.json"))
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    if args.jobs < 1:
        ap.error(f"--jobs must be >= 1, got {args.jobs}")
    t0 = time.time()
    mods = case_modules(args.only)
    if args.jobs == 1:
        allres = [r for path in mods for r in run_module(path, args.timeout)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        threads = os.environ.get("NEWTONKIT_NUM_THREADS", "1")
        big_first = sorted(mods, key=lambda m: -len(_load(m).CASES))     # a rough balance of the workers
        with ThreadPoolExecutor(args.jobs) as pool:
            done = dict(zip(big_first, pool.map(lambda m: run_module(m, args.timeout, threads), big_first)))
        allres = [r for path in mods for r in done[path]]                 # the report in module order
    counts = collections.Counter(r["outcome"] for r in allres)
    by_module = {}
    for r in allres:
        by_module.setdefault(r["module"], collections.Counter())[r["outcome"]] += 1
    report = {"total": len(allres), "counts": {k: counts.get(k, 0) for k in OUTCOMES},
              "by_module": {m: {k: c.get(k, 0) for k in OUTCOMES} for m, c in by_module.items()},
              "bad": [r for r in allres if r["outcome"] in ("wrong", "crash", "hang")],
              "seconds": round(time.time() - t0, 1), "cases": allres}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: report[k] for k in ("total", "counts", "by_module", "seconds")}, indent=1))
    for r in report["bad"]:
        print(f"  {r['outcome']:6s} {r['module']}:{r['name']}: {r.get('detail', '')[:200]}")
    return 1 if report["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
