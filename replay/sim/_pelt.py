"""PELT load averages as the kernel computes them (kernel/sched/pelt.c), for the balancer.

Time runs in units of 1024 ns ("µs" to PELT); a period is 1024 units and a sum decays by
y per period with y^32 = 1/2. A running sum accumulates ``load`` times the time spent in
the signal's state; its average is sum / divider with divider = LOAD_AVG_MAX - 1024 +
period_contrib (the sum of a signal always on), recomputed only when a period boundary
was crossed, as ___update_load_avg is. Integer arithmetic throughout, in int64 (the
kernel's 64x32-bit multiply is split so that nothing overflows).

A task's signal (load_sum counts the time it is runnable: 1 per unit while queued, running
included; an entity EEVDF keeps queued after it blocked, a delayed one, does not count: it
is not runnable) gives load_avg = weight * load_sum / divider. A CPU's fair run queue has
its own signal whose input is the summed weight of its runnable fair tasks, plus
the load of the tasks attached to it: a task's load_avg joins the queue of the CPU it is
enqueued on (attach_entity_load_avg) and leaves the previous one (detached at once; the
kernel defers a wakeup migration's removal to that queue's next update). A blocked task
stays attached and its contribution decays in the queue's sum (blocked load). New tasks,
and tasks alive before the trace began, start with load_avg = weight
(init_entity_runnable_average). The reference engine (tests/_reference_engine.py)
implements the same rules in Python.

Utilisation (util_avg) is kept only on machines whose CPUs differ in capacity, where
placement reads it (energy-aware and capacity-aware wakeups, docs/engine-model.md §7.5). A
task's signal counts the time it runs, scaled by the capacity of the CPU it runs on (the
kernel scales PELT's clock by capacity and frequency; the replay runs every CPU at its
highest frequency, so capacity alone: a task always running on a 446-capacity CPU tends
to util 446); a CPU's signal counts the time a fair task runs on it, likewise, and holds
the attached tasks' util as the load signal holds their load (blocked util decays there).
Each has its own clock columns, advanced when its input changes or when it is read. A
task's first attachment gives it the kernel's initial util (post_init_entity_util_avg):
the CPU's util times its weight over the CPU's load + 1, at most half the CPU's spare
capacity, or that half when the CPU has no util. util_est is not modelled.
"""

from __future__ import annotations

from policies import _state as E
from policies._pelt import PELT_MIN_DIVIDER, _advance, _update
from traces._numba import INTERNAL, NO_NRT, jit

_jit = jit(**INTERNAL, **NO_NRT)


@_jit
def update_task(TS, t, now):
    """The task's runnable-time signal to now (its state unchanged since the last update)."""
    _update(TS, t, E.T_PELT_TS, E.T_PELT_PC, E.T_LOAD_SUM, E.T_LOAD_AVG, TS[t, E.T_PELT_Q], TS[t, E.T_PELT_W],
            now)


@_jit
def update_cpu(CS, c, now):
    """The CPU's fair run-queue signal to now (its runnable weight unchanged since)."""
    _update(CS, c, E.C_PELT_TS, E.C_PELT_PC, E.C_LOAD_SUM, E.C_LOAD_AVG, CS[c, E.C_RQ_WEIGHT], 1, now)


@_jit
def detach(TS, CS, t, now):
    """Take t's load off the CPU it is attached to (dequeue_load_avg), if any."""
    c = TS[t, E.T_PELT_CPU]
    if c < 0:
        return
    update_cpu(CS, c, now)
    update_task(TS, t, now)
    CS[c, E.C_LOAD_AVG] = max(CS[c, E.C_LOAD_AVG] - TS[t, E.T_LOAD_AVG], 0)
    s = max(CS[c, E.C_LOAD_SUM] - TS[t, E.T_PELT_W] * TS[t, E.T_LOAD_SUM], 0)
    CS[c, E.C_LOAD_SUM] = max(s, CS[c, E.C_LOAD_AVG] * PELT_MIN_DIVIDER)
    TS[t, E.T_PELT_CPU] = -1
    if CS[0, E.C_PU_ON]:
        util_join(TS, CS, t, c, False, now)


