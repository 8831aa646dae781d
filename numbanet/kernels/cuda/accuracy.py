"""Counts for the accuracy metrics on the GPU: per-row results, then the deterministic device sum.
Twin of kernels/cpu/accuracy.py."""
import numpy as np
from numba import cuda

from numbanet.kernels.cuda._grid import THREADS, blocks, device_sum, scratch


@cuda.jit(device=True, inline='always')
def _argmax_row(x, b):
    best = 0
    for c in range(1, x.shape[1]):
        if x[b, c] > x[b, best]:
            best = c
    return best


@cuda.jit
def _categorical(hits, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _argmax_row(pred, b) == _argmax_row(targets, b) else 0.0


@cuda.jit
def _sparse(hits, pred, labels):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        hits[b] = 1.0 if _argmax_row(pred, b) == labels[b] else 0.0


@cuda.jit
def _binary(hits, pred, targets, threshold):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        n = 0.0
        for c in range(pred.shape[1]):
            if (pred[b, c] > threshold) == (targets[b, c] > 0.5):
                n += 1.0
        hits[b] = n


@cuda.jit
def _errors(abs_rows, sq_rows, pred, targets):
    b = cuda.grid(1)
    if b < pred.shape[0]:
        a = 0.0
        s = 0.0
        for c in range(pred.shape[1]):
            d = float(pred[b, c]) - float(targets[b, c])
            a += abs(d)
            s += d * d
        abs_rows[b] = a
        sq_rows[b] = s


def _rows(name, n):
    return scratch(name, n, np.float64)


def categorical_accuracy_count(pred, targets):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _categorical[blocks(B), THREADS](hits, pred, targets)
    return int(round(device_sum(hits, B)))


def sparse_categorical_accuracy_count(pred, labels):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _sparse[blocks(B), THREADS](hits, pred, labels)
    return int(round(device_sum(hits, B)))


def binary_accuracy_count(pred, targets, threshold):
    B = pred.shape[0]
    hits = _rows('hits', B)
    _binary[blocks(B), THREADS](hits, pred, targets, threshold)
    return int(round(device_sum(hits, B)))


def error_sums(pred, targets):
    B = pred.shape[0]
    abs_rows, sq_rows = _rows('abs_rows', B), _rows('sq_rows', B)
    _errors[blocks(B), THREADS](abs_rows, sq_rows, pred, targets)
    return device_sum(abs_rows, B), device_sum(sq_rows, B)
