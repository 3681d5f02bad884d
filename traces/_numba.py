"""Numba options in one place, and a compile cache that cannot go stale.

Numba does not notice when a function in another file changes, so the cache
directory is keyed on the package version and a hash of the sources compiled code
depends on: any edit to any kernel (or to a constant it uses) gives a fresh cache. ``SCHEDREPLAY_CACHE_DIR`` (or
``NUMBA_CACHE_DIR``) overrides the base folder. Import this module before
defining any kernel.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import warnings

import numba
from numba.core import caching as _caching
from numba.core import types
from numba.core.errors import NumbaExperimentalFeatureWarning

# The engine calls policies through first-class function types (stable since 0.53,
# still labelled experimental): see policies/_protocol.py.
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)

_PACKAGES = ("traces", "policies", "replay")
#: a kernel: decorated with (or passed to) jit/njit/_jit, or built from numba types
_COMPILED = re.compile(rb"^\s*@\s*(?:numba\.)?_?n?jit\b|\b_?n?jit\(|numba\.(?:types|typed|core)", re.M)
_IMPORT = re.compile(rb"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)


def _module_file(root: Path, name: str) -> Path | None:
    base = root.joinpath(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _imports(root: Path, path: Path, text: bytes):
    """The project's modules a file imports (``from X import a, b`` forms, absolute or
    relative; a name imported from a package may itself be a module)."""
    pkg = path.relative_to(root).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        pkg = path.relative_to(root).parts[:-1]
    for m in _IMPORT.finditer(text):
        mod, names = m.group(1).decode(), m.group(2).decode().strip("()")
        if mod.startswith("."):
            dots = len(mod) - len(mod.lstrip("."))
            parts = list(pkg[: len(pkg) - dots + 1]) + [x for x in mod.lstrip(".").split(".") if x]
        else:
            parts = mod.split(".")
        if not parts or parts[0] not in _PACKAGES:
            continue
        base = ".".join(parts)
        subs = [_module_file(root, f"{base}.{n.split()[0]}") for n in names.replace("\n", " ").split(",")
                if n.strip()]
        yield from (f for f in subs if f is not None)
        if None in subs or not subs:  # some name comes from the module itself
            f = _module_file(root, base)
            if f is not None:
                yield f


def _source_hash() -> str:
    """Hash of the files compiled code depends on: every file that mentions numba or jit,
    and, transitively, the project modules they import (constants are frozen into compiled
    code). Front-end modules (the CLI, reports, sweeps) are left out, so editing them keeps
    the cache."""
    root = Path(__file__).resolve().parent.parent
    texts = {p: p.read_bytes() for pkg in _PACKAGES for p in sorted((root / pkg).rglob("*.py"))}
    todo = [p for p, t in texts.items() if _COMPILED.search(t)]
    seen = set(todo)
    while todo:
        p = todo.pop()
        for q in _imports(root, p, texts[p]):
            if q not in seen and q in texts:
                seen.add(q)
                todo.append(q)
    h = hashlib.sha256()
    for p in sorted(seen):
        h.update(str(p.relative_to(root)).encode())
        h.update(texts[p])
    return h.hexdigest()[:16]


def _cache_dir() -> str:
    from . import __version__

    base = os.environ.get("SCHEDREPLAY_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "schedreplay", "numba")
    return os.path.join(base, f"{__version__}-{_source_hash()}")


_CACHE_NAME = re.compile(r"^\d[\w.+]*-[0-9a-f]{16}$")
KEEP_CACHES = 8


def prune_caches(base: str, keep: int = KEEP_CACHES, pattern: re.Pattern = _CACHE_NAME) -> list[str]:
    """Delete all but the ``keep`` most recently modified compile caches in ``base``
    (folders named ``<version>-<source hash>``, or as ``pattern`` says; anything else there
    is left alone). Every upgrade or kernel edit starts a new folder of 25-60 MB, so
    without this they pile up. Returns the folders deleted."""
    try:
        dirs = [e for e in os.scandir(base) if e.is_dir(follow_symlinks=False) and pattern.match(e.name)]
    except OSError:
        return []
    dirs.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
    gone = []
    for e in dirs[keep:]:
        shutil.rmtree(e.path, ignore_errors=True)
        gone.append(e.path)
    return gone


CACHE_DIR = _cache_dir()
numba.config.CACHE_DIR = CACHE_DIR
if not os.path.isdir(CACHE_DIR):  # first use of these sources: make room (a new folder is the newest)
    try:
        os.makedirs(CACHE_DIR, exist_ok=True)
    except OSError:
        pass  # an unwritable cache folder: numba warns and compiles without caching, as before
    else:
        prune_caches(os.path.dirname(CACHE_DIR))

#: Options every kernel is compiled with: no fastmath, no parallel (determinism).
JIT = dict(nopython=True, nogil=True, cache=True, fastmath=False, parallel=False, boundscheck=False)


#: Extra options for kernels that allocate nothing (no arrays, no lists): compiled
#: without the NRT, their array arguments are not reference counted. With it, every
#: call of a helper that takes arrays (inlined or not) increfs and decrefs each
#: array through an external atomic call, which LLVM's refcount pruning leaves in
#: place when the helper loops or returns early: ~25 ns for a hash lookup that
#: takes 1 ns. Numba refuses to compile code that needs the NRT with this option.
NO_NRT = dict(_nrt=False)

#: Extra options for kernels only other kernels call: no CPython or C-callable wrapper.
#: Each wrapper (argument unboxing for a dozen arrays and tuples) is lowered, optimised
#: and turned into machine code again in every kernel that links the callee; without
#: them the engine's cold compile is ~4 s shorter. Such a kernel cannot be called
#: from Python.
INTERNAL = dict(no_cpython_wrapper=True, no_cfunc_wrapper=True)


def plain_arguments(dispatcher):
    """Make calls to ``dispatcher`` from other kernels type their arguments without
    literal values: ``f(x, -1)`` then uses ``f``'s ``(int64, int64)`` specialization instead
    of compiling a ``(int64, Literal[int](-1))`` copy of ``f`` and of everything it calls.
    Numba otherwise compiles one copy per distinct constant a call site passes, which
    doubled the engine's cold compile. The values still reach LLVM as constants where
    the callee is inlined."""
    typed = dispatcher.get_call_template

    def get_call_template(args, kws):
        return typed(tuple(types.unliteral(a) for a in args), {k: types.unliteral(v) for k, v in kws.items()})

    dispatcher.get_call_template = get_call_template
    return dispatcher


def jit(*args, **kwargs):
    """``numba.njit`` with the project's options (explicit signature optional); calls
    from other kernels never specialise on literal arguments (see plain_arguments)."""
    opts = {**JIT, **kwargs}
    if len(args) == 1 and callable(args[0]) and not isinstance(args[0], (str, list, tuple)) \
            and not hasattr(args[0], "return_type"):
        return plain_arguments(numba.jit(**opts)(args[0]))
    decorate = numba.jit(*args, **opts)
    return lambda fn: plain_arguments(decorate(fn))


#: what a command says on stderr before its first compile (``announce_compiles``)
COMPILE_NOTICE = ("schedreplay: compiling its numba kernels, once for this version (cached in {cache}); the first "
                  "run takes up to a minute or two...")


#: what it says when the code compiling is someone else's (``compiling``): a user's policy
SUBJECT_NOTICE = ("schedreplay: compiling {subject} with numba (once; cached in {cache} until its source "
                  "changes)...")


class _CompileNotice(numba.core.event.Listener):
    """Calls ``say`` once per subject, when numba starts compiling a kernel it found in no
    cache: the project's kernels, or the code ``compiling`` names."""

    def __init__(self, say):
        self.say = say
        self.said: set[str] = set()

    def on_start(self, event):
        msg = COMPILE_NOTICE.format(cache=CACHE_DIR) if _subject is None else \
            SUBJECT_NOTICE.format(subject=_subject, cache=os.path.join(CACHE_DIR, "user"))
        if msg not in self.said:
            self.said.add(msg)
            self.say(msg)

    def on_end(self, event):
        pass


