"""The model of a trace: its observed schedule (``schedule``), the workload each task
presented (``workload``), the machine (``topology``), what-if overrides (``overrides``),
the recorded wakeup latencies (``latencies``) and all of it prepared once
(``prepared``). Imports only ``traces``: the bottom of the replay side."""

from .latencies import Latencies, measure_latencies
from .overrides import Override, parse_all as parse_overrides
from .prepared import PreparedTrace, prepare
from .schedule import CAUSES, Schedule, observed_schedule, running, waits
from .topology import Topology
from .workload import Workload, from_schedule

__all__ = ["CAUSES", "Latencies", "Override", "PreparedTrace", "Schedule", "Topology", "Workload",
           "from_schedule", "measure_latencies", "observed_schedule", "parse_overrides", "prepare", "running",
           "waits"]
