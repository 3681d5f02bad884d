"""Reader for trace-cmd ``trace.dat`` files (file versions 6 and 7), without trace-cmd.

Layout (trace-cmd.dat.v6(5), trace-cmd.dat.v7(5); lib/trace-cmd/trace-input.c):

* both: magic ``\\x17\\x08\\x44tracing``, version string, endianness byte
  (0 little, 1 big), user-space long size, page size (u32);
* v6, in order: ``header_page`` and ``header_event`` texts (u64 sizes), the
  ftrace event formats (u32 count of u64-sized texts), the event formats by
  system, kallsyms (u32 size), printk formats (u32), saved cmdlines (u64), the
  CPU count (u32), ``options  \\0`` then (u16 id, u32 size, data) options up
  to id 0, ``flyrecord\\0`` and one (u64 offset, u64 size) per CPU;
* v7: the compression name and version strings, the u64 offset of the first
  options section, then sections (u16 id, u16 flags with bit 0 = compressed,
  u32 description string id, u64 size). A compressed section starts with
  u32 compressed and u32 uncompressed sizes. Options sections chain through
  the DONE option (u64 offset of the next one); options 16-21 point at the
  header, format, kallsyms, printk and cmdlines sections; the BUFFER option
  (u64 section offset, name, clock, u32 page size, u32 CPU count, then per CPU
  u32 id, u64 offset, u64 size) locates the ring-buffer data; compressed data
  is a u32 chunk count then (u32 compressed size, u32 page-aligned
  uncompressed size, data) chunks.

Timestamps follow trace-cmd's ``timestamp_calc``: the raw ring-buffer clock,
converted with ``mul_u64_u32_shr(ts, mult, shift)`` when a TSC2NSEC option is
present (its offset is not applied: libtracecmd does not either), plus the
OFFSET option. The DATE option (wall-clock mapping) is not applied: event
times stay in the trace clock, as the other readers give them.

``prev_state`` is normalised to the Linux >= 4.14 report layout of
:mod:`traces.schema` using the ``__print_flags`` table and the preempt marker
(``REC->prev_state & X ? "+"``) in the file's own sched_switch print format:
each bit is mapped by its letter (S D T t X Z P I; old kernels' ``x``
TASK_DEAD -> X; ``K`` wakekill, ``W`` waking, ``N`` noload and ``n`` new are
modifiers and dropped, except D with N, which is TASK_IDLE -> I), and the
preempt marker (TASK_STATE_MAX 1024/2048/4096 on 4.x, TASK_REPORT_MAX 0x100
since) becomes 0x100. When the table is already that layout (6.x) the raw
value is kept unchanged.

Saved tgids are not part of the trace.dat format (only of the text
``saved_tgids`` file); ``result.tgid`` stays empty.
"""

from __future__ import annotations

import ast
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import _tracedat_kernel as K
from . import schema
from ._io import Source
from ._result import ReadResult
from .errors import TraceError

MAGIC = b"\x17\x08\x44tracing"

# Option ids (trace-cmd.h enum tracecmd_option_id).
OPT_DONE, OPT_DATE, OPT_CPUSTAT, OPT_BUFFER, OPT_TRACECLOCK, OPT_UNAME, OPT_HOOK, OPT_OFFSET, \
    OPT_CPUCOUNT, OPT_VERSION, OPT_PROCMAPS, OPT_TRACEID, OPT_TIME_SHIFT, OPT_GUEST, \
    OPT_TSC2NSEC, OPT_STRINGS, OPT_HEADER_INFO, OPT_FTRACE_EVENTS, OPT_EVENT_FORMATS, \
    OPT_KALLSYMS, OPT_PRINTK, OPT_CMDLINES, OPT_BUFFER_TEXT = range(23)
SEC_FL_COMPRESS = 1
MAX_SECTIONS = 10_000        # bound on any walk through a corrupt file
MAX_CHUNK = 1 << 28          # bound on one decompressed chunk or section (bytes)
MAX_CPUS = 1 << 14           # CPU ids must fit the int16 cpu column (Linux NR_CPUS <= 8192)
MAX_POS = 1 << 60            # file offsets/sizes beyond this are corrupt
MAX_LOST = 1 << 40           # lost-event counts beyond this are corrupt

# Letters of sched_switch's __print_flags table -> normalised bits (schema.STATE_*).
_LETTER_BITS = dict(schema.STATE_LETTERS, x=schema.STATE_DEAD)
_MODIFIER_LETTERS = {"K", "W", "N", "n"}


@dataclass
class _Field:
    offset: int
    size: int
    signed: bool
    str_mode: int  # K.STR_* (STR_ABSENT for numbers)


@dataclass
class _Format:
    system: str
    name: str
    id: int
    fields: dict[str, _Field]
    print_fmt: str


_FIELD_RE = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                       r"(?:\s*signed:(?P<signed>\d+);)?")


