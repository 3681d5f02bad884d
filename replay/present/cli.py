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

SPANS_HELP = ("Application spans from a log the application wrote, to measure (and replay) its own latency: "
              "FILE[:key=column,...], a CSV or Parquet file with one row per span; keys tid, start, end, name "
              "(default columns tid, start_ns, end_ns, name; times in ns of the trace's clock), end_tid, group, "
              "label=TEXT (the name when there is no name column), unit=ns|us|ms|s. Repeatable. Example: "
              "--spans tokens.csv:start=start_mono_ns,end=end_mono_ns,name=phase. Markers in the trace "
              "(atrace B/E, S/F; Perfetto slices) are read without this option.")
FORMAT_HELP = ("Force a reader instead of detecting the format from the content: ftrace, "
               "trace-cmd-report, systrace, tracedat, perfetto, perfetto-textproto.")
PROGRESS_HELP = "Show a progress bar while reading (default: when stderr is a terminal)."


def _fail(message: str) -> None:
    typer.echo(f"schedreplay: error: {message}", err=True)
    raise typer.Exit(2)


def _width() -> int | None:
    """The width tables are fitted to: the terminal's when stdout is one (None: rich asks
    it), else $COLUMNS, else 100."""
    if sys.stdout.isatty():
        return None
    try:
        return max(int(os.environ.get("COLUMNS", "")), 40)
    except ValueError:
        return 100


def _console():
    from rich.console import Console

    return Console(width=_width())


def _announce() -> None:
    """Say once on stderr before numba compiles anything (a first run compiles for a
    minute or two); loading compiled kernels from the cache says nothing."""
    from traces._numba import announce_compiles

    announce_compiles(lambda msg: typer.echo(msg, err=True))


def _compile_beside(policies) -> None:
    """On a first run, compile the engine and ``policies`` in a second process while this
    one reads the trace (replay/sim/warm.py; nothing when they are cached). Called after
    the command's own checks, just before the trace is read."""
    from replay.sim import warm

    warm.start([p for p in policies if p != "observed"])


#: what a file written by --plot may be, by suffix
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def _out(option: str, path: Optional[Path], kind: str = "file") -> Optional[Path]:
    """The one rule for every output path (README "Output files"): the folder it goes in
    must exist — a missing one is an error (exit 2), never created; a file output must not
    be a directory; a directory output (ingest -o, compare --perfetto) is created itself
    when missing, and must not be a file. Checked before any work is done."""
    if path is None:
        return None
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        _fail(f"{option} {path}: the folder {parent} {what} (output folders are not created; create it first)")
    if not os.access(parent, os.W_OK | os.X_OK):
        _fail(f"{option} {path}: cannot write into the folder {parent}")
    if kind == "file" and path.is_dir():
        _fail(f"{option} {path}: is a directory; give a file name")
    if kind == "dir" and path.exists() and not path.is_dir():
        _fail(f"{option} {path}: exists and is not a directory")
    return path


def _check_args(topology=None, seed=None, option="--topology") -> None:
    """Arguments typer lets through but nothing can use: an empty --topology (leave the
    option out for the recorded machine) and a --seed beyond 64 bits."""
    for t in ([topology] if isinstance(topology, str) else topology or []):
        if t is not None and not t.strip():
            _fail(f"{option} '': empty; give 'host', a spec such as 2x16x2 or a JSON/TOML/YAML file "
                  "(leave the option out for the recorded machine)")
    # a machine that does not need the trace is checked before the trace is read (and before
    # its kernels compile, up to a minute on a fresh install): a mistake in it is said at once
    for t in ([topology] if isinstance(topology, str) else topology or []):
        if t is not None and t not in ("recorded",):
            from replay.model.topology import resolve
            from traces.errors import TraceError

            try:
                resolve(t)
            except TraceError as e:
                _fail(str(e).replace("--topology", option, 1))
    for s in ([seed] if isinstance(seed, int) else seed or []):
        if not -(2**63) <= s < 2**63:
            _fail(f"--seed {s}: expected a 64-bit integer")


def _check_seeds(seeds: int) -> None:
    from replay.study.runs import check_seeds
    from traces.errors import TraceError

    try:
        check_seeds(seeds, "--seeds")
    except TraceError as e:
        _fail(str(e))


def _label(path) -> str:
    from replay.model.prepared import label_of

    return label_of(path)


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
    except OSError as e:  # an output that cannot be written (inputs that cannot be read are TraceErrors)
        _fail((f"{e.filename}: " if e.filename else "") + f"cannot write: {e.strerror or e}")


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

    if fmt is not None and not fmt.strip():
        _fail("--format '': empty; leave the option out to detect the format")
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
        _announce()
        t = _load(trace, fmt, progress)
        i = t.info()
    if as_json:
        _print_json(i)
        return
    from rich.console import Console
    from rich.table import Table

    con = Console(width=_width())
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
    _out("-o", out, "dir")
    with _user_errors():
        _announce()
        t = _load(trace, fmt, progress)
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
    """A duration in ns, printed with a readable unit (no space: table cells stay narrow);
    "—" when there is none (a statistic of no waits)."""
    from replay.present.plots import fmt_ns
    from replay.present.tables import MISSING

    return MISSING if v is None else fmt_ns(v, sep="")


def _num(v, fmt="{:.3f}") -> str:
    from replay.present.tables import MISSING

    return MISSING if v is None else fmt.format(v)


def _pct(v, signed: bool = True) -> str:
    from replay.present.tables import MISSING, fmt_pct

    return MISSING if v is None else fmt_pct(v, signed=signed, digits=1)


