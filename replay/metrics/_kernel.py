"""Numba kernels for the metrics that need a pass over every interval."""

from __future__ import annotations

import numpy as np

from traces import schema
from traces._numba import jit


@jit
def _fill_one(weights, k, capacity, cap_each, out, free):
    """Split ``capacity`` among the first ``k`` entries in proportion to ``weights``,
    nobody above ``cap_each`` (water-filling): a task whose share would exceed it is
    capped and the rest shared again. Results in out[:k]; ``free`` is scratch."""
    left = capacity
    for i in range(k):
        out[i] = 0.0
        free[i] = True
    while left > 1e-9:
        wsum = 0.0
        for i in range(k):
            if free[i]:
                wsum += weights[i]
        if wsum <= 0.0:
            break
        capped = False
        for i in range(k):
            if free[i] and out[i] + left * weights[i] / wsum > cap_each:
                capped = True
        if not capped:
            for i in range(k):
                if free[i]:
                    out[i] += left * weights[i] / wsum
            break
        # cap every task whose share would exceed one CPU, then share the rest again
        given = 0.0
        for i in range(k):
            if free[i] and out[i] + left * weights[i] / wsum > cap_each:
                given += cap_each - out[i]
                out[i] = cap_each
                free[i] = False
        left -= given


@jit
def water_fill(group_start, weights, capacity, cap_each, out):
    """For each group g (rows group_start[g]:group_start[g+1]), split capacity[g] in
    proportion to weights, nobody above cap_each (water-filling); results in ``out``."""
    free = np.ones(max(len(out), 1), np.bool_)
    for g in range(len(group_start) - 1):
        a, b = group_start[g], group_start[g + 1]
        _fill_one(weights[a:b], b - a, capacity[g], cap_each, out[a:b], free)


