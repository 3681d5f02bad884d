"""Properties of the replay engine (EEVDF + stock RT) on generated workloads and topologies,
the worked examples of specs/eevdf.md §12 and specs/rt.md §9, and one corpus capture.

Properties (docs/engine-model.md, specs/eevdf.md, specs/rt.md), checked with the public
fairness kit (replay.testing: its strategies and invariant checks, the ones
`schedreplay check` runs):

(a) with every speed factor at 1 a task's running time up to the end of each burst is
    exactly the demand of its bursts so far (``check_demand``); (b) no CPU runs two tasks
    at once, no task runs on two CPUs, a task's intervals tile its life
    (``check_one_task_per_cpu``, ``check_one_cpu_per_task``); (c) a burst becomes runnable
    exactly when its start rule says (absolute time, sleep after the previous burst) or,
    when an action starts it, not before its actor reached the action's progress; nothing
    runs without having waited (``check_causality``); (d) a runnable RT task never waits
    while a less urgent task runs on its CPU, but for the fair server (``check_rt_strict``);
    (e) equal-weight CPU hogs on one CPU stay within one slice (as the ticks round it) of
    each other; (f) long-run shares follow the weights; (g) byte-identical output for the
    same inputs and seed (``check_determinism``, and the Parquet bytes).

The worked examples run through the engine where they are about schedules, and through the
class hooks on hand-built state (the Rq helper) where they are about one decision; the
expected values are the specs' own. X10 (yield) has no counterpart in a replay.
"""

from __future__ import annotations

import io
import re

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import eevdf as E
from policies import rt as R
from policies._protocol import DEQ_MIGRATE, DEQ_SLEEP, ENQ_NEW, ENQ_WAKEUP
from policies.weights import WEIGHT
from policies import _state as S
from replay import replay
from replay import testing as K
from replay.sim.engine import _class_and_policy
from replay.model.topology import from_spec
from replay.model.workload import START_AFTER, START_AT, START_BY
from replay.testing import make_workload
from traces import schema as SC

MS = 1_000_000
HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
# Generated properties take their example count from the hypothesis profile (tests/conftest.py:
# 60 by default); the long single-CPU runs of (e) and (f) use fixed, smaller counts.
RUNNING, RUNNABLE, BLOCKED = SC.RUNNING, SC.RUNNABLE, SC.BLOCKED
#: EEVDF's switches and base slices the generated cases turn off or change sometimes
EEVDF_BOOLS = ("PLACE_LAG", "RUN_TO_PARITY", "DELAY_DEQUEUE", "DELAY_ZERO", "PREEMPT_SHORT", "PLACE_DEADLINE_INITIAL",
               "PLACE_REL_DEADLINE", "WAKEUP_PREEMPTION")


def eevdf_params(speed: bool = True):
    """Engine and EEVDF parameters off their defaults (the kit's engine_params)."""
    return K.engine_params(speed=speed, policy_bools=EEVDF_BOOLS, base_slices=(300_000, 3 * MS))


def run(wl, spec, params=None, seed=0) -> pl.DataFrame:
    sched, _ = replay(wl, policy="eevdf", topology=from_spec(spec), params=params, seed=seed)
    return sched.intervals


def case_run(case, params, seed=0) -> K.Run:
    wl, spec = case
    return K.replay_case(wl, from_spec(spec), "eevdf", params, seed)


# -- (a) demand, (b) one task per CPU and one CPU per task, (c) causality -----------------------

@settings(deadline=None, suppress_health_check=HC)
@given(case=K.workloads(), params=eevdf_params(speed=False))
def test_running_time_equals_demand(engine_ready, case, params):
    K.check_demand(case_run(case, params))


@settings(deadline=None, suppress_health_check=HC)
@given(case=K.workloads(), params=eevdf_params())
def test_no_overlaps_and_contiguous_lives(engine_ready, case, params):
    r = case_run(case, params)
    K.check_one_task_per_cpu(r)
    K.check_one_cpu_per_task(r)


@settings(deadline=None, suppress_health_check=HC)
@given(case=K.workloads(), params=eevdf_params(speed=False))
def test_wakeups_respect_start_rules_and_actions(engine_ready, case, params):
    K.check_causality(case_run(case, params))


# -- (d) RT strictness ----------------------------------------------------------------------

@settings(deadline=None, suppress_health_check=HC)
@given(case=K.workloads(max_tasks=6), hz=st.sampled_from([250, 1000]), one_cpu=st.booleans())
def test_rt_never_waits_behind_less_urgent_work(engine_ready, case, hz, one_cpu):
    wl, spec = case
    if one_cpu:
        spec = "1x1x1"
        wl.tasks = wl.tasks.with_columns(pinned_cpu=pl.lit(-1, pl.Int16))
    else:
        wl = K.pin_rt_tasks(wl, from_spec(spec).n_cpus)
    r = case_run((wl, spec), {"hz": hz})  # the default fair server (50 ms per 1 s) cannot act this soon
    assert K.rt_wait_overlaps(r) == []
    K.check_rt_strict(r)


