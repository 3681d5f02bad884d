"""The ftrace text family: tracefs, atrace, trace-cmd report (pretty and -R), systrace HTML."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import zstandard
from hypothesis import given, settings, strategies as st

import traces
from traces import schema
from traces.errors import TraceError

from .conftest import DATA

TEXT_SUFFIXES = (".txt", ".html", ".systrace", ".zst", "atrace_data_raw", "trace-critical-path")


def _is_text_entry(name: str) -> bool:
    return not name.endswith((".dat", ".pb", ".pftrace", ".textproto"))


# -- ground truth ----------------------------------------------------------------

def test_committed_samples_match_ground_truth():
    """tests/data: counts and CPUs from the corpus README, runnable without the corpus."""
    expected = json.loads((DATA / "expected.json").read_text())
    for name, want in expected.items():
        t = traces.load(DATA / name)
        info = t.info()
        assert info["counts"] == want["counts"], name
        assert info["cpus"] == want["cpus"], name
        assert info["format"] == want["format"], name


@pytest.mark.corpus
def test_every_text_file_matches_ground_truth(corpus, ground_truth):
    names = [n for n in ground_truth if _is_text_entry(n)]
    assert len(names) >= 20
    for name in names:
        info = traces.load(corpus / name).info()
        want = ground_truth[name]
        assert info["counts"] == want["counts"], name
        assert info["cpus"] == want["cpus"], name


@pytest.mark.corpus
@pytest.mark.parametrize("capture", ["a_hackbench", "c_infer_torch", "d_nice_mix", "g_idle",
                                     "e_build", "b_cyclictest_rt"])
def test_distinct_tids_match_capture_meta(corpus, capture):
    """meta.json counts distinct TIDs > 0 in any pid field or as current task."""
    meta = json.loads((corpus / "captures" / capture / "meta.json").read_text())
    t = traces.load(corpus / "captures" / capture / "report_raw.txt")
    assert t.info()["tasks"] == meta["events"]["distinct_tids"]
    ts0 = round(meta["events"]["first_event_ts_s"] * 1e9)
    assert t.info()["first_ns"] == ts0


@pytest.mark.corpus
@pytest.mark.parametrize("capture", ["a_hackbench", "c_infer_torch", "d_nice_mix"])
def test_pretty_and_raw_renderings_agree(corpus, capture):
    """report.txt (sched plugin) and report_raw.txt (-R) carry the same events;
    the plugin loses the '+' of R+ (README), so prev_state is compared without it."""
    raw = traces.load(corpus / "captures" / capture / "report_raw.txt").events
    pretty = traces.load(corpus / "captures" / capture / "report.txt").events
    assert raw.height == pretty.height
    for col in schema.EVENTS.names:
        a, b = raw[col], pretty[col]
        if col == "prev_state":
            a = pl.Series(np.where(a.to_numpy() >= 0, a.to_numpy() & ~schema.STATE_PREEMPTED, a.to_numpy()))
            b = pl.Series(b.to_numpy())
        if a.dtype == pl.Categorical:
            a, b = a.cast(pl.String), b.cast(pl.String)
        assert a.to_list() == b.to_list(), col
    # and the '+' really is there in the raw rendering, only there
    assert (raw["prev_state"] == schema.STATE_PREEMPTED).sum() > 0
    assert (pretty["prev_state"] == schema.STATE_PREEMPTED).sum() == 0


@pytest.mark.corpus
def test_tracefs_capture_details(corpus):
    t = traces.load(corpus / "captures" / "tracefs_hackbench" / "tracefs.txt")
    ev = t.events
    assert t.format == "ftrace"
    # flags column present: every event has a known context; the README's first lines
    assert (ev["irq"] >= 0).all()
    first = ev.row(0, named=True)
    assert first["kind"] == schema.FORK and first["parent_tid"] == 2574 and first["tid"] == 2654
    assert first["ts_ns"] == 1287891548000
    # "R+" on line 21 of the file: bash 2655 preempted in the kernel by migration/0
    sw = ev.filter((pl.col("kind") == schema.SWITCH) & (pl.col("tid") == 2655) & (pl.col("next_tid") == 18))
    assert sw["prev_state"][0] == schema.STATE_PREEMPTED
    assert t.cpus.height == 2  # "#P:2"


# -- hand-written snippets with hand-computed answers ----------------------------

TRACEFS = """\
# tracer: nop
#
# entries-in-buffer/entries-written: 9/9   #P:4
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
     tmux: server-1613    [002] d..2.   100.000001: sched_switch: prev_comm=tmux: server prev_pid=1613 prev_prio=120 prev_state=S ==> next_comm=Web Content next_pid=2711 next_prio=120
     Web Content-2711    [002] dNh2.   100.000002: sched_waking: comm=MainTaskHigh:33 pid=33 prio=19 target_cpu=003
     Web Content-2711    [002] d.s2.   100.000003: sched_wakeup: comm=MainTaskHigh:33 pid=33 prio=19 target_cpu=003
     Web Content-2711    [002] d.z2.   100.000004: sched_migrate_task: comm=a-b-c pid=77 prio=130 orig_cpu=2 dest_cpu=0
     Web Content-2711    [002] .....   100.000005: sched_process_fork: comm=Web Content pid=2711 child_comm=Web Content child_pid=2712
     Web Content-2711    [002] d..2.   100.000006: sched_stat_runtime: comm=Web Content pid=2711 runtime=5000 [ns] vruntime=123456789 [ns]
