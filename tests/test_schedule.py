"""The observed schedule: hand-built event sequences with hand-computed intervals, and
random valid schedules rebuilt exactly from their events."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from replay.model.schedule import observed_schedule
from traces import schema as S

from ._events import make_trace, random_schedule, truth_schedule

R, RN, B, U = S.RUNNING, S.RUNNABLE, S.BLOCKED, S.UNKNOWN_STATE


def rows_of(trace, tid):
    s = observed_schedule(trace)
    iv = s.intervals.filter(pl.col("tid") == tid).sort("start_ns", "end_ns")
    return [(r["cpu"], r["start_ns"], r["end_ns"], r["state"], r["begin"], r["end"], r["valid"])
            for r in iv.iter_rows(named=True)], s


def test_task_running_and_runnable_at_trace_start():
    # t=100: task 5 (running on CPU 0 since before the trace) is preempted by 6,
    # which was runnable before the trace began.
    tr = make_trace([
        (100, 0, "switch", 5, dict(tid=5, prev_state=0, next_tid=6)),
        (150, 0, "switch", 6, dict(tid=6, prev_state=1, next_tid=5)),
        (200, 0, "switch", 5, dict(tid=5, prev_state=1, next_tid=0)),
    ], n_cpus=1)
    five, s = rows_of(tr, 5)
    assert five == [(0, 100, 100, R, S.BEGIN_TRACE_START, S.END_PREEMPTED, True),
                    (0, 100, 150, RN, S.BEGIN_PREEMPT, S.END_SWITCHED_IN, True),
                    (0, 150, 200, R, S.BEGIN_SWITCH_IN, S.END_BLOCKED, True),
                    (-1, 200, 200, B, S.BEGIN_SWITCH_OUT, S.END_TRACE_END, True)]
    six, _ = rows_of(tr, 6)
    # its state before the switch-in is unknown (an empty span here): no wait is counted
    assert six[0] == (0, 100, 150, R, S.BEGIN_SWITCH_IN, S.END_BLOCKED, True)
    from replay.metrics.measures import waits

    w = waits(s)
    assert w["tid"].to_list() == [5] and w["wait_ns"].to_list() == [50]


def test_task_running_since_before_the_trace_counts_from_the_cpus_first_event():
    tr = make_trace([
        (100, 1, "wakeup", 0, dict(tid=9, target_cpu=1)),
        (130, 0, "stat_runtime", 7, dict(tid=7, runtime_ns=5000)),
        (160, 0, "switch", 7, dict(tid=7, prev_state=1, next_tid=0)),
    ], n_cpus=2)
    seven, _ = rows_of(tr, 7)
    # unknown until CPU 0's first event (130), running from then (CPU time we can vouch for)
    assert seven[0] == (-1, 100, 130, U, S.BEGIN_TRACE_START, S.END_SWITCHED_IN, False)
    assert seven[1] == (0, 130, 160, R, S.BEGIN_TRACE_START, S.END_BLOCKED, True)


def test_waking_starts_the_wait_and_wakeup_confirms_it():
    tr = make_trace([
        (100, 0, "switch", 3, dict(tid=3, prev_state=1, next_tid=0)),
        (200, 1, "waking", 4, dict(tid=3, target_cpu=0)),
        (205, 1, "wakeup", 4, dict(tid=3, target_cpu=0)),
        (230, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=3)),
    ], n_cpus=2)
    three, s = rows_of(tr, 3)
    assert three[2] == (0, 200, 230, RN, S.BEGIN_WAKEUP, S.END_SWITCHED_IN, True)
    assert s.intervals.filter(pl.col("tid") == 3).height == 4


def test_wakeup_only_traces_start_the_wait_at_the_wakeup():
    tr = make_trace([
        (100, 0, "switch", 3, dict(tid=3, prev_state=2, next_tid=0)),
        (205, 1, "wakeup", 4, dict(tid=3, target_cpu=0)),
        (230, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=3)),
    ], n_cpus=2)
    three, _ = rows_of(tr, 3)
    assert three[1][:4] == (-1, 100, 205, B)
    assert three[2] == (0, 205, 230, RN, S.BEGIN_WAKEUP, S.END_SWITCHED_IN, True)


def test_waking_without_wakeup_and_wakeups_of_runnable_tasks():
    # 6.18: a delayed-dequeue task woken gets sched_waking only; a second wakeup of a task
    # that is already runnable changes nothing.
    tr = make_trace([
        (100, 0, "switch", 3, dict(tid=3, prev_state=1, next_tid=0)),
        (150, 1, "waking", 4, dict(tid=3, target_cpu=0)),
        (170, 1, "waking", 4, dict(tid=3, target_cpu=0)),
        (171, 1, "wakeup", 4, dict(tid=3, target_cpu=0)),
        (190, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=3)),
    ], n_cpus=2)
    three, s = rows_of(tr, 3)
    assert three[2] == (0, 150, 190, RN, S.BEGIN_WAKEUP, S.END_SWITCHED_IN, True)
    assert s.counters["wakeups_of_runnable_tasks"] == 1


def test_migration_of_a_runnable_task_keeps_its_wait():
    tr = make_trace([
        (100, 0, "switch", 3, dict(tid=3, prev_state=1, next_tid=0)),
        (200, 0, "waking", 0, dict(tid=3, target_cpu=0)),
        (210, 1, "migrate", 4, dict(tid=3, orig_cpu=0, target_cpu=1)),
        (260, 1, "switch", 4, dict(tid=4, prev_state=1, next_tid=3)),
    ], n_cpus=2)
    three, s = rows_of(tr, 3)
    assert three[2] == (0, 200, 210, RN, S.BEGIN_WAKEUP, S.END_MIGRATED, True)
    assert three[3] == (1, 210, 260, RN, S.BEGIN_MIGRATE, S.END_SWITCHED_IN, True)
    from replay.metrics.measures import waits

    w = waits(s).filter(pl.col("tid") == 3)
    assert w.rows() == [(3, 1, S.BEGIN_WAKEUP, "wakeup", 200, 260, 60)]


def test_exit_and_tid_reuse():
    tr = make_trace([
        (100, 0, "fork", 2, dict(tid=8, parent_tid=2)),
        (101, 0, "wakeup_new", 2, dict(tid=8, target_cpu=1)),
        (120, 1, "switch", 0, dict(tid=0, prev_state=0, next_tid=8)),
        (150, 1, "exit", 8, dict(tid=8)),
        (151, 1, "switch", 8, dict(tid=8, prev_state=S.STATE_DEAD, next_tid=0)),
        (300, 0, "fork", 2, dict(tid=8, parent_tid=2)),
        (301, 0, "wakeup_new", 2, dict(tid=8, target_cpu=1)),
        (320, 1, "switch", 0, dict(tid=0, prev_state=0, next_tid=8)),
    ], n_cpus=2)
    eight, _ = rows_of(tr, 8)
    assert eight == [(1, 101, 120, RN, S.BEGIN_NEW, S.END_SWITCHED_IN, True),
                     (1, 120, 151, R, S.BEGIN_SWITCH_IN, S.END_EXITED, True),
                     (1, 301, 320, RN, S.BEGIN_NEW, S.END_SWITCHED_IN, True),
                     (1, 320, 320, R, S.BEGIN_SWITCH_IN, S.END_TRACE_END, True)]


def test_idle_task_has_no_intervals():
    tr = make_trace([
        (100, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=3)),
        (200, 0, "switch", 3, dict(tid=3, prev_state=1, next_tid=0)),
    ], n_cpus=1)
    s = observed_schedule(tr)
    assert 0 not in s.intervals["tid"].to_list()


def test_r_and_r_plus_are_both_preemptions_with_their_state_kept():
    tr = make_trace([
        (100, 0, "switch", 3, dict(tid=3, prev_state=0, next_tid=4)),
        (150, 0, "switch", 4, dict(tid=4, prev_state=S.STATE_PREEMPTED, next_tid=3)),
        (200, 0, "switch", 3, dict(tid=3, prev_state=1, next_tid=4)),
    ], n_cpus=1)
    s = observed_schedule(tr)
    pre = s.intervals.filter(pl.col("begin") == S.BEGIN_PREEMPT).sort("start_ns")
    assert pre["sleep_state"].to_list() == [0, S.STATE_PREEMPTED]
    assert pre["cause"].to_list() == [S.BEGIN_PREEMPT, S.BEGIN_PREEMPT]


def test_lost_events_invalidate_the_cpus_tasks_until_seen_again():
    tr = make_trace([
        (100, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=3)),
        (150, 1, "waking", 0, dict(tid=4, target_cpu=0)),
        (300, 0, "lost", -1, dict(lost_events=12)),
        (300, 0, "switch", 5, dict(tid=5, prev_state=1, next_tid=4)),
        (400, 0, "switch", 4, dict(tid=4, prev_state=1, next_tid=0)),
    ], n_cpus=2)
    s = observed_schedule(tr)
    three = s.intervals.filter(pl.col("tid") == 3).sort("start_ns", "end_ns")
    run = three.filter(pl.col("state") == R).row(0, named=True)
    assert (run["start_ns"], run["end_ns"], run["end"], run["valid"]) == (100, 300, S.END_LOST, False)
    after = three.filter(pl.col("start_ns") == 300).row(0, named=True)
    assert (after["state"], after["begin"], after["valid"]) == (U, S.BEGIN_LOST, False)
    four = s.intervals.filter(pl.col("tid") == 4).sort("start_ns")
    # its wait was cut by the loss: not counted
    from replay.metrics.measures import waits

    assert 4 not in waits(s)["tid"].to_list()
    assert four.filter(pl.col("state") == R).row(0, named=True)["start_ns"] == 300
    assert s.counters["task_states_lost"] == 2


def test_untraced_idle_to_task_switch_is_inferred():
    # Linux 6.18 in the corpus sometimes does not trace idle -> task: the task simply
    # emits events on the CPU. The switch-in is placed at the CPU's last event (the wakeup).
    tr = make_trace([
        (100, 1, "switch", 15, dict(tid=15, prev_state=1, next_tid=0)),
        (200, 0, "waking", 3, dict(tid=15, target_cpu=1)),
        (220, 1, "wakeup", 0, dict(tid=15, target_cpu=1)),
        (233, 1, "stat_runtime", 15, dict(tid=15, runtime_ns=15000)),
        (236, 1, "switch", 15, dict(tid=15, prev_state=S.STATE_IDLE, next_tid=0)),
    ], n_cpus=2)
    fifteen, s = rows_of(tr, 15)
    assert fifteen[2] == (1, 200, 220, RN, S.BEGIN_WAKEUP, S.END_SWITCHED_IN, True)
    assert fifteen[3] == (1, 220, 236, R, S.BEGIN_SWITCH_IN, S.END_BLOCKED, True)
    assert s.counters["switch_in_inferred"] == 1 and s.counters["inconsistent_events"] == 0


def test_untraced_task_to_idle_switch_is_inferred():
    tr = make_trace([
        (100, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=68)),
        (120, 0, "stat_runtime", 68, dict(tid=68, runtime_ns=20000)),
        (500, 0, "waking", 0, dict(tid=38, target_cpu=0)),   # idle emits: 68 left unseen
        (700, 1, "waking", 2, dict(tid=68, target_cpu=0)),
    ], n_cpus=2)
    s68, s = rows_of(tr, 68)
    assert s68[0] == (0, 100, 120, R, S.BEGIN_SWITCH_IN, S.END_LOST, True)
    assert s68[1] == (-1, 120, 700, U, S.BEGIN_LOST, S.END_WOKEN, False)
    assert s.counters["switch_out_inferred"] == 1


def test_tasks_table_class_nice_and_pinned_kthreads():
    tr = make_trace([
        (100, 0, "switch", 0, dict(tid=0, prev_state=0, next_tid=21)),
        (110, 0, "switch", 21, dict(tid=21, prev_state=1, next_tid=30)),
        (120, 0, "switch", 30, dict(tid=30, prev_state=1, next_tid=31)),
        (130, 1, "switch", 0, dict(tid=0, prev_state=0, next_tid=22)),
        (140, 1, "switch", 22, dict(tid=22, prev_state=1, next_tid=0)),
    ], n_cpus=2, comms={21: "migration/0", 22: "ksoftirqd/0", 30: "hog", 31: "rt"},
        prio={21: 0, 30: 130, 31: 19, 22: 120})
    t = {r["tid"]: r for r in tr.tasks.iter_rows(named=True)}
    assert t[21]["pinned_cpu"] == 0 and t[21]["is_kthread"] and t[21]["sched_class"] == S.CLASS_RT
    assert t[22]["pinned_cpu"] == -1  # named for CPU 0 but ran on CPU 1
    assert t[30]["nice"] == 10 and t[30]["sched_class"] == S.CLASS_FAIR and not t[30]["is_kthread"]
    assert t[31]["sched_class"] == S.CLASS_RT


# -- properties ------------------------------------------------------------------------

@settings(max_examples=120)
@given(seed=st.integers(0, 2**31), n_cpus=st.integers(1, 4), waking=st.booleans(),
       steps=st.integers(1, 120))
def test_random_schedules_are_rebuilt_exactly(seed, n_cpus, waking, steps):
    g = random_schedule(seed, n_cpus=n_cpus, n_steps=steps, with_waking=waking)
    tr = make_trace(g.rows, n_cpus=n_cpus)
    s = observed_schedule(tr)
    cols = S.INTERVALS.names
    assert s.intervals.sort(cols).equals(truth_schedule(g, tr).intervals.sort(cols))
    iv = s.intervals
    # every task's intervals tile its lifetime without overlap
    for _, g_iv in iv.sort("tid", "start_ns", "end_ns").group_by("tid"):
        st_, en = g_iv["start_ns"].to_list(), g_iv["end_ns"].to_list()
        ends = g_iv["end"].to_list()
        for i in range(1, len(st_)):
            gap_ok = st_[i] == en[i - 1] or ends[i - 1] == S.END_EXITED
            assert gap_ok and st_[i] >= en[i - 1]
    # no CPU runs two tasks at once
    run = iv.filter(pl.col("state") == R).sort("cpu", "start_ns")
    for _, c in run.group_by("cpu"):
        assert (c["start_ns"].to_numpy()[1:] >= c["end_ns"].to_numpy()[:-1]).all()


@pytest.mark.parametrize("seed", range(5))
def test_rebuilt_metrics_equal_the_generating_schedules(seed):
    from replay import metrics
    from replay.model import topology

    g = random_schedule(seed, n_cpus=3, n_steps=300)
    tr = make_trace(g.rows, n_cpus=3)
    topo = topology.from_spec("1x3x1")
    got = metrics.measure(observed_schedule(tr), topo, by="task")
    want = metrics.measure(truth_schedule(g, tr), topo, by="task")
    got.pop("warnings"), want.pop("warnings")
    assert got == want
    assert got["wait_ns"]["count"] > 0 and got["context_switches"] > 0


def test_tids_too_large_for_the_dense_table_give_the_same_schedule():
    """Tids >= 2**24 take observed_schedule's other path (index columns instead of a dense
    tid table): the schedule must be the same as with small tids."""
    big = 1 << 30
    g = random_schedule(11, n_cpus=2, n_steps=200)

    def shift(v):
        return v + big if v > 0 else v

    rows = [(ts, cpu, kind, shift(cur), {k: (shift(v) if k in ("tid", "next_tid", "parent_tid", "old_tid") else v)
                                         for k, v in f.items()}) for ts, cpu, kind, cur, f in g.rows]
    small = observed_schedule(make_trace(g.rows)).intervals
    large = observed_schedule(make_trace(rows)).intervals
    assert large["tid"].min() > big
    cols = S.INTERVALS.names
    assert large.with_columns(pl.col("tid") - big).sort(cols).equals(small.sort(cols))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 5), st.integers(0, 50)), min_size=0, max_size=300))
def test_per_task_wait_stats_are_nearest_rank_over_each_tasks_waits(rows):
    """group_wait_stats (partial sorts per task) against a full sort per task."""
    import numpy as np

    from replay.metrics import _kernel as MK
    from replay.metrics.measures import _Q

    task = np.array([t for t, _ in rows], np.int32)
    wait = np.array([w for _, w in rows], np.int64)
    n, qs = 6, np.array(list(_Q.values()), np.float64)
    count, mean = np.zeros(n, np.int64), np.zeros(n, np.float64)
    pct, wmax, total = np.zeros((n, len(qs)), np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    MK.group_wait_stats(task, wait, n, qs, count, mean, pct, wmax, total)
    for t in range(n):
        g = sorted(w for k, w in rows if k == t)
        assert count[t] == len(g) and total[t] == sum(g)
        if g:
            assert mean[t] == sum(g) / len(g) and wmax[t] == g[-1]
            assert list(pct[t]) == [g[max(int(np.ceil(len(g) * q)), 1) - 1] for q in qs]