def _parse_format(text: str, system: str, want: set[str]) -> _Format | None:
    """An event format file; fields only for events named in ``want``."""
    m = re.search(r"^name:\s*(\S+)\s*$", text, re.M)
    i = re.search(r"^ID:\s*(\d+)\s*$", text, re.M)
    if not m or not i:
        return None
    name = m.group(1)
    fields: dict[str, _Field] = {}
    pf = ""
    if name in want:
        for fm in _FIELD_RE.finditer(text):
            decl = fm.group("decl").strip()
            off, size = int(fm.group("off")), int(fm.group("size"))
            signed = fm.group("signed") == "1"
            mode = K.STR_ABSENT
            if decl.startswith("__data_loc"):
                mode = K.STR_DATA_LOC
            elif decl.startswith("__rel_loc"):
                mode = K.STR_REL_LOC
            elif re.search(r"\bchar\s+\w+\s*\[", decl):
                mode = K.STR_ARRAY
            nm = re.search(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", decl)
            if nm is None:
                continue
            fname = nm.group(1)
            fields[fname] = _Field(off, size, signed, mode)
        p = text.find("print fmt:")
        pf = text[p + 10:].strip() if p >= 0 else ""
    return _Format(system, name, int(i.group(1)), fields, pf)


def _eval_int(expr: str) -> int | None:
    """Value of a C integer constant expression (| & + - << >> ~ and parentheses)."""
    expr = re.sub(r"(?<=[0-9a-fA-F])[uUlL]+\b", "", expr.strip())
    try:
        node = ast.parse(expr, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    ops = {ast.BitOr: lambda a, b: a | b, ast.BitAnd: lambda a, b: a & b,
           ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.LShift: lambda a, b: a << b if 0 <= b < 64 else None,
           ast.RShift: lambda a, b: a >> b if 0 <= b < 64 else None}

    def ev(n):
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in ops:
            a, b = ev(n.left), ev(n.right)
            return None if a is None or b is None else ops[type(n.op)](a, b)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.Invert, ast.USub)):
            a = ev(n.operand)
            return None if a is None else (~a if isinstance(n.op, ast.Invert) else -a)
        return None

    try:
        return ev(node)
    except RecursionError:
        return None


def _prev_state_map(print_fmt: str):
    """(bit map [(src, dst)], preempt bit, D|N idle pair, identity?) from sched_switch's print fmt."""
    table = re.search(r"__print_flags\(\s*REC->prev_state[^\"]*\"\|\"\s*,(.*?)\)\s*:", print_fmt, re.S)
    pre = re.search(r":\s*\"R\"\s*,\s*REC->prev_state\s*&\s*(.*?)\?\s*\"\+\"", print_fmt, re.S)
    if not table or not pre:
        return None
    pairs = []
    for vm in re.finditer(r"\{\s*([^,{}]+?)\s*,\s*\"([^\"]*)\"\s*\}", table.group(1)):
        v = _eval_int(vm.group(1))
        if v is None or not 0 < v < 1 << 62:
            return None
        pairs.append((v, vm.group(2)))
    preempt = _eval_int(pre.group(1))
    if preempt is None or not 0 < preempt < 1 << 62 or not pairs:
        return None
    bits, d_bit, n_bit = [], 0, 0
    for v, letter in pairs:
        if letter == "D":
            d_bit = v
        if letter == "N":
            n_bit = v
        if letter in _LETTER_BITS:
            bits.append((v, _LETTER_BITS[letter]))
        elif letter not in _MODIFIER_LETTERS:
            return None
    identity = preempt == schema.STATE_PREEMPTED and all(s == d for s, d in bits)
    return bits, preempt, (d_bit, n_bit), identity


class _Bytes:
    """Bounds-checked reads of the file (or a decompressed section) in the file's byte order."""

    def __init__(self, data, big: bool, path: str, base: int | None = 0, what: str = "file"):
        self.data, self.path, self.base, self.what = data, path, base, what
        self.e = ">" if big else "<"
        self.hi = 0  # end of the furthest bytes read

    def _need(self, off: int, n: int, what: str):
        self.hi = max(self.hi, off + n)
        if off < 0 or n < 0 or off + n > len(self.data):
            where = (self.base + min(max(off, 0), len(self.data))) if self.base is not None else None
            raise TraceError(f"trace.dat truncated or corrupt: {what} needs {n} bytes at "
                             f"{self.what} offset {off}, but only {len(self.data)} bytes exist",
                             self.path, offset=where)

    def num(self, off: int, n: int, what: str) -> int:
        self._need(off, n, what)
        return int.from_bytes(self.data[off:off + n], "big" if self.e == ">" else "little")

    def take(self, off: int, n: int, what: str) -> bytes:
        self._need(off, n, what)
        return bytes(self.data[off:off + n])

    def cstr(self, off: int, what: str, limit: int = 1 << 16) -> tuple[str, int]:
        self._need(off, 1, what)
        end = self.data.find(b"\0", off, min(len(self.data), off + limit))
        self.hi = max(self.hi, end + 1)
        if end < 0:
            raise TraceError(f"corrupt trace.dat: unterminated string ({what}) at "
                             f"{self.what} offset {off}", self.path,
                             offset=(self.base + off) if self.base is not None else None)
        return bytes(self.data[off:end]).decode("utf-8", "replace"), end + 1


@dataclass
class _Parsed:
    version: int = 0
    big: bool = False
    long_size: int = 8
    page_size: int = 4096
    compression: str = ""
    header_page: str = ""
    header_event: str = ""
    formats: list[_Format] = field(default_factory=list)
    options: list[tuple[int, bytes]] = field(default_factory=list)
    cmdlines: str = ""
    n_cpus_header: int = 0
    clock: str = ""
    # Ring-buffer data: (cpu id, start, end) into ``data``.
    cpus: list[tuple[int, int, int]] = field(default_factory=list)
    data: object = None
    data_is_file: bool = True
    chunk_pos: list = field(default_factory=list)   # decompressed chunk starts in ``data``
    chunk_file: list = field(default_factory=list)  # ... and their file offsets
    extra_buffers: list[str] = field(default_factory=list)
    latency: bool = False
    progress: object = None  # the caller's progress callback (bytes of the file consumed)
    extent: int = 0  # end of the furthest ring-buffer data in the file


