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
              "cpu_time_ns": "cpu_time_rel_err_mean"}
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


def metric(key: str) -> Metric:
    """The catalog entry of ``key`` (a metric the catalog does not list reads as a plain
    number, lower is better)."""
    err = _VALIDATED.get(key)
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
    or Jain's index of a nice level, or one of the focused tasks' figures)."""
    if key in _FIXED:
        return True
    head, _, stat = key.rpartition(".")
    return _is_wait_stat(head, stat) or key.startswith("fairness.jain_by_nice.")


def _is_wait_stat(head: str, stat: str) -> bool:
    """``wait_ns.p99``, ``wait_ns_by_cause.preempt.p99``, and the same under ``focus.``."""
    head = head.removeprefix("focus.")
    return (head == "wait_ns" or head.startswith("wait_ns_by_cause.")) and stat in _WAIT_STATS
