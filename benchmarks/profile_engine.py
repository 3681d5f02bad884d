"""Where a simulated event's time goes: a sampled per-phase profile of the replay engine.

    python benchmarks/profile_engine.py [--seconds 20] [--policy eevdf] [--freq 1999] [--trace PATH] [--json]

How it samples. A child process compiles the engine and the policy afresh (an empty,
temporary compile cache) with numba told to emit DWARF line tables only
(``dbg_directives_only``: no ``noinline``, no bounds checks, no extended lifetimes, so the
machine code is the optimised code a normal run executes), keeping every compiled object
file. It then replays long_mix (or ``--trace``) on its recorded CPUs (2) and the 64-fold copy
on 64 times as many (benchmarks/replay.py's ``replicate``), each over and over for --seconds, while
``perf record -e cpu-clock:u -F FREQ -p PID`` samples the instruction pointer. Each
sampled address is mapped to its compiled function and to a source line (the object
files are linked with ``ld -shared`` and their line tables read with ``objdump
--dwarf=decodedline``); the line's enclosing Python function, or the engine helper a
line calls, names the phase (table PHASES below). Samples outside compiled code (Python,
NumPy, Polars: setting a replay up and turning its output into a table) form the row
"outside the kernel". ns/event = a phase's share of the samples x the replays' wall time
/ the events they simulated.

LLVM inlines small helpers into their callers, and a line-tables-only build then gives
the inlined code the caller's line: a sample in an inlined helper counts at the line that
calls it, so a phase is known by its call sites (``pop(Q)`` in ``run`` is the heap, the
CPU scan in ``run`` is the reschedule scan). Resolution: FREQ samples per second of CPU,
~1-2 % per phase at the default length.

Event counts come from the engine's stats array (replay/sim/_engine.py ST_EV_TYPE ...
ST_POINT_DROP): events per kind, stale RESCHED entries popped, heap pushes, POINT rows moved
in place (re-arms) and dropped, CPU scans for reschedule marks, __schedule calls, placements
(select) and balance passes. The engine counts them only when compiled with
``_engine.PROFILE = True``, which the child sets (a normal build has no trace of them); they
cost the profiled build ~1-2 %.

Needs Linux ``perf`` (permission to sample one's own process: perf_event_paranoid <= 2),
``ld`` and ``objdump`` (binutils); it says which is missing. profila (``pip install
profila``; ``python -m profila annotate -- script.py``) gives a similar line view through
gdb but needs its own gdb download and samples ~100x less often; this script does not
use it. The corpus is read from $SCHEDREPLAY_TRACES (default ../shared/traces; benchmarks/replay.py).
"""

from __future__ import annotations

import argparse
import ast
import bisect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# phase of each engine/policy function, by name (a function not named is "schedule/switch
# logic" if it is in replay/sim/_engine.py, "policy hooks" if in policies/)
PHASES = {
    "heap push/pop": {"push", "pop", "_sift_up", "_sift_down", "_less", "_put", "_move", "_fix", "_set_point"},
    "accounting (update_curr, progress)": {"_account", "_rate", "_next_point", "_marks", "_arm", "update_curr",
                                           "_update_curr", "decay_util"},
    "placement (select CPU)": {"select_fair_wakeup", "select_fair_fork", "select_rt", "select_idle_sibling",
                               "_wake_affine", "_wake_wide", "_nr_idle_scan", "first_allowed", "allowed",
                               "_idle_in_node", "_adjust_numa_imbalance", "cpupri_find", "find_lowest_rq",
                               "rt_level", "core_idle", "idle", "nr_running", "fair_load", "select_cpu",
                               "select_idle_capacity", "find_energy_efficient_cpu", "_energy", "_util_next"},
    "load balance (newidle, periodic, RT push/pull)": {
        "_newidle_balance", "_periodic_balance", "_steal_one", "_steal_load", "_same_level", "_numa_allows",
        "_waiting_fair", "_push_rt", "_pull_rt", "_pushable", "_woken_rt_pushes", "can_migrate"},
    "interval output": {"_emit", "_open"},
    "tick and fair-server timer": {"_tick", "_fair_starve_check", "_server_timer", "tick"},
    "reschedule scan over CPUs": {"<resched scan>"},
    "burst start, wakeup, progress points": {"_start_burst", "_reached", "_end_burst", "_enqueue", "_check_preempt",
                                             "_latency", "_resched_after", "_woken"},
    "__schedule (pick next, switch)": {"_schedule", "_pick", "_picked", "_dequeue", "_migrate", "_resched",
                                       "_smt_changed", "_class_of"},
}
PHASE_OF = {f: p for p, fs in PHASES.items() for f in fs}
ORDER = list(PHASES) + ["policy hooks (enqueue, pick, preempt, ...)", "other engine code",
                        "event dispatch (run loop)", "other compiled code", "outside the kernel"]