def _decompressor(name: str, path: str):
    if name in ("", "none"):
        return None
    if name == "zstd":
        import zstandard

        # one decompressor for every chunk: making one costs ~9 us (a few hundred chunks a file)
        d = zstandard.ZstdDecompressor()
        return lambda b: d.decompressobj().decompress(b)
    if name == "zlib":
        return lambda b: zlib.decompressobj().decompress(b)
    raise TraceError(f"unsupported trace.dat compression {name!r} (supported: zstd, zlib, none)", path)


def _decompress(fn, blob: bytes, usize: int, path: str, where: int) -> bytes:
    try:
        out = fn(blob)
    except Exception as e:  # zstd.ZstdError, zlib.error: corrupt compressed data
        raise TraceError(f"corrupt compressed data: {e}", path, offset=where) from None
    if len(out) != usize:
        raise TraceError(f"compressed data decompresses to {len(out)} bytes, the file says {usize}",
                         path, offset=where)
    return out


def _parse_options(r: _Bytes, off: int, end: int, v7: bool, out: list) -> int:
    """Options from ``off``; returns the next options offset (v7 DONE) or the end position (v6)."""
    for _ in range(MAX_SECTIONS):
        oid = r.num(off, 2, "option id")
        if oid == OPT_DONE and not v7:
            return off + 2
        size = r.num(off + 2, 4, "option size")
        data = r.take(off + 6, size, f"option {oid}")
        off += 6 + size
        if oid == OPT_DONE:
            return int.from_bytes(data[:8], "big" if r.e == ">" else "little") if len(data) >= 8 else 0
        out.append((oid, data))
        if end and off > end:
            break
    raise TraceError("corrupt trace.dat: options do not end", r.path, offset=off)


def _parse_event_formats(r: _Bytes, off: int, p: _Parsed, want: set[str]) -> int:
    nsys = r.num(off, 4, "event system count")
    off += 4
    for _ in range(min(nsys, MAX_SECTIONS)):
        system, off = r.cstr(off, "event system name")
        cnt = r.num(off, 4, "event count")
        off += 4
        for _ in range(min(cnt, MAX_SECTIONS)):
            size = r.num(off, 8, "event format size")
            text = r.take(off + 8, size, "event format").decode("utf-8", "replace")
            off += 8 + size
            f = _parse_format(text, system, want)
            if f is not None:
                p.formats.append(f)
    return off


def _parse_headers(r: _Bytes, off: int, p: _Parsed) -> int:
    if r.take(off, 12, "header_page tag") != b"header_page\0":
        raise TraceError("corrupt trace.dat: 'header_page' expected", r.path, offset=off)
    size = r.num(off + 12, 8, "header_page size")
    p.header_page = r.take(off + 20, size, "header_page").decode("utf-8", "replace")
    off += 20 + size
    if r.take(off, 13, "header_event tag") != b"header_event\0":
        raise TraceError("corrupt trace.dat: 'header_event' expected", r.path, offset=off)
    size = r.num(off + 13, 8, "header_event size")
    p.header_event = r.take(off + 21, size, "header_event").decode("utf-8", "replace")
    return off + 21 + size


def _parse_ftrace_formats(r: _Bytes, off: int, p: _Parsed) -> int:
    """The ftrace section's formats: only ``print`` is kept (trace_marker writes, the
    application markers of traces.spans)."""
    cnt = r.num(off, 4, "ftrace format count")
    off += 4
    for _ in range(min(cnt, MAX_SECTIONS)):
        size = r.num(off, 8, "ftrace format size")
        text = r.take(off + 8, size, "ftrace format").decode("utf-8", "replace")
        off += 8 + size
        f = _parse_format(text, "ftrace", {"print"})
        if f is not None and f.name == "print":
            p.formats.append(f)
    return off


def _parse_v6(r: _Bytes, off: int, p: _Parsed, want: set[str]) -> None:
    off = _parse_headers(r, off, p)
    off = _parse_ftrace_formats(r, off, p)
    off = _parse_event_formats(r, off, p, want)
    off += 4 + r.num(off, 4, "kallsyms size")
    off += 4 + r.num(off, 4, "printk formats size")
    size = r.num(off, 8, "saved cmdlines size")
    p.cmdlines = r.take(off + 8, size, "saved cmdlines").decode("utf-8", "replace")
    off += 8 + size
    p.n_cpus_header = ncpu = r.num(off, 4, "CPU count")
    off += 4
    tag = r.take(off, 10, "options/flyrecord tag")
    off += 10
    if tag.startswith(b"options"):
        off = _parse_options(r, off, 0, False, p.options)
        tag = r.take(off, 10, "flyrecord tag")
        off += 10
    if tag.startswith(b"latency"):
        p.latency = True
        return
    if not tag.startswith(b"flyrecord"):
        raise TraceError(f"corrupt trace.dat: 'flyrecord' expected, found {tag!r}", r.path, offset=off - 10)
    if ncpu > MAX_CPUS:
        raise TraceError(f"corrupt trace.dat: {ncpu} CPUs", r.path, offset=off - 14)
    for cpu in range(ncpu):
        start = min(r.num(off, 8, "CPU data offset"), MAX_POS)
        size = min(r.num(off + 8, 8, "CPU data size"), MAX_POS)
        off += 16
        if size:
            p.cpus.append((cpu, start, start + size))
            p.extent = max(p.extent, start + size)
    p.data = r.data
    for oid, data in p.options:
        if oid == OPT_BUFFER:
            name = data[8:].split(b"\0")[0].decode("utf-8", "replace")
            p.extra_buffers.append(name)


