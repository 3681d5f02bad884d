"""The energy model (the kernel's EM) and performance domains of a topology: read from a
LISA platform description, the two-line cluster form and the cpus rows; kept by subset and
to_dict; bad tables are one-line errors naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from replay.model import topology as T
from traces.errors import TraceError

# The Juno board's tables, read off its plat_info.yml (nrg-model, cpu0 and cpu1's
# active_states: frequency -> ActiveState(capacity, power)): the LITTLE domain {0, 3, 4, 5}
# and the big domain {1, 2}.
LITTLE = ((450000, 42.0), (575000, 58.0), (700000, 79.0), (775000, 97.0), (850000, 119.0))
BIG = ((450000, 160.0), (625000, 239.0), (800000, 343.0), (950000, 454.0), (1100000, 583.0))


def test_lisa_platform_description_gives_the_juno_energy_model(corpus):
    t = T.resolve(str(corpus / "public" / "lisa" / "trace.txt.plat_info.yml"))
    assert t.pd.tolist() == [0, 1, 1, 0, 0, 0] and t.n_pds == 2
    assert t.energy == (LITTLE, BIG)
    assert all(isinstance(f, int) and isinstance(p, float) for table in t.energy for f, p in table)
    assert t.describe().endswith(", energy model (2 performance domains)")
    assert t.capacity.tolist() == [446, 1024, 1024, 446, 446, 446] and t.kernel.startswith("4.19.0")


def test_a_platform_description_without_nrg_model_has_no_energy_model(tmp_path):
    p = tmp_path / "plat_info.yml"
    p.write_text("platform-info:\n  conf:\n    freq-domains: [[0, 1], [2, 3]]\n")
    t = T.resolve(str(p))
    assert t.energy is None and t.pd.tolist() == [0, 0, 1, 1]
    assert "energy" not in t.describe()


def test_a_domain_whose_cpus_list_other_frequencies_is_an_error(tmp_path):
    p = tmp_path / "plat_info.yml"
    state = "!!python/object/new:lisa.energy_model.ActiveState"
    p.write_text(f"""platform-info:
  conf:
    freq-domains: [[0, 1]]
    nrg-model: !!python/object:lisa.energy_model.EnergyModel
      cpu_nodes:
      - {{cpu: 0, cpus: [0], active_states: !!omap [{{500000: {state} [512, 10]}}, {{900000: {state} [1024, 30]}}]}}
      - {{cpu: 1, cpus: [1], active_states: !!omap [{{500000: {state} [512, 10]}}, {{800000: {state} [1024, 30]}}]}}
""")
    with pytest.raises(TraceError, match="plat_info.yml: .*CPU 1 the frequencies") as e:
        T.resolve(str(p))
    assert "\n" not in str(e.value)
    # the same frequencies on both: one table, CPU 0's
    p.write_text(p.read_text().replace("800000", "900000"))
    assert T.resolve(str(p)).energy == (((500000, 10.0), (900000, 30.0)),)


def test_clusters_yaml_with_an_energy_model(tmp_path):
    p = tmp_path / "phone.yaml"
    p.write_text("clusters: [[0, 1, 2, 3], [4, 5, 6, 7]]\n"
                 "capacity: [446, 1024]\n"
                 "energy:\n"
                 "  - [[450000, 42], [575000, 58], [700000, 79], [775000, 97], [850000, 119]]\n"
                 "  - [[450000, 160], [625000, 239], [800000, 343], [950000, 454], [1100000, 583]]\n")
    t = T.resolve(str(p))
    assert t.pd.tolist() == [0] * 4 + [1] * 4 and t.llc.tolist() == t.pd.tolist()
    assert t.energy == (LITTLE, BIG)
    assert t.capacity.tolist() == [446] * 4 + [1024] * 4


def test_clusters_are_taken_in_their_file_order(tmp_path):
    """The tables follow the clusters as written; pd ids follow each domain's lowest CPU."""
    p = tmp_path / "phone.toml"
    p.write_text("clusters = [[2, 3], [0, 1]]\ncapacity = [1024, 512]\n"
                 "energy = [[[1000000, 300]], [[500000, 20.5]]]\n")
    t = T.resolve(str(p))
    assert t.pd.tolist() == [0, 0, 1, 1] and t.capacity.tolist() == [512, 512, 1024, 1024]
    assert t.energy == (((500000, 20.5),), ((1000000, 300.0),))


