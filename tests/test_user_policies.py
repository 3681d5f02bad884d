"""Policies from outside the package (issue 18): the two example policies of docs/examples
loaded from a path, a module name and an entry point; their behaviour; every loading
mistake a one-line error naming the hook or field; a user's policy compiled once and cached
keyed on its sources, without touching the built-ins' cache entries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

import policies
from replay import testing as K
from replay.model.topology import from_spec
from traces.errors import TraceError

from .conftest import ROOT

EXAMPLES = ROOT / "docs" / "examples"
RR = EXAMPLES / "round_robin.py"
LAG = EXAMPLES / "eevdf_lag.py"
MS = 1_000_000


def cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})})


def intervals(policy, wl, spec="1x1x1", params=None):
    return K.replay_case(wl, from_spec(spec), policy, params).intervals


# -- loading: a path, a module name, an entry point ------------------------------------------------

def test_examples_load_from_a_path_and_replay(engine_ready):
    for path in (RR, LAG):
        mod = policies.get_policy(str(path))
        assert mod.DESCRIPTION and policies.get_policy(str(path)) is mod  # checked and loaded once
        iv = intervals(str(path), K.make_workload([dict(bursts=[dict(demand=5 * MS)])], end_ns=10 * MS))
        assert iv.filter(pl.col("state") == K.invariants.RUNNING)["end_ns"].max() == 5 * MS
        assert policies.policy_label(mod) == str(path)


def test_examples_load_by_module_name(engine_ready, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    mod = policies.get_policy("round_robin")
    assert mod.__name__ == "round_robin" and mod.__file__ == str(RR)
    wl = K.make_workload([dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1)])], end_ns=30 * MS)
    assert intervals("round_robin", wl).equals(intervals(str(RR), wl))


def _distribution(tmp_path: Path) -> Path:
    """An installed distribution as importlib.metadata finds one on sys.path: a dist-info
    folder with METADATA and entry_points.txt, registering both examples."""
    d = tmp_path / "site" / "example_policies-1.0.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text("Metadata-Version: 2.1\nName: example-policies\nVersion: 1.0\n")
    (d / "entry_points.txt").write_text("[schedreplay.policies]\nrr-example = round_robin\nlag-example = eevdf_lag\n")
    return tmp_path / "site"


def test_examples_load_through_an_entry_point(engine_ready, tmp_path, monkeypatch):
    site = _distribution(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.syspath_prepend(str(site))
    found = {e["name"]: e for e in policies.available()}
    assert found["rr-example"]["source"].startswith("example-policies 1.0") and found["eevdf"]["source"] == "built-in"
    assert found["lag-example"]["target"] == "eevdf_lag"
    mod = policies.get_policy("rr-example")
    assert mod.DESCRIPTION.startswith("weighted round robin")
    wl = K.make_workload([dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1, prio=125)])], end_ns=30 * MS)
    assert intervals("rr-example", wl).equals(intervals(str(RR), wl))


def test_policies_command_lists_installed_ones_with_descriptions_and_parameters(tmp_path):
    site = _distribution(tmp_path)
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    p = cli("policies", "--json", env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert list(rows)[:3] == ["eevdf", "cfs", "infinity"]
    assert rows["lag-example"]["description"].startswith("EEVDF keeping lag_percent")
    assert "lag_percent" in [x["name"] for x in rows["lag-example"]["params"]]
    assert [x["name"] for x in rows["rr-example"]["params"]][0] == "slice_ns" and rows["rr-example"]["error"] is None
    text = cli("replay", "--list-policies", env={**env, "COLUMNS": "200"})
    assert text.returncode == 0 and "rr-example" in text.stdout and "slice_ns=3000000" in text.stdout


def test_every_command_takes_a_policy_file(tmp_path):
    """replay, compare, sweep and validate take a policy file as they take a built-in name:
    eevdf_lag at 100 % is EEVDF figure for figure on the sample, and its row of a sweep
    (run by two workers, the path relative to the folder the sweep runs in) is that replay."""
    p = cli("replay", "@sample", "--policy", str(RR), "--param", "slice_ns=2ms", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(p.stdout)
    assert d["policy"] == str(RR) and d["params"]["slice_ns"] == 2_000_000 and d["wait_ns"]["count"] > 1000
    # one seed, the sweep row's (compare's default figures are medians of three)
    p = cli("compare", "@sample", "--policies", f"eevdf,{LAG}", "--param", "lag_percent=100", "--seeds", "1",
            "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    runs = json.loads(p.stdout)["runs"]
    assert [r["policy"] for r in runs] == ["eevdf", str(LAG)]
    assert runs[1]["params"]["lag_percent"] == 100 and "lag_percent" not in runs[0]["params"]
    for key in ("wait_ns", "wait_ns_by_cause", "context_switches", "migrations", "cpu_time_ns", "fairness"):
        assert runs[0][key] == runs[1][key], key
    out = tmp_path / "lag.parquet"
    rel = os.path.relpath(LAG, ROOT)
    p = cli("sweep", "@sample", "--policy", rel, "--grid", "lag_percent=0,100", "--workers", "2", "-o", str(out),
            cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = pl.read_parquet(out).sort("param.lag_percent")
    assert rows["policy"].to_list() == [rel, rel] and rows["param.lag_percent"].to_list() == [0, 100]
    assert rows["wait_ns.p99"][1] == runs[0]["wait_ns"]["p99"]
    assert rows["wait_ns_by_cause.wakeup.p99"][1] == runs[0]["wait_ns_by_cause"]["wakeup"]["p99"]
    assert rows["wait_ns_by_cause.wakeup.p99"][0] != rows["wait_ns_by_cause.wakeup.p99"][1]  # lag 0 is not EEVDF
    p = cli("validate", "@sample", "--policy", str(RR), "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    d = json.loads(p.stdout)
    assert d["policy"] == str(RR) and d["verdict"] in ("good", "rough", "unreliable")


def test_unknown_policy_lists_names_and_the_other_ways():
    with pytest.raises(TraceError, match=r"valid policies: eevdf, cfs, infinity \(or the path of a policy file"):
        policies.get_policy("bfs")
    with pytest.raises(TraceError, match="no such file"):
        policies.get_policy("./no_such_policy.py")


# -- the examples' behaviour ------------------------------------------------------------------------

def test_round_robin_takes_turns_of_its_slice(engine_ready):
    wl = K.make_workload([dict(bursts=[dict(demand=-1)]) for _ in range(3)], end_ns=40 * MS)
    iv = intervals(str(RR), wl, params={"hz": 1000, "slice_ns": "2ms"})
    runs = iv.filter((pl.col("state") == K.invariants.RUNNING) & (pl.col("start_ns") < 18 * MS)).sort("start_ns")
    a, b, c = wl.tasks["tid"].to_list()
    assert runs.select("tid", "start_ns", "end_ns").rows() == [
        (a, 0, 2 * MS), (b, 2 * MS, 4 * MS), (c, 4 * MS, 6 * MS), (a, 6 * MS, 8 * MS), (b, 8 * MS, 10 * MS),
        (c, 10 * MS, 12 * MS), (a, 12 * MS, 14 * MS), (b, 14 * MS, 16 * MS), (c, 16 * MS, 18 * MS)]


def test_round_robin_shares_follow_weights(engine_ready):
    from policies.weights import WEIGHT

    nices = [0, 5, -3]
    wl = K.make_workload([dict(bursts=[dict(demand=-1, prio=120 + n)]) for n in nices], end_ns=2000 * MS)
    iv = intervals(str(RR), wl, params={"hz": 1000})
    ran = iv.filter(pl.col("state") == K.invariants.RUNNING).group_by("tid").agg((pl.col("end_ns") - pl.col("start_ns"))
                                                                                 .sum().alias("t"))
    got = dict(ran.rows())
    w = np.array([WEIGHT[n + 20] for n in nices], float)
    for tid, wi in zip(wl.tasks["tid"].to_list(), w):
        assert abs(got[tid] / (2000 * MS) - wi / w.sum()) <= 0.01, (tid, got[tid], wi / w.sum())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=K.cases(K.mixed, K.topologies(max_cpus=4), K.engine_params(speed=False)))
def test_eevdf_lag_at_100_percent_is_eevdf(engine_ready, case):
    wl, topo, params = case
    a = K.replay_case(wl, topo, "eevdf", params).intervals
    b = K.replay_case(wl, topo, str(LAG), params).intervals
    assert a.equals(b)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=K.cases(K.interactive, K.topologies(max_cpus=1)))
def test_eevdf_lag_at_0_is_eevdf_without_place_lag_on_one_cpu(engine_ready, case):
    """Without migrations, dropping every waking task's lag is PLACE_LAG=off."""
    wl, topo, _ = case
    a = K.replay_case(wl, topo, "eevdf", {"PLACE_LAG": False}).intervals
    b = K.replay_case(wl, topo, str(LAG), {"lag_percent": 0}).intervals
    assert a.equals(b)


