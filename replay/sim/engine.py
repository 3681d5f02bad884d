"""Simulate a workload through a policy on a topology: the Python side of the engine.

>>> from replay.sim import simulate
>>> sched, info = simulate(workload, policy="eevdf", topology=topo, params={"base_slice_ns": "1ms"},
...                        latencies=prepared.latencies, tasks=prepared.tasks)

``simulate`` takes a workload (``replay.model.workload``); ``replay.replay`` takes a trace or
a prepared trace and calls it. The result is a :class:`replay.model.schedule.Schedule` with
the same intervals table as the observed schedule, so ``replay.metrics.measure`` applies to
both. Steps: parameters checked and resolved; the workload turned into the kernel's
matrices (with the ``--set`` overrides applied); the engine parameter vector; the kernel
run (its buffers grown until the output fits); the schedule and a ReplayInfo built.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from policies import _state as S
from policies import policy_label
from policies._params import resolve
from policies._protocol import hooks_of
from traces import schema
from traces._memory import small_pages
from traces._numba import wait_for_helper
from traces.errors import TraceError

from ..model.latencies import NONE, Latencies
from ..model.overrides import Override, cpu_text, parse_all
from ..model.prepared import CONFINE_MIN_WAITS
from ..model.schedule import Schedule
from ..model.spans import marks as span_marks, replayed as replayed_spans
from ..model.topology import Topology, from_spec
from ..model.topology import resolve as resolve_topology
from ..model.workload import Workload
from . import _engine as EN
from . import _placement as P
from . import warm
from .params import ENGINE_PARAMS, asym_rules, kernel_before, policy_module


@dataclass
class ReplayInfo:
    """What a replay did: its inputs and counters."""

    policy: str
    topology: str
    params: dict
    seed: int
    events_simulated: int
    wall_s: float
    counters: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Values:
    """A replay's parameters, checked: the engine's (parsed), the policy's as given,
    split between its fair and RT parts."""

    engine: dict
    policy: dict
    fair: dict
    rt: dict


@dataclass
class _Arrays:
    """The workload as the kernel reads it (replay/sim/_engine.py: WT_*, WB_*, WA_*), the
    affinity sets, and what the overrides changed."""

    WT: np.ndarray
    WB: np.ndarray
    WA: np.ndarray
    AFF: np.ndarray
    tids: np.ndarray
    prio: np.ndarray        # per burst, after the overrides
    cls: np.ndarray
    changed: list[int]      # tids an override applied to


def _class_and_policy(prio: np.ndarray, comm_is_migration: np.ndarray, rt_policy: str):
    """Engine class (CLS_*) and policy (POL_*) of each burst from its kernel prio: below
    0 (deadline) and the migration/N threads replay in the stop class, RT prios in RT."""
    cls = np.where(prio < 0, S.CLS_STOP, np.where(prio < schema.MAX_RT_PRIO, S.CLS_RT, S.CLS_FAIR))
    cls = np.where((prio == 0) & comm_is_migration, S.CLS_STOP, cls)
    rt = S.POL_RR if rt_policy == "rr" else S.POL_FIFO
    pol = np.where(cls == S.CLS_FAIR, S.POL_NORMAL, rt)
    return cls.astype(np.int64), pol.astype(np.int64)


def _imb_numa_nr(topo: Topology) -> int:
    """placement.md §1: imb_numa_nr of the first domain above the LLC."""
    if topo.n_nodes <= 1 and topo.n_llcs <= 1:
        return 1
    llcs_per_node = max(1, topo.n_llcs // max(topo.n_nodes, 1))
    if llcs_per_node > 1:
        return llcs_per_node
    return max(1, topo.n_llcs)


def tasks_of_workload(wl: Workload) -> pl.DataFrame:
    """A tasks table (the schema.TASKS columns metrics use) from the workload alone, for
    a replay without the trace's own tasks table."""
    b = wl.bursts.group_by("task").agg(prio=pl.col("prio").last())
    t = wl.tasks.with_row_index("task").with_columns(pl.col("task").cast(pl.Int64)).join(b, on="task", how="left")
    prio = t["prio"].fill_null(schema.DEFAULT_PRIO).to_numpy()
    cls = np.where(prio < 0, schema.CLASS_DEADLINE, np.where(prio < schema.MAX_RT_PRIO, schema.CLASS_RT,
                                                             schema.CLASS_FAIR))
    return pl.DataFrame({"tid": t["tid"], "tgid": t["tgid"], "comm": t["comm"].cast(pl.Categorical),
                         "prio": pl.Series(prio).cast(pl.Int16), "sched_class": pl.Series(cls).cast(pl.Int8),
                         "nice": pl.Series(np.where(cls == schema.CLASS_FAIR, schema.nice_of_prio(prio), 0))
                         .cast(pl.Int8)})


