"""Policy tuning sweeps: replay traces under a grid (or a random sample) of parameter
values, on one machine (a process pool) or on a Ray cluster.

>>> from replay import sweep
>>> df = sweep(["trace.dat"], policy=["eevdf", "cfs"], grid={"base_slice_ns": "1ms:4ms:1ms"},
...            output="results.parquet")

One row per (trace, policy, parameter values, topology, seed). Columns: ``trace`` (the
trace's source path, as ``replay --json`` prints it), ``label`` (a short name that tells
the sweep's traces apart: ``d_nice_mix/trace.dat``), ``policy``, ``topology``,
``overrides`` (the ``--set`` strings, "; "-joined), ``config`` (canonical JSON of the swept
parameters), ``seed``, ``default`` (the policy's default configuration), ``param.NAME``
(each swept parameter; null for a policy without it), ``events_simulated``, ``wall_s``
(the replay) and ``run_s`` (replay and metrics, in the worker), every metric of
``metrics --json`` flattened with dots (``wait_ns.p99``, ``fairness.jain``,
``migrations.cross_node``, ...), the validation of the trace (``validation_policy``,
``validation_verdict`` and every error figure of replay.validate: ``wait_p50_rel_err``,
``wait_preempt_p99_rel_err``, ``jain_abs_err``, ...; the recorded policy replayed on the
recorded machine) and ``warnings``.

How a sweep runs (:func:`run`, one function per step):

1. ``_check``: everything the user gave is checked first (policies, grid names and
   values, topologies, ``--set``, the engine), with the valid choices in the error.
   Then the output is locked (``OUTPUT.lock``, an exclusive ``flock``) until step 6 is
   done: a second sweep on the same output waits for the first and then resumes from
   its rows, so two sweeps never overwrite each other's rows or work directory.
   SIGTERM and SIGHUP are handled as Ctrl-C (``_processes.terminate_as_interrupt``).
2. ``_resume``: the rows already in the output file or its journal.
3. ``warm``: one tiny replay per policy in the parent fills numba's disk cache (or loads
   it), so workers load the compiled engine instead of compiling it concurrently; each
   worker loads it once. The objective is checked against the metric names.
4. ``_prepare_traces``: each trace is read and prepared once (``replay.prepare``: the
   observed schedule, workload and recorded latencies) and validated with it; what
   replays need of it (``PreparedTrace.for_workers``) is shipped to the workers as it is:
   pickled once into a work directory beside the output (``OUTPUT.sweep.d/``) for local
   workers, put once into Ray's object store for Ray workers; each worker keeps the last
   two it loaded.
5. ``_execute``: the configurations run (local workers: plain subprocesses fed through
   pipes, ``_processes.run_pool``, which a killed sweep does not leave behind, nor any
   semaphore); each finished row is appended to
   ``OUTPUT.sweep.d/journal.jsonl`` at once (at most 2 per worker are queued), so an
   interrupted or killed sweep loses only the configurations in flight. Rerunning with
   the same output skips every row already in the output file or the journal; rows of
   other configurations already in the file are kept.
6. ``_consolidate``: the rows are sorted (trace, policy, topology, overrides, parameter
   values, seed) and written to the output Parquet file, and the work directory is
   removed. For the same inputs the file is the same except for the timing columns
   (``wall_s``, ``run_s``), whether the sweep ran at once, resumed, locally or on Ray.

The default configuration of each policy is always part of the sweep (a grid point
whose values are all the defaults *is* the default configuration), so the best
configurations can be reported as an improvement over the defaults (:func:`best`).

Ray: ``engine="ray"`` needs ``pip install 'schedreplay[ray]'``; on a cluster every node
needs the same schedreplay installed, and compiles the engine into its own numba cache
on first use.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from traces.errors import TraceError

from .. import metrics as M
from ..metrics.catalog import is_known, metric, split_span_key
from ..model.prepared import PreparedTrace, label_of, prepare, unique_labels
from ..sim import simulate
from ._processes import output_lock, terminate_as_interrupt
from .grid import (MAX_CONFIGS, MAX_VALUES_PER_PARAM, config_key, configurations, expand,  # noqa: F401
                   parse_grid)
from .validation import error_keys, validate

#: Columns that identify a row (with the ``param.*`` columns, in ``config``).
KEY_COLUMNS = ("trace", "policy", "topology", "overrides", "config", "seed")
#: Timing columns (they differ from run to run; everything else is deterministic).
TIMING_COLUMNS = ("wall_s", "run_s")
ENGINES = ("local", "ray")


def validation_columns(v: dict) -> dict:
    """The columns a trace's validation (replay.validate) adds to each of its rows:
    validation_policy, validation_verdict and every error figure (``*_rel_err``,
    ``*_abs_err``, ``*_ks``, ``cpu_time_tasks``)."""
    return {"validation_policy": v["policy"], "validation_verdict": v["verdict"], "validation_seeds": v["seeds"],
            **{k: _plain(x) for k, x in error_keys(v).items() if k not in ("policy", "topology", "verdict", "seeds")}}


def _is_validation_column(c: str) -> bool:
    return c.startswith("validation_") or "_rel_err" in c or c.endswith(("_abs_err", "_ks")) or c == "cpu_time_tasks"


# --------------------------------------------------------------------------------------
# objective
# --------------------------------------------------------------------------------------

def objective_direction(objective: str) -> tuple[str, bool]:
    """(metric column, higher_is_better). ``min:M`` / ``max:M`` force the direction;
    otherwise the metric catalog's (replay.metrics.catalog): Jain indices, the NUMA
    home-node share and utilization are better higher, every other metric (wait times,
    share error, switches, migrations, wall time) lower."""
    o = objective.strip()
    if o.startswith(("min:", "max:")):
        return o[4:], o.startswith("max:")
    return o, metric(o).higher_is_better


def validation_key(col: str) -> str | None:
    """The validation error that bounds a difference in metric ``col`` (the catalog's:
    None when validation does not measure that figure)."""
    return metric(col).error_key


def check_objective(objective: str, metric_columns) -> tuple[str, bool]:
    """The objective's (column, higher is better), checked against the metric columns (and
    the patterns of per-nice, per-cause and per-span-name figures: a span name is checked
    once the traces are prepared, :func:`_check_span_objective`)."""
    col, higher = objective_direction(objective)
    valid = set(metric_columns) | {"wall_s", "run_s", "events_simulated"}
    if col not in valid and not (is_known(col) and col.startswith(("fairness.jain_by_nice.", "wait_ns_by_cause.",
                                                                    "span."))):
        raise TraceError(f"--objective {objective!r}: not a metric; valid: {', '.join(sorted(valid))} "
                         "(min:METRIC / max:METRIC force the direction)")
    return col, higher


# --------------------------------------------------------------------------------------
# one configuration (runs in a worker)
# --------------------------------------------------------------------------------------

def _plain(v):
    """A JSON/Parquet-friendly Python scalar."""
    if isinstance(v, np.generic):
        return v.item()
    return v


#: metrics that are not columns: where waits happened, the focused tasks' figures
NOT_COLUMNS = ("wait_at", "focus")
#: span names that become columns (the ones with the most spans; a trace with thousands
#: of marker names would otherwise give thousands of columns)
SPAN_COLUMNS = 8


def flatten(m: dict, prefix: str = "") -> dict:
    """Nested metric dicts -> {"a.b.c": scalar}; lists (per-task tables, warnings) and
    NOT_COLUMNS are left out, and of the span names (metrics "span") all but the
    SPAN_COLUMNS with the most spans."""
    out = {}
    for k, v in m.items():
        name = f"{prefix}{k}"
        if not prefix and k in NOT_COLUMNS:
            continue
        if not prefix and k == "span" and isinstance(v, dict):
            v = dict(list(v.items())[:SPAN_COLUMNS])
        if isinstance(v, dict):
            out.update(flatten(v, name + "."))
        elif isinstance(v, (list, tuple)):
            continue
        else:
            out[name] = _plain(v)
    return out


@dataclass
class _Share:
    """How a worker gets a trace's prepared copy (PreparedTrace.for_workers): a pickle
    file (local workers) or a Ray object reference; workers keep the last two loaded."""

    token: str
    path: str | None = None
    ref: object = None


@dataclass
class Job:
    """One configuration to run."""

    share: str
    trace: str
    policy: str
    config: dict
    topology: object  # replay.model.topology.Topology
    topology_name: str
    seed: int
    overrides: tuple = ()
    default: bool = False
    #: the recorded machine given for the trace ("" when its own cpus table)
    recorded: str = ""

    @property
    def key(self) -> str:
        return _row_key(self.trace, self.policy, self.topology_name, "; ".join(self.overrides),
                        config_key(self.config), self.seed, self.recorded)


def _row_key(trace, policy, topology, overrides, config, seed, recorded="") -> str:
    # a sweep given the recorded machine measures another workload: its rows are other rows
    # (without one, the key is what it always was, so earlier outputs resume)
    return json.dumps([trace, policy, topology, overrides or "", config, int(seed)] + ([recorded] if recorded else []))


_CACHE: "OrderedDict[str, PreparedTrace]" = OrderedDict()
_CACHE_SIZE = 2


def _load_share(share: _Share) -> PreparedTrace:
    hit = _CACHE.get(share.token)
    if hit is not None:
        _CACHE.move_to_end(share.token)
        return hit
    if share.ref is not None:
        import ray

        prepared = ray.get(share.ref)
    else:
        with open(share.path, "rb") as f:
            prepared = pickle.load(f)
    _CACHE[share.token] = prepared
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return prepared


def run_job(job: Job, share: _Share) -> dict:
    """Replay one configuration and measure it: the row's metric and timing columns."""
    from .runs import checked_overrides

    prepared = _load_share(share)
    t0 = time.perf_counter()
    checked = checked_overrides(prepared, list(job.overrides), job.topology)
    sched, info = simulate(prepared.workload, job.policy, job.topology, dict(job.config), job.seed,
                           checked.overrides or None, prepared.latencies, prepared.tasks,
                           prepared.unavailable_cpus(job.topology), prepared.is_recorded(job.topology),
                           prepared.confined_cpus(job.topology))
    m = M.measure(sched, job.topology, where=False)
    run_s = time.perf_counter() - t0
    row = {"events_simulated": int(info.events_simulated), "wall_s": float(info.wall_s), "run_s": run_s}
    row.update(flatten(m))
    row["warnings"] = "; ".join(dict.fromkeys(checked.warnings + list(m.get("warnings", [])) + list(info.warnings)))
    return row


