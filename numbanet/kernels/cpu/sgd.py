"""SGD update over the flat parameter buffer, with Keras's momentum and Nesterov formulas, and its read-only
check twin (kernels/cpu/_guard.py)."""
from numbanet.kernels.cpu._flush import flush
from numbanet.kernels.cpu._guard import decayed, finite
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


# One loop per case: a branch on nesterov inside the loop kept it from vectorising (2x slower).
@njit(cache=True, fastmath={'contract'})
def _sgd_run(params, velocity, grads, lr, mu, nesterov, lo, hi):
    params, velocity, grads = params[lo:hi], velocity[lo:hi], grads[lo:hi]
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
def _sgd_check_run(flag, params, velocity, grads, lr, mu, nesterov, decay, lo, hi):
    params, velocity, grads = params[lo:hi], velocity[lo:hi], grads[lo:hi]
    # The loops above, reading only: flag[0] = 1 unless every value they would write (params decayed first) is
    # finite.
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
    if not ok:
        flag[0] = 1


def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    # params, velocity, grads: (P,). velocity = momentum * velocity - lr * grad;
    # params += velocity, or with Nesterov params += momentum * velocity - lr * grad.
    f = params.dtype.type
    split(_sgd_run, params.shape[0], params, velocity, grads, f(lr), f(momentum), bool(nesterov))


def sgd_check(flag, params, velocity, grads, lr, momentum, nesterov, decay):
    # flag: (1,) int32, set to 1 when sgd_update after params *= decay would leave any value of params or
    # velocity non-finite (else left as it is); nothing else is written.
    f = params.dtype.type
    split(_sgd_check_run, params.shape[0], flag, params, velocity, grads, f(lr), f(momentum), bool(nesterov), f(decay))
