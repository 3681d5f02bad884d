"""Task groups (autogroup; docs/engine-model.md §13): which group a trace's tasks are
inferred to be in, when the replay schedules them so, and what that changes, against
hand-computed shares of the CPU."""

from __future__ import annotations

import polars as pl
import pytest

from replay import replay
from replay.model.workload import autogroups, from_schedule
from replay.testing import make_workload
from traces import schema

from ._events import make_trace

MS = 1_000_000


def _run_ns(sched) -> dict[int, int]:
    iv = sched.intervals.filter(pl.col("state") == schema.RUNNING)
    return dict(iv.group_by("tid").agg((pl.col("end_ns") - pl.col("start_ns")).sum()).iter_rows())


def _hogs_trace():
    """bash (100) forks make (101), which forks cc1 (102); a kworker forks modprobe (7); sshd
    (200) was there before, as bash was."""
    S = "switch"
    rows = [
        (0, 0, S, 0, dict(tid=0, prev_state=0, next_tid=100)),
        (1 * MS, 0, "fork", 100, dict(tid=101, parent_tid=100)),
        (2 * MS, 0, S, 100, dict(tid=100, prev_state=1, next_tid=101)),
        (3 * MS, 0, "fork", 101, dict(tid=102, parent_tid=101)),
        (4 * MS, 0, S, 101, dict(tid=101, prev_state=1, next_tid=5)),
        (5 * MS, 0, "fork", 5, dict(tid=7, parent_tid=5)),
        (6 * MS, 0, S, 5, dict(tid=5, prev_state=1, next_tid=200)),
        (7 * MS, 1, S, 0, dict(tid=0, prev_state=0, next_tid=102)),
        (8 * MS, 1, S, 102, dict(tid=102, prev_state=1, next_tid=7)),
        (9 * MS, 1, S, 7, dict(tid=7, prev_state=1, next_tid=0)),
        (10 * MS, 0, S, 200, dict(tid=200, prev_state=1, next_tid=0)),
    ]
    comms = {5: "kworker/0:1", 7: "modprobe", 100: "bash", 101: "make", 102: "cc1", 200: "sshd"}
    return make_trace(rows, n_cpus=2, comms=comms)


def test_sessions_are_inferred_from_forks_and_kernel_threads():
    """Kernel threads and what they fork are in the root group; a task forked in the trace
    is in its parent's group; each task that was there before has its own."""
    trace = _hogs_trace()
    group = dict(zip(trace.tasks["tid"].to_list(), autogroups(trace).tolist()))
    assert group[5] == 0 and group[7] == 0
    assert group[100] > 0 and group[100] == group[101] == group[102]
    assert group[200] > 0 and group[200] != group[100]
    wl = from_schedule(trace)
    assert dict(zip(wl.tasks["tid"].to_list(), wl.tasks["group"].to_list())) == group


def test_groups_are_on_by_default_and_off_is_one_run_queue():
    """Replayed in their groups unless autogroup=off, which is the same workload with every
    task in the root group."""
    tasks = [_hog(1), _hog(2, 1), _hog(3, 1), _hog(4, 2)]
    wl = make_workload(tasks, end_ns=100 * MS, n_cpus=2)
    default, info = replay(wl, policy="eevdf")
    assert info.params["autogroup"] == "on"
    assert default.intervals.equals(replay(wl, policy="eevdf", params={"autogroup": "on"})[0].intervals)
    off = replay(wl, policy="eevdf", params={"autogroup": "off"})[0].intervals
    root_only = make_workload([{**t, "group": 0} for t in tasks], end_ns=100 * MS, n_cpus=2)
    assert off.equals(replay(root_only, policy="eevdf")[0].intervals)
    assert not off.equals(default.intervals)


def _hog(tid, group=0, pinned=None):
    t = dict(tid=tid, comm=f"hog{tid}", group=group, bursts=[dict(demand=-1, prio=120, start=0)])
    if pinned is not None:
        t["pinned"] = pinned
    return t


def test_a_group_on_one_cpu_gets_one_tasks_share():
    """One CPU, a root-group hog and a group of three hogs: the root queue holds two
    entities of weight 1024 (a group alone on its CPU gets all of its shares), so the root
    task gets half the CPU and each grouped one a sixth; flat, each gets a quarter."""
    wl = make_workload([_hog(1), _hog(2, 1), _hog(3, 1), _hog(4, 1)], end_ns=600 * MS, n_cpus=1)
    grouped = _run_ns(replay(wl, policy="eevdf", params={"autogroup": "on"})[0])
    flat = _run_ns(replay(wl, policy="eevdf", params={"autogroup": "off"})[0])
    assert grouped[1] == pytest.approx(300 * MS, rel=0.03)
    for t in (2, 3, 4):
        assert grouped[t] == pytest.approx(100 * MS, rel=0.03)
    for t in (1, 2, 3, 4):
        assert flat[t] == pytest.approx(150 * MS, rel=0.03)


def test_a_group_spread_over_two_cpus_splits_its_shares():
    """Two CPUs; a group's two hogs are pinned one to each, a root-group hog to CPU 0. The
    group's load is the same on both CPUs, so each of its entities weighs half of 1024:
    on CPU 0 the root hog gets 1024 / 1536 of the time and the grouped hog the rest; on
    CPU 1 the grouped hog runs alone."""
    wl = make_workload([_hog(1, 0, 0), _hog(2, 1, 0), _hog(3, 1, 1)], end_ns=600 * MS, n_cpus=2)
    run = _run_ns(replay(wl, policy="eevdf", params={"autogroup": "on"})[0])
    assert run[1] == pytest.approx(400 * MS, rel=0.03)
    assert run[2] == pytest.approx(200 * MS, rel=0.06)
    assert run[3] == pytest.approx(600 * MS, rel=0.001)


def test_a_policy_without_groups_replays_them_flat_and_says_so():
    wl = make_workload([_hog(1), _hog(2, 1)], end_ns=50 * MS, n_cpus=1)
    sched, info = replay(wl, policy="cfs", params={"autogroup": "on"})
    assert any("replayed flat" in w for w in info.warnings), info.warnings
    assert info.params["autogroup"] == "off"
    _, info = replay(wl, policy="eevdf", params={"autogroup": "on"})
    assert info.params["autogroup"] == "on" and not any("flat" in w for w in info.warnings)


def test_validate_says_which_groups_it_inferred(corpus):
    """c_infer_torch, a capture of Linux 6.18 with autogroup: the workload's session (bash,
    python, stress-ng and their children) is one group; the replay schedules it."""
    import replay as R

    v = R.validate(R.prepare(corpus / "captures" / "c_infer_torch" / "trace.dat"), seeds=1)
    inf = v["inferred"]
    assert inf["task_groups"] >= 2 and inf["task_groups_replayed"] is True
    assert inf["largest_task_groups"][0].split(" x")[0] in ("bash", "python", "dirname", "sleep")
    assert int(inf["largest_task_groups"][0].split(" x")[1]) >= 10
