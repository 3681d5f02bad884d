"""A slow, plain pure-Python reference implementation of the replay engine with the
EEVDF fair class and the stock RT class.

Written only from the written rules: ``docs/engine-model.md`` (the engine's
contract; section numbers below, "§N", refer to it), ``specs/eevdf.md`` and
``specs/rt.md`` (class-internal rules, cited as "eevdf §N" / "rt §N") and
``specs/placement.md`` where the model doc refers to it. It does not look at the
code under test (replay/_engine.py, replay/_placement.py, policies/eevdf.py,
policies/rt.py); it only reuses the driver's input helpers (how a workload's prio
becomes a class, the NUMA allowance of a topology, the parameter records) and the
bit-exact ``calc_delta`` of policies/_fair_common.py.

It is meant to be read: Python objects, a heapq of (time, seq, ...) events and
plain lists for the run queues. It is not fast.

Where the written rules leave a choice open, the choice made here is marked
"READING:"; tests/test_engine_oracle.py reports the places where the numba engine
read them differently.

Entry point: :func:`reference_replay`.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import re
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from policies import eevdf as _eevdf_params  # PARAMS / defaults only
from policies._fair_common import calc_delta, scaling_factor
from policies._params import resolve
from policies.weights import WEIGHT, WMULT
from policies import _state as S
from replay.sim.engine import _class_and_policy, _imb_numa_nr
from replay.sim.params import ENGINE_PARAMS
from replay.model.topology import Topology, from_spec
from replay.model.workload import (ACT_SYNC_WAKE, ACT_YIELD, END_BLOCK, END_EXIT, START_AFTER, START_AT, START_BY,
                                   Workload)
from traces import schema

_calc_delta = getattr(calc_delta, "py_func", calc_delta)
#: PELT: y^n * (2^32 - 1) with y^32 = 1/2 (kernel/sched/sched-pelt.h's generator), and the
#: sum of a signal that was always on
_YN_INV = [int(((1 << 32) - 1) * 0.5 ** (n / 32)) for n in range(32)]
_LOAD_AVG_MAX = 47742

INF = float("inf")

# task states
NOT_STARTED, RUNNABLE, RUNNING, BLOCKED, EXITED = range(5)
STOP, RT, FAIR = S.CLS_STOP, S.CLS_RT, S.CLS_FAIR

# event kinds (§2)
EV_START, EV_POINT, EV_TICK, EV_SERVER = range(4)

# enqueue / dequeue flags (policies/_protocol.py names)
ENQ_WAKEUP, ENQ_NEW, ENQ_MIGRATED, ENQ_REQUEUE = 1, 2, 4, 8
DEQ_SLEEP, DEQ_MIGRATE, DEQ_EXIT = 1, 2, 4


def _trunc_div(a: int, b: int) -> int:
    """Integer division truncated toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def adjust_numa_imbalance(imb: int, dst_running: int, imb_numa_nr: int) -> int:
    """placement.md §6.1."""
    if dst_running > imb_numa_nr:
        return imb
    if imb <= 2:
        return 0
    return imb


# ---------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------

@dataclass
class Signal:
    """A PELT signal: last update (ns), period_contrib, sum, average."""
    ts: int = 0
    pc: int = 0
    sum: int = 0
    avg: int = 0


@dataclass(kw_only=True)
class Entity:
    """EEVDF's state of an entity, a task or a group entity (eevdf §2-§7)."""
    v: int = 0
    d: int = 0
    vlag: int = 0
    slice: int = 0
    vprot: int = 0
    reld: int = 0
    has_reld: bool = False


@dataclass
class Task(Entity):
    idx: int
    tid: int
    bursts: list            # global burst indices
    actions: list           # global action indices
    pinned: int
    parent: int
    state: int = NOT_STARTED
    cpu: int = -1           # CPU it runs / waits on, or last was on
    last_cpu: int = -1      # "previous CPU": where it last ran (-1 until it first runs)
    cls: int = FAIR
    prio: int = 120
    policy: int = S.POL_NORMAL
    weight: int = 1024
    burst: int = -1         # current burst (global index)
    progress: int = 0
    burst_end: float = INF
    next_act: int = 0       # position in self.actions
    last_acct: int = 0
    last_ran: int = 0       # READING: when it last started running (replay/_state.py T_LAST_RAN)
    recent_cpu: int = -1
    wakee: int = -1
    flips: int = 0
    flips_ts: int = 0
    pending: set = field(default_factory=set)  # bursts marked pending (§4)
    wait_burst: int = -1
    home: int = -1
    delayed: bool = False
    on_rq: bool = False
    seq: int = 0
    # open interval
    iv: dict | None = None
    # task groups (§13): its group (0: the root group), the weight it added to its group's
    # queue, the CPU whose group signal holds its load (-1 none), its part of that signal's input
    group: int = 0
    g_w: int = 0
    gp_cpu: int = -1
    gp_in: int = 0
    # RT
    key: int = 0
    rr_left: int = 0
    # PELT load (replay/sim/_pelt.py): the signal, the weight it is computed with (0: never
    # a fair task), the CPU it is attached to, whether its weight counts in that CPU's input
    pelt: Signal = field(default_factory=lambda: Signal())
    pelt_w: int = 0
    pelt_cpu: int = -1
    pelt_q: bool = False
    # PELT utilisation (engine-model.md §3.2; machines of asymmetric capacity only): the
    # signal, whether it was ever attached, its input (the CPU's capacity while it runs)
    pu: Signal = field(default_factory=lambda: Signal())
    pu_init: bool = False
    pu_in: int = 0


@dataclass
class GroupEntity(Entity):
    """Group g's entity on one CPU (§13), and its group's queue there."""
    g: int
    cpu: int
    w: int = 1024           # its weight (a group entity starts with the group's whole weight)
    on: bool = False        # on its CPU's root queue (incl. delayed)
    delayed: bool = False
    seq: int = 0
    # its group's queue on the CPU: v0, running task (None), tasks (incl. delayed), their weight
    v0: int = 0
    rcurr: object = None
    nr: int = 0
    load_w: int = 0
    # that queue's PELT load signal, its input (runnable weight), published contribution, when
    pelt: Signal = field(default_factory=lambda: Signal())
    run: int = 0
    contrib: int = 0
    pub: int = 0


@dataclass
class Cpu:
    idx: int
    core: int
    llc: int
    node: int
    capacity: int
    curr: int = -1
    gen: int = 0
    rt: list = field(default_factory=list)    # RT/stop class list (incl. running)
    fair: list = field(default_factory=list)  # fair class list (incl. running and delayed)
    seq: int = 0
    tick_on: bool = False
    need_resched: bool = False
    idle_since: int = -1
    balance_next: int = 0
    balance_failed: int = 0
    server_left: int = 0
    server_active: bool = False
    starve_since: int = -1
    dist_iter: int = 0      # READING: the rotating iterator starts at 0 (the scan starts at CPU 1)
    # utilisation proxy (engine-model.md §7): fixed point, 1024 * 1024 = always busy
    util: int = 0
    util_ts: int = 0
    # PELT load of the fair run queue, and its input: the runnable fair tasks' weight
    pelt: Signal = field(default_factory=lambda: Signal())
    rq_weight: int = 0
    # PELT utilisation of the fair run queue and its input (capacity while a fair task runs)
    pu: Signal = field(default_factory=lambda: Signal())
    pu_in: int = 0
    # newidle's idle-time gate (engine-model.md §9.3): rq->avg_idle (set at start), idle_stamp
    avg_idle: int = 0
    idle_stamp: int = -1
    # EEVDF root queue: v0, its running entity (a task or a group entity; None), its group
    # entities (§13), the next buddy, the root-queue entity of the task put last
    v0: int = 0
    rcurr: object = None
    gents: list = field(default_factory=list)
    buddy: object = None
    prev_top: object = None
    # RT per-queue
    tail_key: int = 0
    head_key: int = 0


