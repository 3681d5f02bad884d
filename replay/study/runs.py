"""Runs of a prepared trace: the recording itself, or a replay through a policy, measured.

>>> from replay import replay, prepare
>>> sched, info = replay("trace.dat", policy="eevdf", topology="2x8x2", params={"base_slice_ns": "1ms"})
>>> p = prepare("trace.dat")
>>> run = replay_run(p, "cfs", p.topology("2x8x2"))    # a Run: metrics, per-task table, waits

A :class:`Run` is plain data: what ``compare --json`` prints of it (``to_dict``), plus the
per-task table, every wait and the per-CPU utilisation that tables and plots are drawn
from, so nothing is measured twice; the schedule itself only when asked for (to export it).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from traces.errors import TraceError
from traces.trace import Trace

from .. import metrics as M
from ..metrics.catalog import split_span_key
from ..model.latencies import NONE, measure_latencies
from ..model.overrides import Checked, check as check_overrides
from ..model.prepared import PreparedTrace, prepare
from ..model.schedule import Schedule, observed_schedule
from ..model.topology import Topology
from ..model.topology import resolve as resolve_topology
from ..model.workload import Workload
from ..sim import ReplayInfo, all_params, simulate

OBSERVED = "observed"
#: the most seeds a replay may take: each figure is the median over them, which a thousand
#: draws pin far below the model's own error, and a slip of the keyboard (--seeds 100000)
#: would otherwise replay for hours before printing anything
MAX_SEEDS = 1000


def check_seeds(seeds: int, option: str = "seeds") -> None:
    """A TraceError (one line, for the command line) unless 1 <= seeds <= MAX_SEEDS."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise TraceError(f"{option} {seeds}: expected 1 to {MAX_SEEDS}")


def replay(source, policy: str = "eevdf", topology: str | Topology | None = None, params: dict | None = None,
           seed: int = 0, overrides: list | None = None, trace: Trace | None = None) -> tuple[Schedule, ReplayInfo]:
    """Replay ``source`` through ``policy`` on ``topology`` (default: the trace's own).

    ``source``: a PreparedTrace, or a trace (a Trace, a path, a bundle, ``@sample``), which
    is prepared here, or a Workload (``trace``, when given, supplies its tasks table,
    recorded topology and latencies). ``params`` override any engine or policy parameter
    (``all_params``); ``overrides`` (``--set`` strings or Override objects) change selected
    tasks' policy, priority and affinity. Deterministic: the same inputs and seed give
    identical output."""
    if isinstance(source, Workload):
        topo = (resolve_topology(topology, trace) if trace is not None and not isinstance(topology, Topology)
                else topology)
        latencies = NONE
        if trace is not None and _wants_measured_latencies(params):
            latencies = measure_latencies(observed_schedule(trace))
        topo_n = topo.n_cpus if isinstance(topo, Topology) else None
        checked = _checked(source, overrides, topo_n)
        sched, info = simulate(source, policy, topo, params, seed, checked.overrides or None, latencies,
                               trace.tasks if trace is not None else None)
        return sched, _with_warnings(sched, info, checked.warnings)
    p = prepare(source)
    topo = p.topology(topology)
    checked = checked_overrides(p, overrides, topo)
    sched, info = simulate(p.workload, policy, topo, params, seed, checked.overrides or None, p.latencies, p.tasks,
                           p.unavailable_cpus(topo), p.is_recorded(topo), p.confined_cpus(topo))
    return sched, _with_warnings(sched, info, checked.warnings)


def _checked(wl: Workload, overrides, n_cpus: int | None) -> Checked:
    return check_overrides(overrides or [], wl.tasks, wl.bursts["task"].to_numpy(), wl.bursts["prio"].to_numpy(),
                           n_cpus)


def checked_overrides(prepared: PreparedTrace, overrides, topo: Topology) -> Checked:
    """``--set`` overrides checked against the trace's tasks and ``topo``
    (replay.model.overrides.check): a selector matching no task, a change that cannot
    apply to any task it matches, CPUs all outside the machine are errors; the rest of
    what cannot apply are counted warnings."""
    return _checked(prepared.workload, overrides, topo.n_cpus)


def _with_warnings(sched: Schedule, info: ReplayInfo, warnings: list[str]) -> ReplayInfo:
    """The override warnings first in the replay's (and its schedule's) warnings."""
    if warnings:
        info.warnings[:0] = warnings
        sched.warnings[:0] = [w for w in warnings if w not in sched.warnings]
    return info


def _wants_measured_latencies(params: dict | None) -> bool:
    from policies._params import parse_value

    from ..sim.params import ENGINE_PARAMS

    by = {q.name: q for q in ENGINE_PARAMS}
    return any(parse_value(by[k], (params or {}).get(k, -1)) < 0
               for k in ("idle_wakeup_latency_ns", "preempt_latency_ns"))


def params_for(policy: str, params: dict | None) -> dict:
    """The subset of ``params`` that ``policy`` (or the engine) takes."""
    names = {p.name for p in all_params(policy)}
    return {k: v for k, v in (params or {}).items() if k in names}


