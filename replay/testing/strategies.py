"""Workloads built by hand (``make_workload``) and hypothesis strategies for workloads,
topologies and parameters (docs/testing-a-policy.md).

Every workload strategy takes the number of CPUs and draws a ``replay.model.Workload``;
each draw shrinks toward fewer tasks, fewer bursts, nice 0, no pinning and simple start
rules, so that a failing example comes out small. ``cases`` pairs a workload with a
topology and engine parameters.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import assume
from hypothesis import strategies as st

from policies._params import Param, parse_value
from traces import schema
from traces.errors import TraceError

from ..model.topology import Topology, make
from ..model.workload import ACT_YIELD, END_BLOCK, END_EXIT, END_OPEN, START_AFTER, START_AT, START_BY, Workload, \
    make_workload

MS = 1_000_000

#: topologies of 1-8 CPUs: sockets x cores x threads (one LLC and node per socket)
SPECS = ["1x1x1", "1x2x1", "1x3x1", "1x4x1", "2x1x1", "2x2x1", "1x2x2", "2x1x2", "1x4x2", "2x2x2", "2x4x1",
         "4x2x1", "4x1x1", "3x1x2", "1x8x1", "8x1x1"]
FAIR_PRIOS = [120, 120, 120, 115, 125, 130, 110, 139]
RT_PRIOS = [10, 50, 50, 89, 98]
#: nice levels of CPU-bound mixes (0 first: a shrunk example keeps nice 0)
NICES = [0, 0, 5, -5, 10, 19, -20, 3]


def n_cpus_of(spec: str) -> int:
    a, b, c = (int(x) for x in spec.split("x"))
    return a * b * c


# -- topologies ------------------------------------------------------------------------------

@st.composite
def topologies(draw, max_cpus: int = 8, smt: bool = True, llc: bool = True, numa: bool = True,
               asymmetric: bool = True, energy_model: bool | None = None) -> Topology:
    """A machine of 1..``max_cpus`` CPUs: NUMA nodes, LLCs per node, cores per LLC and SMT
    threads per core, and (``asymmetric``) sometimes big and little cores (capacity 1024 and
    512, as on phones), half of them with an energy model (one performance domain per LLC
    and capacity); ``energy_model=True``: always big and little cores with an energy model
    (at least two cores). Shrinks toward one CPU."""
    threads = draw(st.sampled_from([1, 2])) if smt and max_cpus >= 2 else 1
    nodes = draw(st.integers(1, max(1, min(2, max_cpus // threads)))) if numa else 1
    llcs = draw(st.integers(1, max(1, min(2, max_cpus // (threads * nodes))))) if llc else 1
    cores = draw(st.integers(1, max(1, max_cpus // (threads * nodes * llcs))))
    if energy_model and nodes * llcs * cores < 2:
        cores = 2
    n_cores = nodes * llcs * cores
    core = np.array([c % n_cores for c in range(n_cores * threads)])  # Linux's x86 numbering
    cap = None
    name = f"{nodes} node{'s' if nodes > 1 else ''} x {llcs} LLC x {cores} cores x {threads} threads"
    pd = energy = None
    if energy_model or (asymmetric and n_cores >= 2 and draw(st.integers(0, 3)) == 0):
        little = draw(st.integers(1, n_cores - 1))  # the last cores are little
        cap = np.where(core >= n_cores - little, 512, 1024)
        name += f", {little} little cores"
        if energy_model or (energy_model is None and draw(st.booleans())):  # an energy model: a performance domain per LLC and capacity
            pd = (core // cores) * 2 + (cap == 512)
            tables = []
            for d in dict.fromkeys(pd.tolist()):  # canonical order: by lowest CPU
                n = draw(st.integers(1, 4))
                freqs = sorted(draw(st.sets(st.integers(2, 20), min_size=n, max_size=n)))
                big = 3 if d % 2 == 0 else 1  # big cores draw more power per MHz
                tables.append([[f * 100_000, draw(st.integers(1, 30)) * big * f] for f in freqs])
            energy = tables
            name += ", energy model"
    return make(core, core // cores, core // (cores * llcs), cap, name=name, pd=pd, energy=energy)


# -- parameters -------------------------------------------------------------------------------

def _values(p: Param) -> st.SearchStrategy:
    """Values of one parameter, shrinking to its default: the default, then its range."""
    if p.kind == "bool":
        return st.sampled_from([p.default, not p.default])
    if p.kind == "choice":
        return st.sampled_from([p.default] + [c for c in p.choices if c != p.default])
    lo = p.lo if p.lo is not None else (0 if p.default >= 0 else p.default)
    hi = p.hi if p.hi is not None else max(4 * p.default, lo + 1)
    lo, hi = int(lo), int(hi)
    if hi - lo > 1000 * max(abs(p.default), 1):  # wide ranges: spread over orders of magnitude
        span = st.integers(0, 60).map(lambda k: int(min(hi, max(lo, round(max(lo, 1) * (hi / max(lo, 1)) ** (k / 60))))))
    else:
        span = st.integers(lo, hi)
    return st.one_of(st.just(p.default), span)


@st.composite
def policy_params(draw, policy="eevdf", names=None, hz: int = 250, n_cpus: int = 2) -> dict:
    """Values for a policy's parameters (``names``: those to draw, default all of
    ``PARAMS``), each from its declared range or choices and shrinking to its default; only
    values the policy's ``pack`` accepts are drawn (a dict of the ones off their default)."""
    from policies import get_policy

    mod = get_policy(policy)
    params = [p for p in mod.PARAMS if names is None or p.name in names]
    unknown = set(names or ()) - {p.name for p in params}
    if unknown:
        raise TraceError(f"policy {policy}: no parameter {', '.join(sorted(unknown))}")
    out = {}
    for p in params:
        v = draw(_values(p))
        if v != p.default:
            out[p.name] = v
    rt_names = {p.name for p in mod.RT.PARAMS}
    try:
        for p in params:
            if p.name in out:
                parse_value(p, out[p.name])
        mod.pack({k: v for k, v in out.items() if k not in rt_names}, n_cpus, hz)
    except TraceError:
        assume(False)  # a combination the policy refuses: not an example
    return out