def _pool_job(job: Job, share: _Share) -> tuple[str, dict]:
    return job.key, run_job(job, share)


def _ray_job(job: Job, refs: list) -> tuple[str, dict]:
    """A Ray task: the trace's prepared copy comes from the object store (``refs[0]``,
    fetched once per worker process), then the job runs."""
    return job.key, run_job(job, _Share(job.share, ref=refs[0]))


# --------------------------------------------------------------------------------------
# warm-up
# --------------------------------------------------------------------------------------

def warm(policies) -> dict:
    """One tiny replay (and its metrics) per policy: compiles the engine, the policies and
    the metric kernels into numba's disk cache, or loads them from it. Returns the
    flattened metrics of the last run (their names are the metric columns)."""
    from ..model.topology import from_spec
    from ..sim.warm import workload

    wl = workload()
    topo = from_spec("1x2x1")
    m = {}
    for p in policies:
        sched, _ = simulate(wl, p, topo, {"idle_wakeup_latency_ns": 0, "preempt_latency_ns": 0})
        m = flatten(M.measure(sched, topo))
    return m


# --------------------------------------------------------------------------------------
# output: journal and final file
# --------------------------------------------------------------------------------------

def _row_key_of(row: dict) -> str:
    return _row_key(row.get("trace"), row.get("policy"), row.get("topology"), row.get("overrides"),
                    row.get("config"), row.get("seed") or 0, row.get("recorded") or "")


