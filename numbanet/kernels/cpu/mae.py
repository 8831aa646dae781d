"""Mean absolute error: mean over the last axis, then over the batch (Keras's reduction).

The gradient of the mean loss is sign(pred - y) / (B C), 0 where pred equals y, NaN where the error is NaN."""
from numba import float64

from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def mae_forward(pred, targets, weights=None):
    # pred, targets: (B, C); weights: None or (B,). Returns the summed per-sample losses (each a mean over C),
    # each times its weight when weights are given.
    B, C = pred.shape
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            row += abs(float64(pred[b, c]) - float64(targets[b, c]))
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def mae_backward(dpred, pred, targets):
    # dpred, pred, targets: (B, C); dpred = sign(pred - targets) / (B C), overwritten.
    B, C = pred.shape
    scale = 1.0 / (B * C)
    for b in range(B):
        for c in range(C):
            d = float64(pred[b, c]) - float64(targets[b, c])
            dpred[b, c] = scale if d > 0.0 else (-scale if d < 0.0 else d * 0.0)  # d * 0: 0, or NaN stays NaN
