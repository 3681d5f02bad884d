"""Turn a reader's :class:`ReadResult` into the events, tasks, cpus and meta tables."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from . import schema
from ._result import ReadResult
from .errors import TraceError
from .spans import spans_from_markers

# Kernel threads that carry no "/N" suffix; with a suffix, see _PINNED_RE.
_KTHREAD_RE = re.compile(
    r"^(kthreadd|kworker/|ksoftirqd/|migration/|rcu_|rcuog/|rcuop/|cpuhp/|idle_inject/|"
    r"watchdog|irq/|kswapd|kcompactd|khugepaged|jbd2/|oom_reaper|writeback|kblockd|"
    r"kintegrityd|kdevtmpfs|khungtaskd|ksmd|kauditd|netns|mm_percpu_wq|inet_frag_wq|"
    r"scsi_|ext4-|xfs|btrfs|kthrotld|edac-|devfreq_wq|blkcg_punt_bio|zswap|"
    r"card\d+-crtc|ipv6_addrconf|kstrp|cryptd|md|ata_sff|nvme|pool_workqueue_release|"
    r"psimon|hwrng|sugov:|crypto|kverityd|kmpath|tpm_dev_wq|ttm|kdamond)")
# Per-CPU kernel threads: "ksoftirqd/3", "migration/0", "cpuhp/1", "kworker/2:1H".
_PINNED_RE = re.compile(r"^[\w.-]+/(\d+)(?::\d+H?)?$")


def _class_of_prio(prio: np.ndarray) -> np.ndarray:
    """Scheduling class from kernel prio (include/linux/sched/prio.h)."""
    cls = np.full(len(prio), schema.CLASS_UNKNOWN, np.int8)
    cls[(prio >= schema.MAX_RT_PRIO) & (prio < schema.MAX_PRIO)] = schema.CLASS_FAIR
    cls[(prio >= 0) & (prio < schema.MAX_RT_PRIO)] = schema.CLASS_RT
    cls[prio == -1] = schema.CLASS_DEADLINE
    return cls


def _concat(result: ReadResult) -> dict[str, np.ndarray]:
    if not result.chunks:
        return schema.empty_columns(schema.EVENTS, 0)
    if len(result.chunks) == 1:
        cols = result.chunks[0]
    else:
        cols = {name: np.concatenate([c[name] for c in result.chunks]) for name in schema.EVENTS.names}
    result.chunks = []  # release the chunks as soon as they are merged
    return cols


def _order(cols: dict[str, np.ndarray], result: ReadResult) -> dict[str, np.ndarray]:
    ts = cols["ts_ns"]
    if result.ordered or len(ts) < 2:
        return cols
    back = np.flatnonzero(ts[1:] < ts[:-1])
    if len(back) == 0:
        return cols
    if "disorder" not in result.warnings:
        result.warnings.add("disorder", f"{len(back)} events were out of timestamp order (first at event "
                            f"{int(back[0]) + 1}); sorted by timestamp, keeping file order among equal timestamps")
    perm = schema.event_order(ts)
    return {k: v[perm] for k, v in cols.items()}


def _keep(cols: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[keep] for k, v in cols.items()}


def _check_cpus(cols: dict[str, np.ndarray], result: ReadResult) -> dict[str, np.ndarray]:
    """Rows on a CPU id outside 0..MAX_CPUS-1 are left out, CPU-valued fields outside it
    become -1 (unknown), and CPU counts from headers beyond it are ignored: counted
    warnings. (Readers report such ids with their line or byte offset where they can;
    this catches the rest, so no CPU id wraps around or sizes a table.)"""
    cpu = cols["cpu"]
    bad = (cpu < 0) | (cpu >= schema.MAX_CPUS)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        result.warnings.add("cpu-range", f"{int(bad.sum())} events on a CPU id outside 0..{schema.MAX_CPUS - 1} "
                            f"(the first, CPU {int(cpu[i])} at {int(cols['ts_ns'][i])} ns) left out")
        cols = _keep(cols, ~bad)
    for name in ("target_cpu", "orig_cpu"):
        v = cols[name]
        off = (v < -1) | (v >= schema.MAX_CPUS)
        if off.any():
            result.warnings.add(f"{name}-range", f"{int(off.sum())} events with a {name} outside "
                                f"0..{schema.MAX_CPUS - 1} (the first {int(v[off][0])}); taken as unknown (-1)")
            v[off] = -1
    if result.n_cpus is not None and not 0 <= result.n_cpus <= schema.MAX_CPUS:
        result.warnings.add("n-cpus", f"the trace says it covers {result.n_cpus} CPUs, more than "
                            f"{schema.MAX_CPUS}; ignored")
        result.n_cpus = None
    for c in [c for c in result.topology if not 0 <= c < schema.MAX_CPUS]:
        del result.topology[c]
    for c in [c for c in result.lost_per_cpu if not 0 <= c < schema.MAX_CPUS]:
        del result.lost_per_cpu[c]
    return cols


def _check_cpu_fields(cols: dict[str, np.ndarray], result: ReadResult, n: int) -> None:
    """A target_cpu or orig_cpu beyond every CPU the trace covers (its CPU count, or the
    CPUs with events) is corrupt: unknown (-1), with a counted warning; a replay would
    otherwise run on a machine that large."""
    for name in ("target_cpu", "orig_cpu"):
        v = cols[name]
        off = v >= n
        if off.any():
            result.warnings.add(f"{name}-beyond", f"{int(off.sum())} events with a {name} beyond the trace's "
                                f"{n} CPUs (the first {int(v[off][0])}); taken as unknown (-1)")
            v[off] = -1


def _check_gaps(cols: dict[str, np.ndarray], result: ReadResult) -> dict[str, np.ndarray]:
    """Consecutive events (in event order) more than MAX_GAP_NS apart: a counted warning
    for each jump; the events a jump cuts off at the start or the end of the trace are left
    out when they are few (at most 16, or 0.1 % of the events), as one corrupt timestamp
    would otherwise stretch the trace by days or centuries."""
    ts = cols["ts_ns"]
    n = len(ts)
    if n < 2:
        return cols
    jumps = np.flatnonzero(np.diff(ts) > schema.MAX_GAP_NS)
    if len(jumps) == 0:
        return cols
    few = max(16, n // 1000)
    lo, hi = 0, n
    if jumps[0] + 1 <= few:
        lo = int(jumps[0]) + 1
    if n - (jumps[-1] + 1) <= few and jumps[-1] + 1 > lo:
        hi = int(jumps[-1]) + 1
    def sec(v):
        return f"{int(v) / 1e9:.6f} s"
    for what, a, b in (("before", 0, lo), ("after", hi, n)):
        if b > a:
            result.warnings.add(f"time-jump-{what}", f"{b - a} events with timestamps hours {what} all the others "
                                f"({sec(ts[a])} .. {sec(ts[b - 1])}, against {sec(ts[lo])} .. {sec(ts[hi - 1])}): "
                                "corrupt timestamps, left out")
    inner = [j for j in jumps.tolist() if lo <= j and j + 1 < hi]
    if inner:
        j = inner[0]
        result.warnings.add("time-jump", f"{len(inner)} timestamp jumps of more than "
                            f"{schema.MAX_GAP_NS // 10**9} s between consecutive events (the first from "
                            f"{sec(ts[j])} to {sec(ts[j + 1])}); the trace's duration includes them")
    if lo or hi < n:
        cols = {k: v[lo:hi] for k, v in cols.items()}
    return cols


def _dict_array(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)


def events_table(cols: dict[str, np.ndarray], strings: list[str]) -> pa.Table:
    dictionary = pa.array(strings, pa.string())
    arrays = []
    for f in schema.EVENTS.fields:
        v = cols[f.name]
        arrays.append(_dict_array(v, dictionary) if f.type == "str" else pa.array(v, f.arrow_type))
    return pa.Table.from_arrays(arrays, schema=schema.EVENTS.arrow_schema())


def _tasks(cols: dict[str, np.ndarray], result: ReadResult) -> pa.Table:
    from ._tasks_kernel import gather_tasks

    g = gather_tasks(cols)
    strings = result.strings.strings
    tid = g["tid"].astype(np.int32)
    n = len(tid)
    comm = [strings[c] if c else result.cmdlines.get(t, "") for c, t in zip(g["comm"].tolist(), tid.tolist())]
    prio = g["prio"]
    cls = _class_of_prio(prio)
    nice = np.where(cls == schema.CLASS_FAIR, schema.nice_of_prio(prio.astype(np.int32)), 0).astype(np.int8)
    tgid = np.array([result.tgid.get(t, -1) for t in tid.tolist()], np.int32)
    parents = dict(result.ppid)
    for t, p in zip(tid.tolist(), g["parent"].tolist()):
        if p >= 0:
            parents.setdefault(t, p)
    is_kthread = np.zeros(n, bool)
    pinned = np.full(n, -1, np.int16)
    for i, (t, c, ran) in enumerate(zip(tid.tolist(), comm, g["cpu"].tolist())):
        is_kthread[i] = t == 2 or parents.get(t) == 2 or bool(_KTHREAD_RE.match(c))
        mt = _PINNED_RE.match(c) if is_kthread[i] else None
        if mt and ran >= 0 and ran == int(mt.group(1)):
            pinned[i] = ran
    table = {
        "tid": tid, "tgid": tgid, "comm": comm, "prio": prio, "sched_class": cls,
        "nice": nice, "first_ns": g["first_ns"], "last_ns": g["last_ns"],
        "is_kthread": is_kthread, "pinned_cpu": pinned,
    }
    return _plain_table(schema.TASKS, table)


def _plain_table(table: schema.Table, data: dict) -> pa.Table:
    arrays = []
    for f in table.fields:
        v = data[f.name]
        if f.type == "str":
            arrays.append(pa.array(list(v), pa.string()).dictionary_encode())
        elif f.type == "list_str":
            arrays.append(pa.array(list(v), f.arrow_type))
        else:
            arrays.append(pa.array(np.asarray(v, f.numpy_dtype), f.arrow_type))
    return pa.Table.from_arrays(arrays, schema=table.arrow_schema())


def _cpus(cols: dict[str, np.ndarray], result: ReadResult) -> pa.Table:
    cpu = cols["cpu"]
    n = max(int(cpu.max()) + 1 if len(cpu) else 0, result.n_cpus or 0,
            max(result.topology) + 1 if result.topology else 0)
    # bincount works on an int64 copy: count slices, so that no event-sized
    # temporary is faulted in (~0.2 s for 10M events)
    counts = np.zeros(n, np.int64)
    for s in range(0, len(cpu), 1 << 20):
        counts += np.bincount(cpu[s:s + (1 << 20)], minlength=n)[:n]
    ids = np.arange(n)
    topo = [result.topology.get(c, (c, 0, 0, 1024)) for c in range(n)]
    data = {
        "cpu": ids, "core": [t[0] for t in topo], "llc": [t[1] for t in topo],
        "node": [t[2] for t in topo], "capacity": [t[3] for t in topo],
        "events": counts, "lost_events": [result.lost_per_cpu.get(c, 0) for c in range(n)],
    }
    return _plain_table(schema.CPUS, data)


def _meta(cols: dict[str, np.ndarray], result: ReadResult, n_cpus: int) -> pa.Table:
    from . import __version__

    ts = cols["ts_ns"]
    lost = list(result.lost_per_cpu.values())
    data = {
        "source": [result.path], "format": [result.format], "clock": [result.clock],
        "kernel": [result.kernel], "hostname": [result.hostname], "n_cpus": [n_cpus],
        "first_ns": [int(ts[0]) if len(ts) else -1], "last_ns": [int(ts[-1]) if len(ts) else -1],
        "events": [int(np.count_nonzero(cols["kind"] != schema.LOST))],
        "skipped": [result.skipped],
        "lost_events": [-1 if any(v < 0 for v in lost) else sum(lost)],
        "compression": [result.compression], "version": [__version__],
        "warnings": [result.warnings.as_list()],
    }
    return _plain_table(schema.META, data)


def build(result: ReadResult) -> dict[str, pa.Table]:
    """Build the events, tasks, cpus, spans and meta tables from a reader's result.

    Raises TraceError when the trace holds no scheduler events at all.
    """
    cols = _check_gaps(_order(_check_cpus(_concat(result), result), result), result)
    if np.count_nonzero(cols["kind"] != schema.LOST) == 0:
        what = f" ({result.skipped} other events or lines skipped)" if result.skipped else ""
        raise TraceError(f"no scheduler events found in this {result.format} trace{what}; "
                         "record sched:sched_switch and sched:sched_wakeup/waking at least",
                         result.path)
    cpus = _cpus(cols, result)
    _check_cpu_fields(cols, result, cpus.num_rows)
    tables = {
        "events": events_table(cols, result.strings.strings),
        "tasks": _tasks(cols, result),
        "cpus": cpus,
    }
    tables["spans"], other = spans_from_markers(result.markers, result.warnings, result.path)
    result.skipped += other  # free-text markers: skipped like other non-scheduler events
    tables["meta"] = _meta(cols, result, cpus.num_rows)
    return tables
