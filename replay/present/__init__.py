"""Presentation: the ``schedreplay`` command line (``cli``), the tables every output
shares (``tables``), the HTML report (``report``), plots (``plots``) and the Perfetto
export of any schedule (``export``). Imports every stage below it; nothing imports it.

Names are imported on first use, so that ``schedreplay --help`` does not load numba.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"write_report": "replay.present.report", "render_report": "replay.present.report",
            "schedule_to_perfetto": "replay.present.export", "wait_cdf": "replay.present.plots"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'replay.present' has no attribute {name!r}")
