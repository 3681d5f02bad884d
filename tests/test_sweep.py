"""Parameter sweeps (replay.sweep, `schedreplay sweep`): rows equal individual replays,
the Ray engine equals the local one, resume skips finished rows, bad grids fail first."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import polars as pl
import pytest

import traces
from replay.study import sweeps as SW
from replay import replay
from replay.sim import all_params
from replay.metrics.measures import measure
from replay.model.topology import resolve
from traces.errors import TraceError

from .conftest import DATA

TRACE = DATA / "panopticon_ftrace.txt"          # 4 CPUs, 201 events: a replay takes milliseconds
TRACE2 = DATA / "tracecompass_trace-critical-path"
GRID = ["base_slice_ns=500us,1ms", "hz=250,1000"]


def _cli(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}: {p.stderr}")
    return p


def _deterministic(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in SW.TIMING_COLUMNS if c in df.columns])


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """Two traces, two policies, a 2x2 grid (eevdf) / 2 values (cfs: hz only), two topologies,
    a --set override, two worker processes."""
    out = tmp_path_factory.mktemp("sweep") / "results.parquet"
    res = SW.run([str(TRACE), str(TRACE2)], policy=["eevdf", "cfs"], grid=GRID, topology=[None, "1x2x2"],
                 overrides=["comm=kworker*:nice=5"], workers=2, output=out)
    return res, out


def test_rows_equal_individual_replays(local_sweep):
    res, out = local_sweep
    df = res.frame
    # eevdf: defaults + 4 grid points; cfs: defaults + hz=1000 (base_slice_ns is not a cfs parameter,
    # hz=250 is its default); x 2 topologies x 2 traces
    assert df.height == (5 + 2) * 2 * 2 == res.executed
    assert pl.read_parquet(out).equals(df)
    assert not out.with_name(out.name + ".sweep.d").exists()
    keys = df.select("trace", "policy", "topology", "config", "seed").unique()
    assert keys.height == df.height
    loaded = {str(TRACE): traces.load(TRACE), str(TRACE2): traces.load(TRACE2)}
    by_path = {t.path: t for t in loaded.values()}
    for row in df.iter_rows(named=True):
        t = by_path[row["trace"]]
        topo = resolve(None if row["topology"] == "recorded" else row["topology"], t)
        sched, info = replay(t, policy=row["policy"], topology=topo, params=json.loads(row["config"]),
                             seed=row["seed"], overrides=["comm=kworker*:nice=5"])
        m = SW.flatten(measure(sched, topo))
        assert row["events_simulated"] == info.events_simulated
        for k, v in m.items():
            assert row[k] == v, (row["policy"], row["config"], k)
        defaults = {p.name: p.default for p in all_params(row["policy"])}
        assert row["default"] == all(defaults[k] == v for k, v in json.loads(row["config"]).items())
        assert row["validation_policy"] == "eevdf" and row["wait_p50_rel_err"] is not None
    # rows are sorted deterministically
    assert df.equals(SW.to_frame(df.sample(fraction=1.0, shuffle=True, seed=1).to_dicts()))


def test_a_row_equals_replay_json_on_the_command_line(local_sweep):
    df = local_sweep[0].frame
    row = df.filter((pl.col("trace") == str(TRACE)) & (pl.col("policy") == "eevdf")
                    & (pl.col("topology") == "1x2x2") & (pl.col("param.base_slice_ns") == 500_000)
                    & (pl.col("param.hz") == 1000)).row(0, named=True)
    j = json.loads(_cli("replay", str(TRACE), "--policy", "eevdf", "--topology", "1x2x2", "--param",
                        "base_slice_ns=500us", "--param", "hz=1000", "--set", "comm=kworker*:nice=5",
                        "--json").stdout)
    flat = SW.flatten({k: v for k, v in j.items() if k not in ("trace", "policy", "topology", "params", "seed",
                                                                  "wall_s", "events_simulated")})
    assert flat and all(row[k] == v for k, v in flat.items())
    assert row["events_simulated"] == j["events_simulated"]


def test_best_configurations_against_the_defaults(local_sweep):
    df = local_sweep[0].frame
    b = SW.best(df, "wait_ns.p99")
    assert b.height == 2 * 2 * 2  # per trace, policy, topology (one override set)
    for r in b.iter_rows(named=True):
        g = df.filter((pl.col("trace") == r["trace"]) & (pl.col("policy") == r["policy"])
                      & (pl.col("topology") == r["topology"]))
        assert r["value"] == g["wait_ns.p99"].min()
        assert r["default_value"] == g.filter(pl.col("default"))["wait_ns.p99"][0]
        if r["default_value"]:
            assert r["change"] == pytest.approx((r["value"] - r["default_value"]) / r["default_value"])
            assert r["beyond_error"] == (abs(r["change"]) > r["validation_error"])
        assert r["validation_error"] == abs(g["wait_p99_rel_err"][0])
    hi = SW.best(df, "fairness.jain")
    for r in hi.iter_rows(named=True):
        g = df.filter((pl.col("trace") == r["trace"]) & (pl.col("policy") == r["policy"])
                      & (pl.col("topology") == r["topology"]))
        assert r["value"] == g["fairness.jain"].max()
    assert SW.objective_direction("fairness.jain") == ("fairness.jain", True)
    assert SW.objective_direction("wait_ns.p99") == ("wait_ns.p99", False)
    assert SW.objective_direction("max:context_switches") == ("context_switches", True)


def test_ray_engine_gives_the_same_rows(local_sweep, tmp_path):
    if os.environ.get("SCHEDREPLAY_REQUIRE_RAY") != "1":  # CI sets it and installs the extra
        pytest.importorskip("ray", reason="the Ray engine needs the extra: pip install '.[ray]'")
    res = SW.run([str(TRACE)], policy=["eevdf"], grid=["base_slice_ns=500us,1ms"], topology=[None],
                 overrides=["comm=kworker*:nice=5"], engine="ray", workers=2, output=tmp_path / "ray.parquet")
    assert res.executed == 3
    local = local_sweep[0].frame.filter((pl.col("trace") == str(TRACE)) & (pl.col("policy") == "eevdf")
                                        & (pl.col("topology") == "recorded") & (pl.col("param.hz") == 250))
    got = _deterministic(res.frame)
    want = _deterministic(local).drop("param.hz").with_columns(
        config=pl.col("config").map_elements(lambda c: SW.config_key(
            {k: v for k, v in json.loads(c).items() if k != "hz"}), return_dtype=pl.String))
    # columns only the other trace of the local sweep has are null here
    extra = [c for c in want.columns if c not in got.columns]
    assert all(want[c].null_count() == want.height for c in extra)
    assert got.columns == [c for c in want.columns if c not in extra]
    assert got.to_dicts() == want.select(got.columns).to_dicts()


def test_resume_skips_finished_rows(tmp_path, monkeypatch):
    out = tmp_path / "r.parquet"
    args = dict(policy=["eevdf"], grid=["base_slice_ns=500us:1ms:250us", "PLACE_LAG=on,off"], workers=1,
                output=out)
    full = SW.run([str(TRACE)], **{**args, "output": tmp_path / "full.parquet"})
    n = full.frame.height
    assert n == 7  # defaults + 3 x 2

    calls = []
    real = SW.run_job

    def interrupted(job, share):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(job.key)
        return real(job, share)

    monkeypatch.setattr(SW, "run_job", interrupted)
    with pytest.raises(KeyboardInterrupt):
        SW.run([str(TRACE)], **args)
    assert not out.exists()
    journal = out.with_name(out.name + ".sweep.d") / "journal.jsonl"
    assert len(journal.read_text().splitlines()) == 3
    with open(journal, "a") as f:
        f.write('{"trace": "half a line')  # what a kill during a write leaves

    counted = []

    def counting(job, share):
        counted.append(job.key)
        return real(job, share)

    monkeypatch.setattr(SW, "run_job", counting)
    res = SW.run([str(TRACE)], **args)
    assert res.executed == len(counted) == n - 3 and res.skipped == 3
    assert not set(counted) & set(calls)
    assert _deterministic(res.frame).equals(_deterministic(full.frame))
    assert _deterministic(pl.read_parquet(out)).equals(_deterministic(pl.read_parquet(tmp_path / "full.parquet")))

    counted.clear()
    again = SW.run([str(TRACE)], **args)
    assert again.executed == 0 and not counted and again.skipped == n
    assert pl.read_parquet(out).equals(res.frame)

    # a wider grid in the same file runs only the new points and keeps the old rows
    wider = SW.run([str(TRACE)], **{**args, "grid": ["base_slice_ns=500us:1250us:250us", "PLACE_LAG=on,off"]})
    assert wider.executed == len(counted) == 2 and wider.frame.height == n + 2
    assert pl.read_parquet(out).height == n + 2


@pytest.mark.parametrize("grid, message", [
    (["nope=1,2"], "unknown parameter(s) nope for policies eevdf; valid: "),
    (["base_slice_ns"], "expected NAME=V1,V2"),
    (["tunable_scaling=log,cubic"], "--grid tunable_scaling=log,cubic: value 'cubic': expected one of log, linear, none"),
    (["PLACE_LAG=on:off:1"], "PLACE_LAG takes on/off"),
    (["base_slice_ns=1ms:2ms:0"], "the step must be > 0"),
    (["base_slice_ns=2ms:1ms:1us"], "STOP is below START"),
    (["hz=1:100"], "a range is START:STOP:STEP"),
    (["hz=10,250"], "out of range"),
    (["base_slice_ns=100us:100ms:1ns"], "use a bigger step"),
    (["hz=250", "hz=1000"], "hz given twice"),
    (["base_slice_ns=1ms,,2ms"], "empty value"),
])
def test_bad_grids_fail_before_any_work(grid, message, monkeypatch, tmp_path):
    def no_work(*a, **k):
        raise AssertionError("work started before the grid was checked")

    monkeypatch.setattr(traces, "load", no_work)
    monkeypatch.setattr(SW, "run_job", no_work)
    monkeypatch.setattr(SW, "warm", no_work)
    with pytest.raises(TraceError) as e:
        SW.run([str(TRACE)], policy=["eevdf"], grid=grid, output=tmp_path / "x.parquet")
    assert message in str(e.value)
    assert not (tmp_path / "x.parquet").exists()


def test_other_bad_arguments_fail_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setattr(traces, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    for kw, message in ((dict(policy=["nope"]), "unknown policy 'nope'"),
                        (dict(engine="spark"), "expected one of local, ray"),
                        (dict(random=0), "--random 0"),
                        (dict(workers=0), "--workers 0"),
                        (dict(topology=["3y4"]), "--topology '3y4'"),
                        (dict(overrides=["comm=x:nice=99"]), "nice"),
                        (dict(ray_address="auto"), "--ray-address needs --engine ray")):
        with pytest.raises(TraceError, match=None) as e:
            SW.run([str(TRACE)], **{"grid": ["hz=250,1000"], **kw})
        assert message in str(e.value), (kw, str(e.value))


def test_ray_engine_without_ray_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    monkeypatch.setattr(traces, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    with pytest.raises(TraceError, match=r"--engine ray needs Ray, which is not installed: "
                                         r"pip install 'schedreplay\[ray\]'"):
        SW.run([str(TRACE)], grid=["hz=250,1000"], engine="ray", output=tmp_path / "x.parquet")


def test_cli_bad_grid_is_one_line_exit_2(tmp_path):
    p = _cli("sweep", str(TRACE), "--policy", "eevdf", "--grid", "base_slice=1ms,2ms", "-o",
             str(tmp_path / "o.parquet"), check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert "unknown parameter(s) base_slice" in p.stderr and "base_slice_ns" in p.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_cli_sweep_json_and_objective(tmp_path):
    out = tmp_path / "o.parquet"
    p = _cli("sweep", str(TRACE), str(TRACE2), "-p", "eevdf", "--grid", "hz=100,1000", "--objective",
             "fairness.jain", "-o", str(out), "--workers", "1", "--json", "--no-progress")
    j = json.loads(p.stdout)
    assert j["rows"] == 6 and j["executed"] == 6 and j["higher_is_better"] is True
    df = pl.read_parquet(out)
    assert df.height == 6
    b = {r["trace"]: r for r in j["best"]}
    assert b[str(TRACE)]["objective"] == "fairness.jain"
    assert b[str(TRACE)]["value"] == df.filter(pl.col("trace") == str(TRACE))["fairness.jain"].max()
    # Jain is undefined with fewer than two competing tasks: the defaults are shown, without a value
    assert b[str(TRACE2)]["value"] is None and b[str(TRACE2)]["config"] == '{"hz":250}'
    p = _cli("sweep", str(TRACE), str(TRACE2), "-p", "eevdf", "--grid", "hz=100,1000", "-o", str(out),
             "--workers", "1")
    assert "6 runs (0 now, 6 from before)" in p.stdout and "wait_ns.p99" in p.stdout
    p = _cli("sweep", str(TRACE2), "-p", "eevdf", "--grid", "hz=100", "--objective", "wait_p99", "-o",
             str(tmp_path / "b.parquet"), check=False)
    assert p.returncode == 2 and "--objective 'wait_p99': not a metric; valid:" in p.stderr


def test_grid_values_and_random_draws():
    from replay.sim import all_params

    ps = {p.name: p for p in all_params("eevdf")}
    assert SW.expand(ps["base_slice_ns"], "1ms:2ms:500us") == (1_000_000, 1_500_000, 2_000_000)
    assert SW.expand(ps["base_slice_ns"], "1ms,1000us,3ms") == (1_000_000, 3_000_000)
    assert SW.expand(ps["hz"], "100:400:100") == (100, 200, 300, 400)
    assert SW.expand(ps["PLACE_LAG"], "on,off") == (True, False)
    assert SW.expand(ps["hz"], [100, "1000"]) == (100, 1000)
    grid = SW.parse_grid(["base_slice_ns=100us:5ms:100us", "hz=100,250,1000", "RUN_TO_PARITY=on,off"])
    a = SW.configurations(["eevdf", "cfs"], grid, random=20, seed=7)
    b = SW.configurations(["eevdf", "cfs"], grid, random=20, seed=7)
    c = SW.configurations(["eevdf", "cfs"], grid, random=20, seed=8)
    assert a == b and a != c
    # 20 draws besides the default configuration, which always runs (first)
    assert len(a["eevdf"]) == 21 and a["eevdf"][0] == {"RUN_TO_PARITY": True, "base_slice_ns": 700_000, "hz": 250}
    assert len({SW.config_key(x) for x in a["eevdf"]}) == 21
    full = SW.configurations(["eevdf"], grid)["eevdf"]
    assert len(full) == 50 * 3 * 2 and all(x in full for x in a["eevdf"])  # the default is a grid point
    # cfs knows hz only: its space has 3 points, all of them drawn (the default is one)
    assert [x["hz"] for x in a["cfs"]] == [250, 100, 1000]


def test_best_prefers_the_defaults_on_ties_and_reports_the_changes():
    rows = []
    for cfg, default, p99 in (({"a": 1, "b": True}, True, 100), ({"a": 2, "b": True}, False, 100),
                              ({"a": 3, "b": False}, False, 90), ({"a": 4, "b": True}, False, 95)):
        for seed in (0, 1):
            rows.append({"trace": "t", "policy": "eevdf", "topology": "recorded", "overrides": "",
                         "config": SW.config_key(cfg), "seed": seed, "default": default,
                         "wait_ns.p99": p99 + seed * 10, "wait_p99_rel_err": -0.05})
    df = SW.to_frame(rows)
    b = SW.best(df, "wait_ns.p99", top=2)
    assert b["config"].to_list() == ['{"a":3,"b":false}', '{"a":4,"b":true}']
    assert b["value"].to_list() == [95.0, 100.0] and b["default_value"].to_list() == [105.0, 105.0]
    assert json.loads(b["changes"][0]) == {"a": 3, "b": False} and b["seeds"].to_list() == [2, 2]
    assert b["change"][0] == pytest.approx(-10 / 105) and b["beyond_error"].to_list() == [True, False]
    top = SW.best(df, "max:wait_ns.p99", top=3)
    assert top["config"].to_list() == ['{"a":1,"b":true}', '{"a":2,"b":true}', '{"a":4,"b":true}']
    assert top["changes"][0] == "{}" and top["change"][0] == 0.0


def test_best_takes_each_configurations_median_over_its_seeds():
    """With three seeds, one lucky draw does not make a configuration the best: the value is
    the median (as compare's figures are), not the mean."""
    rows = []
    for cfg, default, p99s in (({"a": 1}, True, (100, 100, 100)), ({"a": 2}, False, (10, 120, 120)),
                               ({"a": 3}, False, (95, 96, 97))):
        for seed, p99 in enumerate(p99s):
            rows.append({"trace": "t", "policy": "eevdf", "topology": "recorded", "overrides": "",
                         "config": SW.config_key(cfg), "seed": seed, "default": default, "wait_ns.p99": p99,
                         "wait_p99_rel_err": -0.05})
    b = SW.best(SW.to_frame(rows), "wait_ns.p99", top=3)
    # by the mean {"a":2} would lead (83.3); by the median it is the worst (120)
    assert b["config"].to_list() == ['{"a":3}', '{"a":1}', '{"a":2}']
    assert b["value"].to_list() == [96.0, 100.0, 120.0] and b["seeds"].to_list() == [3, 3, 3]


# -- processes: the pool, the lock, signals ------------------------------------------------

def test_the_worker_pool_runs_every_job_and_reports_failures():
    from replay.study._processes import run_pool

    got = []
    run_pool(2, "tests._pool_jobs:square", ((i,) for i in range(20)), got.append)
    assert sorted(got) == [(i, i * i) for i in range(20)]
    with pytest.raises(TraceError, match="job 3 refuses"):
        run_pool(2, "tests._pool_jobs:fail", ((i,) for i in range(10)), lambda r: None)
    with pytest.raises(TraceError, match=r"worker process died \(exit code 9"):
        run_pool(2, "tests._pool_jobs:die", ((i,) for i in range(10)), lambda r: None)


def _children(pid: int) -> set[int]:
    out = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out |= {int(x) for x in f.read().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs /proc")
@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_killed_sweep_leaves_no_workers_nor_warnings_and_resumes(tmp_path, sig):
    import signal
    import time

    out = tmp_path / "k.parquet"
    args = [sys.executable, "-m", "replay", "sweep", str(TRACE), "--grid", "hz=100:1000:2", "-o", str(out),
            "--workers", "2", "--no-progress"]
    p = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    journal = tmp_path / "k.parquet.sweep.d" / "journal.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert p.poll() is None, "the sweep ended before it could be killed"
    workers = _children(p.pid)
    assert len(workers) == 2
    p.send_signal(getattr(signal, sig))
    err = p.communicate(timeout=60)[1]
    assert p.returncode == (-9 if sig == "SIGKILL" else 130), (p.returncode, err)
    time.sleep(3)
    assert not [w for w in workers if _alive(w)], "workers outlived the sweep"
    assert "leaked" not in err and "Traceback" not in err, err
    if sig == "SIGTERM":
        assert "finished rows are kept" in err
    done = len([x for x in journal.read_text().splitlines() if x.strip()])
    r = _cli("sweep", str(TRACE), "--grid", "hz=100:1000:2", "-o", str(out), "--workers", "2", "--json",
             "--no-progress")
    j = json.loads(r.stdout)
    assert j["skipped"] >= done - 1 and j["rows"] == 451 and pl.read_parquet(out).height == 451
    assert not (tmp_path / "k.parquet.lock").exists()


def test_two_sweeps_on_one_output_keep_every_row(tmp_path):
    """Started together: different grids used to leave 5 rows of 9 (the first sweep's lost);
    the same command twice used to fail on the other's missing work files. Each waits for
    the one writing (here the test holds the lock until both wait), then resumes from its
    rows."""
    import threading
    import time

    from replay.study._processes import output_lock

    out = tmp_path / "both.parquet"

    def start(grid):
        p = subprocess.Popen([sys.executable, "-m", "replay", "sweep", str(TRACE), "--grid", grid, "-o", str(out),
                              "--workers", "1", "--json", "--no-progress"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.err = []
        threading.Thread(target=lambda: p.err.extend(p.stderr), daemon=True).start()
        return p

    for a, b, rows in (("hz=100,200,300,400", "hz=500,600,700,800,900", 10),
                       ("hz=1000,1100", "hz=1000,1100", 12)):
        with output_lock(out, lambda msg: None):
            pa, pb = start(a), start(b)
            deadline = time.time() + 300
            while time.time() < deadline and not all(any("waiting" in x for x in p.err) for p in (pa, pb)):
                time.sleep(0.2)
        oa, ob = pa.communicate(timeout=600)[0], pb.communicate(timeout=600)[0]
        assert pa.returncode == 0 and pb.returncode == 0, (pa.err, pb.err)
        assert all(any(f"another sweep (pid {os.getpid()})" in x for x in p.err) for p in (pa, pb)), (pa.err, pb.err)
        df = pl.read_parquet(out)
        assert df.height == rows and df["config"].n_unique() == rows
        assert not (tmp_path / "both.parquet.lock").exists()
        assert not (tmp_path / "both.parquet.sweep.d").exists()


def test_the_output_lock_waits_and_cleans_up(tmp_path):
    import threading
    import time

    from replay.study._processes import output_lock

    out = tmp_path / "o.parquet"
    said, order = [], []
    with output_lock(out, said.append):
        lock = tmp_path / "o.parquet.lock"
        assert lock.read_text().strip() == str(os.getpid())

        def second():
            with output_lock(out, said.append):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        order.append("first")
    t.join(10)
    assert order == ["first", "second"] and len(said) == 1 and f"pid {os.getpid()}" in said[0]
    assert not lock.exists()


def test_a_sweep_on_the_recorded_machine(tmp_path):
    """--recorded: every row replays the workload measured at the recorded machine's
    capacities (as replay.prepare(recorded=) does), on that machine by default; its rows are
    other rows than a sweep without it (a rerun without it on the same output adds its own)."""
    board = tmp_path / "board.toml"
    board.write_text("clusters = [[0, 1], [2, 3]]\ncapacity = [512, 1024]\n")
    out = tmp_path / "r.parquet"
    args = dict(policy=["eevdf"], grid=["hz=250,1000"], workers=1, output=out)
    res = SW.run([str(TRACE)], recorded=str(board), **args)
    df = res.frame
    assert df.height == 2 and set(df["recorded"]) == {"board.toml"} and set(df["topology"]) == {"board.toml"}
    p = __import__("replay").prepare(str(TRACE), recorded=str(board))
    for row in df.iter_rows(named=True):
        sched, info = replay(p, policy="eevdf", params=json.loads(row["config"]), seed=row["seed"])
        assert row["events_simulated"] == info.events_simulated
        assert row["wait_ns.p99"] == SW.flatten(measure(sched, p.recorded))["wait_ns.p99"]
    plain = SW.run([str(TRACE)], **args)
    assert plain.executed == 2 and "recorded" not in plain.frame.columns
    assert pl.read_parquet(out).height == 4
    with pytest.raises(TraceError, match="has 2 CPUs but the trace records 4"):
        SW.run([str(TRACE)], recorded="1x2x1", policy=["eevdf"], grid=["hz=250"], workers=1)
