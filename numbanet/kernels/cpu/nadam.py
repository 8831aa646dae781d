"""Nadam over the flat parameter buffer, Keras 3's formulation: Adam with Nesterov momentum through the
momentum schedule u_t (kernels/bias_correction.py), whose running product the caller keeps. The check twin
computes the same step without writing it (kernels/cpu/_guard.py)."""
import math

from numbanet.kernels.bias_correction import nadam_coefficients
from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


@njit(cache=True, fastmath={'contract'}, error_model='numpy', inline='always')
def _moments(m, v, g, c1, c2):
    # The new first and second moments, as both loops below compute them.
    return flush(m + (g - m) * c1), flush(v + (g * g - v) * c2)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _nadam_run(params, m, v, grads, lr, cm, cg, c1, c2, root, eps, lo, hi):
    params, m, v, grads = params[lo:hi], m[lo:hi], v[lo:hi], grads[lo:hi]
    for i in range(params.shape[0]):
        g = grads[i]
        mi, vi = _moments(m[i], v[i], g, c1, c2)
        m[i] = mi
        v[i] = vi
        params[i] -= lr * (cm * mi + cg * g) / (math.sqrt(vi) * root + eps)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _nadam_check_run(flag, params, m, v, grads, lr, cm, cg, c1, c2, root, eps, decay, lo, hi):
    params, m, v, grads = params[lo:hi], m[lo:hi], v[lo:hi], grads[lo:hi]
    # The loop above, reading only: flag[0] = 1 unless every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        g = grads[i]
        mi, vi = _moments(m[i], v[i], g, c1, c2)
        ok &= finite(mi) & finite(vi) & finite(
            decayed(params[i], decay) - lr * (cm * mi + cg * g) / (math.sqrt(vi) * root + eps))
    if not ok:
        flag[0] = 1


def _scalars(params, lr, beta_1, beta_2, epsilon, step, u_product):
    f = params.dtype.type
    cm, cg, root = nadam_coefficients(beta_1, beta_2, step, u_product)
    return f(lr), f(cm), f(cg), f(1.0 - beta_1), f(1.0 - beta_2), f(root), f(epsilon)


def nadam_update(params, m, v, grads, lr, beta_1, beta_2, epsilon, step, u_product):
    # params, m, v, grads: (P,); step counts from 1; u_product = u_1 * ... * u_step.
    # m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
    # m_hat = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product); v_hat = v / (1 - beta_2^t);
    # params -= lr * m_hat / (sqrt(v_hat) + epsilon).
    split(_nadam_run, params.shape[0], params, m, v, grads,
          *_scalars(params, lr, beta_1, beta_2, epsilon, step, u_product))


def nadam_check(flag, params, m, v, grads, lr, beta_1, beta_2, epsilon, step, u_product, decay):
    # flag: (1,) int32, set to 1 when nadam_update after params *= decay would leave any value of params, m
    # or v non-finite (else left as it is); nothing else is written.
    split(_nadam_check_run, params.shape[0], flag, params, m, v, grads,
          *_scalars(params, lr, beta_1, beta_2, epsilon, step, u_product), params.dtype.type(decay))
