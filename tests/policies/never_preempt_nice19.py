"""A planted bug for the invariant suite: EEVDF that never takes the CPU from a running
nice-19 task (neither when its slice ends nor at a wakeup). Once a nice-19 hog runs, the
tasks sharing its CPU starve: `schedreplay check` must find it (tests/test_testing_kit.py)."""

from policies import eevdf as EV
from policies.api import C_CURR, hook, nice_of

DESCRIPTION = "EEVDF with a planted bug: a running nice-19 task is never preempted"
RT = EV.RT
N_TASK_COLS, N_CPU_COLS, state = EV.N_TASK_COLS, EV.N_CPU_COLS, EV.state
PARAMS, pack = EV.PARAMS, EV.pack
init_task, enqueue, dequeue, pick, set_next, put_prev = EV.init_task, EV.enqueue, EV.dequeue, EV.pick, EV.set_next, EV.put_prev
tick, select_cpu, can_migrate = EV.tick, EV.select_cpu, EV.can_migrate


@hook
def update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now):
    r = EV.update_curr(TS, CS, PT, PC, PP, cpu, t, delta, now)
    return 0 if nice_of(TS, t) == 19 else r


@hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    curr = CS[cpu, C_CURR]
    if curr >= 0 and nice_of(TS, curr) == 19:
        return 0
    return EV.check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now)
