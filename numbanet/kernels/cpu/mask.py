"""Pruning masks: after every optimizer step the pruned weights are set back to exactly zero."""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True)
def apply_mask(params, mask):
    # params, mask: (P,); mask holds 1 for kept weights and 0 for pruned ones.
    for i in range(params.shape[0]):
        params[i] *= mask[i]
