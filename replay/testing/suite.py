"""The invariant suite: every invariant of replay.testing.invariants, each on the workloads
that exercise it, run against one policy with hypothesis; a violation comes back shrunk
(hypothesis's smallest failing example), as a counterexample. ``schedreplay check`` is this.

>>> from replay.testing import check_policy
>>> report = check_policy("./my_policy.py", params={"slice_ns": "2ms"}, examples=50)
>>> report.passed, [o.violation for o in report.outcomes if not o.passed]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from traces.errors import TraceError

from . import strategies as W
from .invariants import INVARIANTS, InvariantViolation, Run, replay_case

MS = 1_000_000

#: examples per invariant when none are asked for: enough to find a plain mistake in
#: seconds (each planted bug of tests/policies with every seed tried, 0-15; 20 missed the
#: nice-19 one with 2 seeds of 16); more (--examples 500) for a release or a CI job
DEFAULT_EXAMPLES = 50


@dataclass(frozen=True)
class Invariant:
    """One invariant of the suite: its check and the cases (workload, topology, engine
    parameters) it is tried on."""

    name: str
    title: str
    check: Callable[[Run], None]
    cases: Callable[[], st.SearchStrategy]


def _hz():
    return st.sampled_from([{}, {"hz": 1000}, {"hz": 100}])


def _mixed(n_cpus):
    return W.mixed(n_cpus, affinity=True)


def _general():
    """Everything mixed (affinity sets too), on any machine, with the engine's switches
    (speed model off)."""
    kinds = st.sampled_from([_mixed, W.interactive, W.fork_exit, W.wakeup_chains])
    return kinds.flatmap(lambda kind: W.cases(kind, W.topologies(), W.engine_params(speed=False)))


def _balanced():
    """Fair and RT work on any machine, with the balancer on (its switches at their defaults)."""
    kinds = st.sampled_from([_mixed, W.interactive, W.fork_exit, W.wakeup_chains])
    return kinds.flatmap(lambda kind: W.cases(kind, W.topologies(), _hz()))


def _shares():
    return W.cases(W.cpu_bound, W.topologies(max_cpus=4), _hz())


def _rt():
    """RT, stop and fair work, RT-heavy, on machines of up to 2 CPUs; and RT load on one CPU."""
    return st.one_of(W.cases(lambda n: W.mixed(n, max_tasks=6, rt_odds=2), W.topologies(max_cpus=2), _rt_params()),
                     W.cases(W.rt_load, W.topologies(max_cpus=2), _rt_params()))


def _rt_params():
    return st.tuples(_hz(), st.sampled_from([{}, {"rt_policy": "rr", "sched_rr_timeslice_ms": 4}])).map(
        lambda ab: {**ab[0], **ab[1]})


def _starvation():
    server = st.sampled_from([(10 * MS, MS), (20 * MS, 5 * MS), (50 * MS, 5 * MS)]).map(
        lambda pr: {"fair_server_period_ns": pr[0], "fair_server_runtime_ns": pr[1]})
    params = st.tuples(_hz(), server).map(lambda ab: {**ab[0], **ab[1]})
    return W.cases(W.rt_load, W.topologies(max_cpus=2, asymmetric=False), params)


SUITE = tuple(Invariant(name, INVARIANTS[name][1], INVARIANTS[name][0], cases) for name, cases in (
    ("demand", _general),
    ("one_cpu_per_task", _general),
    ("one_task_per_cpu", _general),
    ("affinity", _general),
    ("causality", _general),
    ("work_conservation", _balanced),
    ("weighted_share", _shares),
    ("rt_strict", _rt),
    ("fair_starvation", _starvation),
    ("determinism", _general),
))


@dataclass
class Outcome:
    """The result of one invariant: ``passed``, the examples tried, and when it failed the
    shrunk ``violation`` (an InvariantViolation) or ``error`` (the replay itself failed:
    the message, with ``case`` the workload that made it fail)."""

    name: str
    title: str
    passed: bool
    examples: int
    seconds: float
    violation: InvariantViolation | None = None
    error: str | None = None
    case: Run | None = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "title": self.title, "passed": self.passed, "examples": self.examples,
             "seconds": round(self.seconds, 3)}
        if self.violation is not None:
            d["violation"] = self.violation.to_dict()
        if self.error is not None:
            d["error"] = self.error
        return d


@dataclass
class Report:
    """What ``check_policy`` found: one Outcome per invariant."""

    policy: str
    params: dict
    vary: tuple
    examples: int
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    def to_dict(self) -> dict:
        return {"policy": self.policy, "params": self.params, "vary": list(self.vary), "examples": self.examples,
                "seed": self.seed, "passed": self.passed, "invariants": [o.to_dict() for o in self.outcomes]}


def _case_run(case, policy, params) -> Run:
    wl, topo, eng = case
    return Run(wl, topo, policy, {**eng, **params}, 0, None)  # the inputs, for a replay that failed


def run_invariant(inv: Invariant, policy, params: dict | None = None, vary=(), examples: int = DEFAULT_EXAMPLES,
                  seed: int = 0) -> Outcome:
    """Try one invariant on ``examples`` cases drawn from its strategy (and, for the
    parameters named in ``vary``, values from the policy's PARAMS ranges); on a failure,
    hypothesis shrinks the case and the Outcome carries the smallest."""
    params = dict(params or {})
    pstrat = W.policy_params(policy, names=list(vary)) if vary else st.just({})
    last: dict = {}
    count = [0]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False, report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
              phases=(Phase.generate, Phase.shrink))
    @hypothesis_seed(seed)
    @given(case=inv.cases(), drawn=pstrat)
    def prop(case, drawn):
        count[0] += 1
        last["case"] = (case, {**drawn, **params})
        run = replay_case(case[0], case[1], policy, {**case[2], **drawn, **params}, seed=0)
        inv.check(run)

    t0 = time.perf_counter()
    try:
        prop()
    except InvariantViolation as v:
        return Outcome(inv.name, inv.title, False, count[0], time.perf_counter() - t0, violation=v)
    except Unsatisfiable:
        return Outcome(inv.name, inv.title, False, count[0], time.perf_counter() - t0,
                       error="no case could be drawn (the policy refuses every value of the parameters to vary)")
    except Exception as e:  # noqa: BLE001 - the replay failed: a policy bug or a refused parameter
        case, p = last.get("case", (None, {}))
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return Outcome(inv.name, inv.title, False, count[0], time.perf_counter() - t0,
                       error=f"the replay failed: {first}", case=_case_run(case, policy, p) if case else None)
    return Outcome(inv.name, inv.title, True, count[0], time.perf_counter() - t0)


def check_policy(policy, params: dict | None = None, examples: int = DEFAULT_EXAMPLES, seed: int = 0,
                 only=None, vary=(), progress: Callable[[Outcome], None] | None = None) -> Report:
    """Run the invariant suite (``SUITE``; ``only``: some of its names) against ``policy`` (a
    name, a path, a module name or a module) with ``params`` fixed and the parameters named
    in ``vary`` drawn from their ranges; ``examples`` cases per invariant, drawn from
    ``seed``. ``progress`` is called with each Outcome as it comes."""
    from policies import get_policy, policy_label

    from ..sim.params import check_policy_params

    mod = get_policy(policy)
    check_policy_params(mod, policy_label(policy))
    names = {p.name for p in mod.PARAMS}
    from ..sim.params import ENGINE_PARAMS

    known = names | {p.name for p in ENGINE_PARAMS}
    unknown = sorted(set(params or {}) - known) + sorted(set(vary) - names)
    if unknown:
        raise TraceError(f"unknown parameter(s) {', '.join(unknown)} for policy {policy_label(policy)}; "
                         f"`schedreplay replay --policy {policy_label(policy)} --list-params` lists them")
    suite = [inv for inv in SUITE if only is None or inv.name in only]
    missing = set(only or ()) - {inv.name for inv in SUITE}
    if missing:
        raise TraceError(f"unknown invariant(s) {', '.join(sorted(missing))}; the suite has "
                         f"{', '.join(inv.name for inv in SUITE)}")
    report = Report(policy_label(policy), dict(params or {}), tuple(vary), examples, seed)
    for inv in suite:
        o = run_invariant(inv, policy, params, vary, examples, seed)
        report.outcomes.append(o)
        if progress is not None:
            progress(o)
    return report
