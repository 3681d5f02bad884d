"""Numba kernels of the trace.dat reader: ring-buffer pages -> column arrays.

Three passes, none with a Python loop per event:

1. :func:`scan_pages` walks every ring-buffer page of every CPU, follows the
   record headers (time deltas, time extends, absolute time stamps, padding)
   and keeps, for each scheduler event, its raw timestamp, where its payload
   starts in the buffer, its length and its kind. A page whose commit word
   carries the missed-events flag yields a LOST entry first.
2. :func:`merge_cpus` merges the per-CPU streams into one order the way
   ``trace-cmd report`` does (``tracecmd_peek_next_data``: the record with the
   smallest timestamp, ties to the lowest CPU, each CPU in ring-buffer order).
3. :func:`decode_events` reads the fields each event's format describes
   (offsets, sizes, signedness, ``__data_loc``/``__rel_loc`` strings) and
   interns strings to local codes with a byte-comparing hash table; then
   vectorised NumPy maps common_flags to the irq code and prev_state to the
   normalised bits (:func:`irq_of_flags`, :func:`normalise_prev_state`).

Record layout (kernel/trace/ring_buffer.c; libtraceevent kbuffer-parse.c,
which trace-cmd uses and whose behaviour is followed where the two differ):
a page is ``u64 timestamp; long commit; data[]``; each record starts with a
32-bit word ``type_len:5, time_delta:27`` (the bit-field order follows the
file's endianness), then

* type_len 1..28: a data record of ``type_len * 4`` payload bytes;
* type_len 0: ``array[0]`` holds the length + 4, the payload follows it;
* 29 (padding): ``array[0]`` bytes to skip; kbuffer adds its delta to the clock;
* 30 (time extend): ``delta += array[0] << 27``;
* 31 (absolute time stamp, Linux >= 5.12): the clock becomes
  ``array[0] << 27 | time_delta``, keeping the 5 top bits of the old clock.

Every read is bounds-checked here (the package compiles with
``boundscheck=False``): a corrupt or truncated buffer yields an error code
and position per CPU, never a crash or an endless loop (every step moves
forward by at least 4 bytes or one page).
"""

from __future__ import annotations

import numpy as np

from . import schema
from ._numba import NO_NRT, jit

TYPE_PADDING = 29
TYPE_TIME_EXTEND = 30
TYPE_TIME_STAMP = 31
TS_SHIFT = 27
COMMIT_MASK = (1 << 27) - 1
MISSING_EVENTS = 1 << 31  # RB_MISSED_EVENTS in the page's commit word
MISSING_STORED = 1 << 30  # RB_MISSED_STORED: the count follows the data
TS_MSB = 0xF8 << 56       # kbuffer: bits an absolute time stamp does not carry

LOST = 9  # schema.LOST

# Per-CPU error codes (first problem found on that CPU).
ERR_NONE = 0
ERR_TRUNCATED = 1   # the data ends before the size the file declares
ERR_BAD_PAGE = 2    # commit size larger than the page: page skipped
ERR_BAD_RECORD = 3  # a record runs past its page or has an impossible length
ERR_SHORT_EVENT = 4  # a scheduler event shorter than its format: skipped

# Integer fields decoded per kind (the slot numbers in act_int); the order is the
# contract between tracedat.py and decode_events.
I_COMMON_PID, I_COMMON_FLAGS, I_TID, I_PRIO, I_PREV_STATE, I_NEXT_TID, I_NEXT_PRIO, \
    I_TARGET_CPU, I_ORIG_CPU, I_PARENT_TID, I_OLD_TID, I_GROUP_DEAD, I_RUNTIME, \
    I_VRUNTIME = range(14)
N_INT = 14
# String fields (the slot numbers in act_str).
S_COMM, S_NEXT_COMM, S_PARENT_COMM, S_FILENAME = range(4)
N_STR = 4
# String field modes.
STR_ABSENT, STR_ARRAY, STR_DATA_LOC, STR_REL_LOC = range(4)

