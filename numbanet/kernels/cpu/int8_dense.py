"""Int8 inference for Dense: activations quantized per row, weights per output column (both symmetric),
int8 x int8 products summed exactly in int32, then rescaled to float32 with the bias added.

    out[b, n] = (sum_k xq[b, k] * wq[k, n]) * x_scale[b] * w_scale[n] + bias[n]

The matmul has the float one's shape (kernels/cpu/matmul.py): register tiles of int32 accumulators on
the stack, outer-product form, rows of the int8 weight read contiguously. Weights are a quarter of the
bytes, which is what makes small batches faster; at large batches the int32 multiplies (no AVX-512 VNNI
from LLVM here) cost more than float32 FMAs.
"""
import math

import numba
import numpy as np
from numba import njit, prange

from numbanet.kernels.cpu._stack import stack_i32
from numbanet.kernels.cpu.matmul import PARALLEL_MIN_FLOPS

MR = 4
NR = 64
TILE = MR * NR
NE = 16
TILE_E = MR * NE


# Max-abs reductions vectorise only when LLVM may assume no NaN: the inputs were checked finite on the
# way in (and a layer's activations stay finite while its weights do).
_FM_Q = {'nnan', 'ninf', 'nsz'}


@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def _quantize_row(q, x, b, inv):
    for k in range(x.shape[1]):
        q[b, k] = np.int8(min(np.float32(127.0), max(np.float32(-127.0), np.rint(x[b, k] * inv))))


@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def quantize_rows(q, scales, x):
    # q: (B, K) int8; scales: (B,); x: (B, K) float32. Per-row symmetric: scale = max|x| / 127.
    for b in range(x.shape[0]):
        m = np.float32(0.0)
        for k in range(x.shape[1]):
            m = max(m, abs(x[b, k]))
        scale = m / np.float32(127.0) if m > 0.0 else np.float32(1.0)
        scales[b] = scale
        _quantize_row(q, x, b, np.float32(1.0) / scale)


@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def quantize_static(q, scales, x, scale):
    # The same with one calibrated scale for every row; values beyond 127 * scale saturate.
    inv = np.float32(1.0 / scale)
    for b in range(x.shape[0]):
        scales[b] = scale
        _quantize_row(q, x, b, inv)


@njit(cache=True, inline='always')
def _store(out, acc, width, i0, rows, j0, cols, x_scales, w_scales, bias):
    for r in range(rows):
        orow = out[i0 + r, j0:]
        sx = x_scales[i0 + r]
        for c in range(cols):
            v = np.float32(acc[r * width + c]) * sx * w_scales[j0 + c]
            orow[c] = v + bias[j0 + c] if bias.shape[0] > 0 else v


