"""The RT class of the Infinity scheduler v4 (specs/infinity.md §6): the stock RT class
(policies/rt.py) plus a per-task RT runtime EMA and priority modulation at requeue.

* R1: every runtime update of an RT task moves ``rt_ema`` (ns) toward RB = 10 ms by
  Δ/τ_rt of the gap (τ_rt = RB·F/RA = 640 ms).
* R2/R3: a sleep of s ns, measured from the sleep dequeue to the wakeup, moves it
  toward 0 by s/τ_rt (variant v3: −rt_beta/256 at each sleep dequeue instead).
* R4: when stock code requeues a queued RT task (here: SCHED_RR slice expiry with a
  peer at its prio, and sched_yield where the recording shows one; the stock class in
  this project has no equal-prio wakeup requeue), the task moves to list
  q = min(normal_prio + ⌊rt_ema·range/RB⌋, floor) and runs at prio q from then on.
* R5: every enqueue restores a demoted prio to normal_prio.
* R6 (sched_setattr flag): invisible in traces; not modelled.

The demoted prio is written to the engine's ``T_PRIO`` (the task's prio for picking and
preemption, as in the kernel); the engine derives its cpupri/push state from it on the
fly, whereas the kernel leaves those aggregates stale (infinity.md §11 item 11).

Cross-class state: the kernel keeps one ``last_sleep_ns`` per task for the fair and RT
paths. The fair and RT classes here own separate matrices, so each class stamps its own
copy and, at a wakeup, a task that last slept in the other class is measured from the
engine's ``T_ACCT`` (when it last stopped running, which is when it went to sleep).
The parent's fair EMA is not copied into an RT child (it lives in the fair matrix).

Parameters shared with the fair part (``fp_shift``, ``u64_faithful``, ``variant``;
``SHARED_PARAMS``, declared here and listed among the fair class's parameters) reach
this module through ``pack(..., shared=...)``: the engine (replay/sim/engine.py
``_policy_vectors``) passes the fair part's values there.

Units: ns; prio is the kernel's 0..99 RT scale (lower = more urgent).
"""

from __future__ import annotations

import numpy as np

from . import _state as E
from traces._numba import INTERNAL, NO_NRT, jit
from traces.schema import MAX_RT_LEVEL

from . import rt as RT
from ._params import Param, resolve
from ._protocol import DEQ_SLEEP, ENQ_NEW, ENQ_REQUEUE, ENQ_WAKEUP, SIG, make_state

DESCRIPTION = "Infinity v4 RT class (stock SCHED_FIFO/RR + RT runtime EMA and requeue demotion)"

# -- per-task columns (stock RT's first)
KEY = RT.KEY
RT_EMA = RT.N_TASK_COLS + 0       # RT runtime EMA (ns)
LAST_SLEEP = RT.N_TASK_COLS + 1   # last sleep dequeue (ns timestamp; 0 = never)
NORMAL = RT.N_TASK_COLS + 2       # normal_prio (the prio the engine gave it at its last wakeup)
HAS_NORMAL = RT.N_TASK_COLS + 3
N_TASK_COLS = RT.N_TASK_COLS + 4
N_CPU_COLS = RT.N_CPU_COLS

# -- packed parameters (stock RT's first)
P_RB = RT.N_PARAMS + 0
P_RA = RT.N_PARAMS + 1
P_DEN = RT.N_PARAMS + 2          # RB·F
P_RANGE = RT.N_PARAMS + 3
P_FLOOR = RT.N_PARAMS + 4
P_PLACEMENT = RT.N_PARAMS + 5    # 0 off, 1 requeue, 2 enqueue
P_FAITHFUL = RT.N_PARAMS + 6
P_V3 = RT.N_PARAMS + 7
P_BETA = RT.N_PARAMS + 8
P_F = RT.N_PARAMS + 9
N_PARAMS = RT.N_PARAMS + 10

PLACEMENTS = ("off", "requeue", "enqueue")

_NK = "hard constant of v4 (not a kernel tunable)"
PARAMS = RT.PARAMS + (
    Param("rt_budget_ns", 10_000_000, "ns", "infinity.md §3", f"RT EMA ceiling RB; {_NK}", "ns",
          lo=1_000, hi=10_000_000_000),
    Param("rt_alpha", 4, "1/2^fp_shift", "infinity.md §3", f"RT climb/decay numerator RA; {_NK}", "int",
          lo=1, hi=1 << 20),
    Param("rt_prio_range", 30, "prio steps", "infinity.md §3, §6 R4", f"maximal RT demotion; {_NK}", "int",
          lo=0, hi=MAX_RT_LEVEL),
    Param("rt_prio_floor", MAX_RT_LEVEL, "kernel prio", "infinity.md §3, §6 R4", f"worst RT list a task is moved "
          f"to; {_NK}", "int", lo=0, hi=MAX_RT_LEVEL),
    Param("rt_placement", "requeue", "", "infinity.md §9.2, §6 R4", "where R4 applies: requeue (the patch), "
          "enqueue (every enqueue too, as the header describes) or off (stock RT)", "choice", PLACEMENTS),
    Param("rt_ema_warmup_ns", 3_000_000_000, "ns", "infinity.md §9.2", "RT warm-up span for ema_init=warmup "
          "(not implementable in this engine; see infinity.py)", "ns", lo=0, hi=10**12),
    Param("rt_beta", 64, "1/256", "infinity.md §3, §10.1", f"v3 RT decay per sleep (unused in v4); {_NK}",
          "int", lo=0, hi=256),
)