# Source field of each column, per kind (6.x names; older kernels use the same
# names where the field exists). Integer slots, then string slots.
INT_FIELDS = {
    schema.SWITCH: {I_TID: "prev_pid", I_PRIO: "prev_prio", I_PREV_STATE: "prev_state",
                    I_NEXT_TID: "next_pid", I_NEXT_PRIO: "next_prio"},
    schema.WAKING: {I_TID: "pid", I_PRIO: "prio", I_TARGET_CPU: "target_cpu"},
    schema.MIGRATE: {I_TID: "pid", I_PRIO: "prio", I_ORIG_CPU: "orig_cpu",
                     I_TARGET_CPU: "dest_cpu"},
    schema.FORK: {I_TID: "child_pid", I_PARENT_TID: "parent_pid"},
    schema.EXEC: {I_TID: "pid", I_OLD_TID: "old_pid"},
    schema.EXIT: {I_TID: "pid", I_PRIO: "prio", I_GROUP_DEAD: "group_dead"},
    schema.STAT_RUNTIME: {I_TID: "pid", I_RUNTIME: "runtime", I_VRUNTIME: "vruntime"},
}
INT_FIELDS[schema.WAKEUP] = INT_FIELDS[schema.WAKEUP_NEW] = INT_FIELDS[schema.WAKING]
STR_FIELDS = {
    schema.SWITCH: {S_COMM: "prev_comm", S_NEXT_COMM: "next_comm"},
    schema.FORK: {S_COMM: "child_comm", S_PARENT_COMM: "parent_comm"},
    schema.EXEC: {S_FILENAME: "filename"},
}
for _k in (schema.WAKING, schema.WAKEUP, schema.WAKEUP_NEW, schema.MIGRATE, schema.EXIT,
           schema.STAT_RUNTIME):
    STR_FIELDS[_k] = {S_COMM: "comm"}


def irq_of_flags(flags: np.ndarray) -> np.ndarray:
    """Context from common_flags (kernel/trace/trace.h TRACE_FLAG_*): NMI 0x40, HARDIRQ 0x08, SOFTIRQ 0x10."""
    irq = np.where(flags & 0x40, schema.IRQ_NMI,
                   np.where(flags & 0x08, schema.IRQ_HARD,
                            np.where(flags & 0x10, schema.IRQ_SOFT, schema.IRQ_NONE)))
    return np.where(flags < 0, schema.IRQ_UNKNOWN, irq).astype(np.int8)


def normalise_prev_state(raw: np.ndarray, smap) -> np.ndarray:
    """Normalised prev_state bits from raw values; ``smap`` is tracedat._prev_state_map's result."""
    bits, preempt, (d_bit, n_bit), identity = smap
    if identity:
        return raw.astype(np.int32)
    out = np.zeros(len(raw), np.int64)
    for src, dst in bits:
        out |= np.where(raw & src, dst, 0)
    out |= np.where(raw & preempt, schema.STATE_PREEMPTED, 0)
    if d_bit and n_bit:  # TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD before 4.14
        idle = (raw & d_bit != 0) & (raw & n_bit != 0)
        out = np.where(idle, (out & ~schema.STATE_DISK) | schema.STATE_IDLE, out)
    return out.astype(np.int32)


# The kernels below allocate nothing and are compiled without the NRT (NO_NRT): with
# it, every call of a helper taking ``buf`` increfs/decrefs it out of line (~25 ns,
# more than the read itself). Bytes are read through an unsigned index, which
# spares numba's negative-index wraparound per access (every index here is >= 0).
@jit(**NO_NRT)
def _rd32(buf, i, big):
    """Unsigned 32-bit integer at ``buf[i]`` as int64 (caller checked the bounds)."""
    u = np.uint64(i)
    b0 = np.int64(buf[u])
    b1 = np.int64(buf[u + np.uint64(1)])
    b2 = np.int64(buf[u + np.uint64(2)])
    b3 = np.int64(buf[u + np.uint64(3)])
    if big:
        return (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
    return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)


@jit(**NO_NRT)
def _rd64(buf, i, big):
    """Unsigned 64-bit integer at ``buf[i]``."""
    a = np.uint64(_rd32(buf, i, big))
    b = np.uint64(_rd32(buf, i + 4, big))
    if big:
        return (a << np.uint64(32)) | b
    return (b << np.uint64(32)) | a


