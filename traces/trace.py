"""The Trace object, format detection, and the Parquet bundle."""

from __future__ import annotations

import importlib
import os
import re
import stat
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from ._io import STDIN_NAME, Source, check_path, open_source
from ._memory import small_pages
from .errors import TraceError

TRACEDAT_MAGIC = b"\x17\x08\x44tracing"

#: Supported formats: name -> (description, "module:function" of its reader).
FORMATS: dict[str, tuple[str, str]] = {
    "ftrace": ("ftrace text as /sys/kernel/tracing/trace writes it (also raw atrace output), "
               "with or without TGID and flags columns", "traces.text:read"),
    "trace-cmd-report": ("`trace-cmd report` text, default (sched plugin) or -R raw fields",
                         "traces.text:read"),
    "systrace": ("Android systrace/atrace HTML (trace-data script blocks or legacy linuxPerfData)",
                 "traces.systrace:read"),
    "tracedat": ("trace-cmd trace.dat, file versions 6 and 7 (zstd/zlib sections)",
                 "traces.tracedat:read"),
    "perfetto": ("Perfetto protobuf trace (.pftrace, .perfetto-trace, .pb), incl. compact_sched",
                 "traces.perfetto:read"),
    "perfetto-textproto": ("Perfetto trace in protobuf text format", "traces.perfetto:read_textproto"),
}

#: Name that stands for the sample trace shipped in the package (``schedreplay info @sample``).
SAMPLE_NAME = "@sample"


def sample_path() -> Path:
    """The sample trace shipped in the package: ``trace-cmd report -R`` of the
    c_infer_torch capture (a 2-thread LLM-style decode loop against a nice-10
    batch job on a 2-vCPU Linux 6.18 guest), zstd-compressed."""
    return Path(__file__).resolve().parent / "sample" / "c_infer_torch.report_raw.txt.zst"


def sample_spans() -> str:
    """The ``--spans`` argument of the sample's own log (``--spans @sample`` stands for it):
    the decode loop's tokens.csv (one row per token: request, token, phase prefill or
    decode, start and end in CLOCK_MONOTONIC ns, the trace's clock, and the thread)."""
    path = Path(__file__).resolve().parent / "sample" / "c_infer_torch.tokens.csv"
    return f"{path}:start=start_mono_ns,end=end_mono_ns,name=phase"


def supported_formats() -> str:
    return ", ".join(FORMATS)


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    sample = head[:8192]
    if b"\0" in sample:
        return False
    bad = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return bad <= len(sample) // 200


_TEXTPROTO_RE = re.compile(rb"^\s*packet\s*[:{]", re.M)
_EVENT_LINE_RE = re.compile(rb"-\d+\s+(\(\s*[\d-]+\)\s+)?\[\d+\]\s")


def detect(src: Source) -> str:
    """Name of the format of ``src``, from its content (not its name)."""
    head = src.head
    if not head:
        raise TraceError(f"unknown format: {src.compression} data that decompresses to nothing" if src.compression
                         else "unknown format: the file is empty (0 bytes)", src.path)
    if head.startswith(TRACEDAT_MAGIC):
        return "tracedat"
    if _is_text(head):
        low = head[:65536].lower()
        if b"<html" in low or b"<!doctype" in low or b"linuxperfdata" in low or b'class="trace-data"' in low:
            return "systrace"
        stripped = b"\n".join(l for l in head.splitlines() if not l.lstrip().startswith(b"#"))
        if _TEXTPROTO_RE.search(stripped[:4096]):
            return "perfetto-textproto"
        if head.lstrip().startswith(b"cpus=") or head.lstrip().startswith(b"version ="):
            return "trace-cmd-report"
        if _EVENT_LINE_RE.search(head) or b"# tracer:" in head[:4096]:
            return "ftrace"
        raise TraceError("unknown format: text, but no ftrace event lines "
                         "('TASK-PID [CPU] TIMESTAMP: event: ...') in its first "
                         f"{len(head)} bytes; supported formats: {supported_formats()}", src.path)
    if head[:1] == b"\x0a":
        return "perfetto"
    raise TraceError(f"unknown format (first bytes {head[:8].hex(' ')}); supported formats: "
                     f"{supported_formats()}", src.path, offset=0)


