"""Perfetto track events as application markers (the Perfetto reader's pass 1).

Apps instrumented with the Perfetto SDK (``TRACE_EVENT_BEGIN`` / ``TRACE_EVENT_END``,
``TRACE_EVENT``) write ``TracePacket.track_event`` (field 11) packets, not ftrace
markers. The scanner hands back, whole, the packets these need (see
``traces._perfetto_kernel._packet``); this module follows what each packet sequence
(``trusted_packet_sequence_id`` 10) sets up, the way the trace processor's tokenizer
does (``src/trace_processor/importers/proto/proto_trace_reader.cc: ParsePacket``):

1. ``incremental_state_cleared`` (41) or ``sequence_flags`` (13) bit
   SEQ_INCREMENTAL_STATE_CLEARED (1) starts the sequence's interning afresh;
   ``previous_packet_dropped`` (42) on a sequence seen before invalidates it until then;
2. ``trace_packet_defaults`` (59): ``timestamp_clock_id`` (58) and
   ``track_event_defaults.track_uuid`` (11) of the packets that do not set them;
3. ``interned_data`` (12) ``event_names`` (2): ``EventName {iid 1; name 2}``;
4. ``clock_snapshot`` (6) defining a sequence-scoped clock (ids 64-127) against
   BOOTTIME (6): ``Clock {clock_id 1; timestamp 2; is_incremental 3;
   unit_multiplier_ns 4}``; the packet is not an event itself;
5. packets flagged SEQ_NEEDS_INCREMENTAL_STATE (2) on a sequence whose state is
   invalid are left out;
6. the timestamp (8) in its clock (58, else the default, else the trace's clock,
   boot time): BOOTTIME as is, a sequence-scoped clock through the sequence's
   snapshot (an incremental one adds each packet's value to the last, as the SDK's
   default clock 64 encodes them); other clocks are not converted (counted warning);
7. ``TrackEvent {type 9 (1 SLICE_BEGIN, 2 SLICE_END; instants and counters carry no
   interval); track_uuid 11; name_iid 10 | name 23}``.

Tracks are resolved once the file is read (descriptors may follow the events):
``TrackDescriptor {uuid 1; thread 4: ThreadDescriptor {pid 1; tid 2}}``, or, for an
event with no track on a sequence with a legacy ``thread_descriptor`` (44), that
thread. A slice on a thread's track becomes ``B|pid|name`` / ``E|pid`` markers of that
thread (``track=True``: schema.SPAN_TRACK); slices on tracks with no thread (process
and async tracks) are a counted warning.
"""

from __future__ import annotations

from .errors import Warnings
from .spans import Markers

BOOTTIME = 6
SEQ_CLOCK_MIN, SEQ_CLOCK_END = 64, 128
SLICE_BEGIN, SLICE_END = 1, 2
_I64_MAX = (1 << 63) - 1


def _text(v) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


class _Sequence:
    """What one packet sequence has set up."""

    __slots__ = ("names", "clock", "track", "thread", "clocks", "valid")

    def __init__(self) -> None:
        self.thread: tuple[int, int] | None = None  # legacy TracePacket.thread_descriptor
        self.clocks: dict[int, list | None] = {}    # sequence-scoped clocks (kept across clears)
        self.valid = True
        self.clear()

    def clear(self) -> None:
        self.names: dict[int, str] = {}
        self.clock: int | None = None  # TracePacketDefaults.timestamp_clock_id
        self.track: int | None = None  # TrackEventDefaults.track_uuid
        self.valid = True


