"""First run: the wall time of a command on an empty compile cache, with and without the
second process that compiles the engine while the command reads the trace
(replay/sim/warm.py), and the same command again on the filled cache.

    python benchmarks/first_run.py [--rounds N] [-- COMMAND ARGS...]

The command defaults to the README's first one, ``schedreplay demo --no-report``. Each
round runs it twice, each time in a fresh cache folder, once with SCHEDREPLAY_WARM=0 and
once without (alternating which goes first), then once more on the second run's cache
(warm start). Printed per run: wall seconds and CPU seconds (user + system, the command
and its children): the second process saves wall time, not CPU time.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(wall s, CPU s of the command and its children, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("command", nargs="*", help="the schedreplay command and its arguments (after --)")
    a = ap.parse_args()
    cmd = [sys.executable, "-m", "replay", *(a.command or ["demo", "--no-report"])]
    print(f"command: schedreplay {' '.join(cmd[3:])}; {len(os.sched_getaffinity(0))} CPUs")
    print("| round | second process | cache | wall s | CPU s |")
    print("|---|---|---|---|---|")
    for k in range(a.rounds):
        order = ("0", "1") if k % 2 == 0 else ("1", "0")
        for warm in order:
            with tempfile.TemporaryDirectory(prefix="schedreplay-first-run-") as cache:
                env = {**os.environ, "SCHEDREPLAY_CACHE_DIR": cache, "SCHEDREPLAY_WARM": warm}
                wall, cpu, _ = timed(cmd, env)
                print(f"| {k + 1} | {'on' if warm == '1' else 'off'} | empty | {wall:.1f} | {cpu:.1f} |", flush=True)
                if warm == "1":
                    wall, cpu, _ = timed(cmd, env)
                    print(f"| {k + 1} | on | filled | {wall:.1f} | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
