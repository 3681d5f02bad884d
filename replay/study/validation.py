"""How far a replay is from what was recorded: replay a trace under the policy that
recorded it, on the recorded topology, and compare the metrics."""

from __future__ import annotations

import re

import polars as pl

from ..model.prepared import PreparedTrace, prepare
from .runs import Run, observed_run, replay_run

#: tasks with less recorded CPU time than this are left out of the per-task CPU-time error
CPU_TIME_MIN_NS = 1_000_000

#: the relative errors validate reports, (replayed - observed) / observed
ERROR_KEYS = ("wait_p50_rel_err", "wait_p99_rel_err", "cpu_time_rel_err_mean", "cpu_time_rel_err_max",
              "switches_rel_err", "migrations_rel_err")


def recorded_policy(prepared: PreparedTrace) -> tuple[str, str | None]:
    """The policy of the kernel that recorded the trace: eevdf for Linux >= 6.6, cfs
    before; (policy, warning) — eevdf with a warning when the version is unknown."""
    m = re.match(r"(\d+)\.(\d+)", prepared.kernel)
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


def cpu_time_errors(observed: pl.DataFrame, replayed: pl.DataFrame) -> pl.DataFrame:
    """From two per-task tables (``metrics.task_table``): per task with at least 1 ms of
    recorded CPU time, tid, observed_ns, replayed_ns, rel_err."""
    o = observed.select("tid", observed_ns="cpu_time_ns").filter(pl.col("observed_ns") >= CPU_TIME_MIN_NS)
    r = replayed.select("tid", replayed_ns="cpu_time_ns")
    j = o.join(r, on="tid", how="left").with_columns(pl.col("replayed_ns").fill_null(0))
    return j.with_columns(rel_err=(pl.col("replayed_ns") - pl.col("observed_ns")) / pl.col("observed_ns"))


def validate(source, policy: str | None = None, topology=None, params: dict | None = None, seed: int = 0,
             replayed: Run | None = None) -> dict:
    """Replay ``source`` (a prepared trace, or anything ``prepare`` takes) under its recorded
    policy (or ``policy``) and compare. Keys: wait_p50_rel_err, wait_p99_rel_err,
    cpu_time_rel_err_mean, cpu_time_rel_err_max, switches_rel_err, migrations_rel_err (all
    (replayed - observed) / observed, the CPU-time ones over tasks with >= 1 ms of recorded
    CPU, absolute), cpu_time_tasks, observed, replayed (the two metric objects), policy,
    topology, events_simulated, wall_s, warnings.

    ``replayed``: that replay, when the caller already ran it with exactly these inputs
    (``compare`` does: the recorded policy on the recorded machine with default parameters)."""
    p = prepare(source)
    warnings = []
    if policy is None:
        policy, w = recorded_policy(p)
        if w:
            warnings.append(w)
    topo = p.topology(topology)
    obs = observed_run(p, topo)
    rep = replayed if replayed is not None else replay_run(p, policy, topo, params, seed)
    mo, mr = obs.metrics, rep.metrics
    cpu = cpu_time_errors(obs.tasks, rep.tasks)
    abs_err = cpu["rel_err"].abs()
    return {
        "policy": policy,
        "topology": rep.topology or topo.describe(),
        "wait_p50_rel_err": _rel(mr["wait_ns"]["p50"], mo["wait_ns"]["p50"]),
        "wait_p99_rel_err": _rel(mr["wait_ns"]["p99"], mo["wait_ns"]["p99"]),
        "cpu_time_rel_err_mean": float(abs_err.mean()) if cpu.height else None,
        "cpu_time_rel_err_max": float(abs_err.max()) if cpu.height else None,
        "cpu_time_tasks": int(cpu.height),
        "switches_rel_err": _rel(mr["context_switches"], mo["context_switches"]),
        "migrations_rel_err": _rel(mr["migrations"]["total"], mo["migrations"]["total"]),
        "observed": mo,
        "replayed": mr,
        "events_simulated": rep.events_simulated,
        "wall_s": rep.wall_s,
        "warnings": warnings + rep.warnings,
    }
