"""How far a replay is from what was recorded: replay a trace under the policy that
recorded it, on the recorded topology, and compare the metrics, figure by figure, with a
one-word verdict.

Errors are relative, (replayed - observed) / observed, for amounts (waits, counts,
CPU time), and absolute, replayed - observed, for figures that are already fractions
(Jain's index, the share error in CPUs). ``*_ks`` is the two-sample Kolmogorov-Smirnov
distance between the recorded and the replayed waits (the largest gap between their
CDFs, 0..1; the same on log wait, as the log is monotonic).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..metrics import summarize
from ..metrics.catalog import SPAN_VALIDATED, span_error_key
from ..model.overrides import cpu_text
from ..model.prepared import PreparedTrace, prepare
from ..model.schedule import CAUSES
from ..model.workload import ACT_SYNC_WAKE, ACT_YIELD
from ..sim.params import kernel_version
from .runs import Run, check_seeds, median_of, observed_run, replay_run

#: tasks with less recorded CPU time than this are left out of the per-task CPU-time error
CPU_TIME_MIN_NS = 1_000_000

#: the errors validate has always reported (kept for sweeps' columns and scripts)
ERROR_KEYS = ("wait_p50_rel_err", "wait_p99_rel_err", "cpu_time_rel_err_mean", "cpu_time_rel_err_max",
              "switches_rel_err", "migrations_rel_err")
_QS = ("p50", "p90", "p99")

#: Verdict thresholds by error key: (good within, rough within); beyond "rough" a figure
#: is unreliable. Relative for ``*_rel_err``, absolute for ``*_abs_err``, a CDF distance
#: for ``*_ks``. The targets of README "Fidelity" are the "good" column.
THRESHOLDS = {
    "wait": (0.10, 0.25),        # wait percentiles and counts, overall and per cause (relative)
    "ks": (0.10, 0.20),          # KS distance of the wait distributions
    "cpu_time": (0.02, 0.05),    # mean |per-task CPU-time error|
    "jain": (0.05, 0.10),        # Jain's index (absolute)
    "share_error": (0.05, 0.10),  # weighted-share error (absolute, CPUs)
    "switches": (0.10, 0.25),
    "migrations": (0.50, 1.00),
    "max_wait": (0.25, 1.00),    # one wait: noisy by nature
    "span": (0.10, 0.25),        # application span latencies (relative)
}
_EVENTS_OF = {"wakeup": "sched_waking/sched_wakeup", "new": "sched_wakeup_new", "preempt": "sched_switch"}
#: A wait statistic of fewer recorded waits than this is too noisy to judge the replay by.
MIN_WAITS = 100
VERDICTS = ("good", "rough", "unreliable")


def threshold_of(key: str) -> tuple[float, float] | None:
    """The (good, rough) thresholds of an error key, None for keys no verdict reads. The
    focused tasks' errors (``focus_*``) take those of the same figure over all tasks (their
    CPU share those of CPU time)."""
    key = key.removeprefix("focus_")
    if key.startswith("span.") and key.endswith("_rel_err"):
        return THRESHOLDS["span"]
    if key.startswith("cpu_share"):
        return THRESHOLDS["cpu_time"]
    if key.endswith("_ks"):
        return THRESHOLDS["ks"]
    if key.startswith("wait_") and key.endswith("_rel_err"):
        return THRESHOLDS["wait"]
    for prefix in ("cpu_time", "jain", "share_error", "switches", "migrations", "max_wait"):
        if key.startswith(prefix):
            return THRESHOLDS[prefix]
    return None


def figure_verdict(key: str, err) -> str | None:
    """good / rough / unreliable for one error value (None when not judged)."""
    th = threshold_of(key)
    if err is None or th is None or (isinstance(err, float) and np.isnan(err)):
        return None
    e = abs(err)
    return "good" if e <= th[0] else "rough" if e <= th[1] else "unreliable"


def recorded_policy(prepared: PreparedTrace) -> tuple[str, str | None]:
    """The policy of the kernel that recorded the trace: eevdf for Linux >= 6.6, cfs
    before; (policy, warning) — eevdf with a warning when the version is unknown."""
    version = kernel_version(prepared.kernel)
    if version is None:
        return "eevdf", ("the trace does not record the kernel version; assuming EEVDF (Linux >= 6.6); "
                         "give --policy if it was recorded on an older kernel")
    return ("eevdf" if version >= (6, 6) else "cfs"), None


def _rel(a, b):
    """(replayed - observed) / observed; None when observed is 0 or either is missing."""
    if a is None or b is None or b == 0:
        return None
    return (a - b) / b


def _abs(a, b):
    if a is None or b is None:
        return None
    return a - b


def ks_distance(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sample Kolmogorov-Smirnov statistic: max over x of |F_a(x) - F_b(x)| (None when
    either sample is empty)."""
    if len(a) == 0 or len(b) == 0:
        return None
    a, b = np.sort(np.asarray(a)), np.sort(np.asarray(b))
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / len(a)
    fb = np.searchsorted(b, x, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def cpu_time_errors(observed: pl.DataFrame, replayed: pl.DataFrame) -> pl.DataFrame:
    """From two per-task tables (``metrics.task_table``): per task with at least 1 ms of
    recorded CPU time, tid, observed_ns, replayed_ns, rel_err."""
    o = observed.select("tid", observed_ns="cpu_time_ns").filter(pl.col("observed_ns") >= CPU_TIME_MIN_NS)
    r = replayed.select("tid", replayed_ns="cpu_time_ns")
    j = o.join(r, on="tid", how="left").with_columns(pl.col("replayed_ns").fill_null(0))
    return j.with_columns(rel_err=(pl.col("replayed_ns") - pl.col("observed_ns")) / pl.col("observed_ns"))


def compared_waits(rep: Run, measured: tuple) -> tuple[np.ndarray, dict]:
    """The replay's waits of the causes the recording measures (``measured``), and their
    summary (count, p50, ..., max): what the overall wait errors compare. A trace with no
    wakeup events cannot tell a wakeup wait from none, so the replay's wakeup waits are left
    out against it."""
    keep = np.isin(rep.wait_causes, [CAUSES[c] for c in measured])
    if keep.all():
        return rep.waits_ns, rep.metrics["wait_ns"]
    waits = rep.waits_ns[keep]
    return waits, summarize(waits)


def _wait_errors(obs: Run, rep: Run, measured: tuple) -> dict:
    """Wait errors overall and per cause: count, p50/p90/p99 (relative), KS distance. Only
    the causes the recording can measure (``measured``) are compared: the replay's waits of
    other causes are left out of the overall figures, and their own figures are None."""
    mo, mr = obs.metrics, rep.metrics
    rep_waits, overall = compared_waits(rep, measured)
    out = {"wait_count_rel_err": _rel(overall["count"], mo["wait_ns"]["count"]),
           # the longest wait, too, of the waits compared (the fairness figures' max_wait_ns
           # holds every cause's)
           "max_wait_rel_err": _rel(overall["max"], mo["fairness"]["max_wait_ns"])}
    for q in _QS:
        out[f"wait_{q}_rel_err"] = _rel(overall[q], mo["wait_ns"][q]) if overall["count"] else None
    out["wait_ks"] = ks_distance(obs.waits_ns, rep_waits)
    for name, code in CAUSES.items():
        if name not in measured:
            out.update({f"wait_{name}_{k}": None for k in ("count_rel_err", "p50_rel_err", "p90_rel_err",
                                                            "p99_rel_err", "ks")})
            continue
        o, r = mo["wait_ns_by_cause"][name], mr["wait_ns_by_cause"][name]
        out[f"wait_{name}_count_rel_err"] = _rel(r["count"], o["count"])
        for q in _QS:
            out[f"wait_{name}_{q}_rel_err"] = _rel(r[q], o[q]) if o["count"] and r["count"] else None
        out[f"wait_{name}_ks"] = ks_distance(obs.waits_ns[obs.wait_causes == code],
                                             rep.waits_ns[rep.wait_causes == code])
    return out


def _fairness_errors(mo: dict, mr: dict) -> dict:
    fo, fr = mo["fairness"], mr["fairness"]
    by_nice = {k: _abs(fr["jain_by_nice"].get(k), v) for k, v in fo["jain_by_nice"].items()
               if fr["jain_by_nice"].get(k) is not None and v is not None}
    return {"jain_abs_err": _abs(fr["jain"], fo["jain"]), "jain_by_nice_abs_err": by_nice,
            "share_error_abs_err": _abs(fr["share_error"], fo["share_error"])}


def _judged(v: dict, mo: dict) -> list[tuple[str, str, float]]:
    """(label, error key, value) of every figure the verdict reads: overall wait p50, p99
    and count, and each cause's (when it has at least MIN_WAITS recorded waits), per-task
    CPU time, Jain's index, migrations."""
    out = []
    if mo["wait_ns"]["count"] >= MIN_WAITS:
        out += [("wait p50", "wait_p50_rel_err"), ("wait p99", "wait_p99_rel_err"),
                ("wait count", "wait_count_rel_err")]
    for name in CAUSES:
        if mo["wait_ns_by_cause"][name]["count"] >= MIN_WAITS:
            out += [(f"{name} wait p50", f"wait_{name}_p50_rel_err"), (f"{name} wait p99", f"wait_{name}_p99_rel_err"),
                    (f"{name} waits", f"wait_{name}_count_rel_err")]
    out += [("per-task CPU time", "cpu_time_rel_err_mean"), ("Jain", "jain_abs_err"),
            ("migrations", "migrations_rel_err")]
    for name in span_names(mo, SPAN_NAMES_JUDGED):
        if mo["span"][name]["count"] >= MIN_WAITS:
            out += [(f"span {name} p50", span_error_key(name, "p50")), (f"span {name} p99", span_error_key(name, "p99"))]
    return [(label, key, v[key]) for label, key in out if v.get(key) is not None]


def verdict(v: dict, observed_metrics: dict, judged: list | None = None) -> tuple[str, list[str]]:
    """The worst figure verdict over the judged figures (``judged``: (label, error key,
    value); default those of the whole trace, :func:`_judged`), and a reason for each figure
    that is not good ("unreliable" with a reason when nothing could be judged)."""
    judged = _judged(v, observed_metrics) if judged is None else judged
    if not judged:
        return "unreliable", ["nothing to judge the replay by (no waits, no CPU time)"]
    worst, reasons = "good", []
    for label, key, err in judged:
        fv = figure_verdict(key, err)
        if fv is None or fv == "good":
            continue
        good, rough = threshold_of(key)
        pct = key.endswith("_rel_err") or key.startswith("cpu_time")
        shown = f"{err:+.1%}" if pct else f"{err:+.3f}"
        lim = (f"good within ±{good:.0%}, rough within ±{rough:.0%}" if pct
               else f"good within ±{good:g}, rough within ±{rough:g}")
        reasons.append(f"{label} {shown} ({lim})")
        if VERDICTS.index(fv) > VERDICTS.index(worst):
            worst = fv
    if observed_metrics["wait_ns"]["count"] < MIN_WAITS:
        reasons.append(f"only {observed_metrics['wait_ns']['count']} recorded waits: wait percentiles not judged")
        if worst == "good":
            worst = "rough"
    return worst, reasons


def _errors(p: PreparedTrace, obs: Run, rep: Run) -> dict:
    """Every error figure of one replay against the recording (numbers, and the fairness
    errors by nice as a dict)."""
    mo, mr = obs.metrics, rep.metrics
    cpu = cpu_time_errors(obs.tasks, rep.tasks)
    abs_err = cpu["rel_err"].abs()
    return {**_wait_errors(obs, rep, p.measured_causes),
            "cpu_time_rel_err_mean": float(abs_err.mean()) if cpu.height else None,
            "cpu_time_rel_err_max": float(abs_err.max()) if cpu.height else None,
            "cpu_time_tasks": int(cpu.height),
            **_fairness_errors(mo, mr),
            "switches_rel_err": _rel(mr["context_switches"], mo["context_switches"]),
            "switches_abs_err": mr["context_switches"] - mo["context_switches"],
            "migrations_rel_err": _rel(mr["migrations"]["total"], mo["migrations"]["total"]),
            "migrations_abs_err": mr["migrations"]["total"] - mo["migrations"]["total"],
            "onto_busy_abs_err": _abs(mr["wakeup_placement"]["onto_busy_fraction"],
                                      mo["wakeup_placement"]["onto_busy_fraction"]),
            **_span_errors(mo, mr)}


#: application span names validate measures (the ones with the most spans) ...
SPAN_NAMES = 8
#: ... and how many of those the verdict judges (their p50 and p99, when they have at least
#: MIN_WAITS recorded spans)
SPAN_NAMES_JUDGED = 3


def span_names(metrics: dict, top: int = SPAN_NAMES) -> list[str]:
    """The span names of a run's metrics with the most spans (the metrics list them so)."""
    return list((metrics.get("span") or {}))[:top]


def _span_errors(mo: dict, mr: dict) -> dict:
    """Per span name (:func:`span_names` of the recording): the relative error of its count,
    mean, p50, p90, p99 and max latency (``span.NAME.p99_rel_err``)."""
    out = {}
    for name in span_names(mo):
        o, r = mo["span"][name], (mr.get("span") or {}).get(name) or {}
        for stat in SPAN_VALIDATED:
            out[span_error_key(name, stat)] = _rel(r.get(stat), o.get(stat))
    return out


def _focus_errors(obs: Run, rep: Run, measured: tuple) -> dict:
    """The focused tasks' own errors (``--focus``; metrics "focus" of both runs): their wait
    count, p50, p90, p99 and longest wait (over the causes the recording can measure), CPU
    time and CPU share, relative; and how many waits of theirs the recording has."""
    fo, fr = obs.metrics["focus"], rep.metrics["focus"]
    tids = np.asarray(fo["tids"])
    causes = [CAUSES[c] for c in measured]
    ow = obs.waits_ns[np.isin(obs.wait_tids, tids)]
    keep = np.isin(rep.wait_tids, tids) & np.isin(rep.wait_causes, causes)
    o, r = summarize(ow), summarize(rep.waits_ns[keep])
    out = {"focus_wait_count_rel_err": _rel(r["count"], o["count"])}
    for q in _QS:
        out[f"focus_wait_{q}_rel_err"] = _rel(r[q], o[q]) if o["count"] and r["count"] else None
    out["focus_max_wait_rel_err"] = _rel(r["max"], o["max"]) if o["count"] and r["count"] else None
    out["focus_cpu_time_rel_err"] = _rel(fr["cpu_time_ns"], fo["cpu_time_ns"])
    out["focus_cpu_share_rel_err"] = _rel(fr["cpu_share"], fo["cpu_share"])
    out["focus_recorded_waits"] = o["count"]
    return out


def _focus_judged(v: dict) -> list[tuple[str, str, float]]:
    """What the focused tasks' verdict reads: their wait p50, p99 and count when the
    recording has at least MIN_WAITS of their waits, and their CPU time."""
    out = []
    if v["focus_recorded_waits"] >= MIN_WAITS:
        out += [("their wait p50", "focus_wait_p50_rel_err"), ("their wait p99", "focus_wait_p99_rel_err"),
                ("their wait count", "focus_wait_count_rel_err")]
    out += [("their CPU time", "focus_cpu_time_rel_err")]
    return [(label, key, v[key]) for label, key in out if v.get(key) is not None]




#: the figures whose range over the seeds validate reports
RANGE_KEYS = ("wait_p50_rel_err", "wait_p99_rel_err", "wait_count_rel_err", "cpu_time_rel_err_mean", "jain_abs_err",
              "migrations_rel_err")


def validate(source, policy: str | None = None, topology=None, params: dict | None = None, seed: int = 0,
             replayed: Run | None = None, seeds: int = 3, focus=None) -> dict:
    """Replay ``source`` (a prepared trace, or anything ``prepare`` takes) under its recorded
    policy (or ``policy``) with ``seeds`` seeds (seed, seed + 1, ...) and compare, figure by
    figure. A replay draws its wakeup latencies from the recording's distributions, so one
    seed's figures carry that draw's luck; each error is the median over the seeds, and
    ``seed_range`` gives the spread of the main ones.

    Keys (README "validate" documents each): policy, topology, seeds; the errors
    ``wait_{p50,p90,p99,count}_rel_err``, ``wait_ks``, per cause (wakeup, preempt, new)
    ``wait_CAUSE_{p50,p90,p99,count}_rel_err`` and ``wait_CAUSE_ks``, ``cpu_time_rel_err_mean``
    and ``_max`` (|error| over tasks with >= 1 ms of recorded CPU), ``cpu_time_tasks``,
    ``jain_abs_err``, ``jain_by_nice_abs_err`` {nice: err}, ``share_error_abs_err``,
    ``max_wait_rel_err``, ``switches_rel_err``, ``switches_abs_err``,
    ``migrations_rel_err``, ``migrations_abs_err``, ``onto_busy_abs_err`` (the fraction of
    wakeups queued on a busy CPU, replayed - recorded: packing against spreading; shown, not
    judged); per application span name (the
    SPAN_NAMES with the most spans) ``span.NAME.{count,mean,p50,p90,p99,max}_rel_err``;
    ``seed_range`` {figure: [min, max]};
    ``verdict`` (good / rough / unreliable) and ``verdict_reasons``; observed, replayed (the
    metric objects of the recording and of the first seed's replay), replayed_median (every
    figure the median over the seeds, ``median_of``: the figures the errors are of),
    compared_wait_ns (when the recording cannot measure some cause of wait: the summary of the
    replay's waits of the causes it measures, median over the seeds, which the overall wait
    errors and the longest wait's are of; else None), events_simulated,
    wall_s (all seeds), warnings.

    ``focus`` (``--focus`` selectors) adds the selected tasks' own errors:
    ``focus_wait_{p50,p90,p99,count}_rel_err``, ``focus_max_wait_rel_err``,
    ``focus_cpu_time_rel_err``, ``focus_cpu_share_rel_err``, ``focus_recorded_waits`` (their
    waits in the recording), and ``focus_verdict`` / ``focus_verdict_reasons`` (the same
    rules over their figures; fewer than MIN_WAITS recorded waits make it rough at best).

    ``replayed``: the replay of the first seed (or of the first seeds: a Run of several,
    ``replay_seeds``), when the caller already ran it with exactly these inputs (``compare``
    does: the recorded policy on the recorded machine with default parameters)."""
    check_seeds(seeds)
    # the recorded machine, when given for a trace not yet prepared, is also the one its
    # demand is measured on (prepare's recorded=)
    p = prepare(source, recorded=topology) if topology is not None and not isinstance(source, PreparedTrace) \
        else prepare(source)
    warnings = []
    if policy is None:
        policy, w = recorded_policy(p)
        if w:
            warnings.append(w)
    topo = p.topology(topology)
    obs = observed_run(p, topo, focus=focus)
    reps = (replayed.per_seed or [replayed])[:seeds] if replayed is not None else []
    reps += [replay_run(p, policy, topo, params, seed + k, focus=focus) for k in range(len(reps), seeds)]
    first = reps[0]
    per = [_errors(p, obs, rep) for rep in reps]
    if focus:
        for d, rep in zip(per, reps):
            d.update(_focus_errors(obs, rep, p.measured_causes))
    v = {"policy": policy, "topology": first.topology or topo.describe(), "seeds": seeds}
    v.update({k: median_of([d[k] for d in per]) for k in per[0]})
    ranged = RANGE_KEYS + tuple(span_error_key(n, q) for n in span_names(obs.metrics, SPAN_NAMES_JUDGED)
                                for q in ("p50", "p99"))
    v["seed_range"] = {k: ([min(x), max(x)] if (x := [d[k] for d in per if d.get(k) is not None]) else None)
                       for k in ranged}
    unmeasured = [c for c in CAUSES if c not in p.measured_causes]
    if unmeasured:
        warnings.append(f"the trace records no {' and no '.join(_EVENTS_OF[c] for c in unmeasured)} events: "
                        f"{' and '.join(unmeasured)} waits cannot be measured in it, so the replay's are left out "
                        "of the comparison")
    note = placement_note(obs.metrics, v.get("onto_busy_abs_err"))
    if note:
        warnings.append(note)
    v["verdict"], v["verdict_reasons"] = verdict(v, obs.metrics)
    if focus:
        fv, reasons = verdict(v, obs.metrics, _focus_judged(v))
        if v["focus_recorded_waits"] < MIN_WAITS:
            reasons.append(f"only {v['focus_recorded_waits']} recorded waits of the focused tasks: their wait "
                           "percentiles not judged")
            fv = fv if fv != "good" else "rough"
        v["focus_verdict"], v["focus_verdict_reasons"] = fv, reasons
    v["inferred"] = inferences(p)
    v["inferred"]["task_groups_replayed"] = first.params.get("autogroup") == "on"
    v.update({"observed": obs.metrics, "replayed": first.metrics,
              "replayed_median": median_of([r.metrics for r in reps]),
              # the replayed waits the overall wait errors are of, when the recording cannot
              # measure some cause (else replayed_median's wait_ns)
              "compared_wait_ns": median_of([compared_waits(r, p.measured_causes)[1] for r in reps])
              if unmeasured else None,
              "events_simulated": sum(r.events_simulated for r in reps), "wall_s": sum(r.wall_s for r in reps),
              "warnings": warnings + first.warnings})
    return v


#: a replay that queues this much smaller (or larger) a share of its wakeups on busy CPUs
#: than the recording places woken tasks differently enough to say so (README "Fidelity")
PLACEMENT_NOTE = 0.10


def placement_note(observed_metrics: dict, onto_busy_err) -> str | None:
    """A warning when the replay spreads woken tasks the machine packed, or packs what it
    spread: the share of wakeups queued on a busy CPU differs by PLACEMENT_NOTE or more."""
    recorded = observed_metrics["wakeup_placement"]["onto_busy_fraction"]
    if onto_busy_err is None or recorded is None or abs(onto_busy_err) < PLACEMENT_NOTE:
        return None
    replayed = recorded + onto_busy_err
    how = ("spreads woken tasks to idle CPUs where the machine packed them beside running ones" if onto_busy_err < 0
           else "packs woken tasks beside running ones where the machine spread them to idle CPUs")
    return (f"the replay {how}: {recorded:.0%} of the recorded wakeups were queued on a busy CPU, "
            f"{replayed:.0%} of the replayed ones; wakeup waits, preemptions and migrations are the figures "
            "this moves (README \"Fidelity\")")


def inferences(p: PreparedTrace) -> dict:
    """What the workload infers from the recording rather than reads in it (README "How
    replay works"): ``yields`` (sched_yield calls) and ``yielding_tasks`` ("comm tid" of
    each task that yields, most calls first), ``sync_wakeups`` (wakeups the waker's CPU took,
    honoured with WA_SYNC=on), ``confined_tasks`` ("comm tid: CPUs" of each task kept to some
    CPUs of the recorded machine, README "Where a task may run"), ``task_groups`` (how many
    task groups, sessions, the tasks outside the root group form: docs/engine-model.md §13)
    and ``largest_task_groups`` ("comm xN": the most common name in each of the largest
    three, and how many tasks it has)."""
    a = p.workload.actions
    y = a.filter(pl.col("kind") == ACT_YIELD).group_by("task").len().sort(["len", "task"], descending=[True, False])
    tasks = p.workload.tasks
    names = [f"{tasks['comm'][int(t)]} {tasks['tid'][int(t)]}" for t in y["task"].to_list()]
    comm = dict(zip(tasks["tid"].to_list(), tasks["comm"].to_list()))
    grouped = tasks.filter(pl.col("group") > 0)
    sizes = grouped.group_by("group").agg(pl.len().alias("n"), pl.col("comm").mode().sort().first().alias("comm")) \
        .sort(["n", "group"], descending=[True, False])
    return {"yields": int(y["len"].sum()) if y.height else 0, "yielding_tasks": names,
            "sync_wakeups": int((a["kind"] == ACT_SYNC_WAKE).sum()),
            "confined_tasks": [f"{comm.get(tid, '?')} {tid}: {cpu_text(cpus)}" for tid, cpus in p.confined.items()],
            "task_groups": sizes.height,
            "largest_task_groups": [f"{c} x{n}" for c, n in zip(sizes["comm"].to_list()[:3], sizes["n"].to_list()[:3])]}


def error_keys(v: dict) -> dict:
    """The flat error figures of a validation (numbers and the verdict; no nested objects):
    what compare keeps and sweeps copy into every row."""
    skip = {"observed", "replayed", "replayed_median", "compared_wait_ns", "warnings", "verdict_reasons",
            "jain_by_nice_abs_err", "events_simulated", "wall_s", "seed_range", "focus_verdict_reasons", "inferred"}
    return {k: x for k, x in v.items() if k not in skip}