def _read_journal(path: Path) -> list[dict]:
    rows = []
    if not path.exists():
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # the last line of an interrupted write
                continue
    return rows


def _read_output(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        df = pl.read_parquet(path)
    except Exception as e:
        raise TraceError(f"cannot read the existing output to resume from it: {e}", str(path)) from None
    missing = [c for c in KEY_COLUMNS if c not in df.columns]
    if missing:
        raise TraceError(f"exists and is not a sweep output (no column {', '.join(missing)}); "
                         "choose another -o", str(path))
    return df.to_dicts()


def _sort_value(v):
    if v is None:
        return (0, 0, "")
    if isinstance(v, bool):
        return (1, int(v), "")
    if isinstance(v, (int, float)):
        return (1, v, "")
    return (2, 0, str(v))


def _sort_key(row: dict, param_names) -> tuple:
    return (str(row.get("trace")), str(row.get("policy")), str(row.get("topology")), str(row.get("overrides")),
            tuple(_sort_value(row.get(f"param.{n}")) for n in param_names), str(row.get("config")),
            int(row.get("seed") or 0), str(row.get("recorded") or ""))


def to_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows -> one DataFrame, sorted deterministically (trace, policy, topology,
    overrides, parameter values, seed), columns in a fixed order."""
    if not rows:
        return pl.DataFrame({c: [] for c in KEY_COLUMNS})
    param_names = sorted({k[6:] for r in rows for k in r if k.startswith("param.")})
    rows = sorted(rows, key=lambda r: _sort_key(r, param_names))
    lead = [KEY_COLUMNS[0], "label", *KEY_COLUMNS[1:], "default", *[f"param.{n}" for n in param_names],
            "events_simulated", *TIMING_COLUMNS]
    seen = dict.fromkeys(lead)
    for r in rows:
        for k in r:
            if k not in seen:
                seen[k] = None
    tail = [c for c in seen if _is_validation_column(c)] + ["warnings"]
    cols = [c for c in seen if c not in tail] + [c for c in tail if c in seen]
    data = {c: [r.get(c) for r in rows] for c in cols}
    series = []
    for c in cols:
        vals = data[c]
        kinds = {type(v) for v in vals if v is not None}
        if kinds <= {int} and kinds:
            s = pl.Series(c, vals, dtype=pl.Int64)
        elif kinds <= {int, float} and kinds:
            s = pl.Series(c, [None if v is None else float(v) for v in vals], dtype=pl.Float64)
        elif kinds == {bool}:
            s = pl.Series(c, vals, dtype=pl.Boolean)
        elif not kinds:
            s = pl.Series(c, vals, dtype=pl.Null)
        else:
            s = pl.Series(c, [None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in vals],
                          dtype=pl.String)
        series.append(s)
    return pl.DataFrame(series)


def _write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Atomically (temporary file, then rename), deterministic settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.write_parquet(tmp, compression="zstd", statistics=True)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """A sweep's rows (``frame``: this sweep's configurations, finished now or before),
    the best configurations per (trace, policy, topology, overrides), and counters.
    ``timings`` (seconds): prepare_s (checks, warm-up, ingest, validation), start_s (Ray:
    connecting and sharing the traces), first_result_s (from the first job submitted to
    its result: worker start-up included), run_s (from the first job submitted to the
    last result), write_s (the output file)."""

    frame: pl.DataFrame
    best: pl.DataFrame
    objective: str
    higher_is_better: bool
    executed: int
    skipped: int
    wall_s: float
    output: str | None = None
    timings: dict = field(default_factory=dict)
    #: per trace: its path, label and what each --set matched (replay.model.overrides.check)
    overrides: list[dict] = field(default_factory=list)


def _listify(x, default=None) -> list:
    if x is None:
        return list(default or [])
    if isinstance(x, (str, bytes, os.PathLike)) or not hasattr(x, "__iter__"):
        return [x]
    return list(x)


def _check(trace_args, policy, seed, engine, workers, grid, random, overrides, topology, objective, ray_address,
           output, spans=None, recorded=None) -> dict:
    """Step 1: every argument checked before any work; returns what the later steps use."""
    from policies import get_policy

    from ..model.overrides import parse_all
    from ..model.topology import resolve as resolve_topology

    if not trace_args:
        raise TraceError("no trace given")
    policies = list(dict.fromkeys(_listify(policy, ["eevdf"])))
    if not policies:
        raise TraceError("no --policy given")
    for p in policies:
        get_policy(p)
    seeds = list(dict.fromkeys(int(s) for s in _listify(seed, [0]))) or [0]
    if engine not in ENGINES:
        raise TraceError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if workers is not None and workers < 1:
        raise TraceError(f"--workers {workers}: expected >= 1")
    configs = configurations(policies, parse_grid(grid), random=random, seed=seeds[0])
    ov = tuple(o if isinstance(o, str) else o.text for o in _listify(overrides))
    parse_all(ov)
    topo_args = _listify(topology, [None]) or [None]
    for t in topo_args:
        if isinstance(t, str) and t not in ("", "recorded", "host") and not os.path.exists(t):
            resolve_topology(t)  # a spec: checked now (a bad one raises)
    machine = None
    if recorded is not None:
        from ..model.topology import Topology

        if any(isinstance(a, PreparedTrace) for a in trace_args):
            raise TraceError("a prepared trace has its recorded machine already: give it to prepare(recorded=...)")

        machine = recorded if isinstance(recorded, Topology) else resolve_topology(recorded)
    obj_col, higher = objective_direction(objective)
    if not obj_col:
        raise TraceError(f"--objective {objective!r}: empty metric name")
    if ray_address and engine != "ray":
        raise TraceError("--ray-address needs --engine ray")
    if engine == "ray":
        try:
            import ray  # noqa: F401  (only checks that it is installed)
        except ImportError:
            raise TraceError("--engine ray needs Ray, which is not installed: pip install 'schedreplay[ray]'") \
                from None
    out_path = Path(output) if output is not None else None
    if out_path is not None and out_path.exists() and out_path.is_dir():
        raise TraceError("is a directory; -o takes the Parquet file to write", str(out_path))
    from traces.spans import parse_spec

    span_specs = [parse_spec(x) if isinstance(x, str) else x for x in _listify(spans)]
    for sp in span_specs:
        if not os.path.isfile(sp.path):
            raise TraceError("span log not found", sp.path)
    return dict(policies=policies, seeds=seeds, configs=configs, overrides=ov, topo_args=topo_args,
                obj_col=obj_col, higher=higher, out_path=out_path, spans=span_specs, recorded=machine,
                recorded_name=(machine.name or machine.describe()) if machine is not None else "")


def _check_span_objective(c: dict, names: set) -> None:
    """A span objective (span.NAME.STAT) must name a span some trace of the sweep has."""
    sk = split_span_key(c["obj_col"])
    if sk is not None and sk[0] not in names:
        have = ", ".join(sorted(names)[:12]) or "none (give --spans, or a trace with markers)"
        raise TraceError(f"--objective {c['obj_col']}: no trace of the sweep has spans named {sk[0]!r}; "
                         f"span names: {have}")


def _resume(out_path: Path | None) -> tuple[Path | None, dict[str, dict]]:
    """Step 2: the journal's path, and the rows already done (output file and journal)."""
    if out_path is None:
        return None, {}
    journal = Path(str(out_path) + ".sweep.d") / "journal.jsonl"
    have: dict[str, dict] = {}
    for r in _read_output(out_path) + _read_journal(journal):
        have[_row_key_of(r)] = r
    return journal, have


