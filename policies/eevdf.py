"""EEVDF, the fair class of Linux 6.18 (specs/eevdf.md), with the stock RT class.

Per-entity state (``PT``): vruntime, virtual deadline, saved lag, slice, protection,
relative deadline; a task's row, or a group entity's (task groups, autogroup:
docs/engine-model.md §13; rows from ``CS[0, C_GENT_BASE]`` on), which also holds its
group's queue on its CPU (v0, running task, count, weight, PELT load). Per-CPU state
(``PC``): the root queue's reference point v0 (min_vruntime), its running entity, its
group entities, the next buddy. The queues are the engine's per-CPU fair list, split by
the tasks' groups; V and eligibility are computed over each (a run queue holds a
handful of entities, so a scan is cheaper than keeping sums). Without groups the root
queue is the whole list, as in a kernel without CONFIG_FAIR_GROUP_SCHED.

``PT[t, SLICE]`` is the kernel's ``se.slice``, the task's request length: base_slice
(fork, every placement, every renewal) unless the task has a custom slice. Everything
that needs a task's slice reads it there.

Building blocks for classes that vary EEVDF (policies/infinity.py). The hooks are thin
over public helpers (compiled code only), which such a class calls with its own plain
values where it differs; no class hierarchy, no function arguments:

* the request size at deadline renewal: ``renew_request(TS, PT, t, slice)`` (stock:
  base_slice);
* the vruntime advance: ``update_curr`` adds calc_delta_fair(Δ) to ``PT[t, V]``, then
  ``renew_request`` if v >= d, then ``update_curr_end``; a variant adds its own delta;
* slice protection: ``pick_next(.., protect)`` and ``check_preempt_wakeup(.., protect)``,
  ``protect`` = whether the running task's protection counts (stock: always);
* the wakeup deadline: ``enqueue_entity`` returns whether placement set a fresh request
  (d = v + vslice), which a variant may then rescale;
* task groups: a variant's ``update_curr`` also calls ``update_curr_group`` (the group
  entity's advance, as stock), and reads the running task with ``running_task``.

The rest: ``queue_sums``, ``avg_vruntime``, ``eligible``, ``update_min_vruntime``,
``min_slice``, ``protected``, ``pick_eevdf``, ``save_lag``, ``finish_delayed``,
``place_entity``, ``init_entity``, ``dequeue_entity``, ``yield_entity``. A variant that
keeps a hook as it is (``set_next``, ``put_prev``, ``tick``) exposes eevdf's own.
"""

from __future__ import annotations

import numpy as np

from . import _state as E
from traces._numba import INTERNAL, NO_NRT, jit

from . import rt as RT
from ._fair_common import calc_delta, calc_delta_fair, scaling_factor, weight_of
from ._pelt import PELT_MIN_DIVIDER
from ._pelt import _update as pelt_update
from ._params import Param, resolve
from ._protocol import DEQ_EXIT, DEQ_MIGRATE, DEQ_SLEEP, ENQ_NEW, ENQ_REQUEUE, SIG, make_state
from .weights import NICE_0_WEIGHT

DESCRIPTION = "EEVDF (Linux 6.18 fair class) with the stock RT class"

# -- per-entity columns: a task's row, or a group entity's (rows from CS[0, C_GENT_BASE] on:
# group g's entity on CPU c, which stands for the group's tasks queued there in c's root queue;
# docs/engine-model.md §13)
V = 0          # vruntime (virtual ns)
D = 1          # virtual deadline
VLAG = 2       # lag saved at the last dequeue (virtual ns)
SLICE = 3      # request length r (wall ns): se.slice
VPROT = 4      # protected until v reaches this (RUN_TO_PARITY)
RELD = 5       # deadline - v, stored at a non-sleep dequeue (PLACE_REL_DEADLINE)
HAS_RELD = 6
CUSTOM = 7     # custom slice set (sched_setattr)
G_W = 8        # a task: the weight it added to its group's queue; a group entity: its weight
G_ON = 9       # group entity: on its CPU's root queue (incl. delayed)
G_DELAYED = 10  # group entity: kept queued although its group's queue emptied (DELAY_DEQUEUE)
G_NEXT = 11    # group entity: the next group entity on the root queue, + 1 (0: none)
G_SEQ = 12     # group entity: insertion ticket (as a task's T_SEQ)
GQ_V0 = 13     # group entity: its group's queue on that CPU (the group's cfs_rq): min_vruntime
GQ_CURR = 14   # ... the task of the group running there, + 1 (0: none)
GQ_NR = 15     # ... its tasks (incl. running and delayed ones)
GQ_W = 16      # ... their summed weight (cfs_rq->load.weight)
G_TOTAL = 17   # in the row of a group's entity on CPU 0: the group's load (tg->load_avg), the sum of GP_CONTRIB
# ... the load signal of the group's queue on that CPU (PELT: cfs_rq->avg; policies/_pelt.py)
GP_TS = 18
GP_PC = 19
GP_SUM = 20
GP_AVG = 21    # ... its load_avg: the runnable weight averaged, the attached tasks' blocked load decaying
GP_RUN = 22    # ... its input: the weight of the group's runnable tasks there (delayed ones are not)
GP_CONTRIB = 23  # ... its part of G_TOTAL as last published (tg_load_avg_contrib)
GP_PUB = 24    # ... when it was last published (update_tg_load_avg: at most once a millisecond)
GP_CPU = 25    # a task: the CPU whose group signal holds its load, + 1 (0: none yet)
GP_IN = 26     # a task: the weight it adds to that signal's input while runnable
N_TASK_COLS = 27

# -- per-CPU columns (the root queue)
Q_V0 = 0       # min_vruntime: monotonic reference point
Q_CURR = 1     # entity running on this CPU (a task of the root group or a group entity), -1
Q_INIT = 2
Q_GHEAD = 3    # first group entity on this root queue, + 1 (0: none)
Q_PREV_TOP = 4  # the root-queue entity of the task put last (put_prev), + 1: a switch inside a group keeps it
Q_NEXT = 5     # the next buddy (cfs_rq->next), + 1: the group entity whose task just slept (engine-model.md §13)
N_CPU_COLS = 6

#: a task group's weight (tg->shares of an autogroup at nice 0: NICE_0_LOAD) and its least
#: share on one CPU (MIN_SHARES), both in the weights' unit (scale_load_down)
GROUP_SHARES = 1024
MIN_SHARES = 2
#: 2^32 - 1: the kernel's WMULT_CONST, the inverse weight's scale (__update_inv_weight)
WMULT_CONST = (1 << 32) - 1