CPU:1 [LOST 42 EVENTS]
          <idle>-0       [001] d..2.   100.000010: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R+ ==> next_comm=dl task next_pid=500 next_prio=-1
     Web Content-2712    [002] .....   100.000011: sched_process_exec: filename=/usr/bin/my prog pid=2712 old_pid=2712
     Web Content-2712    [002] .....   100.000012: sched_process_exit: comm=my prog pid=2712 prio=120 group_dead=true
     Web Content-2711    [002] d..2.   100.000013: cpu_idle: state=1 cpu_id=2
"""


def _load_text(tmp_path, text, name="t.txt", **kw):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return traces.load(p, **kw)


def test_tracefs_snippet_fields(tmp_path):
    t = _load_text(tmp_path, TRACEFS)
    ev = t.events.with_columns(pl.col(c).cast(pl.String) for c in ("comm", "next_comm", "parent_comm", "filename"))
    rows = ev.to_dicts()
    assert [r["kind"] for r in rows] == [schema.SWITCH, schema.WAKING, schema.WAKEUP, schema.MIGRATE,
                                         schema.FORK, schema.STAT_RUNTIME, schema.LOST, schema.SWITCH,
                                         schema.EXEC, schema.EXIT]
    sw = rows[0]
    assert (sw["cur_tid"], sw["tid"], sw["comm"], sw["prio"], sw["prev_state"]) == (1613, 1613, "tmux: server", 120, 1)
    assert (sw["next_tid"], sw["next_comm"], sw["next_prio"], sw["cpu"], sw["irq"]) == (2711, "Web Content", 120, 2, 0)
    assert sw["ts_ns"] == 100_000_001_000
    assert (rows[1]["comm"], rows[1]["tid"], rows[1]["prio"], rows[1]["target_cpu"], rows[1]["irq"]) == \
        ("MainTaskHigh:33", 33, 19, 3, schema.IRQ_HARD)
    assert rows[2]["irq"] == schema.IRQ_SOFT and rows[3]["irq"] == schema.IRQ_NMI
    assert (rows[3]["comm"], rows[3]["tid"], rows[3]["orig_cpu"], rows[3]["target_cpu"]) == ("a-b-c", 77, 2, 0)
    assert (rows[4]["parent_tid"], rows[4]["parent_comm"], rows[4]["tid"], rows[4]["comm"]) == \
        (2711, "Web Content", 2712, "Web Content")
    assert (rows[5]["runtime_ns"], rows[5]["vruntime_ns"]) == (5000, 123456789)
    lost = rows[6]
    assert (lost["cpu"], lost["lost_events"], lost["ts_ns"]) == (1, 42, 100_000_010_000)
    dl = rows[7]
    assert (dl["prev_state"], dl["next_prio"], dl["next_comm"]) == (schema.STATE_PREEMPTED, -1, "dl task")
    assert (rows[8]["filename"], rows[8]["tid"], rows[8]["old_tid"]) == ("/usr/bin/my prog", 2712, 2712)
    assert (rows[9]["group_dead"], rows[9]["comm"]) == (1, "my prog")
    info = t.info()
    assert info["lost_events"] == 42 and info["skipped_lines"] == 1
    assert info["cpus"] == 2 and t.cpus.height == 4
    assert t.cpus["lost_events"].to_list() == [0, 42, 0, 0]
    tasks = {r["tid"]: r for r in t.tasks.with_columns(pl.col("comm").cast(pl.String)).to_dicts()}
    assert tasks[500]["sched_class"] == schema.CLASS_DEADLINE
    assert tasks[33]["sched_class"] == schema.CLASS_RT
    assert tasks[77]["nice"] == 10
    assert tasks[2712]["comm"] == "my prog"


TGID_AND_PRETTY = """\
cpus=2
kworker/u17:1-959   (  959) [001] d..3   538.064659: sched_switch: prev_comm=kworker/u17:1 prev_pid=959 prev_prio=100 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120
          <idle>-0     (-----) [000] d..2   538.064674: sched_wakeup: comm=foo pid=42 prio=120 success=1 target_cpu=000
             foo-42    (   40) [000]   538.064700: sched_switch:         foo:42 [120] Z ==> bar baz:43 [130]
             foo-43    (   40) [000]   538.064701: sched_switch:         bar baz:43 [130] X|W ==> x:y:44 [110]
             foo-44    (   40) [000]   538.064702: sched_wakeup:         a:b:45 [120] CPU:001
             foo-44    (   40) [000]   538.064703: sched_switch:  prev_comm=x:y prev_pid=44 prev_prio=110 prev_state=4096 next_comm=q next_pid=46 next_prio=120
