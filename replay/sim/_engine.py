"""The replay engine: a discrete-event simulation compiled once with numba.

Time advances by events popped from a binary heap ordered by (time, sequence):
**the tie rule** is that events at the same nanosecond are handled in the order
they were scheduled (first scheduled, first handled). After every event the CPUs
marked for rescheduling are rescheduled in CPU order.

Events: a burst becoming runnable (START), the running task reaching its next
progress point — an action (wakeup, fork) or the end of its burst (POINT), the
scheduler tick of a busy CPU (TICK, at multiples of 1/HZ: ticks of all CPUs are
aligned, as jiffies are), and the fair server's deferral timer (SERVER).

Scheduling classes are called through function pointers (policies/_protocol.py);
the stop class (deadline tasks and migration/N, replayed as RT prio -1) and RT
share the RT class's queue. Class order: RT list (incl. stop) > fair > idle,
except while a CPU's fair server is active (rt.md §7.2), when fair runs first.

Speed model: a task progresses at capacity/1024 of wall time, times E_SMT_Q10/1024
while its SMT sibling is busy and E_NUMA_Q10/1024 off its home node (the node of
the first CPU it ran on); a migration across LLCs adds E_COLD_NS of work.
Scheduler accounting (vruntime, slices) uses wall time, as the kernel does.
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np
from numba import types

from policies._protocol import (DEQ_EXIT, DEQ_MIGRATE, DEQ_SLEEP, ENQ_MIGRATED, ENQ_NEW, ENQ_PRIO, ENQ_REQUEUE,
                                ENQ_WAKEUP, FN, HOOKS)
from policies import _state as E
from policies._fair_common import weight_of_prio
from traces import schema
from traces._numba import INTERNAL, NO_NRT, jit

from ..model._schedule_kernel import Intervals
from ..model.workload import ACT_SYNC_WAKE, ACT_YIELD, END_EXIT, START_AT, START_BY
from . import _pelt as PL
from . import _placement as P

_jit = jit(**INTERNAL, **NO_NRT)
_inl = jit(inline="always", **NO_NRT)

INF = np.int64(2**62)

#: the hooks the engine keeps in H (every decision's); yield_task, the last, travels apart
#: (Y) to the one place that calls it: a twelfth function in each of H's tuples, which
#: nearly every engine function receives, made the whole replay 10-18 % slower
CALLED_HOOKS = HOOKS[:-1]
assert HOOKS[-1] == "yield_task"
# hook indices in the hook tuples (order of CALLED_HOOKS)
H_INIT, H_ENQ, H_DEQ, H_PICK, H_SET_NEXT, H_PUT_PREV, H_UPDATE, H_PREEMPT, H_TICK, H_SELECT, H_CAN_MIGRATE = range(11)

# workload matrices
WT_FIRST_BURST, WT_N_BURSTS, WT_FIRST_ACT, WT_N_ACTS, WT_PINNED, WT_PARENT, WT_TID, WT_AFF, WT_FIRST_CPU, WT_GROUP = \
    range(10)
WT_COLS = 10
WB_TASK, WB_DEMAND, WB_PRIO, WB_START_KIND, WB_START, WB_ABS, WB_CAUSE, WB_END_KIND, WB_SLEEP, \
    WB_CLASS, WB_POLICY, WB_PENDING, WB_FUTEX = range(13)
WB_COLS = 13
WA_TASK, WA_PROGRESS, WA_TARGET, WA_KIND = range(4)

# statistics
# ST_FULL: an output or the event heap was too small (the caller retries bigger)
ST_ROWS, ST_EVENTS, ST_SWITCHES, ST_MIGRATIONS, ST_FULL, ST_PUSHES, ST_PULLS, ST_SERVER = range(8)
# profiling counters (benchmarks/profile_engine.py; nothing else reads them): events popped
# per type (ST_EV_TYPE + E.EV_*), the RESCHED events popped stale (superseded; a POINT is
# never stale now, the count would show a bug), rows pushed, scans of the CPUs for reschedule
# marks, __schedule calls, placements (select), newidle and periodic balance passes, POINT
# rows moved to a new key in place (a re-arm; each also takes a sequence number, as the
# push it replaces did) and dropped. Counted only when PROFILE is true at compile time
# (numba freezes the global, so the branches vanish from the normal build: they cost
# nothing). Only benchmarks/profile_engine.py sets it, in a process with its own empty
# compile cache; never set it where the shared cache is in use.
ST_EV_TYPE = 8
ST_STALE, ST_HEAP_PUSH, ST_RESCHED_SCAN, ST_SCHEDULE, ST_SELECT, ST_NEWIDLE, ST_PERIODIC, ST_POINT_MOVE, \
    ST_POINT_DROP = range(13, 22)
ST_SIZE = 22
PROFILE = False

# What travels together, as typed namedtuples (numba passes one as its members: nothing is
# allocated). Functions take, in this order, the groups they touch, then scalars:
#   H    Hooks(fair, rt): each class's hook functions (CALLED_HOOKS: policies._protocol.HOOKS
#        order, yield_task left out)
#   Y    (fair, rt) yield_task hooks, taken only by run and _reached (CALLED_HOOKS says why)
#   TS, CS  the engine's task and CPU matrices (policies/_state.py), as the hooks get them
#   ST   ClassState(FPT, FPC, FPP, RPT, RPC, RPP): the fair and RT classes' per-task and
#        per-CPU state and parameters
#   W    Workload(WT, WB, WA): per-task, per-burst and per-action rows (WT_*, WB_*, WA_*)
#   M    Machine(TOPO, AFF, EP, MT, MK): topology (P.TP_*), affinity masks, engine parameters
#        (E.E_*), and the span marks: progress points whose times the replay records
#        (replay.model.spans.marks: MT per task (next mark, end), MK per mark (progress, time))
#   Q    Heap(HT, HP, HN, HI): the event queue: times; (sequence, type, a, b) rows; (size, last
#        seq); the slot of each CPU's POINT row (-1 none; one more scratch slot, see -- heap --)
#   out  Intervals: the interval columns being written (schema.INTERVALS) and tids (task ->
#        tid), the class the observed schedule's kernel writes too
#   stats  the counters (ST_*)
# Leaf helpers take the one matrix they read. The hooks stay apart from the arrays: a tuple
# mixing function pointers and arrays made every hook call 4-7x slower (42-76 ns against 10
# in a micro benchmark; the replay ~10% slower per event).
Hooks = namedtuple("Hooks", "fair rt")
ClassState = namedtuple("ClassState", "FPT FPC FPP RPT RPC RPP")
Workload = namedtuple("Workload", "WT WB WA")
Machine = namedtuple("Machine", "TOPO AFF EP MT MK")
Heap = namedtuple("Heap", "HT HP HN HI")


# -- heap --------------------------------------------------------------------------
# A binary min-heap of rows (time HT[i]; sequence, type, a, b HP[i]) ordered by (time,
# sequence); sequences are unique, so the pop order is fixed by the rows' keys whatever
# the heap's shape. Each CPU has at most one POINT row, whose slot HI[cpu] tracks (-1:
# none): re-arming a CPU's progress point moves that row to its new key, and a CPU
# left without one drops it (_set_point), so the heap never holds a stale
# POINT (it used to push a new row at every re-arm and skip the superseded ones when
# popped: one stale row for every five events on a small machine). The new key takes
# the sequence number the push it replaces would have got (HN[1] advances as for a
# push), so every event keeps its place in the order. HI[len(HI) - 1] is a scratch slot
# the other rows' moves write to, so that placing a row needs no branch on its type.
# Sifting moves a hole rather than swapping: each row visited is copied once.


@_jit
def _less(HT, HP, i, j):
    return HT[i] < HT[j] or (HT[i] == HT[j] and HP[i, 0] < HP[j, 0])


@_jit
def _put(HT, HP, HI, i, t, s, typ, a, b):
    """Write row (t, s, typ, a, b) to slot i; a POINT row's slot is recorded for its CPU."""
    HT[i] = t
    HP[i, 0] = s
    HP[i, 1] = typ
    HP[i, 2] = a
    HP[i, 3] = b
    HI[a if typ == E.EV_POINT else len(HI) - 1] = i


@_jit
def _move(HT, HP, HI, src, dst):
    _put(HT, HP, HI, dst, HT[src], HP[src, 0], HP[src, 1], HP[src, 2], HP[src, 3])


@_jit
def _sift_up(HT, HP, HI, i, t, s, typ, a, b):
    """Place row (t, s, typ, a, b) at hole i or above it: later parents move down."""
    while i > 0:
        p = (i - 1) // 2
        if t < HT[p] or (t == HT[p] and s < HP[p, 0]):
            _move(HT, HP, HI, p, i)
            i = p
        else:
            break
    _put(HT, HP, HI, i, t, s, typ, a, b)


