"""Large NumPy arrays on small pages while schedreplay fills them.

NumPy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on
every large array. Where THP is in ``madvise`` mode (the usual distribution
default) the first touch of each 2 MB page then compacts memory and zeroes the
page in one go; on a VM whose host reclaims freed guest memory (free page
reporting) it also faults the whole page in from the host. Our readers and
kernels fill large fresh arrays once, front to back, where huge pages buy little:
measured on the development VM, a 10M-event text trace's first load took 4.3-5.9 s
with NumPy's default and 2.9-3.3 s without it, the observed schedule's first build
1.5-2.3 s against 1.0-1.2 s; later calls, on reused memory, were the same.

:func:`small_pages` turns the advice off for the duration of a call and restores
NumPy's setting afterwards, so importing schedreplay changes nothing for other
code. An explicit ``NUMPY_MADVISE_HUGEPAGE`` in the environment is left to rule.
"""

from __future__ import annotations

import functools
import os

try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:  # NumPy < 2
    try:
        from numpy.core.multiarray import _set_madvise_hugepage
    except ImportError:
        _set_madvise_hugepage = None

_ACTIVE = _set_madvise_hugepage is not None and "NUMPY_MADVISE_HUGEPAGE" not in os.environ


def small_pages(fn):
    """Decorator: run ``fn`` with NumPy's huge-page advice off (see the module docstring)."""
    if not _ACTIVE:
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = _set_madvise_hugepage(False)
        try:
            return fn(*args, **kwargs)
        finally:
            _set_madvise_hugepage(previous)

    return wrapper


# madvise(2) advice number (Linux >= 5.14).
_MADV_POPULATE_WRITE = 23
_madvise = None


def _libc_madvise():
    global _madvise
    if _madvise is None:
        _madvise = False
        try:
            import ctypes
            import sys

            if sys.platform.startswith("linux"):
                fn = ctypes.CDLL(None, use_errno=True).madvise
                fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                fn.restype = ctypes.c_int
                _madvise = fn
        except (OSError, AttributeError):
            pass
    return _madvise


def populate(arr, start: int, stop: int) -> bool:
    """Fault in the pages of arr[start:stop] (a 1-D array) ahead of writing them
    front to back, in one system call rather than a trap per page: on the
    development VM, 820 MB of fresh 4 KB pages took 0.3-0.35 s populated so,
    range by range, against 0.4-0.5 s faulted by the writes. (Huge pages
    populated so were faster on reused memory, 0.1 s, but made a process's
    first 10M-event text load ~1 s slower.) Does nothing where unsupported
    (older kernels, other systems): returns whether it did it."""
    fn = _libc_madvise()
    page = 4096
    base = arr.ctypes.data
    a = (base + start * arr.itemsize + page - 1) // page * page
    b = (base + min(stop, len(arr)) * arr.itemsize) // page * page
    return bool(fn) and b > a and fn(a, b - a, _MADV_POPULATE_WRITE) == 0
