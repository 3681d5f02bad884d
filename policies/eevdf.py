"""EEVDF, the fair class of Linux 6.18 (specs/eevdf.md), with the stock RT class.

Per-task state (``PT``): vruntime, virtual deadline, saved lag, slice, protection,
relative deadline. Per-CPU state (``PC``): the queue's reference point v0
(min_vruntime), the running entity and the last one picked. The queue itself is
the engine's per-CPU fair list; V and eligibility are computed over it (a run
queue holds a handful of tasks, so a scan is cheaper than keeping sums).

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
  (d = v + vslice), which a variant may then rescale.

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
from ._fair_common import calc_delta_fair, scaling_factor, weight_of
from ._params import Param, resolve
from ._protocol import DEQ_EXIT, DEQ_MIGRATE, DEQ_SLEEP, ENQ_NEW, ENQ_REQUEUE, SIG, make_state

DESCRIPTION = "EEVDF (Linux 6.18 fair class) with the stock RT class"

# -- per-task columns
V = 0          # vruntime (virtual ns)
D = 1          # virtual deadline
VLAG = 2       # lag saved at the last dequeue (virtual ns)
SLICE = 3      # request length r (wall ns): se.slice
VPROT = 4      # protected until v reaches this (RUN_TO_PARITY)
RELD = 5       # deadline - v, stored at a non-sleep dequeue (PLACE_REL_DEADLINE)
HAS_RELD = 6
CUSTOM = 7     # custom slice set (sched_setattr)
N_TASK_COLS = 8

# -- per-CPU columns
Q_V0 = 0       # min_vruntime: monotonic reference point
Q_CURR = 1     # fair task running on this CPU, -1
Q_LAST = 2     # the task picked last, while it keeps running (-1 after put_prev): protection is set on a change
Q_INIT = 3
N_CPU_COLS = 4

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
    Param("PICK_BUDDY", True, "bool", "eevdf.md §5", "pick a marked next buddy first (only set by "
          "yield_to; no effect in a replay)", "bool"),
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


# -- the virtual clock ----------------------------------------------------------------

@_jit
def queue_sums(TS, CS, PT, PC, cpu, skip):
    """Over CPU ``cpu``'s queued entities (incl. the running one and delayed ones) except
    ``skip`` (-1: none): (S, W, n) with S = sum of w*(v - v0), W = sum of w, n = count
    (kernel/sched/fair.c: avg_vruntime_add/sub keep S and W; eevdf.md §2)."""
    v0 = PC[cpu, Q_V0]
    s = 0
    w_sum = 0
    n = 0
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != skip:
            w = weight_of(TS, t)
            s += w * (PT[t, V] - v0)
            w_sum += w
            n += 1
        t = TS[t, E.T_Q_NEXT]
    return s, w_sum, n


@_jit
def _average(PC, cpu, s, w_sum):
    """V from the queue sums: v0 + floor(S / W), v0 for an empty queue."""
    if w_sum == 0:
        return PC[cpu, Q_V0]
    return PC[cpu, Q_V0] + s // w_sum


@_jit
def avg_vruntime(TS, CS, PT, PC, cpu, skip):
    """V: the weight-averaged vruntime of the queued entities (incl. the running one and
    delayed ones), optionally leaving one task out (kernel/sched/fair.c: avg_vruntime;
    eevdf.md §2)."""
    s, w_sum, _ = queue_sums(TS, CS, PT, PC, cpu, skip)
    return _average(PC, cpu, s, w_sum)


@_jit
def eligible(TS, CS, PT, PC, cpu, t):
    """v_t <= V exactly, without division (kernel/sched/fair.c: vruntime_eligible;
    eevdf.md §3)."""
    s, w_sum, _ = queue_sums(TS, CS, PT, PC, cpu, -1)
    return s >= (PT[t, V] - PC[cpu, Q_V0]) * w_sum


@_jit
def update_min_vruntime(TS, CS, PT, PC, cpu):
    """min_vruntime: max(old, min(v of queued entities)) — never moves back
    (kernel/sched/fair.c: update_min_vruntime; eevdf.md §2)."""
    t = CS[cpu, E.C_FAIR_HEAD]
    lo = 0
    found = False
    while t >= 0:
        if not found or PT[t, V] < lo:
            lo = PT[t, V]
            found = True
        t = TS[t, E.T_Q_NEXT]
    if found and lo > PC[cpu, Q_V0]:
        PC[cpu, Q_V0] = lo


@_jit
def min_slice(TS, CS, PT, cpu):
    """The smallest se.slice among the queued entities, -1 if none
    (kernel/sched/fair.c: cfs_rq_min_slice; eevdf.md §7)."""
    t = CS[cpu, E.C_FAIR_HEAD]
    best = -1
    while t >= 0:
        if best < 0 or PT[t, SLICE] < best:
            best = PT[t, SLICE]
        t = TS[t, E.T_Q_NEXT]
    return best


@_jit
def protected(PT, t):
    """t's slice protection has not run out: vprot > v (kernel/sched/fair.c:
    protect_slice; eevdf.md §7)."""
    return PT[t, VPROT] > PT[t, V]


@_jit
def pick_eevdf(TS, CS, PT, PC, PP, cpu, protect):
    """__pick_eevdf (kernel/sched/fair.c; eevdf.md §5): the eligible entity with the
    earliest deadline; the running one if it is eligible and (``protect`` and) protected,
    or its deadline is strictly earlier. Ties on deadline: a queued entity beats the
    running one; earlier insertion wins. One pass sums the queue (eligibility is then
    O(1) per entity: v_t <= V exactly). -1 only for an empty queue."""
    v0 = PC[cpu, Q_V0]
    s, w_sum, n = queue_sums(TS, CS, PT, PC, cpu, -1)
    if n == 0:
        return -1
    if n == 1:
        return CS[cpu, E.C_FAIR_HEAD]
    curr = PC[cpu, Q_CURR]
    c = -1
    if curr >= 0 and TS[curr, E.T_ON_RQ] and s >= (PT[curr, V] - v0) * w_sum:
        c = curr
    if c >= 0 and protect and protected(PT, c):
        return c
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != curr and s >= (PT[t, V] - v0) * w_sum:
            if best < 0 or PT[t, D] < PT[best, D] or (PT[t, D] == PT[best, D] and TS[t, E.T_SEQ] < TS[best, E.T_SEQ]):
                best = t
        t = TS[t, E.T_Q_NEXT]
    if best < 0 or (c >= 0 and PT[c, D] < PT[best, D]):
        best = c
    return best


# -- lag and placement ----------------------------------------------------------------

@_jit
def save_lag(TS, PT, PP, t, vnow):
    """vlag = clamp(V - v, ±calc_delta_fair(max(2r, TICK))), r = se.slice, V = ``vnow``
    (kernel/sched/fair.c: update_entity_lag; eevdf.md §3)."""
    limit = calc_delta_fair(max(2 * PT[t, SLICE], PP[P_TICK_NS]), TS, t)
    lag = vnow - PT[t, V]
    PT[t, VLAG] = min(max(lag, -limit), limit)


@_jit
def finish_delayed(TS, CS, PT, PC, PP, cpu, t):
    """A delayed entity leaves the queue for real (picked, kernel/sched/fair.c:
    pick_next_entity → dequeue_entities; eevdf.md §10): its lag is taken now;
    DELAY_ZERO clips a positive lag to 0."""
    save_lag(TS, PT, PP, t, avg_vruntime(TS, CS, PT, PC, cpu, -1))
    if PP[P_DELAY_ZERO] and PT[t, VLAG] > 0:
        PT[t, VLAG] = 0
    PT[t, HAS_RELD] = 0
    E.list_remove(TS, CS, cpu, t, E.CLS_FAIR)


@_jit
def place_entity(TS, CS, PT, PC, PP, cpu, t, flags):
    """place_entity (kernel/sched/fair.c; eevdf.md §6): se.slice = base_slice unless
    custom; v = V - inflated lag; d = v + stored relative deadline (PLACE_REL_DEADLINE),
    else d = v + vslice (half for a new task). Returns True when d = v + vslice (a fresh
    request), False when the relative deadline was kept."""
    if not PT[t, CUSTOM]:
        PT[t, SLICE] = PP[P_BASE_SLICE]
    s, wq, n = queue_sums(TS, CS, PT, PC, cpu, t)
    vnow = _average(PC, cpu, s, wq)
    lag = 0
    if PP[P_PLACE_LAG] and n > 0 and PT[t, VLAG] != 0:
        w = weight_of(TS, t)
        lag = PT[t, VLAG] * (wq + w)
        # floor division toward -inf as the kernel's div_s64 truncates toward 0: use truncation
        if lag >= 0:
            lag = lag // wq
        else:
            lag = -((-lag) // wq)
    PT[t, V] = vnow - lag
    if PT[t, HAS_RELD] and PP[P_PLACE_REL_DEADLINE]:
        PT[t, D] = PT[t, V] + PT[t, RELD]
        PT[t, HAS_RELD] = 0
        return False
    vs = calc_delta_fair(PT[t, SLICE], TS, t)
    if PP[P_PLACE_DEADLINE_INITIAL] and (flags & ENQ_NEW):
        vs = vs // 2
    PT[t, D] = PT[t, V] + vs
    return True


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
def enqueue_entity(TS, CS, PT, PC, PP, cpu, t, flags):
    """enqueue_entity (kernel/sched/fair.c; eevdf.md §6, §10): placement, except for a
    task woken while still delayed (ENQ_REQUEUE, core.c ttwu_runnable): no placement, but
    DELAY_ZERO gives back a positive lag by re-placing at V (a negative one is kept).
    Returns True when placement set a fresh request (d = v + vslice)."""
    if not PC[cpu, Q_INIT]:
        PC[cpu, Q_INIT] = 1
        PC[cpu, Q_CURR] = -1
        PC[cpu, Q_LAST] = -1
    if flags & ENQ_REQUEUE:
        if PP[P_DELAY_ZERO]:
            vnow = avg_vruntime(TS, CS, PT, PC, cpu, -1)
            if vnow - PT[t, V] > 0:
                PT[t, VLAG] = 0
                PT[t, HAS_RELD] = 0
                return place_entity(TS, CS, PT, PC, PP, cpu, t, 0)
        return False
    return place_entity(TS, CS, PT, PC, PP, cpu, t, flags)


@_inline
def dequeue_entity(TS, CS, PT, PC, PP, cpu, t, flags):
    """dequeue_entity (kernel/sched/fair.c; eevdf.md §3, §10): an ineligible sleeper stays
    queued (DELAY_DEQUEUE; returns 0); otherwise the lag is saved, a migrating task keeps
    its relative deadline (PLACE_REL_DEADLINE), and it leaves (returns 1)."""
    vnow = avg_vruntime(TS, CS, PT, PC, cpu, -1)
    if (flags & DEQ_SLEEP) and not (flags & DEQ_EXIT) and PP[P_DELAY_DEQUEUE] \
            and not eligible(TS, CS, PT, PC, cpu, t):
        return 0  # delayed: stays queued, keeps v, d and its weight in V
    save_lag(TS, PT, PP, t, vnow)
    if (flags & DEQ_MIGRATE) and PP[P_PLACE_REL_DEADLINE]:
        PT[t, RELD] = PT[t, D] - PT[t, V]
        PT[t, HAS_RELD] = 1
    else:
        PT[t, HAS_RELD] = 0
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    return 1


@_inline
def pick_next(TS, CS, PT, PC, PP, cpu, protect):
    """pick_next_entity (kernel/sched/fair.c; eevdf.md §5, §10): ``pick_eevdf``; a delayed
    entity it picks leaves the queue for real and the pick restarts. ``protect``: the
    running task's slice protection counts (stock: always). -1 for an empty queue."""
    while True:
        best = pick_eevdf(TS, CS, PT, PC, PP, cpu, protect)
        if best < 0 or not TS[best, E.T_DELAYED]:
            return best
        finish_delayed(TS, CS, PT, PC, PP, cpu, best)


