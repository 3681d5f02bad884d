"""PELT load averages (replay/sim/_pelt.py) against what kernel/sched/pelt.c's definition
implies: y^32 = 1/2, a signal always on converges to its input, a blocked load halves every
32 periods of 1024 * 1024 ns."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numba import njit

from policies import _pelt as _PM
from policies import _state as E
from replay.sim import _pelt as _PL

PERIOD_NS = 1024 * 1024


class PL:
    """The PELT kernels, called through small compiled callers (they have no Python wrapper)."""
    YN_INV = _PM.YN_INV
    decay_load = staticmethod(njit(lambda v, n: _PM.decay_load(v, n)))
    fair_burst = staticmethod(njit(lambda TS, t, w, now: _PL.fair_burst(TS, t, w, now)))
    enqueued = staticmethod(njit(lambda TS, CS, t, c, now: _PL.enqueued(TS, CS, t, c, now)))
    dequeued = staticmethod(njit(lambda TS, CS, t, now: _PL.dequeued(TS, CS, t, now)))
    update_task = staticmethod(njit(lambda TS, t, now: _PL.update_task(TS, t, now)))
    update_cpu = staticmethod(njit(lambda CS, c, now: _PL.update_cpu(CS, c, now)))
    task_load = staticmethod(njit(lambda TS, t, now: _PL.task_load(TS, t, now)))
    cpu_load = staticmethod(njit(lambda CS, c, now: _PL.cpu_load(CS, c, now)))


def test_decay_table_is_the_kernels():
    """runnable_avg_yN_inv as sched-pelt.h lists it: y^1 and y^16 = 2^-1/2 scaled by 2^32 - 1."""
    assert PL.YN_INV[0] == 0xFFFFFFFF
    assert PL.YN_INV[1] == 0xFA83B2DA
    assert PL.YN_INV[16] == 0xB504F333  # floor((2^32 - 1) / sqrt(2))
    assert PL.YN_INV[31] == 0x82CD8698
    # y^32 = 1/2: 32 periods halve a value (floor((512 * (2^32 - 1)) >> 32) = 511)
    assert PL.decay_load(1024, 32) == 511
    assert PL.decay_load(1 << 40, 64) == ((1 << 38) * 0xFFFFFFFF) >> 32
    assert PL.decay_load(12345, 32 * 64) == 0


@settings(max_examples=200, deadline=None)
@given(val=st.integers(0, 2**62), n=st.integers(0, 31))
def test_split_multiply_is_exact(val, n):
    """The int64 split of the kernel's 64x32-bit multiply equals the exact product shifted."""
    assert PL.decay_load(val, n) == (val * int(PL.YN_INV[n])) >> 32


def _queue():
    TS = E.new_task_matrix(1)
    CS = np.zeros((1, E.NC), np.int64)
    PL.fair_burst(TS, 0, 1024, 0)
    return TS, CS


def test_always_runnable_task_converges_to_its_weight():
    """A nice-0 task queued from time 0: after 32 periods its load is about half its weight
    (1 - y^32), after 345 (the kernel's LOAD_AVG_MAX_N) all of it, within rounding."""
    TS, CS = _queue()
    TS[0, E.T_LOAD_AVG] = 0  # start from nothing to see the ramp (a new task starts full)
    PL.enqueued(TS, CS, 0, 0, 0)
    PL.update_task(TS, 0, 32 * PERIOD_NS)
    PL.update_cpu(CS, 0, 32 * PERIOD_NS)
    assert abs(TS[0, E.T_LOAD_AVG] - 512) <= 8
    assert abs(CS[0, E.C_LOAD_AVG] - 512) <= 8
    assert abs(PL.task_load(TS, 0, 345 * PERIOD_NS) - 1024) <= 4
    assert abs(PL.cpu_load(CS, 0, 345 * PERIOD_NS) - 1024) <= 4


def test_blocked_load_decays_and_leaves_with_the_task():
    """A task that blocks leaves its load on its CPU, halving every 32 periods; when it wakes
    on another CPU the load moves there (attach/detach)."""
    TS, CS = _queue()
    CS = np.zeros((2, E.NC), np.int64)
    PL.enqueued(TS, CS, 0, 0, 0)
    t1 = 400 * PERIOD_NS
    PL.dequeued(TS, CS, 0, t1)
    full = PL.cpu_load(CS, 0, t1)
    assert abs(full - 1024) <= 4 and CS[0, E.C_RQ_WEIGHT] == 0
    half = PL.cpu_load(CS, 0, t1 + 32 * PERIOD_NS)
    assert abs(half - full // 2) <= 4
    assert PL.cpu_load(CS, 0, t1 + 32 * PERIOD_NS) == half  # reading does not move the signal
    PL.enqueued(TS, CS, 0, 1, t1 + 32 * PERIOD_NS)
    assert PL.cpu_load(CS, 0, t1 + 32 * PERIOD_NS + PERIOD_NS) <= 2
    assert abs(PL.cpu_load(CS, 1, t1 + 32 * PERIOD_NS + PERIOD_NS) - half) <= 40
    assert TS[0, E.T_PELT_CPU] == 1 and CS[1, E.C_RQ_WEIGHT] == 1024


def test_a_task_runnable_a_fifth_of_the_time_weighs_a_fifth():
    """0.2 ms runnable in every 1 ms: load_avg settles near 0.2 * weight (what makes PELT
    balancing differ from counting the weights queued at the instant)."""
    TS, CS = _queue()
    TS[0, E.T_PELT_W] = 9548
    TS[0, E.T_LOAD_AVG] = 9548
    t = 0
    for _ in range(2000):
        PL.enqueued(TS, CS, 0, 0, t)
        PL.dequeued(TS, CS, 0, t + 200_000)
        t += 1_000_000
    assert abs(PL.task_load(TS, 0, t) - 0.2 * 9548) <= 0.05 * 9548
    assert abs(PL.cpu_load(CS, 0, t) - 0.2 * 9548) <= 0.05 * 9548
