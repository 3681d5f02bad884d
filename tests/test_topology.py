"""Topologies from a spec, a file, the host's sysfs (a fake tree here) and a trace."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from replay.model import topology as T
from traces.errors import TraceError


def test_spec_numbers_cpus_like_linux_x86():
    t = T.from_spec("2x4x2")
    assert t.n_cpus == 16 and t.n_cores == 8 and t.n_llcs == 2 and t.n_nodes == 2
    # cpu 0 and cpu 8 are SMT siblings; cpus 0-3 and 8-11 are socket 0
    assert t.core[0] == t.core[8] and t.core[0] != t.core[1]
    assert list(t.node) == [0] * 4 + [1] * 4 + [0] * 4 + [1] * 4
    assert list(t.llc) == list(t.node)
    assert t.distance.tolist() == [[10, 20], [20, 10]]
    assert (t.capacity == 1024).all()


@pytest.mark.parametrize("bad", ["2x16", "0x4x1", "axbxc", "1x70000x1"])
def test_bad_specs_are_clear_errors(bad):
    with pytest.raises(TraceError):
        T.resolve(bad)


def test_json_and_toml_files(tmp_path):
    cpus = [{"cpu": i, "core": i // 2, "llc": i // 4, "node": i // 4, "capacity": 512 if i >= 4 else 1024}
            for i in range(8)]
    j = tmp_path / "t.json"
    j.write_text(json.dumps({"cpus": cpus, "distance": [[10, 32], [32, 10]]}))
    a = T.resolve(str(j))
    toml = tmp_path / "t.toml"
    toml.write_text("distance = [[10, 32], [32, 10]]\n" + "".join(
        f"[[cpus]]\ncpu = {c['cpu']}\ncore = {c['core']}\nllc = {c['llc']}\nnode = {c['node']}\ncapacity = {c['capacity']}\n"
        for c in cpus))
    b = T.resolve(str(toml))
    assert a == b
    assert a.n_cores == 4 and a.n_nodes == 2 and a.distance[0, 1] == 32
    assert list(a.capacity) == [1024] * 4 + [512] * 4


def test_file_errors_name_the_file(tmp_path):
    p = tmp_path / "t.json"
    p.write_text('{"cpus": [{"cpu": 0, "core": 0}]}')
    with pytest.raises(TraceError, match="t.json.*llc"):
        T.resolve(str(p))
    p.write_text('{"cpus": [{"cpu": 1, "core": 0, "llc": 0, "node": 0}]}')
    with pytest.raises(TraceError, match="without gaps"):
        T.resolve(str(p))


@pytest.mark.parametrize("cap", [0, -5, 1025, 10**12, 10**40, 512.5, "fast", None])
def test_capacities_outside_1_to_1024_are_errors_naming_the_file(tmp_path, cap):
    """Capacity 0 divided by zero in the engine's load balancing, a negative one simulated
    nonsense, 10**12 overflowed: each is one error naming the file and the CPU."""
    import json

    p = tmp_path / "cap.json"
    p.write_text(json.dumps({"cpus": [{"cpu": i, "core": i, "llc": 0, "node": 0, "capacity": cap if i == 1 else 1024}
                                      for i in range(4)]}))
    with pytest.raises(TraceError, match="cap.json.*CPU 1 has capacity") as e:
        T.resolve(str(p))
    assert "1..1024" in str(e.value)
    assert list(T.make([0, 1], [0, 0], [0, 0], [1, 1024]).capacity) == [1, 1024]


def test_cli_refuses_a_zero_capacity(tmp_path):
    import json
    import subprocess
    import sys

    from .conftest import DATA

    p = tmp_path / "cap0.json"
    p.write_text(json.dumps({"cpus": [{"cpu": i, "core": i, "llc": 0, "node": 0, "capacity": 0 if i == 0 else 1024}
                                      for i in range(4)]}))
    # an empty compile cache: the machine is checked before the trace is read and its kernels
    # compile (26 s on a fresh install before), so the error comes alone and at once
    env = {**os.environ, "SCHEDREPLAY_CACHE_DIR": str(tmp_path / "cache")}
    for cmd in ("metrics", "replay", "compare", "validate"):
        r = subprocess.run([sys.executable, "-m", "replay", cmd, str(DATA / "panopticon_ftrace.txt"),
                            "--topology", str(p), "--json"], capture_output=True, text=True, env=env)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and "capacity 0" in r.stderr and len(lines) == 1, (cmd, r.stderr)


def _fake_sysfs(root, n_cpus=4, smt=2, nodes=2):
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "online").write_text(f"0-{n_cpus - 1}\n")
    per_node = n_cpus // nodes
    for c in range(n_cpus):
        d = root / "cpu" / f"cpu{c}"
        (d / "topology").mkdir(parents=True)
        first = c - c % smt
        (d / "topology" / "thread_siblings_list").write_text(f"{first}-{first + smt - 1}\n")
        for idx, level in ((0, 1), (2, 2), (3, 3)):
            ci = d / "cache" / f"index{idx}"
            ci.mkdir(parents=True)
            (ci / "level").write_text(f"{level}\n")
            shared = f"{c}" if level < 3 else f"{c - c % per_node}-{c - c % per_node + per_node - 1}"
            (ci / "shared_cpu_list").write_text(shared + "\n")
    for n in range(nodes):
        nd = root / "node" / f"node{n}"
        nd.mkdir(parents=True)
        (nd / "cpulist").write_text(f"{n * per_node}-{(n + 1) * per_node - 1}\n")
        (nd / "distance").write_text(" ".join("10" if m == n else "21" for m in range(nodes)) + "\n")


def test_host_topology_from_sysfs(tmp_path):
    _fake_sysfs(tmp_path, n_cpus=8, smt=2, nodes=2)
    t = T.from_host(tmp_path)
    assert t.n_cpus == 8 and t.n_cores == 4 and t.n_llcs == 2 and t.n_nodes == 2
    assert t.distance.tolist() == [[10, 21], [21, 10]]
    assert list(t.core) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_this_machine():
    t = T.resolve("host")
    assert t.n_cpus >= 1 and np.all(t.node >= 0)


# -- phones and boards: LISA platform descriptions and the two-line cluster form --------

LISA_PLAT = os.path.join(os.path.dirname(__file__), "data", "lisa_trace.txt.plat_info.yml")


def test_lisa_platform_description_of_the_juno_board():
    """The corpus README's account of this file (independent of this project): Juno r0/r2,
    Linux 4.19.0, CPU capacities 446/1024, frequency domains {0,3,4,5} and {1,2}."""
    t = T.resolve(LISA_PLAT)
    assert t.n_cpus == 6
    assert t.capacity.tolist() == [446, 1024, 1024, 446, 446, 446]
    assert t.llc.tolist() == [0, 1, 1, 0, 0, 0]     # one cluster (LLC) per frequency domain
    assert t.n_cores == 6 and t.n_nodes == 1         # no SMT, one node
    assert t.kernel.startswith("4.19.0") and t.name == "juno"


def test_the_two_line_cluster_form(tmp_path):
    """What a phone's --topology needs: the clusters and their capacities."""
    p = tmp_path / "phone.toml"
    p.write_text('clusters = [[0, 1, 2, 3], [4, 5, 6], [7]]\ncapacity = [160, 512, 1024]\nkernel = "5.10"\n')
    t = T.resolve(str(p))
    assert t.capacity.tolist() == [160] * 4 + [512] * 3 + [1024]
    assert t.llc.tolist() == [0] * 4 + [1] * 3 + [2] and t.n_cores == 8 and t.kernel == "5.10"
    y = tmp_path / "board.yaml"
    y.write_text("clusters: [[0, 3, 4, 5], [1, 2]]\ncapacity: [446, 1024, 1024, 446, 446, 446]\n")
    # the same machine but for the platform description's energy model (test_topology_energy.py)
    assert T.resolve(str(y)) == replace(T.resolve(LISA_PLAT), energy=None)