# -- 1. parameters ------------------------------------------------------------------------

def _values(mod, policy: str, params: dict | None) -> _Values:
    """Check every name against the engine's and the policy's parameters; parse the
    engine's (the policy parses its own when packing)."""
    given = dict(params or {})
    eng_names = {p.name for p in ENGINE_PARAMS}
    pol_names = {p.name for p in mod.PARAMS}
    unknown = set(given) - eng_names - pol_names
    if unknown:
        raise TraceError(f"unknown parameter(s) {', '.join(sorted(unknown))} for policy {policy}; valid: "
                         f"{', '.join(sorted(eng_names | pol_names))}")
    engine = resolve(ENGINE_PARAMS, {k: v for k, v in given.items() if k in eng_names}, "the engine")
    pol = {k: v for k, v in given.items() if k in pol_names}
    rt_names = {p.name for p in mod.RT.PARAMS}
    return _Values(engine, pol, {k: v for k, v in pol.items() if k not in rt_names},
                   {k: v for k, v in pol.items() if k in rt_names})


# -- 2. the workload as matrices ----------------------------------------------------------

def _apply_overrides(overrides, tids, tgids, comms, first_burst, n_bursts, prio, cls, pol, WT, AFF_rows,
                     cpu_of: np.ndarray, warnings) -> list[int]:
    """Apply --set overrides to the per-burst prio/class/policy arrays and the tasks'
    affinity (in place; ``cpu_of`` maps the topology's CPU ids to the engine's, -1 for
    CPUs the replay leaves out). Returns the tids changed."""
    C = len(cpu_of)
    rt_pol = {"fifo": S.POL_FIFO, "rr": S.POL_RR}
    fair_pol = {"fair": S.POL_NORMAL, "batch": S.POL_BATCH, "idle": S.POL_IDLE}
    changed = []
    notes: dict[str, str] = {}  # one warning per override and kind, not one per task
    kept_pins: dict[str, int] = {}
    for i, (tid, tgid, comm) in enumerate(zip(tids.tolist(), tgids.tolist(), comms)):
        hit = [o for o in overrides if o.matches(tid, tgid, comm)]
        if not hit:
            continue
        changed.append(tid)
        sl = slice(first_burst[i], first_burst[i] + n_bursts[i])
        for o in hit:
            if o.policy in rt_pol:
                r = o.rtprio if o.rtprio is not None else 50
                prio[sl] = schema.prio_of_rtprio(r)
                cls[sl] = S.CLS_RT
                pol[sl] = rt_pol[o.policy]
            elif o.policy in fair_pol:
                nice = o.nice if o.nice is not None else np.where(cls[sl] == S.CLS_FAIR, schema.nice_of_prio(prio[sl]),
                                                                  0)
                prio[sl] = schema.prio_of_nice(nice)
                cls[sl] = S.CLS_FAIR
                pol[sl] = fair_pol[o.policy]
            else:
                if o.nice is not None:
                    prio[sl] = np.where(cls[sl] == S.CLS_FAIR, schema.prio_of_nice(o.nice), prio[sl])
                if o.rtprio is not None:
                    prio[sl] = np.where(cls[sl] == S.CLS_RT, schema.prio_of_rtprio(o.rtprio), prio[sl])
            if o.cpus is not None:
                if WT[i, EN.WT_PINNED] >= 0:
                    # a per-CPU kernel thread: the kernel refuses to change its affinity
                    # (PF_NO_SETAFFINITY), so it keeps its CPU
                    kept_pins[o.text] = kept_pins.get(o.text, 0) + 1
                    continue
                cpus = [c for c in o.cpus if c < C]
                if len(cpus) < len(o.cpus):
                    notes[f"{o.text}:range"] = (f"{o.text}: CPUs {cpu_text(sorted(c for c in o.cpus if c >= C))} "
                                                f"are not in the topology ({C} CPUs); ignored")
                off = [c for c in cpus if cpu_of[c] < 0]
                if off:
                    notes[f"{o.text}:offline"] = (f"{o.text}: CPUs {cpu_text(sorted(off))} were offline in the "
                                                  "recording; ignored")
                cpus = [int(cpu_of[c]) for c in cpus if cpu_of[c] >= 0]
                if not cpus:
                    raise TraceError(f"--set {o.text!r}: none of its CPUs exist in the topology ({C} CPUs)")
                _set_affinity(WT, i, AFF_rows, cpus, cpu_of)
    warnings.extend(notes.values())
    warnings.extend(f"{text}: {n} per-CPU kernel threads keep their CPU (the kernel does not let their affinity "
                    "change)" for text, n in kept_pins.items())
    return changed


