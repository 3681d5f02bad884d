"""The public fairness kit (replay.testing; docs/testing-a-policy.md) tested on its own.

* Each invariant check catches a schedule that breaks it: a real replay through a planted
  bug (tests/policies) where a policy can break it, a replay doctored by hand where only
  an engine bug could; its counterexample names what broke, where and when.
* `schedreplay check` finds each planted bug from the command line (exit 1, the violated
  invariant with its shrunk counterexample), and the built-ins and both examples of
  docs/examples pass the whole suite.
* The strategies reach what they promise (SMT, LLCs, NUMA, big and little cores; affinity
  sets, forks, wakeup chains, RT load) and draw a policy's parameters from its ranges.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest
from hypothesis import HealthCheck, find, given, settings

from replay import testing as K
from replay.model.topology import from_spec
from replay.model.workload import START_BY
from traces.errors import TraceError

from .conftest import ROOT

MS = 1_000_000
PLANTED = ROOT / "tests" / "policies"
RR = ROOT / "docs" / "examples" / "round_robin.py"
LAG = ROOT / "docs" / "examples" / "eevdf_lag.py"
RUNNING, RUNNABLE = K.invariants.RUNNING, K.invariants.RUNNABLE
#: examples per invariant where a test runs the whole suite: a fifth of the hypothesis
#: profile's count (default 12, ci 20, thorough 400)
SUITE_EXAMPLES = max(10, settings().max_examples // 5)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"}, timeout=900)


def run(tasks, spec="1x1x1", policy="eevdf", params=None, end_ns=20 * MS) -> K.Run:
    wl = K.make_workload(tasks, end_ns=end_ns, n_cpus=from_spec(spec).n_cpus)
    return K.replay_case(wl, from_spec(spec), policy, params)


def doctored(r: K.Run, intervals: pl.DataFrame) -> K.Run:
    """The run with other intervals (what a broken engine could have produced)."""
    return K.Run(r.workload, r.topology, r.policy, r.params, r.seed, intervals)


def violation(check, r, *args) -> K.InvariantViolation:
    with pytest.raises(K.InvariantViolation) as e:
        check(r, *args)
    assert isinstance(e.value, AssertionError)
    return e.value


# -- each check catches what breaks it -------------------------------------------------------------

def test_two_tasks_on_one_cpu_and_a_task_off_its_cpus_are_caught(engine_ready):
    r = run([dict(bursts=[dict(demand=-1)], pinned=0), dict(bursts=[dict(demand=-1)], pinned=1)], "1x2x1")
    K.check_one_task_per_cpu(r)
    K.check_affinity(r)
    moved = doctored(r, r.intervals.with_columns(cpu=pl.when(pl.col("tid") == 101).then(0).otherwise(pl.col("cpu"))
                                                 .cast(pl.Int16)))
    v = violation(K.check_one_task_per_cpu, moved)
    assert v.message == "CPU 0 runs tasks 100 and 101 at once" and v.cpus == (0,) and v.at_ns == 0
    v = violation(K.check_affinity, moved)
    assert v.message == "task 101 runs on CPU 0, but may use only CPU 1"


def test_a_task_on_two_cpus_is_caught(engine_ready):
    r = run([dict(bursts=[dict(demand=5 * MS)])], "1x2x1")
    K.check_one_cpu_per_task(r)
    first = r.intervals.filter(pl.col("state") == RUNNING).head(1)
    twice = doctored(r, pl.concat([r.intervals, first.with_columns(cpu=pl.lit(1 - first["cpu"][0], pl.Int16))]))
    v = violation(K.check_one_cpu_per_task, twice)
    assert v.message == f"task 100 runs on CPUs {first['cpu'][0]} and {1 - first['cpu'][0]} at once"


def test_an_affinity_set_is_kept_and_a_run_outside_it_is_caught(engine_ready):
    """Three hogs that may use CPUs 1 and 2 of four: they never run on 0 or 3."""
    r = run([dict(bursts=[dict(demand=-1)], affinity=[1, 2]) for _ in range(3)], "1x4x1", end_ns=50 * MS)
    ran = r.intervals.filter(pl.col("state") == RUNNING)
    assert set(ran["cpu"].to_list()) == {1, 2}
    assert r.allowed() == {100: (1, 2), 101: (1, 2), 102: (1, 2)}
    K.check_affinity(r)
    K.check_work_conservation(r)  # CPUs 0 and 3 idle, but none of the waiting tasks may use them
    off = doctored(r, r.intervals.with_columns(cpu=pl.when((pl.col("tid") == 102) & (pl.col("state") == RUNNING))
                                               .then(3).otherwise(pl.col("cpu")).cast(pl.Int16)))
    v = violation(K.check_affinity, off)
    assert v.message == "task 102 runs on CPU 3, but may use only CPUs 1,2"
    assert "  102  t2    nice 0  1,2   0      open" in str(v)  # the workload table shows the set


def test_work_done_short_of_the_demand_is_caught(engine_ready):
    r = run([dict(bursts=[dict(demand=5 * MS)])])
    K.check_demand(r)
    short = doctored(r, r.intervals.with_columns(end_ns=pl.when(pl.col("state") == RUNNING).then(4 * MS)
                                                 .otherwise(pl.col("end_ns"))))
    v = violation(K.check_demand, short)
    assert v.message == "task 100's burst 0 ended after 4.000000 ms of work, but its bursts so far asked for 5.000000 ms"


def test_a_burst_starting_early_is_caught(engine_ready):
    r = run([dict(bursts=[dict(demand=MS, start=2 * MS)])])
    K.check_causality(r)
    early = doctored(r, r.intervals.with_columns(start_ns=pl.when(pl.col("start_ns") == 2 * MS).then(MS)
                                                 .otherwise(pl.col("start_ns"))))
    v = violation(K.check_causality, early)
    assert v.message == "task 100's burst 0 should begin at 2.000 ms, began at 1.000 ms"


def test_a_schedule_that_a_second_replay_does_not_give_is_caught(engine_ready):
    r = run([dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1)])])
    K.check_determinism(r)
    other = doctored(r, r.intervals.with_columns(end_ns=pl.when(pl.col("end_ns") == 20 * MS).then(19 * MS)
                                                 .otherwise(pl.col("end_ns"))))
    assert "a second replay differs from row" in violation(K.check_determinism, other).message


def test_an_idle_cpu_beside_a_waiting_task_is_caught(engine_ready):
    """The planted bug: an idle CPU does not pick a task of positive nice."""
    tasks = [dict(bursts=[dict(demand=MS, prio=125, start=MS)])]
    K.check_work_conservation(run(tasks))
    v = violation(K.check_work_conservation, run(tasks, policy=str(PLANTED / "idle_with_work.py")))
    # waiting from 1 ms to the end (20 ms); the bound: no measured wakeup latency + a tick (250 Hz)
    assert v.message == "CPU 0 idles for 19.000 ms while task 100 waits on it (bound 4.000 ms)"
    assert (v.at_ns, v.tids, v.cpus) == (MS, (100,), (0,))


def test_a_share_off_the_weights_is_caught(engine_ready):
    """Two hogs on one CPU, nice 0 and 19 (weights 1024 and 15): EEVDF gives nice 0 its
    98.6 %; the planted bug never takes the CPU back from the nice-19 one."""
    tasks = [dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1, prio=139)])]
    ok = run(tasks, end_ns=400 * MS)
    K.check_weighted_share(ok)
    bad = run(tasks, policy=str(PLANTED / "never_preempt_nice19.py"), end_ns=400 * MS)
    v = violation(K.check_weighted_share, bad)
    ran = bad.intervals.filter((pl.col("state") == RUNNING) & (pl.col("start_ns") < 200 * MS)) \
        .group_by("tid").agg((pl.col("end_ns").clip(upper_bound=200 * MS) - pl.col("start_ns")).sum().alias("ns"))
    got = dict(ran.rows())
    assert got[101] > 150 * MS  # the nice-19 hog kept the CPU
    assert v.message.startswith(f"task 100 ran {got.get(100, 0) / 1e6:.1f} ms of CPU 0 in the 200 ms window from "
                                "0.000 ms; its weight's part of the 200.0 ms the CPU-bound tasks there got was "
                                f"{200 * 1024 / 1039:.1f} ms (bound ±")
    assert v.tids == (100, 101) and v.cpus == (0,)


def test_an_rt_task_waiting_behind_a_less_urgent_one_is_caught(engine_ready):
    """An RT hog (rtprio 49) and a more urgent RT task (rtprio 89) waking at 1 ms."""
    tasks = [dict(bursts=[dict(demand=-1, prio=50)]), dict(bursts=[dict(demand=2 * MS, prio=10, start=MS)])]
    K.check_rt_strict(run(tasks))
    v = violation(K.check_rt_strict, run(tasks, policy=str(PLANTED / "rt_never_preempts.py")))
    assert v.message == "RT task 101 waits on CPU 0 while the less urgent task 100 runs there (19.000 ms)"


def test_fair_tasks_starved_longer_than_the_bound_are_caught(engine_ready):
    """An RT hog and a fair hog on one CPU, fair server 5 ms every 50 ms: the fair task
    first runs after the server's deferral, 45 ms."""
    tasks = [dict(bursts=[dict(demand=-1, prio=50)]), dict(bursts=[dict(demand=-1)])]
    server = {"hz": 1000, "fair_server_period_ns": 50 * MS, "fair_server_runtime_ns": 5 * MS}
    r = run(tasks, params=server, end_ns=200 * MS)
    K.check_fair_starvation(r)  # bound: 45 ms + two ticks
    K.check_rt_strict(r)  # the fair task runs only within the server's runtime
    v = violation(K.check_fair_starvation, r, 10 * MS)
    assert v.message == ("fair tasks wait on CPU 0 for 45.000 ms without any fair task running there "
                         "(bound 10.000 ms)")
    off = run(tasks, params={**server, "fair_server_runtime_ns": 0}, end_ns=200 * MS)
    assert off.intervals.filter((pl.col("tid") == 101) & (pl.col("state") == RUNNING)).height == 0
    K.check_fair_starvation(off)  # nothing is bounded without the server


