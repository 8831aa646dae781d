"""Matrix multiply on the GPU: C (M,N) = A (M,K) @ B (K,N), plus bias or plus C. The CUDA twin of
kernels/cpu/matmul.py: same names, same arguments.

Each block computes a TILE x TILE piece of C: step by step along k it loads a tile of A and a tile of B
into shared memory, and every thread adds one row-by-column product from them. Each C element is one
thread's sum in ascending k, so results are deterministic.
"""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import no_bias

TILE = 16


@cuda.jit
def _gemm_tiled(C, A, B, bias, accumulate, transpose_a, relu):
    # transpose_a: A holds A^T (K, M), so dense_backward needs no transposed copy of its input.
    tile_a = cuda.shared.array((TILE, TILE), float32)
    tile_b = cuda.shared.array((TILE, TILE), float32)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    row = cuda.blockIdx.y * TILE + ty
    col = cuda.blockIdx.x * TILE + tx
    M = C.shape[0]
    N = C.shape[1]
    K = B.shape[0]
    acc = float32(0.0)
    for k0 in range(0, K, TILE):
        ka = k0 + tx
        if row < M and ka < K:
            tile_a[ty, tx] = A[ka, row] if transpose_a else A[row, ka]
        else:
            tile_a[ty, tx] = 0.0
        kb = k0 + ty
        if kb < K and col < N:
            tile_b[ty, tx] = B[kb, col]
        else:
            tile_b[ty, tx] = 0.0
        cuda.syncthreads()
        for kk in range(TILE):
            acc += tile_a[ty, kk] * tile_b[kk, tx]
        cuda.syncthreads()
    if row < M and col < N:
        if accumulate:
            v = C[row, col] + acc
        elif bias.shape[0] > 0:
            v = acc + bias[col]
        else:
            v = acc
        C[row, col] = v if not relu or v > 0.0 else float32(0.0)


def _launch(C, A, B, bias, accumulate, transpose_a, relu=False):
    M, N = C.shape
    K = A.shape[0] if transpose_a else A.shape[1]
    rows = A.shape[1] if transpose_a else A.shape[0]
    if rows != M or B.shape[1] != N or K != B.shape[0]:
        raise ValueError(f"gemm shapes do not chain: C {C.shape} = A{'^T' if transpose_a else ''} "
                         f"{A.shape} @ B {B.shape}")
    if bias.shape[0] != 0 and bias.shape[0] != N:
        raise ValueError(f"gemm bias has {bias.shape[0]} values for {N} columns")
    grid = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    _gemm_tiled[grid, (TILE, TILE)](C, A, B, bias, accumulate, transpose_a, relu)


def gemm(C, A, B, bias=None, accumulate=False, relu=False):
    """C = A @ B + bias, or C += A @ B when accumulate. bias None for none. relu: then C = max(C, 0), fused."""
    _launch(C, A, B, no_bias() if bias is None else bias, accumulate, False, relu)


def gemm_call(C, A, B, bias=None, relu=False):
    """(fn, args) with fn(*args) doing gemm(C, A, B, bias, False, relu): the CPU's saves Python per call."""
    return gemm, (C, A, B, bias, False, relu)


def gemm_at(C, A_t, B, accumulate=False):
    """C = A_t^T @ B (+= when accumulate), reading A_t (K, M) as it is stored: the weight gradient."""
    _launch(C, A_t, B, no_bias(), accumulate, True)


def gemm_at_call(C, A_t, B, accumulate=False):
    """(fn, args) with fn(*args) doing gemm_at(C, A_t, B, accumulate), as gemm_call."""
    return gemm_at, (C, A_t, B, accumulate)


@cuda.jit
def _gemm_simple(C, A, B, bias, accumulate):
    i, j = cuda.grid(2)
    if i < C.shape[0] and j < C.shape[1]:
        if accumulate:
            s = C[i, j]
        elif bias.shape[0] > 0:
            s = bias[j]
        else:
            s = float32(0.0)
        for k in range(A.shape[1]):
            s += A[i, k] * B[k, j]
        C[i, j] = s


def gemm_reference(C, A, B, bias, accumulate):
    """One thread per element, no shared memory: what gemm() is tested against."""
    M, N = C.shape
    _gemm_simple[((M + 15) // 16, (N + 15) // 16), (16, 16)](C, A, B, no_bias() if bias is None else bias, accumulate)


@cuda.jit
def _transpose_kernel(out, inp):
    i, j = cuda.grid(2)
    if i < inp.shape[0] and j < inp.shape[1]:
        out[j, i] = inp[i, j]


def transpose(out, inp):
    fn, args = transpose_call(out, inp)
    fn(*args)


def transpose_call(out, inp):
    """(fn, args) with fn(*args) doing transpose(out, inp), checked once."""
    M, N = inp.shape
    if out.shape != (N, M):
        raise ValueError(f"transpose of {inp.shape} needs an output of shape {(N, M)}, got {out.shape}")
    return _transpose_kernel[((M + 15) // 16, (N + 15) // 16), (16, 16)], (out, inp)
