"""Jobs for tests of replay.study._processes.run_pool (imported by its worker processes)."""

from __future__ import annotations

import os

from traces.errors import TraceError


def square(x):
    return x, x * x


def fail(x):
    if x == 3:
        raise TraceError("job 3 refuses", "somewhere.txt", line=7)
    return x, x


def die(x):
    if x == 2:
        os._exit(9)
    return x, x
