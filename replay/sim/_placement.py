"""CPU selection and balancing shared by every policy (specs/placement.md, the
"Simplest faithful model" of §8; RT placement from specs/rt.md §6).

Approximations, each documented where it is made: the periodic balancer reads PELT
loads (replay/sim/_pelt.py), wake_affine the runnable weights, SIS_UTIL a decayed
utilisation proxy (32 ms half-life) kept per CPU; idle CPUs balance on
the tick of busy CPUs (the NOHZ kick); on machines of asymmetric capacity, wakeups
look for a CPU the task fits (select_idle_capacity) and, with an energy model, place
by energy (find_energy_efficient_cpu) on PELT utilisation (docs/engine-model.md §7.5);
active balance, misfit migration, cgroups and NUMA balancing are not modelled. Ties go
to the lowest CPU number.
"""

from __future__ import annotations

import math

from policies import _state as E
from traces import schema
from traces._numba import INTERNAL, NO_NRT, jit

from . import _pelt as PL

# topology matrix TOPO[cpu, col]
TP_CORE = 0
TP_LLC = 1
TP_NODE = 2
TP_CAPACITY = 3
TP_LLC_SIZE = 4
TP_CORE_SIZE = 5
# the CPUs grouped by LLC (by core), ascending within a group, as columns (n CPUs: n rows);
# a CPU's group starts at row TP_*_START of them, the CPU itself is at TP_LLC_POS within
# its LLC's: visiting an LLC's or a core's CPUs costs their number, not the machine's
TP_LLC_START = 6
TP_LLC_POS = 7
TP_LLC_CPUS = 8
TP_CORE_START = 9
TP_CORE_CPUS = 10
# performance domains (cpufreq policies: the CPUs that share a frequency), grouped like the
# LLCs; TP_EM_N: how many performance states the CPU's domain's energy model has (0: no
# model), whose (frequency kHz, cost) pairs follow from column TP_EM on (cost = power at the
# highest frequency's scale: fmax * power_mW / freq, em_create_pd)
TP_PD_START = 11
TP_PD_SIZE = 12
TP_PD_CPUS = 13
TP_EM_N = 14
TP_N = 15
TP_EM = 15


@jit(**INTERNAL, **NO_NRT)
def allowed(TS, AFF, t, c):
    """Whether task t may run on CPU c (pinned per-CPU threads, --set cpus=...)."""
    p = TS[t, E.T_PINNED]
    if p >= 0 and p != c:
        return False
    a = TS[t, E.T_AFF]
    if a >= 0 and AFF[a, c] == 0:
        return False
    return True


@jit(**INTERNAL, **NO_NRT)
def nr_running(CS, c):
    """Runnable tasks on c (running included, delayed-dequeue sleepers not)."""
    return CS[c, E.C_NR_RT] + CS[c, E.C_NR_FAIR] - CS[c, E.C_NR_DELAYED]


@jit(**INTERNAL, **NO_NRT)
def idle(CS, c):
    """available_idle_cpu: the idle task runs and nothing is queued."""
    return CS[c, E.C_CURR] < 0 and nr_running(CS, c) == 0


@jit(**INTERNAL, **NO_NRT)
def core_idle(CS, TOPO, c):
    s = TOPO[c, TP_CORE_START]
    for i in range(TOPO[c, TP_CORE_SIZE]):
        if not idle(CS, TOPO[s + i, TP_CORE_CPUS]):
            return False
    return True


@jit(**INTERNAL, **NO_NRT)
def decay_util(CS, c, now, half_life_ns):
    """Fold the time since the last update into the CPU's utilisation proxy
    (fixed point: 1024 * 1024 = fully busy)."""
    last = CS[c, E.C_UTIL_TS]
    if now <= last:
        return
    busy = CS[c, E.C_CURR] >= 0
    d = math.exp(-(now - last) * math.log(2.0) / half_life_ns)
    u = CS[c, E.C_UTIL] * d + (1024 * 1024 if busy else 0) * (1.0 - d)
    old = CS[c, E.C_UTIL]
    CS[c, E.C_UTIL] = int(u)
    CS[c, E.C_UTIL_TS] = now
    CS[CS[c, E.C_LLC_LEAD], E.C_LLC_UTIL] += CS[c, E.C_UTIL] // 1024 - old // 1024


