"""The products whose B has rows a multiple of 4 KB apart (hidden widths of 1024, 2048, 3072, ...), over a long k:
B read through packed copies of its blocks, by the same register tiles as every other product (_tiles.py).

Why: a tile reads, for each k, 64 values of B's row k. When those rows lie a multiple of PACK_STRIDE bytes
apart they all fall in the same few cache sets, and a panel of PACK_MIN_K rows or more no longer stays cached
between the bands of rows that read it. The tiles ran at half speed there: 59 against 124 GFLOP/s on one core
at 128 x 1024 x 1024 with B's panels copied contiguous first (a probe; `dense_forward[128x1024x1024]` in
bench/test_kernels.py times the product). Other products lose by the copies: one thread, 128 rows, K = 1024
(a scratch A/B of the two bodies through gemm_entry), packed against strided at widths 512, 1100, 1536 and
2560 took 1.22x, 1.22x, 1.05x and 1.08x as long, at 1024, 2048 and 3072 0.78x, 0.79x and 0.76x; at width
1024, K = 10 to 384 took 0.94x-1.18x as long packed, K = 512 0.86x. (An earlier rule, rows 4 KB apart or
more, packed all of those, and made the MNIST convnet compile this body for a K = 10 product.) So each KCP x NCP
block of B is copied into a stack buffer whose rows are NCP floats apart, and the 64-wide tiles read it; the
narrower tiles at the right edge read B itself. The threads split the columns: each copies only its own
panels of B, where a split by rows would have every thread copy all of B.

packed_columns is a body that gemm_entry (_tiles.py) calls through its address (_compiled.py): numba compiles
it only for a model that makes such a product, and the narrow products of every other model compile none
of it (a cold start pays 0.9 s for it after a narrow product; 2.9 s before the tiles were IR). Every C
element still gets the same multiply-adds in the same order as in gemm_rows, so the bits are those of the
strided tiles.
"""
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic, overload

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._stack import stack_f32
from numbanet.kernels.cpu._tiles import (MR, MR6, NE, NH, NR, SIX_ROWS, TALL_ROWS, relu_rows, tile_1xNE, tile_1xNR,
                                         tile_4xNE, tile_4xNH, tile_4xNR, tile_6xNH, tile_6xNR)

PACK_STRIDE = 4096  # B's rows a multiple of this many bytes apart share cache sets: their blocks are copied first
PACK_MIN_K = 512    # rows of B from which they no longer stay cached
PACK_MIN_ROWS = 32  # rows of C from which the copies repay themselves: 24 ran slower packed, 32 a little faster
KCP = 128           # k per packed block
NCP = 2 * NR        # columns per packed block: two tiles' worth, so each band of A serves both
PACKED = KCP * NCP  # floats of a packed block: 64 KB on the calling thread's stack. A 512 x 128 block (256 KB)
# crashed a thread made with threading.stack_size(192 * 1024). At 128 x 128 a width-1024 MLP trains as fast
# (bench/scaling.py worker, interleaved); 128 x 64 was 6-15% slower. Between blocks of k the tiles store and
# reload C, exactly (float32 either way).


def packs(C, B):
    """Whether C = A @ B is a product for the packed body."""
    return B.strides[0] % PACK_STRIDE == 0 and B.shape[0] >= PACK_MIN_K and C.shape[0] >= PACK_MIN_ROWS


def shifted(a, k0, j0):
    """A view of the 2-D C-contiguous a whose element [k, j] is a[k - k0, j - j0]: a tile that reads B[k, j]
    for its own k and j reads the packed block through it. (Plain Python, under NUMBA_DISABLE_JIT: an object
    that answers the tiles' fallback loops the same way.)"""
    return _Shifted(a, k0, j0)


class _Shifted:
    def __init__(self, a, k0, j0):
        self.a, self.k0, self.j0 = a, k0, j0

    def __getitem__(self, key):
        k, j = key
        if isinstance(j, slice):
            return self.a[k - self.k0, j.start - self.j0:j.stop - self.j0]
        return self.a[k - self.k0, j - self.j0]