def test_a_counterexample_reads_as_a_report_and_as_data(engine_ready):
    tasks = [dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1, prio=139)])]
    v = violation(K.check_weighted_share, run(tasks, policy=str(PLANTED / "never_preempt_nice19.py"), end_ns=400 * MS))
    lines = str(v).splitlines()
    assert lines[0] == f"weighted_share at 100.000 ms: {v.message}"
    assert lines[1] == (f"  policy {PLANTED / 'never_preempt_nice19.py'} (defaults), seed 0, on 1x1x1 (1 CPUs), "
                        "400.000 ms replayed")
    assert lines[2:6] == ["workload (2 tasks; times in ms from its start):",
                          "  tid  comm  class    cpus  burst  demand_ms  starts       then",
                          "  100  t0    nice 0   -     0      open       at 0.000 ms  runs on",
                          "  101  t1    nice 19  -     0      open       at 0.000 ms  runs on"]
    assert lines[6] == "schedule around it:" and lines[7].split() == ["cpu", "tid", "comm", "state", "from_ms", "to_ms"]
    d = json.loads(json.dumps(v.to_dict()))
    assert d["invariant"] == "weighted_share" and d["at_ms"] == 100.0 and d["tids"] == [100, 101]
    assert [r["class"] for r in d["workload"]] == ["nice 0", "nice 19"] and d["schedule"]
    assert [c["cpu"] for c in d["topology"]["cpus"]] == [0] and d["horizon_ms"] == 400.0


