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


#: what a table shows where there is no value (a statistic of no waits, a figure not measured)
MISSING = "—"


def fmt_pct(x: float, signed: bool = False, digits: int = 0) -> str:
    """``x`` (a fraction) as a percentage with ``digits`` decimals (``signed``: with its
    sign). A value that is not zero never reads as zero: it gets up to two more decimals
    (``+0.04%``), then reads ``<0.01%`` (``+<0.01%``, ``-<0.01%`` when signed); only an
    exact zero reads ``0%``."""
    if x == 0:
        return f"{0:.{digits}%}"
    spec = "+" if signed else ""
    for d in range(digits, digits + 3):
        text = f"{x:{spec}.{d}%}"
        if any(ch in "123456789" for ch in text):
            return text
    sign = ("+" if x > 0 else "-") if signed else ("-" if x < 0 else "")
    return f"{sign}<{10.0 ** -(digits + 4):.{digits + 2}%}"


def fmt_nonzero(fmt, v) -> str:
    """``fmt(v)``, except that a non-zero ``v`` that ``fmt`` rounds to zero reads
    ``<`` the smallest non-zero figure of that format (``<0.001``)."""
    text = fmt(v)
    if v == 0 or any(ch in "123456789" for ch in text):
        return text
    sign = text[0] if text[:1] in "+-" else ""
    smallest = text.lstrip("+-")[::-1].replace("0", "1", 1)[::-1]  # 0.000 -> 0.001
    return f"{sign}<{smallest}"


def fmt_count(v) -> str:
    return f"{v:,}"


def fmt_fraction(v) -> str:
    return fmt_pct(v, digits=1)


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
    """A metric's value as every table shows it (MISSING when there is none)."""
    if v is None:
        return MISSING
    return UNIT_FORMAT[catalog.metric(key).unit](v)


def fmt_ts(ns) -> str:
    """A timestamp of the trace's clock in seconds with microseconds, as ftrace prints it
    (``1171.964040``), from exact integer nanoseconds."""
    ns = int(ns)
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    return f"{sign}{ns // 1_000_000_000}.{(ns % 1_000_000_000) // 1000:06d}"


def fmt_change(d: float) -> str:
    """A change against the recording, (run - recording) / |recording|: ``+20%``, ``-0.3%``."""
    return fmt_pct(d, signed=True)


def get(d: dict, key: str):
    """``d["a"]["b"]`` for key "a.b", or ``d["a.b"]`` for a flat row (None when missing).
    A span figure's name may hold dots: ``span.NAME.p99`` reads d["span"][NAME]["p99"]."""
    if key in d:
        return d[key]
    sk = catalog.split_span_key(key)
    if sk is not None:
        d = (d.get("span") or {}).get(sk[0])
        for k in sk[1].split("."):
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d
    for k in key.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


@dataclass(frozen=True)
class Column:
    """One column: ``header``, ``key`` (what it reads from a row), ``fmt`` (value -> text),
    ``error_key`` (the validation error shown beside a counterfactual value), ``better``
    ("lower", "higher", None: how a change is coloured), ``priority`` (1: shown first, then
    2, then 3, each while the terminal has room: :func:`fit_columns`), ``align`` ("right" or
    "left") and ``error_relative`` (the error is a fraction of the value, else in its
    unit)."""

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
        if v is None:
            return "" if self.key in row.get("_blank", ()) else MISSING
        return self.fmt(v)

    def error_text(self, err) -> str:
        """The replay's own error on this column's figure: ±12% or, absolute, ±0.031; an
        error that is not zero never reads ±0% (±0.3%, ±<0.01%)."""
        if err is None:
            return ""
        return f"±{fmt_pct(abs(err))}" if self.error_relative else f"±{fmt_nonzero(self.fmt, abs(err))}"


def metric_column(key: str, header: str | None = None, priority: int = 1) -> Column:
    """The column of a metric, as the catalog describes it."""
    m = catalog.metric(key)
    return Column(header or m.label, key, UNIT_FORMAT[m.unit], m.error_key, m.better, priority,
                  error_relative=m.error_is_relative)


