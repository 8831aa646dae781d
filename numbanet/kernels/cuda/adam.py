"""Adam over the flat parameter buffer on the GPU, Keras's formulation, and its AMSGrad variant, with their
read-only checks. Twin of kernels/cpu/adam.py."""
import math

from numba import cuda, float32

from numbanet.kernels.bias_correction import adam_alpha
from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._flush import flush
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _adam(params, m, v, grads, alpha, c1, c2, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        vi = flush(v[i] + (g * g - v[i]) * c2)
        m[i] = mi
        v[i] = vi
        params[i] -= alpha * mi / (math.sqrt(vi) + eps)


@cuda.jit
def _amsgrad(params, m, v, v_hat, grads, alpha, c1, c2, eps):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        vi = flush(v[i] + (g * g - v[i]) * c2)
        m[i] = mi
        v[i] = vi
        vi = max(v_hat[i], vi)
        v_hat[i] = vi
        params[i] -= alpha * mi / (math.sqrt(vi) + eps)


@cuda.jit
def _check(flag, params, m, v, v_hat, grads, alpha, c1, c2, eps, decay, amsgrad):
    # Both variants: v_hat is read only with amsgrad (else v stands in for it).
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        mi = flush(m[i] + (g - m[i]) * c1)
        vi = flush(v[i] + (g * g - v[i]) * c2)
        ok = finite(mi) and finite(vi)
        if amsgrad:
            vi = max(v_hat[i], vi)
            ok = ok and finite(vi)
        if not (ok and finite(params[i] * decay - alpha * mi / (math.sqrt(vi) + eps))):
            flag[0] = 1


def _scalars(lr, beta_1, beta_2, epsilon, step):
    return (float32(adam_alpha(lr, beta_1, beta_2, step)), float32(1.0 - beta_1), float32(1.0 - beta_2),
            float32(epsilon))


def adam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step):
    _adam[blocks(params.shape[0]), THREADS](params, m, v, grads, *_scalars(lr, beta_1, beta_2, epsilon, step))


def adam_check(flag, params, m, v, grads, lr, beta_1, beta_2, epsilon, step, decay):
    _check[blocks(params.shape[0]), THREADS](flag, params, m, v, v, grads, *_scalars(lr, beta_1, beta_2, epsilon, step),
                                             float32(decay), False)


def adam_amsgrad_update(params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step):
    _amsgrad[blocks(params.shape[0]), THREADS](params, m, v, v_hat, grads,
                                               *_scalars(lr, beta_1, beta_2, epsilon, step))


def adam_amsgrad_check(flag, params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step, decay):
    _check[blocks(params.shape[0]), THREADS](flag, params, m, v, v_hat, grads,
                                             *_scalars(lr, beta_1, beta_2, epsilon, step), float32(decay), True)