@_jit
def _sift_down(HT, HP, HI, i, n, t, s, typ, a, b):
    """Place row (t, s, typ, a, b) at hole i or below it (heap of n rows): earlier
    children move up."""
    while True:
        l = 2 * i + 1
        if l >= n:
            break
        m = l
        if l + 1 < n and _less(HT, HP, l + 1, l):
            m = l + 1
        if HT[m] < t or (HT[m] == t and HP[m, 0] < s):
            _move(HT, HP, HI, m, i)
            i = m
        else:
            break
    _put(HT, HP, HI, i, t, s, typ, a, b)


@_jit
def _fix(HT, HP, HI, i, n, t, s, typ, a, b):
    """Place row (t, s, typ, a, b) at hole i of a heap of n rows, up or down as its key
    asks."""
    if i > 0:
        p = (i - 1) // 2
        if t < HT[p] or (t == HT[p] and s < HP[p, 0]):
            _sift_up(HT, HP, HI, i, t, s, typ, a, b)
            return
    _sift_down(HT, HP, HI, i, n, t, s, typ, a, b)


@_jit
def push(Q, stats, t, typ, a, b):
    HT, HP, HN, HI = Q
    i = HN[0]
    if i >= len(HT):
        stats[ST_FULL] = 1  # the run stops; the caller retries with a bigger heap
        return
    HN[0] = i + 1
    HN[1] += 1
    if PROFILE:
        stats[ST_HEAP_PUSH] += 1
    _sift_up(HT, HP, HI, i, t, HN[1], typ, a, b)


@_jit
def _set_point(Q, stats, cpu, armed, t, gen):
    """cpu's progress point is at t (armed), or it has none: its POINT row moves to t,
    with the next sequence number as a push would take (or is pushed, if it has none),
    or leaves the heap (the last row fills its slot). Moving, pushing and dropping share
    one sift (_fix), so that _arm, which inlines this and is inlined into _schedule and
    _reached, stays small: with a sift per case the replay was 8-10 % slower at 2-32
    CPUs, the heap's own work being the same (the larger callers compiled worse)."""
    HT, HP, HN, HI = Q
    i = HI[cpu]
    n = HN[0]
    if armed:
        if i < 0:
            i = n
            if i >= len(HT):
                stats[ST_FULL] = 1  # the run stops; the caller retries with a bigger heap
                return
            n += 1
            HN[0] = n
            if PROFILE:
                stats[ST_HEAP_PUSH] += 1
        elif PROFILE:
            stats[ST_POINT_MOVE] += 1
        HN[1] += 1
        s, typ, a, b = HN[1], E.EV_POINT, cpu, gen
    else:
        if i < 0:
            return
        HI[cpu] = -1
        if PROFILE:
            stats[ST_POINT_DROP] += 1
        n -= 1
        HN[0] = n
        if i == n:
            return
        t, s, typ, a, b = HT[n], HP[n, 0], HP[n, 1], HP[n, 2], HP[n, 3]
    _fix(HT, HP, HI, i, n, t, s, typ, a, b)


@_jit
def pop(Q):
    """Remove the earliest event; returns (time, type, a, b)."""
    HT, HP, HN, HI = Q
    ev_t, ev_typ, ev_a, ev_b = HT[0], HP[0, 1], HP[0, 2], HP[0, 3]
    if ev_typ == E.EV_POINT:
        HI[ev_a] = -1
    n = HN[0] - 1
    HN[0] = n
    if n > 0:
        _sift_down(HT, HP, HI, 0, n, HT[n], HP[n, 0], HP[n, 1], HP[n, 2], HP[n, 3])
    return ev_t, ev_typ, ev_a, ev_b


# -- class dispatch -------------------------------------------------------------------

@_inl
def _hook(H, k, cls, TS, CS, ST, cpu, t, arg, now):
    """Call hook k of the class of ``cls`` (the RT class serves RT and stop tasks)."""
    if cls == E.CLS_FAIR:
        return H.fair[k](TS, CS, ST.FPT, ST.FPC, ST.FPP, cpu, t, arg, now)
    return H.rt[k](TS, CS, ST.RPT, ST.RPC, ST.RPP, cpu, t, arg, now)


# -- interval output ------------------------------------------------------------------

@_jit
def _emit(TS, t, end_ts, end_code, out, stats):
    s = TS[t, E.T_STATE]
    if s == E.S_RUNNING:
        st = schema.RUNNING
    elif s == E.S_RUNNABLE:
        st = schema.RUNNABLE
    elif s == E.S_BLOCKED:
        st = schema.BLOCKED
    else:
        return
    r = stats[ST_ROWS]
    if r >= len(out.tid):
        stats[ST_FULL] = 1
        return
    out.tid[r] = out.tids[t]
    out.cpu[r] = TS[t, E.T_CPU] if st != schema.BLOCKED else -1
    out.start_ns[r] = TS[t, E.T_IV_START]
    out.end_ns[r] = end_ts
    out.state[r] = st
    out.begin[r] = TS[t, E.T_IV_BEGIN]
    out.end[r] = end_code
    out.sleep_state[r] = TS[t, E.T_SLEEP_STATE] if (st == schema.BLOCKED or st == schema.RUNNABLE) else -1
    out.wait_start_ns[r] = TS[t, E.T_WAIT_START] if st == schema.RUNNABLE else -1
    out.cause[r] = TS[t, E.T_CAUSE] if st == schema.RUNNABLE else -1
    out.valid[r] = True
    stats[ST_ROWS] = r + 1


@_inl
def _open(TS, t, state, now, begin):
    TS[t, E.T_STATE] = state
    TS[t, E.T_IV_START] = now
    TS[t, E.T_IV_BEGIN] = begin


# -- progress and speed ---------------------------------------------------------------

@_jit
def _rate(TS, CS, M, cpu, t):
    """Speed of t on cpu, x/1024 of wall time."""
    TOPO, EP = M.TOPO, M.EP
    r = TOPO[cpu, P.TP_CAPACITY]
    if EP[E.E_SMT_Q10] != 1024:
        s = TOPO[cpu, P.TP_CORE_START]
        for i in range(TOPO[cpu, P.TP_CORE_SIZE]):
            c = TOPO[s + i, P.TP_CORE_CPUS]
            if c != cpu and CS[c, E.C_CURR] >= 0:
                r = r * EP[E.E_SMT_Q10] // 1024
                break
    h = TS[t, E.T_HOME]
    if EP[E.E_NUMA_Q10] != 1024 and h >= 0 and TOPO[cpu, P.TP_NODE] != h:
        r = r * EP[E.E_NUMA_Q10] // 1024
    return max(r, 1)


@_jit
def _next_point(TS, WA, t):
    """Progress at which t next acts or finishes its burst."""
    p = TS[t, E.T_BURST_END]
    a = TS[t, E.T_NEXT_ACT]
    if a >= 0 and a < TS[t, E.T_ACT_END] and WA[a, WA_PROGRESS] < p:
        p = WA[a, WA_PROGRESS]
    return p


