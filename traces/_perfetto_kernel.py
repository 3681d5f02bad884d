"""Numba kernels of the Perfetto reader: a protobuf wire-format scanner that
decodes ftrace bundles straight into event columns.

It follows these messages of ``protos/perfetto/trace`` (field numbers as in
the ``perfetto`` package's ``perfetto_trace_pb2``): ``Trace {packet = 1}``;
``TracePacket {ftrace_events = 1, ...}`` (the packets parsed in Python,
process_tree = 2, process_stats = 9, ftrace_stats = 34, trace_stats = 35,
system_info = 45, track_descriptor = 60, cpu_info = 67, and the compressed
ones, 50 and 133, come back as byte spans; so do, whole (AUX_PACKET), the
packets the track events need, see _packet); ``FtraceEventBundle {cpu = 1,
event = 2, lost_events = 3, compact_sched = 4, ftrace_clock = 5, error = 8,
last_read_event_timestamp = 9, previous_bundle_end_timestamp = 10,
generic_event_descriptors = 11}``; ``CompactSched`` (packed varint columns:
switch_timestamp = 1, switch_prev_state = 2, switch_next_pid = 3,
switch_next_prio = 4, intern_table = 5, switch_next_comm_index = 6,
waking_timestamp = 7, waking_pid = 8, waking_target_cpu = 9, waking_prio =
10, waking_comm_index = 11, waking_common_flags = 12; each timestamp column
delta-encoded within the bundle, its first value absolute); ``FtraceEvent
{timestamp = 1, pid = 2, common_flags = 5, <event>}`` with the sched events'
messages (see FMAP) and sched_stat_runtime, which has no compiled message
and comes as ``GenericFtraceEvent generic = 327`` or (perfetto v50+) as a
field a ``GenericEventDescriptor`` declares; ``print = 3``
(``PrintFtraceEvent {ip = 1, buf = 2}``, a trace_marker write) goes to the
marker table (see _print_buf).

Positions are byte offsets into the buffer handed in. Nothing here raises:
errors go to the state array ``st``, for the caller to raise a TraceError
naming the byte offset.

Bounds: every table the kernels write (out, spans, bundles, aux, marks, wk,
the per-CPU and per-sequence arrays) is the caller's, and each write is
checked against its shape first: a bundle that does not fit is not
committed, the scan stops (S_FLUSH) at its packet, restores the tables'
counters and says what it needs (st[ST_NEED], [ST_NEED_SPANS],
[ST_NEED_WK], [ST_NEED_AUX], [ST_NEED_MARKS]). A CPU or sequence id out of
range is an error or clamped before it indexes anything. Payload positions
come from _ln, which never lets a length reach past the end of the enclosing
message, so every read is inside the buffer.
"""

from __future__ import annotations

import numpy as np

from . import schema
from ._numba import INTERNAL, NO_NRT, jit

# Decoded events, column-major, one 2D array per dtype (``out`` = the tuple
# (I64, I32, I16, I8, used)): out[g][column, row]. The caller fills new
# blocks with COLUMN_DEFAULTS, so the kernel writes only what an event has;
# ``used[g, column]`` records which columns it wrote at all. String columns
# hold span indices (-1: none) until the caller turns them into string codes;
# ``flag`` says what compact_sched left implied (1 switch: prev task,
# 2 waking: current task, 3 LOST row).
GROUPS = (
    (np.int64, ("ts_ns", "prev_state", "runtime_ns", "vruntime_ns")),
    (np.int32, ("cur_tid", "tid", "next_tid", "parent_tid", "old_tid", "lost_events", "comm",
                "next_comm", "parent_comm", "filename", "tgid")),
    (np.int16, ("cpu", "prio", "next_prio", "target_cpu", "orig_cpu")),
    (np.int8, ("kind", "irq", "group_dead", "flag")),
)
COLUMN_DEFAULTS = {name: -1 for _, names in GROUPS for name in names}
COLUMN_DEFAULTS.update(prio=schema.NO_PRIO, next_prio=schema.NO_PRIO, lost_events=0, flag=0)
STRING_FIELDS = ("comm", "next_comm", "parent_comm", "filename")
C_TS, C_PSTATE, C_RUN, C_VRUN = range(4)
C_CUR, C_TID, C_NTID, C_PTID, C_OLD, C_LOST, C_COMM, C_NCOMM, C_PCOMM, C_FILE, C_TGID = range(11)
C_CPU, C_PRIO, C_NPRIO, C_TCPU, C_OCPU = range(5)
C_KIND, C_IRQ, C_GDEAD, C_FLAG = range(4)
FLAG_COMPACT_SWITCH = 1
FLAG_COMPACT_WAKING = 2
FLAG_LOST = 3

MAX_CPUS = 4096          # a bundle cpu beyond this is corrupt (trace processor: 1024)
MAX_GENERIC = 1024       # GenericEventDescriptors remembered
MAX_PREV_STATES = 256    # distinct raw prev_state values tracked in the kernel
PKT_FIELDS = 2048        # TracePacket field numbers counted (larger ones clamp)

# Indices into the int64 state array ``st``.
ST_NROWS, ST_NSPANS, ST_NBUND, ST_NAUX, ST_POS, ST_ERR, ST_ERRPOS, ST_NEED = range(8)
ST_SKIPPED, ST_NOTS, ST_NOCPU, ST_FTERR, ST_BROKEN, ST_DROPPED, ST_UNSORTED, ST_CLOCK = range(8, 16)
ST_GAPS, ST_NEED_WK, ST_NEED_AUX, ST_MID, ST_MID_CPU, ST_MID_TS, ST_NGEN, ST_NPS = range(16, 24)
ST_PS_OVER, ST_BUNDLES, ST_PACKETS, ST_LOSTB, ST_LOST_CPU, ST_LOST_POS, ST_NEED_SPANS, ST_MODE = range(24, 32)
ST_KINDS = 32  # st[ST_KINDS + kind]: rows of each kind (schema.KIND_NAMES: 10 kinds)
ST_NMARK, ST_NEED_MARKS = 48, 49
ST_SIZE = 56

# The marker table ``marks`` (int64, (capacity, 4)), filled in pass 1 only: one row per
# ftrace print event (trace_marker write): timestamp (NO_TS: none), FtraceEvent.pid
# (-1: none), and where PrintFtraceEvent.buf is (start, length), or (the byte offset
# of the damage, -1) when the PrintFtraceEvent message is malformed. The caller turns
# rows 0..st[ST_NMARK] into text and empties the table after every scan call.
MK_TS, MK_PID, MK_START, MK_LEN = range(4)

