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
* **spans** (application spans, when the schedule has them): per span name, count,
  latency mean/p50/p90/p99/max and its breakdown (:mod:`replay.metrics.spans`).
* **wakeups onto a busy CPU**: of the wakeups (runnable intervals begun by a
  wakeup), the fraction queued on a CPU that was running another task at that
  instant (the waker itself, or whatever ran there): how much a scheduler packs
  woken tasks beside others rather than spreading them to idle CPUs.
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
from .spans import span_figures, span_table

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
    """count, mean, p50, p90, p99, p999, max (nearest rank) of a 1-d array of ns (None
    for every statistic but the count when there is no value). The ranks are found by
    partial sorting (np.partition), not a full sort."""
    v = np.asarray(values, np.int64)
    n = len(v)
    if n == 0:  # no waits: no statistic (null in JSON, "—" in tables), not a wait of 0 ns
        return {k: (0 if k == "count" else None) for k in WAIT_STATS}
    ranks = {k: max(int(np.ceil(q * n)), 1) - 1 for k, q in _Q.items()}
    v = np.partition(v, sorted(set(ranks.values()) | {n - 1}))
    out = {"count": int(n), "mean": int(v.sum()) / n}
    for k, r in ranks.items():
        out[k] = int(v[r])
    out["max"] = int(v[n - 1])
    return out


#: how many of the longest waits ``wait_sites`` lists
WORST_WAITS = 5


def wait_sites(w: pl.DataFrame, comm_of: dict[int, str], start_ns: int = 0, worst: int = WORST_WAITS) -> dict | None:
    """Where the waits of ``w`` (rows of ``waits``) happened, like ``perf sched latency``'s
    "max delay at": for each statistic of :func:`summarize` (p50, p90, p99, p999, max) one
    wait of exactly that length, and the ``worst`` longest waits (longest first; ties: the
    earliest first). Each is a dict: wait_ns, tid, comm, cpu (where it ended), cause,
    start_ns (when it began, in the trace's clock), offset_ns (since the schedule's start),
    end_ns (the switch-in). None when there is no wait."""
    n = w.height
    if n == 0:
        return None
    wait = w["wait_ns"].to_numpy()
    start = w["wait_start_ns"].to_numpy()
    tid, cpu, cause = w["tid"].to_numpy(), w["cpu"].to_numpy(), w["cause"].to_numpy()
    cause_name = {v: k for k, v in CAUSES.items()}

    def site(i) -> dict:
        t = int(tid[i])
        return {"wait_ns": int(wait[i]), "tid": t, "comm": comm_of.get(t, ""), "cpu": int(cpu[i]),
                "cause": cause_name.get(int(cause[i]), "?"), "start_ns": int(start[i]),
                "offset_ns": int(start[i]) - int(start_ns), "end_ns": int(start[i] + wait[i])}

    up = np.lexsort((start, wait))            # by length, then time
    down = np.lexsort((start, -wait))[:worst]  # longest first, earliest first among equals
    out = {k: site(up[max(int(np.ceil(q * n)), 1) - 1]) for k, q in _Q.items()}
    out["max"] = site(down[0])
    out["worst"] = [site(i) for i in down]
    return out


def wait_sites_by_cause(w: pl.DataFrame, comm_of: dict[int, str], start_ns: int = 0) -> dict:
    """:func:`wait_sites` of all waits ("all") and of each cause."""
    out = {"all": wait_sites(w, comm_of, start_ns)}
    for name, code in CAUSES.items():
        out[name] = wait_sites(w.filter(pl.col("cause") == code), comm_of, start_ns)
    return out


def comm_names(tasks: pl.DataFrame) -> dict[int, str]:
    """tid -> comm of a tasks table."""
    if tasks.height == 0:
        return {}
    return dict(zip(tasks["tid"].cast(pl.Int64).to_list(), tasks["comm"].cast(pl.String).fill_null("").to_list()))


