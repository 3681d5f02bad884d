"""The README stays true: the commands of "Questions you can ask" run on the sample and
print what the README says to read; every option the README shows a command with
exists; every `FILE.md §N` the code and the README cite has that section under
docs/specs/."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import sys

import polars as pl
import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = ("info", "ingest", "metrics", "replay", "validate", "compare", "demo", "sweep")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end >= 0 else None]


def _questions() -> list[tuple[str, list[str]]]:
    """(question, its command lines) in the README's order."""
    out = []
    for m in re.finditer(r"\*\*(\d\. [^*]+)\*\*\s*```sh\n(.*?)```", _section("Questions you can ask"), re.S):
        out.append((m.group(1), [x.strip() for x in m.group(2).splitlines() if x.strip()]))
    return out


def test_the_readme_asks_five_questions():
    qs = _questions()
    assert [q.split(" ", 1)[0] for q, _ in qs] == ["1.", "2.", "3.", "4.", "5."]
    assert all(lines and all(x.startswith("schedreplay ") for x in lines) for _, lines in qs)


def _python_tids() -> list[int]:
    import traces

    t = traces.load("@sample").tasks.with_columns(pl.col("comm").cast(pl.String))
    return [r["tid"] for r in t.iter_rows(named=True) if fnmatch.fnmatchcase(r["comm"], "python*")]


@pytest.mark.parametrize("number", [1, 2, 3, 4, 5])
def test_question_commands_run_on_the_sample(number, tmp_path):
    question, lines = _questions()[number - 1]
    outs = []
    for line in lines:
        args = shlex.split(line)[1:]
        p = subprocess.run([sys.executable, "-m", "replay", *args], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "COLUMNS": "100"}, timeout=900)
        assert p.returncode == 0, (line, p.stderr[-3000:])
        assert "Traceback" not in p.stderr
        assert max(len(x) for x in p.stdout.splitlines()) <= 100
        outs.append(p.stdout)
    out = "\n".join(outs)
    if number == 1:  # the decode token latency first (tokens.csv, --spans @sample), under every policy
        assert out.startswith("application span 'decode' (376 spans, from c_infer_torch.tokens.csv)")
        tokens = out.split("application span 'prefill'")[0]
        for policy in ("observed", "eevdf", "infinity"):
            assert re.search(rf"│ {policy}\s+│ recorded\s+│\s+\d+\.\d+ ms", tokens), policy
        out = out[out.index("the selected tasks (comm=python*: "):]
    if number in (1, 3):  # the Python threads' own figures first, under every policy asked for
        assert out.startswith("the selected tasks (comm=python*: ")
        first = out.split("policies compared")[0]
        for policy in re.search(r"--policies (\S+)", lines[0]).group(1).split(","):
            assert re.search(rf"│ {policy}\s+│", first), policy
        if number == 3:
            assert re.search(r"│ eevdf\s+│ 2x8x2\s+│", first) and re.search(r"│ eevdf\s+│ recorded\s+│", first)
    if number == 2:  # what --set matched, and stress-ng's figures first
        assert f"--set 'comm=python*:policy=fifo,rtprio=50': {len(_python_tids())} tasks (python)" in out
        assert out.startswith("the selected tasks (comm=stress-ng*: ")
        assert "CPU share" in out.split("policies compared")[0]
    if number == 4:  # the best base slice, and whether it is beyond the replay's error
        assert "best configuration per policy and topology for span.decode.p99" in out and "beyond error" in out
        rows = pl.read_parquet(tmp_path / "slices.parquet")
        assert sorted(rows["param.base_slice_ns"].to_list()) == [350_000, 700_000, 1_400_000, 2_800_000]
    if number == 5:  # Jain with its error bar, per-process figures, Jain by nice and the share error
        assert re.search(r"Jain", outs[0]) and "by process" in outs[0]
        assert "Jain by nice" in outs[1] and "weighted-share error" in outs[1]


def _options() -> dict[str, set[str]]:
    """Each command's options, from the command line itself."""
    import typer.main

    from replay.present.cli import app

    group = typer.main.get_command(app)
    out = {}
    for name, cmd in group.commands.items():
        opts = {"--help", "-h"}
        for p in cmd.params:
            opts |= set(p.opts) | set(getattr(p, "secondary_opts", []))
        out[name] = opts
    return out


def test_every_option_the_readme_shows_exists():
    opts = _options()
    assert set(COMMANDS) <= set(opts)
    shown = []
    # `schedreplay CMD ...` in code spans, headings and code blocks, and `CMD --option` spans
    for m in re.finditer(r"`schedreplay (\w+)([^`]*)`", README):
        shown.append((m.group(1), m.group(2)))
    for m in re.finditer(r"^schedreplay (\w+)(.*)$", README, re.M):
        shown.append((m.group(1), m.group(2)))
    for m in re.finditer(rf"`({'|'.join(COMMANDS)})((?: -{{1,2}}[\w-]+)+)", README):
        shown.append((m.group(1), m.group(2)))
    assert len(shown) > 20
    bad = []
    for cmd, rest in shown:
        if cmd not in opts:
            bad.append(f"schedreplay {cmd}: no such command")
            continue
        for flag in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest):
            if flag not in opts[cmd]:
                bad.append(f"schedreplay {cmd} {flag}")
    assert not bad, bad


#: a citation of a policy specification: eevdf.md §6, specs/cfs.md §2, §8, rt.md §6.4-6.5
_CITE = re.compile(r"\b(eevdf|cfs|rt|infinity|placement)\.md((?:\s*,?\s*§\s?\d+(?:\.\d+)?)+)")


def test_every_cited_spec_section_exists():
    sources = [ROOT / "README.md", ROOT / "docs" / "engine-model.md"]
    for pkg in ("policies", "replay", "traces", "tests", "benchmarks"):
        sources += sorted((ROOT / pkg).rglob("*.py"))
    sources += sorted((ROOT / "docs" / "specs").glob("*.md"))
    cited = set()
    for path in sources:
        for m in _CITE.finditer(path.read_text(encoding="utf-8")):
            for sec in re.findall(r"§\s?(\d+(?:\.\d+)?)", m.group(2)):
                cited.add((m.group(1), sec))
    assert len(cited) > 40
    missing = []
    for name, sec in sorted(cited):
        text = (ROOT / "docs" / "specs" / f"{name}.md").read_text(encoding="utf-8")
        if not re.search(rf"^#+ {re.escape(sec)}[. ]", text, re.M):
            missing.append(f"{name}.md §{sec}")
    assert not missing, missing
    # and the README says where they are
    assert "docs/specs/" in README and "](docs/specs/eevdf.md)" in README