@_jit
def attach(TS, CS, t, c, now):
    """Attach t's load to CPU c (attach_entity_load_avg): t takes c's clock, its sum is
    rebuilt from its average, and both join c's signal (its util too, on E_ASYM machines)."""
    update_cpu(CS, c, now)
    if CS[0, E.C_PU_ON]:
        util_join(TS, CS, t, c, True, now)
    TS[t, E.T_PELT_TS] = CS[c, E.C_PELT_TS]
    TS[t, E.T_PELT_PC] = CS[c, E.C_PELT_PC]
    w = TS[t, E.T_PELT_W]
    s = TS[t, E.T_LOAD_AVG] * (PELT_MIN_DIVIDER + CS[c, E.C_PELT_PC])
    TS[t, E.T_LOAD_SUM] = s // w if w < s else 1
    CS[c, E.C_LOAD_AVG] += TS[t, E.T_LOAD_AVG]
    CS[c, E.C_LOAD_SUM] += w * TS[t, E.T_LOAD_SUM]
    TS[t, E.T_PELT_CPU] = c


@_jit
def reweight(TS, t, w, now):
    """A new weight for a task not on a run queue (a burst of another nice): its average
    follows the weight (reweight_entity)."""
    if TS[t, E.T_PELT_W] == w:
        return
    update_task(TS, t, now)
    TS[t, E.T_PELT_W] = w
    TS[t, E.T_LOAD_AVG] = w * TS[t, E.T_LOAD_SUM] // (PELT_MIN_DIVIDER + TS[t, E.T_PELT_PC])


@_jit
def _peek(S, row, c_ts, c_pc, c_sum, c_avg, load, weight, now):
    """The average advancing the signal to ``now`` would give, leaving S as it is: reading a
    signal must not move it (updates at other instants round differently)."""
    return _advance(S[row, c_ts], S[row, c_pc], S[row, c_sum], S[row, c_avg], load, weight, now)[3]


@_jit
def cpu_load(CS, c, now):
    """cfs_rq load_avg of CPU c at now (cpu_load): its blocked load decayed to now."""
    return _peek(CS, c, E.C_PELT_TS, E.C_PELT_PC, E.C_LOAD_SUM, E.C_LOAD_AVG, CS[c, E.C_RQ_WEIGHT], 1, now)


@_jit
def task_load(TS, t, now):
    """A queued task's load_avg at now (task_h_load without groups), at least 1."""
    return max(_peek(TS, t, E.T_PELT_TS, E.T_PELT_PC, E.T_LOAD_SUM, E.T_LOAD_AVG, TS[t, E.T_PELT_Q],
                     TS[t, E.T_PELT_W], now), 1)


@_jit
def enqueued(TS, CS, t, c, now):
    """Fair task t becomes runnable on CPU c: its load is attached there (moved from the CPU
    it was attached to, if another), and its weight joins c's queued weight."""
    if TS[t, E.T_PELT_Q]:
        return
    update_cpu(CS, c, now)
    if TS[t, E.T_PELT_CPU] != c:
        detach(TS, CS, t, now)
        attach(TS, CS, t, c, now)
    else:
        update_task(TS, t, now)
    TS[t, E.T_PELT_Q] = 1
    CS[c, E.C_RQ_WEIGHT] += TS[t, E.T_PELT_W]


@_jit
def dequeued(TS, CS, t, now):
    """t stops being runnable (blocks, even if kept queued as delayed; exits; is moved):
    its weight leaves its CPU's queued weight; its load stays there, decaying."""
    if not TS[t, E.T_PELT_Q]:
        return
    c = TS[t, E.T_PELT_CPU]
    update_cpu(CS, c, now)
    update_task(TS, t, now)
    TS[t, E.T_PELT_Q] = 0
    CS[c, E.C_RQ_WEIGHT] -= TS[t, E.T_PELT_W]


