"""Perfetto trace reader: ``.pftrace`` / ``.perfetto-trace`` / ``.pb`` protobuf
files (plain or gzip-compressed) and protobuf text format.

The file is a ``Trace`` message, a sequence of ``packet = 1`` records
(``TracePacket``). The reader frames those records itself and streams the
file in blocks of :data:`BLOCK` bytes, twice: pass 1 decodes only the
timestamps and CPUs of the scheduler events and the metadata packets, which
gives each event its place in ``schema.event_order`` (a k-way merge of the
per-CPU bundle streams); pass 2 decodes every column straight into the final
arrays at those places. Nothing is held but the output and 18 bytes per
event, and no column is ever copied or reordered. The ftrace bundles
(``TracePacket.ftrace_events``), their plain ``FtraceEvent`` sched events and
their packed ``compact_sched`` columns, are decoded by the numba scanner of
:mod:`traces._perfetto_kernel`, with no Python step per event. The packets
that describe the system (``process_tree``, ``process_stats``,
``system_info``, ``ftrace_stats``, ``trace_stats``, ``cpu_info``,
``track_descriptor``) are parsed with the message classes of the
``perfetto`` package (``perfetto.protos.perfetto.trace.perfetto_trace_pb2``);
``compressed_packets`` (zlib) and ``zstd_compressed_packets`` are expanded
and scanned in place.

Semantics worth knowing:

* Inside a bundle, events are ordered stably by timestamp after the trace
  processor's tokenizer order: compact switches, compact wakings, plain
  events. Across CPUs, ties go by CPU.
* compact_sched leaves implied what is filled in once events are in order: a
  compact switch's prev task (tid, comm, prio, and ``cur_tid``) is the
  previous switch's next task on that CPU, unknown (tid -1, counted warning)
  for the first one and after lost events; a compact waking's ``cur_tid`` is
  the task last switched in on that CPU.
* ``irq`` comes from ``common_flags`` where the trace has it (compact
  ``waking_common_flags``, plain events' ``common_flags``), else -1.
* ``prev_state`` is normalised to the Linux >= 4.14 report layout; kernels
  before 4.14 (``system_info``) and tracers that record the raw task state
  are translated (see :func:`prev_state_map`).
* A bundle with ``lost_events`` set, or whose ``previous_bundle_end_timestamp``
  is not where the CPU's previous bundle ended (a bundle went missing), gets a
  LOST row at its first event; ``FtraceStats`` overruns (end minus start of
  trace) give the per-CPU counts, else the count is unknown (-1). A CPU's
  first bundle with ``previous_bundle_end_timestamp`` > 0 follows data not in
  the trace (a warning).
* ``sched_stat_runtime`` has no compiled message: it is read from
  ``GenericFtraceEvent`` and from generic event descriptors (perfetto v50+).
* Timestamps are ns in the ftrace clock (``FtraceEventBundle.ftrace_clock``;
  boot time when unset, as the trace processor assumes).
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from . import _perfetto_kernel as K
from . import schema
from ._io import Source
from ._numba import jit
from ._result import ReadResult
from .errors import TraceError

#: Bytes read from the (decompressed) file per scanner call.
BLOCK = 8 << 20
#: Largest TracePacket accepted (the tracing service writes packets of a few MB at most).
MAX_PACKET = 256 << 20
_ROWS = 1 << 18
_SPANS = 1 << 16
_BUNDLES = 1 << 14
_AUX = 1 << 10
_WK = 1 << 12

_ERRORS = {
    K.E_VARINT: "malformed varint",
    K.E_OVERRUN: "a field runs past the end of its message",
    K.E_WIRETYPE: "invalid protobuf wire type",
    K.E_CPU: "FtraceEventBundle.cpu out of range",
    K.E_COLUMNS: "compact_sched columns of different lengths",
    K.E_INTERN: "compact_sched comm index outside the bundle's intern_table",
    K.E_RANGE: "a pid, prio or cpu value out of range",
    K.E_UNPACKED: "compact_sched column not packed",
    K.E_FIELD0: "protobuf field number 0",
}
_FTRACE_CLOCKS = {0: "boot", 1: "", 2: "global", 3: "local", 4: "mono_raw"}
_COL = {name: (g, c) for g, (_, names) in enumerate(K.GROUPS) for c, name in enumerate(names)}


def _text(v) -> str:
    """A string field of a parsed message (bytes when it is not valid UTF-8)."""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def _pb2():
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2

    return perfetto_trace_pb2


# --------------------------------------------------------------------------
# prev_state normalisation
# --------------------------------------------------------------------------

def _kernel_version(release: str) -> tuple[int, int] | None:
    m = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _highest_bit(v: int) -> int:
    return 1 << (v.bit_length() - 1) if v else 0


def _report_like(v: int) -> bool:
    """A value sched_switch reports on Linux >= 4.14: 0, one state bit, or the
    preemption marker alone (TASK_REPORT_MAX 0x100; 0x1000 on 4.14-4.19)."""
    return v & (v - 1) == 0


def _map_report(v: int) -> int:
    return v if v <= 0x80 else schema.STATE_PREEMPTED


def _map_raw(v: int) -> int:
    """Raw ``task->__state`` of a current kernel (BPF tracers such as systing
    record it, not the tracepoint's report value) to the report layout."""
    if v & 0x1000:                     # TASK_RTLOCK_WAIT reports as D
        return schema.STATE_DISK
    if v & 0x47F == 0x402:             # TASK_IDLE = UNINTERRUPTIBLE | NOLOAD
        return schema.STATE_IDLE
    if v & 0x7F:                       # R S D T t X Z P bits, highest wins (fls)
        return _highest_bit(v & 0x7F)
    if v & 0x80:                       # TASK_DEAD: the task's last switch
        return schema.STATE_DEAD
    return schema.STATE_RUNNING        # WAKING, NEW, modifiers only


def _map_old(v: int, ver: tuple[int, int]) -> int:
    """``p->state`` as kernels before 4.14 report it (TASK_DEAD 0x40,
    TASK_WAKEKILL 0x80, TASK_WAKING 0x100, TASK_PARKED 0x200, TASK_NOLOAD
    0x400; preemption as TASK_STATE_MAX: 0x1000 from 4.8, 0x800 from 4.2,
    0x400 before)."""
    state_max = 0x1000 if ver >= (4, 8) else 0x800 if ver >= (4, 2) else 0x400
    if v & state_max or v >= state_max:
        return schema.STATE_PREEMPTED
    if ver >= (4, 2) and v & 0x43F == 0x402:
        return schema.STATE_IDLE
    if v & 0x3F:
        return _highest_bit(v & 0x3F)
    if v & 0x40:
        return schema.STATE_DEAD
    if v & 0x200:
        return schema.STATE_PARKED
    return schema.STATE_RUNNING


def prev_state_map(keys: np.ndarray, kernel: str) -> tuple[np.ndarray, str]:
    """Normalised prev_state (schema bits) for each distinct raw value in
    ``keys``, and which layout the values were read in: "report" (the
    sched_switch tracepoint of Linux >= 4.14, taken as is), "old" (kernel
    release < 4.14 in system_info) or "raw" (values the tracepoint cannot
    produce, such as 0x402: a tracer that records ``task->__state``)."""
    ver = _kernel_version(kernel)
    vals = [int(v) for v in keys]
    if ver is not None and ver < (4, 14):
        layout, fn = "old", (lambda v: _map_old(v, ver))
    elif all(_report_like(v) for v in vals):
        layout, fn = "report", _map_report
    else:
        layout, fn = "raw", _map_raw
    return np.array([fn(v) for v in vals], np.int32), layout


# --------------------------------------------------------------------------
# Event order (numba)
# --------------------------------------------------------------------------

@jit
def _sift(hts, hc, i, size):
    """Restore the min-heap of (timestamp, cpu) keys below and above slot i."""
    while i > 0:
        up = (i - 1) >> 1
        if hts[i] < hts[up] or (hts[i] == hts[up] and hc[i] < hc[up]):
            hts[i], hts[up] = hts[up], hts[i]
            hc[i], hc[up] = hc[up], hc[i]
            i = up
        else:
            break
    while True:
        m = i
        for c in (2 * i + 1, 2 * i + 2):
            if c < size and (hts[c] < hts[m] or (hts[c] == hts[m] and hc[c] < hc[m])):
                m = c
        if m == i:
            return
        hts[i], hts[m] = hts[m], hts[i]
        hc[i], hc[m] = hc[m], hc[i]
        i = m


@jit
def merge_order(ts, b_start, b_end, b_cpu, n):
    """Position of each row in schema.event_order: ascending ts, ties by
    CPU, then by position within the CPU. Each bundle's rows are already in
    order and each CPU's bundles follow each other in time (the caller checked
    st[K.ST_UNSORTED]), so this is a k-way merge of the per-CPU streams."""
    nb = b_start.shape[0]
    pos = np.empty(n, np.int64)
    if nb == 0:
        return pos
    order = np.argsort(b_cpu, kind="mergesort")  # each CPU's bundles, in file order
    ncpu = b_cpu.max() + 1
    nxt = np.full(ncpu, -1, np.int64)  # index in `order` of a CPU's next bundle
    last = np.full(ncpu, -1, np.int64)
    for i in range(nb):
        c = b_cpu[order[i]]
        if nxt[c] < 0:
            nxt[c] = i
        last[c] = i
    cur = np.zeros(ncpu, np.int64)
    cend = np.zeros(ncpu, np.int64)
    hts = np.empty(ncpu, np.int64)
    hc = np.empty(ncpu, np.int64)
    size = 0
    for c in range(ncpu):
        if nxt[c] >= 0:
            cur[c], cend[c] = b_start[order[nxt[c]]], b_end[order[nxt[c]]]
            hts[size], hc[size] = ts[cur[c]], c
            size += 1
            _sift(hts, hc, size - 1, size)
    o = 0
    while size > 0:
        c = hc[0]
        t2 = c2 = np.iinfo(np.int64).max  # the best other CPU's next event
        for k in (1, 2):
            if k < size and (hts[k] < t2 or (hts[k] == t2 and hc[k] < c2)):
                t2, c2 = hts[k], hc[k]
        while True:
            pos[cur[c]] = o
            o += 1
            cur[c] += 1
            if cur[c] == cend[c]:
                if nxt[c] == last[c]:
                    size -= 1
                    hts[0], hc[0] = hts[size], hc[size]
                    break
                nxt[c] += 1
                cur[c], cend[c] = b_start[order[nxt[c]]], b_end[order[nxt[c]]]
            t = ts[cur[c]]
            if t > t2 or (t == t2 and c > c2):
                hts[0] = t
                break
        _sift(hts, hc, 0, size)
    return pos


@jit
def finalize(cpu, kind, flag, tid, comm, prio, cur_tid, next_tid, next_comm, next_prio,
             prev_raw, ps_keys, ps_map, prev_out):
    """Fill in, in event order, what compact_sched leaves implied: a compact
    switch's prev task is the previous switch's next task on that CPU (unknown
    for the first one and after a LOST marker); a compact waking's current task
    is the task last switched in on that CPU. Maps raw prev_state through the
    sorted ``ps_keys`` -> ``ps_map`` table. Returns the number of compact
    switches whose prev task stayed unknown."""
    n = cpu.shape[0]
    ncpu = np.int64(cpu.max()) + 1 if n > 0 else 1
    known = np.zeros(ncpu, np.bool_)
    s_tid = np.full(ncpu, -1, np.int32)
    s_comm = np.zeros(ncpu, np.int32)
    s_prio = np.full(ncpu, schema.NO_PRIO, np.int16)
    unknown = 0
    for i in range(n):
        c = cpu[i]
        k = kind[i]
        if k == schema.SWITCH:
            if flag[i] == K.FLAG_COMPACT_SWITCH:
                if known[c]:
                    tid[i] = cur_tid[i] = s_tid[c]
                    comm[i] = s_comm[c]
                    prio[i] = s_prio[c]
                else:
                    unknown += 1
            known[c] = True
            s_tid[c], s_comm[c], s_prio[c] = next_tid[i], next_comm[i], next_prio[i]
            raw = prev_raw[i]
            j = np.searchsorted(ps_keys, raw)
            prev_out[i] = ps_map[j] if raw >= 0 and j < ps_keys.shape[0] and ps_keys[j] == raw else -1
        elif k == schema.LOST:
            known[c] = False
        elif flag[i] == K.FLAG_COMPACT_WAKING:
            cur_tid[i] = s_tid[c] if known[c] else -1
    return unknown


# --------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------

class _Pass:
    """Scanner state for one pass over the file. Pass 1 (mode 1) decodes
    timestamps and CPUs only, into reusable blocks; pass 2 (mode 2) decodes
    every column straight into the final arrays at each event's position in
    event order (``pos[row]``), so no column is ever copied or reordered."""

    def __init__(self, mode: int, out: tuple, pos: np.ndarray):
        self.mode, self.out, self.pos = mode, out, pos
        self.spans = np.empty((_SPANS, 3), np.int64)
        self.bundles = np.empty((_BUNDLES, 3), np.int64)
        self.aux = np.empty((_AUX, 3), np.int64)
        self.st = np.zeros(K.ST_SIZE, np.int64)
        self.st[K.ST_CLOCK] = -1
        self.st[K.ST_MODE] = mode
        self.cpu_st = np.zeros((K.MAX_CPUS, 3), np.int64)
        self.cpu_st[:, K.CS_LAST_TS] = K.NO_TS
        self.gen = np.zeros((K.MAX_GENERIC, 6), np.int64)
        self.ps_vals = np.zeros(K.MAX_PREV_STATES, np.int64)
        self.pkt_counts = np.zeros(K.PKT_FIELDS, np.int64)
        self.seq_seen = np.zeros(1 << 16, np.int8)
        # the kernel's per-bundle scratch (it allocates nothing: compiled without the NRT)
        self.wk = np.empty((K.WK_ROWS, _WK), np.int64)
        self.cols = np.empty((13, 3), np.int64)

    def scan(self, arr: np.ndarray, pos: int) -> int:
        self.st[K.ST_NEED_SPANS] = 0
        self.st[K.ST_NEED_WK] = 0
        return K.scan(arr, pos, len(arr), self.out, self.pos, self.spans, self.bundles, self.aux,
                      self.st, self.cpu_st, self.gen, self.ps_vals, self.pkt_counts, self.seq_seen,
                      self.wk, self.cols)


# The columns each kind of row has (besides ts_ns, cpu and kind).
_KIND_COLUMNS = {
    schema.SWITCH: ("cur_tid", "tid", "comm", "prio", "prev_state", "next_tid", "next_comm", "next_prio",
                    "irq", "flag"),
    schema.WAKING: ("cur_tid", "tid", "comm", "prio", "target_cpu", "irq", "flag"),
    schema.WAKEUP: ("cur_tid", "tid", "comm", "prio", "target_cpu", "irq"),
    schema.WAKEUP_NEW: ("cur_tid", "tid", "comm", "prio", "target_cpu", "irq"),
    schema.MIGRATE: ("cur_tid", "tid", "comm", "prio", "target_cpu", "orig_cpu", "irq"),
    schema.FORK: ("cur_tid", "tid", "comm", "parent_tid", "parent_comm", "irq"),
    schema.EXEC: ("cur_tid", "tid", "old_tid", "filename", "irq"),
    schema.EXIT: ("cur_tid", "tid", "comm", "prio", "tgid", "irq"),
    schema.STAT_RUNTIME: ("cur_tid", "tid", "comm", "runtime_ns", "vruntime_ns", "irq"),
    schema.LOST: ("lost_events", "flag"),
}


def _columns(n: int, needed=None) -> tuple:
    """Column arrays for n rows (one 2D array per dtype group, K.GROUPS).
    ``needed=None``: pass 1's blocks, ts_ns and cpu only. Otherwise the
    ``needed`` columns are set to their defaults; the others (and ts_ns, cpu,
    kind, which every row sets) are left unwritten, so memory the reader never
    uses is never touched."""
    blocks = []
    for dtype, names in K.GROUPS:
        if needed is None:
            blocks.append(np.empty((1, n if names[0] in ("ts_ns", "cpu") else 1), dtype))
            continue
        b = np.empty((len(names), n), dtype)
        for c, name in enumerate(names):
            if name in needed:
                b[c] = K.COLUMN_DEFAULTS[name]
        blocks.append(b)
    return tuple(blocks) + (np.zeros((4, 11), np.int8),)


class _Reader:
    """Both passes over one trace file, and what the packets say about it."""

    def __init__(self, src: Source, fmt: str):
        self.path = src.path
        self.result = ReadResult(src.path, fmt, src.compression)
        self.p = self.first = _Pass(1, _columns(_ROWS), np.zeros(0, np.int64))
        self.ts_segs: list[np.ndarray] = []
        self.cpu_segs: list[np.ndarray] = []
        self.bundle_segs: list[np.ndarray] = []
        self.n_rows = 0
        self.ftrace_stats: dict[int, dict[int, int]] = {}
        self.nested_at: int | None = None

    # -- scanning ---------------------------------------------------------
    def feed(self, buf: bytes, base: int) -> int:
        """Decode the complete packets in ``buf`` (which starts at byte ``base``
        of the decompressed file); returns the bytes consumed."""
        arr = np.frombuffer(buf, np.uint8)
        p, st = self.p, self.p.st
        pos = 0
        r0 = None
        while True:
            if r0 is None:
                r0 = int(st[K.ST_NROWS])
            status = p.scan(arr, pos)
            if status == K.S_ERROR:
                where = int(st[K.ST_ERRPOS]) + base
                self._raise(f"corrupt Perfetto data: {_ERRORS.get(int(st[K.ST_ERR]), 'bad data')}", where)
            # A stop only to grow the kernel's scratch leaves the strings pending,
            # so that they are interned in the same groups (same codes) as without it.
            grow_wk = status == K.S_FLUSH and st[K.ST_NEED_WK] > p.wk.shape[1]
            if p.mode == 2:
                if not grow_wk:
                    self._strings(arr, r0)
                    r0 = None
                st[K.ST_NBUND] = 0
            else:
                r0 = None
            self._aux(arr, base)
            pos = int(st[K.ST_POS])
            if status == K.S_FLUSH:
                self._make_room()
            elif status == K.S_DESCRIPTORS:
                self._descriptors(arr, pos, base)
            elif status == K.S_DONE:
                need = int(st[K.ST_NEED])
                if need > MAX_PACKET:
                    self._raise(f"corrupt Perfetto data: a TracePacket claims {need} bytes", base + pos)
                return pos

    def _raise(self, msg: str, offset: int):
        if self.nested_at is not None:
            msg += f" (inside the compressed packets at byte {self.nested_at})"
            offset = self.nested_at
        raise TraceError(msg, self.path, offset=offset)

    def _make_room(self) -> None:
        """After S_FLUSH: move pass 1's rows out, or grow what one packet needs."""
        p, st = self.p, self.p.st
        need_rows, need_spans = int(st[K.ST_NEED]), int(st[K.ST_NEED_SPANS])
        if p.mode == 1 and st[K.ST_NROWS] > 0:
            self._flush()
            return
        if p.mode == 2 and st[K.ST_NROWS] + need_rows > p.out[0].shape[1] + 1:
            raise TraceError("the file changed while it was being read", self.path)
        need_wk = int(st[K.ST_NEED_WK])
        if need_wk > p.wk.shape[1]:  # a bundle larger than the scratch
            p.wk = np.empty((K.WK_ROWS, max(need_wk, 2 * p.wk.shape[1])), np.int64)
        elif p.mode == 1 and need_rows > p.out[0].shape[1]:
            p.out = _columns(need_rows)
        elif need_spans > len(p.spans):
            p.spans = np.empty((need_spans, 3), np.int64)
        else:  # the packet has more aux fields than the aux table holds
            p.aux = np.empty((2 * len(p.aux), 3), np.int64)

    def _descriptors(self, arr: np.ndarray, pos: int, base: int) -> None:
        """Register the GenericEventDescriptors (perfetto v50+: events without a
        compiled message, such as sched_stat_runtime) of the packet at ``pos``:
        field id -> whether it is sched_stat_runtime and its fields' numbers."""
        from google.protobuf import descriptor_pb2

        p = self.p
        before = int(p.st[K.ST_NGEN])
        n, q = K._rv(arr, pos + 1, len(arr))  # the packet: tag 0x0a, length, TracePacket
        try:
            pkt = _pb2().TracePacket.FromString(arr[q:q + n].tobytes())
            for d in pkt.ftrace_events.generic_event_descriptors:
                g = int(p.st[K.ST_NGEN])
                if g >= len(p.gen) or (p.gen[:g, 0] == d.field_id).any():
                    continue
                desc = descriptor_pb2.DescriptorProto.FromString(d.event_descriptor)
                numbers = {_text(f.name): f.number for f in desc.field}
                p.gen[g] = [d.field_id, _text(desc.name) == "sched_stat_runtime"] + \
                    [numbers.get(x, 0) for x in ("comm", "pid", "runtime", "vruntime")]
                p.st[K.ST_NGEN] = g + 1
        except Exception as exc:  # DecodeError
            self._raise(f"corrupt Perfetto data: a generic event descriptor: {exc}", base + pos)
        if p.st[K.ST_NGEN] == before:  # the kernel and the message classes disagree: do not loop
            self._raise("corrupt Perfetto data: an unreadable generic event descriptor", base + pos)

    def _flush(self) -> None:
        """Pass 1: keep the timestamps, CPUs and bundle ranges decoded so far."""
        p = self.p
        n = int(p.st[K.ST_NROWS])
        if n:
            self.ts_segs.append(p.out[0][0, :n].copy())
            self.cpu_segs.append(p.out[2][0, :n].copy())
            b = p.bundles[:int(p.st[K.ST_NBUND])].copy()
            b[:, :2] += self.n_rows
            self.bundle_segs.append(b)
            self.n_rows += n
        p.st[K.ST_NROWS] = 0
        p.st[K.ST_NBUND] = 0

    def _strings(self, arr: np.ndarray, r0: int) -> None:
        """Pass 2: turn the string spans of rows r0.. into string codes."""
        p = self.p
        n = int(p.st[K.ST_NSPANS])
        nr = int(p.st[K.ST_NROWS])
        p.st[K.ST_NSPANS] = 0
        if n == 0 or nr <= r0:
            return
        spans = p.spans[:n]
        _, first, inv = np.unique(spans[:, 2], return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        strings = self.result.strings
        if K.verify_spans(arr, spans, n, first[inv]):
            uniq = [bytes(arr[s:s + ln]).decode("utf-8", "replace") for s, ln in spans[first, :2]]
            codes = strings.codes(uniq)[inv]
        else:  # a hash collision: decode every span
            codes = strings.codes(bytes(arr[s:s + ln]).decode("utf-8", "replace") for s, ln in spans[:, :2])
        ext = np.append(codes, np.int32(0))  # span index -1 -> code 0 ("")
        at = p.pos[r0:nr]
        for name in K.STRING_FIELDS:  # (-1 left where a row has no string becomes 0 at the end)
            g, c = _COL[name]
            if p.out[4][g, c]:
                col = p.out[g][c]
                col[at] = ext[col[at]]

    def second_pass(self) -> None:
        """Put the rows of pass 1 in event order and set up pass 2."""
        self._flush()
        st = self.first.st
        if st[K.ST_BUNDLES] == 0:
            what = (f"{int(st[K.ST_NOCPU])} ftrace bundles without a cpu" if st[K.ST_NOCPU]
                    else "no ftrace_events packets")
            raise TraceError(f"no ftrace data in this Perfetto trace ({what}); it holds "
                             f"{self._packet_summary()}", self.path)
        n = self.n_rows
        ts = np.concatenate(self.ts_segs) if self.ts_segs else np.zeros(0, np.int64)
        cpu = np.concatenate(self.cpu_segs) if self.cpu_segs else np.zeros(0, np.int16)
        self.ts_segs = self.cpu_segs = []
        bundles = np.concatenate(self.bundle_segs) if self.bundle_segs else np.zeros((0, 3), np.int64)
        if st[K.ST_UNSORTED]:
            # Bundles of one CPU overlap in time (systing writes one bundle per
            # kind of data): sort by timestamp, keeping each CPU's file order.
            perm = np.lexsort((np.arange(n), cpu, ts))
            pos = np.empty(n, np.int64)
            pos[perm] = np.arange(n)
            del perm
        else:
            pos = merge_order(ts, bundles[:, 0].copy(), bundles[:, 1].copy(), bundles[:, 2].copy(), n)
        del ts, cpu
        kinds = [k for k in range(len(schema.KIND_NAMES)) if st[K.ST_KINDS + k]]
        self.needed = {name for k in kinds for name in _KIND_COLUMNS[k]} | {"ts_ns", "cpu", "kind"}
        self.p = _Pass(2, _columns(n, self.needed - {"ts_ns", "cpu", "kind"}), pos)

    # -- packets parsed with the perfetto package's classes -----------------
    def _aux(self, arr: np.ndarray, base: int) -> None:
        p = self.p
        n = int(p.st[K.ST_NAUX])
        p.st[K.ST_NAUX] = 0
        for field, s, e in p.aux[:n].tolist():
            data = arr[s:e].tobytes()
            if p.mode == 2 and field not in K.COMPRESSED_FIELDS:
                continue  # metadata was read in pass 1
            if field in K.COMPRESSED_FIELDS:
                self._compressed(field, data, base + s)
            else:
                try:
                    self._metadata(field, data)
                except Exception as exc:  # DecodeError and friends
                    self._raise(f"corrupt Perfetto data: TracePacket field {field}: {exc}", base + s)

    def _compressed(self, field: int, data: bytes, offset: int) -> None:
        """Expand compressed_packets (zlib) / zstd_compressed_packets: more
        Trace.packet records, scanned before the rest of the file."""
        if self.nested_at is not None:
            self._raise("corrupt Perfetto data: compressed packets inside compressed packets", offset)
        try:
            if field == 50:
                d = zlib.decompressobj(zlib.MAX_WBITS | 32)
                inner = d.decompress(data, MAX_PACKET)
                if d.unconsumed_tail:
                    raise ValueError(f"expands to more than {MAX_PACKET} bytes")
                inner += d.flush()
            else:
                import zstandard

                inner = zstandard.ZstdDecompressor().decompress(data, max_output_size=MAX_PACKET)
        except Exception as exc:
            self._raise(f"corrupt Perfetto data: compressed packets do not decompress ({exc})", offset)
        self.nested_at = offset
        try:
            if self.feed(inner, 0) != len(inner):
                self._raise("corrupt Perfetto data: compressed packets end inside a packet", offset)
        finally:
            self.nested_at = None

    def _metadata(self, field: int, data: bytes) -> None:
        pb = _pb2()
        r = self.result
        if field == 2:  # ProcessTree
            pt = pb.ProcessTree.FromString(data)
            for proc in pt.processes:
                r.tgid[proc.pid] = proc.pid
                if proc.HasField("ppid"):
                    r.ppid[proc.pid] = proc.ppid
                if proc.cmdline:
                    first = _text(proc.cmdline[0])
                    name = first if proc.cmdline_is_comm else first.split("/")[-1][:15]
                    r.cmdlines.setdefault(proc.pid, name)
            for th in pt.threads:
                if th.HasField("tgid"):
                    r.tgid[th.tid] = th.tgid
                if th.name:
                    r.cmdlines[th.tid] = _text(th.name)
        elif field == 9:  # ProcessStats
            for proc in pb.ProcessStats.FromString(data).processes:
                r.tgid.setdefault(proc.pid, proc.pid)
                for th in proc.threads:
                    r.tgid.setdefault(th.tid, proc.pid)
        elif field == 45:  # SystemInfo
            si = pb.SystemInfo.FromString(data)
            if si.utsname.release:
                r.kernel = _text(si.utsname.release)
            if si.machine_name:
                r.hostname = _text(si.machine_name)
            if si.num_cpus:
                r.n_cpus = max(r.n_cpus or 0, si.num_cpus)
        elif field == 34:  # FtraceStats: per-CPU ring buffer overruns
            fs = pb.FtraceStats.FromString(data)
            phase = self.ftrace_stats.setdefault(fs.phase, {})
            for c in fs.cpu_stats:
                phase[c.cpu] = c.overrun + c.commit_overrun + c.dropped_events
        elif field == 35:  # TraceStats: data the tracing service itself dropped
            ts = pb.TraceStats.FromString(data)
            lost = sum(b.chunks_overwritten + b.chunks_discarded + b.abi_violations +
                       b.trace_writer_packet_loss for b in ts.buffer_stats) + ts.chunks_discarded
            if lost:
                r.warnings.add("perfetto-service-loss",
                               f"the tracing service dropped or overwrote {lost} chunks of its buffer "
                               "(TraceStats): events may be missing")
        elif field == 60:  # TrackDescriptor with thread/process descriptors
            td = pb.TrackDescriptor.FromString(data)
            if td.HasField("thread") and td.thread.tid > 0:
                r.tgid.setdefault(td.thread.tid, td.thread.pid)
                if td.thread.thread_name:
                    r.cmdlines.setdefault(td.thread.tid, _text(td.thread.thread_name))
            if td.HasField("process") and td.process.pid > 0:
                r.tgid.setdefault(td.process.pid, td.process.pid)
                if td.process.process_name:
                    r.cmdlines.setdefault(td.process.pid, _text(td.process.process_name)[:15])
        elif field == 67:  # CpuInfo
            cpus = pb.CpuInfo.FromString(data).cpus
            r.n_cpus = max(r.n_cpus or 0, len(cpus))
            caps = [c.capacity for c in cpus]
            if any(caps):
                top = max(caps)
                for i, c in enumerate(caps):
                    if c:
                        r.topology[i] = (i, 0, 0, max(1, int(round(1024 * c / top))))

    # -- the end ------------------------------------------------------------
    def finish(self) -> ReadResult:
        st, r, p = self.first.st, self.result, self.p
        n = self.n_rows
        if p.st[K.ST_NROWS] != n:
            raise TraceError("the file changed while it was being read", self.path)
        r.skipped = int(st[K.ST_SKIPPED])
        r.clock = _FTRACE_CLOCKS.get(int(st[K.ST_CLOCK]), "") if st[K.ST_CLOCK] >= 0 else "boot"
        # Columns no row has share one constant array per (dtype, default).
        const: dict[tuple, np.ndarray] = {}
        out = {}
        for name, (g, c) in _COL.items():
            if name in self.needed:
                out[name] = p.out[g][c]
            else:
                dtype = K.GROUPS[g][0]
                default = 0 if name in K.STRING_FIELDS else K.COLUMN_DEFAULTS[name]
                if (dtype, default) not in const:
                    const[dtype, default] = np.full(n, default, dtype)
                out[name] = const[dtype, default]
        for name in K.STRING_FIELDS:  # -1 (no string) -> code 0 ("")
            if name in self.needed:
                np.maximum(out[name], 0, out=out[name])
        exit_ = (out["kind"] == schema.EXIT) & (out["tgid"] >= 0)
        for pid, tgid in zip(out["tid"][exit_].tolist(), out["tgid"][exit_].tolist()):
            r.tgid.setdefault(pid, tgid)
        raw = out.pop("prev_state")
        if p.st[K.ST_PS_OVER]:
            keys = np.unique(raw[raw >= 0])
        else:
            keys = np.unique(p.ps_vals[:int(p.st[K.ST_NPS])])
            keys = keys[keys >= 0]
        mapped, layout = prev_state_map(keys, r.kernel)
        if layout == "raw":
            odd = next(int(k) for k in keys if not _report_like(int(k)))
            r.warnings.add("perfetto-prev-state", f"prev_state values such as {odd:#x} are not what "
                           "sched_switch reports: read as the task's raw __state (as BPF tracers "
                           "record it) and mapped to the report layout")
        prev = np.full(n, -1, np.int32)
        unknown = finalize(out["cpu"], out["kind"], out["flag"], out["tid"], out["comm"], out["prio"],
                             out["cur_tid"], out["next_tid"], out["next_comm"], out["next_prio"],
                             raw, keys.astype(np.int64), mapped, prev)
        out["prev_state"] = prev
        del out["flag"], out["tgid"], raw
        if unknown:
            r.warnings.add("perfetto-prev-unknown", f"{unknown} compact sched_switch events have no "
                           "known previous task (the first switch on their CPU, or the first after "
                           "lost events): their tid is -1")
        self._warnings(out)
        r.add_events(out)
        r.ordered = True
        self.p = None
        return r

    def _packet_summary(self) -> str:
        pb = _pb2()
        data = {f.number: f.name for f in pb.TracePacket.DESCRIPTOR.oneofs_by_name["data"].fields}
        counts = self.first.pkt_counts
        held = [(int(counts[num]), name) for num, name in data.items() if num < K.PKT_FIELDS and counts[num]]
        if not held:
            return "no packets with data" if self.first.st[K.ST_PACKETS] else "no packets at all"
        held.sort(key=lambda x: (-x[0], x[1]))
        return "only " + ", ".join(f"{name} ({n})" for n, name in held)

    def _warnings(self, cols: dict[str, np.ndarray]) -> None:
        st, r = self.first.st, self.result
        w = r.warnings
        lost_rows = cols["kind"] == schema.LOST
        if st[K.ST_LOSTB] or st[K.ST_GAPS]:
            w.add("perfetto-lost", f"ftrace events were lost on CPU {int(st[K.ST_LOST_CPU])} (bundle at byte "
                  f"{int(st[K.ST_LOST_POS])}; {int(st[K.ST_LOSTB])} bundles with lost_events set, "
                  f"{int(st[K.ST_GAPS])} that do not continue where the CPU's previous bundle ended): "
                  "LOST rows mark the places")
        if st[K.ST_MID]:
            w.add("perfetto-midstream", f"CPU {int(st[K.ST_MID_CPU])}'s first bundle follows data that is "
                  "not "
                  f"in the trace (previous_bundle_end_timestamp {int(st[K.ST_MID_TS])}); "
                  f"{int(st[K.ST_MID])} CPUs start this way")
        for key, idx, msg in (("perfetto-no-ts", K.ST_NOTS, "scheduler events without a timestamp dropped"),
                              ("perfetto-no-cpu", K.ST_NOCPU, "ftrace bundles without a cpu skipped"),
                              ("perfetto-ftrace-error", K.ST_FTERR, "ftrace read errors recorded by "
                               "traced_probes (FtraceEventBundle.error)"),
                              ("perfetto-broken-abi", K.ST_BROKEN, "ftrace pages traced_probes could not "
                               "parse (broken_abi_trace_page)"),
                              ("perfetto-packet-dropped", K.ST_DROPPED, "packets follow one the tracing "
                               "service dropped (previous_packet_dropped)")):
            if st[idx]:
                w.add(key, f"{int(st[idx])} {msg}")
        # Lost counts: FtraceStats overruns (end minus start of trace), else "some".
        start, end = self.ftrace_stats.get(1, {}), self.ftrace_stats.get(2, {})
        counted = {c: end[c] - start.get(c, 0) for c in end if end[c] - start.get(c, 0) > 0}
        flagged = np.bincount(cols["cpu"][lost_rows].astype(np.int64)) if lost_rows.any() else np.zeros(0)
        pending = np.flatnonzero(self.first.cpu_st[:, K.CS_PENDING])
        for c in sorted(set(counted) | set(np.flatnonzero(flagged).tolist()) | set(pending.tolist())):
            r.add_lost(int(c), counted.get(c, -1))
            if c in counted and c < len(flagged) and flagged[c] == 1:
                cols["lost_events"][lost_rows & (cols["cpu"] == c)] = min(counted[c], 2**31 - 1)


def _stream(reader: _Reader, src: Source, progress, half: int) -> None:
    """Feed the (decompressed) file to the reader's current pass, block by block."""
    stream, consumed = src.open()
    buf = b""
    base = 0
    note = ""
    with stream:
        while True:
            try:
                chunk = stream.read(BLOCK)
            except EOFError:
                chunk, note = b"", f" (the {src.compression} stream is cut short)"
            except TraceError:
                raise
            except Exception as exc:
                raise TraceError(f"corrupt {src.compression or 'file'} data after {base + len(buf)} "
                                 f"decompressed bytes: {exc}", src.path, offset=base + len(buf)) from None
            if progress is not None:
                progress((half * src.size + consumed()) // 2)
            buf = buf + chunk if buf else chunk
            used = reader.feed(buf, base)
            buf = buf[used:]
            base += used
            need = int(reader.p.st[K.ST_NEED])
            if not chunk or (not src.compression and need and base + need > src.size):
                break  # at the end, or the record in hand claims more bytes than the file has left
    if buf and half == 0:
        what = f"a {need}-byte TracePacket" if need else "a TracePacket"
        reader.result.warnings.add("perfetto-truncated", f"the trace is truncated{note}: it ends inside "
                                   f"{what} starting at byte {base} ({len(buf)} bytes present); the "
                                   "events before it were read")


def read(src: Source, fmt: str, progress=None) -> ReadResult:
    """Read a binary Perfetto trace (see the module docstring). It is read twice: a
    stream (standard input, a pipe) is first copied to a temporary file."""
    src = src.spooled()
    reader = _Reader(src, fmt)
    _stream(reader, src, progress, 0)
    reader.second_pass()
    _stream(reader, src, progress, 1)
    if progress is not None:
        progress(src.size)
    return reader.finish()


def read_textproto(src: Source, fmt: str, progress=None) -> ReadResult:
    """Read a Perfetto trace in protobuf text format (``packet { ... }``): parsed
    with ``google.protobuf.text_format`` into a ``Trace`` and decoded like a
    binary trace."""
    from google.protobuf import text_format

    stream, _ = src.open()
    try:
        with stream:
            text = stream.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceError(f"not UTF-8 text: {exc.reason}", src.path, offset=exc.start) from None
    except TraceError:
        raise
    except Exception as exc:
        raise TraceError(f"corrupt {src.compression or 'file'} data: {exc}", src.path) from None
    trace = _pb2().Trace()
    try:
        text_format.Parse(text, trace, allow_unknown_field=False)
    except text_format.ParseError as exc:
        line = exc.GetLine() if hasattr(exc, "GetLine") else None
        raise TraceError(f"invalid Perfetto textproto: {exc}", src.path, line=line) from None
    except Exception as exc:
        raise TraceError(f"invalid Perfetto textproto: {exc}", src.path) from None
    reader = _Reader(src, fmt)
    data = trace.SerializeToString()
    for _ in range(2):
        if reader.feed(data, 0) != len(data):
            raise TraceError("corrupt Perfetto textproto: a packet does not serialise", src.path)
        if reader.p.mode == 1:
            reader.second_pass()
    if progress is not None:
        progress(src.size)
    return reader.finish()
