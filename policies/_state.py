"""Engine state layout: column constants of the task and CPU matrices, event types,
engine parameters, and the per-CPU run-queue lists that the engine maintains and
the scheduling classes read.

The engine keeps its state as struct-of-arrays packed into two int64 matrices
(``TS[task, T_*]`` and ``CS[cpu, C_*]``) so that policy functions, compiled
separately with one fixed signature, can read what they need. A class's own
per-task and per-CPU state lives in its own matrices (see policies/_protocol.py).
"""

from __future__ import annotations

import numpy as np

from traces._numba import NO_NRT, jit

# -- task matrix TS[task, col] ------------------------------------------------------
T_STATE = 0        # task state, S_* below
T_CPU = 1          # CPU it runs / waits on, or last ran on
T_CLASS = 2        # CLS_* below
T_PRIO = 3         # kernel prio (RT 0..98, fair 100..139, -1 above RT)
T_WEIGHT = 4       # fair load weight (nice table)
T_POLICY = 5       # POL_* below
T_BURST = 6        # current burst (global index)
T_PROGRESS = 7     # CPU work done (ns of demand, at the task's speed)
T_NEXT_ACT = 8     # next action index (global, into the actions arrays)
T_RUN_START = 9    # when it was last switched in
T_ACCT = 10        # last time its running was accounted (progress and class runtime)
T_WAIT_START = 11  # start of the current wait (interval bookkeeping)
T_CAUSE = 12       # why it became runnable (schema.BEGIN_*)
T_IV_START = 13    # start of the open interval
T_IV_BEGIN = 14    # how the open interval began (schema.BEGIN_*)
T_ON_RQ = 15       # 1 while on a CPU's class list (incl. running, incl. delayed)
T_DELAYED = 16     # 1 while blocked but kept queued (EEVDF delayed dequeue)
T_Q_NEXT = 17      # intrusive list links (engine-maintained, per CPU and class)
T_Q_PREV = 18
T_LAST_RAN = 19    # exec_start: when it last started running (cache hotness)
T_RECENT_CPU = 20  # recent_used_cpu (select_idle_sibling)
T_WAKEE = 21       # last task it woke (wake_wide bookkeeping)
T_FLIPS = 22       # wakee_flips
T_FLIPS_TS = 23    # when wakee_flips was last decayed
T_PINNED = 24      # CPU it is pinned to, -1 for none
T_AFF = 25         # affinity set id (row of the affinity matrix), -1: all CPUs
T_LIST = 26        # class list the task is on (CLS_RT or CLS_FAIR), -1 none (consistency check)
T_WAIT_BURST = 27  # burst index the task is blocked waiting for, -1 none
T_HOME = 28        # home NUMA node (-1 unknown yet)
T_RR_LEFT = 29     # RT RR: ticks left in the slice
T_SLEEP_STATE = 30  # prev_state it blocked with
T_NEW = 31         # 1 until its first enqueue (fork/new-task placement flags)
T_PARENT = 32      # task that forked it, -1
T_SEQ = 33         # per-CPU insertion order ticket (ties: earlier insert wins)
T_BURST_END = 34   # progress at which the current burst ends (2**62: open)
T_ACT_END = 35     # one past its last action index
T_LAST_CPU = 36    # CPU it last ran on
T_FUTEX_BURST = 37  # 1 if its current burst ends in a futex wait (the policy's classifier)
# PELT load of a fair task (replay/sim/_pelt.py)
T_PELT_TS = 38     # last update (ns, a multiple of 1024 ns from the CPU's clock)
T_PELT_PC = 39     # period_contrib (units of 1024 ns into the current period)
T_LOAD_SUM = 40    # time queued, decayed
T_LOAD_AVG = 41    # weight * load_sum / divider
T_PELT_W = 42      # weight its load is computed with (0: not yet a fair task)
T_PELT_CPU = 43    # CPU whose run-queue signal holds its load, -1 none
T_PELT_Q = 44      # 1 while its weight counts in that CPU's queued weight (runnable, not delayed)
# PELT utilisation of a fair task (kept only on machines of asymmetric capacity, E_ASYM; its own
# clock, moved with the load's: replay/sim/_pelt.py)
T_PU_TS = 45
T_PU_PC = 46
T_PU_SUM = 47      # running time x capacity of the CPU it ran on, decayed
T_PU_AVG = 48      # util_avg: util_sum / divider (1024 = always running on the biggest CPU)
T_PU_IN = 49       # its input: the capacity of its CPU while it runs there, else 0
T_GROUP = 50       # task group (autogroup) it is scheduled in: 0 the root group (docs/engine-model.md §13)
NT = 51

# task states
S_NOT_STARTED = 0
S_RUNNABLE = 1
S_RUNNING = 2
S_BLOCKED = 3
S_EXITED = 4

# classes, from highest
CLS_STOP = 0       # above RT: deadline tasks and migration/N, replayed as RT prio -1
CLS_RT = 1
CLS_FAIR = 2

# policies (sched_setscheduler)
POL_NORMAL = 0
POL_BATCH = 1
POL_IDLE = 2
POL_FIFO = 3
POL_RR = 4

