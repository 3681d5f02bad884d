"""What-if answers about chosen tasks (issue 17): --focus and --by, where waits
happened, --set checked against the trace and the machine, output paths, labels,
figures that never read as zero when they are not, and tables that fit 100 columns.
Expected values are computed here from the schedule's intervals, not read back from
the code under test."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import replay
import traces
from replay import metrics as M
from replay.model import overrides as O
from replay.model.prepared import label_of, prepare, unique_labels
from replay.model.schedule import observed_schedule
from replay.model.topology import resolve as resolve_topology
from traces import schema
from traces.errors import TraceError

from .conftest import DATA

TRACE = DATA / "panopticon_ftrace.txt"  # 4 CPUs, 20 tasks, rcu_preempt is RT: replays in no time
NO_NEW = DATA / "catapult_atrace_data_raw"  # no sched_wakeup_new: no "new" waits


def run(*args, check=True, cwd=None, env=None):
    p = subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True, cwd=cwd,
                       env={**os.environ, **(env or {})})
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr[-3000:]}")
    return p


def one_line_error(p, *words):
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr
    lines = [x for x in p.stderr.strip().splitlines() if not x.startswith("schedreplay: compiling")]
    assert len(lines) == 1 and lines[0].startswith("schedreplay: error:"), p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


# -- independent figures, from the intervals table ------------------------------------------

def _waits(sched) -> pl.DataFrame:
    """Waits by the README's definition: valid runnable intervals ending switched in, with a
    known start and a wakeup/preempt/new cause."""
    iv = sched.intervals
    return iv.filter((pl.col("state") == schema.RUNNABLE) & (pl.col("end") == schema.END_SWITCHED_IN)
                     & pl.col("valid") & (pl.col("wait_start_ns") >= 0)
                     & pl.col("cause").is_in([schema.BEGIN_WAKEUP, schema.BEGIN_PREEMPT, schema.BEGIN_NEW])) \
        .with_columns(wait=pl.col("end_ns") - pl.col("wait_start_ns"))


def _cpu_by_tid(sched) -> dict[int, int]:
    iv = sched.intervals.filter((pl.col("state") == schema.RUNNING) & pl.col("valid"))
    g = iv.group_by("tid").agg((pl.col("end_ns") - pl.col("start_ns")).sum().alias("cpu"))
    return dict(zip(g["tid"].to_list(), g["cpu"].to_list()))


def _nearest_rank(values, q) -> int:
    v = np.sort(np.asarray(values))
    return int(v[max(int(np.ceil(q * len(v))), 1) - 1])


@pytest.fixture(scope="module")
def sample():
    t = traces.load("@sample")
    return t, observed_schedule(t)


def test_focus_figures_are_the_selected_tasks_own(sample):
    t, sched = sample
    m = M.measure(sched, resolve_topology(None, t), focus=["comm=python*"])
    f = m["focus"]
    tasks = t.tasks.with_columns(pl.col("comm").cast(pl.String))
    tids = sorted(r["tid"] for r in tasks.iter_rows(named=True) if fnmatch.fnmatchcase(r["comm"], "python*"))
    assert f["tids"] == tids and f["tasks"] == len(tids) > 1 and f["comms"] == ["python"]
    w = _waits(sched)
    mine = w.filter(pl.col("tid").is_in(tids))["wait"].to_numpy()
    assert f["wait_ns"]["count"] == len(mine)
    for q, key in ((0.5, "p50"), (0.99, "p99"), (1.0, "max")):
        assert f["wait_ns"][key] == _nearest_rank(mine, q), key
    cpu = _cpu_by_tid(sched)
    assert f["cpu_time_ns"] == sum(cpu.get(x, 0) for x in tids)
    assert f["cpu_share"] == pytest.approx(f["cpu_time_ns"] / sum(cpu.values()))
    # the longest wait of theirs, and where it was
    site = f["wait_at"]["all"]["max"]
    assert site["wait_ns"] == mine.max() and site["tid"] in tids and site["comm"] == "python"
    # two selectors are a union; a selector that matches nothing is an error naming it
    both = M.measure(sched, resolve_topology(None, t), focus=["comm=python*", "comm=stress-ng*"])["focus"]
    assert set(both["comms"]) == {"python", "stress-ng", "stress-ng-cpu"}
    with pytest.raises(TraceError, match=r"--focus 'comm=nosuch\*': matches no task"):
        M.measure(sched, resolve_topology(None, t), focus=["comm=nosuch*"])


def test_every_wait_statistic_says_where_it_happened(sample):
    t, sched = sample
    m = M.measure(sched, resolve_topology(None, t), by="task")
    w = _waits(sched)
    iv = sched.intervals
    for cause, code in [("all", None), *M.CAUSES.items()]:
        sel = w if code is None else w.filter(pl.col("cause") == code)
        at = m["wait_at"][cause]
        values = sel["wait"].to_numpy()
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999"), (1.0, "max")):
            site = at[key]
            assert site["wait_ns"] == _nearest_rank(values, q), (cause, key)
            stats = m["wait_ns"] if code is None else m["wait_ns_by_cause"][cause]
            assert site["wait_ns"] == stats[key]
            # the site is a real wait: a runnable interval of that task that began then and ended
            # switched in on that CPU after exactly that long
            hit = iv.filter((pl.col("tid") == site["tid"]) & (pl.col("wait_start_ns") == site["start_ns"])
                            & (pl.col("end_ns") == site["end_ns"]) & (pl.col("cpu") == site["cpu"])
                            & (pl.col("end") == schema.END_SWITCHED_IN))
            assert hit.height == 1, (cause, key, site)
            assert site["end_ns"] - site["start_ns"] == site["wait_ns"]
            assert site["offset_ns"] == site["start_ns"] - sched.start_ns
        worst = [s["wait_ns"] for s in at["worst"]]
        assert worst == sorted(values, reverse=True)[:len(worst)] and len(worst) == min(5, len(values))
    # per task: when its longest wait began
    for r in m["tasks"]:
        mine = w.filter(pl.col("tid") == r["tid"])
        if mine.height == 0:
            assert r["wait_max_at_ns"] is None
            continue
        longest = mine.filter(pl.col("wait") == mine["wait"].max())
        assert r["wait_max_at_ns"] == longest["wait_start_ns"].min()
        assert r["wait_max_cpu"] == longest.sort("wait_start_ns")["cpu"][0]


def test_a_cause_without_waits_has_no_statistics_and_prints_a_dash():
    t = traces.load(str(NO_NEW))
    m = M.measure(observed_schedule(t), resolve_topology(None, t))
    assert m["wait_ns_by_cause"]["new"] == {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None,
                                            "p999": None, "max": None}
    assert m["wait_at"]["new"] is None
    out = run("metrics", str(NO_NEW), env={"COLUMNS": "100"}).stdout
    row = next(line for line in out.splitlines() if re.match(r"│ new\s", line))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[1] == "0" and cells[2:] == ["—"] * 6, row
    assert "0ns" not in row


# -- --set checked against the trace and the machine ---------------------------------------------

@pytest.fixture(scope="module")
def prepared():
    return prepare(str(TRACE))


def _matches(prepared, glob) -> int:
    return sum(fnmatch.fnmatchcase(c, glob) for c in prepared.workload.tasks["comm"].cast(pl.String).to_list())


def test_set_that_matches_no_task_is_an_error_naming_it(prepared):
    with pytest.raises(TraceError, match=r"--set 'comm=nosuch\*:nice=5': selector 'comm=nosuch\*' matches no task"):
        replay.compare(prepared, ("observed", "eevdf"), overrides=["comm=nosuch*:nice=5"])
    for cmd in (["replay", "--policy", "eevdf"], ["compare", "--policies", "observed,eevdf"]):
        one_line_error(run(*cmd[:1], str(TRACE), *cmd[1:], "--set", "tid=999999:nice=5", check=False),
                       "--set 'tid=999999:nice=5'", "matches no task")


def test_sweep_checks_set_before_running(tmp_path):
    p = run("sweep", str(TRACE), "--grid", "base_slice_ns=1ms", "--set", "comm=nosuch:nice=3", "-o",
            str(tmp_path / "s.parquet"), "--workers", "1", check=False)
    one_line_error(p, "comm=nosuch", "matches no task")
    assert not (tmp_path / "s.parquet").exists()


def test_changes_that_cannot_apply_are_errors_or_counted_warnings(prepared):
    topo = prepared.recorded  # 4 CPUs
    kworkers = _matches(prepared, "kworker*")
    assert kworkers > 1
    # rtprio= changes RT tasks only: none of the kworkers is RT
    with pytest.raises(TraceError, match=r"rtprio= changes RT tasks, and none of the \d+ task\(s\) it matches"):
        replay.replay(prepared, policy="eevdf", overrides=["comm=kworker*:rtprio=10"])
    # nice= changes fair tasks only: rcu_preempt is RT
    with pytest.raises(TraceError, match="nice= changes fair tasks"):
        replay.replay(prepared, policy="eevdf", overrides=["comm=rcu_preempt:nice=5"])
    # CPUs the machine lacks: none of them is an error, some a counted warning
    with pytest.raises(TraceError, match=r"cpus=8-9 names no CPU of the 4-CPU machine"):
        replay.replay(prepared, policy="eevdf", overrides=["comm=kworker*:cpus=8-9"])
    every = len(prepared.workload.tasks)
    c = replay.compare(prepared, ("observed", "eevdf"), overrides=["comm=*:rtprio=10", "comm=kworker*:cpus=0-63"])
    rt, cpus = c.overrides
    assert rt["tasks"] == every and cpus["tasks"] == kworkers
    assert any(f"rtprio= applies to 1 of the {every} tasks" in w for w in rt["warnings"]), rt
    assert any("no CPU 4-63 (60 of the 64 CPUs named); the affinity is 0-3 (every CPU: no restriction)" in w
               for w in cpus["warnings"]), cpus
    assert set(rt["warnings"] + cpus["warnings"]) <= set(c.runs[1].warnings)
    # an affinity of every CPU is no restriction: the replay is the one without it (for tasks
    # not pinned to a CPU: an explicit affinity replaces a per-CPU thread's pin)
    wl = prepared.workload.tasks.with_columns(pl.col("comm").cast(pl.String))
    free = wl.group_by("comm").agg((pl.col("pinned_cpu") < 0).all().alias("free")).filter("free")["comm"].sort()
    sel = f"comm={free[0]}:cpus=0-63"
    a, info = replay.replay(prepared, policy="eevdf", topology=topo, overrides=[sel])
    b, _ = replay.replay(prepared, policy="eevdf", topology=topo)
    assert a.intervals.equals(b.intervals)
    assert info.warnings[0].startswith(f"--set {sel!r}: the 4-CPU machine has no CPU 4-63")


def test_json_records_the_overrides_and_what_each_matched(tmp_path):
    out = json.loads(run("replay", str(TRACE), "--policy", "cfs", "--json", "--set", "comm=kworker*:nice=5",
                         "--set", "comm=*:cpus=0-5").stdout)
    p = prepare(str(TRACE))
    assert out["overrides"][0] == {"set": "comm=kworker*:nice=5", "tasks": _matches(p, "kworker*"),
                                   "comms": sorted({c for c in p.workload.tasks["comm"].cast(pl.String).to_list()
                                                    if c.startswith("kworker")})[:10], "warnings": []}
    assert out["overrides"][1]["tasks"] == len(p.workload.tasks)
    assert out["overrides"][1]["warnings"] and out["overrides"][1]["warnings"][0] in out["warnings"]
    c = json.loads(run("compare", str(TRACE), "--policies", "observed,cfs", "--json", "--set",
                       "comm=kworker*:nice=5").stdout)
    assert [o["set"] for o in c["overrides"]] == ["comm=kworker*:nice=5"] and c["overrides"][0]["tasks"] > 1


# -- compare/replay --focus and --by -------------------------------------------------------------

def test_focus_errors_are_the_selected_tasks_own_in_the_validation_replay():
    p = prepare("@sample")
    c = replay.compare(p, ("observed", "cfs"), focus=["comm=python*"])
    v = c.validation
    # the validation replays: the recorded policy (eevdf) on the recorded machine, default
    # parameters, seeds 0, 1, 2; each error is the median of the three
    import statistics

    reps = [replay.replay(p, policy=v["policy"], topology=p.recorded, seed=s)[0] for s in range(v["seeds"])]
    assert v["seeds"] == 3
    tids = c.runs[0].metrics["focus"]["tids"]
    o = _waits(p.schedule).filter(pl.col("tid").is_in(tids))["wait"].to_numpy()
    rs = [_waits(rep).filter(pl.col("tid").is_in(tids))["wait"].to_numpy() for rep in reps]
    assert v["focus_recorded_waits"] == len(o)
    assert v["focus_wait_count_rel_err"] == pytest.approx(statistics.median((len(r) - len(o)) / len(o) for r in rs))
    for q, key in ((0.5, "p50"), (0.99, "p99")):
        want = statistics.median((_nearest_rank(r, q) - _nearest_rank(o, q)) / _nearest_rank(o, q) for r in rs)
        assert v[f"focus_wait_{key}_rel_err"] == pytest.approx(want), key
    co = _cpu_by_tid(p.schedule)
    own = sum(co.get(x, 0) for x in tids)
    want = statistics.median((sum(_cpu_by_tid(rep).get(x, 0) for x in tids) - own) / own for rep in reps)
    assert v["focus_cpu_time_rel_err"] == pytest.approx(want)
    assert v["focus_verdict"] in ("good", "rough", "unreliable") and c.focus == ["comm=python*"]
    # every run carries the selected tasks' figures
    assert all(run_.metrics["focus"]["tids"] == tids for run_ in c.runs)


def test_compare_by_and_focus_on_the_command_line():
    out = run("compare", "@sample", "--policies", "observed,eevdf", "--focus", "comm=python*", "--by", "task",
              env={"COLUMNS": "100"}).stdout
    lines = out.splitlines()
    # the selected tasks first, then every task
    first = next(i for i, x in enumerate(lines) if x.startswith("the selected tasks (comm=python*"))
    assert first < next(i for i, x in enumerate(lines) if x.startswith("policies compared on"))
    assert "their longest wait in each run" in out and "the longest wait in each run" in out
    # --by task with --focus: the selected tasks, one row per run under each
    by = lines[next(i for i, x in enumerate(lines) if x.startswith("by task")):]
    t = traces.load("@sample").tasks.with_columns(pl.col("comm").cast(pl.String))
    python = t.filter(pl.col("comm").str.starts_with("python"))["tid"].to_list()
    shown = [int(m.group(1)) for m in (re.match(r"│\s*(\d+)\s*│", x) for x in by) if m]
    assert sorted(shown) == sorted(python)
    assert sum(1 for x in by if re.search(r"│ (observed|eevdf)\s+│", x)) == 2 * len(python)
    j = json.loads(run("compare", "@sample", "--policies", "observed,eevdf", "--by", "process", "--json").stdout)
    assert j["by"] == "process" and all("processes" in r for r in j["runs"])
    assert all("wait_at" in r for r in j["runs"])
    # replay --by / --focus
    r = json.loads(run("replay", "@sample", "--policy", "infinity", "--by", "cpu", "--focus", "tid=452",
                       "--json").stdout)
    assert len(r["cpus"]) == 2 and r["focus"]["tids"] == [452] and r["recorded_focus"]["tids"] == [452]
    assert "focus_wait_p99_rel_err" in r["validation"]


def test_a_100_column_compare_on_a_capture_shows_every_policy_in_full(corpus):
    trace = corpus / "captures" / "c_infer_torch" / "trace.dat"
    args = ["compare", str(trace), "--set", "comm=python*:policy=fifo,rtprio=50", "--focus", "comm=python*"]
    out = run(*args, env={"COLUMNS": "100"}).stdout
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 100, max(lines, key=len)
    assert "…" not in out
    for policy in ("observed", "cfs", "eevdf", "infinity"):
        # in the focused table, the trace table and the longest-wait tables, in full
        assert len(re.findall(rf"│ {policy}\s+│", out)) >= 4, policy
    # changes are never cut: every ± and change reads whole (a sign, digits, %)
    for line in (x for x in lines if x.startswith("│")):
        for m in re.finditer(r"±[^\s│]*", line):
            assert re.fullmatch(r"±(<?\d+(\.\d+)?%|<?\d\.\d+)", m.group(0)), m.group(0)
        for m in re.finditer(r"\(([^)]*)\)", line):
            assert re.fullmatch(r"[+-]<?\d+(\.\d+)?%|0%", m.group(1)), m.group(0)
    # a wider terminal gets more columns
    wide = run(*args, env={"COLUMNS": "220"}).stdout
    assert "wait p99.9" in wide and "wait p99.9" not in out


# -- figures never read as zero when they are not --------------------------------------------------

def test_an_error_that_rounds_to_zero_is_not_printed_as_zero():
    from replay.present.tables import COMPARE_COLUMNS, error_value_text, fmt_change, fmt_pct

    p99 = next(c for c in COMPARE_COLUMNS if c.key == "wait_ns.p99")
    jain = next(c for c in COMPARE_COLUMNS if c.key == "fairness.jain")
    assert p99.error_text(-0.001) == "±0.1%" and p99.error_text(0.0) == "±0%"
    assert p99.error_text(0.00004) == "±<0.01%" and p99.error_text(0.004) == "±0.4%"
    assert jain.error_text(0.0002) == "±<0.001" and jain.error_text(0.041) == "±0.041"
    assert fmt_change(-0.0004) == "-0.04%" and fmt_change(0.2154) == "+22%" and fmt_change(0.0) == "0%"
    assert error_value_text("wait_p50_rel_err", 0.0004) == "+0.04%"
    assert error_value_text("jain_abs_err", -0.0001) == "-<0.001"
    for x in (1e-9, -1e-9, 3e-4, -0.0049):
        assert re.search(r"[1-9]", fmt_pct(x, signed=True)), x


def test_zero_length_waits_are_counted_and_marked_on_the_cdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from replay.present.plots import draw_wait_cdf, style_wait_cdf

    fig, ax = plt.subplots()
    d = draw_wait_cdf(ax, np.array([0, 0, 0, 5_000, 20_000]), "eevdf")
    style_wait_cdf(ax, "t", [d])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["eevdf (n=5), 60.0% of 0 ns (o at the left edge)"]
    left = ax.get_xlim()[0]
    assert left < 5.0  # below the shortest positive wait (5 µs)
    # the curve starts at the left edge at the share of zero-length waits
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == pytest.approx(left)
    assert marks[0].get_ydata()[0] == pytest.approx(0.6)
    plt.close(fig)
    # the SVG of `metrics --plot` on a trace: its title names the trace by folder and file
    svg = tmp_path / "cdf.svg"
    run("metrics", str(TRACE), "--plot", str(svg))
    assert "data/panopticon_ftrace.txt" in svg.read_text(encoding="utf-8")


# -- output paths: one rule -------------------------------------------------------------------------

@pytest.mark.parametrize("args, option", [
    (["metrics", str(TRACE), "--plot", "{missing}/cdf.png"], "--plot"),
    (["ingest", str(TRACE), "-o", "{missing}/bundle"], "-o"),
    (["replay", str(TRACE), "-o", "{missing}/s.parquet"], "-o"),
    (["replay", str(TRACE), "--perfetto", "{missing}/s.pftrace"], "--perfetto"),
    (["compare", str(TRACE), "--report", "{missing}/r.html"], "--report"),
    (["compare", str(TRACE), "--perfetto", "{missing}/pf"], "--perfetto"),
    (["sweep", str(TRACE), "--grid", "hz=250", "-o", "{missing}/s.parquet"], "-o"),
    (["demo", "--report", "{missing}/demo.html"], "--report"),
])
def test_a_missing_output_folder_is_an_error(tmp_path, args, option):
    missing = tmp_path / "no" / "such"
    p = run(*[a.format(missing=missing) for a in args], check=False, cwd=tmp_path)
    one_line_error(p, option, f"the folder {missing} does not exist")
    assert not (tmp_path / "no").exists()  # nothing created


def test_output_paths_of_the_wrong_kind_are_errors(tmp_path):
    (tmp_path / "afile").write_text("x")
    one_line_error(run("compare", str(TRACE), "--perfetto", str(tmp_path / "afile"), check=False),
                   "--perfetto", "exists and is not a directory")
    one_line_error(run("replay", str(TRACE), "-o", str(tmp_path), check=False), "-o", "is a directory")
    one_line_error(run("metrics", str(TRACE), "--plot", str(tmp_path / "cdf.jpg"), check=False),
                   "--plot", "unknown image format")
    # a directory output is created itself when its parent exists
    run("compare", str(TRACE), "--policies", "observed", "--perfetto", str(tmp_path / "pf"))
    assert sorted(x.name for x in (tmp_path / "pf").iterdir()) == ["observed-recorded.pftrace"]


# -- labels ---------------------------------------------------------------------------------------

def test_traces_are_labelled_so_they_can_be_told_apart(tmp_path):
    assert label_of("/x/captures/d_nice_mix/trace.dat") == "d_nice_mix/trace.dat"
    assert unique_labels(["/a/x/t.dat", "/b/x/t.dat", "/c/y/t.dat"]) == {
        "/a/x/t.dat": "a/x/t.dat", "/b/x/t.dat": "b/x/t.dat", "/c/y/t.dat": "y/t.dat"}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        shutil.copy(TRACE, tmp_path / name / "trace.txt")
    out = tmp_path / "s.parquet"
    res = replay.sweep([str(tmp_path / "one" / "trace.txt"), str(tmp_path / "two" / "trace.txt")],
                       grid={"hz": [250]}, output=out, workers=1)
    assert sorted(set(res["label"].to_list())) == ["one/trace.txt", "two/trace.txt"]
    table = run("sweep", str(tmp_path / "one" / "trace.txt"), str(tmp_path / "two" / "trace.txt"), "--grid",
                "hz=250", "-o", str(out), "--workers", "1", env={"COLUMNS": "160"}).stdout
    assert "one/trace.txt" in table and "two/trace.txt" in table


# -- help and compile notice -----------------------------------------------------------------------

@pytest.mark.parametrize("command", ["validate", "compare", "sweep"])
def test_help_sends_to_the_command_that_lists_parameters(command):
    text = " ".join(run(command, "--help", env={"COLUMNS": "400"}).stdout.split())
    assert "--list-params" in text
    for m in re.finditer(r"--list-params", text):
        assert re.search(r"replay (--policy P )?$", text[: m.start()][-30:]), text[m.start() - 60: m.end()]


def test_a_command_that_compiles_says_so_once(tmp_path):
    env = {"SCHEDREPLAY_CACHE_DIR": str(tmp_path / "cache")}
    first = run("info", str(NO_NEW), "--json", env=env)
    assert first.stderr.count("compiling its numba kernels") == 1, first.stderr
    assert json.loads(first.stdout)["format"]  # and then does its work
    again = run("info", str(NO_NEW), "--json", env=env)
    assert "compiling" not in again.stderr  # loaded from the cache: nothing to say


def test_cpus_override_leaves_per_cpu_kernel_threads_on_their_cpu():
    """`cpus=` cannot move a per-CPU kernel thread (the kernel refuses: PF_NO_SETAFFINITY):
    kworker/N:M stays on CPU N, the other matched tasks take the affinity, and one warning
    per --set says how many kept their CPU."""
    p = prepare(str(Path(__file__).parent / "data" / "panopticon_ftrace.txt"))
    tasks = p.workload.tasks.with_columns(pl.col("comm").cast(pl.String))
    pinned = tasks.filter(pl.col("pinned_cpu") >= 0)
    assert pinned.height > 0
    s, info = replay.replay(p, policy="eevdf", overrides=["comm=*:cpus=0"])
    run = M.running(s).join(tasks.select(pl.col("tid").cast(pl.Int32), "pinned_cpu"), on="tid")
    moved = run.filter(pl.col("pinned_cpu") >= 0)
    assert moved.height and (moved["cpu"] == moved["pinned_cpu"]).all()
    assert set(run.filter(pl.col("pinned_cpu") < 0)["cpu"].to_list()) == {0}
    notes = [w for w in info.warnings if "keep their CPU" in w]
    assert len(notes) == 1 and notes[0].startswith("comm=*:cpus=0: ")
