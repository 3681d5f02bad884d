"""Every table schedreplay produces, defined once.

Each table is a list of :class:`Field`. One field list yields the Arrow schema
(what users and Parquet see) and the NumPy dtype (what numba kernels see); a test
asserts the two agree. Conventions:

* times are int64 nanoseconds and their names end in ``_ns``;
* integer columns are never null: ``-1`` means "not applicable / unknown"
  (kernels cannot handle nulls, and a sentinel keeps Parquet output
  byte-identical);
* strings (comms, file names) are Arrow ``dictionary<int32, utf8>`` columns;
  kernels only ever see their int32 codes.

Event order (the one total order, see :func:`event_order`) is part of the
contract of the ``events`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# --------------------------------------------------------------------------
# Codes
# --------------------------------------------------------------------------

# Event kinds. The names are the tracepoint names without the "sched_" prefix
# ("process_fork" -> "fork"), LOST marks where a ring buffer dropped events.
SWITCH = 0
WAKING = 1
WAKEUP = 2
WAKEUP_NEW = 3
MIGRATE = 4
FORK = 5
EXEC = 6
EXIT = 7
STAT_RUNTIME = 8
LOST = 9

KIND_NAMES = (
    "switch", "waking", "wakeup", "wakeup_new", "migrate",
    "fork", "exec", "exit", "stat_runtime", "lost",
)
#: Tracepoint name of each kind (``info --json`` ``counts`` keys), LOST excluded.
TRACEPOINTS = (
    "sched_switch", "sched_waking", "sched_wakeup", "sched_wakeup_new",
    "sched_migrate_task", "sched_process_fork", "sched_process_exec",
    "sched_process_exit", "sched_stat_runtime",
)
TRACEPOINT_KIND = {name: code for code, name in enumerate(TRACEPOINTS)}

# Interrupt context an event was emitted in (the ftrace flags column / the
# ring buffer's common_flags). A wakeup from interrupt context is not a wakeup
# by the interrupted task.
IRQ_UNKNOWN = -1  # the format does not say (trace-cmd report text, perfetto)
IRQ_NONE = 0      # task context
IRQ_SOFT = 1      # softirq (or bottom half)
IRQ_HARD = 2      # hardirq (including hardirq nested in softirq)
IRQ_NMI = 3
IRQ_NAMES = {IRQ_UNKNOWN: "unknown", IRQ_NONE: "task", IRQ_SOFT: "softirq",
             IRQ_HARD: "hardirq", IRQ_NMI: "nmi"}

# prev_state bits, in the Linux >= 4.14 report layout (include/linux/sched.h,
# TASK_REPORT; trace/events/sched.h: __trace_sched_switch_state). Every reader
# normalises to this layout, whatever kernel or renderer produced the trace.
STATE_RUNNING = 0x000    # "R": still runnable when it called schedule()
STATE_SLEEPING = 0x001   # "S" TASK_INTERRUPTIBLE
STATE_DISK = 0x002       # "D" TASK_UNINTERRUPTIBLE
STATE_STOPPED = 0x004    # "T" __TASK_STOPPED
STATE_TRACED = 0x008     # "t" __TASK_TRACED
STATE_DEAD = 0x010       # "X" EXIT_DEAD
STATE_ZOMBIE = 0x020     # "Z" EXIT_ZOMBIE
STATE_PARKED = 0x040     # "P" TASK_PARKED
STATE_IDLE = 0x080       # "I" TASK_IDLE (idle kernel thread)
STATE_PREEMPTED = 0x100  # "+" TASK_REPORT_MAX: preempted inside the kernel ("R+")
STATE_LETTERS = {"S": STATE_SLEEPING, "D": STATE_DISK, "T": STATE_STOPPED,
                 "t": STATE_TRACED, "X": STATE_DEAD, "Z": STATE_ZOMBIE,
                 "P": STATE_PARKED, "I": STATE_IDLE}


def state_name(bits: int) -> str:
    """Kernel-style letters for normalised prev_state bits (0 -> "R", 0x101 -> "S+")."""
    if bits < 0:
        return "?"
    base = bits & 0xFF
    letters = "|".join(c for c, b in STATE_LETTERS.items() if base & b) or "R"
    return letters + ("+" if bits & STATE_PREEMPTED else "")


#: CPU ids are 0 .. MAX_CPUS - 1: above Linux's largest NR_CPUS (8192), within the int16
#: cpu columns. Readers turn an id outside (a corrupt field) into a counted warning.
MAX_CPUS = 1 << 14

#: Two consecutive events (in event order) further apart than this are an absurd
#: timestamp jump (a corrupt timestamp, most likely): a counted warning, and the few
#: events cut off by it at either end of the trace are left out (traces._build).
MAX_GAP_NS = 3600 * 10**9

#: prio value meaning "no prio" (-1 is a real prio: SCHED_DEADLINE tasks).
NO_PRIO = -32768

# Kernel priorities (include/linux/sched/prio.h): prio < MAX_RT_PRIO is RT, where a task of
# rt_priority r has prio MAX_RT_PRIO - 1 - r (rtprio 99..1 -> prio 0..98); a fair task of nice
# n has prio DEFAULT_PRIO + n (nice -20..19 -> prio 100..139); prio -1 is SCHED_DEADLINE.
MAX_RT_PRIO = 100
MAX_RT_LEVEL = MAX_RT_PRIO - 1   # the highest rt_priority, 99
DEFAULT_PRIO = 120               # nice 0
MAX_PRIO = 140


def prio_of_rtprio(rtprio):
    """prio of an rt_priority (1..99): MAX_RT_PRIO - 1 - rtprio (scalars or arrays)."""
    return MAX_RT_LEVEL - rtprio


def rtprio_of_prio(prio):
    """rt_priority of an RT prio (0..98): MAX_RT_PRIO - 1 - prio."""
    return MAX_RT_LEVEL - prio


def prio_of_nice(nice):
    """prio of a nice level: DEFAULT_PRIO + nice."""
    return DEFAULT_PRIO + nice


def nice_of_prio(prio):
    """nice level of a fair prio: prio - DEFAULT_PRIO."""
    return prio - DEFAULT_PRIO


# Scheduling class seen for a task, from its prio.
CLASS_UNKNOWN = -1
CLASS_FAIR = 0      # prio 100..139 (nice -20..19)
CLASS_RT = 1        # prio 0..98 (rtprio 99..1 as 99 - prio)
CLASS_DEADLINE = 2  # prio -1
CLASS_IDLE = 3      # the per-CPU idle task (tid 0)
CLASS_NAMES = {CLASS_UNKNOWN: "unknown", CLASS_FAIR: "fair", CLASS_RT: "rt",
               CLASS_DEADLINE: "deadline", CLASS_IDLE: "idle"}

# Interval states (the ``intervals`` table: a schedule).
RUNNING = 0
RUNNABLE = 1
BLOCKED = 2
UNKNOWN_STATE = 3  # before the trace shows what a task was doing
INTERVAL_STATE_NAMES = ("running", "runnable", "blocked", "unknown")

# How an interval began.
BEGIN_TRACE_START = 0   # the task was already in this state when the trace began
BEGIN_WAKEUP = 1        # runnable after a wakeup
BEGIN_PREEMPT = 2       # runnable after being switched out while runnable
BEGIN_NEW = 3           # runnable after fork (wakeup_new)
BEGIN_MIGRATE = 4       # runnable on a new CPU after migration
BEGIN_SWITCH_IN = 5     # running after a switch-in
BEGIN_SWITCH_OUT = 6    # blocked after switching out with a sleep state
BEGIN_LOST = 7          # first state known after a span of lost events
BEGIN_NAMES = ("trace_start", "wakeup", "preempt", "new", "migrate",
               "switch_in", "switch_out", "after_lost")

# How an interval ended.
END_PREEMPTED = 0     # switched out while runnable
END_BLOCKED = 1       # switched out with a sleep state
END_EXITED = 2
END_MIGRATED = 3      # moved to another CPU while runnable
END_TRACE_END = 4
END_SWITCHED_IN = 5   # a runnable interval ends when the task runs
END_WOKEN = 6         # a blocked interval ends when the task is woken
END_LOST = 7          # events were lost; what followed is unknown
END_NAMES = ("preempted", "blocked", "exited", "migrated", "trace_end",
             "switched_in", "woken", "lost")


# --------------------------------------------------------------------------
# Field lists
# --------------------------------------------------------------------------

_ARROW = {
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(),
    "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
    "str": pa.dictionary(pa.int32(), pa.string()),
    "list_str": pa.list_(pa.string()),
}
_NUMPY = {
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "float64": np.float64, "bool": np.bool_, "str": np.int32,
    "list_str": np.object_,
}


@dataclass(frozen=True)
class Field:
    """One column: name, logical type, unit and what it means."""

    name: str
    type: str  # key of _ARROW / _NUMPY; "str" is a dictionary-encoded string
    unit: str
    doc: str
    default: object = -1  # value when a kind does not carry the field

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.type]

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_NUMPY[self.type])


@dataclass(frozen=True)
class Table:
    """A named list of fields, with its Arrow schema and NumPy dtype."""

    name: str
    fields: tuple[Field, ...]
    doc: str

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no column {name!r}")

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.arrow_type, nullable=False,
                                   metadata={"unit": f.unit, "doc": f.doc})
                          for f in self.fields])

    def numpy_dtype(self) -> np.dtype:
        """Structured dtype for kernels (strings as int32 dictionary codes)."""
        return np.dtype([(f.name, f.numpy_dtype) for f in self.fields])

    def describe(self) -> str:
        """Markdown table of the columns (used by the README and --help)."""
        rows = [f"| `{f.name}` | {f.type} | {f.unit or '-'} | {f.doc} |" for f in self.fields]
        return "| column | type | unit | meaning |\n|---|---|---|---|\n" + "\n".join(rows)


def _f(name, type_, unit, doc, default=-1):
    return Field(name, type_, unit, doc, default)


EVENTS = Table("events", (
    _f("ts_ns", "int64", "ns", "timestamp in the trace clock"),
    _f("cpu", "int16", "cpu", "CPU whose ring buffer recorded the event"),
    _f("kind", "int8", "code", "event kind: schema.KIND_NAMES[kind]"),
    _f("irq", "int8", "code", "context: -1 unknown, 0 task, 1 softirq, 2 hardirq, 3 NMI"),
    _f("cur_tid", "int32", "tid", "task current on the CPU when the event was emitted (common_pid); -1 unknown"),
    _f("tid", "int32", "tid", "task the event is about: switch prev, wakee, migrated task, "
       "fork child, exec pid, exit pid, stat_runtime pid"),
    _f("comm", "str", "", "comm of `tid` at event time (fork: child_comm; exec: empty)", ""),
    _f("prio", "int16", "prio", "kernel prio of `tid` (switch: prev_prio); NO_PRIO (-32768) absent", NO_PRIO),
    _f("prev_state", "int32", "bits", "switch: prev's state, normalised Linux>=4.14 report bits "
       "(0 R, 0x1 S, 0x2 D, ..., 0x100 '+' preempted)"),
    _f("next_tid", "int32", "tid", "switch: next_pid"),
    _f("next_comm", "str", "", "switch: next_comm", ""),
    _f("next_prio", "int16", "prio", "switch: next_prio; NO_PRIO (-32768) absent", NO_PRIO),
    _f("target_cpu", "int16", "cpu", "waking/wakeup/wakeup_new: target_cpu; migrate: dest_cpu"),
    _f("orig_cpu", "int16", "cpu", "migrate: orig_cpu"),
    _f("parent_tid", "int32", "tid", "fork: parent_pid"),
    _f("parent_comm", "str", "", "fork: parent_comm", ""),
    _f("old_tid", "int32", "tid", "exec: old_pid (differs from pid when a non-leader thread execs)"),
    _f("filename", "str", "", "exec: filename", ""),
    _f("group_dead", "int8", "bool", "exit: group_dead (1 when the whole thread group died); -1 absent"),
    _f("runtime_ns", "int64", "ns", "stat_runtime: runtime"),
    _f("vruntime_ns", "int64", "ns", "stat_runtime: vruntime (kernels before 6.8); -1 absent"),
    _f("lost_events", "int32", "events", "lost: number of events the ring buffer dropped "
       "on this CPU just before this point (0 when unknown but lost)", 0),
), doc="One row per scheduler event, in the total order of schema.event_order.")

TASKS = Table("tasks", (
    _f("tid", "int32", "tid", "thread id (> 0; the idle task 0 is not listed)"),
    _f("tgid", "int32", "tid", "thread group (process) id; -1 unknown"),
    _f("comm", "str", "", "last comm seen", ""),
    _f("prio", "int16", "prio", "prio seen most often; NO_PRIO (-32768) never seen", NO_PRIO),
    _f("sched_class", "int8", "code", "class seen: -1 unknown, 0 fair, 1 rt, 2 deadline, 3 idle"),
    _f("nice", "int8", "nice", "nice level (prio - 120) for fair tasks; 0 otherwise", 0),
    _f("first_ns", "int64", "ns", "first event that mentions the task"),
    _f("last_ns", "int64", "ns", "last event that mentions the task"),
    _f("is_kthread", "bool", "bool", "kernel thread (child of kthreadd or a kernel-thread comm)", False),
    _f("pinned_cpu", "int16", "cpu", "per-CPU kernel thread's CPU (comm suffix /N and only ever ran there); -1 none"),
), doc="One row per task (tid) seen in the trace.")

CPUS = Table("cpus", (
    _f("cpu", "int16", "cpu", "CPU id"),
    _f("core", "int32", "id", "SMT core (CPUs sharing a core have the same id)"),
    _f("llc", "int32", "id", "last-level cache domain"),
    _f("node", "int32", "id", "NUMA node"),
    _f("capacity", "int32", "1/1024", "compute capacity, 1024 = the biggest CPU"),
    _f("events", "int64", "events", "scheduler events recorded on this CPU", 0),
    _f("lost_events", "int64", "events", "events the ring buffer dropped on this CPU", 0),
), doc="One row per CPU the trace covers, with its place in the topology.")

META = Table("meta", (
    _f("source", "str", "", "file the trace was read from", ""),
    _f("format", "str", "", "format name (see traces.FORMATS)", ""),
    _f("clock", "str", "", "trace clock (local, mono, boot, ...); empty when unknown", ""),
    _f("kernel", "str", "", "kernel release when the trace records it", ""),
    _f("hostname", "str", "", "host name when the trace records it", ""),
    _f("n_cpus", "int32", "cpus", "CPUs the trace covers"),
    _f("first_ns", "int64", "ns", "timestamp of the first event"),
    _f("last_ns", "int64", "ns", "timestamp of the last event"),
    _f("events", "int64", "events", "scheduler events"),
    _f("skipped", "int64", "lines/events", "non-scheduler events and lines skipped", 0),
    _f("lost_events", "int64", "events", "events lost by the ring buffers (-1: lost, count unknown)", 0),
    _f("compression", "str", "", "compression the file was read through (zstd, gzip, zlib) or empty", ""),
    _f("version", "str", "", "schedreplay version that read the trace", ""),
    _f("warnings", "list_str", "", "counted warnings about damaged or skipped input", ()),
), doc="One row describing the trace.")

# A schedule: what each task went through. The observed schedule and every
# replayed one share this shape, so one metrics module measures both.
INTERVALS = Table("intervals", (
    _f("tid", "int32", "tid", "task"),
    _f("cpu", "int16", "cpu", "CPU it ran or waited on; -1 while blocked or unknown"),
    _f("start_ns", "int64", "ns", "start of the interval"),
    _f("end_ns", "int64", "ns", "end of the interval"),
    _f("state", "int8", "code", "schema.INTERVAL_STATE_NAMES: running, runnable, blocked, unknown"),
    _f("begin", "int8", "code", "schema.BEGIN_NAMES: how it began"),
    _f("end", "int8", "code", "schema.END_NAMES: how it ended"),
    _f("sleep_state", "int32", "bits", "blocked: the prev_state it blocked with; runnable after a "
       "preemption: the prev_state it was switched out with (0 'R' or 0x100 'R+'); -1 otherwise"),
    _f("wait_start_ns", "int64", "ns", "runnable: when the wait began (sched_waking if the trace has it, "
       "kept across migrations); -1 otherwise"),
    _f("cause", "int8", "code", "runnable: why the task became runnable, kept across migrations "
       "(schema.BEGIN_WAKEUP, BEGIN_PREEMPT, BEGIN_NEW; BEGIN_TRACE_START when unknown); -1 otherwise"),
    _f("valid", "bool", "bool", "false for spans damaged by lost events or inconsistent events, and "
       "for the unknown span before a task's first known state", True),
), doc="One row per state interval of one task, in the order the intervals ended.")

# The workload (replay/workload.py): what each task asked of the scheduler, as flat
# tables linked by row index (CSR), the form the numba engine reads.
WL_TASKS = Table("wl_tasks", (
    _f("tid", "int32", "tid", "thread id in the trace"),
    _f("tgid", "int32", "tid", "process id; -1 unknown"),
    _f("comm", "str", "", "comm", ""),
    _f("first_burst", "int64", "row", "first row of its bursts in wl_bursts"),
    _f("n_bursts", "int64", "count", "number of bursts"),
    _f("first_action", "int64", "row", "first row of its actions in wl_actions"),
    _f("n_actions", "int64", "count", "number of actions"),
    _f("pinned_cpu", "int16", "cpu", "per-CPU kernel thread's CPU; -1 none"),
    _f("parent", "int64", "row", "task row that forked it in the trace; -1"),
    _f("nice", "int8", "nice", "nice of its last fair burst", 0),
    _f("group", "int32", "id", "task group (autogroup) it is scheduled in, inferred: 0 the root group "
       "(kernel threads), 1.. one per session (docs/engine-model.md §13)", 0),
), doc="One row per task of the workload.")

WL_BURSTS = Table("wl_bursts", (
    _f("task", "int64", "row", "task row"),
    _f("demand_ns", "int64", "ns", "CPU time it needs before it blocks or exits (preemptions removed); "
       "-1: still running when the trace ended (runs to the end of the replay)"),
    _f("prio", "int16", "prio", "kernel prio it ran with (class and nice)"),
    _f("start_kind", "int8", "code", "what makes it runnable: 0 at start_ns (absolute), 1 start_ns after the "
       "previous burst blocked (external wakeup: timer, interrupt, untraced waker), 2 an action of "
       "another task (a wakeup or a fork)"),
    _f("start_ns", "int64", "ns", "kind 0: absolute time; kind 1: sleep length; kind 2: -1"),
    _f("abs_ns", "int64", "ns", "when it became runnable in the trace (for --sleep absolute)"),
    _f("cause", "int8", "code", "schema.BEGIN_*: wakeup, new or trace_start"),
    _f("end_kind", "int8", "code", "0 blocks, 1 exits, 2 open (running at the end of the trace)"),
    _f("sleep_state", "int32", "bits", "prev_state it blocked with"),
    _f("obs_cpu", "int16", "cpu", "CPU it first ran on in the trace; -1 unknown (a synthetic task never seen)"),
), doc="One row per CPU burst of a task, in order.")

WL_ACTIONS = Table("wl_actions", (
    _f("task", "int64", "row", "task that performs the action"),
    _f("progress_ns", "int64", "ns", "its cumulative CPU progress when it acts"),
    _f("target_burst", "int64", "row", "burst (wl_bursts row) the action makes runnable; -1 for a yield"),
    _f("kind", "int8", "code", "0 wakeup, 1 fork, 2 sync wakeup (the waker's CPU took the wakee in the recording)"),
), doc="Progress points at which a task wakes or forks another, in progress order per task.")

# Application spans (traces/spans.py): intervals of application work on one thread, from
# markers in the trace (atrace B/E and S/F, Perfetto track-event slices) or a log the
# application wrote (``--spans``).
SPAN_MARKER = 0   # B|pid|name ... E: a slice on one thread (nested slices have depth > 0)
SPAN_ASYNC = 1    # S|pid|name|cookie ... F|pid|name|cookie: may end on another thread
SPAN_TRACK = 2    # a Perfetto track-event slice on a thread's track
SPAN_LOG = 3      # a row of a log the application wrote (--spans FILE)
SPAN_ORIGIN_NAMES = {SPAN_MARKER: "marker", SPAN_ASYNC: "async", SPAN_TRACK: "track_event", SPAN_LOG: "log"}

SPANS = Table("spans", (
    _f("tid", "int32", "tid", "thread the span began on"),
    _f("end_tid", "int32", "tid", "thread it ended on (the same but for async spans)"),
    _f("start_ns", "int64", "ns", "start, in the trace clock"),
    _f("end_ns", "int64", "ns", "end, in the trace clock (>= start_ns)"),
    _f("name", "str", "", "span name (what figures are grouped by)", ""),
    _f("group", "str", "", "optional grouping (async cookie, a log's group column); empty none", ""),
    _f("origin", "int8", "code", "schema.SPAN_ORIGIN_NAMES: marker, async, track_event, log"),
    _f("depth", "int16", "count", "nesting depth of a marker slice on its thread (0 outermost)", 0),
), doc="One row per application span, by start time.")

# The workload form of the spans: each end point as a point of its thread's CPU progress.
WL_SPANS = Table("wl_spans", (
    *SPANS.fields,
    _f("start_task", "int64", "row", "task row (wl_tasks) of tid; -1 when the thread is not in the workload"),
    _f("start_progress_ns", "int64", "ns", "the thread's cumulative CPU time at start_ns"),
    _f("start_after_ns", "int64", "ns", "time from when the thread reached that progress to start_ns "
       "(0 when it was running; > 0 when the span began while it waited or slept), up to its exit"),
    _f("start_past_exit_ns", "int64", "ns", "time from the thread's exit to start_ns (0 unless the span began "
       "after its thread exited)"),
    _f("end_task", "int64", "row", "task row of end_tid; -1 when not in the workload"),
    _f("end_progress_ns", "int64", "ns", "end_tid's cumulative CPU time at end_ns"),
    _f("end_after_ns", "int64", "ns", "time from when end_tid reached that progress to end_ns, up to its exit"),
    _f("end_past_exit_ns", "int64", "ns", "time from end_tid's exit to end_ns (0 unless it had exited)"),
), doc="The spans with their end points as points of CPU progress: what a replay maps them by.")

TABLES = {t.name: t for t in (EVENTS, TASKS, CPUS, META, INTERVALS, WL_TASKS, WL_BURSTS, WL_ACTIONS, SPANS,
                              WL_SPANS)}


def event_order(ts_ns: np.ndarray, seq: np.ndarray | None = None) -> np.ndarray:
    """The one total order of events: ascending ``ts_ns``, ties by ``seq``.

    ``seq`` is the position in the source. For text it is the line order,
    which tracefs / trace-cmd produced by merging the per-CPU buffers at
    nanosecond resolution, so it is finer than the microsecond timestamps
    printed. For trace.dat it is (CPU ascending, then ring-buffer order), the
    tie rule ``trace-cmd report`` uses. Events of one CPU are never reordered
    among themselves: the kernel emitted them in that order. Returns the
    permutation (a stable argsort); kernels never rely on sort stability,
    they receive the events already in this order.
    """
    if seq is None:
        return np.argsort(ts_ns, kind="stable")
    return np.lexsort((seq, ts_ns))


def empty_columns(table: Table, n: int) -> dict[str, np.ndarray]:
    """Column arrays of length ``n`` filled with each field's default."""
    out = {}
    for f in table.fields:
        if f.type == "str":
            out[f.name] = np.zeros(n, np.int32)  # code 0 is always the empty string
        else:
            out[f.name] = np.full(n, f.default, f.numpy_dtype)
    return out
