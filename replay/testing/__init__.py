"""Fairness properties you can test a policy with: hypothesis strategies for workloads,
topologies and parameters, invariant checks that raise an AssertionError with a readable
counterexample, and the suite ``schedreplay check`` runs (docs/testing-a-policy.md).

>>> from hypothesis import given
>>> from replay import testing as rt
>>> @given(rt.cases(rt.cpu_bound, rt.topologies(max_cpus=4)))
... def test_my_policy_shares_by_weight(case):
...     workload, topology, params = case
...     run = rt.replay_case(workload, topology, "./my_policy.py", params)
...     rt.check_weighted_share(run)

Strategies (each draws a ``Workload`` for ``n_cpus`` CPUs and shrinks toward a small one):
``mixed`` (everything: nice and RT mixes, class changes, wakeups, forks, exits, pinning,
affinity sets),
``cpu_bound``, ``interactive``, ``fork_exit``, ``wakeup_chains``, ``rt_load``;
``topologies`` (SMT, LLCs, NUMA nodes, big and little cores); ``engine_params``;
``policy_params`` (a policy's PARAMS, from their ranges); ``cases`` (all three together);
``workloads`` (a workload with a SOCKETSxCORESxTHREADS spec). ``make_workload`` builds one
by hand.

Checks (``check_*``, ``INVARIANTS``, ``check_all``) take a ``Run`` (``replay_case``).
The suite: ``SUITE``, ``check_policy``.
"""

from .invariants import (INVARIANTS, InvariantViolation, Run, check_affinity, check_all, check_causality, check_demand,
                         check_determinism, check_fair_starvation, check_one_cpu_per_task, check_one_task_per_cpu,
                         check_rt_strict, check_weighted_share, check_work_conservation, own_bound_ns,
                         replay_case, rt_wait_overlaps, schedule_excerpt, work_bound_ns, workload_table, workload_text)
from .suite import DEFAULT_EXAMPLES, SUITE, Invariant, Outcome, Report, check_policy, run_invariant
from .strategies import (FAIR_PRIOS, NICES, RT_PRIOS, SPECS, cases, cpu_bound, engine_params, fork_exit, interactive,
                        make_workload, mixed, n_cpus_of, pin_rt_tasks, policy_params, rt_load, topologies,
                        wakeup_chains, workloads)

__all__ = ["INVARIANTS", "InvariantViolation", "Run", "check_affinity", "check_all", "check_causality", "check_demand",
           "check_determinism", "check_fair_starvation", "check_one_cpu_per_task", "check_one_task_per_cpu",
           "check_rt_strict", "check_weighted_share", "check_work_conservation", "own_bound_ns", "replay_case", "rt_wait_overlaps",
           "schedule_excerpt", "work_bound_ns", "workload_table", "workload_text", "DEFAULT_EXAMPLES", "SUITE", "Invariant",
           "Outcome", "Report", "check_policy", "run_invariant", "FAIR_PRIOS", "NICES", "RT_PRIOS", "SPECS",
           "cases", "cpu_bound", "engine_params", "fork_exit", "interactive", "make_workload", "mixed", "n_cpus_of",
           "pin_rt_tasks", "policy_params", "rt_load", "topologies", "wakeup_chains", "workloads"]
