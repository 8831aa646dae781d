"""The GEMM's register tiles (_tiles.py), written as LLVM IR: C[i0:i0+rows, j0:j0+width] = A @ B over k0..k1.

A tile holds rows x width values of C in vector registers. For each k it broadcasts rows values of A's column
k and multiplies them into width contiguous values of B's row k (the outer-product form), 16 lanes at a time
through one 512-bit fused multiply-add. It starts from C (accumulate), else from the bias row, else from
zeros, and stores the sums back into C. An edge tile covers the last cols <= 16 columns under a mask, so it
never reads or writes past them.

Why IR and not a numba function: numba compiled each tile as a function of its own (typing, numba's passes,
LLVM), and LLVM then generated it again inside every function that called it: about 0.3 s a tile, for eight
tiles, on every cold start (bench/compile_report.py). Emitted here, a tile is a few dozen instructions that
LLVM optimizes once, inside its caller. Why 512-bit vectors spelled out: left to itself on this kind of CPU,
LLVM vectorises numba's loops with 256-bit registers only (it prefers them on AVX-512 parts, and numba
offers no per-function way to change that short of a process-wide NUMBA_CPU_FEATURES); the 4 x 64 tile ran
at 137-142 GFLOP/s on one core against 49-85 for the same loop left to the vectoriser. On a CPU without
AVX-512 LLVM splits each vector in two: same results, the old speed. Each lane gets one fused multiply-add
per k in ascending k, so the sums are bit for bit those of gemm_reference's order with contraction.

B and C are read and written a row at a time as vectors when numba types them C-contiguous; any other
layout gets the same arithmetic through scalar loads and stores, slowly. A may have any layout (it is read
one value at a time). Under NUMBA_DISABLE_JIT the tiles are the plain Python functions below.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic

LANES = 16

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_VEC = ir.VectorType(_F32, LANES)
_I32X16 = ir.VectorType(_I32, LANES)
_MASK = ir.VectorType(ir.IntType(1), LANES)
_BYTES = ir.IntType(8).as_pointer()
_ZERO = ir.Constant(_VEC, [0.0] * LANES)


def tile(rows, vectors):
    """The tile of rows x (vectors * 16) values: tile(C, A, B, bias, accumulate, i0, j0, k0, k1). bias has no
    rows (shape (0,)) when there is none."""
    return _python_tile(rows, vectors * LANES, False) if config.DISABLE_JIT else _ir_tile(rows, vectors, False)


def edge_tile(rows):
    """The tile of rows x cols values, cols <= 16: tile(C, A, B, bias, accumulate, i0, j0, cols, k0, k1)."""
    return _python_tile(rows, LANES, True) if config.DISABLE_JIT else _ir_tile(rows, 1, True)


def _python_tile(rows, width, edge):
    def run(C, A, B, bias, accumulate, i0, j0, k0, k1, cols=width):
        if accumulate:
            acc = C[i0:i0 + rows, j0:j0 + cols].copy()
        elif bias.shape[0] > 0:
            acc = np.repeat(bias[None, j0:j0 + cols], rows, 0)
        else:
            acc = np.zeros((rows, cols), C.dtype)
        for k in range(k0, k1):
            acc += A[i0:i0 + rows, k, None] * B[k, j0:j0 + cols]
        C[i0:i0 + rows, j0:j0 + cols] = acc

    if edge:
        return lambda C, A, B, bias, accumulate, i0, j0, cols, k0, k1: run(C, A, B, bias, accumulate, i0, j0, k0,
                                                                             k1, cols)
    return run


def _float_array(t, ndim):
    return isinstance(t, types.Array) and t.ndim == ndim and t.dtype == types.float32


def _ir_tile(rows, vectors, edge):
    def typer(C, A, B, bias, accumulate, i0, j0, *ints):
        if not (_float_array(C, 2) and _float_array(A, 2) and _float_array(B, 2) and _float_array(bias, 1)
                and isinstance(accumulate, types.Boolean)
                and all(isinstance(t, types.Integer) and t.signed for t in (i0, j0) + ints)):
            return None
        return types.void(C, A, B, bias, accumulate, i0, j0, *ints)

    def codegen(context, builder, sig, args):
        C, A, B, bias = (_Array(context, builder, t, v) for t, v in zip(sig.args[:4], args[:4]))
        accumulate, i0, j0 = args[4], _intp(builder, args[5]), _intp(builder, args[6])
        cols = _intp(builder, args[7]) if edge else None
        k0, k1 = (_intp(builder, a) for a in args[-2:])
        mask = _lanes_below(builder, cols) if edge else None
        acc = [[cgutils.alloca_once(builder, _VEC) for _ in range(vectors)] for _ in range(rows)]
        columns = [builder.add(j0, ir.Constant(j0.type, v * LANES)) for v in range(vectors)]
        rows_at = [builder.add(i0, ir.Constant(i0.type, r)) for r in range(rows)]
        with builder.if_else(accumulate) as (from_c, otherwise):
            with from_c:
                for r in range(rows):
                    for v in range(vectors):
                        builder.store(C.load(builder, rows_at[r], columns[v], mask), acc[r][v])
            with otherwise:
                has_bias = builder.icmp_signed('>', bias.shape[0], ir.Constant(bias.shape[0].type, 0))
                with builder.if_else(has_bias) as (from_bias, from_zero):
                    with from_bias:
                        for v in range(vectors):
                            b = bias.load(builder, None, columns[v], mask)
                            for r in range(rows):
                                builder.store(b, acc[r][v])
                    with from_zero:
                        for r in range(rows):
                            for v in range(vectors):
                                builder.store(_ZERO, acc[r][v])
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3), 'llvm.fma.v16f32')
        with cgutils.for_range(builder, builder.sub(k1, k0)) as loop:
            k = builder.add(k0, loop.index)
            b = [B.load(builder, k, columns[v], mask) for v in range(vectors)]
            for r in range(rows):
                a = _broadcast(builder, A.load_scalar(builder, rows_at[r], k))
                for v in range(vectors):
                    builder.store(builder.call(fma, [a, b[v], builder.load(acc[r][v])]), acc[r][v])
        for r in range(rows):
            for v in range(vectors):
                C.store(builder, rows_at[r], columns[v], builder.load(acc[r][v]), mask)
        return context.get_dummy_value()

    if edge:
        def emit(typingctx, C, A, B, bias, accumulate, i0, j0, cols, k0, k1):
            return typer(C, A, B, bias, accumulate, i0, j0, cols, k0, k1), codegen
    else:
        def emit(typingctx, C, A, B, bias, accumulate, i0, j0, k0, k1):
            return typer(C, A, B, bias, accumulate, i0, j0, k0, k1), codegen
    emit.__name__ = f"tile_{rows}x{vectors * LANES}{'_edge' if edge else ''}"
    return intrinsic(emit)


def _intp(builder, value):
    return builder.sext(value, ir.IntType(64)) if value.type.width < 64 else value


def _broadcast(builder, scalar):
    lane0 = builder.insert_element(ir.Constant(_VEC, ir.Undefined), scalar, ir.Constant(_I32, 0))
    return builder.shuffle_vector(lane0, ir.Constant(_VEC, ir.Undefined), ir.Constant(_I32X16, [0] * LANES))


def _lanes_below(builder, cols):
    limit = builder.insert_element(ir.Constant(_I32X16, ir.Undefined), builder.trunc(cols, _I32), ir.Constant(_I32, 0))
    limit = builder.shuffle_vector(limit, ir.Constant(_I32X16, ir.Undefined), ir.Constant(_I32X16, [0] * LANES))
    return builder.icmp_signed('<', ir.Constant(_I32X16, list(range(LANES))), limit)


class _Array:
    """A float32 array's data pointer and byte strides, and 16-lane loads and stores along its last axis."""

    def __init__(self, context, builder, aryty, value):
        ary = context.make_array(aryty)(context, builder, value)
        self.data = builder.bitcast(ary.data, _BYTES)
        self.shape = cgutils.unpack_tuple(builder, ary.shape, aryty.ndim)
        self.strides = cgutils.unpack_tuple(builder, ary.strides, aryty.ndim)
        self.unit = aryty.layout == 'C'  # elements adjacent along the last axis: one vector load or store

    def _pointer(self, builder, i, j):
        offset = builder.mul(j, self.strides[-1])
        if i is not None:
            offset = builder.add(offset, builder.mul(i, self.strides[0]))
        return builder.bitcast(builder.gep(self.data, [offset]), _F32.as_pointer())

    def load_scalar(self, builder, i, j):
        return builder.load(self._pointer(builder, i, j), align=4)

    def load(self, builder, i, j, mask):
        """Lanes j..j+16 of row i (of the array itself when i is None); lanes off the mask read as 0."""
        if self.unit:
            pointer = builder.bitcast(self._pointer(builder, i, j), _VEC.as_pointer())
            if mask is None:
                return builder.load(pointer, align=4)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(_VEC, [_VEC.as_pointer(), _I32, _MASK, _VEC]),
                'llvm.masked.load.v16f32.p0v16f32')
            return builder.call(fn, [pointer, ir.Constant(_I32, 4), mask, _ZERO])
        vector = _ZERO
        for c in range(LANES):
            lane = ir.Constant(j.type, c)
            if mask is None:
                value = self.load_scalar(builder, i, builder.add(j, lane))
            else:  # a lane off the mask reads lane 0 (always within the row) and is then zeroed
                inside = builder.extract_element(mask, ir.Constant(_I32, c))
                at = builder.add(j, builder.select(inside, lane, ir.Constant(j.type, 0)))
                value = builder.select(inside, self.load_scalar(builder, i, at), ir.Constant(_F32, 0.0))
            vector = builder.insert_element(vector, value, ir.Constant(_I32, c))
        return vector

    def store(self, builder, i, j, vector, mask):
        if self.unit:
            pointer = builder.bitcast(self._pointer(builder, i, j), _VEC.as_pointer())
            if mask is None:
                builder.store(vector, pointer, align=4)
                return
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [_VEC, _VEC.as_pointer(), _I32, _MASK]),
                'llvm.masked.store.v16f32.p0v16f32')
            builder.call(fn, [vector, pointer, ir.Constant(_I32, 4), mask])
            return
        for c in range(LANES):
            value = builder.extract_element(vector, ir.Constant(_I32, c))
            at = builder.add(j, ir.Constant(j.type, c))
            if mask is None:
                builder.store(value, self._pointer(builder, i, at), align=4)
            else:
                with builder.if_then(builder.extract_element(mask, ir.Constant(_I32, c))):
                    builder.store(value, self._pointer(builder, i, at), align=4)