def _func_of_symbol(symbol: str) -> str:
    """The Python function a numba symbol names (_ZN<len><part>...: the last part before
    the B<abi> tags), '' if unknown."""
    sym = symbol.split(".")[-1]
    if not sym.startswith("_ZN"):
        return ""
    i, parts = 3, []
    while i < len(sym) and sym[i].isdigit():
        j = i
        while sym[j].isdigit():
            j += 1
        n = int(sym[i:j])
        parts.append(sym[j:j + n])
        i = j + n
    return parts[-1].replace("_24", "$") if parts else ""

_CHILD_MARK = "--child"


# -- the child: compile with line tables, replay under perf, dump the code map --------------

def _patch_numba(objects: list):
    from numba.core import codegen, cpu

    orig_hook = codegen.CPUCodeLibrary._object_compiled_hook.__func__

    def hook(cls, ll_module, buf):
        orig_hook(cls, ll_module, buf)
        lib = getattr(ll_module, "_CPUCodeLibrary__library", None)
        if lib is not None:
            objects.append((lib, buf))

    codegen.CPUCodeLibrary._object_compiled_hook = classmethod(hook)
    orig_fin = cpu.CPUTargetOptions.finalize

    def finalize(self, flags, options):
        orig_fin(self, flags, options)
        flags.debuginfo = True
        flags.dbg_directives_only = True  # line tables only: optimised code, no noinline
        flags.boundscheck = False
        flags.dbg_extend_lifetimes = False

    cpu.CPUTargetOptions.finalize = finalize


