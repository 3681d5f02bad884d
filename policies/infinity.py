"""The Infinity scheduler v4 (specs/infinity.md): EEVDF (policies/eevdf.py) with a
per-task runtime EMA, and its RT class (policies/infinity_rt.py).

Fair class (§5): each task carries ``ema`` (ns, ceiling B = 2 ms). H1 climbs it toward
B at every runtime update (Δ/τ of the gap, τ = B·F/A = 32 ms), H5 decays it at a wakeup
by s/τ of a sleep of s ns; ``eff`` = ema − ⌊(ema − prev_ema)/2⌋ (§5.0). eff shrinks the
EEVDF request size at deadline renewal (H3: carriage/n, −up to 75 %, SMT ÷ divisor,
clamped to [400 µs, 2 ms]), speeds up vruntime by up to 4× (H2), and scales a waking
task's deadline offset by eff/B (H6). H7a lets a futex waiter lose slice protection;
H8 zeroes the EMA at fork. Everything else is stock EEVDF: the hooks below call
eevdf.py's building blocks with Infinity's values (the slice at renewal, the vruntime
delta, whether slice protection counts, the wakeup deadline) and reuse its other hooks.

Integer rules follow §2: u64 arithmetic, products left to right with modulo-2^64 wrap
(``u64_faithful``), arithmetic shift for the signed two-pole term. PT holds int64 bit
patterns of the u64 values.

Units: ns everywhere (ema, slices, timestamps); pct/k/den are percent.

Which assumptions and variants are implemented (§9.2, §10):

* ``variant="v3"`` (§10.1): implemented (no prev_ema, linear wakeup decay over 1.25 ms,
  vslice boost without +1; the RT v3 decay at sleep dequeue is in infinity_rt.py, see
  "shared parameters" below).
* ``variant="dev"`` (§10.2): not implemented — the spec gives a summary only ("implement
  only on request"); selecting it is refused.
* ``v45_migration_hysteresis`` (§10.3): the ``can_migrate`` hook. The engine's balancer
  (replay/_engine.py ``_steal_one``/``_steal_load``) asks it for every candidate, with
  ``early`` = the CPU's balance failures <= cache_nice_tries (the engine has no active
  balance, so the "not active" condition always holds; newidle counts as early).
* ``v45_asym_placement`` (§10.4) and ``v47_home_node`` (§10.5): implemented in
  ``select_cpu`` (wakeups only, raw ema == 0, before H5) from the CPU matrix's
  topology columns ``C_CAPACITY``/``C_NODE``, which the engine fills from the topology
  (on a machine whose CPUs all have one capacity they never fire). Allowed CPUs are
  "pinned CPU or all": the affinity matrix is not passed to hooks.
* SMT secondary (H3, §9.2): from ``C_CORE`` (lowest-numbered CPU of a core is primary)
  when ``C_CAPACITY`` is filled; otherwise false everywhere, as §9.2 prescribes without
  SMT data. The engine fills them from the topology.
* ``futex_classifier`` (§9.3): "none" (the default; the bypass never fires) and
  "same_tgid_waker": ``futex_bursts`` classifies the workload's blocks, the engine copies
  the flag of the running burst into ``T_FUTEX_BURST``, and H7a treats the task as
  futex_waiting in the last ``futex_window_ns`` of such a burst. "syscall" is refused: it
  needs syscall events, which the readers do not ingest.
* ``ema_init="warmup"`` (§9.2): refused — running H1/H5/R1/R3 over the observed schedule
  needs the observed schedule inside the policy, which the protocol does not pass
  (``state()``/``pack()`` see only sizes and parameters). "zero" (as if just forked) is
  what tasks present at the start of the replay get.
* Shared parameters: ``fp_shift``, ``u64_faithful`` and ``variant`` are read by both
  classes. They are declared once (infinity_rt.SHARED_PARAMS) and set for the fair class;
  the engine passes the fair values on to the RT class (``RT.pack(..., shared=...)``).
* Cross-class state: the kernel's one ``last_sleep_ns`` per task is kept per class; a
  task that last slept in the other class is measured from the engine's ``T_ACCT``.
* §2.1: the climb has no ceiling, so Δ must stay ≤ τ; the engine charges at least every
  tick, and ``pack`` refuses an HZ whose tick exceeds τ (instead of asserting in a hook).
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

from . import _state as E
from traces._numba import INTERNAL, NO_NRT, jit
from traces.errors import TraceError

from . import eevdf as EV
from . import infinity_rt as RT
from ._fair_common import calc_delta_fair
from ._params import Param, resolve
from ._protocol import DEQ_SLEEP, ENQ_NEW, ENQ_REQUEUE, ENQ_WAKEUP, SIG, make_state
from .infinity_rt import mul_div_u64

DESCRIPTION = "Infinity v4 (EEVDF + per-task runtime EMA) with the Infinity RT class"

# -- per-task columns: EEVDF's, then Infinity's (§4)
EMA = EV.N_TASK_COLS + 0         # runtime EMA (ns)
PREV_EMA = EV.N_TASK_COLS + 1    # EMA before its last update (ns)
LAST_SLEEP = EV.N_TASK_COLS + 2  # last sleep dequeue (ns timestamp; 0 = never slept)
FUTEX = EV.N_TASK_COLS + 3       # futex_waiting
N_TASK_COLS = EV.N_TASK_COLS + 4
N_CPU_COLS = EV.N_CPU_COLS

# -- packed parameters: EEVDF's vector, then Infinity's
P_CARRIAGE = EV.N_PARAMS + 0
P_SMT_DIV = EV.N_PARAMS + 1
P_SLICE_MIN = EV.N_PARAMS + 2
P_B = EV.N_PARAMS + 3
P_A = EV.N_PARAMS + 4
P_F = EV.N_PARAMS + 5
P_DEN = EV.N_PARAMS + 6          # B·F (= A·τ)
P_FAITHFUL = EV.N_PARAMS + 7
P_V3 = EV.N_PARAMS + 8
P_FUTEX_WINDOW = EV.N_PARAMS + 9
P_ASYM = EV.N_PARAMS + 10
P_HOME = EV.N_PARAMS + 11
P_HYST = EV.N_PARAMS + 12
N_PARAMS = EV.N_PARAMS + 13

V3_DECAY_NS = 20_000_000  # v3: f = ⌊s·A·F / 20 ms⌋ (full decay at s >= 1.25 ms), §10.1

_NK = "hard constant of v4 (not a kernel tunable)"
INF_PARAMS = (
    Param("carriage_ns", 2_000_000, "ns", "infinity.md §3, H3", "fair-share window split among queued tasks "
          "(sysctl; clamped to [1000, 100000000] like the kernel)", "ns"),
    Param("smt_divisor", 2, "", "infinity.md §3, H3", "slice divisor on SMT secondary threads, 1 = off "
          "(sysctl; clamped to [1, 16])", "int"),
    Param("slice_min_ns", 400_000, "ns", "infinity.md §3, H3", f"slice floor; {_NK}", "ns", lo=1, hi=10**9),
    Param("budget_max_ns", 2_000_000, "ns", "infinity.md §3", f"EMA and slice ceiling B; {_NK}", "ns",
          lo=1_000, hi=10**9),
    Param("ema_alpha", 16, "1/2^fp_shift", "infinity.md §3", f"climb/decay numerator A; {_NK}", "int",
          lo=1, hi=1 << 20),
    RT.SHARED_PARAMS[0],  # fp_shift
    RT.SHARED_PARAMS[1],  # u64_faithful
    Param("futex_classifier", "none", "", "infinity.md §9.3", "which blocks are futex waits: none, "
          "same_tgid_waker (S, woken by a thread of its process); syscall needs syscall events (refused)",
          "choice", ("none", "syscall", "same_tgid_waker")),
    Param("futex_window_ns", 0, "ns", "infinity.md §9.3", "futex_waiting during the last ns of a futex-wait "
          "burst (no effect with futex_classifier=none or 0)", "ns", lo=0, hi=10**9),
    Param("ema_init", "zero", "", "infinity.md §9.2", "EMA of tasks alive at the start: zero (as if forked); "
          "warmup is not implementable in this engine", "choice", ("zero", "warmup")),
    Param("ema_warmup_ns", 200_000_000, "ns", "infinity.md §9.2", "fair warm-up span for ema_init=warmup",
          "ns", lo=0, hi=10**12),
    RT.SHARED_PARAMS[2],  # variant
    Param("v45_migration_hysteresis", False, "bool", "infinity.md §10.3", "balancer refuses to move ema-0 "
          "tasks while the balance has failed <= cache_nice_tries times", "bool"),
    Param("v45_asym_placement", False, "bool", "infinity.md §10.4", "wake ema-0 tasks on the biggest "
          "capacity class (machines with asymmetric capacities only)", "bool"),
    Param("v47_home_node", False, "bool", "infinity.md §10.5", "as v45_asym_placement, preferring the "
          "previous CPU's NUMA node", "bool"),
)

OWN_PARAMS = EV.OWN_PARAMS + INF_PARAMS
PARAMS = OWN_PARAMS + RT.PARAMS

_EV_NAMES = tuple(p.name for p in EV.OWN_PARAMS)


def pack(values: dict | None, n_cpus: int, hz: int) -> np.ndarray:
    """Fair-class parameters (names of OWN_PARAMS) -> EEVDF's vector followed by Infinity's.
    Refuses the variants and assumptions this engine cannot express (module docstring)."""
    v = resolve(OWN_PARAMS, values, "infinity")
    if v["variant"] == "dev":
        raise TraceError("infinity: variant=dev is specified only in summary (infinity.md §10.2) and is not "
                         "implemented; use v4 or v3")
    if v["futex_classifier"] == "syscall":
        raise TraceError("infinity: futex_classifier=syscall needs raw_syscalls/syscalls events, which the "
                         "trace readers do not ingest; use same_tgid_waker or none")
    if v["ema_init"] != "zero":
        raise TraceError("infinity: ema_init=warmup is not implementable: the policy protocol does not pass "
                         "the observed schedule to the class; only 'zero' is available")
    carriage = min(max(int(v["carriage_ns"]), 1_000), 100_000_000)
    if carriage != v["carriage_ns"]:
        warnings.warn(f"infinity: carriage_ns={v['carriage_ns']} clamped to {carriage} (kernel sysctl range)")
    div = min(max(int(v["smt_divisor"]), 1), 16)
    if div != v["smt_divisor"]:
        warnings.warn(f"infinity: smt_divisor={v['smt_divisor']} clamped to {div} (kernel sysctl range)")
    f = 1 << int(v["fp_shift"])
    den = v["budget_max_ns"] * f
    tau = den // v["ema_alpha"]
    if 1_000_000_000 // hz > tau:
        raise TraceError(f"infinity: the tick ({1_000_000_000 // hz} ns at HZ={hz}) exceeds the EMA time "
                         f"constant tau = {tau} ns; a runtime update longer than tau overflows the EMA "
                         "(infinity.md §2.1). Use a higher hz.")
    p = np.zeros(N_PARAMS, np.int64)
    p[: EV.N_PARAMS] = EV.pack({k: v[k] for k in _EV_NAMES}, n_cpus, hz)
    p[P_CARRIAGE] = carriage
    p[P_SMT_DIV] = div
    p[P_SLICE_MIN] = v["slice_min_ns"]
    p[P_B] = v["budget_max_ns"]
    p[P_A] = v["ema_alpha"]
    p[P_F] = f
    p[P_DEN] = den
    p[P_FAITHFUL] = 1 if v["u64_faithful"] else 0
    p[P_V3] = 1 if v["variant"] == "v3" else 0
    p[P_FUTEX_WINDOW] = v["futex_window_ns"]
    p[P_ASYM] = 1 if v["v45_asym_placement"] else 0
    p[P_HOME] = 1 if v["v47_home_node"] else 0
    p[P_HYST] = 1 if v["v45_migration_hysteresis"] else 0
    return p


state = make_state(N_TASK_COLS, N_CPU_COLS)


_jit = jit(**NO_NRT)                   # helpers the tests also call from Python
_internal = jit(**INTERNAL, **NO_NRT)  # called from compiled code only: no wrappers to link (traces/_numba.py)
_hook = jit(SIG, **NO_NRT)


# -- the EMA (§5.0, H1, H5) --------------------------------------------------------------

@_jit
def eff_of(PT, PP, t):
    """§5.0: eff = max(0, ema − ((ema − prev_ema) >> 1)), signed; v3: eff = ema."""
    e = PT[t, EMA]
    if PP[P_V3]:
        return e
    d = e - PT[t, PREV_EMA]
    x = e - (d >> 1)
    return x if x > 0 else 0


@_internal
def climb(PT, PP, t, delta):
    """H1: prev_ema = ema; ema += ⌊(B − ema)·Δ·A / (B·F)⌋ (u64, no ceiling clamp)."""
    e = PT[t, EMA]
    if not PP[P_V3]:
        PT[t, PREV_EMA] = e
    gap = np.int64(np.uint64(PP[P_B]) - np.uint64(e))  # wraps when ema > B (§11 item 6)
    PT[t, EMA] = e + mul_div_u64(gap, delta, PP[P_A], PP[P_DEN], PP[P_FAITHFUL], PP[P_B] - e)


@_internal
def decay(PT, PP, t, s):
    """H5: prev_ema = ema; ema −= min(ema, ⌊ema·s·A / (B·F)⌋) for a sleep of s ns (§2.1 wrap).
    v3 (§10.1): f = min(⌊s·A·F / 20 ms⌋, F); ema −= ⌊ema·f / F⌋."""
    e = PT[t, EMA]
    if PP[P_V3]:
        fct = min(mul_div_u64(s, PP[P_A], PP[P_F], V3_DECAY_NS, PP[P_FAITHFUL], PP[P_F]), PP[P_F])
        PT[t, EMA] = e - e * fct // PP[P_F]
        return
    PT[t, PREV_EMA] = e
    step = mul_div_u64(e, s, PP[P_A], PP[P_DEN], PP[P_FAITHFUL], e)
    PT[t, EMA] = e - min(step, e)


@_jit
def _k_of(PP, eff):
    """pct = ⌊eff·100 / B⌋, k = ⌊pct·3 / 4⌋ (percent)."""
    pct = eff * 100 // PP[P_B]
    return pct * 3 // 4


@_jit
def scale_vruntime(PP, v, eff):
    """H2: v·100/den with den = 100 − k (1× for pct <= 1, < 4× in practice). den <= 0 needs
    ema > B (§11 item 6), which pack's tick check rules out; it is left unscaled then."""
    if eff > 0:
        den = 100 - _k_of(PP, eff)
        if 0 < den < 100:
            v = v * 100 // den
    return v


