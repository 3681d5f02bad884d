"""The engine's parameters (every replay takes them, whatever the policy), and
``all_params``: the engine's and a policy's together."""

from __future__ import annotations

import re

import numpy as np

from policies import get_policy, policy_label
from policies._params import Param
from traces.errors import TraceError

ENGINE_PARAMS = (
    Param("hz", 250, "Hz", "eevdf.md §9, placement.md §9", "scheduler tick rate (CONFIG_HZ; the corpus kernel "
          "uses 250)", "int", lo=24, hi=10_000),
    Param("sleep", "duration", "", "README: How replay works", "external wakeups keep the sleep's length "
          "(duration) or its absolute time (absolute, for periodic timers)", "choice", ("duration", "absolute")),
    Param("rt_policy", "fifo", "", "rt.md §2", "policy of RT tasks (the trace cannot tell FIFO from RR)",
          "choice", ("fifo", "rr")),
    Param("smt_factor", 1024, "1/1024", "README: speed model", "speed of a task while its SMT sibling is busy "
          "(1024 = no slowdown)", "int", lo=1, hi=1024),
    Param("numa_factor", 1024, "1/1024", "README: speed model", "speed of a task off its home NUMA node",
          "int", lo=1, hi=1024),
    Param("cold_penalty_ns", 0, "ns", "README: speed model", "extra work after a migration across LLCs "
          "(cache refill)", "ns", lo=0, hi=10**9),
    Param("migration_cost_ns", 500_000, "ns", "placement.md §4.4", "a task that ran within this is cache-hot "
          "for balancing", "ns", lo=0, hi=10**9),
    Param("newidle_balance", True, "bool", "placement.md §5", "a CPU going idle pulls a waiting task", "bool"),
    Param("periodic_balance", True, "bool", "placement.md §4", "task-count balancing on the tick", "bool"),
    Param("WA_IDLE", True, "bool", "placement.md §2.1", "wake_affine prefers idle CPUs", "bool"),
    Param("WA_WEIGHT", True, "bool", "placement.md §2.1", "wake_affine compares loads", "bool"),
    Param("WA_BIAS", True, "bool", "placement.md §2.1", "wake_affine bias (imbalance_pct)", "bool"),
    Param("SIS_UTIL", True, "bool", "placement.md §2.3", "bound the idle-CPU scan by LLC utilisation", "bool"),
    Param("WAKE_WIDE", True, "bool", "placement.md §2", "wake_wide disables affine wakeups for 1:N wakers",
          "bool"),
    Param("RT_PUSH", True, "bool", "rt.md §6.4-6.5", "push/pull of waiting RT tasks", "bool"),
    Param("fair_server_runtime_ns", 50_000_000, "ns", "rt.md §7.2", "fair server runtime per period (0: off)",
          "ns", lo=0, hi=10**10),
    Param("fair_server_period_ns", 1_000_000_000, "ns", "rt.md §7.2", "fair server period", "ns", lo=1_000_000,
          hi=10**11),
    Param("imbalance_pct", 117, "%", "placement.md §1", "imbalance_pct of the LLC (MC) level", "int", lo=100,
          hi=400),
    Param("balance_interval_ms", 1, "ms/CPU", "placement.md §4.1", "periodic balance interval per CPU of the "
          "LLC span (x16 when busy in the kernel; the tick applies it)", "int", lo=1, hi=1000),
    Param("cache_nice_tries", 1, "count", "placement.md §4.4", "failed passes before a cache-hot task moves",
          "int", lo=0, hi=100),
    Param("infer_cpus", True, "bool", "README: Fidelity (where a task may run)", "on the recorded machine, leave "
          "out the CPUs the recording shows unavailable (no event in a trace of >= 1 s: offline or isolated)",
          "bool"),
    Param("infer_affinity", True, "bool", "README: Fidelity (where a task may run)", "on the recorded machine, "
          "keep each task to the CPUs the recording shows it allowed: a CPU it never used, beside which it waited "
          "longer than idle balancing allows, 3 times or more, is not in its cpuset", "bool"),
    Param("WA_SYNC", False, "bool", "placement.md §2.1", "wake_affine honours sync wakeups (inferred: the "
          "recording's wakee was enqueued on its waker's CPU); off by default: with the instantaneous-load "
          "balancer it trades as many figures better as worse (README Fidelity)", "bool"),
    Param("sync_wakeup", "mainline", "", "docs/engine-model.md §7.1", "where a sync wakeup goes (inferred: the "
          "recording's wakee was enqueued on its waker's CPU): mainline (wake_affine's choice, honoured with "
          "WA_SYNC, then the idle-sibling scan) or waker (the waker's CPU when it runs only the waker, as Android "
          "kernels' energy-aware placement does)", "choice", ("mainline", "waker")),
    Param("yields", True, "bool", "README: How replay works", "replay the sched_yield calls inferred from the "
          "recording (a task switched out runnable, nothing else arriving on its CPU, more often than ticks "
          "explain); off: those tasks run on", "bool"),
    Param("eas", "auto", "", "docs/engine-model.md §7.5", "energy-aware wakeup placement "
          "(find_energy_efficient_cpu) when the topology has an energy model and CPUs of different capacity: "
          "on, off, or auto (on unless the topology names a kernel before 5.0, which had none)", "choice",
          ("auto", "on", "off")),
    Param("asym_wakeup", "auto", "", "docs/engine-model.md §7.5", "wakeups on a machine whose CPUs differ "
          "in capacity: capacity (an idle CPU the task fits, from the whole machine: select_idle_capacity, "
          "Linux >= 5.7), llc (the capacity-blind LLC scan of older kernels), or auto (llc when the topology "
          "names a kernel before 5.7, else capacity)", "choice", ("auto", "capacity", "llc")),
    Param("newidle_avg_idle", "off", "", "docs/engine-model.md §9.3", "newidle balancing only on a CPU "
          "whose idle periods average at least migration_cost_ns, as Linux before 5.16 did: on, off, or auto "
          "(on when the machine's kernel is named and older than 5.16); off by default: on the one such trace "
          "of the corpus it moved the fidelity table both ways (README Fidelity)", "choice",
          ("off", "on", "auto")),
    Param("autogroup", "on", "", "docs/engine-model.md §13", "task groups: each session's tasks share a "
          "group whose weight is split over the CPUs by their load, kernel threads are in the root group, as "
          "Linux distributions run with autogroup (the sessions are inferred: README How replay works); off: "
          "one run queue per CPU", "choice", ("on", "off")),
    Param("wakeup_latency", "distribution", "", "README: Fidelity", "measured wakeup latencies (the -1 "
          "latency parameters): drawn per wakeup from each CPU's recorded distribution, or their median",
          "choice", ("distribution", "median")),
    Param("idle_wakeup_latency_ns", -1, "ns", "placement.md §9 (wakeup IPI latency)", "time from a wakeup onto "
          "an idle CPU to the switch (idle exit, IPI); -1: the median measured in the trace", "ns", lo=-1,
          hi=10**9),
    Param("preempt_latency_ns", -1, "ns", "rt.md §5, placement.md §9", "time from a wakeup preemption to the "
          "switch; -1: the median measured in the trace", "ns", lo=-1, hi=10**9),
)


