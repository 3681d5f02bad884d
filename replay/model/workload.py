"""The workload model: what each task asked of the scheduler, independent of how it
was scheduled (README, "How replay works").

Per task, a sequence of CPU **bursts**: the CPU time from becoming runnable to
blocking, preemptions removed. Each burst after the first begins

* when another task W, in the replay, reaches the CPU progress at which it woke
  this one in the trace (W's wakeups and forks are *actions* at progress points
  inside W's bursts) — a delayed waker delays its wakees;
* or, for an external wakeup (from interrupt context, by the idle task, by a task
  not running at that moment): after the same sleep length as in the trace
  (default) or at the same absolute time (``--sleep absolute``).

A new task begins at its parent's progress point (the fork). Exits end a task. A task
that the recording shows giving up the CPU while still runnable, with nothing arriving on
its CPU, more often than ticks explain, calls sched_yield at those progress points
(inferred: ``inferred_yields``; engine parameter ``yields``).
Tasks alive when the trace began start in the state they were first seen in:
running or runnable at the start, or blocked until their first wakeup. A burst
still running when the trace ended is *open*: it runs to the end of the replay.
A task still waiting when the trace ended keeps the demand seen (it is not assumed to
want CPU to the end). Each burst keeps the prio (class and nice) it ran with; per-CPU kernel threads
stay pinned to their CPU. Unknown spans (before a task's first known state, or
after lost events) count as sleeps.

The tables are flat with row-index links (schema.WL_*), the form numba reads,
and are written to and read from Parquet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from traces import schema
from traces._memory import small_pages
from traces._numba import jit
from traces.errors import TraceError
from traces.trace import Trace

from .schedule import Schedule, observed_schedule, task_index

START_AT = 0
START_AFTER = 1
START_BY = 2
END_BLOCK = 0
END_EXIT = 1
END_OPEN = 2
ACT_WAKE = 0
ACT_FORK = 1
#: a wakeup that the waker's CPU took in the recording (inferred sync wakeup, WF_SYNC:
#: README "How replay works")
ACT_SYNC_WAKE = 2
#: the task calls sched_yield at this point of its progress (inferred: README "How replay
#: works"); its target_burst is -1
ACT_YIELD = 3


@dataclass
class Workload:
    """The three workload tables as polars DataFrames (schema.WL_TASKS, WL_BURSTS,
    WL_ACTIONS), the time span of the trace it came from, and the application spans to
    follow through a replay (schema.WL_SPANS)."""

    tasks: pl.DataFrame
    bursts: pl.DataFrame
    actions: pl.DataFrame
    start_ns: int
    end_ns: int
    n_cpus: int
    source: str = ""
    #: application spans in workload form (schema.WL_SPANS: each end a point of its
    #: thread's progress; replay.model.spans.points), None when there are none
    spans: pl.DataFrame | None = None
    #: CPU affinity of a synthetic workload's tasks (tid -> the CPUs it may use, as
    #: sched_setaffinity sets it), replayed as ``--set tid=N:cpus=LIST`` would be; None: a
    #: trace's tasks, whose affinity comes from ``--set``. ``write`` keeps it in the tables'
    #: metadata (key ``affinity``, JSON {tid: [cpu, ...]}).
    affinity: dict | None = None

    def write(self, directory) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {b"start_ns": str(self.start_ns).encode(), b"end_ns": str(self.end_ns).encode(),
                b"n_cpus": str(self.n_cpus).encode(), b"source": self.source.encode()}
        if self.affinity is not None:
            meta[b"affinity"] = json.dumps({str(int(t)): sorted(int(c) for c in cpus)
                                            for t, cpus in sorted(self.affinity.items())}).encode()
        for name, df, table in (("tasks", self.tasks, schema.WL_TASKS), ("bursts", self.bursts, schema.WL_BURSTS),
                                ("actions", self.actions, schema.WL_ACTIONS)):
            t = df.to_arrow().cast(table.arrow_schema()).replace_schema_metadata(meta)
            pq.write_table(t, d / f"{name}.parquet", compression="zstd")
        if self.spans is not None and self.spans.height:
            t = self.spans.to_arrow().cast(schema.WL_SPANS.arrow_schema()).replace_schema_metadata(meta)
            pq.write_table(t, d / "spans.parquet", compression="zstd")
        return d

    @classmethod
    def read(cls, directory) -> "Workload":
        d = Path(directory)
        frames = {}
        meta = {}
        for name, table in (("tasks", schema.WL_TASKS), ("bursts", schema.WL_BURSTS),
                            ("actions", schema.WL_ACTIONS)):
            p = d / f"{name}.parquet"
            if not p.exists():
                raise TraceError(f"not a workload directory: {name}.parquet is missing", str(d))
            t = pq.read_table(p)
            if t.schema.names != table.names:
                raise TraceError(f"{name}.parquet has columns {t.schema.names}, expected {table.names}", str(d))
            meta = t.schema.metadata or meta
            frames[name] = pl.from_arrow(t.cast(table.arrow_schema()))
        spans = None
        if (d / "spans.parquet").exists():
            t = pq.read_table(d / "spans.parquet")
            if t.schema.names != schema.WL_SPANS.names:
                raise TraceError(f"spans.parquet has columns {t.schema.names}, expected {schema.WL_SPANS.names}",
                                 str(d))
            spans = pl.from_arrow(t.cast(schema.WL_SPANS.arrow_schema())).with_columns(
                pl.col("name").cast(pl.String), pl.col("group").cast(pl.String))
        affinity = None
        if b"affinity" in meta:
            try:
                affinity = {int(t): tuple(int(c) for c in cpus) for t, cpus in json.loads(meta[b"affinity"]).items()}
            except (ValueError, TypeError, AttributeError) as e:
                raise TraceError(f"tasks.parquet: its affinity metadata is not {{tid: [cpu, ...]}} ({e})", str(d))
        return cls(frames["tasks"], frames["bursts"], frames["actions"], int(meta[b"start_ns"]),
                   int(meta[b"end_ns"]), int(meta[b"n_cpus"]), meta.get(b"source", b"").decode(), spans, affinity)

    def demand_ns(self) -> pl.DataFrame:
        """Per task: tid and the CPU time its closed bursts need (ns)."""
        b = self.bursts.filter(pl.col("demand_ns") >= 0).group_by("task").agg(demand_ns=pl.col("demand_ns").sum())
        return self.tasks.with_row_index("task").select(pl.col("task").cast(pl.Int64), "tid") \
            .join(b, on="task", how="left").with_columns(pl.col("demand_ns").fill_null(0))


@jit
def _segment(task, state, start, end, begin, end_code, wait_start, cause, sleep_state, cpu, capacity,
             o_task, o_demand, o_obs, o_prev_end, o_cause, o_end_kind, o_sleep, o_cpu, o_last_end,
             o_last_cpu, o_progress):
    """Cut each task's intervals (sorted by task, then time) into bursts. Returns the count.
    Demand and progress are work: running time times the recorded CPU's capacity/1024
    (work_of)."""
    n = 0
    i = 0
    N = len(task)
    while i < N:
        t = task[i]
        in_burst = False
        prev_end = -1
        progress = 0
        while i < N and task[i] == t:
            s = state[i]
            if s == schema.RUNNABLE or s == schema.RUNNING:
                if not in_burst:
                    in_burst = True
                    o_task[n] = t
                    o_demand[n] = 0
                    if s == schema.RUNNABLE and wait_start[i] >= 0:
                        o_obs[n] = wait_start[i]
                        c = cause[i]
                    else:
                        o_obs[n] = start[i]
                        c = begin[i]
                    if c != schema.BEGIN_NEW and c != schema.BEGIN_TRACE_START:
                        c = schema.BEGIN_WAKEUP
                    o_cause[n] = c
                    o_prev_end[n] = prev_end
                    o_cpu[n] = cpu[i]
                    o_progress[n] = progress
                    o_last_end[n] = -1
                    o_last_cpu[n] = -1
                if s == schema.RUNNING:
                    d = (end[i] - start[i]) * capacity[cpu[i]] >> 10
                    o_demand[n] += d
                    progress += d
                    o_last_end[n] = end[i]
                    o_last_cpu[n] = cpu[i]
                    e = end_code[i]
                    if e == schema.END_BLOCKED or e == schema.END_EXITED or e == schema.END_LOST \
                            or e == schema.END_TRACE_END:
                        o_end_kind[n] = END_EXIT if e == schema.END_EXITED else (
                            END_OPEN if e == schema.END_TRACE_END else END_BLOCK)
                        o_sleep[n] = 1
                        if i + 1 < N and task[i + 1] == t and state[i + 1] == schema.BLOCKED:
                            o_sleep[n] = sleep_state[i + 1]
                        prev_end = end[i]
                        in_burst = False
                        n += 1
                elif end_code[i] == schema.END_TRACE_END:
                    # waiting when the trace ended: how much more it wanted is unknown, so
                    # the burst keeps the demand seen (it is open only if it was running)
                    o_end_kind[n] = END_BLOCK
                    o_sleep[n] = 0
                    in_burst = False
                    n += 1
            else:  # blocked or unknown
                if in_burst:
                    o_end_kind[n] = END_BLOCK  # an unknown span cut the burst
                    o_sleep[n] = 1
                    prev_end = start[i]
                    in_burst = False
                    n += 1
            i += 1
        if in_burst:
            o_end_kind[n] = END_OPEN
            o_sleep[n] = 0
            n += 1
    return n


#: A task is a CPU hog (its wakeups are interrupts landing on it) when at least this
#: many of its runs ended by a switch-out ...
HOG_MIN_SWITCH_OUTS = 20
#: ... and fewer than this fraction of them were blocking (it makes no syscall that sleeps).
HOG_MAX_BLOCKING = 0.05


def inferred_interrupt_wakeups(b: pl.DataFrame, ev: pl.DataFrame, iv: pl.DataFrame, tasks: pl.DataFrame) -> pl.Series:
    """Which wakeups of ``b`` (bursts joined with the wakeup that began them: columns
    t_tid, cur_tid, irq, cause) came from interrupt context although the trace does not
    say (``irq`` unknown: ``trace-cmd report`` text has no flags column).

    A wakeup in interrupt context (a timer, a device) has no waker: the task it interrupted
    is a bystander, and tying the wakee to that task's progress would make the replay move
    timer wakeups with whatever happened to run. Without the flags, a wakeup is taken to
    be an interrupt's when the task current at the time is a CPU hog (at least
    HOG_MIN_SWITCH_OUTS switch-outs, fewer than HOG_MAX_BLOCKING of them blocking: it makes
    no sleeping syscall, so it is not in one that wakes others) or its wakee is elsewhere
    woken by the idle task (only interrupts wake anything from idle: it has an interrupt
    wake source), unless waker and wakee run the same program (the same comm: threads of
    one process, or processes of one tool, wake each other by syscalls). Measured on the
    corpus captures, whose trace.dat files do record the context: this agrees with the
    recorded context for 99.4% of 86,125 wakeups (the comm test alone: 98.6%)."""
    unknown = pl.col("irq").is_not_null() & (pl.col("irq") == schema.IRQ_UNKNOWN) \
        & (pl.col("cause") == schema.BEGIN_WAKEUP) & (pl.col("cur_tid") > 0)
    if b.filter(unknown).height == 0:
        return pl.Series("interrupt", np.zeros(b.height, bool))
    idle_woken = ev.filter(pl.col("kind").is_in([schema.WAKING, schema.WAKEUP]) & (pl.col("cur_tid") == 0))["tid"]
    outs = iv.filter((pl.col("state") == schema.RUNNING) & pl.col("valid")
                     & pl.col("end").is_in([schema.END_BLOCKED, schema.END_PREEMPTED])) \
        .group_by("tid").agg(n=pl.len(), blocking=(pl.col("end") == schema.END_BLOCKED).sum())
    hogs = outs.filter((pl.col("n") >= HOG_MIN_SWITCH_OUTS) & (pl.col("blocking") < HOG_MAX_BLOCKING * pl.col("n")))
    comm = tasks.select(pl.col("tid").cast(pl.Int32), pl.col("comm").cast(pl.String))
    x = b.select(pl.col("t_tid").cast(pl.Int32), pl.col("cur_tid").cast(pl.Int32), "irq", "cause") \
        .join(comm.rename({"tid": "cur_tid", "comm": "waker_comm"}), on="cur_tid", how="left") \
        .join(comm.rename({"tid": "t_tid", "comm": "wakee_comm"}), on="t_tid", how="left")
    inferred = unknown & (pl.col("cur_tid").is_in(hogs["tid"].cast(pl.Int32).implode())
                          | pl.col("t_tid").is_in(idle_woken.cast(pl.Int32).implode())) \
        & (pl.col("waker_comm") != pl.col("wakee_comm")).fill_null(True)
    return x.select(inferred.fill_null(False).alias("interrupt"))["interrupt"]


#: A task is taken to call sched_yield when at least this many of its runs ended switched
#: out runnable with no other task arriving on its CPU during the run ...
YIELD_MIN = 10
#: ... and more of them than ticks could have preempted: one per this much of its CPU time
#: (a tick preempts at most once, and no kernel ticks faster than HZ=1000)
YIELD_TICK_NS = 1_000_000


def inferred_yields(iv: pl.DataFrame) -> pl.DataFrame:
    """The recorded runs (tid, start_ns, end_ns) that ended in a sched_yield, inferred:
    the trace has no yield event, but a yield shows as a switch-out with the task still
    runnable (prev_state R) although nothing arrived on its CPU during the run — no wakeup,
    no new task, no migration, any of which the kernel preempts for. The tick preempts
    without an arrival too, at most once per tick, so a task counts as yielding only when
    such runs are at least YIELD_MIN and outnumber its CPU time in YIELD_TICK_NS (sysbench's
    threads: 2,628-3,142 such runs in 19-28 ms of CPU time each; CPU hogs preempted by the
    tick: well under one per ms). Only valid runs (no lost events around them) count."""
    run = iv.filter(pl.col("state") == schema.RUNNING)
    pre = run.filter(pl.col("valid") & (pl.col("end") == schema.END_PREEMPTED)).select("tid", "cpu", "start_ns",
                                                                                       "end_ns")
    arrivals = iv.filter((pl.col("state") == schema.RUNNABLE) & (pl.col("cpu") >= 0)).select(
        "cpu", arrived=pl.col("start_ns")).sort("arrived")
    # the last arrival on the CPU before the switch-out (its own runnable interval begins at
    # the switch-out itself, so it is not one)
    j = pre.with_columns(before=pl.col("end_ns") - 1).sort("before").join_asof(
        arrivals, left_on="before", right_on="arrived", by="cpu", strategy="backward", check_sortedness=False)
    unprompted = j.filter(pl.col("arrived").is_null() | (pl.col("arrived") <= pl.col("start_ns")))
    if unprompted.height == 0:
        return unprompted.select("tid", "start_ns", "end_ns")
    cpu_ns = run.group_by("tid").agg(cpu_ns=(pl.col("end_ns") - pl.col("start_ns")).sum())
    yielders = unprompted.group_by("tid").agg(n=pl.len()).join(cpu_ns, on="tid").filter(
        (pl.col("n") >= YIELD_MIN) & (pl.col("n") * YIELD_TICK_NS > pl.col("cpu_ns")))
    return unprompted.filter(pl.col("tid").is_in(yielders["tid"].implode())).select("tid", "start_ns", "end_ns")


def work_of(ns, capacity) -> pl.Expr | np.ndarray:
    """CPU work done in ``ns`` of running on a CPU of ``capacity`` (1024 = the biggest
    CPU): the unit of demand and progress. A burst recorded on a little core asks for less
    work than its running time, and a replay on a big core runs it faster (the engine
    progresses at capacity/1024 per ns, docs/engine-model.md §3). Floor division, as the
    engine's; at capacity 1024 work is the running time."""
    return ns * capacity // 1024


