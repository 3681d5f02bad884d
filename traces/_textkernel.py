"""Numba kernel that parses ftrace-family text lines into event columns.

One kernel serves every text dialect, line by line:

* tracefs / atrace:   ``TASK-PID (TGID) [CPU] FLAGS TIMESTAMP: event: key=value ...``
* trace-cmd report:   the same without FLAGS, fields either as the kernel
  prints them, as ``-R`` raw ``key=value`` pairs (numeric prev_state), or in the
  sched plugin's pretty form (``comm:pid [prio] S ==> comm:pid [prio]``,
  ``comm:pid [prio] CPU:001``).

The TGID and FLAGS columns are optional per line. Comms may contain spaces,
dashes, colons and ``: ``; a comm value therefore runs until the next expected
key (``comm=tmux: server pid=1613``), and the TASK-PID column is split at the
last dash before the ``[CPU]`` column.

Strings are interned inside the kernel in an open-addressing hash table
(64-bit hashes of the bytes, see _intern), so Python only decodes each distinct
string once. The kernel stops early when the table is half full or the output
is full; the driver grows the table and calls again from where it stopped.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import schema
from ._numba import NO_NRT, jit
from ._libc import load8, memchr, memeq

# Line classes recorded for Python to look at (headers, markers, damage).
LINE_HEADER = 1      # starts with '#', or "cpus=N" / "version = N"
LINE_OTHER = 2       # not an event line: LOST markers, garbage
LINE_BAD_FIELDS = 3  # a scheduler event whose fields could not be parsed, or out of their range
LINE_BAD_CPU = 4     # the CPU column is not a CPU id (0 .. schema.MAX_CPUS - 1)
LINE_BAD_TIME = 5    # the timestamp is negative or beyond int64 nanoseconds (292 years)

# Counter slots in ``st``.
ST_NSTR = 0      # next string code
ST_NNEW = 1      # strings new in this call
ST_NEV = 2       # events written
ST_NSPECIAL = 3  # special lines recorded
ST_SKIPPED = 4   # non-scheduler events / other tracers' lines
ST_MARKERS = 5   # atrace markers (tracing_mark_write, print, "0:")
ST_PRETTY = 6    # lines in trace-cmd's pretty sched plugin form
ST_FLAGS = 7     # lines with a flags column
ST_TGID = 8      # lines with a TGID column
ST_BLANK = 9
ST_NUMSTATE = 10  # switch lines with a numeric prev_state (report -R)
ST_LINE = 11     # number of the next line to parse
ST_NTASK = 12    # TASK-PID column entries recorded in this call
# Timestamp order, tracked here so that no per-event line number is written:
# LOST rows take the next event's timestamp (text.py), so a step back is
# counted between consecutive events and placed at the first LOST row between
# them, if any.
ST_HAVE_TS = 13  # an event was seen
ST_LAST_TS = 14  # its timestamp
ST_BACK = 15     # events whose timestamp is below the previous event's
ST_BACK_LINE = 16  # line of the first of them (0: none)
ST_LOST_LINE = 17  # line of the first LOST row since the last event (0: none)
# Timestamps more than schema.MAX_GAP_NS from the previous event's (either way): a
# corrupt timestamp, most likely (the builder leaves such events out at the ends).
ST_JUMP = 18       # such events
ST_JUMP_LINE = 19  # line of the first (0: none)
ST_JUMP_FROM = 20  # the previous event's timestamp there
ST_JUMP_TO = 21    # and its own
ST_JUMP_PREV = 22  # the previous event's line there
ST_LAST_LINE = 23  # line of the last event
ST_SIZE = 24

MAX_TID = 2**31 - 2         # pids are int32 columns (Linux's PID_MAX_LIMIT is 2**22)
MAX_LOST = 2**31 - 1        # lost-event counts are an int32 column: larger ones are clipped
MAX_SECONDS = 9_223_372_035  # the largest whole seconds whose ns fit an int64
INT64_MAX = 2**63 - 1
NO_INT = np.int64(-(2**63))  # _int's "no number"

# parse_lines' arguments besides the text, grouped (typed namedtuples of arrays: numba passes
# one as its arrays, and allocates nothing to do so).
#: the intern table (hash -> string code) and the new strings' (offset, length)
Strings = namedtuple("Strings", "ht_key ht_code new_pos new_len")
#: lines recorded for Python: offset, line number, LINE_* class
Specials = namedtuple("Specials", "pos line kind")
#: the TASK-PID (TGID) column: current tid per CPU; entries (tid, comm code, tgid); the
#: last entry recorded per tid slot
TaskColumn = namedtuple("TaskColumn", "last_cur tid comm tgid seen")
#: the event columns written, named and ordered as in schema.EVENTS
Events = namedtuple("Events", "ts_ns cpu kind irq cur_tid tid comm prio prev_state next_tid next_comm next_prio "
                    "target_cpu orig_cpu parent_tid parent_comm old_tid filename group_dead runtime_ns "
                    "vruntime_ns lost_events")


def _b(s: str) -> np.ndarray:
    return np.frombuffer(s.encode(), np.uint8).copy()


K_PREV_COMM = _b("prev_comm=")
K_PREV_PID = _b(" prev_pid=")
K_PREV_PRIO = _b(" prev_prio=")
K_PREV_STATE = _b(" prev_state=")
K_NEXT_COMM = _b(" next_comm=")
K_NEXT_PID = _b(" next_pid=")
K_NEXT_PRIO = _b(" next_prio=")
K_COMM = _b("comm=")
K_PARENT_COMM = _b("parent_comm=")
K_PID = _b(" pid=")
K_PARENT_PID = _b(" parent_pid=")
K_PRIO = _b(" prio=")
K_TARGET = _b(" target_cpu=")
K_ORIG = _b(" orig_cpu=")
K_DEST = _b(" dest_cpu=")
K_CHILD_COMM = _b(" child_comm=")
K_CHILD_PID = _b(" child_pid=")
K_FILENAME = _b("filename=")
K_OLD_PID = _b(" old_pid=")
K_GROUP_DEAD = _b(" group_dead=")
K_RUNTIME = _b(" runtime=")
K_VRUNTIME = _b(" vruntime=")
K_ARROW = _b(" ==> ")
K_CPU = _b(" CPU:")
K_LOST = _b("LOST ")
K_DROPPED = _b("DROPPED")
K_CPU_COLON = _b("CPU:")
K_BRACKET = _b("[")
K_TRACING_MARK = _b("tracing_mark_write")
K_PRINT = _b("print")
K_CPUS_EQ = _b("cpus=")
K_VERSION = _b("version =")
K_UNKNOWN_COMM = _b("<...>")
_SPACES = np.uint64(0x2020202020202020)
N_SWITCH = _b("sched_switch")
N_WAKING = _b("sched_waking")
N_WAKEUP = _b("sched_wakeup")
N_WAKEUP_NEW = _b("sched_wakeup_new")
N_MIGRATE = _b("sched_migrate_task")
N_FORK = _b("sched_process_fork")
N_EXEC = _b("sched_process_exec")
N_EXIT = _b("sched_process_exit")
N_STAT_RUNTIME = _b("sched_stat_runtime")

# Letters of prev_state. Kernel print-fmt (Linux >= 4.14): S D T t X Z P I, "+"
# for TASK_REPORT_MAX; older kernels also print x (TASK_DEAD), K (wakekill),
# W (waking), N (noload). trace-cmd's sched plugin (libtraceevent
# plugin_sched_switch.c: write_state, "SDTtZXxW") prints bit i as that letter,
# so its Z is 0x10 (kernel X) and X is 0x20 (kernel Z), x is 0x40, W is 0x80.
KERNEL_LETTER = np.full(128, -1, np.int32)
for _c, _v in {"R": 0, "S": 1, "D": 2, "T": 4, "t": 8, "X": 16, "Z": 32, "P": 64,
               "I": 128, "x": 16, "K": 0, "W": 0, "N": 0, "n": 0}.items():
    KERNEL_LETTER[ord(_c)] = _v
PLUGIN_LETTER = np.full(128, -1, np.int32)
for _c, _v in {"R": 0, "S": 1, "D": 2, "T": 4, "t": 8, "Z": 16, "X": 32, "x": 64,
               "W": 128}.items():
    PLUGIN_LETTER[ord(_c)] = _v


# Bytes are read as buf[np.uint64(i)] wherever i >= 0 is certain: numba wraps a
# negative (signed) index around at every access, a compare and a select that
# made the byte loops ~25% slower. Most helpers are left to LLVM to inline
# (numba's inline="always" on all of them made the kernel's cold compile ~8x
# longer); the two tiny key tests (_at, _key) are inlined by numba, so that the
# key is a constant there and memeq compiles to a couple of word compares.
# Searches over more than a few bytes (line ends, the CPU column's '[') call
# libc's memchr (see _libc). Measured on the kernel alone (a 40 MB slice of the
# synthetic tracefs text, outputs pre-faulted): 150-155 ns per event with byte
# loops everywhere, 141 with memchr for line ends, 136 with it for '[' too, 128
# with the inlined key tests, 121-125 with the rest (one-pass timestamps, event
# names by length and a letter, the 8-byte string hash). Bit-trick (SWAR)
# digit/space/bracket scans, numba-inlining _int, and memchr for the short
# searches between keys were each slower or no faster.


@jit(**NO_NRT)
def _eol(buf, i, end):
    """Index of the next newline at or after i (or end), by libc's memchr."""
    if i >= end:
        return end
    j = memchr(buf.ctypes.data + i, 10, end - i)
    return end if j < 0 else i + j


