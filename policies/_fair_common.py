"""Arithmetic shared by the fair classes: weights, the kernel's fixed-point
``__calc_delta`` (bit-exact, cfs.md §3), and the CPU-count scaling factor (§2)."""

from __future__ import annotations

import math

from . import _state as E
from traces._numba import NO_NRT, jit
from traces.schema import DEFAULT_PRIO

from .weights import NICE_0_WEIGHT, WEIGHT, WEIGHT_IDLEPRIO, WMULT, WMULT_IDLEPRIO

_WEIGHT = WEIGHT.copy()
_WMULT = WMULT.copy()


def scaling_factor(n_cpus: int, mode: str = "log") -> int:
    """fair.c get_update_sysctl_factor: 1 + floor(log2(min(cpus, 8))) for "log"."""
    n = max(1, min(int(n_cpus), 8))
    if mode == "none":
        return 1
    if mode == "linear":
        return n
    return 1 + int(math.floor(math.log2(n)))


@jit(**NO_NRT)
def nice_of(TS, t):
    return min(max(TS[t, E.T_PRIO] - DEFAULT_PRIO, -20), 19)


@jit(**NO_NRT)
def weight_of_prio(prio, policy):
    """Load weight of a fair task of kernel ``prio`` under ``policy`` (POL_*): the nice
    table's (nice clamped to -20..19), WEIGHT_IDLEPRIO for SCHED_IDLE."""
    if policy == E.POL_IDLE:
        return WEIGHT_IDLEPRIO
    return _WEIGHT[min(max(prio - DEFAULT_PRIO, -20), 19) + 20]


@jit(**NO_NRT)
def weight_of(TS, t):
    return weight_of_prio(TS[t, E.T_PRIO], TS[t, E.T_POLICY])


@jit(**NO_NRT)
def wmult_of(TS, t):
    if TS[t, E.T_POLICY] == E.POL_IDLE:
        return WMULT_IDLEPRIO
    return _WMULT[nice_of(TS, t) + 20]


@jit(**NO_NRT)
def _bitlen(x):
    n = 0
    while x > 0:
        x >>= 1
        n += 1
    return n


@jit(**NO_NRT)
def mul_shift(delta, fact, shift):
    """floor(delta * fact / 2**shift) for delta >= 0, fact < 2**32, without overflow
    (the kernel's mul_u64_u32_shr)."""
    hi = delta >> 32
    lo = delta & 0xFFFFFFFF
    # (hi*2^32 + lo) * fact >> shift  ==  (hi*fact << (32-shift)) + (lo*fact >> shift)  for shift <= 32
    return ((hi * fact) << (32 - shift)) + ((lo * fact) >> shift)


@jit(**NO_NRT)
def calc_delta(delta, weight, inv):
    """__calc_delta(delta, weight, lw): delta * weight / lw.weight with the kernel's
    fixed-point steps (inv = lw's inverse weight)."""
    fact = weight
    shift = 32
    if fact >= (1 << 32):
        b = _bitlen(fact >> 32)
        shift -= b
        fact >>= b
    fact = fact * inv
    if fact >= (1 << 32):
        b = _bitlen(fact >> 32)
        fact >>= b
        shift -= b
    if delta < 0:
        return -mul_shift(-delta, fact, shift)
    return mul_shift(delta, fact, shift)


@jit(**NO_NRT)
def calc_delta_fair(delta, TS, t):
    """delta (wall ns) scaled to t's virtual time: delta * NICE_0_WEIGHT / w, unchanged at
    nice 0 (kernel/sched/fair.c: calc_delta_fair)."""
    if weight_of(TS, t) == NICE_0_WEIGHT:
        return delta
    return calc_delta(delta, NICE_0_WEIGHT, wmult_of(TS, t))
