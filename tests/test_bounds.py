"""Work and memory bounded by the events, not by the values they carry: the weighted-share
error computed per run of alike windows (checked against a window-by-window reference),
and ``metrics`` on a corrupted timestamp or an absurdly small window under an
address-space limit."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

import traces
from replay.metrics import measures as M
from replay.model.schedule import observed_schedule
from replay.model.topology import from_trace
from traces import schema

from .conftest import DATA, ROOT


def reference_share_rows(schedule, window_ns: int, tasks: pl.DataFrame) -> list[tuple]:
    """(window, tid, received, expected) of every window and CPU-bound fair task, window
    by window (the definition, written without the run-length shortcut)."""
    from policies.weights import weight_of_nice

    n_windows = (schedule.end_ns - schedule.start_ns) // window_ns
    cand = tasks.filter((pl.col("cpu_time_ns") + pl.col("runnable_ns") >= M.CPU_BOUND_FRACTION * window_ns)
                        & (pl.col("sched_class") == schema.CLASS_FAIR)).sort("tid")
    tids = cand["tid"].to_list()
    nice = dict(zip(tids, cand["nice"].to_list()))
    iv = schedule.intervals.filter(pl.col("valid") & pl.col("state").is_in([schema.RUNNING, schema.RUNNABLE])
                                   & pl.col("tid").is_in(tids))
    busy = np.zeros((n_windows, len(tids)), np.int64)
    run = np.zeros((n_windows, len(tids)), np.int64)
    col = {t: i for i, t in enumerate(tids)}
    for tid, state, s, e in iv.select("tid", "state", "start_ns", "end_ns").iter_rows():
        s, e = s - schedule.start_ns, e - schedule.start_ns
        for w in range(max(s // window_ns, 0), min((e - 1) // window_ns, n_windows - 1) + 1):
            d = min(e, (w + 1) * window_ns) - max(s, w * window_ns)
            if d > 0:
                busy[w, col[tid]] += d
                if state == schema.RUNNING:
                    run[w, col[tid]] += d
    out = []
    for w in range(n_windows):
        bound = [i for i in range(len(tids)) if busy[w, i] >= M.CPU_BOUND_FRACTION * window_ns]
        if not bound:
            continue
        others = sum(run[w, i] for i in range(len(tids)) if i not in bound)
        left = max(schedule.n_cpus * window_ns - others, 0)
        weights = {i: float(weight_of_nice(np.array([nice[tids[i]]]))[0]) for i in bound}
        exp = {i: 0.0 for i in bound}
        free = set(bound)
        while left > 1e-9 and free:  # water-filling, capped at one CPU
            wsum = sum(weights[i] for i in free)
            over = [i for i in free if exp[i] + left * weights[i] / wsum > window_ns]
            if not over:
                for i in free:
                    exp[i] += left * weights[i] / wsum
                break
            for i in over:
                left -= window_ns - exp[i]
                exp[i] = window_ns
                free.discard(i)
        out += [(w, tids[i], int(run[w, i]), round(exp[i], 3)) for i in bound]
    return sorted(out)


def expanded(se: pl.DataFrame) -> list[tuple]:
    return sorted((r["w"] + k, r["tid"], r["received_ns"], round(r["expected_ns"], 3))
                  for r in se.iter_rows(named=True) for k in range(r["windows"]))


@pytest.mark.parametrize("window_ns", [20_000, 200_000, 1_000_000])
def test_share_errors_equal_the_window_by_window_definition(window_ns):
    t = traces.load(DATA / "panopticon_ftrace.txt")
    s = observed_schedule(t)
    tasks = M.task_table(s, from_trace(t))
    se = M.share_errors(s, window_ns, tasks)
    ref = reference_share_rows(s, window_ns, tasks)
    assert ref, "the test needs CPU-bound windows"
    assert expanded(se) == ref
    assert se.height < len(ref) if window_ns == 20_000 else se.height <= len(ref)  # alike windows folded
    f = M.fairness(s, tasks, M.waits(s), window_ns)
    errs = [abs(r - e) / window_ns for _, _, r, e in ref]
    assert f["share_windows"] == len(ref)
    assert f["share_error"] == pytest.approx(np.mean(errs), rel=1e-9, abs=1e-9)
    assert f["share_error_max"] == pytest.approx(max(errs), rel=1e-6, abs=1e-9)


@pytest.mark.corpus
def test_share_errors_equal_the_definition_on_a_capture(corpus):
    t = traces.load(corpus / "captures/d_nice_mix/trace.dat")
    s = observed_schedule(t)
    tasks = M.task_table(s, from_trace(t))
    for window_ns in (7_000_000, 100_000_000):
        assert expanded(M.share_errors(s, window_ns, tasks)) == reference_share_rows(s, window_ns, tasks)


def _with_timestamp(tmp_path, seconds: str):
    lines = (DATA / "panopticon_ftrace.txt").read_text().splitlines(keepends=True)
    i = 100
    head, _, rest = lines[i].partition(": sched_")
    stamp = head.split()[-1]
    lines[i] = lines[i].replace(stamp, seconds, 1)
    p = tmp_path / f"jump-{seconds}.txt"
    p.write_text("".join(lines))
    return p


def cli_under_limit(*args, gb=1.0):
    """The CLI in a process whose address space may grow by ``gb`` GB past its start-up."""
    p = subprocess.run([sys.executable, "-m", "tests._fuzz", "--mem-gb", str(gb), "--run-one", *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _shifted(tmp_path):
    """The second half of the trace 30,000,000 s later: a jump with many events on both
    sides, kept (the trace then lasts a year)."""
    import re

    lines = (DATA / "panopticon_ftrace.txt").read_text().splitlines(keepends=True)
    stamp = re.compile(r" (\d+)\.(\d{6}): ")
    out = [stamp.sub(lambda m: f" {int(m.group(1)) + 30_000_000}.{m.group(2)}: ", x, 1) if i > 150 else x
           for i, x in enumerate(lines)]
    p = tmp_path / "shifted.txt"
    p.write_text("".join(out))
    return p


@pytest.mark.parametrize("case", ["2147483648.000000", "30000000.000000", "window", "shifted"])
def test_metrics_memory_grows_with_events_not_duration(tmp_path, case):
    """One corrupted timestamp in a 47 KB trace made metrics ask for 132-687 GiB (and
    30,000,000 s ran to 23 GB resident); --window-ms 0.000001 asked for 37 GiB. Under a
    1 GB address-space limit each now runs, and the corrupt event is left out with a warning."""
    if case == "window":
        r = cli_under_limit("metrics", DATA / "panopticon_ftrace.txt", "--json", "--window-ms", "0.000001")
    elif case == "shifted":
        r = cli_under_limit("metrics", _shifted(tmp_path), "--json", "--window-ms", "1")
    else:
        r = cli_under_limit("metrics", _with_timestamp(tmp_path, case), "--json")
    assert r["code"] == 0 and not r["escaped"], r
    m = json.loads(r["stdout"])
    if case == "window":
        assert m["fairness"]["share_windows"] > 10**7
    elif case == "shifted":
        assert m["duration_ns"] > 30_000_000 * 10**9 and m["fairness"]["share_windows"] > 10**10
        assert any("timestamp jumps" in w for w in m["warnings"]), m["warnings"]
    else:
        assert any("1 events with timestamps hours after" in w for w in m["warnings"]), m["warnings"]
        assert any(re.search(r"lines \d+ and 101: timestamps", w) and "corrupt timestamp" in w
                   for w in m["warnings"]), m["warnings"]
        assert m["duration_ns"] < 10**9


# -- values the builder refuses to trust ------------------------------------------------

def _result(ts, cpu, n_cpus=None):
    from traces._result import ReadResult

    r = ReadResult("x.txt", "ftrace", n_cpus=n_cpus)
    n = len(ts)
    r.add_events({"ts_ns": np.asarray(ts, np.int64), "cpu": np.asarray(cpu, np.int16),
                  "kind": np.full(n, schema.WAKEUP, np.int8), "tid": np.arange(1, n + 1, dtype=np.int32),
                  "target_cpu": np.asarray(cpu, np.int16)})
    return r


def test_cpu_ids_outside_the_range_are_left_out_with_a_warning():
    from traces._build import build

    r = _result([1, 2, 3, 4], [0, -32768, 1, -1], n_cpus=10**9)
    r.chunks[0]["target_cpu"][:] = [0, 1, -7, 2]
    t = traces.Trace(build(r))
    assert t.events["cpu"].to_list() == [0, 1]
    assert t.events["target_cpu"].to_list() == [0, -1]
    assert t.cpus.height == 2  # neither 10**9 rows nor a wrapped id
    w = " | ".join(t.warnings)
    assert "2 events on a CPU id outside" in w and "target_cpu outside" in w and "more than 16384" in w


def test_absurd_timestamp_jumps():
    """A few events hours before or after all the others (a corrupt timestamp, moved to an
    end by the sort) are left out with a warning; a jump with many events on both sides is
    kept, with a warning; ordinary gaps say nothing."""
    from traces._build import build

    base = list(range(10**13, 10**13 + 100 * 10**6, 10**6))
    hour = schema.MAX_GAP_NS
    for ts, kept, words in (
            (base + [2147483648 * 10**9], base, "1 events with timestamps hours after"),
            ([5] + base, base, "1 events with timestamps hours before"),
            (base + [b + 2 * hour for b in base], base + [b + 2 * hour for b in base], "1 timestamp jumps"),
            (base + [base[-1] + hour], base + [base[-1] + hour], None)):
        t = traces.Trace(build(_result(ts, [0] * len(ts))))
        assert t.events["ts_ns"].to_list() == kept
        jumps = [w for w in t.warnings if "hours" in w or "jumps" in w]
        assert (words is None and not jumps) or (jumps and words in jumps[0]), t.warnings
