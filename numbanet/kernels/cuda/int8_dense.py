"""Int8 inference for Dense on the GPU. Twin of kernels/cpu/int8_dense.py, with its layouts (activations
stored as xq + 128 in rows padded to a multiple of 4, weights packed 4 bytes of k to an int32 word):
rows quantized one thread each, then one thread per output summing the int8 products exactly in int32."""
from numba import cuda, float32, int32

from numbanet.kernels.cpu import int8_dense as cpu_twin
from numbanet.kernels.cuda._grid import THREADS, blocks, no_bias

ZERO = 128


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
            q[b, k] = int32(min(float32(127.0), max(float32(-127.0), round(x[b, k] * inv)))) + ZERO
        for k in range(x.shape[1], q.shape[1]):
            q[b, k] = ZERO


def quantize_rows(q, scales, x):
    _quantize[blocks(x.shape[0]), THREADS](q, scales, x, float32(0.0))


def quantize_static(q, scales, x, scale):
    _quantize[blocks(x.shape[0]), THREADS](q, scales, x, float32(scale))


def pack_int8_weights(wq):
    """Packed weights and column sums on the device; packed once per layer, on the host."""
    packed, colsum = cpu_twin.pack_int8_weights(wq.copy_to_host() if hasattr(wq, 'copy_to_host') else wq)
    return cuda.to_device(packed), cuda.to_device(colsum)


@cuda.jit
def _int8_dense(out, xq, x_scales, w_packed, w_scales, bias):
    b, n = cuda.grid(2)
    if b < out.shape[0] and n < out.shape[1]:
        s = int32(0)
        for kg in range(w_packed.shape[0]):
            word = w_packed[kg, n]
            for t in range(4):
                w = (word >> (8 * t)) & 0xFF
                w = w - 256 if w > 127 else w  # the byte is signed
                s += (int32(xq[b, 4 * kg + t]) - ZERO) * w
        v = float32(s) * x_scales[b] * w_scales[n]
        out[b, n] = v + bias[n] if bias.shape[0] > 0 else v


def int8_dense_forward(out, xq, x_scales, w_packed, w_colsum, w_scales, bias):
    if bias is None:
        bias = no_bias()
    B, N = out.shape
    K4, Np = w_packed.shape
    if xq.shape[0] != B or xq.shape[1] != 4 * K4 or Np < N or w_scales.shape[0] != N:
        raise ValueError(f"int8 dense operands do not fit: out {out.shape}, x {xq.shape}, packed {w_packed.shape}")
    _int8_dense[((B + 15) // 16, (N + 15) // 16), (16, 16)](out, xq, x_scales, w_packed, w_scales, bias)


def int8_dense_reference(out, xq, x_scales, w_packed, w_colsum, w_scales, bias):
    """On the GPU the simple kernel is the only one; kept under the CPU twin's name."""
    int8_dense_forward(out, xq, x_scales, w_packed, w_colsum, w_scales, bias)