def _longest(w: pl.DataFrame, key: str) -> pl.DataFrame:
    """Per ``key`` value, where its longest wait happened: wait_max_at_ns (its start, in the
    trace's clock), wait_max_tid, wait_max_cpu (earliest among equally long waits)."""
    return (w.sort(["wait_ns", "wait_start_ns"], descending=[True, False])
            .group_by(key, maintain_order=True).first()
            .select(key, pl.col("wait_start_ns").alias("wait_max_at_ns"), pl.col("tid").alias("wait_max_tid"),
                    pl.col("cpu").cast(pl.Int32).alias("wait_max_cpu")))


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
    p999/max (ns), wait_max_at_ns (when its longest wait began, in the trace's clock) and
    wait_max_cpu (where it ended). The one place per-task CPU time and wait statistics are
    computed."""
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
    out = tasks.with_columns(**{k: (v if isinstance(v, pl.Series) else pl.Series(v)) for k, v in cols.items()})
    at = _longest(w.select("tid", "cpu", "wait_start_ns", "wait_ns"), "tid").drop("wait_max_tid")
    return out.join(at, on="tid", how="left"), totals


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
        "max_wait_ns": int(all_waits["wait_ns"].max()) if all_waits.height else None,
    }


# -- everything ------------------------------------------------------------------------

def wakeup_placement(schedule: Schedule) -> dict:
    """wakeups (runnable intervals begun by a wakeup, valid, on a known CPU), onto_busy (of
    them, those queued on a CPU running another task at that instant) and
    onto_busy_fraction (None without wakeups)."""
    iv = schedule.intervals
    woken = iv.filter((pl.col("state") == schema.RUNNABLE) & (pl.col("begin") == schema.BEGIN_WAKEUP)
                      & pl.col("valid") & (pl.col("cpu") >= 0)).select("cpu", "start_ns", "tid").sort("start_ns")
    if woken.height == 0:
        return {"wakeups": 0, "onto_busy": 0, "onto_busy_fraction": None}
    # the last run begun on the wakee's CPU by then; of runs begun at the same instant the
    # longest (a sort on both ends: the same answer every time, whatever the row order)
    runs = iv.filter((pl.col("state") == schema.RUNNING) & (pl.col("cpu") >= 0)).select(
        "cpu", "start_ns", pl.col("end_ns").alias("run_end"), pl.col("tid").alias("run_tid")).sort(["start_ns", "run_end"])
    busy = woken.join_asof(runs, on="start_ns", by="cpu", strategy="backward", check_sortedness=False).select(
        ((pl.col("run_end") > pl.col("start_ns")) & (pl.col("run_tid") != pl.col("tid"))).fill_null(False).sum()).item()
    return {"wakeups": woken.height, "onto_busy": int(busy), "onto_busy_fraction": busy / woken.height}


@dataclass
class Measurement:
    """A schedule measured: ``metrics`` (the dict ``metrics --json`` prints), ``tasks``
    (task_table: one row per task) and ``waits`` (one row per wait), so that a table or a
    plot of any of them needs no second pass over the schedule."""

    metrics: dict
    tasks: pl.DataFrame
    waits: pl.DataFrame
    #: one row per application span (spans.span_table; empty when the schedule has none)
    spans: pl.DataFrame | None = None


@small_pages
def measure_all(schedule: Schedule, topo: Topology, *, window_ns: int = DEFAULT_WINDOW_NS,
                home: dict[int, int] | None = None, by: str | None = None, focus=None,
                where: bool = True) -> Measurement:
    """All metrics of a schedule, with the per-task table and the waits they came from.

    ``by`` adds a list per task ("tasks"), process ("processes"), CPU ("cpus") or
    class ("classes") to the metrics. ``focus`` (``--focus`` selectors: strings or
    replay.model.overrides.Selector) adds "focus", the selected tasks' own figures
    (:func:`focus_figures`). ``where`` adds "wait_at": where the waits of each statistic
    happened, overall and by cause (:func:`wait_sites`; sweeps leave it out).
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
        "wakeup_placement": wakeup_placement(schedule),
        "fairness": fairness(schedule, tasks, w, window_ns),
        "numa": {"home_fraction": home_frac, "cross_node_migrations": int(mig[2]),
                 "cross_node_migrations_per_s": float(mig[2]) / (dur / 1e9)},
        "warnings": list(schedule.warnings),
    }
    spans = span_table(schedule)
    if spans.height:
        out["span"] = span_figures(spans)
    names = comm_names(schedule.tasks) if (where or focus) else {}
    if where:
        out["wait_at"] = wait_sites_by_cause(w, names, schedule.start_ns)
    if focus:
        out["focus"] = focus_figures(tasks, w, focus, names, schedule.start_ns, where=where)
    if by == "task":
        cols = ["tid", "tgid", "comm", "cpu_time_ns", "waits", "wait_total_ns", "wait_ns_p50", "wait_ns_p99",
                "wait_ns_max", "wait_max_at_ns", "wait_max_cpu", "runnable_ns", "switches", "involuntary",
                "migrations", "home_node", "home_fraction"]
        out["tasks"] = tasks.filter((pl.col("cpu_time_ns") > 0) | (pl.col("waits") > 0)).select(cols).to_dicts()
    elif by == "process":
        out["processes"] = by_process(tasks, w).to_dicts()
    elif by == "cpu":
        out["cpus"] = by_cpu(schedule, running(schedule), w).to_dicts()
    elif by == "class":
        out["classes"] = by_class(tasks, w).to_dicts()
    elif by is not None:
        raise TraceError(f"--by {by!r}: expected task, process, cpu or class")
    return Measurement(out, tasks, w, spans)


