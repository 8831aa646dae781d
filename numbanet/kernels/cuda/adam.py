"""Adam update over the flat parameter buffer on the GPU, Keras's formulation. Twin of kernels/cpu/adam.py."""
import math

from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _adam(params, m, v, grads, alpha, b1, b2, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = b1 * m[i] + (float32(1.0) - b1) * g
        vi = b2 * v[i] + (float32(1.0) - b2) * g * g
        m[i] = mi
        v[i] = vi
        params[i] -= alpha * mi / (math.sqrt(vi) + eps)


def adam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step):
    alpha = lr * math.sqrt(1.0 - beta_2 ** step) / (1.0 - beta_1 ** step)
    _adam[blocks(params.shape[0]), THREADS](params, m, v, grads, float32(alpha), float32(beta_1),
                                            float32(beta_2), float32(epsilon))