_notice: _CompileNotice | None = None
_subject: str | None = None


@contextmanager
def compiling(subject: str):
    """While the block runs, a compile is announced (``announce_compiles``) as that of
    ``subject`` ("policy ./my_policy.py"), once per subject: importing a user's policy
    compiles its hooks, and the command says so, not that schedreplay compiles itself."""
    global _subject
    before, _subject = _subject, subject
    try:
        yield
    finally:
        _subject = before


# -- a second process compiling for this one (replay/sim/warm.py) -----------------------

#: the process compiling kernels into the shared cache while this one reads a trace
#: (subprocess.Popen), None when there is none
_helper = None
_stopper_registered = False


def set_helper(proc) -> None:
    """Remember ``proc``, a process compiling kernels this one will need into the shared
    cache: ``wait_for_helper`` waits for it before they are used, and it is stopped if this
    process ends first (an error in the trace: nothing will use them)."""
    global _helper, _stopper_registered
    if not _stopper_registered:
        import atexit

        atexit.register(_stop_helper)
        _stopper_registered = True
    _helper = proc


def wait_for_helper(timeout_s: float = 900) -> None:
    """Block until the helper process (``set_helper``), if any, has ended: the kernels it
    compiled are then in the cache and load instead of compiling a second time. A helper
    that takes longer than ``timeout_s`` is stopped (this process compiles what it lacks)."""
    global _helper
    proc, _helper = _helper, None
    if proc is None:
        return
    import subprocess

    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stop_helper() -> None:
    if _helper is not None and _helper.poll() is None:
        _helper.kill()
        _helper.wait()


