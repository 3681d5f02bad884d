"""The policy protocol: what a scheduling-class module must expose.

A policy is a plain module. Its scheduling-class functions all share one
signature, declared once here, and are compiled with it (``cache=True``), so
the engine — compiled once for function-typed arguments — calls them through
function pointers and neither side ever recompiles for the other::

    fn(TS, CS, PT, PC, PP, cpu, task, arg, now) -> int64

``TS``/``CS`` are the engine's task and CPU matrices (replay/_state.py),
``PT``/``PC`` the class's own per-task and per-CPU matrices (its column
constants live in its module), ``PP`` its packed parameters (int64).

Hooks (``arg`` / return value):

* ``init_task(cpu, task, parent)``: a new task (fork) or the start of the
  replay; set up class state. -> 0
* ``enqueue(cpu, task, flags)``: the task was put on ``cpu``'s list (ENQ_*). -> 0
* ``dequeue(cpu, task, flags)``: take it off (DEQ_*). -> 1 if it left the queue,
  0 if the class keeps it queued (EEVDF delayed dequeue of a sleeper).
* ``pick(cpu, -1, 0)``: the task to run next among the class's queued tasks,
  including the one running now; -1 if none. May finish delayed dequeues.
* ``set_next(cpu, task, 0)``: the task starts running. -> 0
* ``put_prev(cpu, task, 0)``: it stops running but stays queued. -> 0
* ``update_curr(cpu, task, delta_ns)``: it ran ``delta_ns`` more. -> 1 if the
  class wants the CPU rescheduled (slice used up), else 0.
* ``check_preempt(cpu, task, 0)``: ``task`` (same class) was just enqueued
  while ``cpu`` runs a task of this class. -> 1 to preempt.
* ``tick(cpu, task, 0)``: scheduler tick while ``task`` runs. -> 1 to resched.
* ``select_cpu(cpu, task, prev)``: placement hook, after the shared placement
  chose ``cpu``. -> the CPU to use (return ``cpu`` to accept).
* ``can_migrate(dst, task, early)``: the fair load balancer (newidle, idle and
  periodic pulls; never an active balance) considers moving the waiting ``task``
  to ``dst``, after its affinity and running checks and before the cache-hot
  test; ``early`` is 1 while the domain's balance failures are <= cache_nice_tries
  (newidle: always 1). -> 1 to allow, 0 to refuse.
* ``yield_task(cpu, task, 0)``: the running ``task`` calls sched_yield (inferred from
  the recording: README "How replay works"), already charged its time; the engine
  reschedules ``cpu`` right after (schedule()), so the pick decides who runs. -> 0.
  Optional (OPTIONAL_HOOKS): a module without it gets ``policies.api.keep_on_yield``,
  which changes nothing (the pick alone decides).

Each policy module also exposes ``PARAMS`` (tuple of policies._params.Param),
``N_TASK_COLS``, ``N_CPU_COLS``, ``state(n_tasks, n_cpus) -> (PT, PC)`` (its zeroed
matrices: ``make_state``), ``pack(values, n_cpus, hz) -> int64 array``, ``RT`` (the
RT-class module it uses) and ``DESCRIPTION``.
"""

from __future__ import annotations

import numpy as np
from numba import types

MAT = types.int64[:, ::1]
VEC = types.int64[::1]
SIG = types.int64(MAT, MAT, MAT, MAT, VEC, types.int64, types.int64, types.int64, types.int64)
FN = types.FunctionType(SIG)

HOOKS = ("init_task", "enqueue", "dequeue", "pick", "set_next", "put_prev", "update_curr",
         "check_preempt", "tick", "select_cpu", "can_migrate", "yield_task")
#: hooks a module may leave out; hooks_of gives it the default (policies.api.keep_on_yield)
OPTIONAL_HOOKS = ("yield_task",)
#: names a module may leave out besides them: GROUPS (True: the class schedules task groups,
#: docs/engine-model.md §13; absent: it does not, and the engine replays them flat)
OPTIONAL_NAMES = ("GROUPS",)

# enqueue flags
ENQ_WAKEUP = 1
ENQ_NEW = 2          # first enqueue of a new task (PLACE_DEADLINE_INITIAL, fork placement)
ENQ_MIGRATED = 4     # moved from another CPU while runnable (balancer, push/pull)
ENQ_REQUEUE = 8      # wakeup of a task the class kept queued (delayed dequeue, ttwu_runnable)
ENQ_PRIO = 16        # class/priority change

# dequeue flags
DEQ_SLEEP = 1
DEQ_MIGRATE = 2      # leaves to be enqueued elsewhere (not a sleep)
DEQ_EXIT = 4         # the task exits: never kept queued
DEQ_PRIO = 8


def hooks_of(module) -> tuple:
    """The module's hook functions in HOOKS order, the default for an optional one it leaves
    out (raises AttributeError if a required one is missing)."""
    from . import api

    defaults = {"yield_task": api.keep_on_yield}
    return tuple(getattr(module, name) if hasattr(module, name) or name not in OPTIONAL_HOOKS
                 else defaults[name] for name in HOOKS)


def make_state(n_task_cols: int, n_cpu_cols: int):
    """The ``state(n_tasks, n_cpus)`` function of a class with these column counts: it
    returns the class's per-task and per-CPU matrices (PT, PC), int64 zeros, at least one
    row each. A class module writes ``state = make_state(N_TASK_COLS, N_CPU_COLS)``."""

    def state(n_tasks: int, n_cpus: int) -> tuple[np.ndarray, np.ndarray]:
        """The class's zeroed per-task and per-CPU matrices (PT, PC)."""
        return (np.zeros((max(n_tasks, 1), n_task_cols), np.int64),
                np.zeros((max(n_cpus, 1), n_cpu_cols), np.int64))

    return state
