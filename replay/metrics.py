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

import numpy as np
import polars as pl

from policies.weights import weight_of_nice
from traces import schema
from traces.errors import TraceError

from .schedule import Schedule
from .topology import Topology

DEFAULT_WINDOW_NS = 100_000_000
CPU_BOUND_FRACTION = 0.98
WAIT_STATS = ("count", "mean", "p50", "p90", "p99", "p999", "max")
_Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
CAUSES = {"wakeup": schema.BEGIN_WAKEUP, "preempt": schema.BEGIN_PREEMPT, "new": schema.BEGIN_NEW}


# -- waits ----------------------------------------------------------------------

def waits(schedule: Schedule) -> pl.DataFrame:
    """One row per wait: tid, cpu (where it ended), cause (schema.BEGIN_* code),
    cause_name, wait_start_ns (ns), switch_in_ns (ns), wait_ns (ns)."""
    iv = schedule.intervals
    w = iv.filter((pl.col("state") == schema.RUNNABLE) & (pl.col("end") == schema.END_SWITCHED_IN)
                  & pl.col("valid") & (pl.col("wait_start_ns") >= 0)
                  & pl.col("cause").is_in(list(CAUSES.values())))
    names = {v: k for k, v in CAUSES.items()}
    return w.select(
        "tid", "cpu", "cause",
        pl.col("cause").replace_strict(names, return_dtype=pl.String).alias("cause_name"),
        "wait_start_ns", pl.col("end_ns").alias("switch_in_ns"),
        (pl.col("end_ns") - pl.col("wait_start_ns")).alias("wait_ns"))


def _pct(col: str, q: float) -> pl.Expr:
    return pl.col(col).sort().gather((pl.len() * q).ceil().cast(pl.Int64).clip(1) - 1).first()


def wait_stat_exprs(col: str = "wait_ns", prefix: str = "wait_ns_") -> list[pl.Expr]:
    """Aggregations giving count, mean, p50, p90, p99, p999, max of ``col`` (ns)."""
    return [pl.len().alias(prefix + "count"), pl.col(col).mean().alias(prefix + "mean"),
            *[_pct(col, q).alias(prefix + k) for k, q in _Q.items()], pl.col(col).max().alias(prefix + "max")]


def summarize(values: np.ndarray) -> dict:
    """count, mean, p50, p90, p99, p999, max (nearest rank) of a 1-d array of ns."""
    v = np.sort(np.asarray(values, np.int64))
    n = len(v)
    if n == 0:
        return {k: 0 for k in WAIT_STATS}
    out = {"count": int(n), "mean": float(v.mean())}
    for k, q in _Q.items():
        out[k] = int(v[max(int(np.ceil(q * n)), 1) - 1])
    out["max"] = int(v[-1])
    return out


# -- per-task aggregates ------------------------------------------------------------

def _dur() -> pl.Expr:
    return pl.col("end_ns") - pl.col("start_ns")


def running(schedule: Schedule) -> pl.DataFrame:
    """Valid running intervals: tid, cpu, start_ns, end_ns (ns)."""
    iv = schedule.intervals
    return iv.filter((pl.col("state") == schema.RUNNING) & pl.col("valid")).select("tid", "cpu", "start_ns",
                                                                                    "end_ns", "end")


def _check_topology(schedule: Schedule, topo: Topology) -> None:
    iv = schedule.intervals
    if iv.height:
        top = int(iv["cpu"].max())
        if top >= topo.n_cpus:
            raise TraceError(f"the topology ({topo.describe()}) has fewer CPUs than the schedule uses "
                             f"(CPU {top}); give one with at least {top + 1} CPUs")


def migration_table(schedule: Schedule, topo: Topology) -> pl.DataFrame:
    """One row per migration: tid, at_ns (ns, when it ran on the new CPU), from_cpu, to_cpu,
    cross_llc (bool), cross_node (bool)."""
    r = running(schedule).sort("tid", "start_ns")
    prev = pl.col("cpu").shift(1).over("tid")
    m = r.with_columns(from_cpu=prev).filter(pl.col("from_cpu").is_not_null() & (pl.col("from_cpu") != pl.col("cpu")))
    f, t = m["from_cpu"].to_numpy().astype(np.int64), m["cpu"].to_numpy().astype(np.int64)
    return pl.DataFrame({
        "tid": m["tid"], "at_ns": m["start_ns"], "from_cpu": m["from_cpu"], "to_cpu": m["cpu"],
        "cross_llc": topo.llc[f] != topo.llc[t] if len(f) else np.zeros(0, bool),
        "cross_node": topo.node[f] != topo.node[t] if len(f) else np.zeros(0, bool),
    })