def _symbols(path: Path) -> list[tuple[str, int, int]]:
    out = subprocess.run(["readelf", "-sW", str(path)], capture_output=True, text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC" and f[6] != "UND":
            syms.append((f[7], int(f[1], 16), int(f[2])))
    return syms


def child(args) -> None:
    objects: list = []
    _patch_numba(objects)
    import replay.sim._engine as EN

    EN.PROFILE = True  # compile the event counters in (this process's own, empty cache)
    import replay.sim.engine as ENG
    from replay.model.topology import from_spec
    from replay.model.workload import Workload
    from replay.sim import simulate

    captured = []
    orig_run = ENG._run_kernel

    def run_kernel(*a, **k):
        r = orig_run(*a, **k)
        captured.append(r[1].copy())
        return r

    ENG._run_kernel = run_kernel
    out = {"machines": []}
    wls = [(Workload.read(d), spec, label) for d, spec, label in
           zip(args.dirs, args.specs, args.labels)]
    t0 = time.perf_counter()
    simulate(wls[0][0], policy=args.policy, topology=from_spec(wls[0][1]))
    out["cold_first_replay_s"] = time.perf_counter() - t0
    for wl, spec, label in wls:
        topo = from_spec(spec)
        simulate(wl, policy=args.policy, topology=topo)  # compiled; pages warm
        data = Path(args.work) / f"perf-{len(out['machines'])}.data"
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock:u", "-F", str(args.freq), "-p",
                                 str(os.getpid()), "-o", str(data)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(1.0)
        captured.clear()
        n, events, t0 = 0, 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds or n == 0:
            _, info = simulate(wl, policy=args.policy, topology=topo)
            events += info.events_simulated
            n += 1
        wall = time.perf_counter() - t0
        perf.send_signal(signal.SIGINT)
        err = perf.communicate(timeout=120)[1].decode()
        if perf.returncode not in (0, -signal.SIGINT):
            raise SystemExit(f"perf record failed: {err[-2000:]}")
        out["machines"].append(dict(label=label, spec=spec, perf=str(data), replays=n, events=events, wall_s=wall,
                                    stats=[int(x) for x in captured[-1]]))
    # the code map: every compiled object, where its functions were loaded
    libs = []
    for i, (lib, buf) in enumerate(objects):
        obj = Path(args.work) / f"obj{i}.o"
        obj.write_bytes(buf)
        ranges = []
        for name, value, size in _symbols(obj):
            try:
                addr = lib.get_pointer_to_function(name)
            except Exception:
                continue
            if addr:
                ranges.append((addr, size, name, value))
        if ranges:
            libs.append(dict(obj=str(obj), funcs=ranges))
    out["libs"] = libs
    Path(args.work, "child.json").write_text(json.dumps(out))


# -- the parent: symbolize and classify ------------------------------------------------------

class LineMap:
    """Address -> (file, line) of one compiled object, linked into a shared object."""

    def __init__(self, obj: str):
        so = obj[:-2] + ".so"
        subprocess.run(["ld", "-shared", "-o", so, obj], capture_output=True, check=True)
        # symbol -> linked address (to translate an object offset)
        self.sym = {n: v for n, v, _ in _symbols(Path(so))}
        self.addr, self.loc = [], []
        txt = subprocess.run(["objdump", "--dwarf=decodedline", so], capture_output=True, text=True).stdout
        for line in txt.splitlines():
            m = re.match(r"^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+)", line)
            if m:
                self.addr.append(int(m.group(3), 16))
                self.loc.append((m.group(1), int(m.group(2)) if m.group(2) != "-" else 0))
        order = sorted(range(len(self.addr)), key=self.addr.__getitem__)
        self.addr = [self.addr[i] for i in order]
        self.loc = [self.loc[i] for i in order]

    def lookup(self, linked: int):
        i = bisect.bisect_right(self.addr, linked) - 1
        return self.loc[i] if i >= 0 else ("?", 0)


class SourceIndex:
    """(file name, line) -> enclosing function and the helpers the line calls."""

    def __init__(self):
        self.files = {}
        for pkg in ("replay", "policies", "traces"):
            for p in (ROOT / pkg).rglob("*.py"):
                self.files.setdefault(p.name, []).append(p)
        self.cache = {}

    def info(self, fname: str, line: int):
        key = (fname, line)
        if key in self.cache:
            return self.cache[key]
        res = (None, [], None)
        for p in self.files.get(fname, []):
            tree = ast.parse(p.read_text())
            best = None
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.lineno <= line <= node.end_lineno:
                    if best is None or node.lineno > best.lineno:
                        best = node
            if best is None:
                continue
            calls = []
            for node in ast.walk(best):
                if isinstance(node, ast.Call) and node.lineno <= line <= node.end_lineno:
                    fn = node.func
                    name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                    if name:
                        calls.append((node.lineno, name))
            # innermost call first (the latest-starting one)
            calls = [n for _, n in sorted(calls, reverse=True)]
            res = (best.name, calls, str(p.relative_to(ROOT)))
            break
        self.cache[key] = res
        return res


def classify(src: SourceIndex, fname: str, line: int, symbol: str) -> str:
    func, calls, path = src.info(fname, line)
    if func is None:
        # no line (compiler-made code such as spills and jump tables): its function
        f = _func_of_symbol(symbol)
        if f in PHASE_OF:
            return PHASE_OF[f]
        if f == "run":
            return "event dispatch (run loop)"
        return "other compiled code"
    if func == "_hook" or "_hook" in calls and path and path.endswith("_engine.py"):
        return "policy hooks (enqueue, pick, preempt, ...)"
    for c in calls:
        if c in PHASE_OF:
            return PHASE_OF[c]
    if func == "run" and path.endswith("_engine.py"):
        code = (ROOT / path).read_text().splitlines()[line - 1]
        if "C_NEED_RESCHED" in code or "C_MARKED" in code or "range(n_cpus)" in code or "_pass" in code:
            return "reschedule scan over CPUs"
        return "event dispatch (run loop)"
    if func in PHASE_OF:
        return PHASE_OF[func]
    if path.startswith("policies/"):
        return "policy hooks (enqueue, pick, preempt, ...)"
    if path.endswith("_engine.py") or path.endswith("_placement.py"):
        return "other engine code"
    return "other compiled code"


def analyse(child_out: dict, work: Path, top: int):
    ranges = []
    for li, lib in enumerate(child_out["libs"]):
        for addr, size, name, value in lib["funcs"]:
            ranges.append((addr, size, li, name, value))
    ranges.sort()
    starts = [r[0] for r in ranges]
    linemaps: dict[int, LineMap] = {}
    src = SourceIndex()
    results = []
    for m in child_out["machines"]:
        out = subprocess.run(["perf", "script", "-i", m["perf"], "-F", "ip"], capture_output=True, text=True)
        ips = [int(x, 16) for x in out.stdout.split() if re.fullmatch(r"[0-9a-f]+", x)]
        phases, lines = Counter(), Counter()
        for ip in ips:
            i = bisect.bisect_right(starts, ip) - 1
            if i < 0 or ip >= ranges[i][0] + max(ranges[i][1], 1):
                phases["outside the kernel"] += 1
                continue
            addr, size, li, name, value = ranges[i]
            if li not in linemaps:
                linemaps[li] = LineMap(child_out["libs"][li]["obj"])
            lm = linemaps[li]
            linked = lm.sym.get(name, value) + (ip - addr)
            fname, line = lm.lookup(linked)
            ph = classify(src, fname, line, name)
            phases[ph] += 1
            lines[(ph, fname, line)] += 1
        total = max(len(ips), 1)
        ns_ev = m["wall_s"] / max(m["events"], 1) * 1e9
        results.append(dict(machine=m, samples=len(ips), ns_per_event=ns_ev,
                            phases={p: phases.get(p, 0) for p in ORDER},
                            top_lines=[(p, f, ln, c) for (p, f, ln), c in lines.most_common(top)]))
    return results


def stats_rows(st: list[int], events: int, n_cpus: int):
    from replay.sim import _engine as EN

    names = ["START (burst runnable)", "POINT (progress point)", "TICK", "SERVER (fair-server timer)",
             "RESCHED (delayed reschedule)"]
    rows = [(f"events: {n}", st[EN.ST_EV_TYPE + i]) for i, n in enumerate(names)]
    rows += [("stale RESCHED popped (a POINT is never stale)", st[EN.ST_STALE]), ("heap pushes", st[EN.ST_HEAP_PUSH]),
             ("POINT rows moved in place (re-arm)", st[EN.ST_POINT_MOVE]),
             ("POINT rows dropped (no next point)", st[EN.ST_POINT_DROP]),
             ("reschedule scans (each over all CPUs)", st[EN.ST_RESCHED_SCAN]),
             ("__schedule calls", st[EN.ST_SCHEDULE]), ("context switches", st[EN.ST_SWITCHES]),
             ("placements (select CPU)", st[EN.ST_SELECT]), ("newidle balance passes", st[EN.ST_NEWIDLE]),
             ("periodic balance passes", st[EN.ST_PERIODIC]), ("migrations", st[EN.ST_MIGRATIONS]),
             ("interval rows written", st[EN.ST_ROWS])]
    return [(n, v, v / max(st[EN.ST_EVENTS], 1)) for n, v in rows]


def check_tools() -> None:
    missing = [t for t in ("perf", "ld", "objdump", "readelf") if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"profile_engine.py needs {', '.join(missing)} on PATH (perf: the linux-perf / "
                         "linux-tools package; ld, objdump, readelf: binutils). profila is not used.")
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock:u", "-o", f"{d}/t.data", "true"],
                           capture_output=True, text=True)
        if p.returncode:
            raise SystemExit("perf is installed but cannot sample (kernel.perf_event_paranoid must be <= 2, "
                             f"or run in a container allowing perf_event_open):\n{p.stderr[-1000:]}")