# -- packed parameters
P_BASE_SLICE = 0
P_BASE_UNSCALED = 1
P_PLACE_LAG = 2
P_PLACE_DEADLINE_INITIAL = 3
P_PLACE_REL_DEADLINE = 4
P_RUN_TO_PARITY = 5
P_PREEMPT_SHORT = 6
P_DELAY_DEQUEUE = 7
P_DELAY_ZERO = 8
P_WAKEUP_PREEMPTION = 9
P_TICK_NS = 10
P_PICK_BUDDY = 11
N_PARAMS = 12

PARAMS = (
    Param("base_slice_ns", 700_000, "ns", "eevdf.md §1", "base slice before CPU-count scaling "
          "(debugfs sched/base_slice_ns; 0.75 ms before 6.15)", "ns", lo=100_000, hi=100_000_000),
    Param("tunable_scaling", "log", "", "eevdf.md §1, cfs.md §2", "scale base_slice by "
          "1+log2(min(cpus,8)) (log), by min(cpus,8) (linear) or not (none)", "choice",
          ("log", "linear", "none")),
    Param("PLACE_LAG", True, "bool", "eevdf.md §6", "keep a waking task's lag", "bool"),
    Param("PLACE_DEADLINE_INITIAL", True, "bool", "eevdf.md §6", "new tasks get half a request", "bool"),
    Param("PLACE_REL_DEADLINE", True, "bool", "eevdf.md §6", "a migrating task keeps its relative deadline",
          "bool"),
    Param("RUN_TO_PARITY", True, "bool", "eevdf.md §7", "a picked task is protected to its deadline", "bool"),
    Param("PREEMPT_SHORT", True, "bool", "eevdf.md §8", "a shorter-slice wakee may preempt a protected task",
          "bool"),
    Param("DELAY_DEQUEUE", True, "bool", "eevdf.md §10", "ineligible sleepers stay queued until picked",
          "bool"),
    Param("DELAY_ZERO", True, "bool", "eevdf.md §10", "a delayed task leaves with positive lag clipped to 0",
          "bool"),
    Param("WAKEUP_PREEMPTION", True, "bool", "eevdf.md §8", "wakeups may preempt", "bool"),
    Param("PICK_BUDDY", True, "bool", "eevdf.md §5, docs/engine-model.md §13", "pick a marked next buddy "
          "first: the group whose task just slept while it keeps tasks on that CPU (and yield_to, not "
          "replayed)", "bool"),
) + RT.PARAMS


OWN_PARAMS = PARAMS[: len(PARAMS) - len(RT.PARAMS)]


def pack(values: dict | None, n_cpus: int, hz: int) -> np.ndarray:
    """Fair-class parameters (names of OWN_PARAMS; missing ones default) -> the int64 vector."""
    v = resolve(OWN_PARAMS, values, "eevdf")
    p = np.zeros(N_PARAMS, np.int64)
    factor = scaling_factor(n_cpus, v["tunable_scaling"])
    p[P_BASE_SLICE] = v["base_slice_ns"] * factor
    p[P_BASE_UNSCALED] = v["base_slice_ns"]
    for name, idx in (("PLACE_LAG", P_PLACE_LAG), ("PLACE_DEADLINE_INITIAL", P_PLACE_DEADLINE_INITIAL),
                      ("PLACE_REL_DEADLINE", P_PLACE_REL_DEADLINE), ("RUN_TO_PARITY", P_RUN_TO_PARITY),
                      ("PREEMPT_SHORT", P_PREEMPT_SHORT), ("DELAY_DEQUEUE", P_DELAY_DEQUEUE),
                      ("DELAY_ZERO", P_DELAY_ZERO), ("WAKEUP_PREEMPTION", P_WAKEUP_PREEMPTION),
                      ("PICK_BUDDY", P_PICK_BUDDY)):
        p[idx] = 1 if v[name] else 0
    p[P_TICK_NS] = 1_000_000_000 // hz
    return p


state = make_state(N_TASK_COLS, N_CPU_COLS)


_jit = jit(**INTERNAL, **NO_NRT)
#: the hooks' bodies, which eevdf's hooks and a variant's call: inlined into each caller
#: (numba IR), as if written there, instead of compiled apart and linked (cold compile)
_inline = jit(**INTERNAL, **NO_NRT, inline="always")
_hook = jit(SIG, **NO_NRT)


# -- entities and queues ----------------------------------------------------------------
#
# A CPU's fair tasks are on the engine's list; the class sees two levels in them
# (docs/engine-model.md §13): the root queue (tasks of the root group, T_GROUP 0, and
# one entity per group with tasks here) and each group's queue (its tasks here). With
# every task in the root group (no groups, or ``autogroup`` off) the root queue is the
# CPU's list, as without groups. An entity is a task's row or a group entity's row of PT.

@_jit
def group_entity(CS, g, cpu):
    """The PT row of group ``g``'s entity on ``cpu`` (g >= 1)."""
    return CS[0, E.C_GENT_BASE] + (g - 1) * CS.shape[0] + cpu


@_jit
def is_group(CS, e):
    base = CS[0, E.C_GENT_BASE]
    return base > 0 and e >= base  # 0: the engine made no group entities (nor a harness that drives hooks)


@_jit
def top_entity(TS, CS, cpu, t):
    """The entity that stands for task t in ``cpu``'s root queue: t, or its group's entity."""
    g = TS[t, E.T_GROUP]
    return t if g == 0 else group_entity(CS, g, cpu)


@_jit
def weight_e(TS, CS, PT, e):
    """An entity's load weight: a task's from its nice, a group entity's share."""
    if is_group(CS, e):
        return PT[e, G_W]
    return weight_of(TS, e)