def recorded_capacity(trace: Trace, capacity=None) -> np.ndarray:
    """Per recorded CPU, its capacity: ``capacity`` when given (the recorded machine's
    description), else the trace's cpus table."""
    cap = trace.cpus["capacity"].to_numpy() if capacity is None else np.asarray(capacity)
    n = max(int(trace.cpus.height), len(cap))
    out = np.full(n, 1024, np.int64)
    out[:len(cap)] = cap
    return out


def autogroups(trace: Trace) -> np.ndarray:
    """The task group each task of ``trace`` is scheduled in, inferred (README "How replay
    works"; docs/engine-model.md §13): 0, the root group, for kernel threads and what they
    fork (a kernel thread's session is the root one, kernel/sched/autogroup.c); a task forked
    in the trace, its parent's (sched_autogroup_fork: a child inherits its parent's autogroup);
    a task alive when the trace began, its process's own group (one autogroup per session,
    and a trace does not record sessions: each process there is taken for one). Groups are
    numbered 1.. in the order of the tasks table."""
    tasks = trace.tasks
    tids = tasks["tid"].to_numpy().astype(np.int64)
    row_of = {int(t): i for i, t in enumerate(tids.tolist())}
    forks = trace.events.filter((pl.col("kind") == schema.FORK) & (pl.col("parent_tid") > 0)) \
        .unique("tid", keep="first", maintain_order=True)
    parent_of = {row_of[c]: row_of[p] for c, p in zip(forks["tid"].to_list(), forks["parent_tid"].to_list())
                 if c in row_of and p in row_of and c != p}
    kthread = tasks["is_kthread"].to_numpy()
    tgids = tasks["tgid"].to_numpy().astype(np.int64)
    key = [None] * len(tids)
    for i in range(len(tids)):
        chain = []
        j = i
        while key[j] is None and not kthread[j] and j in parent_of and j not in chain:
            chain.append(j)
            j = parent_of[j]
        if key[j] is None:
            key[j] = 0 if kthread[j] else ("process", int(tgids[j]) if tgids[j] > 0 else int(tids[j]))
        for c in chain:
            key[c] = key[j]
    number = {0: 0}
    for k in key:
        number.setdefault(k, len(number))
    return np.array([number[k] for k in key], np.int32)


