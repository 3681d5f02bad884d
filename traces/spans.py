"""Application spans: intervals of application work on one thread (schema.SPANS).

Two sources:

* **markers in the trace**: what applications write to ``trace_marker`` (ftrace
  ``print`` / ``tracing_mark_write`` events) in the atrace form that Android's
  ``ATRACE_*`` macros, Chrome and many tracing shims use:

  - ``B|pid|name`` ... ``E|pid`` (or a bare ``E``): a slice on the writing thread;
    slices nest, an ``E`` ends the thread's innermost open one;
  - ``S|pid|name|cookie`` ... ``F|pid|name|cookie``: an async slice, matched by
    (pid, name, cookie), which may end on another thread;
  - ``G|pid|track|name|cookie`` ... ``H|pid|track|cookie``: an async slice on a
    named track (newer atrace), matched by (pid, track, cookie);
  - ``C|pid|name|value`` (counters) and instants (``I``, ``N``) carry no interval and
    are ignored.

  Readers hand the raw markers (timestamp, writing thread, text, where in the file) to
  :func:`spans_from_markers`; Perfetto track-event slices arrive as ``B``/``E`` markers
  of the thread whose track they are on.
* **a log the application wrote**: CSV or Parquet, one row per span, given as
  ``FILE[:key=column,...]`` (:func:`parse_spec`, :func:`read_log`).

Damaged or unusable spans are counted warnings naming the first place they happened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from . import schema
from .errors import TraceError, Warnings


# -- the table ------------------------------------------------------------------------

def spans_table(cols: dict) -> pa.Table:
    """A schema.SPANS Arrow table from column lists/arrays (names and groups as str),
    sorted by (start_ns, tid, depth)."""
    n = len(cols["tid"])
    data = {}
    for f in schema.SPANS.fields:
        v = cols.get(f.name)
        if f.type == "str":
            vals = ["" if x is None else str(x) for x in (v if v is not None else [""] * n)]
            data[f.name] = pa.array(vals, pa.string()).dictionary_encode()
        else:
            data[f.name] = pa.array(np.asarray(v if v is not None else np.full(n, f.default), f.numpy_dtype),
                                    f.arrow_type)
    t = pa.table(data).cast(schema.SPANS.arrow_schema())
    if n > 1:
        order = np.lexsort((np.asarray(data["depth"]), np.asarray(data["tid"]), np.asarray(data["start_ns"])))
        t = t.take(pa.array(order))
    return t


def empty_spans() -> pa.Table:
    return spans_table({f.name: [] for f in schema.SPANS.fields})


def as_frame(t: pa.Table | pl.DataFrame | None) -> pl.DataFrame:
    """A spans table as a polars DataFrame with String name and group columns (empty when
    None)."""
    if t is None:
        t = empty_spans()
    df = t if isinstance(t, pl.DataFrame) else pl.from_arrow(t)
    return df.with_columns(pl.col("name").cast(pl.String), pl.col("group").cast(pl.String))


# -- markers ----------------------------------------------------------------------------

@dataclass
class Markers:
    """Raw trace markers a reader collected, in file order: timestamp (trace clock, ns),
    the writing thread, the text after ``tracing_mark_write: `` (or the ``buf`` field),
    and where in the file it was (``line 12``, ``byte 4096``, ``packet 7``) for warnings.
    ``track``: the marker is a Perfetto track-event slice begin/end given as ``B|pid|name``
    / ``E|pid`` on the thread whose track it is on (its spans get origin SPAN_TRACK)."""

    ts_ns: list = field(default_factory=list)
    tid: list = field(default_factory=list)
    text: list = field(default_factory=list)
    where: list = field(default_factory=list)
    track: list = field(default_factory=list)

    def add(self, ts_ns: int, tid: int, text: str, where: str, track: bool = False) -> None:
        self.ts_ns.append(int(ts_ns))
        self.tid.append(int(tid))
        self.text.append(text)
        self.where.append(where)
        self.track.append(bool(track))

    def __len__(self) -> int:
        return len(self.ts_ns)


def _fields(text: str, n: int) -> list[str]:
    """``text`` split at '|' into at most n fields, the last keeping any further '|' (a
    name may contain one), whitespace stripped."""
    parts = text.split("|", n - 1)
    return [p.strip() for p in parts]


def _pid(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None


def spans_from_markers(markers: Markers, warnings: Warnings, source: str = "") -> tuple[pa.Table, int]:
    """The spans (schema.SPANS) of a trace's atrace markers, and how many markers were not
    atrace (free text a tool wrote to trace_marker, e.g. LISA's devlib markers: skipped,
    like other non-scheduler events). Unmatched ends, slices still open when the trace
    ended and malformed atrace markers are counted warnings naming the first one's place."""
    out = {"tid": [], "end_tid": [], "start_ns": [], "end_ns": [], "name": [], "group": [], "origin": [],
           "depth": []}
    if not len(markers):
        return empty_spans(), 0
    other = 0
    order = np.argsort(np.asarray(markers.ts_ns, np.int64), kind="stable")
    stacks: dict[int, list] = {}    # tid -> open B slices [(ts, name, where)]
    open_async: dict[tuple, tuple] = {}  # (kind, pid, name or track, cookie) -> (ts, tid, name, where)
    pre = f"{source}: " if source else ""

    def emit(tid, end_tid, s, e, name, group, origin, depth):
        out["tid"].append(tid)
        out["end_tid"].append(end_tid)
        out["start_ns"].append(s)
        out["end_ns"].append(e)
        out["name"].append(name)
        out["group"].append(group)
        out["origin"].append(origin)
        out["depth"].append(depth)

    for i in order.tolist():
        ts, tid, text, where = markers.ts_ns[i], markers.tid[i], markers.text[i].strip(), markers.where[i]
        if not text:
            continue
        kind = text[0]
        if kind not in "BESFGHCINTU" or (len(text) > 1 and text[1] != "|"):
            other += 1
            continue
        if kind == "B":
            f = _fields(text, 3)
            if len(f) < 3 or _pid(f[1]) is None or not f[2]:
                warnings.add("span-bad-marker", f"{pre}{where}: malformed begin marker {text[:60]!r} "
                             "(expected B|pid|name); ignored")
                continue
            stacks.setdefault(tid, []).append((ts, f[2], where,
                                               schema.SPAN_TRACK if markers.track[i] else schema.SPAN_MARKER))
        elif kind == "E":
            st = stacks.get(tid)
            if not st:
                warnings.add("span-unmatched-end", f"{pre}{where}: end marker with no open slice on thread {tid} "
                             "(begun before the trace started?); ignored")
                continue
            s, name, _, origin = st.pop()
            emit(tid, tid, s, ts, name, "", origin, len(st))
        elif kind in "SFGH":
            if kind in "SF":
                parts = [x.strip() for x in text.split("|")]
                # the cookie is the last field, the name all between pid and cookie ('|' allowed)
                name, cookie = "|".join(parts[2:-1]), parts[-1]
                if len(parts) < 4 or _pid(parts[1]) is None or not name:
                    warnings.add("span-bad-marker", f"{pre}{where}: malformed async marker {text[:60]!r} "
                                 f"(expected {kind}|pid|name|cookie); ignored")
                    continue
                key, begin = ("S", _pid(parts[1]), name, cookie), kind == "S"
            else:  # G|pid|track|name|cookie ... H|pid|track|cookie
                f = _fields(text, 5) if kind == "G" else _fields(text, 4)
                ok = (len(f) == 5 and f[3]) if kind == "G" else len(f) == 4
                if not ok or _pid(f[1]) is None:
                    warnings.add("span-bad-marker", f"{pre}{where}: malformed track marker {text[:60]!r}; ignored")
                    continue
                name, cookie = (f[3] if kind == "G" else ""), f[-1]
                key, begin = ("G", _pid(f[1]), f[2], cookie), kind == "G"
            if begin:
                if key in open_async:
                    warnings.add("span-async-reused", f"{pre}{where}: async slice {name!r} cookie {cookie} begun "
                                 "again before it ended; the earlier begin is dropped")
                open_async[key] = (ts, tid, name, where)
                continue
            b = open_async.pop(key, None)
            if b is None:
                warnings.add("span-unmatched-end", f"{pre}{where}: end marker with no open slice on thread {tid} "
                             "(begun before the trace started?); ignored")
                continue
            emit(b[1], tid, b[0], ts, b[2], cookie, schema.SPAN_ASYNC, 0)
        else:
            continue  # counters, instants and flow markers (C, I, N, T, U): no interval
    still = [(ts, w, n) for st in stacks.values() for (ts, n, w, _) in st] + \
        [(v[0], v[3], v[2]) for v in open_async.values()]
    if still:
        _, w, n = min(still, key=lambda x: x[0])
        warnings.add("span-open-at-end", f"{pre}{w}: slice {n!r} was still open when the trace ended; left out",
                     len(still))
    return spans_table(out), other


