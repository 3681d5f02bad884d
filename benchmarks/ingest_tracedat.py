"""Benchmark of the native trace.dat reader on long_mix (v6 and v7 copies).

Prints, per file: events/s cold (first call in a fresh process with an empty
numba cache, so it includes compiling the kernels) and warm (best of several
calls, kernels loaded), for the reader alone (``traces.tracedat.read``: file ->
column arrays) and for the whole ``traces.load`` (plus the Arrow/polars table
build); peak memory of one warm ``traces.load`` as

* ``tracemalloc`` peak: Python and NumPy allocations only (numba's own arrays
  and the mapped file are not seen), and
* ``ru_maxrss`` delta: the process high-water mark minus the resident size
  just before the load (everything, including the file pages the kernels
  touched through the memory map and numba-allocated arrays);

the size of the resulting Arrow tables (``Table.nbytes`` summed over events,
tasks, cpus, meta) and the ratio of each peak to it.

Every measurement runs in its own subprocess (``--child``) so caches and
high-water marks do not leak between them. Run from the project root:

    /tmp/venv/bin/python benchmarks/ingest_tracedat.py [--traces DIR] [--repeat N]

Timings depend on the machine and its load; nothing here asserts them.
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
FILES = ("captures/long_mix/trace.v6.dat", "captures/long_mix/trace.dat")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(mode: str, path: str, repeat: int) -> dict:
    import resource
    import tracemalloc

    t0 = time.perf_counter()
    import traces
    from traces import tracedat
    from traces._io import open_source

    out = {"import_s": time.perf_counter() - t0}
    if mode == "cold":
        t0 = time.perf_counter()
        src = open_source(path)
        r = tracedat.read(src, "tracedat", None)
        out["read_first_s"] = time.perf_counter() - t0
        out["events"] = r.n_events
        t0 = time.perf_counter()
        traces.load(path)
        out["load_second_s"] = time.perf_counter() - t0
        return out
    if mode == "warm":
        src = open_source(path)
        tracedat.read(src, "tracedat", None)  # load the kernels from the cache
        reads, loads = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = tracedat.read(src, "tracedat", None)
            reads.append(time.perf_counter() - t0)
            del r
        for _ in range(repeat):
            t0 = time.perf_counter()
            t = traces.load(path)
            loads.append(time.perf_counter() - t0)
        out.update(read_best_s=min(reads), read_median_s=sorted(reads)[len(reads) // 2],
                   load_best_s=min(loads), load_median_s=sorted(loads)[len(loads) // 2],
                   events=int(t.info()["events"]) + int((t.events["kind"] == 9).sum()))
        return out
    # mode == "mem": warm kernels on another file, then one load of ``path``
    traces.load(ROOT.parent / "shared" / "traces" / "captures" / "g_idle" / "trace.dat")
    import gc

    gc.collect()
    before = _rss_bytes()
    t = traces.load(path)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    tables = sum(tb.nbytes for tb in t.to_arrow().values())
    del t
    gc.collect()
    tracemalloc.start()
    t = traces.load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out.update(rss_delta_bytes=maxrss - before, tracemalloc_peak_bytes=peak, table_bytes=tables,
               events_table_bytes=t.to_arrow()["events"].nbytes)
    return out


def _run(mode: str, path: Path, repeat: int, cache: str) -> dict:
    env = dict(os.environ, SCHEDREPLAY_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
    env.pop("NUMBA_CACHE_DIR", None)
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(path), "--repeat", str(repeat)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"{mode} run on {path} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--traces", default=str(ROOT.parent / "shared" / "traces"))
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_child(a.child[0], a.child[1], a.repeat)))
        return
    mb = 1 / 2**20
    print(f"{'file':34} {'events':>8} {'cold read':>11} {'warm read':>11} {'warm load':>11} "
          f"{'tables':>8} {'tracemalloc':>12} {'rss delta':>10}")
    for rel in FILES:
        path = Path(a.traces) / rel
        with tempfile.TemporaryDirectory(prefix="schedreplay-cache-") as cache:
            cold = _run("cold", path, a.repeat, cache)   # empty cache: compiles
            warm = _run("warm", path, a.repeat, cache)   # cache filled by the cold run
            mem = _run("mem", path, a.repeat, cache)
        n = warm["events"]
        tb = mem["table_bytes"]
        print(f"{rel:34} {n:>8} {n / cold['read_first_s'] / 1e6:>7.2f} M/s "
              f"{n / warm['read_best_s'] / 1e6:>7.2f} M/s {n / warm['load_best_s'] / 1e6:>7.2f} M/s "
              f"{tb * mb:>6.1f}MB {mem['tracemalloc_peak_bytes'] * mb:>8.1f}MB "
              f"({mem['tracemalloc_peak_bytes'] / tb:.2f}x) {mem['rss_delta_bytes'] * mb:>6.1f}MB "
              f"({mem['rss_delta_bytes'] / tb:.2f}x)")
        print(f"{'':34} cold: import {cold['import_s']:.2f} s, first read {cold['read_first_s']:.2f} s "
              f"(numba compile included), next load {cold['load_second_s']:.3f} s; warm: read "
              f"best {warm['read_best_s'] * 1e3:.1f} ms / median {warm['read_median_s'] * 1e3:.1f} ms, "
              f"load best {warm['load_best_s'] * 1e3:.1f} ms / median {warm['load_median_s'] * 1e3:.1f} ms")
    print("events = scheduler events (+ LOST rows); 'read' = file -> column arrays, 'load' = read + "
          "table build; tracemalloc sees Python/NumPy allocations only, rss delta = ru_maxrss after "
          "the load minus the resident size before it (includes mapped file pages and numba arrays).")


if __name__ == "__main__":
    main()