# -- CPU matrix CS[cpu, col] ---------------------------------------------------------
C_CURR = 0         # running task, -1 idle
C_GEN = 1          # bumped at every switch: stale progress events are ignored
C_RT_HEAD = 2      # head of the RT class list (task id, -1 empty)
C_FAIR_HEAD = 3    # head of the fair class list
C_NR_RT = 4        # tasks on the RT list (incl. running)
C_NR_FAIR = 5      # tasks on the fair list (incl. running and delayed)
C_NR_DELAYED = 6   # delayed fair tasks among them
C_IDLE_SINCE = 7   # when it went idle, -1 busy
C_TICK_ON = 8      # 1 while a tick event is pending
C_CORE = 9
C_LLC = 10
C_NODE = 11
C_CAPACITY = 12
C_UTIL = 13        # decayed utilisation proxy, 0..1024 (PELT-like, 32 ms half-life)
C_UTIL_TS = 14
C_BALANCE_NEXT = 15  # next periodic balance time
C_BALANCE_FAILED = 16
C_SEQ = 17         # insertion counter
C_SERVER_LEFT = 18  # fair server: runtime left in this period (ns)
C_SERVER_PERIOD_END = 19
C_SERVER_ACTIVE = 20  # 1 while the fair server runs fair tasks above RT
C_STARVE_SINCE = 21   # fair tasks waiting while RT runs since (ns), -1 not starved
C_LAST_PREV = 22      # task that ran before the current one (RT pull)
C_DIST_ITER = 23      # rotating CPU iterator for RT find_lowest_rq
C_NEED_RESCHED = 24   # the CPU must reschedule once the current event is handled
C_RESCHED_AT = 25     # a delayed reschedule (wakeup latency) is pending for this time, -1 none
C_MARKED = 26         # row 0 only: how many CPUs have C_NEED_RESCHED set (most events mark none:
                      # the engine then skips its reschedule pass)
C_MARK_LIST = 27      # rows 0 .. C_MARKED-1: the CPUs with C_NEED_RESCHED set (unordered), so the
                      # pass visits them without scanning every CPU
# PELT load of the CPU's fair run queue (replay/sim/_pelt.py)
C_PELT_TS = 28
C_PELT_PC = 29
C_LOAD_SUM = 30
C_LOAD_AVG = 31       # cfs_rq load_avg: queued and blocked load (cpu_load)
C_RQ_WEIGHT = 32      # summed weight of the runnable fair tasks queued on it
C_LLC_LEAD = 33       # the first CPU of its LLC: the row that holds the LLC's sums
C_LLC_UTIL = 34       # in an LLC's first CPU's row: sum of C_UTIL // 1024 over the LLC, kept at
                      # every update of a C_UTIL so that SIS_UTIL reads it without visiting the LLC
# PELT utilisation of the CPU's fair run queue (E_ASYM machines only): running and blocked util
C_PU_TS = 35
C_PU_PC = 36
C_PU_SUM = 37
C_PU_AVG = 38         # cfs_rq util_avg
C_PU_IN = 39          # its input: the CPU's capacity while a fair task runs on it, else 0
C_PU_ON = 40          # row 0 only: 1 when utilisation is kept (E_ASYM)
# newidle's idle-time gate of kernels before 5.16 (E_AVG_IDLE; docs/engine-model.md §9.3)
C_AVG_IDLE = 41       # rq->avg_idle: average length of this CPU's idle periods (ns)
C_IDLE_STAMP = 42     # rq->idle_stamp: when it last went newly idle, -1 none pending
C_GENT_BASE = 43      # (every row) the first row of the fair class's per-task matrix that belongs to a
                      # group entity: group g's entity on CPU c is row C_GENT_BASE + (g - 1) * n_cpus + c
                      # (docs/engine-model.md §13); rows below it are the tasks'
NC = 44

# -- events ------------------------------------------------------------------------
EV_START = 0    # a burst becomes runnable (arg: task, arg2: burst)
EV_POINT = 1    # the running task reaches its next progress point (arg: cpu, arg2: generation)
EV_TICK = 2     # scheduler tick on a CPU (arg: cpu)
EV_SERVER = 3   # fair-server deferral timer (arg: cpu, arg2: period end it belongs to)
EV_RESCHED = 4  # a reschedule requested by a wakeup takes effect (arg: cpu)

