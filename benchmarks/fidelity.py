"""Fidelity: `validate` on every capture of the corpus, as the README's table.

    python benchmarks/fidelity.py [--corpus DIR] [--policy P] [--json]

For each captures/*/trace.dat: the trace replayed under its recorded policy (EEVDF for the
Linux 6.18 captures) on its recorded topology, against the recording. Relative errors are
(replayed - observed) / observed; CPU time is the mean and max of |error| over tasks with
at least 1 ms of recorded CPU time. The goal (issue 4) is wait p50 and p99 within 10% and
per-task CPU time within 2%. Also printed: the replay's simulated events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# The script's own folder holds benchmarks/replay.py, which would shadow the replay package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.environ.get("SCHEDREPLAY_TRACES",
                                                       str(Path(__file__).resolve().parents[2] / "shared" / "traces")))
    ap.add_argument("--policy", default=None, help="replay policy (default: the recorded one)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    import traces
    from replay.study.validation import validate

    captures = sorted(Path(a.corpus, "captures").glob("*/trace.dat"))
    if not captures:
        sys.exit(f"no captures/*/trace.dat under {a.corpus} (--corpus or $SCHEDREPLAY_TRACES)")
    rows = []
    for path in captures:
        t0 = time.perf_counter()
        v = validate(traces.load(path), policy=a.policy)
        rows.append(dict(capture=path.parent.name, policy=v["policy"], topology=v["topology"],
                         wait_p50_rel_err=v["wait_p50_rel_err"], wait_p99_rel_err=v["wait_p99_rel_err"],
                         cpu_time_rel_err_mean=v["cpu_time_rel_err_mean"],
                         cpu_time_rel_err_max=v["cpu_time_rel_err_max"], cpu_time_tasks=v["cpu_time_tasks"],
                         switches_rel_err=v["switches_rel_err"], migrations_rel_err=v["migrations_rel_err"],
                         events_simulated=v["events_simulated"], replay_s=v["wall_s"],
                         total_s=time.perf_counter() - t0))
        print(f"{path.parent.name}: done in {rows[-1]['total_s']:.1f} s", file=sys.stderr)
    if a.json:
        print(json.dumps(rows, indent=2))
        return

    def pct(x):
        return "n/a" if x is None else f"{100 * x:+.1f}%"

    print("| capture | policy | wait p50 | wait p99 | CPU time mean / max (tasks) | switches | migrations |"
          " replay events/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = ("n/a" if r["cpu_time_rel_err_mean"] is None else
               f"{100 * r['cpu_time_rel_err_mean']:.1f}% / {100 * r['cpu_time_rel_err_max']:.1f}% "
               f"({r['cpu_time_tasks']})")
        print(f"| {r['capture']} | {r['policy']} | {pct(r['wait_p50_rel_err'])} | {pct(r['wait_p99_rel_err'])} | "
              f"{cpu} | {pct(r['switches_rel_err'])} | {pct(r['migrations_rel_err'])} | "
              f"{r['events_simulated'] / max(r['replay_s'], 1e-9) / 1e6:.2f}M |")


if __name__ == "__main__":
    main()