def _trace_jobs(source, c: dict) -> list[Job]:
    """Every configuration of one trace (a Trace or a PreparedTrace; the share token is
    set once it is shipped)."""
    from ..model.topology import resolve as resolve_topology

    if isinstance(source, PreparedTrace):
        topos = [source.topology(t) for t in c["topo_args"]]
    else:
        recorded = c.get("recorded")
        topos = [recorded if recorded is not None and t in (None, "", "recorded") else
                 t if not isinstance(t, (str, type(None))) else resolve_topology(t, source) for t in c["topo_args"]]
    given = c.get("recorded_name", "") if not isinstance(source, PreparedTrace) else ""
    jobs = []
    for pol in c["policies"]:
        for cfg_i, cfg in enumerate(c["configs"][pol]):
            for topo in topos:
                for s in c["seeds"]:
                    jobs.append(Job("", str(source.path), pol, cfg, topo, topo.name or topo.describe(), s,
                                    c["overrides"], default=cfg_i == 0, recorded=given))
    return jobs


def _prepare_traces(trace_args, c: dict, have: dict, work: Path, format, say) -> tuple[list[Job], dict, dict]:
    """Step 4: each trace read, prepared and validated once, its ``--set`` overrides checked
    on every machine (``c["matched"]`` gets what each matched); its replay part shipped
    (pickled into ``work``; Ray puts it into its object store later). Returns (jobs,
    shares by token, validation columns by trace path)."""
    import traces as T_

    from .runs import checked_overrides

    jobs: list[Job] = []
    shares: dict[str, _Share] = {}
    validations: dict[str, dict] = {}
    seen = set()
    for i, arg in enumerate(trace_args):
        if isinstance(arg, (T_.Trace, PreparedTrace)):
            source = arg
        else:
            say(f"reading {arg}")
            source = T_.load(arg, format=format)
        if str(source.path) in seen:
            continue
        seen.add(str(source.path))
        prev = next((r for r in have.values() if r.get("trace") == str(source.path) and r.get("validation_policy")),
                    None)
        if prev is not None:
            validations[str(source.path)] = {k: x for k, x in prev.items() if _is_validation_column(k)}
        tjobs = _trace_jobs(source, c)
        jobs.extend(tjobs)
        if all(j.key in have for j in tjobs) and str(source.path) in validations:
            continue  # all done before: not even prepared
        prepared = prepare(source, spans=c["spans"], recorded=c.get("recorded")) \
            if not isinstance(source, PreparedTrace) else source
        if prepared.has_spans:
            c["span_names"].update(prepared.workload.spans["name"].unique().to_list())
        if c["overrides"]:
            summary = None
            for topo in {id(j.topology): j.topology for j in tjobs}.values():
                got = checked_overrides(prepared, list(c["overrides"]), topo).summary
                if summary is None:
                    summary = got
                else:
                    for a, b in zip(summary, got):
                        a["warnings"] = list(dict.fromkeys(a["warnings"] + b["warnings"]))
            c["matched"].append({"trace": prepared.path, "overrides": summary or []})
        if prepared.path not in validations:
            say(f"validating the replay of {prepared.label}")
            v = validate(prepared, seed=c["seeds"][0])
            validations[prepared.path] = validation_columns(v)
        token = uuid.uuid4().hex
        path = work / "traces" / f"{i:03d}.pickle"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(prepared.for_workers(), f, protocol=pickle.HIGHEST_PROTOCOL)
        shares[token] = _Share(token, str(path))
        for j in tjobs:
            j.share = token
        del prepared, source
    if not have or any(j.key not in have for j in jobs):
        _check_span_objective(c, c["span_names"])
    c["labels"] = unique_labels(seen)
    for m in c["matched"]:
        m["label"] = c["labels"].get(m["trace"])
    return jobs, shares, validations


