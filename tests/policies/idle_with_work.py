"""A planted bug for the invariant suite: EEVDF whose pick on a CPU that was idle returns
nothing when the task it would choose has a positive nice level, so such a task waking
onto an idle CPU waits there while the CPU idles (until another task comes by).
`schedreplay check` must find it (work_conservation; tests/test_testing_kit.py)."""

from policies import eevdf as EV
from policies.api import C_CURR, hook, nice_of

DESCRIPTION = "EEVDF with a planted bug: an idle CPU does not pick a task of positive nice"
RT = EV.RT
N_TASK_COLS, N_CPU_COLS, state = EV.N_TASK_COLS, EV.N_CPU_COLS, EV.state
PARAMS, pack = EV.PARAMS, EV.pack
init_task, enqueue, dequeue, set_next, put_prev = EV.init_task, EV.enqueue, EV.dequeue, EV.set_next, EV.put_prev
update_curr, check_preempt, tick, select_cpu, can_migrate = (EV.update_curr, EV.check_preempt, EV.tick,
                                                             EV.select_cpu, EV.can_migrate)


@hook
def pick(TS, CS, PT, PC, PP, cpu, t, arg, now):
    best = EV.pick(TS, CS, PT, PC, PP, cpu, t, arg, now)
    if best >= 0 and CS[cpu, C_CURR] < 0 and nice_of(TS, best) > 0:
        return -1
    return best
