"""Categorical hinge (Keras's): pos = sum_c y_c p_c, neg = max_c (1 - y_c) p_c, loss = max(neg - pos + 1, 0)
per sample, then mean over the batch.

A subgradient of the mean loss: where a sample's loss is positive, -y_c / B on every c, plus (1 - y_c) / B at
the argmax of (1 - y) p (the first one on ties); 0 for the whole row where the loss is 0 (including exactly 0).
A NaN in pred makes the loss NaN (not 0)."""
from numba import float64

from numbanet.kernels.cpu._jit import njit


@njit(cache=True, error_model='numpy')
def _row(pred, targets, b):
    # The sample's margin neg - pos + 1 (before the max with 0) and the argmax of (1 - y) p, first on ties.
    C = pred.shape[1]
    pos = 0.0
    arg = 0
    neg = (1.0 - float64(targets[b, 0])) * float64(pred[b, 0])
    for c in range(C):
        y, p = float64(targets[b, c]), float64(pred[b, c])
        pos += y * p
        v = (1.0 - y) * p
        if v > neg:
            neg, arg = v, c
    return neg - pos + 1.0, arg


@njit(cache=True, error_model='numpy')
def categorical_hinge_forward(pred, targets, weights=None):
    # pred, targets: (B, C); weights: None or (B,). Returns the summed per-sample losses, each times its
    # weight when weights are given.
    B = pred.shape[0]
    total = 0.0
    for b in range(B):
        margin, _ = _row(pred, targets, b)
        row = 0.0 if margin < 0.0 else margin  # max(margin, 0) that keeps a NaN
        if weights is not None:
            row *= weights[b]
        total += row
    return total


@njit(cache=True, error_model='numpy')
def categorical_hinge_backward(dpred, pred, targets):
    # dpred, pred, targets: (B, C); dpred is overwritten with a subgradient of the mean loss.
    B, C = pred.shape
    for b in range(B):
        margin, arg = _row(pred, targets, b)
        if margin > 0.0:
            for c in range(C):
                dpred[b, c] = -float64(targets[b, c]) / B
            dpred[b, arg] = (1.0 - 2.0 * float64(targets[b, arg])) / B  # -y / B + (1 - y) / B
        else:
            for c in range(C):
                dpred[b, c] = 0.0