# Scratch rows of ``wk`` (int64, (WK_ROWS, capacity)): the per-bundle arrays, which
# the caller allocates because the kernels are compiled without the NRT (no
# allocation inside; see _numba.NO_NRT). A bundle of m events needs m columns
# (st[ST_NEED_WK] says how many when they do not fit). ``cols`` (13, 3): the
# CompactSched columns' (start, end, count).
WK_TS, WK_DEST, WK_POS, WK_V, WK_ORD, WK_TMP, WK_PL = 0, 1, 2, 3, 4, 5, 6
WK_ROWS = WK_PL + 7

# Per-CPU state ``cpu_st[cpu]``: last (max) event timestamp, bundles seen,
# a pending LOST marker (lost_events on a bundle without scheduler events).
CS_LAST_TS, CS_BUNDLES, CS_PENDING = range(3)
NO_TS = np.iinfo(np.int64).min

# Kernel return codes.
S_DONE, S_FLUSH, S_COMPRESSED, S_ERROR, S_DESCRIPTORS = range(5)

# Error codes (messages in traces.perfetto).
E_VARINT, E_OVERRUN, E_WIRETYPE, E_CPU, E_COLUMNS, E_INTERN, E_RANGE, E_UNPACKED, E_FIELD0 = range(1, 10)

# TracePacket fields returned as spans for Python (pb2) to parse.
AUX_FIELDS = np.array([2, 9, 34, 35, 45, 60, 67], np.int64)
COMPRESSED_FIELDS = (50, 133)
# The aux "field" of a whole TracePacket handed to Python for its track events (field 0
# is never a real field).
AUX_PACKET = 0
# seq_seen[sequence id] bits: packets seen on the sequence; it carries track events
SEQ_SEEN, SEQ_TRACK = 1, 2
# Sequence-scoped clock ids (ClockSnapshot.Clock: 64-127 are reserved for them).
SEQ_CLOCK_MIN, SEQ_CLOCK_END = 64, 128

# Plain event message field -> ROW slot, per kind (index: schema kind code,
# then the field number 1..7 of that event's message).
_S_COMM, _S_TID, _S_PRIO, _S_PSTATE, _S_NCOMM, _S_NTID, _S_NPRIO, _S_TCPU = 1, 2, 3, 4, 5, 6, 7, 8
_S_OCPU, _S_PCOMM, _S_PTID, _S_FILE, _S_OLD, _S_TGID, _S_RUN, _S_VRUN = 9, 10, 11, 12, 13, 14, 15, 16
FMAP = np.zeros((10, 8), np.int8)
# SchedSwitchFtraceEvent: prev_comm 1, prev_pid 2, prev_prio 3, prev_state 4, next_comm 5,
# next_pid 6, next_prio 7
FMAP[schema.SWITCH, 1:8] = (_S_COMM, _S_TID, _S_PRIO, _S_PSTATE, _S_NCOMM, _S_NTID, _S_NPRIO)
# SchedWaking/Wakeup/WakeupNewFtraceEvent: comm 1, pid 2, prio 3, success 4, target_cpu 5
for _k in (schema.WAKING, schema.WAKEUP, schema.WAKEUP_NEW):
    FMAP[_k, 1:6] = (_S_COMM, _S_TID, _S_PRIO, 0, _S_TCPU)
# SchedMigrateTaskFtraceEvent: comm 1, pid 2, prio 3, orig_cpu 4, dest_cpu 5
FMAP[schema.MIGRATE, 1:6] = (_S_COMM, _S_TID, _S_PRIO, _S_OCPU, _S_TCPU)
# SchedProcessForkFtraceEvent: parent_comm 1, parent_pid 2, child_comm 3, child_pid 4
FMAP[schema.FORK, 1:5] = (_S_PCOMM, _S_PTID, _S_COMM, _S_TID)
# SchedProcessExecFtraceEvent: filename 1, pid 2, old_pid 3
FMAP[schema.EXEC, 1:4] = (_S_FILE, _S_TID, _S_OLD)
# SchedProcessExitFtraceEvent: comm 1, pid 2, tgid 3, prio 4
FMAP[schema.EXIT, 1:5] = (_S_COMM, _S_TID, _S_TGID, _S_PRIO)

# Slot -> (dtype group, column), and whether it holds a string.
SLOT_G = np.array([0, 1, 1, 2, 0, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 0, 0], np.int64)
SLOT_C = np.array([0, C_COMM, C_TID, C_PRIO, C_PSTATE, C_NCOMM, C_NTID, C_NPRIO, C_TCPU,
                   C_OCPU, C_PCOMM, C_PTID, C_FILE, C_OLD, C_TGID, C_RUN, C_VRUN], np.int64)
SLOT_STR = np.isin(np.arange(17), [_S_COMM, _S_NCOMM, _S_PCOMM, _S_FILE])

_NAME_STAT_RUNTIME = np.frombuffer(b"sched_stat_runtime", np.uint8).copy()
_NAME_COMM = np.frombuffer(b"comm", np.uint8).copy()
_NAME_PID = np.frombuffer(b"pid", np.uint8).copy()
_NAME_RUNTIME = np.frombuffer(b"runtime", np.uint8).copy()
_NAME_VRUNTIME = np.frombuffer(b"vruntime", np.uint8).copy()

_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


# --------------------------------------------------------------------------
# Wire-format primitives. An error travels as a negative reading position
# (_err: its code and byte offset inside), which ends every ``while 0 <= p <
# end`` loop; the bundle and packet code record it in st[ST_ERR] / st[ST_ERRPOS].
# What runs for every field of every plain event is inlined (_v's one-byte case,
# _tag, _ln); the varint loop (_rv) and _skip are calls. Numba inlines an
# inline="always" function's IR at each call site and types it again there: with
# _rv's loop inlined into every reader the Perfetto kernels' cold compile was 43 s,
# with this split 22 s, for a read 3-5% slower (a 5M-event file, 1.23-1.25 s ->
# 1.27-1.31 s); every helper a call: 18 s compile but 23% slower reads.
# --------------------------------------------------------------------------

@jit(**NO_NRT)
def _rv(buf, p, end):
    """Read a varint at ``p``: (value as int64, next position); the position
    is -1 when the varint runs past ``end``, -2 when it is over 10 bytes."""
    if p < end and buf[p] < 0x80:  # the common one-byte varint
        return np.int64(buf[p]), p + 1
    v = np.int64(0)
    s = 0
    while p < end:
        b = np.int64(buf[p])
        p += 1
        if s < 64:
            v |= (b & 0x7F) << s
        if b < 0x80:
            return v, p
        s += 7
        if s >= 70:
            return v, -2
    return v, -1


@jit(**INTERNAL, **NO_NRT)
def _fail(st, code, pos):
    if st[ST_ERR] == 0:
        st[ST_ERR] = code
        st[ST_ERRPOS] = pos
    return False


@jit(inline="always", **NO_NRT)
def _err(code, pos):
    """An error as a position: negative, the code and the byte offset inside."""
    return -(pos * 16 + code) - 1