#: The comparison (compare, demo, the report's first table): one row per run. In a
#: terminal the columns are shown by priority while they fit (every one in the report).
COMPARE_COLUMNS = (
    metric_column("wait_ns.p50"),
    metric_column("wait_ns.p99"),
    metric_column("wait_ns.p999", priority=3),
    metric_column("wait_ns.max"),
    metric_column("wait_ns.count", priority=3),
    metric_column("fairness.jain"),
    metric_column("fairness.share_error", priority=3),
    metric_column("numa.home_fraction", priority=2),
    metric_column("numa.cross_node_migrations", priority=3),
    metric_column("migrations.total", priority=2),
    metric_column("wakeup_placement.onto_busy_fraction", priority=3),
    metric_column("context_switches", priority=2),
    metric_column("utilization", priority=3),
)

def span_columns(name: str) -> tuple[Column, ...]:
    """One application span name's figures (compare, the report: one row per run, read
    from each run's metrics "span"): latency statistics with the replay's own error beside
    them, then what the span's thread went through (mean per span)."""
    def col(stat, header, priority=1):
        return metric_column(catalog.span_key(name, stat), header, priority)

    return (col("p50", "p50"), col("p90", "p90", 2), col("p99", "p99"), col("max", "max", 2),
            col("mean", "mean", 3), col("count", "spans", 3),
            col("breakdown.running", "running", 2), col("breakdown.runnable_preempt", "preempted", 2),
            col("breakdown.runnable_wakeup", "wakeup wait", 3), col("breakdown.blocked", "blocked", 3),
            col("unfinished", "unfinished", 3))


#: metrics: one row per span name (rows: {"name": NAME, **figures}, see span_rows)
SPAN_NAME_COLUMNS = (
    Column("span", "name", str, align="left"),
    Column("spans", "count", fmt_count),
    Column("p50", "p50", fmt_ns), Column("p90", "p90", fmt_ns, priority=2), Column("p99", "p99", fmt_ns),
    Column("max", "max", fmt_ns), Column("mean", "mean", fmt_ns, priority=3),
    Column("running", "breakdown.running", fmt_ns, priority=2),
    Column("runnable", "runnable", fmt_ns, priority=2),
    Column("blocked", "breakdown.blocked", fmt_ns, priority=2),
    Column("unknown", "breakdown.unknown", fmt_ns, priority=3),
)


def span_rows(figures: dict, top: int | None = None) -> list[dict]:
    """Rows of SPAN_NAME_COLUMNS from metrics "span" (the first ``top`` names: those with
    the most spans); ``runnable`` is the sum of the runnable parts."""
    rows = []
    for name, f in list(figures.items())[:top]:
        b = f.get("breakdown") or {}
        rows.append({"name": name, **f, "runnable": sum(v for k, v in b.items() if k.startswith("runnable"))})
    return rows


#: The focused tasks' own figures (compare/replay --focus, the report's first table when
#: there is a focus): one row per run, read from each run's metrics "focus".
FOCUS_COLUMNS = (
    metric_column("focus.wait_ns.p50"),
    metric_column("focus.wait_ns.p99"),
    metric_column("focus.wait_ns.max"),
    metric_column("focus.cpu_share"),
    metric_column("focus.cpu_time_ns", priority=2),
    metric_column("focus.wait_ns.count", priority=2),
    metric_column("focus.wait_ns.p90", priority=3),
    metric_column("focus.runnable_ns", priority=3),
)

#: Per task (metrics --by task, the report's busiest tasks): rows of metrics.task_table.
TASK_COLUMNS = (
    Column("tid", "tid", str),
    Column("comm", "comm", str, align="left"),
    Column("CPU time", "cpu_time_ns", fmt_ns),
    Column("waits", "waits", fmt_count),
    Column("waiting", "wait_total_ns", fmt_ns, priority=3),
    Column("wait p50", "wait_ns_p50", fmt_ns),
    Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns),
    Column("max at (s)", "wait_max_at_ns", fmt_ts, priority=2),
    Column("migrations", "migrations", fmt_count, priority=3),
)

#: metrics --by process / cpu / class
PROCESS_COLUMNS = (
    Column("tgid", "tgid", str), Column("comm", "comm", str, align="left"),
    Column("threads", "threads", fmt_count, priority=3),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns), Column("max at (s)", "wait_max_at_ns", fmt_ts, priority=2),
    Column("max tid", "wait_max_tid", str, priority=3),
)
CPU_COLUMNS = (
    Column("cpu", "cpu", str), Column("utilization", "utilization", fmt_fraction),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns), Column("max at (s)", "wait_max_at_ns", fmt_ts, priority=2),
    Column("max tid", "wait_max_tid", str, priority=3),
)
CLASS_COLUMNS = (
    Column("class", "class", str, align="left"), Column("tasks", "tasks", fmt_count),
    Column("CPU time", "cpu_time_ns", fmt_ns), Column("waits", "waits", fmt_count),
    Column("wait p50", "wait_ns_p50", fmt_ns), Column("wait p99", "wait_ns_p99", fmt_ns),
    Column("wait max", "wait_ns_max", fmt_ns), Column("max at (s)", "wait_max_at_ns", fmt_ts, priority=2),
    Column("max tid", "wait_max_tid", str, priority=3),
)

