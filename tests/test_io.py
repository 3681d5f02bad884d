"""Inputs a user may hand us besides a plain file: standard input, pipes and FIFOs,
paths that cannot be used, compressed streams with garbage after them or cut short,
files that shrink while they are read, and bundles that cannot be written. Each
gives the trace the bytes hold, a counted warning with the byte offset, or a
one-line error naming the file: never a hang, a signal or a traceback."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import threading
import zlib

import pytest
import zstandard

import traces
from traces import _io
from traces.errors import TraceError

from .conftest import DATA

TEXT = DATA / "panopticon_ftrace.txt"
TEXT_EVENTS = 317


def cli(*args, stdin=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "replay", *args], input=stdin, capture_output=True,
                          timeout=timeout)


def events_of(p: subprocess.CompletedProcess) -> int:
    assert p.returncode == 0, p.stderr.decode()
    return json.loads(p.stdout)["events"]


def one_line_error(p: subprocess.CompletedProcess, *words: str) -> str:
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


# -- standard input and FIFOs -----------------------------------------------------

def test_dash_and_dev_stdin_read_a_pipe_once():
    data = TEXT.read_bytes()
    for name in ("-", "/dev/stdin"):
        for payload in (data, zstandard.ZstdCompressor().compress(data), gzip.compress(data)):
            p = cli("info", name, "--json", stdin=payload)
            assert events_of(p) == TEXT_EVENTS, name
    assert json.loads(cli("info", "-", "--json", stdin=data).stdout)["path"] == "<stdin>"


def test_dash_reads_stdin_redirected_from_a_file():
    with open(TEXT, "rb") as f:
        p = subprocess.run([sys.executable, "-m", "replay", "info", "-", "--json"], stdin=f,
                           capture_output=True, timeout=120)
    assert events_of(p) == TEXT_EVENTS


def _through_fifo(tmp_path, data: bytes, *args):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "wb") as f:
            f.write(data)

    t = threading.Thread(target=write, daemon=True)
    t.start()
    try:
        return cli(*args, str(fifo), "--json", timeout=120)
    finally:
        if t.is_alive():  # the reader never opened the FIFO: unblock the writer
            with open(fifo, "rb") as f:
                f.read()
        t.join(5)


def test_a_fifo_is_read_once_as_a_stream(tmp_path):
    assert events_of(_through_fifo(tmp_path, TEXT.read_bytes(), "info")) == TEXT_EVENTS


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["captures/g_idle/trace.dat", "public/systing/trace.pb",
                                  "captures/f_ctxswitch/report_raw.txt.zst",
                                  "public/perfetto/crop_compact_sched_switch.textproto",
                                  "public/trappy/trace_surfaceflinger.html"])
def test_every_format_reads_through_a_fifo_and_stdin(corpus, tmp_path, name):
    data = (corpus / name).read_bytes()
    want = traces.load(corpus / name).info()["events"]
    assert events_of(_through_fifo(tmp_path, data, "info")) == want
    assert events_of(cli("info", "-", "--json", stdin=data)) == want


def test_empty_stdin_is_a_clear_error(tmp_path):
    one_line_error(cli("info", "-", stdin=b""), "<stdin>", "unknown format: the file is empty (0 bytes)")
    (tmp_path / "empty.dat").write_bytes(b"")
    one_line_error(cli("info", str(tmp_path / "empty.dat")), "empty.dat", "the file is empty (0 bytes)")
    (tmp_path / "empty.gz").write_bytes(gzip.compress(b""))
    one_line_error(cli("info", str(tmp_path / "empty.gz")), "empty.gz", "gzip data that decompresses to nothing")


# -- paths ------------------------------------------------------------------------

def test_paths_that_cannot_be_used_say_why(tmp_path):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    cases = [(tmp_path / "loop1", "symbolic link loop"), (tmp_path / "dangling", "broken symbolic link"),
             (tmp_path / "missing", "no such file"), (tmp_path / "file" / "t.txt", "not a folder")]
    for path, words in cases:
        with pytest.raises(TraceError, match=words) as e:
            traces.load(path)
        assert str(path) in str(e.value)
        one_line_error(cli("info", str(path)), str(path), words)


def test_a_socket_is_refused(tmp_path):
    import socket

    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tmp_path / "sock"))
        one_line_error(cli("info", str(tmp_path / "sock")), "is a socket")
    finally:
        s.close()


def test_permission_errors_are_one_line(tmp_path, monkeypatch):
    """A folder that cannot be searched (for a file inside it, or a bundle that is one) and
    a file that cannot be read: real permissions when not root, else the same errors
    injected into os.stat and open."""
    bundle = tmp_path / "bundle"
    traces.load(TEXT).write(bundle)
    inside = tmp_path / "locked" / "t.txt"
    inside.parent.mkdir()
    inside.write_bytes(TEXT.read_bytes())
    unreadable = tmp_path / "unreadable.txt"
    unreadable.write_bytes(TEXT.read_bytes())
    if os.geteuid() != 0:
        os.chmod(inside.parent, 0)
        os.chmod(bundle, stat.S_IRUSR)  # listable, not searchable
        os.chmod(unreadable, 0)
        try:
            one_line_error(cli("info", str(inside)), str(inside), "cannot be searched")
            one_line_error(cli("info", str(bundle)), str(bundle), "permission denied")
            one_line_error(cli("info", str(unreadable)), str(unreadable), "no read permission")
        finally:
            os.chmod(inside.parent, 0o755)
            os.chmod(bundle, 0o755)
            os.chmod(unreadable, 0o644)
    real_stat, real_open = os.stat, open

    def fake_stat(p, *a, **k):
        p = os.fspath(p)
        if p.startswith(str(inside.parent)) and p != str(inside.parent) or p.startswith(str(bundle) + os.sep):
            raise PermissionError(13, "Permission denied", p)
        return real_stat(p, *a, **k)

    def fake_open(p, *a, **k):
        if os.fspath(p) == str(unreadable):
            raise PermissionError(13, "Permission denied", os.fspath(p))
        return real_open(p, *a, **k)

    monkeypatch.setattr(os, "stat", fake_stat)
    with pytest.raises(TraceError, match="cannot be searched"):
        traces.load(inside)
    with pytest.raises(TraceError, match="permission denied"):
        traces.load(bundle)
    monkeypatch.setattr(os, "stat", real_stat)
    monkeypatch.setattr("builtins.open", fake_open)
    with pytest.raises(TraceError, match="no read permission"):
        traces.load(unreadable)


def test_a_bundle_that_cannot_be_written_is_a_trace_error(tmp_path):
    t = traces.load(TEXT)
    (tmp_path / "file").write_text("x")
    for where in (tmp_path / "file", tmp_path / "file" / "sub", "/proc/no/such/bundle"):
        with pytest.raises(TraceError, match="cannot write the bundle"):
            t.write(where)
    one_line_error(cli("ingest", str(TEXT), "-o", str(tmp_path / "file" / "sub")), "cannot")


# -- compressed data --------------------------------------------------------------

def _events_and_warnings(tmp_path, name: str, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    t = traces.load(p)
    return t.info()["events"], t.warnings


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_garbage_after_compressed_data_is_a_counted_warning_with_its_offset(tmp_path, kind):
    raw = TEXT.read_bytes()
    comp = zstandard.ZstdCompressor().compress(raw) if kind == "zstd" else gzip.compress(raw)
    for garbage in (b"hello world\n", b"\0" * 64, os.urandom(3000)):
        n, w = _events_and_warnings(tmp_path, "g.txt." + kind[:2], comp + garbage)
        assert n == TEXT_EVENTS
        msg = [x for x in w if f"after the end of the {kind} data" in x]
        assert msg and f"byte {len(comp)}" in msg[0] and f"{len(garbage):,} bytes" in msg[0], w
    # the start of another frame or member, cut short
    n, w = _events_and_warnings(tmp_path, "g.txt." + kind[:2], comp + comp[:40])
    msg = [x for x in w if "truncated file?" in x]
    assert n == TEXT_EVENTS and msg and f"began at byte {len(comp)}" in msg[0], w


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_concatenated_frames_and_members_are_all_read(tmp_path, kind):
    raw = TEXT.read_bytes()
    half = raw.index(b"\n", len(raw) // 2) + 1
    c = (zstandard.ZstdCompressor().compress if kind == "zstd" else gzip.compress)
    skippable = b"\x50\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"12345" if kind == "zstd" else b""
    n, w = _events_and_warnings(tmp_path, "c.txt." + kind[:2], c(raw[:half]) + skippable + c(raw[half:]))
    assert n == TEXT_EVENTS and not [x for x in w if kind in x]


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_a_cut_compressed_stream_reads_up_to_the_cut(tmp_path, kind):
    raw = TEXT.read_bytes() * 20
    small_window = zstandard.ZstdCompressionParameters(window_log=10, compression_level=1,  # many blocks
                                                       write_checksum=True)
    comp = (zstandard.ZstdCompressor(compression_params=small_window).compress
            if kind == "zstd" else gzip.compress)(raw)
    n, w = _events_and_warnings(tmp_path, "t.txt." + kind[:2], comp[: len(comp) * 2 // 3])
    msg = [x for x in w if "truncated file?" in x and kind in x]
    assert msg and f"byte {len(comp) * 2 // 3}" in msg[0]
    assert 0 < n < 20 * TEXT_EVENTS
    # damaged in the middle: what was decoded before is kept, with a warning (found by the
    # checksum at the latest)
    bad = bytearray(comp)
    for i in range(len(comp) // 2, len(comp) // 2 + 64):
        bad[i] ^= 0x55
    n, w = _events_and_warnings(tmp_path, "d.txt." + kind[:2], bytes(bad))
    assert n < 20 * TEXT_EVENTS and any("corrupt" in x or "truncated" in x or "not " + kind in x for x in w)
    # damaged at the start: nothing to read, an error with the offset
    with pytest.raises(TraceError, match=r"byte \d+"):
        _events_and_warnings(tmp_path, "s.txt." + kind[:2], comp[:6] + b"\xff" * 40 + comp[46:])


def test_atrace_zlib_with_garbage_after_it(tmp_path):
    raw = TEXT.read_bytes()
    data = _io.ATRACE_ZLIB_PREFIX + zlib.compress(raw) + b"garbage"
    n, w = _events_and_warnings(tmp_path, "atrace", data)
    assert n == TEXT_EVENTS and any("7 bytes after the end of the zlib data" in x for x in w)


def test_decompression_is_bounded_whatever_the_ratio(tmp_path):
    """1 GB of zeros in a few kB of zstd (and of gzip), read through the decoder under a
    600 MB address-space limit above the interpreter's: decoded a block at a time."""
    for kind, data in (("zst", zstandard.ZstdCompressor(level=3).compress(b"\0" * (1 << 30))),
                       ("gz", gzip.compress(b"\0" * (256 << 20), compresslevel=1))):
        p = tmp_path / f"bomb.{kind}"
        p.write_bytes(data)
        code = f"""
import resource
import traces._io as io_
src = io_.open_source({str(p)!r})
used = int(open('/proc/self/statm').read().split()[0]) * 4096
resource.setrlimit(resource.RLIMIT_AS, (used + (600 << 20), used + (600 << 20)))
s, _ = src.open()
buf = bytearray(1 << 20)
n = 0
while True:
    k = s.readinto(buf)
    if not k:
        break
    n += k
print(n)
"""
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert int(r.stdout) == (1 << 30 if kind == "zst" else 256 << 20)


