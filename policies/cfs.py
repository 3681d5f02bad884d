"""Classic CFS, the fair class of Linux v6.5 (specs/cfs.md), with the stock RT class.

Flat model: every task sits directly on its CPU's root cfs_rq; the queue is the
engine's per-CPU fair list (which includes the running task), scanned where the
kernel would look at its rbtree (a run queue holds a handful of tasks).

Per-task state (``PT``): vruntime (ns of virtual time; absolute on the task's
CPU, or relative to min_vruntime while moving between CPUs), sum_exec_runtime
and its snapshot at the last pick (wall ns), the CPU it fell asleep on, its
rbtree insertion ticket. Per-CPU state (``PC``): min_vruntime, the running fair
task, the next/last/skip buddies.

Units: every time is int64 nanoseconds; weights are the unshifted nice table.

Modelling notes (see also ``PARAMS``):

* ``repick_resets_runtime`` (default on, as cfs.md §12 E9 computes): when
  pick_next_task_fair picks the running task again it goes through
  set_next_entity and its slice restarts (the path taken without
  CONFIG_FAIR_GROUP_SCHED, i.e. the spec's flat model). Off: kernels built with
  group scheduling skip set_next_entity for a re-pick, so the slice does not restart.
* HRTICK (needs a timer the protocol does not offer), CACHE_HOT_BUDDY (read by the
  load balancer, which is the engine's and does not consult the class) and
  ALT_PERIOD (identical in a flat model) are exposed as parameters but are not
  modelled; HRTICK=on is refused.
* NEXT_BUDDY's mark (cfs.md §8 step 3) precedes the "resched already pending" test
  in the kernel; the engine does not call check_preempt when a resched is pending,
  so the mark is not set then.
* Tasks alive when the replay starts (no parent) enter at min_vruntime of their CPU
  (zero relative lag); forks follow task_fork_fair (§6).
"""

from __future__ import annotations

import math

import numpy as np

from . import _state as E
from traces._numba import NO_NRT, jit
from traces.errors import TraceError

from . import rt as RT
from ._fair_common import calc_delta, calc_delta_fair, scaling_factor, weight_of
from ._params import Param, resolve
from ._protocol import DEQ_EXIT, DEQ_SLEEP, ENQ_NEW, ENQ_WAKEUP, SIG, make_state
from .weights import NICE_0_WEIGHT

DESCRIPTION = "classic CFS (Linux v6.5 fair class) with the stock RT class"

# -- per-task columns
V = 0           # vruntime (virtual ns); relative to min_vruntime while REL = 1
REL = 1         # 1 while V is relative (non-sleep dequeue, fork) until the next enqueue
SUM = 2         # sum_exec_runtime (wall ns)
PREV_SUM = 3    # sum_exec_runtime when last picked (set_next_entity)
SLEEP_CPU = 4   # CPU of its last sleep dequeue (-1 none): migrate_task_rq_fair re-bases from it
TSEQ = 5        # rbtree insertion ticket (equal keys: earlier insert is leftmost)
ENQ_FLAGS = 6   # flags of its last enqueue (WF_FORK for check_preempt_wakeup)
SWAPPED = 7     # sched_child_runs_first swapped v with the parent: the child preempts it
INIT = 8        # 1 once the class has set the task up
N_TASK_COLS = 9

# -- per-CPU columns
Q_MINV = 0      # cfs_rq.min_vruntime (monotonic)
Q_CURR = 1      # fair task running on this CPU, -1
Q_NEXT = 2      # next buddy, -1
Q_LAST = 3      # last buddy, -1
Q_SKIP = 4      # skip buddy (sched_yield, inferred from the recording), -1
Q_SEQ = 5       # insertion counter for TSEQ
Q_INIT = 6
N_CPU_COLS = 7

# -- packed parameters
P_LATENCY = 0
P_MIN_GRAN = 1
P_WAKEUP_GRAN = 2
P_NR_LATENCY = 3
P_IDLE_MIN_GRAN = 4
P_GENTLE = 5
P_START_DEBIT = 6
P_NEXT_BUDDY = 7
P_LAST_BUDDY = 8
P_WAKEUP_PREEMPTION = 9
P_BASE_SLICE = 10
P_CHILD_FIRST = 11
P_REPICK_RESET = 12
N_PARAMS = 13