#: Where a wait happened (metrics "wait_at": the longest waits, like perf sched latency's
#: "max delay at"): rows of metrics.wait_sites, with the run's policy and topology when
#: several runs share a table. Timestamps are the trace's clock (the Perfetto UI shows
#: them with its time format set to raw nanoseconds; JSON has them in ns).
WAIT_SITE_COLUMNS = (
    Column("policy", "policy", str, align="left"),
    Column("topology", "topology", str, align="left"),
    Column("wait", "wait_ns", fmt_ns),
    Column("cause", "cause", str, align="left"),
    Column("comm", "comm", str, align="left"),
    Column("tid", "tid", str),
    Column("CPU", "cpu", str),
    Column("at (s)", "start_ns", fmt_ts),
    Column("into trace", "offset_ns", lambda v: fmt_ns(v, sep=""), priority=2),
)
#: metrics --json key of each breakdown, its title and columns
BREAKDOWNS = {"tasks": ("task", TASK_COLUMNS), "processes": ("process", PROCESS_COLUMNS),
              "cpus": ("cpu", CPU_COLUMNS), "classes": ("class", CLASS_COLUMNS)}
#: the columns that name the entity of each breakdown (its first being the key)
ENTITY_COLUMNS = {"tasks": ("tid", "comm"), "processes": ("tgid", "comm"), "cpus": ("cpu",), "classes": ("class",)}
#: how many entities compare --by shows per breakdown (by recorded CPU time; --json has all)
BREAKDOWN_TOP = 8


def breakdown_ids(runs: list[dict], key: str, only=None, top: int = BREAKDOWN_TOP) -> list:
    """The entities compare --by shows: those in ``only`` (e.g. the focused tids) or the
    ``top`` with the most CPU time in the first run (the recording), in that order."""
    ident = ENTITY_COLUMNS[key][0]
    first = sorted(runs[0].get(key) or [], key=lambda r: (-(r.get("cpu_time_ns") or 0), str(r[ident])))
    ids = [r[ident] for r in first]
    if only is not None:
        only = set(only)
        ids = [i for i in ids if i in only] + sorted(i for i in only if i not in set(ids))
        return ids[:25]
    return ids[:top]


def breakdown_rows(runs: list[dict], key: str, ids: list) -> list[dict]:
    """compare --by: per entity (in ``ids`` order) one row per run with the entity's figures
    in that run (an entity a run lacks has no figures there); the entity's own columns are
    filled on its first row only."""
    ident = ENTITY_COLUMNS[key]
    by_run = [{r[ident[0]]: r for r in (run.get(key) or [])} for run in runs]
    rows = []
    for e in ids:
        names = next((m[e] for m in by_run if e in m), {ident[0]: e})
        for i, (run, m) in enumerate(zip(runs, by_run)):
            row = {**(m.get(e) or {}), "policy": run["policy"], "topology": run["topology"]}
            for c in ident:
                row[c] = names.get(c) if i == 0 else None
            row["_blank"] = ident if i > 0 else ()
            rows.append(row)
    return rows


def breakdown_columns(key: str) -> tuple[Column, ...]:
    """The columns of compare --by's table: the entity's, the run's, then its figures."""
    ident = ENTITY_COLUMNS[key]
    cols = BREAKDOWNS[key][1]
    blank = [Column(c.header, c.key, c.fmt, c.error_key, c.better, c.priority, c.align, c.error_relative)
             for c in cols if c.key in ident]
    return (*blank, *WAIT_SITE_COLUMNS[:2], *[c for c in cols if c.key not in ident])


def site_rows(runs: list[dict], path: str = "wait_at.all") -> list[dict]:
    """One row per run: where its longest wait happened (``path`` + ``.max`` of its
    metrics: ``wait_at.all``, or ``focus.wait_at.all`` for the focused tasks)."""
    out = []
    for r in runs:
        site = get(r, f"{path}.max")
        out.append({"policy": r["policy"], "topology": r["topology"], **(site or {})})
    return out


