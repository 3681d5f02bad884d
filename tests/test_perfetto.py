"""The Perfetto reader (traces.perfetto) and writer (traces.perfetto_write)."""

from __future__ import annotations

import gzip
import signal
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import traces
from traces import perfetto, schema
from traces.errors import TraceError
from traces.perfetto_write import write_perfetto

PERFETTO_FILES = [
    "public/ms-perf-tools/perfetto_trace_cpu_sampling_not_scoped.pftrace",
    "public/systing/trace.pb",
    "public/perfetto/crop_compact_sched_switch.textproto",
    "public/perfetto/sched_blocked_reason_symbolized.textproto",
]
MS = PERFETTO_FILES[0]
NOP = schema.NO_PRIO


# --------------------------------------------------------------------------
# Helpers: hand-assembled protobuf bytes
# --------------------------------------------------------------------------

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 values are 10-byte sign-extended varints
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fv(num: int, value: int) -> bytes:
    """A varint field."""
    return varint(num << 3) + varint(value)


def fb(num: int, payload: bytes | str) -> bytes:
    """A length-delimited field."""
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def packet(*fields: bytes) -> bytes:
    """A Trace.packet record around TracePacket fields."""
    return fb(1, b"".join(fields))


def write(tmp_path: Path, data: bytes, name="t.pftrace") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def rows(trace, *cols) -> list[tuple]:
    ev = trace.events
    ev = ev.with_columns([pl.col(c).cast(pl.String) for c in ev.columns if ev[c].dtype == pl.Categorical])
    return [tuple(r) for r in ev.select(cols).iter_rows()]


def canonical(trace) -> pl.DataFrame:
    """Events in a form two encodings of the same data must agree on: strings
    as text, the fields Perfetto does not carry (a switch's irq, group_dead)
    blanked, cross-CPU ties at equal timestamps by CPU."""
    ev = trace.events.with_row_index("pos")
    ev = ev.with_columns([pl.col(c).cast(pl.String) for c in ev.columns if ev[c].dtype == pl.Categorical])
    ev = ev.with_columns(pl.when(pl.col("kind") == schema.SWITCH).then(-1).otherwise(pl.col("irq"))
                         .cast(pl.Int8).alias("irq"), pl.lit(-1).cast(pl.Int8).alias("group_dead"))
    return ev.sort(["ts_ns", "cpu", "pos"]).drop("pos")


def assert_same_events(a, b):
    A, B = canonical(a), canonical(b)
    assert A.shape == B.shape
    diff = [c for c in A.columns if not (A[c] == B[c]).all()]
    assert not diff, f"columns differ: {diff}"


@contextmanager
def time_limit(seconds: int):
    def boom(*_):
        raise AssertionError(f"took more than {seconds} s (a loop that does not end?)")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------

@pytest.mark.corpus
@pytest.mark.parametrize("name", PERFETTO_FILES)
def test_corpus_counts(corpus, ground_truth, name):
    t = traces.load(corpus / name)
    want = ground_truth[name]
    assert t.counts() == want["counts"]
    assert t.info()["cpus"] == want["cpus"]
    assert t.format == ("perfetto-textproto" if name.endswith(".textproto") else "perfetto")


@pytest.mark.corpus
def test_corpus_metadata(corpus):
    t = traces.load(corpus / MS)
    info = t.info()
    assert info["kernel"].startswith("5.10.43-android12")
    assert info["clock"] == "boot"
    # cpu_idle, sched_process_free, oom_score_adj_update, task_rename, task_newtask
    assert info["skipped_lines"] == 8032 + 40 + 41 + 47 + 39
    tasks = t.tasks
    assert (tasks["tgid"] >= 0).sum() > 0.9 * len(tasks)  # process_tree / process_stats
    # Android 12 / 5.10 reports prev_state in the >= 4.14 layout: taken as is.
    ps = set(t.events.filter(pl.col("kind") == schema.SWITCH)["prev_state"].to_list())
    assert ps == {0, 1, 2, 0x10, 0x20, 0x80, 0x100}
    sw = t.events.filter(pl.col("kind") == schema.SWITCH)
    assert (sw["cur_tid"] == sw["tid"]).all()  # the plain events' pid is the prev task


@pytest.mark.corpus
def test_corpus_systing_compact(corpus):
    """systing: compact_sched written by a BPF tracer (raw task __state as prev_state)."""
    t = traces.load(corpus / "public/systing/trace.pb")
    sw = t.events.filter(pl.col("kind") == schema.SWITCH)
    # the prev of each compact switch is the previous switch's next on that CPU
    for _, g in sw.group_by("cpu"):
        assert g["tid"][0] == -1
        assert g["tid"][1:].to_list() == g["next_tid"][:-1].to_list()
        assert g["comm"][1:].to_list() == g["next_comm"][:-1].to_list()
    assert set(sw["prev_state"].to_list()) <= {0, 1, 2, 0x10, 0x80}
    assert any("raw __state" in w for w in t.warnings)
    wk = t.events.filter(pl.col("kind") == schema.WAKING)
    assert set(wk["irq"].to_list()) == {schema.IRQ_NONE}  # waking_common_flags = 1 (irqs off)
    assert (wk["cur_tid"] >= -1).all() and (wk["cur_tid"] >= 0).mean() > 0.9


# --------------------------------------------------------------------------
# Hand-written fixtures
# --------------------------------------------------------------------------