def task_table(schedule: Schedule, topo: Topology, home: dict[int, int] | None = None) -> pl.DataFrame:
    """Per task: tid, tgid, comm, sched_class, nice, cpu_time_ns, runnable_ns (valid waiting
    time), switches, involuntary, migrations, cross_node_migrations, home_node,
    home_fraction (0..1), waits, wait_ns_mean/p50/p90/p99/p999/max (ns)."""
    iv = schedule.intervals
    run = running(schedule)
    cpu = run.group_by("tid").agg(
        cpu_time_ns=_dur().sum(),
        switches=pl.col("end").is_in([schema.END_PREEMPTED, schema.END_BLOCKED, schema.END_EXITED]).sum(),
        involuntary=(pl.col("end") == schema.END_PREEMPTED).sum())
    wait_time = iv.filter((pl.col("state") == schema.RUNNABLE) & pl.col("valid")).group_by("tid").agg(
        runnable_ns=_dur().sum())
    w = waits(schedule).group_by("tid").agg(*wait_stat_exprs()).rename({"wait_ns_count": "waits"})
    mig = migration_table(schedule, topo).group_by("tid").agg(
        migrations=pl.len(), cross_node_migrations=pl.col("cross_node").sum())
    # home node: node of the first CPU it ran on, unless given
    first = run.sort("start_ns").group_by("tid").agg(first_cpu=pl.col("cpu").first())
    nodes = topo.node
    first = first.with_columns(home_node=pl.col("first_cpu").map_elements(lambda c: int(nodes[c]),
                                                                         return_dtype=pl.Int32))
    if home:
        given = pl.DataFrame({"tid": list(home), "given": list(home.values())},
                             schema={"tid": pl.Int32, "given": pl.Int32})
        first = first.join(given, on="tid", how="left").with_columns(
            home_node=pl.coalesce("given", "home_node")).drop("given")
    node_of_cpu = pl.DataFrame({"cpu": np.arange(topo.n_cpus, dtype=np.int16), "node": nodes.astype(np.int32)})
    on_home = (run.join(node_of_cpu, on="cpu").join(first.select("tid", "home_node"), on="tid")
               .group_by("tid").agg(home_ns=_dur().filter(pl.col("node") == pl.col("home_node")).sum()))
    tasks = schedule.tasks.select("tid", "tgid", pl.col("comm").cast(pl.String), "sched_class", "nice")
    t = (tasks.join(cpu, on="tid", how="left").join(wait_time, on="tid", how="left")
         .join(w, on="tid", how="left").join(mig, on="tid", how="left")
         .join(first.select("tid", "home_node"), on="tid", how="left").join(on_home, on="tid", how="left"))
    zero = ["cpu_time_ns", "runnable_ns", "switches", "involuntary", "waits", "migrations",
            "cross_node_migrations", "home_ns"]
    t = t.with_columns([pl.col(c).fill_null(0) for c in zero])
    t = t.with_columns(home_fraction=pl.when(pl.col("cpu_time_ns") > 0)
                       .then(pl.col("home_ns") / pl.col("cpu_time_ns")).otherwise(None)).drop("home_ns")
    return t.sort("tid")


# -- fairness -------------------------------------------------------------------------

def jain(x: np.ndarray) -> float | None:
    """Jain's fairness index (sum x)^2 / (n sum x^2); None for no values."""
    x = np.asarray(x, float)
    if len(x) == 0 or not np.any(x):
        return None
    return float(x.sum() ** 2 / (len(x) * (x * x).sum()))


