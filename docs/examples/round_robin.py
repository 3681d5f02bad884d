"""Weighted round robin: the smallest useful fair class, to start your own from.

The fair tasks queued on a CPU take turns of ``slice_ns`` of CPU time each. The next turn
goes to the task that has had the least CPU so far, counted in virtual time: time run,
scaled by nice 0's weight over the task's own (a nice-0 task's virtual time is its run
time; a nice-5 task's runs three times faster). Equal-weight tasks therefore simply take
turns, and tasks of different nice levels get CPU in proportion to their weights (stride
scheduling, Waldspurger and Weihl, 1995). A turn ends at the first tick or event after
its slice ran out; the overrun counts in the task's virtual time.

A task that joins a CPU's queue (new, woken, or moved by the balancer) starts level with
the least-run task there: a sleeper banks no credit and carries no debt. A woken task
never preempts the running one: it waits for its turn. RT tasks are the stock RT class's;
placement and load balancing are the engine's shared ones.

    schedreplay replay TRACE --policy docs/examples/round_robin.py --param slice_ns=3ms
    schedreplay check docs/examples/round_robin.py
"""

import numpy as np

from policies.api import (C_CURR, C_FAIR_HEAD, C_NR_FAIR, T_Q_NEXT, T_SEQ, Param, calc_delta_fair, helper, hook,
                          make_state, resolve, rt)

DESCRIPTION = "weighted round robin: turns of a fixed slice, to the task with the least virtual time"
RT = rt

# per-task columns (PT)
V = 0        # virtual time: ns run, times 1024 / its weight
RAN = 1      # ns run in its current turn
N_TASK_COLS = 2
N_CPU_COLS = 0  # no per-CPU state
state = make_state(N_TASK_COLS, N_CPU_COLS)

# parameters (PP, packed by pack)
P_SLICE = 0
OWN_PARAMS = (Param("slice_ns", 3_000_000, "ns", "", "a turn: CPU time a task runs before the next one's turn",
                    "ns", lo=100_000, hi=1_000_000_000),)
PARAMS = OWN_PARAMS + RT.PARAMS


def pack(values, n_cpus, hz):
    """The fair class's parameters (names of OWN_PARAMS) as the int64 vector hooks read."""
    v = resolve(OWN_PARAMS, values, "round_robin")
    return np.array([v["slice_ns"]], np.int64)


@helper
def least_run(TS, CS, PT, cpu, skip):
    """The queued task of ``cpu`` (the running one included, ``skip`` left out) with the
    least virtual time; of equals, the one queued first. -1 if none."""
    best = -1
    q = CS[cpu, C_FAIR_HEAD]
    while q >= 0:
        if q != skip and (best < 0 or PT[q, V] < PT[best, V] or (PT[q, V] == PT[best, V] and TS[q, T_SEQ] < TS[best, T_SEQ])):
            best = q
        q = TS[q, T_Q_NEXT]
    return best


@hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    PT[t, V] = 0
    PT[t, RAN] = 0
    return 0


@hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """Joins level with the least-run task already queued there."""
    other = least_run(TS, CS, PT, cpu, t)
    if other >= 0:
        PT[t, V] = PT[other, V]
    return 0


@hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    return 1  # it leaves the queue at once (no delayed dequeue)


@hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """The least-run queued task; the running one, if picked again, starts a new turn."""
    best = least_run(TS, CS, PT, cpu, -1)
    if best >= 0 and best == CS[cpu, C_CURR] and PT[best, RAN] >= PP[P_SLICE]:
        PT[best, RAN] = 0
    return best


@hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    PT[t, RAN] = 0  # its turn begins
    return 0


@hook
def put_prev(TS, CS, PT, PC, PP, cpu, t, arg, now):
    return 0


@hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """Count the time run; at the end of the turn, ask for a reschedule if another task
    waits."""
    PT[t, V] += calc_delta_fair(delta, TS, t)
    PT[t, RAN] += delta
    if PT[t, RAN] >= PP[P_SLICE] and CS[cpu, C_NR_FAIR] > 1:
        return 1
    return 0


@hook
def check_preempt(TS, CS, PT, PC, PP, cpu, t, arg, now):
    return 0  # a woken task waits for its turn


@hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    return 0  # update_curr, which the engine calls at every tick, decides


@hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    return cpu  # the engine's placement stands


@hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    return 1  # the balancer's own checks decide
