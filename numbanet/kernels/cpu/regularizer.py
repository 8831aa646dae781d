"""Weight penalties of Keras's L1, L2 and L1L2 regularizers over one flat weight w (P,): the loss term
l1 * sum|w| + l2 * sum w^2 and its gradient. The sums run in float64 in a fixed order (LANES interleaved
partial sums, combined in ascending order), so the penalty does not depend on anything but w.
"""
import numpy as np

from numbanet.kernels.cpu._jit import njit

LANES = 4  # element i goes to partial sum i % LANES: independent add chains the CPU runs side by side


@njit(cache=True)
def regularizer_forward(w, l1, l2):
    # w: (P,) float32. Returns l1 * sum|w| + l2 * sum w^2 as a float.
    n = w.shape[0]
    full = n - n % LANES
    a0 = a1 = a2 = a3 = 0.0
    s0 = s1 = s2 = s3 = 0.0
    for i in range(0, full, LANES):
        v0, v1, v2, v3 = np.float64(w[i]), np.float64(w[i + 1]), np.float64(w[i + 2]), np.float64(w[i + 3])
        a0 += abs(v0)
        a1 += abs(v1)
        a2 += abs(v2)
        a3 += abs(v3)
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
    for i in range(full, n):
        v = np.float64(w[i])
        a0 += abs(v)
        s0 += v * v
    return l1 * (((a0 + a1) + a2) + a3) + l2 * (((s0 + s1) + s2) + s3)


@njit(cache=True)
def regularizer_backward(dw, w, l1, l2):
    # dw, w: (P,); dw += l1 * sign(w) + 2 * l2 * w (in float64, rounded once; sign(0) = 0, NaN stays NaN).
    for i in range(w.shape[0]):
        v = np.float64(w[i])
        sign = 1.0 if v > 0 else (-1.0 if v < 0 else v)
        dw[i] = dw[i] + (l1 * sign + 2.0 * l2 * v)