@jit(**INTERNAL, **NO_NRT)
def _fail_at(st, tok):
    """Record the error an error position ``tok`` (< 0) carries."""
    return _fail(st, (-tok - 1) & 15, (-tok - 1) >> 4)


@jit(inline="always", **NO_NRT)
def _v(buf, p, end):
    """A varint: (value, next position), or (0, an error position)."""
    if p < end and buf[p] < 0x80:  # the common one-byte varint, inline; longer ones by a call
        return np.int64(buf[p]), p + 1
    v, q = _rv(buf, p, end)
    if q < 0:
        return np.int64(0), _err(E_VARINT if q == -2 else E_OVERRUN, p)
    return v, q


@jit(inline="always", **NO_NRT)
def _ln(buf, p, end):
    """(start, end) of the length-delimited payload at ``p``; both an error position on error."""
    n, q = _v(buf, p, end)
    if q >= 0 and (n < 0 or n > end - q):
        q = _err(E_OVERRUN, p)
    return (q, q) if q < 0 else (q, q + n)


@jit(**INTERNAL, **NO_NRT)
def _skip(buf, p, end, wt):
    """Position after a field payload of wire type ``wt`` (0, 1, 2 or 5)."""
    if wt == 0:
        return _v(buf, p, end)[1]
    if wt == 2:
        return _ln(buf, p, end)[1]
    n = 8 if wt == 1 else 4
    return p + n if p + n <= end else _err(E_OVERRUN, p)


@jit(inline="always", **NO_NRT)
def _tag(buf, p, end):
    """(field number, wire type, next position) of the tag at ``p``; field 0
    and an error position on error (field number 0, wire types 3, 4, 6, 7)."""
    t, q = _v(buf, p, end)
    wt = t & 7
    if q >= 0 and (t >> 3 == 0 or (wt != 0 and wt != 1 and wt != 2 and wt != 5)):
        q = _err(E_FIELD0 if t >> 3 == 0 else E_WIRETYPE, p)
    return (0, 0, q) if q < 0 else (t >> 3, wt, q)


@jit(**INTERNAL, **NO_NRT)
def _count_packed(buf, s, e):
    """Number of varints in a packed column [s, e); -1 if the last one is cut."""
    if e > s and buf[e - 1] >= 0x80:
        return -1
    # (as np.count_nonzero(buf[s:e] < 0x80), which needs the NRT: a loop LLVM
    # vectorises, given an unsigned index without the negative-index check)
    n = np.int64(0)
    for i in range(np.uint64(s), np.uint64(e)):
        n += 1 - (np.int64(buf[i]) >> 7)
    return n


@jit(**INTERNAL, **NO_NRT)
def _bytes_eq(buf, s, e, name):
    if e - s != name.shape[0]:
        return False
    for i in range(e - s):
        if buf[s + i] != name[i]:
            return False
    return True


@jit(**INTERNAL, **NO_NRT)
def _add_span(buf, spans, st, s, e):
    """Record the string buf[s:e] (start, length, FNV-1a hash); returns its index."""
    i = st[ST_NSPANS]
    h = np.int64(-3750763034362895579)
    for k in range(s, e):
        h = (h ^ np.int64(buf[k])) * np.int64(1099511628211)
    spans[i, 0] = s
    spans[i, 1] = e - s
    spans[i, 2] = h ^ (e - s)
    st[ST_NSPANS] = i + 1
    return i


@jit(inline="always", **NO_NRT)
def _irq_of_flags(flags):
    """schema irq code from the ring buffer's common_flags (kernel trace.h:
    TRACE_FLAG_HARDIRQ 0x08, TRACE_FLAG_SOFTIRQ 0x10, TRACE_FLAG_NMI 0x40)."""
    return -1 if flags < 0 else 3 if flags & 0x40 else 2 if flags & 0x08 else 1 if flags & 0x10 else 0


@jit(inline="always", **NO_NRT)
def _put(out, g, c, r, v):
    """out[g][c, r] = v, and note that column (g, c) is used."""
    if g == 0:
        out[0][c, r] = v
    elif g == 1:
        out[1][c, r] = v
    elif g == 2:
        out[2][c, r] = v
    else:
        out[3][c, r] = v
    out[4][g, c] = 1


@jit(inline="always", **NO_NRT)
def _set_slot(out, r, slot, v):
    """Store ``v`` in slot ``slot`` (see FMAP) of row ``r``; False if it does not fit the column."""
    g = SLOT_G[slot]
    if g == 1 and (v < _I32_MIN or v > _I32_MAX) or g == 2 and (v < -32768 or v > 32767):
        return False
    _put(out, g, SLOT_C[slot], r, v)
    return True


# --------------------------------------------------------------------------
# Plain ftrace events
# --------------------------------------------------------------------------

@jit(**INTERNAL, **NO_NRT)
def _generic_slot(buf, s, e):
    """One GenericFtraceEvent.Field {name 1, str_value 3, int_value 4,
    uint_value 5} of sched_stat_runtime: (slot, value, string start, string
    end, error position or 0)."""
    ns = ne = vs = ve = -1
    ival = np.int64(0)
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == 0:
            return 0, ival, vs, ve, q
        if (f == 1 or f == 3) and wt == 2:
            a, p = _ln(buf, q, e)
            if f == 1:
                ns, ne = a, p
            else:
                vs, ve = a, p
        elif (f == 4 or f == 5) and wt == 0:
            ival, p = _v(buf, q, e)
        else:
            p = _skip(buf, q, e, wt)
    if p < 0:
        return 0, ival, vs, ve, p
    for slot, name in ((_S_COMM, _NAME_COMM), (_S_TID, _NAME_PID), (_S_RUN, _NAME_RUNTIME),
                       (_S_VRUN, _NAME_VRUNTIME)):
        if ns >= 0 and _bytes_eq(buf, ns, ne, name):
            return slot, ival, vs, ve, 0
    return 0, ival, vs, ve, 0