ENGINE_BOOLS = ("newidle_balance", "periodic_balance", "RT_PUSH", "WAKE_WIDE", "WA_IDLE", "WA_WEIGHT", "SIS_UTIL")


@st.composite
def engine_params(draw, balancing: bool = True, speed: bool = True, fair_server: bool = True,
                  policy_bools=(), base_slices=(), rr: bool = True) -> dict:
    """A few engine parameters off their defaults (each draw shrinks to the default): hz,
    absolute sleeps, sync wakeups, and with ``balancing`` the balancer's and wakeup
    placement's switches, with ``fair_server`` a fair server that acts within a short replay,
    with ``speed`` the speed model (SMT, NUMA, cache-cold), with ``rr`` SCHED_RR with a
    short slice. ``policy_bools``: a policy's switches to turn off sometimes;
    ``base_slices``: values of base_slice_ns to draw."""
    p = {}
    hz = draw(st.sampled_from([None, 100, 250, 300, 1000]))
    if hz:
        p["hz"] = hz
    if draw(st.integers(0, 3)) == 3:
        p["sleep"] = "absolute"
    for name in (ENGINE_BOOLS if balancing else ()) + tuple(policy_bools):
        if draw(st.integers(0, 4)) == 4:
            p[name] = False
    if draw(st.integers(0, 1)) == 1:  # sync wakeups honoured (off by default)
        p["WA_SYNC"] = True
    if draw(st.integers(0, 2)) == 2:  # Android's sync rule (off by default)
        p["sync_wakeup"] = "waker"
    if draw(st.integers(0, 2)) == 2:  # the workload's task groups flattened (on by default)
        p["autogroup"] = "off"
    if rr and draw(st.integers(0, 4)) == 4:
        p["rt_policy"] = "rr"
        p["sched_rr_timeslice_ms"] = draw(st.sampled_from([4, 10, 100]))
    if fair_server and draw(st.integers(0, 3)) == 3:  # a fair server that acts within the replay
        p["fair_server_period_ns"] = draw(st.sampled_from([4 * MS, 10 * MS]))
        p["fair_server_runtime_ns"] = draw(st.sampled_from([500_000, 2 * MS]))
    if balancing and draw(st.integers(0, 5)) == 5:
        p["migration_cost_ns"] = draw(st.sampled_from([0, 5 * MS]))
    if balancing and draw(st.integers(0, 3)) == 3:  # newidle's idle-time gate (kernels before 5.16)
        p["newidle_avg_idle"] = "on"
        if draw(st.booleans()):
            p["migration_cost_ns"] = draw(st.sampled_from([100_000, 500_000, 2 * MS]))
    if base_slices and draw(st.integers(0, 5)) == 5:
        p["base_slice_ns"] = draw(st.sampled_from(list(base_slices)))
    if speed and draw(st.integers(0, 7)) == 7:  # the speed model
        p["smt_factor"] = draw(st.sampled_from([600, 1000]))
        p["numa_factor"] = draw(st.sampled_from([700, 1024]))
        p["cold_penalty_ns"] = draw(st.sampled_from([0, 30_000]))
    return p


