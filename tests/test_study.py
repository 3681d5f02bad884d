"""The prepared trace (replay.prepare) shared by replay, validate, compare and sweep: each
part built once, results that are plain data, the validation replay reused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import replay
import traces
from replay import metrics
from replay.model import _schedule_kernel, workload
from replay.study import runs

from .conftest import DATA

TRACE = DATA / "panopticon_ftrace.txt"  # 4 CPUs, 20 tasks: replays in no time


@pytest.fixture
def builds(monkeypatch):
    """Counts of observed-schedule and workload builds (their kernels, wherever called from)."""
    counts = {"observed_schedule": 0, "workload": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(_schedule_kernel, "build_intervals",
                        counting("observed_schedule", _schedule_kernel.build_intervals))
    monkeypatch.setattr(workload, "_segment", counting("workload", workload._segment))
    return counts


def test_compare_of_4_policies_on_2_topologies_builds_each_part_once(builds):
    c = replay.compare(traces.load(TRACE), ("observed", "cfs", "eevdf", "infinity"), (None, "2x2x1"))
    assert len(c.runs) == 1 + 3 * 2 and c.validation is not None
    assert builds == {"observed_schedule": 1, "workload": 1}


def test_a_prepared_trace_is_never_rebuilt(builds):
    p = replay.prepare(str(TRACE))
    assert builds == {"observed_schedule": 1, "workload": 1}
    replay.validate(p)
    replay.compare(p, ("observed", "eevdf"), (None,))
    replay.replay(p, policy="cfs", topology="2x2x1")
    assert builds == {"observed_schedule": 1, "workload": 1}
    assert replay.prepare(p) is p


def test_compare_validation_reuses_its_own_run_and_equals_validate():
    p = replay.prepare(str(TRACE))
    c = replay.compare(p, ("observed", "eevdf"), (None,))
    v = replay.validate(p)
    assert c.validation == {k: v[k] for k in c.validation}
    # with parameters the compare's eevdf run is not the validation replay: validate replays itself
    c2 = replay.compare(p, ("observed", "eevdf"), (None,), params={"base_slice_ns": "1ms"})
    assert c2.validation == c.validation


def test_runs_are_plain_data_with_their_details():
    c = replay.compare(str(TRACE), ("observed", "eevdf"), (None, "2x2x1"))
    d = c.to_dict()
    assert set(d) == {"trace", "label", "overrides", "focus", "by", "spans", "causes_unrecorded", "runs", "validation"}
    assert d["overrides"] == [] and d["focus"] is None and d["by"] is None and d["label"] == "data/panopticon_ftrace.txt"
    assert [r["policy"] for r in d["runs"]] == ["observed", "eevdf", "eevdf"]
    for run, rd in zip(c.runs, d["runs"]):
        # a replay is its seeds' runs (three by default); each is plain data of its own
        for one in run.per_seed or [run]:
            assert one.metrics["wait_ns"]["count"] == len(one.waits_ns)
            assert int(one.tasks["cpu_time_ns"].sum()) == one.metrics["cpu_time_ns"]
            grid, edges = one.utilization
            assert grid.shape == (rd["n_cpus"], len(edges) - 1)
            assert one.schedule is None  # kept only on request
        # the combined run pools its seeds' waits (the wait CDFs)
        assert len(run.waits_ns) == sum(len(one.waits_ns) for one in run.per_seed or [run])
        assert rd.get("seeds", 1) == (1 if run.observed else 3)
    kept = replay.compare(str(TRACE), ("observed", "cfs"), (None,), keep_schedules=True)
    assert all(r.schedule is not None for r in kept.runs)
    # the kept schedule is the first seed's, and the one measured for it
    m = metrics.measure(kept.runs[1].schedule, replay.prepare(str(TRACE)).recorded)
    assert m == kept.runs[1].per_seed[0].metrics and kept.runs[1].per_seed[0].seed == 0


def test_median_of_seeds_figure_by_figure():
    """How one replay's figures under several seeds combine (hand-made metrics): numbers by
    their median (a count stays an integer: the lower middle), rows of a breakdown by their
    first field, the description of one wait from the seed whose wait is the median, text,
    lists and the longest waits from the first seed."""
    def wait(ns, tid):
        return {"wait_ns": ns, "tid": tid, "comm": f"t{tid}", "cpu": tid % 2}

    seeds = [
        {"wait_ns": {"count": 10, "p99": 300}, "fairness": {"jain": 0.5}, "note": "a", "tids": [1, 2],
         "wait_at": {"all": {"max": wait(300, 7), "worst": [wait(300, 7)]}},
         "tasks": [{"tid": 1, "waits": 4, "comm": "x"}, {"tid": 2, "waits": 9, "comm": "y"}]},
        {"wait_ns": {"count": 13, "p99": 100}, "fairness": {"jain": 0.9}, "note": "b", "tids": [3],
         "wait_at": {"all": {"max": wait(100, 8), "worst": [wait(100, 8)]}},
         "tasks": [{"tid": 2, "waits": 1, "comm": "y"}, {"tid": 1, "waits": 6, "comm": "x"}]},
        {"wait_ns": {"count": 11, "p99": 200}, "fairness": {"jain": 0.6}, "note": "c", "tids": [],
         "wait_at": {"all": {"max": wait(200, 9), "worst": [wait(200, 9)]}},
         "tasks": [{"tid": 1, "waits": 5, "comm": "x"}, {"tid": 3, "waits": 2, "comm": "z"}]},
        {"wait_ns": {"count": 12, "p99": 400}, "fairness": {"jain": 0.7}, "note": "d", "tids": [4],
         "wait_at": {"all": {"max": wait(400, 5), "worst": [wait(400, 5)]}},
         "tasks": [{"tid": 1, "waits": 7, "comm": "x"}]},
    ]
    m = runs.median_of(seeds)
    assert m["wait_ns"] == {"count": 11, "p99": 200}  # of four integers, the lower middle one
    assert m["fairness"]["jain"] == pytest.approx(0.65)  # of four floats, the mean of the middle two
    assert m["note"] == "a" and m["tids"] == [1, 2]
    assert m["wait_at"]["all"]["max"] == wait(200, 9)  # the seed whose longest wait is the median
    assert m["wait_at"]["all"]["worst"] == [wait(300, 7)]
    # tid 1 in all four seeds (4, 6, 5, 7), tid 2 in two (9, 1), tid 3 in one
    assert m["tasks"] == [{"tid": 1, "waits": 5, "comm": "x"}, {"tid": 2, "waits": 1, "comm": "y"},
                          {"tid": 3, "waits": 2, "comm": "z"}]
    assert runs.median_of([None, {"a": 1}]) == {"a": 1} and runs.median_of([None]) is None


def test_compare_gives_each_replayed_figure_as_the_median_of_its_seeds():
    """A compare row is the median over its seeds, as validate's errors are over the same
    seeds: the recorded policy's row on the recorded machine reads exactly the error
    validate prints beside it (one seed's luck used to sit beside a three-seed error)."""
    from replay.study.validation import recorded_policy

    p = replay.prepare(str(TRACE))
    c = replay.compare(p, ("observed", "eevdf", "cfs"), (None,), seeds=3)
    obs, rep = c.runs[0], c.runs[1]
    assert recorded_policy(p)[0] == "eevdf" and rep.policy == "eevdf"
    singles = [runs.replay_run(p, "eevdf", p.recorded, None, s) for s in (0, 1, 2)]
    for key in ("p50", "p99", "max"):
        per_seed = sorted(r.metrics["wait_ns"][key] for r in singles)
        assert rep.metrics["wait_ns"][key] == per_seed[1]
        assert rep.seed_range[f"wait_ns.{key}"] == [per_seed[0], per_seed[2]]
    for key, err in (("p50", "wait_p50_rel_err"), ("p99", "wait_p99_rel_err")):
        o = obs.metrics["wait_ns"][key]
        assert (rep.metrics["wait_ns"][key] - o) / o == pytest.approx(c.validation[err], abs=1e-12)
    d = c.to_dict()["runs"][1]
    assert d["seeds"] == 3 and d["seed"] == 0 and "wait_ns.p99" in d["seed_range"]
    # validate's replayed figures are the same medians (its table prints them beside their errors)
    v = replay.validate(p)
    assert v["replayed_median"]["wait_ns"] == rep.metrics["wait_ns"] and v["replayed"] == singles[0].metrics
    # one seed: the run of that seed itself
    one = replay.compare(p, ("observed", "eevdf"), (None,), seeds=1, seed=1)
    assert one.runs[1].metrics == singles[1].metrics and "seeds" not in one.to_dict()["runs"][1]
    with pytest.raises(traces.TraceError, match="seeds 0: expected 1 to 1000"):
        replay.compare(p, ("observed", "eevdf"), (None,), seeds=0)
    with pytest.raises(traces.TraceError, match="seeds 1001: expected 1 to 1000"):
        replay.validate(p, seeds=1001)


def test_per_task_cpu_time_comes_from_the_task_table():
    """validate's per-task CPU-time errors are computed from the runs' task tables (one
    place), and agree with summing the running intervals directly."""
    from replay.study.validation import cpu_time_errors

    p = replay.prepare(str(TRACE))
    obs = runs.observed_run(p)
    rep = runs.replay_run(p, "eevdf", p.recorded, keep_schedule=True)
    e = cpu_time_errors(obs.tasks, rep.tasks)
    assert e.height > 0
    run = metrics.running(rep.schedule)
    by_tid = {}
    for tid, s, end in zip(run["tid"].to_list(), run["start_ns"].to_list(), run["end_ns"].to_list()):
        by_tid[tid] = by_tid.get(tid, 0) + end - s
    for r in e.iter_rows(named=True):
        assert r["replayed_ns"] == by_tid.get(r["tid"], 0)
        assert r["rel_err"] == (r["replayed_ns"] - r["observed_ns"]) / r["observed_ns"]


def test_the_copy_for_workers_replays_the_same():
    p = replay.prepare(str(TRACE))
    w = pickle.loads(pickle.dumps(p.for_workers()))
    assert w.trace is None and w.schedule is None
    a, _ = replay.replay(p, policy="eevdf", topology="2x2x1", seed=3)
    b, _ = replay.replay(w, policy="eevdf", topology=p.topology("2x2x1"), seed=3)
    assert a.intervals.equals(b.intervals)
    assert np.array_equal(a.tasks["tid"].to_numpy(), b.tasks["tid"].to_numpy())


def test_label_tells_traces_apart():
    p = replay.prepare(str(TRACE))
    assert p.label == "data/panopticon_ftrace.txt"


def test_cpus_silent_for_a_whole_trace_are_left_out_of_the_recorded_machine(corpus):
    """gtech's phone trace records 8 CPUs of which only 0-3 ever run anything in 12 s: the
    replay on the recorded machine uses CPUs 0-3 only, keeps the CPU ids, and uses all 8
    on another machine or with infer_cpus off."""
    p = replay.prepare(corpus / "public" / "gtech-perf-tool" / "mytrace.html")
    assert p.offline == (4, 5, 6, 7) and p.recorded.n_cpus == 8
    s, info = replay.replay(p, policy="eevdf")
    used = set(metrics.running(s)["cpu"].to_list())
    assert used <= {0, 1, 2, 3} and s.n_cpus == 8
    assert any("CPUs 4-7 ran nothing in the recording" in w for w in info.warnings)
    s2, _ = replay.replay(p, policy="eevdf", params={"infer_cpus": False})
    assert set(metrics.running(s2)["cpu"].to_list()) - {0, 1, 2, 3}
    # a short trace proves nothing: trappy's 4 ms trace.dat records 6 CPUs and has events on 4
    short = replay.prepare(corpus / "public" / "trappy" / "raw_trace.dat")
    assert short.recorded.n_cpus == 6 and short.trace.info()["cpus"] == 4 and short.offline == ()


def test_seed_noise_is_half_the_spread_of_each_figure_the_largest_over_the_replays():
    """compare's "seed noise" line, hand-computed: wait p50 of two replays, 100-140 us around
    120 (half spread 20 us: 16.7%) and 90-110 around 100 (10%): 17%; Jain 0.70-0.74 (an index:
    half spread 0.020, absolute); the recording has no seeds and counts for nothing."""
    from replay.present.tables import seed_noise

    runs = [{"policy": "observed", "topology": "recorded", "wait_ns": {"p50": 1}},
            {"policy": "eevdf", "topology": "recorded", "wait_ns": {"p50": 120}, "fairness": {"jain": 0.72},
             "seed_range": {"wait_ns.p50": [100, 140], "fairness.jain": [0.70, 0.74]}},
            {"policy": "cfs", "topology": "recorded", "wait_ns": {"p50": 100}, "fairness": {"jain": 0.5},
             "seed_range": {"wait_ns.p50": [90, 110], "fairness.jain": [0.5, 0.5]}}]
    assert seed_noise({"runs": runs}) == ["wait p50 ±17%", "Jain ±0.020"]
    assert seed_noise({"runs": runs[:1]}) == []
    # and compare prints it, beside its tables
    c = replay.compare(replay.prepare(str(TRACE)), ("observed", "eevdf"), (None,))
    assert seed_noise(c.to_dict())[0].startswith("wait p50 ±")