@intrinsic
def _shifted(typingctx, a, k0, j0):
    # The same array struct with its data pointer moved back by k0 rows and j0 columns and k0 more rows. Only
    # the tiles' vector loads read it, by its strides; its width stays a's, so it is still a consistent C layout
    # (numba's own indexing of it would agree).
    def codegen(context, builder, sig, args):
        model = context.data_model_manager[sig.args[0]]
        at = {name: model.get_field_position(name) for name in ('data', 'shape', 'strides', 'nitems')}
        view, k0, j0 = args
        data, shape = builder.extract_value(view, at['data']), builder.extract_value(view, at['shape'])
        strides = builder.extract_value(view, at['strides'])
        back = builder.add(builder.mul(k0, builder.extract_value(strides, 0)),
                           builder.mul(j0, builder.extract_value(strides, 1)))
        moved = builder.gep(builder.bitcast(data, ir.IntType(8).as_pointer()), [builder.neg(back)])
        rows = builder.add(builder.extract_value(shape, 0), k0)
        view = builder.insert_value(view, builder.bitcast(moved, data.type), at['data'])
        view = builder.insert_value(view, builder.insert_value(shape, rows, 0), at['shape'])
        return builder.insert_value(view, builder.mul(rows, builder.extract_value(shape, 1)), at['nitems'])
    return a(a, k0, j0), codegen


@overload(shifted)
def _shifted_jit(a, k0, j0):
    return lambda a, k0, j0: _shifted(a, k0, j0)


@njit(cache=True)
def packed_columns(C, A, B, bias, accumulate, relu, c0, c1):
    # Columns c0..c1 of C, every row: NCP columns at a time, each over k in blocks of KCP, B's block copied first.
    # The loop over bands of rows is gemm_rows' own, written twice on purpose: one helper inlined into both at
    # numba's level made the narrow tree, which every model compiles, 0.3 s slower to compile (5%; two sets of
    # five interleaved rounds of a cold gemm).
    M = C.shape[0]
    K = A.shape[1]
    tall = SIX_ROWS and M >= TALL_ROWS  # (_tiles.py: not on Zen 4)
    buf = stack_f32(PACKED).reshape((KCP, NCP))
    for jc in range(c0, c1, NCP):
        jn = min(c1, jc + NCP)
        full = jn - (jn - jc) % NR
        half = full + NH if jn - full >= NH else full
        for k0 in range(0, max(K, 1), KCP):
            k1 = min(K, k0 + KCP)
            acc = accumulate or k0 > 0
            last = relu and k1 == K
            for k in range(k0, k1):
                for c in range(full - jc):
                    buf[k - k0, c] = B[k, jc + c]
            P = shifted(buf, k0, jc)
            i = 0
            while i < M:
                if tall and i + MR6 <= M:
                    for j0 in range(jc, full, NR):
                        tile_6xNR(C, A, P, bias, acc, i, j0, k0, k1)
                    if half > full:
                        tile_6xNH(C, A, B, bias, acc, i, full, k0, k1)
                    for j0 in range(half, jn, NE):
                        tile_4xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                        tile_1xNE(C, A, B, bias, acc, i + 4, j0, min(NE, jn - j0), k0, k1)
                        tile_1xNE(C, A, B, bias, acc, i + 5, j0, min(NE, jn - j0), k0, k1)
                    step = MR6
                elif i + MR <= M:
                    for j0 in range(jc, full, NR):
                        tile_4xNR(C, A, P, bias, acc, i, j0, k0, k1)
                    if half > full:
                        tile_4xNH(C, A, B, bias, acc, i, full, k0, k1)
                    for j0 in range(half, jn, NE):
                        tile_4xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                    step = MR
                else:
                    for j0 in range(jc, full, NR):
                        tile_1xNR(C, A, P, bias, acc, i, j0, k0, k1)
                    for j0 in range(full, jn, NE):
                        tile_1xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                    step = 1
                if last:
                    relu_rows(C, i, i + step, jc, jn)
                i += step
