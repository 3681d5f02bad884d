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


def cdf_parts(waits_ns) -> tuple[np.ndarray, np.ndarray, float, int]:
    """The empirical CDF of waits (ns) for a log axis: (x, y, zero, n) with x the positive
    waits in µs, sorted, y the fraction of all waits ≤ each (zero-length ones included),
    ``zero`` the fraction of waits of exactly 0 ns (a log axis cannot place them) and n
    the number of waits."""
    v = np.sort(np.asarray(waits_ns, np.float64))
    n = len(v)
    zeros = int(np.searchsorted(v, 0.0, side="right"))
    x = v[zeros:] / 1e3
    y = (zeros + np.arange(1, len(x) + 1)) / max(n, 1)
    return x, y, (zeros / n if n else 0.0), n


def thin_indices(n: int, points: int = 3000, tail: int = 1000) -> np.ndarray:
    """Indices of at most about ``points`` of ``n`` sorted values to draw: every one of the
    last ``tail`` (the tail of a CDF) and evenly spaced ranks below."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - tail - 1, points - tail).astype(np.int64), np.arange(n - tail, n)])


#: how a series' waits of 0 ns are marked at the left edge of a log axis
ZERO_MARK = "o"


def draw_wait_cdf(ax, waits_ns, label: str, thin: bool = False, **style) -> dict | None:
    """Draw the CDF of ``waits_ns`` (a step curve over the positive waits, log x in µs) on
    ``ax``; the legend gives the count and, when some waits last 0 ns, their share (they
    are drawn at the axis' left edge by :func:`style_wait_cdf`, marked ``o``). Returns what
    style_wait_cdf needs (None for no waits)."""
    x, y, zero, n = cdf_parts(waits_ns)
    if n == 0:
        ax.plot([], [], label=f"{label} (no waits)", **style)
        return None
    text = f"{label} (n={n:,})" + (f", {zero:.1%} of 0 ns (o at the left edge)" if zero else "")
    if thin:
        i = thin_indices(len(x))
        x, y = x[i], y[i]
    line, = ax.step(x, y, where="post", label=text, **style) if len(x) else ax.plot([], [], label=text, **style)
    return {"zero": zero, "first": float(x[0]) if len(x) else None, "color": line.get_color(),
            "ls": style.get("ls", "-")}


def style_wait_cdf(ax, title: str, drawn=(), what: str = "wait time (µs, runnable to running)",
                   of: str = "waits") -> None:
    """The axes of a wait-time CDF: log x in µs, fraction of waits on y (``what`` and ``of``
    name the x axis and the things counted: span latencies use the same axes). ``drawn``:
    what draw_wait_cdf returned for each series; the left edge lies below the shortest
    positive value (at most 0.1 µs), and a series with values of 0 ns starts there at their
    share, marked."""
    drawn = [d for d in drawn if d is not None]
    firsts = [d["first"] for d in drawn if d["first"] is not None]
    left = min([0.1] + [f / 2 for f in firsts])
    for d in drawn:
        if d["zero"]:
            right = d["first"] if d["first"] is not None else left * 10
            ax.plot([left, right], [d["zero"], d["zero"]], color=d["color"], ls=d["ls"], lw=1.4)
            ax.plot([left], [d["zero"]], ZERO_MARK, color=d["color"], ms=5, clip_on=False)
    ax.set_xscale("log")
    ax.set_xlim(left=left)
    ax.set_xlabel(what)
    ax.set_ylabel(f"fraction of {of} ≤ x")
    ax.set_ylim(0, 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)


def wait_cdf(series: dict[str, np.ndarray], path: str | Path, title: str = "wait time CDF") -> Path:
    """Write the empirical CDF of each named array of waits (ns) to ``path`` (PNG, SVG or PDF by
    suffix), log x axis in microseconds. Empty series are listed in the legend as such; waits
    of 0 ns are counted in the legend and drawn at the left edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    drawn = [draw_wait_cdf(ax, v, label) for label, v in series.items()]
    style_wait_cdf(ax, title, drawn)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
