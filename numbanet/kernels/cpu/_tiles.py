"""The register tiles behind gemm() (matmul.py): C (M,N) = A (M,K) @ B (K,N), plus bias or plus C.

gemm_rows computes C in register tiles of MR x NR = 4 x 64 (_microtile.py: how a tile works, and why it is
written as LLVM IR): 4 x 64 float32 is 16 AVX-512 registers. Columns past the last 64 take a 4 x 32
tile, then 16-wide tiles under a mask; rows past the last 4 take one-row tiles. Products of TALL_ROWS rows
or more take 6 x 64 tiles instead (24 registers; each row of B serves six rows of A): faster on the
convnet's three products of its second layer and the MLP's first layer, 2 threads, each product alone (an
A/B of gemm at those shapes, alternating processes); a whole convnet step, bound by memory traffic, barely.
A thin product, 9 rows for a first convolution's weight gradient, keeps the 4-row tiles: its leftover rows
made it slower with 6.
k runs in blocks of KC: a conv's weight gradient sums over N*Ho*Wo rows (15,488 in the MNIST convnet), and
a panel of B that long would fall out of L2 between tiles. (At the MLP's shapes k fits in one block.) The
columns run in panels of NC, each finished before the next, so that the KC x NC block of B every band of
rows reads stays in L2 however wide the layer (at the reference MLP's widths there is one panel).
B and C should be C-contiguous (other layouts work, slowly); A may have any layout, so dense_backward
passes inp.T without a copy.
Every C element is summed by one thread in ascending k, so results do not depend on the thread count.
"""
import llvmlite.binding as llvm
import numpy as np
from numba import typeof, types
from numba.core import config

from numbanet.kernels.cpu._compiled import slot_for
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import parallel_for
from numbanet.kernels.cpu._microtile import LANES, edge_tile, tile

MR = 4           # rows of C per register tile
MR6 = 6          # rows of C per tile in long products (TALL_ROWS and more rows)
TALL_ROWS = 48
# The 6-row tiles paid on the Intel Xeon they were measured on (17-25% on the biggest products, commit a322d13),
# but on AMD's Zen 4 the IR 6 x 64 tile ran at 40 GFLOP/s a core against 96-111 for the 4 x 64 one (four of the
# MLP's product shapes, one thread, 2026-11-30): there every product takes the 4-row tiles, and the 6-row ones
# are compiled out of gemm_rows. The CPU is the one numba compiles for, which its cache index records.
SIX_ROWS = not (config.CPU_NAME or llvm.get_host_cpu_name()).startswith('znver')
NR = 64          # columns of C per register tile
NE = LANES       # width of the tiles that cover the last N % NR columns: one vector
NH = NR // 2      # width of the half tile that may follow the full ones
NW = 256         # width of the one-row tiles: a lone row (batch-1 inference) reads each row of B whole
KC = 512         # k per pass over a band of C: a 512 x 64 panel of B is 128 KB, well inside a core's L2
NC = 512         # columns per panel: a KC x NC block of B (1 MB) stays in a core's L2 while all bands pass
# Below this many flops a thread pool costs more than it saves: waking a sleeping worker takes about
# 25 us on this kind of VM, as long as a 4-MFLOP product takes on one core.
PARALLEL_MIN_FLOPS = 1 << 22
NO_BIAS = np.zeros(0, np.float32)