"""


def test_tgid_column_and_pretty_plugin_rendering(tmp_path):
    t = _load_text(tmp_path, TGID_AND_PRETTY)
    rows = t.events.with_columns(pl.col("comm").cast(pl.String), pl.col("next_comm").cast(pl.String)).to_dicts()
    assert len(rows) == 6
    assert rows[0]["irq"] == 0 and rows[0]["prev_state"] == schema.STATE_SLEEPING
    assert rows[1]["target_cpu"] == 0 and rows[1]["cur_tid"] == 0
    # plugin letters: Z is EXIT_DEAD (0x10), X is EXIT_ZOMBIE (0x20), W is 0x80 (traces README)
    assert (rows[2]["comm"], rows[2]["tid"], rows[2]["prio"], rows[2]["prev_state"]) == ("foo", 42, 120, 0x10)
    assert (rows[2]["next_comm"], rows[2]["next_tid"], rows[2]["next_prio"]) == ("bar baz", 43, 130)
    assert rows[3]["prev_state"] == 0x20 | 0x80
    assert (rows[3]["next_comm"], rows[3]["next_tid"]) == ("x:y", 44)
    assert (rows[4]["comm"], rows[4]["tid"], rows[4]["prio"], rows[4]["target_cpu"]) == ("a:b", 45, 120, 1)
    # old kernels' TASK_STATE_MAX preempt marker (LISA's Juno trace: 4096) -> '+'
    assert rows[5]["prev_state"] == schema.STATE_PREEMPTED
    assert rows[2]["irq"] == schema.IRQ_UNKNOWN
    tasks = dict(zip(t.tasks["tid"].to_list(), t.tasks["tgid"].to_list()))
    assert tasks[959] == 959 and tasks[42] == 40 and tasks[44] == 40
    assert t.cpus.height == 2


def test_compressed_text_is_read_directly(tmp_path):
    raw = TRACEFS.encode()
    plain = _load_text(tmp_path, raw, "a.txt").events
    z = _load_text(tmp_path, zstandard.ZstdCompressor().compress(raw), "a.txt.zst")
    g = _load_text(tmp_path, gzip.compress(raw), "a.txt.gz")
    assert z.events.equals(plain) and g.events.equals(plain)
    assert z.info()["compression"] == "zstd" and g.info()["compression"] == "gzip"


@pytest.mark.parametrize("chunk_bytes", [50, 600, 5000, 70000])
def test_chunk_boundaries_change_nothing(tmp_path, monkeypatch, chunk_bytes):
    """A file, plain or compressed, is read into a buffer chunk by chunk, carrying
    partial lines over. Wherever the cuts fall, both give the events, warnings and
    line numbers of one pass."""
    import functools

    from traces import _io, text

    raw = (DATA / "panopticon_ftrace.txt").read_bytes()
    raw = raw.replace(b"\n", b"\n@@@ not an event\n", 1)  # a warning with a line number and offset
    whole = _load_text(tmp_path, raw, "whole.txt")
    monkeypatch.setattr(text, "text_spans", functools.partial(_io.text_spans, chunk_bytes=chunk_bytes))
    for name, data in (("cut.txt", raw), ("cut.txt.gz", gzip.compress(raw))):
        t = _load_text(tmp_path, data, name)
        assert t.events.equals(whole.events), name
        assert [w.replace(name, "whole.txt") for w in t.warnings] == whole.warnings
    # systrace HTML: the trace-data block is fed to the parser span by span
    from traces import systrace

    html = (b'<html><body>\n  <script class="trace-data" type="application/text">\n' + raw
            + b'  </script>\n</body></html>\n')
    monkeypatch.setattr(systrace, "text_chunks", functools.partial(_io.text_chunks, chunk_bytes=chunk_bytes))
    assert _load_text(tmp_path, html, "cut.html").events.equals(whole.events)
    # the spans of a file tile it and end at line ends
    src = _io.open_source(tmp_path / "cut.txt")
    pieces, offsets = [], []
    for buf, start, stop, offset, last in _io.text_spans(src, chunk_bytes=chunk_bytes):
        assert last or buf[stop - 1] == 10
        pieces.append(buf[start:stop].tobytes())
        offsets.append(offset + start)
    assert b"".join(pieces) == raw
    assert offsets == [sum(map(len, pieces[:i])) for i in range(len(pieces))]


def test_systrace_html_new_and_legacy(tmp_path):
    body = "\n".join(TRACEFS.splitlines()[6:9])
    html = ("<html><head><title>x</title></head><body>\n<script>var x = 'class=\"trace-data\"';</script>\n"
            '  <script class="trace-data" type="application/text">\n' + body +
            '\n  </script>\n  <script class="trace-data" type="application/text">\n{"traceEvents": []}</script>\n'
            "</body></html>\n")
    t = _load_text(tmp_path, html, "x.html")
    assert t.format == "systrace" and t.info()["events"] == 3
    legacy = ('<!DOCTYPE HTML>\n<html><body>\n  <script>\n  var linuxPerfData = "\\\n' + body + "\n  </script>\n</body></html>\n")
    t2 = _load_text(tmp_path, legacy, "y.html")
    assert t2.info()["events"] == 3
    assert t2.events.equals(t.events)


def test_atrace_markers_and_other_tracers_are_counted(tmp_path):
    text = """\
