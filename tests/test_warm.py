"""The engine compiled in a second process on a first run (replay/sim/warm.py): when it
starts, what it compiles, and that the kernels it leaves in the cache are the ones a
replay of a real trace then loads instead of compiling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from replay.sim import warm
from traces import _numba

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of its own, and a Popen that records instead of starting a child."""
    monkeypatch.setattr(_numba, "CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(warm.ENV, raising=False)
    monkeypatch.setattr(warm, "_cpus", lambda: 2)
    started = []

    class FakePopen:
        def __init__(self, args, **kw):
            started.append((args, kw))

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(warm.subprocess, "Popen", FakePopen)
    yield started
    _numba.wait_for_helper()


def test_a_child_compiles_the_built_in_policies_not_yet_cached(cache):
    warm.done("cfs")
    assert warm.start(["cfs", "eevdf", "infinity", "./my_policy.py"])
    (args, kw), = cache
    assert args[:4] == [sys.executable, "-c", warm.CHILD, warm.ROOT] and args[4:] == ["eevdf", "infinity"]
    assert kw["env"][warm.ENV] == "0" and kw["stdout"] == subprocess.DEVNULL  # silent, and no grandchild


def test_the_engine_is_compiled_with_eevdf_for_a_users_policy(cache):
    assert warm.start(["./my_policy.py"])
    assert cache[0][0][4:] == ["eevdf"]


def test_no_child_when_everything_is_cached_or_it_cannot_help(cache, monkeypatch):
    for name in ("eevdf", "cfs"):
        warm.done(name)
    assert not warm.start(["cfs", "eevdf"])  # a warm start pays for no second process
    assert not warm.start(["./my_policy.py"])  # the engine: cached with eevdf
    monkeypatch.setenv(warm.ENV, "0")
    assert not warm.start(["infinity"])
    monkeypatch.delenv(warm.ENV)
    monkeypatch.setattr(warm, "_cpus", lambda: 1)
    assert not warm.start(["infinity"])  # one CPU: the child would only compete
    assert cache == []


def test_only_built_in_policies_are_marked(cache, tmp_path):
    warm.done("./my_policy.py")
    warm.done("my_installed_policy")
    assert not (tmp_path / "warm").exists()
    warm.done("infinity")
    assert sorted(p.name for p in (tmp_path / "warm").iterdir()) == ["infinity"]


def test_waiting_for_the_helper_waits_for_it_and_stops_one_that_hangs():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    _numba.set_helper(p)
    _numba.wait_for_helper()
    assert p.returncode == 0
    _numba.wait_for_helper()  # none left: returns at once
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _numba.set_helper(p)
    _numba.wait_for_helper(timeout_s=0.2)
    assert p.returncode is not None and p.returncode != 0  # stopped


LISTENER = """
import json, sys, numba.core.event as ev
compiled = []
class L(ev.Listener):
    def on_start(self, e): pass
    def on_end(self, e): compiled.append(e.data["dispatcher"].py_func.__module__)
ev.register("numba:compile", L())
import replay
p = replay.prepare(sys.argv[1])
sched, info = replay.replay(p, policy="eevdf")
print(json.dumps({"compiled": sorted(set(compiled)), "intervals": sched.intervals.height}))
"""


def test_the_childs_kernels_are_the_ones_a_replay_of_a_real_trace_loads(tmp_path):
    """A fresh cache: the child's work (main) compiles the engine and EEVDF; a replay of a
    real trace afterwards, in another process, compiles its reader, observed schedule and
    metrics but loads every kernel of the engine and of the policy."""
    env = {**os.environ, "SCHEDREPLAY_CACHE_DIR": str(tmp_path / "cache"), warm.ENV: "0"}
    child = subprocess.run([sys.executable, "-c", warm.CHILD, warm.ROOT, "eevdf"], env=env, capture_output=True,
                           text=True, timeout=900)
    assert child.returncode == 0, child.stderr
    r = subprocess.run([sys.executable, "-c", LISTENER, str(DATA / "panopticon_ftrace.txt")], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["intervals"] > 0
    assert "traces._textkernel" in out["compiled"]  # the reader was not cached: this process compiled
    assert not [m for m in out["compiled"] if m.startswith(("replay.sim", "policies"))], out["compiled"]


def test_the_child_imports_the_packages_this_process_imported(tmp_path):
    """Run from a folder holding another copy of the packages (a source checkout beside an
    installed schedreplay: ``python -c`` puts the working directory first), the child still
    imports this process's: numba files cache entries by source folder, and a child that
    compiled another copy's kernels would save the command nothing. Here the other copy
    is a decoy that fails on import."""
    for pkg in ("replay", "policies", "traces"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    # the premise: a plain `python -c` there imports the decoy
    plain = subprocess.run([sys.executable, "-c", "import replay"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    assert plain.returncode != 0 and "the decoy was imported" in plain.stderr
    r = subprocess.run([sys.executable, "-c", warm.CHILD, warm.ROOT], cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert Path(warm.ROOT) == Path(warm.__file__).resolve().parents[2]