@_jit
def smt_secondary(CS, cpu):
    """True iff cpu is not the lowest-numbered CPU of its SMT core (§H3). Without topology
    in the CPU matrix (C_CAPACITY 0) there is no SMT: false (§9.2)."""
    if CS[cpu, E.C_CAPACITY] <= 0:
        return False
    core = CS[cpu, E.C_CORE]
    for c in range(cpu):
        if CS[c, E.C_CORE] == core:
            return True
    return False


@_jit
def infinity_slice(TS, CS, PT, PC, PP, cpu, t):
    """H3: share = ⌊carriage / n⌋ (n = the entities queued on the task's cfs_rq incl. the
    running one and delayed ones, >= 1: its group's queue under task groups, else the
    CPU's fair tasks), × (100 − k)/100 if eff > 0, ÷ smt_divisor on an SMT secondary,
    clamped to [slice_min, B]. Wall ns."""
    n = EV.queue_len(TS, CS, PT, PC, cpu, TS[t, E.T_GROUP])
    if n <= 0:
        n = 1
    share = PP[P_CARRIAGE] // n
    eff = eff_of(PT, PP, t)
    if eff > 0:
        share = share * (100 - _k_of(PP, eff)) // 100
    if PP[P_SMT_DIV] > 1 and smt_secondary(CS, cpu):
        share = share // PP[P_SMT_DIV]
    return min(max(share, PP[P_SLICE_MIN]), PP[P_B])


