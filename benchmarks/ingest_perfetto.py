"""Benchmark: ingesting a large compact_sched Perfetto trace.

Builds a Perfetto file of at least ``--events`` scheduler events (default
10M) by re-encoding a real capture with ``traces.perfetto_write`` (compact
sched_switch / sched_waking) and repeating it, each copy shifted in time and
its tids shifted so copies do not share tasks. Then reads it in fresh
subprocesses, cold (numba compiling into an empty SCHEDREPLAY_CACHE_DIR) and
warm (same cache), and prints for each: events/s of the reader alone
(``traces.perfetto.read``: file -> ReadResult; wall-clock and process CPU
time, the latter being what to compare on a busy machine) and of
``traces.load`` (the Arrow tables built), peak memory above the process
baseline, the size of the Arrow tables and the ratio of the two.

    python benchmarks/ingest_perfetto.py [--events N] [--source PATH] [--all-kinds] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SCHEDREPLAY_TRACES", ROOT.parent / "shared" / "traces"))
SOURCES = ["captures/long_mix/trace.dat", "captures/long_mix/report_raw.txt.zst",
           "public/ms-perf-tools/perfetto_trace_cpu_sampling_not_scoped.pftrace"]

# Runs in a fresh interpreter: read the file three times (reader only, the whole load,
# the reader again), report times and peak RSS above the baseline as JSON. The first read
# also pays for first-touching ~0.8 GB of fresh output memory (costly on this VM).
CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import numpy as np
import traces
from traces import perfetto
from traces._io import open_source

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
def peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

path, warmup = sys.argv[1], sys.argv[2]
out = {}
t0 = time.perf_counter()
traces.load(warmup)                      # compiles (cold) or loads (warm) the kernels
out["compile_s"] = time.perf_counter() - t0
base = rss_mb(); reset_peak()
t0, c0 = time.perf_counter(), time.process_time()
res = perfetto.read(open_source(path), "perfetto", None)
out["read_s"] = time.perf_counter() - t0
out["read_cpu_s"] = time.process_time() - c0
out["events"] = res.n_events
out["read_peak_mb"] = peak_mb() - base
del res
base = rss_mb(); reset_peak()
t0 = time.perf_counter()
t = traces.load(path)
out["load_s"] = time.perf_counter() - t0
out["load_peak_mb"] = peak_mb() - base
arrow = t.to_arrow()
out["arrow_mb"] = sum(tab.nbytes for tab in arrow.values()) / 2**20
out["events_mb"] = arrow["events"].nbytes / 2**20
del t, arrow
t0 = time.perf_counter()                 # the reader again: its output memory is no longer fresh
perfetto.read(open_source(path), "perfetto", None)
out["read_again_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def build_file(dest: Path, n_events: int, source: str | None, all_kinds: bool) -> tuple[Path, dict]:
    import numpy as np
    import polars as pl

    import traces
    from traces import schema
    from traces.perfetto_write import write_perfetto

    t0 = time.perf_counter()
    src = None
    for name in ([source] if source else SOURCES):
        try:
            src = traces.load(name if os.path.isabs(name) else CORPUS / name)
            break
        except Exception as exc:  # a reader missing or failing: try the next capture
            print(f"  (could not load {name}: {exc})", file=sys.stderr)
    if src is None:
        raise SystemExit("no source capture could be read")
    ev = src.events
    if not all_kinds:
        ev = ev.filter(pl.col("kind").is_in([schema.SWITCH, schema.WAKING]))
    span = int(ev["ts_ns"].max() - ev["ts_ns"].min()) + 1_000_000
    tid_step = int(max(ev["tid"].max(), ev["next_tid"].max(), ev["cur_tid"].max())) + 1
    reps = -(-n_events // len(ev))
    print(f"source: {src.path} ({len(ev)} events kept), repeated {reps} times")
    copies = []
    for k in range(reps):
        shift = {c: pl.when(pl.col(c) > 0).then(pl.col(c) + k * tid_step).otherwise(pl.col(c))
                 for c in ("tid", "next_tid", "cur_tid")}
        copies.append(ev.with_columns(ts_ns=pl.col("ts_ns") + k * span, **shift))
    big = pl.concat(copies)
    t1 = time.perf_counter()
    path = dest / "big.pftrace"
    write_perfetto(path, big, src.tasks, compact=True)
    t2 = time.perf_counter()
    info = {"source": str(src.path), "events": len(big), "prepare_s": t1 - t0, "write_s": t2 - t1,
            "file_mb": path.stat().st_size / 2**20}
    print(f"wrote {path}: {len(big):,} events, {info['file_mb']:.1f} MB in {info['write_s']:.1f} s "
          f"({np.float64(len(big)) / info['write_s'] / 1e6:.2f} M events/s)")
    return path, info


def run_child(path: Path, cache: Path, warmup: Path) -> dict:
    env = dict(os.environ, SCHEDREPLAY_CACHE_DIR=str(cache))
    env.pop("NUMBA_CACHE_DIR", None)
    r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(warmup), str(ROOT)],
                       env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise SystemExit(f"child failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--source", help="capture to repeat (default: long_mix, else another)")
    ap.add_argument("--all-kinds", action="store_true", help="keep every kind, not only switch/waking")
    ap.add_argument("--keep", help="write the file here and keep it")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dest = Path(args.keep) if args.keep else tmp
        dest.mkdir(parents=True, exist_ok=True)
        path, info = build_file(dest, args.events, args.source, args.all_kinds)
        warmup = tmp / "warmup.textproto"
        warmup.write_text("packet { ftrace_events { cpu: 0 compact_sched { intern_table: 'a' "
                          "switch_timestamp: 1 switch_prev_state: 0 switch_next_pid: 1 "
                          "switch_next_prio: 120 switch_next_comm_index: 0 } } }\n")
        cache = tmp / "numba-cache"
        for label in ("cold", "warm"):
            r = run_child(path, cache, warmup)
            n = r["events"]
            print(f"{label}: kernels {r['compile_s']:.1f} s | reader {r['read_s']:.2f} s = "
                  f"{n / r['read_s'] / 1e6:.1f} M events/s ({r['read_cpu_s']:.2f} s CPU = "
                  f"{n / r['read_cpu_s'] / 1e6:.1f} M events/s), peak +{r['read_peak_mb']:.0f} MB | "
                  f"traces.load {r['load_s']:.2f} s = {n / r['load_s'] / 1e6:.1f} M events/s, "
                  f"peak +{r['load_peak_mb']:.0f} MB | Arrow tables {r['arrow_mb']:.0f} MB "
                  f"(events {r['events_mb']:.0f} MB) | peak/Arrow: reader "
                  f"{r['read_peak_mb'] / r['arrow_mb']:.2f}, load {r['load_peak_mb'] / r['arrow_mb']:.2f} | "
                  f"reader again {r['read_again_s']:.2f} s = {n / r['read_again_s'] / 1e6:.1f} M events/s")


if __name__ == "__main__":
    main()
