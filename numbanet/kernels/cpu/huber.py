"""Huber loss (Keras's): per element 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2, with
e = pred - y; mean over the last axis, then over the batch. Quadratic near zero, linear in the tails, with a
continuous gradient: e / (B C) inside, delta sign(e) / (B C) outside. delta > 0 is the caller's to check."""
from numba import float64

from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def huber_forward(pred, targets, delta, weights=None):
    # pred, targets: (B, C); delta: a positive float; weights: None or (B,). Returns the summed per-sample
    # losses (each a mean over C), each times its weight when weights are given.
    B, C = pred.shape
    half_dd = 0.5 * delta * delta
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            e = float64(pred[b, c]) - float64(targets[b, c])
            a = abs(e)
            row += 0.5 * e * e if a <= delta else delta * a - half_dd
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def huber_backward(dpred, pred, targets, delta):
    # dpred, pred, targets: (B, C); dpred = clip(pred - targets, -delta, delta) / (B C), overwritten.
    B, C = pred.shape
    scale = 1.0 / (B * C)
    for b in range(B):
        for c in range(C):
            e = float64(pred[b, c]) - float64(targets[b, c])
            g = e
            if e > delta:
                g = delta
            elif e < -delta:
                g = -delta
            dpred[b, c] = g * scale