@_inline
def renew_request(TS, PT, t, slice_):
    """A completed request is renewed (kernel/sched/fair.c: update_deadline; eevdf.md §4):
    se.slice = ``slice_`` unless custom (stock: base_slice), d = v + vslice from the
    current v (an overrun is not refunded)."""
    if not PT[t, CUSTOM]:
        PT[t, SLICE] = slice_
    PT[t, D] = PT[t, V] + calc_delta_fair(PT[t, SLICE], TS, t)


@_inline
def update_curr_end(TS, CS, PT, PC, cpu, t, renewed):
    """The end of update_curr (kernel/sched/fair.c; eevdf.md §4), after v advanced and a
    completed request was renewed: update min_vruntime; 1 (resched) when >= 2 entities
    are queued and the request was renewed or the protection ran out, else 0."""
    update_min_vruntime(TS, CS, PT, PC, cpu)
    if CS[cpu, E.C_NR_FAIR] <= 1:
        return 0
    if renewed or not protected(PT, t):
        return 1
    return 0


@_inline
def check_preempt_wakeup(TS, CS, PT, PC, PP, cpu, p, protect):
    """check_preempt_wakeup_fair (kernel/sched/fair.c; eevdf.md §8), after the engine's
    update_curr: 1 if the woken p preempts the running task. ``protect``: the running
    task's slice protection counts in the pick (stock: always; PREEMPT_SHORT still
    ignores it for a shorter-slice wakee)."""
    curr = PC[cpu, Q_CURR]
    if curr < 0 or p == curr or not PP[P_WAKEUP_PREEMPTION]:
        return 0
    c_idle = TS[curr, E.T_POLICY] == E.POL_IDLE
    p_idle = TS[p, E.T_POLICY] == E.POL_IDLE
    if c_idle and not p_idle:
        PT[curr, VPROT] = PT[curr, V]
        return 1
    if c_idle != p_idle:
        return 0
    if TS[p, E.T_POLICY] == E.POL_BATCH or p_idle:
        return 0
    short = PP[P_PREEMPT_SHORT] != 0 and PT[p, SLICE] < PT[curr, SLICE]
    if pick_eevdf(TS, CS, PT, PC, PP, cpu, protect and not short) == p:
        if short:
            PT[curr, VPROT] = PT[curr, V]  # cancel_protect_slice
        return 1
    if short and PP[P_RUN_TO_PARITY]:  # update_protect_slice
        ms = min_slice(TS, CS, PT, cpu)
        PT[curr, VPROT] = min(PT[curr, VPROT], PT[curr, V] + calc_delta_fair(ms, TS, curr))
    return 0