def announce_compiles(say) -> None:
    """Have ``say(message)`` called once per process, just before numba compiles the first
    kernel that no cache holds (a fresh install, a new version, an edited kernel): the
    command line prints it on stderr, so a first run that compiles for a minute says so
    instead of staying silent. Loading compiled kernels from the cache says nothing.
    Call it before the modules that define kernels are imported (explicitly typed kernels
    compile at import)."""
    global _notice
    if _notice is not None:
        _notice.say = say
        return
    _notice = _CompileNotice(say)
    numba.core.event.register("numba:compile", _notice)


# -- code from outside the project: a user's policy (policies/_loader.py) --------------

#: real path of a watched source file -> hash of the sources it is compiled with
_WATCHED: dict[str, str] = {}


def watch_sources(files) -> str:
    """Cache the kernels of ``files`` (a user's policy and the files it imports) keyed on
    the hash of their contents, in CACHE_DIR/user/: an edit to any of them, or to the
    project (CACHE_DIR is keyed on its sources), recompiles them; touching a file without
    changing it does not. Numba's own check is the file's time and size, and it does not
    notice a changed helper or constant in another file. Call it before the files'
    kernels are defined (importing them). Returns the hash."""
    paths = sorted({os.path.realpath(f) for f in files})
    h = hashlib.sha256()
    for p in paths:
        h.update(p.encode())
        try:
            with open(p, "rb") as f:
                h.update(f.read())
        except OSError:
            pass
    key = h.hexdigest()[:16]
    user = os.path.join(CACHE_DIR, "user")
    for p in paths:
        _WATCHED[p] = key
        try:  # in use: the newest, so that pruning keeps it
            os.utime(os.path.join(user, _WatchedSourceLocator.get_suitable_cache_subpath(p)))
        except OSError:
            pass
    prune_caches(user, KEEP_USER_CACHES, _USER_CACHE_NAME)
    return key


#: folders of users' code kept in CACHE_DIR/user (one per folder of policy sources, a few
#: hundred KB each); older ones are deleted
KEEP_USER_CACHES = 32
_USER_CACHE_NAME = re.compile(r"^.*_[0-9a-f]{40}$")


class _WatchedSourceLocator(_caching._CacheLocator):
    """numba's cache locator for the functions of watched files (``watch_sources``);
    every other function falls through to numba's own locators."""

    def __init__(self, py_func, py_file, key):
        self._lineno = py_func.__code__.co_firstlineno
        # a compiled function refers to its module by name: one file imported under two names
        # (a path, and a module name) gets two cache entries
        self._module = hashlib.sha1(str(py_func.__module__).encode()).hexdigest()[:8]
        self._key = key
        self._cache_path = os.path.join(CACHE_DIR, "user", self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return self._key

    def get_disambiguator(self):
        return f"{self._lineno}-{self._module}"

    @classmethod
    def from_function(cls, py_func, py_file):
        key = _WATCHED.get(os.path.realpath(py_file))
        if key is None:
            return None
        self = cls(py_func, py_file, key)
        try:
            self.ensure_cache_path()
        except OSError:
            return None  # unwritable: numba's own locators decide (or it compiles uncached)
        return self


# numba's list of locators, shared by all its caches: ours is asked first
if _WatchedSourceLocator not in _caching.CacheImpl._locator_classes:
    _caching.CacheImpl._locator_classes.insert(0, _WatchedSourceLocator)