@pytest.mark.parametrize("text, match", [
    ("clusters = [[0, 1], [1, 2]]\n", "exactly once"),
    ("clusters = [[0, 2]]\n", "exactly once"),
    ("clusters = [[0, 1], [2]]\ncapacity = [1024, 1024, 512, 512]\n", "one value per CPU"),
    ("clusters = [['a'], [1]]\n", "lists of CPU numbers"),
    ("clusters = [[0], [1]]\ncapacity = [0, 1024]\n", "capacity 0"),
    ("clusters = [[0], [1]]\nkernel = [4, 19]\n", "kernel"),
])
def test_cluster_form_errors_name_the_file(tmp_path, text, match):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(TraceError, match=f"bad.toml.*{match}"):
        T.resolve(str(p))


@pytest.mark.parametrize("text, match", [
    ("platform-info:\n  conf:\n    cpus-count: 4\n    freq-domains: [[0, 1], [2]]\n", "cpus-count is 4"),
    ("platform-info:\n  conf:\n    freq-domains: [[0], [1]]\n    cpu-capacities: {orig: {0: 446}}\n", "every CPU"),
    ("platform-info: {conf: [1, 2\n", ": cannot read"),
])
def test_broken_platform_descriptions_are_errors_naming_the_file(tmp_path, text, match):
    p = tmp_path / "plat_info.yml"
    p.write_text(text)
    with pytest.raises(TraceError, match=f"plat_info.yml.*{match}"):
        T.resolve(str(p))


def test_python_tags_in_a_platform_description_are_data(tmp_path):
    """LISA's tags are read as the mappings and lists they hold, never constructed: a tag
    that would run a command is a mapping like any other."""
    p = tmp_path / "plat_info.yml"
    p.write_text("platform-info:\n  conf:\n    freq-domains: !!python/tuple [[0, 1]]\n"
                 "    x: !!python/object/apply:os.system ['false']\n")
    assert T.resolve(str(p)).n_cpus == 2
