"""The house by stage: every import, at module level or inside a function, goes from a
stage to one above it in the pipeline (README "How replay works": the layout), never
back down; the engine state layout lives beside the policy protocol."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: stage -> the stages it may import (besides itself)
ALLOWED = {
    "traces": set(),
    "policies": {"traces"},
    "replay.model": {"traces"},
    "replay.sim": {"traces", "policies", "replay.model"},
    "replay.metrics": {"traces", "policies", "replay.model"},
    "replay.study": {"traces", "policies", "replay.model", "replay.sim", "replay.metrics"},
    # the fairness kit (strategies, invariants, the suite `check` runs): beside study
    "replay.testing": {"traces", "policies", "replay.model", "replay.sim", "replay.metrics"},
    "replay.present": {"traces", "policies", "replay.model", "replay.sim", "replay.metrics", "replay.study",
                       "replay.testing"},
}


def _stage(module: str) -> str | None:
    """The stage of a dotted module name (None: the replay package's own facade)."""
    parts = module.split(".")
    if parts[0] in ("traces", "policies"):
        return parts[0]
    if parts[0] == "replay" and len(parts) > 1 and f"replay.{parts[1]}" in ALLOWED:
        return f"replay.{parts[1]}"
    return None


def _imports(path: Path):
    """(line, absolute module) of every project import in ``path``."""
    package = list(path.relative_to(ROOT).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for a in node.names:  # "from replay import metrics" imports the module replay.metrics
                sub = ROOT / Path(*f"{mod}.{a.name}".split("."))
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    yield node.lineno, f"{mod}.{a.name}"


def test_imports_run_only_up_the_pipeline():
    bad = []
    files = [p for pkg in ("traces", "policies", "replay") for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 40
    for path in files:
        rel = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = _stage(rel)
        if here is None:  # replay/__init__.py and __main__.py: the public facade
            continue
        for line, mod in _imports(path):
            there = _stage(mod)
            if there is None or there == here:
                continue
            if there not in ALLOWED[here]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {mod}")
    assert not bad, "\n".join(bad)


def test_every_replay_module_is_in_a_stage():
    loose = [p.name for p in (ROOT / "replay").glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert not loose, f"modules outside the stage folders: {loose}"


def test_engine_state_layout_is_beside_the_protocol_and_dense():
    from policies import _state as S

    cols = {k: v for k, v in vars(S).items() if k.startswith("T_") and isinstance(v, int)}
    assert sorted(cols.values()) == list(range(S.NT))  # no gaps, no duplicates
    cols = {k: v for k, v in vars(S).items() if k.startswith("C_") and isinstance(v, int)}
    assert sorted(cols.values()) == list(range(S.NC))
    eng = {k: v for k, v in vars(S).items() if k.startswith("E_") and k != "E_N" and isinstance(v, int)}
    assert max(eng.values()) == S.E_N - 1
    assert not hasattr(S, "OUT_COLS") and not hasattr(S, "T_COLD") and not hasattr(S, "C_LOAD")
