"""Finding a policy module and checking it against the protocol (policies/_protocol.py).

A spec is, in this order: a built-in name (``POLICIES``); the name of a policy an
installed package registers under the entry-point group ``schedreplay.policies``
(``name = module``); the path of a Python file or package folder; an importable module
name. The module is imported once and checked once: every hook present and compiled
with the shared signature, the RT class likewise, ``PARAMS`` well formed, ``pack`` and
``state`` returning what the engine reads. Any mistake is one line naming the hook or
field (a ``TraceError``), never a numba traceback.

Outside code is compiled in numba's cache keyed on its sources' contents
(``traces._numba.watch_sources``), and its first compile is announced as its own
(``traces._numba.compiling``).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
import types
from pathlib import Path

import numpy as np

from traces.errors import TraceError

from . import ENTRY_POINT_GROUP, POLICIES

_LOADED: dict[str, types.ModuleType] = {}   # spec -> checked module
_CHECKED: set[int] = set()                  # ids of checked module objects
_LABEL = "_schedreplay_label"                # attribute set on a loaded module: the spec it came from
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
ARGS = ("TS", "CS", "PT", "PC", "PP", "cpu", "task", "arg", "now")
GUIDE = "docs/writing-a-policy.md"


def label(spec) -> str:
    """The name of a policy in results: the spec as given; a module's own spec or name."""
    if isinstance(spec, str):
        return spec
    name = getattr(spec, _LABEL, None) or getattr(spec, "__name__", str(spec))
    builtin = {v: k for k, v in POLICIES.items()}
    return builtin.get(name, name)


def _entry_points() -> list:
    from importlib.metadata import entry_points

    try:
        return list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # a broken distribution on sys.path must not break the built-ins
        return []


def entries() -> list[dict]:
    """Built-in policies, then installed ones (an entry point named like a built-in is
    listed as shadowed)."""
    out = [{"name": n, "source": "built-in", "target": m} for n, m in POLICIES.items()]
    for ep in _entry_points():
        dist = getattr(ep, "dist", None)
        src = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
        shadowed = ep.name in POLICIES
        out.append({"name": ep.name, "source": f"{src} (entry point{', shadowed by the built-in' if shadowed else ''})",
                    "target": ep.value})
    return out


def _valid_names() -> str:
    return ", ".join(e["name"] for e in entries())


def load(spec) -> types.ModuleType:
    """The checked policy module for ``spec`` (module docstring)."""
    if isinstance(spec, types.ModuleType):
        if id(spec) not in _CHECKED:
            check(spec, label(spec))
            _CHECKED.add(id(spec))
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise TraceError(f"policy {spec!r}: expected a name, a file path or a module name")
    if spec in _LOADED:
        return _LOADED[spec]
    from traces._numba import wait_for_helper

    wait_for_helper()  # a process compiling the policies (replay/sim/warm.py): load its kernels, not compile twice
    mod = _find(spec)
    if id(mod) not in _CHECKED:
        check(mod, spec)
        _CHECKED.add(id(mod))
    _LOADED[spec] = mod
    return mod


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec or spec.startswith(".") or os.path.exists(spec)


def _find(spec: str) -> types.ModuleType:
    if spec in POLICIES:
        return importlib.import_module(POLICIES[spec])
    for ep in _entry_points():
        if ep.name == spec:
            mod = _import_name(ep.module, spec)
            if mod is None:
                raise TraceError(f"policy {spec}: its entry point names {ep.value!r}, which cannot be imported")
            if ep.attr:
                mod = getattr(mod, ep.attr, None)
                if not isinstance(mod, types.ModuleType):
                    raise TraceError(f"policy {spec}: its entry point {ep.value!r} must name a module")
            return mod
    if _looks_like_path(spec):
        return _import_file(Path(spec), spec)
    if _DOTTED.match(spec):
        mod = _import_name(spec, spec)
        if mod is not None:
            return mod
    raise TraceError(f"unknown policy {spec!r}; valid policies: {_valid_names()} (or the path of a policy file, "
                     f"or an importable module name: {GUIDE})")


# -- importing outside code ----------------------------------------------------------------