#: 2^63 / scale_load_down(NICE_0_LOAD): a sleeper longer than this (~104 days) is placed at
#: base (§6; kernel/sched/fair.c v6.5: place_entity, entity_is_long_sleeper)
LONG_SLEEP_NS = (1 << 63) // NICE_0_WEIGHT
WMULT_CONST = (1 << 32) - 1

PARAMS = (
    Param("sched_latency_ns", 6_000_000, "ns", "cfs.md §2", "targeted preemption latency before CPU-count "
          "scaling (debugfs sched/latency_ns shows it scaled; set tunable_scaling=none to give a live value)",
          "ns", lo=100_000, hi=1_000_000_000),
    Param("sched_min_granularity_ns", 750_000, "ns", "cfs.md §2", "minimal preemption granularity before "
          "scaling", "ns", lo=100_000, hi=1_000_000_000),
    Param("sched_wakeup_granularity_ns", 1_000_000, "ns", "cfs.md §2, §8", "wakeup preemption granularity "
          "before scaling", "ns", lo=0, hi=1_000_000_000),
    Param("sched_nr_latency", 0, "tasks", "cfs.md §2, §5", "tasks per latency period before the period "
          "stretches; 0 = ceil(latency / min_granularity) (8 by default)", "int", lo=0, hi=10_000),
    Param("sched_idle_min_granularity_ns", 750_000, "ns", "cfs.md §2, §5", "slice floor of SCHED_IDLE tasks "
          "(unscaled)", "ns", lo=0, hi=1_000_000_000),
    Param("tunable_scaling", "log", "", "cfs.md §2", "scale latency/granularities by 1+log2(min(cpus,8)) "
          "(log), min(cpus,8) (linear) or not (none)", "choice", ("log", "linear", "none")),
    Param("sched_child_runs_first", False, "bool", "cfs.md §6", "a forked child swaps v with its parent when "
          "the parent is left of it", "bool"),
    Param("GENTLE_FAIR_SLEEPERS", True, "bool", "cfs.md §6", "sleeper credit is half the latency", "bool"),
    Param("START_DEBIT", True, "bool", "cfs.md §6", "a new task starts one vslice after min_vruntime", "bool"),
    Param("NEXT_BUDDY", False, "bool", "cfs.md §8, §9", "mark every wakee as next buddy (>= nr_latency tasks)",
          "bool"),
    Param("LAST_BUDDY", True, "bool", "cfs.md §8, §9", "a preempted task becomes last buddy (>= nr_latency "
          "tasks)", "bool"),
    Param("CACHE_HOT_BUDDY", True, "bool", "cfs.md (features)", "buddies are cache-hot for the load balancer "
          "(not modelled: the engine's balancer does not consult the class)", "bool"),
    Param("WAKEUP_PREEMPTION", True, "bool", "cfs.md §8", "wakeups may preempt", "bool"),
    Param("HRTICK", False, "bool", "cfs.md §7", "high-resolution slice-end timer (not implementable: the "
          "policy protocol has no timer; on is refused)", "bool"),
    Param("ALT_PERIOD", True, "bool", "cfs.md §5", "period counts root h_nr_running (same as nr_running in a "
          "flat model)", "bool"),
    Param("BASE_SLICE", True, "bool", "cfs.md §5", "slices never below min_granularity", "bool"),
    Param("repick_resets_runtime", True, "bool", "cfs.md §7, §12 E9", "re-picking the running task restarts "
          "its slice (flat model, E9); off = CONFIG_FAIR_GROUP_SCHED kernels", "bool"),
) + RT.PARAMS

OWN_PARAMS = PARAMS[: len(PARAMS) - len(RT.PARAMS)]