@jit
def share_error_runs(task, state, valid, start, end, t0, window, n_windows, n_tasks, weights, n_cpus,
                     bound_fraction, out_w, out_n, out_t, out_recv, out_exp, summary):
    """The weighted-share error of every (window, CPU-bound task), windows
    [0, n_windows) of ``window`` ns from ``t0``, computed per *run of identical
    windows*: work and memory grow with the intervals, not with the trace's duration
    over the window.

    Only valid running and runnable intervals of dense task index >= 0 count
    (``task`` < ``n_tasks``). A window holding an interval's start or end is a
    *boundary window*, computed on its own; the windows between two consecutive
    boundary windows are all covered whole by the same intervals, so they are alike
    and computed once, with their number as the multiplicity (windows no interval
    touches have no CPU-bound task and cost nothing). In each, a task is CPU-bound
    when running or runnable for at least ``bound_fraction`` of the window; the
    CPU-bound tasks share ``n_cpus`` x window minus the running time of the other
    tasks, in proportion to ``weights`` and capped at one CPU (_fill_one); the error
    is (received - expected) / window.

    ``summary`` gets [sum of |error| x multiplicity, largest |error|, sum of
    multiplicities]. When ``out_w`` is not empty, the rows (first window, multiplicity,
    task, received ns, expected ns) are written to out_*[:count]; the count of rows is
    returned either way (call once with empty outputs to size them)."""
    # boundary windows of the intervals that count
    m = 0
    for i in range(len(task)):
        if task[i] >= 0 and task[i] < n_tasks and valid[i] and (state[i] == 0 or state[i] == 1) \
                and end[i] > start[i]:
            m += 1
    ia = np.empty(m, np.int64)
    ib = np.empty(m, np.int64)
    ix = np.empty(m, np.int64)
    j = 0
    for i in range(len(task)):
        if task[i] >= 0 and task[i] < n_tasks and valid[i] and (state[i] == 0 or state[i] == 1) \
                and end[i] > start[i]:
            a = (start[i] - t0) // window
            b = (end[i] - t0 - 1) // window
            if a < 0:
                a = 0
            if b > n_windows - 1:
                b = n_windows - 1
            if a > b:
                continue
            ia[j] = a
            ib[j] = b
            ix[j] = i
            j += 1
    m = j
    both = np.empty(2 * m, np.int64)
    both[:m] = ia[:m]
    both[m:] = ib[:m]
    bw = np.unique(both)  # boundary windows, sorted
    nb = len(bw)
    summary[0] = 0.0
    summary[1] = 0.0
    summary[2] = 0.0
    if nb == 0:
        return 0
    nseg = 2 * nb - 1  # segment 2k: boundary window bw[k]; 2k+1: the windows between bw[k] and bw[k+1]
    # CSR of partial contributions (at boundary segments) and of whole-coverage starts and ends
    p_cnt = np.zeros(nseg + 1, np.int64)
    c_cnt = np.zeros(nseg + 1, np.int64)
    r_cnt = np.zeros(nseg + 1, np.int64)
    ka = np.empty(m, np.int64)
    kb = np.empty(m, np.int64)
    for j in range(m):
        ka[j] = np.searchsorted(bw, ia[j])
        kb[j] = np.searchsorted(bw, ib[j])
        p_cnt[2 * ka[j] + 1] += 1
        if kb[j] > ka[j]:
            p_cnt[2 * kb[j] + 1] += 1
            c_cnt[2 * ka[j] + 2] += 1   # covers segments 2ka+1 .. 2kb-1 whole
            r_cnt[2 * kb[j] + 1] += 1   # ... and stops covering at 2kb
    for s in range(nseg):
        p_cnt[s + 1] += p_cnt[s]
        c_cnt[s + 1] += c_cnt[s]
        r_cnt[s + 1] += r_cnt[s]
    p_pos = p_cnt[:nseg].copy()
    c_pos = c_cnt[:nseg].copy()
    r_pos = r_cnt[:nseg].copy()
    p_task = np.empty(p_cnt[nseg], np.int64)
    p_amt = np.empty(p_cnt[nseg], np.int64)
    p_run = np.empty(p_cnt[nseg], np.bool_)
    c_iv = np.empty(c_cnt[nseg], np.int64)
    r_iv = np.empty(r_cnt[nseg], np.int64)
    for j in range(m):
        i = ix[j]
        s0 = start[i] - t0
        e0 = end[i] - t0
        for k in (ka[j], kb[j]):
            w = bw[k]
            lo = max(s0, w * window)
            hi = min(e0, (w + 1) * window)
            q = p_pos[2 * k]
            p_task[q] = task[i]
            p_amt[q] = hi - lo if hi > lo else 0
            p_run[q] = state[i] == 0
            p_pos[2 * k] += 1
            if kb[j] == ka[j]:
                break
        if kb[j] > ka[j]:
            c_iv[c_pos[2 * ka[j] + 1]] = i
            c_pos[2 * ka[j] + 1] += 1
            r_iv[r_pos[2 * kb[j]]] = i
            r_pos[2 * kb[j]] += 1
    # the sweep: tasks covered whole (cov > 0) are kept in an active list
    cov = np.zeros(n_tasks, np.int64)
    cov_run = np.zeros(n_tasks, np.int64)
    where = np.full(n_tasks, -1, np.int64)
    active = np.empty(n_tasks, np.int64)
    n_active = 0
    busy = np.zeros(n_tasks, np.int64)
    run = np.zeros(n_tasks, np.int64)
    stamp = np.full(n_tasks, -1, np.int64)
    touched = np.empty(n_tasks, np.int64)
    bound = np.empty(n_tasks, np.int64)
    bw_weights = np.empty(n_tasks, np.float64)
    expected = np.empty(n_tasks, np.float64)
    free = np.empty(n_tasks, np.bool_)
    threshold = bound_fraction * window
    rows = 0
    fill = len(out_w) > 0
    for s in range(nseg):
        for q in range(r_cnt[s], r_cnt[s + 1]):
            i = r_iv[q]
            t = task[i]
            cov[t] -= 1
            if state[i] == 0:
                cov_run[t] -= 1
            if cov[t] == 0:  # out of the active list (the last one takes its place)
                n_active -= 1
                last = active[n_active]
                active[where[t]] = last
                where[last] = where[t]
                where[t] = -1
        for q in range(c_cnt[s], c_cnt[s + 1]):
            i = c_iv[q]
            t = task[i]
            if cov[t] == 0:
                where[t] = n_active
                active[n_active] = t
                n_active += 1
            cov[t] += 1
            if state[i] == 0:
                cov_run[t] += 1
        k = s // 2
        mult = 1 if s % 2 == 0 else bw[k + 1] - bw[k] - 1
        if mult <= 0:
            continue
        first = bw[k] if s % 2 == 0 else bw[k] + 1
        nt = 0
        for a in range(n_active):
            t = active[a]
            stamp[t] = s
            touched[nt] = t
            nt += 1
            busy[t] = cov[t] * window
            run[t] = cov_run[t] * window
        for q in range(p_cnt[s], p_cnt[s + 1]):
            t = p_task[q]
            if stamp[t] != s:
                stamp[t] = s
                touched[nt] = t
                nt += 1
                busy[t] = 0
                run[t] = 0
            busy[t] += p_amt[q]
            if p_run[q]:
                run[t] += p_amt[q]
        others = 0
        nbound = 0
        for a in range(nt):
            t = touched[a]
            if busy[t] >= threshold:
                bound[nbound] = t
                nbound += 1
            else:
                others += run[t]
        if nbound == 0:
            continue
        bs = np.sort(bound[:nbound])  # task order: the same sums whatever the sweep's order
        for a in range(nbound):
            bw_weights[a] = weights[bs[a]]
        capacity = n_cpus * window - others
        if capacity < 0:
            capacity = 0
        _fill_one(bw_weights, nbound, np.float64(capacity), np.float64(window), expected, free)
        for a in range(nbound):
            t = bs[a]
            err = abs((run[t] - expected[a]) / window)
            summary[0] += err * mult
            if err > summary[1]:
                summary[1] = err
            summary[2] += mult
            if fill:
                out_w[rows] = first
                out_n[rows] = mult
                out_t[rows] = t
                out_recv[rows] = run[t]
                out_exp[rows] = expected[a]
            rows += 1
    return rows


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
