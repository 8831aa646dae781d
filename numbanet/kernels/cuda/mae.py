"""Mean absolute error on the GPU. Twin of kernels/cpu/mae.py."""
import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit
def _forward(losses, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        C = pred.shape[1]
        row = 0.0
        for c in range(C):
            row += abs(float64(pred[b, c]) - float64(targets[b, c]))
        losses[b] = row / C


@cuda.jit
def _backward(dpred, pred, targets):
    i = cuda.grid(1)
    B = pred.shape[0]
    C = pred.shape[1]
    if i < B * C:
        b, c = i // C, i % C
        scale = 1.0 / (B * C)
        d = float64(pred[b, c]) - float64(targets[b, c])
        dpred[b, c] = scale if d > 0.0 else (-scale if d < 0.0 else d * 0.0)


def mae_forward(pred, targets, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets)
    return device_sum(losses, B, weights)


def mae_backward(dpred, pred, targets):
    _backward[blocks(pred.shape[0] * pred.shape[1]), THREADS](dpred, pred, targets)