# -- files that change while they are read ---------------------------------------------

def test_a_file_shrinking_while_it_is_read_is_an_error_not_sigbus(tmp_path):
    """Another process truncates the file while it is read (here: from the progress
    callback, after the first chunk). A memory-mapped file would end the process with
    SIGBUS; the error names the file."""
    lines = TEXT.read_text().splitlines(keepends=True)
    body = "".join(lines[11:])
    p = tmp_path / "big.txt"
    with open(p, "w") as f:
        f.write("".join(lines[:11]))
        while f.tell() < 12 << 20:
            f.write(body)
    code = f"""
import os, traces
from traces.errors import TraceError
p = {str(p)!r}
done = []
def cut(n):
    if not done:
        done.append(1)
        os.truncate(p, 1 << 20)
try:
    traces.load(p, progress=cut)
    print("loaded")
except TraceError as e:
    print("error:", e)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.startswith("error:") and str(p) in r.stdout and "shrank" in r.stdout, r.stdout


@pytest.mark.corpus
def test_a_trace_dat_shrinking_after_it_was_opened_is_an_error(corpus, tmp_path):
    from traces import tracedat

    p = tmp_path / "t.dat"
    p.write_bytes((corpus / "captures/g_idle/trace.dat").read_bytes())
    src = _io.open_source(p)
    os.truncate(p, src.size // 2)
    with pytest.raises(TraceError, match="shrank") as e:
        tracedat.read(src, "tracedat")
    assert str(p) in str(e.value)
