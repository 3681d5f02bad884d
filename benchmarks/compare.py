"""`compare` with the HTML report, end to end: wall time and peak memory of the command.

    python benchmarks/compare.py [TRACE] [--runs 3] [--policies observed,cfs,eevdf,infinity]
                                 [--topology recorded --topology 2x8x2] [--checkout DIR]

Runs ``python -m replay compare TRACE --policies ... -t ... --report OUT.html`` in fresh
processes (default TRACE: the corpus's long_mix/trace.dat, 4 policies x 2 topologies,
as the demo). The first run fills the compile cache (its time is printed, not ranked);
then ``--runs`` warm runs: best and median wall time, peak resident memory (the child's
maxrss). ``--checkout DIR`` runs the command of another checkout of the project (e.g. a
``git worktree`` of an earlier commit) in alternation with this one, so that both are
measured under the same machine load: the printed ratio is this checkout's best over
that one's.

Before timing, each command's report must hold the comparison table with a row per run.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SCHEDREPLAY_TRACES", ROOT.parent / "shared" / "traces"))


def one_run(checkout: Path, trace: str, policies: str, topologies: list[str], out: Path) -> tuple[float, float]:
    """(wall s, peak RSS MB) of one compare --report in a fresh process of ``checkout``."""
    cmd = [sys.executable, "-m", "replay", "compare", trace, "--policies", policies, "--report", str(out)]
    for t in topologies:
        cmd += ["-t", t]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{checkout}: compare failed ({p.returncode}):\n{p.stderr[-2000:]}")
    rows = len(re.findall(r"<tr[^>]*data-run=", out.read_text(encoding="utf-8")))
    n = len([x for x in policies.split(",") if x and x != "observed"]) * len(topologies) + ("observed" in policies)
    if rows != n:
        sys.exit(f"{checkout}: the report has {rows} comparison rows, expected {n}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024  # ru_maxrss of the largest child so far, KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace", nargs="?", default=str(CORPUS / "captures" / "long_mix" / "trace.dat"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--policies", default="observed,cfs,eevdf,infinity")
    ap.add_argument("--topology", "-t", action="append", default=None)
    ap.add_argument("--checkout", type=Path, default=None, help="another checkout to measure alongside")
    a = ap.parse_args()
    topologies = a.topology or ["recorded", "2x8x2"]
    checkouts = [("this", ROOT)] + ([("other", a.checkout.resolve())] if a.checkout else [])
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "report.html"
        for name, co in checkouts:
            wall, _ = one_run(co, a.trace, a.policies, topologies, out)
            print(f"{name} ({co}): first run (compile cache filled if empty) {wall:.2f} s", file=sys.stderr)
        times: dict[str, list[float]] = {n: [] for n, _ in checkouts}
        peaks: dict[str, float] = {}
        for _ in range(a.runs):
            for name, co in checkouts:  # alternate: both see the same machine load
                wall, _ = one_run(co, a.trace, a.policies, topologies, out)
                times[name].append(wall)
        for name, co in checkouts:  # peak memory: one more run each, alone among the children measured
            code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                    "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            cmd = [sys.executable, "-c", code, sys.executable, "-m", "replay", "compare", a.trace, "--policies",
                   a.policies, "--report", str(out)] + [x for t in topologies for x in ("-t", t)]
            p = subprocess.run(cmd, cwd=co, env={**os.environ, "PYTHONPATH": str(co)}, capture_output=True,
                               text=True, check=True)
            peaks[name] = int(p.stdout.strip()) / 1024
    print(f"compare {os.path.relpath(a.trace)} --policies {a.policies} "
          f"{' '.join('-t ' + t for t in topologies)} --report: {a.runs} warm runs")
    for name, co in checkouts:
        ts = times[name]
        print(f"  {name:5s} best {min(ts):6.2f} s  median {statistics.median(ts):6.2f} s  peak RSS "
              f"{peaks[name]:7.0f} MB  ({co})")
    if len(checkouts) == 2:
        print(f"  this / other (best): {min(times['this']) / min(times['other']):.2f}")


if __name__ == "__main__":
    main()
