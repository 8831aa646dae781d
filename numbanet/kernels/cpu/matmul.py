"""Matrix multiply, the arithmetic behind Dense and Conv: C (M,N) = A (M,K) @ B (K,N), plus bias or plus C.

The work happens in register tiles (_tiles.py: why they look as they do, measured); these functions check
the shapes, since the tiles index without bounds checks, and choose one thread or several.
"""
import numba
import numpy as np

from numbanet.kernels.cpu._compiled import TABLE
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import POOL, pool
from numbanet.kernels.cpu._packed import packed_columns, packs
from numbanet.kernels.cpu._tiles import MR, NO_BIAS, PARALLEL_MIN_FLOPS, body_for, gemm_entry, gemm_rows


def _check(C, A, B, bias):
    # The tiles index without bounds checks: shapes that do not chain would read and write past the
    # arrays. (Any layout is safe: the tiles read strided operands a value at a time. C-contiguous B and C
    # are just fast.) Their dtype, float32 only, is body_for's to check: every caller of the tiles passes there.
    M, N = C.shape
    if A.shape[0] != M or B.shape[1] != N or A.shape[1] != B.shape[0]:
        raise ValueError(f"gemm shapes do not chain: C {C.shape} = A {A.shape} @ B {B.shape}")
    if bias.shape[0] != 0 and bias.shape[0] != N:
        raise ValueError(f"gemm bias has {bias.shape[0]} values for {N} columns")


def gemm(C, A, B, bias=None, accumulate=False, relu=False):
    """C = A @ B + bias, or C += A @ B when accumulate (bias then ignored). bias None for none. relu: then
    C = max(C, 0), fused (a layer's ReLU, with no pass of its own over the output)."""
    if bias is None:
        bias = NO_BIAS
    _check(C, A, B, bias)
    fn, args = _bound(C, A, B, bias, accumulate, relu, False)
    fn(*args)


def gemm_at(C, A_t, B, accumulate=False):
    """C = A_t^T @ B (+= when accumulate), reading A_t (K, M) as it is stored: the weight gradient."""
    _check(C, A_t.T, B, NO_BIAS)
    fn, args = _bound(C, A_t, B, NO_BIAS, accumulate, False, True)
    fn(*args)


def gemm_call(C, A, B, bias=None, relu=False):
    """(fn, args) with fn(*args) doing gemm(C, A, B, bias, False, relu), for a caller that makes this product on
    these arrays again and again (a plan's forward): the shapes are checked once, here, and a product too small
    ever to take several threads calls the tiles directly, skipping about half a microsecond of Python."""
    bias = NO_BIAS if bias is None else bias
    _check(C, A, B, bias)
    return _bound(C, A, B, bias, False, relu, False)


def gemm_at_call(C, A_t, B, accumulate=False):
    """(fn, args) with fn(*args) doing gemm_at(C, A_t, B, accumulate), checked once, as gemm_call."""
    _check(C, A_t.T, B, NO_BIAS)
    return _bound(C, A_t, B, NO_BIAS, accumulate, False, True)


def _bound(C, A, B, bias, accumulate, relu, a_transposed):
    # Size first: asking numba for the thread count costs about as much as a batch-1 layer. B's rows 4 KB apart,
    # or 8, 12, ..., over a long k take the packed body (_packed.py), which only such products compile.
    packed = packs(C, B)
    body = body_for(packed_columns if packed else gemm_rows, C, A, B, bias)
    if _parallel(C, A.T if a_transposed else A):
        return _gemm_threads, (C, A, B, bias, accumulate, relu, a_transposed, body, packed, pool())
    return gemm_entry, (C, A, B, bias, accumulate, relu, a_transposed, TABLE, body, packed, 1, POOL)


def _gemm_threads(C, A, B, bias, accumulate, relu, a_transposed, body, by_columns, pool):
    # A bound product big enough for several threads asks for the count on every call: set_num_threads may have
    # changed it since the plan was made. (Asked inside a jitted function, numba would not cache the kernel.)
    gemm_entry(C, A, B, bias, accumulate, relu, a_transposed, TABLE, body, by_columns, numba.get_num_threads(), pool)


def _parallel(C, A):
    M, N = C.shape
    return M > MR and 2 * M * N * A.shape[1] >= PARALLEL_MIN_FLOPS


@njit(cache=True)
def gemm_reference(C, A, B, bias, accumulate):
    """The plain triple loop gemm() is tested against: same contract, same order of summation."""
    M, K = A.shape
    N = B.shape[1]
    for i in range(M):
        for j in range(N):
            if accumulate:
                s = C[i, j]
            elif bias is not None:  # None compiles to its own specialisation without the branch
                s = bias[j]
            else:
                s = np.float32(0.0)
            for k in range(K):
                s += A[i, k] * B[k, j]
            C[i, j] = s


def transpose(out, inp):
    """out (N,M) = inp (M,N)^T."""
    fn, args = transpose_call(out, inp)
    fn(*args)


def transpose_call(out, inp):
    """(fn, args) with fn(*args) doing transpose(out, inp), checked once."""
    if len(out.shape) != 2 or len(inp.shape) != 2 or out.shape != inp.shape[::-1]:
        raise ValueError(f"transpose of {inp.shape} needs an output of shape {inp.shape[::-1]}, got {out.shape}")
    return _transpose, (out, inp)


@njit(cache=True)
def _transpose(out, inp):
    # Whole 16 x 16 blocks with constant trip counts (LLVM unrolls them), each output row's 16 values written in
    # one go: one whole 64-byte line. Blocks of 8 wrote each line in two halves, a block's width apart in time;
    # when rows lie a power of two apart (1024 floats) the lines share cache sets and were evicted in between,
    # and 1024 x 1024 took over twice as long (dense_input_gradient[128x1024x1024] in bench/test_kernels.py
    # times it). Then the ragged edges, the last columns one output row at a time.
    M, N = inp.shape
    Mf = M - M % 16
    Nf = N - N % 16
    for i0 in range(0, Mf, 16):
        for j0 in range(0, Nf, 16):
            block = inp[i0:i0 + 16, j0:j0 + 16]
            target = out[j0:j0 + 16, i0:i0 + 16]
            for b in range(16):
                for a in range(16):
                    target[b, a] = block[a, b]
    for j in range(Nf, N):
        row = out[j]
        for i in range(M):
            row[i] = inp[i, j]
    for i in range(Mf, M):
        for j in range(Nf):
            out[j, i] = inp[i, j]