@small_pages
def from_schedule(trace: Trace, sched: Schedule | None = None, capacity=None) -> Workload:
    """Build the workload from a trace (and its observed schedule, rebuilt if not given).
    ``capacity``: per CPU of the recorded machine (default: the trace's cpus table); demand
    and progress are work at those capacities (work_of)."""
    sched = sched or observed_schedule(trace)
    capacity = recorded_capacity(trace, capacity)
    tasks = trace.tasks
    tids = tasks["tid"].to_numpy().astype(np.int64)
    iv = sched.intervals
    idx = task_index(tids, iv["tid"].to_numpy())
    keep = idx >= 0
    order = np.lexsort((iv["end_ns"].to_numpy()[keep], iv["start_ns"].to_numpy()[keep], idx[keep]))
    cols = {c: iv[c].to_numpy()[keep][order] for c in ("state", "start_ns", "end_ns", "begin", "end",
                                                      "wait_start_ns", "cause", "sleep_state", "cpu")}
    task = idx[keep][order]
    cap = len(task) + 1
    out = {k: np.empty(cap, np.int64) for k in ("task", "demand", "obs", "prev_end", "cause", "end_kind", "sleep",
                                               "cpu", "last_end", "last_cpu", "progress")}
    n = _segment(task, cols["state"].astype(np.int64), cols["start_ns"], cols["end_ns"],
                 cols["begin"].astype(np.int64), cols["end"].astype(np.int64), cols["wait_start_ns"],
                 cols["cause"].astype(np.int64), cols["sleep_state"].astype(np.int64), cols["cpu"].astype(np.int64),
                 capacity, *out.values())
    b = pl.DataFrame({k: v[:n] for k, v in out.items()}).with_row_index("burst").with_columns(
        pl.col("burst").cast(pl.Int64))
    ev = trace.events
    # prio each burst ran with: prev_prio of the switch that ended its last run
    sw = ev.filter(pl.col("kind") == schema.SWITCH).select(
        pl.col("tid").alias("t_tid"), pl.col("ts_ns").alias("last_end"), pl.col("cpu").cast(pl.Int64).alias("last_cpu"),
        pl.col("prio").alias("sw_prio")).unique(["t_tid", "last_end", "last_cpu"], keep="first")
    b = b.with_columns(t_tid=pl.Series(tids[b["task"].to_numpy()]).cast(pl.Int32))
    b = b.join(sw, on=["t_tid", "last_end", "last_cpu"], how="left")
    task_prio = tasks["prio"].to_numpy()
    fallback = np.where(task_prio == schema.NO_PRIO, schema.DEFAULT_PRIO, task_prio)[b["task"].to_numpy()]
    b = b.with_columns(prio=pl.when(pl.col("sw_prio").is_not_null() & (pl.col("sw_prio") != schema.NO_PRIO))
                       .then(pl.col("sw_prio")).otherwise(pl.Series(fallback)).cast(pl.Int16))
    # who woke / forked each burst: the waking (else wakeup) or wakeup_new event that began it
    wk = ev.filter(pl.col("kind").is_in([schema.WAKING, schema.WAKEUP, schema.WAKEUP_NEW])).select(
        pl.col("tid").alias("t_tid"), pl.col("ts_ns").alias("obs"), "cur_tid", "irq", "kind",
        pl.col("cpu").cast(pl.Int64).alias("waker_cpu")).sort("kind").unique(["t_tid", "obs"], keep="first")
    b = b.join(wk, on=["t_tid", "obs"], how="left")
    # the waker's progress at that moment, from its running intervals
    cap_of_cpu = pl.lit(pl.Series(np.asarray(capacity, np.int64))).gather(pl.col("cpu").cast(pl.Int64))
    run = iv.filter(pl.col("state") == schema.RUNNING).select(
        pl.col("tid").alias("cur_tid"), "start_ns", "end_ns", cap=cap_of_cpu).sort("cur_tid", "start_ns")
    work = work_of(pl.col("end_ns") - pl.col("start_ns"), pl.col("cap"))
    run = run.with_columns(cum=work.cum_sum().over("cur_tid") - work)
    interrupt = inferred_interrupt_wakeups(b, ev, iv, tasks)
    trig = b.filter(pl.col("cause").is_in([schema.BEGIN_WAKEUP, schema.BEGIN_NEW]) & (pl.col("cur_tid") > 0)
                    & (pl.col("irq").is_null() | (pl.col("irq") <= schema.IRQ_NONE)) & ~interrupt) \
        .select("burst", "cur_tid", "obs", "cause", "waker_cpu", "cpu").sort("obs")
    trig = trig.join_asof(run.sort("start_ns"), left_on="obs", right_on="start_ns", by="cur_tid",
                          strategy="backward", check_sortedness=False) \
        .filter(pl.col("end_ns").is_not_null() & (pl.col("obs") <= pl.col("end_ns")))
    trig = trig.with_columns(progress_ns=pl.col("cum") + work_of(pl.col("obs") - pl.col("start_ns"), pl.col("cap")),
                             actor=pl.Series(task_index(tids, trig["cur_tid"].to_numpy())))
    trig = trig.filter(pl.col("actor") >= 0)
    triggered = dict(zip(trig["burst"].to_list(), range(trig.height)))
    # start kinds
    bn = b.sort("burst")
    burst_ids = bn["burst"].to_numpy()
    is_trig = np.array([x in triggered for x in burst_ids.tolist()], bool)
    first = np.r_[True, bn["task"].to_numpy()[1:] != bn["task"].to_numpy()[:-1]]
    obs = bn["obs"].to_numpy()
    prev_end = bn["prev_end"].to_numpy()
    kind = np.where(is_trig, START_BY, np.where(first | (prev_end < 0), START_AT, START_AFTER))
    start = np.where(kind == START_AT, obs, np.where(kind == START_AFTER, obs - prev_end, -1))
    bursts = pl.DataFrame({
        "task": bn["task"], "demand_ns": np.where(bn["end_kind"].to_numpy() == END_OPEN, -1, bn["demand"].to_numpy()),
        "prio": bn["prio"], "start_kind": kind.astype(np.int8), "start_ns": start, "abs_ns": obs,
        "cause": bn["cause"].cast(pl.Int8), "end_kind": bn["end_kind"].cast(pl.Int8),
        "sleep_state": bn["sleep"].cast(pl.Int32), "obs_cpu": bn["cpu"].cast(pl.Int16)})
    # a task-context wakeup whose wakee was enqueued on the waker's own CPU: the kernel's
    # wake_affine took this CPU, as it does for sync wakeups (pipes, sockets: the waker is
    # about to sleep); the trace does not carry WF_SYNC, this is how it shows
    actions = trig.select(pl.col("actor").alias("task"), "progress_ns", pl.col("burst").alias("target_burst"),
                          pl.when(pl.col("cause") == schema.BEGIN_NEW).then(ACT_FORK)
                          .when(pl.col("waker_cpu") == pl.col("cpu")).then(ACT_SYNC_WAKE).otherwise(ACT_WAKE)
                          .cast(pl.Int8).alias("kind"))
    # inferred sched_yield calls: at the progress where the yielding run ended, after any
    # wakeup at that same point (the yield is what switched it out)
    y = inferred_yields(iv).rename({"tid": "cur_tid"}).join(
        run.select("cur_tid", "start_ns", "cum", "cap"), on=["cur_tid", "start_ns"], how="inner")
    if y.height:
        y = y.select(task=pl.Series(task_index(tids, y["cur_tid"].to_numpy())),
                     progress_ns=pl.col("cum") + work_of(pl.col("end_ns") - pl.col("start_ns"), pl.col("cap")),
                     target_burst=pl.lit(-1, pl.Int64), kind=pl.lit(ACT_YIELD, pl.Int8)).filter(pl.col("task") >= 0)
        actions = pl.concat([actions, y.cast(actions.schema)])
    actions = actions.sort("task", "progress_ns", pl.col("kind") == ACT_YIELD, "target_burst").select(
        "task", "progress_ns", "target_burst", "kind")
    # CSR offsets
    T = len(tids)
    nb = np.bincount(bursts["task"].to_numpy(), minlength=T)
    na = np.bincount(actions["task"].to_numpy(), minlength=T) if actions.height else np.zeros(T, np.int64)
    parent = np.full(T, -1, np.int64)
    forks = trig.filter(pl.col("cause") == schema.BEGIN_NEW)
    if forks.height:
        child = bursts["task"].to_numpy()[forks["burst"].to_numpy()]
        parent[child] = forks["actor"].to_numpy()
    nice = tasks["nice"].to_numpy()
    wl_tasks = pl.DataFrame({
        "tid": tids.astype(np.int32), "tgid": tasks["tgid"], "comm": tasks["comm"].cast(pl.String),
        "first_burst": np.r_[0, np.cumsum(nb)[:-1]].astype(np.int64), "n_bursts": nb.astype(np.int64),
        "first_action": np.r_[0, np.cumsum(na)[:-1]].astype(np.int64), "n_actions": na.astype(np.int64),
        "pinned_cpu": tasks["pinned_cpu"], "parent": parent, "nice": nice, "group": autogroups(trace)})
    spans = None
    if sched.spans is not None and sched.spans.height:
        from .spans import points

        spans = points(sched.spans.drop("unfinished"), sched, tids, capacity)
    return Workload(wl_tasks, bursts, actions, sched.start_ns, sched.end_ns, sched.n_cpus, trace.path, spans)


