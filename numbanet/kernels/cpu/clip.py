"""What Keras's gradient clipping needs, over flat gradient views: the sum of squares of one view (a norm,
per weight for clipnorm or over all of them for global_clipnorm), scaling by a factor (also weight decay's
w *= 1 - lr * weight_decay), and clipping each element to [-limit, limit] (clipvalue)."""
import numpy as np

from numbanet.kernels.cpu._jit import njit


# reassoc lets LLVM keep several float64 partial sums in vector lanes: a fixed order for a given build, so
# the result does not depend on the thread count, though it may differ in the last bits between CPUs.
@njit(cache=True, fastmath={'reassoc', 'contract'})
def squared_norm(values):
    # values: (P,) float32. Returns sum values^2 as a float, accumulated in float64.
    total = 0.0
    for i in range(values.shape[0]):
        x = np.float64(values[i])
        total += x * x
    return total


@njit(cache=True)
def scale_values(values, factor):
    # values: (P,); values *= factor (rounded to the values' precision once).
    f = values.dtype.type(factor)
    for i in range(values.shape[0]):
        values[i] *= f


@njit(cache=True)
def clip_values(values, limit):
    # values: (P,); each element to [-limit, limit] (NaN stays NaN).
    hi = values.dtype.type(limit)
    lo = -hi
    for i in range(values.shape[0]):
        x = values[i]
        if x > hi:
            values[i] = hi
        elif x < lo:
            values[i] = lo
