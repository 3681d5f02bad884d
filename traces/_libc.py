"""C library byte searches, and an unaligned word load, for numba kernels, as intrinsics.

``memchr`` and ``memcmp`` are called through their C symbols, which the JIT
resolves in the running process (every C library has them) and which the
compile cache records by name, so kernels that use them stay cacheable. libc's
memchr scans 32 bytes per step with vector instructions, several times faster
than any loop numba compiles for the same search; LLVM expands a memcmp of a
constant pattern (a module-level array) into a few word compares.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I8P = ir.IntType(8).as_pointer()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def _as_i64(builder, value):
    width = value.type.width
    if width == 64:
        return value
    return builder.zext(value, _I64) if width < 64 else builder.trunc(value, _I64)


@intrinsic
def memchr(typingctx, address, byte, length):
    """Offset of the first ``byte`` in the ``length`` bytes at ``address``, or -1.
    (``length`` must be >= 0.)"""
    if not all(isinstance(t, types.Integer) for t in (address, byte, length)):
        return None

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_I8P, [_I8P, _I32, _I64]), "memchr")
        start = _as_i64(builder, args[0])
        found = builder.call(fn, [builder.inttoptr(start, _I8P), builder.trunc(_as_i64(builder, args[1]), _I32),
                                  _as_i64(builder, args[2])])
        at = builder.ptrtoint(found, _I64)
        return builder.select(builder.icmp_unsigned("==", at, ir.Constant(_I64, 0)),
                              ir.Constant(_I64, -1), builder.sub(at, start))
    return types.int64(address, byte, length), codegen


@intrinsic
def memeq(typingctx, address, pattern):
    """Whether the bytes at ``address`` equal the 1-D uint8 array ``pattern``
    (the caller makes sure that many bytes are there)."""
    if not isinstance(address, types.Integer) or not (isinstance(pattern, types.Array)
                                                      and pattern.dtype == types.uint8 and pattern.ndim == 1):
        return None

    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_I32, [_I8P, _I8P, _I64]), "memcmp")
        pat = context.make_array(signature.args[1])(context, builder, args[1])
        n = builder.extract_value(pat.shape, 0)
        r = builder.call(fn, [builder.inttoptr(_as_i64(builder, args[0]), _I8P),
                              builder.bitcast(pat.data, _I8P), n])
        return builder.icmp_signed("==", r, ir.Constant(_I32, 0))
    return types.boolean(address, pattern), codegen


@intrinsic
def load8(typingctx, address):
    """The 8 bytes at ``address`` as a little-endian uint64 (an unaligned load;
    the caller makes sure all 8 are inside the buffer)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ptr = builder.inttoptr(_as_i64(builder, args[0]), _I64.as_pointer())
        return builder.load(ptr, align=1)
    return types.uint64(address), codegen
