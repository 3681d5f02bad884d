"""The simulator: the numba engine (``_engine``), shared placement and balancing
(``_placement``), the engine's parameters (``params``) and the driver that turns a
workload into a replayed schedule (``engine.simulate``). Imports only ``replay.model``,
``policies`` and ``traces``."""

from .engine import ReplayInfo, simulate, tasks_of_workload
from .params import ENGINE_PARAMS, all_params

__all__ = ["ENGINE_PARAMS", "ReplayInfo", "all_params", "simulate", "tasks_of_workload"]