def _execute(todo: list[Job], shares: dict, c: dict, engine: str, workers, ray_address, progress, journal,
             validations: dict, tm: dict) -> dict[str, dict]:
    """Step 5: run the configurations (serially, in a process pool or on Ray), each
    finished row journaled at once. Returns the new rows by key."""
    new_rows: dict[str, dict] = {}
    by_key = {j.key: j for j in todo}
    jf = open(journal, "a", encoding="utf-8") if journal is not None else None

    def done(key: str, metrics_row: dict) -> None:
        if "first_result_s" not in tm:
            tm["first_result_s"] = time.perf_counter() - tm["submit"]
        j = by_key[key]
        row = {"trace": j.trace, "label": c["labels"].get(j.trace), "policy": j.policy, "topology": j.topology_name,
               "overrides": "; ".join(j.overrides), "config": config_key(j.config), "seed": j.seed,
               "default": j.default, **({"recorded": j.recorded} if j.recorded else {}),
               **{f"param.{k}": _plain(v) for k, v in j.config.items()},
               **metrics_row, **validations.get(j.trace, {})}
        new_rows[key] = row
        if jf is not None:
            jf.write(json.dumps(row, separators=(",", ":")) + "\n")
            jf.flush()

    try:
        tm["submit"] = time.perf_counter()
        if todo:
            n = min(workers or _cpu_count(), len(todo)) if engine == "local" else workers
            with _progress_bar(progress, len(todo), engine) as tick:
                if engine == "ray":
                    _run_ray(todo, shares, n, ray_address, done, tick, tm)
                elif n == 1:
                    for j in todo:
                        k, r = _pool_job(j, shares[j.share])
                        done(k, r)
                        tick()
                else:
                    _run_pool(todo, shares, n, c["policies"], done, tick)
    finally:
        if jf is not None:
            jf.close()
    tm["run_s"] = time.perf_counter() - tm.pop("submit") - tm["start_s"]
    if "first_result_s" in tm:
        tm["first_result_s"] -= tm["start_s"]
    return new_rows