# Each tile sums k over [k0, k1): gemm_rows walks k in blocks of KC so that a panel of B stays in the
# core's L2 while every tile of the band passes over it; a tile starts from C (accumulate) after the first.
tile_4xNR = tile(MR, NR // LANES)
tile_6xNR = tile(MR6, NR // LANES)  # 24 accumulators; each row of B read from L2 serves six rows of A, not four
tile_6xNH = tile(MR6, NH // LANES)
tile_4xNH = tile(MR, NH // LANES)  # the 32 columns past the last full tile (32 and 96 filters are common)
tile_1xNR = tile(1, NR // LANES)  # leftover rows
# One row of C is bound by how fast B streams in; 256 columns at once read every row of B as one contiguous
# 1 KB run, which the prefetchers follow better than four 256-byte pieces (batch-1 inference).
tile_1xNW = tile(1, NW // LANES)
tile_4xNE = edge_tile(MR)  # the last cols <= NE columns
tile_1xNE = edge_tile(1)


@njit(cache=True, inline='always')
def relu_rows(C, i0, i1, j0, j1):
    # A fused ReLU, applied to the cells the tiles have just stored, while they are still in L1.
    for i in range(i0, i1):
        crow = C[i, j0:j1]
        for c in range(crow.shape[0]):
            v = crow[c]
            crow[c] = v if v > 0.0 else 0.0


# gemm_entry takes A in any layout and hands its body A[:, :], which numba types as layout 'A' whatever A's own
# layout: one compiled copy of the tiles then serves both the row-major A of a forward product and the
# transposed A of a weight gradient, where each layout used to compile its own copy of every tile (about
# 8 s of a cold start, bench/compile_report.py). The tiles read A one scalar at a time, so not knowing its
# strides at compile time costs nothing measurable. Jitted callers of gemm_rows pass A as X[lo:hi, :] (layout
# 'A') for the same reason, and r0, accumulate and relu as typed values, never as constants (np.int64(0), not
# 0): numba compiles a callee once per literal it is handed, each a copy of gemm_rows and all its tiles.
# The body, gemm_rows or the packed tree's block of columns (_packed.py), is called through its
# address (_compiled.py: why), so this entry, which also shares the rows out between threads (_launch.py),
# compiles once for both, and small.
@njit(cache=True)
def gemm_entry(C, A, B, bias, accumulate, relu, a_transposed, table, body, by_columns, threads, pool):
    # C = A @ B, or A.T @ B when a_transposed (the weight gradient reads the input as it is stored). The body
    # in table[body] (_compiled.py), called with (C, A, B, bias, accumulate, relu, lo, hi), computes rows lo..hi
    # of C, or columns lo..hi when by_columns. Several threads take one contiguous block of rows each, a
    # multiple of MR: no two write one cell, and each walks the same panels of B, which every core then holds
    # in its own L1. The packed tree splits the columns instead, in multiples of NR, so that each thread copies
    # only its own panels of B. pool: _launch.pool()'s array.
    a = A.T[:, :] if a_transposed else A[:, :]
    n = C.shape[1] if by_columns else C.shape[0]
    unit = NR if by_columns else MR
    units = max(1, (n + unit - 1) // unit)  # (an empty C: one empty piece)
    pieces = min(max(1, threads), units)
    parallel_for(pool, table, body, n, (units + pieces - 1) // pieces * unit, (C, a, B, bias, accumulate, relu))


@njit(cache=True)
def gemm_rows(C, A, B, bias, accumulate, relu, r0, r1):
    # Rows r0..r1 of C, every column: 6- or 4-row tiles, then single rows; 64-wide tiles, then 32-wide, then
    # 16-wide. Every element gets the same multiply-adds in the same order whatever tile holds it.
    N = C.shape[1]
    K = A.shape[1]
    tall = SIX_ROWS and r1 - r0 >= TALL_ROWS
    # The columns in panels of NC, each finished over all k before the next: every band of rows passes over
    # one KC x NC block of B (1 MB) while it stays in L2, and the panel's part of C stays there across k
    # blocks. Over all N columns at once, a 4096-wide layer streamed an 8 MB block of B from L3 for each band
    # of rows: 85 against 200+ GFLOP/s (bench/scaling.py). A row's tiles are the same in every panel.
    for jc in range(0, N, NC):
        jn = min(N, jc + NC)
        full = jn - (jn - jc) % NR
        half = full + NH if jn - full >= NH else full
        wide = jn - (jn - jc) % NW
        for k0 in range(0, max(K, 1), KC):
            k1 = min(K, k0 + KC)
            acc = accumulate or k0 > 0
            last = relu and k1 == K
            i = r0
            while i < r1:
                if tall and i + MR6 <= r1:
                    for j0 in range(jc, full, NR):
                        tile_6xNR(C, A, B, bias, acc, i, j0, k0, k1)
                    if half > full:
                        tile_6xNH(C, A, B, bias, acc, i, full, k0, k1)
                    for j0 in range(half, jn, NE):
                        tile_4xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                        tile_1xNE(C, A, B, bias, acc, i + 4, j0, min(NE, jn - j0), k0, k1)
                        tile_1xNE(C, A, B, bias, acc, i + 5, j0, min(NE, jn - j0), k0, k1)
                    step = MR6
                elif i + MR <= r1:
                    for j0 in range(jc, full, NR):
                        tile_4xNR(C, A, B, bias, acc, i, j0, k0, k1)
                    if half > full:
                        tile_4xNH(C, A, B, bias, acc, i, full, k0, k1)
                    for j0 in range(half, jn, NE):
                        tile_4xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                    step = MR
                else:
                    for j0 in range(jc, wide, NW):
                        tile_1xNW(C, A, B, bias, acc, i, j0, k0, k1)
                    for j0 in range(wide, full, NR):
                        tile_1xNR(C, A, B, bias, acc, i, j0, k0, k1)
                    for j0 in range(full, jn, NE):
                        tile_1xNE(C, A, B, bias, acc, i, j0, min(NE, jn - j0), k0, k1)
                    step = 1
                if last:
                    relu_rows(C, i, i + step, jc, jn)
                i += step


def body_for(fn, C, A, B, bias):
    """The slot of fn (gemm_rows or packed_columns) compiled for the arguments gemm_entry(C, A, B, bias, ...) hands
    it: A as A[:, :] or A.T[:, :], both typed layout 'A' by numba. (Other types make gemm_entry raise TypeError.)
    The tiles multiply float32 only."""
    if not (C.dtype == A.dtype == B.dtype == bias.dtype == np.float32):
        raise TypeError(f"the GEMM takes float32 arrays, got C {C.dtype}, A {A.dtype}, B {B.dtype}, bias {bias.dtype}")
    return slot_for(fn, (C, A, B, bias), _body_types)


def _body_types(C, A, B, bias):
    return (typeof(C), typeof(A).copy(layout='A'), typeof(B), typeof(bias), types.boolean, types.boolean,
            types.int64, types.int64)
