"""Machines whose CPUs differ in capacity (docs/engine-model.md §3.2, §7.5): wakeups that
look for a CPU the task fits, and energy-aware placement with the kernel's energy model.
Hand-built machines and workloads; each expectation is reasoned from the rules, the
figures in the docstrings computed by hand."""

from __future__ import annotations

import polars as pl
import pytest

import replay
from replay.model.topology import make
from replay.model.workload import START_AFTER
from replay.testing import make_workload
from traces import schema

MS = 1_000_000


def _cpus_of_runs(wl, topo, params):
    sched, _ = replay.replay(wl, policy="eevdf", topology=topo, params=params)
    run = sched.intervals.filter(pl.col("state") == schema.STATE_RUNNING).sort("start_ns")
    return run.select("start_ns", "cpu").rows()


def _little_big(energy=None):
    """CPU 0 little (capacity 512), CPU 1 big (1024), a cluster each."""
    return make([0, 1], [0, 1], [0, 0], [512, 1024], energy=energy)


def test_a_task_that_outgrew_the_little_cpu_wakes_on_the_big_one():
    """A task alive before the workload, queued on the little CPU 0, runs 100 ms there (50 ms
    of work at half speed): its
    util starts at half the CPU's spare capacity (256) and tends to 512, reaching
    512 - 256 * 2^(-100/32) ~ 482 (~472 after its 1 ms sleep), above what fits 512
    (util * 1280 < 512 * 1024: under 409.6). Woken with prev = CPU 0 idle, it does not
    fit there: select_idle_capacity takes the idle big CPU 1. Kernels before 5.7
    (asym_wakeup=llc) keep it on its idle previous CPU."""
    wl = make_workload([dict(cpu=0, bursts=[dict(demand=50 * MS),
                                            dict(demand=5 * MS, kind=START_AFTER, start=MS)])],
                       end_ns=200 * MS, n_cpus=2)
    runs = _cpus_of_runs(wl, _little_big(), {})
    assert [c for _, c in runs] == [0, 1]
    runs = _cpus_of_runs(wl, _little_big(), {"asym_wakeup": "llc"})
    assert [c for _, c in runs] == [0, 0]


def test_a_small_task_that_fits_stays_on_its_idle_little_cpu():
    """The same task running 10 ms first (5 ms of work): util ~ 512 - 256 * 2^(-10/32) ~ 304, which fits
    the little CPU (< 409.6): its idle previous CPU takes it back."""
    wl = make_workload([dict(cpu=0, bursts=[dict(demand=5 * MS),
                                            dict(demand=5 * MS, kind=START_AFTER, start=MS)])],
                       end_ns=100 * MS, n_cpus=2)
    assert [c for _, c in _cpus_of_runs(wl, _little_big(), {})] == [0, 0]


#: one performance state per cluster: little 100 mW at 1 GHz, big 800 mW at 2 GHz; costs
#: (f_max * power / f) 100 and 800
ENERGY = ([[1_000_000, 100]], [[2_000_000, 800]])


def _periodic(n=40):
    """A task alive before the workload, last on the big CPU 1: 1 ms of work every 10 ms."""
    return make_workload([dict(cpu=1, bursts=[dict(demand=MS, start=0)] +
                               [dict(demand=MS, kind=START_AFTER, start=9 * MS) for _ in range(n - 1)])],
                         end_ns=(10 * n + 20) * MS, n_cpus=2)


def test_energy_aware_placement_moves_a_small_task_to_the_cheaper_little_cpu():
    """The periodic task first attaches to CPU 1 with util 512 (half of its spare 1024): on
    the little CPU it would not fit (512 >= 409.6), so energy-aware placement keeps it on
    its previous, big CPU. Running 10 % of the time its util decays (halving every 32 ms
    towards ~10 % of 1024); once it fits the little CPU, energy there (cost 100 x u / 512 =
    0.2 u) undercuts the big one's (800 x u / 1024 = 0.78 u) by far more than 1/16 of the
    big one's: it moves to CPU 0, and on the little CPU (20 % busy there, util ~ 100) it
    stays. Without the energy model it stays where it fits, on its idle big CPU."""
    wl = _periodic()
    cpus = [c for _, c in _cpus_of_runs(wl, _little_big(ENERGY), {})]
    assert cpus[0] == 1
    first_little = cpus.index(0)
    assert 2 <= first_little <= 15
    assert set(cpus[first_little:]) == {0}
    assert set(c for _, c in _cpus_of_runs(wl, _little_big(), {})) == {1}
    assert set(c for _, c in _cpus_of_runs(wl, _little_big(ENERGY), {"eas": "off"})) == {1}


