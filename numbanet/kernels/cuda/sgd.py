"""SGD update over the flat parameter buffer on the GPU, and its read-only check. Twin of kernels/cpu/sgd.py."""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks
from numbanet.kernels.cuda._flush import flush
from numbanet.kernels.cuda._guard import finite


@cuda.jit
def _sgd(params, velocity, grads, lr, momentum, nesterov):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        if momentum == 0.0:
            params[i] -= lr * g
        else:
            v = flush(momentum * velocity[i] - lr * g)
            velocity[i] = v
            if nesterov:
                params[i] += momentum * v - lr * g
            else:
                params[i] += v


@cuda.jit
def _sgd_check(flag, params, velocity, grads, lr, momentum, nesterov, decay):
    i = cuda.grid(1)
    if i < params.shape[0]:
        g = grads[i]
        p = params[i] * decay
        if momentum == 0.0:
            ok = finite(p - lr * g)
        else:
            v = flush(momentum * velocity[i] - lr * g)
            ok = finite(v) and finite(p + (momentum * v - lr * g) if nesterov else p + v)
        if not ok:
            flag[0] = 1


def sgd_update(params, velocity, grads, lr, momentum, nesterov):
    _sgd[blocks(params.shape[0]), THREADS](params, velocity, grads, float32(lr), float32(momentum),
                                           bool(nesterov))


def sgd_check(flag, params, velocity, grads, lr, momentum, nesterov, decay):
    _sgd_check[blocks(params.shape[0]), THREADS](flag, params, velocity, grads, float32(lr), float32(momentum),
                                                 bool(nesterov), float32(decay))
