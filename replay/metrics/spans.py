"""Application span figures of a schedule, recorded or replayed (README "Application spans").

A span's **latency** is end - start. Its **breakdown** is what its thread (the one it
began on) went through inside it, from the schedule's intervals: running, runnable (by
cause: wakeup, preempt, new; "other" for waits whose cause the trace cannot tell),
blocked, and unknown (time the schedule does not cover: before the thread's first known
state, damaged spans, gaps). The parts sum to the latency.

Figures per span name: count, unfinished (replays: spans whose thread never reached their
end before the replay ended, counted with the replay's end as theirs), mean, p50, p90,
p99, max (nearest rank, as waits), and the breakdown as the mean per span (ns), so that
the parts sum to the mean latency.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from traces import schema

from ..model.schedule import Schedule

#: breakdown parts, in column order
PARTS = ("running_ns", "runnable_wakeup_ns", "runnable_preempt_ns", "runnable_new_ns", "runnable_other_ns",
         "blocked_ns", "unknown_ns")
_CAUSE_PART = {schema.BEGIN_WAKEUP: 1, schema.BEGIN_PREEMPT: 2, schema.BEGIN_NEW: 3}
SPAN_STATS = ("count", "unfinished", "mean", "p50", "p90", "p99", "max")
_Q = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def _part_of(state: np.ndarray, cause: np.ndarray) -> np.ndarray:
    part = np.full(len(state), 6, np.int64)  # unknown
    part[state == schema.RUNNING] = 0
    part[state == schema.BLOCKED] = 5
    rn = state == schema.RUNNABLE
    part[rn] = 4
    for code, k in _CAUSE_PART.items():
        part[rn & (cause == code)] = k
    return part


def span_table(schedule: Schedule) -> pl.DataFrame:
    """One row per span of the schedule: tid, end_tid, name, group, origin, depth,
    start_ns, end_ns, latency_ns, unfinished and the breakdown (PARTS, ns; they sum to
    latency_ns). Empty (with these columns) when the schedule has no spans."""
    spans = schedule.spans
    cols = {"tid": pl.Int32, "end_tid": pl.Int32, "name": pl.String, "group": pl.String, "origin": pl.Int8,
            "depth": pl.Int16, "start_ns": pl.Int64, "end_ns": pl.Int64, "latency_ns": pl.Int64,
            "unfinished": pl.Boolean, **{p: pl.Int64 for p in PARTS}}
    if spans is None or spans.height == 0:
        return pl.DataFrame(schema=cols)
    if "unfinished" not in spans.columns:
        spans = spans.with_columns(unfinished=pl.lit(False))
    tid = spans["tid"].to_numpy().astype(np.int64)
    s, e = spans["start_ns"].to_numpy(), spans["end_ns"].to_numpy()
    parts = np.zeros((len(tid), len(PARTS)), np.int64)
    iv = schedule.intervals.filter(pl.col("tid").is_in(np.unique(tid).astype(np.int32)))
    # ties by end: a state of no length (runnable the instant it ran) before the one begun
    # with it, so the last interval begun by an instant is the one that holds it
    iv = iv.select(pl.col("tid").cast(pl.Int64), "start_ns", "end_ns", "state", "cause").sort("tid", "start_ns",
                                                                                            "end_ns")
    itid = iv["tid"].to_numpy()
    bounds = np.searchsorted(itid, np.unique(tid))
    ends = np.searchsorted(itid, np.unique(tid), side="right")
    for t, lo, hi in zip(np.unique(tid).tolist(), bounds.tolist(), ends.tolist()):
        sel = np.flatnonzero(tid == t)
        if hi == lo:
            continue
        st = iv["start_ns"].to_numpy()[lo:hi]
        en = iv["end_ns"].to_numpy()[lo:hi]
        part = _part_of(iv["state"].to_numpy()[lo:hi], iv["cause"].to_numpy()[lo:hi])
        dur = np.maximum(en - st, 0)
        onehot = np.zeros((hi - lo, len(PARTS)), np.int64)
        onehot[np.arange(hi - lo), part] = dur
        cum = np.vstack([np.zeros(len(PARTS), np.int64), np.cumsum(onehot, axis=0)])

        def at(x):
            """time spent in each part before instant x"""
            k = np.searchsorted(st, x, side="right") - 1  # the last interval begun by x
            before = k >= 0
            kk = np.maximum(k, 0)
            out = np.where(before[:, None], cum[kk], 0)
            out[np.arange(len(x)), part[kk]] += np.where(before, np.clip(x - st[kk], 0, dur[kk]), 0)
            return out

        parts[sel] = at(e[sel]) - at(s[sel])
    latency = e - s
    parts[:, 6] += latency - parts.sum(axis=1)  # gaps no interval covers are unknown too
    df = spans.select("tid", "end_tid", pl.col("name").cast(pl.String), pl.col("group").cast(pl.String), "origin",
                      "depth", "start_ns", "end_ns").with_columns(latency_ns=pl.Series(latency, dtype=pl.Int64),
                                                                  unfinished=spans["unfinished"])
    return df.with_columns(**{p: pl.Series(parts[:, j]) for j, p in enumerate(PARTS)})


def _stats(lat: np.ndarray) -> dict:
    n = len(lat)
    if n == 0:
        return {k: None for k in ("mean", *_Q, "max")}
    v = np.sort(lat)
    out = {"mean": float(v.mean())}
    for k, q in _Q.items():
        out[k] = int(v[max(int(np.ceil(q * n)), 1) - 1])
    out["max"] = int(v[-1])
    return out


def span_figures(table: pl.DataFrame) -> dict:
    """Per span name (most spans first, then by name): count, unfinished, mean, p50, p90,
    p99, max of latency_ns (ns), and ``breakdown``: the mean of each part per span (ns:
    running, runnable by cause, blocked, unknown; they sum to the mean latency)."""
    if table.height == 0:
        return {}
    out = {}
    counts = table.group_by("name").len().sort(["len", "name"], descending=[True, False])
    for name in counts["name"].to_list():
        g = table.filter(pl.col("name") == name)
        lat = g["latency_ns"].to_numpy()
        fig = {"count": int(g.height), "unfinished": int(g["unfinished"].sum()), **_stats(lat)}
        fig["breakdown"] = {p.removesuffix("_ns"): float(g[p].mean()) for p in PARTS}
        out[name] = fig
    return out
