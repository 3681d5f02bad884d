"""Application spans in the model: checked against the trace, mapped to points of their
threads' CPU progress, and rebuilt from a replay (README "Application spans").

A span's start and end are instants of its thread's life. An application writes a
timestamp (or a marker) while it runs, so almost every end point falls inside one of its
thread's running intervals: there it is the thread's **CPU progress** at that instant,
the cumulative CPU time the thread had used. The replay runs the same CPU bursts, so the
replayed instant is when the thread reaches the same progress — after whatever its own
waits, and the delays of the threads that wake it, cost it in the replay. That is the
mechanism that places wakeups (workload.py), applied to the span's ends.

A point that falls while the thread waited or slept (a log whose clock is coarser than
the schedule, a span begun by another thread's marker) keeps how long after the thread
reached that progress it came (``*_after_ns``), but never later than the moment the
thread runs again in the replay, or exits when it never runs again. A point after its
thread exited keeps how long after the exit it came (``*_past_exit_ns``), added to the
replayed exit.

What the mapping cannot see: work a span waits for in other threads (an OpenMP pool
finishing a token) is carried by the dependency model — the thread blocks and is woken
when the pool's threads reach their waking progress — only as far as those wakeups were
traced; work done for the span on behalf of other processes without a wakeup chain back
to its thread (a GPU, a network reply) keeps its recorded sleep length.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from traces import schema
from traces.errors import Warnings
from traces.spans import as_frame

from .schedule import Schedule

_SPAN_COLS = schema.SPANS.names


def checked(spans: pl.DataFrame, schedule: Schedule, warnings: Warnings, source: str = "") -> pl.DataFrame:
    """Spans of a log (``traces.spans.read_log``: with a ``row`` column) that can be used
    with this trace: a thread the trace does not know, or a span reaching outside the
    trace's time span, is a counted warning naming the first row; those spans are left
    out. Returns the schema.SPANS columns."""
    if spans.height == 0:
        return spans.select(_SPAN_COLS)
    tids = schedule.tasks["tid"].cast(pl.Int32).implode()
    unknown = ~pl.col("tid").is_in(tids) | ~pl.col("end_tid").is_in(tids)
    outside = (pl.col("start_ns") < schedule.start_ns) | (pl.col("end_ns") > schedule.end_ns)
    pre = f"{source}: " if source else ""
    bad = spans.filter(unknown)
    if bad.height:
        r = bad.row(0, named=True)
        warnings.add(f"span-unknown-tid:{source}", f"{pre}{r['row']}: thread {r['tid']} of the span is not in the "
                     "trace (another clock or another run?); left out", bad.height)
    far = spans.filter(~unknown & outside)
    if far.height:
        r = far.row(0, named=True)
        warnings.add(f"span-outside:{source}", f"{pre}{r['row']}: span {r['start_ns']}..{r['end_ns']} ns reaches "
                     f"outside the trace ({schedule.start_ns}..{schedule.end_ns} ns; is the log in the trace's "
                     "clock?); left out", far.height)
    return spans.filter(~unknown & ~outside).select(_SPAN_COLS)


def combine(*frames: pl.DataFrame) -> pl.DataFrame:
    """Several span tables as one (schema.SPANS columns, String names), by start time."""
    parts = [as_frame(f).select(_SPAN_COLS) for f in frames if f is not None and f.height]
    if not parts:
        return as_frame(None)
    return pl.concat(parts).sort(["start_ns", "tid", "depth"], maintain_order=True)


def _progress_at(schedule: Schedule, tid: np.ndarray, t: np.ndarray,
                 capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(progress, after): each thread's cumulative work at instant t (all its running
    intervals at their CPUs' capacities, as the workload counts progress: work_of), and
    how long before t it reached that progress (0 inside a running interval)."""
    from .workload import work_of

    iv = schedule.intervals
    # a run of no length (preempted the instant it began) reaches no progress: the time
    # after is measured from where the progress was reached, as the replay measures it
    run = (iv.filter((pl.col("state") == schema.RUNNING) & (pl.col("end_ns") > pl.col("start_ns")))
           .select(pl.col("tid").cast(pl.Int32), "start_ns", "end_ns",
                   cap=pl.lit(pl.Series(np.asarray(capacity, np.int64))).gather(pl.col("cpu").cast(pl.Int64)))
           .sort("tid", "start_ns", "end_ns"))
    work = work_of(pl.col("end_ns") - pl.col("start_ns"), pl.col("cap"))
    run = run.with_columns(cum=work.cum_sum().over("tid") - work)
    # the last running interval begun strictly before t: at the very start of a run the
    # thread is still at the progress it reached when its previous run ended
    q = pl.DataFrame({"i": np.arange(len(t)), "tid": tid.astype(np.int32), "t": t.astype(np.int64) - 1})
    j = (q.sort("t").join_asof(run.sort("start_ns"), left_on="t", right_on="start_ns", by="tid",
                               strategy="backward", check_sortedness=False).sort("i"))
    hit = j["start_ns"].is_not_null().to_numpy()
    start = j["start_ns"].fill_null(0).to_numpy()
    end = j["end_ns"].fill_null(0).to_numpy()
    cum = j["cum"].fill_null(0).to_numpy()
    cap = j["cap"].fill_null(1024).to_numpy()
    progress = np.where(hit, cum + work_of(np.minimum(t - start, end - start), cap), 0)
    after = np.where(progress > 0, np.maximum(t - end, 0), t - schedule.start_ns)
    return progress.astype(np.int64), np.maximum(after, 0).astype(np.int64)