def _window_pieces(iv: pl.DataFrame, t0: int, window: int, n_windows: int) -> pl.DataFrame:
    """Split intervals at window boundaries: tid, state, w (window index), ns (time in it)."""
    s = iv["start_ns"].to_numpy() - t0
    e = iv["end_ns"].to_numpy() - t0
    a = np.clip(s // window, 0, n_windows - 1)
    b = np.clip(np.maximum(e - 1, s) // window, 0, n_windows - 1)
    reps = (b - a + 1).astype(np.int64)
    idx = np.repeat(np.arange(len(s)), reps)
    offs = np.arange(len(idx)) - np.repeat(np.cumsum(reps) - reps, reps)
    w = a[idx] + offs
    lo = np.maximum(s[idx], w * window)
    hi = np.minimum(e[idx], (w + 1) * window)
    return pl.DataFrame({"tid": iv["tid"].to_numpy()[idx], "state": iv["state"].to_numpy()[idx],
                         "w": w, "ns": np.maximum(hi - lo, 0)})


def _water_fill(weights: np.ndarray, capacity: float, cap_each: float) -> np.ndarray:
    """Weight-proportional split of ``capacity`` with nobody above ``cap_each``."""
    out = np.zeros(len(weights))
    free = np.ones(len(weights), bool)
    left = capacity
    while free.any() and left > 1e-9:
        share = left * weights[free] / weights[free].sum()
        over = share > cap_each - out[free]
        if not over.any():
            out[free] += share
            break
        idx = np.flatnonzero(free)[over]
        left -= (cap_each - out[idx]).sum()
        out[idx] = cap_each
        free[idx] = False
    return out


def share_errors(schedule: Schedule, window_ns: int = DEFAULT_WINDOW_NS) -> pl.DataFrame:
    """Per (window, CPU-bound fair task): w (window index), tid, nice, received_ns, expected_ns,
    error (received - expected) / window, in CPUs."""
    if window_ns <= 0:
        raise TraceError(f"fairness window must be > 0 ns (got {window_ns})")
    t0, t1 = schedule.start_ns, schedule.end_ns
    n_windows = int((t1 - t0) // window_ns)  # whole windows only
    empty = pl.DataFrame(schema={"w": pl.Int64, "tid": pl.Int32, "nice": pl.Int8, "received_ns": pl.Int64,
                                 "expected_ns": pl.Float64, "error": pl.Float64})
    if n_windows <= 0:
        return empty
    iv = schedule.intervals.filter(pl.col("valid") & pl.col("state").is_in([schema.RUNNING, schema.RUNNABLE])
                                   & (pl.col("start_ns") < t0 + n_windows * window_ns))
    if iv.height == 0:
        return empty
    pieces = _window_pieces(iv, t0, window_ns, n_windows)
    per = pieces.group_by("w", "tid").agg(
        running_ns=pl.col("ns").filter(pl.col("state") == schema.RUNNING).sum(),
        busy_ns=pl.col("ns").sum())
    fair = schedule.tasks.filter(pl.col("sched_class") == schema.CLASS_FAIR).select("tid", "nice")
    per = per.join(fair, on="tid", how="left")
    bound = per.filter(pl.col("nice").is_not_null() & (pl.col("busy_ns") >= CPU_BOUND_FRACTION * window_ns))
    if bound.height == 0:
        return empty
    others = per.join(bound.select("w", "tid", pl.lit(True).alias("b")), on=["w", "tid"], how="left") \
        .filter(pl.col("b").is_null()).group_by("w").agg(others_ns=pl.col("running_ns").sum())
    bound = bound.join(others, on="w", how="left").with_columns(pl.col("others_ns").fill_null(0)).sort("w", "tid")
    out_w, out_e = [], []
    total = schedule.n_cpus * window_ns
    for (w,), g in bound.group_by(["w"], maintain_order=True):
        weights = weight_of_nice(g["nice"].to_numpy()).astype(float)
        cap = max(total - int(g["others_ns"][0]), 0)
        exp = _water_fill(weights, float(cap), float(window_ns))
        out_e.append(exp)
    expected = np.concatenate(out_e) if out_e else np.zeros(0)
    del out_w
    return bound.select(
        "w", "tid", "nice", pl.col("running_ns").alias("received_ns"),
        pl.Series("expected_ns", expected),
        ((pl.col("running_ns") - pl.Series(expected)) / window_ns).alias("error"))


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
    se = share_errors(schedule, window_ns)
    err = se["error"].abs()
    return {
        "jain": jain(rate),
        "jain_tasks": int(len(rate)),
        "jain_by_nice": dict(sorted(by_nice.items(), key=lambda kv: (not kv[0].lstrip("-").isdigit(),
                                                                     int(kv[0]) if kv[0].lstrip("-").isdigit() else 0))),
        "share_error": float(err.mean()) if se.height else None,
        "share_error_max": float(err.max()) if se.height else None,
        "share_windows": int(se.height),
        "window_ns": int(window_ns),
        "max_wait_ns": int(all_waits["wait_ns"].max()) if all_waits.height else 0,
    }


# -- everything ------------------------------------------------------------------------

def measure(schedule: Schedule, topo: Topology, *, window_ns: int = DEFAULT_WINDOW_NS,
            home: dict[int, int] | None = None, by: str | None = None) -> dict:
    """All metrics of a schedule as a JSON-ready dict (the keys of ``metrics --json``).

    ``by`` adds a list per task ("tasks"), process ("processes"), CPU ("cpus") or
    class ("classes").
    """
    _check_topology(schedule, topo)
    w = waits(schedule)
    tasks = task_table(schedule, topo, home)
    mig = migration_table(schedule, topo)
    run = running(schedule)
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
        "migrations": {"total": int(mig.height), "cross_llc": int(mig["cross_llc"].sum()),
                       "cross_node": int(mig["cross_node"].sum())},
        "fairness": fairness(schedule, tasks, w, window_ns),
        "numa": {"home_fraction": home_frac, "cross_node_migrations": int(mig["cross_node"].sum()),
                 "cross_node_migrations_per_s": float(mig["cross_node"].sum()) / (dur / 1e9)},
        "warnings": list(schedule.warnings),
    }
    if by == "task":
        cols = ["tid", "tgid", "comm", "cpu_time_ns", "waits", "wait_ns_p50", "wait_ns_p99", "wait_ns_max",
                "runnable_ns", "switches", "involuntary", "migrations", "home_node", "home_fraction"]
        out["tasks"] = tasks.filter((pl.col("cpu_time_ns") > 0) | (pl.col("waits") > 0)).select(cols).to_dicts()
    elif by == "process":
        out["processes"] = by_process(tasks, w).to_dicts()
    elif by == "cpu":
        out["cpus"] = by_cpu(schedule, run, w).to_dicts()
    elif by == "class":
        out["classes"] = by_class(tasks, w).to_dicts()
    elif by is not None:
        raise TraceError(f"--by {by!r}: expected task, process, cpu or class")
    return out


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