@jit(**INTERNAL, **NO_NRT)
def fair_load(TS, CS, c):
    """Runnable fair weight on c (the load proxy used by wake_affine_weight)."""
    w = 0
    t = CS[c, E.C_FAIR_HEAD]
    while t >= 0:
        if not TS[t, E.T_DELAYED]:
            w += TS[t, E.T_WEIGHT]
        t = TS[t, E.T_Q_NEXT]
    return w


# -- fair wakeup placement (placement.md §2) ----------------------------------------

@jit(**INTERNAL, **NO_NRT)
def _wake_wide(TS, waker, wakee, llc_size):
    """wake_wide: one side wakes many partners (flips >= llc_size)."""
    if waker < 0:
        return False
    m = max(TS[waker, E.T_FLIPS], TS[wakee, E.T_FLIPS])
    s = min(TS[waker, E.T_FLIPS], TS[wakee, E.T_FLIPS])
    return s >= llc_size and m >= s * llc_size


@jit(**INTERNAL, **NO_NRT)
def _wake_affine(TS, CS, TOPO, EP, p, this, prev, sync):
    """wake_affine (fair.c: wake_affine_idle, then WA_WEIGHT's wake_affine_weight on the
    runnable weights of the two CPUs and of the tasks, where the kernel reads PELT loads:
    on PELT loads the fidelity table moved both ways, README Fidelity). ``sync``: a sync
    wakeup (the waker is about to sleep; inferred from the
    recording, placement.md §2.1): this is taken when it runs only the waker, and the
    waker's own load does not count against it. Returns this or prev."""
    if EP[E.E_WA_IDLE]:
        if idle(CS, this) and TOPO[this, TP_LLC] == TOPO[prev, TP_LLC]:
            return prev if idle(CS, prev) else this
        if sync and nr_running(CS, this) == 1:
            return this
        if idle(CS, prev):
            return prev
    if EP[E.E_WA_WEIGHT]:
        t = TS[p, E.T_WEIGHT]
        pct = EP[E.E_IMB_PCT_LLC]
        this_load = fair_load(TS, CS, this)
        if sync:
            cur = CS[this, E.C_CURR]
            cur_load = TS[cur, E.T_WEIGHT] if cur >= 0 and TS[cur, E.T_CLASS] == E.CLS_FAIR else 0
            if cur_load > this_load:
                return this
            this_load -= cur_load
        this_eff = (this_load + t) * 100 * TOPO[prev, TP_CAPACITY]
        # WA_BIAS off drops both percentage factors in the kernel, i.e. a bias of 100
        bias = 100 + (pct - 100) // 2 if EP[E.E_WA_BIAS] else 100
        prev_eff = (fair_load(TS, CS, prev) - t) * bias * TOPO[this, TP_CAPACITY]
        if this_eff < prev_eff:
            return this
    return prev


