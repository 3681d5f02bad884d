"""Turn a reader's :class:`ReadResult` into the events, tasks, cpus and meta tables."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pyarrow as pa

from . import schema
from ._result import ReadResult
from .errors import TraceError

# Kernel threads that carry no "/N" suffix; with a suffix, see _PINNED_RE.
_KTHREAD_RE = re.compile(
    r"^(kthreadd|kworker/|ksoftirqd/|migration/|rcu_|rcuog/|rcuop/|cpuhp/|idle_inject/|"
    r"watchdog|irq/|kswapd|kcompactd|khugepaged|jbd2/|oom_reaper|writeback|kblockd|"
    r"kintegrityd|kdevtmpfs|khungtaskd|ksmd|kauditd|netns|mm_percpu_wq|inet_frag_wq|"
    r"scsi_|ext4-|xfs|btrfs|kthrotld|edac-|devfreq_wq|blkcg_punt_bio|zswap|"
    r"card\d+-crtc|ipv6_addrconf|kstrp|cryptd|md|ata_sff|nvme|pool_workqueue_release|"
    r"psimon|hwrng|sugov:|crypto|kverityd|kmpath|tpm_dev_wq|ttm)")
# Per-CPU kernel threads: "ksoftirqd/3", "migration/0", "cpuhp/1", "kworker/2:1H".
_PINNED_RE = re.compile(r"^[\w.-]+/(\d+)(?::\d+H?)?$")


def _class_of_prio(prio: np.ndarray) -> np.ndarray:
    """Scheduling class from kernel prio (include/linux/sched/prio.h)."""
    cls = np.full(len(prio), schema.CLASS_UNKNOWN, np.int8)
    cls[(prio >= 100) & (prio <= 139)] = schema.CLASS_FAIR
    cls[(prio >= 0) & (prio < 100)] = schema.CLASS_RT
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
    result.warnings.add(
        "disorder",
        f"{len(back)} events were out of timestamp order (first at event {int(back[0]) + 1}); "
        "sorted by timestamp, keeping file order among equal timestamps")
    perm = schema.event_order(ts)
    return {k: v[perm] for k, v in cols.items()}


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
    ts, kind = cols["ts_ns"], cols["kind"]
    strings = result.strings.strings
    sw = kind == schema.SWITCH
    fork = kind == schema.FORK
    # Every place an event mentions a task: (tid, ts, comm code, prio, cpu it was switched in on).
    parts = [
        (cols["tid"], ts, cols["comm"], cols["prio"], np.full(len(ts), -1, np.int16)),
        (cols["next_tid"][sw], ts[sw], cols["next_comm"][sw], cols["next_prio"][sw], cols["cpu"][sw]),
        (cols["parent_tid"][fork], ts[fork], cols["parent_comm"][fork],
         np.full(int(fork.sum()), schema.NO_PRIO, np.int16), np.full(int(fork.sum()), -1, np.int16)),
        (cols["cur_tid"], ts, np.zeros(len(ts), np.int32), np.full(len(ts), schema.NO_PRIO, np.int16),
         np.full(len(ts), -1, np.int16)),
        (cols["old_tid"], ts, np.zeros(len(ts), np.int32), np.full(len(ts), schema.NO_PRIO, np.int16),
         np.full(len(ts), -1, np.int16)),
    ]
    m = pl.DataFrame({
        "tid": np.concatenate([p[0] for p in parts]).astype(np.int32),
        "ts": np.concatenate([p[1] for p in parts]),
        "comm": np.concatenate([p[2] for p in parts]).astype(np.int32),
        "prio": np.concatenate([p[3] for p in parts]).astype(np.int16),
        "ran_on": np.concatenate([p[4] for p in parts]).astype(np.int16),
    }).filter(pl.col("tid") > 0)
    g = (m.sort("ts", maintain_order=True).group_by("tid").agg(
        first_ns=pl.col("ts").min(),
        last_ns=pl.col("ts").max(),
        comm=pl.col("comm").filter(pl.col("comm") != 0).last(),
        prio=pl.col("prio").filter(pl.col("prio") != schema.NO_PRIO).mode().min(),
        cpus_run=pl.col("ran_on").filter(pl.col("ran_on") >= 0).unique().sort(),
    ).sort("tid"))
    tid = g["tid"].to_numpy().astype(np.int32)
    n = len(tid)
    comm_code = g["comm"].fill_null(0).to_numpy().astype(np.int32)
    comm = [strings[c] if c else result.cmdlines.get(int(t), "") for c, t in zip(comm_code, tid)]
    prio = g["prio"].fill_null(schema.NO_PRIO).to_numpy().astype(np.int16)
    cls = _class_of_prio(prio)
    nice = np.where(cls == schema.CLASS_FAIR, prio.astype(np.int32) - 120, 0).astype(np.int8)
    tgid = np.array([result.tgid.get(int(t), -1) for t in tid], np.int32)
    parents = result.ppid.copy()
    for child, parent in zip(cols["tid"][fork].tolist(), cols["parent_tid"][fork].tolist()):
        parents.setdefault(child, parent)
    is_kthread = np.zeros(n, bool)
    pinned = np.full(n, -1, np.int16)
    for i, (t, c, run) in enumerate(zip(tid.tolist(), comm, g["cpus_run"].to_list())):
        is_kthread[i] = t == 2 or parents.get(t) == 2 or bool(_KTHREAD_RE.match(c))
        mt = _PINNED_RE.match(c) if is_kthread[i] else None
        if mt and run and len(run) == 1 and run[0] == int(mt.group(1)):
            pinned[i] = run[0]
    table = {
        "tid": tid, "tgid": tgid, "comm": comm, "prio": prio, "sched_class": cls,
        "nice": nice, "first_ns": g["first_ns"].to_numpy(), "last_ns": g["last_ns"].to_numpy(),
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
    counts = np.bincount(cpu.astype(np.int64), minlength=n)[:n] if len(cpu) else np.zeros(n, np.int64)
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
    """Build the four tables from a reader's result.

    Raises TraceError when the trace holds no scheduler events at all.
    """
    cols = _order(_concat(result), result)
    if np.count_nonzero(cols["kind"] != schema.LOST) == 0:
        what = f" ({result.skipped} other events or lines skipped)" if result.skipped else ""
        raise TraceError(f"no scheduler events found in this {result.format} trace{what}; "
                         "record sched:sched_switch and sched:sched_wakeup/waking at least",
                         result.path)
    cpus = _cpus(cols, result)
    tables = {
        "events": events_table(cols, result.strings.strings),
        "tasks": _tasks(cols, result),
        "cpus": cpus,
    }
    tables["meta"] = _meta(cols, result, cpus.num_rows)
    return tables