COMPACT_TEXTPROTO = """
packet {
  ftrace_events {
    cpu: 1
    previous_bundle_end_timestamp: 0
    compact_sched {
      intern_table: "swapper/1"
      intern_table: "app"
      intern_table: "kworker/1:0"
      switch_timestamp: 1000  switch_timestamp: 50  switch_timestamp: 25
      switch_prev_state: 0    switch_prev_state: 1  switch_prev_state: 256
      switch_next_pid: 100    switch_next_pid: 0    switch_next_pid: 7
      switch_next_prio: 120   switch_next_prio: 120 switch_next_prio: 100
      switch_next_comm_index: 1 switch_next_comm_index: 0 switch_next_comm_index: 2
      waking_timestamp: 1050  waking_timestamp: 10
      waking_pid: 7           waking_pid: 100
      waking_target_cpu: 1    waking_target_cpu: 0
      waking_prio: 100        waking_prio: 120
      waking_comm_index: 2    waking_comm_index: 1
      waking_common_flags: 1  waking_common_flags: 8
    }
    event { timestamp: 1050 pid: 0 sched_wakeup { comm: "kworker/1:0" pid: 7 prio: 100 target_cpu: 1 } }
  }
}
packet {
  ftrace_events {
    cpu: 1
    previous_bundle_end_timestamp: 1075
    compact_sched {
      intern_table: "app"
      switch_timestamp: 2000 switch_prev_state: 2 switch_next_pid: 100
      switch_next_prio: 120 switch_next_comm_index: 0
    }
  }
}
packet {
  ftrace_events {
    cpu: 1
    previous_bundle_end_timestamp: 2500
    compact_sched {
      intern_table: "swapper/1"
      switch_timestamp: 3000 switch_prev_state: 1 switch_next_pid: 0
      switch_next_prio: 120 switch_next_comm_index: 0
    }
  }
}
packet {
  ftrace_events {
    cpu: 1
    lost_events: true
    previous_bundle_end_timestamp: 3000
    compact_sched {
      intern_table: "app"
      switch_timestamp: 4000 switch_prev_state: 0 switch_next_pid: 100
      switch_next_prio: 120 switch_next_comm_index: 0
    }
  }
}
"""


def test_compact_sched_decoding(tmp_path):
    p = tmp_path / "compact.textproto"
    p.write_text(COMPACT_TEXTPROTO)
    t = traces.load(p)
    assert t.format == "perfetto-textproto"
    S, W, U, L = schema.SWITCH, schema.WAKING, schema.WAKEUP, schema.LOST
    got = rows(t, "ts_ns", "kind", "cur_tid", "tid", "comm", "prio", "prev_state",
               "next_tid", "next_comm", "next_prio", "target_cpu", "irq", "lost_events")
    assert got == [
        # deltas 1000, 50, 25 -> 1000, 1050, 1075; the first switch's prev is unknown
        (1000, S, -1, -1, "", NOP, 0, 100, "app", 120, -1, -1, 0),
        # its prev is the previous switch's next (pid 100 "app" prio 120)
        (1050, S, 100, 100, "app", 120, 1, 0, "swapper/1", 120, -1, -1, 0),
        # at equal timestamps: compact switch, compact waking, plain event; a
        # compact waking's current task is the task last switched in (0)
        (1050, W, 0, 7, "kworker/1:0", 100, -1, -1, "", NOP, 1, schema.IRQ_NONE, 0),
        (1050, U, 0, 7, "kworker/1:0", 100, -1, -1, "", NOP, 1, -1, 0),
        (1060, W, 0, 100, "app", 120, -1, -1, "", NOP, 0, schema.IRQ_HARD, 0),
        (1075, S, 0, 0, "swapper/1", 120, schema.STATE_PREEMPTED, 7, "kworker/1:0", 100, -1, -1, 0),
        # the next bundle continues (previous_bundle_end_timestamp 1075): prev implied across it
        (2000, S, 7, 7, "kworker/1:0", 100, schema.STATE_DISK, 100, "app", 120, -1, -1, 0),
        # previous_bundle_end_timestamp 2500 but the CPU's data ended at 2000: a bundle is missing
        (3000, L, -1, -1, "", NOP, -1, -1, "", NOP, -1, -1, 0),
        (3000, S, -1, -1, "", NOP, 1, 0, "swapper/1", 120, -1, -1, 0),
        # lost_events set: LOST, and the chain starts again
        (4000, L, -1, -1, "", NOP, -1, -1, "", NOP, -1, -1, 0),
        (4000, S, -1, -1, "", NOP, 0, 100, "app", 120, -1, -1, 0),
    ]
    assert t.info()["lost_events"] == -1  # lost, count unknown
    assert t.cpus.filter(pl.col("cpu") == 1)["lost_events"].to_list() == [-1]
    assert any("lost" in w for w in t.warnings)
    assert any("no known previous task" in w for w in t.warnings)


@pytest.mark.corpus
def test_crop_fixture_timestamps(corpus):
    """Timestamps are absolute at the start of each bundle, whatever
    previous_bundle_end_timestamp says; ties across CPUs go by CPU."""
    t = traces.load(corpus / "public/perfetto/crop_compact_sched_switch.textproto")
    assert rows(t, "ts_ns", "cpu", "tid", "comm", "next_tid", "next_comm") == [
        (500, 6, -1, "", 40, "zero:6"),
        (600, 6, 40, "zero:6", 41, "one:6"),
        (1100, 3, -1, "", 50, "zero:3"),
        (1100, 6, 41, "one:6", 42, "two:6"),
        (1200, 3, 50, "zero:3", 51, "one:3"),
        (1200, 6, 42, "two:6", 43, "three:6"),
    ]
    # CPU 3's first bundle follows data that is not in the trace
    assert any("previous_bundle_end_timestamp 1000" in w for w in t.warnings)


