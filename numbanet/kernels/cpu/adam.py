"""Adam over the flat parameter buffer, with Keras's formulation of the bias correction, and its AMSGrad
variant (Keras's amsgrad=True), which divides by the largest second moment seen so far (v_hat). The check
twins compute the same step without writing it (kernels/cpu/_guard.py)."""
import math

from numbanet.kernels.bias_correction import adam_alpha
from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


# error_model='numpy': a Python-style zero-division check in the loop would block vectorisation.
@njit(cache=True, fastmath={'contract'}, error_model='numpy', inline='always')
def _moments(m, v, g, c1, c2):
    # The new first and second moments, as both loops below compute them.
    return flush(m + (g - m) * c1), flush(v + (g * g - v) * c2)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adam_run(params, m, v, v_hat, grads, alpha, c1, c2, eps, lo, hi):
    # v_hat None: numba compiles the plain loop, without the AMSGrad branch.
    params, m, v, grads = params[lo:hi], m[lo:hi], v[lo:hi], grads[lo:hi]
    v_hat = None if v_hat is None else v_hat[lo:hi]
    for i in range(params.shape[0]):
        mi, vi = _moments(m[i], v[i], grads[i], c1, c2)
        m[i] = mi
        v[i] = vi
        if v_hat is not None:
            vi = max(v_hat[i], vi)
            v_hat[i] = vi
        params[i] -= alpha * mi / (math.sqrt(vi) + eps)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adam_check_run(flag, params, m, v, v_hat, grads, alpha, c1, c2, eps, decay, lo, hi):
    params, m, v, grads = params[lo:hi], m[lo:hi], v[lo:hi], grads[lo:hi]
    v_hat = None if v_hat is None else v_hat[lo:hi]
    # The loop above, reading only: flag[0] = 1 unless every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        mi, vi = _moments(m[i], v[i], grads[i], c1, c2)
        ok &= finite(mi) & finite(vi)
        if v_hat is not None:
            vi = max(v_hat[i], vi)
            ok &= finite(vi)
        ok &= finite(decayed(params[i], decay) - alpha * mi / (math.sqrt(vi) + eps))
    if not ok:
        flag[0] = 1


def _scalars(params, lr, beta_1, beta_2, epsilon, step):
    f = params.dtype.type
    return f(adam_alpha(lr, beta_1, beta_2, step)), f(1.0 - beta_1), f(1.0 - beta_2), f(epsilon)


def _adam(params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step):
    split(_adam_run, params.shape[0], params, m, v, v_hat, grads,
          *_scalars(params, lr, beta_1, beta_2, epsilon, step))


def _check(flag, params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step, decay):
    split(_adam_check_run, params.shape[0], flag, params, m, v, v_hat, grads,
          *_scalars(params, lr, beta_1, beta_2, epsilon, step), params.dtype.type(decay))


def adam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step):
    # params, m, v, grads: (P,); step counts from 1. m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
    # params -= alpha * m / (sqrt(v) + epsilon), alpha = lr * sqrt(1 - beta_2^step) / (1 - beta_1^step).
    _adam(params, m, v, None, grads, lr, beta_1, beta_2, epsilon, step)


def adam_check(flag, params, m, v, grads, lr, beta_1, beta_2, epsilon, step, decay):
    # flag: (1,) int32, set to 1 when adam_update after params *= decay would leave any value of params, m
    # or v non-finite (else left as it is); nothing else is written.
    _check(flag, params, m, v, None, grads, lr, beta_1, beta_2, epsilon, step, decay)


def adam_amsgrad_update(params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step):
    # params, m, v, v_hat, grads: (P,). As adam_update, dividing by sqrt(v_hat) where v_hat = max(v_hat, v).
    _adam(params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step)


def adam_amsgrad_check(flag, params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step, decay):
    # As adam_check, for adam_amsgrad_update (v_hat checked too).
    _check(flag, params, m, v, v_hat, grads, lr, beta_1, beta_2, epsilon, step, decay)
