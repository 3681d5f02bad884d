"""Replay benchmark: simulated events/s and ns per event, cold and warm start.

    python benchmarks/replay.py [--quick] [--policy eevdf] [--against REV] [--trace PATH]

Rows, each in a fresh subprocess (its own compile-cache state and memory):
* long_mix (trace.dat; or ``--trace``) replayed on its recorded 2-CPU topology;
* its workload copied k times (tids shifted) on 2k CPUs (spec 1x{2k}x1), for
  k = 1, 4, 16, 64, 128 (2 to 256 CPUs) — the cost per event against machine size;
* the same copied to at least 10M simulated events (--quick skips it).
Cold start = first replay with an empty compile cache (with numba's compile time per
kernel, from its numba:compile events); warm = first replay in a new process with the
cache filled; steady = best of 3 replays in one process. Before
timing, the long_mix replay's CPU time must match its demand within 1 % (a correctness
check of the configuration being timed).

``--against REV`` also times the engine of another commit (``git archive REV``, unpacked in
a temporary folder, with its own compile cache), row by row, alternating which goes first,
and prints seconds per replay of both and their ratio: the before/after of a change on the
same machine in the same hour. Seconds per replay, not ns/event, because versions may
count events differently (stale heap entries were counted until the heap dropped them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = Path(os.environ.get("SCHEDREPLAY_TRACES", ROOT.parent / "shared" / "traces"))

_CHILD = r"""
import json, sys, time
import numba.core.event as nev

class CompileTimes(nev.Listener):
    # numba's compile events nest (a kernel compiles the kernels it calls): each
    # kernel's own time is its span minus the spans of the compiles inside it
    def __init__(self):
        self.stack, self.own = [], {}
    def on_start(self, event):
        self.stack.append([time.perf_counter(), 0.0])
    def on_end(self, event):
        t0, inner = self.stack.pop()
        span = time.perf_counter() - t0
        d = event.data["dispatcher"]
        name = f"{d.py_func.__module__}.{d.py_func.__qualname__}"
        self.own[name] = self.own.get(name, 0.0) + span - inner
        if self.stack:
            self.stack[-1][1] += span

compile_times = CompileTimes()
nev.register("numba:compile", compile_times)
t0 = time.perf_counter()
import polars as pl
import traces
from replay.model import workload as W
from replay.sim import simulate as replay
from replay.model.topology import from_spec
t_import = time.perf_counter() - t0
wl_dir, spec, policy, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
wl = W.Workload.read(wl_dir)
topo = from_spec(spec)
t0 = time.perf_counter(); s, info = replay(wl, policy=policy, topology=topo); first = time.perf_counter() - t0
best = first
for _ in range(reps - 1):
    t0 = time.perf_counter(); s, info = replay(wl, policy=policy, topology=topo); best = min(best, time.perf_counter() - t0)
run = s.intervals.filter(pl.col("state") == 0)
cpu = int((run["end_ns"] - run["start_ns"]).sum())
demand = int(wl.bursts.filter(pl.col("demand_ns") >= 0)["demand_ns"].sum())
print(json.dumps(dict(events=info.events_simulated, first_s=first, best_s=best, import_s=t_import,
                      intervals=s.intervals.height, cpu_ns=cpu, demand_ns=demand, compile_s=compile_times.own)))
"""


def replicate(wl, k: int):
    """The workload copied k times, each copy's tids shifted by 1,000,000 x copy."""
    import polars as pl

    from replay.model.workload import Workload

    T, B = wl.tasks.height, wl.bursts.height
    tasks, bursts, actions = [], [], []
    for i in range(k):
        tasks.append(wl.tasks.with_columns(
            tid=pl.col("tid") + i * 1_000_000,
            first_burst=pl.col("first_burst") + i * B,
            first_action=pl.col("first_action") + i * wl.actions.height,
            parent=pl.when(pl.col("parent") >= 0).then(pl.col("parent") + i * T).otherwise(-1),
            pinned_cpu=pl.when(pl.col("pinned_cpu") >= 0).then(pl.col("pinned_cpu") + 2 * i).otherwise(-1)
            .cast(pl.Int16)))
        bursts.append(wl.bursts.with_columns(task=pl.col("task") + i * T))
        target = pl.when(pl.col("target_burst") >= 0).then(pl.col("target_burst") + i * B).otherwise(-1)
        actions.append(wl.actions.with_columns(task=pl.col("task") + i * T, target_burst=target))
    return Workload(pl.concat(tasks), pl.concat(bursts), pl.concat(actions), wl.start_ns, wl.end_ns,
                    wl.n_cpus * k, f"{wl.source} x{k}")


