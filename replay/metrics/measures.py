"""Metrics of a schedule: wait time, CPU time, switches, migrations, fairness, NUMA locality.

One module measures every schedule — the recorded one (``observed_schedule``)
and every replayed one — from its intervals table. All times are int64 ns.

Definitions (the README repeats them):

* **wait**: a runnable interval that ends with the task switched in. It
  starts at ``sched_waking`` (else ``sched_wakeup``) for a wakeup, at the
  switch-out for a preemption (prev_state R or R+), at ``sched_wakeup_new``
  for a new task; a wait that migrates keeps its start and cause. Waits whose
  start is unknown (tasks already runnable when the trace began) or damaged
  by lost events are excluded.
* **percentiles** are nearest-rank: p-th = the smallest wait such that at
  least p % of waits are <= it (so every reported value is a real wait).
* **CPU time**: sum of valid running intervals. **utilization** = CPU time /
  (CPUs x duration).
* **context switches**: running intervals ended by a switch-out (preempted,
  blocked, exited); **involuntary** = preempted (switched out runnable).
* **migrations**: consecutive running intervals of a task on different CPUs;
  ``cross_llc`` = on CPUs in different LLCs, ``cross_node`` = in different
  NUMA nodes (so cross_node <= cross_llc <= total).
* **Jain's index** of per-task service rate x_i = running / (running +
  runnable) over tasks that competed (both > 0): J = (sum x)^2 / (n sum x^2),
  1 = perfectly even, 1/n = one task got everything. Reported overall and per
  nice level.
* **weighted-share error**: the schedule is cut into windows (default
  100 ms). In each window the CPU-bound fair tasks (running or runnable for at
  least 98 % of the window) share the CPU time the other tasks left over
  (CPUs x window - others' running time); each should get its
  weight-proportional part, capped at one CPU (water-filling; weights from
  nice, kernel table). share error = mean over (task, window) of
  |received - expected| / window, in CPUs; ``share_error_max`` the largest.
* **NUMA**: a task's home node is the node of the CPU it first ran on (or
  given); home fraction = CPU time on the home node / CPU time, overall
  weighted by CPU time; cross-node migrations are counted per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from policies.weights import weight_of_nice
from traces import schema
from traces._memory import small_pages
from traces.errors import TraceError

from ..model.schedule import CAUSES, Schedule, running, waits
from ..model.topology import Topology

DEFAULT_WINDOW_NS = 100_000_000
CPU_BOUND_FRACTION = 0.98
WAIT_STATS = ("count", "mean", "p50", "p90", "p99", "p999", "max")
_Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}


# -- waits ----------------------------------------------------------------------

def _pct(col: str, q: float) -> pl.Expr:
    return pl.col(col).sort().gather((pl.len() * q).ceil().cast(pl.Int64).clip(1) - 1).first()


def wait_stat_exprs(col: str = "wait_ns", prefix: str = "wait_ns_") -> list[pl.Expr]:
    """Aggregations giving count, mean, p50, p90, p99, p999, max of ``col`` (ns)."""
    return [pl.len().alias(prefix + "count"), pl.col(col).mean().alias(prefix + "mean"),
            *[_pct(col, q).alias(prefix + k) for k, q in _Q.items()],
            pl.col(col).max().alias(prefix + "max")]


def summarize(values: np.ndarray) -> dict:
    """count, mean, p50, p90, p99, p999, max (nearest rank) of a 1-d array of ns. The
    ranks are found by partial sorting (np.partition), not a full sort."""
    v = np.asarray(values, np.int64)
    n = len(v)
    if n == 0:
        return {k: 0 for k in WAIT_STATS}
    ranks = {k: max(int(np.ceil(q * n)), 1) - 1 for k, q in _Q.items()}
    v = np.partition(v, sorted(set(ranks.values()) | {n - 1}))
    out = {"count": int(n), "mean": int(v.sum()) / n}
    for k, r in ranks.items():
        out[k] = int(v[r])
    out["max"] = int(v[n - 1])
    return out


# -- per-task aggregates ------------------------------------------------------------

def _dur() -> pl.Expr:
    return pl.col("end_ns") - pl.col("start_ns")


def _check_topology(schedule: Schedule, topo: Topology) -> None:
    iv = schedule.intervals
    if iv.height:
        top = int(iv["cpu"].max())
        if top >= topo.n_cpus:
            raise TraceError(f"the topology ({topo.describe()}) has fewer CPUs than the schedule uses "
                             f"(CPU {top}); give one with at least {top + 1} CPUs")


def task_table(schedule: Schedule, topo: Topology, home: dict[int, int] | None = None,
               all_waits: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per task: tid, tgid, comm, sched_class, nice, cpu_time_ns, runnable_ns (valid waiting
    time), switches, involuntary, migrations, cross_node_migrations, home_node,
    home_fraction (0..1), waits, wait_total_ns (sum of its waits), wait_ns_mean/p50/p90/p99/
    p999/max (ns). The one place per-task CPU time and wait statistics are computed."""
    return _task_pass(schedule, topo, home, all_waits)[0]


