"""Log-cosh (Keras's): mean over the last axis of log(cosh(e)), e = pred - y, then mean over the batch.

cosh overflows float64 from |e| of about 710; Keras's form e + softplus(-2e) - log 2 (softplus itself written
with exp of a non-positive argument) is finite for any finite e. It loses relative accuracy for tiny |e|, where
log cosh(e) ~ e^2 / 2 is far below log 2 (absolute error ~1e-16): as Keras does. The gradient is tanh(e) / (B C).
"""
import math

from numba import float64

from numbanet.kernels.cpu._jit import njit

LOG2 = math.log(2.0)


@njit(cache=True, error_model='numpy')
def _log_cosh(e):
    x = -2.0 * e
    return e + (max(x, 0.0) + math.log1p(math.exp(-abs(x)))) - LOG2


@njit(cache=True, error_model='numpy')
def log_cosh_forward(pred, targets, weights=None):
    # pred, targets: (B, C); weights: None or (B,). Returns the summed per-sample losses (each a mean over C),
    # each times its weight when weights are given.
    B, C = pred.shape
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            row += _log_cosh(float64(pred[b, c]) - float64(targets[b, c]))
        row /= C
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def log_cosh_backward(dpred, pred, targets):
    # dpred, pred, targets: (B, C); dpred = tanh(pred - targets) / (B C), overwritten.
    B, C = pred.shape
    scale = 1.0 / (B * C)
    for b in range(B):
        for c in range(C):
            dpred[b, c] = math.tanh(float64(pred[b, c]) - float64(targets[b, c])) * scale
