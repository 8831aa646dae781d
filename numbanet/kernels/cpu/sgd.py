"""SGD update over the flat parameter buffer, with Keras's momentum and Nesterov formulas, and its read-only
check twin (kernels/cpu/_guard.py)."""
from numba import prange

from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


# One loop per case: a branch on nesterov inside the loop kept it from vectorising (2x slower).
@njit(cache=True, fastmath={'contract'})
def _sgd_run(params, velocity, grads, lr, mu, nesterov):
    if mu == 0.0:
        for i in range(params.shape[0]):
            params[i] -= lr * grads[i]
    elif nesterov:
        for i in range(params.shape[0]):
            v = flush(mu * velocity[i] - lr * grads[i])
            velocity[i] = v
            params[i] += mu * v - lr * grads[i]
    else:
        for i in range(params.shape[0]):
            v = flush(mu * velocity[i] - lr * grads[i])
            velocity[i] = v
            params[i] += v


@njit(cache=True, fastmath={'contract'})
def _sgd_check_run(params, velocity, grads, lr, mu, nesterov, decay):
    # The loops above, reading only: whether every value they would write (params decayed first) is finite.
    ok = True
    if mu == 0.0:
        for i in range(params.shape[0]):
            ok &= finite(decayed(params[i], decay) - lr * grads[i])
    elif nesterov:
        for i in range(params.shape[0]):
            v = flush(mu * velocity[i] - lr * grads[i])
            ok &= finite(v) & finite(decayed(params[i], decay) + (mu * v - lr * grads[i]))
    else:
        for i in range(params.shape[0]):
            v = flush(mu * velocity[i] - lr * grads[i])
            ok &= finite(v) & finite(decayed(params[i], decay) + v)
    return ok


@njit(cache=True, parallel=True)
def _sgd_parallel(params, velocity, grads, lr, mu, nesterov):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _sgd_run(params[s], velocity[s], grads[s], lr, mu, nesterov)


@njit(cache=True, parallel=True)
def _sgd_check_parallel(params, velocity, grads, lr, mu, nesterov, decay):
    failed = 0  # chunks with a non-finite value: an integer sum, the same on any number of threads
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        failed += not _sgd_check_run(params[s], velocity[s], grads[s], lr, mu, nesterov, decay)
    return failed == 0


def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    # params, velocity, grads: (P,). velocity = momentum * velocity - lr * grad;
    # params += velocity, or with Nesterov params += momentum * velocity - lr * grad.
    f = params.dtype.type
    run = _sgd_parallel if parallel(params.shape[0]) else _sgd_run
    run(params, velocity, grads, f(lr), f(momentum), bool(nesterov))


def sgd_check(flag, params, velocity, grads, lr, momentum, nesterov, decay):
    # flag: (1,) int32, set to 1 when sgd_update after params *= decay would leave any value of params or
    # velocity non-finite (else left as it is); nothing else is written.
    f = params.dtype.type
    run = _sgd_check_parallel if parallel(params.shape[0]) else _sgd_check_run
    if not run(params, velocity, grads, f(lr), f(momentum), bool(nesterov), f(decay)):
        flag[0] = 1
