"""Counts for the accuracy metrics: how many rows of a batch the model got right."""
import numpy as np

from numbanet.kernels.cpu._jit import njit


@njit(cache=True, inline='always')
def _argmax_row(x, b):
    best = 0
    for c in range(1, x.shape[1]):
        if x[b, c] > x[b, best]:
            best = c
    return best


@njit(cache=True)
def categorical_accuracy_count(pred, targets):
    # pred, targets: (B, C); a row is right when both argmaxes agree (first maximum on ties).
    hits = 0
    for b in range(pred.shape[0]):
        if _argmax_row(pred, b) == _argmax_row(targets, b):
            hits += 1
    return hits


@njit(cache=True)
def sparse_categorical_accuracy_count(pred, labels):
    # pred: (B, C); labels: (B,).
    hits = 0
    for b in range(pred.shape[0]):
        if _argmax_row(pred, b) == labels[b]:
            hits += 1
    return hits


@njit(cache=True)
def binary_accuracy_count(pred, targets, threshold):
    # pred, targets: (B, C); counts matching cells (pred > threshold against target > 0.5).
    hits = 0
    for b in range(pred.shape[0]):
        for c in range(pred.shape[1]):
            if (pred[b, c] > threshold) == (targets[b, c] > 0.5):
                hits += 1
    return hits


@njit(cache=True)
def error_sums(pred, targets):
    # pred, targets: (B, C); returns (sum |d|, sum d^2) over all cells, for MAE and MSE metrics.
    abs_sum = 0.0
    sq_sum = 0.0
    for b in range(pred.shape[0]):
        for c in range(pred.shape[1]):
            d = float(pred[b, c]) - float(targets[b, c])
            abs_sum += abs(d)
            sq_sum += d * d
    return abs_sum, sq_sum


@njit(cache=True)
def _in_top_k(pred, b, true_class, k):
    # Keras's in_top_k: the true class is in when fewer than k classes score strictly higher, so ties at the
    # boundary count as in; a label outside [0, C) or a non-finite score of the true class is out.
    if true_class < 0 or true_class >= pred.shape[1] or not np.isfinite(pred[b, true_class]):
        return False
    p = pred[b, true_class]
    higher = 0
    for c in range(pred.shape[1]):
        if pred[b, c] > p:
            higher += 1
    return higher < k


@njit(cache=True)
def top_k_categorical_count(pred, targets, k):
    # pred, targets: (B, C); the number (a float) of rows whose true class, the argmax of the target row,
    # is among the k highest predictions.
    hits = 0.0
    for b in range(pred.shape[0]):
        if _in_top_k(pred, b, _argmax_row(targets, b), k):
            hits += 1.0
    return hits


@njit(cache=True)
def sparse_top_k_categorical_count(pred, labels, k):
    # pred: (B, C); labels: (B,) int64. As top_k_categorical_count, with the true classes given.
    hits = 0.0
    for b in range(pred.shape[0]):
        if _in_top_k(pred, b, labels[b], k):
            hits += 1.0
    return hits
