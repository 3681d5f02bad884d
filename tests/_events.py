"""Build Trace objects from hand-written event lists, and random valid schedules with
their events (for property tests)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from traces import schema
from traces._build import build
from traces._result import ReadResult
from traces.trace import Trace

KIND = {"switch": schema.SWITCH, "waking": schema.WAKING, "wakeup": schema.WAKEUP,
        "wakeup_new": schema.WAKEUP_NEW, "migrate": schema.MIGRATE, "fork": schema.FORK,
        "exec": schema.EXEC, "exit": schema.EXIT, "stat_runtime": schema.STAT_RUNTIME, "lost": schema.LOST}


def make_trace(rows: list[tuple], n_cpus: int = 2, comms: dict[int, str] | None = None,
               prio: dict[int, int] | None = None) -> Trace:
    """rows: (ts_ns, cpu, kind, cur_tid, **fields) as tuples (ts, cpu, kind, cur, fields_dict).

    Fields use the events schema names (tid, prev_state, next_tid, target_cpu, orig_cpu,
    parent_tid, lost_events, ...). comm/prio default from ``comms`` / ``prio`` (120)."""
    comms = comms or {}
    prio = prio or {}
    r = ReadResult("<test>", "test")
    r.n_cpus = n_cpus
    cols = schema.empty_columns(schema.EVENTS, len(rows))
    for i, (ts, cpu, kind, cur, f) in enumerate(rows):
        cols["ts_ns"][i] = ts
        cols["cpu"][i] = cpu
        cols["kind"][i] = KIND[kind]
        cols["cur_tid"][i] = cur
        for k, v in f.items():
            cols[k][i] = v
        tid = f.get("tid", -1)
        if tid >= 0 and "comm" not in f:
            cols["comm"][i] = r.strings.code(comms.get(tid, "swapper" if tid == 0 else f"task{tid}"))
            cols["prio"][i] = prio.get(tid, 120)
        if kind == "switch":
            n = f["next_tid"]
            cols["next_comm"][i] = r.strings.code(comms.get(n, "swapper" if n == 0 else f"task{n}"))
            cols["next_prio"][i] = prio.get(n, 120)
        if kind == "fork":
            p = f["parent_tid"]
            cols["parent_comm"][i] = r.strings.code(comms.get(p, f"task{p}"))
    r.add_events(cols)
    return Trace(build(r))


# -- random valid schedules -----------------------------------------------------------

@dataclass
class Truth:
    """A generated schedule: its intervals (dicts with the INTERVALS columns) and trace events."""

    rows: list[tuple] = field(default_factory=list)
    intervals: list[tuple] = field(default_factory=list)
    n_cpus: int = 1
    start: int = 0
    end: int = 0


def random_schedule(seed: int, n_cpus: int = 2, n_steps: int = 60, max_tasks: int = 6,
                    with_waking: bool = True) -> Truth:
    """Simulate a random but valid scheduler run and record both its true intervals and
    the trace events a kernel would emit for it.

    Task 1 runs on CPU 0 when the trace starts and forks the others; CPUs start idle.
    Every state change is traced (no lost or missing events), so the rebuilt schedule
    must equal the true one exactly.
    """
    rnd = random.Random(seed)
    g = Truth(n_cpus=n_cpus)
    t = 1_000_000
    g.start = t
    cur = [0] * n_cpus             # running tid per CPU (0 idle)
    state: dict[int, tuple] = {}   # tid -> (state, cpu, since, wait_start, cause)
    rq: list[list[int]] = [[] for _ in range(n_cpus)]
    next_tid = 2

    def close(tid, at, end):
        s, c, since, ws, cause, begin, sleep = state[tid]
        g.intervals.append(dict(
            tid=tid, cpu=c if s != schema.BLOCKED else -1, start_ns=since, end_ns=at, state=s, begin=begin,
            end=end, sleep_state=sleep if s in (schema.BLOCKED, schema.RUNNABLE) else -1,
            wait_start_ns=ws if s == schema.RUNNABLE else -1, cause=cause if s == schema.RUNNABLE else -1,
            valid=True))

    def ev(kind, cpu, **f):
        g.rows.append((t, cpu, kind, cur[cpu], f))

    # task 1 running on CPU 0; the first event (its fork of task 2) is on CPU 0 at the start.
    state[1] = (schema.RUNNING, 0, t, -1, -1, schema.BEGIN_TRACE_START, -1)
    cur[0] = 1
    alive = {1}
    for step in range(n_steps):
        if step:
            t += rnd.randint(1, 5000)
        actions = []
        running = [(c, cur[c]) for c in range(n_cpus) if cur[c]]
        blocked = [tid for tid in alive if state[tid][0] == schema.BLOCKED]
        if running and len(alive) < max_tasks:
            actions.append("fork")
        if running:
            actions += ["block", "preempt", "exit"] if len(alive) > 1 else ["block", "preempt"]
        if blocked:
            actions += ["wake", "wake"]  # from a running task, or from an interrupt on an idle CPU
        if any(rq[c] for c in range(n_cpus)):
            actions += ["switch_in", "switch_in", "migrate"]
        if not actions:
            break
        a = rnd.choice(actions)
        if a == "fork":
            c, p = rnd.choice(running)
            child = next_tid
            next_tid += 1
            target = rnd.randrange(n_cpus)
            ev("fork", c, tid=child, parent_tid=p)
            t += 1
            ev("wakeup_new", c, tid=child, target_cpu=target)
            state[child] = (schema.RUNNABLE, target, t, t, schema.BEGIN_NEW, schema.BEGIN_NEW, -1)
            rq[target].append(child)
            alive.add(child)
        elif a in ("block", "preempt", "exit"):
            c, p = rnd.choice(running)
            nxt = rq[c].pop(0) if rq[c] else 0
            if a == "exit":
                ev("exit", c, tid=p)
                t += 1
                ps = schema.STATE_DEAD
            else:
                ps = schema.STATE_SLEEPING if a == "block" else rnd.choice([0, schema.STATE_PREEMPTED])
            ev("switch", c, tid=p, prev_state=ps, next_tid=nxt)
            close(p, t, {"exit": schema.END_EXITED, "block": schema.END_BLOCKED}.get(a, schema.END_PREEMPTED))
            if a == "exit":
                alive.discard(p)
                del state[p]
            elif a == "block":
                state[p] = (schema.BLOCKED, -1, t, -1, -1, schema.BEGIN_SWITCH_OUT, ps)
            else:
                state[p] = (schema.RUNNABLE, c, t, t, schema.BEGIN_PREEMPT, schema.BEGIN_PREEMPT, ps)
                rq[c].append(p)
            cur[c] = nxt
            if nxt:
                close(nxt, t, schema.END_SWITCHED_IN)
                state[nxt] = (schema.RUNNING, c, t, -1, -1, schema.BEGIN_SWITCH_IN, -1)
        elif a == "wake":
            c = rnd.randrange(n_cpus)
            w = rnd.choice(blocked)
            target = rnd.randrange(n_cpus)
            ev("waking" if with_waking else "wakeup", c, tid=w, target_cpu=target)
            close(w, t, schema.END_WOKEN)
            state[w] = (schema.RUNNABLE, target, t, t, schema.BEGIN_WAKEUP, schema.BEGIN_WAKEUP, -1)
            if with_waking:
                t += rnd.randint(0, 3)
                ev("wakeup", c, tid=w, target_cpu=target)
            rq[target].append(w)
        elif a == "switch_in":
            c = rnd.choice([c for c in range(n_cpus) if rq[c]])
            if cur[c]:
                # preempt whoever runs there
                p = cur[c]
                nxt = rq[c].pop(0)
                ps = rnd.choice([0, schema.STATE_PREEMPTED])
                ev("switch", c, tid=p, prev_state=ps, next_tid=nxt)
                close(p, t, schema.END_PREEMPTED)
                state[p] = (schema.RUNNABLE, c, t, t, schema.BEGIN_PREEMPT, schema.BEGIN_PREEMPT, ps)
                rq[c].append(p)
            else:
                nxt = rq[c].pop(0)
                ev("switch", c, tid=0, prev_state=0, next_tid=nxt)
            close(nxt, t, schema.END_SWITCHED_IN)
            state[nxt] = (schema.RUNNING, c, t, -1, -1, schema.BEGIN_SWITCH_IN, -1)
            cur[c] = nxt
        elif a == "migrate":
            src = rnd.choice([c for c in range(n_cpus) if rq[c]])
            dst = rnd.choice([c for c in range(n_cpus) if c != src] or [src])
            if dst == src:
                continue
            w = rq[src].pop(rnd.randrange(len(rq[src])))
            ev("migrate", dst, tid=w, orig_cpu=src, target_cpu=dst)
            s, _, since, ws, cause, begin, sleep = state[w]
            close(w, t, schema.END_MIGRATED)
            state[w] = (schema.RUNNABLE, dst, t, ws, cause, schema.BEGIN_MIGRATE, sleep)
            rq[dst].append(w)
    t += 10
    # the trace ends with an event on every CPU (a stat_runtime of whoever runs)
    for c in range(n_cpus):
        if cur[c]:
            ev("stat_runtime", c, tid=cur[c], runtime_ns=1000)
    g.end = g.rows[-1][0]
    for tid in list(state):
        close(tid, g.end, schema.END_TRACE_END)
    return g


def truth_schedule(g: Truth, trace: Trace):
    """The generated schedule as a replay.schedule.Schedule (same tasks table as the trace)."""
    import polars as pl

    from replay.model.schedule import Schedule

    cols = {f.name: np.array([iv[f.name] for iv in g.intervals], f.numpy_dtype) for f in schema.INTERVALS.fields}
    return Schedule(pl.DataFrame(cols), trace.tasks, g.start, g.end, g.n_cpus, "truth")
