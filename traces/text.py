"""Reader for the ftrace text family: tracefs ``trace``, raw atrace output and
``trace-cmd report`` (default and ``-R``), plain or zstd/gzip-compressed.

The file is read in chunks of whole lines (a multi-GB text never sits in
memory at once) and each chunk is parsed by the numba kernel in
:mod:`traces._textkernel`. Lines that are not events (headers, markers,
other tracers' output) are counted; damaged lines become counted warnings
with their line number and byte offset.
"""

from __future__ import annotations

import re

import numpy as np

from . import _textkernel as K
from . import schema
from ._io import Source, _last_newline, text_spans
from ._memory import populate
from ._result import ReadResult

_P_RE = re.compile(rb"#P:(\d+)")
_CPUS_RE = re.compile(rb"^\s*cpus=(\d+)")
_MAX_EXAMPLES = 3

# The kernel writes exactly the schema's event columns: every byte written per
# event costs a page fault's share on a large trace. What else it learns (the
# TASK-PID column's comm and TGID, timestamp order) goes to small side tables
# and counters.
_KERNEL_ORDER = K.Events._fields


def _last_per_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct key (in order of first occurrence) with the value of its last row:
    what assigning ``d[k] = v`` row by row leaves in a dict, without the Python loop
    (one stable sort: a key's rows stay in row order within its group)."""
    if len(keys) == 0:
        return keys, values
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], len(keys)] - 1
    first, last = order[starts], order[ends]
    by_first = np.argsort(first)
    return keys[first[by_first]], values[last[by_first]]