def test_rows_json_with_pd_and_energy(tmp_path):
    """One LLC (a DynamIQ phone's L3) holding two performance domains labelled 7 and 3."""
    rows = [{"cpu": i, "core": i, "llc": 0, "node": 0, "capacity": 1024 if i >= 2 else 300, "pd": 7 if i < 2 else 3}
            for i in range(4)]
    p = tmp_path / "dynamiq.json"
    p.write_text(json.dumps({"cpus": rows, "energy": [[[300000, 5], [600000, 12.5]], [[1000000, 200]]]}))
    t = T.resolve(str(p))
    assert t.llc.tolist() == [0, 0, 0, 0] and t.pd.tolist() == [0, 0, 1, 1] and t.n_pds == 2
    assert t.energy == (((300000, 5.0), (600000, 12.5)), ((1000000, 200.0),))


def test_rows_without_pd_take_the_llcs(tmp_path):
    rows = [{"cpu": i, "core": i, "llc": i // 2, "node": 0} for i in range(4)]
    p = tmp_path / "t.json"
    p.write_text(json.dumps({"cpus": rows, "energy": [[[100, 1]], [[200, 2]]]}))
    t = T.resolve(str(p))
    assert t.pd.tolist() == [0, 0, 1, 1] and t.energy == (((100, 1.0),), ((200, 2.0),))


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_to_dict_round_trips_through_a_file(tmp_path, corpus, suffix):
    juno = T.resolve(str(corpus / "public" / "lisa" / "trace.txt.plat_info.yml"))
    other = T.make([0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0], [300, 300, 1024, 1024], pd=["a", "a", "b", "b"])
    for t in (juno, other, T.from_spec("2x2x2")):
        p = tmp_path / f"t{suffix}"
        p.write_text(json.dumps(t.to_dict()))  # JSON is YAML too
        back = T.from_file(p)
        assert back == t and back.energy == t.energy and back.pd.tolist() == t.pd.tolist()
    assert "energy" not in T.from_spec("2x2x2").to_dict()
    assert "pd" not in T.from_spec("2x2x2").to_dict()["cpus"][0]


def test_equality_sees_pd_and_energy(corpus):
    juno = T.resolve(str(corpus / "public" / "lisa" / "trace.txt.plat_info.yml"))
    plain = T.make(range(6), [0, 1, 1, 0, 0, 0], [0] * 6, [446, 1024, 1024, 446, 446, 446])
    assert juno != plain and T.make(range(6), [0, 1, 1, 0, 0, 0], [0] * 6, [446, 1024, 1024, 446, 446, 446],
                                   energy=[list(LITTLE), list(BIG)]) == juno
    assert T.make([0, 1], [0, 0], [0, 0]) != T.make([0, 1], [0, 0], [0, 0], pd=[0, 1])


def test_subset_keeps_and_reindexes_the_domains(corpus):
    juno = T.resolve(str(corpus / "public" / "lisa" / "trace.txt.plat_info.yml"))
    s = juno.subset([2, 4, 1])       # big, LITTLE, big
    assert s.pd.tolist() == [0, 1, 0] and s.energy == (BIG, LITTLE)
    assert s.capacity.tolist() == [1024, 446, 1024] and s.kernel == juno.kernel
    only_little = juno.subset([0, 3])
    assert only_little.pd.tolist() == [0, 0] and only_little.energy == (LITTLE,)
    t = T.make([0, 1, 2], [0, 0, 0], [0, 0, 0], pd=[5, 5, 9])
    assert t.subset([2, 0]).pd.tolist() == [0, 1] and t.subset([2, 0]).energy is None


def test_host_spec_and_defaults_have_no_energy_model():
    t = T.from_spec("1x4x2")
    assert t.energy is None and np.array_equal(t.pd, t.llc) and t.n_pds == t.n_llcs
    bare = T.Topology(t.core, t.llc, t.node, t.capacity, t.distance)
    assert np.array_equal(bare.pd, t.llc) and bare.pd is not t.llc


_CLUSTERS = "clusters = [[0, 1], [2, 3]]\ncapacity = [512, 1024]\n"


@pytest.mark.parametrize("energy, match", [
    ("[[[500000, 10]]]", "1 table for 2 performance domains"),
    ("[[[500000, 10]], [[500000, 10]], [[500000, 10]]]", "3 tables for 2 performance domains"),
    ("5", "5 for 2 performance domains"),
    ("[[[500000, 10], [400000, 20]], [[500000, 10]]]", "frequency 400000 after 500000: .*distinct and ascending"),
    ("[[[500000, 10]], [[500000, 10], [500000, 20]]]", "domain 1 has frequency 500000 after 500000"),
    ("[[[500000, -1]], [[500000, 10]]]", "power -1 at 500000 kHz: .*>= 0"),
    ("[[[0, 1]], [[500000, 10]]]", "frequency 0: .*> 0"),
    ("[[[500000.5, 1]], [[500000, 10]]]", "frequency 500000.5: a frequency is a whole number"),
    ("[[500000, 10], [[500000, 10]]]", "domain 0 is \\[500000, 10\\], not a non-empty list of"),
    ("[[[500000, 10, 3]], [[500000, 10]]]", "domain 0 .* not a non-empty list of \\[frequency_khz, power_mw\\] pairs"),
    ("[[], [[500000, 10]]]", "domain 0 is \\[\\], not a non-empty list"),
    ("[[[500000, 'x']], [[500000, 10]]]", "not a non-empty list of"),
])
def test_bad_energy_models_are_one_line_errors_naming_the_file(tmp_path, energy, match):
    p = tmp_path / "bad.toml"
    p.write_text(_CLUSTERS + f"energy = {energy}\n")
    with pytest.raises(TraceError, match=f"bad.toml: topology file: energy model: .*{match}") as e:
        T.resolve(str(p))
    assert "\n" not in str(e.value)


def test_bad_energy_in_rows_and_pd_on_some_rows(tmp_path):
    rows = [{"cpu": i, "core": i, "llc": 0, "node": 0, "pd": i // 2} for i in range(4)]
    p = tmp_path / "rows.json"
    p.write_text(json.dumps({"cpus": rows, "energy": [[[100, 1]]]}))
    with pytest.raises(TraceError, match="rows.json: .*1 table for 2 performance domains"):
        T.resolve(str(p))
    del rows[1]["pd"]
    p.write_text(json.dumps({"cpus": rows}))
    with pytest.raises(TraceError, match="rows.json: .*3 of 4 cpus give a pd"):
        T.resolve(str(p))


def test_make_checks_pd_and_energy():
    with pytest.raises(TraceError, match="pd gives 3 performance domains for 4 CPUs"):
        T.make([0, 1, 2, 3], [0, 0, 0, 0], [0] * 4, pd=[0, 0, 1])
    with pytest.raises(TraceError, match="energy model: 2 tables for 1 performance domains"):
        T.make([0, 1], [0, 0], [0, 0], energy=[[[1, 1]], [[1, 1]]])
    with pytest.raises(ValueError, match="differ in length"):
        t = T.from_spec("1x2x1")
        T.Topology(t.core, t.llc, t.node, t.capacity, t.distance, pd=np.zeros(3, np.int32))


def test_broken_nrg_models_are_errors_naming_the_file(tmp_path):
    p = tmp_path / "plat_info.yml"
    p.write_text("platform-info:\n  conf:\n    freq-domains: [[0], [1]]\n    nrg-model: {cpu_nodes: 3}\n")
    with pytest.raises(TraceError, match="plat_info.yml: .*cpu_nodes"):
        T.resolve(str(p))
    p.write_text("platform-info:\n  conf:\n    freq-domains: [[0], [1]]\n"
                 "    nrg-model: {cpu_nodes: [{cpu: 0, active_states: {500000: [512, 10]}}]}\n")
    with pytest.raises(TraceError, match="plat_info.yml: .*no cpu node for CPU 1"):
        T.resolve(str(p))
    p.write_text("platform-info:\n  conf:\n    freq-domains: [[0]]\n"
                 "    nrg-model: {cpu_nodes: [{cpu: 0, active_states: null}]}\n")
    with pytest.raises(TraceError, match="plat_info.yml: .*CPU 0's active_states are not"):
        T.resolve(str(p))