def _section(r: _Bytes, off: int, want_id: int | None, decomp, what: str) -> tuple[int, bytes]:
    """(flags, content) of the v7 section at ``off``, decompressed."""
    sid = r.num(off, 2, f"{what} section id")
    flags = r.num(off + 2, 2, f"{what} section flags")
    size = r.num(off + 8, 8, f"{what} section size")
    if want_id is not None and sid != want_id:
        raise TraceError(f"corrupt trace.dat: section {want_id} ({what}) expected at byte {off}, "
                         f"found id {sid}", r.path, offset=off)
    body = off + 16
    if flags & SEC_FL_COMPRESS:
        if decomp is None:
            raise TraceError(f"corrupt trace.dat: compressed {what} section in an uncompressed file",
                             r.path, offset=off)
        csize = r.num(body, 4, f"{what} compressed size")
        usize = r.num(body + 4, 4, f"{what} uncompressed size")
        blob = r.take(body + 8, csize, f"{what} compressed data")
        return flags, _decompress(decomp, blob, usize, r.path, body)
    return flags, r.take(body, size, what)


def _parse_v7(r: _Bytes, off: int, p: _Parsed, want: set[str], warn) -> None:
    comp, off = r.cstr(off, "compression name")
    _, off = r.cstr(off, "compression version")
    p.compression = "" if comp == "none" else comp
    decomp = _decompressor(comp, r.path)
    nxt = r.num(off, 8, "first options offset")
    seen = set()
    sections: dict[int, int] = {}
    buffers = []
    while nxt and nxt not in seen and len(seen) < MAX_SECTIONS:
        seen.add(nxt)
        _, content = _section(r, nxt, OPT_DONE, decomp, "options")
        opts: list = []
        nxt = _parse_options(_Bytes(content, p.big, r.path, None, "options section"), 0,
                             len(content), True, opts)
        for oid, data in opts:
            if OPT_HEADER_INFO <= oid <= OPT_CMDLINES and len(data) >= 8:
                sections[oid] = int.from_bytes(data[:8], "big" if p.big else "little")
            elif oid in (OPT_BUFFER, OPT_BUFFER_TEXT):
                buffers.append((oid, data))
            else:
                p.options.append((oid, data))
    if OPT_HEADER_INFO not in sections or OPT_EVENT_FORMATS not in sections:
        raise TraceError("corrupt or truncated trace.dat v7: no header/event-format section "
                         "listed in the options", r.path)
    _, hdr = _section(r, sections[OPT_HEADER_INFO], OPT_HEADER_INFO, decomp, "header info")
    _parse_headers(_Bytes(hdr, p.big, r.path, None, "header section"), 0, p)
    _, fmts = _section(r, sections[OPT_EVENT_FORMATS], OPT_EVENT_FORMATS, decomp, "event formats")
    _parse_event_formats(_Bytes(fmts, p.big, r.path, None, "event format section"), 0, p, want)
    if OPT_FTRACE_EVENTS in sections:
        _, ff = _section(r, sections[OPT_FTRACE_EVENTS], OPT_FTRACE_EVENTS, decomp, "ftrace formats")
        _parse_ftrace_formats(_Bytes(ff, p.big, r.path, None, "ftrace format section"), 0, p)
    if OPT_CMDLINES in sections:
        _, cl = _section(r, sections[OPT_CMDLINES], OPT_CMDLINES, decomp, "cmdlines")
        cr = _Bytes(cl, p.big, r.path, None, "cmdlines section")
        p.cmdlines = cr.take(8, cr.num(0, 8, "cmdlines size"), "cmdlines").decode("utf-8", "replace")
    top = None
    for oid, data in buffers:
        br = _Bytes(data, p.big, r.path, None, "BUFFER option")
        name, o = br.cstr(8, "buffer name")
        if oid == OPT_BUFFER_TEXT:
            p.latency = p.latency or name == ""
            continue
        if name != "":
            p.extra_buffers.append(name)
        elif top is None:
            top = (br.num(0, 8, "buffer offset"), br, o)
    if top is None:
        if p.latency:
            return
        raise TraceError("truncated or corrupt trace.dat v7: no BUFFER option locates the ring-buffer "
                         "data (trace-cmd writes it in the last options section, at the end of the "
                         f"file; the file has {len(r.data)} bytes)", r.path, offset=len(r.data))
    sec_off, br, o = top
    p.clock, o = br.cstr(o, "buffer clock")
    p.page_size = br.num(o, 4, "buffer page size")
    ncpu = br.num(o + 4, 4, "buffer CPU count")
    o += 8
    flags = r.num(sec_off + 2, 2, "buffer section flags")
    entries = []
    for _ in range(min(ncpu, 1 << 16)):
        entries.append((br.num(o, 4, "CPU id"), br.num(o + 4, 8, "CPU data offset"),
                        br.num(o + 12, 8, "CPU data size")))
        o += 20
    entries.sort()
    if any(c >= MAX_CPUS for c, _, _ in entries) or len({c for c, _, _ in entries}) != len(entries):
        raise TraceError(f"corrupt trace.dat: BUFFER option lists CPU ids {[c for c, _, _ in entries][:8]}",
                         r.path, offset=sec_off)
    entries = [(c, min(s, MAX_POS), min(n, MAX_POS)) for c, s, n in entries]
    if not flags & SEC_FL_COMPRESS:
        p.data = r.data
        p.cpus = [(c, s, s + n) for c, s, n in entries if n]
        p.extent = max([p.extent] + [e for _, _, e in p.cpus])
        return
    _load_chunks(r, p, entries, decomp, warn)


