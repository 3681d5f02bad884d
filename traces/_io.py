"""Opening trace files: transparent zstd / gzip / zlib decompression, sniffing,
and chunked reading of text with line and byte bookkeeping."""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .errors import TraceError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ATRACE_ZLIB_PREFIX = b"TRACE:\n"  # atrace -z output: this line, then a zlib stream

#: Called with the number of bytes of the file on disk consumed so far.
ProgressFn = Callable[[int], None]

HEAD_BYTES = 1 << 16


class _RawCounter(io.RawIOBase):
    """Wraps a file and remembers how far into it a decompressor has read."""

    def __init__(self, f):
        self.f = f
        self.pos = 0

    def readable(self):
        return True

    def readinto(self, b):
        n = self.f.readinto(b)
        self.pos += n or 0
        return n

    def close(self):
        self.f.close()
        super().close()


class _ZlibReader(io.RawIOBase):
    """A streaming reader of a zlib stream that starts ``skip`` bytes in (atrace -z)."""

    def __init__(self, f, skip: int):
        self.f = f
        f.read(skip)
        self.d = zlib.decompressobj()
        self.buf = b""
        self.eof = False

    def readable(self):
        return True

    def readinto(self, b):
        while not self.buf and not self.eof:
            data = self.f.read(1 << 20)
            if not data:
                self.buf = self.d.flush()
                self.eof = True
                break
            self.buf = self.d.decompress(data)
        n = min(len(b), len(self.buf))
        b[:n] = self.buf[:n]
        self.buf = self.buf[n:]
        return n


@dataclass
class Source:
    """A trace file on disk, and how to read its (decompressed) bytes."""

    path: str
    compression: str  # "", "zstd", "gzip", "zlib"
    size: int         # bytes on disk
    head: bytes       # the first HEAD_BYTES of the decompressed content

    def open(self) -> tuple[io.BufferedReader, Callable[[], int]]:
        """A binary stream of the decompressed content and a function giving
        how many bytes of the file on disk have been consumed."""
        raw = _RawCounter(open(self.path, "rb"))
        if self.compression == "zstd":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20)
        elif self.compression == "gzip":
            stream = gzip.GzipFile(fileobj=raw)
        elif self.compression == "zlib":
            stream = _ZlibReader(raw, len(ATRACE_ZLIB_PREFIX))
        else:
            return io.BufferedReader(raw, 1 << 20), lambda: raw.pos
        return io.BufferedReader(stream, 1 << 20), lambda: raw.pos


def open_source(path) -> Source:
    """Stat and sniff ``path``; raises TraceError for a missing or unreadable file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise TraceError("no such file", path)
    if os.path.isdir(path):
        raise TraceError("is a directory, not a trace file (a Parquet bundle directory needs "
                         "events.parquet in it)", path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            magic = f.read(8)
    except OSError as e:
        raise TraceError(f"cannot read: {e.strerror}", path) from None
    if magic.startswith(ZSTD_MAGIC):
        compression = "zstd"
    elif magic.startswith(GZIP_MAGIC):
        compression = "gzip"
    elif magic.startswith(ATRACE_ZLIB_PREFIX) and len(magic) > 7 and magic[7] == 0x78:
        compression = "zlib"
    else:
        compression = ""
    src = Source(path, compression, size, b"")
    try:
        stream, _ = src.open()
        with stream:
            src.head = stream.read(HEAD_BYTES)
    except Exception as e:  # zstd/gzip/zlib errors come in several types
        raise TraceError(f"corrupt {compression} data at the start of the file: {e}", path, offset=0) from None
    return src


def text_chunks(src: Source, chunk_bytes: int = 1 << 24,
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

    An uncompressed regular file is memory-mapped and ``buf`` is the whole
    mapping: nothing is copied, and each span's pages are unmapped once the
    consumer asks for the next one (the page cache keeps them; the process's
    resident memory does not grow with the file). Anything else is read in
    chunks into one reused buffer; then ``buf`` is that buffer and only the
    partial line carried from one chunk to the next is copied. Either way ``buf``
    is only valid until the next span is asked for. Spans are ``chunk_bytes``
    long (default: 4 MB of a mapped file, the parser's resident share of it; 16
    MB read at a time otherwise).
    """
    mapped = _map(src) if not src.compression else None
    if mapped is None:
        for buf, offset, last in _read_chunks(src, chunk_bytes or 1 << 24, progress):
            yield buf, 0, len(buf), offset, last
        return
    f, m = mapped
    try:
        arr = np.frombuffer(m, np.uint8)
        n = len(arr)
        start = 0
        chunk_bytes = chunk_bytes or 1 << 22
        while start < n:
            stop = min(start + chunk_bytes, n)
            if stop < n:
                cut = _last_newline(arr, start, stop) + 1
                stop = cut if cut > 0 else _next_newline(arr, stop, n)
            if progress is not None:
                progress(stop)
            yield arr, start, stop, 0, stop >= n
            _drop_pages(m, start, stop, n)
            start = stop
        del arr
    finally:
        try:
            m.close()
        except BufferError:  # a consumer still holds a view: the mapping goes with it
            pass
        f.close()
        if progress is not None:
            progress(src.size)


