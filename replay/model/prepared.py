"""A trace prepared once: what every study of it needs, each part built once.

>>> from replay import prepare, compare, validate
>>> p = prepare("trace.dat")          # read, observed schedule, workload, latencies
>>> validate(p); compare(p, topologies=(None, "2x8x2"))   # nothing rebuilt

``replay``, ``validate``, ``compare``, ``sweep`` and the report take a prepared trace (or
anything ``prepare`` takes: a path, a bundle directory, ``@sample`` or a Trace) and share
its parts: the observed schedule is built once, the workload from it once, the recorded
wakeup latencies once. Sweeps ship ``for_workers()`` of it to their worker processes: the
same object without the events and the observed schedule, which replays do not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import polars as pl

from traces.trace import Trace

from .latencies import Latencies, measure_latencies
from .schedule import Schedule, observed_schedule
from .topology import Topology, from_trace
from .topology import resolve as resolve_topology
from .workload import Workload, from_schedule


@dataclass(eq=False)
class PreparedTrace:
    """A trace with its observed schedule, workload, recorded latencies and topology.

    ``trace`` and ``schedule`` are None in the copy shipped to sweep workers
    (:meth:`for_workers`); everything a replay reads is always there."""

    trace: Trace | None
    schedule: Schedule | None
    workload: Workload
    latencies: Latencies
    tasks: pl.DataFrame
    recorded: Topology
    path: str
    kernel: str = ""
    #: causes of wait the recording can measure (CAUSES names): a trace without wakeup
    #: events cannot see wakeup waits, one without sched_wakeup_new cannot see new tasks'
    measured_causes: tuple = ("wakeup", "preempt", "new")
    #: CPUs of the recorded machine that were not available (offline or isolated): silent
    #: for the whole of a trace of at least OFFLINE_MIN_NS (see offline_cpus)
    offline: tuple = ()
    #: metrics of the observed schedule, by (topology, window): measured once per machine
    observed_metrics: dict = field(default_factory=dict, repr=False)
    #: where the application spans came from: "trace markers" and the ``--spans`` logs given
    span_sources: tuple = ()

    @property
    def has_spans(self) -> bool:
        return self.workload.spans is not None and self.workload.spans.height > 0

    @property
    def label(self) -> str:
        """A short name that tells traces apart (:func:`label_of`)."""
        return label_of(self.path)

    def is_recorded(self, topo: Topology) -> bool:
        """Whether ``topo`` is the machine the trace was recorded on."""
        return topo is self.recorded or topo == self.recorded

    def unavailable_cpus(self, topo: Topology) -> tuple:
        """The CPUs no task may use when replaying on ``topo``: the recorded machine's
        offline ones when ``topo`` is the recorded machine (a counterfactual machine has
        all its CPUs)."""
        return self.offline if self.is_recorded(topo) else ()

    def topology(self, arg: str | Topology | None = None) -> Topology:
        """``--topology`` resolved for this trace: None, "" or "recorded" is the recorded one."""
        if isinstance(arg, Topology):
            return arg
        if arg is None or arg in ("", "recorded"):
            return self.recorded
        return resolve_topology(arg, self.trace)

    def for_workers(self) -> "PreparedTrace":
        """This prepared trace without what replays do not read (the events and the
        observed schedule): what sweeps ship to their workers."""
        return replace(self, trace=None, schedule=None, observed_metrics={})


def label_of(path) -> str:
    """A short name that tells traces apart in tables, plot titles and reports: the file
    with its folder (``d_nice_mix/trace.dat``, not ``trace.dat`` twice), or a bundle
    folder with its parent."""
    p = os.fspath(path).rstrip(os.sep)
    parent = os.path.basename(os.path.dirname(p))
    return f"{parent}/{os.path.basename(p)}" if parent else os.path.basename(p) or p


def unique_labels(paths) -> dict[str, str]:
    """path -> label for several traces: :func:`label_of` each, with more of its folders
    where two would read the same (``a/x/trace.dat``, ``b/x/trace.dat``)."""
    paths = list(dict.fromkeys(os.fspath(p) for p in paths))
    out = {p: label_of(p) for p in paths}
    depth = 2
    while len(set(out.values())) < len(out) and depth < 64:
        depth += 1
        clash = {lab for lab in out.values() if list(out.values()).count(lab) > 1}
        for p in paths:
            if out[p] in clash:
                parts = os.path.normpath(p).split(os.sep)
                out[p] = "/".join(parts[-depth:]) if len(parts) > depth else p
    return out


#: A CPU silent for a whole trace at least this long was not available to the scheduler.
OFFLINE_MIN_NS = 1_000_000_000


def offline_cpus(trace: Trace) -> tuple:
    """CPUs of the recorded machine that the trace shows no scheduler event on at all,
    when the trace lasts at least OFFLINE_MIN_NS: offline (Android phones power whole
    clusters down: gtech's mytrace.html records 8 CPUs of which 4 never run anything) or
    isolated from the scheduler. An online CPU the scheduler may use runs its per-CPU
    kernel threads, takes wakeups and balances within a second; a shorter trace proves
    nothing, so none is taken out."""
    meta = trace.meta.row(0, named=True) if trace.meta.height else {}
    if int(meta.get("last_ns") or 0) - int(meta.get("first_ns") or 0) < OFFLINE_MIN_NS:
        return ()
    c = trace.cpus
    silent = c.filter(pl.col("events") == 0)["cpu"].to_list()
    return tuple(int(x) for x in silent) if len(silent) < c.height else ()


def prepare(source, format: str | None = None, progress=None, spans=(), recorded=None) -> PreparedTrace:
    """Prepare a trace once for every study of it: ``source`` is a PreparedTrace (returned
    as it is), a Trace, or what ``traces.load`` takes (a file, a bundle directory,
    ``@sample``; ``format`` and ``progress`` are passed on). ``spans``: application span
    logs (``--spans`` texts, traces.spans.SPEC_HELP, or LogSpec objects) whose spans join
    those of the trace's own markers; a bad row is a counted warning of the observed
    schedule, an unreadable log an error."""
    if isinstance(source, PreparedTrace):
        if spans or recorded is not None:
            raise ValueError("spans and the recorded machine are given when the trace is prepared "
                             "(prepare(path, spans=..., recorded=...))")
        return source
    if isinstance(source, Trace):
        trace = source
    else:
        import traces

        trace = traces.load(source, format=format, progress=progress)
    observed = observed_schedule(trace)
    sources = ("trace markers",) if trace.spans.height else ()
    if spans:
        observed, logs = with_span_logs(observed, trace, spans)
        sources += logs
    meta = trace.meta.row(0, named=True) if trace.meta.height else {}
    counts = trace.counts()
    measured = tuple(c for c, present in (("wakeup", counts["sched_waking"] + counts["sched_wakeup"] > 0),
                                          ("preempt", True), ("new", counts["sched_wakeup_new"] > 0)) if present)
    machine = recorded_machine(trace, recorded)
    if meta.get("kernel") and not machine.kernel:
        # the recorded machine ran the trace's kernel: rules that changed between versions
        # follow it (replay/sim/params.py: asym_rules, newidle_avg_idle)
        machine = replace(machine, kernel=str(meta["kernel"]))
    return PreparedTrace(trace=trace, schedule=observed,
                         workload=from_schedule(trace, observed, capacity=machine.capacity),
                         latencies=measure_latencies(observed), tasks=trace.tasks, recorded=machine,
                         path=str(trace.path), kernel=str(meta.get("kernel") or machine.kernel or ""),
                         measured_causes=measured,
                         offline=offline_cpus(trace), span_sources=sources)


def recorded_machine(trace: Trace, recorded=None) -> Topology:
    """The machine ``trace`` was recorded on: its own cpus table, or ``recorded`` (a
    topology argument or a Topology) when given, which must have the trace's CPUs."""
    if recorded is None or (isinstance(recorded, str) and recorded in ("", "recorded")):
        return from_trace(trace)
    from traces.errors import TraceError

    machine = recorded if isinstance(recorded, Topology) else resolve_topology(recorded, trace)
    if machine.n_cpus != trace.cpus.height:
        raise TraceError(f"the recorded machine ({machine.name or 'topology'}) has {machine.n_cpus} CPUs but the "
                         f"trace records {trace.cpus.height}", str(trace.path))
    return machine


def with_span_logs(observed: Schedule, trace: Trace, specs) -> tuple[Schedule, tuple]:
    """The observed schedule with the spans of the ``--spans`` logs added to the trace's
    own (their warnings added to its warnings), and the logs' names."""
    from traces.errors import Warnings
    from traces.spans import LogSpec, parse_spec, read_log

    from .spans import checked, combine

    warnings = Warnings()
    frames, names = [trace.spans], []
    for spec in ([specs] if isinstance(specs, (str, LogSpec)) else specs):
        spec = parse_spec(spec) if isinstance(spec, str) else spec
        frame = checked(read_log(spec, warnings), observed, warnings, spec.path)
        if frame.height == 0:
            warnings.add(f"span-log-empty:{spec.path}", f"{spec.path}: no usable span in the log")
        frames.append(frame)
        names.append(os.path.basename(spec.path))
    spans = combine(*frames)
    observed.spans = spans.with_columns(unfinished=pl.lit(False)) if spans.height else None
    observed.warnings.extend(w for w in warnings.as_list() if w not in observed.warnings)
    return observed, tuple(names)