@jit(**INTERNAL, **NO_NRT)
def _decode_plain(buf, s, e, kind, gsub, out, r, spans, st, gen):
    """Decode an event message [s, e) into row ``r``: a sched event through
    FMAP, or sched_stat_runtime as a GenericFtraceEvent (gsub -1) or as the
    message a GenericEventDescriptor declared (gen[gsub]). Returns 0 or an
    error position."""
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == 0:
            return q
        slot = 0
        if kind == schema.STAT_RUNTIME and gsub < 0:
            if f == 2 and wt == 2:  # GenericFtraceEvent.field
                a, p = _ln(buf, q, e)
                if a < 0:
                    return a
                slot, v, vs, ve, err = _generic_slot(buf, a, p)
                if err < 0:
                    return err
                if slot == _S_COMM and vs >= 0:
                    _set_slot(out, r, slot, _add_span(buf, spans, st, vs, ve))
                elif slot != 0 and slot != _S_COMM and not _set_slot(out, r, slot, v):
                    return _err(E_RANGE, a)
                continue
        elif kind == schema.STAT_RUNTIME:
            for k in range(4):
                if f == gen[gsub, 2 + k]:
                    slot = (_S_COMM, _S_TID, _S_RUN, _S_VRUN)[k]
        elif f < 8:
            slot = np.int64(FMAP[kind, f])
        if slot != 0 and SLOT_STR[slot] and wt == 2:
            a, p = _ln(buf, q, e)
            if a >= 0:
                _set_slot(out, r, slot, _add_span(buf, spans, st, a, p))
        elif slot != 0 and not SLOT_STR[slot] and wt == 0:
            v, p = _v(buf, q, e)
            if p >= 0 and not _set_slot(out, r, slot, v):
                return _err(E_RANGE, q)
        else:
            p = _skip(buf, q, e, wt)
    return p if p < 0 else 0


@jit(**INTERNAL, **NO_NRT)
def _needs_descriptor(buf, s, e, st, gen):
    """Whether a GenericEventDescriptor {field_id 1; event_descriptor 2} [s, e)
    declares a field id not registered yet (the caller parses its
    DescriptorProto and fills gen[]: field_id, is sched_stat_runtime, and the
    field numbers of comm, pid, runtime, vruntime). Returns (need, error position or 0)."""
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == 1 and wt == 0:
            field_id, p = _v(buf, q, e)
            known = False
            for g in range(st[ST_NGEN]):
                known = known or gen[g, 0] == field_id
            need = st[ST_NGEN] < gen.shape[0] and not known
            return need and p >= 0, min(p, 0)
        p = q if f == 0 else _skip(buf, q, e, wt)
    return False, min(p, 0)


@jit(**INTERNAL, **NO_NRT)
def _kind_of_payload(buf, f, s, e, st, gen):
    """(kind, generic descriptor index, error position or 0) of the FtraceEvent
    payload field ``f`` (FtraceEvent field numbers); kind -1 when it is not a
    scheduler event."""
    if f == 327:  # GenericFtraceEvent {event_name 1; ...}
        p = s
        while 0 <= p < e:
            f2, wt, q = _tag(buf, p, e)
            if f2 == 1 and wt == 2:
                a, p = _ln(buf, q, e)
                if a < 0:
                    return -1, -1, a
                return (schema.STAT_RUNTIME if _bytes_eq(buf, a, p, _NAME_STAT_RUNTIME) else -1), -1, 0
            p = q if f2 == 0 else _skip(buf, q, e, wt)
        return -1, -1, min(p, 0)
    for g in range(st[ST_NGEN]):
        if gen[g, 0] == f:
            return (schema.STAT_RUNTIME if gen[g, 1] else -1), g, 0
    k = (schema.SWITCH if f == 4 else schema.WAKING if f == 20 else schema.WAKEUP if f == 17 else
         schema.WAKEUP_NEW if f == 114 else schema.MIGRATE if f == 491 else schema.FORK if f == 239 else
         schema.EXEC if f == 237 else schema.EXIT if f == 238 else -1)
    return k, -1, 0


# --------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------

@jit(**INTERNAL, **NO_NRT)
def _track_ps(ps_vals, st, v):
    """Remember the distinct raw prev_state values (normalised later, per trace)."""
    n = st[ST_NPS]
    for i in range(n):
        if ps_vals[i] == v:
            return
    if n < ps_vals.shape[0]:
        ps_vals[n] = v
        st[ST_NPS] = n + 1
    else:
        st[ST_PS_OVER] = 1


@jit(**INTERNAL, **NO_NRT)
def _bundle_fields(buf, b, be, st, gen):
    """Pass 1 over an FtraceEventBundle: its scalar fields, where compact_sched
    is, how many plain events it has, whether it declares generic events not
    registered yet; the last value is 0 or an error position."""
    cpu = prev_end = clock = np.int64(-1)
    lost = has10 = has_prev = need_desc = False
    cs = ce = -1
    nplain = fterr = broken = 0
    p = b
    while 0 <= p < be:
        f, wt, q = _tag(buf, p, be)
        if f == 0:
            p = q
        elif wt == 0 and (f == 1 or f == 3 or f == 5 or f == 9 or f == 10):
            v, p = _v(buf, q, be)
            if f == 1:
                cpu = v
            elif f == 3:
                lost = v != 0
            elif f == 5:
                clock = v
            elif f == 10 or not has10:  # previous_bundle_end_timestamp (v47+), or
                prev_end = v            # last_read_event_timestamp (v44-v46)
                has10 = has10 or f == 10
                has_prev = True
        elif wt == 2 and (f == 2 or f == 4 or f == 8 or f == 11):
            a, p = _ln(buf, q, be)
            if a < 0:
                pass
            elif f == 2:
                nplain += 1
            elif f == 4:
                cs, ce = a, p
            elif f == 8:
                fterr += 1
            else:
                need, err = _needs_descriptor(buf, a, p, st, gen)
                need_desc = need_desc or need
                p = err if err < 0 else p
        else:
            broken += f == 512
            p = _skip(buf, q, be, wt)
    return cpu, lost, prev_end, has10, has_prev, cs, ce, nplain, clock, fterr, broken, need_desc, min(p, 0)


@jit(**INTERNAL, **NO_NRT)
def _compact_layout(buf, cs, ce, st, cols):
    """Pass 2: where CompactSched's packed columns are (cols[f] = start, end)
    and how many events they hold (cols[f, 2]; cols comes filled with -1, 0):
    (intern entries, switches, wakings)."""
    n_intern = 0
    p = cs
    while 0 <= p < ce:
        f, wt, q = _tag(buf, p, ce)
        if 1 <= f <= 12 and f != 5 and wt == 0:
            _fail(st, E_UNPACKED, p)
            return 0, 0, 0
        if 1 <= f <= 12 and wt == 2:
            a, z = _ln(buf, q, ce)
            if f == 5:
                n_intern += 1
            elif cols[f, 0] >= 0:  # a packed column split in two chunks
                _fail(st, E_COLUMNS, p)
            elif a >= 0:
                cols[f, 0] = a
                cols[f, 1] = z
            p = z
        else:
            p = q if f == 0 else _skip(buf, q, ce, wt)
    if p < 0:
        _fail_at(st, p)
    for f in range(1, 13):
        if f != 5 and cols[f, 0] >= 0:
            cols[f, 2] = _count_packed(buf, cols[f, 0], cols[f, 1])
            if cols[f, 2] < 0:
                _fail(st, E_VARINT, cols[f, 1] - 1)
    for f in range(2, 13):
        if f != 5 and f != 7 and cols[f, 0] >= 0 and cols[f, 2] != cols[1 if f < 7 else 7, 2]:
            _fail(st, E_COLUMNS, cols[f, 0])
    return n_intern, cols[1, 2], cols[7, 2]