def _plain_trace() -> bytes:
    """A binary trace assembled by hand (FtraceEvent field numbers from
    perfetto_trace_pb2): system_info says Linux 4.9 (prev_state in the old
    layout), a plain sched_switch with prev_prio -1 (a 10-byte varint), a
    GenericFtraceEvent sched_stat_runtime, a cpu_idle to skip, and a
    sched_stat_runtime declared by a GenericEventDescriptor."""
    from google.protobuf import descriptor_pb2

    utsname = fb(1, "Linux") + fb(3, "4.9.117")
    sysinfo = packet(fb(45, fb(1, utsname)))
    switch = fb(4, fb(1, "rt") + fv(2, 42) + fv(3, -1) + fv(4, 0x1000) +
                fb(5, "swapper/0") + fv(6, 0) + fv(7, 120))
    generic = fb(327, fb(1, "sched_stat_runtime") +
                 fb(2, fb(1, "comm") + fb(3, "rt")) + fb(2, fb(1, "pid") + fv(4, 42)) +
                 fb(2, fb(1, "runtime") + fv(5, 123456)) + fb(2, fb(1, "vruntime") + fv(5, 999)))
    cpu_idle = fb(13, fv(1, 4294967295) + fv(2, 0))
    desc = descriptor_pb2.DescriptorProto(name="sched_stat_runtime", field=[
        descriptor_pb2.FieldDescriptorProto(name="comm", number=1, type=9),
        descriptor_pb2.FieldDescriptorProto(name="pid", number=2, type=5),
        descriptor_pb2.FieldDescriptorProto(name="runtime", number=3, type=4)])
    self_described = fb(20001, fb(1, "kworker/0:1") + fv(2, 9) + fv(3, 777))
    bundle = (fv(1, 0) +
              fb(2, fv(1, 5000) + fv(2, 42) + switch) +
              fb(2, fv(1, 5000) + fv(2, 42) + generic) +
              fb(2, fv(1, 5100) + fv(2, 0) + cpu_idle) +
              fb(2, fv(1, 5200) + fv(2, 9) + self_described) +
              fb(11, fv(1, 20001) + fb(2, desc.SerializeToString())))
    return sysinfo + packet(fb(1, bundle))


def test_plain_events_by_hand(tmp_path):
    t = traces.load(write(tmp_path, _plain_trace()))
    assert t.info()["kernel"] == "4.9.117"
    assert rows(t, "ts_ns", "kind", "cur_tid", "tid", "comm", "prio", "prev_state", "next_tid",
                "runtime_ns", "vruntime_ns") == [
        # 4.9: 0x1000 is TASK_STATE_MAX, the preemption marker ("R+")
        (5000, schema.SWITCH, 42, 42, "rt", -1, schema.STATE_PREEMPTED, 0, -1, -1),
        (5000, schema.STAT_RUNTIME, 42, 42, "rt", NOP, -1, -1, 123456, 999),
        (5200, schema.STAT_RUNTIME, 9, 9, "kworker/0:1", NOP, -1, -1, 777, -1),
    ]
    assert t.info()["skipped_lines"] == 1  # the cpu_idle


def test_prev_state_layouts():
    m, layout = perfetto.prev_state_map(np.array([0, 1, 2, 0x80, 0x100]), "6.1.0")
    assert layout == "report" and m.tolist() == [0, 1, 2, 0x80, 0x100]
    # raw task->__state (BPF tracers): KILLABLE, IDLE, FREEZABLE|S, WAKING, TASK_DEAD
    m, layout = perfetto.prev_state_map(np.array([0, 0x102, 0x402, 0x2001, 0x200, 0x80]), "")
    assert layout == "raw" and m.tolist() == [0, 2, 0x80, 1, 0, 0x10]
    # Linux < 4.14: p->state, TASK_STATE_MAX marks preemption, TASK_DEAD 0x40, PARKED 0x200
    m, layout = perfetto.prev_state_map(np.array([0, 1, 2, 0x40, 0x200, 0x402, 0x800]), "4.4.21")
    assert layout == "old" and m.tolist() == [0, 1, 2, 0x10, 0x40, 0x80, 0x100]


# --------------------------------------------------------------------------
# Application markers: ftrace print events and track events
# --------------------------------------------------------------------------

def fev(ts: int, pid: int, payload: bytes) -> bytes:
    """A FtraceEvent {timestamp 1; pid 2; <event>} record of a bundle."""
    return fb(2, fv(1, ts) + fv(2, pid) + payload)


def print_(text: str | bytes) -> bytes:
    """FtraceEvent.print (3): PrintFtraceEvent {ip 1; buf 2}."""
    return fb(3, fv(1, 0xFFFFFFFF81000000) + fb(2, text))


def switch_(prev: int, nxt: int) -> bytes:
    return fb(4, fb(1, "a") + fv(2, prev) + fv(3, 120) + fv(4, 1) + fb(5, "b") + fv(6, nxt) + fv(7, 120))


WAKING_43 = fb(20, fb(1, "w") + fv(2, 43) + fv(3, 120) + fv(5, 0))
TRUNCATED_PRINT = fb(3, b"\x12\x10abc")  # buf claims 16 bytes, the message holds 3


def bundle_(cpu: int, *events: bytes, clock: int | None = None) -> bytes:
    return packet(fb(1, fv(1, cpu) + b"".join(events) + (fv(5, clock) if clock is not None else b"")))


