"""The NaN guard's quick pass (optimizers/base.py): whether every weight and gradient lies within given
bounds. When an optimizer knows its state is bounded too, these bounds prove that its update stays finite,
and the full read-only check (<op>_check), which also reads the state, is not needed: two arrays read, the
gradients still in cache from the backward pass, instead of four or more."""
from numbanet.kernels.cpu._jit import njit
from numbanet.kernels.cpu._split import split


@njit(cache=True)
def _within_run(flag, params, grads, p_limit, g_limit, lo, hi):
    # "not above", so that NaN, which compares false, counts as out of bounds; an and-reduction vectorises.
    params, grads = params[lo:hi], grads[lo:hi]
    ok = True
    for i in range(params.shape[0]):
        ok &= (abs(params[i]) <= p_limit) & (abs(grads[i]) <= g_limit)
    if not ok:
        flag[0] = 1


def bounds_check(flag, params, grads, p_limit, g_limit):
    # flag: (1,) int32, set to 1 when any |params| > p_limit or |grads| > g_limit, or any is NaN (else left as it
    # is); params, grads: (P,). Nothing else is written.
    f = params.dtype.type
    split(_within_run, params.shape[0], flag, params, grads, f(p_limit), f(g_limit))
