"""The Parquet bundle round trip is lossless."""

from __future__ import annotations

import pytest

import traces
from traces.errors import TraceError

from .conftest import DATA


@pytest.mark.parametrize("name", ["panopticon_ftrace.txt", "trappy_trace_legacy_systrace.html"])
def test_bundle_round_trip_is_lossless(tmp_path, name):
    t = traces.load(DATA / name)
    t.write(tmp_path / "b")
    back = traces.load(tmp_path / "b")
    for table in ("events", "tasks", "cpus", "meta"):
        a, b = t.to_arrow()[table], back.to_arrow()[table]
        assert a.schema.equals(b.schema), table
        assert a.to_pylist() == b.to_pylist(), table
    assert back.info() == t.info()


def test_bundle_writes_are_byte_identical(tmp_path):
    t = traces.load(DATA / "panopticon_ftrace.txt")
    t.write(tmp_path / "a")
    traces.load(DATA / "panopticon_ftrace.txt").write(tmp_path / "b")
    for name in ("events", "tasks", "cpus", "meta"):
        assert (tmp_path / "a" / f"{name}.parquet").read_bytes() == (tmp_path / "b" / f"{name}.parquet").read_bytes()


def test_incomplete_bundle_is_a_clear_error(tmp_path):
    traces.load(DATA / "panopticon_ftrace.txt").write(tmp_path / "b")
    (tmp_path / "b" / "tasks.parquet").unlink()
    with pytest.raises(TraceError, match="tasks.parquet is missing"):
        traces.load(tmp_path / "b")
