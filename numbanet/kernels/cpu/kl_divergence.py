"""Kullback-Leibler divergence (Keras's): y = clip(targets, 1e-7, 1), p = clip(pred, 1e-7, 1),
loss = SUM over the last axis of y log(y / p) (a sum, not a mean), then mean over the batch.

The gradient of the mean loss is -y / (p B) where 1e-7 < pred < 1 and 0 where the clip holds pred (pred at
or beyond either bound). A NaN in pred stays NaN in the loss and the gradient; clipping does not hide it."""
import math

from numba import float64

from numbanet.kernels.cpu._jit import njit

EPSILON = 1e-7  # keras.config.epsilon()


@njit(cache=True, error_model='numpy')
def _clip(x):
    # clip(x, EPSILON, 1), written so that NaN passes through.
    if x < EPSILON:
        return EPSILON
    if x > 1.0:
        return 1.0
    return x


@njit(cache=True, error_model='numpy')
def kl_divergence_forward(pred, targets, weights=None):
    # pred, targets: (B, C); weights: None or (B,). Returns the summed per-sample losses (each a sum over C),
    # each times its weight when weights are given.
    B, C = pred.shape
    total = 0.0
    for b in range(B):
        row = 0.0
        for c in range(C):
            y, p = _clip(float64(targets[b, c])), _clip(float64(pred[b, c]))
            row += y * math.log(y / p)
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def kl_divergence_backward(dpred, pred, targets):
    # dpred, pred, targets: (B, C); dpred = -clip(y) / (pred B) inside (1e-7, 1), 0 where clipped; overwritten.
    B, C = pred.shape
    for b in range(B):
        for c in range(C):
            p = float64(pred[b, c])
            if p <= EPSILON or p >= 1.0:
                dpred[b, c] = 0.0
            else:
                dpred[b, c] = -_clip(float64(targets[b, c])) / (p * B)