def main() -> None:
    if _CHILD_MARK in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument(_CHILD_MARK, action="store_true")
        for a in ("--policy", "--work"):
            ap.add_argument(a)
        ap.add_argument("--seconds", type=float)
        ap.add_argument("--freq", type=int)
        ap.add_argument("--dirs", nargs="+")
        ap.add_argument("--specs", nargs="+")
        ap.add_argument("--labels", nargs="+")
        child(ap.parse_args())
        return
    from benchmarks.replay import DEFAULT_TRACE, copies, trace_name, trace_workload

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="sampled replay time per machine (default 20)")
    ap.add_argument("--policy", default="eevdf")
    ap.add_argument("--freq", type=int, default=1999, help="samples per second (default 1999)")
    ap.add_argument("--top", type=int, default=12, help="hottest source lines to list per machine")
    ap.add_argument("--keep", help="keep perf data and objects in this folder")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--trace", default=DEFAULT_TRACE,
                    help=f"the corpus trace to replay (default {DEFAULT_TRACE}; e.g. "
                         "captures/a_hackbench/trace.dat for long run queues)")
    args = ap.parse_args()
    check_tools()
    base, wl = trace_workload(args.trace)  # the benchmarks' cached workload and its copies
    big = copies(wl, 64, args.trace)
    name, n = trace_name(args.trace), wl.n_cpus
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="profile-engine-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        env = dict(os.environ, SCHEDREPLAY_CACHE_DIR=str(work / "numba-cache"))
        cmd = [sys.executable, __file__, _CHILD_MARK, "--policy", args.policy, "--work", str(work),
               "--seconds", str(args.seconds), "--freq", str(args.freq), "--dirs", str(base), str(big),
               "--specs", f"1x{n}x1", f"1x{64 * n}x1", "--labels", f"{name}, {n} CPUs",
               f"{name} x64, {64 * n} CPUs"]
        print(f"compiling the engine with line tables (cold) and sampling {args.seconds:g} s per machine ...",
              file=sys.stderr)
        p = subprocess.run(cmd, cwd=ROOT, env=env)
        if p.returncode:
            raise SystemExit("the profiled child failed")
        co = json.loads((work / "child.json").read_text())
        res = analyse(co, work, args.top)
        if args.json:
            print(json.dumps(dict(cold_first_replay_s=co["cold_first_replay_s"], machines=[
                dict(r, machine={k: v for k, v in r["machine"].items() if k != "perf"},
                     counts=stats_rows(r["machine"]["stats"], r["machine"]["events"], 0)) for r in res]),
                indent=1))
            return
        print(f"cold start (first replay, compiling engine and policy with line tables, empty cache): "
              f"{co['cold_first_replay_s']:.1f} s")
        hdr = "| phase | " + " | ".join(f"{r['machine']['label']}: % samples | ns/event" for r in res) + " |"
        print()
        print(hdr)
        print("|" + "---|" * (1 + 2 * len(res)))
        for ph in ORDER:
            if not any(r["phases"][ph] for r in res):
                continue
            cells = []
            for r in res:
                s = r["phases"][ph] / max(r["samples"], 1)
                cells.append(f"{100 * s:.1f} % | {s * r['ns_per_event']:.0f}")
            print(f"| {ph} | " + " | ".join(cells) + " |")
        print("| **total** | " + " | ".join(f"100 % ({r['samples']:,} samples) | {r['ns_per_event']:.0f}"
                                            for r in res) + " |")
        for r in res:
            m = r["machine"]
            print(f"\n{m['label']} ({m['spec']}): {m['replays']} replays, {m['events']:,} events in "
                  f"{m['wall_s']:.1f} s; counts of one replay (per event):")
            for name, v, per in stats_rows(m["stats"], m["events"], 0):
                print(f"  {name:<40} {v:>12,}  {per:8.3f}")
            print("  hottest source lines (phase, file:line, samples):")
            for ph, f, ln, c in r["top_lines"]:
                print(f"    {100 * c / max(r['samples'], 1):5.1f} %  {f}:{ln}  [{ph}]")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