def validation_rows(observed: dict) -> list[tuple[str, str | None, str]]:
    """The rows of the validation table (validate, the report's validation block): (label,
    metric key read from the observed and replayed metrics or None, error key). Causes
    with no recorded wait are left out; the focused tasks' own rows (``--focus``) close it."""
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
             ("migrations", "migrations.total", "migrations_rel_err"),
             ("wakeups onto a busy CPU", "wakeup_placement.onto_busy_fraction", "onto_busy_abs_err")]
    from ..study.validation import SPAN_NAMES_JUDGED, span_names

    # the span names with the most spans (those the verdict may judge): their count, p50 and
    # p99 (--json has every name's p90, max and mean too); long names are cut to fit
    for name in span_names(observed, SPAN_NAMES_JUDGED):
        short = name if len(name) <= 28 else name[:27] + "…"
        rows += [(f"span {short}: {label}", catalog.span_key(name, stat), catalog.span_error_key(name, stat))
                 for label, stat in (("count", "count"), ("p50", "p50"), ("p99", "p99"))]
    if observed.get("focus"):
        rows += [(f"selected tasks: {label}", key, catalog.FOCUS_ERRORS[key]) for label, key in (
            ("waits", "focus.wait_ns.count"), ("wait p50", "focus.wait_ns.p50"), ("wait p90", "focus.wait_ns.p90"),
            ("wait p99", "focus.wait_ns.p99"), ("longest wait", "focus.wait_ns.max"),
            ("CPU time", "focus.cpu_time_ns"), ("CPU share", "focus.cpu_share"))]
    return rows


def error_value_text(key: str, err) -> str:
    """An error figure as validate shows it: +12.3% (relative), +0.031 (absolute), 0.123
    (KS); one that is not zero never reads as zero."""
    if err is None:
        return MISSING
    if key.endswith("_ks"):
        return fmt_nonzero(lambda x: f"{x:.3f}", err)
    if key.endswith("_abs_err"):
        return fmt_nonzero(lambda x: f"{x:+.3f}", err)
    if key.startswith("cpu_time"):
        return f"{fmt_pct(err, digits=1)} mean |error|"
    return fmt_pct(err, signed=True, digits=1)


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
    metric reads everywhere else; traces by their label (``d_nice_mix/trace.dat``)."""
    value = metric_column(objective).fmt
    return (
        Column("trace", "label", str, align="left"),
        Column("policy", "policy", str, align="left"),
        Column("topology", "topology", str, align="left"),
        Column("configuration (vs defaults)", "changes", _config_text, align="left"),
        Column("value", "value", value),
        Column("default", "default_value", value, priority=3),
        Column("change", "change", lambda v: fmt_pct(v, signed=True, digits=1)),
        Column("replay ±", "validation_error", lambda v: f"±{fmt_pct(v, digits=1)}", priority=2),
        Column("beyond error", "beyond_error", lambda v: "yes" if v else "no", align="left"),
    )


# -- terminal -----------------------------------------------------------------------------

#: characters a rich table adds per column (padding and the border before it) and once (the last border)
CELL_EXTRA, TABLE_EXTRA = 3, 1


def text_width(text: str) -> int:
    """Terminal cells of the widest line of ``text``."""
    from rich.cells import cell_len

    return max((cell_len(line) for line in str(text).split("\n")), default=0)


def fit_columns(columns, widths: dict[str, int], available: int, fixed: int) -> list[Column]:
    """The columns to show in ``available`` characters, in their order: by priority (1,
    then 2, then 3; in order within a priority) each column that still fits (``widths``:
    each column's widest cell or header by key, ``fixed``: what the columns always shown
    take). Priority-1 columns come first but are left out too when even they do not fit:
    a table is never squeezed into cut cells."""
    used = fixed + TABLE_EXTRA
    shown = set()
    for c in sorted(columns, key=lambda c: c.priority):
        w = widths[c.key] + CELL_EXTRA
        if used + w <= available:
            shown.add(c.key)
            used += w
    return [c for c in columns if c.key in shown]


def rich_table(rows: list[dict], columns, title: str, *, fold: bool = False, width: int | None = None,
               keep: tuple[str, ...] = ()):
    """A rich Table of ``rows`` under ``columns``. With ``width``, only the columns that
    fit in it are shown (:func:`fit_columns`; those in ``keep`` always), so no cell is cut;
    ``fold`` wraps long cells instead (sweep's configurations)."""
    from rich.table import Table

    texts = {c.key: [c.text(r) for r in rows] for c in columns}
    if width is not None and not fold:
        widths = {c.key: max([text_width(c.header)] + [text_width(t) for t in texts[c.key]]) for c in columns}
        kept = [c for c in columns if c.key in keep]
        fixed = sum(widths[c.key] + CELL_EXTRA for c in kept)
        fitted = {c.key for c in fit_columns([c for c in columns if c.key not in keep], widths, width, fixed)}
        columns = [c for c in columns if c.key in fitted or c.key in keep]
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c.header, justify=c.align, no_wrap=not fold, overflow="fold" if fold else "ellipsis",
                     min_width=15 if (c.key == "comm" and fold) else None)
    for i in range(len(rows)):
        t.add_row(*[texts[c.key][i] for c in columns])
    return t


