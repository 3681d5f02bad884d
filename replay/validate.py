"""How far a replay is from what was recorded: replay a trace under the policy that
recorded it, on the recorded topology, and compare the metrics."""

from __future__ import annotations

import re

import polars as pl

from traces.errors import TraceError
from traces.trace import Trace

from . import metrics as M
from .engine import replay
from .schedule import observed_schedule
from .topology import resolve as resolve_topology

CPU_TIME_MIN_NS = 1_000_000


def recorded_policy(trace: Trace) -> tuple[str, str | None]:
    """The policy of the kernel that recorded the trace: eevdf for Linux >= 6.6, cfs
    before; (policy, warning) — eevdf with a warning when the version is unknown."""
    k = trace.meta["kernel"][0] if trace.meta.height else ""
    m = re.match(r"(\d+)\.(\d+)", str(k or ""))
    if not m:
        return "eevdf", ("the trace does not record the kernel version; assuming EEVDF (Linux >= 6.6); "
                         "give --policy if it was recorded on an older kernel")
    major, minor = int(m.group(1)), int(m.group(2))
    return ("eevdf" if (major, minor) >= (6, 6) else "cfs"), None


def _rel(a, b):
    """(replayed - observed) / observed; None when observed is 0."""
    if a is None or b is None or b == 0:
        return None
    return (a - b) / b


def cpu_time_errors(observed, replayed) -> pl.DataFrame:
    """Per task with at least 1 ms of recorded CPU: tid, observed_ns, replayed_ns, rel_err."""
    o = M.running(observed).group_by("tid").agg(observed_ns=(pl.col("end_ns") - pl.col("start_ns")).sum())
    r = M.running(replayed).group_by("tid").agg(replayed_ns=(pl.col("end_ns") - pl.col("start_ns")).sum())
    j = o.filter(pl.col("observed_ns") >= CPU_TIME_MIN_NS).join(r, on="tid", how="left") \
        .with_columns(pl.col("replayed_ns").fill_null(0))
    return j.with_columns(rel_err=(pl.col("replayed_ns") - pl.col("observed_ns")) / pl.col("observed_ns"))


def validate(trace: Trace, policy: str | None = None, topology=None, params: dict | None = None,
             seed: int = 0) -> dict:
    """Replay ``trace`` under its recorded policy (or ``policy``) and compare. Keys:
    wait_p50_rel_err, wait_p99_rel_err, cpu_time_rel_err_mean, cpu_time_rel_err_max,
    switches_rel_err, migrations_rel_err (all (replayed - observed) / observed, the CPU-time
    ones over tasks with >= 1 ms of recorded CPU, absolute), observed, replayed (the two
    metric objects), policy, topology, warnings."""
    warnings = []
    if policy is None:
        policy, w = recorded_policy(trace)
        if w:
            warnings.append(w)
    topo = resolve_topology(topology, trace)
    obs = observed_schedule(trace)
    rep, info = replay(trace, policy=policy, topology=topo, params=params, seed=seed)
    mo = M.measure(obs, topo)
    mr = M.measure(rep, topo)
    cpu = cpu_time_errors(obs, rep)
    abs_err = cpu["rel_err"].abs()
    return {
        "policy": policy,
        "topology": info.topology,
        "wait_p50_rel_err": _rel(mr["wait_ns"]["p50"], mo["wait_ns"]["p50"]),
        "wait_p99_rel_err": _rel(mr["wait_ns"]["p99"], mo["wait_ns"]["p99"]),
        "cpu_time_rel_err_mean": float(abs_err.mean()) if cpu.height else None,
        "cpu_time_rel_err_max": float(abs_err.max()) if cpu.height else None,
        "cpu_time_tasks": int(cpu.height),
        "switches_rel_err": _rel(mr["context_switches"], mo["context_switches"]),
        "migrations_rel_err": _rel(mr["migrations"]["total"], mo["migrations"]["total"]),
        "observed": mo,
        "replayed": mr,
        "events_simulated": info.events_simulated,
        "wall_s": info.wall_s,
        "warnings": warnings + info.warnings,
    }


def require_policy_known(policy: str) -> None:
    from policies import POLICIES

    if policy not in POLICIES:
        raise TraceError(f"unknown policy {policy!r}; valid policies: {', '.join(POLICIES)}")