@jit(**NO_NRT)
def _rd(buf, i, n, big):
    """Unsigned ``n``-byte integer (n = 1, 2, 4 or 8) at ``buf[i]`` as uint64 (0 for other n)."""
    if n == 4:
        return np.uint64(_rd32(buf, i, big))
    if n == 8:
        return _rd64(buf, i, big)
    u = np.uint64(i)
    if n == 2:
        b0 = np.int64(buf[u])
        b1 = np.int64(buf[u + np.uint64(1)])
        if big:
            return np.uint64((b0 << 8) | b1)
        return np.uint64(b0 | (b1 << 8))
    if n == 1:
        return np.uint64(buf[u])
    return np.uint64(0)  # other sizes never reach here (checked when the format is read)


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    b = np.empty(max(2 * len(a), n, 1024), a.dtype)
    b[:len(a)] = a
    return b


@jit(**NO_NRT)
def _scan_some(buf, lo, hi, page_size, ts_off, commit_off, commit_size, data_off, big,
               type_off, type_size, id_kind, min_len,
               ts, off, rlen, kind, seg, err_code, err_pos, problems, state):
    """Scan pages from ``state = [cpu index, page offset or -1, n kept, skipped]``
    until done (returns True) or until the output arrays may not hold one more
    page (returns False; the caller grows them and calls again). The arrays are
    never reallocated in here, which keeps this loop free of reference counting.

    Memory safety, whatever the bytes: a CPU's range is cut at len(buf), every page
    header, record header and payload is read only after checking it ends within its
    page and the buffer (a violation is an error code for that CPU, which stops it), and
    an event's kind comes from id_kind only for a type id below len(id_kind)."""
    ncpu = len(lo)
    nbuf = len(buf)
    nkind = len(id_kind)
    max_size = page_size - data_off
    room = page_size // 8 + 2  # most entries one page can yield (8-byte records + LOST)
    c = state[0]
    p = state[1]
    n = state[2]
    skipped = state[3]
    while c < ncpu:
        bad = ERR_NONE  # a problem on this page: code and position
        bad_at = np.int64(0)
        if p < 0:
            seg[c] = n
            p = lo[c]
            if hi[c] > nbuf:
                bad = ERR_TRUNCATED
                bad_at = nbuf
        end = min(hi[c], nbuf)
        if p >= end:
            if bad != ERR_NONE:
                if err_code[c] == ERR_NONE:
                    err_code[c] = bad
                    err_pos[c] = bad_at
                problems[c] += 1
            c += 1
            p = -1
            continue
        if n + room > len(ts):
            state[0] = c
            state[1] = p
            state[2] = n
            state[3] = skipped
            return False
        page = p
        p += page_size
        if page + data_off > end:
            bad = ERR_TRUNCATED
            bad_at = page
            p = end
        else:
            t = _rd64(buf, page + ts_off, big)
            commit = _rd(buf, page + commit_off, commit_size, big)
            size = np.int64(commit & np.uint64(COMMIT_MASK))
            dstart = page + data_off
            dend = dstart + size
            if size > max_size:
                bad = ERR_BAD_PAGE
                bad_at = page
                dend = dstart  # skip the page's records
            elif dend > end:
                bad = ERR_TRUNCATED
                bad_at = end
                dend = end
            if size <= max_size and commit & np.uint64(MISSING_EVENTS):
                cnt = np.int64(-1)
                stored_end = dstart + size + commit_size  # the count follows the data
                if commit & np.uint64(MISSING_STORED) and stored_end <= min(page + page_size, end):
                    cnt = np.int64(_rd(buf, dstart + size, commit_size, big))
                    if cnt < 0:
                        cnt = -1
                ts[n] = t
                off[n] = cnt
                rlen[n] = 0
                kind[n] = LOST
                n += 1
            q = dstart
            while q + 4 <= dend:
                h = _rd32(buf, q, big)
                if big:
                    tl = h >> 27
                    delta = h & 0x7FFFFFF
                else:
                    tl = h & 31
                    delta = h >> 5
                if tl == TYPE_PADDING:
                    if q + 8 > dend:
                        break  # a last padding word without its length: end of page
                    t += np.uint64(delta)  # kbuffer adds a padding's delta too
                    q = q + 4 + _rd32(buf, q + 4, big)
                    continue
                if tl == TYPE_TIME_EXTEND or tl == TYPE_TIME_STAMP:
                    if q + 8 > dend:
                        bad = ERR_BAD_RECORD
                        bad_at = q
                        break
                    ext = (np.uint64(_rd32(buf, q + 4, big)) << np.uint64(TS_SHIFT)) + np.uint64(delta)
                    if tl == TYPE_TIME_STAMP:
                        t = ext | (t & np.uint64(TS_MSB))
                    else:
                        t += ext
                    q += 8
                    continue
                if tl == 0:
                    a0 = np.int64(0)
                    if q + 8 <= dend:
                        a0 = _rd32(buf, q + 4, big)
                    if a0 < 4:
                        bad = ERR_BAD_RECORD
                        bad_at = q
                        break
                    ln = ((a0 - 4) + 3) & ~np.int64(3)
                    pay = q + 8
                else:
                    ln = tl * 4
                    pay = q + 4
                t += np.uint64(delta)
                nxt = pay + ln
                if nxt > dend:
                    bad = ERR_BAD_RECORD
                    bad_at = q
                    break
                q = nxt
                if ln < type_off + type_size:
                    skipped += 1
                    continue
                eid = np.int64(_rd(buf, pay + type_off, type_size, big))
                k = -1
                if eid < nkind:
                    k = id_kind[eid]
                if k < 0:
                    skipped += 1
                    continue
                if ln < min_len[k]:
                    if bad == ERR_NONE:
                        bad = ERR_SHORT_EVENT
                        bad_at = pay
                    continue
                ts[n] = t
                off[n] = pay
                rlen[n] = ln
                kind[n] = k
                n += 1
        if bad != ERR_NONE:
            if err_code[c] == ERR_NONE:
                err_code[c] = bad
                err_pos[c] = bad_at
            problems[c] += 1
    seg[ncpu] = n
    state[0] = c
    state[1] = p
    state[2] = n
    state[3] = skipped
    return True