def _load_chunks(r: _Bytes, p: _Parsed, entries, decomp, warn) -> None:
    """Decompress each CPU's chunks into one buffer; a damaged chunk ends that CPU's data."""
    plan = []  # (cpu, [(blob offset, csize, usize)])
    total = 0
    for cpu, start, size in entries:
        if not size:
            continue
        chunks = []
        try:
            count = r.num(start, 4, "chunk count")
            o = start + 4
            for _ in range(count):
                csize = r.num(o, 4, "chunk compressed size")
                usize = r.num(o + 4, 4, "chunk uncompressed size")
                if usize > MAX_CHUNK or usize > 4096 * max(csize, 1) or o + 8 + csize > len(r.data):
                    raise TraceError("chunk header out of range", r.path, offset=o)
                chunks.append((o + 8, csize, usize))
                total += usize
                o += 8 + csize
                p.extent = max(p.extent, o)
        except TraceError as e:
            warn("tracedat-truncated", f"CPU {cpu} data damaged or truncated at byte {e.offset}: "
                 f"events after it on this CPU are lost ({e.detail})")
        plan.append((cpu, chunks))
    buf = np.empty(total, np.uint8)
    pos = 0
    for cpu, chunks in plan:
        start = pos
        for blob_off, csize, usize in chunks:
            try:
                out = _decompress(decomp, bytes(r.data[blob_off:blob_off + csize]), usize, r.path,
                                  blob_off)
            except TraceError as e:
                warn("tracedat-truncated", f"CPU {cpu} compressed data damaged at byte {e.offset}: "
                     f"events after it on this CPU are lost ({e.detail})")
                break
            buf[pos:pos + usize] = np.frombuffer(out, np.uint8)
            p.chunk_pos.append(pos)
            p.chunk_file.append(blob_off - 8)
            pos += usize
            if p.progress is not None:
                p.progress(blob_off + csize)
        if pos > start:
            p.cpus.append((cpu, start, pos))
    buf.flags.writeable = False  # same numba specialisation as the read-only file map
    p.data = buf
    p.data_is_file = False


def _header_layout(text: str, long_size: int) -> tuple[int, int, int, int]:
    """(timestamp offset, commit offset, commit size, data offset) from header_page."""
    fields = {}
    for fm in re.finditer(r"field:\s*([^;]*?)\s+(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);", text):
        fields[fm.group(2)] = (int(fm.group(3)), int(fm.group(4)))
    ts = fields.get("timestamp", (0, 8))
    commit = fields.get("commit", (8, long_size))
    data = fields.get("data", (8 + commit[1], 0))
    return ts[0], commit[0], commit[1], data[0]


def _sched_formats(p: _Parsed):
    by_kind: dict[int, _Format] = {}
    for f in p.formats:
        if f.system == "sched" and f.name in schema.TRACEPOINT_KIND:
            by_kind[schema.TRACEPOINT_KIND[f.name]] = f
    return by_kind


def _specs(by_kind):
    """Kernel tables: event id -> kind, minimum payload length per kind, and
    the (slot, offset, size, signed|mode) lists of the fields each kind's format has."""
    nk = len(schema.KIND_NAMES)
    id_kind = np.full(1 << 16, -1, np.int8)
    min_len = np.zeros(nk, np.int64)
    act_int = np.zeros((nk, K.N_INT, 4), np.int64)
    act_str = np.zeros((nk, K.N_STR, 4), np.int64)
    n_int = np.zeros(nk, np.int64)
    n_str = np.zeros(nk, np.int64)
    for kind, f in by_kind.items():
        if not 0 <= f.id < (1 << 16):
            continue
        id_kind[f.id] = kind
        cols = {K.I_COMMON_PID: "common_pid", K.I_COMMON_FLAGS: "common_flags", **K.INT_FIELDS[kind]}
        need = 0
        for slot, name in cols.items():
            fd = f.fields.get(name)
            if fd is not None and fd.size in (1, 2, 4, 8) and fd.str_mode == K.STR_ABSENT \
                    and fd.offset < 1 << 16:
                act_int[kind, n_int[kind]] = (slot, fd.offset, fd.size, int(fd.signed))
                n_int[kind] += 1
                need = max(need, fd.offset + fd.size)
        for slot, name in K.STR_FIELDS.get(kind, {}).items():
            fd = f.fields.get(name)
            if fd is not None and fd.str_mode != K.STR_ABSENT and fd.offset < 1 << 16 \
                    and fd.size < 1 << 16:
                act_str[kind, n_str[kind]] = (slot, fd.offset, fd.size, fd.str_mode)
                n_str[kind] += 1
                need = max(need, fd.offset + (fd.size if fd.str_mode == K.STR_ARRAY else 4))
        min_len[kind] = need
    return id_kind, min_len, (act_int, n_int, act_str, n_str)