def _print_trace(prints: bool = True, bad: bool = False, clock: int | None = None) -> bytes:
    """Three scheduler events on CPU 0 and, between them, trace_marker writes: thread 42
    nests "draw" in "frame", an async "load" (cookie 7) begins on 43 and ends on 44, a
    counter; ``bad`` adds a truncated PrintFtraceEvent and one without a pid."""
    marks = [fev(1100, 42, print_("B|42|frame\n")), fev(1150, 43, print_("S|40|load|7")),
             fev(1200, 42, print_("B|42|draw")), fev(1300, 42, print_("E|42\n")),
             fev(1400, 42, print_("C|42|queue|3")), fev(1500, 42, print_("E|42")),
             fev(1600, 44, print_("F|40|load|7"))]
    if bad:
        marks += [fev(1700, 42, TRUNCATED_PRINT), fb(2, fv(1, 1750) + print_("B|42|no pid"))]
    sched = [fev(1000, 0, switch_(0, 42)), fev(1250, 42, WAKING_43), fev(1800, 42, switch_(42, 0))]
    evs = sched[:1] + marks[:3] + sched[1:2] + marks[3:] + sched[2:] if prints else sched
    return bundle_(0, *evs, clock=clock)


def test_print_markers_become_spans(tmp_path):
    t = traces.load(write(tmp_path, _print_trace()))
    got = t.spans.select("tid", "end_tid", "name", "group", "start_ns", "end_ns", "origin", "depth").rows()
    assert got == [  # by start, then tid, then depth; the trailing newlines are not part of the text
        (42, 42, "frame", "", 1100, 1500, schema.SPAN_MARKER, 0),
        (43, 44, "load", "7", 1150, 1600, schema.SPAN_ASYNC, 0),
        (42, 42, "draw", "", 1200, 1300, schema.SPAN_MARKER, 1),
    ]
    assert t.info()["spans"] == 3 and t.warnings == []
    assert t.info()["skipped_lines"] == 0  # markers are not skipped events
    # the scheduler events are those of the same trace without the markers
    plain = traces.load(write(tmp_path, _print_trace(prints=False), "plain.pftrace"))
    assert t.events.equals(plain.events) and t.counts() == plain.counts()
    assert t.counts()["sched_switch"] == 2 and t.counts()["sched_waking"] == 1
    assert plain.spans.height == 0 and plain.info()["spans"] == 0


def test_damaged_print_events_are_counted_warnings(tmp_path):
    data = _print_trace(bad=True)
    t = traces.load(write(tmp_path, data))
    damage = data.index(TRUNCATED_PRINT) + 3  # the length byte of buf (field 3 tag, length, buf tag)
    assert data[damage] == 0x10
    assert f"1 print events (trace_marker writes) whose PrintFtraceEvent is malformed: left out " \
        f"(the first at byte {damage})" in t.warnings
    assert any(w.startswith("1 print events (trace_marker writes) without a timestamp or pid") for w in t.warnings)
    assert t.spans["name"].to_list() == ["frame", "load", "draw"]
    assert t.counts() == traces.load(write(tmp_path, _print_trace(prints=False), "p.pftrace")).counts()


def test_many_print_events_grow_the_marker_table(tmp_path, monkeypatch):
    """More print events in one bundle than the marker table holds, and more in the file
    than it holds between two drains."""
    one = [fev(2000 + 10 * i, 42, print_("B|42|x" if i % 2 == 0 else "E|42")) for i in range(9)]
    data = _print_trace() + bundle_(0, *one) + b"".join(
        bundle_(1, fev(3000 + 10 * i, 50, print_(f"B|50|n{i}")), fev(3005 + 10 * i, 50, print_("E|50")),
                fev(3007 + 10 * i, 0, switch_(0, 50))) for i in range(6))
    monkeypatch.setattr(perfetto, "_MARKS", 2)
    t = traces.load(write(tmp_path, data))
    x = t.spans.filter(pl.col("name") == "x")
    assert x.select("start_ns", "end_ns").rows() == [(2000, 2010), (2020, 2030), (2040, 2050), (2060, 2070)]
    assert t.spans.filter(pl.col("tid") == 50).select("name", "start_ns", "end_ns").rows() == \
        [(f"n{i}", 3000 + 10 * i, 3005 + 10 * i) for i in range(6)]
    assert any("still open" in w for w in t.warnings)  # the 9th marker, a begin


def test_print_markers_in_compressed_packets(tmp_path):
    inner = _print_trace(bad=True)
    blob = zlib.compress(inner)
    data = packet(fb(50, blob))
    t = traces.load(write(tmp_path, data))
    assert t.spans.height == 3
    damage = inner.index(TRUNCATED_PRINT) + 3
    assert any(f"(the first at byte {damage} of the compressed packets at byte {data.index(blob)})" in w
               for w in t.warnings)


SEQ_A, SEQ_B = 5, 6
THREAD_TRACK, PROCESS_TRACK, INC_TRACK = 1001, 2002, 3003


def te(ts: int | None, seq: int, *fields: bytes, flags: int = 2, clock: int | None = None) -> bytes:
    """A TracePacket with a TrackEvent (field 11) built of ``fields``: type 9, name_iid 10,
    track_uuid 11, name 23."""
    head = (fv(8, ts) if ts is not None else b"") + (fv(58, clock) if clock is not None else b"")
    return packet(head, fv(10, seq), fv(13, flags), fb(11, b"".join(fields)))


