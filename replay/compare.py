"""Compare the recorded schedule with counterfactual replays: several policies, on
several topologies, with the replay's own validation error beside every figure."""

from __future__ import annotations

import time

from traces.errors import TraceError
from traces.trace import Trace

from . import metrics as M
from .engine import all_params, replay
from .schedule import observed_schedule
from .topology import Topology
from .topology import resolve as resolve_topology
from .validate import validate

OBSERVED = "observed"


def params_for(policy: str, params: dict | None) -> dict:
    """The subset of ``params`` that ``policy`` (or the engine) takes."""
    names = {p.name for p in all_params(policy)}
    return {k: v for k, v in (params or {}).items() if k in names}


def check_params(policies, params: dict | None) -> None:
    """Every parameter must belong to the engine or to at least one of the policies."""
    if not params:
        return
    known = set()
    for p in policies:
        if p != OBSERVED:
            known |= {q.name for q in all_params(p)}
    bad = sorted(set(params) - known)
    if bad:
        raise TraceError(f"unknown parameter(s) {', '.join(bad)} for policies {', '.join(policies)}; "
                         f"valid: {', '.join(sorted(known))}")


def compare(trace: Trace, policies=(OBSERVED, "cfs", "eevdf", "infinity"), topologies=(None,),
            params: dict | None = None, overrides=None, seed: int = 0, validation: bool = True,
            keep_schedules: bool = False) -> dict:
    """Measure the recorded schedule and replays under ``policies`` on ``topologies``
    (None = the trace's own). Returns {"trace", "runs": [...], "validation": {...}}; each
    run has policy, topology, params and the keys of ``metrics --json``. ``validation``
    is the recorded policy replayed on the recorded topology against the recording
    (replay.validate), the error bar of every counterfactual figure."""
    from policies import get_policy

    policies = list(policies)
    for p in policies:
        if p != OBSERVED:
            get_policy(p)
    check_params(policies, params)
    topos: list[Topology] = []
    for t in topologies or (None,):
        topos.append(resolve_topology(t, trace) if not isinstance(t, Topology) else t)
    recorded = resolve_topology(None, trace)
    out = {"trace": trace.path, "runs": [], "validation": None}
    schedules = {}
    if validation:
        v = validate(trace, seed=seed)
        out["validation"] = {k: v[k] for k in ("policy", "topology", "wait_p50_rel_err", "wait_p99_rel_err",
                                               "cpu_time_rel_err_mean", "cpu_time_rel_err_max",
                                               "switches_rel_err", "migrations_rel_err")}
    observed_done = False
    for topo in topos:
        for p in policies:
            t0 = time.perf_counter()
            if p == OBSERVED:
                if observed_done:
                    continue
                sched = observed_schedule(trace)
                m = M.measure(sched, recorded)
                run = {"policy": OBSERVED, "topology": recorded.name, "params": {}, "events_simulated": 0,
                       "wall_s": time.perf_counter() - t0, **m}
                observed_done = True
            else:
                sched, info = replay(trace, policy=p, topology=topo, params=params_for(p, params), seed=seed,
                                     overrides=overrides)
                m = M.measure(sched, topo)
                run = {"policy": p, "topology": topo.name, "params": info.params, "seed": seed,
                       "events_simulated": info.events_simulated, "wall_s": info.wall_s, **m,
                       "warnings": list(dict.fromkeys(m["warnings"] + info.warnings))}
            out["runs"].append(run)
            if keep_schedules:
                schedules[(run["policy"], run["topology"])] = sched
    if keep_schedules:
        out["_schedules"] = schedules
    return out
