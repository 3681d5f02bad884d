"""What a reader hands to the table builder.

Every reader (text, trace.dat, Perfetto) fills one :class:`ReadResult`:
column chunks of the ``events`` table (NumPy arrays named as in
``schema.EVENTS``, strings as codes into ``result.strings``), plus what the
format tells about tasks, CPUs and the capture. ``_build.build`` turns it into
the four tables. Readers never build Arrow tables themselves, so every format
gets the same tasks/cpus/meta logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import schema
from .errors import Warnings
from .spans import Markers


class StringTable:
    """Interns strings to int32 codes; code 0 is the empty string."""

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self._codes: dict[str, int] = {"": 0}

    def code(self, s: str) -> int:
        c = self._codes.get(s)
        if c is None:
            c = len(self.strings)
            self._codes[s] = c
            self.strings.append(s)
        return c

    def codes(self, items) -> np.ndarray:
        return np.fromiter((self.code(s) for s in items), np.int32)

    def __len__(self) -> int:
        return len(self.strings)


@dataclass
class ReadResult:
    """Everything a reader learned from one trace file."""

    path: str
    format: str
    compression: str = ""
    strings: StringTable = field(default_factory=StringTable)
    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)
    # Set by readers that already emit events in schema.event_order; the
    # builder otherwise sorts (stably, by ts_ns) and warns about disorder.
    ordered: bool = False
    # What the format says about tasks: tid -> tgid, tid -> comm (saved
    # cmdlines, TASK-PID column, process tree), tid -> parent tid.
    tgid: dict[int, int] = field(default_factory=dict)
    cmdlines: dict[int, str] = field(default_factory=dict)
    ppid: dict[int, int] = field(default_factory=dict)
    # CPUs the trace covers (header "#P:N", "cpus=N", trace.dat CPU count).
    n_cpus: int | None = None
    # Topology when the format records it: cpu -> (core, llc, node, capacity).
    topology: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    clock: str = ""
    kernel: str = ""
    hostname: str = ""
    # Events the ring buffers dropped, per CPU (-1: lost, count unknown).
    lost_per_cpu: dict[int, int] = field(default_factory=dict)
    skipped: int = 0
    warnings: Warnings = field(default_factory=Warnings)
    # Application trace markers (print / tracing_mark_write events, Perfetto track-event
    # slices as B/E markers): turned into the spans table by traces.spans.
    markers: Markers = field(default_factory=Markers)

    def add_events(self, columns: dict[str, np.ndarray]) -> None:
        """Append a chunk. Missing columns get their schema default; all
        arrays must have the same length."""
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise ValueError(f"event chunk columns differ in length: {lengths}")
        n = lengths.pop() if lengths else 0
        if n == 0:
            return
        unknown = set(columns) - set(schema.EVENTS.names)
        if unknown:
            raise ValueError(f"unknown event columns: {sorted(unknown)}")
        chunk = {}
        for f in schema.EVENTS.fields:
            v = columns.get(f.name)
            if v is None:
                v = np.full(n, 0 if f.type == "str" else f.default, f.numpy_dtype)
            else:
                v = np.asarray(v, dtype=f.numpy_dtype)
            chunk[f.name] = v
        self.chunks.append(chunk)

    def add_lost(self, cpu: int, count: int) -> None:
        """Record ``count`` lost events on ``cpu`` (-1: some, count unknown)."""
        prev = self.lost_per_cpu.get(cpu, 0)
        if count < 0 or prev < 0:
            self.lost_per_cpu[cpu] = -1
        else:
            self.lost_per_cpu[cpu] = prev + count

    @property
    def n_events(self) -> int:
        return sum(len(c["ts_ns"]) for c in self.chunks)
