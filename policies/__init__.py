"""Scheduler policies (decision functions compiled with numba) for the replay engine.

Each policy is a plain module exposing the hooks of policies._protocol with one
shared signature, its parameter record (``PARAMS``) and the RT-class module it
uses (``RT``). ``get_policy(name)`` returns the module; ``POLICIES`` lists them.

The import name ``policies`` is shared with an unrelated PyPI distribution of
the same name; do not install both in one environment.
"""

from __future__ import annotations

import importlib

from traces.errors import TraceError

#: name -> module path. Adding a policy is adding a module and a line here.
POLICIES = {
    "eevdf": "policies.eevdf",
    "cfs": "policies.cfs",
    "infinity": "policies.infinity",
}


def get_policy(name: str):
    """The policy module for ``name`` (a clear error listing the valid names otherwise)."""
    if name not in POLICIES:
        raise TraceError(f"unknown policy {name!r}; valid policies: {', '.join(POLICIES)}")
    return importlib.import_module(POLICIES[name])


__all__ = ["POLICIES", "get_policy"]
