"""Int8 inference for Dense on the GPU. Twin of kernels/cpu/int8_dense.py: rows quantized per row (one
thread each), then one thread per output summing int8 products exactly in int32 and rescaling."""
import math

import numpy as np
from numba import cuda, float32, int32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _quantize(q, scales, x, static_scale):
    b = cuda.grid(1)
    if b < x.shape[0]:
        if static_scale > 0.0:
            scale = static_scale
        else:
            m = float32(0.0)
            for k in range(x.shape[1]):
                m = max(m, abs(x[b, k]))
            scale = m / float32(127.0) if m > 0.0 else float32(1.0)
        scales[b] = scale
        inv = float32(1.0) / scale
        for k in range(x.shape[1]):
            q[b, k] = min(float32(127.0), max(float32(-127.0), round(x[b, k] * inv)))


def quantize_rows(q, scales, x):
    _quantize[blocks(x.shape[0]), THREADS](q, scales, x, float32(0.0))


def quantize_static(q, scales, x, scale):
    _quantize[blocks(x.shape[0]), THREADS](q, scales, x, float32(scale))


@cuda.jit
def _int8_dense(out, xq, x_scales, wq, w_scales, bias):
    b, n = cuda.grid(2)
    if b < out.shape[0] and n < out.shape[1]:
        s = int32(0)
        for k in range(xq.shape[1]):
            s += int32(xq[b, k]) * int32(wq[k, n])
        v = float32(s) * x_scales[b] * w_scales[n]
        out[b, n] = v + bias[n] if bias.shape[0] > 0 else v


def int8_dense_forward(out, xq, x_scales, wq, w_scales, bias):
    B, N = out.shape
    if xq.shape[0] != B or wq.shape[1] != N or xq.shape[1] != wq.shape[0] or w_scales.shape[0] != N:
        raise ValueError(f"int8 dense shapes do not chain: out {out.shape}, x {xq.shape}, w {wq.shape}")
    _int8_dense[((B + 15) // 16, (N + 15) // 16), (16, 16)](out, xq, x_scales, wq, w_scales, bias)


def int8_dense_reference(out, xq, x_scales, wq, w_scales, bias):
    """On the GPU the simple kernel is the only one; kept under the CPU twin's name."""
    int8_dense_forward(out, xq, x_scales, wq, w_scales, bias)