def pack(values: dict | None, n_cpus: int, hz: int) -> np.ndarray:
    """Fair-class parameters (names of OWN_PARAMS; missing ones default) -> the int64 vector.
    Latency and granularities are scaled by the CPU-count factor (cfs.md §2)."""
    v = resolve(OWN_PARAMS, values, "cfs")
    if v["HRTICK"]:
        raise TraceError("cfs: HRTICK=on is not implementable in this engine (the policy protocol has no "
                         "timer to end a slice between ticks)")
    p = np.zeros(N_PARAMS, np.int64)
    f = scaling_factor(n_cpus, v["tunable_scaling"])
    p[P_LATENCY] = v["sched_latency_ns"] * f
    p[P_MIN_GRAN] = v["sched_min_granularity_ns"] * f
    p[P_WAKEUP_GRAN] = v["sched_wakeup_granularity_ns"] * f
    nr = v["sched_nr_latency"]
    p[P_NR_LATENCY] = nr if nr > 0 else math.ceil(v["sched_latency_ns"] / v["sched_min_granularity_ns"])
    p[P_IDLE_MIN_GRAN] = v["sched_idle_min_granularity_ns"]
    for name, idx in (("GENTLE_FAIR_SLEEPERS", P_GENTLE), ("START_DEBIT", P_START_DEBIT),
                      ("NEXT_BUDDY", P_NEXT_BUDDY), ("LAST_BUDDY", P_LAST_BUDDY),
                      ("WAKEUP_PREEMPTION", P_WAKEUP_PREEMPTION), ("BASE_SLICE", P_BASE_SLICE),
                      ("sched_child_runs_first", P_CHILD_FIRST), ("repick_resets_runtime", P_REPICK_RESET)):
        p[idx] = 1 if v[name] else 0
    return p


state = make_state(N_TASK_COLS, N_CPU_COLS)


_jit = jit(**NO_NRT)
_hook = jit(SIG, **NO_NRT)


# -- helpers ---------------------------------------------------------------------------

@_jit
def _init_cpu(PC, cpu):
    if not PC[cpu, Q_INIT]:
        PC[cpu, Q_INIT] = 1
        PC[cpu, Q_CURR] = -1
        PC[cpu, Q_NEXT] = -1
        PC[cpu, Q_LAST] = -1
        PC[cpu, Q_SKIP] = -1


@_jit
def _ticket(PT, PC, cpu, t):
    """(Re)insert t into the rbtree order: after every entity with an equal key."""
    PC[cpu, Q_SEQ] += 1
    PT[t, TSEQ] = PC[cpu, Q_SEQ]


@_jit
def rq_inverse(w):
    """__update_inv_weight for a run-queue aggregate weight W: floor((2^32-1)/W) (cfs.md §3)."""
    if w <= 0:
        return WMULT_CONST
    if w >= WMULT_CONST:
        return 1
    return WMULT_CONST // w


@_jit
def _queue_load(TS, CS, cpu):
    """Sum of weights and count of the queued fair tasks (incl. the running one), and
    whether all of them are SCHED_IDLE."""
    w = 0
    n = 0
    n_idle = 0
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        w += weight_of(TS, t)
        n += 1
        if TS[t, E.T_POLICY] == E.POL_IDLE:
            n_idle += 1
        t = TS[t, E.T_Q_NEXT]
    return w, n, n > 0 and n == n_idle


@_jit
def sched_period(PP, n):
    """__sched_period (§5): latency, stretched to n * min_granularity beyond nr_latency tasks."""
    if n > PP[P_NR_LATENCY]:
        return n * PP[P_MIN_GRAN]
    return PP[P_LATENCY]


@_jit
def _on_queue(TS, CS, cpu, t):
    x = CS[cpu, E.C_FAIR_HEAD]
    while x >= 0:
        if x == t:
            return True
        x = TS[x, E.T_Q_NEXT]
    return False


@_jit
def sched_slice(TS, CS, PP, cpu, t):
    """sched_slice (§5): period(n + !queued) * w / (W + w if not queued), fixed point (§3),
    floored at min_granularity (idle_min_granularity for a SCHED_IDLE task on a queue with
    non-idle tasks) when BASE_SLICE. Wall ns."""
    w_sum, n, all_idle = _queue_load(TS, CS, cpu)
    w = weight_of(TS, t)
    if not _on_queue(TS, CS, cpu, t):
        n += 1
        w_sum += w
    s = calc_delta(sched_period(PP, n), w, rq_inverse(w_sum))
    if PP[P_BASE_SLICE]:
        mg = PP[P_MIN_GRAN]
        if TS[t, E.T_POLICY] == E.POL_IDLE and not all_idle:
            mg = PP[P_IDLE_MIN_GRAN]
        s = max(s, mg)
    return s