@jit(**INTERNAL, **NO_NRT)
def _print_buf(buf, s, e):
    """(start, length) of ``buf = 2`` in a PrintFtraceEvent {ip 1; buf 2} [s, e)
    (length 0 when it has none; the last one when repeated, as protobuf merges),
    or (the byte offset of the damage, -1) when the message is malformed."""
    a = z = s
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == 2 and wt == 2:
            a, p = _ln(buf, q, e)
            z = p
        else:
            p = q if f == 0 else _skip(buf, q, e, wt)
    if p < 0:
        return (-p - 1) >> 4, np.int64(-1)
    return a, z - a


@jit(**INTERNAL, **NO_NRT)
def _plain_events(buf, b, be, st, gen, pl, marks):
    """Pass 3 over the bundle's FtraceEvents {timestamp 1; pid 2; common_flags
    5; <event>}: for each scheduler event, pl[:, i] = timestamp, pid,
    common_flags, kind, generic index, payload start, payload end. Print events
    (field 3) go, in pass 1, to the marker table rows st[ST_NMARK] + j, only those
    below marks.shape[0] (the caller commits them, or asks for room: the count
    is of them all). Returns (count, others skipped, without timestamp, max
    timestamp, sorted, print events, error position or 0)."""
    record = st[ST_MODE] == 1
    nmk = 0
    n = skipped = nots = 0
    bmax = NO_TS
    ordered = True
    p = b
    while 0 <= p < be:
        f, wt, q = _tag(buf, p, be)
        if f != 2 or wt != 2:
            p = q if f == 0 else _skip(buf, q, be, wt)
            continue
        a, p = _ln(buf, q, be)
        ts = NO_TS
        pid = flags = pf = ps_ = pe_ = np.int64(-1)
        k = a
        while 0 <= k < p:
            f2, wt2, k2 = _tag(buf, k, p)
            if f2 == 0:
                k = k2
            elif wt2 == 0 and (f2 == 1 or f2 == 2 or f2 == 5):
                v, k = _v(buf, k2, p)
                if f2 == 1:
                    ts = v
                elif f2 == 2:
                    pid = v
                    if v < _I32_MIN or v > _I32_MAX:
                        k = _err(E_RANGE, k2)
                else:
                    flags = v & 0xFFFFFFFF
            elif wt2 == 2 and pf < 0:
                pf = f2
                ps_, pe_ = _ln(buf, k2, p)
                k = pe_
            else:
                k = _skip(buf, k2, p, wt2)
        if k < 0:
            return n, skipped, nots, bmax, ordered, nmk, k
        if ts != NO_TS and ts > bmax:
            bmax = ts
        if pf == 3:  # print: an application's trace_marker write
            j = st[ST_NMARK] + nmk
            nmk += 1
            if record and j < marks.shape[0]:
                marks[j, MK_TS] = ts
                marks[j, MK_PID] = pid
                marks[j, MK_START], marks[j, MK_LEN] = _print_buf(buf, ps_, pe_)
            continue
        kind = gsub = err = -1
        if pf >= 0:
            kind, gsub, err = _kind_of_payload(buf, pf, ps_, pe_, st, gen)
            if err < 0:
                return n, skipped, nots, bmax, ordered, nmk, err
        if kind < 0:
            skipped += 1
        elif ts == NO_TS:
            nots += 1
        else:
            if n > 0 and ts < pl[0, n - 1]:
                ordered = False
            pl[0, n] = ts
            pl[1, n] = pid
            pl[2, n] = flags
            pl[3, n] = kind
            pl[4, n] = gsub
            pl[5, n] = ps_
            pl[6, n] = pe_
            n += 1
    return n, skipped, nots, bmax, ordered, nmk, min(p, 0)


@jit(**INTERNAL, **NO_NRT)
def _stable_dest(tsb, m, n1, n2, ordered, dest, order, tmp):
    """Position of each bundle event (dest[i]) after a stable sort by timestamp of
    [compact switches | compact wakings | plain events] (the order the trace
    processor's tokenizer pushes them in): a 3-way merge when each group is
    already sorted, a merge sort otherwise (``order``, ``tmp``: scratch)."""
    if not ordered:
        # bottom-up merge sort of the indices: stable, so the same order as
        # np.argsort(kind="mergesort")
        for o in range(m):
            order[o] = o
        width = 1
        src, dst = order, tmp
        while width < m:
            lo = 0
            while lo < m:
                mid = min(lo + width, m)
                hi = min(lo + 2 * width, m)
                a, b, o = lo, mid, lo
                while a < mid and b < hi:
                    if tsb[src[b]] < tsb[src[a]]:
                        dst[o] = src[b]
                        b += 1
                    else:
                        dst[o] = src[a]
                        a += 1
                    o += 1
                while a < mid:
                    dst[o] = src[a]
                    a += 1
                    o += 1
                while b < hi:
                    dst[o] = src[b]
                    b += 1
                    o += 1
                lo = hi
            src, dst = dst, src
            width *= 2
        for o in range(m):
            dest[src[o]] = o
        return
    i, j, k = 0, n1, n2
    for o in range(m):
        g = -1
        best = 0
        if i < n1:
            g, best = 0, i
        if j < n2 and (g < 0 or tsb[j] < tsb[best]):
            g, best = 1, j
        if k < m and (g < 0 or tsb[k] < tsb[best]):
            g, best = 2, k
        dest[best] = o
        if g == 0:
            i += 1
        elif g == 1:
            j += 1
        else:
            k += 1


@jit(**INTERNAL, **NO_NRT)
def _packed(buf, cols, f, n, v, o, add):
    """v[o:o + k] = the n varints of packed CompactSched column ``f`` plus ``add``;
    returns k (n, 0 when the column is absent). _compact_layout counted them, so
    each ends before the column does."""
    k = n if cols[f, 0] >= 0 else 0
    p = np.uint64(max(cols[f, 0], 0))  # unsigned: no negative-index check per byte
    for i in range(k):
        x = np.int64(0)
        s = 0
        while True:
            b = np.int64(buf[p])
            p += np.uint64(1)
            if s < 64:
                x |= (b & 0x7F) << s
            if b < 0x80:
                break
            s += 7
        v[o + i] = x + add
    return k


@jit(**INTERNAL, **NO_NRT)
def _scatter1(a, c, w, v):
    for i in range(v.shape[0]):
        a[c, w[i]] = v[i]


