"""RMSprop over the flat parameter buffer, Keras's formulation: plain, with momentum, and centered. The
check twin computes the same step without writing it (kernels/cpu/_guard.py)."""
import math

from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _rmsprop_run(params, velocity, moment, average, grads, lr, rho, c, momentum, eps, lo, hi):
    # moment None: no momentum; average None: not centered (numba compiles each case without the branch).
    params, velocity, grads = params[lo:hi], velocity[lo:hi], grads[lo:hi]
    moment = None if moment is None else moment[lo:hi]
    average = None if average is None else average[lo:hi]
    for i in range(params.shape[0]):
        g = grads[i]
        vi = flush(rho * velocity[i] + c * g * g)
        velocity[i] = vi
        if average is not None:
            ai = flush(rho * average[i] + c * g)
            average[i] = ai
            vi = vi - ai * ai
        step = lr * g / math.sqrt(vi + eps)
        if moment is not None:
            step = flush(momentum * moment[i] + step)
            moment[i] = step
        params[i] -= step


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _rmsprop_check_run(flag, params, velocity, moment, average, grads, lr, rho, c, momentum, eps, decay, lo, hi):
    params, velocity, grads = params[lo:hi], velocity[lo:hi], grads[lo:hi]
    moment = None if moment is None else moment[lo:hi]
    average = None if average is None else average[lo:hi]
    # The loop above, reading only: flag[0] = 1 unless every value it would write (params decayed first) is finite.
    ok = True
    for i in range(params.shape[0]):
        g = grads[i]
        vi = flush(rho * velocity[i] + c * g * g)
        ok &= finite(vi)
        if average is not None:
            ai = flush(rho * average[i] + c * g)
            ok &= finite(ai)
            vi = vi - ai * ai
        step = lr * g / math.sqrt(vi + eps)
        if moment is not None:
            step = flush(momentum * moment[i] + step)
            ok &= finite(step)
        ok &= finite(decayed(params[i], decay) - step)
    if not ok:
        flag[0] = 1


def _scalars(params, lr, rho, momentum, epsilon):
    f = params.dtype.type
    return f(lr), f(rho), f(1.0 - rho), f(momentum), f(epsilon)


def rmsprop_update(params, velocity, moment, average, grads, lr, rho, momentum, epsilon):
    # params, velocity, grads: (P,); moment (P,) or None when momentum is 0; average (P,) or None unless
    # centered. velocity = rho * velocity + (1 - rho) * g^2; centered: average = rho * average + (1 - rho) * g
    # and the denominator is sqrt(velocity - average^2 + epsilon), else sqrt(velocity + epsilon). The
    # step lr * g / denominator goes into params directly, or through moment = momentum * moment + step.
    split(_rmsprop_run, params.shape[0], params, velocity, moment, average, grads,
          *_scalars(params, lr, rho, momentum, epsilon))


def rmsprop_check(flag, params, velocity, moment, average, grads, lr, rho, momentum, epsilon, decay):
    # flag: (1,) int32, set to 1 when rmsprop_update after params *= decay would leave any value of params,
    # velocity, moment or average non-finite (else left as it is); nothing else is written.
    split(_rmsprop_check_run, params.shape[0], flag, params, velocity, moment, average, grads,
          *_scalars(params, lr, rho, momentum, epsilon), params.dtype.type(decay))