@jit(**NO_NRT)
def _find(buf, i, end, pat):
    """First index >= i where ``pat`` starts and ends before ``end``; -1 if none."""
    m = len(pat)
    first = pat[0]
    last = end - m
    while i <= last:
        if buf[np.uint64(i)] == first:
            ok = True
            for k in range(1, m):
                if buf[np.uint64(i + k)] != pat[k]:
                    ok = False
                    break
            if ok:
                return i
        i += 1
    return -1


@jit(inline="always", **NO_NRT)
def _at(p, i, end, pat):
    """Whether ``pat`` is at i (and ends before ``end``). Inlined, so that pat
    is a constant and memeq compiles to a few word compares."""
    return i + len(pat) <= end and memeq(p + i, pat)


@jit(inline="always", **NO_NRT)
def _key(buf, p, i, end, pat):
    """_find(buf, i, end, pat), trying first where a key usually is: right at i."""
    if _at(p, i, end, pat):
        return i
    return _find(buf, i, end, pat)


@jit(**NO_NRT)
def _skip_sp(buf, i, end):
    while i < end and (buf[np.uint64(i)] == 32 or buf[np.uint64(i)] == 9):
        i += 1
    return i


@jit(**NO_NRT)
def _int_long(buf, i, j, end, v, neg):
    """_int's rare case, 19 digits read: over 2**63 - 1 they wrapped around once
    (negative), or a 20th digit follows: no number (kept out of _int, which stays
    small enough for LLVM to inline at its many call sites)."""
    if v < 0 or (j < end and 48 <= buf[np.uint64(j)] <= 57):
        return NO_INT, i
    return (-v if neg else v), j


