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
from dataclasses import dataclass, field

from traces import schema
from traces.errors import TraceError

POLICIES = ("fair", "batch", "idle", "fifo", "rr")


@dataclass
class Override:
    """One --set: which tasks, and what changes."""

    text: str
    comm: str | None = None
    tid: int | None = None
    tgid: int | None = None
    policy: str | None = None
    rtprio: int | None = None
    nice: int | None = None
    cpus: list[int] | None = field(default=None)

    def matches(self, tid: int, tgid: int, comm: str) -> bool:
        if self.tid is not None and tid != self.tid:
            return False
        if self.tgid is not None and tgid != self.tgid:
            return False
        if self.comm is not None and not fnmatch.fnmatchcase(comm, self.comm):
            return False
        return True


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
    for part in sel.split(","):
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
