"""Reader for Android systrace / atrace HTML.

The ftrace text sits in ``<script class="trace-data" type="application/text">``
blocks (newer systrace; other such blocks hold JSON and are skipped) or, in the
legacy template, after ``var linuxPerfData = "\\`` up to ``</script>``. The text
is handed, chunk by chunk and with its real line numbers and byte offsets, to
the ftrace text parser.
"""

from __future__ import annotations

import re

from ._io import Source, text_chunks
from ._result import ReadResult
from .errors import TraceError
from .text import TextParser

_OPEN_RE = re.compile(rb'^[ \t]*<script class="trace-data"[^>\n]*>[ \t]*\r?$|^[ \t]*var linuxPerfData = "\\?\r?$',
                      re.M)
_CLOSE_RE = re.compile(rb"</script>")


def read(src: Source, fmt: str, progress=None) -> ReadResult:
    result = ReadResult(src.path, "systrace", compression=src.compression)
    parser = TextParser(result, expected_events=src.size // 200 + 1024)
    inside = False      # inside a trace-data block
    skipping = False    # the block holds JSON, not ftrace text
    fresh = False       # no content seen yet in this block
    blocks = 0
    line = 1
    for buf, offset, last in text_chunks(src, progress=progress):
        data = buf.tobytes()
        pos = 0
        while pos < len(data):
            if not inside:
                m = _OPEN_RE.search(data, pos)
                if not m:
                    break
                nl = data.find(b"\n", m.end())
                pos = len(data) if nl < 0 else nl + 1
                inside, skipping, fresh = True, False, True
                blocks += 1
                continue
            m = _CLOSE_RE.search(data, pos)
            stop = m.start() if m else len(data)
            content = data[pos:stop]
            if fresh and content.strip():
                first = content.lstrip()[:1]
                skipping = first in (b"{", b"[")
                fresh = False
            if content and not skipping:
                parser.feed(buf, offset, last and not m, line=line + data.count(b"\n", 0, pos),
                            start=pos, stop=stop)
            if m:
                inside = False
                pos = stop
                nl = data.find(b"\n", pos)
                pos = len(data) if nl < 0 else nl + 1
            else:
                pos = len(data)
        line += data.count(b"\n")
    if blocks == 0:
        raise TraceError("HTML without systrace data: no <script class=\"trace-data\"> block and no "
                         "'var linuxPerfData' (is this a systrace/atrace HTML file?)", src.path)
    if inside:
        result.warnings.add("unclosed", f"{src.path}: the last trace-data block is not closed by "
                            "</script> (truncated file?); read up to the end")
    parser.finish("systrace")
    result.format = "systrace"
    return result
