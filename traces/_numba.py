"""Numba options in one place, and a compile cache that cannot go stale.

Numba does not notice when a function in another file changes, so the cache
directory is keyed on the package version and a hash of the package sources:
any edit to any kernel gives a fresh cache. ``SCHEDREPLAY_CACHE_DIR`` (or
``NUMBA_CACHE_DIR``) overrides the base folder. Import this module before
defining any kernel.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import warnings

import numba
from numba.core.errors import NumbaExperimentalFeatureWarning

# The engine calls policies through first-class function types (stable since 0.53,
# still labelled experimental): see policies/_protocol.py.
warnings.filterwarnings("ignore", category=NumbaExperimentalFeatureWarning)

_PACKAGES = ("traces", "policies", "replay")


def _source_hash() -> str:
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for pkg in _PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _cache_dir() -> str:
    from . import __version__

    base = os.environ.get("SCHEDREPLAY_CACHE_DIR") or os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "schedreplay", "numba")
    return os.path.join(base, f"{__version__}-{_source_hash()}")


CACHE_DIR = _cache_dir()
numba.config.CACHE_DIR = CACHE_DIR

#: Options every kernel is compiled with: no fastmath, no parallel (determinism).
JIT = dict(nopython=True, nogil=True, cache=True, fastmath=False, parallel=False, boundscheck=False)


def jit(*args, **kwargs):
    """``numba.njit`` with the project's options (explicit signature optional)."""
    opts = {**JIT, **kwargs}
    return numba.jit(*args, **opts)