@_jit
def _marks(MT, MK, t, p0, p1, t0, rate):
    """Record when t's progress, rising from p0 at time t0 at ``rate``/1024 to p1, reached
    each of its next span marks (MK rows MT[t, 0]..MT[t, 1]: progress, time). Only
    recorded here, never an event: spans do not change the schedule."""
    k = MT[t, 0]
    while k < MT[t, 1] and MK[k, 0] <= p1:
        rem = MK[k, 0] - p0
        MK[k, 1] = t0 + (0 if rem <= 0 else (rem * 1024 + rate - 1) // rate)
        k += 1
    MT[t, 0] = k


@_jit
def _account(H, TS, CS, ST, M, cpu, now):
    """Bring the running task of cpu up to now: progress, and the class's update_curr.
    Returns 1 if the class asks for a reschedule."""
    t = CS[cpu, E.C_CURR]
    if t < 0:
        return 0
    dt = now - TS[t, E.T_ACCT]
    if dt <= 0:
        return 0
    TS[t, E.T_ACCT] = now
    rate = _rate(TS, CS, M, cpu, t)
    p0 = TS[t, E.T_PROGRESS]
    TS[t, E.T_PROGRESS] += dt * rate // 1024
    if M.MT[t, 0] < M.MT[t, 1]:
        _marks(M.MT, M.MK, t, p0, TS[t, E.T_PROGRESS], now - dt, rate)
    r = _hook(H, H_UPDATE, TS[t, E.T_CLASS] if TS[t, E.T_CLASS] == E.CLS_FAIR else E.CLS_RT, TS, CS, ST, cpu, t,
              dt, now)
    if TS[t, E.T_CLASS] == E.CLS_FAIR and CS[cpu, E.C_SERVER_ACTIVE]:
        CS[cpu, E.C_SERVER_LEFT] -= dt
        if CS[cpu, E.C_SERVER_LEFT] <= 0:
            r = 1
    return r


@_jit
def _arm(TS, CS, W, M, Q, stats, cpu, now):
    """Schedule the progress event of cpu's running task (after C_GEN was bumped: the
    CPU's POINT row, if it has one, is superseded and moves, or leaves the heap)."""
    t = CS[cpu, E.C_CURR]
    p = _next_point(TS, W.WA, t) if t >= 0 else INF
    dt = 0
    if p < INF:
        rem = p - TS[t, E.T_PROGRESS]
        rate = _rate(TS, CS, M, cpu, t)
        dt = 0 if rem <= 0 else (rem * 1024 + rate - 1) // rate
    _set_point(Q, stats, cpu, p < INF, now + dt, CS[cpu, E.C_GEN])


@_jit
def _class_of(TS, t):
    return E.CLS_FAIR if TS[t, E.T_CLASS] == E.CLS_FAIR else E.CLS_RT


# -- the engine -------------------------------------------------------------------------

@_jit
def _resched(CS, cpu):
    if not CS[cpu, E.C_NEED_RESCHED]:
        CS[cpu, E.C_NEED_RESCHED] = 1
        CS[CS[0, E.C_MARKED], E.C_MARK_LIST] = cpu
        CS[0, E.C_MARKED] += 1


@_jit
def _unmark(CS, cpu):
    """cpu's C_NEED_RESCHED is cleared: off the list of marked CPUs."""
    n = CS[0, E.C_MARKED] - 1
    for i in range(n + 1):
        if CS[i, E.C_MARK_LIST] == cpu:
            CS[i, E.C_MARK_LIST] = CS[n, E.C_MARK_LIST]
            break
    CS[0, E.C_MARKED] = n


@_jit
def _next_marked(CS, c):
    """The lowest marked CPU >= c, -1 if none."""
    best = -1
    for i in range(CS[0, E.C_MARKED]):
        x = CS[i, E.C_MARK_LIST]
        if x >= c and (best < 0 or x < best):
            best = x
    return best


@_jit
def _latency(TS, EP, which, cpu, t):
    """The latency of the wakeup of task t onto cpu: ``which`` is E_IDLE_LAT or
    E_PREEMPT_LAT. With tables (the latencies measured in the recording,
    model/latencies.py), a draw from cpu's distribution; else the constant.

    The draw is a hash (splitmix64's finaliser) of the seed, the task, its burst and the
    kind, not the next number of a stream: one wakeup draws the same latency in every
    replay of the same seed whatever else happens (common random numbers), so two
    policies, two machines or two renderings of one capture differ by what they do, not
    by which draw each wakeup happened to get."""
    q = EP[E.E_LAT_Q]
    off = EP[E.E_LAT_IDLE] if which == E.E_IDLE_LAT else EP[E.E_LAT_PREEMPT]
    if q <= 0 or off < 0:
        return EP[which]
    x = np.uint64(EP[E.E_SEED]) * np.uint64(0x9E3779B97F4A7C15) \
        + np.uint64(t) * np.uint64(0xD1B54A32D192ED03) + np.uint64(TS[t, E.T_BURST]) * np.uint64(0x8CB92BA72F3D8DD7) \
        + np.uint64(which)
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return EP[off + cpu * q + np.int64((z >> np.uint64(11)) % np.uint64(q))]


@_jit
def _resched_after(CS, Q, stats, cpu, now, lat):
    """A wakeup asks cpu to reschedule: at once, or after the wakeup latency (one pending
    delayed reschedule per CPU; an earlier request wins)."""
    if lat <= 0:
        _resched(CS, cpu)
        return
    if CS[cpu, E.C_RESCHED_AT] >= 0 and CS[cpu, E.C_RESCHED_AT] <= now + lat:
        return
    CS[cpu, E.C_RESCHED_AT] = now + lat
    push(Q, stats, now + lat, E.EV_RESCHED, cpu, now + lat)


@_jit
def _check_preempt(H, TS, CS, ST, M, Q, stats, cpu, t, now):
    """A task of cpu's lists became runnable: does it preempt the running one?"""
    TOPO, AFF, EP = M.TOPO, M.AFF, M.EP
    curr = CS[cpu, E.C_CURR]
    if curr < 0:
        _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_IDLE_LAT, cpu, t))
        return
    if CS[cpu, E.C_NEED_RESCHED]:
        return
    if TS[curr, E.T_STATE] != E.S_RUNNING:
        _resched(CS, cpu)
        return
    ct, cc = TS[t, E.T_CLASS], TS[curr, E.T_CLASS]
    if ct == E.CLS_FAIR and cc != E.CLS_FAIR and CS[cpu, E.C_SERVER_ACTIVE]:
        return
    if ct < cc:
        _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_PREEMPT_LAT, cpu, t))
        return
    if ct > cc:
        return
    r = _account(H, TS, CS, ST, M, cpu, now)
    if r or _hook(H, H_PREEMPT, _class_of(TS, t), TS, CS, ST, cpu, t, 0, now):
        # a slice that ran out is noticed here, but the switch comes at the next
        # preemption point, as for a wakeup preemption: no switch is free
        _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_PREEMPT_LAT, cpu, t))
    elif ct == E.CLS_RT and cc == E.CLS_RT and TS[t, E.T_PRIO] == TS[curr, E.T_PRIO]:
        # check_preempt_equal_prio (rt.md §3): curr could run elsewhere but t cannot:
        # t goes to the head and the CPU reschedules, so that curr gets pushed away.
        # Applied with RT_PUSH off too, as the kernel has no such switch: curr then waits.
        if TS[curr, E.T_PINNED] < 0 and P.cpupri_find(TS, CS, TOPO, AFF, curr) and \
                (TS[t, E.T_PINNED] >= 0 or not P.cpupri_find(TS, CS, TOPO, AFF, t)):
            _hook(H, H_ENQ, E.CLS_RT, TS, CS, ST, cpu, t, ENQ_PRIO | (1 << 8), now)
            _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_PREEMPT_LAT, cpu, t))


@_jit
def _enqueue(H, TS, CS, ST, M, cpu, t, flags, now):
    """Put t on cpu's lists. Returns 1 if accounting cpu's running task first asked for a
    reschedule (its slice ran out): the caller decides when it takes effect."""
    r = 0
    if CS[cpu, E.C_CURR] >= 0:
        r = _account(H, TS, CS, ST, M, cpu, now)
    cls = _class_of(TS, t)
    if cls == E.CLS_FAIR:
        PL.enqueued(TS, CS, t, cpu, now)
    E.list_add(TS, CS, cpu, t, cls)
    _hook(H, H_ENQ, cls, TS, CS, ST, cpu, t, flags, now)
    return r


@_jit
def _dequeue(H, TS, CS, ST, M, cpu, t, flags, now):
    """Take t off cpu's lists; returns 0 if the class keeps it queued (delayed)."""
    if CS[cpu, E.C_CURR] >= 0 and CS[cpu, E.C_CURR] != t:
        if _account(H, TS, CS, ST, M, cpu, now):
            _resched(CS, cpu)
    cls = _class_of(TS, t)
    PL.dequeued(TS, CS, t, now)
    # only a sleep may leave the task queued (delayed): a move or an exit always takes it off
    if _hook(H, H_DEQ, cls, TS, CS, ST, cpu, t, flags, now) or (flags & (DEQ_MIGRATE | DEQ_EXIT)) \
            or not (flags & DEQ_SLEEP):
        if TS[t, E.T_ON_RQ]:
            E.list_remove(TS, CS, cpu, t, cls)
        return 1
    if not TS[t, E.T_DELAYED]:
        TS[t, E.T_DELAYED] = 1
        CS[cpu, E.C_NR_DELAYED] += 1
    return 0


@_jit
def _migrate(H, TS, CS, ST, M, out, stats, t, src, dst, now):
    """Move a queued, not running task from src to dst (balancer, push, pull). Its wait
    continues on dst: the runnable interval ends `migrated` and a new one begins
    (`migrate`) with the same wait start and cause, as in the observed schedule."""
    if TS[t, E.T_STATE] == E.S_RUNNABLE:
        _emit(TS, t, now, schema.END_MIGRATED, out, stats)
        _open(TS, t, E.S_RUNNABLE, now, schema.BEGIN_MIGRATE)
    _dequeue(H, TS, CS, ST, M, src, t, DEQ_MIGRATE, now)
    if _enqueue(H, TS, CS, ST, M, dst, t, ENQ_MIGRATED, now):
        _resched(CS, dst)
    stats[ST_MIGRATIONS] += 1


