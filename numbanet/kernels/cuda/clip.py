"""Gradient clipping's pieces on the GPU: sums of squares, scaling and clipping of flat views. Twin of
kernels/cpu/clip.py. The sum runs in float64 in a fixed order: PARTIALS threads each sum a fixed stride,
then the deterministic device sum adds their results."""
import numpy as np
from numba import cuda, float32

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch

PARTIALS = 8192


@cuda.jit
def _partials(partial, values, count):
    t = cuda.grid(1)
    if t < count:
        s = 0.0
        for i in range(t, values.shape[0], count):
            x = float(values[i])
            s += x * x
        partial[t] = s


@cuda.jit
def _scale(values, factor):
    i = cuda.grid(1)
    if i < values.shape[0]:
        values[i] *= factor


@cuda.jit
def _clip(values, limit):
    i = cuda.grid(1)
    if i < values.shape[0]:
        x = values[i]
        if x > limit:
            values[i] = limit
        elif x < -limit:
            values[i] = -limit


def squared_norm(values):
    count = max(1, min(values.shape[0], PARTIALS))
    partial = scratch('squared_norm_partials', count, np.float64)
    _partials[blocks(count), THREADS](partial, values, count)
    return device_sum(partial, count)


def scale_values(values, factor):
    _scale[blocks(values.shape[0]), THREADS](values, float32(factor))


def clip_values(values, limit):
    _clip[blocks(values.shape[0]), THREADS](values, float32(limit))
