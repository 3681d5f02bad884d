"""The configurations of a sweep: ``--grid`` parsed per parameter (lists and inclusive
ranges, values checked by each parameter's own parser), their product or a random sample,
the policy's default configuration always first."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np

from policies._params import Param, parse_value
from traces.errors import TraceError

from ..sim import all_params

MAX_VALUES_PER_PARAM = 10_000
MAX_CONFIGS = 1_000_000

# --------------------------------------------------------------------------------------

def parse_grid(items) -> dict[str, object]:
    """``--grid NAME=V1,V2`` / ``NAME=start:stop:step`` strings (or a dict NAME -> list of
    values or such a string) -> {NAME: spec}. Values are interpreted per policy later."""
    if items is None:
        return {}
    if isinstance(items, dict):
        out = {}
        for k, v in items.items():
            if isinstance(v, (list, tuple)) and not v:
                raise TraceError(f"--grid {k}: no values")
            out[str(k).strip()] = v
        return out
    if isinstance(items, str):
        items = [items]
    out: dict[str, object] = {}
    for it in items:
        if "=" not in it:
            raise TraceError(f"--grid {it!r}: expected NAME=V1,V2,... or NAME=START:STOP:STEP")
        k, v = it.split("=", 1)
        k, v = k.strip(), v.strip()
        if not k or not v:
            raise TraceError(f"--grid {it!r}: expected NAME=V1,V2,... or NAME=START:STOP:STEP")
        if k in out:
            raise TraceError(f"--grid {k} given twice; give all its values in one --grid {k}=V1,V2,...")
        out[k] = v
    return out


def _dedupe(values) -> tuple:
    seen, out = set(), []
    for v in values:
        key = (type(v) is bool, v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return tuple(out)


def expand(p: Param, spec, policy: str | None = None) -> tuple:
    """The parsed values of one grid dimension for parameter ``p``: a list ``V1,V2,...``
    or an inclusive range ``START:STOP:STEP`` (int and duration parameters)."""
    where = f" (policy {policy})" if policy else ""
    try:
        return _expand(p, spec, where)
    except TraceError as e:
        if e.detail.startswith("--param "):  # parse_value's message: say which --grid it came from
            head, _, msg = e.detail.partition(": ")
            raise TraceError(f"--grid {p.name}={spec}: value {head.split('=', 1)[-1]!r}: {msg}{where}") from None
        raise


def _expand(p: Param, spec, where: str) -> tuple:
    if isinstance(spec, (list, tuple)):
        return _dedupe(parse_value(p, v) for v in spec)
    s = str(spec).strip()
    if ":" in s and "," not in s:
        parts = [x.strip() for x in s.split(":")]
        if p.kind in ("bool", "choice"):
            what = "on/off" if p.kind == "bool" else f"one of {', '.join(p.choices)}"
            raise TraceError(f"--grid {p.name}={s}: {p.name} takes {what}{where}; list the values "
                             f"(NAME=V1,V2), ranges START:STOP:STEP are for numbers and durations")
        if len(parts) != 3 or not all(parts):
            raise TraceError(f"--grid {p.name}={s}: a range is START:STOP:STEP (inclusive), e.g. "
                             f"{p.name}={'1ms:4ms:500us' if p.kind == 'ns' else '1:8:1'}")
        start, stop = parse_value(p, parts[0]), parse_value(p, parts[1])
        try:
            step = parse_value(replace(p, lo=None, hi=None), parts[2])
        except TraceError:
            raise TraceError(f"--grid {p.name}={s}: step {parts[2]!r} is not a "
                             f"{'duration' if p.kind == 'ns' else 'number'}") from None
        if not step > 0:
            raise TraceError(f"--grid {p.name}={s}: the step must be > 0")
        if stop < start:
            raise TraceError(f"--grid {p.name}={s}: STOP is below START")
        n = int(math.floor((stop - start) / step + 1e-9)) + 1
        if n > MAX_VALUES_PER_PARAM:
            raise TraceError(f"--grid {p.name}={s}: {n:,} values (at most {MAX_VALUES_PER_PARAM:,} per "
                             "parameter); use a bigger step")
        ints = all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop, step))
        vals = [start + i * step for i in range(n)]
        if not ints:
            vals = [round(v, 12) for v in vals]
        return _dedupe(vals)
    vals = [x.strip() for x in s.split(",")]
    if not all(vals):
        raise TraceError(f"--grid {p.name}={s}: empty value in the list")
    return _dedupe(parse_value(p, v) for v in vals)


def _check_names(policies, grid: dict) -> dict[str, dict[str, Param]]:
    """{policy: {name: Param}} for the grid's names; every name must belong to at least
    one of the policies (or the engine)."""
    by_policy = {pol: {p.name: p for p in all_params(pol)} for pol in policies}
    known = set().union(*[set(d) for d in by_policy.values()]) if by_policy else set()
    bad = [k for k in grid if k not in known]
    if bad:
        raise TraceError(f"--grid: unknown parameter(s) {', '.join(bad)} for policies {', '.join(policies)}; "
                         f"valid: {', '.join(sorted(known, key=str.lower))}")
    return {pol: {k: d[k] for k in grid if k in d} for pol, d in by_policy.items()}


def configurations(policies, grid: dict, random: int | None = None, seed: int = 0) -> dict[str, list[dict]]:
    """{policy: [config, ...]}: each config maps every grid name the policy takes to a
    value; the policy's default configuration comes first. ``random``: draw that many
    distinct configurations other than the default (deterministic for ``seed``) instead of
    the full grid."""
    if random is not None and random < 1:
        raise TraceError(f"--random {random}: expected a number of configurations >= 1")
    params = _check_names(policies, grid)
    out = {}
    for pol in policies:
        ps = params[pol]
        names = sorted(ps)
        dims = [expand(ps[n], grid[n], pol) for n in names]
        size = math.prod(len(d) for d in dims)
        default = {n: ps[n].default for n in names}
        # the default's position in the grid, when it is a grid point: never drawn (it always runs)
        d_idx = tuple(next((i for i, v in enumerate(d) if v == default[n] and type(v) is type(default[n])), -1)
                      for n, d in zip(names, dims))
        in_grid = all(i >= 0 for i in d_idx)
        if random is None:
            if size > MAX_CONFIGS:
                raise TraceError(f"--grid: {size:,} configurations for policy {pol} (at most {MAX_CONFIGS:,}); "
                                 "narrow the grid or use --random N")
            chosen = [dict(zip(names, combo)) for combo in itertools.product(*dims)]
        elif random >= size - in_grid:
            chosen = [dict(zip(names, combo)) for combo in itertools.product(*dims)]
        else:
            rng = np.random.default_rng(seed)
            seen, chosen = ({d_idx} if in_grid else set()), []
            tries = 0
            while len(chosen) < random and tries < 100 * random:
                tries += 1
                idx = tuple(int(rng.integers(len(d))) for d in dims)
                if idx in seen:
                    continue
                seen.add(idx)
                chosen.append({n: d[i] for n, d, i in zip(names, dims, idx)})
        configs = [default]
        keys = {config_key(default)}
        for c in chosen:
            k = config_key(c)
            if k not in keys:
                keys.add(k)
                configs.append(c)
        out[pol] = configs
    return out


def config_key(config: dict) -> str:
    """Canonical JSON of a configuration (sorted names)."""
    return json.dumps({k: config[k] for k in sorted(config)}, sort_keys=True, separators=(",", ":"))