#: parameters of both classes: set as fair-class parameters (policies/infinity.py lists
#: them), passed on to this class through ``pack(shared=...)``
SHARED_PARAMS = (
    Param("fp_shift", 8, "bits", "infinity.md §3", f"fixed-point shift, F = 2^fp_shift, of the fair and RT "
          f"EMAs; {_NK}", "int", lo=0, hi=20),
    Param("u64_faithful", True, "bool", "infinity.md §2.1", "reproduce the kernel's u64 product wrap in the "
          "fair and RT EMAs (else saturate the step)", "bool"),
    Param("variant", "v4", "", "infinity.md §10.1-10.2", "v4 (default), v3 (branch v3, fair and RT); dev is "
          "not implemented (summary-only spec)", "choice", ("v4", "v3", "dev")),
)
SHARED = tuple(p.name for p in SHARED_PARAMS)


def pack(values: dict | None, hz: int, shared: dict | None = None) -> np.ndarray:
    """RT parameters (names of PARAMS) -> the int64 vector (stock RT's first). ``shared``:
    the fair part's values, of which those of SHARED_PARAMS are read (parsed as there:
    ``--param`` strings too; defaults fp_shift 8, u64_faithful on, v4)."""
    v = resolve(PARAMS, values, "infinity RT")
    sh = resolve(SHARED_PARAMS, {k: x for k, x in (shared or {}).items() if k in SHARED}, "infinity")
    p = np.zeros(N_PARAMS, np.int64)
    p[: RT.N_PARAMS] = RT.pack({k: v[k] for k in (q.name for q in RT.PARAMS)}, hz)
    f = 1 << int(sh["fp_shift"])
    p[P_RB] = v["rt_budget_ns"]
    p[P_RA] = v["rt_alpha"]
    p[P_F] = f
    p[P_DEN] = v["rt_budget_ns"] * f
    p[P_RANGE] = v["rt_prio_range"]
    p[P_FLOOR] = v["rt_prio_floor"]
    p[P_PLACEMENT] = PLACEMENTS.index(v["rt_placement"])
    p[P_FAITHFUL] = 1 if sh["u64_faithful"] else 0
    p[P_V3] = 1 if sh["variant"] == "v3" else 0
    p[P_BETA] = v["rt_beta"]
    return p


state = make_state(N_TASK_COLS, N_CPU_COLS)


_jit = jit(**NO_NRT)                   # helpers the tests also call from Python
_internal = jit(**INTERNAL, **NO_NRT)  # called from compiled code only: no wrappers to link (traces/_numba.py)
_hook = jit(SIG, **NO_NRT)

_U0 = np.uint64(0)


