"""Write an events table as a Perfetto trace (``.pftrace``) the Perfetto UI opens.

>>> from traces.perfetto_write import write_perfetto
>>> write_perfetto("out.pftrace", trace)                 # a traces.Trace
>>> write_perfetto("replay.pftrace", events, tasks)      # an events-shaped table

The trace holds one ``ftrace_events`` packet (``FtraceEventBundle``) per
bundle of up to ``bundle_events`` events of one CPU, like traced_probes
writes them. With ``compact=True`` sched_switch and sched_waking go into the
bundle's ``compact_sched`` columns (interned comms, delta-encoded
timestamps), every other kind as a plain ``FtraceEvent``; with
``compact=False`` everything is plain. A ``process_tree`` packet gives
thread names and thread-group ids, ``system_info`` the kernel release and
``ftrace_stats`` the per-CPU lost-event counts when the source knows them.

What the Perfetto encoding carries, and so what reading the file back
(:mod:`traces.perfetto`) returns, is every events column except ``irq`` of
switches, ``group_dead``, and the exact timestamp and count of LOST rows (a
LOST row becomes ``lost_events`` on the CPU's next bundle). A switch goes
into the compact columns only when the compact form implies exactly its prev
task (the previous switch's next task on that CPU) and a waking only when its
``cur_tid`` is the task the compact form implies; the others are written as
plain events, so compact and plain files read back the same. Bundles are cut
wherever the reader's order inside a bundle (compact switches, compact
wakings, plain events, each stably by timestamp) would differ from the
table's order on that CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import schema
from ._numba import jit

_G_SKIP, _G_SWITCH, _G_WAKING, _G_PLAIN = -1, 0, 1, 2


@jit
def _plan(cpu, kind, ts, tid, comm, prio, cur_tid, next_tid, next_comm, next_prio, irq,
          compact, max_events):
    """Assign each event an encoding (group: 0 compact switch, 1 compact
    waking, 2 plain, -1 not written) and a bundle; returns (group, bundle,
    bundle_cpu, bundle_lost, bundle_flags, bundle_prev_end)."""
    n = cpu.shape[0]
    ncpu = np.int64(cpu.max()) + 1 if n > 0 else 1
    group = np.full(n, _G_SKIP, np.int8)
    bundle = np.full(n, -1, np.int64)
    b_cpu = np.empty(n + 1, np.int64)
    b_lost = np.zeros(n + 1, np.int8)
    b_flags = np.full(n + 1, -1, np.int8)  # compact waking_common_flags: -1 undecided, 0 no, 1 yes
    b_prev_end = np.zeros(n + 1, np.int64)
    cur_b = np.full(ncpu, -1, np.int64)
    count = np.zeros(ncpu, np.int64)
    bmax = np.zeros(ncpu, np.int64)
    gmax = np.zeros(ncpu, np.int64)
    last_ts = np.zeros(ncpu, np.int64)  # last event written on the CPU (previous_bundle_end_timestamp)
    pending_lost = np.zeros(ncpu, np.int8)
    known = np.zeros(ncpu, np.bool_)
    s_tid = np.full(ncpu, -1, np.int64)
    s_comm = np.zeros(ncpu, np.int64)
    s_prio = np.zeros(ncpu, np.int64)
    nb = 0
    for i in range(n):
        c = cpu[i]
        k = kind[i]
        if k == schema.LOST:
            pending_lost[c] = 1
            known[c] = False
            cur_b[c] = -1
            continue
        g = _G_PLAIN
        if compact and k == schema.SWITCH and known[c] and tid[i] == s_tid[c] and \
                comm[i] == s_comm[c] and prio[i] == s_prio[c] and cur_tid[i] == tid[i]:
            g = _G_SWITCH
        elif compact and k == schema.WAKING and cur_tid[i] == (s_tid[c] if known[c] else -1):
            g = _G_WAKING
        b = cur_b[c]
        # A new bundle where the reader's order inside one (stable by
        # timestamp; at equal timestamps compact switches, compact wakings,
        # plain events) would put this event before one already in it.
        if b < 0 or count[c] >= max_events or ts[i] < bmax[c] or (ts[i] == bmax[c] and g < gmax[c]):
            b = nb
            nb += 1
            b_cpu[b] = c
            b_lost[b] = pending_lost[c]
            b_prev_end[b] = last_ts[c]
            pending_lost[c] = 0
            cur_b[c] = b
            count[c] = 0
            bmax[c] = ts[i]
            gmax[c] = g
        if g == _G_WAKING:
            want = 1 if irq[i] >= 0 else 0
            if b_flags[b] < 0:
                b_flags[b] = want
            elif b_flags[b] != want:
                g = _G_PLAIN  # a bundle's compact wakings all carry flags, or none does
        if ts[i] > bmax[c]:
            bmax[c] = ts[i]
            gmax[c] = g
        elif g > gmax[c]:
            gmax[c] = g
        group[i] = g
        bundle[i] = b
        count[c] += 1
        if ts[i] > last_ts[c]:
            last_ts[c] = ts[i]
        if k == schema.SWITCH:
            known[c] = True
            s_tid[c], s_comm[c], s_prio[c] = next_tid[i], next_comm[i], next_prio[i]
    return group, bundle, b_cpu[:nb], b_lost[:nb], b_flags[:nb], b_prev_end[:nb]


# --------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------

def _string_column(col) -> tuple[np.ndarray, list[str]]:
    """(codes, strings) of an Arrow or polars string / dictionary column, or a list."""
    import pyarrow as pa

    if hasattr(col, "to_arrow") and not isinstance(col, (pa.Array, pa.ChunkedArray)):  # polars
        col = col.to_arrow()
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if isinstance(col, pa.Array):
        if not isinstance(col, pa.DictionaryArray):
            col = col.cast(pa.string()).dictionary_encode()
        words = ["" if w is None else str(w) for w in col.dictionary.to_pylist()]
        return np.asarray(col.indices.fill_null(0), np.int64), words
    values = ["" if v is None else str(v) for v in col]
    uniq, inv = np.unique(np.array(values + [""], dtype=object), return_inverse=True)
    return inv[:-1].astype(np.int64), [str(u) for u in uniq]


def _events(table) -> tuple[dict[str, np.ndarray], list[str]]:
    """EVENTS columns as int64 NumPy arrays, strings as codes into one list (code 0 = "")."""
    import pyarrow as pa

    if hasattr(table, "to_arrow") and not isinstance(table, pa.Table):  # polars
        table = table.to_arrow()
    arrow = isinstance(table, pa.Table)
    names = table.column_names if arrow else list(table)
    n = table.num_rows if arrow else len(next(iter(table.values())))
    index = {"": 0}
    cols = {}
    for f in schema.EVENTS.fields:
        if f.name not in names:
            cols[f.name] = np.full(n, 0 if f.type == "str" else f.default, np.int64)
            continue
        col = table.column(f.name) if arrow else table[f.name]
        if f.type == "str":
            codes, words = _string_column(col)
            remap = np.array([index.setdefault(w, len(index)) for w in words] + [0], np.int64)
            cols[f.name] = remap[codes]
        else:
            cols[f.name] = np.asarray(col, np.int64)
    return cols, list(index)  # insertion order is code order


def _tasks(tasks) -> list[tuple[int, int, str]]:
    """(tid, tgid, comm) rows of a tasks table (Arrow, polars or dict)."""
    import pyarrow as pa

    if tasks is None:
        return []
    if hasattr(tasks, "to_arrow") and not isinstance(tasks, pa.Table):
        tasks = tasks.to_arrow()
    get = (lambda c: tasks.column(c).to_pylist()) if isinstance(tasks, pa.Table) else \
        (lambda c: list(tasks[c]))
    have = tasks.column_names if isinstance(tasks, pa.Table) else list(tasks)
    tid = get("tid")
    tgid = get("tgid") if "tgid" in have else [-1] * len(tid)
    comm = get("comm") if "comm" in have else [""] * len(tid)
    return [(int(t), int(g), c or "") for t, g, c in zip(tid, tgid, comm)]


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def _flags_of_irq(irq: int) -> int:
    """Ring buffer common_flags for a schema irq code (trace.h TRACE_FLAG_*)."""
    flags = {schema.IRQ_NONE: 0, schema.IRQ_SOFT: 0x10, schema.IRQ_HARD: 0x08, schema.IRQ_NMI: 0x48}
    return flags.get(irq, 0)


def _plain_event(pb, c: dict, strings, tgid_of: dict[int, int]):
    """One FtraceEvent (timestamp, pid = cur_tid, common_flags, the kind's
    message) from ``c``, one event's column values."""
    s = {k: strings[c[k]] for k in ("comm", "next_comm", "parent_comm", "filename")}
    ev = pb.FtraceEvent(timestamp=c["ts_ns"])
    if c["cur_tid"] >= 0:
        ev.pid = c["cur_tid"]
    kind = c["kind"]
    if c["irq"] >= 0 and kind != schema.SWITCH:
        ev.common_flags = _flags_of_irq(c["irq"])

    def opt(msg, **kw):  # set the fields whose value is not the schema default
        for name, (v, default) in kw.items():
            if v != default:
                setattr(msg, name, v)

    nop = schema.NO_PRIO
    if kind == schema.SWITCH:
        opt(ev.sched_switch, prev_comm=(s["comm"], ""), prev_pid=(c["tid"], -1), prev_prio=(c["prio"], nop),
            prev_state=(c["prev_state"], -1), next_comm=(s["next_comm"], ""),
            next_pid=(c["next_tid"], -1), next_prio=(c["next_prio"], nop))
        ev.sched_switch.SetInParent()
    elif kind in (schema.WAKING, schema.WAKEUP, schema.WAKEUP_NEW):
        msg = {schema.WAKING: ev.sched_waking, schema.WAKEUP: ev.sched_wakeup,
               schema.WAKEUP_NEW: ev.sched_wakeup_new}[kind]
        opt(msg, comm=(s["comm"], ""), pid=(c["tid"], -1), prio=(c["prio"], nop),
            target_cpu=(c["target_cpu"], -1))
        msg.success = 1
    elif kind == schema.MIGRATE:
        opt(ev.sched_migrate_task, comm=(s["comm"], ""), pid=(c["tid"], -1), prio=(c["prio"], nop),
            orig_cpu=(c["orig_cpu"], -1), dest_cpu=(c["target_cpu"], -1))
        ev.sched_migrate_task.SetInParent()
    elif kind == schema.FORK:
        opt(ev.sched_process_fork, parent_comm=(s["parent_comm"], ""), parent_pid=(c["parent_tid"], -1),
            child_comm=(s["comm"], ""), child_pid=(c["tid"], -1))
        ev.sched_process_fork.SetInParent()
    elif kind == schema.EXEC:
        opt(ev.sched_process_exec, filename=(s["filename"], ""), pid=(c["tid"], -1),
            old_pid=(c["old_tid"], -1))
        ev.sched_process_exec.SetInParent()
    elif kind == schema.EXIT:
        opt(ev.sched_process_exit, comm=(s["comm"], ""), pid=(c["tid"], -1), prio=(c["prio"], nop),
            tgid=(tgid_of.get(c["tid"], -1), -1))
        ev.sched_process_exit.SetInParent()
    elif kind == schema.STAT_RUNTIME:  # no compiled message: a GenericFtraceEvent
        g = ev.generic
        g.event_name = "sched_stat_runtime"
        g.field.add(name="comm", str_value=s["comm"])
        g.field.add(name="pid", int_value=c["tid"])
        g.field.add(name="runtime", uint_value=max(c["runtime_ns"], 0))
        if c["vruntime_ns"] >= 0:
            g.field.add(name="vruntime", uint_value=c["vruntime_ns"])
    return ev