@jit(**INTERNAL, **NO_NRT)
def _scatter(out, g, c, w, v, vmin, vmax, st, err, pos):
    """out[g][c, w[i]] = v[i], after checking vmin <= v <= vmax."""
    if v.shape[0] == 0:
        return
    lo = hi = v[0]  # (v.min() needs the NRT)
    for i in range(1, v.shape[0]):
        lo = min(lo, v[i])
        hi = max(hi, v[i])
    if lo < vmin or hi > vmax:
        _fail(st, err, pos)
    elif g == 0:
        _scatter1(out[0], c, w, v)
    elif g == 1:
        _scatter1(out[1], c, w, v)
    elif g == 2:
        _scatter1(out[2], c, w, v)
    else:
        _scatter1(out[3], c, w, v)
    out[4][g, c] = 1


@jit(**INTERNAL, **NO_NRT)
def _bundle(buf, b, be, out, pos, spans, bundles, st, cpu_st, gen, ps_vals, wk, cols, marks):
    """Decode one FtraceEventBundle [b, be) into rows (and, in pass 1, its print
    events into ``marks``). Returns 0 ok, 1 error, 2 no room (st[ST_NEED] rows,
    st[ST_NEED_SPANS] spans, st[ST_NEED_WK] scratch columns, st[ST_NEED_MARKS]
    marker rows needed), 3 it has
    generic event descriptors the caller must register first (nothing is
    committed in cases 2 and 3)."""
    cpu, lost, prev_end, has10, has_prev, cs, ce, nplain, clock, fterr, broken, need_desc, err = \
        _bundle_fields(buf, b, be, st, gen)
    if err < 0:
        _fail_at(st, err)
        return 1
    if need_desc:
        return 3
    for f in range(13):
        cols[f, 0] = -1
        cols[f, 1] = -1
        cols[f, 2] = 0
    n_intern = ns = nw = 0
    if cs >= 0:
        n_intern, ns, nw = _compact_layout(buf, cs, ce, st, cols)
    if st[ST_ERR] != 0:
        return 1
    if ns + nw + nplain > wk.shape[1]:
        st[ST_NEED] = 0
        st[ST_NEED_SPANS] = 0
        st[ST_NEED_WK] = ns + nw + nplain
        return 2
    pl = wk[WK_PL:WK_PL + 7]
    nps, skipped, nots, bmax, ordered, nmk, err = _plain_events(buf, b, be, st, gen, pl, marks)
    if err < 0:
        _fail_at(st, err)
    if st[ST_ERR] != 0:
        return 1
    if cpu >= MAX_CPUS or cpu < -1:
        _fail(st, E_CPU, b)
        return 1
    if cpu < 0:
        st[ST_NOCPU] += 1
        return 0
    m = ns + nw + nps
    last = cpu_st[cpu, CS_LAST_TS]
    gap = has10 and last != NO_TS and prev_end != last
    emit_lost = (lost or gap or cpu_st[cpu, CS_PENDING] != 0) and m > 0
    nrows = m + (1 if emit_lost else 0)
    full = st[ST_MODE] == 2  # the first pass only needs timestamps and CPUs
    need_spans = n_intern + 4 * nps + 1 if full else 0
    need_marks = nmk if not full else 0
    if (st[ST_NROWS] + nrows > out[0].shape[1] or st[ST_NSPANS] + need_spans > spans.shape[0]
            or st[ST_NBUND] >= bundles.shape[0] or st[ST_NMARK] + need_marks > marks.shape[0]):
        st[ST_NEED] = nrows + 1
        st[ST_NEED_SPANS] = need_spans
        st[ST_NEED_MARKS] = need_marks
        return 2

    # Commit: counters first, then the rows.
    st[ST_NMARK] += need_marks
    st[ST_BUNDLES] += 1
    st[ST_FTERR] += fterr
    st[ST_BROKEN] += broken
    st[ST_SKIPPED] += skipped
    st[ST_NOTS] += nots
    if clock >= 0:
        st[ST_CLOCK] = clock
    if lost or gap:
        if st[ST_LOSTB] + st[ST_GAPS] == 0:
            st[ST_LOST_CPU] = cpu
            st[ST_LOST_POS] = b
        st[ST_LOSTB if lost else ST_GAPS] += 1
        if m == 0:
            cpu_st[cpu, CS_PENDING] = 1
    if cpu_st[cpu, CS_BUNDLES] == 0 and has_prev and prev_end > 0:
        if st[ST_MID] == 0:
            st[ST_MID_CPU] = cpu
            st[ST_MID_TS] = prev_end
        st[ST_MID] += 1
    cpu_st[cpu, CS_BUNDLES] += 1
    st[ST_KINDS + schema.SWITCH] += ns
    st[ST_KINDS + schema.WAKING] += nw
    st[ST_KINDS + schema.LOST] += 1 if emit_lost else 0
    for i in range(nps):
        st[ST_KINDS + pl[3, i]] += 1

    intern_base = st[ST_NSPANS]
    p = cs
    while full and n_intern > 0 and 0 <= p < ce:  # (pass 2 located the entries already)
        f, wt, q = _tag(buf, p, ce)
        if f == 5:  # intern_table
            a, p = _ln(buf, q, ce)
            _add_span(buf, spans, st, a, p)
        else:
            p = _skip(buf, q, ce, wt)

    # Timestamps: switch_timestamp (1) and waking_timestamp (7) are each
    # delta-encoded within the bundle, the first value absolute.
    tsb = wk[WK_TS]
    for f, o, n in ((1, 0, ns), (7, ns, nw)):
        k = _packed(buf, cols, f, n, tsb, o, 0)
        for i in range(o + 1, o + k):
            ordered = ordered and tsb[i] >= 0
            tsb[i] += tsb[i - 1]
    for i in range(nps):
        tsb[ns + nw + i] = pl[0, i]
    dest = wk[WK_DEST]
    _stable_dest(tsb, m, ns, ns + nw, ordered, dest, wk[WK_ORD], wk[WK_TMP])
    base = st[ST_NROWS]
    lo = 1 if emit_lost else 0  # the LOST row goes first
    # Where each of the bundle's rows goes: in the first pass (ST_MODE 1) the
    # next free rows; in the second, the event-order position pos[row].
    bmin = NO_TS
    if m > 0:
        bmin = tsb[0]
        tmax = tsb[0]
        for i in range(1, m):
            bmin = min(bmin, tsb[i])
            tmax = max(tmax, tsb[i])
        bmax = max(bmax, tmax)
    wpos = wk[WK_POS]  # where event i of the bundle goes
    if full:
        for i in range(m):
            wpos[i] = pos[base + lo + dest[i]]
    else:
        for i in range(m):
            wpos[i] = base + lo + dest[i]
    for i in range(m):
        j = wpos[i]
        out[0][C_TS, j] = tsb[i]
        out[2][C_CPU, j] = cpu
        if full:
            kind = schema.SWITCH if i < ns else schema.WAKING if i < ns + nw else pl[3, i - ns - nw]
            out[3][C_KIND, j] = kind
            if i < ns + nw:
                out[3][C_FLAG, j] = FLAG_COMPACT_SWITCH if i < ns else FLAG_COMPACT_WAKING
    if full:
        if ns + nw > 0:
            out[4][3, C_FLAG] = 1
        sw, wkg = wpos[:ns], wpos[ns:ns + nw]
        vals = wk[WK_V]
        big = np.iinfo(np.int64).max
        ps = vals[:_packed(buf, cols, 2, ns, vals, 0, 0)]  # switch_prev_state
        _scatter(out, 0, C_PSTATE, sw, ps, -big - 1, big, st, E_RANGE, cols[2, 0])
        prev = np.int64(-2)
        for v in ps:
            if v != prev:
                _track_ps(ps_vals, st, v)
                prev = v
        for f, g, c, w, a, b in ((3, 1, C_NTID, sw, _I32_MIN, _I32_MAX),
                                 (4, 2, C_NPRIO, sw, -32768, 32767),
                                 (8, 1, C_TID, wkg, _I32_MIN, _I32_MAX),
                                 (9, 2, C_TCPU, wkg, -32768, 32767),
                                 (10, 2, C_PRIO, wkg, -32768, 32767)):
            k = _packed(buf, cols, f, w.shape[0], vals, 0, 0)
            _scatter(out, g, c, w, vals[:k], a, b, st, E_RANGE, cols[f, 0])
        for f, c, w in ((6, C_NCOMM, sw), (11, C_COMM, wkg)):  # indices into intern_table
            k = _packed(buf, cols, f, w.shape[0], vals, 0, intern_base)
            _scatter(out, 1, c, w, vals[:k], intern_base,
                     intern_base + n_intern - 1, st, E_INTERN, cols[f, 0])
        flags = vals[:_packed(buf, cols, 12, nw, vals, 0, 0)]  # waking_common_flags
        for i in range(flags.shape[0]):
            flags[i] = _irq_of_flags(flags[i] & 0xFFFFFFFF)
        _scatter(out, 3, C_IRQ, wkg, flags, -1, 3, st, E_RANGE, cols[12, 0])
        for i in range(nps):
            r = wpos[ns + nw + i]
            if pl[1, i] >= 0:
                _put(out, 1, C_CUR, r, pl[1, i])
            if pl[2, i] >= 0:
                _put(out, 3, C_IRQ, r, _irq_of_flags(pl[2, i]))
            err = _decode_plain(buf, pl[5, i], pl[6, i], pl[3, i], pl[4, i], out, r, spans, st, gen)
            if err < 0:
                _fail_at(st, err)
                return 1
            if pl[3, i] == schema.SWITCH:
                _track_ps(ps_vals, st, out[0][C_PSTATE, r])
    if st[ST_ERR] != 0:
        return 1
    if emit_lost:
        at0 = pos[base] if full else base
        out[0][C_TS, at0] = bmin
        out[2][C_CPU, at0] = cpu
        if full:
            out[3][C_KIND, at0] = schema.LOST
            _put(out, 3, C_FLAG, at0, FLAG_LOST)
        cpu_st[cpu, CS_PENDING] = 0
    if m > 0:
        if last != NO_TS and bmin < last:
            st[ST_UNSORTED] = 1
        nb = st[ST_NBUND]
        bundles[nb, 0] = base
        bundles[nb, 1] = base + nrows
        bundles[nb, 2] = cpu
        st[ST_NBUND] = nb + 1
        st[ST_NROWS] = base + nrows
    if bmax != NO_TS and (last == NO_TS or bmax > last):
        cpu_st[cpu, CS_LAST_TS] = bmax
    return 0