@_internal
def wakeup_vslice(PT, PP, t, vs):
    """H6: vs unchanged if eff >= B, else ⌊vs·eff / B⌋ + 1 (virtual ns).
    v3: pct = ⌊ema·100/B⌋, boost = ⌊(100 − pct)·50/100⌋, ⌊vs·(100 − boost)/100⌋."""
    if PP[P_V3]:
        pct = PT[t, EMA] * 100 // PP[P_B]
        boost = (100 - pct) * 50 // 100
        return vs * (100 - boost) // 100
    eff = eff_of(PT, PP, t)
    if eff >= PP[P_B]:
        return vs
    return vs * eff // PP[P_B] + 1


# -- H7 ------------------------------------------------------------------------------

@_jit
def _tree_leftmost(TS, CS, PT, PC, cpu):
    """H7b: the leftmost tree entity (earliest deadline, not the running one), -1."""
    curr = PC[cpu, EV.Q_CURR]
    best = -1
    t = CS[cpu, E.C_FAIR_HEAD]
    while t >= 0:
        if t != curr and (best < 0 or PT[t, EV.D] < PT[best, EV.D]
                          or (PT[t, EV.D] == PT[best, EV.D] and TS[t, E.T_SEQ] < TS[best, E.T_SEQ])):
            best = t
        t = TS[t, E.T_Q_NEXT]
    return best