def _rt_wakeup_case(q_demand_ns: int | None):
    """Two CPUs, each running a pinned fair hog (tids 100, 101). R (tid 102, RT prio 49,
    unpinned) runs 100 us at t=0 on CPU 0, sleeps 1 ms, and wakes at 1.15 ms onto CPU 0
    (its previous CPU, running a fair task: rt.md §6.3 keeps it there). Optional Q (tid
    103, RT prio 9, pinned to CPU 1) starts at 200 us and exits after q_demand_ns."""
    tasks = [dict(bursts=[dict(demand=-1, prio=120)], pinned=0), dict(bursts=[dict(demand=-1, prio=120)], pinned=1),
             dict(bursts=[dict(demand=100_000, prio=49, start=0),
                          dict(demand=200_000, prio=49, kind=START_AFTER, start=MS)])]
    if q_demand_ns is not None:
        tasks.append(dict(bursts=[dict(demand=q_demand_ns, prio=9, start=200_000)], pinned=1))
    wl = make_workload(tasks, end_ns=5 * MS, n_cpus=2)
    return run(wl, "1x2x1", {"preempt_latency_ns": 50_000, "idle_wakeup_latency_ns": 0})


def _r_second_wait(iv):
    w = iv.filter((pl.col("tid") == 102) & (pl.col("state") == RUNNABLE) & (pl.col("cause") == SC.BEGIN_WAKEUP))
    assert w.height >= 1
    return w.sort("start_ns")


def test_rt_wakeup_preempting_a_fair_task_is_not_pushed(engine_ready):
    # rt.md §6.4: task_woken_rt pushes only when the wakee did not preempt (the CPU runs an
    # RT/DL task, no resched pending). Here R preempts CPU 0's fair hog, so it waits the
    # preemption latency there (50 us), rather than being rescheduled at once by the push loop.
    w = _r_second_wait(_rt_wakeup_case(None))
    assert w["start_ns"].to_list() == [1_150_000]
    assert w["end_ns"].to_list() == [1_200_000] and w["cpu"].to_list() == [0]


def test_rt_pull_skips_a_task_more_urgent_than_what_its_cpu_runs(engine_ready):
    # rt.md §6.5: when Q exits on CPU 1 (at 1.17 ms, inside R's 50 us latency window on CPU
    # 0), CPU 1 does not pull R: R is more urgent than CPU 0's fair hog and will run there soon.
    iv = _rt_wakeup_case(920_000)
    assert iv.filter((pl.col("tid") == 103) & (pl.col("state") == RUNNING))["end_ns"].max() == 1_170_000
    w = _r_second_wait(iv)
    assert w.height == 1 and w["cpu"].to_list() == [0] and w["end_ns"].to_list() == [1_200_000]
    r = iv.filter((pl.col("tid") == 102) & (pl.col("state") == RUNNING) & (pl.col("start_ns") > MS))
    assert r["cpu"].to_list() == [0]


@settings(max_examples=15, deadline=None, suppress_health_check=HC)
@given(case=K.workloads(max_tasks=5, spec="1x1x1", pinned=False, horizon=(40 * MS, 80 * MS)),
       period=st.sampled_from([4 * MS, 10 * MS]), runtime=st.sampled_from([500_000, 2 * MS]))
def test_fair_server_is_the_only_exception(engine_ready, case, period, runtime):
    """rt.md §7.2: with a fair server, fair tasks may run while RT waits, but each such
    stretch lasts at most the server's runtime (plus the tick that notices it ran out)."""
    K.check_rt_strict(case_run(case, {"hz": 1000, "fair_server_period_ns": period,
                                      "fair_server_runtime_ns": runtime}))


# -- (e), (f) fairness on one CPU -------------------------------------------------------------

def hogs(nices, end_ns, start_ns=0):
    return make_workload([dict(bursts=[dict(demand=-1, prio=120 + n)]) for n in nices], start_ns=start_ns,
                         end_ns=end_ns)


def cpu_time_until(iv, tid, t):
    r = iv.filter((pl.col("tid") == tid) & (pl.col("state") == RUNNING))
    return int(r.select((pl.min_horizontal("end_ns", pl.lit(t)) - pl.col("start_ns")).clip(0).sum()).item())


@settings(max_examples=20, deadline=None, suppress_health_check=HC)
@given(n=st.integers(2, 5), nice=st.sampled_from([-5, 0, 7]), hz=st.sampled_from([100, 250, 1000]),
       slice_ns=st.sampled_from([700_000, 3_000_000]), rtp=st.booleans())