@_jit
def delta_fair_e(delta, TS, CS, PT, e):
    """calc_delta_fair for any entity: ``delta`` wall ns as e's virtual ns (a group
    entity's inverse weight as __update_inv_weight computes it)."""
    if not is_group(CS, e):
        return calc_delta_fair(delta, TS, e)
    w = PT[e, G_W]
    if w == NICE_0_WEIGHT:
        return delta
    return calc_delta(delta, NICE_0_WEIGHT, WMULT_CONST // w)


@_jit
def seq_e(TS, CS, PT, e):
    return PT[e, G_SEQ] if is_group(CS, e) else TS[e, E.T_SEQ]


@_jit
def on_rq_e(TS, CS, PT, e):
    return PT[e, G_ON] if is_group(CS, e) else TS[e, E.T_ON_RQ]


@_jit
def delayed_e(TS, CS, PT, e):
    return PT[e, G_DELAYED] if is_group(CS, e) else TS[e, E.T_DELAYED]


@_jit
def first_e(TS, CS, PT, PC, cpu, g):
    """The first entity of queue (cpu, g) (g = 0: the root queue), -1 if it is empty."""
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0 and TS[t, E.T_GROUP] != g:
        t = TS[t, E.T_Q_NEXT]
    if t >= 0 or g != 0:
        return t
    return PC[cpu, Q_GHEAD] - 1


@_jit
def running_task(CS, PT, PC, cpu):
    """The task of the class running on cpu (under its group's entity or not), -1."""
    top = PC[cpu, Q_CURR]
    if top >= 0 and is_group(CS, top):
        return PT[top, GQ_CURR] - 1
    return top


@_jit
def q_v0(CS, PT, PC, cpu, g):
    return PC[cpu, Q_V0] if g == 0 else PT[group_entity(CS, g, cpu), GQ_V0]


@_jit
def q_curr(CS, PT, PC, cpu, g):
    """The entity running in queue (cpu, g) (its cfs_rq->curr), -1."""
    if g == 0:
        return PC[cpu, Q_CURR]
    return PT[group_entity(CS, g, cpu), GQ_CURR] - 1


# -- the virtual clock ----------------------------------------------------------------

@_jit
def queue_sums(TS, CS, PT, PC, cpu, g, skip):
    """Over the entities of queue (cpu, g) (incl. the running one and delayed ones) except
    ``skip`` (-1: none): (S, W, n) with S = sum of w*(v - v0), W = sum of w, n = count
    (kernel/sched/fair.c: avg_vruntime_add/sub keep S and W; eevdf.md §2)."""
    v0 = q_v0(CS, PT, PC, cpu, g)
    s = 0
    w_sum = 0
    n = 0
    # each queue walks the CPU's list for its tasks, the root queue then its group entities
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != skip and TS[t, E.T_GROUP] == g:
            w = weight_of(TS, t)
            s += w * (PT[t, V] - v0)
            w_sum += w
            n += 1
        t = TS[t, E.T_Q_NEXT]
    if g == 0:
        e = PC[cpu, Q_GHEAD] - 1
        while e >= 0:
            if e != skip:
                w = PT[e, G_W]
                s += w * (PT[e, V] - v0)
                w_sum += w
                n += 1
            e = PT[e, G_NEXT] - 1
    return s, w_sum, n


@_jit
def _average(CS, PT, PC, cpu, g, s, w_sum):
    """V from the queue sums: v0 + floor(S / W), v0 for an empty queue."""
    if w_sum == 0:
        return q_v0(CS, PT, PC, cpu, g)
    return q_v0(CS, PT, PC, cpu, g) + s // w_sum


@_jit
def avg_vruntime(TS, CS, PT, PC, cpu, g, skip):
    """V: the weight-averaged vruntime of queue (cpu, g)'s entities (incl. the running one
    and delayed ones), optionally leaving one out (kernel/sched/fair.c: avg_vruntime;
    eevdf.md §2)."""
    s, w_sum, _ = queue_sums(TS, CS, PT, PC, cpu, g, skip)
    return _average(CS, PT, PC, cpu, g, s, w_sum)


@_jit
def eligible(TS, CS, PT, PC, cpu, g, e):
    """v_e <= V exactly, without division (kernel/sched/fair.c: vruntime_eligible;
    eevdf.md §3)."""
    s, w_sum, _ = queue_sums(TS, CS, PT, PC, cpu, g, -1)
    return s >= (PT[e, V] - q_v0(CS, PT, PC, cpu, g)) * w_sum


@_jit
def update_min_vruntime(TS, CS, PT, PC, cpu, g):
    """min_vruntime: max(old, min(v of queued entities)) — never moves back
    (kernel/sched/fair.c: update_min_vruntime; eevdf.md §2)."""
    lo = 0
    found = False
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if TS[t, E.T_GROUP] == g and (not found or PT[t, V] < lo):
            lo = PT[t, V]
            found = True
        t = TS[t, E.T_Q_NEXT]
    if g == 0:
        e = PC[cpu, Q_GHEAD] - 1
        while e >= 0:
            if not found or PT[e, V] < lo:
                lo = PT[e, V]
                found = True
            e = PT[e, G_NEXT] - 1
    if found and lo > q_v0(CS, PT, PC, cpu, g):
        if g == 0:
            PC[cpu, Q_V0] = lo
        else:
            PT[group_entity(CS, g, cpu), GQ_V0] = lo


@_jit
def min_slice(TS, CS, PT, PC, cpu, g):
    """The smallest se.slice among queue (cpu, g)'s entities, -1 if none
    (kernel/sched/fair.c: cfs_rq_min_slice; eevdf.md §7)."""
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if TS[t, E.T_GROUP] == g and (best < 0 or PT[t, SLICE] < best):
            best = PT[t, SLICE]
        t = TS[t, E.T_Q_NEXT]
    if g == 0:
        e = PC[cpu, Q_GHEAD] - 1
        while e >= 0:
            if best < 0 or PT[e, SLICE] < best:
                best = PT[e, SLICE]
            e = PT[e, G_NEXT] - 1
    return best


@_jit
def protected(PT, e):
    """e's slice protection has not run out: vprot > v (kernel/sched/fair.c:
    protect_slice; eevdf.md §7)."""
    return PT[e, VPROT] > PT[e, V]


@_jit
def _earlier(TS, CS, PT, e, best):
    """e comes before ``best`` in the tree: an earlier deadline, or the same one and an
    earlier insertion."""
    return PT[e, D] < PT[best, D] or (PT[e, D] == PT[best, D] and seq_e(TS, CS, PT, e) < seq_e(TS, CS, PT, best))


@_jit
def pick_eevdf(TS, CS, PT, PC, PP, cpu, g, protect):
    """__pick_eevdf (kernel/sched/fair.c; eevdf.md §5) over queue (cpu, g): the eligible
    entity with the earliest deadline; the running one if it is eligible and (``protect``
    and) protected, or its deadline is strictly earlier. Ties on deadline: a queued entity
    beats the running one; earlier insertion wins. One pass sums the queue (eligibility is
    then O(1) per entity: v <= V exactly). -1 only for an empty queue."""
    v0 = q_v0(CS, PT, PC, cpu, g)
    s, w_sum, n = queue_sums(TS, CS, PT, PC, cpu, g, -1)
    if n == 0:
        return -1
    if n == 1:
        return first_e(TS, CS, PT, PC, cpu, g)
    curr = q_curr(CS, PT, PC, cpu, g)
    c = -1
    if curr >= 0 and on_rq_e(TS, CS, PT, curr) and s >= (PT[curr, V] - v0) * w_sum:
        c = curr
    if c >= 0 and protect and protected(PT, c):
        return c
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if TS[t, E.T_GROUP] == g and t != curr and s >= (PT[t, V] - v0) * w_sum \
                and (best < 0 or _earlier(TS, CS, PT, t, best)):
            best = t
        t = TS[t, E.T_Q_NEXT]
    if g == 0:
        e = PC[cpu, Q_GHEAD] - 1
        while e >= 0:
            if e != curr and s >= (PT[e, V] - v0) * w_sum and (best < 0 or _earlier(TS, CS, PT, e, best)):
                best = e
            e = PT[e, G_NEXT] - 1
    if best < 0 or (c >= 0 and PT[c, D] < PT[best, D]):
        best = c
    return best


# -- lag and placement ----------------------------------------------------------------

@_jit
def save_lag(TS, CS, PT, PP, e, vnow):
    """vlag = clamp(V - v, ±calc_delta_fair(max(2r, TICK))), r = se.slice, V = ``vnow``
    (kernel/sched/fair.c: update_entity_lag; eevdf.md §3)."""
    limit = delta_fair_e(max(2 * PT[e, SLICE], PP[P_TICK_NS]), TS, CS, PT, e)
    lag = vnow - PT[e, V]
    PT[e, VLAG] = min(max(lag, -limit), limit)


@_jit
def _unlink_group_entity(CS, PT, PC, cpu, ge):
    """Take group entity ge off cpu's root queue."""
    prev = -1
    e = PC[cpu, Q_GHEAD] - 1
    while e >= 0 and e != ge:
        prev = e
        e = PT[e, G_NEXT] - 1
    if e < 0:
        raise RuntimeError("policy bug: a group entity is not on its root queue")
    if prev < 0:
        PC[cpu, Q_GHEAD] = PT[ge, G_NEXT]
    else:
        PT[prev, G_NEXT] = PT[ge, G_NEXT]
    PT[ge, G_NEXT] = 0
    PT[ge, G_ON] = 0
    PT[ge, G_DELAYED] = 0
    if PC[cpu, Q_CURR] == ge:
        PC[cpu, Q_CURR] = -1
    if PC[cpu, Q_NEXT] == ge + 1:
        PC[cpu, Q_NEXT] = 0


@_jit
def finish_delayed(TS, CS, PT, PC, PP, cpu, g, e, now):
    """A delayed entity of queue (cpu, g) leaves it for real (picked, kernel/sched/fair.c:
    pick_next_entity → dequeue_entities; eevdf.md §10): its lag is taken now; DELAY_ZERO
    clips a positive lag to 0. A task leaving its group's queue empty takes the group's
    entity off the root queue with it (a sleep: it may be delayed in turn, engine-model.md §13)."""
    save_lag(TS, CS, PT, PP, e, avg_vruntime(TS, CS, PT, PC, cpu, g, -1))
    if PP[P_DELAY_ZERO] and PT[e, VLAG] > 0:
        PT[e, VLAG] = 0
    PT[e, HAS_RELD] = 0
    if is_group(CS, e):
        _unlink_group_entity(CS, PT, PC, cpu, e)
        return
    E.list_remove(TS, CS, cpu, e, E.CLS_FAIR)
    if g != 0:
        _left_group(TS, CS, PT, PC, PP, cpu, e, g, True, now)


@_jit
def place_entity(TS, CS, PT, PC, PP, cpu, g, e, flags):
    """place_entity (kernel/sched/fair.c; eevdf.md §6) in queue (cpu, g): se.slice =
    base_slice unless custom (a group entity's is its queue's smallest, engine-model.md §13); v = V -
    inflated lag; d = v + stored relative deadline (PLACE_REL_DEADLINE), else d = v + vslice
    (half for a new task). Returns True when d = v + vslice (a fresh request), False when
    the relative deadline was kept."""
    if not PT[e, CUSTOM]:
        PT[e, SLICE] = PP[P_BASE_SLICE]
    s, wq, n = queue_sums(TS, CS, PT, PC, cpu, g, e)
    vnow = _average(CS, PT, PC, cpu, g, s, wq)
    lag = 0
    if PP[P_PLACE_LAG] and n > 0 and PT[e, VLAG] != 0:
        w = weight_e(TS, CS, PT, e)
        lag = _div_trunc(PT[e, VLAG] * (wq + w), wq)
    PT[e, V] = vnow - lag
    if PT[e, HAS_RELD] and PP[P_PLACE_REL_DEADLINE]:
        PT[e, D] = PT[e, V] + PT[e, RELD]
        PT[e, HAS_RELD] = 0
        return False
    vs = delta_fair_e(PT[e, SLICE], TS, CS, PT, e)
    if PP[P_PLACE_DEADLINE_INITIAL] and (flags & ENQ_NEW):
        vs = vs // 2
    PT[e, D] = PT[e, V] + vs
    return True


# -- group entities (docs/engine-model.md §13) --------------------------------------------

@_jit
def group_shares(CS, PT, cpu, g):
    """calc_group_shares (kernel/sched/fair.c; engine-model.md §13): the group's shares times this CPU's
    load over the group's, where this CPU's load is max(queued weight, load_avg) and the
    group's is the published loads of the other CPUs plus it; between MIN_SHARES and the
    group's shares (scaled as the kernel scales weights, then scale_load_down)."""
    ge = group_entity(CS, g, cpu)
    load = max(PT[ge, GQ_W], PT[ge, GP_AVG])
    tg_weight = PT[group_entity(CS, g, 0), G_TOTAL] - PT[ge, GP_CONTRIB] + load
    shares = (GROUP_SHARES << 10) * load
    if tg_weight > 0:
        shares //= tg_weight
    shares = min(max(shares, MIN_SHARES), GROUP_SHARES << 10)
    return max(shares >> 10, MIN_SHARES)


@_jit
def group_signal(CS, PT, g, cpu, now):
    """The load signal of group g's queue on cpu advanced to now (update_cfs_rq_load_avg),
    and its load published to the group's (update_tg_load_avg: when it moved by more than
    1/64 of what was published, at most once a millisecond)."""
    ge = group_entity(CS, g, cpu)
    pelt_update(PT, ge, GP_TS, GP_PC, GP_SUM, GP_AVG, PT[ge, GP_RUN], 1, now)
    if now - PT[ge, GP_PUB] < 1_000_000:
        return
    delta = PT[ge, GP_AVG] - PT[ge, GP_CONTRIB]
    if abs(delta) > PT[ge, GP_CONTRIB] // 64:
        PT[group_entity(CS, g, 0), G_TOTAL] += delta
        PT[ge, GP_CONTRIB] = PT[ge, GP_AVG]
        PT[ge, GP_PUB] = now


@_jit
def _runnable(CS, PT, g, cpu, t, w):
    """Task t's part of the input of group g's signal on cpu becomes w (its weight while
    runnable, 0 once it is not); the signal was advanced to now first."""
    ge = group_entity(CS, g, cpu)
    PT[ge, GP_RUN] += w - PT[t, GP_IN]
    PT[t, GP_IN] = w


@_jit
def _group_detach(TS, CS, PT, g, t, now):
    """Task t's load leaves the group signal it is attached to, if any (the group level of
    detach_entity_load_avg; an exiting task's too, as the engine's CPU signals do)."""
    old = PT[t, GP_CPU] - 1
    if old < 0:
        return
    go = group_entity(CS, g, old)
    group_signal(CS, PT, g, old, now)
    PT[go, GP_AVG] = max(PT[go, GP_AVG] - TS[t, E.T_LOAD_AVG], 0)
    rest = max(PT[go, GP_SUM] - TS[t, E.T_PELT_W] * TS[t, E.T_LOAD_SUM], 0)
    PT[go, GP_SUM] = max(rest, PT[go, GP_AVG] * PELT_MIN_DIVIDER)
    PT[t, GP_CPU] = 0


@_jit
def _group_attach(TS, CS, PT, g, t, cpu, now):
    """Task t's load joins its group's signal on cpu, leaving the CPU's it was attached
    to (the group-level attach/detach_entity_load_avg, as the engine moves it between the
    CPUs' own signals: replay/sim/_pelt.py)."""
    if PT[t, GP_CPU] - 1 == cpu:
        return
    _group_detach(TS, CS, PT, g, t, now)
    ge = group_entity(CS, g, cpu)
    PT[ge, GP_AVG] += TS[t, E.T_LOAD_AVG]
    PT[ge, GP_SUM] += TS[t, E.T_PELT_W] * TS[t, E.T_LOAD_SUM]
    PT[t, GP_CPU] = cpu + 1


@_jit
def reweight_group_entity(TS, CS, PT, PC, PP, cpu, ge, w):
    """reweight_entity (kernel/sched/fair.c, 6.18; engine-model.md §13) of a group entity: off the root
    queue only its saved lag is rescaled (old/new weight); on it, its lag is taken,
    rescaled with its relative deadline, and it is placed again at the new weight. The
    running entity is placed with itself (at the new weight) counted in V and in the lag's
    inflation, and loses its slice protection: 6.18 keeps vprot in the field that holds the
    lag (a union in struct sched_entity)."""
    old = PT[ge, G_W]
    if old == w:
        return
    if not PT[ge, G_ON]:
        PT[ge, VLAG] = _div_trunc(PT[ge, VLAG] * old, w)
        PT[ge, G_W] = w
        return
    running = PC[cpu, Q_CURR] == ge
    save_lag(TS, CS, PT, PP, ge, avg_vruntime(TS, CS, PT, PC, cpu, 0, -1))
    rel_d = _div_trunc((PT[ge, D] - PT[ge, V]) * old, w)
    PT[ge, VLAG] = _div_trunc(PT[ge, VLAG] * old, w)
    PT[ge, G_W] = w
    if running:
        s, wq, n = queue_sums(TS, CS, PT, PC, cpu, 0, -1)
        n -= 1
    else:
        s, wq, n = queue_sums(TS, CS, PT, PC, cpu, 0, ge)
    vnow = _average(CS, PT, PC, cpu, 0, s, wq)
    lag = 0
    if PP[P_PLACE_LAG] and n > 0 and PT[ge, VLAG] != 0:
        lag = _div_trunc(PT[ge, VLAG] * (wq + w), wq)
    PT[ge, V] = vnow - lag
    PT[ge, D] = PT[ge, V] + rel_d
    if running:
        PT[ge, VPROT] = PT[ge, V]
    update_min_vruntime(TS, CS, PT, PC, cpu, 0)


@_jit
def _div_trunc(a, b):
    """a / b truncated toward zero (div_s64)."""
    if a >= 0:
        return a // b
    return -((-a) // b)


@_jit
def update_group(TS, CS, PT, PC, PP, cpu, g, now):
    """update_load_avg and update_cfs_group of group g's entity on cpu: its queue's load
    signal to now; its slice is its queue's smallest (enqueue_task_fair sets se->slice),
    its weight the group's share there."""
    ge = group_entity(CS, g, cpu)
    group_signal(CS, PT, g, cpu, now)
    if not PT[ge, G_ON] or PT[ge, GQ_NR] == 0:
        return
    ms = min_slice(TS, CS, PT, PC, cpu, g)
    if ms > 0:
        PT[ge, SLICE] = ms
    reweight_group_entity(TS, CS, PT, PC, PP, cpu, ge, group_shares(CS, PT, cpu, g))


@_jit
def _joined_group(TS, CS, PT, PC, PP, cpu, t, now):
    """Task t joined its group's queue on cpu (enqueue_task_fair, the levels above the
    task's): the group entity joins the root queue if it was not on it (placed as a
    wakeup, with its own lag), or is requeued if it was delayed; then its slice and weight
    follow the group's queue."""
    g = TS[t, E.T_GROUP]
    ge = group_entity(CS, g, cpu)
    w = weight_of(TS, t)
    PT[t, G_W] = w
    PT[ge, GQ_NR] += 1
    PT[ge, GQ_W] += w
    group_signal(CS, PT, g, cpu, now)
    _group_attach(TS, CS, PT, g, t, cpu, now)
    _runnable(CS, PT, g, cpu, t, TS[t, E.T_PELT_W])
    if PT[ge, G_W] == 0:
        PT[ge, G_W] = GROUP_SHARES  # a group entity starts with the group's whole weight
        PT[ge, CUSTOM] = 1
    if not PT[ge, G_ON]:
        # enqueue_entity of the group entity (flags: a wakeup): weight first, then placement
        PT[ge, SLICE] = min_slice(TS, CS, PT, PC, cpu, g)
        reweight_group_entity(TS, CS, PT, PC, PP, cpu, ge, group_shares(CS, PT, cpu, g))
        place_entity(TS, CS, PT, PC, PP, cpu, 0, ge, 0)
        PT[ge, G_NEXT] = PC[cpu, Q_GHEAD]
        PC[cpu, Q_GHEAD] = ge + 1
        PT[ge, G_ON] = 1
        PT[ge, G_DELAYED] = 0
        CS[cpu, E.C_SEQ] += 1
        PT[ge, G_SEQ] = CS[cpu, E.C_SEQ]
        return
    if PT[ge, G_DELAYED]:
        PT[ge, G_DELAYED] = 0
        requeue_delayed(TS, CS, PT, PC, PP, cpu, 0, ge)
    update_group(TS, CS, PT, PC, PP, cpu, g, now)


@_jit
def requeue_delayed(TS, CS, PT, PC, PP, cpu, g, e):
    """requeue_delayed_entity (kernel/sched/fair.c; eevdf.md §10): a delayed entity woken
    keeps its place, except that DELAY_ZERO gives back a positive lag by re-placing it at
    V (a negative one is kept). Returns True when placement set a fresh request."""
    if PP[P_DELAY_ZERO]:
        vnow = avg_vruntime(TS, CS, PT, PC, cpu, g, -1)
        if vnow - PT[e, V] > 0:
            PT[e, VLAG] = 0
            PT[e, HAS_RELD] = 0
            return place_entity(TS, CS, PT, PC, PP, cpu, g, e, 0)
    return False


@_jit
def _left_group(TS, CS, PT, PC, PP, cpu, t, g, sleep, now):
    """Task t left group g's queue on cpu for good (dequeue_entities, the levels above
    the task's; t is no longer counted in that queue): with no task left there the group
    entity leaves the root queue as a sleeper (it may be delayed, eevdf.md §10; either
    way it is no longer the next buddy); else its slice and weight follow, and a task
    that went to sleep makes it the root queue's next buddy (set_next_buddy: the CPU
    stays with the group while it is eligible)."""
    ge = group_entity(CS, g, cpu)
    PT[ge, GQ_NR] -= 1
    PT[ge, GQ_W] -= PT[t, G_W]
    if PT[ge, GQ_CURR] == t + 1:
        PT[ge, GQ_CURR] = 0
    if PT[ge, GQ_NR] > 0:
        if sleep:
            PC[cpu, Q_NEXT] = ge + 1
        update_group(TS, CS, PT, PC, PP, cpu, g, now)
        return
    if not PT[ge, G_ON] or PT[ge, G_DELAYED]:
        return
    if PC[cpu, Q_NEXT] == ge + 1:
        PC[cpu, Q_NEXT] = 0
    vnow = avg_vruntime(TS, CS, PT, PC, cpu, 0, -1)
    if PP[P_DELAY_DEQUEUE] and not eligible(TS, CS, PT, PC, cpu, 0, ge):
        PT[ge, G_DELAYED] = 1
        return
    save_lag(TS, CS, PT, PP, ge, vnow)
    PT[ge, HAS_RELD] = 0
    _unlink_group_entity(CS, PT, PC, cpu, ge)


@_jit
def drop_delayed_groups(TS, CS, PT, PC, PP, cpu, now):
    """A CPU left with no task of the class: the kernel's next pick on it takes every
    delayed group entity off its root queue, one pick each (pick_next_entity)."""
    while PC[cpu, Q_GHEAD] > 0:
        e = pick_eevdf(TS, CS, PT, PC, PP, cpu, 0, True)
        if e < 0 or not is_group(CS, e) or not PT[e, G_DELAYED]:
            raise RuntimeError("policy bug: a group entity without tasks is not delayed")
        finish_delayed(TS, CS, PT, PC, PP, cpu, 0, e, now)


# -- the hooks' bodies ----------------------------------------------------------------

@_inline
def init_entity(PT, PP, t, parent):
    """A new task's class state (kernel/sched/core.c: __sched_fork): no lag, no relative
    deadline, no protection; se.slice = base_slice, or the parent's custom slice (kept
    across fork)."""
    PT[t, VLAG] = 0
    PT[t, HAS_RELD] = 0
    PT[t, VPROT] = 0
    if parent >= 0 and PT[parent, CUSTOM]:
        PT[t, CUSTOM] = 1
        PT[t, SLICE] = PT[parent, SLICE]
    elif not PT[t, CUSTOM]:
        PT[t, SLICE] = PP[P_BASE_SLICE]


@_inline
def enqueue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """enqueue_entity (kernel/sched/fair.c; eevdf.md §6, §10) in t's group's queue:
    placement, except for a task woken while still delayed (ENQ_REQUEUE, core.c
    ttwu_runnable): no placement, but DELAY_ZERO gives back a positive lag by re-placing
    at V (a negative one is kept); then the levels above (engine-model.md §13). Returns True when
    placement set a fresh request (d = v + vslice)."""
    if not PC[cpu, Q_INIT]:
        PC[cpu, Q_INIT] = 1
        PC[cpu, Q_CURR] = -1
    g = TS[t, E.T_GROUP]
    if flags & ENQ_REQUEUE:
        if g != 0:  # runnable again: its weight is the group's signal's input again
            group_signal(CS, PT, g, cpu, now)
            _runnable(CS, PT, g, cpu, t, TS[t, E.T_PELT_W])
        return requeue_delayed(TS, CS, PT, PC, PP, cpu, g, t)
    fresh = place_entity(TS, CS, PT, PC, PP, cpu, g, t, flags)
    if g != 0:
        _joined_group(TS, CS, PT, PC, PP, cpu, t, now)
    return fresh


@_inline
def dequeue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """dequeue_entity (kernel/sched/fair.c; eevdf.md §3, §10) in t's group's queue: an
    ineligible sleeper stays queued (DELAY_DEQUEUE; returns 0); otherwise the lag is
    saved, a migrating task keeps its relative deadline (PLACE_REL_DEADLINE), it leaves
    (returns 1), and the levels above follow (engine-model.md §13). A CPU left with no task of the class
    drops its delayed group entities."""
    g = TS[t, E.T_GROUP]
    if g != 0:  # not runnable from now (delayed or not): its weight leaves the group's signal's input
        group_signal(CS, PT, g, cpu, now)
        _runnable(CS, PT, g, cpu, t, 0)
        if flags & DEQ_EXIT:
            _group_detach(TS, CS, PT, g, t, now)
    vnow = avg_vruntime(TS, CS, PT, PC, cpu, g, -1)
    if (flags & DEQ_SLEEP) and not (flags & DEQ_EXIT) and PP[P_DELAY_DEQUEUE] \
            and not eligible(TS, CS, PT, PC, cpu, g, t):
        return 0  # delayed: stays queued, keeps v, d and its weight in V
    save_lag(TS, CS, PT, PP, t, vnow)
    if (flags & DEQ_MIGRATE) and PP[P_PLACE_REL_DEADLINE]:
        PT[t, RELD] = PT[t, D] - PT[t, V]
        PT[t, HAS_RELD] = 1
    else:
        PT[t, HAS_RELD] = 0
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    if g != 0 or PC[cpu, Q_GHEAD] > 0:
        _above(TS, CS, PT, PC, PP, cpu, t, g, (flags & DEQ_SLEEP) != 0, now)
    return 1


@_jit
def _above(TS, CS, PT, PC, PP, cpu, t, g, sleep, now):
    """The levels above a task that leaves (dequeue_entities): its group's entity follows
    its group's queue, and a CPU left with no task of the class drops its delayed group
    entities. The engine takes t off its list after the hook: t is hidden from the queues
    meanwhile (its group set to none)."""
    TS[t, E.T_GROUP] = -1
    if g != 0:
        _left_group(TS, CS, PT, PC, PP, cpu, t, g, sleep, now)
    if PC[cpu, Q_GHEAD] > 0 and CS[cpu, E.C_NR_FAIR] == 1:
        drop_delayed_groups(TS, CS, PT, PC, PP, cpu, now)
    TS[t, E.T_GROUP] = g


@_inline
def pick_next(TS, CS, PT, PC, PP, cpu, protect, now):
    """pick_task_fair (kernel/sched/fair.c; eevdf.md §5, §10; engine-model.md §13): ``pick_eevdf`` in the
    root queue, then, for a group entity, in its group's queue; a delayed entity picked
    leaves its queue for real and the pick restarts. ``protect``: the running entities'
    slice protection counts (stock: always). -1 when nothing is left."""
    top = PC[cpu, Q_CURR]
    # ``protect`` is about the running task: a group entity above it keeps its protection
    protect_root = protect or (top >= 0 and is_group(CS, top))
    while True:
        e = PC[cpu, Q_NEXT] - 1
        if not (e >= 0 and PP[P_PICK_BUDDY] and eligible(TS, CS, PT, PC, cpu, 0, e)):
            e = pick_eevdf(TS, CS, PT, PC, PP, cpu, 0, protect_root)
        if e < 0:
            return -1
        if delayed_e(TS, CS, PT, e):
            finish_delayed(TS, CS, PT, PC, PP, cpu, 0, e, now)
            continue
        if not is_group(CS, e):
            return e
        g = (e - CS[0, E.C_GENT_BASE]) // CS.shape[0] + 1
        t = pick_eevdf(TS, CS, PT, PC, PP, cpu, g, protect)
        if t < 0:
            raise RuntimeError("policy bug: a group entity with no task queued is not delayed")
        if TS[t, E.T_DELAYED]:
            finish_delayed(TS, CS, PT, PC, PP, cpu, g, t, now)
            continue
        return t


@_inline
def renew_request(TS, PT, t, slice_):
    """A completed request is renewed (kernel/sched/fair.c: update_deadline; eevdf.md §4):
    se.slice = ``slice_`` unless custom (stock: base_slice), d = v + vslice from the
    current v (an overrun is not refunded)."""
    if not PT[t, CUSTOM]:
        PT[t, SLICE] = slice_
    PT[t, D] = PT[t, V] + calc_delta_fair(PT[t, SLICE], TS, t)


@_jit
def queue_len(TS, CS, PT, PC, cpu, g):
    """cfs_rq->nr_queued of queue (cpu, g): its entities, the running one and delayed ones
    included (the root queue without groups: the CPU's whole fair list)."""
    if g != 0:
        return PT[group_entity(CS, g, cpu), GQ_NR]
    if PC[cpu, Q_GHEAD] == 0:
        return CS[cpu, E.C_NR_FAIR]
    return queue_sums(TS, CS, PT, PC, cpu, 0, -1)[2]


@_inline
def update_curr_end(TS, CS, PT, PC, cpu, t, renewed):
    """The end of update_curr (kernel/sched/fair.c; eevdf.md §4) for task t's queue, after
    v advanced and a completed request was renewed: update min_vruntime; 1 (resched) when
    >= 2 entities are queued and the request was renewed or the protection ran out, else 0."""
    g = TS[t, E.T_GROUP]
    update_min_vruntime(TS, CS, PT, PC, cpu, g)
    if queue_len(TS, CS, PT, PC, cpu, g) <= 1:
        return 0
    if renewed or not protected(PT, t):
        return 1
    return 0


@_jit
def update_curr_group(TS, CS, PT, PC, PP, cpu, t, delta):
    """update_curr at the root queue for a task of a group (engine-model.md §13): its group entity's v
    advances by ``delta`` at the entity's weight, a completed request is renewed with the
    entity's slice; 1 (resched) as at a task's level, else 0. 0 for a task of the root
    group (its own update_curr is that level)."""
    g = TS[t, E.T_GROUP]
    if g == 0:
        return 0
    ge = group_entity(CS, g, cpu)
    if delta > 0:
        PT[ge, V] += delta_fair_e(delta, TS, CS, PT, ge)
    renewed = PT[ge, V] >= PT[ge, D]
    if renewed:
        PT[ge, D] = PT[ge, V] + delta_fair_e(PT[ge, SLICE], TS, CS, PT, ge)
    update_min_vruntime(TS, CS, PT, PC, cpu, 0)
    if queue_len(TS, CS, PT, PC, cpu, 0) <= 1:
        return 0
    if renewed or not protected(PT, ge):
        if PC[cpu, Q_NEXT] == ge + 1:
            PC[cpu, Q_NEXT] = 0  # clear_buddies
        return 1
    return 0


@_inline
def check_preempt_wakeup(TS, CS, PT, PC, PP, cpu, p, protect):
    """check_preempt_wakeup_fair (kernel/sched/fair.c; eevdf.md §8; engine-model.md §13), after the
    engine's update_curr: 1 if the woken p preempts the running task. The two are compared
    in the first queue they share (find_matching_se): their own group's, or the root queue
    through their groups' entities. ``protect``: the running entity's slice protection
    counts in the pick (stock: always; PREEMPT_SHORT still ignores it for a shorter-slice
    wakee)."""
    top = PC[cpu, Q_CURR]
    curr = running_task(CS, PT, PC, cpu)
    if curr < 0 or p == curr or not PP[P_WAKEUP_PREEMPTION]:
        return 0
    g = TS[p, E.T_GROUP]
    se = curr
    pse = p
    level = g
    if TS[curr, E.T_GROUP] != g:
        level = 0
        se = top
        pse = top_entity(TS, CS, cpu, p)
    c_idle = not is_group(CS, se) and TS[se, E.T_POLICY] == E.POL_IDLE
    p_idle = not is_group(CS, pse) and TS[pse, E.T_POLICY] == E.POL_IDLE
    if c_idle and not p_idle:
        PT[se, VPROT] = PT[se, V]
        return 1
    if c_idle != p_idle:
        return 0
    if TS[p, E.T_POLICY] == E.POL_BATCH or TS[p, E.T_POLICY] == E.POL_IDLE:
        return 0
    short = PP[P_PREEMPT_SHORT] != 0 and PT[pse, SLICE] < PT[se, SLICE]
    # ``protect`` is about the running task: a group entity keeps its protection
    protect = protect or is_group(CS, se)
    if pick_eevdf(TS, CS, PT, PC, PP, cpu, level, protect and not short) == pse:
        if short:
            PT[se, VPROT] = PT[se, V]  # cancel_protect_slice
        return 1
    if short and PP[P_RUN_TO_PARITY]:  # update_protect_slice
        ms = min_slice(TS, CS, PT, PC, cpu, level)
        PT[se, VPROT] = min(PT[se, VPROT], PT[se, V] + delta_fair_e(ms, TS, CS, PT, se))
    return 0


@_jit
def set_protect(TS, CS, PT, PC, PP, cpu, g, e):
    """set_protect_slice (kernel/sched/fair.c; eevdf.md §7): e, picked in queue (cpu, g),
    is protected until its deadline, or for the smallest queued slice (RUN_TO_PARITY; else
    the unscaled base) if that is shorter."""
    r = PT[e, SLICE]
    s = min_slice(TS, CS, PT, PC, cpu, g) if PP[P_RUN_TO_PARITY] else PP[P_BASE_UNSCALED]
    s = min(s, r)
    if s == r:
        PT[e, VPROT] = PT[e, D]
    else:
        PT[e, VPROT] = min(PT[e, D], PT[e, V] + delta_fair_e(s, TS, CS, PT, e))


# -- hooks ---------------------------------------------------------------------------

@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    """``init_entity``: a new task (or one present at the start) has no lag and base_slice."""
    init_entity(PT, PP, t, parent)
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """``enqueue_entity``: place_entity (§6), or the delayed requeue (§10)."""
    enqueue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now)
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """``dequeue_entity``: 0 if kept queued as delayed (§10), else the lag is saved (§3)."""
    return dequeue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now)


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """``pick_next`` with slice protection (§5)."""
    return pick_next(TS, CS, PT, PC, PP, cpu, True, now)


