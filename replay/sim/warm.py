"""The engine compiled in a second process while this one reads the trace.

A first run compiles for a minute or more: the trace's reader, the observed schedule and
the metrics in this process, then the policies and the engine. The two halves do not
depend on each other, and numba's compile cache is shared on disk (each entry written to
a temporary file and renamed into place), so a command that will replay calls ``start``
before it reads the trace: a child process (``main(POLICY ...)``) imports the policies
and replays a small built-in workload through each, which compiles the engine and the
policies into the cache, while this process reads the trace. Before this process imports
a policy (policies._loader) or runs the engine (``simulate``) it waits for the child,
and then loads those kernels instead of compiling them again.

The child starts only when there is something to compile: after a replay through a
policy has run, in either process, a marker in the cache folder (``warm/NAME``) says that
the engine and that policy are cached, and a warm start does not pay for a second
process's imports. Nor on a machine with one CPU, nor with ``SCHEDREPLAY_WARM=0``. A
child that fails only costs its time: this process compiles what it lacks, as without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from policies import POLICIES
from traces import _numba

#: SCHEDREPLAY_WARM=0 turns the second process off
ENV = "SCHEDREPLAY_WARM"
#: the child's program (not ``-m`` of this module, which the package has imported already).
#: It imports the packages from where this process did (argv[1]): numba files a kernel's
#: cache entry under its source file's folder and checks that file's time and size, so a
#: child that imported another copy (``python -c`` puts the working directory first: a
#: source checkout beside an installed package) would compile for nothing
CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from replay.sim.warm import main; sys.exit(main(sys.argv[2:]))"
#: the folder holding this process's replay, policies and traces packages
ROOT = str(Path(__file__).resolve().parents[2])


def _marker(name: str) -> Path:
    return Path(_numba.CACHE_DIR) / "warm" / name


def cached(name: str) -> bool:
    """Whether a replay through built-in policy ``name`` has run with these sources: the
    engine and the policy's kernels are in the cache."""
    return _marker(name).exists()


def done(name: str) -> None:
    """Note that a replay through ``name`` ran (its kernels are cached); only built-in names
    are noted (a user's policy is cached apart, keyed by its own sources). An unwritable
    cache folder is left alone: numba did not cache there either."""
    if name not in POLICIES or cached(name):
        return
    try:
        _marker(name).parent.mkdir(parents=True, exist_ok=True)
        _marker(name).touch()
    except OSError:
        pass


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def start(policies) -> bool:
    """Compile the engine and the built-in ``policies`` (names; others are left to this
    process, the engine is then compiled with eevdf) in a child process, unless all are
    cached, the machine has one CPU or SCHEDREPLAY_WARM=0. True when a child started."""
    if os.environ.get(ENV, "1") == "0" or _cpus() < 2:
        return False
    names = [p for p in dict.fromkeys(policies) if isinstance(p, str) and p in POLICIES] or ["eevdf"]
    todo = [n for n in names if not cached(n)]
    if not todo:
        return False
    try:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, ROOT, *todo], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, ENV: "0"})
    except OSError:
        return False
    _numba.set_helper(proc)
    return True


def workload():
    """A small workload that reaches the engine's rules: two CPUs, a hog, a task that
    sleeps and is woken by another, a fork."""
    from replay.model.workload import ACT_FORK, ACT_WAKE, START_AFTER, START_BY, make_workload

    ms = 1_000_000
    tasks = [{"bursts": [{"demand": 6 * ms}]},
             {"bursts": [{"demand": ms}, {"demand": ms, "kind": START_BY}]},
             {"bursts": [{"demand": 2 * ms}, {"demand": ms, "kind": START_AFTER, "start": ms}]},
             {"bursts": [{"demand": ms, "kind": START_BY}]}]
    actions = [(0, 2 * ms, 1, 1, ACT_WAKE), (2, ms, 3, 0, ACT_FORK)]
    return make_workload(tasks, actions, end_ns=20 * ms, n_cpus=2)


def main(names: list[str]) -> int:
    """The child: replay ``workload()`` through each policy (compiling into the cache)."""
    from replay.sim.engine import simulate

    wl = workload()
    for name in names:
        simulate(wl, name)  # marks the policy done
    return 0