# -- hooks ---------------------------------------------------------------------------

@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    """``init_entity``: a new task (or one present at the start) has no lag and base_slice."""
    init_entity(PT, PP, t, parent)
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """``enqueue_entity``: place_entity (§6), or the delayed requeue (§10)."""
    enqueue_entity(TS, CS, PT, PC, PP, cpu, t, flags)
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """``dequeue_entity``: 0 if kept queued as delayed (§10), else the lag is saved (§3)."""
    return dequeue_entity(TS, CS, PT, PC, PP, cpu, t, flags)


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """``pick_next`` with slice protection (§5)."""
    return pick_next(TS, CS, PT, PC, PP, cpu, True)


@_hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """set_next_entity → set_protect_slice (kernel/sched/fair.c; eevdf.md §7), when the
    picked task differs from the last one: protected until its deadline, or for the
    smallest queued slice (RUN_TO_PARITY; else the unscaled base) if that is shorter."""
    PC[cpu, Q_CURR] = t
    if PC[cpu, Q_LAST] != t:
        PC[cpu, Q_LAST] = t
        r = PT[t, SLICE]
        s = min_slice(TS, CS, PT, cpu) if PP[P_RUN_TO_PARITY] else PP[P_BASE_UNSCALED]
        s = min(s, r)
        if s == r:
            PT[t, VPROT] = PT[t, D]
        else:
            PT[t, VPROT] = min(PT[t, D], PT[t, V] + calc_delta_fair(s, TS, t))
    return 0


@_hook
def put_prev(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """t stops running (another task or idle runs next): its next pick is a change of
    task, so set_next will set its protection again (eevdf.md §5, §7)."""
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    PC[cpu, Q_LAST] = -1
    return 0


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """eevdf.md §4: advance v; a completed request gets a new deadline from the current v;
    resched when it completed or its protection ran out, with >= 2 entities queued."""
    if delta > 0:
        PT[t, V] += calc_delta_fair(delta, TS, t)
    renewed = PT[t, V] >= PT[t, D]
    if renewed:
        renew_request(TS, PT, t, PP[P_BASE_SLICE])
    return update_curr_end(TS, CS, PT, PC, cpu, t, renewed)


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """``check_preempt_wakeup`` with slice protection (§8)."""
    return check_preempt_wakeup(TS, CS, PT, PC, PP, cpu, p, True)


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    return 0  # the engine's update_curr at the tick already decided (§9)


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
    if eligible(TS, CS, PT, PC, cpu, t):
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
