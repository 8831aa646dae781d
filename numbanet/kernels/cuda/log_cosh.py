"""Log-cosh on the GPU. Twin of kernels/cpu/log_cosh.py (the stable form is explained there)."""
import math

import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch

LOG2 = math.log(2.0)


@cuda.jit(device=True, inline='always')
def _log_cosh(e):
    x = -2.0 * e
    return e + (max(x, 0.0) + math.log1p(math.exp(-abs(x)))) - LOG2


@cuda.jit
def _forward(losses, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        C = pred.shape[1]
        row = 0.0
        for c in range(C):
            row += _log_cosh(float64(pred[b, c]) - float64(targets[b, c]))
        losses[b] = row / C


@cuda.jit
def _backward(dpred, pred, targets):
    i = cuda.grid(1)
    B = pred.shape[0]
    C = pred.shape[1]
    if i < B * C:
        b, c = i // C, i % C
        dpred[b, c] = math.tanh(float64(pred[b, c]) - float64(targets[b, c])) * (1.0 / (B * C))


def log_cosh_forward(pred, targets, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets)
    return device_sum(losses, B, weights)


def log_cosh_backward(dpred, pred, targets):
    _backward[blocks(pred.shape[0] * pred.shape[1]), THREADS](dpred, pred, targets)