def _cpustat_lost(text: str) -> int:
    """overrun + commit overrun + dropped events of one CPUSTAT option (per_cpu/cpuN/stats)."""
    n = 0
    for key in ("overrun", "commit overrun", "dropped events"):
        m = re.search(rf"^{key}:\s*(\d+)", text, re.M)
        if m:
            n += int(m.group(1))
    return n


def _apply_options(p: _Parsed, result: ReadResult):
    """Fill result metadata from the options; returns (tsc (mult, shift) or None, ts offset ns, stat lost)."""
    le = "big" if p.big else "little"
    tsc, ts_offset, stat_lost = None, 0, {}
    for oid, data in p.options:
        text = data.split(b"\0")[0].decode("utf-8", "replace")
        if oid == OPT_TRACECLOCK and not p.clock:
            m = re.search(r"\[(\S+)\]", text)
            p.clock = m.group(1) if m else ""
        elif oid == OPT_UNAME:  # "Linux vm 6.18.44-fc-v669 x86_64" (sysname nodename release machine)
            parts = text.split()
            if len(parts) >= 3:
                result.hostname, result.kernel = parts[1], parts[2]
        elif oid == OPT_CPUCOUNT and len(data) >= 4:
            n = int.from_bytes(data[:4], le)
            if 0 < n <= MAX_CPUS:
                result.n_cpus = n
            else:
                result.warnings.add("tracedat-option", f"implausible CPUCOUNT option {n} ignored")
        elif oid == OPT_CPUSTAT:
            m = re.search(r"CPU:\s*(\d+)", text)
            if m:
                stat_lost[int(m.group(1))] = _cpustat_lost(text)
        elif oid == OPT_TSC2NSEC and len(data) >= 16:
            mult, shift = int.from_bytes(data[:4], le), int.from_bytes(data[4:8], le)
            if mult and 0 < shift <= 32:
                tsc = (mult, shift)
        elif oid == OPT_OFFSET:
            try:
                ts_offset += int(text.strip() or "0", 0)
                if abs(ts_offset) >= 1 << 62:
                    raise ValueError(text)
            except ValueError:
                ts_offset = 0
                result.warnings.add("tracedat-option", f"unreadable OFFSET option {text!r} ignored")
    return tsc, ts_offset, stat_lost


def _open(src: Source) -> bytes:
    """The whole file (decompressed if stored compressed), read into memory. It is not
    memory-mapped: a mapped file that another process truncates ends the process with
    SIGBUS, while a read of a file that shrank is an error naming it (traces._io)."""
    if not src.compression and src.seekable and src.size < len(MAGIC) + 8:
        raise TraceError(f"not a trace.dat: only {src.size} bytes", src.path, offset=0)
    stream, _ = src.open()
    try:
        with stream:
            return stream.read()
    except TraceError:
        raise
    except MemoryError:
        raise TraceError(f"not enough memory to read the file ({src.size:,} bytes)", src.path) from None
    except Exception as e:  # corrupt zstd/gzip data, a device's read error
        raise TraceError(f"cannot read {'the ' + src.compression + ' data' if src.compression else 'the file'}: "
                         f"{e}", src.path) from None


def _parse(data, path: str, warn, progress) -> _Parsed:
    if bytes(data[:len(MAGIC)]) != MAGIC:
        raise TraceError(f"not a trace.dat (magic {bytes(data[:10])!r})", path, offset=0)
    r0 = _Bytes(data, False, path)
    version, off = r0.cstr(len(MAGIC), "version", limit=16)
    p = _Parsed(progress=progress)
    if version not in ("6", "7"):
        raise TraceError(f"unsupported trace.dat file version {version!r} (supported: 6, 7)", path,
                         offset=len(MAGIC))
    p.version = int(version)
    endian, p.long_size = r0.num(off, 1, "endianness"), r0.num(off + 1, 1, "long size")
    if endian not in (0, 1) or p.long_size not in (4, 8):
        raise TraceError(f"corrupt trace.dat header: endianness byte {endian}, long size {p.long_size}",
                         path, offset=off)
    p.big = endian == 1
    r = _Bytes(data, p.big, path)
    p.page_size = r.num(off + 2, 4, "page size")
    off += 6
    want = set(schema.TRACEPOINTS)
    if p.version == 6:
        _parse_v6(r, off, p, want)
    else:
        _parse_v7(r, off, p, want, warn)
    if p.latency and not p.cpus:
        raise TraceError("latency-tracer trace.dat (text data, no per-CPU ring buffers) is not "
                         "supported", path)
    if not (64 <= p.page_size <= 1 << 24) or p.page_size & (p.page_size - 1):
        raise TraceError(f"corrupt trace.dat: page size {p.page_size}", path)
    end = max(p.extent, r0.hi, r.hi)
    while p.version == 7 and end + 16 <= len(data):  # sections nothing points to (trace-cmd's strings)
        sid, sflags, ssize = r.num(end, 2, "section id"), r.num(end + 2, 2, "section flags"), r.num(end + 8, 8, "")
        if sid >= 64 or sflags > SEC_FL_COMPRESS or ssize == 0 or end + 16 + ssize > len(data):
            break
        end += 16 + ssize
    if len(data) > end and not p.extra_buffers and not p.latency:
        warn("tracedat-trailing", f"{path}: byte {end}: {len(data) - end:,} bytes after the end of the "
             "trace.dat data (its last ring-buffer page or section) are not part of it; ignored")
    return p


