"""Shared output of the ``newtonkit`` commands: numbers, tables, progress callbacks, plots.

Nothing here knows a problem kind; it formats results and runs.
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
import textwrap
import time
from typing import Sequence

import numpy as np

import solvers


# ------------------------------------------------------------------------------ numbers and tables
def fmt(v) -> str:
    """A value for a table cell: ``-`` for None/NaN, yes/no, integers, 3 significant digits."""
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "-"
        return f"{v:.3g}" if (v == 0 or 1e-3 <= abs(v) < 1e4) else f"{v:.2e}"
    return str(v)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """Plain-text table: ``columns`` is a list of (key, header)."""
    cells = [[h for _, h in columns]] + [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rel_residual(res, bnorm=None) -> float | None:
    """Last residual relative to ``bnorm`` (``||b||``, what ``rtol`` is measured against; default
    ``res.stats["rhs_norm"]``) when given and positive, else to the first (the absolute one when the first is zero; None when the reference overflowed to
    infinity, as ``||b||`` of entries near 1e308 does: no ratio can be read from it). From a start other than
    zero (``x0``, or multigrid's FMG start) the first residual is that start's, not ``||b||``."""
    h = res.history.get("residual")
    if h is None or h.size == 0:
        return None
    if bnorm is None:
        bnorm = res.stats.get("rhs_norm")          # recorded by the CLI's linear solves
    ref = bnorm if (bnorm is not None and bnorm > 0) else h[0]
    if not np.isfinite(ref):
        return None
    return float(h[-1] / ref) if ref > 0 else float(h[-1])


def normalised(h):
    """A history relative to its first value (unchanged when that is not positive)."""
    if h is None or len(h) == 0:
        return np.zeros(0)
    h = np.asarray(h, dtype=float)
    return h / h[0] if 0 < h[0] < np.inf else h


def print_result(res, extra_lines=()) -> None:
    """The summary of one solve: method, backend, convergence, iterations, time, residual."""
    rows = [("method", res.method), ("backend", res.backend), ("converged", res.converged),
            ("status", res.status), ("iterations", res.nit), ("time [s]", res.stats.get("time_s")),
            ("rel. residual", rel_residual(res))]
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k.ljust(w)}  {fmt(v)}")
    for line in extra_lines:
        print(line)
    if not res.converged:
        print(f"message: {res.message}")


# ------------------------------------------------------------------------------ progress
class Progress:
    """A solver callback (``callback(intermediate_result)``) that shows a tqdm bar.

    The bar appears once a solve has run for ``delay`` seconds; tqdm is imported
    on the first update after the delay, so short solves never import it. The bar
    follows ``intermediate_result.nit`` (or counts calls when a routine passes no
    ``nit``). Pass it as ``callback=`` to any routine; it never stops a solve.
    """

    def __init__(self, desc: str, delay: float = 0.5):
        self.desc, self.delay = desc, delay
        self.n = 0
        self.t0 = time.perf_counter()
        self.bar = None

    def __call__(self, intermediate_result) -> None:
        nit = getattr(intermediate_result, "nit", None)
        self.n = self.n + 1 if nit is None else int(nit)
        if self.bar is not None:
            self.bar.update(self.n - self.bar.n)
        elif time.perf_counter() - self.t0 >= self.delay:
            from tqdm import tqdm

            self.bar = tqdm(desc=self.desc, initial=self.n, unit="it", leave=False, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def progress(desc: str, enabled: bool) -> Progress | None:
    """A :class:`Progress` when enabled, stderr is a terminal and tqdm is installed; else None."""
    if not enabled or not sys.stderr.isatty() or importlib.util.find_spec("tqdm") is None:
        return None
    return Progress(desc)


def solve_with_progress(problem, desc: str, show: bool, **kwargs):
    """``solvers.solve(problem, **kwargs)`` with a progress bar when :func:`progress` gives one."""
    bar = progress(desc, show)
    if bar is None:
        return solvers.solve(problem, **kwargs)
    try:
        return solvers.solve(problem, callback=bar, **kwargs)
    finally:
        bar.close()


# ------------------------------------------------------------------------------ JSON
def json_safe(v):
    """``v`` with NaN and +-inf replaced by None (JSON has no such numbers), arrays and NumPy scalars as
    plain values, recursively; the result dumps with ``allow_nan=False``."""
    if isinstance(v, dict):
        return {str(k): json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [json_safe(x) for x in v]
    if isinstance(v, np.ndarray):
        return json_safe(v.tolist()) if v.size <= 16 else f"<array shape={v.shape} dtype={v.dtype}>"
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, complex):
        return [json_safe(v.real), json_safe(v.imag)]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def dumps(v) -> str:
    """Strict JSON (no bare NaN / Infinity) of ``v``."""
    return json.dumps(json_safe(v), indent=1, allow_nan=False)


# ------------------------------------------------------------------------------ output paths
def check_writable(path: str, flag: str, *, directory: bool = False) -> None:
    """Refuse an output ``path`` that cannot be written, before any work (a solve ran to the end and then
    failed with a raw errno line on ``--store /proc/x``; outside probe helper-78): its folder must exist, a
    file output must not be a folder, and a file must be creatable there (a probe file, removed at once:
    permission bits alone do not tell, e.g. under /proc or on a read-only mount). ``directory``: ``path`` is
    a folder the output goes into (made when missing: then its parent is probed)."""
    import os
    import tempfile

    from . import UsageError

    target = os.path.abspath(path)
    if directory and os.path.isdir(target):
        folder = target
    else:
        if not directory and os.path.isdir(target):
            raise UsageError(f"{flag} {path}: is a folder; give a file name")
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            raise UsageError(f"{flag} {path}: the folder {folder!r} does not exist; create it first")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".newtonkit-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create files in {folder!r} ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------ plots
def check_plot_path(path: str, flag: str) -> None:
    """Refuse a plot file whose extension matplotlib cannot write, before any work (the demo ran every case
    first); nothing to check without matplotlib (the plot is then skipped with a note)."""
    import os

    from . import UsageError

    if not path:
        return
    check_writable(path, flag)
    if importlib.util.find_spec("matplotlib") is None:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    ext = os.path.splitext(path)[1][1:].lower()
    kinds = FigureCanvasBase.get_supported_filetypes()
    if ext and ext not in kinds:
        raise UsageError(f"{flag} {path}: matplotlib cannot write .{ext} files; use one of "
                         f"{', '.join('.' + k for k in sorted(kinds))}")


def plot_histories(curves, path: str, title: str = "", ylabel: str = "relative residual",
                   panels: Sequence[str] | None = None, titles: dict | None = None,
                   ylabels: dict | None = None) -> bool:
    """Semilogy plot of history series; ``curves`` = [(panel, label, values)]. False without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = list(panels or dict.fromkeys(c[0] for c in curves))
    # a panel whose runs have no positive history value (the demo's lattice: a build, no iterations) stays out:
    # it was drawn as an empty frame (helper-103)
    filled = {c[0] for c in curves if np.any(np.asarray(c[2], dtype=float) > 0)}
    panels = [p for p in panels if p in filled] or panels[:1]
    fig = Figure(figsize=(6.4 * len(panels), 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels):
        for pnl, label, values in curves:
            if pnl != panel:
                continue
            v = np.asarray(values, dtype=float)
            v = np.where(v > 0, v, np.nan)
            ax.semilogy(np.arange(v.size), v, label=label, marker="." if v.size < 60 else None)
        ax.set_xlabel("iteration")
        ax.set_ylabel(textwrap.fill((ylabels or {}).get(panel, ylabel), 45))
        label = textwrap.fill((titles or {}).get(panel, panel), 70)
        ax.set_title(label if not title else f"{title}\n{label}", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=110)
    return True


def printable(text) -> str:
    """``text`` with its control characters as backslash escapes: stored strings (messages, methods, tags, stats
    keys) come from whoever wrote the store, and an escape sequence in them would act on the reader's terminal
    (retitle it, clear it; outside probe helper-85) or break a table's row (a newline)."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def numeric_history(history: dict, key):
    """The history ``key`` when it is an array of numbers; None when there is none or it is text."""
    h = history.get(key) if key is not None else None
    numeric = getattr(getattr(h, "dtype", None), "kind", "") in ("b", "i", "u", "f")
    return h if numeric and np.ndim(h) == 1 and np.size(h) else None   # 0-d or 2-D crashed `runs plot` (helper-147)


def why_not_plotted(history: dict, key) -> str:
    """Why ``history[key]`` cannot be plotted: missing, not a 1-D series, or not numbers."""
    if key not in history:
        return f"no history {key!r}"
    shape = np.shape(history[key])
    if len(shape) != 1:
        return f"history {key!r} of shape {shape}, not a 1-D series"
    return f"an empty history {key!r}" if shape[0] == 0 else f"no numeric history {key!r}"


def describe_history(v) -> str:
    """One line for a stored history: its count, first and last value; the shape of one that is not a series
    (`runs show` crashed on a 0-d history saved by a caller; helper-147)."""
    v = np.asarray(v)
    if v.ndim != 1:
        return f"not a 1-D series: array shape={v.shape} dtype={v.dtype}"
    return f"{v.size} values, first {fmt(v[0])}, last {fmt(v[-1])}" if v.size else "empty"


__all__ = ["check_writable", "fmt", "numeric_history", "describe_history", "why_not_plotted", "format_table", "rel_residual", "normalised", "print_result",
           "Progress", "progress", "solve_with_progress", "plot_histories", "json_safe", "dumps", "printable"]
