"""Sweep benchmark: configurations per second with 1 and 2 local workers and with Ray on
this machine, and the per-configuration overhead against a bare replay in the same process.

    python benchmarks/sweep.py [--trace PATH] [--configs N] [--repeat K] [--no-ray] [--json]

The trace defaults to the corpus capture captures/c_infer_torch/trace.dat (else the
shipped @sample, the same capture as text). The sweep is eevdf over N values of
base_slice_ns (100us, 200us, ...; the default 700us is one of them), into a fresh output
file, once per engine:

* configs/s: N / the whole sweep's wall time (checks, warm-up, ingest, validation, worker
  or Ray start, writing the output: everything);
* steady configs/s: (N - 1) / (time from the first result to the last), i.e. once the
  workers are up;
* start-up: the sweep's wall time minus the steady part (prepare, Ray connection, worker
  start until the first result, output);
* overhead: steady seconds per configuration x workers - the bare cost: what each worker
  spends per configuration beyond replaying and measuring (IPC, row assembly, journal).

The bare cost is ``replay(prepared)`` + ``metrics.measure`` in this process,
warm, on the same workload: the work a sweep worker does per configuration. On a machine
shared with other work the figures move by tens of percent from run to run: use --repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("SCHEDREPLAY_TRACES", ROOT.parent / "shared" / "traces"))


def bare(trace_path: str, n: int) -> dict:
    """Seconds per replay + measure of the trace's workload in this process (warm)."""
    import traces
    from replay import metrics, prepare, replay

    t = traces.load(trace_path)
    p = prepare(t)
    topo = p.recorded
    idle, pre = p.latencies.idle_wakeup_ns, p.latencies.preempt_ns
    times, replay_only = [], []
    for i in range(n + 2):
        params = {"base_slice_ns": 100_000 * (1 + i % 100), "idle_wakeup_latency_ns": idle,
                  "preempt_latency_ns": pre}
        t0 = time.perf_counter()
        sched, info = replay(p, policy="eevdf", topology=topo, params=params)
        t1 = time.perf_counter()
        metrics.measure(sched, topo)
        t2 = time.perf_counter()
        if i >= 2:  # the first two load the kernels
            times.append(t2 - t0)
            replay_only.append(t1 - t0)
    # a bare replay of the trace itself (prepares it again each time: observed schedule, workload)
    t0 = time.perf_counter()
    for _ in range(3):
        sched, _ = replay(t, policy="eevdf", topology=topo)
        metrics.measure(sched, topo)
    from_trace = (time.perf_counter() - t0) / 3
    return {"events": t.info()["events"], "tasks": t.info()["tasks"], "events_simulated": info.events_simulated,
            "bare_s": statistics.median(times), "replay_s": statistics.median(replay_only),
            "bare_from_trace_s": from_trace}


def timed_sweep(trace_path: str, n: int, engine: str, workers: int) -> dict:
    from replay.study.sweeps import run

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run([trace_path], policy=["eevdf"], grid=[f"base_slice_ns=100us:{100 * n}us:100us"], engine=engine,
                  workers=workers, output=Path(d) / "out.parquet")
        wall = time.perf_counter() - t0
    if res.executed != n:
        raise SystemExit(f"expected {n} configurations, ran {res.executed}")
    tm = res.timings
    steady = tm["run_s"] - tm["first_result_s"]
    return {"total_s": wall, "steady_s": steady, "startup_s": wall - steady, **tm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", help="trace to sweep (default: the corpus c_infer_torch trace.dat, else @sample)")
    ap.add_argument("--configs", type=int, default=300, help="configurations per sweep (default 300, max 1000)")
    ap.add_argument("--repeat", type=int, default=1, help="sweeps per engine; the best is kept (default 1)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    n = max(8, min(a.configs, 1000))
    trace = a.trace or (str(CORPUS / "captures" / "c_infer_torch" / "trace.dat")
                        if (CORPUS / "captures" / "c_infer_torch" / "trace.dat").exists() else "@sample")
    from replay.study.sweeps import warm

    warm(["eevdf"])  # the compile cache, once (not timed)
    b = bare(trace, 30)
    rows = []
    engines = [("local", 1), ("local", 2)]
    if not a.no_ray:
        try:
            import ray  # noqa: F401

            engines.append(("ray", 2))
        except ImportError:
            print("ray is not installed (pip install '.[ray]'): skipping the Ray engine", file=sys.stderr)
    for engine, workers in engines:
        runs = [timed_sweep(trace, n, engine, workers) for _ in range(max(1, a.repeat))]
        t = min(runs, key=lambda r: r["total_s"])
        per = t["steady_s"] / (n - 1)
        rows.append({"engine": engine, "workers": workers, "configs": n, "total_s": t["total_s"],
                     "configs_per_s": n / t["total_s"], "steady_configs_per_s": 1 / per,
                     "startup_s": t["startup_s"], "prepare_s": t["prepare_s"], "start_s": t["start_s"],
                     "first_result_s": t["first_result_s"], "write_s": t["write_s"],
                     "overhead_ms_per_config": (per * workers - b["bare_s"]) * 1e3})
    out = {"trace": trace, **b, "cpus": os.cpu_count(), "runs": rows}
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"trace {trace}: {b['events']:,} events, {b['tasks']} tasks; {b['events_simulated']:,} events simulated "
          f"per replay; {os.cpu_count()} CPUs")
    print(f"bare, in this process: replay {b['replay_s'] * 1e3:.1f} ms + measure "
          f"{(b['bare_s'] - b['replay_s']) * 1e3:.1f} ms = {b['bare_s'] * 1e3:.1f} ms per configuration "
          f"({1 / b['bare_s']:.1f}/s); replay(trace) rebuilding the workload each time: "
          f"{b['bare_from_trace_s'] * 1e3:.1f} ms")
    print(f"{'engine':<8}{'workers':>8}{'configs':>9}{'total s':>9}{'configs/s':>11}{'steady/s':>10}"
          f"{'start-up s':>12}{'overhead ms/config':>20}")
    for r in rows:
        print(f"{r['engine']:<8}{r['workers']:>8}{r['configs']:>9}{r['total_s']:>9.2f}{r['configs_per_s']:>11.1f}"
              f"{r['steady_configs_per_s']:>10.1f}{r['startup_s']:>12.2f}{r['overhead_ms_per_config']:>20.2f}")
    print("start-up = prepare (checks, warm-up, ingest, validation) + Ray start + first result + output; "
          + ", ".join(f"{r['engine']}/{r['workers']}: {r['prepare_s']:.2f} + {r['start_s']:.2f} + "
                      f"{r['first_result_s']:.2f} + {r['write_s']:.2f} s" for r in rows))
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

if __name__ == "__main__":
    main()
