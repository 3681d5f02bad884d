"""Ingest benchmark: events/s and peak memory per reader and dialect.

    python benchmarks/ingest.py [--quick] [--synthetic N] [--no-binary]

Text dialects here; then (unless --no-binary) benchmarks/ingest_tracedat.py (trace.dat
v6 and v7 of long_mix, and trace-cmd report -R in the same run when installed) and
benchmarks/ingest_perfetto.py (a >= 10M-event compact_sched file).

Each measurement runs in a fresh subprocess (so peak RSS belongs to that read
alone): it imports schedreplay, warms the compile cache on a tiny trace, then
times ``traces.load`` on the file: the rate is the best run; the first run, which
also pays for first-touching the fresh memory its tables fill (dear on this VM,
whose host reclaims freed guest pages — free page reporting; see
traces._memory), is printed below it with the page faults it took, in MB of 4 KB
pages (huge pages, where used, count 4 KB each).
Each later run starts after the previous result was dropped, so its memory is
reused. Peak memory is the growth of the process's
peak RSS during the load (ru_maxrss), compared with the size of the resulting
Arrow tables. Cold start (numba compile from an empty cache) is measured once,
separately. Correctness is checked before timing: event counts must match the
corpus README's ground truth where it has the file.
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
WARM = ROOT / "tests" / "data" / "panopticon_ftrace.txt"

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import traces
t_import = time.perf_counter() - t0
path, warm, fmt = sys.argv[1], sys.argv[2], (sys.argv[3] or None)
t0 = time.perf_counter(); traces.load(warm); t_warm = time.perf_counter() - t0
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
runs = []
t = None
for i in range(int(sys.argv[4])):
    del t  # the previous result's memory is reused: later runs measure the reader, not fresh pages
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    t = traces.load(path, format=fmt)
    runs.append(time.perf_counter() - t0)
    if i == 0:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
arrow = sum(tb.nbytes for tb in t.to_arrow().values())
i = t.info()
print(json.dumps(dict(events=i["events"], counts=i["counts"], best_s=min(runs), runs=runs, peak_bytes=peak,
                      first_s=runs[0], fault_mb=faults * resource.getpagesize() / 1e6,
                      arrow_bytes=arrow, import_s=t_import, first_load_s=t_warm)))
"""


def measure(path: Path, fmt: str | None = None, repeat: int = 5, cache_dir: str | None = None) -> dict:
    env = dict(os.environ)
    if cache_dir:
        env["SCHEDREPLAY_CACHE_DIR"] = cache_dir
    p = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(WARM), fmt or "", str(repeat)],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode:
        raise SystemExit(f"measurement of {path} failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def row(label: str, r: dict, size: int) -> str:
    rate = r["events"] / r["best_s"]
    return (f"{label:<38} {r['events']:>11,} ev {r['best_s']:8.3f} s {rate / 1e6:7.2f} M ev/s "
            f"{size / r['best_s'] / 1e6:7.0f} MB/s  peak {r['peak_bytes'] / 1e6:8.1f} MB  "
            f"arrow {r['arrow_bytes'] / 1e6:8.1f} MB  ratio {r['peak_bytes'] / max(r['arrow_bytes'], 1):4.2f}\n"
            f"{'':<38} first run {r['first_s']:.3f} s ({r['events'] / r['first_s'] / 1e6:.2f} M ev/s), "
            f"{r['fault_mb']:.0f} MB of 4 KB page faults")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the synthetic 10M-event trace")
    ap.add_argument("--synthetic", type=int, default=10_000_000, help="events in the synthetic trace")
    ap.add_argument("--no-binary", dest="binary", action="store_false",
                    help="skip the trace.dat and Perfetto benchmarks (ingest_tracedat.py, ingest_perfetto.py)")
    args = ap.parse_args()
    from tests._groundtruth import parse_ground_truth

    truth = parse_ground_truth(CORPUS / "README.md")
    cases = [
        ("tracefs text (tracefs_hackbench)", "captures/tracefs_hackbench/tracefs.txt"),
        ("report pretty (a_hackbench report.txt)", "captures/a_hackbench/report.txt"),
        ("report -R (b_cyclictest_rt)", "captures/b_cyclictest_rt/report_raw.txt"),
        ("report -R .zst (long_mix)", "captures/long_mix/report_raw.txt.zst"),
        ("report -R .zst (f_ctxswitch)", "captures/f_ctxswitch/report_raw.txt.zst"),
        ("systrace html (gtech mytrace)", "public/gtech-perf-tool/mytrace.html"),
    ]
    print(f"python {sys.version.split()[0]}, one process per row, best of 5 runs (3 for the synthetic trace)")
    with tempfile.TemporaryDirectory() as cold:
        r = measure(CORPUS / cases[0][1], repeat=1, cache_dir=cold)
        print(f"import traces: {r['import_s']:.2f} s; first load with an empty compile cache "
              f"(numba compile, cold start): {r['first_load_s']:.2f} s")
    r = measure(CORPUS / cases[0][1], repeat=1)
    print(f"first load with a warm compile cache: {r['first_load_s']:.2f} s")
    for label, rel in cases:
        path = CORPUS / rel
        r = measure(path)
        want = truth.get(rel)
        if want and r["counts"] != want["counts"]:
            raise SystemExit(f"{rel}: counts {r['counts']} differ from ground truth {want['counts']}")
        print(row(label, r, path.stat().st_size))
    # decompressed long_mix: the parser alone, without zstd
    import zstandard

    from benchmarks._synth import CACHE, synthetic_ftrace

    CACHE.mkdir(parents=True, exist_ok=True)
    plain = CACHE / "long_mix.report_raw.txt"
    if not plain.exists():
        with open(CORPUS / "captures/long_mix/report_raw.txt.zst", "rb") as f, open(plain, "wb") as o:
            zstandard.ZstdDecompressor().copy_stream(f, o)
    print(row("report -R plain (long_mix)", measure(plain), plain.stat().st_size))
    if not args.quick:
        synth, n = synthetic_ftrace(CORPUS / "captures/long_mix/report_raw.txt.zst", args.synthetic)
        r = measure(synth, repeat=3)
        if r["events"] != n:
            raise SystemExit(f"synthetic trace: read {r['events']} events, wrote {n}")
        print(row(f"synthetic tracefs text ({n / 1e6:.1f}M events)", r, synth.stat().st_size))
    if args.binary:
        # the binary readers' own benchmarks (trace.dat v6/v7 against trace-cmd; Perfetto compact_sched)
        for script in ("ingest_tracedat.py", "ingest_perfetto.py"):
            print(f"\n== benchmarks/{script}")
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / script)]
                           + (["--events", "2000000"] if args.quick and script == "ingest_perfetto.py" else []),
                           cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