def points(spans: pl.DataFrame, schedule: Schedule, task_tids: np.ndarray, capacity=None) -> pl.DataFrame:
    """The spans in workload form (schema.WL_SPANS): each end as its thread's progress
    and the time after reaching it, from the observed ``schedule``; ``task_tids`` the
    workload's tids (row order); ``capacity`` per recorded CPU (default 1024 each)."""
    if capacity is None:
        capacity = np.full(max(schedule.n_cpus, 1), 1024, np.int64)
    spans = as_frame(spans)
    if spans.height == 0:
        return pl.DataFrame(schema={**dict(spans.schema), "start_task": pl.Int64, "start_progress_ns": pl.Int64,
                                    "start_after_ns": pl.Int64, "start_past_exit_ns": pl.Int64,
                                    "end_task": pl.Int64, "end_progress_ns": pl.Int64,
                                    "end_after_ns": pl.Int64, "end_past_exit_ns": pl.Int64})
    order = np.argsort(task_tids, kind="stable")
    sorted_tids = np.r_[task_tids[order], -1]  # a sentinel: searchsorted never runs off the end

    def row_of(tid: np.ndarray) -> np.ndarray:
        pos = np.minimum(np.searchsorted(sorted_tids[:-1], tid), len(sorted_tids) - 1)
        return np.where(sorted_tids[pos] == tid, np.r_[order, -1][pos], -1)

    tid, end_tid = spans["tid"].to_numpy(), spans["end_tid"].to_numpy()
    t_s, t_e = spans["start_ns"].to_numpy(), spans["end_ns"].to_numpy()
    ps, a_s = _progress_at(schedule, tid, t_s, capacity)
    pe, a_e = _progress_at(schedule, end_tid, t_e, capacity)
    # the part of the time after that came after the thread exited
    exits = _exits(schedule.intervals)
    x_s, x_e = (np.maximum(t - _exit_at(exits, who, t), 0) for who, t in ((tid, t_s), (end_tid, t_e)))
    return spans.with_columns(start_task=pl.Series(row_of(tid), dtype=pl.Int64), start_progress_ns=ps,
                              start_after_ns=a_s - x_s, start_past_exit_ns=x_s,
                              end_task=pl.Series(row_of(end_tid), dtype=pl.Int64),
                              end_progress_ns=pe, end_after_ns=a_e - x_e, end_past_exit_ns=x_e)