@jit(**INTERNAL, **NO_NRT)
def _nr_idle_scan(CS, TOPO, EP, cpu):
    """SIS_UTIL budget from the average utilisation proxy of cpu's LLC (placement.md §2.3):
    the LLC's sum is kept as its CPUs' proxies change (decay_util), not summed here (at 128
    CPUs the sum over the LLC at every wakeup was 5 % of the replay)."""
    w = TOPO[cpu, TP_LLC_SIZE]
    if w == 0:
        return 0
    x = CS[CS[cpu, E.C_LLC_LEAD], E.C_LLC_UTIL] // w
    pct = EP[E.E_IMB_PCT_LLC]
    y = 1024 - min(1024, (x * x * pct * pct) // (10000 * 1024))
    return (y * w) // 1024


@jit(**INTERNAL, **NO_NRT)
def select_idle_capacity(TS, CS, TOPO, AFF, p, target, pu):
    """select_idle_capacity (engine-model.md §7.5): from target round the machine (the
    asymmetric-capacity domain), the first idle allowed CPU the task's util fits (util x
    1280 < capacity x 1024: fits_capacity, written out here and below), else the idle one
    of highest capacity (the first of them), else -1."""
    n = len(TOPO)
    best, best_cap = -1, 0
    c = target
    for _ in range(n):
        if idle(CS, c) and allowed(TS, AFF, p, c):
            cap = CS[c, E.C_CAPACITY]
            if pu * 1280 < cap * 1024:
                return c
            if cap > best_cap:
                best, best_cap = c, cap
        c += 1
        if c == n:
            c = 0
    return best


@jit(**INTERNAL, **NO_NRT)
def select_idle_sibling(TS, CS, TOPO, AFF, EP, p, prev, target, now):
    """placement.md §2.2 steps 1, 2, 4, 7, 8. The LLC's and cores' CPUs are visited from
    TOPO's groups (TP_LLC_CPUS, TP_CORE_CPUS), in the order of a scan of every CPU
    (ascending; the wrap-around scan from target's successor). On a machine of asymmetric
    capacity the candidates must fit the task and the scan is select_idle_capacity's."""
    asym = EP[E.E_ASYM] == 1
    pu = PL.task_util(TS, p, now) if asym else 0
    # asym_fits_capacity: with capacity-aware wakeups a candidate must fit the task
    if idle(CS, target) and allowed(TS, AFF, p, target) and (not asym or pu * 1280 < CS[target, E.C_CAPACITY] * 1024):
        return target
    llc = TOPO[target, TP_LLC]
    if prev != target and TOPO[prev, TP_LLC] == llc and idle(CS, prev) and allowed(TS, AFF, p, prev) \
            and (not asym or pu * 1280 < CS[prev, E.C_CAPACITY] * 1024):
        return prev
    r = TS[p, E.T_RECENT_CPU]
    TS[p, E.T_RECENT_CPU] = prev
    if r >= 0 and r != prev and r != target and TOPO[r, TP_LLC] == llc and idle(CS, r) \
            and allowed(TS, AFF, p, r) and (not asym or pu * 1280 < CS[r, E.C_CAPACITY] * 1024):
        return r
    if asym:
        c = select_idle_capacity(TS, CS, TOPO, AFF, p, target, pu)
        return c if c >= 0 else target
    n = len(TOPO)
    nl = TOPO[target, TP_LLC_SIZE]
    smt = TOPO[target, TP_CORE_SIZE] > 1
    has_idle_core = False
    if smt:
        s = TOPO[target, TP_LLC_START]
        for i in range(nl):
            if core_idle(CS, TOPO, TOPO[s + i, TP_LLC_CPUS]):
                has_idle_core = True
                break
        if not has_idle_core and TOPO[prev, TP_LLC] == llc:
            s = TOPO[prev, TP_CORE_START]
            for i in range(TOPO[prev, TP_CORE_SIZE]):  # ascending
                c = TOPO[s + i, TP_CORE_CPUS]
                if c != prev and idle(CS, c) and allowed(TS, AFF, p, c):
                    return c
    budget = n if not EP[E.E_SIS_UTIL] else _nr_idle_scan(CS, TOPO, EP, target) + 1
    if not has_idle_core and budget <= 1:
        return target
    fallback = -1
    s = TOPO[target, TP_LLC_START]
    j = TOPO[target, TP_LLC_POS]
    for _ in range(nl):  # the LLC's CPUs from target's successor round to target
        j += 1
        if j == nl:
            j = 0
        c = TOPO[s + j, TP_LLC_CPUS]
        if not allowed(TS, AFF, p, c):
            continue
        if has_idle_core:
            if core_idle(CS, TOPO, c):
                return c
            if fallback < 0 and idle(CS, c):
                fallback = c
        else:
            budget -= 1
            if budget <= 0:
                break
            if idle(CS, c):
                return c
    if has_idle_core and fallback >= 0:
        return fallback
    return target


@jit(**INTERNAL, **NO_NRT)
def first_allowed(TS, AFF, p, n):
    for c in range(n):
        if allowed(TS, AFF, p, c):
            return c
    return 0


# -- energy-aware wakeup placement (engine-model.md §7.5) ----------------------------

@jit(**INTERNAL, **NO_NRT)
def _util_next(TS, CS, p, pu, c, dst, now):
    """cpu_util_next: c's fair util if p (util pu) ran on dst (-1: nowhere), at most c's
    capacity. p's util counts where it is attached (its blocked util stays there)."""
    u = PL.util_of(CS, c, now)
    src = TS[p, E.T_PELT_CPU]
    if src == c and dst != c:
        u = max(u - pu, 0)
    elif src != c and dst == c:
        u += pu
    return min(u, CS[c, E.C_CAPACITY])


@jit(**INTERNAL, **NO_NRT)
def _energy(TS, CS, TOPO, p, pu, dst, lead, now):
    """compute_energy of the performance domain whose first CPU is lead, with p on dst:
    em_cpu_energy(max util, summed util) — the lowest performance state whose frequency
    covers 1.25 x the busiest CPU's util (map_util_freq), its cost times the summed util
    over the domain's capacity."""
    s = TOPO[lead, TP_PD_START]
    max_u = 0
    sum_u = 0
    for i in range(TOPO[lead, TP_PD_SIZE]):
        u = _util_next(TS, CS, p, pu, TOPO[s + i, TP_PD_CPUS], dst, now)
        sum_u += u
        max_u = max(max_u, u)
    k = TOPO[lead, TP_EM_N]
    scale = TOPO[lead, TP_CAPACITY]
    fmax = TOPO[lead, TP_EM + 2 * (k - 1)]
    freq = (fmax + (fmax >> 2)) * max_u // scale
    i = 0
    while i < k - 1 and TOPO[lead, TP_EM + 2 * i] < freq:
        i += 1
    return TOPO[lead, TP_EM + 2 * i + 1] * sum_u // scale


@jit(**INTERNAL, **NO_NRT)
def find_energy_efficient_cpu(TS, CS, TOPO, AFF, p, prev, now):
    """find_energy_efficient_cpu (engine-model.md §7.5; fair.c as of 5.0-5.18): -1 when the
    machine is overutilized; prev when the task has no util; else, per performance domain
    (in the kernel's list order: last domain first), the allowed CPU with the most spare
    capacity among those the task fits, and the energy each candidate adds to its domain;
    the cheapest wins if it saves more than 1/16 of prev's added energy plus the machine's
    base energy, else prev."""
    n = len(TOPO)
    for c in range(n):
        # overutilized (cpu_overutilized of some CPU): read here, where the kernel keeps a
        # root-domain flag that enqueues set and the balancer clears
        cap = CS[c, E.C_CAPACITY]
        if min(PL.util_of(CS, c, now), cap) * 1280 >= cap * 1024:
            return -1
    pu = PL.task_util(TS, p, now)
    if pu == 0:
        return prev
    INF = 1 << 62
    prev_delta = INF
    best_delta = INF
    best = prev
    base = 0
    for lead in range(n - 1, -1, -1):
        if TOPO[TOPO[lead, TP_PD_START], TP_PD_CPUS] != lead:
            continue  # not the first CPU of its domain
        base_pd = _energy(TS, CS, TOPO, p, pu, -1, lead, now)
        base += base_pd
        s = TOPO[lead, TP_PD_START]
        max_spare = 0
        max_cpu = -1
        for i in range(TOPO[lead, TP_PD_SIZE]):
            c = TOPO[s + i, TP_PD_CPUS]
            if not allowed(TS, AFF, p, c):
                continue
            u = _util_next(TS, CS, p, pu, c, c, now)
            cap = CS[c, E.C_CAPACITY]
            if u * 1280 >= cap * 1024:
                continue
            if c == prev:
                prev_delta = _energy(TS, CS, TOPO, p, pu, prev, lead, now) - base_pd
                best_delta = min(best_delta, prev_delta)
            if cap - u > max_spare:
                max_spare = cap - u
                max_cpu = c
        if max_cpu >= 0 and max_cpu != prev:
            d = _energy(TS, CS, TOPO, p, pu, max_cpu, lead, now) - base_pd
            if d < best_delta:
                best_delta = d
                best = max_cpu
    if prev_delta == INF:
        return best
    if prev_delta - best_delta > (prev_delta + base) >> 4:
        return best
    return prev


@jit(**INTERNAL, **NO_NRT)
def select_fair_wakeup(TS, CS, TOPO, AFF, EP, p, prev, this, waker, sync, now):
    """select_task_rq_fair for a wakeup (placement.md §2); ``sync``: 1 for a sync wakeup.
    With an energy model, energy-aware placement first (engine-model.md §7.5)."""
    n = len(TOPO)
    if prev < 0 or prev >= n:
        prev = this if this >= 0 else first_allowed(TS, AFF, p, n)
    if this < 0:
        this = prev
    if sync and EP[E.E_SYNC_WAKER] and nr_running(CS, this) == 1 and allowed(TS, AFF, p, this):
        return this
    if EP[E.E_EAS]:
        c = find_energy_efficient_cpu(TS, CS, TOPO, AFF, p, prev, now)
        if c >= 0:
            if not allowed(TS, AFF, p, c):
                c = prev if allowed(TS, AFF, p, prev) else first_allowed(TS, AFF, p, n)
            return c
    target = prev
    wide = EP[E.E_WAKE_WIDE] and _wake_wide(TS, waker, p, TOPO[prev, TP_LLC_SIZE])
    if not wide and this != prev and allowed(TS, AFF, p, this):
        target = _wake_affine(TS, CS, TOPO, EP, p, this, prev, 1 if sync and EP[E.E_WA_SYNC] else 0)
    c = select_idle_sibling(TS, CS, TOPO, AFF, EP, p, prev, target, now)
    if not allowed(TS, AFF, p, c):
        c = prev if allowed(TS, AFF, p, prev) else first_allowed(TS, AFF, p, n)
    return c


@jit(**INTERNAL, **NO_NRT)
def _adjust_numa_imbalance(imb, dst_running, imb_numa_nr):
    """placement.md §6.1."""
    if dst_running > imb_numa_nr:
        return imb
    if imb <= 2:
        return 0
    return imb


@jit(**INTERNAL, **NO_NRT)
def _idle_in_node(TS, CS, TOPO, AFF, p, k):
    """Idle CPUs of node k that p may run on."""
    m = 0
    for c in range(len(TOPO)):
        if TOPO[c, TP_NODE] == k and allowed(TS, AFF, p, c) and idle(CS, c):
            m += 1
    return m


@jit(**INTERNAL, **NO_NRT)
def select_fair_fork(TS, CS, TOPO, AFF, EP, p, this):
    """Fork placement reduced to placement.md §8 item 6: top-down, the node, then the LLC
    with most idle CPUs (with the NUMA allowance), then an idle CPU (an idle core first),
    else the least loaded CPU."""
    n = len(TOPO)
    if this < 0:
        this = 0
    n_nodes = 0
    for c in range(n):
        n_nodes = max(n_nodes, TOPO[c, TP_NODE] + 1)
    node = TOPO[this, TP_NODE]
    if n_nodes > 1:
        # (counted per node by a scan each, not in arrays: the engine's code runs without
        # the NRT, so it allocates nothing)
        best = node
        best_idle = _idle_in_node(TS, CS, TOPO, AFF, p, node)
        for k in range(n_nodes):
            ik = _idle_in_node(TS, CS, TOPO, AFF, p, k)
            if ik > best_idle:
                best = k
                best_idle = ik
        if best != node:
            imb = best_idle - _idle_in_node(TS, CS, TOPO, AFF, p, node)
            run_here = 0
            for c in range(n):
                if TOPO[c, TP_NODE] == node and allowed(TS, AFF, p, c):
                    run_here += nr_running(CS, c)
            if _adjust_numa_imbalance(imb, run_here + 1, EP[E.E_IMB_NUMA_NR]) != 0:
                node = best
    # LLC within the node with most idle CPUs (ties: this CPU's LLC, then lowest id); each
    # LLC counted once, from its lowest CPU (a count per CPU was O(CPUs x LLC size): at 128
    # CPUs in one LLC, three quarters of a fork-heavy replay)
    best_llc = TOPO[this, TP_LLC] if TOPO[this, TP_NODE] == node else -1
    best_cpu = this  # a CPU of best_llc
    best_idle = -1
    for c in range(n):
        if TOPO[c, TP_NODE] != node or TOPO[c, TP_LLC_POS] != 0:
            continue
        llc = TOPO[c, TP_LLC]
        cnt = 0
        s = TOPO[c, TP_LLC_START]
        for i in range(TOPO[c, TP_LLC_SIZE]):
            x = TOPO[s + i, TP_LLC_CPUS]
            if idle(CS, x) and allowed(TS, AFF, p, x):
                cnt += 1
        if cnt > best_idle or (cnt == best_idle and llc == TOPO[this, TP_LLC]):
            best_idle = cnt
            best_llc = llc
            best_cpu = c
    cand = -1
    nb = 0
    s = 0
    if best_llc >= 0:  # its CPUs, ascending
        s = TOPO[best_cpu, TP_LLC_START]
        nb = TOPO[best_cpu, TP_LLC_SIZE]
    for i in range(nb):
        c = TOPO[s + i, TP_LLC_CPUS]
        if allowed(TS, AFF, p, c) and idle(CS, c) and core_idle(CS, TOPO, c):
            return c
    for i in range(nb):
        c = TOPO[s + i, TP_LLC_CPUS]
        if allowed(TS, AFF, p, c) and idle(CS, c):
            return c
    for i in range(nb):
        c = TOPO[s + i, TP_LLC_CPUS]
        if allowed(TS, AFF, p, c):
            if cand < 0 or nr_running(CS, c) < nr_running(CS, cand):
                cand = c
    if cand < 0:
        cand = first_allowed(TS, AFF, p, n)
    return cand


# -- RT placement (rt.md §6) ---------------------------------------------------------

@jit(**INTERNAL, **NO_NRT)
def rt_level(TS, CS, c):
    """cpupri level of c: 0 if no RT task is queued, else the rt_priority of its best
    queued RT task (99 - prio); 100 for the stop class / deadline."""
    best = 1000
    t = CS[c, E.C_RT_HEAD]
    while t >= 0:
        if TS[t, E.T_PRIO] < best:
            best = TS[t, E.T_PRIO]
        t = TS[t, E.T_Q_NEXT]
    if best == 1000:
        return 0
    if best < 0:
        return schema.MAX_RT_PRIO
    return schema.MAX_RT_LEVEL - best


@jit(**INTERNAL, **NO_NRT)
def cpupri_find(TS, CS, TOPO, AFF, p):
    """cpupri_find: whether some CPU p may use has a cpupri level below p's (no side
    effects: the rotating iterator of find_lowest_rq is not touched)."""
    plevel = schema.MAX_RT_LEVEL - TS[p, E.T_PRIO] if TS[p, E.T_PRIO] >= 0 else schema.MAX_RT_PRIO
    for c in range(len(TOPO)):
        if allowed(TS, AFF, p, c) and rt_level(TS, CS, c) < plevel:
            return True
    return False


@jit(**INTERNAL, **NO_NRT)
def find_lowest_rq(TS, CS, TOPO, AFF, p, this):
    """rt.md §6.2: the lowest cpupri level below p's holding an allowed CPU; prefer p's
    CPU, then the executing CPU and CPUs sharing p's LLC, then its node, then any
    (rotating choice within a group)."""
    n = len(TOPO)
    plevel = schema.MAX_RT_LEVEL - TS[p, E.T_PRIO] if TS[p, E.T_PRIO] >= 0 else schema.MAX_RT_PRIO
    lowest = 1000
    for c in range(n):
        if allowed(TS, AFF, p, c):
            lv = rt_level(TS, CS, c)
            if lv < plevel and lv < lowest:
                lowest = lv
    if lowest == 1000:
        return -1
    cur = TS[p, E.T_CPU]
    if cur >= 0 and cur < n and allowed(TS, AFF, p, cur) and rt_level(TS, CS, cur) == lowest:
        return cur
    if cur < 0 or cur >= n:
        cur = this if this >= 0 else 0
    for dom in range(2):  # LLC, then node
        col = TP_LLC if dom == 0 else TP_NODE
        if this >= 0 and TOPO[this, col] == TOPO[cur, col] and allowed(TS, AFF, p, this) \
                and rt_level(TS, CS, this) == lowest:
            return this
        start = CS[cur, E.C_DIST_ITER]
        for k in range(n):
            c = (start + 1 + k) % n
            if TOPO[c, col] == TOPO[cur, col] and allowed(TS, AFF, p, c) and rt_level(TS, CS, c) == lowest:
                CS[cur, E.C_DIST_ITER] = c
                return c
    if this >= 0 and allowed(TS, AFF, p, this) and rt_level(TS, CS, this) == lowest:
        return this
    start = CS[cur, E.C_DIST_ITER]
    for k in range(n):
        c = (start + 1 + k) % n
        if allowed(TS, AFF, p, c) and rt_level(TS, CS, c) == lowest:
            CS[cur, E.C_DIST_ITER] = c
            return c
    return -1


@jit(**INTERNAL, **NO_NRT)
def select_rt(TS, CS, TOPO, AFF, p, prev, this):
    """select_task_rq_rt (rt.md §6.3): leave prev only when it runs an RT task that is
    pinned or at least as urgent as p."""
    n = len(TOPO)
    if prev < 0 or prev >= n or not allowed(TS, AFF, p, prev):
        prev = first_allowed(TS, AFF, p, n)
    t = CS[prev, E.C_CURR]
    if t >= 0 and TS[t, E.T_CLASS] <= E.CLS_RT and (TS[t, E.T_PINNED] >= 0 or TS[t, E.T_PRIO] <= TS[p, E.T_PRIO]):
        saved = TS[p, E.T_CPU]
        TS[p, E.T_CPU] = prev
        cand = find_lowest_rq(TS, CS, TOPO, AFF, p, this)
        TS[p, E.T_CPU] = saved
        if cand >= 0 and schema.MAX_RT_LEVEL - TS[p, E.T_PRIO] > rt_level(TS, CS, cand):
            return cand
    return prev