def _consolidate(jobs: list[Job], have: dict, new_rows: dict, out_path: Path | None, work: Path) -> pl.DataFrame:
    """Step 6: this sweep's rows as a frame; the output file rewritten with every row
    (earlier ones kept), and the work directory removed."""
    frame = to_frame([new_rows.get(j.key) or have[j.key] for j in jobs])
    if out_path is not None:
        _write_parquet(to_frame(list({**have, **new_rows}.values())), out_path)
        shutil.rmtree(work, ignore_errors=True)
    return frame


def run(traces_, policy=("eevdf",), grid=None, random: int | None = None, seed=0, topology=None,
        overrides=None, spans=None, engine: str = "local", workers: int | None = None, ray_address: str | None = None,
        objective: str = "wait_ns.p99", output=None, progress: bool | None = False, format: str | None = None,
        status=None, recorded=None) -> SweepResult:
    """Run a sweep (see :func:`sweep`); returns a :class:`SweepResult`. ``status``, when
    given, is called with one-line progress messages (ingest, warm-up, validation)."""
    t_start = time.perf_counter()
    say = status or (lambda msg: None)
    c = _check(_listify(traces_), policy, seed, engine, workers, grid, random, overrides, topology, objective,
               ray_address, output, spans, recorded)
    out_path = c["out_path"]
    with output_lock(out_path, status or _stderr), terminate_as_interrupt():
        return _run_checked(traces_, c, objective, engine, workers, ray_address, progress, format, say, t_start)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run_checked(traces_, c: dict, objective, engine, workers, ray_address, progress, format, say,
                 t_start) -> SweepResult:
    """Steps 2-6 of :func:`run`, the output locked."""
    out_path = c["out_path"]
    journal, have = _resume(out_path)
    say("loading the compiled engine (compiling it on first use)")
    check_objective(objective, list(warm(c["policies"])))
    c["matched"] = []
    c["span_names"] = set()
    work = journal.parent if journal is not None else Path(tempfile.mkdtemp(prefix="schedreplay-sweep-"))
    try:
        try:
            work.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TraceError(f"cannot create the sweep's work folder: {e.strerror or e}", str(work)) from None
        jobs, shares, validations = _prepare_traces(_listify(traces_), c, have, work, format, say)
        todo = [j for j in jobs if j.key not in have]
        skipped = len(jobs) - len(todo)
        say(f"{len(jobs):,} configurations, {skipped:,} already done, {len(todo):,} to run")
        tm = {"prepare_s": time.perf_counter() - t_start, "start_s": 0.0}
        new_rows = _execute(todo, shares, c, engine, workers, ray_address, progress, journal, validations, tm)
        t_write = time.perf_counter()
        frame = _consolidate(jobs, have, new_rows, out_path, work)
        tm["write_s"] = time.perf_counter() - t_write
    finally:
        if out_path is None or not journal.exists() or journal.stat().st_size == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            # the shipped traces are rebuilt on a rerun; the journal is what resumes
            shutil.rmtree(work / "traces", ignore_errors=True)
    return SweepResult(frame, best(frame, objective), c["obj_col"], c["higher"], len(todo), skipped,
                       time.perf_counter() - t_start, str(out_path) if out_path is not None else None, tm,
                       c["matched"])


