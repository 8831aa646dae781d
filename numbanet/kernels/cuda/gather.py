"""Copy a mini-batch's rows out of the data set already on the GPU. Twin of kernels/cpu/gather.py.

Indices come from numbanet's own permutation of range(N); a row index outside the source is still
never read: that row of the batch is filled with NaN, which the loss then reports."""
import math

import numpy as np
from numba import cuda

from numbanet.kernels import shapes
from numbanet.kernels.cuda._grid import THREADS, blocks


@cuda.jit
def _gather_2d(out, src, index):
    k = cuda.grid(1)
    C = out.shape[1]
    if k < index.shape[0] * C:
        b, c = k // C, k % C
        i = index[b]
        out[b, c] = src[i, c] if 0 <= i < src.shape[0] else math.nan


@cuda.jit
def _gather_1d(out, src, index):
    b = cuda.grid(1)
    if b < index.shape[0]:
        i = index[b]
        out[b] = src[i] if 0 <= i < src.shape[0] else -1


def _as_rows(array):
    # (B, ...) as (B, values per row): a kernel indexes two axes, whatever the rank of the samples.
    return array.reshape(array.shape[0], int(np.prod(array.shape[1:])))


def gather_rows(out, src, index):
    # out: (B, ...) or (B,); src: (N, ...) or (N,) with out's trailing axes, any numeric dtype (the copy casts:
    # uint8 images stay uint8 on the device); index: (B,) on the device.
    shapes.batch_rows(out, src, index)
    if isinstance(index, np.ndarray):
        if index.size and (index.min() < 0 or index.max() >= src.shape[0]):
            raise IndexError("gather_rows: row index outside the source")
        index = cuda.to_device(index)
    if len(out.shape) > 2:  # images (B, H, W, C), sequences (B, T, C)
        out, src = _as_rows(out), _as_rows(src)
    if len(out.shape) == 2:
        _gather_2d[blocks(index.shape[0] * out.shape[1]), THREADS](out, src, index)
    else:
        _gather_1d[blocks(index.shape[0]), THREADS](out, src, index)