@_jit
def fair_burst(TS, t, w, now):
    """A fair burst of weight w begins: a task's first fair burst starts its load at its
    weight (init_entity_runnable_average); a later one of another weight reweights it."""
    if TS[t, E.T_PELT_W] == 0:
        TS[t, E.T_PELT_W] = w
        TS[t, E.T_LOAD_AVG] = w
        TS[t, E.T_LOAD_SUM] = 0
        TS[t, E.T_PELT_TS] = now  # not attached yet: no time passes for it until it is
        TS[t, E.T_PELT_CPU] = -1
    else:
        reweight(TS, t, w, now)


# -- utilisation (E_ASYM machines) -------------------------------------------------------
# (few kernels on purpose: each costs numba a fixed compile time, README "Development")

@_jit
def util_join(TS, CS, t, c, join, now):
    """t's util joins (``join``) or leaves CPU c's signal, as its load does (attach_entity_
    load_avg, detach_entity_load_avg; a first attachment gives the task the kernel's
    initial util, post_init_entity_util_avg, from c's util and load before t's load joins)."""
    _update(CS, c, E.C_PU_TS, E.C_PU_PC, E.C_PU_SUM, E.C_PU_AVG, CS[c, E.C_PU_IN], 1, now)
    if not join:
        _update(TS, t, E.T_PU_TS, E.T_PU_PC, E.T_PU_SUM, E.T_PU_AVG, TS[t, E.T_PU_IN], 1, now)
        CS[c, E.C_PU_AVG] = max(CS[c, E.C_PU_AVG] - TS[t, E.T_PU_AVG], 0)
        s = max(CS[c, E.C_PU_SUM] - TS[t, E.T_PU_SUM], 0)
        CS[c, E.C_PU_SUM] = max(s, CS[c, E.C_PU_AVG] * PELT_MIN_DIVIDER)
        return
    if TS[t, E.T_PU_TS] < 0:
        spare = max(CS[c, E.C_CAPACITY] - CS[c, E.C_PU_AVG], 0) // 2
        if CS[c, E.C_PU_AVG] > 0:
            u = CS[c, E.C_PU_AVG] * TS[t, E.T_PELT_W] // (CS[c, E.C_LOAD_AVG] + 1)
            TS[t, E.T_PU_AVG] = min(u, spare)
        else:
            TS[t, E.T_PU_AVG] = spare
    TS[t, E.T_PU_TS] = CS[c, E.C_PU_TS]
    TS[t, E.T_PU_PC] = CS[c, E.C_PU_PC]
    TS[t, E.T_PU_SUM] = TS[t, E.T_PU_AVG] * (PELT_MIN_DIVIDER + CS[c, E.C_PU_PC])
    CS[c, E.C_PU_AVG] += TS[t, E.T_PU_AVG]
    CS[c, E.C_PU_SUM] += TS[t, E.T_PU_SUM]


@_jit
def util_running(TS, CS, t, c, cap, now):
    """Fair task t starts (cap > 0: the CPU's capacity) or stops (cap = 0) running on c,
    the CPU it is attached to: both signals advance to now and take the new input."""
    _update(CS, c, E.C_PU_TS, E.C_PU_PC, E.C_PU_SUM, E.C_PU_AVG, CS[c, E.C_PU_IN], 1, now)
    _update(TS, t, E.T_PU_TS, E.T_PU_PC, E.T_PU_SUM, E.T_PU_AVG, TS[t, E.T_PU_IN], 1, now)
    TS[t, E.T_PU_IN] = cap
    CS[c, E.C_PU_IN] = cap


@_jit
def task_util(TS, t, now):
    """A task's util_avg at now (its signal decayed or grown to now, not moved)."""
    if TS[t, E.T_PU_TS] < 0:
        return 0
    return _peek(TS, t, E.T_PU_TS, E.T_PU_PC, E.T_PU_SUM, E.T_PU_AVG, TS[t, E.T_PU_IN], 1, now)


@_jit
def util_of(CS, c, now):
    """The CPU's fair util_avg at now (running and blocked util), not moved."""
    return _peek(CS, c, E.C_PU_TS, E.C_PU_PC, E.C_PU_SUM, E.C_PU_AVG, CS[c, E.C_PU_IN], 1, now)