class TextParser:
    """Feeds chunks of text lines through the kernel and collects the events."""

    def __init__(self, result: ReadResult, plugin_letters: bool = True, expected_events: int = 1 << 16):
        self.result = result
        self.plugin_letters = plugin_letters
        self.ht_key = np.zeros(1 << 14, np.uint64)
        self.ht_code = np.zeros(1 << 14, np.int32)
        self.st = np.zeros(K.ST_SIZE, np.int64)
        self.st[K.ST_NSTR] = 1  # code 0 is ""
        self.strings: list[str] = [""]
        self.header_lines: list[bytes] = []
        self.other: list[tuple[int, int, bytes]] = []   # (line, byte offset, text) examples
        self.n_other = 0
        self.bad: list[tuple[int, int, bytes]] = []
        self.n_bad = 0
        # lines with a CPU id or a timestamp out of range: kind -> [count, first (line, offset, text)]
        self.out_of_range: dict[int, list] = {}
        self.truncated: tuple[int, int] | None = None
        self.unterminated: tuple[int, int] | None = None
        self.line = 1
        self.out: dict[str, np.ndarray] | None = None
        self.expected = expected_events
        self.bytes_read = 0  # bytes of lines parsed so far
        self.new_pos = np.empty(0, np.int64)
        self.new_len = np.empty(0, np.int64)
        self.special_pos = np.empty(4096, np.int64)
        self.special_line = np.empty(4096, np.int64)
        self.special_kind = np.empty(4096, np.int8)
        self.last_cur = np.full(4096, -2, np.int64)  # current tid per CPU (TASK column)
        # (tid, comm code, tgid) from the TASK-PID (TGID) column, in line order
        self.task_tid = np.empty(1 << 16, np.int32)
        self.task_comm = np.empty(1 << 16, np.int32)
        self.task_tgid = np.empty(1 << 16, np.int32)
        self.task_seen = np.full((1 << 12, 3), -2, np.int32)  # last (tid, comm, tgid) recorded per tid slot
        self.tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def _grow_table(self) -> None:
        size = len(self.ht_key) * 4
        key, code = np.zeros(size, np.uint64), np.zeros(size, np.int32)
        K.rehash(self.ht_key, self.ht_code, key, code)
        self.ht_key, self.ht_code = key, code

    def _ensure_room(self, room: int) -> None:
        """Make the output columns hold at least ``room`` more events.

        Columns are allocated once, generously, and written in place by the
        kernel: pages never written cost nothing, while every fresh page
        written costs a page fault, so copying chunks into a final array would
        roughly double the time of a large read."""
        n = int(self.st[K.ST_NEV])
        if self.out is not None and len(self.out["ts_ns"]) - n >= room:
            return
        cap = max(2 * (len(self.out["ts_ns"]) if self.out else 0), n + room, self.expected)
        try:
            new = {name: np.empty(cap, schema.EVENTS.field(name).numpy_dtype) for name in _KERNEL_ORDER}
        except MemoryError:  # no room for the reservation (strict overcommit): what is needed now
            self.expected = cap = n + 2 * room
            new = {name: np.empty(cap, schema.EVENTS.field(name).numpy_dtype) for name in _KERNEL_ORDER}
        if self.out is not None:
            for k, v in self.out.items():
                new[k][:n] = v[:n]
        self.out = new

    def feed(self, buf: np.ndarray, offset: int, last: bool, line: int | None = None,
             start: int = 0, stop: int | None = None) -> None:
        """Parse the whole lines of buf[start:stop] (a uint8 array; buf[0] is at
        byte ``offset`` of the content).

        ``line`` is the number of its first line (by default, the line after
        the previous chunk's last one)."""
        stop = len(buf) if stop is None else stop
        if line is not None:
            self.line = line
        buf = np.ascontiguousarray(buf)  # the kernel reads it through its address too
        pos, end = start, stop
        while pos < end:
            self._ensure_room(min((end - pos) // 64 + 64, 1 << 20))
            rows = int(self.st[K.ST_NEV])
            # the rows these lines will probably fill, at the bytes per event seen so far
            # (rows past the guess are faulted in by the kernel's writes)
            per_event = self.bytes_read / rows if rows > 1000 else 100.0
            for col in self.out.values():
                populate(col, rows, rows + int((end - pos) / per_event * 1.05))
            half = len(self.ht_key) // 2
            if len(self.new_pos) < half + 8:  # a call stops at half full, after a line of <= 3 new strings
                self.new_pos = np.empty(half + 8, np.int64)
                self.new_len = np.empty(half + 8, np.int64)
            self.st[K.ST_NNEW] = self.st[K.ST_NSPECIAL] = self.st[K.ST_NTASK] = 0
            new = K.parse_lines(buf, pos, end, self.line, self.plugin_letters,
                                K.Strings(self.ht_key, self.ht_code, self.new_pos, self.new_len), self.st,
                                K.Specials(self.special_pos, self.special_line, self.special_kind),
                                K.TaskColumn(self.last_cur, self.task_tid, self.task_comm, self.task_tgid,
                                             self.task_seen),
                                K.Events(**self.out))
            nt = int(self.st[K.ST_NTASK])
            if nt:
                self.tasks.append((self.task_tid[:nt].copy(), self.task_comm[:nt].copy(),
                                   self.task_tgid[:nt].copy()))
            self.line = int(self.st[K.ST_LINE])
            nn = int(self.st[K.ST_NNEW])
            for p, ln in zip(self.new_pos[:nn].tolist(), self.new_len[:nn].tolist()):
                self.strings.append(buf[p:p + ln].tobytes().decode("utf-8", "backslashreplace"))
            ns = int(self.st[K.ST_NSPECIAL])
            self._specials(buf, end, offset, self.special_pos[:ns], self.special_line[:ns],
                           self.special_kind[:ns], last and new >= end)
            self.bytes_read += new - pos
            pos = new
            if self.st[K.ST_NSTR] >= len(self.ht_key) // 2:
                self._grow_table()

    def _specials(self, buf, end, offset, spos, sline, skind, last_chunk) -> None:
        for p, line, k in zip(spos.tolist(), sline.tolist(), skind.tolist()):
            e = p
            while e < end and buf[e] != 10 and e - p < 400:
                e += 1
            text = buf[p:e].tobytes().rstrip(b"\r")
            if k == K.LINE_HEADER:
                if len(self.header_lines) < 200:
                    self.header_lines.append(text)
                continue
            where = (line, offset + p, text[:120])
            if last_chunk and e >= end:
                self.truncated = (line, offset + p)
                continue
            if k == K.LINE_OTHER:
                self.n_other += 1
                if len(self.other) < _MAX_EXAMPLES:
                    self.other.append(where)
            elif k in (K.LINE_BAD_CPU, K.LINE_BAD_TIME):
                self.out_of_range.setdefault(k, [0, where])[0] += 1
            else:
                self.n_bad += 1
                if len(self.bad) < _MAX_EXAMPLES:
                    self.bad.append(where)

    def finish(self, fmt: str) -> None:
        """Hand the chunks to the result and describe what was seen."""
        r = self.result
        r.strings.strings = self.strings
        r.strings._codes = {}
        for code, s in enumerate(self.strings):
            r.strings._codes.setdefault(s, code)
        n = int(self.st[K.ST_NEV])
        chunks = [{k: v[:n] for k, v in self.out.items()}] if self.out is not None and n else []
        self.out = None
        self._fix_lost(chunks)
        self._task_column()
        for c in chunks:
            r.add_events(c)
        back, first_back = int(self.st[K.ST_BACK]), int(self.st[K.ST_BACK_LINE])
        if back:
            r.warnings.add("disorder", f"{r.path}: line {first_back}: timestamp goes back in time "
                           f"({back} such lines); events sorted by timestamp, file order kept among "
                           "equal timestamps")
        r.ordered = back == 0
        t = self.st
        r.skipped += int(t[K.ST_SKIPPED] + t[K.ST_MARKERS])
        if t[K.ST_MARKERS]:
            r.warnings.add("markers", f"skipped {int(t[K.ST_MARKERS])} atrace/trace_marker lines "
                           "(tracing_mark_write, print, 0:)")
        if t[K.ST_SKIPPED]:
            r.warnings.add("skipped", f"skipped {int(t[K.ST_SKIPPED])} non-scheduler events and "
                           "other tracers' lines")
        bad_cpu, bad_time = self.out_of_range.get(K.LINE_BAD_CPU), self.out_of_range.get(K.LINE_BAD_TIME)
        for n, examples, what in ((self.n_other, self.other,
                                   "not an event line (expected 'TASK-PID [CPU] TIMESTAMP: event: fields')"),
                                  (self.n_bad, self.bad, "scheduler event with fields that could not be parsed "
                                   "or out of their range (pid, prio, CPU); left out"),
                                  (bad_cpu and bad_cpu[0], [bad_cpu and bad_cpu[1]],
                                   f"CPU number outside 0..{schema.MAX_CPUS - 1}; the line is left out"),
                                  (bad_time and bad_time[0], [bad_time and bad_time[1]],
                                   "timestamp negative or beyond 292 years of nanoseconds; the line is left out")):
            if n:
                line, off, text = examples[0]
                r.warnings.add(what, f"{r.path}: line {line} (byte {off}): {what}: "
                               f"{text.decode('utf-8', 'backslashreplace')!r}", n)
        jumps = int(t[K.ST_JUMP])
        if jumps:
            a, b = int(t[K.ST_JUMP_FROM]), int(t[K.ST_JUMP_TO])
            r.warnings.add("time-jump-line", f"{r.path}: lines {int(t[K.ST_JUMP_PREV])} and {int(t[K.ST_JUMP_LINE])}: "
                           f"timestamps {a / 1e9:.6f} s and {b / 1e9:.6f} s, {abs(b - a) / 3.6e12:,.1f} hours "
                           f"apart: a corrupt timestamp? ({jumps} such jumps between consecutive events)")
        if self.unterminated and not self.truncated:
            line, off = self.unterminated
            r.warnings.add("unterminated", f"{r.path}: line {line} (byte {off}): the file ends without "
                           "a newline; its last line was read as it is (truncated file?)")
        if self.truncated:
            line, off = self.truncated
            r.warnings.add("truncated", f"{r.path}: line {line} (byte {off}): last line is "
                           "incomplete (truncated file?); ignored")
        self._headers(fmt)

    def _fix_lost(self, chunks) -> None:
        """A LOST marker is printed just before the next event recorded after the
        loss: give it that event's timestamp (the last event's if none follows)."""
        pending = []
        last_ts = 0
        for c in chunks:
            kind, ts = c["kind"], c["ts_ns"]
            lost = np.flatnonzero(kind == schema.LOST)
            if len(lost) == 0 and not pending:
                if len(ts):
                    last_ts = ts[-1]
                continue
            real = np.flatnonzero(kind != schema.LOST)
            if pending and len(real):
                for cc, i in pending:
                    cc["ts_ns"][i] = ts[real[0]]
                pending = []
            nxt = np.searchsorted(real, lost)
            for i, j in zip(lost.tolist(), nxt.tolist()):
                if j < len(real):
                    ts[i] = ts[real[j]]
                else:
                    pending.append((c, i))
            for cpu, v in zip(c["cpu"][lost].tolist(), c["lost_events"][lost].tolist()):
                self.result.add_lost(cpu, v)
            c["lost_events"][lost] = np.maximum(c["lost_events"][lost], 0)
            if len(real):
                last_ts = ts[real[-1]]
        for cc, i in pending:
            cc["ts_ns"][i] = last_ts
        if self.result.lost_per_cpu:
            counted = sum(v for v in self.result.lost_per_cpu.values() if v > 0)
            self.result.warnings.add("lost", f"the ring buffer dropped events ({counted} counted, on CPUs "
                                     f"{sorted(self.result.lost_per_cpu)}); the places are kept as "
                                     "'lost' rows in the events table")

    def _task_column(self) -> None:
        """tid -> comm and tid -> tgid from the TASK-PID (TGID) column (last value seen).

        The kernel only records the lines where a CPU's current task changed or
        a TGID is printed, so this looks at a small subset of the rows."""
        r = self.result
        if not self.tasks:
            return
        tid = np.concatenate([t for t, _, _ in self.tasks])
        for col, into, value in ((1, r.cmdlines, self.strings.__getitem__), (2, r.tgid, int)):
            v = np.concatenate([c[col] for c in self.tasks])
            ok = np.flatnonzero((v > 0) & (tid > 0))
            keys, last = _last_per_key(tid[ok], v[ok])
            for t, x in zip(keys.tolist(), last.tolist()):
                into[t] = value(x)

    def _headers(self, fmt: str) -> None:
        r = self.result
        for h in self.header_lines:
            m = _P_RE.search(h) or _CPUS_RE.search(h)
            if m and r.n_cpus is None:
                r.n_cpus = int(m.group(1))
        t = self.st
        if fmt in ("ftrace", "trace-cmd-report"):
            pretty = t[K.ST_PRETTY] > 0 or t[K.ST_NUMSTATE] > 0
            has_report_header = any(_CPUS_RE.search(h) for h in self.header_lines)
            if pretty or (has_report_header and t[K.ST_FLAGS] == 0):
                r.format = "trace-cmd-report"
            else:
                r.format = "ftrace"


def read(src: Source, fmt: str, progress=None) -> ReadResult:
    """Read an ftrace-family text file (see module docstring)."""
    result = ReadResult(src.path, fmt, compression=src.compression)
    # Room for an event per 48 bytes (event lines run 100-170 bytes; compressed
    # text is ~25x smaller): an address-space reservation, not memory, as only
    # the rows written are ever faulted in, and more than enough makes growing
    # the columns (a copy) rare.
    parser = TextParser(result, expected_events=src.size // (2 if src.compression else 48) + 1024)
    for buf, start, stop, offset, last in text_spans(src, progress=progress):
        parser.feed(buf, offset, last, start=start, stop=stop)
        if last and stop > start and buf[stop - 1] != 10:
            parser.unterminated = (parser.line - 1, offset + max(_last_newline(buf, start, stop), start - 1) + 1)
    parser.finish(fmt)
    return result
