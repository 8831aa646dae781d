"""Huber loss on the GPU; delta travels as a float64. Twin of kernels/cpu/huber.py."""
import numpy as np
from numba import cuda, float64

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit
def _forward(losses, pred, targets, delta):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        C = pred.shape[1]
        half_dd = 0.5 * delta * delta
        row = 0.0
        for c in range(C):
            e = float64(pred[b, c]) - float64(targets[b, c])
            a = abs(e)
            row += 0.5 * e * e if a <= delta else delta * a - half_dd
        losses[b] = row / C


@cuda.jit
def _backward(dpred, pred, targets, delta):
    i = cuda.grid(1)
    B = pred.shape[0]
    C = pred.shape[1]
    if i < B * C:
        b, c = i // C, i % C
        e = float64(pred[b, c]) - float64(targets[b, c])
        g = e
        if e > delta:
            g = delta
        elif e < -delta:
            g = -delta
        dpred[b, c] = g * (1.0 / (B * C))


def huber_forward(pred, targets, delta, weights=None):
    B = pred.shape[0]
    losses = scratch('row_losses', B, np.float64)
    _forward[blocks(B), THREADS](losses, pred, targets, float(delta))
    return device_sum(losses, B, weights)


def huber_backward(dpred, pred, targets, delta):
    _backward[blocks(pred.shape[0] * pred.shape[1]), THREADS](dpred, pred, targets, float(delta))
