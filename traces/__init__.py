"""schedreplay's trace readers: any supported trace -> Arrow/polars tables.

>>> import traces
>>> t = traces.load("trace.dat")          # or ftrace text, systrace, Perfetto, a bundle dir
>>> t.events, t.tasks, t.cpus, t.meta    # polars DataFrames, columns in traces.schema
>>> t.write("bundle/")                   # Parquet bundle, read back by traces.load("bundle/")

The import name ``traces`` is shared with an unrelated PyPI distribution of
the same name; do not install both in one environment.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("schedreplay")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+src"

from . import schema
from .errors import TraceError
from .trace import FORMATS, SAMPLE_NAME, Trace, detect, load, sample_path, sample_spans

__all__ = ["load", "Trace", "TraceError", "FORMATS", "detect", "schema", "sample_path", "sample_spans", "SAMPLE_NAME",
           "__version__"]
