"""The NaN guard's quick pass on the GPU: whether every weight and gradient lies within given bounds. Twin of
kernels/cpu/bounds.py."""
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _bounds(flag, params, grads, p_limit, g_limit):
    # Any thread that finds a value out of bounds (or NaN, which compares false) sets flag[0] = 1; every writer
    # stores the same 1.
    i = cuda.grid(1)
    if i < params.shape[0]:
        if not (abs(params[i]) <= p_limit and abs(grads[i]) <= g_limit):
            flag[0] = 1


def bounds_check(flag, params, grads, p_limit, g_limit):
    _bounds[blocks(params.shape[0]), THREADS](flag, params, grads, float32(p_limit), float32(g_limit))
