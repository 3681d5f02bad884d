"""What-if overrides: ``--set SELECTOR:CHANGES`` (repeatable).

SELECTOR picks tasks by ``comm=GLOB``, ``tid=N`` or ``tgid=N`` (several, comma-separated,
must all match). CHANGES set ``policy=fair|batch|idle|fifo|rr``, ``rtprio=1..99``,
``nice=-20..19``, ``cpus=LIST`` (affinity, e.g. ``0-7,16``). Example::

    --set 'comm=llama*:policy=fifo,rtprio=50'
    --set 'tgid=4242:nice=-5,cpus=0-15'

Later overrides win over earlier ones for the same task.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from traces import schema
from traces.errors import TraceError

POLICIES = ("fair", "batch", "idle", "fifo", "rr")


@dataclass
class Selector:
    """Which tasks: ``comm=GLOB``, ``tid=N``, ``tgid=N`` (comma-separated parts must all
    match). ``--set``'s SELECTOR and ``--focus`` take this form."""

    text: str
    comm: str | None = None
    tid: int | None = None
    tgid: int | None = None

    def matches(self, tid: int, tgid: int, comm: str) -> bool:
        if self.tid is not None and tid != self.tid:
            return False
        if self.tgid is not None and tgid != self.tgid:
            return False
        if self.comm is not None and not fnmatch.fnmatchcase(comm, self.comm):
            return False
        return True

    def mask(self, tids, tgids, comms) -> np.ndarray:
        """Which rows of a tasks table (its tid, tgid and comm columns) this selects."""
        return np.array([self.matches(int(t), int(g), str(c)) for t, g, c in zip(tids, tgids, comms)], bool)


@dataclass
class Override(Selector):
    """One --set: which tasks (the selector), and what changes."""

    policy: str | None = None
    rtprio: int | None = None
    nice: int | None = None
    cpus: list[int] | None = field(default=None)

    @property
    def selector(self) -> str:
        return self.text.split(":", 1)[0]


def parse_selector(text: str, where: str, into: Selector | None = None) -> Selector:
    """Parse ``comm=GLOB,tid=N,tgid=N`` (any of them, all must match) into ``into`` (a new
    Selector by default); ``where`` names the option in errors."""
    o = into if into is not None else Selector(text)
    if not text.strip():
        raise TraceError(f"{where}: empty selector (expected comm=GLOB, tid=N or tgid=N)")
    for part in text.split(","):
        if "=" not in part:
            raise TraceError(f"{where}: selector {part!r} is not comm=GLOB, tid=N or tgid=N")
        k, v = (x.strip() for x in part.split("=", 1))
        try:
            if k == "comm":
                o.comm = v
            elif k == "tid":
                o.tid = int(v)
            elif k == "tgid":
                o.tgid = int(v)
            else:
                raise TraceError(f"{where}: unknown selector {k!r} (comm, tid, tgid)")
        except ValueError:
            raise TraceError(f"{where}: {k}={v!r} is not a number") from None
    return o


def parse_focus(texts) -> list[Selector]:
    """``--focus`` selectors (repeatable: a task any of them selects is in focus)."""
    out = []
    for t in texts or []:
        if isinstance(t, Selector):
            out.append(t)
        else:
            out.append(parse_selector(t, f"--focus {t!r}", Selector(t)))
    return out


def selected(selectors, tids, tgids, comms) -> np.ndarray:
    """Rows of a tasks table any of ``selectors`` matches."""
    m = np.zeros(len(tids), bool)
    for s in selectors:
        m |= s.mask(tids, tgids, comms)
    return m


def parse_cpus(text: str, where: str) -> list[int]:
    out = set()
    try:
        for piece in text.split(","):
            piece = piece.strip()
            if not piece:
                continue
            if "-" in piece:
                a, b = piece.split("-")
                if int(b) < int(a):
                    raise ValueError
                out.update(range(int(a), int(b) + 1))
            else:
                out.add(int(piece))
    except ValueError:
        raise TraceError(f"{where}: bad CPU list {text!r} (expected e.g. 0-7,16)") from None
    if not out:
        raise TraceError(f"{where}: empty CPU list")
    return sorted(out)


def parse(text: str) -> Override:
    """Parse one ``SELECTOR:CHANGES`` string (clear errors for every mistake)."""
    where = f"--set {text!r}"
    if ":" not in text:
        raise TraceError(f"{where}: expected SELECTOR:CHANGES, e.g. 'comm=llama*:policy=fifo,rtprio=50'")
    sel, changes = text.split(":", 1)
    o = Override(text)
    parse_selector(sel, where, o)
    # CPU lists contain commas: split changes on commas that start a new key=
    items = []
    for piece in changes.split(","):
        if "=" in piece or not items:
            items.append(piece)
        else:
            items[-1] += "," + piece
    for item in items:
        if "=" not in item:
            raise TraceError(f"{where}: change {item!r} is not NAME=VALUE")
        k, v = (x.strip() for x in item.split("=", 1))
        try:
            if k == "policy":
                if v not in POLICIES:
                    raise TraceError(f"{where}: policy={v!r}; expected one of {', '.join(POLICIES)}")
                o.policy = v
            elif k == "rtprio":
                o.rtprio = int(v)
                if not 1 <= o.rtprio <= schema.MAX_RT_LEVEL:
                    raise TraceError(f"{where}: rtprio={v} is outside 1..{schema.MAX_RT_LEVEL}")
            elif k == "nice":
                o.nice = int(v)
                if not -20 <= o.nice <= 19:
                    raise TraceError(f"{where}: nice={v} is outside -20..19")
            elif k == "cpus":
                o.cpus = parse_cpus(v, where)
            else:
                raise TraceError(f"{where}: unknown change {k!r} (policy, rtprio, nice, cpus)")
        except ValueError:
            raise TraceError(f"{where}: {k}={v!r} is not a number") from None
    if o.rtprio is not None and o.policy in ("fair", "batch", "idle"):
        raise TraceError(f"{where}: rtprio applies to fifo/rr, not policy={o.policy}")
    if o.nice is not None and o.policy in ("fifo", "rr"):
        raise TraceError(f"{where}: nice applies to fair policies, not policy={o.policy}")
    return o


