"""schedreplay's replay side: the command line and (later) the workload model and engine.

The import name ``replay`` is shared with an unrelated PyPI distribution of the
same name; do not install both in one environment.
"""
