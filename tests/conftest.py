"""Shared fixtures: where the real-trace corpus is, and hypothesis profiles.

The corpus (../shared/traces beside the project, or $SCHEDREPLAY_TRACES) is
large and stays out of git. Tests that need it use the ``corpus`` fixture;
without the corpus they are skipped, except when SCHEDREPLAY_REQUIRE_CORPUS=1
(CI sets it), where a missing corpus is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

settings.register_profile("default", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def corpus_dir() -> Path | None:
    p = Path(os.environ.get("SCHEDREPLAY_TRACES", ROOT.parent / "shared" / "traces"))
    return p if (p / "README.md").exists() else None


@pytest.fixture(scope="session")
def corpus() -> Path:
    p = corpus_dir()
    if p is None:
        if os.environ.get("SCHEDREPLAY_REQUIRE_CORPUS") == "1":
            pytest.fail("trace corpus not found: set SCHEDREPLAY_TRACES or put it at ../shared/traces")
        pytest.skip("trace corpus not available (set SCHEDREPLAY_TRACES)")
    return p


@pytest.fixture(scope="session")
def ground_truth(corpus) -> dict[str, dict]:
    """The ground-truth table of the corpus README: file -> {cpus, counts}."""
    from tests._groundtruth import parse_ground_truth

    return parse_ground_truth(corpus / "README.md")


@pytest.fixture(scope="session")
def engine_ready():
    """Compile (or load from the numba cache) the replay engine once per session, so that the
    first test using it does not carry the compile time."""
    from replay import replay
    from replay.model.topology import from_spec
    from replay.testing import make_workload

    replay(make_workload([dict(bursts=[dict(demand=1_000_000)])], end_ns=2_000_000), policy="eevdf",
           topology=from_spec("1x1x1"))
    return True
