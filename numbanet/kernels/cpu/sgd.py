"""SGD update over the flat parameter buffer, with Keras's momentum and Nesterov formulas."""
from numba import njit


@njit(cache=True, fastmath={'contract'})
def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    # params, velocity, grads: (P,). velocity = momentum * velocity - lr * grad;
    # params += velocity, or with Nesterov params += momentum * velocity - lr * grad.
    lr = params.dtype.type(lr)
    mu = params.dtype.type(momentum)
    if momentum == 0.0:
        for i in range(params.shape[0]):
            params[i] -= lr * grads[i]
        return
    for i in range(params.shape[0]):
        g = grads[i]
        v = mu * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            params[i] += mu * v - lr * g
        else:
            params[i] += v
