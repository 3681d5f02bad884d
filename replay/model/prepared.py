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

import numpy as np
import polars as pl

from traces import schema
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
    #: tasks the recording shows confined to some CPUs of the recorded machine (a cpuset,
    #: an affinity mask): tid -> the CPUs it may use (see confined_tasks)
    confined: dict = field(default_factory=dict)
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

    def confined_cpus(self, topo: Topology) -> dict:
        """Tasks confined to some CPUs when replaying on ``topo`` (tid -> the CPUs they may
        use): those the recording shows confined when ``topo`` is the recorded machine (on
        another machine the recorded CPU numbers mean nothing; ``--set cpus=`` says it)."""
        return self.confined if self.is_recorded(topo) else {}

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


#: How long an idle CPU leaves a task waiting elsewhere when the task may run on it (the
#: evidence bound of :func:`confined_tasks`): the busy CPU's next tick kicks the idle
#: balancer (nohz_balancer_kick: it has two runnable tasks), at most one tick of the slowest
#: common rate (HZ=100), and the idle CPU balances the domain that spans both CPUs at least
#: every max_interval = 2 ms per CPU of its span (fair.c sd_init, get_sd_balance_interval:
#: no busy factor while idle). A task that waited longer than that beside an idle CPU was
#: not allowed there.
CONFINE_TICK_NS = 10_000_000
CONFINE_NS_PER_SPAN_CPU = 2_000_000
#: waits of that kind needed before a CPU is taken out of a task's set: a vCPU the host
#: did not run, or a balancer that happened to fail once, is one wait, not a pattern
CONFINE_MIN_WAITS = 3
#: an idle stretch of the waiting task's own CPU longer than this during its wait makes the
#: wait inconsistent (wakeup and idle-exit latencies are microseconds)
CONFINE_IDLE_SLACK_NS = 1_000_000


def _span(machine: Topology, a: np.ndarray, c: int) -> np.ndarray:
    """The number of CPUs of the smallest scheduling domain that holds both CPU ``a`` (an
    array) and CPU ``c``: their core, LLC, node, or the whole machine."""
    size = {k: np.bincount(getattr(machine, k)) for k in ("core", "llc", "node")}
    out = np.full(len(a), machine.n_cpus, np.int64)
    for k in ("node", "llc", "core"):  # smallest last
        ids = getattr(machine, k)
        same = ids[a] == ids[c]
        out = np.where(same, size[k][ids[c]], out)
    return out


