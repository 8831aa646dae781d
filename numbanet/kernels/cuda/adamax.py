"""Adamax over the flat parameter buffer on the GPU, Keras's formulation, and its read-only check. Twin of
kernels/cpu/adamax.py."""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._flush import flush
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _adamax(params, m, u, grads, alpha, c1, beta_2, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        ui = flush(max(beta_2 * u[i], abs(g)))
        m[i] = mi
        u[i] = ui
        params[i] -= alpha * mi / (ui + eps)


@cuda.jit
def _adamax_check(flag, params, m, u, grads, alpha, c1, beta_2, eps, decay):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        ui = flush(max(beta_2 * u[i], abs(g)))
        if not (finite(mi) and finite(ui) and finite(params[i] * decay - alpha * mi / (ui + eps))):
            flag[0] = 1


def _scalars(lr, beta_1, beta_2, epsilon, step):
    return float32(lr / (1.0 - beta_1 ** step)), float32(1.0 - beta_1), float32(beta_2), float32(epsilon)


def adamax_update(params, m, u, grads, lr, beta_1, beta_2, epsilon, step):
    _adamax[blocks(params.shape[0]), THREADS](params, m, u, grads, *_scalars(lr, beta_1, beta_2, epsilon, step))


def adamax_check(flag, params, m, u, grads, lr, beta_1, beta_2, epsilon, step, decay):
    _adamax_check[blocks(params.shape[0]), THREADS](flag, params, m, u, grads,
                                                    *_scalars(lr, beta_1, beta_2, epsilon, step), float32(decay))
