"""Int8 inference for Dense: activations quantized per row, weights per output column (both symmetric),
int8 x int8 products summed exactly in int32, then rescaled to float32 with the bias added:

    out[b, n] = (sum_k xq[b, k] * wq[k, n]) * x_scale[b] * w_scale[n] + bias[n]

Layouts, chosen for AVX-512 VNNI (`vpdpbusd`, see _vnni.py), which multiplies unsigned by signed bytes in
groups of 4 along k:
- activations are stored shifted to unsigned, xq + 128, in rows padded to a multiple of 4 with 128 (= 0);
  the shift is undone with 128 * (column sums of the weights);
- weights are packed once per layer: word [k // 4, n] holds wq[k..k+3, n], columns padded to a multiple
  of 16 (one vector), so a row of 16 words is one load.
Tiles of 4 rows x 64 columns keep 16 vector accumulators in registers. Without VNNI (or without the JIT)
a plain loop computes the same integers.
"""

import numba
import numpy as np

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._launch import run
from numbanet.kernels.cpu._stack import stack_f32, stack_i32
from numbanet.kernels.cpu._vnni import HAS_VNNI, dpbusd
from numbanet.kernels.cpu.matmul import NO_BIAS, PARALLEL_MIN_FLOPS

MR = 4
NR = 64
LANES = 16
TILE_4x64 = 4 * NR      # stack tiles are sized by constants
TILE_4x16 = 4 * LANES
ZERO = 128  # the unsigned code of a zero activation
# Max-abs reductions vectorise only when LLVM may assume no NaN: the inputs were checked finite on the
# way in (and a layer's activations stay finite while its weights do).
_FM_Q = {'nnan', 'ninf', 'nsz'}


def _padded_k(K):
    return (K + 3) // 4 * 4


def _packed_shape(K, N):
    return _padded_k(K) // 4, (N + LANES - 1) // LANES * LANES


# ---- activations ---------------------------------------------------------------------------------------------
@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def _quantize_row(q, x, b, inv):
    K = x.shape[1]
    for k in range(K):
        q[b, k] = np.uint8(min(np.float32(127.0), max(np.float32(-127.0), np.rint(x[b, k] * inv))) + ZERO)
    for k in range(K, q.shape[1]):
        q[b, k] = ZERO


@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def _row_absmax(x, b):
    # 16 running maxima side by side (an elementwise max LLVM vectorises), then the 16 reduced: written as
    # one running max the loop stays scalar, 3x slower.
    lanes = stack_f32(LANES)
    for t in range(LANES):
        lanes[t] = 0.0
    K = x.shape[1]
    full = K - K % LANES
    row = x[b]
    for k0 in range(0, full, LANES):
        chunk = row[k0:k0 + LANES]
        for t in range(LANES):
            lanes[t] = max(lanes[t], abs(chunk[t]))
    m = np.float32(0.0)
    for t in range(LANES):
        m = max(m, lanes[t])
    for k in range(full, K):
        m = max(m, abs(row[k]))
    return m


@njit(cache=True, error_model='numpy', fastmath=_FM_Q)
def quantize_rows(q, scales, x):
    # q: (B, Kp) uint8, xq + 128; scales: (B,); x: (B, K) float32. Per row: scale = max|x| / 127.
    for b in range(x.shape[0]):
        m = _row_absmax(x, b)
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