def measure(schedule: Schedule, topo: Topology, *, window_ns: int = DEFAULT_WINDOW_NS,
            home: dict[int, int] | None = None, by: str | None = None, focus=None, where: bool = True) -> dict:
    """All metrics of a schedule as a JSON-ready dict (the keys of ``metrics --json``).

    ``by``, ``focus`` and ``where`` as in :func:`measure_all`.
    """
    return measure_all(schedule, topo, window_ns=window_ns, home=home, by=by, focus=focus, where=where).metrics


def focus_figures(tasks: pl.DataFrame, w: pl.DataFrame, focus, comm_of: dict[int, str] | None = None,
                  start_ns: int = 0, where: bool = True) -> dict:
    """The figures of the tasks ``focus`` selects (``--focus``: a task any selector matches),
    from a task table and its waits: selectors (the texts given), tasks (how many the
    selectors match), tids, tgids (their processes: the tid of a task without a tgid), comms
    (distinct, sorted), cpu_time_ns, cpu_share (their CPU
    time over all tasks' CPU time, 0..1), runnable_ns, switches, involuntary, migrations,
    wait_ns and wait_ns_by_cause (their waits, as :func:`summarize`) and wait_at (where
    their waits happened, :func:`wait_sites`). A selector that matches no task is an error
    naming it."""
    from ..model.overrides import parse_focus, selected

    sels = parse_focus(focus)
    tids_all = tasks["tid"].to_numpy()
    tgids = tasks["tgid"].to_numpy()
    comms = tasks["comm"].cast(pl.String).fill_null("").to_list()
    for s in sels:
        if not s.mask(tids_all, tgids, comms).any():
            raise TraceError(f"--focus {s.text!r}: matches no task of the trace ({tasks.height} tasks; "
                             "`schedreplay metrics TRACE --by task` lists them)")
    ft = tasks.filter(pl.Series(selected(sels, tids_all, tgids, comms)))
    fw = w.filter(pl.col("tid").is_in(ft["tid"].implode()))
    wv, cause = fw["wait_ns"].to_numpy(), fw["cause"].to_numpy()
    cpu, total = int(ft["cpu_time_ns"].sum()), int(tasks["cpu_time_ns"].sum())
    tg = ft.select(pl.when(pl.col("tgid") > 0).then(pl.col("tgid")).otherwise(pl.col("tid")))[:, 0]
    out = {"selectors": [s.text for s in sels], "tasks": int(ft.height), "tids": ft["tid"].sort().to_list(),
           "tgids": tg.unique().sort().to_list(),
           "comms": sorted(set(ft["comm"].cast(pl.String).fill_null("").to_list())),
           "cpu_time_ns": cpu, "cpu_share": cpu / total if total else None,
           "runnable_ns": int(ft["runnable_ns"].sum()), "switches": int(ft["switches"].sum()),
           "involuntary": int(ft["involuntary"].sum()), "migrations": int(ft["migrations"].sum()),
           "wait_ns": summarize(wv),
           "wait_ns_by_cause": {name: summarize(wv[cause == code]) for name, code in CAUSES.items()}}
    if where:
        out["wait_at"] = {"all": wait_sites(fw, comm_of if comm_of is not None else comm_names(tasks), start_ns)}
    return out


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
    """Per tgid: tgid, comm (of the leader or first thread), threads, cpu_time_ns, waits and
    wait stats (ns), and where the longest wait happened (wait_max_at_ns, wait_max_tid,
    wait_max_cpu)."""
    t = tasks.with_columns(tgid=pl.when(pl.col("tgid") > 0).then(pl.col("tgid")).otherwise(pl.col("tid")))
    agg = t.group_by("tgid").agg(comm=pl.col("comm").sort_by(pl.col("tid") != pl.col("tgid")).first(),
                                 threads=pl.len(), cpu_time_ns=pl.col("cpu_time_ns").sum())
    wj = w.join(t.select("tid", "tgid"), on="tid")
    ws = wj.group_by("tgid").agg(*wait_stat_exprs()).rename({"wait_ns_count": "waits"})
    return (agg.join(ws, on="tgid", how="left").join(_longest(wj, "tgid"), on="tgid", how="left")
            .with_columns(pl.col("waits").fill_null(0)).sort(["cpu_time_ns", "tgid"], descending=[True, False]))