@_internal
def _futex_waiting(TS, PT, PP, t):
    """futex_waiting (§9.3): the flag, or the last futex_window_ns of a burst that the
    classifier found to end in a futex wait (the engine's progress is current: hooks run
    after its accounting)."""
    if t < 0:
        return False
    if PT[t, FUTEX] != 0:
        return True
    return TS[t, E.T_FUTEX_BURST] != 0 and PP[P_FUTEX_WINDOW] > 0 and \
        TS[t, E.T_BURST_END] - TS[t, E.T_PROGRESS] <= PP[P_FUTEX_WINDOW]


def futex_bursts(wl, values: dict) -> tuple[np.ndarray, str | None]:
    """Per workload burst: 1 if it ends in a block the futex classifier (§9.3) calls a futex
    wait; and a warning when the classifier cannot work on this workload. ``same_tgid_waker``:
    the task blocked in S and the next burst was started by a wakeup from another thread of
    its process (a task-context action of the workload; the workload makes
    interrupt-context wakeups external)."""
    v = resolve(OWN_PARAMS, values, "infinity")
    B = wl.bursts.height
    out = np.zeros(B, np.int64)
    if v["futex_classifier"] != "same_tgid_waker" or B == 0:
        return out, None
    if not (wl.tasks["tgid"] > 0).any():
        return out, ("futex_classifier=same_tgid_waker: the trace records no process ids (tgid; trace-cmd "
                     "record -T, or the TGID column of tracefs) so no block was classified as a futex wait")
    if wl.actions.height == 0:
        return out, None
    task = wl.bursts["task"].to_numpy()
    end_kind = wl.bursts["end_kind"].to_numpy()
    sleep = wl.bursts["sleep_state"].to_numpy()
    tgid = wl.tasks["tgid"].to_numpy().astype(np.int64)
    a = wl.actions.filter(pl.col("kind") == 0)
    actor, target = a["task"].to_numpy(), a["target_burst"].to_numpy()
    prev = target - 1
    ok = prev >= 0
    actor, target, prev = actor[ok], target[ok], prev[ok]
    x = task[target]
    ok = (task[prev] == x) & (actor != x) & (tgid[x] > 0) & (tgid[actor] == tgid[x]) & (end_kind[prev] == 0) \
        & (sleep[prev] == 1)  # prev_state S (TASK_INTERRUPTIBLE) only
    out[prev[ok]] = 1
    return out, None


