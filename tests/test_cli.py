"""The command line, run as a user runs it (a subprocess), on committed samples."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import DATA


def run(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr}")
    return p


def test_info_json_has_the_documented_keys():
    out = json.loads(run("info", str(DATA / "panopticon_ftrace.txt"), "--json").stdout)
    for key in ("format", "cpus", "tasks", "duration_ns", "events", "counts", "lost_events",
                "skipped_lines", "warnings"):
        assert key in out
    assert set(out["counts"]) == {"sched_switch", "sched_waking", "sched_wakeup", "sched_wakeup_new",
                                  "sched_migrate_task", "sched_process_fork", "sched_process_exec",
                                  "sched_process_exit", "sched_stat_runtime"}
    assert out["events"] == sum(out["counts"].values()) == 317
    # 21926.770086 .. last event of the file
    assert out["duration_ns"] > 0 and out["format"] == "ftrace"


def test_info_table_runs():
    p = run("info", str(DATA / "catapult_atrace_data_raw"))
    assert "sched_switch" in p.stdout and "72" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["info", "/no/such/trace"], "no such file"),
    (["info", str(DATA / "README.md")], "unknown format"),
    (["info", str(DATA / "panopticon_ftrace.txt"), "--format", "nope"], "unknown format 'nope'"),
])
def test_user_errors_are_one_line_exit_2(args, message):
    p = run(*args, check=False)
    assert p.returncode == 2
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_ingest_then_every_command_reads_the_bundle(tmp_path):
    src = DATA / "tracecompass_trace-critical-path"
    run("ingest", str(src), "-o", str(tmp_path / "b"))
    for name in ("events", "tasks", "cpus", "meta"):
        assert (tmp_path / "b" / f"{name}.parquet").exists()
    a = json.loads(run("info", str(src), "--json").stdout)
    b = json.loads(run("info", str(tmp_path / "b"), "--json").stdout)
    assert a == b


def test_help_does_not_import_numba():
    code = "import sys, replay.present.cli; sys.argv=['schedreplay','--help']\ntry:\n replay.present.cli.main()\nexcept SystemExit: pass\nprint('numba' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip().endswith("False")


def test_metrics_json_keys_and_plot(tmp_path):
    out = json.loads(run("metrics", str(DATA / "panopticon_ftrace.txt"), "--json", "--by", "task",
                         "--plot", str(tmp_path / "cdf.png")).stdout)
    for key in ("wait_ns", "wait_ns_by_cause", "cpu_time_ns", "utilization", "context_switches",
                "involuntary_switches", "migrations", "fairness", "numa", "tasks"):
        assert key in out
    assert set(out["wait_ns"]) == {"count", "mean", "p50", "p90", "p99", "p999", "max"}
    assert set(out["wait_ns_by_cause"]) == {"wakeup", "preempt", "new"}
    assert set(out["migrations"]) >= {"total", "cross_llc", "cross_node"}
    assert set(out["fairness"]) >= {"jain", "share_error", "max_wait_ns"}
    assert set(out["numa"]) >= {"home_fraction", "cross_node_migrations"}
    assert {"tid", "tgid", "comm", "cpu_time_ns", "waits", "wait_ns_p50", "wait_ns_p99", "wait_ns_max"} <= \
        set(out["tasks"][0])
    assert (tmp_path / "cdf.png").read_bytes()[:4] == b"\x89PNG"


def test_metrics_topology_must_cover_the_trace():
    p = run("metrics", str(DATA / "panopticon_ftrace.txt"), "--topology", "1x2x1", check=False)
    assert p.returncode == 2 and "fewer CPUs" in p.stderr and "Traceback" not in p.stderr
    p = run("metrics", str(DATA / "panopticon_ftrace.txt"), "--topology", "2x2x1", "--by", "cpu", "--json")
    assert len(json.loads(p.stdout)["cpus"]) == 4


def test_replay_json_lists_each_warning_once():
    # the replayed schedule carries the replay's warnings, and so does the replay info: the
    # JSON must not repeat them (panopticon has no TGID column, so the classifier warns)
    p = run("replay", str(DATA / "panopticon_ftrace.txt"), "--policy", "infinity", "--json",
            "--param", "futex_classifier=same_tgid_waker", "--param", "futex_window_ns=2000")
    w = json.loads(p.stdout)["warnings"]
    assert any("same_tgid_waker" in x for x in w)
    assert len(w) == len(set(w))


def test_replay_package_re_exports_its_public_api():
    """The names the package docstring uses come from the package itself (imported on first
    use); anything else is an AttributeError."""
    import replay
    from replay import metrics
    from replay.model import schedule, workload
    from replay.study import runs

    assert set(replay.__all__) >= {"replay", "observed_schedule", "measure", "from_schedule", "Workload"}
    assert replay.replay is runs.replay and replay.measure is metrics.measure
    assert replay.observed_schedule is schedule.observed_schedule and replay.from_schedule is workload.from_schedule
    for name in replay.__all__:
        assert getattr(replay, name) is not None
    # the studies are functions, not modules of the same name shadowing them
    from replay.study import comparison, sweeps, validation

    assert replay.compare is comparison.compare and replay.validate is validation.validate
    assert replay.sweep is sweeps.sweep and callable(replay.prepare)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        replay.no_such_name


@pytest.mark.parametrize("args, words", [
    (["metrics"], "metrics: Missing argument 'trace'"),
    (["metrics", str(DATA / "panopticon_ftrace.txt"), "--bogus"], "metrics: No such option: --bogus"),
    (["bogus"], "No such command 'bogus'"),
    (["metrics", str(DATA / "panopticon_ftrace.txt"), "--window-ms", "abc"], "Invalid value for '--window-ms'"),
    (["replay", str(DATA / "panopticon_ftrace.txt"), "--seed", "1.5"], "Invalid value for '--seed'"),
])
def test_usage_errors_are_one_line_and_a_hint(args, words):
    p = run(*args, check=False)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 2, p.stderr
    assert lines[0].startswith("schedreplay: error: ") and words in lines[0]
    assert lines[1].startswith("(see '") and lines[1].endswith(" -h')")  # the program as it was run
    assert "─" not in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("args, words", [
    (["metrics", "@T", "--topology", ""], "--topology '': empty"),
    (["replay", "@T", "--topology", " "], "--topology '': empty"),
    (["compare", "@T", "--policies", ","], "--policies ',': no policy named"),
    (["compare", "@T", "--policies", " , ,"], "no policy named"),
    (["replay", "@T", "--seed", str(10**23)], "64-bit integer"),
    (["compare", "@T", "--seeds", "0"], "--seeds 0: expected 1 to 1000"),
    # a slip that would replay for hours is refused before anything runs
    (["compare", "@T", "--seeds", "100000", "--policies", "observed"], "--seeds 100000: expected 1 to 1000"),
    (["validate", "@T", "--seeds", "1001"], "--seeds 1001: expected 1 to 1000"),
    (["metrics", "@T", "--window-ms", "inf"], "--window-ms must be > 0 and finite"),
    (["metrics", "@T", "--window-ms", "nan"], "--window-ms must be > 0 and finite"),
    (["info", "@T", "--format", ""], "--format '': empty"),
    (["replay", "@T", "--recorded", ""], "--recorded '': empty"),
    (["compare", "@T", "--recorded", "/no/such.yml"], "--recorded '/no/such.yml': expected"),
    (["replay", "@T", "--recorded", "1x3x1"], "the recorded machine (1x3x1) has 3 CPUs but the trace records 4"),
])
def test_arguments_nothing_can_use_are_one_line_exit_2(args, words):
    p = run(*[str(DATA / "panopticon_ftrace.txt") if a == "@T" else a for a in args], check=False)
    assert p.returncode == 2 and words in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_outputs_that_cannot_be_written_are_one_line_exit_2(tmp_path):
    """A folder that exists but takes no files (/proc); the rule for missing folders is
    tested with the output paths."""
    t = str(DATA / "panopticon_ftrace.txt")
    for args in (["ingest", t, "-o", "/proc/schedreplay-bundle"],
                 ["metrics", t, "--plot", "/proc/schedreplay.png"]):
        p = run(*args, check=False)
        lines = [x for x in p.stderr.splitlines() if x.strip() and not x.startswith("schedreplay: compiling")]
        assert p.returncode == 2 and len(lines) == 1, p.stderr
        assert "/proc/schedreplay" in lines[0] and "Traceback" not in p.stderr


def test_an_unknown_parameter_is_said_before_the_trace_is_read(tmp_path):
    """With an empty compile cache, replay, compare and validate name the unknown parameter
    before reading the trace or compiling its kernels (25 s on a fresh install before)."""
    import os

    env = {**os.environ, "SCHEDREPLAY_CACHE_DIR": str(tmp_path / "cache")}
    for args in (["compare", "--policies", "observed,cfs"], ["validate", "--policy", "cfs"],
                 ["replay", "--policy", "cfs"]):
        r = subprocess.run([sys.executable, "-m", "replay", args[0], str(tmp_path / "missing.txt"), *args[1:],
                            "--param", "nosuch=3"], capture_output=True, text=True, env=env, timeout=600)
        errors = [x for x in r.stderr.splitlines() if x.startswith("schedreplay: error:")]
        # the trace does not exist: had it been read first, the error would name it
        assert r.returncode == 2 and len(errors) == 1 and "unknown parameter(s) nosuch" in errors[0], r.stderr
        # only the policies' hooks were compiled (their modules compile when imported): not
        # the reader, the observed schedule or the engine
        compiled = {p.parent.name.split("_")[0] for p in (tmp_path / "cache").rglob("*.nbi")}
        assert compiled <= {"policies"}, (args, compiled)


def test_the_recorded_machine_of_a_board_trace(corpus):
    """The Juno board's trace names no kernel and records no capacities; its LISA platform
    description names Linux 4.19 (so validate replays CFS) and the board (the corpus
    README: Juno, 4.19.0, capacities 446/1024)."""
    trace = corpus / "public" / "lisa" / "trace.txt"
    plat = str(trace) + ".plat_info.yml"
    v = json.loads(run("validate", str(trace), "--topology", plat, "--seeds", "1", "--json").stdout)
    assert v["policy"] == "cfs" and v["topology"] == "juno"
    r = json.loads(run("replay", str(trace), "--recorded", plat, "--policy", "eevdf", "--json").stdout)
    assert r["topology"] == "juno"


def test_the_same_input_and_seed_give_the_same_output_but_for_run_times(tmp_path):
    """README "Determinism": two runs of compare --json, and of replay -o, are identical byte
    for byte once the keys that time the run itself (wall_s) are set aside; a different seed
    draws other latencies (the outputs are not constant)."""
    trace = str(DATA / "panopticon_ftrace.txt")

    def without(text: str, keys=("wall_s",)) -> str:
        def strip(x):
            if isinstance(x, dict):
                return {k: strip(v) for k, v in x.items() if k not in keys}
            return [strip(v) for v in x] if isinstance(x, list) else x
        return json.dumps(strip(json.loads(text)))

    outs = [run("compare", trace, "--seeds", "1", "--seed", s, "--json").stdout for s in ("7", "7", "8")]
    assert without(outs[0]) == without(outs[1])
    assert without(outs[0], ("wall_s", "seed")) != without(outs[2], ("wall_s", "seed"))
    for name in ("a", "b"):
        run("replay", trace, "--policy", "eevdf", "--seed", "7", "-o", str(tmp_path / f"{name}.parquet"))
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