def _deltas(ts: np.ndarray) -> list[int]:
    """Compact timestamps: the first absolute, then each relative to the one before."""
    d = np.diff(ts, prepend=np.int64(0)).astype(np.uint64)  # negative deltas wrap, as uint64 varints
    return d.tolist()


def _bundle(pb, cols, strings, idx, group, cpu, lost, flags, prev_end, tgid_of):
    """The FtraceEventBundle of events ``idx`` (in table order) on ``cpu``."""
    b = pb.FtraceEventBundle(cpu=int(cpu), previous_bundle_end_timestamp=int(prev_end))
    if lost:
        b.lost_events = True
    g = group[idx]
    sw, wk, pl = idx[g == _G_SWITCH], idx[g == _G_WAKING], idx[g == _G_PLAIN]
    if len(sw) or len(wk):
        cs = b.compact_sched
        used = np.concatenate([cols["next_comm"][sw], cols["comm"][wk]])
        uniq, inv = np.unique(used, return_inverse=True)
        cs.intern_table.extend(strings[int(u)] for u in uniq)
        if len(sw):
            cs.switch_timestamp.extend(_deltas(cols["ts_ns"][sw]))
            cs.switch_prev_state.extend(cols["prev_state"][sw].tolist())
            cs.switch_next_pid.extend(cols["next_tid"][sw].tolist())
            cs.switch_next_prio.extend(cols["next_prio"][sw].tolist())
            cs.switch_next_comm_index.extend(inv[:len(sw)].tolist())
        if len(wk):
            cs.waking_timestamp.extend(_deltas(cols["ts_ns"][wk]))
            cs.waking_pid.extend(cols["tid"][wk].tolist())
            cs.waking_target_cpu.extend(cols["target_cpu"][wk].tolist())
            cs.waking_prio.extend(cols["prio"][wk].tolist())
            cs.waking_comm_index.extend(inv[len(sw):].tolist())
            if flags == 1:
                cs.waking_common_flags.extend(_flags_of_irq(int(q)) for q in cols["irq"][wk])
    if len(pl):
        sub = {k: v[pl].tolist() for k, v in cols.items()}
        for j in range(len(pl)):
            b.event.append(_plain_event(pb, {k: v[j] for k, v in sub.items()}, strings, tgid_of))
    return b


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def write_perfetto(path, events_table_or_trace, tasks=None, *, compact: bool = True,
                   bundle_events: int = 2048, kernel: str | None = None,
                   lost_per_cpu: dict[int, int] | None = None) -> Path:
    """Write ``events_table_or_trace`` as a Perfetto protobuf trace at ``path``.

    ``events_table_or_trace``: a :class:`traces.Trace` (its events, tasks,
    kernel release and per-CPU lost counts are used), or an events-shaped
    table (Arrow table, polars DataFrame or dict of arrays with
    ``schema.EVENTS`` column names; missing columns take their defaults, so a
    replayed schedule with only switch/waking/wakeup_new columns is fine).
    ``tasks``: a tasks-shaped table (tid, tgid, comm) for the process tree.
    ``compact``: encode sched_switch / sched_waking as compact_sched.
    ``bundle_events``: events per bundle at most. ``kernel``: kernel release
    for system_info. ``lost_per_cpu``: events lost per CPU, for ftrace_stats.
    Returns the path written.
    """
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    from .trace import Trace

    if isinstance(events_table_or_trace, Trace):
        trace = events_table_or_trace
        arrow = trace.to_arrow()
        events = arrow["events"]
        tasks = arrow["tasks"] if tasks is None else tasks
        meta = arrow["meta"]
        kernel = kernel if kernel is not None else meta.column("kernel")[0].as_py()
        if lost_per_cpu is None:
            cpus = arrow["cpus"]
            lost_per_cpu = {int(c): int(v) for c, v in zip(cpus.column("cpu").to_pylist(),
                                                             cpus.column("lost_events").to_pylist()) if v > 0}
    else:
        events = events_table_or_trace
    cols, strings = _events(events)
    n = len(cols["ts_ns"])
    if n and (cols["cpu"].min() < 0 or cols["kind"].min() < 0):
        raise ValueError("write_perfetto: every event needs a cpu >= 0 and a kind >= 0")
    ts = cols["ts_ns"]
    if n > 1 and (np.diff(ts) < 0).any():
        order = np.argsort(ts, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    task_rows = _tasks(tasks)
    tgid_of = {t: g for t, g, _ in task_rows if g > 0}
    group, bundle, b_cpu, b_lost, b_flags, b_prev = _plan(
        cols["cpu"], cols["kind"], cols["ts_ns"], cols["tid"], cols["comm"], cols["prio"],
        cols["cur_tid"], cols["next_tid"], cols["next_comm"], cols["next_prio"], cols["irq"],
        bool(compact), int(bundle_events))
    by_bundle = np.argsort(bundle, kind="stable")
    starts = np.searchsorted(bundle[by_bundle], np.arange(len(b_cpu) + 1))

    path = Path(os.fspath(path))
    with open(path, "wb") as out:
        def packet(pkt) -> None:
            pkt.trusted_packet_sequence_id = 1
            data = pkt.SerializeToString()
            out.write(b"\x0a" + _varint(len(data)) + data)

        if kernel and _release_ok(kernel):
            si = pb.TracePacket()
            si.system_info.utsname.sysname = "Linux"
            si.system_info.utsname.release = kernel
            packet(si)
        if task_rows:
            pt = pb.TracePacket(timestamp=int(ts.min()) if n else 0)
            for t, g, comm in task_rows:
                if t > 0 and g == t:
                    pt.process_tree.processes.add(pid=t, cmdline=[comm] if comm else [])
            for t, g, comm in task_rows:
                if t > 0 and g > 0 and g != t:
                    pt.process_tree.threads.add(tid=t, tgid=g, name=comm)
            pt.process_tree.SetInParent()
            packet(pt)
        for b in range(len(b_cpu)):
            idx = by_bundle[starts[b]:starts[b + 1]]
            packet(pb.TracePacket(ftrace_events=_bundle(pb, cols, strings, idx, group, b_cpu[b], b_lost[b],
                                                         b_flags[b], b_prev[b], tgid_of)))
        if lost_per_cpu:
            for phase in (pb.FtraceStats.START_OF_TRACE, pb.FtraceStats.END_OF_TRACE):
                fs = pb.TracePacket()
                fs.ftrace_stats.phase = phase
                for c, v in sorted(lost_per_cpu.items()):
                    fs.ftrace_stats.cpu_stats.add(cpu=c, overrun=v if phase == pb.FtraceStats.END_OF_TRACE
                                                  and v > 0 else 0)
                packet(fs)
    return path


def _release_ok(kernel: str) -> bool:
    """Whether a kernel release can be written: a release before 4.14 would make
    readers take the (already normalised) prev_state values for the old layout."""
    from .perfetto import _kernel_version

    ver = _kernel_version(kernel)
    return ver is None or ver >= (4, 14)