def test_eevdf_lag_changes_the_schedule_in_between(engine_ready):
    """A sleeper that comes back owed CPU preempts sooner with its whole lag than with half."""
    wl = K.make_workload([dict(bursts=[dict(demand=-1)]),
                          dict(bursts=[dict(demand=300_000, kind=0, start=0)] +
                               [dict(demand=300_000, kind=1, start=2 * MS) for _ in range(30)])], end_ns=100 * MS)
    full = intervals(str(LAG), wl, params={"hz": 1000})
    half = intervals(str(LAG), wl, params={"hz": 1000, "lag_percent": 50})
    assert not full.equals(half)


# -- loading mistakes: one line each ---------------------------------------------------------------

HEAD = """
from policies import eevdf as EV
from policies.api import hook, Param, make_state, rt, SIG
DESCRIPTION = "a test policy"
RT = EV.RT
N_TASK_COLS, N_CPU_COLS, state, PARAMS, pack = EV.N_TASK_COLS, EV.N_CPU_COLS, EV.state, EV.PARAMS, EV.pack
init_task, enqueue, dequeue, pick, set_next, put_prev = EV.init_task, EV.enqueue, EV.dequeue, EV.pick, EV.set_next, EV.put_prev
update_curr, check_preempt, tick, select_cpu, can_migrate = (EV.update_curr, EV.check_preempt, EV.tick, EV.select_cpu,
                                                             EV.can_migrate)
"""