def sweep(traces, policy=("eevdf",), grid=None, random: int | None = None, seed=0, topology=None,
          overrides=None, spans=None, engine: str = "local", workers: int | None = None, ray_address: str | None = None,
          objective: str = "wait_ns.p99", output=None, progress: bool | None = False,
          format: str | None = None, recorded=None) -> pl.DataFrame:
    """Replay ``traces`` (paths, bundle directories or Trace objects) under every
    configuration of ``grid`` for each ``policy``, on each ``topology``, with each ``seed``.

    ``grid``: {NAME: [values] or "V1,V2" or "START:STOP:STEP"} or a list of
    "NAME=..." strings (``--grid``); any parameter of ``replay.engine.all_params``;
    each policy takes the names it knows. ``random=N`` draws N configurations from the
    grid (deterministic for the first seed) instead of all. ``overrides``: ``--set``
    strings applied to every run. ``spans``: application span logs (``--spans``) added to
    every trace; the span figures become columns (``span.NAME.p99``) and objectives.
    ``recorded``: the machine the traces were recorded on, when they do not carry it
    (``prepare(recorded=)``): each trace must have its CPUs; the rows get a ``recorded``
    column, and the default topology is that machine.
    ``engine``: "local" (a process pool of ``workers``,
    default the CPU count) or "ray" (one task per configuration on ``ray_address``, or a
    local Ray instance). ``output``: a Parquet file, written as rows finish and resumed
    from on a rerun. Returns this sweep's rows as a polars DataFrame, one row per (trace,
    policy, configuration, topology, seed); ``best(df, objective)`` ranks them."""
    return run(traces, policy=policy, grid=grid, random=random, seed=seed, topology=topology,
               overrides=overrides, spans=spans, engine=engine, workers=workers, ray_address=ray_address,
               objective=objective, output=output, progress=progress, format=format, recorded=recorded).frame


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


