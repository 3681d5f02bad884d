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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