_ERR_TEXT = {K.ERR_TRUNCATED: "data ends early (truncated file)",
             K.ERR_BAD_PAGE: "a page's commit size exceeds the page",
             K.ERR_BAD_RECORD: "a record runs past its page or has an impossible length",
             K.ERR_SHORT_EVENT: "a scheduler event is shorter than its format"}


def read(src: Source, fmt: str, progress=None) -> ReadResult:
    """Read a trace.dat file into a :class:`ReadResult` (events in trace-cmd's report order)."""
    result = ReadResult(path=src.path, format=fmt, compression=src.compression)
    data = _open(src)
    try:
        return _read(data, src, result, progress)
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError,
            MemoryError, zlib.error) as e:
        raise TraceError(f"corrupt trace.dat ({type(e).__name__}: {e})", src.path) from None


def _read(data, src: Source, result: ReadResult, progress) -> ReadResult:
    on_disk = None if src.compression else progress  # offsets are into the file as stored
    p = _parse(data, src.path, result.warnings.add, on_disk)
    if on_disk is not None and p.data_is_file and p.cpus:  # headers read, ring buffers next
        on_disk(min(min(s for _, s, _ in p.cpus), src.size))
    tsc, ts_offset, stat_lost = _apply_options(p, result)
    result.clock = p.clock
    result.n_cpus = result.n_cpus or p.n_cpus_header or (max(c for c, _, _ in p.cpus) + 1 if p.cpus else None)
    for line in p.cmdlines.splitlines():
        pid, _, comm = line.partition(" ")
        if pid.strip().isdigit():
            result.cmdlines[int(pid)] = comm
    for name in p.extra_buffers:
        result.warnings.add("tracedat-instances", f"trace instance {name!r} not read (only the top "
                            "instance is)")
    if "type_len" not in p.header_event and p.header_event:
        raise TraceError("unsupported pre-2.6.31 ring-buffer format (header_event has no type_len)",
                         src.path)
    ts_off, commit_off, commit_size, data_off = _header_layout(p.header_page, p.long_size)
    if commit_size not in (4, 8) or data_off >= p.page_size or ts_off + 8 > data_off \
            or commit_off + commit_size > data_off:
        raise TraceError(f"corrupt header_page: commit {commit_off}/{commit_size}, data at {data_off}",
                         src.path)
    by_kind = _sched_formats(p)
    id_kind, min_len, specs = _specs(by_kind)
    marker = _print_format(p)
    if marker is not None:  # trace_marker writes are kept as MARKER rows, then taken out below
        id_kind[marker.id] = MARKER
        min_len = np.r_[min_len, marker.fields["buf"].offset]
    common = next(iter(by_kind.values())).fields.get("common_type") if by_kind else None
    type_off, type_size = (common.offset, common.size) if common and common.size in (1, 2, 4) else (0, 2)
    cpus = sorted(p.cpus)
    buf = np.frombuffer(p.data, np.uint8) if p.data_is_file else p.data
    lo = np.array([s for _, s, _ in cpus], np.int64)
    hi = np.array([e for _, _, e in cpus], np.int64)
    ts_raw, off, rlen, kind, seg, err_code, err_pos, problems, skipped = K.scan_pages(
        buf, lo, hi, p.page_size, ts_off, commit_off, commit_size, data_off, p.big,
        type_off, type_size, id_kind, min_len)
    result.skipped += int(skipped)
    if progress is not None:
        progress(src.size)
    _scan_warnings(p, cpus, err_code, err_pos, problems, result)
    ts = K.tsc_to_ns(ts_raw, *tsc) if tsc else ts_raw
    ts = ts.view(np.int64) + np.int64(ts_offset)
    del ts_raw
    cpu_ids = np.array([c for c, _, _ in cpus], np.int16)
    perm, cpu_col = K.merge_cpus(ts, seg, cpu_ids)
    ts, off, rlen, kind = ts[perm], off[perm], rlen[perm], kind[perm]
    del perm
    if marker is not None and (kind == MARKER).any():
        mk = kind == MARKER
        _markers(buf, p, marker, ts[mk], cpu_col[mk], off[mk], rlen[mk], result)
        keep = ~mk
        ts, off, rlen, kind, cpu_col = ts[keep], off[keep], rlen[keep], kind[keep], cpu_col[keep]
    cols = _decode(buf, p, off, rlen, kind, specs, by_kind, result)
    cols["ts_ns"], cols["cpu"], cols["kind"] = ts, cpu_col, kind
    _lost(cols, off, kind, cpus, stat_lost, result)
    back = np.flatnonzero(ts[1:] < ts[:-1]) if len(ts) > 1 else np.zeros(0, np.int64)
    result.ordered = len(back) == 0
    if len(back):
        result.warnings.add("tracedat-time-backwards",
                            f"timestamps go backwards within CPU {int(cpu_col[back[0] + 1])}'s ring "
                            f"buffer ({len(back)} places); kept in trace-cmd's merge order")
    result.add_events(cols)
    return result