def _track_packets() -> list[bytes]:
    """Sequence 5: interned name "decode" (iid 1) on its default track (thread 51 of
    process 50), a nested slice with a literal name, a slice on a process track, an
    instant, a slice in CLOCK_MONOTONIC. Sequence 6: the SDK's default clock 64
    (incremental, defined against BOOTTIME 10000 by a clock snapshot); its own iid 1 is
    "step"."""
    return [
        packet(fv(10, SEQ_A), fv(13, 1), fb(59, fb(11, fv(11, THREAD_TRACK))),
               fb(12, fb(2, fv(1, 1) + fb(2, "decode")))),
        packet(fb(60, fv(1, THREAD_TRACK) + fb(4, fv(1, 50) + fv(2, 51)))),
        te(2000, SEQ_A, fv(9, 1), fv(10, 1)),                                      # begin decode
        te(2100, SEQ_A, fv(9, 1), fv(11, THREAD_TRACK), fb(23, "literal")),          # begin literal
        te(2200, SEQ_A, fv(9, 2), fv(11, THREAD_TRACK)),                             # end literal
        te(2300, SEQ_A, fv(9, 1), fv(11, PROCESS_TRACK), fb(23, "on a process")),    # no thread
        te(2400, SEQ_A, fv(9, 3), fb(23, "an instant")),
        te(2500, SEQ_A, fv(9, 2)),                                                   # end decode
        te(2600, SEQ_A, fv(9, 1), fb(23, "monotonic"), clock=3),
        packet(fb(60, fv(1, PROCESS_TRACK) + fb(3, fv(1, 50)))),  # descriptors may come late
        packet(fv(10, SEQ_B), fv(13, 1), fb(59, fv(58, 64) + fb(11, fv(11, INC_TRACK))),
               fb(12, fb(2, fv(1, 1) + fb(2, "step"))),
               fb(6, fb(1, fv(1, 6) + fv(2, 10_000)) + fb(1, fv(1, 64) + fv(2, 10_000) + fv(3, 1)))),
        packet(fv(10, SEQ_B), fb(60, fv(1, INC_TRACK) + fb(4, fv(1, 60) + fv(2, 61)))),
        te(500, SEQ_B, fv(9, 1), fv(10, 1)),         # 10_000 + 500
        te(250, SEQ_B, fv(9, 2)),                     # + 250
    ]


def test_track_event_slices_become_spans(tmp_path):
    pk = _track_packets()
    data = _print_trace(prints=False) + b"".join(pk)
    t = traces.load(write(tmp_path, data))
    got = t.spans.select("tid", "end_tid", "name", "start_ns", "end_ns", "origin", "depth").rows()
    assert got == [
        (51, 51, "decode", 2000, 2500, schema.SPAN_TRACK, 0),
        (51, 51, "literal", 2100, 2200, schema.SPAN_TRACK, 1),
        (61, 61, "step", 10_500, 10_750, schema.SPAN_TRACK, 0),
    ]
    assert t.info()["spans"] == 3
    off = {name: data.index(p) + 2 for name, p in (("process", pk[5]), ("mono", pk[8]))}  # past tag, length
    assert sorted(t.warnings) == sorted([
        "1 track events timed in a clock other than BOOTTIME (clock id 3; this reader does not convert "
        f"between clocks): left out (the first at byte {off['mono']})",
        "1 track-event slices on tracks without a thread (process, async or undescribed tracks): left out "
        f"(the first at byte {off['process']})"])
    plain = traces.load(write(tmp_path, _print_trace(prints=False), "plain.pftrace"))
    assert t.events.equals(plain.events)


def test_track_events_in_a_textproto_name_packets(tmp_path):
    from google.protobuf import text_format
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    trace = pb.Trace.FromString(_print_trace() + b"".join(_track_packets()))
    p = tmp_path / "t.textproto"
    p.write_text(text_format.MessageToString(trace))
    t = traces.load(p)
    assert t.spans["name"].to_list() == ["frame", "load", "draw", "decode", "literal", "step"]
    assert any(w.endswith("left out (the first at packet 7)") and "without a thread" in w for w in t.warnings)


def test_track_event_interning_follows_its_sequence(tmp_path):
    """Names are interned per sequence; a clear starts afresh; after lost packets a
    sequence's events that need its state are left out until it is cleared again."""
    seq7 = [packet(fv(10, 7), fv(13, 1), fb(59, fb(11, fv(11, 7007))), fb(12, fb(2, fv(1, 1) + fb(2, "seven")))),
            packet(fb(60, fv(1, 7007) + fb(4, fv(1, 70) + fv(2, 71))))]
    seq8 = [packet(fv(10, 8), fv(13, 1), fb(59, fb(11, fv(11, 8008))), fb(12, fb(2, fv(1, 1) + fb(2, "eight")))),
            packet(fb(60, fv(1, 8008) + fb(4, fv(1, 80) + fv(2, 81))))]
    evs = [te(100, 7, fv(9, 1), fv(10, 1)), te(110, 8, fv(9, 1), fv(10, 1)),
           te(120, 7, fv(9, 2)), te(130, 8, fv(9, 2)),
           packet(fv(10, 7), fv(13, 1), fb(59, fb(11, fv(11, 7007)))),        # cleared, nothing interned
           te(200, 7, fv(9, 1), fv(10, 1)), te(210, 7, fv(9, 2)),
           packet(fv(8, 300), fv(10, 8), fv(42, 1), fv(13, 2), fb(11, fv(9, 1) + fv(10, 1))),  # after a loss
           te(310, 8, fv(9, 2)),
           packet(fv(10, 8), fv(13, 1), fb(59, fb(11, fv(11, 8008))), fb(12, fb(2, fv(1, 1) + fb(2, "again")))),
           te(400, 8, fv(9, 1), fv(10, 1)), te(410, 8, fv(9, 2))]
    data = _print_trace(prints=False) + b"".join(seq7 + seq8 + evs)
    t = traces.load(write(tmp_path, data))
    assert t.spans.select("tid", "name", "start_ns", "end_ns").rows() == [
        (71, "seven", 100, 120), (81, "eight", 110, 130), (71, "name_iid 1", 200, 210), (81, "again", 400, 410)]
    text = "\n".join(t.warnings)
    assert "1 track-event slices whose interned name is not in their sequence's interned data" in text
    assert "2 track events after packets were lost on their sequence" in text