@_jit
def run(H, Y, TS, CS, ST, W, M, Q, out, stats):
    """Run the replay to EP[E_HORIZON]. Returns the number of interval rows written,
    or -1 if an output or the event heap was too small (the caller retries bigger).

    ``H``: Hooks(fair, rt); ``Y``: the two classes' yield_task hooks; ``TS``, ``CS``: the task
    and CPU matrices; ``ST``:
    ClassState(FPT, FPC, FPP, RPT, RPC, RPP); ``W``: Workload(WT, WB, WA); ``M``:
    Machine(TOPO, AFF, EP, MT, MK); ``Q``: Heap(HT, HP, HN, HI); ``out``: Intervals(tid, cpu, start_ns, end_ns,
    state, begin, end, sleep_state, wait_start_ns, cause, valid, tids); ``stats``: the ST_*
    counters (see the top of the module)."""
    WT, WB = W.WT, W.WB
    TOPO, EP = M.TOPO, M.EP
    n_tasks = len(WT)
    n_cpus = len(TOPO)
    start = EP[E.E_START]
    horizon = EP[E.E_HORIZON]
    for c in range(n_cpus):
        CS[c, E.C_CURR] = -1
        CS[c, E.C_RT_HEAD] = -1
        CS[c, E.C_FAIR_HEAD] = -1
        CS[c, E.C_IDLE_SINCE] = start
        CS[c, E.C_UTIL_TS] = start
        CS[c, E.C_STARVE_SINCE] = -1
        CS[c, E.C_LAST_PREV] = -1
        CS[c, E.C_GENT_BASE] = n_tasks  # the fair class's group-entity rows follow the tasks'
        CS[c, E.C_BALANCE_NEXT] = start
        CS[c, E.C_SERVER_PERIOD_END] = -1
        CS[c, E.C_RESCHED_AT] = -1
        CS[c, E.C_CORE] = TOPO[c, P.TP_CORE]
        CS[c, E.C_LLC] = TOPO[c, P.TP_LLC]
        CS[c, E.C_NODE] = TOPO[c, P.TP_NODE]
        CS[c, E.C_CAPACITY] = TOPO[c, P.TP_CAPACITY]
        CS[c, E.C_PELT_TS] = start
        CS[c, E.C_PU_TS] = start
        CS[c, E.C_LLC_LEAD] = TOPO[TOPO[c, P.TP_LLC_START], P.TP_LLC_CPUS]
    CS[0, E.C_PU_ON] = EP[E.E_ASYM]
    for c in range(n_cpus):
        CS[c, E.C_AVG_IDLE] = 2 * EP[E.E_MIGRATION_COST]  # the kernel's initial avg_idle
        CS[c, E.C_IDLE_STAMP] = -1
    for c in range(len(Q.HI)):
        Q.HI[c] = -1  # no POINT rows yet
    for t in range(n_tasks):
        b = WT[t, WT_FIRST_BURST]
        TS[t, E.T_PINNED] = WT[t, WT_PINNED]
        TS[t, E.T_AFF] = WT[t, WT_AFF]
        TS[t, E.T_PARENT] = WT[t, WT_PARENT]
        TS[t, E.T_GROUP] = WT[t, WT_GROUP]
        TS[t, E.T_NEXT_ACT] = WT[t, WT_FIRST_ACT]
        TS[t, E.T_ACT_END] = WT[t, WT_FIRST_ACT] + WT[t, WT_N_ACTS]
        TS[t, E.T_BURST_END] = 0
        TS[t, E.T_NEW] = 1
        TS[t, E.T_LAST_CPU] = WT[t, WT_FIRST_CPU]  # alive before the trace: where it was (§4)
        if WT[t, WT_N_BURSTS] == 0:
            continue
        k = WB[b, WB_START_KIND]
        if k == START_BY:
            TS[t, E.T_WAIT_BURST] = b
        else:
            push(Q, stats, max(WB[b, WB_START], start), E.EV_START, t, b)
    while Q.HN[0] > 0 and stats[ST_FULL] == 0:
        now, typ, a, b = pop(Q)
        if now > horizon:
            break
        stats[ST_EVENTS] += 1
        if PROFILE:
            stats[ST_EV_TYPE + typ] += 1
        if typ == E.EV_START:
            _start_burst(H, TS, CS, ST, W, M, Q, out, stats, a, b, -1, -1, 0, now)
        elif typ == E.EV_POINT:
            # always true: a CPU's POINT row moves or leaves whenever C_GEN changes (_arm,
            # _schedule); kept as a cheap guard, counted as stale if it ever fails
            if CS[a, E.C_GEN] == b and CS[a, E.C_CURR] >= 0:
                _reached(H, Y, TS, CS, ST, W, M, Q, out, stats, a, now)
            elif PROFILE:
                stats[ST_STALE] += 1
        elif typ == E.EV_TICK:
            _tick(H, TS, CS, ST, M, Q, out, stats, a, now)
        elif typ == E.EV_SERVER:
            _server_timer(TS, CS, M, Q, stats, a, b, now)
        elif typ == E.EV_RESCHED:
            if CS[a, E.C_RESCHED_AT] == b:
                CS[a, E.C_RESCHED_AT] = -1
                _resched(CS, a)
            elif PROFILE:
                stats[ST_STALE] += 1
        # reschedule every marked CPU, in CPU order, until none is marked (a reschedule
        # can mark another CPU: a newidle pull accounts the source, a push the target). A
        # pass visits the marked CPUs from the list (C_MARK_LIST) in the order of a scan of
        # every CPU: after c, the lowest CPU above c marked by then.
        for _pass in range(4 * n_cpus + 8):
            if CS[0, E.C_MARKED] == 0:
                break
            if PROFILE:
                stats[ST_RESCHED_SCAN] += 1
            c = _next_marked(CS, 0)
            while c >= 0:
                _schedule(H, TS, CS, ST, W, M, Q, out, stats, c, now)
                if CS[0, E.C_MARKED] == 0:
                    break
                c = _next_marked(CS, c + 1)
    if stats[ST_FULL]:
        return -1
    for c in range(n_cpus):
        _account(H, TS, CS, ST, M, c, horizon)
    for t in range(n_tasks):
        _emit(TS, t, horizon, schema.END_TRACE_END, out, stats)
    if stats[ST_FULL]:
        return -1
    return stats[ST_ROWS]


@_jit
def _start_burst(H, TS, CS, ST, W, M, Q, out, stats, t, b, this, waker, sync, now):
    """Burst b of task t becomes runnable: place it, enqueue it, check preemption. ``waker``
    is the task whose action woke it (-1: an external wakeup), ``sync`` 1 for a sync wakeup."""
    WB = W.WB
    TOPO, AFF, EP = M.TOPO, M.AFF, M.EP
    s = TS[t, E.T_STATE]
    if s == E.S_RUNNING or s == E.S_RUNNABLE or s == E.S_EXITED:
        return
    new = TS[t, E.T_NEW] == 1
    # forked in the trace; a task alive before it wakes (or starts) like any other (§4)
    forked = new and WB[b, WB_CAUSE] == schema.BEGIN_NEW
    if s == E.S_BLOCKED:
        _emit(TS, t, now, schema.END_WOKEN, out, stats)
    TS[t, E.T_BURST] = b
    TS[t, E.T_FUTEX_BURST] = WB[b, WB_FUTEX]
    dem = WB[b, WB_DEMAND]
    TS[t, E.T_BURST_END] = INF if dem < 0 else TS[t, E.T_PROGRESS] + dem
    old_class = TS[t, E.T_CLASS]
    if TS[t, E.T_DELAYED] and TS[t, E.T_ON_RQ] and old_class != WB[b, WB_CLASS]:
        # a class change completes a delayed dequeue first (eevdf.md §10), in the old class
        _dequeue(H, TS, CS, ST, M, TS[t, E.T_CPU], t, DEQ_EXIT, now)
    TS[t, E.T_CLASS] = WB[b, WB_CLASS]
    TS[t, E.T_PRIO] = WB[b, WB_PRIO]
    TS[t, E.T_POLICY] = WB[b, WB_POLICY]
    TS[t, E.T_WEIGHT] = weight_of_prio(WB[b, WB_PRIO], WB[b, WB_POLICY])
    if WB[b, WB_CLASS] == E.CLS_FAIR:
        PL.fair_burst(TS, t, TS[t, E.T_WEIGHT], now)
    elif TS[t, E.T_PELT_CPU] >= 0:
        PL.detach(TS, CS, t, now)  # no longer a fair task (switched_from_fair)
    cause = WB[b, WB_CAUSE]
    TS[t, E.T_CAUSE] = cause
    TS[t, E.T_WAIT_START] = now
    TS[t, E.T_SLEEP_STATE] = -1
    _open(TS, t, E.S_RUNNABLE, now, cause)
    cls = _class_of(TS, t)
    if TS[t, E.T_DELAYED] and TS[t, E.T_ON_RQ] and old_class == TS[t, E.T_CLASS]:
        # still queued (delayed dequeue): the wakeup completes in place (ttwu_runnable)
        cpu = TS[t, E.T_CPU]
        TS[t, E.T_DELAYED] = 0
        CS[cpu, E.C_NR_DELAYED] -= 1
        if _account(H, TS, CS, ST, M, cpu, now):
            _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_PREEMPT_LAT, cpu, t))
        PL.enqueued(TS, CS, t, cpu, now)
        _hook(H, H_ENQ, cls, TS, CS, ST, cpu, t, ENQ_REQUEUE | ENQ_WAKEUP, now)
        _check_preempt(H, TS, CS, ST, M, Q, stats, cpu, t, now)
        return
    prev = TS[t, E.T_LAST_CPU]
    waker_cpu = this
    if new:
        parent = TS[t, E.T_PARENT]
        pc = TS[parent, E.T_CPU] if parent >= 0 else -1
        if this < 0:
            this = pc if pc >= 0 else (prev if prev >= 0 else 0)
        _hook(H, H_INIT, cls, TS, CS, ST, this, t, parent if parent >= 0 else -1, now)
    # runnable when the trace began: already queued on the CPU it was recorded on (§4)
    queued = new and WB[b, WB_CAUSE] == schema.BEGIN_TRACE_START and prev >= 0 and P.allowed(TS, AFF, t, prev)
    if queued:
        cpu = prev
    elif cls == E.CLS_FAIR:
        if TS[t, E.T_PINNED] >= 0:
            cpu = TS[t, E.T_PINNED]
        elif forked:
            cpu = P.select_fair_fork(TS, CS, TOPO, AFF, EP, t, this)
        else:
            cpu = P.select_fair_wakeup(TS, CS, TOPO, AFF, EP, t, prev, waker_cpu, waker, sync, now)
    else:
        cpu = TS[t, E.T_PINNED] if TS[t, E.T_PINNED] >= 0 else P.select_rt(TS, CS, TOPO, AFF, t, prev if prev >= 0 else this, this)
    if PROFILE:
        stats[ST_SELECT] += 1
    chosen = -1 if queued else _hook(H, H_SELECT, cls, TS, CS, ST, cpu, t, prev, now)
    if chosen >= 0 and chosen < len(TOPO) and P.allowed(TS, AFF, t, chosen):
        cpu = chosen  # a CPU the task may not use keeps the shared placement's (select_fallback_rq)
    if cpu < 0 or cpu >= len(TOPO):
        cpu = P.first_allowed(TS, AFF, t, len(TOPO))
    flags = ENQ_WAKEUP | (ENQ_NEW if forked else 0)
    TS[t, E.T_NEW] = 0
    if EP[E.E_AVG_IDLE] and not forked and not queued and CS[cpu, E.C_IDLE_STAMP] >= 0:
        _idle_ended(CS, EP, cpu, now)
    if _enqueue(H, TS, CS, ST, M, cpu, t, flags, now):
        _resched_after(CS, Q, stats, cpu, now, _latency(TS, EP, E.E_PREEMPT_LAT, cpu, t))
    _check_preempt(H, TS, CS, ST, M, Q, stats, cpu, t, now)
    if cls != E.CLS_FAIR and _woken_rt_pushes(TS, CS, cpu, t):
        _push_rt(H, TS, CS, ST, M, Q, out, stats, cpu, now)
    _fair_starve_check(TS, CS, M, Q, stats, cpu, now)


