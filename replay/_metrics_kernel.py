"""Numba kernels for the metrics that need a pass over every interval."""

from __future__ import annotations

import numpy as np

from traces import schema
from traces._numba import jit


@jit
def window_busy(task, state, start, end, t0, window, n_windows, w_lo, w_hi, n_tasks, running_acc, busy_acc):
    """Accumulate, for windows [w_lo, w_hi), each task's running and running+runnable
    time (ns) into dense [window - w_lo, task] arrays. Intervals must be valid running
    or runnable ones; ``task`` is a dense task index."""
    for i in range(len(task)):
        s = start[i] - t0
        e = end[i] - t0
        if e <= s:
            continue
        a = s // window
        b = (e - 1) // window
        if b < w_lo or a >= w_hi:
            continue
        if a < w_lo:
            a = w_lo
        if b >= w_hi:
            b = w_hi - 1
        for w in range(a, b + 1):
            lo = max(s, w * window)
            hi = min(e, (w + 1) * window)
            if hi > lo:
                busy_acc[w - w_lo, task[i]] += hi - lo
                if state[i] == schema.RUNNING:
                    running_acc[w - w_lo, task[i]] += hi - lo


@jit
def water_fill(group_start, weights, capacity, cap_each, out):
    """For each group g (rows group_start[g]:group_start[g+1]), split capacity[g] in
    proportion to weights, nobody above cap_each (water-filling); results in ``out``."""
    for g in range(len(group_start) - 1):
        a, b = group_start[g], group_start[g + 1]
        left = capacity[g]
        for i in range(a, b):
            out[i] = 0.0
        free = np.ones(b - a, np.bool_)
        while left > 1e-9:
            wsum = 0.0
            for i in range(a, b):
                if free[i - a]:
                    wsum += weights[i]
            if wsum <= 0.0:
                break
            capped = False
            for i in range(a, b):
                if free[i - a] and out[i] + left * weights[i] / wsum > cap_each:
                    capped = True
            if not capped:
                for i in range(a, b):
                    if free[i - a]:
                        out[i] += left * weights[i] / wsum
                break
            # cap every task whose share would exceed one CPU, then share the rest again
            given = 0.0
            for i in range(a, b):
                if free[i - a] and out[i] + left * weights[i] / wsum > cap_each:
                    given += cap_each - out[i]
                    out[i] = cap_each
                    free[i - a] = False
            left -= given
