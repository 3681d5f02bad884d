"""Task weights by nice level (kernel/sched/core.c: sched_prio_to_weight,
sched_prio_to_wmult; values from specs/cfs.md §1).

``WEIGHT[nice + 20]`` is the load weight (nice 0 = 1024); ``WMULT[nice + 20]``
is its inverse scaled by 2^32, with the kernel's own rounding (some entries
rounded, some truncated), for bit-exact divisions.
"""

import numpy as np

WEIGHT = np.array([
    88761, 71755, 56483, 46273, 36291,
    29154, 23254, 18705, 14949, 11916,
    9548, 7620, 6100, 4904, 3906,
    3121, 2501, 1991, 1586, 1277,
    1024, 820, 655, 526, 423,
    335, 272, 215, 172, 137,
    110, 87, 70, 56, 45,
    36, 29, 23, 18, 15,
], dtype=np.int64)

WMULT = np.array([
    48388, 59856, 76040, 92818, 118348,
    147320, 184698, 229616, 287308, 360437,
    449829, 563644, 704093, 875809, 1099582,
    1376151, 1717300, 2157191, 2708050, 3363326,
    4194304, 5237765, 6557202, 8165337, 10153587,
    12820798, 15790321, 19976592, 24970740, 31350126,
    39045157, 49367440, 61356676, 76695844, 95443717,
    119304647, 148102320, 186737708, 238609294, 286331153,
], dtype=np.int64)

#: load weight of a nice-0 task (the kernel's scale_load_down(NICE_0_LOAD)); calc_delta_fair's unit
NICE_0_WEIGHT = 1024
WEIGHT_IDLEPRIO = 3          # SCHED_IDLE (sched.h)
WMULT_IDLEPRIO = 1431655765


def weight_of_nice(nice) -> np.ndarray:
    """Weights for nice values (array or scalar), clipped to [-20, 19]."""
    return WEIGHT[np.clip(np.asarray(nice, np.int64), -20, 19) + 20]
