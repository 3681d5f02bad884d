"""The stock RT class with a planted bug: a woken RT task never preempts the running one
(its check_preempt always says no). Used by rt_never_preempts.py."""

from policies import rt as R
from policies.api import hook

DESCRIPTION = "stock RT class whose wakeups never preempt"
N_TASK_COLS, N_CPU_COLS, state, PARAMS, pack = R.N_TASK_COLS, R.N_CPU_COLS, R.state, R.PARAMS, R.pack
init_task, enqueue, dequeue, pick, set_next, put_prev = R.init_task, R.enqueue, R.dequeue, R.pick, R.set_next, R.put_prev
update_curr, tick, select_cpu, can_migrate = R.update_curr, R.tick, R.select_cpu, R.can_migrate


@hook
def check_preempt(TS, CS, PT, PC, PP, cpu, p, arg, now):
    return 0
