"""PELT's arithmetic as kernel/sched/pelt.c computes it: decay by y per period of 1024
units of 1024 ns (y^32 = 1/2), a signal's running sum and its average. Shared by the
engine's load signals (replay/sim/_pelt.py, which documents them) and the fair classes'
task-group shares (policies/eevdf.py, docs/engine-model.md §13)."""

from __future__ import annotations

import numpy as np

from traces._numba import INTERNAL, NO_NRT, jit

_jit = jit(**INTERNAL, **NO_NRT)

LOAD_AVG_PERIOD = 32
LOAD_AVG_MAX = 47742
PELT_MIN_DIVIDER = LOAD_AVG_MAX - 1024
#: y^n * (2^32 - 1), n = 0..31 (the kernel's runnable_avg_yN_inv, from its generator's formula)
YN_INV = np.array([int(((1 << 32) - 1) * 0.5 ** (n / LOAD_AVG_PERIOD)) for n in range(LOAD_AVG_PERIOD)],
                  np.int64)

@_jit
def _mul_shr32(val, m):
    """(val * m) >> 32 for 0 <= val < 2^63 and 0 <= m < 2^32, exactly, in int64."""
    hi = val >> 32
    lo = val & 0xFFFFFFFF
    return hi * m + ((lo * (m >> 16) + ((lo * (m & 0xFFFF)) >> 16)) >> 16)


@_jit
def decay_load(val, n):
    """val * y^n (decay_load)."""
    if n > LOAD_AVG_PERIOD * 63:
        return 0
    if n >= LOAD_AVG_PERIOD:
        val >>= n // LOAD_AVG_PERIOD
        n %= LOAD_AVG_PERIOD
    return _mul_shr32(val, YN_INV[n])


@_jit
def _segments(periods, d1, d3):
    """__accumulate_pelt_segments: the rest of the old period decayed, the full periods
    between, and the start of the current one."""
    c1 = decay_load(d1, periods)
    c2 = LOAD_AVG_MAX - decay_load(LOAD_AVG_MAX, periods) - 1024
    return c1 + c2 + d3


@_jit
def _advance(ts, pc, s, avg, load, weight, now):
    """The signal (ts, pc, sum, avg) advanced to ``now`` with input ``load`` held since ts
    (___update_load_sum), and, if a period ended, avg = weight * sum / divider
    (___update_load_avg)."""
    delta = (now - ts) >> 10
    if delta <= 0:
        return ts, pc, s, avg
    ts += delta << 10
    contrib = delta
    delta += pc
    periods = delta // 1024
    if periods:
        s = decay_load(s, periods)
        delta %= 1024
        if load:
            contrib = _segments(periods, 1024 - pc, delta)
    if load:
        s += load * contrib
    if periods:
        avg = weight * s // (PELT_MIN_DIVIDER + delta)
    return ts, delta, s, avg


@_jit
def _update(S, row, c_ts, c_pc, c_sum, c_avg, load, weight, now):
    """Advance the signal held in S[row, c_*] to ``now``."""
    S[row, c_ts], S[row, c_pc], S[row, c_sum], S[row, c_avg] = _advance(
        S[row, c_ts], S[row, c_pc], S[row, c_sum], S[row, c_avg], load, weight, now)
