"""The guides for outsiders stay true (docs/writing-a-policy.md, docs/testing-a-policy.md):
their Python blocks run (the tests they define are then called), their excerpts of the
example policies are the examples' own text, their shell commands run and exit 0, the
`check` output they show is what the command prints (timings aside), every option they
show exists, and the names their tables list are the ones policies.api and replay.testing
have.

A block preceded by ``<!-- not run: why -->`` is left out; ``<!-- excerpt: FILE -->``
marks a block quoted from FILE (parts separated by a ``...`` line); ``<!-- output of:
COMMAND -->`` marks what COMMAND prints."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import policies.api as API
from replay import testing as K

from .conftest import ROOT
from .test_readme import _options

WRITING = ROOT / "docs" / "writing-a-policy.md"
TESTING = ROOT / "docs" / "testing-a-policy.md"
DOCS = {"writing": WRITING, "testing": TESTING}
_BLOCK = re.compile(r"^(?:<!-- (?P<mark>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)


def blocks(path: Path, lang: str) -> list[tuple[str, str]]:
    """(marker, body) of the doc's fenced blocks of ``lang``."""
    return [(m["mark"] or "", m["body"]) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))
            if m["lang"] == lang]


def table(path: Path, header: str) -> list[list[str]]:
    """The rows (cells) of the doc's table whose header row starts with ``header``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"| {header} |"))
    rows = []
    for x in lines[start + 2:]:
        if not x.startswith("|"):
            break
        rows.append([c.strip() for c in re.split(r"(?<!\\)\|", x.strip("|"))])
    return rows


def ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Where the docs' commands run: docs/ and tests/ of the project, and my_policy.py, a
    copy of the minimal example (the guides' running example)."""
    d = tmp_path_factory.mktemp("docs")
    (d / "docs").symlink_to(ROOT / "docs")
    (d / "tests").symlink_to(ROOT / "tests")
    shutil.copy(ROOT / "docs" / "examples" / "round_robin.py", d / "my_policy.py")
    return d