class _progress_bar:
    """A rich progress bar with an ETA on stderr (when ``enabled``, or None and stderr is a
    terminal); yields a callable advancing it by one."""

    def __init__(self, enabled, total: int, engine: str):
        import sys

        self.show = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.total, self.engine, self.bar = total, engine, None

    def __enter__(self):
        if not self.show:
            return lambda: None
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn(f"sweep ({self.engine})"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("configs"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self.bar.__enter__()
        task = self.bar.add_task("sweep", total=self.total)
        return lambda: self.bar.update(task, advance=1)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _run_pool(todo, shares, n, policies, done, tick) -> None:
    """The local engine: ``n`` worker processes (replay.study._processes.run_pool: plain
    subprocesses and pipes, nothing left behind when the sweep is killed), each loading the
    compiled engine once; at most 2 jobs queued per worker (so an interruption loses only
    those), results handled as they complete."""
    from ._processes import run_pool

    def result(key_row):
        done(*key_row)
        tick()

    run_pool(n, "replay.study.sweeps:_pool_job", ((j, shares[j.share]) for j in todo), result,
             init="replay.study.sweeps:warm", init_args=(list(policies),))


def _run_ray(todo, shares, n, address, done, tick, tm: dict) -> None:
    """The Ray engine: one task per configuration, at most 2 x the cluster's CPUs in flight;
    each trace's prepared copy goes to the object store once."""
    import ray

    started = False
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=n or None, **kw)
        started = True
    pending: list = []
    try:
        payloads = {}
        for token, sh in shares.items():  # each prepared copy into the object store once
            with open(sh.path, "rb") as f:
                payloads[token] = ray.put(pickle.load(f))
        task = ray.remote(num_cpus=1, max_retries=1)(_ray_job)
        tm["start_s"] = time.perf_counter() - tm["submit"]
        window = max(4, 2 * int(ray.cluster_resources().get("CPU", 1)))
        it = iter(todo)
        pending = [task.remote(j, [payloads[j.share]]) for j in itertools.islice(it, window)]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for r in ready:
                try:
                    key, row = ray.get(r)
                except ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(cause, TraceError):
                        raise cause from None
                    raise
                done(key, row)
                tick()
            pending += [task.remote(j, [payloads[j.share]]) for j in itertools.islice(it, window - len(pending))]
    except BaseException:
        for r in pending:
            try:
                ray.cancel(r)
            except Exception:
                pass
        raise
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------------------
# the best configurations
# --------------------------------------------------------------------------------------

def best(frame: pl.DataFrame, objective: str = "wait_ns.p99", top: int = 1) -> pl.DataFrame:
    """The ``top`` best configurations for ``objective`` per (trace, policy, topology,
    overrides), each the median over its seeds (as compare's figures and validate's errors
    are: one seed's luck can move a tail figure by more than the replay's own error),
    against the policy's default configuration:
    ``label`` (the trace's), ``config`` (its parameter values), ``changes`` (those that
    differ from the defaults),
    ``value``, ``default_value``, ``change`` ((value - default) / |default|),
    ``validation_error`` (the magnitude of the replay's own error on this trace for that
    metric, see :func:`validation_key`: relative, or absolute in the metric's unit for
    Jain's index and the share error; null when validation does not measure it) and
    ``beyond_error`` (the change is larger than that error: a difference the replay can
    resolve)."""
    col, higher = objective_direction(objective)
    group = ["trace", "policy", "topology", "overrides"]
    empty = pl.DataFrame(schema={**{c: pl.String for c in group}, "label": pl.String, "config": pl.String,
                                 "changes": pl.String,
                                 "objective": pl.String,
                                 "value": pl.Float64, "default_value": pl.Float64, "change": pl.Float64,
                                 "validation_error": pl.Float64, "beyond_error": pl.Boolean,
                                 "configs": pl.Int64, "seeds": pl.Int64})
    if frame.height == 0 or col not in frame.columns or not (frame[col].dtype.is_numeric()
                                                             or frame[col].dtype == pl.Null):
        return empty
    vkey = validation_key(col)
    labels = (dict(frame.select("trace", "label").drop_nulls().unique("trace").iter_rows())
              if "label" in frame.columns and frame["label"].dtype == pl.String else {})
    f = frame.with_columns(pl.col(col).cast(pl.Float64).alias("_obj"),
                           (pl.col(vkey).cast(pl.Float64).abs() if vkey is not None and vkey in frame.columns
                            else pl.lit(None, pl.Float64)).alias("_verr"))
    per = (f.group_by([*group, "config"], maintain_order=True)
           .agg(pl.col("_obj").median().alias("value"), pl.col("default").first().alias("_default"),
                pl.col("_verr").first().alias("validation_error"), pl.len().alias("seeds")))
    rows = []
    for key, g in per.group_by(group, maintain_order=True):
        d = g.filter(pl.col("_default"))
        dv = d["value"][0] if d.height else None
        dcfg = json.loads(d["config"][0]) if d.height and d["config"][0] else {}
        # ties: the defaults first (no change needed), then the configuration's canonical text
        cand = g.filter(pl.col("value").is_not_null()).sort(["value", "_default", "config"],
                                                             descending=[higher, True, False])
        if cand.height == 0:  # the metric is undefined for this trace (e.g. Jain with < 2 competing tasks)
            cand = d if d.height else g.head(1)
        for r in cand.head(top).iter_rows(named=True):
            v = r["value"]
            change = (v - dv) / abs(dv) if dv not in (None, 0) and v is not None else None
            verr = r["validation_error"]
            # relative errors bound the relative change; absolute ones the difference itself
            moved = change if metric(col).error_is_relative else (None if v is None or dv is None else v - dv)
            cfg = json.loads(r["config"]) if r["config"] else {}
            changes = {k: x for k, x in cfg.items() if k not in dcfg or dcfg[k] != x or type(dcfg[k]) is not type(x)}
            rows.append({**dict(zip(group, key)), "label": labels.get(key[0]) or label_of(str(key[0])),
                         "config": r["config"],
                         "changes": json.dumps(changes, sort_keys=True), "objective": col, "value": v,
                         "default_value": dv, "change": change, "validation_error": verr,
                         "beyond_error": None if moved is None or verr is None else abs(moved) > verr,
                         "configs": g.height, "seeds": r["seeds"]})
    return pl.DataFrame(rows, schema=empty.schema) if rows else empty
