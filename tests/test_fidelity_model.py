"""The parts of the model that bring a replay closer to real machines (README "Fidelity"):
sync wakeups inferred from where the recording put the wakee, wakeup latencies drawn from
the recording's own distributions, and no switch for free."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import replay
from replay import metrics
from replay.model.latencies import QUANTILES, Latencies
from replay.model.workload import (ACT_SYNC_WAKE, ACT_WAKE, ACT_YIELD, END_EXIT, START_AFTER, START_BY,
                                   from_schedule)
from replay.sim import simulate
from traces import schema
from traces.errors import TraceError

from ._events import make_trace
from replay.testing import make_workload

MS = 1_000_000


def test_a_wakeup_the_wakers_cpu_took_is_a_sync_wakeup():
    """Task 10 runs on CPU 0 and wakes 20 twice, from task context: first 20 is enqueued on
    CPU 0 (the waker's: what wake_affine does for a sync wakeup), then on CPU 1."""
    S = "switch"
    rows = [
        (0, 0, S, 0, dict(tid=0, prev_state=0, next_tid=10)),
        (0, 1, S, 0, dict(tid=0, prev_state=0, next_tid=20)),
        (1 * MS, 1, S, 20, dict(tid=20, prev_state=1, next_tid=0)),            # 20 sleeps
        (2 * MS, 0, "waking", 10, dict(tid=20, target_cpu=0, irq=0)),          # 10 wakes it onto CPU 0
        (2 * MS + 5_000, 0, S, 10, dict(tid=10, prev_state=0, next_tid=20)),   # and is preempted by it
        (3 * MS, 0, S, 20, dict(tid=20, prev_state=1, next_tid=10)),           # 20 sleeps again
        (4 * MS, 0, "waking", 10, dict(tid=20, target_cpu=1, irq=0)),          # woken onto CPU 1
        (4 * MS + 9_000, 1, S, 0, dict(tid=0, prev_state=0, next_tid=20)),
        (5 * MS, 1, S, 20, dict(tid=20, prev_state=1, next_tid=0)),
        (6 * MS, 0, "stat_runtime", 10, dict(tid=10, runtime_ns=1)),
    ]
    t = make_trace(rows)
    wl = from_schedule(t)
    acts = wl.actions.sort("progress_ns")
    assert acts["kind"].to_list() == [ACT_SYNC_WAKE, ACT_WAKE]
    waker = wl.tasks["tid"].to_list().index(10)
    assert acts["task"].to_list() == [waker, waker]


def _sleeper(n: int, sleep_ns: int = MS, run_ns: int = 100_000):
    """One task on one CPU: n bursts of run_ns, each after a sleep of sleep_ns (external
    wakeups onto an idle CPU)."""
    bursts = [dict(demand=run_ns, kind=START_AFTER if i else 0, start=sleep_ns if i else 0) for i in range(n)]
    return make_workload([dict(bursts=bursts)], end_ns=n * (sleep_ns + run_ns) + 100 * MS, n_cpus=1)


def _latencies(values) -> Latencies:
    row = np.repeat(np.asarray(values, np.int64), QUANTILES // len(values))[None, :]
    return Latencies(int(np.median(values)), 0, row, row * 0, row, row * 0)


def test_wakeup_latencies_are_drawn_from_the_recorded_distribution():
    """Every wakeup onto the idle CPU waits one latency drawn from that CPU's table: each
    value of a 4-value table comes out about a quarter of the time, the same draws for the
    same seed, others for another seed; with wakeup_latency=median every wait is the median."""
    wl = _sleeper(400)
    lat = _latencies([10_000, 20_000, 40_000, 80_000])

    def waits(**kw):
        s, info = simulate(wl, "eevdf", "1x1x1", kw.pop("params", None), latencies=lat, same_machine=True, **kw)
        w = metrics.waits(s).filter(pl.col("cause") == schema.BEGIN_WAKEUP)
        return w.sort("wait_start_ns")["wait_ns"].to_numpy(), info

    a, info = waits(seed=1)
    assert len(a) == 399 and set(a.tolist()) == {10_000, 20_000, 40_000, 80_000}
    counts = np.bincount(np.searchsorted([10_000, 20_000, 40_000, 80_000], a), minlength=4)
    assert all(60 <= c <= 140 for c in counts), counts  # 99.75 expected each
    assert info.params["idle_wakeup_latency_ns"] == 30_000  # the median is what the info shows
    assert np.array_equal(a, waits(seed=1)[0])
    assert not np.array_equal(a, waits(seed=2)[0])
    m, _ = waits(seed=1, params={"wakeup_latency": "median"})
    assert set(m.tolist()) == {30_000}


def test_on_another_machine_the_whole_machines_distribution_is_used():
    wl = _sleeper(200)
    per_cpu = np.repeat(np.array([[5_000], [70_000]], np.int64), QUANTILES, axis=1)
    machine = np.full((1, QUANTILES), 33_000, np.int64)
    lat = Latencies(33_000, 0, per_cpu, per_cpu * 0, machine, machine * 0)
    s, _ = simulate(wl, "eevdf", "1x1x1", latencies=lat, same_machine=False)
    w = metrics.waits(s).filter(pl.col("cause") == schema.BEGIN_WAKEUP)["wait_ns"]
    assert set(w.to_list()) == {33_000}
    s, _ = simulate(wl, "eevdf", "1x1x1", latencies=lat, same_machine=True)  # CPU 0's own: 5 us
    assert set(metrics.waits(s).filter(pl.col("cause") == schema.BEGIN_WAKEUP)["wait_ns"].to_list()) == {5_000}


def test_no_switch_is_free():
    """The shipped sample's recording has 2 waits of 0 ns among 1,920: a replay that charges
    every wakeup and preemption the latency the trace shows stays near that (before it did
    not: 264 of 1,984 under EEVDF, most where a slice ran out just as a wakee arrived)."""
    p = replay.prepare("@sample")
    o = metrics.waits(p.schedule)
    assert o.filter(pl.col("wait_ns") == 0).height <= 2
    for policy in ("eevdf", "cfs", "infinity"):
        s, _ = replay.replay(p, policy=policy)
        w = metrics.waits(s)
        assert w.filter(pl.col("wait_ns") == 0).height <= 0.015 * w.height, policy


@pytest.mark.corpus
def test_recorded_latency_tables_per_cpu(corpus):
    """gtech's phone wakes idle CPUs out of deep idle states: its per-CPU tables hold the
    recorded waits' spread (11 us to about a millisecond), not one median."""
    p = replay.prepare(corpus / "public" / "gtech-perf-tool" / "mytrace.html")
    L = p.latencies
    assert L.idle_table.shape == (8, QUANTILES) and L.idle_machine.shape == (1, QUANTILES)
    for row in L.idle_table[:4]:
        assert row[0] < 20_000 and row[-1] > 500_000 and np.all(np.diff(row) >= 0)


def _little_big_trace():
    """CPU 0 is a little core (capacity 512), CPU 1 a big one. Task 10 runs 2 ms on CPU 0
    and, 0.6 ms in, wakes 20, which runs 1 ms on CPU 1."""
    S = "switch"
    rows = [
        (0, 0, S, 0, dict(tid=0, prev_state=0, next_tid=10)),
        (0, 1, S, 0, dict(tid=0, prev_state=0, next_tid=20)),
        (100_000, 1, S, 20, dict(tid=20, prev_state=1, next_tid=0)),               # 20 sleeps
        (600_000, 0, "waking", 10, dict(tid=20, target_cpu=1, irq=0)),             # 10 wakes it
        (605_000, 1, S, 0, dict(tid=0, prev_state=0, next_tid=20)),
        (1_605_000, 1, S, 20, dict(tid=20, prev_state=1, next_tid=0)),
        (2 * MS, 0, S, 10, dict(tid=10, prev_state=1, next_tid=0)),                # 10 sleeps
        (3 * MS, 1, "stat_runtime", 0, dict(tid=0, runtime_ns=1)),
    ]
    from replay.model.topology import make

    return make_trace(rows), make([0, 1], [0, 0], [0, 0], [512, 1024], name="little-big")


def test_demand_is_work_at_the_recorded_cpus_capacity():
    """2 ms of running on a CPU of capacity 512 is 1 ms of work (the unit of demand and of
    progress points), and the wakeup 0.6 ms into it happens at 0.3 ms of work; on the big
    CPU running time is work. Without the recorded machine's capacities, time is work."""
    t, machine = _little_big_trace()
    for recorded, demand_10, wake_at in ((None, 2 * MS, 600_000), (machine, MS, 300_000)):
        p = replay.prepare(t, recorded=recorded)
        tids = p.workload.tasks["tid"].to_list()
        b = p.workload.bursts.with_columns(tid=pl.Series([tids[i] for i in p.workload.bursts["task"]]))
        assert b.filter(pl.col("tid") == 10)["demand_ns"].to_list() == [demand_10]
        assert b.filter(pl.col("tid") == 20)["demand_ns"].to_list() == [100_000, MS]
        assert p.workload.actions["progress_ns"].to_list() == [wake_at]
    assert replay.prepare(t, recorded=machine).recorded.capacity.tolist() == [512, 1024]


def test_a_burst_recorded_on_a_little_core_runs_faster_on_a_big_one():
    """Replayed on the recorded machine, task 10 needs its recorded 2 ms on the little CPU;
    on a machine of two big CPUs, 1 ms."""
    t, machine = _little_big_trace()
    p = replay.prepare(t, recorded=machine)

    def ran_ns(topology):
        sched, _ = replay.replay(p, "eevdf", topology=topology)
        iv = sched.intervals.filter((pl.col("tid") == 10) & (pl.col("state") == schema.RUNNING))
        return int((iv["end_ns"] - iv["start_ns"]).sum()), iv["cpu"].unique().to_list()

    assert ran_ns(None) == (2 * MS, [0])
    assert ran_ns("1x2x1") == (MS, [0])


def test_the_recorded_machine_must_have_the_traces_cpus():
    t, _ = _little_big_trace()
    with pytest.raises(TraceError, match="has 3 CPUs but the trace records 2"):
        replay.prepare(t, recorded="1x3x1")


# -- sched_yield: inferred from the recording, replayed through the class's yield ----------

def _ping_pong(n: int, run_ns: int, prompted: bool = False):
    """Tasks 10 and 20 take turns on CPU 0, each run ``run_ns`` long and ended by a switch-out
    with the task still runnable (prev_state R), n times each; with ``prompted`` a wakeup of
    task 30 lands on CPU 0 during every run (so the kernel had a reason to preempt). Both
    block at the end."""
    S = "switch"
    rows = [(0, 0, S, 0, dict(tid=0, prev_state=0, next_tid=10)), (0, 1, S, 0, dict(tid=0, prev_state=0, next_tid=30)),
            (1_000, 1, S, 30, dict(tid=30, prev_state=1, next_tid=0))]
    t, cur, other = 0, 10, 20
    for _ in range(2 * n):
        if prompted:
            rows.append((t + run_ns // 2, 1, "waking", 0, dict(tid=30, target_cpu=0, irq=1)))
        t += run_ns
        if prompted:  # 30 preempts, runs briefly and sleeps; then the other task runs
            rows += [(t, 0, S, cur, dict(tid=cur, prev_state=0, next_tid=30)),
                     (t + 1_000, 0, S, 30, dict(tid=30, prev_state=1, next_tid=other))]
            t += 1_000
        else:
            rows.append((t, 0, S, cur, dict(tid=cur, prev_state=0, next_tid=other)))
        cur, other = other, cur
    rows += [(t + run_ns, 0, S, cur, dict(tid=cur, prev_state=1, next_tid=other)),
             (t + 2 * run_ns, 0, S, other, dict(tid=other, prev_state=1, next_tid=0))]
    return make_trace(sorted(rows, key=lambda r: r[0]))


def _yields(trace) -> dict[int, list[int]]:
    wl = from_schedule(trace)
    tids = wl.tasks["tid"].to_list()
    a = wl.actions.filter(pl.col("kind") == ACT_YIELD)
    assert (a["target_burst"] == -1).all()
    out = {}
    for task, p in zip(a["task"].to_list(), a["progress_ns"].to_list()):
        out.setdefault(tids[task], []).append(p)
    return out


def test_runs_given_up_unprompted_more_often_than_ticks_are_yields():
    """12 runs of 100 us each, every one switched out runnable with nothing arriving on the
    CPU: 12 such runs in 1.2 ms of CPU time (more than one per ms) are sched_yield calls, at
    the progress where each run ended (100 us, 200 us, ...). Task 10's first run began the
    trace, so its 12 ends are all yields; task 20 yields 12 times as well."""
    y = _yields(_ping_pong(12, 100_000))
    assert y[10] == [100_000 * k for k in range(1, 13)]
    assert y[20] == [100_000 * k for k in range(1, 13)]


def test_validate_says_what_it_inferred():
    """validate's ``inferred`` (and its text) names the yields the workload holds."""
    v = replay.validate(_ping_pong(12, 100_000), seeds=1)
    assert v["inferred"]["yields"] == 24
    assert sorted(v["inferred"]["yielding_tasks"]) == ["task10 10", "task20 20"]
    assert replay.validate(_ping_pong(12, 100_000, prompted=True), seeds=1)["inferred"]["yields"] == 0


def test_preemptions_the_trace_explains_or_ticks_could_are_not_yields():
    # a wakeup landed on the CPU during every run: the kernel preempted for it
    assert _yields(_ping_pong(12, 100_000, prompted=True)) == {}
    # 12 unprompted runs of 2 ms: 12 in 24 ms of CPU time, fewer than a tick per ms could cause
    assert _yields(_ping_pong(12, 2 * MS)) == {}
    # fewer than YIELD_MIN (10) such runs: not enough to tell
    assert _yields(_ping_pong(9, 100_000)) == {}


def _two_tasks(prio: int, yield_at: int | None):
    """A and B, 1 ms of demand each, runnable at 0 on one CPU (A queued first); A calls
    sched_yield at ``yield_at`` ns of its progress."""
    tasks = [dict(bursts=[dict(demand=MS, prio=prio, end=END_EXIT)], tid=1, comm="A"),
             dict(bursts=[dict(demand=MS, prio=prio, end=END_EXIT)], tid=2, comm="B")]
    actions = [] if yield_at is None else [(0, yield_at, -1, 0, ACT_YIELD)]
    return make_workload(tasks, actions, end_ns=10 * MS, n_cpus=1)


def _runs(wl, policy, params=None):
    s, _ = simulate(wl, policy, "1x1x1", params)
    r = s.intervals.filter(pl.col("state") == schema.RUNNING).sort("start_ns")
    return list(zip(r["tid"].to_list(), r["start_ns"].to_list(), r["end_ns"].to_list()))


def test_eevdf_a_yield_hands_the_cpu_over_at_once():
    """eevdf.md §11 and §5 by hand: at 100 us A (v = 100 us) is not eligible (V = 50 us, the
    mean of A's 100 us and B's 0), so it keeps v and d; the reschedule that follows the yield
    (no latency: sched_yield calls schedule itself) picks the eligible B, which runs its 1 ms
    (its protection ends at 800 us but nothing reschedules before it exits at 1.1 ms, the
    first tick being at 4 ms); A runs its remaining 900 us. Without the yield A runs first."""
    assert _runs(_two_tasks(120, 100_000), "eevdf") == [(1, 0, 100_000), (2, 100_000, 1_100_000),
                                                        (1, 1_100_000, 2_000_000)]
    assert _runs(_two_tasks(120, None), "eevdf") == [(1, 0, MS), (2, MS, 2 * MS)]
    # yields=off replays the workload as if the calls were not there
    assert _runs(_two_tasks(120, 100_000), "eevdf", {"yields": False}) == [(1, 0, MS), (2, MS, 2 * MS)]


def test_rt_a_yield_goes_to_the_tail_of_its_prio():
    """rt.md §4: two SCHED_FIFO tasks of one prio; A yields at 300 us and goes behind B, which
    runs to its end (FIFO has no slice); then A finishes. CFS's skip buddy (cfs.md §10) hands
    over the same way here (B's v = 0 is left of A's anyway)."""
    assert _runs(_two_tasks(50, 300_000), "eevdf") == [(1, 0, 300_000), (2, 300_000, 1_300_000),
                                                       (1, 1_300_000, 2_000_000)]
    assert _runs(_two_tasks(120, 300_000), "cfs") == [(1, 0, 300_000), (2, 300_000, 1_300_000),
                                                      (1, 1_300_000, 2_000_000)]


def test_a_yield_alone_on_its_cpu_changes_nothing():
    wl = make_workload([dict(bursts=[dict(demand=MS, end=END_EXIT)], tid=1)], [(0, 200_000, -1, 0, ACT_YIELD)],
                       end_ns=10 * MS, n_cpus=1)
    assert _runs(wl, "eevdf") == [(1, 0, MS)]


# -- where a task may run ----------------------------------------------------------------

def _confined_trace(rounds: int, wait_ns: int = 30 * MS, own_cpu_idles: bool = False):
    """Task 10 holds CPU 0 throughout; task 20 wakes on CPU 0 every 50 ms and waits
    ``wait_ns`` for it (10 preempted, 20 runs 1 ms and sleeps), ``rounds`` times, while CPU
    1 runs task 30 for 0.1 ms every 50 ms and is otherwise idle. With ``own_cpu_idles`` CPU 0
    sits idle during each wait instead (10 sleeps then): a recording that contradicts itself."""
    S, P = "switch", 50 * MS
    rows = [(0, 0, S, 0, dict(tid=0, prev_state=0, next_tid=10))]
    for k in range(rounds + 2):
        rows += [(k * P, 1, S, 0, dict(tid=0, prev_state=0, next_tid=30)),
                 (k * P + 100_000, 1, S, 30, dict(tid=30, prev_state=1, next_tid=0))]
        if k < 1 or k > rounds:
            continue
        w = k * P + 5 * MS
        if own_cpu_idles:  # 10 sleeps before 20 wakes, and wakes again after 20 ran
            rows += [(w - MS, 0, S, 10, dict(tid=10, prev_state=1, next_tid=0)),
                     (w, 0, "waking", 0, dict(tid=20, target_cpu=0, irq=1)),
                     (w + wait_ns, 0, S, 0, dict(tid=0, prev_state=0, next_tid=20)),
                     (w + wait_ns + MS, 0, S, 20, dict(tid=20, prev_state=1, next_tid=0)),
                     (w + wait_ns + MS + 1_000, 0, "waking", 0, dict(tid=10, target_cpu=0, irq=1)),
                     (w + wait_ns + MS + 2_000, 0, S, 0, dict(tid=0, prev_state=0, next_tid=10))]
        else:
            rows += [(w, 0, "waking", 10, dict(tid=20, target_cpu=0, irq=1)),
                     (w + wait_ns, 0, S, 10, dict(tid=10, prev_state=0, next_tid=20)),
                     (w + wait_ns + MS, 0, S, 20, dict(tid=20, prev_state=1, next_tid=10))]
    return make_trace(sorted(rows, key=lambda r: r[0]))


def test_a_task_that_waits_beside_an_idle_cpu_is_kept_off_it():
    """Task 20 waits 30 ms on CPU 0 three times while CPU 1 sits idle: on 2 CPUs of one LLC
    the kernel's idle balancing would have pulled it within 10 ms + 2 x 2 ms = 14 ms had it
    been allowed there, so the replay on the recorded machine keeps it on CPU 0, where
    unconfined it takes the idle CPU 1: with infer_affinity off or an override of its CPUs it
    runs on both, and another machine gets no confinement."""
    p = replay.prepare(_confined_trace(3))
    assert p.confined == {20: (0,)}
    s, info = replay.replay(p, policy="eevdf")
    run = metrics.running(s)
    assert set(run.filter(pl.col("tid") == 20)["cpu"].to_list()) == {0}
    assert any("1 tasks kept to the CPUs the recording shows them allowed" in w and "task20 20 (0)" in w
               for w in info.warnings)
    for free in (replay.replay(p, policy="eevdf", params={"infer_affinity": False})[0],
                 replay.replay(p, policy="eevdf", overrides=["tid=20:cpus=0-1"])[0]):
        assert 1 in set(metrics.running(free).filter(pl.col("tid") == 20)["cpu"].to_list())
    assert p.confined_cpus(replay.topology.resolve("1x4x1")) == {}
    assert replay.validate(p, seeds=1)["inferred"]["confined_tasks"] == ["task20 20: 0"]


def test_no_confinement_without_enough_evidence():
    # two such waits: a balancer that failed twice, a vCPU the host did not run
    assert replay.prepare(_confined_trace(2)).confined == {}
    # waits of 12 ms: shorter than idle balancing may take (14 ms on this machine)
    assert replay.prepare(_confined_trace(5, wait_ns=12 * MS)).confined == {}
    # the CPU it waited on was idle itself: the recording contradicts itself
    assert replay.prepare(_confined_trace(5, own_cpu_idles=True)).confined == {}


# -- Android's sync wakeups -----------------------------------------------------------------

def _sync_pair(kind: int):
    """Task 1 (the waker) runs 1 ms on CPU 0 from the start and wakes task 2 (asleep, last on
    CPU 0) at 500 us of its progress with a wakeup of ``kind``; task 2 then runs 200 us. CPU 1
    is idle throughout."""
    tasks = [dict(bursts=[dict(demand=MS, end=END_EXIT)], tid=1, comm="waker", cpu=0),
             dict(bursts=[dict(demand=200_000, kind=START_BY, cause=schema.BEGIN_WAKEUP, end=END_EXIT)], tid=2,
                  comm="wakee", cpu=0)]
    return make_workload(tasks, [(0, 500_000, 1, 0, kind)], end_ns=10 * MS, n_cpus=2)


def _cpu_of_wakee(wl, params=None):
    s, _ = simulate(wl, "eevdf", "1x2x1", params)
    r = s.intervals.filter((pl.col("state") == schema.RUNNING) & (pl.col("tid") == 2)).sort("start_ns")
    return r["cpu"].to_list()[-1]


def test_android_sync_wakeups_stay_on_the_wakers_cpu():
    """engine-model.md §7.1: with sync_wakeup=waker a sync wakeup whose waker runs alone on
    its CPU takes that CPU although CPU 1 is idle (Android's placement); mainline placement,
    WA_SYNC or not, finds the idle CPU 1 (select_idle_sibling), and a plain wakeup does so
    under either rule."""
    assert _cpu_of_wakee(_sync_pair(ACT_SYNC_WAKE), {"sync_wakeup": "waker"}) == 0
    assert _cpu_of_wakee(_sync_pair(ACT_SYNC_WAKE)) == 1
    assert _cpu_of_wakee(_sync_pair(ACT_SYNC_WAKE), {"WA_SYNC": True}) == 1
    assert _cpu_of_wakee(_sync_pair(ACT_WAKE), {"sync_wakeup": "waker"}) == 1


def test_wakeups_onto_a_busy_cpu_are_counted_the_same_in_both_schedules():
    """The metric wakeup_placement: the wakee queued beside its running waker counts as onto a
    busy CPU, one queued on the idle CPU 1 does not (1 wakeup each)."""
    for params, busy in (({"sync_wakeup": "waker"}, 1), (None, 0)):
        s, _ = simulate(_sync_pair(ACT_SYNC_WAKE), "eevdf", "1x2x1", params)
        m = metrics.measure(s, replay.topology.resolve("1x2x1"))
        assert m["wakeup_placement"] == {"wakeups": 1, "onto_busy": busy, "onto_busy_fraction": float(busy)}
