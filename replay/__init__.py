"""schedreplay's replay side, laid out by pipeline stage (each imports only those above it
in this list):

* ``replay.model``   — the trace prepared once: observed schedule, workload, topology,
  overrides, recorded latencies (``prepare`` / ``PreparedTrace``);
* ``replay.sim``     — the engine and its driver (``simulate`` a workload through a policy);
* ``replay.metrics`` — metrics of any schedule, recorded or replayed (``measure``), and the
  catalog of what each metric is;
* ``replay.study``   — replay, validate, compare, sweep: runs of the model through the
  simulator, measured, returned as plain data;
* ``replay.present`` — the command line, tables, the HTML report, plots, Perfetto export.

>>> import replay
>>> p = replay.prepare("trace.dat")            # read once: observed schedule, workload, latencies
>>> recorded = replay.measure(p.schedule, p.recorded)
>>> sched, info = replay.replay(p, policy="eevdf", params={"base_slice_ns": "1ms"})
>>> c = replay.compare(p, topologies=(None, "2x8x2"))   # c.to_dict() is `compare --json`
>>> v = replay.validate(p)

Names are imported on first use, so that ``schedreplay --help`` does not load numba.

The import name ``replay`` is shared with an unrelated PyPI distribution of the
same name; do not install both in one environment.
"""

from __future__ import annotations

import importlib

#: public name -> module that defines it
_EXPORTS = {
    "prepare": "replay.model.prepared", "PreparedTrace": "replay.model.prepared",
    "observed_schedule": "replay.model.schedule", "Schedule": "replay.model.schedule",
    "Workload": "replay.model.workload", "from_schedule": "replay.model.workload",
    "ReplayInfo": "replay.sim.engine", "all_params": "replay.sim.params",
    "measure": "replay.metrics.measures", "task_table": "replay.metrics.measures",
    "replay": "replay.study.runs", "Run": "replay.study.runs",
    "validate": "replay.study.validation",
    "compare": "replay.study.comparison", "Comparison": "replay.study.comparison",
    "sweep": "replay.study.sweeps", "SweepResult": "replay.study.sweeps",
}
#: public name -> a module (``replay.topology.resolve("2x16x2")``)
_MODULES = {"topology": "replay.model.topology"}

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str):
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        raise AttributeError(f"module 'replay' has no attribute {name!r}")
    globals()[name] = value
    return value
