"""A slow, independent parser of ``trace-cmd report -R`` text, used as the oracle
for the binary trace.dat reader.

Written from the text format only (no code shared with the package): each line
is ``TASK-PID [CPU] SECS.USECS: EVENT: name=value ...`` where TASK-PID is the
comm resolved from saved cmdlines and the common_pid, and ``-R`` prints every
field of the event as ``name=value`` in format order. The field patterns are
those of Linux 6.18 (the kernel of the corpus captures); comms may contain
spaces, so each event has its own anchored regex rather than a split on spaces.
Timestamps have microsecond resolution (``ts_ns`` is usecs * 1000).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

NO = -1
NO_PRIO = -32768

_LINE = re.compile(r"^\s*(?P<task>.*)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<sec>\d+)\.(?P<usec>\d{6}):"
                   r"\s+(?P<event>\w+):\s+(?P<rest>.*)$")

_C = r"(.*)"        # a comm: anything (spaces allowed), anchored by the next name=
_I = r"(-?\d+)"
_EVENTS = {
    "sched_switch": (re.compile(rf"^prev_comm={_C} prev_pid={_I} prev_prio={_I} prev_state={_I} "
                                rf"next_comm={_C} next_pid={_I} next_prio={_I}$"),
                     ("comm", "tid", "prio", "prev_state", "next_comm", "next_tid", "next_prio")),
    "sched_waking": (re.compile(rf"^comm={_C} pid={_I} prio={_I} target_cpu={_I}$"),
                     ("comm", "tid", "prio", "target_cpu")),
    "sched_migrate_task": (re.compile(rf"^comm={_C} pid={_I} prio={_I} orig_cpu={_I} dest_cpu={_I}$"),
                           ("comm", "tid", "prio", "orig_cpu", "target_cpu")),
    "sched_process_fork": (re.compile(rf"^parent_comm={_C} parent_pid={_I} child_comm={_C} child_pid={_I}$"),
                           ("parent_comm", "parent_tid", "comm", "tid")),
    "sched_process_exec": (re.compile(rf"^filename={_C} pid={_I} old_pid={_I}$"),
                           ("filename", "tid", "old_tid")),
    "sched_process_exit": (re.compile(rf"^comm={_C} pid={_I} prio={_I} group_dead={_I}$"),
                           ("comm", "tid", "prio", "group_dead")),
    "sched_stat_runtime": (re.compile(rf"^comm={_C} pid={_I} runtime={_I}$"),
                           ("comm", "tid", "runtime_ns")),
}
_EVENTS["sched_wakeup"] = _EVENTS["sched_wakeup_new"] = _EVENTS["sched_waking"]
KINDS = {"sched_switch": 0, "sched_waking": 1, "sched_wakeup": 2, "sched_wakeup_new": 3,
         "sched_migrate_task": 4, "sched_process_fork": 5, "sched_process_exec": 6,
         "sched_process_exit": 7, "sched_stat_runtime": 8}
COLUMNS = ("ts_ns", "cpu", "kind", "cur_tid", "tid", "comm", "prio", "prev_state", "next_tid",
           "next_comm", "next_prio", "target_cpu", "orig_cpu", "parent_tid", "parent_comm",
           "old_tid", "filename", "group_dead", "runtime_ns")
_STRINGS = {"comm", "next_comm", "parent_comm", "filename"}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".zst":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))
        return io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def parse_report_raw(path) -> dict[str, list]:
    """Columns (lists) of every scheduler event in a ``trace-cmd report -R`` file."""
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    with _open_text(Path(path)) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            m = _LINE.match(line)
            if not m:
                if line.startswith("cpus=") or not line.strip():
                    continue
                raise ValueError(f"{path}:{lineno}: unparsed line {line!r}")
            event = m.group("event")
            if event not in _EVENTS:
                continue
            rx, names = _EVENTS[event]
            fm = rx.match(m.group("rest"))
            if not fm:
                raise ValueError(f"{path}:{lineno}: unparsed {event} fields {m.group('rest')!r}")
            row = {c: NO for c in COLUMNS}
            for c in _STRINGS:
                row[c] = ""
            row["prio"] = row["next_prio"] = NO_PRIO
            row["ts_ns"] = (int(m.group("sec")) * 1_000_000 + int(m.group("usec"))) * 1000
            row["cpu"] = int(m.group("cpu"))
            row["kind"] = KINDS[event]
            row["cur_tid"] = int(m.group("pid"))
            for name, value in zip(names, fm.groups()):
                row[name] = value if name in _STRINGS else int(value)
            for c in COLUMNS:
                cols[c].append(row[c])
    return cols
