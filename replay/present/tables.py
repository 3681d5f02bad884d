"""The tables the user sees, each specified once: which columns, their headers, how a
value reads, which validation error sits beside it and which direction is better. The
terminal (rich), the HTML report and sweep's closing table all render from these.

Column values come from plain data: a run's dict (``Run.to_dict``: dotted metric keys
such as ``wait_ns.p99``), a row of a per-task table, a row of ``sweep.best``. How a metric
reads (unit, direction, validation error) comes from ``replay.metrics.catalog``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..metrics import catalog
from .plots import fmt_ns


def fmt_count(v) -> str:
    return f"{v:,}"


def fmt_fraction(v) -> str:
    return f"{v:.1%}"


def fmt_index(v) -> str:
    return f"{v:.3f}"


def fmt_rate(v) -> str:
    return f"{v:.2f}"


def fmt_seconds(v) -> str:
    return f"{v:.2f} s"


#: how a value of each catalog unit reads
UNIT_FORMAT: dict[str, Callable] = {catalog.NS: fmt_ns, catalog.COUNT: fmt_count, catalog.FRACTION: fmt_fraction,
                                    catalog.INDEX: fmt_index, catalog.RATE: fmt_rate, catalog.SECONDS: fmt_seconds}


def fmt_metric(key: str, v) -> str:
    """A metric's value as every table shows it ("-" when there is none)."""
    if v is None:
        return "-"
    return UNIT_FORMAT[catalog.metric(key).unit](v)


def get(d: dict, key: str):
    """``d["a"]["b"]`` for key "a.b", or ``d["a.b"]`` for a flat row (None when missing)."""
    if key in d:
        return d[key]
    for k in key.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


@dataclass(frozen=True)
class Column:
    """One column: ``header``, ``key`` (what it reads from a row), ``fmt`` (value -> text),
    ``error_key`` (the validation error shown beside a counterfactual value), ``better``
    ("lower", "higher", None: how a change is coloured), ``priority`` (1: always shown;
    2: when the terminal is wide enough), ``align`` ("right" or "left") and
    ``error_relative`` (the error is a fraction of the value, else in its unit)."""

    header: str
    key: str
    fmt: Callable
    error_key: str | None = None
    better: str | None = None
    priority: int = 1
    align: str = "right"
    error_relative: bool = True

    def text(self, row: dict) -> str:
        v = get(row, self.key)
        return "-" if v is None else self.fmt(v)

    def error_text(self, err) -> str:
        """The replay's own error on this column's figure: ±12% or, absolute, ±0.031."""
        if err is None:
            return ""
        return f"±{abs(err):.0%}" if self.error_relative else f"±{self.fmt(abs(err))}"


def metric_column(key: str, header: str | None = None, priority: int = 1) -> Column:
    """The column of a metric, as the catalog describes it."""
    m = catalog.metric(key)
    return Column(header or m.label, key, UNIT_FORMAT[m.unit], m.error_key, m.better, priority,
                  error_relative=m.error_is_relative)


#: The comparison (compare, demo, the report's first table): one row per run.
COMPARE_COLUMNS = (
    metric_column("wait_ns.p50"),
    metric_column("wait_ns.p99"),
    metric_column("wait_ns.p999", priority=2),
    metric_column("wait_ns.max"),
    metric_column("wait_ns.count", priority=2),
    metric_column("fairness.jain"),
    metric_column("fairness.share_error", priority=2),
    metric_column("numa.home_fraction"),
    metric_column("numa.cross_node_migrations", priority=2),
    metric_column("migrations.total"),
    metric_column("context_switches"),
    metric_column("utilization", priority=2),
)

#: Per task (metrics --by task, the report's busiest tasks): rows of metrics.task_table.
TASK_COLUMNS = (
    Column("tid", "tid", str),
    Column("comm", "comm", str, align="left"),
    Column("CPU time", "cpu_time_ns", fmt_ns),
    Column("waits", "waits", fmt_count),
    Column("waiting", "wait_total_ns", fmt_ns),
    Column("wait p50", "wait_ns_p50", fmt_ns),
    Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns),
    Column("migrations", "migrations", fmt_count),
)

