"""What a policy module may use: the stable API for writing a scheduling policy outside
schedreplay (docs/writing-a-policy.md is the guide; policies/_protocol.py the contract).

>>> from policies.api import hook, Param, make_state, rt, T_PRIO, C_FAIR_HEAD, T_Q_NEXT

* ``hook``: compiles a hook with the shared signature ``SIG`` (``cache=True``, no
  reference counting: a hook allocates nothing); ``helper``: the same options for the
  functions hooks call.
* ``HOOKS``: the twelve hook names (``OPTIONAL_HOOKS``: those a module may leave out;
  ``keep_on_yield`` is the default ``yield_task``); ``ENQ_*`` / ``DEQ_*``: the flags
  ``enqueue`` and ``dequeue`` receive.
* ``Param``: one parameter of ``PARAMS``; ``resolve(PARAMS, values, name)``: defaults
  overridden by ``values`` (checked and parsed), for ``pack``.
* ``make_state(N_TASK_COLS, N_CPU_COLS)``: the ``state`` function.
* ``rt``: the stock RT class (``RT = rt``). A variation of a built-in fair class imports
  it (``from policies import eevdf``) and reuses its hooks and helpers.
* The engine state a hook may read — the columns below are stable: they keep their
  meaning and name across versions (the values are looked up by name at compile time,
  so use the names, never the numbers). Only ``list_remove`` writes the engine's
  matrices, and only to finish a task's delayed dequeue (see the guide).
* Fair-class arithmetic: ``weight_of(TS, t)``, ``nice_of(TS, t)``,
  ``calc_delta_fair(delta, TS, t)`` (wall ns to t's virtual ns, the kernel's fixed point),
  ``scaling_factor(n_cpus, mode)``; ``NICE_0_WEIGHT``.
"""

from __future__ import annotations

from traces._numba import NO_NRT, jit

from . import rt
from ._fair_common import calc_delta_fair, nice_of, scaling_factor, weight_of
from ._params import Param, resolve
from ._protocol import (DEQ_EXIT, DEQ_MIGRATE, DEQ_PRIO, DEQ_SLEEP, ENQ_MIGRATED, ENQ_NEW, ENQ_PRIO, ENQ_REQUEUE,
                        ENQ_WAKEUP, FN, HOOKS, OPTIONAL_HOOKS, SIG, make_state)
from ._state import (C_CAPACITY, C_CORE, C_CURR, C_FAIR_HEAD, C_LLC, C_NODE, C_NR_DELAYED, C_NR_FAIR, C_NR_RT,
                     C_RT_HEAD, CLS_FAIR, CLS_RT, CLS_STOP, POL_BATCH, POL_FIFO, POL_IDLE, POL_NORMAL, POL_RR,
                     S_BLOCKED, S_EXITED, S_NOT_STARTED, S_RUNNABLE, S_RUNNING, T_CLASS, T_CPU, T_DELAYED, T_HOME,
                     T_GROUP, T_LAST_CPU, T_LAST_RAN, T_ON_RQ, T_PARENT, T_PINNED, T_POLICY, T_PRIO, T_Q_NEXT, T_SEQ,
                     T_STATE, T_WEIGHT, list_remove)
from .weights import NICE_0_WEIGHT

#: decorator: a hook compiled with the shared signature SIG, cached on disk, allocating nothing
hook = jit(SIG, **NO_NRT)
#: decorator: a function hooks call, compiled with the same options (types from its first call)
helper = jit(**NO_NRT)


@hook
def keep_on_yield(TS, CS, PT, PC, PP, cpu, t, arg, now):
    """The default ``yield_task``: the class state is left as it is, so the reschedule that
    follows a sched_yield lets the class's pick decide (the yielding task may keep the CPU)."""
    return 0

#: the engine's task matrix TS[task, col]: the stable columns
TASK_COLUMNS = {
    "T_STATE": "S_NOT_STARTED, S_RUNNABLE, S_RUNNING, S_BLOCKED or S_EXITED",
    "T_CPU": "the CPU whose list it is on (or last was on)",
    "T_CLASS": "CLS_STOP, CLS_RT or CLS_FAIR (the engine calls the fair class's hooks for CLS_FAIR only)",
    "T_PRIO": "kernel prio: RT 0..98 (lower is more urgent), fair 100..139 (nice + 120), -1 above RT",
    "T_WEIGHT": "load weight from nice (sched_prio_to_weight; SCHED_IDLE: 3)",
    "T_POLICY": "POL_NORMAL, POL_BATCH, POL_IDLE, POL_FIFO or POL_RR",
    "T_ON_RQ": "1 while on a CPU's class list (running, waiting, or kept queued as delayed)",
    "T_DELAYED": "1 while blocked but kept queued (dequeue returned 0)",
    "T_Q_NEXT": "the next task on the same CPU's class list, -1 at the end",
    "T_SEQ": "insertion ticket on its CPU: larger was put on the list later",
    "T_PINNED": "the CPU it is pinned to (per-CPU kernel threads), -1 none",
    "T_PARENT": "the task that forked it, -1",
    "T_GROUP": "its task group (docs/engine-model.md §13): 0 the root group; others only for a class with "
               "GROUPS = True, else always 0",
    "T_LAST_CPU": "the CPU it last ran on, -1 before it first ran",
    "T_LAST_RAN": "when it was last switched in (ns)",
    "T_HOME": "its home NUMA node (node of the first CPU it ran on), -1 before",
}
#: the engine's CPU matrix CS[cpu, col]: the stable columns
CPU_COLUMNS = {
    "C_CURR": "the running task, -1 idle",
    "C_FAIR_HEAD": "first task of the fair list (walk it with T_Q_NEXT), -1 empty",
    "C_RT_HEAD": "first task of the RT list (RT and stop tasks), -1 empty",
    "C_NR_FAIR": "tasks on the fair list (incl. the running one and delayed ones)",
    "C_NR_RT": "tasks on the RT list (incl. the running one)",
    "C_NR_DELAYED": "delayed tasks on the fair list",
    "C_CORE": "SMT core id", "C_LLC": "LLC id", "C_NODE": "NUMA node id",
    "C_CAPACITY": "capacity, 1024 = the biggest CPU",
}

__all__ = ["hook", "helper", "SIG", "FN", "HOOKS", "OPTIONAL_HOOKS", "keep_on_yield", "Param", "resolve",
           "make_state", "rt",
           "weight_of", "nice_of", "calc_delta_fair", "scaling_factor", "NICE_0_WEIGHT", "list_remove",
           "TASK_COLUMNS", "CPU_COLUMNS",
           "ENQ_WAKEUP", "ENQ_NEW", "ENQ_MIGRATED", "ENQ_REQUEUE", "ENQ_PRIO",
           "DEQ_SLEEP", "DEQ_MIGRATE", "DEQ_EXIT", "DEQ_PRIO",
           "S_NOT_STARTED", "S_RUNNABLE", "S_RUNNING", "S_BLOCKED", "S_EXITED",
           "CLS_STOP", "CLS_RT", "CLS_FAIR", "POL_NORMAL", "POL_BATCH", "POL_IDLE", "POL_FIFO", "POL_RR",
           *TASK_COLUMNS, *CPU_COLUMNS]
