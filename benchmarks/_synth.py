"""Synthetic large traces for benchmarks, made by repeating a real capture.

Each repetition shifts every timestamp past the end of the previous one and
every tid > 0 by a multiple of 100 000, so the result is a valid, larger trace
with the statistics of the real one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from traces import schema

CACHE = Path(os.environ.get("SCHEDREPLAY_BENCH_CACHE", "/tmp/schedreplay-bench"))


def workload_key() -> str:
    """A short hash of the code that builds workloads from traces (replay/model), for the
    names of cached workload folders: a workload cached by an older model is not reused."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted((Path(__file__).resolve().parents[1] / "replay" / "model").glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:10]
TID_COLS = ("cur_tid", "tid", "next_tid", "parent_tid", "old_tid")


def repeat_events(events: pl.DataFrame, n_events: int) -> pl.DataFrame:
    """``events`` repeated until there are at least ``n_events`` rows."""
    reps = -(-n_events // events.height)
    span = int(events["ts_ns"].max() - events["ts_ns"].min()) + 1_000_000
    parts = []
    for k in range(reps):
        parts.append(events.with_columns(
            (pl.col("ts_ns") + k * span).alias("ts_ns"),
            *[pl.when(pl.col(c) > 0).then(pl.col(c) + k * 100_000).otherwise(pl.col(c)).alias(c)
              for c in TID_COLS]))
    return pl.concat(parts)


def _letters(state: pl.Expr) -> pl.Expr:
    base = state.and_(0xFF)
    letter = (pl.when(base == 0).then(pl.lit("R"))
              .when(base == 1).then(pl.lit("S")).when(base == 2).then(pl.lit("D"))
              .when(base == 4).then(pl.lit("T")).when(base == 8).then(pl.lit("t"))
              .when(base == 16).then(pl.lit("X")).when(base == 32).then(pl.lit("Z"))
              .when(base == 64).then(pl.lit("P")).when(base == 128).then(pl.lit("I"))
              .otherwise(pl.lit("S|D")))
    return pl.concat_str([letter, pl.when(state.and_(0x100) > 0).then(pl.lit("+")).otherwise(pl.lit(""))])


def ftrace_lines(events: pl.DataFrame) -> pl.Series:
    """Render events as tracefs text lines (with a flags column)."""
    ev = events.with_columns(pl.col(c).cast(pl.String) for c in ("comm", "next_comm", "parent_comm", "filename"))
    s = pl.col
    secs = (s("ts_ns") // 1_000_000_000).cast(pl.String)
    usec = ((s("ts_ns") // 1000) % 1_000_000).cast(pl.String).str.pad_start(6, "0")
    prefix = pl.concat_str([
        pl.lit("           <...>-"), s("cur_tid").cast(pl.String).str.pad_end(7), pl.lit(" ["),
        s("cpu").cast(pl.String).str.pad_start(3, "0"), pl.lit("] d..2. "), secs, pl.lit("."), usec, pl.lit(": ")])
    k = s("kind")
    body = (
        pl.when(k == schema.SWITCH).then(pl.concat_str([
            pl.lit("sched_switch: prev_comm="), s("comm"), pl.lit(" prev_pid="), s("tid").cast(pl.String),
            pl.lit(" prev_prio="), s("prio").cast(pl.String), pl.lit(" prev_state="), _letters(s("prev_state")),
            pl.lit(" ==> next_comm="), s("next_comm"), pl.lit(" next_pid="), s("next_tid").cast(pl.String),
            pl.lit(" next_prio="), s("next_prio").cast(pl.String)]))
        .when(k.is_in([schema.WAKING, schema.WAKEUP, schema.WAKEUP_NEW])).then(pl.concat_str([
            pl.when(k == schema.WAKING).then(pl.lit("sched_waking"))
              .when(k == schema.WAKEUP).then(pl.lit("sched_wakeup")).otherwise(pl.lit("sched_wakeup_new")),
            pl.lit(": comm="), s("comm"), pl.lit(" pid="), s("tid").cast(pl.String), pl.lit(" prio="),
            s("prio").cast(pl.String), pl.lit(" target_cpu="), s("target_cpu").cast(pl.String).str.pad_start(3, "0")]))
        .when(k == schema.MIGRATE).then(pl.concat_str([
            pl.lit("sched_migrate_task: comm="), s("comm"), pl.lit(" pid="), s("tid").cast(pl.String),
            pl.lit(" prio="), s("prio").cast(pl.String), pl.lit(" orig_cpu="), s("orig_cpu").cast(pl.String),
            pl.lit(" dest_cpu="), s("target_cpu").cast(pl.String)]))
        .when(k == schema.FORK).then(pl.concat_str([
            pl.lit("sched_process_fork: comm="), s("parent_comm"), pl.lit(" pid="), s("parent_tid").cast(pl.String),
            pl.lit(" child_comm="), s("comm"), pl.lit(" child_pid="), s("tid").cast(pl.String)]))
        .when(k == schema.EXEC).then(pl.concat_str([
            pl.lit("sched_process_exec: filename="), s("filename"), pl.lit(" pid="), s("tid").cast(pl.String),
            pl.lit(" old_pid="), s("old_tid").cast(pl.String)]))
        .when(k == schema.EXIT).then(pl.concat_str([
            pl.lit("sched_process_exit: comm="), s("comm"), pl.lit(" pid="), s("tid").cast(pl.String),
            pl.lit(" prio="), s("prio").cast(pl.String), pl.lit(" group_dead="),
            pl.when(s("group_dead") == 1).then(pl.lit("true")).otherwise(pl.lit("false"))]))
        .when(k == schema.STAT_RUNTIME).then(pl.concat_str([
            pl.lit("sched_stat_runtime: comm="), s("comm"), pl.lit(" pid="), s("tid").cast(pl.String),
            pl.lit(" runtime="), s("runtime_ns").cast(pl.String), pl.lit(" [ns]")]))
    )
    return ev.filter(k != schema.LOST).select(pl.concat_str([prefix, body]).alias("line"))["line"]


def synthetic_ftrace(source: Path, n_events: int) -> tuple[Path, int]:
    """A tracefs text file of at least ``n_events`` events made from ``source`` (cached)."""
    import traces

    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"synthetic-{source.parent.name}-{n_events}.txt"
    if out.exists():
        n = int(out.with_suffix(".n").read_text())
        return out, n
    ev = repeat_events(traces.load(source).events, n_events)
    header = "# tracer: nop\n#\n# entries-in-buffer/entries-written: {0}/{0}   #P:2\n#\n".format(ev.height)
    lines = ftrace_lines(ev)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(header)
        step = 1_000_000
        for i in range(0, len(lines), step):
            f.write("\n".join(lines[i:i + step].to_list()))
            f.write("\n")
    tmp.rename(out)
    out.with_suffix(".n").write_text(str(len(lines)))
    return out, len(lines)


def text_bytes(path: Path) -> int:
    return os.path.getsize(path)


__all__ = ["repeat_events", "ftrace_lines", "synthetic_ftrace", "CACHE", "workload_key", "np"]
