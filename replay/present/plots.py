"""Plots (matplotlib, headless): wait-time CDFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fmt_ns(v, sep: str = " ") -> str:
    """A duration in ns with a readable unit (``sep`` between number and unit)."""
    if v is None:
        return "-"
    v = float(v)
    for scale, unit, f in ((1e9, "s", "{:.3f}"), (1e6, "ms", "{:.2f}"), (1e3, "µs", "{:.1f}")):
        if abs(v) >= scale:
            return f.format(v / scale) + sep + unit
    return f"{v:.0f}{sep}ns"


def wait_cdf_points(waits_ns) -> np.ndarray:
    """Sorted waits in µs for a log axis (which cannot show 0: sub-0.1 µs waits sit at its left edge)."""
    return np.maximum(np.sort(np.asarray(waits_ns, np.float64)) / 1e3, 0.1)


def style_wait_cdf(ax, title: str) -> None:
    """The axes of a wait-time CDF: log x in µs, fraction of waits on y."""
    ax.set_xscale("log")
    ax.set_xlabel("wait time (µs, runnable to running)")
    ax.set_ylabel("fraction of waits ≤ x")
    ax.set_ylim(0, 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)


def wait_cdf(series: dict[str, np.ndarray], path: str | Path, title: str = "wait time CDF") -> Path:
    """Write the empirical CDF of each named array of waits (ns) to ``path`` (PNG, SVG or PDF by
    suffix), log x axis in microseconds. Empty series are listed in the legend as such."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, v in series.items():
        v = wait_cdf_points(v)
        if len(v) == 0:
            ax.plot([], [], label=f"{label} (no waits)")
            continue
        y = np.arange(1, len(v) + 1) / len(v)
        ax.step(v, y, where="post", label=f"{label} (n={len(v):,})")
    style_wait_cdf(ax, title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