def _set_affinity(WT: np.ndarray, i: int, AFF_rows: list, ids: list[int], cpu_of: np.ndarray) -> None:
    """Task i may run on the engine's CPUs ``ids`` only: a row of the affinity matrix."""
    row = np.zeros(int(cpu_of.max()) + 1, np.int64)
    row[ids] = 1
    WT[i, EN.WT_AFF] = len(AFF_rows)
    AFF_rows.append(row)


def _confine(confined: dict, tids: np.ndarray, comms: list, WT: np.ndarray, AFF_rows: list, cpu_of: np.ndarray,
             warnings: list[str]) -> None:
    """Keep each task of ``confined`` (tid -> CPUs of the topology) to its CPUs (in place),
    and say once how many were kept and to what (replay/model/prepared.py confined_tasks)."""
    shown = []
    for i, tid in enumerate(tids.tolist()):
        cpus = confined.get(tid)
        if cpus is None or WT[i, EN.WT_PINNED] >= 0:
            continue
        ids = [int(cpu_of[c]) for c in cpus if c < len(cpu_of) and cpu_of[c] >= 0]
        if not ids:
            continue
        _set_affinity(WT, i, AFF_rows, ids, cpu_of)
        shown.append(f"{comms[i]} {tid} ({cpu_text(sorted(cpus))})")
    if shown:
        warnings.append(f"{len(shown)} tasks kept to the CPUs the recording shows them allowed (each waited, "
                        f"{CONFINE_MIN_WAITS} times or more, beside an idle CPU it never used for longer than idle "
                        "balancing allows; "
                        f"infer_affinity=false turns this off): {', '.join(shown[:5])}"
                        + (f" and {len(shown) - 5} more" if len(shown) > 5 else ""))


