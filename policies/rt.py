"""The stock RT class: SCHED_FIFO / SCHED_RR (specs/rt.md §3-§5).

Queue order: by prio, then by a key that orders the tasks of one prio: tail
inserts take an increasing key, head inserts a decreasing one. A task preempted
by a more urgent one keeps its key and so resumes before its equal-prio peers
(rt.md §3, R3). Placement, push and pull are the engine's (replay/_placement.py,
rt.md §6), as they are shared by every policy.
"""

from __future__ import annotations

import numpy as np

from . import _state as E
from traces._numba import INTERNAL, NO_NRT, jit

from ._params import Param, resolve
from ._protocol import ENQ_PRIO, SIG, make_state

DESCRIPTION = "stock RT class (SCHED_FIFO/SCHED_RR)"

# per-task columns
KEY = 0
N_TASK_COLS = 1
# per-CPU columns
Q_CURR = 0
Q_TAIL = 1     # last tail key handed out
Q_HEAD = 2     # last head key handed out (goes down)
Q_INIT = 3
N_CPU_COLS = 4
# parameters
P_RR_TICKS = 0
N_PARAMS = 1

PARAMS = (
    Param("sched_rr_timeslice_ms", 100, "ms", "rt.md §4", "SCHED_RR time slice (converted to ticks)",
          "int", lo=1, hi=10_000),
)


def pack(values: dict | None, hz: int) -> np.ndarray:
    v = resolve(PARAMS, values, "rt")
    p = np.zeros(N_PARAMS, np.int64)
    p[P_RR_TICKS] = max(1, v["sched_rr_timeslice_ms"] * hz // 1000)
    return p


state = make_state(N_TASK_COLS, N_CPU_COLS)


_hook = jit(SIG, **NO_NRT)
_jit = jit(**INTERNAL, **NO_NRT)


@_jit
def _init_cpu(PC, cpu):
    if not PC[cpu, Q_INIT]:
        PC[cpu, Q_INIT] = 1
        PC[cpu, Q_CURR] = -1


@_jit
def _tail(PT, PC, cpu, t):
    PC[cpu, Q_TAIL] += 1
    PT[t, KEY] = PC[cpu, Q_TAIL]


@_jit
def _head(PT, PC, cpu, t):
    PC[cpu, Q_HEAD] -= 1
    PT[t, KEY] = PC[cpu, Q_HEAD]


@_jit
def before(TS, PT, a, b):
    """Task a runs before task b (lower prio value, then lower key)."""
    pa, pb = TS[a, E.T_PRIO], TS[b, E.T_PRIO]
    return pa < pb or (pa == pb and PT[a, KEY] < PT[b, KEY])


@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    TS[t, E.T_RR_LEFT] = PP[P_RR_TICKS]  # reset at fork (rt.md §4)
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """Wakeup, new task and migrated-in tasks go to the tail of their prio. With ENQ_PRIO
    and bit 8 of the flags set the task goes to the head: a lowered priority, or the
    engine's equal-priority wakeup rule (rt.md §3). Calling it for a task already queued
    only changes its place."""
    _init_cpu(PC, cpu)
    if flags & ENQ_PRIO and (flags >> 8) > 0:
        _head(PT, PC, cpu, t)
    else:
        _tail(PT, PC, cpu, t)
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    _init_cpu(PC, cpu)
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    return 1


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    best = -1
    x = CS[cpu, E.C_RT_HEAD]
    while x >= 0:
        if best < 0 or before(TS, PT, x, best):
            best = x
        x = TS[x, E.T_Q_NEXT]
    return best


@_hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    _init_cpu(PC, cpu)
    PC[cpu, Q_CURR] = t
    return 0


@_hook
def put_prev(TS, CS, PT, PC, PP, cpu, t, arg, now):
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    return 0


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    return 0


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """rt.md §5: only a strictly more urgent task preempts."""
    curr = PC[cpu, Q_CURR]
    if curr < 0:
        return 0
    return 1 if TS[p, E.T_PRIO] < TS[curr, E.T_PRIO] else 0


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """RR: count the slice down in ticks; when it runs out, refill, and if another task
    shares its prio, move to the tail and reschedule (rt.md §4)."""
    if TS[t, E.T_POLICY] != E.POL_RR:
        return 0
    TS[t, E.T_RR_LEFT] -= 1
    if TS[t, E.T_RR_LEFT] > 0:
        return 0
    TS[t, E.T_RR_LEFT] = PP[P_RR_TICKS]
    x = CS[cpu, E.C_RT_HEAD]
    while x >= 0:
        if x != t and TS[x, E.T_PRIO] == TS[t, E.T_PRIO]:
            _tail(PT, PC, cpu, t)
            return 1
        x = TS[x, E.T_Q_NEXT]
    return 0


@_hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    return cpu


@_hook
def yield_task(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """yield_task_rt (rt.md §4): requeue_task_rt to the tail of its prio's list."""
    _init_cpu(PC, cpu)
    _tail(PT, PC, cpu, t)
    return 0


@_hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    return 1