@jit(**NO_NRT)
def _int(buf, i, end):
    """Parse a (signed) decimal integer at i. Returns (value, next index); (NO_INT, i) if
    there is none or it does not fit an int64 (it never wraps around). NO_INT is outside
    every column's range, so a field that failed to parse fails the range check too."""
    neg = False
    j = i
    if j < end and buf[np.uint64(j)] == 45:  # '-'
        neg = True
        j += 1
    v = np.int64(0)
    start = j
    while j < end and 48 <= buf[np.uint64(j)] <= 57 and j - start < 19:
        v = v * 10 + (buf[np.uint64(j)] - 48)
        j += 1
    if j == start:
        return NO_INT, i
    if j - start == 19:
        return _int_long(buf, i, j, end, v, neg)
    return (-v if neg else v), j


@jit(**NO_NRT)
def _u64(buf, i, end):
    """Parse an unsigned decimal integer of up to 2**64 - 1 at i (runtime, vruntime:
    the kernel's u64), as the int64 with the same bits (what trace.dat's readers give).
    Returns (value, next index); next == i if none or too large."""
    v = np.uint64(0)
    j = i
    top = np.uint64(0xFFFFFFFFFFFFFFFF)
    while j < end and 48 <= buf[np.uint64(j)] <= 57 and j - i < 19:  # 19 digits always fit
        v = v * np.uint64(10) + np.uint64(buf[np.uint64(j)] - 48)
        j += 1
    while j < end and 48 <= buf[np.uint64(j)] <= 57:
        d = np.uint64(buf[np.uint64(j)] - 48)
        if v > (top - d) // np.uint64(10):
            return np.int64(0), i
        v = v * np.uint64(10) + d
        j += 1
    if j == i:
        return np.int64(0), i
    return np.int64(v), j


@jit(**NO_NRT)
def _timestamp(buf, i, end):
    """(ns, index past the ':') of a timestamp token at i, "secs.frac:" (frac's
    digits past the ninth dropped) or "ticks:" (a counter clock, as it is),
    that ends at a space or at end; (0, -1) if the token is not one, (0, -2) if it is a
    timestamp but negative or beyond int64 nanoseconds."""
    secs, q = _int(buf, i, end)
    if q == i:
        if i < end and 48 <= buf[np.uint64(i)] <= 57:  # digits, but more than an int64 holds
            return np.int64(0), -2
        return np.int64(0), -1
    ts = secs
    if q < end and buf[np.uint64(q)] == 46:  # '.'
        if np.uint64(secs) > np.uint64(MAX_SECONDS):  # (a negative one too)
            return np.int64(0), -2
        q0 = q + 1
        q = q0
        frac = np.int64(0)
        while q < end and 48 <= buf[np.uint64(q)] <= 57:
            if q - q0 < 9:
                frac = frac * 10 + (buf[np.uint64(q)] - 48)
            q += 1
        for _ in range(9 - min(q - q0, 9)):
            frac *= 10
        ts = secs * 1000000000 + frac
    if q < end and buf[np.uint64(q)] == 58 and (q + 1 == end or buf[np.uint64(q + 1)] == 32):
        return (ts, q + 1) if ts >= 0 else (np.int64(0), -2)
    return np.int64(0), -1


@jit(**NO_NRT)
def _intern(buf, s, e, strings, st):
    """Code of the string buf[s:e] (0 for empty); new strings are recorded for Python."""
    if e <= s:
        return 0
    # 8 bytes per step: xor, multiply, xor-shift (so that every bit of the
    # word reaches every bit of h), the length mixed in first.
    p = buf.ctypes.data
    h = np.uint64(e - s) * np.uint64(0x9E3779B97F4A7C15)
    for i in range(s, e, 8):
        m = e - i
        if i + 8 <= len(buf):
            w = load8(p + i)
            if m < 8:
                w &= (np.uint64(1) << np.uint64(8 * m)) - np.uint64(1)
        else:  # the last bytes of the buffer
            w = np.uint64(0)
            for q in range(m):
                w |= np.uint64(buf[np.uint64(i + q)]) << np.uint64(8 * q)
        h = (h ^ w) * np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(32)
    if h == 0:
        h = np.uint64(1)
    ht_key, ht_code = strings.ht_key, strings.ht_code
    mask = np.uint64(len(ht_key) - 1)
    j = np.int64(h & mask)
    while True:
        k = ht_key[j]
        if k == h:
            return ht_code[j]
        if k == 0:
            code = st[ST_NSTR]
            st[ST_NSTR] = code + 1
            ht_key[j] = h
            ht_code[j] = code
            n = st[ST_NNEW]
            strings.new_pos[n] = s
            strings.new_len[n] = e - s
            st[ST_NNEW] = n + 1
            return code
        j = np.int64((np.uint64(j) + np.uint64(1)) & mask)