# -- schedreplay check: the planted bugs are found, the built-ins pass ------------------------------

PLANTED_BUGS = {
    # file: (the invariant it breaks, what its shrunk counterexample must show)
    "never_preempt_nice19.py": ("weighted_share", "nice 19"),
    "rt_never_preempts.py": ("rt_strict", "rt "),
    "idle_with_work.py": ("work_conservation", "nice "),
}


@pytest.mark.parametrize("name", list(PLANTED_BUGS))
def test_check_finds_each_planted_bug_from_the_command_line(name):
    invariant, shown = PLANTED_BUGS[name]
    path = str(PLANTED / name)
    p = cli("check", path, "--only", invariant)
    assert p.returncode == 1, (p.stdout[-3000:], p.stderr[-3000:])
    out = p.stdout.splitlines()
    assert out[0].startswith(f"FAIL {invariant}: ") and f"     {invariant} at " in out[1]
    head = next(i for i, x in enumerate(out) if x.startswith("     workload ("))
    table = out[head + 1: out.index("     schedule around it:")]
    assert table[0].split()[:4] == ["tid", "comm", "class", "cpus"] and any(shown in row for row in table[1:])
    assert len(table) <= 8  # shrunk: a handful of bursts
    assert out[-1] == f"{path}: 0 of 1 invariants hold; violated: {invariant}"


