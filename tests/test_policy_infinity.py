"""The Infinity scheduler v4 (policies/infinity.py, policies/infinity_rt.py) against
specs/infinity.md: every test vector of §13, the steady states of §7 (the EMA settles at
the duty cycle, found by iterating the hooks until (ema, prev_ema) repeats), the hook
rules of §5/§6, the variants of §10 that this engine can express, and an end-to-end
replay through the engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from policies import infinity as I
from policies import infinity_rt as R
from policies._protocol import DEQ_SLEEP, ENQ_MIGRATED, ENQ_NEW, ENQ_REQUEUE, ENQ_WAKEUP
from policies import _state as S
from traces.errors import TraceError

from .test_policy_cfs import Rq, hog_trace, run_time

MS = 1_000_000
B = 2_000_000


T0 = 1_000_000_000   # replay clock origin: trace timestamps are large (§9.4: 0 means "never slept")


def rq_of(n=1, n_cpus=8, hz=1000, params=None, nices=None, now=0):
    rq = Rq(I, nices or [0] * n, n_cpus, hz, params)
    for t in range(n):
        rq.hook("init_task", 0, t, -1, now)
    return rq


def one_running(params=None, hz=1000, n_cpus=8):
    """A single nice-0 task queued and running on CPU 0 (n = 1) since T0."""
    rq = rq_of(1, n_cpus, hz, params, now=T0)
    rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, T0)
    rq.schedule(0, T0)
    return rq


def ema(rq, t=0):
    return int(rq.PT[t, I.EMA]), int(rq.PT[t, I.PREV_EMA]), int(I.eff_of(rq.PT, rq.PP, t))


def set_ema(rq, e, p=None, t=0):
    rq.PT[t, I.EMA] = e
    rq.PT[t, I.PREV_EMA] = e if p is None else p


def climb(rq, delta, t=0):
    """H1+H2 through the update_curr hook; returns the vruntime advance."""
    v0 = rq.PT[t, I.EV.V]
    now = rq.TS[t, S.T_ACCT] + delta
    rq.account(0, now)
    return int(rq.PT[t, I.EV.V] - v0)


def sleep_wake(rq, s, t=0):
    """X blocks now (H4, stock dequeue) and wakes s ns later on the same CPU (H5, H6).
    Returns the wakeup deadline offset d - v."""
    now = int(rq.TS[t, S.T_ACCT])
    rq.dequeue(0, t, DEQ_SLEEP, now)
    rq.schedule(0, now)
    rq.enqueue(0, t, ENQ_WAKEUP, now + s)
    rq.schedule(0, now + s)
    return int(rq.PT[t, I.EV.D] - rq.PT[t, I.EV.V])


def slice_of(rq, t=0, cpu=0):
    return int(I.infinity_slice(rq.TS, rq.CS, rq.PT, rq.PC, rq.PP, cpu, t))


# -- §13 test vectors -----------------------------------------------------------------------

def test_tv1_first_climb():
    rq = one_running()
    assert climb(rq, 1 * MS) == 1_000_000
    assert ema(rq) == (62_500, 0, 31_250)
    assert slice_of(rq) == 2_000_000


def test_tv2_second_climb():
    rq = one_running()
    set_ema(rq, 62_500, 0)
    assert climb(rq, 1 * MS) == 1_030_927
    assert ema(rq) == (123_046, 62_500, 92_773)
    assert slice_of(rq) == 1_940_000


def test_tv1_tv2_slice_renewal_through_update_curr():
    rq = one_running()
    rq.PT[0, I.EV.D] = rq.PT[0, I.EV.V]          # the request completes at the next update
    climb(rq, 1 * MS)
    assert rq.PT[0, I.EV.SLICE] == 2_000_000
    assert rq.PT[0, I.EV.D] - rq.PT[0, I.EV.V] == 2_000_000
    rq.PT[0, I.EV.D] = rq.PT[0, I.EV.V]
    climb(rq, 1 * MS)
    assert rq.PT[0, I.EV.SLICE] == 1_940_000


def test_tv3_partial_decay_and_wakeup_deadline():
    rq = one_running()
    set_ema(rq, 1_000_000)
    assert sleep_wake(rq, 8 * MS) == 1_225_001
    assert ema(rq) == (750_000, 1_000_000, 875_000)


def test_tv4_full_decay_two_pole_residue():
    rq = one_running()
    set_ema(rq, 1_234_567)
    assert sleep_wake(rq, 32 * MS) == 864_198
    assert ema(rq) == (0, 1_234_567, 617_284)


def test_tv5_zero_ema_wakeup():
    rq = one_running()
    assert sleep_wake(rq, 5 * MS) == 1
    assert ema(rq) == (0, 0, 0)
    # last_sleep_ns = 0 (never slept, clock origin at 0): no decay at all
    rq = rq_of(1)
    rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, 0)
    rq.schedule(0, 0)
    set_ema(rq, 1_000_000, 900_000)
    rq.dequeue(0, 0, DEQ_SLEEP, 0)
    rq.schedule(0, 0)
    assert rq.PT[0, I.LAST_SLEEP] == 0 and rq.TS[0, S.T_ACCT] == 0
    rq.enqueue(0, 0, ENQ_WAKEUP, 5 * MS)
    assert ema(rq)[:2] == (1_000_000, 900_000)


def smt_rq(n, eff, n_cpus=8):
    rq = rq_of(n, n_cpus)
    for t in range(n):
        rq.enqueue(0, t, ENQ_WAKEUP | ENQ_NEW, 0)
    set_ema(rq, eff)
    rq.CS[:, S.C_CAPACITY] = 1024
    rq.CS[:, S.C_CORE] = np.arange(n_cpus) // 2     # SMT pairs: 0/1, 2/3, ...
    return rq


def test_tv6_three_tasks_half_ema_and_smt():
    rq = smt_rq(3, 1_000_000)
    assert slice_of(rq) == 419_999
    # the same queue seen from an SMT secondary (CPU 1): ⌊419,999 / 2⌋ -> floor 400,000
    for t in range(3):
        S.list_remove(rq.TS, rq.CS, 0, t, S.CLS_FAIR)
        S.list_add(rq.TS, rq.CS, 1, t, S.CLS_FAIR)
    assert I.smt_secondary(rq.CS, 1) and not I.smt_secondary(rq.CS, 0)
    assert slice_of(rq, cpu=1) == 400_000


def test_tv7_slice_edges():
    rq = smt_rq(1, 0)
    for t in (0,):
        S.list_remove(rq.TS, rq.CS, 0, t, S.CLS_FAIR)
        S.list_add(rq.TS, rq.CS, 1, t, S.CLS_FAIR)
    assert slice_of(rq, cpu=1) == 1_000_000
    assert slice_of(smt_rq(5, 0)) == 400_000
    assert slice_of(smt_rq(2, 1_640_000)) == 400_000
    empty = rq_of(1)
    assert empty.CS[0, S.C_NR_FAIR] == 0 and slice_of(empty) == 2_000_000   # n = 0 counts as 1


def test_tv8_saturated_hog():
    rq = one_running()
    set_ema(rq, 1_999_969)
    assert climb(rq, 1 * MS) == 3_846_153      # the step is 0 at saturation: eff stays 1,999,969
    assert ema(rq) == (1_999_969, 1_999_969, 1_999_969)
    assert slice_of(rq) == 520_000
    assert I.scale_vruntime(rq.PP, 700_000, 1_000_000) == 1_111_111


def test_tv9_and_s7_1_hog_trajectory():
    rq = one_running()
    rows = {}
    first = {}
    zero_step_at = None
    for k in range(1, 401):
        before = rq.PT[0, I.EMA]
        dv = climb(rq, 1 * MS)
        e, p, eff = ema(rq)
        pct = eff * 100 // B
        for level in (50, 75, 90, 99):
            if pct >= level and level not in first:
                first[level] = (k, e, eff)
        if zero_step_at is None and e == before:
            zero_step_at = (k, e)
        rows[k] = (e, p, eff, pct, slice_of(rq), dv)
    assert [rows[k][0] for k in (1, 2, 3)] == [62_500, 123_046, 181_700]
    assert rows[1] == (62_500, 0, 31_250, 1, 2_000_000, 1_000_000)
    assert rows[2] == (123_046, 62_500, 92_773, 4, 1_940_000, 1_030_927)
    assert rows[3] == (181_700, 123_046, 152_373, 7, 1_900_000, 1_052_631)
    assert rows[32] == (1_275_880, 1_252_522, 1_264_201, 63, 1_060_000, 1_886_792)
    assert rows[100] == (1_916_388, 1_913_691, 1_915_040, 95, 580_000, 3_448_275)
    assert rows[367] == (1_999_969, 1_999_969, 1_999_969, 99, 520_000, 3_846_153)
    assert zero_step_at == (367, 1_999_969)
    assert first[50] == (23, 1_036_387, 1_020_845)
    assert [first[x][0] for x in (50, 75, 90, 99)] == [23, 45, 74, 146]


def test_s7_1_hog_at_hz250():
    rq = one_running(hz=250)
    for k in range(1, 120):
        before = rq.PT[0, I.EMA]
        climb(rq, 4 * MS)
        if rq.PT[0, I.EMA] == before:
            break
    assert (k, int(rq.PT[0, I.EMA])) == (99, 1_999_993)


def test_tv10_and_s7_3_short_bursts_fixed_point():
    rq = one_running()
    set_ema(rq, 176_638)
    climb(rq, 100_000)
    assert ema(rq) == (182_336, 176_638, 179_487)
    assert sleep_wake(rq, 1 * MS) == 251_282
    assert ema(rq) == (176_638, 182_336, 179_487)


def test_tv11_thirty_percent_fixed_point():
    rq = one_running()
    set_ema(rq, 501_672)
    climb(rq, 3 * MS)
    assert ema(rq) == (642_140, 501_672, 571_906)
    sleep_wake(rq, 7 * MS)
    assert ema(rq) == (501_672, 642_140, 571_906)
    assert I._k_of(rq.PP, 571_906) == 21


def test_tv15_decay_wrap():
    s = 576_469_687_584
    for faithful, after in ((True, (1_999_969, 0)), (False, (0, 0))):
        for sleep, e in ((s, after[0]), (s - 1, after[1])):
            rq = one_running({"u64_faithful": faithful})
            set_ema(rq, 1_999_969)
            sleep_wake(rq, sleep)
            assert ema(rq)[:2] == (e, 1_999_969)


# -- §7 the EMA settles at the duty cycle ---------------------------------------------------------

def settle(chunks, sleep, max_periods=5000):
    """Iterate a periodic task (runtime updates ``chunks``, then a sleep) through the hooks
    from ema = 0 until (ema, prev_ema) after the wakeup repeats. Returns the number of
    periods, and (ema, prev, eff) after the wakeup and after each update of the last period."""
    rq = one_running()
    seen = set()
    for k in range(1, max_periods + 1):
        after = []
        for c in chunks:
            climb(rq, c)
            after.append(ema(rq))
        sleep_wake(rq, sleep)
        woke = ema(rq)
        if woke[:2] in seen:
            return k, woke, after, rq
        seen.add(woke[:2])
    raise AssertionError("no fixed point")


def test_s7_2a_thirty_percent_one_update_per_burst():
    k, woke, after, rq = settle([3 * MS], 7 * MS)
    assert woke[0] == 501_672 and after[-1][0] == 642_140
    assert woke[2] == after[-1][2] == 571_906
    assert abs(after[-1][0] / B - 3e6 / (10e6 - 21e6 / 32)) < 1e-6   # e_run = B·r/(r + s − r·s/τ)
    assert abs(after[-1][0] / B - 0.3) < 0.03                         # ≈ the duty cycle


def test_s7_2b_thirty_percent_three_ticks_per_burst():
    k, woke, after, rq = settle([1 * MS] * 3, 7 * MS)
    assert woke == (489_954, 627_141, 558_548)
    assert after == [(537_142, 489_954, 513_548), (582_856, 537_142, 559_999), (627_141, 582_856, 604_999)]
    assert rq.PT[0, I.EV.D] - rq.PT[0, I.EV.V] == 781_968               # wakeup vslice
    set_ema(rq, 627_141, 582_856)
    rq.CS[0, S.C_NR_FAIR] = 2                                            # a renewal with n = 2
    assert slice_of(rq) == 780_000


def test_s7_3_one_in_eleven_reached_after_274_periods():
    k, woke, after, rq = settle([100_000], 1 * MS)
    assert woke == (176_638, 182_336, 179_487) and after[0] == (182_336, 176_638, 179_487)
    assert k - 1 == 274                                                  # first period ending at the fixed point
    assert abs(after[0][0] - B / 11) / (B / 11) < 0.01
    rq.CS[0, S.C_NR_FAIR] = 2
    assert slice_of(rq) == 940_000


# -- hook rules (§5) -----------------------------------------------------------------------------

def test_new_task_gets_no_decay_and_the_stock_half_request():
    rq = rq_of(1)
    assert (rq.PT[0, I.LAST_SLEEP], ema(rq)) == (0, (0, 0, 0))          # H8 at now = 0
    rq.hook("init_task", 0, 0, -1, 5 * MS)
    assert rq.PT[0, I.LAST_SLEEP] == 5 * MS
    rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, 9 * MS)
    assert rq.PT[0, I.EV.D] - rq.PT[0, I.EV.V] == 1_400_000             # no H5, no H6: vs/2
    assert rq.PT[0, I.EV.SLICE] == 2_800_000


def test_enqueue_resets_the_slice_to_base():
    rq = one_running()
    rq.PT[0, I.EV.D] = rq.PT[0, I.EV.V]
    climb(rq, 1 * MS)
    assert rq.PT[0, I.EV.SLICE] == 2_000_000
    sleep_wake(rq, 1 * MS)
    assert rq.PT[0, I.EV.SLICE] == 2_800_000                            # H3 note, §11 item 10


def test_sleep_stamp_even_when_delayed_and_no_decay_on_delayed_wakeup():
    rq = rq_of(2)
    rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, 0)
    rq.enqueue(0, 1, ENQ_WAKEUP | ENQ_NEW, 0)
    rq.schedule(0, 0)
    climb(rq, 3 * MS, t=0)                                              # 0 is now right of V: ineligible
    set_ema(rq, 1_000_000, t=0)
    rq.dequeue(0, 0, DEQ_SLEEP, 3 * MS)
    assert rq.TS[0, S.T_ON_RQ] == 1                                     # delayed dequeue
    assert rq.PT[0, I.LAST_SLEEP] == 3 * MS                             # H4 anyway
    rq.TS[0, S.T_DELAYED] = 1
    rq.hook("enqueue", 0, 0, ENQ_REQUEUE | ENQ_WAKEUP, 20 * MS)        # ttwu_runnable
    assert ema(rq)[:2] == (1_000_000, 1_000_000)                        # no decay for that sleep


def two_queued(futex=False):
    """curr 0 (protected, eligible) and 1 with an earlier deadline, both eligible."""
    rq = rq_of(2)
    rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, 0)
    rq.enqueue(0, 1, ENQ_WAKEUP | ENQ_NEW, 0)
    rq.schedule(0, 0)
    assert rq.CS[0, S.C_CURR] == 0
    rq.PT[1, I.EV.D] = rq.PT[0, I.EV.D] - 1
    rq.PT[0, I.FUTEX] = 1 if futex else 0
    return rq


def test_h7a_futex_waiter_loses_slice_protection():
    assert two_queued(False).hook("pick", 0, -1) == 0                   # protected: keeps running
    assert two_queued(True).hook("pick", 0, -1) == 1                    # bypass: earliest deadline
    rq = two_queued(True)
    rq.dequeue(0, 1, DEQ_SLEEP, 0)
    rq.enqueue(0, 1, ENQ_WAKEUP, 1_000)
    assert rq.PT[1, I.FUTEX] == 0 and rq.PT[0, I.FUTEX] == 1            # H5 clears the wakee's flag


def test_h7a_futex_window_of_a_classified_burst():
    # §9.3: a burst the classifier marks (T_FUTEX_BURST) is futex_waiting during its last
    # futex_window_ns of progress, and only then; futex_window_ns = 0 never fires
    def pick(window, left, flagged=True):
        rq = two_queued(False)
        rq.PP[I.P_FUTEX_WINDOW] = window
        rq.TS[0, S.T_FUTEX_BURST] = 1 if flagged else 0
        rq.TS[0, S.T_PROGRESS] = 5_000_000
        rq.TS[0, S.T_BURST_END] = 5_000_000 + left
        return rq.hook("pick", 0, -1)

    assert pick(2_000, 2_000) == 1                                      # inside the window: bypass
    assert pick(2_000, 2_001) == 0                                      # before it: protected
    assert pick(0, 0) == 0                                              # window 0: never
    assert pick(2_000, 1_000, flagged=False) == 0                       # not a futex-wait burst


def test_same_tgid_waker_classifier():
    import polars as pl

    from replay.model.workload import START_BY
    from replay.testing import make_workload

    # task 0 blocks three times: in S woken by task 1 (same process), in S woken by task 2
    # (another process), in D woken by task 1; then its last burst exits.
    bursts = [dict(demand=100_000, start=0), dict(demand=100_000, kind=START_BY),
              dict(demand=100_000, kind=START_BY, sleep=2), dict(demand=100_000, kind=START_BY)]
    bursts[0]["sleep"] = 1
    bursts[1]["sleep"] = 1
    wl = make_workload([dict(bursts=bursts), dict(bursts=[dict(demand=-1, start=0)]),
                        dict(bursts=[dict(demand=-1, start=0)])],
                       actions=[(1, 10_000, 0, 1, 0), (2, 20_000, 0, 2, 0), (1, 30_000, 0, 3, 0)])
    wl.tasks = wl.tasks.with_columns(tgid=pl.Series([7, 7, 9], dtype=pl.Int32))
    flags, note = I.futex_bursts(wl, {"futex_classifier": "same_tgid_waker"})
    assert flags.tolist() == [1, 0, 0, 0, 0, 0] and note is None
    assert I.futex_bursts(wl, {})[0].tolist() == [0] * 6                # classifier none
    wl.tasks = wl.tasks.with_columns(tgid=pl.lit(-1, pl.Int32))         # no tgids recorded: say so
    flags, note = I.futex_bursts(wl, {"futex_classifier": "same_tgid_waker"})
    assert not flags.any() and "no process ids" in note


def test_futex_bypass_reaches_the_engine():
    # A (tid 100) runs 5 ms and blocks in S until B (a hog) wakes it; W (another process)
    # arrives at 2.9 ms. With A's burst classified as a futex wait (A and B share a process)
    # a futex window changes the replay; with B in another process it cannot.
    import polars as pl

    from replay import replay
    from replay.model.topology import from_spec
    from replay.model.workload import START_BY
    from replay.testing import make_workload

    def schedule(tgids, window):
        wl = make_workload([dict(bursts=[dict(demand=5 * MS, start=0), dict(demand=MS, kind=START_BY)]),
                            dict(bursts=[dict(demand=-1, start=0)]),
                            dict(bursts=[dict(demand=200_000, start=2_900_000)])],
                           actions=[(1, 6 * MS, 0, 1, 0)], end_ns=20 * MS, n_cpus=1)
        wl.tasks = wl.tasks.with_columns(tgid=pl.Series(tgids, dtype=pl.Int32))
        s, _ = replay(wl, policy="infinity", topology=from_spec("1x1x1"),
                      params={"futex_classifier": "same_tgid_waker", "futex_window_ns": window,
                              "idle_wakeup_latency_ns": 0, "preempt_latency_ns": 0})
        return s.intervals

    same, other = [100, 100, 300], [100, 200, 300]
    assert not schedule(same, 10 * MS).equals(schedule(same, 0))
    assert schedule(other, 10 * MS).equals(schedule(other, 0))


def test_h7b_leftmost_fallback():
    rq = two_queued()
    assert I._tree_leftmost(rq.TS, rq.CS, rq.PT, rq.PC, 0) == 1


def test_preempt_short_compares_infinity_and_base_slices():
    """§8: on 2 CPUs the wakee's base slice (1.4 ms) is shorter than a running task's
    Infinity slice (2 ms at n = 1): PREEMPT_SHORT fires where stock EEVDF stays protected."""
    from policies import eevdf as EV

    verdicts = {}
    for key, M, params in (("infinity", I, None), ("infinity, PREEMPT_SHORT off", I, {"PREEMPT_SHORT": False}),
                           ("eevdf", EV, None)):
        rq = Rq(M, [0, 0], n_cpus=2, params=params)
        for t in range(2):
            rq.hook("init_task", 0, t, -1, 0)
        rq.enqueue(0, 0, ENQ_WAKEUP | ENQ_NEW, 0)
        rq.schedule(0, 0)
        rq.PT[0, EV.D] = rq.PT[0, EV.V]
        rq.account(0, 100_000)                                          # renews curr's request
        rq.PT[0, EV.VPROT] = rq.PT[0, EV.D]                             # protected to its deadline
        rq.hook("init_task", 0, 1, -1, 0)                               # wakee with zero lag
        verdicts[key] = (rq.wake(0, 1, 100_000), int(rq.PT[0, EV.SLICE]), int(rq.PT[1, EV.SLICE]))
    assert verdicts["infinity"] == (1, 2_000_000, 1_400_000)
    assert verdicts["infinity, PREEMPT_SHORT off"][0] == 0
    assert verdicts["eevdf"][:2] == (0, 1_400_000)                         # base vs base: not short


# -- RT class (§6, §7.4) ------------------------------------------------------------------------

class RtRq:
    def __init__(self, prios, policy=S.POL_RR, hz=1000, values=None):
        n = len(prios)
        self.TS = S.new_task_matrix(n)
        self.TS[:, S.T_CLASS] = S.CLS_RT
        self.TS[:, S.T_PRIO] = prios
        self.TS[:, S.T_POLICY] = policy
        self.CS = np.zeros((1, S.NC), np.int64)
        self.CS[:, S.C_CURR] = -1
        self.CS[:, S.C_FAIR_HEAD] = -1
        self.CS[:, S.C_RT_HEAD] = -1
        self.PT, self.PC = R.state(n, 1)
        self.PP = R.pack(values, hz)
        for t in range(n):
            self.hook("init_task", t, -1)

    def hook(self, name, t, arg=0, now=0):
        return int(getattr(R, name)(self.TS, self.CS, self.PT, self.PC, self.PP, 0, t, arg, now))

    def enqueue(self, t, flags, now=0):
        S.list_add(self.TS, self.CS, 0, t, S.CLS_RT)
        self.hook("enqueue", t, flags, now)

    def run(self, t, now=0):
        self.CS[0, S.C_CURR] = t
        self.TS[t, S.T_ACCT] = now
        self.hook("set_next", t, 0, now)


def test_tv12_and_s7_4_rt_hog_climb_and_demotion():
    rq = RtRq([49])
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    seen = {}
    first_demotion = None
    zero = None
    for k in range(1, 7000):
        before = rq.PT[0, R.RT_EMA]
        rq.hook("update_curr", 0, 1 * MS, k * MS)
        e = int(rq.PT[0, R.RT_EMA])
        q = int(R.demoted_prio(rq.PT, rq.PP, 0))
        seen[k] = (e, q)
        if first_demotion is None and q > 49:
            first_demotion = (k, e)
        if zero is None and e == before:
            zero = (k, e, q)
    assert seen[1] == (15_625, 49)
    assert first_demotion == (22, 338_157)
    assert seen[100] == (1_447_543, 53)
    assert seen[1000] == (7_906_193, 49 + 23)
    assert zero == (6_546, 9_999_361, 49 + 29)


def test_tv13_rt_decay_and_r5_restore():
    rq = RtRq([49])
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    rq.PT[0, R.RT_EMA] = 5_000_000
    assert R.demoted_prio(rq.PT, rq.PP, 0) == 64
    rq.hook("dequeue", 0, DEQ_SLEEP, 100 * MS)
    S.list_remove(rq.TS, rq.CS, 0, 0, S.CLS_RT)
    rq.TS[0, S.T_ACCT] = 100 * MS
    rq.TS[0, S.T_PRIO] = 62                                              # demoted earlier by R4
    rq.enqueue(0, ENQ_MIGRATED, 164 * MS)                                # not a wakeup: no decay, R5 only
    assert rq.PT[0, R.RT_EMA] == 5_000_000 and rq.TS[0, S.T_PRIO] == 49
    rq.hook("dequeue", 0, 0, 164 * MS)
    S.list_remove(rq.TS, rq.CS, 0, 0, S.CLS_RT)
    rq.enqueue(0, ENQ_WAKEUP, 164 * MS)                                  # R3: s = 64 ms
    assert rq.PT[0, R.RT_EMA] == 4_500_000
    assert R.demoted_prio(rq.PT, rq.PP, 0) == 62


def test_rt_placement_enqueue_demotes_at_every_enqueue():
    rq = RtRq([49], values={"rt_placement": "enqueue"})
    rq.PT[0, R.RT_EMA] = 5_000_000
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    assert rq.TS[0, S.T_PRIO] == 64
    stock = RtRq([49])
    stock.PT[0, R.RT_EMA] = 5_000_000
    stock.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    assert stock.TS[0, S.T_PRIO] == 49                                  # requeue mode: plain enqueue never demotes


def test_tv14_rt_floor():
    rq = RtRq([90])
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    rq.PT[0, R.RT_EMA] = 9_999_000
    assert R.demoted_prio(rq.PT, rq.PP, 0) == 99


def test_s7_4_rr_expiry_moves_to_list_53_and_the_peer_runs():
    rq = RtRq([49, 49])
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    rq.enqueue(1, ENQ_WAKEUP | ENQ_NEW)
    assert rq.hook("pick", -1) == 0
    rq.run(0, 0)
    verdicts = []
    for k in range(1, 101):
        rq.hook("update_curr", 0, 1 * MS, k * MS)
        verdicts.append(rq.hook("tick", 0, 0, k * MS))
    assert verdicts == [0] * 99 + [1]
    assert rq.TS[0, S.T_PRIO] == 53 and rq.TS[1, S.T_PRIO] == 49
    assert rq.hook("pick", -1) == 1
    stock = RtRq([49, 49], values={"rt_placement": "off"})
    stock.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    stock.enqueue(1, ENQ_WAKEUP | ENQ_NEW)
    stock.run(0, 0)
    for k in range(1, 101):
        stock.hook("update_curr", 0, 1 * MS, k * MS)
        stock.hook("tick", 0, 0, k * MS)
    assert stock.TS[0, S.T_PRIO] == 49


def test_s7_4_periodic_rt_task_cycle():
    rq = RtRq([49], policy=S.POL_FIFO)
    rq.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    now = 0
    seen = set()
    for k in range(1, 3000):
        rq.run(0, now)
        now += 500_000
        rq.hook("update_curr", 0, 500_000, now)
        run_e = int(rq.PT[0, R.RT_EMA])
        q_run = int(R.demoted_prio(rq.PT, rq.PP, 0))
        rq.hook("dequeue", 0, DEQ_SLEEP, now)
        S.list_remove(rq.TS, rq.CS, 0, 0, S.CLS_RT)
        rq.CS[0, S.C_CURR] = -1
        now += 4_500_000
        rq.enqueue(0, ENQ_WAKEUP, now)
        wake_e = int(rq.PT[0, R.RT_EMA])
        if (wake_e, run_e) in seen:
            break
        seen.add((wake_e, run_e))
    assert (wake_e, run_e) == (993_640, 1_000_676)
    assert (q_run, int(R.demoted_prio(rq.PT, rq.PP, 0))) == (52, 51)
    assert 1_200 <= k <= 1_300


def test_rt_child_inherits_parent_ema():
    rq = RtRq([49, 49])
    rq.PT[0, R.RT_EMA] = 123_456
    rq.PT[0, R.LAST_SLEEP] = 77
    rq.hook("init_task", 1, 0)
    assert (rq.PT[1, R.RT_EMA], rq.PT[1, R.LAST_SLEEP]) == (123_456, 77)


# -- §10 variants and §9/§12 parameters ------------------------------------------------------------

def test_v3_decay_vslice_and_no_two_pole():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                  # no warning: v3 reaches the RT class too
        rq = one_running({"variant": "v3"})
    set_ema(rq, 1_000_000, 0)
    assert ema(rq)[2] == 1_000_000                                      # eff = ema
    # s = 625 µs: f = ⌊625,000·16·256 / 20,000,000⌋ = 128 → ema halves; vslice: pct 25, boost 37
    assert sleep_wake(rq, 625_000) == 2_800_000 * (100 - 37) // 100
    assert ema(rq)[0] == 500_000
    sleep_wake(rq, 1_250_000)
    assert ema(rq)[0] == 0
    v3rt = R.pack(None, 1000, shared={"variant": "v3"})
    rt = RtRq([49])
    rt.PP = v3rt
    rt.enqueue(0, ENQ_WAKEUP | ENQ_NEW)
    rt.PT[0, R.RT_EMA] = 1_000_000
    rt.hook("dequeue", 0, DEQ_SLEEP, 10 * MS)
    assert rt.PT[0, R.RT_EMA] == 750_000                                # −64/256 per sleep


def test_shared_parameters_reach_the_rt_class():
    """fp_shift, u64_faithful and variant are set as fair-class parameters and read by the RT
    class too: the engine hands the fair values to the RT class's pack (replay/sim/engine.py
    _policy_vectors), which parses them as the fair class does (--param gives strings)."""
    from replay.sim.engine import _policy_vectors, _values

    def rt_vector(params):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _, rt_pp = _policy_vectors(I, _values(I, "infinity", params), 8, 1000)
        return int(rt_pp[R.P_F]), int(rt_pp[R.P_FAITHFUL]), int(rt_pp[R.P_V3])

    assert rt_vector(None) == (256, 1, 0)
    assert rt_vector({"fp_shift": 6, "u64_faithful": False, "variant": "v3"}) == (64, 0, 1)
    assert rt_vector({"fp_shift": "6", "u64_faithful": "off", "variant": "V3"}) == (64, 0, 1)
    assert rt_vector({"u64_faithful": "on"}) == (256, 1, 0)


def test_fp_shift_changes_rt_demotion_in_a_replay():
    """RT tasks only, on one CPU: A and B are SCHED_RR hogs at prio 49, B exits after 150 ms,
    C waits at prio 55. At A's first slice expiry (100 ms) R4 demotes it by
    ⌊rt_ema·30/RB⌋: rt_ema ≈ 1.45 ms with F = 256 (τ_rt = 640 ms) → prio 53, ahead of C;
    ≈ 4.65 ms with fp_shift = 6 (F = 64, τ_rt = 160 ms) → prio 62, behind C. When B exits,
    A runs next in the first case and C in the second, only if fp_shift reaches the RT class."""
    import polars as pl

    from replay import replay
    from replay.model.topology import from_spec
    from replay.testing import make_workload

    wl = make_workload([dict(bursts=[dict(demand=-1, prio=49)]), dict(bursts=[dict(demand=150 * MS, prio=49)]),
                        dict(bursts=[dict(demand=-1, prio=55)])], end_ns=300 * MS)
    a, _, c = wl.tasks["tid"].to_list()

    def after_b(fp_shift):
        s, _ = replay(wl, policy="infinity", topology=from_spec("1x1x1"),
                      params={"fp_shift": fp_shift, "rt_policy": "rr", "hz": 1000, "idle_wakeup_latency_ns": 0,
                              "preempt_latency_ns": 0})
        run = s.intervals.filter((pl.col("state") == 0) & (pl.col("start_ns") >= 150 * MS)).sort("start_ns")
        return int(run["tid"][0])

    assert after_b(8) == a
    assert after_b(6) == c


def test_refused_variants_and_assumptions():
    for params in ({"variant": "dev"}, {"futex_classifier": "syscall"}, {"ema_init": "warmup"}):
        with pytest.raises(TraceError, match="not"):
            I.pack(params, 8, 1000)
    with pytest.raises(TraceError, match="tau"):
        I.pack(None, 8, 24)                                             # a 41.7 ms tick > τ = 32 ms


def test_sysctl_clamping_and_params_record():
    with pytest.warns(UserWarning, match="clamped"):
        p = I.pack({"carriage_ns": 500, "smt_divisor": 40}, 8, 1000)
    assert (p[I.P_CARRIAGE], p[I.P_SMT_DIV]) == (1_000, 16)
    names = {q.name for q in I.PARAMS}
    for n in ("carriage_ns", "smt_divisor", "slice_min_ns", "budget_max_ns", "ema_alpha", "fp_shift",
              "rt_budget_ns", "rt_alpha", "rt_prio_range", "rt_prio_floor", "u64_faithful", "rt_placement",
              "futex_classifier", "futex_window_ns", "ema_init", "ema_warmup_ns", "rt_ema_warmup_ns", "variant",
              "v45_migration_hysteresis", "v45_asym_placement", "v47_home_node"):
        assert n in names
    assert I.pack(None, 8, 1000)[I.P_DEN] // 16 == 32 * MS               # τ
    assert R.pack(None, 1000)[R.P_DEN] // 4 == 640 * MS                  # τ_rt


def asym_rq(params):
    rq = rq_of(1, 8, params=params)
    rq.CS[:, S.C_CAPACITY] = [1024, 1024, 1024, 1024, 512, 512, 512, 512]
    rq.CS[:, S.C_NODE] = [0, 0, 1, 1, 0, 0, 1, 1]
    rq.CS[:, S.C_CORE] = np.arange(8)
    rq.TS[0, S.T_NEW] = 0
    return rq


def test_v45_asym_placement_and_v47_home_node():
    rq = asym_rq({"v45_asym_placement": True})
    assert rq.hook("select_cpu", 6, 0, 7) == 0                          # biggest class, lowest id
    rq.PT[0, I.EMA] = 1
    assert rq.hook("select_cpu", 6, 0, 7) == 6                          # ema != 0: untouched
    rq.PT[0, I.EMA] = 0
    rq.TS[0, S.T_NEW] = 1
    assert rq.hook("select_cpu", 6, 0, 7) == 6                          # forks: untouched
    rq = asym_rq({"v47_home_node": True})
    assert rq.hook("select_cpu", 5, 0, 7) == 2                          # home node 1, top class
    rq.CS[:, S.C_NODE] = [0, 0, 0, 0, 0, 0, 1, 1]
    assert rq.hook("select_cpu", 5, 0, 7) == 6                          # home-node CPU of a lower class
    rq.CS[:, S.C_CAPACITY] = 1024
    assert rq.hook("select_cpu", 5, 0, 7) == 5                          # symmetric: never fires
    rq.CS[:, S.C_CAPACITY] = 0
    assert rq.hook("select_cpu", 5, 0, 7) == 5                          # no topology given


def test_v45_migration_hysteresis_hook():
    # §10.3: refuse while early (failures <= cache_nice_tries) and the raw ema is 0; else allow
    rq = rq_of(1, 8, params={"v45_migration_hysteresis": True})
    rq.PT[0, I.EMA] = 0
    assert rq.hook("can_migrate", 1, 0, 1) == 0
    assert rq.hook("can_migrate", 1, 0, 0) == 1                         # balance failed often enough
    rq.PT[0, I.EMA] = 1
    assert rq.hook("can_migrate", 1, 0, 1) == 1                         # it has run recently
    rq = rq_of(1, 8)                                                    # off by default
    rq.PT[0, I.EMA] = 0
    assert rq.hook("can_migrate", 1, 0, 1) == 1


def test_v45_migration_hysteresis_in_the_balancer():
    # Two CPUs: a hog pinned to CPU 0, a 1 ms task pinned to CPU 1, and B (never run, so
    # ema 0) waking at 0.5 ms behind the hog on CPU 0. When CPU 1 goes idle at 1 ms, its
    # newidle balance pulls B at once; with the hysteresis it may not (newidle is early),
    # and B waits until a periodic balance has failed more than cache_nice_tries times.
    import polars as pl

    from replay import replay
    from replay.model.topology import from_spec
    from replay.testing import make_workload

    from traces import schema

    # all three are new tasks (created at 0 and at 0.5 ms), placed and enqueued as such
    new = schema.BEGIN_NEW
    wl = make_workload([dict(bursts=[dict(demand=-1, prio=120, cause=new)], pinned=0),
                        dict(bursts=[dict(demand=MS, prio=120, start=0, cause=new)], pinned=1),
                        dict(bursts=[dict(demand=3 * MS, prio=120, start=MS // 2, cause=new)])],
                       end_ns=30 * MS, n_cpus=2)

    def first_run(hyst):
        s, _ = replay(wl, policy="infinity", topology=from_spec("1x2x1"),
                      params={"v45_migration_hysteresis": hyst, "idle_wakeup_latency_ns": 0,
                              "preempt_latency_ns": 0})
        r = s.intervals.filter((pl.col("tid") == 102) & (pl.col("state") == 0)).sort("start_ns")
        return int(r["start_ns"][0]), int(r["cpu"][0])

    assert first_run(False) == (MS, 1)
    start, cpu = first_run(True)
    assert cpu == 1 and start > MS


# -- end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def e2e():
    from replay import replay
    from replay.model.workload import from_schedule

    # one run queue: the trace's tids 1 and 2 are taken for a session and for kthreadd (a
    # kernel thread, the root group), which task groups would not compare task to task
    wl = from_schedule(hog_trace())
    a, info = replay(wl, policy="infinity", params={"autogroup": "off"})
    b, _ = replay(wl, policy="infinity", params={"autogroup": "off"})
    return a, b, info


def test_group_entities_keep_stock_vruntime():
    """specs/infinity.md H2: a task's vruntime grows faster as it proves CPU-bound, a group
    entity's does not. In task groups, hog 2 (the root group) competes in the root queue
    with hog 1's group entity, whose vruntime stays stock: hog 2 gets the smaller share."""
    from replay import replay
    from replay.model.workload import from_schedule

    wl = from_schedule(hog_trace())
    assert wl.tasks["group"].to_list() == [1, 0]
    rt = run_time(replay(wl, policy="infinity")[0])
    assert rt[2] < 0.8 * rt[1], rt
    rt = run_time(replay(wl, policy="eevdf")[0])
    assert rt[1] == rt[2], rt


def test_replay_infinity_shares_one_cpu_evenly_within_a_slice(e2e):
    a, _, info = e2e
    rt = run_time(a)
    assert set(rt) == {1, 2}
    # 1 CPU: base slice 0.7 ms, Infinity slices <= 2 ms: both shorter than the 4 ms tick (HZ=250)
    assert abs(rt[1] - rt[2]) <= 4 * MS
    assert info.counters["switches"] >= 40


def test_replay_infinity_is_deterministic(e2e):
    a, b, _ = e2e
    assert a.intervals.equals(b.intervals)