# tracer: nop
          <...>-7952  [000] ...1   538.064761: tracing_mark_write: B|7952|draw
          <...>-7952  [000] ...1   538.064762: 0: E|7952
           <...>-4083  [004] ....   395.705673: sys_rt_sigprocmask -> 0x0
          <idle>-0     [000] d..2   538.064800: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=a next_pid=1 next_prio=120
"""
    t = _load_text(tmp_path, text)
    assert t.info()["events"] == 1 and t.info()["skipped_lines"] == 3
    assert any("tracing_mark_write" in w for w in t.warnings)


# -- bad input --------------------------------------------------------------------

def test_no_scheduler_events_is_an_error(tmp_path):
    with pytest.raises(TraceError, match="no scheduler events"):
        _load_text(tmp_path, "# tracer: nop\n  a-1 [000] d..2 1.000000: cpu_idle: state=1 cpu_id=0\n")


def test_unknown_format_lists_supported(tmp_path):
    with pytest.raises(TraceError, match="supported formats: ftrace"):
        _load_text(tmp_path, b"\x01\x02\x03garbage", "g.bin")
    with pytest.raises(TraceError, match="unknown format"):
        _load_text(tmp_path, "hello world\nthis is not a trace\n", "g.txt")


def test_garbage_lines_are_counted_with_their_line_and_offset(tmp_path):
    lines = TRACEFS.splitlines(keepends=True)
    text = "".join(lines[:8]) + "@@@ garbage line\n" + "".join(lines[8:])
    t = _load_text(tmp_path, text)
    offset = len("".join(lines[:8]).encode())
    w = [w for w in t.warnings if "not an event line" in w]
    assert w and "line 9" in w[0] and f"byte {offset}" in w[0]
    assert t.info()["events"] == 9  # the LOST marker is not a scheduler event


def test_corrupt_event_fields_are_counted_not_invented(tmp_path):
    text = TRACEFS.replace("prev_pid=1613 prev_prio=120", "prev_pid=1613 prev_prXo=120", 1)
    t = _load_text(tmp_path, text)
    assert t.info()["counts"]["sched_switch"] == 1
    assert any("could not be parsed" in w and "line 7" in w for w in t.warnings)


def test_truncated_last_line_is_flagged(tmp_path):
    cut = TRACEFS.rstrip("\n")
    cut = cut[: cut.rfind("cpu_idle")] + "sched_switch: prev_comm=a prev_p"
    t = _load_text(tmp_path, cut)
    assert any("truncated" in w for w in t.warnings)
    assert t.info()["events"] == 9  # the LOST marker is not a scheduler event


def test_out_of_order_lines_are_sorted_with_a_warning(tmp_path):
    lines = TRACEFS.splitlines(keepends=True)
    body = lines[6:8]
    text = "".join(lines[:6]) + body[1] + body[0]
    t = _load_text(tmp_path, text)
    assert t.events["ts_ns"].is_sorted()
    assert any("back in time" in w for w in t.warnings)


# -- robustness -------------------------------------------------------------------

def _mutate(lines: list[str], rnd: random.Random) -> str:
    out = []
    for line in lines:
        r = rnd.random()
        if r < 0.1:
            cut = rnd.randrange(len(line) + 1)
            line = line[:cut]
        elif r < 0.2 and line:
            i = rnd.randrange(len(line))
            line = line[:i] + chr(rnd.randrange(32, 127)) + line[i + 1:]
        elif r < 0.25:
            line = line + line
        out.append(line)
    rnd.shuffle(out) if rnd.random() < 0.3 else None
    return "\n".join(out)


@settings(max_examples=150)
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_lines_give_a_trace_or_a_trace_error(tmp_path_factory, seed):
    rnd = random.Random(seed)
    base = TRACEFS.splitlines() + TGID_AND_PRETTY.splitlines()
    text = _mutate(base, rnd)
    p = tmp_path_factory.mktemp("m") / "m.txt"
    p.write_text(text)
    try:
        t = traces.load(p)
    except TraceError:
        return
    ev = t.events
    assert ev["ts_ns"].is_sorted()
    assert t.info()["events"] == ev.filter(pl.col("kind") != schema.LOST).height


@settings(max_examples=150)
@given(data=st.binary(max_size=3000), fmt=st.sampled_from([None, "ftrace", "trace-cmd-report", "systrace"]))
def test_random_bytes_give_a_trace_or_a_trace_error(tmp_path_factory, data, fmt):
    p = tmp_path_factory.mktemp("r") / "r.bin"
    p.write_bytes(data)
    try:
        traces.load(p, format=fmt)
    except TraceError:
        pass


@settings(max_examples=60)
@given(prefix=st.integers(0, len(TRACEFS.encode())))
def test_any_truncation_gives_a_trace_or_a_trace_error(tmp_path_factory, prefix):
    p = tmp_path_factory.mktemp("t") / "t.txt"
    p.write_bytes(TRACEFS.encode()[:prefix])
    try:
        t = traces.load(p)
    except TraceError:
        return
    assert t.info()["events"] <= 10


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-5, 5)), max_size=40))
def test_last_per_key_is_what_a_dict_keeps(rows):
    from traces.text import _last_per_key

    keys = np.array([k for k, _ in rows], np.int64)
    values = np.array([v for _, v in rows], np.int64)
    expected = dict(rows)  # insertion order of first occurrence, last value
    got_keys, got_values = _last_per_key(keys, values)
    assert list(zip(got_keys.tolist(), got_values.tolist())) == list(expected.items())


def test_a_refused_column_reservation_falls_back_to_what_is_needed():
    """The columns reserve address space for the rows a file may hold; where
    the system refuses that (here: 8 TB per column), the parser asks for what it
    needs and grows as it goes."""
    from traces import _textkernel
    from traces._result import ReadResult
    from traces.text import TextParser

    raw = np.frombuffer((DATA / "panopticon_ftrace.txt").read_bytes(), np.uint8).copy()
    events = []
    for expected in (1 << 16, 10 ** 12):
        p = TextParser(ReadResult("x.txt", "ftrace"), expected_events=expected)
        p.feed(raw, 0, True)
        n = int(p.st[_textkernel.ST_NEV])
        events.append({k: v[:n].copy() for k, v in p.out.items()})
        assert p.expected == expected or len(p.out["ts_ns"]) < 10 ** 9
        if expected == 10 ** 12:  # the reservation was refused and replaced by what was needed
            assert p.expected < 10 ** 6
    assert all(np.array_equal(events[0][k], events[1][k]) for k in events[0])


# -- values out of range: the kernel never reads or writes outside its arrays ---------------

def _with_field(old: str, new: str, line: int = 7) -> str:
    lines = TRACEFS.splitlines(keepends=True)
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    return "".join(lines)


@pytest.mark.parametrize("cpu", ["99999999999999999999999", "9223372036854775808", "4294967295", "65536",
                                 "32768", "1000000", "16384"])
def test_a_cpu_column_out_of_range_is_a_counted_warning(tmp_path, cpu):
    """[99999999999999999999999] crashed the text kernel (SIGSEGV: an index read from the
    text); 32768..4294967295 gave a traceback, 65536 became CPU 0 and 1000000 an extra CPU.
    Run in a subprocess so that a crash is a failure, not the end of the test run."""
    p = tmp_path / "c.txt"
    p.write_text(_with_field("[002]", f"[{cpu}]"))
    r = subprocess.run([sys.executable, "-c", f"import json, traces; t = traces.load({str(p)!r}); "
                        "print(json.dumps([t.info()['events'], t.cpus.height, t.warnings]))"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    events, cpus, warnings = json.loads(r.stdout)
    assert events == 8 and cpus == 4  # the line is left out; no CPU 0 or 16960 invented (#P:4)
    assert any("line 7" in w and "CPU number outside 0..16383" in w for w in warnings), warnings


@pytest.mark.parametrize("old, new", [
    ("prev_pid=1613", "prev_pid=99999999999999999999999"),
    ("prev_pid=1613", "prev_pid=4294967296"),
    ("prev_pid=1613", "prev_pid=abc"),
    ("prev_pid=1613", "prev_pid="),
    ("prev_prio=120", "prev_prio=65536"),
    ("next_pid=2711", "next_pid=-7"),
    ("tmux: server-1613", "tmux: server-99999999999"),
    ("   100.000001:", "   99999999999.000001:"),
    ("   100.000001:", "   -5.000001:"),
    ("   100.000001:", "   999999999999999999999999:"),
])
def test_numbers_out_of_their_columns_never_wrap(tmp_path, old, new):
    """A pid, prio or timestamp that does not fit its column (or has no digits) leaves the
    line out with a counted warning naming it: before, 2**32 + 1613 became tid 1613,
    'prev_pid=abc' the idle task (0) and 65536 prio 0."""
    t = _load_text(tmp_path, _with_field(old, new))
    assert t.info()["counts"]["sched_switch"] == 1  # the other switch, line 8
    assert any("line 7" in w and "left out" in w or "line 7" in w and "not an event line" in w
               for w in t.warnings), t.warnings
    assert t.events["tid"].min() >= -1 and t.events["prio"].max() <= 139


def test_u64_runtimes_keep_their_bits(tmp_path):
    """vruntime is a u64 the kernel starts near 2**64: read whole, as the int64 with its bits
    (trace.dat's reader gives the same), not cut to 19 digits."""
    line = ("     Web Content-2711    [002] d..2.   100.000020: sched_stat_runtime: comm=a pid=1 "
            "runtime=1000 [ns] vruntime=18446744073708503040 [ns]\n")
    t = _load_text(tmp_path, TRACEFS + line)
    v = t.events.filter(pl.col("kind") == schema.STAT_RUNTIME)["vruntime_ns"].to_list()
    assert v[-1] == 18446744073708503040 - 2**64


def test_a_timestamp_jump_names_its_line(tmp_path):
    t = _load_text(tmp_path, _with_field("   100.000001:", "   2147483648.000001:"))
    assert any("lines 7 and 8: timestamps 2147483648.000001 s and 100.000002 s" in w and "corrupt timestamp" in w
               for w in t.warnings), t.warnings
    assert t.info()["duration_ns"] < 10**10  # the event was left out by the builder
