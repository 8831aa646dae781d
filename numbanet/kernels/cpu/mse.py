"""Mean squared error: mean over the last axis, then over the batch (Keras's reduction)."""
from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def mse_forward(pred, targets, weights=None):
    # pred, targets: (B, C); weights: None or (B,). Returns the summed per-sample losses (each a mean over C),
    # each times its weight when weights are given.
    B, C = pred.shape
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            d = float(pred[b, c]) - float(targets[b, c])
            row += d * d
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def mse_backward(dpred, pred, targets):
    # dpred, pred, targets: (B, C); dpred = 2 (pred - targets) / (B C), overwritten.
    B, C = pred.shape
    scale = 2.0 / (B * C)
    for b in range(B):
        for c in range(C):
            dpred[b, c] = (pred[b, c] - targets[b, c]) * scale