def _wait_table(m: dict, title: str):
    """Wait statistics overall and by cause (``m``: metrics, or their "focus")."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("cause", "count", "mean", "p50", "p90", "p99", "p99.9", "max"):
        t.add_column(col, justify="right" if col != "cause" else "left", no_wrap=True)
    rows = [("all", m["wait_ns"])] + list(m["wait_ns_by_cause"].items())
    for name, w in rows:
        t.add_row(name, f"{w['count']:,}", _ns(w["mean"]), _ns(w["p50"]), _ns(w["p90"]), _ns(w["p99"]),
                  _ns(w["p999"]), _ns(w["max"]))
    return t


def _site_table(at: dict, title: str, width):
    """Where the longest waits happened (``at``: metrics "wait_at"): the longest waits
    overall, then the longest of each cause not among them."""
    from replay.present.tables import WAIT_SITE_COLUMNS, rich_table

    rows = list((at.get("all") or {}).get("worst") or [])
    seen = {(r["tid"], r["start_ns"]) for r in rows}
    for cause, sites in at.items():
        if cause != "all" and sites and (sites["max"]["tid"], sites["max"]["start_ns"]) not in seen:
            rows.append(sites["max"])
            seen.add((sites["max"]["tid"], sites["max"]["start_ns"]))
    return rich_table(rows, WAIT_SITE_COLUMNS[2:], title, width=width) if rows else None


def _print_focus(con, m: dict) -> None:
    """The focused tasks' own figures of one schedule (metrics --focus)."""
    f = m["focus"]
    con.print(_wait_table(f, f"the selected tasks ({_focus_text(f)}): wait time"))
    con.print(f"their CPU time {_ns(f['cpu_time_ns'])} ({_pct(f['cpu_share'], False)} of all tasks' CPU time), "
              f"{f['switches']:,} context switches ({f['involuntary']:,} involuntary), {f['migrations']:,} "
              "migrations", highlight=False)
    t = _site_table(f.get("wait_at") or {}, "their longest waits (at: when each began, in the trace's clock)",
                    con.width)
    if t is not None:
        con.print(t)


#: span names the terminal shows (those with the most spans; --json has all)
SPAN_NAMES_SHOWN = 12


def _print_spans(con, figures: dict) -> None:
    """metrics "span": one row per span name, its latency and what its thread went
    through (mean per span)."""
    from replay.present.tables import SPAN_NAME_COLUMNS, rich_table, span_rows

    rows = span_rows(figures, SPAN_NAMES_SHOWN)
    more = f" (the {len(rows)} with the most spans of {len(figures)}; --json has all)" if len(rows) < len(figures) \
        else ""
    con.print(rich_table(rows, SPAN_NAME_COLUMNS, "application spans: latency, and what the thread did in it "
                         f"(mean per span){more}", width=con.width, keep=("name",)))


def _print_span_comparison(con, res: dict) -> None:
    """compare: per span name (those with the most spans) one row per run, with the
    replay's own error on each figure."""
    from replay.present.tables import compare_table, span_columns
    from replay.study.validation import SPAN_NAMES_JUDGED, span_names

    runs = res["runs"]
    v = res.get("validation") or {}
    src = ", ".join(res.get("spans") or [])
    for name in span_names(runs[0], SPAN_NAMES_JUDGED):
        n = runs[0]["span"][name]["count"]
        seeds = _seeds_of(runs)
        title = (f"application span {name!r} ({n:,} spans, from {src}): latency" + (
            f"; ± = the replay's own error on it under {v['policy']}" if v else "")
            + (f"; replays: the median of {seeds} seeds" if seeds > 1 else ""))
        con.print(compare_table(res, con.width, span_columns(name), title))


def _focus_text(f: dict) -> str:
    names = ", ".join(f["comms"][:4]) + (", ..." if len(f["comms"]) > 4 else "")
    return f"{' or '.join(f['selectors'])}: {f['tasks']} task{'s' if f['tasks'] != 1 else ''} ({names})"


