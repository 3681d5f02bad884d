"""Opening trace files: transparent zstd / gzip / zlib decompression, sniffing,
and chunked reading of text with line and byte bookkeeping."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

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
                progress: ProgressFn | None = None) -> Iterator[tuple[bytes, int, int, bool]]:
    """Yield (data, byte offset, line number of its first line, last) with whole
    lines only (each chunk ends after a newline, except possibly the last).

    Offsets and line numbers are into the decompressed content, line numbers
    start at 1.
    """
    stream, consumed = src.open()
    offset = 0
    line = 1
    carry = b""
    try:
        with stream:
            while True:
                try:
                    block = stream.read(chunk_bytes)
                except Exception as e:  # truncated / corrupt compressed data
                    raise TraceError(f"corrupt {src.compression or 'file'} data after "
                                     f"{offset + len(carry)} decompressed bytes: {e}",
                                     src.path, offset=offset + len(carry)) from None
                if progress is not None:
                    progress(consumed())
                if not block:
                    if carry:
                        yield carry, offset, line, True
                    return
                data = carry + block if carry else block
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                chunk, carry = data[:cut], data[cut:]
                yield chunk, offset, line, False
                offset += len(chunk)
                line += chunk.count(b"\n")
    finally:
        if progress is not None:
            progress(src.size)