def test_check_json_reports_the_violation_as_data():
    p = cli("check", str(PLANTED / "never_preempt_nice19.py"), "--only", "weighted_share", "--only", "demand",
            "--json", "-n", "50")
    assert p.returncode == 1, p.stderr[-3000:]
    d = json.loads(p.stdout)
    assert d["passed"] is False and d["examples"] == 50
    by = {x["name"]: x for x in d["invariants"]}
    assert list(by) == ["demand", "weighted_share"] and by["demand"]["passed"] is True
    v = by["weighted_share"]["violation"]
    assert v["invariant"] == "weighted_share" and "nice 19" in [r["class"] for r in v["workload"]]


@pytest.mark.parametrize("policy", ["eevdf", "cfs", "infinity", str(RR), str(LAG)])
def test_the_builtins_and_the_examples_pass_the_suite(engine_ready, policy):
    report = K.check_policy(policy, examples=SUITE_EXAMPLES)
    assert [o.name for o in report.outcomes] == [inv.name for inv in K.SUITE]
    bad = [str(o.violation or o.error) for o in report.outcomes if not o.passed]
    assert report.passed, "\n\n".join(bad)


def test_check_draws_the_varied_parameters_from_their_ranges(engine_ready):
    report = K.check_policy(str(LAG), vary=("lag_percent",), examples=SUITE_EXAMPLES,
                            only=["weighted_share", "rt_strict"])
    assert report.passed and report.vary == ("lag_percent",)


def test_the_command_line_default_is_the_kits():
    from replay.present import cli as C

    assert C.CHECK_EXAMPLES == K.DEFAULT_EXAMPLES  # the CLI keeps its own copy: --help imports no numba


def test_check_refuses_unknown_names_in_one_line():
    with pytest.raises(TraceError, match=r"^unknown parameter\(s\) no_such for policy eevdf; "):
        K.check_policy("eevdf", params={"no_such": 1})
    with pytest.raises(TraceError, match=r"^unknown invariant\(s\) fairness; the suite has demand, "):
        K.check_policy("eevdf", only=["fairness"])
    p = cli("check", str(PLANTED / "lazy_rt.py"))  # an RT class, not a policy
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].endswith(
        "lazy_rt.py: RT is missing: the module of its RT class (RT = policies.api.rt for the stock one)")


# -- the strategies reach what they promise ---------------------------------------------------------

FIND = settings(max_examples=500, database=None, suppress_health_check=list(HealthCheck))


def test_topologies_reach_smt_llcs_numa_and_little_cores():
    def cores(t):
        return len(set(t.core))

    assert find(K.topologies(), lambda t: cores(t) < t.n_cpus, settings=FIND).n_cpus >= 2  # SMT
    assert len(set(find(K.topologies(), lambda t: len(set(t.llc)) > len(set(t.node)), settings=FIND).llc)) >= 2
    assert len(set(find(K.topologies(), lambda t: len(set(t.node)) > 1, settings=FIND).node)) == 2
    little = find(K.topologies(), lambda t: 512 in t.capacity.tolist(), settings=FIND)
    assert set(little.capacity.tolist()) == {512, 1024}
    assert find(K.topologies(max_cpus=4), lambda t: True, settings=FIND).n_cpus == 1  # shrinks to one CPU