def _print_metrics(m: dict, title: str) -> None:
    from rich.table import Table

    con = _console()
    if m.get("span"):
        _print_spans(con, m["span"])
    if "focus" in m:
        _print_focus(con, m)
    con.print(_wait_table(m, f"wait time (runnable → running): {title}"))
    if m.get("wait_at"):
        t = _site_table(m["wait_at"], "where the longest waits happened (at: when each began, in the trace's "
                        "clock)", con.width)
        if t is not None:
            con.print(t)
    g = Table.grid(padding=(0, 2))
    f, n, mig = m["fairness"], m["numa"], m["migrations"]
    g.add_row("CPU time", f"{_ns(m['cpu_time_ns'])} over {m['n_cpus']} CPUs, utilization {m['utilization']:.1%}; "
              f"{m['n_tasks']} tasks ran")
    g.add_row("context switches", f"{m['context_switches']:,} ({m['involuntary_switches']:,} involuntary)")
    g.add_row("migrations", f"{mig['total']:,} ({mig['cross_llc']:,} cross-LLC, {mig['cross_node']:,} cross-node)")
    g.add_row("fairness", f"Jain {_num(f['jain'])} over {f['jain_tasks']} competing tasks; weighted-share error "
              f"{_num(f['share_error'])} CPUs (max {_num(f['share_error_max'])}) over {f['share_windows']} "
              f"task-windows of {_ns(f['window_ns'])}; longest wait {_ns(f['max_wait_ns'])}")
    if f["jain_by_nice"]:
        g.add_row("Jain by nice", ", ".join(f"{k}: {_num(v)}" for k, v in f["jain_by_nice"].items()))
    g.add_row("NUMA", f"home-node CPU time {_pct(n['home_fraction'], False)}, "
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
        con.print(rich_table(rows, cols, f"by {what}{more}", width=con.width, keep=ENTITY_KEEP[key]))
    for w in m["warnings"]:
        con.print(f"[yellow]warning:[/] {w}", highlight=False)


#: columns a breakdown table always shows (the entity's name)
ENTITY_KEEP = {"tasks": ("tid", "comm"), "processes": ("tgid", "comm"), "cpus": ("cpu",), "classes": ("class",)}
BY_HELP = "Also break down by task, process, cpu or class (--json has every row)."
FOCUS_HELP = ("Put the selected tasks' own figures first (repeatable; a task any of them selects): "
              "comm=GLOB, tid=N, tgid=N, as --set selects. Example: --focus 'comm=python*'")


def _check_by(by: Optional[str]) -> None:
    if by is not None and by not in ("task", "process", "cpu", "class"):
        _fail(f"--by {by!r}: expected task, process, cpu or class")


@app.command()
def metrics(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    topology: Optional[str] = typer.Option(
        None, "--topology", "-t",
        help="Machine the trace ran on: 'host' (this machine's /sys), a spec SOCKETSxCORESxTHREADS "
             "(e.g. 2x16x2: one LLC and NUMA node per socket), or a JSON/TOML file. Default: what the "
             "trace records (usually one node, one LLC, no SMT)."),
    by: Optional[str] = typer.Option(None, "--by", help=BY_HELP),
    focus: Optional[list[str]] = typer.Option(None, "--focus", help=FOCUS_HELP),
    spans: Optional[list[str]] = typer.Option(None, "--spans", help=SPANS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write the wait-time CDF by cause (PNG/SVG/PDF; the "
                                        "folder must exist)."),
    window_ms: float = typer.Option(100.0, "--window-ms", help="Fairness window for the weighted-share error."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Wait time, CPU time, switches, migrations, fairness and NUMA locality of the recorded schedule.

    Waits start at sched_waking (else sched_wakeup) for a wakeup, at the switch-out for a
    preemption, at sched_wakeup_new for a new task, and end at the next switch-in; percentiles
    are nearest-rank. Every definition is in the README ("Metrics").
    """
    _check_by(by)
    _check_args(topology)
    if not 0 < window_ms < 1e12:  # (inf and nan included)
        _fail(f"--window-ms must be > 0 and finite (got {window_ms})")
    _out("--plot", plot)
    if plot is not None and plot.suffix.lower() not in PLOT_SUFFIXES:
        _fail(f"--plot {plot}: unknown image format {plot.suffix or '(no suffix)'!r}; expected "
              f"{', '.join(PLOT_SUFFIXES)}")
    with _user_errors():
        _announce()
        from replay import metrics as M
        from replay.model import topology as T
        from replay.model.overrides import parse_focus
        from replay.model.prepared import with_span_logs
        from replay.model.schedule import observed_schedule

        sel = parse_focus(focus)
        t = _load(trace, fmt, progress)
        topo = T.resolve(topology, t)
        sched = observed_schedule(t)
        if spans:
            sched, _ = with_span_logs(sched, t, spans)
        measured = M.measure_all(sched, topo, window_ns=int(window_ms * 1e6), by=by, focus=sel)
        m = {"trace": t.path, "label": _label(t.path), "topology": topo.name, **measured.metrics}
        if plot is not None:
            from replay.present.plots import wait_cdf

            w = measured.waits
            series = {name: w.filter(w["cause_name"] == name)["wait_ns"].to_numpy() for name in M.CAUSES}
            wait_cdf(series, plot, title=f"wait time by cause: {_label(t.path)}")
    if as_json:
        _print_json(m)
    else:
        _print_metrics(m, _label(t.path))
        if plot is not None:
            typer.echo(f"wrote {plot}")


def _parse_params(items: Optional[list[str]]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            _fail(f"--param {it!r}: expected NAME=VALUE (`schedreplay replay --policy P --list-params` lists them)")
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

    t = Table(title=f"parameters of a replay with --policy {policy} (set with --param NAME=VALUE; spec: "
                    "docs/specs/)", title_justify="left")
    for c in ("name", "default", "unit", "spec", "meaning"):
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(r["name"], str(r["default"]), r["unit"], r["section"], r["doc"])
    Console(width=_width()).print(t)


POLICY_HELP = ("Scheduler policy to replay through: eevdf (Linux 6.18), cfs (Linux 6.5), infinity (Infinity v4), "
               "a policy an installed package provides (`schedreplay policies` lists them), the path of a policy "
               "file (./my_policy.py) or an importable module name (docs/writing-a-policy.md).")
SET_HELP = ("What-if override SELECTOR:CHANGES (repeatable): select by comm=GLOB, tid=N, tgid=N; change "
            "policy=fair|batch|idle|fifo|rr, rtprio=1..99, nice=-20..19, cpus=LIST. "
            "Example: --set 'comm=llama*:policy=fifo,rtprio=50'. A selector that matches no task, or a change that "
            "cannot apply to any task it matches, is an error.")


def _parse_sets(items):
    from replay.model.overrides import parse_all

    return parse_all(items)
PARAM_HELP = ("Override a parameter, NAME=VALUE (repeatable; durations take ns, us, ms or s). "
              "`schedreplay replay --policy P --list-params` shows all.")
TOPOLOGY_HELP = ("Machine to replay on: 'host', a spec SOCKETSxCORESxTHREADS (e.g. 2x16x2), a JSON/TOML/YAML file "
                 "or a LISA plat_info.yml. Default: the trace's recorded topology.")
RECORDED_HELP = ("The machine the trace was recorded on, when the trace does not carry it: a topology file or a "
                 "LISA plat_info.yml (README \"Topology\"). Its CPU capacities make each burst the work done at the "
                 "recorded speed (a burst recorded on a little core runs faster on a big one); its kernel version "
                 "stands in for one the trace does not name. Also the default --topology.")


@app.command("replay")
def replay_cmd(
    trace: str = typer.Argument(None, help="Trace file or bundle directory."),
    policy: str = typer.Option("eevdf", "--policy", "-p", help=POLICY_HELP),
    topology: Optional[str] = typer.Option(None, "--topology", "-t", help=TOPOLOGY_HELP),
    recorded: Optional[str] = typer.Option(None, "--recorded", help=RECORDED_HELP),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP),
    seed: int = typer.Option(0, "--seed", help="Seed (the same seed and inputs give identical output)."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    by: Optional[str] = typer.Option(None, "--by", help=BY_HELP),
    focus: Optional[list[str]] = typer.Option(None, "--focus", help=FOCUS_HELP + " Also replays the recorded "
                                              "policy, for the selected tasks' own error bars."),
    spans: Optional[list[str]] = typer.Option(None, "--spans", help=SPANS_HELP),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Write the replayed schedule (intervals) "
                                                                  "as Parquet (the folder must exist)."),
    perfetto: Optional[Path] = typer.Option(None, "--perfetto", help="Write the replayed schedule as a Perfetto "
                                            "trace (FILE.pftrace: sched_switch/sched_waking, compact_sched) to "
                                            "open in the Perfetto UI next to the original (the folder must exist)."),
    as_json: bool = typer.Option(False, "--json", help="Print the replayed schedule's metrics as JSON."),
    list_params: bool = typer.Option(False, "--list-params", help="List the parameters and exit."),
    list_policies: bool = typer.Option(False, "--list-policies", help="List the policies --policy takes (as "
                                       "`schedreplay policies`) and exit."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Replay a trace's workload through a scheduler policy and measure the new schedule.

    The workload (what each task asked of the scheduler: CPU bursts, and which task woke
    which at what point of its own progress) is rebuilt from the trace, then simulated;
    README "How replay works" explains the model. --json has the keys of `metrics --json`
    plus policy, topology, params, seed, overrides (each --set with the number of tasks it
    matched), events_simulated and wall_s; with --focus also recorded_focus (the selected
    tasks' figures in the recording) and validation (their own errors).
    """
    _check_by(by)
    _check_args(topology, seed)
    _check_args(recorded, option="--recorded")
    _out("-o", out)
    _out("--perfetto", perfetto)
    with _user_errors():
        _announce()  # the policies' kernels compile when their modules are imported
        if list_policies:
            _print_policies(as_json)
            return
        from replay.sim.params import policy_module

        policy_module(policy)
        if list_params:
            _list_params(policy, as_json)
            return
        if trace is None:
            _fail("missing TRACE (or use --list-params)")
        from replay.model.overrides import parse_all, parse_focus
        from replay.model.prepared import prepare
        from replay.study.comparison import check_params
        from replay.study.comparison import compare as run_compare
        from replay.study.runs import checked_overrides, replay_run

        sets, sel = parse_all(set_), parse_focus(focus)
        params = _parse_params(param)
        check_params([policy], params)  # before the trace is read and its kernels compile
        _compile_beside([policy])
        t = _load(trace, fmt, progress)
        p = prepare(t, spans=spans or (), recorded=recorded)
        topo = p.topology(topology)
        summary = checked_overrides(p, sets, topo).summary
        keep = out is not None or perfetto is not None
        res = None
        if sel:
            res = run_compare(p, ["observed", policy], [topo], params=params, overrides=sets, seed=seed,
                              keep_schedules=keep, focus=sel, by=by, seeds=1)
            run = res.runs[1]
        else:
            run = replay_run(p, policy, topo, params, seed, sets, keep_schedule=keep, by=by)
        if out is not None:
            import pyarrow.parquet as pq

            pq.write_table(run.schedule.intervals.to_arrow(), out, compression="zstd")
        exported = None
        if perfetto is not None:
            from replay.present.export import schedule_to_perfetto

            exported = schedule_to_perfetto(run.schedule, perfetto, trace=t)
    result = {"trace": t.path, "label": p.label, "policy": run.policy, "topology": run.topology,
              "params": run.params, "seed": seed, "overrides": summary, "events_simulated": run.events_simulated,
              "wall_s": run.wall_s, **run.metrics}
    result["warnings"] = list(run.warnings)  # the schedule's and the replay's, each once
    if res is not None:
        result["recorded_focus"] = res.runs[0].metrics["focus"]
        result["validation"] = res.validation
    if as_json:
        _print_json(result)
    else:
        con = _console()
        con.print(f"replayed {p.label} through {policy} on {run.topology}: {run.events_simulated:,} events in "
                  f"{run.wall_s:.2f} s", highlight=False)
        if res is not None:
            _print_focus_comparison(con, res.to_dict())
        _print_metrics({k: v for k, v in result.items() if k != "focus"}, f"{policy} replay of {p.label}")
        _print_overrides(summary, printed=set(result["warnings"]))
        if out is not None:
            typer.echo(f"wrote {out}")
    if exported is not None:
        typer.echo(f"wrote {exported.path} ({exported.events:,} events; open it in the Perfetto UI)",
                   err=as_json)
        for w in exported.warnings:
            typer.echo(f"warning: {w}", err=True)


def _print_overrides(summary: list[dict], printed=()) -> None:
    """What each --set matched (and its warnings not already printed)."""
    con = _console()
    for o in summary:
        names = ", ".join(o["comms"][:4]) + (", ..." if len(o["comms"]) > 4 else "")
        con.print(f"--set {o['set']!r}: {o['tasks']} task{'s' if o['tasks'] != 1 else ''} ({names})",
                  highlight=False)
        for w in o["warnings"]:
            if w not in printed:
                typer.echo(f"warning: {w}", err=True)


def _print_focus_comparison(con, res: dict) -> None:
    """The selected tasks' own figures, recorded vs every replay, with their own error bars,
    and where each run's longest wait of theirs happened."""
    from replay.present.tables import FOCUS_COLUMNS, WAIT_SITE_COLUMNS, compare_table, rich_table, site_rows

    runs = res["runs"]
    f = runs[0]["focus"]
    v = res.get("validation") or {}
    fv = v.get("focus_verdict")
    title = (f"the selected tasks ({_focus_text(f)}): their own figures"
             + (f"; ± = their own error when {v['policy']} is replayed on the recorded machine "
                f"({f.get('tasks')} tasks, {v.get('focus_recorded_waits', 0):,} recorded waits): {fv}" if fv else ""))
    con.print(compare_table(res, con.width, FOCUS_COLUMNS, title, verdict_key="focus_verdict"))
    for reason in v.get("focus_verdict_reasons") or []:
        con.print(f"  {reason}", highlight=False)
    rows = [r for r in site_rows(runs, "focus.wait_at.all") if "wait_ns" in r]
    if rows:
        con.print(rich_table(rows, WAIT_SITE_COLUMNS, "their longest wait in each run (at: when it began, in the "
                             "trace's clock)", width=con.width, keep=("policy", "topology")))


def _seeds_of(runs: list[dict]) -> int:
    """How many seeds each replay of a comparison ran (its figures their median)."""
    return max([r.get("seeds", 1) for r in runs] + [1])


def _compare_table(res: dict) -> None:
    """The comparison (``Comparison.to_dict()``) as tables fitted to the terminal: the
    focused tasks first (--focus), then every task, where each run's longest wait happened,
    the validation, what each --set matched and the breakdown (--by)."""
    from replay.present.tables import (BREAKDOWNS, WAIT_SITE_COLUMNS, breakdown_columns, breakdown_ids,
                                       breakdown_rows, compare_table, rich_table, seed_noise, site_rows,
                                       unrecorded_note)

    con = _console()
    runs = res["runs"]
    if runs and runs[0].get("span"):
        _print_span_comparison(con, res)
    if res.get("focus"):
        _print_focus_comparison(con, res)
    label = res.get("label") or _label(res["trace"])
    v = res.get("validation")
    n = _seeds_of(runs)
    title = (f"policies compared on {label}" + (f"; replay fidelity under {v['policy']}: {v['verdict']} (± = the "
                                                "replay's own error on each figure, from validate)" if v else "")
             + (f"; each replayed figure the median of {n} seeds" if n > 1 else ""))
    con.print(compare_table(res, con.width, title=title))
    if unrecorded_note(res):
        con.print(f"[yellow]note:[/] {unrecorded_note(res)}", highlight=False)
    rows = [r for r in site_rows(runs) if "wait_ns" in r]
    if rows:
        con.print(rich_table(rows, WAIT_SITE_COLUMNS, "the longest wait in each run (at: when it began, in the "
                             "trace's clock" + ("; of a replay's seeds, the one of the median longest wait" if n > 1 else "")
                             + ")",
                             width=con.width, keep=("policy", "topology")))
    noise = seed_noise(res)
    if noise:
        con.print(f"seed noise (half of each figure's spread over the {n} seeds, the largest over the replays; "
                  f"--json: seed_range): {', '.join(noise)}. Each replayed figure above is the median of its seeds; "
                  "a difference between two replays within this may be the draw's.", highlight=False)
    if v:
        con.print(f"validation ({v['policy']} replayed on the recorded machine vs the recording): wait p50 "
                  f"{_pct(v['wait_p50_rel_err'])}, p99 {_pct(v['wait_p99_rel_err'])}, per-task CPU time mean "
                  f"{_pct(v['cpu_time_rel_err_mean'], False)}; differences smaller than these are within the "
                  f"replay's own error. Verdict: {v['verdict']}.", highlight=False)
        for w in v.get("warnings") or []:
            con.print(f"[yellow]validation:[/] {w}", highlight=False)
        if v["verdict"] == "unreliable":
            con.print("[bold red]The replay of this trace is unreliable:[/] " + "; ".join(v["verdict_reasons"][:4])
                      + ". Treat its counterfactual figures as indications, not predictions "
                      "(`schedreplay validate` has every figure).", highlight=False)
    for o in res.get("overrides") or []:
        names = ", ".join(o["comms"][:4]) + (", ..." if len(o["comms"]) > 4 else "")
        con.print(f"--set {o['set']!r}: {o['tasks']} task{'s' if o['tasks'] != 1 else ''} ({names})",
                  highlight=False)
        for w in o["warnings"]:
            con.print(f"[yellow]warning:[/] {w}", highlight=False)
    by = res.get("by")
    if by:
        key = {"task": "tasks", "process": "processes", "cpu": "cpus", "class": "classes"}[by]
        only = None
        if res.get("focus") and key in ("tasks", "processes"):
            only = runs[0]["focus"]["tids" if key == "tasks" else "tgids"]
        ids = breakdown_ids(runs, key, only)
        what = BREAKDOWNS[key][0]
        note = "the selected tasks';" if only is not None else f"top {len(ids)} by recorded CPU time;"
        con.print(rich_table(breakdown_rows(runs, key, ids), breakdown_columns(key),
                             f"by {what} ({note} --json has all)", width=con.width,
                             keep=ENTITY_KEEP[key] + ("policy", "topology")))


@app.command()
def compare(
    trace: str = typer.Argument(..., help="Trace file or bundle directory."),
    policies: str = typer.Option("observed,cfs,eevdf,infinity", "--policies",
                                 help="Comma-separated: observed (the recording) and policies to replay."),
    topology: Optional[list[str]] = typer.Option(None, "--topology", "-t", help=TOPOLOGY_HELP + " Repeatable."),
    recorded: Optional[str] = typer.Option(None, "--recorded", help=RECORDED_HELP),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP + " Each policy takes the ones it knows."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
    focus: Optional[list[str]] = typer.Option(None, "--focus", help=FOCUS_HELP),
    spans: Optional[list[str]] = typer.Option(None, "--spans", help=SPANS_HELP),
    by: Optional[str] = typer.Option(None, "--by", help=BY_HELP),
    seed: int = typer.Option(0, "--seed", help="The first seed of every replay."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per replay (--seed, --seed + 1, ...): each figure is the "
                              "median over them, as each error of the validation is (a replay draws the recorded "
                              "latencies anew with each seed); 1 for speed, at most 1000."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON: trace, label, overrides, "
                                 "focus, by, runs (policy, topology, params, metrics), validation."),
    perfetto: Optional[Path] = typer.Option(None, "--perfetto", help="Directory to write every run's schedule to "
                                            "as a Perfetto trace (POLICY-TOPOLOGY.pftrace), to open in the "
                                            "Perfetto UI (created if missing; its parent folder must exist)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a self-contained HTML report "
                                          "(FILE.html: wait-time CDFs, busiest tasks, per-CPU utilisation, "
                                          "NUMA locality, parameters, validation error, this table; the folder "
                                          "must exist)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=FORMAT_HELP),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=PROGRESS_HELP),
):
    """Compare the recording with replays under other policies and on other machines.

    One row per (policy, topology): wait p50/p99/max, Jain fairness, NUMA home-node share,
    migrations, context switches, the change against `observed`, and beside every
    counterfactual figure the replay's own error (validate: the recorded policy replayed on
    the recorded machine, compared with the recording). --focus puts the selected tasks'
    own figures first, with their own errors; every run's longest wait is shown with its
    task, CPU and time. Each replay's figures are the median over --seeds seeds (--json
    gives their spread: seed_range).
    """
    _check_by(by)
    _check_args(topology, seed)
    _check_seeds(seeds)
    _check_args(recorded, option="--recorded")
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        _fail(f"--policies {policies!r}: no policy named; give observed and policies to replay, e.g. "
              "observed,eevdf")
    _out("--perfetto", perfetto, "dir")
    _out("--report", report)
    with _user_errors():
        _announce()
        from replay.model.prepared import prepare
        from replay.study.comparison import check_params
        from replay.study.comparison import compare as run_compare

        check_params(names, _parse_params(param))  # before the trace is read and its kernels compile
        _compile_beside(names)
        t = _load(trace, fmt, progress)
        res = run_compare(prepare(t, spans=spans or (), recorded=recorded), names, topology or [None],
                          params=_parse_params(param), overrides=_parse_sets(set_), seed=seed,
                          keep_schedules=perfetto is not None, focus=focus, by=by, seeds=seeds)
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

        perfetto.mkdir(exist_ok=True)
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
    topology: Optional[str] = typer.Option(None, "--topology", "-t", help="The machine the trace was recorded "
                                           "on, when the trace does not carry it (default: the trace's): as "
                                           "--recorded of replay and compare."),
    param: Optional[list[str]] = typer.Option(None, "--param", help=PARAM_HELP),
    max_error: Optional[list[str]] = typer.Option(None, "--max-error", help="A gate for CI: exit 1 when the "
                                                  "error of METRIC exceeds FRACTION (METRIC=FRACTION, "
                                                  "repeatable; METRIC an error key such as wait_p99_rel_err or "
                                                  "a metric such as wait_ns_by_cause.preempt.p99; FRACTION 0.1 "
                                                  "or 10%). A figure that cannot be measured fails too."),
    require: Optional[str] = typer.Option(None, "--require", help="A gate for CI: exit 1 unless the verdict is "
                                          "at least this good (good or rough)."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds to replay (each draws the recorded wakeup latencies "
                              "anew); every error is the median over them (1 to 1000)."),
    focus: Optional[list[str]] = typer.Option(None, "--focus", help="Also the selected tasks' own errors "
                                              "(comm=GLOB, tid=N, tgid=N; repeatable), with their own verdict."),
    spans: Optional[list[str]] = typer.Option(None, "--spans", help=SPANS_HELP + " Their errors (p50, p99, ...) "
                                              "are reported, and judged for the names with the most spans."),
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
    "validate" has the thresholds). --focus adds the selected tasks' own errors (focus_*) and
    their verdict. --json keys: README "validate".
    """
    from replay.study.validation import VERDICTS

    if require is not None and require not in VERDICTS[:2]:
        _fail(f"--require {require!r}: expected good or rough")
    _check_args(topology)
    limits = _parse_limits(max_error)
    with _user_errors():
        _announce()
        from replay.model.prepared import prepare
        from replay.study.validation import validate as run_validate

        _check_seeds(seeds)
        if policy is not None:
            from replay.study.comparison import check_params

            check_params([policy], _parse_params(param))  # before the trace is read and its kernels compile
        _compile_beside([policy] if policy is not None else [])  # the recorded policy is known once it is read
        t = _load(trace, fmt, progress)
        v = run_validate(prepare(t, spans=spans or (), recorded=topology), policy=policy, params=_parse_params(param),
                         seeds=seeds, focus=focus)
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
        _validation_table(v, _label(t.path))
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

    con = Console(width=_width())
    tb = Table(title=f"replay under {v['policy']} vs the recording: {name}", title_justify="left")
    # the replayed column and each error are the median over the seeds (of an odd number of
    # seeds, the error of the median figure is the median error)
    seeds = v.get("seeds", 1)
    tb.add_column("figure", no_wrap=True, overflow="ellipsis", max_width=40)
    tb.add_column("observed", justify="right")
    tb.add_column("replayed" + (f" (median of {seeds} seeds)" if seeds > 1 else ""), justify="right")
    tb.add_column("error" + (" (median)" if seeds > 1 else ""), justify="right")
    tb.add_column("verdict")
    o, r = v["observed"], v.get("replayed_median") or v["replayed"]
    if v.get("compared_wait_ns"):
        # the overall wait figures of the waits compared (a cause the recording cannot
        # measure is left out of the replay's too), as their errors are
        w = v["compared_wait_ns"]
        r = {**r, "wait_ns": w, "fairness": {**r["fairness"], "max_wait_ns": w["max"]}}
    for label, mkey, ekey in validation_rows(o):
        err = v.get(ekey)
        fv = figure_verdict(ekey, err) or ""
        if mkey is None:
            obs, rep = ("", "") if not ekey.startswith("cpu_time") else (f"{v['cpu_time_tasks']} tasks", "")
        else:
            obs, rep = fmt_metric(mkey, get(o, mkey)), fmt_metric(mkey, get(r, mkey))
        text = error_value_text(ekey, err)
        if ekey.startswith("cpu_time") and v.get("cpu_time_rel_err_max") is not None:
            text += f", max {_pct(v['cpu_time_rel_err_max'], False)}"
        tb.add_row(label, obs, rep, text, Text(fv, style=VERDICT_STYLE.get(fv, "")))
    con.print(tb)
    style = VERDICT_STYLE[v["verdict"]]
    con.print(Text.assemble("verdict: ", (v["verdict"], style),
                            "" if v["verdict"] != "unreliable" else
                            " — counterfactual figures of this trace are not to be trusted beyond their error bars"))
    for reason in v["verdict_reasons"]:
        con.print(f"  {reason}", highlight=False)
    if v.get("focus_verdict"):
        con.print(Text.assemble(f"the selected tasks' own figures ({_focus_text(o['focus'])}): ",
                                (v["focus_verdict"], VERDICT_STYLE[v["focus_verdict"]])))
        for reason in v["focus_verdict_reasons"]:
            con.print(f"  {reason}", highlight=False)
    inf = v.get("inferred") or {}
    if inf.get("yields"):
        who = ", ".join(inf["yielding_tasks"][:4]) + (", ..." if len(inf["yielding_tasks"]) > 4 else "")
        con.print(f"inferred from the recording: {inf['yields']:,} sched_yield calls by "
                  f"{len(inf['yielding_tasks'])} task(s) ({who}); --param yields=off replays without them",
                  highlight=False)
    if inf.get("task_groups"):
        how = ("replayed in them (--param autogroup=off: one run queue per CPU)" if inf.get("task_groups_replayed")
               else "replayed flat (--param autogroup=on schedules them as Linux's autogroups)")
        con.print(f"inferred from the recording: {inf['task_groups']} task group(s) outside the root group, the "
                  f"largest {', '.join(inf['largest_task_groups'])}; {how}", highlight=False)
    if inf.get("confined_tasks"):
        who = ", ".join(inf["confined_tasks"][:4]) + (", ..." if len(inf["confined_tasks"]) > 4 else "")
        con.print(f"inferred from the recording: {len(inf['confined_tasks'])} task(s) kept to some CPUs ({who}); "
                  "--param infer_affinity=off replays them on every CPU", highlight=False)
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
    recorded: Optional[str] = typer.Option(None, "--recorded", help=RECORDED_HELP + " Applies to every trace; the "
                                           "rows get a 'recorded' column."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP + " Applied to every run."),
    spans: Optional[list[str]] = typer.Option(None, "--spans", help=SPANS_HELP + " Applied to every trace (a "
                                              "log's rows that do not fit a trace are counted warnings); the "
                                              "span figures become columns span.NAME.p99, ... and objectives."),
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
    out: Path = typer.Option(..., "-o", "--out", help="Parquet file of the results (one row per run; the folder "
                             "must exist). Rows are kept as they finish; rerunning with the same file skips the "
                             "rows already there."),
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
    _check_args(topology, seed)
    _check_args(recorded, option="--recorded")
    _out("-o", out)
    show = sys.stderr.isatty() if progress is None else progress
    with _user_errors():
        _announce()
        from replay.study.sweeps import best, run

        try:
            res = run(trace, policy=policy or ["eevdf"], grid=grid, random=random, seed=seed or [0],
                      topology=topology or [None], overrides=set_, spans=spans, engine=engine, workers=workers,
                      recorded=recorded,
                      ray_address=ray_address, objective=objective, output=out, progress=show, format=fmt,
                      status=(lambda msg: typer.echo(msg, err=True)) if show else None)
        except KeyboardInterrupt:
            typer.echo("interrupted: the finished rows are kept; rerun the same command to resume", err=True)
            raise
        b = res.best if top == 1 else best(res.frame, objective, top=top)
    if as_json:
        _print_json({"output": res.output, "rows": res.frame.height, "executed": res.executed,
                     "skipped": res.skipped, "wall_s": res.wall_s, "objective": res.objective,
                     "higher_is_better": res.higher_is_better, "overrides": res.overrides, "best": b.to_dicts()})
        return
    con = _console()
    con.print(f"{res.frame.height:,} runs ({res.executed:,} now, {res.skipped:,} from before) in "
              f"{res.wall_s:.1f} s; wrote {res.output}", highlight=False)
    from replay.present.tables import best_table

    con.print(best_table(b, res.higher_is_better, con.width))
    for t in res.overrides:
        for o in t["overrides"]:
            con.print(f"{t['label']}: --set {o['set']!r} matched {o['tasks']} task{'s' if o['tasks'] != 1 else ''}",
                      highlight=False)
            for w in o["warnings"]:
                con.print(f"[yellow]warning:[/] {w}", highlight=False)


def _print_policies(as_json: bool) -> None:
    """Every policy --policy takes by name (built-in and installed), with its description and
    parameters; an installed one that does not load shows its one-line error instead."""
    from policies import available, get_policy
    from policies._params import table
    from traces.errors import TraceError

    rows = []
    for e in available():
        row = dict(e)
        try:
            mod = get_policy(e["name"])
        except TraceError as err:
            row.update(description=None, params=[], error=str(err))
        else:
            row.update(description=mod.DESCRIPTION, params=table(mod.PARAMS), error=None)
        rows.append(row)
    if as_json:
        _print_json(rows)
        return
    from rich.table import Table

    con = _console()
    t = Table(title="policies (--policy NAME; or the path of a policy file, or a module name: "
                    "docs/writing-a-policy.md)", title_justify="left")
    for c in ("name", "source", "description", "parameters (NAME=default)"):
        t.add_column(c, overflow="fold")
    for r in rows:
        params = ", ".join(f"{p['name']}={p['default']}" for p in r["params"])
        t.add_row(r["name"], r["source"], r["description"] or f"[red]{r['error']}[/]", params)
    con.print(t)


@app.command("policies")
def policies_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list: name, source, target (the module), "
                                 "description, params (name, default, unit, section, doc), error."),
):
    """The policies `--policy` takes by name: the built-in ones and those installed packages
    provide (entry-point group `schedreplay.policies`), each with its description and
    parameters.

    Besides these names, `--policy` takes the path of a policy file (`./my_policy.py`) or an
    importable module name (`mypkg.fifo_fair`): docs/writing-a-policy.md. An installed policy
    that fails to load is listed with its error.
    """
    with _user_errors():
        _announce()
        _print_policies(as_json)


#: examples per invariant of `check` (replay.testing.DEFAULT_EXAMPLES; not imported here:
#: --help loads no numba)
CHECK_EXAMPLES = 50


@app.command()
def check(
    policy: str = typer.Argument(..., help="The policy: a built-in or installed name, a policy file "
                                 "(./my_policy.py) or an importable module name."),
    param: Optional[list[str]] = typer.Option(None, "--param", help="Fix a parameter (policy or engine), "
                                              "NAME=VALUE (repeatable)."),
    vary: Optional[list[str]] = typer.Option(None, "--vary", help="Draw this parameter of the policy from its "
                                             "declared range in every example (repeatable)."),
    examples: int = typer.Option(CHECK_EXAMPLES, "--examples", "-n", help="Examples per invariant (500 or more "
                                 "for a release or a nightly job)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the examples drawn (the same seed draws the same ones)."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Check only this invariant (repeatable): "
                                             "demand, one_cpu_per_task, one_task_per_cpu, affinity, causality, "
                                             "work_conservation, weighted_share, rt_strict, fair_starvation, "
                                             "determinism."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: policy, params, vary, examples, "
                                 "seed, passed, invariants (name, title, passed, examples, seconds, and violation "
                                 "or error)."),
):
    """Check a policy against the fairness invariants on generated workloads and machines.

    Each invariant is tried on hypothesis-generated workloads (CPU hogs of mixed nice
    levels, interactive tasks, forks and exits, wakeup chains, RT load, pinning and
    affinity sets) and topologies (SMT, LLCs, NUMA nodes, big and little cores). A violated invariant is
    printed with its counterexample, shrunk by hypothesis: the workload as a small table
    and the schedule where it breaks. Exit code 1 when any invariant fails, 2 for a
    policy that does not load. The same checks are a Python module for your own tests:
    docs/testing-a-policy.md.
    """
    if examples < 1:
        _fail(f"--examples {examples}: expected >= 1")
    with _user_errors():
        _announce()
        from replay.testing import check_policy

        def show(o):
            if as_json:
                return
            mark = "ok  " if o.passed else "FAIL"
            typer.echo(f"{mark} {o.name}: {o.title} ({o.examples} examples, {o.seconds:.1f} s)")
            if o.violation is not None:
                typer.echo("\n".join("     " + line for line in str(o.violation).splitlines()))
            elif o.error is not None:
                typer.echo(f"     {o.error}")
                if o.case is not None:
                    from replay.testing import workload_text

                    typer.echo(f"     on this workload (shrunk; {o.case.topology.n_cpus} CPUs):")
                    typer.echo(workload_text(o.case.workload, indent="       "))

        report = check_policy(policy, params=_parse_params(param), examples=examples, seed=seed, only=only,
                              vary=tuple(vary or ()), progress=show)
    if as_json:
        _print_json(report.to_dict())
    else:
        bad = [o.name for o in report.outcomes if not o.passed]
        typer.echo(f"{report.policy}: {len(report.outcomes) - len(bad)} of {len(report.outcomes)} invariants hold"
                   + (f"; violated: {', '.join(bad)}" if bad else ""))
    if not report.passed:
        raise typer.Exit(1)


DEMO_TOPOLOGIES = (None, "2x8x2")
DEMO_POLICIES = ("observed", "cfs", "eevdf", "infinity")


@app.command()
def demo(
    report: Path = typer.Option(Path("schedreplay-demo.html"), "--report", help="Where to write the HTML report "
                                "(the folder must exist)."),
    no_report: bool = typer.Option(False, "--no-report", help="Print the table only; write no report."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON instead of a table."),
):
    """Compare policies on the sample trace shipped with schedreplay, and write an HTML report.

    The sample (@sample) is a 2-thread LLM-style decode loop competing with a nice-10 batch job
    on a 2-vCPU Linux 6.18 machine; it ships with the loop's own log of every token
    (tokens.csv, `--spans @sample`). The demo replays it under cfs, eevdf and infinity on the
    recorded machine and on a 2-socket 2x8x2 one, prints the token latency under each (the
    question the sample exists to answer) and the scheduler's figures, compared with the
    recording, and writes schedreplay-demo.html (--report to change, --no-report to skip).
    The first run compiles the replay engine (numba; cached on disk afterwards).
    """
    import time

    t0 = time.perf_counter()
    if not no_report:
        _out("--report", report)
    with _user_errors():
        _announce()
        import traces
        from replay.model.prepared import prepare
        from replay.study.comparison import compare as run_compare
        from replay.study.runs import observed_run

        _compile_beside(DEMO_POLICIES)
        p = prepare(traces.load(traces.SAMPLE_NAME), spans=[traces.sample_spans()])
        if not as_json:
            m = observed_run(p).metrics  # measured once: the comparison and its report reuse it
            typer.echo(f"schedreplay demo: {p.label} ({m['duration_ns'] / 1e9:.1f} s, {m['n_tasks']} tasks ran on "
                       f"{m['n_cpus']} CPUs; {m['span']['decode']['count']} decode tokens in its tokens.csv) "
                       f"replayed under {', '.join(DEMO_POLICIES[1:])} on the recorded machine and on "
                       f"{', '.join(x for x in DEMO_TOPOLOGIES if x)}: what happens to the token latency?", err=True)
        res = run_compare(p, DEMO_POLICIES, DEMO_TOPOLOGIES)
        written = [] if no_report else _compare_outputs(res, p.trace, None, report)
    if as_json:
        _print_json(res.to_dict())
    else:
        _compare_table(res.to_dict())
    for line in written:
        typer.echo(line, err=as_json)
    if not as_json:
        typer.echo(f"done in {time.perf_counter() - t0:.1f} s", err=True)


def _usage_error(e) -> int:
    """A usage error (unknown option or command, missing argument, a value of the wrong
    type): one line naming the command, and a hint where to look; exit code 2."""
    if type(e).__name__ == "NoArgsIsHelpError":  # the help was shown: nothing to add
        return 2
    ctx = getattr(e, "ctx", None)
    path = ctx.command_path if ctx is not None else "schedreplay"
    command = ctx.info_name if ctx is not None and ctx.parent is not None else ""
    message = " ".join(e.format_message().split())
    typer.echo(f"schedreplay: error: {command + ': ' if command else ''}{message}", err=True)
    typer.echo(f"(see '{path} -h')", err=True)
    return 2


def _click_exceptions():
    """The exception classes of the click typer runs on (recent typer versions carry their
    own copy of click)."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def main() -> None:
    """Console-script entry point. Usage errors are one line and a hint (_usage_error),
    not click's boxed message."""
    ex = _click_exceptions()
    try:
        code = app(standalone_mode=False)
    except ex.UsageError as e:
        code = _usage_error(e)
    except ex.ClickException as e:
        e.show()
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except BrokenPipeError:
        code = 0
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