@dataclass
class Run:
    """The recording or one replay of it, measured.

    ``metrics`` is the dict ``metrics --json`` prints; ``tasks`` the per-task table
    (``metrics.task_table``), ``waits_ns`` every wait, ``wait_causes`` its cause
    (schema.BEGIN_* code) and ``wait_tids`` its task, ``utilization`` the per-CPU busy
    fraction over time (``metrics.utilization_grid``: grid, bucket edges); ``schedule``
    the schedule itself when it was kept."""

    policy: str
    topology: str
    metrics: dict
    tasks: pl.DataFrame
    waits_ns: np.ndarray
    wait_causes: np.ndarray
    utilization: tuple[np.ndarray, np.ndarray]
    params: dict = field(default_factory=dict)
    seed: int | None = None
    events_simulated: int = 0
    wall_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    schedule: Schedule | None = None
    #: the tid of each wait of ``waits_ns``
    wait_tids: np.ndarray | None = None
    #: one row per application span as this run ran it (metrics.span_table; empty: none)
    spans: pl.DataFrame | None = None
    #: replays of several seeds (replay_seeds): how many; the spread of the main figures over
    #: them {figure key: [min, max]}; the runs of each seed, the first seed's first
    seeds: int = 1
    seed_range: dict | None = None
    per_seed: list | None = None

    @property
    def observed(self) -> bool:
        return self.policy == OBSERVED

    def to_dict(self) -> dict:
        """The run as ``compare --json`` prints it: policy, topology, params, (seed; for
        replays of several seeds, seeds and seed_range), events_simulated, wall_s, the
        metrics, warnings."""
        head = {"policy": self.policy, "topology": self.topology, "params": dict(self.params)}
        if self.seed is not None:
            head["seed"] = self.seed
        if self.seeds > 1:
            head |= {"seeds": self.seeds, "seed_range": self.seed_range}
        return {**head, "events_simulated": self.events_simulated, "wall_s": self.wall_s, **self.metrics,
                "warnings": list(self.warnings)}


def _topology_key(topo: Topology) -> tuple:
    return tuple(tuple(a.tolist()) for a in (topo.core, topo.llc, topo.node, topo.capacity, topo.pd)) + (topo.energy,)


def _measured(schedule: Schedule, topo: Topology, window_ns: int, by: str | None = None, focus=None):
    m = M.measure_all(schedule, topo, window_ns=window_ns, by=by, focus=focus)
    return m, M.utilization_grid(schedule)


def _focus_key(focus) -> tuple:
    return tuple(f if isinstance(f, str) else f.text for f in (focus or ()))


def observed_run(prepared: PreparedTrace, topo: Topology | None = None, window_ns: int = M.DEFAULT_WINDOW_NS,
                 keep_schedule: bool = False, by: str | None = None, focus=None) -> Run:
    """The recording measured on ``topo`` (default: the recorded machine); measured once
    per machine, window, breakdown (``by``) and ``focus``, then shared
    (``prepared.observed_metrics``)."""
    if prepared.schedule is None:
        raise ValueError("this prepared trace has no observed schedule (a copy for sweep workers)")
    topo = topo or prepared.recorded
    t0 = time.perf_counter()
    key = (_topology_key(topo), window_ns, by, _focus_key(focus))
    if key not in prepared.observed_metrics:
        prepared.observed_metrics[key] = _measured(prepared.schedule, topo, window_ns, by, focus)
    m, util = prepared.observed_metrics[key]
    return Run(OBSERVED, topo.name, m.metrics, m.tasks, m.waits["wait_ns"].to_numpy(), m.waits["cause"].to_numpy(),
               util, {}, None, 0,
               time.perf_counter() - t0, list(m.metrics["warnings"]),
               prepared.schedule if keep_schedule else None, m.waits["tid"].to_numpy(), m.spans)


def replay_run(prepared: PreparedTrace, policy: str, topo: Topology, params: dict | None = None, seed: int = 0,
               overrides=None, keep_schedule: bool = False, window_ns: int = M.DEFAULT_WINDOW_NS,
               by: str | None = None, focus=None) -> Run:
    """``policy`` replayed on ``topo`` and measured (``by``, ``focus``: as
    ``metrics.measure_all``). ``overrides`` are checked first (:func:`checked_overrides`);
    their warnings lead the run's."""
    checked = checked_overrides(prepared, overrides, topo)
    sched, info = simulate(prepared.workload, policy, topo, params, seed, checked.overrides or None,
                           prepared.latencies, prepared.tasks, prepared.unavailable_cpus(topo),
                           prepared.is_recorded(topo), prepared.confined_cpus(topo))
    info = _with_warnings(sched, info, checked.warnings)
    m, util = _measured(sched, topo, window_ns, by, focus)
    return Run(policy, topo.name, m.metrics, m.tasks, m.waits["wait_ns"].to_numpy(), m.waits["cause"].to_numpy(),
               util, info.params, seed,
               info.events_simulated, info.wall_s, list(dict.fromkeys(m.metrics["warnings"] + info.warnings)),
               sched if keep_schedule else None, m.waits["tid"].to_numpy(), m.spans)