def measure(wl_dir: Path, spec: str, policy: str, reps: int, cache: str | None = None, root: Path = ROOT) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)  # the tree whose engine is timed (another commit's with --against)
    if cache:
        env["SCHEDREPLAY_CACHE_DIR"] = cache
    p = subprocess.run([sys.executable, "-c", _CHILD, str(wl_dir), spec, policy, str(reps)],
                       capture_output=True, text=True, env=env, cwd=root)
    if p.returncode:
        raise SystemExit(f"replay of {wl_dir} on {spec} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--policy", default="eevdf")
    ap.add_argument("--against", metavar="REV", help="also time this commit's engine, row by row (a ratio)")
    ap.add_argument("--trace", default=DEFAULT_TRACE, help=f"the corpus trace whose workload is replayed and "
                    f"copied (default {DEFAULT_TRACE}; e.g. captures/a_hackbench/trace.dat: forks, long run queues)")
    args = ap.parse_args()
    if args.against:
        return against(args)
    base, wl = trace_workload(args.trace)
    name, n = trace_name(args.trace), wl.n_cpus
    with tempfile.TemporaryDirectory() as cache:
        r = measure(base, f"1x{n}x1", args.policy, 1, cache=cache)
        print(f"import replay: {r['import_s']:.2f} s; first replay with an empty compile cache (cold start, "
              f"compiles engine and policy): {r['first_s']:.2f} s")
        own = sorted(r["compile_s"].items(), key=lambda kv: -kv[1])
        print(f"  numba compile time by kernel (its own, without the kernels it calls; numba:compile events): "
              f"{sum(v for _, v in own):.1f} s in {len(own)} kernels, the most:")
        for kernel, sec in own[:8]:
            print(f"    {sec:6.2f} s  {kernel}")
        # the cache the cold start just filled (the default cache may hold nothing for these
        # sources, or another machine's build): a new process loads, compiles nothing
        r = measure(base, f"1x{n}x1", args.policy, 3, cache=cache)
        print(f"first replay in a new process with a warm cache (warm start): {r['first_s']:.2f} s "
              f"(import {r['import_s']:.2f} s; {len(r['compile_s'])} kernels compiled)")
    if abs(r["cpu_ns"] - r["demand_ns"]) > 0.01 * r["demand_ns"] + 0.5 * (wl.end_ns - wl.start_ns):
        print(f"note: replayed CPU {r['cpu_ns']} ns vs closed demand {r['demand_ns']} ns (open bursts run to the end)")

    def row(label, r):
        print(f"{label:<34} {r['events']:>11,} events  {r['best_s']:8.3f} s  {r['events'] / r['best_s'] / 1e6:6.2f} M ev/s"
              f"  {r['best_s'] / r['events'] * 1e9:7.0f} ns/event")

    row(f"{name}, {n} CPUs ({args.policy})", r)
    for k in (4, 16, 64, 128):
        row(f"{name} x{k}, {n * k} CPUs", measure(copies(wl, k, args.trace), f"1x{n * k}x1", args.policy, 2))
    if not args.quick:
        per = max(r["events"], 1)
        k = -(-10_000_000 // per)
        big = measure(copies(wl, k, args.trace), f"1x{n * k}x1", args.policy, 1)
        row(f"{name} x{k} ({big['events'] / 1e6:.1f}M events), {n * k} CPUs", big)


DEFAULT_TRACE = "captures/long_mix/trace.dat"


def trace_name(trace: str = DEFAULT_TRACE) -> str:
    """A short name of a corpus trace: its capture's folder for a trace.dat, else its stem."""
    t = Path(trace)
    return t.parent.name if t.name == "trace.dat" else t.stem


def trace_workload(trace: str = DEFAULT_TRACE):
    """(folder, Workload) of a corpus trace (default long_mix), written once into the
    benchmarks' cache."""
    import traces
    from benchmarks._synth import CACHE, workload_key
    from replay.model.workload import Workload, from_schedule

    path = CORPUS / trace
    if not path.exists():
        raise SystemExit(f"trace not found: {path} (set SCHEDREPLAY_TRACES, or give --trace a corpus path)")
    CACHE.mkdir(parents=True, exist_ok=True)
    base = CACHE / f"wl-{trace_name(trace)}-{workload_key()}"
    if not (base / "bursts.parquet").exists():
        from_schedule(traces.load(path)).write(base)
    return base, Workload.read(base)


def copies(wl, k: int, trace: str = DEFAULT_TRACE) -> Path:
    """The folder of ``wl`` (the workload of ``trace``) copied k times (replicate), written once."""
    from benchmarks._synth import CACHE, workload_key

    d = CACHE / f"wl-{trace_name(trace)}-x{k}-{workload_key()}"
    if not (d / "bursts.parquet").exists():
        replicate(wl, k).write(d)
    return d


def against(args) -> None:
    """Each row timed with this tree's engine and with commit ``args.against``'s, alternately."""
    base, wl = trace_workload(args.trace)
    name, n = trace_name(args.trace), wl.n_cpus
    with tempfile.TemporaryDirectory() as tmp:
        old_root = Path(tmp) / "tree"
        old_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", args.against],
                                 capture_output=True, check=False)
        if archive.returncode:
            raise SystemExit(f"--against {args.against}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive.stdout, check=True)
        caches = {"this": str(Path(tmp) / "cache-this"), args.against: str(Path(tmp) / "cache-old")}
        roots = {"this": ROOT, args.against: old_root}
        for who in roots:  # compile both first (cold starts are not what this compares)
            measure(base, f"1x{n}x1", args.policy, 1, cache=caches[who], root=roots[who])
        print(f"seconds per replay (best of the repetitions), this tree against {args.against}, "
              f"{args.policy}; rows alternate which runs first")
        rows = [(f"{name}, {n} CPUs", base, f"1x{n}x1", 5)]
        for k in (4, 16, 64, 128):
            rows.append((f"{name} x{k}, {n * k} CPUs", copies(wl, k, args.trace), f"1x{n * k}x1",
                         3 if k < 64 else 2))
        for i, (label, d, spec, reps) in enumerate(rows):
            order = list(roots) if i % 2 == 0 else list(roots)[::-1]
            got = {}
            for who in order:
                try:
                    got[who] = measure(d, spec, args.policy, reps, cache=caches[who], root=roots[who])
                except SystemExit as e:  # e.g. a workload the old version cannot read
                    raise SystemExit(f"{who}: {e}") from None
            new, old = got["this"], got[args.against]
            print(f"{label:<24} {args.against}: {old['best_s']:8.3f} s ({old['events']:>11,} events)   "
                  f"this: {new['best_s']:8.3f} s ({new['events']:>11,} events)   "
                  f"ratio {new['best_s'] / old['best_s']:.3f}")


if __name__ == "__main__":
    main()