# -- logs -------------------------------------------------------------------------------

#: keys of a --spans mapping and their default columns
LOG_DEFAULTS = {"tid": "tid", "start": "start_ns", "end": "end_ns", "name": "name"}
_LOG_KEYS = ("tid", "end_tid", "start", "end", "name", "group", "label", "unit")
_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
SPEC_HELP = ("FILE[:key=column,...]: a CSV or Parquet log, one row per span; keys tid, start, end, name "
             "(default columns tid, start_ns, end_ns, name), end_tid and group (optional columns), "
             "label=TEXT (the name of every span when the log has no name column; default the file's name) "
             "and unit=ns|us|ms|s of the times (default ns, in the trace's clock); @sample: the sample's "
             "tokens.csv")


@dataclass(frozen=True)
class LogSpec:
    """A ``--spans`` argument: the file and the column of each key."""

    path: str
    columns: tuple  # ((key, column), ...)
    text: str = ""

    def column(self, key: str):
        return dict(self.columns).get(key)


def parse_spec(text: str) -> LogSpec:
    """``FILE[:key=column,...]`` (:data:`SPEC_HELP`). A file name containing ':' is taken
    whole when it exists."""
    if not text or not text.strip():
        raise TraceError(f"--spans {text!r}: give a file, {SPEC_HELP}")
    if text.strip() == "@sample":
        from .trace import sample_spans

        return parse_spec(sample_spans())
    path, mapping = text, ""
    if not os.path.exists(text) and ":" in text:
        head, _, tail = text.rpartition(":")
        if "=" in tail or not tail or os.path.exists(head):
            path, mapping = head, tail
    cols = {}
    for item in filter(None, (x.strip() for x in mapping.split(","))):
        key, eq, col = item.partition("=")
        key, col = key.strip(), col.strip()
        if not eq or not col:
            raise TraceError(f"--spans {text!r}: {item!r} is not key=column ({SPEC_HELP})")
        if key not in _LOG_KEYS:
            raise TraceError(f"--spans {text!r}: unknown key {key!r}; keys: {', '.join(_LOG_KEYS)}")
        if key in cols:
            raise TraceError(f"--spans {text!r}: {key} given twice")
        cols[key] = col
    if "unit" in cols and cols["unit"] not in _UNITS:
        raise TraceError(f"--spans {text!r}: unit={cols['unit']} is not one of {', '.join(_UNITS)}")
    if "label" in cols and "name" in cols:
        raise TraceError(f"--spans {text!r}: give name=COLUMN or label=TEXT, not both")
    return LogSpec(path, tuple(cols.items()), text)