@njit(cache=True)
def _tile_4xNR(out, xq, wq, x_scales, w_scales, bias, i0, j0):
    acc = stack_i32(TILE)
    for c in range(TILE):
        acc[c] = 0
    for k in range(xq.shape[1]):
        a0 = np.int32(xq[i0, k])
        a1 = np.int32(xq[i0 + 1, k])
        a2 = np.int32(xq[i0 + 2, k])
        a3 = np.int32(xq[i0 + 3, k])
        wk = wq[k, j0:j0 + NR]
        for c in range(NR):
            w = np.int32(wk[c])
            acc[c] += a0 * w
            acc[NR + c] += a1 * w
            acc[2 * NR + c] += a2 * w
            acc[3 * NR + c] += a3 * w
    _store(out, acc, NR, i0, MR, j0, NR, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_1xNR(out, xq, wq, x_scales, w_scales, bias, i, j0):
    acc = stack_i32(NR)
    for c in range(NR):
        acc[c] = 0
    for k in range(xq.shape[1]):
        a = np.int32(xq[i, k])
        wk = wq[k, j0:j0 + NR]
        for c in range(NR):
            acc[c] += a * np.int32(wk[c])
    _store(out, acc, NR, i, 1, j0, NR, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_4xNE(out, xq, wq, x_scales, w_scales, bias, i0, j0, cols):
    # The last cols < NR columns: a constant width NE with masked loads, as in matmul.py.
    acc = stack_i32(TILE_E)
    for c in range(TILE_E):
        acc[c] = 0
    for k in range(xq.shape[1]):
        a0 = np.int32(xq[i0, k])
        a1 = np.int32(xq[i0 + 1, k])
        a2 = np.int32(xq[i0 + 2, k])
        a3 = np.int32(xq[i0 + 3, k])
        wk = wq[k, j0:]
        for c in range(NE):
            w = np.int32(wk[c]) if c < cols else np.int32(0)
            acc[c] += a0 * w
            acc[NE + c] += a1 * w
            acc[2 * NE + c] += a2 * w
            acc[3 * NE + c] += a3 * w
    _store(out, acc, NE, i0, MR, j0, cols, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_1xNE(out, xq, wq, x_scales, w_scales, bias, i, j0, cols):
    acc = stack_i32(NE)
    for c in range(NE):
        acc[c] = 0
    for k in range(xq.shape[1]):
        a = np.int32(xq[i, k])
        wk = wq[k, j0:]
        for c in range(NE):
            acc[c] += a * (np.int32(wk[c]) if c < cols else np.int32(0))
    _store(out, acc, NE, i, 1, j0, cols, x_scales, w_scales, bias)


@njit(cache=True)
def _int8_rows(out, xq, x_scales, wq, w_scales, bias, r0, r1):
    N = out.shape[1]
    full = N - N % NR
    i = r0
    while i < r1:
        rows = MR if i + MR <= r1 else 1
        for j0 in range(0, full, NR):
            if rows == MR:
                _tile_4xNR(out, xq, wq, x_scales, w_scales, bias, i, j0)
            else:
                _tile_1xNR(out, xq, wq, x_scales, w_scales, bias, i, j0)
        for j0 in range(full, N, NE):
            if rows == MR:
                _tile_4xNE(out, xq, wq, x_scales, w_scales, bias, i, j0, min(NE, N - j0))
            else:
                _tile_1xNE(out, xq, wq, x_scales, w_scales, bias, i, j0, min(NE, N - j0))
        i += rows


@njit(cache=True)
def _int8_serial(out, xq, x_scales, wq, w_scales, bias):
    _int8_rows(out, xq, x_scales, wq, w_scales, bias, 0, out.shape[0])


@njit(cache=True, parallel=True)
def _int8_parallel(out, xq, x_scales, wq, w_scales, bias, threads):
    # As in matmul.py: one block of rows per thread, so no two threads write one cell.
    M = out.shape[0]
    bands = (M + MR - 1) // MR
    chunks = min(threads, bands)
    per = (bands + chunks - 1) // chunks * MR
    for t in prange(chunks):
        _int8_rows(out, xq, x_scales, wq, w_scales, bias, min(M, t * per), min(M, (t + 1) * per))


def int8_dense_forward(out, xq, x_scales, wq, w_scales, bias):
    # out (B,N) float32; xq (B,K) int8; x_scales (B,); wq (K,N) int8; w_scales (N,); bias (N,) or NO_BIAS.
    B, N = out.shape
    if xq.shape[0] != B or wq.shape[1] != N or xq.shape[1] != wq.shape[0] or x_scales.shape[0] < B \
            or w_scales.shape[0] != N or bias.shape[0] not in (0, N):
        raise ValueError(f"int8 dense shapes do not chain: out {out.shape}, x {xq.shape}, w {wq.shape}")
    if B > MR and 2 * B * N * xq.shape[1] >= PARALLEL_MIN_FLOPS:
        threads = numba.get_num_threads()
        if threads > 1:
            _int8_parallel(out, xq, x_scales, wq, w_scales, bias, threads)
            return
    _int8_serial(out, xq, x_scales, wq, w_scales, bias)


@njit(cache=True)
def int8_dense_reference(out, xq, x_scales, wq, w_scales, bias):
    """The plain loop the tiled kernel is tested against."""
    for b in range(out.shape[0]):
        for n in range(out.shape[1]):
            s = np.int32(0)
            for k in range(xq.shape[1]):
                s += np.int32(xq[b, k]) * np.int32(wq[k, n])
            v = np.float32(s) * x_scales[b] * w_scales[n]
            out[b, n] = v + bias[n] if bias.shape[0] > 0 else v
