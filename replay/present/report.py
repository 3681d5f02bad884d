"""The HTML report of a comparison: one self-contained file.

>>> from replay import compare
>>> from replay.present.report import write_report
>>> write_report(compare(trace, topologies=(None, "2x8x2")), "report.html")

The report renders a :class:`replay.study.comparison.Comparison` as it is: every number,
table and plot comes from its runs' plain data (metrics, per-task tables, waits, per-CPU
utilisation); nothing is measured again. Given only ``Comparison.to_dict()`` (what
``compare --json`` prints), it has the tables without the plots.

The file needs nothing but a browser: CSS is inline, every plot is an inline
SVG drawn by matplotlib (rasters inside it, like the utilisation heatmaps, are
``data:`` PNGs), there is no script and no reference to any other file or
address. It holds, in order:

* when the trace has application spans (markers, ``--spans``), first, per span name (the
  three with the most spans) every run's latency with the replay's own error, what the
  span's thread went through, and the latency CDF of each run per machine;
* with ``--focus``, the the selected tasks' own figures (FOCUS_COLUMNS, with their own
  errors in the validation replay) and where each run's longest wait of theirs happened;
* the comparison table (replay.present.tables.COMPARE_COLUMNS, with the replay's own
  validation error beside every counterfactual figure and the change against the
  recording); each number cell carries the exact JSON value in ``data-value`` and its
  key in ``data-key``;
* the validation block (the recorded policy replayed on the recorded machine
  against the recording: the error bar of every figure);
* wait-time CDFs, one plot per machine, every policy on it (log x; waits of 0 ns, which a
  log axis cannot place, are counted in the legend and marked at the left edge), and
  where the longest waits of each run happened (task, CPU, time in the trace's clock);
* per run, the busiest tasks (top 15 by CPU time): CPU time and time spent
  waiting, and a table of their wait percentiles (TASK_COLUMNS);
* per run, per-CPU utilisation over time (a heatmap: CPUs x time buckets);
* NUMA locality per run: home-node share of CPU time, cross-node migrations;
* the parameters of each run (values that differ from the default marked);
* every run's warnings, and the comparison as JSON
  (``<script type="application/json" id="compare-data">``, data only).
"""

from __future__ import annotations

import html
import io
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from ..study.comparison import Comparison
from ..study.runs import OBSERVED, Run
from ..model.prepared import label_of
from ..study.validation import SPAN_NAMES_JUDGED, figure_verdict, span_names
from .plots import draw_wait_cdf, fmt_ns, style_wait_cdf
from .tables import (COMPARE_COLUMNS, FOCUS_COLUMNS, TASK_COLUMNS, WAIT_SITE_COLUMNS, comparable_base, error_value_text,
                     fmt_change, fmt_fraction, get as _get, seed_noise, site_rows, span_columns, unrecorded_note,
                     validation_rows)

TOP_TASKS = 15
TIME_BUCKETS = 240

# One colour per policy, the same in every plot.
_COLORS = {OBSERVED: "#222222", "cfs": "#1f77b4", "eevdf": "#d62728", "infinity": "#2ca02c"}
_EXTRA = ("#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")

_CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #d9dce1; --bg: #ffffff; --head: #f3f4f6; --good: #137333;
        --bad: #b3261e; --accent: #1a56db; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; overflow-wrap: anywhere; }
