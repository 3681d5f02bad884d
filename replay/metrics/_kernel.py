"""Numba kernels for the metrics that need a pass over every interval."""

from __future__ import annotations

import numpy as np

from traces import schema
from traces._numba import jit


@jit
def window_busy(task, state, valid, start, end, t0, window, n_windows, w_lo, w_hi, n_tasks, running_acc, busy_acc):
    """Accumulate, for windows [w_lo, w_hi), each task's running and running+runnable
    time (ns) into dense [window - w_lo, task] arrays, from the valid running and runnable
    intervals; ``task`` is a dense task index (-1: skip)."""
    for i in range(len(task)):
        if task[i] < 0 or not valid[i] or (state[i] != schema.RUNNING and state[i] != schema.RUNNABLE):
            continue
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


@jit
def task_pass(task, state, cpu, start, end, end_code, valid, node, llc, home_given,
              cpu_time, runnable_ns, switches, involuntary, migrations, cross_node, home_node, home_ns,
              last_cpu, totals):
    """One pass over the intervals (each task's in time order, as the schedule builder and
    the engine emit them) folding, per dense task index (-1: not in the tasks table):
    CPU time, valid runnable time, switches (preempted, blocked, exited), involuntary ones,
    migrations (consecutive valid running intervals on different CPUs) and the cross-node
    ones, the home node (``home_given`` if >= 0, else the node of the first CPU it ran on)
    and the CPU time spent there. ``totals`` gets [migrations, cross_llc, cross_node]."""
    for i in range(len(task)):
        t = task[i]
        if t < 0 or not valid[i]:
            continue
        d = end[i] - start[i]
        s = state[i]
        if s == schema.RUNNABLE:
            runnable_ns[t] += d
        elif s == schema.RUNNING:
            c = cpu[i]
            if c < 0 or c >= len(node):
                continue  # (the caller checked the topology covers the schedule)
            if home_node[t] < 0:
                home_node[t] = home_given[t] if home_given[t] >= 0 else node[c]
            cpu_time[t] += d
            if node[c] == home_node[t]:
                home_ns[t] += d
            e = end_code[i]
            if e == schema.END_PREEMPTED:
                switches[t] += 1
                involuntary[t] += 1
            elif e == schema.END_BLOCKED or e == schema.END_EXITED:
                switches[t] += 1
            p = last_cpu[t]
            if p >= 0 and p != c:
                migrations[t] += 1
                totals[0] += 1
                if llc[p] != llc[c]:
                    totals[1] += 1
                if node[p] != node[c]:
                    cross_node[t] += 1
                    totals[2] += 1
            last_cpu[t] = c


@jit
def group_wait_stats(task, wait_ns, n_tasks, q, count, mean, pct, wmax, total_ns):
    """Per dense task index: count, mean, nearest-rank percentiles at the fractions ``q``
    (into pct[task, k]), max and sum (``total_ns``) of its waits. A counting sort groups the waits by task,
    then each group is partially sorted at the wanted ranks on its own (np.partition)."""
    start = np.zeros(n_tasks + 1, np.int64)
    for i in range(len(task)):
        if task[i] >= 0:
            start[task[i] + 1] += 1
    for t in range(n_tasks):
        start[t + 1] += start[t]
    pos = start[:n_tasks].copy()
    v = np.empty(start[n_tasks], np.int64)
    for i in range(len(task)):
        t = task[i]
        if t >= 0:
            v[pos[t]] = wait_ns[i]
            pos[t] += 1
    for t in range(n_tasks):
        a, b = start[t], start[t + 1]
        n = b - a
        count[t] = n
        total_ns[t] = 0
        if n == 0:
            continue
        ranks = np.empty(len(q) + 1, np.int64)
        for k in range(len(q)):
            ranks[k] = max(np.int64(np.ceil(n * q[k])), 1) - 1
        ranks[len(q)] = n - 1
        g = np.partition(v[a:b], ranks)  # each rank in place, as after a sort: O(n) per rank
        total = 0
        for x in g:
            total += x
        mean[t] = total / n
        total_ns[t] = total
        for k in range(len(q)):
            pct[t, k] = g[ranks[k]]
        wmax[t] = g[n - 1]
