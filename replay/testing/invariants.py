"""Invariants of a replayed schedule, checked on a ``Run`` (a workload replayed through a
policy on a topology). Each ``check_*`` returns nothing, or raises ``InvariantViolation``
(an ``AssertionError``) whose message is a readable counterexample: what broke, where and
when, the workload as a small table and the schedule around that moment.

* ``demand``: with the speed model off, a task's CPU time (at its CPU's capacity) up to the
  end of each burst is exactly the demand of its bursts so far, and never more before;
* ``one_cpu_per_task``: a task never runs on two CPUs at once; its intervals tile its life;
* ``one_task_per_cpu``: a CPU never runs two tasks at once;
* ``affinity``: a task runs only on the CPUs it may use (its pinned CPU, its affinity set);
* ``causality``: a burst becomes runnable when its start rule says (an absolute time, a
  sleep after the previous burst), or not before its waker reached the wakeup's progress;
  nothing runs without having waited;
* ``work_conservation``: no CPU stays idle while a task allowed on it waits in its NUMA node
  for longer than a bound (the balancer's interval);
* ``weighted_share``: CPU-bound fair tasks sharing a CPU receive, window by window, their
  weight's part of the time they got together, within a bound;
* ``rt_strict``: a runnable RT task never waits on a CPU while a less urgent task runs there,
  except fair tasks under the fair server, each stretch at most its runtime plus a tick;
* ``fair_starvation``: with the fair server on, fair tasks waiting on a CPU get it within the
  server's deferral (period - runtime) plus two ticks, however much RT work there is;
* ``determinism``: the same inputs and seed give the same schedule.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from policies.weights import WEIGHT
from traces import schema as SC

from ..model.topology import Topology
from ..model.workload import START_AFTER, START_AT, START_BY, Workload
from ..sim.engine import _class_and_policy, simulate
from ..sim.params import ENGINE_PARAMS

RUNNING, RUNNABLE = SC.RUNNING, SC.RUNNABLE
BURST_BEGINS = (SC.BEGIN_WAKEUP, SC.BEGIN_NEW, SC.BEGIN_TRACE_START)
MS = 1_000_000
_DEFAULTS = {p.name: p.default for p in ENGINE_PARAMS}
SPEED = ("smt_factor", "numa_factor", "cold_penalty_ns")


@dataclass
class Run:
    """A workload replayed through a policy on a topology, with what the checks need."""

    workload: Workload
    topology: Topology
    policy: object
    params: dict
    seed: int
    intervals: pl.DataFrame
    _rows: dict | None = field(default=None, repr=False)

    def param(self, name: str):
        """An engine parameter of the run (its default when not given), parsed."""
        from policies._params import parse_value

        p = next(p for p in ENGINE_PARAMS if p.name == name)
        return parse_value(p, self.params.get(name, p.default))

    @property
    def tick_ns(self) -> int:
        return 1_000_000_000 // int(self.param("hz"))

    def rows(self) -> dict[int, list[dict]]:
        """tid -> its intervals in time order, each with ``burst``: the index of the burst it
        belongs to (a burst begins with a runnable interval that begins wakeup, new or
        trace_start)."""
        if self._rows is None:
            out: dict[int, list[dict]] = {}
            for r in self.intervals.iter_rows(named=True):  # the engine emits a task's intervals in order
                out.setdefault(r["tid"], []).append(r)
            for rows in out.values():
                b = -1
                for r in rows:
                    if r["state"] == RUNNABLE and r["begin"] in BURST_BEGINS:
                        b += 1
                    r["burst"] = b
            self._rows = out
        return self._rows

    def bursts(self) -> dict[int, list[dict]]:
        """tid -> its workload bursts (dicts of the bursts table, with ``row``)."""
        tids = self.workload.tasks["tid"].to_list()
        out = {t: [] for t in tids}
        for r in self.workload.bursts.with_row_index("row").to_dicts():
            out[tids[r["task"]]].append(r)
        return out

    def pinned(self) -> dict[int, int]:
        """tid -> the CPU it is pinned to (ids beyond the machine taken modulo, as the
        engine does), -1 for none."""
        C = self.topology.n_cpus
        return {t: (p % C if p >= 0 else -1) for t, p in zip(self.workload.tasks["tid"].to_list(),
                                                             self.workload.tasks["pinned_cpu"].to_list())}

    def allowed(self) -> dict[int, tuple[int, ...]]:
        """tid -> the CPUs it may run on: its pinned CPU, else its affinity set (those of
        its CPUs the machine has), else every CPU."""
        C = self.topology.n_cpus
        aff = self.workload.affinity or {}
        out = {}
        for tid, p in self.pinned().items():
            cpus = tuple(c for c in aff.get(tid, ()) if c < C)
            out[tid] = (p,) if p >= 0 else (cpus or tuple(range(C)))
        return out

    def replay_again(self) -> pl.DataFrame:
        return replay_case(self.workload, self.topology, self.policy, self.params, self.seed).intervals


def replay_case(workload: Workload, topology: Topology, policy="eevdf", params: dict | None = None,
                seed: int = 0) -> Run:
    """Replay ``workload`` through ``policy`` (a name, a path, a module) on ``topology``."""
    sched, _ = simulate(workload, policy=policy, topology=topology, params=dict(params or {}), seed=seed)
    return Run(workload, topology, policy, dict(params or {}), seed, sched.intervals)


# -- the counterexample ---------------------------------------------------------------------

def _ms(ns: int, base: int) -> str:
    return f"{(ns - base) / 1e6:.3f}"


def _class_text(prio: int, comm: str) -> str:
    if prio < 0 or (prio == 0 and comm.startswith("migration/")):
        return "stop"
    if prio < SC.MAX_RT_PRIO:
        return f"rt {SC.MAX_RT_LEVEL - prio}"
    return f"nice {prio - SC.DEFAULT_PRIO}"


def workload_table(wl: Workload) -> list[dict]:
    """The workload, one row per burst: tid, comm, class (nice N / rt N / stop), the CPUs
    it may use (its pinned CPU or affinity set; "-": any), burst number, demand (ms, or
    "open"), when it starts, how it ends."""
    tasks = wl.tasks.to_dicts()
    bursts = wl.bursts.to_dicts()
    owner = {}
    for i, t in enumerate(tasks):
        for j in range(t["n_bursts"]):
            owner[t["first_burst"] + j] = (i, j)
    starts = {}
    for a in wl.actions.to_dicts():
        if a["target_burst"] < 0:  # a sched_yield: it starts nothing
            continue
        actor = tasks[a["task"]]
        what = {0: "woken", 1: "forked", 2: "woken (sync)"}.get(a["kind"], "started")
        starts[a["target_burst"]] = f"{what} by {actor['tid']} at {a['progress_ns'] / 1e6:.3f} ms of its CPU"
    aff = wl.affinity or {}
    rows = []
    for i, t in enumerate(tasks):
        cpus = str(t["pinned_cpu"]) if t["pinned_cpu"] >= 0 else \
            (",".join(str(c) for c in aff[t["tid"]]) if t["tid"] in aff else "-")
        for j in range(t["n_bursts"]):
            k = t["first_burst"] + j
            b = bursts[k]
            if b["start_kind"] == START_AT:
                start = f"at {_ms(max(b['start_ns'], wl.start_ns), wl.start_ns)} ms"
            elif b["start_kind"] == START_AFTER:
                start = f"{b['start_ns'] / 1e6:.3f} ms after the last"
            else:
                start = starts.get(k, "by an action that never comes")
            end = {0: "blocks", 1: "exits", 2: "runs on"}.get(b["end_kind"], "?")
            rows.append({"tid": t["tid"], "comm": t["comm"], "class": _class_text(b["prio"], t["comm"]),
                         "cpus": cpus, "burst": j,
                         "demand_ms": "open" if b["demand_ns"] < 0 else f"{b['demand_ns'] / 1e6:.3f}",
                         "starts": start, "then": end})
    return rows


def _text_table(rows: list[dict], indent: str = "  ") -> str:
    if not rows:
        return indent + "(none)"
    cols = list(rows[0])
    cells = [[str(r[c]) for c in cols] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    line = lambda xs: indent + "  ".join(x.ljust(w[i]) for i, x in enumerate(xs)).rstrip()  # noqa: E731
    return "\n".join([line(cols)] + [line(x) for x in cells])


def workload_text(wl: Workload, indent: str = "  ") -> str:
    """``workload_table`` as aligned text, one line per burst."""
    return _text_table(workload_table(wl), indent)


_STATE = {RUNNING: "running", RUNNABLE: "waiting", SC.BLOCKED: "blocked"}


def schedule_excerpt(run: Run, at_ns: int | None, tids=(), cpus=(), span_ns: int | None = None,
                     limit: int = 24) -> list[dict]:
    """The intervals around ``at_ns`` (of the given tasks and CPUs, else all), in time order:
    cpu, tid, state, start and end (ms from the workload's start)."""
    iv = run.intervals.filter(pl.col("end_ns") > pl.col("start_ns"))
    if at_ns is not None:
        span = span_ns if span_ns is not None else max(3 * run.tick_ns, 2 * MS)
        iv = iv.filter((pl.col("end_ns") >= at_ns - span) & (pl.col("start_ns") <= at_ns + span))
    if tids or cpus:
        iv = iv.filter(pl.col("tid").is_in(list(tids)) | (pl.col("cpu").is_in(list(cpus))
                                                          & (pl.col("state") == RUNNING)))
    iv = iv.filter(pl.col("state") != SC.BLOCKED).sort("start_ns", "cpu", "tid")
    if at_ns is not None and iv.height > limit:  # the rows nearest the moment
        iv = iv.with_columns(d=(pl.col("start_ns") - at_ns).abs()).sort("d").head(limit).sort("start_ns", "cpu")
    comm = dict(zip(run.workload.tasks["tid"].to_list(), run.workload.tasks["comm"].to_list()))
    base = run.workload.start_ns
    return [{"cpu": r["cpu"], "tid": r["tid"], "comm": comm.get(r["tid"], ""), "state": _STATE.get(r["state"], "?"),
             "from_ms": _ms(r["start_ns"], base), "to_ms": _ms(r["end_ns"], base)}
            for r in iv.head(limit).iter_rows(named=True)]


class InvariantViolation(AssertionError):
    """An invariant does not hold on a run: ``invariant`` (its name), ``message`` (what broke),
    ``at_ns`` (when, in the workload's clock), ``tids`` and ``cpus`` (who), ``run``. ``str()``
    is the readable counterexample; ``to_dict()`` the same as data."""

    def __init__(self, invariant: str, message: str, run: Run, at_ns: int | None = None, tids=(), cpus=()):
        self.invariant = invariant
        self.message = message
        self.run = run
        self.at_ns = at_ns
        self.tids = tuple(int(t) for t in tids)
        self.cpus = tuple(int(c) for c in cpus)
        super().__init__(self.report())

    def context(self) -> str:
        from policies import policy_label

        r = self.run
        params = ", ".join(f"{k}={v}" for k, v in sorted(r.params.items())) or "defaults"
        return (f"policy {policy_label(r.policy)} ({params}), seed {r.seed}, on {r.topology.name or r.topology.describe()}"
                f" ({r.topology.n_cpus} CPUs), {_ms(r.workload.end_ns, r.workload.start_ns)} ms replayed")

    def report(self) -> str:
        wl = self.run.workload
        when = "" if self.at_ns is None else f" at {_ms(self.at_ns, wl.start_ns)} ms"
        return "\n".join([
            f"{self.invariant}{when}: {self.message}",
            f"  {self.context()}",
            f"workload ({wl.tasks.height} task{'s' if wl.tasks.height != 1 else ''}; times in ms from its start):",
            workload_text(wl),
            "schedule around it:" if self.at_ns is not None else "schedule:",
            _text_table(schedule_excerpt(self.run, self.at_ns, self.tids, self.cpus))])

    def to_dict(self) -> dict:
        from policies import policy_label

        r = self.run
        return {"invariant": self.invariant, "message": self.message,
                "at_ms": None if self.at_ns is None else (self.at_ns - r.workload.start_ns) / 1e6,
                "tids": list(self.tids), "cpus": list(self.cpus), "policy": policy_label(r.policy),
                "params": {k: v for k, v in r.params.items()}, "seed": r.seed,
                "topology": r.topology.to_dict(), "horizon_ms": (r.workload.end_ns - r.workload.start_ns) / 1e6,
                "workload": workload_table(r.workload),
                "schedule": schedule_excerpt(r, self.at_ns, self.tids, self.cpus)}


def _fail(name, msg, run, at=None, tids=(), cpus=()):
    raise InvariantViolation(name, msg, run, at, tids, cpus)


def _speed_off(run: Run, name: str) -> None:
    on = [k for k in SPEED if k in run.params and run.param(k) != _DEFAULTS[k]]
    if on:
        raise ValueError(f"{name} needs the speed model off ({', '.join(on)} set)")


def _capacity(run: Run) -> np.ndarray:
    return np.asarray(run.topology.capacity, np.int64)


# -- demand -----------------------------------------------------------------------------------

def check_demand(run: Run) -> None:
    """Conservation of demand (module docstring). Progress is CPU time scaled by the CPU's
    capacity/1024 (exact at 1024; within 1 us and 10 ppm otherwise, for the engine's
    rounding of each accounting step)."""
    _speed_off(run, "demand")
    cap = _capacity(run)
    exact = bool(np.all(cap == 1024))
    bursts = run.bursts()
    for tid, rows in run.rows().items():
        demand = [b["demand_ns"] for b in bursts[tid]]
        done = 0
        for r in rows:
            if r["state"] != RUNNING:
                continue
            d = r["end_ns"] - r["start_ns"]
            done += d if exact else d * int(cap[r["cpu"]]) / 1024
            if r["burst"] < 0:
                continue
            want = sum(x for x in demand[: r["burst"] + 1] if x >= 0)
            tol = 0 if exact else 1000 + 1e-5 * want
            if r["end"] in (SC.END_BLOCKED, SC.END_EXITED) and abs(done - want) > tol:
                _fail("demand", f"task {tid}'s burst {r['burst']} ended after {done / 1e6:.6f} ms of work, but its "
                      f"bursts so far asked for {want / 1e6:.6f} ms", run, r["end_ns"], [tid], [r["cpu"]])
            if demand[r["burst"]] >= 0 and done > want + tol:
                _fail("demand", f"task {tid} ran {done / 1e6:.6f} ms of work in burst {r['burst']} and before, more "
                      f"than the {want / 1e6:.6f} ms its bursts asked for", run, r["end_ns"], [tid], [r["cpu"]])


# -- one task per CPU, one CPU per task -----------------------------------------------------------

def _overlap(run: Run, key: str) -> None:
    other = "tid" if key == "cpu" else "cpu"
    name = "one_task_per_cpu" if key == "cpu" else "one_cpu_per_task"
    iv = run.intervals.filter((pl.col("state") == RUNNING) & (pl.col("end_ns") > pl.col("start_ns")))
    for (k,), g in iv.sort(key, "start_ns", "end_ns").group_by(key, maintain_order=True):
        s, e, o = g["start_ns"].to_numpy(), g["end_ns"].to_numpy(), g[other].to_numpy()
        bad = np.flatnonzero(s[1:] < e[:-1])
        if len(bad):
            i = int(bad[0])
            a, b = (int(o[i]), int(o[i + 1]))
            if key == "cpu":
                msg = f"CPU {k} runs tasks {a} and {b} at once"
                _fail(name, msg, run, int(s[i + 1]), [a, b], [k])
            msg = f"task {k} runs on CPUs {a} and {b} at once"
            _fail(name, msg, run, int(s[i + 1]), [k], [a, b])


def check_one_task_per_cpu(run: Run) -> None:
    """No CPU runs two tasks at once."""
    _overlap(run, "cpu")


def check_one_cpu_per_task(run: Run) -> None:
    """No task runs on two CPUs at once, and each task's intervals tile its life (each
    begins where the previous ended; the last ends at the end of the replay or an exit)."""
    name = "one_cpu_per_task"
    C = run.topology.n_cpus
    bad = run.intervals.filter((pl.col("end_ns") < pl.col("start_ns"))
                               | ((pl.col("state") == RUNNING) & ((pl.col("cpu") < 0) | (pl.col("cpu") >= C))))
    if bad.height:
        r = bad.row(0, named=True)
        _fail(name, f"task {r['tid']} has an interval ending before it starts or running on no CPU of the machine "
              f"(cpu {r['cpu']})", run, r["start_ns"], [r["tid"]])
    _overlap(run, "tid")
    for tid, rows in run.rows().items():
        for a, b in zip(rows, rows[1:]):
            if a["end_ns"] != b["start_ns"]:
                _fail(name, f"task {tid}'s intervals leave a gap or overlap: one ends at {_ms(a['end_ns'], 0)} ns, "
                      f"the next starts at {_ms(b['start_ns'], 0)}", run, a["end_ns"], [tid])
        last = rows[-1]
        if last["end_ns"] != run.workload.end_ns and last["end"] != SC.END_EXITED:
            _fail(name, f"task {tid}'s last interval ends before the replay does, without an exit", run,
                  last["end_ns"], [tid])


def check_affinity(run: Run) -> None:
    """A task runs only on the CPUs it may use: its pinned CPU (taken modulo the machine's
    CPUs), else its affinity set, else any (``Run.allowed``)."""
    allowed = run.allowed()
    iv = run.intervals.filter((pl.col("state") == RUNNING) & (pl.col("end_ns") > pl.col("start_ns")))
    for tid, cpu, s in iv.sort("start_ns").select("tid", "cpu", "start_ns").iter_rows():
        ok = allowed.get(tid)
        if ok is not None and cpu not in ok:
            _fail("affinity", f"task {tid} runs on CPU {cpu}, but may use only CPU{'s' if len(ok) > 1 else ''} "
                  f"{','.join(str(c) for c in ok)}", run, s, [tid], [cpu])


# -- causality ------------------------------------------------------------------------------------

def _reach_time(runs: list[dict], progress: int, cap: np.ndarray):
    """When a task's cumulative work (running time x capacity/1024) reaches ``progress``."""
    done = 0.0
    for r in runs:
        rate = int(cap[r["cpu"]]) / 1024
        d = (r["end_ns"] - r["start_ns"]) * rate
        if done + d >= progress:
            return r["start_ns"] + (progress - done) / rate
        done += d
    return None


def check_causality(run: Run) -> None:
    """Bursts start when their start rule says, never before their waker got there; a task
    runs only after waiting (module docstring). Needs the speed model off."""
    _speed_off(run, "causality")
    name = "causality"
    wl = run.workload
    cap = _capacity(run)
    slack = 0 if np.all(cap == 1024) else 1000
    absolute = run.param("sleep") == "absolute"
    tasks = run.rows()
    bursts = run.bursts()
    tids = wl.tasks["tid"].to_list()
    acts = {a["target_burst"]: a for a in wl.actions.to_dicts() if a["target_burst"] >= 0}
    runs = {t: [r for r in rows if r["state"] == RUNNING] for t, rows in tasks.items()}
    for tid, bs in bursts.items():
        rows = tasks.get(tid, [])
        starts = [r for r in rows if r["state"] == RUNNABLE and r["begin"] in BURST_BEGINS]
        ends = [r["end_ns"] for r in rows if r["state"] == RUNNING and r["end"] in (SC.END_BLOCKED, SC.END_EXITED)]
        if len(starts) > len(bs):
            _fail(name, f"task {tid} began {len(starts)} bursts but has {len(bs)}", run, starts[len(bs)]["start_ns"],
                  [tid])
        for j, b in enumerate(bs):
            prev_end = ends[j - 1] if j > 0 and j - 1 < len(ends) else None
            began = starts[j]["start_ns"] if j < len(starts) else None
            if j > 0 and prev_end is None:
                if began is not None:
                    _fail(name, f"task {tid}'s burst {j} began before its burst {j - 1} ended", run, began, [tid])
                continue
            k = b["start_kind"]
            if k == START_BY:
                a = acts.get(b["row"])
                if a is None:
                    continue
                t_reach = _reach_time(runs.get(tids[a["task"]], []), a["progress_ns"], cap)
                if t_reach is None:
                    if began is not None:
                        _fail(name, f"task {tid}'s burst {j} began although task {tids[a['task']]}, which wakes it, "
                              f"never reached {a['progress_ns'] / 1e6:.3f} ms of work", run, began,
                              [tid, tids[a["task"]]])
                    continue
                if began is not None and (began < t_reach - slack or (prev_end is not None and began < prev_end)):
                    _fail(name, f"task {tid}'s burst {j} began before task {tids[a['task']]} reached the point that "
                          f"wakes it ({_ms(int(t_reach), wl.start_ns)} ms)", run, began, [tid, tids[a["task"]]])
                continue
            if k == START_AT:
                want = max(b["start_ns"], wl.start_ns if j == 0 else prev_end)
            else:
                want = max(b["abs_ns"], prev_end) if absolute else prev_end + b["start_ns"]
            if want <= wl.end_ns and began != want:
                _fail(name, f"task {tid}'s burst {j} should begin at {_ms(want, wl.start_ns)} ms, began "
                      f"{'never' if began is None else 'at ' + _ms(began, wl.start_ns) + ' ms'}", run,
                      began if began is not None else want, [tid])
            if want > wl.end_ns and began is not None:
                _fail(name, f"task {tid}'s burst {j} began after the end of the replay", run, began, [tid])
    for tid, rows in tasks.items():
        if rows[0]["state"] != RUNNABLE:
            _fail(name, f"task {tid} begins {_STATE.get(rows[0]['state'], '?')} instead of waiting", run,
                  rows[0]["start_ns"], [tid])
        for a, b in zip(rows, rows[1:]):
            if b["state"] == RUNNING and not (a["state"] == RUNNABLE and a["end"] == SC.END_SWITCHED_IN
                                              and a["cpu"] == b["cpu"]):
                _fail(name, f"task {tid} runs on CPU {b['cpu']} without having waited there", run, b["start_ns"],
                      [tid], [b["cpu"]])


# -- work conservation ------------------------------------------------------------------------------

def work_bound_ns(run: Run) -> int:
    """The default bound of ``check_work_conservation`` for another CPU of the node: two
    periodic balance intervals of a busy CPU of the largest LLC (balance_interval_ms x LLC
    size x 16, placement.md §4.1) plus four ticks."""
    llc = int(np.bincount(run.topology.llc).max()) if run.topology.n_cpus else 1
    return 2 * int(run.param("balance_interval_ms")) * MS * llc * 16 + 4 * run.tick_ns


def own_bound_ns(run: Run) -> int:
    """The default bound of ``check_work_conservation`` for the CPU a task waits on: the
    wakeup latency onto an idle CPU (idle_wakeup_latency_ns; measured ones are drawn from
    the trace, none for a synthetic workload) plus a tick."""
    lat = int(run.param("idle_wakeup_latency_ns"))
    return max(lat, 0) + run.tick_ns


def _idle(run: Run) -> list[list[tuple[int, int]]]:
    """Per CPU, the spans it runs nothing, in time order."""
    wl = run.workload
    busy: list[list[tuple[int, int]]] = [[] for _ in range(run.topology.n_cpus)]
    for c, s, e in run.intervals.filter((pl.col("state") == RUNNING) & (pl.col("end_ns") > pl.col("start_ns"))) \
            .sort("start_ns").select("cpu", "start_ns", "end_ns").iter_rows():
        busy[c].append((s, e))
    out = []
    for spans in busy:
        idle, t = [], wl.start_ns
        for s, e in spans:
            if s > t:
                idle.append((t, s))
            t = max(t, e)
        if t < wl.end_ns:
            idle.append((t, wl.end_ns))
        out.append(idle)
    return out


def check_work_conservation(run: Run, bound_ns: int | None = None, own_bound_ns_: int | None = None) -> None:
    """No CPU idles while a task that may run on it waits: not the CPU it waits on for
    longer than ``own_bound_ns_`` (default ``own_bound_ns``: the idle wakeup latency plus a
    tick), nor another CPU of the same NUMA node for longer than ``bound_ns`` (default
    ``work_bound_ns``: the balancer's interval). Across nodes the kernel's NUMA imbalance
    allowance may leave a node idle on purpose (placement.md §6.1)."""
    bound = work_bound_ns(run) if bound_ns is None else bound_ns
    own = own_bound_ns(run) if own_bound_ns_ is None else own_bound_ns_
    idle = _idle(run)
    starts = [[s for s, _ in spans] for spans in idle]
    node = np.asarray(run.topology.node)
    allowed_of = run.allowed()
    for tid, rows in run.rows().items():
        i = 0
        while i < len(rows):
            if rows[i]["state"] != RUNNABLE:
                i += 1
                continue
            j = i  # one wait: runnable intervals back to back (a migration splits a wait)
            while j + 1 < len(rows) and rows[j + 1]["state"] == RUNNABLE and rows[j + 1]["start_ns"] == rows[j]["end_ns"]:
                j += 1
            wait = rows[i: j + 1]
            i = j + 1
            for d in allowed_of[tid]:
                # d idle while the task waits on d, or on a CPU of d's node: continuous stretches
                run_s, run_e, limit = None, None, bound
                for w in wait:
                    if w["cpu"] < 0 or node[w["cpu"]] != node[d]:
                        run_s = None
                        continue
                    k = max(bisect.bisect_right(starts[d], w["start_ns"]) - 1, 0)
                    while k < len(idle[d]) and idle[d][k][0] < w["end_ns"]:
                        s, e = max(idle[d][k][0], w["start_ns"]), min(idle[d][k][1], w["end_ns"])
                        if e > s:
                            if run_s is not None and s == run_e:
                                run_e = e
                            else:
                                run_s, run_e, limit = s, e, bound
                            if w["cpu"] == d:
                                limit = min(limit, own)
                            if run_e - run_s > limit:
                                what = f"task {tid} waits on it" if w["cpu"] == d else \
                                    f"task {tid}, allowed there, waits on CPU {w['cpu']}"
                                _fail("work_conservation", f"CPU {d} idles for {(run_e - run_s) / 1e6:.3f} ms while "
                                      f"{what} (bound {limit / 1e6:.3f} ms)", run, run_s, [tid], sorted({d, w["cpu"]}))
                        k += 1


# -- weighted share ------------------------------------------------------------------------------------

def check_weighted_share(run: Run, window_ns: int = 200 * MS, max_error: float = 0.15, ticks: int = 3) -> None:
    """In every window of ``window_ns``, the fair tasks that may run on one CPU only (pinned
    there, an affinity set of one CPU, or a one-CPU machine) and were running or waiting for >= 98 % of the window share
    what they received together by weight: each one's time is within ``max_error`` x window
    plus ``ticks`` ticks of its weight's part (weights: the kernel's nice table; a task runs
    whole ticks, and a correct fair class's lag is bounded by its slices, not by the
    window). Needs two such tasks. The default bound leaves room for the built-ins'
    transients: Infinity's runtime EMA shifts shares by up to ~20 % of a window while it
    warms up; EEVDF stays within 2 %, CFS within 4 % plus the ticks."""
    wl = run.workload
    allowed = run.allowed()
    bursts = run.bursts()
    rows = run.rows()
    for w0 in range(wl.start_ns, wl.end_ns - window_ns + 1, window_ns):
        w1 = w0 + window_ns
        groups: dict[int, list[tuple[int, int, int]]] = {}
        for tid, rs in rows.items():
            if len(allowed[tid]) != 1:
                continue
            cpu = allowed[tid][0]
            present = got = 0
            prios = set()
            for r in rs:
                s, e = max(r["start_ns"], w0), min(r["end_ns"], w1)
                if e <= s or r["state"] not in (RUNNING, RUNNABLE):
                    continue
                present += e - s
                got += (e - s) if r["state"] == RUNNING else 0
                if r["burst"] >= 0:
                    prios.add(bursts[tid][r["burst"]]["prio"])
            if present < 0.98 * window_ns or len(prios) != 1 or min(prios) < SC.MAX_RT_PRIO:
                continue
            groups.setdefault(cpu, []).append((tid, int(WEIGHT[min(max(min(prios) - SC.DEFAULT_PRIO, -20), 19) + 20]),
                                               got))
        tol = max_error * window_ns + ticks * run.tick_ns
        for cpu, g in groups.items():
            if len(g) < 2:
                continue
            total = sum(x[2] for x in g)
            wsum = sum(x[1] for x in g)
            for tid, w, got in g:
                want = total * w / wsum
                if abs(got - want) > tol:
                    shares = ", ".join(f"{t} (weight {ww}) {gg / 1e6:.1f} ms" for t, ww, gg in g)
                    _fail("weighted_share", f"task {tid} ran {got / 1e6:.1f} ms of CPU {cpu} in the {window_ns / 1e6:g} ms "
                          f"window from {_ms(w0, wl.start_ns)} ms; its weight's part of the {total / 1e6:.1f} ms the "
                          f"CPU-bound tasks there got was {want / 1e6:.1f} ms (bound ±{tol / 1e6:.1f} ms): {shares}",
                          run, w0 + window_ns // 2, [x[0] for x in g], [cpu])


# -- RT ---------------------------------------------------------------------------------------------------

def _urgency(run: Run) -> dict[int, tuple]:
    """burst row -> (class, prio): smaller is more urgent (stop > RT > fair)."""
    wl = run.workload
    comms = wl.tasks["comm"].to_list()
    prio = wl.bursts["prio"].to_numpy().astype(np.int64)
    mig = np.array([comms[t].startswith("migration/") for t in wl.bursts["task"].to_list()], bool)
    cls, _ = _class_and_policy(prio, mig, "fifo")
    return {i: (int(c), int(p)) for i, (c, p) in enumerate(zip(cls, prio))}


def rt_wait_overlaps(run: Run) -> list[tuple]:
    """(cpu, waiting tid, running tid, overlap ns, overlap start, the running one is fair)
    where an RT or stop task waits on a CPU while a less urgent task runs there."""
    from policies._state import CLS_FAIR

    urg = _urgency(run)
    bursts = run.bursts()
    run_rows: dict[int, list] = {}
    wait_rows = []
    for tid, rows in run.rows().items():
        for r in rows:
            if r["burst"] < 0 or r["end_ns"] <= r["start_ns"]:
                continue
            u = urg[bursts[tid][r["burst"]]["row"]]
            if r["state"] == RUNNING:
                run_rows.setdefault(r["cpu"], []).append((r["start_ns"], r["end_ns"], tid, u))
            elif r["state"] == RUNNABLE and u[0] != CLS_FAIR:
                wait_rows.append((r["cpu"], r["start_ns"], r["end_ns"], tid, u))
    bad = []
    for c, s, e, tid, u in wait_rows:
        for s2, e2, tid2, u2 in run_rows.get(c, ()):
            if u2 > u and min(e, e2) > max(s, s2):
                bad.append((c, tid, tid2, min(e, e2) - max(s, s2), max(s, s2), u2[0] == CLS_FAIR))
    return bad


def _stretches(spans):
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def check_rt_strict(run: Run) -> None:
    """RT strictness (module docstring): a waiting RT or stop task never has a less urgent
    task running on its CPU, but for fair tasks the fair server runs: each stretch of those
    is at most the server's runtime plus a tick."""
    runtime = int(run.param("fair_server_runtime_ns"))
    by_cpu: dict[int, list] = {}
    for c, tid, tid2, d, s, fair in rt_wait_overlaps(run):
        if not fair or runtime <= 0:
            _fail("rt_strict", f"RT task {tid} waits on CPU {c} while the less urgent task {tid2} runs there "
                  f"({d / 1e6:.3f} ms)", run, s, [tid, tid2], [c])
        by_cpu.setdefault(c, []).append((s, s + d, tid, tid2))
    limit = runtime + run.tick_ns
    for c, spans in by_cpu.items():
        for s, e in _stretches([(a, b) for a, b, _, _ in spans]):
            if e - s > limit:
                who = sorted({x for a, b, t, t2 in spans if a < e and b > s for x in (t, t2)})
                _fail("rt_strict", f"fair tasks run on CPU {c} for {(e - s) / 1e6:.3f} ms while RT tasks wait "
                      f"there, more than the fair server's runtime {runtime / 1e6:.3f} ms plus a tick", run, s, who,
                      [c])


def check_fair_starvation(run: Run, bound_ns: int | None = None) -> None:
    """Bounded starvation of fair tasks under RT: with the fair server on, every stretch in
    which fair tasks wait on a CPU and none runs there lasts at most ``bound_ns`` (default:
    the server's deferral, period - runtime, plus two ticks). Nothing is bounded with the
    server off (fair_server_runtime_ns=0): RT may then starve fair tasks forever."""
    runtime = int(run.param("fair_server_runtime_ns"))
    if runtime <= 0:
        return
    bound = int(run.param("fair_server_period_ns")) - runtime + 2 * run.tick_ns if bound_ns is None else bound_ns
    why = ": the fair server's deferral plus two ticks" if bound_ns is None else ""
    bursts = run.bursts()
    waits: dict[int, list] = {}
    runs: dict[int, list] = {}
    who: dict[int, set] = {}
    for tid, rows in run.rows().items():
        for r in rows:
            if r["burst"] < 0 or r["end_ns"] <= r["start_ns"] or bursts[tid][r["burst"]]["prio"] < SC.MAX_RT_PRIO:
                continue
            if r["state"] == RUNNABLE:
                waits.setdefault(r["cpu"], []).append((r["start_ns"], r["end_ns"]))
                who.setdefault(r["cpu"], set()).add(tid)
            elif r["state"] == RUNNING:
                runs.setdefault(r["cpu"], []).append((r["start_ns"], r["end_ns"]))
    for c, spans in waits.items():
        fair_runs = _stretches(runs.get(c, []))
        starts = [s for s, _ in fair_runs]
        for s, e in _stretches(spans):
            t = s  # walk the waiting stretch, cutting out the fair runs
            k = max(bisect.bisect_right(starts, s) - 1, 0)
            while t < e:
                while k < len(fair_runs) and fair_runs[k][1] <= t:
                    k += 1
                nxt = fair_runs[k][0] if k < len(fair_runs) else e
                gap_end = min(max(nxt, t), e)
                if gap_end - t > bound:
                    _fail("fair_starvation", f"fair tasks wait on CPU {c} for {(gap_end - t) / 1e6:.3f} ms without "
                          f"any fair task running there (bound {bound / 1e6:.3f} ms{why})", run, t, sorted(who[c]),
                          [c])
                if k >= len(fair_runs):
                    break
                t = max(t, fair_runs[k][1])
                k += 1


# -- determinism ------------------------------------------------------------------------------------------

def check_determinism(run: Run) -> None:
    """Replaying the same workload with the same parameters and seed gives the same
    intervals, row for row."""
    again = run.replay_again()
    if run.intervals.equals(again):
        return
    a, b = run.intervals, again
    n = min(a.height, b.height)
    for i in range(n):
        if a.row(i) != b.row(i):
            r = a.row(i, named=True)
            _fail("determinism", f"a second replay differs from row {i} on: {a.row(i)} then {b.row(i)}", run,
                  r["start_ns"], [r["tid"]])
    _fail("determinism", f"a second replay has {b.height} intervals, the first {a.height}", run)


#: name -> (check, what it asserts)
INVARIANTS = {
    "demand": (check_demand, "conservation of demand: each burst runs exactly its demand"),
    "one_cpu_per_task": (check_one_cpu_per_task, "no task on two CPUs at once; each task's intervals tile its life"),
    "one_task_per_cpu": (check_one_task_per_cpu, "no CPU runs two tasks at once"),
    "affinity": (check_affinity, "a task runs only on the CPUs it may use (pinned CPU, affinity set)"),
    "causality": (check_causality, "bursts start when their start rule or their waker says, never earlier"),
    "work_conservation": (check_work_conservation, "no CPU idles long while a task allowed there waits in its node"),
    "weighted_share": (check_weighted_share, "CPU-bound fair tasks sharing a CPU get their weight's share"),
    "rt_strict": (check_rt_strict, "RT tasks never wait behind less urgent work (but the fair server's runtime)"),
    "fair_starvation": (check_fair_starvation, "fair tasks get their CPU within the fair server's deferral under RT"),
    "determinism": (check_determinism, "the same inputs and seed give the same schedule"),
}


def check_all(run: Run, skip=()) -> None:
    """Every invariant on one run (but those named in ``skip``); the first violation raises."""
    for name, (fn, _) in INVARIANTS.items():
        if name not in skip:
            fn(run)
