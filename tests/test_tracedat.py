"""The native trace.dat reader (traces/tracedat.py): corpus ground truth, event-by-event
equality with ``trace-cmd report -R``, v6 == v7, hand-built files, and fuzzing."""

from __future__ import annotations

import struct
import time
import zlib

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings, strategies as st

import traces
from traces import schema, tracedat
from traces._build import build
from traces._io import open_source
from traces.errors import TraceError

from ._report_raw_oracle import COLUMNS, parse_report_raw

CAPTURES = ("a_hackbench", "b_cyclictest_rt", "c_infer_torch", "d_nice_mix", "e_build",
            "f_ctxswitch", "g_idle", "long_mix")
STRING_COLUMNS = ("comm", "next_comm", "parent_comm", "filename")


def _dat_entries(ground_truth) -> list[str]:
    return [n for n in ground_truth if n.endswith(".dat")]


# -- corpus -------------------------------------------------------------------------

@pytest.mark.corpus
def test_every_trace_dat_matches_ground_truth(corpus, ground_truth):
    names = _dat_entries(ground_truth)
    assert len(names) == 12
    for name in names:
        t = traces.load(corpus / name)
        info = t.info()
        assert info["format"] == "tracedat"
        assert info["counts"] == ground_truth[name]["counts"], name
        assert info["cpus"] == ground_truth[name]["cpus"], name
        assert info["lost_events"] == 0 and not t.warnings, (name, t.warnings)


def _report_raw(corpus, capture):
    d = corpus / "captures" / capture
    return d / "report_raw.txt" if (d / "report_raw.txt").exists() else d / "report_raw.txt.zst"


@pytest.mark.corpus
@pytest.mark.parametrize("capture", CAPTURES)
def test_events_equal_trace_cmd_report_raw(corpus, capture):
    """Every event, in order: time (to the printed microsecond), CPU, kind and every field kept.

    trace-cmd prints the microseconds rounded to nearest, not truncated:
    1198.795065625 s is printed 1198.795066 (checked on every capture here).
    """
    ref = parse_report_raw(_report_raw(corpus, capture))
    ev = traces.load(corpus / "captures" / capture / "trace.dat").events
    assert len(ev) == len(ref["ts_ns"])
    for col in COLUMNS:
        if col in STRING_COLUMNS:
            mine = ev[col].cast(str).to_list()
            bad = [i for i, (a, b) in enumerate(zip(mine, ref[col])) if a != b]
        else:
            mine = ev[col].to_numpy()
            if col == "ts_ns":
                mine = (mine + 500) // 1000 * 1000
            bad = np.flatnonzero(mine != np.asarray(ref[col], np.int64)).tolist()
        assert not bad, f"{capture} {col}: {len(bad)} differ, first at event {bad[0]}: " \
                        f"{mine[bad[0]]!r} != {ref[col][bad[0]]!r}"


@pytest.mark.corpus
@pytest.mark.parametrize("capture", ["d_nice_mix", "long_mix"])
def test_v6_and_v7_copies_give_identical_tables(corpus, capture):
    d = corpus / "captures" / capture
    v7, v6 = traces.load(d / "trace.dat"), traces.load(d / "trace.v6.dat")
    for name in ("events", "tasks", "cpus"):
        assert v7.to_arrow()[name].equals(v6.to_arrow()[name]), name
    m7, m6 = v7.info(), v6.info()
    for key in ("clock", "kernel", "first_ns", "last_ns", "counts", "lost_events"):
        assert m7[key] == m6[key], key


