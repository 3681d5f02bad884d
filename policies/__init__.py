"""Scheduler policies (decision functions compiled with numba) for the replay engine.

Each policy is a plain module exposing the hooks of policies._protocol with one
shared signature, its parameter record (``PARAMS``) and the RT-class module it
uses (``RT``). ``get_policy(spec)`` returns the module, checked against the protocol:
``spec`` is a built-in name (``POLICIES``), the name of a policy an installed package
registers under the entry-point group ``schedreplay.policies``, the path of a Python
file or package (``./my_policy.py``), or an importable module name
(``mypkg.fifo_fair``). ``available()`` lists the built-in and installed ones.
Writing one: docs/writing-a-policy.md; the names a policy may use: ``policies.api``.

The import name ``policies`` is shared with an unrelated PyPI distribution of
the same name; do not install both in one environment.
"""

from __future__ import annotations

#: name -> module path of the built-in policies. Adding one is adding a module and a line here.
POLICIES = {
    "eevdf": "policies.eevdf",
    "cfs": "policies.cfs",
    "infinity": "policies.infinity",
}

#: the entry-point group under which installed packages register policies (name = module)
ENTRY_POINT_GROUP = "schedreplay.policies"


def get_policy(spec):
    """The policy module for ``spec`` — a built-in name, an installed policy's name, a
    file or package path, an importable module name, or a module object — checked
    against the protocol once (traces.TraceError, one line, otherwise)."""
    from ._loader import load

    return load(spec)


def policy_label(spec) -> str:
    """How a policy is named in results: the spec as given, a module's own spec or name."""
    from ._loader import label

    return label(spec)


def available() -> list[dict]:
    """The built-in policies and those installed packages register (``ENTRY_POINT_GROUP``):
    one dict each with ``name``, ``source`` ("built-in" or "DIST VERSION (entry point)")
    and ``target`` (the module). Nothing is imported."""
    from ._loader import entries

    return entries()


__all__ = ["POLICIES", "ENTRY_POINT_GROUP", "get_policy", "policy_label", "available"]