@_jit
def _reached(H, Y, TS, CS, ST, W, M, Q, out, stats, cpu, now):
    """cpu's running task reached its next progress point: act, or end the burst."""
    WB, WA = W.WB, W.WA
    t = CS[cpu, E.C_CURR]
    if _account(H, TS, CS, ST, M, cpu, now):
        _resched(CS, cpu)
    while TS[t, E.T_NEXT_ACT] < TS[t, E.T_ACT_END] and WA[TS[t, E.T_NEXT_ACT], WA_PROGRESS] <= TS[t, E.T_PROGRESS] \
            and WA[TS[t, E.T_NEXT_ACT], WA_PROGRESS] <= TS[t, E.T_BURST_END]:
        a = TS[t, E.T_NEXT_ACT]
        TS[t, E.T_NEXT_ACT] = a + 1
        if WA[a, WA_KIND] == ACT_YIELD:
            if M.EP[E.E_YIELDS]:
                # do_sched_yield: the class's yield_task, then schedule() (engine-model.md §5)
                if _class_of(TS, t) == E.CLS_FAIR:
                    Y[0](TS, CS, ST.FPT, ST.FPC, ST.FPP, cpu, t, 0, now)
                else:
                    Y[1](TS, CS, ST.RPT, ST.RPC, ST.RPP, cpu, t, 0, now)
                _resched(CS, cpu)
            continue
        target_burst = WA[a, WA_TARGET]
        w = WB[target_burst, WB_TASK]
        if TS[t, E.T_WAKEE] != w:  # wake_wide bookkeeping (placement.md §2 step 1)
            if now - TS[t, E.T_FLIPS_TS] > 1_000_000_000:
                TS[t, E.T_FLIPS] >>= 1
                TS[t, E.T_FLIPS_TS] = now
            TS[t, E.T_WAKEE] = w
            TS[t, E.T_FLIPS] += 1
        if TS[w, E.T_WAIT_BURST] == target_burst:
            TS[w, E.T_WAIT_BURST] = -1
            _start_burst(H, TS, CS, ST, W, M, Q, out, stats, w, target_burst, cpu, t,
                         1 if WA[a, WA_KIND] == ACT_SYNC_WAKE else 0, now)
        elif TS[w, E.T_BURST] < target_burst:
            WB[target_burst, WB_PENDING] = 1  # woken before it blocked for it: it will not sleep
    if TS[t, E.T_PROGRESS] >= TS[t, E.T_BURST_END]:
        _end_burst(H, TS, CS, ST, W, M, Q, out, stats, cpu, t, now)
        _resched(CS, cpu)
        return
    if not CS[cpu, E.C_NEED_RESCHED]:
        CS[cpu, E.C_GEN] += 1
        _arm(TS, CS, W, M, Q, stats, cpu, now)


@_jit
def _end_burst(H, TS, CS, ST, W, M, Q, out, stats, cpu, t, now):
    WT, WB = W.WT, W.WB
    b = TS[t, E.T_BURST]
    if WB[b, WB_END_KIND] == END_EXIT:
        _dequeue(H, TS, CS, ST, M, cpu, t, DEQ_EXIT | DEQ_SLEEP, now)
        if TS[t, E.T_ON_RQ]:
            E.list_remove(TS, CS, cpu, t, _class_of(TS, t))
        PL.detach(TS, CS, t, now)  # a dead task's load leaves its run queue
        _emit(TS, t, now, schema.END_EXITED, out, stats)
        TS[t, E.T_STATE] = E.S_EXITED
        return
    _dequeue(H, TS, CS, ST, M, cpu, t, DEQ_SLEEP, now)
    _emit(TS, t, now, schema.END_BLOCKED, out, stats)
    TS[t, E.T_SLEEP_STATE] = WB[b, WB_SLEEP]
    _open(TS, t, E.S_BLOCKED, now, schema.BEGIN_SWITCH_OUT)
    nb = b + 1
    if nb >= WT[t, WT_FIRST_BURST] + WT[t, WT_N_BURSTS]:
        return  # blocked until the end
    k = WB[nb, WB_START_KIND]
    if WB[nb, WB_PENDING]:
        push(Q, stats, now, E.EV_START, t, nb)
    elif k == START_BY:
        TS[t, E.T_WAIT_BURST] = nb
    elif k == START_AT or M.EP[E.E_SLEEP_ABS]:
        at = WB[nb, WB_START] if k == START_AT else WB[nb, WB_ABS]
        push(Q, stats, max(at, now), E.EV_START, t, nb)
    else:
        push(Q, stats, now + WB[nb, WB_START], E.EV_START, t, nb)


@_jit
def _picked(TS, cpu, n, cls):
    """A class's pick: -1, or a task on that class's list of ``cpu`` and not delayed. A
    policy whose pick returns anything else stops the replay (the engine's lists would no
    longer hold)."""
    if n >= 0 and (n >= len(TS) or TS[n, E.T_LIST] != cls or TS[n, E.T_CPU] != cpu or TS[n, E.T_DELAYED]):
        raise RuntimeError("policy error: its pick hook returned a task that is not queued on that CPU in its class")
    return n


@_jit
def _pick(H, TS, CS, ST, cpu, now):
    server = CS[cpu, E.C_SERVER_ACTIVE] == 1
    if server and CS[cpu, E.C_NR_FAIR] > CS[cpu, E.C_NR_DELAYED]:
        n = _picked(TS, cpu, _hook(H, H_PICK, E.CLS_FAIR, TS, CS, ST, cpu, -1, 0, now), E.CLS_FAIR)
        if n >= 0:
            return n
    if CS[cpu, E.C_NR_RT] > 0:
        n = _picked(TS, cpu, _hook(H, H_PICK, E.CLS_RT, TS, CS, ST, cpu, -1, 0, now), E.CLS_RT)
        if n >= 0:
            return n
    if CS[cpu, E.C_NR_FAIR] > 0:
        return _picked(TS, cpu, _hook(H, H_PICK, E.CLS_FAIR, TS, CS, ST, cpu, -1, 0, now), E.CLS_FAIR)
    return -1