def _read_frame(path: str) -> tuple[pl.DataFrame, bool]:
    """(the log as a DataFrame, whether it is CSV)."""
    p = Path(path)
    if not p.exists():
        raise TraceError("span log not found", path)
    if p.is_dir():
        raise TraceError("span log is a directory, not a CSV or Parquet file", path)
    with open(p, "rb") as f:
        head = f.read(4)
    try:
        if head == b"PAR1":
            return pl.read_parquet(p), False
        return pl.read_csv(p, infer_schema_length=None), True
    except Exception as e:  # polars' own errors name the problem; make it one line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TraceError(f"cannot read the span log as {'Parquet' if head == b'PAR1' else 'CSV'}: {msg}",
                         path) from None


def read_log(spec: LogSpec | str, warnings: Warnings) -> pl.DataFrame:
    """The spans of a log (schema.SPANS columns, origin log, names as String) plus ``row``:
    where each came from (``line N`` of a CSV, ``row N`` of a Parquet file), for the checks
    against the trace (:func:`replay.model.spans.checked`). Rows without a tid, start or end,
    with times that are not numbers, or ending before they start are counted warnings."""
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    df, is_csv = _read_frame(spec.path)
    cols = {k: spec.column(k) or LOG_DEFAULTS.get(k) for k in ("tid", "end_tid", "start", "end", "name", "group")}
    for key in ("tid", "start", "end"):
        if cols[key] not in df.columns:
            given = spec.column(key) is not None
            raise TraceError(f"span log has no column {cols[key]!r} for {key} "
                             f"({'as given' if given else 'the default'}; its columns: {', '.join(df.columns)}); "
                             f"map it with --spans {spec.path}:{key}=COLUMN", spec.path)
    for key in ("end_tid", "group"):
        if cols[key] is not None and cols[key] not in df.columns:
            raise TraceError(f"span log has no column {cols[key]!r} for {key} (its columns: "
                             f"{', '.join(df.columns)})", spec.path)
    if spec.column("name") is not None and cols["name"] not in df.columns:
        raise TraceError(f"span log has no column {cols['name']!r} for name (its columns: {', '.join(df.columns)})",
                         spec.path)
    n = df.height
    where = [f"line {i + 2}" for i in range(n)] if is_csv else [f"row {i + 1}" for i in range(n)]
    scale = _UNITS[spec.column("unit") or "ns"]

    def times(col: str) -> np.ndarray:
        s = df[col]
        if not s.dtype.is_numeric():
            s = s.cast(pl.Float64, strict=False)
        v = s.cast(pl.Float64).to_numpy()
        return np.where(np.isfinite(v), np.round(v * scale), np.nan)

    def ids(col: str) -> np.ndarray:
        s = df[col]
        v = (s if s.dtype.is_numeric() else s.cast(pl.Float64, strict=False)).cast(pl.Float64).to_numpy()
        return np.where(np.isfinite(v) & (v == np.round(v)) & (v > 0) & (v < 2**31), v, np.nan)

    tid, start, end = ids(cols["tid"]), times(cols["start"]), times(cols["end"])
    end_tid = ids(cols["end_tid"]) if cols["end_tid"] else tid
    label = spec.column("label") or Path(spec.path).name.split(".")[0]
    if cols["name"] in df.columns:
        name = df[cols["name"]].cast(pl.String).fill_null("").to_list()
    else:
        name = [label] * n
    group = df[cols["group"]].cast(pl.String).fill_null("").to_list() if cols["group"] else [""] * n
    bad = np.isnan(tid) | np.isnan(end_tid)
    _count(warnings, "span-log-tid", bad, where, spec.path, f"no thread id in column {cols['tid']}")
    missing = ~bad & (np.isnan(start) | np.isnan(end))
    _count(warnings, "span-log-time", missing, where, spec.path, "start or end missing or not a number")
    ok = ~bad & ~missing
    backwards = ok & (np.nan_to_num(end) < np.nan_to_num(start))
    _count(warnings, "span-log-backwards", backwards, where, spec.path, "ends before it starts")
    ok &= ~backwards
    keep = np.flatnonzero(ok)
    return pl.DataFrame({
        "tid": tid[keep].astype(np.int32), "end_tid": end_tid[keep].astype(np.int32),
        "start_ns": start[keep].astype(np.int64), "end_ns": end[keep].astype(np.int64),
        "name": [name[i] for i in keep.tolist()], "group": [group[i] for i in keep.tolist()],
        "origin": np.full(len(keep), schema.SPAN_LOG, np.int8), "depth": np.zeros(len(keep), np.int16),
        "row": [where[i] for i in keep.tolist()]},
        schema={"tid": pl.Int32, "end_tid": pl.Int32, "start_ns": pl.Int64, "end_ns": pl.Int64, "name": pl.String,
                "group": pl.String, "origin": pl.Int8, "depth": pl.Int16, "row": pl.String})


def _count(warnings: Warnings, key: str, mask: np.ndarray, where: list, path: str, what: str) -> None:
    n = int(mask.sum())
    if n:
        first = where[int(np.flatnonzero(mask)[0])]
        warnings.add(f"{key}:{path}", f"{path}: {first}: span {what}; left out", n)
