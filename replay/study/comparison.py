"""Compare the recorded schedule with counterfactual replays: several policies, on
several topologies, with the replay's own validation error beside every figure.

>>> from replay import compare
>>> c = compare("trace.dat", policies=("observed", "cfs", "eevdf"), topologies=(None, "2x8x2"))
>>> c.to_dict()          # what `compare --json` prints
>>> c.runs[1].tasks      # the per-task table of the first replay

The trace is prepared once (``replay.prepare``); the validation replay (the recorded
policy on the recorded machine, default parameters) is the comparison's own run of it
when the comparison has one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies import get_policy
from traces.errors import TraceError

from ..model.overrides import parse_all, parse_focus
from ..model.prepared import prepare
from ..model.schedule import CAUSES
from ..sim import all_params
from .runs import OBSERVED, Run, check_seeds, checked_overrides, observed_run, params_for, replay_seeds
from .validation import error_keys, recorded_policy, validate


@dataclass
class Comparison:
    """The runs of a comparison (the recording first, then each replay) and the validation
    of the replay (replay.validate's policy, topology, error figures, verdict and its
    reasons, and its warnings, e.g. which policy it assumed for a trace that does not
    name its kernel: the error bar of every counterfactual figure), all plain data.
    ``overrides``: the ``--set`` overrides given, each with how many tasks it matched
    (replay.model.overrides.check: set, tasks, comms, warnings); ``focus``: the
    ``--focus`` selectors (each run's metrics then hold the selected tasks' figures under
    "focus", and the validation their own errors); ``by``: the breakdown each run's
    metrics hold ("tasks", "processes", "cpus" or "classes")."""

    trace: str
    label: str
    runs: list[Run]
    validation: dict | None
    overrides: list[dict] = field(default_factory=list)
    focus: list[str] | None = None
    by: str | None = None
    #: where the application spans came from (trace markers, --spans logs); () none
    spans: tuple = ()
    #: causes of wait the recording cannot measure (no wakeup events, say): its overall
    #: wait figures count fewer causes than a replay's, so no change is taken against them
    causes_unrecorded: tuple = ()

    def to_dict(self) -> dict:
        """What ``compare --json`` prints: trace, label, overrides, focus, by, spans (their
        sources), causes_unrecorded, runs (Run.to_dict each), validation."""
        return {"trace": self.trace, "label": self.label, "overrides": self.overrides, "focus": self.focus,
                "by": self.by, "spans": list(self.spans), "causes_unrecorded": list(self.causes_unrecorded),
                "runs": [r.to_dict() for r in self.runs], "validation": self.validation}

    @property
    def observed(self) -> Run | None:
        return next((r for r in self.runs if r.observed), None)


def check_params(policies, params: dict | None) -> None:
    """Every parameter must belong to the engine or to at least one of the policies."""
    if not params:
        return
    known = set()
    for p in policies:
        if p != OBSERVED:
            known |= {q.name for q in all_params(p)}
    bad = sorted(set(params) - known)
    if bad:
        raise TraceError(f"unknown parameter(s) {', '.join(bad)} for policies {', '.join(policies)}; "
                         f"valid: {', '.join(sorted(known))}")


def compare(source, policies=(OBSERVED, "cfs", "eevdf", "infinity"), topologies=(None,),
            params: dict | None = None, overrides=None, seed: int = 0, validation: bool = True,
            keep_schedules: bool = False, focus=None, by: str | None = None, seeds: int = 3) -> Comparison:
    """Measure the recorded schedule and replays under ``policies`` on ``topologies``
    (None = the trace's own) of ``source`` (a prepared trace, or anything ``prepare``
    takes). ``validation`` adds the recorded policy replayed on the recorded topology
    against the recording (replay.validate), the error bar of every counterfactual figure.
    ``keep_schedules`` keeps each run's schedule (``Run.schedule``, e.g. for a Perfetto
    export). ``overrides`` (``--set``) are checked against the trace and every machine
    before anything runs. ``focus`` (``--focus`` selectors) adds the selected tasks' own
    figures to every run and their own errors to the validation; ``by`` a breakdown per
    task, process, CPU or class to every run's metrics.

    Each replay runs with ``seeds`` seeds (seed, seed + 1, ...; ``replay_seeds``) and every
    figure of it is the median over them, as each error of the validation is over the same
    seeds (the validation reuses the recorded policy's runs): a replay draws its latencies
    from the recording's distributions, and one draw's luck can move a tail figure by more
    than the replay's own error. Each replay's ``seed_range`` gives the spread."""
    check_seeds(seeds)
    policies = list(policies)
    for p in policies:
        if p != OBSERVED:
            get_policy(p)
    check_params(policies, params)
    if by is not None and by not in BREAKDOWNS:
        raise TraceError(f"--by {by!r}: expected task, process, cpu or class")
    if overrides and isinstance(overrides[0], str):
        overrides = parse_all(overrides)
    focus = parse_focus(focus) or None
    prepared = prepare(source)
    topos = [prepared.topology(t) for t in (topologies or (None,))]
    summary = _override_summary(prepared, overrides, topos) if overrides else []
    runs: list[Run] = []
    for topo in topos:
        for p in policies:
            if p == OBSERVED:
                if not any(r.observed for r in runs):
                    runs.append(observed_run(prepared, keep_schedule=keep_schedules, by=by, focus=focus))
                continue
            runs.append(replay_seeds(prepared, p, topo, params_for(p, params), seed, seeds, overrides,
                                     keep_schedules, by=by, focus=focus))
    out = None
    if validation:
        vpolicy, _ = recorded_policy(prepared)
        same = next((r for r, t in zip(_replays(runs), _replay_topologies(topos, policies))
                     if r.policy == vpolicy and t is prepared.recorded and not overrides
                     and not params_for(vpolicy, params) and r.seed == seed), None)
        v = validate(prepared, seed=seed, replayed=same, focus=focus, seeds=max(seeds, 3))
        out = {**error_keys(v), "seed_range": v["seed_range"], "verdict_reasons": v["verdict_reasons"],
               "warnings": [w for w in v["warnings"] if w not in (same.warnings if same else [])]}
        if focus:
            out["focus_verdict_reasons"] = v["focus_verdict_reasons"]
    return Comparison(prepared.path, prepared.label, runs, out, summary,
                      [f.text for f in focus] if focus else None, by, prepared.span_sources,
                      tuple(c for c in CAUSES if c not in prepared.measured_causes))


#: --by value -> the key of the breakdown in the metrics
BREAKDOWNS = {"task": "tasks", "process": "processes", "cpu": "cpus", "class": "classes"}


def _override_summary(prepared, overrides, topos) -> list[dict]:
    """Every override checked on every machine of the comparison before anything runs
    (errors raise here), and what each matched, with the warnings of every machine."""
    summary = None
    for topo in topos:
        checked = checked_overrides(prepared, overrides, topo)
        if summary is None:
            summary = checked.summary
            continue
        for s, c in zip(summary, checked.summary):
            s["warnings"] = list(dict.fromkeys(s["warnings"] + c["warnings"]))
    return summary or []


def _replays(runs: list[Run]) -> list[Run]:
    return [r for r in runs if not r.observed]


def _replay_topologies(topos, policies) -> list:
    """The topology of each replay run, in run order."""
    return [t for t in topos for p in policies if p != OBSERVED]
