"""Plots (matplotlib, headless): wait-time CDFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def wait_cdf(series: dict[str, np.ndarray], path: str | Path, title: str = "wait time CDF") -> Path:
    """Write the empirical CDF of each named array of waits (ns) to ``path`` (PNG, SVG or PDF by
    suffix), log x axis in microseconds. Empty series are listed in the legend as such."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, v in series.items():
        v = np.sort(np.asarray(v, np.float64)) / 1e3
        if len(v) == 0:
            ax.plot([], [], label=f"{label} (no waits)")
            continue
        v = np.maximum(v, 0.1)  # a log axis cannot show 0 us; sub-0.1 us waits sit at its left edge
        y = np.arange(1, len(v) + 1) / len(v)
        ax.step(v, y, where="post", label=f"{label} (n={len(v):,})")
    ax.set_xscale("log")
    ax.set_xlabel("wait time (µs, runnable to running)")
    ax.set_ylabel("fraction of waits ≤ x")
    ax.set_ylim(0, 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
