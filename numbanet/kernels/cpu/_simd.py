"""One 16-lane float32 multiply-add for the matmul tiles: acc[acc_offset + c] += a * B[k, j + c], c < 16.

Why: on this kind of CPU LLVM vectorises numba loops with 256-bit registers only (it prefers them on
AVX-512 parts, and numba offers no per-function way to change that short of a process-wide
NUMBA_CPU_FEATURES). Written as one <16 x float> llvm.fma, the tile's multiply-adds use 512-bit registers:
the 4 x 64 tile ran at 137-142 GFLOP/s on one core against 49-85 for the same loop left to the
vectoriser (bench/test_kernels.py). On a CPU without AVX-512 LLVM splits the vector in two: same
results, the old speed. Each lane is one fused multiply-add in the same order as the scalar loop, so
the sums are bit for bit those of gemm_reference's order with contraction.

Called with constant acc offsets into a stack tile (_stack.py), the accumulator loads and stores fold
away and the tile stays in registers. B must have unit stride along its rows (C layout); any other
layout, and NUMBA_DISABLE_JIT, take the plain loop below. fma16_partial does the first `cols` lanes
only, through a masked load, so it never reads past the end of a row.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

LANES = 16


def fma16(acc, acc_offset, a, B, k, j):
    acc[acc_offset:acc_offset + LANES] += a * B[k, j:j + LANES]


def fma16_partial(acc, acc_offset, a, B, k, j, cols):
    acc[acc_offset:acc_offset + cols] += a * B[k, j:j + cols]


_VEC = ir.VectorType(ir.FloatType(), LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)
_I32X16 = ir.VectorType(ir.IntType(32), LANES)


def _pointers(context, builder, sig, args):
    acc_v, acc_off, a_v, B_v, k_v, j_v = args[:6]
    acc_array = context.make_array(sig.args[0])(context, builder, acc_v)
    B_array = context.make_array(sig.args[3])(context, builder, B_v)
    acc_ptr = builder.bitcast(builder.gep(acc_array.data, [acc_off]), _VEC.as_pointer())
    # Row k starts k * stride0 bytes in; within a C-layout row the elements are adjacent.
    row_stride = cgutils.unpack_tuple(builder, B_array.strides, 2)[0]
    row = builder.gep(builder.bitcast(B_array.data, ir.IntType(8).as_pointer()), [builder.mul(k_v, row_stride)])
    b_ptr = builder.bitcast(builder.gep(builder.bitcast(row, ir.FloatType().as_pointer()), [j_v]), _VEC.as_pointer())
    lane0 = builder.insert_element(ir.Constant(_VEC, ir.Undefined), a_v, ir.Constant(ir.IntType(32), 0))
    broadcast = builder.shuffle_vector(lane0, ir.Constant(_VEC, ir.Undefined), ir.Constant(_I32X16, [0] * LANES))
    return acc_ptr, b_ptr, broadcast


def _fma(builder, broadcast, b, acc_ptr):
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC, _VEC, _VEC]), 'llvm.fma.v16f32')
    builder.store(builder.call(fn, [broadcast, b, builder.load(acc_ptr, align=4)]), acc_ptr, align=4)


@intrinsic
def _fma16(typingctx, acc, acc_offset, a, B, k, j):
    def codegen(context, builder, sig, args):
        acc_ptr, b_ptr, broadcast = _pointers(context, builder, sig, args)
        _fma(builder, broadcast, builder.load(b_ptr, align=4), acc_ptr)
        return context.get_dummy_value()
    return types.void(acc, acc_offset, a, B, k, j), codegen


@intrinsic
def _fma16_partial(typingctx, acc, acc_offset, a, B, k, j, cols):
    def codegen(context, builder, sig, args):
        acc_ptr, b_ptr, broadcast = _pointers(context, builder, sig, args)
        cols32 = builder.trunc(args[6], ir.IntType(32)) if args[6].type.width > 32 else args[6]
        lanes = ir.Constant(_I32X16, list(range(LANES)))
        limit = builder.shuffle_vector(builder.insert_element(ir.Constant(_I32X16, ir.Undefined), cols32,
                                                              ir.Constant(ir.IntType(32), 0)),
                                       ir.Constant(_I32X16, ir.Undefined), ir.Constant(_I32X16, [0] * LANES))
        mask = builder.icmp_signed('<', lanes, limit)
        load = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VEC, [_VEC.as_pointer(), ir.IntType(32), _MASK, _VEC]),
            'llvm.masked.load.v16f32.p0v16f32')
        b = builder.call(load, [b_ptr, ir.Constant(ir.IntType(32), 4), mask, ir.Constant(_VEC, [0.0] * LANES)])
        _fma(builder, broadcast, b, acc_ptr)
        return context.get_dummy_value()
    return types.void(acc, acc_offset, a, B, k, j, cols), codegen


def _row_contiguous(B):
    return isinstance(B, types.Array) and B.ndim == 2 and B.layout == 'C' and B.dtype == types.float32


@overload(fma16)
def _fma16_jit(acc, acc_offset, a, B, k, j):
    if _row_contiguous(B):
        return lambda acc, acc_offset, a, B, k, j: _fma16(acc, acc_offset, a, B, k, j)

    def loop(acc, acc_offset, a, B, k, j):
        for c in range(LANES):
            acc[acc_offset + c] += a * B[k, j + c]
    return loop


@overload(fma16_partial)
def _fma16_partial_jit(acc, acc_offset, a, B, k, j, cols):
    if _row_contiguous(B):
        return lambda acc, acc_offset, a, B, k, j, cols: _fma16_partial(acc, acc_offset, a, B, k, j, cols)

    def loop(acc, acc_offset, a, B, k, j, cols):
        for c in range(cols):
            acc[acc_offset + c] += a * B[k, j + c]
    return loop