@pytest.mark.corpus
def test_capture_metadata(corpus):
    t = traces.load(corpus / "captures" / "d_nice_mix" / "trace.dat")
    meta = t.meta.row(0, named=True)
    assert (meta["clock"], meta["kernel"], meta["hostname"], meta["n_cpus"]) == \
        ("mono", "6.18.44-fc-v669", "vm", 2)
    assert meta["compression"] == ""  # the file is read as is; its sections are zstd inside
    ev = t.events
    assert set(ev["irq"].unique().to_list()) <= {0, 1, 2, 3}
    assert ev.filter(ev["kind"] == schema.STAT_RUNTIME)["vruntime_ns"].unique().to_list() == [-1]
    assert 0 < t.to_arrow()["tasks"].num_rows
    # the local clock capture
    assert traces.load(corpus / "captures" / "g_idle" / "trace.dat").info()["clock"] == "local"


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["public/trappy/raw_trace.dat", "public/lisa/sched_load_trace.dat"])
def test_old_arm_kernels(corpus, name):
    """Linux 4.x (Juno): prev_state from TASK_STATE_MAX layouts lands in the >= 4.14 bits."""
    t = traces.load(corpus / name)
    sw = t.events.filter(t.events["kind"] == schema.SWITCH)
    states = set(sw["prev_state"].unique().to_list())
    allowed = {0, 0x100} | {b | p for b in (1, 2, 4, 8, 0x10, 0x20, 0x40, 0x80) for p in (0, 0x100)}
    assert states <= allowed, states
    assert 0x100 in states and 1 in states  # preempted and sleeping switches both occur
    assert t.info()["clock"] == ""          # no trace-clock option recorded
    assert t.meta["n_cpus"][0] == 6


def test_progress_is_reported(corpus):
    seen = []
    path = corpus / "captures" / "g_idle" / "trace.dat"
    traces.load(path, progress=seen.append)
    assert seen and seen[-1] == path.stat().st_size and seen == sorted(seen)


# -- hand-built files -------------------------------------------------------------------

HEADER_EVENT = ("# compressed entry header\n\ttype_len    :    5 bits\n\ttime_delta  :   27 bits\n"
                "\tarray       :   32 bits\n\n\tpadding     : type == 29\n\ttime_extend : type == 30\n"
                "\ttime_stamp : type == 31\n\tdata max type_len  == 28\n")
COMMON = ("\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
          "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
          "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
          "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n")
PF_618 = ('"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d '
          'next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & '
          '((((0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | '
          '0x00000020 | 0x00000040) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 '
          '| 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) '
          '+ 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, '
          '{ 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, '
          '{ 0x00000080, "I" }) : "R", REC->prev_state & (((0x00000000 | 0x00000001 | 0x00000002 | '
          '0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040) + 1) << 1) ? "+" : "", '
          'REC->next_comm, REC->next_pid, REC->next_prio')
# Linux 4.4-4.7 (ARM Juno, trappy's raw_trace.dat): TASK_STATE_MAX 1024 marks preemption.
PF_44 = ('"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d '
         'next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, REC->prev_state & (1024-1) ? '
         '__print_flags(REC->prev_state & (1024-1), "|", { 1, "S"} , { 2, "D" }, { 4, "T" }, { 8, "t" }, '
         '{ 16, "Z" }, { 32, "X" }, { 64, "x" }, { 128, "K" }, { 256, "W" }, { 512, "P" }) : "R", '
         'REC->prev_state & 1024 ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio')
# Linux 4.8-4.13 (LISA's Juno trace): TASK_NOLOAD "N", TASK_STATE_MAX 4096.
PF_48 = PF_44.replace("1024", "4096").replace('{ 512, "P" })', '{ 512, "P" }, { 1024, "N" })')

SWITCH_ID, WAKEUP_ID, EXEC_ID, SOFTIRQ_ID = 316, 318, 311, 50
LOST_FLAGS = (1 << 31) | (1 << 30)


def _switch_format(ls: int, pf: str) -> str:
    return (f"name: sched_switch\nID: {SWITCH_ID}\nformat:\n{COMMON}"
            "\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
            "\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n"
            "\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;\n"
            f"\tfield:long prev_state;\toffset:32;\tsize:{ls};\tsigned:1;\n"
            f"\tfield:char next_comm[16];\toffset:{32 + ls};\tsize:16;\tsigned:0;\n"
            f"\tfield:pid_t next_pid;\toffset:{48 + ls};\tsize:4;\tsigned:1;\n"
            f"\tfield:int next_prio;\toffset:{52 + ls};\tsize:4;\tsigned:1;\n\nprint fmt: {pf}\n")