def test_track_events_with_another_ftrace_clock_are_left_out(tmp_path):
    """Track events are in boot time; with the scheduler events in another ftrace clock
    (FtraceEventBundle.ftrace_clock 2, global) they are not mixed in; prints are (same clock)."""
    t = traces.load(write(tmp_path, _print_trace(clock=2) + b"".join(_track_packets())))
    assert t.info()["clock"] == "global"
    assert t.spans["name"].to_list() == ["frame", "load", "draw"]
    assert any(w.startswith("4 track-event slices are in boot time but the scheduler events in the global")
               for w in t.warnings)


def test_damaged_track_packets_are_counted_warnings(tmp_path):
    """A packet the message classes cannot parse is left out (counted, with its offset);
    a name that is not UTF-8 is kept, its bad bytes replaced."""
    desc = packet(fb(60, fv(1, 9) + fb(4, fv(1, 90) + fv(2, 91))))
    odd = te(10, SEQ_A, fv(9, 1), fv(11, 9), fb(23, b"\x80\x80ok"))
    end = te(20, SEQ_A, fv(9, 2), fv(11, 9))
    broken = te(30, SEQ_A, fv(9, 1), fv(11, 9), fb(4, b"\x0a\x05ab"))  # a debug annotation cut short
    data = _print_trace() + desc + odd + end + broken
    t = traces.load(write(tmp_path, data))
    assert t.spans.filter(pl.col("tid") == 91).select("name", "start_ns", "end_ns").rows() == [
        ("\ufffd\ufffdok", 10, 20)]
    at = data.index(broken) + 2
    assert t.warnings == [f"1 packets with track events that do not parse: left out (the first at byte {at})"]


# --------------------------------------------------------------------------
# Writer: compact and plain encodings, round trips
# --------------------------------------------------------------------------

@pytest.mark.corpus
def test_compact_and_plain_encodings_agree(corpus, tmp_path):
    src = traces.load(corpus / MS)
    a = write_perfetto(tmp_path / "c.pftrace", src, compact=True)
    b = write_perfetto(tmp_path / "p.pftrace", src, compact=False)
    assert a.stat().st_size < b.stat().st_size / 2
    ta, tb = traces.load(a), traces.load(b)
    assert_same_events(ta, tb)
    assert_same_events(ta, src)  # and both equal the original in every carried field
    assert ta.counts() == src.counts() and ta.info()["cpus"] == src.info()["cpus"]
    assert ta.tasks["tgid"].to_list() == src.tasks["tgid"].to_list()
    assert ta.info()["kernel"] == src.info()["kernel"]


@pytest.mark.corpus
def test_capture_round_trip(corpus, tmp_path):
    """A capture with every kind (fork, exec, migrate, stat_runtime, irq contexts)."""
    pytest.importorskip("traces.text")
    src = traces.load(corpus / "captures/c_infer_torch/report_raw.txt")
    for compact in (True, False):
        back = traces.load(write_perfetto(tmp_path / f"{compact}.pftrace", src, compact=compact))
        assert_same_events(back, src)
        assert back.counts() == src.counts()


