"""The ``schedreplay`` command line: a thin layer over the Python API.

Heavy modules (polars, numba) are imported inside the commands, so
``schedreplay --help`` stays fast and never compiles anything.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="schedreplay",
    help=(
        "Replay real Linux scheduling traces through CFS, EEVDF, RT and Infinity, and compare "
        "wait time, fairness and NUMA locality with what was recorded.\n\n"
        "TRACE is any supported trace file (ftrace text, trace-cmd report, systrace HTML, "
        "trace.dat, Perfetto; .zst/.gz read directly) or a bundle directory written by "
        "`schedreplay ingest`, or @sample for the sample trace shipped with schedreplay."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # reflows docstring paragraphs to the terminal width
    context_settings={"help_option_names": ["-h", "--help"]},
)

FORMAT_HELP = ("Force a reader instead of detecting the format from the content: ftrace, "
               "trace-cmd-report, systrace, tracedat, perfetto, perfetto-textproto.")
PROGRESS_HELP = "Show a progress bar while reading (default: when stderr is a terminal)."


def _fail(message: str) -> None:
    typer.echo(f"schedreplay: error: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def _user_errors():
    """Turn the project's error type (bad input, bad arguments) into a one-line message and exit 2."""
    from traces.errors import TraceError

    try:
        yield
    except TraceError as e:
        _fail(str(e))
    except (BrokenPipeError, KeyboardInterrupt):
        raise typer.Exit(130)


@contextmanager
def _progress(enabled: Optional[bool], path: str, what: str = "reading"):
    """A rich progress bar over bytes of ``path``; yields the callback or None."""
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show or not os.path.isfile(path) or os.path.getsize(path) < (8 << 20):
        yield None
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    total = os.path.getsize(path)
    with Progress(TextColumn(f"{what} {os.path.basename(path)}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
                  console=_stderr_console()) as bar:
        task = bar.add_task(what, total=total)
        yield lambda done: bar.update(task, completed=done)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _load(path: str, fmt: Optional[str], progress: Optional[bool]):
    import traces

    with _progress(progress, path) as cb:
        return traces.load(path, format=fmt, progress=cb)


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=False))