class ReferenceEngine:
    """One replay. ``run()`` returns the intervals as a list of tuples (schema.INTERVALS order)."""

    def __init__(self, wl: Workload, topo: Topology, params: dict | None = None, split_migrations: bool = True):
        self.split_migrations = split_migrations
        given = dict(params or {})
        eng_names = {p.name for p in ENGINE_PARAMS}
        pol_names = {p.name for p in _eevdf_params.PARAMS}
        unknown = set(given) - eng_names - pol_names
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}")
        ev = resolve(ENGINE_PARAMS, {k: v for k, v in given.items() if k in eng_names}, "engine")
        pol = resolve(_eevdf_params.PARAMS, {k: v for k, v in given.items() if k in pol_names}, "eevdf")
        self.C = C = topo.n_cpus
        hz = int(ev["hz"])
        self.tick_ns = 1_000_000_000 // hz
        self.start = int(wl.start_ns)
        self.horizon = int(wl.end_ns)
        self.sleep_abs = ev["sleep"] == "absolute"
        self.smt_factor = int(ev["smt_factor"])
        self.numa_factor = int(ev["numa_factor"])
        self.cold_ns = int(ev["cold_penalty_ns"])
        self.migration_cost = int(ev["migration_cost_ns"])
        self.newidle_on = bool(ev["newidle_balance"])
        self.periodic_on = bool(ev["periodic_balance"])
        self.wa_idle = bool(ev["WA_IDLE"])
        self.wa_weight = bool(ev["WA_WEIGHT"])
        self.wa_bias = bool(ev["WA_BIAS"])
        self.sis_util = bool(ev["SIS_UTIL"])
        self.wake_wide = bool(ev["WAKE_WIDE"])
        self.wa_sync = bool(ev["WA_SYNC"])
        self.sync_waker = ev["sync_wakeup"] == "waker"
        self.yields = bool(ev["yields"])
        # §7.5: asymmetric capacities keep utilisation; 1: capacity-aware wakeups, 2: the LLC scan
        # (auto: the LLC scan for a named kernel before 5.7, no EAS before 5.0)
        m = re.match(r"(\d+)\.(\d+)", topo.kernel or "")
        kv = (int(m.group(1)), int(m.group(2))) if m else (99, 0)
        mode = ev["asym_wakeup"] if ev["asym_wakeup"] != "auto" else ("llc" if kv < (5, 7) else "capacity")
        eas = ev["eas"] if ev["eas"] != "auto" else ("off" if kv < (5, 0) else "on")
        asym = len(set(int(x) for x in topo.capacity)) > 1
        self.asym = (1 if mode == "capacity" else 2) if asym else 0
        self.eas = bool(self.asym and topo.energy and eas == "on")
        gate = ev["newidle_avg_idle"]
        self.avg_idle_gate = gate == "on" or (gate == "auto" and m is not None and kv < (5, 16))
        self.pd = [int(x) for x in topo.pd]
        # per performance domain: [(frequency, cost)] with cost = fmax * power // freq (whole mW)
        self.em = [[(int(f), int(t[-1][0]) * int(round(pw)) // int(f)) for f, pw in t]
                   for t in (topo.energy or ())]
        self.rt_push = bool(ev["RT_PUSH"])
        self.server_runtime = int(ev["fair_server_runtime_ns"])
        self.server_period = int(ev["fair_server_period_ns"])
        self.imb_pct = int(ev["imbalance_pct"])
        self.imb_numa_nr = _imb_numa_nr(topo)
        self.balance_ms = int(ev["balance_interval_ms"])
        self.cache_nice = int(ev["cache_nice_tries"])
        # Wakeup latencies are not in docs/engine-model.md: the reference models only 0
        # (-1, "measure from the trace", is 0 for a workload without a trace).
        for name in ("idle_wakeup_latency_ns", "preempt_latency_ns"):
            if int(ev.get(name, 0)) > 0:
                raise NotImplementedError(f"{name} > 0 is not part of docs/engine-model.md")
        # EEVDF parameters (eevdf §1; the scaling rule of cfs.md §2)
        factor = scaling_factor(C, pol["tunable_scaling"])
        self.base_slice = int(pol["base_slice_ns"]) * factor
        self.base_unscaled = int(pol["base_slice_ns"])
        self.PLACE_LAG = bool(pol["PLACE_LAG"])
        self.PLACE_DEADLINE_INITIAL = bool(pol["PLACE_DEADLINE_INITIAL"])
        self.PLACE_REL_DEADLINE = bool(pol["PLACE_REL_DEADLINE"])
        self.RUN_TO_PARITY = bool(pol["RUN_TO_PARITY"])
        self.PREEMPT_SHORT = bool(pol["PREEMPT_SHORT"])
        self.DELAY_DEQUEUE = bool(pol["DELAY_DEQUEUE"])
        self.DELAY_ZERO = bool(pol["DELAY_ZERO"])
        self.WAKEUP_PREEMPTION = bool(pol["WAKEUP_PREEMPTION"])
        self.PICK_BUDDY = bool(pol["PICK_BUDDY"])
        # RT (rt §4): RR slice in ticks
        self.rr_ticks = max(1, int(pol["sched_rr_timeslice_ms"]) * hz // 1000)

        # topology
        self.cpus = [Cpu(i, int(topo.core[i]), int(topo.llc[i]), int(topo.node[i]), int(topo.capacity[i]))
                     for i in range(C)]
        self.llc_size = {c.llc: sum(1 for x in self.cpus if x.llc == c.llc) for c in self.cpus}

        # workload
        wt = wl.tasks
        self.T = T = wt.height
        comms = wt["comm"].to_list()
        b = wl.bursts
        B = b.height
        self.b_task = b["task"].to_list()
        self.b_demand = b["demand_ns"].to_list()
        self.b_prio = b["prio"].to_list()
        self.b_start_kind = b["start_kind"].to_list()
        self.b_start = b["start_ns"].to_list()
        self.b_abs = b["abs_ns"].to_list()
        self.b_cause = b["cause"].to_list()
        self.b_end_kind = b["end_kind"].to_list()
        self.b_sleep = b["sleep_state"].to_list()
        is_mig = np.array([comms[t].startswith("migration/") for t in self.b_task], bool) if B else \
            np.zeros(0, bool)
        cls, pol_ = _class_and_policy(np.asarray(self.b_prio, np.int64), is_mig, ev["rt_policy"])
        self.b_class = cls.tolist()
        self.b_policy = pol_.tolist()
        a = wl.actions
        self.a_task = a["task"].to_list()
        self.a_progress = a["progress_ns"].to_list()
        self.a_target = a["target_burst"].to_list()
        self.a_kind = a["kind"].to_list()
        pinned = wt["pinned_cpu"].to_list()
        obs_cpu, b_cause = b["obs_cpu"].to_list(), self.b_cause
        first_b, n_b = wt["first_burst"].to_list(), wt["n_bursts"].to_list()
        first_a, n_a = wt["first_action"].to_list(), wt["n_actions"].to_list()
        parents, tids = wt["parent"].to_list(), wt["tid"].to_list()
        self.tasks = []
        for i in range(T):
            p = int(pinned[i])
            if p >= C:  # §7.2: id mod the CPU count
                p = p % C
            self.tasks.append(Task(i, int(tids[i]), list(range(first_b[i], first_b[i] + n_b[i])),
                                   list(range(first_a[i], first_a[i] + n_a[i])), p, int(parents[i])))
            # §4: a task alive before the trace began was last on the CPU it is first seen on
            if n_b[i] and b_cause[first_b[i]] != schema.BEGIN_NEW and obs_cpu[first_b[i]] >= 0:
                self.tasks[-1].last_cpu = int(obs_cpu[first_b[i]]) % C

        # task groups (§13): each task's group when autogroup applies, one entity per group and CPU
        groups_on = ev["autogroup"] == "on" and T > 0 and int(wt["group"].max()) > 0
        gid = wt["group"].to_list() if groups_on else [0] * T
        for i in range(T):
            self.tasks[i].group = int(gid[i])
        G = max(gid, default=0) + 1
        self.groups = [None] + [[GroupEntity(g, c) for c in range(C)] for g in range(1, G)]
        self.g_total = [0] * G

        self.heap: list = []
        self.seq = 0
        self.now = self.start
        self.rows: list = []

    # -----------------------------------------------------------------------------
    # small helpers
    # -----------------------------------------------------------------------------

    def push_event(self, time, kind, a, b=0):
        self.seq += 1
        heapq.heappush(self.heap, (int(time), self.seq, kind, a, b))

    def allowed(self, t: Task, c: int) -> bool:
        return t.pinned < 0 or t.pinned == c

    def first_allowed(self, t: Task) -> int:
        return t.pinned if t.pinned >= 0 else 0

    def running_task(self, c: int) -> int:
        """The task c runs (-1 if none or if its current task has just blocked/exited)."""
        t = self.cpus[c].curr
        return t if t >= 0 and self.tasks[t].state == RUNNING else -1

    def runnable_on(self, c: int) -> list:
        """Tasks on c's lists that are runnable or running (delayed ones excluded)."""
        cp = self.cpus[c]
        return [t for t in cp.rt + cp.fair if not self.tasks[t].delayed]

    def nr_running(self, c: int) -> int:
        """§7: runnable tasks on c (running included, delayed ones not)."""
        return len(self.runnable_on(c))

    def is_idle(self, c: int) -> bool:
        """§7: c runs nothing and its lists hold no runnable task."""
        return self.cpus[c].curr < 0 and not self.runnable_on(c)

    def fair_load(self, c: int) -> int:
        """§7: Σ weights of c's fair tasks that are not delayed (running one included)."""
        return sum(self.tasks[t].weight for t in self.cpus[c].fair if not self.tasks[t].delayed)

    def waiting_fair(self, c: int) -> list:
        """§9: c's fair list minus delayed ones minus the running one."""
        run = self.running_task(c)
        return [t for t in self.cpus[c].fair if not self.tasks[t].delayed and t != run]

    def core_idle(self, c: int) -> bool:
        core = self.cpus[c].core
        return all(self.is_idle(x.idx) for x in self.cpus if x.core == core)

    def node_runnable(self, node: int) -> int:
        return sum(len(self.runnable_on(x.idx)) for x in self.cpus if x.node == node)

    def domain(self, c: int, level: int) -> list:
        cp = self.cpus[c]
        if level == 0:
            return [x.idx for x in self.cpus if x.core == cp.core]
        if level == 1:
            return [x.idx for x in self.cpus if x.llc == cp.llc]
        if level == 2:
            return [x.idx for x in self.cpus if x.node == cp.node]
        return list(range(self.C))

    @staticmethod
    def urgency(t: Task) -> tuple:
        """Smaller is more urgent: class first (stop > RT > fair), then prio."""
        return (t.cls, t.prio)

    # -----------------------------------------------------------------------------
    # intervals
    # -----------------------------------------------------------------------------

    def open_iv(self, t: Task, state, cpu, begin, sleep_state=-1, wait_start=-1, cause=-1):
        t.iv = dict(state=state, cpu=cpu, start=self.now, begin=begin, sleep=sleep_state, wait=wait_start,
                    cause=cause)

    def close_iv(self, t: Task, end_code, at=None):
        iv = t.iv
        assert iv is not None
        self.rows.append((t.tid, iv["cpu"], iv["start"], self.now if at is None else at, iv["state"], iv["begin"],
                          end_code, iv["sleep"], iv["wait"], iv["cause"], True))
        t.iv = None

    # -----------------------------------------------------------------------------
    # §3 running, progress, accounting, arming
    # -----------------------------------------------------------------------------

    def rate(self, c: int, t: Task) -> int:
        cp = self.cpus[c]
        r = cp.capacity
        # READING: a sibling "runs a task" until it switches away (a current task that has just
        # blocked or exited still counts: the rate is the one in effect since the last accounting).
        if any(x.idx != c and x.core == cp.core and x.curr >= 0 for x in self.cpus):
            r = r * self.smt_factor // 1024
        if t.home >= 0 and t.home != cp.node:
            r = r * self.numa_factor // 1024
        return max(r, 1)

    def account(self, c: int):
        ti = self.running_task(c)
        if ti < 0:
            return
        t = self.tasks[ti]
        dt = self.now - t.last_acct
        if dt <= 0:
            return
        t.last_acct = self.now
        t.progress += dt * self.rate(c, t) // 1024
        if self.update_curr(c, t, dt):
            self.cpus[c].need_resched = True
        cp = self.cpus[c]
        if cp.server_active and t.cls == FAIR:  # §10: fair running time is charged to the server
            cp.server_left -= dt
            if cp.server_left <= 0:
                cp.need_resched = True

    def arm(self, c: int):
        cp = self.cpus[c]
        cp.gen += 1
        ti = self.running_task(c)
        if ti < 0:
            return
        t = self.tasks[ti]
        p = t.burst_end
        if t.next_act < len(t.actions):
            ap = self.a_progress[t.actions[t.next_act]]
            if ap < p:
                p = ap
        if p == INF:
            return
        left = p - t.progress
        dt = 0 if left <= 0 else -(-(left * 1024) // self.rate(c, t))
        self.push_event(self.now + dt, EV_POINT, c, cp.gen)

    # -----------------------------------------------------------------------------
    # class dispatch
    # -----------------------------------------------------------------------------

    def update_curr(self, c, t: Task, dt) -> bool:
        if t.cls == FAIR:
            return self.fair_update_curr(c, t, dt)
        return False  # RT / stop: nothing to do

    def enqueue(self, c, t: Task, flags):
        if t.cls == FAIR:
            self.fair_enqueue(c, t, flags)
        else:
            self.rt_enqueue(c, t, flags)

    def list_add(self, c, t: Task):
        cp = self.cpus[c]
        (cp.fair if t.cls == FAIR else cp.rt).append(t.idx)
        cp.seq += 1
        t.seq = cp.seq
        t.on_rq = True
        t.cpu = c

    def list_remove(self, c, t: Task):
        cp = self.cpus[c]
        lst = cp.fair if t.idx in cp.fair else cp.rt
        lst.remove(t.idx)
        t.on_rq = False
        t.delayed = False

    def dequeue(self, c, t: Task, flags) -> bool:
        """Returns True if t left the queue (it is then removed from the list)."""
        if t.cls == FAIR:
            return self.fair_dequeue(c, t, flags)
        self.list_remove(c, t)
        return True

    def pick_class(self, c, cls) -> int:
        return self.fair_pick(c) if cls == FAIR else self.rt_pick(c)

    def check_preempt(self, c, t: Task) -> bool:
        if t.cls == FAIR:
            return self.fair_check_preempt(c, t)
        return self.rt_check_preempt(c, t)

    def set_next(self, c, t: Task, prev: int):
        if t.cls == FAIR:
            self.fair_set_next(c, t, prev)

    def put_prev(self, c, t: Task):
        if t.cls == FAIR:
            self.fair_put_prev(c, t)

    def class_tick(self, c, t: Task) -> bool:
        if t.cls == FAIR:
            # eevdf §9: the tick's update_curr already ran in the accounting; §13: the running
            # task's group entity is reweighted
            if t.group:
                self.update_group(c, t.group)
            return False
        return self.rt_tick(c, t)

    def init_task(self, this, t: Task, parent):
        # fair (eevdf §6: a new task has vlag 0) and RT (rt §4: RR slice reset at fork)
        t.vlag = 0
        t.slice = self.base_slice
        t.has_reld = False
        t.rr_left = self.rr_ticks

    # -----------------------------------------------------------------------------
    # EEVDF (eevdf.md; §12 integer conventions) over the two levels of §13: a CPU's root
    # queue (tasks of the root group and one entity per group with tasks there) and each
    # group's queue on it (its tasks). Without groups the root queue is the CPU's list.
    # -----------------------------------------------------------------------------

    def w(self, t) -> int:
        if isinstance(t, GroupEntity):
            return t.w
        return int(WEIGHT[min(max(t.prio - 120, -20), 19) + 20])

    def cdf(self, delta: int, t) -> int:
        """calc_delta_fair: bit-exact (cfs.md §3), identity at weight 1024; a group entity's
        inverse weight is (2^32 - 1) // w (§13)."""
        if isinstance(t, GroupEntity):
            return delta if t.w == 1024 else int(_calc_delta(int(delta), 1024, ((1 << 32) - 1) // t.w))
        nice = min(max(t.prio - 120, -20), 19)
        if WEIGHT[nice + 20] == 1024:
            return delta
        return int(_calc_delta(int(delta), 1024, int(WMULT[nice + 20])))

    def ge(self, g: int, c: int) -> "GroupEntity":
        return self.groups[g][c]

    def ents(self, c, g) -> list:
        """Queue (c, g)'s entities: g's tasks on c's list; for the root queue (g = 0) also the
        group entities on it."""
        cp = self.cpus[c]
        out = [self.tasks[x] for x in cp.fair if self.tasks[x].group == g]
        if g == 0:
            out += cp.gents
        return out

    def qhold(self, c, g):
        """What holds queue (c, g)'s v0 and running entity: the CPU, or the group's entity."""
        return self.cpus[c] if g == 0 else self.ge(g, c)

    def V(self, c, g=0, exclude=None) -> int:
        q = self.qhold(c, g)
        ents = [e for e in self.ents(c, g) if e is not exclude]
        if not ents:
            return q.v0
        W = sum(self.w(e) for e in ents)
        Sm = sum(self.w(e) * (e.v - q.v0) for e in ents)
        return q.v0 + Sm // W  # floor toward -inf

    def eligible(self, c, t, g=None) -> bool:
        g = self.level_of(t) if g is None else g
        q = self.qhold(c, g)
        ents = self.ents(c, g)
        W = sum(self.w(e) for e in ents)
        Sm = sum(self.w(e) * (e.v - q.v0) for e in ents)
        return Sm >= (t.v - q.v0) * W

    @staticmethod
    def level_of(e) -> int:
        """The queue an entity is in: its group's for a task, the root queue for a group entity."""
        return 0 if isinstance(e, GroupEntity) else e.group

    def update_v0(self, c, g=0):
        """v0 = max(v0, smallest v in the queue) (eevdf §2). READING: done in update_curr and after
        every dequeue that removes an entity; it only matters for an empty queue (V = v0)."""
        ents = self.ents(c, g)
        if ents:
            q = self.qhold(c, g)
            q.v0 = max(q.v0, min(e.v for e in ents))

    def protected(self, t) -> bool:
        return t.vprot > t.v

    def save_lag(self, c, t, g=None) -> int:
        g = self.level_of(t) if g is None else g
        limit = self.cdf(max(2 * t.slice, self.tick_ns), t)
        return max(-limit, min(limit, self.V(c, g) - t.v))

    def place(self, c, g, e, initial=False, keep_slice=False):
        """place_entity in queue (c, g) (eevdf §6): V and the lag's inflation without e."""
        if not keep_slice:
            e.slice = self.base_slice
        others = [x for x in self.ents(c, g) if x is not e]
        vnow = self.V(c, g, exclude=e)
        lag = 0
        if self.PLACE_LAG and others and e.vlag != 0:
            wq = sum(self.w(x) for x in others)
            lag = _trunc_div(e.vlag * (wq + self.w(e)), wq)
        e.v = vnow - lag
        if e.has_reld:
            e.d = e.v + e.reld
            e.has_reld = False
            return
        vs = self.cdf(e.slice, e)
        if self.PLACE_DEADLINE_INITIAL and initial:
            vs = vs // 2
        e.d = e.v + vs

    def requeue(self, c, g, e):
        """eevdf §10: wakeup of a delayed entity, in place; DELAY_ZERO re-places one whose lag
        is positive at V (READING: V without the entity, as a placement)."""
        if self.DELAY_ZERO and self.V(c, g) - e.v > 0:
            e.vlag = 0
            e.has_reld = False
            self.place(c, g, e, keep_slice=isinstance(e, GroupEntity))

    def fair_update_curr(self, c, t: Task, dt) -> bool:
        cp = self.cpus[c]
        g = t.group
        t.v += self.cdf(dt, t)
        completed = False
        if t.v >= t.d:
            t.slice = self.base_slice
            t.d = t.v + self.cdf(t.slice, t)
            completed = True
        self.update_v0(c, g)
        r = len(self.ents(c, g)) > 1 and (completed or not self.protected(t))
        if g == 0:
            return r
        ge = self.ge(g, c)  # §13: the group entity above it, in the root queue
        ge.v += self.cdf(dt, ge)
        renewed = ge.v >= ge.d
        if renewed:
            ge.d = ge.v + self.cdf(ge.slice, ge)
        self.update_v0(c, 0)
        if len(self.ents(c, 0)) > 1 and (renewed or not self.protected(ge)):
            if cp.buddy is ge:
                cp.buddy = None
            r = True
        return r

    def fair_enqueue(self, c, t: Task, flags):
        g = t.group
        if flags & ENQ_REQUEUE:  # eevdf §10: wakeup of a delayed task, in place
            if g:
                self.group_signal(g, c)
                self.set_runnable(g, c, t, t.pelt_w)
            self.requeue(c, g, t)
            return
        self.place(c, g, t, initial=bool(flags & ENQ_NEW))
        if g:
            self.joined_group(c, t)

    def fair_dequeue(self, c, t: Task, flags) -> bool:
        cp = self.cpus[c]
        g = t.group
        if g:
            self.group_signal(g, c)
            self.set_runnable(g, c, t, 0)
            if flags & DEQ_EXIT:
                self.group_detach(g, t)
        sleep = bool(flags & DEQ_SLEEP)
        if sleep and not flags & DEQ_EXIT and self.DELAY_DEQUEUE and not self.eligible(c, t):
            if not t.delayed:
                t.delayed = True
            return False
        t.vlag = self.save_lag(c, t)
        if not sleep and self.PLACE_REL_DEADLINE:
            t.reld = t.d - t.v
            t.has_reld = True
        if cp.rcurr is t:
            cp.rcurr = None
        self.list_remove(c, t)
        self.update_v0(c, g)
        if g:
            self.left_group(c, t, g, sleep)
        if cp.gents and not cp.fair:
            self.drop_delayed_groups(c)
        return True

    def finish_delayed(self, c, e, g=None):
        """eevdf §10: a delayed entity leaves for real (picked, or its class changed)."""
        g = self.level_of(e) if g is None else g
        lag = self.save_lag(c, e, g)
        if self.DELAY_ZERO and lag > 0:
            lag = 0
        e.vlag = lag
        e.has_reld = False
        if isinstance(e, GroupEntity):
            self.unlink(c, e)
            return
        self.list_remove(c, e)
        self.update_v0(c, g)
        if g:
            self.left_group(c, e, g, True)

    def pick_eevdf(self, c, g=0, protect=True):
        q = self.qhold(c, g)
        ents = self.ents(c, g)
        if not ents:
            return None
        if len(ents) == 1:
            return ents[0]
        cur = q.rcurr if q.rcurr is not None and any(e is q.rcurr for e in ents) else None
        cc = cur if cur is not None and self.eligible(c, cur, g) else None
        if cc is not None and protect and self.protected(cc):
            return cc
        best = None
        for e in ents:
            if e is cur or not self.eligible(c, e, g):
                continue
            if best is None or e.d < best.d or (e.d == best.d and e.seq < best.seq):
                best = e
        if best is None or (cc is not None and cc.d < best.d):
            best = cc
        return best

    def fair_pick(self, c) -> int:
        cp = self.cpus[c]
        while True:
            e = cp.buddy  # §13: the next buddy first, when eligible
            if not (e is not None and self.PICK_BUDDY and self.eligible(c, e, 0)):
                e = self.pick_eevdf(c, 0, True)
            if e is None:
                return -1
            if e.delayed:
                self.finish_delayed(c, e, 0)
                continue
            if not isinstance(e, GroupEntity):
                return e.idx
            t = self.pick_eevdf(c, e.g, True)
            if t.delayed:
                self.finish_delayed(c, t, e.g)
                continue
            return t.idx

    def min_slice(self, c, g=0) -> int:
        return min(e.slice for e in self.ents(c, g))

    def set_protect(self, c, g, e):
        s = self.min_slice(c, g) if self.RUN_TO_PARITY else self.base_unscaled
        s = min(s, e.slice)
        e.vprot = e.d if s == e.slice else min(e.d, e.v + self.cdf(s, e))

    def top(self, c, t: Task):
        return t if t.group == 0 else self.ge(t.group, c)

    def fair_set_next(self, c, t: Task, prev: int):
        cp = self.cpus[c]
        top = self.top(c, t)
        direct = cp.idle_since < 0 and prev >= 0 and self.tasks[prev].cls == FAIR
        if not (direct and cp.prev_top is top and t.group != 0):  # §13: a switch inside a group keeps it
            self.set_protect(c, 0, top)
            if cp.buddy is top:
                cp.buddy = None
        cp.rcurr = top
        if t.group:
            self.set_protect(c, t.group, t)
            top.rcurr = t

    def fair_put_prev(self, c, t: Task):
        cp = self.cpus[c]
        top = self.top(c, t)
        cp.prev_top = top
        if cp.rcurr is top:
            cp.rcurr = None
        if top is not t and top.rcurr is t:
            top.rcurr = None

    def running_fair(self, c):
        cp = self.cpus[c]
        top = cp.rcurr
        if isinstance(top, GroupEntity):
            return top.rcurr
        return top

    def fair_check_preempt(self, c, p: Task) -> bool:
        if not self.WAKEUP_PREEMPTION:
            return False
        cp = self.cpus[c]
        ct = self.running_fair(c)
        if ct is None or ct is p:
            return False
        level, se, pse = p.group, ct, p
        if ct.group != p.group:  # §13: compared where they meet, the root queue
            level, se, pse = 0, cp.rcurr, self.top(c, p)
        short = self.PREEMPT_SHORT and pse.slice < se.slice
        if self.pick_eevdf(c, level, protect=not short) is pse:
            if short:
                se.vprot = se.v
            return True
        if short and self.RUN_TO_PARITY:
            se.vprot = min(se.vprot, se.v + self.cdf(self.min_slice(c, level), se))
        return False

    # -- task groups (§13) -----------------------------------------------------------

    def unlink(self, c, ge: "GroupEntity"):
        cp = self.cpus[c]
        cp.gents = [x for x in cp.gents if x is not ge]
        ge.on = ge.delayed = False
        if cp.rcurr is ge:
            cp.rcurr = None
        if cp.buddy is ge:
            cp.buddy = None

    def shares(self, c, g) -> int:
        ge = self.ge(g, c)
        load = max(ge.load_w, ge.pelt.avg)
        tg_weight = self.g_total[g] - ge.contrib + load
        s = (1024 << 10) * load
        if tg_weight > 0:
            s //= tg_weight
        s = min(max(s, 2), 1024 << 10)
        return max(s >> 10, 2)

    def group_signal(self, g, c):
        ge = self.ge(g, c)
        self.pelt_advance(ge.pelt, ge.run, 1)
        if self.now - ge.pub < 1_000_000:
            return
        delta = ge.pelt.avg - ge.contrib
        if abs(delta) > ge.contrib // 64:
            self.g_total[g] += delta
            ge.contrib = ge.pelt.avg
            ge.pub = self.now

    def set_runnable(self, g, c, t: Task, w: int):
        ge = self.ge(g, c)
        ge.run += w - t.gp_in
        t.gp_in = w

    def group_detach(self, g, t: Task):
        if t.gp_cpu < 0:
            return
        go = self.ge(g, t.gp_cpu)
        self.group_signal(g, t.gp_cpu)
        go.pelt.avg = max(go.pelt.avg - t.pelt.avg, 0)
        go.pelt.sum = max(max(go.pelt.sum - t.pelt_w * t.pelt.sum, 0), go.pelt.avg * (_LOAD_AVG_MAX - 1024))
        t.gp_cpu = -1

    def group_attach(self, g, t: Task, c):
        if t.gp_cpu == c:
            return
        self.group_detach(g, t)
        ge = self.ge(g, c)
        ge.pelt.avg += t.pelt.avg
        ge.pelt.sum += t.pelt_w * t.pelt.sum
        t.gp_cpu = c

    def reweight(self, c, ge: "GroupEntity", w: int):
        """reweight_entity, 6.18 (§13)."""
        old = ge.w
        if old == w:
            return
        if not ge.on:
            ge.vlag = _trunc_div(ge.vlag * old, w)
            ge.w = w
            return
        cp = self.cpus[c]
        running = cp.rcurr is ge
        ge.vlag = self.save_lag(c, ge, 0)
        rel_d = _trunc_div((ge.d - ge.v) * old, w)
        ge.vlag = _trunc_div(ge.vlag * old, w)
        ge.w = w
        ents = self.ents(c, 0) if running else [x for x in self.ents(c, 0) if x is not ge]
        W = sum(self.w(x) for x in ents)
        vnow = cp.v0 + sum(self.w(x) * (x.v - cp.v0) for x in ents) // W if W else cp.v0
        n = len(ents) - (1 if running else 0)
        lag = 0
        if self.PLACE_LAG and n > 0 and ge.vlag != 0:
            lag = _trunc_div(ge.vlag * (W + w), W)
        ge.v = vnow - lag
        ge.d = ge.v + rel_d
        if running:
            ge.vprot = ge.v
        self.update_v0(c, 0)

    def update_group(self, c, g):
        ge = self.ge(g, c)
        self.group_signal(g, c)
        if not ge.on or ge.nr == 0:
            return
        ge.slice = self.min_slice(c, g)
        self.reweight(c, ge, self.shares(c, g))

    def joined_group(self, c, t: Task):
        cp = self.cpus[c]
        g = t.group
        ge = self.ge(g, c)
        t.g_w = self.w(t)
        ge.nr += 1
        ge.load_w += t.g_w
        self.group_signal(g, c)
        self.group_attach(g, t, c)
        self.set_runnable(g, c, t, t.pelt_w)
        if not ge.on:
            ge.slice = self.min_slice(c, g)
            self.reweight(c, ge, self.shares(c, g))
            self.place(c, 0, ge, keep_slice=True)
            cp.gents.insert(0, ge)
            ge.on, ge.delayed = True, False
            cp.seq += 1
            ge.seq = cp.seq
            return
        if ge.delayed:
            ge.delayed = False
            self.requeue(c, 0, ge)
        self.update_group(c, g)

    def left_group(self, c, t: Task, g: int, sleep: bool):
        cp = self.cpus[c]
        ge = self.ge(g, c)
        ge.nr -= 1
        ge.load_w -= t.g_w
        if ge.rcurr is t:
            ge.rcurr = None
        if ge.nr > 0:
            if sleep:
                cp.buddy = ge
            self.update_group(c, g)
            return
        if not ge.on or ge.delayed:
            return
        if cp.buddy is ge:
            cp.buddy = None
        if self.DELAY_DEQUEUE and not self.eligible(c, ge, 0):
            ge.delayed = True
            return
        ge.vlag = self.save_lag(c, ge, 0)
        ge.has_reld = False
        self.unlink(c, ge)

    def drop_delayed_groups(self, c):
        cp = self.cpus[c]
        while cp.gents:
            e = self.pick_eevdf(c, 0, True)
            assert isinstance(e, GroupEntity) and e.delayed
            self.finish_delayed(c, e, 0)

    # -----------------------------------------------------------------------------
    # RT class (rt.md §3-§5; §12 keys)
    # -----------------------------------------------------------------------------

    def rt_enqueue(self, c, t: Task, flags):
        cp = self.cpus[c]
        cp.tail_key += 1
        t.key = cp.tail_key

    def rt_order(self, x: int) -> tuple:
        t = self.tasks[x]
        return (t.prio, t.key)

    def rt_pick(self, c) -> int:
        cp = self.cpus[c]
        if not cp.rt:
            return -1
        return min(cp.rt, key=self.rt_order)

    def find_lowest_level(self, p: Task) -> int:
        """cpupri_find: the lowest level below p's among p's allowed CPUs (-1: none)."""
        plev = self.task_level(p)
        levels = [self.level(c) for c in range(self.C) if self.allowed(p, c) and self.level(c) < plev]
        return min(levels) if levels else -1

    def rt_check_preempt(self, c, p: Task) -> bool:
        # rt.md §5, including the equal-prio case of §3
        cur = self.running_task(c)
        ct = self.tasks[cur]
        if p.prio < ct.prio:
            return True
        if p.prio == ct.prio:
            # rt §3 / §5: equal-prio wakeup special case (check_preempt_equal_prio)
            if ct.pinned >= 0 or self.find_lowest_level(ct) < 0:
                return False
            if p.pinned < 0 and self.find_lowest_level(p) >= 0:
                return False
            cp = self.cpus[c]
            cp.head_key -= 1
            p.key = cp.head_key
            return True
        return False

    def rt_tick(self, c, t: Task) -> bool:
        if t.policy != S.POL_RR:
            return False
        t.rr_left -= 1
        if t.rr_left > 0:
            return False
        t.rr_left = self.rr_ticks
        cp = self.cpus[c]
        if any(x != t.idx and self.tasks[x].prio == t.prio for x in cp.rt):
            cp.tail_key += 1
            t.key = cp.tail_key
            return True
        return False

    # -----------------------------------------------------------------------------
    # §2 main loop
    # -----------------------------------------------------------------------------

    def run(self) -> list:
        for cp in self.cpus:
            cp.pelt.ts = cp.util_ts = cp.pu.ts = self.start
            cp.avg_idle = 2 * self.migration_cost
        for t in self.tasks:
            if not t.bursts:
                continue
            b0 = t.bursts[0]
            k = self.b_start_kind[b0]
            if k in (START_AT, START_AFTER):
                self.push_event(max(self.b_start[b0], self.start), EV_START, t.idx, b0)
            else:
                t.wait_burst = b0
        while self.heap:
            time, _, kind, a, b = heapq.heappop(self.heap)
            if time > self.horizon:
                break
            self.now = time
            if kind == EV_START:
                self.make_runnable(self.tasks[a], b, waker=-1)
            elif kind == EV_POINT:
                self.on_point(a, b)
            elif kind == EV_TICK:
                self.on_tick(a)
            else:
                self.on_server(a, b)
            self.resched_marked()
        self.now = self.horizon
        for t in self.tasks:
            if t.iv is not None:
                self.close_iv(t, schema.END_TRACE_END)
        return self.rows

    def resched_marked(self):
        # READING: "every CPU marked need-resched is rescheduled, in increasing CPU number";
        # CPUs marked by those reschedules are handled too (further passes, ascending), so that
        # no CPU stays marked once an event has been handled.
        while True:
            marked = [c for c in range(self.C) if self.cpus[c].need_resched]
            if not marked:
                return
            for c in range(self.C):
                if self.cpus[c].need_resched:
                    self.reschedule(c)

    # -----------------------------------------------------------------------------
    # §4 a burst becomes runnable
    # -----------------------------------------------------------------------------

    def make_runnable(self, t: Task, b: int, waker: int, sync: bool = False):
        if t.state in (RUNNING, RUNNABLE, EXITED):
            return
        if t.state == BLOCKED:
            self.close_iv(t, schema.END_WOKEN)
        new = t.state == NOT_STARTED
        old_cls = t.cls
        if t.delayed and self.b_class[b] != old_cls:
            # "A delayed task whose class changed is first dequeued for good" -- READING: "first"
            # means before it takes the new burst's class and prio, so the fair class computes
            # its lag with the weight it was queued with.
            c = t.cpu
            self.account(c)
            self.fair_dequeue(c, t, DEQ_EXIT)
        t.cls = self.b_class[b]
        t.prio = int(self.b_prio[b])
        t.policy = self.b_policy[b]
        t.weight = self.w(t) if t.cls == FAIR else 0
        if t.cls == FAIR:
            self.pelt_fair_burst(t)
        elif t.pelt_cpu >= 0:
            self.pelt_detach(t)
        t.burst = b
        t.wait_burst = -1
        dem = self.b_demand[b]
        t.burst_end = INF if dem < 0 else t.progress + dem
        t.state = RUNNABLE
        cause = int(self.b_cause[b])
        if t.delayed and t.cls == old_cls == FAIR:
            c = t.cpu
            t.delayed = False
            self.open_iv(t, schema.RUNNABLE, c, cause, -1, self.now, cause)
            self.account(c)
            self.pelt_enqueued(t, c)
            self.enqueue(c, t, ENQ_REQUEUE | ENQ_WAKEUP)
            self.preempt_check(c, t)
            return
        this = -1
        waker_cpu = self.tasks[waker].cpu if waker >= 0 else -1
        if new:
            par = t.parent
            if par >= 0 and self.tasks[par].cpu >= 0:
                this = self.tasks[par].cpu
            elif t.last_cpu >= 0:
                this = t.last_cpu
            else:
                this = 0
            self.init_task(this, t, par)
        queued = new and cause == schema.BEGIN_TRACE_START and t.last_cpu >= 0 and self.allowed(t, t.last_cpu)
        if queued:
            cpu = t.last_cpu  # §4: runnable when the trace began, already queued where it was
        elif t.pinned >= 0:
            cpu = t.pinned
        elif t.cls == FAIR:
            if new and cause == schema.BEGIN_NEW:
                cpu = self.select_fair_fork(t, this)
            else:
                cpu = self.select_fair_wakeup(t, t.last_cpu, waker_cpu, waker, sync)
        else:
            if not new:
                this = waker_cpu
            prev = t.last_cpu if t.last_cpu >= 0 else this
            cpu = self.select_rt(t, prev, this)
        if not (0 <= cpu < self.C):
            cpu = self.first_allowed(t)
        cp = self.cpus[cpu]
        if self.avg_idle_gate and not (new and cause == schema.BEGIN_NEW) and not queued and cp.idle_stamp >= 0:
            # §9.3: the idle period this wakeup ends moves avg_idle an eighth of the way (C
            # division toward zero), capped at twice the migration cost
            diff = self.now - cp.idle_stamp - cp.avg_idle
            cp.avg_idle = min(cp.avg_idle + (abs(diff) // 8) * (1 if diff >= 0 else -1), 2 * self.migration_cost)
            cp.idle_stamp = -1
        self.open_iv(t, schema.RUNNABLE, cpu, cause, -1, self.now, cause)
        self.account(cpu)
        if t.cls == FAIR:
            self.pelt_enqueued(t, cpu)
        self.list_add(cpu, t)
        self.enqueue(cpu, t, ENQ_WAKEUP | (ENQ_NEW if new and cause == schema.BEGIN_NEW else 0))
        self.preempt_check(cpu, t)
        if t.cls != FAIR and self.rt_push and self.woken_pushes(cpu, t):
            self.push(cpu)
        self.server_check(cpu)

    def woken_pushes(self, c: int, p: Task) -> bool:
        """rt §6.4: after a wakeup, push only if p did not preempt: the CPU runs an RT/stop
        task other than p, no resched is pending, p may run elsewhere, and the running task
        is pinned or at least as urgent (prio <= p's)."""
        cur = self.running_task(c)
        if cur < 0 or cur == p.idx or self.tasks[cur].cls == FAIR or self.cpus[c].need_resched or p.pinned >= 0:
            return False
        return self.tasks[cur].pinned >= 0 or self.tasks[cur].prio <= p.prio

    def yield_task(self, c, t: Task):
        """sched_yield of the running t: eevdf §11 (alone on its CPU: nothing; an eligible
        task forfeits its request, v = d, d += vs); RT: to the tail of its prio (rt §4)."""
        cp = self.cpus[c]
        if t.cls == FAIR:
            if len(cp.fair) + len(cp.rt) <= 1:
                return
            if self.eligible(c, t):
                t.v = t.d
                t.d += self.cdf(t.slice, t)
        else:
            cp.tail_key += 1
            t.key = cp.tail_key

    def on_action(self, w: Task, ai: int):
        x = self.tasks[self.b_task[self.a_target[ai]]]
        b = self.a_target[ai]
        # wake-flip bookkeeping (§7.1 step 2)
        if x.idx != w.wakee:
            if self.now - w.flips_ts > 1_000_000_000:
                w.flips //= 2
                w.flips_ts = self.now
            w.wakee = x.idx
            w.flips += 1
        if x.wait_burst == b:
            self.make_runnable(x, b, waker=w.idx, sync=self.a_kind[ai] == ACT_SYNC_WAKE)
        elif x.burst < b:
            x.pending.add(b)  # READING: a mark per burst (several may be pending at once)

    # -----------------------------------------------------------------------------
    # §5 POINT
    # -----------------------------------------------------------------------------

    def on_point(self, c: int, gen: int):
        cp = self.cpus[c]
        if gen != cp.gen or self.running_task(c) < 0:
            return
        t = self.tasks[cp.curr]
        self.account(c)
        while t.next_act < len(t.actions):
            ai = t.actions[t.next_act]
            if self.a_progress[ai] <= t.progress and self.a_progress[ai] <= t.burst_end:
                t.next_act += 1
                if self.a_kind[ai] == ACT_YIELD:
                    if self.yields:  # engine-model §5: the class's yield, then schedule()
                        self.yield_task(c, t)
                        cp.need_resched = True
                    continue
                self.on_action(t, ai)
            else:
                break
        if t.progress >= t.burst_end:
            self.end_burst(c, t)
            cp.need_resched = True
        elif not cp.need_resched:
            self.arm(c)

    def end_burst(self, c: int, t: Task):
        b = t.burst
        if self.b_end_kind[b] == END_EXIT:
            self.pelt_dequeued(t)
            self.dequeue(c, t, DEQ_EXIT | DEQ_SLEEP)
            if t.on_rq:  # the class cannot keep it
                self.list_remove(c, t)
            self.pelt_detach(t)
            self.close_iv(t, schema.END_EXITED)
            t.state = EXITED
            return
        self.pelt_dequeued(t)
        self.dequeue(c, t, DEQ_SLEEP)
        self.close_iv(t, schema.END_BLOCKED)
        t.state = BLOCKED
        self.open_iv(t, schema.BLOCKED, -1, schema.BEGIN_SWITCH_OUT, int(self.b_sleep[b]))
        pos = t.bursts.index(b)
        if pos + 1 >= len(t.bursts):
            return
        nb = t.bursts[pos + 1]
        k = self.b_start_kind[nb]
        if nb in t.pending:
            t.pending.discard(nb)
            self.push_event(self.now, EV_START, t.idx, nb)
        elif k == START_BY:
            t.wait_burst = nb
        elif k == START_AT:
            self.push_event(max(self.b_start[nb], self.now), EV_START, t.idx, nb)
        else:
            when = max(self.b_abs[nb], self.now) if self.sleep_abs else self.now + self.b_start[nb]
            self.push_event(when, EV_START, t.idx, nb)

    # -----------------------------------------------------------------------------
    # §6 wakeup preemption
    # -----------------------------------------------------------------------------

    def preempt_check(self, c: int, t: Task):
        cp = self.cpus[c]
        if cp.curr < 0:
            cp.need_resched = True
            return
        if cp.need_resched:
            return
        cur = self.tasks[cp.curr]
        if cur.state != RUNNING:
            cp.need_resched = True
            return
        if t.cls == FAIR and cur.cls != FAIR and cp.server_active:
            return
        if t.cls < cur.cls:
            cp.need_resched = True
            return
        if t.cls > cur.cls:
            return
        self.account(c)
        if self.check_preempt(c, t):
            cp.need_resched = True

    # -----------------------------------------------------------------------------
    # §7 placement
    # -----------------------------------------------------------------------------

    def select_fair_wakeup(self, p: Task, prev: int, this: int, waker: int, sync: bool = False) -> int:
        if prev < 0:
            prev = this if this >= 0 else self.first_allowed(p)
        if this < 0:
            this = prev
        # §7.1 step 0: Android's sync rule (sync_wakeup=waker)
        if sync and self.sync_waker and self.nr_running(this) == 1 and self.allowed(p, this):
            return this
        if self.eas:  # §7.5
            c = self.feec(p, prev)
            if c >= 0:
                if not self.allowed(p, c):
                    c = prev if self.allowed(p, prev) else self.first_allowed(p)
                return c
        target = prev
        wide = False
        if self.wake_wide and waker >= 0:
            wf, pf = self.tasks[waker].flips, p.flips
            m, s = max(wf, pf), min(wf, pf)
            sz = self.llc_size[self.cpus[prev].llc]
            wide = s >= sz and m >= s * sz
        if not wide and this != prev and self.allowed(p, this):
            target = self.wake_affine(p, this, prev, sync and self.wa_sync)
        c = self.select_idle_sibling(p, prev, target)
        if not self.allowed(p, c):
            c = prev if self.allowed(p, prev) else self.first_allowed(p)
        return c

    def wake_affine(self, p: Task, this: int, prev: int, sync: bool = False) -> int:
        if self.wa_idle:
            if self.is_idle(this) and self.cpus[this].llc == self.cpus[prev].llc:
                return prev if self.is_idle(prev) else this
            if sync and self.nr_running(this) == 1:
                return this
            if self.is_idle(prev):
                return prev
        if self.wa_weight:
            wp = p.weight
            this_load = self.fair_load(this)
            if sync:
                cur = self.running_task(this)
                cur_load = self.tasks[cur].weight if cur >= 0 and self.tasks[cur].cls == FAIR else 0
                if cur_load > this_load:
                    return this
                this_load -= cur_load
            this_eff = (this_load + wp) * 100 * self.cpus[prev].capacity
            bias = 100 + (self.imb_pct - 100) // 2 if self.wa_bias else 100
            prev_eff = (self.fair_load(prev) - wp) * bias * self.cpus[this].capacity
            if this_eff < prev_eff:
                return this
        return prev

    @staticmethod
    def fits(util: int, cap: int) -> bool:
        return util * 1280 < cap * 1024

    def select_idle_sibling(self, p: Task, prev: int, target: int) -> int:
        tl = self.cpus[target].llc
        asym = self.asym == 1
        pu = self.task_util(p) if asym else 0

        def fit(c):
            return not asym or self.fits(pu, self.cpus[c].capacity)
        if self.is_idle(target) and self.allowed(p, target) and fit(target):
            return target
        if prev != target and self.cpus[prev].llc == tl and self.is_idle(prev) and self.allowed(p, prev) \
                and fit(prev):
            return prev
        r = p.recent_cpu
        p.recent_cpu = prev
        if (r >= 0 and r != prev and r != target and self.cpus[r].llc == tl and self.is_idle(r)
                and self.allowed(p, r) and fit(r)):
            return r
        if asym:  # §7.5 select_idle_capacity: from target round the machine
            best, best_cap = -1, 0
            for k in range(self.C):
                cc = (target + k) % self.C
                if not (self.is_idle(cc) and self.allowed(p, cc)):
                    continue
                cap = self.cpus[cc].capacity
                if self.fits(pu, cap):
                    return cc
                if cap > best_cap:
                    best, best_cap = cc, cap
            return best if best >= 0 else target
        has_idle_core = False
        tcore = self.cpus[target].core
        smt = any(x.core == tcore and x.idx != target for x in self.cpus)
        if smt:
            has_idle_core = any(self.core_idle(x.idx) for x in self.cpus if x.llc == tl)
            if not has_idle_core and self.cpus[prev].llc == tl:
                pcore = self.cpus[prev].core
                for x in self.cpus:
                    if x.core == pcore and x.idx != prev and self.is_idle(x.idx) and self.allowed(p, x.idx):
                        return x.idx
        W = self.llc_size[tl]
        if self.sis_util:
            # the proxies are fixed point (1024 * 1024 = always busy): each // 1024 is a
            # CPU's utilisation in 0..1024, x their mean
            x = sum(x.util // 1024 for x in self.cpus if x.llc == tl) // W
            nr = ((1024 - min(1024, x * x * self.imb_pct * self.imb_pct // (10000 * 1024))) * W) // 1024
            budget = nr + 1
        else:
            budget = self.C
        if not has_idle_core and budget <= 1:
            return target
        fallback = -1
        for k in range(1, self.C + 1):
            cc = (target + k) % self.C
            if self.cpus[cc].llc != tl or not self.allowed(p, cc):
                continue
            if has_idle_core:
                if self.core_idle(cc):
                    return cc
                if fallback < 0 and self.is_idle(cc):
                    fallback = cc
            else:
                budget -= 1
                if budget <= 0:
                    break
                if self.is_idle(cc):
                    return cc
        if fallback >= 0:
            return fallback
        return target

    # §7.5 energy-aware placement
    def util_next(self, p: Task, pu: int, c: int, dst: int) -> int:
        u = self.cpu_util(c)
        if p.pelt_cpu == c and dst != c:
            u = max(u - pu, 0)
        elif p.pelt_cpu != c and dst == c:
            u += pu
        return min(u, self.cpus[c].capacity)

    def energy(self, p: Task, pu: int, dst: int, pd: int) -> int:
        cpus = [c for c in range(self.C) if self.pd[c] == pd]
        us = [self.util_next(p, pu, c, dst) for c in cpus]
        scale = self.cpus[cpus[0]].capacity
        table = self.em[pd]
        fmax = table[-1][0]
        freq = (fmax + (fmax >> 2)) * max(us) // scale
        cost = next((k for f, k in table if f >= freq), table[-1][1])
        return cost * sum(us) // scale

    def feec(self, p: Task, prev: int) -> int:
        if any(not self.fits(min(self.cpu_util(c), x.capacity), x.capacity) for c, x in enumerate(self.cpus)):
            return -1
        pu = self.task_util(p)
        if pu == 0:
            return prev
        INF = 1 << 62
        prev_delta = best_delta = INF
        best, base = prev, 0
        for pd in sorted(set(self.pd), key=lambda d: -self.pd.index(d)):  # the kernel's list: last first
            base_pd = self.energy(p, pu, -1, pd)
            base += base_pd
            max_spare, max_cpu = 0, -1
            for c in (c for c in range(self.C) if self.pd[c] == pd):
                if not self.allowed(p, c):
                    continue
                u = self.util_next(p, pu, c, c)
                cap = self.cpus[c].capacity
                if not self.fits(u, cap):
                    continue
                if c == prev:
                    prev_delta = self.energy(p, pu, prev, pd) - base_pd
                    best_delta = min(best_delta, prev_delta)
                if cap - u > max_spare:
                    max_spare, max_cpu = cap - u, c
            if max_cpu >= 0 and max_cpu != prev:
                d = self.energy(p, pu, max_cpu, pd) - base_pd
                if d < best_delta:
                    best_delta, best = d, max_cpu
        if prev_delta == INF:
            return best
        if prev_delta - best_delta > (prev_delta + base) >> 4:
            return best
        return prev

    def select_fair_fork(self, p: Task, this: int) -> int:
        node = self.cpus[this].node
        nodes = sorted({x.node for x in self.cpus})
        if len(nodes) > 1:
            idle_of = {n: sum(1 for x in self.cpus if x.node == n and self.allowed(p, x.idx) and self.is_idle(x.idx))
                       for n in nodes}
            best = max(nodes, key=lambda n: (idle_of[n], -n))
            if best != node:
                diff = idle_of[best] - idle_of[node]
                if adjust_numa_imbalance(diff, self.node_runnable(node) + 1, self.imb_numa_nr) != 0:
                    node = best
        llcs = []
        for x in self.cpus:
            if x.node == node and x.llc not in llcs:
                llcs.append(x.llc)
        idle_llc = {l: sum(1 for x in self.cpus if x.llc == l and self.allowed(p, x.idx) and self.is_idle(x.idx))
                    for l in llcs}
        top = max(idle_llc.values())
        tied = [l for l in llcs if idle_llc[l] == top]
        llc = self.cpus[this].llc if self.cpus[this].llc in tied else tied[0]
        cand = [x.idx for x in self.cpus if x.llc == llc and self.allowed(p, x.idx)]
        for c in cand:
            if self.is_idle(c) and self.core_idle(c):
                return c
        for c in cand:
            if self.is_idle(c):
                return c
        if not cand:
            return self.first_allowed(p)
        return min(cand, key=lambda c: (len(self.runnable_on(c)), c))

    # RT placement (§7.4)

    def level(self, c: int) -> int:
        cp = self.cpus[c]
        if not cp.rt:
            return 0
        best = min(cp.rt, key=lambda x: self.tasks[x].prio)
        bt = self.tasks[best]
        if bt.cls == STOP:
            return 100
        return 99 - bt.prio

    def task_level(self, t: Task) -> int:
        return 100 if t.cls == STOP else 99 - t.prio

    def rotating_scan(self, pcpu: int, pred) -> int:
        cp = self.cpus[pcpu]
        for k in range(1, self.C + 1):
            cc = (cp.dist_iter + k) % self.C
            if pred(cc):
                cp.dist_iter = cc
                return cc
        return -1

    def find_lowest_rq(self, p: Task, pcpu: int, this: int) -> int:
        lvl = self.find_lowest_level(p)
        if lvl < 0:
            return -1
        at = lambda c: self.allowed(p, c) and self.level(c) == lvl  # noqa: E731
        if self.level(pcpu) == lvl:
            return pcpu
        for dl in (1, 2):
            dom = set(self.domain(pcpu, dl))
            if this >= 0 and this in dom and at(this):
                return this
            r = self.rotating_scan(pcpu, lambda c: c in dom and at(c))
            if r >= 0:
                return r
        if this >= 0 and at(this):
            return this
        return self.rotating_scan(pcpu, at)

    def select_rt(self, p: Task, prev: int, this: int) -> int:
        if not (0 <= prev < self.C) or not self.allowed(p, prev):
            prev = self.first_allowed(p)
        cur = self.running_task(prev)
        if cur >= 0:
            ct = self.tasks[cur]
            if ct.cls != FAIR and (ct.pinned >= 0 or ct.prio <= p.prio):
                cand = self.find_lowest_rq(p, prev, this)
                if cand >= 0 and self.task_level(p) > self.level(cand):
                    return cand
        return prev

    # -----------------------------------------------------------------------------
    # §8 TICK, §10 fair server
    # -----------------------------------------------------------------------------

    def on_tick(self, c: int):
        cp = self.cpus[c]
        if cp.curr < 0:
            cp.tick_on = False
            return
        self.account(c)
        ti = self.running_task(c)
        if ti >= 0 and self.class_tick(c, self.tasks[ti]):
            cp.need_resched = True
        if self.periodic_on and self.now >= cp.balance_next:
            self.periodic_balance(c)
        self.push_event(self.now + self.tick_ns, EV_TICK, c)

    def server_check(self, c: int):
        if self.server_runtime <= 0:
            return
        cp = self.cpus[c]
        fair_waiting = any(not self.tasks[x].delayed for x in cp.fair)
        ti = self.running_task(c)
        if ti >= 0 and self.tasks[ti].cls != FAIR and fair_waiting:
            if cp.starve_since < 0:
                cp.starve_since = self.now
                self.push_event(self.now + self.server_period - self.server_runtime, EV_SERVER, c, self.now)
        elif not fair_waiting:
            cp.starve_since = -1

    def on_server(self, c: int, since: int):
        cp = self.cpus[c]
        if cp.starve_since == since and cp.starve_since >= 0 and not cp.server_active:
            cp.server_active = True
            cp.server_left = self.server_runtime
            cp.need_resched = True

    # -----------------------------------------------------------------------------
    # PELT load (engine-model.md §3.1), written from kernel/sched/pelt.c
    # -----------------------------------------------------------------------------

    @staticmethod
    def decay_load(val: int, n: int) -> int:
        if n > 32 * 63:
            return 0
        val >>= n // 32
        return (val * _YN_INV[n % 32]) >> 32

    def pelt_advance(self, x: Signal, load: int, weight: int):
        """___update_load_sum then ___update_load_avg of signal x to now."""
        delta = (self.now - x.ts) >> 10
        if delta <= 0:
            return
        x.ts += delta << 10
        pc = x.pc
        contrib = delta
        delta += pc
        periods = delta // 1024
        if periods:
            x.sum = self.decay_load(x.sum, periods)
            delta %= 1024
            contrib = (self.decay_load(1024 - pc, periods) + _LOAD_AVG_MAX
                       - self.decay_load(_LOAD_AVG_MAX, periods) - 1024 + delta)
        x.pc = delta
        if load:
            x.sum += load * contrib
        if periods:
            x.avg = weight * x.sum // (_LOAD_AVG_MAX - 1024 + delta)

    def pelt_peek(self, x: Signal, load: int, weight: int) -> int:
        """What pelt_advance would set x's average to, leaving x as it is."""
        y = dataclasses.replace(x)
        self.pelt_advance(y, load, weight)
        return y.avg

    def pelt_cpu(self, c: int):
        cp = self.cpus[c]
        self.pelt_advance(cp.pelt, cp.rq_weight, 1)

    def pelt_task(self, t: Task):
        self.pelt_advance(t.pelt, 1 if t.pelt_q else 0, t.pelt_w)

    def pelt_detach(self, t: Task):
        if t.pelt_cpu < 0:
            return
        q = self.cpus[t.pelt_cpu].pelt
        self.pelt_cpu(t.pelt_cpu)
        self.pelt_task(t)
        q.avg = max(q.avg - t.pelt.avg, 0)
        q.sum = max(max(q.sum - t.pelt_w * t.pelt.sum, 0), q.avg * (_LOAD_AVG_MAX - 1024))
        if self.asym:  # §3.2: its util leaves likewise
            u = self.cpus[t.pelt_cpu].pu
            self.util_cpu(t.pelt_cpu)
            self.util_task(t)
            u.avg = max(u.avg - t.pu.avg, 0)
            u.sum = max(max(u.sum - t.pu.sum, 0), u.avg * (_LOAD_AVG_MAX - 1024))
        t.pelt_cpu = -1

    def pelt_enqueued(self, t: Task, c: int):
        if t.pelt_q:
            return
        cp = self.cpus[c]
        self.pelt_cpu(c)
        if t.pelt_cpu != c:
            self.pelt_detach(t)
            if self.asym:  # §3.2: util attaches first (its initial value reads c's load without t)
                self.util_cpu(c)
                if not t.pu_init:
                    t.pu_init = True
                    spare = max(cp.capacity - cp.pu.avg, 0) // 2
                    t.pu.avg = min(cp.pu.avg * t.pelt_w // (cp.pelt.avg + 1), spare) if cp.pu.avg > 0 else spare
                t.pu.ts, t.pu.pc = cp.pu.ts, cp.pu.pc
                t.pu.sum = t.pu.avg * (_LOAD_AVG_MAX - 1024 + cp.pu.pc)
                cp.pu.avg += t.pu.avg
                cp.pu.sum += t.pu.sum
            t.pelt.ts, t.pelt.pc = cp.pelt.ts, cp.pelt.pc
            s = t.pelt.avg * (_LOAD_AVG_MAX - 1024 + cp.pelt.pc)
            t.pelt.sum = s // t.pelt_w if t.pelt_w < s else 1
            cp.pelt.avg += t.pelt.avg
            cp.pelt.sum += t.pelt_w * t.pelt.sum
            t.pelt_cpu = c
        else:
            self.pelt_task(t)
        t.pelt_q = True
        cp.rq_weight += t.pelt_w

    def pelt_dequeued(self, t: Task):
        if not t.pelt_q:
            return
        self.pelt_cpu(t.pelt_cpu)
        self.pelt_task(t)
        t.pelt_q = False
        self.cpus[t.pelt_cpu].rq_weight -= t.pelt_w

    def pelt_fair_burst(self, t: Task):
        if t.pelt_w == 0:
            t.pelt_w = t.pelt.avg = t.weight
            t.pelt.sum, t.pelt.ts, t.pelt_cpu = 0, self.now, -1
        elif t.pelt_w != t.weight:
            self.pelt_task(t)
            t.pelt_w = t.weight
            t.pelt.avg = t.weight * t.pelt.sum // (_LOAD_AVG_MAX - 1024 + t.pelt.pc)

    def cpu_load(self, c: int) -> int:
        cp = self.cpus[c]
        return self.pelt_peek(cp.pelt, cp.rq_weight, 1)

    # utilisation (§3.2)
    def util_cpu(self, c: int):
        cp = self.cpus[c]
        self.pelt_advance(cp.pu, cp.pu_in, 1)

    def util_task(self, t: Task):
        self.pelt_advance(t.pu, t.pu_in, 1)

    def util_running(self, t: Task, c: int, cap: int):
        self.util_cpu(c)
        self.util_task(t)
        t.pu_in = cap
        self.cpus[c].pu_in = cap

    def task_util(self, t: Task) -> int:
        return self.pelt_peek(t.pu, t.pu_in, 1) if t.pu_init else 0

    def cpu_util(self, c: int) -> int:
        cp = self.cpus[c]
        return self.pelt_peek(cp.pu, cp.pu_in, 1)

    def task_load(self, t: Task) -> int:
        return max(self.pelt_peek(t.pelt, 1 if t.pelt_q else 0, t.pelt_w), 1)

    # -----------------------------------------------------------------------------
    # §9 moving tasks
    # -----------------------------------------------------------------------------

    def migrate(self, t: Task, s: int, d: int):
        self.account(s)
        self.pelt_dequeued(t)
        self.dequeue(s, t, DEQ_MIGRATE)
        if t.on_rq:
            self.list_remove(s, t)
        # READING (the model doc is silent): the runnable interval ends `migrated` and a new
        # one begins `migrate` on the destination, keeping wait start, cause and sleep state,
        # as in the observed schedule (schema END_MIGRATED / BEGIN_MIGRATE, "kept across
        # migrations"). With split_migrations=False the interval just moves to the destination
        # (one runnable interval per wait, its cpu the one it waited on last).
        iv = t.iv
        if self.split_migrations:
            self.close_iv(t, schema.END_MIGRATED)
            self.open_iv(t, schema.RUNNABLE, d, schema.BEGIN_MIGRATE, iv["sleep"], iv["wait"], iv["cause"])
        else:
            iv["cpu"] = d
        self.account(d)
        if t.cls == FAIR:
            self.pelt_enqueued(t, d)
        self.list_add(d, t)
        self.enqueue(d, t, ENQ_MIGRATED)

    def hot(self, t: Task, level: int) -> bool:
        return level != 0 and self.now - t.last_ran < self.migration_cost

    def push(self, c: int):
        cp = self.cpus[c]
        for _ in range(8):
            cands = [self.tasks[x] for x in cp.rt if self.tasks[x].state == RUNNABLE
                     and self.tasks[x].cls == RT and self.tasks[x].pinned < 0]
            if not cands:
                return
            x = min(cands, key=lambda t: (t.prio, t.seq))
            cur = self.running_task(c)
            if cur >= 0 and self.urgency(x) < self.urgency(self.tasks[cur]):
                cp.need_resched = True
                return
            target = self.find_lowest_rq(x, c, c)
            if not (target >= 0 and target != c and self.task_level(x) > self.level(target)):
                return
            self.migrate(x, c, target)
            self.preempt_check(target, x)

    def pull(self, c: int):
        # READING: ties between waiting RT tasks of one CPU go to the lower insertion sequence,
        # as for the push; between CPUs to the first CPU.
        best = None
        for s in range(self.C):
            if s == c:
                continue
            cands = [self.tasks[x] for x in self.cpus[s].rt if self.tasks[x].state == RUNNABLE
                     and self.tasks[x].cls == RT and self.tasks[x].pinned < 0 and self.allowed(self.tasks[x], c)]
            if not cands:
                continue
            x = min(cands, key=lambda t: (t.prio, t.seq))
            if not self.task_level(x) > self.level(c):
                continue
            cur = self.running_task(s)
            if cur >= 0 and self.urgency(self.tasks[cur]) > self.urgency(x):
                continue
            if best is None or x.prio < best[0].prio:
                best = (x, s)
        if best is not None:
            self.migrate(best[0], best[1], c)

    def pick_steal(self, s: int, d: int, level: int, allow_hot: bool, cond=None):
        cands = [self.tasks[x] for x in self.waiting_fair(s)
                 if self.allowed(self.tasks[x], d) and (allow_hot or not self.hot(self.tasks[x], level))
                 and (cond is None or cond(self.tasks[x]))]
        if not cands:
            return None
        return min(cands, key=lambda t: (t.last_ran, t.idx))

    def numa_ok(self, s: int, d: int, periodic: bool = False) -> bool:
        """The NUMA allowance (§9.3) for moving a task from s to d."""
        ns, nd = self.cpus[s].node, self.cpus[d].node
        if ns == nd:
            return True
        rd = self.node_runnable(nd)
        diff = self.node_runnable(ns) - rd
        return diff > 0 and adjust_numa_imbalance(diff, rd + 1, self.imb_numa_nr) != 0

    def busiest_waiting(self, cpus) -> int:
        best, n = -1, 0
        for s in cpus:
            k = len(self.waiting_fair(s))
            if k > n:
                best, n = s, k
        return best

    def newidle_balance(self, c: int) -> bool:
        below: set = set()
        for level in range(4):
            dom = self.domain(c, level)
            cands = [x for x in dom if x not in below]
            below = set(dom)
            s = self.busiest_waiting(cands)
            if s < 0:
                continue
            if level == 3 and not self.numa_ok(s, c):
                continue
            t = self.pick_steal(s, c, level, allow_hot=False)
            if t is not None:
                self.migrate(t, s, c)
                return True
        return False

    def periodic_balance(self, c: int):
        cp = self.cpus[c]
        busy = self.running_task(c) >= 0
        llc_size = self.llc_size[cp.llc]
        iv = self.balance_ms * 1_000_000 * llc_size * (16 if busy else 1) - (self.tick_ns if busy else 0)
        cp.balance_next = self.now + max(self.tick_ns, iv)
        # READING: levels whose domain equals the one below (a node that is one LLC) are
        # balanced again, as written ("for levels 1..3"); a NUMA refusal in (a) is a skip,
        # not a failure; failures count per level and per CPU.
        for level in (1, 2, 3):
            dom = self.domain(c, level)
            # (a) idle CPUs of the domain pull
            for d in dom:
                if not self.is_idle(d):
                    continue
                s = self.busiest_waiting(dom)
                if s < 0:
                    break
                if not self.numa_ok(s, d, periodic=True):
                    continue
                dp = self.cpus[d]
                t = self.pick_steal(s, d, level, allow_hot=dp.balance_failed > self.cache_nice)
                if t is not None:
                    self.migrate(t, s, d)
                    dp.balance_failed = 0
                    dp.need_resched = True
                else:
                    dp.balance_failed += 1
            # (b) a busy c pulls load
            if not busy:
                continue
            loads = {x: self.cpu_load(x) for x in dom}
            busiest, bl = -1, -1
            for x in dom:
                if x != c and self.waiting_fair(x) and loads[x] > bl:
                    busiest, bl = x, loads[x]
            if busiest < 0:
                continue
            local = loads[c]
            if 100 * bl <= self.imb_pct * local:
                continue
            cap_b, cap_c = self.cpus[busiest].capacity, cp.capacity
            avg = sum(loads.values()) * 1024 // sum(self.cpus[x].capacity for x in dom)
            b_avg = bl * 1024 // cap_b
            l_avg = local * 1024 // cap_c
            if l_avg >= b_avg or l_avg >= avg:
                continue
            imb = min((b_avg - avg) * cap_b, (avg - l_avg) * cap_c) // 1024
            if imb <= 0:
                continue
            if not self.numa_ok(busiest, c, periodic=True):
                continue
            f = cp.balance_failed
            t = self.pick_steal(busiest, c, level, allow_hot=f > self.cache_nice,
                                cond=lambda t: (self.task_load(t) >> f) <= imb)
            if t is not None:
                self.migrate(t, busiest, c)
                cp.balance_failed = 0
                cp.need_resched = True
                return
            cp.balance_failed += 1

    # -----------------------------------------------------------------------------
    # §11 rescheduling
    # -----------------------------------------------------------------------------

    @staticmethod
    def server_stop(cp):
        """§10: the fair server deactivates; starvation restarts with the next waiting fair task."""
        cp.server_active = False
        cp.starve_since = -1

    def reschedule(self, c: int):
        cp = self.cpus[c]
        cp.need_resched = False
        self.account(c)
        prev = cp.curr
        if cp.server_active and cp.server_left <= 0:
            self.server_stop(cp)
        # READING: "the previous task was RT" includes stop tasks (§1: replayed as RT prio -1).
        if prev >= 0 and self.tasks[prev].cls != FAIR and self.tasks[prev].state != RUNNING and self.rt_push:
            self.pull(c)
        nxt = self.pick(c)
        if nxt < 0 and self.newidle_on:
            cp.idle_stamp = self.now  # §9.3: before 5.16, no balancing after short idle periods
            if not (self.avg_idle_gate and cp.avg_idle < self.migration_cost) and self.newidle_balance(c):
                cp.idle_stamp = -1
            nxt = self.pick(c)
        if cp.server_active and (nxt < 0 or self.tasks[nxt].cls != FAIR):  # §10: nothing left to serve
            self.server_stop(cp)
        if nxt >= 0 and nxt == prev and self.tasks[prev].state == RUNNING:
            self.arm(c)
            return
        if self.now > cp.util_ts:  # §7: the proxy moves at every switch (busy: prev, even if it blocked)
            d = math.exp(-(self.now - cp.util_ts) * math.log(2.0) / 32_000_000)
            cp.util = int(cp.util * d + (1024 * 1024 if prev >= 0 else 0) * (1.0 - d))
            cp.util_ts = self.now
        if prev >= 0:
            pt = self.tasks[prev]
            self.put_prev(c, pt)
            if pt.state == RUNNING:
                self.close_iv(pt, schema.END_PREEMPTED)
                pt.state = RUNNABLE
                self.open_iv(pt, schema.RUNNABLE, c, schema.BEGIN_PREEMPT, 0, self.now, schema.BEGIN_PREEMPT)
            if self.asym and pt.pu_in:
                self.util_running(pt, c, 0)
        if self.asym and nxt >= 0 and self.tasks[nxt].cls == FAIR:
            self.util_running(self.tasks[nxt], c, cp.capacity)
        cp.gen += 1
        if nxt >= 0:
            t = self.tasks[nxt]
            self.set_next(c, t, prev)
            self.close_iv(t, schema.END_SWITCHED_IN)
            if self.cold_ns and t.last_cpu >= 0 and self.cpus[t.last_cpu].llc != cp.llc and t.burst_end != INF:
                t.burst_end += self.cold_ns
            if t.home < 0:
                t.home = cp.node
            self.open_iv(t, schema.RUNNING, c, schema.BEGIN_SWITCH_IN)
            t.state = RUNNING
            cp.curr = nxt
            t.last_acct = self.now
            t.last_ran = self.now
            t.last_cpu = c
            t.cpu = c
            cp.idle_since = -1
            self.arm(c)
            if prev < 0 and not cp.tick_on:
                cp.tick_on = True
                self.push_event((self.now // self.tick_ns + 1) * self.tick_ns, EV_TICK, c)
            if t.cls != FAIR and self.rt_push:  # READING: "RT" includes stop (§1), as for the pull
                self.push(c)
            if t.cls == FAIR:
                cp.starve_since = -1
        else:
            cp.curr = -1
            cp.idle_since = self.now
        if self.smt_factor != 1024:
            for x in self.cpus:
                if x.idx != c and x.core == cp.core and self.running_task(x.idx) >= 0:
                    self.account(x.idx)
                    self.arm(x.idx)
        self.server_check(c)

    def pick(self, c: int) -> int:
        cp = self.cpus[c]
        if cp.server_active and any(not self.tasks[x].delayed for x in cp.fair):
            return self.fair_pick(c)
        if cp.rt:
            return self.rt_pick(c)
        if cp.fair:
            return self.fair_pick(c)
        return -1


def reference_replay(workload: Workload, topology: Topology | str | None = None,
                     params: dict | None = None, split_migrations: bool = True) -> pl.DataFrame:
    """Replay ``workload`` on ``topology`` with EEVDF + stock RT, the slow way. Returns the
    intervals (schema.INTERVALS columns), in the order they were closed. ``split_migrations``:
    see ReferenceEngine.migrate."""
    if topology is None:
        topo = from_spec(f"1x{workload.n_cpus}x1")
    elif isinstance(topology, str):
        topo = from_spec(topology)
    else:
        topo = topology
    return rows_to_frame(ReferenceEngine(workload, topo, params, split_migrations).run())


def rows_to_frame(rows: list) -> pl.DataFrame:
    """Interval tuples -> a DataFrame with the schema.INTERVALS columns and types."""
    cols = list(zip(*rows)) if rows else [[] for _ in schema.INTERVALS.fields]
    return pl.DataFrame({f.name: pl.Series(f.name, list(col), dtype=_PL[f.type])
                         for f, col in zip(schema.INTERVALS.fields, cols)})


_PL = {"int8": pl.Int8, "int16": pl.Int16, "int32": pl.Int32, "int64": pl.Int64, "bool": pl.Boolean}
