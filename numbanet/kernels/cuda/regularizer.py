"""Weight penalties of Keras's L1, L2 and L1L2 regularizers on the GPU. Twin of kernels/cpu/regularizer.py.
The penalty is summed in float64 in a fixed order: PARTIALS threads each sum a fixed stride of w, then
the deterministic device sum adds their results.
"""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch

PARTIALS = 8192


@cuda.jit
def _partials(partial, w, l1, l2, count):
    t = cuda.grid(1)
    if t < count:
        a = 0.0
        s = 0.0
        for i in range(t, w.shape[0], count):
            v = float(w[i])
            a += abs(v)
            s += v * v
        partial[t] = l1 * a + l2 * s


@cuda.jit
def _backward(dw, w, l1, l2):
    i = cuda.grid(1)
    if i < w.shape[0]:
        v = float(w[i])
        sign = 1.0 if v > 0 else (-1.0 if v < 0 else v)
        dw[i] = float(dw[i]) + (l1 * sign + 2.0 * l2 * v)


def regularizer_forward(w, l1, l2):
    # w: (P,) float32. Returns l1 * sum|w| + l2 * sum w^2 as a float.
    count = min(w.shape[0], PARTIALS)
    partial = scratch('regularizer_partials', count, np.float64)
    _partials[blocks(count), THREADS](partial, w, float(l1), float(l2), count)
    return device_sum(partial, count)


def regularizer_backward(dw, w, l1, l2):
    # dw, w: (P,); dw += l1 * sign(w) + 2 * l2 * w (in float64, rounded once; sign(0) = 0, NaN stays NaN).
    _backward[blocks(w.shape[0]), THREADS](dw, w, float(l1), float(l2))
