"""Export a schedule (replayed or observed) as a Perfetto trace.

>>> from replay.present.export import schedule_to_perfetto
>>> sched, info = replay(trace, policy="cfs")
>>> schedule_to_perfetto(sched, "cfs.pftrace", trace=trace)

The file holds ftrace ``sched_switch`` and ``sched_waking`` events in the
``compact_sched`` encoding, plus the few plain events the intervals imply
(``sched_wakeup_new``, ``sched_migrate_task``, ``sched_process_exit``), and
the process tree, so it opens in the Perfetto UI (ui.perfetto.dev) next to the
original capture. The events are rebuilt from the intervals table:

* a **switch** at every boundary of a running interval on its CPU: one
  ``prev -> next`` switch where one task's run ends exactly when another's
  begins on that CPU, else ``prev -> idle`` (tid 0, comm ``swapper/N``) and
  ``idle -> next``. ``prev_state`` comes from how the run ended: preempted ->
  the ``R``/``R+`` the following runnable interval records (``sleep_state``),
  blocked -> the following blocked interval's sleep state (``S`` when it has
  none), exited -> ``X`` (after a ``sched_process_exit``). A run still going at
  the end of the schedule is not switched out.
* a **waking** at the start of every runnable interval that began with a
  wakeup (``target_cpu`` = the interval's CPU), a ``sched_wakeup_new`` for a
  new task, and a ``sched_migrate_task`` where a waiting task moved to another
  CPU. These are recorded on the CPU where the wait ended (where the task was
  switched in), so the events of one wait are read back in the order written.
* a ``sched_stat_runtime`` marker at the schedule's start and end when no
  other event falls there, so a reader sees the same time span.

Reading the file back (``traces.load`` then
:func:`replay.model.observed_schedule`) gives the same running intervals
(tid, cpu, start, end) and the same waits (tid, cpu, cause, wait start,
switch-in), with one limit of the format: a reader orders events of the same
nanosecond on different CPUs by CPU number, so a task that leaves a CPU and
reaches a lower-numbered one within the same nanosecond cannot be ordered;
such cases are counted in :attr:`PerfettoExport.unordered` (and a warning).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from traces import schema

from ..model.schedule import Schedule

#: Task-transition keys: 3 * p + sub for interval p of the task-sorted intervals. The
#: event that starts interval p (wakeup, migration, switch-in) comes first, then at its
#: end an exit event, then the switch-out.
_SUB_IN, _SUB_EXIT, _SUB_OUT = 0, 1, 2


@dataclass
class PerfettoExport:
    """What :func:`schedule_to_perfetto` wrote."""

    path: Path
    events: int
    counts: dict[str, int] = field(default_factory=dict)
    unordered: int = 0
    warnings: list[str] = field(default_factory=list)

    def __fspath__(self) -> str:
        return os.fspath(self.path)


def _task_names(tasks: pl.DataFrame | None) -> tuple[dict[int, str], dict[int, int]]:
    """comm and prio by tid from a tasks table (any subset of schema.TASKS columns)."""
    if tasks is None or tasks.height == 0:
        return {}, {}
    tid = tasks["tid"].cast(pl.Int64).to_list()
    comm = tasks["comm"].cast(pl.String).fill_null("").to_list() if "comm" in tasks.columns else [""] * len(tid)
    prio = tasks["prio"].cast(pl.Int64).to_list() if "prio" in tasks.columns else [schema.NO_PRIO] * len(tid)
    return dict(zip(tid, comm)), {t: (p if p is not None and p != schema.NO_PRIO else schema.DEFAULT_PRIO)
                                  for t, p in zip(tid, prio)}


def _prev_state(end_code: np.ndarray, next_same: np.ndarray, next_state: np.ndarray,
                next_sleep: np.ndarray) -> np.ndarray:
    """The sched_switch prev_state of each running interval, from how it ended and the
    interval of the same task that follows it."""
    ps = np.full(len(end_code), schema.STATE_SLEEPING, np.int64)
    # preempted: R or R+ as the following runnable interval recorded it
    pre = end_code == schema.END_PREEMPTED
    rec = next_same & (next_state == schema.RUNNABLE) & (next_sleep >= 0) & ((next_sleep & 0xFF) == 0)
    ps[pre] = np.where(rec[pre], next_sleep[pre], schema.STATE_RUNNING)
    # blocked: the sleep state it blocked with (it must read back as blocked, not runnable or dead)
    blk = end_code == schema.END_BLOCKED
    dead_bits = schema.STATE_DEAD | schema.STATE_ZOMBIE
    ok = next_same & (next_state == schema.BLOCKED) & (next_sleep > 0) & ((next_sleep & 0xFF) != 0) \
        & ((next_sleep & dead_bits) == 0)
    ps[blk & ok] = next_sleep[blk & ok]
    ps[end_code == schema.END_EXITED] = schema.STATE_DEAD
    return ps


def _depths(ts: np.ndarray, edges_src: np.ndarray, edges_dst: np.ndarray) -> np.ndarray:
    """Longest-path layer of each event in the DAG of same-nanosecond ordering edges."""
    depth = np.zeros(len(ts), np.int64)
    if len(edges_src) == 0:
        return depth
    for _ in range(len(edges_src) + 1):
        cand = depth[edges_src] + 1
        upd = cand > depth[edges_dst]
        if not upd.any():
            break
        np.maximum.at(depth, edges_dst[upd], cand[upd])
    return depth


def _chain_edges(keys: np.ndarray, key_tid: np.ndarray, key_ts: np.ndarray, key_ev: np.ndarray):
    """Edges between consecutive transitions of one task at the same timestamp."""
    if len(keys) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    o = np.argsort(keys, kind="stable")
    k_tid, k_ts, k_ev = key_tid[o], key_ts[o], key_ev[o]
    link = (k_tid[1:] == k_tid[:-1]) & (k_ts[1:] == k_ts[:-1]) & (k_ev[1:] != k_ev[:-1])
    return k_ev[:-1][link], k_ev[1:][link]


@dataclass
class _ByTask:
    """The intervals in each task's time order (the order they ended breaks ties), with
    what the event rules read of the neighbouring interval of the same task."""

    tid: np.ndarray
    cpu: np.ndarray
    st: np.ndarray
    en: np.ndarray
    state: np.ndarray
    begin: np.ndarray
    endc: np.ndarray
    sleep: np.ndarray
    same_next: np.ndarray   # the next interval is the same task's
    same_prev: np.ndarray
    nxt_state: np.ndarray
    nxt_sleep: np.ndarray

    @property
    def n(self) -> int:
        return len(self.tid)


def _by_task(iv: pl.DataFrame) -> _ByTask:
    n = iv.height
    col = {c: iv[c].to_numpy().astype(np.int64) for c in ("tid", "cpu", "start_ns", "end_ns", "state", "begin",
                                                          "end", "sleep_state")}
    S = np.lexsort((np.arange(n), col["end_ns"], col["start_ns"], col["tid"]))
    state, sleep = col["state"][S], col["sleep_state"][S]
    tid = col["tid"][S]
    same_next = np.zeros(n, bool)
    if n > 1:
        same_next[:-1] = tid[1:] == tid[:-1]
    same_prev = np.zeros(n, bool)
    same_prev[1:] = same_next[:-1]
    return _ByTask(tid, col["cpu"][S], col["start_ns"][S], col["end_ns"][S], state, col["begin"][S], col["end"][S],
                   sleep, same_next, same_prev, np.r_[state[1:], -1] if n else state,
                   np.r_[sleep[1:], -1] if n else sleep)


def _switch_events(t: _ByTask) -> dict:
    """Switches from the running intervals of each CPU in time order: one ``prev -> next``
    where a run ends exactly when another task's begins, else ``prev -> idle`` and
    ``idle -> next``; with each switch's task-transition keys (3 * position + sub), the
    exits (just before their final switch-out) and the count of overlapping runs."""
    run = np.flatnonzero((t.state == schema.RUNNING) & (t.cpu >= 0) & (t.tid > 0))
    ps_all = _prev_state(t.endc, t.same_next, t.nxt_state, t.nxt_sleep)
    R = run[np.lexsort((run, t.en[run], t.st[run], t.cpu[run]))]
    r_cpu, r_st, r_en, r_tid, r_end = t.cpu[R], t.st[R], t.en[R], t.tid[R], t.endc[R]
    m = len(R)
    prev_same_cpu = np.zeros(m, bool)
    if m > 1:
        prev_same_cpu[1:] = r_cpu[1:] == r_cpu[:-1]
    prev_en = np.r_[-1, r_en[:-1]] if m else r_en
    prev_tid = np.r_[-1, r_tid[:-1]] if m else r_tid
    prev_endc = np.r_[-1, r_end[:-1]] if m else r_end
    handoff = prev_same_cpu & (prev_en == r_st) & (prev_tid != r_tid) & (prev_endc != schema.END_TRACE_END)
    switched_out = r_end != schema.END_TRACE_END
    out_to_idle = switched_out.copy()
    if m > 1:
        out_to_idle[:-1] &= ~handoff[1:]
    # switch-in events (idle -> task, or the hand-off from the run before), then switch-outs to idle
    sw_in = np.arange(m)
    sw_out = np.flatnonzero(out_to_idle)
    prevR = np.r_[-1, R[:-1]] if m else R
    return {
        "ts": np.r_[r_st[sw_in], r_en[sw_out]], "cpu": np.r_[r_cpu[sw_in], r_cpu[sw_out]],
        "prev": np.r_[np.where(handoff, prev_tid, 0), r_tid[sw_out]],
        "pstate": np.r_[np.where(handoff, ps_all[prevR] if m else 0, 0), ps_all[R[sw_out]]],
        "next": np.r_[r_tid[sw_in], np.zeros(len(sw_out), np.int64)],
        "seq": np.r_[2 * sw_in, 2 * sw_out + 1],  # order of switches on a CPU
        "key_out": np.r_[np.where(handoff, 3 * prevR + _SUB_OUT, -1), 3 * R[sw_out] + _SUB_OUT],
        "key_in": np.r_[3 * R + _SUB_IN, np.full(len(sw_out), -1)],
        "exits": R[r_end == schema.END_EXITED],
        "overlaps": int(np.count_nonzero(prev_same_cpu & (prev_en > r_st))),
    }


def _wait_events(t: _ByTask) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions, kinds, CPUs they are recorded on, previous CPU) of the events that start
    or move a wait: a wakeup or a new task starts one; a move to another CPU while waiting
    is a migration (the replay records a wait on the CPU it ended on, so a task preempted
    on one CPU and switched in on another moved when it was preempted). One wait is a
    chain of runnable intervals of a task; its events are recorded on the CPU where it
    ended (that of its switch-in), unless its first event happens in the very nanosecond
    the task left a higher-numbered CPU (then on that CPU)."""
    n = t.n
    state, cpu, st, en, same_prev = t.state, t.cpu, t.st, t.en, t.same_prev
    prev_state_ = np.r_[-1, state[:-1]] if n else state
    prev_cpu = np.r_[-1, cpu[:-1]] if n else cpu
    runnable = (state == schema.RUNNABLE) & (t.tid > 0) & (cpu >= 0)
    woke = runnable & np.isin(t.begin, (schema.BEGIN_WAKEUP, schema.BEGIN_NEW))
    moved = runnable & ~woke & same_prev & np.isin(prev_state_, (schema.RUNNING, schema.RUNNABLE)) \
        & (prev_cpu >= 0) & (prev_cpu != cpu)
    chain_start = ~(same_prev & runnable & (prev_state_ == schema.RUNNABLE))
    gid = np.cumsum(chain_start) - 1
    f = np.flatnonzero(chain_start)
    last = np.r_[f[1:] - 1, n - 1] if n else np.empty(0, np.int64)
    d = cpu[last]
    left = np.full(len(f), -1, np.int64)  # CPU the task left at the chain's start time, if it just ran
    pr = f - 1
    ok1 = same_prev[f] & (state[np.maximum(pr, 0)] == schema.RUNNING)
    left[ok1] = cpu[pr[ok1]]
    pr2 = f - 2
    ok2 = ~ok1 & same_prev[f] & (pr2 >= 0) & (state[np.maximum(pr, 0)] == schema.BLOCKED) \
        & (st[np.maximum(pr, 0)] == st[f]) & same_prev[np.maximum(pr, 0)] \
        & (state[np.maximum(pr2, 0)] == schema.RUNNING) & (en[np.maximum(pr2, 0)] == st[f])
    left[ok2] = cpu[pr2[ok2]]
    starts_with_event = woke[f] | moved[f]
    rec_chain = np.where(starts_with_event & (left > d), left, d)
    wk = np.flatnonzero(woke | moved)
    wkind = np.select([t.begin[wk] == schema.BEGIN_WAKEUP, t.begin[wk] == schema.BEGIN_NEW],
                      [schema.WAKING, schema.WAKEUP_NEW], schema.MIGRATE)
    wkind = np.where(moved[wk], schema.MIGRATE, wkind)
    rec_cpu = rec_chain[gid[wk]]
    return wk, wkind, np.where(rec_cpu >= 0, rec_cpu, cpu[wk]), prev_cpu[wk]


