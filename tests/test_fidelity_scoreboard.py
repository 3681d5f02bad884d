"""The fidelity scoreboard's comparison with an earlier table (benchmarks/fidelity.py
--baseline): the rule by which a model change is adopted, on hand-made tables."""

from __future__ import annotations

import copy

from benchmarks import fidelity as F


def _row(trace, waits=1000, wakeup=(0.05, -0.20, 0.01, 0.10), preempt_count=150, cpu=0.01, jain=0.02, migr=0.30):
    p50, p99, count, ks = wakeup
    cause = {"count": 800, "count_replayed": 808, "p50_rel_err": p50, "p90_rel_err": 0.0, "p99_rel_err": p99,
             "count_rel_err": count, "ks": ks}
    pre = {"count": preempt_count, "count_replayed": preempt_count, "p50_rel_err": 0.5, "p90_rel_err": 0.0,
           "p99_rel_err": 0.5, "count_rel_err": 0.0, "ks": 0.2}
    new = {"count": 5, "count_replayed": 5, "p50_rel_err": 3.0, "p90_rel_err": 0.0, "p99_rel_err": 3.0,
           "count_rel_err": 0.0, "ks": None}
    return {"trace": trace, "waits": waits, "by_cause": {"wakeup": cause, "preempt": pre, "new": new},
            "cpu_time_rel_err_mean": cpu, "jain_abs_err": jain, "migrations_rel_err": migr, "spans": {}}


def _table(rows):
    return {"rows": rows, "left_out": [], "score": F.score(rows)}


def test_judged_figures_follow_the_targets():
    # a cause below 100 recorded waits and a trace below TARGET_WAITS are not judged
    figs = F.judged_figures(_row("a", preempt_count=99))
    assert list(figs) == ["wakeup p50", "wakeup p99", "wakeup count", "wakeup ks", "cpu time", "jain", "migrations"]
    assert F.judged_figures(_row("a", waits=F.TARGET_WAITS - 1)) == {}
    assert len(F.judged_figures(_row("a"))) == 11  # wakeup and preempt: 4 each, then 3


def test_an_unchanged_table_is_unchanged():
    rows = [_row("a"), _row("b")]
    cmp = F.against(_table(rows), copy.deepcopy(rows))
    assert (cmp["verdict"], cmp["better"], cmp["worse"], cmp["same"], cmp["changes"]) == ("unchanged", 0, 0, 22, [])


def test_better_and_worse_are_by_absolute_error():
    before = [_row("a", wakeup=(0.05, -0.20, 0.01, 0.10), migr=0.30)]
    # p50 +5% -> -4%: better (|error| shrank although the sign flipped); p99 -20% -> -25%: worse;
    # migrations 30% -> 60%: worse and now past the 50% target
    after = [_row("a", wakeup=(-0.04, -0.25, 0.01, 0.10), migr=0.60)]
    cmp = F.against(_table(before), after)
    got = {(c["figure"], c["change"]) for c in cmp["changes"]}
    assert got == {("wakeup p50", "better"), ("wakeup p99", "worse"), ("migrations", "worse")}
    assert (cmp["better"], cmp["worse"], cmp["same"]) == (1, 2, 8)
    assert cmp["score_before"]["met"] - cmp["score_after"]["met"] == 1
    assert cmp["verdict"] == "worse"


def test_the_table_is_better_only_without_losing_a_target():
    before = [_row("a", wakeup=(0.30, -0.20, 0.01, 0.10), cpu=0.05)]
    # two figures improve (p50 now within 10 %, CPU time smaller but still past 2 %), one worsens inside its target
    after = [_row("a", wakeup=(0.08, -0.20, 0.01, 0.10), cpu=0.04, jain=0.03)]
    cmp = F.against(_table(before), after)
    assert (cmp["better"], cmp["worse"]) == (2, 1)
    assert cmp["score_after"]["met"] == cmp["score_before"]["met"] + 1
    assert cmp["verdict"] == "better"
    # as many better as worse with the targets level: mixed
    after = [_row("a", wakeup=(0.25, -0.20, 0.01, 0.10), cpu=0.05, jain=0.03)]
    assert F.against(_table(before), after)["verdict"] == "mixed"


def test_figures_judged_on_one_side_and_traces_on_one_side_are_listed_apart():
    before = [_row("a", preempt_count=99), _row("gone")]
    after = [_row("a", preempt_count=120), _row("new")]
    cmp = F.against(_table(before), after)
    judged = sorted(c["figure"] for c in cmp["changes"] if c["change"] == "judged")
    assert judged == ["preempt count", "preempt ks", "preempt p50", "preempt p99"]
    assert (cmp["only_before"], cmp["only_after"]) == (["gone"], ["new"])