@app.command()
def info(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """What is in a trace: format, CPUs, tasks, duration, events per tracepoint, lost events.

    `--json` keys: format, cpus (CPUs with scheduler events), tasks (distinct tids > 0),
    duration_ns, events, counts (one key per sched tracepoint), lost_events, skipped_lines,
    warnings, plus path, compression, clock, kernel, cpus_recorded, first_ns, last_ns.
    """
    with _user_errors():
        t = _load(trace, fmt, progress)
        i = t.info()
    if as_json:
        _print_json(i)
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    head = Table.grid(padding=(0, 2))
    head.add_row("file", i["path"])
    head.add_row("format", i["format"] + (f" ({i['compression']})" if i["compression"] else ""))
    if i["kernel"]:
        head.add_row("kernel", i["kernel"])
    if i["clock"]:
        head.add_row("clock", i["clock"])
    head.add_row("duration", f"{i['duration_ns'] / 1e9:.6f} s")
    head.add_row("CPUs", f"{i['cpus']} with events ({i['cpus_recorded']} recorded)")
    head.add_row("tasks", str(i["tasks"]))
    head.add_row("events", f"{i['events']:,}")
    head.add_row("lost events", "some (count unknown)" if i["lost_events"] < 0 else f"{i['lost_events']:,}")
    head.add_row("skipped", f"{i['skipped_lines']:,} non-scheduler events/lines")
    con.print(head)
    counts = Table(title="events per tracepoint", title_justify="left")
    counts.add_column("tracepoint")
    counts.add_column("events", justify="right")
    for k, v in i["counts"].items():
        counts.add_row(k, f"{v:,}")
    con.print(counts)
    for w in i["warnings"]:
        con.print(f"[yellow]warning:[/] {w}", highlight=False)


@app.command()
def ingest(
    trace: str = typer.Argument(..., help="Trace file to read."),
    out: Path = typer.Option(..., "-o", "--out", help="Directory to write the Parquet bundle to."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the trace's info as JSON when done."),
):
    """Read a trace once and write it as a Parquet bundle (events, tasks, cpus, meta).

    Every command that takes a trace also takes the bundle directory, without re-parsing.
    """
    with _user_errors():
        t = _load(trace, fmt, progress)
        if out.exists() and not out.is_dir():
            _fail(f"{out}: exists and is not a directory")
        t.write(out)
        i = t.info()
    if as_json:
        _print_json({**i, "bundle": str(out)})
    else:
        typer.echo(f"wrote {out}/ (events.parquet: {i['events']:,} events, {i['tasks']} tasks, "
                   f"{i['cpus']} CPUs)")
        for w in i["warnings"]:
            typer.echo(f"warning: {w}", err=True)


def _ns(v) -> str:
    """A duration in ns, printed with a readable unit (no space: table cells stay narrow)."""
    from replay.present.plots import fmt_ns

    return fmt_ns(v, sep="")


def _num(v, fmt="{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def _print_metrics(m: dict, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=None if sys.stdout.isatty() else 110)
    t = Table(title=f"wait time (runnable → running): {title}", title_justify="left")
    for col in ("cause", "count", "mean", "p50", "p90", "p99", "p99.9", "max"):
        t.add_column(col, justify="right" if col != "cause" else "left", no_wrap=True)
    rows = [("all", m["wait_ns"])] + list(m["wait_ns_by_cause"].items())
    for name, w in rows:
        t.add_row(name, f"{w['count']:,}", _ns(w["mean"]), _ns(w["p50"]), _ns(w["p90"]), _ns(w["p99"]),
                  _ns(w["p999"]), _ns(w["max"]))
    con.print(t)
    g = Table.grid(padding=(0, 2))
    f, n, mig = m["fairness"], m["numa"], m["migrations"]
    g.add_row("CPU time", f"{_ns(m['cpu_time_ns'])} over {m['n_cpus']} CPUs, utilization {m['utilization']:.1%}")
    g.add_row("context switches", f"{m['context_switches']:,} ({m['involuntary_switches']:,} involuntary)")
    g.add_row("migrations", f"{mig['total']:,} ({mig['cross_llc']:,} cross-LLC, {mig['cross_node']:,} cross-node)")
    g.add_row("fairness", f"Jain {_num(f['jain'])} over {f['jain_tasks']} competing tasks; weighted-share error "
              f"{_num(f['share_error'])} CPUs (max {_num(f['share_error_max'])}) over {f['share_windows']} "
              f"task-windows of {_ns(f['window_ns'])}; longest wait {_ns(f['max_wait_ns'])}")
    if f["jain_by_nice"]:
        g.add_row("Jain by nice", ", ".join(f"{k}: {_num(v)}" for k, v in f["jain_by_nice"].items()))
    g.add_row("NUMA", f"home-node CPU time {_num(n['home_fraction'], '{:.1%}')}, "
              f"{n['cross_node_migrations']:,} cross-node migrations ({n['cross_node_migrations_per_s']:.2f}/s)")
    con.print(g)
    from replay.present.tables import BREAKDOWNS, rich_table

    for key, (what, cols) in BREAKDOWNS.items():
        if key not in m or not isinstance(m[key], list):
            continue
        rows = m[key]
        if key in ("tasks", "processes"):
            rows = sorted(rows, key=lambda r: -r["cpu_time_ns"])[:25]
        more = " (top 25 by CPU time; --json has all)" if len(rows) < len(m[key]) else ""
        con.print(rich_table(rows, cols, f"by {what}{more}"))
    for w in m["warnings"]:
        con.print(f"[yellow]warning:[/] {w}", highlight=False)


@app.command()
def metrics(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    topology: Optional[str] = typer.Option(
        None, "--topology", "-t",
        help="Machine the trace ran on: 'host' (this machine's /sys), a spec SOCKETSxCORESxTHREADS "
             "(e.g. 2x16x2: one LLC and NUMA node per socket), or a JSON/TOML file. Default: what the "
             "trace records (usually one node, one LLC, no SMT)."),
    by: Optional[str] = typer.Option(None, "--by", help="Also break down by task, process, cpu or class."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the wait-time CDF by cause (PNG/SVG/PDF)."),
    window_ms: float = typer.Option(100.0, "--window-ms", help="Fairness window for the weighted-share error."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Wait time, CPU time, switches, migrations, fairness and NUMA locality of the recorded schedule.

    Waits start at sched_waking (else sched_wakeup) for a wakeup, at the switch-out for a
    preemption, at sched_wakeup_new for a new task, and end at the next switch-in; percentiles
    are nearest-rank. Every definition is in the README ("Metrics").
    """
    if by is not None and by not in ("task", "process", "cpu", "class"):
        _fail(f"--by {by!r}: expected task, process, cpu or class")
    if not window_ms > 0:
        _fail(f"--window-ms must be > 0 (got {window_ms})")
    with _user_errors():
        from replay import metrics as M
        from replay.model import topology as T
        from replay.model.schedule import observed_schedule

        t = _load(trace, fmt, progress)
        topo = T.resolve(topology, t)
        measured = M.measure_all(observed_schedule(t), topo, window_ns=int(window_ms * 1e6), by=by)
        m = {"trace": t.path, "topology": topo.name, **measured.metrics}
        if plot is not None:
            from replay.present.plots import wait_cdf

            w = measured.waits
            series = {name: w.filter(w["cause_name"] == name)["wait_ns"].to_numpy() for name in M.CAUSES}
            wait_cdf(series, plot, title=f"wait time by cause: {os.path.basename(t.path)}")
    if as_json:
        _print_json(m)
    else:
        _print_metrics(m, os.path.basename(t.path))
        if plot is not None:
            typer.echo(f"wrote {plot}")


def _parse_params(items: Optional[list[str]]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            _fail(f"--param {it!r}: expected NAME=VALUE (see --list-params)")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _list_params(policy: str, as_json: bool) -> None:
    from policies._params import table
    from replay.sim import all_params

    rows = table(all_params(policy))
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"parameters of a replay with --policy {policy} (set with --param NAME=VALUE)",
              title_justify="left")
    for c in ("name", "default", "unit", "spec", "meaning"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r["name"], str(r["default"]), r["unit"], r["section"], r["doc"])
    Console(width=None if sys.stdout.isatty() else 140).print(t)


POLICY_HELP = "Scheduler policy to replay through: eevdf (Linux 6.18), cfs (Linux 6.5), infinity (Infinity v4)."
SET_HELP = ("What-if override SELECTOR:CHANGES (repeatable): select by comm=GLOB, tid=N, tgid=N; change "
            "policy=fair|batch|idle|fifo|rr, rtprio=1..99, nice=-20..19, cpus=LIST. "
            "Example: --set 'comm=llama*:policy=fifo,rtprio=50'")


def _parse_sets(items):
    from replay.model.overrides import parse_all

    return parse_all(items)
PARAM_HELP = "Override a parameter, NAME=VALUE (repeatable; durations take ns, us, ms or s). --list-params shows all."
TOPOLOGY_HELP = ("Machine to replay on: 'host', a spec SOCKETSxCORESxTHREADS (e.g. 2x16x2) or a JSON/TOML file. "
                 "Default: the trace's recorded topology.")


@app.command("replay")
def replay_cmd(
    trace: str = typer.Argument(None, help="Trace file or bundle directory."),
    policy: str = typer.Option("eevdf", "--policy", "-p", help=POLICY_HELP),
    topology: Optional[str] = typer.Option(None, "--topology", "-t", help=TOPOLOGY_HELP),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP),
    seed: int = typer.Option(0, "--seed", help="Seed (the same seed and inputs give identical output)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Write the replayed schedule (intervals) "
                                                                  "as Parquet."),
    perfetto: Optional[Path] = typer.Option(None, "--perfetto", help="Write the replayed schedule as a Perfetto "
                                            "trace (FILE.pftrace: sched_switch/sched_waking, compact_sched) to "
                                            "open in the Perfetto UI next to the original."),
    as_json: bool = typer.Option(False, "--json", help="Print the replayed schedule's metrics as JSON."),
    list_params: bool = typer.Option(False, "--list-params", help="List the parameters and exit."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Replay a trace's workload through a scheduler policy and measure the new schedule.

    The workload (what each task asked of the scheduler: CPU bursts, and which task woke
    which at what point of its own progress) is rebuilt from the trace, then simulated;
    README "How replay works" explains the model. --json has the keys of `metrics --json`
    plus policy, topology, params, events_simulated and wall_s.
    """
    with _user_errors():
        from policies import get_policy

        get_policy(policy)
        if list_params:
            _list_params(policy, as_json)
            return
        if trace is None:
            _fail("missing TRACE (or use --list-params)")
        from replay import metrics as M
        from replay.model.prepared import prepare
        from replay.sim import simulate

        t = _load(trace, fmt, progress)
        p = prepare(t)
        topo = p.topology(topology)
        sched, info = simulate(p.workload, policy, topo, _parse_params(param), seed, _parse_sets(set_),
                               p.latencies, p.tasks, p.unavailable_cpus(topo), p.is_recorded(topo))
        m = M.measure(sched, topo)
        if out is not None:
            import pyarrow.parquet as pq

            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(sched.intervals.to_arrow(), out, compression="zstd")
        exported = None
        if perfetto is not None:
            from replay.present.export import schedule_to_perfetto

            exported = schedule_to_perfetto(sched, perfetto, trace=t)
    result = {"trace": t.path, "policy": info.policy, "topology": info.topology, "params": info.params,
              "seed": seed, "events_simulated": info.events_simulated, "wall_s": info.wall_s, **m}
    result["warnings"] = list(dict.fromkeys(m["warnings"] + info.warnings))  # the schedule carries the replay's too
    if as_json:
        _print_json(result)
    else:
        typer.echo(f"replayed {os.path.basename(t.path)} through {policy} on {info.topology}: "
                   f"{info.events_simulated:,} events in {info.wall_s:.2f} s")
        _print_metrics(result, f"{policy} replay of {os.path.basename(t.path)}")
        if out is not None:
            typer.echo(f"wrote {out}")
    if exported is not None:
        typer.echo(f"wrote {exported.path} ({exported.events:,} events; open it in the Perfetto UI)",
                   err=as_json)
        for w in exported.warnings:
            typer.echo(f"warning: {w}", err=True)


def _compare_table(res: dict) -> None:
    """The comparison (``Comparison.to_dict()``) as a table fitted to the terminal."""
    from rich.console import Console

    from replay.present.tables import compare_table

    con = Console(width=None if sys.stdout.isatty() else 160)
    con.print(compare_table(res, con.width))
    v = res.get("validation")
    if v:
        con.print(f"validation ({v['policy']} replayed on the recorded machine vs the recording): wait p50 "
                  f"{_num(v['wait_p50_rel_err'], '{:+.1%}')}, p99 {_num(v['wait_p99_rel_err'], '{:+.1%}')}, per-task "
                  f"CPU time mean {_num(v['cpu_time_rel_err_mean'], '{:.1%}')}; differences smaller than these are "
                  f"within the replay's own error. Verdict: {v['verdict']}.", highlight=False)
        for w in v.get("warnings") or []:
            con.print(f"[yellow]validation:[/] {w}", highlight=False)
        if v["verdict"] == "unreliable":
            con.print("[bold red]The replay of this trace is unreliable:[/] " + "; ".join(v["verdict_reasons"][:4])
                      + ". Treat its counterfactual figures as indications, not predictions "
                      "(`schedreplay validate` has every figure).", highlight=False)


@app.command()
def compare(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    policies: str = typer.Option("observed,cfs,eevdf,infinity", "--policies",
                                 help="Comma-separated: observed (the recording) and policies to replay."),
    topology: Optional[list[str]] = typer.Option(None, "--topology", "-t", help=TOPOLOGY_HELP + " Repeatable."),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP + " Each policy takes the ones it knows."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    seed: int = typer.Option(0, "--seed", help="Seed for every replay."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of runs (policy, topology, params, metrics)."),
    perfetto: Optional[Path] = typer.Option(None, "--perfetto", help="Directory to write every run's schedule to "
                                            "as a Perfetto trace (POLICY-TOPOLOGY.pftrace), to open in the "
                                            "Perfetto UI."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report "
                                          "(FILE.html: wait-time CDFs, busiest tasks, per-CPU utilisation, "
                                          "NUMA locality, parameters, validation error, this table)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Compare the recording with replays under other policies and on other machines.

    One row per (policy, topology): wait p50/p99/max, Jain fairness, NUMA home-node share,
    migrations, context switches, the change against `observed`, and beside every
    counterfactual figure the replay's own error (validate: the recorded policy replayed on
    the recorded machine, compared with the recording).
    """
    with _user_errors():
        from replay.study.comparison import compare as run_compare

        t = _load(trace, fmt, progress)
        if perfetto is not None and perfetto.exists() and not perfetto.is_dir():
            _fail(f"--perfetto {perfetto}: exists and is not a directory")
        res = run_compare(t, [p.strip() for p in policies.split(",") if p.strip()], topology or [None],
                          params=_parse_params(param), overrides=_parse_sets(set_), seed=seed,
                          keep_schedules=perfetto is not None)
        written = _compare_outputs(res, t, perfetto, report)
    if as_json:
        _print_json(res.to_dict())
    else:
        _compare_table(res.to_dict())
    for line in written:
        typer.echo(line, err=as_json)


def _compare_outputs(res, trace, perfetto: Optional[Path], report: Optional[Path]) -> list[str]:
    """Write the Perfetto traces of a comparison's runs (one per run into the directory
    ``perfetto``; the runs kept their schedules) and its HTML report; returns the
    "wrote ..." lines to print."""
    import re

    lines = []
    if perfetto is not None:
        from replay.present.export import schedule_to_perfetto

        perfetto.mkdir(parents=True, exist_ok=True)
        for run in res.runs:
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{run.policy}-{run.topology}") + ".pftrace"
            ex = schedule_to_perfetto(run.schedule, perfetto / name, trace=trace)
            lines.append(f"wrote {ex.path} ({ex.events:,} events)")
            lines += [f"warning: {run.policy} on {run.topology}: {w}" for w in ex.warnings]
    if report is not None:
        from replay.present.report import write_report

        lines.append(f"wrote {write_report(res, report)}")
    return lines


def _parse_limits(items: Optional[list[str]]) -> dict[str, float]:
    """--max-error METRIC=FRACTION: METRIC is a validation error key (wait_p99_rel_err) or a
    metric key (wait_ns.p99, fairness.jain) whose error key the metric catalog gives."""
    from replay.metrics.catalog import metric

    out = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep:
            _fail(f"--max-error {it!r}: expected METRIC=FRACTION, e.g. wait_p99_rel_err=0.1")
        k = k.strip()
        key = k if k.endswith(("_rel_err", "_abs_err", "_ks")) else metric(k).error_key
        if key is None:
            _fail(f"--max-error {it!r}: validate does not measure the error of {k} (give an error key such as "
                  "wait_p99_rel_err, jain_abs_err, wait_preempt_p50_rel_err; `validate --json` lists them)")
        try:
            out[key] = abs(float(v.strip().rstrip("%")) / (100 if v.strip().endswith("%") else 1))
        except ValueError:
            _fail(f"--max-error {it!r}: {v!r} is not a number (a fraction such as 0.1, or 10%)")
    return out


@app.command()
def validate(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    policy: Optional[str] = typer.Option(None, "--policy", "-p", help="Policy that recorded the trace "
                                         "(default: eevdf for Linux >= 6.6, from the trace's kernel version)."),
    topology: Optional[str] = typer.Option(None, "--topology", "-t", help="Recorded machine (default: the "
                                           "trace's)."),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP),
    max_error: Optional[list[str]] = typer.Option(None, "--max-error", help="A gate for CI: exit 1 when the "
                                                  "error of METRIC exceeds FRACTION (METRIC=FRACTION, "
                                                  "repeatable; METRIC an error key such as wait_p99_rel_err or "
                                                  "a metric such as wait_ns_by_cause.preempt.p99; FRACTION 0.1 "
                                                  "or 10%). A figure that cannot be measured fails too."),
    require: Optional[str] = typer.Option(None, "--require", help="A gate for CI: exit 1 unless the verdict is "
                                          "at least this good (good or rough)."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds to replay (each draws the recorded wakeup latencies "
                              "anew); every error is the median over them."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """How far a replay under the recorded policy is from the recording: the replay's own error bar,
    figure by figure, and a one-word verdict (good, rough, unreliable).

    Relative errors are (replayed - observed) / observed: wait count, p50, p90, p99 overall and per
    cause of wait (wakeup, preempt, new), the longest wait, per-task CPU time (mean and max of
    |error| over tasks with >= 1 ms), context switches and migrations; absolute errors for Jain's
    index and the weighted-share error; the Kolmogorov-Smirnov distance between the recorded and
    replayed wait distributions. The verdict is the worst of the figures it judges (README
    "validate" has the thresholds). --json keys: README "validate".
    """
    from replay.study.validation import VERDICTS

    if require is not None and require not in VERDICTS[:2]:
        _fail(f"--require {require!r}: expected good or rough")
    limits = _parse_limits(max_error)
    with _user_errors():
        from replay.study.validation import validate as run_validate

        t = _load(trace, fmt, progress)
        if seeds < 1:
            _fail(f"--seeds {seeds}: expected >= 1")
        v = run_validate(t, policy=policy, topology=topology, params=_parse_params(param), seeds=seeds)
    failed = []
    for key, lim in limits.items():
        err = v.get(key)
        if err is None:
            failed.append(f"{key}: not measured on this trace (no such waits or figure)")
        elif abs(err) > lim:
            failed.append(f"{key} = {err:+.4g}, beyond the limit ±{lim:g}")
    if require is not None and VERDICTS.index(v["verdict"]) > VERDICTS.index(require):
        failed.append(f"verdict {v['verdict']}, --require {require}")
    if as_json:
        _print_json(v)
    else:
        _validation_table(v, os.path.basename(t.path))
    for f in failed:
        typer.echo(f"schedreplay: validation gate failed: {f}", err=True)
    if failed:
        raise typer.Exit(1)


def _validation_table(v: dict, name: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from replay.present.tables import VERDICT_STYLE, error_value_text, fmt_metric, get, validation_rows
    from replay.study.validation import figure_verdict

    con = Console(width=None if sys.stdout.isatty() else 110)
    tb = Table(title=f"replay under {v['policy']} vs the recording: {name}", title_justify="left")
    for c in ("figure", "observed", "replayed", "error", "verdict"):
        tb.add_column(c, justify="left" if c in ("figure", "verdict") else "right")
    o, r = v["observed"], v["replayed"]
    for label, mkey, ekey in validation_rows(o):
        err = v.get(ekey)
        fv = figure_verdict(ekey, err) or ""
        if mkey is None:
            obs, rep = ("", "") if not ekey.startswith("cpu_time") else (f"{v['cpu_time_tasks']} tasks", "")
        else:
            obs, rep = fmt_metric(mkey, get(o, mkey)), fmt_metric(mkey, get(r, mkey))
        text = error_value_text(ekey, err)
        if ekey.startswith("cpu_time") and v.get("cpu_time_rel_err_max") is not None:
            text += f", max {v['cpu_time_rel_err_max']:.1%}"
        tb.add_row(label, obs, rep, text, Text(fv, style=VERDICT_STYLE.get(fv, "")))
    con.print(tb)
    style = VERDICT_STYLE[v["verdict"]]
    con.print(Text.assemble("verdict: ", (v["verdict"], style),
                            "" if v["verdict"] != "unreliable" else
                            " — counterfactual figures of this trace are not to be trusted beyond their error bars"))
    for reason in v["verdict_reasons"]:
        con.print(f"  {reason}", highlight=False)
    for w in v["warnings"]:
        con.print(f"[yellow]warning:[/] {w}", highlight=False)


@app.command()
def sweep(
    trace: list[str] = typer.Argument(..., help="Trace files or bundle directories (each is swept)."),
    policy: Optional[list[str]] = typer.Option(None, "--policy", "-p", help=POLICY_HELP + " Repeatable "
                                               "(default: eevdf)."),
    grid: Optional[list[str]] = typer.Option(None, "--grid", "-g", help="Parameter values to sweep, NAME=V1,V2,... "
                                             "or NAME=START:STOP:STEP (inclusive; durations take ns, us, ms, s). "
                                             "Repeatable: the grid is the product. Any --param of the policies "
                                             "(replay --list-params); each policy takes the names it knows."),
    random: Optional[int] = typer.Option(None, "--random", help="Draw N configurations from the grid instead "
                                         "of running all (deterministic for --seed)."),
    seed: Optional[list[int]] = typer.Option(None, "--seed", help="Replay seed (repeatable: every configuration "
                                             "runs with each); the first also seeds --random. Default 0."),
    topology: Optional[list[str]] = typer.Option(None, "--topology", "-t", help=TOPOLOGY_HELP + " Repeatable."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP + " Applied to every run."),
    engine: str = typer.Option("local", "--engine", help="local: a process pool on this machine; ray: one Ray "
                               "task per configuration (pip install 'schedreplay\\[ray]')."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Worker processes (local; default: the "
                                          "CPU count) or CPUs of the local Ray instance."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to use (default: start a "
                                              "local Ray instance)."),
    objective: str = typer.Option("wait_ns.p99", "--objective", help="Metric column to rank configurations by. "
                                  "Lower is better except fairness.jain*, numa.home_fraction and utilization; "
                                  "min:METRIC / max:METRIC force the direction."),
    top: int = typer.Option(1, "--top", help="Best configurations shown per trace, policy and topology."),
    out: Path = typer.Option(..., "-o", "--out", help="Parquet file of the results (one row per run). Rows are "
                             "kept as they finish; rerunning with the same file skips the rows already there."),
    as_json: bool = typer.Option(False, "--json", help="Print the best configurations as JSON."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Show a progress bar with an "
                                            "ETA (default: when stderr is a terminal)."),
):
    """Sweep policy parameters: replay traces under a grid (or a random sample) of configurations.

    One output row per (trace, policy, parameter values, topology, seed) with every metric of
    `metrics --json` as a column (wait_ns.p99, fairness.jain, migrations.cross_node, ...), the
    run's wall time and the replay's validation error on that trace (wait_p50_rel_err, ...). The
    policy's default configuration is always run; the table at the end shows the best
    configuration for --objective, its change against the defaults, and whether that change is
    larger than the replay's own error.
    """
    if top < 1:
        _fail(f"--top {top}: expected >= 1")
    show = sys.stderr.isatty() if progress is None else progress
    with _user_errors():
        from replay.study.sweeps import best, run

        try:
            res = run(trace, policy=policy or ["eevdf"], grid=grid, random=random, seed=seed or [0],
                      topology=topology or [None], overrides=set_, engine=engine, workers=workers,
                      ray_address=ray_address, objective=objective, output=out, progress=show, format=fmt,
                      status=(lambda msg: typer.echo(msg, err=True)) if show else None)
        except KeyboardInterrupt:
            typer.echo("interrupted: the finished rows are kept; rerun the same command to resume", err=True)
            raise
        b = res.best if top == 1 else best(res.frame, objective, top=top)
    if as_json:
        _print_json({"output": res.output, "rows": res.frame.height, "executed": res.executed,
                     "skipped": res.skipped, "wall_s": res.wall_s, "objective": res.objective,
                     "higher_is_better": res.higher_is_better, "best": b.to_dicts()})
        return
    from rich.console import Console

    con = Console(width=None if sys.stdout.isatty() else 160)
    con.print(f"{res.frame.height:,} runs ({res.executed:,} now, {res.skipped:,} from before) in "
              f"{res.wall_s:.1f} s; wrote {res.output}", highlight=False)
    from replay.present.tables import best_table

    con.print(best_table(b, res.higher_is_better))


DEMO_TOPOLOGIES = (None, "2x8x2")
DEMO_POLICIES = ("observed", "cfs", "eevdf", "infinity")


@app.command()
def demo(
    report: Path = typer.Option(Path("schedreplay-demo.html"), "--report", help="Where to write the HTML report."),
    no_report: bool = typer.Option(False, "--no-report", help="Print the table only; write no report."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of a table."),
):
    """Compare policies on the sample trace shipped with schedreplay, and write an HTML report.

    The sample (@sample) is a 2-thread LLM-style decode loop competing with a nice-10 batch job
    on a 2-vCPU Linux 6.18 machine. The demo replays it under cfs, eevdf and infinity on the
    recorded machine and on a 2-socket 2x8x2 one, prints the comparison with the recording
    and writes schedreplay-demo.html (--report to change, --no-report to skip). The first run
    compiles the replay engine (numba; cached on disk afterwards).
    """
    import time

    t0 = time.perf_counter()
    with _user_errors():
        import traces
        from replay.study.comparison import compare as run_compare

        t = traces.load(traces.SAMPLE_NAME)
        if not as_json:
            i = t.info()
            typer.echo(f"schedreplay demo: {os.path.basename(t.path)} ({i['duration_ns'] / 1e9:.1f} s, "
                       f"{i['tasks']} tasks on {i['cpus']} CPUs) replayed under "
                       f"{', '.join(DEMO_POLICIES[1:])} on the recorded machine and on "
                       f"{', '.join(x for x in DEMO_TOPOLOGIES if x)}; the first run compiles the engine "
                       "(a minute or two)...", err=True)
        res = run_compare(t, DEMO_POLICIES, DEMO_TOPOLOGIES)
        written = [] if no_report else _compare_outputs(res, t, None, report)
    if as_json:
        _print_json(res.to_dict())
    else:
        _compare_table(res.to_dict())
    for line in written:
        typer.echo(line, err=as_json)
    if not as_json:
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s", err=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