def _event_order(t: _ByTask, sw: dict, kind, ts, ecpu, seq, wk) -> tuple[np.ndarray, int]:
    """The write order of the events: by time; within a nanosecond, each task's
    transitions in order and each CPU's switches in order (longest-path layers of those
    edges), then CPU. Also the count of same-nanosecond edges a reader cannot keep (a
    task reaching a lower-numbered CPU)."""
    n_sw, ex = len(sw["ts"]), sw["exits"]
    keys = np.r_[sw["key_out"], sw["key_in"], 3 * ex + _SUB_EXIT, 3 * wk + _SUB_IN]
    key_ev = np.r_[np.arange(n_sw), np.arange(n_sw), n_sw + np.arange(len(ex)), n_sw + len(ex) + np.arange(len(wk))]
    has = keys >= 0
    keys, key_ev = keys[has], key_ev[has]
    src, dst = _chain_edges(keys, t.tid[keys // 3], ts[key_ev], key_ev)
    if n_sw > 1:
        so = np.lexsort((seq[:n_sw], ecpu[:n_sw]))
        link = (ecpu[so][1:] == ecpu[so][:-1]) & (ts[so][1:] == ts[so][:-1])
        src, dst = np.r_[src, so[:-1][link]], np.r_[dst, so[1:][link]]
    depth = _depths(ts, src, dst)
    unordered = int(np.count_nonzero((ts[src] == ts[dst]) & (ecpu[src] > ecpu[dst])))
    return np.lexsort((np.arange(len(ts)), depth, ecpu, ts)), unordered


def _current_tasks(kind, ecpu, etid, enext) -> np.ndarray:
    """The task current on each event's CPU before it (the idle task 0 before the first switch)."""
    N = len(kind)
    cur = np.zeros(N, np.int64)
    if N:
        by_cpu = np.argsort(ecpu, kind="stable")
        c_sw = kind[by_cpu] == schema.SWITCH
        pos = np.arange(N)
        last_sw = np.maximum.accumulate(np.where(c_sw, pos, -1))
        seg = np.searchsorted(ecpu[by_cpu], ecpu[by_cpu], side="left")
        prev_sw = np.r_[-1, last_sw[:-1]]
        running = np.where(prev_sw >= seg, enext[by_cpu][np.maximum(prev_sw, 0)], 0)
        cur[by_cpu] = np.where(c_sw, etid[by_cpu], running)
    return cur


def _with_markers(schedule: Schedule, cols: dict) -> int:
    """Insert ``sched_stat_runtime`` markers at the schedule's start and end where no event
    falls, so a reader sees its whole span (``cols`` updated in place); returns how many."""
    kind, ts, ecpu, enext = cols["kind"], cols["ts"], cols["cpu"], cols["next"]
    N = len(kind)
    markers = []
    if N == 0 or ts.min() > schedule.start_ns:
        markers.append((schedule.start_ns, 0, 0))
    if N == 0 or ts.max() < schedule.end_ns:
        c0 = (ecpu == 0)
        markers.append((schedule.end_ns, 0, _running_at_end(kind[c0], enext[c0])))
    if markers:
        mts, mcpu, mtid = (np.array(x, np.int64) for x in zip(*markers))
        at = np.searchsorted(ts, mts, side="right")
        at[mts <= schedule.start_ns] = 0
        fill = {"kind": schema.STAT_RUNTIME, "ts": mts, "cpu": mcpu, "tid": mtid, "next": -1, "pstate": -1,
                "target": -1, "orig": -1, "cur": mtid}
        for k, v in fill.items():
            cols[k] = np.insert(cols[k], at, v)
    return len(markers)


def _events_table(schedule: Schedule, cols: dict, comm_of: dict, prio_of: dict) -> pa.Table:
    """The schema.EVENTS-shaped Arrow table of the events: strings are task comms and
    ``swapper/N`` for the idle task of each CPU."""
    kind, ecpu, etid, enext = cols["kind"], cols["cpu"], cols["tid"], cols["next"]
    n_cpus = max(int(schedule.n_cpus), int(ecpu.max()) + 1 if len(ecpu) else 1)
    words = [""] + [f"swapper/{c}" for c in range(n_cpus)]
    code_of: dict[int, int] = {}
    for t in np.unique(np.r_[etid, enext]).tolist():
        if t > 0:
            code_of[t] = len(words)
            words.append(comm_of.get(t) or f"<{t}>")
    lut_t = np.array(sorted(code_of), np.int64)
    lut_c = np.array([code_of[t] for t in lut_t.tolist()], np.int64)
    lut_p = np.array([prio_of.get(t, schema.DEFAULT_PRIO) for t in lut_t.tolist()], np.int64)

    def comm_codes(t, c):
        i = np.clip(np.searchsorted(lut_t, t), 0, max(len(lut_t) - 1, 0))
        hit = (t > 0) & (lut_t[i] == t) if len(lut_t) else np.zeros(len(t), bool)
        idle = np.where(t == 0, 1 + np.maximum(c, 0), 0)
        return np.where(hit, lut_c[i] if len(lut_t) else 0, idle).astype(np.int32), \
            np.where(hit, lut_p[i] if len(lut_t) else schema.DEFAULT_PRIO,
                     np.where(t == 0, schema.DEFAULT_PRIO, schema.NO_PRIO))

    comm, prio = comm_codes(etid, ecpu)
    next_comm, next_prio = comm_codes(enext, ecpu)
    is_sw = kind == schema.SWITCH
    next_comm = np.where(is_sw, next_comm, 0).astype(np.int32)
    next_prio = np.where(is_sw, next_prio, schema.NO_PRIO)
    prio = np.where(kind == schema.STAT_RUNTIME, schema.NO_PRIO, prio)
    dictionary = pa.array(words, pa.string())

    def strcol(codes):
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)

    return pa.table({
        "ts_ns": pa.array(cols["ts"], pa.int64()), "cpu": pa.array(ecpu, pa.int16()),
        "kind": pa.array(kind, pa.int8()), "cur_tid": pa.array(cols["cur"], pa.int32()),
        "tid": pa.array(etid, pa.int32()), "comm": strcol(comm), "prio": pa.array(prio, pa.int16()),
        "prev_state": pa.array(cols["pstate"], pa.int32()), "next_tid": pa.array(enext, pa.int32()),
        "next_comm": strcol(next_comm), "next_prio": pa.array(next_prio, pa.int16()),
        "target_cpu": pa.array(cols["target"], pa.int16()), "orig_cpu": pa.array(cols["orig"], pa.int16()),
        "runtime_ns": pa.array(np.where(kind == schema.STAT_RUNTIME, 0, -1), pa.int64()),
    })


def schedule_events(schedule: Schedule, tasks: pl.DataFrame | None = None) -> tuple[pa.Table, dict]:
    """The events-shaped table (``schema.EVENTS`` columns) that describes ``schedule``,
    in the order it must be written, and counters: switches, wakings, wakeup_new,
    migrations, exits, markers, unordered (same-nanosecond cross-CPU transitions a
    reader may take in the wrong order), overlaps (running intervals that overlap on
    one CPU: a damaged schedule)."""
    tasks = schedule.tasks if tasks is None else tasks
    comm_of, prio_of = _task_names(tasks)
    t = _by_task(schedule.intervals)
    sw = _switch_events(t)
    ex = sw["exits"]
    wk, wkind, rec_cpu, wk_prev_cpu = _wait_events(t)
    n_sw, n_rest = len(sw["ts"]), len(ex) + len(wk)
    kind = np.r_[np.full(n_sw, schema.SWITCH), np.full(len(ex), schema.EXIT), wkind].astype(np.int64)
    ts = np.r_[sw["ts"], t.en[ex], t.st[wk]].astype(np.int64)
    ecpu = np.r_[sw["cpu"], t.cpu[ex], rec_cpu].astype(np.int64)
    seq = np.r_[sw["seq"], np.zeros(n_rest, np.int64)]
    order, unordered = _event_order(t, sw, kind, ts, ecpu, seq, wk)
    cols = {"kind": kind, "ts": ts, "cpu": ecpu,
            "tid": np.r_[sw["prev"], t.tid[ex], t.tid[wk]].astype(np.int64),
            "next": np.r_[sw["next"], np.full(n_rest, -1)].astype(np.int64),
            "pstate": np.r_[sw["pstate"], np.full(n_rest, -1)].astype(np.int64),
            "target": np.r_[np.full(n_sw + len(ex), -1), t.cpu[wk]].astype(np.int64),
            "orig": np.r_[np.full(n_sw + len(ex), -1), np.where(wkind == schema.MIGRATE, wk_prev_cpu, -1)]
            .astype(np.int64)}
    cols = {k: v[order] for k, v in cols.items()}
    cols["cur"] = _current_tasks(cols["kind"], cols["cpu"], cols["tid"], cols["next"])
    n_markers = _with_markers(schedule, cols)
    kind = cols["kind"]
    counts = {
        "switches": int(np.count_nonzero(kind == schema.SWITCH)),
        "wakings": int(np.count_nonzero(kind == schema.WAKING)),
        "wakeup_new": int(np.count_nonzero(kind == schema.WAKEUP_NEW)),
        "migrations": int(np.count_nonzero(kind == schema.MIGRATE)),
        "exits": int(np.count_nonzero(kind == schema.EXIT)), "markers": n_markers,
        "unordered": unordered, "overlaps": sw["overlaps"],
    }
    return _events_table(schedule, cols, comm_of, prio_of), counts


def _running_at_end(kind: np.ndarray, nxt: np.ndarray) -> int:
    """The task a CPU runs after its last switch (0: idle)."""
    sw = np.flatnonzero(kind == schema.SWITCH)
    return int(nxt[sw[-1]]) if len(sw) else 0


def schedule_to_perfetto(schedule: Schedule, path, trace=None, tasks: pl.DataFrame | None = None,
                         *, compact: bool = True) -> PerfettoExport:
    """Write ``schedule`` (replayed or observed) to ``path`` as a Perfetto trace.

    ``trace``: the :class:`traces.Trace` it came from, for the kernel release and,
    unless ``tasks`` is given, the tasks table (thread names and thread groups).
    ``tasks``: a tasks table (tid, tgid, comm, prio); default the schedule's.
    ``compact``: encode switches and wakings as compact_sched (what traced writes).
    Returns a :class:`PerfettoExport` (path, event count, counters, warnings).
    """
    from traces.perfetto_write import write_perfetto

    if tasks is None:
        tasks = trace.tasks if trace is not None else schedule.tasks
    table, counts = schedule_events(schedule, tasks)
    kernel = None
    if trace is not None:
        k = trace.meta["kernel"][0] if "kernel" in trace.meta.columns else None
        kernel = str(k) if k else None
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_perfetto(path, table, tasks.select([c for c in ("tid", "tgid", "comm") if c in tasks.columns]),
                   compact=compact, kernel=kernel)
    warnings = []
    if counts["unordered"]:
        warnings.append(f"{counts['unordered']} task transitions happen in the same nanosecond on two CPUs, "
                        "the later on the lower-numbered CPU: a reader orders them by CPU and may see them "
                        "swapped")
    if counts["overlaps"]:
        warnings.append(f"{counts['overlaps']} running intervals overlap another on the same CPU (a damaged "
                        "schedule); the switches around them do not read back as written")
    return PerfettoExport(path, table.num_rows, counts, counts["unordered"], warnings)
