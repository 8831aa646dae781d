"""Adagrad over the flat parameter buffer on the GPU, Keras's formulation. Twin of kernels/cpu/adagrad.py."""
import math

from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _adagrad(params, accumulator, grads, lr, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        a = accumulator[i] + g * g
        accumulator[i] = a
        params[i] -= lr * g / math.sqrt(a + eps)


def adagrad_update(params, accumulator, grads, lr, epsilon):
    _adagrad[blocks(params.shape[0]), THREADS](params, accumulator, grads, float32(lr), float32(epsilon))