def test_equal_weights_share_within_one_slice(engine_ready, n, nice, hz, slice_ns, rtp):
    end = 200 * MS
    wl = hogs([nice] * n, end)
    iv = run(wl, "1x1x1", {"hz": hz, "base_slice_ns": slice_ns, "RUN_TO_PARITY": rtp})
    tick = 1_000_000_000 // hz
    # a slice ends at the first tick at which v >= d: a whole number of ticks, one more when
    # calc_delta_fair's per-tick truncation leaves v just short of d (weights other than 1024)
    effective = (-(-slice_ns // tick) + (0 if nice == 0 else 1)) * tick
    tids = wl.tasks["tid"].to_list()
    for t in range(10 * MS, end + 1, 10 * MS):
        got = [cpu_time_until(iv, tid, t) for tid in tids]
        assert max(got) - min(got) <= effective, (t, got, effective)


@settings(max_examples=12, deadline=None, suppress_health_check=HC)
@given(nices=st.lists(st.sampled_from([-5, -2, 0, 3, 5, 10]), min_size=2, max_size=4),
       hz=st.sampled_from([250, 1000]))
def test_long_run_shares_follow_weights(engine_ready, nices, hz):
    end = 3000 * MS
    wl = hogs(nices, end)
    iv = run(wl, "1x1x1", {"hz": hz})
    w = np.array([WEIGHT[n + 20] for n in nices], float)
    for tid, wi in zip(wl.tasks["tid"].to_list(), w):
        share = cpu_time_until(iv, tid, end) / end
        ideal = wi / w.sum()
        # within 2 % of the ideal share, or two ticks over the run for the smallest shares
        # (a task runs whole ticks: nice 10 beside nice -5 gets a dozen 4 ms turns in 3 s)
        tol = max(0.02 * ideal, 2 * (1_000_000_000 // hz) / end)
        assert abs(share - ideal) <= tol, (nices, tid, share, ideal)


# -- (g) determinism ------------------------------------------------------------------------

def parquet_bytes(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    pq.write_table(df.to_arrow(), buf, compression="zstd")
    return buf.getvalue()


@settings(max_examples=15, deadline=None, suppress_health_check=HC)
@given(case=K.workloads(), params=eevdf_params(), seed=st.sampled_from([0, 7]))
def test_same_inputs_and_seed_give_identical_bytes(engine_ready, case, params, seed):
    r = case_run(case, params, seed)
    K.check_determinism(r)
    assert parquet_bytes(r.intervals) == parquet_bytes(r.replay_again())


# =============================================================================================
# specs/eevdf.md §12 worked examples (≥ 8 CPUs: r = 2.8 ms)
# =============================================================================================

class Rq:
    """Engine state built by hand (replay/_state.py) and class hooks called directly
    (policies/_protocol.py signature): for the class-level examples."""

    def __init__(self, M, prios, n_cpus=8, hz=1000, params=None):
        n = len(prios)
        pr = np.asarray(prios, np.int64)
        self.M = M
        self.TS = S.new_task_matrix(n)
        self.TS[:, S.T_CLASS] = np.where(pr < 100, S.CLS_RT, S.CLS_FAIR)
        self.TS[:, S.T_PRIO] = pr
        self.TS[:, S.T_POLICY] = np.where(pr < 100, S.POL_FIFO, S.POL_NORMAL)
        self.CS = np.zeros((n_cpus, S.NC), np.int64)
        self.CS[:, S.C_CURR] = -1
        self.CS[:, S.C_FAIR_HEAD] = -1
        self.CS[:, S.C_RT_HEAD] = -1
        self.PT, self.PC = M.state(n, n_cpus)
        self.PP = M.pack(params, n_cpus, hz) if M is E else M.pack(params, hz)
        self.cls = S.CLS_FAIR if M is E else S.CLS_RT

    def hook(self, name, cpu, t, arg=0, now=0):
        return int(getattr(self.M, name)(self.TS, self.CS, self.PT, self.PC, self.PP, cpu, t, arg, now))

    def add(self, cpu, t, flags=ENQ_WAKEUP, now=0, new=True):
        if new:
            self.hook("init_task", cpu, t, -1, now)
        S.list_add(self.TS, self.CS, cpu, t, self.cls)
        self.TS[t, S.T_STATE] = S.S_RUNNABLE
        self.hook("enqueue", cpu, t, flags, now)

    def run_(self, cpu, t, now=0):
        """t becomes the running task of cpu (set_next)."""
        self.CS[cpu, S.C_CURR] = t
        self.TS[t, S.T_STATE] = S.S_RUNNING
        self.TS[t, S.T_ACCT] = now
        self.hook("set_next", cpu, t, 0, now)

    def account(self, cpu, now):
        t = self.CS[cpu, S.C_CURR]
        dt = now - self.TS[t, S.T_ACCT]
        self.TS[t, S.T_ACCT] = now
        return self.hook("update_curr", cpu, t, dt, now) if dt > 0 else 0

    def v(self, t):
        return int(self.PT[t, E.V])

    def d(self, t):
        return int(self.PT[t, E.D])


def test_x1_virtual_requests():
    rq = Rq(E, [120, 125, 115, 139, 120, 125])
    for t in range(4):
        rq.add(0, t, ENQ_WAKEUP)
    for t, want in zip(range(4), (2_800_000, 8_558_806, 918_679, 191_146_666)):
        assert rq.d(t) - rq.v(t) == want
    rq.add(0, 4, ENQ_WAKEUP | ENQ_NEW)
    rq.add(0, 5, ENQ_WAKEUP | ENQ_NEW)
    assert rq.d(4) - rq.v(4) == 1_400_000 and rq.d(5) - rq.v(5) == 4_279_403


@pytest.mark.parametrize("hz, nice, limit", [(1000, 0, 5_600_000), (300, 0, 5_600_000), (250, 0, 5_600_000),
                                             (100, 0, 10_000_000), (250, 5, 17_117_612), (1000, 5, 17_117_612)])
def test_x2_lag_limit(hz, nice, limit):
    for far in (+500 * MS, -500 * MS):
        rq = Rq(E, [120, 120 + nice], hz=hz)
        rq.add(0, 0)
        rq.add(0, 1)
        rq.PT[0, E.V], rq.PT[1, E.V] = 0, far
        assert rq.hook("dequeue", 0, 1, DEQ_MIGRATE) == 1
        assert int(rq.PT[1, E.VLAG]) == (-limit if far > 0 else limit)


def test_x3_virtual_clock_and_eligibility():
    rq = Rq(E, [120, 120, 125, 120])
    for t in range(3):
        rq.add(0, t)
    rq.PC[0, E.Q_V0] = 10 * MS
    for t, v, d in ((0, 10 * MS, 14 * MS), (1, 12 * MS, 13 * MS), (2, 20 * MS, 1 * MS)):
        rq.PT[t, E.V], rq.PT[t, E.D] = v, d
    # the nice-5 entity has the earliest deadline but is not eligible; of the eligible two,
    # the earlier deadline wins
    assert rq.hook("pick", 0, -1) == 1
    rq.PT[1, E.D] = 15 * MS
    assert rq.hook("pick", 0, -1) == 0
    # a new task with lag 0 is placed at V
    rq.add(0, 3)
    assert rq.v(3) == 12_265_211


def test_x4_place_lag_inflation():
    rq = Rq(E, [120, 120, 120])
    rq.add(0, 0)
    rq.add(0, 1)
    rq.PT[0, E.V] = rq.PT[1, E.V] = 100 * MS
    rq.run_(0, 0)
    rq.PT[2, E.VLAG] = 3 * MS
    rq.add(0, 2, ENQ_WAKEUP, new=False)
    assert rq.v(2) == 95_500_000 and rq.d(2) == 95_500_000 + 2_800_000


def test_x5_new_task_gets_half_a_request():
    rq = Rq(E, [120, 120])
    rq.add(0, 0)
    rq.PT[0, E.V] = 50 * MS
    rq.add(0, 1, ENQ_WAKEUP | ENQ_NEW)
    assert rq.v(1) == 50 * MS and rq.d(1) == 51_400_000


R28 = {"base_slice_ns": 2_800_000, "tunable_scaling": "none", "PLACE_DEADLINE_INITIAL": False}


def turns(iv, until=None):
    r = iv.filter(pl.col("state") == RUNNING).filter(pl.col("end_ns") > pl.col("start_ns")).sort("start_ns")
    if until is not None:
        r = r.filter(pl.col("start_ns") < until)
    return [(t, s, e) for t, s, e in r.select("tid", "start_ns", "end_ns").rows()]


def test_x6_three_equal_hogs_round_robin(engine_ready):
    wl = hogs([0, 0, 0], 30 * MS)
    iv = run(wl, "1x1x1", {**R28, "hz": 1000})
    got = turns(iv, 18 * MS)
    a, b, c = wl.tasks["tid"].to_list()
    assert got == [(a, 0, 3 * MS), (b, 3 * MS, 6 * MS), (c, 6 * MS, 9 * MS), (a, 9 * MS, 12 * MS),
                   (b, 12 * MS, 15 * MS), (c, 15 * MS, 18 * MS)]


def test_x7_nice0_and_nice5_pick_sequence():
    """X7 as stated ("ideal": every run is one whole request, 2.8 ms wall): at the class level,
    account each pick a full request and pick again."""
    rq = Rq(E, [120, 125], params={"PLACE_DEADLINE_INITIAL": False})
    rq.add(0, 0)
    rq.add(0, 1)
    assert rq.d(0) == 2_800_000 and rq.d(1) == 8_558_806
    now, cur, picks = 0, -1, []
    for _ in range(12):
        nxt = rq.hook("pick", 0, -1, 0, now)
        if nxt != cur:
            if cur >= 0:
                rq.hook("put_prev", 0, cur, 0, now)
                rq.TS[cur, S.T_STATE] = S.S_RUNNABLE
            rq.run_(0, nxt, now)
            cur = nxt
        picks.append(nxt)
        now += 2_800_000
        rq.account(0, now)
    assert picks == [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]


@pytest.mark.parametrize("hz", [250, 1000])
def test_x7_long_run_share(engine_ready, hz):
    """X7: the nice-0 task's long-run share is close to the ideal 75.35 % (75 % in whole
    requests); here with real ticks, which switch tasks mid-request once protection is gone
    (eevdf.md §9)."""
    wl = hogs([0, 5], 3000 * MS)
    iv = run(wl, "1x1x1", {**R28, "hz": hz})
    a = wl.tasks["tid"].to_list()[0]
    assert abs(cpu_time_until(iv, a, 3000 * MS) / (3000 * MS) - 0.7535) <= 0.01


def test_x8a_wakeup_does_not_preempt_a_protected_task(engine_ready):
    wl = make_workload([dict(bursts=[dict(demand=-1)]), dict(bursts=[dict(demand=-1, start=MS)])], end_ns=10 * MS)
    iv = run(wl, "1x1x1", {**R28, "hz": 1000})
    a, w = wl.tasks["tid"].to_list()
    assert turns(iv, 6 * MS)[:2] == [(a, 0, 3 * MS), (w, 3 * MS, 6 * MS)]


def test_x8b_positive_lag_wakee_preempts():
    rq = Rq(E, [120, 120])
    rq.add(0, 0)
    rq.run_(0, 0, 0)
    rq.account(0, 1 * MS)
    assert rq.v(0) == 1 * MS
    rq.PT[1, E.VLAG] = 2 * MS
    rq.add(0, 1, ENQ_WAKEUP, now=1 * MS, new=False)
    assert rq.v(1) == -3 * MS
    assert rq.hook("check_preempt", 0, 1, 0, 1 * MS) == 1


@pytest.mark.parametrize("preempt_short", [True, False])
def test_x8c_shorter_slice_wakee(preempt_short):
    rq = Rq(E, [120, 120], params={"PREEMPT_SHORT": preempt_short})
    rq.add(0, 0)
    rq.run_(0, 0, 0)
    rq.account(0, 1 * MS)
    rq.hook("init_task", 0, 1, -1)
    rq.PT[1, E.CUSTOM], rq.PT[1, E.SLICE] = 1, 500_000
    rq.add(0, 1, ENQ_WAKEUP, now=1 * MS, new=False)
    assert rq.v(1) == 1 * MS and rq.d(1) == 1_500_000
    got = rq.hook("check_preempt", 0, 1, 0, 1 * MS)
    if preempt_short:
        assert got == 1 and rq.PT[0, E.VPROT] == rq.v(0)  # A's protection cancelled
    else:
        assert got == 0


def test_x9_delayed_dequeue_woken_in_place(engine_ready):
    """X9 (i): A blocks ineligible after 2 ms and stays queued; woken when v_B = 1 ms it keeps
    its v and deadline (2.0, 2.8) and does not preempt B, which runs to its deadline
    (v_B = 2.8 ms); then V = 2.4 ms and A is picked."""
    wl = make_workload([dict(bursts=[dict(demand=2 * MS), dict(demand=MS, kind=START_AFTER, start=MS)]),
                        dict(bursts=[dict(demand=-1)])], end_ns=10 * MS)
    iv = run(wl, "1x1x1", {**R28, "hz": 10_000})
    a, b = wl.tasks["tid"].to_list()
    # A runs from 4.8 ms until its deadline (v = 2.8 ms, after 0.8 ms): the tie on the next
    # deadlines (5.6 ms) goes against the running entity (§12), so B follows
    assert turns(iv, 6 * MS) == [(a, 0, 2 * MS), (b, 2 * MS, 4_800_000), (a, 4_800_000, 5_600_000),
                                 (b, 5_600_000, 8_400_000)]


def test_x9_delayed_entity_picked_leaves_with_zero_lag():
    """X9 (ii): the eligible delayed entity is dequeued by the pick with its lag clipped to 0,
    and the pick restarts."""
    rq = Rq(E, [120, 120])
    rq.add(0, 0)
    rq.add(0, 1)
    rq.run_(0, 0, 0)
    rq.account(0, 2 * MS)
    assert rq.hook("dequeue", 0, 0, DEQ_SLEEP, 2 * MS) == 0  # v_A 2.0 > V 1.0: kept, delayed
    rq.TS[0, S.T_DELAYED] = 1
    rq.CS[0, S.C_NR_DELAYED] = 1
    rq.TS[0, S.T_STATE] = S.S_BLOCKED
    rq.hook("put_prev", 0, 0, 0, 2 * MS)
    rq.run_(0, 1, 2 * MS)
    rq.account(0, 4_800_000)  # B reaches its deadline: v_B = 2.8, d_B -> 5.6
    assert rq.d(1) == 5_600_000
    assert rq.hook("pick", 0, -1, 0, 4_800_000) == 1
    assert rq.PT[0, E.VLAG] == 0 and rq.TS[0, S.T_ON_RQ] == 0 and rq.CS[0, S.C_NR_FAIR] == 1


def test_x9_without_delay_dequeue():
    """X9 (iii): A leaves at the block with vlag -1 ms and is placed right of V on waking."""
    rq = Rq(E, [120, 120], params={"DELAY_DEQUEUE": False})
    rq.add(0, 0)
    rq.add(0, 1)
    rq.run_(0, 0, 0)
    rq.account(0, 2 * MS)
    assert rq.hook("dequeue", 0, 0, DEQ_SLEEP, 2 * MS) == 1
    S.list_remove(rq.TS, rq.CS, 0, 0, S.CLS_FAIR)
    assert rq.PT[0, E.VLAG] == -1 * MS
    rq.CS[0, S.C_CURR] = -1
    rq.hook("put_prev", 0, 0, 0, 2 * MS)
    rq.run_(0, 1, 2 * MS)
    rq.account(0, 3 * MS)  # B alone at v = 1 ms = V
    rq.add(0, 0, ENQ_WAKEUP, now=3 * MS, new=False)
    assert rq.v(0) == 3 * MS and rq.d(0) == 3 * MS + 2_800_000  # 2 ms right of V (inflated)


@pytest.mark.parametrize("hz, turn", [(1000, 3 * MS), (250, 4 * MS), (100, 10 * MS)])
def test_x11_tick_rounding(engine_ready, hz, turn):
    wl = hogs([0, 0], 60 * MS)
    iv = run(wl, "1x1x1", {**R28, "hz": hz})
    a, b = wl.tasks["tid"].to_list()
    assert turns(iv, 2 * turn) == [(a, 0, turn), (b, turn, 2 * turn)]


def test_x11_new_deadline_from_the_overrun():
    rq = Rq(E, [120, 120])
    rq.add(0, 0)
    rq.add(0, 1)
    rq.run_(0, 0, 0)
    assert rq.account(0, 3 * MS) == 1  # request completed at the 3 ms tick
    assert rq.v(0) == 3 * MS and rq.d(0) == 5_800_000


# X10 (yield) is not expressible: replays have no sched_yield and the protocol no yield hook.


# =============================================================================================
# specs/rt.md §9 worked examples
# =============================================================================================

def test_r1_priority_mapping():
    prio = np.array([99 - 1, 99 - 50, 99 - 99, 120 - 5, -1, 0], np.int64)
    cls, pol = _class_and_policy(prio, np.array([False, False, False, False, False, True]), "fifo")
    assert cls.tolist() == [S.CLS_RT, S.CLS_RT, S.CLS_RT, S.CLS_FAIR, S.CLS_STOP, S.CLS_STOP]
    assert pol.tolist()[:4] == [S.POL_FIFO, S.POL_FIFO, S.POL_FIFO, S.POL_NORMAL]


def test_r1_more_urgent_prio_preempts(engine_ready):
    """rt_priority 50 (prio 49) preempts rt_priority 1 (prio 98) at once; prio 0 preempts 49."""
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=98)]), dict(bursts=[dict(demand=MS, prio=49, start=MS)]),
                        dict(bursts=[dict(demand=MS // 2, prio=0, start=1_200_000)])], end_ns=5 * MS)
    x, y, z = wl.tasks["tid"].to_list()
    assert turns(run(wl, "1x1x1")) == [(x, 0, MS), (y, MS, 1_200_000), (z, 1_200_000, 1_700_000),
                                      (y, 1_700_000, 2_500_000), (x, 2_500_000, 5 * MS)]


def test_r2_round_robin(engine_ready):
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=49)]), dict(bursts=[dict(demand=-1, prio=49)])],
                       end_ns=450 * MS)
    a, b = wl.tasks["tid"].to_list()
    got = turns(run(wl, "1x1x1", {"hz": 250, "rt_policy": "rr"}))
    assert got[:4] == [(a, 0, 100 * MS), (b, 100 * MS, 200 * MS), (a, 200 * MS, 300 * MS), (b, 300 * MS, 400 * MS)]
    # the remaining slice survives a sleep: A ran 62 ms (15 ticks), slept, and has 10 ticks
    # (40 ms) at its next turn; B's slice counts from its first tick (64 ms)
    wl = make_workload([dict(bursts=[dict(demand=62 * MS, prio=49),
                                     dict(demand=-1, prio=49, kind=START_AFTER, start=10 * MS)]),
                        dict(bursts=[dict(demand=-1, prio=49)])], end_ns=400 * MS)
    a, b = wl.tasks["tid"].to_list()
    got = turns(run(wl, "1x1x1", {"hz": 250, "rt_policy": "rr"}))
    assert got[:4] == [(a, 0, 62 * MS), (b, 62 * MS, 160 * MS), (a, 160 * MS, 200 * MS), (b, 200 * MS, 300 * MS)]
    # a lone RR task never yields to a lower prio
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=49)]), dict(bursts=[dict(demand=-1, prio=60)])],
                       end_ns=300 * MS)
    assert len(turns(run(wl, "1x1x1", {"hz": 250, "rt_policy": "rr"}))) == 1


