"""Nadam over the flat parameter buffer on the GPU, Keras 3's formulation, and its read-only check. Twin of
kernels/cpu/nadam.py."""
import math

from numba import cuda, float32

from numbanet.kernels.bias_correction import nadam_coefficients
from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._flush import flush
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _nadam(params, m, v, grads, lr, cm, cg, c1, c2, root, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        vi = flush(v[i] + (g * g - v[i]) * c2)
        m[i] = mi
        v[i] = vi
        params[i] -= lr * (cm * mi + cg * g) / (math.sqrt(vi) * root + eps)


@cuda.jit
def _nadam_check(flag, params, m, v, grads, lr, cm, cg, c1, c2, root, eps, decay):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        vi = flush(v[i] + (g * g - v[i]) * c2)
        if not (finite(mi) and finite(vi) and
                finite(params[i] * decay - lr * (cm * mi + cg * g) / (math.sqrt(vi) * root + eps))):
            flag[0] = 1


def _scalars(lr, beta_1, beta_2, epsilon, step, u_product):
    cm, cg, root = nadam_coefficients(beta_1, beta_2, step, u_product)
    return (float32(lr), float32(cm), float32(cg), float32(1.0 - beta_1), float32(1.0 - beta_2), float32(root),
            float32(epsilon))


def nadam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step, u_product):
    _nadam[blocks(params.shape[0]), THREADS](params, m, v, grads,
                                             *_scalars(lr, beta_1, beta_2, epsilon, step, u_product))


def nadam_check(flag, params, m, v, grads, lr, beta_1, beta_2, epsilon, step, u_product, decay):
    _nadam_check[blocks(params.shape[0]), THREADS](flag, params, m, v, grads,
                                                   *_scalars(lr, beta_1, beta_2, epsilon, step, u_product),
                                                   float32(decay))