def _synthetic_events() -> dict:
    """Every kind, irq contexts, absent prios, a LOST marker, cross-bundle ties."""
    S, W, U, N, M, F, E, X, R, L = range(10)
    # ts, cpu, kind, irq, cur, tid, comm, prio, state, next, ncomm, nprio, tcpu, ocpu, ptid, pcomm,
    # old, file, run, vrun
    ev = [
        (100, 0, S, 0, 5, 5, "a", 120, 1, 6, "b", 120, -1, -1, -1, "", -1, "", -1, -1),
        (100, 0, W, 2, 6, 7, "c", 100, -1, -1, "", NOP, 1, -1, -1, "", -1, "", -1, -1),
        (100, 1, W, 1, 0, 8, "d", 139, -1, -1, "", NOP, 0, -1, -1, "", -1, "", -1, -1),
        (110, 0, S, 0, 6, 6, "b", 120, 0x100, 7, "c", 100, -1, -1, -1, "", -1, "", -1, -1),
        (110, 0, U, -1, 7, 8, "d", 139, -1, -1, "", NOP, 0, -1, -1, "", -1, "", -1, -1),
        (120, 1, N, 0, 0, 9, "e", 120, -1, -1, "", NOP, 1, -1, -1, "", -1, "", -1, -1),
        (121, 1, F, 0, 9, 10, "e", NOP, -1, -1, "", NOP, -1, -1, 9, "e", -1, "", -1, -1),
        (122, 1, E, 0, 10, 10, "", NOP, -1, -1, "", NOP, -1, -1, -1, "", 10, "/bin/x", -1, -1),
        (123, 1, M, 2, 0, 10, "x", 120, -1, -1, "", NOP, 0, 1, -1, "", -1, "", -1, -1),
        (124, 0, R, 2, 7, 7, "c", NOP, -1, -1, "", NOP, -1, -1, -1, "", -1, "", 5000, 77),
        (125, 0, W, -1, 7, 5, "a", 120, -1, -1, "", NOP, 0, -1, -1, "", -1, "", -1, -1),  # no flags
        (130, 0, L, -1, -1, -1, "", NOP, -1, -1, "", NOP, -1, -1, -1, "", -1, "", -1, -1),
        (130, 0, S, 0, 7, 7, "c", 100, 2, 5, "a", 120, -1, -1, -1, "", -1, "", -1, -1),
        (140, 0, X, 0, 5, 5, "a", 120, -1, -1, "", NOP, -1, -1, -1, "", -1, "", -1, -1),
        (140, 0, S, 0, 5, 5, "zz", 110, 0x10, 0, "swapper/0", 120, -1, -1, -1, "", -1, "", -1, -1),
    ]
    names = ["ts_ns", "cpu", "kind", "irq", "cur_tid", "tid", "comm", "prio", "prev_state", "next_tid",
             "next_comm", "next_prio", "target_cpu", "orig_cpu", "parent_tid", "parent_comm", "old_tid",
             "filename", "runtime_ns", "vruntime_ns"]
    return {n: [e[i] for e in ev] for i, n in enumerate(names)}


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("bundle_events", [1, 3, 2048])
def test_round_trip_synthetic(tmp_path, compact, bundle_events):
    data = _synthetic_events()
    table = pl.DataFrame(data)
    tasks = {"tid": [5, 6, 7], "tgid": [5, 5, 7], "comm": ["a", "b", "c"]}
    p = write_perfetto(tmp_path / "s.pftrace", table, tasks, compact=compact, bundle_events=bundle_events)
    t = traces.load(p)
    got = canonical(t)
    for name, values in data.items():
        want = [v if not (name == "irq" and data["kind"][i] == schema.SWITCH) else -1
                for i, v in enumerate(values)]
        assert got[name].to_list() == want, name
    tasks = dict(zip(t.tasks["tid"].to_list(), t.tasks["tgid"].to_list()))
    assert tasks[6] == 5 and tasks[7] == 7
    assert t.info()["lost_events"] == -1
    # what went into compact_sched: switches whose prev the previous switch
    # implies, wakings whose cur_tid is the task switched in (one with and one
    # without common_flags cannot share a bundle's waking columns)
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    trace = pb.Trace.FromString(p.read_bytes())
    bundles = [pk.ftrace_events for pk in trace.packet if pk.HasField("ftrace_events")]
    n_sw = sum(len(b.compact_sched.switch_timestamp) for b in bundles)
    n_wk = sum(len(b.compact_sched.waking_timestamp) for b in bundles)
    n_plain = sum(len(b.event) for b in bundles)
    if not compact:
        assert (n_sw, n_wk, n_plain) == (0, 0, 14)
    elif bundle_events == 2048:
        assert (n_sw, n_wk, n_plain) == (1, 1, 12)
    assert [b.previous_bundle_end_timestamp for b in bundles if b.cpu == 1][:1] == [0]
    assert sum(b.lost_events for b in bundles) == 1


def test_writer_takes_partial_tables(tmp_path):
    """A replayed schedule: only some columns, numpy arrays and lists of str."""
    ev = {"ts_ns": np.array([10, 20, 30]), "cpu": np.array([0, 0, 0]),
          "kind": np.array([schema.SWITCH, schema.WAKEUP_NEW, schema.SWITCH]),
          "tid": np.array([0, 3, 2]), "comm": ["swapper/0", "child", "worker"],
          "next_tid": np.array([2, -1, 0]), "next_comm": ["worker", "", "swapper/0"]}
    t = traces.load(write_perfetto(tmp_path / "r.pftrace", ev))
    assert rows(t, "ts_ns", "kind", "tid", "comm", "next_tid", "next_comm") == [
        (10, schema.SWITCH, 0, "swapper/0", 2, "worker"),
        (20, schema.WAKEUP_NEW, 3, "child", -1, ""),
        (30, schema.SWITCH, 2, "worker", 0, "swapper/0"),
    ]


# --------------------------------------------------------------------------
# Streaming, compression, damage
# --------------------------------------------------------------------------

@pytest.mark.corpus
def test_streaming_blocks_and_gzip(corpus, tmp_path, monkeypatch):
    whole = traces.load(corpus / MS)
    gz = tmp_path / "t.pftrace.gz"
    gz.write_bytes(gzip.compress((corpus / MS).read_bytes()))
    monkeypatch.setattr(perfetto, "BLOCK", 4096)  # packets cut across many reads
    seen = []
    small = traces.load(gz, progress=seen.append)
    assert small.info()["compression"] == "gzip"
    assert small.events.equals(whole.events)
    assert seen == sorted(seen) and seen[-1] == gz.stat().st_size