def test_r3_preempted_fifo_task_resumes_before_its_peer(engine_ready):
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=89)]), dict(bursts=[dict(demand=-1, prio=89, start=MS)]),
                        dict(bursts=[dict(demand=MS, prio=79, start=2 * MS)])], end_ns=10 * MS)
    a, b, c = wl.tasks["tid"].to_list()
    assert turns(run(wl, "1x1x1")) == [(a, 0, 2 * MS), (c, 2 * MS, 3 * MS), (a, 3 * MS, 10 * MS)]


def test_r3_rt_class_keys():
    """Head rule at the class level: a preempted task keeps its key (put_prev), a woken
    equal-prio task queues behind it."""
    rq = Rq(R, [89, 89])
    rq.add(0, 0)
    rq.run_(0, 0)
    rq.add(0, 1)
    assert rq.hook("check_preempt", 0, 1) == 0
    assert rq.hook("pick", 0, -1) == 0
    rq.hook("put_prev", 0, 0)
    assert rq.hook("pick", 0, -1) == 0


def _r4_machine(prev_cpu_blockers):
    """1x4x1: p (rt_priority 30, prio 69) first runs while RT prio-0 tasks occupy the CPUs in
    ``prev_cpu_blockers``, blocks, and is woken at 2 ms by Y (rt 10, CPU 3) while X (rt 50)
    runs on CPU 0, a fair task on CPU 1 and CPU 2 is idle."""
    tasks = [dict(tid=10, bursts=[dict(demand=200_000, prio=69, start=1),
                                  dict(demand=-1, prio=69, kind=START_BY)])]
    for i, cpu in enumerate(prev_cpu_blockers):
        tasks.append(dict(tid=20 + i, pinned=cpu, bursts=[dict(demand=500_000, prio=0, start=0)]))
    tasks += [dict(tid=30, pinned=0, bursts=[dict(demand=-1, prio=49, start=MS)]),
              dict(tid=31, pinned=1, bursts=[dict(demand=-1, prio=120, start=MS)]),
              dict(tid=32, pinned=3, bursts=[dict(demand=-1, prio=89, start=MS)])]
    return make_workload(tasks, actions=[(len(tasks) - 1, MS, 0, 1, 0)], end_ns=5 * MS, n_cpus=4)