@settings(max_examples=50, deadline=None)
@given(topo=K.topologies(max_cpus=3, smt=False, numa=False, asymmetric=False))
def test_topologies_keep_to_what_is_asked(topo):
    assert 1 <= topo.n_cpus <= 3 and len(set(topo.core)) == topo.n_cpus and set(topo.node.tolist()) == {0}
    assert set(topo.capacity.tolist()) == {1024}


def test_workload_strategies_reach_their_kinds():
    aff = find(K.mixed(4, affinity=True), lambda w: bool(w.affinity), settings=FIND)
    (tid, cpus), = aff.affinity.items()  # shrunk: one task with one CPU
    assert cpus == (0,) and tid in aff.tasks["tid"].to_list()
    forks = find(K.fork_exit(2), lambda w: True, settings=FIND)
    assert forks.actions["kind"].to_list() == [1] and forks.tasks["parent"].to_list()[1] == 0
    chain = find(K.wakeup_chains(2), lambda w: True, settings=FIND)
    assert chain.bursts["start_kind"].to_list()[-1] == START_BY and chain.actions.height >= 1
    rt = find(K.rt_load(2), lambda w: True, settings=FIND)
    assert rt.bursts["prio"].to_list()[0] < 100 and len(set(rt.tasks["pinned_cpu"].to_list())) == 1
    hogs = find(K.cpu_bound(4), lambda w: True, settings=FIND)
    assert set(hogs.bursts["demand_ns"].to_list()) == {-1} and len(set(hogs.tasks["pinned_cpu"].to_list())) == 1
    nice = find(K.cpu_bound(1), lambda w: len(set(w.bursts["prio"].to_list())) > 1, settings=FIND)
    assert sorted(nice.bursts["prio"].to_list()) == [120, 125]  # shrinks toward nice 0: the next level is 5


@settings(max_examples=50, deadline=None)
@given(wl=K.mixed(3))
def test_no_affinity_sets_unless_asked(wl):
    assert wl.affinity is None


@settings(max_examples=30, deadline=None)
@given(params=K.policy_params(str(RR)))
def test_policy_params_keep_to_the_declared_ranges(params):
    assert set(params) <= {"slice_ns", "sched_rr_timeslice_ms"}
    if "slice_ns" in params:
        assert 100_000 <= params["slice_ns"] <= 1_000_000_000 and params["slice_ns"] != 3_000_000
    if "sched_rr_timeslice_ms" in params:
        assert 1 <= params["sched_rr_timeslice_ms"] <= 10_000


def test_policy_params_reach_off_their_defaults_and_refuse_unknown_names():
    drawn = find(K.policy_params(str(LAG), names=["lag_percent"]), lambda p: "lag_percent" in p, settings=FIND)
    assert drawn == {"lag_percent": 0}  # shrunk to the range's low end
    with pytest.raises(TraceError, match="no parameter slice_ms"):
        find(K.policy_params("eevdf", names=["slice_ms"]), lambda p: True, settings=FIND)


def test_a_workloads_affinity_sets_survive_write_and_read(tmp_path):
    """Workload.write keeps a synthetic workload's affinity sets (they were dropped: a
    written counterexample replayed without them)."""
    from replay.model.workload import Workload

    wl = K.make_workload([{"tid": 7, "bursts": [{"demand": 1_000_000}], "affinity": [3, 1]},
                          {"tid": 8, "bursts": [{"demand": 2_000_000}]}], n_cpus=4)
    assert wl.affinity == {7: (1, 3)}
    back = Workload.read(wl.write(tmp_path / "wl"))
    assert back.affinity == {7: (1, 3)}
    assert back.tasks.equals(wl.tasks) and back.bursts.equals(wl.bursts)
    plain = K.make_workload([{"tid": 8, "bursts": [{"demand": 2_000_000}]}])
    assert Workload.read(plain.write(tmp_path / "plain")).affinity is None
