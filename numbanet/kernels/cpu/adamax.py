"""Adamax over the flat parameter buffer, Keras's formulation: Adam with the infinity norm in place of the
second moment. The check twin computes the same step without writing it (kernels/cpu/_guard.py)."""
from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


@njit(cache=True, fastmath={'contract'}, error_model='numpy', inline='always')
def _moments(m, u, g, c1, beta_2):
    # The new first moment and infinity norm, as both loops below compute them.
    return flush(m + (g - m) * c1), flush(max(beta_2 * u, abs(g)))


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adamax_run(params, m, u, grads, alpha, c1, beta_2, eps, lo, hi):
    params, m, u, grads = params[lo:hi], m[lo:hi], u[lo:hi], grads[lo:hi]
    for i in range(params.shape[0]):
        mi, ui = _moments(m[i], u[i], grads[i], c1, beta_2)
        m[i] = mi
        u[i] = ui
        params[i] -= alpha * mi / (ui + eps)


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _adamax_check_run(flag, params, m, u, grads, alpha, c1, beta_2, eps, decay, lo, hi):
    params, m, u, grads = params[lo:hi], m[lo:hi], u[lo:hi], grads[lo:hi]
    # The loop above, reading only: flag[0] = 1 unless every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        mi, ui = _moments(m[i], u[i], grads[i], c1, beta_2)
        ok &= finite(mi) & finite(ui) & finite(decayed(params[i], decay) - alpha * mi / (ui + eps))
    if not ok:
        flag[0] = 1


def _scalars(params, lr, beta_1, beta_2, epsilon, step):
    f = params.dtype.type
    return f(lr / (1.0 - beta_1 ** step)), f(1.0 - beta_1), f(beta_2), f(epsilon)


def adamax_update(params, m, u, grads, lr, beta_1, beta_2, epsilon, step):
    # params, m, u, grads: (P,); step counts from 1. m += (g - m)(1 - beta_1); u = max(beta_2 * u, |g|);
    # params -= lr / (1 - beta_1^step) * m / (u + epsilon).
    split(_adamax_run, params.shape[0], params, m, u, grads, *_scalars(params, lr, beta_1, beta_2, epsilon, step))


def adamax_check(flag, params, m, u, grads, lr, beta_1, beta_2, epsilon, step, decay):
    # flag: (1,) int32, set to 1 when adamax_update after params *= decay would leave any value of params, m
    # or u non-finite (else left as it is); nothing else is written.
    split(_adamax_check_run, params.shape[0], flag, params, m, u, grads,
          *_scalars(params, lr, beta_1, beta_2, epsilon, step), params.dtype.type(decay))
