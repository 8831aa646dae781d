"""Pruning masks on the GPU. Twin of kernels/cpu/mask.py."""
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _apply_mask(params, mask):
    i = cuda.grid(1)
    if i < params.shape[0]:
        params[i] *= mask[i]


def apply_mask(params, mask):
    _apply_mask[blocks(params.shape[0]), THREADS](params, mask)