#: EEVDF's per-task columns, which a policy reusing its state extends
EEVDF_COLS = policies.get_policy("eevdf").N_TASK_COLS

MISTAKES = {
    "missing hook": ("del tick\n", ["hook 'tick' is missing"]),
    "plain function": ("def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n    return 0\n",
                       ["hook 'tick' is a plain Python function", "@policies.api.hook"]),
    "lazy jit": ("import numba\n@numba.njit(cache=True)\ndef tick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n"
                 "    return 0\n", ["hook 'tick' is not compiled"]),
    "argument count": ("import numba\nfrom numba import types\nfrom policies.api import SIG\n"
                       "@numba.njit(types.int64(*SIG.args[:8]), cache=True)\n"
                       "def tick(TS, CS, PT, PC, PP, cpu, t, arg):\n    return 0\n",
                       ["hook 'tick' is compiled for 8 arguments", "has 9"]),
    "argument type": ("import numba\nfrom numba import types\nfrom policies.api import SIG\n"
                      "@numba.njit(types.int64(*SIG.args[:5], types.int32, *SIG.args[6:]), cache=True)\n"
                      "def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n    return 0\n",
                      ["hook 'tick' is compiled with argument 6 (cpu) as int32"]),
    "return type": ("import numba\nfrom numba import types\nfrom policies.api import SIG\n"
                    "@numba.njit(types.float64(*SIG.args), cache=True)\n"
                    "def tick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n    return 0.0\n",
                    ["hook 'tick' returns float64"]),
    "numba cannot compile": ("@hook\ndef tick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n    return no_such_name\n",
                             ["numba cannot compile it at", "(tick)", "no_such_name"]),
    "syntax error": ("def tick(:\n", ["SyntaxError", "bad.py:"]),
    "PARAMS not Params": ("PARAMS = (('slice', 1),) + RT.PARAMS\n", ["PARAMS[0] is a tuple, not a policies.api.Param"]),
    "PARAMS bad default": ("PARAMS = (Param('slice_ns', 'long', 'ns', '', 'a slice', 'ns'),) + RT.PARAMS\n",
                           ["PARAMS[0] ('slice_ns'): its default 'long' is not a"]),
    "PARAMS bad choice": ("PARAMS = (Param('mode', 'fast', '', '', 'a mode', 'choice', ('slow', 'quick')),) + RT.PARAMS\n",
                          ["PARAMS[0] ('mode'): its default 'fast' is not a valid value"]),
    "PARAMS duplicate": ("PARAMS = EV.PARAMS + (EV.PARAMS[0],)\n", ["('base_slice_ns'): the name is used twice"]),
    "PARAMS empty doc": ("PARAMS = (Param('x', 1, '', '', ''),) + RT.PARAMS\n", ["PARAMS[0] ('x'): doc is empty"]),
    "PARAMS without RT's": ("PARAMS = EV.OWN_PARAMS\n", ["PARAMS lacks its RT class's parameters (sched_rr_timeslice_ms)"]),
    "pack unaware of a param": ("PARAMS = EV.PARAMS + (Param('extra', 1, '', '', 'extra knob'),)\n",
                                ["pack refused its parameters by name", "unknown parameter 'extra'"]),
    "column count": ("N_TASK_COLS = EV.N_TASK_COLS + 1\n",
                     [f"state(3, 2) returns a per-task matrix of shape (3, {EEVDF_COLS}), but N_TASK_COLS is "
                      f"{EEVDF_COLS + 1}"]),
    "GROUPS not a bool": ("GROUPS = 'yes'\n", ["GROUPS is 'yes': True when the class schedules task groups"]),
    "no DESCRIPTION": ("del DESCRIPTION\n", ["DESCRIPTION is missing"]),
    "no RT": ("del RT\n", ["RT is missing"]),
    "RT class hook": ("import types as _t\nRT = _t.ModuleType('half_rt')\nRT.__dict__.update({k: getattr(EV.RT, k) for k "
                      "in dir(EV.RT) if not k.startswith('_') and k != 'pick'})\n",
                      ["its RT class half_rt: hook 'pick' is missing"]),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_loading_mistakes_are_one_line_errors(tmp_path, name):
    body, words = MISTAKES[name]
    path = tmp_path / "bad.py"
    path.write_text(HEAD + body)
    with pytest.raises(TraceError) as e:
        policies.get_policy(str(path))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"policy {path}: "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_parameter_named_like_the_engines_is_refused(tmp_path):
    path = tmp_path / "clash.py"
    path.write_text(HEAD + "PARAMS = EV.PARAMS + (Param('hz', 1, '', '', 'clashes'),)\n"
                    "def pack(values, n_cpus, hz):\n    values = dict(values or {}); values.pop('hz', None)\n"
                    "    return EV.pack(values, n_cpus, hz)\n")
    from replay.sim import all_params

    with pytest.raises(TraceError, match=r"PARAMS names hz, which the engine's parameters use"):
        all_params(str(path))


def test_not_a_policy_module():
    with pytest.raises(TraceError, match=r"policy json: json is not a policy module: it defines none of the hooks"):
        policies.get_policy("json")


def test_a_loading_mistake_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(HEAD + MISTAKES["column count"][0])
    for args in (["replay", "--policy", str(path), "--list-params"], ["check", str(path)]):
        p = cli(*args)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
        lines = [x for x in p.stderr.strip().splitlines() if not x.startswith("schedreplay: compiling")]
        assert len(lines) == 1 and lines[0].startswith(f"schedreplay: error: policy {path}: state(3, 2)"), p.stderr


def test_a_pick_returning_a_task_not_queued_stops_the_replay_with_one_line(engine_ready, tmp_path):
    path = tmp_path / "badpick.py"
    path.write_text(HEAD + "@hook\ndef pick(TS, CS, PT, PC, PP, cpu, t, arg, now):\n"
                    "    return EV.pick(TS, CS, PT, PC, PP, cpu, t, arg, now) + 1\n")
    wl = K.make_workload([dict(bursts=[dict(demand=MS)]), dict(bursts=[dict(demand=MS)])], end_ns=5 * MS)
    with pytest.raises(TraceError, match=r"badpick.py: its pick hook returned a task that is not queued on that CPU"):
        K.replay_case(wl, from_spec("1x1x1"), str(path))


def test_a_select_cpu_the_task_may_not_use_keeps_the_shared_placement(engine_ready, tmp_path):
    path = tmp_path / "anycpu.py"
    path.write_text(HEAD + "@hook\ndef select_cpu(TS, CS, PT, PC, PP, cpu, t, prev, now):\n    return 0\n")
    wl = K.make_workload([dict(bursts=[dict(demand=-1)], pinned=1), dict(bursts=[dict(demand=-1)])], end_ns=5 * MS,
                         n_cpus=2)
    iv = K.replay_case(wl, from_spec("1x2x1"), str(path)).intervals
    ran = iv.filter((pl.col("state") == K.invariants.RUNNING) & (pl.col("tid") == 100))
    assert set(ran["cpu"].to_list()) == {1}  # pinned to 1 although the hook says 0
    assert set(iv.filter((pl.col("state") == K.invariants.RUNNING) & (pl.col("tid") == 101))["cpu"]) == {0}


# -- compiled once, cached by its sources, the built-ins' cache untouched --------------------------

LOAD = textwrap.dedent("""
    import sys, traces._numba as N
    N.announce_compiles(lambda m: print("NOTICE", m))
    from replay import testing as K
    from replay.model.topology import from_spec
    wl = K.make_workload([dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1)])], end_ns=20_000_000)
    r = K.replay_case(wl, from_spec("1x2x1"), sys.argv[1])
    from replay.sim import _engine
    print("SIGNATURES", len(_engine.compiled().signatures), r.intervals.height)
""")


def _cache_files(base: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in base.rglob("*") if p.is_file() and "user" not in p.relative_to(base).parts}


def test_a_users_policy_compiles_once_and_is_cached_by_its_sources(engine_ready, tmp_path):
    from traces._numba import CACHE_DIR

    pol = tmp_path / "mine"
    pol.mkdir()
    (pol / "my_slice.py").write_text("SLICE = 3_000_000\n")
    text = RR.read_text().replace('Param("slice_ns", 3_000_000,', 'Param("slice_ns", SLICE,').replace(
        "import numpy as np\n", "import numpy as np\nfrom my_slice import SLICE\n")
    (pol / "my_rr.py").write_text(text)

    def load():
        p = subprocess.run([sys.executable, "-c", LOAD, str(pol / "my_rr.py")], capture_output=True, text=True,
                           cwd=tmp_path)
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout

    first = load()
    assert f"NOTICE schedreplay: compiling policy {pol / 'my_rr.py'} with numba" in first
    assert "compiling its numba kernels" not in first  # the engine and the built-ins come from the cache
    assert "SIGNATURES 1" in first  # the engine is not compiled again for another policy
    before = _cache_files(Path(CACHE_DIR))
    assert "NOTICE" not in load()  # the second time: from the cache
    (pol / "my_slice.py").write_text("SLICE = 2_000_000\n")  # a helper beside it changes: compiled anew
    assert "NOTICE schedreplay: compiling policy" in load()
    assert _cache_files(Path(CACHE_DIR)) == before  # the built-ins' cache entries were not touched
    assert list((Path(CACHE_DIR) / "user").glob(f"mine_*/my_rr*.nbi"))
