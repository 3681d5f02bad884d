"""EEVDF, the fair class of Linux 6.18 (specs/eevdf.md), with the stock RT class.

Per-task state (``PT``): vruntime, virtual deadline, saved lag, slice, protection,
relative deadline. Per-CPU state (``PC``): the queue's reference point v0
(min_vruntime), the running entity and the last one picked. The queue itself is
the engine's per-CPU fair list; V and eligibility are computed over it (a run
queue holds a handful of tasks, so a scan is cheaper than keeping sums).
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
SLICE = 3      # request length r (wall ns)
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
def _update_v0(TS, CS, PT, PC, cpu):
    """min_vruntime: max(old, min(v of queued entities)) — never moves back (§2)."""
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
def _slice(PT, PP, t):
    return PT[t, SLICE] if PT[t, CUSTOM] else PP[P_BASE_SLICE]


@_jit
def _min_slice(TS, CS, PT, PP, cpu):
    t = CS[cpu, E.C_FAIR_HEAD]
    best = -1
    while t >= 0:
        s = _slice(PT, PP, t)
        if best < 0 or s < best:
            best = s
        t = TS[t, E.T_Q_NEXT]
    return best


@_jit
def _protected(PT, PC, cpu, t):
    return PT[t, VPROT] > PT[t, V]


@_jit
def _pick_eevdf(TS, CS, PT, PC, PP, cpu, protect):
    """__pick_eevdf (eevdf.md §5): the eligible entity with the earliest deadline; the
    running one if it is eligible and protected, or its deadline is strictly earlier.
    Ties on deadline: a queued entity beats the running one; earlier insertion wins.
    One pass sums the queue (eligibility is then O(1) per entity: v_t <= V exactly)."""
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
    if c >= 0 and protect and _protected(PT, PC, cpu, c):
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


@_jit
def _save_lag(TS, CS, PT, PC, PP, cpu, t, vnow):
    """vlag = clamp(V - v, ±calc_delta_fair(max(2r, TICK))) (eevdf.md §3)."""
    limit = calc_delta_fair(max(2 * _slice(PT, PP, t), PP[P_TICK_NS]), TS, t)
    lag = vnow - PT[t, V]
    PT[t, VLAG] = min(max(lag, -limit), limit)


@_jit
def _finish_delayed(TS, CS, PT, PC, PP, cpu, t):
    """A delayed entity leaves the queue for real (picked, §10): its lag is taken now;
    DELAY_ZERO clips a positive lag to 0."""
    vnow = avg_vruntime(TS, CS, PT, PC, cpu, -1)
    _save_lag(TS, CS, PT, PC, PP, cpu, t, vnow)
    if PP[P_DELAY_ZERO] and PT[t, VLAG] > 0:
        PT[t, VLAG] = 0
    PT[t, HAS_RELD] = 0
    E.list_remove(TS, CS, cpu, t, E.CLS_FAIR)


@_jit
def _place(TS, CS, PT, PC, PP, cpu, t, flags):
    """place_entity (eevdf.md §6): v = V - inflated lag, d = v + vslice (half for a new task)."""
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
        return
    vs = calc_delta_fair(_slice(PT, PP, t), TS, t)
    if PP[P_PLACE_DEADLINE_INITIAL] and (flags & ENQ_NEW):
        vs = vs // 2
    PT[t, D] = PT[t, V] + vs


# -- hooks ---------------------------------------------------------------------------

@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    PT[t, VLAG] = 0
    PT[t, HAS_RELD] = 0
    PT[t, VPROT] = 0
    if parent >= 0 and PT[parent, CUSTOM]:  # a custom slice is kept across fork
        PT[t, CUSTOM] = 1
        PT[t, SLICE] = PT[parent, SLICE]
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    if not PC[cpu, Q_INIT]:
        PC[cpu, Q_INIT] = 1
        PC[cpu, Q_CURR] = -1
        PC[cpu, Q_LAST] = -1
    if flags & ENQ_REQUEUE:
        # woken while still delayed (ttwu_runnable, §10): no placement; DELAY_ZERO gives
        # back a positive lag by re-placing at V, a negative one is kept.
        if PP[P_DELAY_ZERO]:
            vnow = avg_vruntime(TS, CS, PT, PC, cpu, -1)
            if vnow - PT[t, V] > 0:
                PT[t, VLAG] = 0
                PT[t, HAS_RELD] = 0
                _place(TS, CS, PT, PC, PP, cpu, t, 0)
        return 0
    _place(TS, CS, PT, PC, PP, cpu, t, flags)
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    vnow = avg_vruntime(TS, CS, PT, PC, cpu, -1)
    if (flags & DEQ_SLEEP) and not (flags & DEQ_EXIT) and PP[P_DELAY_DEQUEUE] \
            and not eligible(TS, CS, PT, PC, cpu, t):
        return 0  # delayed: stays queued, keeps v, d and its weight in V
    _save_lag(TS, CS, PT, PC, PP, cpu, t, vnow)
    if (flags & DEQ_MIGRATE) and PP[P_PLACE_REL_DEADLINE]:
        PT[t, RELD] = PT[t, D] - PT[t, V]
        PT[t, HAS_RELD] = 1
    else:
        PT[t, HAS_RELD] = 0
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    return 1


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    while True:
        best = _pick_eevdf(TS, CS, PT, PC, PP, cpu, True)
        if best < 0:
            return -1
        if TS[best, E.T_DELAYED]:
            _finish_delayed(TS, CS, PT, PC, PP, cpu, best)
            continue
        return best


@_hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    PC[cpu, Q_CURR] = t
    if PC[cpu, Q_LAST] != t:
        PC[cpu, Q_LAST] = t
        r = _slice(PT, PP, t)
        s = _min_slice(TS, CS, PT, PP, cpu) if PP[P_RUN_TO_PARITY] else PP[P_BASE_UNSCALED]
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
    completed = False
    if PT[t, V] >= PT[t, D]:
        if not PT[t, CUSTOM]:
            PT[t, SLICE] = PP[P_BASE_SLICE]
        PT[t, D] = PT[t, V] + calc_delta_fair(_slice(PT, PP, t), TS, t)
        completed = True
    _update_v0(TS, CS, PT, PC, cpu)
    if CS[cpu, E.C_NR_FAIR] <= 1:
        return 0
    if completed or not _protected(PT, PC, cpu, t):
        return 1
    return 0


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """check_preempt_wakeup_fair (eevdf.md §8), after the engine's update_curr."""
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
    short = PP[P_PREEMPT_SHORT] and _slice(PT, PP, p) < _slice(PT, PP, curr)
    if _pick_eevdf(TS, CS, PT, PC, PP, cpu, not short) == p:
        if short:
            PT[curr, VPROT] = PT[curr, V]
        return 1
    if short and PP[P_RUN_TO_PARITY]:
        ms = _min_slice(TS, CS, PT, PP, cpu)
        PT[curr, VPROT] = min(PT[curr, VPROT], PT[curr, V] + calc_delta_fair(ms, TS, curr))
    return 0


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    return 0  # the engine's update_curr at the tick already decided (§9)


@_hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    return cpu


@_hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    return 1
