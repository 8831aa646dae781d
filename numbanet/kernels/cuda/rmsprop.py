"""RMSprop over the flat parameter buffer on the GPU, Keras's formulation. Twin of kernels/cpu/rmsprop.py."""
import math

from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _rmsprop(params, velocity, moment, average, grads, lr, rho, c, momentum, eps, use_moment, centered):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        vi = rho * velocity[i] + c * g * g
        velocity[i] = vi
        if centered:
            ai = rho * average[i] + c * g
            average[i] = ai
            vi = vi - ai * ai
        step = lr * g / math.sqrt(vi + eps)
        if use_moment:
            step = momentum * moment[i] + step
            moment[i] = step
        params[i] -= step


def rmsprop_update(params, velocity, moment, average, grads, lr, rho, momentum, epsilon):
    # A slot that is None is never read: velocity stands in for it, as a kernel takes arrays only.
    _rmsprop[blocks(params.shape[0]), THREADS](
        params, velocity, velocity if moment is None else moment, velocity if average is None else average, grads,
        float32(lr), float32(rho), float32(1.0 - rho), float32(momentum), float32(epsilon), moment is not None,
        average is not None)
