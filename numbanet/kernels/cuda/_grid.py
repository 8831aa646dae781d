"""Launch geometry, cached scratch buffers and the deterministic reduction the CUDA kernels share.

Scratch buffers are kept per name and grown when needed, so a training step allocates no device memory.
Sums run in one block, each thread over a fixed stride and then a fixed tree: the same inputs give the
same bits on every run, with no float atomics.
"""
import numpy as np
from numba import cuda, float64

THREADS = 256        # threads per block for elementwise and per-row kernels
REDUCE_THREADS = 256


def blocks(n, threads=THREADS):
    return max(1, (n + threads - 1) // threads)


_device = {}
_host = {}


def scratch(name, n, dtype):
    """A device array of at least n elements, kept for the next call."""
    dtype = np.dtype(dtype)
    buf = _device.get((name, dtype))
    if buf is None or buf.shape[0] < n:
        buf = _device[(name, dtype)] = cuda.device_array(max(n, 1024), dtype)
    return buf


@cuda.jit(device=True, inline='always')
def _block_total(out, acc):
    # Each thread's partial sum into out[0], through a fixed tree: the same bits on every run.
    partial = cuda.shared.array(REDUCE_THREADS, float64)
    t = cuda.threadIdx.x
    partial[t] = acc
    cuda.syncthreads()
    step = REDUCE_THREADS // 2
    while step > 0:
        if t < step:
            partial[t] += partial[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[0] = partial[0]


@cuda.jit
def _sum_kernel(out, values, n):
    acc = 0.0
    for i in range(cuda.threadIdx.x, n, REDUCE_THREADS):
        acc += values[i]
    _block_total(out, acc)


@cuda.jit
def _weighted_sum_kernel(out, values, weights, n):
    acc = 0.0
    for i in range(cuda.threadIdx.x, n, REDUCE_THREADS):
        acc += values[i] * weights[i]
    _block_total(out, acc)


def device_sum(values, n, weights=None):
    """Sum of values[:n] (any numeric device array) as a Python float, reduced on the device; with weights
    (a device array of n or more), the sum of values[i] * weights[i]: a loss's per-sample weights."""
    out = scratch('sum_out', 1, np.float64)
    if weights is None:
        _sum_kernel[1, REDUCE_THREADS](out, values, n)
    else:
        _weighted_sum_kernel[1, REDUCE_THREADS](out, values, weights, n)
    host = _host.get('sum')
    if host is None:
        host = _host['sum'] = cuda.pinned_array(1, np.float64)
    out[:1].copy_to_host(host)
    return float(host[0])


class _NoBias:
    """A zero-length float32 device array, made on first use (not at import: that needs a GPU)."""
    array = None


def no_bias():
    if _NoBias.array is None:
        _NoBias.array = cuda.device_array(0, np.float32)
    return _NoBias.array


@cuda.jit
def _fill(flat, value):
    i = cuda.grid(1)
    if i < flat.shape[0]:
        flat[i] = value


def fill(array, value):
    """Set every element of a contiguous device array (the backend's fill and zeros)."""
    flat = array.reshape(array.size) if len(array.shape) != 1 else array
    _fill[blocks(array.size), THREADS](flat, value)