# -- hooks: stock EEVDF (policies/eevdf.py) with H1-H8 where they apply ---------------

@_hook
def init_task(TS, CS, PT, PC, PP, cpu, t, parent, now):
    """Stock EEVDF setup, then H8: ema = prev_ema = 0, last_sleep = the forking CPU's clock
    (also for tasks alive at the start of the replay: ema_init=zero)."""
    EV.init_entity(PT, PP, t, parent)
    PT[t, EMA] = 0
    PT[t, PREV_EMA] = 0
    PT[t, LAST_SLEEP] = now
    return 0


@_hook
def enqueue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """H5 (wakeups only, not fork or delayed requeue) → stock enqueue/place_entity, which
    resets se.slice to base_slice when it places → H6 on the wakee's fresh request."""
    wake = (flags & ENQ_WAKEUP) != 0 and (flags & (ENQ_NEW | ENQ_REQUEUE)) == 0
    if wake:
        last = PT[t, LAST_SLEEP]
        if TS[t, E.T_ACCT] > last:  # it last slept in the RT class (shared last_sleep_ns)
            last = TS[t, E.T_ACCT]
        if last != 0 and now > last:
            decay(PT, PP, t, now - last)
        PT[t, FUTEX] = 0
    fresh = EV.enqueue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now)
    if wake and fresh:  # not when placement kept a relative deadline
        PT[t, EV.D] = PT[t, EV.V] + wakeup_vslice(PT, PP, t, PT[t, EV.D] - PT[t, EV.V])
    return 0


@_hook
def dequeue(TS, CS, PT, PC, PP, cpu, t, flags, now):
    """H4 (sleep stamp, even if the dequeue is delayed) → stock dequeue (its lag limit from
    the task's own slice, se.slice)."""
    if flags & DEQ_SLEEP:
        PT[t, LAST_SLEEP] = now
    return EV.dequeue_entity(TS, CS, PT, PC, PP, cpu, t, flags, now)


