"""Matrix multiply, the arithmetic behind Dense: C (M,N) = A (M,K) @ B (K,N), plus bias or plus C.

gemm() computes C in register tiles of MR x NR. For each k a tile broadcasts MR values of A's column
k and multiplies them into one NR-wide contiguous row of B (the outer-product form). The tile sits on
the stack (see _stack.py), which lets LLVM keep it in vector registers for the whole k loop:
4 x 64 float32 is 16 AVX-512 registers. (Blocking k so a panel of B stays in L1 was measured at the
MLP's shapes and gained nothing over streaming B from L2, so the loops stay simple.)
B and C should be C-contiguous (other layouts work, slowly); A may have any layout, so dense_backward
passes inp.T without a copy.
Every C element is summed by one thread in ascending k, so results do not depend on the thread count.
"""
import numba
import numpy as np
from numba import njit, prange

from numbanet.kernels.cpu._stack import stack_f32

MR = 4           # rows of C per register tile
NR = 64          # columns of C per register tile
TILE = MR * NR
NE = 16          # width of the tiles that cover the last N % NR columns
TILE_E = MR * NE
NW = 256         # width of the one-row tiles: a lone row (batch-1 inference) reads each row of B whole
# Contraction into FMA only. No reassociation: the k sum runs in a fixed order, reproducibly.
_FM = {'contract'}
# Below this many flops a thread pool costs more than it saves: waking a sleeping worker takes about
# 25 us on this kind of VM, as long as a 4-MFLOP product takes on one core.
PARALLEL_MIN_FLOPS = 1 << 22
NO_BIAS = np.zeros(0, np.float32)


@njit(cache=True, fastmath=_FM, inline='always')
def _load_tile(acc, width, C, bias, accumulate, i0, rows, j0, cols):
    # acc holds rows x width values, row r at acc[r * width:]; only the first cols are used.
    if accumulate:
        for r in range(rows):
            crow = C[i0 + r, j0:]
            for c in range(cols):
                acc[r * width + c] = crow[c]
    elif bias.shape[0] > 0:
        brow = bias[j0:]
        for r in range(rows):
            for c in range(cols):
                acc[r * width + c] = brow[c]
    else:
        for r in range(rows):
            for c in range(width):
                acc[r * width + c] = 0.0


@njit(cache=True, fastmath=_FM, inline='always')
def _store_tile(C, acc, width, i0, rows, j0, cols):
    for r in range(rows):
        crow = C[i0 + r, j0:]
        for c in range(cols):
            crow[c] = acc[r * width + c]


# In the tiles, rows of B are sliced (bk = B[k, j0:...]) rather than indexed as B[k, j0 + c]: with a
# variable j0 numba must allow for a negative index and wrap it, which stops LLVM from vectorising.

@njit(cache=True, fastmath=_FM)
def _tile_4xNR(C, A, B, bias, accumulate, i0, j0):
    acc = stack_f32(TILE)
    _load_tile(acc, NR, C, bias, accumulate, i0, MR, j0, NR)
    for k in range(A.shape[1]):
        a0 = A[i0, k]
        a1 = A[i0 + 1, k]
        a2 = A[i0 + 2, k]
        a3 = A[i0 + 3, k]
        bk = B[k, j0:j0 + NR]
        for c in range(NR):
            b = bk[c]
            acc[c] += a0 * b
            acc[NR + c] += a1 * b
            acc[2 * NR + c] += a2 * b
            acc[3 * NR + c] += a3 * b
    _store_tile(C, acc, NR, i0, MR, j0, NR)


@njit(cache=True, fastmath=_FM)
def _tile_1xNR(C, A, B, bias, accumulate, i, j0):
    # Leftover rows, and batch-1 inference: one row of C, still register-resident.
    acc = stack_f32(NR)
    _load_tile(acc, NR, C, bias, accumulate, i, 1, j0, NR)
    for k in range(A.shape[1]):
        a = A[i, k]
        bk = B[k, j0:j0 + NR]
        for c in range(NR):
            acc[c] += a * bk[c]
    _store_tile(C, acc, NR, i, 1, j0, NR)


@njit(cache=True, fastmath=_FM)
def _tile_1xNW(C, A, B, bias, accumulate, i, j0):
    # One row of C is bound by how fast B streams in; 256 columns at once read every row of B as one
    # contiguous 1 KB run, which the prefetchers follow better than four 256-byte pieces.
    acc = stack_f32(NW)
    _load_tile(acc, NW, C, bias, accumulate, i, 1, j0, NW)
    for k in range(A.shape[1]):
        a = A[i, k]
        bk = B[k, j0:j0 + NW]
        for c in range(NW):
            acc[c] += a * bk[c]
    _store_tile(C, acc, NW, i, 1, j0, NW)


