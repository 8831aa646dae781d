"""Adagrad over the flat parameter buffer, Keras's formulation."""
import math

from numba import njit, prange

from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adagrad_run(params, accumulator, grads, lr, eps):
    for i in range(params.shape[0]):
        g = grads[i]
        a = accumulator[i] + g * g
        accumulator[i] = a
        params[i] -= lr * g / math.sqrt(a + eps)


@njit(cache=True, parallel=True)
def _adagrad_parallel(params, accumulator, grads, lr, eps):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _adagrad_run(params[s], accumulator[s], grads[s], lr, eps)


def adagrad_update(params, accumulator, grads, lr, epsilon):
    # params, accumulator, grads: (P,). accumulator += g^2; params -= lr * g / sqrt(accumulator + epsilon).
    f = params.dtype.type
    run = _adagrad_parallel if parallel(params.shape[0]) else _adagrad_run
    run(params, accumulator, grads, f(lr), f(epsilon))
