"""Adagrad over the flat parameter buffer on the GPU, Keras's formulation, and its read-only check. Twin of
kernels/cpu/adagrad.py."""
import math

from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _adagrad(params, accumulator, grads, lr, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        a = accumulator[i] + g * g
        accumulator[i] = a
        params[i] -= lr * g / math.sqrt(a + eps)


@cuda.jit
def _adagrad_check(flag, params, accumulator, grads, lr, eps, decay):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        a = accumulator[i] + g * g
        if not (finite(a) and finite(params[i] * decay - lr * g / math.sqrt(a + eps))):
            flag[0] = 1


def adagrad_update(params, accumulator, grads, lr, epsilon):
    _adagrad[blocks(params.shape[0]), THREADS](params, accumulator, grads, float32(lr), float32(epsilon))


def adagrad_check(flag, params, accumulator, grads, lr, epsilon, decay):
    _adagrad_check[blocks(params.shape[0]), THREADS](flag, params, accumulator, grads, float32(lr), float32(epsilon),
                                                     float32(decay))
