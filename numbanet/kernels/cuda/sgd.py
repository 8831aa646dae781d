"""SGD update over the flat parameter buffer on the GPU. Twin of kernels/cpu/sgd.py."""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _sgd(params, velocity, grads, lr, momentum, nesterov):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        if momentum == 0.0:
            params[i] -= lr * g
        else:
            v = momentum * velocity[i] - lr * g
            velocity[i] = v
            if nesterov:
                params[i] += momentum * v - lr * g
            else:
                params[i] += v


def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    _sgd[blocks(params.shape[0]), THREADS](params, velocity, grads, float32(lr), float32(momentum),
                                           bool(nesterov))