def by_cpu(schedule: Schedule, run: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Per CPU: cpu, cpu_time_ns, utilization (0..1), waits ended there and wait stats (ns),
    and where the longest of them happened (wait_max_at_ns, wait_max_tid, wait_max_cpu)."""
    dur = max(schedule.duration_ns, 1)
    c = run.group_by("cpu").agg(cpu_time_ns=_dur().sum())
    cpus = pl.DataFrame({"cpu": np.arange(schedule.n_cpus, dtype=np.int16)})
    ws = w.group_by("cpu").agg(*wait_stat_exprs()).rename({"wait_ns_count": "waits"})
    at = _longest(w.with_columns(_cpu=pl.col("cpu")), "_cpu").rename({"_cpu": "cpu"})
    return (cpus.join(c, on="cpu", how="left").join(ws, on="cpu", how="left").join(at, on="cpu", how="left")
            .with_columns(pl.col("cpu_time_ns").fill_null(0), pl.col("waits").fill_null(0))
            .with_columns(utilization=pl.col("cpu_time_ns") / dur).sort("cpu"))


def by_class(tasks: pl.DataFrame, w: pl.DataFrame) -> pl.DataFrame:
    """Per scheduling class: class, tasks, cpu_time_ns, waits and wait stats (ns), and where
    the longest wait happened (wait_max_at_ns, wait_max_tid, wait_max_cpu)."""
    names = {k: v for k, v in schema.CLASS_NAMES.items()}
    t = tasks.with_columns(cls=pl.col("sched_class").replace_strict(names, return_dtype=pl.String))
    agg = t.group_by("cls").agg(tasks=pl.len(), cpu_time_ns=pl.col("cpu_time_ns").sum())
    wj = w.join(t.select("tid", "cls"), on="tid")
    ws = wj.group_by("cls").agg(*wait_stat_exprs()).rename({"wait_ns_count": "waits"})
    return (agg.join(ws, on="cls", how="left").join(_longest(wj, "cls"), on="cls", how="left")
            .with_columns(pl.col("waits").fill_null(0)).rename({"cls": "class"}).sort("class"))