@_hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """set_next_entity → set_protect_slice (kernel/sched/fair.c; eevdf.md §7; engine-model.md §13) at each
    level whose running entity changes: the task's own always; the root queue's only when
    the task before it on this CPU, switched from directly (pick_next_task_fair's
    is_same_group walk), stood there for another entity — a switch inside a group keeps
    the group entity running and protected as it was."""
    g = TS[t, E.T_GROUP]
    top = top_entity(TS, CS, cpu, t)
    prev = CS[cpu, E.C_LAST_PREV]
    direct = CS[cpu, E.C_IDLE_SINCE] < 0 and prev >= 0 and TS[prev, E.T_CLASS] == E.CLS_FAIR
    if not (direct and PC[cpu, Q_PREV_TOP] == top + 1 and g != 0):
        set_protect(TS, CS, PT, PC, PP, cpu, 0, top)
        if PC[cpu, Q_NEXT] == top + 1:
            PC[cpu, Q_NEXT] = 0  # set_next_entity's clear_buddies
    PC[cpu, Q_CURR] = top
    if g != 0:
        set_protect(TS, CS, PT, PC, PP, cpu, g, t)
        PT[top, GQ_CURR] = t + 1
    return 0


@_hook
def put_prev(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """t stops running (another task or idle runs next): its next pick is a change of
    task, so set_next will set its protection again (eevdf.md §5, §7); the root queue's
    entity it ran under is remembered for set_next (engine-model.md §13)."""
    top = top_entity(TS, CS, cpu, t)
    PC[cpu, Q_PREV_TOP] = top + 1
    if PC[cpu, Q_CURR] == top:
        PC[cpu, Q_CURR] = -1
    if top != t and PT[top, GQ_CURR] == t + 1:
        PT[top, GQ_CURR] = 0
    return 0


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """eevdf.md §4: advance v; a completed request gets a new deadline from the current v;
    resched when it completed or its protection ran out, with >= 2 entities queued; the
    same for the task's group entity in the root queue (engine-model.md §13)."""
    if delta > 0:
        PT[t, V] += calc_delta_fair(delta, TS, t)
    renewed = PT[t, V] >= PT[t, D]
    if renewed:
        renew_request(TS, PT, t, PP[P_BASE_SLICE])
    r = update_curr_end(TS, CS, PT, PC, cpu, t, renewed)
    return r | update_curr_group(TS, CS, PT, PC, PP, cpu, t, delta)


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """``check_preempt_wakeup`` with slice protection (§8)."""
    return check_preempt_wakeup(TS, CS, PT, PC, PP, cpu, p, True)


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """The engine's update_curr at the tick already decided (§9); entity_tick's
    update_cfs_group reweights the running task's group entity (engine-model.md §13)."""
    g = TS[t, E.T_GROUP]
    if g != 0:
        update_group(TS, CS, PT, PC, PP, cpu, g, now)
    return 0


@_hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    """The shared placement's choice stands (placement.md)."""
    return cpu


@_inline
def yield_entity(TS, CS, PT, PC, cpu, t):
    """yield_task_fair (kernel/sched/fair.c; eevdf.md §11): alone on its CPU nothing
    changes; an eligible task forfeits the rest of its request, v = d, d += vslice (an
    ineligible one keeps both)."""
    if CS[cpu, E.C_NR_FAIR] + CS[cpu, E.C_NR_RT] <= 1:
        return 0
    if eligible(TS, CS, PT, PC, cpu, TS[t, E.T_GROUP], t):
        PT[t, V] = PT[t, D]
        PT[t, D] += calc_delta_fair(PT[t, SLICE], TS, t)
    return 0


@_hook
def yield_task(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """``yield_entity`` (§11); the engine's reschedule then picks (§5)."""
    return yield_entity(TS, CS, PT, PC, cpu, t)


@_hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    """The balancer's own checks decide (placement.md)."""
    return 1


#: this class schedules task groups (docs/engine-model.md §13): the engine gives each task
#: its inferred group (T_GROUP) when ``autogroup`` is on
GROUPS = True
