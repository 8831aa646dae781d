"""Mean squared error on the GPU. Twin of kernels/cpu/mse.py."""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit
def _forward(losses, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        C = pred.shape[1]
        row = 0.0
        for c in range(C):
            d = float(pred[b, c]) - float(targets[b, c])
            row += d * d
        losses[b] = row / C


@cuda.jit
def _backward(dpred, pred, targets):
    i = cuda.grid(1)
    B = pred.shape[0]
    C = pred.shape[1]
    if i < B * C:
        b, c = i // C, i % C
        dpred[b, c] = (pred[b, c] - targets[b, c]) * (2.0 / (B * C))


def mse_forward(pred, targets, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets)
    return device_sum(losses, B, weights)


def mse_backward(dpred, pred, targets):
    _backward[blocks(pred.shape[0] * pred.shape[1]), THREADS](dpred, pred, targets)
