"""Adagrad over the flat parameter buffer, Keras's formulation, and its read-only check twin
(kernels/cpu/_guard.py)."""
import math

from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adagrad_run(params, accumulator, grads, lr, eps, lo, hi):
    params, accumulator, grads = params[lo:hi], accumulator[lo:hi], grads[lo:hi]
    for i in range(params.shape[0]):
        g = grads[i]
        a = accumulator[i] + g * g
        accumulator[i] = a
        params[i] -= lr * g / math.sqrt(a + eps)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adagrad_check_run(flag, params, accumulator, grads, lr, eps, decay, lo, hi):
    params, accumulator, grads = params[lo:hi], accumulator[lo:hi], grads[lo:hi]
    # The loop above, reading only: flag[0] = 1 unless every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        g = grads[i]
        a = accumulator[i] + g * g
        ok &= finite(a) & finite(decayed(params[i], decay) - lr * g / math.sqrt(a + eps))
    if not ok:
        flag[0] = 1


def adagrad_update(params, accumulator, grads, lr, epsilon):
    # params, accumulator, grads: (P,). accumulator += g^2; params -= lr * g / sqrt(accumulator + epsilon).
    f = params.dtype.type
    split(_adagrad_run, params.shape[0], params, accumulator, grads, f(lr), f(epsilon))


def adagrad_check(flag, params, accumulator, grads, lr, epsilon, decay):
    # flag: (1,) int32, set to 1 when adagrad_update after params *= decay would leave any value of params or
    # accumulator non-finite (else left as it is); nothing else is written.
    f = params.dtype.type
    split(_adagrad_check_run, params.shape[0], flag, params, accumulator, grads, f(lr), f(epsilon), f(decay))