def _imported_tops(path: Path) -> set[str]:
    """Top-level names of the modules a file imports (absolute imports only)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def _sources(path: Path, package: Path | None) -> list[Path]:
    """The files whose contents key a policy's compile cache: its whole top-level package,
    or for a lone module, it and the modules beside it that it imports (transitively)."""
    if package is not None:
        return sorted(package.rglob("*.py"))
    seen, todo = {path}, [path]
    while todo:
        p = todo.pop()
        for top in _imported_tops(p):
            for q in (p.parent / f"{top}.py", p.parent / top / "__init__.py"):
                if q.is_file():
                    found = [q] if q.suffix == ".py" and q.name != "__init__.py" else sorted(q.parent.rglob("*.py"))
                    for f in found:
                        if f not in seen:
                            seen.add(f)
                            todo.append(f)
    return sorted(seen)


def _exec(spec: str, files: list[Path], run):
    """Run ``run()`` (the import) with the files' kernels cached by their contents and
    their compile announced as this policy's; any error becomes one line."""
    from traces._numba import compiling, watch_sources

    watch_sources(files)
    try:
        with compiling(f"policy {spec}"):
            return run()
    except TraceError:
        raise
    except Exception as e:  # noqa: BLE001 - anything the user's module raises
        raise TraceError(f"policy {spec}: {_import_failure(e, files)}") from None


def _import_failure(e: BaseException, files: list[Path]) -> str:
    """One line for an exception raised while importing a policy: where in the policy's
    files it happened and what, numba's explanation reduced to its first reason."""
    where = ""
    real = {os.path.realpath(f) for f in files}
    for frame in traceback.extract_tb(e.__traceback__):
        if os.path.realpath(frame.filename) in real:
            where = f"{os.path.basename(frame.filename)}:{frame.lineno}"
            fn = _function_at(Path(frame.filename), frame.lineno or 0)
            if fn:
                where += f" ({fn})"
    if isinstance(e, SyntaxError) and e.filename:
        where = f"{os.path.basename(e.filename)}:{e.lineno}"
    text = _reason(e)
    from numba.core.errors import NumbaError

    what = "numba cannot compile it" if isinstance(e, NumbaError) else f"importing it failed ({type(e).__name__})"
    return f"{what}{' at ' + where if where else ''}: {text}"


