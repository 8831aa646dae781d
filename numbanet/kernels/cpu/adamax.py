"""Adamax over the flat parameter buffer, Keras's formulation: Adam with the infinity norm in place of the
second moment."""
from numba import njit, prange

from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adamax_run(params, m, u, grads, alpha, c1, beta_2, eps):
    for i in range(params.shape[0]):
        g = grads[i]
        mi = m[i] + (g - m[i]) * c1
        ui = max(beta_2 * u[i], abs(g))
        m[i] = mi
        u[i] = ui
        params[i] -= alpha * mi / (ui + eps)


@njit(cache=True, parallel=True)
def _adamax_parallel(params, m, u, grads, alpha, c1, beta_2, eps):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _adamax_run(params[s], m[s], u[s], grads[s], alpha, c1, beta_2, eps)


def adamax_update(params, m, u, grads, lr, beta_1, beta_2, epsilon, step):
    # params, m, u, grads: (P,); step counts from 1. m += (g - m)(1 - beta_1); u = max(beta_2 * u, |g|);
    # params -= lr / (1 - beta_1^step) * m / (u + epsilon).
    f = params.dtype.type
    run = _adamax_parallel if parallel(params.shape[0]) else _adamax_run
    run(params, m, u, grads, f(lr / (1.0 - beta_1 ** step)), f(1.0 - beta_1), f(beta_2), f(epsilon))