class TrackEvents:
    """Collects track-event slice begins/ends from whole TracePackets (:meth:`packet`,
    in file order), and the tracks' threads (:meth:`descriptor`); :meth:`finish` turns
    them into markers."""

    def __init__(self) -> None:
        self.seqs: dict[int, _Sequence] = {}
        self.threads: dict[int, tuple[int, int] | None] = {}  # track uuid -> (pid, tid), None: no thread
        # (ts, track uuid or None, (pid, tid) or None, type, name, where)
        self.slices: list[tuple] = []
        self.problems: dict[str, list] = {}  # key -> [count, first place, what]

    def _problem(self, key: str, where: str, what: str) -> None:
        p = self.problems.get(key)
        if p is None:
            self.problems[key] = [1, where, what]
        else:
            p[0] += 1

    def descriptor(self, td) -> None:
        """A TrackDescriptor (parsed message)."""
        if not td.HasField("uuid"):
            return
        if td.HasField("thread") and td.thread.tid > 0:
            self.threads[td.uuid] = (int(td.thread.pid), int(td.thread.tid))
        else:
            self.threads.setdefault(td.uuid, None)

    def bad_packet(self, where: str) -> None:
        self._problem("perfetto-track-packet", where, "packets with track events that do not parse: left out")

    def packet(self, pkt, where: str) -> None:
        """One TracePacket (parsed message) the scanner handed back."""
        sid = pkt.trusted_packet_sequence_id
        s = self.seqs.get(sid)
        if s is None:
            s = self.seqs[sid] = _Sequence()
        elif pkt.previous_packet_dropped and not pkt.first_packet_on_sequence:
            s.valid = False
        if pkt.incremental_state_cleared or pkt.sequence_flags & 1:
            s.clear()
        if pkt.HasField("trace_packet_defaults"):
            d = pkt.trace_packet_defaults
            s.clock = d.timestamp_clock_id if d.HasField("timestamp_clock_id") else None
            te = d.track_event_defaults
            s.track = te.track_uuid if d.HasField("track_event_defaults") and te.HasField("track_uuid") else None
        if pkt.HasField("thread_descriptor") and pkt.thread_descriptor.tid > 0:
            s.thread = (int(pkt.thread_descriptor.pid), int(pkt.thread_descriptor.tid))
        if pkt.HasField("interned_data") and s.valid:
            for en in pkt.interned_data.event_names:
                s.names[en.iid] = _text(en.name)
        if pkt.HasField("clock_snapshot"):
            snap = {c.clock_id: c for c in pkt.clock_snapshot.clocks}
            boot = snap.get(BOOTTIME)
            for cid, c in snap.items():
                if SEQ_CLOCK_MIN <= cid < SEQ_CLOCK_END:
                    mult = c.unit_multiplier_ns or 1
                    # [boot ns, this clock in ns at the snapshot, unit, incremental, last value in ns]
                    s.clocks[cid] = None if boot is None else \
                        [boot.timestamp, c.timestamp * mult, mult, c.is_incremental, c.timestamp * mult]
            return  # a snapshot packet is not an event (nor a step of an incremental clock)
        if pkt.sequence_flags & 2 and not s.valid:
            if pkt.HasField("track_event"):
                self._problem("perfetto-track-lost-state", where, "track events after packets were lost on "
                              "their sequence (their interned names are unknown until the writer starts "
                              "afresh): left out")
            return
        ts = self._time(pkt, s, where)
        if not pkt.HasField("track_event"):
            return
        te = pkt.track_event
        if te.type not in (SLICE_BEGIN, SLICE_END):
            return  # instants, counters: no interval
        if ts is None:
            return
        if te.HasField("track_uuid"):
            uuid, thread = te.track_uuid, None
        elif s.track is not None:
            uuid, thread = s.track, None
        else:
            uuid, thread = None, s.thread
        name = ""
        if te.type == SLICE_BEGIN:
            if te.HasField("name"):
                name = _text(te.name)
            elif te.HasField("name_iid"):
                name = s.names.get(te.name_iid)
                if name is None:
                    name = f"name_iid {te.name_iid}"
                    self._problem("perfetto-track-name", where, f"track-event slices whose interned name "
                                  f"is not in their sequence's interned data: named {name!r} and so on")
            if not name.strip():
                name = "(unnamed)"
                self._problem("perfetto-track-unnamed", where, "track-event slices without a name: "
                              "named '(unnamed)'")
        self.slices.append((ts, uuid, thread, te.type, name, where))

    def _time(self, pkt, s: _Sequence, where: str) -> int | None:
        """The packet's timestamp in boot time (ns), stepping incremental clocks; None when
        it has none or its clock is not converted (counted)."""
        if not pkt.HasField("timestamp"):
            if pkt.HasField("track_event"):
                self._problem("perfetto-track-no-ts", where, "track events without a packet timestamp "
                              "(TracePacket.timestamp): left out")
            return None
        v = pkt.timestamp
        clock = pkt.timestamp_clock_id if pkt.HasField("timestamp_clock_id") else s.clock
        if clock in (None, 0, BOOTTIME):
            ts = v
        elif SEQ_CLOCK_MIN <= clock < SEQ_CLOCK_END and s.clocks.get(clock) is not None:
            boot, ref, mult, incremental, last = s.clocks[clock]
            ns = last + v * mult if incremental else v * mult
            if incremental:
                s.clocks[clock][4] = ns
            ts = boot + ns - ref
        else:
            if pkt.HasField("track_event"):
                what = ("a sequence-scoped clock with no clock snapshot against BOOTTIME on its sequence"
                        if clock >= SEQ_CLOCK_MIN else "a clock other than BOOTTIME")
                self._problem("perfetto-track-clock", where, f"track events timed in {what} (clock id "
                              f"{clock}; this reader does not convert between clocks): left out")
            return None
        if not 0 <= ts <= _I64_MAX:
            if pkt.HasField("track_event"):
                self._problem("perfetto-track-ts-range", where, f"track events with a timestamp out of "
                              f"range ({ts}): left out")
            return None
        return ts

    def _left_out(self, key: str, slices: list, why: str) -> None:
        """A counted problem for slices left out: their begins (their ends, when only ends)."""
        begins = [s for s in slices if s[3] == SLICE_BEGIN]
        some = begins or slices
        if some:
            what = "track-event slices" if begins else "track-event slice ends"
            self.problems[key] = [len(some), some[0][5], f"{what} {why}: left out"]

    def finish(self, markers: Markers, warnings: Warnings, ftrace_clock: str) -> None:
        """The slices as B/E markers of their threads (``track=True``), and the counted
        warnings. ``ftrace_clock``: the clock of the scheduler events; track events are
        in boot time, so with another ftrace clock they are left out (counted)."""
        if self.slices and ftrace_clock != "boot":
            self._left_out("perfetto-track-ftrace-clock", self.slices, f"are in boot time but the "
                           f"scheduler events in the {ftrace_clock or 'unknown'} ftrace clock")
            self.slices = []
        no_thread = []
        for ts, uuid, thread, typ, name, where in self.slices:
            if thread is None and uuid is not None:
                thread = self.threads.get(uuid)
            if thread is None:
                no_thread.append((ts, uuid, thread, typ, name, where))
                continue
            pid, tid = thread
            text = f"B|{pid}|{name}" if typ == SLICE_BEGIN else f"E|{pid}"
            markers.add(ts, tid, text, where, track=True)
        self._left_out("perfetto-track-no-thread", no_thread,
                       "on tracks without a thread (process, async or undescribed tracks)")
        self.slices = []
        for key, (count, where, what) in self.problems.items():
            warnings.add(key, f"{count} {what} (the first at {where})")
        self.problems = {}