# -- engine parameters E[...] (int64) ----------------------------------------------
E_TICK_NS = 0
E_HORIZON = 1          # replay ends here (ns, absolute)
E_START = 2            # replay starts here
E_SLEEP_ABS = 3        # 1: external wakeups at their absolute trace time
E_SMT_Q10 = 4          # speed when the SMT sibling is busy, x/1024 (1024: no slowdown)
E_NUMA_Q10 = 5         # speed off the home node, x/1024
E_COLD_NS = 6          # extra demand after a cross-LLC migration (ns)
E_MIGRATION_COST = 7   # cache-hot window for balancing (ns)
E_NEWIDLE = 8          # newidle balancing on/off
E_PERIODIC = 9         # periodic balancing on/off
E_WA_IDLE = 10
E_WA_WEIGHT = 11
E_WA_BIAS = 12
E_SIS_UTIL = 13
E_RT_PUSH = 14
E_SERVER_RUNTIME = 15  # fair server runtime per period (0: off)
E_SERVER_PERIOD = 16
E_IMB_PCT_LLC = 17     # imbalance_pct of the LLC (MC) level
E_IMB_NUMA_NR = 18     # NUMA imbalance allowance (computed from the topology)
E_BALANCE_MS = 19      # base periodic balance interval per CPU of span (ms)
E_SEED = 20
E_WAKE_WIDE = 21
E_CACHE_NICE = 22      # cache_nice_tries at LLC level
E_IDLE_LAT = 23        # wakeup onto an idle CPU: time until it switches (idle exit, IPI)
E_PREEMPT_LAT = 24     # wakeup preemption: time until the preempting switch happens
E_LAT_Q = 25           # latencies drawn from per-CPU tables of this many quantiles (0: the two above)
E_LAT_IDLE = 26        # offset in EP of the idle-wakeup table [CPU][E_LAT_Q], -1 none
E_LAT_PREEMPT = 27     # offset in EP of the preemption table [CPU][E_LAT_Q], -1 none
E_WA_SYNC = 28         # honour the workload's sync wakeups in wake_affine
E_YIELDS = 29          # replay the workload's inferred sched_yield calls
E_ASYM = 30            # CPU capacities differ (sched_asym_cpucapacity): utilisation is kept, and
                       # with 1 wakeups look for a CPU the task fits (select_idle_capacity), with 2
                       # they scan the LLC capacity-blind (asym_wakeup=llc, kernels before 5.7)
E_EAS = 31             # 1: energy-aware wakeup placement (an energy model, E_ASYM, param eas)
E_AVG_IDLE = 32        # 1: newidle balancing only when the CPU's average idle time reaches the
                       # migration cost (kernels before 5.16, param newidle_avg_idle)
E_SYNC_WAKER = 33      # 1: a sync wakeup takes the waker's CPU when it runs only the waker (Android)
E_N = 34               # the tables follow the scalars



# -- per-CPU class lists (maintained by the engine, read by classes) ------------------

@jit(**NO_NRT)
def list_head_col(cls):
    return C_RT_HEAD if cls <= CLS_RT else C_FAIR_HEAD


@jit(**NO_NRT)
def list_add(TS, CS, cpu, t, cls):
    """Append task t to CPU cpu's list of class cls (order of insertion = T_SEQ)."""
    hc = list_head_col(cls)
    head = CS[cpu, hc]
    TS[t, T_Q_NEXT] = head
    TS[t, T_Q_PREV] = -1
    if head >= 0:
        TS[head, T_Q_PREV] = t
    CS[cpu, hc] = t
    CS[cpu, C_SEQ] += 1
    TS[t, T_SEQ] = CS[cpu, C_SEQ]
    TS[t, T_ON_RQ] = 1
    TS[t, T_CPU] = cpu
    TS[t, T_LIST] = CLS_RT if cls <= CLS_RT else CLS_FAIR
    if cls <= CLS_RT:
        CS[cpu, C_NR_RT] += 1
    else:
        CS[cpu, C_NR_FAIR] += 1


@jit(**NO_NRT)
def list_remove(TS, CS, cpu, t, cls):
    if TS[t, T_LIST] != (CLS_RT if cls <= CLS_RT else CLS_FAIR) or TS[t, T_CPU] != cpu:
        raise RuntimeError("engine bug: removing a task from a run-queue list it is not on")
    TS[t, T_LIST] = -1
    hc = list_head_col(cls)
    n, p = TS[t, T_Q_NEXT], TS[t, T_Q_PREV]
    if p >= 0:
        TS[p, T_Q_NEXT] = n
    else:
        CS[cpu, hc] = n
    if n >= 0:
        TS[n, T_Q_PREV] = p
    TS[t, T_Q_NEXT] = -1
    TS[t, T_Q_PREV] = -1
    TS[t, T_ON_RQ] = 0
    if TS[t, T_DELAYED]:
        TS[t, T_DELAYED] = 0
        CS[cpu, C_NR_DELAYED] -= 1
    if cls <= CLS_RT:
        CS[cpu, C_NR_RT] -= 1
    else:
        CS[cpu, C_NR_FAIR] -= 1


def new_task_matrix(n: int) -> np.ndarray:
    TS = np.zeros((max(n, 1), NT), np.int64)
    for col in (T_CPU, T_BURST, T_NEXT_ACT, T_WAIT_START, T_Q_NEXT, T_Q_PREV, T_RECENT_CPU, T_WAKEE,
                T_PINNED, T_AFF, T_LIST, T_WAIT_BURST, T_HOME, T_SLEEP_STATE, T_PARENT, T_CAUSE,
                T_LAST_CPU, T_PELT_CPU, T_PU_TS):
        TS[:, col] = -1
    return TS
