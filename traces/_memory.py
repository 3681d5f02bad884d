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