def _function_at(path: Path, line: int) -> str | None:
    """The function defined at (or decorated at) ``line`` of ``path``."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for text in lines[max(line - 1, 0): line + 8]:
        m = re.match(r"\s*def\s+(\w+)", text)
        if m:
            return m.group(1)
    return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _reason(e: BaseException) -> str:
    """The informative first line of an exception's message (numba's messages open with
    the pipeline stage and close with source excerpts)."""
    if isinstance(e, SyntaxError):
        return e.msg
    skip = ("Failed in ", "During: ", "File ", "^", "- Resolution failure", "- Of which",
            "Rewrite ", "Ruled out", "No implementation of function")
    lines = [_ANSI.sub("", x).strip() for x in str(e).splitlines()]
    for x in lines:
        if x and not x.startswith(skip) and not x.startswith("<source") and not re.match(r"^\d+\s*[|:]", x):
            return x[:300]
    return (lines[0] if lines else type(e).__name__)[:300]


def _import_file(path: Path, spec: str) -> types.ModuleType:
    """Import a policy from a .py file or a package folder (not installed): its folder
    goes on sys.path, so it imports the modules beside it as a script would."""
    real = path.resolve()
    if real.is_dir():
        init = real / "__init__.py"
        if not init.is_file():
            raise TraceError(f"policy {spec}: is a folder without __init__.py (give a .py file or a package)")
        entry, package = init, real
    elif real.is_file():
        if real.suffix != ".py":
            raise TraceError(f"policy {spec}: not a Python file (.py)")
        entry, package = real, None
    else:
        raise TraceError(f"policy {spec}: no such file; valid policies: {_valid_names()}")
    stem = re.sub(r"\W", "_", real.stem if package is None else real.name)
    name = f"_schedreplay_policy_{stem}_{hashlib.sha1(str(real).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    s = importlib.util.spec_from_file_location(name, entry,
                                               submodule_search_locations=[str(package)] if package else None)
    mod = importlib.util.module_from_spec(s)
    setattr(mod, _LABEL, spec)
    if str(real.parent) not in sys.path:
        sys.path.append(str(real.parent))
    sys.modules[name] = mod

    def run():
        try:
            s.loader.exec_module(mod)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return mod

    return _exec(spec, _sources(entry, package), run)


def _import_name(name: str, spec: str) -> types.ModuleType | None:
    """Import a module by name (None if there is none of that name)."""
    if name in sys.modules:
        return sys.modules[name]
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        return None
    files: list[Path] = []
    if found.origin and found.origin.endswith(".py"):
        top = importlib.util.find_spec(name.split(".")[0])
        pkg = top.submodule_search_locations if top is not None else None
        files = _sources(Path(found.origin), Path(list(pkg)[0]) if pkg else None)
    return _exec(spec, files, lambda: importlib.import_module(name))


# -- the protocol ---------------------------------------------------------------------------

def check(mod, name: str) -> None:
    """Check a policy module against the protocol; a mistake is a one-line TraceError
    naming the hook or field."""
    from ._protocol import HOOKS

    def fail(msg):
        raise TraceError(f"policy {name}: {msg}")

    if not any(hasattr(mod, h) for h in HOOKS) and not hasattr(mod, "DESCRIPTION"):
        fail(f"{getattr(mod, '__name__', 'it')} is not a policy module: it defines none of the hooks "
             f"({', '.join(HOOKS)}; {GUIDE})")
    desc = getattr(mod, "DESCRIPTION", None)
    if not isinstance(desc, str) or not desc.strip():
        fail(f"DESCRIPTION is missing: a one-line string saying what the policy is ({GUIDE})")
    rt = getattr(mod, "RT", None)
    if not isinstance(rt, types.ModuleType):
        fail("RT is missing: the module of its RT class (RT = policies.api.rt for the stock one)")
    if not isinstance(getattr(mod, "GROUPS", False), bool):
        fail(f"GROUPS is {getattr(mod, 'GROUPS')!r}: True when the class schedules task groups "
             f"(docs/engine-model.md §13), else leave it out ({GUIDE})")
    _check_class(mod, fail, "")
    _check_class(rt, fail, f"its RT class {label(rt)}: ")
    _check_params(mod, rt, fail)


def _check_class(part, fail, who: str) -> None:
    """Hooks, column counts and ``state`` of a class module (the fair class or the RT one)."""
    from numba.core.dispatcher import Dispatcher

    from ._protocol import HOOKS, OPTIONAL_HOOKS, SIG

    for h in HOOKS:
        fn = getattr(part, h, None)
        if fn is None and h in OPTIONAL_HOOKS:
            continue
        if fn is None:
            fail(f"{who}hook {h!r} is missing (every policy defines "
                 f"{', '.join(x for x in HOOKS if x not in OPTIONAL_HOOKS)}; {GUIDE})")
        if not isinstance(fn, Dispatcher):
            what = "a plain Python function" if callable(fn) else f"a {type(fn).__name__}, not a function"
            fail(f"{who}hook {h!r} is {what}: compile it with the shared signature (@policies.api.hook)")
        if SIG.args not in fn.signatures:
            fail(f"{who}hook {h!r} {_signature_mismatch(fn, SIG)}")
        got = fn.overloads[SIG.args].signature.return_type
        if got != SIG.return_type:
            fail(f"{who}hook {h!r} returns {got}; the shared signature returns {SIG.return_type} (@policies.api.hook)")
    cols = {}
    for attr in ("N_TASK_COLS", "N_CPU_COLS"):
        v = getattr(part, attr, None)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
            fail(f"{who}{attr} must be a whole number >= 0 (the columns of its per-{'task' if 'TASK' in attr else 'CPU'}"
                 f" matrix), not {v!r}")
        cols[attr] = int(v)
    state = getattr(part, "state", None)
    if not callable(state):
        fail(f"{who}state is missing: write state = policies.api.make_state(N_TASK_COLS, N_CPU_COLS)")
    try:
        got = state(3, 2)
    except Exception as e:  # noqa: BLE001
        fail(f"{who}state(3, 2) failed: {type(e).__name__}: {_reason(e)}")
    if not (isinstance(got, tuple) and len(got) == 2):
        fail(f"{who}state(n_tasks, n_cpus) must return the pair (PT, PC) (make_state makes it)")
    for arr, rows, attr, what in ((got[0], 3, "N_TASK_COLS", "per-task"), (got[1], 2, "N_CPU_COLS", "per-CPU")):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.int64 or arr.ndim != 2 or not arr.flags.c_contiguous:
            fail(f"{who}state(3, 2) must return int64 C-contiguous 2-D matrices; its {what} one is "
                 f"{_describe(arr)}")
        if arr.shape != (rows, cols[attr]):
            fail(f"{who}state(3, 2) returns a {what} matrix of shape {arr.shape}, but {attr} is {cols[attr]} "
                 f"(expected {(rows, cols[attr])}; make_state(N_TASK_COLS, N_CPU_COLS) makes it)")


def _describe(arr) -> str:
    if isinstance(arr, np.ndarray):
        return f"{arr.dtype} {arr.ndim}-D{'' if arr.flags.c_contiguous else ' not C-contiguous'}"
    return type(arr).__name__


def _signature_mismatch(fn, sig) -> str:
    """Why a dispatcher's compiled signature is not the shared one, in a phrase."""
    sigs = fn.signatures
    shared = f"the shared signature ({', '.join(ARGS)}) -> int64"
    if not sigs:
        return (f"is not compiled: a plain @njit compiles for whatever its first call passes; compile it with "
                f"{shared} (@policies.api.hook)")
    got = sigs[0]
    if len(got) != len(sig.args):
        return f"is compiled for {len(got)} arguments; {shared} has {len(sig.args)} (@policies.api.hook)"
    for i, (a, b) in enumerate(zip(got, sig.args)):
        if a != b:
            return (f"is compiled with argument {i + 1} ({ARGS[i]}) as {a}; {shared} has {b} there "
                    "(@policies.api.hook)")
    return f"is not compiled with {shared} (@policies.api.hook)"