def _task_pass(schedule: Schedule, topo: Topology, home: dict[int, int] | None,
               all_waits: pl.DataFrame | None) -> tuple[pl.DataFrame, np.ndarray]:
    """task_table, and [migrations, cross_llc, cross_node] over all tasks, from one pass
    over the intervals (no sort of the intervals; each task's wait group sorted alone)."""
    from . import _kernel as K
    from ..model.schedule import task_index, tid_table

    _check_topology(schedule, topo)
    tasks = schedule.tasks.select("tid", "tgid", pl.col("comm").cast(pl.String), "sched_class", "nice")
    if not tasks["tid"].is_sorted():
        tasks = tasks.sort("tid")
    tids = tasks["tid"].to_numpy().astype(np.int64)
    n = len(tids)
    iv = schedule.intervals
    dense = tid_table(tids) if n else None  # shared by both lookups below
    task = task_index(tids, iv["tid"].to_numpy(), np.int32, dense)
    home_given = np.full(n, -1, np.int64)
    if home:
        for tid, node in home.items():
            i = int(np.searchsorted(tids, int(tid)))
            if i < n and tids[i] == int(tid):
                home_given[i] = int(node)
    cpu_time, runnable, switches, involuntary, migrations, cross_node, home_ns = (np.zeros(n, np.int64)
                                                                                 for _ in range(7))
    home_node = np.full(n, -1, np.int64)
    last_cpu = np.full(n, -1, np.int64)
    totals = np.zeros(3, np.int64)
    K.task_pass(task, iv["state"].to_numpy(), iv["cpu"].to_numpy(), iv["start_ns"].to_numpy(),
                iv["end_ns"].to_numpy(), iv["end"].to_numpy(), iv["valid"].to_numpy(),
                topo.node.astype(np.int64), topo.llc.astype(np.int64), home_given, cpu_time, runnable, switches,
                involuntary, migrations, cross_node, home_node, home_ns, last_cpu, totals)
    w = all_waits if all_waits is not None else waits(schedule)
    qs = np.array(list(_Q.values()), np.float64)
    w_count = np.zeros(n, np.int64)
    w_mean = np.zeros(n, np.float64)
    w_pct = np.zeros((n, len(qs)), np.int64)
    w_max = np.zeros(n, np.int64)
    w_total = np.zeros(n, np.int64)
    K.group_wait_stats(task_index(tids, w["tid"].to_numpy(), np.int32, dense),
                       w["wait_ns"].to_numpy().astype(np.int64), n, qs, w_count, w_mean, w_pct, w_max, w_total)
    ran = home_node >= 0
    has_w = w_count > 0

    def opt(values, mask, dtype):
        """values where mask, else null (no CPU time, no waits)"""
        s = pl.Series(values, dtype=dtype)
        return s if mask.all() else s.zip_with(pl.Series(mask), pl.Series([None] * n, dtype=dtype))

    cols = {
        "cpu_time_ns": cpu_time, "runnable_ns": runnable, "switches": switches, "involuntary": involuntary,
        "migrations": migrations, "cross_node_migrations": cross_node,
        "home_node": opt(home_node.astype(np.int32), ran, pl.Int32),
        "home_fraction": opt(np.where(cpu_time > 0, home_ns / np.maximum(cpu_time, 1), 0.0), cpu_time > 0,
                             pl.Float64),
        "waits": w_count,
        "wait_total_ns": w_total,
        "wait_ns_mean": opt(w_mean, has_w, pl.Float64),
        **{f"wait_ns_{k}": opt(w_pct[:, j], has_w, pl.Int64) for j, k in enumerate(_Q)},
        "wait_ns_max": opt(w_max, has_w, pl.Int64),
    }
    return tasks.with_columns(**{k: (v if isinstance(v, pl.Series) else pl.Series(v)) for k, v in cols.items()}), \
        totals


# -- fairness -------------------------------------------------------------------------