def _arrays(wl: Workload, mod, values: _Values, cpu_of: np.ndarray, overrides: list[Override] | None,
            warnings: list[str], confined: dict | None = None, groups: bool = False) -> _Arrays:
    """The workload tables as the kernel's int64 matrices, the recording's confinement and
    then the overrides applied (``cpu_of``: the topology's CPU ids to the engine's, -1 for
    CPUs left out; ``groups``: each task in its task group, else all in the root group)."""
    C = len(cpu_of)
    T = wl.tasks.height
    tids = wl.tasks["tid"].to_numpy().astype(np.int32)
    comms = wl.tasks["comm"].to_list()
    WT = np.zeros((max(T, 1), EN.WT_COLS), np.int64)
    WT[:, EN.WT_AFF] = -1
    WT[:T, EN.WT_FIRST_BURST] = wl.tasks["first_burst"].to_numpy()
    WT[:T, EN.WT_N_BURSTS] = wl.tasks["n_bursts"].to_numpy()
    WT[:T, EN.WT_FIRST_ACT] = wl.tasks["first_action"].to_numpy()
    WT[:T, EN.WT_N_ACTS] = wl.tasks["n_actions"].to_numpy()
    pinned = wl.tasks["pinned_cpu"].to_numpy().astype(np.int64)
    if np.any(pinned >= C):
        warnings.append(f"{int(np.sum(pinned >= C))} per-CPU threads are pinned to CPUs the topology lacks "
                        f"({C} CPUs); they were pinned to CPU (id mod {C})")
        pinned = np.where(pinned >= C, pinned % C, pinned)
    WT[:T, EN.WT_PINNED] = np.where(pinned >= 0, cpu_of[np.maximum(pinned, 0)], -1)
    WT[:T, EN.WT_PARENT] = wl.tasks["parent"].to_numpy()
    WT[:T, EN.WT_TID] = tids
    if groups:
        WT[:T, EN.WT_GROUP] = wl.tasks["group"].to_numpy()
    # a task alive before the trace began was last on the CPU it is first seen on: its first
    # wakeup is placed from there (engine-model.md §4); tasks forked in the trace have none
    WT[:, EN.WT_FIRST_CPU] = -1
    if T and wl.bursts.height:
        has = WT[:T, EN.WT_N_BURSTS] > 0
        fb = np.where(has, WT[:T, EN.WT_FIRST_BURST], 0)
        first_cpu = wl.bursts["obs_cpu"].to_numpy().astype(np.int64)[fb]
        alive = has & (wl.bursts["cause"].to_numpy()[fb] != schema.BEGIN_NEW) & (first_cpu >= 0)
        WT[:T, EN.WT_FIRST_CPU] = np.where(alive, cpu_of[np.where(alive, first_cpu % C, 0)], -1)

    B = wl.bursts.height
    bt = wl.bursts
    WB = np.zeros((max(B, 1), EN.WB_COLS), np.int64)
    prio = bt["prio"].to_numpy().astype(np.int64)
    is_mig = (np.array([c.startswith("migration/") for c in comms], bool)[bt["task"].to_numpy()] if B
              else np.zeros(0, bool))
    cls, pol = _class_and_policy(prio, is_mig, values.engine["rt_policy"])
    for col, name in ((EN.WB_TASK, "task"), (EN.WB_DEMAND, "demand_ns"), (EN.WB_START_KIND, "start_kind"),
                      (EN.WB_START, "start_ns"), (EN.WB_ABS, "abs_ns"), (EN.WB_CAUSE, "cause"),
                      (EN.WB_END_KIND, "end_kind"), (EN.WB_SLEEP, "sleep_state")):
        WB[:B, col] = bt[name].to_numpy()
    if hasattr(mod, "futex_bursts"):  # a policy that models futex waits classifies the blocks
        flags, note = mod.futex_bursts(wl, values.fair)  # its fair class's parameters (not the RT class's)
        WB[:B, EN.WB_FUTEX] = flags
        if note:
            warnings.append(note)
    AFF_rows = [np.ones(int(cpu_of.max()) + 1, np.int64)]
    if confined:
        _confine(confined, tids, comms, WT, AFF_rows, cpu_of, warnings)
    changed = []
    if overrides:
        changed = _apply_overrides(overrides, tids, wl.tasks["tgid"].to_numpy(), comms,
                                   wl.tasks["first_burst"].to_numpy(), wl.tasks["n_bursts"].to_numpy(), prio, cls,
                                   pol, WT, AFF_rows, cpu_of, warnings)
    WB[:B, EN.WB_PRIO] = prio
    WB[:B, EN.WB_CLASS] = cls
    WB[:B, EN.WB_POLICY] = pol

    A = wl.actions.height
    WA = np.zeros((max(A, 1), 4), np.int64)
    for col, name in ((EN.WA_TASK, "task"), (EN.WA_PROGRESS, "progress_ns"), (EN.WA_TARGET, "target_burst"),
                      (EN.WA_KIND, "kind")):
        WA[:A, col] = wl.actions[name].to_numpy()
    return _Arrays(WT, WB, WA, np.array(AFF_rows, np.int64), tids, prio, cls, changed)


def _groups(wl: Workload, mod, policy: str, ev: dict, warnings: list[str]) -> bool:
    """Whether the replay schedules the workload's task groups (``autogroup`` on, and some
    task outside the root group; a policy without them replays them flat, and says so);
    ``ev["autogroup"]`` becomes the rule as applied."""
    on = ev["autogroup"] == "on" and bool(wl.tasks.height) and int(wl.tasks["group"].max()) > 0
    if on and not getattr(mod, "GROUPS", False):
        warnings.append(f"{policy} schedules every task in one run queue per CPU (no task groups): the "
                        f"{int(wl.tasks['group'].max())} task groups inferred are replayed flat")
        on = False
    ev["autogroup"] = "on" if on else "off"
    return on