# -- workloads --------------------------------------------------------------------------------

def _build(tasks: list[dict], actions: list, start: int, end: int, n_cpus: int) -> Workload:
    for i, t in enumerate(tasks):
        t.setdefault("tid", 1000 + 7 * i)
        t.setdefault("comm", f"task{i}")
    return make_workload(tasks, actions, start_ns=start, end_ns=end, n_cpus=n_cpus)


def _demand(draw, max_demand: int) -> int:
    return draw(st.one_of(st.integers(1, max_demand),
                          st.integers(1, max(1, max_demand // 100_000)).map(lambda x: x * 100_000)))


@st.composite
def mixed(draw, n_cpus: int, max_tasks: int = 5, max_bursts: int = 4, rt: bool = True, fair_prios=None,
          max_demand: int = 6 * MS, horizon=(15 * MS, 50 * MS), pinned: bool = True, stop: bool = True,
          rt_odds: int = 4, affinity: bool = False, groups: bool = True) -> Workload:
    """A few tasks of everything: bursts with fair nice levels or RT prios (one task in
    ``rt_odds`` is RT; occasionally a class change between bursts), demands (some open),
    every start rule (absolute time,
    sleep length, an action of another task: wakeup, sync wakeup or fork) and end (block,
    exit); actions sit at progress points of their actor; some tasks call sched_yield; one task may be pinned
    (sometimes to a CPU id beyond the machine, which is taken modulo); with ``affinity``
    (on a machine of 2 CPUs or more) tasks that are not pinned sometimes get an affinity
    set of some of the CPUs; sometimes a per-CPU stop-class thread (migration/N); with
    ``groups`` tasks in task groups 1 and 2 beside the root group (replayed in them unless
    ``autogroup=off``)."""
    C = n_cpus
    start = draw(st.sampled_from([0, 0, 1_234_567, 2_000_000_000]))
    end = start + draw(st.integers(*horizon))
    T = draw(st.integers(1, max_tasks))
    tasks = []
    for i in range(T):
        if rt and draw(st.integers(0, rt_odds - 1)) == 0:
            base_prio = draw(st.sampled_from(RT_PRIOS))
        else:
            base_prio = draw(st.sampled_from(fair_prios or FAIR_PRIOS))
        nb = draw(st.integers(1, max_bursts))
        bursts = []
        for j in range(nb):
            prio = base_prio
            if rt and draw(st.integers(0, 9)) == 0:
                prio = draw(st.sampled_from(RT_PRIOS + FAIR_PRIOS))
            last = j == nb - 1
            demand = -1 if last and draw(st.integers(0, 3)) == 0 else _demand(draw, max_demand)
            if j == 0:
                kind = START_BY if (T > 1 and draw(st.integers(0, 3)) == 0) else START_AT
            else:
                kind = draw(st.sampled_from([START_AT, START_AFTER, START_AFTER, START_BY, START_BY]))
            b = dict(demand=demand, prio=prio, kind=kind, sleep=draw(st.sampled_from([1, 2])))
            if kind == START_AT:
                b["start"] = start + draw(st.integers(0, (end - start) * 2 // 3)) if j else \
                    start - draw(st.sampled_from([0, 0, 1000])) + draw(st.integers(0, 4 * MS))
            elif kind == START_AFTER:
                b["start"] = draw(st.one_of(st.just(0), st.integers(0, 5 * MS)))
                b["abs"] = start + draw(st.integers(0, (end - start) * 2 // 3))
            if demand < 0:
                b["end"] = END_OPEN
            elif last:
                b["end"] = draw(st.sampled_from([END_EXIT, END_BLOCK]))
            else:
                b["end"] = END_BLOCK
            bursts.append(b)
        tasks.append(dict(bursts=bursts, tid=1000 + 7 * i, comm=f"task{i}"))
        if groups and draw(st.integers(0, 2)):  # shrinks toward the root group
            tasks[-1]["group"] = draw(st.integers(1, 2))
    # actions: every START_BY burst gets an actor (another task) at one of its progress points
    actions = []
    for i, t in enumerate(tasks):
        for j, b in enumerate(t["bursts"]):
            if b["kind"] != START_BY:
                continue
            others = [k for k in range(T) if k != i]
            if not others:
                b["kind"] = START_AFTER
                b["start"] = 0
                continue
            actor = draw(st.sampled_from(others))
            closed = sum(x["demand"] for x in tasks[actor]["bursts"] if x["demand"] >= 0)
            has_open = any(x["demand"] < 0 for x in tasks[actor]["bursts"])
            top = closed + (5 * MS if has_open else 0)
            progress = draw(st.one_of(st.integers(0, top), st.sampled_from(
                sorted({0, top} | {sum(x["demand"] for x in tasks[actor]["bursts"][:k + 1] if x["demand"] >= 0)
                                   for k in range(len(tasks[actor]["bursts"]))}))))
            kind = 1 if j == 0 else draw(st.sampled_from([0, 2]))  # fork; wakeup, or a sync one
            if j == 0:
                t["parent"] = actor
            actions.append((actor, progress, i, j, kind))
    # sched_yield calls (inferred from recordings: engine-model.md §5) at progress points
    for i, t in enumerate(tasks):
        closed = sum(x["demand"] for x in t["bursts"] if x["demand"] >= 0)
        if closed > 0 and draw(st.integers(0, 3)) == 0:
            for _ in range(draw(st.integers(1, 3))):
                actions.append((i, draw(st.integers(0, closed)), -1, 0, ACT_YIELD))
    if pinned and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(0, T - 1))
        tasks[k]["pinned"] = draw(st.integers(0, C - 1)) if draw(st.integers(0, 4)) else C + draw(st.integers(0, 3))
    if affinity and C >= 2:
        for t in tasks:
            if "pinned" not in t and draw(st.integers(0, 2)) == 2:  # shrinks toward no affinity set
                t["affinity"] = sorted(draw(st.lists(st.integers(0, C - 1), min_size=1, max_size=C - 1, unique=True)))
    if stop and draw(st.integers(0, 15)) == 0:
        # a per-CPU stop-class thread (migration/N: prio 0 and pinned)
        cpu = draw(st.integers(0, C - 1))
        tasks.append(dict(tid=1000 + 7 * T, comm=f"migration/{cpu}", pinned=cpu, bursts=[
            dict(demand=draw(st.integers(10_000, 300_000)), prio=0, kind=START_AT,
                 start=start + draw(st.integers(0, 10 * MS)), end=END_BLOCK, sleep=1),
            dict(demand=draw(st.integers(10_000, 300_000)), prio=0, kind=START_AFTER,
                 start=draw(st.integers(0, 5 * MS)), end=END_EXIT)]))
    return _build(tasks, actions, start, end, C)


@st.composite
def workloads(draw, max_tasks: int = 5, max_bursts: int = 4, rt: bool = True, fair_prios=None,
              max_demand: int = 6 * MS, horizon=(15 * MS, 50 * MS), spec=None, pinned: bool = True,
              stop: bool = True, specs=None, affinity: bool = False, groups: bool = True):
    """(Workload, topology spec): ``mixed`` on a 1-8 CPU machine given as a
    SOCKETSxCORESxTHREADS spec (``spec``, or one of ``specs`` / SPECS)."""
    spec = spec or draw(st.sampled_from(specs or SPECS))
    wl = draw(mixed(n_cpus_of(spec), max_tasks=max_tasks, max_bursts=max_bursts, rt=rt, fair_prios=fair_prios,
                    max_demand=max_demand, horizon=horizon, pinned=pinned, stop=stop, affinity=affinity,
                    groups=groups))
    return wl, spec


@st.composite
def cpu_bound(draw, n_cpus: int, min_tasks: int = 2, max_tasks: int = 4, nices=None,
              horizon=(300 * MS, 600 * MS), share_cpu: bool = True, noise: bool = True) -> Workload:
    """CPU hogs (one open burst each) of mixed nice levels, starting at the beginning or a
    little later; with ``share_cpu`` all pinned to one CPU, so that they share it (the
    weighted-share invariant's subject); with ``noise`` sometimes an unpinned interactive
    task beside them."""
    cpu = draw(st.integers(0, n_cpus - 1)) if share_cpu and n_cpus > 1 else -1
    n = draw(st.integers(min_tasks, max_tasks))
    end = draw(st.integers(*horizon))
    tasks = []
    for _ in range(n):
        nice = draw(st.sampled_from(nices or NICES))
        late = draw(st.one_of(st.just(0), st.integers(0, 20 * MS)))
        tasks.append(dict(bursts=[dict(demand=-1, prio=120 + nice, start=late)], pinned=cpu))
    if noise and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(2, 20))
        tasks.append(dict(bursts=[dict(demand=draw(st.integers(50_000, 2 * MS)), kind=START_AT if j == 0 else START_AFTER,
                                       start=draw(st.integers(0, 10 * MS)), end=END_BLOCK if j < k - 1 else END_EXIT)
                                  for j in range(k)]))
    return _build(tasks, [], 0, end, n_cpus)


@st.composite
def interactive(draw, n_cpus: int, max_tasks: int = 5, hogs: bool = True, horizon=(30 * MS, 120 * MS)) -> Workload:
    """Tasks that run briefly and sleep (50 us - 2 ms of CPU, sleeps of 0.1-10 ms), with
    sometimes a CPU hog or two beside them."""
    end = draw(st.integers(*horizon))
    tasks = []
    for _ in range(draw(st.integers(1, max_tasks))):
        k = draw(st.integers(1, 12))
        prio = 120 + draw(st.sampled_from(NICES))
        tasks.append(dict(bursts=[dict(demand=draw(st.integers(50_000, 2 * MS)), prio=prio,
                                       kind=START_AT if j == 0 else START_AFTER,
                                       start=draw(st.integers(0, 10 * MS)) if j == 0 else
                                       draw(st.integers(100_000, 10 * MS)),
                                       end=END_BLOCK if j < k - 1 else END_EXIT) for j in range(k)]))
    if hogs:
        for _ in range(draw(st.integers(0, 2))):
            tasks.append(dict(bursts=[dict(demand=-1, prio=120 + draw(st.sampled_from(NICES)))]))
    return _build(tasks, [], 0, end, n_cpus)


@st.composite
def fork_exit(draw, n_cpus: int, max_children: int = 6, horizon=(20 * MS, 80 * MS)) -> Workload:
    """A parent that forks children at points of its progress; each child runs one to three
    bursts (sleeping between them) and exits; the parent may exit too."""
    end = draw(st.integers(*horizon))
    kids = draw(st.integers(1, max_children))
    parent_demand = draw(st.integers(MS, 10 * MS))
    tasks = [dict(bursts=[dict(demand=parent_demand, prio=120 + draw(st.sampled_from(NICES)),
                               end=draw(st.sampled_from([END_EXIT, END_BLOCK])))], comm="parent")]
    actions = []
    for k in range(kids):
        nb = draw(st.integers(1, 3))
        prio = 120 + draw(st.sampled_from(NICES))
        tasks.append(dict(parent=0, bursts=[dict(demand=draw(st.integers(50_000, 5 * MS)), prio=prio,
                                                 kind=START_BY if j == 0 else START_AFTER,
                                                 start=draw(st.integers(0, 3 * MS)) if j else -1,
                                                 end=END_EXIT if j == nb - 1 else END_BLOCK) for j in range(nb)]))
        actions.append((0, draw(st.integers(0, parent_demand)), k + 1, 0, 1))
    return _build(tasks, actions, 0, end, n_cpus)


@st.composite
def wakeup_chains(draw, n_cpus: int, max_length: int = 5, horizon=(20 * MS, 80 * MS)) -> Workload:
    """A pipeline: the first task wakes every so often (a timer), runs, and wakes the next
    at the end of its work (sometimes a sync wakeup), which wakes the next, and so on; each
    link runs a few rounds."""
    end = draw(st.integers(*horizon))
    n = draw(st.integers(2, max_length))
    rounds = draw(st.integers(1, 6))
    demand = [draw(st.integers(50_000, 3 * MS)) for _ in range(n)]
    tasks, actions = [], []
    for i in range(n):
        prio = 120 + draw(st.sampled_from(NICES))
        bursts = []
        for r in range(rounds):
            if i == 0:
                bursts.append(dict(demand=demand[0], prio=prio, kind=START_AT if r == 0 else START_AFTER,
                                   start=draw(st.integers(100_000, 5 * MS))))
            else:
                bursts.append(dict(demand=demand[i], prio=prio, kind=START_BY, start=-1))
        tasks.append(dict(bursts=bursts))
    for i in range(n - 1):
        sync = draw(st.sampled_from([0, 2]))
        for r in range(rounds):
            actions.append((i, demand[i] * (r + 1), i + 1, r, sync))
    return _build(tasks, actions, 0, end, n_cpus)


@st.composite
def rt_load(draw, n_cpus: int, max_rt: int = 3, max_fair: int = 3, horizon=(100 * MS, 300 * MS)) -> Workload:
    """RT pressure on one CPU, all its tasks pinned there: an RT hog (FIFO), sometimes RT
    tasks that wake periodically beside it (more or less urgent), and fair tasks that want
    the CPU: the subject of RT strictness and of the fair class's starvation bound."""
    cpu = draw(st.integers(0, n_cpus - 1))
    end = draw(st.integers(*horizon))
    tasks = [dict(pinned=cpu, bursts=[dict(demand=-1, prio=draw(st.sampled_from(RT_PRIOS)))])]
    for _ in range(draw(st.integers(0, max_rt - 1))):
        k = draw(st.integers(1, 5))
        tasks.append(dict(pinned=cpu, bursts=[dict(demand=draw(st.integers(200_000, 5 * MS)),
                                                   prio=draw(st.sampled_from(RT_PRIOS)),
                                                   kind=START_AT if j == 0 else START_AFTER,
                                                   start=draw(st.integers(0, 30 * MS)) if j == 0 else
                                                   draw(st.integers(MS, 20 * MS)),
                                                   end=END_BLOCK if j < k - 1 else END_EXIT) for j in range(k)]))
    for _ in range(draw(st.integers(1, max_fair))):
        open_ = draw(st.booleans())
        tasks.append(dict(pinned=cpu, bursts=[dict(demand=-1 if open_ else draw(st.integers(MS, 20 * MS)),
                                                   prio=120 + draw(st.sampled_from(NICES)),
                                                   start=draw(st.integers(0, 20 * MS)))]))
    return _build(tasks, [], 0, end, n_cpus)


def pin_rt_tasks(wl: Workload, n_cpus: int) -> Workload:
    """The workload with every task that has an RT or stop burst pinned (to its own pin, or
    CPU task-index mod ``n_cpus``), so that each RT wait has one CPU."""
    rt_tasks = set(wl.bursts.filter(pl.col("prio") < SC_MAX_RT)["task"].to_list())
    pinned = [(p if p >= 0 else (i % n_cpus)) if i in rt_tasks else p
              for i, p in enumerate(wl.tasks["pinned_cpu"].to_list())]
    return Workload(wl.tasks.with_columns(pinned_cpu=pl.Series(pinned, dtype=pl.Int16)), wl.bursts, wl.actions,
                    wl.start_ns, wl.end_ns, wl.n_cpus, wl.source, affinity=wl.affinity)


SC_MAX_RT = schema.MAX_RT_PRIO


@st.composite
def cases(draw, workload=mixed, topology=None, params=None):
    """(Workload, Topology, engine parameters): ``topology`` (a strategy; default
    ``topologies()``) drawn first, then ``workload(n_cpus)`` for it, then ``params`` (a
    strategy; default: none off their defaults)."""
    topo = draw(topology if topology is not None else topologies())
    wl = draw(workload(topo.n_cpus))
    return wl, topo, draw(params) if params is not None else {}