def _env() -> dict:
    return {**os.environ, "COLUMNS": "100",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


# -- code -------------------------------------------------------------------------------------

#: runs a doc's Python blocks in order, in one namespace, then the tests they define (their
#: examples derandomized, as the ci profile does: the same examples every run)
RUNNER = """
from hypothesis import settings
settings.register_profile("docs", derandomize=True, database=None)
settings.load_profile("docs")
ns = {"__name__": "doc"}
for i, block in enumerate(BLOCKS):
    exec(compile(block, f"{DOC}, Python block {i + 1}", "exec"), ns)
tests = [k for k in ns if k.startswith("test_") and callable(ns[k])]
for k in tests:
    ns[k]()
print("RAN", len(BLOCKS), "TESTS", len(tests))
"""


@pytest.mark.parametrize("doc", list(DOCS))
def test_python_blocks_run(doc, workspace):
    """As a reader would run them: in a fresh interpreter, where the docs' commands run."""
    code = [body for mark, body in blocks(DOCS[doc], "python") if not mark]
    script = workspace / f"run_{doc}_blocks.py"
    script.write_text(f"BLOCKS = {code!r}\nDOC = {DOCS[doc].name!r}\n{RUNNER}")
    p = subprocess.run([sys.executable, str(script)], cwd=workspace, env=_env(), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    ran, tests = map(int, re.search(r"^RAN (\d+) TESTS (\d+)$", p.stdout, re.M).groups())
    assert ran == len(code) >= (2 if doc == "writing" else 4) and tests >= (0 if doc == "writing" else 4)


@pytest.mark.parametrize("doc", list(DOCS))
def test_excerpts_are_the_examples_text(doc):
    found = 0
    for mark, body in blocks(DOCS[doc], "python"):
        if not mark.startswith("excerpt: "):
            continue
        source = (ROOT / mark.split(": ", 1)[1]).read_text(encoding="utf-8")
        for part in re.split(r"^\.\.\.\n", body, flags=re.M):
            assert part in source, (mark, part)
        found += 1
    assert found >= (5 if doc == "writing" else 0)


def _commands() -> list[str]:
    out = []
    for path in DOCS.values():
        for mark, body in blocks(path, "sh"):
            if not mark:
                out += [x.split("  #")[0].strip() for x in body.splitlines() if x.strip()]
    return list(dict.fromkeys(out))  # each once


@pytest.mark.parametrize("command", _commands())
def test_shell_commands_run(command, workspace):
    assert not command.startswith("schedreplay check") or "tests/policies" not in command
    p = subprocess.run(["bash", "-c", command], cwd=workspace, env=_env(), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, (command, p.stdout[-2000:], p.stderr[-3000:])
    assert "Traceback" not in p.stderr


def _timing(text: str) -> str:
    return re.sub(r"\(\d+ examples, [\d.]+ s\)", "(N examples, T s)", text).rstrip()


@pytest.mark.parametrize("doc", list(DOCS))
def test_shown_output_is_what_the_command_prints(doc, workspace):
    shown = [(m.split(": ", 1)[1], body) for m, body in blocks(DOCS[doc], "") if m.startswith("output of: ")]
    for command, body in shown:
        p = subprocess.run(["bash", "-c", command], cwd=workspace, env=_env(), capture_output=True, text=True,
                           timeout=900)
        assert _timing(p.stdout) == _timing(body), command
    assert len(shown) == (1 if doc == "testing" else 0)


def test_every_option_shown_exists():
    opts = _options()
    shown = []
    for path in DOCS.values():
        text = path.read_text(encoding="utf-8")
        shown += re.findall(r"`schedreplay (\w+)([^`]*)`", text)
        shown += re.findall(r"^schedreplay (\w+)(.*)$", text, re.M)
        shown += re.findall(rf"`({'|'.join(opts)})((?: -{{1,2}}[\w-]+)+)", text)
    assert len(shown) > 15
    bad = [f"{cmd} {flag}" for cmd, rest in shown for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest)
           if cmd not in opts or flag not in opts[cmd]]
    assert not bad, bad


# -- names ---------------------------------------------------------------------------------------

def test_the_stable_columns_are_policies_apis():
    for header, columns in (("task column", API.TASK_COLUMNS), ("CPU column", API.CPU_COLUMNS)):
        names = [n for row in table(WRITING, header) for n in ticked(row[0])]
        assert names == list(columns), header


def test_the_hooks_and_the_api_names_exist():
    assert [ticked(r[0])[0] for r in table(WRITING, "hook")] == list(API.HOOKS)
    for row in table(WRITING, "name in `policies.api`"):
        for name in ticked(row[0]):
            name = name.split("(")[0]
            if name.endswith("_*"):
                assert any(n.startswith(name[:-1]) for n in API.__all__), name
            else:
                assert name in API.__all__ and hasattr(API, name), name
    text = WRITING.read_text(encoding="utf-8")
    for name in set(re.findall(r"`((?:T|C|S|CLS|POL|ENQ|DEQ)_[A-Z0-9_]+)`", text)):
        assert hasattr(API, name), name
    import policies
    from policies._protocol import OPTIONAL_NAMES

    rr = policies.get_policy(str(ROOT / "docs" / "examples" / "round_robin.py"))
    for row in table(WRITING, "name"):  # the names a policy module defines
        for name in ticked(row[0]):
            name = name.split("(")[0]
            assert name in API.HOOKS or hasattr(rr, name) or name in OPTIONAL_NAMES, name


def test_the_invariants_and_the_kits_names_exist():
    rows = table(TESTING, "invariant")
    assert [ticked(r[0])[0] for r in rows] == list(K.INVARIANTS)
    assert [ticked(r[1])[0] for r in rows] == [fn.__name__ for fn, _ in K.INVARIANTS.values()]
    assert [inv.name for inv in K.SUITE] == list(K.INVARIANTS)
    for header in ("strategy", "name"):
        for row in table(TESTING, header):
            for name in ticked(row[0]):
                name = re.split(r"[(.]", name)[0]
                assert hasattr(K, name), name
    text = TESTING.read_text(encoding="utf-8")
    assert f"| `DEFAULT_EXAMPLES` | {K.DEFAULT_EXAMPLES} |" in text
    assert f"(default {K.DEFAULT_EXAMPLES};" in text
    for name in set(re.findall(r"`(check_\w+)", text)):
        assert hasattr(K, name), name


def test_the_guides_are_linked_from_the_readme_and_each_other():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/writing-a-policy.md)" in readme and "](docs/testing-a-policy.md)" in readme
    assert "](testing-a-policy.md)" in WRITING.read_text(encoding="utf-8")
    assert "](writing-a-policy.md)" in TESTING.read_text(encoding="utf-8")
    from policies._loader import GUIDE

    assert (ROOT / GUIDE).is_file()
