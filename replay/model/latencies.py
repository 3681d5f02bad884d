"""Scheduling latencies measured in a recorded schedule, which the replay charges to the
wakeups it simulates (engine parameters ``idle_wakeup_latency_ns`` and
``preempt_latency_ns``, -1 = measured here)."""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from traces import schema

from .schedule import Schedule, running, waits

#: fewer waits of a kind than this: its latency is taken as 0 (a median of a handful is noise)
MIN_WAITS = 10


class Latencies(NamedTuple):
    """Median latencies of a recorded schedule (ns)."""

    idle_wakeup_ns: int   # wakeup onto an idle CPU -> the wakee switched in (idle exit, IPI)
    preempt_ns: int       # wakeup that preempted the running task -> the preempting switch


NONE = Latencies(0, 0)


def measure_latencies(sched: Schedule) -> Latencies:
    """Median wait of wakeups onto an idle CPU, and of wakeups that preempted the running
    task (its running interval ended exactly when the wakee was switched in), in the
    recorded schedule; 0 when fewer than MIN_WAITS such waits."""
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

    return Latencies(med(idle), med(pre))