def make_workload(tasks: list[dict], actions=(), start_ns: int = 0, end_ns: int = 50_000_000,
                  n_cpus: int = 1) -> Workload:
    """A Workload from plain descriptions.

    ``tasks``: dicts with ``bursts`` (list of dicts: ``demand`` ns or -1, ``prio`` (default 120),
    ``kind`` (START_AT/START_AFTER/START_BY, default START_AT), ``start`` (kind 0: absolute,
    kind 1: sleep length), ``abs`` (default: ``start``), ``cause`` (default: trace_start for a
    first burst started at a time, new for a first burst started by a fork, else wakeup),
    ``end`` (END_BLOCK/END_EXIT/END_OPEN; default: open if demand is -1, else exit for the last
    burst, else block), ``sleep`` (default 1)) and optional ``tid``, ``comm``,
    ``pinned`` (a CPU: a per-CPU thread), ``affinity`` (the CPUs it may use, as
    sched_setaffinity sets them), ``parent``, ``nice``, ``group`` (the task group it is
    scheduled in: 0 the root group, default; docs/engine-model.md §13), ``cpu`` (for a task alive when the
    workload begins, the CPU it was last on: its first burst is placed from there, or,
    started at the workload's start, queued there; default none, as for a task never seen).
    ``actions``: (actor task, progress_ns, target task, target burst position, kind) tuples,
    kind 0 wake / 1 fork / 2 sync wake / 3 sched_yield (target ignored: -1)."""
    rows_t = {k: [] for k in ("tid", "tgid", "comm", "first_burst", "n_bursts", "first_action", "n_actions",
                              "pinned_cpu", "parent", "nice", "group")}
    rows_b = {k: [] for k in ("task", "demand_ns", "prio", "start_kind", "start_ns", "abs_ns", "cause",
                              "end_kind", "sleep_state", "obs_cpu")}
    first_of = []
    nb = 0
    for i, t in enumerate(tasks):
        first_of.append(nb)
        bs = t["bursts"]
        for j, b in enumerate(bs):
            kind = b.get("kind", START_AT)
            demand = int(b["demand"])
            if j == 0:
                cause = schema.BEGIN_NEW if kind == START_BY else schema.BEGIN_TRACE_START
            else:
                cause = schema.BEGIN_WAKEUP
            end = b.get("end", END_OPEN if demand < 0 else (END_EXIT if j == len(bs) - 1 else END_BLOCK))
            start = int(b.get("start", start_ns if kind == START_AT else (0 if kind == START_AFTER else -1)))
            rows_b["task"].append(i)
            rows_b["demand_ns"].append(demand)
            rows_b["prio"].append(int(b.get("prio", 120)))
            rows_b["start_kind"].append(kind)
            rows_b["start_ns"].append(start)
            rows_b["abs_ns"].append(int(b.get("abs", start if kind == START_AT else start_ns)))
            cause = int(b.get("cause", cause))
            rows_b["cause"].append(cause)
            rows_b["end_kind"].append(end)
            rows_b["sleep_state"].append(int(b.get("sleep", 1)) if end == END_BLOCK else 0)
            # the CPU a task alive when the workload begins was on (engine-model.md §4)
            rows_b["obs_cpu"].append(int(t.get("cpu", -1)) if j == 0 and cause != schema.BEGIN_NEW else -1)
        nb += len(bs)
    acts = sorted(((int(a), int(p), first_of[tt] + int(pos) if int(k) != ACT_YIELD else -1, int(k))
                   for a, p, tt, pos, k in actions), key=lambda a: (a[0], a[1], a[3] == ACT_YIELD, a[2]))
    n_act = [0] * len(tasks)
    for a in acts:
        n_act[a[0]] += 1
    fa = 0
    for i, t in enumerate(tasks):
        prios = [b.get("prio", 120) for b in t["bursts"] if b.get("prio", 120) >= 100]
        rows_t["tid"].append(int(t.get("tid", 100 + i)))
        rows_t["tgid"].append(int(t.get("tid", 100 + i)))
        rows_t["comm"].append(t.get("comm", f"t{i}"))
        rows_t["first_burst"].append(first_of[i])
        rows_t["n_bursts"].append(len(t["bursts"]))
        rows_t["first_action"].append(fa)
        rows_t["n_actions"].append(n_act[i])
        rows_t["pinned_cpu"].append(int(t.get("pinned", -1)))
        rows_t["parent"].append(int(t.get("parent", -1)))
        rows_t["nice"].append(int(t.get("nice", (prios[-1] - 120) if prios else 0)))
        rows_t["group"].append(int(t.get("group", 0)))
        fa += n_act[i]
    tt = pl.DataFrame(rows_t).cast({"tid": pl.Int32, "tgid": pl.Int32, "comm": pl.String, "first_burst": pl.Int64,
                                    "n_bursts": pl.Int64, "first_action": pl.Int64, "n_actions": pl.Int64,
                                    "pinned_cpu": pl.Int16, "parent": pl.Int64, "nice": pl.Int8,
                                    "group": pl.Int32})
    bb = pl.DataFrame(rows_b, schema={"task": pl.Int64, "demand_ns": pl.Int64, "prio": pl.Int16,
                                      "start_kind": pl.Int8, "start_ns": pl.Int64, "abs_ns": pl.Int64,
                                      "cause": pl.Int8, "end_kind": pl.Int8, "sleep_state": pl.Int32,
                                      "obs_cpu": pl.Int16})
    aa = pl.DataFrame({"task": [a[0] for a in acts], "progress_ns": [a[1] for a in acts],
                       "target_burst": [a[2] for a in acts], "kind": [a[3] for a in acts]},
                      schema={"task": pl.Int64, "progress_ns": pl.Int64, "target_burst": pl.Int64, "kind": pl.Int8})
    affinity = {int(t.get("tid", 100 + i)): tuple(sorted({int(c) for c in t["affinity"]}))
                for i, t in enumerate(tasks) if t.get("affinity") is not None}
    return Workload(tt, bb, aa, int(start_ns), int(end_ns), int(n_cpus), "test", affinity=affinity or None)