#: the widest the configuration column of sweep's table gets before it wraps
CONFIG_WIDTH = 36


def best_table(b, higher: bool, width: int = 100):
    """A rich Table of ``sweep.best``'s rows fitted to ``width``: one trace goes into the
    title, the configuration wraps (never cut) past CONFIG_WIDTH, the default value and
    the replay's error are shown when they fit (every column is in ``--json``)."""
    from rich.table import Table

    obj = b["objective"][0] if b.height else "wait_ns.p99"
    cols = list(best_columns(obj))
    rows = [{**r, "topology": r["topology"] + (f" [{r['overrides']}]" if r["overrides"] else "")}
            for r in b.iter_rows(named=True)]
    labels = list(dict.fromkeys(str(r.get("label") or r.get("trace")) for r in rows))
    title = (f"best configuration per {'trace, ' if len(labels) != 1 else ''}policy and topology for {obj} "
             f"({'higher' if higher else 'lower'} is better){f' on {labels[0]}' if len(labels) == 1 else ''}")
    if len(labels) == 1:
        cols = [c for c in cols if c.key != "label"]
    texts = {c.key: [c.text(r) for r in rows] for c in cols}
    widths = {c.key: max([text_width(c.header)] + [text_width(t) for t in texts[c.key]]) for c in cols}
    widths["changes"] = min(widths["changes"], CONFIG_WIDTH)
    fixed = [c for c in cols if c.priority == 1]
    shown = {c.key for c in fit_columns(cols, widths, width, 0)} | {c.key for c in fixed}
    t = Table(title=title, title_justify="left")
    for c in cols:
        if c.key in shown:
            wrap = c.key == "changes"
            t.add_column(c.header, justify=c.align, no_wrap=not wrap, overflow="fold" if wrap else "ellipsis",
                         max_width=CONFIG_WIDTH if wrap else None)
    for i in range(len(rows)):
        t.add_row(*[texts[c.key][i] for c in cols if c.key in shown])
    return t


def seed_noise(res: dict) -> list[str]:
    """How far one seed can move each replayed figure of a comparison
    (``Comparison.to_dict()``): per figure of the runs' ``seed_range``, half its spread over
    the seeds, relative to the figure (absolute for Jain's index), the largest over the
    replays: ["wait p50 ±22%", "Jain ±0.010", ...]. The replay's own error (the ± in the
    tables) is another matter: what the model gets wrong, which more seeds do not shrink."""
    worst: dict[str, float] = {}
    for r in res["runs"]:
        for key, rng in (r.get("seed_range") or {}).items():
            mid = get(r, key)
            if not rng or mid is None:
                continue
            half = (rng[1] - rng[0]) / 2
            relative = catalog.metric(key).unit != catalog.INDEX
            if relative and mid == 0:
                continue
            x = half / abs(mid) if relative else half
            worst[key] = max(worst.get(key, 0.0), x)
    out = []
    for key, x in worst.items():
        m = catalog.metric(key)
        label = ("their " if key.startswith("focus.") else "") + m.label
        out.append(f"{label} ±{fmt_nonzero(fmt_index, x)}" if m.unit == catalog.INDEX else f"{label} ±{fmt_pct(x)}")
    return out


def change(run: dict, base: dict | None, key: str) -> float | None:
    """(run - base) / |base| of a metric, None when either is missing or base is 0."""
    if base is None or run is base:
        return None
    a, b = get(run, key), get(base, key)
    if a is None or b in (None, 0):
        return None
    return (a - b) / abs(b)


def unlike_waits(res: dict, run: dict) -> bool:
    """Whether ``run`` (a row of ``Comparison.to_dict()``) has waits of a cause the recording
    cannot show (``causes_unrecorded``: a trace without wakeup events, say): its overall wait
    figures then count waits the recording's cannot."""
    return run.get("policy") != "observed" and any(
        (get(run, f"wait_ns_by_cause.{c}.count") or 0) > 0 for c in res.get("causes_unrecorded") or ())