@_jit
def sched_vslice(TS, CS, PP, cpu, t):
    """sched_vslice (§5): the slice in t's virtual time."""
    return calc_delta_fair(sched_slice(TS, CS, PP, cpu, t), TS, t)


@_jit
def _before(PT, a, b):
    """a is left of b in the rbtree: smaller v, then earlier insertion."""
    return PT[a, V] < PT[b, V] or (PT[a, V] == PT[b, V] and PT[a, TSEQ] < PT[b, TSEQ])


@_jit
def leftmost(TS, CS, PT, cpu, skip):
    """__pick_first_entity: the leftmost queued entity, leaving out ``skip`` (the running
    task, which the kernel keeps outside the tree)."""
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != skip and (best < 0 or _before(PT, t, best)):
            best = t
        t = TS[t, E.T_Q_NEXT]
    return best


@_jit
def _next_after(TS, CS, PT, cpu, se, skip):
    """__pick_next_entity: the tree entity right after se (leaving out ``skip``)."""
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != skip and t != se and _before(PT, se, t) and (best < 0 or _before(PT, t, best)):
            best = t
        t = TS[t, E.T_Q_NEXT]
    return best


@_jit
def update_min_vruntime(TS, CS, PT, PC, cpu, skip):
    """§4: min_vruntime = max(old, min v of the queued entities incl. the running one),
    leaving out ``skip`` (an entity being dequeued). Never moves backwards."""
    lo = 0
    found = False
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != skip and (not found or PT[t, V] - lo < 0):
            lo = PT[t, V]
            found = True
        t = TS[t, E.T_Q_NEXT]
    if found and lo - PC[cpu, Q_MINV] > 0:
        PC[cpu, Q_MINV] = lo


@_jit
def wakeup_preempt_entity(TS, PT, PP, curr, se):
    """§8/§9: -1 if se is not left of curr, 1 if it is left by more than the wakeup
    granularity converted with se's weight, else 0."""
    vdiff = PT[curr, V] - PT[se, V]
    if vdiff <= 0:
        return -1
    if vdiff > calc_delta_fair(PP[P_WAKEUP_GRAN], TS, se):
        return 1
    return 0


@_jit
def _clear_buddies(PC, cpu, t):
    if PC[cpu, Q_NEXT] == t:
        PC[cpu, Q_NEXT] = -1
    if PC[cpu, Q_LAST] == t:
        PC[cpu, Q_LAST] = -1
    if PC[cpu, Q_SKIP] == t:
        PC[cpu, Q_SKIP] = -1


@_jit
def place_entity(TS, CS, PT, PC, PP, cpu, t, initial, now, exec_start):
    """place_entity (§6): a new task starts at min_vruntime + vslice (START_DEBIT), a
    waking one at min_vruntime - latency/2 (GENTLE_FAIR_SLEEPERS) at the earliest; a
    sleeper is never moved backwards unless it slept ~104 days since ``exec_start``
    (when it last ran, ns; 0 = unknown, as after a migration, which resets it)."""
    base = PC[cpu, Q_MINV]
    if initial and PP[P_START_DEBIT]:
        base += sched_vslice(TS, CS, PP, cpu, t)
    if not initial:
        thresh = PP[P_MIN_GRAN] if TS[t, E.T_POLICY] == E.POL_IDLE else PP[P_LATENCY]
        if PP[P_GENTLE]:
            thresh >>= 1
        base -= thresh
    if not initial and exec_start > 0 and now - exec_start > LONG_SLEEP_NS:
        PT[t, V] = base
    elif base - PT[t, V] > 0:
        PT[t, V] = base


# -- hooks ---------------------------------------------------------------------------

