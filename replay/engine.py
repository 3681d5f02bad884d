"""Replay a workload through a policy on a topology: the Python side of the engine.

>>> from replay import replay
>>> sched, info = replay(trace, policy="eevdf", topology="2x8x2", params={"base_slice_ns": "1ms"})

The result is a :class:`replay.schedule.Schedule` with the same intervals table as
the observed schedule, so ``replay.metrics.measure`` applies to both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from policies import get_policy
from policies._params import Param, resolve
from policies._protocol import hooks_of
from traces import schema
from traces._memory import small_pages
from traces.errors import TraceError
from traces.trace import Trace

from . import _engine as EN
from . import _placement as P
from . import _state as S
from .schedule import Schedule
from .topology import Topology, resolve as resolve_topology
from .workload import Workload, from_schedule

ENGINE_PARAMS = (
    Param("hz", 250, "Hz", "eevdf.md §9, placement.md §9", "scheduler tick rate (CONFIG_HZ; the corpus kernel "
          "uses 250)", "int", lo=24, hi=10_000),
    Param("sleep", "duration", "", "README: How replay works", "external wakeups keep the sleep's length "
          "(duration) or its absolute time (absolute, for periodic timers)", "choice", ("duration", "absolute")),
    Param("rt_policy", "fifo", "", "rt.md §2", "policy of RT tasks (the trace cannot tell FIFO from RR)",
          "choice", ("fifo", "rr")),
    Param("smt_factor", 1024, "1/1024", "README: speed model", "speed of a task while its SMT sibling is busy "
          "(1024 = no slowdown)", "int", lo=1, hi=1024),
    Param("numa_factor", 1024, "1/1024", "README: speed model", "speed of a task off its home NUMA node",
          "int", lo=1, hi=1024),
    Param("cold_penalty_ns", 0, "ns", "README: speed model", "extra work after a migration across LLCs "
          "(cache refill)", "ns", lo=0, hi=10**9),
    Param("migration_cost_ns", 500_000, "ns", "placement.md §4.4", "a task that ran within this is cache-hot "
          "for balancing", "ns", lo=0, hi=10**9),
    Param("newidle_balance", True, "bool", "placement.md §5", "a CPU going idle pulls a waiting task", "bool"),
    Param("periodic_balance", True, "bool", "placement.md §4", "task-count balancing on the tick", "bool"),
    Param("WA_IDLE", True, "bool", "placement.md §2.1", "wake_affine prefers idle CPUs", "bool"),
    Param("WA_WEIGHT", True, "bool", "placement.md §2.1", "wake_affine compares loads", "bool"),
    Param("WA_BIAS", True, "bool", "placement.md §2.1", "wake_affine bias (imbalance_pct)", "bool"),
    Param("SIS_UTIL", True, "bool", "placement.md §2.3", "bound the idle-CPU scan by LLC utilisation", "bool"),
    Param("WAKE_WIDE", True, "bool", "placement.md §2", "wake_wide disables affine wakeups for 1:N wakers",
          "bool"),
    Param("RT_PUSH", True, "bool", "rt.md §6.4-6.5", "push/pull of waiting RT tasks", "bool"),
    Param("fair_server_runtime_ns", 50_000_000, "ns", "rt.md §7.2", "fair server runtime per period (0: off)",
          "ns", lo=0, hi=10**10),
    Param("fair_server_period_ns", 1_000_000_000, "ns", "rt.md §7.2", "fair server period", "ns", lo=1_000_000,
          hi=10**11),
    Param("imbalance_pct", 117, "%", "placement.md §1", "imbalance_pct of the LLC (MC) level", "int", lo=100,
          hi=400),
    Param("balance_interval_ms", 1, "ms/CPU", "placement.md §4.1", "periodic balance interval per CPU of the "
          "LLC span (x16 when busy in the kernel; the tick applies it)", "int", lo=1, hi=1000),
    Param("cache_nice_tries", 1, "count", "placement.md §4.4", "failed passes before a cache-hot task moves",
          "int", lo=0, hi=100),
    Param("idle_wakeup_latency_ns", -1, "ns", "placement.md §9 (wakeup IPI latency)", "time from a wakeup onto "
          "an idle CPU to the switch (idle exit, IPI); -1: the median measured in the trace", "ns", lo=-1,
          hi=10**9),
    Param("preempt_latency_ns", -1, "ns", "rt.md §5, placement.md §9", "time from a wakeup preemption to the "
          "switch; -1: the median measured in the trace", "ns", lo=-1, hi=10**9),
)


def measure_latencies(sched: Schedule) -> tuple[int, int]:
    """Median wait of wakeups onto an idle CPU, and of wakeups that preempted the running
    task (its running interval ended exactly when the wakee was switched in), in the
    recorded schedule; 0 when fewer than 10 such waits."""
    from .metrics import running, waits

    w = waits(sched).filter(pl.col("cause") == schema.BEGIN_WAKEUP).sort("wait_start_ns")
    if w.height == 0:
        return 0, 0
    r = running(sched).sort("start_ns")
    busy = w.join_asof(r.select(pl.col("cpu"), pl.col("start_ns").alias("r_start"), pl.col("end_ns").alias("r_end"),
                                pl.col("end").alias("r_endcode")),
                       left_on="wait_start_ns", right_on="r_start", by="cpu", strategy="backward",
                       check_sortedness=False)
    idle = busy.filter(pl.col("r_end").is_null() | (pl.col("r_end") <= pl.col("wait_start_ns")))
    pre = busy.filter((pl.col("r_end") == pl.col("switch_in_ns")) & (pl.col("r_endcode") == schema.END_PREEMPTED))

    def med(df):
        return int(df["wait_ns"].median()) if df.height >= 10 else 0

    return med(idle), med(pre)


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


def all_params(policy: str) -> tuple[Param, ...]:
    """Every parameter a replay with ``policy`` takes: the engine's and the policy's."""
    return ENGINE_PARAMS + get_policy(policy).PARAMS


def _class_and_policy(prio: np.ndarray, comm_is_migration: np.ndarray, rt_policy: str):
    cls = np.where(prio < 0, S.CLS_STOP, np.where(prio < 100, S.CLS_RT, S.CLS_FAIR))
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


def _tasks_frame(wl: Workload) -> pl.DataFrame:
    """A tasks table (schema.TASKS columns used by metrics) from the workload."""
    b = wl.bursts.group_by("task").agg(prio=pl.col("prio").last())
    t = wl.tasks.with_row_index("task").with_columns(pl.col("task").cast(pl.Int64)).join(b, on="task", how="left")
    prio = t["prio"].fill_null(120).to_numpy()
    cls = np.where(prio < 0, schema.CLASS_DEADLINE, np.where(prio < 100, schema.CLASS_RT, schema.CLASS_FAIR))
    return pl.DataFrame({"tid": t["tid"], "tgid": t["tgid"], "comm": t["comm"].cast(pl.Categorical),
                         "prio": pl.Series(prio).cast(pl.Int16), "sched_class": pl.Series(cls).cast(pl.Int8),
                         "nice": pl.Series(np.where(cls == schema.CLASS_FAIR, prio - 120, 0)).cast(pl.Int8)})


def _apply_overrides(overrides, tids, tgids, comms, first_burst, n_bursts, prio, cls, pol, WT, AFF_rows, C,
                     warnings) -> list[int]:
    """Apply --set overrides to the per-burst prio/class/policy arrays and the tasks'
    affinity (in place). Returns the tids changed."""
    rt_pol = {"fifo": S.POL_FIFO, "rr": S.POL_RR}
    fair_pol = {"fair": S.POL_NORMAL, "batch": S.POL_BATCH, "idle": S.POL_IDLE}
    changed = []
    for i, (tid, tgid, comm) in enumerate(zip(tids.tolist(), tgids.tolist(), comms)):
        hit = [o for o in overrides if o.matches(tid, tgid, comm)]
        if not hit:
            continue
        changed.append(tid)
        sl = slice(first_burst[i], first_burst[i] + n_bursts[i])
        for o in hit:
            if o.policy in rt_pol:
                r = o.rtprio if o.rtprio is not None else 50
                prio[sl] = 99 - r
                cls[sl] = S.CLS_RT
                pol[sl] = rt_pol[o.policy]
            elif o.policy in fair_pol:
                nice = o.nice if o.nice is not None else np.where(cls[sl] == S.CLS_FAIR, prio[sl] - 120, 0)
                prio[sl] = 120 + nice
                cls[sl] = S.CLS_FAIR
                pol[sl] = fair_pol[o.policy]
            else:
                if o.nice is not None:
                    prio[sl] = np.where(cls[sl] == S.CLS_FAIR, 120 + o.nice, prio[sl])
                if o.rtprio is not None:
                    prio[sl] = np.where(cls[sl] == S.CLS_RT, 99 - o.rtprio, prio[sl])
            if o.cpus is not None:
                cpus = [c for c in o.cpus if c < C]
                if len(cpus) < len(o.cpus):
                    warnings.append(f"{o.text}: CPUs {[c for c in o.cpus if c >= C]} are not in the topology "
                                    f"({C} CPUs); ignored")
                if not cpus:
                    raise TraceError(f"--set {o.text!r}: none of its CPUs exist in the topology ({C} CPUs)")
                row = np.zeros(C, np.int64)
                row[cpus] = 1
                WT[i, EN.WT_AFF] = len(AFF_rows)
                AFF_rows.append(row)
                WT[i, EN.WT_PINNED] = -1  # an explicit affinity replaces a per-CPU pin
    return changed


@small_pages
def replay(source: Trace | Workload, policy: str = "eevdf", topology: str | Topology | None = None,
           params: dict | None = None, seed: int = 0, trace: Trace | None = None,
           overrides: list | None = None) -> tuple[Schedule, ReplayInfo]:
    """Replay ``source`` (a trace, whose workload is rebuilt, or a workload) through
    ``policy`` on ``topology`` (default: the trace's own), with ``params`` overriding
    any engine or policy parameter (see ``all_params``) and ``overrides`` (a list of
    replay.overrides.Override, or --set strings) changing selected tasks' policy, priority
    and affinity. Deterministic: the same inputs and seed give identical output."""
    if overrides and isinstance(overrides[0], str):
        from .overrides import parse_all

        overrides = parse_all(overrides)
    t0 = time.perf_counter()
    mod = get_policy(policy)
    observed = None
    if isinstance(source, Trace):
        trace = source
        from .schedule import observed_schedule

        observed = observed_schedule(source)
        wl = from_schedule(source, observed)
    else:
        wl = source
    if isinstance(topology, Topology):
        topo = topology
    elif topology is None and trace is not None:
        topo = resolve_topology(None, trace)
    elif topology is None:
        from .topology import from_spec

        topo = from_spec(f"1x{wl.n_cpus}x1")
    else:
        topo = resolve_topology(topology, trace)
    given = dict(params or {})
    eng_names = {p.name for p in ENGINE_PARAMS}
    pol_names = {p.name for p in mod.PARAMS}
    unknown = set(given) - eng_names - pol_names
    if unknown:
        valid = sorted(eng_names | pol_names)
        raise TraceError(f"unknown parameter(s) {', '.join(sorted(unknown))} for policy {policy}; valid: "
                         f"{', '.join(valid)}")
    ev = resolve(ENGINE_PARAMS, {k: v for k, v in given.items() if k in eng_names}, "the engine")
    pol_values = {k: v for k, v in given.items() if k in pol_names}
    rt_names = {p.name for p in mod.RT.PARAMS}
    hz = int(ev["hz"])
    C = topo.n_cpus
    warnings: list[str] = []

    # workload -> matrices
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
    WT[:T, EN.WT_PINNED] = pinned
    WT[:T, EN.WT_PARENT] = wl.tasks["parent"].to_numpy()
    WT[:T, EN.WT_TID] = tids
    B = wl.bursts.height
    WB = np.zeros((max(B, 1), EN.WB_COLS), np.int64)
    bt = wl.bursts
    prio = bt["prio"].to_numpy().astype(np.int64)
    is_mig = np.array([c.startswith("migration/") for c in comms], bool)[bt["task"].to_numpy()] if B else np.zeros(0, bool)
    cls, pol = _class_and_policy(prio, is_mig, ev["rt_policy"])
    for col, name in ((EN.WB_TASK, "task"), (EN.WB_DEMAND, "demand_ns"), (EN.WB_START_KIND, "start_kind"),
                      (EN.WB_START, "start_ns"), (EN.WB_ABS, "abs_ns"), (EN.WB_CAUSE, "cause"),
                      (EN.WB_END_KIND, "end_kind"), (EN.WB_SLEEP, "sleep_state")):
        WB[:B, col] = bt[name].to_numpy()
    WB[:B, EN.WB_PRIO] = prio
    WB[:B, EN.WB_CLASS] = cls
    WB[:B, EN.WB_POLICY] = pol
    if hasattr(mod, "futex_bursts"):  # a policy that models futex waits classifies the blocks
        flags, note = mod.futex_bursts(wl, {k: v for k, v in given.items() if k in pol_names})
        WB[:B, EN.WB_FUTEX] = flags
        if note:
            warnings.append(note)
    AFF_rows = [np.ones(C, np.int64)]
    if overrides:
        tgids = wl.tasks["tgid"].to_numpy()
        changed = _apply_overrides(overrides, tids, tgids, comms, wl.tasks["first_burst"].to_numpy(),
                                   wl.tasks["n_bursts"].to_numpy(), prio, cls, pol, WT, AFF_rows, C, warnings)
        WB[:B, EN.WB_PRIO] = prio
        WB[:B, EN.WB_CLASS] = cls
        WB[:B, EN.WB_POLICY] = pol
    else:
        changed = []
    A = wl.actions.height
    WA = np.zeros((max(A, 1), 4), np.int64)
    for col, name in ((EN.WA_TASK, "task"), (EN.WA_PROGRESS, "progress_ns"), (EN.WA_TARGET, "target_burst"),
                      (EN.WA_KIND, "kind")):
        WA[:A, col] = wl.actions[name].to_numpy()

    TOPO = np.zeros((C, 5), np.int64)
    TOPO[:, P.TP_CORE] = topo.core
    TOPO[:, P.TP_LLC] = topo.llc
    TOPO[:, P.TP_NODE] = topo.node
    TOPO[:, P.TP_CAPACITY] = topo.capacity
    TOPO[:, P.TP_LLC_SIZE] = np.bincount(topo.llc)[topo.llc]
    AFF = np.array(AFF_rows, np.int64)

    EP = np.zeros(S.E_N, np.int64)
    EP[S.E_TICK_NS] = 1_000_000_000 // hz
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
    EP[S.E_RT_PUSH] = int(ev["RT_PUSH"])
    EP[S.E_SERVER_RUNTIME] = ev["fair_server_runtime_ns"]
    EP[S.E_SERVER_PERIOD] = ev["fair_server_period_ns"]
    EP[S.E_IMB_PCT_LLC] = ev["imbalance_pct"]
    EP[S.E_IMB_NUMA_NR] = _imb_numa_nr(topo)
    EP[S.E_BALANCE_MS] = ev["balance_interval_ms"]
    EP[S.E_CACHE_NICE] = ev["cache_nice_tries"]
    EP[S.E_SEED] = seed
    idle_lat, pre_lat = ev["idle_wakeup_latency_ns"], ev["preempt_latency_ns"]
    if idle_lat < 0 or pre_lat < 0:
        if observed is None and trace is not None:
            from .schedule import observed_schedule

            observed = observed_schedule(trace)
        mi, mp = measure_latencies(observed) if observed is not None else (0, 0)
        idle_lat = mi if idle_lat < 0 else idle_lat
        pre_lat = mp if pre_lat < 0 else pre_lat
        ev["idle_wakeup_latency_ns"], ev["preempt_latency_ns"] = idle_lat, pre_lat
    EP[S.E_IDLE_LAT] = idle_lat
    EP[S.E_PREEMPT_LAT] = pre_lat

    fair_pp = mod.pack({k: v for k, v in pol_values.items() if k not in rt_names}, C, hz)
    rt_values = {k: v for k, v in pol_values.items() if k in rt_names}
    import inspect

    if "shared" in inspect.signature(mod.RT.pack).parameters:
        # parameters both parts of a policy read (e.g. Infinity's fp_shift, variant)
        rt_pp = mod.RT.pack(rt_values, hz, shared={k: v for k, v in pol_values.items() if k not in rt_names})
    else:
        rt_pp = mod.RT.pack(rt_values, hz)
    engine = EN.compiled()
    fh, rh = hooks_of(mod), hooks_of(mod.RT)
    scale = 1
    while True:
        TS = S.new_task_matrix(T)
        CS = np.zeros((C, S.NC), np.int64)
        FPT, FPC = mod.state(T, C)
        RPT, RPC = mod.RT.state(T, C)
        heap = max(1024, 4 * T + 64 * C) * scale
        HT = np.zeros(heap, np.int64)
        HP = np.zeros((heap, 4), np.int64)
        HN = np.zeros(2, np.int64)
        ticks = (wl.end_ns - wl.start_ns) // EP[S.E_TICK_NS] + 1
        cap = (6 * B + 8 * T + 4 * ticks * C + 1024) * scale
        out = [np.empty(cap, f.numpy_dtype) for f in schema.INTERVALS.fields]
        stats = np.zeros(EN.ST_SIZE, np.int64)
        rows = engine(fh, rh, FPT, FPC, fair_pp, RPT, RPC, rt_pp, TS, CS, WT, WB, WA, TOPO, AFF, EP, HT, HP, HN,
                      *out, tids if T else np.zeros(1, np.int32), stats)
        if rows >= 0:
            break
        scale *= 2
        if scale > 64:
            raise TraceError("replay output did not fit even after growing the buffers 64-fold")
    intervals = pl.DataFrame({f.name: arr[:rows] for f, arr in zip(schema.INTERVALS.fields, out)})
    tasks = trace.tasks if trace is not None else _tasks_frame(wl)
    if changed:
        # the class and nice the overridden tasks replayed with (their first burst's)
        fb = wl.tasks["first_burst"].to_numpy()
        idx = {int(t): i for i, t in enumerate(tids.tolist())}
        rows = [idx[t] for t in changed]
        p0 = prio[fb[rows]]
        c0 = cls[fb[rows]]
        new = pl.DataFrame({"tid": np.array(changed, np.int32),
                            "_prio": p0.astype(np.int16),
                            "_cls": np.where(c0 == S.CLS_FAIR, schema.CLASS_FAIR, schema.CLASS_RT).astype(np.int8),
                            "_nice": np.where(c0 == S.CLS_FAIR, p0 - 120, 0).astype(np.int8)})
        tasks = tasks.join(new, on="tid", how="left").with_columns(
            prio=pl.coalesce("_prio", "prio"), sched_class=pl.coalesce("_cls", "sched_class"),
            nice=pl.coalesce("_nice", "nice")).drop("_prio", "_cls", "_nice")
    sched = Schedule(intervals, tasks, wl.start_ns, wl.end_ns, C, policy, warnings, {}, True)
    shown = {**resolve(ENGINE_PARAMS, None, "the engine"), **resolve(mod.PARAMS, None, policy),
             **{k: v for k, v in ev.items()}, **{k: v for k, v in pol_values.items()}}
    info = ReplayInfo(policy, topo.name or topo.describe(), {k: v for k, v in shown.items()
                                                             if k in given or True}, seed,
                      int(stats[EN.ST_EVENTS]), time.perf_counter() - t0,
                      {"switches": int(stats[EN.ST_SWITCHES]), "migrations": int(stats[EN.ST_MIGRATIONS]),
                       "rt_pushes": int(stats[EN.ST_PUSHES]), "pulls": int(stats[EN.ST_PULLS]),
                       "fair_server_runs": int(stats[EN.ST_SERVER]), "tasks_overridden": len(changed)},
                      warnings)
    return sched, info
