"""Adagrad over the flat parameter buffer, Keras's formulation, and its read-only check twin
(kernels/cpu/_guard.py)."""
import math

from numba import prange

from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adagrad_run(params, accumulator, grads, lr, eps):
    for i in range(params.shape[0]):
        g = grads[i]
        a = accumulator[i] + g * g
        accumulator[i] = a
        params[i] -= lr * g / math.sqrt(a + eps)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adagrad_check_run(params, accumulator, grads, lr, eps, decay):
    # The loop above, reading only: whether every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        g = grads[i]
        a = accumulator[i] + g * g
        ok &= finite(a) & finite(decayed(params[i], decay) - lr * g / math.sqrt(a + eps))
    return ok


@njit(cache=True, parallel=True)
def _adagrad_parallel(params, accumulator, grads, lr, eps):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _adagrad_run(params[s], accumulator[s], grads[s], lr, eps)


@njit(cache=True, parallel=True)
def _adagrad_check_parallel(params, accumulator, grads, lr, eps, decay):
    failed = 0  # chunks with a non-finite value: an integer sum, the same on any number of threads
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        failed += not _adagrad_check_run(params[s], accumulator[s], grads[s], lr, eps, decay)
    return failed == 0


def adagrad_update(params, accumulator, grads, lr, epsilon):
    # params, accumulator, grads: (P,). accumulator += g^2; params -= lr * g / sqrt(accumulator + epsilon).
    f = params.dtype.type
    run = _adagrad_parallel if parallel(params.shape[0]) else _adagrad_run
    run(params, accumulator, grads, f(lr), f(epsilon))


def adagrad_check(flag, params, accumulator, grads, lr, epsilon, decay):
    # flag: (1,) int32, set to 1 when adagrad_update after params *= decay would leave any value of params or
    # accumulator non-finite (else left as it is); nothing else is written.
    f = params.dtype.type
    run = _adagrad_check_parallel if parallel(params.shape[0]) else _adagrad_check_run
    if not run(params, accumulator, grads, f(lr), f(epsilon), f(decay)):
        flag[0] = 1