def _topology_matrix(topo: Topology) -> np.ndarray:
    """TOPO[cpu, TP_*] (replay/sim/_placement.py). Columns TP_LLC_CPUS, TP_CORE_CPUS and
    TP_PD_CPUS hold the CPUs grouped by LLC (by core, by performance domain), ascending
    within a group; a CPU's group starts at row TP_*_START of them (TP_LLC_POS: its own row
    within its LLC's), so that placement visits a group's CPUs without scanning the
    machine. With an energy model, each CPU's row ends with its domain's performance
    states as (frequency, cost) pairs from column TP_EM (cost = fmax * power / freq, the
    kernel's em_perf_state.cost, power in whole mW)."""
    n = topo.n_cpus
    pd = np.asarray(topo.pd)
    energy = topo.energy
    states = max((len(t) for t in energy), default=0) if energy else 0
    TOPO = np.zeros((n, P.TP_N + 2 * states), np.int64)
    TOPO[:, P.TP_CORE] = topo.core
    TOPO[:, P.TP_LLC] = topo.llc
    TOPO[:, P.TP_NODE] = topo.node
    TOPO[:, P.TP_CAPACITY] = topo.capacity
    TOPO[:, P.TP_LLC_SIZE] = np.bincount(topo.llc)[topo.llc]
    TOPO[:, P.TP_CORE_SIZE] = np.bincount(topo.core)[topo.core]
    TOPO[:, P.TP_PD_SIZE] = np.bincount(pd)[pd]
    for ids, cpus, start in ((np.asarray(topo.llc), P.TP_LLC_CPUS, P.TP_LLC_START),
                             (np.asarray(topo.core), P.TP_CORE_CPUS, P.TP_CORE_START),
                             (pd, P.TP_PD_CPUS, P.TP_PD_START)):
        order = np.argsort(ids, kind="stable")  # by group, then CPU number
        TOPO[:, cpus] = order
        TOPO[:, start] = np.searchsorted(ids[order], ids, "left")
        if cpus == P.TP_LLC_CPUS:
            row = np.empty(n, np.int64)
            row[order] = np.arange(n)
            TOPO[:, P.TP_LLC_POS] = row - TOPO[:, start]
    if energy:
        for c in range(n):
            table = energy[int(pd[c])]
            fmax = int(table[-1][0])
            TOPO[c, P.TP_EM_N] = len(table)
            for i, (freq, power) in enumerate(table):
                TOPO[c, P.TP_EM + 2 * i] = int(freq)
                TOPO[c, P.TP_EM + 2 * i + 1] = fmax * int(round(power)) // int(freq)
    return TOPO


# -- 3. the engine's parameter vector -----------------------------------------------------