def comparable_base(res: dict, base: dict | None, run: dict) -> dict | None:
    """The recording's row as ``run``'s changes against it read it: without its overall wait
    figures (and the focused tasks') when ``run`` has waits of a cause the recording cannot
    show (``unlike_waits``): a change would set unlike waits against each other (each cause's
    own figures stay comparable)."""
    if base is None or not unlike_waits(res, run):
        return base
    out = {**base, "wait_ns": None}
    if isinstance(base.get("focus"), dict):
        out["focus"] = {**base["focus"], "wait_ns": None}
    return out


def unrecorded_note(res: dict) -> str | None:
    """What compare and the report say when a replay has waits of a cause the recording
    cannot show."""
    missing = res.get("causes_unrecorded")
    if not missing or not any(unlike_waits(res, r) for r in res.get("runs") or ()):
        return None
    return (f"the recording has no {' and no '.join(missing)} waits (the trace lacks their events): its wait figures "
            f"count only its {' and '.join(c for c in ('wakeup', 'preempt', 'new') if c not in missing)} waits, a "
            "replay's every cause, so no change against the recording is given for them (compare --json: each "
            "run's wait_ns_by_cause compares cause by cause)")


def compare_cells(run: dict, base: dict | None, validation: dict | None, col: Column) -> tuple[str, str, str, str]:
    """(value, ±error, change, verdict of that figure) texts of one comparison cell: the
    replay's own error on the figure beside a counterfactual value, the change against the
    recording."""
    from ..study.validation import figure_verdict

    cf = run["policy"] != "observed"
    err = validation.get(col.error_key) if (cf and col.error_key and validation) else None
    d = change(run, base, col.key) if cf else None
    return (col.text(run), col.error_text(err), "" if d is None else fmt_change(d),
            (figure_verdict(col.error_key, err) or "") if err is not None else "")


#: how each verdict reads in a terminal
VERDICT_STYLE = {"good": "green", "rough": "yellow", "unreliable": "bold red"}


def compare_table(res: dict, width: int, columns=COMPARE_COLUMNS, title: str | None = None,
                  verdict_key: str = "verdict"):
    """The comparison as a rich Table fitted to ``width`` characters: ``res`` is
    ``Comparison.to_dict()``, ``columns`` COMPARE_COLUMNS or FOCUS_COLUMNS. Each ± (the
    replay's own error on that figure) is coloured by that figure's verdict; the fidelity
    column (``verdict_key`` of the validation) gives the verdict beside every
    counterfactual row when it fits. Policy and topology are always shown in full; the
    other columns by priority while they fit (never cut)."""
    from rich.table import Table
    from rich.text import Text

    runs = res["runs"]
    base = next((r for r in runs if r["policy"] == "observed"), None)
    v = res.get("validation") or {}
    bases = [comparable_base(res, base, r) for r in runs]
    cells = {c.key: [compare_cells(r, b, v, c) for r, b in zip(runs, bases)] for c in columns}

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
    widths = {c.key: max([text_width(c.header)] + [text_width(t.plain) for t in texts[c.key]]) for c in columns}
    verdict = v.get(verdict_key)
    lead = sum(max([len(h)] + [text_width(r[k]) for r in runs]) + CELL_EXTRA
               for h, k in (("policy", "policy"), ("topology", "topology")))
    fid = Column("fidelity", "fidelity", str, priority=2, align="left")
    if verdict:
        widths["fidelity"] = max(len("fidelity"), len(verdict))
    shown = fit_columns(list(columns) + ([fid] if verdict else []), widths, width, lead)
    if title is None:
        title = "policies compared" + (f"; replay fidelity under {v['policy']}: {verdict} (± = the replay's own "
                                       "error on each figure, from validate)" if v else "")
    t = Table(title=title, title_justify="left")
    t.add_column("policy", no_wrap=True, min_width=widths.get("policy"))
    t.add_column("topology", no_wrap=True)
    for c in shown:
        t.add_column(c.header, justify="left" if c is fid else "right", no_wrap=True)
    for i, r in enumerate(runs):
        row = [r["policy"], r["topology"]]
        for c in shown:
            if c is fid:
                row.append(Text("" if r["policy"] == "observed" else verdict, style=VERDICT_STYLE[verdict]))
            else:
                row.append(texts[c.key][i])
        t.add_row(*row)
    return t