# --------------------------------------------------------------------------
# Packets
# --------------------------------------------------------------------------

@jit(**INTERNAL, **NO_NRT)
def _is_aux(f):
    for a in AUX_FIELDS:
        if a == f:
            return True
    return False


@jit(**INTERNAL, **NO_NRT)
def _varint_field(buf, s, e, want):
    """The last value of varint field ``want`` in the message [s, e), or -1 (absent,
    or the message is malformed: then Python, reading it whole, reports it)."""
    v = np.int64(-1)
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == want and wt == 0:
            v, p = _v(buf, q, e)
        else:
            p = q if f == 0 else _skip(buf, q, e, wt)
    return v if p >= 0 else np.int64(-1)


@jit(**INTERNAL, **NO_NRT)
def _has_field(buf, s, e, want):
    """Whether the message [s, e) has a length-delimited field ``want``."""
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        if f == want and wt == 2:
            return True
        p = q if f == 0 else _skip(buf, q, e, wt)
    return False


@jit(**INTERNAL, **NO_NRT)
def _track_field(buf, f, a, z):
    """Whether TracePacket field ``f`` (payload [a, z)) is one the track events
    need: track_event 11, thread_descriptor 44, interned_data 12 with event_names
    (InternedData field 2), trace_packet_defaults 59 with track_event_defaults
    (TracePacketDefaults field 11) or a sequence-scoped timestamp_clock_id (58),
    a clock_snapshot 6 defining a sequence-scoped clock (ClockSnapshot.clocks 1:
    Clock {clock_id 1, ...})."""
    if f == 11 or f == 44:
        return True
    if f == 12:
        return _has_field(buf, a, z, 2)
    if f == 59:
        c = _varint_field(buf, a, z, 58)
        return _has_field(buf, a, z, 11) or (SEQ_CLOCK_MIN <= c < SEQ_CLOCK_END)
    if f == 6:
        p = a
        while 0 <= p < z:
            f2, wt, q = _tag(buf, p, z)
            if f2 == 1 and wt == 2:
                c0, p = _ln(buf, q, z)
                if c0 >= 0 and SEQ_CLOCK_MIN <= _varint_field(buf, c0, p, 1) < SEQ_CLOCK_END:
                    return True
            else:
                p = q if f2 == 0 else _skip(buf, q, z, wt)
    return False


