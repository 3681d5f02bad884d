"""The fuzz tier's driver: the command line on mutated real traces of every format.

    python -m tests._fuzz [--seed N] [--budget-s S] [--cases N] [--mem-gb G] [--out DIR] [--corpus DIR]
    python -m tests._fuzz --mem-gb G --run-one COMMAND ARGS...   (one run under the limit, as JSON)

Each case writes one mutant of a real trace (tests/data, the shipped sample and, when
found, small files of the corpus: ftrace text, trace-cmd report pretty and -R, systrace
HTML, atrace, trace.dat v6 and v7, Perfetto protobuf and textproto, zstd/gzip
compressed text) and runs ``schedreplay info --json`` and ``schedreplay metrics --json``
on it, in this process, through the console script's own ``main()``, under an
address-space limit (``resource.setrlimit``, ``--mem-gb`` above what the interpreter
uses once everything is imported). Mutations: bytes flipped, inserted, deleted,
duplicated or cut; integers of text replaced by extreme values (0, -1, 2**15, 2**16,
2**31, 2**63, 10**23 and the like); binary words overwritten with extreme values;
compressed data mutated either in its compressed bytes or in its content and
recompressed; garbage appended.

A case passes when the command exits 0, or 2 with one line on stderr and no
traceback. Anything else is a failure: another exit code, a Python exception escaping
``main()`` (a traceback), a MemoryError (the memory limit hit), more than one line of
error, a case running past ``--case-timeout-s`` (SIGALRM), or the process dying of a
signal (the case being run is named in ``DIR/current.json`` before it starts, and its
mutant kept). Results: ``DIR/results.jsonl`` (one line per command run) and
``DIR/summary.json``. Deterministic for a seed: the mutants depend only on it and the
seed files.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import random
import re
import resource
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

# (path relative to the corpus, format, max bytes kept of a text file) — small files of every format
CORPUS_SEEDS = [
    ("captures/g_idle/trace.dat", "tracedat v7 zstd", None),
    ("captures/d_nice_mix/trace.v6.dat", "tracedat v6", None),
    ("public/lisa/sched_load_trace.dat", "tracedat v6 (lisa)", None),
    ("public/trappy/raw_trace.dat", "tracedat v6 (trappy)", None),
    ("public/systing/trace.pb", "perfetto (systing)", None),
    ("public/ms-perf-tools/perfetto_trace_cpu_sampling_not_scoped.pftrace", "perfetto", None),
    ("public/perfetto/crop_compact_sched_switch.textproto", "perfetto-textproto", None),
    ("public/perfetto/sched_blocked_reason_symbolized.textproto", "perfetto-textproto", None),
    ("public/perfetto/sched_blocked_systrace.systrace", "systrace", None),
    ("public/trappy/trace_surfaceflinger.html", "systrace html", None),
    ("captures/g_idle/report_raw.txt", "trace-cmd-report -R", None),
    ("captures/a_hackbench/report.txt", "trace-cmd-report pretty", 400_000),
    ("captures/tracefs_hackbench/tracefs.txt", "ftrace tracefs", 400_000),
    ("public/lisa/trace.txt", "ftrace (lisa)", None),
    ("public/tracecompass-incubator/ftrace_syscalls.txt", "ftrace", None),
    ("captures/f_ctxswitch/report_raw.txt.zst", "zstd report -R", None),
]
LOCAL_SEEDS = [
    (DATA / "panopticon_ftrace.txt", "ftrace"),
    (DATA / "catapult_atrace_data_raw", "atrace"),
    (DATA / "tracecompass_trace-critical-path", "ftrace"),
    (DATA / "trappy_trace_legacy_systrace.html", "systrace legacy html"),
    (ROOT / "traces" / "sample" / "c_infer_torch.report_raw.txt.zst", "zstd report -R (sample)"),
]
EXTREMES = [b"0", b"-1", b"1", b"32767", b"32768", b"65535", b"65536", b"2147483647", b"2147483648",
            b"4294967295", b"4294967296", b"9223372036854775807", b"9223372036854775808",
            b"-9223372036854775808", b"99999999999999999999999", b"1000000", b"-32769", b""]
WORDS = [0, 0xFF, 0xFFFF, 0x7FFF, 0x8000, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFFFFFFFFFF,
         0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 1 << 32, 1 << 40]
COMMANDS = (("info", "--json"), ("metrics", "--json"))


def _seeds(corpus: Path | None) -> list[tuple[str, bytes, str]]:
    out = [(p.name, p.read_bytes(), what) for p, what in LOCAL_SEEDS]
    if corpus is not None:
        for rel, what, cap in CORPUS_SEEDS:
            p = corpus / rel
            if p.exists():
                data = p.read_bytes()
                if cap and len(data) > cap:
                    data = data[: data.rindex(b"\n", 0, cap) + 1]
                out.append((rel.replace("/", "_"), data, what))
    return out


def _decompress(data: bytes) -> tuple[str, bytes] | None:
    import zstandard

    if data[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd", zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    if data[:2] == b"\x1f\x8b":
        return "gzip", gzip.decompress(data)
    return None


def _compress(kind: str, data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=1).compress(data) if kind == "zstd" else gzip.compress(data, 1)


def _is_text(data: bytes) -> bool:
    return b"\0" not in data[:4096]


_INT = re.compile(rb"-?\d+")


def mutate_text(data: bytes, rnd: random.Random) -> bytes:
    """Line and number mutations of text."""
    lines = data.split(b"\n")
    n = len(lines)
    for _ in range(rnd.choice((1, 1, 2, 3, 8))):
        i = rnd.randrange(n)
        op = rnd.random()
        line = lines[i]
        if op < 0.5:  # an integer (timestamp part, pid, CPU, prio, state...) replaced by an extreme
            nums = list(_INT.finditer(line))
            if nums:
                m = rnd.choice(nums)
                lines[i] = line[:m.start()] + rnd.choice(EXTREMES) + line[m.end():]
        elif op < 0.6:  # a timestamp jump
            m = re.search(rb"(\d+)\.(\d+):", line)
            if m:
                lines[i] = line[:m.start()] + rnd.choice([b"2147483648", b"30000000", b"0", b"99999999999"]) \
                    + b"." + m.group(2) + b":" + line[m.end():]
        elif op < 0.7:
            lines[i] = line[: rnd.randrange(len(line) + 1)]
        elif op < 0.8:
            j = rnd.randrange(n)
            lines[i], lines[j] = lines[j], lines[i]
        elif op < 0.9:
            lines.insert(i, line)
        else:
            lines[i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40)))
    return b"\n".join(lines)


def mutate_bytes(data: bytes, rnd: random.Random) -> bytes:
    """Byte-level mutations (any format)."""
    b = bytearray(data)
    for _ in range(rnd.choice((1, 1, 2, 4, 16))):
        if not b:
            b += rnd.randbytes(8)
        op = rnd.random()
        i = rnd.randrange(len(b))
        if op < 0.3:  # an extreme word at an aligned offset (lengths, offsets, counts, ids)
            size = rnd.choice((1, 2, 4, 8))
            i -= i % size
            w = rnd.choice(WORDS) & ((1 << (8 * size)) - 1)
            b[i:i + size] = w.to_bytes(size, rnd.choice(("little", "big")))
        elif op < 0.55:
            for k in range(rnd.randrange(1, 9)):
                if i + k < len(b):
                    b[i + k] ^= 1 << rnd.randrange(8)
        elif op < 0.65:
            del b[i:i + rnd.randrange(1, 4096)]
        elif op < 0.75:
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
        elif op < 0.82:
            j = rnd.randrange(len(b))
            b[i:i] = b[j:j + rnd.randrange(1, 8192)]
        elif op < 0.92:
            del b[rnd.randrange(len(b) + 1):]
        else:
            b += rnd.randbytes(rnd.randrange(1, 5000)) if rnd.random() < 0.5 else b"\0" * rnd.randrange(1, 5000)
    return bytes(b)


def mutant(name: str, data: bytes, rnd: random.Random) -> bytes:
    comp = _decompress(data)
    if comp is not None and rnd.random() < 0.6:  # mutate the content, recompress it
        kind, content = comp
        return _compress(kind, mutate_text(content, rnd) if rnd.random() < 0.7 else mutate_bytes(content, rnd))
    if _is_text(data) and rnd.random() < 0.7:
        return mutate_text(data, rnd)
    return mutate_bytes(data, rnd)


class _Alarm(BaseException):
    pass


def run_cli(args: list[str], timeout_s: float) -> dict:
    """``schedreplay ARGS`` through the console script's main(), in this process."""
    from replay.present import cli

    out, err = io.StringIO(), io.StringIO()
    code, escaped = None, None
    old_argv = sys.argv
    sys.argv = ["schedreplay", *args]

    def alarm(signum, frame):
        raise _Alarm()

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except _Alarm:
        escaped = f"timeout: still running after {timeout_s} s"
    except BaseException as e:  # a traceback: the failure this tier exists to find
        import traceback

        escaped = f"{type(e).__name__}: {e}"[:300]
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        sys.argv = old_argv
    lines = [x for x in err.getvalue().splitlines() if x.strip()]
    return {"args": args, "code": code, "escaped": escaped, "stderr": lines[:6], "stderr_lines": len(lines),
            "s": round(time.perf_counter() - t0, 3), "stdout": out.getvalue()}


