"""RMSprop over the flat parameter buffer on the GPU, Keras's formulation, and its read-only check. Twin of
kernels/cpu/rmsprop.py."""
import math

from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._flush import flush
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _rmsprop(params, velocity, moment, average, grads, lr, rho, c, momentum, eps, use_moment, centered):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        vi = flush(rho * velocity[i] + c * g * g)
        velocity[i] = vi
        if centered:
            ai = flush(rho * average[i] + c * g)
            average[i] = ai
            vi = vi - ai * ai
        step = lr * g / math.sqrt(vi + eps)
        if use_moment:
            step = flush(momentum * moment[i] + step)
            moment[i] = step
        params[i] -= step


@cuda.jit
def _rmsprop_check(flag, params, velocity, moment, average, grads, lr, rho, c, momentum, eps, use_moment, centered,
                   decay):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        vi = flush(rho * velocity[i] + c * g * g)
        ok = finite(vi)
        if centered:
            ai = flush(rho * average[i] + c * g)
            ok = ok and finite(ai)
            vi = vi - ai * ai
        step = lr * g / math.sqrt(vi + eps)
        if use_moment:
            step = flush(momentum * moment[i] + step)
        if not (ok and finite(step) and finite(params[i] * decay - step)):
            flag[0] = 1


def _args(velocity, moment, average, lr, rho, momentum, epsilon):
    # A slot that is None is never read: velocity stands in for it, as a kernel takes arrays only.
    return (velocity if moment is None else moment, velocity if average is None else average, float32(lr),
            float32(rho), float32(1.0 - rho), float32(momentum), float32(epsilon), moment is not None,
            average is not None)


def rmsprop_update(params, velocity, moment, average, grads, lr, rho, momentum, epsilon):
    moment, average, *scalars = _args(velocity, moment, average, lr, rho, momentum, epsilon)
    _rmsprop[blocks(params.shape[0]), THREADS](params, velocity, moment, average, grads, *scalars)


def rmsprop_check(flag, params, velocity, moment, average, grads, lr, rho, momentum, epsilon, decay):
    moment, average, *scalars = _args(velocity, moment, average, lr, rho, momentum, epsilon)
    _rmsprop_check[blocks(params.shape[0]), THREADS](flag, params, velocity, moment, average, grads, *scalars,
                                                     float32(decay))