WAKEUP_FORMAT = (f"name: sched_wakeup\nID: {WAKEUP_ID}\nformat:\n{COMMON}"
                 "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n"
                 "\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;\n"
                 "\tfield:int prio;\toffset:28;\tsize:4;\tsigned:1;\n"
                 "\tfield:int target_cpu;\toffset:32;\tsize:4;\tsigned:1;\n\n"
                 'print fmt: "comm=%s pid=%d prio=%d target_cpu=%03d"\n')
EXEC_FORMAT = (f"name: sched_process_exec\nID: {EXEC_ID}\nformat:\n{COMMON}"
               "\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n"
               "\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n"
               "\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n\n"
               'print fmt: "filename=%s pid=%d old_pid=%d"\n')
PRINT_ID = 5


def print_format(long_size: int) -> str:
    """ftrace/print as the kernel describes it (events/ftrace/print/format)."""
    return (f"name: print\nID: {PRINT_ID}\nformat:\n{COMMON}"
            f"\tfield:unsigned long ip;\toffset:8;\tsize:{long_size};\tsigned:0;\n"
            f"\tfield:char buf[];\toffset:{8 + long_size};\tsize:0;\tsigned:0;\n\n"
            'print fmt: "%ps: %s", (void *)REC->ip, REC->buf\n')


SOFTIRQ_FORMAT = (f"name: softirq_entry\nID: {SOFTIRQ_ID}\nformat:\n{COMMON}"
                  "\tfield:unsigned int vec;\toffset:8;\tsize:4;\tsigned:0;\n\n"
                  'print fmt: "vec=%u"\n')