def verdict(r: dict) -> str | None:
    """None when the run is acceptable, else what is wrong with it."""
    if r["escaped"]:
        return r["escaped"]
    if r["code"] == 0:
        return None
    text = "\n".join(r["stderr"])
    if r["code"] != 2:
        return f"exit code {r['code']}: {text[:300]}"
    if "Traceback" in text or r["stderr_lines"] != 1:
        return f"exit 2 without a one-line error: {text[:300]}"
    return None


def _limit_memory(gb: float) -> int:
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    limit = used + int(gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return limit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=60.0, help="stop starting cases after this long")
    ap.add_argument("--cases", type=int, default=0, help="stop after this many cases (0: the budget decides)")
    ap.add_argument("--start", type=int, default=0, help="number of the first case (to go on after a crash)")
    ap.add_argument("--mem-gb", type=float, default=4.0, help="address space allowed above the start-up use")
    ap.add_argument("--case-timeout-s", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=Path("fuzz-out"))
    ap.add_argument("--corpus", type=Path, default=None)
    ap.add_argument("--run-one", nargs=argparse.REMAINDER, default=None,
                    help="run these CLI arguments once under the memory limit and print the result as JSON")
    a = ap.parse_args(argv)
    if a.run_one is not None:
        warm = ["info", "--json", str(DATA / "panopticon_ftrace.txt")]
        run_cli(warm, 600)
        run_cli(["metrics", *warm[1:]], 600)
        _limit_memory(a.mem_gb)
        print(json.dumps(run_cli(a.run_one, a.case_timeout_s)))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    seeds = _seeds(a.corpus)
    t0 = time.perf_counter()
    # everything imported and the kernels loaded before the limit: the limit is for the cases
    for args in (["info", "--json", str(DATA / "panopticon_ftrace.txt")],
                 ["metrics", "--json", str(DATA / "panopticon_ftrace.txt")]):
        r = run_cli(args, 600)
        if verdict(r):
            raise SystemExit(f"the unmutated warm-up run fails: {r}")
    limit = _limit_memory(a.mem_gb)
    warm_s = time.perf_counter() - t0
    results = open(a.out / "results.jsonl", "a" if a.start else "w")
    failures = []
    per_seed: dict[str, list[int]] = {}
    case = a.start
    start = time.perf_counter()
    while (not a.cases or case < a.start + a.cases) and (a.cases or time.perf_counter() - start < a.budget_s):
        name, data, what = seeds[case % len(seeds)]
        crnd = random.Random(f"{a.seed}:{case}")
        mut = mutant(name, data, crnd)
        path = a.out / f"case-{case:05d}-{name}"
        path.write_bytes(mut)
        for cmd in COMMANDS:
            args = [cmd[0], str(path), *cmd[1:]]
            with open(a.out / "current.json", "w") as f:
                json.dump({"case": case, "seed": name, "format": what, "args": args, "file": str(path)}, f)
            r = run_cli(args, a.case_timeout_s)
            r.update(case=case, seed=name, format=what)
            del r["stdout"]
            bad = verdict(r)
            r["failure"] = bad
            results.write(json.dumps(r) + "\n")
            results.flush()
            ok = per_seed.setdefault(what, [0, 0, 0])
            ok[0 if r["code"] == 0 and not bad else 1 if not bad else 2] += 1
            if bad:
                failures.append(r)
        if not any(r.get("case") == case for r in failures):
            path.unlink()
        case += 1
    (a.out / "current.json").unlink(missing_ok=True)
    summary = {"seed": a.seed, "cases": case - a.start, "runs": (case - a.start) * len(COMMANDS), "failures": len(failures),
               "per_format": {k: {"exit0": v[0], "exit2": v[1], "failed": v[2]} for k, v in per_seed.items()},
               "seeds": len(seeds), "warm_s": round(warm_s, 2), "run_s": round(time.perf_counter() - start, 2),
               "mem_limit_gb": round(limit / (1 << 30), 2), "examples": failures[:20]}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "examples"}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