# ---- weights ---------------------------------------------------------------------------------------------------
@njit(cache=True)
def _pack(packed_bytes, colsum, wq):
    K, N = wq.shape
    for k in range(K):
        for n in range(N):
            packed_bytes[k // 4, 4 * n + k % 4] = wq[k, n]
            colsum[n] += np.int32(wq[k, n])


def pack_int8_weights(wq):
    """(packed (Kp/4, Np) int32, column sums (Np,) int32) of an int8 kernel (K, N); made once per layer."""
    K4, Np = _packed_shape(*wq.shape)
    packed = np.zeros((K4, Np), np.int32)
    colsum = np.zeros(Np, np.int32)
    _pack(packed.view(np.int8).reshape(K4, 4 * Np), colsum, wq)
    return packed, colsum


# ---- the product -------------------------------------------------------------------------------------------------
@njit(cache=True, inline='always')
def _store(out, acc, width, i0, rows, j0, cols, colsum, x_scales, w_scales, bias):
    for r in range(rows):
        orow = out[i0 + r, j0:]
        sx = x_scales[i0 + r]
        for c in range(cols):
            v = np.float32(acc[r * width + c] - ZERO * colsum[j0 + c]) * sx * w_scales[j0 + c]
            orow[c] = v + bias[j0 + c] if bias.shape[0] > 0 else v


@njit(cache=True)
def _tile_4x64(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i0, j0):
    acc = stack_i32(TILE_4x64)
    for c in range(TILE_4x64):
        acc[c] = 0
    for kg in range(a32.shape[1]):
        w0 = a32[i0, kg]
        w1 = a32[i0 + 1, kg]
        w2 = a32[i0 + 2, kg]
        w3 = a32[i0 + 3, kg]
        p = kg * Np + j0
        dpbusd(acc, 0, w0, flat, p)
        dpbusd(acc, 16, w0, flat, p + 16)
        dpbusd(acc, 32, w0, flat, p + 32)
        dpbusd(acc, 48, w0, flat, p + 48)
        dpbusd(acc, 64, w1, flat, p)
        dpbusd(acc, 80, w1, flat, p + 16)
        dpbusd(acc, 96, w1, flat, p + 32)
        dpbusd(acc, 112, w1, flat, p + 48)
        dpbusd(acc, 128, w2, flat, p)
        dpbusd(acc, 144, w2, flat, p + 16)
        dpbusd(acc, 160, w2, flat, p + 32)
        dpbusd(acc, 176, w2, flat, p + 48)
        dpbusd(acc, 192, w3, flat, p)
        dpbusd(acc, 208, w3, flat, p + 16)
        dpbusd(acc, 224, w3, flat, p + 32)
        dpbusd(acc, 240, w3, flat, p + 48)
    _store(out, acc, NR, i0, 4, j0, NR, colsum, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_4x16(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i0, j0, cols):
    acc = stack_i32(TILE_4x16)
    for c in range(TILE_4x16):
        acc[c] = 0
    for kg in range(a32.shape[1]):
        p = kg * Np + j0
        dpbusd(acc, 0, a32[i0, kg], flat, p)
        dpbusd(acc, 16, a32[i0 + 1, kg], flat, p)
        dpbusd(acc, 32, a32[i0 + 2, kg], flat, p)
        dpbusd(acc, 48, a32[i0 + 3, kg], flat, p)
    _store(out, acc, LANES, i0, 4, j0, cols, colsum, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_1x64(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0):
    acc = stack_i32(NR)
    for c in range(NR):
        acc[c] = 0
    for kg in range(a32.shape[1]):
        w = a32[i, kg]
        p = kg * Np + j0
        dpbusd(acc, 0, w, flat, p)
        dpbusd(acc, 16, w, flat, p + 16)
        dpbusd(acc, 32, w, flat, p + 32)
        dpbusd(acc, 48, w, flat, p + 48)
    _store(out, acc, NR, i, 1, j0, NR, colsum, x_scales, w_scales, bias)


@njit(cache=True)
def _tile_1x16(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0, cols):
    acc = stack_i32(LANES)
    for c in range(LANES):
        acc[c] = 0
    for kg in range(a32.shape[1]):
        dpbusd(acc, 0, a32[i, kg], flat, kg * Np + j0)
    _store(out, acc, LANES, i, 1, j0, cols, colsum, x_scales, w_scales, bias)


@njit(cache=True)
def _vnni_rows(out, a32, flat, Np, colsum, x_scales, w_scales, bias, r0, r1):
    N = out.shape[1]
    full = N - N % NR
    i = r0
    while i < r1:
        rows = 4 if i + 4 <= r1 else 1
        for j0 in range(0, full, NR):
            if rows == 4:
                _tile_4x64(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0)
            else:
                _tile_1x64(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0)
        for j0 in range(full, N, LANES):
            cols = min(LANES, N - j0)
            if rows == 4:
                _tile_4x16(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0, cols)
            else:
                _tile_1x16(out, a32, flat, Np, colsum, x_scales, w_scales, bias, i, j0, cols)
        i += rows


@njit(cache=True)
def _vnni_serial(out, a32, flat, Np, colsum, x_scales, w_scales, bias):
    _vnni_rows(out, a32, flat, Np, colsum, x_scales, w_scales, bias, 0, out.shape[0])


def _vnni_parallel(out, a32, flat, Np, colsum, x_scales, w_scales, bias, threads):
    # As in matmul.py: one block of rows per thread, a multiple of MR, so no two threads write one cell.
    bands = (out.shape[0] + MR - 1) // MR
    chunks = min(threads, bands)
    run(_vnni_rows, out.shape[0], (bands + chunks - 1) // chunks * MR, out, a32, flat, Np, colsum, x_scales, w_scales,
        bias)


@njit(cache=True)
def int8_dense_reference(out, xq, x_scales, w_packed, w_colsum, w_scales, bias):
    """Plain integer loops over the same layouts: the portable path, and what the VNNI one is tested
    against."""
    packed_bytes = w_packed.view(np.int8)
    for b in range(out.shape[0]):
        for n in range(out.shape[1]):
            s = np.int32(0)
            for k in range(xq.shape[1]):
                s += (np.int32(xq[b, k]) - ZERO) * np.int32(packed_bytes[k // 4, 4 * n + k % 4])
            v = np.float32(s) * x_scales[b] * w_scales[n]
            out[b, n] = v + bias[n] if bias.shape[0] > 0 else v


def int8_dense_forward(out, xq, x_scales, w_packed, w_colsum, w_scales, bias):
    # out (B,N) float32; xq (B,Kp) uint8 from quantize_rows; x_scales (B,); w_packed, w_colsum from
    # pack_int8_weights; w_scales (N,); bias (N,) or None.
    if bias is None:
        bias = NO_BIAS
    B, N = out.shape
    K4, Np = w_packed.shape
    if (xq.shape[0] != B or xq.shape[1] != 4 * K4 or Np < N or Np % LANES or w_colsum.shape[0] != Np
            or x_scales.shape[0] < B or w_scales.shape[0] != N or bias.shape[0] not in (0, N)
            or xq.dtype != np.uint8 or w_packed.dtype != np.int32):
        raise ValueError(f"int8 dense operands do not fit: out {out.shape}, x {xq.shape} {xq.dtype}, packed "
                         f"weights {w_packed.shape}")
    if not HAS_VNNI or numba.config.DISABLE_JIT:
        int8_dense_reference(out, xq, x_scales, w_packed, w_colsum, w_scales, bias)
        return
    a32 = xq.view(np.int32)  # each word: 4 consecutive activations
    flat = w_packed.reshape(-1)
    if B > MR and 2 * B * N * 4 * K4 >= 4 * PARALLEL_MIN_FLOPS:  # 4x the float threshold: 4x the speed
        threads = numba.get_num_threads()
        if threads > 1:
            _vnni_parallel(out, a32, flat, Np, w_colsum, x_scales, w_scales, bias, threads)
            return
    _vnni_serial(out, a32, flat, Np, w_colsum, x_scales, w_scales, bias)