@_jit
def _server_stop(CS, cpu):
    """The fair server deactivates (its runtime used up, or nothing fair left to run);
    starvation restarts from the next fair task that waits (engine-model.md §10)."""
    CS[cpu, E.C_SERVER_ACTIVE] = 0
    CS[cpu, E.C_STARVE_SINCE] = -1


@_jit
def _schedule(H, TS, CS, ST, W, M, Q, out, stats, cpu, now):
    """__schedule: pick the next task for cpu and switch to it."""
    TOPO, EP = M.TOPO, M.EP
    if PROFILE:
        stats[ST_SCHEDULE] += 1
    if CS[cpu, E.C_NEED_RESCHED]:
        CS[cpu, E.C_NEED_RESCHED] = 0
        _unmark(CS, cpu)
    CS[cpu, E.C_RESCHED_AT] = -1
    prev = CS[cpu, E.C_CURR]
    if prev >= 0:
        _account(H, TS, CS, ST, M, cpu, now)
        if CS[cpu, E.C_SERVER_ACTIVE] and CS[cpu, E.C_SERVER_LEFT] <= 0:
            _server_stop(CS, cpu)
            stats[ST_SERVER] += 1
    prev_running = prev >= 0 and TS[prev, E.T_STATE] == E.S_RUNNING
    if prev >= 0 and not prev_running and _class_of(TS, prev) == E.CLS_RT and EP[E.E_RT_PUSH]:
        _pull_rt(H, TS, CS, ST, M, out, stats, cpu, prev, now)
    nxt = _pick(H, TS, CS, ST, cpu, now)
    if nxt < 0 and EP[E.E_NEWIDLE]:
        if PROFILE:
            stats[ST_NEWIDLE] += 1
        # before 5.16 a CPU whose idle periods average under the migration cost does not
        # balance (engine-model.md §9.3); the idle period it starts is timed from here
        CS[cpu, E.C_IDLE_STAMP] = now
        if not (EP[E.E_AVG_IDLE] and CS[cpu, E.C_AVG_IDLE] < EP[E.E_MIGRATION_COST]) \
                and _newidle_balance(H, TS, CS, ST, M, out, stats, cpu, now):
            CS[cpu, E.C_IDLE_STAMP] = -1
            nxt = _pick(H, TS, CS, ST, cpu, now)
    if CS[cpu, E.C_SERVER_ACTIVE] and (nxt < 0 or TS[nxt, E.T_CLASS] != E.CLS_FAIR):
        # no fair task left for the server to run: it stops (dl_server_stop), and fair tasks
        # that come later begin a new deferral (it stayed active, and a fair task woken while
        # RT ran waited for nothing that could come)
        _server_stop(CS, cpu)
    if nxt == prev and prev_running:
        CS[cpu, E.C_GEN] += 1
        _arm(TS, CS, W, M, Q, stats, cpu, now)
        return
    P.decay_util(CS, cpu, now, 32_000_000)
    if prev >= 0:
        pc = _class_of(TS, prev)
        if prev_running:
            _hook(H, H_PUT_PREV, pc, TS, CS, ST, cpu, prev, 0, now)
            _emit(TS, prev, now, schema.END_PREEMPTED, out, stats)
            TS[prev, E.T_WAIT_START] = now
            TS[prev, E.T_CAUSE] = schema.BEGIN_PREEMPT
            TS[prev, E.T_SLEEP_STATE] = 0
            _open(TS, prev, E.S_RUNNABLE, now, schema.BEGIN_PREEMPT)
        else:
            _hook(H, H_PUT_PREV, pc, TS, CS, ST, cpu, prev, 0, now)
        CS[cpu, E.C_LAST_PREV] = prev
        if CS[0, E.C_PU_ON] and TS[prev, E.T_PU_IN]:
            PL.util_running(TS, CS, prev, cpu, 0, now)
    if CS[0, E.C_PU_ON] and nxt >= 0 and TS[nxt, E.T_CLASS] == E.CLS_FAIR:
        PL.util_running(TS, CS, nxt, cpu, CS[cpu, E.C_CAPACITY], now)
    CS[cpu, E.C_CURR] = nxt
    CS[cpu, E.C_GEN] += 1
    stats[ST_SWITCHES] += 1
    if nxt >= 0:
        _hook(H, H_SET_NEXT, _class_of(TS, nxt), TS, CS, ST, cpu, nxt, 0, now)
        _emit(TS, nxt, now, schema.END_SWITCHED_IN, out, stats)
        last = TS[nxt, E.T_LAST_CPU]
        if last >= 0 and last != cpu and TOPO[last, P.TP_LLC] != TOPO[cpu, P.TP_LLC] and EP[E.E_COLD_NS] > 0 \
                and TS[nxt, E.T_BURST_END] < INF:
            TS[nxt, E.T_BURST_END] += EP[E.E_COLD_NS]  # cache-cold refill after a cross-LLC move
        TS[nxt, E.T_LAST_CPU] = cpu
        if TS[nxt, E.T_HOME] < 0:
            TS[nxt, E.T_HOME] = TOPO[cpu, P.TP_NODE]
        _open(TS, nxt, E.S_RUNNING, now, schema.BEGIN_SWITCH_IN)
        TS[nxt, E.T_ACCT] = now
        TS[nxt, E.T_RUN_START] = now
        TS[nxt, E.T_LAST_RAN] = now
        CS[cpu, E.C_IDLE_SINCE] = -1
        _arm(TS, CS, W, M, Q, stats, cpu, now)
        if not CS[cpu, E.C_TICK_ON]:
            CS[cpu, E.C_TICK_ON] = 1
            push(Q, stats, (now // EP[E.E_TICK_NS] + 1) * EP[E.E_TICK_NS], E.EV_TICK, cpu, 0)
        if _class_of(TS, nxt) == E.CLS_RT and EP[E.E_RT_PUSH]:
            _push_rt(H, TS, CS, ST, M, Q, out, stats, cpu, now)
        if TS[nxt, E.T_CLASS] == E.CLS_FAIR:
            CS[cpu, E.C_STARVE_SINCE] = -1
    else:
        CS[cpu, E.C_IDLE_SINCE] = now
        _set_point(Q, stats, cpu, False, 0, 0)  # the previous task's progress point is void (C_GEN)
    _smt_changed(H, TS, CS, ST, W, M, Q, stats, cpu, now)
    _fair_starve_check(TS, CS, M, Q, stats, cpu, now)


@_jit
def _idle_ended(CS, EP, cpu, now):
    """A wakeup lands on a CPU that went newly idle (ttwu_do_wakeup): avg_idle moves an
    eighth of the way to this idle period (C division: toward zero), at most twice the
    migration cost."""
    diff = now - CS[cpu, E.C_IDLE_STAMP] - CS[cpu, E.C_AVG_IDLE]
    step = diff // 8 if diff >= 0 else -((-diff) // 8)
    CS[cpu, E.C_AVG_IDLE] = min(CS[cpu, E.C_AVG_IDLE] + step, 2 * EP[E.E_MIGRATION_COST])
    CS[cpu, E.C_IDLE_STAMP] = -1


@_jit
def _smt_changed(H, TS, CS, ST, W, M, Q, stats, cpu, now):
    """The busy state of cpu changed: its SMT siblings' running tasks change speed."""
    TOPO = M.TOPO
    if M.EP[E.E_SMT_Q10] == 1024:
        return
    s = TOPO[cpu, P.TP_CORE_START]
    for i in range(TOPO[cpu, P.TP_CORE_SIZE]):  # the core's CPUs, ascending
        c = TOPO[s + i, P.TP_CORE_CPUS]
        if c != cpu and CS[c, E.C_CURR] >= 0:
            # account at the old speed up to now (the speed switch is approximated at now)
            if _account(H, TS, CS, ST, M, c, now):
                _resched(CS, c)
            CS[c, E.C_GEN] += 1
            _arm(TS, CS, W, M, Q, stats, c, now)


@_jit
def _tick(H, TS, CS, ST, M, Q, out, stats, cpu, now):
    t = CS[cpu, E.C_CURR]
    if t < 0:
        CS[cpu, E.C_TICK_ON] = 0
        return
    r = _account(H, TS, CS, ST, M, cpu, now)
    if _hook(H, H_TICK, _class_of(TS, t), TS, CS, ST, cpu, t, 0, now) or r:
        _resched(CS, cpu)
    if M.EP[E.E_PERIODIC] and now >= CS[cpu, E.C_BALANCE_NEXT]:
        if PROFILE:
            stats[ST_PERIODIC] += 1
        _periodic_balance(H, TS, CS, ST, M, out, stats, cpu, now)
    push(Q, stats, now + M.EP[E.E_TICK_NS], E.EV_TICK, cpu, 0)


# -- fair server (rt.md §7.2) ---------------------------------------------------------

@_jit
def _fair_starve_check(TS, CS, M, Q, stats, cpu, now):
    """Track when fair tasks started waiting behind RT on cpu (starvation), and keep one
    fair-server deferral timer pending while they do."""
    EP = M.EP
    if EP[E.E_SERVER_RUNTIME] <= 0 or CS[cpu, E.C_SERVER_ACTIVE]:
        return
    curr = CS[cpu, E.C_CURR]
    starving = curr >= 0 and TS[curr, E.T_CLASS] != E.CLS_FAIR and CS[cpu, E.C_NR_FAIR] > CS[cpu, E.C_NR_DELAYED]
    if starving and CS[cpu, E.C_STARVE_SINCE] < 0:
        CS[cpu, E.C_STARVE_SINCE] = now
        if CS[cpu, E.C_SERVER_PERIOD_END] < 0:
            at = now + EP[E.E_SERVER_PERIOD] - EP[E.E_SERVER_RUNTIME]
            CS[cpu, E.C_SERVER_PERIOD_END] = at
            push(Q, stats, at, E.EV_SERVER, cpu, at)
    elif not starving:
        CS[cpu, E.C_STARVE_SINCE] = -1


@_jit
def _server_timer(TS, CS, M, Q, stats, cpu, at, now):
    """The deferral timer fired (rt.md §7.2, deferred mode): if fair tasks have been
    starved for the whole deferral (period - runtime), the server runs them above RT
    for its runtime; if they are starved since later, the timer is re-armed for then."""
    EP = M.EP
    if CS[cpu, E.C_SERVER_PERIOD_END] != at:
        return
    CS[cpu, E.C_SERVER_PERIOD_END] = -1
    since = CS[cpu, E.C_STARVE_SINCE]
    if since < 0:
        return
    defer = EP[E.E_SERVER_PERIOD] - EP[E.E_SERVER_RUNTIME]
    if now - since >= defer:
        CS[cpu, E.C_SERVER_ACTIVE] = 1
        CS[cpu, E.C_SERVER_LEFT] = EP[E.E_SERVER_RUNTIME]
        _resched(CS, cpu)
    else:
        nxt = since + defer
        CS[cpu, E.C_SERVER_PERIOD_END] = nxt
        push(Q, stats, nxt, E.EV_SERVER, cpu, nxt)


# -- balancing (placement.md §4-§5) ---------------------------------------------------

@_jit
def _waiting_fair(TS, CS, c):
    """Queued fair tasks on c that are not running and not delayed."""
    n = CS[c, E.C_NR_FAIR] - CS[c, E.C_NR_DELAYED]
    cur = CS[c, E.C_CURR]
    if cur >= 0 and TS[cur, E.T_CLASS] == E.CLS_FAIR:
        n -= 1
    return n


@_jit
def _steal_one(H, TS, CS, ST, M, out, stats, src, dst, now, level, ignore_hot):
    """Move the least recently run movable fair task from src to dst (detach_tasks,
    can_migrate_task: allowed, not running, the policy's can_migrate, not cache-hot
    except at the SMT level)."""
    AFF, EP = M.AFF, M.EP
    best = -1
    t = CS[src, E.C_FAIR_HEAD]
    while t >= 0:
        if t != CS[src, E.C_CURR] and not TS[t, E.T_DELAYED] and P.allowed(TS, AFF, t, dst) and \
                _hook(H, H_CAN_MIGRATE, E.CLS_FAIR, TS, CS, ST, dst, t, 0 if ignore_hot else 1, now):
            hot = level > 0 and now - TS[t, E.T_LAST_RAN] < EP[E.E_MIGRATION_COST]
            if not hot or ignore_hot:
                if best < 0 or TS[t, E.T_LAST_RAN] < TS[best, E.T_LAST_RAN] or \
                        (TS[t, E.T_LAST_RAN] == TS[best, E.T_LAST_RAN] and t < best):
                    best = t
        t = TS[t, E.T_Q_NEXT]
    if best < 0:
        return False
    _migrate(H, TS, CS, ST, M, out, stats, best, src, dst, now)
    return True


@_jit
def _same_level(TOPO, a, b, level):
    """Whether CPUs a and b share the domain of the given level (0 SMT core, 1 LLC,
    2 node, 3 machine)."""
    if level == 0:
        return TOPO[a, P.TP_CORE] == TOPO[b, P.TP_CORE]
    if level == 1:
        return TOPO[a, P.TP_LLC] == TOPO[b, P.TP_LLC]
    if level == 2:
        return TOPO[a, P.TP_NODE] == TOPO[b, P.TP_NODE]
    return True


@_jit
def _numa_allows(CS, M, src, dst):
    """The NUMA imbalance allowance (placement.md §6.1) between src's and dst's nodes:
    imbalance = runnable tasks on src's node minus on dst's node; a move across nodes
    is allowed when it is > 0 and adjust_numa_imbalance(imb, dst node's runnable + 1,
    imb_numa_nr) != 0."""
    TOPO = M.TOPO
    local = 0
    remote = 0
    for c in range(len(TOPO)):
        if TOPO[c, P.TP_NODE] == TOPO[dst, P.TP_NODE]:
            local += P.nr_running(CS, c)
        elif TOPO[c, P.TP_NODE] == TOPO[src, P.TP_NODE]:
            remote += P.nr_running(CS, c)
    imb = remote - local
    return imb > 0 and P._adjust_numa_imbalance(imb, local + 1, M.EP[E.E_IMB_NUMA_NR]) != 0


@_jit
def _newidle_balance(H, TS, CS, ST, M, out, stats, cpu, now):
    """A CPU about to go idle pulls one waiting fair task from the busiest CPU, searching
    its SMT core, then its LLC, node and the machine (placement.md §5, §8 item 5); the
    NUMA level keeps the imbalance allowance of §6.1."""
    TOPO = M.TOPO
    n = len(TOPO)
    # one pass finds each level's busiest CPU (the first, ascending, with the most waiting
    # tasks among the CPUs that share that level with cpu and no lower one), as a pass per
    # level would: 4 x CPUs visits per going-idle were 12 % of a 128-CPU fork-heavy replay
    b0 = b1 = b2 = b3 = -1
    w0 = w1 = w2 = w3 = 0
    for c in range(n):
        if c == cpu:
            continue
        w = _waiting_fair(TS, CS, c)
        if w < 1:
            continue
        if TOPO[c, P.TP_CORE] == TOPO[cpu, P.TP_CORE]:
            if w > w0:
                b0, w0 = c, w
        elif TOPO[c, P.TP_LLC] == TOPO[cpu, P.TP_LLC]:
            if w > w1:
                b1, w1 = c, w
        elif TOPO[c, P.TP_NODE] == TOPO[cpu, P.TP_NODE]:
            if w > w2:
                b2, w2 = c, w
        elif w > w3:
            b3, w3 = c, w
    for level in range(4):
        busiest = b0 if level == 0 else (b1 if level == 1 else (b2 if level == 2 else b3))
        if busiest < 0:
            continue
        if level == 3 and TOPO[busiest, P.TP_NODE] != TOPO[cpu, P.TP_NODE] and \
                not _numa_allows(CS, M, busiest, cpu):
            continue
        if _steal_one(H, TS, CS, ST, M, out, stats, busiest, cpu, now, level, False):
            stats[ST_PULLS] += 1
            return True
    return False


@_jit
def _steal_load(H, TS, CS, ST, M, out, stats, src, dst, now, level, imb, failed):
    """detach_tasks for a load imbalance: the least recently run movable task whose
    weight, halved per earlier failure, fits the imbalance (placement.md §4.4 step 5)."""
    AFF, EP = M.AFF, M.EP
    best = -1
    t = CS[src, E.C_FAIR_HEAD]
    hot_ok = failed > EP[E.E_CACHE_NICE]
    while t >= 0:
        if t != CS[src, E.C_CURR] and not TS[t, E.T_DELAYED] and P.allowed(TS, AFF, t, dst) and \
                _hook(H, H_CAN_MIGRATE, E.CLS_FAIR, TS, CS, ST, dst, t, 0 if hot_ok else 1, now):
            hot = level > 0 and now - TS[t, E.T_LAST_RAN] < EP[E.E_MIGRATION_COST]
            if (not hot or hot_ok) and (PL.task_load(TS, t, now) >> min(failed, 20)) <= imb:
                if best < 0 or TS[t, E.T_LAST_RAN] < TS[best, E.T_LAST_RAN] or \
                        (TS[t, E.T_LAST_RAN] == TS[best, E.T_LAST_RAN] and t < best):
                    best = t
        t = TS[t, E.T_Q_NEXT]
    if best < 0:
        return False
    _migrate(H, TS, CS, ST, M, out, stats, best, src, dst, now)
    return True


@_jit
def _periodic_balance(H, TS, CS, ST, M, out, stats, cpu, now):
    """Periodic balancing from a busy CPU's tick (placement.md §4, §8 item 7), per domain
    level (LLC, node, machine):
    1. idle CPUs of the domain pull a waiting fair task from the CPU with most waiting
       tasks (the NOHZ idle balance kicked from a busy CPU's tick; task-count imbalance);
    2. this CPU pulls load from the busiest CPU of the domain (migrate_load): with
       avg = the domain's fair load per unit of capacity, imbalance =
       min(busiest - avg, avg - local); nothing if 100·busiest <= imbalance_pct·local.
    Cache-hot tasks move only after cache_nice_tries failed passes; the NUMA allowance
    of §6.1 holds across nodes."""
    TOPO, EP = M.TOPO, M.EP
    n = len(TOPO)
    busy = CS[cpu, E.C_CURR] >= 0
    interval = EP[E.E_BALANCE_MS] * 1_000_000 * TOPO[cpu, P.TP_LLC_SIZE] * (16 if busy else 1)
    CS[cpu, E.C_BALANCE_NEXT] = now + max(EP[E.E_TICK_NS], interval - (EP[E.E_TICK_NS] if busy else 0))
    for level in range(1, 4):
        # 1. idle CPUs pull waiting tasks
        for d in range(n):
            if not _same_level(TOPO, cpu, d, level) or not P.idle(CS, d):
                continue
            busiest = -1
            for c in range(n):
                if c != d and _same_level(TOPO, cpu, c, level):
                    w = _waiting_fair(TS, CS, c)
                    if w >= 1 and (busiest < 0 or w > _waiting_fair(TS, CS, busiest)):
                        busiest = c
            if busiest < 0:
                break
            if TOPO[d, P.TP_NODE] != TOPO[busiest, P.TP_NODE] and not _numa_allows(CS, M, busiest, d):
                continue
            if _steal_one(H, TS, CS, ST, M, out, stats, busiest, d, now, level,
                          CS[d, E.C_BALANCE_FAILED] > EP[E.E_CACHE_NICE]):
                CS[d, E.C_BALANCE_FAILED] = 0
                stats[ST_PULLS] += 1
                _resched(CS, d)
            else:
                CS[d, E.C_BALANCE_FAILED] += 1
        # 2. this CPU pulls load
        if not busy:
            continue
        total = 0
        cap = 0
        busiest = -1
        bload = 0
        for c in range(n):
            if not _same_level(TOPO, cpu, c, level):
                continue
            ld = PL.cpu_load(CS, c, now)
            total += ld
            cap += TOPO[c, P.TP_CAPACITY]
            if c != cpu and _waiting_fair(TS, CS, c) >= 1 and (busiest < 0 or ld > bload):
                busiest = c
                bload = ld
        if busiest < 0 or cap == 0:
            continue
        local = PL.cpu_load(CS, cpu, now)
        if 100 * bload <= EP[E.E_IMB_PCT_LLC] * local:
            continue
        avg = total * 1024 // cap
        b_avg = bload * 1024 // TOPO[busiest, P.TP_CAPACITY]
        l_avg = local * 1024 // TOPO[cpu, P.TP_CAPACITY]
        if l_avg >= b_avg or l_avg >= avg:
            continue
        imb = min((b_avg - avg) * TOPO[busiest, P.TP_CAPACITY], (avg - l_avg) * TOPO[cpu, P.TP_CAPACITY]) // 1024
        if imb <= 0:
            continue
        if TOPO[cpu, P.TP_NODE] != TOPO[busiest, P.TP_NODE] and not _numa_allows(CS, M, busiest, cpu):
            continue
        if _steal_load(H, TS, CS, ST, M, out, stats, busiest, cpu, now, level, imb,
                       CS[cpu, E.C_BALANCE_FAILED]):
            CS[cpu, E.C_BALANCE_FAILED] = 0
            stats[ST_PULLS] += 1
            _resched(CS, cpu)
            return
        CS[cpu, E.C_BALANCE_FAILED] += 1


# -- RT push / pull (rt.md §6.4, §6.5) ---------------------------------------------------

@_jit
def _pushable(TS, CS, cpu):
    """Most urgent queued, not running RT task of cpu that may run elsewhere."""
    best = -1
    t = CS[cpu, E.C_RT_HEAD]
    while t >= 0:
        if t != CS[cpu, E.C_CURR] and TS[t, E.T_PINNED] < 0 and TS[t, E.T_CLASS] == E.CLS_RT:
            if best < 0 or TS[t, E.T_PRIO] < TS[best, E.T_PRIO] or \
                    (TS[t, E.T_PRIO] == TS[best, E.T_PRIO] and TS[t, E.T_SEQ] < TS[best, E.T_SEQ]):
                best = t
        t = TS[t, E.T_Q_NEXT]
    return best


@_jit
def _woken_rt_pushes(TS, CS, cpu, p):
    """task_woken_rt (rt.md §6.4): push after the wakeup of RT task p only if p did not
    preempt: p is not running, the CPU runs an RT (or stop) task, no reschedule is pending
    (a delayed one, see _resched_after, counts: the kernel has already sent it), p may run
    elsewhere, and the running task is pinned or at least as urgent as p. (Without this
    test an RT wakeup onto a CPU running a fair task would reschedule at once through the
    push loop's "more urgent than curr" exit, skipping the wakeup latency.)"""
    curr = CS[cpu, E.C_CURR]
    if curr < 0 or curr == p or TS[curr, E.T_STATE] != E.S_RUNNING or TS[curr, E.T_CLASS] > E.CLS_RT:
        return False
    if CS[cpu, E.C_NEED_RESCHED] or CS[cpu, E.C_RESCHED_AT] >= 0 or TS[p, E.T_PINNED] >= 0:
        return False
    return TS[curr, E.T_PINNED] >= 0 or TS[curr, E.T_PRIO] <= TS[p, E.T_PRIO]


@_jit
def _push_rt(H, TS, CS, ST, M, Q, out, stats, cpu, now):
    """push_rt_tasks: move waiting RT tasks to CPUs running less urgent work."""
    if not M.EP[E.E_RT_PUSH]:
        return
    for _ in range(8):
        x = _pushable(TS, CS, cpu)
        if x < 0:
            return
        curr = CS[cpu, E.C_CURR]
        if curr >= 0 and TS[curr, E.T_STATE] == E.S_RUNNING and TS[x, E.T_PRIO] < TS[curr, E.T_PRIO]:
            _resched(CS, cpu)
            return
        target = P.find_lowest_rq(TS, CS, M.TOPO, M.AFF, x, cpu)
        if target < 0 or target == cpu or not (schema.MAX_RT_LEVEL - TS[x, E.T_PRIO] > P.rt_level(TS, CS, target)):
            return
        _migrate(H, TS, CS, ST, M, out, stats, x, cpu, target, now)
        stats[ST_PUSHES] += 1
        _check_preempt(H, TS, CS, ST, M, Q, stats, target, x, now)


@_jit
def _pull_rt(H, TS, CS, ST, M, out, stats, cpu, prev, now):
    """pull_rt_task: an RT task left cpu; take the most urgent waiting RT task of another
    CPU that is more urgent than what remains here and than what that CPU runs."""
    here = P.rt_level(TS, CS, cpu)
    best = -1
    src = -1
    for c in range(len(M.TOPO)):
        if c == cpu:
            continue
        x = _pushable(TS, CS, c)
        if x < 0 or not P.allowed(TS, M.AFF, x, cpu) or schema.MAX_RT_LEVEL - TS[x, E.T_PRIO] <= here:
            continue
        run = CS[c, E.C_CURR]
        if run >= 0 and TS[run, E.T_STATE] == E.S_RUNNING and \
                (TS[run, E.T_CLASS] == E.CLS_FAIR or TS[x, E.T_PRIO] < TS[run, E.T_PRIO]):
            continue  # more urgent than what s runs (a fair task, too): it will run there soon anyway
        if best < 0 or TS[x, E.T_PRIO] < TS[best, E.T_PRIO]:
            best = x
            src = c
    if best >= 0:
        _migrate(H, TS, CS, ST, M, out, stats, best, src, cpu, now)
        stats[ST_PULLS] += 1


def _sig():
    M = types.int64[:, ::1]
    V = types.int64[::1]
    hooks = types.UniTuple(FN, len(CALLED_HOOKS))
    out = types.NamedTuple(tuple(types.Array(numba.from_dtype(f.numpy_dtype), 1, "C") for f in schema.INTERVALS.fields)
                           + (types.int32[::1],), Intervals)
    return types.int64(types.NamedUniTuple(hooks, 2, Hooks), types.UniTuple(FN, 2), M, M,
                       types.NamedTuple((M, M, V, M, M, V), ClassState), types.NamedUniTuple(M, 3, Workload),
                       types.NamedTuple((M, M, V, M, M), Machine), types.NamedTuple((V, M, V, V), Heap), out, V)


_COMPILED = []


def compiled():
    """The engine compiled for function-typed policy hooks (once; then from the disk cache)."""
    if not _COMPILED:
        _COMPILED.append(jit(_sig(), **NO_NRT)(run.py_func))
    return _COMPILED[0]
