"""Ceilings of engine-speed work: seconds per replay with one part of the model switched off.

    python benchmarks/ceilings.py [--policy eevdf] [--trace PATH] [--copies 64] [--reps 3]

A change that makes a part of the engine cheaper can gain at most what switching that part
off altogether gains: this prints that bound for each part an engine-speed change could
target, in one process, on long_mix (or ``--trace``) on its recorded CPUs and on its
``--copies``-fold copy (benchmarks/replay.py ``replicate``), best of ``--reps`` replays each:

* ticks: ``hz=24`` (the lowest rate the engine takes) instead of 250 cuts the tick events
  by 90 %: the bound of "ticks only where they can preempt" and of coalesced timers;
* the periodic balancer (``periodic_balance=false``), newidle balancing
  (``newidle_balance=false``), the fair server (``fair_server_runtime_ns=0``), RT push and
  pull (``RT_PUSH=false``): the bound of making each cheaper.

The schedules these replays produce are not the model's (that is the point: they leave a
rule out), so only the timings mean anything. Hook calls, the heap, accounting and the
pick cannot be switched off; benchmarks/profile_engine.py gives their shares.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CASES = (("the model", {}), ("ticks at 24 Hz", {"hz": 24}), ("no periodic balance", {"periodic_balance": False}),
         ("no newidle balance", {"newidle_balance": False}), ("no fair server", {"fair_server_runtime_ns": 0}),
         ("no RT push/pull", {"RT_PUSH": False}))


def main() -> None:
    from benchmarks.replay import DEFAULT_TRACE, replicate, trace_name, trace_workload
    from replay.model.topology import from_spec
    from replay.sim import simulate

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default="eevdf")
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--copies", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    _, wl = trace_workload(a.trace)
    print(f"{'machine':<22} {'replayed with':<22} {'events':>11} {'s/replay':>9} {'ns/event':>9} {'vs the model':>13}")
    for k in (1, a.copies):
        w = wl if k == 1 else replicate(wl, k)
        topo = from_spec(f"1x{wl.n_cpus * k}x1")
        t0 = time.perf_counter()
        simulate(w, a.policy, topo)  # compiles on a cold cache; not timed below
        if k == 1:
            print(f"(first replay, compiling if the cache is cold: {time.perf_counter() - t0:.1f} s)")
        base = None
        for label, params in CASES:
            best, events = float("inf"), 0
            for _ in range(a.reps):
                t0 = time.perf_counter()
                _, info = simulate(w, a.policy, topo, params)
                best, events = min(best, time.perf_counter() - t0), info.events_simulated
            base = base or best
            print(f"{trace_name(a.trace) + (f' x{k}' if k > 1 else '') + f', {wl.n_cpus * k} CPUs':<22} "
                  f"{label:<22} {events:>11,} {best:>9.3f} {best / events * 1e9:>9.0f} {best / base - 1:>+12.1%}",
                  flush=True)


if __name__ == "__main__":
    main()
