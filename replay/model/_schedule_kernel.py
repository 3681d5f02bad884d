"""Numba kernel: scheduler events -> per-task state intervals (the observed schedule).

One pass in event order keeps, per task, its current state (running on c,
runnable on c, blocked, unknown) and when and why that state began; each
state change closes an interval. The rules follow what the kernel does:

* ``sched_switch`` ends prev's running interval (preempted if prev_state is
  R/R+, exited if X/Z or after sched_process_exit, blocked otherwise) and
  starts next's (ending its runnable wait).
* ``sched_waking`` marks when a wakeup began (try_to_wake_up): a blocked task
  becomes runnable there; ``sched_wakeup`` is then only a confirmation (and
  the whole wakeup when the trace has no waking events). A wakeup of a task
  that is running or already runnable changes nothing (ttwu_runnable; in 6.18
  also a delayed-dequeue task, which gets a waking but no wakeup).
* ``sched_wakeup_new`` makes a forked child runnable.
* ``sched_migrate_task`` moves a runnable task's wait to another CPU; the
  wait keeps its start and cause.
* The current task of a CPU (common_pid of any event there) reveals a task
  that was running when the trace began.
* A LOST marker on CPU c makes the running and runnable tasks of c unknown
  until an event shows their state again; spans it damages are invalid.

Tasks are dense indices 0..T-1 (the tasks table's order), -1 for tid <= 0.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from traces import schema
from traces._numba import INTERNAL, NO_NRT, jit

# Per-task states beside schema.RUNNING / RUNNABLE / BLOCKED / UNKNOWN_STATE.
NOT_YET = 4   # not mentioned yet: no interval open
NEWBORN = 5   # forked, not yet woken (TASK_NEW): no interval open
GONE = 6      # exited: no interval open

# Counters in ``stats``.
S_ROWS = 0
S_INCONSISTENT = 1     # events that contradict the state we had
S_WAKE_NOOP = 2        # wakeups of running / runnable tasks
S_SWITCH_NO_WAKE = 3   # switch-in of a task we thought blocked (no wakeup seen)
S_LOST_TASKS = 4       # task states made unknown by lost events
S_REVEALED = 5         # tasks found running on a CPU whose history the trace had not shown
S_INFERRED = 6         # switches to a task the kernel did not trace, inferred
S_MISSED_OUT = 7       # switches away from a task the kernel did not trace, inferred
S_SIZE = 10

# What travels together, as typed namedtuples of arrays (numba passes one as its arrays).
# Class names are unique across the kernels: numba's dispatcher takes two namedtuple classes
# of the same name, fields and member types for one another ("No matching definition" for the
# one typed second), hence one Intervals class for this kernel and the replay engine.
#: the event columns read (tids as keys into ``index``, see build_intervals)
ScheduleEvents = namedtuple("ScheduleEvents", "ts cpu kind cur_tid cur_key tid_key prev_state next_key target_cpu "
                            "old_key runtime_ns")
#: the interval columns written (named as schema.INTERVALS) and tids (task -> tid); the replay
#: engine writes the same
Intervals = namedtuple("Intervals", "tid cpu start_ns end_ns state begin end sleep_state wait_start_ns cause valid "
                       "tids")
#: per task: state (schema codes or NOT_YET/NEWBORN/GONE) and, of the interval open, its start,
#: CPU, begin code, sleep state, wait start, cause and validity; exiting after sched_process_exit
TaskState = namedtuple("TaskState", "state start cpu begin sleep wait cause valid exiting")
#: per CPU: the task running (-1 idle, -2 unknown), the time of its first event and of its
#: last event before the current one
CpuState = namedtuple("CpuState", "cur first last")


@jit(**INTERNAL, **NO_NRT)
def _emit(tasks, out, stats, i, end_ts, end_code, valid_and):
    """Close task i's open interval at end_ts.

    A call, not inlined: numba inlines an inline="always" function's IR at each of its
    21 call sites and types it again there (the observed schedule's kernels compiled in
    10.2 s, now 3.2 s); the call costs nothing measurable (benchmarks/metrics.py). Without
    the NRT: it allocates nothing, and its arrays are not reference counted per call."""
    s = tasks.state[i]
    if s > schema.UNKNOWN_STATE or (s == schema.UNKNOWN_STATE and end_ts <= tasks.start[i]):
        return  # nothing open, or an empty span of ignorance
    r = stats[S_ROWS]
    out.tid[r] = out.tids[i]
    out.cpu[r] = tasks.cpu[i] if (s == schema.RUNNING or s == schema.RUNNABLE) else -1
    out.start_ns[r] = tasks.start[i]
    out.end_ns[r] = end_ts
    out.state[r] = s
    out.begin[r] = tasks.begin[i]
    out.end[r] = end_code
    out.sleep_state[r] = tasks.sleep[i] if (s == schema.BLOCKED or s == schema.RUNNABLE) else -1
    out.wait_start_ns[r] = tasks.wait[i] if s == schema.RUNNABLE else -1
    out.cause[r] = tasks.cause[i] if s == schema.RUNNABLE else -1
    out.valid[r] = tasks.valid[i] and valid_and and s != schema.UNKNOWN_STATE
    stats[S_ROWS] = r + 1


@jit
def _reveal_running(tasks, cpus, out, stats, p, c, t, was, runtime, dark_gap_ns):
    """Task p is seen running on CPU c (it emitted an event there, or is switched
    out there) without a recorded switch-in.

    ``was`` is what we knew of c: -2 nothing (no switch on c yet, or events lost
    there), -1 idle. Linux 6.18 on the corpus machines does not always trace the
    idle -> task switch (about half of them are missing in every capture), so
    after idle the switch-in is inferred at the later of the CPU's last event
    and the start of p's wait. With nothing known, a task of unknown state has
    run there since the CPU's first event; a task we had in another state was
    switched in unseen, at some time before t: that interval is invalid.
    """
    s = tasks.state[p]
    if was == -1:
        stats[S_INFERRED] += 1
        at = max(cpus.last[c], tasks.start[p])
        # The task's own sched_stat_runtime tells how long it has run since the kernel
        # started accounting it: the switch came no earlier than t - runtime. (A remote
        # wakeup of a halted vCPU takes tens of microseconds to reach it.)
        if runtime >= 0 and t - runtime > at:
            at = t - runtime
        if at > t:
            at = t
        if t - at > dark_gap_ns:
            # A long silence on a CPU where a task ran: no tick, no event (the vCPU was
            # not running, or events vanished). When p came in is unknown: its wait ends
            # at t and is not trusted.
            _emit(tasks, out, stats, p, t, schema.END_SWITCHED_IN, False)
            at = t
        elif s == schema.RUNNABLE or s == schema.UNKNOWN_STATE:
            _emit(tasks, out, stats, p, at, schema.END_SWITCHED_IN, True)
        elif s == schema.BLOCKED:
            stats[S_SWITCH_NO_WAKE] += 1
            _emit(tasks, out, stats, p, at, schema.END_WOKEN, True)
        else:
            _emit(tasks, out, stats, p, at, schema.END_LOST, False)
        tasks.start[p] = at
        tasks.begin[p] = schema.BEGIN_SWITCH_IN
    elif s == schema.UNKNOWN_STATE:
        stats[S_REVEALED] += 1
        if cpus.first[c] > tasks.start[p]:
            _emit(tasks, out, stats, p, cpus.first[c], schema.END_SWITCHED_IN, True)
            tasks.start[p] = cpus.first[c]
        tasks.begin[p] = schema.BEGIN_TRACE_START
    else:
        stats[S_REVEALED] += 1
        _emit(tasks, out, stats, p, t, schema.END_SWITCHED_IN, False)
        tasks.start[p] = t
        tasks.begin[p] = schema.BEGIN_SWITCH_IN
    tasks.state[p] = schema.RUNNING
    tasks.cpu[p] = c
    tasks.valid[p] = True


@jit
def _observe_current(tasks, cpus, out, stats, who, c, t, runtime, dark_gap_ns):
    """An event recorded on CPU c says ``who`` runs there now (-1: the idle task).

    If that contradicts the task we had on c, the switches in between were not
    traced: the old task left c unseen after its last event there (its state is
    unknown from then until an event shows it), and ``who`` came in unseen."""
    x = cpus.cur[c]
    if x == who:
        return
    was = x
    if x >= 0:
        stats[S_MISSED_OUT] += 1
        if tasks.state[x] == schema.RUNNING and tasks.cpu[x] == c:
            at = max(cpus.last[c], tasks.start[x])
            _emit(tasks, out, stats, x, at, schema.END_LOST, True)
            tasks.state[x] = schema.UNKNOWN_STATE
            tasks.start[x] = at
            tasks.begin[x] = schema.BEGIN_LOST
            tasks.valid[x] = False
        was = -1
    if who >= 0:
        if tasks.state[who] == schema.RUNNING and tasks.cpu[who] != c and cpus.cur[tasks.cpu[who]] == who:
            cpus.cur[tasks.cpu[who]] = -2  # it cannot run on two CPUs: that one's history is unknown now
        _reveal_running(tasks, cpus, out, stats, who, c, t, was, runtime, dark_gap_ns)
    cpus.cur[c] = who


@jit(inline="always")
def _task_of(index, key):
    return index[key] if (key > 0 and key < len(index)) else -1


@jit
def map_tids(col, dense, out):
    """out[i] = dense[col[i]] for 0 < col[i] < len(dense), else -1."""
    n = len(dense)
    for i in range(len(col)):
        v = col[i]
        out[i] = dense[v] if (v > 0 and v < n) else -1


@jit
def _first_seen(tasks, who, trace_start):
    tasks.state[who] = schema.UNKNOWN_STATE
    tasks.start[who] = trace_start
    tasks.begin[who] = schema.BEGIN_TRACE_START
    tasks.valid[who] = False


@jit
def _bad(e, stats, bad_at):
    n = stats[S_INCONSISTENT]
    if n < len(bad_at):
        bad_at[n] = e
    stats[S_INCONSISTENT] = n + 1


@jit
def build_intervals(ev, index, trace_start, trace_end, n_cpus, has_waking, dark_gap_ns, out, stats, bad_at):
    """Fill the output columns (capacity >= 2 * events + 2 * tasks) and return the row count.

    ``ev``: ScheduleEvents(ts, cpu, kind, cur_tid, cur_key, tid_key, prev_state, next_key,
    target_cpu, old_key, runtime_ns), the event columns; ``out``: Intervals(tid, cpu, start_ns,
    end_ns, state, begin, end, sleep_state, wait_start_ns, cause, valid, tids), the interval
    columns and the tid of each task; ``stats``: the S_* counters; ``bad_at``: the first
    inconsistent events. Inside, the helpers get the per-task state as TaskState(state, start,
    cpu, begin, sleep, wait, cause, valid, exiting) and the per-CPU one as CpuState(cur, first,
    last).

    ``dark_gap_ns``: a silence longer than this on a CPU before an unseen switch
    makes the switch time unknown (see _reveal_running).

    ``ev.cur_tid`` is the current tid column (-1 unknown, 0 idle). ``cur_key``, ``tid_key``,
    ``next_key``, ``old_key`` are looked up in ``index``: key v > 0 below len(index) is task
    index[v], anything else none / idle (the tid columns themselves with a dense
    tid -> task table, so that no per-event index columns are built; next_key counts on
    switches only)."""
    ts, cpu_col, kind, cur_raw, prev_state, target, runtime_col = (ev.ts, ev.cpu, ev.kind, ev.cur_tid, ev.prev_state,
                                                                   ev.target_cpu, ev.runtime_ns)
    cur_key, tid_key, next_key, old_key = ev.cur_key, ev.tid_key, ev.next_key, ev.old_key
    T = len(out.tids)
    state = np.full(T, NOT_YET, np.int8)
    start = np.zeros(T, np.int64)
    cpu = np.full(T, -1, np.int64)
    begin = np.zeros(T, np.int8)
    sleep = np.full(T, -1, np.int32)
    wait = np.full(T, -1, np.int64)
    cause = np.full(T, -1, np.int8)
    valid = np.ones(T, np.bool_)
    exiting = np.zeros(T, np.bool_)
    cpu_cur = np.full(n_cpus, -2, np.int64)   # task running on the CPU; -1 idle; -2 unknown
    cpu_first = np.full(n_cpus, -1, np.int64)  # first event on the CPU
    cpu_last = np.full(n_cpus, trace_start, np.int64)  # last event on the CPU before this one
    tasks = TaskState(state, start, cpu, begin, sleep, wait, cause, valid, exiting)
    cpus = CpuState(cpu_cur, cpu_first, cpu_last)

    for e in range(len(ts)):
        t = ts[e]
        c = cpu_col[e]
        k = kind[e]
        cur_e = _task_of(index, cur_key[e])
        tid_e = _task_of(index, tid_key[e])
        nxt_e = _task_of(index, next_key[e]) if k == schema.SWITCH else -1
        old_e = _task_of(index, old_key[e])
        if e > 0:
            pc = cpu_col[e - 1]
            if pc >= 0 and pc < n_cpus:
                cpu_last[pc] = ts[e - 1]
        if c < 0 or c >= n_cpus:
            continue
        if cpu_first[c] < 0:
            cpu_first[c] = t
        # First mention of a task other than as a fork child: it existed before the
        # trace began, in a state the trace has not shown yet.
        for who in (cur_e, tid_e, nxt_e, old_e):
            if who >= 0 and state[who] == NOT_YET and not (k == schema.FORK and who == tid_e):
                _first_seen(tasks, who, trace_start)
        # The CPU's current task is running: this reveals tasks that were running
        # when the trace started (no switch seen on this CPU yet).
        # Who runs on c: the task that emitted this event (common_pid; 0 = idle).
        if k != schema.LOST and cur_raw[e] >= 0 and cpu_cur[c] != cur_e:  # (the call is costly: test first)
            rt = runtime_col[e] if (k == schema.STAT_RUNTIME and tid_e == cur_e) else -1
            _observe_current(tasks, cpus, out, stats, cur_e, c, t, rt, dark_gap_ns)

        if k == schema.SWITCH:
            p = tid_e
            n = nxt_e
            ps = prev_state[e]
            # prev is the CPU's current task (prev_pid; normally also common_pid)
            if cpu_cur[c] != p:
                _observe_current(tasks, cpus, out, stats, p, c, t, -1, dark_gap_ns)
            if p >= 0:
                runnable = ps >= 0 and (ps & 0xFF) == 0
                dead = ps > 0 and (ps & (schema.STATE_DEAD | schema.STATE_ZOMBIE)) != 0
                # An exiting task may still block (D) before its final switch, which
                # carries EXIT_DEAD / EXIT_ZOMBIE (X / Z).
                if dead:
                    _emit(tasks, out, stats, p, t, schema.END_EXITED, True)
                    state[p] = GONE
                    exiting[p] = False
                elif runnable:
                    _emit(tasks, out, stats, p, t, schema.END_PREEMPTED, True)
                    state[p] = schema.RUNNABLE
                    begin[p] = schema.BEGIN_PREEMPT
                    cause[p] = schema.BEGIN_PREEMPT
                    wait[p] = t
                    sleep[p] = ps
                    start[p] = t
                    valid[p] = True
                else:
                    _emit(tasks, out, stats, p, t, schema.END_BLOCKED, True)
                    state[p] = schema.BLOCKED
                    begin[p] = schema.BEGIN_SWITCH_OUT
                    sleep[p] = ps
                    start[p] = t
                    valid[p] = True
            if n >= 0:
                s = state[n]
                if s == schema.RUNNABLE or s == schema.UNKNOWN_STATE:
                    _emit(tasks, out, stats, n, t, schema.END_SWITCHED_IN, True)
                elif s == schema.BLOCKED:
                    stats[S_SWITCH_NO_WAKE] += 1
                    _emit(tasks, out, stats, n, t, schema.END_WOKEN, True)
                elif s == schema.RUNNING:
                    _bad(e, stats, bad_at)  # still running elsewhere: events were lost there
                    _emit(tasks, out, stats, n, t, schema.END_LOST, False)
                    if cpu_cur[cpu[n]] == n:
                        cpu_cur[cpu[n]] = -2
                state[n] = schema.RUNNING
                start[n] = t
                cpu[n] = c
                begin[n] = schema.BEGIN_SWITCH_IN
                valid[n] = True
                cpu_cur[c] = n
            else:
                cpu_cur[c] = -1

        elif k == schema.WAKING or k == schema.WAKEUP:
            w = tid_e
            if w >= 0:
                s = state[w]
                if s == schema.BLOCKED or s == schema.UNKNOWN_STATE:
                    _emit(tasks, out, stats, w, t, schema.END_WOKEN, True)
                    state[w] = schema.RUNNABLE
                    start[w] = t
                    cpu[w] = target[e]
                    begin[w] = schema.BEGIN_WAKEUP
                    cause[w] = schema.BEGIN_WAKEUP
                    wait[w] = t
                    sleep[w] = -1
                    valid[w] = True
                elif s == schema.RUNNABLE and k == schema.WAKEUP and has_waking \
                        and cause[w] == schema.BEGIN_WAKEUP and target[e] >= 0:
                    cpu[w] = target[e]  # the wakeup that completes this waking
                elif s == schema.RUNNING or s == schema.RUNNABLE:
                    stats[S_WAKE_NOOP] += 1

        elif k == schema.WAKEUP_NEW:
            w = tid_e
            if w >= 0:
                s = state[w]
                if s == schema.UNKNOWN_STATE or s == schema.BLOCKED:
                    _emit(tasks, out, stats, w, t, schema.END_WOKEN, True)
                if s == NEWBORN or s == GONE or s == schema.UNKNOWN_STATE or s == schema.BLOCKED:
                    state[w] = schema.RUNNABLE
                    start[w] = t
                    cpu[w] = target[e]
                    begin[w] = schema.BEGIN_NEW
                    cause[w] = schema.BEGIN_NEW
                    wait[w] = t
                    sleep[w] = -1
                    valid[w] = True
                else:
                    _bad(e, stats, bad_at)

        elif k == schema.FORK:
            w = tid_e
            if w >= 0:
                s = state[w]
                if s == NOT_YET or s == GONE:
                    state[w] = NEWBORN
                    exiting[w] = False
                else:
                    # tid reuse while we still had the old task alive: lost events
                    _bad(e, stats, bad_at)
                    _emit(tasks, out, stats, w, t, schema.END_LOST, False)
                    state[w] = NEWBORN

        elif k == schema.MIGRATE:
            w = tid_e
            if w >= 0:
                s = state[w]
                if s == schema.RUNNABLE:
                    if cpu[w] != target[e]:
                        _emit(tasks, out, stats, w, t, schema.END_MIGRATED, True)
                        start[w] = t
                        cpu[w] = target[e]
                        begin[w] = schema.BEGIN_MIGRATE
                elif s == schema.BLOCKED or s == NEWBORN:
                    cpu[w] = target[e]  # placement during a wakeup or fork, before it is runnable
                elif s == schema.RUNNING:
                    _bad(e, stats, bad_at)

        elif k == schema.EXIT:
            w = tid_e
            if w >= 0:
                exiting[w] = True

        elif k == schema.EXEC:
            # A non-leader thread that execs takes over the leader's tid (de_thread).
            w = tid_e
            o = old_e
            if w >= 0 and o >= 0 and o != w and state[o] == schema.RUNNING:
                oc = cpu[o]
                _emit(tasks, out, stats, o, t, schema.END_EXITED, True)
                state[o] = GONE
                _emit(tasks, out, stats, w, t, schema.END_EXITED, True)
                state[w] = schema.RUNNING
                start[w] = t
                cpu[w] = oc
                begin[w] = schema.BEGIN_SWITCH_IN
                valid[w] = True
                if oc >= 0:
                    cpu_cur[oc] = w

        elif k == schema.LOST:
            # Events recorded on c were dropped before t: whatever ran or waited on c
            # may have changed state unseen.
            for i in range(T):
                if (state[i] == schema.RUNNING or state[i] == schema.RUNNABLE) and cpu[i] == c:
                    _emit(tasks, out, stats, i, t, schema.END_LOST, False)
                    state[i] = schema.UNKNOWN_STATE
                    start[i] = t
                    begin[i] = schema.BEGIN_LOST
                    valid[i] = False
                    stats[S_LOST_TASKS] += 1
            if c >= 0 and c < n_cpus:
                cpu_cur[c] = -2

    for i in range(T):
        _emit(tasks, out, stats, i, trace_end, schema.END_TRACE_END, True)
    return stats[S_ROWS]