def _map(src: Source):
    """(file, mmap) of an uncompressed regular file, or None where mmap
    does not apply (empty files such as tracefs's own ``trace``, pipes,
    devices, systems without mmap). A file that grows while it is read is read
    to its size at opening; one truncated by another process while it is read
    would end the process with SIGBUS, a risk taken for not copying the text."""
    try:
        import mmap

        f = open(src.path, "rb")
    except (ImportError, OSError):
        return None
    try:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            f.close()
            return None
        # A private (copy-on-write) mapping, never written: its array is
        # writable, so the text kernel sees the same array type as for chunks
        # read into a buffer, and is compiled once.
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError, OverflowError):
        f.close()
        return None
    if hasattr(m, "madvise"):
        try:
            m.madvise(mmap.MADV_SEQUENTIAL)
        except (OSError, AttributeError):
            pass
    return f, m


def _drop_pages(m, start: int, stop: int, n: int) -> None:
    """Unmap the whole pages of m[start:stop] (MADV_DONTNEED on pages of a file
    mapping that were never written drops them from the process, not from the
    page cache)."""
    import mmap

    page = mmap.PAGESIZE
    a = start // page * page
    b = stop // page * page if stop < n else n
    if b > a and hasattr(m, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        try:
            m.madvise(mmap.MADV_DONTNEED, a, b - a)
        except OSError:
            pass


def _next_newline(arr: np.ndarray, lo: int, hi: int) -> int:
    """Index just past the first newline in arr[lo:hi], or hi."""
    step = 1 << 16
    while lo < hi:
        b = min(hi, lo + step)
        r = arr[lo:b].tobytes().find(b"\n")
        if r >= 0:
            return lo + r + 1
        lo = b
        step *= 4
    return hi


def _read_chunks(src: Source, chunk_bytes: int,
                 progress: ProgressFn | None) -> Iterator[tuple[np.ndarray, int, bool]]:
    """text_chunks for a stream: chunks of whole lines in one reused buffer."""
    stream, consumed = src.open()
    arr = np.empty(chunk_bytes, np.uint8)
    carry = 0
    offset = 0
    try:
        with stream:
            while True:
                if carry == len(arr):  # a line longer than the buffer: grow it
                    bigger = np.empty(2 * len(arr), np.uint8)
                    bigger[:carry] = arr[:carry]
                    arr = bigger
                try:
                    n = stream.readinto(memoryview(arr)[carry:])
                except Exception as e:  # truncated / corrupt compressed data
                    raise TraceError(f"corrupt {src.compression or 'file'} data after "
                                     f"{offset + carry} decompressed bytes: {e}",
                                     src.path, offset=offset + carry) from None
                if progress is not None:
                    progress(consumed())
                if not n:
                    if carry:
                        yield arr[:carry], offset, True
                    return
                total = carry + n
                cut = _last_newline(arr, carry, total) + 1
                if cut == 0:
                    carry = total
                    continue
                yield arr[:cut], offset, False
                rest = total - cut
                arr[:rest] = arr[cut:total]
                carry = rest
                offset += cut
    finally:
        if progress is not None:
            progress(src.size)


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