@jit(**NO_NRT)
def _state(buf, s, e, plugin, st):
    """prev_state token -> normalised bits; -2 if unparseable."""
    if s >= e:
        return -2
    c = buf[np.uint64(s)]
    if 48 <= c <= 57:
        v, j = _int(buf, s, e)
        if j == s:  # more digits than an int64 holds
            return -2
        st[ST_NUMSTATE] += 1
        # Kernels before 4.20 reported preemption as TASK_STATE_MAX (0x400,
        # 0x800 or 0x1000 depending on version) rather than TASK_REPORT_MAX;
        # a lone bit above 0xff is that marker.
        if v >= 0x200 and (v & (v - 1)) == 0:
            return schema.STATE_PREEMPTED
        return np.int32(v & 0x1FF)
    bits = 0
    for i in range(s, e):
        c = buf[np.uint64(i)]
        if c == 124:  # '|'
            continue
        if c == 43:  # '+'
            bits |= schema.STATE_PREEMPTED
            continue
        if c >= 128:
            return -2
        v = PLUGIN_LETTER[c] if plugin else KERNEL_LETTER[c]
        if v < 0:
            return -2
        bits |= v
    return bits


@jit(**NO_NRT)
def _rtrim(buf, s, e):
    while e > s and (buf[np.uint64(e - 1)] == 32 or buf[np.uint64(e - 1)] == 9):
        e -= 1
    return e


@jit(**NO_NRT)
def _pretty_task(buf, s, e):
    """Split ``comm:pid [prio]`` in buf[s:e]. Returns (comm_s, comm_e, pid, prio, after) or ok=False."""
    # The prio bracket is the last '[' in the span.
    b = e - 1
    while b > s and buf[np.uint64(b)] != 91:
        b -= 1
    if b <= s:
        return False, 0, 0, 0, 0, 0
    prio, j = _int(buf, b + 1, e)
    if j == b + 1 or j >= e or buf[np.uint64(j)] != 93:
        return False, 0, 0, 0, 0, 0
    te = _rtrim(buf, s, b)
    k = te - 1
    while k > s and 48 <= buf[np.uint64(k)] <= 57:
        k -= 1
    if k <= s or buf[np.uint64(k)] != 58 or k == te - 1:  # ':' then at least one digit
        return False, 0, 0, 0, 0, 0
    pid, q = _int(buf, k + 1, te)
    if q != te:  # more digits than an int64 holds
        return False, 0, 0, 0, 0, 0
    return True, _skip_sp(buf, s, k), k, pid, prio, j + 1


@jit(**NO_NRT)
def _special(st, specials, ls, line, what):
    """Record the line at ls for Python to look at (a header, a marker, damage)."""
    n = st[ST_NSPECIAL]
    specials.pos[n] = ls
    specials.line[n] = line
    specials.kind[n] = what
    st[ST_NSPECIAL] = n + 1


