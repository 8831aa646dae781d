"""RMSprop over the flat parameter buffer, Keras's formulation: plain, with momentum, and centered. The
check twin computes the same step without writing it (kernels/cpu/_guard.py)."""
import math

from numba import prange

from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


@njit(cache=True, fastmath={'contract'}, error_model='numpy')
def _rmsprop_run(params, velocity, moment, average, grads, lr, rho, c, momentum, eps):
    # moment None: no momentum; average None: not centered (numba compiles each case without the branch).
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
def _rmsprop_check_run(params, velocity, moment, average, grads, lr, rho, c, momentum, eps, decay):
    # The loop above, reading only: whether every value it would write (params decayed first) is finite.
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
    return ok


@njit(cache=True, parallel=True)
def _rmsprop_parallel(params, velocity, moment, average, grads, lr, rho, c, momentum, eps):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _rmsprop_run(params[s], velocity[s], None if moment is None else moment[s],
                     None if average is None else average[s], grads[s], lr, rho, c, momentum, eps)


@njit(cache=True, parallel=True)
def _rmsprop_check_parallel(params, velocity, moment, average, grads, lr, rho, c, momentum, eps, decay):
    failed = 0  # chunks with a non-finite value: an integer sum, the same on any number of threads
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        failed += not _rmsprop_check_run(params[s], velocity[s], None if moment is None else moment[s],
                                         None if average is None else average[s], grads[s], lr, rho, c, momentum,
                                         eps, decay)
    return failed == 0


def _scalars(params, lr, rho, momentum, epsilon):
    f = params.dtype.type
    return f(lr), f(rho), f(1.0 - rho), f(momentum), f(epsilon)


def rmsprop_update(params, velocity, moment, average, grads, lr, rho, momentum, epsilon):
    # params, velocity, grads: (P,); moment (P,) or None when momentum is 0; average (P,) or None unless
    # centered. velocity = rho * velocity + (1 - rho) * g^2; centered: average = rho * average + (1 - rho) * g
    # and the denominator is sqrt(velocity - average^2 + epsilon), else sqrt(velocity + epsilon). The
    # step lr * g / denominator goes into params directly, or through moment = momentum * moment + step.
    run = _rmsprop_parallel if parallel(params.shape[0]) else _rmsprop_run
    run(params, velocity, moment, average, grads, *_scalars(params, lr, rho, momentum, epsilon))


def rmsprop_check(flag, params, velocity, moment, average, grads, lr, rho, momentum, epsilon, decay):
    # flag: (1,) int32, set to 1 when rmsprop_update after params *= decay would leave any value of params,
    # velocity, moment or average non-finite (else left as it is); nothing else is written.
    run = _rmsprop_check_parallel if parallel(params.shape[0]) else _rmsprop_check_run
    if not run(params, velocity, moment, average, grads, *_scalars(params, lr, rho, momentum, epsilon),
               params.dtype.type(decay)):
        flag[0] = 1
