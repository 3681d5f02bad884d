"""Studies: runs of the model through the simulator, measured. ``replay`` (one replay),
``validate`` (the replay's own error against the recording), ``compare`` (the recording
and replays under several policies and machines), ``sweep`` (a grid of parameters, local
or on Ray). Each takes a prepared trace (replay.prepare) or anything it takes, and
returns plain data. Imports ``model``, ``sim`` and ``metrics``; never ``present``."""

from .comparison import Comparison, compare
from .runs import OBSERVED, Run, observed_run, replay, replay_run
from .sweeps import SweepResult, best, sweep
from .validation import recorded_policy, validate

__all__ = ["OBSERVED", "Comparison", "Run", "SweepResult", "best", "compare", "observed_run", "recorded_policy",
           "replay", "replay_run", "sweep", "validate"]