@jit(**NO_NRT)
def parse_lines(buf, pos, end, line0, plugin_default, strings, st, specials, tasks, out):
    """Parse lines of buf[pos:end] until done, the string table is half full, or an
    output is full. Returns the offset of the first unparsed line.

    ``strings``: Strings(ht_key, ht_code, new_pos, new_len); ``st``: the ST_* counters;
    ``specials``: Specials(pos, line, kind); ``tasks``: TaskColumn(last_cur, tid, comm,
    tgid, seen); ``out``: Events(ts_ns, cpu, kind, ..., lost_events), the event columns.

    The TASK-PID column's comm and TGID only feed the tid -> comm / tgid tables,
    so they are not event columns: tasks.tid/comm/tgid receive (tid, comm code or -1,
    tgid) where the CPU's current task changed or a TGID is printed, unless that is
    what was last recorded for the tid (tasks.seen).

    Memory safety, whatever the bytes: every read of ``buf`` stays in [pos, end)
    (line ends come from memchr bounded by ``end``, every scan checks its limit); an
    output row, special line, task entry or new string is written only after checking
    there is room (at the start of each line; strings.new_pos holds 8 more entries than
    half the hash table, and a line interns at most 3 strings); the one array indexed by a value read from the text, tasks.last_cur,
    is indexed by a CPU id checked to be 0 <= cpu < len(last_cur), and tasks.seen by a
    pid masked to its size. Numbers never wrap: a CPU id outside 0..MAX_CPUS-1 is a
    LINE_BAD_CPU line, a timestamp beyond int64 ns a LINE_BAD_TIME one, and pids,
    prios and CPU fields outside their columns' ranges (or missing their digits) make
    the event a LINE_BAD_FIELDS line."""
    p = buf.ctypes.data
    cap = len(out.ts_ns)
    half = len(strings.ht_key) // 2
    lineno = line0
    last_line = st[ST_LAST_LINE]  # the last event's (kept in st between calls)
    while pos < end:
        if st[ST_NEV] >= cap or st[ST_NSTR] >= half or st[ST_NSPECIAL] >= len(specials.pos) \
                or st[ST_NTASK] >= len(tasks.tid):
            st[ST_LINE] = lineno
            st[ST_LAST_LINE] = last_line
            return pos
        le = _eol(buf, pos, end)
        nxt = le + 1
        if le > pos and buf[np.uint64(le - 1)] == 13:
            le -= 1
        ls = pos
        pos = nxt
        cur_line = lineno
        lineno += 1
        i = ls
        while i + 8 <= le and load8(p + i) == _SPACES:  # the task column is right-aligned
            i += 8
        i = _skip_sp(buf, i, le)
        if i >= le:
            st[ST_BLANK] += 1
            continue
        if buf[np.uint64(i)] == 35 or _at(p, i, le, K_CPUS_EQ) or _at(p, i, le, K_VERSION):  # '#'
            _special(st, specials, ls, cur_line, LINE_HEADER)
            continue
        # The CPU column: " [digits]" followed by a space or end of line.
        cb = -1
        ce = -1
        j = i + 1
        while j < le - 2:
            f = memchr(p + j, 91, le - 2 - j)  # the next '['
            if f < 0:
                break
            j += f
            if buf[np.uint64(j)] == 91 and buf[np.uint64(j - 1)] == 32 and 48 <= buf[np.uint64(j + 1)] <= 57:
                k = j + 1
                while k < le and 48 <= buf[np.uint64(k)] <= 57:
                    k += 1
                if k < le and buf[np.uint64(k)] == 93 and (k + 1 == le or buf[np.uint64(k + 1)] == 32):
                    cb = j
                    ce = k
                    break
            j += 1
        if cb < 0 and _at(p, i, le, K_CPU_COLON):
            # "CPU:N [LOST M EVENTS]" (tracefs) or "CPU:N [M EVENTS DROPPED]" /
            # "CPU:N [EVENTS DROPPED]" (trace-cmd): the ring buffer dropped events.
            c_cpu, q = _int(buf, i + len(K_CPU_COLON), le)
            br = _find(buf, q, le, K_BRACKET)
            if q > i + len(K_CPU_COLON) and br >= 0 and (_find(buf, br, le, K_LOST) >= 0
                                                          or _find(buf, br, le, K_DROPPED) >= 0):
                if c_cpu < 0 or c_cpu >= schema.MAX_CPUS:
                    _special(st, specials, ls, cur_line, LINE_BAD_CPU)
                    continue
                q = br + 1
                if _at(p, q, le, K_LOST):
                    q += len(K_LOST)
                nl, q2 = _int(buf, q, le)
                r = st[ST_NEV]
                out.ts_ns[r] = -1  # the driver sets it to the next event's timestamp
                if st[ST_LOST_LINE] == 0:
                    st[ST_LOST_LINE] = cur_line
                out.cpu[r] = c_cpu
                out.kind[r] = schema.LOST
                out.irq[r] = schema.IRQ_UNKNOWN
                out.cur_tid[r] = -1
                out.tid[r] = -1
                out.comm[r] = 0
                out.prio[r] = schema.NO_PRIO
                out.prev_state[r] = -1
                out.next_tid[r] = -1
                out.next_comm[r] = 0
                out.next_prio[r] = schema.NO_PRIO
                out.target_cpu[r] = -1
                out.orig_cpu[r] = -1
                out.parent_tid[r] = -1
                out.parent_comm[r] = 0
                out.old_tid[r] = -1
                out.filename[r] = 0
                out.group_dead[r] = -1
                out.runtime_ns[r] = -1
                out.vruntime_ns[r] = -1
                out.lost_events[r] = min(nl, MAX_LOST) if q2 > q and nl >= 0 else -1
                st[ST_NEV] = r + 1
                continue
        if cb < 0:
            _special(st, specials, ls, cur_line, LINE_OTHER)
            continue
        c_cpu, k = _int(buf, cb + 1, ce)
        if k != ce or c_cpu >= schema.MAX_CPUS:  # too many digits, or beyond any CPU id
            _special(st, specials, ls, cur_line, LINE_BAD_CPU)
            continue
        k = ce + 1  # past ']'
        # TASK-PID, optional (TGID)
        te = _rtrim(buf, i, cb)
        tg = -1
        if te > i and buf[np.uint64(te - 1)] == 41:  # ')'
            o = te - 2
            while o > i and buf[np.uint64(o)] != 40:
                o -= 1
            if o >= i and buf[np.uint64(o)] == 40:
                q = _skip_sp(buf, o + 1, te - 1)
                tgv, q2 = _int(buf, q, te - 1)
                if q2 > q:
                    tg = tgv
                st[ST_TGID] += 1
                te = _rtrim(buf, i, o)
        d = te - 1
        c_pid = np.int64(0)
        scale = np.int64(1)
        while d > i and 48 <= buf[np.uint64(d)] <= 57:  # the pid, read backwards
            c_pid += (buf[np.uint64(d)] - 48) * scale
            scale *= 10
            d -= 1
        if d <= i or buf[np.uint64(d)] != 45 or d == te - 1:  # '-'
            _special(st, specials, ls, cur_line, LINE_OTHER)
            continue
        if te - d > 11:  # more digits than an int32 pid has (the backwards read may have wrapped)
            c_pid = np.int64(MAX_TID + 1)
        # Flags column (optional), then TIMESTAMP: ("secs.frac:" or "ticks:").
        # Most lines are read in one pass: a timestamp token right here, or
        # after a flags token. Anything else is looked at token by token.
        k = _skip_sp(buf, k, le)
        c_irq = schema.IRQ_UNKNOWN
        c_ts, q = _timestamp(buf, k, le)
        if q == -1:
            t0 = k
            while k < le and buf[np.uint64(k)] != 32:
                k += 1
            if k == t0 or buf[np.uint64(k - 1)] == 58:  # no token, or a bad timestamp
                q = -1
            else:  # a flags column: "d..2." (irqs-off, need-resched, irq context, preempt depth)
                st[ST_FLAGS] += 1
                if k - t0 >= 3:
                    f = buf[np.uint64(t0 + 2)]
                    if f == 122 or f == 90:  # z Z
                        c_irq = schema.IRQ_NMI
                    elif f == 104 or f == 72:  # h H
                        c_irq = schema.IRQ_HARD
                    elif f == 115:  # s
                        c_irq = schema.IRQ_SOFT
                    else:
                        c_irq = schema.IRQ_NONE
                c_ts, q = _timestamp(buf, _skip_sp(buf, k, le), le)
        if q == -2:
            _special(st, specials, ls, cur_line, LINE_BAD_TIME)
            continue
        if q < 0:
            _special(st, specials, ls, cur_line, LINE_OTHER)
            continue
        k = q
        # event name up to ':'
        k = _skip_sp(buf, k, le)
        n0 = k
        while k < le and buf[np.uint64(k)] != 58 and buf[np.uint64(k)] != 32:
            k += 1
        if k >= le or buf[np.uint64(k)] != 58:
            st[ST_SKIPPED] += 1  # other tracers' output (function, syscalls)
            continue
        nlen = k - n0
        ev = -1
        # The scheduler events, told apart by length and a letter or two, then
        # compared whole (one constant compare each).
        if nlen == 12:
            c = buf[np.uint64(n0 + 9)]  # sched_sw[i]tch, sched_wak[i]ng, sched_wak[e]up
            if c == 116 and _at(p, n0, le, N_SWITCH):
                ev = schema.SWITCH
            elif c == 105 and _at(p, n0, le, N_WAKING):
                ev = schema.WAKING
            elif c == 101 and _at(p, n0, le, N_WAKEUP):
                ev = schema.WAKEUP
        elif nlen == 16:
            if _at(p, n0, le, N_WAKEUP_NEW):
                ev = schema.WAKEUP_NEW
        elif nlen == 18:
            c = buf[np.uint64(n0 + 16)]  # migrate_ta[s]k, fo[r]k, ex[e]c, ex[i]t, runti[m]e
            if c == 115 and _at(p, n0, le, N_MIGRATE):
                ev = schema.MIGRATE
            elif c == 114 and _at(p, n0, le, N_FORK):
                ev = schema.FORK
            elif c == 101 and _at(p, n0, le, N_EXEC):
                ev = schema.EXEC
            elif c == 105 and _at(p, n0, le, N_EXIT):
                ev = schema.EXIT
            elif c == 109 and _at(p, n0, le, N_STAT_RUNTIME):
                ev = schema.STAT_RUNTIME
        if ev < 0:
            if (nlen == 1 and buf[np.uint64(n0)] == 48) or (nlen == len(K_TRACING_MARK) and _at(p, n0, le, K_TRACING_MARK)) \
                    or (nlen == len(K_PRINT) and _at(p, n0, le, K_PRINT)):
                st[ST_MARKERS] += 1
            else:
                st[ST_SKIPPED] += 1
            continue
        fs = _skip_sp(buf, k + 1, le)
        fe = _rtrim(buf, fs, le)
        r = st[ST_NEV]
        # defaults
        e_tid = -1
        e_comm = 0
        e_prio = schema.NO_PRIO
        e_state = -1
        e_ntid = -1
        e_ncomm = 0
        e_nprio = schema.NO_PRIO
        e_target = -1
        e_orig = -1
        e_ptid = -1
        e_pcomm = 0
        e_old = -1
        e_file = 0
        e_gd = -1
        e_rt = np.int64(-1)
        e_vrt = np.int64(-1)
        good = True
        a = fs
        b = -1
        q = fs
        v = np.int64(0)
        kl = 0
        if ev == schema.SWITCH:
            if _at(p, fs, fe, K_PREV_COMM):
                a = fs + len(K_PREV_COMM)
                b = _find(buf, a, fe, K_PREV_PID)
                good = b >= 0
                if good:
                    e_comm = _intern(buf, a, b, strings, st)
                    v, q = _int(buf, b + len(K_PREV_PID), fe)
                    e_tid = v
                    b = _key(buf, p, q, fe, K_PREV_PRIO)
                    good = b >= 0
                if good:
                    v, q = _int(buf, b + len(K_PREV_PRIO), fe)
                    e_prio = v
                    b = _key(buf, p, q, fe, K_PREV_STATE)
                    good = b >= 0
                if good:
                    a = b + len(K_PREV_STATE)
                    q = a
                    while q < fe and buf[np.uint64(q)] != 32:
                        q += 1
                    e_state = _state(buf, a, q, False, st)
                    good = e_state != -2
                    b = _key(buf, p, q, fe, K_NEXT_COMM)
                    good = good and b >= 0
                if good:
                    a = b + len(K_NEXT_COMM)
                    b = _find(buf, a, fe, K_NEXT_PID)
                    good = b >= 0
                if good:
                    e_ncomm = _intern(buf, a, b, strings, st)
                    v, q = _int(buf, b + len(K_NEXT_PID), fe)
                    e_ntid = v
                    b = _key(buf, p, q, fe, K_NEXT_PRIO)
                    good = b >= 0
                if good:
                    v, q = _int(buf, b + len(K_NEXT_PRIO), fe)
                    e_nprio = v
            else:
                st[ST_PRETTY] += 1
                b = _find(buf, fs, fe, K_ARROW)
                good = b >= 0
                if good:
                    # left: comm:pid [prio] STATE
                    se = b
                    ss = se - 1
                    while ss > fs and buf[np.uint64(ss)] != 32:
                        ss -= 1
                    ok2, cs, ce2, v1, v2, _a = _pretty_task(buf, fs, ss)
                    good = ok2
                    if good:
                        e_comm = _intern(buf, cs, ce2, strings, st)
                        e_tid = v1
                        e_prio = v2
                        e_state = _state(buf, ss + 1, se, plugin_default, st)
                        good = e_state != -2
                    if good:
                        ok2, cs, ce2, v1, v2, _a = _pretty_task(buf, b + len(K_ARROW), fe)
                        good = ok2
                        if good:
                            e_ncomm = _intern(buf, cs, ce2, strings, st)
                            e_ntid = v1
                            e_nprio = v2
        elif ev == schema.WAKING or ev == schema.WAKEUP or ev == schema.WAKEUP_NEW \
                or ev == schema.MIGRATE or ev == schema.EXIT or ev == schema.STAT_RUNTIME:
            if _at(p, fs, fe, K_COMM):
                a = fs + len(K_COMM)
                b = _find(buf, a, fe, K_PID)
                good = b >= 0
                if good:
                    e_comm = _intern(buf, a, b, strings, st)
                    v, q = _int(buf, b + len(K_PID), fe)
                    e_tid = v
                    good = q > b + len(K_PID)
                if good and ev != schema.STAT_RUNTIME:
                    b = _key(buf, p, q, fe, K_PRIO)
                    if b >= 0:
                        v, q = _int(buf, b + len(K_PRIO), fe)
                        e_prio = v
                    elif ev != schema.EXIT:
                        good = False
                if good:
                    if ev == schema.MIGRATE:
                        b = _key(buf, p, q, fe, K_ORIG)
                        good = b >= 0
                        if good:
                            v, q = _int(buf, b + len(K_ORIG), fe)
                            e_orig = v
                            b = _key(buf, p, q, fe, K_DEST)
                            good = b >= 0
                        if good:
                            v, q = _int(buf, b + len(K_DEST), fe)
                            e_target = v
                    elif ev == schema.EXIT:
                        b = _key(buf, p, q, fe, K_GROUP_DEAD)
                        if b >= 0:
                            a = b + len(K_GROUP_DEAD)
                            e_gd = 1 if (a < fe and (buf[np.uint64(a)] == 116 or buf[np.uint64(a)] == 49)) else 0
                    elif ev == schema.STAT_RUNTIME:
                        b = _key(buf, p, q, fe, K_RUNTIME)
                        good = b >= 0
                        if good:
                            v, q = _u64(buf, b + len(K_RUNTIME), fe)
                            e_rt = v
                            good = q > b + len(K_RUNTIME)
                            b = _key(buf, p, q, fe, K_VRUNTIME)
                            if b >= 0:
                                v, q = _u64(buf, b + len(K_VRUNTIME), fe)
                                e_vrt = v
                                good = good and q > b + len(K_VRUNTIME)
                    else:
                        b = _key(buf, p, q, fe, K_TARGET)
                        if b >= 0:
                            v, q = _int(buf, b + len(K_TARGET), fe)
                            e_target = v
            elif ev == schema.WAKING or ev == schema.WAKEUP or ev == schema.WAKEUP_NEW:
                # pretty: comm:pid [prio][ success=1] CPU:001
                st[ST_PRETTY] += 1
                b = _find(buf, fs, fe, K_CPU)
                good = b >= 0
                if good:
                    v, q = _int(buf, b + len(K_CPU), fe)
                    e_target = v
                    bb = b
                    rb = bb - 1
                    while rb > fs and buf[np.uint64(rb)] != 93:
                        rb -= 1
                    ok2, cs, ce2, v1, v2, _a = _pretty_task(buf, fs, rb + 1)
                    good = ok2
                    if good:
                        e_comm = _intern(buf, cs, ce2, strings, st)
                        e_tid = v1
                        e_prio = v2
            else:
                good = False
        elif ev == schema.FORK:
            a = -1
            if _at(p, fs, fe, K_COMM):
                a = fs + len(K_COMM)
                b = _find(buf, a, fe, K_PID)
                kl = len(K_PID)
            elif _at(p, fs, fe, K_PARENT_COMM):
                a = fs + len(K_PARENT_COMM)
                b = _find(buf, a, fe, K_PARENT_PID)
                kl = len(K_PARENT_PID)
            good = a >= 0 and b >= 0
            if good:
                e_pcomm = _intern(buf, a, b, strings, st)
                v, q = _int(buf, b + kl, fe)
                e_ptid = v
                b = _key(buf, p, q, fe, K_CHILD_COMM)
                good = b >= 0
            if good:
                a = b + len(K_CHILD_COMM)
                b = _find(buf, a, fe, K_CHILD_PID)
                good = b >= 0
            if good:
                e_comm = _intern(buf, a, b, strings, st)
                v, q = _int(buf, b + len(K_CHILD_PID), fe)
                e_tid = v
                good = q > b + len(K_CHILD_PID)
        elif ev == schema.EXEC:
            good = _at(p, fs, fe, K_FILENAME)
            if good:
                a = fs + len(K_FILENAME)
                b = _find(buf, a, fe, K_PID)
                good = b >= 0
            if good:
                e_file = _intern(buf, a, b, strings, st)
                v, q = _int(buf, b + len(K_PID), fe)
                e_tid = v
                b = _key(buf, p, q, fe, K_OLD_PID)
                if b >= 0:
                    v, q = _int(buf, b + len(K_OLD_PID), fe)
                    e_old = v
        # every value within its column (nothing wraps around): pids 0..2**31-1, prios
        # within int16, CPU fields 0..MAX_CPUS-1, or the field's "absent" default
        if good:
            # (x + 1 in 0 .. 2**31 - 1 for every tid, x + 2**15 in 0 .. 2**16 - 1 for every prio:
            # one test for all of them; any outside sets a bit at or above the limit, or the sign)
            good = ((((c_pid + 1) | (e_tid + 1) | (e_ntid + 1) | (e_ptid + 1) | (e_old + 1)) >> 31 == 0)
                    & (((e_prio + 32768) | (e_nprio + 32768)) >> 16 == 0)
                    & (np.uint64(e_target + 1) <= np.uint64(schema.MAX_CPUS))
                    & (np.uint64(e_orig + 1) <= np.uint64(schema.MAX_CPUS)))
        if not good:
            _special(st, specials, ls, cur_line, LINE_BAD_FIELDS)
            continue
        if st[ST_HAVE_TS] != 0:
            if c_ts < st[ST_LAST_TS]:
                st[ST_BACK] += 1
                if st[ST_BACK_LINE] == 0:
                    st[ST_BACK_LINE] = st[ST_LOST_LINE] if st[ST_LOST_LINE] != 0 else cur_line
            gap = c_ts - st[ST_LAST_TS]  # both in [0, 2**63): no overflow
            if np.uint64(gap + schema.MAX_GAP_NS) > np.uint64(2 * schema.MAX_GAP_NS):  # |gap| > MAX_GAP_NS
                st[ST_JUMP] += 1
                if st[ST_JUMP_LINE] == 0:
                    st[ST_JUMP_LINE] = cur_line
                    st[ST_JUMP_PREV] = last_line
                    st[ST_JUMP_FROM] = st[ST_LAST_TS]
                    st[ST_JUMP_TO] = c_ts
        st[ST_HAVE_TS] = 1
        st[ST_LAST_TS] = c_ts
        last_line = cur_line
        st[ST_LOST_LINE] = 0
        out.ts_ns[r] = c_ts
        out.cpu[r] = c_cpu
        out.kind[r] = ev
        out.irq[r] = c_irq
        out.cur_tid[r] = c_pid
        # The TASK column's comm only feeds the tid -> comm fallback table, so
        # it is interned only when the CPU's current task changes.
        c_comm = -1
        last_cur = tasks.last_cur
        if c_cpu < len(last_cur) and last_cur[c_cpu] == c_pid:
            tg = -1
        elif not (_at(p, i, d, K_UNKNOWN_COMM) and d - i == len(K_UNKNOWN_COMM)):
            c_comm = _intern(buf, i, d, strings, st)
            if c_cpu < len(last_cur):
                last_cur[c_cpu] = c_pid
        if c_comm > 0 or tg != -1:
            # tasks.seen remembers, per tid slot, the last entry recorded: one
            # the same as the tid's last is left out (the driver keeps the last
            # value per tid; tasks switching back and forth repeat theirs).
            seen = tasks.seen
            slot = c_pid & (len(seen) - 1)
            if seen[slot, 0] != c_pid or seen[slot, 1] != c_comm or seen[slot, 2] != tg:
                n = st[ST_NTASK]
                tasks.tid[n] = c_pid
                tasks.comm[n] = c_comm
                tasks.tgid[n] = tg
                st[ST_NTASK] = n + 1
                seen[slot, 0] = c_pid
                seen[slot, 1] = c_comm
                seen[slot, 2] = tg
        out.tid[r] = e_tid
        out.comm[r] = e_comm
        out.prio[r] = e_prio
        out.prev_state[r] = e_state
        out.next_tid[r] = e_ntid
        out.next_comm[r] = e_ncomm
        out.next_prio[r] = e_nprio
        out.target_cpu[r] = e_target
        out.orig_cpu[r] = e_orig
        out.parent_tid[r] = e_ptid
        out.parent_comm[r] = e_pcomm
        out.old_tid[r] = e_old
        out.filename[r] = e_file
        out.group_dead[r] = e_gd
        out.runtime_ns[r] = e_rt
        out.vruntime_ns[r] = e_vrt
        out.lost_events[r] = 0
        st[ST_NEV] = r + 1
    st[ST_LINE] = lineno
    st[ST_LAST_LINE] = last_line
    return pos


@jit(**NO_NRT)
def rehash(old_key, old_code, new_key, new_code):
    mask = np.uint64(len(new_key) - 1)
    for i in range(len(old_key)):
        h = old_key[i]
        if h == 0:
            continue
        j = np.int64(h & mask)
        while new_key[j] != 0:
            j = np.int64((np.uint64(j) + np.uint64(1)) & mask)
        new_key[j] = h
        new_code[j] = old_code[i]