# -- several seeds ------------------------------------------------------------------------
# A replay draws its wakeup and preemption latencies from the recording's distributions, so
# one seed's figures carry that draw's luck (a tail percentile of a few hundred spans can
# move by tens of percent). validate gives each error as the median over its seeds; compare
# gives each replayed figure the same way, so a row of the recorded policy on the recorded
# machine reads exactly the error validate prints beside it.

#: subtrees of the metrics that list particular waits (the longest few): a replay of several
#: seeds keeps its first seed's
FIRST_SEED_ONLY = frozenset({"worst"})

#: the figures (catalog keys) whose spread over the seeds a replay of several seeds reports,
#: with each application span's and the focused tasks' wait p50 and p99 where present
RANGE_FIGURES = ("wait_ns.p50", "wait_ns.p99", "wait_ns.max", "fairness.jain", "migrations.total",
                 "context_switches")


def median_of(values: list) -> object:
    """One figure over several seeds: the median of the numbers (median_low for integers, so
    a count stays a count), key by key for dicts, row by row (by their first field: tid,
    tgid, cpu, class) for lists of rows, the first seed's for text, other lists and
    FIRST_SEED_ONLY subtrees; of the descriptions of one wait (metrics "wait_at": its
    length, task, CPU, time), the seed's whose wait is the median (median_low); None when no
    seed has it."""
    have = [x for x in values if x is not None]
    if not have:
        return None
    first = have[0]
    if isinstance(first, dict) and "wait_ns" in first and "tid" in first:
        return sorted(have, key=lambda d: d["wait_ns"])[(len(have) - 1) // 2]
    if isinstance(first, dict):
        keys = dict.fromkeys(k for d in have for k in d)
        return {k: (next(d[k] for d in have if k in d) if k in FIRST_SEED_ONLY else median_of([d.get(k) for d in have]))
                for k in keys}
    if isinstance(first, list):
        if first and all(isinstance(r, dict) and r for x in have for r in x):
            rows: dict = {}
            for x in have:
                for r in x:
                    rows.setdefault(next(iter(r.values())), []).append(r)
            return [median_of(rs) for rs in rows.values()]
        return first
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    if all(isinstance(x, int) and not isinstance(x, bool) for x in have):
        return statistics.median_low(have)
    return float(statistics.median(have))


def _range_keys(metrics: dict) -> list[str]:
    keys = list(RANGE_FIGURES)
    keys += [f"span.{name}.{q}" for name in (metrics.get("span") or {}) for q in ("p50", "p99")]
    if metrics.get("focus"):
        keys += ["focus.wait_ns.p50", "focus.wait_ns.p99"]
    return keys


def _figure(metrics: dict, key: str):
    """The figure of ``key`` (a catalog key: "wait_ns.p99", "span.NAME.p50") in ``metrics``."""
    sk = split_span_key(key)
    if sk is not None:
        return ((metrics.get("span") or {}).get(sk[0]) or {}).get(sk[1])
    for k in key.split("."):
        if not isinstance(metrics, dict):
            return None
        metrics = metrics.get(k)
    return metrics


def combine_seeds(runs: list[Run]) -> Run:
    """The replays of one configuration under several seeds as one Run: every figure of its
    metrics the median over the seeds (``median_of``), ``seed_range`` the spread of the
    main ones; the waits (wait CDFs) and application spans pooled over the seeds; the
    per-task table, the utilisation and the schedule those of the first seed (listed in
    ``per_seed``, first seed first, with the others)."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    metrics = median_of([r.metrics for r in runs])
    metrics["warnings"] = list(dict.fromkeys(w for r in runs for w in r.metrics["warnings"]))
    ranges = {}
    for k in _range_keys(first.metrics):
        xs = [x for r in runs if (x := _figure(r.metrics, k)) is not None]
        ranges[k] = [min(xs), max(xs)] if xs else None
    spans = [r.spans for r in runs if r.spans is not None]
    return Run(first.policy, first.topology, metrics, first.tasks, np.concatenate([r.waits_ns for r in runs]),
               np.concatenate([r.wait_causes for r in runs]), first.utilization, first.params, first.seed,
               sum(r.events_simulated for r in runs), sum(r.wall_s for r in runs),
               list(dict.fromkeys(w for r in runs for w in r.warnings)), first.schedule,
               np.concatenate([r.wait_tids for r in runs]), pl.concat(spans) if spans else None,
               len(runs), ranges, list(runs))


def replay_seeds(prepared: PreparedTrace, policy: str, topo: Topology, params: dict | None = None, seed: int = 0,
                 seeds: int = 1, overrides=None, keep_schedule: bool = False, window_ns: int = M.DEFAULT_WINDOW_NS,
                 by: str | None = None, focus=None) -> Run:
    """``replay_run`` with the seeds seed, seed + 1, ..., seed + seeds - 1, combined
    (``combine_seeds``); the schedule kept (``keep_schedule``) is the first seed's."""
    check_seeds(seeds)
    return combine_seeds([replay_run(prepared, policy, topo, params, seed + k, overrides,
                                     keep_schedule and k == 0, window_ns, by, focus) for k in range(seeds)])