def _cpu_after(iv, tid, t):
    r = iv.filter((pl.col("tid") == tid) & (pl.col("state") == RUNNING) & (pl.col("start_ns") >= t)).sort("start_ns")
    return int(r["cpu"][0]) if r.height else None


def test_r4_no_idle_preference(engine_ready):
    iv = run(_r4_machine([1, 2, 3]), "1x4x1")
    assert _cpu_after(iv, 10, 0) == 0  # p's previous CPU is 0
    assert _cpu_after(iv, 10, 2 * MS) in (1, 2)


def test_r5_stays_on_prev_running_fair(engine_ready):
    iv = run(_r4_machine([0, 2, 3]), "1x4x1")
    assert _cpu_after(iv, 10, 0) == 1  # p's previous CPU is 1
    assert _cpu_after(iv, 10, 2 * MS) == 1
    fair = iv.filter((pl.col("tid") == 31) & (pl.col("state") == RUNNING) & (pl.col("end") == SC.END_PREEMPTED))
    assert 2 * MS in fair["end_ns"].to_list()  # it preempted the fair task although CPU 2 idles


def test_r6_push_to_the_cpu_running_fair(engine_ready):
    """G (fair, CPU 0) wakes Y (rt 40, last ran on CPU 0) and then X (rt 50, pinned to CPU 0):
    Y stays on its previous CPU (G is fair), X is picked there, and the push that follows
    moves Y to CPU 1, where it preempts the fair task F."""
    wl = make_workload([dict(tid=50, pinned=0, bursts=[dict(demand=-1, start=0)]),
                        dict(tid=31, pinned=1, bursts=[dict(demand=-1, start=0)]),
                        dict(tid=40, bursts=[dict(demand=100_000, prio=59, start=0),
                                             dict(demand=-1, prio=59, kind=START_BY)]),
                        dict(tid=30, pinned=0, bursts=[dict(demand=50_000, prio=49, start=500_000),
                                                       dict(demand=-1, prio=49, kind=START_BY)])],
                       actions=[(0, MS, 2, 1, 0), (0, MS, 3, 1, 0)], end_ns=5 * MS, n_cpus=2)
    iv = run(wl, "1x2x1")
    assert _cpu_after(iv, 40, 0) == 0
    woke = iv.filter((pl.col("tid") == 40) & (pl.col("state") == RUNNABLE)
                     & (pl.col("begin") == SC.BEGIN_WAKEUP))["start_ns"][0]
    x_in = iv.filter((pl.col("tid") == 30) & (pl.col("state") == RUNNING) & (pl.col("start_ns") >= woke))
    assert x_in["start_ns"][0] == woke and x_in["cpu"][0] == 0  # X picked on CPU 0 at once
    assert _cpu_after(iv, 40, woke) == 1  # Y pushed to CPU 1 ...
    fair = iv.filter((pl.col("tid") == 31) & (pl.col("state") == RUNNING) & (pl.col("end") == SC.END_PREEMPTED))
    assert woke in fair["end_ns"].to_list()  # ... where it preempts F


