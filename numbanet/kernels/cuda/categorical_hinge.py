"""Categorical hinge on the GPU: one thread per row for the loss and for the subgradient (both need the row's
sum and argmax). Twin of kernels/cpu/categorical_hinge.py."""
import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _row(pred, targets, b):
    pos = 0.0
    arg = 0
    neg = (1.0 - float64(targets[b, 0])) * float64(pred[b, 0])
    for c in range(pred.shape[1]):
        y, p = float64(targets[b, c]), float64(pred[b, c])
        pos += y * p
        v = (1.0 - y) * p
        if v > neg:
            neg, arg = v, c
    return neg - pos + 1.0, arg


@cuda.jit
def _forward(losses, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        margin, _ = _row(pred, targets, b)
        losses[b] = 0.0 if margin < 0.0 else margin


@cuda.jit
def _backward(dpred, pred, targets):
    b = cuda.grid(1)
    B = pred.shape[0]
    if b < B:
        margin, arg = _row(pred, targets, b)
        if margin > 0.0:
            for c in range(pred.shape[1]):
                dpred[b, c] = -float64(targets[b, c]) / B
            dpred[b, arg] = (1.0 - 2.0 * float64(targets[b, arg])) / B
        else:
            for c in range(pred.shape[1]):
                dpred[b, c] = 0.0


def categorical_hinge_forward(pred, targets, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets)
    return device_sum(losses, B, weights)


def categorical_hinge_backward(dpred, pred, targets):
    _backward[blocks(pred.shape[0]), THREADS](dpred, pred, targets)
