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
from ._io import Source, text_chunks
from ._result import ReadResult

_P_RE = re.compile(rb"#P:(\d+)")
_CPUS_RE = re.compile(rb"^\s*cpus=(\d+)")
_TRACER_RE = re.compile(rb"^#\s*tracer:\s*(\S+)")
_MAX_EXAMPLES = 3

# Kernel output columns beside the schema's event columns: the TASK-PID
# column's TGID and comm (code, -1 for "<...>"), and the line number.
_EXTRA = {"cur_tgid": np.int32, "cur_comm": np.int32, "line_no": np.int64}
_KERNEL_ORDER = ("ts_ns", "cpu", "kind", "irq", "cur_tid", "cur_tgid", "cur_comm", "tid", "comm",
                 "prio", "prev_state", "next_tid", "next_comm", "next_prio", "target_cpu",
                 "orig_cpu", "parent_tid", "parent_comm", "old_tid", "filename", "group_dead",
                 "runtime_ns", "vruntime_ns", "lost_events", "line_no")


class TextParser:
    """Feeds chunks of text lines through the kernel and collects the events."""

    def __init__(self, result: ReadResult, plugin_letters: bool = True):
        self.result = result
        self.plugin_letters = plugin_letters
        self.ht_key = np.zeros(1 << 14, np.uint64)
        self.ht_code = np.zeros(1 << 14, np.int32)
        self.st = np.zeros(K.ST_SIZE, np.int64)
        self.st[K.ST_NSTR] = 1  # code 0 is ""
        self.strings: list[str] = [""]
        self.chunks: list[dict[str, np.ndarray]] = []
        self.totals = np.zeros(K.ST_SIZE, np.int64)
        self.header_lines: list[bytes] = []
        self.other: list[tuple[int, int, bytes]] = []   # (line, byte offset, text) examples
        self.n_other = 0
        self.bad: list[tuple[int, int, bytes]] = []
        self.n_bad = 0
        self.truncated: tuple[int, int] | None = None
        self.unterminated: tuple[int, int] | None = None

    def _grow_table(self) -> None:
        size = len(self.ht_key) * 4
        key, code = np.zeros(size, np.uint64), np.zeros(size, np.int32)
        K.rehash(self.ht_key, self.ht_code, key, code)
        self.ht_key, self.ht_code = key, code

    def feed(self, data: bytes, offset: int, line0: int, last: bool) -> None:
        buf = np.frombuffer(data, np.uint8)
        n_lines = data.count(b"\n") + 1
        pos, end = 0, len(buf)
        while pos < end:
            cap = min(n_lines, 1 << 20)
            out = {name: np.empty(cap, schema.EVENTS.field(name).numpy_dtype)
                   if name in schema.EVENTS.names else np.empty(cap, _EXTRA[name])
                   for name in _KERNEL_ORDER}
            half = len(self.ht_key) // 2
            new_pos = np.empty(half, np.int64)
            new_len = np.empty(half, np.int64)
            special_pos = np.empty(4096, np.int64)
            special_kind = np.empty(4096, np.int8)
            self.st[K.ST_NNEW] = self.st[K.ST_NEV] = self.st[K.ST_NSPECIAL] = 0
            line_at = line0 + data.count(b"\n", 0, pos)
            new = K.parse_lines(buf, pos, end, line_at, self.plugin_letters,
                                self.ht_key, self.ht_code, new_pos, new_len, self.st,
                                special_pos, special_kind, *[out[n] for n in _KERNEL_ORDER])
            for p, ln in zip(new_pos[: self.st[K.ST_NNEW]], new_len[: self.st[K.ST_NNEW]]):
                self.strings.append(data[p:p + ln].decode("utf-8", "backslashreplace"))
            self._specials(data, offset, line_at, pos, special_pos[: self.st[K.ST_NSPECIAL]],
                           special_kind[: self.st[K.ST_NSPECIAL]], last and new >= end)
            n = int(self.st[K.ST_NEV])
            if n:
                keep = n >= cap * 3 // 4
                self.chunks.append({k: (v[:n] if keep else v[:n].copy()) for k, v in out.items()})
            self.totals += self.st
            pos = new
            if self.st[K.ST_NSTR] >= len(self.ht_key) // 2:
                self._grow_table()

    def _specials(self, data, offset, line_at, pos, spos, skind, last_chunk) -> None:
        if len(spos) == 0:
            return
        # line number of each special line: count newlines between them
        for p, k in zip(spos.tolist(), skind.tolist()):
            e = data.find(b"\n", p)
            text = data[p: e if e >= 0 else len(data)].rstrip(b"\r")
            if k == K.LINE_HEADER:
                if len(self.header_lines) < 200:
                    self.header_lines.append(text)
                continue
            line = line_at + data.count(b"\n", pos, p)
            where = (line, offset + p, text[:120])
            if last_chunk and e < 0:
                self.truncated = (line, offset + p)
                continue
            if k == K.LINE_OTHER:
                self.n_other += 1
                if len(self.other) < _MAX_EXAMPLES:
                    self.other.append(where)
            else:
                self.n_bad += 1
                if len(self.bad) < _MAX_EXAMPLES:
                    self.bad.append(where)
            pos, line_at = p, line

    def finish(self, fmt: str) -> None:
        """Merge the chunks into the result and describe what was seen."""
        r = self.result
        r.strings.strings = self.strings
        r.strings._codes = {}
        for code, s in enumerate(self.strings):
            r.strings._codes.setdefault(s, code)
        cols = _concat(self.chunks)
        self.chunks = []
        self._fix_lost(cols)
        self._task_column(cols)
        line_no = cols.pop("line_no")
        for name in _EXTRA:
            cols.pop(name, None)
        ts = cols["ts_ns"]
        back = np.flatnonzero(ts[1:] < ts[:-1]) if len(ts) > 1 else []
        if len(back):
            r.warnings.add("disorder", f"{r.path}: line {int(line_no[back[0] + 1])}: timestamp goes back "
                           f"in time ({len(back)} such lines); events sorted by timestamp, "
                           "file order kept among equal timestamps")
            perm = schema.event_order(ts)
            cols = {k: v[perm] for k, v in cols.items()}
        r.ordered = True
        r.add_events(cols)
        t = self.totals
        r.skipped += int(t[K.ST_SKIPPED] + t[K.ST_MARKERS])
        if t[K.ST_MARKERS]:
            r.warnings.add("markers", f"skipped {int(t[K.ST_MARKERS])} atrace/trace_marker lines "
                           "(tracing_mark_write, print, 0:)")
        if t[K.ST_SKIPPED]:
            r.warnings.add("skipped", f"skipped {int(t[K.ST_SKIPPED])} non-scheduler events and "
                           "other tracers' lines")
        for n, examples, what in ((self.n_other, self.other,
                                   "not an event line (expected 'TASK-PID [CPU] TIMESTAMP: event: fields')"),
                                  (self.n_bad, self.bad, "scheduler event with fields that could not be parsed")):
            if n:
                line, off, text = examples[0]
                r.warnings.add(what, f"{r.path}: line {line} (byte {off}): {what}: "
                               f"{text.decode('utf-8', 'backslashreplace')!r}", n)
        if self.unterminated and not self.truncated:
            line, off = self.unterminated
            r.warnings.add("unterminated", f"{r.path}: line {line} (byte {off}): the file ends without "
                           "a newline; its last line was read as it is (truncated file?)")
        if self.truncated:
            line, off = self.truncated
            r.warnings.add("truncated", f"{r.path}: line {line} (byte {off}): last line is "
                           "incomplete (truncated file?); ignored")
        self._headers(fmt)

    def _fix_lost(self, cols) -> None:
        lost = np.flatnonzero(cols["kind"] == schema.LOST)
        if len(lost) == 0:
            return
        ts = cols["ts_ns"]
        n = len(ts)
        real = np.flatnonzero(cols["kind"] != schema.LOST)
        # A marker is printed just before the next event recorded after the loss.
        nxt = np.searchsorted(real, lost)
        for i, j in zip(lost.tolist(), nxt.tolist()):
            if j < len(real):
                ts[i] = ts[real[j]]
            elif len(real):
                ts[i] = ts[real[-1]]
            else:
                ts[i] = 0
        for c, v in zip(cols["cpu"][lost].tolist(), cols["lost_events"][lost].tolist()):
            self.result.add_lost(c, v)
        cols["lost_events"][lost] = np.maximum(cols["lost_events"][lost], 0)
        total = sum(v for v in self.result.lost_per_cpu.values() if v > 0)
        self.result.warnings.add("lost", f"the ring buffer dropped events ({total} counted, "
                                 f"on CPUs {sorted(self.result.lost_per_cpu)}); spans around them are "
                                 "flagged in the events table (kind=lost)", 1)
        del n

    def _task_column(self, cols) -> None:
        """tid -> comm and tid -> tgid from the TASK-PID (TGID) column (last value seen)."""
        r = self.result
        tid, comm, tgid = cols["cur_tid"], cols["cur_comm"], cols["cur_tgid"]
        if len(tid) == 0:
            return
        rev = slice(None, None, -1)
        ok = comm[rev] > 0
        t_ok = tid[rev][ok]
        uniq, idx = np.unique(t_ok, return_index=True)
        for t, c in zip(uniq.tolist(), comm[rev][ok][idx].tolist()):
            if t > 0:
                r.cmdlines[t] = self.strings[c]
        ok = tgid[rev] >= 0
        uniq, idx = np.unique(tid[rev][ok], return_index=True)
        for t, g in zip(uniq.tolist(), tgid[rev][ok][idx].tolist()):
            if t > 0 and g > 0:
                r.tgid[t] = g

    def _headers(self, fmt: str) -> None:
        r = self.result
        for h in self.header_lines:
            m = _P_RE.search(h) or _CPUS_RE.search(h)
            if m and r.n_cpus is None:
                r.n_cpus = int(m.group(1))
        t = self.totals
        if fmt in ("ftrace", "trace-cmd-report"):
            pretty = t[K.ST_PRETTY] > 0 or t[K.ST_NUMSTATE] > 0
            has_report_header = any(_CPUS_RE.search(h) for h in self.header_lines)
            if pretty or (has_report_header and t[K.ST_FLAGS] == 0):
                r.format = "trace-cmd-report"
            else:
                r.format = "ftrace"


def _concat(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not chunks:
        return {name: np.empty(0, schema.EVENTS.field(name).numpy_dtype)
                if name in schema.EVENTS.names else np.empty(0, _EXTRA[name]) for name in _KERNEL_ORDER}
    if len(chunks) == 1:
        return dict(chunks[0])
    return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def read(src: Source, fmt: str, progress=None) -> ReadResult:
    """Read an ftrace-family text file (see module docstring)."""
    result = ReadResult(src.path, fmt, compression=src.compression)
    parser = TextParser(result)
    for data, offset, line, last in text_chunks(src, progress=progress):
        parser.feed(data, offset, line, last)
        if last and not data.endswith(b"\n"):
            parser.unterminated = (line + data.count(b"\n"), offset + data.rfind(b"\n") + 1)
    parser.finish(fmt)
    return result