def parse_all(texts) -> list[Override]:
    return [parse(t) for t in (texts or [])]


@dataclass
class Checked:
    """``--set`` overrides checked against a trace's tasks and a machine (:func:`check`):
    ``overrides`` to replay with (CPU lists cut to the machine's CPUs), ``summary`` (per
    override: ``set``, the text given; ``tasks``, how many tasks it matched; ``comms``, their
    distinct names, at most 10; ``warnings``) and every warning."""

    overrides: list[Override]
    summary: list[dict]
    warnings: list[str]


def cpu_text(cpus: list[int]) -> str:
    """0-3,6 for [0, 1, 2, 3, 6]."""
    out, i = [], 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def check(overrides, tasks, burst_task=None, burst_prio=None, n_cpus: int | None = None) -> Checked:
    """Check ``overrides`` (Override objects or ``--set`` strings) against the tasks a
    replay runs (``tasks``: a table with tid, tgid and comm, one row per task, e.g. a
    workload's) and the machine's CPU count. ``burst_task``/``burst_prio`` (per burst: the
    row of its task in ``tasks``, its kernel prio) tell which tasks are RT and which fair.

    Errors (TraceError): a selector that matches no task; ``rtprio=`` without an RT
    ``policy=`` when none of the matched tasks is RT (it changes RT tasks only), ``nice=``
    without a fair ``policy=`` when none is fair; ``cpus=`` naming no CPU of the machine.
    Counted warnings: ``rtprio=``/``nice=`` that apply to some of the matched tasks only,
    ``cpus=`` naming CPUs the machine lacks (they are left out of the returned copy)."""
    overrides = parse_all(overrides) if overrides and isinstance(overrides[0], str) else list(overrides or [])
    tids = tasks["tid"].to_numpy()
    tgids = tasks["tgid"].to_numpy()
    comms = [str(c) for c in tasks["comm"].cast(pl.String).fill_null("").to_list()]
    is_rt = np.zeros(len(tids), bool)
    is_fair = np.ones(len(tids), bool)
    if burst_task is not None and burst_prio is not None and len(tids):
        bt, bp = np.asarray(burst_task), np.asarray(burst_prio)
        ok = (bt >= 0) & (bt < len(tids))
        # RT bursts: prio 0..98, except the migration/N threads' prio 0 (the stop class, as the engine has it)
        stop = np.array([c.startswith("migration/") for c in comms], bool)
        rt_burst = (bp >= 0) & (bp < schema.MAX_RT_PRIO) & ~((bp == 0) & stop[np.clip(bt, 0, len(tids) - 1)])
        is_rt = np.bincount(bt[ok], weights=rt_burst[ok], minlength=len(tids)) > 0
        is_fair = np.bincount(bt[ok], weights=(bp[ok] >= schema.MAX_RT_PRIO), minlength=len(tids)) > 0
    out, summary, warnings = [], [], []
    for o in overrides:
        where = f"--set {o.text!r}"
        m = o.mask(tids, tgids, comms)
        n = int(m.sum())
        if n == 0:
            raise TraceError(f"{where}: selector {o.selector!r} matches no task of the trace "
                             f"({len(tids)} tasks; `schedreplay metrics TRACE --by task` lists them)")
        mine = []
        # rtprio= changes RT tasks only and nice= fair ones, unless policy= makes them so
        for field, value, of_class, kind, fix in (("rtprio", o.rtprio, is_rt, "RT", "policy=fifo or policy=rr"),
                                                  ("nice", o.nice, is_fair, "fair", "policy=fair")):
            if o.policy is not None or value is None:
                continue
            k = int((m & of_class).sum())
            if k == 0:
                raise TraceError(f"{where}: {field}= changes {kind} tasks, and none of the {n} task(s) it matches "
                                 f"is {kind}; add {fix}" + (" (or batch, idle)" if kind == "fair" else ""))
            if k < n:
                mine.append(f"{where}: {field}= applies to {k} of the {n} tasks it matches (the {kind} ones); "
                            f"the other {n - k} keep their priority (add {fix} to make them {kind})")
        if o.cpus is not None and n_cpus is not None:
            inside = [c for c in o.cpus if c < n_cpus]
            if not inside:
                raise TraceError(f"{where}: cpus={cpu_text(o.cpus)} names no CPU of the {n_cpus}-CPU machine "
                                 f"(CPUs 0-{n_cpus - 1})")
            if len(inside) < len(o.cpus):
                gone = [c for c in o.cpus if c >= n_cpus]
                whole = " (every CPU: no restriction)" if len(inside) == n_cpus else ""
                mine.append(f"{where}: the {n_cpus}-CPU machine has no CPU {cpu_text(gone)} ({len(gone)} of the "
                            f"{len(o.cpus)} CPUs named); the affinity is {cpu_text(inside)}{whole}")
                o = replace(o, cpus=inside)
        out.append(o)
        names = sorted({comms[i] for i in np.flatnonzero(m)})
        summary.append({"set": o.text, "tasks": n, "comms": names[:10], "warnings": mine})
        warnings += mine
    return Checked(out, summary, warnings)
