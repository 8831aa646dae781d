"""Kullback-Leibler divergence on the GPU. Twin of kernels/cpu/kl_divergence.py (the clip and why NaN
passes it are there)."""
import math

import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch

EPSILON = 1e-7  # keras.config.epsilon()


@cuda.jit(device=True, inline='always')
def _clip(x):
    if x < EPSILON:
        return EPSILON
    if x > 1.0:
        return 1.0
    return x


@cuda.jit
def _forward(losses, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        row = 0.0
        for c in range(pred.shape[1]):
            y, p = _clip(float64(targets[b, c])), _clip(float64(pred[b, c]))
            row += y * math.log(y / p)
        losses[b] = row


@cuda.jit
def _backward(dpred, pred, targets):
    i = cuda.grid(1)
    B = pred.shape[0]
    C = pred.shape[1]
    if i < B * C:
        b, c = i // C, i % C
        p = float64(pred[b, c])
        if p <= EPSILON or p >= 1.0:
            dpred[b, c] = 0.0
        else:
            dpred[b, c] = -_clip(float64(targets[b, c])) / (p * B)


def kl_divergence_forward(pred, targets, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets)
    return device_sum(losses, B, weights)


def kl_divergence_backward(dpred, pred, targets):
    _backward[blocks(pred.shape[0] * pred.shape[1]), THREADS](dpred, pred, targets)