def _engine_vector(ev: dict, wl: Workload, topo: Topology, seed: int, latencies: Latencies,
                   cpus=None) -> np.ndarray:
    """EP[E_*] (policies/_state.py), then the latency tables. Latencies given as -1 (auto)
    are the measured ones: drawn from the recording's per-CPU distributions (``cpus``: the
    recorded CPU ids the engine's CPUs are; None on another machine, which gets the whole
    machine's), and shown as their medians in ``ev`` (the replay's info)."""
    tables = []
    for name, median, table in (("idle_wakeup_latency_ns", latencies.idle_wakeup_ns, 0),
                                ("preempt_latency_ns", latencies.preempt_ns, 1)):
        if ev[name] < 0:
            ev[name] = int(median)
            t = latencies.tables(topo.n_cpus, cpus)[table]
            tables.append(t if len(t) == topo.n_cpus and ev["wakeup_latency"] == "distribution" else None)
        else:
            tables.append(None)
    q = next((t.shape[1] for t in tables if t is not None), 0)
    EP = np.zeros(S.E_N + sum(t.size for t in tables if t is not None), np.int64)
    EP[S.E_LAT_Q] = q
    at = S.E_N
    for key, t in ((S.E_LAT_IDLE, tables[0]), (S.E_LAT_PREEMPT, tables[1])):
        if t is None:
            EP[key] = -1
        else:
            EP[key] = at
            EP[at:at + t.size] = t.ravel()
            at += t.size
    EP[S.E_TICK_NS] = 1_000_000_000 // int(ev["hz"])
    EP[S.E_START] = wl.start_ns
    EP[S.E_HORIZON] = wl.end_ns
    EP[S.E_SLEEP_ABS] = 1 if ev["sleep"] == "absolute" else 0
    EP[S.E_SMT_Q10] = ev["smt_factor"]
    EP[S.E_NUMA_Q10] = ev["numa_factor"]
    EP[S.E_COLD_NS] = ev["cold_penalty_ns"]
    EP[S.E_MIGRATION_COST] = ev["migration_cost_ns"]
    EP[S.E_NEWIDLE] = int(ev["newidle_balance"])
    EP[S.E_PERIODIC] = int(ev["periodic_balance"])
    EP[S.E_WA_IDLE] = int(ev["WA_IDLE"])
    EP[S.E_WA_WEIGHT] = int(ev["WA_WEIGHT"])
    EP[S.E_WA_BIAS] = int(ev["WA_BIAS"])
    EP[S.E_SIS_UTIL] = int(ev["SIS_UTIL"])
    EP[S.E_WAKE_WIDE] = int(ev["WAKE_WIDE"])
    EP[S.E_WA_SYNC] = int(ev["WA_SYNC"])
    EP[S.E_SYNC_WAKER] = int(ev["sync_wakeup"] == "waker")
    EP[S.E_YIELDS] = int(ev["yields"])
    EP[S.E_ASYM], eas = asym_rules(ev, topo)
    EP[S.E_EAS] = int(eas)
    gate = ev["newidle_avg_idle"]
    EP[S.E_AVG_IDLE] = int(gate == "on" or (gate == "auto" and kernel_before(topo.kernel, (5, 16))))
    # the replay's info shows the rules as applied, not "auto" (like the measured latencies)
    if EP[S.E_ASYM]:
        ev["asym_wakeup"] = "capacity" if EP[S.E_ASYM] == 1 else "llc"
    ev["eas"] = "on" if eas else "off"
    ev["newidle_avg_idle"] = "on" if EP[S.E_AVG_IDLE] else "off"
    EP[S.E_RT_PUSH] = int(ev["RT_PUSH"])
    EP[S.E_SERVER_RUNTIME] = ev["fair_server_runtime_ns"]
    EP[S.E_SERVER_PERIOD] = ev["fair_server_period_ns"]
    EP[S.E_IMB_PCT_LLC] = ev["imbalance_pct"]
    EP[S.E_IMB_NUMA_NR] = _imb_numa_nr(topo)
    EP[S.E_BALANCE_MS] = ev["balance_interval_ms"]
    EP[S.E_CACHE_NICE] = ev["cache_nice_tries"]
    EP[S.E_SEED] = seed
    EP[S.E_IDLE_LAT] = ev["idle_wakeup_latency_ns"]
    EP[S.E_PREEMPT_LAT] = ev["preempt_latency_ns"]
    return EP


# -- 4. the kernel --------------------------------------------------------------------------

def _policy_vectors(mod, values: _Values, C: int, hz: int) -> tuple[np.ndarray, np.ndarray]:
    """The fair and RT classes' packed parameters."""
    fair_pp = mod.pack(values.fair, C, hz)
    if "shared" in inspect.signature(mod.RT.pack).parameters:
        # parameters both parts of a policy read (e.g. Infinity's fp_shift, variant)
        rt_pp = mod.RT.pack(values.rt, hz, shared=values.fair)
    else:
        rt_pp = mod.RT.pack(values.rt, hz)
    return fair_pp, rt_pp


def _run_kernel(mod, fair_pp, rt_pp, arrays: _Arrays, TOPO: np.ndarray, EP: np.ndarray, n_tasks: int,
                n_bursts: int, ticks: int, marks: tuple[np.ndarray, np.ndarray]) -> tuple[pl.DataFrame, np.ndarray]:
    """Run the compiled engine; its event heap and output columns are sized from the
    workload and grown (x2, up to x64) until the replay fits. ``marks``: (MT, MK) of
    replay.model.spans.marks, whose MK times the run fills in. Returns (intervals, stats)."""
    engine = EN.compiled()
    fh, rh = hooks_of(mod), hooks_of(mod.RT)
    T, C = n_tasks, len(TOPO)
    tids = arrays.tids if T else np.zeros(1, np.int32)
    n_groups = int(arrays.WT[:, EN.WT_GROUP].max()) + 1 if T else 1
    scale = 1
    while True:
        TS = S.new_task_matrix(T)
        CS = np.zeros((C, S.NC), np.int64)
        # the fair class's rows for group entities follow the tasks' (one per group and CPU)
        FPT, FPC = mod.state(max(T, 1) + (n_groups - 1) * C, C)
        RPT, RPC = mod.RT.state(T, C)
        heap = max(1024, 4 * T + 64 * C) * scale
        HT = np.zeros(heap, np.int64)
        HP = np.zeros((heap, 4), np.int64)
        HN = np.zeros(2, np.int64)
        HI = np.empty(C + 1, np.int64)  # each CPU's POINT slot, and a scratch slot (run fills it)
        cap = (6 * n_bursts + 8 * T + 4 * ticks * C + 1024) * scale
        out = [np.empty(cap, f.numpy_dtype) for f in schema.INTERVALS.fields]
        stats = np.zeros(EN.ST_SIZE, np.int64)
        MT, MK = marks[0].copy(), marks[1]
        MK[:, 1] = -1
        rows = engine(EN.Hooks(fh[:-1], rh[:-1]), (fh[-1], rh[-1]), TS, CS,
                      EN.ClassState(FPT, FPC, fair_pp, RPT, RPC, rt_pp),
                      EN.Workload(arrays.WT, arrays.WB, arrays.WA), EN.Machine(TOPO, arrays.AFF, EP, MT, MK),
                      EN.Heap(HT, HP, HN, HI), EN.Intervals(*out, tids), stats)
        if rows >= 0:
            break
        scale *= 2
        if scale > 64:
            raise TraceError("replay output did not fit even after growing the buffers 64-fold")
    return pl.DataFrame({f.name: arr[:rows] for f, arr in zip(schema.INTERVALS.fields, out)}), stats