def _reader(fmt: str) -> Callable:
    if fmt not in FORMATS:
        raise TraceError(f"unknown format {fmt!r}; supported formats: {supported_formats()}")
    mod, fn = FORMATS[fmt][1].split(":")
    return getattr(importlib.import_module(mod), fn)


class Trace:
    """A scheduling trace as its tables.

    ``events``, ``tasks``, ``cpus``, ``meta`` and ``spans`` (application spans from the
    trace's markers) are polars DataFrames (columns in :mod:`traces.schema`); ``to_arrow()`` gives the Arrow tables and
    ``write(dir)`` a Parquet bundle that :func:`load` reads back without
    re-parsing.
    """

    def __init__(self, tables: dict[str, pa.Table]):
        missing = {"events", "tasks", "cpus", "meta"} - set(tables)
        if missing:
            raise ValueError(f"missing tables: {sorted(missing)}")
        self._arrow = tables

    # -- tables -----------------------------------------------------------
    @cached_property
    def events(self) -> pl.DataFrame:
        return pl.from_arrow(self._arrow["events"])

    @cached_property
    def tasks(self) -> pl.DataFrame:
        return pl.from_arrow(self._arrow["tasks"])

    @cached_property
    def cpus(self) -> pl.DataFrame:
        return pl.from_arrow(self._arrow["cpus"])

    @cached_property
    def meta(self) -> pl.DataFrame:
        return pl.from_arrow(self._arrow["meta"])

    @cached_property
    def spans(self) -> pl.DataFrame:
        """Application spans from the trace's own markers (schema.SPANS; names as String);
        empty when it has none."""
        from .spans import as_frame

        return as_frame(self._arrow.get("spans"))

    def to_arrow(self) -> dict[str, pa.Table]:
        return dict(self._arrow)

    def event_arrays(self, *names: str) -> dict[str, np.ndarray]:
        """Event columns as NumPy arrays for kernels (strings as int32 codes)."""
        t = self._arrow["events"]
        out = {}
        for name in names or schema.EVENTS.names:
            col = t.column(name).combine_chunks() if t.num_rows else t.column(name)
            f = schema.EVENTS.field(name)
            if f.type == "str":
                arr = col.indices if isinstance(col, pa.DictionaryArray) else col.chunk(0).indices
                out[name] = np.asarray(arr, np.int32)
            else:
                out[name] = np.asarray(col, f.numpy_dtype) if t.num_rows else np.zeros(0, f.numpy_dtype)
        return out

    # -- description ------------------------------------------------------
    def _meta(self, name: str):
        return self._arrow["meta"].column(name)[0].as_py()

    @property
    def path(self) -> str:
        return self._meta("source")

    @property
    def format(self) -> str:
        return self._meta("format")

    @property
    def warnings(self) -> list[str]:
        return list(self._meta("warnings") or [])

    def counts(self) -> dict[str, int]:
        """Events per tracepoint (every key of schema.TRACEPOINTS, 0 when absent)."""
        kinds = np.asarray(self._arrow["events"].column("kind"), np.int8)
        per = np.bincount(kinds[kinds >= 0].astype(np.int64), minlength=len(schema.KIND_NAMES))
        return {name: int(per[code]) for code, name in enumerate(schema.TRACEPOINTS)}

    def info(self) -> dict:
        """What is in the trace, as ``schedreplay info --json`` prints it."""
        ev = self._arrow["events"]
        kinds = np.asarray(ev.column("kind"), np.int8)
        cpu = np.asarray(ev.column("cpu"), np.int16)
        sched = kinds != schema.LOST
        first, last = self._meta("first_ns"), self._meta("last_ns")
        return {
            "path": self.path,
            "format": self.format,
            "compression": self._meta("compression"),
            "clock": self._meta("clock"),
            "kernel": self._meta("kernel"),
            "cpus": int(len(np.unique(cpu[sched]))),
            "cpus_recorded": int(self._arrow["cpus"].num_rows),
            "tasks": int(self._arrow["tasks"].num_rows),
            "duration_ns": int(last - first) if first >= 0 else 0,
            "first_ns": first,
            "last_ns": last,
            "events": int(np.count_nonzero(sched)),
            "counts": self.counts(),
            "lost_events": self._meta("lost_events"),
            "spans": int(self._arrow["spans"].num_rows) if "spans" in self._arrow else 0,
            "skipped_lines": self._meta("skipped"),
            "warnings": self.warnings,
        }

    def __repr__(self) -> str:
        i = self.info()
        return (f"<Trace {i['format']} {os.path.basename(i['path'])}: {i['events']} events, "
                f"{i['tasks']} tasks, {i['cpus']} CPUs, {i['duration_ns'] / 1e9:.3f} s>")

    # -- bundle -----------------------------------------------------------
    def write(self, directory) -> Path:
        """Write the Parquet bundle: one file per table in ``directory``. A directory that
        cannot be created or written to is a TraceError naming it."""
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
            for name, table in self._arrow.items():
                pq.write_table(table, d / f"{name}.parquet", compression="zstd")
        except OSError as e:
            raise TraceError(f"cannot write the bundle: {e.strerror or e}"
                             + (f" ({e.filename})" if e.filename and str(e.filename) != str(d) else ""),
                             str(d)) from None
        return d