@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    """task_fork_fair (§6) on the parent's CPU: child.v = the running fair entity's v
    (0 if none), then place_entity(initial), stored relative to min_vruntime. A task
    present at the start of the replay (no parent) enters with zero relative lag."""
    _init_cpu(PC, cpu)
    PT[t, INIT] = 1
    PT[t, SUM] = 0
    PT[t, PREV_SUM] = 0
    PT[t, SLEEP_CPU] = -1
    PT[t, SWAPPED] = 0
    PT[t, REL] = 1
    if parent < 0:
        PT[t, V] = 0
        return 0
    curr = PC[cpu, Q_CURR]
    PT[t, V] = PT[curr, V] if curr >= 0 else 0
    place_entity(TS, CS, PT, PC, PP, cpu, t, True, now, 0)
    if PP[P_CHILD_FIRST] and curr >= 0 and PT[curr, V] < PT[t, V]:
        # sched_child_runs_first: swap so the child is left of the parent (and resched it)
        x = PT[curr, V]
        PT[curr, V] = PT[t, V]
        PT[t, V] = x
        PT[t, SWAPPED] = 1
    PT[t, V] -= PC[cpu, Q_MINV]
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """enqueue_entity (§4, §6): re-base a relative v on this CPU's min_vruntime; a wakeup
    onto another CPU than the one it slept on moves its v by the difference of the two
    min_vruntimes (migrate_task_rq_fair); a wakeup is then placed (sleeper credit)."""
    _init_cpu(PC, cpu)
    if not PT[t, INIT]:  # first fair enqueue of a task that started in another class
        PT[t, INIT] = 1
        PT[t, V] = 0
        PT[t, REL] = 1
        PT[t, SLEEP_CPU] = -1
    wakeup = (flags & ENQ_WAKEUP) != 0 and (flags & ENQ_NEW) == 0
    migrated = False
    if PT[t, REL]:
        PT[t, V] += PC[cpu, Q_MINV]
        PT[t, REL] = 0
    elif wakeup and PT[t, SLEEP_CPU] >= 0 and PT[t, SLEEP_CPU] != cpu:
        PT[t, V] += PC[cpu, Q_MINV] - PC[PT[t, SLEEP_CPU], Q_MINV]
        migrated = True
    if wakeup:  # exec_start: when it last ran (the engine's accounting time); reset by a migration
        place_entity(TS, CS, PT, PC, PP, cpu, t, False, now, 0 if migrated else TS[t, E.T_ACCT])
    PT[t, ENQ_FLAGS] = flags
    _ticket(PT, PC, cpu, t)
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """dequeue_entity (§4): clear its buddy marks; a sleeper keeps an absolute v, any other
    dequeue stores v - min_vruntime; then min_vruntime is updated without it."""
    _init_cpu(PC, cpu)
    _clear_buddies(PC, cpu, t)
    if flags & (DEQ_SLEEP | DEQ_EXIT):
        PT[t, SLEEP_CPU] = cpu
    else:
        PT[t, V] -= PC[cpu, Q_MINV]
        PT[t, REL] = 1
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    update_min_vruntime(TS, CS, PT, PC, cpu, t)
    return 1


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """pick_next_entity (§9): the leftmost entity (the running one only if strictly left of
    the tree), passed over for the skip buddy, and replaced by the next, else the last,
    buddy when that is within the wakeup granularity of the leftmost. Marks on the picked
    task are cleared."""
    _init_cpu(PC, cpu)
    curr = PC[cpu, Q_CURR]
    left = leftmost(TS, CS, PT, cpu, curr)
    if left < 0 or (curr >= 0 and PT[curr, V] < PT[left, V]):
        left = curr
    if left < 0:
        return -1
    se = left
    if PC[cpu, Q_SKIP] >= 0 and PC[cpu, Q_SKIP] == se:
        if se == curr:
            second = leftmost(TS, CS, PT, cpu, curr)
        else:
            second = _next_after(TS, CS, PT, cpu, se, curr)
            if second < 0 or (curr >= 0 and PT[curr, V] < PT[second, V]):
                second = curr
        if second >= 0 and wakeup_preempt_entity(TS, PT, PP, second, left) < 1:
            se = second
    nb = PC[cpu, Q_NEXT]
    lb = PC[cpu, Q_LAST]
    if nb >= 0 and wakeup_preempt_entity(TS, PT, PP, nb, left) < 1:
        se = nb
    elif lb >= 0 and wakeup_preempt_entity(TS, PT, PP, lb, left) < 1:
        se = lb
    _clear_buddies(PC, cpu, se)
    if se == curr and PP[P_REPICK_RESET]:
        PT[se, PREV_SUM] = PT[se, SUM]  # set_next_entity on a re-pick (flat model, E9)
    return se