@njit(cache=True, fastmath=_FM)
def _tile_4xNE(C, A, B, bias, accumulate, i0, j0, cols):
    # The last cols <= NE columns. The width stays the constant NE so the tile stays in registers;
    # columns past cols multiply zeros (a masked load) and are never stored.
    acc = stack_f32(TILE_E)
    _load_tile(acc, NE, C, bias, accumulate, i0, MR, j0, cols)
    for k in range(A.shape[1]):
        a0 = A[i0, k]
        a1 = A[i0 + 1, k]
        a2 = A[i0 + 2, k]
        a3 = A[i0 + 3, k]
        bk = B[k, j0:]
        for c in range(NE):
            b = bk[c] if c < cols else np.float32(0.0)
            acc[c] += a0 * b
            acc[NE + c] += a1 * b
            acc[2 * NE + c] += a2 * b
            acc[3 * NE + c] += a3 * b
    _store_tile(C, acc, NE, i0, MR, j0, cols)


@njit(cache=True, fastmath=_FM)
def _tile_1xNE(C, A, B, bias, accumulate, i, j0, cols):
    acc = stack_f32(NE)
    _load_tile(acc, NE, C, bias, accumulate, i, 1, j0, cols)
    for k in range(A.shape[1]):
        a = A[i, k]
        bk = B[k, j0:]
        for c in range(NE):
            b = bk[c] if c < cols else np.float32(0.0)
            acc[c] += a * b
    _store_tile(C, acc, NE, i, 1, j0, cols)


@njit(cache=True)
def _gemm_rows(C, A, B, bias, accumulate, r0, r1):
    # Rows r0..r1 of C, every column: 4-row tiles, then single rows; 64-wide tiles, then 16-wide.
    N = C.shape[1]
    full = N - N % NR
    i = r0
    while i < r1:
        if i + MR <= r1:
            for j0 in range(0, full, NR):
                _tile_4xNR(C, A, B, bias, accumulate, i, j0)
            for j0 in range(full, N, NE):
                _tile_4xNE(C, A, B, bias, accumulate, i, j0, min(NE, N - j0))
            i += MR
        else:
            wide = N - N % NW
            for j0 in range(0, wide, NW):
                _tile_1xNW(C, A, B, bias, accumulate, i, j0)
            for j0 in range(wide, full, NR):
                _tile_1xNR(C, A, B, bias, accumulate, i, j0)
            for j0 in range(full, N, NE):
                _tile_1xNE(C, A, B, bias, accumulate, i, j0, min(NE, N - j0))
            i += 1


@njit(cache=True)
def _gemm_serial(C, A, B, bias, accumulate):
    _gemm_rows(C, A, B, bias, accumulate, 0, C.shape[0])


@njit(cache=True, parallel=True)
def _gemm_parallel(C, A, B, bias, accumulate, threads):
    # One contiguous block of rows per thread (a multiple of MR): no two threads write one cell,
    # and each thread walks the same panels of B, which every core then holds in its own L1.
    M = C.shape[0]
    bands = (M + MR - 1) // MR
    chunks = min(threads, bands)
    per = (bands + chunks - 1) // chunks * MR
    for t in prange(chunks):
        _gemm_rows(C, A, B, bias, accumulate, min(M, t * per), min(M, (t + 1) * per))


def _check(C, A, B, bias):
    # The tiles index without bounds checks: shapes that do not chain would read and write past the
    # arrays. (Any layout is safe: numba compiles strided variants. C-contiguous B and C are just fast.)
    M, N = C.shape
    if A.shape[0] != M or B.shape[1] != N or A.shape[1] != B.shape[0]:
        raise ValueError(f"gemm shapes do not chain: C {C.shape} = A {A.shape} @ B {B.shape}")
    if bias.shape[0] != 0 and bias.shape[0] != N:
        raise ValueError(f"gemm bias has {bias.shape[0]} values for {N} columns")


def gemm(C, A, B, bias=None, accumulate=False):
    """C = A @ B + bias, or C += A @ B when accumulate (bias then ignored). bias None for none."""
    if bias is None:
        bias = NO_BIAS
    _check(C, A, B, bias)
    M, N = C.shape
    # Size first: asking numba for the thread count costs about as much as a batch-1 layer.
    if M > MR and 2 * M * N * A.shape[1] >= PARALLEL_MIN_FLOPS:
        threads = numba.get_num_threads()
        if threads > 1:
            _gemm_parallel(C, A, B, bias, accumulate, threads)
            return
    _gemm_serial(C, A, B, bias, accumulate)


def gemm_at(C, A_t, B, accumulate=False):
    """C = A_t^T @ B (+= when accumulate), reading A_t (K, M) as it is stored: the weight gradient. The
    tiles read A through any strides, so this is gemm on the transposed view."""
    gemm(C, A_t.T, B, None, accumulate)


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


@njit(cache=True)
def transpose(out, inp):
    """out (N,M) = inp (M,N)^T. Whole 8x8 blocks with constant trip counts (twice as fast as a
    variable-size blocking: LLVM unrolls them), then the ragged edges."""
    M, N = inp.shape
    Mf = M - M % 8
    Nf = N - N % 8
    for i0 in range(0, Mf, 8):
        for j0 in range(0, Nf, 8):
            block = inp[i0:i0 + 8, j0:j0 + 8]
            target = out[j0:j0 + 8, i0:i0 + 8]
            for a in range(8):
                for b in range(8):
                    target[b, a] = block[a, b]
    for i in range(Mf, M):
        for j in range(N):
            out[j, i] = inp[i, j]
    for i in range(Mf):
        for j in range(Nf, N):
            out[j, i] = inp[i, j]