def confined_tasks(schedule: Schedule, tasks: pl.DataFrame, machine: Topology, offline=()) -> dict:
    """Tasks the recording shows confined to some of the machine's CPUs (a cpuset, an
    affinity mask), with evidence: tid -> the CPUs it may use (sorted tuple). A CPU is
    taken out of a task's set when the task never ran or waited on it, and at least
    CONFINE_MIN_WAITS times waited on another CPU while this one sat idle for longer than
    the kernel's idle balancing leaves a task it may pull waiting (CONFINE_TICK_NS +
    CONFINE_NS_PER_SPAN_CPU per CPU of the smallest domain spanning both CPUs). A task that
    ran on few CPUs because it ran little, or always found its own CPU free, shows no such
    waits and keeps every CPU. Per-CPU kernel threads (already pinned) and deadline tasks
    are left alone."""
    iv = schedule.intervals
    running, runnable = schema.INTERVAL_STATE_NAMES.index("running"), schema.INTERVAL_STATE_NAMES.index("runnable")
    n = machine.n_cpus
    online = [c for c in range(n) if c not in set(offline)]
    shortest = CONFINE_TICK_NS + CONFINE_NS_PER_SPAN_CPU  # the bound of the smallest domain
    waits = iv.filter((pl.col("state") == runnable) & pl.col("valid") & (pl.col("cpu") >= 0)
                      & (pl.col("end_ns") - pl.col("start_ns") > shortest))
    if waits.height == 0 or len(online) < 2:
        return {}
    skip = set(tasks.filter((pl.col("pinned_cpu") >= 0)
                            | ((pl.col("prio") < 0) & (pl.col("prio") != schema.NO_PRIO)))["tid"].to_list())
    waits = waits.filter(~pl.col("tid").is_in(list(skip)))
    if waits.height == 0:
        return {}
    # where each task ran or waited: CPUs it certainly may use
    used = (iv.filter(pl.col("state").is_in([running, runnable]) & (pl.col("cpu") >= 0)
                      & pl.col("tid").is_in(waits["tid"].unique().to_list()))
            .group_by("tid").agg(pl.col("cpu").unique()))
    used = {tid: set(cpus) for tid, cpus in used.iter_rows()}
    tids = waits["tid"].to_numpy()
    wcpu = waits["cpu"].to_numpy().astype(np.int64)
    ws, we = waits["start_ns"].to_numpy(), waits["end_ns"].to_numpy()
    run = (iv.filter((pl.col("state") == running) & (pl.col("cpu") >= 0)).select("cpu", "start_ns", "end_ns", "valid")
           .sort(["cpu", "start_ns", "end_ns"]).partition_by("cpu", as_dict=True))
    idle = {}
    empty = pl.DataFrame(schema={"start_ns": pl.Int64, "end_ns": pl.Int64, "valid": pl.Boolean})
    for c in online:
        r = run.get((c,), empty)
        # idle stretches: between two runs on c, both known (a run damaged by lost events
        # leaves the time around it unknown, not idle)
        ok = r["valid"].to_numpy()
        s, e = r["end_ns"].to_numpy()[:-1], r["start_ns"].to_numpy()[1:]
        keep = ok[:-1] & ok[1:] & (e > s)
        idle[c] = (s[keep], e[keep])
    # a wait is evidence only if its own CPU ran something else all along: a task recorded
    # waiting on a CPU that sat idle contradicts itself (the kernel runs a runnable task on
    # an idle CPU within microseconds), and says nothing about where it was allowed
    busy = np.ones(len(ws), bool)
    for c in online:
        on = wcpu == c
        s, e = idle[c]
        s, e = s[(e - s) > CONFINE_IDLE_SLACK_NS], e[(e - s) > CONFINE_IDLE_SLACK_NS]
        if not on.any() or len(s) == 0:
            continue
        j = np.searchsorted(e, ws[on] + CONFINE_IDLE_SLACK_NS, "left")
        busy[on] = ~((j < len(s)) & (s[np.minimum(j, len(s) - 1)] <= we[on] - CONFINE_IDLE_SLACK_NS))
    evidence: dict[tuple, int] = {}
    for c in online:
        s, e = idle[c]
        s, e = s[(e - s) > shortest], e[(e - s) > shortest]
        if len(s) == 0:
            continue
        need = CONFINE_TICK_NS + CONFINE_NS_PER_SPAN_CPU * _span(machine, wcpu, c)
        # the first idle stretch long enough that ends at least `need` after the wait began,
        # and whether it begins at least `need` before the wait ended (stretches are sorted
        # and disjoint, so if the first fails all later ones do)
        hit = np.zeros(len(ws), bool)
        for lim in np.unique(need):
            long_ = (e - s) >= lim
            sl, el = s[long_], e[long_]
            if len(sl) == 0:
                continue
            j = np.searchsorted(el, ws + lim, "left")
            found = j < len(sl)
            hit |= (need == lim) & found & (sl[np.minimum(j, len(sl) - 1)] <= we - lim) & (we - ws >= lim)
        hit &= busy & (wcpu != c)
        for tid in tids[hit].tolist():
            if c not in used.get(tid, ()):
                evidence[(tid, c)] = evidence.get((tid, c), 0) + 1
    out: dict[int, set] = {}
    for (tid, c), k in evidence.items():
        if k >= CONFINE_MIN_WAITS:
            out.setdefault(tid, set(online)).discard(c)
    return {tid: tuple(sorted(cpus)) for tid, cpus in sorted(out.items())}


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
    offline = offline_cpus(trace)
    return PreparedTrace(trace=trace, schedule=observed,
                         workload=from_schedule(trace, observed, capacity=machine.capacity),
                         latencies=measure_latencies(observed), tasks=trace.tasks, recorded=machine,
                         path=str(trace.path), kernel=str(meta.get("kernel") or machine.kernel or ""),
                         measured_causes=measured, offline=offline,
                         confined=confined_tasks(observed, trace.tasks, machine, offline), span_sources=sources)


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
