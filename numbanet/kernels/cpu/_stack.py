"""A fixed-size float32 scratch array on the stack of a numba function.

Why: LLVM keeps a small tile of accumulators in vector registers only when it can prove no other
pointer reaches that memory. A stack allocation (alloca) gives that proof; a numpy array allocated
inside the kernel or a slice of the output does not. Under NUMBA_DISABLE_JIT the plain-Python
version below runs instead.
"""
import numpy as np
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic, overload


def stack_f32(n):
    """Return n float32 scratch values (uninitialised inside jitted code). n must be a constant."""
    return np.zeros(n, np.float32)


def stack_i32(n):
    """Return n int32 scratch values, as stack_f32 (the int8 matmul's accumulators)."""
    return np.zeros(n, np.int32)


def _alloca(element):
    @intrinsic
    def alloca(typingctx, n):
        if not isinstance(n, types.IntegerLiteral):
            return None
        size = n.literal_value

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(element)
            return cgutils.alloca_once(builder, ty, size=context.get_constant(types.intp, size))

        return types.CPointer(element)(n), codegen
    return alloca


_alloca_f32 = _alloca(types.float32)
_alloca_i32 = _alloca(types.int32)


@overload(stack_f32)
def _stack_f32_jit(n):
    # numba first offers a plain int64; returning None asks it to retry with the literal value.
    if not isinstance(n, types.IntegerLiteral):
        return None
    size = n.literal_value

    def impl(n):
        return carray(_alloca_f32(size), (size,))

    return impl


@overload(stack_i32)
def _stack_i32_jit(n):
    if not isinstance(n, types.IntegerLiteral):
        return None
    size = n.literal_value

    def impl(n):
        return carray(_alloca_i32(size), (size,))

    return impl