def check_policy_params(mod, name: str) -> None:
    """A policy's parameters may not take the engine's names (``--param`` would be ambiguous)."""
    clash = sorted({p.name for p in mod.PARAMS} & {p.name for p in ENGINE_PARAMS})
    if clash:
        raise TraceError(f"policy {name}: PARAMS names {', '.join(clash)}, which the engine's parameters use "
                         "(replay --list-params lists them); rename it")


def policy_module(policy):
    """The policy module for ``policy`` (a name, path, module name or module), checked
    against the protocol and the engine's parameter names."""
    mod = get_policy(policy)
    check_policy_params(mod, policy_label(policy))
    return mod


def all_params(policy) -> tuple[Param, ...]:
    """Every parameter a replay with ``policy`` takes: the engine's and the policy's."""
    return ENGINE_PARAMS + policy_module(policy).PARAMS


def kernel_version(kernel: str) -> tuple[int, int] | None:
    """(major, minor) of a kernel release ("4.19.0-07801-gf317706" -> (4, 19)); None when
    it is not named."""
    m = re.match(r"(\d+)\.(\d+)", kernel or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def kernel_before(kernel: str, version: tuple[int, int]) -> bool:
    """Whether a kernel release is older than ``version``; False when it is not named (an
    unnamed kernel gets today's rules)."""
    v = kernel_version(kernel)
    return v is not None and v < version


def asym_rules(ev: dict, topo) -> tuple[int, bool]:
    """(E_ASYM, EAS on) for a machine (engine-model.md §7.5): 0 when every CPU has one
    capacity; else 1 for capacity-aware wakeups or 2 for the LLC scan (``asym_wakeup``; auto:
    by the kernel the topology names), and energy-aware placement when the topology has an
    energy model and ``eas`` allows it (auto: unless the named kernel predates 5.0)."""
    if len(np.unique(topo.capacity)) <= 1:
        return 0, False
    mode = ev["asym_wakeup"]
    if mode == "auto":
        mode = "llc" if kernel_before(topo.kernel, (5, 7)) else "capacity"
    eas = ev["eas"]
    if eas == "auto":
        eas = "off" if kernel_before(topo.kernel, (5, 0)) else "on"
    return (1 if mode == "capacity" else 2), bool(topo.energy) and eas == "on"
