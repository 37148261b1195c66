"""Convergence plots of stored runs grouped by a field (``newtonkit runs plot --by``); Agg only,
no display needed. Imports matplotlib on use."""
from __future__ import annotations

import importlib.util

import numpy as np


def plot_groups(curves, path: str, title: str, ylabel: str) -> bool:
    """Semilogy plot of ``curves`` = [(group, values)]: one colour and one legend entry per group."""
    if importlib.util.find_spec("matplotlib") is None:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    groups = list(dict.fromkeys(g for g, _ in curves))
    colours = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    counts = {g: sum(1 for h, _ in curves if h == g) for g in groups}
    seen = set()
    for g, values in curves:
        v = np.asarray(values, dtype=float)
        v = np.where(v > 0, v, np.nan)
        ax.semilogy(np.arange(v.size), v, color=colours[g], alpha=0.8 if counts[g] < 10 else 0.35, lw=1.2,
                    label=None if g in seen else f"{g} ({counts[g]} runs)")
        seen.add(g)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=110)
    return True


__all__ = ["plot_groups"]
