"""schedreplay's replay side: the observed schedule, metrics, the workload model, the
engine and the command line.

>>> import traces
>>> from replay import replay, observed_schedule, measure, topology
>>> t = traces.load("trace.dat")
>>> recorded = measure(observed_schedule(t), topology.resolve(None, t))
>>> sched, info = replay(t, policy="eevdf", params={"base_slice_ns": "1ms"})
>>> replayed = measure(sched, topology.resolve(None, t))

Names are imported on first use, so that ``schedreplay --help`` does not load numba.

The import name ``replay`` is shared with an unrelated PyPI distribution of the
same name; do not install both in one environment.
"""

from __future__ import annotations

import importlib

#: public name -> module that defines it
_EXPORTS = {
    "replay": "replay.engine", "ReplayInfo": "replay.engine", "all_params": "replay.engine",
    "observed_schedule": "replay.schedule", "Schedule": "replay.schedule",
    "measure": "replay.metrics", "task_table": "replay.metrics",
    "Workload": "replay.workload", "from_schedule": "replay.workload",
}  # (not compare: the submodule replay.compare would shadow the function)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'replay' has no attribute {name!r}")