def marks(wl_spans: pl.DataFrame | None, n_tasks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The progress points the engine records times of: (MT, MK, start_mark, end_mark).
    MT[task] = (next mark, one past its last mark): each task's marks are a run of MK rows
    in progress order; MK[m] = (progress, time reached: -1 until the replay sets it).
    start_mark / end_mark: each span's mark row, -1 for a point the engine need not
    record (progress 0 is reached when the replay starts; a thread outside the workload
    never is)."""
    S = wl_spans.height if wl_spans is not None else 0
    task = np.r_[wl_spans["start_task"].to_numpy(), wl_spans["end_task"].to_numpy()] if S else np.zeros(0, np.int64)
    prog = (np.r_[wl_spans["start_progress_ns"].to_numpy(), wl_spans["end_progress_ns"].to_numpy()] if S
            else np.zeros(0, np.int64))
    need = (task >= 0) & (prog > 0)
    idx = np.flatnonzero(need)
    order = idx[np.lexsort((prog[idx], task[idx]))]
    # one mark per distinct (task, progress)
    keys_t, keys_p = task[order], prog[order]
    first = np.r_[True, (keys_t[1:] != keys_t[:-1]) | (keys_p[1:] != keys_p[:-1])] if len(order) else np.zeros(0, bool)
    mark_of_sorted = np.cumsum(first) - 1
    mark = np.full(2 * S, -1, np.int64)
    mark[order] = mark_of_sorted
    ut, up = keys_t[first], keys_p[first]
    MK = np.zeros((max(len(ut), 1), 2), np.int64)
    MK[:len(ut), 0] = up
    MK[:, 1] = -1
    MT = np.zeros((max(n_tasks, 1), 2), np.int64)
    if len(ut):
        counts = np.bincount(ut, minlength=n_tasks)
        ends = np.cumsum(counts)
        MT[:n_tasks, 0] = ends - counts
        MT[:n_tasks, 1] = ends
    return MT, MK, mark[:S], mark[S:]


def replayed(wl_spans: pl.DataFrame, MK: np.ndarray, start_mark: np.ndarray, end_mark: np.ndarray,
             intervals: pl.DataFrame, task_tids: np.ndarray, start_ns: int, end_ns: int,
             warnings: list[str]) -> pl.DataFrame:
    """The spans as the replay ran them: each end at the time its thread reached the end's
    progress (MK, recorded by the engine), plus the time after it, capped at the moment
    the thread ran again (or exited, when it never ran again), plus the time past its exit
    for a point after the thread exited. A span whose thread never reached the progress of
    an end before the replay's end is **unfinished**: that end is the replay's end (a lower
    bound on its length). Columns: schema.SPANS and ``unfinished``."""
    S = wl_spans.height
    if S == 0:
        return with_unfinished(wl_spans.select(_SPAN_COLS))

    exits = _exits(intervals)

    def when(side, mark, tid):
        task, prog = wl_spans[f"{side}_task"].to_numpy(), wl_spans[f"{side}_progress_ns"].to_numpy()
        reach = np.where(prog == 0, start_ns, np.where(mark >= 0, MK[np.maximum(mark, 0), 1], -1))
        reach = np.where(task < 0, -1, reach)
        done = reach >= 0
        at = np.where(done, reach, 0)
        # a thread that never runs again waits for nothing past its exit
        leave = _next_run(intervals, tid, at, np.maximum(_exit_at(exits, tid, np.full(len(at), end_ns)), at))
        t = (np.minimum(reach + wl_spans[f"{side}_after_ns"].to_numpy(), leave)
             + wl_spans[f"{side}_past_exit_ns"].to_numpy())
        return np.minimum(np.where(done, t, end_ns), end_ns), ~done

    s, s_open = when("start", start_mark, wl_spans["tid"].to_numpy())
    e, e_open = when("end", end_mark, wl_spans["end_tid"].to_numpy())
    back = e < s
    if back.any():  # only across threads (async spans): the ending thread got there first
        warnings.append(f"{int(back.sum())} async spans ended, in the replay, before they began (their ending "
                        "thread reached its point first): taken as ending when they began")
        e = np.maximum(e, s)
    unfinished = s_open | e_open
    if unfinished.any():
        warnings.append(f"{int(unfinished.sum())} spans did not finish before the replay ended (their thread never "
                        "reached the span's end): counted with the replay's end as their end, a lower bound")
    return wl_spans.select(_SPAN_COLS).with_columns(start_ns=pl.Series(s, dtype=pl.Int64),
                                                    end_ns=pl.Series(e, dtype=pl.Int64),
                                                    unfinished=pl.Series(unfinished))


def with_unfinished(spans: pl.DataFrame) -> pl.DataFrame:
    """Recorded spans with the ``unfinished`` column replayed ones have (all False)."""
    return spans.with_columns(unfinished=pl.lit(False)) if "unfinished" not in spans.columns else spans


def _next_run(intervals: pl.DataFrame, tid: np.ndarray, t: np.ndarray, never: np.ndarray) -> np.ndarray:
    """For each (tid, t): the first instant at or after t at which tid runs (t itself while
    it runs), ``never`` (per query) when it never runs again."""
    run = (intervals.filter((pl.col("state") == schema.RUNNING) & (pl.col("end_ns") > pl.col("start_ns")))
           .select(pl.col("tid").cast(pl.Int32), "start_ns", "end_ns").sort("tid", "end_ns"))
    q = pl.DataFrame({"i": np.arange(len(t)), "tid": tid.astype(np.int32), "t": t.astype(np.int64) + 1})
    # the first running interval ending after t (forward as-of on end_ns > t, i.e. >= t + 1)
    j = (q.sort("t").join_asof(run, left_on="t", right_on="end_ns", by="tid", strategy="forward",
                               check_sortedness=False).sort("i"))
    hit = j["end_ns"].is_not_null().to_numpy()
    st = j["start_ns"].fill_null(0).to_numpy()
    return np.where(hit, np.maximum(st, t), never).astype(np.int64)


def _exits(intervals: pl.DataFrame) -> pl.DataFrame:
    """Each thread that exited and when (tid, end_ns: the end of its interval that ended by
    exit), read once per schedule for _exit_at."""
    return (intervals.filter(pl.col("end") == schema.END_EXITED)
            .group_by(pl.col("tid").cast(pl.Int32)).agg(pl.col("end_ns").max()))


def _exit_at(exited: pl.DataFrame, tid: np.ndarray, default: np.ndarray) -> np.ndarray:
    """For each tid: the instant it exited (``exited``: _exits of the schedule), ``default``
    (per tid) for a thread that did not exit."""
    q = pl.DataFrame({"tid": np.asarray(tid).astype(np.int32)})
    x = q.join(exited, on="tid", how="left", maintain_order="left")["end_ns"]
    return np.where(x.is_null().to_numpy(), default, x.fill_null(0).to_numpy()).astype(np.int64)
