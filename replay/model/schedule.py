"""Schedules: what each task went through, as state intervals.

:func:`observed_schedule` rebuilds the recorded schedule from a trace's
events; the replay engine produces the same :class:`Schedule` shape, so every
metric is computed by one function on either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from traces import schema
from traces._memory import small_pages
from traces.trace import Trace

from . import _schedule_kernel as K


@dataclass
class Schedule:
    """A schedule: the intervals table plus what is needed to measure it.

    ``intervals`` has the columns of ``traces.schema.INTERVALS``; ``tasks``
    those of ``schema.TASKS``; ``start_ns``/``end_ns`` bound the schedule;
    ``n_cpus`` is the number of CPUs it ran on; ``spans`` the application spans.
    """

    intervals: pl.DataFrame
    tasks: pl.DataFrame
    start_ns: int
    end_ns: int
    n_cpus: int
    source: str = "observed"
    warnings: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    has_waking: bool = True
    #: application spans (schema.SPANS columns and ``unfinished``) as this schedule ran
    #: them: the recorded ones for the observed schedule, the replayed ones for a replay
    #: (replay.model.spans); None when there are none
    spans: pl.DataFrame | None = None

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def tid_table(tids: np.ndarray) -> np.ndarray | None:
    """Dense tid -> task index table (int32, -1 for tids not in the sorted ``tids``), or
    None when the largest tid is too large for one (>= 2**24; Linux's pid_max is 2**22)."""
    top = int(tids[-1]) if len(tids) else 0
    if top >= (1 << 24):
        return None
    dense = np.full(top + 1, -1, np.int32)
    dense[tids[tids > 0]] = np.flatnonzero(tids > 0)
    return dense


def task_index(tids: np.ndarray, col: np.ndarray, dtype=np.int64, dense: np.ndarray | None = None) -> np.ndarray:
    """Index of each tid of ``col`` in the sorted ``tids``; -1 for tid <= 0 or unknown.
    ``dense``: tid_table(tids), when the caller already has it."""
    col = np.asarray(col)
    if len(tids) == 0:
        return np.full(len(col), -1, dtype)
    if dense is None:
        dense = tid_table(tids)
    if dense is not None:
        out = np.empty(len(col), dtype)  # map_tids writes every element
        K.map_tids(col, dense, out)
        return out
    out = np.full(len(col), -1, dtype)
    pos = np.searchsorted(tids, col)
    pos = np.minimum(pos, len(tids) - 1)
    hit = (tids[pos] == col) & (col > 0)
    out[hit] = pos[hit]
    return out


#: Causes of a wait (schema.BEGIN_* codes a runnable interval can begin with), by name.
CAUSES = {"wakeup": schema.BEGIN_WAKEUP, "preempt": schema.BEGIN_PREEMPT, "new": schema.BEGIN_NEW}


def waits(schedule: Schedule) -> pl.DataFrame:
    """One row per wait: tid, cpu (where it ended), cause (schema.BEGIN_* code),
    cause_name, wait_start_ns (ns), switch_in_ns (ns), wait_ns (ns).

    A wait is a valid runnable interval that ends with the task switched in, whose start
    is known and whose cause is a wakeup, a preemption or a new task (README "Metrics")."""
    iv = schedule.intervals
    w = iv.filter((pl.col("state") == schema.RUNNABLE) & (pl.col("end") == schema.END_SWITCHED_IN)
                  & pl.col("valid") & (pl.col("wait_start_ns") >= 0)
                  & pl.col("cause").is_in(list(CAUSES.values())))
    names = {v: k for k, v in CAUSES.items()}
    return w.select(
        "tid", "cpu", "cause",
        pl.col("cause").replace_strict(names, return_dtype=pl.String).alias("cause_name"),
        "wait_start_ns", pl.col("end_ns").alias("switch_in_ns"),
        (pl.col("end_ns") - pl.col("wait_start_ns")).alias("wait_ns"))


def running(schedule: Schedule) -> pl.DataFrame:
    """Valid running intervals: tid, cpu, start_ns, end_ns (ns), end (code)."""
    iv = schedule.intervals
    return iv.filter((pl.col("state") == schema.RUNNING) & pl.col("valid")).select("tid", "cpu", "start_ns",
                                                                                    "end_ns", "end")


#: A CPU silent for longer than this (no tick, no event) before an unseen
#: context switch: when the switch happened is unknown. Two ticks at HZ=250
#: plus margin; a running fair task emits sched_stat_runtime at every tick.
DARK_GAP_NS = 10_000_000


@small_pages
def observed_schedule(trace: Trace, dark_gap_ns: int = DARK_GAP_NS) -> Schedule:
    """The recorded schedule of ``trace`` (see :mod:`replay._schedule_kernel` for the rules).

    Intervals before a task's first known state are ``unknown`` and invalid;
    spans damaged by lost or contradictory events are invalid; waits are the
    runnable intervals that end ``switched_in``.
    """
    ev = trace.event_arrays("ts_ns", "cpu", "kind", "cur_tid", "tid", "prev_state", "next_tid",
                            "target_cpu", "old_tid", "runtime_ns")
    tasks = trace.tasks
    tids = tasks["tid"].to_numpy().astype(np.int64)
    kind = ev["kind"]
    n = len(kind)
    n_lost = int(np.count_nonzero(kind == schema.LOST))
    n_cpus = max(int(trace.cpus.height), int(ev["cpu"].max()) + 1 if n else 1)
    has_waking = bool(np.any(kind == schema.WAKING))
    meta = trace.meta.row(0, named=True)
    start, end = int(meta["first_ns"]), int(meta["last_ns"])
    cap = 2 * n + (2 + n_lost) * len(tids) + 16
    out = {f.name: np.empty(cap, f.numpy_dtype) for f in schema.INTERVALS.fields}
    stats = np.zeros(K.S_SIZE, np.int64)
    bad_at = np.full(64, -1, np.int64)
    # The kernel looks tids up in a dense table itself and reads the CPU columns as they
    # are (int16): no per-event index columns (160 MB for 10M events), as fresh memory is
    # costly to first-touch.
    keys = {name: ev[name] for name in ("cur_tid", "tid", "next_tid", "old_tid")}
    index = tid_table(tids)
    if index is None:  # huge tids: index columns (shifted by one, 0 = none) and an identity table
        keys = {name: task_index(tids, col, np.int32) + 1 for name, col in keys.items()}
        index = np.arange(-1, len(tids), dtype=np.int32)
    events = K.ScheduleEvents(ev["ts_ns"], ev["cpu"], kind, ev["cur_tid"], keys["cur_tid"], keys["tid"],
                              ev["prev_state"], keys["next_tid"], ev["target_cpu"], keys["old_tid"], ev["runtime_ns"])
    rows = K.build_intervals(events, index, start, end, n_cpus, has_waking, dark_gap_ns,
                             K.Intervals(**out, tids=tids.astype(np.int32)), stats, bad_at)
    intervals = pl.DataFrame({name: arr[:rows] for name, arr in out.items()})
    bad_ts = [int(ev["ts_ns"][i]) for i in bad_at if i >= 0]
    counters = {
        "inconsistent_events": int(stats[K.S_INCONSISTENT]),
        "wakeups_of_runnable_tasks": int(stats[K.S_WAKE_NOOP]),
        "switch_in_without_wakeup": int(stats[K.S_SWITCH_NO_WAKE]),
        "task_states_lost": int(stats[K.S_LOST_TASKS]),
        "running_revealed": int(stats[K.S_REVEALED]),
        "switch_in_inferred": int(stats[K.S_INFERRED]),
        "switch_out_inferred": int(stats[K.S_MISSED_OUT]),
    }
    warnings = list(trace.warnings)  # what was damaged or left out when it was read comes first
    if counters["inconsistent_events"]:
        warnings.append(f"{counters['inconsistent_events']} events contradicted the task states built so far "
                        "(lost or reordered events); the spans around them are marked invalid"
                        + (f" (first at {bad_ts[0] / 1e9:.6f} s)" if bad_ts else ""))
    missed = counters["switch_in_inferred"] + counters["switch_out_inferred"]
    if missed:
        warnings.append(f"{missed} context switches were not in the trace ({counters['switch_in_inferred']} "
                        f"in, {counters['switch_out_inferred']} out; the Linux 6.18 corpus kernels skip "
                        "some); each was inferred from the events around it")
    has_wakeups = bool(np.any((kind == schema.WAKEUP) | (kind == schema.WAKING)))
    if not has_wakeups:
        warnings.append("the trace has no sched_waking/sched_wakeup events: wakeup waits cannot be "
                        "measured (tasks go from blocked straight to running)")
    spans = trace.spans
    sched = Schedule(intervals, tasks, start, end, n_cpus, "observed", warnings, counters, has_waking,
                     spans.with_columns(unfinished=pl.lit(False)) if spans.height else None)
    sched.bad_events = [int(i) for i in bad_at if i >= 0]
    return sched
