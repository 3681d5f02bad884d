"""Policy conformance: every registered policy exposes the protocol (policies/_protocol.py)."""

from __future__ import annotations

import numpy as np
import pytest

import policies
from policies._params import Param
from policies._protocol import HOOKS, SIG
from traces.errors import TraceError


@pytest.mark.parametrize("name", sorted(policies.POLICIES))
def test_policy_module_exposes_the_protocol(name):
    mod = policies.get_policy(name)
    for part in (mod, mod.RT):
        for hook in HOOKS:
            fn = getattr(part, hook)
            # compiled once, for exactly the shared signature (the compile cache depends on it)
            assert fn.signatures == [SIG.args], (name, part.__name__, hook)
        assert isinstance(part.N_TASK_COLS, int) and isinstance(part.N_CPU_COLS, int)
        pt, pc = part.state(5, 3)
        assert pt.shape == (5, part.N_TASK_COLS) and pc.shape == (3, part.N_CPU_COLS)
        assert pt.dtype == np.int64 and pc.dtype == np.int64
    assert all(isinstance(p, Param) and p.section and p.doc for p in mod.PARAMS)
    assert isinstance(mod.DESCRIPTION, str) and mod.DESCRIPTION
    pp = mod.pack(None, 4, 250)
    assert pp.dtype == np.int64 and pp.ndim == 1
    names = [p.name for p in mod.PARAMS]
    assert len(names) == len(set(names)), "parameter names must be unique"


def test_unknown_policy_lists_the_valid_names():
    with pytest.raises(TraceError, match="valid policies: .*eevdf"):
        policies.get_policy("bfs")


@pytest.mark.parametrize("name", sorted(policies.POLICIES))
def test_bad_parameter_values_are_clear_errors(name):
    mod = policies.get_policy(name)
    with pytest.raises(TraceError, match="unknown parameter"):
        mod.pack({"no_such_knob": 1}, 2, 250)
    bools = [p for p in mod.PARAMS if p.kind == "bool" and p.name in {q.name for q in getattr(mod, "OWN_PARAMS", mod.PARAMS)}]
    if bools:
        with pytest.raises(TraceError, match="on/off"):
            mod.pack({bools[0].name: "maybe"}, 2, 250)


def test_no_kernel_is_specialised_on_a_literal_argument():
    """A kernel compiled for ``Literal[int](-1)`` or ``Literal[bool](False)`` is a second copy
    of itself (and of all it calls) that only costs compile time: traces._numba.jit types
    calls from other kernels with plain argument types. Replays under every policy, with
    RT tasks, forks and several CPUs, then checks every kernel of the project."""
    import sys

    from numba.core import types
    from numba.core.registry import CPUDispatcher

    from replay import replay
    from replay.model.topology import from_spec
    from replay.model.workload import START_AFTER
    from replay.testing import make_workload

    wl = make_workload([dict(bursts=[dict(demand=3_000_000), dict(demand=2_000_000, kind=START_AFTER, start=500_000)]),
                        dict(bursts=[dict(demand=4_000_000, prio=10)]),
                        dict(bursts=[dict(demand=2_000_000, prio=125)]),
                        dict(bursts=[dict(demand=-1)])], actions=[(0, 1_000_000, 2, 0, 0)], end_ns=20_000_000)
    for name in sorted(policies.POLICIES):
        replay(wl, policy=name, topology=from_spec("2x2x2"))
    literal = []
    for modname, module in list(sys.modules.items()):
        if modname.split(".")[0] not in ("traces", "policies", "replay"):
            continue
        for attr, fn in vars(module).items():
            if isinstance(fn, CPUDispatcher):
                literal += [f"{modname}.{attr}{sig}" for sig in fn.signatures
                            if any(isinstance(a, types.Literal) for a in sig)]
    assert not literal, literal


def test_old_compile_caches_are_pruned(tmp_path):
    """Only the most recently used <version>-<hash> folders stay; other folders (a shared
    NUMBA_CACHE_DIR may hold other projects' caches) are never touched."""
    import os

    from traces._numba import prune_caches

    names = [f"0.1.0-{i:016x}" for i in range(12)]
    for age, name in enumerate(names):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.nbi").write_bytes(b"x")
        os.utime(tmp_path / name, (1_000_000 - age * 100, 1_000_000 - age * 100))  # names[0] newest
    (tmp_path / "someone-elses-cache").mkdir()
    (tmp_path / "0.1.0-notahash").mkdir()
    gone = prune_caches(str(tmp_path), keep=8)
    assert sorted(os.path.basename(g) for g in gone) == sorted(names[8:])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[:8] + ["someone-elses-cache", "0.1.0-notahash"])


def test_an_unusable_cache_folder_does_not_break_import(tmp_path):
    """SCHEDREPLAY_CACHE_DIR below a file (or anywhere unwritable): importing still works;
    numba then compiles without caching."""
    import os
    import subprocess
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "SCHEDREPLAY_CACHE_DIR": str(blocker / "cache")}
    code = "import traces._numba, replay.sim.engine, policies.eevdf; print('ok')"  # (hooks compile at import)
    p = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
