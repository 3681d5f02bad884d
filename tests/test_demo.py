"""`schedreplay demo`, end to end as a user runs it: a subprocess in an empty directory,
on the sample trace shipped in the package. Slow-ish: the replay engine is compiled (or
loaded from numba's disk cache) in the subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_prints_the_table_and_writes_the_report(tmp_path):
    p = subprocess.run([sys.executable, "-m", "replay", "demo"], capture_output=True, text=True, cwd=tmp_path,
                       timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    out = p.stdout
    # the comparison table: the recording and every policy, on both machines
    assert "policies compared" in out
    for policy in ("observed", "cfs", "eevdf", "infinity"):
        assert re.search(rf"│ {policy}\s+│", out), policy
    assert out.count("2x8x2") >= 3 and "recorded" in out
    assert "validation (eevdf replayed on the recorded machine" in out
    # the report, in the current directory by default
    report = tmp_path / "schedreplay-demo.html"
    assert "wrote schedreplay-demo.html" in out
    text = report.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    data = json.loads(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', text,
                                re.S).group(1))
    assert data["trace"].endswith("c_infer_torch.report_raw.txt.zst")
    runs = [(r["policy"], r["topology"]) for r in data["runs"]]
    assert runs == [("observed", "recorded"), ("cfs", "recorded"), ("eevdf", "recorded"), ("infinity", "recorded"),
                    ("cfs", "2x8x2"), ("eevdf", "2x8x2"), ("infinity", "2x8x2")]
    assert text.count("<svg") >= 2 + 7 + 2  # CDFs per machine, busiest tasks per run, utilisation, NUMA
    # the terminal and the report give the same count of tasks: those that ran in the recording
    said = int(re.search(r"\(\d+\.\d s, (\d+) tasks ran on 2 CPUs; \d+ decode tokens", p.stderr).group(1))
    shown = int(re.search(r'<span data-key="n_tasks">(\d+)</span> tasks ran on 2 CPUs', text).group(1))
    import polars as pl

    import traces
    from replay.model.schedule import observed_schedule
    from traces import schema

    iv = observed_schedule(traces.load("@sample")).intervals
    ran = iv.filter((pl.col("state") == schema.RUNNING) & pl.col("valid") & (pl.col("end_ns") > pl.col("start_ns")))
    assert said == shown == ran["tid"].n_unique() == data["runs"][0]["n_tasks"]