def test_tiny_tables_read_the_same(tmp_path, monkeypatch):
    """The kernel's string, bundle and aux tables filling up many times over (a
    plain-encoded trace holds ~4 strings per event): each stop drains them and
    goes on. (A stop for a full string table used to double the aux table
    instead, every time: gigabytes after ~20 stops.)"""
    data = _synthetic_events()
    n = len(data["ts_ns"])
    big = {k: [v for _ in range(40) for v in vs] for k, vs in data.items()}
    big["ts_ns"] = [t + 1000 * (i // n) for i, t in enumerate(big["ts_ns"])]
    p = write_perfetto(tmp_path / "p.pftrace", pl.DataFrame(big), compact=False, bundle_events=7)
    want = traces.load(p)
    monkeypatch.setattr(perfetto, "_SPANS", 48)
    monkeypatch.setattr(perfetto, "_AUX", 2)
    monkeypatch.setattr(perfetto, "_BUNDLES", 3)
    seen = []
    real = perfetto._Reader._make_room
    monkeypatch.setattr(perfetto._Reader, "_make_room",
                        lambda self, *a: (real(self, *a), seen.append(len(self.p.aux)))[0])
    got = traces.load(p)
    assert got.events.equals(want.events)
    assert len(seen) > 50 and max(seen) == 2


@pytest.mark.parametrize("field", [50, 133])
def test_compressed_packets(tmp_path, field):
    """compressed_packets (zlib) and zstd_compressed_packets hold more Trace.packet records."""
    import zstandard

    inner = _plain_trace()
    blob = zlib.compress(inner) if field == 50 else zstandard.ZstdCompressor().compress(inner)
    t = traces.load(write(tmp_path, packet(fb(field, blob))))
    assert t.counts()["sched_stat_runtime"] == 2 and t.info()["kernel"] == "4.9.117"
    with pytest.raises(TraceError, match=r"byte \d+: corrupt Perfetto data: compressed packets do not"):
        traces.load(write(tmp_path, packet(fb(field, b"\x00garbage")), "bad.pftrace"))


def test_several_compressed_packets_and_plain_ones_after(tmp_path):
    """Compressed packets are expanded through the reader's own state: the scan goes on
    after each of them where it was in the outer data (it used to go on where the inner
    scan ended, misreading every later packet)."""
    inner = _plain_trace()
    data = packet(fb(50, zlib.compress(inner))) + packet(fb(50, zlib.compress(inner))) + inner
    t = traces.load(write(tmp_path, data))
    one = traces.load(write(tmp_path, inner, "one.pftrace"))
    assert {k: 3 * v for k, v in one.counts().items()} == t.counts()
    assert t.info()["skipped_lines"] == 3 * one.info()["skipped_lines"]


def _compact_fixture_packets() -> list[bytes]:
    """COMPACT_TEXTPROTO as binary Trace.packet records."""
    from google.protobuf import text_format
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

    t = text_format.Parse(COMPACT_TEXTPROTO, pb.Trace())
    return [packet(p.SerializeToString()) for p in t.packet]


def test_truncated_file_keeps_events_before(tmp_path):
    records = _compact_fixture_packets()
    full = b"".join(records)
    t = traces.load(write(tmp_path, full[:-5]), format="perfetto")
    start = len(full) - len(records[-1])
    assert any(f"starting at byte {start}" in w and "truncated" in w for w in t.warnings)
    assert t.events["ts_ns"].max() == 3000  # the last packet (4000) is cut


def test_corrupt_data_names_offset(tmp_path):
    good = packet(fb(1, fv(1, 0) + fb(4, fb(1, varint(100)) + fb(3, varint(5)) + fb(3, varint(6)))))
    with pytest.raises(TraceError, match=r"byte \d+.*different lengths"):
        traces.load(write(tmp_path, good), format="perfetto")
    bad_wire = packet(fb(1, fv(1, 0) + bytes([0x17])))  # field 2, wire type 7
    with pytest.raises(TraceError, match="byte 6: corrupt Perfetto data: invalid protobuf wire type"):
        traces.load(write(tmp_path, bad_wire), format="perfetto")


def test_no_ftrace_data_lists_packet_types(tmp_path):
    data = packet(fb(45, fb(1, fb(3, "6.1"))), fv(10, 1)) + packet(fb(2, b""), fv(10, 1)) * 2
    with pytest.raises(TraceError, match=r"no ftrace data.*process_tree \(2\), system_info \(1\)"):
        traces.load(write(tmp_path, data))


def test_textproto_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.textproto"
    p.write_text("packet {\n  ftrace_events {\n    cpu: 1\n    bogus: 3\n  }\n}\n")
    with pytest.raises(TraceError, match="line 4"):
        traces.load(p)


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> bytes:
    """A small real-looking file: the writer's compact encoding of the
    hand-written fixtures plus the plain one, a process tree and system_info,
    print events and track events, plain and in compressed packets."""
    d = tmp_path_factory.mktemp("small")
    (d / "c.textproto").write_text(COMPACT_TEXTPROTO)
    t = traces.load(d / "c.textproto")
    p = write_perfetto(d / "c.pftrace", t, {"tid": [7, 100], "tgid": [7, 100], "comm": ["kw", "app"]},
                       kernel="6.1.0")
    marks = _print_trace(bad=True) + b"".join(_track_packets())
    return p.read_bytes() + _plain_trace() + marks + packet(fb(50, zlib.compress(marks)))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_damage_only_raises_trace_error(tmp_path_factory, small_trace, data):
    buf = bytearray(small_trace)
    if data.draw(st.booleans()):
        buf = buf[:data.draw(st.integers(0, len(buf) - 1))]
    else:
        for pos in data.draw(st.lists(st.integers(0, len(buf) - 1), min_size=1, max_size=6)):
            buf[pos] = data.draw(st.integers(0, 255))
    p = tmp_path_factory.mktemp("damage") / "d.pftrace"
    p.write_bytes(bytes(buf))
    with time_limit(30):
        try:
            traces.load(p, format="perfetto")
        except TraceError:
            pass