@_hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """Stock pick_eevdf with H7a (a futex-waiting current task gets no slice protection) and
    H7b (an empty pick falls back to the leftmost; pick_eevdf finds nothing only on an empty
    queue, where the leftmost is none too, so it never changes the pick)."""
    curr = EV.running_task(CS, PT, PC, cpu)
    best = EV.pick_next(TS, CS, PT, PC, PP, cpu, not _futex_waiting(TS, PT, PP, curr), now)
    if best < 0:
        best = _tree_leftmost(TS, CS, PT, PC, cpu)
    return best


@_hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    """Stock update_curr with H1 (climb) and H2 (scaled vruntime) for Δ > 0, and H3 (the
    Infinity slice) when the request completes; resched as stock (eevdf.md §4)."""
    if delta > 0:
        climb(PT, PP, t, delta)
        PT[t, EV.V] += scale_vruntime(PP, calc_delta_fair(delta, TS, t), eff_of(PT, PP, t))
    renewed = PT[t, EV.V] >= PT[t, EV.D]
    if renewed:
        EV.renew_request(TS, PT, t, infinity_slice(TS, CS, PT, PC, PP, cpu, t))
    resched = EV.update_curr_end(TS, CS, PT, PC, cpu, t, renewed)
    return resched | EV.update_curr_group(TS, CS, PT, PC, PP, cpu, t, delta)


@_hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    """Stock check_preempt_wakeup_fair (eevdf.md §8; PREEMPT_SHORT compares the tasks' own
    slices) with H7a in the protected pick."""
    curr = EV.running_task(CS, PT, PC, cpu)
    return EV.check_preempt_wakeup(TS, CS, PT, PC, PP, cpu, p, not _futex_waiting(TS, PT, PP, curr))


#: stock: slice protection from the tasks' own slices (set_protect_slice), and no tick rule
set_next = EV.set_next
put_prev = EV.put_prev
tick = EV.tick
yield_task = EV.yield_task  # §11 of eevdf.md: the patch leaves yield_task_fair as it is
#: task groups as stock (docs/engine-model.md §13): the patch changes the tasks' slices and
#: vruntime, not the group entities'
GROUPS = EV.GROUPS


@_hook
def select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):
    """§10.4/§10.5 (off by default): a waking task (not a fork) whose raw ema is 0, on a
    machine with asymmetric capacities, goes to the lowest-numbered CPU of the highest
    capacity class; with v47_home_node, to the first CPU on its previous CPU's node walking
    the classes from the highest down (else that same fallback). Pinned tasks stay."""
    if not (PP[P_ASYM] or PP[P_HOME]) or TS[t, E.T_NEW] or PT[t, EMA] != 0 or TS[t, E.T_PINNED] >= 0:
        return cpu
    n = CS.shape[0]
    top = 0
    bottom = 1 << 62
    for c in range(n):
        top = max(top, CS[c, E.C_CAPACITY])
        bottom = min(bottom, CS[c, E.C_CAPACITY])
    if top <= 0 or top == bottom:
        return cpu  # no capacity data, or symmetric: never fires
    home = CS[prev, E.C_NODE] if (PP[P_HOME] and prev >= 0) else -1
    fallback = -1
    cap = top + 1
    while True:  # capacity classes, highest first
        nxt = -1
        for c in range(n):
            if CS[c, E.C_CAPACITY] < cap and CS[c, E.C_CAPACITY] > nxt:
                nxt = CS[c, E.C_CAPACITY]
        if nxt < 0:
            break
        cap = nxt
        for c in range(n):
            if CS[c, E.C_CAPACITY] == cap:
                if fallback < 0:
                    fallback = c
                    if home < 0:
                        return c
                if CS[c, E.C_NODE] == home:
                    return c
    return fallback if fallback >= 0 else cpu


@_hook
def can_migrate(TS, CS, PT, PC, PP, cpu, t, early, now):
    """§10.3 v45_migration_hysteresis (off by default): while the balance has failed no
    more than cache_nice_tries times (``early``), a task whose raw ema is 0 (a freshly
    woken long sleeper, or never run) is not moved."""
    if PP[P_HYST] and early and PT[t, EMA] == 0:
        return 0
    return 1