@_hook
def set_next(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """set_next_entity: it runs; its slice starts now (prev_sum_exec_runtime, §7)."""
    _init_cpu(PC, cpu)
    PC[cpu, Q_CURR] = t
    PT[t, PREV_SUM] = PT[t, SUM]
    return 0


@_hook
def put_prev(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """put_prev_entity: a still-queued task goes back into the tree (after equal keys)."""
    if PC[cpu, Q_CURR] == t:
        PC[cpu, Q_CURR] = -1
    if TS[t, E.T_ON_RQ] and TS[t, E.T_CPU] == cpu:
        _ticket(PT, PC, cpu, t)
    return 0


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """update_curr (§3): charge delta wall ns, advance v by calc_delta_fair (bit-exact),
    update min_vruntime. CFS never asks for a resched here (tick and wakeup decide)."""
    if delta > 0:
        PT[t, SUM] += delta
        PT[t, V] += calc_delta_fair(delta, TS, t)
        update_min_vruntime(TS, CS, PT, PC, cpu, -1)
    return 0


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """check_preempt_wakeup (§8), after the engine's update_curr; sets the buddies of §8.9."""
    _init_cpu(PC, cpu)
    curr = PC[cpu, Q_CURR]
    if curr < 0 or curr == p:
        return 0
    if PT[p, SWAPPED]:  # sched_child_runs_first resched (task_fork_fair)
        PT[p, SWAPPED] = 0
        return 1
    scale = CS[cpu, E.C_NR_FAIR] >= PP[P_NR_LATENCY]
    p_idle = TS[p, E.T_POLICY] == E.POL_IDLE
    marked = False
    if PP[P_NEXT_BUDDY] and scale and not (PT[p, ENQ_FLAGS] & ENQ_NEW):  # step 3 (not for forks)
        if not p_idle:
            PC[cpu, Q_NEXT] = p
        marked = True
    preempt = False
    if TS[curr, E.T_POLICY] == E.POL_IDLE and not p_idle:  # step 5
        preempt = True
    elif TS[p, E.T_POLICY] != E.POL_NORMAL or not PP[P_WAKEUP_PREEMPTION]:  # step 6
        return 0
    elif wakeup_preempt_entity(TS, PT, PP, curr, p) == 1:  # step 8
        if not marked and not p_idle:
            PC[cpu, Q_NEXT] = p
        preempt = True
    if not preempt:
        return 0
    # step 9: the preempted task becomes last buddy (still queued, >= nr_latency tasks)
    if PP[P_LAST_BUDDY] and scale and TS[curr, E.T_ON_RQ] and TS[curr, E.T_POLICY] != E.POL_IDLE:
        PC[cpu, Q_LAST] = curr
    return 1


@_hook
def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """check_preempt_tick (§7), after the engine's update_curr, with > 1 queued task:
    resched once the task ran more than its ideal slice since it was picked (clearing
    its buddy marks), or, after min_granularity, when its v leads the leftmost queued
    v by more than the ideal slice (virtual vs wall ns, as the kernel compares)."""
    if CS[cpu, E.C_NR_FAIR] <= 1:
        return 0
    ideal = min(sched_slice(TS, CS, PP, cpu, t), PP[P_LATENCY])
    ran = PT[t, SUM] - PT[t, PREV_SUM]
    if ran > ideal:
        _clear_buddies(PC, cpu, t)
        return 1
    if ran < PP[P_MIN_GRAN]:
        return 0
    left = leftmost(TS, CS, PT, cpu, t)
    if left < 0:
        return 0
    d = PT[t, V] - PT[left, V]
    if d < 0:
        return 0
    return 1 if d > ideal else 0


@_hook
def yield_task(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """yield_task_fair (§10): alone on its CPU nothing changes; else its buddy marks are
    cleared and it becomes the skip buddy, its v unchanged (the pick passes it over for the
    next entity when that is within the wakeup granularity)."""
    if CS[cpu, E.C_NR_FAIR] + CS[cpu, E.C_NR_RT] <= 1:
        return 0
    _init_cpu(PC, cpu)
    _clear_buddies(PC, cpu, t)
    PC[cpu, Q_SKIP] = t
    return 0


@_hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    return cpu


@_hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    return 1