class Builder:
    """Writes small trace.dat files (v6, or v7 with zstd/zlib/no compression) from pages."""

    def __init__(self, big=False, long_size=8, page_size=4096, pf=PF_618):
        self.e = ">" if big else "<"
        self.big, self.ls, self.page = big, long_size, page_size
        self.formats = {"sched": [_switch_format(long_size, pf), WAKEUP_FORMAT, EXEC_FORMAT],
                        "irq": [SOFTIRQ_FORMAT]}
        self.cmdlines = "42 sleeper\n43 worker\n"
        self.ftrace: list[str] = []  # the ftrace section's format texts (print_format(): markers)
        self.options = [(4, b"[local] global counter\n\0"), (5, b"Linux juno 4.4.0-arm 32bit\0"),
                        (8, self.u("I", 2))]

    def u(self, fmt, *v) -> bytes:
        return struct.pack(self.e + fmt, *v)

    def ulong(self, v) -> bytes:
        return self.u("Q" if self.ls == 8 else "I", v)

    # records ---------------------------------------------------------------
    def hdr(self, type_len, delta) -> bytes:
        assert 0 <= delta < 1 << 27
        return self.u("I", (type_len << 27 | delta) if self.big else (delta << 5 | type_len))

    def data(self, delta, payload: bytes) -> bytes:
        payload += b"\0" * (-len(payload) % 4)
        if len(payload) <= 28 * 4:
            return self.hdr(len(payload) // 4, delta) + payload
        return self.hdr(0, delta) + self.u("I", len(payload) + 4) + payload

    def extend(self, amount) -> bytes:
        return self.hdr(30, amount & ((1 << 27) - 1)) + self.u("I", amount >> 27)

    def absolute(self, ts) -> bytes:
        return self.hdr(31, ts & ((1 << 27) - 1)) + self.u("I", ts >> 27)

    def padding(self, delta, nbytes) -> bytes:
        return self.hdr(29, delta) + self.u("I", nbytes + 4) + b"\0" * nbytes

    # events ----------------------------------------------------------------
    def common(self, eid, flags, pid) -> bytes:
        return self.u("HBBi", eid, flags, 0, pid)

    def switch(self, pid, prev, prev_pid, prio, state, nxt, next_pid, next_prio, flags=0) -> bytes:
        return (self.common(SWITCH_ID, flags, pid) + prev.encode().ljust(16, b"\0")[:16]
                + self.u("ii", prev_pid, prio) + self.u("q" if self.ls == 8 else "i", state)
                + nxt.encode().ljust(16, b"\0")[:16] + self.u("ii", next_pid, next_prio))

    def wakeup(self, pid, comm, wpid, prio, target, flags=0) -> bytes:
        return (self.common(WAKEUP_ID, flags, pid) + comm.encode().ljust(16, b"\0")
                + self.u("iii", wpid, prio, target))

    def exec_(self, pid, filename, old_pid) -> bytes:
        name = filename.encode() + b"\0"
        return self.common(EXEC_ID, 0, pid) + self.u("Iii", (len(name) << 16) | 20, pid, old_pid) + name

    def softirq(self, pid, vec) -> bytes:
        return self.common(SOFTIRQ_ID, 0x10, pid) + self.u("I", vec)

    def print_(self, pid, text: str) -> bytes:
        """A trace_marker write (ftrace/print: ip, then the text with its newline)."""
        return self.common(PRINT_ID, 0, pid) + self.ulong(0xffffffff81000000) + text.encode() + b"\n\0"

    def _ftrace_section(self) -> bytes:
        return self.u("I", len(self.ftrace)) + b"".join(self.u("Q", len(t)) + t.encode() for t in self.ftrace)

    def page_bytes(self, ts, records, lost=None, flags=0) -> bytes:
        body = b"".join(records)
        commit = len(body) | flags
        tail = b""
        if lost is not None:
            commit |= LOST_FLAGS
            tail = self.ulong(lost)
        out = self.u("Q", ts) + self.ulong(commit) + body + tail
        assert len(out) <= self.page
        return out + b"\0" * (self.page - len(out))

    # files -----------------------------------------------------------------
    def _headers(self) -> tuple[bytes, bytes]:
        ls, ps = self.ls, self.page
        hp = (f"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
              f"\tfield: local_t commit;\toffset:8;\tsize:{ls};\tsigned:1;\n"
              f"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
              f"\tfield: char data;\toffset:{8 + ls};\tsize:{ps - 8 - ls};\tsigned:0;\n").encode()
        info = (b"header_page\0" + self.u("Q", len(hp)) + hp + b"header_event\0"
                + self.u("Q", len(HEADER_EVENT)) + HEADER_EVENT.encode())
        fm = self.u("I", len(self.formats))
        for system, texts in self.formats.items():
            fm += system.encode() + b"\0" + self.u("I", len(texts))
            for t in texts:
                fm += self.u("Q", len(t)) + t.encode()
        return info, fm

    def _options(self, opts) -> bytes:
        return b"".join(self.u("HI", oid, len(d)) + d for oid, d in opts)

    def v6(self, cpus: dict[int, list[bytes]]) -> bytes:
        info, fm = self._headers()
        cl = self.cmdlines.encode()
        head = (b"\x17\x08\x44tracing6\0" + bytes([int(self.big), self.ls]) + self.u("I", self.page)
                + info + self._ftrace_section() + fm + self.u("I", 0) + self.u("I", 0)
                + self.u("Q", len(cl)) + cl + self.u("I", len(cpus)) + b"options  \0"
                + self._options(self.options) + self.u("H", 0) + b"flyrecord\0")
        pos = -(-(len(head) + 16 * len(cpus)) // self.page) * self.page
        table, data = b"", b""
        for cpu in range(len(cpus)):
            blob = b"".join(cpus[cpu])
            table += self.u("QQ", pos + len(data), len(blob))
            data += blob
        head += table
        return head + b"\0" * (pos - len(head)) + data

    def v7(self, cpus: dict[int, list[bytes]], compression="zstd", chunk_pages=2) -> bytes:
        if compression == "zstd":
            comp, name = zstandard.ZstdCompressor().compress, b"zstd\0" + b"1.5.4\0"
        elif compression == "zlib":
            comp, name = zlib.compress, b"zlib\0" + b"1.2\0"
        else:
            comp, name = None, b"none\0" + b"\0"
        head = (b"\x17\x08\x44tracing7\0" + bytes([int(self.big), self.ls]) + self.u("I", self.page)
                + name)
        out = bytearray(head + b"\0" * 8)

        def section(sid, content, may_compress=True):
            at = len(out)
            flags = 1 if comp and may_compress else 0
            body = content
            if flags:
                z = comp(content)
                body = self.u("II", len(z), len(content)) + z
            out.extend(self.u("HHIQ", sid, flags, 0, len(body)) + body)
            return at

        info, fm = self._headers()
        cl = self.cmdlines.encode()
        offs = {16: section(16, info), 18: section(18, fm),
                21: section(21, self.u("Q", len(cl)) + cl)}
        if self.ftrace:
            offs[17] = section(17, self._ftrace_section())
        first_opts = len(out)
        opts = self.options + [(k, self.u("Q", v)) for k, v in offs.items()]
        opts_size = len(self._options(opts)) + 6 + 8
        fly_at = first_opts + 16 + opts_size  # the options section is not compressed (as trace-cmd)
        data_start = -(-(fly_at + 16) // self.page) * self.page
        blobs, table = bytearray(), []
        for cpu in range(len(cpus)):
            pages = cpus[cpu]
            if comp:
                chunks = [b"".join(pages[i:i + chunk_pages]) for i in range(0, len(pages), chunk_pages)]
                blob = self.u("I", len(chunks)) + b"".join(
                    self.u("II", len(z), len(c)) + z for c in chunks for z in [comp(c)])
                size = len(blob) - 4
            else:
                blob = b"".join(pages)
                size = len(blob)
            start = data_start + len(blobs)
            table.append((cpu, start, size))
            blobs += blob
            blobs += b"\0" * (-len(blobs) % self.page)
        second = data_start + len(blobs)
        opts_bytes = self._options(opts) + self.u("HI", 0, 8) + self.u("Q", second)
        at = section(0, opts_bytes, may_compress=False)
        assert at == first_opts and len(out) == fly_at, (len(out), fly_at)
        out[len(head):len(head) + 8] = self.u("Q", first_opts)
        out.extend(self.u("HHIQ", 3, 1 if comp else 0, 0, data_start - fly_at - 16 + len(blobs)))
        out.extend(b"\0" * (data_start - len(out)))
        out.extend(blobs)
        buf_opt = (self.u("Q", fly_at) + b"\0" + b"local\0" + self.u("II", self.page, len(table))
                   + b"".join(self.u("IQQ", c, s, n) for c, s, n in table))
        section(0, self._options([(3, buf_opt)]) + self.u("HI", 0, 8) + self.u("Q", 0),
                may_compress=False)
        return bytes(out)

    def scenario(self) -> dict[int, list[bytes]]:
        """Two CPUs, every record kind; expected values in EXPECTED."""
        ext = (3 << 27) + 7
        cpu0 = [
            self.page_bytes(1_000_000, [
                self.data(10, self.wakeup(7, "sleeper", 42, 120, 1, flags=0x08)),    # 1_000_010
                self.data(5, self.softirq(7, 3)),                                    # 1_000_015
                self.extend(ext),                                                    # + ext
                self.data(4, self.switch(42, "sleeper", 42, 120, 1, "0123456789abcdef", 43, 100)),
                self.padding(3, 8),                                                  # kbuffer adds 3
                self.data(2, self.exec_(43, "/usr/lib/" + "x" * 100, 43)),           # type_len 0
            ]),
            self.page_bytes(500_000_000, [
                self.absolute(600_000_000),
                self.data(0, self.switch(43, "worker", 43, 100, 0x100, "swapper/0", 0, 120,
                                         flags=0x10)),
            ], lost=7),
        ]
        cpu1 = [
            self.page_bytes(1_000_010, [self.data(0, self.wakeup(0, "tie", 50, 98, 0, flags=0x48))]),
            self.page_bytes(700_000_000, [
                self.data(1, self.switch(50, "tie", 50, 98, 2, "swapper/1", 0, 120)),
            ], flags=1 << 31),  # events missed, count not stored
        ]
        return {0: cpu0, 1: cpu1}


T1 = 1_000_015 + (3 << 27) + 7 + 4
EXPECTED = [  # (ts_ns, cpu, kind, cur_tid, irq, tid, comm, prio, prev_state, next_tid, next_comm, lost)
    (1_000_010, 0, schema.WAKEUP, 7, 2, 42, "sleeper", 120, -1, -1, "", 0),
    (1_000_010, 1, schema.WAKEUP, 0, 3, 50, "tie", 98, -1, -1, "", 0),  # tie: CPU 0 first
    (T1, 0, schema.SWITCH, 42, 0, 42, "sleeper", 120, 1, 43, "0123456789abcdef", 0),
    (T1 + 5, 0, schema.EXEC, 43, 0, 43, "", schema.NO_PRIO, -1, -1, "", 0),
    (500_000_000, 0, schema.LOST, -1, -1, -1, "", schema.NO_PRIO, -1, -1, "", 7),
    (600_000_000, 0, schema.SWITCH, 43, 1, 43, "worker", 100, 0x100, 0, "swapper/0", 0),
    (700_000_000, 1, schema.LOST, -1, -1, -1, "", schema.NO_PRIO, -1, -1, "", 0),
    (700_000_001, 1, schema.SWITCH, 50, 0, 50, "tie", 98, 2, 0, "swapper/1", 0),
]
EXPECTED_COLS = ("ts_ns", "cpu", "kind", "cur_tid", "irq", "tid", "comm", "prio", "prev_state",
                 "next_tid", "next_comm", "lost_events")


def _load_bytes(tmp_path, data: bytes, name="t.dat"):
    p = tmp_path / name
    p.write_bytes(data)
    return traces.load(p)


def _check_scenario(t):
    rows = t.events.select(EXPECTED_COLS).rows()
    assert rows == EXPECTED
    ev = t.events
    exe = ev.filter(ev["kind"] == schema.EXEC).row(0, named=True)
    assert exe["filename"] == "/usr/lib/" + "x" * 100 and exe["old_tid"] == 43
    assert ev.filter(ev["kind"] == schema.WAKEUP)["target_cpu"].to_list() == [1, 0]
    info = t.info()
    assert info["skipped_lines"] == 1  # the softirq_entry record
    assert info["lost_events"] == -1   # CPU 1 lost an unknown number
    assert t.cpus["lost_events"].to_list() == [7, -1]
    assert (info["clock"], info["kernel"], t.meta["hostname"][0], t.meta["n_cpus"][0]) == \
        ("local", "4.4.0-arm", "juno", 2)
    assert any("dropped 7 events" in w for w in t.warnings)
    tasks = dict(zip(t.tasks["tid"].to_list(), t.tasks["comm"].to_list()))
    assert tasks[42] == "sleeper"


@pytest.mark.parametrize("big", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("long_size", [8, 4], ids=["64bit", "32bit"])
def test_hand_built_v6(tmp_path, big, long_size):
    b = Builder(big=big, long_size=long_size)
    _check_scenario(_load_bytes(tmp_path, b.v6(b.scenario())))


@pytest.mark.parametrize("compression", ["zstd", "zlib", "none"])
@pytest.mark.parametrize("big,long_size", [(False, 8), (True, 4)], ids=["le64", "be32"])
def test_hand_built_v7(tmp_path, compression, big, long_size):
    b = Builder(big=big, long_size=long_size)
    t = _load_bytes(tmp_path, b.v7(b.scenario(), compression=compression))
    _check_scenario(t)


@pytest.mark.parametrize("version", ["v6", "v7"])
def test_garbage_after_the_data_is_a_counted_warning_with_its_offset(tmp_path, version):
    b = Builder()
    good = b.v6(b.scenario()) if version == "v6" else b.v7(b.scenario())
    assert not [w for w in _load_bytes(tmp_path, good).warnings if "after the end" in w]
    for garbage in (b"x", b"\0" * 4096, bytes(range(256)) * 20, good[:3000]):
        t = _load_bytes(tmp_path, good + garbage, "g.dat")
        _check_scenario(t)
        w = [w for w in t.warnings if "after the end of the trace.dat data" in w]
        assert w and f"byte {len(good)}:" in w[0] and f"{len(garbage):,} bytes" in w[0], t.warnings


@pytest.mark.corpus
def test_real_trace_dat_files_have_no_trailing_bytes_and_notice_appended_ones(corpus, tmp_path):
    files = sorted(corpus.glob("**/*.dat"))
    assert len(files) >= 10
    for f in files:
        data = f.read_bytes()
        t = traces.load(f)
        assert not [w for w in t.warnings if "after the end" in w], f
        p = tmp_path / "g.dat"
        p.write_bytes(data + b"\0" * 100)
        w = [w for w in traces.load(p).warnings if "after the end" in w]
        assert w and f"byte {len(data)}: 100 bytes" in w[0], f


def test_compressed_file_on_disk(tmp_path):
    b = Builder()
    raw = b.v6(b.scenario())
    t = _load_bytes(tmp_path, zstandard.ZstdCompressor().compress(raw), "t.dat.zst")
    _check_scenario(t)
    assert t.info()["compression"] == "zstd"


@pytest.mark.parametrize("pf,raw,want", [
    (PF_44, [0, 1, 2 | 128, 16, 32, 64, 512, 1024, 1025], [0, 1, 2, 0x20, 0x10, 0x10, 0x40, 0x100, 0x101]),
    (PF_48, [2 | 1024, 4096, 2, 512 | 4096], [0x80, 0x100, 2, 0x140]),
    (PF_618, [0, 0x100, 0x80, 0x101], [0, 0x100, 0x80, 0x101]),
])
def test_prev_state_normalised_from_print_fmt(tmp_path, pf, raw, want):
    b = Builder(pf=pf)
    recs = [b.data(1, b.switch(1, "a", 1, 120, s, "b", 2, 120)) for s in raw]
    t = _load_bytes(tmp_path, b.v6({0: [b.page_bytes(1000, recs)]}))
    assert t.events["prev_state"].to_list() == want


def test_tsc2nsec_and_offset_options(tmp_path):
    b = Builder()
    # mult/shift as the kernel's cyc2ns for a 2.5 GHz TSC: ns = cycles * 0.4
    mult, shift = 1677721600 // 1000, 22
    b.options += [(14, b.u("IIQ", mult, shift, 0)), (7, b"1000\0")]
    recs = [b.data(0, b.wakeup(1, "w", 2, 120, 0))]
    t = _load_bytes(tmp_path, b.v6({0: [b.page_bytes(10**12, recs)]}))
    want = ((10**12 & 0xFFFFFFFF) * mult >> shift) + ((10**12 >> 32) * mult << (32 - shift)) + 1000
    assert t.events["ts_ns"].to_list() == [want]


def test_bad_inputs_raise_trace_error(tmp_path):
    b = Builder()
    good = b.v6(b.scenario())
    cases = {
        "version": good.replace(b"tracing6\0", b"tracing9\0", 1),
        "endian": good[:12] + b"\x07" + good[13:],
        "header": good.replace(b"header_page\0", b"header_pagX\0", 1),
        "empty": b"",
        "magic only": good[:10],
    }
    for name, data in cases.items():
        with pytest.raises(TraceError) as ei:
            _load_bytes(tmp_path, data, f"{name.replace(' ', '_')}.dat")
        assert str(tmp_path) in str(ei.value), name
    with pytest.raises(TraceError, match="unsupported trace.dat compression 'lz4'"):
        _load_bytes(tmp_path, b.v7(b.scenario()).replace(b"zstd\0", b"lz4\0\0", 1), "lz4.dat")


def test_truncated_v6_keeps_the_events_before_the_damage(tmp_path):
    b = Builder()
    good = b.v6(b.scenario())
    cut = len(good) - b.page + 40  # inside CPU 1's last page: its switch is lost
    t = _load_bytes(tmp_path, good[:cut])
    assert len(t.events) == len(EXPECTED) - 1
    assert any(f"byte {cut}" in w and "truncated" in w for w in t.warnings), t.warnings


# -- fuzzing ------------------------------------------------------------------------

def _small_files() -> dict[str, bytes]:
    b = Builder()
    be = Builder(big=True, long_size=4)
    return {"v6": b.v6(b.scenario()), "v7": b.v7(b.scenario()), "v6be32": be.v6(be.scenario()),
            "v7zlib": be.v7(be.scenario(), compression="zlib")}


SMALL = _small_files()
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck))  # examples: the profile


_WARM: list[bool] = []


def _warm_up(tmp_path) -> None:
    """Compile every kernel once (growth and TSC paths too), so timings below measure reading."""
    if _WARM:
        return
    b = Builder()
    b.options.append((14, b.u("IIQ", 1 << 20, 20, 0)))
    recs = [b.data(1, b.wakeup(1, f"t{i}", i, 120, 0)) for i in range(3000)]
    pages = [b.page_bytes(10**9 + k, recs[k * 90:(k + 1) * 90]) for k in range(34)]
    _load_bytes(tmp_path, b.v6({0: pages}), "warm.dat")
    _WARM.append(True)


def _read_bounded(tmp_path, data: bytes) -> None:
    """Read mutated bytes with this reader (whatever the magic now says, so no other
    reader is involved): only TraceError may escape, and it must finish quickly."""
    _warm_up(tmp_path)
    p = tmp_path / "fuzz.dat"
    p.write_bytes(data)
    t0 = time.monotonic()
    try:
        tables = build(tracedat.read(open_source(p), "tracedat", None))
        assert tables["events"].num_rows <= 64
    except TraceError:
        pass
    assert time.monotonic() - t0 < 10, "reading a small mutated file took too long"


@FUZZ
@given(name=st.sampled_from(sorted(SMALL)), frac=st.floats(0, 1))
def test_fuzz_truncation(tmp_path_factory, name, frac):
    data = SMALL[name]
    _read_bounded(tmp_path_factory.mktemp("trunc"), data[:int(len(data) * frac)])


@FUZZ
@given(name=st.sampled_from(sorted(SMALL)),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=8))
def test_fuzz_byte_flips(tmp_path_factory, name, flips):
    data = bytearray(SMALL[name])
    for frac, x in flips:
        data[min(int(len(data) * frac), len(data) - 1)] ^= x
    _read_bounded(tmp_path_factory.mktemp("flip"), bytes(data))


@FUZZ
@given(name=st.sampled_from(sorted(SMALL)), pos=st.integers(0, 1 << 16), x=st.integers(1, 255))
def test_fuzz_header_byte_flips(tmp_path_factory, name, pos, x):
    """Flips concentrated in the metadata (the first part of the file)."""
    data = bytearray(SMALL[name])
    data[pos % min(len(data), 4096)] ^= x
    _read_bounded(tmp_path_factory.mktemp("hflip"), bytes(data))


def test_many_events_and_distinct_strings(tmp_path):
    """Enough events and distinct comms to grow every kernel buffer and the string table."""
    b = Builder()
    n = 5000
    recs = [b.data(1, b.wakeup(1, f"task{i:05d}", 1000 + i, 120, i % 2)) for i in range(n)]
    per_page = (b.page - 16) // len(recs[0])
    pages = [b.page_bytes(10**9 + k * 10**6, recs[k * per_page:(k + 1) * per_page])
             for k in range(-(-n // per_page))]
    t = _load_bytes(tmp_path, b.v6({0: pages[::2], 1: pages[1::2]}))
    ev = t.events
    assert len(ev) == n and ev["ts_ns"].is_sorted()
    assert ev["comm"].cast(str).to_list() == [f"task{i:05d}" for i in range(n)]
    assert ev["tid"].to_list() == list(range(1000, 1000 + n))