# -- 5. the result ----------------------------------------------------------------------------

def _replayed_tasks(tasks: pl.DataFrame, wl: Workload, arrays: _Arrays) -> pl.DataFrame:
    """The tasks table with the class and nice the overridden tasks replayed with (those
    of their first burst)."""
    if not arrays.changed:
        return tasks
    fb = wl.tasks["first_burst"].to_numpy()
    idx = {int(t): i for i, t in enumerate(arrays.tids.tolist())}
    rows = [idx[t] for t in arrays.changed]
    p0 = arrays.prio[fb[rows]]
    c0 = arrays.cls[fb[rows]]
    new = pl.DataFrame({"tid": np.array(arrays.changed, np.int32),
                        "_prio": p0.astype(np.int16),
                        "_cls": np.where(c0 == S.CLS_FAIR, schema.CLASS_FAIR, schema.CLASS_RT).astype(np.int8),
                        "_nice": np.where(c0 == S.CLS_FAIR, schema.nice_of_prio(p0), 0).astype(np.int8)})
    return tasks.join(new, on="tid", how="left").with_columns(
        prio=pl.coalesce("_prio", "prio"), sched_class=pl.coalesce("_cls", "sched_class"),
        nice=pl.coalesce("_nice", "nice")).drop("_prio", "_cls", "_nice")