@_internal
def mul_div_u64(a, b, c, d, faithful, cap):
    """⌊a·b·c / d⌋ in unsigned 64-bit (infinity.md §2): with ``faithful`` the product wraps
    modulo 2^64 as the kernel's plain multiplies do; otherwise a product that would wrap
    gives ``cap`` (the step's clamp). a, b, c >= 0 (int64 bit patterns), d > 0."""
    ua = np.uint64(a)
    ub = np.uint64(b)
    uc = np.uint64(c)
    ud = np.uint64(d)
    ab = ua * ub
    abc = ab * uc
    if faithful:
        return np.int64(abc // ud)
    if ua != _U0 and ab // ua != ub:
        return cap
    if ab != _U0 and abc // ab != uc:
        return cap
    return np.int64(abc // ud)


@_internal
def rt_climb(PT, PP, t, delta):
    """R1: rt_ema += ⌊(RB − rt_ema)·Δ·RA / (RB·F)⌋ (no clamp)."""
    e = PT[t, RT_EMA]
    gap = np.int64(np.uint64(PP[P_RB]) - np.uint64(e))  # wraps if e > RB, as in the kernel
    PT[t, RT_EMA] = e + mul_div_u64(gap, delta, PP[P_RA], PP[P_DEN], PP[P_FAITHFUL], PP[P_RB] - e)


@_internal
def rt_decay(PT, PP, t, s):
    """R3: rt_ema −= min(rt_ema, ⌊rt_ema·s·RA / (RB·F)⌋) for a sleep of s ns."""
    e = PT[t, RT_EMA]
    step = mul_div_u64(e, s, PP[P_RA], PP[P_DEN], PP[P_FAITHFUL], e)
    PT[t, RT_EMA] = e - min(step, e)


@_jit
def demoted_prio(PT, PP, t):
    """R4: q = min(normal_prio + ⌊rt_ema·range / RB⌋, floor)."""
    off = mul_div_u64(PT[t, RT_EMA], PP[P_RANGE], 1, PP[P_RB], 1, 0)
    return min(PT[t, NORMAL] + off, PP[P_FLOOR])


@_internal
def _is_rt(TS, t):
    return TS[t, E.T_CLASS] == E.CLS_RT  # the stop class shares the list but is not RT


@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    """RT children inherit the parent's RT EMA and sleep stamp (no fork hook, H8 note)."""
    RT.init_task(TS, CS, PT, PC, PP, cpu, t, parent, now)
    if parent >= 0:
        PT[t, RT_EMA] = PT[parent, RT_EMA]
        PT[t, LAST_SLEEP] = PT[parent, LAST_SLEEP]
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """enqueue_task_rt: R3 decay on a wakeup, R5 restore of a demoted prio, then the stock
    tail insert (with rt_placement=enqueue, R4 first)."""
    if _is_rt(TS, t):
        wake = (flags & ENQ_WAKEUP) != 0
        if wake or (flags & ENQ_NEW) or not PT[t, HAS_NORMAL]:
            PT[t, NORMAL] = TS[t, E.T_PRIO]  # the engine set the burst's prio at the wakeup
            PT[t, HAS_NORMAL] = 1
        if wake and not (flags & (ENQ_NEW | ENQ_REQUEUE)) and not PP[P_V3]:
            last = PT[t, LAST_SLEEP]
            if TS[t, E.T_ACCT] > last:  # it last slept in the fair class (shared stamp)
                last = TS[t, E.T_ACCT]
            if last != 0 and now > last:  # R3
                rt_decay(PT, PP, t, now - last)
        if PP[P_PLACEMENT] != 0 and TS[t, E.T_PRIO] > PT[t, NORMAL]:  # R5
            TS[t, E.T_PRIO] = PT[t, NORMAL]
        if PP[P_PLACEMENT] == 2:
            TS[t, E.T_PRIO] = demoted_prio(PT, PP, t)
    return RT.enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now)


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """dequeue_task_rt, then R2 (sleep stamp); v3 decays by rt_beta/256 here instead."""
    r = RT.dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now)
    if (flags & DEQ_SLEEP) and _is_rt(TS, t):
        PT[t, LAST_SLEEP] = now
        if PP[P_V3]:
            e = PT[t, RT_EMA]
            PT[t, RT_EMA] = e - e * PP[P_BETA] // 256
    return r


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """update_curr_rt with R1 (FIFO and RR alike)."""
    if delta > 0 and _is_rt(TS, t):
        rt_climb(PT, PP, t, delta)
    return 0


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """Stock RR slice countdown (rt.md §4); at expiry with a peer in its list the stock
    requeue_rt_entity becomes R4: the task moves to the tail of list q and runs at q."""
    if TS[t, E.T_POLICY] != E.POL_RR:
        return 0
    TS[t, E.T_RR_LEFT] -= 1
    if TS[t, E.T_RR_LEFT] > 0:
        return 0
    TS[t, E.T_RR_LEFT] = PP[RT.P_RR_TICKS]
    x = CS[cpu, E.C_RT_HEAD]
    while x >= 0:
        if x != t and TS[x, E.T_PRIO] == TS[t, E.T_PRIO]:
            if PP[P_PLACEMENT] != 0 and _is_rt(TS, t):
                TS[t, E.T_PRIO] = demoted_prio(PT, PP, t)  # R4 (list q; q may equal prio)
            RT._tail(PT, PC, cpu, t)
            return 1
        x = TS[x, E.T_Q_NEXT]
    return 0


@_hook
def yield_task(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """yield_task_rt: the stock requeue to the tail (rt.md §4) becomes R4, as at RR expiry:
    the task moves to the tail of list q and runs at q."""
    if PP[P_PLACEMENT] != 0 and _is_rt(TS, t):
        TS[t, E.T_PRIO] = demoted_prio(PT, PP, t)
    RT._tail(PT, PC, cpu, t)
    return 0


#: stock RT (policies/rt.py) as it is
pick = RT.pick
set_next = RT.set_next
put_prev = RT.put_prev
check_preempt = RT.check_preempt
select_cpu = RT.select_cpu
can_migrate = RT.can_migrate