def jain(x: np.ndarray) -> float | None:
    """Jain's fairness index (sum x)^2 / (n sum x^2); None for no values."""
    x = np.asarray(x, float)
    if len(x) == 0 or not np.any(x):
        return None
    return float(x.sum() ** 2 / (len(x) * (x * x).sum()))


def _share_runs(schedule: Schedule, window_ns: int, tasks: pl.DataFrame | None, rows: bool):
    """share_error_runs (see replay.metrics._kernel) on the schedule's candidate tasks:
    (summary [sum |error| x windows, max |error|, task-windows], rows or None, task ids, nice)."""
    from . import _kernel as K

    if window_ns <= 0:
        raise TraceError(f"fairness window must be > 0 ns (got {window_ns})")
    summary = np.zeros(3)
    t0 = schedule.start_ns
    n_windows = int((schedule.end_ns - t0) // window_ns)  # whole windows only
    iv = schedule.intervals
    if n_windows <= 0 or iv.height == 0:
        return summary, None, None, None
    # only fair tasks busy (valid running or runnable) for at least one window's worth in
    # all can be CPU-bound in a window
    if tasks is None:
        from ..model.topology import from_spec

        tasks = task_table(schedule, from_spec(f"1x{max(schedule.n_cpus, 1)}x1"))
    tasks = tasks.filter((pl.col("cpu_time_ns") + pl.col("runnable_ns") >= CPU_BOUND_FRACTION * window_ns)
                         & (pl.col("sched_class") == schema.CLASS_FAIR)).sort("tid")
    if tasks.height == 0:
        return summary, None, None, None
    tids = tasks["tid"].to_numpy().astype(np.int64)
    nice = tasks["nice"].to_numpy()
    from ..model.schedule import task_index

    args = (task_index(tids, iv["tid"].to_numpy(), np.int32), iv["state"].to_numpy(), iv["valid"].to_numpy(),
            iv["start_ns"].to_numpy(), iv["end_ns"].to_numpy(), np.int64(t0), np.int64(window_ns),
            np.int64(n_windows), np.int64(len(tids)), weight_of_nice(nice).astype(np.float64),
            np.int64(schedule.n_cpus), float(CPU_BOUND_FRACTION))
    none_i, none_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    n = K.share_error_runs(*args, none_i, none_i, none_i, none_i, none_f, summary)
    if not rows or n == 0:
        return summary, None, tids, nice
    out = [np.empty(n, np.int64) for _ in range(4)] + [np.empty(n, np.float64)]
    K.share_error_runs(*args, *out, summary)
    return summary, out, tids, nice


def share_errors(schedule: Schedule, window_ns: int = DEFAULT_WINDOW_NS,
                 tasks: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per run of alike consecutive windows and CPU-bound fair task: w (its first window's
    index), windows (how many windows it stands for), tid, nice, received_ns (ns, in each
    of those windows), expected_ns (ns), error = (received - expected) / window, in CPUs.
    Windows between two that hold an interval's start or end are covered whole by the
    same intervals, so they are alike: the table grows with the schedule's intervals,
    never with its duration over the window. ``tasks``: the schedule's task_table, if
    already computed."""
    empty = pl.DataFrame(schema={"w": pl.Int64, "windows": pl.Int64, "tid": pl.Int32, "nice": pl.Int8,
                                 "received_ns": pl.Int64, "expected_ns": pl.Float64, "error": pl.Float64})
    _, out, tids, nice = _share_runs(schedule, window_ns, tasks, rows=True)
    if out is None:
        return empty
    w, mult, ti, received, expected = out
    return pl.DataFrame({"w": w, "windows": mult, "tid": tids[ti].astype(np.int32), "nice": nice[ti].astype(np.int8),
                         "received_ns": received, "expected_ns": expected,
                         "error": (received - expected) / window_ns})


def fairness(schedule: Schedule, tasks: pl.DataFrame, all_waits: pl.DataFrame,
             window_ns: int = DEFAULT_WINDOW_NS) -> dict:
    """jain, jain_by_nice {nice: J}, jain_tasks (n), share_error (CPUs), share_error_max,
    share_windows (window, task pairs), max_wait_ns."""
    comp = tasks.filter((pl.col("cpu_time_ns") > 0) & (pl.col("runnable_ns") > 0))
    rate = (comp["cpu_time_ns"] / (comp["cpu_time_ns"] + comp["runnable_ns"])).to_numpy()
    by_nice = {}
    fair = comp.with_columns(rate=pl.col("cpu_time_ns") / (pl.col("cpu_time_ns") + pl.col("runnable_ns")))
    for (cls, nice), g in fair.group_by(["sched_class", "nice"], maintain_order=True):
        key = str(nice) if cls == schema.CLASS_FAIR else schema.CLASS_NAMES.get(cls, "unknown")
        if key in by_nice:
            continue
        sel = fair.filter((pl.col("sched_class") == cls) & ((pl.col("nice") == nice) | (cls != schema.CLASS_FAIR)))
        by_nice[key] = jain(sel["rate"].to_numpy())
    se, _, _, _ = _share_runs(schedule, window_ns, tasks, rows=False)  # [sum |error| x windows, max, windows]
    return {
        "jain": jain(rate),
        "jain_tasks": int(len(rate)),
        "jain_by_nice": dict(sorted(by_nice.items(), key=lambda kv: (not kv[0].lstrip("-").isdigit(),
                                                                     int(kv[0]) if kv[0].lstrip("-").isdigit() else 0))),
        "share_error": float(se[0] / se[2]) if se[2] else None,
        "share_error_max": float(se[1]) if se[2] else None,
        "share_windows": int(se[2]),
        "window_ns": int(window_ns),
        "max_wait_ns": int(all_waits["wait_ns"].max()) if all_waits.height else 0,
    }


# -- everything ------------------------------------------------------------------------

@dataclass
class Measurement:
    """A schedule measured: ``metrics`` (the dict ``metrics --json`` prints), ``tasks``
    (task_table: one row per task) and ``waits`` (one row per wait), so that a table or a
    plot of any of them needs no second pass over the schedule."""

    metrics: dict
    tasks: pl.DataFrame
    waits: pl.DataFrame


@small_pages
def measure_all(schedule: Schedule, topo: Topology, *, window_ns: int = DEFAULT_WINDOW_NS,
                home: dict[int, int] | None = None, by: str | None = None) -> Measurement:
    """All metrics of a schedule, with the per-task table and the waits they came from.

    ``by`` adds a list per task ("tasks"), process ("processes"), CPU ("cpus") or
    class ("classes") to the metrics.
    """
    _check_topology(schedule, topo)
    w = waits(schedule)
    tasks, mig = _task_pass(schedule, topo, home, w)
    cpu_total = int(tasks["cpu_time_ns"].sum())
    dur = max(schedule.duration_ns, 1)
    wv = w["wait_ns"].to_numpy()
    cause = w["cause"].to_numpy()
    home_num = tasks.filter(pl.col("home_fraction").is_not_null())
    home_frac = (float((home_num["home_fraction"] * home_num["cpu_time_ns"]).sum() / home_num["cpu_time_ns"].sum())
                 if home_num.height and home_num["cpu_time_ns"].sum() > 0 else None)
    out = {
        "duration_ns": int(schedule.duration_ns),
        "n_cpus": int(schedule.n_cpus),
        "n_tasks": int((tasks["cpu_time_ns"] > 0).sum()),
        "wait_ns": summarize(wv),
        "wait_ns_by_cause": {name: summarize(wv[cause == code]) for name, code in CAUSES.items()},
        "cpu_time_ns": cpu_total,
        "utilization": cpu_total / (schedule.n_cpus * dur),
        "context_switches": int(tasks["switches"].sum()),
        "involuntary_switches": int(tasks["involuntary"].sum()),
        "migrations": {"total": int(mig[0]), "cross_llc": int(mig[1]), "cross_node": int(mig[2])},
        "fairness": fairness(schedule, tasks, w, window_ns),
        "numa": {"home_fraction": home_frac, "cross_node_migrations": int(mig[2]),
                 "cross_node_migrations_per_s": float(mig[2]) / (dur / 1e9)},
        "warnings": list(schedule.warnings),
    }
    if by == "task":
        cols = ["tid", "tgid", "comm", "cpu_time_ns", "waits", "wait_total_ns", "wait_ns_p50", "wait_ns_p99",
                "wait_ns_max", "runnable_ns", "switches", "involuntary", "migrations", "home_node", "home_fraction"]
        out["tasks"] = tasks.filter((pl.col("cpu_time_ns") > 0) | (pl.col("waits") > 0)).select(cols).to_dicts()
    elif by == "process":
        out["processes"] = by_process(tasks, w).to_dicts()
    elif by == "cpu":
        out["cpus"] = by_cpu(schedule, running(schedule), w).to_dicts()
    elif by == "class":
        out["classes"] = by_class(tasks, w).to_dicts()
    elif by is not None:
        raise TraceError(f"--by {by!r}: expected task, process, cpu or class")
    return Measurement(out, tasks, w)


def measure(schedule: Schedule, topo: Topology, *, window_ns: int = DEFAULT_WINDOW_NS,
            home: dict[int, int] | None = None, by: str | None = None) -> dict:
    """All metrics of a schedule as a JSON-ready dict (the keys of ``metrics --json``).

    ``by`` adds a list per task ("tasks"), process ("processes"), CPU ("cpus") or
    class ("classes").
    """
    return measure_all(schedule, topo, window_ns=window_ns, home=home, by=by).metrics


def utilization_grid(schedule: Schedule, buckets: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Busy fraction of every CPU in ``buckets`` equal time buckets over the schedule:
    (grid [n_cpus, buckets] in 0..1, bucket edges in ns from the schedule's start)."""
    n_cpus = max(int(schedule.n_cpus), 1)
    span = max(int(schedule.end_ns - schedule.start_ns), 1)
    edges = np.linspace(0.0, float(span), buckets + 1)
    grid = np.zeros((n_cpus, buckets))
    r = running(schedule)
    if r.height == 0:
        return grid, edges
    cpu = r["cpu"].to_numpy().astype(np.int64)
    s = np.clip((r["start_ns"].to_numpy() - schedule.start_ns).astype(np.float64), 0, span)
    e = np.clip((r["end_ns"].to_numpy() - schedule.start_ns).astype(np.float64), 0, span)
    for c in np.unique(cpu):
        if c < 0 or c >= n_cpus:
            continue
        sel = cpu == c
        ss, ee = np.sort(s[sel]), np.sort(e[sel])
        cs, ce = np.r_[0.0, np.cumsum(ss)], np.r_[0.0, np.cumsum(ee)]
        ks, ke = np.searchsorted(ss, edges, "right"), np.searchsorted(ee, edges, "right")
        busy = (edges * ks - cs[ks]) - (edges * ke - ce[ke])  # busy time in [0, edge)
        grid[c] = np.diff(busy) / np.diff(edges)
    return np.clip(grid, 0, 1), edges


def by_process(tasks: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Per tgid: tgid, comm (of the leader or first thread), threads, cpu_time_ns, waits and wait stats (ns)."""
    t = tasks.with_columns(tgid=pl.when(pl.col("tgid") > 0).then(pl.col("tgid")).otherwise(pl.col("tid")))
    agg = t.group_by("tgid").agg(comm=pl.col("comm").sort_by(pl.col("tid") != pl.col("tgid")).first(),
                                 threads=pl.len(), cpu_time_ns=pl.col("cpu_time_ns").sum())
    ws = w.join(t.select("tid", "tgid"), on="tid").group_by("tgid").agg(*wait_stat_exprs()) \
        .rename({"wait_ns_count": "waits"})
    return agg.join(ws, on="tgid", how="left").with_columns(pl.col("waits").fill_null(0)).sort("cpu_time_ns",
                                                                                             descending=True)


def by_cpu(schedule: Schedule, run: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Per CPU: cpu, cpu_time_ns, utilization (0..1), waits ended there and wait stats (ns)."""
    dur = max(schedule.duration_ns, 1)
    c = run.group_by("cpu").agg(cpu_time_ns=_dur().sum())
    cpus = pl.DataFrame({"cpu": np.arange(schedule.n_cpus, dtype=np.int16)})
    ws = w.group_by("cpu").agg(*wait_stat_exprs()).rename({"wait_ns_count": "waits"})
    return (cpus.join(c, on="cpu", how="left").join(ws, on="cpu", how="left")
            .with_columns(pl.col("cpu_time_ns").fill_null(0), pl.col("waits").fill_null(0))
            .with_columns(utilization=pl.col("cpu_time_ns") / dur).sort("cpu"))


def by_class(tasks: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Per scheduling class: class, tasks, cpu_time_ns, waits and wait stats (ns)."""
    names = {k: v for k, v in schema.CLASS_NAMES.items()}
    t = tasks.with_columns(cls=pl.col("sched_class").replace_strict(names, return_dtype=pl.String))
    agg = t.group_by("cls").agg(tasks=pl.len(), cpu_time_ns=pl.col("cpu_time_ns").sum())
    ws = w.join(t.select("tid", "cls"), on="tid").group_by("cls").agg(*wait_stat_exprs()) \
        .rename({"wait_ns_count": "waits"})
    return agg.join(ws, on="cls", how="left").with_columns(pl.col("waits").fill_null(0)).rename({"cls": "class"}) \
        .sort("class")
