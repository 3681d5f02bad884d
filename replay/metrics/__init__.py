"""Measurement: the metrics of a schedule, recorded or replayed, by one code path.

>>> from replay import metrics
>>> m = metrics.measure(schedule, topology)        # the dict ``metrics --json`` prints
>>> metrics.waits(schedule)                        # one row per wait
>>> metrics.task_table(schedule, topology)         # one row per task

Definitions are in :mod:`replay.metrics.measures` (and the README's "Metrics").
"""

from .measures import (CAUSES, DEFAULT_WINDOW_NS, WAIT_STATS, WORST_WAITS, Measurement, by_class, by_cpu, by_process,
                       comm_names, fairness, focus_figures, jain, measure, measure_all, running, share_errors,
                       summarize, task_table, utilization_grid, wait_sites, wait_stat_exprs, waits)
from .spans import PARTS as SPAN_PARTS, SPAN_STATS, span_figures, span_table

__all__ = ["CAUSES", "DEFAULT_WINDOW_NS", "WAIT_STATS", "WORST_WAITS", "Measurement", "by_class", "by_cpu",
           "by_process", "comm_names", "fairness", "focus_figures", "jain", "measure", "measure_all", "running",
           "share_errors", "span_figures", "span_table", "SPAN_PARTS", "SPAN_STATS", "summarize", "task_table",
           "utilization_grid", "wait_sites", "wait_stat_exprs", "waits"]
