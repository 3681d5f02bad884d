"""What each metric is: its unit, which direction is better, and which validation error
bounds a difference in it. One catalog for every table that shows metrics (terminal, HTML
report, sweep results) and for sweeps' objectives.

Keys are the dotted paths of the ``metrics --json`` object (``wait_ns.p99``,
``fairness.jain``, ``migrations.cross_node``), as sweep output columns name them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: units: how a value reads
NS = "ns"              # a duration
COUNT = "count"        # a number of things
FRACTION = "fraction"  # 0..1, shown as a percentage
INDEX = "index"        # a dimensionless number (Jain's index, share error in CPUs)
RATE = "rate"          # per second
SECONDS = "s"


@dataclass(frozen=True)
class Metric:
    """One metric: ``key`` (dotted JSON path), ``label`` (a short column header), ``unit``,
    ``better`` ("lower", "higher" or None when neither is better: an amount of work), and
    ``error_key``: the validation key (replay.validate) whose magnitude is the replay's own
    error on this figure (None when validation does not measure it), relative
    (``*_rel_err``: a fraction of the figure) or absolute (``*_abs_err``: in the figure's
    own unit, for figures that are already fractions)."""

    key: str
    label: str
    unit: str
    better: str | None
    error_key: str | None = None

    @property
    def error_is_relative(self) -> bool:
        return self.error_key is not None and not self.error_key.endswith("_abs_err")

    @property
    def higher_is_better(self) -> bool:
        return self.better == "higher"


_WAIT_STATS = {"count": ("waits", COUNT, None), "mean": ("wait mean", NS, "lower"), "p50": ("wait p50", NS, "lower"),
               "p90": ("wait p90", NS, "lower"), "p99": ("wait p99", NS, "lower"),
               "p999": ("wait p99.9", NS, "lower"), "max": ("wait max", NS, "lower")}
#: the figures validation measures, and the error key of each (wait statistics by cause
#: are added below: wait_ns_by_cause.CAUSE.p99 -> wait_CAUSE_p99_rel_err)
_VALIDATED = {"wait_ns.p50": "wait_p50_rel_err", "wait_ns.p90": "wait_p90_rel_err",
              "wait_ns.p99": "wait_p99_rel_err", "wait_ns.count": "wait_count_rel_err",
              "wait_ns.max": "max_wait_rel_err", "fairness.max_wait_ns": "max_wait_rel_err",
              "fairness.jain": "jain_abs_err", "fairness.share_error": "share_error_abs_err",
              "context_switches": "switches_rel_err", "migrations.total": "migrations_rel_err",
              "cpu_time_ns": "cpu_time_rel_err_mean",
              "wakeup_placement.onto_busy_fraction": "onto_busy_abs_err"}
for _cause in ("wakeup", "preempt", "new"):
    for _stat in ("p50", "p90", "p99", "count"):
        _VALIDATED[f"wait_ns_by_cause.{_cause}.{_stat}"] = f"wait_{_cause}_{_stat}_rel_err"
#: the focused tasks' figures (``--focus``: metrics "focus") and their own errors in the
#: validation replay (replay.validate with ``focus``)
FOCUS_ERRORS = {"focus.wait_ns.p50": "focus_wait_p50_rel_err", "focus.wait_ns.p90": "focus_wait_p90_rel_err",
                "focus.wait_ns.p99": "focus_wait_p99_rel_err", "focus.wait_ns.count": "focus_wait_count_rel_err",
                "focus.wait_ns.max": "focus_max_wait_rel_err", "focus.cpu_time_ns": "focus_cpu_time_rel_err",
                "focus.cpu_share": "focus_cpu_share_rel_err"}
_VALIDATED.update(FOCUS_ERRORS)

_FIXED = {
    "duration_ns": ("duration", NS, None), "n_cpus": ("CPUs", COUNT, None), "n_tasks": ("tasks", COUNT, None),
    "cpu_time_ns": ("CPU time", NS, None), "utilization": ("util.", FRACTION, "higher"),
    "context_switches": ("switches", COUNT, None), "involuntary_switches": ("involuntary", COUNT, "lower"),
    "migrations.total": ("migrations", COUNT, "lower"), "migrations.cross_llc": ("x-LLC migr.", COUNT, "lower"),
    "migrations.cross_node": ("x-node migr.", COUNT, "lower"),
    "wakeup_placement.wakeups": ("wakeups", COUNT, None),
    "wakeup_placement.onto_busy": ("woken onto busy", COUNT, None),
    "wakeup_placement.onto_busy_fraction": ("onto busy CPU", FRACTION, None),
    "fairness.jain": ("Jain", INDEX, "higher"), "fairness.jain_tasks": ("Jain tasks", COUNT, None),
    "fairness.share_error": ("share err.", INDEX, "lower"), "fairness.share_error_max": ("share err. max", INDEX,
                                                                                         "lower"),
    "fairness.share_windows": ("share windows", COUNT, None), "fairness.window_ns": ("window", NS, None),
    "fairness.max_wait_ns": ("longest wait", NS, "lower"),
    "numa.home_fraction": ("NUMA home", FRACTION, "higher"),
    "numa.cross_node_migrations": ("x-node migr.", COUNT, "lower"),
    "numa.cross_node_migrations_per_s": ("x-node migr./s", RATE, "lower"),
    "focus.tasks": ("tasks", COUNT, None), "focus.cpu_time_ns": ("CPU time", NS, None),
    "focus.cpu_share": ("CPU share", FRACTION, None), "focus.runnable_ns": ("waiting", NS, "lower"),
    "focus.switches": ("switches", COUNT, None), "focus.involuntary": ("involuntary", COUNT, "lower"),
    "focus.migrations": ("migrations", COUNT, "lower"),
    "events_simulated": ("events", COUNT, None), "wall_s": ("wall", SECONDS, "lower"),
    "run_s": ("run", SECONDS, "lower"),
}


#: application span figures (metrics "span": per span name) and how each reads
_SPAN_STATS = {"count": ("spans", COUNT, None), "unfinished": ("unfinished", COUNT, "lower"),
               "mean": ("mean", NS, "lower"), "p50": ("p50", NS, "lower"), "p90": ("p90", NS, "lower"),
               "p99": ("p99", NS, "lower"), "max": ("max", NS, "lower")}
#: the span statistics validation measures (span.NAME.STAT -> span.NAME.STAT_rel_err)
SPAN_VALIDATED = ("count", "mean", "p50", "p90", "p99", "max")
_SPAN_PARTS = {"running": "running", "runnable_wakeup": "runnable (wakeup)",
               "runnable_preempt": "runnable (preempt)", "runnable_new": "runnable (new)",
               "runnable_other": "runnable (other)", "blocked": "blocked", "unknown": "unknown"}


def split_span_key(key: str) -> tuple[str, str] | None:
    """(span name, statistic) of a span metric key: ``span.decode.p99`` -> ("decode",
    "p99"), ``span.decode.breakdown.running`` -> ("decode", "breakdown.running"); a name may
    itself contain dots. None for a key that is not a span figure."""
    if not key.startswith("span."):
        return None
    rest = key[5:]
    head, _, part = rest.rpartition(".")
    if head.endswith(".breakdown") and part in _SPAN_PARTS:
        return head[:-len(".breakdown")], f"breakdown.{part}"
    if head and part in _SPAN_STATS:
        return head, part
    return None


def span_key(name: str, stat: str) -> str:
    return f"span.{name}.{stat}"


def span_error_key(name: str, stat: str) -> str:
    """The validation error key of a span statistic (``span.decode.p99_rel_err``)."""
    return f"span.{name}.{stat}_rel_err"


def _span_metric(key: str) -> Metric | None:
    sk = split_span_key(key)
    if sk is None:
        return None
    name, stat = sk
    if stat.startswith("breakdown."):
        part = stat.split(".", 1)[1]
        return Metric(key, f"{name}: {_SPAN_PARTS[part]}", NS, None)
    label, unit, better = _SPAN_STATS[stat]
    return Metric(key, f"{name} {label}", unit, better, span_error_key(name, stat) if stat in SPAN_VALIDATED else None)


def metric(key: str) -> Metric:
    """The catalog entry of ``key`` (a metric the catalog does not list reads as a plain
    number, lower is better)."""
    err = _VALIDATED.get(key)
    span = _span_metric(key)
    if span is not None:
        return span
    if key in _FIXED:
        label, unit, better = _FIXED[key]
        return Metric(key, label, unit, better, err)
    head, _, stat = key.rpartition(".")
    if _is_wait_stat(head, stat):
        label, unit, better = _WAIT_STATS[stat]
        if not head.endswith("wait_ns"):
            label = f"{head.rsplit('.', 1)[1]} {label}"
        return Metric(key, label, unit, better, err)
    if key.startswith("fairness.jain_by_nice."):
        return Metric(key, f"Jain nice {key.rsplit('.', 1)[1]}", INDEX, "higher")
    return Metric(key, key, INDEX, "lower")


def is_known(key: str) -> bool:
    """Whether ``key`` names a metric of the catalog (exactly, or a wait statistic by cause,
    or Jain's index of a nice level, or one of the focused tasks' figures, or a figure of an
    application span name: ``span.NAME.p99``)."""
    if key in _FIXED or split_span_key(key) is not None:
        return True
    head, _, stat = key.rpartition(".")
    return _is_wait_stat(head, stat) or key.startswith("fairness.jain_by_nice.")


def _is_wait_stat(head: str, stat: str) -> bool:
    """``wait_ns.p99``, ``wait_ns_by_cause.preempt.p99``, and the same under ``focus.``."""
    head = head.removeprefix("focus.")
    return (head == "wait_ns" or head.startswith("wait_ns_by_cause.")) and stat in _WAIT_STATS