#: metrics --by process / cpu / class
PROCESS_COLUMNS = (
    Column("tgid", "tgid", str), Column("comm", "comm", str, align="left"), Column("threads", "threads", fmt_count),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns),
)
CPU_COLUMNS = (
    Column("cpu", "cpu", str), Column("utilization", "utilization", fmt_fraction),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns),
)
CLASS_COLUMNS = (
    Column("class", "class", str, align="left"), Column("tasks", "tasks", fmt_count),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns),
)
#: metrics --json key of each breakdown, its title and columns
BREAKDOWNS = {"tasks": ("task", TASK_COLUMNS), "processes": ("process", PROCESS_COLUMNS),
              "cpus": ("cpu", CPU_COLUMNS), "classes": ("class", CLASS_COLUMNS)}


def validation_rows(observed: dict) -> list[tuple[str, str | None, str]]:
    """The rows of the validation table (validate, the report's validation block): (label,
    metric key read from the observed and replayed metrics or None, error key). Causes
    with no recorded wait are left out."""
    rows = [("waits", "wait_ns.count", "wait_count_rel_err"), ("wait p50", "wait_ns.p50", "wait_p50_rel_err"),
            ("wait p90", "wait_ns.p90", "wait_p90_rel_err"), ("wait p99", "wait_ns.p99", "wait_p99_rel_err"),
            ("wait distribution (KS)", None, "wait_ks")]
    for cause in ("wakeup", "preempt", "new"):
        if (get(observed, f"wait_ns_by_cause.{cause}.count") or 0) == 0:
            continue
        rows += [(f"{cause} waits", f"wait_ns_by_cause.{cause}.count", f"wait_{cause}_count_rel_err")]
        rows += [(f"{cause} wait {q}", f"wait_ns_by_cause.{cause}.{q}", f"wait_{cause}_{q}_rel_err")
                 for q in ("p50", "p90", "p99")]
        rows += [(f"{cause} distribution (KS)", None, f"wait_{cause}_ks")]
    rows += [("Jain", "fairness.jain", "jain_abs_err"), ("share error (CPUs)", "fairness.share_error",
                                                          "share_error_abs_err"),
             ("longest wait", "fairness.max_wait_ns", "max_wait_rel_err"),
             ("per-task CPU time", None, "cpu_time_rel_err_mean"),
             ("context switches", "context_switches", "switches_rel_err"),
             ("migrations", "migrations.total", "migrations_rel_err")]
    return rows


def error_value_text(key: str, err) -> str:
    """An error figure as validate shows it: +12.3% (relative), +0.031 (absolute), 0.123 (KS)."""
    if err is None:
        return "-"
    if key.endswith("_ks"):
        return f"{err:.3f}"
    if key.endswith("_abs_err"):
        return f"{err:+.3f}"
    if key.startswith("cpu_time"):
        return f"{err:.1%} mean |error|"
    return f"{err:+.1%}"


def _config_text(changes: str) -> str:
    import json

    def param(k, v) -> str:
        if k.endswith("_ns") and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return f"{k}={fmt_ns(v, sep='')}"
        if isinstance(v, bool):
            return f"{k}={'on' if v else 'off'}"
        return f"{k}={v}"

    return ", ".join(param(k, v) for k, v in json.loads(changes or "{}").items()) or "(the defaults)"


def best_columns(objective: str) -> tuple[Column, ...]:
    """Sweep's closing table (rows of ``sweep.best``): the objective's values read as the
    metric reads everywhere else."""
    import os

    value = metric_column(objective).fmt
    return (
        Column("trace", "trace", lambda v: os.path.basename(str(v)), align="left"),
        Column("policy", "policy", str, align="left"),
        Column("topology", "topology", str, align="left"),
        Column("configuration (vs defaults)", "changes", _config_text, align="left"),
        Column("value", "value", value),
        Column("default", "default_value", value),
        Column("change", "change", lambda v: f"{v:+.1%}"),
        Column("replay error", "validation_error", lambda v: f"±{v:.1%}"),
        Column("beyond error", "beyond_error", lambda v: "yes" if v else "no (within error)", align="left"),
    )


# -- terminal -----------------------------------------------------------------------------

def rich_table(rows: list[dict], columns, title: str, *, fold: bool = False):
    """A rich Table of ``rows`` under ``columns``."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c.header, justify=c.align, no_wrap=not fold, overflow="fold" if fold else "ellipsis",
                     min_width=15 if c.key == "comm" else None)
    for r in rows:
        t.add_row(*[c.text(r) for c in columns])
    return t


def best_table(b, higher: bool):
    """A rich Table of ``sweep.best``'s rows."""
    obj = b["objective"][0] if b.height else "wait_ns.p99"
    cols = best_columns(obj)
    rows = [{**r, "topology": r["topology"] + (f" [{r['overrides']}]" if r["overrides"] else "")}
            for r in b.iter_rows(named=True)]
    return rich_table(rows, cols, f"best configuration per trace, policy and topology for {obj} "
                                  f"({'higher' if higher else 'lower'} is better)", fold=True)


