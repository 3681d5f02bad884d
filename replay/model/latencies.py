"""Scheduling latencies measured in a recorded schedule, which the replay charges to the
wakeups it simulates (engine parameters ``idle_wakeup_latency_ns`` and
``preempt_latency_ns``, -1 = measured here).

Two kinds, as the recording shows them:

* **idle wakeup**: a wakeup onto an idle CPU, from sched_waking to the switch-in (the
  wakeup IPI, the idle-state exit: deep idle states on phones cost hundreds of µs);
* **preemption**: a wakeup that preempted the running task, from sched_waking to the
  preempting switch (the time to the next preemption point).

Each is kept as a distribution per CPU (``QUANTILES`` evenly spaced quantiles of that
CPU's waits, so the rare long ones stay: a stalled vCPU, a deep idle state), which the
engine samples with the run's seed; a CPU with fewer than MIN_WAITS such waits uses the
whole machine's, and a machine with fewer uses 0. The medians are kept as the one-number
summary a replay reports.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl

from traces import schema

from .schedule import Schedule, running, waits

#: fewer waits of a kind than this (on a CPU, or on the machine): not a distribution
MIN_WAITS = 10
#: points per distribution: quantiles at (i + 0.5) / QUANTILES
QUANTILES = 128


_NO_TABLE = np.zeros((0, QUANTILES), np.int64)


class Latencies(NamedTuple):
    """Latencies of a recorded schedule (ns): medians, per-CPU distributions
    (``[n_cpus, QUANTILES]`` quantile tables) and the whole machine's (``[1, QUANTILES]``,
    for a replay on another machine); tables with no row when nothing was measured."""

    idle_wakeup_ns: int   # median: wakeup onto an idle CPU -> the wakee switched in
    preempt_ns: int       # median: wakeup that preempted the running task -> the preempting switch
    idle_table: np.ndarray = _NO_TABLE
    preempt_table: np.ndarray = _NO_TABLE
    idle_machine: np.ndarray = _NO_TABLE
    preempt_machine: np.ndarray = _NO_TABLE

    def tables(self, n_cpus: int, cpus=None) -> tuple[np.ndarray, np.ndarray]:
        """(idle, preempt) tables for a replay on ``n_cpus`` CPUs: the per-CPU rows of
        ``cpus`` (the recorded machine's CPU ids the replay runs on), else every CPU gets the
        whole machine's distribution. A table with no row: nothing was measured."""
        out = []
        for per_cpu, machine in ((self.idle_table, self.idle_machine), (self.preempt_table, self.preempt_machine)):
            if len(machine) == 0:
                out.append(_NO_TABLE)
            elif cpus is not None and len(per_cpu) and int(np.max(cpus, initial=-1)) < len(per_cpu):
                out.append(per_cpu[np.asarray(cpus, np.int64)])
            else:
                out.append(np.tile(machine, (n_cpus, 1)))
        return out[0], out[1]


NONE = Latencies(0, 0)


def _tables(df: pl.DataFrame, n_cpus: int) -> tuple[np.ndarray, np.ndarray]:
    """([n_cpus, QUANTILES] quantiles of each CPU's waits, the machine's where a CPU has too
    few; [1, QUANTILES] of the machine's): no row when the machine has too few."""
    if df.height < MIN_WAITS:
        return _NO_TABLE, _NO_TABLE
    q = (np.arange(QUANTILES) + 0.5) / QUANTILES
    everything = np.quantile(df["wait_ns"].to_numpy(), q, method="inverted_cdf").astype(np.int64)
    table = np.tile(everything, (max(n_cpus, 1), 1))
    for (cpu,), g in df.group_by(["cpu"]):
        if 0 <= cpu < n_cpus and g.height >= MIN_WAITS:
            table[cpu] = np.quantile(g["wait_ns"].to_numpy(), q, method="inverted_cdf").astype(np.int64)
    return table, everything[None, :]


def measure_latencies(sched: Schedule) -> Latencies:
    """Waits of wakeups onto an idle CPU, and of wakeups that preempted the running task
    (its running interval ended exactly when the wakee was switched in), in the recorded
    schedule: their medians (0 when fewer than MIN_WAITS) and per-CPU distributions."""
    w = waits(sched).filter(pl.col("cause") == schema.BEGIN_WAKEUP).sort("wait_start_ns")
    if w.height == 0:
        return NONE
    r = running(sched).sort("start_ns")
    busy = w.join_asof(r.select(pl.col("cpu"), pl.col("start_ns").alias("r_start"), pl.col("end_ns").alias("r_end"),
                                pl.col("end").alias("r_endcode")),
                       left_on="wait_start_ns", right_on="r_start", by="cpu", strategy="backward",
                       check_sortedness=False)
    idle = busy.filter(pl.col("r_end").is_null() | (pl.col("r_end") <= pl.col("wait_start_ns")))
    pre = busy.filter((pl.col("r_end") == pl.col("switch_in_ns")) & (pl.col("r_endcode") == schema.END_PREEMPTED))

    def med(df):
        return int(df["wait_ns"].median()) if df.height >= MIN_WAITS else 0

    idle_t, idle_m = _tables(idle, sched.n_cpus)
    pre_t, pre_m = _tables(pre, sched.n_cpus)
    return Latencies(med(idle), med(pre), idle_t, pre_t, idle_m, pre_m)
