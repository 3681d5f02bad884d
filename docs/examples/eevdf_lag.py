"""EEVDF keeping only part of a waking task's lag: a one-parameter variation of the
built-in EEVDF, written by reusing its hooks.

At a wakeup, EEVDF places a task at V - lag, with the lag it had when it went to sleep
(PLACE_LAG, docs/specs/eevdf.md §6): a task that slept while owed CPU comes back owed
it (and preempts sooner), one that overran comes back in debt. ``lag_percent`` keeps
that share of it: 100 is stock EEVDF, 0 what PLACE_LAG=off does for wakeups, and in
between a sleeper's claim (and debt) is scaled down, which evens out wakeup latency
between tasks that sleep often and those that rarely do.

Everything else is EEVDF's: its other hooks are used as they are, its parameters and
packed vector are extended by one value, and its per-task and per-CPU state is reused.

    schedreplay compare TRACE --policies observed,eevdf,docs/examples/eevdf_lag.py --param lag_percent=50
"""

import numpy as np

from policies import eevdf as EV
from policies.api import ENQ_MIGRATED, ENQ_REQUEUE, ENQ_WAKEUP, Param, hook, resolve

DESCRIPTION = "EEVDF keeping lag_percent of a waking task's lag at placement (100: stock EEVDF)"
RT = EV.RT

# EEVDF's state, as it is
N_TASK_COLS, N_CPU_COLS, state = EV.N_TASK_COLS, EV.N_CPU_COLS, EV.state

# EEVDF's packed parameters, then ours
P_LAG_PERCENT = EV.N_PARAMS
OWN_PARAMS = (Param("lag_percent", 100, "%", "eevdf.md §6", "share of a waking task's lag kept when it is placed "
                    "(100: stock EEVDF; 0: as PLACE_LAG=off for wakeups)", "int", lo=0, hi=100),)
PARAMS = EV.OWN_PARAMS + OWN_PARAMS + RT.PARAMS


def pack(values, n_cpus, hz):
    """EEVDF's vector, then lag_percent."""
    values = dict(values or {})
    own = resolve(OWN_PARAMS, {"lag_percent": values.pop("lag_percent")} if "lag_percent" in values else None,
                  "eevdf_lag")
    return np.append(EV.pack(values, n_cpus, hz), np.int64(own["lag_percent"]))


# EEVDF's hooks, as they are
init_task, dequeue, pick, set_next, put_prev = EV.init_task, EV.dequeue, EV.pick, EV.set_next, EV.put_prev
update_curr, check_preempt, tick, select_cpu, can_migrate = (EV.update_curr, EV.check_preempt, EV.tick,
                                                             EV.select_cpu, EV.can_migrate)
yield_task = EV.yield_task  # optional, but left out a sched_yield would not forfeit the request
GROUPS = EV.GROUPS  # optional: EEVDF's hooks schedule task groups (autogroup), so this class does too


@hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """A waking task's saved lag is scaled by lag_percent before EEVDF places it (a task
    woken while still queued, ENQ_REQUEUE, is not placed; a migration keeps its lag)."""
    if (flags & ENQ_WAKEUP) and not (flags & (ENQ_REQUEUE | ENQ_MIGRATED)):
        PT[t, EV.VLAG] = PT[t, EV.VLAG] * PP[P_LAG_PERCENT] // 100
    return EV.enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now)