_KINDS = ("bool", "int", "ns", "choice")


def _check_params(mod, rt, fail) -> None:
    """PARAMS well formed (each a Param with a valid default), the RT class's among them,
    ``pack`` of the defaults an int64 vector, and the RT class's ``pack`` likewise."""
    from ._params import Param, parse_value

    params = getattr(mod, "PARAMS", None)
    if not isinstance(params, (tuple, list)):
        fail("PARAMS is missing: a tuple of policies.api.Param, ending with the RT class's (PARAMS = (...) + RT.PARAMS)")
    seen = set()
    for i, p in enumerate(params):
        where = f"PARAMS[{i}]"
        if not isinstance(p, Param):
            fail(f"{where} is a {type(p).__name__}, not a policies.api.Param")
        where += f" ({p.name!r})"
        if not isinstance(p.name, str) or not p.name.isidentifier():
            fail(f"{where}: its name must be an identifier (--param NAME=VALUE)")
        if p.name in seen:
            fail(f"{where}: the name is used twice")
        seen.add(p.name)
        if p.kind not in _KINDS:
            fail(f"{where}: kind {p.kind!r} is not one of {', '.join(_KINDS)}")
        if p.kind == "choice" and (not p.choices or not all(isinstance(c, str) and c == c.lower() for c in p.choices)):
            fail(f"{where}: a choice needs choices, a tuple of lower-case strings")
        if not isinstance(p.doc, str) or not p.doc.strip():
            fail(f"{where}: doc is empty (say what it does: --list-params shows it)")
        if not isinstance(p.unit, str) or not isinstance(p.section, str):
            fail(f"{where}: unit and section must be strings (\"\" for none)")
        if p.lo is not None and p.hi is not None and p.lo > p.hi:
            fail(f"{where}: lo {p.lo} is above hi {p.hi}")
        wrong_type = (p.kind == "bool" and not isinstance(p.default, bool)) or \
            (p.kind in ("int", "ns") and (isinstance(p.default, bool) or not isinstance(p.default, (int, np.integer))))
        if wrong_type:
            fail(f"{where}: its default {p.default!r} is not a{'' if p.kind == 'bool' else 'n'} "
                 f"{'bool' if p.kind == 'bool' else 'int'} (kind {p.kind})")
        try:
            v = parse_value(p, p.default)
        except TraceError as e:
            fail(f"{where}: its default {p.default!r} is not a valid value: {e.detail}")
        if p.kind == "choice" and v != p.default:
            fail(f"{where}: its default {p.default!r} must be written as one of its choices ({', '.join(p.choices)})")
    missing = [q.name for q in getattr(rt, "PARAMS", ()) if q.name not in seen]
    if missing:
        fail(f"PARAMS lacks its RT class's parameters ({', '.join(missing)}): write PARAMS = (...) + RT.PARAMS")
    _check_pack(mod, fail, "pack", lambda values: mod.pack(values, 2, 250), "pack(values, n_cpus, hz)",
                [p for p in params if p.name not in {q.name for q in rt.PARAMS}])
    if not callable(getattr(rt, "pack", None)):
        fail(f"its RT class {label(rt)}: pack(values, hz) is missing")
    shared = "shared" in inspect.signature(rt.pack).parameters
    _check_pack(mod, fail, f"its RT class {label(rt)}: pack",
                lambda values: rt.pack(values, 250, shared={}) if shared else rt.pack(values, 250),
                "pack(values, hz)", list(rt.PARAMS))


def _check_pack(mod, fail, what, call, form, own) -> None:
    for values, when in ((None, "the defaults"), ({p.name: p.default for p in own}, "its parameters by name")):
        try:
            pp = call(values)
        except TraceError as e:
            fail(f"{what} refused {when}: {e.detail}")
        except Exception as e:  # noqa: BLE001
            fail(f"{what} failed on {when}: {type(e).__name__}: {_reason(e)} ({form} -> int64 vector)")
        if not isinstance(pp, np.ndarray) or pp.dtype != np.int64 or pp.ndim != 1 or not pp.flags.c_contiguous:
            fail(f"{what} must return an int64 1-D array ({form}), not {_describe(pp)}")