@media (max-width: 600px) { body { padding: 12px 10px 40px; } h1 { font-size: 20px; } }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.lead, p.note, .muted { color: var(--muted); }
p.note { font-size: 13px; margin: 4px 0 10px; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", monospace; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: right; white-space: nowrap; }
table.compare { font-size: 13px; }
table.compare .sub { display: block; line-height: 1.1; }
th { background: var(--head); font-weight: 600; }
td.l, th.l { text-align: left; }
tr.observed td { background: #fafafa; font-weight: 600; }
.err { color: var(--muted); font-size: 12px; }
.err.rough, .verdict.rough { color: #8a5300; }
.err.unreliable, .verdict.unreliable { color: var(--bad); font-weight: 600; }
.verdict.good { color: var(--good); }
.banner { border: 2px solid var(--bad); background: #fdecea; padding: 8px 12px; border-radius: 6px; margin: 10px 0; }
p.verdict-line { font-size: 15px; }
.up { color: var(--bad); font-size: 12px; }
.down { color: var(--good); font-size: 12px; }
.flat { color: var(--muted); font-size: 12px; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(540px, 100%), 1fr)); gap: 14px 18px; }
.grid > * { min-width: 0; }
.scroll { overflow-x: auto; max-width: 100%; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card h3 { margin-top: 2px; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; display: block; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
nav { line-height: 1.8; }
.kv div:nth-child(odd) { color: var(--muted); }
.diff { background: #fff4ce; font-weight: 600; }
.warn { color: #8a5300; }
details > summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


# -- formatting -----------------------------------------------------------------------

def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _ns(v) -> str:
    return "—" if v is None else fmt_ns(v)


def _color(policy: str, i: int = 0) -> str:
    return _COLORS.get(policy, _EXTRA[i % len(_EXTRA)])


def _label(run: dict) -> str:
    return f"{run['policy']} @ {run['topology']}"


def _run_id(run: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{run['policy']}-{run['topology']}").strip("-")


# -- plots ------------------------------------------------------------------------------

class _Figures:
    """matplotlib figures rendered as inline SVG with ids unique in the page."""

    def __init__(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.plt = plt
        self.n = 0

    def new(self, *args, **kw):
        return self.plt.subplots(*args, **kw)

    def svg(self, fig, alt: str) -> str:
        """The figure as an ``<svg>`` element (text kept as text, no XML prolog, no
        namespace or metadata addresses), ids prefixed so that several SVGs can share a page."""
        import matplotlib

        self.n += 1
        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"sr{self.n}"}):
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
        self.plt.close(fig)
        s = buf.getvalue()
        s = s[s.index("<svg"):]
        s = re.sub(r"<metadata>.*?</metadata>", "", s, flags=re.S)
        s = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", s)
        s = re.sub(r'\s+version="1\.1"', "", s, count=1)
        pre = f"f{self.n}-"
        ids = set(re.findall(r'\sid="([^"]+)"', s))
        if ids:
            seen: dict[str, int] = {}

            def unique(m):  # identical rasters get the same id from matplotlib: number the repeats
                k = seen[m.group(2)] = seen.get(m.group(2), -1) + 1
                return f'{m.group(1)}{pre}{m.group(2)}{f"-{k}" if k else ""}"'

            s = re.sub(r'(\sid=")([^"]+)"', unique, s)
            s = re.sub(r'#([A-Za-z0-9_.:-]+)', lambda m: f"#{pre}{m.group(1)}" if m.group(1) in ids else m.group(0), s)
        s = s.replace("<svg", f'<svg role="img" aria-label="{_esc(alt)}"', 1)
        return f"<figure>{s}</figure>"


def _cdf_svg(figs: _Figures, series: list[tuple[str, str, str, np.ndarray]], title: str, **axes) -> str:
    """Wait-time CDF (log x, µs) of each (label, colour, linestyle, waits ns), thinned to
    about 3 000 points per series (every point of the top 1 000: the tail); ``axes``: how
    style_wait_cdf names them (span latencies)."""
    fig, ax = figs.new(figsize=(7.4, 4.1), dpi=100)
    drawn = [draw_wait_cdf(ax, w, label, thin=True, color=color, ls=ls, lw=1.4) for label, color, ls, w in series]
    style_wait_cdf(ax, title, drawn, **axes)
    fig.tight_layout()
    return figs.svg(fig, title)


def _tasks_svg(figs: _Figures, top: pl.DataFrame, run: dict) -> str:
    """Two horizontal bar panels: CPU time and time spent waiting (ms) of the busiest tasks."""
    n = max(top.height, 1)
    fig, (a1, a2) = figs.new(1, 2, figsize=(7.4, 0.9 + 0.24 * n), dpi=100, sharey=True)
    labels = [f"{c or '?'} ({t})" for t, c in zip(top["tid"].to_list(), top["comm"].to_list())]
    y = np.arange(top.height)
    color = _color(run["policy"])
    a1.barh(y, top["cpu_time_ns"].to_numpy() / 1e6, color=color, alpha=0.85)
    a2.barh(y, top["wait_total_ns"].to_numpy() / 1e6, color=color, alpha=0.45)
    p99 = top["wait_ns_p99"].fill_null(0).to_numpy() / 1e6
    for yi, (tot, p) in enumerate(zip(top["wait_total_ns"].to_numpy() / 1e6, p99)):
        if tot > 0:
            a2.text(tot, yi, f" p99 {fmt_ns(p * 1e6)}", va="center", fontsize=7, color="#444444")
    a1.set_yticks(y, labels, fontsize=8)
    a1.invert_yaxis()
    a1.set_xlabel("CPU time (ms)")
    a2.set_xlabel("time waiting to run (ms, sum of waits)")
    xmax = float(top["wait_total_ns"].max() or 0) / 1e6
    a2.set_xlim(0, xmax * 1.45 if xmax > 0 else 1)
    for a in (a1, a2):
        a.grid(True, axis="x", alpha=0.3)
        a.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"busiest tasks: {_label(run)}", fontsize=10)
    fig.tight_layout()
    return figs.svg(fig, f"busiest tasks of {_label(run)}")


def _util_svg(figs: _Figures, items: list[tuple[dict, np.ndarray, np.ndarray]]) -> str:
    """Small multiples: one heatmap (CPU x time) per run, stacked, the same time axis."""
    heights = [max(1.0, min(g.shape[0], 64) * 0.07 + 0.5) for _, g, _ in items]
    fig, axes = figs.new(len(items), 1, figsize=(11.5, sum(heights) + 0.7), dpi=100, squeeze=False, sharex=True,
                         gridspec_kw={"height_ratios": heights}, layout="constrained")
    im = None
    for ax, (run, g, edges) in zip(axes[:, 0], items):
        im = ax.imshow(g, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0, vmax=1,
                       extent=(edges[0] / 1e9, edges[-1] / 1e9, g.shape[0] - 0.5, -0.5))
        ax.set_ylabel("CPU", fontsize=8)
        ax.tick_params(labelsize=7)
        if g.shape[0] <= 8:
            ax.set_yticks(range(g.shape[0]))
        ax.set_title(f"{_label(run)}: mean {g.mean():.0%}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time since the start of the trace (s)")
    if im is not None:
        cb = fig.colorbar(im, ax=list(axes[:, 0]), fraction=0.02, pad=0.01, shrink=min(1.0, 3.0 / sum(heights)))
        cb.set_label("busy fraction", fontsize=8)
        cb.ax.tick_params(labelsize=7)
    return figs.svg(fig, "per-CPU utilisation over time")


def _numa_svg(figs: _Figures, runs: list[dict]) -> str:
    """Home-node share of CPU time and cross-node migrations per run."""
    fig, (a1, a2) = figs.new(1, 2, figsize=(11.5, 0.9 + 0.32 * len(runs)), dpi=100, sharey=True)
    y = np.arange(len(runs))
    colors = [_color(r["policy"], i) for i, r in enumerate(runs)]
    home = [(_get(r, "numa.home_fraction") or 0.0) * 100 for r in runs]
    cross = [_get(r, "numa.cross_node_migrations") or 0 for r in runs]
    a1.barh(y, home, color=colors, alpha=0.85)
    a2.barh(y, cross, color=colors, alpha=0.85)
    for yi, (h, c, r) in enumerate(zip(home, cross, runs)):
        a1.text(h, yi, f" {h:.1f}%", va="center", fontsize=8)
        a2.text(c, yi, f" {c:,} ({_get(r, 'numa.cross_node_migrations_per_s') or 0:.2f}/s)", va="center", fontsize=8)
    a1.set_yticks(y, [_label(r) for r in runs], fontsize=8)
    a1.invert_yaxis()
    a1.set_xlim(0, 115)
    a1.set_xlabel("CPU time on the task's home node (%)")
    a2.set_xlim(0, max(max(cross) * 1.5, 1))
    a2.set_xlabel("cross-node migrations")
    for a in (a1, a2):
        a.grid(True, axis="x", alpha=0.3)
        a.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return figs.svg(fig, "NUMA locality per run")


# -- tables -----------------------------------------------------------------------------

def _json_value(v) -> str:
    return json.dumps(v)


def _cell(run: dict, base: dict | None, col, validation: dict | None) -> str:
    """One number of the comparison table: the value, then its change against the recording
    and the replay's own error on it, marked with that figure's verdict. A change within
    that error is not coloured."""
    key, err_key, lower_better = col.key, col.error_key, {"lower": True, "higher": False}.get(col.better)
    v = _get(run, key)
    text = _esc(col.text(run))
    sub = []
    cf = run["policy"] != OBSERVED
    err = validation.get(err_key) if (cf and err_key and validation) else None
    if cf and base is not None:
        b = _get(base, key)
        if v is not None and b not in (None, 0):
            d = (v - b) / abs(b)
            cls, tip = "flat", "change against the recording"
            if lower_better is not None and abs(d) >= 0.005:
                cls = "down" if (d < 0) == lower_better else "up"
            moved = abs(d) if col.error_relative else abs(v - b)
            if err is not None and moved <= abs(err):
                cls, tip = "flat", "within the replay's own error"
            sub.append(f'<span class="{cls}" title="{_esc(tip)}">{_esc(fmt_change(d))}</span>')
    if err is not None:
        fv = figure_verdict(err_key, err) or ""
        sub.append(f'<span class="err {fv}" title="the replay\'s own error on this figure (validation): {fv}">'
                   f"{_esc(col.error_text(err))}</span>")
    extra = f'<span class="sub">{" ".join(sub)}</span>' if sub else ""
    return f'<td data-key="{key}" data-value="{_esc(_json_value(v))}">{text}{extra}</td>'


def _compare_table(res: dict, columns=COMPARE_COLUMNS, verdict_key: str = "verdict", css: str = "compare") -> str:
    """One row per run under ``columns`` (COMPARE_COLUMNS, or FOCUS_COLUMNS for the focused
    tasks with ``verdict_key`` "focus_verdict")."""
    runs = res["runs"]
    base = next((r for r in runs if r["policy"] == OBSERVED), None)
    v = res.get("validation")
    verdict = (v or {}).get(verdict_key)
    head = "".join(f"<th>{_esc(c.header)}</th>" for c in columns) + ("<th>fidelity</th>" if verdict else "")
    rows = []
    for i, r in enumerate(runs):
        sw = f'<span class="sw" style="background:{_color(r["policy"], i)}"></span>'
        cells = "".join(_cell(r, comparable_base(res, base, r), c, v) for c in columns)
        if verdict:
            word = "" if r["policy"] == OBSERVED else verdict
            cells += f'<td class="l verdict {word}" data-key="fidelity">{_esc(word)}</td>'
        cls = ' class="observed"' if r["policy"] == OBSERVED else ""
        rows.append(f'<tr{cls} data-run="{_esc(_run_id(r))}"><td class="l" data-key="policy">{sw}{_esc(r["policy"])}'
                    f'</td><td class="l" data-key="topology">{_esc(r["topology"])}</td>{cells}</tr>')
    return (f'<div class="scroll"><table class="compare {css}"><thead><tr><th class="l">policy</th>'
            f'<th class="l">topology</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _sites_table(rows: list[dict], columns=WAIT_SITE_COLUMNS, css: str = "sites") -> str:
    """Where waits happened (rows of tables.site_rows or metrics wait_at lists): each with
    its task, CPU and the time it began in the trace's clock (exact ns in data-ns)."""
    head = "".join(f'<th{" class=l" if c.align == "left" else ""}>{_esc(c.header)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            attr = f' data-ns="{int(r[c.key])}"' if c.key == "start_ns" and r.get(c.key) is not None else ""
            cells.append(f'<td{" class=l" if c.align == "left" else ""}{attr}>{_esc(c.text(r))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _validation_block(v: dict | None, observed: dict | None) -> str:
    if not v:
        return '<p class="note">No validation was run (compare with validation=False): the counterfactual ' \
               "figures have no error bar.</p>"
    word = v.get("verdict") or ""
    reasons = "".join(f"<li>{_esc(r)}</li>" for r in v.get("verdict_reasons") or [])
    reasons += "".join(f'<li class="warn">{_esc(w)}</li>' for w in v.get("warnings") or [])
    head = (f'<p class="verdict-line">Verdict: <span class="verdict {word}" data-key="validation.verdict">'
            f"{_esc(word)}</span> ({_esc(v.get('policy'))} replayed on the recorded machine, "
            f"{_esc(v.get('topology'))})</p>" + (f"<ul>{reasons}</ul>" if reasons else ""))
    rows = []
    for label, _, key in validation_rows(observed or {}):
        err = v.get(key)
        fv = figure_verdict(key, err) or ""
        rows.append(f'<tr><td class="l">{_esc(label)}</td><td data-key="validation.{_esc(key)}">'
                    f"{_esc(error_value_text(key, err))}</td><td class=\"l verdict {fv}\">{_esc(fv)}</td></tr>")
    focus = ""
    if v.get("focus_verdict"):
        fw = v["focus_verdict"]
        items = "".join(f"<li>{_esc(r)}</li>" for r in v.get("focus_verdict_reasons") or [])
        focus = (f'<p class="verdict-line">The selected tasks\' own figures: <span class="verdict {fw}" '
                 f'data-key="validation.focus_verdict">{_esc(fw)}</span></p>' + (f"<ul>{items}</ul>" if items else ""))
    return (f"{head}<p class=\"note\">The recording's own policy replayed on the recorded machine, measured "
            "against the recording: relative errors (replayed - observed) / observed, absolute ones for Jain's "
            "index and the share error, the Kolmogorov-Smirnov distance of the wait distributions. A "
            "counterfactual difference smaller than these is within the replay's own error; the ± beside the "
            "figures above repeats them. Verdict: good within the README's targets, rough within 2.5 times "
            "them, else unreliable.</p>" + focus + '<div class="scroll"><table><thead><tr><th class=l>figure</th>'
            f"<th>error</th><th class=l>verdict</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _defaults(policy: str) -> dict:
    if policy == OBSERVED:
        return {}
    try:
        from policies._params import resolve

        from ..sim import all_params

        return resolve(all_params(policy), None, policy)
    except Exception:  # an unknown policy name in a hand-made result: show values only
        return {}


def _param_text(name: str, v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if name.endswith("_ns") and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0:
        return fmt_ns(v)
    return str(v)


def _params_grid(names: list[str], runs: list[dict], defaults: dict, heading: str, wide: bool = False) -> str:
    head = "".join(f"<th>{_esc(_label(r))}</th>" for r in runs)
    rows = []
    for k in names:
        cells = []
        for r in runs:
            p = r.get("params") or {}
            if k not in p:
                cells.append('<td class="muted">·</td>')
                continue
            d = defaults[r["policy"]].get(k)
            diff = d is not None and p[k] != d
            title = f' title="{_esc(p[k])}; default {_esc(_param_text(k, d))}"' if diff else f' title="{_esc(p[k])}"'
            cls = ' class="diff"' if diff else ""
            cells.append(f'<td{cls}{title} data-param="{_esc(k)}">{_esc(_param_text(k, p[k]))}</td>')
        rows.append(f'<tr><td class="l"><code>{_esc(k)}</code></td>{"".join(cells)}</tr>')
    span = ' style="grid-column: 1 / -1"' if wide else ""
    return (f'<div class="card"{span}><h3>{_esc(heading)}</h3><div class="scroll"><table class="params"><thead><tr>'
            f'<th class="l">parameter</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div></div>')


def _params_table(runs: list[dict]) -> str:
    """The engine's parameters (every replay) and each policy's own, one column per run."""
    runs = [r for r in runs if r["policy"] != OBSERVED]
    if not runs:
        return '<p class="note">Only the recording: no replay parameters.</p>'
    try:
        from ..sim import ENGINE_PARAMS

        engine_names = [p.name for p in ENGINE_PARAMS]
    except Exception:  # pragma: no cover - the engine always imports where replays ran
        engine_names = []
    defaults = {r["policy"]: _defaults(r["policy"]) for r in runs}
    given = list(dict.fromkeys(k for r in runs for k in (r.get("params") or {})))
    eng = [k for k in given if k in engine_names]
    seeds = [r.get("seeds", 1) for r in runs]
    seed_text = [f'{r.get("seed", "-")}' + (f" to {r['seed'] + n - 1} (figures: their median)" if n > 1 else "")
                 for r, n in zip(runs, seeds)]
    parts = [_params_grid(eng + ["seed"], [{**r, "params": {**(r.get("params") or {}), "seed": st}}
                                           for r, st in zip(runs, seed_text)], defaults, "engine (every policy)",
                          wide=True)]
    for pol in dict.fromkeys(r["policy"] for r in runs):
        pr = [r for r in runs if r["policy"] == pol]
        names = list(dict.fromkeys(k for r in pr for k in (r.get("params") or {}) if k not in engine_names))
        if names:
            parts.append(_params_grid(names, pr, defaults, f"{pol}"))
    return f'<div class="grid">{"".join(parts)}</div>'


def _task_table(top: pl.DataFrame) -> str:
    head = "".join(f'<th{" class=l" if c.align == "left" else ""}>{_esc(c.header)}</th>' for c in TASK_COLUMNS)
    body = []
    for row in top.iter_rows(named=True):
        body.append("<tr>" + "".join(f'<td{" class=l" if c.align == "left" else ""}>{_esc(c.text(row))}</td>'
                                     for c in TASK_COLUMNS) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def busiest_tasks(run: Run, n: int = TOP_TASKS) -> pl.DataFrame:
    """The ``n`` tasks of a run with the most CPU time (ties: lowest tid), from its task table."""
    return run.tasks.filter(pl.col("cpu_time_ns") > 0).sort(["cpu_time_ns", "tid"],
                                                            descending=[True, False]).head(n)


def _run_summary(r: dict) -> str:
    w = r.get("wait_ns") or {}
    f = r.get("fairness") or {}
    parts = [f"{r.get('n_tasks', '-')} tasks ran on {r.get('n_cpus', '-')} CPUs",
             f"{w.get('count', 0):,} waits (p50 {_ns(w.get('p50'))}, p99 {_ns(w.get('p99'))})",
             f"Jain {f.get('jain'):.3f}" if f.get("jain") is not None else "Jain -"]
    if r["policy"] != OBSERVED:
        parts.append(f"{r.get('events_simulated', 0):,} events simulated")
    return " · ".join(_esc(p) for p in parts)


def _numa_row(r: dict) -> str:
    home = _get(r, "numa.home_fraction")
    cells = [f'<td class="l">{_esc(_label(r))}</td>',
             f'<td data-key="numa.home_fraction" data-value="{_esc(_json_value(home))}">'
             f'{"—" if home is None else fmt_fraction(home)}</td>',
             f'<td data-key="numa.cross_node_migrations">{_get(r, "numa.cross_node_migrations") or 0:,}</td>',
             f'<td>{_get(r, "numa.cross_node_migrations_per_s") or 0:.2f}</td>',
             f'<td>{_get(r, "migrations.cross_llc") or 0:,}</td>', f'<td>{_get(r, "migrations.total") or 0:,}</td>']
    return f"<tr>{''.join(cells)}</tr>"


# -- the page ---------------------------------------------------------------------------

def _json_script(obj) -> str:
    text = json.dumps(obj, indent=1, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="compare-data">{text}</script>'


def _span_section(res: dict, base: dict, have: list, topos: list, figs: _Figures) -> list[str]:
    """Application spans: per span name (those with the most spans) the latency of every
    run with the replay's own error, what the span's thread went through, and the
    latency CDF of each run per machine."""
    v = res.get("validation") or {}
    out = ['<h2 id="spans">Application spans</h2>',
           f'<p class="note">Spans from {_esc(", ".join(res.get("spans") or []) or "the trace")}: intervals of the '
           "application's own work (a token, a frame, a request) on one thread. Latency = end - start; in a replay "
           "a span's ends are the moments its thread reaches the same CPU progress as in the recording (README "
           '"Application spans"). Running, preempted, wakeup wait and blocked are what its thread went through '
           "inside it, mean per span. ± is the replay's own error on the figure"
           + (f" ({_esc(v.get('policy'))} replayed on the recorded machine)" if v else "") + ".</p>"]
    for name in span_names(base, SPAN_NAMES_JUDGED):
        n = base["span"][name]["count"]
        out.append(f"<h3>{_esc(name)} ({n:,} spans)</h3>")
        out.append(_compare_table(res, span_columns(name), css="spans"))
        if have:
            out.append('<div class="grid">')
            obs = next((d for r, d in have if r["policy"] == OBSERVED), None)
            for topo in topos:
                series = []
                if obs is not None and obs.spans is not None:
                    series.append(("observed (recorded)", _color(OBSERVED), "--", _span_latencies(obs, name)))
                for i, (r, d) in enumerate(have):
                    if r["topology"] == topo and r["policy"] != OBSERVED and d.spans is not None:
                        series.append((r["policy"], _color(r["policy"], i), "-", _span_latencies(d, name)))
                if series:
                    out.append('<div class="card">' + _cdf_svg(figs, series, f"{name} latency CDF on {topo}",
                                                              what=f"{name} latency (µs)", of="spans") + "</div>")
            out.append("</div>")
    return out


def _span_latencies(run: Run, name: str) -> np.ndarray:
    s = run.spans.filter(pl.col("name") == name)
    return s["latency_ns"].to_numpy()


def render_report(comparison: Comparison | dict, title: str | None = None) -> str:
    """The report as one HTML string (see the module docstring for what it holds):
    ``comparison`` is a Comparison, or its ``to_dict()`` (tables only)."""
    if isinstance(comparison, Comparison):
        res, details = comparison.to_dict(), list(comparison.runs)
    else:
        res, details = comparison, None
    runs = list(res["runs"])
    trace = str(res.get("trace") or "")
    name = res.get("label") or (label_of(trace) if trace else "trace")
    title = title or f"schedreplay: {name}"
    figs = _Figures()
    have = list(zip(runs, details)) if details is not None else []
    base = next((r for r in runs if r["policy"] == OBSERVED), None)
    dur = (base or (runs[0] if runs else {})).get("duration_ns")
    topos = list(dict.fromkeys(r["topology"] for r in runs))
    policies = list(dict.fromkeys(r["policy"] for r in runs))

    out = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"]
    out.append(f"<h1>{_esc(title)}</h1>")
    lead = [f"trace <code>{_esc(trace)}</code>"]
    if dur:
        lead.append(f"{dur / 1e9:.3f} s recorded")
    if base is not None and base.get("n_tasks") is not None:
        lead.append(f'<span data-key="n_tasks">{base["n_tasks"]}</span> tasks ran on {base.get("n_cpus")} CPUs')
    lead.append(f"{len(runs)} runs: {', '.join(_esc(p) for p in policies)} on {', '.join(_esc(t) for t in topos)}")
    out.append(f'<p class="lead">{" · ".join(lead)}</p>')
    v = res.get("validation") or {}
    if v.get("verdict") == "unreliable":
        out.append('<div class="banner" id="unreliable"><b>The replay of this trace is unreliable.</b> Replayed under '
                   f"its own policy ({_esc(v.get('policy'))}) on its own machine, it misses the recording by more "
                   "than the README's tolerances: " + _esc("; ".join(v.get("verdict_reasons") or [])) +
                   ". Its counterfactual figures below are indications, not predictions "
                   '(<a href="#validation">validation</a>).</div>')
    out.append('<nav class="muted">'
               + " · ".join(f'<a href="#{a}">{t}</a>' for a, t in (
                   *((("spans", "application spans"),) if base is not None and base.get("span") else ()),
                   *((("focus", "selected tasks"),) if res.get("focus") else ()),
                   ("comparison", "comparison"), ("validation", "validation"), ("waits", "wait times"),
                   ("tasks", "busiest tasks"), ("utilisation", "utilisation"), ("numa", "NUMA"),
                   ("params", "parameters"), ("warnings", "warnings"))) + "</nav>")

    if base is not None and base.get("span"):
        out.extend(_span_section(res, base, have, topos, figs))

    if res.get("focus") and base is not None and base.get("focus"):
        f = base["focus"]
        fv = v.get("focus_verdict")
        out.append('<h2 id="focus">The selected tasks</h2>')
        out.append(f'<p class="note">{_esc(" or ".join(f["selectors"]))}: {f["tasks"]} tasks '
                   f'({_esc(", ".join(f["comms"][:8]))}{", ..." if len(f["comms"]) > 8 else ""}). Their own '
                   "figures: their waits, their CPU time and their share of all tasks' CPU time. ± is their own "
                   f"error when {_esc(v.get('policy', 'the recorded policy'))} is replayed on the recorded machine "
                   f"(their {v.get('focus_recorded_waits', 0):,} recorded waits)"
                   + (f'; verdict <span class="verdict {fv}">{_esc(fv)}</span>' if fv else "") + ".</p>")
        out.append(_compare_table(res, FOCUS_COLUMNS, "focus_verdict", "focus"))
        rows = [r for r in site_rows(runs, "focus.wait_at.all") if "wait_ns" in r]
        if rows:
            out.append("<h3>Their longest wait in each run</h3>")
            out.append(_sites_table(rows))

    out.append('<h2 id="comparison">Comparison</h2>')
    out.append('<p class="note">One row per (policy, machine). In brackets: the change against the recording '
               '(<span class="down">better</span>, <span class="up">worse</span>); ± is the replay\'s own '
               "error on that figure (validation, below). Waits run from wakeup (sched_waking), preemption or "
               "fork to the switch-in; percentiles are nearest-rank."
               + (f" A replayed figure is the median over the replay's {n} seeds, as each error of the validation "
                  "is (every seed draws the recorded latencies anew)." if (n := max([r.get("seeds", 1) for r in runs]
                                                                                    + [1])) > 1 else "")
               + "</p>")
    out.append(_compare_table(res))
    if note := unrecorded_note(res):
        out.append(f'<p class="note warn">{_esc(note[0].upper() + note[1:])}.</p>')
    noise = seed_noise(res)
    if noise:
        out.append(f'<p class="note">Seed noise (half of each replayed figure\'s spread over its seeds, the largest '
                   f'over the replays): {_esc(", ".join(noise))}. A difference between two replays within it may be '
                   "the draw's; the ± is the model's own error, which more seeds do not shrink.</p>")

    out.append('<h2 id="validation">Validation: how far the replay is from the recording</h2>')
    out.append(_validation_block(res.get("validation"), base))

    out.append('<h2 id="waits">Wait-time distributions</h2>')
    if have:
        out.append('<p class="note">Empirical CDF of every wait, log time axis (a replay of several seeds: '
                   "every seed's waits together); the recording (black, dashed) is in every plot for "
                   "reference.</p><div class=\"grid\">")
        obs = next((d for r, d in have if r["policy"] == OBSERVED), None)
        for topo in topos:
            series = []
            if obs is not None:
                series.append(("observed (recorded)", _color(OBSERVED), "--", obs.waits_ns))
            for i, (r, d) in enumerate(have):
                if r["topology"] == topo and r["policy"] != OBSERVED:
                    series.append((r["policy"], _color(r["policy"], i), "-", d.waits_ns))
            if series:
                out.append(f'<div class="card">{_cdf_svg(figs, series, f"wait time CDF on {topo}")}</div>')
        out.append("</div>")
    else:
        out.append('<p class="note">Only the comparison\'s figures were given (its JSON), not its runs\' '
                   "details: no plots.</p>")
    rows = [r for r in site_rows(runs) if "wait_ns" in r]
    if rows:
        out.append('<h3 id="longest-waits">Where the longest wait of each run happened</h3>'
                   '<p class="note">At: when the wait began, in the trace\'s clock (seconds; the exact nanosecond '
                   "is in the JSON and in each cell's <code>data-ns</code>): the place to look in the Perfetto UI "
                   "(<code>--perfetto</code> writes every run). A log axis cannot place waits of 0 ns: the legends "
                   "count them and they are marked at the plots' left edge.</p>")
        out.append(_sites_table(rows))

    out.append(f'<h2 id="tasks">Busiest tasks (top {TOP_TASKS} by CPU time, per run)</h2>')
    if have:
        out.append('<p class="note">CPU time, and time spent waiting to run (the sum of the task\'s waits), with '
                   "the p99 wait beside it; the table under each plot has the percentiles.</p><div class=\"grid\">")
        for r, d in have:
            top = busiest_tasks(d)
            out.append(f'<div class="card" id="tasks-{_esc(_run_id(r))}"><h3>{_esc(_label(r))}</h3>'
                       f'<p class="note">{_run_summary(r)}</p>{_tasks_svg(figs, top, r)}'
                       f"<details><summary>table</summary>{_task_table(top)}</details></div>")
        out.append("</div>")

    out.append('<h2 id="utilisation">Per-CPU utilisation over time</h2>')
    if have:
        out.append(f'<p class="note">Busy fraction of each CPU in {TIME_BUCKETS} equal time buckets '
                   "(running intervals of any task; idle is dark).</p>")
        items = [(r, *d.utilization) for r, d in have]
        out.append(_util_svg(figs, items))

    out.append('<h2 id="numa">NUMA locality</h2>')
    out.append('<p class="note">A task\'s home node is the node of the CPU it first ran on; home share = its CPU '
               "time there / its CPU time, weighted by CPU time over tasks. Machines with one node are 100% "
               "local by definition.</p>")
    if runs:
        out.append(_numa_svg(figs, runs))
    rows = "".join(_numa_row(r) for r in runs)
    out.append('<div class="scroll"><table><thead><tr><th class=l>run</th><th>home share</th>'
               "<th>cross-node migrations</th><th>per s</th><th>cross-LLC</th><th>all migrations</th></tr></thead>"
               f"<tbody>{rows}</tbody></table></div>")

    out.append('<h2 id="params">Parameters of each run</h2>')
    out.append('<p class="note">Engine and policy parameters each replay ran with (values measured from the trace '
               "where the default is auto); <span class=\"diff\">highlighted</span>: not the default.</p>")
    out.append(_params_table(runs))

    out.append('<h2 id="warnings">Warnings</h2>')
    warn = [(r, w) for r in runs for w in (r.get("warnings") or [])]
    if warn:
        out.append("<ul>" + "".join(f'<li class="warn"><b>{_esc(_label(r))}</b>: {_esc(w)}</li>' for r, w in warn)
                   + "</ul>")
    else:
        out.append('<p class="note">None.</p>')

    out.append(_json_script(res))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out.append(f"<footer>Written by schedreplay on {stamp}. The comparison as JSON is embedded in this file "
               "(script id <code>compare-data</code>).</footer></body></html>")
    return "".join(out)


def write_report(comparison: Comparison | dict, path, title: str | None = None) -> Path:
    """Write the HTML report of ``comparison`` (what ``replay.compare`` returns, or its
    ``to_dict()`` for the tables only) to ``path``, whose folder must exist; returns the
    path."""
    text = render_report(comparison, title)
    path = Path(os.fspath(path))
    path.write_text(text, encoding="utf-8")  # into an existing folder only (README "Output files")
    return path
