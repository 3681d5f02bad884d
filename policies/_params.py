"""Parameter records: every tunable of a policy, with its default, unit and the spec
section it comes from; parsing of ``--param NAME=VALUE`` and packing into the int64
vector the numba functions read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traces.errors import TraceError


@dataclass(frozen=True)
class Param:
    """One tunable. ``kind``: "bool", "int", "ns" (accepts 1.5ms, 700us, 2s, or ns), or
    "choice" (one of ``choices``)."""

    name: str
    default: object
    unit: str
    section: str
    doc: str
    kind: str = "int"
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None


_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def parse_value(p: Param, raw) -> object:
    """Convert a command-line string (or a Python value) to the parameter's type, checking range."""
    if p.kind == "bool":
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "on", "yes"):
            return True
        if s in ("0", "false", "off", "no"):
            return False
        raise TraceError(f"--param {p.name}={raw}: expected on/off (true/false, 1/0)")
    if p.kind == "choice":
        s = str(raw).strip().lower()
        if s not in p.choices:
            raise TraceError(f"--param {p.name}={raw}: expected one of {', '.join(p.choices)}")
        return s
    if p.kind == "ns" and isinstance(raw, str) and raw.strip().lower() == "auto":
        return -1
    if p.kind == "ns" and isinstance(raw, str):
        s = raw.strip().lower().replace("_", "")
        for suf in ("ms", "us", "µs", "ns", "s"):
            if s.endswith(suf):
                try:
                    v = float(s[: -len(suf)]) * _UNITS[suf]
                except ValueError:
                    raise TraceError(f"--param {p.name}={raw}: not a duration (e.g. 700us, 2.8ms)") from None
                break
        else:
            try:
                v = float(s)
            except ValueError:
                raise TraceError(f"--param {p.name}={raw}: not a duration (e.g. 700us, 2.8ms)") from None
        v = int(round(v))
    else:
        try:
            v = int(raw) if not isinstance(raw, float) else raw
            if isinstance(raw, str):
                v = float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise TraceError(f"--param {p.name}={raw}: expected a number") from None
    if p.lo is not None and v < p.lo or p.hi is not None and v > p.hi:
        raise TraceError(f"--param {p.name}={raw}: out of range [{p.lo}, {p.hi}] {p.unit}")
    return v


def resolve(params: tuple[Param, ...], given: dict | None, owner: str) -> dict:
    """Defaults overridden by ``given`` (names checked, values parsed)."""
    out = {p.name: p.default for p in params}
    by = {p.name: p for p in params}
    for k, v in (given or {}).items():
        if k not in by:
            close = [n for n in by if n.split("_")[0] == k.split("_")[0]] or sorted(by)
            raise TraceError(f"unknown parameter {k!r} for {owner}; valid: {', '.join(sorted(by))}"
                             if len(close) > 12 else f"unknown parameter {k!r} for {owner}; did you mean "
                             f"{', '.join(close)}? (--list-params shows all)")
        out[k] = parse_value(by[k], v)
    return out


def table(params: tuple[Param, ...]) -> list[dict]:
    """Rows for --list-params."""
    return [{"name": p.name, "default": p.default, "unit": p.unit, "section": p.section, "doc": p.doc}
            for p in params]


def vector(n: int) -> np.ndarray:
    return np.zeros(n, np.int64)