def test_r7_fair_server(engine_ready):
    """6.18: with an RT hog, a runnable nice-0 task first runs 950 ms after it became
    runnable, for 50 ms, then 50 ms every second."""
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=49)]), dict(bursts=[dict(demand=-1)])],
                       end_ns=3100 * MS)
    iv = run(wl, "1x1x1", {"hz": 1000})
    f = wl.tasks["tid"].to_list()[1]
    assert [(s, e) for t, s, e in turns(iv) if t == f] == [(950 * MS, 1000 * MS), (1950 * MS, 2000 * MS),
                                                          (2950 * MS, 3000 * MS)]


def test_r7_no_server_when_rt_sleeps(engine_ready):
    """If the RT task sleeps 10 % of the time and the fair task gets that time, the server
    never activates: the fair task never runs while the RT task is runnable."""
    rt = dict(bursts=[dict(demand=9 * MS, prio=49, kind=START_AT if i == 0 else START_AFTER,
                           start=0 if i == 0 else MS) for i in range(200)])
    wl = make_workload([rt, dict(bursts=[dict(demand=-1)])], end_ns=1500 * MS)
    r = K.replay_case(wl, from_spec("1x1x1"), "eevdf", {"hz": 1000})
    assert K.rt_wait_overlaps(r) == []
    iv = r.intervals
    f = wl.tasks["tid"].to_list()[1]
    ran = sum(e - s for t, s, e in turns(iv) if t == f)
    assert 140 * MS <= ran <= 160 * MS


