"""SGD update over the flat parameter buffer, with Keras's momentum and Nesterov formulas."""
from numba import njit, prange

from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


# One loop per case: a branch on nesterov inside the loop kept it from vectorising (2x slower).
@njit(cache=True, fastmath={'contract'})
def _sgd_run(params, velocity, grads, lr, mu, nesterov):
    if mu == 0.0:
        for i in range(params.shape[0]):
            params[i] -= lr * grads[i]
    elif nesterov:
        for i in range(params.shape[0]):
            v = mu * velocity[i] - lr * grads[i]
            velocity[i] = v
            params[i] += mu * v - lr * grads[i]
    else:
        for i in range(params.shape[0]):
            v = mu * velocity[i] - lr * grads[i]
            velocity[i] = v
            params[i] += v


@njit(cache=True, parallel=True)
def _sgd_parallel(params, velocity, grads, lr, mu, nesterov):
    for k in prange(chunks(params.shape[0])):
        s = slice(k * CHUNK, (k + 1) * CHUNK)
        _sgd_run(params[s], velocity[s], grads[s], lr, mu, nesterov)


def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    # params, velocity, grads: (P,). velocity = momentum * velocity - lr * grad;
    # params += velocity, or with Nesterov params += momentum * velocity - lr * grad.
    f = params.dtype.type
    run = _sgd_parallel if parallel(params.shape[0]) else _sgd_run
    run(params, velocity, grads, f(lr), f(momentum), bool(nesterov))