def test_energy_aware_placement_stands_aside_when_a_cpu_is_overutilized():
    """A CPU hog on the little CPU 0 (pinned) makes it overutilized (util -> 512, over 80 %
    of 512): energy-aware placement gives no answer and the periodic task keeps to the
    capacity-aware path, which keeps it on its idle big CPU for the whole run."""
    wl = _periodic()
    hog = dict(pinned=0, cpu=0, bursts=[dict(demand=-1)])
    tasks = [dict(cpu=1, bursts=[dict(demand=MS, start=0)] +
                  [dict(demand=MS, kind=START_AFTER, start=9 * MS) for _ in range(39)]), hog]
    wl = make_workload(tasks, end_ns=420 * MS, n_cpus=2)
    sched, _ = replay.replay(wl, policy="eevdf", topology=_little_big(ENERGY))
    iv = sched.intervals.filter(pl.col("state") == schema.STATE_RUNNING)
    first_tid = int(sched.intervals["tid"].min())
    periodic = iv.filter(pl.col("tid") == first_tid)
    assert periodic.height >= 30
    # after the hog's util crossed 409.6 (from 256: 32 ms x log2(256 / 102.4) ~ 42 ms)
    assert set(periodic.filter(pl.col("start_ns") > 60 * MS)["cpu"].to_list()) == {1}


def test_the_energy_model_of_a_platform_file_reaches_the_engine(tmp_path):
    """A two-line phone topology with energy tables: the engine reads the costs the kernel
    computes (f_max * power // f per state)."""
    from replay.model.topology import from_file
    from replay.sim.engine import _topology_matrix
    from replay.sim import _placement as P

    f = tmp_path / "phone.yaml"
    f.write_text("clusters: [[0, 1], [2]]\ncapacity: [400, 1024]\n"
                 "energy:\n  - [[500000, 20], [1000000, 60]]\n  - [[1000000, 300], [2000000, 900]]\n")
    TOPO = _topology_matrix(from_file(f))
    assert TOPO[:, P.TP_EM_N].tolist() == [2, 2, 2]
    assert TOPO[0, P.TP_EM:P.TP_EM + 4].tolist() == [500000, 40, 1000000, 60]
    assert TOPO[2, P.TP_EM:P.TP_EM + 4].tolist() == [1000000, 600, 2000000, 900]
    assert TOPO[:, P.TP_PD_SIZE].tolist() == [2, 2, 1]


def test_the_rules_follow_the_kernel_the_machine_description_names():
    """auto (the default) takes each rule from the kernel the topology names: Linux 4.19
    had neither energy-aware placement (5.0) nor select_idle_capacity (5.7), so the
    periodic task keeps to its idle big CPU as with eas=off; 5.10 has both, so it moves to
    the little CPU as on a machine that names no kernel. The outgrown task of the first
    test stays on its idle little CPU under 5.5 (no capacity-aware wakeups yet)."""
    from dataclasses import replace

    wl = _periodic()
    for kernel, cpus in (("4.19.0-07801-gf317706", {1}), ("5.10.43-android12", {0, 1}), ("", {0, 1})):
        got = {c for _, c in _cpus_of_runs(wl, replace(_little_big(ENERGY), kernel=kernel), {})}
        assert got == cpus, kernel
    wl = make_workload([dict(cpu=0, bursts=[dict(demand=50 * MS),
                                            dict(demand=5 * MS, kind=START_AFTER, start=MS)])],
                       end_ns=200 * MS, n_cpus=2)
    assert [c for _, c in _cpus_of_runs(wl, replace(_little_big(), kernel="5.5"), {})] == [0, 0]
    assert [c for _, c in _cpus_of_runs(wl, replace(_little_big(), kernel="5.7"), {})] == [0, 1]


def test_the_replay_says_which_rules_it_applied():
    """The replay's info shows the rules as applied, not "auto": energy-aware placement on for
    a big/little machine with an energy model and no kernel named, off for one naming 4.19
    (whose wakeups scan the LLC) and for a machine of one capacity."""
    from dataclasses import replace

    wl = _periodic(3)
    info = replay.replay(wl, policy="eevdf", topology=_little_big(ENERGY))[1]
    assert (info.params["eas"], info.params["asym_wakeup"], info.params["newidle_avg_idle"]) == \
        ("on", "capacity", "off")
    info = replay.replay(wl, policy="eevdf", topology=replace(_little_big(ENERGY), kernel="4.19.0"))[1]
    assert (info.params["eas"], info.params["asym_wakeup"]) == ("off", "llc")
    info = replay.replay(wl, policy="eevdf", topology=make([0, 1], [0, 1], [0, 0], energy=ENERGY))[1]
    assert info.params["eas"] == "off"
