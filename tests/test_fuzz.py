"""The fuzz tier: the command line (``info --json``, ``metrics --json``) on mutated real
traces of every format, under an address-space limit (tests/_fuzz.py has the driver and
what it mutates). CI runs a fixed number of cases with a fixed seed (deterministic, about
half a minute); ``SCHEDREPLAY_FUZZ_CASES=N`` (and ``SCHEDREPLAY_FUZZ_SEED``) run more:

    SCHEDREPLAY_FUZZ_CASES=20000 pytest tests/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests import _fuzz
from tests.conftest import ROOT, corpus_dir

CASES = int(os.environ.get("SCHEDREPLAY_FUZZ_CASES", "300"))
SEED = int(os.environ.get("SCHEDREPLAY_FUZZ_SEED", "0"))


def test_mutated_traces_exit_cleanly_or_with_one_line(tmp_path):
    """Every run exits 0, or 2 with a one-line error: never a signal (a crash), a traceback,
    another exit code, the memory limit hit or a hang."""
    out = tmp_path / "fuzz"
    args = [sys.executable, "-m", "tests._fuzz", "--seed", str(SEED), "--cases", str(CASES), "--mem-gb", "4",
            "--case-timeout-s", "120", "--out", str(out)]
    if corpus_dir() is not None:
        args += ["--corpus", str(corpus_dir())]
    p = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if p.returncode < 0:  # killed by a signal: the case it was running is in current.json
        current = (out / "current.json").read_text() if (out / "current.json").exists() else "?"
        raise AssertionError(f"the fuzz driver died of signal {-p.returncode} running {current}")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"] == CASES and summary["runs"] == 2 * CASES
    assert summary["failures"] == 0, json.dumps(summary["examples"][:5], indent=1)
    assert p.returncode == 0, p.stderr[-2000:]
    # every seed format was mutated, and each gave both clean runs and clean refusals
    formats = summary["per_format"]
    assert len(formats) >= (18 if corpus_dir() is not None else 4), sorted(formats)
    assert sum(f["exit0"] for f in formats.values()) > 0 and sum(f["exit2"] for f in formats.values()) > 0


def test_the_judge_fails_what_it_must():
    """The tier's own rule, checked on runs built by hand: a clean exit or a one-line
    refusal passes; a traceback, a second line, another exit code or a hang fails."""
    ok = {"escaped": None, "code": 0, "stderr": [], "stderr_lines": 0}
    assert _fuzz.verdict(ok) is None
    assert _fuzz.verdict({**ok, "code": 2, "stderr": ["x.txt: line 3: bad"], "stderr_lines": 1}) is None
    assert _fuzz.verdict({**ok, "code": 2, "stderr": ["Traceback (most recent call last):"], "stderr_lines": 1})
    assert _fuzz.verdict({**ok, "code": 2, "stderr": ["a", "b"], "stderr_lines": 2})
    assert _fuzz.verdict({**ok, "code": 1, "stderr": ["boom"], "stderr_lines": 1})
    assert _fuzz.verdict({**ok, "escaped": "MemoryError: "})
    assert _fuzz.verdict({**ok, "escaped": "timeout: still running after 120 s"})


def test_a_mutant_depends_only_on_the_seed():
    import random

    seeds = _fuzz._seeds(None)
    name, data, _ = seeds[0]
    a = _fuzz.mutant(name, data, random.Random("7:3"))
    b = _fuzz.mutant(name, data, random.Random("7:3"))
    c = _fuzz.mutant(name, data, random.Random("7:4"))
    assert a == b and a != data and c != a
