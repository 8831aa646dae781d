"""The NaN guard's quick pass (optimizers/base.py): whether every weight and gradient lies within given
bounds. When an optimizer knows its state is bounded too, these bounds prove that its update stays finite,
and the full read-only check (<op>_check), which also reads the state, is not needed: two arrays read, the
gradients still in cache from the backward pass, instead of four or more."""
from numba import prange

from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import CHUNK, chunks, parallel


@njit(cache=True)
def _within_run(params, grads, p_limit, g_limit):
    # "not above", so that NaN, which compares false, counts as out of bounds; an and-reduction vectorises.
    ok = True
    for i in range(params.shape[0]):
        ok &= (abs(params[i]) <= p_limit) & (abs(grads[i]) <= g_limit)
    return ok


@njit(cache=True, parallel=True)
def _within_parallel(params, grads, p_limit, g_limit):
    outside = 0  # chunks with a value out of bounds: an integer sum, the same on any number of threads
    for c in prange(chunks(params.shape[0])):
        s = slice(c * CHUNK, (c + 1) * CHUNK)
        outside += not _within_run(params[s], grads[s], p_limit, g_limit)
    return outside == 0


def bounds_check(flag, params, grads, p_limit, g_limit):
    # flag: (1,) int32, set to 1 when any |params| > p_limit or |grads| > g_limit, or any is NaN (else left as it
    # is); params, grads: (P,). Nothing else is written.
    f = params.dtype.type
    run = _within_parallel if parallel(params.shape[0]) else _within_run
    if not run(params, grads, f(p_limit), f(g_limit)):
        flag[0] = 1