def test_a_run_over_some_traces_is_scored_against_the_same_traces_of_the_baseline():
    # fidelity.py --only: the baseline's other traces neither count in its score nor make
    # the smaller run look worse
    before = [_row("a"), _row("b", migr=0.9)]
    cmp = F.against(_table(before), [_row("a")])
    assert cmp["verdict"] == "unchanged"
    assert cmp["score_before"] == cmp["score_after"] == F.score([_row("a")])
    assert cmp["only_before"] == ["b"]


def test_every_missed_target_is_listed_with_what_explains_it(monkeypatch):
    """missed(): the figures past their targets (the new-task cause has too few waits to be
    judged), each with the GAPS finding that names its trace and figure, else None."""
    monkeypatch.setattr(F, "GAPS", (("x/a", ("preempt p50",), "a known gap"),))
    rows = [_row("x/a/trace.dat", migr=0.60), _row("x/b/trace.dat")]
    got = {(m["trace"], m["figure"]): (m["limit"], m["why"]) for m in F.missed(rows)}
    assert got == {("x/a/trace.dat", "wakeup p99"): (0.10, None),
                   ("x/a/trace.dat", "preempt p50"): (0.10, "a known gap"),
                   ("x/a/trace.dat", "preempt p99"): (0.10, None),
                   ("x/a/trace.dat", "migrations"): (0.50, None),
                   ("x/b/trace.dat", "wakeup p99"): (0.10, None),
                   ("x/b/trace.dat", "preempt p50"): (0.10, None),
                   ("x/b/trace.dat", "preempt p99"): (0.10, None)}
    assert len(F.missed(rows)) == F.score(rows)["judged"] - F.score(rows)["met"]


def test_a_change_is_judged_at_every_seed_set_and_by_what_moves_the_same_way():
    """--judge: a figure counts as the change's effect only when it moves the same way at
    every seed set; the change is worse when any seed set loses more targets than others
    gain, better only when none loses one and most pairs are better."""
    def pair(seed, before, after):
        b, a = _table(before), _table(after)
        b["seed"] = a["seed"] = seed
        return b, a

    # wakeup p50 improves at all three seed sets; p99 worsens at two and improves at one;
    # migrations worsen past their 50 % target at one seed set only
    pairs = [pair(0, [_row("a", wakeup=(0.30, -0.20, 0.01, 0.10))], [_row("a", wakeup=(0.05, -0.25, 0.01, 0.10))]),
             pair(100, [_row("a", wakeup=(0.25, -0.20, 0.01, 0.10))], [_row("a", wakeup=(0.06, -0.22, 0.01, 0.10))]),
             pair(200, [_row("a", wakeup=(0.20, -0.20, 0.01, 0.10))],
                  [_row("a", wakeup=(0.09, -0.10, 0.01, 0.10), migr=0.70)])]
    j = F.judge(pairs)
    assert j["seeds"] == [0, 100, 200]
    assert [(c["figure"], c["change"]) for c in j["consistent"]] == [("wakeup p50", "better")]
    assert j["consistent"][0]["errors"] == [[0.30, 0.05], [0.25, 0.06], [0.20, 0.09]]
    assert (j["consistent_better"], j["consistent_worse"]) == (1, 0)
    # the first two pairs gain p50's target, one figure better and one worse: mixed; the
    # third gains p50's and p99's targets and loses migrations': one target more, better
    assert [c["verdict"] for c in j["pairs"]] == ["mixed", "mixed", "better"]
    assert [(c["score_before"]["met"], c["score_after"]["met"]) for c in j["pairs"]] == [(5, 6), (5, 6), (5, 6)]
    assert j["verdict"] == "better"  # no seed set met fewer targets, and better outnumbers worse
    # one seed set gains a target and another loses one: mixed; two of three lose one: worse
    gain = pair(0, [_row("a", migr=0.8)], [_row("a")])
    lose = [pair(s, [_row("a")], [_row("a", migr=0.8)]) for s in (100, 200)]
    assert F.judge([gain, lose[0]])["verdict"] == "mixed"
    assert F.judge([gain, *lose])["verdict"] == "worse"
    assert F.judge([pair(s, [_row("a")], [_row("a")]) for s in (0, 100)])["verdict"] == "unchanged"


def test_judge_refuses_two_tables_of_different_seeds_and_takes_older_tables_as_given(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(F.__file__)
    paths = {}
    for name, seed in (("a0", 0), ("b100", 100), ("old", None)):
        t = _table([_row("a")])
        if seed is not None:
            t["seed"] = seed
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(t))

    def judge(*pairs):
        return subprocess.run([sys.executable, str(script), "--judge", *(f"{paths[a]}:{paths[b]}" for a, b in pairs)],
                              capture_output=True, text=True)

    p = judge(("a0", "b100"))
    assert p.returncode != 0 and "different seeds (0 and 100)" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = judge(("old", "a0"), ("old", "b100"))  # a table made before tables recorded their seed
    assert p.returncode == 0 and p.stdout.rstrip().endswith("The change: unchanged."), p.stderr
