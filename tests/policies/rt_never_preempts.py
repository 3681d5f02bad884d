"""A planted bug for the invariant suite: EEVDF with an RT class (lazy_rt.py, beside it)
whose woken tasks never preempt a running RT task, however more urgent they are.
`schedreplay check` must find it (rt_strict; tests/test_testing_kit.py)."""

import lazy_rt as RT  # noqa: N812 (a policy's RT class is its RT)

from policies import eevdf as EV

DESCRIPTION = "EEVDF with a planted bug in its RT class: a woken RT task never preempts"
N_TASK_COLS, N_CPU_COLS, state, pack = EV.N_TASK_COLS, EV.N_CPU_COLS, EV.state, EV.pack
PARAMS = EV.OWN_PARAMS + RT.PARAMS
init_task, enqueue, dequeue, pick, set_next, put_prev = EV.init_task, EV.enqueue, EV.dequeue, EV.pick, EV.set_next, EV.put_prev
update_curr, check_preempt, tick, select_cpu, can_migrate = (EV.update_curr, EV.check_preempt, EV.tick, EV.select_cpu,
                                                             EV.can_migrate)