#: the scan's kind for ``ftrace/print`` records (after the scheduler kinds of schema.KIND_NAMES)
MARKER = len(schema.KIND_NAMES)


def _print_format(p: _Parsed) -> _Format | None:
    """The ftrace ``print`` format (trace_marker writes), when the file has a usable one."""
    for f in p.formats:
        if f.system == "ftrace" and f.name == "print" and 0 <= f.id < (1 << 16) and "buf" in f.fields \
                and "common_pid" in f.fields and f.fields["common_pid"].size == 4:
            return f
    return None


def _markers(buf, p: _Parsed, fmt: _Format, ts, cpu, off, rlen, result: ReadResult) -> None:
    """The text of each ``print`` record (common_pid is the writing thread) into
    ``result.markers``; ``print: ip: text`` as ``trace-cmd report`` shows it."""
    raw = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, np.uint8)
    pid_off = fmt.fields["common_pid"].offset
    b_off = fmt.fields["buf"].offset
    order = "big" if p.big else "little"
    for t, c, o, n in zip(ts.tolist(), cpu.tolist(), off.tolist(), rlen.tolist()):
        pid = int.from_bytes(bytes(raw[o + pid_off:o + pid_off + 4]), order, signed=True)
        text = bytes(raw[o + b_off:o + n]).split(b"\0", 1)[0].decode("utf-8", "replace")
        where = f"byte {o}" if p.data_is_file else f"CPU {c}'s decompressed data, byte {o}"
        result.markers.add(t, pid, text.rstrip("\n"), where)


def _scan_warnings(p: _Parsed, cpus, err_code, err_pos, problems, result) -> None:
    for i, (cpu, _, _) in enumerate(cpus):
        code = int(err_code[i])
        if not code:
            continue
        pos = int(err_pos[i])
        if p.data_is_file:
            where = f"byte {pos}"
        else:  # position in the decompressed data: name the compressed chunk holding it
            j = max(0, int(np.searchsorted(p.chunk_pos, pos, side="right")) - 1)
            where = f"the compressed chunk at byte {p.chunk_file[j] if len(p.chunk_file) else '?'}"
        result.warnings.add(f"tracedat-err{code}",
                            f"CPU {cpu}: {_ERR_TEXT[code]} at {where}; {int(problems[i])} "
                            "problem(s) on this CPU, the events before it were read")


def _decode(buf, p, off, rlen, kind, specs, by_kind, result) -> dict:
    n = len(off)
    cols = schema.empty_columns(schema.EVENTS, n)
    flags = np.full(n, -1, np.int16)
    prev_state = np.full(n, -1, np.int64)
    ustart, ulen = K.decode_events(
        buf, p.big, off, rlen, kind, *specs,
        cols["cur_tid"], flags, cols["tid"], cols["prio"], prev_state, cols["next_tid"],
        cols["next_prio"], cols["target_cpu"], cols["orig_cpu"], cols["parent_tid"],
        cols["old_tid"], cols["group_dead"], cols["runtime_ns"], cols["vruntime_ns"],
        cols["comm"], cols["next_comm"], cols["parent_comm"], cols["filename"])
    lut = np.zeros(len(ustart) + 1, np.int32)
    raw = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, np.uint8)
    lut[1:] = [result.strings.code(bytes(raw[s:s + ln]).decode("utf-8", "replace"))
               for s, ln in zip(ustart.tolist(), ulen.tolist())]
    for name in ("comm", "next_comm", "parent_comm", "filename"):
        cols[name] = lut[cols[name]]
    cols["irq"] = K.irq_of_flags(flags)
    sw = kind == schema.SWITCH
    if sw.any():
        fmt = by_kind.get(schema.SWITCH)
        smap = _prev_state_map(fmt.print_fmt) if fmt else None
        if smap is None:
            result.warnings.add("tracedat-prev-state", "sched_switch print format has no prev_state "
                                "flag table this reader understands; raw prev_state values kept")
            cols["prev_state"][sw] = prev_state[sw].astype(np.int32)
        else:
            cols["prev_state"][sw] = K.normalise_prev_state(prev_state[sw], smap)
    return cols


def _lost(cols, off, kind, cpus, stat_lost, result) -> None:
    """LOST rows' counts, per-CPU lost totals (max of page flags and buffer statistics) and warnings."""
    lost = kind == schema.LOST
    counts_all = np.clip(off[lost], -1, MAX_LOST)
    cols["lost_events"][lost] = np.clip(counts_all, 0, 2**31 - 1)
    cpu_lost = cols["cpu"][lost]
    for cpu in sorted({c for c, _, _ in cpus} | {c for c in stat_lost if c < MAX_CPUS}):
        counts = counts_all[cpu_lost == cpu]
        stat = min(stat_lost.get(cpu, 0), MAX_LOST)
        total = min(max(int(counts[counts > 0].sum()), stat), MAX_LOST)
        if total > 0 or (counts < 0).any():
            result.add_lost(cpu, total if total > 0 else -1)
            result.warnings.add(f"tracedat-lost-{cpu}",
                                f"CPU {cpu}: the ring buffer dropped "
                                f"{total if total > 0 else 'an unknown number of'} events "
                                f"({len(counts)} gaps flagged in its pages, buffer statistics "
                                f"say {stat})")