def _read_bundle(d: Path) -> Trace:
    tables = {}
    for name in ("events", "tasks", "cpus", "meta"):
        p = d / f"{name}.parquet"
        try:
            os.stat(p)
        except FileNotFoundError:
            raise TraceError(f"not a schedreplay bundle: {name}.parquet is missing", str(d)) from None
        except PermissionError:
            raise TraceError("cannot read the bundle: permission denied (the folder cannot be searched)",
                             str(d)) from None
        except OSError as e:
            raise TraceError(f"cannot read {name}.parquet: {e.strerror or e}", str(d)) from None
        try:
            t = pq.read_table(p)
        except Exception as e:
            raise TraceError(f"cannot read {name}.parquet: {e}", str(d)) from None
        want = schema.TABLES[name].arrow_schema()
        if t.schema.names != want.names:
            raise TraceError(f"{name}.parquet has columns {t.schema.names}, expected {want.names} "
                             "(written by another schedreplay version? ingest the trace again)", str(d))
        # one chunk per column (Parquet gives one per row group): kernels then read the
        # columns in place instead of concatenating them again at every event_arrays call
        tables[name] = t.cast(want).combine_chunks()
    p = d / "spans.parquet"
    if p.exists():  # bundles written before spans existed have none
        try:
            t = pq.read_table(p)
        except Exception as e:
            raise TraceError(f"cannot read spans.parquet: {e}", str(d)) from None
        if t.schema.names != schema.SPANS.names:
            raise TraceError(f"spans.parquet has columns {t.schema.names}, expected {schema.SPANS.names}", str(d))
        tables["spans"] = t.cast(schema.SPANS.arrow_schema()).combine_chunks()
    return Trace(tables)


@small_pages
def load(path, format: str | None = None, progress=None) -> Trace:
    """Read a trace file (any supported format) or a Parquet bundle directory.

    ``format`` forces a reader (see :data:`FORMATS`); by default it is
    detected from the content. ``progress``, when given, is called with the
    number of bytes of the file consumed so far (``False`` or None: not
    called). Raises :class:`TraceError` on unusable input; problems the rest
    of the trace survives are listed in ``trace.warnings``.
    """
    from ._build import build

    if progress is False:
        progress = None
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be a function called with the bytes read so far, not {progress!r}")

    if os.fspath(path) == SAMPLE_NAME:
        path = sample_path()
    name = os.fspath(path)
    st = None
    if name != STDIN_NAME:
        st = check_path(name)
        if stat.S_ISDIR(st.st_mode):
            return _read_bundle(Path(name))
    src = open_source(name, st)
    fmt = format or detect(src)
    reader = _reader(fmt)
    result = reader(src, fmt, progress)
    for key, message in src.warnings.items():
        result.warnings.add(key, message)
    return Trace(build(result))
