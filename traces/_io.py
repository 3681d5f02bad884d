"""Opening trace files: checks of the path, transparent zstd / gzip / zlib
decompression, sniffing, and chunked reading of text with line and byte
bookkeeping.

What a user may hand us, and what happens:

* a regular file: opened by name as often as a reader needs (Perfetto reads it
  twice), read up to its size at opening. It is never memory-mapped: a file
  another process truncates while it is mapped ends the reading process with
  SIGBUS, which no Python code can catch, so files are read into buffers (a
  copy from the page cache, ~5 % of a plain-text read). A file that shrinks
  while it is read is an error naming it (:data:`SHRANK`).
* a pipe, FIFO, terminal or ``-`` (standard input): not seekable, so it is
  opened once and read once, as a stream; the bytes sniffed to detect the
  format are replayed to the reader. Perfetto protobuf, which needs two passes,
  is first copied to an unnamed temporary file (:meth:`Source.spooled`).
* compressed data (zstd frames, gzip members, atrace's zlib stream): decoded a
  block at a time (memory bounded whatever the ratio); concatenated frames or
  members are read one after the other, as ``zstd -d`` and ``gzip -d`` do. Bytes
  after the last one that start no other, a stream that ends inside a frame and
  damage after the first decoded bytes are counted warnings with the byte
  offset (the data before them is read); damage at the very start is an error.
* a path that cannot be used (missing, a broken or looping symbolic link, a
  folder on the way that cannot be searched, no read permission, a socket) is a
  :class:`TraceError` saying which (:func:`check_path`).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
import tempfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np

from .errors import TraceError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ATRACE_ZLIB_PREFIX = b"TRACE:\n"  # atrace -z output: this line, then a zlib stream
STDIN_NAME = "-"
STDIN_LABEL = "<stdin>"

#: Called with the number of bytes of the file on disk consumed so far.
ProgressFn = Callable[[int], None]

HEAD_BYTES = 1 << 16
READ_BYTES = 1 << 20           # compressed bytes asked of the file at a time
TEXT_CHUNK_BYTES = 1 << 22     # decompressed text handed to a parser at a time
SHRANK = "the file shrank while it was being read"


# -- the path ---------------------------------------------------------------------

def check_path(path: str) -> os.stat_result:
    """``os.stat(path)``, or a TraceError saying in plain words why the path cannot be
    used (no such file, broken symbolic link, symbolic link loop, a folder on the way
    that cannot be searched, a file where a folder is expected)."""
    try:
        return os.stat(path)
    except OSError as e:
        code = e.errno
    if code == errno.ENOENT:
        if os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise TraceError(f"broken symbolic link (it points to {target}, which does not exist)", path)
        raise TraceError("no such file", path)
    if code == errno.ELOOP:
        raise TraceError("symbolic link loop (too many levels of symbolic links)", path)
    if code in (errno.EACCES, errno.EPERM):
        raise TraceError("permission denied: a folder on the path cannot be searched", path)
    if code == errno.ENOTDIR:
        raise TraceError("a part of the path before the file name is a file, not a folder", path)
    raise TraceError(f"cannot use the path: {os.strerror(code)}", path)


def _open_error(e: OSError, path: str) -> TraceError:
    if e.errno in (errno.EACCES, errno.EPERM):
        return TraceError("permission denied: no read permission", path)
    return TraceError(f"cannot open: {e.strerror or e}", path)


# -- raw byte sources -------------------------------------------------------------

class _FileRaw(io.RawIOBase):
    """The bytes of a regular file (by name, or a file descriptor's own copy), up to its
    size at opening; counts what was read (``pos``). Ending early means the file shrank:
    a TraceError, never a short read taken for the whole file."""

    def __init__(self, path: str, size: int, fd: int | None = None):
        self.path, self.size, self.pos = path, size, 0
        try:
            if fd is None:
                self.f = open(path, "rb", buffering=0)
            else:
                self.f = os.fdopen(os.dup(fd), "rb", buffering=0)
                self.f.seek(0)
        except OSError as e:
            raise _open_error(e, path) from None

    def readable(self):
        return True

    def readinto(self, b):
        want = min(len(b), self.size - self.pos)
        if want <= 0:
            return 0
        try:
            n = self.f.readinto(memoryview(b)[:want])
        except OSError as e:
            raise TraceError(f"read error after {self.pos} bytes: {e.strerror or e}", self.path,
                             offset=self.pos) from None
        if not n:
            try:
                now = os.fstat(self.f.fileno()).st_size
            except OSError:
                now = self.pos
            raise TraceError(f"{SHRANK} ({self.size} bytes when it was opened, {now} now)", self.path,
                             offset=self.pos)
        self.pos += n
        return n

    def close(self):
        self.f.close()
        super().close()


class _StreamRaw(io.RawIOBase):
    """A non-seekable input (pipe, FIFO, terminal), opened once: the bytes read while
    sniffing (``prefix``) are replayed before the rest of the stream."""

    def __init__(self, f, prefix: bytes = b""):
        self.f, self.prefix, self.pos = f, memoryview(prefix), 0

    def readable(self):
        return True

    def readinto(self, b):
        if len(self.prefix):
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
        else:
            n = self.f.readinto(b) or 0
        self.pos += n
        return n

    def close(self):
        self.f.close()
        super().close()


# -- decompression ----------------------------------------------------------------

class _Decoded(io.RawIOBase):
    """The decompressed bytes of the zstd, gzip or zlib data read from ``raw`` (a raw
    source counting its ``pos``), decoded a zstd block or a bounded gzip/zlib piece at a
    time, so memory stays bounded whatever the compression ratio.

    zstd frames (and skippable frames) and gzip members follow each other until the
    data ends; what comes after the last one that is not another is reported through
    ``warn(key, message)`` with its byte offset and ignored, as are a stream cut inside a
    frame (a truncated file) and damage found after some data was decoded (the data
    before it is kept). Damage before any byte was decoded raises a TraceError."""

    def __init__(self, raw, kind: str, path: str, warn, start: int = 0):
        self.raw, self.kind, self.path, self.warn = raw, kind, path, warn
        self.inbuf = bytearray()
        self.in_off = start           # file offset of inbuf[0]
        self.eof_in = False
        self.out = memoryview(b"")
        self.produced = 0
        self.done = False
        self.frame_start = start
        self.d = None                 # the decompressor of the current frame/member (None between them)
        self.z = None                 # zstd frame walk: [header done?, checksum flag, last block seen?]
        if start:
            self._read(start)
            del self.inbuf[:start]

    def readable(self):
        return True

    # input ------------------------------------------------------------------------
    def _read(self, n: int) -> bool:
        """Have at least n bytes in inbuf (False at the end of the input)."""
        while len(self.inbuf) < n and not self.eof_in:
            chunk = self.raw.read(max(READ_BYTES, n - len(self.inbuf)))
            if not chunk:
                self.eof_in = True
                break
            self.inbuf += chunk
        return len(self.inbuf) >= n

    def _take(self, n: int) -> bytes:
        data = bytes(self.inbuf[:n])
        del self.inbuf[:n]
        self.in_off += n
        return data

    # output -----------------------------------------------------------------------
    def readinto(self, b):
        while not len(self.out) and not self.done:
            self._step()
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def _emit(self, data: bytes) -> None:
        self.out = memoryview(data)
        self.produced += len(data)

    def _stop(self, key: str, message: str) -> None:
        self.warn(f"{self.kind}-{key}", f"{self.path}: byte {message}")
        self.done = True

    def _damaged(self, at: int, why: str) -> None:
        if self.produced == 0:
            raise TraceError(f"corrupt {self.kind} data ({why})", self.path, offset=at)
        self._stop("damaged", f"{at}: corrupt {self.kind} data ({why}); the {self.produced:,} bytes "
                   "decompressed before it were read, the rest of the file is ignored")

    def _truncated(self) -> None:
        if self.produced == 0:
            raise TraceError(f"the {self.kind} data ends before its first block (truncated file?)", self.path,
                             offset=self.in_off + len(self.inbuf))
        self._stop("truncated", f"{self.in_off + len(self.inbuf)}: the {self.kind} data ends inside the "
                   f"{'frame' if self.kind == 'zstd' else 'stream'} that began at byte {self.frame_start} "
                   f"(truncated file?); the {self.produced:,} bytes decompressed before the cut were read, "
                   "up to the last whole line")

    def _trailing(self) -> None:
        at = self.in_off
        n = len(self.inbuf)
        while not self.eof_in:  # count the rest (a stream has no size to ask)
            chunk = self.raw.read(READ_BYTES)
            if not chunk:
                break
            n += len(chunk)
        self.inbuf.clear()
        self._stop("trailing", f"{at}: {n:,} bytes after the end of the {self.kind} data are not "
                   f"{self.kind} data; ignored")

    # decoding ---------------------------------------------------------------------
    def _step(self) -> None:
        if self.kind == "zstd":
            self._zstd_step()
        else:
            self._zlib_step()

    def _zlib_step(self) -> None:
        if self.d is None:  # at the start of a member
            if not self._read(1):
                self.done = True
                return
            if self.produced and (self.kind == "zlib" or not self._read(2)
                                  or bytes(self.inbuf[:2]) != GZIP_MAGIC):
                self._trailing()
                return
            self.d = zlib.decompressobj(31 if self.kind == "gzip" else 15)
            self.frame_start = self.in_off
        if not self.d.unconsumed_tail and not self.inbuf and not self._read(1):
            self._truncated()
            return
        data = self.d.unconsumed_tail or self._take(min(len(self.inbuf), 1 << 16))
        at = self.in_off - len(data)
        try:
            out = self.d.decompress(data, TEXT_CHUNK_BYTES)
        except zlib.error as e:
            self._damaged(at, str(e))
            return
        if self.d.eof:
            rest = self.d.unused_data
            self.inbuf[:0] = rest
            self.in_off -= len(rest)
            self.d = None
        self._emit(out)

    def _zstd_step(self) -> None:
        import zstandard

        if self.d is None:  # at the start of a frame
            if not self._read(4):
                if self.inbuf:
                    self._trailing() if self.produced else self._damaged(self.in_off, "too short")
                else:
                    self.done = True
                return
            magic = int.from_bytes(self.inbuf[:4], "little")
            if 0x184D2A50 <= magic <= 0x184D2A5F:  # a skippable frame: magic, u32 size, data
                if not self._read(8):
                    self._truncated()
                    return
                size = int.from_bytes(self.inbuf[4:8], "little")
                if not self._read(8 + size):
                    self._truncated()
                    return
                self._take(8 + size)
                return
            if bytes(self.inbuf[:4]) != ZSTD_MAGIC:
                if self.produced:
                    self._trailing()
                else:
                    self._damaged(self.in_off, "no zstd frame")
                return
            self.frame_start = self.in_off
            if not self._read(5):
                self._truncated()
                return
            fhd = self.inbuf[4]
            single, checksum, did, fcs = (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3, fhd >> 6
            hlen = 5 + (0 if single else 1) + (0, 1, 2, 4)[did] + ((1 if single else 0), 2, 4, 8)[fcs]
            if fhd & 0x08:
                self._damaged(self.in_off, "reserved bit set in the frame header")
                return
            if not self._read(hlen):
                self._truncated()
                return
            self.d = zstandard.ZstdDecompressor().decompressobj()
            self.z = [checksum, False]
            self._feed(self._take(hlen))
            return
        checksum, last = self.z
        if last:  # the frame's checksum, then the next frame
            if checksum:
                if not self._read(4):
                    self._truncated()
                    return
                self._feed(self._take(4))
            self.d = None
            return
        if not self._read(3):
            self._truncated()
            return
        h = int.from_bytes(self.inbuf[:3], "little")
        btype, bsize = (h >> 1) & 3, h >> 3
        if btype == 3:
            self._damaged(self.in_off, "reserved block type")
            return
        n = 3 + (1 if btype == 1 else bsize)
        if not self._read(n):
            self._truncated()
            return
        self.z[1] = bool(h & 1)
        self._feed(self._take(n))

    def _feed(self, data: bytes) -> None:
        try:
            out = self.d.decompress(data)  # one block: at most 128 KB out
        except Exception as e:  # zstandard.ZstdError
            self._damaged(self.in_off - len(data), str(e))
            return
        self._emit(out)


# -- sources ----------------------------------------------------------------------

class Source:
    """A trace input and how to read its (decompressed) bytes: a file on disk (``path``,
    ``size`` bytes) or a stream read once (see the module docstring)."""

    def __init__(self, path: str, compression: str = "", size: int = 0, head: bytes = b"",
                 stream: _StreamRaw | None = None, fd: int | None = None):
        self.path = path
        self.compression = compression  # "", "zstd", "gzip", "zlib"
        self.size = size                # bytes on disk (0: a stream, unknown)
        self.head = head                # the first HEAD_BYTES (at most) of the decompressed content
        self._stream = stream           # a stream's raw bytes (read once)
        self._fd = fd                   # a file known by a descriptor only (stdin, a spooled copy)
        self._opened = False
        #: problems found while decompressing: key -> message (see Warnings)
        self.warnings: dict[str, str] = {}

    @property
    def seekable(self) -> bool:
        """Whether :meth:`open` may be called more than once."""
        return self._stream is None

    def _raw(self):
        if self._stream is not None:
            if self._opened:
                raise TraceError("a pipe or standard input can only be read once", self.path)
            self._opened = True
            return self._stream
        return _FileRaw(self.path, self.size, self._fd)

    def open(self) -> tuple[io.BufferedReader, Callable[[], int]]:
        """A binary stream of the decompressed content and a function giving how many
        bytes of the file on disk have been consumed."""
        raw = self._raw()
        if not self.compression:
            return io.BufferedReader(raw, READ_BYTES), lambda: raw.pos
        skip = len(ATRACE_ZLIB_PREFIX) if self.compression == "zlib" else 0
        dec = _Decoded(raw, self.compression, self.path, self.warnings.setdefault, skip)
        return io.BufferedReader(dec, READ_BYTES), lambda: raw.pos

    def spooled(self) -> "Source":
        """This source, if seekable; a stream's content copied to an unnamed temporary
        file otherwise (for readers that read their input twice)."""
        if self.seekable:
            return self
        raw = self._raw()
        tmp = tempfile.TemporaryFile(prefix="schedreplay-")
        size = 0
        try:
            while True:
                chunk = raw.read(READ_BYTES)
                if not chunk:
                    break
                tmp.write(chunk)
                size += len(chunk)
            tmp.flush()
        except OSError as e:
            tmp.close()
            raise TraceError(f"cannot copy standard input to a temporary file: {e.strerror or e}",
                             self.path) from None
        finally:
            raw.close()
        src = Source(self.path, self.compression, size, self.head, fd=tmp.fileno())
        src._spool = tmp  # keeps the file (and its descriptor) alive as long as the source
        src.warnings = self.warnings
        return src


def _compression(magic: bytes) -> str:
    if magic.startswith(ZSTD_MAGIC) or (len(magic) >= 4 and 0x184D2A50 <= int.from_bytes(magic[:4], "little")
                                        <= 0x184D2A5F):
        return "zstd"
    if magic.startswith(GZIP_MAGIC):
        return "gzip"
    if magic.startswith(ATRACE_ZLIB_PREFIX) and len(magic) > 7 and magic[7] == 0x78:
        return "zlib"
    return ""


def _sniff(src: Source) -> None:
    """Fill ``src.head`` with the start of the decompressed content."""
    try:
        stream, _ = src.open()
        with stream:
            src.head = stream.read(HEAD_BYTES)
    except TraceError:
        raise
    except Exception as e:  # zstd/gzip/zlib errors come in several types
        raise TraceError(f"corrupt {src.compression} data at the start of the file: {e}", src.path,
                         offset=0) from None


def open_source(path, st: os.stat_result | None = None) -> Source:
    """Stat and sniff ``path`` (``-``: standard input); raises TraceError for a path that
    cannot be read (see :func:`check_path`)."""
    path = os.fspath(path)
    if path == STDIN_NAME:
        return _open_stream(os.dup(sys.stdin.fileno()), STDIN_LABEL)
    st = st or check_path(path)
    if stat.S_ISDIR(st.st_mode):
        raise TraceError("is a directory, not a trace file (a Parquet bundle directory needs "
                         "events.parquet in it)", path)
    if stat.S_ISSOCK(st.st_mode):
        raise TraceError("is a socket, not a trace file", path)
    if not stat.S_ISREG(st.st_mode):  # a FIFO, a character device such as a terminal or /dev/stdin
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            raise _open_error(e, path) from None
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode):
            return _open_stream(fd, path)
        os.close(fd)
        st = st2
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as e:
        raise _open_error(e, path) from None
    src = Source(path, _compression(magic), st.st_size)
    _sniff(src)
    return src


def _open_stream(fd: int, label: str) -> Source:
    """A Source for a descriptor: a regular file (standard input redirected from a file)
    is read through its own descriptor; anything else is a stream read once."""
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        f = os.fdopen(fd, "rb", buffering=0)
        f.seek(0)
        magic = f.read(8)
        src = Source(label, _compression(magic), st.st_size, fd=fd)
        src._keep = f
        _sniff(src)
        return src
    f = os.fdopen(fd, "rb", buffering=0)
    prefix = bytearray()
    while len(prefix) < HEAD_BYTES:  # the head, replayed to the reader afterwards
        chunk = f.read(HEAD_BYTES - len(prefix))
        if not chunk:
            break
        prefix += chunk
    prefix = bytes(prefix)
    comp = _compression(prefix[:8])
    head = prefix
    if comp:
        probe = Source(label, comp, 0, stream=_StreamRaw(io.BytesIO(prefix)))
        try:
            stream, _ = probe.open()
            head = stream.read(HEAD_BYTES)
        except TraceError as e:
            if e.offset is None or e.offset < len(prefix):  # not a cut at the end of the prefix
                raise TraceError(e.detail, label, offset=e.offset) from None
            head = b""
        except Exception as e:
            raise TraceError(f"corrupt {comp} data at the start of the input: {e}", label, offset=0) from None
    return Source(label, comp, 0, head, stream=_StreamRaw(f, prefix))


# -- text in chunks -----------------------------------------------------------------

def text_chunks(src: Source, chunk_bytes: int = TEXT_CHUNK_BYTES,
                progress: ProgressFn | None = None) -> Iterator[tuple[np.ndarray, int, bool]]:
    """Yield (buf, offset, last): ``buf`` is a uint8 array of whole lines (it ends
    after a newline, except possibly the last one), ``offset`` its byte offset in
    the decompressed content.

    ``buf`` is only valid until the next chunk is asked for: the consumer must be
    done with it by then.
    """
    for buf, start, stop, offset, last in text_spans(src, chunk_bytes, progress):
        yield buf[start:stop], offset + start, last


def text_spans(src: Source, chunk_bytes: int | None = None,
               progress: ProgressFn | None = None) -> Iterator[tuple[np.ndarray, int, int, int, bool]]:
    """Yield (buf, start, stop, offset, last): buf[start:stop] holds whole lines
    (it ends after a newline, except possibly in the last span), ``offset`` is
    the byte offset of buf[0] in the decompressed content.

    The content is read in chunks of ``chunk_bytes`` (default 4 MB) into one reused
    buffer; only the partial line carried from one chunk to the next is copied, and
    resident memory does not grow with the file. ``buf`` is only valid until the
    next span is asked for.
    """
    for buf, offset, last in _read_chunks(src, chunk_bytes or TEXT_CHUNK_BYTES, progress):
        yield buf, 0, len(buf), offset, last


def _read_chunks(src: Source, chunk_bytes: int,
                 progress: ProgressFn | None) -> Iterator[tuple[np.ndarray, int, bool]]:
    """text_chunks for any source: chunks of whole lines, read ahead.

    Two buffers alternate: while the consumer parses one chunk (the text kernel runs
    without the GIL), a thread reads or decompresses the next into the other, so the
    copy from the page cache costs little time. Each buffer keeps 64 KB in front of
    what is read into it for the partial line carried over from the chunk before (a
    longer one is joined by a copy)."""
    room = 1 << 16
    bufs = [np.empty(room + chunk_bytes, np.uint8), np.empty(room + chunk_bytes, np.uint8)]
    stream, consumed = src.open()
    ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix="schedreplay-read")
    carry = np.empty(0, np.uint8)
    offset = 0
    fi = 0
    fut = None
    try:
        fut = ex.submit(_fill, stream, memoryview(bufs[0])[room:], src, 0)
        while True:
            n = fut.result()
            fut = None
            if progress is not None:
                progress(consumed())
            cur = bufs[fi]
            fi = 1 - fi
            if n:  # the next read starts now; the consumer is done with the other buffer
                fut = ex.submit(_fill, stream, memoryview(bufs[fi])[room:], src, offset + len(carry) + n)
            if len(carry) <= room:
                start = room - len(carry)
                cur[start:room] = carry
                data = cur[start:room + n]
            else:  # a line longer than the room in front: joined by a copy
                data = np.concatenate([carry, cur[room:room + n]])
            if not n:
                if len(data) and not any(k.endswith("-truncated") for k in src.warnings):
                    yield data, offset, True
                return
            cut = _last_newline(data, 0, len(data)) + 1
            if cut == 0:  # no line end yet
                carry = data.copy()
                continue
            yield data[:cut], offset, False
            carry = data[cut:].copy()
            offset += cut
    finally:
        if fut is not None:  # a read still running: let it end before the file is closed
            try:
                fut.result()
            except Exception:
                pass
        ex.shutdown(wait=True)
        stream.close()
        if progress is not None:
            progress(src.size)


def _fill(stream, view, src: Source, at: int) -> int:
    """Read into ``view`` until it is full or the content ends (a decompressor or a pipe
    returns less than asked: the parser is then still handed few large chunks)."""
    n = 0
    while n < len(view):
        try:
            k = stream.readinto(view[n:])
        except TraceError:
            raise
        except Exception as e:  # a read error of the device
            raise TraceError(f"read error after {at + n} bytes: {e}", src.path, offset=at + n) from None
        if not k:
            break
        n += k
    return n


def _last_newline(arr: np.ndarray, lo: int, hi: int) -> int:
    """Index of the last newline in arr[lo:hi], or -1."""
    step = 1 << 16
    while hi > lo:
        a = max(lo, hi - step)
        r = arr[a:hi].tobytes().rfind(b"\n")
        if r >= 0:
            return a + r
        hi = a
        step *= 4
    return -1