# =============================================================================================
# the corpus: d_nice_mix replayed under EEVDF on its recorded topology
# =============================================================================================

_HOG = re.compile(r"hog name=(\S+) pid=(\d+) nice=(-?\d+) start_mono_ns=(\d+) end_mono_ns=(\d+) .*cpu_share=([\d.]+)")


@pytest.mark.corpus
def test_d_nice_mix_hog_shares_replayed(corpus, engine_ready):
    import traces
    from replay import metrics

    cap = corpus / "captures" / "d_nice_mix"
    sched, _ = replay(traces.load(cap / "trace.dat"), policy="eevdf")
    run_iv = metrics.running(sched)
    hogs_ = [m.groups() for m in _HOG.finditer((cap / "workload.log").read_text())]
    assert len(hogs_) == 4
    for name, pid, _nice, start, end, share in hogs_:
        start, end = int(start), int(end)
        mine = run_iv.filter(pl.col("tid") == int(pid)).with_columns(
            a=pl.max_horizontal("start_ns", pl.lit(start)), b=pl.min_horizontal("end_ns", pl.lit(end)))
        cpu = int(mine.select((pl.col("b") - pl.col("a")).clip(0).sum()).item())
        assert abs(cpu / (end - start) - float(share)) <= 0.05, (name, cpu / (end - start), share)