def change(run: dict, base: dict | None, key: str) -> float | None:
    """(run - base) / |base| of a metric, None when either is missing or base is 0."""
    if base is None or run is base:
        return None
    a, b = get(run, key), get(base, key)
    if a is None or b in (None, 0):
        return None
    return (a - b) / abs(b)


def compare_cells(run: dict, base: dict | None, validation: dict | None, col: Column) -> tuple[str, str, str, str]:
    """(value, ±error, change, verdict of that figure) texts of one comparison cell: the
    replay's own error on the figure beside a counterfactual value, the change against the
    recording."""
    from ..study.validation import figure_verdict

    cf = run["policy"] != "observed"
    err = validation.get(col.error_key) if (cf and col.error_key and validation) else None
    d = change(run, base, col.key) if cf else None
    return (col.text(run), col.error_text(err), "" if d is None else f"{d:+.0%}",
            (figure_verdict(col.error_key, err) or "") if err is not None else "")


def fit_columns(columns, widths: dict[str, int], available: int, fixed: int) -> list[Column]:
    """The columns to show in ``available`` characters: every priority-1 column, then the
    priority-2 ones in order while they fit (``widths``: each column's widest cell,
    ``fixed``: what the leading columns take)."""
    shown = [c for c in columns if c.priority == 1]
    used = fixed + sum(widths[c.key] + 3 for c in shown)
    for c in columns:
        if c.priority != 1 and used + widths[c.key] + 3 <= available:
            shown.append(c)
            used += widths[c.key] + 3
    return [c for c in columns if c in shown]


#: how each verdict reads in a terminal
VERDICT_STYLE = {"good": "green", "rough": "yellow", "unreliable": "bold red"}


def compare_table(res: dict, width: int):
    """The comparison as a rich Table fitted to ``width`` characters: ``res`` is
    ``Comparison.to_dict()``. Each ± (the replay's own error on that figure) is coloured
    by that figure's verdict; the fidelity column gives the trace's verdict beside every
    counterfactual row."""
    from rich.table import Table
    from rich.text import Text

    runs = res["runs"]
    base = next((r for r in runs if r["policy"] == "observed"), None)
    v = res.get("validation") or {}
    cells = {c.key: [compare_cells(r, base, v, c) for r in runs] for c in COMPARE_COLUMNS}

    def text(cell) -> Text:
        """The value, and under it its ± (coloured by its verdict) and its change."""
        value, err, d, fv = cell
        t = Text(value)
        if err or d:
            t.append("\n")
        if err:
            t.append(err, style=VERDICT_STYLE.get(fv, ""))
        if d:
            t.append(f" ({d})" if err else f"({d})")
        return t

    texts = {k: [text(c) for c in cs] for k, cs in cells.items()}
    widths = {c.key: max([len(c.header)] + [len(line) for t in texts[c.key] for line in t.plain.split("\n")])
              for c in COMPARE_COLUMNS}
    lead = max([len("policy")] + [len(r["policy"]) for r in runs]) + max([len("topology")] +
                                                                          [len(r["topology"]) for r in runs]) + 8
    verdict = v.get("verdict")
    if verdict:
        lead += len("fidelity") + 3 + len("unreliable")
    shown = fit_columns(COMPARE_COLUMNS, widths, width, lead)
    title = "policies compared" + (f"; replay fidelity under {v['policy']}: {verdict} (± = the replay's own error on "
                                   "each figure, from validate)" if v else "")
    t = Table(title=title, title_justify="left")
    t.add_column("policy", no_wrap=True)
    t.add_column("topology", no_wrap=True)
    for c in shown:
        t.add_column(c.header, justify="right", no_wrap=True)
    if verdict:
        t.add_column("fidelity", no_wrap=True)
    for i, r in enumerate(runs):
        row = [r["policy"], r["topology"], *[texts[c.key][i] for c in shown]]
        if verdict:
            row.append(Text("" if r["policy"] == "observed" else verdict, style=VERDICT_STYLE[verdict]))
        t.add_row(*row)
    return t
