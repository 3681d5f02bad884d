"""Scheduler policies (decision functions compiled with numba) for the replay engine.

The import name ``policies`` is shared with an unrelated PyPI distribution of
the same name; do not install both in one environment.
"""