@small_pages
def simulate(wl: Workload, policy="eevdf", topology: str | Topology | None = None,
             params: dict | None = None, seed: int = 0, overrides: list | None = None,
             latencies: Latencies | None = None, tasks: pl.DataFrame | None = None,
             unavailable_cpus=(), same_machine: bool = False,
             confined: dict | None = None) -> tuple[Schedule, ReplayInfo]:
    """Replay workload ``wl`` through ``policy`` (a built-in or installed policy's name, the
    path of a policy file, an importable module name, or a policy module: policies.get_policy)
    on ``topology`` (a Topology or a spec; default
    one LLC of ``wl.n_cpus`` CPUs), with ``params`` overriding any engine or policy
    parameter (``replay.sim.all_params``) and ``overrides`` (replay.model.overrides.Override
    objects or ``--set`` strings) changing selected tasks' policy, priority and affinity
    (a synthetic workload's own affinity sets, ``wl.affinity``, are applied the same way).
    ``latencies``: the recorded wakeup latencies the auto (-1) latency parameters take
    (none: 0), drawn per wakeup from the CPU's recorded distribution when ``same_machine``
    (``topology`` is the recorded machine), else from the whole machine's. ``tasks``: the
    tasks table of the result (default: built from the workload).
    ``unavailable_cpus``: CPUs of ``topology`` the scheduler did not have (offline,
    isolated: PreparedTrace.unavailable_cpus): the engine runs on the machine without
    them, as the kernel's scheduling domains leave them out, and the schedule keeps the
    topology's CPU ids. ``confined``: tid -> the CPUs of ``topology`` that task may use, as
    the recording shows it (PreparedTrace.confined_cpus; ``infer_affinity`` off ignores it);
    an override's ``cpus`` replaces it. Deterministic: the same inputs and seed give identical output."""
    t0 = time.perf_counter()
    wait_for_helper()  # a process compiling the engine for this one (warm.py): load its kernels
    if overrides and isinstance(overrides[0], str):
        overrides = parse_all(overrides)
    if wl.affinity:  # a synthetic workload's affinity sets: overrides of those tasks' CPUs
        overrides = list(overrides or []) + parse_all(
            f"tid={tid}:cpus={','.join(str(int(c)) for c in sorted(cpus))}" for tid, cpus in sorted(wl.affinity.items()))
    mod = policy_module(policy)
    policy = policy_label(policy)
    if isinstance(topology, Topology):
        topo = topology
    elif topology is None:
        topo = from_spec(f"1x{wl.n_cpus}x1")
    else:
        topo = resolve_topology(topology)
    values = _values(mod, policy, params)
    warnings: list[str] = []
    if not values.engine["infer_cpus"]:
        unavailable_cpus = ()
    online = np.array([c for c in range(topo.n_cpus) if c not in set(unavailable_cpus)], np.int64)
    cpu_of = np.full(topo.n_cpus, -1, np.int64)
    cpu_of[online] = np.arange(len(online))
    run_topo = topo if len(online) == topo.n_cpus else topo.subset(online)
    if len(online) < topo.n_cpus:
        warnings.append(f"CPUs {cpu_text(sorted(set(range(topo.n_cpus)) - set(online.tolist())))} ran nothing in "
                        "the recording (offline or isolated): the replay on the recorded machine leaves them out")
    if not values.engine["infer_affinity"]:
        confined = None
    groups = _groups(wl, mod, policy, values.engine, warnings)
    arrays = _arrays(wl, mod, values, cpu_of, overrides, warnings, confined, groups)
    EP = _engine_vector(values.engine, wl, run_topo, seed, latencies or NONE,
                        online if same_machine else None)
    hz = int(values.engine["hz"])
    fair_pp, rt_pp = _policy_vectors(mod, values, run_topo.n_cpus, hz)
    ticks = (wl.end_ns - wl.start_ns) // EP[S.E_TICK_NS] + 1
    has_spans = wl.spans is not None and wl.spans.height > 0
    MT, MK, start_mark, end_mark = span_marks(wl.spans if has_spans else None, wl.tasks.height)
    try:
        intervals, stats = _run_kernel(mod, fair_pp, rt_pp, arrays, _topology_matrix(run_topo), EP, wl.tasks.height,
                                       wl.bursts.height, ticks, (MT, MK))
    except RuntimeError as e:  # the engine stops on a hook's result it cannot use (_engine._picked)
        if not str(e).startswith("policy error: "):
            raise
        raise TraceError(f"policy {policy}: {str(e)[len('policy error: '):]}") from None
    warm.done(policy)  # the engine and a built-in policy are cached: no second process next time
    if run_topo is not topo:  # back to the topology's CPU ids
        cpu = intervals["cpu"].to_numpy()
        intervals = intervals.with_columns(pl.Series("cpu", np.where(cpu >= 0, online[np.maximum(cpu, 0)], cpu)
                                                     .astype(cpu.dtype)))
    sched_tasks = _replayed_tasks(tasks if tasks is not None else tasks_of_workload(wl), wl, arrays)
    spans = (replayed_spans(wl.spans, MK, start_mark, end_mark, intervals, arrays.tids, wl.start_ns, wl.end_ns,
                            warnings) if has_spans else None)
    sched = Schedule(intervals, sched_tasks, wl.start_ns, wl.end_ns, topo.n_cpus, policy, warnings, {}, True, spans)
    # every parameter's value as used: the engine's and the policy's parsed (2ms -> 2000000)
    shown = {**resolve(ENGINE_PARAMS, None, "the engine"), **resolve(mod.PARAMS, values.policy, policy),
             **values.engine}
    info = ReplayInfo(policy, topo.name or topo.describe(), shown, seed, int(stats[EN.ST_EVENTS]),
                      time.perf_counter() - t0,
                      {"switches": int(stats[EN.ST_SWITCHES]), "migrations": int(stats[EN.ST_MIGRATIONS]),
                       "rt_pushes": int(stats[EN.ST_PUSHES]), "pulls": int(stats[EN.ST_PULLS]),
                       "fair_server_runs": int(stats[EN.ST_SERVER]), "tasks_overridden": len(arrays.changed)},
                      warnings)
    return sched, info