@jit(**INTERNAL, **NO_NRT)
def _packet(buf, s, e, out, pos, spans, bundles, aux, st, cpu_st, gen, ps_vals, pkt_counts, seq_seen,
            wk, cols, marks):
    """One TracePacket [s, e). Returns 0 ok, 1 error, 2 no room, 3 ok and it
    held compressed packets (the caller must expand them before going on),
    4 descriptors to register first.

    In pass 1 the packets the track events need come back whole (aux entry
    AUX_PACKET): those with one of the fields _track_field names or a
    sequence-scoped timestamp_clock_id, which mark their sequence SEQ_TRACK,
    and on such a sequence every packet with a timestamp (8) or that clears
    the incremental state (sequence_flags 13 bit 1, incremental_state_cleared
    41), so that incremental clocks and interning can be followed."""
    comp = dropped = first = False
    track = has_ts = clear = False
    pass1 = st[ST_MODE] == 1
    seq = np.int64(0)
    n0 = st[ST_NAUX]
    p = s
    while 0 <= p < e:
        f, wt, q = _tag(buf, p, e)
        pkt_counts[min(f, PKT_FIELDS - 1)] += 1
        if f == 0:
            p = q
        elif wt == 2:
            a, p = _ln(buf, q, e)
            if a < 0:
                pass
            elif f == 1:  # ftrace_events
                r = _bundle(buf, a, p, out, pos, spans, bundles, st, cpu_st, gen, ps_vals, wk, cols, marks)
                if r != 0:
                    return 4 if r == 3 else r
            elif f == COMPRESSED_FIELDS[0] or f == COMPRESSED_FIELDS[1] or _is_aux(f):
                n = st[ST_NAUX]
                if n >= aux.shape[0]:
                    st[ST_NEED_AUX] = n - n0 + 1  # this packet's entries (the caller drains the rest)
                    return 2
                aux[n, 0], aux[n, 1], aux[n, 2] = f, a, p
                st[ST_NAUX] = n + 1
                comp = comp or f == COMPRESSED_FIELDS[0] or f == COMPRESSED_FIELDS[1]
            elif pass1 and not track and (f == 6 or f == 11 or f == 12 or f == 44 or f == 59):
                track = _track_field(buf, f, a, p)
        elif wt == 0 and (f == 8 or f == 10 or f == 13 or f == 41 or f == 42 or f == 58 or f == 87):
            v, p = _v(buf, q, e)
            if f == 8:  # timestamp
                has_ts = True
            elif f == 10:  # trusted_packet_sequence_id
                seq = v
            elif f == 13 or f == 41:  # sequence_flags (SEQ_INCREMENTAL_STATE_CLEARED 1), incremental_state_cleared
                clear = clear or (v & 1 if f == 13 else v) != 0
            elif f == 42:  # previous_packet_dropped
                dropped = v != 0
            elif f == 58:  # timestamp_clock_id
                track = track or SEQ_CLOCK_MIN <= v < SEQ_CLOCK_END
            else:  # first_packet_on_sequence
                first = v != 0
        else:
            p = _skip(buf, q, e, wt)
    if p < 0:
        _fail_at(st, p)
        return 1
    if seq < 0 or seq >= seq_seen.shape[0]:
        seq = 0
    if pass1 and (track or (seq_seen[seq] & SEQ_TRACK != 0 and (has_ts or clear))):
        n = st[ST_NAUX]
        if n >= aux.shape[0]:
            st[ST_NEED_AUX] = n - n0 + 1
            return 2
        aux[n, 0], aux[n, 1], aux[n, 2] = AUX_PACKET, s, e
        st[ST_NAUX] = n + 1
    # Writers set previous_packet_dropped on the first packet of each sequence
    # too; only a flag on a sequence seen before means packets were lost.
    if dropped and not first and seq_seen[seq] != 0:
        st[ST_DROPPED] += 1
    seq_seen[seq] |= SEQ_SEEN | (SEQ_TRACK if track else 0)
    return 3 if comp else 0


@jit(**NO_NRT)
def scan(buf, start, end, out, pos, spans, bundles, aux, st, cpu_st, gen, ps_vals, pkt_counts, seq_seen,
         wk, cols, marks):
    """Decode the complete ``Trace.packet`` records in buf[start:end].

    Stops at an incomplete record (S_DONE, st[ST_POS] = where it starts,
    st[ST_NEED] = its full size when known), when the row/span/aux tables are
    full (S_FLUSH, at the packet that did not fit; the caller empties the
    marker and aux tables after every call), at a packet with generic
    event descriptors to register (S_DESCRIPTORS), after a packet holding
    compressed packets (S_COMPRESSED) or at corrupt data (S_ERROR, st[ST_ERR]
    and st[ST_ERRPOS]).

    Memory safety, whatever the bytes: every varint and length-delimited field is
    read only after checking it ends before the end of its enclosing message (_rv,
    _skip: E_OVERRUN otherwise), rows, spans and aux entries are written only below
    their tables' sizes, and values read from the data index arrays only after a range
    check (a bundle's cpu below MAX_CPUS: E_CPU; intern-table and column indices within
    their lengths: E_INTERN, E_COLUMNS; a value outside its column: E_RANGE).
    """
    p = start
    st[ST_NEED] = 0
    status = S_DONE
    while p < end:
        tag, q = _rv(buf, p, end)
        n, q2 = _rv(buf, q, end) if q >= 0 and tag & 7 == 2 else (np.int64(0), q)
        if q == -1 or q2 == -1:
            break  # the record is cut by the end of the buffer
        if q < 0 or q2 < 0 or n < 0 or tag >> 3 == 0:
            _fail(st, E_FIELD0 if q >= 0 and tag >> 3 == 0 else E_VARINT, p)
            status = S_ERROR
            break
        if tag != 0x0A:  # not a `packet = 1` record: skip it
            wt = tag & 7
            q2 = _skip(buf, q, end, wt) if wt == 0 or wt == 1 or wt == 2 or wt == 5 else _err(E_WIRETYPE, p)
            if q2 < 0 and (-q2 - 1) & 15 == E_OVERRUN:  # cut by the end of the buffer: wait for more data
                break
            if q2 < 0:
                _fail_at(st, q2)
                status = S_ERROR
                break
            p = q2
            continue
        if n > end - q2:
            st[ST_NEED] = q2 - p + n
            break
        saved = (st[ST_NROWS], st[ST_NSPANS], st[ST_NBUND], st[ST_NAUX], st[ST_NMARK])
        r = _packet(buf, q2, q2 + n, out, pos, spans, bundles, aux, st, cpu_st, gen, ps_vals, pkt_counts,
                    seq_seen, wk, cols, marks)
        if r == 1:
            status = S_ERROR
            break
        if r == 2 or r == 4:
            st[ST_NROWS], st[ST_NSPANS], st[ST_NBUND], st[ST_NAUX], st[ST_NMARK] = saved
            status = S_FLUSH if r == 2 else S_DESCRIPTORS
            break
        st[ST_PACKETS] += 1
        p = q2 + n
        if r == 3:
            status = S_COMPRESSED
            break
    st[ST_POS] = p
    return status


# --------------------------------------------------------------------------
# After the scan
# --------------------------------------------------------------------------

@jit
def verify_spans(buf, spans, n, rep):
    """True when every span i holds the same bytes as span rep[i] (hash check)."""
    for i in range(n):
        j = rep[i]
        a, b, ln = spans[i, 0], spans[j, 0], spans[i, 1]
        if i != j and (spans[j, 1] != ln or (buf[a:a + ln] != buf[b:b + ln]).any()):
            return False
    return True