def scan_pages(buf, lo, hi, page_size, ts_off, commit_off, commit_size, data_off, big,
               type_off, type_size, id_kind, min_len):
    """Walk the pages of each CPU (``buf[lo[c]:hi[c]]``, CPUs in ascending id order).

    Returns ``(ts_raw, off, rlen, kind, seg, err_code, err_pos, n_problems,
    skipped)``: per kept entry the raw (unconverted) timestamp, the payload
    offset in ``buf`` (for LOST entries: the lost count, -1 unknown), the
    payload length and the kind; ``seg[c]:seg[c+1]`` are CPU ``c``'s entries;
    per CPU the first error code/position and the number of problems
    (truncation, bad pages or records); ``skipped`` counts records of other
    events. The jitted part stops when its arrays fill up; they grow here.
    """
    ncpu = len(lo)
    total = int(np.clip(np.minimum(hi, len(buf)) - lo, 0, None).sum())
    cap = max(1024, total // 48, page_size // 4)
    ts = np.empty(cap, np.uint64)
    off = np.empty(cap, np.int64)
    rlen = np.empty(cap, np.int32)
    kind = np.empty(cap, np.int8)
    seg = np.zeros(ncpu + 1, np.int64)
    err_code = np.zeros(ncpu, np.int8)
    err_pos = np.full(ncpu, -1, np.int64)
    problems = np.zeros(ncpu, np.int64)
    state = np.array([0, -1, 0, 0], np.int64)
    while not _scan_some(buf, lo, hi, page_size, ts_off, commit_off, commit_size, data_off, big,
                         type_off, type_size, id_kind, min_len,
                         ts, off, rlen, kind, seg, err_code, err_pos, problems, state):
        m = 2 * len(ts)
        ts, off, rlen, kind = _grow(ts, m), _grow(off, m), _grow(rlen, m), _grow(kind, m)
    n = int(state[2])
    return ts[:n], off[:n], rlen[:n], kind[:n], seg, err_code, err_pos, problems, int(state[3])


@jit
def tsc_to_ns(ts, mult, shift):
    """mul_u64_u32_shr(ts, mult, shift) of trace-cmd's timestamp_calc, elementwise."""
    out = np.empty(len(ts), np.uint64)
    m = np.uint64(mult)
    s = np.uint64(shift)
    lo_mask = np.uint64(0xFFFFFFFF)
    for i in range(len(ts)):
        a = ts[i]
        r = ((a & lo_mask) * m) >> s
        ah = a >> np.uint64(32)
        if ah:
            r += (ah * m) << (np.uint64(32) - s)
        out[i] = r
    return out


@jit(**NO_NRT)
def _before(ts, pos, a, b):
    ta = ts[pos[a]]
    tb = ts[pos[b]]
    return ta < tb or (ta == tb and a < b)


@jit(**NO_NRT)
def _merge(ts, seg, pos, heap, out, cpu_ids, cpu_out):
    """merge_cpus's loop, without the NRT (its scratch comes from the caller)."""
    ncpu = len(seg) - 1
    n = seg[ncpu]
    hn = 0
    for c in range(ncpu):
        if pos[c] < seg[c + 1]:
            heap[hn] = c
            j = hn
            hn += 1
            while j > 0:
                par = (j - 1) // 2
                if _before(ts, pos, heap[j], heap[par]):
                    heap[j], heap[par] = heap[par], heap[j]
                    j = par
                else:
                    break
    for i in range(n):
        c = heap[0]
        out[i] = pos[c]
        cpu_out[i] = cpu_ids[c]
        pos[c] += 1
        if pos[c] >= seg[c + 1]:
            hn -= 1
            heap[0] = heap[hn]
        j = 0
        while True:
            left = 2 * j + 1
            if left >= hn:
                break
            m = left
            if left + 1 < hn and _before(ts, pos, heap[left + 1], heap[left]):
                m = left + 1
            if _before(ts, pos, heap[m], heap[j]):
                heap[j], heap[m] = heap[m], heap[j]
                j = m
            else:
                break


def merge_cpus(ts, seg, cpu_ids):
    """Merged order of the per-CPU streams ``ts[seg[c]:seg[c+1]]``.

    Repeatedly takes the head with the smallest timestamp, ties to the lowest
    CPU index, like trace-cmd's ``tracecmd_peek_next_data``; a binary heap
    keyed on (head timestamp, CPU) keeps it O(n log CPUs). Returns the
    permutation (indices into ``ts``) and the CPU id of each merged entry
    (``cpu_ids[c]`` for stream ``c``).
    """
    ncpu = len(seg) - 1
    n = int(seg[ncpu])
    out = np.empty(n, np.int64)
    cpu_out = np.empty(n, cpu_ids.dtype)
    pos = seg[:ncpu].copy()
    heap = np.empty(max(ncpu, 1), np.int64)
    _merge(ts, seg, pos, heap, out, cpu_ids, cpu_out)
    return out, cpu_out


@jit
def _rehash(uhash, nu, size):
    """Open-addressing table (1-based unique indices, 0 = empty) of the first ``nu`` hashes."""
    slots = np.zeros(size, np.int32)
    mask = size - 1
    for u in range(nu):
        j = np.int64(uhash[u] & np.uint64(mask))
        while slots[j] != 0:
            j = (j + 1) & mask
        slots[j] = u + 1
    return slots


@jit(**NO_NRT)
def _signed(v, size):
    """Sign-extend the low ``size`` bytes of ``v`` (int64)."""
    if size >= 8:
        return v
    bits = 8 * size
    if (v >> (bits - 1)) & 1:
        return v - (np.int64(1) << bits)
    return v


@jit(**NO_NRT)
def _decode_ints(buf, big, off, rlen, kind, act_int, n_int,
                 cur_tid, flags, tid, prio, prev_state, next_tid, next_prio,
                 target_cpu, orig_cpu, parent_tid, old_tid, group_dead, runtime, vruntime):
    for i in range(len(off)):
        k = kind[i]
        if k == LOST:
            continue
        base = off[i]
        rl = np.int64(rlen[i])
        for j in range(n_int[k]):
            slot = act_int[k, j, 0]
            fo = act_int[k, j, 1]
            size = act_int[k, j, 2]
            if fo + size > rl:
                continue
            o = base + fo
            if size == 4:
                v = _rd32(buf, o, big)
            elif size == 8:
                v = np.int64(_rd64(buf, o, big))
            elif size == 2:
                v = np.int64(_rd(buf, o, size, big))
            else:
                v = np.int64(buf[np.uint64(o)])
            if act_int[k, j, 3]:
                v = _signed(v, size)
            # values outside their int32/int16 columns never wrap around: pids and prios
            # become "unknown", CPU fields -2 (the builder warns about them and makes them -1)
            if slot == I_COMMON_PID:
                cur_tid[i] = v if -1 <= v <= 2**31 - 1 else -1
            elif slot == I_COMMON_FLAGS:
                flags[i] = v
            elif slot == I_TID:
                tid[i] = v if -1 <= v <= 2**31 - 1 else -1
            elif slot == I_PRIO:
                prio[i] = v if -32767 <= v <= 32767 else schema.NO_PRIO
            elif slot == I_PREV_STATE:
                prev_state[i] = v
            elif slot == I_NEXT_TID:
                next_tid[i] = v if -1 <= v <= 2**31 - 1 else -1
            elif slot == I_NEXT_PRIO:
                next_prio[i] = v if -32767 <= v <= 32767 else schema.NO_PRIO
            elif slot == I_TARGET_CPU:
                target_cpu[i] = v if -1 <= v < schema.MAX_CPUS else -2
            elif slot == I_ORIG_CPU:
                orig_cpu[i] = v if -1 <= v < schema.MAX_CPUS else -2
            elif slot == I_PARENT_TID:
                parent_tid[i] = v if -1 <= v <= 2**31 - 1 else -1
            elif slot == I_OLD_TID:
                old_tid[i] = v if -1 <= v <= 2**31 - 1 else -1
            elif slot == I_GROUP_DEAD:
                group_dead[i] = v
            elif slot == I_RUNTIME:
                runtime[i] = v
            else:
                vruntime[i] = v


@jit(**NO_NRT)
def _decode_strings_some(buf, big, off, rlen, kind, act_str, n_str, comm, next_comm, parent_comm,
                         filename, slots, ustart, ulen, uhash, uk0, uk1, state, i0):
    """Intern the string fields of events ``i0..``; returns ``len(off)`` when done, or the
    index of the event to redo once the caller has grown the tables (``state[0]`` = count)."""
    nu = state[0]
    nbuf = len(buf)
    for i in range(i0, len(off)):
        k = kind[i]
        if k == LOST:
            continue
        base = off[i]
        rl = np.int64(rlen[i])
        for j in range(n_str[k]):
            slot = act_str[k, j, 0]
            fo = act_str[k, j, 1]
            size = act_str[k, j, 2]
            mode = act_str[k, j, 3]
            # where the string is: a fixed char array, or a __data_loc/__rel_loc
            # word (offset in the low 16 bits, length in the high 16)
            s = base + fo
            maxlen = size
            if mode == STR_ARRAY:
                if fo + size > rl:
                    continue
            else:
                if fo + 4 > rl:
                    continue
                w = _rd32(buf, base + fo, big)
                loc = w & 0xFFFF
                maxlen = (w >> 16) & 0xFFFF
                if mode == STR_REL_LOC:
                    loc += fo + 4
                if loc + maxlen > rl:
                    continue
                s = base + loc
            code = 0
            if maxlen <= 16 and s + 16 <= nbuf:
                # short strings (every comm): the key is the field's bytes as two
                # words, bytes past the field zeroed; equal keys are equal strings
                w0 = _rd64(buf, s, False)
                w1 = _rd64(buf, s + 8, False)
                if maxlen < 8:
                    w0 &= (np.uint64(1) << np.uint64(8 * maxlen)) - np.uint64(1)
                    w1 = np.uint64(0)
                elif maxlen < 16:
                    w1 &= (np.uint64(1) << np.uint64(8 * (maxlen - 8))) - np.uint64(1)
                if w0 == 0:
                    code = -1  # empty string
                else:
                    h = w0 * np.uint64(0x9E3779B97F4A7C15) ^ w1 * np.uint64(0xC2B2AE3D27D4EB4F)
                    h ^= h >> np.uint64(29)
                    h |= np.uint64(1)  # odd: word keys; byte-hashed keys are even
            else:
                w0 = np.uint64(0)
                w1 = np.uint64(0)
                ln = 0
                while ln < maxlen and buf[np.uint64(s + ln)] != 0:
                    ln += 1
                if ln == 0:
                    code = -1
                else:
                    h = np.uint64(14695981039346656037)  # FNV-1a over the bytes
                    for q in range(ln):
                        h = (h ^ np.uint64(buf[np.uint64(s + q)])) * np.uint64(1099511628211)
                    h &= ~np.uint64(1)
            if code == 0:
                mask = len(slots) - 1
                t = np.int64(h & np.uint64(mask))
                while True:
                    u = slots[t]
                    if u == 0:
                        break
                    if uhash[u - 1] == h:
                        if h & np.uint64(1):
                            if uk0[u - 1] == w0 and uk1[u - 1] == w1:
                                code = u
                                break
                        elif ulen[u - 1] == ln:
                            c0 = ustart[u - 1]
                            same = True
                            for q in range(ln):
                                if buf[np.uint64(c0 + q)] != buf[np.uint64(s + q)]:
                                    same = False
                                    break
                            if same:
                                code = u
                                break
                    t = (t + 1) & mask
                if code == 0:
                    if h & np.uint64(1):
                        ln = 0
                        while ln < maxlen and buf[np.uint64(s + ln)] != 0:
                            ln += 1
                    if nu >= len(ustart) or 2 * (nu + 1) > len(slots):
                        state[0] = nu
                        return i  # tables full: the caller grows them, this event is redone
                    ustart[nu] = s
                    ulen[nu] = ln
                    uhash[nu] = h
                    uk0[nu] = w0
                    uk1[nu] = w1
                    nu += 1
                    slots[t] = nu
                    code = nu
            if code < 0:
                code = 0
            if slot == S_COMM:
                comm[i] = code
            elif slot == S_NEXT_COMM:
                next_comm[i] = code
            elif slot == S_PARENT_COMM:
                parent_comm[i] = code
            else:
                filename[i] = code
    state[0] = nu
    return len(off)


def decode_events(buf, big, off, rlen, kind, act_int, n_int, act_str, n_str,
                  cur_tid, flags, tid, prio, prev_state, next_tid, next_prio,
                  target_cpu, orig_cpu, parent_tid, old_tid, group_dead, runtime, vruntime,
                  comm, next_comm, parent_comm, filename):
    """Fill the column arrays (pre-set to their defaults) from each event's payload.

    ``act_int[k, j] = (slot, offset, size, signed)`` for ``j < n_int[k]`` lists
    the integer fields kind ``k``'s format has; ``act_str[k, j] = (slot,
    offset, size, mode)`` its string fields. Fields a format lacks keep their
    default. String columns receive local codes (0 empty, 1.. into the returned
    ``(ustart, ulen)`` list of unique strings, interned with an open-addressing
    table: strings of at most 16 bytes are keyed by their bytes as two words,
    longer ones by an FNV-1a hash and a byte comparison; the same text may
    get two local codes when bytes after its NUL differ, which the caller's
    global interning merges). LOST entries are left alone.

    Memory safety: every payload read is at off[i] + a field offset checked against the
    record's length rlen[i] (which scan_pages bounded by its page), string slots and the
    unique-string lists grow before they fill, and no value read is used as an index;
    values outside their column's range are stored as "unknown" (see _decode_ints).
    """
    _decode_ints(buf, big, off, rlen, kind, act_int, n_int,
                 cur_tid, flags, tid, prio, prev_state, next_tid, next_prio,
                 target_cpu, orig_cpu, parent_tid, old_tid, group_dead, runtime, vruntime)
    slots = np.zeros(4096, np.int32)
    ustart = np.empty(1024, np.int64)
    ulen = np.empty(1024, np.int64)
    uhash = np.empty(1024, np.uint64)
    uk0 = np.empty(1024, np.uint64)
    uk1 = np.empty(1024, np.uint64)
    state = np.zeros(1, np.int64)
    i = 0
    while True:
        i = _decode_strings_some(buf, big, off, rlen, kind, act_str, n_str, comm, next_comm,
                                 parent_comm, filename, slots, ustart, ulen, uhash, uk0, uk1,
                                 state, i)
        if i >= len(off):
            break
        nu = int(state[0])
        if nu >= len(ustart):
            m = 2 * len(ustart)
            ustart, ulen, uhash = _grow(ustart, m), _grow(ulen, m), _grow(uhash, m)
            uk0, uk1 = _grow(uk0, m), _grow(uk1, m)
        if 2 * (nu + 1) > len(slots):  # keep the load factor under 1/2
            slots = _rehash(uhash, nu, 2 * len(slots))
    nu = int(state[0])
    return ustart[:nu], ulen[:nu]
